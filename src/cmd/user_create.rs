//! `chatterbox user create USERNAME --email E [--password-stdin] [--admin] [--bcrypt-cost N]`:
//! create an account, so a fresh install can get its first admin without a browser.

use std::io::{BufRead, IsTerminal, Write};

use anyhow::{bail, Context};

use crate::{
    chat::accounts::{self, NewAccount},
    cli::UserCreateArgs,
};

pub fn run(db: &super::Database, args: &UserCreateArgs) -> anyhow::Result<()> {
    // Validate the cheap things before asking for a password.
    let cost = crate::config::check_bcrypt_cost(args.bcrypt_cost)?;
    accounts::validate_username(args.username.trim())?;
    accounts::validate_email(args.email.trim())?;
    let password = read_password(args.password_stdin)?;
    let (store, _) = super::open_and_migrate(db)?;
    // Accounts stored before the look-alike keys existed must have theirs before a new name is
    // compared with them.
    accounts::backfill_keys(&*store)?;
    let user = accounts::create_account(
        &*store,
        &NewAccount {
            username: &args.username,
            email: &args.email,
            password: &password,
            is_admin: args.admin,
        },
        cost,
    )?;
    let role = if user.is_admin { "admin" } else { "user" };
    writeln!(std::io::stdout().lock(), "created {role} {} (id {})", user.username, user.id)?;
    Ok(())
}

fn read_password(from_stdin: bool) -> anyhow::Result<String> {
    if from_stdin {
        let mut line = String::new();
        std::io::stdin().lock().read_line(&mut line).context("cannot read the password from stdin")?;
        let password = line.strip_suffix('\n').unwrap_or(&line);
        let password = password.strip_suffix('\r').unwrap_or(password).to_string();
        if password.is_empty() {
            bail!("no password on standard input");
        }
        return Ok(password);
    }
    if !std::io::stdin().is_terminal() {
        bail!("no terminal to ask for a password; pass it on standard input with --password-stdin");
    }
    let first = rpassword::prompt_password("Password: ").context("cannot read the password")?;
    accounts::validate_password(&first)?;
    let again = rpassword::prompt_password("Password again: ").context("cannot read the password")?;
    if first != again {
        bail!("the passwords do not match");
    }
    Ok(first)
}
