//! Message search on SQLite: the FTS5 trigram index `messages_fts` (V7) finds the terms of three
//! characters or more; shorter ones, which a trigram index cannot look up, are matched with
//! `LIKE` on the rows the index (or, with only short terms, the walk of the conversations'
//! messages from the newest) yields, so the `LIMIT` bounds the work either way.

use rusqlite::{params_from_iter, types::Value, Connection};

use super::rooms::{message_row, MESSAGE_SELECT};
use crate::store::{
    shared::{SearchParam, SearchSql},
    Message, Result, SearchQuery,
};

/// The trigram tokenizer finds no term shorter than this (in characters).
const TRIGRAM: usize = 3;

pub(super) fn search(conn: &Connection, q: &SearchQuery) -> Result<Vec<Message>> {
    let (indexed, short): (Vec<&str>, Vec<&str>) =
        q.terms.iter().map(String::as_str).partition(|t| t.chars().count() >= TRIGRAM);
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
