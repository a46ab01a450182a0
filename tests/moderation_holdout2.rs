//! Second held-out measurement of the word filter, written without seeing the matcher or any
//! earlier test set, after the matcher's last changes, and measured once before anyone looked at
//! its misses: the honest estimate for unseen text that README quotes. It now guards the goals
//! (at least 95 % of the evasions caught, at most 2 % of the clean chat flagged) so a later
//! change cannot quietly fall below them; nothing in the matcher was tuned to it.
//!
//! Data (tests/moderation_holdout2/):
//! * `evasions.txt`: `category<TAB>text`, one evasion per line, each read at a glance as a listed
//!   word; `||` separates consecutive messages of one user. Goal: >= 95 % caught.
//! * `clean_chat.txt`: one everyday message per line holding no listed word. Goal: <= 2 % flagged.
//!
//! In both files `#` starts a comment line and `\u{XXXX}` stands for one character.
//!
//! Run: `cargo test --test moderation_holdout2 -- --nocapture`

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::time::{Duration, Instant};

use chatterbox::chat::moderation::{Matcher, Tails};

#[path = "support/escapes.rs"]
mod escapes;
use escapes::unescape;

fn data_path(name: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests").join("moderation_holdout2").join(name)
}

/// The case lines of a data file: no blank lines, no `#` comments; (line number, raw text).
fn case_lines(name: &str) -> Vec<(usize, String)> {
    let path = data_path(name);
    let text = std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("reading {}: {e}", path.display()));
    text.lines()
        .enumerate()
        .filter(|(_, l)| !l.trim().is_empty() && !l.starts_with('#'))
        .map(|(i, l)| (i + 1, l.to_string()))
        .collect()
}

/// A message list with invisible and non-ASCII characters shown as `\u{XXXX}`, for the report.
fn visible(s: &str) -> String {
    s.chars()
        .map(|c| {
            if c.is_ascii() && !c.is_ascii_control() {
                c.to_string()
            } else {
                format!("\\u{{{:04X}}}", c as u32)
            }
        })
        .collect()
}

fn pct(n: usize, d: usize) -> f64 {
    if d == 0 {
        0.0
    } else {
        100.0 * n as f64 / d as f64
    }
}

fn new_tails() -> Tails {
    Tails::new(16, Duration::from_secs(30))
}

#[test]
fn holdout2_evasions_and_clean_chat() {
    let matcher = Matcher::default_terms();

    // ---------------------------------------------------------------- evasions
    let evasions = case_lines("evasions.txt");
    let tails = new_tails();
    let mut user_id: i64 = 1_000_000;
    // category -> (caught, total)
    let mut per_category: BTreeMap<String, (usize, usize)> = BTreeMap::new();
    let mut misses: Vec<(usize, String, String)> = Vec::new();
    let mut caught_terms: BTreeMap<String, usize> = BTreeMap::new();
    for (line_no, line) in &evasions {
        let (category, raw) = line
            .split_once('\t')
            .unwrap_or_else(|| panic!("evasions.txt:{line_no}: expected category<TAB>text, got {line:?}"));
        user_id += 1;
        let mut hit: Option<String> = None;
        for part in raw.split("||") {
            let message = unescape(part);
            if let Some(term) = tails.screen(&matcher, user_id, &message, Instant::now()) {
                if hit.is_none() {
                    hit = Some(term.to_string());
                }
            }
        }
        let entry = per_category.entry(category.to_string()).or_insert((0, 0));
        entry.1 += 1;
        match hit {
            Some(term) => {
                entry.0 += 1;
                *caught_terms.entry(term).or_insert(0) += 1;
            }
            None => misses.push((*line_no, category.to_string(), raw.to_string())),
        }
    }
    let total = evasions.len();
    let caught: usize = per_category.values().map(|(c, _)| c).sum();

    println!();
    println!("=== held-out 2: evasions ({total} lines) ===");
    println!("{:<22} {:>7} {:>7} {:>8}", "category", "caught", "total", "rate");
    for (category, (c, t)) in &per_category {
        println!("{:<22} {:>7} {:>7} {:>7.1}%", category, c, t, pct(*c, *t));
    }
    println!("{:<22} {:>7} {:>7} {:>7.1}%   (goal >= 95 %)", "OVERALL", caught, total, pct(caught, total));
    println!();
    println!("--- missed evasions ({}) ---", misses.len());
    for (line_no, category, raw) in &misses {
        let shown: Vec<String> = raw.split("||").map(|p| visible(&unescape(p))).collect();
        println!("evasions.txt:{line_no} [{category}] {}", shown.join(" || "));
    }
    println!();
    println!("--- terms reported for caught evasions ---");
    for (term, n) in &caught_terms {
        println!("{term}: {n}");
    }

    // ---------------------------------------------------------------- clean chat
    let clean = case_lines("clean_chat.txt");
    let messages: Vec<(usize, String)> =
        clean.iter().flat_map(|(n, l)| l.split("||").map(move |p| (*n, unescape(p)))).collect();

    // (a) each message from a fresh user.
    let tails = new_tails();
    let mut fresh_fp: Vec<(usize, String, String)> = Vec::new();
    for (line_no, message) in &messages {
        user_id += 1;
        if let Some(term) = tails.screen(&matcher, user_id, message, Instant::now()) {
            fresh_fp.push((*line_no, message.clone(), term.to_string()));
        }
    }

    // (b) the whole set as one user's stream, in file order.
    let tails = new_tails();
    user_id += 1;
    let stream_user = user_id;
    let mut stream_fp: Vec<(usize, String, String)> = Vec::new();
    for (line_no, message) in &messages {
        if let Some(term) = tails.screen(&matcher, stream_user, message, Instant::now()) {
            stream_fp.push((*line_no, message.clone(), term.to_string()));
        }
    }

    let n = messages.len();
    println!();
    println!("=== held-out 2: clean chat ({n} messages) ===");
    println!(
        "each message as a fresh user: {} flagged = {:.1}%   (goal <= 2 %)",
        fresh_fp.len(),
        pct(fresh_fp.len(), n)
    );
    println!(
        "all messages as one user's stream: {} flagged = {:.1}%",
        stream_fp.len(),
        pct(stream_fp.len(), n)
    );
    println!();
    println!("--- false positives, fresh user per message ({}) ---", fresh_fp.len());
    for (line_no, message, term) in &fresh_fp {
        println!("clean_chat.txt:{line_no} -> {term:?}: {}", visible(message));
    }
    println!();
    println!("--- false positives, one user's stream ({}) ---", stream_fp.len());
    for (line_no, message, term) in &stream_fp {
        println!("clean_chat.txt:{line_no} -> {term:?}: {}", visible(message));
    }
    println!();
    assert!(pct(caught, total) >= 95.0, "{caught} of {total} evasions caught: under the 95 % goal");
    for (how, fps) in [("one message each", &fresh_fp), ("as one user's stream", &stream_fp)] {
        assert!(
            pct(fps.len(), n) <= 2.0,
            "{} of {n} clean messages flagged {how}: over the 2 % goal",
            fps.len()
        );
    }
}
