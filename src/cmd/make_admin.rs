//! `chatterbox make-admin USERNAME [--revoke]`: grant or take away the admin role.

use std::io::Write;

use crate::{chat::accounts, cli::MakeAdminArgs};

pub fn run(db: &super::Database, args: &MakeAdminArgs) -> anyhow::Result<()> {
    let store = super::open_store(db)?;
    let user = accounts::find_by_username(&*store, &args.username)?;
    let (user, changed) = accounts::set_admin(&*store, user.id, !args.revoke)?;
    let msg = match (args.revoke, changed) {
        (false, true) => format!("{} is now an admin", user.username),
        (false, false) => format!("{} was already an admin; nothing changed", user.username),
        (true, true) => format!("{} is no longer an admin", user.username),
        (true, false) => format!("{} was not an admin; nothing changed", user.username),
    };
    writeln!(std::io::stdout().lock(), "{msg}")?;
    Ok(())
}
