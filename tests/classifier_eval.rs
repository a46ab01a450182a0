//! Measures the learned classifier (`chat::classifier`) beside the word list and holds it to
//! sane bounds at the default threshold: its hit rate on insults made of ordinary words
//! (tests/classifier/insults.txt), its agreement with the word list on tests/moderation/*.txt,
//! and its false positives on ordinary text: everyday chat, names, the prose sentences of
//! Debian's `fortunes` (tests/moderation/prose.txt) and sentences of random words from Debian's
//! `wamerican` list (/usr/share/dict/words, installed by .ci/install-deps).
//! `cargo test --release --test classifier_eval -- --nocapture` prints the figures README's
//! Classifier part quotes.

use chatterbox::chat::{
    classifier::{Classifier, DEFAULT_THRESHOLD},
    moderation::Matcher,
};

#[path = "support/escapes.rs"]
mod escapes;
use escapes::unescape;

/// The texts of a data file: non-comment, non-blank lines, `\u{XXXX}` decoded; of a
/// `first<TAB>second` line the column that holds the message; two messages sent in a row
/// (`||`) as one text.
fn texts(path: &str, column: usize) -> Vec<String> {
    let path = format!("{}/tests/{path}", env!("CARGO_MANIFEST_DIR"));
    let text = std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{path}: {e}"));
    text.lines()
        .filter(|l| !l.trim().is_empty() && !l.starts_with('#'))
        .map(|l| unescape(l.split('\t').nth(column).unwrap_or(l)).replace("||", " "))
        .collect()
}

/// Sentences of 4 to 14 words drawn from /usr/share/dict/words by a fixed generator, so every
/// run measures the same text.
fn dictionary_sentences(n: usize) -> Vec<String> {
    let path = "/usr/share/dict/words";
    let words = std::fs::read_to_string(path).unwrap_or_else(|e| {
        panic!("{path}: {e}: the false-positive measure needs Debian's wamerican word list (bash .ci/install-deps installs it)")
    });
    let words: Vec<&str> = words.lines().filter(|w| !w.is_empty()).collect();
    let mut state = 0x2545_f491_4f6c_dd1du64;
    let mut next = move || {
        state ^= state << 13;
        state ^= state >> 7;
        state ^= state << 17;
        state
    };
    (0..n)
        .map(|_| {
            let len = 4 + next() as usize % 11;
            (0..len).map(|_| words[next() as usize % words.len()]).collect::<Vec<_>>().join(" ")
        })
        .collect()
}

fn percent(n: usize, of: usize) -> f64 {
    100.0 * n as f64 / of.max(1) as f64
}

fn share(scores: &[f64], threshold: f64) -> usize {
    scores.iter().filter(|&&s| s >= threshold).count()
}

const THRESHOLDS: [f64; 9] = [0.5, 0.6, 0.65, 0.7, 0.75, 0.8, 0.85, 0.9, 0.95];

#[test]
fn the_classifier_flags_insults_and_little_ordinary_text() {
    let started = std::time::Instant::now();
    let classifier = Classifier::embedded();
    println!("model loaded in {:?}", started.elapsed());
    let matcher = Matcher::default_terms();
    let threshold = DEFAULT_THRESHOLD;

    let insults = texts("classifier/insults.txt", 0);
    let listed: Vec<_> =
        insults.iter().filter_map(|i| matcher.find(i).map(|t| format!("{i:?} ({t})"))).collect();
    assert!(listed.is_empty(), "on the word list, not insults of ordinary words: {}", listed.join(", "));
    let ordinary: Vec<(&str, Vec<String>)> = vec![
        ("everyday chat (clean_chat, holdout_clean_chat)", {
            let mut t = texts("moderation/clean_chat.txt", 0);
            t.extend(texts("moderation/holdout_clean_chat.txt", 0));
            t
        }),
        ("names (names, holdout_names)", {
            let mut t = texts("moderation/names.txt", 0);
            t.extend(texts("moderation/holdout_names.txt", 0));
            t
        }),
        ("innocent uses of listed words", texts("moderation/innocent_use.txt", 1)),
        ("prose (fortunes)", texts("moderation/prose.txt", 0)),
        ("wamerican sentences", {
            // A sentence that drew a listed word ("crap", "dick") is not ordinary text.
            dictionary_sentences(5000).into_iter().filter(|t| matcher.find(t).is_none()).collect()
        }),
    ];
    let score = |set: &[String]| set.iter().map(|t| classifier.score(t)).collect::<Vec<f64>>();
    let insult_scores = score(&insults);
    let ordinary_scores: Vec<Vec<f64>> = ordinary.iter().map(|(_, set)| score(set)).collect();

    let columns: Vec<String> = ordinary.iter().map(|(n, set)| format!("{n}: {}", set.len())).collect();
    println!("threshold  insults: {}  |  {}", insults.len(), columns.join("  |  "));
    for t in THRESHOLDS {
        let fps: Vec<String> = ordinary
            .iter()
            .zip(&ordinary_scores)
            .map(|((_, set), s)| format!("{:.1} %", percent(share(s, t), set.len())))
            .collect();
        println!(
            "{t:>9}  {:>5.1} %  {}",
            percent(share(&insult_scores, t), insults.len()),
            fps.join("  |  ")
        );
    }
    for (insult, s) in insults.iter().zip(&insult_scores).filter(|(_, &s)| s < threshold) {
        println!("  insult missed at {threshold}: {insult:?} ({s:.3})");
    }
    for ((name, set), scores) in ordinary.iter().zip(&ordinary_scores) {
        for (text, s) in set.iter().zip(scores).filter(|(_, &s)| s >= threshold).take(8) {
            println!("  {name} flagged at {threshold}: {text:?} ({s:.3})");
        }
    }

    // Agreement with the word list, file by file of tests/moderation/.
    println!("agreement at {threshold} (file: texts, word-list hits, of them also the classifier's, classifier-only):");
    let (mut listed, mut both, mut classifier_only) = (0, 0, Vec::new());
    for (file, column) in [
        ("clean_chat.txt", 0),
        ("holdout_clean_chat.txt", 0),
        ("names.txt", 0),
        ("holdout_names.txt", 0),
        ("innocent_use.txt", 1),
        ("prose.txt", 0),
        ("dictionary_flagged.txt", 0),
        ("evasions.txt", 1),
        ("holdout_evasions.txt", 1),
    ] {
        let set = texts(&format!("moderation/{file}"), column);
        let (mut l, mut b, mut c) = (0, 0, 0);
        for text in &set {
            let hit = classifier.score(text) >= threshold;
            match (matcher.find(text).is_some(), hit) {
                (true, true) => (l, b) = (l + 1, b + 1),
                (true, false) => l += 1,
                (false, true) => {
                    c += 1;
                    classifier_only.push(format!("{file}: {text:?}"));
                }
                (false, false) => {}
            }
        }
        println!("  {file:<24} {:>4} {l:>5} {b:>5} {:>5.1} % {c:>4}", set.len(), percent(b, l));
        (listed, both) = (listed + l, both + b);
    }
    println!(
        "  all: the word list flags {listed}, the classifier also flags {both} of them ({:.1} %) and {} more",
        percent(both, listed),
        classifier_only.len()
    );
    for text in &classifier_only {
        println!("  classifier only: {text}");
    }

    // Sane bounds at the default threshold: most insults caught, little ordinary text flagged.
    let insult_rate = percent(share(&insult_scores, threshold), insults.len());
    assert!(insult_rate >= 55.0, "only {insult_rate:.1} % of the insults flagged at {threshold}");
    for ((name, set), scores) in ordinary.iter().zip(&ordinary_scores) {
        // Names hold "Dick" (Moby Dick, Dick Cheney), which the word list flags too, and the
        // innocent uses are listed words by design: only bounded loosely.
        let bound = if name.starts_with("names") {
            5.0
        } else if name.starts_with("innocent") {
            80.0
        } else {
            1.5
        };
        let fp = percent(share(scores, threshold), set.len());
        assert!(fp <= bound, "{name}: {fp:.1} % flagged at {threshold}");
    }
    assert!(percent(both, listed) >= 15.0, "the classifier agrees with too few word-list hits");
}
