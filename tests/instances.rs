//! Two chatterbox instances on one PostgreSQL database: each instance's tailer reads the
//! committed log, so a message sent through either reaches the sockets of both, every socket sees
//! the same ids in the same strictly increasing order, and `?since=` on the other instance
//! resumes without a gap. (Without a notification yet: the tailers find each other's writes by
//! their poll.)

mod common;

use common::Options;
use serde_json::Value;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_instances_on_one_postgres_deliver_each_others_messages_in_one_order() {
    let Some(url) = tokio::task::spawn_blocking(common::pg::database).await.unwrap() else { return };
    let a = common::start_with(Options { database_url: Some(url.clone()), ..common::unthrottled() }).await;
    let b = common::start_with(Options { database_url: Some(url), ..common::unthrottled() }).await;
    let alice = a.register("alice").await;
    let bob = b.register("bob").await;
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
