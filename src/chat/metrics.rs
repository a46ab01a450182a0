//! What `GET /metrics` reports (`serve --metrics-listen`): counters and histograms the chat path
//! updates as it works, and figures read only when Prometheus scrapes (the hashing queue, the
//! database pool, the tailer's lag, the shared audit log's counts).
//!
//! The hot paths stay cheap: the hub and the server keep plain counts of their own, and a
//! scrape turns them into metrics here (`Scrape`), so delivering a frame costs no metrics call
//! at all; the writer observes one histogram sample per committed batch, not per message.

use std::sync::{atomic::AtomicU64, Mutex};

use prometheus_client::{
    encoding::{text::encode, EncodeLabelSet},
    metrics::{
        counter::Counter,
        family::Family,
        gauge::Gauge,
        histogram::{exponential_buckets, Histogram},
        info::Info,
    },
    registry::Registry,
};

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct Reason {
    reason: &'static str,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct Outcome {
    outcome: &'static str,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct ActionLabel {
    action: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct Build {
    version: &'static str,
    instance: String,
}

/// Why a message (or an edit) was not accepted: the `reason` label of
/// `chatterbox_messages_refused_total`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Refused {
    /// The word list, the classifier or the webhook found a violation.
    Moderation,
    /// The sender is muted (everywhere or in the room), or slow mode made them wait.
    Muted,
    SlowMode,
    /// The per-connection message rate.
    RateLimited,
    /// Empty, too long, not JSON, a frame over the size limit.
    Invalid,
    /// Not a member, an archived room, a reply to a missing message.
    NotAllowed,
    /// The database could not save it.
    Failed,
}

impl Refused {
    /// The reason an error refused a message for.
    pub fn of(e: &super::ChatError) -> Refused {
        use super::ChatError;
        match e {
            ChatError::Invalid { .. } => Refused::Invalid,
            ChatError::RoomNotFound | ChatError::Archived | ChatError::MessageNotFound => Refused::NotAllowed,
            ChatError::RateLimited(_) => Refused::RateLimited,
            ChatError::Muted { .. } => Refused::Muted,
            ChatError::MutedInRoom { .. } => Refused::Muted,
            ChatError::SlowMode(_) => Refused::SlowMode,
            _ => Refused::Failed,
        }
    }

    fn label(self) -> &'static str {
        match self {
            Refused::Moderation => "moderation",
            Refused::Muted => "muted",
            Refused::SlowMode => "slow_mode",
            Refused::RateLimited => "rate_limited",
            Refused::Invalid => "invalid",
            Refused::NotAllowed => "not_allowed",
            Refused::Failed => "failed",
        }
    }
}

/// How a login ended: the `outcome` label of `chatterbox_logins_total`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Login {
    Ok,
    Failed,
    RateLimited,
    Blocked,
    /// Refused at once because the hashing queue was full, or another error.
    Unavailable,
}

impl Login {
    fn label(self) -> &'static str {
        match self {
            Login::Ok => "ok",
            Login::Failed => "failed",
            Login::RateLimited => "rate_limited",
            Login::Blocked => "blocked",
            Login::Unavailable => "unavailable",
        }
    }
}

/// Figures read at scrape time from the parts that own them.
#[derive(Debug, Default, Clone)]
pub struct Scrape {
    /// Frames handed to sockets, and sockets closed because their queue was full (totals).
    pub frames_delivered: u64,
    pub slow_disconnects: u64,
    pub hashing_waiting: u64,
    /// The database pool: connections open and idle (None: SQLite, no pool).
    pub pool: Option<(u32, u32)>,
    /// Whether the database answered this scrape's reads.
    pub database_up: bool,
    /// Committed log entries this instance has not delivered yet, and seconds since the tailer
    /// last read the log (None: the database did not answer).
    pub log_behind: Option<i64>,
    pub log_since_read: Option<f64>,
    /// Rows of the shared audit log by action (every instance's and the CLI's acts).
    pub audit: Option<Vec<(String, u64)>>,
}

/// The daemon's metrics; one per `Chat`.
#[derive(Debug)]
pub struct Metrics {
    registry: Registry,
    accepted: Counter,
    refused: Family<Reason, Counter>,
    delivered: Counter,
    slow: Counter,
    batch_size: Histogram,
    commit_seconds: Histogram,
    logins: Family<Outcome, Counter>,
    moderation: Family<ActionLabel, Counter>,
    connections: Gauge,
    hashing: Gauge,
    pool_open: Gauge,
    pool_idle: Gauge,
    database_up: Gauge,
    log_behind: Gauge,
    log_since_read: Gauge<f64, AtomicU64>,
    /// The totals last turned into counters (a counter only moves forward by the difference).
    seen: Mutex<Seen>,
}

#[derive(Debug, Default)]
struct Seen {
    delivered: u64,
    slow: u64,
    audit: Vec<(String, u64)>,
}

impl Metrics {
    pub fn new(instance: &str) -> Metrics {
        let mut registry = Registry::with_prefix("chatterbox");
        let m = Metrics {
            accepted: Counter::default(),
            refused: Family::default(),
            delivered: Counter::default(),
            slow: Counter::default(),
            // 1 to 2048 messages per commit (the writer's batch limit is below that).
            batch_size: Histogram::new(exponential_buckets(1.0, 2.0, 12)),
            // 0.1 ms to about 3 s.
            commit_seconds: Histogram::new(exponential_buckets(0.0001, 2.0, 16)),
            logins: Family::default(),
            moderation: Family::default(),
            connections: Gauge::default(),
            hashing: Gauge::default(),
            pool_open: Gauge::default(),
            pool_idle: Gauge::default(),
            database_up: Gauge::default(),
            log_behind: Gauge::default(),
            log_since_read: Gauge::default(),
            seen: Mutex::new(Seen::default()),
            registry: Registry::default(),
        };
        registry.register(
            "build",
            "This chatterbox's version and instance name",
            Info::new(Build { version: env!("CARGO_PKG_VERSION"), instance: instance.to_string() }),
        );
        registry.register("connections_open", "Open HTTP and WebSocket connections", m.connections.clone());
        registry.register(
            "messages_accepted",
            "Messages committed by this instance's writer",
            m.accepted.clone(),
        );
        registry.register(
            "messages_refused",
            "Messages and edits not accepted, by reason",
            m.refused.clone(),
        );
        registry.register(
            "frames_delivered",
            "Frames handed to this instance's sockets",
            m.delivered.clone(),
        );
        registry.register(
            "slow_disconnects",
            "Sockets closed because they could not keep up (they resume with ?since=)",
            m.slow.clone(),
        );
        registry.register("commit_batch_messages", "Messages per committed batch", m.batch_size.clone());
        registry.register("commit_seconds", "Time to commit one batch of messages", m.commit_seconds.clone());
        registry.register("logins", "Login attempts by outcome", m.logins.clone());
        registry.register(
            "moderation_actions",
            "Entries of the shared audit log by action (all instances and the operator CLI)",
            m.moderation.clone(),
        );
        registry.register("hashing_queue", "Logins and registrations waiting for bcrypt", m.hashing.clone());
        registry.register("db_pool_connections", "PostgreSQL pool connections open", m.pool_open.clone());
        registry.register("db_pool_idle", "PostgreSQL pool connections idle", m.pool_idle.clone());
        registry.register("database_up", "1 when the database answered this scrape", m.database_up.clone());
        registry.register(
            "log_behind",
            "Committed log entries this instance has not delivered yet",
            m.log_behind.clone(),
        );
        registry.register(
            "log_seconds_since_read",
            "Seconds since the log tailer last read the log",
            m.log_since_read.clone(),
        );
        Metrics { registry, ..m }
    }

    /// Open connections, kept by the server's admission as they open and close.
    pub fn connections_gauge(&self) -> Gauge {
        self.connections.clone()
    }

    pub fn accepted(&self, messages: u64) {
        self.accepted.inc_by(messages);
    }

    pub fn refused(&self, reason: Refused) {
        self.refused_many(reason, 1);
    }

    pub fn refused_many(&self, reason: Refused, messages: u64) {
        self.refused.get_or_create(&Reason { reason: reason.label() }).inc_by(messages);
    }

    pub fn login(&self, outcome: Login) {
        self.logins.get_or_create(&Outcome { outcome: outcome.label() }).inc();
    }

    /// One committed batch.
    pub fn committed(&self, messages: usize, seconds: f64) {
        self.batch_size.observe(messages as f64);
        self.commit_seconds.observe(seconds);
    }

    /// The exposition text, after taking in what was read for this scrape.
    pub fn render(&self, scrape: &Scrape) -> String {
        {
            let mut seen = self.seen.lock().unwrap_or_else(|p| p.into_inner());
            self.delivered.inc_by(scrape.frames_delivered.saturating_sub(seen.delivered));
            self.slow.inc_by(scrape.slow_disconnects.saturating_sub(seen.slow));
            seen.delivered = seen.delivered.max(scrape.frames_delivered);
            seen.slow = seen.slow.max(scrape.slow_disconnects);
            if let Some(audit) = &scrape.audit {
                for (action, count) in audit {
                    let before = seen.audit.iter().find(|(a, _)| a == action).map_or(0, |(_, c)| *c);
                    self.moderation
                        .get_or_create(&ActionLabel { action: action.clone() })
                        .inc_by(count.saturating_sub(before));
                }
                seen.audit.clone_from(audit);
            }
        }
        self.database_up.set(i64::from(scrape.database_up));
        self.hashing.set(scrape.hashing_waiting as i64);
        let (open, idle) = scrape.pool.unwrap_or((0, 0));
        self.pool_open.set(i64::from(open));
        self.pool_idle.set(i64::from(idle));
        if let (Some(behind), Some(since)) = (scrape.log_behind, scrape.log_since_read) {
            self.log_behind.set(behind);
            self.log_since_read.set(since);
        }
        let mut out = String::new();
        // Writing into a String cannot fail.
        let _ = encode(&mut out, &self.registry);
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn counters_move_by_the_difference_of_scraped_totals() {
        let m = Metrics::new("test");
        m.accepted(3);
        m.refused(Refused::Moderation);
        m.login(Login::Ok);
        m.committed(3, 0.002);
        let mut scrape =
            Scrape { frames_delivered: 10, audit: Some(vec![("warning".into(), 2)]), ..Scrape::default() };
        m.render(&scrape);
        scrape.frames_delivered = 15;
        scrape.audit = Some(vec![("warning".into(), 5), ("block".into(), 1)]);
        m.render(&scrape);
        // A scrape whose database reads failed leaves the counters where they were.
        scrape.audit = None;
        let text = m.render(&scrape);
        assert!(text.contains("chatterbox_frames_delivered_total 15"), "{text}");
        assert!(text.contains("chatterbox_moderation_actions_total{action=\"warning\"} 5"), "{text}");
        assert!(text.contains("chatterbox_moderation_actions_total{action=\"block\"} 1"), "{text}");
        assert!(text.contains("chatterbox_messages_refused_total{reason=\"moderation\"} 1"), "{text}");
        assert!(text.contains("chatterbox_logins_total{outcome=\"ok\"} 1"), "{text}");
        assert!(text.contains("chatterbox_commit_batch_messages_count 1"), "{text}");
        assert!(text.contains("chatterbox_build_info{version="), "{text}");
        assert!(text.ends_with("# EOF\n"), "{text}");
    }
}
