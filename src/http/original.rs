//! The original implementation's answers on its paths, for its own web client: chat history
//! (`/chat/messages`) and its admin page's routes (`/admin/login`, `/admin/dashboard`,
//! `/admin/blocked-users`), with its shapes and its naive timestamps (`timefmt::original`).
//!
//! They run the same `Chat` functions as our own API; only the JSON differs. Their OpenAPI
//! descriptions live in `openapi.rs` with the other compatibility routes.

use std::{collections::HashSet, net::IpAddr, sync::Arc};

use hyper::{body::Incoming, Request};
use serde::Serialize;
use utoipa::{
    openapi::{schema::Type, ObjectBuilder, RefOr, Schema},
    ToSchema,
};

use crate::{
    chat::{text::escape_html, ChatError},
    store::{Message, User, UserFilter},
    timefmt,
};

use super::{
    account::{history_page, sign_in, LoginBody, TokenResponse},
    authenticate_admin,
    body::{ok_json, Response},
    error::ApiError,
    openapi::{
        BadRequest, Forbidden, PayloadTooLarge, RequestTimeout, TooManyRequests, Unauthorized, Unavailable,
        Unprocessable,
    },
    AppState,
};

/// Messages the original's dashboard lists.
const DASHBOARD_MESSAGES: usize = 10;

/// A chat message as the original sent it (plus `id`), its timestamp naive UTC.
#[derive(Serialize, ToSchema)]
pub struct OriginalMessage {
    id: i64,
    /// The sender's username.
    user: String,
    text: String,
    #[schema(value_type = NaiveTimestamp)]
    timestamp: String,
}

/// UTC without an offset, as Python's `isoformat()` writes it: microseconds, left out when zero.
pub struct NaiveTimestamp;

// By hand: a derive cannot put a pattern on a plain string type.
impl utoipa::PartialSchema for NaiveTimestamp {
    fn schema() -> RefOr<Schema> {
        ObjectBuilder::new()
            .schema_type(Type::String)
            .description(Some("UTC without an offset, as Python's `isoformat()` writes it (microseconds, left out when zero)"))
            .pattern(Some(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d{6})?$"))
            .examples(["2026-11-26T09:09:34.131000"])
            .into()
    }
}

impl ToSchema for NaiveTimestamp {}

/// The original's admin dashboard.
#[derive(Serialize, ToSchema)]
pub struct Dashboard {
    total_users: i64,
    total_messages: i64,
    blocked_users: i64,
    /// The ten newest messages, newest first.
    messages: Vec<DashboardMessage>,
}

#[derive(Serialize, ToSchema)]
pub struct DashboardMessage {
    /// The sender's username, HTML-escaped like `message`.
    username: String,
    /// The text, HTML-escaped: the original's admin page inserts it as HTML, so a raw message
    /// could run script with the admin's token.
    message: String,
    #[schema(value_type = NaiveTimestamp)]
    time: String,
    /// Whether the sender is blocked now.
    blocked: bool,
}

/// A blocked account as the original listed it, without its password hash. Its text fields are
/// HTML-escaped, as in the dashboard: the original's admin pages insert fields as HTML, and an
/// e-mail address may hold `<>"'`.
#[derive(Serialize, ToSchema)]
pub struct OriginalUser {
    id: i64,
    /// HTML-escaped.
    username: String,
    /// Always empty: chatterbox keeps no full names (the original's registration left it empty).
    full_name: String,
    /// HTML-escaped.
    email: String,
    is_admin: bool,
    is_blocked: bool,
    warning_count: i64,
    #[schema(value_type = NaiveTimestamp)]
    created_at: String,
}

impl From<Message> for OriginalMessage {
    fn from(m: Message) -> Self {
        OriginalMessage {
            id: m.id,
            user: m.username,
            text: m.content,
            timestamp: timefmt::original(&m.timestamp),
        }
    }
}

impl From<User> for OriginalUser {
    fn from(u: User) -> Self {
        OriginalUser {
            id: u.id,
            username: escape_html(&u.username),
            full_name: String::new(),
            email: escape_html(&u.email),
            is_admin: u.is_admin,
            is_blocked: u.is_blocked,
            warning_count: u.warning_count,
            created_at: timefmt::original(&u.created_at),
        }
    }
}

/// Compatibility: `GET /messages` with the original's naive timestamps (unlike the original,
/// it needs a token).
#[utoipa::path(get, path = "/chat/messages", operation_id = "compat_history", tag = "compatibility",
    security(("bearer" = [])),
    params(
        ("before" = Option<i64>, Query, description = "Only messages with a smaller id; all when absent"),
        ("limit" = Option<i64>, Query, minimum = 1,
            description = "At most this many messages (default 50; larger values count as 200)"),
    ),
    responses(
        (status = 200, description = "Messages, oldest first", body = Vec<OriginalMessage>),
        (status = 400, response = BadRequest),
        (status = 401, response = Unauthorized),
        (status = 403, response = Forbidden),
        (status = 503, response = Unavailable),
    )
)]
pub async fn history(state: &Arc<AppState>, req: Request<Incoming>) -> Result<Response, ApiError> {
    let messages = history_page(state, &req).await?;
    Ok(ok_json(&messages.into_iter().map(OriginalMessage::from).collect::<Vec<_>>()))
}

/// Compatibility: the original admin page's sign-in, a login that only an admin passes (403
/// for an account without the role, after the password is checked).
#[utoipa::path(post, path = "/admin/login", operation_id = "compat_admin_login", tag = "compatibility",
    request_body = LoginBody,
    responses(
        (status = 200, description = "Signed in as an admin", body = TokenResponse),
        (status = 400, response = BadRequest),
        (status = 401, response = Unauthorized),
        (status = 403, response = Forbidden),
        (status = 408, response = RequestTimeout),
        (status = 413, response = PayloadTooLarge),
        (status = 422, response = Unprocessable),
        (status = 429, response = TooManyRequests),
        (status = 503, response = Unavailable),
    )
)]
pub async fn admin_login(
    state: &Arc<AppState>,
    client: IpAddr,
    req: Request<Incoming>,
) -> Result<Response, ApiError> {
    let (user, token) = sign_in(state, client, req).await?;
    if !user.is_admin {
        return Err(ChatError::NotAdmin.into());
    }
    Ok(ok_json(&TokenResponse::new(&user, token)))
}

/// Compatibility: the original admin page's summary: totals and the ten newest messages.
#[utoipa::path(get, path = "/admin/dashboard", operation_id = "compat_admin_dashboard", tag = "compatibility",
    security(("bearer" = [])),
    responses(
        (status = 200, description = "The summary", body = Dashboard),
        (status = 401, response = Unauthorized),
        (status = 403, response = Forbidden),
        (status = 503, response = Unavailable),
    )
)]
pub async fn dashboard(state: &Arc<AppState>, req: Request<Incoming>) -> Result<Response, ApiError> {
    authenticate_admin(state, &req).await?;
    let chat = &state.chat;
    let counts = chat.counts_all_time().await?;
    let recent = chat.general_history(None, DASHBOARD_MESSAGES).await?;
    let blocked: HashSet<i64> = blocked_accounts(state).await?.iter().map(|u| u.id).collect();
    let messages = recent
        .into_iter()
        .rev()
        .map(|m| DashboardMessage {
            blocked: blocked.contains(&m.sender_id),
            username: escape_html(&m.username),
            message: escape_html(&m.content),
            time: timefmt::original(&m.timestamp),
        })
        .collect();
    Ok(ok_json(&Dashboard {
        total_users: counts.users,
        total_messages: counts.messages_since,
        blocked_users: counts.blocked,
        messages,
    }))
}

/// Compatibility: every blocked account, in the original's shape (without password hashes).
#[utoipa::path(get, path = "/admin/blocked-users", operation_id = "compat_admin_blocked_users",
    tag = "compatibility", security(("bearer" = [])),
    responses(
        (status = 200, description = "Blocked accounts, by id", body = Vec<OriginalUser>),
        (status = 401, response = Unauthorized),
        (status = 403, response = Forbidden),
        (status = 503, response = Unavailable),
    )
)]
pub async fn blocked_users(state: &Arc<AppState>, req: Request<Incoming>) -> Result<Response, ApiError> {
    authenticate_admin(state, &req).await?;
    let users = blocked_accounts(state).await?;
    Ok(ok_json(&users.into_iter().map(OriginalUser::from).collect::<Vec<_>>()))
}

async fn blocked_accounts(state: &AppState) -> Result<Vec<User>, ApiError> {
    Ok(state.chat.list_users(UserFilter { blocked_only: true, ..UserFilter::default() }).await?)
}

#[cfg(test)]
mod tests {
    #[test]
    fn escapes_what_html_would_interpret() {
        assert_eq!(
            super::escape_html(r#"<img src=x onerror="a('&')">"#),
            "&lt;img src=x onerror=&quot;a(&#39;&amp;&#39;)&quot;&gt;"
        );
        assert_eq!(super::escape_html("héllo 👋"), "héllo 👋");
    }
}
