//! Living messages: edits, deletions, reactions and typing indicators, with the rules of who may
//! do what; and what a resuming client must be told of them.
//!
//! Edits, deletions and reaction changes are log writes (the store gives each a position in the
//! one ordered log), so the tailer delivers them to every instance's sockets in order, and a
//! client resuming with `?since=` gets the ones it missed (`Chat::living_after`). Typing is not
//! in the log: it goes to this instance's hub at once and to the others through the store's
//! `signal` (PostgreSQL NOTIFY), and is lost, harmlessly, when nobody listens.

use std::{sync::Arc, time::Duration};

use unicode_segmentation::UnicodeSegmentation;

use super::{
    classifier::ClassifierMode,
    hub::{Event, EventKind, Hub, Target},
    log::LogTail,
    rooms::{self, Actor},
    standing::{StepTaken, StrikeSource},
    webhook::Verdict,
    Chat, ChatError, Result,
};
use crate::store::{
    DeleteMessage, Deletion, EditMessage, LivingChange, LivingRefusal, LogBell, Message, Reaction, Store,
    ToggleReaction, Toggled, User,
};

/// Distinct emoji one message may carry: enough for any real conversation, and a bound on what
/// every reactions frame of the message costs.
pub const MAX_DISTINCT_REACTIONS: usize = 20;
/// The longest emoji accepted, in bytes (a family or flag sequence is about 25).
const MAX_EMOJI_BYTES: usize = 32;
/// The longest deletion reason kept, in characters.
const MAX_REASON_CHARS: usize = 500;

/// What became of an edit that went through moderation.
#[derive(Debug)]
pub enum Edited {
    /// Stored; the message as it is now, and the edit's log position.
    Done(Box<Message>, i64),
    /// Refused by moderation; the account now has `warnings` of `limit`.
    Warned { warnings: i64, limit: i64, term: String },
    /// Refused by moderation, and this violation muted the account until then (RFC 3339).
    Muted { until: String, term: String },
    /// Refused by moderation, and this violation blocked the account.
    Blocked { term: String },
}

/// A message, its reactions, for a reader who may see it.
#[derive(Debug)]
pub struct Seen {
    pub message: Message,
    pub reactions: Vec<Reaction>,
}

/// What a resuming socket sends for one living change of a message it saw before.
#[derive(Debug)]
pub enum Missed {
    Edited(Message, i64),
    Deleted { room: i64, id: i64, seq: i64 },
    Reactions { room: i64, id: i64, reactions: Vec<Reaction>, seq: i64 },
}

impl Missed {
    pub fn seq(&self) -> i64 {
        match self {
            Missed::Edited(_, seq) | Missed::Deleted { seq, .. } | Missed::Reactions { seq, .. } => *seq,
        }
    }

    /// The hub event this change is, for the frames the live path would have sent.
    pub fn into_event(self) -> EventKind {
        match self {
            Missed::Edited(message, seq) => EventKind::Edited { message: Box::new(message), seq },
            Missed::Deleted { room, id, seq } => EventKind::Deleted { room, id, seq },
            Missed::Reactions { room, id, reactions, seq } => {
                EventKind::Reactions { room, id, reactions, seq }
            }
        }
    }
}

fn refused(r: LivingRefusal, verb: &'static str) -> ChatError {
    match r {
        // A deleted message is gone: the same answer as one that never was.
        LivingRefusal::NotFound | LivingRefusal::Deleted => ChatError::MessageNotFound,
        LivingRefusal::NotYours if verb == "edit" => {
            ChatError::Forbidden("You can only edit your own messages")
        }
        LivingRefusal::NotYours => ChatError::Forbidden("You can only delete your own messages"),
        LivingRefusal::TooOld => {
            ChatError::Forbidden("This message is older than the edit window; it can no longer be edited")
        }
        LivingRefusal::Archived => ChatError::Archived,
        LivingRefusal::TooManyReactions => ChatError::Invalid {
            field: "emoji",
            detail: format!(
                "This message has {MAX_DISTINCT_REACTIONS} different reactions already; add to one of them"
            ),
        },
    }
}

/// Checks a reaction: one emoji, that is one grapheme that is not a letter, digit, space or
/// control character, so reactions stay reactions rather than a side channel for text.
pub fn validate_emoji(emoji: &str) -> Result<&str> {
    let invalid = |detail: &str| ChatError::Invalid { field: "emoji", detail: detail.to_string() };
    let emoji = emoji.trim();
    if emoji.is_empty() {
        return Err(invalid("Choose an emoji"));
    }
    if emoji.len() > MAX_EMOJI_BYTES || emoji.graphemes(true).count() != 1 {
        return Err(invalid("A reaction is one emoji"));
    }
    let first = emoji.chars().next().unwrap_or(' ');
    if first.is_alphanumeric() || first.is_whitespace() || first.is_control() || first.is_ascii() {
        return Err(invalid("A reaction is one emoji, not a letter or digit"));
    }
    Ok(emoji)
}

/// The edit window as the store compares it: messages sent before this can no longer be edited.
fn window_start(window: Duration) -> String {
    let start = time::OffsetDateTime::now_utc() - window;
    crate::timefmt::format(start)
}

impl Chat {
    /// A message the user may read now, with its reactions.
    pub async fn visible_message(&self, user: &User, id: i64) -> Result<Seen> {
        let user = user.clone();
        self.blocking(move |s| {
            let message = readable(s, &user, id)?;
            let reactions = s.reactions(&[id])?.pop().map(|(_, r)| r).unwrap_or_default();
            Ok(Seen { message, reactions })
        })
        .await
    }

    /// Edits the user's own message within the edit window; the new text is screened like a new
    /// message (a blocked term, or a score of the enforcing classifier at the threshold, counts
    /// as a violation and the edit is refused).
    pub async fn edit_message(&self, user: &User, id: i64, text: &str) -> Result<Edited> {
        let text = self.validate_text(text)?.to_string();
        crate::chat::standing::check_not_muted(user)?;
        // Whole-text matching only: the memory of split words is about consecutive messages,
        // and an edit is not the next message.
        let listed = self.matcher().find(&text).map(str::to_string);
        let offensive = if listed.is_none() { self.offensive(&text) } else { None };
        let enforced = offensive.filter(|_| self.config.classifier == ClassifierMode::Enforce);
        let verdict = match listed.is_none() && enforced.is_none() {
            true => self.webhook_edit(user, id, &text).await?,
            false => Verdict::Allow,
        };
        let refused_by_webhook = match &verdict {
            Verdict::Refuse { reason } => Some(reason.as_str()),
            _ => None,
        };
        if listed.is_some() || enforced.is_some() || refused_by_webhook.is_some() {
            let term = match (&listed, refused_by_webhook) {
                (Some(term), _) => term.clone(),
                (None, Some(reason)) => crate::chat::webhook::refusal_term(reason),
                (None, None) => crate::chat::classifier::TERM.to_string(),
            };
            let source = match (enforced, refused_by_webhook) {
                (Some(score), _) => StrikeSource::Classifier { score },
                (None, Some(reason)) => StrikeSource::Webhook { reason },
                (None, None) => StrikeSource::Words { term: &term },
            };
            let taken =
                self.strike(user, crate::chat::standing::Strike { source, text: &text, room: None }).await?;
            return Ok(match taken {
                StepTaken::Warned { strikes, .. } => {
                    Edited::Warned { warnings: strikes, limit: self.config.warning_limit, term }
                }
                StepTaken::Muted { until } => Edited::Muted { until, term },
                StepTaken::Blocked => Edited::Blocked { term },
            });
        }
        let editor = user.id;
        let not_before = window_start(self.config.edit_window);
        let out = self
            .logged(move |s| {
                let candidates = rooms::mention_candidates(&text);
                let now = crate::timefmt::now();
                let edit = EditMessage {
                    id,
                    editor_id: editor,
                    content: &text,
                    mention_candidates: &candidates,
                    timestamp: &now,
                    not_before: &not_before,
                };
                s.edit_message(&edit)?.map_err(|r| refused(r, "edit"))
            })
            .await?;
        // A flagged edit stands, and goes to the report queue as a flagged message would.
        if let (Some(score), ClassifierMode::Flag) = (offensive, self.config.classifier) {
            let source = crate::store::ReportSource::Classifier;
            self.flag_quietly(&out.0, source, Some(score), crate::chat::classifier::REASON).await;
        } else if let Verdict::Flag { reason } = &verdict {
            let reason = crate::chat::webhook::flag_reason(reason);
            self.flag_quietly(&out.0, crate::store::ReportSource::Webhook, None, &reason).await;
        }
        Ok(Edited::Done(Box::new(out.0), out.1))
    }

    /// Deletes a message: one's own, or anyone's for an admin (audited with `reason`).
    pub async fn delete_message(&self, user: &User, id: i64, reason: Option<String>) -> Result<i64> {
        let actor = user.clone();
        self.logged(move |s| delete(s, Actor::User(&actor), id, reason)).await
    }

    /// Adds the user's reaction, or takes it back; the message's reactions now.
    pub async fn toggle_reaction(&self, user: &User, id: i64, emoji: &str) -> Result<Toggled> {
        let emoji = validate_emoji(emoji)?.to_string();
        crate::chat::standing::check_not_muted(user)?;
        let user_id = user.id;
        self.logged(move |s| {
            let toggle = ToggleReaction {
                message_id: id,
                user_id,
                emoji: &emoji,
                max_distinct: MAX_DISTINCT_REACTIONS,
                timestamp: &crate::timefmt::now(),
            };
            s.toggle_reaction(&toggle)?.map_err(|r| refused(r, "react"))
        })
        .await
    }

    /// Tells the room's members, on every instance, that the user is typing. The caller
    /// throttles; a user who is not in the room (as this instance's hub knows, the user being
    /// online here) is refused like a missing room.
    pub fn typing(&self, user: &User, room: i64) -> Result<()> {
        if self.hub.in_room(user.id, room) != Some(true) {
            return Err(ChatError::RoomNotFound);
        }
        // A muted user cannot post: saying they are typing would be a promise they cannot keep.
        if crate::chat::standing::muted_until(user).is_some() {
            return Ok(());
        }
        typing_event(&self.hub, room, &user.username);
        let store = Arc::clone(&self.store);
        let payload = format!("typing {} {room} {}", self.instance, user.username);
        // Best effort and not awaited: a lost indicator is harmless, a slow one is stale.
        tokio::task::spawn_blocking(move || {
            if let Err(e) = store.signal(&payload) {
                tracing::debug!(error = %e, "cannot share a typing indicator");
            }
        });
        Ok(())
    }

    /// What a client resuming after `since` missed of messages it had already seen (ids up to
    /// `since`): for the changes at positions in (`after`, `before`), each message's state now.
    /// Changes of newer messages are left out: their message frames carry their state now.
    pub async fn living_after(
        &self,
        user_id: i64,
        since: i64,
        after: i64,
        before: i64,
    ) -> Result<Vec<Missed>> {
        self.blocking(move |s| {
            let changes: Vec<LivingChange> = s
                .living_changes(user_id, after, before)?
                .into_iter()
                .filter(|c| c.message_id <= since)
                .collect();
            missed(s, changes)
        })
        .await
    }

    /// These messages, each with its reactions.
    pub async fn with_reactions(&self, messages: Vec<Message>) -> Result<Vec<Seen>> {
        self.blocking(move |s| with_reactions(s, messages)).await
    }

    /// The audit of others' messages deleted, newest first.
    pub async fn deletions(&self, before: Option<i64>, limit: usize) -> Result<Vec<Deletion>> {
        self.blocking(move |s| Ok(s.deletions(before, limit)?)).await
    }

    /// The doorbell for the store's log watcher: rings the tailer, and passes other instances'
    /// typing signals to this hub.
    pub(super) fn bell(log: &LogTail, hub: &Arc<Hub>, instance: &str) -> Box<dyn LogBell> {
        Box::new(Bell { log: log.clone(), hub: Arc::clone(hub), instance: instance.to_string() })
    }
}

/// The frames of the changes, each with the state of its message now.
fn missed(s: &dyn crate::store::Store, changes: Vec<LivingChange>) -> Result<Vec<Missed>> {
    use crate::store::LivingKind;
    let ids = |kind: LivingKind| {
        changes.iter().filter(|c| c.kind == kind).map(|c| c.message_id).collect::<Vec<_>>()
    };
    let edited: std::collections::HashMap<i64, Message> =
        s.messages_by_id(&ids(LivingKind::Edit))?.into_iter().map(|m| (m.id, m)).collect();
    let mut reactions: std::collections::HashMap<i64, Vec<Reaction>> =
        s.reactions(&ids(LivingKind::React))?.into_iter().collect();
    let deleted: std::collections::HashSet<i64> = ids(LivingKind::Delete).into_iter().collect();
    let mut out = Vec::with_capacity(changes.len());
    for c in changes {
        // A deleted message's last word is its deletion; its edits and reactions are gone.
        let gone = deleted.contains(&c.message_id);
        match c.kind {
            LivingKind::Delete => out.push(Missed::Deleted { room: c.room_id, id: c.message_id, seq: c.seq }),
            LivingKind::Edit if !gone => {
                if let Some(m) = edited.get(&c.message_id) {
                    out.push(Missed::Edited(m.clone(), c.seq));
                }
            }
            LivingKind::React if !gone => out.push(Missed::Reactions {
                room: c.room_id,
                id: c.message_id,
                reactions: reactions.remove(&c.message_id).unwrap_or_default(),
                seq: c.seq,
            }),
            _ => {}
        }
    }
    Ok(out)
}

/// These messages, each with its reactions (one query for all of them).
pub(super) fn with_reactions(store: &dyn Store, messages: Vec<Message>) -> Result<Vec<Seen>> {
    let ids: Vec<i64> = messages.iter().map(|m| m.id).collect();
    let mut reactions: std::collections::HashMap<i64, Vec<Reaction>> =
        store.reactions(&ids)?.into_iter().collect();
    Ok(messages
        .into_iter()
        .map(|message| Seen { reactions: reactions.remove(&message.id).unwrap_or_default(), message })
        .collect())
}

/// A message `user` may read now: whoever may read a conversation's history may read its
/// messages (a public room's anyone, a private room's or a DM's its members only); any other is,
/// like a deleted one, a missing id.
pub(super) fn readable(store: &dyn Store, user: &User, id: i64) -> Result<Message> {
    let message = store.message(id)?.ok_or(ChatError::MessageNotFound)?;
    match rooms::visible(store, user, message.room_id) {
        Ok(_) => Ok(message),
        Err(ChatError::RoomNotFound) => Err(ChatError::MessageNotFound),
        Err(e) => Err(e),
    }
}

/// Deletes a message for `actor`: one's own, anyone's in a room they moderate, or anyone's for an
/// admin or the operator (others' deletions audited, with `reason`). Returns the deletion's log
/// position. The operator's command and the daemon's routes share it.
pub fn delete(store: &dyn Store, actor: Actor<'_>, id: i64, reason: Option<String>) -> Result<i64> {
    let reason = validate_reason(reason)?;
    let (actor_id, name, admin) = match actor {
        // The flag as stored now: a demoted admin's old token must not delete others'.
        Actor::User(user) => {
            let admin = store.user_by_id(user.id)?.is_some_and(|u| u.is_admin && !u.is_blocked);
            // An admin moderates the conversations they may read: public rooms, and their own.
            // A private room's or a DM's message is, to anyone else, a missing id. A room's
            // moderators delete any message of that room.
            let moderates = if admin {
                readable(store, user, id)?;
                true
            } else {
                match store.message(id)? {
                    Some(m) if m.sender_id != user.id => rooms::may_moderate(store, user, m.room_id)?,
                    _ => false,
                }
            };
            (Some(user.id), user.username.as_str(), moderates)
        }
        Actor::Operator => (None, crate::chat::accounts::CLI_ACTOR, true),
    };
    let del = DeleteMessage {
        id,
        actor_id,
        actor: name,
        may_delete_others: admin,
        reason: reason.as_deref(),
        timestamp: &crate::timefmt::now(),
    };
    Ok(store.delete_message(&del)?.map_err(|r| refused(r, "delete"))?.1)
}

fn validate_reason(reason: Option<String>) -> Result<Option<String>> {
    let reason = reason.map(|r| r.trim().to_string()).filter(|r| !r.is_empty());
    if reason.as_ref().is_some_and(|r| r.chars().count() > MAX_REASON_CHARS) {
        return Err(ChatError::Invalid {
            field: "reason",
            detail: format!("The reason is longer than {MAX_REASON_CHARS} characters"),
        });
    }
    Ok(reason)
}

fn typing_event(hub: &Hub, room: i64, user: &str) {
    let kind = EventKind::Typing { room, user: user.to_string() };
    hub.deliver(Target::Room(room), Event::new(kind, None));
}

struct Bell {
    log: LogTail,
    hub: Arc<Hub>,
    instance: String,
}

impl LogBell for Bell {
    fn ring(&self) {
        self.log.ring();
    }

    fn wanted(&self) -> bool {
        LogBell::wanted(&self.log)
    }

    fn signal(&self, payload: &str) {
        let mut parts = payload.splitn(4, ' ');
        if let (Some("typing"), Some(instance), Some(room), Some(user)) =
            (parts.next(), parts.next(), parts.next(), parts.next())
        {
            // This instance's own typists were told at once.
            if instance != self.instance {
                if let Ok(room) = room.parse() {
                    typing_event(&self.hub, room, user);
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::validate_emoji;

    #[test]
    fn a_reaction_is_one_emoji() {
        for ok in ["👍", "❤️", "👨‍👩‍👧", "🇫🇷", "★", "👍🏽"] {
            assert_eq!(validate_emoji(ok).unwrap(), ok);
        }
        for bad in ["", " ", "a", "7", "👍👍", "ok", "\u{7}", "!"] {
            assert!(validate_emoji(bad).is_err(), "{bad:?}");
        }
    }
}
