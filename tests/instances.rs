//! Two chatterbox instances on one PostgreSQL database: each instance's tailer reads the
//! committed log, so a message sent through either reaches the sockets of both, every socket sees
//! the same ids in the same strictly increasing order, and `?since=` on the other instance
//! resumes without a gap. The tailers' poll is set to an hour here, so what wakes them is the
//! database's notification (LISTEN/NOTIFY), also after the listening connection was killed.

mod common;

use std::time::Duration;

use common::{Account, Options, TestServer};
use serde_json::Value;

/// An instance on `url` whose tailer would not poll during the test.
async fn instance(url: &str) -> TestServer {
    let mut opts = common::unthrottled();
    opts.chat.log_poll = Duration::from_secs(3600);
    common::start_with(Options { database_url: Some(url.to_string()), ..opts }).await
}

/// A new database with two instances on it, alice registered on the first and bob on the
/// second; None when PostgreSQL is skipped.
async fn two_instances() -> Option<(String, TestServer, TestServer, Account, Account)> {
    let url = tokio::task::spawn_blocking(common::pg::database).await.unwrap()?;
    let (a, b) = (instance(&url).await, instance(&url).await);
    let alice = a.register("alice").await;
    let bob = b.register("bob").await;
    Some((url, a, b, alice, bob))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_instances_on_one_postgres_deliver_each_others_messages_in_one_order() {
    let Some((_, a, b, alice, bob)) = two_instances().await else { return };
    // One token-signing secret, kept in the database: a token from one instance works on both.
    let (mut alice_a, _) = a.connect(&alice.token, None).await;
    let (mut alice_b, _) = b.connect(&alice.token, None).await;
    let (mut bob_b, _) = b.connect(&bob.token, None).await;

    const EACH: usize = 15;
    for i in 0..EACH {
        alice_a.send_text(&format!("from a {i}")).await;
        bob_b.send_text(&format!("from b {i}")).await;
    }
    let mut seen: Vec<Vec<(i64, String)>> = Vec::new();
    for socket in [&mut alice_a, &mut alice_b, &mut bob_b] {
        let mut got = Vec::new();
        while got.len() < 2 * EACH {
            let m = socket.next_message().await.expect("every message arrives");
            got.push((m["id"].as_i64().unwrap(), m["text"].as_str().unwrap().to_string()));
        }
        assert!(got.windows(2).all(|w| w[0].0 < w[1].0), "ids strictly increasing: {got:?}");
        seen.push(got);
    }
    assert_eq!(seen[0], seen[1], "both instances deliver the same order");
    assert_eq!(seen[0], seen[2]);
    let mut texts: Vec<&str> = seen[0].iter().map(|(_, t)| t.as_str()).collect();
    texts.sort();
    let mut sent: Vec<String> =
        (0..EACH).flat_map(|i| [format!("from a {i}"), format!("from b {i}")]).collect();
    sent.sort();
    assert_eq!(texts, sent, "each message exactly once");

    // Resuming on the other instance from the middle misses nothing.
    let middle = seen[0][EACH - 1].0;
    let (_, history) = a.connect(&bob.token, Some(middle)).await;
    let resumed: Vec<(i64, String)> = history
        .iter()
        .filter(|f| f["type"] == "message")
        .map(|m: &Value| (m["id"].as_i64().unwrap(), m["text"].as_str().unwrap().to_string()))
        .collect();
    assert_eq!(resumed, seen[0][EACH..].to_vec());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_killed_listening_connection_delays_nothing_for_long() {
    let Some((url, a, b, alice, bob)) = two_instances().await else { return };
    let (mut alice_a, _) = a.connect(&alice.token, None).await;
    let (mut bob_b, _) = b.connect(&bob.token, None).await;
    alice_a.send_acked("before").await;
    assert_eq!(bob_b.next_message().await.unwrap()["text"], "before");

    let admin_url = url.clone();
    let killed: i64 = tokio::task::spawn_blocking(move || {
        let mut admin = postgres::Client::connect(&admin_url, postgres::NoTls).unwrap();
        let rows = admin
            .query(
                "SELECT pg_terminate_backend(pid) FROM pg_stat_activity \
                 WHERE application_name = 'chatterbox-listen' AND datname = current_database()",
                &[],
            )
            .unwrap();
        rows.len() as i64
    })
    .await
    .unwrap();
    assert_eq!(killed, 2, "one listening connection per instance");
    // Whether this lands before or after the watcher reconnected, it arrives: the reconnection
    // rings once more.
    alice_a.send_acked("after").await;
    assert_eq!(bob_b.next_message().await.unwrap()["text"], "after");
}
