//! `chatterbox user list [--blocked] [--admins] [--format table|csv|json]`: list accounts,
//! never with password hashes. The table is for people: control characters in it are always
//! escaped; CSV keeps the exact text unless it goes to a terminal; JSON escapes them its own way.

use std::io::{IsTerminal, Write};

use comfy_table::{Cell, CellAlignment};

use crate::{
    chat::export::{self, escape_controls, CellStyle},
    cli::{ListFormat, UserListArgs},
    store::UserFilter,
};

pub fn run(db: &super::Database, args: &UserListArgs) -> anyhow::Result<()> {
    let store = super::open_store(db)?;
    let filter = UserFilter { blocked_only: args.blocked, admins_only: args.admins };
    let mut out = std::io::BufWriter::new(std::io::stdout().lock());
    match args.format {
        ListFormat::Csv => {
            let terminal = std::io::stdout().is_terminal();
            export::write_users(&*store, filter, &mut out, CellStyle { raw: false, terminal })?;
        }
        ListFormat::Json => {
            let users = store.list_users(filter)?;
            super::write_json(&mut out, &users)?;
        }
        ListFormat::Table => {
            let users = store.list_users(filter)?;
            let mut table =
                super::table(["ID", "Username", "E-mail", "Role", "Blocked", "Warnings", "Created"]);
            for u in &users {
                table.add_row([
                    Cell::new(u.id).set_alignment(CellAlignment::Right),
                    Cell::new(escape_controls(&u.username)),
                    Cell::new(escape_controls(&u.email)),
                    Cell::new(if u.is_admin { "admin" } else { "user" }),
                    Cell::new(if u.is_blocked { "yes" } else { "no" }),
                    Cell::new(u.warning_count).set_alignment(CellAlignment::Right),
                    Cell::new(escape_controls(&u.created_at)),
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
