//! The chat WebSocket as clients see it: handshake, ordering, history and resume, presence,
//! invalid frames, limits, moderation, blocking (API and operator CLI) and slow clients.

mod common;

use std::{
    sync::{
        atomic::{AtomicBool, Ordering},
        Arc,
    },
    time::Duration,
};

use chatterbox::chat::ratelimit::Rate;
use common::{Account, Next, TestServer, WsClient, PASSWORD};
use serde_json::{json, Value};
use tokio_tungstenite::tungstenite::{client::IntoClientRequest, http::Request, Message};

// ---------------------------------------------------------------------------------------------
// Helpers

/// A handshake request for `path_and_query` with extra headers.
fn request(server: &TestServer, path_and_query: &str, headers: &[(&str, &str)]) -> Request<()> {
    let mut req = server.ws_url(path_and_query).into_client_request().unwrap();
    for (name, value) in headers {
        let name = tokio_tungstenite::tungstenite::http::HeaderName::from_bytes(name.as_bytes()).unwrap();
        req.headers_mut().insert(name, value.parse().unwrap());
    }
    req
}

/// Opens `/ws?token=` without reading anything.
async fn open_raw(server: &TestServer, token: &str) -> WsClient {
    let (ws, _) =
        tokio_tungstenite::connect_async(server.ws_url(&format!("/ws?token={token}"))).await.unwrap();
    WsClient { ws, rooms: serde_json::Value::Null }
}

/// Reads the history and returns it with the `presence` frame's list of online users.
async fn read_history(client: &mut WsClient) -> (Vec<Value>, Vec<String>) {
    let mut history = Vec::new();
    loop {
        let v = client.next_json().await.expect("history frame");
        if v["type"] == "presence" {
            let online =
                v["online"].as_array().unwrap().iter().map(|n| n.as_str().unwrap().to_string()).collect();
            return (history, online);
        }
        if v["type"] != "rooms" {
            history.push(v);
        }
    }
}

fn id(v: &Value) -> i64 {
    v["id"].as_i64().unwrap_or_else(|| panic!("no id in {v}"))
}

fn ids(frames: &[Value]) -> Vec<i64> {
    frames.iter().map(id).collect()
}

/// Checks the shape of a `message` frame.
fn assert_message_frame(v: &Value) {
    let mut keys: Vec<&str> = v.as_object().unwrap().keys().map(String::as_str).collect();
    keys.sort();
    assert_eq!(keys, ["id", "mentions", "room", "text", "timestamp", "type", "user"], "{v}");
    assert_eq!(v["type"], "message");
    assert!(v["timestamp"].as_str().unwrap().ends_with('Z'), "{v}");
}

/// Sends `n` acknowledged messages `{prefix}{i}`; returns the echoes.
async fn send_many(client: &mut WsClient, prefix: &str, n: usize) -> Vec<Value> {
    let mut out = Vec::with_capacity(n);
    for i in 0..n {
        out.push(client.send_acked(&format!("{prefix}{i}")).await);
    }
    out
}

/// A server started with `opts` and the sockets of two fresh accounts, alice and bob.
async fn alice_and_bob(opts: common::Options) -> (TestServer, WsClient, WsClient) {
    let server = common::start_with(opts).await;
    let alice = server.register("alice").await;
    let bob = server.register("bob").await;
    let (a, _) = server.connect(&alice.token, None).await;
    let (b, _) = server.connect(&bob.token, None).await;
    (server, a, b)
}

/// Expects the next frame that is not join/leave to be an `error` frame; returns its detail.
async fn expect_error_frame(client: &mut WsClient) -> String {
    let v = client.next_non_presence().await.expect("an error frame");
    assert_eq!(v["type"], "error", "{v}");
    let detail = v["detail"].as_str().expect("detail").to_string();
    assert!(!detail.is_empty());
    detail
}

async fn login_status(server: &TestServer, name: &str) -> u16 {
    let body = json!({ "username": name, "password": PASSWORD });
    server.post("/login", None, Some(body)).await.status().as_u16()
}

async fn me_status(server: &TestServer, acc: &Account) -> u16 {
    server.get("/me", Some(&acc.token)).await.status().as_u16()
}

/// Skips message frames (the user's own earlier echoes) up to the `blocked` frame, then expects
/// the socket to close with 1008.
async fn expect_blocked(client: &mut WsClient) {
    loop {
        let v = client.next_non_presence().await.expect("a blocked frame before the close");
        match v["type"].as_str() {
            Some("message") => continue,
            Some("blocked") => {
                assert_eq!(v["blocked"], true);
                assert_eq!(v["user"], "System");
                assert_eq!(v["alert"], true);
                assert!(v["text"].as_str().unwrap().contains("blocked"), "{v}");
                break;
            }
            _ => panic!("expected a blocked frame, got {v}"),
        }
    }
    assert_eq!(client.expect_close().await, Some(1008));
}

/// Runs the operator CLI on the server's database.
async fn cli(server: &TestServer, args: &[&str]) -> String {
    let mut all = server.db_args();
    all.extend(args.iter().map(|a| a.to_string()));
    let out = tokio::task::spawn_blocking(move || {
        std::process::Command::new(env!("CARGO_BIN_EXE_chatterbox")).args(&all).output().unwrap()
    })
    .await
    .unwrap();
    assert!(out.status.success(), "{args:?}: {}", String::from_utf8_lossy(&out.stderr));
    String::from_utf8(out.stdout).unwrap()
}

// ---------------------------------------------------------------------------------------------
// Handshake

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn handshake_is_refused_without_a_valid_token_for_blocked_users_and_cross_site() {
    let server = common::start().await;
    let admin = server.register_admin("root").await;
    let alice = server.register("alice").await;
    let bob = server.register("bob").await;
    assert_eq!(server.refused_status(server.ws_url("/ws")).await, 401);
    assert_eq!(server.refused_status(server.ws_url("/chat/ws")).await, 401);
    assert_eq!(server.refused_status(server.ws_url("/ws?token=garbage")).await, 401);
    assert_eq!(
        server.refused_status(request(&server, "/ws", &[("authorization", "Bearer garbage")])).await,
        401
    );
    let since = format!("/ws?token={}&since=abc", alice.token);
    assert_eq!(server.refused_status(server.ws_url(&since)).await, 400);
    let path = format!("/ws?token={}", alice.token);
    let evil = request(&server, &path, &[("origin", "http://evil.example")]);
    assert_eq!(server.refused_status(evil).await, 403);

    let resp = server.post(&format!("/admin/users/{}/block", bob.id), Some(&admin.token), None).await;
    assert_eq!(resp.status(), 200);
    assert_eq!(server.refused_status(server.ws_url(&format!("/ws?token={}", bob.token))).await, 403);
    let header = format!("Bearer {}", bob.token);
    assert_eq!(server.refused_status(request(&server, "/ws", &[("authorization", &header)])).await, 403);
    server.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn connects_by_query_token_bearer_header_and_same_origin() {
    let server = common::start().await;
    let alice = server.register("alice").await;
    let bob = server.register("bob").await;
    let carol = server.register("carol").await;
    let header = format!("Bearer {}", alice.token);
    let (mut a, _) =
        server.try_connect(request(&server, "/ws", &[("authorization", &header)])).await.unwrap();
    let (mut b, _) = server.try_connect(server.ws_url(&format!("/ws?token={}", bob.token))).await.unwrap();
    let origin = format!("http://{}", server.addr);
    let path = format!("/ws?token={}", carol.token);
    let (mut c, _) = server.try_connect(request(&server, &path, &[("origin", &origin)])).await.unwrap();

    // The original's frame, {"text": ...}, with surrounding blanks trimmed.
    a.send_raw(Message::Text(r#"{"text": "  hello from the original client \n"}"#.into())).await;
    for client in [&mut a, &mut b, &mut c] {
        let m = client.next_message().await.unwrap();
        assert_message_frame(&m);
        assert_eq!(m["user"], "alice");
        assert_eq!(m["text"], "hello from the original client");
    }
    let echo = b.send_acked("  hi alice  ").await;
    assert_eq!(echo["text"], "hi alice");
    assert_eq!(a.next_message().await.unwrap()["text"], "hi alice");
    server.stop().await;
}

// ---------------------------------------------------------------------------------------------
// Ordering, history, resume, presence

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn clients_see_the_same_order_with_strictly_increasing_ids() {
    let server = common::start_with(common::unthrottled()).await;
    let alice = server.register("alice").await;
    let bob = server.register("bob").await;
    let (mut a, _) = server.connect(&alice.token, None).await;
    let (mut b, _) = server.connect(&bob.token, None).await;
    // Both send at once, without waiting for acknowledgements.
    for i in 0..10 {
        a.send_text(&format!("a{i}")).await;
        b.send_text(&format!("b{i}")).await;
    }
    let mut seen = Vec::new();
    for client in [&mut a, &mut b] {
        let mut frames = Vec::new();
        for _ in 0..20 {
            let m = client.next_message().await.unwrap();
            assert_message_frame(&m);
            frames.push(m);
        }
        seen.push(frames);
    }
    assert_eq!(seen[0], seen[1], "both clients see the same frames in the same order");
    let got = ids(&seen[0]);
    assert!(got.windows(2).all(|w| w[0] < w[1]), "{got:?}");
    for (user, prefix) in [("alice", "a"), ("bob", "b")] {
        let texts: Vec<&str> =
            seen[0].iter().filter(|m| m["user"] == user).map(|m| m["text"].as_str().unwrap()).collect();
        let want: Vec<String> = (0..10).map(|i| format!("{prefix}{i}")).collect();
        assert_eq!(texts, want, "each sender's messages in its own order, echo included");
    }
    server.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn history_is_the_last_50_or_everything_since_an_id() {
    let server = common::start_with(common::unthrottled()).await;
    let alice = server.register("alice").await;
    let bob = server.register("bob").await;
    let (mut a, history) = server.connect(&alice.token, None).await;
    assert!(history.is_empty());
    let sent = ids(&send_many(&mut a, "m", 120).await);

    let (_, history) = server.connect(&bob.token, None).await;
    assert_eq!(history.len(), 50);
    assert_eq!(ids(&history), sent[70..], "the newest 50, oldest first");
    history.iter().for_each(assert_message_frame);
    assert_eq!(history[49]["text"], "m119");

    let (_, history) = server.connect(&bob.token, Some(sent[9])).await;
    assert_eq!(ids(&history), sent[10..], "everything after the id, beyond 50");
    let (_, history) = server.connect(&bob.token, Some(0)).await;
    assert_eq!(ids(&history), sent);
    let (_, history) = server.connect(&bob.token, Some(sent[119])).await;
    assert!(history.is_empty());
    server.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_reconnecting_client_misses_nothing_and_sees_nothing_twice() {
    let server = common::start_with(common::unthrottled()).await;
    let alice = server.register("alice").await;
    let bob = server.register("bob").await;
    let (mut a, _) = server.connect(&alice.token, None).await;
    let (mut b, _) = server.connect(&bob.token, None).await;
    let mut bob_saw = Vec::new();
    for m in send_many(&mut a, "before", 5).await {
        let got = b.next_message().await.unwrap();
        assert_eq!(got, m);
        bob_saw.push(id(&got));
    }
    drop(b);
    let missed = ids(&send_many(&mut a, "while away", 7).await);
    let last = *bob_saw.last().unwrap();
    let (mut b, history) = server.connect(&bob.token, Some(last)).await;
    assert_eq!(ids(&history), missed);
    let live = a.send_acked("after").await;
    assert_eq!(b.next_message().await.unwrap(), live);
    // Nothing else is pending for bob: his next message is the next one sent.
    let sentinel = a.send_acked("sentinel").await;
    assert_eq!(b.next_message().await.unwrap(), sentinel);
    server.stop().await;
}

/// A server where alice is online, with the accounts of bob and carol (not connected yet).
async fn alice_online_then_bob_and_carol() -> (TestServer, Account, Account, WsClient) {
    let server = common::start().await;
    let alice = server.register("alice").await;
    let bob = server.register("bob").await;
    let carol = server.register("carol").await;
    let mut a = open_raw(&server, &alice.token).await;
    assert_eq!(read_history(&mut a).await.1, ["alice"]);
    (server, bob, carol, a)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_invalid_handshake_announces_nobody() {
    let (server, bob, carol, mut a) = alice_online_then_bob_and_carol().await;

    // An upgrade request with a valid token but a WebSocket version the server does not speak.
    let bad = request(&server, &format!("/ws?token={}", bob.token), &[("sec-websocket-version", "8")]);
    assert_eq!(server.refused_status(bad).await, 400);

    // The next presence news alice sees is carol's join: bob was never announced.
    let mut c = open_raw(&server, &carol.token).await;
    assert_eq!(read_history(&mut c).await.1, ["alice", "carol"]);
    assert_eq!(a.next_json().await.unwrap(), json!({ "type": "join", "user": "carol" }));
    server.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn presence_lists_online_users_and_announces_first_join_and_last_leave() {
    let (server, bob, carol, mut a) = alice_online_then_bob_and_carol().await;

    let mut b1 = open_raw(&server, &bob.token).await;
    assert_eq!(read_history(&mut b1).await.1, ["alice", "bob"]);
    assert_eq!(a.next_json().await.unwrap(), json!({ "type": "join", "user": "bob" }));

    // A second socket of bob is no news; closing it neither.
    let mut b2 = open_raw(&server, &bob.token).await;
    assert_eq!(read_history(&mut b2).await.1, ["alice", "bob"]);
    b2.ws.close(None).await.unwrap();
    let mut c = open_raw(&server, &carol.token).await;
    assert_eq!(read_history(&mut c).await.1, ["alice", "bob", "carol"]);
    assert_eq!(a.next_json().await.unwrap(), json!({ "type": "join", "user": "carol" }));

    b1.ws.close(None).await.unwrap();
    assert_eq!(a.next_json().await.unwrap(), json!({ "type": "leave", "user": "bob" }));
    assert_eq!(c.next_json().await.unwrap(), json!({ "type": "leave", "user": "bob" }));
    drop(c);
    assert_eq!(a.next_json().await.unwrap(), json!({ "type": "leave", "user": "carol" }));
    server.stop().await;
}

// ---------------------------------------------------------------------------------------------
// Invalid frames and limits

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn invalid_frames_get_an_error_frame_and_the_socket_stays_usable() {
    let server = common::start().await;
    let alice = server.register("alice").await;
    let bob = server.register("bob").await;
    let (mut a, _) = server.connect(&alice.token, None).await;
    let (mut b, _) = server.connect(&bob.token, None).await;
    let too_long = json!({ "type": "message", "text": "x".repeat(2001) }).to_string();
    let frames = [
        "this is not JSON".to_string(),
        "[\"a JSON array\"]".to_string(),
        "42".to_string(),
        r#"{"type": "dance", "text": "hi"}"#.to_string(),
        r#"{"type": 7, "text": "hi"}"#.to_string(),
        r#"{"type": "message"}"#.to_string(),
        r#"{"text": 5}"#.to_string(),
        r#"{"type": "message", "text": ""}"#.to_string(),
        r#"{"type": "message", "text": "   \n\t "}"#.to_string(),
        json!({ "type": "message", "text": "\u{200b}\u{200b} \u{feff}" }).to_string(),
        too_long,
    ];
    for frame in &frames {
        a.send_raw(Message::Text(frame.as_str().into())).await;
        let detail = expect_error_frame(&mut a).await;
        if frame.len() > 2000 {
            assert!(detail.contains("2000"), "{detail}");
        }
    }
    a.send_raw(Message::Binary(vec![1, 2, 3].into())).await;
    expect_error_frame(&mut a).await;

    // The limit counts characters, not bytes, after trimming.
    a.send_text(&"é".repeat(2001)).await;
    expect_error_frame(&mut a).await;
    let longest = format!("  {}  ", "é".repeat(2000));
    let echo = a.send_acked(&longest).await;
    assert_eq!(echo["text"].as_str().unwrap().chars().count(), 2000);
    let good = a.send_acked("still here").await;
    // Bob received none of the refused frames.
    assert_eq!(b.next_message().await.unwrap()["id"], echo["id"]);
    assert_eq!(b.next_message().await.unwrap(), good);
    server.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_oversized_frame_closes_only_that_socket_with_1009() {
    let server = common::start().await;
    let alice = server.register("alice").await;
    let bob = server.register("bob").await;
    let carol = server.register("carol").await;
    let (mut a, _) = server.connect(&alice.token, None).await;
    let (mut b, _) = server.connect(&bob.token, None).await;
    let (mut c, _) = server.connect(&carol.token, None).await;
    let huge = json!({ "type": "message", "text": "z".repeat(200 * 1024) }).to_string();
    a.send_raw(Message::Text(huge.into())).await;
    assert_eq!(a.expect_close().await, Some(1009));

    let m = b.send_acked("bob keeps chatting").await;
    assert_eq!(c.next_message().await.unwrap(), m);
    let m = c.send_acked("so does carol").await;
    assert_eq!(b.next_message().await.unwrap(), m);
    // Alice can come back.
    let (mut a, _) = server.connect(&alice.token, None).await;
    a.send_acked("alice is back").await;
    server.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn flooding_is_rate_limited_per_connection_without_blocking_or_losing_messages() {
    let server = common::start().await;
    let alice = server.register("alice").await;
    let (mut a, _) = server.connect(&alice.token, None).await;
    for i in 0..30 {
        a.send_text(&format!("flood {i}")).await;
    }
    let (mut acked, mut refused) = (Vec::new(), 0);
    while acked.len() + refused < 30 {
        let v = a.next_non_presence().await.expect("an answer to every frame");
        match v["type"].as_str() {
            Some("message") => acked.push(v),
            Some("error") => {
                assert!(v["detail"].as_str().unwrap().contains("too fast"), "{v}");
                refused += 1;
            }
            _ => panic!("unexpected frame {v}"),
        }
    }
    assert!(refused > 0, "30 messages at once must hit the limit");
    assert!(acked.len() >= 10, "the burst goes through: {}", acked.len());

    let me: Value = server.get("/me", Some(&alice.token)).await.json().await.unwrap();
    assert_eq!(me["is_blocked"], false);
    assert_eq!(me["warning_count"], 0);
    let stored: Value = server.get("/messages?limit=200", Some(&alice.token)).await.json().await.unwrap();
    let stored: Vec<(i64, String)> =
        stored.as_array().unwrap().iter().map(|m| (id(m), m["text"].as_str().unwrap().to_string())).collect();
    let acked: Vec<(i64, String)> =
        acked.iter().map(|m| (id(m), m["text"].as_str().unwrap().to_string())).collect();
    assert_eq!(stored, acked, "every acknowledged message is stored, and only those");

    // Once the bucket refills the same connection sends again.
    let mut accepted = false;
    for attempt in 0..50 {
        let text = format!("later {attempt}");
        a.send_text(&text).await;
        let v = a.next_non_presence().await.unwrap();
        if v["type"] == "message" {
            assert_eq!(v["text"], text);
            accepted = true;
            break;
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    assert!(accepted);
    server.stop().await;
}

// ---------------------------------------------------------------------------------------------
// Moderation and blocking

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn moderation_warns_twice_then_blocks_and_closes_every_socket() {
    let server = common::start().await;
    let admin = server.register_admin("root").await;
    let alice = server.register("alice").await;
    let bob = server.register("bob").await;
    let (mut a, _) = server.connect(&alice.token, None).await;
    let (mut a2, _) = server.connect(&alice.token, None).await;
    let (mut b, _) = server.connect(&bob.token, None).await;

    for (n, text) in [(1, "you idiot"), (2, "what an IDIOT")] {
        a.send_text(text).await;
        let w = a.next_non_presence().await.unwrap();
        assert_eq!(w["type"], "warning", "{w}");
        assert_eq!(w["warnings"], n);
        assert_eq!(w["limit"], 3);
        assert_eq!(w["user"], "System");
        assert_eq!(w["alert"], true);
        assert!(w["text"].as_str().unwrap().contains(&format!("Warning {n}")), "{w}");
        assert!(w["timestamp"].as_str().unwrap().ends_with('Z'));
        // Neither bob nor alice's other socket got anything for it.
        let ok = a.send_acked(&format!("sorry {n}")).await;
        assert_eq!(b.next_non_presence().await.unwrap(), ok);
        assert_eq!(a2.next_non_presence().await.unwrap(), ok);
    }
    let me: Value = server.get("/me", Some(&alice.token)).await.json().await.unwrap();
    assert_eq!(me["warning_count"], 2);

    a.send_text("idiot!").await;
    expect_blocked(&mut a).await;
    expect_blocked(&mut a2).await;

    let stored: Value = server.get("/messages", Some(&bob.token)).await.json().await.unwrap();
    let texts: Vec<&str> = stored.as_array().unwrap().iter().map(|m| m["text"].as_str().unwrap()).collect();
    assert_eq!(texts, ["sorry 1", "sorry 2"], "violations are never stored");
    assert_eq!(login_status(&server, "alice").await, 403);
    assert_eq!(me_status(&server, &alice).await, 403);
    assert_eq!(server.refused_status(server.ws_url(&format!("/ws?token={}", alice.token))).await, 403);

    let log: Value = server.get("/admin/violations", Some(&admin.token)).await.json().await.unwrap();
    // The seeding of the term list at the first start is in the audit log too; not this test's.
    let rows: Vec<(&str, &str, &str, &str)> = log
        .as_array()
        .unwrap()
        .iter()
        .filter(|v| v["action"] != "terms")
        .map(|v| {
            let s = |k: &str| v[k].as_str().unwrap();
            (s("action"), s("term"), s("text"), s("actor"))
        })
        .collect();
    assert_eq!(
        rows,
        [
            ("block", "idiot", "idiot!", "moderation"),
            ("warning", "idiot", "what an IDIOT", "moderation"),
            ("warning", "idiot", "you idiot", "moderation"),
        ]
    );
    // Bob is unaffected.
    let (mut b2, _) = server.connect(&bob.token, None).await;
    let m = b.send_acked("bob is fine").await;
    assert_eq!(b2.next_message().await.unwrap(), m);
    server.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn moderation_passes_innocent_words_and_catches_evasions() {
    let mut opts = common::Options::default();
    opts.chat.warning_limit = 100;
    opts.chat.ladder = chatterbox::chat::standing::Ladder::classic(100);
    let (server, mut a, mut b) = alice_and_bob(opts).await;
    for innocent in ["Scunthorpe", "a classic", "shiitake mushrooms"] {
        let m = a.send_acked(innocent).await;
        assert_eq!(b.next_message().await.unwrap(), m);
    }
    for (n, evasion) in ["s h i t", "sh1t", "ｓｈｉｔ", "SHIIIT"].into_iter().enumerate() {
        a.send_text(evasion).await;
        let w = a.next_non_presence().await.unwrap();
        assert_eq!(w["type"], "warning", "{evasion:?} passed: {w}");
        assert_eq!(w["warnings"], n as i64 + 1);
    }
    let m = a.send_acked("sentinel").await;
    assert_eq!(b.next_message().await.unwrap(), m, "bob saw none of the evasions");
    server.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn messages_of_only_invisible_or_blank_characters_are_refused_and_never_stored() {
    let mut opts = common::Options::default();
    opts.chat.message_rate = Rate::new(100.0, 100.0);
    let (server, mut a, mut b) = alice_and_bob(opts).await;
    for blank in [
        "\u{2800}",
        "\u{E0041}\u{E0042}",
        "\u{17B4}",
        "\u{1D173}",
        "\u{FFFC}",
        "\u{0}",
        "\u{1B}",
        "\u{3164}",
        "\u{115F}\u{1160}",
        "\u{FFA0}",
        " \u{2800} \u{200B}\u{E007F} ",
    ] {
        a.send_text(blank).await;
        let detail = expect_error_frame(&mut a).await;
        assert!(detail.contains("empty"), "{blank:?}: {detail}");
    }
    let m = a.send_acked("visible").await;
    assert_eq!(b.next_message().await.unwrap(), m, "bob saw none of the blank messages");
    let stored: Value =
        server.get("/messages", Some(&server.register("carol").await.token)).await.json().await.unwrap();
    let texts: Vec<&str> = stored.as_array().unwrap().iter().map(|m| m["text"].as_str().unwrap()).collect();
    assert_eq!(texts, ["visible"]);
    server.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_word_split_across_two_messages_is_refused_in_the_second() {
    let mut opts = common::Options::default();
    opts.chat.warning_limit = 100;
    opts.chat.ladder = chatterbox::chat::standing::Ladder::classic(100);
    let (server, mut a, mut b) = alice_and_bob(opts).await;
    // Another user's message in between does not matter: the memory is per user.
    let first = a.send_acked("what the fu").await;
    assert_eq!(b.next_message().await.unwrap(), first);
    let between = b.send_acked("ck").await;
    assert_eq!(a.next_message().await.unwrap(), between);
    a.send_text("ck you").await;
    let w = a.next_non_presence().await.unwrap();
    assert_eq!(w["type"], "warning", "{w}");
    // Uneven pieces, thin spaces, masks and a right-to-left override in one message each.
    for evasion in ["s hit", "fu\u{2009}ck", "f*ck", "\u{202E}kcuf", "phuck"] {
        a.send_text(evasion).await;
        let w = a.next_non_presence().await.unwrap();
        assert_eq!(w["type"], "warning", "{evasion:?} passed: {w}");
    }
    let m = a.send_acked("let's hit the road at 5:55, Galaxy A55 in hand").await;
    assert_eq!(b.next_message().await.unwrap(), m);
    server.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_admin_block_closes_the_users_live_sockets() {
    let server = common::start().await;
    let admin = server.register_admin("root").await;
    let alice = server.register("alice").await;
    let bob = server.register("bob").await;
    let (mut a, _) = server.connect(&alice.token, None).await;
    let (mut b1, _) = server.connect(&bob.token, None).await;
    let (mut b2, _) = server.connect(&bob.token, None).await;
    let resp = server.post(&format!("/admin/users/{}/block", bob.id), Some(&admin.token), None).await;
    assert_eq!(resp.status(), 200);
    expect_blocked(&mut b1).await;
    expect_blocked(&mut b2).await;
    assert_eq!(a.next_json().await.unwrap(), json!({ "type": "join", "user": "bob" }));
    assert_eq!(a.next_json().await.unwrap(), json!({ "type": "leave", "user": "bob" }));
    a.send_acked("alice is fine").await;
    server.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_operator_cli_blocks_and_unblocks_while_the_daemon_runs() {
    let server = common::start().await;
    let admin = server.register_admin("root").await;
    let bob = server.register("bob").await;
    let (mut b, _) = server.connect(&bob.token, None).await;
    b.send_acked("hello").await;

    let out = cli(&server, &["user", "block", "bob"]).await;
    assert!(out.contains("blocked bob"), "{out}");
    expect_blocked(&mut b).await;
    assert_eq!(login_status(&server, "bob").await, 403);
    assert_eq!(me_status(&server, &bob).await, 403);

    cli(&server, &["user", "unblock", "bob"]).await;
    assert_eq!(login_status(&server, "bob").await, 200);
    assert_eq!(me_status(&server, &bob).await, 200);
    let (mut b, _) = server.connect(&bob.token, None).await;
    b.send_acked("back again").await;

    let log: Value = server.get("/admin/violations", Some(&admin.token)).await.json().await.unwrap();
    let actions: Vec<(&str, &str)> = log
        .as_array()
        .unwrap()
        .iter()
        .filter(|v| v["action"] != "terms")
        .map(|v| (v["action"].as_str().unwrap(), v["actor"].as_str().unwrap()))
        .collect();
    assert_eq!(actions, [("unblock", "cli"), ("block", "cli")]);
    server.stop().await;
}

// ---------------------------------------------------------------------------------------------
// Slow clients

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_client_that_stops_reading_does_not_delay_the_others_and_is_dropped() {
    let mut opts = common::Options::default();
    opts.chat.broadcast_capacity = 64;
    opts.chat.message_rate = Rate::new(10_000.0, 10_000.0);
    // A stuck socket write gives up after this (the default is 10 s).
    opts.http.ws_write_timeout = Duration::from_secs(2);
    let server = common::start_with(opts).await;
    let fast = server.register("fast").await;
    let reader = server.register("reader").await;
    let slow = server.register("slow").await;
    let (mut sender, _) = server.connect(&fast.token, None).await;
    let (mut receiver, _) = server.connect(&reader.token, None).await;
    // Connected, then never read until the end.
    let (mut stuck, _) = server.connect(&slow.token, None).await;

    let slow_left = Arc::new(AtomicBool::new(false));
    let left = Arc::clone(&slow_left);
    let (tx, mut rx) = tokio::sync::mpsc::unbounded_channel::<Value>();
    let reading = tokio::spawn(async move {
        while let Some(v) = receiver.next_json().await {
            match v["type"].as_str() {
                Some("message") => {
                    let _ = tx.send(v);
                }
                Some("leave") if v["user"] == "slow" => left.store(true, Ordering::SeqCst),
                _ => {}
            }
        }
    });

    // At least 500 messages; then more until the stuck client is dropped (its socket buffers
    // must fill up first).
    let padding = "p".repeat(1900);
    let mut sent = Vec::new();
    while sent.len() < 500 || !slow_left.load(Ordering::SeqCst) {
        assert!(sent.len() < 20_000, "the stuck client was never disconnected");
        let echo = sender.send_acked(&format!("{} {padding}", sent.len())).await;
        sent.push(id(&echo));
        if sent.len() >= 500 && sent.len() % 100 == 0 {
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }
    let mut received = Vec::new();
    while received.len() < sent.len() {
        let m = tokio::time::timeout(Duration::from_secs(10), rx.recv()).await.unwrap().unwrap();
        assert!(m["text"].as_str().unwrap().starts_with(&format!("{} ", received.len())));
        received.push(id(&m));
    }
    assert_eq!(received, sent, "the reading client got every message, in order");
    reading.abort();

    // The stuck client finds what was buffered for it, then the end of the connection.
    let mut got = 0;
    let end = loop {
        match stuck.next().await {
            Next::Json(_) => got += 1,
            Next::Closed(code, reason) => break (code, reason),
        }
    };
    assert!(got < sent.len(), "the stuck client cannot have received everything");
    eprintln!("sent {}, the stuck client got {got} and then {end:?}", sent.len());
    if let (Some(code), reason) = &end {
        assert_eq!((*code, reason.as_str()), (1008, "too slow"));
    }

    let health = server.get("/healthz", None).await;
    assert_eq!(health.status(), 200);
    let (mut again, history) = server.connect(&slow.token, Some(*sent.last().unwrap())).await;
    assert!(history.is_empty());
    let m = again.send_acked("slow is back").await;
    assert_eq!(sender.next_message().await.unwrap(), m);
    server.stop().await;
}

// ---------------------------------------------------------------------------------------------
// Frame size, token expiry, debounced presence, one definition of "online"

/// The HTTP settings `chatterbox serve` derives from its defaults.
fn default_serve_http() -> chatterbox::http::HttpConfig {
    use clap::Parser;
    let cli = chatterbox::cli::Cli::try_parse_from(["chatterbox", "serve"]).unwrap();
    let chatterbox::cli::Command::Serve(args) = cli.command else { unreachable!() };
    chatterbox::config::ServeConfig::from_args(&args, None).unwrap().http
}

/// A message frame with every non-ASCII character of `text` JSON-escaped as `\uXXXX`
/// (a surrogate pair outside the Basic Multilingual Plane), as ASCII-only JSON encoders send it
/// (Python's `json.dumps` by default).
fn escaped_frame(text: &str) -> String {
    let mut out = String::from(r#"{"type":"message","text":""#);
    for c in text.chars() {
        if c.is_ascii() {
            out.push(c);
        } else {
            let mut units = [0u16; 2];
            for unit in c.encode_utf16(&mut units) {
                out.push_str(&format!("\\u{unit:04x}"));
            }
        }
    }
    out.push_str("\"}");
    out
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_longest_message_of_emoji_sent_json_escaped_is_accepted() {
    let opts = common::Options { http: default_serve_http(), ..common::Options::default() };
    let server = common::start_with(opts).await;
    let alice = server.register("alice").await;
    let (mut a, _) = server.connect(&alice.token, None).await;

    // 2,000 characters, 1,344 of them emoji: 16,812 bytes escaped, the frame that was closed
    // with 1009 while the same text sent raw passed.
    let text = format!("{}{}", "😀".repeat(1344), "a".repeat(656));
    let frame = escaped_frame(&text);
    assert_eq!((text.chars().count(), frame.len()), (2000, 16_812));
    a.send_raw(Message::Text(frame.into())).await;
    assert_eq!(a.next_message().await.expect("accepted, not closed")["text"], text);

    // The worst case: every one of the 2,000 characters an escaped surrogate pair.
    let text = "😀".repeat(2000);
    a.send_raw(Message::Text(escaped_frame(&text).into())).await;
    assert_eq!(a.next_message().await.expect("accepted, not closed")["text"], text);

    // Too long is still a clear error frame, not a closed socket...
    a.send_raw(Message::Text(escaped_frame(&"😀".repeat(2001)).into())).await;
    assert!(expect_error_frame(&mut a).await.contains("2000"));
    // ... and a frame far beyond any valid message still closes with 1009.
    a.send_raw(Message::Text(escaped_frame(&"😀".repeat(4000)).into())).await;
    assert_eq!(a.expect_close().await, Some(1009));
    server.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_socket_is_told_to_sign_in_again_and_closed_when_its_token_expires() {
    let mut opts = common::Options::default();
    opts.chat.token_ttl_secs = 2;
    let server = common::start_with(opts).await;
    let alice = server.register("alice").await;
    let bob = server.register("bob").await;
    let (mut a, _) = server.connect(&alice.token, None).await;
    let (mut b, _) = server.connect(&bob.token, None).await;
    a.send_acked("while the token is valid").await;

    let expired = loop {
        match a.next().await {
            Next::Json(v) if v["type"] == "expired" => break v,
            Next::Json(v) if v["type"] == "message" => panic!("a message after the token expired: {v}"),
            Next::Json(_) => continue,
            Next::Closed(code, reason) => panic!("closed ({code:?} {reason}) without an expired frame"),
        }
    };
    assert!(expired["text"].as_str().unwrap().contains("sign in again"), "{expired}");
    match a.next().await {
        Next::Closed(code, reason) => assert_eq!((code, reason.as_str()), (Some(1008), "token expired")),
        Next::Json(v) => panic!("a frame after the expired frame: {v}"),
    }
    // The same token no longer opens a socket; bob's, as old, is closed the same way.
    assert_eq!(server.refused_status(server.ws_url(&format!("/ws?token={}", alice.token))).await, 401);
    assert_eq!(b.expect_close().await, Some(1008));
    server.stop().await;
}

/// The join and leave frames `client` receives within `wait`.
async fn presence_changes(client: &mut WsClient, wait: Duration) -> Vec<Value> {
    let deadline = tokio::time::Instant::now() + wait;
    let mut seen = Vec::new();
    while let Some(Next::Json(v)) = client.next_within(deadline - tokio::time::Instant::now()).await {
        if v["type"] == "join" || v["type"] == "leave" {
            seen.push(v);
        }
    }
    seen
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn quick_reconnects_are_not_announced_to_the_room_each_time() {
    let server = common::start().await;
    let alice = server.register("alice").await;
    let bob = server.register("bob").await;
    let (mut a, _) = server.connect(&alice.token, None).await;
    for _ in 0..50 {
        let (mut b, _) = server.connect(&bob.token, None).await;
        b.ws.close(None).await.unwrap();
        b.expect_close().await;
    }
    // At most the first join; then, bob staying away, exactly one leave after the grace period.
    let grace = chatterbox::chat::ChatConfig::default().presence_grace;
    let seen = presence_changes(&mut a, grace + Duration::from_secs(3)).await;
    let join = json!({ "type": "join", "user": "bob" });
    let leave = json!({ "type": "leave", "user": "bob" });
    assert!(seen == [join.clone(), leave.clone()] || seen == [leave], "{seen:?}");
    server.stop().await;
}

async fn stats_online(server: &TestServer, admin: &Account) -> i64 {
    let resp = server.get("/admin/stats", Some(&admin.token)).await;
    assert_eq!(resp.status(), 200);
    resp.json::<Value>().await.unwrap()["online"].as_i64().unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn admin_stats_count_online_users_as_the_presence_frames_do() {
    let server = common::start().await;
    let admin = server.register_admin("root").await;
    let bob = server.register("bob").await;
    // The dashboard's own socket counts, as in its presence frame.
    let (mut live, _) = server.connect(&admin.token, None).await;
    assert_eq!(stats_online(&server, &admin).await, 1);
    let (mut second, _) = server.connect(&bob.token, None).await;
    assert_eq!(live.next_json().await.unwrap(), json!({ "type": "join", "user": "bob" }));
    assert_eq!(stats_online(&server, &admin).await, 2);
    second.ws.close(None).await.unwrap();
    second.expect_close().await;
    // Until the room is told bob left, bob counts as online everywhere.
    assert_eq!(stats_online(&server, &admin).await, 2, "stats and presence disagree");
    assert_eq!(live.next_json().await.unwrap(), json!({ "type": "leave", "user": "bob" }));
    assert_eq!(stats_online(&server, &admin).await, 1);
    server.stop().await;
}

// The same tests with their servers on PostgreSQL (`common::postgres_too`).
common::postgres_too!(
    handshake_is_refused_without_a_valid_token_for_blocked_users_and_cross_site,
    connects_by_query_token_bearer_header_and_same_origin,
    clients_see_the_same_order_with_strictly_increasing_ids,
    history_is_the_last_50_or_everything_since_an_id,
    a_reconnecting_client_misses_nothing_and_sees_nothing_twice,
    an_invalid_handshake_announces_nobody,
    presence_lists_online_users_and_announces_first_join_and_last_leave,
    invalid_frames_get_an_error_frame_and_the_socket_stays_usable,
    an_oversized_frame_closes_only_that_socket_with_1009,
    flooding_is_rate_limited_per_connection_without_blocking_or_losing_messages,
    moderation_warns_twice_then_blocks_and_closes_every_socket,
    moderation_passes_innocent_words_and_catches_evasions,
    messages_of_only_invisible_or_blank_characters_are_refused_and_never_stored,
    a_word_split_across_two_messages_is_refused_in_the_second,
    an_admin_block_closes_the_users_live_sockets,
    the_operator_cli_blocks_and_unblocks_while_the_daemon_runs,
    a_client_that_stops_reading_does_not_delay_the_others_and_is_dropped,
    a_longest_message_of_emoji_sent_json_escaped_is_accepted,
    a_socket_is_told_to_sign_in_again_and_closed_when_its_token_expires,
    quick_reconnects_are_not_announced_to_the_room_each_time,
    admin_stats_count_online_users_as_the_presence_frames_do,
);
