//! Server lifecycle: graceful shutdown keeps every acknowledged message and closes sockets with
//! 1001, a restart on the same database resumes cleanly and keeps sessions, and many servers run
//! independently in one process.

mod common;

use std::path::PathBuf;

use chatterbox::store::SqliteStore;
use common::{Options, TestServer, WsClient};
use serde_json::Value;

fn id(v: &Value) -> i64 {
    v["id"].as_i64().unwrap_or_else(|| panic!("no id in {v}"))
}

/// A server on an existing database file (a restart).
/// Where a stopped server kept its data: its SQLite file or its PostgreSQL database.
#[derive(Clone)]
enum Data {
    File(PathBuf),
    Url(String),
}

fn data_of(server: &TestServer) -> Data {
    match &server.database_url {
        Some(url) => Data::Url(url.clone()),
        None => Data::File(server.db.clone()),
    }
}

async fn restart_on(data: Data) -> TestServer {
    match data {
        Data::File(db) => common::start_with(Options { db: Some(db), ..common::unthrottled() }).await,
        Data::Url(url) => {
            common::start_with(Options { database_url: Some(url), ..common::unthrottled() }).await
        }
    }
}

/// Reads message frames until the server closes the socket; returns their ids and the close code.
async fn drain_until_close(client: &mut WsClient) -> (Vec<i64>, Option<u16>) {
    let mut ids = Vec::new();
    loop {
        match client.next().await {
            common::Next::Json(v) if v["type"] == "message" => ids.push(id(&v)),
            common::Next::Json(_) => {}
            common::Next::Closed(code, _) => return (ids, code),
        }
    }
}

/// Every message in the database, read with a fresh connection.
async fn messages_in(data: Data) -> Vec<chatterbox::store::Message> {
    tokio::task::spawn_blocking(move || {
        let store: Box<dyn chatterbox::store::Store> = match data {
            Data::File(db) => Box::new(SqliteStore::open_existing(&db).unwrap()),
            Data::Url(url) => Box::new(chatterbox::store::PgStore::open_existing(&url).unwrap()),
        };
        store.messages_before(chatterbox::store::GENERAL_ROOM, None, 10_000).unwrap()
    })
    .await
    .unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn shutdown_keeps_acknowledged_messages_and_a_restart_resumes_without_gaps_or_repeats() {
    let mut server = common::start_with(common::unthrottled()).await;
    let _dir = server.keep_dir();
    let db = data_of(&server);
    let alice = server.register("alice").await;
    let bob = server.register("bob").await;
    let carol = server.register("carol").await;
    let (mut a, _) = server.connect(&alice.token, None).await;
    let (mut b, _) = server.connect(&bob.token, None).await;
    let (mut c, _) = server.connect(&carol.token, None).await;

    // Alice and bob chat, each waiting for the echo: these messages are acknowledged.
    let mut acked = Vec::new();
    for i in 0..20 {
        acked.push(a.send_acked(&format!("alice {i}")).await);
        acked.push(b.send_acked(&format!("bob {i}")).await);
    }
    // Carol reads the first 10 and then goes away.
    let mut carol_saw = Vec::new();
    while carol_saw.len() < 10 {
        carol_saw.push(id(&c.next_message().await.unwrap()));
    }
    drop(c);
    // More while carol is away, sent without waiting: these may or may not make it.
    for i in 0..5 {
        a.send_text(&format!("late {i}")).await;
    }

    server.stop().await;
    let (alice_saw, alice_close) = drain_until_close(&mut a).await;
    let (bob_saw, bob_close) = drain_until_close(&mut b).await;
    assert_eq!(alice_close, Some(1001), "server going away");
    assert_eq!(bob_close, Some(1001), "server going away");

    let stored = messages_in(db.clone()).await;
    let stored_ids: Vec<i64> = stored.iter().map(|m| m.id).collect();
    for m in &acked {
        let row =
            stored.iter().find(|s| s.id == id(m)).unwrap_or_else(|| panic!("acknowledged {m} was lost"));
        assert_eq!(row.content, m["text"].as_str().unwrap());
        assert_eq!(row.username, m["user"].as_str().unwrap());
    }
    // Whatever a client was shown was stored.
    for seen in alice_saw.iter().chain(&bob_saw) {
        assert!(stored_ids.contains(seen), "{seen} was broadcast but not stored");
    }

    // Restart on the same file: ids continue, and resuming clients get exactly what they missed.
    let server = restart_on(db.clone()).await;
    let (mut a, history) = server.connect(&alice.token, Some(*alice_saw.last().unwrap())).await;
    let resumed: Vec<i64> = history.iter().map(id).collect();
    let unseen: Vec<i64> = stored_ids.iter().copied().filter(|i| i > alice_saw.last().unwrap()).collect();
    assert_eq!(resumed, unseen);
    let after = a.send_acked("after the restart").await;
    assert!(id(&after) > *stored_ids.last().unwrap(), "ids continue");

    let (_, history) = server.connect(&carol.token, Some(*carol_saw.last().unwrap())).await;
    let resumed: Vec<i64> = history.iter().map(id).collect();
    let mut want: Vec<i64> = stored_ids.iter().copied().filter(|i| i > carol_saw.last().unwrap()).collect();
    want.push(id(&after));
    assert_eq!(resumed, want, "carol gets every message she missed, each once, in order");
    let all: Vec<i64> = carol_saw.iter().chain(&resumed).copied().collect();
    assert!(all.windows(2).all(|w| w[0] < w[1]), "nothing twice: {all:?}");
    server.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_token_issued_before_a_restart_still_works_after_it() {
    let mut server = common::start().await;
    let _dir = server.keep_dir();
    let db = data_of(&server);
    let alice = server.register("alice").await;
    let (mut a, _) = server.connect(&alice.token, None).await;
    let before = a.send_acked("before").await;
    server.stop().await;
    assert_eq!(a.expect_close().await, Some(1001));

    let server = restart_on(db).await;
    let me: Value = server.get("/me", Some(&alice.token)).await.json().await.unwrap();
    assert_eq!(me["username"], "alice");
    let (mut a, history) = server.connect(&alice.token, None).await;
    assert_eq!(history, [before]);
    a.send_acked("after").await;
    server.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn many_servers_in_one_process_are_independent() {
    let servers = futures_util::future::join_all((0..4).map(|_| common::start())).await;
    let mut accounts = Vec::new();
    for (n, server) in servers.iter().enumerate() {
        // The same name on every server: separate databases.
        let alice = server.register("alice").await;
        let (mut ws, _) = server.connect(&alice.token, None).await;
        for i in 0..=n {
            ws.send_acked(&format!("server {n} message {i}")).await;
        }
        accounts.push((alice, ws));
    }
    for (n, server) in servers.iter().enumerate() {
        let (alice, _) = &accounts[n];
        let history: Value = server.get("/messages", Some(&alice.token)).await.json().await.unwrap();
        let texts: Vec<&str> =
            history.as_array().unwrap().iter().map(|m| m["text"].as_str().unwrap()).collect();
        let want: Vec<String> = (0..=n).map(|i| format!("server {n} message {i}")).collect();
        assert_eq!(texts, want, "server {n} has only its own messages");
        assert_eq!(history[0]["id"], 1, "ids start over on every server");
        // Each server signs with its own secret.
        let other = &accounts[(n + 1) % accounts.len()].0;
        assert_eq!(server.get("/me", Some(&other.token)).await.status(), 401);
    }
    // Stopping one leaves the others running.
    let mut servers = servers.into_iter();
    servers.next().unwrap().stop().await;
    assert_eq!(accounts[0].1.expect_close().await, Some(1001));
    for (n, server) in servers.enumerate() {
        let ws = &mut accounts[n + 1].1;
        ws.send_acked(&format!("still running {}", n + 1)).await;
        assert_eq!(server.get("/healthz", None).await.status(), 200);
        server.stop().await;
    }
}

// The same tests with their servers on PostgreSQL (`common::postgres_too`).
common::postgres_too!(
    shutdown_keeps_acknowledged_messages_and_a_restart_resumes_without_gaps_or_repeats,
    a_token_issued_before_a_restart_still_works_after_it,
    many_servers_in_one_process_are_independent,
);
