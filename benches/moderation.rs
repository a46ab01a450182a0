//! Moderation benchmark: what the word-list check costs per message, on the evaluation sets
//! (everyday chat, names, prose, evasions) and on adversarial 2,000-character messages.
//!
//! `cargo bench --bench moderation -- [--rounds N]`
//! Each text is checked `rounds` times; the table gives p50, p99 and the maximum of the
//! per-check time in microseconds, with the whole screening path `Chat::post` uses (the
//! matcher plus the two-message tail).

use std::time::{Duration, Instant};

use chatterbox::chat::moderation::{Matcher, Tails};

#[path = "support/per_call.rs"]
mod per_call;

/// The texts of one evaluation set.
fn set(name: &str) -> Vec<String> {
    per_call::messages(&format!("moderation/{name}"))
}

/// Messages built to make a matcher work hardest: runs of one-letter words, glued pieces,
/// stretched letters, masks, leet symbols, bidi overrides; each cut to the 2,000-character limit.
fn adversarial() -> Vec<String> {
    [
        "s ".repeat(1000),
        "fu ".repeat(667),
        "sh.".repeat(667),
        "i1".repeat(1000),
        "f*".repeat(1000),
        "shi".repeat(667),
        format!("s{}t", "h".repeat(1998)),
        "a s s ".repeat(333),
        "$5@".repeat(667),
        "fuc ".repeat(500),
        "\u{202E}".repeat(1000) + &"kc".repeat(500),
        "ab-".repeat(667),
        "ᏚᎻᏆᎢ ".repeat(400),
    ]
    .into_iter()
    .map(|t| t.chars().take(2000).collect())
    .collect()
}

fn main() {
    let rounds = per_call::rounds(200);
    let matcher = Matcher::default_terms();
    let tails = Tails::new(10_000, Duration::from_secs(30));
    let sets = [
        ("everyday chat", set("clean_chat.txt")),
        ("names", set("names.txt")),
        ("prose", set("prose.txt")),
        ("evasions", set("evasions.txt")),
        ("adversarial 2,000 chars", adversarial()),
    ];
    per_call::header("moderation check", rounds);
    for (name, texts) in &sets {
        per_call::row(name, texts, rounds, |round, i, text| {
            // A different user per text and round, so the tail of one text never joins the
            // next: every check is a first message's, the common case.
            let user = (round * texts.len() + i) as i64;
            std::hint::black_box(tails.screen(&matcher, user, text, Instant::now()));
        });
    }
}
