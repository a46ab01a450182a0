//! Measures the moderation matcher on the evaluation sets in tests/moderation/ and holds it to
//! its goals: at least 95 % of the evasions caught, at most 2 % of everyday chat and of names
//! flagged, no prose flagged. `cargo test --test moderation_eval -- --nocapture` prints the
//! figures that README's Moderation section quotes.

use std::{
    collections::BTreeMap,
    time::{Duration, Instant},
};

use chatterbox::chat::moderation::{Matcher, Tails};

#[path = "support/escapes.rs"]
mod escapes;
use escapes::unescape;

/// The non-comment, non-blank lines of `tests/moderation/{name}`, with `\u{XXXX}` decoded.
fn lines(name: &str) -> Vec<String> {
    let path = format!("{}/tests/moderation/{name}", env!("CARGO_MANIFEST_DIR"));
    let text = std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{path}: {e}"));
    text.lines().filter(|l| !l.trim().is_empty() && !l.starts_with('#')).map(unescape).collect()
}

/// Sends `messages` as one user, one after the other, through the same screening `Chat::post`
/// uses; returns the term of the first refused message.
fn screen(matcher: &Matcher, messages: &[&str]) -> Option<String> {
    let tails = Tails::new(16, Duration::from_secs(30));
    let now = Instant::now();
    messages.iter().find_map(|m| tails.screen(matcher, 1, m, now).map(str::to_string))
}

fn flagged<'a>(matcher: &Matcher, texts: &'a [String]) -> Vec<(&'a str, String)> {
    texts.iter().filter_map(|t| matcher.find(t).map(|term| (t.as_str(), term.to_string()))).collect()
}

fn percent(n: usize, of: usize) -> f64 {
    100.0 * n as f64 / of.max(1) as f64
}

#[test]
fn the_default_list_meets_the_goals_on_the_evaluation_sets() {
    let matcher = Matcher::default_terms();

    let evasions = lines("evasions.txt");
    let mut by_category: BTreeMap<String, (usize, usize)> = BTreeMap::new();
    let mut missed = Vec::new();
    for line in &evasions {
        let (category, text) = line.split_once('\t').expect("category<TAB>text");
        let messages: Vec<&str> = text.split("||").collect();
        let caught = screen(&matcher, &messages).is_some();
        let slot = by_category.entry(category.to_string()).or_default();
        slot.1 += 1;
        if caught {
            slot.0 += 1;
        } else {
            missed.push(format!("{category}: {text:?}"));
        }
    }
    let caught = evasions.len() - missed.len();
    println!("evasions caught: {caught} of {} ({:.1} %)", evasions.len(), percent(caught, evasions.len()));
    for (category, (c, n)) in &by_category {
        println!("  {category:<26} {c:>3} of {n:>3}");
    }
    for m in &missed {
        println!("  missed {m}");
    }

    let report = |name: &str| {
        let texts = lines(name);
        let hits = flagged(&matcher, &texts);
        println!(
            "{name}: {} of {} flagged ({:.1} %)",
            hits.len(),
            texts.len(),
            percent(hits.len(), texts.len())
        );
        for (text, term) in &hits {
            println!("  flagged {text:?} as {term:?}");
        }
        (hits.len(), texts.len())
    };
    // Cost, for the record only (no timing asserts): everyday messages and 2,000-character
    // adversarial ones.
    let everyday = [lines("clean_chat.txt"), lines("prose.txt")].concat();
    let start = Instant::now();
    everyday.iter().for_each(|t| {
        std::hint::black_box(matcher.find(t));
    });
    let per_message = start.elapsed() / everyday.len() as u32;
    let adversarial: Vec<String> = ["fu ", "sh.", "i1", "f*", "shi", "a s ", "$5@", "ab-", "\u{202E}kc"]
        .iter()
        .map(|p| p.repeat(2000).chars().take(2000).collect())
        .collect();
    let start = Instant::now();
    adversarial.iter().for_each(|t| {
        std::hint::black_box(matcher.find(t));
    });
    let per_worst = start.elapsed() / adversarial.len() as u32;
    println!("time per everyday message {per_message:?}, per 2,000-character adversarial one {per_worst:?}");

    let clean = report("clean_chat.txt");
    let names = report("names.txt");
    let prose = report("prose.txt");

    // Which words the default list leaves out, and why: innocent uses of each listed word.
    let original = Matcher::original_terms();
    let innocent: Vec<(String, String)> = lines("innocent_use.txt")
        .iter()
        .map(|l| {
            let (term, text) = l.split_once('\t').expect("term<TAB>text");
            (term.to_string(), text.to_string())
        })
        .collect();
    for (label, m) in [("default", &matcher), ("original", &original)] {
        let mut per_term: BTreeMap<&str, (usize, usize)> = BTreeMap::new();
        for (term, text) in &innocent {
            let slot = per_term.entry(term).or_default();
            slot.1 += 1;
            slot.0 += usize::from(m.find(text).is_some());
        }
        let hits: usize = per_term.values().map(|(h, _)| h).sum();
        let detail: Vec<String> = per_term.iter().map(|(t, (h, n))| format!("{t} {h}/{n}")).collect();
        println!(
            "innocent uses flagged by the {label} list: {hits} of {} ({})",
            innocent.len(),
            detail.join(", ")
        );
    }

    assert!(evasions.len() >= 300 && clean.1 >= 300 && names.1 >= 200 && prose.1 >= 300);
    assert!(percent(caught, evasions.len()) >= 95.0, "caught only {caught} of {}", evasions.len());
    assert!(percent(clean.0, clean.1) <= 2.0, "{} of {} everyday messages flagged", clean.0, clean.1);
    assert!(percent(names.0, names.1) <= 2.0, "{} of {} names flagged", names.0, names.1);
    assert_eq!(prose.0, 0, "prose flagged");
}

/// Every word of a system dictionary (Debian's `wamerican`, /usr/share/dict/words, which
/// `.ci/install-deps` installs) that the default list flags must be a listed word, one of its
/// inflections or the name Dick: `tests/moderation/dictionary_flagged.txt` holds those, reviewed
/// by hand. A newer dictionary may drop words (no failure) or add them (a failure to review).
/// `DICTIONARY=FILE` checks another word list; `--nocapture` prints every flagged word.
#[test]
fn no_dictionary_word_is_flagged_but_listed_words_and_their_inflections() {
    let path = std::env::var("DICTIONARY").unwrap_or_else(|_| "/usr/share/dict/words".to_string());
    let text = std::fs::read_to_string(&path).unwrap_or_else(|e| {
        panic!("{path}: {e} (install Debian's wamerican: bash .ci/install-deps, or set DICTIONARY)")
    });
    let known: std::collections::HashSet<String> = lines("dictionary_flagged.txt")
        .iter()
        .map(|l| l.split('\t').next().unwrap_or_default().to_string())
        .collect();
    let matcher = Matcher::default_terms();
    let words: Vec<&str> = text.lines().filter(|w| !w.is_empty()).collect();
    let hits: Vec<(&str, &str)> = words.iter().filter_map(|w| matcher.find(w).map(|t| (*w, t))).collect();
    println!("{path}: {} of {} words flagged", hits.len(), words.len());
    for (word, term) in &hits {
        println!("  {word}\t{term}");
    }
    let unexpected: Vec<_> = hits.iter().filter(|(w, _)| !known.contains(*w)).collect();
    assert!(unexpected.is_empty(), "dictionary words flagged that are not listed words: {unexpected:?}");
}
