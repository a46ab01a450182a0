//! The `\u{XXXX}` escapes of the moderation evaluation sets, decoded; shared by the evaluation
//! tests and the moderation benchmark (each includes this file with `#[path]`), so that one
//! reading of the data files is measured everywhere. A malformed escape is a typo in a set:
//! it panics rather than quietly measuring other text.

/// `line` with every `\u{XXXX}` replaced by the character it names.
pub fn unescape(line: &str) -> String {
    let mut out = String::with_capacity(line.len());
    let mut rest = line;
    while let Some(i) = rest.find("\\u{") {
        out.push_str(&rest[..i]);
        let after = &rest[i + 3..];
        let end = after.find('}').unwrap_or_else(|| panic!("unterminated escape in {line:?}"));
        let code = u32::from_str_radix(&after[..end], 16).ok().and_then(char::from_u32);
        out.push(code.unwrap_or_else(|| panic!("bad escape in {line:?}")));
        rest = &after[end + 1..];
    }
    out.push_str(rest);
    out
}
