//! `chatterbox messages delete ID [--reason TEXT]`: delete any message as the operator (audited as
//! `cli`). A running daemon's tailer finds the deletion in the log and removes the message from
//! every open chat.

use std::io::Write;

use crate::{
    chat::{living, rooms::Actor, ChatError},
    cli::MessageDeleteArgs,
};

pub fn run(db: &super::Database, args: &MessageDeleteArgs) -> anyhow::Result<()> {
    let store = super::open_store(db)?;
    match living::delete(&*store, Actor::Operator, args.id, args.reason.clone()) {
        Ok(_) => writeln!(std::io::stdout().lock(), "deleted message {}", args.id)?,
        Err(ChatError::MessageNotFound) => {
            anyhow::bail!("no message with id {} (or it was deleted already)", args.id)
        }
        Err(e) => return Err(e.into()),
    }
    Ok(())
}
