//! The PostgreSQL side of conversations and the log: rooms, members, read markers, and positions.
//!
//! Every transaction that writes the log starts by locking the `log_counter` row
//! (`lock_log`) and takes its positions from that row before it commits. The lock is held to
//! the commit, so the next writer reads, checks and numbers only after the previous one is
//! visible: positions are dense and commit-ordered, as with SQLite's single writer, also across
//! several instances. A sequence would hand out numbers without that wait: transaction A takes 10,
//! B takes 11 and commits first, and a reader that saw 11 never looks at 10 again.

use postgres::{
    types::{ToSql, Type},
    GenericClient, Row, Transaction,
};

use crate::store::{
    shared, Change, LogEntry, Member, Memberships, Message, NewMessage, NewRoom, Notify, Refusal, Result,
    Room, RoomGate, RoomKind, RoomRole, RoomStats, RoomView, StoreError,
};

pub(super) const MESSAGE_SELECT: &str =
    // A deleted message (a tombstone kept for dense ids) is left out of everything read
    // through this: history, resume, the tailer, exports.
    "SELECT m.id, m.room_id, m.sender_id, u.username, m.content, m.timestamp, m.mentions, m.edited_at, \
       m.reply_to \
     FROM messages m JOIN users u ON u.id = m.sender_id AND m.deleted_at IS NULL";

pub(super) fn message_row(r: &Row) -> Message {
    Message {
        id: r.get(0),
        room_id: r.get(1),
        sender_id: r.get(2),
        username: r.get(3),
        content: r.get(4),
        timestamp: r.get(5),
        mentions: shared::mentions_from_column(r.get(6)),
        edited_at: r.get(7),
        reply_to: r.get(8),
    }
}

/// Waits for and holds the counter row's lock until the transaction ends.
pub(super) fn lock_log(tx: &mut Transaction<'_>) -> Result<()> {
    tx.execute_typed("SELECT next FROM log_counter WHERE id = 1 FOR UPDATE", &[])?;
    Ok(())
}

/// Takes `n` consecutive log positions; returns the first.
pub(super) fn take_positions(tx: &mut Transaction<'_>, n: i64) -> Result<i64> {
    Ok(tx
        .query_typed_one(
            "UPDATE log_counter SET next = next + $1 WHERE id = 1 RETURNING next - $1",
            &[(&n, Type::INT8)],
        )?
        .get(0))
}

pub(super) fn write_change(tx: &mut Transaction<'_>, change: Change, timestamp: &str) -> Result<i64> {
    let seq = take_positions(tx, 1)?;
    let (kind, room, user, value) = change.columns();
    tx.execute(
        "INSERT INTO changes (seq, kind, room_id, user_id, value, timestamp) VALUES ($1, $2, $3, $4, $5, $6)",
        &[&seq, &kind, &room, &user, &value, &timestamp],
    )?;
    Ok(seq)
}

/// Joins a new account to the auto-join rooms (no log entry, as in SQLite).
pub(super) fn join_auto_rooms(tx: &mut Transaction<'_>, user_id: i64, timestamp: &str) -> Result<()> {
    tx.execute(
        "INSERT INTO members (room_id, user_id, joined_at, last_read_id) \
         SELECT r.id, $1, $2, COALESCE((SELECT MAX(id) FROM messages WHERE room_id = r.id), 0) \
         FROM rooms r WHERE r.auto_join AND NOT r.archived ON CONFLICT DO NOTHING",
        &[&user_id, &timestamp],
    )?;
    Ok(())
}

/// Runs inside `log_write`: the counter is locked, so the membership checks below see every
/// earlier log write (a removal committed before is a refusal here) and no later one. A batch
/// costs a handful of statements whatever its size (arrays, not a statement per message), so the
/// counter's lock is held briefly.
/// The `RoomGate` of a member `m` of room `r` (user `u`): the latest post is read only when slow
/// mode applies, walking the room's messages back from the newest.
const GATE_COLS: &str = "m.muted_until, r.slow_mode_secs, \
     (m.role = 'moderator' OR r.created_by IS NOT DISTINCT FROM m.user_id OR u.is_admin), \
     CASE WHEN r.slow_mode_secs > 0 THEN (SELECT x.timestamp FROM messages x \
       WHERE x.room_id = m.room_id AND x.sender_id = m.user_id ORDER BY x.id DESC LIMIT 1) END";

pub(super) fn insert_messages(
    tx: &mut Transaction<'_>,
    batch: &[NewMessage],
    timestamp: &str,
) -> Result<Vec<std::result::Result<Message, Refusal>>> {
    // Checked first, so positions go to accepted messages only and stay dense.
    let rooms: Vec<i64> = batch.iter().map(|m| m.room_id).collect();
    let senders: Vec<i64> = batch.iter().map(|m| m.sender_id).collect();
    let replies: Vec<Option<i64>> = batch.iter().map(|m| m.reply_to).collect();
    // A reply must answer a message of the same room that still exists.
    let checked = tx.query_typed(
        &format!(
            "SELECT r.archived, b.reply_to IS NULL OR p.id IS NOT NULL, u.muted_until, {GATE_COLS} \
         FROM unnest($1::bigint[], $2::bigint[], $3::bigint[]) WITH ORDINALITY AS b (room_id, user_id, reply_to, i) \
         LEFT JOIN members m ON m.room_id = b.room_id AND m.user_id = b.user_id \
         LEFT JOIN rooms r ON r.id = m.room_id \
         LEFT JOIN users u ON u.id = m.user_id \
         LEFT JOIN messages p ON p.id = b.reply_to AND p.room_id = b.room_id AND p.deleted_at IS NULL \
         ORDER BY b.i"
        ),
        &[(&rooms, Type::INT8_ARRAY), (&senders, Type::INT8_ARRAY), (&replies, Type::INT8_ARRAY)],
    )?;
    let mut recent = Vec::new();
    let mut out: Vec<_> = batch
        .iter()
        .zip(&checked)
        .map(|(m, row)| {
            let gate = RoomGate {
                muted_until: row.get(3),
                slow_mode_secs: row.get::<_, Option<i64>>(4).unwrap_or(0),
                exempt: row.get::<_, Option<bool>>(5).unwrap_or(false),
                last_post: row.get(6),
            };
            shared::admit(m, row.get(0), row.get::<_, Option<&str>>(2), row.get(1), timestamp)
                .and_then(|stored| shared::room_rules(m, &gate, &mut recent, timestamp).map(|()| stored))
        })
        .collect();
    let accepted = out.iter().filter(|o| o.is_ok()).count() as i64;
    if accepted == 0 {
        return Ok(out);
    }
    let mut next = take_positions(tx, accepted)?;
    let mut mentioned = None;
    let mut notes: Vec<(i64, i64, i64)> = Vec::new();
    let mut cols = (Vec::new(), Vec::new(), Vec::new(), Vec::new(), Vec::new());
    let mut reply_col: Vec<Option<i64>> = Vec::new();
    for (m, slot) in batch.iter().zip(out.iter_mut()) {
        let Ok(stored) = slot else { continue };
        stored.id = next;
        next += 1;
        let mut ids = Vec::new();
        for name in &m.mention_candidates {
            let stmt = match &mentioned {
                Some(stmt) => stmt,
                None => mentioned.insert(tx.prepare(&format!(
                    "SELECT u.id, u.username FROM members mb JOIN users u ON u.id = mb.user_id \
                     WHERE mb.room_id = $1 AND {} = {}",
                    nocase!("u.username"),
                    nocase!("$2")
                ))?),
            };
            if let Some(row) = tx.query_opt(stmt, &[&m.room_id, name])? {
                let id: i64 = row.get(0);
                if !ids.contains(&id) {
                    ids.push(id);
                    stored.mentions.push(row.get(1));
                    // One's own message is never unread, so it is no unread mention either.
                    if id != m.sender_id {
                        notes.push((id, m.room_id, stored.id));
                    }
                }
            }
        }
        cols.0.push(stored.id);
        cols.1.push(m.room_id);
        cols.2.push(m.sender_id);
        cols.3.push(m.content.as_str());
        cols.4.push(shared::mentions_column(&stored.mentions));
        reply_col.push(m.reply_to);
    }
    // One statement that also shows again every DM someone hid (its next message brings it
    // back), and typed parameters: the commit path holds the log's lock, so every round trip
    // it saves is one the other writers do not wait for. Only DMs are looked at: finding a
    // conversation's hidden members walks all its members, which for a room as big as
    // `general` would cost every message the room's size.
    tx.execute_typed(
        "WITH posted AS ( \
           INSERT INTO messages (id, room_id, sender_id, content, mentions, timestamp, reply_to) \
           SELECT id, room_id, sender_id, content, mentions, $6, reply_to \
           FROM unnest($1::bigint[], $2::bigint[], $3::bigint[], $4::text[], $5::text[], $7::bigint[]) \
             AS t (id, room_id, sender_id, content, mentions, reply_to) \
           RETURNING room_id) \
         UPDATE members SET hidden = FALSE WHERE hidden AND room_id IN \
           (SELECT p.room_id FROM posted p JOIN rooms r ON r.id = p.room_id WHERE r.kind = 'dm')",
        &[
            (&cols.0, Type::INT8_ARRAY),
            (&cols.1, Type::INT8_ARRAY),
            (&cols.2, Type::INT8_ARRAY),
            (&cols.3, Type::TEXT_ARRAY),
            (&cols.4, Type::TEXT_ARRAY),
            (&timestamp, Type::TEXT),
            (&reply_col, Type::INT8_ARRAY),
        ],
    )?;
    if !notes.is_empty() {
        let (users, rooms, messages): (Vec<i64>, Vec<i64>, Vec<i64>) =
            notes.into_iter().fold(Default::default(), |mut acc, (u, r, m)| {
                acc.0.push(u);
                acc.1.push(r);
                acc.2.push(m);
                acc
            });
        tx.execute_typed(
            "INSERT INTO mentions (user_id, room_id, message_id) \
             SELECT * FROM unnest($1::bigint[], $2::bigint[], $3::bigint[]) ON CONFLICT DO NOTHING",
            &[(&users, Type::INT8_ARRAY), (&rooms, Type::INT8_ARRAY), (&messages, Type::INT8_ARRAY)],
        )?;
    }
    Ok(out)
}

/// Runs in one snapshot (see `PgStore::log_after`).
pub(super) fn log_after(tx: &mut Transaction<'_>, after: i64, limit: usize) -> Result<Vec<LogEntry>> {
    let limit = limit as i64;
    // Typed: one round trip each instead of three, for the query every instance's tailer runs
    // after every commit anywhere.
    let mut entries: Vec<LogEntry> = tx
        .query_typed(
            &format!("{MESSAGE_SELECT} WHERE m.id > $1 ORDER BY m.id LIMIT $2"),
            &[(&after, Type::INT8), (&limit, Type::INT8)],
        )?
        .iter()
        .map(|r| LogEntry::Message(message_row(r)))
        .collect();
    let changes = tx.query_typed(
        "SELECT seq, kind, room_id, user_id, value FROM changes WHERE seq > $1 ORDER BY seq LIMIT $2",
        &[(&after, Type::INT8), (&limit, Type::INT8)],
    )?;
    entries.extend(changes.iter().map(|r| LogEntry::Change {
        seq: r.get(0),
        change: Change::from_columns(r.get(1), r.get(2), r.get(3), r.get(4)),
    }));
    entries.sort_by_key(LogEntry::position);
    entries.truncate(limit as usize);
    Ok(entries)
}

pub(super) fn log_next(c: &mut impl GenericClient) -> Result<i64> {
    Ok(c.query_typed_one("SELECT next FROM log_counter WHERE id = 1", &[])?.get(0))
}

/// Runs in one snapshot: the rooms are exactly those as of `next`.
pub(super) fn memberships(tx: &mut Transaction<'_>, user_id: i64) -> Result<Memberships> {
    let next = log_next(tx)?;
    let rooms = tx
        .query("SELECT room_id FROM members WHERE user_id = $1 ORDER BY room_id", &[&user_id])?
        .iter()
        .map(|r| r.get(0))
        .collect();
    let (blocked, admin) = tx
        .query_opt("SELECT is_blocked, is_admin FROM users WHERE id = $1", &[&user_id])?
        .map_or((true, false), |r| (r.get(0), r.get(1)));
    Ok(Memberships { next, rooms, blocked, admin })
}

const ROOM_COLS: &str =
    "r.id, r.kind, r.name, r.topic, (SELECT username FROM users WHERE id = r.created_by), \
     r.created_at, r.archived, (SELECT COUNT(*) FROM members WHERE room_id = r.id), \
     r.slow_mode_secs";
/// How many columns `ROOM_COLS` has.
const ROOM_COLS_N: usize = 9;

/// A room from the `ROOM_COLS` starting at column `at`.
fn room_at(r: &Row, at: usize) -> Room {
    Room {
        id: r.get(at),
        kind: RoomKind::parse(r.get(at + 1)).unwrap_or(RoomKind::Private),
        name: r.get(at + 2),
        topic: r.get(at + 3),
        created_by: r.get(at + 4),
        created_at: r.get(at + 5),
        archived: r.get(at + 6),
        members: r.get(at + 7),
        slow_mode_secs: r.get(at + 8),
    }
}

pub(super) fn room(c: &mut impl GenericClient, room_id: i64) -> Result<Option<Room>> {
    Ok(c.query_opt(&format!("SELECT {ROOM_COLS} FROM rooms r WHERE r.id = $1"), &[&room_id])?
        .map(|r| room_at(&r, 0)))
}

pub(super) fn rooms_by_name_key(c: &mut impl GenericClient, key: &str) -> Result<Vec<Room>> {
    let rows = c.query(
        &format!("SELECT {ROOM_COLS} FROM rooms r WHERE r.name_key = $1 ORDER BY r.kind != 'public', r.id"),
        &[&key],
    )?;
    Ok(rows.iter().map(|r| room_at(r, 0)).collect())
}

pub(super) fn create_room(tx: &mut Transaction<'_>, new: &NewRoom<'_>, dm_key: Option<&str>) -> Result<Room> {
    let id: i64 = tx
        .query_one(
            "INSERT INTO rooms (kind, name, name_key, topic, dm_key, created_by, created_at) \
             VALUES ($1, $2, $3, $4, $5, $6, $7) RETURNING id",
            &[
                &new.kind.as_str(),
                &new.name,
                &new.name_key,
                &new.topic,
                &dm_key,
                &new.created_by,
                &new.timestamp,
            ],
        )?
        .get(0);
    for &user in new.members {
        tx.execute(
            "INSERT INTO members (room_id, user_id, joined_at) VALUES ($1, $2, $3)",
            &[&id, &user, &new.timestamp],
        )?;
        write_change(tx, Change::Member { room_id: id, user_id: user }, new.timestamp)?;
    }
    room(tx, id)?.ok_or(StoreError::RoomNotFound)
}

/// Runs inside `log_write`, so two people opening the same DM at once take turns and the second
/// finds the first's.
pub(super) fn open_dm(
    tx: &mut Transaction<'_>,
    members: &[i64],
    by: i64,
    timestamp: &str,
) -> Result<(Room, bool)> {
    let key = shared::dm_key(members);
    let existing: Option<i64> =
        tx.query_opt("SELECT id FROM rooms WHERE dm_key = $1", &[&key])?.map(|r| r.get(0));
    if let Some(id) = existing {
        // The opener asked for it: show it again if they had hidden it.
        let shown = tx.execute(
            "UPDATE members SET hidden = FALSE WHERE room_id = $1 AND user_id = $2 AND hidden",
            &[&id, &by],
        )?;
        if shown > 0 {
            write_change(tx, Change::Member { room_id: id, user_id: by }, timestamp)?;
        }
        return Ok((room(tx, id)?.ok_or(StoreError::RoomNotFound)?, false));
    }
    Ok((create_room(tx, &NewRoom::dm(members, by, timestamp), Some(&key))?, true))
}

/// Per-user columns of a room, for a member (`m` joined) or not.
const VIEW_SELECT: &str = "SELECT m.user_id IS NOT NULL, COALESCE(m.hidden, FALSE), COALESCE(m.last_read_id, 0), \
       COALESCE(m.notify, 'all'), \
       COALESCE((SELECT MAX(id) FROM messages WHERE room_id = r.id), 0), \
       CASE WHEN m.user_id IS NULL THEN 0 ELSE \
         (SELECT COUNT(*) FROM messages WHERE room_id = r.id AND id > m.last_read_id AND sender_id != m.user_id) END, \
       CASE WHEN m.user_id IS NULL THEN 0 ELSE \
         (SELECT COUNT(*) FROM mentions WHERE user_id = m.user_id AND room_id = r.id AND message_id > m.last_read_id) END, \
       COALESCE(m.role = 'moderator' OR r.created_by = m.user_id, FALSE), ";

fn view(
    c: &mut impl GenericClient,
    user_id: i64,
    where_: &str,
    params: &[&(dyn ToSql + Sync)],
) -> Result<Vec<RoomView>> {
    let sql = format!(
        "{VIEW_SELECT} {ROOM_COLS} FROM rooms r LEFT JOIN members m ON m.room_id = r.id AND m.user_id = $1 \
         WHERE {where_}"
    );
    let rows = c.query(&sql, params)?;
    let people = c.prepare(&format!(
        "SELECT u.username FROM members m JOIN users u ON u.id = m.user_id \
         WHERE m.room_id = $1 AND m.user_id != $2 ORDER BY {}",
        nocase!("u.username")
    ))?;
    rows.iter()
        .map(|r| {
            let mut v = RoomView {
                room: room_at(r, 8),
                people: Vec::new(),
                joined: r.get(0),
                hidden: r.get(1),
                last_read_id: r.get(2),
                notify: Notify::parse(r.get(3)).unwrap_or(Notify::All),
                last_message_id: r.get(4),
                unread: r.get(5),
                mentions: r.get(6),
                moderates: r.get(7),
            };
            if v.room.kind == RoomKind::Dm {
                v.people = c.query(&people, &[&v.room.id, &user_id])?.iter().map(|r| r.get(0)).collect();
            }
            Ok(v)
        })
        .collect()
}

pub(super) fn room_view(c: &mut impl GenericClient, user_id: i64, room_id: i64) -> Result<Option<RoomView>> {
    Ok(view(c, user_id, "r.id = $2", &[&user_id, &room_id])?.pop())
}

pub(super) fn room_views(c: &mut impl GenericClient, user_id: i64) -> Result<Vec<RoomView>> {
    let mut views = view(c, user_id, "m.user_id IS NOT NULL AND NOT m.hidden", &[&user_id])?;
    views.sort_by(|a, b| b.last_message_id.cmp(&a.last_message_id).then(a.room.id.cmp(&b.room.id)));
    Ok(views)
}

pub(super) fn directory(c: &mut impl GenericClient, user_id: i64) -> Result<Vec<(Room, bool)>> {
    let rows = c.query(
        &format!(
            "SELECT {ROOM_COLS}, EXISTS (SELECT 1 FROM members WHERE room_id = r.id AND user_id = $1) \
             FROM rooms r WHERE r.kind = 'public' ORDER BY r.name_key"
        ),
        &[&user_id],
    )?;
    Ok(rows.iter().map(|r| (room_at(r, 0), r.get(ROOM_COLS_N))).collect())
}

pub(super) fn room_members(c: &mut impl GenericClient, room_id: i64) -> Result<Vec<Member>> {
    let rows = c.query(
        &format!(
            "SELECT u.id, u.username, m.joined_at, m.role, m.muted_until FROM members m \
             JOIN users u ON u.id = m.user_id WHERE m.room_id = $1 ORDER BY {}",
            nocase!("u.username")
        ),
        &[&room_id],
    )?;
    Ok(rows
        .iter()
        .map(|r| Member {
            user_id: r.get(0),
            username: r.get(1),
            joined_at: r.get(2),
            role: RoomRole::parse(r.get(3)),
            muted_until: r.get(4),
        })
        .collect())
}

pub(super) fn is_member(c: &mut impl GenericClient, room_id: i64, user_id: i64) -> Result<bool> {
    Ok(c.query_one(
        "SELECT EXISTS (SELECT 1 FROM members WHERE room_id = $1 AND user_id = $2)",
        &[&room_id, &user_id],
    )?
    .get(0))
}

pub(super) fn member_role(
    c: &mut impl GenericClient,
    room_id: i64,
    user_id: i64,
) -> Result<Option<RoomRole>> {
    Ok(c.query_opt("SELECT role FROM members WHERE room_id = $1 AND user_id = $2", &[&room_id, &user_id])?
        .map(|r| RoomRole::parse(r.get(0))))
}

pub(super) fn add_member(
    tx: &mut Transaction<'_>,
    room_id: i64,
    user_id: i64,
    timestamp: &str,
) -> Result<bool> {
    if room(tx, room_id)?.is_none() {
        return Err(StoreError::RoomNotFound);
    }
    let added = tx.execute(
        "INSERT INTO members (room_id, user_id, joined_at, last_read_id) \
         VALUES ($1, $2, $3, COALESCE((SELECT MAX(id) FROM messages WHERE room_id = $1), 0)) \
         ON CONFLICT (room_id, user_id) DO UPDATE SET hidden = FALSE WHERE members.hidden",
        &[&room_id, &user_id, &timestamp],
    )?;
    if added > 0 {
        write_change(tx, Change::Member { room_id, user_id }, timestamp)?;
    }
    Ok(added > 0)
}

pub(super) fn remove_member(
    tx: &mut Transaction<'_>,
    room_id: i64,
    user_id: i64,
    timestamp: &str,
) -> Result<bool> {
    let removed =
        tx.execute("DELETE FROM members WHERE room_id = $1 AND user_id = $2", &[&room_id, &user_id])?;
    if removed > 0 {
        tx.execute("DELETE FROM mentions WHERE user_id = $1 AND room_id = $2", &[&user_id, &room_id])?;
        write_change(tx, Change::Unmember { room_id, user_id }, timestamp)?;
    }
    Ok(removed > 0)
}

pub(super) fn hide_room(
    tx: &mut Transaction<'_>,
    room_id: i64,
    user_id: i64,
    timestamp: &str,
) -> Result<bool> {
    let hidden = tx.execute(
        "UPDATE members SET hidden = TRUE WHERE room_id = $1 AND user_id = $2 AND NOT hidden",
        &[&room_id, &user_id],
    )?;
    if hidden > 0 {
        write_change(tx, Change::Hide { room_id, user_id }, timestamp)?;
    }
    Ok(hidden > 0)
}

pub(super) fn mark_read(
    tx: &mut Transaction<'_>,
    room_id: i64,
    user_id: i64,
    message_id: i64,
    timestamp: &str,
) -> Result<i64> {
    let moved: Option<i64> = tx
        .query_opt(
            "UPDATE members SET last_read_id = \
               LEAST($3, COALESCE((SELECT MAX(id) FROM messages WHERE room_id = $1), 0)) \
             WHERE room_id = $1 AND user_id = $2 \
               AND last_read_id < LEAST($3, COALESCE((SELECT MAX(id) FROM messages WHERE room_id = $1), 0)) \
             RETURNING last_read_id",
            &[&room_id, &user_id, &message_id],
        )?
        .map(|r| r.get(0));
    match moved {
        Some(id) => {
            write_change(tx, Change::Read { room_id, user_id, message_id: id }, timestamp)?;
            Ok(id)
        }
        None => tx
            .query_opt(
                "SELECT last_read_id FROM members WHERE room_id = $1 AND user_id = $2",
                &[&room_id, &user_id],
            )?
            .map(|r| r.get(0))
            .ok_or(StoreError::RoomNotFound),
    }
}

pub(super) fn set_notify(
    c: &mut impl GenericClient,
    room_id: i64,
    user_id: i64,
    level: Notify,
) -> Result<bool> {
    Ok(c.execute(
        "UPDATE members SET notify = $3 WHERE room_id = $1 AND user_id = $2",
        &[&room_id, &user_id, &level.as_str()],
    )? > 0)
}

pub(super) fn set_archived(
    tx: &mut Transaction<'_>,
    room_id: i64,
    archived: bool,
    timestamp: &str,
) -> Result<bool> {
    let changed = tx
        .execute("UPDATE rooms SET archived = $2 WHERE id = $1 AND archived != $2", &[&room_id, &archived])?;
    if changed > 0 {
        write_change(tx, Change::Room { room_id }, timestamp)?;
    }
    Ok(changed > 0)
}

pub(super) fn set_auto_join(tx: &mut Transaction<'_>, room_ids: &[i64]) -> Result<()> {
    tx.execute("UPDATE rooms SET auto_join = (id = 1 OR id = ANY($1))", &[&room_ids])?;
    Ok(())
}

pub(super) fn auto_join_rooms(c: &mut impl GenericClient) -> Result<Vec<i64>> {
    Ok(c.query("SELECT id FROM rooms WHERE auto_join ORDER BY id", &[])?.iter().map(|r| r.get(0)).collect())
}

pub(super) fn room_stats(c: &mut impl GenericClient) -> Result<Vec<RoomStats>> {
    let rows = c.query(
        &format!(
            "SELECT {ROOM_COLS}, (SELECT COUNT(*) FROM messages WHERE room_id = r.id), \
               (SELECT timestamp FROM messages WHERE room_id = r.id ORDER BY id DESC LIMIT 1) \
             FROM rooms r WHERE r.kind != 'dm' ORDER BY r.name_key"
        ),
        &[],
    )?;
    Ok(rows
        .iter()
        .map(|r| RoomStats {
            room: room_at(r, 0),
            messages: r.get(ROOM_COLS_N),
            last_activity: r.get(ROOM_COLS_N + 1),
        })
        .collect())
}

pub(super) fn usernames_starting(
    c: &mut impl GenericClient,
    prefix: &str,
    limit: usize,
) -> Result<Vec<String>> {
    // LIKE with its wildcards escaped: a prefix is matched literally, ASCII case-insensitively
    // as SQLite's LIKE does.
    let escaped = shared::like_escape(prefix);
    let rows = c.query(
        &format!(
            "SELECT username FROM users WHERE {u} LIKE {p} || '%' ESCAPE '\\' AND NOT is_blocked \
             ORDER BY {u} LIMIT $2",
            u = nocase!("username"),
            p = nocase!("$1"),
        ),
        &[&escaped, &(limit as i64)],
    )?;
    Ok(rows.iter().map(|r| r.get(0)).collect())
}

pub(super) fn room_labels(c: &mut impl GenericClient) -> Result<Vec<(i64, String)>> {
    let rows = c.query(
        &format!(
            "SELECT r.id, COALESCE(r.name, 'dm:' || (SELECT string_agg(u.username, '+' ORDER BY {}) \
               FROM members m JOIN users u ON u.id = m.user_id WHERE m.room_id = r.id)) \
             FROM rooms r ORDER BY r.id",
            nocase!("u.username")
        ),
        &[],
    )?;
    Ok(rows
        .iter()
        .map(|r| (r.get(0), r.get::<_, Option<String>>(1).unwrap_or_else(|| "dm:".into())))
        .collect())
}
