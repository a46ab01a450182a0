//! Fuzz target: the moderation matcher never panics on any text, with the default list or with a
//! fuzzed blocklist. (Huge inputs and their running time are moderation_huge's job.)
//!
//! Input: one control byte, then the text. Control bit 0 set: the text is `list 0xFF message`
//! and the list is parsed as a blocklist file.
#![no_main]

use std::sync::LazyLock;

use chatterbox::chat::moderation::Matcher;
use libfuzzer_sys::fuzz_target;

static DEFAULT: LazyLock<Matcher> = LazyLock::new(Matcher::default_terms);

fuzz_target!(|data: &[u8]| {
    chatterbox_fuzz::moderation_input(&DEFAULT, data, |matcher, list, text| {
        chatterbox_fuzz::moderation_any(matcher, list, text);
    });
});
