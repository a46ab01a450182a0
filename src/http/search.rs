//! `GET /search`: full-text search over the conversations the caller can read (the domain,
//! `chat::search`, decides which, and works out the highlight).

use hyper::{body::Incoming, Request};
use serde::Serialize;
use utoipa::ToSchema;

use crate::chat::search::{Found, SearchRequest, LIMIT_DEFAULT};

use super::{
    authenticate,
    body::{ok_json, Response},
    error::ApiError,
    openapi::{BadRequest, Forbidden, NotFound, Unauthorized, Unavailable},
    query_i64, query_param, AppState,
};

/// A message that matched.
#[derive(Serialize, ToSchema)]
pub struct SearchResult {
    id: i64,
    room: i64,
    /// The sender's username.
    user: String,
    text: String,
    #[schema(format = DateTime, example = "2026-11-23T22:15:00.070Z")]
    timestamp: String,
    /// The text HTML-escaped, each match wrapped in `<mark>…</mark>`; a long text is cut to a
    /// window around its first match, with `…` at each cut end.
    #[schema(example = "the <mark>deploy</mark>ment is done")]
    highlight: String,
}

/// One page of results.
#[derive(Serialize, ToSchema)]
pub struct SearchPage {
    /// Newest first.
    results: Vec<SearchResult>,
    /// Pass as `before` for the next page; null when there is none.
    next: Option<i64>,
}

impl From<Found> for SearchPage {
    fn from(f: Found) -> Self {
        let results = f
            .results
            .into_iter()
            .map(|h| SearchResult {
                id: h.message.id,
                room: h.message.room_id,
                user: h.message.username,
                text: h.message.content,
                timestamp: h.message.timestamp,
                highlight: h.highlight,
            })
            .collect();
        SearchPage { results, next: f.next }
    }
}

/// Searches messages: every word of `q` must occur in the text, as a whole word or part of one,
/// ignoring letter case. Looks in the caller's conversations (public and private rooms, DMs),
/// and for an admin in every public room too; `room` narrows it to one conversation the caller
/// can read.
// The pattern of `before` and `after`: a message id, a date, or an RFC 3339 time (the domain also
// checks that the date exists).
#[utoipa::path(get, path = "/search", operation_id = "search_messages", tag = "chat", security(("bearer" = [])),
    params(
        ("q" = String, Query, min_length = 1, max_length = 200, pattern = r"\S",
            description = "Words separated by spaces, each required; `deploy` also finds `deployment`"),
        ("room" = Option<i64>, Query, description = "Only this conversation"),
        ("from" = Option<String>, Query, description = "Only messages of this username"),
        ("before" = Option<String>, Query, pattern = r"^([0-9]{1,18}|[0-9]{4}-[0-9]{2}-[0-9]{2}([Tt][0-9]{2}:[0-9]{2}:[0-9]{2}(\.[0-9]+)?([Zz]|[+-][0-9]{2}:[0-9]{2}))?)$",
            description = "Only older messages: a message id (as `next` gives it), a date (`2026-11-26`, \
                           midnight UTC) or an RFC 3339 time; exclusive"),
        ("after" = Option<String>, Query, pattern = r"^([0-9]{1,18}|[0-9]{4}-[0-9]{2}-[0-9]{2}([Tt][0-9]{2}:[0-9]{2}:[0-9]{2}(\.[0-9]+)?([Zz]|[+-][0-9]{2}:[0-9]{2}))?)$",
            description = "Only newer messages: a message id, a date or an RFC 3339 time; exclusive"),
        ("limit" = Option<i64>, Query, minimum = 1, maximum = 100, description = "Results per page (default 20)"),
    ),
    responses(
        (status = 200, description = "Matching messages, newest first", body = SearchPage),
        (status = 400, response = BadRequest),
        (status = 401, response = Unauthorized),
        (status = 403, response = Forbidden),
        (status = 404, response = NotFound),
        (status = 503, response = Unavailable),
    )
)]
pub async fn search(state: &AppState, req: Request<Incoming>) -> Result<Response, ApiError> {
    let user = authenticate(state, &req).await?;
    let limit = match query_i64(&req, "limit")? {
        None => LIMIT_DEFAULT,
        // Out of range (negative included) is refused by the domain.
        Some(n) => usize::try_from(n).unwrap_or(0),
    };
    let ask = SearchRequest {
        q: query_param(&req, "q").unwrap_or_default(),
        room: query_i64(&req, "room")?,
        from: query_param(&req, "from"),
        before: query_param(&req, "before"),
        after: query_param(&req, "after"),
        limit,
    };
    Ok(ok_json(&SearchPage::from(state.chat.search(&user, ask).await?)))
}
