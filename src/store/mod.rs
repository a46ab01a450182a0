//! Persistence: the `Store` trait the domain talks to, its records, and its two backends: SQLite
//! (the embedded default) and PostgreSQL (`--database-url`, for several instances).
//!
//! This is the only module that knows SQL exists. The trait is synchronous on purpose: SQLite is a
//! blocking library, and the async daemon runs every call on a blocking thread (see
//! `chat::State::blocking`), so the PostgreSQL backend implements the same trait with the
//! blocking `postgres` client without `http` or `chat` changing.

pub mod migrations;
mod postgres;
mod shared;
mod sqlite;
pub mod transfer;

pub use self::postgres::PgStore;
pub use sqlite::{backup, SqliteDump, SqliteStore};

use serde::Serialize;

/// Errors of the persistence layer. The variants are what callers must tell apart; the text of
/// `Database` is for logs only (it can name tables and paths, so it never reaches a client).
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// A unique constraint rejected the write; the field is `"username"` or `"email"` (also when
    /// it was the look-alike key of either that collided), or `"name"` for a room.
    #[error("{0} already exists")]
    Conflict(&'static str),
    #[error("no such user")]
    UserNotFound,
    #[error("no such room")]
    RoomNotFound,
    /// The database is busy beyond the busy timeout (another process holds a long write).
    #[error("the database is locked by another process; try again")]
    Busy,
    #[error("the database is read-only: {0}")]
    ReadOnly(String),
    #[error("the disk holding the database is full")]
    DiskFull,
    /// The database server cannot be reached (refused, lost, shutting down); worth retrying.
    #[error("the database is unavailable: {0}")]
    Unavailable(String),
    #[error("no database at {0} (run `chatterbox migrate` to create one)")]
    Missing(String),
    #[error("{0}")]
    Schema(String),
    /// A caller-supplied row callback failed (for example the output pipe closed).
    #[error(transparent)]
    Io(#[from] std::io::Error),
    #[error("database error: {0}")]
    Database(String),
}

impl From<rusqlite::Error> for StoreError {
    fn from(e: rusqlite::Error) -> Self {
        use rusqlite::ErrorCode as C;
        match e.sqlite_error_code() {
            Some(C::DatabaseBusy) | Some(C::DatabaseLocked) => StoreError::Busy,
            Some(C::ReadOnly) => {
                sqlite::note_read_only();
                StoreError::ReadOnly(e.to_string())
            }
            Some(C::DiskFull) => StoreError::DiskFull,
            Some(C::ConstraintViolation) => {
                let text = e.to_string();
                // `users.email` also covers `users.email_key`.
                if text.contains("users.email") {
                    StoreError::Conflict("email")
                } else if text.contains("users.username") || text.contains("users.name_key") {
                    StoreError::Conflict("username")
                } else if text.contains("rooms.name_key") {
                    StoreError::Conflict("name")
                } else {
                    StoreError::Database(text)
                }
            }
            _ => StoreError::Database(e.to_string()),
        }
    }
}

pub type Result<T, E = StoreError> = std::result::Result<T, E>;

/// An account as everything outside the store sees it: never with the password hash.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct User {
    pub id: i64,
    pub username: String,
    pub email: String,
    pub is_admin: bool,
    pub is_blocked: bool,
    pub warning_count: i64,
    pub created_at: String,
    /// The end of an account-wide mute as stored (it may have passed: the domain compares it
    /// with now; `chat::standing`).
    pub muted_until: Option<String>,
}

/// The one place a password hash leaves the database: for checking a login.
#[derive(Debug, Clone)]
pub struct Credentials {
    pub user: User,
    pub password_hash: String,
}

#[derive(Debug, Clone)]
pub struct NewUser<'a> {
    pub username: &'a str,
    pub email: &'a str,
    pub password_hash: &'a str,
    pub is_admin: bool,
    pub created_at: &'a str,
}

/// The comparison keys of an account, computed by the domain (`chat::accounts::name_key` and
/// `email_key`): unique, so of two look-alike names or two addresses equal up to case, the
/// second is refused by the insert itself, atomically.
#[derive(Debug, Clone, Copy)]
pub struct UserKeys<'a> {
    pub name_key: &'a str,
    pub email_key: &'a str,
}

/// Which keys `set_user_keys` stored; a key another account already holds is left unset.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct KeysSet {
    pub name: bool,
    pub email: bool,
}

/// A message. Its id is its position in the log (see `LogEntry`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Message {
    pub id: i64,
    pub room_id: i64,
    pub sender_id: i64,
    pub username: String,
    pub content: String,
    pub timestamp: String,
    /// Canonical usernames of the room's members the text mentions.
    pub mentions: Vec<String>,
    /// When the text was last edited.
    pub edited_at: Option<String>,
    /// The message of the same room this one answers.
    pub reply_to: Option<i64>,
}

/// One emoji on a message, and who put it there (in the order they did).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Reaction {
    pub emoji: String,
    pub users: Vec<String>,
}

/// Why an edit, a deletion or a reaction was refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LivingRefusal {
    /// No such message, or in a conversation the actor is not in (the same answer: privacy).
    NotFound,
    /// Someone else's message, and the actor may not change it.
    NotYours,
    /// The message was deleted.
    Deleted,
    /// Older than the edit window.
    TooOld,
    /// The message has its most distinct reactions already.
    TooManyReactions,
    /// The conversation is archived.
    Archived,
}

/// An edit of one's own message.
#[derive(Debug, Clone)]
pub struct EditMessage<'a> {
    pub id: i64,
    pub editor_id: i64,
    pub content: &'a str,
    /// As in `NewMessage`: the mentions are worked out again for the new text.
    pub mention_candidates: &'a [String],
    pub timestamp: &'a str,
    /// Messages sent before this (store format) can no longer be edited.
    pub not_before: &'a str,
}

/// A deletion: of one's own message, or of anyone's by an admin or the operator.
#[derive(Debug, Clone)]
pub struct DeleteMessage<'a> {
    pub id: i64,
    /// None: the operator (CLI).
    pub actor_id: Option<i64>,
    /// The actor's name for the audit log.
    pub actor: &'a str,
    pub may_delete_others: bool,
    pub reason: Option<&'a str>,
    pub timestamp: &'a str,
}

/// What a toggled reaction left: the message's room, all its reactions now, and the log
/// position of the change.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Toggled {
    pub room: i64,
    pub reactions: Vec<Reaction>,
    pub seq: i64,
}

/// Which change of a message a `LivingChange` is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LivingKind {
    Edit,
    Delete,
    React,
}

/// The latest change of one kind to one message within a span of the log (`Store::living_changes`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct LivingChange {
    pub seq: i64,
    pub kind: LivingKind,
    pub room_id: i64,
    pub message_id: i64,
}

/// Someone else's message deleted by an admin or the operator: the audit entry (never the text).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Deletion {
    pub id: i64,
    pub message_id: i64,
    pub room_id: i64,
    /// Whose message it was.
    pub sender: String,
    /// The admin's username, or `cli`.
    pub actor: String,
    pub reason: Option<String>,
    pub timestamp: String,
}

/// A reaction toggled on or off.
#[derive(Debug, Clone)]
pub struct ToggleReaction<'a> {
    pub message_id: i64,
    pub user_id: i64,
    pub emoji: &'a str,
    /// Distinct emoji a message may carry; a new one beyond is refused.
    pub max_distinct: usize,
    pub timestamp: &'a str,
}

#[derive(Debug, Clone)]
pub struct NewMessage {
    pub room_id: i64,
    pub sender_id: i64,
    /// Not stored (the row refers to the user by id); echoed into the returned `Message`.
    pub username: String,
    pub content: String,
    /// Names written as `@name` in the text, folded to lower case (the domain parses them); the
    /// store keeps those that name a member of the room, in the same transaction as the insert.
    pub mention_candidates: Vec<String>,
    /// A message of the same room this one answers (refused as `NotMember` otherwise).
    pub reply_to: Option<i64>,
}

/// Why a message of a batch was not stored (the rest of the batch is).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Refusal {
    /// The sender is not a member of the room (or the room does not exist).
    NotMember,
    Archived,
    /// It answers a message that is not in its room, or was deleted.
    NoSuchReply,
    /// The sender's account is muted until then (store format).
    Muted {
        until: String,
    },
    /// A room moderator muted the sender in this room until then.
    MutedInRoom {
        until: String,
    },
    /// The room's slow mode: the sender's previous message is too recent; wait this many seconds.
    SlowMode {
        retry_after: u64,
    },
}

/// What the writing transaction knows of a member's standing in the room, besides membership:
/// read with it, so a mute or slow mode holds on every instance at the moment of writing.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct RoomGate {
    pub muted_until: Option<String>,
    pub slow_mode_secs: i64,
    /// A moderator of the room (its creator, a named one, or an admin): slow mode spares them.
    pub exempt: bool,
    /// The sender's latest message in the room (read only when slow mode applies).
    pub last_post: Option<String>,
}

/// The conversation `general`: public, present from the migration on, joined by new accounts.
pub const GENERAL_ROOM: i64 = 1;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum RoomKind {
    Public,
    Private,
    Dm,
}

impl RoomKind {
    pub fn as_str(self) -> &'static str {
        match self {
            RoomKind::Public => "public",
            RoomKind::Private => "private",
            RoomKind::Dm => "dm",
        }
    }

    pub fn parse(s: &str) -> Option<RoomKind> {
        match s {
            "public" => Some(RoomKind::Public),
            "private" => Some(RoomKind::Private),
            "dm" => Some(RoomKind::Dm),
            _ => None,
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Notify {
    All,
    Mentions,
    None,
}

impl Notify {
    pub fn as_str(self) -> &'static str {
        match self {
            Notify::All => "all",
            Notify::Mentions => "mentions",
            Notify::None => "none",
        }
    }

    pub fn parse(s: &str) -> Option<Notify> {
        match s {
            "all" => Some(Notify::All),
            "mentions" => Some(Notify::Mentions),
            "none" => Some(Notify::None),
            _ => None,
        }
    }
}

/// A member's role in a room (`members.role`): moderators, and the room's creator, moderate it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum RoomRole {
    Member,
    Moderator,
}

impl RoomRole {
    pub fn as_str(self) -> &'static str {
        match self {
            RoomRole::Member => "member",
            RoomRole::Moderator => "moderator",
        }
    }

    /// An unknown role (none is stored: a CHECK keeps them out) reads as a plain member.
    pub fn parse(s: &str) -> RoomRole {
        match s {
            "moderator" => RoomRole::Moderator,
            _ => RoomRole::Member,
        }
    }
}

/// A conversation as everyone sees it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Room {
    pub id: i64,
    pub kind: RoomKind,
    pub name: Option<String>,
    pub topic: Option<String>,
    pub created_by: Option<String>,
    pub created_at: String,
    pub archived: bool,
    pub members: i64,
    /// Slow mode: one message per this many seconds per member (moderators exempt); 0 is off.
    pub slow_mode_secs: i64,
}

/// A conversation as one user sees it: with their read marker, unread and mention counts.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct RoomView {
    pub room: Room,
    /// DMs: the other members' usernames, sorted.
    pub people: Vec<String>,
    pub last_message_id: i64,
    pub joined: bool,
    pub hidden: bool,
    pub last_read_id: i64,
    pub unread: i64,
    pub mentions: i64,
    pub notify: Notify,
    /// The caller created the room or was named its moderator (admins moderate every room
    /// besides).
    pub moderates: bool,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Member {
    pub user_id: i64,
    pub username: String,
    pub joined_at: String,
    pub role: RoomRole,
    /// Muted in this room until then (it may have passed).
    pub muted_until: Option<String>,
}

/// A room for the admin's table.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct RoomStats {
    pub room: Room,
    pub messages: i64,
    pub last_activity: Option<String>,
}

#[derive(Debug, Clone)]
pub struct NewRoom<'a> {
    pub kind: RoomKind,
    pub name: Option<&'a str>,
    /// The folded name (`chat::rooms::name_key`), unique among rooms.
    pub name_key: Option<&'a str>,
    pub topic: Option<&'a str>,
    pub created_by: Option<i64>,
    /// Everyone who is a member from the start (the creator included).
    pub members: &'a [i64],
    pub timestamp: &'a str,
}

/// What one instance tells the others about who is online on it, in one transaction: its
/// heartbeat (the database's clock, the one every instance shares), the users whose socket count
/// changed and those who left since the last beat, and the removal of instances silent for longer
/// than `ttl_secs` together with their presence (an instance killed without a goodbye).
#[derive(Debug, Clone, Copy)]
pub struct PresenceBeat<'a> {
    pub instance: &'a str,
    pub started_at: &'a str,
    /// Everyone online here with their socket counts, written whole (replacing what the
    /// database has for the instance) when `full` is set or the instance is (re)registered: after
    /// a first start, after the others gave it up for dead (a database outage longer than the
    /// TTL), or after a beat that failed and may have left rows of users gone since.
    pub all: &'a [(i64, i64)],
    pub full: bool,
    /// Users who arrived, or whose socket count changed, with their counts now.
    pub changed: &'a [(i64, i64)],
    pub left: &'a [i64],
    pub ttl_secs: i64,
}

/// A user online on other instances.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Elsewhere {
    pub user_id: i64,
    pub username: String,
    /// Their sockets on all other instances together.
    pub sockets: i64,
}

/// A change to conversations, stored in the log at its own position.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Change {
    /// The user joined, was added, or is in a new DM.
    Member { room_id: i64, user_id: i64 },
    /// The user left or was removed.
    Unmember { room_id: i64, user_id: i64 },
    /// The user hid the DM; they are still a member and its next message shows it again.
    Hide { room_id: i64, user_id: i64 },
    /// The room's shared fields changed (archived).
    Room { room_id: i64 },
    /// The user's read marker moved to `message_id`.
    Read { room_id: i64, user_id: i64, message_id: i64 },
    /// The member was named moderator of the room (`moderator`) or unnamed.
    Role { room_id: i64, user_id: i64, moderator: bool },
    /// The member was muted in the room until `until_ms` (Unix milliseconds), or unmuted (0).
    RoomMute { room_id: i64, user_id: i64, until_ms: i64 },
    /// The account was blocked or unblocked, or its admin role changed; these are its flags now.
    /// Every instance closes the account's sockets (blocked: for good; role: to reconnect with
    /// what the new role may see).
    Account { user_id: i64, blocked: bool, admin: bool },
    /// `user_id` edited the message: its text (and mentions) changed.
    Edit { room_id: i64, message_id: i64, user_id: i64 },
    /// `user_id` (0: the operator) deleted the message.
    Delete { room_id: i64, message_id: i64, user_id: i64 },
    /// `user_id` added or took back a reaction on the message.
    React { room_id: i64, message_id: i64, user_id: i64 },
    /// The report `report_id` that `user_id` filed was handled: its status now.
    Report { report_id: i64, user_id: i64, status: ReportStatus },
    /// The account's mute changed: muted until `until` (Unix milliseconds), 0 when lifted.
    Mute { user_id: i64, until_ms: i64 },
    /// The live term lists changed: every instance rebuilds its matcher (`chat::terms`).
    Terms,
}

/// One entry of the ordered log. Positions are dense and in commit order on every backend, so
/// a reader that asks for everything after the last position it saw misses nothing.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum LogEntry {
    Message(Message),
    Change { seq: i64, change: Change },
}

impl LogEntry {
    pub fn position(&self) -> i64 {
        match self {
            LogEntry::Message(m) => m.id,
            LogEntry::Change { seq, .. } => *seq,
        }
    }
}

/// A user's conversations as of one log position: read together, in one snapshot.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Memberships {
    /// The position the next log entry will take: everything before it is in the snapshot.
    pub next: i64,
    pub rooms: Vec<i64>,
    /// The account's flags in the same snapshot: a block or role change after it reaches the
    /// socket as a log entry, one before it is seen here.
    pub blocked: bool,
    pub admin: bool,
}

#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct UserFilter {
    pub blocked_only: bool,
    pub admins_only: bool,
}

/// Which messages an export covers. All bounds are optional and combine.
#[derive(Debug, Clone, Default)]
pub struct MessageFilter {
    /// Inclusive lower bound, RFC 3339 text in the store's format.
    pub since: Option<String>,
    /// Exclusive upper bound.
    pub until: Option<String>,
    pub after_id: Option<i64>,
    /// Only these rooms (all when None).
    pub rooms: Option<Vec<i64>>,
    /// Only public rooms (the dashboard's download).
    pub public_only: bool,
}

/// A message search (`Store::search`): messages whose current text contains every term, newest
/// first. The domain has validated the terms and worked out which conversations the caller may
/// search; the store only applies it.
#[derive(Debug, Clone, Default)]
pub struct SearchQuery {
    /// Non-empty, lower-cased, distinct; each must occur somewhere in the text (as any part of a
    /// word), case-insensitively.
    pub terms: Vec<String>,
    /// Where to look: this one conversation, or the rooms `user_id` is a member of (and every
    /// public room when `all_public`).
    pub room_id: Option<i64>,
    pub user_id: i64,
    pub all_public: bool,
    pub sender_id: Option<i64>,
    /// Exclusive bounds on the id.
    pub before_id: Option<i64>,
    pub after_id: Option<i64>,
    /// Exclusive bounds on the timestamp, in the store's format.
    pub before_time: Option<String>,
    pub after_time: Option<String>,
    pub limit: usize,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Action {
    Warning,
    Mute,
    Unmute,
    Block,
    Unblock,
    /// A message deleted by someone other than its sender.
    Delete,
    /// A report's decision.
    Report,
    /// An appeal filed, or answered.
    Appeal,
    /// A term added to or removed from the live term lists.
    Terms,
    /// A room moderator named or unnamed.
    Moderator,
    /// A room's slow mode set.
    #[serde(rename = "slow_mode")]
    SlowMode,
}

impl Action {
    pub const ALL: [Action; 11] = [
        Action::Warning,
        Action::Mute,
        Action::Unmute,
        Action::Block,
        Action::Unblock,
        Action::Delete,
        Action::Report,
        Action::Appeal,
        Action::Terms,
        Action::Moderator,
        Action::SlowMode,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Action::Warning => "warning",
            Action::Mute => "mute",
            Action::Unmute => "unmute",
            Action::Block => "block",
            Action::Unblock => "unblock",
            Action::Delete => "delete",
            Action::Report => "report",
            Action::Appeal => "appeal",
            Action::Terms => "terms",
            Action::Moderator => "moderator",
            Action::SlowMode => "slow_mode",
        }
    }
}

/// One row to add to the audit log, written in the transaction of the act it records (so an
/// act is never without its entry, nor an entry without its act). `strike`: the row counts on
/// the user's ladder.
#[derive(Debug, Clone)]
pub struct Audit<'a> {
    pub user_id: Option<i64>,
    pub action: Action,
    pub text: Option<&'a str>,
    pub term: Option<&'a str>,
    pub reason: Option<&'a str>,
    /// 'moderation', 'classifier', 'webhook', 'cli', or the acting account's username.
    pub actor: &'a str,
    pub actor_id: Option<i64>,
    pub timestamp: &'a str,
    pub strike: bool,
    pub room_id: Option<i64>,
    pub message_id: Option<i64>,
    /// A mute's end.
    pub until: Option<&'a str>,
}

impl<'a> Audit<'a> {
    /// An entry about `user_id` with nothing but who and when; callers fill in the rest.
    pub fn new(user_id: Option<i64>, action: Action, actor: &'a str, timestamp: &'a str) -> Audit<'a> {
        Audit {
            user_id,
            action,
            text: None,
            term: None,
            reason: None,
            actor,
            actor_id: None,
            timestamp,
            strike: false,
            room_id: None,
            message_id: None,
            until: None,
        }
    }
}

/// Who raised a report: a member, or automatic moderation (then there is no reporter).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum ReportSource {
    Member,
    Classifier,
    Webhook,
}

impl ReportSource {
    pub fn as_str(self) -> &'static str {
        match self {
            ReportSource::Member => "member",
            ReportSource::Classifier => "classifier",
            ReportSource::Webhook => "webhook",
        }
    }

    pub fn parse(s: &str) -> ReportSource {
        match s {
            "classifier" => ReportSource::Classifier,
            "webhook" => ReportSource::Webhook,
            _ => ReportSource::Member,
        }
    }
}

/// Which live list a moderation term is on.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum TermList {
    /// Refused like the built-in list's terms.
    Block,
    /// A word the community accepts although the word list would catch it.
    Allow,
}

impl TermList {
    pub fn as_str(self) -> &'static str {
        match self {
            TermList::Block => "block",
            TermList::Allow => "allow",
        }
    }

    pub fn parse(s: &str) -> Option<TermList> {
        match s {
            "block" => Some(TermList::Block),
            "allow" => Some(TermList::Allow),
            _ => None,
        }
    }
}

/// Where a report stands: open, or how it was handled.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum ReportStatus {
    Open,
    Dismissed,
    Deleted,
    Warned,
    Muted,
    Blocked,
}

impl ReportStatus {
    pub const ALL: [ReportStatus; 6] = [
        ReportStatus::Open,
        ReportStatus::Dismissed,
        ReportStatus::Deleted,
        ReportStatus::Warned,
        ReportStatus::Muted,
        ReportStatus::Blocked,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            ReportStatus::Open => "open",
            ReportStatus::Dismissed => "dismissed",
            ReportStatus::Deleted => "deleted",
            ReportStatus::Warned => "warned",
            ReportStatus::Muted => "muted",
            ReportStatus::Blocked => "blocked",
        }
    }

    pub fn parse(s: &str) -> ReportStatus {
        ReportStatus::ALL.into_iter().find(|r| r.as_str() == s).unwrap_or(ReportStatus::Open)
    }

    /// Its code in a `Change::Report` entry (the log's columns are numbers).
    pub fn code(self) -> i64 {
        ReportStatus::ALL.iter().position(|r| *r == self).unwrap_or(0) as i64
    }

    pub fn from_code(code: i64) -> ReportStatus {
        ReportStatus::ALL.get(code as usize).copied().unwrap_or(ReportStatus::Open)
    }
}

/// A report to file (`Store::file_report`).
#[derive(Debug, Clone)]
pub struct NewReport<'a> {
    pub message_id: i64,
    /// None: automatic moderation.
    pub reporter_id: Option<i64>,
    pub source: ReportSource,
    pub reason: &'a str,
    pub text: Option<&'a str>,
    pub score: Option<f64>,
    /// A reporter with this many open reports already is refused (`TooMany`).
    pub max_open: i64,
    pub timestamp: &'a str,
}

/// Why a report was not filed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ReportRefusal {
    /// No such message, or it was deleted.
    NotFound,
    /// The reporter sent it.
    Own,
    /// The reporter reported it already.
    Duplicate,
    /// The reporter has `max_open` open reports.
    TooMany,
}

/// A report with its message as the handler sees it.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Report {
    pub id: i64,
    pub created_at: String,
    pub status: ReportStatus,
    pub reason: String,
    pub text: Option<String>,
    pub source: ReportSource,
    pub score: Option<f64>,
    /// Id and username; None for automatic reports.
    pub reporter: Option<(i64, String)>,
    pub message_id: i64,
    pub room_id: i64,
    pub room_name: Option<String>,
    pub room_kind: RoomKind,
    pub sender_id: i64,
    pub sender: String,
    /// Empty once deleted.
    pub message_text: String,
    pub message_timestamp: String,
    pub deleted: bool,
    pub handled_by: Option<String>,
    pub handled_at: Option<String>,
    pub note: Option<String>,
}

/// Which reports `Store::reports` lists, newest first.
#[derive(Debug, Clone, Default)]
pub struct ReportFilter {
    pub id: Option<i64>,
    /// Some(true): open only; Some(false): handled only; None: all.
    pub open: Option<bool>,
    pub before_id: Option<i64>,
    /// Only the reports this account filed.
    pub reporter_id: Option<i64>,
    /// Only reports of rooms this account moderates (their creator, or role `moderator`).
    pub moderator_id: Option<i64>,
    pub limit: usize,
}

/// A handler's decision on a report (`Store::decide_report`).
#[derive(Debug, Clone)]
pub struct ReportDecision<'a> {
    pub report_id: i64,
    pub status: ReportStatus,
    pub actor: &'a str,
    pub actor_id: Option<i64>,
    pub note: Option<&'a str>,
    /// The audit row's reason: the decision in words.
    pub reason: &'a str,
    pub timestamp: &'a str,
}

/// A blocked user's appeal.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Appeal {
    pub id: i64,
    pub user_id: i64,
    pub username: String,
    /// The audit row of the block appealed.
    pub block_id: i64,
    pub text: String,
    pub created_at: String,
    /// 'open', 'unblocked' or 'kept'.
    pub status: String,
    pub answer: Option<String>,
    pub answered_by: Option<String>,
    pub answered_at: Option<String>,
}

/// Why an appeal could not be filed or answered.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AppealRefusal {
    /// No such appeal, or the block is no longer the account's current one.
    NotFound,
    /// The block has its appeal already, or the appeal its answer.
    Done,
}

/// One term of the live lists (`moderation_terms`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Term {
    pub term: String,
    pub list: TermList,
    pub added_by: String,
    pub added_at: String,
}

/// A change of the live term lists, with who made it and why (for its audit row).
#[derive(Debug, Clone)]
pub struct TermEdit<'a> {
    /// Already normalised (trimmed, lowercase) by the domain.
    pub term: &'a str,
    /// The list to put the term on; ignored by a removal.
    pub list: TermList,
    /// 'cli', or the acting admin's username.
    pub actor: &'a str,
    pub actor_id: Option<i64>,
    pub reason: Option<&'a str>,
    pub timestamp: &'a str,
}

/// What adding a term did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TermAdded {
    Added,
    /// It was on the other list and moved.
    Moved,
    /// It was on this list already: nothing changed and nothing is audited.
    Unchanged,
}

/// The settings key that marks the live term lists as seeded from `--blocklist`.
pub const TERMS_SEEDED: &str = "moderation_terms_seeded";

/// One row of the moderation audit log.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Violation {
    pub id: i64,
    /// None for acts that concern no account (a term-list change).
    pub user_id: Option<i64>,
    pub username: Option<String>,
    pub action: Action,
    pub text: Option<String>,
    pub term: Option<String>,
    pub reason: Option<String>,
    pub actor: String,
    pub timestamp: String,
    /// The row counts on the user's ladder.
    pub strike: bool,
    pub room_id: Option<i64>,
    pub message_id: Option<i64>,
    /// A mute's end.
    pub until: Option<String>,
    pub actor_id: Option<i64>,
}

/// Which audit rows `Store::audit_log` reads, newest first.
#[derive(Debug, Clone, Default)]
pub struct AuditFilter {
    /// Only rows with a smaller id.
    pub before_id: Option<i64>,
    pub limit: usize,
    pub action: Option<Action>,
    pub user_id: Option<i64>,
}

/// A strike to count on a user's ladder (`Store::strike`), with what its audit row says.
#[derive(Debug, Clone)]
pub struct StrikeRecord<'a> {
    pub user_id: i64,
    pub text: Option<&'a str>,
    pub term: Option<&'a str>,
    pub reason: Option<&'a str>,
    /// 'moderation', 'classifier', 'webhook', or the username of the admin who decided a report.
    pub actor: &'a str,
    pub actor_id: Option<i64>,
    pub room_id: Option<i64>,
    pub message_id: Option<i64>,
    /// Strikes at or before this time no longer count (`--strike-decay`); None: all count.
    pub counted_after: Option<&'a str>,
    pub timestamp: &'a str,
}

/// The ladder's step for a strike (the domain decides it from the count, `chat::standing`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum StrikeStep {
    Warn,
    /// Muted until then (store format); a longer mute already running is kept.
    Mute {
        until: String,
    },
    Block,
}

/// What a strike did, decided in the transaction that counted it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StrikeOutcome {
    /// The strikes that count now, this one included.
    pub strikes: i64,
    pub step: StrikeStep,
    /// False when the account was blocked already: nothing was counted nor audited (`step` is
    /// then `Block`, `strikes` the stored warning count).
    pub recorded: bool,
}

/// An account-wide mute set or lifted (`Store::set_muted`).
#[derive(Debug, Clone)]
pub struct MuteAction<'a> {
    pub user_id: i64,
    /// None lifts the mute.
    pub until: Option<&'a str>,
    pub actor: &'a str,
    pub actor_id: Option<i64>,
    pub reason: Option<&'a str>,
    pub timestamp: &'a str,
}

/// What a moderation violation did to the account, decided atomically in one transaction.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ViolationOutcome {
    pub warnings: i64,
    pub blocked: bool,
}

/// An administrative block or unblock, with who did it and why, for the audit log.
#[derive(Debug, Clone)]
pub struct AdminAction<'a> {
    pub actor: &'a str,
    pub reason: Option<&'a str>,
    pub timestamp: &'a str,
}

#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
pub struct Counts {
    pub users: i64,
    pub blocked: i64,
    pub messages_since: i64,
}

/// The stored state of one rate limit: a token bucket, and for an account and address pair of
/// the login guard the time of its last failure. Times are wall-clock Unix seconds (instances
/// share no other clock); the domain (`chat::ratelimit`) computes every field.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct LimitSlot {
    pub tokens: f64,
    /// When `tokens` was counted.
    pub at: f64,
    /// The last failure, if it still counts.
    pub mark: Option<f64>,
    /// From then on the slot carries no information: it reads as missing and may be deleted.
    pub expires: f64,
}

/// What a backend's log watcher calls when another process or instance has committed to the
/// log (see `Store::watch_log`).
pub trait LogBell: Send + 'static {
    /// Something new may be in the log: read it soon. Never blocks.
    fn ring(&self);
    /// Whether anyone still listens; the watcher stops once this is false.
    fn wanted(&self) -> bool;
    /// Another instance's signal (`Store::signal`), as it sent it. Never blocks.
    fn signal(&self, payload: &str) {
        let _ = payload;
    }
}

/// Everything the domain needs from persistence. Implementations must be safe to call from many
/// threads at once; every method may block.
pub trait Store: Send + Sync + 'static {
    /// Cheap liveness check for `/healthz`.
    fn ping(&self) -> Result<()>;

    /// Inserts an account without comparison keys (seeding, imports): `users_without_keys`
    /// finds it and the domain's backfill gives it keys. Accounts made by the domain use
    /// `create_user_keyed`.
    fn create_user(&self, new: &NewUser<'_>) -> Result<User>;
    /// Inserts an account with its keys; a key another account holds is `Conflict`. Every new
    /// account (also through `create_user`) joins the auto-join rooms, `general` among them.
    fn create_user_keyed(&self, new: &NewUser<'_>, keys: &UserKeys<'_>) -> Result<User>;
    fn user_by_id(&self, id: i64) -> Result<Option<User>>;
    fn user_by_username(&self, username: &str) -> Result<Option<User>>;
    /// The account whose name key is `name_key` (a name that looks like the one asked for).
    fn user_by_name_key(&self, name_key: &str) -> Result<Option<User>>;
    /// Looks an account up for a login: by username (ASCII case-insensitively), or by e-mail
    /// key (an account without a key yet: by e-mail, ASCII case-insensitively).
    fn credentials(&self, username: &str, email_key: &str) -> Result<Option<Credentials>>;
    /// Replaces a password hash if it is still `old_hash`; returns whether it did.
    fn replace_password_hash(&self, user_id: i64, old_hash: &str, new_hash: &str) -> Result<bool>;
    /// How many accounts have each hash prefix (the first 7 characters, `$2b$12$`: algorithm
    /// and cost, nothing secret).
    fn hash_prefix_counts(&self) -> Result<Vec<(String, i64)>>;
    /// Up to `limit` accounts with id > `after_id` lacking a name or e-mail key, by id.
    fn users_without_keys(&self, after_id: i64, limit: usize) -> Result<Vec<User>>;
    /// Stores each key the account lacks unless another account holds it.
    fn set_user_keys(&self, user_id: i64, keys: &UserKeys<'_>) -> Result<KeysSet>;
    fn list_users(&self, filter: UserFilter) -> Result<Vec<User>>;
    /// Returns the account and whether the role changed.
    fn set_admin(&self, user_id: i64, is_admin: bool) -> Result<(User, bool)>;
    /// Blocks or unblocks and writes the audit row in one transaction. Unblocking also resets the
    /// warning count, otherwise the next slip would block again at once.
    /// Returns the account and whether anything changed (nothing is audited when nothing did).
    fn set_blocked(&self, user_id: i64, blocked: bool, action: &AdminAction<'_>) -> Result<(User, bool)>;
    /// Counts a moderation violation on the classic ladder: warnings, then a block at
    /// `threshold` (see `strike`). A violation by an account that is already blocked changes
    /// nothing and is not audited (`blocked` is true).
    fn record_violation(
        &self,
        user_id: i64,
        text: &str,
        term: &str,
        threshold: i64,
        timestamp: &str,
    ) -> Result<ViolationOutcome> {
        let record = StrikeRecord {
            user_id,
            text: Some(text),
            term: Some(term),
            reason: None,
            actor: "moderation",
            actor_id: None,
            room_id: None,
            message_id: None,
            counted_after: None,
            timestamp,
        };
        let out =
            self.strike(&record, &mut |n| if n >= threshold { StrikeStep::Block } else { StrikeStep::Warn })?;
        Ok(ViolationOutcome { warnings: out.strikes, blocked: out.step == StrikeStep::Block })
    }
    /// Counts a strike and takes the ladder's step for it, atomically: the user's row is locked,
    /// the strikes that count (audit rows with `strike`, after `counted_after` and at or after
    /// the user's `strikes_since`) are counted, `ladder(count + 1)` names the step, and the
    /// audit row ('warning', 'mute' or 'block', with `strike`), the account's warning count,
    /// mute or block, and the log change of a mute or block are written in one transaction. So
    /// concurrent strikes of one user (several sockets or instances) take each step once.
    fn strike(
        &self,
        record: &StrikeRecord<'_>,
        ladder: &mut dyn FnMut(i64) -> StrikeStep,
    ) -> Result<StrikeOutcome>;
    /// The strikes of the user that count now (as `strike` counts them).
    fn strikes(&self, user_id: i64, counted_after: Option<&str>) -> Result<i64>;
    /// Mutes the account until `until` or lifts its mute, with its audit row and a
    /// `Change::Mute` in one transaction. Returns the account and whether anything changed
    /// (lifting a mute that has ended or never was changes nothing, and audits nothing).
    fn set_muted(&self, mute: &MuteAction<'_>) -> Result<(User, bool)>;
    /// The audit log, newest first, rows without an account included.
    fn audit_log(&self, filter: &AuditFilter) -> Result<Vec<Violation>>;
    fn violations(&self, before_id: Option<i64>, limit: usize) -> Result<Vec<Violation>> {
        self.audit_log(&AuditFilter { before_id, limit, ..AuditFilter::default() })
    }
    /// The latest block entry of every account that is blocked now: why it is blocked.
    fn latest_blocks(&self) -> Result<Vec<Violation>>;

    /// Files a report of a message not deleted, by someone other than its sender, once per
    /// reporter and message; returns its id.
    fn file_report(&self, new: &NewReport<'_>) -> Result<std::result::Result<i64, ReportRefusal>>;
    /// Reports with their messages, newest first.
    fn reports(&self, filter: &ReportFilter) -> Result<Vec<Report>>;
    /// Closes an open report and the other open reports of its message with the decision, and
    /// audits it (`Action::Report`), in one transaction; each member reporter is told by a
    /// `Change::Report` entry. Returns the ids closed; `None` if the report is not open.
    fn decide_report(&self, decision: &ReportDecision<'_>) -> Result<Option<Vec<i64>>>;
    /// Up to `limit` messages of a room after `after_id`, oldest first (a report's context).
    fn room_messages_after(&self, room_id: i64, after_id: i64, limit: usize) -> Result<Vec<Message>>;

    /// The audit row of the account's current block (None if it is not blocked) and the
    /// appeal of that block, if any.
    fn block_appeal(&self, user_id: i64) -> Result<Option<(i64, Option<Appeal>)>>;
    /// Files the appeal of a block that is still the account's current one; once per block.
    fn file_appeal(
        &self,
        user_id: i64,
        block_id: i64,
        text: &str,
        timestamp: &str,
    ) -> Result<std::result::Result<Appeal, AppealRefusal>>;
    /// Appeals, newest first (open ones only when `open_only`).
    fn appeals(&self, open_only: bool, before_id: Option<i64>, limit: usize) -> Result<Vec<Appeal>>;
    /// Answers an open appeal (status 'unblocked' or 'kept') and audits it (`Action::Appeal`) in
    /// one transaction; the unblock itself is `set_blocked`'s.
    fn answer_appeal(
        &self,
        appeal_id: i64,
        status: &str,
        note: &str,
        actor: &str,
        actor_id: i64,
        timestamp: &str,
    ) -> Result<std::result::Result<Appeal, AppealRefusal>>;
    /// The answer of the account's appeal that unblocked it, once: marked seen by this call.
    fn take_appeal_answer(&self, user_id: i64) -> Result<Option<String>>;

    /// Inserts a batch in one transaction with the given timestamp, taking log positions in
    /// order; returns each message's outcome in order. A sender who is not a member of the room,
    /// or a room that is archived, refuses that message only. Either every accepted message is
    /// committed or none is.
    fn insert_messages(
        &self,
        batch: &[NewMessage],
        timestamp: &str,
    ) -> Result<Vec<std::result::Result<Message, Refusal>>>;
    /// The newest `limit` messages of a room older than `before_id` (all if None), oldest first.
    fn messages_before(&self, room_id: i64, before_id: Option<i64>, limit: usize) -> Result<Vec<Message>>;
    /// Up to `limit` messages with `after_id` < id < `before_id` in the rooms `user_id` belongs
    /// to now, oldest first (a client resuming in every conversation at once).
    fn messages_after(
        &self,
        user_id: i64,
        after_id: i64,
        before_id: i64,
        limit: usize,
    ) -> Result<Vec<Message>>;

    /// Up to `limit` messages matching the query, newest first; deleted ones never match.
    fn search(&self, query: &SearchQuery) -> Result<Vec<Message>>;

    /// A message as it is now (None if it does not exist or was deleted).
    fn message(&self, id: i64) -> Result<Option<Message>>;
    /// These messages as they are now, by id; missing and deleted ones are left out.
    fn messages_by_id(&self, ids: &[i64]) -> Result<Vec<Message>>;
    /// For a resuming client: the edits, deletions and reaction changes at positions in
    /// (`after`, `before`) of messages in the rooms `user_id` is in now, only the last of each
    /// kind per message (the frame carries the state now, so earlier ones add nothing), by
    /// position.
    fn living_changes(&self, user_id: i64, after: i64, before: i64) -> Result<Vec<LivingChange>>;
    /// The audit of deletions of others' messages, newest first.
    fn deletions(&self, before_id: Option<i64>, limit: usize) -> Result<Vec<Deletion>>;
    /// The reactions of these messages: those that have any, by message id, each emoji in the
    /// order it was first used, its users in the order they reacted.
    fn reactions(&self, message_ids: &[i64]) -> Result<Vec<(i64, Vec<Reaction>)>>;
    /// Edits one's own message (a log write: `Change::Edit`); returns it as it is now and the
    /// entry's position.
    fn edit_message(
        &self,
        edit: &EditMessage<'_>,
    ) -> Result<std::result::Result<(Message, i64), LivingRefusal>>;
    /// Deletes a message, leaving a tombstone (a log write: `Change::Delete`; someone else's is
    /// also audited); returns its room and the entry's position.
    fn delete_message(
        &self,
        del: &DeleteMessage<'_>,
    ) -> Result<std::result::Result<(i64, i64), LivingRefusal>>;
    /// Adds the reaction, or takes it back if the user had it (a log write: `Change::React`);
    /// returns the room, the message's reactions now and the entry's position.
    fn toggle_reaction(
        &self,
        toggle: &ToggleReaction<'_>,
    ) -> Result<std::result::Result<Toggled, LivingRefusal>>;

    /// Up to `limit` log entries after `after`, by position.
    fn log_after(&self, after: i64, limit: usize) -> Result<Vec<LogEntry>>;
    /// The position the next log entry will take.
    fn log_next(&self) -> Result<i64>;
    /// Rows of the audit log by action, for `/metrics`.
    fn audit_counts(&self) -> Result<Vec<(String, u64)>>;
    /// The connection pool's connections open and idle, where there is one (PostgreSQL).
    fn pool_state(&self) -> Option<(u32, u32)> {
        None
    }
    /// The rooms a user belongs to and the log position of that snapshot.
    fn memberships(&self, user_id: i64) -> Result<Memberships>;

    /// Creates a room with its first members, each a `Member` change in the log. A public room
    /// whose name key another public room holds is `Conflict("name")`.
    fn create_room(&self, new: &NewRoom<'_>) -> Result<Room>;
    /// The DM of exactly these people (sorted, deduplicated ids), created if there is none.
    /// Returns the room and whether it was created now.
    fn open_dm(&self, members: &[i64], created_by: i64, timestamp: &str) -> Result<(Room, bool)>;
    fn room(&self, room_id: i64) -> Result<Option<Room>>;
    /// Rooms with this folded name: at most one public room, and any number of private ones;
    /// public first, then by id.
    fn rooms_by_name_key(&self, name_key: &str) -> Result<Vec<Room>>;
    /// The room as `user_id` sees it (`joined` false and zero counts for a non-member).
    fn room_view(&self, user_id: i64, room_id: i64) -> Result<Option<RoomView>>;
    /// The user's conversations, hidden DMs left out, most recently active first.
    fn room_views(&self, user_id: i64) -> Result<Vec<RoomView>>;
    /// Public rooms with whether `user_id` is a member, by name.
    fn directory(&self, user_id: i64) -> Result<Vec<(Room, bool)>>;
    fn room_members(&self, room_id: i64) -> Result<Vec<Member>>;
    fn is_member(&self, room_id: i64, user_id: i64) -> Result<bool>;
    /// The member's role in the room; None when they are not a member.
    fn member_role(&self, room_id: i64, user_id: i64) -> Result<Option<RoomRole>>;
    /// Names or unnames a moderator (a log write: `Change::Role`), audited with `audit` when it
    /// changed anything. None when the user is not a member; otherwise whether it changed.
    fn set_member_role(
        &self,
        room_id: i64,
        user_id: i64,
        role: RoomRole,
        audit: &Audit<'_>,
    ) -> Result<Option<bool>>;
    /// Mutes the member in the room until `until` (store format), or unmutes (None): a log write
    /// (`Change::RoomMute`), audited with `audit` when it changed anything. None when the user
    /// is not a member; otherwise whether it changed.
    fn set_room_mute(
        &self,
        room_id: i64,
        user_id: i64,
        until: Option<&str>,
        audit: &Audit<'_>,
    ) -> Result<Option<bool>>;
    /// Sets the room's slow mode (a log write: `Change::Room`), audited with `audit` when it
    /// changed; returns whether it did.
    fn set_slow_mode(&self, room_id: i64, secs: i64, audit: &Audit<'_>) -> Result<bool>;
    /// Adds a member (or shows a hidden DM again); false if nothing changed.
    fn add_member(&self, room_id: i64, user_id: i64, timestamp: &str) -> Result<bool>;
    /// Removes a member; false if they were not one.
    fn remove_member(&self, room_id: i64, user_id: i64, timestamp: &str) -> Result<bool>;
    /// Hides a DM for one member until its next message; false if it was hidden already.
    fn hide_room(&self, room_id: i64, user_id: i64, timestamp: &str) -> Result<bool>;
    /// Moves the read marker forward to `message_id` (clamped to the room's newest message);
    /// returns the marker after the call.
    fn mark_read(&self, room_id: i64, user_id: i64, message_id: i64, timestamp: &str) -> Result<i64>;
    fn set_notify(&self, room_id: i64, user_id: i64, level: Notify) -> Result<bool>;
    /// Returns whether anything changed.
    fn set_archived(&self, room_id: i64, archived: bool, timestamp: &str) -> Result<bool>;
    /// Makes exactly these rooms (and `general`) the ones new accounts join.
    fn set_auto_join(&self, room_ids: &[i64]) -> Result<()>;
    /// Public and private rooms (not DMs) with their message counts, by name.
    fn room_stats(&self) -> Result<Vec<RoomStats>>;
    /// Every room's name for exports: DMs as `dm:` and their members' names joined by `+`.
    fn room_labels(&self) -> Result<Vec<(i64, String)>>;
    /// Up to `limit` usernames starting with `prefix` (ASCII case-insensitively), by name.
    fn usernames_starting(&self, prefix: &str, limit: usize) -> Result<Vec<String>>;
    /// Streams matching messages, oldest first, in one consistent read, without holding them all
    /// in memory. The callback's error stops the walk and is returned.
    fn for_each_message(
        &self,
        filter: &MessageFilter,
        f: &mut dyn FnMut(&Message) -> std::io::Result<()>,
    ) -> Result<()>;
    fn for_each_user(
        &self,
        filter: UserFilter,
        f: &mut dyn FnMut(&User) -> std::io::Result<()>,
    ) -> Result<()>;
    fn counts(&self, messages_since: &str) -> Result<Counts>;

    /// Reads the limit slots of `keys` (None for a missing one, or one expired at `now`), lets `f`
    /// change them, and stores what it leaves (None deletes), in one transaction that holds the
    /// slots' rows: concurrent calls sharing a key, from any process on the database, take turns.
    /// `f` runs once, with the slots in the order of `keys` (which are distinct); it must not
    /// block, since the rows stay locked meanwhile.
    fn update_limits(
        &self,
        keys: &[&str],
        now: f64,
        f: &mut dyn FnMut(&mut [Option<LimitSlot>]),
    ) -> Result<()>;
    /// Deletes the limit slots expired at `now` (they carry no information); returns how many.
    fn purge_limits(&self, now: f64) -> Result<u64>;

    /// The live term lists, sorted by term.
    fn terms(&self) -> Result<Vec<Term>>;
    /// Seeds the block list with `terms` unless it was seeded before ([`TERMS_SEEDED`]), in one
    /// transaction with the mark and one audit row (no log entry: a daemon seeds before it reads
    /// the lists); true if it did now. Concurrent first starts seed once.
    fn seed_terms(&self, terms: &[String], actor: &str, timestamp: &str) -> Result<bool>;
    /// Puts the term on `edit.list` (adding it, or moving it from the other list), with its
    /// audit row and a `Terms` log change in the same transaction.
    fn add_term(&self, edit: &TermEdit<'_>) -> Result<TermAdded>;
    /// Removes the term from whichever list holds it, audited and logged likewise; the list it
    /// was on, None if there was no such term (nothing written).
    fn remove_term(&self, edit: &TermEdit<'_>) -> Result<Option<TermList>>;

    /// Returns the stored value for `key`, storing `value` first if there was none. Used for the
    /// JWT secret so that concurrent first starts agree on one.
    fn setting_or_insert(&self, key: &str, value: &str) -> Result<String>;
    /// A number that changes whenever any account changes, by this process or another.
    fn account_revision(&self) -> Result<i64>;

    /// One heartbeat of a running daemon (`chat::presence`): see `PresenceBeat`. Returns true
    /// when the instance was (re)registered, having been unknown or given up for dead.
    fn presence_beat(&self, beat: &PresenceBeat<'_>) -> Result<bool>;
    /// Users online on instances other than `instance` that were heard from within `ttl_secs`
    /// (by the database's clock), each once.
    fn presence_elsewhere(&self, instance: &str, ttl_secs: i64) -> Result<Vec<Elsewhere>>;
    /// Forgets the instance and its presence: its goodbye at a clean shutdown.
    fn presence_leave(&self, instance: &str) -> Result<()>;

    /// Rings `bell` soon after any log write commits (another instance's included), on a thread
    /// of the backend's own, until the bell is no longer wanted; it also rings after every
    /// reconnection, in case a write was missed meanwhile. A backend without notifications does
    /// nothing (the tailer's poll finds those writes), which is the default.
    fn watch_log(&self, bell: Box<dyn LogBell>) -> Result<()> {
        drop(bell);
        Ok(())
    }

    /// Brings the search index up to date by at most `max` messages, for a backend that indexes
    /// after the fact (SQLite); returns how many it looked at (fewer than `max`: caught up). A
    /// search is complete either way. The default indexes as it writes, and does nothing here.
    fn index_search(&self, max: usize) -> Result<usize> {
        let _ = max;
        Ok(0)
    }

    /// Whether the database takes one write transaction at a time (SQLite): the daemon then
    /// runs its writes on the message writer's thread, in turn, rather than have threads queue
    /// on the lock. The default, false, lets writes run on any thread (PostgreSQL's row locks
    /// queue them fairly).
    fn one_writer(&self) -> bool {
        false
    }

    /// Passes a short-lived note (a typing indicator) to every instance's `LogBell::signal`,
    /// without storing it: best effort, lost if nobody listens. A backend without notifications
    /// has no other instance to reach, and does nothing (the default).
    fn signal(&self, payload: &str) -> Result<()> {
        let _ = payload;
        Ok(())
    }
}
