//! Reports of messages and appeals of blocks on PostgreSQL, the same contract as SQLite's
//! (`store/sqlite/reports.rs`); a decision is a log write (it tells each reporter).

use postgres::{GenericClient, Row, Transaction};

use super::rooms::{message_row, write_change, MESSAGE_SELECT};
use crate::store::{
    Action, Appeal, AppealRefusal, Audit, Change, Message, NewReport, Report, ReportDecision, ReportFilter,
    ReportRefusal, ReportSource, ReportStatus, Result, RoomKind,
};

pub(super) fn file(
    tx: &mut Transaction<'_>,
    n: &NewReport<'_>,
) -> Result<std::result::Result<i64, ReportRefusal>> {
    let found = tx.query_opt(
        "SELECT room_id, sender_id, deleted_at IS NOT NULL FROM messages WHERE id = $1",
        &[&n.message_id],
    )?;
    let Some(row) = found else { return Ok(Err(ReportRefusal::NotFound)) };
    let (room, sender, deleted): (i64, i64, bool) = (row.get(0), row.get(1), row.get(2));
    if deleted {
        return Ok(Err(ReportRefusal::NotFound));
    }
    if let Some(reporter) = n.reporter_id {
        if reporter == sender {
            return Ok(Err(ReportRefusal::Own));
        }
        // One reporter's reports take turns, so the bound on open ones holds under concurrency.
        tx.execute("SELECT id FROM users WHERE id = $1 FOR UPDATE", &[&reporter])?;
        let row = tx.query_one(
            "SELECT EXISTS (SELECT 1 FROM reports WHERE message_id = $1 AND reporter_id = $2), \
             (SELECT COUNT(*) FROM reports WHERE reporter_id = $2 AND status = 'open')",
            &[&n.message_id, &reporter],
        )?;
        if row.get::<_, bool>(0) {
            return Ok(Err(ReportRefusal::Duplicate));
        }
        if row.get::<_, i64>(1) >= n.max_open {
            return Ok(Err(ReportRefusal::TooMany));
        }
    }
    let row = tx.query_one(
        "INSERT INTO reports (message_id, room_id, sender_id, reporter_id, source, reason, text, score, \
         created_at) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9) RETURNING id",
        &[
            &n.message_id,
            &room,
            &sender,
            &n.reporter_id,
            &n.source.as_str(),
            &n.reason,
            &n.text,
            &n.score,
            &n.timestamp,
        ],
    )?;
    Ok(Ok(row.get(0)))
}

fn report_row(r: &Row) -> Report {
    let reporter: Option<i64> = r.get(7);
    let reporter_name: Option<String> = r.get(8);
    Report {
        id: r.get(0),
        created_at: r.get(1),
        status: ReportStatus::parse(r.get(2)),
        reason: r.get(3),
        text: r.get(4),
        source: ReportSource::parse(r.get(5)),
        score: r.get(6),
        reporter: reporter.zip(reporter_name),
        message_id: r.get(9),
        room_id: r.get(10),
        room_name: r.get(11),
        room_kind: RoomKind::parse(r.get(12)).unwrap_or(RoomKind::Public),
        sender_id: r.get(13),
        sender: r.get(14),
        message_text: r.get(15),
        message_timestamp: r.get(16),
        deleted: r.get(17),
        handled_by: r.get(18),
        handled_at: r.get(19),
        note: r.get(20),
    }
}

pub(super) fn list(c: &mut impl GenericClient, f: &ReportFilter) -> Result<Vec<Report>> {
    let rows = c.query(
        "SELECT r.id, r.created_at, r.status, r.reason, r.text, r.source, r.score, r.reporter_id, ru.username, \
           r.message_id, r.room_id, ro.name, ro.kind, r.sender_id, su.username, m.content, m.timestamp, \
           m.deleted_at IS NOT NULL, r.handled_by, r.handled_at, r.note \
         FROM reports r JOIN messages m ON m.id = r.message_id JOIN rooms ro ON ro.id = r.room_id \
           JOIN users su ON su.id = r.sender_id LEFT JOIN users ru ON ru.id = r.reporter_id \
         WHERE r.id < $1 AND ($2::BIGINT IS NULL OR r.id = $2) \
           AND ($3::BOOLEAN IS NULL OR $3 = (r.status = 'open')) \
           AND ($4::BIGINT IS NULL OR r.reporter_id = $4) \
           AND ($5::BIGINT IS NULL OR (ro.kind <> 'dm' AND (ro.created_by = $5 OR EXISTS (SELECT 1 FROM members mm \
             WHERE mm.room_id = ro.id AND mm.user_id = $5 AND mm.role = 'moderator')))) \
         ORDER BY r.id DESC LIMIT $6",
        &[
            &f.before_id.unwrap_or(i64::MAX),
            &f.id,
            &f.open,
            &f.reporter_id,
            &f.moderator_id,
            &(f.limit as i64),
        ],
    )?;
    Ok(rows.iter().map(report_row).collect())
}

pub(super) fn decide(tx: &mut Transaction<'_>, d: &ReportDecision<'_>) -> Result<Option<Vec<i64>>> {
    let found = tx.query_opt(
        "SELECT message_id, room_id, sender_id, status FROM reports WHERE id = $1 FOR UPDATE",
        &[&d.report_id],
    )?;
    let Some(row) = found else { return Ok(None) };
    let (message, room, sender, status): (i64, i64, i64, String) =
        (row.get(0), row.get(1), row.get(2), row.get(3));
    if status != "open" {
        return Ok(None);
    }
    let closed: Vec<(i64, Option<i64>)> = tx
        .query(
            "UPDATE reports SET status = $1, note = $2, handled_by = $3, handled_by_id = $4, handled_at = $5 \
             WHERE message_id = $6 AND status = 'open' RETURNING id, reporter_id",
            &[&d.status.as_str(), &d.note, &d.actor, &d.actor_id, &d.timestamp, &message],
        )?
        .iter()
        .map(|r| (r.get(0), r.get(1)))
        .collect();
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
    let mut ids: Vec<i64> = Vec::with_capacity(closed.len());
    for (id, reporter) in closed {
        if let Some(user_id) = reporter {
            write_change(tx, Change::Report { report_id: id, user_id, status: d.status }, d.timestamp)?;
        }
        ids.push(id);
    }
    ids.sort_unstable();
    Ok(Some(ids))
}

pub(super) fn room_messages_after(
    c: &mut impl GenericClient,
    room: i64,
    after: i64,
    limit: usize,
) -> Result<Vec<Message>> {
    let rows = c.query(
        &format!("{MESSAGE_SELECT} WHERE m.room_id = $1 AND m.id > $2 ORDER BY m.id LIMIT $3"),
        &[&room, &after, &(limit as i64)],
    )?;
    Ok(rows.iter().map(message_row).collect())
}

const APPEAL_SELECT: &str =
    "SELECT a.id, a.user_id, u.username, a.block_id, a.text, a.created_at, a.status, \
     a.answer, a.answered_by, a.answered_at FROM appeals a JOIN users u ON u.id = a.user_id";

fn appeal_row(r: &Row) -> Appeal {
    Appeal {
        id: r.get(0),
        user_id: r.get(1),
        username: r.get(2),
        block_id: r.get(3),
        text: r.get(4),
        created_at: r.get(5),
        status: r.get(6),
        answer: r.get(7),
        answered_by: r.get(8),
        answered_at: r.get(9),
    }
}

fn appeal_where(c: &mut impl GenericClient, condition: &str, id: i64) -> Result<Option<Appeal>> {
    Ok(c.query_opt(&format!("{APPEAL_SELECT} WHERE {condition} = $1"), &[&id])?.map(|r| appeal_row(&r)))
}

fn current_block(c: &mut impl GenericClient, user_id: i64) -> Result<Option<i64>> {
    Ok(c.query_opt(
        "SELECT (SELECT MAX(id) FROM violations WHERE user_id = u.id AND action = 'block') \
         FROM users u WHERE u.id = $1 AND u.is_blocked",
        &[&user_id],
    )?
    .and_then(|r| r.get::<_, Option<i64>>(0)))
}

pub(super) fn block_appeal(
    c: &mut impl GenericClient,
    user_id: i64,
) -> Result<Option<(i64, Option<Appeal>)>> {
    let Some(block) = current_block(c, user_id)? else { return Ok(None) };
    Ok(Some((block, appeal_where(c, "a.block_id", block)?)))
}

pub(super) fn file_appeal(
    tx: &mut Transaction<'_>,
    user_id: i64,
    block_id: i64,
    text: &str,
    timestamp: &str,
) -> Result<std::result::Result<Appeal, AppealRefusal>> {
    // Taken in turn with blocks and unblocks of the account.
    tx.execute("SELECT id FROM users WHERE id = $1 FOR UPDATE", &[&user_id])?;
    if current_block(tx, user_id)? != Some(block_id) {
        return Ok(Err(AppealRefusal::NotFound));
    }
    if appeal_where(tx, "a.block_id", block_id)?.is_some() {
        return Ok(Err(AppealRefusal::Done));
    }
    let id: i64 = tx
        .query_one(
            "INSERT INTO appeals (user_id, block_id, text, created_at) VALUES ($1, $2, $3, $4) RETURNING id",
            &[&user_id, &block_id, &text, &timestamp],
        )?
        .get(0);
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
    c: &mut impl GenericClient,
    open_only: bool,
    before: Option<i64>,
    limit: usize,
) -> Result<Vec<Appeal>> {
    let rows = c.query(
        &format!(
            "{APPEAL_SELECT} WHERE a.id < $1 AND (NOT $2 OR a.status = 'open') ORDER BY a.id DESC LIMIT $3"
        ),
        &[&before.unwrap_or(i64::MAX), &open_only, &(limit as i64)],
    )?;
    Ok(rows.iter().map(appeal_row).collect())
}

pub(super) fn answer(
    tx: &mut Transaction<'_>,
    appeal_id: i64,
    status: &str,
    note: &str,
    actor: &str,
    actor_id: i64,
    timestamp: &str,
) -> Result<std::result::Result<Appeal, AppealRefusal>> {
    let open = tx.query_opt("SELECT status FROM appeals WHERE id = $1 FOR UPDATE", &[&appeal_id])?;
    let Some(row) = open else { return Ok(Err(AppealRefusal::NotFound)) };
    if row.get::<_, String>(0) != "open" {
        return Ok(Err(AppealRefusal::Done));
    }
    tx.execute(
        "UPDATE appeals SET status = $1, answer = $2, answered_by = $3, answered_at = $4 WHERE id = $5",
        &[&status, &note, &actor, &timestamp, &appeal_id],
    )?;
    let appeal = appeal_where(tx, "a.id", appeal_id)?.expect("answered in this transaction");
    let reason = format!("appeal #{appeal_id}: {status}");
    super::audit(
        tx,
        &Audit {
            reason: Some(&reason),
            text: Some(note),
            actor_id: Some(actor_id),
            ..Audit::new(Some(appeal.user_id), Action::Appeal, actor, timestamp)
        },
    )?;
    Ok(Ok(appeal))
}

pub(super) fn take_answer(tx: &mut Transaction<'_>, user_id: i64) -> Result<Option<String>> {
    let rows = tx.query(
        "UPDATE appeals SET answer_seen = TRUE WHERE user_id = $1 AND status = 'unblocked' AND NOT answer_seen \
         RETURNING id, answer",
        &[&user_id],
    )?;
    Ok(rows
        .iter()
        .map(|r| (r.get::<_, i64>(0), r.get::<_, Option<String>>(1)))
        .max_by_key(|(id, _)| *id)
        .and_then(|(_, a)| a))
}
