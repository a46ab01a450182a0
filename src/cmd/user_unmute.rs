//! `chatterbox user unmute USERNAME [--reason TEXT]`: lift an account's mute; a running daemon
//! tells its connections within a second or so.

use std::io::Write;

use crate::{
    chat::{accounts, rooms::Actor, standing},
    cli::UserUnmuteArgs,
};

pub fn run(db: &super::Database, args: &UserUnmuteArgs) -> anyhow::Result<()> {
    let store = super::open_store(db)?;
    let user = accounts::find_by_username(&*store, &args.username)?;
    let (user, changed) =
        standing::set_muted(&*store, Actor::Operator, user.id, None, args.reason.as_deref())?;
    let msg = match changed {
        true => format!("unmuted {}", user.username),
        false => format!("{} is not muted; nothing changed", user.username),
    };
    writeln!(std::io::stdout().lock(), "{msg}")?;
    Ok(())
}
