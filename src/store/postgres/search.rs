//! Message search on PostgreSQL: every term is a `content ILIKE '%term%'`, which the trigram GIN
//! index of V7 (pg_trgm) answers for terms of three characters or more; the planner may instead
//! walk the messages newest first and stop at the `LIMIT` when a term is common.

use postgres::{types::ToSql, GenericClient};

use super::rooms::{message_row, MESSAGE_SELECT};
use crate::store::{
    shared::{SearchParam, SearchSql},
    Message, Result, SearchQuery,
};

pub(super) fn search(c: &mut impl GenericClient, q: &SearchQuery) -> Result<Vec<Message>> {
    let terms: Vec<&str> = q.terms.iter().map(String::as_str).collect();
    let mut sql = SearchSql::new('$');
    sql.filters(q, "m.id", "m.room_id", &terms, "ILIKE");
    let limit = sql.bind(SearchParam::Int(q.limit as i64));
    let text = format!("{MESSAGE_SELECT} WHERE {} ORDER BY m.id DESC LIMIT {limit}", sql.where_clause());
    let values: Vec<Box<dyn ToSql + Sync>> = sql
        .params
        .into_iter()
        .map(|p| -> Box<dyn ToSql + Sync> {
            match p {
                SearchParam::Int(i) => Box::new(i),
                SearchParam::Text(t) => Box::new(t),
            }
        })
        .collect();
    let refs: Vec<&(dyn ToSql + Sync)> = values.iter().map(|b| &**b).collect();
    Ok(c.query(&text, &refs)?.iter().map(message_row).collect())
}
