//! Fuzz target: a default blocklist term written as a whole word inside otherwise clean text is
//! always found.
//!
//! Input: term index, case (as listed, upper, capitalised) and separator choice bytes, then
//! `before 0xFF after`: the text around the term.
#![no_main]

use std::sync::LazyLock;

use chatterbox::chat::moderation::Matcher;
use chatterbox_fuzz::SEPARATORS;
use libfuzzer_sys::fuzz_target;

static DEFAULT: LazyLock<Matcher> = LazyLock::new(Matcher::default_terms);

fuzz_target!(|data: &[u8]| {
    let [term, case, sep, rest @ ..] = data else { return };
    let f = chatterbox_fuzz::fields(rest);
    let (before, after) = (f.first().map_or("", String::as_str), f.get(1).map_or("", String::as_str));
    let sep = SEPARATORS[usize::from(*sep) % SEPARATORS.len()];
    chatterbox_fuzz::term_in_context(&DEFAULT, usize::from(*term), *case, sep, before, after);
});
