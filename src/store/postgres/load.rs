//! The writing side of `migrate-to`: an installation copied into an empty database in one
//! transaction (all or nothing), each table streamed with binary COPY, so a long history is
//! never held in memory.

use postgres::{
    binary_copy::BinaryCopyInWriter,
    types::{ToSql, Type},
    GenericClient,
};

use super::PgStore;
use crate::store::{
    transfer::{Figures, Kind, Source, Table, TransferError, Value, TABLES},
    Result,
};

/// How often (in rows) a long table reports its progress.
const PROGRESS_EVERY: u64 = 100_000;

/// Every table the copy writes, locked for its whole transaction: a daemon started on the target
/// meanwhile waits instead of writing between the emptiness check and the copy.
const LOCKED: &str = "users, rooms, members, messages, mentions, changes, violations, settings, \
                      log_counter, account_revision, reactions, deletions, reports, appeals, \
                      moderation_terms";

impl Value {
    fn as_sql(&self) -> &(dyn ToSql + Sync) {
        match self {
            Value::Int(v) => v,
            Value::Text(v) => v,
            Value::Bool(v) => v,
            Value::Real(v) => v,
        }
    }
}

impl From<postgres::Error> for TransferError {
    fn from(e: postgres::Error) -> Self {
        TransferError::Store(e.into())
    }
}

fn pg_type(kind: Kind) -> Type {
    match kind {
        Kind::Int => Type::INT8,
        Kind::Text => Type::TEXT,
        Kind::Bool => Type::BOOL,
        Kind::Real => Type::FLOAT8,
    }
}

/// What the target holds besides what its migrations created (`general`, the counters), e.g.
/// `["users: 2", "settings: 1"]`.
fn user_data(c: &mut impl GenericClient) -> Result<Vec<String>> {
    let mut found = Vec::new();
    for table in TABLES {
        let sql = match table.name {
            // The migrations create `general` (id 1).
            "rooms" => "SELECT COUNT(*) FROM rooms WHERE id <> 1".to_string(),
            name => format!("SELECT COUNT(*) FROM {name}"),
        };
        let n: i64 = c.query_one(&sql, &[])?.get(0);
        if n > 0 {
            found.push(format!("{}: {n}", table.name));
        }
    }
    let next: i64 = c.query_one("SELECT next FROM log_counter WHERE id = 1", &[])?.get(0);
    if next != 1 && found.is_empty() {
        found.push(format!("next log position: {next}"));
    }
    Ok(found)
}

impl PgStore {
    /// Copies everything `source` holds into this database, which must hold no user data (its
    /// schema up to date), and commits; a non-empty database is refused with nothing written.
    pub fn load(
        &self,
        source: &mut dyn Source,
        progress: &mut dyn FnMut(&str, u64, bool),
    ) -> std::result::Result<(), TransferError> {
        let mut conn = self.conn()?;
        let mut tx = conn.transaction()?;
        tx.batch_execute(&format!("LOCK TABLE {LOCKED} IN EXCLUSIVE MODE"))?;
        let found = user_data(&mut tx)?;
        if !found.is_empty() {
            return Err(TransferError::NotEmpty(found.join(", ")));
        }
        // The source has its own `general` (id 1), with its own creation time and settings.
        tx.execute("DELETE FROM rooms", &[])?;
        for table in TABLES {
            progress(table.name, 0, false);
            let rows = copy_table(&mut tx, source, table, progress)?;
            progress(table.name, rows, true);
        }
        let counters = source.counters()?;
        tx.execute("UPDATE log_counter SET next = $1 WHERE id = 1", &[&counters.log_next])?;
        // After the users' inserts, which each bumped it here through the trigger.
        tx.execute("UPDATE account_revision SET revision = $1 WHERE id = 1", &[&counters.account_revision])?;
        for (table, floor) in &counters.id_floors {
            let max: i64 = tx.query_one(&format!("SELECT COALESCE(MAX(id), 0) FROM {table}"), &[])?.get(0);
            let high = max.max(*floor);
            // setval(seq, n, true): the next id is n + 1; an empty table starts at 1.
            tx.query_one(
                "SELECT setval(pg_get_serial_sequence($1, 'id'), $2, $3)",
                &[table, &high.max(1), &(high >= 1)],
            )?;
        }
        tx.commit()?;
        Ok(())
    }

    /// A table's rows and highest id, as committed.
    pub fn figures(&self, table: &Table) -> Result<Figures> {
        let row = self.conn()?.query_one(&table.figures_sql(), &[])?;
        Ok(Figures { rows: row.get(0), max_id: if table.has_id { row.get(1) } else { None } })
    }
}

/// Streams one table from `source` into `tx`; returns the rows written.
fn copy_table(
    tx: &mut postgres::Transaction<'_>,
    source: &mut dyn Source,
    table: &Table,
    progress: &mut dyn FnMut(&str, u64, bool),
) -> Result<u64> {
    let types: Vec<Type> = table.columns.iter().map(|(_, kind)| pg_type(*kind)).collect();
    let sink =
        tx.copy_in(&format!("COPY {} ({}) FROM STDIN (FORMAT binary)", table.name, table.column_list()))?;
    let mut writer = BinaryCopyInWriter::new(sink, &types);
    let mut rows = 0u64;
    source.for_each_row(table, &mut |values| {
        writer.write_raw(values.iter().map(Value::as_sql))?;
        rows += 1;
        if rows.is_multiple_of(PROGRESS_EVERY) {
            progress(table.name, rows, false);
        }
        Ok(())
    })?;
    Ok(writer.finish()?)
}
