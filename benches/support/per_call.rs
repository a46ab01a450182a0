//! What the per-message benchmarks (moderation, classifier) share, included by each with
//! `#[path]`: their `--rounds` argument, the messages of a data file under tests/, and the table
//! of p50, p99 and maximum time per call.

use std::time::{Duration, Instant};

#[path = "../../tests/support/escapes.rs"]
mod escapes;

/// `--rounds N` (`default` when absent), at least 1.
pub fn rounds(default: usize) -> usize {
    let args: Vec<String> = std::env::args().collect();
    args.windows(2).find(|w| w[0] == "--rounds").and_then(|w| w[1].parse().ok()).unwrap_or(default).max(1)
}

/// The messages of a data file under tests/ (`tests/{path}`): `\u{XXXX}` escapes decoded, the
/// first column of `column<TAB>text` lines dropped, the two messages of `a||b` apart.
pub fn messages(path: &str) -> Vec<String> {
    let path = format!("{}/tests/{path}", env!("CARGO_MANIFEST_DIR"));
    let text = std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{path}: {e}"));
    let mut out = Vec::new();
    for line in text.lines().filter(|l| !l.trim().is_empty() && !l.starts_with('#')) {
        let line = line.split_once('\t').map_or(line, |(_, t)| t);
        out.extend(line.split("||").map(escapes::unescape));
    }
    out
}

pub fn header(what: &str, rounds: usize) {
    println!("{what} per message, {rounds} rounds, release build expected");
    println!("{:<26} {:>6} {:>10} {:>10} {:>10}", "set", "texts", "p50 µs", "p99 µs", "max µs");
}

/// Calls `f(round, index, text)` for every text, `rounds` times, and prints the set's row.
pub fn row(name: &str, texts: &[String], rounds: usize, mut f: impl FnMut(usize, usize, &str)) {
    let mut times = Vec::with_capacity(texts.len() * rounds);
    for round in 0..rounds {
        for (i, text) in texts.iter().enumerate() {
            let started = Instant::now();
            f(round, i, text);
            times.push(started.elapsed());
        }
    }
    times.sort_unstable();
    let micros = |d: Duration| d.as_secs_f64() * 1e6;
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
