//! Admin routes of the live moderation term lists: `GET /admin/terms`, `POST /admin/terms`,
//! `DELETE /admin/terms/{term}` (the term URL-encoded). A change answers once this instance's
//! word list has it; the other instances' tailers apply it within a second.

use std::sync::Arc;

use hyper::{body::Incoming, Method, Request};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use crate::store::{Term, TermAdded, TermList};

use super::{
    body::{ok_json, read_json, Response},
    error::ApiError,
    openapi::{
        BadRequest, Forbidden, NotFound, PayloadTooLarge, RequestTimeout, Unauthorized, Unavailable,
        Unprocessable,
    },
    AppState,
};

/// Which list a term is on.
#[derive(Serialize, Deserialize, ToSchema, Clone, Copy, Default)]
#[serde(rename_all = "lowercase")]
pub enum ListName {
    /// Refused as a violation, with its look-alikes and inflections.
    #[default]
    Block,
    /// A word the community accepts although a blocked term matches it.
    Allow,
}

impl From<ListName> for TermList {
    fn from(l: ListName) -> Self {
        match l {
            ListName::Block => TermList::Block,
            ListName::Allow => TermList::Allow,
        }
    }
}

impl From<TermList> for ListName {
    fn from(l: TermList) -> Self {
        match l {
            TermList::Block => ListName::Block,
            TermList::Allow => ListName::Allow,
        }
    }
}

/// One term of the live lists.
#[derive(Serialize, ToSchema)]
pub struct TermEntry {
    /// As stored: trimmed and lowercase.
    term: String,
    list: ListName,
    /// `moderation` (seeded from `--blocklist`), `cli`, or the admin's username.
    added_by: String,
    #[schema(format = DateTime, example = "2026-11-23T22:15:00.070Z")]
    added_at: String,
}

impl From<Term> for TermEntry {
    fn from(t: Term) -> Self {
        TermEntry { term: t.term, list: t.list.into(), added_by: t.added_by, added_at: t.added_at }
    }
}

/// A term to put on a list.
#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct AddTermBody {
    /// One word of 1-40 letters a-z (either case), matched with its look-alikes and
    /// inflections. Terms of several words or in other scripts are added with the operator CLI
    /// (`chatterbox moderation terms add`).
    #[schema(example = "scunthorpe", pattern = r"^[A-Za-z]{1,40}$")]
    term: String,
    /// `block` when absent.
    #[serde(default)]
    list: ListName,
}

/// What adding or removing did.
#[derive(Serialize, ToSchema)]
pub struct TermChanged {
    term: String,
    /// The list it is on now (added), or was on (removed).
    list: ListName,
    /// `added`, `moved` (from the other list), `unchanged` (it was there already) or `removed`.
    result: TermResult,
}

#[derive(Serialize, ToSchema)]
#[serde(rename_all = "lowercase")]
pub enum TermResult {
    Added,
    Moved,
    Unchanged,
    Removed,
}

pub async fn route(
    state: &Arc<AppState>,
    req: Request<Incoming>,
    segments: &[&str],
) -> Result<Response, ApiError> {
    let allow = match segments {
        ["terms"] => "GET, POST",
        ["terms", term] if !term.is_empty() => "DELETE",
        _ => return Err(ApiError::not_found()),
    };
    if !allow.split(", ").any(|m| m == req.method().as_str()) {
        return Err(ApiError::method_not_allowed(allow));
    }
    let admin = super::authenticate_admin(state, &req).await?;
    match (req.method(), segments) {
        (&Method::GET, _) => list(state).await,
        (&Method::POST, _) => add(state, &admin, req).await,
        (_, [_, term]) => remove(state, &admin, super::percent_decode(term)).await,
        _ => Err(ApiError::not_found()),
    }
}

/// The live term lists, sorted by term.
#[utoipa::path(get, path = "/admin/terms", operation_id = "admin_terms", tag = "admin", security(("bearer" = [])),
    responses(
        (status = 200, description = "Every term of both lists", body = Vec<TermEntry>),
        (status = 401, response = Unauthorized),
        (status = 403, response = Forbidden),
        (status = 503, response = Unavailable),
    )
)]
pub async fn list(state: &AppState) -> Result<Response, ApiError> {
    let terms = state.chat.terms().await?;
    Ok(ok_json(&terms.into_iter().map(TermEntry::from).collect::<Vec<_>>()))
}

/// Puts a term on a list (moving it from the other list if it is there); every instance
/// applies it within a second.
#[utoipa::path(post, path = "/admin/terms", operation_id = "admin_add_term", tag = "admin", security(("bearer" = [])),
    request_body = AddTermBody,
    responses(
        (status = 200, description = "The term is on the list now", body = TermChanged),
        (status = 400, response = BadRequest),
        (status = 401, response = Unauthorized),
        (status = 403, response = Forbidden),
        (status = 408, response = RequestTimeout),
        (status = 413, response = PayloadTooLarge),
        (status = 422, response = Unprocessable),
        (status = 503, response = Unavailable),
    )
)]
pub async fn add(
    state: &AppState,
    admin: &crate::store::User,
    req: Request<Incoming>,
) -> Result<Response, ApiError> {
    let body: AddTermBody =
        read_json(req.into_body(), state.http.max_body_bytes, state.http.body_timeout).await?;
    // Exactly what the document promises, so that every term it describes is taken.
    if !(1..=40).contains(&body.term.len()) || !body.term.bytes().all(|b| b.is_ascii_alphabetic()) {
        return Err(ApiError::from(crate::chat::ChatError::Invalid {
            field: "term",
            detail: "A term here is one word of 1-40 letters a-z; add others with `chatterbox moderation terms add`"
                .into(),
        }));
    }
    let (term, added) = state.chat.add_term(admin, body.term, body.list.into()).await?;
    let result = match added {
        TermAdded::Added => TermResult::Added,
        TermAdded::Moved => TermResult::Moved,
        TermAdded::Unchanged => TermResult::Unchanged,
    };
    Ok(ok_json(&TermChanged { term, list: body.list, result }))
}

/// Removes a term from whichever list holds it.
#[utoipa::path(delete, path = "/admin/terms/{term}", operation_id = "admin_remove_term", tag = "admin", security(("bearer" = [])),
    params(("term" = String, Path, description = "The term, URL-encoded")),
    responses(
        (status = 200, description = "The term is on neither list now", body = TermChanged),
        (status = 401, response = Unauthorized),
        (status = 403, response = Forbidden),
        (status = 404, response = NotFound),
        (status = 503, response = Unavailable),
    )
)]
pub async fn remove(
    state: &AppState,
    admin: &crate::store::User,
    term: String,
) -> Result<Response, ApiError> {
    let shown = term.trim().to_lowercase();
    let list = state.chat.remove_term(admin, term).await?;
    Ok(ok_json(&TermChanged { term: shown, list: list.into(), result: TermResult::Removed }))
}
