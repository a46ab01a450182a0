//! The SQLite side of room moderation: moderators named, room mutes and slow mode, each with its
//! log entry and audit row in the act's own transaction.

use rusqlite::{params, Transaction};

use super::rooms::write_change;
use crate::store::{shared, Audit, Change, Result, RoomRole};

pub(super) fn set_member_role(
    tx: &Transaction<'_>,
    room_id: i64,
    user_id: i64,
    role: RoomRole,
    audit: &Audit<'_>,
) -> Result<Option<bool>> {
    if !super::rooms::is_member(tx, room_id, user_id)? {
        return Ok(None);
    }
    let changed = tx
        .prepare_cached("UPDATE members SET role = ?3 WHERE room_id = ?1 AND user_id = ?2 AND role != ?3")?
        .execute(params![room_id, user_id, role.as_str()])?;
    if changed > 0 {
        let moderator = role == RoomRole::Moderator;
        write_change(tx, Change::Role { room_id, user_id, moderator }, audit.timestamp)?;
        super::audit(tx, audit)?;
    }
    Ok(Some(changed > 0))
}

pub(super) fn set_room_mute(
    tx: &Transaction<'_>,
    room_id: i64,
    user_id: i64,
    until: Option<&str>,
    audit: &Audit<'_>,
) -> Result<Option<bool>> {
    if !super::rooms::is_member(tx, room_id, user_id)? {
        return Ok(None);
    }
    let changed = tx
        .prepare_cached(
            "UPDATE members SET muted_until = ?3 WHERE room_id = ?1 AND user_id = ?2 \
             AND muted_until IS NOT ?3",
        )?
        .execute(params![room_id, user_id, until])?;
    if changed > 0 {
        let until_ms = shared::mute_millis(until);
        write_change(tx, Change::RoomMute { room_id, user_id, until_ms }, audit.timestamp)?;
        super::audit(tx, audit)?;
    }
    Ok(Some(changed > 0))
}

pub(super) fn set_slow_mode(
    tx: &Transaction<'_>,
    room_id: i64,
    secs: i64,
    audit: &Audit<'_>,
) -> Result<bool> {
    let changed = tx
        .prepare_cached("UPDATE rooms SET slow_mode_secs = ?2 WHERE id = ?1 AND slow_mode_secs != ?2")?
        .execute(params![room_id, secs])?;
    if changed > 0 {
        write_change(tx, Change::Room { room_id }, audit.timestamp)?;
        super::audit(tx, audit)?;
    }
    Ok(changed > 0)
}
