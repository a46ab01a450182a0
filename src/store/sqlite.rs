//! The SQLite backend: a small connection pool over one database file in WAL mode.
//!
//! WAL lets readers (history, exports) run while one writer commits, and the busy timeout makes
//! the daemon and operator commands wait for each other briefly instead of failing with
//! "database is locked". Write transactions start with `BEGIN IMMEDIATE` so two writers queue on
//! the busy handler rather than deadlocking when a reader tries to upgrade.

use std::{
    ops::{Deref, DerefMut},
    path::{Path, PathBuf},
    sync::{Condvar, Mutex},
    time::Duration,
};

use rusqlite::{
    config::DbConfig, params, Connection, OpenFlags, OptionalExtension, Row, TransactionBehavior,
};

use super::{
    migrations::{self, MigrationState},
    shared, Action, AdminAction, Appeal, AppealRefusal, Audit, AuditFilter, Change, Counts, Credentials,
    DeleteMessage, EditMessage, Elsewhere, KeysSet, LimitSlot, LivingRefusal, LogEntry, Member, Memberships,
    Message, MessageFilter, MuteAction, NewMessage, NewReport, NewRoom, NewUser, Notify, PresenceBeat,
    Reaction, Refusal, Report, ReportDecision, ReportFilter, ReportRefusal, Result, Room, RoomRole,
    RoomStats, RoomView, SearchQuery, Store, StoreError, StrikeOutcome, StrikeRecord, StrikeStep, Term,
    TermAdded, TermEdit, TermList, ToggleReaction, Toggled, User, UserFilter, UserKeys, Violation,
};

pub mod backup;
mod dump;
mod living;
mod presence;
mod reports;
mod roommod;
mod rooms;
mod search;
mod terms;
pub use dump::SqliteDump;
use rooms::{message_row, MESSAGE_SELECT};

/// How long a statement waits for another connection's write lock before reporting `Busy`.
const BUSY_TIMEOUT: Duration = Duration::from_secs(5);
/// Connections open at once; further callers wait for one, and every one is kept for reuse.
/// Without a bound, a burst of concurrent calls (one per blocking thread, up to 512) would open
/// as many files; and closing surplus connections does not give their descriptors back at once,
/// because SQLite defers closing a file while another connection holds a lock on it. Twelve
/// readers are more than two cores can keep busy.
const MAX_OPEN: usize = 12;
const MAX_IDLE: usize = MAX_OPEN;

const USER_COLS: &str = "id, username, email, is_admin, is_blocked, warning_count, created_at, muted_until";

pub struct SqliteStore {
    path: PathBuf,
    pool: Mutex<Pool>,
    returned: Condvar,
}

struct Pool {
    idle: Vec<Connection>,
    /// Connections in use or idle.
    open: usize,
}

impl std::fmt::Debug for SqliteStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SqliteStore").field("path", &self.path).finish()
    }
}

impl SqliteStore {
    /// Opens the database, creating its folder and file if needed, and applies pending
    /// migrations. Returns the migrations applied now. Used by `serve`, `migrate`, `user create`.
    pub fn open_and_migrate(path: &Path) -> Result<(Self, Vec<MigrationState>)> {
        if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
            std::fs::create_dir_all(dir).map_err(|e| {
                StoreError::Database(format!("cannot create the folder {}: {e}", dir.display()))
            })?;
        }
        let mut conn = open_connection(path, true)?;
        let applied = migrations::apply(&mut conn)?;
        let store = Self::with_first(path, conn);
        Ok((store, applied))
    }

    /// Opens an existing database whose schema is up to date; refuses a missing file, a
    /// database that needs `chatterbox migrate`, and one written by a newer chatterbox.
    pub fn open_existing(path: &Path) -> Result<Self> {
        let mut conn = open_connection(path, false)?;
        migrations::check_not_newer(&mut conn)?;
        let pending = migrations::pending(&mut conn)?;
        if !pending.is_empty() {
            return Err(StoreError::Schema(format!(
                "the database at {} needs migrations ({}): run `chatterbox migrate` first",
                path.display(),
                pending.iter().map(|m| m.label()).collect::<Vec<_>>().join(", ")
            )));
        }
        Ok(Self::with_first(path, conn))
    }

    /// Known and applied migrations, without changing the database (which must exist).
    pub fn migration_status(path: &Path) -> Result<Vec<MigrationState>> {
        let mut conn = open_connection(path, false)?;
        migrations::status(&mut conn)
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    fn with_first(path: &Path, conn: Connection) -> Self {
        SqliteStore {
            path: path.to_path_buf(),
            pool: Mutex::new(Pool { idle: vec![conn], open: 1 }),
            returned: Condvar::new(),
        }
    }

    fn insert_user(&self, new: &NewUser<'_>, keys: Option<&UserKeys<'_>>) -> Result<User> {
        let mut conn = self.conn()?;
        // An explicit transaction: in autocommit mode an `INSERT ... RETURNING` commits when the
        // statement is reset, and a failed commit (disk full) would go unreported.
        let tx = conn.transaction_with_behavior(TransactionBehavior::Immediate)?;
        let id: i64 = tx
            .prepare_cached(
                "INSERT INTO users (username, email, password_hash, is_admin, created_at, name_key, email_key) \
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7) RETURNING id",
            )?
            .query_row(
                params![
                    new.username,
                    new.email,
                    new.password_hash,
                    new.is_admin,
                    new.created_at,
                    keys.map(|k| k.name_key),
                    keys.map(|k| k.email_key)
                ],
                |r| r.get(0),
            )?;
        rooms::join_auto_rooms(&tx, id, new.created_at)?;
        let user = get_user(&tx, id)?;
        tx.commit()?;
        Ok(user)
    }

    /// Runs `f` in a write transaction and commits.
    fn write<T>(&self, f: impl FnOnce(&rusqlite::Transaction<'_>) -> Result<T>) -> Result<T> {
        let mut conn = self.conn()?;
        let tx = conn.transaction_with_behavior(TransactionBehavior::Immediate)?;
        let out = f(&tx)?;
        tx.commit()?;
        Ok(out)
    }

    /// The account whose `column` (a fixed name, never user input) equals `value`.
    fn user_where(&self, column: &str, value: &str) -> Result<Option<User>> {
        let conn = self.conn()?;
        let user = conn
            .prepare_cached(&format!("SELECT {USER_COLS} FROM users WHERE {column} = ?1"))?
            .query_row([value], user_row)
            .optional()?;
        Ok(user)
    }

    fn lock_pool(&self) -> std::sync::MutexGuard<'_, Pool> {
        self.pool.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// A connection: an idle one, a new one while fewer than `MAX_OPEN` are open, or the next
    /// one returned. Callers never hold one while asking for another, so waiting cannot deadlock.
    fn conn(&self) -> Result<Pooled<'_>> {
        let mut pool = self.lock_pool();
        loop {
            if let Some(conn) = pool.idle.pop() {
                // A connection SQLite opened read-only (the file was not writable then) stays
                // read-only forever; drop it so the daemon recovers by itself once the file is
                // writable again.
                if conn.is_readonly(rusqlite::MAIN_DB).unwrap_or(true) {
                    pool.open -= 1;
                    continue;
                }
                return Ok(Pooled { store: self, conn: Some(conn) });
            }
            if pool.open < MAX_OPEN {
                pool.open += 1;
                drop(pool);
                return match open_connection(&self.path, false) {
                    Ok(conn) => Ok(Pooled { store: self, conn: Some(conn) }),
                    Err(e) => {
                        self.lock_pool().open -= 1;
                        self.returned.notify_one();
                        Err(e)
                    }
                };
            }
            pool = self.returned.wait(pool).unwrap_or_else(|p| p.into_inner());
        }
    }
}

fn open_connection(path: &Path, create: bool) -> Result<Connection> {
    if !create && !path.exists() {
        return Err(StoreError::Missing(path.display().to_string()));
    }
    let mut flags = OpenFlags::SQLITE_OPEN_READ_WRITE | OpenFlags::SQLITE_OPEN_NO_MUTEX;
    if create {
        flags |= OpenFlags::SQLITE_OPEN_CREATE;
    }
    let conn = Connection::open_with_flags(path, flags).map_err(|e| match StoreError::from(e) {
        StoreError::Database(text) => {
            StoreError::Database(format!("cannot open the database at {}: {text}", path.display()))
        }
        other => other,
    })?;
    conn.busy_timeout(BUSY_TIMEOUT)?;
    // WAL is a property of the file, so it is switched on once, by the opener that may create and
    // migrate the database; other openers inherit it. Switching it from a read-only command would
    // rewrite the file header (`migrate --status` must change nothing). A read-only file cannot
    // switch journal mode; it may already be in WAL, so carry on and let the first write report
    // the real problem.
    if create {
        let _ = conn.query_row("PRAGMA journal_mode = WAL", [], |r| r.get::<_, String>(0));
    }
    // NORMAL in WAL mode: a commit is durable once it is in the WAL file, which survives a
    // crash or kill of the process (what "acknowledged" promises); only an OS crash or power
    // loss can drop the last commits. FULL would add an fsync per commit on the message path.
    // journal_size_limit: after a checkpoint the WAL file is truncated to at most 16 MiB
    // instead of keeping the size of its largest burst on disk forever.
    conn.execute_batch(
        "PRAGMA foreign_keys = ON; PRAGMA synchronous = NORMAL; PRAGMA journal_size_limit = 16777216;",
    )?;
    conn.set_prepared_statement_cache_capacity(32);
    // The query planner's stability guarantee: a plan that never depends on the values bound.
    // Without it, SQLite 3.54 marks every join constrained by a parameter (`m.room_id = ?1`) to
    // be prepared again whenever that value changes, so a cached statement was parsed and
    // planned anew on nearly every call: 6 % of the server's core in the chat writer alone at
    // 3,000 messages a second (the membership check of every message). Our statements are
    // written for one plan; none relies on a bound value to pick an index.
    conn.set_db_config(DbConfig::SQLITE_DBCONFIG_ENABLE_QPSG, true)?;
    Ok(conn)
}

thread_local! {
    /// Set when a statement on this thread failed because the database was read-only. Store
    /// calls run synchronously on one thread, so the connection in use is the one that failed.
    static READ_ONLY_SEEN: std::cell::Cell<bool> = const { std::cell::Cell::new(false) };
}

/// Records a read-only failure so the connection that hit it is not reused: SQLite may have
/// opened the file, or only its `-shm` index, read-only, and such a connection stays so forever.
pub(super) fn note_read_only() {
    READ_ONLY_SEEN.with(|c| c.set(true));
}

/// A connection borrowed from the pool; returned on drop.
struct Pooled<'a> {
    store: &'a SqliteStore,
    conn: Option<Connection>,
}

impl Deref for Pooled<'_> {
    type Target = Connection;
    fn deref(&self) -> &Connection {
        self.conn.as_ref().expect("connection present until drop")
    }
}

impl DerefMut for Pooled<'_> {
    fn deref_mut(&mut self) -> &mut Connection {
        self.conn.as_mut().expect("connection present until drop")
    }
}

impl Drop for Pooled<'_> {
    fn drop(&mut self) {
        let conn = self.conn.take();
        let mut pool = self.store.lock_pool();
        // A connection that hit a read-only database is dropped: the next checkout opens a
        // fresh one.
        match conn {
            Some(conn) if !READ_ONLY_SEEN.with(|c| c.replace(false)) && pool.idle.len() < MAX_IDLE => {
                pool.idle.push(conn)
            }
            _ => pool.open -= 1,
        }
        drop(pool);
        self.store.returned.notify_one();
    }
}

fn user_row(r: &Row<'_>) -> rusqlite::Result<User> {
    Ok(User {
        id: r.get(0)?,
        username: r.get(1)?,
        email: r.get(2)?,
        is_admin: r.get(3)?,
        is_blocked: r.get(4)?,
        warning_count: r.get(5)?,
        created_at: r.get(6)?,
        muted_until: r.get(7)?,
    })
}

/// The columns `violation_row` reads, from `violations v` joined with `users u`.
const VIOLATION_COLS: &str = "v.id, v.user_id, u.username, v.action, v.text, v.term, v.reason, v.actor, \
     v.timestamp, v.strike, v.room_id, v.message_id, v.until, v.actor_id";

/// The strikes of user ?1 that count: after ?2 (the decay, NULL for none) and at or after the
/// user's `strikes_since`.
const COUNT_STRIKES: &str = "SELECT COUNT(*) FROM violations v JOIN users u ON u.id = v.user_id \
     WHERE v.user_id = ?1 AND v.strike = 1 AND (?2 IS NULL OR v.timestamp > ?2) \
     AND (u.strikes_since IS NULL OR v.timestamp >= u.strikes_since)";

/// Adds one row to the audit log, in the caller's transaction.
pub(crate) fn audit(conn: &Connection, e: &Audit<'_>) -> Result<()> {
    conn.prepare_cached(
        "INSERT INTO violations (user_id, action, text, term, reason, actor, actor_id, timestamp, \
         strike, room_id, message_id, until) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12)",
    )?
    .execute(params![
        e.user_id,
        e.action.as_str(),
        e.text,
        e.term,
        e.reason,
        e.actor,
        e.actor_id,
        e.timestamp,
        e.strike,
        e.room_id,
        e.message_id,
        e.until
    ])?;
    Ok(())
}

fn violation_row(r: &Row<'_>) -> rusqlite::Result<Violation> {
    Ok(Violation {
        id: r.get(0)?,
        user_id: r.get(1)?,
        username: r.get(2)?,
        action: Action::parse(&r.get::<_, String>(3)?),
        text: r.get(4)?,
        term: r.get(5)?,
        reason: r.get(6)?,
        actor: r.get(7)?,
        timestamp: r.get(8)?,
        strike: r.get(9)?,
        room_id: r.get(10)?,
        message_id: r.get(11)?,
        until: r.get(12)?,
        actor_id: r.get(13)?,
    })
}

fn user_filter_sql(filter: UserFilter) -> String {
    let mut sql = format!("SELECT {USER_COLS} FROM users WHERE 1 = 1");
    if filter.blocked_only {
        sql.push_str(" AND is_blocked = 1");
    }
    if filter.admins_only {
        sql.push_str(" AND is_admin = 1");
    }
    sql.push_str(" ORDER BY id");
    sql
}

fn get_user(conn: &Connection, id: i64) -> Result<User> {
    conn.prepare_cached(&format!("SELECT {USER_COLS} FROM users WHERE id = ?1"))?
        .query_row([id], user_row)
        .optional()?
        .ok_or(StoreError::UserNotFound)
}

impl Store for SqliteStore {
    fn ping(&self) -> Result<()> {
        let conn = self.conn()?;
        conn.query_row("SELECT revision FROM account_revision WHERE id = 1", [], |r| r.get::<_, i64>(0))?;
        Ok(())
    }

    fn create_user(&self, new: &NewUser<'_>) -> Result<User> {
        self.insert_user(new, None)
    }

    fn create_user_keyed(&self, new: &NewUser<'_>, keys: &UserKeys<'_>) -> Result<User> {
        self.insert_user(new, Some(keys))
    }

    fn user_by_id(&self, id: i64) -> Result<Option<User>> {
        let conn = self.conn()?;
        match get_user(&conn, id) {
            Ok(u) => Ok(Some(u)),
            Err(StoreError::UserNotFound) => Ok(None),
            Err(e) => Err(e),
        }
    }

    fn user_by_username(&self, username: &str) -> Result<Option<User>> {
        self.user_where("username", username)
    }

    fn user_by_name_key(&self, name_key: &str) -> Result<Option<User>> {
        self.user_where("name_key", name_key)
    }

    fn credentials(&self, username: &str, email_key: &str) -> Result<Option<Credentials>> {
        let conn = self.conn()?;
        let found = conn
            .prepare_cached(&format!(
                "SELECT {USER_COLS}, password_hash FROM users \
                 WHERE username = ?1 OR email_key = ?2 OR (email_key IS NULL AND email = ?1) \
                 ORDER BY username = ?1 DESC, email_key = ?2 DESC LIMIT 1"
            ))?
            .query_row([username, email_key], |r| {
                Ok(Credentials { user: user_row(r)?, password_hash: r.get(8)? })
            })
            .optional()?;
        Ok(found)
    }

    fn replace_password_hash(&self, user_id: i64, old_hash: &str, new_hash: &str) -> Result<bool> {
        let mut conn = self.conn()?;
        let tx = conn.transaction_with_behavior(TransactionBehavior::Immediate)?;
        let changed = tx
            .prepare_cached("UPDATE users SET password_hash = ?3 WHERE id = ?1 AND password_hash = ?2")?
            .execute(params![user_id, old_hash, new_hash])?;
        tx.commit()?;
        Ok(changed > 0)
    }

    fn hash_prefix_counts(&self) -> Result<Vec<(String, i64)>> {
        let conn = self.conn()?;
        let mut stmt =
            conn.prepare_cached("SELECT substr(password_hash, 1, 7), COUNT(*) FROM users GROUP BY 1")?;
        let rows =
            stmt.query_map([], |r| Ok((r.get(0)?, r.get(1)?)))?.collect::<rusqlite::Result<Vec<_>>>()?;
        Ok(rows)
    }

    fn users_without_keys(&self, after_id: i64, limit: usize) -> Result<Vec<User>> {
        let conn = self.conn()?;
        let mut stmt = conn.prepare_cached(&format!(
            "SELECT {USER_COLS} FROM users WHERE id > ?1 AND (name_key IS NULL OR email_key IS NULL) \
             ORDER BY id LIMIT ?2"
        ))?;
        let users = stmt
            .query_map(params![after_id, limit as i64], user_row)?
            .collect::<rusqlite::Result<Vec<_>>>()?;
        Ok(users)
    }

    fn set_user_keys(&self, user_id: i64, keys: &UserKeys<'_>) -> Result<KeysSet> {
        let mut conn = self.conn()?;
        let tx = conn.transaction_with_behavior(TransactionBehavior::Immediate)?;
        // One key at a time: a name key another account holds must not keep the e-mail key out.
        let set = |column: &str, key: &str| -> Result<bool> {
            let sql = format!(
                "UPDATE users SET {column} = ?2 WHERE id = ?1 AND {column} IS NULL \
                 AND NOT EXISTS (SELECT 1 FROM users WHERE {column} = ?2)"
            );
            tx.prepare_cached(&sql)?.execute(params![user_id, key])?;
            let stored: Option<String> =
                tx.query_row(&format!("SELECT {column} FROM users WHERE id = ?1"), [user_id], |r| r.get(0))?;
            Ok(stored.as_deref() == Some(key))
        };
        let name = set("name_key", keys.name_key)?;
        let email = set("email_key", keys.email_key)?;
        tx.commit()?;
        Ok(KeysSet { name, email })
    }

    fn list_users(&self, filter: UserFilter) -> Result<Vec<User>> {
        let conn = self.conn()?;
        let mut stmt = conn.prepare_cached(&user_filter_sql(filter))?;
        let users = stmt.query_map([], user_row)?.collect::<rusqlite::Result<Vec<_>>>()?;
        Ok(users)
    }

    fn set_admin(&self, user_id: i64, is_admin: bool) -> Result<(User, bool)> {
        let mut conn = self.conn()?;
        let tx = conn.transaction_with_behavior(TransactionBehavior::Immediate)?;
        let before = get_user(&tx, user_id)?;
        if before.is_admin == is_admin {
            return Ok((before, false));
        }
        tx.execute("UPDATE users SET is_admin = ?1 WHERE id = ?2", params![is_admin, user_id])?;
        let after = get_user(&tx, user_id)?;
        rooms::write_change(&tx, after.account_change(), &crate::timefmt::now())?;
        tx.commit()?;
        Ok((after, true))
    }

    fn set_blocked(&self, user_id: i64, blocked: bool, action: &AdminAction<'_>) -> Result<(User, bool)> {
        let mut conn = self.conn()?;
        let tx = conn.transaction_with_behavior(TransactionBehavior::Immediate)?;
        let before = get_user(&tx, user_id)?;
        let changed = before.is_blocked != blocked || (!blocked && before.warning_count != 0);
        if !changed {
            return Ok((before, false));
        }
        // An unblock starts the ladder afresh: earlier strikes no longer count.
        tx.execute(
            "UPDATE users SET is_blocked = ?1, \
             warning_count = CASE WHEN ?1 THEN warning_count ELSE 0 END, \
             strikes_since = CASE WHEN ?1 THEN strikes_since ELSE ?3 END WHERE id = ?2",
            params![blocked, user_id, action.timestamp],
        )?;
        let kind = if blocked { Action::Block } else { Action::Unblock };
        audit(
            &tx,
            &Audit {
                reason: action.reason,
                ..Audit::new(Some(user_id), kind, action.actor, action.timestamp)
            },
        )?;
        let after = get_user(&tx, user_id)?;
        if before.is_blocked != blocked {
            rooms::write_change(&tx, after.account_change(), action.timestamp)?;
        }
        tx.commit()?;
        Ok((after, true))
    }

    fn strike(
        &self,
        record: &StrikeRecord<'_>,
        ladder: &mut dyn FnMut(i64) -> StrikeStep,
    ) -> Result<StrikeOutcome> {
        let mut conn = self.conn()?;
        // The write lock taken by BEGIN IMMEDIATE orders concurrent strikes of one account: each
        // counts the ones committed before it, so each step of the ladder is taken once, and
        // once the account is blocked later ones neither count nor audit.
        let tx = conn.transaction_with_behavior(TransactionBehavior::Immediate)?;
        let user = get_user(&tx, record.user_id)?;
        if user.is_blocked {
            return Ok(StrikeOutcome {
                strikes: user.warning_count,
                step: StrikeStep::Block,
                recorded: false,
            });
        }
        let counted: i64 = tx
            .prepare_cached(COUNT_STRIKES)?
            .query_row(params![record.user_id, record.counted_after], |r| r.get(0))?;
        let strikes = counted + 1;
        let step = ladder(strikes);
        let until = shared::mute_end(&step, user.muted_until.as_deref());
        audit(&tx, &record.audit(&step, until.as_deref()))?;
        let blocked = step == StrikeStep::Block;
        tx.prepare_cached(
            "UPDATE users SET warning_count = ?2, is_blocked = (is_blocked OR ?3), \
             muted_until = COALESCE(?4, muted_until) WHERE id = ?1",
        )?
        .execute(params![record.user_id, strikes, blocked, until])?;
        let after = get_user(&tx, record.user_id)?;
        if blocked {
            rooms::write_change(&tx, after.account_change(), record.timestamp)?;
        }
        if let Some(until) = &until {
            let change = Change::Mute { user_id: after.id, until_ms: crate::timefmt::unix_ms(until) };
            rooms::write_change(&tx, change, record.timestamp)?;
        }
        tx.commit()?;
        Ok(StrikeOutcome { strikes, step, recorded: true })
    }

    fn strikes(&self, user_id: i64, counted_after: Option<&str>) -> Result<i64> {
        let conn = self.conn()?;
        let n =
            conn.prepare_cached(COUNT_STRIKES)?.query_row(params![user_id, counted_after], |r| r.get(0))?;
        Ok(n)
    }

    fn set_muted(&self, mute: &MuteAction<'_>) -> Result<(User, bool)> {
        let mut conn = self.conn()?;
        let tx = conn.transaction_with_behavior(TransactionBehavior::Immediate)?;
        let before = get_user(&tx, mute.user_id)?;
        let Some(audit_row) = shared::mute_audit(&before, mute) else { return Ok((before, false)) };
        tx.prepare_cached("UPDATE users SET muted_until = ?2 WHERE id = ?1")?
            .execute(params![mute.user_id, mute.until])?;
        audit(&tx, &audit_row)?;
        let until_ms = mute.until.map_or(0, crate::timefmt::unix_ms);
        rooms::write_change(&tx, Change::Mute { user_id: mute.user_id, until_ms }, mute.timestamp)?;
        let after = get_user(&tx, mute.user_id)?;
        tx.commit()?;
        Ok((after, true))
    }

    fn audit_log(&self, filter: &AuditFilter) -> Result<Vec<Violation>> {
        let conn = self.conn()?;
        let mut stmt = conn.prepare_cached(&format!(
            "SELECT {VIOLATION_COLS} FROM violations v LEFT JOIN users u ON u.id = v.user_id \
             WHERE v.id < ?1 AND (?2 IS NULL OR v.action = ?2) AND (?3 IS NULL OR v.user_id = ?3) \
             ORDER BY v.id DESC LIMIT ?4"
        ))?;
        let action = filter.action.map(Action::as_str);
        let rows = stmt
            .query_map(
                params![filter.before_id.unwrap_or(i64::MAX), action, filter.user_id, filter.limit as i64],
                violation_row,
            )?
            .collect::<rusqlite::Result<Vec<_>>>()?;
        Ok(rows)
    }

    fn latest_blocks(&self) -> Result<Vec<Violation>> {
        let conn = self.conn()?;
        let mut stmt = conn.prepare_cached(&format!(
            "SELECT {VIOLATION_COLS} FROM users u JOIN violations v ON v.id = \
               (SELECT MAX(id) FROM violations WHERE user_id = u.id AND action = 'block') \
             WHERE u.is_blocked = 1 ORDER BY u.id"
        ))?;
        let rows = stmt.query_map([], violation_row)?.collect::<rusqlite::Result<Vec<_>>>()?;
        Ok(rows)
    }

    fn file_report(&self, new: &NewReport<'_>) -> Result<std::result::Result<i64, ReportRefusal>> {
        self.write(|tx| reports::file(tx, new))
    }

    fn reports(&self, filter: &ReportFilter) -> Result<Vec<Report>> {
        reports::list(&*self.conn()?, filter)
    }

    fn decide_report(&self, decision: &ReportDecision<'_>) -> Result<Option<Vec<i64>>> {
        self.write(|tx| reports::decide(tx, decision))
    }

    fn room_messages_after(&self, room_id: i64, after_id: i64, limit: usize) -> Result<Vec<Message>> {
        reports::room_messages_after(&*self.conn()?, room_id, after_id, limit)
    }

    fn block_appeal(&self, user_id: i64) -> Result<Option<(i64, Option<Appeal>)>> {
        reports::block_appeal(&*self.conn()?, user_id)
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
        reports::appeals(&*self.conn()?, open_only, before_id, limit)
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
        // Every sign-in asks, and almost never is there an answer: a read first, so a sign-in
        // takes the database's one write lock (the chat's writer's) only when there is one.
        if !reports::answer_waiting(&*self.conn()?, user_id)? {
            return Ok(None);
        }
        self.write(|tx| reports::take_answer(tx, user_id))
    }

    fn insert_messages(
        &self,
        batch: &[NewMessage],
        timestamp: &str,
    ) -> Result<Vec<std::result::Result<Message, Refusal>>> {
        self.write(|tx| rooms::insert_messages(tx, batch, timestamp))
    }

    fn messages_before(&self, room_id: i64, before_id: Option<i64>, limit: usize) -> Result<Vec<Message>> {
        let conn = self.conn()?;
        let mut stmt = conn.prepare_cached(&format!(
            "{MESSAGE_SELECT} WHERE m.room_id = ?1 AND m.id < ?2 ORDER BY m.id DESC LIMIT ?3"
        ))?;
        let mut rows = stmt
            .query_map(params![room_id, before_id.unwrap_or(i64::MAX), limit as i64], message_row)?
            .collect::<rusqlite::Result<Vec<_>>>()?;
        rows.reverse();
        Ok(rows)
    }

    fn messages_after(
        &self,
        user_id: i64,
        after_id: i64,
        before_id: i64,
        limit: usize,
    ) -> Result<Vec<Message>> {
        let conn = self.conn()?;
        let mut stmt = conn.prepare_cached(&format!(
            "{MESSAGE_SELECT} WHERE m.id > ?2 AND m.id < ?3 \
               AND m.room_id IN (SELECT room_id FROM members WHERE user_id = ?1) ORDER BY m.id LIMIT ?4"
        ))?;
        let rows = stmt
            .query_map(params![user_id, after_id, before_id, limit as i64], message_row)?
            .collect::<rusqlite::Result<Vec<_>>>()?;
        Ok(rows)
    }

    fn search(&self, query: &SearchQuery) -> Result<Vec<Message>> {
        search::search(&*self.conn()?, query)
    }

    fn message(&self, id: i64) -> Result<Option<Message>> {
        living::message(&*self.conn()?, id)
    }

    fn reactions(&self, message_ids: &[i64]) -> Result<Vec<(i64, Vec<Reaction>)>> {
        living::reactions(&*self.conn()?, message_ids)
    }

    fn one_writer(&self) -> bool {
        true
    }

    fn index_search(&self, max: usize) -> Result<usize> {
        search::index(&mut *self.conn()?, max)
    }

    fn messages_by_id(&self, ids: &[i64]) -> Result<Vec<Message>> {
        living::messages_by_id(&*self.conn()?, ids)
    }

    fn living_changes(&self, user_id: i64, after: i64, before: i64) -> Result<Vec<super::LivingChange>> {
        living::living_changes(&*self.conn()?, user_id, after, before)
    }

    fn deletions(&self, before_id: Option<i64>, limit: usize) -> Result<Vec<super::Deletion>> {
        living::deletions(&*self.conn()?, before_id, limit)
    }

    fn edit_message(
        &self,
        edit: &EditMessage<'_>,
    ) -> Result<std::result::Result<(Message, i64), LivingRefusal>> {
        living::edit(&mut *self.conn()?, edit)
    }

    fn delete_message(
        &self,
        del: &DeleteMessage<'_>,
    ) -> Result<std::result::Result<(i64, i64), LivingRefusal>> {
        living::delete(&mut *self.conn()?, del)
    }

    fn toggle_reaction(
        &self,
        toggle: &ToggleReaction<'_>,
    ) -> Result<std::result::Result<Toggled, LivingRefusal>> {
        living::toggle(&mut *self.conn()?, toggle)
    }

    fn log_after(&self, after: i64, limit: usize) -> Result<Vec<LogEntry>> {
        // One read transaction for both tables: read separately, a message committed between the
        // two reads would be missed while a change after it is returned, and the reader's cursor
        // would move past the message.
        let mut conn = self.conn()?;
        let tx = conn.transaction_with_behavior(TransactionBehavior::Deferred)?;
        let entries = rooms::log_after(&tx, after, limit)?;
        tx.commit()?;
        Ok(entries)
    }

    fn log_next(&self) -> Result<i64> {
        rooms::log_next(&*self.conn()?)
    }

    fn audit_counts(&self) -> Result<Vec<(String, u64)>> {
        let conn = self.conn()?;
        let mut stmt =
            conn.prepare_cached("SELECT action, COUNT(*) FROM violations GROUP BY action ORDER BY action")?;
        let rows = stmt
            .query_map([], |r| Ok((r.get::<_, String>(0)?, r.get::<_, i64>(1)?.max(0) as u64)))?
            .collect::<rusqlite::Result<Vec<_>>>()?;
        Ok(rows)
    }

    fn memberships(&self, user_id: i64) -> Result<Memberships> {
        rooms::memberships(&mut *self.conn()?, user_id)
    }

    fn create_room(&self, new: &NewRoom<'_>) -> Result<Room> {
        self.write(|tx| rooms::create_room(tx, new, None))
    }

    fn open_dm(&self, members: &[i64], created_by: i64, timestamp: &str) -> Result<(Room, bool)> {
        self.write(|tx| rooms::open_dm(tx, members, created_by, timestamp))
    }

    fn room(&self, room_id: i64) -> Result<Option<Room>> {
        rooms::room(&*self.conn()?, room_id)
    }

    fn rooms_by_name_key(&self, name_key: &str) -> Result<Vec<Room>> {
        rooms::rooms_by_name_key(&*self.conn()?, name_key)
    }

    fn room_view(&self, user_id: i64, room_id: i64) -> Result<Option<RoomView>> {
        rooms::room_view(&*self.conn()?, user_id, room_id)
    }

    fn room_views(&self, user_id: i64) -> Result<Vec<RoomView>> {
        rooms::room_views(&*self.conn()?, user_id)
    }

    fn directory(&self, user_id: i64) -> Result<Vec<(Room, bool)>> {
        rooms::directory(&*self.conn()?, user_id)
    }

    fn room_members(&self, room_id: i64) -> Result<Vec<Member>> {
        rooms::room_members(&*self.conn()?, room_id)
    }

    fn is_member(&self, room_id: i64, user_id: i64) -> Result<bool> {
        rooms::is_member(&*self.conn()?, room_id, user_id)
    }

    fn member_role(&self, room_id: i64, user_id: i64) -> Result<Option<RoomRole>> {
        rooms::member_role(&*self.conn()?, room_id, user_id)
    }

    fn set_member_role(
        &self,
        room_id: i64,
        user_id: i64,
        role: RoomRole,
        audit: &Audit<'_>,
    ) -> Result<Option<bool>> {
        self.write(|tx| roommod::set_member_role(tx, room_id, user_id, role, audit))
    }

    fn set_room_mute(
        &self,
        room_id: i64,
        user_id: i64,
        until: Option<&str>,
        audit: &Audit<'_>,
    ) -> Result<Option<bool>> {
        self.write(|tx| roommod::set_room_mute(tx, room_id, user_id, until, audit))
    }

    fn set_slow_mode(&self, room_id: i64, secs: i64, audit: &Audit<'_>) -> Result<bool> {
        self.write(|tx| roommod::set_slow_mode(tx, room_id, secs, audit))
    }

    fn add_member(&self, room_id: i64, user_id: i64, timestamp: &str) -> Result<bool> {
        self.write(|tx| rooms::add_member(tx, room_id, user_id, timestamp))
    }

    fn remove_member(&self, room_id: i64, user_id: i64, timestamp: &str) -> Result<bool> {
        self.write(|tx| rooms::remove_member(tx, room_id, user_id, timestamp))
    }

    fn hide_room(&self, room_id: i64, user_id: i64, timestamp: &str) -> Result<bool> {
        self.write(|tx| rooms::hide_room(tx, room_id, user_id, timestamp))
    }

    fn mark_read(&self, room_id: i64, user_id: i64, message_id: i64, timestamp: &str) -> Result<i64> {
        self.write(|tx| rooms::mark_read(tx, room_id, user_id, message_id, timestamp))
    }

    fn set_notify(&self, room_id: i64, user_id: i64, level: Notify) -> Result<bool> {
        rooms::set_notify(&*self.conn()?, room_id, user_id, level)
    }

    fn set_archived(&self, room_id: i64, archived: bool, timestamp: &str) -> Result<bool> {
        self.write(|tx| rooms::set_archived(tx, room_id, archived, timestamp))
    }

    fn set_auto_join(&self, room_ids: &[i64]) -> Result<()> {
        // Compared first: a daemon started on a read-only file with the same rooms as before
        // must not need to write.
        if rooms::auto_join_rooms(&*self.conn()?)? == super::shared::auto_join_set(room_ids) {
            return Ok(());
        }
        self.write(|tx| rooms::set_auto_join(tx, room_ids))
    }

    fn room_stats(&self) -> Result<Vec<RoomStats>> {
        rooms::room_stats(&*self.conn()?)
    }

    fn room_labels(&self) -> Result<Vec<(i64, String)>> {
        rooms::room_labels(&*self.conn()?)
    }

    fn usernames_starting(&self, prefix: &str, limit: usize) -> Result<Vec<String>> {
        rooms::usernames_starting(&*self.conn()?, prefix, limit)
    }

    fn for_each_message(
        &self,
        filter: &MessageFilter,
        f: &mut dyn FnMut(&Message) -> std::io::Result<()>,
    ) -> Result<()> {
        let conn = self.conn()?;
        let mut sql = format!("{MESSAGE_SELECT} WHERE 1 = 1");
        let mut args: Vec<rusqlite::types::Value> = Vec::new();
        if let Some(since) = &filter.since {
            args.push(since.clone().into());
            sql.push_str(&format!(" AND m.timestamp >= ?{}", args.len()));
        }
        if let Some(until) = &filter.until {
            args.push(until.clone().into());
            sql.push_str(&format!(" AND m.timestamp < ?{}", args.len()));
        }
        if let Some(after) = filter.after_id {
            args.push(after.into());
            sql.push_str(&format!(" AND m.id > ?{}", args.len()));
        }
        if let Some(rooms) = &filter.rooms {
            // Ids are integers: written into the SQL directly, never user text.
            let list = rooms.iter().map(i64::to_string).collect::<Vec<_>>().join(",");
            sql.push_str(&format!(" AND m.room_id IN ({list})"));
        }
        if filter.public_only {
            sql.push_str(" AND m.room_id IN (SELECT id FROM rooms WHERE kind = 'public')");
        }
        sql.push_str(" ORDER BY m.id");
        let mut stmt = conn.prepare(&sql)?;
        let mut rows = stmt.query(rusqlite::params_from_iter(args))?;
        while let Some(row) = rows.next()? {
            f(&message_row(row)?)?;
        }
        Ok(())
    }

    fn for_each_user(
        &self,
        filter: UserFilter,
        f: &mut dyn FnMut(&User) -> std::io::Result<()>,
    ) -> Result<()> {
        let conn = self.conn()?;
        let mut stmt = conn.prepare_cached(&user_filter_sql(filter))?;
        let mut rows = stmt.query([])?;
        while let Some(row) = rows.next()? {
            f(&user_row(row)?)?;
        }
        Ok(())
    }

    fn counts(&self, messages_since: &str) -> Result<Counts> {
        let conn = self.conn()?;
        let counts = conn.query_row(
            "SELECT (SELECT COUNT(*) FROM users), (SELECT COUNT(*) FROM users WHERE is_blocked = 1), \
             (SELECT COUNT(*) FROM messages WHERE timestamp >= ?1)",
            [messages_since],
            |r| Ok(Counts { users: r.get(0)?, blocked: r.get(1)?, messages_since: r.get(2)? }),
        )?;
        Ok(counts)
    }

    fn terms(&self) -> Result<Vec<Term>> {
        terms::all(&*self.conn()?)
    }

    fn seed_terms(&self, list: &[String], actor: &str, timestamp: &str) -> Result<bool> {
        self.write(|tx| terms::seed(tx, list, actor, timestamp))
    }

    fn add_term(&self, edit: &TermEdit<'_>) -> Result<TermAdded> {
        self.write(|tx| terms::add(tx, edit))
    }

    fn remove_term(&self, edit: &TermEdit<'_>) -> Result<Option<TermList>> {
        self.write(|tx| terms::remove(tx, edit))
    }

    fn setting_or_insert(&self, key: &str, value: &str) -> Result<String> {
        let conn = self.conn()?;
        conn.execute("INSERT OR IGNORE INTO settings (key, value) VALUES (?1, ?2)", [key, value])?;
        let stored = conn.query_row("SELECT value FROM settings WHERE key = ?1", [key], |r| r.get(0))?;
        Ok(stored)
    }

    fn presence_beat(&self, beat: &PresenceBeat<'_>) -> Result<bool> {
        presence::beat(&mut *self.conn()?, beat)
    }

    fn presence_elsewhere(&self, instance: &str, ttl_secs: i64) -> Result<Vec<Elsewhere>> {
        presence::elsewhere(&*self.conn()?, instance, ttl_secs)
    }

    fn presence_leave(&self, instance: &str) -> Result<()> {
        presence::leave(&*self.conn()?, instance)
    }

    fn account_revision(&self) -> Result<i64> {
        let conn = self.conn()?;
        let rev = conn
            .prepare_cached("SELECT revision FROM account_revision WHERE id = 1")?
            .query_row([], |r| r.get(0))?;
        Ok(rev)
    }

    fn update_limits(
        &self,
        keys: &[&str],
        now: f64,
        f: &mut dyn FnMut(&mut [Option<LimitSlot>]),
    ) -> Result<()> {
        // BEGIN IMMEDIATE takes the database's write lock first: every other writer, in this
        // process or another, waits until this read-modify-write has committed.
        self.write(|tx| {
            let mut slots = Vec::with_capacity(keys.len());
            let mut read = tx.prepare_cached(
                "SELECT tokens, refilled_at, marked_at, expires_at FROM limits WHERE key = ?1",
            )?;
            for key in keys {
                let slot = read
                    .query_row([key], |r| {
                        Ok(LimitSlot {
                            tokens: r.get(0)?,
                            at: r.get(1)?,
                            mark: r.get(2)?,
                            expires: r.get(3)?,
                        })
                    })
                    .optional()?;
                slots.push(slot.filter(|s| s.expires >= now));
            }
            f(&mut slots);
            let mut upsert = tx.prepare_cached(
                "INSERT INTO limits (key, tokens, refilled_at, marked_at, expires_at) \
                 VALUES (?1, ?2, ?3, ?4, ?5) ON CONFLICT (key) DO UPDATE SET tokens = excluded.tokens, \
                 refilled_at = excluded.refilled_at, marked_at = excluded.marked_at, \
                 expires_at = excluded.expires_at",
            )?;
            let mut delete = tx.prepare_cached("DELETE FROM limits WHERE key = ?1")?;
            for (key, slot) in keys.iter().zip(&slots) {
                match slot {
                    Some(s) => upsert.execute(params![key, s.tokens, s.at, s.mark, s.expires])?,
                    None => delete.execute([key])?,
                };
            }
            Ok(())
        })
    }

    fn purge_limits(&self, now: f64) -> Result<u64> {
        self.write(|tx| Ok(tx.execute("DELETE FROM limits WHERE expires_at < ?1", [now])? as u64))
    }
}

#[cfg(test)]
mod tests {
    use rusqlite::StatementStatus;

    use super::*;

    /// A cached statement is planned once: binding other values must not make SQLite parse and
    /// plan it again (see `open_connection`).
    #[test]
    fn a_join_on_a_parameter_is_not_prepared_again_for_each_value() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("t.db");
        SqliteStore::open_and_migrate(&path).unwrap();
        let conn = open_connection(&path, false).unwrap();
        let mut stmt = conn
            .prepare(
                "SELECT u.id FROM members m JOIN users u ON u.id = m.user_id \
                 WHERE m.room_id = ?1 AND m.user_id = ?2",
            )
            .unwrap();
        for (room, user) in [(1, 1), (2, 2), (1, 2), (3, 1), (1, 1)] {
            stmt.query_row([room, user], |_| Ok(())).optional().unwrap();
        }
        assert_eq!(stmt.get_status(StatementStatus::RePrepare), 0);
    }
}
