//! `chatterbox room remove-member ROOM USER`: remove an account from a private room, as an admin
//! would; a running daemon stops sending the room to the account's open chats within a second.

use std::io::Write;

use crate::{
    chat::{
        export::escape_controls,
        rooms::{self, Actor},
        ChatError,
    },
    cli::RoomMemberArgs,
};

pub fn run(db: &super::Database, args: &RoomMemberArgs) -> anyhow::Result<()> {
    let store = super::open_store(db)?;
    let room = super::find_room(&*store, &args.room)?;
    let name = escape_controls(room.name.as_deref().unwrap_or_default());
    let msg = match rooms::remove_member(&*store, Actor::Operator, room.id, &args.user) {
        Ok(user) => format!("removed {} from {name}", user.username),
        // The domain answers an account that is not in the room like an unknown one, so a REST
        // caller learns nothing more; the operator, who may list both, is told which it is.
        Err(ChatError::UnknownUser(_)) => match store.user_by_username(args.user.trim())? {
            Some(user) => format!("{} was not a member of {name}; nothing changed", user.username),
            None => return Err(ChatError::UnknownUser(args.user.clone()).into()),
        },
        Err(e) => return Err(e.into()),
    };
    writeln!(std::io::stdout().lock(), "{msg}")?;
    Ok(())
}
