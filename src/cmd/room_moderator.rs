//! `chatterbox room moderator ROOM USER [--remove]`: name a member moderator of a room, or unname
//! them, as an admin would (audited with the actor `cli`); a running daemon tells the room's
//! members within a second.

use std::io::Write;

use crate::{
    chat::{export::escape_controls, roommod, rooms::Actor},
    cli::RoomModeratorArgs,
};

pub fn run(db: &super::Database, args: &RoomModeratorArgs) -> anyhow::Result<()> {
    let store = super::open_store(db)?;
    let room = super::find_room(&*store, &args.room)?;
    let name = escape_controls(room.name.as_deref().unwrap_or_default());
    let (user, changed) =
        roommod::set_moderator(&*store, Actor::Operator, room.id, &args.user, !args.remove)?;
    let msg = match (changed, args.remove) {
        (true, false) => format!("{} now moderates {name}", user.username),
        (true, true) => format!("{} no longer moderates {name}", user.username),
        (false, false) => format!("{} already moderated {name}; nothing changed", user.username),
        (false, true) => format!("{} did not moderate {name}; nothing changed", user.username),
    };
    writeln!(std::io::stdout().lock(), "{msg}")?;
    Ok(())
}
