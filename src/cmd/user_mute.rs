//! `chatterbox user mute USERNAME --for DURATION [--reason TEXT]`: mute an account; a running
//! daemon tells its connections within a second or so (a log change), and refuses its posts.

use std::io::Write;

use crate::{
    chat::{accounts, rooms::Actor, standing},
    cli::UserMuteArgs,
};

pub fn run(db: &super::Database, args: &UserMuteArgs) -> anyhow::Result<()> {
    let store = super::open_store(db)?;
    let user = accounts::find_by_username(&*store, &args.username)?;
    let (user, _) =
        standing::set_muted(&*store, Actor::Operator, user.id, Some(args.for_), args.reason.as_deref())?;
    let until = user.muted_until.unwrap_or_default();
    writeln!(std::io::stdout().lock(), "muted {} until {until}", user.username)?;
    Ok(())
}
