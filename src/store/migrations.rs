//! Schema migrations: the SQL files of `sql/sqlite/` and `sql/postgres/`, embedded at build time
//! and applied with refinery. Both folders hold the same versions with the same names.
//!
//! Before touching a database we compare what it has applied with what this binary knows: a
//! database written by a newer chatterbox is refused untouched, because running older code on a
//! newer schema is how data gets silently damaged.

use rusqlite::Connection;

use super::{Result, StoreError};

mod sqlite_embedded {
    refinery::embed_migrations!("sql/sqlite");
}

mod postgres_embedded {
    refinery::embed_migrations!("sql/postgres");
}

/// A database refinery can migrate, with its own migrations.
pub trait Target: refinery::Migrate {
    fn runner() -> refinery::Runner;
    /// Whether refinery's history table exists (read without creating it).
    fn has_history(&mut self) -> Result<bool>;
}

impl Target for Connection {
    fn runner() -> refinery::Runner {
        sqlite_embedded::migrations::runner()
    }

    fn has_history(&mut self) -> Result<bool> {
        self.query_row(
            "SELECT EXISTS (SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = 'refinery_schema_history')",
            [],
            |r| r.get(0),
        )
        .map_err(StoreError::from)
    }
}

impl Target for postgres::Client {
    fn runner() -> refinery::Runner {
        postgres_embedded::migrations::runner()
    }

    fn has_history(&mut self) -> Result<bool> {
        let row = self
            .query_one("SELECT to_regclass('refinery_schema_history') IS NOT NULL", &[])
            .map_err(StoreError::from)?;
        Ok(row.get(0))
    }
}

/// One migration and whether the database has it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MigrationState {
    pub version: i64,
    pub name: String,
    /// RFC 3339 time it was applied, or None while pending.
    pub applied_on: Option<String>,
    /// False for a migration the database has but this binary does not know (a newer version's).
    pub known: bool,
}

impl MigrationState {
    pub fn label(&self) -> String {
        format!("V{}__{}", self.version, self.name)
    }
}

fn runner<C: Target>() -> refinery::Runner {
    C::runner().set_abort_divergent(true)
}

fn known<C: Target>() -> Vec<(i64, String)> {
    runner::<C>().get_migrations().iter().map(|m| (i64::from(m.version()), m.name().to_string())).collect()
}

fn applied<C: Target>(conn: &mut C) -> Result<Vec<refinery::Migration>> {
    // refinery creates its history table on first query; on a read-only check of a database
    // that was never migrated, treat "no table" as "nothing applied" without writing.
    if !conn.has_history()? {
        return Ok(Vec::new());
    }
    runner::<C>()
        .get_applied_migrations(conn)
        .map_err(|e| StoreError::Schema(format!("cannot read the migration history: {e}")))
}

/// Lists every known and every applied migration, without changing anything.
pub fn status<C: Target>(conn: &mut C) -> Result<Vec<MigrationState>> {
    let applied = applied(conn)?;
    let mut out: Vec<MigrationState> = known::<C>()
        .into_iter()
        .map(|(version, name)| {
            let applied_on = applied
                .iter()
                .find(|m| i64::from(m.version()) == version)
                .and_then(|m| m.applied_on())
                .map(|t| crate::timefmt::format(*t));
            MigrationState { version, name, applied_on, known: true }
        })
        .collect();
    for m in &applied {
        let v = i64::from(m.version());
        if !out.iter().any(|s| s.version == v) {
            out.push(MigrationState {
                version: v,
                name: m.name().to_string(),
                applied_on: m.applied_on().map(|t| crate::timefmt::format(*t)),
                known: false,
            });
        }
    }
    out.sort_by_key(|m| m.version);
    Ok(out)
}

/// Refuses a database that has migrations this binary does not know.
pub fn check_not_newer<C: Target>(conn: &mut C) -> Result<()> {
    let known = known::<C>();
    let newest_known = known.iter().map(|(v, _)| *v).max().unwrap_or(0);
    let unknown: Vec<String> = applied(conn)?
        .iter()
        .filter(|m| !known.iter().any(|(v, _)| *v == i64::from(m.version())))
        .map(|m| format!("V{}__{}", m.version(), m.name()))
        .collect();
    if unknown.is_empty() {
        Ok(())
    } else {
        Err(StoreError::Schema(format!(
            "this database was written by a newer chatterbox (it has migration {}; this binary knows up to V{}); \
             upgrade chatterbox, the database was not modified",
            unknown.join(", "),
            newest_known
        )))
    }
}

/// Migrations known to this binary and not yet applied.
pub fn pending<C: Target>(conn: &mut C) -> Result<Vec<MigrationState>> {
    Ok(status(conn)?.into_iter().filter(|m| m.applied_on.is_none()).collect())
}

/// Applies pending migrations; returns the ones applied now (empty when up to date).
pub fn apply<C: Target>(conn: &mut C) -> Result<Vec<MigrationState>> {
    check_not_newer(conn)?;
    let report = runner::<C>()
        .run(conn)
        .map_err(|e| StoreError::Schema(format!("migration failed, nothing was changed: {e}")))?;
    Ok(report
        .applied_migrations()
        .iter()
        .map(|m| MigrationState {
            version: i64::from(m.version()),
            name: m.name().to_string(),
            applied_on: Some(crate::timefmt::now()),
            known: true,
        })
        .collect())
}
