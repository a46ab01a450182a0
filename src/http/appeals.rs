//! Appeal routes: a blocked account files one appeal per block with the token its refused
//! sign-in gave it (`POST /appeals`); admins list and answer them (`/admin/appeals`).

use std::sync::Arc;

use hyper::{body::Incoming, Request, StatusCode};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use crate::store::Appeal;

use super::{
    bearer_required,
    body::{json_response, ok_json, Response},
    error::ApiError,
    openapi::{
        BadRequest, Conflict, Forbidden, NotFound, PayloadTooLarge, RequestTimeout, Unauthorized,
        Unavailable, Unprocessable,
    },
    query_i64, query_limit, query_param,
    reports::UserRef,
    rooms::json_body,
    AppState,
};

#[derive(Deserialize, ToSchema)]
pub struct AppealBody {
    /// Why the block should be lifted: 1 to 2,000 characters.
    #[schema(min_length = 1, max_length = 2000)]
    text: String,
}

#[derive(Deserialize, ToSchema)]
#[serde(rename_all = "lowercase")]
pub enum AppealDecision {
    Unblock,
    Keep,
}

#[derive(Deserialize, ToSchema)]
pub struct AnswerBody {
    decision: AppealDecision,
    /// What the user reads at their next sign-in, at most 1,000 characters.
    #[serde(default)]
    note: String,
}

/// Which appeals the list shows.
#[derive(Serialize, ToSchema)]
#[serde(rename_all = "lowercase")]
#[allow(dead_code)] // Describes `?status=`, read by `list`.
pub enum AppealQueue {
    Open,
    All,
}

/// An appeal.
#[derive(Serialize, ToSchema)]
pub struct AppealOut {
    id: i64,
    user: UserRef,
    /// The audit entry of the block appealed.
    block_id: i64,
    text: String,
    #[schema(format = DateTime)]
    created_at: String,
    /// `open`, `unblocked` or `kept`.
    status: String,
    answer: Option<String>,
    answered_by: Option<String>,
    #[schema(format = DateTime)]
    answered_at: Option<String>,
}

impl From<Appeal> for AppealOut {
    fn from(a: Appeal) -> Self {
        AppealOut {
            id: a.id,
            user: UserRef::new(a.user_id, a.username),
            block_id: a.block_id,
            text: a.text,
            created_at: a.created_at,
            status: a.status,
            answer: a.answer,
            answered_by: a.answered_by,
            answered_at: a.answered_at,
        }
    }
}

/// Files the appeal of a block. The bearer token is the `appeal.token` of the blocked account's
/// refused sign-in (a session token is not accepted); one appeal per block.
#[utoipa::path(post, path = "/appeals", operation_id = "file_appeal", tag = "moderation",
    security(("bearer" = [])),
    request_body = AppealBody,
    responses(
        (status = 201, description = "Filed; an admin answers it", body = AppealOut),
        (status = 400, response = BadRequest),
        (status = 401, response = Unauthorized),
        (status = 403, response = Forbidden),
        (status = 408, response = RequestTimeout),
        (status = 409, response = Conflict),
        (status = 413, response = PayloadTooLarge),
        (status = 422, response = Unprocessable),
        (status = 503, response = Unavailable),
    )
)]
pub async fn file(state: &Arc<AppState>, req: Request<Incoming>) -> Result<Response, ApiError> {
    let token = bearer_required(&req)?;
    let body: AppealBody = json_body(state, req).await?;
    let appeal = state.chat.file_appeal(&token, &body.text).await?;
    Ok(json_response(StatusCode::CREATED, &AppealOut::from(appeal)))
}

/// Routes under `/admin/appeals`.
pub async fn route(
    state: &Arc<AppState>,
    req: Request<Incoming>,
    segments: &[&str],
) -> Result<Response, ApiError> {
    let (allow, id) = match segments {
        ["appeals"] => ("GET", None),
        ["appeals", id] => ("POST", Some(id.parse::<i64>().map_err(|_| ApiError::not_found())?)),
        _ => return Err(ApiError::not_found()),
    };
    if req.method().as_str() != allow {
        return Err(ApiError::method_not_allowed(allow));
    }
    let admin = super::authenticate_admin(state, &req).await?;
    match id {
        None => list(state, &req).await,
        Some(id) => {
            let body: AnswerBody = json_body(state, req).await?;
            let unblock = matches!(body.decision, AppealDecision::Unblock);
            let appeal = state.chat.answer_appeal(&admin, id, unblock, body.note).await?;
            Ok(ok_json(&AppealOut::from(appeal)))
        }
    }
}

/// Appeals, newest first.
#[utoipa::path(get, path = "/admin/appeals", operation_id = "admin_appeals", tag = "moderation", security(("bearer" = [])),
    params(
        ("status" = Option<AppealQueue>, Query, description = "`open` (default) or `all`"),
        ("before" = Option<i64>, Query, description = "Only appeals with a smaller id"),
        ("limit" = Option<i64>, Query, minimum = 1, description = "At most this many (default 50; larger values count as 100)"),
    ),
    responses(
        (status = 200, description = "Appeals, newest first", body = Vec<AppealOut>),
        (status = 400, response = BadRequest),
        (status = 401, response = Unauthorized),
        (status = 403, response = Forbidden),
        (status = 503, response = Unavailable),
    )
)]
async fn list(state: &AppState, req: &Request<Incoming>) -> Result<Response, ApiError> {
    let open_only = match query_param(req, "status").as_deref() {
        None | Some("") | Some("open") => true,
        Some("all") => false,
        Some(_) => return Err(ApiError::bad_request("status is one of open, all")),
    };
    let (before, limit) = (query_i64(req, "before")?, query_limit(req, 50, 100)?);
    let appeals = state.chat.appeals(open_only, before, limit).await?;
    Ok(ok_json(&appeals.into_iter().map(AppealOut::from).collect::<Vec<_>>()))
}

/// Answers an open appeal: `unblock` lifts the block, `keep` keeps it; the note is shown to the
/// user at their next sign-in. Both are audited.
#[utoipa::path(post, path = "/admin/appeals/{id}", operation_id = "admin_answer_appeal", tag = "moderation",
    security(("bearer" = [])),
    params(("id" = i64, Path, description = "The appeal's id")),
    request_body = AnswerBody,
    responses(
        (status = 200, description = "The appeal as it is now", body = AppealOut),
        (status = 400, response = BadRequest),
        (status = 401, response = Unauthorized),
        (status = 403, response = Forbidden),
        (status = 404, response = NotFound),
        (status = 408, response = RequestTimeout),
        (status = 409, response = Conflict),
        (status = 413, response = PayloadTooLarge),
        (status = 422, response = Unprocessable),
        (status = 503, response = Unavailable),
    )
)]
#[allow(dead_code)] // Describes `route`'s POST.
fn answer() {}
