//! `chatterbox moderation terms add TERM [--allow] [--reason TEXT]`: put a term on the block list
//! (or a word on the allow list); running daemons apply it within a second.

use std::io::Write;

use crate::{
    chat::terms::{self, Editor},
    cli::TermsAddArgs,
    store::{TermAdded, TermList},
};

pub fn run(db: &super::Database, args: &TermsAddArgs) -> anyhow::Result<()> {
    let store = super::open_store(db)?;
    let list = if args.allow { TermList::Allow } else { TermList::Block };
    let (term, added) = terms::add(&*store, Editor::Cli, &args.term, list, args.reason.as_deref())?;
    let list = list.as_str();
    let msg = match added {
        TermAdded::Added => format!("added {term:?} to the {list} list"),
        TermAdded::Moved => format!("moved {term:?} to the {list} list"),
        TermAdded::Unchanged => format!("{term:?} was already on the {list} list; nothing changed"),
    };
    writeln!(std::io::stdout().lock(), "{}", crate::chat::export::escape_controls(&msg))?;
    Ok(())
}
