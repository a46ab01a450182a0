//! Conversation routes: the caller's rooms and DMs, the directory, creating, joining, members,
//! history, read markers and notification levels; and the user search behind "start a DM".
//!
//! A private room or DM answers 404 to anyone not in it, exactly like an id that does not exist
//! (the domain decides: `chat::rooms::visible`).

use std::sync::Arc;

use hyper::{body::Incoming, Method, Request, StatusCode};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use crate::{
    chat::living::Seen,
    store::{Member, Message, Notify, Room, RoomKind, RoomView, User},
};

use super::{
    authenticate,
    body::{json_response, ok_json, read_json, Response},
    error::ApiError,
    openapi::{
        BadRequest, Conflict, Forbidden, NotFound, PayloadTooLarge, RequestTimeout, Unauthorized,
        Unavailable, Unprocessable,
    },
    query_i64, query_limit, query_param, AppState,
};

/// A conversation's shared fields (the `room` frame of a change to a room carries only these).
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct RoomInfo {
    id: i64,
    /// `public`, `private` or `dm`.
    #[schema(example = "public")]
    kind: &'static str,
    /// None for DMs.
    name: Option<String>,
    topic: Option<String>,
    /// How many members it has.
    members: i64,
    archived: bool,
    /// The creator's username (None for `general` and rooms the operator made).
    created_by: Option<String>,
    /// Slow mode: one message per this many seconds per member (moderators exempt); 0 is off.
    slow_mode_secs: i64,
}

impl From<Room> for RoomInfo {
    fn from(r: Room) -> Self {
        RoomInfo {
            id: r.id,
            kind: r.kind.as_str(),
            name: r.name,
            topic: r.topic,
            members: r.members,
            archived: r.archived,
            created_by: r.created_by,
            slow_mode_secs: r.slow_mode_secs,
        }
    }
}

/// A conversation as the caller sees it.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct RoomSummary {
    #[serde(flatten)]
    #[schema(inline)]
    info: RoomInfo,
    /// DMs: the other members' usernames; empty for rooms.
    people: Vec<String>,
    /// The newest message's id, 0 when there is none.
    last_message_id: i64,
    joined: bool,
    last_read_id: i64,
    /// Messages by others after `last_read_id`.
    unread: i64,
    /// Unread messages that mention the caller.
    mentions: i64,
    /// `all`, `mentions` or `none`.
    #[schema(example = "all")]
    notify: &'static str,
    /// Whether the caller created the room or was named its moderator (admins moderate every
    /// room besides): their "Reports" queue holds its reports.
    moderator: bool,
}

impl From<RoomView> for RoomSummary {
    fn from(v: RoomView) -> Self {
        RoomSummary {
            info: RoomInfo::from(v.room),
            people: v.people,
            last_message_id: v.last_message_id,
            joined: v.joined,
            last_read_id: v.last_read_id,
            unread: v.unread,
            mentions: v.mentions,
            notify: v.notify.as_str(),
            moderator: v.moderates,
        }
    }
}

/// A room and its members.
#[derive(Serialize, ToSchema)]
pub struct RoomDetails {
    #[serde(flatten)]
    #[schema(inline)]
    summary: RoomSummary,
    member_list: Vec<MemberInfo>,
    /// The caller's role in the room (`member` or `moderator`); null when not a member.
    #[schema(example = "member")]
    my_role: Option<&'static str>,
    /// Whether the caller moderates the room (its creator, a named moderator, or an admin).
    can_moderate: bool,
    /// Whether the caller names and unnames its moderators (its creator, or an admin).
    can_name_moderators: bool,
}

#[derive(Serialize, ToSchema)]
pub struct MemberInfo {
    username: String,
    #[schema(format = DateTime)]
    joined_at: String,
    /// `member` or `moderator` (the creator moderates whatever this says).
    #[schema(example = "member")]
    role: &'static str,
    /// The end of the member's mute in this room, while it runs.
    #[schema(format = DateTime)]
    muted_until: Option<String>,
}

impl From<Member> for MemberInfo {
    fn from(m: Member) -> Self {
        let now = crate::timefmt::now();
        MemberInfo {
            username: m.username,
            joined_at: m.joined_at,
            role: m.role.as_str(),
            muted_until: m.muted_until.filter(|u| *u > now),
        }
    }
}

/// A public room in the directory.
#[derive(Serialize, ToSchema)]
pub struct DirectoryEntry {
    id: i64,
    name: Option<String>,
    topic: Option<String>,
    members: i64,
    archived: bool,
    /// Whether the caller is a member.
    joined: bool,
}

/// A message of a conversation.
#[derive(Serialize, ToSchema)]
pub struct RoomMessage {
    id: i64,
    room: i64,
    /// The sender's username.
    user: String,
    text: String,
    #[schema(format = DateTime, example = "2026-11-23T22:15:00.070Z")]
    timestamp: String,
    /// Members the text mentions.
    mentions: Vec<String>,
    /// The message of the same conversation this one answers.
    reply_to: Option<i64>,
    /// When the text was last edited (null: never).
    #[schema(format = DateTime)]
    edited_at: Option<String>,
    /// Each emoji on the message, in the order first used, with who put it there.
    reactions: Vec<ReactionCount>,
}

/// One emoji on a message.
#[derive(Serialize, ToSchema)]
pub struct ReactionCount {
    #[schema(example = "👍")]
    emoji: String,
    count: usize,
    /// Usernames, in the order they reacted.
    users: Vec<String>,
}

impl ReactionCount {
    pub fn list(reactions: Vec<crate::store::Reaction>) -> Vec<ReactionCount> {
        reactions
            .into_iter()
            .map(|r| ReactionCount { emoji: r.emoji, count: r.users.len(), users: r.users })
            .collect()
    }
}

impl From<Seen> for RoomMessage {
    fn from(Seen { message: m, reactions }: Seen) -> Self {
        RoomMessage {
            id: m.id,
            room: m.room_id,
            user: m.username,
            text: m.content,
            timestamp: m.timestamp,
            mentions: m.mentions,
            reply_to: m.reply_to,
            edited_at: m.edited_at,
            reactions: ReactionCount::list(reactions),
        }
    }
}

impl From<Message> for RoomMessage {
    fn from(message: Message) -> Self {
        RoomMessage::from(Seen { message, reactions: Vec::new() })
    }
}

#[derive(Debug, Clone, Copy, Deserialize, ToSchema)]
#[serde(rename_all = "lowercase")]
pub enum Visibility {
    Public,
    Private,
}

#[derive(Deserialize, ToSchema)]
pub struct NewRoomBody {
    /// 1 to 40 characters, not all blank, no control characters; unique ignoring letter case.
    /// Leading and trailing whitespace is trimmed.
    #[schema(
        min_length = 1,
        max_length = 40,
        pattern = r"^[^\x00-\x1f\x7f-\x9f]*[^\s\x00-\x1f\x7f-\x9f][^\x00-\x1f\x7f-\x9f]*$",
        example = "lobby"
    )]
    name: String,
    /// At most 200 characters, no control characters; empty means none.
    #[schema(max_length = 200, pattern = r"^[^\x00-\x1f\x7f-\x9f]*$")]
    topic: Option<String>,
    visibility: Visibility,
}

#[derive(Deserialize, ToSchema)]
pub struct UsernameBody {
    username: String,
}

#[derive(Deserialize, ToSchema)]
pub struct DmBody {
    /// The other people (1 to 8); the caller is implied.
    #[schema(min_items = 1, max_items = 8)]
    usernames: Vec<String>,
}

#[derive(Deserialize, ToSchema)]
pub struct ReadBody {
    /// The newest message read (a larger id than the room's newest counts as the newest).
    #[serde(deserialize_with = "super::body::integer")]
    message_id: i64,
}

#[derive(Serialize, ToSchema)]
pub struct ReadMarker {
    last_read_id: i64,
}

#[derive(Deserialize, ToSchema)]
pub struct NotifyBody {
    #[schema(inline)]
    level: Level,
}

/// Which messages of a room notify: all, only those that mention you, or none.
#[derive(Deserialize, ToSchema)]
#[serde(rename_all = "lowercase")]
pub enum Level {
    All,
    Mentions,
    None,
}

#[derive(Serialize, ToSchema)]
pub struct UserHit {
    username: String,
}

pub(super) async fn json_body<T: serde::de::DeserializeOwned>(
    state: &AppState,
    req: Request<Incoming>,
) -> Result<T, ApiError> {
    read_json(req.into_body(), state.http.max_body_bytes, state.http.body_timeout).await
}

/// Routes under `/rooms`, `/dms` and `/users`.
pub async fn route(
    state: &Arc<AppState>,
    req: Request<Incoming>,
    segments: &[&str],
) -> Result<Response, ApiError> {
    let method = req.method().clone();
    let id = |s: &str| s.parse::<i64>().map_err(|_| ApiError::not_found());
    let allow = match segments {
        ["rooms"] => "GET, POST",
        ["rooms", "directory"] | ["users"] => "GET",
        ["rooms", _] => "GET, PATCH",
        ["rooms", _, "messages"] => "GET",
        ["rooms", _, "join" | "leave" | "members" | "read"] | ["dms"] => "POST",
        ["rooms", _, "notify"] => "PUT",
        ["rooms", _, "members", _] | ["rooms", _, "mutes", _] => "DELETE",
        ["rooms", _, "moderators", _] => "PUT, DELETE",
        ["rooms", _, "mutes"] => "POST",
        _ => return Err(ApiError::not_found()),
    };
    if let ["rooms", room, ..] = segments {
        if *room != "directory" {
            id(room)?;
        }
    }
    if !allow.split(", ").any(|m| m == method.as_str()) {
        return Err(ApiError::method_not_allowed(allow));
    }
    let user = authenticate(state, &req).await?;
    match (segments, &method) {
        (["rooms"], &Method::GET) => list(state, &user).await,
        (["rooms"], _) => create(state, &user, req).await,
        (["rooms", "directory"], _) => directory(state, &user).await,
        (["users"], _) => search_users(state, &req).await,
        (["dms"], _) => open_dm(state, &user, req).await,
        (["rooms", room], &Method::PATCH) => super::roommod::settings(state, &user, id(room)?, req).await,
        (["rooms", room], _) => details(state, &user, id(room)?).await,
        (["rooms", room, "messages"], _) => history(state, &user, id(room)?, &req).await,
        (["rooms", room, "join"], _) => join(state, &user, id(room)?).await,
        (["rooms", room, "leave"], _) => leave(state, &user, id(room)?).await,
        (["rooms", room, "members"], _) => add_member(state, &user, id(room)?, req).await,
        (["rooms", room, "members", name], _) => {
            remove_member(state, &user, id(room)?, super::percent_decode(name)).await
        }
        (["rooms", room, "moderators", name], &Method::PUT) => {
            super::roommod::name_moderator(state, &user, id(room)?, super::percent_decode(name)).await
        }
        (["rooms", room, "moderators", name], _) => {
            super::roommod::unname_moderator(state, &user, id(room)?, super::percent_decode(name)).await
        }
        (["rooms", room, "mutes"], _) => super::roommod::mute(state, &user, id(room)?, req).await,
        (["rooms", room, "mutes", name], _) => {
            super::roommod::unmute(state, &user, id(room)?, super::percent_decode(name)).await
        }
        (["rooms", room, "read"], _) => read(state, &user, id(room)?, req).await,
        (["rooms", room, "notify"], _) => notify(state, &user, id(room)?, req).await,
        _ => Err(ApiError::not_found()),
    }
}

/// The caller's conversations (hidden DMs left out), most recently active first.
#[utoipa::path(get, path = "/rooms", operation_id = "rooms", tag = "rooms", security(("bearer" = [])),
    responses(
        (status = 200, description = "The caller's rooms and DMs", body = Vec<RoomSummary>),
        (status = 401, response = Unauthorized),
        (status = 403, response = Forbidden),
        (status = 503, response = Unavailable),
    )
)]
pub async fn list(state: &AppState, user: &User) -> Result<Response, ApiError> {
    let views = state.chat.rooms_of(user).await?;
    Ok(ok_json(&views.into_iter().map(RoomSummary::from).collect::<Vec<_>>()))
}

/// Every public room, by name, with whether the caller is in it.
#[utoipa::path(get, path = "/rooms/directory", operation_id = "room_directory", tag = "rooms", security(("bearer" = [])),
    responses(
        (status = 200, description = "Public rooms", body = Vec<DirectoryEntry>),
        (status = 401, response = Unauthorized),
        (status = 403, response = Forbidden),
        (status = 503, response = Unavailable),
    )
)]
pub async fn directory(state: &AppState, user: &User) -> Result<Response, ApiError> {
    let rooms = state.chat.directory(user).await?;
    let out: Vec<DirectoryEntry> = rooms
        .into_iter()
        .map(|(r, joined)| DirectoryEntry {
            id: r.id,
            name: r.name,
            topic: r.topic,
            members: r.members,
            archived: r.archived,
            joined,
        })
        .collect();
    Ok(ok_json(&out))
}

/// Creates a public or private room; the creator is its first member.
#[utoipa::path(post, path = "/rooms", operation_id = "create_room", tag = "rooms", security(("bearer" = [])),
    request_body = NewRoomBody,
    responses(
        (status = 201, description = "The room", body = RoomSummary),
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
pub async fn create(state: &AppState, user: &User, req: Request<Incoming>) -> Result<Response, ApiError> {
    let body: NewRoomBody = json_body(state, req).await?;
    let kind = match body.visibility {
        Visibility::Public => RoomKind::Public,
        Visibility::Private => RoomKind::Private,
    };
    let view = state.chat.create_room(user, body.name, body.topic, kind).await?;
    Ok(json_response(StatusCode::CREATED, &RoomSummary::from(view)))
}

/// A room and its members. 404 for a private room or DM the caller is not in.
#[utoipa::path(get, path = "/rooms/{id}", operation_id = "room", tag = "rooms", security(("bearer" = [])),
    params(("id" = i64, Path, description = "The room's id")),
    responses(
        (status = 200, description = "The room and its member list", body = RoomDetails),
        (status = 401, response = Unauthorized),
        (status = 403, response = Forbidden),
        (status = 404, response = NotFound),
        (status = 503, response = Unavailable),
    )
)]
pub async fn details(state: &AppState, user: &User, room: i64) -> Result<Response, ApiError> {
    let (view, members) = state.chat.room_details(user, room).await?;
    let powers = state.chat.powers(user, view.room.clone()).await?;
    Ok(ok_json(&RoomDetails {
        summary: RoomSummary::from(view),
        member_list: members.into_iter().map(MemberInfo::from).collect(),
        my_role: powers.role.map(|r| r.as_str()),
        can_moderate: powers.moderates,
        can_name_moderators: powers.names_moderators,
    }))
}

/// A room's history: the newest messages older than `before`, oldest first.
#[utoipa::path(get, path = "/rooms/{id}/messages", operation_id = "room_history", tag = "rooms", security(("bearer" = [])),
    params(
        ("id" = i64, Path, description = "The room's id"),
        ("before" = Option<i64>, Query, description = "Only messages with a smaller id; all when absent"),
        ("limit" = Option<i64>, Query, minimum = 1,
            description = "At most this many messages (default 50; larger values count as 200)"),
    ),
    responses(
        (status = 200, description = "Messages, oldest first", body = Vec<RoomMessage>),
        (status = 400, response = BadRequest),
        (status = 401, response = Unauthorized),
        (status = 403, response = Forbidden),
        (status = 404, response = NotFound),
        (status = 503, response = Unavailable),
    )
)]
pub async fn history(
    state: &AppState,
    user: &User,
    room: i64,
    req: &Request<Incoming>,
) -> Result<Response, ApiError> {
    let before = query_i64(req, "before")?;
    let limit = query_limit(req, 50, 200)?;
    let messages = state.chat.room_history(user, room, before, limit).await?;
    Ok(ok_json(&messages.into_iter().map(RoomMessage::from).collect::<Vec<_>>()))
}

/// Joins a public room.
#[utoipa::path(post, path = "/rooms/{id}/join", operation_id = "join_room", tag = "rooms", security(("bearer" = [])),
    params(("id" = i64, Path, description = "The room's id")),
    responses(
        (status = 200, description = "The room", body = RoomSummary),
        (status = 401, response = Unauthorized),
        (status = 403, response = Forbidden),
        (status = 404, response = NotFound),
        (status = 409, response = Conflict),
        (status = 503, response = Unavailable),
    )
)]
pub async fn join(state: &AppState, user: &User, room: i64) -> Result<Response, ApiError> {
    Ok(ok_json(&RoomSummary::from(state.chat.join_room(user, room).await?)))
}

/// Leaves a room; on a DM, hides it until its next message.
#[utoipa::path(post, path = "/rooms/{id}/leave", operation_id = "leave_room", tag = "rooms", security(("bearer" = [])),
    params(("id" = i64, Path, description = "The room's id")),
    responses(
        (status = 200, description = "Left (`{\"left\": true}`)"),
        (status = 401, response = Unauthorized),
        (status = 403, response = Forbidden),
        (status = 404, response = NotFound),
        (status = 503, response = Unavailable),
    )
)]
pub async fn leave(state: &AppState, user: &User, room: i64) -> Result<Response, ApiError> {
    state.chat.leave_room(user, room).await?;
    Ok(ok_json(&serde_json::json!({ "left": true })))
}

/// Adds someone to a private room (any member may).
#[utoipa::path(post, path = "/rooms/{id}/members", operation_id = "add_member", tag = "rooms", security(("bearer" = [])),
    params(("id" = i64, Path, description = "The room's id")),
    request_body = UsernameBody,
    responses(
        (status = 200, description = "The room", body = RoomSummary),
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
pub async fn add_member(
    state: &AppState,
    user: &User,
    room: i64,
    req: Request<Incoming>,
) -> Result<Response, ApiError> {
    let body: UsernameBody = json_body(state, req).await?;
    Ok(ok_json(&RoomSummary::from(state.chat.add_member(user, room, body.username).await?)))
}

/// Removes someone from a private room (its creator or an admin).
#[utoipa::path(delete, path = "/rooms/{id}/members/{username}", operation_id = "remove_member", tag = "rooms", security(("bearer" = [])),
    params(("id" = i64, Path, description = "The room's id"), ("username" = String, Path, description = "Who to remove")),
    responses(
        (status = 200, description = "Removed (`{\"removed\": true}`)"),
        (status = 401, response = Unauthorized),
        (status = 403, response = Forbidden),
        (status = 404, response = NotFound),
        (status = 409, response = Conflict),
        (status = 503, response = Unavailable),
    )
)]
pub async fn remove_member(
    state: &AppState,
    user: &User,
    room: i64,
    username: String,
) -> Result<Response, ApiError> {
    state.chat.remove_member(user, room, username).await?;
    Ok(ok_json(&serde_json::json!({ "removed": true })))
}

/// Opens the DM of the caller and these people, creating it the first time.
#[utoipa::path(post, path = "/dms", operation_id = "open_dm", tag = "rooms", security(("bearer" = [])),
    request_body = DmBody,
    responses(
        (status = 200, description = "The DM", body = RoomSummary),
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
pub async fn open_dm(state: &AppState, user: &User, req: Request<Incoming>) -> Result<Response, ApiError> {
    let body: DmBody = json_body(state, req).await?;
    if body.usernames.len() > crate::chat::rooms::DM_OTHERS_MAX * 4 {
        return Err(ApiError::new(StatusCode::UNPROCESSABLE_ENTITY, "A DM holds at most 9 people"));
    }
    Ok(ok_json(&RoomSummary::from(state.chat.open_dm(user, body.usernames).await?)))
}

/// Moves the caller's read marker forward (never back; at most to the newest message).
#[utoipa::path(post, path = "/rooms/{id}/read", operation_id = "mark_read", tag = "rooms", security(("bearer" = [])),
    params(("id" = i64, Path, description = "The room's id")),
    request_body = ReadBody,
    responses(
        (status = 200, description = "The marker now", body = ReadMarker),
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
pub async fn read(
    state: &AppState,
    user: &User,
    room: i64,
    req: Request<Incoming>,
) -> Result<Response, ApiError> {
    let body: ReadBody = json_body(state, req).await?;
    let last_read_id = state.chat.mark_read(user, room, body.message_id).await?;
    Ok(ok_json(&ReadMarker { last_read_id }))
}

/// Sets which messages of a room notify the caller.
#[utoipa::path(put, path = "/rooms/{id}/notify", operation_id = "set_notify", tag = "rooms", security(("bearer" = [])),
    params(("id" = i64, Path, description = "The room's id")),
    request_body = NotifyBody,
    responses(
        (status = 200, description = "The room", body = RoomSummary),
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
pub async fn notify(
    state: &AppState,
    user: &User,
    room: i64,
    req: Request<Incoming>,
) -> Result<Response, ApiError> {
    let body: NotifyBody = json_body(state, req).await?;
    let level = match body.level {
        Level::All => Notify::All,
        Level::Mentions => Notify::Mentions,
        Level::None => Notify::None,
    };
    Ok(ok_json(&RoomSummary::from(state.chat.set_notify(user, room, level).await?)))
}

/// Usernames starting with `q` (for starting a DM), at most 20.
#[utoipa::path(get, path = "/users", operation_id = "search_users", tag = "rooms", security(("bearer" = [])),
    params(("q" = Option<String>, Query, description = "The start of a username (letter case ignored); all when absent")),
    responses(
        (status = 200, description = "Matching usernames, by name", body = Vec<UserHit>),
        (status = 401, response = Unauthorized),
        (status = 403, response = Forbidden),
        (status = 503, response = Unavailable),
    )
)]
pub async fn search_users(state: &AppState, req: &Request<Incoming>) -> Result<Response, ApiError> {
    let q: String = query_param(req, "q").unwrap_or_default().trim().chars().take(32).collect();
    let names = state.chat.usernames_starting(q, 20).await?;
    Ok(ok_json(&names.into_iter().map(|username| UserHit { username }).collect::<Vec<_>>()))
}
