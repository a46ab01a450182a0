//! The PostgreSQL backend (`--database-url`): the same `Store` contract as SQLite, for several
//! instances on one database.
//!
//! Blocking client connections from a bounded r2d2 pool; every call runs on a blocking thread as
//! SQLite's do. Each connection is checked when lent, so after a database restart the pool
//! replaces dead connections by itself, and a database that cannot be reached is
//! `StoreError::Unavailable` (503), never a hang. Writers of the ordered log lock the counter row
//! first (see `postgres/rooms.rs`), which makes them take turns exactly like SQLite's single
//! writer: positions are dense and committed in order on every instance.

use std::time::Duration;

use postgres::{
    error::SqlState, fallible_iterator::FallibleIterator, types::ToSql, Client, GenericClient,
    IsolationLevel, NoTls, Row, Transaction,
};
use r2d2_postgres::PostgresConnectionManager;

use super::{
    migrations::{self, MigrationState},
    shared, Action, AdminAction, Appeal, AppealRefusal, Audit, AuditFilter, Change, Counts, Credentials,
    DeleteMessage, EditMessage, Elsewhere, KeysSet, LimitSlot, LivingRefusal, LogEntry, Member, Memberships,
    Message, MessageFilter, MuteAction, NewMessage, NewReport, NewRoom, NewUser, Notify, PresenceBeat,
    Reaction, Refusal, Report, ReportDecision, ReportFilter, ReportRefusal, Result, Room, RoomRole,
    RoomStats, RoomView, SearchQuery, Store, StoreError, StrikeOutcome, StrikeRecord, StrikeStep, Term,
    TermAdded, TermEdit, TermList, ToggleReaction, Toggled, User, UserFilter, UserKeys, Violation,
};

/// SQLite's `NOCASE` (ASCII-only case folding) in PostgreSQL: `lower` under the "C" collation
/// folds ASCII letters only, whatever the database's locale.
macro_rules! nocase {
    ($e:literal) => {
        concat!("lower((", $e, ")::text COLLATE \"C\")")
    };
}

mod living;
mod load;
mod presence;
mod reports;
mod roommod;
mod rooms;
mod search;
mod terms;
use rooms::{message_row, MESSAGE_SELECT};

type Manager = PostgresConnectionManager<NoTls>;
type Conn = r2d2::PooledConnection<Manager>;

/// Connections open at once per process; further callers wait for one (up to `CONNECT_TIMEOUT`).
/// Several instances share the server's `max_connections` (100 by default), so this stays small.
const MAX_OPEN: u32 = 16;
/// How long connecting, or waiting for a free pooled connection, may take before the call fails
/// with `Unavailable`.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(5);
/// How long after finding the database unreachable other calls fail at once.
const FAIL_FAST: Duration = Duration::from_secs(1);
/// Rows fetched per round trip when streaming an export through a portal (a server-side cursor).
const STREAM_CHUNK: i32 = 1000;
/// The advisory lock key migrations run under ("chatterb"): refinery takes no lock, so two
/// instances starting together would both try to apply the same migration.
const MIGRATION_LOCK: i64 = 0x6368_6174_7465_7262;

/// The channel log writers notify and log watchers listen on.
const LOG_CHANNEL: &str = "chatterbox_log";
/// Short-lived notes between instances that are not log entries (typing indicators).
const SIGNAL_CHANNEL: &str = "chatterbox_signal";
const LOG_NOTIFY: &str = "NOTIFY chatterbox_log";
/// How often an idle watcher checks that its bell is still wanted.
const WATCH_IDLE: Duration = Duration::from_secs(1);
/// The longest wait between two attempts to reconnect the watcher.
const WATCH_BACKOFF: Duration = Duration::from_secs(2);

const USER_COLS: &str = "id, username, email, is_admin, is_blocked, warning_count, created_at, muted_until";

pub struct PgStore {
    /// Where the database is, for messages (no password).
    target: String,
    /// For the log watcher's own connection.
    config: postgres::Config,
    /// Always present until `drop`.
    pool: Option<r2d2::Pool<Manager>>,
    /// When a call last found the database unreachable: for a moment after, calls fail at once
    /// instead of each waiting `CONNECT_TIMEOUT` (a load balancer's health check times out
    /// sooner), while one call at a time keeps trying.
    down: std::sync::Mutex<Option<std::time::Instant>>,
}

impl Drop for PgStore {
    /// Closing a blocking client runs its own little runtime, which panics on a thread that is
    /// driving an async runtime (where the daemon and the tests drop the last `Chat`), so the
    /// pool is closed on a thread of its own.
    fn drop(&mut self) {
        if let Some(pool) = self.pool.take() {
            let _ = std::thread::Builder::new().name("chatterbox-pg-close".into()).spawn(move || drop(pool));
        }
    }
}

impl std::fmt::Debug for PgStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PgStore").field("target", &self.target).finish()
    }
}

impl PgStore {
    /// Connects, applies pending migrations (under an advisory lock, so instances starting
    /// together take turns), and returns the migrations applied now.
    pub fn open_and_migrate(url: &str) -> Result<(Self, Vec<MigrationState>)> {
        let config = parse(url)?;
        let mut client = connect(&config)?;
        client.execute("SELECT pg_advisory_lock($1)", &[&MIGRATION_LOCK])?;
        let applied = migrations::apply(&mut client);
        // Also released when this connection closes, should the unlock itself fail.
        let _ = client.execute("SELECT pg_advisory_unlock($1)", &[&MIGRATION_LOCK]);
        let applied = applied?;
        drop(client);
        Ok((Self::with_pool(config)?, applied))
    }

    /// Connects to a database whose schema is up to date; refuses one that needs
    /// `chatterbox migrate` and one written by a newer chatterbox.
    pub fn open_existing(url: &str) -> Result<Self> {
        let config = parse(url)?;
        let mut client = connect(&config)?;
        migrations::check_not_newer(&mut client)?;
        let pending = migrations::pending(&mut client)?;
        if !pending.is_empty() {
            return Err(StoreError::Schema(format!(
                "the database {} needs migrations ({}): run `chatterbox migrate` first",
                describe(&config),
                pending.iter().map(|m| m.label()).collect::<Vec<_>>().join(", ")
            )));
        }
        drop(client);
        Self::with_pool(config)
    }

    /// Known and applied migrations, without changing the database.
    pub fn migration_status(url: &str) -> Result<Vec<MigrationState>> {
        let config = parse(url)?;
        migrations::status(&mut connect(&config)?)
    }

    /// Where the database is (host, port, database name; never the password).
    pub fn target(&self) -> &str {
        &self.target
    }

    fn with_pool(config: postgres::Config) -> Result<Self> {
        let target = describe(&config);
        let pool_config = config.clone();
        let pool = r2d2::Pool::builder()
            .max_size(MAX_OPEN)
            .min_idle(Some(2))
            .connection_timeout(CONNECT_TIMEOUT)
            // Checked in `conn` instead, where a failing check cannot drop the client inside r2d2.
            .test_on_check_out(false)
            .build(PostgresConnectionManager::new(pool_config, NoTls))
            .map_err(|e| StoreError::Unavailable(format!("{target}: {e}")))?;
        Ok(PgStore { target, config, pool: Some(pool), down: std::sync::Mutex::new(None) })
    }

    /// A pooled connection that has just answered. One empty query per lend: a connection the
    /// server dropped (restart, failover, `pg_terminate_backend`) is closed by the failed check,
    /// so r2d2 discards it on return, and the next one is tried, instead of failing the caller.
    fn conn(&self) -> Result<Conn> {
        {
            let mut down = self.down.lock().unwrap_or_else(|p| p.into_inner());
            match *down {
                Some(at) if at.elapsed() < FAIL_FAST => {
                    return Err(StoreError::Unavailable(format!("{}: not answering", self.target)))
                }
                // This caller tries; the others keep failing fast until it knows.
                Some(_) => *down = Some(std::time::Instant::now()),
                None => {}
            }
        }
        let conn = self.try_conn();
        let mut down = self.down.lock().unwrap_or_else(|p| p.into_inner());
        *down = match &conn {
            Err(StoreError::Unavailable(_)) => Some(std::time::Instant::now()),
            _ => None,
        };
        conn
    }

    fn try_conn(&self) -> Result<Conn> {
        let pool = self.pool.as_ref().expect("the pool lives until drop");
        for _ in 0..=MAX_OPEN {
            let mut conn =
                pool.get().map_err(|e| StoreError::Unavailable(format!("{}: {e}", self.target)))?;
            match conn.simple_query("") {
                Ok(_) => return Ok(conn),
                Err(e) if conn.is_closed() => tracing::debug!(error = %e, "replacing a closed connection"),
                Err(e) => return Err(e.into()),
            }
        }
        Err(StoreError::Unavailable(format!("{}: every connection was closed", self.target)))
    }

    /// Runs `f` in a read-write transaction and commits.
    fn write<T>(&self, f: impl FnOnce(&mut Transaction<'_>) -> Result<T>) -> Result<T> {
        let mut conn = self.conn()?;
        let mut tx = conn.transaction()?;
        let out = f(&mut tx)?;
        tx.commit()?;
        Ok(out)
    }

    /// Runs `f` in a transaction that writes the log: it holds the counter row's lock from its
    /// first statement to its commit, so its checks see every earlier log write and no later one.
    /// It also rings every instance's doorbell (`watch_log`) when it commits.
    fn log_write<T>(&self, f: impl FnOnce(&mut Transaction<'_>) -> Result<T>) -> Result<T> {
        self.write(|tx| {
            rooms::lock_log(tx)?;
            let out = f(tx)?;
            // Delivered at commit, and not at all on rollback.
            tx.batch_execute(LOG_NOTIFY)?;
            Ok(out)
        })
    }

    /// Runs `f` in one read-only snapshot of the whole database.
    fn snapshot<T>(&self, f: impl FnOnce(&mut Transaction<'_>) -> Result<T>) -> Result<T> {
        let mut conn = self.conn()?;
        let mut tx = conn
            .build_transaction()
            .isolation_level(IsolationLevel::RepeatableRead)
            .read_only(true)
            .start()?;
        let out = f(&mut tx)?;
        tx.commit()?;
        Ok(out)
    }

    fn insert_user(&self, new: &NewUser<'_>, keys: Option<&UserKeys<'_>>) -> Result<User> {
        self.write(|tx| {
            let id: i64 = tx
                .query_one(
                    "INSERT INTO users (username, email, password_hash, is_admin, created_at, name_key, email_key) \
                     VALUES ($1, $2, $3, $4, $5, $6, $7) RETURNING id",
                    &[
                        &new.username,
                        &new.email,
                        &new.password_hash,
                        &new.is_admin,
                        &new.created_at,
                        &keys.map(|k| k.name_key),
                        &keys.map(|k| k.email_key),
                    ],
                )?
                .get(0);
            rooms::join_auto_rooms(tx, id, new.created_at)?;
            get_user(tx, id)
        })
    }

    /// Streams the rows of `sql` through a portal in one snapshot, `STREAM_CHUNK` at a time.
    fn stream(
        &self,
        sql: &str,
        params: &[&(dyn ToSql + Sync)],
        f: &mut dyn FnMut(&Row) -> Result<()>,
    ) -> Result<()> {
        self.snapshot(|tx| {
            let portal = tx.bind(sql, params)?;
            loop {
                let rows = tx.query_portal(&portal, STREAM_CHUNK)?;
                for row in &rows {
                    f(row)?;
                }
                if rows.len() < STREAM_CHUNK as usize {
                    return Ok(());
                }
            }
        })
    }
}

fn parse(url: &str) -> Result<postgres::Config> {
    let mut config: postgres::Config =
        url.parse().map_err(|e| StoreError::Database(format!("invalid PostgreSQL URL: {e}")))?;
    if config.get_connect_timeout().is_none() {
        config.connect_timeout(CONNECT_TIMEOUT);
    }
    if config.get_application_name().is_none() {
        config.application_name("chatterbox");
    }
    Ok(config)
}

fn connect(config: &postgres::Config) -> Result<Client> {
    config.connect(NoTls).map_err(|e| match StoreError::from(e) {
        StoreError::Unavailable(text) | StoreError::Database(text) => {
            StoreError::Unavailable(format!("cannot connect to {}: {text}", describe(config)))
        }
        other => other,
    })
}

/// `host:port/dbname` of a configuration, for messages.
fn describe(config: &postgres::Config) -> String {
    use postgres::config::Host;
    let host = match config.get_hosts().first() {
        Some(Host::Tcp(h)) => h.clone(),
        #[cfg(unix)]
        Some(Host::Unix(p)) => p.display().to_string(),
        None => "localhost".to_string(),
    };
    let port = config.get_ports().first().copied().unwrap_or(5432);
    let db = config.get_dbname().or(config.get_user()).unwrap_or("postgres");
    format!("postgres {host}:{port}/{db}")
}

impl From<postgres::Error> for StoreError {
    fn from(e: postgres::Error) -> Self {
        if let Some(db) = e.as_db_error() {
            let code = db.code();
            if *code == SqlState::UNIQUE_VIOLATION {
                return match db.constraint() {
                    Some("users_email_nocase" | "users_by_email_key") => StoreError::Conflict("email"),
                    Some("users_username_nocase" | "users_by_name_key") => StoreError::Conflict("username"),
                    Some("rooms_by_public_name") => StoreError::Conflict("name"),
                    _ => StoreError::Database(db_message(db)),
                };
            }
            // Class 08: connection exceptions; 57P0x: the server is shutting down or starting.
            if code.code().starts_with("08")
                || [SqlState::ADMIN_SHUTDOWN, SqlState::CRASH_SHUTDOWN, SqlState::CANNOT_CONNECT_NOW]
                    .contains(code)
                || *code == SqlState::TOO_MANY_CONNECTIONS
            {
                return StoreError::Unavailable(db.message().to_string());
            }
            if [
                SqlState::T_R_SERIALIZATION_FAILURE,
                SqlState::T_R_DEADLOCK_DETECTED,
                SqlState::LOCK_NOT_AVAILABLE,
            ]
            .contains(code)
            {
                return StoreError::Busy;
            }
            if *code == SqlState::DISK_FULL {
                return StoreError::DiskFull;
            }
            if *code == SqlState::READ_ONLY_SQL_TRANSACTION {
                return StoreError::ReadOnly(db.message().to_string());
            }
            return StoreError::Database(db_message(db));
        }
        // No answer from the server at all: refused, reset, closed, timed out.
        let io = std::error::Error::source(&e).is_some_and(|s| s.is::<std::io::Error>());
        if e.is_closed() || io || e.to_string().starts_with("error connecting") {
            return StoreError::Unavailable(e.to_string());
        }
        StoreError::Database(e.to_string())
    }
}

fn user_row(r: &Row) -> User {
    User {
        id: r.get(0),
        username: r.get(1),
        email: r.get(2),
        is_admin: r.get(3),
        is_blocked: r.get(4),
        warning_count: r.get(5),
        created_at: r.get(6),
        muted_until: r.get(7),
    }
}

/// The columns `violation_row` reads, from `violations v` joined with `users u`.
const VIOLATION_COLS: &str = "v.id, v.user_id, u.username, v.action, v.text, v.term, v.reason, v.actor, \
     v.timestamp, v.strike, v.room_id, v.message_id, v.until, v.actor_id";

/// The strikes of user $1 that count: after $2 (the decay, NULL for none) and at or after the
/// user's `strikes_since`.
const COUNT_STRIKES: &str = "SELECT COUNT(*) FROM violations v JOIN users u ON u.id = v.user_id \
     WHERE v.user_id = $1 AND v.strike AND ($2::text IS NULL OR v.timestamp > $2) \
     AND (u.strikes_since IS NULL OR v.timestamp >= u.strikes_since)";

fn violation_row(r: &Row) -> Violation {
    Violation {
        id: r.get(0),
        user_id: r.get(1),
        username: r.get(2),
        action: Action::parse(r.get(3)),
        text: r.get(4),
        term: r.get(5),
        reason: r.get(6),
        actor: r.get(7),
        timestamp: r.get(8),
        strike: r.get(9),
        room_id: r.get(10),
        message_id: r.get(11),
        until: r.get(12),
        actor_id: r.get(13),
    }
}

fn user_filter_sql(filter: UserFilter) -> String {
    let mut sql = format!("SELECT {USER_COLS} FROM users WHERE TRUE");
    if filter.blocked_only {
        sql.push_str(" AND is_blocked");
    }
    if filter.admins_only {
        sql.push_str(" AND is_admin");
    }
    sql.push_str(" ORDER BY id");
    sql
}

fn get_user(c: &mut impl GenericClient, id: i64) -> Result<User> {
    c.query_opt(&format!("SELECT {USER_COLS} FROM users WHERE id = $1"), &[&id])?
        .map(|r| user_row(&r))
        .ok_or(StoreError::UserNotFound)
}

/// Adds one row to the audit log, in the caller's transaction.
pub(crate) fn audit(tx: &mut impl GenericClient, e: &Audit<'_>) -> Result<()> {
    tx.execute(
        "INSERT INTO violations (user_id, action, text, term, reason, actor, actor_id, timestamp, \
         strike, room_id, message_id, until) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12)",
        &[
            &e.user_id,
            &e.action.as_str(),
            &e.text,
            &e.term,
            &e.reason,
            &e.actor,
            &e.actor_id,
            &e.timestamp,
            &e.strike,
            &e.room_id,
            &e.message_id,
            &e.until,
        ],
    )?;
    Ok(())
}

/// The server's own words: `postgres::Error` displays a database error as just "db error".
fn db_message(db: &postgres::error::DbError) -> String {
    match db.detail() {
        Some(detail) => format!("{} ({detail})", db.message()),
        None => db.message().to_string(),
    }
}

fn is_unique_violation(e: &postgres::Error) -> bool {
    e.code() == Some(&SqlState::UNIQUE_VIOLATION)
}

impl Store for PgStore {
    fn ping(&self) -> Result<()> {
        self.conn()?.query_one("SELECT revision FROM account_revision WHERE id = 1", &[])?;
        Ok(())
    }

    fn create_user(&self, new: &NewUser<'_>) -> Result<User> {
        self.insert_user(new, None)
    }

    fn create_user_keyed(&self, new: &NewUser<'_>, keys: &UserKeys<'_>) -> Result<User> {
        self.insert_user(new, Some(keys))
    }

    fn user_by_id(&self, id: i64) -> Result<Option<User>> {
        match get_user(&mut *self.conn()?, id) {
            Ok(u) => Ok(Some(u)),
            Err(StoreError::UserNotFound) => Ok(None),
            Err(e) => Err(e),
        }
    }

    fn user_by_username(&self, username: &str) -> Result<Option<User>> {
        let sql = format!("SELECT {USER_COLS} FROM users WHERE {} = {}", nocase!("username"), nocase!("$1"));
        Ok(self.conn()?.query_opt(&sql, &[&username])?.map(|r| user_row(&r)))
    }

    fn user_by_name_key(&self, name_key: &str) -> Result<Option<User>> {
        let sql = format!("SELECT {USER_COLS} FROM users WHERE name_key = $1");
        Ok(self.conn()?.query_opt(&sql, &[&name_key])?.map(|r| user_row(&r)))
    }

    fn credentials(&self, username: &str, email_key: &str) -> Result<Option<Credentials>> {
        let sql = format!(
            "SELECT {USER_COLS}, password_hash FROM users \
             WHERE {u} = {p} OR email_key = $2 OR (email_key IS NULL AND {e} = {p}) \
             ORDER BY ({u} = {p}) DESC, COALESCE(email_key = $2, FALSE) DESC LIMIT 1",
            u = nocase!("username"),
            e = nocase!("email"),
            p = nocase!("$1"),
        );
        Ok(self
            .conn()?
            .query_opt(&sql, &[&username, &email_key])?
            .map(|r| Credentials { user: user_row(&r), password_hash: r.get(8) }))
    }

    fn replace_password_hash(&self, user_id: i64, old_hash: &str, new_hash: &str) -> Result<bool> {
        let changed = self.conn()?.execute(
            "UPDATE users SET password_hash = $3 WHERE id = $1 AND password_hash = $2",
            &[&user_id, &old_hash, &new_hash],
        )?;
        Ok(changed > 0)
    }

    fn hash_prefix_counts(&self) -> Result<Vec<(String, i64)>> {
        let rows =
            self.conn()?.query("SELECT substr(password_hash, 1, 7), COUNT(*) FROM users GROUP BY 1", &[])?;
        Ok(rows.iter().map(|r| (r.get(0), r.get(1))).collect())
    }

    fn users_without_keys(&self, after_id: i64, limit: usize) -> Result<Vec<User>> {
        let rows = self.conn()?.query(
            &format!(
                "SELECT {USER_COLS} FROM users WHERE id > $1 AND (name_key IS NULL OR email_key IS NULL) \
                 ORDER BY id LIMIT $2"
            ),
            &[&after_id, &(limit as i64)],
        )?;
        Ok(rows.iter().map(user_row).collect())
    }

    fn set_user_keys(&self, user_id: i64, keys: &UserKeys<'_>) -> Result<KeysSet> {
        self.write(|tx| {
            // One key at a time: a name key another account holds must not keep the e-mail key
            // out. A concurrent writer can take the key between the check and the update; the
            // savepoint keeps that unique violation from aborting the whole transaction.
            let mut set = |column: &str, key: &str| -> Result<bool> {
                let mut sp = tx.savepoint("set_key")?;
                let sql = format!(
                    "UPDATE users SET {column} = $2 WHERE id = $1 AND {column} IS NULL \
                     AND NOT EXISTS (SELECT 1 FROM users WHERE {column} = $2)"
                );
                match sp.execute(&sql, &[&user_id, &key]) {
                    Ok(_) => sp.commit()?,
                    Err(e) if is_unique_violation(&e) => drop(sp),
                    Err(e) => return Err(e.into()),
                }
                let stored: Option<String> = tx
                    .query_opt(&format!("SELECT {column} FROM users WHERE id = $1"), &[&user_id])?
                    .ok_or(StoreError::UserNotFound)?
                    .get(0);
                Ok(stored.as_deref() == Some(key))
            };
            let name = set("name_key", keys.name_key)?;
            let email = set("email_key", keys.email_key)?;
            Ok(KeysSet { name, email })
        })
    }

    fn list_users(&self, filter: UserFilter) -> Result<Vec<User>> {
        Ok(self.conn()?.query(&user_filter_sql(filter), &[])?.iter().map(user_row).collect())
    }

    fn set_admin(&self, user_id: i64, is_admin: bool) -> Result<(User, bool)> {
        // A log write: the counter's lock first, as every log writer takes it (no deadlock with
        // a message insert that holds it and checks the user's row).
        self.log_write(|tx| {
            // Read and changed under the row's lock, so two admins toggling at once agree on
            // `changed`. NO KEY: a message insert's foreign-key check on the row need not wait.
            tx.execute("SELECT 1 FROM users WHERE id = $1 FOR NO KEY UPDATE", &[&user_id])?;
            let before = get_user(tx, user_id)?;
            if before.is_admin == is_admin {
                return Ok((before, false));
            }
            tx.execute("UPDATE users SET is_admin = $1 WHERE id = $2", &[&is_admin, &user_id])?;
            let after = get_user(tx, user_id)?;
            rooms::write_change(tx, after.account_change(), &crate::timefmt::now())?;
            Ok((after, true))
        })
    }

    fn set_blocked(&self, user_id: i64, blocked: bool, action: &AdminAction<'_>) -> Result<(User, bool)> {
        self.log_write(|tx| {
            tx.execute("SELECT 1 FROM users WHERE id = $1 FOR NO KEY UPDATE", &[&user_id])?;
            let before = get_user(tx, user_id)?;
            let changed = before.is_blocked != blocked || (!blocked && before.warning_count != 0);
            if !changed {
                return Ok((before, false));
            }
            // An unblock starts the ladder afresh: earlier strikes no longer count.
            tx.execute(
                "UPDATE users SET is_blocked = $1, \
                 warning_count = CASE WHEN $1 THEN warning_count ELSE 0 END, \
                 strikes_since = CASE WHEN $1 THEN strikes_since ELSE $3 END WHERE id = $2",
                &[&blocked, &user_id, &action.timestamp],
            )?;
            let kind = if blocked { Action::Block } else { Action::Unblock };
            audit(
                tx,
                &Audit {
                    reason: action.reason,
                    ..Audit::new(Some(user_id), kind, action.actor, action.timestamp)
                },
            )?;
            let after = get_user(tx, user_id)?;
            if before.is_blocked != blocked {
                rooms::write_change(tx, after.account_change(), action.timestamp)?;
            }
            Ok((after, true))
        })
    }

    fn strike(
        &self,
        record: &StrikeRecord<'_>,
        ladder: &mut dyn FnMut(i64) -> StrikeStep,
    ) -> Result<StrikeOutcome> {
        // A log write, as a mute or block takes a log position (the counter must be locked
        // before the user's row, like every log writer).
        self.log_write(|tx| {
            // Concurrent strikes of one account queue on its row: each counts the ones committed
            // before it, so each step of the ladder is taken once.
            tx.execute("SELECT 1 FROM users WHERE id = $1 FOR NO KEY UPDATE", &[&record.user_id])?;
            let user = get_user(tx, record.user_id)?;
            if user.is_blocked {
                return Ok(StrikeOutcome {
                    strikes: user.warning_count,
                    step: StrikeStep::Block,
                    recorded: false,
                });
            }
            let counted: i64 = tx.query_one(COUNT_STRIKES, &[&record.user_id, &record.counted_after])?.get(0);
            let strikes = counted + 1;
            let step = ladder(strikes);
            let until = shared::mute_end(&step, user.muted_until.as_deref());
            audit(tx, &record.audit(&step, until.as_deref()))?;
            let blocked = step == StrikeStep::Block;
            tx.execute(
                "UPDATE users SET warning_count = $2, is_blocked = (is_blocked OR $3), \
                 muted_until = COALESCE($4, muted_until) WHERE id = $1",
                &[&record.user_id, &strikes, &blocked, &until],
            )?;
            let after = get_user(tx, record.user_id)?;
            if blocked {
                rooms::write_change(tx, after.account_change(), record.timestamp)?;
            }
            if let Some(until) = &until {
                let change = Change::Mute { user_id: after.id, until_ms: crate::timefmt::unix_ms(until) };
                rooms::write_change(tx, change, record.timestamp)?;
            }
            Ok(StrikeOutcome { strikes, step, recorded: true })
        })
    }

    fn strikes(&self, user_id: i64, counted_after: Option<&str>) -> Result<i64> {
        Ok(self.conn()?.query_one(COUNT_STRIKES, &[&user_id, &counted_after])?.get(0))
    }

    fn set_muted(&self, mute: &MuteAction<'_>) -> Result<(User, bool)> {
        self.log_write(|tx| {
            tx.execute("SELECT 1 FROM users WHERE id = $1 FOR NO KEY UPDATE", &[&mute.user_id])?;
            let before = get_user(tx, mute.user_id)?;
            let Some(audit_row) = shared::mute_audit(&before, mute) else { return Ok((before, false)) };
            tx.execute("UPDATE users SET muted_until = $2 WHERE id = $1", &[&mute.user_id, &mute.until])?;
            audit(tx, &audit_row)?;
            let until_ms = mute.until.map_or(0, crate::timefmt::unix_ms);
            rooms::write_change(tx, Change::Mute { user_id: mute.user_id, until_ms }, mute.timestamp)?;
            Ok((get_user(tx, mute.user_id)?, true))
        })
    }

    fn audit_log(&self, filter: &AuditFilter) -> Result<Vec<Violation>> {
        let action = filter.action.map(Action::as_str);
        let rows = self.conn()?.query(
            &format!(
                "SELECT {VIOLATION_COLS} FROM violations v LEFT JOIN users u ON u.id = v.user_id \
                 WHERE v.id < $1 AND ($2::text IS NULL OR v.action = $2) \
                 AND ($3::bigint IS NULL OR v.user_id = $3) ORDER BY v.id DESC LIMIT $4"
            ),
            &[&filter.before_id.unwrap_or(i64::MAX), &action, &filter.user_id, &(filter.limit as i64)],
        )?;
        Ok(rows.iter().map(violation_row).collect())
    }

    fn latest_blocks(&self) -> Result<Vec<Violation>> {
        let rows = self.conn()?.query(
            &format!(
                "SELECT {VIOLATION_COLS} FROM users u JOIN violations v ON v.id = \
                   (SELECT MAX(id) FROM violations WHERE user_id = u.id AND action = 'block') \
                 WHERE u.is_blocked ORDER BY u.id"
            ),
            &[],
        )?;
        Ok(rows.iter().map(violation_row).collect())
    }

    fn file_report(&self, new: &NewReport<'_>) -> Result<std::result::Result<i64, ReportRefusal>> {
        self.write(|tx| reports::file(tx, new))
    }

    fn reports(&self, filter: &ReportFilter) -> Result<Vec<Report>> {
        reports::list(&mut *self.conn()?, filter)
    }

    fn decide_report(&self, decision: &ReportDecision<'_>) -> Result<Option<Vec<i64>>> {
        self.log_write(|tx| reports::decide(tx, decision))
    }

    fn room_messages_after(&self, room_id: i64, after_id: i64, limit: usize) -> Result<Vec<Message>> {
        reports::room_messages_after(&mut *self.conn()?, room_id, after_id, limit)
    }

    fn block_appeal(&self, user_id: i64) -> Result<Option<(i64, Option<Appeal>)>> {
        reports::block_appeal(&mut *self.conn()?, user_id)
    }

    fn file_appeal(
        &self,
        user_id: i64,
        block_id: i64,
        text: &str,
        timestamp: &str,
    ) -> Result<std::result::Result<Appeal, AppealRefusal>> {
        self.write(|tx| reports::file_appeal(tx, user_id, block_id, text, timestamp))
    }

    fn appeals(&self, open_only: bool, before_id: Option<i64>, limit: usize) -> Result<Vec<Appeal>> {
        reports::appeals(&mut *self.conn()?, open_only, before_id, limit)
    }

    fn answer_appeal(
        &self,
        appeal_id: i64,
        status: &str,
        note: &str,
        actor: &str,
        actor_id: i64,
        timestamp: &str,
    ) -> Result<std::result::Result<Appeal, AppealRefusal>> {
        self.write(|tx| reports::answer(tx, appeal_id, status, note, actor, actor_id, timestamp))
    }

    fn take_appeal_answer(&self, user_id: i64) -> Result<Option<String>> {
        self.write(|tx| reports::take_answer(tx, user_id))
    }

    fn insert_messages(
        &self,
        batch: &[NewMessage],
        timestamp: &str,
    ) -> Result<Vec<std::result::Result<Message, Refusal>>> {
        self.log_write(|tx| rooms::insert_messages(tx, batch, timestamp))
    }

    fn messages_before(&self, room_id: i64, before_id: Option<i64>, limit: usize) -> Result<Vec<Message>> {
        let rows = self.conn()?.query(
            &format!("{MESSAGE_SELECT} WHERE m.room_id = $1 AND m.id < $2 ORDER BY m.id DESC LIMIT $3"),
            &[&room_id, &before_id.unwrap_or(i64::MAX), &(limit as i64)],
        )?;
        Ok(rows.iter().rev().map(message_row).collect())
    }

    fn messages_after(
        &self,
        user_id: i64,
        after_id: i64,
        before_id: i64,
        limit: usize,
    ) -> Result<Vec<Message>> {
        let rows = self.conn()?.query(
            &format!(
                "{MESSAGE_SELECT} WHERE m.id > $2 AND m.id < $3 \
                   AND m.room_id IN (SELECT room_id FROM members WHERE user_id = $1) ORDER BY m.id LIMIT $4"
            ),
            &[&user_id, &after_id, &before_id, &(limit as i64)],
        )?;
        Ok(rows.iter().map(message_row).collect())
    }

    fn search(&self, query: &SearchQuery) -> Result<Vec<Message>> {
        search::search(&mut *self.conn()?, query)
    }

    fn message(&self, id: i64) -> Result<Option<Message>> {
        living::message(&mut *self.conn()?, id)
    }

    fn reactions(&self, message_ids: &[i64]) -> Result<Vec<(i64, Vec<Reaction>)>> {
        living::reactions(&mut *self.conn()?, message_ids)
    }

    fn messages_by_id(&self, ids: &[i64]) -> Result<Vec<Message>> {
        living::messages_by_id(&mut *self.conn()?, ids)
    }

    fn living_changes(&self, user_id: i64, after: i64, before: i64) -> Result<Vec<super::LivingChange>> {
        living::living_changes(&mut *self.conn()?, user_id, after, before)
    }

    fn deletions(&self, before_id: Option<i64>, limit: usize) -> Result<Vec<super::Deletion>> {
        living::deletions(&mut *self.conn()?, before_id, limit)
    }

    fn edit_message(
        &self,
        edit: &EditMessage<'_>,
    ) -> Result<std::result::Result<(Message, i64), LivingRefusal>> {
        self.log_write(|tx| living::edit(tx, edit))
    }

    fn delete_message(
        &self,
        del: &DeleteMessage<'_>,
    ) -> Result<std::result::Result<(i64, i64), LivingRefusal>> {
        self.log_write(|tx| living::delete(tx, del))
    }

    fn toggle_reaction(
        &self,
        toggle: &ToggleReaction<'_>,
    ) -> Result<std::result::Result<Toggled, LivingRefusal>> {
        self.log_write(|tx| living::toggle(tx, toggle))
    }

    fn log_after(&self, after: i64, limit: usize) -> Result<Vec<LogEntry>> {
        // One snapshot for both tables: positions commit in order, so a snapshot holds every
        // position below some N and none above; two separate reads could see a change committed
        // after a message that the first read missed.
        self.snapshot(|tx| rooms::log_after(tx, after, limit))
    }

    fn log_next(&self) -> Result<i64> {
        rooms::log_next(&mut *self.conn()?)
    }

    fn audit_counts(&self) -> Result<Vec<(String, u64)>> {
        let rows = self
            .conn()?
            .query("SELECT action, COUNT(*) FROM violations GROUP BY action ORDER BY action", &[])?;
        Ok(rows.iter().map(|r| (r.get(0), r.get::<_, i64>(1).max(0) as u64)).collect())
    }

    fn pool_state(&self) -> Option<(u32, u32)> {
        self.pool.as_ref().map(|p| {
            let state = p.state();
            (state.connections, state.idle_connections)
        })
    }

    fn memberships(&self, user_id: i64) -> Result<Memberships> {
        self.snapshot(|tx| rooms::memberships(tx, user_id))
    }

    fn create_room(&self, new: &NewRoom<'_>) -> Result<Room> {
        self.log_write(|tx| rooms::create_room(tx, new, None))
    }

    fn open_dm(&self, members: &[i64], created_by: i64, timestamp: &str) -> Result<(Room, bool)> {
        self.log_write(|tx| rooms::open_dm(tx, members, created_by, timestamp))
    }

    fn room(&self, room_id: i64) -> Result<Option<Room>> {
        rooms::room(&mut *self.conn()?, room_id)
    }

    fn rooms_by_name_key(&self, name_key: &str) -> Result<Vec<Room>> {
        rooms::rooms_by_name_key(&mut *self.conn()?, name_key)
    }

    fn room_view(&self, user_id: i64, room_id: i64) -> Result<Option<RoomView>> {
        rooms::room_view(&mut *self.conn()?, user_id, room_id)
    }

    fn room_views(&self, user_id: i64) -> Result<Vec<RoomView>> {
        rooms::room_views(&mut *self.conn()?, user_id)
    }

    fn directory(&self, user_id: i64) -> Result<Vec<(Room, bool)>> {
        rooms::directory(&mut *self.conn()?, user_id)
    }

    fn room_members(&self, room_id: i64) -> Result<Vec<Member>> {
        rooms::room_members(&mut *self.conn()?, room_id)
    }

    fn is_member(&self, room_id: i64, user_id: i64) -> Result<bool> {
        rooms::is_member(&mut *self.conn()?, room_id, user_id)
    }

    fn member_role(&self, room_id: i64, user_id: i64) -> Result<Option<RoomRole>> {
        rooms::member_role(&mut *self.conn()?, room_id, user_id)
    }

    fn set_member_role(
        &self,
        room_id: i64,
        user_id: i64,
        role: RoomRole,
        audit: &Audit<'_>,
    ) -> Result<Option<bool>> {
        self.log_write(|tx| roommod::set_member_role(tx, room_id, user_id, role, audit))
    }

    fn set_room_mute(
        &self,
        room_id: i64,
        user_id: i64,
        until: Option<&str>,
        audit: &Audit<'_>,
    ) -> Result<Option<bool>> {
        self.log_write(|tx| roommod::set_room_mute(tx, room_id, user_id, until, audit))
    }

    fn set_slow_mode(&self, room_id: i64, secs: i64, audit: &Audit<'_>) -> Result<bool> {
        self.log_write(|tx| roommod::set_slow_mode(tx, room_id, secs, audit))
    }

    fn add_member(&self, room_id: i64, user_id: i64, timestamp: &str) -> Result<bool> {
        self.log_write(|tx| rooms::add_member(tx, room_id, user_id, timestamp))
    }

    fn remove_member(&self, room_id: i64, user_id: i64, timestamp: &str) -> Result<bool> {
        self.log_write(|tx| rooms::remove_member(tx, room_id, user_id, timestamp))
    }

    fn hide_room(&self, room_id: i64, user_id: i64, timestamp: &str) -> Result<bool> {
        self.log_write(|tx| rooms::hide_room(tx, room_id, user_id, timestamp))
    }

    fn mark_read(&self, room_id: i64, user_id: i64, message_id: i64, timestamp: &str) -> Result<i64> {
        self.log_write(|tx| rooms::mark_read(tx, room_id, user_id, message_id, timestamp))
    }

    fn set_notify(&self, room_id: i64, user_id: i64, level: Notify) -> Result<bool> {
        rooms::set_notify(&mut *self.conn()?, room_id, user_id, level)
    }

    fn set_archived(&self, room_id: i64, archived: bool, timestamp: &str) -> Result<bool> {
        self.log_write(|tx| rooms::set_archived(tx, room_id, archived, timestamp))
    }

    fn set_auto_join(&self, room_ids: &[i64]) -> Result<()> {
        // Compared first: instances starting with the same rooms need not write.
        if rooms::auto_join_rooms(&mut *self.conn()?)? == super::shared::auto_join_set(room_ids) {
            return Ok(());
        }
        self.write(|tx| rooms::set_auto_join(tx, room_ids))
    }

    fn room_stats(&self) -> Result<Vec<RoomStats>> {
        rooms::room_stats(&mut *self.conn()?)
    }

    fn room_labels(&self) -> Result<Vec<(i64, String)>> {
        rooms::room_labels(&mut *self.conn()?)
    }

    fn usernames_starting(&self, prefix: &str, limit: usize) -> Result<Vec<String>> {
        rooms::usernames_starting(&mut *self.conn()?, prefix, limit)
    }

    fn for_each_message(
        &self,
        filter: &MessageFilter,
        f: &mut dyn FnMut(&Message) -> std::io::Result<()>,
    ) -> Result<()> {
        let mut sql = format!("{MESSAGE_SELECT} WHERE TRUE");
        let mut args: Vec<Box<dyn ToSql + Sync>> = Vec::new();
        if let Some(since) = &filter.since {
            args.push(Box::new(since.clone()));
            sql.push_str(&format!(" AND m.timestamp >= ${}", args.len()));
        }
        if let Some(until) = &filter.until {
            args.push(Box::new(until.clone()));
            sql.push_str(&format!(" AND m.timestamp < ${}", args.len()));
        }
        if let Some(after) = filter.after_id {
            args.push(Box::new(after));
            sql.push_str(&format!(" AND m.id > ${}", args.len()));
        }
        if let Some(rooms) = &filter.rooms {
            args.push(Box::new(rooms.clone()));
            sql.push_str(&format!(" AND m.room_id = ANY(${})", args.len()));
        }
        if filter.public_only {
            sql.push_str(" AND m.room_id IN (SELECT id FROM rooms WHERE kind = 'public')");
        }
        sql.push_str(" ORDER BY m.id");
        let params: Vec<&(dyn ToSql + Sync)> = args.iter().map(|a| a.as_ref()).collect();
        self.stream(&sql, &params, &mut |row| Ok(f(&message_row(row))?))
    }

    fn for_each_user(
        &self,
        filter: UserFilter,
        f: &mut dyn FnMut(&User) -> std::io::Result<()>,
    ) -> Result<()> {
        self.stream(&user_filter_sql(filter), &[], &mut |row| Ok(f(&user_row(row))?))
    }

    fn counts(&self, messages_since: &str) -> Result<Counts> {
        let r = self.conn()?.query_one(
            "SELECT (SELECT COUNT(*) FROM users), (SELECT COUNT(*) FROM users WHERE is_blocked), \
             (SELECT COUNT(*) FROM messages WHERE timestamp >= $1)",
            &[&messages_since],
        )?;
        Ok(Counts { users: r.get(0), blocked: r.get(1), messages_since: r.get(2) })
    }

    fn terms(&self) -> Result<Vec<Term>> {
        terms::all(&mut *self.conn()?)
    }

    fn seed_terms(&self, list: &[String], actor: &str, timestamp: &str) -> Result<bool> {
        self.log_write(|tx| terms::seed(tx, list, actor, timestamp))
    }

    fn add_term(&self, edit: &TermEdit<'_>) -> Result<TermAdded> {
        self.log_write(|tx| terms::add(tx, edit))
    }

    fn remove_term(&self, edit: &TermEdit<'_>) -> Result<Option<TermList>> {
        self.log_write(|tx| terms::remove(tx, edit))
    }

    fn setting_or_insert(&self, key: &str, value: &str) -> Result<String> {
        let mut conn = self.conn()?;
        conn.execute(
            "INSERT INTO settings (key, value) VALUES ($1, $2) ON CONFLICT (key) DO NOTHING",
            &[&key, &value],
        )?;
        Ok(conn.query_one("SELECT value FROM settings WHERE key = $1", &[&key])?.get(0))
    }

    fn presence_beat(&self, beat: &PresenceBeat<'_>) -> Result<bool> {
        self.write(|tx| presence::beat(tx, beat))
    }

    fn presence_elsewhere(&self, instance: &str, ttl_secs: i64) -> Result<Vec<Elsewhere>> {
        presence::elsewhere(&mut *self.conn()?, instance, ttl_secs)
    }

    fn presence_leave(&self, instance: &str) -> Result<()> {
        presence::leave(&mut *self.conn()?, instance)
    }

    fn account_revision(&self) -> Result<i64> {
        Ok(self.conn()?.query_one("SELECT revision FROM account_revision WHERE id = 1", &[])?.get(0))
    }

    fn update_limits(
        &self,
        keys: &[&str],
        now: f64,
        f: &mut dyn FnMut(&mut [Option<LimitSlot>]),
    ) -> Result<()> {
        self.write(|tx| {
            // One statement inserts the missing rows and locks the existing ones, in key order
            // (so two callers sharing keys cannot deadlock); a row another caller is inserting
            // or deleting is waited for, then locked or inserted. Inserted rows are expired
            // placeholders: they read as missing.
            let rows = tx.query(
                "INSERT INTO limits AS l (key, tokens, refilled_at, marked_at, expires_at) \
                 SELECT DISTINCT k, 0, 0, NULL::float8, 0 FROM unnest($1::text[]) AS u (k) ORDER BY k \
                 ON CONFLICT (key) DO UPDATE SET expires_at = l.expires_at \
                 RETURNING key, tokens, refilled_at, marked_at, expires_at",
                &[&keys],
            )?;
            let mut slots: Vec<Option<LimitSlot>> = keys
                .iter()
                .map(|key| {
                    let row = rows.iter().find(|r| r.get::<_, &str>(0) == *key)?;
                    let slot = LimitSlot {
                        tokens: row.get(1),
                        at: row.get(2),
                        mark: row.get(3),
                        expires: row.get(4),
                    };
                    (slot.expires >= now).then_some(slot)
                })
                .collect();
            f(&mut slots);
            let (mut kept, mut gone) = (Vec::new(), Vec::new());
            for (key, slot) in keys.iter().zip(&slots) {
                match slot {
                    Some(s) => kept.push((*key, s)),
                    None => gone.push(*key),
                }
            }
            if !gone.is_empty() {
                tx.execute("DELETE FROM limits WHERE key = ANY($1)", &[&gone])?;
            }
            if !kept.is_empty() {
                let column =
                    |f: fn(&LimitSlot) -> Option<f64>| kept.iter().map(|(_, s)| f(s)).collect::<Vec<_>>();
                let keys: Vec<&str> = kept.iter().map(|(k, _)| *k).collect();
                tx.execute(
                    "UPDATE limits AS l SET tokens = v.tokens, refilled_at = v.at, marked_at = v.mark, \
                     expires_at = v.expires \
                     FROM unnest($1::text[], $2::float8[], $3::float8[], $4::float8[], $5::float8[]) \
                       AS v (key, tokens, at, mark, expires) \
                     WHERE l.key = v.key",
                    &[
                        &keys,
                        &column(|s| Some(s.tokens)),
                        &column(|s| Some(s.at)),
                        &column(|s| s.mark),
                        &column(|s| Some(s.expires)),
                    ],
                )?;
            }
            Ok(())
        })
    }

    fn purge_limits(&self, now: f64) -> Result<u64> {
        // Rows a login holds are skipped rather than waited for: they are being rewritten, and
        // a purge taking them in another order than `update_limits` could deadlock with it.
        Ok(self.conn()?.execute(
            "DELETE FROM limits WHERE key IN \
             (SELECT key FROM limits WHERE expires_at < $1 FOR UPDATE SKIP LOCKED)",
            &[&now],
        )?)
    }

    fn signal(&self, payload: &str) -> Result<()> {
        self.conn()?.execute("SELECT pg_notify($1, $2)", &[&SIGNAL_CHANNEL, &payload])?;
        Ok(())
    }

    fn watch_log(&self, bell: Box<dyn super::LogBell>) -> Result<()> {
        let config = self.config.clone();
        std::thread::Builder::new()
            .name("chatterbox-pg-listen".into())
            .spawn(move || watch(config, &*bell))
            .map_err(|e| StoreError::Database(format!("cannot start the log watcher: {e}")))?;
        Ok(())
    }
}

/// LISTENs on a connection of its own (a pooled one would lose notifications between lends) and
/// rings for every burst of notifications; reconnects with a backoff when the connection is
/// lost, and rings once after each (re)connection, since a write may have been missed meanwhile.
fn watch(mut config: postgres::Config, bell: &dyn super::LogBell) {
    config.application_name("chatterbox-listen");
    let mut backoff = Duration::from_millis(100);
    while bell.wanted() {
        let listening = config.connect(NoTls).and_then(|mut client| {
            client.batch_execute(&format!("LISTEN {LOG_CHANNEL}; LISTEN {SIGNAL_CHANNEL}")).map(|()| client)
        });
        let mut client = match listening {
            Ok(client) => client,
            Err(e) => {
                tracing::debug!(error = %e, "cannot listen for log writes; retrying");
                std::thread::sleep(backoff);
                backoff = (backoff * 2).min(WATCH_BACKOFF);
                continue;
            }
        };
        backoff = Duration::from_millis(100);
        bell.ring();
        while bell.wanted() {
            let mut notifications = client.notifications();
            let first = notifications.timeout_iter(WATCH_IDLE).next();
            match first {
                Ok(Some(first)) => {
                    // One ring for every log write already received: the tailer reads it all at
                    // once. Signals are passed on one by one.
                    let mut log = false;
                    let mut next = Some(first);
                    while let Some(n) = next.take() {
                        if n.channel() == SIGNAL_CHANNEL {
                            bell.signal(n.payload());
                        } else {
                            log = true;
                        }
                        next = notifications.iter().next().ok().flatten();
                    }
                    if log {
                        bell.ring();
                    }
                }
                Err(e) => {
                    tracing::warn!(error = %e, "lost the connection listening for log writes; reconnecting");
                    break;
                }
                Ok(None) => {}
            }
        }
    }
}
