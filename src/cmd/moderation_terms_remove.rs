//! `chatterbox moderation terms remove TERM [--reason TEXT]`: take a term off whichever list
//! holds it (exit 1, "no such term", if none does); running daemons apply it within a second.

use std::io::Write;

use crate::{
    chat::terms::{self, Editor},
    cli::TermsRemoveArgs,
};

pub fn run(db: &super::Database, args: &TermsRemoveArgs) -> anyhow::Result<()> {
    let store = super::open_store(db)?;
    let list = terms::remove(&*store, Editor::Cli, &args.term, args.reason.as_deref())?;
    let term = args.term.trim().to_lowercase();
    let msg = format!("removed {term:?} from the {} list", list.as_str());
    writeln!(std::io::stdout().lock(), "{}", crate::chat::export::escape_controls(&msg))?;
    Ok(())
}
