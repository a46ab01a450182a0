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

/// An instance on `url` that shares presence every 100 ms and announces leaves at once.
async fn quick_instance(url: &str) -> TestServer {
    let mut opts = common::unthrottled();
    opts.chat.presence_beat = Duration::from_millis(100);
    opts.chat.presence_grace = Duration::ZERO;
    common::start_with(Options { database_url: Some(url.to_string()), ..opts }).await
}

/// Reads frames until a `join`/`leave` of `user`; panics on anything closing first or after
/// `wait` of silence.
async fn expect_presence(socket: &mut common::WsClient, kind: &str, user: &str, wait: Duration) {
    loop {
        match socket.next_within(wait).await {
            Some(common::Next::Json(v)) if v["type"] == kind && v["user"] == user => return,
            Some(common::Next::Json(_)) => continue,
            other => panic!("waiting for {kind} {user}: {other:?}"),
        }
    }
}

async fn online_count(server: &TestServer, admin: &Account) -> i64 {
    let stats: Value = server.get("/admin/stats", Some(&admin.token)).await.json().await.unwrap();
    stats["online"].as_i64().expect("an online count")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn presence_blocks_and_role_changes_cross_instances() {
    let Some(url) = tokio::task::spawn_blocking(common::pg::database).await.unwrap() else { return };
    let (a, b) = (quick_instance(&url).await, quick_instance(&url).await);
    let root = a.register_admin("root").await;
    let alice = a.register("alice").await;
    let bob = b.register("bob").await;

    // Someone arriving on one instance is announced on the other, and counted there.
    let (mut alice_a, _) = a.connect(&alice.token, None).await;
    let (mut bob_b, _) = b.connect(&bob.token, None).await;
    expect_presence(&mut alice_a, "join", "bob", Duration::from_secs(10)).await;
    let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
    while online_count(&b, &root).await != 2 {
        assert!(tokio::time::Instant::now() < deadline, "instance b counts alice (on a) and bob");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    // Leaving is announced on the other instance too, once the user's last socket there closed.
    let (mut bob_b2, _) = b.connect(&bob.token, None).await;
    bob_b.ws.close(None).await.unwrap();
    bob_b2.ws.close(None).await.unwrap();
    expect_presence(&mut alice_a, "leave", "bob", Duration::from_secs(10)).await;

    // An admin's block on one instance closes the account's sockets on the other.
    let (mut bob_b, _) = b.connect(&bob.token, None).await;
    let blocked = a.post(&format!("/admin/users/{}/block", bob.id), Some(&root.token), None).await;
    assert_eq!(blocked.status(), 200);
    assert_eq!(bob_b.expect_close().await, Some(1008), "blocked everywhere");

    // A role change made by the operator CLI (a third process) closes the account's sockets on
    // every instance, so they reconnect with what the new role may see.
    let (mut alice_b, _) = b.connect(&alice.token, None).await;
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_chatterbox"))
        .args(["--database-url", &url, "make-admin", "alice"])
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    assert_eq!(alice_a.expect_close().await, Some(1013));
    assert_eq!(alice_b.expect_close().await, Some(1013));
    // And they can come back at once, now as an admin.
    let (_alice_again, _) = a.connect(&alice.token, None).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn users_of_an_instance_killed_without_a_goodbye_are_gone_within_30_seconds() {
    let Some(url) = tokio::task::spawn_blocking(common::pg::database).await.unwrap() else { return };
    let a = quick_instance(&url).await;
    let alice = a.register("alice").await;
    let carol = a.register("carol").await;
    let (mut alice_a, _) = a.connect(&alice.token, None).await;

    // A real daemon process, with the default heartbeat and time-to-live.
    let mut daemon = std::process::Command::new(env!("CARGO_BIN_EXE_chatterbox"))
        .args(["--database-url", &url, "serve", "--listen", "127.0.0.1:0", "--bcrypt-cost", "4"])
        .stdin(std::process::Stdio::null())
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let stderr = daemon.stderr.take().unwrap();
    let addr = tokio::task::spawn_blocking(move || {
        use std::io::BufRead;
        let mut lines = std::io::BufReader::new(stderr).lines();
        let addr = lines
            .by_ref()
            .map_while(Result::ok)
            .find_map(|l| {
                l.split("listening on http://")
                    .nth(1)
                    .and_then(|r| r.split_whitespace().next())
                    .map(str::to_string)
            })
            .expect("the daemon says where it listens");
        // Keep draining, so the daemon never blocks on a full pipe.
        std::thread::spawn(move || lines.for_each(drop));
        addr
    })
    .await
    .unwrap();
    let (_carol_d, _) = a.try_connect(format!("ws://{addr}/ws?token={}", carol.token)).await.unwrap();
    expect_presence(&mut alice_a, "join", "carol", Duration::from_secs(10)).await;

    daemon.kill().unwrap(); // SIGKILL: no goodbye
    daemon.wait().unwrap();
    expect_presence(&mut alice_a, "leave", "carol", Duration::from_secs(30)).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn healthz_reports_the_database_and_the_log_tailers_lag() {
    let Some(url) = tokio::task::spawn_blocking(common::pg::database).await.unwrap() else { return };
    let (a, b) = (quick_instance(&url).await, quick_instance(&url).await);
    let alice = a.register("alice").await;
    let (mut alice_a, _) = a.connect(&alice.token, None).await;
    let sent = alice_a.send_acked("hello").await["id"].as_i64().unwrap();
    // Instance b delivers it too (its tailer reads what a committed), and says how far it is.
    let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
    loop {
        let health: Value = b.get("/healthz", None).await.json().await.unwrap();
        assert_eq!(health["status"], "ok");
        assert_eq!(health["database"], "ok");
        if health["log"]["delivered"].as_i64().unwrap() >= sent {
            assert_eq!(health["log"]["behind"], 0);
            assert!(health["log"]["read_ms_ago"].as_u64().is_some());
            break;
        }
        assert!(tokio::time::Instant::now() < deadline, "b's tailer reaches message {sent}: {health}");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_per_account_socket_cap_counts_sockets_on_every_instance() {
    let Some(url) = tokio::task::spawn_blocking(common::pg::database).await.unwrap() else { return };
    let capped = |url: &str| {
        let mut opts = common::unthrottled();
        opts.chat.presence_beat = Duration::from_millis(100);
        opts.http.max_sockets_per_user = 2;
        common::start_with(Options { database_url: Some(url.to_string()), ..opts })
    };
    let (a, b) = (capped(&url).await, capped(&url).await);
    let alice = a.register("alice").await;
    let (_on_a, _) = a.connect(&alice.token, None).await;
    let (_on_b, _) = b.connect(&alice.token, None).await;
    // Once a has heard of the socket on b (its next beat), a third socket is one too many there.
    let url_a = a.ws_url(&format!("/ws?token={}", alice.token));
    let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
    loop {
        match tokio_tungstenite::connect_async(url_a.clone()).await {
            Err(tokio_tungstenite::tungstenite::Error::Http(resp)) => {
                assert_eq!(resp.status().as_u16(), 429);
                break;
            }
            Err(e) => panic!("{e}"),
            // Not heard of yet: close it and try again after the next beat.
            Ok((mut ws, _)) => {
                ws.close(None).await.unwrap();
                assert!(tokio::time::Instant::now() < deadline, "the cap counts the socket on b");
                tokio::time::sleep(Duration::from_millis(200)).await;
            }
        }
    }
}

/// Reads frames until one of `kind`, skipping presence and messages of other kinds.
async fn expect_frame(socket: &mut common::WsClient, kind: &str) -> Value {
    loop {
        let v = socket.next_json().await.unwrap_or_else(|| panic!("closed while waiting for {kind}"));
        if v["type"] == kind {
            return v;
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn memberships_and_read_markers_made_on_one_instance_reach_sockets_on_another() {
    let Some(url) = tokio::task::spawn_blocking(common::pg::database).await.unwrap() else { return };
    let (a, b) = (quick_instance(&url).await, quick_instance(&url).await);
    let alice = a.register("alice").await;
    let bob = b.register("bob").await;
    let (mut bob_b, _) = b.connect(&bob.token, None).await;
    let (mut alice_b, _) = b.connect(&alice.token, None).await;

    // Alice makes a private room on a and adds bob there: bob's socket on b is told, and hears
    // the room's messages from then on.
    let created = a
        .post(
            "/rooms",
            Some(&alice.token),
            Some(serde_json::json!({ "name": "ops", "visibility": "private" })),
        )
        .await;
    assert_eq!(created.status(), 201);
    let room = created.json::<Value>().await.unwrap()["id"].as_i64().unwrap();
    let added = a
        .post(
            &format!("/rooms/{room}/members"),
            Some(&alice.token),
            Some(serde_json::json!({ "username": "bob" })),
        )
        .await;
    assert!(added.status().is_success(), "{}", added.status());
    assert_eq!(expect_frame(&mut bob_b, "room").await["room"]["id"], room);
    let (mut alice_a, _) = a.connect(&alice.token, None).await;
    alice_a.send_json(serde_json::json!({ "type": "message", "room": room, "text": "welcome" })).await;
    let message = expect_frame(&mut bob_b, "message").await;
    assert_eq!((message["room"].as_i64(), message["text"].as_str()), (Some(room), Some("welcome")));

    // Alice reads it on a: her socket on b moves its marker too.
    let read = a
        .post(
            &format!("/rooms/{room}/read"),
            Some(&alice.token),
            Some(serde_json::json!({ "message_id": message["id"] })),
        )
        .await;
    assert!(read.status().is_success());
    let marker = expect_frame(&mut alice_b, "read").await;
    assert_eq!((marker["room"].as_i64(), marker["message_id"].clone()), (Some(room), message["id"].clone()));

    // Removed on a, bob's socket on b is told and hears nothing more of the room.
    let removed = a
        .http
        .delete(a.url(&format!("/rooms/{room}/members/bob")))
        .bearer_auth(&alice.token)
        .send()
        .await
        .unwrap();
    assert!(removed.status().is_success(), "{}", removed.status());
    assert_eq!(expect_frame(&mut bob_b, "room_removed").await["room"], room);
    alice_a.send_json(serde_json::json!({ "type": "message", "room": room, "text": "after bob" })).await;
    alice_a.send_text("in general").await;
    let next = expect_frame(&mut bob_b, "message").await;
    assert_eq!(next["text"], "in general", "nothing of the room after the removal");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn edits_reactions_deletions_and_typing_cross_instances() {
    let Some((_, a, b, alice, bob)) = two_instances().await else { return };
    let (mut alice_a, _) = a.connect(&alice.token, None).await;
    let (mut bob_b, _) = b.connect(&bob.token, None).await;
    let id = alice_a.send_acked("made on a").await["id"].as_i64().unwrap();
    assert_eq!(expect_frame(&mut bob_b, "message").await["id"], id);

    // Typing is not in the log: it crosses through the database's notification alone.
    alice_a.send_json(serde_json::json!({ "type": "typing", "room": 1 })).await;
    let typing = expect_frame(&mut bob_b, "typing").await;
    assert_eq!(typing["user"], "alice");

    alice_a.send_json(serde_json::json!({ "type": "edit", "id": id, "text": "edited on a" })).await;
    let edited = expect_frame(&mut bob_b, "edited").await;
    assert_eq!((edited["id"].as_i64(), edited["text"].as_str()), (Some(id), Some("edited on a")));
    bob_b.send_json(serde_json::json!({ "type": "react", "id": id, "emoji": "👍" })).await;
    let reactions = expect_frame(&mut alice_a, "reactions").await;
    assert_eq!(reactions["reactions"][0]["users"], serde_json::json!(["bob"]));
    let deleted =
        a.http.delete(a.url(&format!("/messages/{id}"))).bearer_auth(&alice.token).send().await.unwrap();
    assert_eq!(deleted.status(), 200);
    let gone = expect_frame(&mut bob_b, "deleted").await;
    assert_eq!(gone["id"], id);
    // Positions are one sequence across instances: each change after the last.
    assert!(edited["seq"].as_i64() < reactions["seq"].as_i64());
    assert!(reactions["seq"].as_i64() < gone["seq"].as_i64());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_term_list_change_on_one_instance_applies_on_both() {
    let Some((url, a, b, alice, bob)) = two_instances().await else { return };
    let admin = a.register_admin("root").await;
    let term = |body: Value| a.http.post(a.url("/admin/terms")).bearer_auth(&admin.token).json(&body).send();
    assert_eq!(term(serde_json::json!({ "term": "bazinga" })).await.unwrap().status(), 200);
    // The other instance's tailer (woken by the notification alone: its poll is an hour) has
    // rebuilt its word list; bob, on it, is refused.
    let (mut bob_b, _) = b.connect(&bob.token, None).await;
    let mut refused = false;
    for _ in 0..100 {
        if b.chat.matcher().find("bazinga").is_some() {
            refused = true;
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert!(refused, "instance b applies the change");
    bob_b.send_text("bazinga").await;
    assert_eq!(expect_frame(&mut bob_b, "warning").await["type"], "warning");
    // And the operator CLI's removal (a third process) reaches both.
    let mut cmd = common::cli::chatterbox();
    cmd.args(["--database-url", &url, "moderation", "terms", "remove", "bazinga"]);
    let out = tokio::task::spawn_blocking(move || common::cli::run(cmd, None)).await.unwrap();
    assert!(out.status.success(), "{}", common::cli::describe(&out));
    let (mut alice_a, _) = a.connect(&alice.token, None).await;
    for server in [&a, &b] {
        let mut gone = false;
        for _ in 0..100 {
            if server.chat.matcher().find("bazinga").is_none() {
                gone = true;
                break;
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        assert!(gone, "both instances apply the removal");
    }
    alice_a.send_acked("bazinga after all").await;
    bob_b.send_acked("bazinga from bob").await;
}
