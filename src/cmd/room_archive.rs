//! `chatterbox room archive NAME [--undo]`: archive a room (its members still read it, nobody can
//! post), or open it again. A running daemon tells the members' open chats within a second.

use std::io::Write;

use crate::{
    chat::{export::escape_controls, rooms},
    cli::RoomArchiveArgs,
};

pub fn run(db: &super::Database, args: &RoomArchiveArgs) -> anyhow::Result<()> {
    let store = super::open_store(db)?;
    let room = super::find_room(&*store, &args.name)?;
    let (room, changed) = rooms::set_archived(&*store, room.id, !args.undo)?;
    let name = escape_controls(room.name.as_deref().unwrap_or_default());
    let msg = match (args.undo, changed) {
        (false, true) => format!("archived {name}"),
        (false, false) => format!("{name} was already archived; nothing changed"),
        (true, true) => format!("{name} is open again"),
        (true, false) => format!("{name} was not archived; nothing changed"),
    };
    writeln!(std::io::stdout().lock(), "{msg}")?;
    Ok(())
}
