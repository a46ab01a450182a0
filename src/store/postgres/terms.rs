//! The live moderation term lists (PostgreSQL): as in SQLite, every change audited and logged
//! in its own transaction (a log write, so concurrent changes and first starts queue on the log
//! counter).

use postgres::{GenericClient, Transaction};

use super::super::{
    shared::term_act, Action, Audit, Change, Result, Term, TermAdded, TermEdit, TermList, TERMS_SEEDED,
};
use super::{audit, rooms::write_change};

pub(super) fn all(conn: &mut impl GenericClient) -> Result<Vec<Term>> {
    let rows =
        conn.query("SELECT term, list, added_by, added_at FROM moderation_terms ORDER BY term", &[])?;
    Ok(rows
        .iter()
        .map(|r| Term {
            term: r.get(0),
            list: TermList::parse(r.get(1)).unwrap_or(TermList::Block),
            added_by: r.get(2),
            added_at: r.get(3),
        })
        .collect())
}

pub(super) fn seed(tx: &mut Transaction<'_>, terms: &[String], actor: &str, timestamp: &str) -> Result<bool> {
    let marked = tx.execute(
        "INSERT INTO settings (key, value) VALUES ($1, $2) ON CONFLICT (key) DO NOTHING",
        &[&TERMS_SEEDED, &timestamp],
    )?;
    if marked == 0 {
        return Ok(false);
    }
    tx.execute(
        "INSERT INTO moderation_terms (term, list, added_by, added_at) \
         SELECT t, 'block', $2, $3 FROM unnest($1::text[]) AS t ON CONFLICT (term) DO NOTHING",
        &[&terms, &actor, &timestamp],
    )?;
    let reason = format!("seeded {} terms from --blocklist", terms.len());
    // No log entry: every instance seeds or waits for the seeding before it reads the lists, so
    // none has an older list to replace (and a new database's first message keeps id 1).
    audit(tx, &Audit { reason: Some(&reason), ..Audit::new(None, Action::Terms, actor, timestamp) })?;
    Ok(true)
}

pub(super) fn add(tx: &mut Transaction<'_>, e: &TermEdit<'_>) -> Result<TermAdded> {
    let before = tx.query_opt("SELECT list FROM moderation_terms WHERE term = $1 FOR UPDATE", &[&e.term])?;
    let added = match before.and_then(|r| TermList::parse(r.get(0))) {
        Some(list) if list == e.list => return Ok(TermAdded::Unchanged),
        Some(_) => TermAdded::Moved,
        None => TermAdded::Added,
    };
    tx.execute(
        "INSERT INTO moderation_terms (term, list, added_by, added_at) VALUES ($1, $2, $3, $4) \
         ON CONFLICT (term) DO UPDATE SET list = EXCLUDED.list, added_by = EXCLUDED.added_by, \
         added_at = EXCLUDED.added_at",
        &[&e.term, &e.list.as_str(), &e.actor, &e.timestamp],
    )?;
    written(tx, e, term_act(e.list, Some(added)))?;
    Ok(added)
}

pub(super) fn remove(tx: &mut Transaction<'_>, e: &TermEdit<'_>) -> Result<Option<TermList>> {
    let removed = tx.query_opt("DELETE FROM moderation_terms WHERE term = $1 RETURNING list", &[&e.term])?;
    let Some(list) = removed.and_then(|r| TermList::parse(r.get(0))) else { return Ok(None) };
    written(tx, e, term_act(list, None))?;
    Ok(Some(list))
}

/// The audit row (the act in `text`, the admin's reason in `reason`) and the log change.
fn written(tx: &mut Transaction<'_>, e: &TermEdit<'_>, act: &str) -> Result<()> {
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
