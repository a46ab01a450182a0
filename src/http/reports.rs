//! Report routes: a member reports a message (`POST /messages/{id}/report`) and follows their
//! reports (`GET /reports`); handlers read their queue and decide (`/admin/reports` for admins,
//! every conversation; `/moderation/reports` for room moderators, their rooms, and admins).

use std::sync::Arc;

use hyper::{body::Incoming, Request, StatusCode};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use crate::{
    chat::reports::{Decision, Queue, Queued},
    store::{Message, Report, ReportSource, ReportStatus, User},
};

use super::{
    authenticate,
    body::{json_response, ok_json, Response},
    error::ApiError,
    openapi::{
        BadRequest, Conflict, Forbidden, NotFound, PayloadTooLarge, RequestTimeout, TooManyRequests,
        Unauthorized, Unavailable, Unprocessable,
    },
    query_i64, query_limit, query_param,
    rooms::json_body,
    AppState,
};

/// Why a member reports a message.
#[derive(Deserialize, ToSchema, Clone, Copy)]
#[serde(rename_all = "lowercase")]
pub enum Reason {
    Spam,
    Harassment,
    Hate,
    Sexual,
    Violence,
    Other,
}

impl Reason {
    fn as_str(self) -> &'static str {
        match self {
            Reason::Spam => "spam",
            Reason::Harassment => "harassment",
            Reason::Hate => "hate",
            Reason::Sexual => "sexual",
            Reason::Violence => "violence",
            Reason::Other => "other",
        }
    }
}

/// Which reports a queue lists.
#[derive(Serialize, ToSchema)]
#[serde(rename_all = "lowercase")]
#[allow(dead_code)] // Describes `?status=`, read by `queue_page`.
pub enum QueueStatus {
    Open,
    Handled,
    All,
}

#[derive(Deserialize, ToSchema)]
pub struct ReportBody {
    reason: Reason,
    /// What the handlers should know, at most 500 characters.
    #[schema(max_length = 500)]
    text: Option<String>,
}

/// Where a report stands: `open`, or how it was handled.
#[derive(Serialize, ToSchema)]
#[serde(rename_all = "lowercase")]
pub enum Status {
    Open,
    Dismissed,
    Deleted,
    Warned,
    Muted,
    Blocked,
}

impl From<ReportStatus> for Status {
    fn from(s: ReportStatus) -> Self {
        match s {
            ReportStatus::Open => Status::Open,
            ReportStatus::Dismissed => Status::Dismissed,
            ReportStatus::Deleted => Status::Deleted,
            ReportStatus::Warned => Status::Warned,
            ReportStatus::Muted => Status::Muted,
            ReportStatus::Blocked => Status::Blocked,
        }
    }
}

/// Who raised a report.
#[derive(Serialize, ToSchema)]
#[serde(rename_all = "lowercase")]
pub enum Source {
    Member,
    Classifier,
    Webhook,
}

impl From<ReportSource> for Source {
    fn from(s: ReportSource) -> Self {
        match s {
            ReportSource::Member => Source::Member,
            ReportSource::Classifier => Source::Classifier,
            ReportSource::Webhook => Source::Webhook,
        }
    }
}

/// A report filed.
#[derive(Serialize, ToSchema)]
pub struct Filed {
    id: i64,
    status: Status,
}

#[derive(Serialize, ToSchema)]
pub struct UserRef {
    id: i64,
    username: String,
}

impl UserRef {
    pub(super) fn new(id: i64, username: String) -> Self {
        UserRef { id, username }
    }
}

#[derive(Serialize, ToSchema)]
pub struct RoomRef {
    id: i64,
    /// None for a DM.
    name: Option<String>,
    /// `public`, `private` or `dm`.
    #[schema(example = "public")]
    kind: &'static str,
}

/// The reported message.
#[derive(Serialize, ToSchema)]
pub struct ReportedMessage {
    id: i64,
    room: RoomRef,
    sender: UserRef,
    /// Empty once deleted.
    text: String,
    #[schema(format = DateTime)]
    timestamp: String,
    deleted: bool,
}

/// A message next to the reported one, in the same conversation.
#[derive(Serialize, ToSchema)]
pub struct ContextMessage {
    id: i64,
    user: String,
    text: String,
    #[schema(format = DateTime)]
    timestamp: String,
}

/// A report in a handler's queue.
#[derive(Serialize, ToSchema)]
pub struct QueuedReport {
    id: i64,
    #[schema(format = DateTime)]
    created_at: String,
    status: Status,
    reason: String,
    text: Option<String>,
    source: Source,
    /// The classifier's or webhook's score, for an automatic report.
    score: Option<f64>,
    /// None for an automatic report.
    reporter: Option<UserRef>,
    message: ReportedMessage,
    /// Up to 2 messages before and 2 after the reported one, oldest first.
    context: Vec<ContextMessage>,
    handled_by: Option<String>,
    #[schema(format = DateTime)]
    handled_at: Option<String>,
    note: Option<String>,
}

/// One of the caller's own reports.
#[derive(Serialize, ToSchema)]
pub struct MyReport {
    id: i64,
    message_id: i64,
    reason: String,
    status: Status,
    #[schema(format = DateTime)]
    created_at: String,
    #[schema(format = DateTime)]
    handled_at: Option<String>,
}

#[derive(Deserialize, ToSchema)]
#[serde(rename_all = "lowercase")]
pub enum Action {
    Dismiss,
    Delete,
    Warn,
    Mute,
    /// Admins only.
    Block,
}

#[derive(Deserialize, ToSchema)]
pub struct DecisionBody {
    action: Action,
    /// For `mute`: how long, like `10m`, `1h`, `7d` (at most 99 days; 1 h when absent).
    #[schema(example = "1h", pattern = r"^[1-9][0-9]?[mhd]$")]
    duration: Option<String>,
    /// For the audit log and the other handlers, at most 500 characters.
    note: Option<String>,
}

fn context(m: Message) -> ContextMessage {
    ContextMessage { id: m.id, user: m.username, text: m.content, timestamp: m.timestamp }
}

impl From<Queued> for QueuedReport {
    fn from(q: Queued) -> Self {
        let r: Report = q.report;
        QueuedReport {
            id: r.id,
            created_at: r.created_at,
            status: r.status.into(),
            reason: r.reason,
            text: r.text,
            source: r.source.into(),
            score: r.score,
            reporter: r.reporter.map(|(id, username)| UserRef { id, username }),
            message: ReportedMessage {
                id: r.message_id,
                room: RoomRef { id: r.room_id, name: r.room_name, kind: r.room_kind.as_str() },
                sender: UserRef { id: r.sender_id, username: r.sender },
                text: r.message_text,
                timestamp: r.message_timestamp,
                deleted: r.deleted,
            },
            context: q.context.into_iter().map(context).collect(),
            handled_by: r.handled_by,
            handled_at: r.handled_at,
            note: r.note,
        }
    }
}

/// Reports a message the caller can read (not their own), once.
#[utoipa::path(post, path = "/messages/{id}/report", operation_id = "report_message", tag = "moderation",
    security(("bearer" = [])),
    params(("id" = i64, Path, description = "The message's id")),
    request_body = ReportBody,
    responses(
        (status = 201, description = "Filed; it waits in the handlers' queue", body = Filed),
        (status = 400, response = BadRequest),
        (status = 401, response = Unauthorized),
        (status = 403, response = Forbidden),
        (status = 404, response = NotFound),
        (status = 408, response = RequestTimeout),
        (status = 409, response = Conflict),
        (status = 413, response = PayloadTooLarge),
        (status = 422, response = Unprocessable),
        (status = 429, response = TooManyRequests),
        (status = 503, response = Unavailable),
    )
)]
pub async fn report(state: &Arc<AppState>, req: Request<Incoming>, id: i64) -> Result<Response, ApiError> {
    let user = authenticate(state, &req).await?;
    let body: ReportBody = json_body(state, req).await?;
    let (id, status) = state.chat.report_message(&user, id, body.reason.as_str(), body.text).await?;
    Ok(json_response(StatusCode::CREATED, &Filed { id, status: status.into() }))
}

/// The caller's reports, newest first, with how each was handled.
#[utoipa::path(get, path = "/reports", operation_id = "my_reports", tag = "moderation", security(("bearer" = [])),
    params(
        ("before" = Option<i64>, Query, description = "Only reports with a smaller id"),
        ("limit" = Option<i64>, Query, minimum = 1, description = "At most this many (default 50; larger values count as 200)"),
    ),
    responses(
        (status = 200, description = "Reports, newest first", body = Vec<MyReport>),
        (status = 400, response = BadRequest),
        (status = 401, response = Unauthorized),
        (status = 403, response = Forbidden),
        (status = 503, response = Unavailable),
    )
)]
pub async fn mine(state: &Arc<AppState>, req: Request<Incoming>) -> Result<Response, ApiError> {
    let user = authenticate(state, &req).await?;
    let (before, limit) = (query_i64(&req, "before")?, query_limit(&req, 50, 200)?);
    let out: Vec<MyReport> = state
        .chat
        .my_reports(&user, before, limit)
        .await?
        .into_iter()
        .map(|r| MyReport {
            id: r.id,
            message_id: r.message_id,
            reason: r.reason,
            status: r.status.into(),
            created_at: r.created_at,
            handled_at: r.handled_at,
        })
        .collect();
    Ok(ok_json(&out))
}

/// Routes under `/admin/reports` and `/moderation/reports` (`segments` from `reports`).
pub async fn route(
    state: &Arc<AppState>,
    req: Request<Incoming>,
    queue: Queue,
    segments: &[&str],
) -> Result<Response, ApiError> {
    let (allow, id) = match segments {
        ["reports"] => ("GET", None),
        ["reports", id] => ("POST", Some(id.parse::<i64>().map_err(|_| ApiError::not_found())?)),
        _ => return Err(ApiError::not_found()),
    };
    if req.method().as_str() != allow {
        return Err(ApiError::method_not_allowed(allow));
    }
    let handler = match queue {
        Queue::Admin => super::authenticate_admin(state, &req).await?,
        Queue::Moderator => authenticate(state, &req).await?,
    };
    match id {
        None => queue_page(state, &req, &handler, queue).await,
        Some(id) => decide(state, req, &handler, queue, id).await,
    }
}

async fn queue_page(
    state: &AppState,
    req: &Request<Incoming>,
    handler: &User,
    queue: Queue,
) -> Result<Response, ApiError> {
    let open = match query_param(req, "status").as_deref() {
        None | Some("") | Some("open") => Some(true),
        Some("handled") => Some(false),
        Some("all") => None,
        Some(_) => return Err(ApiError::bad_request("status is one of open, handled, all")),
    };
    let (before, limit) = (query_i64(req, "before")?, query_limit(req, 50, 100)?);
    let reports = state.chat.report_queue(handler, queue, open, before, limit).await?;
    Ok(ok_json(&reports.into_iter().map(QueuedReport::from).collect::<Vec<_>>()))
}

async fn decide(
    state: &AppState,
    req: Request<Incoming>,
    handler: &User,
    queue: Queue,
    id: i64,
) -> Result<Response, ApiError> {
    let body: DecisionBody = json_body(state, req).await?;
    let action = match body.action {
        Action::Dismiss => "dismiss",
        Action::Delete => "delete",
        Action::Warn => "warn",
        Action::Mute => "mute",
        Action::Block => "block",
    };
    let decision = Decision::parse(action, body.duration.as_deref())?;
    let report = state.chat.decide_report(handler, queue, id, decision, body.note).await?;
    Ok(ok_json(&QueuedReport::from(Queued { report, context: Vec::new() })))
}

/// The report queue of every conversation, newest first.
#[utoipa::path(get, path = "/admin/reports", operation_id = "admin_reports", tag = "moderation", security(("bearer" = [])),
    params(
        ("status" = Option<QueueStatus>, Query, description = "`open` (default), `handled` or `all`"),
        ("before" = Option<i64>, Query, description = "Only reports with a smaller id"),
        ("limit" = Option<i64>, Query, minimum = 1, description = "At most this many (default 50; larger values count as 100)"),
    ),
    responses(
        (status = 200, description = "Reports, newest first, each with its message and context", body = Vec<QueuedReport>),
        (status = 400, response = BadRequest),
        (status = 401, response = Unauthorized),
        (status = 403, response = Forbidden),
        (status = 503, response = Unavailable),
    )
)]
#[allow(dead_code)] // Describes `route`'s GET.
fn admin_queue() {}

/// The report queue of the rooms the caller moderates (their creator, or a moderator); an
/// admin's is every conversation's.
#[utoipa::path(get, path = "/moderation/reports", operation_id = "moderation_reports", tag = "moderation", security(("bearer" = [])),
    params(
        ("status" = Option<QueueStatus>, Query, description = "`open` (default), `handled` or `all`"),
        ("before" = Option<i64>, Query, description = "Only reports with a smaller id"),
        ("limit" = Option<i64>, Query, minimum = 1, description = "At most this many (default 50; larger values count as 100)"),
    ),
    responses(
        (status = 200, description = "Reports, newest first, each with its message and context", body = Vec<QueuedReport>),
        (status = 400, response = BadRequest),
        (status = 401, response = Unauthorized),
        (status = 403, response = Forbidden),
        (status = 503, response = Unavailable),
    )
)]
#[allow(dead_code)]
fn moderation_queue() {}

/// Decides on an open report: `dismiss`, `delete` the message, `warn` its sender (a strike),
/// `mute` them for `duration`, or `block` them. Other open reports of the message close with it;
/// the decision is audited and each reporter gets a `report` frame.
#[utoipa::path(post, path = "/admin/reports/{id}", operation_id = "admin_decide_report", tag = "moderation",
    security(("bearer" = [])),
    params(("id" = i64, Path, description = "The report's id")),
    request_body = DecisionBody,
    responses(
        (status = 200, description = "The report as it is now", body = QueuedReport),
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
#[allow(dead_code)]
fn admin_decide() {}

/// A room moderator's decision on a report of their room (like the admins' route; `block` is
/// for admins only: 403).
#[utoipa::path(post, path = "/moderation/reports/{id}", operation_id = "moderation_decide_report", tag = "moderation",
    security(("bearer" = [])),
    params(("id" = i64, Path, description = "The report's id")),
    request_body = DecisionBody,
    responses(
        (status = 200, description = "The report as it is now", body = QueuedReport),
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
#[allow(dead_code)]
fn moderation_decide() {}
