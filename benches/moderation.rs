//! Moderation benchmark: what the word-list check costs per message, on the evaluation sets
//! (everyday chat, names, prose, evasions) and on adversarial 2,000-character messages.
//!
//! `cargo bench --bench moderation -- [--rounds N]`
//! Each text is checked `rounds` times; the table gives p50, p99 and the maximum of the
//! per-check time in microseconds, with the whole screening path `Chat::post` uses (the
//! matcher plus the two-message tail).

use std::time::{Duration, Instant};

use chatterbox::chat::moderation::{Matcher, Tails};

#[path = "../tests/support/escapes.rs"]
mod escapes;
use escapes::unescape;

fn arg(args: &[String], name: &str, default: u64) -> u64 {
    args.windows(2).find(|w| w[0] == name).and_then(|w| w[1].parse().ok()).unwrap_or(default)
}

/// The texts of one evaluation set, with `\u{XXXX}` escapes decoded and the category column and
/// the two-message separator of the evasion set dropped.
fn set(name: &str) -> Vec<String> {
    let path = format!("{}/tests/moderation/{name}", env!("CARGO_MANIFEST_DIR"));
    let text = std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{path}: {e}"));
    let mut out = Vec::new();
    for line in text.lines().filter(|l| !l.trim().is_empty() && !l.starts_with('#')) {
        let line = line.split_once('\t').map_or(line, |(_, t)| t);
        for part in line.split("||") {
            out.push(unescape(part));
        }
    }
    out
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

fn micros(d: Duration) -> f64 {
    d.as_secs_f64() * 1e6
}

fn main() {
    let args: Vec<String> = std::env::args().collect();
    let rounds = arg(&args, "--rounds", 200).max(1) as usize;
    let matcher = Matcher::default_terms();
    let tails = Tails::new(10_000, Duration::from_secs(30));
    let sets = [
        ("everyday chat", set("clean_chat.txt")),
        ("names", set("names.txt")),
        ("prose", set("prose.txt")),
        ("evasions", set("evasions.txt")),
        ("adversarial 2,000 chars", adversarial()),
    ];
    println!("moderation check per message, {rounds} rounds, release build expected");
    println!("{:<26} {:>6} {:>10} {:>10} {:>10}", "set", "texts", "p50 µs", "p99 µs", "max µs");
    for (name, texts) in &sets {
        let mut times = Vec::with_capacity(texts.len() * rounds);
        for round in 0..rounds {
            for (i, text) in texts.iter().enumerate() {
                // A different user per text and round, so the tail of one text never joins the
                // next: every check is a first message's, the common case.
                let user = (round * texts.len() + i) as i64;
                let started = Instant::now();
                std::hint::black_box(tails.screen(&matcher, user, text, started));
                times.push(started.elapsed());
            }
        }
        times.sort_unstable();
        let at = |q: f64| times[((times.len() - 1) as f64 * q) as usize];
        println!(
            "{:<26} {:>6} {:>10.1} {:>10.1} {:>10.1}",
            name,
            texts.len(),
            micros(at(0.5)),
            micros(at(0.99)),
            micros(*times.last().expect("texts"))
        );
    }
}
