//! The live moderation term lists (SQLite): every change audited and logged in its own
//! transaction, so each instance's tailer rebuilds its matcher in log order.

use rusqlite::{params, Connection, OptionalExtension, Transaction};

use super::super::{
    shared::term_act, Action, Audit, Change, Result, Term, TermAdded, TermEdit, TermList, TERMS_SEEDED,
};
use super::{audit, rooms::write_change};

pub(super) fn all(conn: &Connection) -> Result<Vec<Term>> {
    let mut stmt =
        conn.prepare_cached("SELECT term, list, added_by, added_at FROM moderation_terms ORDER BY term")?;
    let rows = stmt
        .query_map([], |r| {
            Ok(Term {
                term: r.get(0)?,
                list: TermList::parse(&r.get::<_, String>(1)?).unwrap_or(TermList::Block),
                added_by: r.get(2)?,
                added_at: r.get(3)?,
            })
        })?
        .collect::<rusqlite::Result<Vec<_>>>()?;
    Ok(rows)
}

pub(super) fn seed(tx: &Transaction<'_>, terms: &[String], actor: &str, timestamp: &str) -> Result<bool> {
    let marked = tx
        .prepare_cached("INSERT OR IGNORE INTO settings (key, value) VALUES (?1, ?2)")?
        .execute([TERMS_SEEDED, timestamp])?;
    if marked == 0 {
        return Ok(false);
    }
    let mut insert = tx.prepare_cached(
        "INSERT OR IGNORE INTO moderation_terms (term, list, added_by, added_at) VALUES (?1, 'block', ?2, ?3)",
    )?;
    for term in terms {
        insert.execute(params![term, actor, timestamp])?;
    }
    let reason = format!("seeded {} terms from --blocklist", terms.len());
    // No log entry: every instance seeds or waits for the seeding before it reads the lists, so
    // none has an older list to replace (and a new database's first message keeps id 1).
    audit(tx, &Audit { reason: Some(&reason), ..Audit::new(None, Action::Terms, actor, timestamp) })?;
    Ok(true)
}

pub(super) fn add(tx: &Transaction<'_>, e: &TermEdit<'_>) -> Result<TermAdded> {
    let before: Option<String> = tx
        .prepare_cached("SELECT list FROM moderation_terms WHERE term = ?1")?
        .query_row([e.term], |r| r.get(0))
        .optional()?;
    let added = match before.as_deref().and_then(TermList::parse) {
        Some(list) if list == e.list => return Ok(TermAdded::Unchanged),
        Some(_) => TermAdded::Moved,
        None => TermAdded::Added,
    };
    tx.prepare_cached(
        "INSERT INTO moderation_terms (term, list, added_by, added_at) VALUES (?1, ?2, ?3, ?4) \
         ON CONFLICT (term) DO UPDATE SET list = excluded.list, added_by = excluded.added_by, \
         added_at = excluded.added_at",
    )?
    .execute(params![e.term, e.list.as_str(), e.actor, e.timestamp])?;
    written(tx, e, term_act(e.list, Some(added)))?;
    Ok(added)
}

pub(super) fn remove(tx: &Transaction<'_>, e: &TermEdit<'_>) -> Result<Option<TermList>> {
    let removed: Option<String> = tx
        .prepare_cached("DELETE FROM moderation_terms WHERE term = ?1 RETURNING list")?
        .query_row([e.term], |r| r.get(0))
        .optional()?;
    let Some(list) = removed.as_deref().and_then(TermList::parse) else { return Ok(None) };
    written(tx, e, term_act(list, None))?;
    Ok(Some(list))
}

/// The audit row (the act in `text`, the admin's reason in `reason`) and the log change.
fn written(tx: &Transaction<'_>, e: &TermEdit<'_>, act: &str) -> Result<()> {
    audit(
        tx,
        &Audit {
            text: Some(act),
            term: Some(e.term),
            reason: e.reason,
            actor_id: e.actor_id,
            ..Audit::new(None, Action::Terms, e.actor, e.timestamp)
        },
    )?;
    write_change(tx, Change::Terms, e.timestamp)?;
    Ok(())
}
