//! CSV exports of messages and users, shared by the operator CLI and the admin downloads.
//!
//! Rows stream from the store straight into the writer, so memory stays constant however long
//! the history is. Cells a spreadsheet would evaluate as a formula are neutralised by default.
//! Text bound for a terminal gets its control characters shown as visible escapes, so a message
//! or a username cannot drive the operator's terminal.

use std::io::Write;

use crate::store::{MessageFilter, RoomStats, Store, StoreError, UserFilter};

/// The first five columns are those of the one-room version, in the same order, for cron jobs
/// that read them by position; `room` (its name; DMs as `dm:` and the members joined by `+`)
/// came after.
/// `edited_at` is empty for a message never edited; deleted messages are not exported at all.
pub const MESSAGE_HEADER: [&str; 7] =
    ["id", "sender_id", "sender_username", "content", "timestamp", "room", "edited_at"];
pub const USER_HEADER: [&str; 7] = ["id", "username", "email", "role", "blocked", "warnings", "created_at"];
pub const ROOM_HEADER: [&str; 8] =
    ["id", "name", "kind", "topic", "members", "messages", "last_activity", "archived"];

/// Prefixes a `'` to text that a spreadsheet would run as a formula (OWASP's advice for CSV
/// injection): a leading `=`, `+`, `-`, `@`, tab or carriage return.
pub fn neutralise(cell: &str) -> std::borrow::Cow<'_, str> {
    match cell.chars().next() {
        Some('=' | '+' | '-' | '@' | '\t' | '\r') => format!("'{cell}").into(),
        _ => cell.into(),
    }
}

/// Whether `c` would act on a terminal instead of being shown: C0 controls other than line feed,
/// DEL, C1 controls (some terminals read U+009B as CSI), the bidirectional controls that reorder
/// what is shown (U+202E makes `exe.txt` read `txt.exe`), and the Unicode line separators.
pub fn acts_on_terminal(c: char) -> bool {
    (c.is_control() && c != '\n')
        || matches!(c, '\u{061c}' | '\u{200e}' | '\u{200f}' | '\u{202a}'..='\u{202e}' | '\u{2066}'..='\u{2069}')
        || matches!(c, '\u{2028}' | '\u{2029}')
}

/// Text for a terminal: every character that `acts_on_terminal` shown as a visible escape
/// (`\t`, `\r`, `\x1b`, `\u{202e}`); line feeds stay, as multi-line messages are legitimate.
pub fn escape_controls(text: &str) -> std::borrow::Cow<'_, str> {
    if !text.chars().any(acts_on_terminal) {
        return text.into();
    }
    let mut out = String::with_capacity(text.len() + 8);
    for c in text.chars() {
        match c {
            '\t' => out.push_str("\\t"),
            '\r' => out.push_str("\\r"),
            c if acts_on_terminal(c) && c.is_ascii() => out.push_str(&format!("\\x{:02x}", u32::from(c))),
            c if acts_on_terminal(c) => out.push_str(&format!("\\u{{{:x}}}", u32::from(c))),
            c => out.push(c),
        }
    }
    out.into()
}

/// How the text cells of an export are written.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct CellStyle {
    /// Exactly as stored, without neutralising spreadsheet formulas.
    pub raw: bool,
    /// For a terminal: control characters escaped (`escape_controls`). Files and pipes get the
    /// exact text.
    pub terminal: bool,
}

/// A plain `raw` flag: cells for a file or a download, not a terminal.
impl From<bool> for CellStyle {
    fn from(raw: bool) -> Self {
        CellStyle { raw, terminal: false }
    }
}

fn text_cell(style: CellStyle, cell: &str) -> std::borrow::Cow<'_, str> {
    let cell = if style.raw { cell.into() } else { neutralise(cell) };
    if !style.terminal {
        return cell;
    }
    match escape_controls(&cell) {
        std::borrow::Cow::Borrowed(_) => cell,
        std::borrow::Cow::Owned(escaped) => escaped.into(),
    }
}

fn csv_err(e: csv::Error) -> std::io::Error {
    match e.into_kind() {
        csv::ErrorKind::Io(io) => io,
        other => std::io::Error::other(format!("{other:?}")),
    }
}

/// Writes the messages matching `filter`; returns how many rows were written.
pub fn write_messages<W: Write>(
    store: &dyn Store,
    filter: &MessageFilter,
    out: W,
    style: impl Into<CellStyle>,
) -> Result<u64, StoreError> {
    let style = style.into();
    let mut w = csv::Writer::from_writer(out);
    w.write_record(MESSAGE_HEADER).map_err(csv_err)?;
    let mut rows = 0u64;
    let labels: std::collections::HashMap<i64, String> = store.room_labels()?.into_iter().collect();
    store.for_each_message(filter, &mut |m| {
        rows += 1;
        let room = labels.get(&m.room_id).map(String::as_str).unwrap_or("");
        w.write_record([
            m.id.to_string().as_str(),
            m.sender_id.to_string().as_str(),
            &text_cell(style, &m.username),
            &text_cell(style, &m.content),
            &m.timestamp,
            &text_cell(style, room),
            m.edited_at.as_deref().unwrap_or(""),
        ])
        .map_err(csv_err)
    })?;
    w.flush()?;
    Ok(rows)
}

/// Writes the accounts matching `filter` (never their password hashes).
pub fn write_users<W: Write>(
    store: &dyn Store,
    filter: UserFilter,
    out: W,
    style: impl Into<CellStyle>,
) -> Result<u64, StoreError> {
    let style = style.into();
    let mut w = csv::Writer::from_writer(out);
    w.write_record(USER_HEADER).map_err(csv_err)?;
    let mut rows = 0u64;
    store.for_each_user(filter, &mut |u| {
        rows += 1;
        w.write_record([
            u.id.to_string().as_str(),
            &text_cell(style, &u.username),
            &text_cell(style, &u.email),
            if u.is_admin { "admin" } else { "user" },
            if u.is_blocked { "yes" } else { "no" },
            u.warning_count.to_string().as_str(),
            &u.created_at,
        ])
        .map_err(csv_err)
    })?;
    w.flush()?;
    Ok(rows)
}

/// Writes public and private rooms (`Store::room_stats`, which has no DMs).
pub fn write_rooms<W: Write>(
    rooms: &[RoomStats],
    out: W,
    style: impl Into<CellStyle>,
) -> Result<u64, StoreError> {
    let style = style.into();
    let mut w = csv::Writer::from_writer(out);
    w.write_record(ROOM_HEADER).map_err(csv_err)?;
    for r in rooms {
        w.write_record([
            r.room.id.to_string().as_str(),
            &text_cell(style, r.room.name.as_deref().unwrap_or_default()),
            r.room.kind.as_str(),
            &text_cell(style, r.room.topic.as_deref().unwrap_or_default()),
            r.room.members.to_string().as_str(),
            r.messages.to_string().as_str(),
            r.last_activity.as_deref().unwrap_or_default(),
            if r.room.archived { "yes" } else { "no" },
        ])
        .map_err(csv_err)?;
    }
    w.flush()?;
    Ok(rooms.len() as u64)
}

#[cfg(test)]
mod tests {
    use super::{escape_controls, neutralise};

    #[test]
    fn terminal_controls_are_escaped_and_the_rest_kept() {
        assert_eq!(escape_controls("\u{1b}[31mred\u{7}"), "\\x1b[31mred\\x07");
        assert_eq!(escape_controls("a\tb\rc\nd"), "a\\tb\\rc\nd");
        assert_eq!(escape_controls("\u{202e}txt.exe\u{9b}\u{7f}"), "\\u{202e}txt.exe\\u{9b}\\x7f");
        assert_eq!(escape_controls("plain, ünïcödé 😀 \\x1b"), "plain, ünïcödé 😀 \\x1b");
    }

    #[test]
    fn formulas_are_neutralised() {
        for bad in ["=1+1", "+1", "-1", "@SUM(A1)", "\tx", "\rx"] {
            assert!(neutralise(bad).starts_with('\''), "{bad:?}");
        }
        assert_eq!(neutralise("hello = world"), "hello = world");
        assert_eq!(neutralise(""), "");
    }
}
