//! Moving a whole installation from SQLite to PostgreSQL (`chatterbox migrate-to`): which tables
//! make an installation, in an order that satisfies PostgreSQL's foreign keys, with their
//! columns' types. The reading side is `SqliteStore::dump` (`sqlite/dump.rs`: one read
//! transaction, so a running daemon's later writes are not half copied), the writing side
//! `PgStore::load` (`postgres/load.rs`: one transaction, rows streamed with COPY, so memory stays
//! bounded however long the history is).
//!
//! Every table of `sql/sqlite/` is accounted for: the ones below are copied row by row, ids and
//! log positions kept; `log_counter` and `account_revision` (one row each) are set from the
//! source's `Counters`; `sqlite_sequence` (AUTOINCREMENT's high-water marks) becomes the floor
//! of the PostgreSQL identity sequences, so an id is never handed out twice even where SQLite
//! had deleted the newest rows. Not copied: `refinery_schema_history` (the target has its own,
//! written by its migrations), and `instances` and `presence` (V4: the heartbeats of running
//! daemons and who is online on each, which every daemon writes afresh when it starts; a copied
//! row would only show people online until the first sweep), and `limits` (V5: login and
//! registration budgets, which refill within the hour anyway; a moved installation starts with
//! full ones), and `messages_fts` with its FTS5 shadow tables (V7: the search index, derived from
//! `messages`; PostgreSQL's trigram index is built from the copied rows as they arrive).

use super::{PgStore, Result, SqliteStore, StoreError};

/// A column's type, as both backends store it (SQLite's 0/1 integers are PostgreSQL booleans).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    Int,
    Text,
    Bool,
    Real,
}

/// A table copied row by row.
#[derive(Debug)]
pub struct Table {
    pub name: &'static str,
    pub columns: &'static [(&'static str, Kind)],
    /// The primary key, for reading in a stable order.
    pub order_by: &'static str,
    /// The `id` column of tables that have one: its highest value is verified, and for
    /// `identity` tables the target's sequence is moved past it.
    pub has_id: bool,
    /// PostgreSQL hands out its ids from an identity sequence (messages take theirs from the
    /// log counter instead).
    pub identity: bool,
}

impl Table {
    /// The column names, comma-separated.
    pub fn column_list(&self) -> String {
        self.columns.iter().map(|(c, _)| *c).collect::<Vec<_>>().join(", ")
    }

    /// Rows and highest id, in SQL both backends understand.
    pub fn figures_sql(&self) -> String {
        if self.has_id {
            format!("SELECT COUNT(*), MAX(id) FROM {}", self.name)
        } else {
            format!("SELECT COUNT(*) FROM {}", self.name)
        }
    }
}

use Kind::{Bool, Int, Real, Text};

/// Parents before children: PostgreSQL checks every foreign key as each row arrives.
pub const TABLES: &[Table] = &[
    Table {
        name: "users",
        columns: &[
            ("id", Int),
            ("username", Text),
            ("email", Text),
            ("password_hash", Text),
            ("is_admin", Bool),
            ("is_blocked", Bool),
            ("warning_count", Int),
            ("created_at", Text),
            ("name_key", Text),
            ("email_key", Text),
            ("muted_until", Text),
            ("strikes_since", Text),
        ],
        order_by: "id",
        has_id: true,
        identity: true,
    },
    Table {
        name: "rooms",
        columns: &[
            ("id", Int),
            ("kind", Text),
            ("name", Text),
            ("name_key", Text),
            ("topic", Text),
            ("dm_key", Text),
            ("created_by", Int),
            ("created_at", Text),
            ("archived", Bool),
            ("auto_join", Bool),
            ("slow_mode_secs", Int),
        ],
        order_by: "id",
        has_id: true,
        identity: true,
    },
    Table {
        name: "members",
        columns: &[
            ("room_id", Int),
            ("user_id", Int),
            ("joined_at", Text),
            ("last_read_id", Int),
            ("notify", Text),
            ("hidden", Bool),
            ("role", Text),
            ("muted_until", Text),
        ],
        order_by: "room_id, user_id",
        has_id: false,
        identity: false,
    },
    Table {
        name: "messages",
        columns: &[
            ("id", Int),
            ("sender_id", Int),
            ("content", Text),
            ("timestamp", Text),
            ("room_id", Int),
            ("mentions", Text),
            ("edited_at", Text),
            ("deleted_at", Text),
            ("reply_to", Int),
        ],
        order_by: "id",
        has_id: true,
        identity: false,
    },
    Table {
        name: "reactions",
        columns: &[
            ("message_id", Int),
            ("emoji", Text),
            ("user_id", Int),
            ("created_at", Text),
            ("seq", Int),
        ],
        order_by: "message_id, emoji, user_id",
        has_id: false,
        identity: false,
    },
    Table {
        name: "deletions",
        columns: &[
            ("id", Int),
            ("message_id", Int),
            ("room_id", Int),
            ("sender_id", Int),
            ("actor_id", Int),
            ("actor", Text),
            ("reason", Text),
            ("timestamp", Text),
        ],
        order_by: "id",
        has_id: true,
        identity: true,
    },
    Table {
        name: "mentions",
        columns: &[("user_id", Int), ("room_id", Int), ("message_id", Int)],
        order_by: "user_id, room_id, message_id",
        has_id: false,
        identity: false,
    },
    Table {
        name: "changes",
        columns: &[
            ("seq", Int),
            ("kind", Text),
            ("room_id", Int),
            ("user_id", Int),
            ("value", Int),
            ("timestamp", Text),
        ],
        order_by: "seq",
        has_id: false,
        identity: false,
    },
    Table {
        name: "violations",
        columns: &[
            ("id", Int),
            ("user_id", Int),
            ("action", Text),
            ("text", Text),
            ("term", Text),
            ("reason", Text),
            ("actor", Text),
            ("timestamp", Text),
            ("strike", Bool),
            ("room_id", Int),
            ("message_id", Int),
            ("until", Text),
            ("actor_id", Int),
        ],
        order_by: "id",
        has_id: true,
        identity: true,
    },
    Table {
        name: "reports",
        columns: &[
            ("id", Int),
            ("message_id", Int),
            ("room_id", Int),
            ("sender_id", Int),
            ("reporter_id", Int),
            ("source", Text),
            ("reason", Text),
            ("text", Text),
            ("score", Real),
            ("status", Text),
            ("note", Text),
            ("handled_by", Text),
            ("handled_by_id", Int),
            ("handled_at", Text),
            ("created_at", Text),
        ],
        order_by: "id",
        has_id: true,
        identity: true,
    },
    Table {
        name: "appeals",
        columns: &[
            ("id", Int),
            ("user_id", Int),
            ("block_id", Int),
            ("text", Text),
            ("created_at", Text),
            ("status", Text),
            ("answer", Text),
            ("answered_by", Text),
            ("answered_at", Text),
            ("answer_seen", Bool),
        ],
        order_by: "id",
        has_id: true,
        identity: true,
    },
    Table {
        name: "moderation_terms",
        columns: &[("term", Text), ("list", Text), ("added_by", Text), ("added_at", Text)],
        order_by: "term",
        has_id: false,
        identity: false,
    },
    Table {
        name: "settings",
        columns: &[("key", Text), ("value", Text)],
        order_by: "key",
        has_id: false,
        identity: false,
    },
];

/// One cell on its way from one backend to the other.
#[derive(Debug, Clone, PartialEq)]
pub enum Value {
    Int(Option<i64>),
    Text(Option<String>),
    Bool(bool),
    Real(Option<f64>),
}

/// A table's size, to compare the copy with its source.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
pub struct Figures {
    pub rows: i64,
    /// The highest id (None for tables without one, and for empty ones).
    pub max_id: Option<i64>,
}

/// The source's one-row tables and AUTOINCREMENT marks.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Counters {
    /// The log position the next entry takes (`log_counter.next`).
    pub log_next: i64,
    pub account_revision: i64,
    /// For each `identity` table: the highest id ever handed out, deleted rows included.
    pub id_floors: Vec<(&'static str, i64)>,
}

/// Where `PgStore::load` reads from: one consistent snapshot of the source.
pub trait Source {
    fn figures(&mut self, table: &Table) -> Result<Figures>;
    fn counters(&mut self) -> Result<Counters>;
    /// Calls `f` with every row of `table`, in `order_by` order, one at a time.
    fn for_each_row(&mut self, table: &Table, f: &mut dyn FnMut(&[Value]) -> Result<()>) -> Result<()>;
}

#[derive(Debug, thiserror::Error)]
pub enum TransferError {
    #[error(
        "the target database is not empty ({0}); migrate-to copies into a new database only, \
         nothing was written"
    )]
    NotEmpty(String),
    #[error(transparent)]
    Store(#[from] StoreError),
}

/// Source and target sizes of one table, read after the commit.
#[derive(Debug, Clone, serde::Serialize)]
pub struct TableReport {
    pub table: &'static str,
    pub source: Figures,
    pub target: Figures,
}

#[derive(Debug, Clone, serde::Serialize)]
pub struct Report {
    pub tables: Vec<TableReport>,
    pub source_log_next: i64,
    pub target_log_next: i64,
}

impl Report {
    /// The tables (and counters) whose copy differs from the source, described.
    pub fn mismatches(&self) -> Vec<String> {
        let mut out: Vec<String> = self
            .tables
            .iter()
            .filter(|t| t.source != t.target)
            .map(|t| format!("{}: {:?} in SQLite, {:?} in PostgreSQL", t.table, t.source, t.target))
            .collect();
        if self.source_log_next != self.target_log_next {
            out.push(format!(
                "next log position: {} in SQLite, {} in PostgreSQL",
                self.source_log_next, self.target_log_next
            ));
        }
        out
    }
}

/// Copies everything of `source` into the empty `target` (schema already migrated) in one
/// PostgreSQL transaction, then reads both sides' figures again to verify. `progress` hears
/// (table, rows so far, whether the table is done) at every table's start, now and then while
/// it streams, and at its end.
pub fn sqlite_to_postgres(
    source: &SqliteStore,
    target: &PgStore,
    progress: &mut dyn FnMut(&str, u64, bool),
) -> std::result::Result<Report, TransferError> {
    let mut dump = source.dump()?;
    let mut figures = Vec::with_capacity(TABLES.len());
    for table in TABLES {
        figures.push(dump.figures(table)?);
    }
    let source_log_next = dump.counters()?.log_next;
    target.load(&mut dump, progress)?;
    drop(dump);
    let mut tables = Vec::with_capacity(TABLES.len());
    for (table, source) in TABLES.iter().zip(figures) {
        tables.push(TableReport { table: table.name, source, target: target.figures(table)? });
    }
    let target_log_next = super::Store::log_next(target)?;
    Ok(Report { tables, source_log_next, target_log_next })
}
