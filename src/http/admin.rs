//! Admin API: users, messages, the audit log, block / unblock, roles, and CSV downloads.
//!
//! The admin role is checked against the database on every request, so a revoked admin loses
//! these routes at once even with an unexpired token.
//!
//! `route` resolves, checks the method and authenticates; one function per operation then
//! answers, carrying its `#[utoipa::path]`, and every JSON answer goes through a struct that also
//! derives its OpenAPI schema, so `GET /openapi.json` cannot drift from what is sent.

use std::{collections::HashMap, sync::Arc};

use http_body_util::BodyExt;
use hyper::{body::Incoming, header, Method, Request, StatusCode};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use crate::{
    chat::{export, rooms::Actor, Chat},
    store::{Action, AuditFilter, Message, MessageFilter, User, UserFilter, Violation},
};

use super::{
    body::{channel_body, ok_json, read_optional_json, Response},
    error::ApiError,
    openapi::{
        BadRequest, Conflict, Forbidden, NotFound, PayloadTooLarge, RequestTimeout, Unauthorized,
        Unavailable, Unprocessable,
    },
    query_i64, query_limit, AppState,
};

/// Live counts for the dashboard.
#[derive(Serialize, ToSchema)]
pub struct Stats {
    /// Accounts.
    users: i64,
    /// Accounts with at least one open WebSocket.
    online: usize,
    /// Messages since midnight UTC.
    messages_today: i64,
    /// Blocked accounts.
    blocked: i64,
}

/// An account as the admin API shows it (never with a password hash).
#[derive(Serialize, ToSchema)]
pub struct AdminUser {
    id: i64,
    username: String,
    email: String,
    is_admin: bool,
    is_blocked: bool,
    warning_count: i64,
    #[schema(format = DateTime, example = "2026-11-23T22:15:00.070Z")]
    created_at: String,
    /// The end of a running account mute, or null.
    #[schema(format = DateTime, example = "2026-11-23T23:15:00.070Z")]
    muted_until: Option<String>,
    /// Why a blocked account is blocked (its latest block in the audit log). Only in
    /// `GET /admin/users`, and only for blocked accounts.
    #[serde(skip_serializing_if = "Option::is_none")]
    block: Option<BlockInfo>,
}

/// The latest block of a blocked account.
#[derive(Serialize, ToSchema)]
pub struct BlockInfo {
    /// The operator's reason, when one was given.
    reason: Option<String>,
    /// `moderation` (automatic, after repeated violations), the acting admin's username, or `cli`.
    by: String,
    /// The moderated term that triggered an automatic block.
    term: Option<String>,
    #[schema(format = DateTime, example = "2026-11-23T22:15:00.070Z")]
    at: String,
}

impl From<User> for AdminUser {
    fn from(u: User) -> Self {
        let muted_until = crate::chat::standing::muted_until(&u).map(str::to_string);
        AdminUser {
            muted_until,
            id: u.id,
            username: u.username,
            email: u.email,
            is_admin: u.is_admin,
            is_blocked: u.is_blocked,
            warning_count: u.warning_count,
            created_at: u.created_at,
            block: None,
        }
    }
}

impl From<Violation> for BlockInfo {
    fn from(v: Violation) -> Self {
        BlockInfo { reason: v.reason, by: v.actor, term: v.term, at: v.timestamp }
    }
}

/// A chat message with its sender's account id.
#[derive(Serialize, ToSchema)]
pub struct AdminMessage {
    id: i64,
    room: i64,
    sender_id: i64,
    /// The sender's username.
    user: String,
    text: String,
    #[schema(format = DateTime, example = "2026-11-23T22:15:00.070Z")]
    timestamp: String,
}

impl From<Message> for AdminMessage {
    fn from(m: Message) -> Self {
        AdminMessage {
            id: m.id,
            room: m.room_id,
            sender_id: m.sender_id,
            user: m.username,
            text: m.content,
            timestamp: m.timestamp,
        }
    }
}

/// What an audit-log entry records.
#[derive(Serialize, ToSchema)]
#[serde(rename_all = "lowercase")]
pub enum AuditAction {
    /// A moderation violation that warned the account.
    Warning,
    Mute,
    Unmute,
    Block,
    Unblock,
    /// A message deleted by someone other than its sender.
    Delete,
    /// A report's decision.
    Report,
    /// An appeal filed or answered.
    Appeal,
    /// A change of the live term lists.
    Terms,
    /// A room moderator named or unnamed.
    Moderator,
    /// A room's slow mode set.
    #[serde(rename = "slow_mode")]
    SlowMode,
}

/// One entry of the moderation audit log: every moderation act, who did it and why.
#[derive(Serialize, ToSchema)]
pub struct AuditEntry {
    id: i64,
    /// The account concerned; null for acts that concern none (a term-list change).
    user_id: Option<i64>,
    username: Option<String>,
    action: AuditAction,
    /// The offending message (moderation entries only).
    text: Option<String>,
    /// The moderated term the message matched (moderation entries only).
    term: Option<String>,
    /// Why it was done, when given (an operator's reason, a classifier's score, a report).
    reason: Option<String>,
    /// `moderation`, `classifier`, `webhook`, the acting account's username, or `cli`.
    actor: String,
    /// The acting account's id (null for automatic moderation and the operator CLI).
    actor_id: Option<i64>,
    /// Whether the entry counts as a strike on the user's ladder.
    strike: bool,
    /// The room the act concerns, if any.
    room_id: Option<i64>,
    /// The message the act concerns, if any.
    message_id: Option<i64>,
    /// A mute's end.
    #[schema(format = DateTime, example = "2026-11-23T23:15:00.070Z")]
    until: Option<String>,
    #[schema(format = DateTime, example = "2026-11-23T22:15:00.070Z")]
    timestamp: String,
}

impl From<Violation> for AuditEntry {
    fn from(v: Violation) -> Self {
        let action = match v.action {
            Action::Warning => AuditAction::Warning,
            Action::Mute => AuditAction::Mute,
            Action::Unmute => AuditAction::Unmute,
            Action::Block => AuditAction::Block,
            Action::Unblock => AuditAction::Unblock,
            Action::Delete => AuditAction::Delete,
            Action::Report => AuditAction::Report,
            Action::Appeal => AuditAction::Appeal,
            Action::Terms => AuditAction::Terms,
            Action::Moderator => AuditAction::Moderator,
            Action::SlowMode => AuditAction::SlowMode,
        };
        AuditEntry {
            id: v.id,
            user_id: v.user_id,
            username: v.username,
            action,
            text: v.text,
            term: v.term,
            reason: v.reason,
            actor: v.actor,
            actor_id: v.actor_id,
            strike: v.strike,
            room_id: v.room_id,
            message_id: v.message_id,
            until: v.until,
            timestamp: v.timestamp,
        }
    }
}

pub async fn route(
    state: &Arc<AppState>,
    req: Request<Incoming>,
    segments: &[&str],
) -> Result<Response, ApiError> {
    if segments.first() == Some(&"terms") {
        return super::terms::route(state, req, segments).await;
    }
    let method = req.method().clone();
    // Resolve the route before authenticating, so unknown paths are 404 and wrong methods 405
    // whoever asks.
    let known = matches!(
        segments,
        ["stats"]
            | ["users"]
            | ["messages"]
            | ["violations"]
            | ["deletions"]
            | ["rooms"]
            | ["download", "users" | "messages"]
    ) || matches!(segments, ["users", id, "block" | "unblock" | "admin" | "mute" | "unmute"] if id.parse::<i64>().is_ok())
        || matches!(segments, ["rooms", id, "archive" | "unarchive"] if id.parse::<i64>().is_ok());
    if !known {
        return Err(ApiError::not_found());
    }
    let allow = match segments {
        ["users", _, "block" | "unblock" | "mute" | "unmute"] | ["rooms", _, _] => "POST",
        ["users", _, "admin"] => "POST, DELETE",
        _ => "GET",
    };
    if !allow.split(", ").any(|m| m == method.as_str()) {
        return Err(ApiError::method_not_allowed(allow));
    }
    let admin = super::authenticate_admin(state, &req).await?;
    let chat = &state.chat;
    match segments {
        ["stats"] => stats(chat).await,
        ["users"] => users(chat, &req).await,
        ["messages"] => messages(chat, &req).await,
        ["violations"] => violations(chat, &req).await,
        ["deletions"] => deletions(chat, &req).await,
        ["rooms"] => rooms(chat).await,
        ["rooms", id, action] => {
            let id: i64 = id.parse().map_err(|_| ApiError::not_found())?;
            if *action == "archive" {
                archive(chat, &admin, id).await
            } else {
                unarchive(chat, &admin, id).await
            }
        }
        ["users", id, action] => {
            let id: i64 = id.parse().map_err(|_| ApiError::not_found())?;
            match (*action, &method) {
                ("block", _) => block(state, &admin, id, req).await,
                ("unblock", _) => unblock(chat, &admin, id).await,
                ("mute", _) => mute(state, &admin, id, req).await,
                ("unmute", _) => unmute(state, &admin, id, req).await,
                ("admin", &Method::POST) => grant_admin(chat, &admin, id).await,
                _ => revoke_admin(chat, &admin, id).await,
            }
        }
        ["download", "users"] => Ok(download_users(state)),
        ["download", _] => Ok(download_messages(state)),
        _ => Err(ApiError::not_found()),
    }
}

/// `?blocked=`: absent, empty, `false` and `0` mean every account.
fn blocked_only(req: &Request<Incoming>) -> Result<bool, ApiError> {
    match super::query_param(req, "blocked").as_deref() {
        None | Some("") | Some("false") | Some("0") => Ok(false),
        Some("true") | Some("1") => Ok(true),
        Some(_) => Err(ApiError::bad_request("blocked must be true or false")),
    }
}

/// Counts of accounts, online accounts, today's messages and blocked accounts.
#[utoipa::path(get, path = "/admin/stats", operation_id = "admin_stats", tag = "admin", security(("bearer" = [])),
    responses(
        (status = 200, description = "The counts", body = Stats),
        (status = 401, response = Unauthorized),
        (status = 403, response = Forbidden),
        (status = 503, response = Unavailable),
    )
)]
async fn stats(chat: &Chat) -> Result<Response, ApiError> {
    let (counts, online) = chat.counts().await?;
    Ok(ok_json(&Stats {
        users: counts.users,
        online,
        messages_today: counts.messages_since,
        blocked: counts.blocked,
    }))
}

/// Every account, or only the blocked ones.
#[utoipa::path(get, path = "/admin/users", operation_id = "admin_users", tag = "admin", security(("bearer" = [])),
    params(
        ("blocked" = Option<bool>, Query, description = "Only blocked accounts when true (`1` and `0` work too)"),
    ),
    responses(
        (status = 200, description = "Accounts, by id", body = Vec<AdminUser>),
        (status = 400, response = BadRequest),
        (status = 401, response = Unauthorized),
        (status = 403, response = Forbidden),
        (status = 503, response = Unavailable),
    )
)]
async fn users(chat: &Chat, req: &Request<Incoming>) -> Result<Response, ApiError> {
    let filter = UserFilter { blocked_only: blocked_only(req)?, admins_only: false };
    let users = chat.list_users(filter).await?;
    let mut blocks: HashMap<i64, Violation> =
        chat.latest_blocks().await?.into_iter().filter_map(|v| Some((v.user_id?, v))).collect();
    let listed = users.into_iter().map(|u| {
        let block = if u.is_blocked { blocks.remove(&u.id).map(BlockInfo::from) } else { None };
        AdminUser { block, ..AdminUser::from(u) }
    });
    Ok(ok_json(&listed.collect::<Vec<_>>()))
}

/// Chat messages with their senders' ids: the newest older than `before`, oldest first.
#[utoipa::path(get, path = "/admin/messages", operation_id = "admin_messages", tag = "admin", security(("bearer" = [])),
    params(
        ("room" = Option<i64>, Query, description = "A public room's id (default: general); private rooms' and DMs' text is not shown"),
        ("before" = Option<i64>, Query, description = "Only messages with a smaller id; all when absent"),
        ("limit" = Option<i64>, Query, minimum = 1,
            description = "At most this many messages (default 100; larger values count as 500)"),
    ),
    responses(
        (status = 200, description = "Messages, oldest first", body = Vec<AdminMessage>),
        (status = 404, response = NotFound),
        (status = 400, response = BadRequest),
        (status = 401, response = Unauthorized),
        (status = 403, response = Forbidden),
        (status = 503, response = Unavailable),
    )
)]
async fn messages(chat: &Chat, req: &Request<Incoming>) -> Result<Response, ApiError> {
    let before = query_i64(req, "before")?;
    let limit = query_limit(req, 100, 500)?;
    let room = chat.public_room(query_i64(req, "room")?.unwrap_or(crate::store::GENERAL_ROOM)).await?;
    let messages = chat.messages_before(room.id, before, limit).await?;
    Ok(ok_json(&messages.into_iter().map(AdminMessage::from).collect::<Vec<_>>()))
}

/// The moderation audit log, newest first: every moderation act (strikes, mutes, unmutes,
/// blocks, unblocks, deletions, report decisions, appeals, term-list changes, moderators, slow
/// mode), who did it and why.
#[utoipa::path(get, path = "/admin/violations", operation_id = "admin_violations", tag = "admin", security(("bearer" = [])),
    params(
        ("before" = Option<i64>, Query, description = "Only entries with a smaller id; all when absent"),
        ("action" = Option<AuditAction>, Query, description = "Only this action"),
        ("user" = Option<String>, Query, description = "Only entries about this account: its id or username"),
        ("limit" = Option<i64>, Query, minimum = 1,
            description = "At most this many entries (default 100; larger values count as 500)"),
    ),
    responses(
        (status = 200, description = "Entries, newest first", body = Vec<AuditEntry>),
        (status = 400, response = BadRequest),
        (status = 401, response = Unauthorized),
        (status = 403, response = Forbidden),
        (status = 503, response = Unavailable),
    )
)]
async fn violations(chat: &Chat, req: &Request<Incoming>) -> Result<Response, ApiError> {
    let before = query_i64(req, "before")?;
    let limit = query_limit(req, 100, 500)?;
    let action = match super::query_param(req, "action").as_deref().map(str::trim) {
        None | Some("") => None,
        Some(a) => Some(
            Action::ALL
                .into_iter()
                .find(|x| x.as_str() == a)
                .ok_or_else(|| ApiError::bad_request(format!("unknown action {a:?}")))?,
        ),
    };
    let user_id = match super::query_param(req, "user").as_deref().map(str::trim) {
        None | Some("") => None,
        Some(u) => match u.parse::<i64>() {
            Ok(id) => Some(id),
            // An unknown name has no entries: -1 is no account's id.
            Err(_) => Some(chat.user_named(u).await?.map_or(-1, |x| x.id)),
        },
    };
    let entries = chat.audit_log(AuditFilter { before_id: before, limit, action, user_id }).await?;
    Ok(ok_json(&entries.into_iter().map(AuditEntry::from).collect::<Vec<_>>()))
}

/// One message of someone else's that an admin (or the operator) deleted.
#[derive(Serialize, ToSchema)]
pub struct DeletionEntry {
    id: i64,
    message_id: i64,
    room: i64,
    /// Whose message it was.
    user: String,
    /// The admin's username, or `cli`.
    actor: String,
    reason: Option<String>,
    #[schema(format = DateTime, example = "2026-11-23T22:15:00.070Z")]
    timestamp: String,
}

/// The audit log of deletions of others' messages, newest first (never the deleted text).
#[utoipa::path(get, path = "/admin/deletions", operation_id = "admin_deletions", tag = "admin", security(("bearer" = [])),
    params(
        ("before" = Option<i64>, Query, description = "Only entries with a smaller id; all when absent"),
        ("limit" = Option<i64>, Query, minimum = 1,
            description = "At most this many entries (default 100; larger values count as 500)"),
    ),
    responses(
        (status = 200, description = "Entries, newest first", body = Vec<DeletionEntry>),
        (status = 400, response = BadRequest),
        (status = 401, response = Unauthorized),
        (status = 403, response = Forbidden),
        (status = 503, response = Unavailable),
    )
)]
pub(super) async fn deletions(chat: &Chat, req: &Request<Incoming>) -> Result<Response, ApiError> {
    let before = query_i64(req, "before")?;
    let limit = query_limit(req, 100, 500)?;
    let entries = chat.deletions(before, limit).await?;
    let out: Vec<DeletionEntry> = entries
        .into_iter()
        .map(|d| DeletionEntry {
            id: d.id,
            message_id: d.message_id,
            room: d.room_id,
            user: d.sender,
            actor: d.actor,
            reason: d.reason,
            timestamp: d.timestamp,
        })
        .collect();
    Ok(ok_json(&out))
}

/// The longest block reason the API keeps, in characters.
const MAX_REASON_CHARS: usize = 500;

/// The optional body of a block: why, for the audit log and the dashboard.
#[derive(Deserialize, ToSchema, Default)]
#[serde(deny_unknown_fields)]
pub struct BlockBody {
    /// At most 500 characters; blank means none.
    reason: Option<String>,
}

/// Blocks an account (audited, with an optional reason); its open WebSockets close with 1008.
/// Never one's own. The body may be empty.
#[utoipa::path(post, path = "/admin/users/{id}/block", tag = "admin", security(("bearer" = [])),
    params(("id" = i64, Path, description = "The account's id")),
    request_body(content = Option<BlockBody>, description = "Optional: why the account is blocked"),
    responses(
        (status = 200, description = "The account, now blocked", body = AdminUser),
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
async fn block(
    state: &AppState,
    admin: &User,
    id: i64,
    req: Request<Incoming>,
) -> Result<Response, ApiError> {
    // A self-block would lock this admin out at once (possibly the last one); the dashboard
    // refuses it as well.
    if id == admin.id {
        return Err(ApiError::new(
            StatusCode::CONFLICT,
            "You cannot block your own account; ask another admin or use the CLI",
        ));
    }
    let body: BlockBody =
        read_optional_json(req.into_body(), state.http.max_body_bytes, state.http.body_timeout).await?;
    let reason = clean_reason(body.reason)?;
    Ok(ok_json(&AdminUser::from(state.chat.set_blocked(admin, id, true, reason).await?)))
}

/// An operator's reason as the audit log keeps it: trimmed, blank as none, not too long.
fn clean_reason(reason: Option<String>) -> Result<Option<String>, ApiError> {
    let reason = reason.map(|r| r.trim().to_string()).filter(|r| !r.is_empty());
    if reason.as_ref().is_some_and(|r| r.chars().count() > MAX_REASON_CHARS) {
        return Err(ApiError {
            field: Some("reason"),
            ..ApiError::new(
                StatusCode::UNPROCESSABLE_ENTITY,
                format!("The reason may have at most {MAX_REASON_CHARS} characters"),
            )
        });
    }
    Ok(reason)
}

/// How long a mute lasts: `"1h"` (s, m, h, d) or a number of seconds (at most 366 days); a
/// text longer than 366 days counts as 366 days.
#[derive(Deserialize)]
#[serde(untagged)]
pub enum MuteFor {
    Text(String),
    Seconds(u64),
}

/// `MuteFor` in the OpenAPI document: a duration text or a number of seconds.
fn mute_for_schema() -> utoipa::openapi::schema::Schema {
    use utoipa::openapi::schema::{ObjectBuilder, OneOfBuilder, Schema, Type};
    let one_of = OneOfBuilder::new()
        .item(
            ObjectBuilder::new()
                .schema_type(Type::String)
                .pattern(Some("^0*[1-9][0-9]*[smhd]?$"))
                .examples(["1h"]),
        )
        .item(ObjectBuilder::new().schema_type(Type::Integer).minimum(Some(1)).maximum(Some(31_622_400)))
        .build();
    Schema::OneOf(one_of)
}

/// The longest mute.
const MAX_MUTE: std::time::Duration = std::time::Duration::from_secs(366 * 86_400);

impl MuteFor {
    /// The mute's length; a well-formed text beyond the longest is the longest.
    fn span(&self) -> Result<std::time::Duration, String> {
        let text = match self {
            MuteFor::Seconds(0) => "0".to_string(),
            // The document gives seconds a maximum, so more is refused; a text has no maximum
            // a pattern could state, so a longer one counts as the longest.
            MuteFor::Seconds(n) if *n > MAX_MUTE.as_secs() => {
                return Err("A mute lasts at most 366 days (31622400 seconds)".to_string())
            }
            MuteFor::Seconds(n) => return Ok(std::time::Duration::from_secs(*n)),
            MuteFor::Text(t) => t.trim().to_string(),
        };
        crate::chat::standing::parse_duration(&text).or_else(|e| {
            let digits = text.trim_end_matches(['s', 'm', 'h', 'd']);
            let well_formed = !digits.is_empty()
                && digits.bytes().all(|b| b.is_ascii_digit())
                && digits.bytes().any(|b| b != b'0')
                && text.len() - digits.len() <= 1;
            if well_formed {
                Ok(MAX_MUTE)
            } else {
                Err(e)
            }
        })
    }
}

/// A mute: how long, and why.
#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct MuteBody {
    /// `30s`, `10m`, `1h`, `7d`, or seconds; at most 366 days.
    #[serde(rename = "for")]
    #[schema(schema_with = mute_for_schema)]
    for_: MuteFor,
    /// At most 500 characters; blank means none.
    reason: Option<String>,
}

/// Mutes an account for a while (audited): it reads everything but cannot post, edit or react
/// until the mute ends by itself; its sockets get a `muted` frame within a second, on every
/// instance. A new mute replaces a running one.
#[utoipa::path(post, path = "/admin/users/{id}/mute", operation_id = "admin_mute", tag = "admin", security(("bearer" = [])),
    params(("id" = i64, Path, description = "The account's id")),
    request_body(content = MuteBody, description = "How long, and optionally why"),
    responses(
        (status = 200, description = "The account, now muted (`muted_until`)", body = AdminUser),
        (status = 400, response = BadRequest),
        (status = 401, response = Unauthorized),
        (status = 403, response = Forbidden),
        (status = 404, response = NotFound),
        (status = 408, response = RequestTimeout),
        (status = 413, response = PayloadTooLarge),
        (status = 422, response = Unprocessable),
        (status = 503, response = Unavailable),
    )
)]
async fn mute(state: &AppState, admin: &User, id: i64, req: Request<Incoming>) -> Result<Response, ApiError> {
    let body: MuteBody =
        super::body::read_json(req.into_body(), state.http.max_body_bytes, state.http.body_timeout).await?;
    let span = body.for_.span().map_err(|detail| ApiError {
        field: Some("for"),
        ..ApiError::new(StatusCode::UNPROCESSABLE_ENTITY, detail)
    })?;
    let reason = clean_reason(body.reason)?;
    let user = state.chat.mute(Actor::User(admin), id, span, reason).await?;
    Ok(ok_json(&AdminUser::from(user)))
}

/// Lifts an account's mute (audited; nothing changes if it is not muted); its sockets get an
/// `unmuted` frame. The body may be empty.
#[utoipa::path(post, path = "/admin/users/{id}/unmute", operation_id = "admin_unmute", tag = "admin", security(("bearer" = [])),
    params(("id" = i64, Path, description = "The account's id")),
    request_body(content = Option<BlockBody>, description = "Optional: why the mute is lifted"),
    responses(
        (status = 200, description = "The account, not muted", body = AdminUser),
        (status = 400, response = BadRequest),
        (status = 401, response = Unauthorized),
        (status = 403, response = Forbidden),
        (status = 404, response = NotFound),
        (status = 408, response = RequestTimeout),
        (status = 413, response = PayloadTooLarge),
        (status = 422, response = Unprocessable),
        (status = 503, response = Unavailable),
    )
)]
async fn unmute(
    state: &AppState,
    admin: &User,
    id: i64,
    req: Request<Incoming>,
) -> Result<Response, ApiError> {
    let body: BlockBody =
        read_optional_json(req.into_body(), state.http.max_body_bytes, state.http.body_timeout).await?;
    let reason = clean_reason(body.reason)?;
    Ok(ok_json(&AdminUser::from(state.chat.unmute(Actor::User(admin), id, reason).await?)))
}

/// A public or private room in the admin's table (DMs are not listed).
#[derive(Serialize, ToSchema)]
pub struct AdminRoom {
    id: i64,
    name: Option<String>,
    /// `public` or `private`.
    #[schema(example = "public")]
    kind: &'static str,
    topic: Option<String>,
    members: i64,
    messages: i64,
    /// The newest message's time, None when there is none.
    #[schema(format = DateTime)]
    last_activity: Option<String>,
    archived: bool,
}

impl From<crate::store::RoomStats> for AdminRoom {
    fn from(r: crate::store::RoomStats) -> Self {
        AdminRoom {
            id: r.room.id,
            name: r.room.name,
            kind: r.room.kind.as_str(),
            topic: r.room.topic,
            members: r.room.members,
            messages: r.messages,
            last_activity: r.last_activity,
            archived: r.room.archived,
        }
    }
}

/// Public and private rooms with their activity, by name.
#[utoipa::path(get, path = "/admin/rooms", operation_id = "admin_rooms", tag = "admin", security(("bearer" = [])),
    responses(
        (status = 200, description = "Rooms", body = Vec<AdminRoom>),
        (status = 401, response = Unauthorized),
        (status = 403, response = Forbidden),
        (status = 503, response = Unavailable),
    )
)]
async fn rooms(chat: &Chat) -> Result<Response, ApiError> {
    let rooms = chat.room_stats().await?;
    Ok(ok_json(&rooms.into_iter().map(AdminRoom::from).collect::<Vec<_>>()))
}

/// Archives a room: its members still read it, nobody can post.
#[utoipa::path(post, path = "/admin/rooms/{id}/archive", operation_id = "admin_archive_room", tag = "admin", security(("bearer" = [])),
    params(("id" = i64, Path, description = "The room's id")),
    responses(
        (status = 200, description = "The room", body = AdminRoom),
        (status = 401, response = Unauthorized),
        (status = 403, response = Forbidden),
        (status = 404, response = NotFound),
        (status = 503, response = Unavailable),
    )
)]
async fn archive(chat: &Chat, admin: &User, id: i64) -> Result<Response, ApiError> {
    set_archived(chat, admin, id, true).await
}

/// Opens an archived room again.
#[utoipa::path(post, path = "/admin/rooms/{id}/unarchive", operation_id = "admin_unarchive_room", tag = "admin", security(("bearer" = [])),
    params(("id" = i64, Path, description = "The room's id")),
    responses(
        (status = 200, description = "The room", body = AdminRoom),
        (status = 401, response = Unauthorized),
        (status = 403, response = Forbidden),
        (status = 404, response = NotFound),
        (status = 503, response = Unavailable),
    )
)]
async fn unarchive(chat: &Chat, admin: &User, id: i64) -> Result<Response, ApiError> {
    set_archived(chat, admin, id, false).await
}

async fn set_archived(chat: &Chat, admin: &User, id: i64, archived: bool) -> Result<Response, ApiError> {
    chat.set_archived(admin, id, archived).await?;
    let stats = chat.room_stats().await?;
    let room = stats.into_iter().find(|r| r.room.id == id).ok_or(crate::chat::ChatError::RoomNotFound)?;
    Ok(ok_json(&AdminRoom::from(room)))
}

/// Unblocks an account (audited) and resets its warning count.
#[utoipa::path(post, path = "/admin/users/{id}/unblock", tag = "admin", security(("bearer" = [])),
    params(("id" = i64, Path, description = "The account's id")),
    responses(
        (status = 200, description = "The account, now unblocked", body = AdminUser),
        (status = 401, response = Unauthorized),
        (status = 403, response = Forbidden),
        (status = 404, response = NotFound),
        (status = 503, response = Unavailable),
    )
)]
async fn unblock(chat: &Chat, admin: &User, id: i64) -> Result<Response, ApiError> {
    Ok(ok_json(&AdminUser::from(chat.set_blocked(admin, id, false, None).await?)))
}

/// Grants the admin role.
#[utoipa::path(post, path = "/admin/users/{id}/admin", tag = "admin", security(("bearer" = [])),
    params(("id" = i64, Path, description = "The account's id")),
    responses(
        (status = 200, description = "The account, now an admin", body = AdminUser),
        (status = 401, response = Unauthorized),
        (status = 403, response = Forbidden),
        (status = 404, response = NotFound),
        (status = 503, response = Unavailable),
    )
)]
async fn grant_admin(chat: &Chat, admin: &User, id: i64) -> Result<Response, ApiError> {
    Ok(ok_json(&AdminUser::from(chat.set_admin(admin, id, true).await?)))
}

/// Revokes the admin role. Never one's own.
#[utoipa::path(delete, path = "/admin/users/{id}/admin", tag = "admin", security(("bearer" = [])),
    params(("id" = i64, Path, description = "The account's id")),
    responses(
        (status = 200, description = "The account, no longer an admin", body = AdminUser),
        (status = 401, response = Unauthorized),
        (status = 403, response = Forbidden),
        (status = 404, response = NotFound),
        (status = 409, response = Conflict),
        (status = 503, response = Unavailable),
    )
)]
async fn revoke_admin(chat: &Chat, admin: &User, id: i64) -> Result<Response, ApiError> {
    if id == admin.id {
        return Err(ApiError::new(
            StatusCode::CONFLICT,
            "You cannot revoke your own admin role; ask another admin or use the CLI",
        ));
    }
    Ok(ok_json(&AdminUser::from(chat.set_admin(admin, id, false).await?)))
}

/// Every account as CSV: id,username,email,role,blocked,warnings,created_at.
#[utoipa::path(get, path = "/admin/download/users", tag = "admin", security(("bearer" = [])),
    responses(
        (status = 200, description = "`users.csv`, streamed", content_type = "text/csv", body = String,
            headers(("Content-Disposition" = String, description = "attachment; filename=users.csv"))),
        (status = 401, response = Unauthorized),
        (status = 403, response = Forbidden),
        (status = 503, response = Unavailable),
    )
)]
fn download_users(state: &Arc<AppState>) -> Response {
    download(state, true)
}

/// Every message as CSV: id,sender_id,sender_username,content,timestamp.
#[utoipa::path(get, path = "/admin/download/messages", tag = "admin", security(("bearer" = [])),
    responses(
        (status = 200, description = "`messages.csv`, streamed", content_type = "text/csv", body = String,
            headers(("Content-Disposition" = String, description = "attachment; filename=messages.csv"))),
        (status = 401, response = Unauthorized),
        (status = 403, response = Forbidden),
        (status = 503, response = Unavailable),
    )
)]
fn download_messages(state: &Arc<AppState>) -> Response {
    download(state, false)
}

/// Streams a CSV export from a blocking thread, chunk by chunk, in constant memory.
fn download(state: &Arc<AppState>, users: bool) -> Response {
    let (body, mut w) = channel_body(state.http.download_stall_timeout);
    let store = Arc::clone(state.chat.store());
    tokio::task::spawn_blocking(move || {
        let result = if users {
            export::write_users(&*store, UserFilter::default(), &mut w, false)
        } else {
            export::write_messages(
                &*store,
                &MessageFilter { public_only: true, ..MessageFilter::default() },
                &mut w,
                false,
            )
        };
        if let Err(e) = result {
            tracing::warn!(error = %e, "CSV download abandoned");
            w.fail();
        }
    });
    let filename = if users { "users.csv" } else { "messages.csv" };
    let mut resp = hyper::Response::new(body.boxed());
    let h = resp.headers_mut();
    h.insert(header::CONTENT_TYPE, header::HeaderValue::from_static("text/csv; charset=utf-8"));
    h.insert(
        header::CONTENT_DISPOSITION,
        header::HeaderValue::from_str(&format!("attachment; filename={filename}"))
            .unwrap_or(header::HeaderValue::from_static("attachment")),
    );
    h.insert(header::CACHE_CONTROL, header::HeaderValue::from_static("no-store"));
    resp
}
