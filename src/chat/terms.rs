//! The live moderation term lists: what the word list refuses (`block`) and the words a
//! community accepts although the word list would catch them (`allow`), kept in the store and
//! applied on every instance without a restart.
//!
//! `--blocklist` (or the default list) seeds the block list once, on the first start against a
//! database with no seeding mark; after that the table is the truth and `--blocklist` is only
//! read to check it compiles. Every change takes a log position (`Change::Terms`), and each
//! instance's tailer (`chat::log`, on its own thread, never the reactor) rebuilds the matcher
//! from the table and swaps it in ([`LiveTerms`]); the operator CLI's changes are found by the
//! tailer's poll like any other log write.

use std::sync::{Arc, RwLock};

use crate::store::{Store, Term, TermAdded, TermEdit, TermList, User};

use super::{moderation::Matcher, Chat, ChatError, Result};

/// Who seeds the list, in its audit row.
const SEEDER: &str = "moderation";

/// The matcher built from the live lists, swapped whole when they change: a post holds the
/// `Arc` it read for its one screening, so a swap never waits for posts nor they for it.
#[derive(Debug)]
pub struct LiveTerms {
    matcher: RwLock<Arc<Matcher>>,
}

impl LiveTerms {
    pub fn new(matcher: Matcher) -> LiveTerms {
        LiveTerms { matcher: RwLock::new(Arc::new(matcher)) }
    }

    /// The matcher now.
    pub fn get(&self) -> Arc<Matcher> {
        Arc::clone(&self.matcher.read().unwrap_or_else(|p| p.into_inner()))
    }

    /// Rebuilds the matcher from the store (blocking: the tailer's thread, or a blocking one).
    pub fn reload(&self, store: &dyn Store) -> Result<()> {
        let matcher = load(store)?;
        *self.matcher.write().unwrap_or_else(|p| p.into_inner()) = Arc::new(matcher);
        Ok(())
    }
}

/// Seeds the block list with `seed`'s terms unless it was seeded before, then builds the
/// matcher of the live lists. Blocking.
pub fn start(store: &dyn Store, seed: &Matcher) -> Result<LiveTerms> {
    match store.seed_terms(seed.terms(), SEEDER, &crate::timefmt::now()) {
        Ok(true) => tracing::info!(terms = seed.len(), "seeded the live term list from --blocklist"),
        Ok(false) => {}
        // A database that cannot be written now (read-only, locked by a long transaction, a
        // full disk) must not keep the daemon from starting, nor from moderating: the stored
        // lists if there are any, else `--blocklist` itself until a later start seeds it.
        Err(e) => {
            tracing::warn!(error = %e, "cannot seed the live term list now; a later start will");
            let stored = load(store)?;
            return Ok(LiveTerms::new(if stored.is_empty() { seed.clone() } else { stored }));
        }
    }
    Ok(LiveTerms::new(load(store)?))
}

/// The matcher of the lists as stored now. A stored term that no longer compiles (written by
/// a newer version, or by hand) is skipped with a warning rather than turning moderation off.
pub fn load(store: &dyn Store) -> Result<Matcher> {
    let terms = store.terms()?;
    let of = |list: TermList| terms.iter().filter(move |t| t.list == list).map(|t| t.term.as_str());
    match Matcher::live(of(TermList::Block), of(TermList::Allow)) {
        Ok(m) => Ok(m),
        Err(reason) => {
            tracing::warn!(%reason, "a stored moderation term does not compile; skipping the bad ones");
            let block = of(TermList::Block).filter(|t| Matcher::new([t]).is_ok());
            let allow = of(TermList::Allow).filter(|t| super::moderation::allowed_word(t).is_ok());
            Matcher::live(block, allow).map_err(ChatError::Internal)
        }
    }
}

/// The term as stored (trimmed, lowercase), if the matcher can use it on `list`.
pub fn normalize(term: &str, list: TermList) -> Result<String> {
    let written = term.trim().to_lowercase();
    let invalid = |detail: String| ChatError::Invalid { field: "term", detail };
    if written.is_empty() {
        return Err(invalid("The term is empty".into()));
    }
    match list {
        TermList::Block => {
            Matcher::new([&written]).map(drop).map_err(|e| invalid(format!("Cannot use the term: {e}")))
        }
        TermList::Allow => super::moderation::allowed_word(&written)
            .map(drop)
            .map_err(|e| invalid(format!("Cannot use the term: {e}"))),
    }?;
    Ok(written)
}

/// Who changes the lists: the operator CLI, or an admin.
#[derive(Debug, Clone, Copy)]
pub enum Editor<'a> {
    Cli,
    Admin { id: i64, username: &'a str },
}

impl Editor<'_> {
    fn actor(&self) -> (&str, Option<i64>) {
        match self {
            Editor::Cli => ("cli", None),
            Editor::Admin { id, username } => (username, Some(*id)),
        }
    }
}

/// Puts a term on a list (blocking; the CLI calls it directly).
pub fn add(
    store: &dyn Store,
    editor: Editor<'_>,
    term: &str,
    list: TermList,
    reason: Option<&str>,
) -> Result<(String, TermAdded)> {
    let term = normalize(term, list)?;
    let (actor, actor_id) = editor.actor();
    let now = crate::timefmt::now();
    let added = store.add_term(&TermEdit { term: &term, list, actor, actor_id, reason, timestamp: &now })?;
    Ok((term, added))
}

/// Removes a term from whichever list holds it (blocking); `TermNotFound` if none does.
pub fn remove(store: &dyn Store, editor: Editor<'_>, term: &str, reason: Option<&str>) -> Result<TermList> {
    let term = term.trim().to_lowercase();
    let (actor, actor_id) = editor.actor();
    let now = crate::timefmt::now();
    let edit = TermEdit { term: &term, list: TermList::Block, actor, actor_id, reason, timestamp: &now };
    store.remove_term(&edit)?.ok_or(ChatError::TermNotFound)
}

impl Chat {
    /// The live lists, for an admin.
    pub async fn terms(&self) -> Result<Vec<Term>> {
        self.blocking(|s| Ok(s.terms()?)).await
    }

    /// An admin puts a term on a list; answers once this instance's matcher has it.
    pub async fn add_term(&self, admin: &User, term: String, list: TermList) -> Result<(String, TermAdded)> {
        let (id, username) = (admin.id, admin.username.clone());
        let out = self
            .logged(move |s| add(s, Editor::Admin { id, username: &username }, &term, list, None))
            .await?;
        tracing::info!(admin = %admin.username, term = %out.0, list = list.as_str(), "moderation term added");
        Ok(out)
    }

    /// An admin removes a term; answers once this instance's matcher no longer has it.
    pub async fn remove_term(&self, admin: &User, term: String) -> Result<TermList> {
        let (id, username) = (admin.id, admin.username.clone());
        let list =
            self.logged(move |s| remove(s, Editor::Admin { id, username: &username }, &term, None)).await?;
        tracing::info!(admin = %admin.username, list = list.as_str(), "moderation term removed");
        Ok(list)
    }

    /// The word list now (the live terms).
    pub fn matcher(&self) -> Arc<Matcher> {
        self.terms.get()
    }
}
