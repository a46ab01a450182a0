//! Errors of the domain layer: what went wrong in words a user or operator can act on.

use std::time::Duration;

use crate::store::StoreError;

#[derive(Debug, thiserror::Error)]
pub enum ChatError {
    /// A form field failed validation; `field` names it for the UI.
    #[error("{detail}")]
    Invalid { field: &'static str, detail: String },
    /// Query parameters that cannot be understood (a search's `q`, `limit`, bounds).
    #[error("{0}")]
    BadQuery(String),
    #[error("{detail}")]
    Conflict { field: &'static str, detail: String },
    /// One message whether or not the account exists, so logins reveal nothing.
    #[error("Invalid username or password")]
    BadCredentials,
    #[error("Not authenticated: {0}")]
    Unauthenticated(&'static str),
    #[error(
        "This account is blocked after repeated violations of the chat rules. Contact an administrator."
    )]
    Blocked,
    #[error("Admin access required")]
    NotAdmin,
    #[error("no user named {0:?}")]
    UnknownUser(String),
    #[error("no user with id {0}")]
    UnknownUserId(i64),
    /// Also for a private room or DM the caller is not in: its existence is not revealed.
    #[error("No such room")]
    RoomNotFound,
    /// Also for a message in a conversation the caller is not in, or one deleted.
    #[error("No such message")]
    MessageNotFound,
    /// A report, an appeal: a missing id, or one the caller may not see.
    #[error("{0}")]
    NotFound(&'static str),
    /// A bound on open requests of one account (reports waiting for a handler).
    #[error("{0}")]
    TooMany(String),
    /// A blocked account signed in with the right password: what it may do about the block.
    #[error(
        "This account is blocked after repeated violations of the chat rules. Contact an administrator."
    )]
    BlockedSignIn(Box<super::appeals::AppealOffer>),
    /// A moderation term on neither list.
    #[error("no such term")]
    TermNotFound,
    /// The moderation webhook did not answer and `--moderation-webhook-fail closed` refuses.
    #[error("moderation is unavailable, try again")]
    ModerationUnavailable,
    #[error("This room is archived: nobody can post in it")]
    Archived,
    /// The account is muted (by the moderation ladder or an admin) until then (RFC 3339): it
    /// reads everything and cannot post, edit or react.
    #[error("You are muted until {until}")]
    Muted { until: String },
    /// Signed in, but this action is not theirs to take.
    #[error("{0}")]
    Forbidden(&'static str),
    #[error("Too many attempts; try again in {} s", .0.as_secs().max(1))]
    RateLimited(Duration),
    /// A room moderator muted the sender in this room until then.
    #[error("You are muted in this room until {until}")]
    MutedInRoom { room: i64, until: String },
    /// The room's slow mode: wait this long before the next message.
    #[error("Slow mode is on in this room: wait {} s before your next message", .0.as_secs().max(1))]
    SlowMode(Duration),
    /// Too many logins and registrations are already waiting for password hashing.
    #[error("The server is busy signing other people in; try again in a few seconds")]
    Overloaded,
    #[error("The server is shutting down")]
    ShuttingDown,
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error("internal error: {0}")]
    Internal(String),
}

impl From<tokio::task::JoinError> for ChatError {
    fn from(e: tokio::task::JoinError) -> Self {
        ChatError::Internal(format!("background task failed: {e}"))
    }
}

pub type Result<T, E = ChatError> = std::result::Result<T, E>;
