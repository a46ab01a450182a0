//! CSV exports of messages and users, shared by the operator CLI and the admin downloads.
//!
//! Rows stream from the store straight into the writer, so memory stays constant however long
//! the history is. Cells a spreadsheet would evaluate as a formula are neutralised by default.

use std::io::Write;

use crate::store::{MessageFilter, Store, StoreError, UserFilter};

pub const MESSAGE_HEADER: [&str; 5] = ["id", "sender_id", "sender_username", "content", "timestamp"];
pub const USER_HEADER: [&str; 7] = ["id", "username", "email", "role", "blocked", "warnings", "created_at"];

/// Prefixes a `'` to text that a spreadsheet would run as a formula (OWASP's advice for CSV
/// injection): a leading `=`, `+`, `-`, `@`, tab or carriage return.
pub fn neutralise(cell: &str) -> std::borrow::Cow<'_, str> {
    match cell.chars().next() {
        Some('=' | '+' | '-' | '@' | '\t' | '\r') => format!("'{cell}").into(),
        _ => cell.into(),
    }
}

fn text_cell(raw: bool, cell: &str) -> std::borrow::Cow<'_, str> {
    if raw {
        cell.into()
    } else {
        neutralise(cell)
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
    raw: bool,
) -> Result<u64, StoreError> {
    let mut w = csv::Writer::from_writer(out);
    w.write_record(MESSAGE_HEADER).map_err(csv_err)?;
    let mut rows = 0u64;
    store.for_each_message(filter, &mut |m| {
        rows += 1;
        w.write_record([
            m.id.to_string().as_str(),
            m.sender_id.to_string().as_str(),
            &text_cell(raw, &m.username),
            &text_cell(raw, &m.content),
            &m.timestamp,
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
    raw: bool,
) -> Result<u64, StoreError> {
    let mut w = csv::Writer::from_writer(out);
    w.write_record(USER_HEADER).map_err(csv_err)?;
    let mut rows = 0u64;
    store.for_each_user(filter, &mut |u| {
        rows += 1;
        w.write_record([
            u.id.to_string().as_str(),
            &text_cell(raw, &u.username),
            &text_cell(raw, &u.email),
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

#[cfg(test)]
mod tests {
    use super::neutralise;

    #[test]
    fn formulas_are_neutralised() {
        for bad in ["=1+1", "+1", "-1", "@SUM(A1)", "\tx", "\rx"] {
            assert!(neutralise(bad).starts_with('\''), "{bad:?}");
        }
        assert_eq!(neutralise("hello = world"), "hello = world");
        assert_eq!(neutralise(""), "");
    }
}
