//! Message search on SQLite: the FTS5 trigram index `messages_fts` (V7) finds the terms of three
//! characters or more; shorter ones, which a trigram index cannot look up, are matched with
//! `LIKE` on the rows the index (or, with only short terms, the walk of the conversations'
//! messages from the newest) yields, so the `LIMIT` bounds the work either way.

use rusqlite::{params, params_from_iter, types::Value, Connection, TransactionBehavior};

use super::rooms::{message_row, MESSAGE_SELECT};
use crate::store::{
    shared::{SearchParam, SearchSql},
    Message, Result, SearchQuery,
};

/// The trigram tokenizer finds no term shorter than this (in characters).
const TRIGRAM: usize = 3;

/// Messages after the index's mark are read directly (every term with `LIKE`, newest first): the
/// writer indexes them as soon as it is idle, so the walk is short; the index answers below it.
pub(super) fn search(conn: &Connection, q: &SearchQuery) -> Result<Vec<Message>> {
    let upto: i64 =
        conn.prepare_cached("SELECT indexed_upto FROM search_state")?.query_row([], |r| r.get(0))?;
    let mut found = Vec::new();
    if q.before_id.is_none_or(|before| before > upto + 1) {
        let tail = SearchQuery { after_id: Some(q.after_id.unwrap_or(0).max(upto)), ..q.clone() };
        found = search_in(conn, &tail, false)?;
    }
    if found.len() < q.limit && q.after_id.is_none_or(|after| after < upto) {
        let head = SearchQuery {
            before_id: Some(q.before_id.unwrap_or(i64::MAX).min(upto + 1)),
            limit: q.limit - found.len(),
            ..q.clone()
        };
        found.extend(search_in(conn, &head, true)?);
    }
    Ok(found)
}

/// Adds up to `max` messages after the mark to the index and moves the mark past them; returns
/// how many it looked at (fewer than `max`: caught up).
pub(super) fn index(conn: &mut Connection, max: usize) -> Result<usize> {
    let tx = conn.transaction_with_behavior(TransactionBehavior::Immediate)?;
    let upto: i64 =
        tx.prepare_cached("SELECT indexed_upto FROM search_state")?.query_row([], |r| r.get(0))?;
    let (count, end): (i64, Option<i64>) = tx
        .prepare_cached(
            "SELECT COUNT(*), MAX(id) FROM (SELECT id FROM messages WHERE id > ?1 ORDER BY id LIMIT ?2)",
        )?
        .query_row(params![upto, max as i64], |r| Ok((r.get(0)?, r.get(1)?)))?;
    let Some(end) = end else { return Ok(0) };
    // A tombstone's text is empty: nothing to index. Edits made meanwhile are in `content`.
    tx.prepare_cached(
        "INSERT INTO messages_fts (rowid, content) SELECT id, content FROM messages \
         WHERE id > ?1 AND id <= ?2 AND deleted_at IS NULL",
    )?
    .execute(params![upto, end])?;
    tx.prepare_cached("UPDATE search_state SET indexed_upto = ?1")?.execute([end])?;
    tx.commit()?;
    Ok(count as usize)
}

/// One search: through the index (`use_index`, for terms of a trigram or more), or by reading
/// the messages newest first.
fn search_in(conn: &Connection, q: &SearchQuery, use_index: bool) -> Result<Vec<Message>> {
    let (indexed, short): (Vec<&str>, Vec<&str>) =
        q.terms.iter().map(String::as_str).partition(|t| use_index && t.chars().count() >= TRIGRAM);
    let mut sql = SearchSql::new('?');
    let (from, id) = if indexed.is_empty() {
        // Newest first from the end of the table: a short term usually matches soon. The `+`
        // keeps SQLite from reading the conversations' messages by room and sorting them all.
        ("messages m", "m.id")
    } else {
        // Each term a quoted phrase (a substring for the trigram tokenizer), all of them required.
        let phrase = indexed.iter().map(|t| format!("\"{}\"", t.replace('"', "\"\""))).collect::<Vec<_>>();
        let p = sql.bind(SearchParam::Text(phrase.join(" AND ")));
        sql.conditions.push(format!("f.messages_fts MATCH {p}"));
        // The index is walked newest first and stops at the limit (CROSS JOIN keeps it outermost).
        ("messages_fts f CROSS JOIN messages m ON m.id = f.rowid", "f.rowid")
    };
    sql.filters(q, id, "+m.room_id", &short, "LIKE");
    let limit = sql.bind(SearchParam::Int(q.limit as i64));
    let select = MESSAGE_SELECT.replacen("FROM messages m", &format!("FROM {from}"), 1);
    let text = format!("{select} WHERE {} ORDER BY {id} DESC LIMIT {limit}", sql.where_clause());
    let values = sql.params.into_iter().map(|p| match p {
        SearchParam::Int(i) => Value::Integer(i),
        SearchParam::Text(t) => Value::Text(t),
    });
    let rows = conn
        .prepare_cached(&text)?
        .query_map(params_from_iter(values), message_row)?
        .collect::<rusqlite::Result<Vec<_>>>()?;
    Ok(rows)
}
