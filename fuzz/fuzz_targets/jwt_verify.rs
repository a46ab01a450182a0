//! Fuzz target: only the exact token we signed verifies. Neither arbitrary text nor any mutation
//! of a valid token (byte edits, another key's signature, forged headers or claims) passes.
//!
//! Input: one control byte. Even: the rest is a token to verify. Odd: the rest is a list of
//! 4-byte edits applied to a freshly signed token (see `chatterbox_fuzz::mutate`).
#![no_main]

use std::sync::LazyLock;

use chatterbox_fuzz::Tokens;
use libfuzzer_sys::fuzz_target;

static TOKENS: LazyLock<Tokens> = LazyLock::new(Tokens::new);

fuzz_target!(|data: &[u8]| {
    let Some((&ctrl, rest)) = data.split_first() else { return };
    if ctrl & 1 == 0 {
        chatterbox_fuzz::jwt_candidate(&TOKENS, &String::from_utf8_lossy(rest));
    } else {
        chatterbox_fuzz::jwt_mutated(&TOKENS, rest);
    }
});
