//! `chatterbox user unblock USERNAME`: unblock an account and reset its warning count.

use std::io::Write;

use crate::{chat::accounts, cli::UserUnblockArgs};

pub fn run(db: &super::Database, args: &UserUnblockArgs) -> anyhow::Result<()> {
    let store = super::open_store(db)?;
    let user = accounts::find_by_username(&*store, &args.username)?;
    let before = user.clone();
    let (user, changed) = accounts::set_blocked(&*store, user.id, false, super::CLI_ACTOR, None)?;
    let msg = match (changed, before.is_blocked) {
        (true, true) => format!("unblocked {} and reset their warnings", user.username),
        (true, false) => format!("{} was not blocked; reset their warnings to 0", user.username),
        (false, _) => format!("{} is not blocked and has no warnings; nothing changed", user.username),
    };
    writeln!(std::io::stdout().lock(), "{msg}")?;
    Ok(())
}
