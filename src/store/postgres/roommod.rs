//! The PostgreSQL side of room moderation: moderators named, room mutes and slow mode, each with
//! its log entry and audit row in the act's own transaction.

use postgres::Transaction;

use super::rooms::write_change;
use crate::store::{shared, Audit, Change, Result, RoomRole};

pub(super) fn set_member_role(
    tx: &mut Transaction<'_>,
    room_id: i64,
    user_id: i64,
    role: RoomRole,
    audit: &Audit<'_>,
) -> Result<Option<bool>> {
    // The row locked: a concurrent change of the same member waits for this one.
    let Some(row) = tx.query_opt(
        "SELECT role FROM members WHERE room_id = $1 AND user_id = $2 FOR UPDATE",
        &[&room_id, &user_id],
    )?
    else {
        return Ok(None);
    };
    if RoomRole::parse(row.get(0)) == role {
        return Ok(Some(false));
    }
    tx.execute(
        "UPDATE members SET role = $3 WHERE room_id = $1 AND user_id = $2",
        &[&room_id, &user_id, &role.as_str()],
    )?;
    let moderator = role == RoomRole::Moderator;
    write_change(tx, Change::Role { room_id, user_id, moderator }, audit.timestamp)?;
    super::audit(tx, audit)?;
    Ok(Some(true))
}

pub(super) fn set_room_mute(
    tx: &mut Transaction<'_>,
    room_id: i64,
    user_id: i64,
    until: Option<&str>,
    audit: &Audit<'_>,
) -> Result<Option<bool>> {
    let Some(row) = tx.query_opt(
        "SELECT muted_until FROM members WHERE room_id = $1 AND user_id = $2 FOR UPDATE",
        &[&room_id, &user_id],
    )?
    else {
        return Ok(None);
    };
    if row.get::<_, Option<&str>>(0) == until {
        return Ok(Some(false));
    }
    tx.execute(
        "UPDATE members SET muted_until = $3 WHERE room_id = $1 AND user_id = $2",
        &[&room_id, &user_id, &until],
    )?;
    let until_ms = shared::mute_millis(until);
    write_change(tx, Change::RoomMute { room_id, user_id, until_ms }, audit.timestamp)?;
    super::audit(tx, audit)?;
    Ok(Some(true))
}

pub(super) fn set_slow_mode(
    tx: &mut Transaction<'_>,
    room_id: i64,
    secs: i64,
    audit: &Audit<'_>,
) -> Result<bool> {
    let changed = tx.execute(
        "UPDATE rooms SET slow_mode_secs = $2 WHERE id = $1 AND slow_mode_secs != $2",
        &[&room_id, &secs],
    )?;
    if changed > 0 {
        write_change(tx, Change::Room { room_id }, audit.timestamp)?;
        super::audit(tx, audit)?;
    }
    Ok(changed > 0)
}
