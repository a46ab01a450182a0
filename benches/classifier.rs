//! Classifier benchmark: what the learned classifier (`chat::classifier`) costs per message, on
//! realistic chat (the evaluation sets of tests/moderation/ and the insults of
//! tests/classifier/) and on 2,000-character messages, plus the time to load the embedded model.
//!
//! `cargo bench --bench classifier -- [--rounds N]`
//! Each text is scored `rounds` times; the table gives p50, p99 and the maximum per message in
//! microseconds.

use std::time::{Duration, Instant};

use chatterbox::chat::classifier::Classifier;

#[path = "support/per_call.rs"]
mod per_call;

/// The longest messages the chat accepts (2,000 characters): prose, one word again and again,
/// emoji, CJK, and letters with combining marks (the slow paths of the tokeniser).
fn long() -> Vec<String> {
    ["the quick brown fox jumps over the lazy dog ", "idiot ", "😀", "連絡ください ", "e\u{301}"]
        .iter()
        .map(|piece| piece.repeat(2000).chars().take(2000).collect())
        .collect()
}

fn main() {
    let rounds = per_call::rounds(200);
    let mut loads: Vec<Duration> = (0..20)
        .map(|_| {
            let started = Instant::now();
            std::hint::black_box(Classifier::embedded());
            started.elapsed()
        })
        .collect();
    loads.sort_unstable();
    let ms = |d: Duration| d.as_secs_f64() * 1e3;
    println!("model load: median {:.2} ms, max {:.2} ms", ms(loads[10]), ms(loads[19]));
    let classifier = Classifier::embedded();
    let mut chat = per_call::messages("moderation/clean_chat.txt");
    chat.extend(per_call::messages("moderation/holdout_clean_chat.txt"));
    let sets = [
        ("everyday chat", chat),
        ("insults", per_call::messages("classifier/insults.txt")),
        ("evasions", per_call::messages("moderation/evasions.txt")),
        ("prose", per_call::messages("moderation/prose.txt")),
        ("2,000 characters", long()),
    ];
    per_call::header("classifier score", rounds);
    for (name, texts) in &sets {
        per_call::row(name, texts, rounds, |_, _, text| {
            std::hint::black_box(classifier.score(text));
        });
    }
}
