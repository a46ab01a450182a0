//! Reports of messages: members report what they can read, automatic moderation flags what it
//! doubts (`Chat::flag`), and the people who handle a conversation decide: dismiss, delete the
//! message, warn or mute its sender, or block them (admins only).
//!
//! A handler sees the reported message and its neighbours (`CONTEXT` before and after), and
//! nothing else of a private conversation. A decision is claimed first (the report's status,
//! with its audit row, in one transaction: a second handler gets a conflict and nothing is done
//! twice), then carried out; each reporter learns of it through the log, on any instance.

use std::time::Duration;

use super::{
    accounts, living,
    rooms::Actor,
    standing::{Strike, StrikeSource},
    Chat, ChatError, Result,
};
use crate::store::{
    DeleteMessage, Message, NewReport, Report, ReportDecision, ReportFilter, ReportRefusal, ReportSource,
    ReportStatus, Store, User,
};

/// The reasons a member chooses from.
pub const REASONS: [&str; 6] = ["spam", "harassment", "hate", "sexual", "violence", "other"];
/// The longest text a reporter may add, in characters.
pub const MAX_REPORT_TEXT: usize = 500;
/// Open reports one member may have at once: enough for any honest use, and a bound on what
/// one account can pile into the handlers' queue.
pub const MAX_OPEN_REPORTS: i64 = 50;
/// Messages shown before and after the reported one.
pub const CONTEXT: usize = 2;
/// The longest note a handler may add, in characters.
pub const MAX_NOTE: usize = 500;

/// A report's mute when the handler names no duration.
pub const DEFAULT_MUTE: Duration = Duration::from_secs(3600);
/// The longest mute a report's handler may give.
pub const MAX_MUTE: Duration = Duration::from_secs(99 * 86_400);

/// What a handler does about a report.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Decision {
    Dismiss,
    Delete,
    Warn,
    Mute(Duration),
    Block,
}

impl Decision {
    /// Parses an action and its duration (`mute` needs one, like `1h`).
    pub fn parse(action: &str, duration: Option<&str>) -> Result<Decision> {
        let invalid = |detail: &str| ChatError::Invalid { field: "action", detail: detail.to_string() };
        Ok(match action {
            "dismiss" => Decision::Dismiss,
            "delete" => Decision::Delete,
            "warn" => Decision::Warn,
            "block" => Decision::Block,
            "mute" => {
                let d = match duration {
                    None => DEFAULT_MUTE,
                    Some(d) => {
                        crate::config::parse_duration(d).filter(|d| *d <= MAX_MUTE).ok_or_else(|| {
                            ChatError::Invalid {
                                field: "duration",
                                detail: "A mute lasts a duration like 10m, 1h or 7d, at most 99 days".into(),
                            }
                        })?
                    }
                };
                Decision::Mute(d)
            }
            _ => return Err(invalid("The action is one of dismiss, delete, warn, mute, block")),
        })
    }

    pub fn status(self) -> ReportStatus {
        match self {
            Decision::Dismiss => ReportStatus::Dismissed,
            Decision::Delete => ReportStatus::Deleted,
            Decision::Warn => ReportStatus::Warned,
            Decision::Mute(_) => ReportStatus::Muted,
            Decision::Block => ReportStatus::Blocked,
        }
    }

    fn words(self) -> String {
        match self {
            Decision::Mute(d) => format!("mute for {} s", d.as_secs()),
            Decision::Dismiss => "dismiss".into(),
            Decision::Delete => "delete the message".into(),
            Decision::Warn => "warn".into(),
            Decision::Block => "block".into(),
        }
    }
}

/// Which queue a handler reads: the admins' (every conversation) or the moderators' (the rooms
/// they moderate; everything for an admin).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Queue {
    Admin,
    Moderator,
}

/// A report in a handler's queue, with its message's neighbours.
#[derive(Debug)]
pub struct Queued {
    pub report: Report,
    pub context: Vec<Message>,
}

fn invalid(field: &'static str, detail: impl Into<String>) -> ChatError {
    ChatError::Invalid { field, detail: detail.into() }
}

/// Trims an optional text; blank is none; longer than `max` characters is refused.
fn optional_text(field: &'static str, text: Option<String>, max: usize) -> Result<Option<String>> {
    let text = text.map(|t| t.trim().to_string()).filter(|t| !t.is_empty());
    if text.as_ref().is_some_and(|t| t.chars().count() > max) {
        return Err(invalid(field, format!("At most {max} characters")));
    }
    Ok(text)
}

/// The reports filter of a handler's queue (None: everything).
fn scope(queue: Queue, handler: &User) -> Option<i64> {
    match queue {
        Queue::Moderator if !handler.is_admin => Some(handler.id),
        _ => None,
    }
}

fn with_context(store: &dyn Store, report: Report) -> Result<Queued> {
    let mut context = store.messages_before(report.room_id, Some(report.message_id), CONTEXT)?;
    context.extend(store.room_messages_after(report.room_id, report.message_id, CONTEXT)?);
    Ok(Queued { report, context })
}

/// An automatic report to file once its message is committed (`Chat::settle`).
#[derive(Debug, Clone)]
pub struct AutoFlag {
    pub source: ReportSource,
    pub score: Option<f64>,
    pub reason: String,
}

impl Chat {
    /// A member reports a message they can read (not their own, once).
    pub async fn report_message(
        &self,
        user: &User,
        id: i64,
        reason: &str,
        text: Option<String>,
    ) -> Result<(i64, ReportStatus)> {
        if !REASONS.contains(&reason) {
            return Err(invalid("reason", format!("The reason is one of {}", REASONS.join(", "))));
        }
        let reason = reason.to_string();
        let text = optional_text("text", text, MAX_REPORT_TEXT)?;
        let user = user.clone();
        let id = self
            .blocking(move |s| {
                living::readable(s, &user, id)?;
                let new = NewReport {
                    message_id: id,
                    reporter_id: Some(user.id),
                    source: ReportSource::Member,
                    reason: &reason,
                    text: text.as_deref(),
                    score: None,
                    max_open: MAX_OPEN_REPORTS,
                    timestamp: &crate::timefmt::now(),
                };
                s.file_report(&new)?.map_err(|r| match r {
                    ReportRefusal::NotFound => ChatError::MessageNotFound,
                    ReportRefusal::Own => invalid("message", "You cannot report your own message"),
                    ReportRefusal::Duplicate => ChatError::Conflict {
                        field: "message",
                        detail: "You have already reported this message".into(),
                    },
                    ReportRefusal::TooMany => ChatError::TooMany(format!(
                        "You have {MAX_OPEN_REPORTS} reports waiting for a moderator; wait until some are handled"
                    )),
                })
            })
            .await?;
        Ok((id, ReportStatus::Open))
    }

    /// Automatic moderation (the classifier, the webhook) puts a delivered message in the queue
    /// as doubtful; returns the report's id.
    pub async fn flag(
        &self,
        message: &Message,
        source: ReportSource,
        score: Option<f64>,
        reason: &str,
    ) -> Result<i64> {
        let (id, reason) = (message.id, reason.to_string());
        self.blocking(move |s| {
            let new = NewReport {
                message_id: id,
                reporter_id: None,
                source,
                reason: &reason,
                text: None,
                score,
                max_open: i64::MAX,
                timestamp: &crate::timefmt::now(),
            };
            s.file_report(&new)?.map_err(|_| ChatError::MessageNotFound)
        })
        .await
    }

    /// A handler's queue, newest first, each report with its context.
    pub async fn report_queue(
        &self,
        handler: &User,
        queue: Queue,
        open: Option<bool>,
        before: Option<i64>,
        limit: usize,
    ) -> Result<Vec<Queued>> {
        let filter = ReportFilter {
            open,
            before_id: before,
            moderator_id: scope(queue, handler),
            limit,
            ..Default::default()
        };
        self.blocking(move |s| s.reports(&filter)?.into_iter().map(|r| with_context(s, r)).collect()).await
    }

    /// The reports the user filed, newest first.
    pub async fn my_reports(&self, user: &User, before: Option<i64>, limit: usize) -> Result<Vec<Report>> {
        let filter =
            ReportFilter { reporter_id: Some(user.id), before_id: before, limit, ..Default::default() };
        self.blocking(move |s| Ok(s.reports(&filter)?)).await
    }

    /// A handler decides on an open report; returns it as it is now.
    pub async fn decide_report(
        &self,
        handler: &User,
        queue: Queue,
        id: i64,
        decision: Decision,
        note: Option<String>,
    ) -> Result<Report> {
        let note = optional_text("note", note, MAX_NOTE)?;
        if decision == Decision::Block && !handler.is_admin {
            return Err(ChatError::Forbidden("Only an admin can block an account"));
        }
        let filter = ReportFilter {
            id: Some(id),
            moderator_id: scope(queue, handler),
            limit: 1,
            ..Default::default()
        };
        let report = self
            .blocking(move |s| s.reports(&filter)?.pop().ok_or(ChatError::NotFound("No such report")))
            .await?;
        let handled =
            || ChatError::Conflict { field: "report", detail: "This report was handled already".into() };
        if report.status != ReportStatus::Open {
            return Err(handled());
        }
        let mut reason = format!("report #{id}: {}", decision.words());
        if let Some(n) = &note {
            reason.push_str(&format!(" ({n})"));
        }
        let (actor, actor_id) = (handler.username.clone(), handler.id);
        let (why, status) = (reason.clone(), decision.status());
        self.logged(move |s| {
            let now = crate::timefmt::now();
            let d = ReportDecision {
                report_id: id,
                status,
                actor: &actor,
                actor_id: Some(actor_id),
                note: note.as_deref(),
                reason: &why,
                timestamp: &now,
            };
            s.decide_report(&d)?.ok_or_else(handled)
        })
        .await?;
        self.carry_out(handler, &report, decision, reason).await?;
        tracing::info!(handler = %handler.username, report = id, decision = ?decision, "report handled");
        // The reporters' frames come from the log: sent from here before the answer.
        self.log.sync().await;
        let filter = ReportFilter { id: Some(id), limit: 1, ..Default::default() };
        self.blocking(move |s| s.reports(&filter)?.pop().ok_or(ChatError::NotFound("No such report"))).await
    }

    /// What a decision does to the message or its sender.
    async fn carry_out(
        &self,
        handler: &User,
        report: &Report,
        decision: Decision,
        reason: String,
    ) -> Result<()> {
        match decision {
            Decision::Dismiss => Ok(()),
            // An admin mutes the account; a room's moderator only in the room they moderate
            // (their powers end at its walls).
            Decision::Mute(span) if handler.is_admin => {
                self.mute(Actor::User(handler), report.sender_id, span, Some(reason)).await?;
                Ok(())
            }
            Decision::Mute(span) => {
                let sender = report.sender.clone();
                self.room_mute(handler, report.room_id, sender, Some(span), Some(reason)).await?;
                Ok(())
            }
            Decision::Delete => {
                let (id, actor_id, actor) = (report.message_id, handler.id, handler.username.clone());
                // The handler was allowed to see this message as its report's handler: the
                // conversation's own rules (an admin reads only public rooms and their own) do
                // not apply here.
                self.logged(move |s| {
                    let del = DeleteMessage {
                        id,
                        actor_id: Some(actor_id),
                        actor: &actor,
                        may_delete_others: true,
                        reason: Some(&reason),
                        timestamp: &crate::timefmt::now(),
                    };
                    // Deleted by its sender meanwhile: nothing left to do.
                    Ok(s.delete_message(&del)?.map(|(_, seq)| seq).unwrap_or(0))
                })
                .await?;
                Ok(())
            }
            Decision::Warn => {
                let sender_id = report.sender_id;
                let sender = self
                    .blocking(move |s| s.user_by_id(sender_id)?.ok_or(ChatError::UnknownUserId(sender_id)))
                    .await?;
                let source = StrikeSource::Report {
                    report_id: report.id,
                    message_id: Some(report.message_id),
                    by: handler,
                };
                let strike = Strike { source, text: &report.message_text, room: Some(report.room_id) };
                self.strike(&sender, strike).await?;
                Ok(())
            }
            Decision::Block => {
                let (sender_id, actor) = (report.sender_id, handler.username.clone());
                let (user, changed) = self
                    .blocking(move |s| accounts::set_blocked(s, sender_id, true, &actor, Some(&reason)))
                    .await?;
                if changed {
                    tracing::info!(admin = %handler.username, user = %user.username, "account blocked by a report");
                }
                Ok(())
            }
        }
    }
}
