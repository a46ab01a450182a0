//! Living messages on PostgreSQL: edits, deletions (tombstones) and reactions, each one log
//! write (under the counter's lock, `PgStore::log_write`) so a resuming client replays them in
//! order, on every instance alike.

use postgres::{GenericClient, Transaction};

use super::rooms::{message_row, write_change, MESSAGE_SELECT};
use crate::store::{
    shared, Action, Audit, Change, DeleteMessage, Deletion, EditMessage, LivingChange, LivingKind,
    LivingRefusal, Message, Reaction, Result, ToggleReaction, Toggled,
};

/// What a change to a message needs to know of it, read under the log's lock.
struct Target {
    room: i64,
    sender: i64,
    timestamp: String,
    deleted: bool,
    archived: bool,
    member: bool,
}

fn target(tx: &mut Transaction<'_>, id: i64, actor: Option<i64>) -> Result<Option<Target>> {
    Ok(tx
        .query_opt(
            "SELECT m.room_id, m.sender_id, m.timestamp, m.deleted_at IS NOT NULL, r.archived, \
               EXISTS (SELECT 1 FROM members WHERE room_id = m.room_id AND user_id = $2) \
             FROM messages m JOIN rooms r ON r.id = m.room_id WHERE m.id = $1",
            &[&id, &actor.unwrap_or(0)],
        )?
        .map(|r| Target {
            room: r.get(0),
            sender: r.get(1),
            timestamp: r.get(2),
            deleted: r.get(3),
            archived: r.get(4),
            member: r.get(5),
        }))
}

pub(super) fn message(c: &mut impl GenericClient, id: i64) -> Result<Option<Message>> {
    Ok(c.query_opt(&format!("{MESSAGE_SELECT} WHERE m.id = $1"), &[&id])?.map(|r| message_row(&r)))
}

pub(super) fn messages_by_id(c: &mut impl GenericClient, ids: &[i64]) -> Result<Vec<Message>> {
    if ids.is_empty() {
        return Ok(Vec::new());
    }
    let rows = c.query(&format!("{MESSAGE_SELECT} WHERE m.id = ANY($1) ORDER BY m.id"), &[&ids])?;
    Ok(rows.iter().map(message_row).collect())
}

pub(super) fn living_changes(
    c: &mut impl GenericClient,
    user_id: i64,
    after: i64,
    before: i64,
) -> Result<Vec<LivingChange>> {
    let rows = c.query(
        "SELECT MAX(seq), kind, room_id, value FROM changes \
         WHERE seq > $2 AND seq < $3 AND kind IN ('edit', 'delete', 'react') \
           AND room_id IN (SELECT room_id FROM members WHERE user_id = $1) \
         GROUP BY kind, room_id, value ORDER BY 1",
        &[&user_id, &after, &before],
    )?;
    Ok(rows
        .iter()
        .map(|r| LivingChange {
            seq: r.get(0),
            kind: LivingKind::parse(r.get(1)),
            room_id: r.get(2),
            message_id: r.get(3),
        })
        .collect())
}

pub(super) fn deletions(
    c: &mut impl GenericClient,
    before_id: Option<i64>,
    limit: usize,
) -> Result<Vec<Deletion>> {
    let rows = c.query(
        "SELECT d.id, d.message_id, d.room_id, u.username, d.actor, d.reason, d.timestamp \
         FROM deletions d JOIN users u ON u.id = d.sender_id WHERE d.id < $1 ORDER BY d.id DESC LIMIT $2",
        &[&before_id.unwrap_or(i64::MAX), &(limit as i64)],
    )?;
    Ok(rows
        .iter()
        .map(|r| Deletion {
            id: r.get(0),
            message_id: r.get(1),
            room_id: r.get(2),
            sender: r.get(3),
            actor: r.get(4),
            reason: r.get(5),
            timestamp: r.get(6),
        })
        .collect())
}

pub(super) fn reactions(c: &mut impl GenericClient, ids: &[i64]) -> Result<Vec<(i64, Vec<Reaction>)>> {
    if ids.is_empty() {
        return Ok(Vec::new());
    }
    let rows = c.query(
        "SELECT r.message_id, r.emoji, u.username FROM reactions r JOIN users u ON u.id = r.user_id \
         WHERE r.message_id = ANY($1) \
         ORDER BY r.message_id, \
           MIN(r.seq) OVER (PARTITION BY r.message_id, r.emoji), r.seq",
        &[&ids],
    )?;
    Ok(shared::group_reactions(rows.iter().map(|r| (r.get(0), r.get(1), r.get(2))).collect()))
}

/// The members of `room` that `candidates` name, each once: ids and canonical names.
fn resolve_mentions(
    tx: &mut Transaction<'_>,
    room: i64,
    candidates: &[String],
) -> Result<(Vec<i64>, Vec<String>)> {
    let (mut ids, mut names) = (Vec::new(), Vec::new());
    if candidates.is_empty() {
        return Ok((ids, names));
    }
    let rows = tx.query(
        "SELECT DISTINCT ON (u.id) u.id, u.username, c.i FROM unnest($2::text[]) WITH ORDINALITY AS c (name, i) \
         JOIN users u ON lower(u.username COLLATE \"C\") = lower(c.name COLLATE \"C\") \
         JOIN members mb ON mb.user_id = u.id AND mb.room_id = $1 ORDER BY u.id, c.i",
        &[&room, &candidates],
    )?;
    let mut found: Vec<(i64, i64, String)> = rows.iter().map(|r| (r.get(2), r.get(0), r.get(1))).collect();
    found.sort();
    for (_, id, name) in found {
        ids.push(id);
        names.push(name);
    }
    Ok((ids, names))
}

pub(super) fn edit(
    tx: &mut Transaction<'_>,
    e: &EditMessage<'_>,
) -> Result<std::result::Result<(Message, i64), LivingRefusal>> {
    let Some(t) = target(tx, e.id, Some(e.editor_id))? else { return Ok(Err(LivingRefusal::NotFound)) };
    if let Err(refusal) =
        shared::may_edit(t.member, t.deleted, t.archived, t.sender == e.editor_id, &t.timestamp, e.not_before)
    {
        return Ok(Err(refusal));
    }
    let (ids, names) = resolve_mentions(tx, t.room, e.mention_candidates)?;
    tx.execute(
        "UPDATE messages SET content = $1, mentions = $2, edited_at = $3 WHERE id = $4",
        &[&e.content, &shared::mentions_column(&names), &e.timestamp, &e.id],
    )?;
    tx.execute("DELETE FROM mentions WHERE message_id = $1", &[&e.id])?;
    let noted: Vec<i64> = ids.into_iter().filter(|&id| id != t.sender).collect();
    if !noted.is_empty() {
        tx.execute(
            "INSERT INTO mentions (user_id, room_id, message_id) SELECT u, $2, $3 FROM unnest($1::bigint[]) AS u \
             ON CONFLICT DO NOTHING",
            &[&noted, &t.room, &e.id],
        )?;
    }
    let seq = write_change(
        tx,
        Change::Edit { room_id: t.room, message_id: e.id, user_id: e.editor_id },
        e.timestamp,
    )?;
    let edited = message(tx, e.id)?.expect("edited in this transaction");
    Ok(Ok((edited, seq)))
}

pub(super) fn delete(
    tx: &mut Transaction<'_>,
    d: &DeleteMessage<'_>,
) -> Result<std::result::Result<(i64, i64), LivingRefusal>> {
    let Some(t) = target(tx, d.id, d.actor_id)? else { return Ok(Err(LivingRefusal::NotFound)) };
    let own = d.actor_id == Some(t.sender);
    if let Err(refusal) = shared::may_delete(t.member, t.deleted, own, d.may_delete_others) {
        return Ok(Err(refusal));
    }
    tx.execute(
        "UPDATE messages SET content = '', mentions = NULL, edited_at = NULL, deleted_at = $1 WHERE id = $2",
        &[&d.timestamp, &d.id],
    )?;
    tx.execute("DELETE FROM mentions WHERE message_id = $1", &[&d.id])?;
    tx.execute("DELETE FROM reactions WHERE message_id = $1", &[&d.id])?;
    if !own {
        tx.execute(
            "INSERT INTO deletions (message_id, room_id, sender_id, actor_id, actor, reason, timestamp) \
             VALUES ($1, $2, $3, $4, $5, $6, $7)",
            &[&d.id, &t.room, &t.sender, &d.actor_id, &d.actor, &d.reason, &d.timestamp],
        )?;
        super::audit(
            tx,
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
    let seq = write_change(tx, change, d.timestamp)?;
    Ok(Ok((t.room, seq)))
}

pub(super) fn toggle(
    tx: &mut Transaction<'_>,
    r: &ToggleReaction<'_>,
) -> Result<std::result::Result<Toggled, LivingRefusal>> {
    let Some(t) = target(tx, r.message_id, Some(r.user_id))? else { return Ok(Err(LivingRefusal::NotFound)) };
    if let Err(refusal) = shared::may_react(t.member, t.deleted, t.archived) {
        return Ok(Err(refusal));
    }
    let removed = tx.execute(
        "DELETE FROM reactions WHERE message_id = $1 AND emoji = $2 AND user_id = $3",
        &[&r.message_id, &r.emoji, &r.user_id],
    )? > 0;
    if !removed {
        let row = tx.query_one(
            "SELECT COUNT(DISTINCT emoji), COALESCE(bool_or(emoji = $2), FALSE) FROM reactions WHERE message_id = $1",
            &[&r.message_id, &r.emoji],
        )?;
        let (distinct, used): (i64, bool) = (row.get(0), row.get(1));
        if !used && distinct as usize >= r.max_distinct {
            return Ok(Err(LivingRefusal::TooManyReactions));
        }
    }
    let change = Change::React { room_id: t.room, message_id: r.message_id, user_id: r.user_id };
    let seq = write_change(tx, change, r.timestamp)?;
    if !removed {
        tx.execute(
            "INSERT INTO reactions (message_id, emoji, user_id, created_at, seq) VALUES ($1, $2, $3, $4, $5)",
            &[&r.message_id, &r.emoji, &r.user_id, &r.timestamp, &seq],
        )?;
    }
    let now = reactions(tx, &[r.message_id])?.pop().map(|(_, list)| list).unwrap_or_default();
    Ok(Ok(Toggled { room: t.room, reactions: now, seq }))
}
