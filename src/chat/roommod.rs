//! Room moderation: a room's moderators (its creator, and members its creator or an admin
//! names) delete its messages, mute its members in it, remove members of a private room and set
//! slow mode; admins may do all of it everywhere. Who may is `rooms::may_moderate`, the one check.
//!
//! Mutes and slow mode are enforced by the store in the writing transaction (`RoomGate`), so
//! they hold on every instance at once; each act here writes its log entry and audit row in the
//! act's own transaction.

use std::time::Duration;

use crate::store::{Action, Audit, Room, RoomKind, RoomRole, Store, User};

use super::{
    error::{ChatError, Result},
    rooms::{self, may_moderate, Actor},
    Chat,
};

/// Slow mode's longest interval: an hour between messages.
pub const SLOW_MODE_MAX: i64 = 3600;
/// A room mute's longest run: 9999 days, the most the duration's four digits say.
pub const MUTE_MAX: Duration = Duration::from_secs(9999 * 86_400);

/// A room mute's end as the log carries it (Unix milliseconds, 0: none), in the store's format.
pub fn mute_end(until_ms: i64) -> Option<String> {
    if until_ms <= 0 {
        return None;
    }
    let t = time::OffsetDateTime::from_unix_timestamp_nanos(i128::from(until_ms) * 1_000_000).ok()?;
    Some(crate::timefmt::format(t))
}

/// What the muted member reads (the `muted` frame's `text`).
pub fn mute_text(until: Option<&str>) -> String {
    match until {
        Some(until) => {
            format!("A moderator muted you in this room until {until}: you can read it but not post")
        }
        None => "Your mute in this room has ended: you can post again".to_string(),
    }
}

/// The room an act of moderation concerns, for `user`: a private room or DM they cannot see is
/// a missing id (admins see every room); a DM has no moderators.
fn moderated(store: &dyn Store, user: &User, room_id: i64) -> Result<Room> {
    let room = if user.is_admin {
        store.room(room_id)?.ok_or(ChatError::RoomNotFound)?
    } else {
        rooms::visible(store, user, room_id)?.room
    };
    if room.kind == RoomKind::Dm {
        return Err(ChatError::Forbidden("A DM has no moderators"));
    }
    if !may_moderate(store, user, room_id)? {
        return Err(ChatError::Forbidden("Only this room's moderators can do that"));
    }
    Ok(room)
}

fn member_named(store: &dyn Store, username: &str) -> Result<User> {
    store.user_by_username(username.trim())?.ok_or_else(|| ChatError::UnknownUser(username.to_string()))
}

/// An account that is not in the room is answered like an unknown one, as a removal does.
fn not_member(user: &User) -> ChatError {
    ChatError::UnknownUser(user.username.clone())
}

/// Names (`moderator`) or unnames a moderator: the room's creator, an admin or the operator may.
/// Returns the account and whether anything changed.
pub fn set_moderator(
    store: &dyn Store,
    actor: Actor<'_>,
    room_id: i64,
    username: &str,
    moderator: bool,
) -> Result<(User, bool)> {
    let (name, actor_id) = match actor {
        Actor::User(actor) => {
            let room = moderated(store, actor, room_id)?;
            let creator = room.created_by.as_deref() == Some(actor.username.as_str());
            if !actor.is_admin && !creator {
                return Err(ChatError::Forbidden("Only the room's creator or an admin names its moderators"));
            }
            (actor.username.as_str(), Some(actor.id))
        }
        Actor::Operator => {
            let room = store.room(room_id)?.ok_or(ChatError::RoomNotFound)?;
            if room.kind == RoomKind::Dm {
                return Err(ChatError::Forbidden("A DM has no moderators"));
            }
            (super::accounts::CLI_ACTOR, None)
        }
    };
    let user = member_named(store, username)?;
    let role = if moderator { RoomRole::Moderator } else { RoomRole::Member };
    let now = crate::timefmt::now();
    let audit = Audit {
        actor_id,
        room_id: Some(room_id),
        text: Some(role.as_str()),
        ..Audit::new(Some(user.id), Action::Moderator, name, &now)
    };
    let changed = store.set_member_role(room_id, user.id, role, &audit)?.ok_or_else(|| not_member(&user))?;
    Ok((user, changed))
}

/// Mutes a member in the room for `duration` (None: unmutes). Nobody mutes a moderator of the
/// room, nor themselves. Returns the account and the mute's end.
pub fn mute(
    store: &dyn Store,
    actor: &User,
    room_id: i64,
    username: &str,
    duration: Option<Duration>,
    reason: Option<&str>,
) -> Result<(User, Option<String>)> {
    moderated(store, actor, room_id)?;
    let user = member_named(store, username)?;
    let until = match duration {
        Some(d) => {
            if d > MUTE_MAX {
                return Err(ChatError::Invalid {
                    field: "for",
                    detail: "A room mute lasts at most 365 days".into(),
                });
            }
            if user.id == actor.id || may_moderate(store, &user, room_id)? {
                return Err(ChatError::Forbidden("Moderators of a room cannot be muted in it"));
            }
            let end = time::OffsetDateTime::now_utc() + d;
            Some(crate::timefmt::format(end))
        }
        None => None,
    };
    let reason = reason.map(str::trim).filter(|r| !r.is_empty());
    if reason.is_some_and(|r| r.chars().count() > 500) {
        return Err(ChatError::Invalid {
            field: "reason",
            detail: "A reason has at most 500 characters".into(),
        });
    }
    let now = crate::timefmt::now();
    let action = if until.is_some() { Action::Mute } else { Action::Unmute };
    let audit = Audit {
        actor_id: Some(actor.id),
        room_id: Some(room_id),
        until: until.as_deref(),
        reason,
        ..Audit::new(Some(user.id), action, &actor.username, &now)
    };
    store.set_room_mute(room_id, user.id, until.as_deref(), &audit)?.ok_or_else(|| not_member(&user))?;
    Ok((user, until))
}

/// Sets the room's slow mode: one message per `secs` seconds per member (0: off).
pub fn set_slow_mode(store: &dyn Store, actor: &User, room_id: i64, secs: i64) -> Result<Room> {
    if !(0..=SLOW_MODE_MAX).contains(&secs) {
        return Err(ChatError::Invalid {
            field: "slow_mode_secs",
            detail: format!("Slow mode is between 0 (off) and {SLOW_MODE_MAX} seconds"),
        });
    }
    moderated(store, actor, room_id)?;
    let now = crate::timefmt::now();
    let text = secs.to_string();
    let audit = Audit {
        actor_id: Some(actor.id),
        room_id: Some(room_id),
        text: Some(&text),
        ..Audit::new(None, Action::SlowMode, &actor.username, &now)
    };
    store.set_slow_mode(room_id, secs, &audit)?;
    store.room(room_id)?.ok_or(ChatError::RoomNotFound)
}

/// What the caller may do in a room they see: their role (None: not a member), whether they
/// moderate it, and whether they name its moderators.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Powers {
    pub role: Option<RoomRole>,
    pub moderates: bool,
    pub names_moderators: bool,
}

pub fn powers(store: &dyn Store, user: &User, room: &Room) -> Result<Powers> {
    let role = store.member_role(room.id, user.id)?;
    let moderates = room.kind != RoomKind::Dm && may_moderate(store, user, room.id)?;
    let creator = role.is_some() && room.created_by.as_deref() == Some(user.username.as_str());
    Ok(Powers { role, moderates, names_moderators: moderates && (user.is_admin || creator) })
}

impl Chat {
    pub async fn set_moderator(
        &self,
        actor: &User,
        room_id: i64,
        username: String,
        on: bool,
    ) -> Result<bool> {
        let actor = actor.clone();
        self.logged(move |s| {
            let (user, changed) = set_moderator(s, Actor::User(&actor), room_id, &username, on)?;
            if changed {
                tracing::info!(actor = %actor.username, user = %user.username, room = room_id, moderator = on, "room moderator changed");
            }
            Ok(changed)
        })
        .await
    }

    pub async fn room_mute(
        &self,
        actor: &User,
        room_id: i64,
        username: String,
        duration: Option<Duration>,
        reason: Option<String>,
    ) -> Result<Option<String>> {
        let actor = actor.clone();
        self.logged(move |s| {
            let (user, until) = mute(s, &actor, room_id, &username, duration, reason.as_deref())?;
            tracing::info!(actor = %actor.username, user = %user.username, room = room_id, until = ?until, "room mute");
            Ok(until)
        })
        .await
    }

    pub async fn set_slow_mode(&self, actor: &User, room_id: i64, secs: i64) -> Result<Room> {
        let actor = actor.clone();
        self.logged(move |s| set_slow_mode(s, &actor, room_id, secs)).await
    }

    pub async fn powers(&self, user: &User, room: Room) -> Result<Powers> {
        let user = user.clone();
        self.blocking(move |s| powers(s, &user, &room)).await
    }
}
