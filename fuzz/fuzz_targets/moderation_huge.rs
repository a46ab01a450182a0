//! Fuzz target: the moderation matcher stays linear on huge and pathological Unicode. The
//! fuzzed text is repeated up to 128 KiB; run with -timeout, which fails the run on a slow input.
//!
//! Input: as for the moderation target (control byte, bit 0: `list 0xFF message`).
#![no_main]

use std::sync::LazyLock;

use chatterbox::chat::moderation::Matcher;
use libfuzzer_sys::fuzz_target;

static DEFAULT: LazyLock<Matcher> = LazyLock::new(Matcher::default_terms);

/// Linear work on this much text takes at most a few seconds even in an ASan build, while a
/// quadratic walk takes minutes.
const SIZE: usize = 128 << 10;

fuzz_target!(|data: &[u8]| {
    chatterbox_fuzz::moderation_input(&DEFAULT, data, |matcher, list, text| {
        chatterbox_fuzz::moderation_any(matcher, list, &chatterbox_fuzz::amplify(text, SIZE));
    });
});
