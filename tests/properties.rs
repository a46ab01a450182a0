//! Property tests (proptest) of the fuzzed properties, so they also run in the normal
//! `cargo test`: the WebSocket frame parser, the moderation matcher, the CSV exports and JWT
//! verification. The properties live in fuzz/src/lib.rs, shared with the cargo-fuzz targets; this
//! file only generates inputs. Case counts keep the whole file to a few seconds in a debug build.

#[path = "../fuzz/src/lib.rs"]
mod props;

use std::sync::LazyLock;
use std::time::{Duration, Instant};

use chatterbox::chat::moderation::{Matcher, DEFAULT_TERMS};
use proptest::prelude::*;
use serde_json::Value;

static DEFAULT: LazyLock<Matcher> = LazyLock::new(Matcher::default_terms);
static TOKENS: LazyLock<props::Tokens> = LazyLock::new(props::Tokens::new);

/// Characters that tend to break text handling: CSV and JSON syntax, formula starters, leet
/// symbols, combining and invisible marks, look-alikes, compatibility forms, Unicode whitespace,
/// and characters whose decomposition or case mapping grows.
const TRICKY: &str = " \n\r\t\",'`\\{}[]:=+-@.!$|0135\0\u{00A0}\u{3000}\u{2028}\u{0301}\u{0E49}\u{200B}\
    \u{200D}\u{FEFF}\u{00AD}\u{0430}\u{0455}\u{0456}\u{03BF}\u{FF53}\u{FF1D}\u{1D42C}\u{24E2}\u{1F1F8}\
    \u{FDFA}\u{3371}\u{00DF}\u{0130}\u{1E9E}\u{2019}\u{FFFD}\u{10FFFF}";

fn tricky_char() -> impl Strategy<Value = char> {
    prop_oneof![
        3 => prop::char::range('a', 'z'),
        3 => prop::sample::select(TRICKY.chars().collect::<Vec<_>>()),
        2 => any::<char>(),
    ]
}

fn text(max: usize) -> impl Strategy<Value = String> {
    prop::collection::vec(tricky_char(), 0..max).prop_map(String::from_iter)
}

// ---------------------------------------------------------------------------------------------
// WebSocket client frames

fn json_key() -> impl Strategy<Value = String> {
    prop_oneof![Just("type".to_string()), Just("text".to_string()), text(6)]
}

fn json_value() -> impl Strategy<Value = Value> {
    let leaf = prop_oneof![
        Just(Value::Null),
        any::<bool>().prop_map(Value::from),
        any::<i64>().prop_map(Value::from),
        any::<f64>().prop_map(Value::from),
        Just(Value::from("message")),
        text(24).prop_map(Value::from),
    ];
    leaf.prop_recursive(3, 24, 4, |inner| {
        prop_oneof![
            prop::collection::vec(inner.clone(), 0..4).prop_map(Value::Array),
            prop::collection::vec((json_key(), inner), 0..4)
                .prop_map(|kv| Value::Object(kv.into_iter().collect())),
        ]
    })
}

/// Frames shaped like what clients send, as JSON text, some with a key twice, some cut short.
fn frame() -> impl Strategy<Value = String> {
    let ty = prop::option::of(prop_oneof![3 => Just(Value::from("message")), 1 => json_value()]);
    let text_field = prop::option::of(prop_oneof![3 => text(40).prop_map(Value::from), 1 => json_value()]);
    let extra = prop::collection::vec((json_key(), json_value()), 0..3);
    let obj = (extra, ty, text_field).prop_map(|(extra, ty, text)| {
        let mut m: serde_json::Map<String, Value> = extra.into_iter().collect();
        m.extend(ty.map(|v| ("type".to_string(), v)));
        m.extend(text.map(|v| ("text".to_string(), v)));
        Value::Object(m).to_string()
    });
    let twice = (json_value(), json_value())
        .prop_map(|(a, b)| format!(r#"{{"text":{a},"type":"message","text":{b}}}"#));
    let whole = prop_oneof![4 => obj, 1 => twice, 1 => json_value().prop_map(|v| v.to_string())];
    (whole, prop::option::of(any::<prop::sample::Index>())).prop_map(|(s, cut)| match cut {
        Some(cut) => {
            let at = cut.index(s.len() + 1);
            let at = (at..=s.len()).find(|&i| s.is_char_boundary(i)).unwrap_or(s.len());
            s[..at].to_string()
        }
        None => s,
    })
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(1024))]

    #[test]
    fn frame_parser_on_any_text(s in text(80)) {
        props::ws_frame(&s);
    }

    #[test]
    fn frame_parser_on_json_frames(s in frame()) {
        props::ws_frame(&s);
    }
}

// ---------------------------------------------------------------------------------------------
// Moderation

/// Time for one `find` on the amplified text. A linear matcher needs a few hundred milliseconds
/// for 64 KiB in a debug build; a quadratic one needs minutes. The margin absorbs shared CI cores.
const HUGE: usize = 64 << 10;
const HUGE_BUDGET: Duration = Duration::from_secs(5);

proptest! {
    #![proptest_config(ProptestConfig::with_cases(512))]

    #[test]
    fn matcher_on_any_text(s in text(200)) {
        props::moderation_any(&DEFAULT, None, &s);
    }

    /// In the fuzz targets' input format: a control byte, then `list 0xFF message`.
    #[test]
    fn matcher_on_custom_lists(list in prop::collection::vec(text(12), 1..6), s in text(120)) {
        let input = [&[1], list.join("\n").as_bytes(), &[props::FIELD], s.as_bytes()].concat();
        props::moderation_input(&DEFAULT, &input, |matcher, list, text| {
            assert!(list.is_some());
            props::moderation_any(matcher, list, text);
        });
    }

    #[test]
    fn default_term_in_clean_context_is_found(
        term in 0..DEFAULT_TERMS.len(),
        case in 0u8..3,
        sep in prop::sample::select(props::SEPARATORS),
        before in text(40),
        after in text(40),
    ) {
        props::term_in_context(&DEFAULT, term, case, sep, &before, &after);
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(32))]

    #[test]
    fn matcher_is_fast_on_huge_text(pattern in text(12)) {
        let huge = props::amplify(&pattern, HUGE);
        let start = Instant::now();
        props::moderation_any(&DEFAULT, None, &huge);
        let took = start.elapsed();
        prop_assert!(took < HUGE_BUDGET, "{took:?} for {} bytes of {pattern:?}", huge.len());
    }
}

// ---------------------------------------------------------------------------------------------
// CSV export

proptest! {
    #![proptest_config(ProptestConfig::with_cases(512))]

    #[test]
    fn export_cells_round_trip(cells in prop::collection::vec(text(24), 0..15), raw in any::<bool>()) {
        props::export_round_trip(&props::Rows::from_cells(&cells), raw);
    }

    /// The fuzz targets' input format, invalid UTF-8 included.
    #[test]
    fn export_cells_from_bytes_round_trip(bytes in prop::collection::vec(any::<u8>(), 0..120), raw in any::<bool>()) {
        props::export_round_trip(&props::Rows::from_cells(&props::fields(&bytes)), raw);
    }
}

// ---------------------------------------------------------------------------------------------
// JWT verification

/// Text that looks like a JWT: one to four base64url-ish segments.
fn token_like() -> impl Strategy<Value = String> {
    let segment = prop::collection::vec(
        prop::sample::select(b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_=".as_slice()),
        0..60,
    )
    .prop_map(|v| String::from_utf8(v).unwrap_or_default());
    prop::collection::vec(segment, 1..5).prop_map(|s| s.join("."))
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(512))]

    #[test]
    fn random_text_never_verifies(s in prop_oneof![text(300), token_like()]) {
        props::jwt_candidate(&TOKENS, &s);
    }

    #[test]
    fn mutated_tokens_never_verify(ops in prop::collection::vec(any::<u8>(), 4..40)) {
        props::jwt_mutated(&TOKENS, &ops);
    }
}

/// Exhaustive rather than random: every one-character substitution anywhere in a valid token
/// (base64url alphabet, padding, separators). Catches a decoder that ignores the unused low bits
/// of a segment's last character, which would let a second spelling of our token verify.
#[test]
fn every_one_character_substitution_is_rejected() {
    for pos in 0..u16::try_from(TOKENS.valid.len()).expect("a short token") {
        let [hi, lo] = pos.to_be_bytes();
        for val in 0..props::SUBSTITUTES.len() as u8 {
            props::jwt_mutated(&TOKENS, &[8, hi, lo, val]);
        }
    }
}

#[test]
fn our_own_token_verifies() {
    props::jwt_candidate(&TOKENS, &TOKENS.valid);
    props::jwt_mutated(&TOKENS, &[]);
}
