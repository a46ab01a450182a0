//! A user's standing: the moderation ladder (`--moderation-ladder`), strikes that may decay
//! (`--strike-decay`), account-wide timed mutes, and the one way every violation is counted
//! (`Chat::strike`).
//!
//! Strikes are the audit rows marked `strike` of the user, newer than the decay and than the
//! user's `strikes_since` (an unblock starts the ladder afresh). They are counted in the
//! transaction that adds the next one, so concurrent violations of one user, on any socket or
//! instance, take each step once. A mute is a time (`users.muted_until`): it ends by itself, and
//! the store refuses a muted sender's message in the writing transaction. Every mute and unmute,
//! by the ladder, an admin or the operator, is a log change, so every instance tells the user's
//! sockets within a second.
//!
//! While muted, a user reads everything but cannot post, edit or react; typing indicators are
//! dropped.

use std::{fmt, time::Duration};

use serde::Serialize;

use crate::store::{MuteAction, Store, StoreError, StrikeRecord, StrikeStep, User};

use super::{accounts::CLI_ACTOR, hub::Control, rooms::Actor, Chat, ChatError, Result};

/// One step of the ladder.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Step {
    Warn,
    Mute(Duration),
    Block,
}

impl fmt::Display for Step {
    /// `warn`, `mute:10m`, `block`: as `--moderation-ladder` takes them and `GET /me` names them.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Step::Warn => f.write_str("warn"),
            Step::Mute(d) => write!(f, "mute:{}", format_duration(*d)),
            Step::Block => f.write_str("block"),
        }
    }
}

/// What the strikes of a user lead to: the n-th strike takes the n-th step; past the end the
/// last step repeats (a block ends the ladder: a blocked account takes no more strikes).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Ladder {
    steps: Vec<Step>,
}

impl Default for Ladder {
    /// The design document's rule: two warnings, then a block.
    fn default() -> Self {
        Ladder::classic(3)
    }
}

impl Ladder {
    /// `--warning-limit N`: N - 1 warnings, then a block.
    pub fn classic(limit: i64) -> Ladder {
        let warnings = usize::try_from(limit.max(1) - 1).unwrap_or(0);
        let mut steps = vec![Step::Warn; warnings];
        steps.push(Step::Block);
        Ladder { steps }
    }

    /// Parses `warn,warn,mute:10m,block`.
    pub fn parse(text: &str) -> std::result::Result<Ladder, String> {
        let mut steps = Vec::new();
        for (i, part) in text.split(',').map(str::trim).enumerate() {
            let step = match part {
                "warn" => Step::Warn,
                "block" => Step::Block,
                "" => return Err(format!("step {} is empty; steps are warn, mute:DURATION and block", i + 1)),
                _ => match part.strip_prefix("mute:") {
                    Some(d) => Step::Mute(parse_duration(d).map_err(|e| format!("step {} ({part}): {e}", i + 1))?),
                    None => {
                        return Err(format!(
                            "step {} ({part:?}) is not a step; steps are warn, mute:DURATION (e.g. mute:10m) and block",
                            i + 1
                        ))
                    }
                },
            };
            if steps.last() == Some(&Step::Block) {
                return Err("block must be the last step: a blocked account takes no more strikes".into());
            }
            steps.push(step);
        }
        Ok(Ladder { steps })
    }

    /// The step the `strike`-th strike (from 1) takes.
    pub fn step(&self, strike: i64) -> Step {
        let i = usize::try_from(strike.max(1) - 1).unwrap_or(0).min(self.steps.len() - 1);
        self.steps[i]
    }

    /// The strike that blocks the account, if the ladder ends in a block (the warning frame's
    /// `limit`, as `--warning-limit` was).
    pub fn block_at(&self) -> Option<i64> {
        self.steps.iter().position(|s| *s == Step::Block).map(|i| i as i64 + 1)
    }

    /// Whether this is `--warning-limit`'s ladder: warnings, then a block.
    pub fn is_classic(&self) -> bool {
        self.steps
            .split_last()
            .is_some_and(|(last, rest)| *last == Step::Block && rest.iter().all(|s| *s == Step::Warn))
    }
}

impl fmt::Display for Ladder {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let steps: Vec<String> = self.steps.iter().map(Step::to_string).collect();
        f.write_str(&steps.join(","))
    }
}

/// Parses `30s`, `10m`, `24h`, `7d` (a bare number is seconds).
pub fn parse_duration(text: &str) -> std::result::Result<Duration, String> {
    let text = text.trim();
    let (digits, unit) = text.split_at(text.find(|c: char| !c.is_ascii_digit()).unwrap_or(text.len()));
    let secs_per = match unit {
        "" | "s" => 1,
        "m" => 60,
        "h" => 3600,
        "d" => 86_400,
        _ => {
            return Err(format!(
                "invalid duration {text:?}: expected a number and s, m, h or d (30s, 10m, 24h, 7d)"
            ))
        }
    };
    let n: u64 = digits.parse().map_err(|_| {
        format!("invalid duration {text:?}: expected a number and s, m, h or d (30s, 10m, 24h, 7d)")
    })?;
    if n == 0 {
        return Err(format!("invalid duration {text:?}: it must be longer than zero"));
    }
    // A year is far more than any mute needs, and keeps the end a valid timestamp.
    let secs = n.checked_mul(secs_per).filter(|s| *s <= 366 * 86_400);
    secs.map(Duration::from_secs).ok_or_else(|| format!("invalid duration {text:?}: at most 366d"))
}

/// A duration in its shortest exact form: `90s`, `10m`, `24h`, `7d` (a day reads as `24h`).
pub fn format_duration(d: Duration) -> String {
    let s = d.as_secs();
    match s {
        0 => "0s".into(),
        _ if s.is_multiple_of(86_400) && s > 86_400 => format!("{}d", s / 86_400),
        _ if s.is_multiple_of(3600) => format!("{}h", s / 3600),
        _ if s.is_multiple_of(60) => format!("{}m", s / 60),
        _ => format!("{s}s"),
    }
}

/// What found the violation.
#[derive(Debug, Clone, Copy)]
pub enum StrikeSource<'a> {
    /// The word list matched `term`.
    Words { term: &'a str },
    /// The classifier in enforce mode, with its score.
    Classifier { score: f64 },
    /// The moderation webhook answered "refuse", with its reason.
    Webhook { reason: &'a str },
    /// A report answered with "warn" by `by` (an admin or the room's moderator); the message
    /// reported.
    Report { report_id: i64, message_id: Option<i64>, by: &'a User },
}

/// A violation to count on the user's ladder.
#[derive(Debug, Clone, Copy)]
pub struct Strike<'a> {
    pub source: StrikeSource<'a>,
    /// The offending text.
    pub text: &'a str,
    /// The room it was posted in, when known.
    pub room: Option<i64>,
}

/// The ladder's step a strike took.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum StepTaken {
    /// `strikes` count now; the next strike takes `next`.
    Warned { strikes: i64, next: Step },
    /// Muted until then (RFC 3339).
    Muted { until: String },
    /// The account is blocked (now, or was already).
    Blocked,
}

/// A user's standing, for `GET /me` and the socket's hello.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Standing {
    /// Strikes that count now.
    pub strikes: i64,
    /// What the next strike does: `warn`, `mute:10m` or `block`.
    pub next_step: String,
    /// The end of a running account mute (RFC 3339), or null.
    pub muted_until: Option<String>,
}

/// The end of the user's mute if it is still running.
pub fn muted_until(user: &User) -> Option<&str> {
    let now = crate::timefmt::now();
    user.muted_until.as_deref().filter(|u| *u > now.as_str())
}

/// Refuses what a muted user may not do (post, edit, react).
pub fn check_not_muted(user: &User) -> Result<()> {
    match muted_until(user) {
        Some(until) => Err(ChatError::Muted { until: until.to_string() }),
        None => Ok(()),
    }
}

/// Mutes `user_id` for `span` (None: lifts the mute), audited with `reason`, as the operator or
/// an account. Returns the account and whether anything changed.
pub fn set_muted(
    store: &dyn Store,
    actor: Actor<'_>,
    user_id: i64,
    span: Option<Duration>,
    reason: Option<&str>,
) -> Result<(User, bool)> {
    let (name, actor_id) = match actor {
        Actor::User(u) => (u.username.as_str(), Some(u.id)),
        Actor::Operator => (CLI_ACTOR, None),
    };
    let until = span.map(crate::timefmt::now_plus);
    let now = crate::timefmt::now();
    let mute =
        MuteAction { user_id, until: until.as_deref(), actor: name, actor_id, reason, timestamp: &now };
    store.set_muted(&mute).map_err(|e| match e {
        StoreError::UserNotFound => ChatError::UnknownUserId(user_id),
        other => other.into(),
    })
}

/// The hub's word for a log change of a mute: the new end, or None once lifted.
pub(super) fn mute_control(until_ms: i64) -> Control {
    let until = (until_ms > 0).then(|| crate::timefmt::from_unix_ms(until_ms));
    Control::Muted { until }
}

impl Chat {
    /// The ladder this daemon applies.
    pub fn ladder(&self) -> &Ladder {
        &self.config.ladder
    }

    /// The step after `strikes` strikes, and whether the ladder is the classic warnings then a
    /// block (whose warning keeps its words).
    pub fn next_step(&self, strikes: i64) -> (Step, bool) {
        (self.config.ladder.step(strikes + 1), self.config.ladder.is_classic())
    }

    /// Strikes before this time no longer count (None: no decay).
    fn counted_after(&self) -> Option<String> {
        self.config.strike_decay.map(crate::timefmt::now_minus)
    }

    /// Counts a violation on the user's ladder and takes its step, in one transaction (see
    /// `Store::strike`); a mute or block reaches every socket of the account through the log.
    pub async fn strike(&self, user: &User, strike: Strike<'_>) -> Result<StepTaken> {
        let (actor, actor_id, term, reason, message_id) = match strike.source {
            StrikeSource::Words { term } => {
                ("moderation".to_string(), None, Some(term.to_string()), None, None)
            }
            // The term a word-list hit would name: what the warning frame and the audit log show.
            StrikeSource::Classifier { score } => (
                "classifier".to_string(),
                None,
                Some(super::classifier::TERM.to_string()),
                Some(format!("classifier score {score:.3}")),
                None,
            ),
            StrikeSource::Webhook { reason } => (
                "webhook".to_string(),
                None,
                Some(super::webhook::refusal_term(reason)),
                Some(reason.to_string()),
                None,
            ),
            StrikeSource::Report { report_id, message_id, by } => {
                (by.username.clone(), Some(by.id), None, Some(format!("report #{report_id}")), message_id)
            }
        };
        let (user_id, text, room) = (user.id, strike.text.to_string(), strike.room);
        let ladder = self.config.ladder.clone();
        let counted_after = self.counted_after();
        let outcome = self
            .logged(move |s| {
                let now = crate::timefmt::now();
                let record = StrikeRecord {
                    user_id,
                    text: Some(&text),
                    term: term.as_deref(),
                    reason: reason.as_deref(),
                    actor: &actor,
                    actor_id,
                    room_id: room,
                    message_id,
                    counted_after: counted_after.as_deref(),
                    timestamp: &now,
                };
                let mut step = |n: i64| match ladder.step(n) {
                    Step::Warn => StrikeStep::Warn,
                    Step::Mute(d) => StrikeStep::Mute { until: crate::timefmt::now_plus(d) },
                    Step::Block => StrikeStep::Block,
                };
                Ok(s.strike(&record, &mut step)?)
            })
            .await?;
        let taken = match outcome.step {
            StrikeStep::Warn => StepTaken::Warned {
                strikes: outcome.strikes,
                next: self.config.ladder.step(outcome.strikes + 1),
            },
            StrikeStep::Mute { until } => StepTaken::Muted { until },
            StrikeStep::Block => StepTaken::Blocked,
        };
        if outcome.recorded {
            tracing::info!(user = %user.username, strikes = outcome.strikes, step = ?taken, "moderation strike");
        }
        Ok(taken)
    }

    /// An admin (or the operator) mutes an account for `for_`; every socket of it is told.
    pub async fn mute(
        &self,
        actor: Actor<'_>,
        user_id: i64,
        for_: Duration,
        reason: Option<String>,
    ) -> Result<User> {
        self.change_mute(actor, user_id, Some(for_), reason).await
    }

    /// Lifts an account's mute (nothing changes, nothing is audited, if it is not muted).
    pub async fn unmute(&self, actor: Actor<'_>, user_id: i64, reason: Option<String>) -> Result<User> {
        self.change_mute(actor, user_id, None, reason).await
    }

    async fn change_mute(
        &self,
        actor: Actor<'_>,
        user_id: i64,
        span: Option<Duration>,
        reason: Option<String>,
    ) -> Result<User> {
        let owned = match actor {
            Actor::User(u) => Some(u.clone()),
            Actor::Operator => None,
        };
        let (user, changed) = self
            .logged(move |s| {
                let actor = owned.as_ref().map_or(Actor::Operator, Actor::User);
                set_muted(s, actor, user_id, span, reason.as_deref())
            })
            .await?;
        if changed {
            tracing::info!(user = %user.username, until = ?user.muted_until, "account mute changed");
        }
        Ok(user)
    }

    /// The account with this username (exactly, as stored), if any.
    pub async fn user_named(&self, username: &str) -> Result<Option<User>> {
        let name = username.to_string();
        self.blocking(move |s| Ok(s.user_by_username(&name)?)).await
    }

    /// The user's standing now (the account is read again: a mute may have changed since the
    /// caller's copy).
    pub async fn standing(&self, user: &User) -> Result<Standing> {
        let (user_id, counted_after) = (user.id, self.counted_after());
        let (strikes, fresh) = self
            .blocking(move |s| Ok((s.strikes(user_id, counted_after.as_deref())?, s.user_by_id(user_id)?)))
            .await?;
        let fresh = fresh.ok_or(ChatError::UnknownUserId(user_id))?;
        Ok(Standing {
            strikes,
            next_step: self.config.ladder.step(strikes + 1).to_string(),
            muted_until: muted_until(&fresh).map(str::to_string),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ladders_parse_and_repeat_their_last_step() {
        let l = Ladder::parse("warn, warn,mute:10m,mute:24h").unwrap();
        assert_eq!(l.step(1), Step::Warn);
        assert_eq!(l.step(3), Step::Mute(Duration::from_secs(600)));
        assert_eq!(l.step(9), Step::Mute(Duration::from_secs(86_400)));
        assert_eq!(l.to_string(), "warn,warn,mute:10m,mute:24h");
        assert_eq!(l.block_at(), None);
        assert_eq!(Ladder::default(), Ladder::parse("warn,warn,block").unwrap());
        assert!(Ladder::default().is_classic());
        assert_eq!(Ladder::classic(1).step(1), Step::Block);
    }

    #[test]
    fn bad_ladders_say_why() {
        assert!(Ladder::parse("warn,block,warn").unwrap_err().contains("last step"));
        assert!(Ladder::parse("warn,,block").unwrap_err().contains("empty"));
        assert!(Ladder::parse("warn,kick").unwrap_err().contains("not a step"));
        assert!(Ladder::parse("mute:10x").unwrap_err().contains("invalid duration"));
        assert!(Ladder::parse("mute:0s").unwrap_err().contains("longer than zero"));
    }

    #[test]
    fn durations() {
        assert_eq!(parse_duration("30s").unwrap(), Duration::from_secs(30));
        assert_eq!(parse_duration("90").unwrap(), Duration::from_secs(90));
        assert_eq!(parse_duration("7d").unwrap(), Duration::from_secs(7 * 86_400));
        assert!(parse_duration("1y").is_err());
        assert!(parse_duration("m").is_err());
        assert!(parse_duration("400d").is_err());
        assert_eq!(format_duration(Duration::from_secs(90)), "90s");
        assert_eq!(format_duration(Duration::from_secs(7200)), "2h");
    }
}
