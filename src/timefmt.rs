//! UTC timestamps: RFC 3339 with milliseconds and `Z` everywhere, except on the original's paths,
//! which get its naive form (`original`).
//!
//! The store keeps timestamps as this fixed-width text, so text order is time order and range
//! queries can use an index.

use time::{
    format_description::well_known::Rfc3339, macros::format_description, Date, OffsetDateTime, UtcOffset,
};

const FORMAT: &[time::format_description::BorrowedFormatItem<'static>] =
    format_description!("[year]-[month]-[day]T[hour]:[minute]:[second].[subsecond digits:3]Z");

/// Formats an instant as `2026-11-23T22:15:00.070Z`.
pub fn format(t: OffsetDateTime) -> String {
    t.to_offset(UtcOffset::UTC).format(FORMAT).unwrap_or_else(|_| "1970-01-01T00:00:00.000Z".to_string())
}

pub fn now() -> String {
    format(OffsetDateTime::now_utc())
}

/// A stored timestamp as Unix milliseconds (0 if it is not one).
pub fn unix_ms(ts: &str) -> i64 {
    OffsetDateTime::parse(ts, &Rfc3339).map_or(0, |t| (t.unix_timestamp_nanos() / 1_000_000) as i64)
}

/// Unix milliseconds in the store's format.
pub fn from_unix_ms(ms: i64) -> String {
    format(
        OffsetDateTime::from_unix_timestamp_nanos(i128::from(ms) * 1_000_000)
            .unwrap_or(OffsetDateTime::UNIX_EPOCH),
    )
}

/// Now plus (or minus) a span, in the store's format.
pub fn now_plus(span: std::time::Duration) -> String {
    format(OffsetDateTime::now_utc() + span)
}

pub fn now_minus(span: std::time::Duration) -> String {
    format(OffsetDateTime::now_utc() - span)
}

/// The original's wire form of a stored timestamp: naive UTC as Python's `isoformat()` writes it,
/// `2026-11-23T22:15:00.070000`, without the fraction when it is zero (`2026-11-23T22:15:00`).
/// Its web page appends `Z` before parsing, so our `...Z` form would show as "Invalid Date".
pub fn original(ts: &str) -> String {
    let Ok(t) = OffsetDateTime::parse(ts, &Rfc3339) else { return ts.to_string() };
    let t = t.to_offset(UtcOffset::UTC);
    let base = t
        .format(format_description!("[year]-[month]-[day]T[hour]:[minute]:[second]"))
        .unwrap_or_else(|_| "1970-01-01T00:00:00".to_string());
    match t.microsecond() {
        0 => base,
        us => format!("{base}.{us:06}"),
    }
}

/// Start of the current UTC day, for "messages today".
pub fn today_start() -> String {
    let now = OffsetDateTime::now_utc();
    format(now.replace_time(time::Time::MIDNIGHT))
}

/// Parses what an operator may type for `--since` / `--until`: an RFC 3339 timestamp with any
/// offset, or a plain date `YYYY-MM-DD` meaning midnight UTC. Returns the store's format.
pub fn parse_bound(s: &str) -> Result<String, String> {
    let s = s.trim();
    if let Ok(t) = OffsetDateTime::parse(s, &Rfc3339) {
        return Ok(format(t));
    }
    if let Ok(d) = Date::parse(s, format_description!("[year]-[month]-[day]")) {
        return Ok(format(d.midnight().assume_utc()));
    }
    Err(format!(
        "invalid time {s:?}: expected an RFC 3339 timestamp (2026-11-23T22:15:00Z) or a date (2026-11-23)"
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn formats_with_millis_and_z() {
        let t = OffsetDateTime::from_unix_timestamp_nanos(1_795_472_100_070_000_000).unwrap();
        assert_eq!(format(t), "2026-11-23T22:15:00.070Z");
    }

    #[test]
    fn original_form_is_pythons_naive_isoformat() {
        assert_eq!(original("2026-11-26T09:09:34.131Z"), "2026-11-26T09:09:34.131000");
        assert_eq!(original("2026-11-26T09:09:34.000Z"), "2026-11-26T09:09:34");
        assert_eq!(original("2026-11-26T10:09:34.005+01:00"), "2026-11-26T09:09:34.005000");
    }

    #[test]
    fn parses_dates_and_offsets() {
        assert_eq!(parse_bound("2026-11-23").unwrap(), "2026-11-23T00:00:00.000Z");
        assert_eq!(parse_bound("2026-11-23T23:15:00+01:00").unwrap(), "2026-11-23T22:15:00.000Z");
        assert!(parse_bound("yesterday").is_err());
    }
}
