//! Living messages on SQLite: edits, deletions (tombstones) and reactions, each one log write
//! (`BEGIN IMMEDIATE`, a position from the counter) so a resuming client replays them in order.

use rusqlite::{params, Connection, OptionalExtension, Transaction, TransactionBehavior};

use super::rooms::{message_row, resolve_mentions, write_change, MESSAGE_SELECT};
use crate::store::{
    shared, Action, Audit, Change, DeleteMessage, Deletion, EditMessage, LivingChange, LivingKind,
    LivingRefusal, Message, Reaction, Result, ToggleReaction, Toggled,
};

/// What a change to a message needs to know of it, read in the writing transaction.
struct Target {
    room: i64,
    sender: i64,
    timestamp: String,
    deleted: bool,
    archived: bool,
    /// Whether the actor is a member of the message's room.
    member: bool,
}

fn target(tx: &Transaction<'_>, id: i64, actor: Option<i64>) -> Result<Option<Target>> {
    Ok(tx
        .prepare_cached(
            "SELECT m.room_id, m.sender_id, m.timestamp, m.deleted_at IS NOT NULL, r.archived, \
               EXISTS (SELECT 1 FROM members WHERE room_id = m.room_id AND user_id = ?2) \
             FROM messages m JOIN rooms r ON r.id = m.room_id WHERE m.id = ?1",
        )?
        .query_row(params![id, actor.unwrap_or(0)], |r| {
            Ok(Target {
                room: r.get(0)?,
                sender: r.get(1)?,
                timestamp: r.get(2)?,
                deleted: r.get(3)?,
                archived: r.get(4)?,
                member: r.get(5)?,
            })
        })
        .optional()?)
}

pub(super) fn message(conn: &Connection, id: i64) -> Result<Option<Message>> {
    Ok(conn
        .prepare_cached(&format!("{MESSAGE_SELECT} WHERE m.id = ?1"))?
        .query_row([id], message_row)
        .optional()?)
}

/// A list of ids as SQLite's `json_each` reads it: one bound parameter however many ids.
fn ids_json(ids: &[i64]) -> String {
    format!("[{}]", ids.iter().map(i64::to_string).collect::<Vec<_>>().join(","))
}

pub(super) fn messages_by_id(conn: &Connection, ids: &[i64]) -> Result<Vec<Message>> {
    if ids.is_empty() {
        return Ok(Vec::new());
    }
    let mut stmt = conn.prepare_cached(&format!(
        "{MESSAGE_SELECT} WHERE m.id IN (SELECT value FROM json_each(?1)) ORDER BY m.id"
    ))?;
    let rows = stmt.query_map([ids_json(ids)], message_row)?.collect::<rusqlite::Result<Vec<_>>>()?;
    Ok(rows)
}

pub(super) fn living_changes(
    conn: &Connection,
    user_id: i64,
    after: i64,
    before: i64,
) -> Result<Vec<LivingChange>> {
    let mut stmt = conn.prepare_cached(
        "SELECT MAX(seq), kind, room_id, value FROM changes \
         WHERE seq > ?2 AND seq < ?3 AND kind IN ('edit', 'delete', 'react') \
           AND room_id IN (SELECT room_id FROM members WHERE user_id = ?1) \
         GROUP BY kind, value ORDER BY 1",
    )?;
    let rows = stmt
        .query_map(params![user_id, after, before], |r| {
            Ok(LivingChange {
                seq: r.get(0)?,
                kind: LivingKind::parse(&r.get::<_, String>(1)?),
                room_id: r.get(2)?,
                message_id: r.get(3)?,
            })
        })?
        .collect::<rusqlite::Result<Vec<_>>>()?;
    Ok(rows)
}

pub(super) fn deletions(conn: &Connection, before_id: Option<i64>, limit: usize) -> Result<Vec<Deletion>> {
    let mut stmt = conn.prepare_cached(
        "SELECT d.id, d.message_id, d.room_id, u.username, d.actor, d.reason, d.timestamp \
         FROM deletions d JOIN users u ON u.id = d.sender_id WHERE d.id < ?1 ORDER BY d.id DESC LIMIT ?2",
    )?;
    let rows = stmt
        .query_map(params![before_id.unwrap_or(i64::MAX), limit as i64], |r| {
            Ok(Deletion {
                id: r.get(0)?,
                message_id: r.get(1)?,
                room_id: r.get(2)?,
                sender: r.get(3)?,
                actor: r.get(4)?,
                reason: r.get(5)?,
                timestamp: r.get(6)?,
            })
        })?
        .collect::<rusqlite::Result<Vec<_>>>()?;
    Ok(rows)
}

pub(super) fn reactions(conn: &Connection, ids: &[i64]) -> Result<Vec<(i64, Vec<Reaction>)>> {
    if ids.is_empty() {
        return Ok(Vec::new());
    }
    let mut stmt = conn.prepare_cached(
        "SELECT r.message_id, r.emoji, u.username FROM reactions r JOIN users u ON u.id = r.user_id \
         WHERE r.message_id IN (SELECT value FROM json_each(?1)) \
         ORDER BY r.message_id, \
           MIN(r.seq) OVER (PARTITION BY r.message_id, r.emoji), r.seq",
    )?;
    let rows =
        stmt.query_map([ids_json(ids)], |r| Ok((r.get::<_, i64>(0)?, r.get::<_, String>(1)?, r.get(2)?)))?;
    Ok(shared::group_reactions(rows.collect::<rusqlite::Result<Vec<_>>>()?))
}

pub(super) fn edit(
    conn: &mut Connection,
    e: &EditMessage<'_>,
) -> Result<std::result::Result<(Message, i64), LivingRefusal>> {
    let tx = conn.transaction_with_behavior(TransactionBehavior::Immediate)?;
    let Some(t) = target(&tx, e.id, Some(e.editor_id))? else { return Ok(Err(LivingRefusal::NotFound)) };
    if let Err(refusal) =
        shared::may_edit(t.member, t.deleted, t.archived, t.sender == e.editor_id, &t.timestamp, e.not_before)
    {
        return Ok(Err(refusal));
    }
    let (ids, names) = resolve_mentions(&tx, t.room, e.mention_candidates)?;
    tx.prepare_cached("UPDATE messages SET content = ?1, mentions = ?2, edited_at = ?3 WHERE id = ?4")?
        .execute(params![e.content, shared::mentions_column(&names), e.timestamp, e.id])?;
    // The unread mentions follow the new text.
    tx.prepare_cached("DELETE FROM mentions WHERE message_id = ?1")?.execute([e.id])?;
    let mut note = tx.prepare_cached(
        "INSERT OR IGNORE INTO mentions (user_id, room_id, message_id) VALUES (?1, ?2, ?3)",
    )?;
    for id in ids.into_iter().filter(|&id| id != t.sender) {
        note.execute(params![id, t.room, e.id])?;
    }
    drop(note);
    let seq = write_change(
        &tx,
        Change::Edit { room_id: t.room, message_id: e.id, user_id: e.editor_id },
        e.timestamp,
    )?;
    let edited = message(&tx, e.id)?.expect("edited in this transaction");
    tx.commit()?;
    Ok(Ok((edited, seq)))
}

pub(super) fn delete(
    conn: &mut Connection,
    d: &DeleteMessage<'_>,
) -> Result<std::result::Result<(i64, i64), LivingRefusal>> {
    let tx = conn.transaction_with_behavior(TransactionBehavior::Immediate)?;
    let Some(t) = target(&tx, d.id, d.actor_id)? else { return Ok(Err(LivingRefusal::NotFound)) };
    let own = d.actor_id == Some(t.sender);
    if let Err(refusal) = shared::may_delete(t.member, t.deleted, own, d.may_delete_others) {
        return Ok(Err(refusal));
    }
    tx.prepare_cached(
        "UPDATE messages SET content = '', mentions = NULL, edited_at = NULL, deleted_at = ?1 WHERE id = ?2",
    )?
    .execute(params![d.timestamp, d.id])?;
    tx.prepare_cached("DELETE FROM mentions WHERE message_id = ?1")?.execute([d.id])?;
    tx.prepare_cached("DELETE FROM reactions WHERE message_id = ?1")?.execute([d.id])?;
    if !own {
        tx.prepare_cached(
            "INSERT INTO deletions (message_id, room_id, sender_id, actor_id, actor, reason, timestamp) \
             VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)",
        )?
        .execute(params![d.id, t.room, t.sender, d.actor_id, d.actor, d.reason, d.timestamp])?;
        super::audit(
            &tx,
            &Audit {
                reason: d.reason,
                actor_id: d.actor_id,
                room_id: Some(t.room),
                message_id: Some(d.id),
                ..Audit::new(Some(t.sender), Action::Delete, d.actor, d.timestamp)
            },
        )?;
    }
    let change = Change::Delete { room_id: t.room, message_id: d.id, user_id: d.actor_id.unwrap_or(0) };
    let seq = write_change(&tx, change, d.timestamp)?;
    tx.commit()?;
    Ok(Ok((t.room, seq)))
}

pub(super) fn toggle(
    conn: &mut Connection,
    r: &ToggleReaction<'_>,
) -> Result<std::result::Result<Toggled, LivingRefusal>> {
    let tx = conn.transaction_with_behavior(TransactionBehavior::Immediate)?;
    let Some(t) = target(&tx, r.message_id, Some(r.user_id))? else {
        return Ok(Err(LivingRefusal::NotFound));
    };
    if let Err(refusal) = shared::may_react(t.member, t.deleted, t.archived) {
        return Ok(Err(refusal));
    }
    let removed = tx
        .prepare_cached("DELETE FROM reactions WHERE message_id = ?1 AND emoji = ?2 AND user_id = ?3")?
        .execute(params![r.message_id, r.emoji, r.user_id])?
        > 0;
    if !removed {
        let (distinct, used): (i64, bool) = tx
            .prepare_cached(
                "SELECT COUNT(DISTINCT emoji), COALESCE(MAX(emoji = ?2), 0) FROM reactions WHERE message_id = ?1",
            )?
            .query_row(params![r.message_id, r.emoji], |row| Ok((row.get(0)?, row.get(1)?)))?;
        if !used && distinct as usize >= r.max_distinct {
            return Ok(Err(LivingRefusal::TooManyReactions));
        }
    }
    let change = Change::React { room_id: t.room, message_id: r.message_id, user_id: r.user_id };
    let seq = write_change(&tx, change, r.timestamp)?;
    if !removed {
        tx.prepare_cached(
            "INSERT INTO reactions (message_id, emoji, user_id, created_at, seq) VALUES (?1, ?2, ?3, ?4, ?5)",
        )?
        .execute(params![r.message_id, r.emoji, r.user_id, r.timestamp, seq])?;
    }
    let now = reactions(&tx, &[r.message_id])?.pop().map(|(_, list)| list).unwrap_or_default();
    tx.commit()?;
    Ok(Ok(Toggled { room: t.room, reactions: now, seq }))
}
