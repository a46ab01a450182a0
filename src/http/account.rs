//! Account routes: register, login, the current account, and chat history for signed-in users.
//!
//! Every JSON body here is a typed struct that also derives its OpenAPI schema, and every handler
//! carries its `#[utoipa::path]`, so `GET /openapi.json` (see `openapi.rs`) cannot drift from
//! what these handlers send.

use std::{net::IpAddr, sync::Arc};

use hyper::{body::Incoming, Request, StatusCode};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use crate::{
    chat::ChatError,
    store::{Message, User},
};

use super::{
    authenticate,
    body::{json_response, ok_json, read_json, Response},
    error::ApiError,
    openapi::{
        BadRequest, Conflict, Forbidden, PayloadTooLarge, RequestTimeout, TooManyRequests, Unauthorized,
        Unavailable, Unprocessable,
    },
    query_i64, query_limit, AppState,
};

/// A new account. Leading and trailing whitespace of `username` and `email` is trimmed.
#[derive(Deserialize, ToSchema)]
pub struct RegisterBody {
    /// 3 to 32 of the letters a-z and A-Z, digits and `_ . -`, with at least one letter or digit.
    #[schema(
        min_length = 3,
        max_length = 32,
        pattern = r"^[A-Za-z0-9_.-]*[A-Za-z0-9][A-Za-z0-9_.-]*$",
        example = "alice"
    )]
    username: String,
    /// A plausible address: one `@`, a dot-separated domain of at least two labels, no spaces.
    /// At most 254 bytes.
    #[schema(
        max_length = 254,
        pattern = r"^[^@\s\x00-\x1f\x7f-\x9f]+@[^@.\s\x00-\x1f\x7f-\x9f-](?:[^@.\s\x00-\x1f\x7f-\x9f]*[^@.\s\x00-\x1f\x7f-\x9f-])?(?:\.[^@.\s\x00-\x1f\x7f-\x9f-](?:[^@.\s\x00-\x1f\x7f-\x9f]*[^@.\s\x00-\x1f\x7f-\x9f-])?)+$",
        example = "alice@example.com"
    )]
    email: String,
    /// At least 8 characters and at most 72 bytes of UTF-8 (bcrypt reads no further).
    #[schema(min_length = 8, max_length = 72, example = "correct horse")]
    password: String,
}

/// Credentials: a password and a `username` or an `email` (either key takes either).
// That one of the two keys is required is added to the schema in `openapi.rs`: a derive cannot
// say it.
#[derive(Deserialize, ToSchema)]
pub struct LoginBody {
    /// A username or an e-mail address.
    #[schema(nullable = false, example = "alice")]
    username: Option<String>,
    /// Used when `username` is absent (the original logged in by e-mail).
    #[schema(nullable = false)]
    email: Option<String>,
    password: String,
}

/// The answer to a registration or a login.
#[derive(Serialize, ToSchema)]
pub struct TokenResponse {
    /// A JWT for `Authorization: Bearer <token>` (and `?token=` on the WebSocket).
    access_token: String,
    token_type: TokenType,
    user: TokenUser,
    /// Once, at the first sign-in after an appeal unblocked the account: the admin's note.
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schema(nullable = false)]
    appeal_answer: Option<String>,
}

#[derive(Serialize, ToSchema)]
#[serde(rename_all = "lowercase")]
pub enum TokenType {
    Bearer,
}

/// The account a token was issued for.
#[derive(Serialize, ToSchema)]
pub struct TokenUser {
    id: i64,
    username: String,
    is_admin: bool,
}

impl TokenResponse {
    pub(super) fn new(user: &User, token: String) -> Self {
        TokenResponse {
            access_token: token,
            token_type: TokenType::Bearer,
            user: TokenUser { id: user.id, username: user.username.clone(), is_admin: user.is_admin },
            appeal_answer: None,
        }
    }
}

/// The signed-in account.
#[derive(Serialize, ToSchema)]
pub struct Me {
    id: i64,
    username: String,
    email: String,
    is_admin: bool,
    is_blocked: bool,
    /// Moderation violations so far.
    warning_count: i64,
    /// The violation that blocks the account.
    warning_limit: i64,
    /// How long after sending a message its author may edit it (`serve --edit-window`).
    edit_window_secs: u64,
    #[schema(format = DateTime, example = "2026-11-23T22:15:00.070Z")]
    created_at: String,
    /// Strikes that count now (older ones may have decayed, an unblock clears them).
    strikes: i64,
    /// What the next strike does: `warn`, `mute:DURATION` (e.g. `mute:10m`) or `block`.
    #[schema(example = "mute:10m")]
    next_step: String,
    /// The end of a running account mute, or null: a muted account reads but cannot post.
    #[schema(format = DateTime, example = "2026-11-23T23:15:00.070Z")]
    muted_until: Option<String>,
}

/// A chat message as history shows it: the WebSocket's `message` frame without `type`.
#[derive(Serialize, ToSchema)]
pub struct ChatMessage {
    id: i64,
    /// The sender's username.
    user: String,
    text: String,
    #[schema(format = DateTime, example = "2026-11-23T22:15:00.070Z")]
    timestamp: String,
}

impl From<Message> for ChatMessage {
    fn from(m: Message) -> Self {
        ChatMessage { id: m.id, user: m.username, text: m.content, timestamp: m.timestamp }
    }
}

/// Creates an account and signs it in.
// `compat` answers like the original's `/auth/register`: 200, and 400 for a taken name.
#[utoipa::path(
    post,
    path = "/register",
    tag = "accounts",
    request_body = RegisterBody,
    responses(
        (status = 201, description = "The account was created; the token signs it in", body = TokenResponse),
        (status = 400, response = BadRequest),
        (status = 408, response = RequestTimeout),
        (status = 409, response = Conflict),
        (status = 413, response = PayloadTooLarge),
        (status = 422, response = Unprocessable),
        (status = 429, response = TooManyRequests),
        (status = 503, response = Unavailable),
    )
)]
pub async fn register(
    state: &Arc<AppState>,
    client: IpAddr,
    req: Request<Incoming>,
    compat: bool,
) -> Result<Response, ApiError> {
    let body: RegisterBody =
        read_json(req.into_body(), state.http.max_body_bytes, state.http.body_timeout).await?;
    match state.chat.register(client, body.username, body.email, body.password).await {
        Ok((user, token)) => {
            let status = if compat { StatusCode::OK } else { StatusCode::CREATED };
            Ok(json_response(status, &TokenResponse::new(&user, token)))
        }
        Err(ChatError::Conflict { field, detail }) if compat => {
            let detail = if field == "username" { "Username already exists".to_string() } else { detail };
            Err(ApiError { field: Some(field), ..ApiError::bad_request(detail) })
        }
        Err(e) => Err(e.into()),
    }
}

/// Signs in with a username or e-mail address and a password.
#[utoipa::path(
    post,
    path = "/login",
    tag = "accounts",
    request_body = LoginBody,
    responses(
        (status = 200, description = "Signed in", body = TokenResponse),
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
pub async fn login(
    state: &Arc<AppState>,
    client: IpAddr,
    req: Request<Incoming>,
) -> Result<Response, ApiError> {
    let (user, token) = sign_in(state, client, req).await?;
    let mut answer = TokenResponse::new(&user, token);
    answer.appeal_answer = state.chat.take_appeal_answer(user.id).await;
    Ok(ok_json(&answer))
}

/// What a blocked account may do about its block.
#[derive(Serialize, ToSchema)]
#[allow(dead_code)]
pub struct AppealState {
    /// Whether an appeal can be filed now (`POST /appeals` with `token`).
    allowed: bool,
    /// Good for 30 minutes, for `POST /appeals` only.
    #[schema(nullable = false)]
    token: Option<String>,
    /// The filed appeal's status: `open` or `kept`.
    #[schema(nullable = false)]
    status: Option<String>,
    /// The admin's note on a kept block.
    answer: Option<String>,
}

/// Reads a `LoginBody` and checks it: the account and a fresh token.
pub(super) async fn sign_in(
    state: &Arc<AppState>,
    client: IpAddr,
    req: Request<Incoming>,
) -> Result<(User, String), ApiError> {
    let body: LoginBody =
        read_json(req.into_body(), state.http.max_body_bytes, state.http.body_timeout).await?;
    let login = body.username.or(body.email).ok_or(ApiError {
        field: Some("username"),
        ..ApiError::new(StatusCode::UNPROCESSABLE_ENTITY, "Enter a username or e-mail address")
    })?;
    Ok(state.chat.login(client, login, body.password).await?)
}

/// The signed-in account, re-read from the database.
#[utoipa::path(
    get,
    path = "/me",
    tag = "accounts",
    security(("bearer" = [])),
    responses(
        (status = 200, description = "The account", body = Me),
        (status = 401, response = Unauthorized),
        (status = 403, response = Forbidden),
        (status = 503, response = Unavailable),
    )
)]
pub async fn me(state: &Arc<AppState>, req: Request<Incoming>) -> Result<Response, ApiError> {
    let user = authenticate(state, &req).await?;
    let standing = state.chat.standing(&user).await?;
    Ok(ok_json(&Me {
        id: user.id,
        username: user.username,
        email: user.email,
        is_admin: user.is_admin,
        is_blocked: user.is_blocked,
        warning_count: user.warning_count,
        warning_limit: state.chat.config.warning_limit,
        edit_window_secs: state.chat.config.edit_window.as_secs(),
        created_at: user.created_at,
        strikes: standing.strikes,
        next_step: standing.next_step,
        muted_until: standing.muted_until,
    }))
}

/// Chat history: the newest messages older than `before`, oldest first.
#[utoipa::path(
    get,
    path = "/messages",
    operation_id = "history",
    tag = "chat",
    security(("bearer" = [])),
    params(
        ("before" = Option<i64>, Query, description = "Only messages with a smaller id; all when absent"),
        ("limit" = Option<i64>, Query, minimum = 1,
            description = "At most this many messages (default 50; larger values count as 200)"),
    ),
    responses(
        (status = 200, description = "Messages, oldest first", body = Vec<ChatMessage>),
        (status = 400, response = BadRequest),
        (status = 401, response = Unauthorized),
        (status = 403, response = Forbidden),
        (status = 503, response = Unavailable),
    )
)]
pub async fn history(state: &Arc<AppState>, req: Request<Incoming>) -> Result<Response, ApiError> {
    let messages = history_page(state, &req).await?;
    let out: Vec<ChatMessage> = messages.into_iter().map(ChatMessage::from).collect();
    Ok(ok_json(&out))
}

/// The page of history that `?before=` and `?limit=` ask for, for a signed-in account.
pub(super) async fn history_page(
    state: &Arc<AppState>,
    req: &Request<Incoming>,
) -> Result<Vec<Message>, ApiError> {
    authenticate(state, req).await?;
    let before = query_i64(req, "before")?;
    let limit = query_limit(req, 50, 200)?;
    Ok(state.chat.general_history(before, limit).await?)
}
