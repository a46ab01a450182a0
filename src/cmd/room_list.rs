//! `chatterbox room list [--format table|csv|json]`: public and private rooms (DMs are their
//! people's business) with their members and activity, by name. Text is shown to a terminal as
//! `user list` shows it: the table always escaped, CSV exact unless it goes to a terminal, JSON
//! with `\u` escapes; JSON objects are those of `GET /admin/rooms`.

use std::io::{IsTerminal, Write};

use comfy_table::{Cell, CellAlignment};

use crate::{
    chat::export::{self, escape_controls, CellStyle},
    cli::{ListFormat, RoomListArgs},
    http::AdminRoom,
};

pub fn run(db: &super::Database, args: &RoomListArgs) -> anyhow::Result<()> {
    let store = super::open_store(db)?;
    let rooms = store.room_stats()?;
    let mut out = std::io::BufWriter::new(std::io::stdout().lock());
    match args.format {
        ListFormat::Csv => {
            let terminal = std::io::stdout().is_terminal();
            export::write_rooms(&rooms, &mut out, CellStyle { raw: false, terminal })?;
        }
        ListFormat::Json => {
            let rooms: Vec<AdminRoom> = rooms.into_iter().map(AdminRoom::from).collect();
            super::write_json(&mut out, &rooms)?;
        }
        ListFormat::Table => {
            let mut table =
                super::table(["ID", "Name", "Kind", "Members", "Messages", "Last activity", "Archived"]);
            for r in &rooms {
                table.add_row([
                    Cell::new(r.room.id).set_alignment(CellAlignment::Right),
                    Cell::new(escape_controls(r.room.name.as_deref().unwrap_or_default())),
                    Cell::new(r.room.kind.as_str()),
                    Cell::new(r.room.members).set_alignment(CellAlignment::Right),
                    Cell::new(r.messages).set_alignment(CellAlignment::Right),
                    Cell::new(r.last_activity.as_deref().unwrap_or("-")),
                    Cell::new(if r.room.archived { "yes" } else { "no" }),
                ]);
            }
            writeln!(out, "{table}")?;
        }
    }
    out.flush()?;
    Ok(())
}
