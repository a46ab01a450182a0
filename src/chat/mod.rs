//! The domain: accounts, moderation, the broadcast hub, and `Chat`, the service that ties them
//! to a store for the daemon.
//!
//! `Chat` is the daemon's whole state, passed explicitly (no globals) so tests can run many
//! servers in one process. Its async methods move every blocking call off the reactor: SQLite
//! onto tokio's blocking threads, bcrypt onto the low-priority hashing pool (`hasher`), whose
//! bounded queue makes a login storm wait or be refused instead of starving the chat.

pub mod accounts;
pub mod appeals;
pub mod auth;
pub mod classifier;
pub mod error;
pub mod export;
pub mod hasher;
pub mod hub;
pub mod living;
pub mod log;
pub mod metrics;
pub mod moderation;
pub mod presence;
pub mod ratelimit;
pub mod reports;
pub mod roommod;
pub mod rooms;
pub mod search;
pub mod standing;
pub mod terms;
pub mod text;
pub mod webhook;
pub mod writer;

use std::{
    net::IpAddr,
    sync::{
        atomic::{AtomicBool, Ordering},
        Arc, Mutex,
    },
    time::{Duration, Instant},
};

use crate::store::{
    Counts, LimitSlot, Memberships, Message, NewMessage, Store, User, UserFilter, Violation, GENERAL_ROOM,
};

use classifier::{Classifier, ClassifierMode};
pub use error::{ChatError, Result};
use hasher::Hasher;
use hub::Hub;
use log::LogTail;
use metrics::{Metrics, Refused, Scrape};
use moderation::{Matcher, Tails};
use ratelimit::{KeyedLimiter, LoginGuard, Rate, Verdict};
use writer::Writer;

/// Domain settings of the daemon (validated by `config`).
#[derive(Debug, Clone)]
pub struct ChatConfig {
    pub bcrypt_cost: u32,
    pub token_ttl_secs: i64,
    /// The violation that blocks the account (3: two warnings, then a block): the ladder's
    /// block, for the warning frame's `limit` (0 when the ladder never blocks).
    pub warning_limit: i64,
    /// What each strike does (`--moderation-ladder`).
    pub ladder: standing::Ladder,
    /// Strikes older than this no longer count (`--strike-decay`; None: they always count).
    pub strike_decay: Option<Duration>,
    pub max_message_chars: usize,
    pub history_limit: usize,
    /// Per connection.
    pub message_rate: Rate,
    /// Login and registration attempts per client address, registrations per name, and failed
    /// logins per account and address (`ratelimit::LoginGuard`), shared by every instance on the
    /// database; None turns them off.
    pub auth_rate: Option<Rate>,
    pub broadcast_capacity: usize,
    /// Logins and registrations waiting for bcrypt; beyond it they are refused at once (503
    /// with Retry-After) instead of queueing for minutes behind a storm.
    pub max_pending_logins: usize,
    /// A user whose last socket closed counts as online this long before `leave` is announced,
    /// so reconnects do not flood the room with join/leave frames.
    pub presence_grace: Duration,
    /// How often the log tailer looks for entries written outside this daemon's writer (the
    /// operator CLI); a doorbell wakes it sooner for this daemon's own changes.
    pub log_poll: Duration,
    /// How often this daemon shares who is online on it and learns who is on other instances
    /// (`chat::presence`).
    pub presence_beat: Duration,
    /// An instance not heard from for this long is dead: its users count as gone.
    pub instance_ttl: Duration,
    /// How long after sending a message its author may still edit it.
    pub edit_window: Duration,
    /// What the learned classifier does (`chat::classifier`).
    pub classifier: ClassifierMode,
    /// The classifier's score from which a text counts as offensive (0 < t < 1).
    pub classifier_threshold: f64,
    /// `--moderation-webhook`: asked about every message and edit (`chat::webhook`).
    pub webhook: Option<webhook::WebhookConfig>,
}

impl Default for ChatConfig {
    fn default() -> Self {
        ChatConfig {
            bcrypt_cost: bcrypt::DEFAULT_COST,
            token_ttl_secs: 24 * 3600,
            warning_limit: 3,
            ladder: standing::Ladder::default(),
            strike_decay: None,
            max_message_chars: 2000,
            history_limit: 50,
            message_rate: Rate::new(10.0, 5.0),
            auth_rate: Some(Rate::new(10.0, 0.2)),
            // Counted in hub events (a committed batch each): a client more than this many
            // batches behind is disconnected and resumes with `?since=`.
            broadcast_capacity: 1024,
            max_pending_logins: 256,
            presence_grace: Duration::from_secs(3),
            log_poll: Duration::from_millis(250),
            presence_beat: Duration::from_secs(1),
            instance_ttl: Duration::from_secs(20),
            edit_window: Duration::from_secs(24 * 3600),
            classifier: ClassifierMode::Flag,
            classifier_threshold: classifier::DEFAULT_THRESHOLD,
            webhook: None,
        }
    }
}

/// Users whose last word moderation remembers at once, and for how long: a word split across two
/// messages ("fu", then "ck") is sent within seconds.
const TAIL_USERS: usize = 10_000;
const TAIL_TTL: Duration = Duration::from_secs(30);

/// What happened to a message a user sent.
#[derive(Debug)]
pub enum Posted {
    /// Screened and queued for the writer: `Queued::outcome` says whether it was committed
    /// (and then broadcast: the broadcast is the sender's acknowledgement). The next message of
    /// the same sender may be posted meanwhile; the writer keeps their order.
    Queued(writer::Queued),
    /// Refused by moderation; the account now has `warnings` of `limit`.
    Warned { warnings: i64, limit: i64, term: String },
    /// Refused by moderation, and this violation muted the account until then (RFC 3339).
    Muted { until: String, term: String },
    /// Refused by moderation, and this violation blocked the account.
    Blocked { term: String },
}

pub struct Chat {
    pub config: ChatConfig,
    /// This daemon's name among the instances sharing the database (`chat::presence`).
    instance: String,
    store: Arc<dyn Store>,
    hub: Arc<Hub>,
    log: LogTail,
    writer: Writer,
    keys: auth::TokenKeys,
    appeal_keys: appeals::AppealKeys,
    /// None when `--classifier off`.
    classifier: Option<Classifier>,
    /// The word list: the live term lists (`chat::terms`), rebuilt by the tailer on a change.
    terms: Arc<terms::LiveTerms>,
    /// The last word of each user's previous message, for words split across two messages.
    tails: Tails,
    webhook: Option<webhook::Webhook>,
    dummy: Mutex<Arc<Dummy>>,
    dummy_refreshing: AtomicBool,
    hasher: Hasher,
    /// This process's first line of the per-address limit, at its rate: a flood from one
    /// address is refused here, before each request costs a write of the shared limits.
    ip_limiter: KeyedLimiter<IpAddr>,
    login_guard: LoginGuard,
    metrics: Arc<Metrics>,
}

/// How often expired rows of the shared limits are deleted.
const LIMITS_PURGE: Duration = Duration::from_secs(60);

/// How often the cost of the dummy hash is checked against the stored hashes.
const DUMMY_REFRESH: Duration = Duration::from_secs(60);

/// The hash an unknown name's password is checked against, so that it costs what a typical
/// account's wrong password does: at the cost most stored hashes have, which is not always the
/// configured one (accounts made with another `--bcrypt-cost`, before rehashing at login moved
/// them).
#[derive(Debug)]
struct Dummy {
    cost: u32,
    hash: String,
    checked: Instant,
}

impl Dummy {
    fn new(cost: u32) -> Result<Dummy> {
        Ok(Dummy {
            cost,
            hash: auth::hash_password(&auth::generate_secret()?, cost)?,
            checked: Instant::now(),
        })
    }
}

impl std::fmt::Debug for Chat {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Chat").field("config", &self.config).finish_non_exhaustive()
    }
}

/// Where the token-signing secret comes from.
pub enum Secret {
    Given(Vec<u8>),
    /// Generated once and kept in the database, so restarts keep sessions valid.
    Stored,
}

impl Chat {
    /// Builds the service and starts its writer thread. Blocks briefly (one bcrypt hash, and
    /// filling the comparison keys of accounts stored before they existed).
    pub fn start(
        store: Arc<dyn Store>,
        config: ChatConfig,
        secret: Secret,
        matcher: Matcher,
    ) -> Result<Arc<Chat>> {
        let secret = match secret {
            Secret::Given(bytes) => bytes,
            Secret::Stored => store.setting_or_insert("jwt_secret", &auth::generate_secret()?)?.into_bytes(),
        };
        let hub = Arc::new(Hub::new(config.broadcast_capacity, config.presence_grace));
        // `matcher` only seeds the live lists (once); the tailer keeps them current from here.
        let terms = Arc::new(terms::start(&*store, &matcher)?);
        let log = LogTail::spawn(Arc::clone(&store), Arc::clone(&hub), Arc::clone(&terms), config.log_poll)?;
        // Other instances' writes reach the tailer at once where the backend can tell (PostgreSQL
        // NOTIFY); the poll stays as the fallback for a lost notification.
        let instance = presence::instance_id();
        store.watch_log(Chat::bell(&log, &hub, &instance))?;
        let metrics = Arc::new(Metrics::new(&instance));
        let writer = Writer::spawn(Arc::clone(&store), log.clone(), Arc::clone(&metrics))
            .map_err(|e| ChatError::Internal(format!("cannot start the writer thread: {e}")))?;
        let keyed = accounts::backfill_keys(&*store)?;
        if keyed > 0 {
            tracing::info!(accounts = keyed, "stored the look-alike and e-mail keys of older accounts");
        }
        let dummy = Dummy::new(accounts::typical_cost(&*store, config.bcrypt_cost)?)?;
        let parallel = std::thread::available_parallelism().map(|n| n.get()).unwrap_or(2);
        let hasher = Hasher::start(parallel, config.max_pending_logins)
            .map_err(|e| ChatError::Internal(format!("cannot start the hashing threads: {e}")))?;
        let auth_rate = config.auth_rate.unwrap_or(Rate::new(f64::MAX, f64::MAX));
        let classifier = (config.classifier != ClassifierMode::Off).then(Classifier::embedded);
        Ok(Arc::new(Chat {
            classifier,
            webhook: config.webhook.clone().map(webhook::Webhook::new),
            keys: auth::TokenKeys::new(&secret, config.token_ttl_secs),
            appeal_keys: appeals::AppealKeys::new(&secret),
            ip_limiter: KeyedLimiter::new(auth_rate, 100_000),
            login_guard: LoginGuard::new(auth_rate),
            config,
            instance,
            store,
            hub,
            log,
            writer,
            terms,
            tails: Tails::new(TAIL_USERS, TAIL_TTL),
            dummy: Mutex::new(Arc::new(dummy)),
            dummy_refreshing: AtomicBool::new(false),
            hasher,
            metrics,
        }))
    }

    pub fn hub(&self) -> &Arc<Hub> {
        &self.hub
    }

    pub fn metrics(&self) -> &Metrics {
        &self.metrics
    }

    /// The `/metrics` text: what the chat path counted, and what is read now (the database's
    /// figures on a blocking thread; when the database does not answer, the rest is still
    /// reported, with `chatterbox_database_up 0`).
    pub async fn scrape_metrics(&self) -> String {
        let read = self.blocking(|s| Ok((s.audit_counts()?, s.log_next()?))).await;
        if let Err(e) = &read {
            tracing::warn!(error = %e, "metrics: cannot read the database's figures");
        }
        let (frames_delivered, slow_disconnects) = self.hub.tally();
        let (audit, lag) = match read {
            Ok((audit, next)) => (Some(audit), Some(self.log.lag(next))),
            Err(_) => (None, None),
        };
        self.metrics.render(&Scrape {
            frames_delivered,
            slow_disconnects,
            hashing_waiting: self.hasher.waiting() as u64,
            pool: self.store.pool_state(),
            database_up: audit.is_some(),
            log_behind: lag.as_ref().map(|l| l.behind),
            log_since_read: lag.map(|l| l.since_read.as_secs_f64()),
            audit,
        })
    }

    pub fn store(&self) -> &Arc<dyn Store> {
        &self.store
    }

    /// Runs a blocking store call on a blocking thread.
    pub async fn blocking<T, F>(&self, f: F) -> Result<T>
    where
        F: FnOnce(&dyn Store) -> Result<T> + Send + 'static,
        T: Send + 'static,
    {
        let store = Arc::clone(&self.store);
        tokio::task::spawn_blocking(move || f(&*store)).await?
    }

    /// bcrypt work (with the reads that go with it), on the hashing pool. Never a write: a
    /// low-priority thread holding SQLite's write lock would stall the message writer.
    async fn bcrypt<T, F>(&self, f: F) -> Result<T>
    where
        F: FnOnce(&dyn Store) -> Result<T> + Send + 'static,
        T: Send + 'static,
    {
        let store = Arc::clone(&self.store);
        self.hasher.run(move || f(&*store)).await
    }

    /// Runs `f` on the shared limit slots of `keys`, at the wall-clock time it is given, in one
    /// transaction of the store on a blocking thread. A database error is the caller's error:
    /// a limit that cannot be checked is not passed.
    async fn limits<T, F>(&self, keys: Vec<String>, mut f: F) -> Result<T>
    where
        F: FnMut(&mut [Option<LimitSlot>], f64) -> T + Send + 'static,
        T: Send + 'static,
    {
        self.blocking(move |s| {
            let keys: Vec<&str> = keys.iter().map(String::as_str).collect();
            let now = ratelimit::unix_now();
            let mut out = None;
            s.update_limits(&keys, now, &mut |slots| out = Some(f(slots, now)))?;
            out.ok_or_else(|| ChatError::Internal("the store did not read the limits".into()))
        })
        .await
    }

    /// The per-address limit's first line, in this process; the client's address key if the
    /// limits are on.
    fn limit_locally(&self, ip: IpAddr) -> Result<Option<(Rate, IpAddr)>> {
        let Some(rate) = self.config.auth_rate else { return Ok(None) };
        let addr = ratelimit::client_key(ip);
        self.ip_limiter.check(&addr).map_err(ChatError::RateLimited)?;
        Ok(Some((rate, addr)))
    }

    /// A registration's limits: its address's and the requested name's, shared by every
    /// instance.
    async fn limit_registration(&self, ip: IpAddr, username: &str) -> Result<()> {
        let Some((rate, addr)) = self.limit_locally(ip)? else { return Ok(()) };
        let keys = vec![ratelimit::address_key(addr), ratelimit::name_key(username)];
        self.limits(keys, move |slots, now| {
            slots.iter_mut().try_for_each(|slot| ratelimit::take(rate, slot, now))
        })
        .await?
        .map_err(ChatError::RateLimited)
    }

    /// Deletes expired rows of the shared limits every `LIMITS_PURGE`, so that their table holds
    /// only the limits in use.
    pub async fn purge_limits(self: Arc<Self>, cancel: tokio_util::sync::CancellationToken) {
        if self.config.auth_rate.is_none() {
            return;
        }
        let mut tick = tokio::time::interval(LIMITS_PURGE);
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            tokio::select! {
                _ = cancel.cancelled() => return,
                _ = tick.tick() => {}
            }
            match self.blocking(|s| Ok(s.purge_limits(ratelimit::unix_now())?)).await {
                Ok(n) => tracing::debug!(rows = n, "deleted expired login and registration limits"),
                Err(e) => tracing::warn!(error = %e, "cannot delete expired login and registration limits"),
            }
        }
    }

    pub fn issue_token(&self, user: &User) -> Result<String> {
        self.keys.issue(user.id, &user.username, user.is_admin)
    }

    pub async fn register(
        &self,
        ip: IpAddr,
        username: String,
        email: String,
        password: String,
    ) -> Result<(User, String)> {
        self.limit_registration(ip, &username).await?;
        let cost = self.config.bcrypt_cost;
        let prepared = self
            .bcrypt(move |s| {
                accounts::prepare_account(
                    s,
                    &accounts::NewAccount {
                        username: &username,
                        email: &email,
                        password: &password,
                        is_admin: false,
                    },
                    cost,
                )
            })
            .await?;
        let user = self.blocking(move |s| accounts::store_account(s, &prepared)).await?;
        tracing::info!(user = %user.username, id = user.id, "account registered");
        let token = self.issue_token(&user)?;
        Ok((user, token))
    }

    /// Signs in by username or e-mail address; counted in `/metrics` by how it ended.
    pub async fn login(&self, ip: IpAddr, login: String, password: String) -> Result<(User, String)> {
        let result = self.check_login(ip, login, password).await;
        self.metrics.login(match &result {
            Ok(_) => metrics::Login::Ok,
            Err(ChatError::BadCredentials | ChatError::Invalid { .. }) => metrics::Login::Failed,
            Err(ChatError::RateLimited(_)) => metrics::Login::RateLimited,
            Err(ChatError::Blocked) => metrics::Login::Blocked,
            Err(_) => metrics::Login::Unavailable,
        });
        result
    }

    async fn check_login(&self, ip: IpAddr, login: String, password: String) -> Result<(User, String)> {
        accounts::validate_login_password(&password)?;
        let limited = self.limit_locally(ip)?;
        let dummy = self.dummy_hash().await;
        let typed = login.trim().to_string();
        let email_key = accounts::email_key(&typed);
        let found = self.blocking(move |s| Ok(s.credentials(&typed, &email_key)?)).await?;
        let found_id = found.as_ref().map(|c| c.user.id);
        // Failures are counted per account, so guesses by username and by e-mail share one
        // budget; unknown names are keyed by what was typed.
        let key = match &found {
            Some(c) => format!("#{}", c.user.id),
            None => login.trim().to_lowercase(),
        };
        let attempt = match limited {
            Some((rate, addr)) => {
                let [pair, account] = LoginGuard::keys(&key, addr);
                let keys = vec![ratelimit::address_key(addr), pair.clone(), account.clone()];
                let guard = self.login_guard;
                let attempt = self
                    .limits(keys, move |slots, now| {
                        let [addr, pair, account] = slots else { unreachable!("three keys") };
                        ratelimit::take(rate, addr, now)?;
                        guard.check(pair, account, now)
                    })
                    .await?
                    .map_err(ChatError::RateLimited)?;
                Some((vec![pair, account], attempt))
            }
            None => None,
        };
        let cost = self.config.bcrypt_cost;
        let checked = self.bcrypt(move |_| accounts::check_password(found, &password, &dummy, cost)).await;
        if let Some((keys, attempt)) = attempt {
            let verdict = match &checked {
                Ok(_) | Err(ChatError::Blocked) => Verdict::Succeeded,
                Err(ChatError::BadCredentials) => Verdict::Failed,
                Err(_) => Verdict::Undecided,
            };
            let guard = self.login_guard;
            let settled = self
                .limits(keys, move |slots, now| {
                    let [pair, account] = slots else { unreachable!("two keys") };
                    guard.finish(pair, account, attempt, verdict, now)
                })
                .await;
            match settled {
                // A failure that cannot be counted is not answered as one.
                Err(e) if verdict == Verdict::Failed => return Err(e),
                // The attempt keeps the tokens it took: the limit errs on the strict side.
                Err(e) => tracing::warn!(error = %e, "cannot settle a login attempt's limits"),
                Ok(()) => {}
            }
        }
        let checked = match (checked, found_id) {
            // The right password: the refusal says what the account may do about its block.
            (Err(ChatError::Blocked), Some(id)) => {
                return Err(ChatError::BlockedSignIn(Box::new(self.appeal_offer(id).await?)))
            }
            (checked, _) => checked?,
        };
        if let Some(rehash) = checked.rehash {
            self.blocking(move |s| {
                accounts::store_rehash(s, Some(&rehash));
                Ok(())
            })
            .await?;
        }
        let token = self.issue_token(&checked.user)?;
        Ok((checked.user, token))
    }

    /// The cost of the hash unknown names are checked against (see `Dummy`).
    pub fn dummy_cost(&self) -> u32 {
        self.dummy.lock().unwrap_or_else(|p| p.into_inner()).cost
    }

    /// The dummy hash; once a minute, the login that asks first also checks that its cost is
    /// still the typical one (and hashes a new one if not). Which login does that has nothing to
    /// do with the account it names, so it tells nothing about accounts.
    async fn dummy_hash(&self) -> String {
        let current = Arc::clone(&self.dummy.lock().unwrap_or_else(|p| p.into_inner()));
        if current.checked.elapsed() < DUMMY_REFRESH || self.dummy_refreshing.swap(true, Ordering::AcqRel) {
            return current.hash.clone();
        }
        // Cleared however this ends, also when the client hangs up and the login is dropped.
        struct Refreshing<'a>(&'a AtomicBool);
        impl Drop for Refreshing<'_> {
            fn drop(&mut self) {
                self.0.store(false, Ordering::Release);
            }
        }
        let _refreshing = Refreshing(&self.dummy_refreshing);
        let fallback = self.config.bcrypt_cost;
        let refreshed = async {
            let cost = self.blocking(move |s| accounts::typical_cost(s, fallback)).await?;
            if cost == current.cost {
                return Ok(Dummy { cost, hash: current.hash.clone(), checked: Instant::now() });
            }
            self.bcrypt(move |_| Dummy::new(cost)).await
        }
        .await;
        let hash = match refreshed {
            Ok(dummy) => {
                let hash = dummy.hash.clone();
                *self.dummy.lock().unwrap_or_else(|p| p.into_inner()) = Arc::new(dummy);
                hash
            }
            Err(e) => {
                tracing::warn!(error = %e, "cannot check the cost of the dummy password hash");
                current.hash.clone()
            }
        };
        hash
    }

    /// Verifies a token and re-reads the account: a blocked or deleted account is refused even
    /// with a valid token, and the role is the current one, not the token's.
    pub async fn authenticate(&self, token: &str) -> Result<User> {
        Ok(self.authenticate_session(token).await?.0)
    }

    /// `authenticate`, and when the token expires (Unix seconds): a WebSocket outlives the
    /// handshake and must end with its sign-in.
    pub async fn authenticate_session(&self, token: &str) -> Result<(User, i64)> {
        let claims = self.keys.verify(token)?;
        let expires = claims.exp;
        let user = self
            .blocking(move |s| Ok(s.user_by_id(claims.user_id)?))
            .await?
            .ok_or(ChatError::Unauthenticated("the account no longer exists"))?;
        if user.is_blocked {
            return Err(ChatError::Blocked);
        }
        Ok((user, expires))
    }

    pub async fn authenticate_admin(&self, token: &str) -> Result<User> {
        let user = self.authenticate(token).await?;
        if !user.is_admin {
            return Err(ChatError::NotAdmin);
        }
        Ok(user)
    }

    /// Whether the account holds the admin role now (re-read: a socket outlives its token's
    /// view of the role).
    pub async fn authenticate_admin_id(&self, user_id: i64) -> Result<()> {
        let user = self.blocking(move |s| Ok(s.user_by_id(user_id)?)).await?.ok_or(ChatError::NotAdmin)?;
        if !user.is_admin || user.is_blocked {
            return Err(ChatError::NotAdmin);
        }
        Ok(())
    }

    /// Trims and checks a chat message's text.
    pub fn validate_text<'a>(&self, text: &'a str) -> Result<&'a str> {
        let text = text.trim();
        // Zero-width, control, tag and blank look-alike characters alone would show as an
        // empty bubble.
        if text::is_blank(text) {
            return Err(ChatError::Invalid { field: "text", detail: "Message is empty".into() });
        }
        let max = self.config.max_message_chars;
        if text.chars().count() > max {
            return Err(ChatError::Invalid {
                field: "text",
                detail: format!("Message is longer than {max} characters"),
            });
        }
        Ok(text)
    }

    /// validate -> moderate -> store -> deliver, into `room` (`general` when None). Refusals
    /// before the writer are counted in `/metrics` here; the writer counts its own.
    pub async fn post(
        &self,
        user: &User,
        room: Option<i64>,
        text: &str,
        reply_to: Option<i64>,
    ) -> Result<Posted> {
        let posted = self.screen_and_queue(user, room, text, reply_to).await;
        match &posted {
            Ok(Posted::Queued(_)) => {}
            Ok(Posted::Warned { .. } | Posted::Muted { .. } | Posted::Blocked { .. }) => {
                self.metrics.refused(Refused::Moderation)
            }
            Err(e) => self.metrics.refused(Refused::of(e)),
        }
        posted
    }

    async fn screen_and_queue(
        &self,
        user: &User,
        room: Option<i64>,
        text: &str,
        reply_to: Option<i64>,
    ) -> Result<Posted> {
        let text = self.validate_text(text)?;
        let room = room.unwrap_or(GENERAL_ROOM);
        // A message that cannot be posted is no moderation matter: refused before it is
        // screened (from the hub's index when the user is online here; the store checks again
        // in the writing transaction either way).
        if self.hub.in_room(user.id, room) == Some(false) {
            return Err(ChatError::RoomNotFound);
        }
        standing::check_not_muted(user)?;
        let matcher = self.matcher();
        if let Some(term) = self.tails.screen(&matcher, user.id, text, Instant::now()) {
            let term = term.to_string();
            let strike = standing::Strike {
                source: standing::StrikeSource::Words { term: &term },
                text,
                room: Some(room),
            };
            let taken = self.strike(user, strike).await?;
            return Ok(self.posted_refusal(taken, term));
        }
        let offensive = self.offensive(text);
        if let (Some(score), ClassifierMode::Enforce) = (offensive, self.config.classifier) {
            let strike = standing::Strike {
                source: standing::StrikeSource::Classifier { score },
                text,
                room: Some(room),
            };
            let taken = self.strike(user, strike).await?;
            return Ok(self.posted_refusal(taken, classifier::TERM.to_string()));
        }
        let flagged = match self.webhook_verdict(user, room, text, webhook::Kind::Message).await? {
            webhook::Verdict::Refuse { reason } => {
                let strike = standing::Strike {
                    source: standing::StrikeSource::Webhook { reason: &reason },
                    text,
                    room: Some(room),
                };
                let taken = self.strike(user, strike).await?;
                return Ok(self.posted_refusal(taken, webhook::refusal_term(&reason)));
            }
            webhook::Verdict::Flag { reason } => Some(reason),
            webhook::Verdict::Allow | webhook::Verdict::Unavailable => None,
        };
        let mut queued = self
            .writer
            .enqueue(NewMessage {
                room_id: room,
                sender_id: user.id,
                username: user.username.clone(),
                content: text.to_string(),
                mention_candidates: rooms::mention_candidates(text),
                reply_to,
            })
            .await?;
        // Flagged (by the classifier, or the webhook): delivered, and once committed put in the
        // report queue (`Chat::settle`).
        queued.flag = match (offensive, flagged) {
            (Some(score), _) if self.config.classifier == ClassifierMode::Flag => Some(reports::AutoFlag {
                source: crate::store::ReportSource::Classifier,
                score: Some(score),
                reason: classifier::REASON.to_string(),
            }),
            (_, Some(reason)) => Some(reports::AutoFlag {
                source: crate::store::ReportSource::Webhook,
                score: None,
                reason: webhook::flag_reason(&reason),
            }),
            _ => None,
        };
        Ok(Posted::Queued(queued))
    }

    /// The classifier's score of `text` (scikit-learn's probability that it is offensive), None
    /// when the classifier is off.
    pub fn classify(&self, text: &str) -> Option<f64> {
        self.classifier.as_ref().map(|c| c.score(text))
    }

    /// The classifier's score of `text` when it reaches the threshold (whatever the mode does
    /// with it: refuse, or flag).
    pub(super) fn offensive(&self, text: &str) -> Option<f64> {
        let score = self.classify(text)?;
        (score >= self.config.classifier_threshold).then_some(score)
    }

    /// Waits for a queued message's commit; a message the classifier or the webhook flagged
    /// then goes to the report queue. A report that cannot be filed is logged: the message stands either way.
    pub async fn settle(&self, mut queued: writer::Queued) -> Result<Message> {
        let flag = queued.flag.take();
        let message = queued.outcome().await?;
        if let Some(flag) = flag {
            self.flag_quietly(&message, flag.source, flag.score, &flag.reason).await;
        }
        Ok(message)
    }

    /// `flag`, logging instead of failing: automatic reports never refuse what was delivered.
    pub async fn flag_quietly(
        &self,
        message: &Message,
        source: crate::store::ReportSource,
        score: Option<f64>,
        reason: &str,
    ) {
        if let Err(e) = self.flag(message, source, score, reason).await {
            tracing::warn!(error = %e, message = message.id, "cannot file an automatic report");
        }
    }

    /// What a message refused by moderation tells its sender, given the step its strike took.
    fn posted_refusal(&self, taken: standing::StepTaken, term: String) -> Posted {
        match taken {
            standing::StepTaken::Warned { strikes, .. } => {
                Posted::Warned { warnings: strikes, limit: self.config.warning_limit, term }
            }
            standing::StepTaken::Muted { until } => Posted::Muted { until, term },
            standing::StepTaken::Blocked => Posted::Blocked { term },
        }
    }

    /// Messages of a room before `before`, oldest first, without a visibility check (the
    /// caller has one: a socket's own rooms, `general`, an admin's public room).
    pub async fn messages_before(
        &self,
        room: i64,
        before: Option<i64>,
        limit: usize,
    ) -> Result<Vec<Message>> {
        self.blocking(move |s| Ok(s.messages_before(room, before, limit)?)).await
    }

    /// Messages after `after` and before `before` in every room the user is in now.
    pub async fn messages_after(
        &self,
        user_id: i64,
        after: i64,
        before: i64,
        limit: usize,
    ) -> Result<Vec<Message>> {
        self.blocking(move |s| Ok(s.messages_after(user_id, after, before, limit)?)).await
    }

    /// Installs a newly connected user's rooms in the hub (after `Hub::join`); the snapshot's
    /// `next` divides what the socket replays from the store from what reaches it live.
    pub async fn sync_memberships(&self, user_id: i64) -> Result<Memberships> {
        self.log.register(user_id).await
    }

    pub async fn list_users(&self, filter: UserFilter) -> Result<Vec<User>> {
        self.blocking(move |s| Ok(s.list_users(filter)?)).await
    }

    pub async fn latest_blocks(&self) -> Result<Vec<Violation>> {
        self.blocking(|s| Ok(s.latest_blocks()?)).await
    }

    pub async fn violations(&self, before: Option<i64>, limit: usize) -> Result<Vec<Violation>> {
        self.blocking(move |s| Ok(s.violations(before, limit)?)).await
    }

    /// The audit log, newest first, filtered.
    pub async fn audit_log(&self, filter: crate::store::AuditFilter) -> Result<Vec<Violation>> {
        self.blocking(move |s| Ok(s.audit_log(&filter)?)).await
    }

    pub async fn counts(&self) -> Result<(Counts, usize)> {
        let counts = self.blocking(|s| Ok(s.counts(&crate::timefmt::today_start())?)).await?;
        Ok((counts, self.hub.online_count()))
    }

    /// The counts with every message ever sent, not only today's: the original's dashboard
    /// shows the total.
    pub async fn counts_all_time(&self) -> Result<Counts> {
        // Stored timestamps are text, and every one sorts after the empty string.
        self.blocking(|s| Ok(s.counts("")?)).await
    }

    /// An admin blocks or unblocks an account; a block closes the account's live sockets.
    /// Blocks or unblocks for an admin; `reason` goes to the audit log.
    pub async fn set_blocked(
        &self,
        admin: &User,
        user_id: i64,
        blocked: bool,
        reason: Option<String>,
    ) -> Result<User> {
        let actor = admin.username.clone();
        let (user, changed) = self
            .blocking(move |s| accounts::set_blocked(s, user_id, blocked, &actor, reason.as_deref()))
            .await?;
        if changed {
            tracing::info!(admin = %admin.username, user = %user.username, blocked, "account block changed");
            // The change is in the log: answer once this instance's sockets are told (the others
            // are told by their tailers).
            self.log.sync().await;
        }
        Ok(user)
    }

    pub async fn set_admin(&self, admin: &User, user_id: i64, is_admin: bool) -> Result<User> {
        let (user, changed) = self.blocking(move |s| accounts::set_admin(s, user_id, is_admin)).await?;
        if changed {
            tracing::info!(admin = %admin.username, user = %user.username, is_admin, "admin role changed");
            self.log.sync().await;
        }
        Ok(user)
    }

    /// How far this instance's sockets are behind the committed log (reading the log's end
    /// also checks that the database answers).
    pub async fn log_lag(&self) -> Result<log::Lag> {
        let next = self.blocking(|s| Ok(s.log_next()?)).await?;
        Ok(self.log.lag(next))
    }

    /// How long ago saving messages last failed, if that was within `window` and nothing has
    /// been saved since: the database answers reads, but the chat cannot keep what is said.
    pub fn writes_failing(&self, window: Duration) -> Option<Duration> {
        self.writer.failing_for(window)
    }

    /// Commits every queued message, delivers it, and stops the writer and tailer threads.
    pub async fn shutdown(&self) {
        self.writer.stop().await;
        self.log.stop().await;
    }
}
