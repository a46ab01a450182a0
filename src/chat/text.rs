//! What counts as visible text: the one definition of "invisible" shared by the emptiness check
//! of `Chat::validate_text` and by the moderation matcher, so neither can be fooled by a
//! character the other does not know. And HTML escaping, for the texts that go out as HTML.

/// Whether `c` shows as nothing, or as a blank without being whitespace: control characters
/// (NUL, ESC; not tab or newline), format characters (zero-width space and joiners, bidi
/// controls, BOM, soft hyphen, tags), every other Default_Ignorable_Code_Point (variation
/// selectors, Hangul fillers, Khmer inherent vowels, musical format symbols) and the blank
/// look-alikes of [`is_blank_look_alike`]. Whitespace itself is not invisible.
pub fn is_invisible(c: char) -> bool {
    if c.is_ascii() {
        return c.is_ascii_control() && !c.is_ascii_whitespace();
    }
    (c.is_control() && !c.is_whitespace())
        || is_blank_look_alike(c)
        || matches!(c,
            // Default_Ignorable_Code_Point (DerivedCoreProperties.txt, Unicode 15.1).
            '\u{00AD}' | '\u{034F}' | '\u{061C}' | '\u{115F}'..='\u{1160}' | '\u{17B4}'..='\u{17B5}'
            | '\u{180B}'..='\u{180F}' | '\u{200B}'..='\u{200F}' | '\u{202A}'..='\u{202E}'
            | '\u{2060}'..='\u{206F}' | '\u{3164}' | '\u{FE00}'..='\u{FE0F}' | '\u{FEFF}'
            | '\u{FFA0}' | '\u{FFF0}'..='\u{FFF8}' | '\u{1BCA0}'..='\u{1BCA3}'
            | '\u{1D173}'..='\u{1D17A}' | '\u{E0000}'..='\u{E0FFF}'
            // The rest of general category Cf: number signs and marks that only decorate the
            // digits after them, interlinear annotation, hieroglyph format controls.
            | '\u{0600}'..='\u{0605}' | '\u{06DD}' | '\u{070F}' | '\u{0890}'..='\u{0891}'
            | '\u{08E2}' | '\u{FFF9}'..='\u{FFFB}' | '\u{110BD}' | '\u{110CD}'
            | '\u{13430}'..='\u{1343F}')
}

/// Invisible characters that render as an empty cell the width of a letter: the braille blank,
/// the Hangul fillers and the object replacement character. Moderation reads them as a gap
/// between word pieces ("fu\u{2800}ck"), not as nothing.
pub fn is_blank_look_alike(c: char) -> bool {
    matches!(c, '\u{2800}' | '\u{3164}' | '\u{115F}' | '\u{1160}' | '\u{FFA0}' | '\u{FFFC}')
}

/// Whether nothing of `text` would show: only whitespace and invisible characters.
pub fn is_blank(text: &str) -> bool {
    text.chars().all(|c| c.is_whitespace() || is_invisible(c))
}

/// Appends `text` with what HTML would interpret (`&`, `<`, `>`, quotes) written as entities.
pub fn escape_html_into(out: &mut String, text: impl IntoIterator<Item = char>) {
    for c in text {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            c => out.push(c),
        }
    }
}

pub fn escape_html(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    escape_html_into(&mut out, text.chars());
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn blank_messages() {
        // The WebSocket test (tests/chat.rs) sends the blank look-alikes; these cover the rest.
        for text in [
            "",
            " \n\t",
            "\u{7F}\u{9F}",
            "\u{200B}\u{FEFF} \u{2060}",
            "\u{202E}\u{2066}\u{2069}",
            "\u{FE0F}\u{E0100}\u{E0020}",
            "\u{0600}\u{FFF9}\u{13430}",
        ] {
            assert!(is_blank(text), "{text:?}");
        }
        for text in ["a", " . ", "\u{2800}x", "😀", "\u{0301}", "日本"] {
            assert!(!is_blank(text), "{text:?}");
        }
        assert!(!is_invisible('\n') && !is_invisible('\u{00A0}') && !is_invisible(' '));
    }
}
