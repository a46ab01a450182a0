//! Reports of messages and appeals of blocks on SQLite: filing, the queue, decisions (audited,
//! and told to each reporter through the log), and the appeals' lifecycle.

use rusqlite::{params, Connection, OptionalExtension, Row, Transaction};

use super::rooms::{message_row, write_change, MESSAGE_SELECT};
use crate::store::{
    Action, Appeal, AppealRefusal, Audit, Change, Message, NewReport, Report, ReportDecision, ReportFilter,
    ReportRefusal, ReportSource, ReportStatus, Result, RoomKind,
};

pub(super) fn file(
    tx: &Transaction<'_>,
    n: &NewReport<'_>,
) -> Result<std::result::Result<i64, ReportRefusal>> {
    let found: Option<(i64, i64, bool)> = tx
        .prepare_cached("SELECT room_id, sender_id, deleted_at IS NOT NULL FROM messages WHERE id = ?1")?
        .query_row([n.message_id], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)))
        .optional()?;
    let Some((room, sender, false)) = found else { return Ok(Err(ReportRefusal::NotFound)) };
    if let Some(reporter) = n.reporter_id {
        if reporter == sender {
            return Ok(Err(ReportRefusal::Own));
        }
        let (twice, open): (bool, i64) = tx
            .prepare_cached(
                "SELECT EXISTS (SELECT 1 FROM reports WHERE message_id = ?1 AND reporter_id = ?2), \
                 (SELECT COUNT(*) FROM reports WHERE reporter_id = ?2 AND status = 'open')",
            )?
            .query_row(params![n.message_id, reporter], |r| Ok((r.get(0)?, r.get(1)?)))?;
        if twice {
            return Ok(Err(ReportRefusal::Duplicate));
        }
        if open >= n.max_open {
            return Ok(Err(ReportRefusal::TooMany));
        }
    }
    let id = tx
        .prepare_cached(
            "INSERT INTO reports (message_id, room_id, sender_id, reporter_id, source, reason, text, score, \
             created_at) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9) RETURNING id",
        )?
        .query_row(
            params![
                n.message_id,
                room,
                sender,
                n.reporter_id,
                n.source.as_str(),
                n.reason,
                n.text,
                n.score,
                n.timestamp
            ],
            |r| r.get(0),
        )?;
    Ok(Ok(id))
}

fn report_row(r: &Row<'_>) -> rusqlite::Result<Report> {
    let reporter: Option<i64> = r.get(7)?;
    let reporter_name: Option<String> = r.get(8)?;
    Ok(Report {
        id: r.get(0)?,
        created_at: r.get(1)?,
        status: ReportStatus::parse(&r.get::<_, String>(2)?),
        reason: r.get(3)?,
        text: r.get(4)?,
        source: ReportSource::parse(&r.get::<_, String>(5)?),
        score: r.get(6)?,
        reporter: reporter.zip(reporter_name),
        message_id: r.get(9)?,
        room_id: r.get(10)?,
        room_name: r.get(11)?,
        room_kind: RoomKind::parse(&r.get::<_, String>(12)?).unwrap_or(RoomKind::Public),
        sender_id: r.get(13)?,
        sender: r.get(14)?,
        message_text: r.get(15)?,
        message_timestamp: r.get(16)?,
        deleted: r.get(17)?,
        handled_by: r.get(18)?,
        handled_at: r.get(19)?,
        note: r.get(20)?,
    })
}

pub(super) fn list(conn: &Connection, f: &ReportFilter) -> Result<Vec<Report>> {
    let mut stmt = conn.prepare_cached(
        "SELECT r.id, r.created_at, r.status, r.reason, r.text, r.source, r.score, r.reporter_id, ru.username, \
           r.message_id, r.room_id, ro.name, ro.kind, r.sender_id, su.username, m.content, m.timestamp, \
           m.deleted_at IS NOT NULL, r.handled_by, r.handled_at, r.note \
         FROM reports r JOIN messages m ON m.id = r.message_id JOIN rooms ro ON ro.id = r.room_id \
           JOIN users su ON su.id = r.sender_id LEFT JOIN users ru ON ru.id = r.reporter_id \
         WHERE r.id < ?1 AND (?2 IS NULL OR r.id = ?2) \
           AND (?3 IS NULL OR (?3 = 1) = (r.status = 'open')) \
           AND (?4 IS NULL OR r.reporter_id = ?4) \
           AND (?5 IS NULL OR (ro.kind <> 'dm' AND (ro.created_by = ?5 OR EXISTS (SELECT 1 FROM members mm \
             WHERE mm.room_id = ro.id AND mm.user_id = ?5 AND mm.role = 'moderator')))) \
         ORDER BY r.id DESC LIMIT ?6",
    )?;
    let rows = stmt
        .query_map(
            params![
                f.before_id.unwrap_or(i64::MAX),
                f.id,
                f.open,
                f.reporter_id,
                f.moderator_id,
                f.limit as i64
            ],
            report_row,
        )?
        .collect::<rusqlite::Result<Vec<_>>>()?;
    Ok(rows)
}

pub(super) fn decide(tx: &Transaction<'_>, d: &ReportDecision<'_>) -> Result<Option<Vec<i64>>> {
    let found: Option<(i64, i64, i64, String)> = tx
        .prepare_cached("SELECT message_id, room_id, sender_id, status FROM reports WHERE id = ?1")?
        .query_row([d.report_id], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?)))
        .optional()?;
    let Some((message, room, sender, status)) = found else { return Ok(None) };
    if status != "open" {
        return Ok(None);
    }
    let closed: Vec<(i64, Option<i64>)> = tx
        .prepare_cached(
            "UPDATE reports SET status = ?1, note = ?2, handled_by = ?3, handled_by_id = ?4, handled_at = ?5 \
             WHERE message_id = ?6 AND status = 'open' RETURNING id, reporter_id",
        )?
        .query_map(params![d.status.as_str(), d.note, d.actor, d.actor_id, d.timestamp, message], |r| {
            Ok((r.get(0)?, r.get(1)?))
        })?
        .collect::<rusqlite::Result<Vec<_>>>()?;
    super::audit(
        tx,
        &Audit {
            reason: Some(d.reason),
            text: d.note,
            actor_id: d.actor_id,
            room_id: Some(room),
            message_id: Some(message),
            ..Audit::new(Some(sender), Action::Report, d.actor, d.timestamp)
        },
    )?;
    for (id, reporter) in &closed {
        if let Some(user_id) = reporter {
            let change = Change::Report { report_id: *id, user_id: *user_id, status: d.status };
            write_change(tx, change, d.timestamp)?;
        }
    }
    Ok(Some(closed.into_iter().map(|(id, _)| id).collect()))
}

pub(super) fn room_messages_after(
    conn: &Connection,
    room: i64,
    after: i64,
    limit: usize,
) -> Result<Vec<Message>> {
    let rows = conn
        .prepare_cached(&format!(
            "{MESSAGE_SELECT} WHERE m.room_id = ?1 AND m.id > ?2 ORDER BY m.id LIMIT ?3"
        ))?
        .query_map(params![room, after, limit as i64], message_row)?
        .collect::<rusqlite::Result<Vec<_>>>()?;
    Ok(rows)
}

const APPEAL_SELECT: &str =
    "SELECT a.id, a.user_id, u.username, a.block_id, a.text, a.created_at, a.status, \
     a.answer, a.answered_by, a.answered_at FROM appeals a JOIN users u ON u.id = a.user_id";

fn appeal_row(r: &Row<'_>) -> rusqlite::Result<Appeal> {
    Ok(Appeal {
        id: r.get(0)?,
        user_id: r.get(1)?,
        username: r.get(2)?,
        block_id: r.get(3)?,
        text: r.get(4)?,
        created_at: r.get(5)?,
        status: r.get(6)?,
        answer: r.get(7)?,
        answered_by: r.get(8)?,
        answered_at: r.get(9)?,
    })
}

fn appeal_where(conn: &Connection, condition: &str, id: i64) -> Result<Option<Appeal>> {
    Ok(conn
        .prepare_cached(&format!("{APPEAL_SELECT} WHERE {condition} = ?1"))?
        .query_row([id], appeal_row)
        .optional()?)
}

/// The audit row of the account's current block.
fn current_block(conn: &Connection, user_id: i64) -> Result<Option<i64>> {
    Ok(conn
        .prepare_cached(
            "SELECT (SELECT MAX(id) FROM violations WHERE user_id = u.id AND action = 'block') \
             FROM users u WHERE u.id = ?1 AND u.is_blocked = 1",
        )?
        .query_row([user_id], |r| r.get::<_, Option<i64>>(0))
        .optional()?
        .flatten())
}

pub(super) fn block_appeal(conn: &Connection, user_id: i64) -> Result<Option<(i64, Option<Appeal>)>> {
    let Some(block) = current_block(conn, user_id)? else { return Ok(None) };
    Ok(Some((block, appeal_where(conn, "a.block_id", block)?)))
}

pub(super) fn file_appeal(
    tx: &Transaction<'_>,
    user_id: i64,
    block_id: i64,
    text: &str,
    timestamp: &str,
) -> Result<std::result::Result<Appeal, AppealRefusal>> {
    if current_block(tx, user_id)? != Some(block_id) {
        return Ok(Err(AppealRefusal::NotFound));
    }
    if appeal_where(tx, "a.block_id", block_id)?.is_some() {
        return Ok(Err(AppealRefusal::Done));
    }
    let id: i64 = tx
        .prepare_cached(
            "INSERT INTO appeals (user_id, block_id, text, created_at) VALUES (?1, ?2, ?3, ?4) RETURNING id",
        )?
        .query_row(params![user_id, block_id, text, timestamp], |r| r.get(0))?;
    let appeal = appeal_where(tx, "a.id", id)?.expect("inserted in this transaction");
    super::audit(
        tx,
        &Audit {
            reason: Some("appeal filed"),
            text: Some(text),
            actor_id: Some(user_id),
            ..Audit::new(Some(user_id), Action::Appeal, &appeal.username, timestamp)
        },
    )?;
    Ok(Ok(appeal))
}

pub(super) fn appeals(
    conn: &Connection,
    open_only: bool,
    before: Option<i64>,
    limit: usize,
) -> Result<Vec<Appeal>> {
    let rows = conn
        .prepare_cached(&format!(
            "{APPEAL_SELECT} WHERE a.id < ?1 AND (?2 = 0 OR a.status = 'open') ORDER BY a.id DESC LIMIT ?3"
        ))?
        .query_map(params![before.unwrap_or(i64::MAX), open_only, limit as i64], appeal_row)?
        .collect::<rusqlite::Result<Vec<_>>>()?;
    Ok(rows)
}

pub(super) fn answer(
    tx: &Transaction<'_>,
    appeal_id: i64,
    status: &str,
    note: &str,
    actor: &str,
    actor_id: i64,
    timestamp: &str,
) -> Result<std::result::Result<Appeal, AppealRefusal>> {
    let Some(before) = appeal_where(tx, "a.id", appeal_id)? else { return Ok(Err(AppealRefusal::NotFound)) };
    if before.status != "open" {
        return Ok(Err(AppealRefusal::Done));
    }
    tx.prepare_cached(
        "UPDATE appeals SET status = ?1, answer = ?2, answered_by = ?3, answered_at = ?4 WHERE id = ?5",
    )?
    .execute(params![status, note, actor, timestamp, appeal_id])?;
    let reason = format!("appeal #{appeal_id}: {status}");
    super::audit(
        tx,
        &Audit {
            reason: Some(&reason),
            text: Some(note),
            actor_id: Some(actor_id),
            ..Audit::new(Some(before.user_id), Action::Appeal, actor, timestamp)
        },
    )?;
    Ok(Ok(appeal_where(tx, "a.id", appeal_id)?.expect("answered in this transaction")))
}

/// Whether an appeal's answer waits for the user's next sign-in (read only).
pub(super) fn answer_waiting(conn: &Connection, user_id: i64) -> Result<bool> {
    let waiting = conn
        .prepare_cached(
            "SELECT EXISTS (SELECT 1 FROM appeals \
             WHERE user_id = ?1 AND status = 'unblocked' AND answer_seen = 0)",
        )?
        .query_row([user_id], |r| r.get(0))?;
    Ok(waiting)
}

pub(super) fn take_answer(tx: &Transaction<'_>, user_id: i64) -> Result<Option<String>> {
    let answers = tx
        .prepare_cached(
            "UPDATE appeals SET answer_seen = 1 WHERE user_id = ?1 AND status = 'unblocked' AND answer_seen = 0 \
             RETURNING id, answer",
        )?
        .query_map([user_id], |r| Ok((r.get::<_, i64>(0)?, r.get::<_, Option<String>>(1)?)))?
        .collect::<rusqlite::Result<Vec<_>>>()?;
    Ok(answers.into_iter().max_by_key(|(id, _)| *id).and_then(|(_, a)| a))
}
