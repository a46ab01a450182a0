//! Held-out measurement of the word filter: sets written without seeing the matcher's code or
//! its other test sets (tests/moderation/holdout_*.txt). Prints the catch rate per category,
//! every miss and every false positive, and holds the matcher to the goals: >= 95 % of evasions
//! caught, <= 2 % false positives on clean chat, alone or as one user's stream. The matcher was
//! then improved on these misses (91.9 % caught before), so the sets are no longer unseen: they
//! now guard against regressions, and a fresh held-out set is needed for an honest estimate.
//!
//! Run: `cargo test --test moderation_holdout -- --nocapture` (`HOLDOUT_VERBOSE=1` to list every
//! evasion with the term found)
//!
//! File format: one case per line; blank lines and lines starting with `#` are skipped;
//! `\u{XXXX}` stands for that character; evasions are `category<TAB>text`; `||` separates
//! messages sent in a row by the same user (screened with `Tails`).

use std::{
    collections::BTreeMap,
    path::PathBuf,
    time::{Duration, Instant},
};

use chatterbox::chat::moderation::{Matcher, Tails};

#[path = "support/escapes.rs"]
mod escapes;
use escapes::unescape;

fn path(name: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/moderation").join(name)
}

/// The case lines of a file (comments and blank lines dropped), with their line numbers.
fn lines(name: &str) -> Vec<(usize, String)> {
    let text = std::fs::read_to_string(path(name)).unwrap_or_else(|e| panic!("{name}: {e}"));
    text.lines()
        .enumerate()
        .map(|(i, l)| (i + 1, l.trim_end_matches('\r')))
        .filter(|(_, l)| !l.trim().is_empty() && !l.trim_start().starts_with('#'))
        .map(|(n, l)| (n, l.to_string()))
        .collect()
}

/// Screens one case as a fresh user: a single message with `Matcher::find`, several messages
/// (`||`) one after the other, 2 s apart, through `Tails::screen`. Returns the term found.
fn screen(matcher: &Matcher, tails: &mut Tails, user: i64, case: &str) -> Option<String> {
    let parts: Vec<String> = case.split("||").map(unescape).collect();
    if parts.len() == 1 {
        return matcher.find(&parts[0]).map(str::to_string);
    }
    let start = Instant::now();
    for (i, part) in parts.iter().enumerate() {
        let now = start + Duration::from_secs(2 * i as u64);
        if let Some(term) = tails.screen(matcher, user, part, now) {
            return Some(term.to_string());
        }
    }
    None
}

fn pct(n: usize, d: usize) -> f64 {
    if d == 0 {
        0.0
    } else {
        100.0 * n as f64 / d as f64
    }
}

/// False positives of one clean file, each message screened alone.
fn false_positives(matcher: &Matcher, name: &str) -> (usize, Vec<(usize, String, String)>) {
    let mut tails = Tails::new(16, Duration::from_secs(30));
    let cases = lines(name);
    let mut flagged = Vec::new();
    for (i, (line, case)) in cases.iter().enumerate() {
        if let Some(term) = screen(matcher, &mut tails, 1_000_000 + i as i64, case) {
            flagged.push((*line, case.clone(), term));
        }
    }
    (cases.len(), flagged)
}

#[test]
fn holdout_figures() {
    let matcher = Matcher::default_terms();
    // HOLDOUT_VERBOSE=1 also prints the term found for every evasion (to check that each line is
    // caught for its intended word, not for something else in the sentence).
    let verbose = std::env::var_os("HOLDOUT_VERBOSE").is_some();

    // ---- Evasions ----
    let mut tails = Tails::new(16, Duration::from_secs(30));
    let mut per_cat: BTreeMap<String, (usize, usize)> = BTreeMap::new();
    let mut misses = Vec::new();
    let cases = lines("holdout_evasions.txt");
    for (i, (line, case)) in cases.iter().enumerate() {
        let (cat, text) = case
            .split_once('\t')
            .unwrap_or_else(|| panic!("holdout_evasions.txt:{line}: no TAB between category and text"));
        let found = screen(&matcher, &mut tails, i as i64 + 1, text);
        if verbose {
            println!("line {line:>4}  {:<12} {:<14} {text}", cat.trim(), found.as_deref().unwrap_or("-"));
        }
        let e = per_cat.entry(cat.trim().to_string()).or_default();
        e.1 += 1;
        if found.is_some() {
            e.0 += 1;
        } else {
            misses.push((*line, cat.trim().to_string(), text.to_string()));
        }
    }
    let total: usize = per_cat.values().map(|v| v.1).sum();
    let caught: usize = per_cat.values().map(|v| v.0).sum();
    println!("\n=== Held-out evasions (tests/moderation/holdout_evasions.txt) ===");
    println!("{:<14} {:>6} {:>6} {:>8}", "category", "caught", "total", "rate");
    for (cat, (c, t)) in &per_cat {
        println!("{:<14} {:>6} {:>6} {:>7.1}%", cat, c, t, pct(*c, *t));
    }
    println!("{:<14} {:>6} {:>6} {:>7.1}%  (goal >= 95 %)", "OVERALL", caught, total, pct(caught, total));
    println!("\n--- Misses ({}) ---", misses.len());
    for (line, cat, text) in &misses {
        println!("line {line:>4}  {cat:<12} {text}   [{:?}]", unescape(text));
    }

    // ---- Clean chat and names: false positives ----
    let mut clean_rate = 0.0;
    for (name, goal) in [("holdout_clean_chat.txt", "goal <= 2 %"), ("holdout_names.txt", "names")] {
        let (n, flagged) = false_positives(&matcher, name);
        if name == "holdout_clean_chat.txt" {
            clean_rate = pct(flagged.len(), n);
        }
        println!(
            "\n=== False positives, {name}: {} of {n} = {:.1}%  ({goal}) ===",
            flagged.len(),
            pct(flagged.len(), n)
        );
        for (line, text, term) in &flagged {
            println!("line {line:>4}  [{term}]  {text}   [{:?}]", unescape(text));
        }
    }

    // ---- Clean chat sent as one user's conversation (consecutive messages, 3 s apart) ----
    let tails = Tails::new(16, Duration::from_secs(30));
    let start = Instant::now();
    let mut stream_flagged = Vec::new();
    let chat = lines("holdout_clean_chat.txt");
    for (i, (line, case)) in chat.iter().enumerate() {
        let now = start + Duration::from_secs(3 * i as u64);
        for part in case.split("||").map(unescape) {
            if let Some(term) = tails.screen(&matcher, 42, &part, now) {
                stream_flagged.push((*line, case.clone(), term.to_string()));
                break;
            }
        }
    }
    println!(
        "\n=== False positives, holdout_clean_chat.txt as one user's stream (Tails): {} of {} = {:.1}% ===",
        stream_flagged.len(),
        chat.len(),
        pct(stream_flagged.len(), chat.len())
    );
    for (line, text, term) in &stream_flagged {
        println!("line {line:>4}  [{term}]  {text}");
    }

    assert!(total >= 400 && chat.len() >= 300, "held-out sets too small");
    assert!(pct(caught, total) >= 95.0, "caught only {caught} of {total} held-out evasions");
    assert!(clean_rate <= 2.0, "{clean_rate:.1} % of held-out clean chat flagged");
    let stream_rate = pct(stream_flagged.len(), chat.len());
    assert!(stream_rate <= 2.0, "{stream_rate:.1} % of held-out clean chat flagged as one stream");
}
