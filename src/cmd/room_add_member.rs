//! `chatterbox room add-member ROOM USER`: add an account to a private room, as an admin would;
//! a running daemon gives the account's open chats the room within a second.

use std::io::Write;

use crate::{
    chat::{
        export::escape_controls,
        rooms::{self, Actor},
    },
    cli::RoomMemberArgs,
};

pub fn run(db: &super::Database, args: &RoomMemberArgs) -> anyhow::Result<()> {
    let store = super::open_store(db)?;
    let room = super::find_room(&*store, &args.room)?;
    let (user, added) = rooms::add_member(&*store, Actor::Operator, room.id, &args.user)?;
    let name = escape_controls(room.name.as_deref().unwrap_or_default());
    let msg = if added {
        format!("added {} to {name}", user.username)
    } else {
        format!("{} was already a member of {name}; nothing changed", user.username)
    };
    writeln!(std::io::stdout().lock(), "{msg}")?;
    Ok(())
}
