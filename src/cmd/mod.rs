//! Operator commands, one per file. Each calls the same domain and store functions as the REST
//! handlers; none contains SQL.

pub mod generate;
pub mod make_admin;
pub mod messages_export;
pub mod migrate;
pub mod room_add_member;
pub mod room_archive;
pub mod room_create;
pub mod room_list;
pub mod room_remove_member;
pub mod serve;
pub mod user_block;
pub mod user_create;
pub mod user_list;
pub mod user_unblock;

use std::path::{Path, PathBuf};

use anyhow::Context;

use crate::{
    chat::{rooms, ChatError},
    store::{Room, SqliteStore, Store},
};

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
