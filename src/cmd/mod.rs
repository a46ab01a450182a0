//! Operator commands, one per file. Each calls the same domain and store functions as the REST
//! handlers; none contains SQL.

pub mod generate;
pub mod make_admin;
pub mod messages_export;
pub mod migrate;
pub mod serve;
pub mod user_block;
pub mod user_create;
pub mod user_list;
pub mod user_unblock;

use std::path::{Path, PathBuf};

use anyhow::Context;

use crate::store::SqliteStore;

/// `--db` / `CHATTERBOX_DB`, else `chatterbox.db` in the platform's data folder.
pub fn database_path(given: Option<PathBuf>) -> anyhow::Result<PathBuf> {
    if let Some(p) = given {
        return Ok(p);
    }
    let dirs = directories::ProjectDirs::from("", "", "chatterbox")
        .context("cannot find a home folder for the default database location; pass --db PATH")?;
    Ok(dirs.data_dir().join("chatterbox.db"))
}

/// Opens a database that must already exist with an up-to-date schema.
pub fn open(db: &Path) -> anyhow::Result<SqliteStore> {
    Ok(SqliteStore::open_existing(db)?)
}

/// The actor recorded in the audit log for operator commands.
pub const CLI_ACTOR: &str = "cli";
