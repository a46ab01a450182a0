//! The SQLite side of conversations and the log: rooms, members, read markers, and positions.
//!
//! Every write that the daemon fans out takes its log position from `log_counter` inside its
//! own `BEGIN IMMEDIATE` transaction: SQLite has one writer at a time, so positions are handed
//! out and committed in the same order, and a tailer asking for "after N" never skips one.

use rusqlite::{params, Connection, OptionalExtension, Row, Transaction};

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

pub(super) fn message_row(r: &Row<'_>) -> rusqlite::Result<Message> {
    Ok(Message {
        id: r.get(0)?,
        room_id: r.get(1)?,
        sender_id: r.get(2)?,
        username: r.get(3)?,
        content: r.get(4)?,
        timestamp: r.get(5)?,
        mentions: shared::mentions_from_column(r.get(6)?),
        edited_at: r.get(7)?,
        reply_to: r.get(8)?,
    })
}

/// Takes `n` consecutive log positions; returns the first.
pub(super) fn take_positions(tx: &Transaction<'_>, n: i64) -> Result<i64> {
    let next: i64 = tx
        .prepare_cached("UPDATE log_counter SET next = next + ?1 WHERE id = 1 RETURNING next - ?1")?
        .query_row([n], |r| r.get(0))?;
    Ok(next)
}

pub(super) fn write_change(tx: &Transaction<'_>, change: Change, timestamp: &str) -> Result<i64> {
    let seq = take_positions(tx, 1)?;
    let (kind, room, user, value) = change.columns();
    tx.prepare_cached(
        "INSERT INTO changes (seq, kind, room_id, user_id, value, timestamp) VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
    )?
    .execute(params![seq, kind, room, user, value, timestamp])?;
    Ok(seq)
}

/// Joins a new account to the auto-join rooms. No log entry: nobody can be online as an account
/// that did not exist, and its first socket reads its memberships.
pub(super) fn join_auto_rooms(tx: &Transaction<'_>, user_id: i64, timestamp: &str) -> Result<()> {
    // A new account has read nothing, but starting it at the bottom of a busy `general` would
    // greet it with thousands of "unread" messages it never saw arrive.
    tx.prepare_cached(
        "INSERT OR IGNORE INTO members (room_id, user_id, joined_at, last_read_id) \
         SELECT r.id, ?1, ?2, COALESCE((SELECT MAX(id) FROM messages WHERE room_id = r.id), 0) \
         FROM rooms r WHERE r.auto_join = 1 AND r.archived = 0",
    )?
    .execute(params![user_id, timestamp])?;
    Ok(())
}

/// The `RoomGate` of a member `m` of room `r` (user `u`): the latest post is read only when slow
/// mode applies, walking the room's messages back from the newest.
const GATE_COLS: &str = "m.muted_until, r.slow_mode_secs, \
     (m.role = 'moderator' OR r.created_by IS m.user_id OR u.is_admin), \
     CASE WHEN r.slow_mode_secs > 0 THEN (SELECT x.timestamp FROM messages x \
       WHERE x.room_id = m.room_id AND x.sender_id = m.user_id ORDER BY x.id DESC LIMIT 1) END";

pub(super) fn insert_messages(
    tx: &Transaction<'_>,
    batch: &[NewMessage],
    timestamp: &str,
) -> Result<Vec<std::result::Result<Message, Refusal>>> {
    let mut out = Vec::with_capacity(batch.len());
    // Checked first, so positions go to accepted messages only and stay dense.
    let mut accepted = 0i64;
    // Whether each message goes to a DM (read with its check, below).
    let mut to_dm = Vec::with_capacity(batch.len());
    {
        let mut check = tx.prepare_cached(&format!(
            "SELECT r.archived, u.muted_until, {GATE_COLS}, r.kind = 'dm' FROM members m \
             JOIN rooms r ON r.id = m.room_id JOIN users u ON u.id = m.user_id \
             WHERE m.room_id = ?1 AND m.user_id = ?2"
        ))?;
        let mut recent = Vec::new();
        // A reply must answer a message of the same room that still exists.
        let mut answers = tx
            .prepare_cached("SELECT 1 FROM messages WHERE id = ?1 AND room_id = ?2 AND deleted_at IS NULL")?;
        for m in batch {
            let checked: Option<(bool, Option<String>, RoomGate, bool)> = check
                .query_row(params![m.room_id, m.sender_id], |r| {
                    let gate = RoomGate {
                        muted_until: r.get(2)?,
                        slow_mode_secs: r.get(3)?,
                        exempt: r.get(4)?,
                        last_post: r.get(5)?,
                    };
                    Ok((r.get(0)?, r.get(1)?, gate, r.get(6)?))
                })
                .optional()?;
            let answered = match m.reply_to {
                Some(reply_to) => answers.exists(params![reply_to, m.room_id])?,
                None => true,
            };
            let (archived, muted_until, gate, dm) = match checked {
                Some((archived, muted_until, gate, dm)) => (Some(archived), muted_until, gate, dm),
                None => (None, None, RoomGate::default(), false),
            };
            to_dm.push(dm);
            let admitted = shared::admit(m, archived, muted_until.as_deref(), answered, timestamp)
                .and_then(|stored| shared::room_rules(m, &gate, &mut recent, timestamp).map(|()| stored));
            accepted += i64::from(admitted.is_ok());
            out.push(admitted);
        }
    }
    if accepted == 0 {
        return Ok(out);
    }
    let mut next = take_positions(tx, accepted)?;
    let mut insert = tx.prepare_cached(
        "INSERT INTO messages (id, room_id, sender_id, content, timestamp, mentions, reply_to) \
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)",
    )?;
    let mut note = tx.prepare_cached(
        "INSERT OR IGNORE INTO mentions (user_id, room_id, message_id) VALUES (?1, ?2, ?3)",
    )?;
    // A DM someone hid shows again with its next message. Only a DM can be hidden, and finding
    // hidden members walks all the members of the conversation: for a room like `general` every
    // message would cost the size of the server (PostgreSQL's statement joins rooms for this).
    let mut unhide = tx.prepare_cached("UPDATE members SET hidden = 0 WHERE room_id = ?1 AND hidden = 1")?;
    for ((m, slot), dm) in batch.iter().zip(out.iter_mut()).zip(to_dm) {
        let Ok(stored) = slot else { continue };
        stored.id = next;
        next += 1;
        let (ids, names) = resolve_mentions(tx, m.room_id, &m.mention_candidates)?;
        stored.mentions = names;
        let mentions = shared::mentions_column(&stored.mentions);
        insert.execute(params![
            stored.id,
            m.room_id,
            m.sender_id,
            m.content,
            timestamp,
            mentions,
            m.reply_to
        ])?;
        // One's own message is never unread, so it is no unread mention either.
        for id in ids.into_iter().filter(|&id| id != m.sender_id) {
            note.execute(params![id, m.room_id, stored.id])?;
        }
        if dm {
            unhide.execute([m.room_id])?;
        }
    }
    Ok(out)
}

/// The members of `room` that `candidates` name (folded names, see `NewMessage`), each once:
/// their ids and canonical names.
pub(super) fn resolve_mentions(
    tx: &Transaction<'_>,
    room: i64,
    candidates: &[String],
) -> Result<(Vec<i64>, Vec<String>)> {
    let mut mentioned = tx.prepare_cached(
        "SELECT u.id, u.username FROM members mb JOIN users u ON u.id = mb.user_id \
         WHERE mb.room_id = ?1 AND u.username = ?2 COLLATE NOCASE",
    )?;
    let (mut ids, mut names) = (Vec::new(), Vec::new());
    for name in candidates {
        if let Some((id, username)) =
            mentioned.query_row(params![room, name], |r| Ok((r.get::<_, i64>(0)?, r.get(1)?))).optional()?
        {
            if !ids.contains(&id) {
                ids.push(id);
                names.push(username);
            }
        }
    }
    Ok((ids, names))
}

pub(super) fn log_after(conn: &Connection, after: i64, limit: usize) -> Result<Vec<LogEntry>> {
    let mut entries: Vec<LogEntry> = conn
        .prepare_cached(&format!("{MESSAGE_SELECT} WHERE m.id > ?1 ORDER BY m.id LIMIT ?2"))?
        .query_map(params![after, limit as i64], message_row)?
        .map(|r| r.map(LogEntry::Message))
        .collect::<rusqlite::Result<_>>()?;
    let changes = conn
        .prepare_cached(
            "SELECT seq, kind, room_id, user_id, value FROM changes WHERE seq > ?1 ORDER BY seq LIMIT ?2",
        )?
        .query_map(params![after, limit as i64], |r| {
            let change = Change::from_columns(&r.get::<_, String>(1)?, r.get(2)?, r.get(3)?, r.get(4)?);
            Ok(LogEntry::Change { seq: r.get(0)?, change })
        })?
        .collect::<rusqlite::Result<Vec<_>>>()?;
    entries.extend(changes);
    entries.sort_by_key(LogEntry::position);
    entries.truncate(limit);
    Ok(entries)
}

pub(super) fn log_next(conn: &Connection) -> Result<i64> {
    Ok(conn.prepare_cached("SELECT next FROM log_counter WHERE id = 1")?.query_row([], |r| r.get(0))?)
}

pub(super) fn memberships(conn: &mut Connection, user_id: i64) -> Result<Memberships> {
    // One read transaction: the rooms are exactly those as of `next`.
    let tx = conn.transaction_with_behavior(rusqlite::TransactionBehavior::Deferred)?;
    let next = log_next(&tx)?;
    let rooms = tx
        .prepare_cached("SELECT room_id FROM members WHERE user_id = ?1 ORDER BY room_id")?
        .query_map([user_id], |r| r.get(0))?
        .collect::<rusqlite::Result<Vec<i64>>>()?;
    // An account that is gone counts as blocked: its socket must not stay.
    let (blocked, admin) = tx
        .prepare_cached("SELECT is_blocked, is_admin FROM users WHERE id = ?1")?
        .query_row([user_id], |r| Ok((r.get(0)?, r.get(1)?)))
        .optional()?
        .unwrap_or((true, false));
    tx.commit()?;
    Ok(Memberships { next, rooms, blocked, admin })
}

const ROOM_COLS: &str =
    "r.id, r.kind, r.name, r.topic, (SELECT username FROM users WHERE id = r.created_by), \
     r.created_at, r.archived, (SELECT COUNT(*) FROM members WHERE room_id = r.id), r.slow_mode_secs";
/// How many columns `ROOM_COLS` has.
const ROOM_COLS_N: usize = 9;

fn room_row(r: &Row<'_>) -> rusqlite::Result<Room> {
    room_at(r, 0)
}

/// A room from the `ROOM_COLS` starting at column `at`.
fn room_at(r: &Row<'_>, at: usize) -> rusqlite::Result<Room> {
    Ok(Room {
        id: r.get(at)?,
        kind: RoomKind::parse(&r.get::<_, String>(at + 1)?).unwrap_or(RoomKind::Private),
        name: r.get(at + 2)?,
        topic: r.get(at + 3)?,
        created_by: r.get(at + 4)?,
        created_at: r.get(at + 5)?,
        archived: r.get(at + 6)?,
        members: r.get(at + 7)?,
        slow_mode_secs: r.get(at + 8)?,
    })
}

pub(super) fn room(conn: &Connection, room_id: i64) -> Result<Option<Room>> {
    Ok(conn
        .prepare_cached(&format!("SELECT {ROOM_COLS} FROM rooms r WHERE r.id = ?1"))?
        .query_row([room_id], room_row)
        .optional()?)
}

pub(super) fn rooms_by_name_key(conn: &Connection, key: &str) -> Result<Vec<Room>> {
    let rows = conn
        .prepare_cached(&format!(
            "SELECT {ROOM_COLS} FROM rooms r WHERE r.name_key = ?1 ORDER BY r.kind != 'public', r.id"
        ))?
        .query_map([key], room_row)?
        .collect::<rusqlite::Result<Vec<_>>>()?;
    Ok(rows)
}

pub(super) fn create_room(tx: &Transaction<'_>, new: &NewRoom<'_>, dm_key: Option<&str>) -> Result<Room> {
    let id: i64 = tx
        .prepare_cached(
            "INSERT INTO rooms (kind, name, name_key, topic, dm_key, created_by, created_at) \
             VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7) RETURNING id",
        )?
        .query_row(
            params![
                new.kind.as_str(),
                new.name,
                new.name_key,
                new.topic,
                dm_key,
                new.created_by,
                new.timestamp
            ],
            |r| r.get(0),
        )?;
    for &user in new.members {
        tx.prepare_cached("INSERT INTO members (room_id, user_id, joined_at) VALUES (?1, ?2, ?3)")?
            .execute(params![id, user, new.timestamp])?;
        write_change(tx, Change::Member { room_id: id, user_id: user }, new.timestamp)?;
    }
    room(tx, id)?.ok_or(StoreError::RoomNotFound)
}

pub(super) fn open_dm(
    tx: &Transaction<'_>,
    members: &[i64],
    by: i64,
    timestamp: &str,
) -> Result<(Room, bool)> {
    let key = shared::dm_key(members);
    let existing: Option<i64> = tx
        .prepare_cached("SELECT id FROM rooms WHERE dm_key = ?1")?
        .query_row([&key], |r| r.get(0))
        .optional()?;
    if let Some(id) = existing {
        // The opener asked for it: show it again if they had hidden it.
        let shown = tx
            .prepare_cached(
                "UPDATE members SET hidden = 0 WHERE room_id = ?1 AND user_id = ?2 AND hidden = 1",
            )?
            .execute(params![id, by])?;
        if shown > 0 {
            write_change(tx, Change::Member { room_id: id, user_id: by }, timestamp)?;
        }
        return Ok((room(tx, id)?.ok_or(StoreError::RoomNotFound)?, false));
    }
    Ok((create_room(tx, &NewRoom::dm(members, by, timestamp), Some(&key))?, true))
}

/// Per-user columns of a room, for a member (`m` joined) or not.
const VIEW_SELECT: &str = "SELECT m.user_id IS NOT NULL, COALESCE(m.hidden, 0), COALESCE(m.last_read_id, 0), \
       COALESCE(m.notify, 'all'), \
       COALESCE((SELECT MAX(id) FROM messages WHERE room_id = r.id), 0), \
       CASE WHEN m.user_id IS NULL THEN 0 ELSE \
         (SELECT COUNT(*) FROM messages WHERE room_id = r.id AND id > m.last_read_id AND sender_id != m.user_id) END, \
       CASE WHEN m.user_id IS NULL THEN 0 ELSE \
         (SELECT COUNT(*) FROM mentions WHERE user_id = m.user_id AND room_id = r.id AND message_id > m.last_read_id) END, \
       COALESCE(m.role = 'moderator' OR r.created_by = m.user_id, 0), ";

fn view(conn: &Connection, user_id: i64, where_: &str, arg: i64) -> Result<Vec<RoomView>> {
    let sql = format!(
        "{VIEW_SELECT} {ROOM_COLS} FROM rooms r LEFT JOIN members m ON m.room_id = r.id AND m.user_id = ?1 \
         WHERE {where_}"
    );
    let mut stmt = conn.prepare_cached(&sql)?;
    let rows = stmt
        .query_map(params![user_id, arg], |r| {
            let room = room_at(r, 8)?;
            Ok(RoomView {
                room,
                people: Vec::new(),
                joined: r.get(0)?,
                hidden: r.get(1)?,
                last_read_id: r.get(2)?,
                notify: Notify::parse(&r.get::<_, String>(3)?).unwrap_or(Notify::All),
                last_message_id: r.get(4)?,
                unread: r.get(5)?,
                mentions: r.get(6)?,
                moderates: r.get(7)?,
            })
        })?
        .collect::<rusqlite::Result<Vec<_>>>()?;
    let mut people = conn.prepare_cached(
        "SELECT u.username FROM members m JOIN users u ON u.id = m.user_id \
         WHERE m.room_id = ?1 AND m.user_id != ?2 ORDER BY u.username COLLATE NOCASE",
    )?;
    rows.into_iter()
        .map(|mut v| {
            if v.room.kind == RoomKind::Dm {
                v.people = people
                    .query_map(params![v.room.id, user_id], |r| r.get(0))?
                    .collect::<rusqlite::Result<Vec<String>>>()?;
            }
            Ok(v)
        })
        .collect()
}

pub(super) fn room_view(conn: &Connection, user_id: i64, room_id: i64) -> Result<Option<RoomView>> {
    Ok(view(conn, user_id, "r.id = ?2", room_id)?.pop())
}

pub(super) fn room_views(conn: &Connection, user_id: i64) -> Result<Vec<RoomView>> {
    let mut views = view(conn, user_id, "m.user_id IS NOT NULL AND m.hidden = 0 AND ?2 = ?2", 0)?;
    views.sort_by(|a, b| b.last_message_id.cmp(&a.last_message_id).then(a.room.id.cmp(&b.room.id)));
    Ok(views)
}

pub(super) fn directory(conn: &Connection, user_id: i64) -> Result<Vec<(Room, bool)>> {
    let mut stmt = conn.prepare_cached(&format!(
        "SELECT {ROOM_COLS}, EXISTS (SELECT 1 FROM members WHERE room_id = r.id AND user_id = ?1) \
         FROM rooms r WHERE r.kind = 'public' ORDER BY r.name_key"
    ))?;
    let rows = stmt
        .query_map([user_id], |r| Ok((room_row(r)?, r.get(ROOM_COLS_N)?)))?
        .collect::<rusqlite::Result<Vec<_>>>()?;
    Ok(rows)
}

pub(super) fn room_members(conn: &Connection, room_id: i64) -> Result<Vec<Member>> {
    let mut stmt = conn.prepare_cached(
        "SELECT u.id, u.username, m.joined_at, m.role, m.muted_until FROM members m \
         JOIN users u ON u.id = m.user_id WHERE m.room_id = ?1 ORDER BY u.username COLLATE NOCASE",
    )?;
    let rows = stmt
        .query_map([room_id], |r| {
            Ok(Member {
                user_id: r.get(0)?,
                username: r.get(1)?,
                joined_at: r.get(2)?,
                role: RoomRole::parse(&r.get::<_, String>(3)?),
                muted_until: r.get(4)?,
            })
        })?
        .collect::<rusqlite::Result<Vec<_>>>()?;
    Ok(rows)
}

pub(super) fn is_member(conn: &Connection, room_id: i64, user_id: i64) -> Result<bool> {
    Ok(conn
        .prepare_cached("SELECT EXISTS (SELECT 1 FROM members WHERE room_id = ?1 AND user_id = ?2)")?
        .query_row([room_id, user_id], |r| r.get(0))?)
}

pub(super) fn member_role(conn: &Connection, room_id: i64, user_id: i64) -> Result<Option<RoomRole>> {
    Ok(conn
        .prepare_cached("SELECT role FROM members WHERE room_id = ?1 AND user_id = ?2")?
        .query_row([room_id, user_id], |r| r.get::<_, String>(0))
        .optional()?
        .map(|r| RoomRole::parse(&r)))
}

pub(super) fn add_member(tx: &Transaction<'_>, room_id: i64, user_id: i64, timestamp: &str) -> Result<bool> {
    if room(tx, room_id)?.is_none() {
        return Err(StoreError::RoomNotFound);
    }
    let added = tx
        .prepare_cached(
            "INSERT INTO members (room_id, user_id, joined_at, last_read_id) \
             VALUES (?1, ?2, ?3, COALESCE((SELECT MAX(id) FROM messages WHERE room_id = ?1), 0)) \
             ON CONFLICT (room_id, user_id) DO UPDATE SET hidden = 0 WHERE hidden = 1",
        )?
        .execute(params![room_id, user_id, timestamp])?;
    if added > 0 {
        write_change(tx, Change::Member { room_id, user_id }, timestamp)?;
    }
    Ok(added > 0)
}

pub(super) fn remove_member(
    tx: &Transaction<'_>,
    room_id: i64,
    user_id: i64,
    timestamp: &str,
) -> Result<bool> {
    let removed = tx
        .prepare_cached("DELETE FROM members WHERE room_id = ?1 AND user_id = ?2")?
        .execute([room_id, user_id])?;
    if removed > 0 {
        tx.prepare_cached("DELETE FROM mentions WHERE user_id = ?1 AND room_id = ?2")?
            .execute([user_id, room_id])?;
        write_change(tx, Change::Unmember { room_id, user_id }, timestamp)?;
    }
    Ok(removed > 0)
}

pub(super) fn hide_room(tx: &Transaction<'_>, room_id: i64, user_id: i64, timestamp: &str) -> Result<bool> {
    let hidden = tx
        .prepare_cached("UPDATE members SET hidden = 1 WHERE room_id = ?1 AND user_id = ?2 AND hidden = 0")?
        .execute([room_id, user_id])?;
    if hidden > 0 {
        write_change(tx, Change::Hide { room_id, user_id }, timestamp)?;
    }
    Ok(hidden > 0)
}

pub(super) fn mark_read(
    tx: &Transaction<'_>,
    room_id: i64,
    user_id: i64,
    message_id: i64,
    timestamp: &str,
) -> Result<i64> {
    let moved: Option<i64> = tx
        .prepare_cached(
            "UPDATE members SET last_read_id = \
               MIN(?3, COALESCE((SELECT MAX(id) FROM messages WHERE room_id = ?1), 0)) \
             WHERE room_id = ?1 AND user_id = ?2 \
               AND last_read_id < MIN(?3, COALESCE((SELECT MAX(id) FROM messages WHERE room_id = ?1), 0)) \
             RETURNING last_read_id",
        )?
        .query_row(params![room_id, user_id, message_id], |r| r.get(0))
        .optional()?;
    match moved {
        Some(id) => {
            write_change(tx, Change::Read { room_id, user_id, message_id: id }, timestamp)?;
            Ok(id)
        }
        None => tx
            .prepare_cached("SELECT last_read_id FROM members WHERE room_id = ?1 AND user_id = ?2")?
            .query_row([room_id, user_id], |r| r.get(0))
            .optional()?
            .ok_or(StoreError::RoomNotFound),
    }
}

pub(super) fn set_notify(conn: &Connection, room_id: i64, user_id: i64, level: Notify) -> Result<bool> {
    Ok(conn
        .prepare_cached("UPDATE members SET notify = ?3 WHERE room_id = ?1 AND user_id = ?2")?
        .execute(params![room_id, user_id, level.as_str()])?
        > 0)
}

pub(super) fn set_archived(
    tx: &Transaction<'_>,
    room_id: i64,
    archived: bool,
    timestamp: &str,
) -> Result<bool> {
    let changed = tx
        .prepare_cached("UPDATE rooms SET archived = ?2 WHERE id = ?1 AND archived != ?2")?
        .execute(params![room_id, archived])?;
    if changed > 0 {
        write_change(tx, Change::Room { room_id }, timestamp)?;
    }
    Ok(changed > 0)
}

pub(super) fn set_auto_join(tx: &Transaction<'_>, room_ids: &[i64]) -> Result<()> {
    tx.execute("UPDATE rooms SET auto_join = (id = 1)", [])?;
    for id in room_ids {
        tx.prepare_cached("UPDATE rooms SET auto_join = 1 WHERE id = ?1")?.execute([id])?;
    }
    Ok(())
}

pub(super) fn auto_join_rooms(conn: &Connection) -> Result<Vec<i64>> {
    let rows = conn
        .prepare_cached("SELECT id FROM rooms WHERE auto_join = 1 ORDER BY id")?
        .query_map([], |r| r.get(0))?
        .collect::<rusqlite::Result<Vec<i64>>>()?;
    Ok(rows)
}

pub(super) fn room_stats(conn: &Connection) -> Result<Vec<RoomStats>> {
    let mut stmt = conn.prepare_cached(&format!(
        "SELECT {ROOM_COLS}, (SELECT COUNT(*) FROM messages WHERE room_id = r.id), \
           (SELECT timestamp FROM messages WHERE room_id = r.id ORDER BY id DESC LIMIT 1) \
         FROM rooms r WHERE r.kind != 'dm' ORDER BY r.name_key"
    ))?;
    let rows = stmt
        .query_map([], |r| {
            Ok(RoomStats {
                room: room_row(r)?,
                messages: r.get(ROOM_COLS_N)?,
                last_activity: r.get(ROOM_COLS_N + 1)?,
            })
        })?
        .collect::<rusqlite::Result<Vec<_>>>()?;
    Ok(rows)
}

pub(super) fn usernames_starting(conn: &Connection, prefix: &str, limit: usize) -> Result<Vec<String>> {
    let escaped = shared::like_escape(prefix);
    let mut stmt = conn.prepare_cached(
        "SELECT username FROM users WHERE username LIKE ?1 || '%' ESCAPE '\\' AND is_blocked = 0 \
         ORDER BY username COLLATE NOCASE LIMIT ?2",
    )?;
    let rows = stmt
        .query_map(params![escaped, limit as i64], |r| r.get(0))?
        .collect::<rusqlite::Result<Vec<String>>>()?;
    Ok(rows)
}

pub(super) fn room_labels(conn: &Connection) -> Result<Vec<(i64, String)>> {
    let mut stmt = conn.prepare_cached(
        "SELECT r.id, COALESCE(r.name, 'dm:' || (SELECT group_concat(username, '+') FROM \
           (SELECT u.username FROM members m JOIN users u ON u.id = m.user_id \
            WHERE m.room_id = r.id ORDER BY u.username COLLATE NOCASE))) FROM rooms r ORDER BY r.id",
    )?;
    let rows = stmt
        .query_map([], |r| Ok((r.get(0)?, r.get::<_, Option<String>>(1)?.unwrap_or_else(|| "dm:".into()))))?
        .collect::<rusqlite::Result<Vec<_>>>()?;
    Ok(rows)
}
