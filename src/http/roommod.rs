//! Room moderation routes: naming moderators, room mutes and slow mode (`chat::roommod`). The
//! other powers of a room's moderators use the existing routes: `DELETE /messages/{id}` and
//! `DELETE /rooms/{id}/members/{username}`.

use hyper::{body::Incoming, Request};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use crate::store::User;

use super::{
    body::{ok_json, Response},
    error::ApiError,
    openapi::{
        BadRequest, Forbidden, NotFound, PayloadTooLarge, RequestTimeout, Unauthorized, Unavailable,
        Unprocessable,
    },
    rooms::{json_body, RoomInfo},
    AppState,
};

/// A moderator named or unnamed.
#[derive(Serialize, ToSchema)]
pub struct ModeratorSet {
    user: String,
    moderator: bool,
    /// False when the member already had that role.
    changed: bool,
}

#[derive(Deserialize, ToSchema)]
pub struct RoomMuteBody {
    /// Who to mute (a member of the room).
    user: String,
    /// How long: a number of seconds (`90`, `90s`), minutes (`10m`), hours (`24h`) or days (`7d`).
    #[serde(rename = "for")]
    #[schema(example = "10m", pattern = "^[1-9][0-9]{0,3}[smhd]?$")]
    duration: String,
    /// Why, for the audit log.
    #[schema(max_length = 500)]
    reason: Option<String>,
}

/// A member's room mute now.
#[derive(Serialize, ToSchema)]
pub struct MuteState {
    user: String,
    /// The mute's end; null: not muted.
    #[schema(format = DateTime)]
    until: Option<String>,
}

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct RoomSettings {
    /// Slow mode: one message per this many seconds per member (0 to 3600; 0 is off).
    #[schema(minimum = 0, maximum = 3600)]
    #[serde(deserialize_with = "super::body::integer")]
    slow_mode_secs: i64,
}

/// Names (PUT) or unnames (DELETE) a moderator of a room: its creator or an admin may.
#[utoipa::path(put, path = "/rooms/{id}/moderators/{username}", operation_id = "name_moderator", tag = "rooms", security(("bearer" = [])),
    params(("id" = i64, Path, description = "The room's id"), ("username" = String, Path, description = "A member of the room")),
    responses(
        (status = 200, description = "The member's role now", body = ModeratorSet),
        (status = 401, response = Unauthorized),
        (status = 403, response = Forbidden),
        (status = 404, response = NotFound),
        (status = 422, response = Unprocessable),
        (status = 503, response = Unavailable),
    )
)]
pub async fn name_moderator(
    state: &AppState,
    user: &User,
    room: i64,
    username: String,
) -> Result<Response, ApiError> {
    set_moderator(state, user, room, username, true).await
}

/// Unnames a moderator of a room: its creator or an admin may.
#[utoipa::path(delete, path = "/rooms/{id}/moderators/{username}", operation_id = "unname_moderator", tag = "rooms", security(("bearer" = [])),
    params(("id" = i64, Path, description = "The room's id"), ("username" = String, Path, description = "A member of the room")),
    responses(
        (status = 200, description = "The member's role now", body = ModeratorSet),
        (status = 401, response = Unauthorized),
        (status = 403, response = Forbidden),
        (status = 404, response = NotFound),
        (status = 422, response = Unprocessable),
        (status = 503, response = Unavailable),
    )
)]
pub async fn unname_moderator(
    state: &AppState,
    user: &User,
    room: i64,
    username: String,
) -> Result<Response, ApiError> {
    set_moderator(state, user, room, username, false).await
}

async fn set_moderator(
    state: &AppState,
    user: &User,
    room: i64,
    username: String,
    moderator: bool,
) -> Result<Response, ApiError> {
    let changed = state.chat.set_moderator(user, room, username.clone(), moderator).await?;
    Ok(ok_json(&ModeratorSet { user: username, moderator, changed }))
}

/// Mutes a member in this room: they read it but cannot post until the mute ends. The room's
/// moderators (and admins) may; moderators cannot be muted.
#[utoipa::path(post, path = "/rooms/{id}/mutes", operation_id = "room_mute", tag = "rooms", security(("bearer" = [])),
    params(("id" = i64, Path, description = "The room's id")),
    request_body = RoomMuteBody,
    responses(
        (status = 200, description = "The mute", body = MuteState),
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
pub async fn mute(
    state: &AppState,
    user: &User,
    room: i64,
    req: Request<Incoming>,
) -> Result<Response, ApiError> {
    let body: RoomMuteBody = json_body(state, req).await?;
    let duration = crate::config::parse_duration(&body.duration).ok_or_else(|| ApiError {
        field: Some("for"),
        ..ApiError::new(hyper::StatusCode::UNPROCESSABLE_ENTITY, "A duration is like 90s, 10m, 24h or 7d")
    })?;
    let until = state.chat.room_mute(user, room, body.user.clone(), Some(duration), body.reason).await?;
    Ok(ok_json(&MuteState { user: body.user, until }))
}

/// Ends a member's mute in this room.
#[utoipa::path(delete, path = "/rooms/{id}/mutes/{username}", operation_id = "room_unmute", tag = "rooms", security(("bearer" = [])),
    params(("id" = i64, Path, description = "The room's id"), ("username" = String, Path, description = "A member of the room")),
    responses(
        (status = 200, description = "Not muted any more", body = MuteState),
        (status = 401, response = Unauthorized),
        (status = 403, response = Forbidden),
        (status = 404, response = NotFound),
        (status = 422, response = Unprocessable),
        (status = 503, response = Unavailable),
    )
)]
pub async fn unmute(
    state: &AppState,
    user: &User,
    room: i64,
    username: String,
) -> Result<Response, ApiError> {
    state.chat.room_mute(user, room, username.clone(), None, None).await?;
    Ok(ok_json(&MuteState { user: username, until: None }))
}

/// Changes a room's settings: slow mode (the room's moderators and admins).
#[utoipa::path(patch, path = "/rooms/{id}", operation_id = "room_settings", tag = "rooms", security(("bearer" = [])),
    params(("id" = i64, Path, description = "The room's id")),
    request_body = RoomSettings,
    responses(
        (status = 200, description = "The room", body = RoomInfo),
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
pub async fn settings(
    state: &AppState,
    user: &User,
    room: i64,
    req: Request<Incoming>,
) -> Result<Response, ApiError> {
    let body: RoomSettings = json_body(state, req).await?;
    let room = state.chat.set_slow_mode(user, room, body.slow_mode_secs).await?;
    Ok(ok_json(&RoomInfo::from(room)))
}
