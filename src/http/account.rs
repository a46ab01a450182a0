//! Account routes: register, login, the current account, and chat history for signed-in users.

use std::{net::SocketAddr, sync::Arc};

use hyper::{body::Incoming, Request, StatusCode};
use serde::Deserialize;
use serde_json::json;

use crate::{chat::ChatError, store::User};

use super::{
    authenticate,
    body::{json_response, ok_json, read_json, Response},
    error::ApiError,
    query_i64, query_limit, AppState,
};

#[derive(Deserialize)]
struct RegisterBody {
    username: String,
    email: String,
    password: String,
}

#[derive(Deserialize)]
struct LoginBody {
    username: Option<String>,
    /// The original logs in by e-mail; either key is accepted.
    email: Option<String>,
    password: String,
}

fn token_body(user: &User, token: &str) -> serde_json::Value {
    json!({
        "access_token": token,
        "token_type": "bearer",
        "user": { "id": user.id, "username": user.username, "is_admin": user.is_admin },
    })
}

/// `compat` answers like the original's `/auth/register`: 200, and 400 for a taken name.
pub async fn register(
    state: &Arc<AppState>,
    peer: SocketAddr,
    req: Request<Incoming>,
    compat: bool,
) -> Result<Response, ApiError> {
    let body: RegisterBody =
        read_json(req.into_body(), state.http.max_body_bytes, state.http.body_timeout).await?;
    match state.chat.register(peer.ip(), body.username, body.email, body.password).await {
        Ok((user, token)) => {
            let status = if compat { StatusCode::OK } else { StatusCode::CREATED };
            Ok(json_response(status, &token_body(&user, &token)))
        }
        Err(ChatError::Conflict { field, detail }) if compat => {
            let detail = if field == "username" { "Username already exists".to_string() } else { detail };
            Err(ApiError { field: Some(field), ..ApiError::bad_request(detail) })
        }
        Err(e) => Err(e.into()),
    }
}

pub async fn login(
    state: &Arc<AppState>,
    peer: SocketAddr,
    req: Request<Incoming>,
) -> Result<Response, ApiError> {
    let body: LoginBody =
        read_json(req.into_body(), state.http.max_body_bytes, state.http.body_timeout).await?;
    let login = body.username.or(body.email).ok_or(ApiError {
        field: Some("username"),
        ..ApiError::new(StatusCode::UNPROCESSABLE_ENTITY, "Enter a username or e-mail address")
    })?;
    let (user, token) = state.chat.login(peer.ip(), login, body.password).await?;
    Ok(ok_json(&token_body(&user, &token)))
}

pub async fn me(state: &Arc<AppState>, req: Request<Incoming>) -> Result<Response, ApiError> {
    let user = authenticate(state, &req).await?;
    Ok(ok_json(&json!({
        "id": user.id,
        "username": user.username,
        "email": user.email,
        "is_admin": user.is_admin,
        "is_blocked": user.is_blocked,
        "warning_count": user.warning_count,
        "warning_limit": state.chat.config.warning_limit,
        "created_at": user.created_at,
    })))
}

pub async fn history(state: &Arc<AppState>, req: Request<Incoming>) -> Result<Response, ApiError> {
    authenticate(state, &req).await?;
    let before = query_i64(&req, "before")?;
    let limit = query_limit(&req, 50, 200)?;
    let messages = state.chat.messages_before(before, limit).await?;
    let out: Vec<_> = messages
        .iter()
        .map(|m| json!({ "id": m.id, "user": m.username, "text": m.content, "timestamp": m.timestamp }))
        .collect();
    Ok(ok_json(&out))
}
