//! Room moderators (issue 14, ROOMMOD): who moderates a room (its creator, members named
//! moderator, admins everywhere; nobody in a DM), and their powers over REST with their live
//! effect over the WebSocket: deleting any message of the room, removing members of a private
//! room, room mutes (enforced when the message is written, ending by themselves) and slow mode
//! (moderators exempt, one clock for every instance), each act in the audit log.

mod common;

use std::{sync::Arc, time::Duration};

use common::{Account, Options, TestServer, WsClient};
use reqwest::Method;
use serde_json::{json, Value};

const GENERAL: i64 = 1;

async fn call(
    server: &TestServer,
    method: Method,
    path: &str,
    who: &Account,
    body: Option<Value>,
) -> (u16, Value) {
    let mut req = server.http.request(method, server.url(path)).bearer_auth(&who.token);
    if let Some(b) = body {
        req = req.json(&b);
    }
    let resp = req.send().await.unwrap();
    let status = resp.status().as_u16();
    let text = resp.text().await.unwrap();
    (status, if text.is_empty() { Value::Null } else { serde_json::from_str(&text).unwrap() })
}

async fn room(server: &TestServer, who: &Account, name: &str, visibility: &str) -> i64 {
    let body = json!({ "name": name, "visibility": visibility });
    let (status, body) = call(server, Method::POST, "/rooms", who, Some(body)).await;
    assert_eq!(status, 201, "{body}");
    body["id"].as_i64().unwrap()
}

async fn join(server: &TestServer, who: &Account, room: i64) {
    let (status, body) = call(server, Method::POST, &format!("/rooms/{room}/join"), who, None).await;
    assert_eq!(status, 200, "{body}");
}

async fn add(server: &TestServer, by: &Account, room: i64, name: &str) {
    let body = json!({ "username": name });
    let (status, body) = call(server, Method::POST, &format!("/rooms/{room}/members"), by, Some(body)).await;
    assert_eq!(status, 200, "{body}");
}

async fn details(server: &TestServer, who: &Account, room: i64) -> (u16, Value) {
    call(server, Method::GET, &format!("/rooms/{room}"), who, None).await
}

async fn moderator(server: &TestServer, by: &Account, room: i64, name: &str, on: bool) -> (u16, Value) {
    let method = if on { Method::PUT } else { Method::DELETE };
    call(server, method, &format!("/rooms/{room}/moderators/{name}"), by, None).await
}

async fn slow(server: &TestServer, by: &Account, room: i64, secs: i64) -> (u16, Value) {
    call(server, Method::PATCH, &format!("/rooms/{room}"), by, Some(json!({ "slow_mode_secs": secs }))).await
}

async fn mute(server: &TestServer, by: &Account, room: i64, name: &str, span: &str) -> (u16, Value) {
    let body = json!({ "user": name, "for": span, "reason": "cool down" });
    call(server, Method::POST, &format!("/rooms/{room}/mutes"), by, Some(body)).await
}

async fn expect_frame(socket: &mut WsClient, kind: &str) -> Value {
    loop {
        let v = socket.next_json().await.unwrap_or_else(|| panic!("closed while waiting for {kind}"));
        if v["type"] == kind {
            return v;
        }
    }
}

/// Sends a message and returns what answered it: its echo or an error frame.
async fn post(socket: &mut WsClient, room: i64, text: &str) -> Value {
    socket.send_json(json!({ "type": "message", "room": room, "text": text })).await;
    loop {
        let v = socket.next_json().await.expect("an answer");
        if v["type"] == "error" || (v["type"] == "message" && v["text"] == text) {
            return v;
        }
    }
}

/// The audit log's (action, actor, username) triples, oldest first.
async fn audit(server: &TestServer) -> Vec<(String, String, String)> {
    let store = Arc::clone(server.chat.store());
    let rows = tokio::task::spawn_blocking(move || store.violations(None, 100).unwrap()).await.unwrap();
    // The term list's seeding at the first start is in the log too, and not this suite's.
    rows.into_iter()
        .rev()
        .filter(|v| v.action != chatterbox::store::Action::Terms)
        .map(|v| (v.action.as_str().to_string(), v.actor, v.username.unwrap_or_default()))
        .collect()
}

fn triple(a: &str, b: &str, c: &str) -> (String, String, String) {
    (a.to_string(), b.to_string(), c.to_string())
}

#[tokio::test]
async fn who_moderates_a_room() {
    let server = common::start_with(common::unthrottled()).await;
    let root = server.register_admin("root").await;
    let (alice, bob, carol, dave) = (
        server.register("alice").await,
        server.register("bob").await,
        server.register("carol").await,
        server.register("dave").await,
    );
    let town = room(&server, &alice, "town", "public").await;
    join(&server, &bob, town).await;
    join(&server, &carol, town).await;
    let (mut carol_ws, _) = server.connect(&carol.token, None).await;

    // The creator moderates; a plain member does not, and may not act.
    let (_, view) = details(&server, &alice, town).await;
    assert_eq!(
        (view["can_moderate"].as_bool(), view["can_name_moderators"].as_bool()),
        (Some(true), Some(true))
    );
    let (_, view) = details(&server, &bob, town).await;
    assert_eq!((view["can_moderate"].as_bool(), view["my_role"].as_str()), (Some(false), Some("member")));
    assert_eq!(slow(&server, &bob, town, 10).await.0, 403);
    assert_eq!(moderator(&server, &bob, town, "carol", true).await.0, 403);

    // The creator names bob: he moderates now, every member sees it live and in the member list.
    let (status, body) = moderator(&server, &alice, town, "bob", true).await;
    assert_eq!((status, body["changed"].as_bool()), (200, Some(true)), "{body}");
    let role = expect_frame(&mut carol_ws, "role").await;
    assert_eq!(
        (role["room"].as_i64(), role["user"].as_str(), role["role"].as_str()),
        (Some(town), Some("bob"), Some("moderator"))
    );
    let (_, view) = details(&server, &bob, town).await;
    assert_eq!((view["can_moderate"].as_bool(), view["my_role"].as_str()), (Some(true), Some("moderator")));
    assert_eq!(view["can_name_moderators"], false, "a named moderator names nobody");
    // Each one's list of conversations says whether they moderate it (the web UI's "Reports").
    for (who, expected) in [(&alice, true), (&bob, true), (&carol, false)] {
        let (_, rooms) = call(&server, Method::GET, "/rooms", who, None).await;
        let listed = rooms.as_array().unwrap().iter().find(|r| r["id"] == town).cloned().unwrap();
        assert_eq!(listed["moderator"], expected, "{}: {listed}", who.username);
    }
    let roles: Vec<(String, String)> = view["member_list"]
        .as_array()
        .unwrap()
        .iter()
        .map(|m| (m["username"].as_str().unwrap().into(), m["role"].as_str().unwrap().into()))
        .collect();
    assert!(roles.contains(&("bob".into(), "moderator".into())), "{roles:?}");
    assert_eq!(
        moderator(&server, &bob, town, "carol", true).await.0,
        403,
        "only the creator or an admin names"
    );
    assert_eq!(moderator(&server, &alice, town, "dave", true).await.0, 404, "only members are named");

    // An admin names and unnames anywhere, without being a member.
    assert_eq!(moderator(&server, &root, town, "carol", true).await.0, 200);
    assert_eq!(moderator(&server, &root, town, "carol", false).await.0, 200);
    // A moderator who leaves is one no more: rejoining makes a plain member.
    call(&server, Method::POST, &format!("/rooms/{town}/leave"), &bob, None).await;
    join(&server, &bob, town).await;
    assert_eq!(details(&server, &bob, town).await.1["can_moderate"], false);
    assert_eq!(slow(&server, &bob, town, 10).await.0, 403);

    // A private room is a missing id to non-members; a DM has no moderators (admins only).
    let den = room(&server, &alice, "den", "private").await;
    assert_eq!(slow(&server, &dave, den, 10).await.0, 404);
    assert_eq!(moderator(&server, &dave, den, "dave", true).await.0, 404);
    assert_eq!(
        call(
            &server,
            Method::POST,
            &format!("/rooms/{den}/mutes"),
            &dave,
            Some(json!({"user": "alice", "for": "1m"}))
        )
        .await
        .0,
        404
    );
    let (_, dm) = call(&server, Method::POST, "/dms", &alice, Some(json!({ "usernames": ["bob"] }))).await;
    let dm = dm["id"].as_i64().unwrap();
    assert_eq!(slow(&server, &alice, dm, 10).await.0, 403);
    assert_eq!(moderator(&server, &alice, dm, "bob", true).await.0, 403);
    assert_eq!(details(&server, &alice, dm).await.1["can_moderate"], false);

    let log = audit(&server).await;
    assert_eq!(
        log,
        vec![
            triple("moderator", "alice", "bob"),
            triple("moderator", "root", "carol"),
            triple("moderator", "root", "carol"),
        ]
    );
    server.stop().await;
}

#[tokio::test]
async fn moderators_delete_messages_and_remove_members_of_private_rooms() {
    let server = common::start_with(common::unthrottled()).await;
    let (alice, bob, carol) =
        (server.register("alice").await, server.register("bob").await, server.register("carol").await);
    let den = room(&server, &alice, "den", "private").await;
    add(&server, &alice, den, "bob").await;
    add(&server, &alice, den, "carol").await;
    let (mut carol_ws, _) = server.connect(&carol.token, None).await;
    let (mut bob_ws, _) = server.connect(&bob.token, None).await;
    let said = post(&mut carol_ws, den, "rude words").await;
    let id = said["id"].as_i64().unwrap();
    let mine = post(&mut bob_ws, den, "bob here").await["id"].as_i64().unwrap();

    // Before bob is named, others' messages are not his to delete, nor members his to remove.
    assert_eq!(call(&server, Method::DELETE, &format!("/messages/{id}"), &bob, None).await.0, 403);
    assert_eq!(
        call(&server, Method::DELETE, &format!("/rooms/{den}/members/carol"), &bob, None).await.0,
        403
    );
    assert_eq!(moderator(&server, &alice, den, "bob", true).await.0, 200);

    let (status, body) = call(&server, Method::DELETE, &format!("/messages/{id}"), &bob, None).await;
    assert_eq!(status, 200, "{body}");
    let gone = expect_frame(&mut carol_ws, "deleted").await;
    assert_eq!((gone["id"].as_i64(), gone["room"].as_i64()), (Some(id), Some(den)));
    // A plain member still deletes only their own.
    assert_eq!(call(&server, Method::DELETE, &format!("/messages/{mine}"), &carol, None).await.0, 403);

    let (status, body) =
        call(&server, Method::DELETE, &format!("/rooms/{den}/members/carol"), &bob, None).await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(expect_frame(&mut carol_ws, "room_removed").await["room"], den);
    assert_eq!(details(&server, &carol, den).await.0, 404);

    let log = audit(&server).await;
    assert_eq!(log, vec![triple("moderator", "alice", "bob"), triple("delete", "bob", "carol")]);
    server.stop().await;
}

#[tokio::test]
async fn room_mutes_refuse_posts_in_that_room_until_they_end() {
    let server = common::start_with(common::unthrottled()).await;
    let root = server.register_admin("root").await;
    let (alice, bob) = (server.register("alice").await, server.register("bob").await);
    let town = room(&server, &alice, "town", "public").await;
    join(&server, &bob, town).await;
    let (mut bob_ws, _) = server.connect(&bob.token, None).await;

    let (status, body) = mute(&server, &alice, town, "bob", "1h").await;
    assert_eq!(status, 200, "{body}");
    let until = body["until"].as_str().unwrap().to_string();
    let frame = expect_frame(&mut bob_ws, "muted").await;
    assert_eq!((frame["room"].as_i64(), frame["until"].as_str()), (Some(town), Some(until.as_str())));
    assert!(frame["text"].as_str().unwrap().contains(&until), "{frame}");
    let refused = post(&mut bob_ws, town, "let me speak").await;
    assert_eq!(refused["type"], "error", "{refused}");
    let detail = refused["detail"].as_str().unwrap();
    assert!(detail.contains("muted in this room") && detail.contains(&until), "{refused}");
    // Elsewhere bob posts as ever; the member list shows the mute.
    assert_eq!(post(&mut bob_ws, GENERAL, "hello general").await["type"], "message");
    let (_, view) = details(&server, &alice, town).await;
    let bob_row =
        view["member_list"].as_array().unwrap().iter().find(|m| m["username"] == "bob").unwrap().clone();
    assert_eq!(bob_row["muted_until"].as_str(), Some(until.as_str()));

    // Moderators are not muted, and plain members mute nobody.
    assert_eq!(mute(&server, &root, town, "alice", "1h").await.0, 403);
    assert_eq!(mute(&server, &bob, town, "alice", "1h").await.0, 403);
    assert_eq!(mute(&server, &alice, town, "bob", "soon").await.0, 422);

    // Unmuted: told so, and posting again.
    let (status, _) = call(&server, Method::DELETE, &format!("/rooms/{town}/mutes/bob"), &alice, None).await;
    assert_eq!(status, 200);
    assert_eq!(expect_frame(&mut bob_ws, "muted").await["until"], Value::Null);
    assert_eq!(post(&mut bob_ws, town, "thanks").await["type"], "message");

    // A mute ends by itself.
    assert_eq!(mute(&server, &alice, town, "bob", "1s").await.0, 200);
    assert_eq!(post(&mut bob_ws, town, "too soon").await["type"], "error");
    tokio::time::sleep(Duration::from_millis(1100)).await;
    let back = post(&mut bob_ws, town, "back again").await;
    assert_eq!(back["type"], "message", "{back}");

    let log = audit(&server).await;
    assert_eq!(
        log,
        vec![
            triple("mute", "alice", "bob"),
            triple("unmute", "alice", "bob"),
            triple("mute", "alice", "bob")
        ]
    );
    server.stop().await;
}

#[tokio::test]
async fn slow_mode_spaces_out_members_but_not_moderators() {
    let server = common::start_with(common::unthrottled()).await;
    let (alice, bob) = (server.register("alice").await, server.register("bob").await);
    let town = room(&server, &alice, "town", "public").await;
    join(&server, &bob, town).await;
    let (mut alice_ws, _) = server.connect(&alice.token, None).await;
    let (mut bob_ws, _) = server.connect(&bob.token, None).await;

    assert_eq!(slow(&server, &alice, town, 3601).await.0, 422);
    let (status, body) = slow(&server, &alice, town, 3600).await;
    assert_eq!((status, body["slow_mode_secs"].as_i64()), (200, Some(3600)), "{body}");
    let frame = expect_frame(&mut bob_ws, "room").await;
    assert_eq!(
        (frame["room"]["id"].as_i64(), frame["room"]["slow_mode_secs"].as_i64()),
        (Some(town), Some(3600))
    );

    assert_eq!(post(&mut bob_ws, town, "first").await["type"], "message");
    let refused = post(&mut bob_ws, town, "second").await;
    assert_eq!(refused["type"], "error", "{refused}");
    let wait = refused["retry_after"].as_u64().unwrap();
    assert!((3500..=3600).contains(&wait), "{refused}");
    assert!(refused["detail"].as_str().unwrap().contains("Slow mode"), "{refused}");
    // The creator is exempt; other rooms are not slowed.
    for text in ["one", "two", "three"] {
        assert_eq!(post(&mut alice_ws, town, text).await["type"], "message");
    }
    assert_eq!(post(&mut bob_ws, GENERAL, "general is quick").await["type"], "message");

    // Slow mode off: bob posts again at once.
    assert_eq!(slow(&server, &alice, town, 0).await.0, 200);
    let free = post(&mut bob_ws, town, "free again").await;
    assert_eq!(free["type"], "message", "{free}");

    let store = Arc::clone(server.chat.store());
    let room_now = tokio::task::spawn_blocking(move || store.room(town).unwrap().unwrap()).await.unwrap();
    assert_eq!(room_now.slow_mode_secs, 0);
    server.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn slow_mode_and_mutes_hold_across_instances() {
    let Some(url) = tokio::task::spawn_blocking(common::pg::database).await.unwrap() else { return };
    let instance = || async {
        let opts = common::unthrottled();
        common::start_with(Options { database_url: Some(url.clone()), ..opts }).await
    };
    let (a, b) = (instance().await, instance().await);
    let alice = a.register("alice").await;
    let bob = a.register("bob").await;
    let town = room(&a, &alice, "town", "public").await;
    join(&a, &bob, town).await;
    let (mut bob_a, _) = a.connect(&bob.token, None).await;
    let (mut bob_b, _) = b.connect(&bob.token, None).await;

    assert_eq!(slow(&a, &alice, town, 3600).await.0, 200);
    assert_eq!(post(&mut bob_a, town, "on a").await["type"], "message");
    let refused = post(&mut bob_b, town, "on b").await;
    assert!(refused["retry_after"].as_u64().is_some_and(|w| w > 3500), "one clock for both: {refused}");

    // A mute made on one instance reaches bob's socket on the other.
    assert_eq!(mute(&a, &alice, town, "bob", "1h").await.0, 200);
    assert_eq!(expect_frame(&mut bob_b, "muted").await["room"], town);
    a.stop().await;
    b.stop().await;
}

/// Runs the operator CLI on the server's database: success, stdout and stderr.
async fn cli(server: &TestServer, args: &[&str]) -> (bool, String, String) {
    let mut cmd = common::cli::chatterbox();
    cmd.args(server.db_args()).args(args);
    let out = tokio::task::spawn_blocking(move || common::cli::run(cmd, None)).await.unwrap();
    let text = |b: Vec<u8>| String::from_utf8(b).unwrap();
    (out.status.success(), text(out.stdout), text(out.stderr))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_operator_names_moderators_from_the_shell_while_the_daemon_runs() {
    let server = common::start_with(common::unthrottled()).await;
    let (alice, bob) = (server.register("alice").await, server.register("bob").await);
    let town = room(&server, &alice, "town", "public").await;
    join(&server, &bob, town).await;
    let (mut alice_ws, _) = server.connect(&alice.token, None).await;

    let (ok, out, err) = cli(&server, &["room", "moderator", "town", "bob"]).await;
    assert!(ok, "{err}");
    assert_eq!(out.trim(), "bob now moderates town");
    // The daemon finds the change in the log by itself and tells the room's members.
    let role = expect_frame(&mut alice_ws, "role").await;
    assert_eq!((role["user"].as_str(), role["role"].as_str()), (Some("bob"), Some("moderator")));
    assert_eq!(details(&server, &bob, town).await.1["can_moderate"], true);

    let (ok, out, _) = cli(&server, &["room", "moderator", "town", "bob", "--remove"]).await;
    assert!(ok);
    assert_eq!(out.trim(), "bob no longer moderates town");
    assert_eq!(expect_frame(&mut alice_ws, "role").await["role"], "member");
    let (ok, _, err) = cli(&server, &["room", "moderator", "town", "nobody"]).await;
    assert!(!ok && err.contains("nobody"), "{err}");
    assert_eq!(
        audit(&server).await,
        vec![triple("moderator", "cli", "bob"), triple("moderator", "cli", "bob")]
    );
    server.stop().await;
}

common::postgres_too!(
    who_moderates_a_room,
    moderators_delete_messages_and_remove_members_of_private_rooms,
    room_mutes_refuse_posts_in_that_room_until_they_end,
    slow_mode_spaces_out_members_but_not_moderators,
    slow_mode_and_mutes_hold_across_instances,
    the_operator_names_moderators_from_the_shell_while_the_daemon_runs,
);
