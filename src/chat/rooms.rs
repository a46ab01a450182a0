//! Conversations: public rooms, private rooms and direct messages, their members, read markers,
//! notification levels and mentions.
//!
//! The rules live in the synchronous functions over a `Store`, which the operator commands call
//! directly; `Chat`'s async methods run the same functions on a blocking thread and then ring the
//! log tailer, so the daemon's sockets hear about the change at once (a change made by the CLI
//! in another process is found by the tailer's poll within a second).
//!
//! Privacy: a private room or a DM is, for anyone not in it, exactly like an id that does not
//! exist (`ChatError::RoomNotFound`), in every path. Only the creator's and admins' removals and
//! an admin's archiving act on a private room from outside.

use crate::store::{
    Member, Message, NewRoom, Notify, Room, RoomKind, RoomRole, RoomStats, RoomView, Store, StoreError, User,
    GENERAL_ROOM,
};

use super::{
    error::{ChatError, Result},
    Chat,
};

pub const NAME_MAX: usize = 40;
pub const TOPIC_MAX: usize = 200;
/// A DM holds its creator and at most this many others (9 people in all).
pub const DM_OTHERS_MAX: usize = 8;
/// Mentions looked up per message; more `@` words than this are ordinary text.
const MENTIONS_MAX: usize = 20;

fn invalid(field: &'static str, detail: impl Into<String>) -> ChatError {
    ChatError::Invalid { field, detail: detail.into() }
}

fn not_found(e: StoreError) -> ChatError {
    match e {
        StoreError::RoomNotFound => ChatError::RoomNotFound,
        other => other.into(),
    }
}

/// How room names compare: case-insensitively in every script.
pub fn name_key(name: &str) -> String {
    name.trim().to_lowercase()
}

/// Trims and checks a room name.
pub fn validate_name(name: &str) -> Result<String> {
    let name = name.trim();
    let len = name.chars().count();
    if len == 0 || super::text::is_blank(name) {
        return Err(invalid("name", "A room needs a name"));
    }
    if len > NAME_MAX {
        return Err(invalid("name", format!("A room name has at most {NAME_MAX} characters")));
    }
    if name.chars().any(char::is_control) {
        return Err(invalid("name", "A room name cannot contain control characters"));
    }
    Ok(name.to_string())
}

/// Trims a topic; empty means none.
pub fn validate_topic(topic: Option<&str>) -> Result<Option<String>> {
    let Some(topic) = topic.map(str::trim).filter(|t| !t.is_empty()) else { return Ok(None) };
    if topic.chars().count() > TOPIC_MAX {
        return Err(invalid("topic", format!("A topic has at most {TOPIC_MAX} characters")));
    }
    if topic.chars().any(char::is_control) {
        return Err(invalid("topic", "A topic cannot contain control characters"));
    }
    Ok(Some(topic.to_string()))
}

/// The names a text mentions as `@name`, lower-cased: the `@` must start a word (an e-mail
/// address mentions nobody), and a name ends where username characters end. A name followed by
/// sentence punctuation (`@bob.`) is tried with and without it.
pub fn mention_candidates(text: &str) -> Vec<String> {
    let is_name = |c: char| c.is_ascii_alphanumeric() || matches!(c, '_' | '.' | '-');
    let mut out: Vec<String> = Vec::new();
    let mut prev: Option<char> = None;
    for (i, c) in text.char_indices() {
        let starts_word = prev.is_none_or(|p| !(p.is_alphanumeric() || p == '_'));
        prev = Some(c);
        if c != '@' || !starts_word {
            continue;
        }
        let rest = &text[i + 1..];
        let end = rest.find(|c: char| !is_name(c)).unwrap_or(rest.len());
        let name = &rest[..end];
        for candidate in [name, name.trim_end_matches(['.', '-', '_'])] {
            let candidate = candidate.to_ascii_lowercase();
            if !candidate.is_empty() && !out.contains(&candidate) && out.len() < MENTIONS_MAX {
                out.push(candidate);
            }
        }
    }
    out
}

/// Who is acting: an account, or the operator at a shell (who may do what an admin may).
#[derive(Debug, Clone, Copy)]
pub enum Actor<'a> {
    User(&'a User),
    Operator,
}

/// The room as `user` sees it, if they may see it at all.
pub fn visible(store: &dyn Store, user: &User, room_id: i64) -> Result<RoomView> {
    let view = store.room_view(user.id, room_id)?.ok_or(ChatError::RoomNotFound)?;
    if view.room.kind != RoomKind::Public && !view.joined {
        return Err(ChatError::RoomNotFound);
    }
    Ok(view)
}

/// Whether `user` moderates the room: admins everywhere; otherwise a member who created the room
/// or whom its creator or an admin named moderator, and only while still a member. DMs have no
/// moderators (admins only). A missing room is false: callers that must hide private rooms from
/// non-members check `visible` first, as every route does.
pub fn may_moderate(store: &dyn Store, user: &User, room_id: i64) -> Result<bool> {
    if user.is_admin {
        return Ok(true);
    }
    let Some(role) = store.member_role(room_id, user.id)? else { return Ok(false) };
    if role == RoomRole::Moderator {
        return Ok(store.room(room_id)?.is_some_and(|r| r.kind != RoomKind::Dm));
    }
    Ok(store.room(room_id)?.is_some_and(|r| is_creator(&r, user)))
}

/// Whether `user` created the room (DMs have a creator too, who is no moderator for it).
fn is_creator(room: &Room, user: &User) -> bool {
    room.kind != RoomKind::Dm && room.created_by.as_deref() == Some(user.username.as_str())
}

/// The room if `user` is a member (public rooms included).
fn membership(store: &dyn Store, user: &User, room_id: i64) -> Result<RoomView> {
    let view = visible(store, user, room_id)?;
    if !view.joined {
        return Err(ChatError::Forbidden("Join this room first"));
    }
    Ok(view)
}

pub fn create_room(
    store: &dyn Store,
    creator: Option<&User>,
    name: &str,
    topic: Option<&str>,
    kind: RoomKind,
) -> Result<Room> {
    if kind == RoomKind::Dm {
        return Err(invalid("visibility", "Start a DM with its people instead"));
    }
    let name = validate_name(name)?;
    let topic = validate_topic(topic)?;
    let key = name_key(&name);
    let members: Vec<i64> = creator.map(|u| u.id).into_iter().collect();
    let new = NewRoom {
        kind,
        name: Some(&name),
        name_key: Some(&key),
        topic: topic.as_deref(),
        created_by: creator.map(|u| u.id),
        members: &members,
        timestamp: &crate::timefmt::now(),
    };
    store.create_room(&new).map_err(|e| match e {
        StoreError::Conflict(_) => {
            ChatError::Conflict { field: "name", detail: "A room with this name already exists".into() }
        }
        other => other.into(),
    })
}

/// Finds a room for the operator by name, or by id written `#ID` (several private rooms may
/// share a name; DMs have none).
pub fn room_by_name(store: &dyn Store, name: &str) -> Result<Room> {
    if let Some(id) = name.trim().strip_prefix('#').and_then(|id| id.parse::<i64>().ok()) {
        return match store.room(id)? {
            Some(room) if room.kind != RoomKind::Dm => Ok(room),
            _ => Err(ChatError::RoomNotFound),
        };
    }
    let mut rooms = store.rooms_by_name_key(&name_key(name))?;
    match rooms.len() {
        0 => Err(ChatError::RoomNotFound),
        1 => Ok(rooms.remove(0)),
        n => Err(ChatError::Conflict {
            field: "name",
            detail: format!(
                "{n} rooms are named {:?}; name one by its id, as #ID (ids: {})",
                name.trim(),
                rooms.iter().map(|r| format!("#{}", r.id)).collect::<Vec<_>>().join(", ")
            ),
        }),
    }
}

pub fn open_dm(store: &dyn Store, user: &User, usernames: &[String]) -> Result<Room> {
    let mut ids = vec![user.id];
    for name in usernames {
        let other =
            store.user_by_username(name.trim())?.ok_or_else(|| ChatError::UnknownUser(name.clone()))?;
        if !ids.contains(&other.id) {
            ids.push(other.id);
        }
    }
    if ids.len() < 2 {
        return Err(invalid("usernames", "A DM needs at least one other person"));
    }
    if ids.len() > DM_OTHERS_MAX + 1 {
        return Err(invalid("usernames", format!("A DM holds at most {} people", DM_OTHERS_MAX + 1)));
    }
    ids.sort_unstable();
    Ok(store.open_dm(&ids, user.id, &crate::timefmt::now())?.0)
}

pub fn join(store: &dyn Store, user: &User, room_id: i64) -> Result<()> {
    let view = visible(store, user, room_id)?;
    if view.joined {
        return Ok(());
    }
    if view.room.kind != RoomKind::Public {
        return Err(ChatError::RoomNotFound);
    }
    if view.room.archived {
        return Err(ChatError::Archived);
    }
    store.add_member(room_id, user.id, &crate::timefmt::now()).map_err(not_found)?;
    Ok(())
}

/// Leaves a room; on a DM, hides it until its next message.
pub fn leave(store: &dyn Store, user: &User, room_id: i64) -> Result<()> {
    let view = visible(store, user, room_id)?;
    let now = crate::timefmt::now();
    match view.room.kind {
        RoomKind::Dm => store.hide_room(room_id, user.id, &now)?,
        _ => store.remove_member(room_id, user.id, &now)?,
    };
    Ok(())
}

/// Adds someone to a private room: any member may. Returns the account and whether it was not a
/// member yet.
pub fn add_member(store: &dyn Store, actor: Actor<'_>, room_id: i64, username: &str) -> Result<(User, bool)> {
    let room = match actor {
        Actor::User(u) => membership(store, u, room_id)?.room,
        Actor::Operator => store.room(room_id)?.ok_or(ChatError::RoomNotFound)?,
    };
    match room.kind {
        RoomKind::Private => {}
        RoomKind::Public => {
            return Err(ChatError::Conflict {
                field: "username",
                detail: "Anyone can join a public room; there is nobody to add".into(),
            })
        }
        RoomKind::Dm => {
            return Err(ChatError::Conflict {
                field: "username",
                detail: "Nobody can be added to a DM; start a new one with everyone".into(),
            })
        }
    }
    let user = store
        .user_by_username(username.trim())?
        .ok_or_else(|| ChatError::UnknownUser(username.to_string()))?;
    let added = store.add_member(room_id, user.id, &crate::timefmt::now()).map_err(not_found)?;
    Ok((user, added))
}

/// Removes someone from a private room: its moderators (its creator among them) or an admin (or
/// the operator).
pub fn remove_member(store: &dyn Store, actor: Actor<'_>, room_id: i64, username: &str) -> Result<User> {
    let room = store.room(room_id)?.ok_or(ChatError::RoomNotFound)?;
    if let Actor::User(u) = actor {
        if room.kind != RoomKind::Public && !u.is_admin && !store.is_member(room_id, u.id)? {
            return Err(ChatError::RoomNotFound);
        }
    }
    if room.kind != RoomKind::Private {
        return Err(ChatError::Conflict {
            field: "username",
            detail: "Only members of private rooms are removed; others leave by themselves".into(),
        });
    }
    // The room's moderators (its creator among them) and admins remove people.
    let moderates = match actor {
        Actor::User(u) => may_moderate(store, u, room_id)?,
        Actor::Operator => true,
    };
    if !moderates {
        return Err(ChatError::Forbidden("Only the room's moderators or an admin can remove people"));
    }
    let user = store
        .user_by_username(username.trim())?
        .ok_or_else(|| ChatError::UnknownUser(username.to_string()))?;
    if !store.remove_member(room_id, user.id, &crate::timefmt::now())? {
        return Err(ChatError::UnknownUser(username.to_string()));
    }
    Ok(user)
}

pub fn set_archived(store: &dyn Store, room_id: i64, archived: bool) -> Result<(Room, bool)> {
    let room = store.room(room_id)?.ok_or(ChatError::RoomNotFound)?;
    if room.kind == RoomKind::Dm {
        return Err(ChatError::RoomNotFound);
    }
    let changed = store.set_archived(room_id, archived, &crate::timefmt::now())?;
    let room = store.room(room_id)?.ok_or(ChatError::RoomNotFound)?;
    Ok((room, changed))
}

/// The rooms new accounts join, by name (`general` always): for `serve --auto-join`.
pub fn set_auto_join(store: &dyn Store, names: &[String]) -> Result<Vec<Room>> {
    let rooms = names.iter().map(|n| room_by_name(store, n)).collect::<Result<Vec<_>>>()?;
    if let Some(r) = rooms.iter().find(|r| r.kind != RoomKind::Public) {
        return Err(invalid(
            "auto-join",
            format!("{} is not a public room", r.name.as_deref().unwrap_or("?")),
        ));
    }
    store.set_auto_join(&rooms.iter().map(|r| r.id).collect::<Vec<_>>())?;
    Ok(rooms)
}

impl Chat {
    /// Runs a store call that writes to the log, then has the tailer deliver it before
    /// answering: the change reaches sockets now rather than at the next poll, and a client that
    /// joins a room and posts at once finds the hub already counting it in.
    pub(super) async fn logged<T, F>(&self, f: F) -> Result<T>
    where
        F: FnOnce(&dyn Store) -> Result<T> + Send + 'static,
        T: Send + 'static,
    {
        let out = if self.store.one_writer() { self.writer.write(f).await } else { self.blocking(f).await };
        self.log.sync().await;
        out
    }

    pub async fn rooms_of(&self, user: &User) -> Result<Vec<RoomView>> {
        let id = user.id;
        self.blocking(move |s| Ok(s.room_views(id)?)).await
    }

    pub async fn directory(&self, user: &User) -> Result<Vec<(Room, bool)>> {
        let id = user.id;
        self.blocking(move |s| Ok(s.directory(id)?)).await
    }

    /// The room and its members, for someone who may see it.
    pub async fn room_details(&self, user: &User, room_id: i64) -> Result<(RoomView, Vec<Member>)> {
        let user = user.clone();
        self.blocking(move |s| {
            let view = visible(s, &user, room_id)?;
            Ok((view, s.room_members(room_id)?))
        })
        .await
    }

    pub async fn room_view(&self, user: &User, room_id: i64) -> Result<RoomView> {
        let user = user.clone();
        self.blocking(move |s| visible(s, &user, room_id)).await
    }

    pub async fn create_room(
        &self,
        user: &User,
        name: String,
        topic: Option<String>,
        kind: RoomKind,
    ) -> Result<RoomView> {
        let user = user.clone();
        self.logged(move |s| {
            let room = create_room(s, Some(&user), &name, topic.as_deref(), kind)?;
            tracing::info!(user = %user.username, room = room.id, kind = kind.as_str(), "room created");
            visible(s, &user, room.id)
        })
        .await
    }

    pub async fn open_dm(&self, user: &User, usernames: Vec<String>) -> Result<RoomView> {
        let user = user.clone();
        self.logged(move |s| {
            let room = open_dm(s, &user, &usernames)?;
            visible(s, &user, room.id)
        })
        .await
    }

    pub async fn join_room(&self, user: &User, room_id: i64) -> Result<RoomView> {
        let user = user.clone();
        self.logged(move |s| {
            join(s, &user, room_id)?;
            visible(s, &user, room_id)
        })
        .await
    }

    pub async fn leave_room(&self, user: &User, room_id: i64) -> Result<()> {
        let user = user.clone();
        self.logged(move |s| leave(s, &user, room_id)).await
    }

    pub async fn add_member(&self, actor: &User, room_id: i64, username: String) -> Result<RoomView> {
        let actor = actor.clone();
        self.logged(move |s| {
            add_member(s, Actor::User(&actor), room_id, &username)?;
            visible(s, &actor, room_id)
        })
        .await
    }

    pub async fn remove_member(&self, actor: &User, room_id: i64, username: String) -> Result<()> {
        let actor = actor.clone();
        self.logged(move |s| remove_member(s, Actor::User(&actor), room_id, &username).map(|_| ())).await
    }

    pub async fn room_history(
        &self,
        user: &User,
        room_id: i64,
        before: Option<i64>,
        limit: usize,
    ) -> Result<Vec<super::living::Seen>> {
        let user = user.clone();
        self.blocking(move |s| {
            visible(s, &user, room_id)?;
            super::living::with_reactions(s, s.messages_before(room_id, before, limit)?)
        })
        .await
    }

    pub async fn mark_read(&self, user: &User, room_id: i64, message_id: i64) -> Result<i64> {
        let user = user.clone();
        self.logged(move |s| {
            membership(s, &user, room_id)?;
            s.mark_read(room_id, user.id, message_id, &crate::timefmt::now()).map_err(not_found)
        })
        .await
    }

    pub async fn set_notify(&self, user: &User, room_id: i64, level: Notify) -> Result<RoomView> {
        let user = user.clone();
        self.blocking(move |s| {
            membership(s, &user, room_id)?;
            s.set_notify(room_id, user.id, level)?;
            visible(s, &user, room_id)
        })
        .await
    }

    pub async fn set_archived(&self, admin: &User, room_id: i64, archived: bool) -> Result<Room> {
        let name = admin.username.clone();
        self.logged(move |s| {
            let (room, changed) = set_archived(s, room_id, archived)?;
            if changed {
                tracing::info!(admin = %name, room = room_id, archived, "room archive changed");
            }
            Ok(room)
        })
        .await
    }

    pub async fn room_stats(&self) -> Result<Vec<RoomStats>> {
        self.blocking(|s| Ok(s.room_stats()?)).await
    }

    pub async fn usernames_starting(&self, prefix: String, limit: usize) -> Result<Vec<String>> {
        self.blocking(move |s| Ok(s.usernames_starting(&prefix, limit)?)).await
    }

    /// A public room for an admin's live view.
    pub async fn public_room(&self, room_id: i64) -> Result<Room> {
        let room = self.blocking(move |s| Ok(s.room(room_id)?)).await?.ok_or(ChatError::RoomNotFound)?;
        if room.kind != RoomKind::Public {
            return Err(ChatError::RoomNotFound);
        }
        Ok(room)
    }

    /// The history of `general`, which every signed-in account may read (the original's one
    /// room).
    pub async fn general_history(&self, before: Option<i64>, limit: usize) -> Result<Vec<Message>> {
        self.blocking(move |s| Ok(s.messages_before(GENERAL_ROOM, before, limit)?)).await
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn mentions_start_a_word_and_end_with_the_name() {
        assert_eq!(mention_candidates("hi @Bob, and @carol."), vec!["bob", "carol.", "carol"]);
        assert!(mention_candidates("mail bob@example.com").is_empty());
        assert_eq!(mention_candidates("@dave"), vec!["dave"]);
        assert!(mention_candidates("@ nobody").is_empty());
    }

    #[test]
    fn room_names_are_trimmed_bounded_and_printable() {
        assert_eq!(validate_name("  Lobby ").unwrap(), "Lobby");
        assert!(validate_name("").is_err());
        assert!(validate_name("\u{200b}").is_err());
        assert!(validate_name(&"x".repeat(41)).is_err());
        assert!(validate_name("a\u{7}b").is_err());
        assert_eq!(name_key("Ünïcode"), name_key("üNÏCODE"));
    }
}
