//! `chatterbox user list [--blocked] [--admins] [--format table|csv|json]`: list accounts,
//! never with password hashes.

use std::{io::Write, path::Path};

use comfy_table::{presets::UTF8_FULL_CONDENSED, Cell, CellAlignment, ContentArrangement, Table};

use crate::{
    chat::export,
    cli::{ListFormat, UserListArgs},
    store::{Store, UserFilter},
};

pub fn run(db: &Path, args: &UserListArgs) -> anyhow::Result<()> {
    let store = super::open(db)?;
    let filter = UserFilter { blocked_only: args.blocked, admins_only: args.admins };
    let mut out = std::io::BufWriter::new(std::io::stdout().lock());
    match args.format {
        ListFormat::Csv => {
            export::write_users(&store, filter, &mut out, false)?;
        }
        ListFormat::Json => {
            let users = store.list_users(filter)?;
            serde_json::to_writer_pretty(&mut out, &users)?;
            writeln!(out)?;
        }
        ListFormat::Table => {
            let users = store.list_users(filter)?;
            let mut table = Table::new();
            table
                .load_preset(UTF8_FULL_CONDENSED)
                .set_content_arrangement(ContentArrangement::Dynamic)
                .set_header(["ID", "Username", "E-mail", "Role", "Blocked", "Warnings", "Created"]);
            for u in &users {
                table.add_row([
                    Cell::new(u.id).set_alignment(CellAlignment::Right),
                    Cell::new(&u.username),
                    Cell::new(&u.email),
                    Cell::new(if u.is_admin { "admin" } else { "user" }),
                    Cell::new(if u.is_blocked { "yes" } else { "no" }),
                    Cell::new(u.warning_count).set_alignment(CellAlignment::Right),
                    Cell::new(&u.created_at),
                ]);
            }
            writeln!(out, "{table}")?;
            if users.is_empty() {
                eprintln!("no matching users");
            }
        }
    }
    out.flush()?;
    Ok(())
}
