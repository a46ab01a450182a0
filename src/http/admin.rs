//! Admin API: users, messages, the audit log, block / unblock, roles, and CSV downloads.
//!
//! The admin role is checked against the database on every request, so a revoked admin loses
//! these routes at once even with an unexpired token.

use std::sync::Arc;

use bytes::Bytes;
use http_body_util::BodyExt;
use hyper::{body::Incoming, header, Method, Request};
use serde_json::json;
use tokio::sync::mpsc;

use crate::{
    chat::{export, ChatError},
    store::{MessageFilter, UserFilter},
};

use super::{
    body::{ok_json, ChannelBody, ChannelWriter, Response},
    error::ApiError,
    query_i64, query_limit, AppState,
};

pub async fn route(
    state: &Arc<AppState>,
    req: Request<Incoming>,
    segments: &[&str],
) -> Result<Response, ApiError> {
    let method = req.method().clone();
    // Resolve the route before authenticating, so unknown paths are 404 and wrong methods 405
    // whoever asks.
    let known = matches!(
        segments,
        ["stats"] | ["users"] | ["messages"] | ["violations"] | ["download", "users" | "messages"]
    ) || matches!(segments, ["users", id, "block" | "unblock" | "admin"] if id.parse::<i64>().is_ok());
    if !known {
        return Err(ApiError::not_found());
    }
    let allowed = match segments {
        ["users", _, "block" | "unblock"] => method == Method::POST,
        ["users", _, "admin"] => method == Method::POST || method == Method::DELETE,
        _ => method == Method::GET,
    };
    if !allowed {
        return Err(ApiError::method_not_allowed());
    }
    let token = super::bearer(&req, false)
        .ok_or(ApiError::from(ChatError::Unauthenticated("missing bearer token")))?;
    let admin = state.chat.authenticate_admin(&token).await?;
    let chat = &state.chat;
    match segments {
        ["stats"] => {
            let (counts, online) = chat.counts().await?;
            Ok(ok_json(&json!({
                "users": counts.users,
                "online": online,
                "messages_today": counts.messages_since,
                "blocked": counts.blocked,
            })))
        }
        ["users"] => {
            let blocked_only = match super::query_param(&req, "blocked").as_deref() {
                None | Some("") | Some("false") | Some("0") => false,
                Some("true") | Some("1") => true,
                Some(_) => return Err(ApiError::bad_request("blocked must be true or false")),
            };
            let users = chat.list_users(UserFilter { blocked_only, admins_only: false }).await?;
            Ok(ok_json(&users))
        }
        ["messages"] => {
            let before = query_i64(&req, "before")?;
            let limit = query_limit(&req, 100, 500)?;
            let messages = chat.messages_before(before, limit).await?;
            let out: Vec<_> = messages
                .iter()
                .map(|m| {
                    json!({ "id": m.id, "sender_id": m.sender_id, "user": m.username, "text": m.content, "timestamp": m.timestamp })
                })
                .collect();
            Ok(ok_json(&out))
        }
        ["violations"] => {
            let before = query_i64(&req, "before")?;
            let limit = query_limit(&req, 100, 500)?;
            Ok(ok_json(&chat.violations(before, limit).await?))
        }
        ["users", id, action] => {
            let id: i64 = id.parse().map_err(|_| ApiError::not_found())?;
            let user = match (*action, &method) {
                ("block", _) => chat.set_blocked(&admin, id, true).await?,
                ("unblock", _) => chat.set_blocked(&admin, id, false).await?,
                ("admin", &Method::POST) => chat.set_admin(&admin, id, true).await?,
                _ => {
                    if id == admin.id {
                        return Err(ApiError::new(
                            hyper::StatusCode::CONFLICT,
                            "You cannot revoke your own admin role; ask another admin or use the CLI",
                        ));
                    }
                    chat.set_admin(&admin, id, false).await?
                }
            };
            Ok(ok_json(&user))
        }
        ["download", what] => Ok(download(state, what)),
        _ => Err(ApiError::not_found()),
    }
}

/// Streams a CSV export from a blocking thread, chunk by chunk, in constant memory.
fn download(state: &Arc<AppState>, what: &str) -> Response {
    let (tx, rx) = mpsc::channel::<Result<Bytes, std::io::Error>>(4);
    let store = Arc::clone(state.chat.store());
    let users = what == "users";
    tokio::task::spawn_blocking(move || {
        let mut w = ChannelWriter::new(tx);
        let result = if users {
            export::write_users(&*store, UserFilter::default(), &mut w, false)
        } else {
            export::write_messages(&*store, &MessageFilter::default(), &mut w, false)
        };
        if let Err(e) = result {
            tracing::warn!(error = %e, "CSV download failed");
            w.fail(std::io::Error::other("export failed"));
        }
    });
    let filename = if users { "users.csv" } else { "messages.csv" };
    let mut resp = hyper::Response::new(ChannelBody::new(rx).boxed());
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
