//! The Rust classifier against scikit-learn: every text of tests/classifier/cases.tsv (written
//! by src/chat/classifier/export.py with the probability scikit-learn computed) scores the same
//! to 1e-6. And what users see of it: `--classifier enforce` refuses messages and edits it
//! judges offensive as violations, `flag` (the default) delivers them.

mod common;

use std::time::Instant;

use chatterbox::chat::classifier::{Classifier, ClassifierMode};
use common::Options;
use reqwest::Method;
use serde_json::{json, Value};

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

/// Insults of ordinary words (none on the word list) that the model scores above 0.8.
const INSULTS: [&str; 3] = ["you are a fat pig", "you are scum", "shut up, nobody asked you"];

#[tokio::test]
async fn enforce_refuses_messages_and_edits_the_classifier_judges_offensive() {
    let mut opts = Options::default();
    opts.chat.classifier = ClassifierMode::Enforce;
    let server = common::start_with(opts).await;
    let admin = server.register_admin("root").await;
    let alice = server.register("alice").await;
    let bob = server.register("bob").await;
    let (mut a, _) = server.connect(&alice.token, None).await;
    let (mut b, _) = server.connect(&bob.token, None).await;

    // A message: refused with a warning that names no term (no text contains "classifier").
    a.send_text(INSULTS[0]).await;
    let w = a.next_non_presence().await.unwrap();
    assert_eq!((w["type"].as_str(), w["warnings"].as_i64()), (Some("warning"), Some(1)), "{w}");
    let text = w["text"].as_str().unwrap();
    assert!(text.contains("offensive language") && !text.contains("classifier"), "{w}");
    // Ordinary chat passes, and it is the first thing bob gets.
    let ok = a.send_acked("thanks, see you tomorrow").await;
    assert_eq!(b.next_non_presence().await.unwrap(), ok);

    // An edit: refused the same way, the message keeps its text.
    let id = ok["id"].as_i64().unwrap();
    let response = server
        .http
        .request(Method::PATCH, format!("{}/messages/{id}", server.base))
        .bearer_auth(&alice.token)
        .json(&json!({ "text": INSULTS[1] }))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 422);
    let body: Value = response.json().await.unwrap();
    let detail = body["detail"].as_str().unwrap();
    assert!(detail.contains("Warning 2") && detail.contains("offensive language"), "{body}");

    // The third violation blocks, as a word-list hit does.
    a.send_text(INSULTS[2]).await;
    let blocked = a.next_non_presence().await.unwrap();
    assert_eq!(blocked["type"], "blocked", "{blocked}");
    assert!(blocked["text"].as_str().unwrap().contains("offensive language is not allowed"), "{blocked}");
    assert_eq!(a.expect_close().await, Some(1008));

    let log: Value = server.get("/admin/violations", Some(&admin.token)).await.json().await.unwrap();
    let rows: Vec<(&str, &str)> = log
        .as_array()
        .unwrap()
        .iter()
        .filter(|v| v["action"] != "terms")
        .map(|v| (v["term"].as_str().unwrap(), v["text"].as_str().unwrap()))
        .collect();
    assert!(rows.iter().all(|(term, _)| *term == "classifier"), "{rows:?}");
    for insult in INSULTS {
        assert!(rows.iter().any(|(_, text)| *text == insult), "{insult:?} not in {rows:?}");
    }
    let stored: Value = server.get("/messages", Some(&bob.token)).await.json().await.unwrap();
    let texts: Vec<&str> = stored.as_array().unwrap().iter().map(|m| m["text"].as_str().unwrap()).collect();
    assert_eq!(texts, ["thanks, see you tomorrow"]);
    server.stop().await;
}

#[tokio::test]
async fn flag_delivers_and_scores_and_off_does_not_load_the_model() {
    let server = common::start().await;
    assert_eq!(server.chat.config.classifier, ClassifierMode::Flag, "flag is the default");
    let alice = server.register("alice").await;
    let bob = server.register("bob").await;
    let (mut a, _) = server.connect(&alice.token, None).await;
    let (mut b, _) = server.connect(&bob.token, None).await;
    for insult in INSULTS {
        let delivered = a.send_acked(insult).await;
        assert_eq!(b.next_non_presence().await.unwrap(), delivered);
        assert!(server.chat.classify(insult).unwrap() >= 0.8, "{insult:?}");
    }
    assert!(server.chat.classify("thanks, see you tomorrow").unwrap() < 0.1);
    a.send_acked("thanks, see you tomorrow").await;
    // Flagged: each insult waits in the report queue, with its score and no reporter; the
    // ordinary message does not.
    let admin = server.register_admin("root").await;
    let deadline = Instant::now() + std::time::Duration::from_secs(15);
    let reports = loop {
        let reports: Vec<Value> =
            server.get("/admin/reports?status=all", Some(&admin.token)).await.json().await.unwrap();
        if reports.len() >= INSULTS.len() || Instant::now() > deadline {
            break reports;
        }
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    };
    let mut flagged: Vec<&str> = reports.iter().map(|r| r["message"]["text"].as_str().unwrap()).collect();
    flagged.sort_unstable();
    let mut want = INSULTS.to_vec();
    want.sort_unstable();
    assert_eq!(flagged, want, "{reports:#?}");
    for r in &reports {
        assert_eq!((r["source"].as_str(), r["reporter"].is_null()), (Some("classifier"), true), "{r}");
        assert!(r["score"].as_f64().unwrap() >= 0.8, "{r}");
    }
    server.stop().await;

    let mut opts = Options::default();
    opts.chat.classifier = ClassifierMode::Off;
    let server = common::start_with(opts).await;
    assert_eq!(server.chat.classify(INSULTS[0]), None);
    server.stop().await;
}
