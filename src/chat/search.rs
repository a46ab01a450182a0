//! Message search: what a query may be, which conversations it may look in, and the highlighted
//! text of each result.
//!
//! A query searches the conversations the caller can read now: the rooms they are a member of
//! (public, private, DMs) and, for an admin, every public room as well. Naming one room with
//! `room` searches it if the caller may read it (`rooms::visible`: a public room, or one they are
//! in); a private room or DM of others is "No such room", as everywhere. Matching is by parts of
//! words, case-insensitively, every word required; the store does it (an index on each backend),
//! and the highlight is worked out here, the same whatever the backend.

use crate::store::{Message, SearchQuery, Store, User};

use super::{
    error::{ChatError, Result},
    rooms::visible,
    text::escape_html_into,
    Chat,
};

/// Longest query text, in characters.
pub const QUERY_MAX: usize = 200;
pub const LIMIT_DEFAULT: usize = 20;
pub const LIMIT_MAX: usize = 100;
/// A highlighted text longer than this (in characters) is cut to a window around its first match.
const WINDOW: usize = 240;
/// How much of the window comes before the first match.
const WINDOW_LEAD: usize = 60;

/// A search as the caller asked for it (the HTTP layer only decodes the parameters).
#[derive(Debug, Clone, Default)]
pub struct SearchRequest {
    pub q: String,
    pub room: Option<i64>,
    /// A username.
    pub from: Option<String>,
    /// A message id, or a date or RFC 3339 time; exclusive.
    pub before: Option<String>,
    pub after: Option<String>,
    pub limit: usize,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Hit {
    pub message: Message,
    /// The text, HTML-escaped, each match in `<mark>`.
    pub highlight: String,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Found {
    pub results: Vec<Hit>,
    /// The `before` of the next page (the last result's id); None when there is no more.
    pub next: Option<i64>,
}

fn bad(detail: impl Into<String>) -> ChatError {
    ChatError::BadQuery(detail.into())
}

/// The words of a query: lower-cased, each once, in order.
pub fn terms(q: &str) -> Result<Vec<String>> {
    if q.chars().count() > QUERY_MAX {
        return Err(bad(format!("q has at most {QUERY_MAX} characters")));
    }
    let mut out: Vec<String> = Vec::new();
    // Control characters separate words too: no message text is searched for them (and neither
    // index takes a NUL).
    for word in q.split(|c: char| c.is_whitespace() || c.is_control()).filter(|w| !w.is_empty()) {
        let word = word.to_lowercase();
        if !out.contains(&word) {
            out.push(word);
        }
    }
    if out.is_empty() {
        return Err(bad("q must contain at least one word"));
    }
    Ok(out)
}

/// A `before`/`after` bound: a message id, or a time (a date meaning midnight UTC at its start).
enum Bound {
    Id(i64),
    Time(String),
}

fn bound(name: &str, value: Option<&str>) -> Result<Option<Bound>> {
    let Some(v) = value.filter(|v| !v.is_empty()) else { return Ok(None) };
    if v.bytes().all(|b| b.is_ascii_digit()) {
        return v
            .parse()
            .map(|id| Some(Bound::Id(id)))
            .map_err(|_| bad(format!("{name} is too large to be a message id")));
    }
    // Exactly the documented forms: `parse_bound` would also take surrounding spaces.
    let malformed = v.trim() != v;
    crate::timefmt::parse_bound(v).ok().filter(|_| !malformed).map(|t| Some(Bound::Time(t))).ok_or_else(
        || {
            bad(format!(
                "{name} must be a message id, a date (2026-11-26) or an RFC 3339 time (2026-11-26T09:30:00Z)"
            ))
        },
    )
}

/// Validates the request and turns it into the store's query (without the scope's user).
pub fn query(store: &dyn Store, user: &User, req: &SearchRequest) -> Result<SearchQuery> {
    let terms = terms(&req.q)?;
    if req.limit == 0 || req.limit > LIMIT_MAX {
        return Err(bad(format!("limit must be between 1 and {LIMIT_MAX}")));
    }
    let mut q = SearchQuery {
        terms,
        user_id: user.id,
        all_public: user.is_admin,
        // One more than asked for: whether there is a next page.
        limit: req.limit + 1,
        ..SearchQuery::default()
    };
    match bound("before", req.before.as_deref())? {
        Some(Bound::Id(id)) => q.before_id = Some(id),
        Some(Bound::Time(t)) => q.before_time = Some(t),
        None => {}
    }
    match bound("after", req.after.as_deref())? {
        Some(Bound::Id(id)) => q.after_id = Some(id),
        Some(Bound::Time(t)) => q.after_time = Some(t),
        None => {}
    }
    if let Some(name) = req.from.as_deref().map(str::trim).filter(|n| !n.is_empty()) {
        let sender = store.user_by_username(name)?.ok_or_else(|| ChatError::UnknownUser(name.to_string()))?;
        q.sender_id = Some(sender.id);
    }
    if let Some(room) = req.room {
        visible(store, user, room)?;
        q.room_id = Some(room);
    }
    Ok(q)
}

/// Runs a search for `user`.
pub fn search(store: &dyn Store, user: &User, req: &SearchRequest) -> Result<Found> {
    let q = query(store, user, req)?;
    let mut messages = store.search(&q)?;
    let more = messages.len() > req.limit;
    messages.truncate(req.limit);
    let next = if more { messages.last().map(|m| m.id) } else { None };
    let results = messages
        .into_iter()
        .map(|message| Hit { highlight: highlight(&message.content, &q.terms), message })
        .collect();
    Ok(Found { results, next })
}

impl Chat {
    pub async fn search(&self, user: &User, req: SearchRequest) -> Result<Found> {
        let user = user.clone();
        self.blocking(move |s| search(s, &user, &req)).await
    }
}

/// The parts of `text` (as char ranges) where any of `terms` (lower-cased) occurs, compared in
/// lower case, merged where they overlap or touch.
fn matches(text: &str, terms: &[String]) -> Vec<(usize, usize)> {
    // The lower-cased text, and for each of its bytes the char of `text` it came from (lower
    // case can change a char's length).
    let mut lower = String::with_capacity(text.len());
    let mut origin: Vec<usize> = Vec::with_capacity(text.len());
    for (i, c) in text.chars().enumerate() {
        for l in c.to_lowercase() {
            lower.push(l);
            origin.extend(std::iter::repeat_n(i, l.len_utf8()));
        }
    }
    let mut ranges: Vec<(usize, usize)> = Vec::new();
    for term in terms.iter().filter(|t| !t.is_empty()) {
        for (at, _) in lower.match_indices(term.as_str()) {
            ranges.push((origin[at], origin[at + term.len() - 1] + 1));
        }
    }
    ranges.sort_unstable();
    let mut merged: Vec<(usize, usize)> = Vec::with_capacity(ranges.len());
    for (start, end) in ranges {
        match merged.last_mut() {
            Some(last) if start <= last.1 => last.1 = last.1.max(end),
            _ => merged.push((start, end)),
        }
    }
    merged
}

/// `text` HTML-escaped with every match of `terms` in `<mark>…</mark>`; a long text is cut to a
/// window around its first match, "…" marking each cut end.
pub fn highlight(text: &str, terms: &[String]) -> String {
    let chars: Vec<char> = text.chars().collect();
    let ranges = matches(text, terms);
    let (mut from, mut to) = (0, chars.len());
    if chars.len() > WINDOW {
        let first = ranges.first().map_or(0, |r| r.0);
        from = first.saturating_sub(WINDOW_LEAD);
        to = (from + WINDOW).min(chars.len());
        from = to.saturating_sub(WINDOW);
    }
    let mut out = String::with_capacity(text.len() + 16);
    if from > 0 {
        out.push('…');
    }
    let mut at = from;
    for (start, end) in ranges {
        let (start, end) = (start.clamp(from, to), end.clamp(from, to));
        if start >= end {
            continue;
        }
        escape_html_into(&mut out, chars[at..start].iter().copied());
        out.push_str("<mark>");
        escape_html_into(&mut out, chars[start..end].iter().copied());
        out.push_str("</mark>");
        at = end;
    }
    escape_html_into(&mut out, chars[at..to].iter().copied());
    if to < chars.len() {
        out.push('…');
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn t(words: &[&str]) -> Vec<String> {
        words.iter().map(|w| w.to_string()).collect()
    }

    #[test]
    fn queries_are_words_lower_cased_once_each() {
        assert_eq!(terms("  Deploy the DEPLOY  now ").unwrap(), t(&["deploy", "the", "now"]));
        assert!(terms("   ").is_err());
        assert_eq!(terms("a\u{0}b\tc\u{7}").unwrap(), t(&["a", "b", "c"]));
        assert!(terms("\u{0}\u{1b}").is_err());
        assert!(terms(&"x".repeat(QUERY_MAX + 1)).is_err());
        assert!(terms(&"é".repeat(QUERY_MAX)).is_ok(), "characters, not bytes");
    }

    #[test]
    fn highlight_marks_every_match_case_insensitively_and_escapes() {
        assert_eq!(
            highlight("Deployment <b>deploy</b>ed", &t(&["deploy"])),
            "<mark>Deploy</mark>ment &lt;b&gt;<mark>deploy</mark>&lt;/b&gt;ed"
        );
        assert_eq!(highlight("a&b \"q\" 'x'", &t(&["zzz"])), "a&amp;b &quot;q&quot; &#39;x&#39;");
        // Overlapping terms make one mark.
        assert_eq!(highlight("release", &t(&["elea", "ease"])), "r<mark>elease</mark>");
        // Lower case that changes length still maps back to the original characters.
        assert_eq!(highlight("İstanbul x", &t(&["stan"])), "İ<mark>stan</mark>bul x");
        assert_eq!(highlight("ÉCOLE", &t(&["éco"])), "<mark>ÉCO</mark>LE");
    }

    #[test]
    fn long_texts_are_cut_around_the_first_match() {
        let text = format!("{}needle{}", "a".repeat(500), "b".repeat(500));
        let h = highlight(&text, &t(&["needle"]));
        assert!(h.starts_with('…') && h.ends_with('…'), "{h}");
        assert!(h.contains("<mark>needle</mark>"));
        assert_eq!(h.replace("<mark>", "").replace("</mark>", "").chars().count(), WINDOW + 2);
        let start = highlight(&format!("needle {}", "c".repeat(500)), &t(&["needle"]));
        assert!(start.starts_with("<mark>needle</mark>") && start.ends_with('…'));
    }
}
