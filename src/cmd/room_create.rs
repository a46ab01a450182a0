//! `chatterbox room create NAME [--private] [--topic TEXT]`: create a room as the operator, with
//! no creator and so no member: people join a public room themselves, and a private one gets its
//! first people from `room add-member`.

use std::io::Write;

use anyhow::Context;

use crate::{
    chat::{export::escape_controls, rooms},
    cli::RoomCreateArgs,
    store::RoomKind,
};

pub fn run(db: &super::Database, args: &RoomCreateArgs) -> anyhow::Result<()> {
    let store = super::open_store(db)?;
    let kind = if args.private { RoomKind::Private } else { RoomKind::Public };
    let room = rooms::create_room(&*store, None, &args.name, args.topic.as_deref(), kind)
        .with_context(|| format!("cannot create room {:?}", args.name))?;
    let name = room.name.as_deref().unwrap_or_default();
    writeln!(
        std::io::stdout().lock(),
        "created {} room {} (id {})",
        kind.as_str(),
        escape_controls(name),
        room.id
    )?;
    Ok(())
}
