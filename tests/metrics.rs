//! `GET /metrics` (`serve --metrics-listen`), scraped from the real binary as Prometheus would:
//! only on its own listener, in the OpenMetrics text format, with the figures moving as users
//! chat, fail to sign in and get moderated; on SQLite and on PostgreSQL (where the pool shows).

mod common;

use std::{
    path::Path,
    process::{Child, Command, Stdio},
    sync::{Arc, Mutex},
    time::{Duration, Instant},
};

use futures_util::{SinkExt, StreamExt};
use serde_json::{json, Value};
use tokio_tungstenite::tungstenite::Message;

const BIN: &str = env!("CARGO_BIN_EXE_chatterbox");

struct Daemon {
    child: Child,
    chat: String,
    metrics: String,
    _log: Arc<Mutex<String>>,
}

impl Drop for Daemon {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn start(db_args: &[String]) -> Daemon {
    let mut cmd = Command::new(BIN);
    for (key, _) in std::env::vars() {
        if key.starts_with("CHATTERBOX_") || key == "RUST_LOG" {
            cmd.env_remove(key);
        }
    }
    cmd.args(db_args)
        .args([
            "serve",
            "--listen",
            "127.0.0.1:0",
            "--metrics-listen",
            "127.0.0.1:0",
            "--bcrypt-cost",
            "4",
            "--rate-limit-off",
        ])
        .stdout(Stdio::null())
        .stderr(Stdio::piped());
    let mut child = cmd.spawn().expect("start chatterbox serve");
    let (log, rx) = common::drain_log(child.stderr.take().unwrap());
    let chat = rx.recv_timeout(Duration::from_secs(60)).unwrap_or_else(|_| {
        let _ = child.kill();
        panic!("the daemon did not listen:\n{}", log.lock().unwrap())
    });
    let deadline = Instant::now() + Duration::from_secs(10);
    let metrics = loop {
        if let Some(rest) = log.lock().unwrap().split("metrics on http://").nth(1) {
            break rest.split_whitespace().next().unwrap().trim_end_matches("/metrics").to_string();
        }
        assert!(Instant::now() < deadline, "no 'metrics on' line:\n{}", log.lock().unwrap());
        std::thread::sleep(Duration::from_millis(20));
    };
    Daemon { child, chat, metrics, _log: log }
}

async fn scrape(http: &reqwest::Client, d: &Daemon) -> String {
    let resp = http.get(format!("http://{}/metrics", d.metrics)).send().await.unwrap();
    assert_eq!(resp.status(), 200);
    let kind = resp.headers()["content-type"].to_str().unwrap().to_string();
    assert!(kind.starts_with("application/openmetrics-text"), "{kind}");
    resp.text().await.unwrap()
}

/// The value of one sample line (`name{labels} value`), 0 when absent.
fn value(text: &str, sample: &str) -> f64 {
    text.lines()
        .find_map(|l| l.strip_prefix(sample).and_then(|rest| rest.strip_prefix(' ')))
        .map_or(0.0, |v| v.trim().parse().unwrap())
}

async fn exercise(db_args: Vec<String>, pooled: bool) {
    let d = start(&db_args);
    let http = reqwest::Client::new();
    let base = format!("http://{}", d.chat);

    // Never on the chat port.
    assert_eq!(http.get(format!("{base}/metrics")).send().await.unwrap().status(), 404);
    // Only /metrics on the metrics port.
    let other = http.get(format!("http://{}/healthz", d.metrics)).send().await.unwrap();
    assert_eq!(other.status(), 404);

    let before = scrape(&http, &d).await;
    assert!(before.contains("chatterbox_build_info{"), "{before}");
    assert!(before.trim_end().ends_with("# EOF"), "{before}");
    assert_eq!(value(&before, "chatterbox_database_up"), 1.0, "{before}");

    let reg = http
        .post(format!("{base}/register"))
        .json(&json!({"username": "metered", "email": "metered@example.com", "password": "correct horse battery"}))
        .send()
        .await
        .unwrap();
    assert_eq!(reg.status(), 201);
    let token = reg.json::<Value>().await.unwrap()["access_token"].as_str().unwrap().to_string();
    let bad = http
        .post(format!("{base}/login"))
        .json(&json!({"username": "metered", "password": "not the password"}))
        .send()
        .await
        .unwrap();
    assert_eq!(bad.status(), 401);
    let good = http
        .post(format!("{base}/login"))
        .json(&json!({"username": "metered", "password": "correct horse battery"}))
        .send()
        .await
        .unwrap();
    assert_eq!(good.status(), 200);

    let (mut ws, _) =
        tokio_tungstenite::connect_async(format!("ws://{}/ws?token={token}", d.chat)).await.unwrap();
    ws.send(Message::text(json!({"type": "message", "text": "counted"}).to_string())).await.unwrap();
    ws.send(Message::text(json!({"type": "message", "text": "you are a fuck"}).to_string())).await.unwrap();
    let (mut echoed, mut warned) = (false, false);
    let deadline = Instant::now() + Duration::from_secs(15);
    while !(echoed && warned) {
        assert!(Instant::now() < deadline, "no echo and warning");
        let Some(Ok(Message::Text(t))) =
            tokio::time::timeout(Duration::from_secs(15), ws.next()).await.unwrap()
        else {
            continue;
        };
        let v: Value = serde_json::from_str(&t).unwrap();
        echoed |= v["type"] == "message" && v["text"] == "counted";
        warned |= v["type"] == "warning";
    }

    let after = scrape(&http, &d).await;
    assert!(value(&after, "chatterbox_messages_accepted_total") >= 1.0, "{after}");
    assert_eq!(value(&after, "chatterbox_messages_refused_total{reason=\"moderation\"}"), 1.0, "{after}");
    assert_eq!(value(&after, "chatterbox_logins_total{outcome=\"failed\"}"), 1.0, "{after}");
    assert_eq!(value(&after, "chatterbox_logins_total{outcome=\"ok\"}"), 1.0, "{after}");
    assert!(value(&after, "chatterbox_frames_delivered_total") >= 1.0, "{after}");
    assert!(value(&after, "chatterbox_moderation_actions_total{action=\"warning\"}") >= 1.0, "{after}");
    assert!(value(&after, "chatterbox_commit_batch_messages_count") >= 1.0, "{after}");
    // The socket holds a connection slot while it is open.
    assert!(value(&after, "chatterbox_connections_open") >= 1.0, "{after}");
    if pooled {
        assert!(value(&after, "chatterbox_db_pool_connections") >= 1.0, "{after}");
    }
    drop(ws);
}

#[tokio::test]
async fn metrics_are_scraped_apart_from_the_chat_port_on_sqlite() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("chat.db");
    exercise(vec!["--db".into(), Path::new(&db).display().to_string()], false).await;
}

#[tokio::test]
async fn metrics_are_scraped_apart_from_the_chat_port_on_postgres() {
    // The blocking PostgreSQL client must not run on the async worker.
    let Some(url) = tokio::task::spawn_blocking(common::pg::database).await.unwrap() else { return };
    exercise(vec!["--database-url".into(), url], true).await;
}

#[test]
fn a_bad_metrics_address_is_refused_at_start() {
    let out = Command::new(BIN)
        .args(["--db", "/nonexistent/never.db", "serve", "--metrics-listen", "nonsense"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1), "{out:?}");
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("--metrics-listen"), "{err}");
}
