//! Message routes: read one message, edit it, delete it, toggle a reaction on it. The same
//! domain calls as the WebSocket's `edit`, `delete` and `react` frames; every change reaches the
//! conversation's sockets as a frame before the answer is sent.
//!
//! A message in a conversation the caller is not in answers 404, exactly like one that does not
//! exist or was deleted.

use std::sync::Arc;

use hyper::{body::Incoming, Method, Request};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use crate::chat::{living::Edited, ChatError};

use super::{
    authenticate,
    body::{ok_json, read_optional_json, Response},
    error::ApiError,
    openapi::{
        BadRequest, Conflict, Forbidden, NotFound, PayloadTooLarge, RequestTimeout, Unauthorized,
        Unavailable, Unprocessable,
    },
    rooms::{json_body, ReactionCount, RoomMessage},
    AppState,
};

#[derive(Deserialize, ToSchema)]
pub struct EditBody {
    /// The new text: not blank, at most `--max-message-chars` (2,000) characters after trimming,
    /// moderated like a new message.
    #[schema(min_length = 1, example = "the deploy is at one")]
    text: String,
}

#[derive(Deserialize, Default, ToSchema)]
pub struct DeleteBody {
    /// Why (kept in the audit log when an admin deletes someone else's message).
    reason: Option<String>,
}

#[derive(Deserialize, ToSchema)]
pub struct ReactBody {
    /// One emoji: a single grapheme (`🇫🇷` and `👨‍👩‍👧` are one each), not a letter or digit.
    #[schema(min_length = 1, max_length = 32, example = "👍")]
    emoji: String,
}

/// A deletion done.
#[derive(Serialize, ToSchema)]
pub struct Deleted {
    deleted: bool,
    id: i64,
    /// The deletion's log position.
    seq: i64,
}

/// A message's reactions after a toggle.
#[derive(Serialize, ToSchema)]
pub struct Reactions {
    id: i64,
    room: i64,
    reactions: Vec<ReactionCount>,
    /// The change's log position (a client may resume with `?since=` it).
    seq: i64,
}

/// Routes under `/messages/{id}`.
pub async fn route(
    state: &Arc<AppState>,
    req: Request<Incoming>,
    segments: &[&str],
) -> Result<Response, ApiError> {
    let allow = match segments {
        ["messages", _] => "GET, PATCH, DELETE",
        ["messages", _, "reactions" | "report"] => "POST",
        _ => return Err(ApiError::not_found()),
    };
    let id = segments[1].parse::<i64>().map_err(|_| ApiError::not_found())?;
    if !allow.split(", ").any(|m| m == req.method().as_str()) {
        return Err(ApiError::method_not_allowed(allow));
    }
    if segments[2..] == ["report"] {
        return super::reports::report(state, req, id).await;
    }
    let user = authenticate(state, &req).await?;
    match (segments, req.method().clone()) {
        (["messages", _], Method::GET) => get(state, &user, id).await,
        (["messages", _], Method::PATCH) => edit(state, &user, id, json_body(state, req).await?).await,
        (["messages", _], _) => {
            let (limit, timeout) = (state.http.max_body_bytes, state.http.body_timeout);
            let body: DeleteBody = read_optional_json(req.into_body(), limit, timeout).await?;
            delete(state, &user, id, body).await
        }
        _ => react(state, &user, id, json_body(state, req).await?).await,
    }
}

/// One message with its reactions (for a reply's quote of a message not loaded yet).
#[utoipa::path(get, path = "/messages/{id}", operation_id = "message", tag = "messages", security(("bearer" = [])),
    params(("id" = i64, Path, description = "The message's id")),
    responses(
        (status = 200, description = "The message", body = RoomMessage),
        (status = 401, response = Unauthorized),
        (status = 403, response = Forbidden),
        (status = 404, response = NotFound),
        (status = 503, response = Unavailable),
    )
)]
async fn get(state: &AppState, user: &crate::store::User, id: i64) -> Result<Response, ApiError> {
    let seen = state.chat.visible_message(user, id).await?;
    Ok(ok_json(&RoomMessage::from(seen)))
}

/// Edits one's own message, within the edit window (`serve --edit-window`, 24 h by default).
/// The new text passes moderation like a new message: a blocked term is refused (422, and it
/// counts as a violation; 403 when it blocks the account). Admins cannot edit others' text.
#[utoipa::path(patch, path = "/messages/{id}", operation_id = "edit_message", tag = "messages", security(("bearer" = [])),
    params(("id" = i64, Path, description = "The message's id")),
    request_body = EditBody,
    responses(
        (status = 200, description = "The message as it is now; the `edited` frame has gone out", body = RoomMessage),
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
async fn edit(
    state: &AppState,
    user: &crate::store::User,
    id: i64,
    body: EditBody,
) -> Result<Response, ApiError> {
    match state.chat.edit_message(user, id, &body.text).await? {
        Edited::Done(message, _) => {
            let seen = state.chat.visible_message(user, message.id).await;
            // Deleted between the edit and this read: the edit still happened.
            let shown = seen.map(RoomMessage::from).unwrap_or_else(|_| RoomMessage::from(*message));
            Ok(ok_json(&shown))
        }
        Edited::Warned { warnings, limit, term } => Err(ApiError::from(ChatError::Invalid {
            field: "text",
            detail: super::frames::warning_text(warnings, limit, &term, "your edit was not saved"),
        })),
        Edited::Muted { until, .. } => Err(ApiError::from(ChatError::Muted { until })),
        Edited::Blocked { .. } => Err(ApiError::from(ChatError::Blocked)),
    }
}

/// Deletes a message: one's own, or anyone's for an admin (with an optional reason, kept in the
/// audit log with who deleted whose message and when, never the text). The text is gone from the
/// store; every client removes the message live.
#[utoipa::path(delete, path = "/messages/{id}", operation_id = "delete_message", tag = "messages", security(("bearer" = [])),
    params(("id" = i64, Path, description = "The message's id")),
    request_body(content = Option<DeleteBody>, description = "Optional: why (for the audit log)"),
    responses(
        (status = 200, description = "Deleted; the `deleted` frame has gone out", body = Deleted),
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
async fn delete(
    state: &AppState,
    user: &crate::store::User,
    id: i64,
    body: DeleteBody,
) -> Result<Response, ApiError> {
    let seq = state.chat.delete_message(user, id, body.reason).await?;
    Ok(ok_json(&Deleted { deleted: true, id, seq }))
}

/// Adds the caller's reaction to a message, or takes it back if they had it.
#[utoipa::path(post, path = "/messages/{id}/reactions", operation_id = "toggle_reaction", tag = "messages", security(("bearer" = [])),
    params(("id" = i64, Path, description = "The message's id")),
    request_body = ReactBody,
    responses(
        (status = 200, description = "The message's reactions now; the `reactions` frame has gone out", body = Reactions),
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
async fn react(
    state: &AppState,
    user: &crate::store::User,
    id: i64,
    body: ReactBody,
) -> Result<Response, ApiError> {
    let toggled = state.chat.toggle_reaction(user, id, &body.emoji).await?;
    Ok(ok_json(&Reactions {
        id,
        room: toggled.room,
        reactions: ReactionCount::list(toggled.reactions),
        seq: toggled.seq,
    }))
}
