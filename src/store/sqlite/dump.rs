//! The reading side of `migrate-to`: every table of the installation from one read transaction,
//! so a daemon writing meanwhile is copied as of one moment (WAL keeps the snapshot readable
//! while it commits).

use rusqlite::OptionalExtension;

use super::{Pooled, SqliteStore};
use crate::store::{
    transfer::{Counters, Figures, Kind, Source, Table, Value, TABLES},
    Result,
};

/// An open read transaction on the source; rolled back (it wrote nothing) when dropped.
pub struct SqliteDump<'a> {
    conn: Pooled<'a>,
}

impl SqliteStore {
    /// Starts the snapshot `migrate-to` copies from.
    pub fn dump(&self) -> Result<SqliteDump<'_>> {
        let conn = self.conn()?;
        conn.execute_batch("BEGIN DEFERRED")?;
        let dump = SqliteDump { conn };
        // A deferred transaction takes its snapshot at its first read: now, not at the first
        // table, so every figure and row below is of the same moment.
        dump.conn.query_row("SELECT COUNT(*) FROM sqlite_master", [], |r| r.get::<_, i64>(0))?;
        Ok(dump)
    }
}

impl Drop for SqliteDump<'_> {
    fn drop(&mut self) {
        let _ = self.conn.execute_batch("ROLLBACK");
    }
}

impl Source for SqliteDump<'_> {
    fn figures(&mut self, table: &Table) -> Result<Figures> {
        let has_id = table.has_id;
        Ok(self.conn.query_row(&table.figures_sql(), [], |r| {
            Ok(Figures { rows: r.get(0)?, max_id: if has_id { r.get(1)? } else { None } })
        })?)
    }

    fn counters(&mut self) -> Result<Counters> {
        let log_next = self.conn.query_row("SELECT next FROM log_counter WHERE id = 1", [], |r| r.get(0))?;
        let account_revision =
            self.conn.query_row("SELECT revision FROM account_revision WHERE id = 1", [], |r| r.get(0))?;
        let mut id_floors = Vec::new();
        for table in TABLES.iter().filter(|t| t.identity) {
            let seq: Option<i64> = self
                .conn
                .query_row("SELECT seq FROM sqlite_sequence WHERE name = ?1", [table.name], |r| r.get(0))
                .optional()?;
            id_floors.push((table.name, seq.unwrap_or(0)));
        }
        Ok(Counters { log_next, account_revision, id_floors })
    }

    fn for_each_row(&mut self, table: &Table, f: &mut dyn FnMut(&[Value]) -> Result<()>) -> Result<()> {
        let sql = format!("SELECT {} FROM {} ORDER BY {}", table.column_list(), table.name, table.order_by);
        let mut stmt = self.conn.prepare(&sql)?;
        let mut rows = stmt.query([])?;
        let mut values = Vec::with_capacity(table.columns.len());
        while let Some(row) = rows.next()? {
            values.clear();
            for (i, (_, kind)) in table.columns.iter().enumerate() {
                values.push(match kind {
                    Kind::Int => Value::Int(row.get(i)?),
                    Kind::Text => Value::Text(row.get(i)?),
                    Kind::Bool => Value::Bool(row.get(i)?),
                    Kind::Real => Value::Real(row.get(i)?),
                });
            }
            f(&values)?;
        }
        Ok(())
    }
}
