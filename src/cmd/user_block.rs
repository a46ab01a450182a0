//! `chatterbox user block USERNAME [--reason TEXT]`: block an account; a running daemon closes
//! its connections within a second or so.

use std::io::Write;

use crate::{chat::accounts, cli::UserBlockArgs};

pub fn run(db: &super::Database, args: &UserBlockArgs) -> anyhow::Result<()> {
    let store = super::open_store(db)?;
    let user = accounts::find_by_username(&*store, &args.username)?;
    let (user, changed) =
        accounts::set_blocked(&*store, user.id, true, super::CLI_ACTOR, args.reason.as_deref())?;
    let msg = if changed {
        format!("blocked {}", user.username)
    } else {
        format!("{} was already blocked; nothing changed", user.username)
    };
    writeln!(std::io::stdout().lock(), "{msg}")?;
    Ok(())
}
