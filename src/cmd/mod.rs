//! Operator commands, one per file. Each calls the same domain and store functions as the REST
//! handlers; none contains SQL.

pub mod backup;
pub mod generate;
pub mod make_admin;
pub mod messages_delete;
pub mod messages_export;
pub mod migrate;
pub mod migrate_to;
pub mod moderation_terms_add;
pub mod moderation_terms_list;
pub mod moderation_terms_remove;
pub mod room_add_member;
pub mod room_archive;
pub mod room_create;
pub mod room_list;
pub mod room_moderator;
pub mod room_remove_member;
pub mod serve;
pub mod service_unit;
pub mod user_block;
pub mod user_create;
pub mod user_list;
pub mod user_mute;
pub mod user_unblock;
pub mod user_unmute;

use std::{path::PathBuf, sync::Arc};

use anyhow::Context;

use crate::{
    chat::{rooms, ChatError},
    store::{migrations::MigrationState, PgStore, Room, SqliteStore, Store},
};

/// The database every command works on: a SQLite file (`--db`, the default) or a PostgreSQL
/// server (`--database-url`).
#[derive(Debug, Clone)]
pub enum Database {
    Sqlite(PathBuf),
    Postgres(String),
}

impl Database {
    /// `--database-url` / `CHATTERBOX_DATABASE_URL` if given (`cli` refuses it together with
    /// `--db`, except for `migrate-to`), else `--db` / `CHATTERBOX_DB`, else `chatterbox.db` in the platform's data folder.
    pub fn from_args(db: Option<PathBuf>, url: Option<String>) -> anyhow::Result<Database> {
        if let Some(url) = url {
            return Ok(Database::Postgres(url));
        }
        if let Some(p) = db {
            return Ok(Database::Sqlite(p));
        }
        let dirs = directories::ProjectDirs::from("", "", "chatterbox")
            .context("cannot find a home folder for the default database location; pass --db PATH")?;
        Ok(Database::Sqlite(dirs.data_dir().join("chatterbox.db")))
    }
}

impl std::fmt::Display for Database {
    /// The file, or the server and database name: never a URL's password.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Database::Sqlite(path) => write!(f, "{}", path.display()),
            Database::Postgres(url) => match url.parse::<postgres::Config>() {
                Ok(config) => {
                    let db = config.get_dbname().or(config.get_user()).unwrap_or("postgres");
                    write!(f, "PostgreSQL database {db}")
                }
                Err(_) => write!(f, "the PostgreSQL database"),
            },
        }
    }
}

/// Opens a database that must already exist with an up-to-date schema.
pub fn open_store(db: &Database) -> anyhow::Result<Arc<dyn Store>> {
    Ok(match db {
        Database::Sqlite(path) => Arc::new(SqliteStore::open_existing(path)?),
        Database::Postgres(url) => Arc::new(PgStore::open_existing(url)?),
    })
}

/// Opens the database, creating it (SQLite) and applying pending migrations; returns the
/// migrations applied now.
pub fn open_and_migrate(db: &Database) -> anyhow::Result<(Arc<dyn Store>, Vec<MigrationState>)> {
    Ok(match db {
        Database::Sqlite(path) => {
            let (store, applied) = SqliteStore::open_and_migrate(path)?;
            (Arc::new(store), applied)
        }
        Database::Postgres(url) => {
            let (store, applied) = PgStore::open_and_migrate(url)?;
            (Arc::new(store), applied)
        }
    })
}

/// Known and applied migrations, changing nothing.
pub fn migration_status(db: &Database) -> anyhow::Result<Vec<MigrationState>> {
    Ok(match db {
        Database::Sqlite(path) => SqliteStore::migration_status(path)?,
        Database::Postgres(url) => PgStore::migration_status(url)?,
    })
}

pub use crate::chat::accounts::CLI_ACTOR;

/// A public or private room by name (case-insensitive), or an error naming it.
pub fn find_room(store: &dyn Store, name: &str) -> anyhow::Result<Room> {
    match rooms::room_by_name(store, name) {
        Err(ChatError::RoomNotFound) => {
            anyhow::bail!("no room named {name:?} (see `chatterbox room list`)")
        }
        other => Ok(other?),
    }
}

/// The table of a `list` command, for people at a terminal (cells are escaped by the caller).
pub fn table<const N: usize>(header: [&str; N]) -> comfy_table::Table {
    let mut table = comfy_table::Table::new();
    table
        .load_preset(comfy_table::presets::UTF8_FULL_CONDENSED)
        .set_content_arrangement(comfy_table::ContentArrangement::Dynamic)
        .set_header(header);
    table
}

/// `--format json` of a `list` command: pretty JSON, with what would act on a terminal escaped.
pub fn write_json(out: &mut impl std::io::Write, value: &impl serde::Serialize) -> anyhow::Result<()> {
    writeln!(out, "{}", json_escape_controls(&serde_json::to_string_pretty(value)?))?;
    Ok(())
}

/// JSON text with the characters that act on a terminal written as `\uXXXX`: the same JSON
/// values, safe to show. serde_json already escapes C0 controls; outside strings JSON has none.
fn json_escape_controls(json: &str) -> String {
    let mut out = String::with_capacity(json.len());
    for c in json.chars() {
        if crate::chat::export::acts_on_terminal(c) {
            out.push_str(&format!("\\u{:04x}", u32::from(c)));
        } else {
            out.push(c);
        }
    }
    out
}
