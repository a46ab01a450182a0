//! The Rust classifier against scikit-learn: every text of tests/classifier/cases.tsv (written
//! by src/chat/classifier/export.py with the probability scikit-learn computed) scores the same
//! to 1e-6.

use std::time::Instant;

use chatterbox::chat::classifier::Classifier;

#[path = "support/escapes.rs"]
mod escapes;
use escapes::unescape;

#[test]
fn scores_equal_scikit_learns_on_every_case() {
    let started = Instant::now();
    let classifier = Classifier::embedded();
    println!("loaded {:?} in {:?}", classifier, started.elapsed());
    let path = format!("{}/tests/classifier/cases.tsv", env!("CARGO_MANIFEST_DIR"));
    let cases = std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{path}: {e}"));
    let mut checked = 0;
    let mut wrong = Vec::new();
    let mut worst = 0.0f64;
    for line in cases.lines().filter(|l| !l.starts_with('#')) {
        let (expected, text) = line.split_once('\t').expect("probability<TAB>text");
        let expected: f64 = expected.parse().expect("a probability");
        let text = unescape(text);
        let got = classifier.score(&text);
        worst = worst.max((got - expected).abs());
        if (got - expected).abs() > 1e-6 {
            wrong.push(format!("{text:?}: scikit-learn {expected}, chatterbox {got}"));
        }
        checked += 1;
    }
    println!("{checked} cases, largest difference {worst:e}");
    assert!(checked >= 300, "only {checked} cases in {path}");
    assert!(wrong.is_empty(), "{} of {checked} differ:\n{}", wrong.len(), wrong.join("\n"));
}

#[test]
fn the_embedded_model_has_alt_profanity_checks_shape() {
    assert_eq!(Classifier::embedded().shape(), (15_442, 5));
}
