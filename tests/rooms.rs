//! Conversations as users see them (issue 11): public rooms, private rooms, DMs, `general`,
//! unread counts and mentions, archived rooms, resume and ordering across rooms, and the
//! migration of a database written by the version before rooms. Privacy rules first: a
//! non-member never receives, reads, posts into or learns of a private room or a DM.

mod common;

use std::{sync::Arc, time::Duration};

use common::{Account, Next, TestServer, WsClient};
use reqwest::Method;
use serde_json::{json, Value};

// ---------------------------------------------------------------------------------------------
// Helpers

/// Generous bound for "arrives within a second" style waits.
const WAIT: Duration = Duration::from_secs(5);

/// Registers these accounts, in order.
async fn accounts<const N: usize>(server: &TestServer, names: [&str; N]) -> [Account; N] {
    let mut out = Vec::with_capacity(N);
    for name in names {
        out.push(server.register(name).await);
    }
    out.try_into().unwrap_or_else(|_| unreachable!())
}

/// One REST call; returns the status and the JSON body (Null when there is none).
async fn call(
    server: &TestServer,
    method: Method,
    path: &str,
    token: &str,
    body: Option<Value>,
) -> (u16, Value) {
    let mut req = server.http.request(method, server.url(path)).bearer_auth(token);
    if let Some(b) = body {
        req = req.json(&b);
    }
    let resp = req.send().await.unwrap();
    let status = resp.status().as_u16();
    let text = resp.text().await.unwrap();
    let body = if text.is_empty() {
        Value::Null
    } else {
        serde_json::from_str(&text).unwrap_or(Value::String(text))
    };
    (status, body)
}

async fn get(server: &TestServer, path: &str, who: &Account) -> (u16, Value) {
    call(server, Method::GET, path, &who.token, None).await
}

async fn post(server: &TestServer, path: &str, who: &Account, body: Value) -> (u16, Value) {
    call(server, Method::POST, path, &who.token, Some(body)).await
}

/// `GET` that must answer 200; returns the body.
async fn get_ok(server: &TestServer, path: &str, who: &Account) -> Value {
    let (status, body) = get(server, path, who).await;
    assert_eq!(status, 200, "GET {path} as {}: {body}", who.username);
    body
}

/// Creates a room (`public` or `private`) and returns its summary.
async fn create_room(server: &TestServer, who: &Account, name: &str, visibility: &str) -> Value {
    let (status, body) = post(server, "/rooms", who, json!({ "name": name, "visibility": visibility })).await;
    assert_eq!(status, 201, "create {name}: {body}");
    body
}

fn id_of(v: &Value) -> i64 {
    v["id"].as_i64().unwrap_or_else(|| panic!("no id in {v}"))
}

async fn join(server: &TestServer, who: &Account, room: i64) {
    let (status, body) = post(server, &format!("/rooms/{room}/join"), who, json!({})).await;
    assert_eq!(status, 200, "{} joins {room}: {body}", who.username);
}

async fn add_member(server: &TestServer, who: &Account, room: i64, username: &str) -> (u16, Value) {
    post(server, &format!("/rooms/{room}/members"), who, json!({ "username": username })).await
}

async fn remove_member(server: &TestServer, who: &Account, room: i64, username: &str) -> (u16, Value) {
    call(server, Method::DELETE, &format!("/rooms/{room}/members/{username}"), &who.token, None).await
}

async fn open_dm(server: &TestServer, who: &Account, others: &[&str]) -> (u16, Value) {
    post(server, "/dms", who, json!({ "usernames": others })).await
}

async fn mark_read(server: &TestServer, who: &Account, room: i64, message_id: i64) -> (u16, Value) {
    post(server, &format!("/rooms/{room}/read"), who, json!({ "message_id": message_id })).await
}

async fn set_notify(server: &TestServer, who: &Account, room: i64, level: &str) -> (u16, Value) {
    call(server, Method::PUT, &format!("/rooms/{room}/notify"), &who.token, Some(json!({ "level": level })))
        .await
}

/// The caller's conversations from `GET /rooms`.
async fn my_rooms(server: &TestServer, who: &Account) -> Vec<Value> {
    get_ok(server, "/rooms", who).await.as_array().unwrap().clone()
}

/// The caller's summary of `room` in `GET /rooms`, if listed.
async fn my_room(server: &TestServer, who: &Account, room: i64) -> Option<Value> {
    my_rooms(server, who).await.into_iter().find(|r| id_of(r) == room)
}

/// The texts of a room's history as `who` reads it.
async fn history_texts(server: &TestServer, who: &Account, room: i64) -> Vec<String> {
    let body = get_ok(server, &format!("/rooms/{room}/messages?limit=200"), who).await;
    body.as_array().unwrap().iter().map(|m| m["text"].as_str().unwrap().to_string()).collect()
}

/// Sends a message into `room` (None: no `room` field).
async fn send(client: &mut WsClient, room: Option<i64>, text: &str) {
    let mut frame = json!({ "type": "message", "text": text });
    if let Some(room) = room {
        frame["room"] = json!(room);
    }
    client.send_json(frame).await;
}

/// Reads frames until one matches; panics if none does within `WAIT`. Returns the match and
/// every frame read before it.
async fn wait_for(client: &mut WsClient, what: &str, pred: impl Fn(&Value) -> bool) -> (Value, Vec<Value>) {
    let deadline = tokio::time::Instant::now() + WAIT;
    let mut before = Vec::new();
    loop {
        let left = deadline.saturating_duration_since(tokio::time::Instant::now());
        match client.next_within(left).await {
            Some(Next::Json(v)) if pred(&v) => return (v, before),
            Some(Next::Json(v)) => before.push(v),
            Some(Next::Closed(code, reason)) => {
                panic!("closed ({code:?} {reason}) waiting for {what}; saw {before:?}")
            }
            None => panic!("no {what} within {WAIT:?}; saw {before:?}"),
        }
    }
}

/// Waits for the `message` frame with this text; returns it and the frames before it.
async fn wait_message(client: &mut WsClient, text: &str) -> (Value, Vec<Value>) {
    wait_for(client, &format!("message {text:?}"), |v| v["type"] == "message" && v["text"] == text).await
}

/// Sends into `room` and waits for the echo; panics on an error frame.
async fn send_ok(client: &mut WsClient, room: Option<i64>, text: &str) -> Value {
    send(client, room, text).await;
    let (v, _) = wait_for(client, &format!("echo of {text:?}"), |v| {
        assert_ne!(v["type"], "error", "{text:?} refused: {v}");
        v["type"] == "message" && v["text"] == text
    })
    .await;
    v
}

/// Sends into `room` and expects an error frame (before any echo of it).
async fn send_refused(client: &mut WsClient, room: i64, text: &str) -> Value {
    send(client, Some(room), text).await;
    let (v, _) = wait_for(client, "an error frame", |v| {
        assert!(!(v["type"] == "message" && v["text"] == text), "{text:?} was accepted: {v}");
        v["type"] == "error"
    })
    .await;
    v
}

/// Posts `marker` into `general` from `sender` and reads `reader` up to it: every frame the
/// reader got before the marker. Delivery is in log order, so anything sent before the marker
/// that the reader would get arrives first.
async fn frames_before_marker(sender: &mut WsClient, reader: &mut WsClient, marker: &str) -> Vec<Value> {
    send_ok(sender, None, marker).await;
    wait_message(reader, marker).await.1
}

fn messages_of_room(frames: &[Value], room: i64) -> Vec<&Value> {
    frames.iter().filter(|v| v["type"] == "message" && v["room"] == room).collect()
}

/// Any frame that mentions the room at all (a message, `room`, `room_removed`, `read`).
fn about_room(frames: &[Value], room: i64) -> Vec<&Value> {
    frames.iter().filter(|v| v["room"] == room || v["room"]["id"] == room).collect()
}

fn names(v: &Value) -> Vec<String> {
    v.as_array().unwrap().iter().map(|s| s.as_str().unwrap().to_string()).collect()
}

// ---------------------------------------------------------------------------------------------
// Public rooms

#[tokio::test]
async fn public_room_create_join_chat_and_leave() {
    let server = common::start().await;
    let [alice, bob, carol] = accounts(&server, ["alice", "bob", "carol"]).await;

    let room = create_room(&server, &alice, "Lobby", "public").await;
    let rid = id_of(&room);
    assert_eq!(room["kind"], "public");
    assert_eq!(room["name"], "Lobby");
    assert_eq!(room["members"], 1);
    assert_eq!(room["joined"], true);
    assert_eq!(room["created_by"], "alice");
    assert_eq!(room["people"], json!([]));
    assert_eq!(room["unread"], 0);
    assert_eq!(room["last_message_id"], 0);

    // The directory lists it, with whether the caller is in it.
    let dir = get_ok(&server, "/rooms/directory", &bob).await;
    let entry = dir.as_array().unwrap().iter().find(|r| id_of(r) == rid).expect("lobby listed").clone();
    assert_eq!(entry["name"], "Lobby");
    assert_eq!(entry["joined"], false);
    assert_eq!(entry["members"], 1);
    let dir = get_ok(&server, "/rooms/directory", &alice).await;
    assert!(dir.as_array().unwrap().iter().any(|r| id_of(r) == rid && r["joined"] == true));
    // Sorted by name: `general` and `Lobby` in letter order.
    let listed: Vec<&str> = dir.as_array().unwrap().iter().map(|r| r["name"].as_str().unwrap()).collect();
    assert_eq!(listed, ["general", "Lobby"]);

    let (mut a, _) = server.connect(&alice.token, None).await;
    let (mut b, _) = server.connect(&bob.token, None).await;
    let (mut c, _) = server.connect(&carol.token, None).await;

    // Bob joins: his socket hears of the room; then they chat.
    join(&server, &bob, rid).await;
    let (frame, _) = wait_for(&mut b, "room frame", |v| v["type"] == "room").await;
    assert_eq!(frame["room"]["id"], rid);
    assert_eq!(frame["room"]["joined"], true);
    assert!(get_ok(&server, "/rooms/directory", &bob)
        .await
        .as_array()
        .unwrap()
        .iter()
        .any(|r| id_of(r) == rid && r["joined"] == true && r["members"] == 2));

    let sent = send_ok(&mut a, Some(rid), "hello lobby").await;
    assert_eq!(sent["room"], rid);
    let (got, _) = wait_message(&mut b, "hello lobby").await;
    assert_eq!(got["room"], rid);
    assert_eq!(got["user"], "alice");
    assert_eq!(got["mentions"], json!([]));
    assert_eq!(got["id"], sent["id"]);
    send_ok(&mut b, Some(rid), "hi alice").await;
    let (got, _) = wait_message(&mut a, "hi alice").await;
    assert_eq!((got["room"].clone(), got["user"].clone()), (json!(rid), json!("bob")));

    // Carol, not a member, hears nothing of it and cannot post into it.
    let before = frames_before_marker(&mut a, &mut c, "marker one").await;
    assert!(messages_of_room(&before, rid).is_empty(), "a non-member received: {before:?}");
    let err = send_refused(&mut c, rid, "carol intrudes").await;
    assert!(err["detail"].as_str().unwrap().contains("not a member"), "{err}");
    assert!(!history_texts(&server, &alice, rid).await.contains(&"carol intrudes".to_string()));

    // Bob leaves: told so, and nothing more from the room reaches him.
    let (status, body) = post(&server, &format!("/rooms/{rid}/leave"), &bob, json!({})).await;
    assert_eq!((status, body), (200, json!({ "left": true })));
    let (gone, _) = wait_for(&mut b, "room_removed", |v| v["type"] == "room_removed").await;
    assert_eq!(gone["room"], rid);
    send_ok(&mut a, Some(rid), "after bob left").await;
    let before = frames_before_marker(&mut a, &mut b, "marker two").await;
    assert!(messages_of_room(&before, rid).is_empty(), "delivered after leaving: {before:?}");
    assert!(my_room(&server, &bob, rid).await.is_none());
    let err = send_refused(&mut b, rid, "bob after leaving").await;
    assert_eq!(err["type"], "error");
}

#[tokio::test]
async fn room_names_are_unique_in_any_letter_case_and_validated() {
    let server = common::start().await;
    let alice = server.register("alice").await;
    create_room(&server, &alice, "Lobby", "public").await;
    create_room(&server, &alice, "Ünïcode", "private").await;

    create_room(&server, &alice, "Ünïcode pub", "public").await;
    for name in ["lobby", "  Lobby ", "LOBBY", "General", "üNÏCODE PUB"] {
        let (status, body) =
            post(&server, "/rooms", &alice, json!({ "name": name, "visibility": "public" })).await;
        assert_eq!(status, 409, "{name:?}: {body}");
        assert!(body["detail"].is_string(), "{body}");
    }
    // Private rooms' names are checked against nothing: a 409 would tell anyone who tries a name
    // that a private room holds it. Another user creating "ÜNÏCODE" learns nothing of alice's.
    let bob = server.register("bob").await;
    for (name, visibility) in [("ÜNÏCODE", "private"), ("üNÏCODE", "public"), ("lobby", "private")] {
        let (status, body) =
            post(&server, "/rooms", &bob, json!({ "name": name, "visibility": visibility })).await;
        assert_eq!(status, 201, "{name:?} {visibility}: {body}");
    }

    let long = "x".repeat(41);
    for name in ["", "   ", long.as_str(), "bad\u{7}name", "tab\there", "new\nline"] {
        let (status, body) =
            post(&server, "/rooms", &alice, json!({ "name": name, "visibility": "public" })).await;
        assert_eq!(status, 422, "{name:?}: {body}");
        assert!(body["detail"].is_string(), "{body}");
    }
    let (status, _) = post(
        &server,
        "/rooms",
        &alice,
        json!({ "name": "topical", "topic": "t".repeat(201), "visibility": "public" }),
    )
    .await;
    assert_eq!(status, 422);
    // Exactly 40 characters (not bytes) is fine.
    create_room(&server, &alice, &"é".repeat(40), "public").await;
    let (status, _) =
        post(&server, "/rooms", &alice, json!({ "name": "nope", "visibility": "secret" })).await;
    assert!(status == 400 || status == 422, "bad visibility: {status}");
}

// ---------------------------------------------------------------------------------------------
// Private rooms

#[tokio::test]
async fn a_private_room_is_invisible_to_non_members() {
    let server = common::start().await;
    let [alice, bob, eve] = accounts(&server, ["alice", "bob", "eve"]).await;
    let (mut a, _) = server.connect(&alice.token, None).await;
    let (mut e, _) = server.connect(&eve.token, None).await;

    let room = create_room(&server, &alice, "secret", "private").await;
    let pid = id_of(&room);
    assert_eq!(room["kind"], "private");
    assert_eq!(add_member(&server, &alice, pid, "bob").await.0, 200);
    send_ok(&mut a, Some(pid), "the plan").await;

    // Live: nothing reaches eve.
    let before = frames_before_marker(&mut a, &mut e, "marker").await;
    assert!(about_room(&before, pid).is_empty(), "eve learned of the room: {before:?}");

    // REST: the room answers exactly as an id that does not exist.
    let missing = pid + 1000;
    for suffix in ["", "/messages"] {
        let hidden = get(&server, &format!("/rooms/{pid}{suffix}"), &eve).await;
        let nothing = get(&server, &format!("/rooms/{missing}{suffix}"), &eve).await;
        assert_eq!(hidden.0, 404, "{suffix}: {hidden:?}");
        assert_eq!(hidden, nothing, "{suffix}");
        assert_eq!(hidden.1, json!({ "detail": "No such room" }));
    }
    assert!(my_room(&server, &eve, pid).await.is_none());
    let dir = get_ok(&server, "/rooms/directory", &eve).await;
    assert!(!dir.as_array().unwrap().iter().any(|r| id_of(r) == pid), "{dir}");
    let dir = get_ok(&server, "/rooms/directory", &alice).await;
    assert!(!dir.as_array().unwrap().iter().any(|r| id_of(r) == pid), "members do not see it there either");

    // Nor can she act on it: every answer is the missing room's.
    let join_hidden = post(&server, &format!("/rooms/{pid}/join"), &eve, json!({})).await;
    let join_missing = post(&server, &format!("/rooms/{missing}/join"), &eve, json!({})).await;
    assert_eq!(join_hidden.0, 404);
    assert_eq!(join_hidden, join_missing);
    let add_hidden = add_member(&server, &eve, pid, "eve").await;
    assert_eq!(add_hidden.0, 404);
    assert_eq!(add_hidden, add_member(&server, &eve, missing, "eve").await);
    assert_eq!(
        remove_member(&server, &eve, pid, "bob").await,
        remove_member(&server, &eve, missing, "bob").await
    );
    assert_eq!(remove_member(&server, &eve, pid, "bob").await.0, 404);
    let read = mark_read(&server, &eve, pid, 1).await;
    assert_eq!(read, mark_read(&server, &eve, missing, 1).await);
    assert_eq!(read.0, 404);
    let notify = set_notify(&server, &eve, pid, "none").await;
    assert_eq!(notify.0, 404);
    let leave = post(&server, &format!("/rooms/{pid}/leave"), &eve, json!({})).await;
    assert_eq!(leave.0, 404);

    // Posting: an error frame, the same as for a missing room, and nothing stored.
    let err = send_refused(&mut e, pid, "eve was here").await;
    let err_missing = send_refused(&mut e, missing, "eve was nowhere").await;
    assert_eq!(err["detail"], err_missing["detail"]);
    assert_eq!(history_texts(&server, &alice, pid).await, ["the plan"]);
    assert_eq!(add_member(&server, &alice, pid, "bob").await.0, 200, "still fine for members");

    // Resume from the very beginning: nothing of the room.
    let (_e2, replay) = server.connect(&eve.token, Some(0)).await;
    assert!(about_room(&replay, pid).is_empty(), "resume leaked: {replay:?}");
    assert!(replay.iter().any(|v| v["text"] == "marker"), "resume works otherwise: {replay:?}");
    // Members can read it.
    assert_eq!(history_texts(&server, &bob, pid).await, ["the plan"]);
    let details = get_ok(&server, &format!("/rooms/{pid}"), &bob).await;
    let members: Vec<&str> =
        details["member_list"].as_array().unwrap().iter().map(|m| m["username"].as_str().unwrap()).collect();
    assert_eq!(members, ["alice", "bob"]);
}

#[tokio::test]
async fn members_add_people_and_a_removed_member_hears_nothing_more() {
    let server = common::start().await;
    let [alice, bob, carol] = accounts(&server, ["alice", "bob", "carol"]).await;
    let pid = id_of(&create_room(&server, &alice, "inner circle", "private").await);
    assert_eq!(add_member(&server, &alice, pid, "bob").await.0, 200);
    let (mut a, _) = server.connect(&alice.token, None).await;
    let (mut b, _) = server.connect(&bob.token, None).await;
    let (mut c1, _) = server.connect(&carol.token, None).await;
    let (mut c2, _) = server.connect(&carol.token, None).await;
    send_ok(&mut a, Some(pid), "before carol").await;

    // Any member may add: bob adds carol, whose sockets hear of it, then get its messages.
    let (status, summary) = add_member(&server, &bob, pid, "carol").await;
    assert_eq!(status, 200, "{summary}");
    assert_eq!(summary["members"], 3);
    for c in [&mut c1, &mut c2] {
        let (frame, _) = wait_for(c, "room frame", |v| v["type"] == "room").await;
        assert_eq!(frame["room"]["id"], pid);
        assert_eq!(frame["room"]["kind"], "private");
        assert_eq!(frame["room"]["name"], "inner circle");
    }
    send_ok(&mut a, Some(pid), "welcome carol").await;
    for c in [&mut c1, &mut c2] {
        let (m, _) = wait_message(c, "welcome carol").await;
        assert_eq!(m["room"], pid);
    }
    assert!(my_room(&server, &carol, pid).await.is_some());
    assert_eq!(history_texts(&server, &carol, pid).await, ["before carol", "welcome carol"]);
    assert_eq!(add_member(&server, &bob, pid, "nobody-here").await.0, 404, "unknown user");
    let since = id_of(&send_ok(&mut c1, Some(pid), "carol speaks").await);

    // The creator removes carol; others post at once: carol's sockets get `room_removed` and
    // then nothing of the room.
    let (status, body) = remove_member(&server, &alice, pid, "carol").await;
    assert_eq!((status, body), (200, json!({ "removed": true })));
    for i in 0..5 {
        send(&mut a, Some(pid), &format!("after removal {i}")).await;
        send(&mut b, Some(pid), &format!("bob after removal {i}")).await;
    }
    wait_message(&mut a, "bob after removal 4").await;
    for c in [&mut c1, &mut c2] {
        let (gone, _) = wait_for(c, "room_removed", |v| v["type"] == "room_removed").await;
        assert_eq!(gone["room"], pid);
    }
    let before = frames_before_marker(&mut a, &mut c1, "marker").await;
    assert!(messages_of_room(&before, pid).is_empty(), "removed but received: {before:?}");
    let before = wait_message(&mut c2, "marker").await.1;
    assert!(messages_of_room(&before, pid).is_empty(), "removed but received: {before:?}");

    // Nor on resume, nor by REST, nor by posting.
    let (_c3, replay) = server.connect(&carol.token, Some(since - 1)).await;
    assert!(messages_of_room(&replay, pid).is_empty(), "resume after removal leaked: {replay:?}");
    assert!(replay.iter().any(|v| v["text"] == "marker"), "{replay:?}");
    assert_eq!(get(&server, &format!("/rooms/{pid}/messages"), &carol).await.0, 404);
    assert_eq!(get(&server, &format!("/rooms/{pid}"), &carol).await.0, 404);
    assert!(my_room(&server, &carol, pid).await.is_none());
    send_refused(&mut c1, pid, "let me back").await;
    assert!(!history_texts(&server, &alice, pid).await.contains(&"let me back".to_string()));
}

#[tokio::test]
async fn only_the_creator_or_an_admin_removes_people() {
    let server = common::start().await;
    let [alice, bob, carol] = accounts(&server, ["alice", "bob", "carol"]).await;
    let admin = server.register_admin("root").await;
    let pid = id_of(&create_room(&server, &alice, "club", "private").await);
    for name in ["bob", "carol"] {
        assert_eq!(add_member(&server, &alice, pid, name).await.0, 200);
    }

    let (status, body) = remove_member(&server, &bob, pid, "carol").await;
    assert_eq!(status, 403, "{body}");
    assert!(body["detail"].is_string());
    assert_eq!(remove_member(&server, &bob, pid, "alice").await.0, 403);
    assert_eq!(get_ok(&server, &format!("/rooms/{pid}"), &alice).await["members"], 3);

    // An admin may, without being a member.
    let (mut c, _) = server.connect(&carol.token, None).await;
    assert_eq!(remove_member(&server, &admin, pid, "carol").await.0, 200);
    let (gone, _) = wait_for(&mut c, "room_removed", |v| v["type"] == "room_removed").await;
    assert_eq!(gone["room"], pid);
    // The creator too; removing someone who is not in it is a 404.
    assert_eq!(remove_member(&server, &alice, pid, "bob").await.0, 200);
    assert_eq!(remove_member(&server, &alice, pid, "bob").await.0, 404);
    assert_eq!(get_ok(&server, &format!("/rooms/{pid}"), &alice).await["members"], 1);

    // Public rooms and general: nobody is removed, people leave by themselves.
    let public = id_of(&create_room(&server, &alice, "open", "public").await);
    join(&server, &bob, public).await;
    assert_eq!(remove_member(&server, &alice, public, "bob").await.0, 409);
    assert_eq!(add_member(&server, &alice, public, "carol").await.0, 409);
}

#[tokio::test]
async fn a_removal_by_the_operator_stops_delivery_too() {
    let server = common::start().await;
    let [alice, carol] = accounts(&server, ["alice", "carol"]).await;
    let pid = id_of(&create_room(&server, &alice, "ops", "private").await);
    assert_eq!(add_member(&server, &alice, pid, "carol").await.0, 200);
    let (mut a, _) = server.connect(&alice.token, None).await;
    let (mut c, _) = server.connect(&carol.token, None).await;
    send_ok(&mut a, Some(pid), "before").await;
    wait_message(&mut c, "before").await;

    // As the operator's `room remove-member` does: straight to the store, with no doorbell for
    // the daemon, which finds the change by itself.
    let store = Arc::clone(server.chat.store());
    tokio::task::spawn_blocking(move || {
        chatterbox::chat::rooms::remove_member(
            &*store,
            chatterbox::chat::rooms::Actor::Operator,
            pid,
            "carol",
        )
    })
    .await
    .unwrap()
    .unwrap();
    for i in 0..3 {
        send_ok(&mut a, Some(pid), &format!("after {i}")).await;
    }
    let (gone, before) = wait_for(&mut c, "room_removed", |v| v["type"] == "room_removed").await;
    assert_eq!(gone["room"], pid);
    assert!(messages_of_room(&before, pid).is_empty(), "{before:?}");
    let before = frames_before_marker(&mut a, &mut c, "marker").await;
    assert!(messages_of_room(&before, pid).is_empty(), "removed by the operator but received: {before:?}");
}

#[tokio::test]
async fn admin_views_show_public_rooms_text_only() {
    let server = common::start().await;
    let admin = server.register_admin("root").await;
    let [alice, bob] = accounts(&server, ["alice", "bob"]).await;
    let public = id_of(&create_room(&server, &alice, "open", "public").await);
    let private = id_of(&create_room(&server, &alice, "closed", "private").await);
    let dm = id_of(&open_dm(&server, &alice, &["bob"]).await.1);
    let (mut a, _) = server.connect(&alice.token, None).await;
    send_ok(&mut a, Some(public), "public words").await;
    send_ok(&mut a, Some(private), "private words").await;
    send_ok(&mut a, Some(dm), "dm words").await;
    send_ok(&mut a, None, "general words").await;

    // The rooms table: public and private rooms with counts, no DMs.
    let rooms = get_ok(&server, "/admin/rooms", &admin).await;
    let listed: Vec<(String, String, i64)> = rooms
        .as_array()
        .unwrap()
        .iter()
        .map(|r| {
            (
                r["name"].as_str().unwrap().to_string(),
                r["kind"].as_str().unwrap().to_string(),
                r["messages"].as_i64().unwrap(),
            )
        })
        .collect();
    assert_eq!(
        listed,
        [
            ("closed".into(), "private".into(), 1),
            ("general".into(), "public".into(), 1),
            ("open".into(), "public".into(), 1)
        ]
    );
    assert!(!rooms.to_string().contains("words"), "{rooms}");
    assert_eq!(post(&server, &format!("/admin/rooms/{dm}/archive"), &admin, json!({})).await.0, 404);

    // Messages: public rooms only, the same answer for private rooms, DMs and missing ids.
    let texts = |v: Value| -> Vec<String> {
        v.as_array().unwrap().iter().map(|m| m["text"].as_str().unwrap().to_string()).collect()
    };
    assert_eq!(texts(get_ok(&server, "/admin/messages", &admin).await), ["general words"]);
    assert_eq!(
        texts(get_ok(&server, &format!("/admin/messages?room={public}"), &admin).await),
        ["public words"]
    );
    let missing = get(&server, "/admin/messages?room=999999", &admin).await;
    assert_eq!(missing.0, 404);
    for room in [private, dm] {
        assert_eq!(get(&server, &format!("/admin/messages?room={room}"), &admin).await, missing);
    }
    let (status, csv) = get(&server, "/admin/download/messages", &admin).await;
    assert_eq!(status, 200);
    let csv = csv.as_str().unwrap().to_string();
    assert!(csv.contains("public words") && csv.contains("general words"), "{csv}");
    assert!(!csv.contains("private words") && !csv.contains("dm words"), "{csv}");
    assert!(csv.lines().next().unwrap().ends_with(",room,edited_at"), "{csv}");

    // The live view: an admin may watch public rooms only.
    let (mut w, _) = server.connect(&admin.token, None).await;
    for room in [private, dm] {
        w.send_json(json!({ "type": "watch", "room": room })).await;
        let (err, _) = wait_for(&mut w, "error", |v| v["type"] == "error" || v["type"] == "message").await;
        assert_eq!(err["type"], "error", "{err}");
    }
    w.send_json(json!({ "type": "watch", "room": public })).await;
    let (recent, _) = wait_for(&mut w, "recent message", |v| v["type"] == "message").await;
    assert_eq!(recent["text"], "public words");
    send_ok(&mut a, Some(private), "still private").await;
    send_ok(&mut a, Some(public), "live public").await;
    let (live, before) = wait_for(&mut w, "live message", |v| v["type"] == "message").await;
    assert_eq!(live["text"], "live public", "{before:?}");
    let (mut b, _) = server.connect(&bob.token, None).await;
    b.send_json(json!({ "type": "watch", "room": public })).await;
    let (err, _) = wait_for(&mut b, "error", |v| v["type"] == "error" || v["type"] == "message").await;
    assert_eq!(err["type"], "error", "not an admin: {err}");
}

// ---------------------------------------------------------------------------------------------
// DMs

#[tokio::test]
async fn a_dm_is_one_per_set_of_people_and_private_to_them() {
    let server = common::start().await;
    let [alice, bob, carol] = accounts(&server, ["alice", "bob", "carol"]).await;
    let mut others = Vec::new();
    for i in 0..9 {
        others.push(server.register(&format!("user{i}")).await);
    }
    let (mut b, _) = server.connect(&bob.token, None).await;
    let (mut c, _) = server.connect(&carol.token, None).await;

    let (status, dm) = open_dm(&server, &alice, &["bob"]).await;
    assert_eq!(status, 200, "{dm}");
    let did = id_of(&dm);
    assert_eq!(dm["kind"], "dm");
    assert_eq!(dm["name"], Value::Null);
    assert_eq!(dm["people"], json!(["bob"]));
    assert_eq!(dm["members"], 2);
    // Bob's socket hears of the new DM.
    let (frame, _) = wait_for(&mut b, "room frame", |v| v["type"] == "room").await;
    assert_eq!(frame["room"]["id"], did);
    assert_eq!(frame["room"]["people"], json!(["alice"]));

    // The same people again: the same DM, whoever opens it, in any letter case.
    assert_eq!(id_of(&open_dm(&server, &alice, &["bob"]).await.1), did);
    assert_eq!(id_of(&open_dm(&server, &alice, &["BOB", "bob"]).await.1), did);
    let (status, from_bob) = open_dm(&server, &bob, &["alice"]).await;
    assert_eq!(status, 200);
    assert_eq!(id_of(&from_bob), did);
    assert_eq!(from_bob["people"], json!(["alice"]));

    // A group DM is another conversation; up to 9 people in all.
    let (status, group) = open_dm(&server, &alice, &["bob", "carol"]).await;
    assert_eq!(status, 200);
    assert_ne!(id_of(&group), did);
    assert_eq!(id_of(&open_dm(&server, &carol, &["bob", "alice"]).await.1), id_of(&group));
    let eight: Vec<&str> = others[..8].iter().map(|a| a.username.as_str()).collect();
    let (status, big) = open_dm(&server, &alice, &eight).await;
    assert_eq!(status, 200, "{big}");
    assert_eq!(big["members"], 9);
    let nine: Vec<&str> = others.iter().map(|a| a.username.as_str()).collect();
    let (status, body) = open_dm(&server, &alice, &nine).await;
    assert_eq!(status, 422, "10 people: {body}");
    assert_eq!(open_dm(&server, &alice, &[]).await.0, 422);
    assert_eq!(open_dm(&server, &alice, &["alice"]).await.0, 422, "a DM with oneself alone");
    let (status, body) = open_dm(&server, &alice, &["bob", "ghost"]).await;
    assert_eq!(status, 404, "{body}");

    // Nobody joins a DM or is added to it.
    assert_eq!(add_member(&server, &alice, did, "carol").await.0, 409);
    assert_eq!(post(&server, &format!("/rooms/{did}/join"), &carol, json!({})).await.0, 404);

    // Messages reach the two of them only.
    let (mut a, _) = server.connect(&alice.token, None).await;
    send_ok(&mut a, Some(did), "just us").await;
    let (m, _) = wait_message(&mut b, "just us").await;
    assert_eq!(m["room"], did);
    let before = frames_before_marker(&mut a, &mut c, "marker").await;
    assert!(about_room(&before, did).is_empty(), "carol learned of the DM: {before:?}");
    let missing = did + 1000;
    for suffix in ["", "/messages"] {
        let hidden = get(&server, &format!("/rooms/{did}{suffix}"), &carol).await;
        assert_eq!(hidden.0, 404);
        assert_eq!(hidden, get(&server, &format!("/rooms/{missing}{suffix}"), &carol).await);
    }
    assert!(my_room(&server, &carol, did).await.is_none());
    send_refused(&mut c, did, "carol butts in").await;
    assert_eq!(history_texts(&server, &bob, did).await, ["just us"]);
    let (_c2, replay) = server.connect(&carol.token, Some(0)).await;
    assert!(about_room(&replay, did).is_empty(), "{replay:?}");
}

#[tokio::test]
async fn a_hidden_dm_comes_back_with_its_next_message() {
    let server = common::start().await;
    let [alice, bob] = accounts(&server, ["alice", "bob"]).await;
    let did = id_of(&open_dm(&server, &alice, &["bob"]).await.1);
    let (mut a, _) = server.connect(&alice.token, None).await;
    let (mut b, _) = server.connect(&bob.token, None).await;
    send_ok(&mut a, Some(did), "first").await;
    wait_message(&mut b, "first").await;

    let (status, body) = post(&server, &format!("/rooms/{did}/leave"), &bob, json!({})).await;
    assert_eq!((status, body), (200, json!({ "left": true })));
    let (gone, _) = wait_for(&mut b, "room_removed", |v| v["type"] == "room_removed").await;
    assert_eq!(gone["room"], did);
    assert!(my_room(&server, &bob, did).await.is_none(), "hidden from GET /rooms");
    // Hidden, not left: bob still reads it.
    assert_eq!(history_texts(&server, &bob, did).await, ["first"]);

    // A new message shows it again, and reaches bob's open socket.
    send_ok(&mut a, Some(did), "are you there?").await;
    let (m, _) = wait_message(&mut b, "are you there?").await;
    assert_eq!(m["room"], did);
    let back = my_room(&server, &bob, did).await.expect("the DM is listed again");
    assert_eq!(back["unread"], 2, "bob never marked anything read");
    assert_eq!(back["people"], json!(["alice"]));
    // And keeps reaching it.
    send_ok(&mut a, Some(did), "still there?").await;
    wait_message(&mut b, "still there?").await;

    // Hiding again, then opening it oneself, shows it too.
    post(&server, &format!("/rooms/{did}/leave"), &bob, json!({})).await;
    wait_for(&mut b, "room_removed", |v| v["type"] == "room_removed").await;
    assert!(my_room(&server, &bob, did).await.is_none());
    assert_eq!(id_of(&open_dm(&server, &bob, &["alice"]).await.1), did);
    assert!(my_room(&server, &bob, did).await.is_some());
}

#[tokio::test]
async fn concurrent_opens_and_creates_agree_on_one_conversation() {
    let server = common::start().await;
    let [alice, bob] = accounts(&server, ["alice", "bob"]).await;
    let (server_ref, alice_ref, bob_ref) = (&server, &alice, &bob);
    let opens = (0..8).map(|i| async move {
        let (who, other) = if i % 2 == 0 { (alice_ref, "bob") } else { (bob_ref, "alice") };
        open_dm(server_ref, who, &[other]).await
    });
    let answers = futures_util::future::join_all(opens).await;
    let ids: Vec<i64> = answers
        .iter()
        .map(|(status, body)| {
            assert_eq!(*status, 200, "{body}");
            id_of(body)
        })
        .collect();
    assert!(ids.iter().all(|&id| id == ids[0]), "{ids:?}");
    // The caller named among the others is the same DM.
    assert_eq!(id_of(&open_dm(&server, &alice, &["alice", "bob"]).await.1), ids[0]);

    let creates = (0..8).map(|i| {
        let who = if i % 2 == 0 { &alice } else { &bob };
        post(
            &server,
            "/rooms",
            who,
            json!({ "name": if i % 2 == 0 { "Race" } else { "race" }, "visibility": "public" }),
        )
    });
    let mut statuses: Vec<u16> = futures_util::future::join_all(creates).await.iter().map(|r| r.0).collect();
    statuses.sort_unstable();
    assert_eq!(statuses, [201, 409, 409, 409, 409, 409, 409, 409]);
}

#[tokio::test]
async fn moderation_works_in_every_conversation() {
    let server = common::start().await;
    let [alice, bob] = accounts(&server, ["alice", "bob"]).await;
    let pid = id_of(&create_room(&server, &alice, "mod", "private").await);
    let did = id_of(&open_dm(&server, &alice, &["bob"]).await.1);
    let (mut a, _) = server.connect(&alice.token, None).await;
    for room in [pid, did] {
        send(&mut a, Some(room), "you idiot").await;
        let (w, _) = wait_for(&mut a, "warning", |v| v["type"] != "join" && v["type"] != "leave").await;
        assert_eq!(w["type"], "warning", "{w}");
        assert!(history_texts(&server, &alice, room).await.is_empty(), "a refused message was stored");
    }
    assert!(history_texts(&server, &bob, did).await.is_empty());
}

// ---------------------------------------------------------------------------------------------
// general

#[tokio::test]
async fn general_holds_every_new_account_and_room_less_clients() {
    let server = common::start().await;
    let [alice, bob] = accounts(&server, ["alice", "bob"]).await;

    let general = get_ok(&server, "/rooms/1", &alice).await;
    assert_eq!(general["name"], "general");
    assert_eq!(general["kind"], "public");
    let members: Vec<&str> =
        general["member_list"].as_array().unwrap().iter().map(|m| m["username"].as_str().unwrap()).collect();
    assert_eq!(members, ["alice", "bob"]);
    for who in [&alice, &bob] {
        let g = my_room(&server, who, 1).await.expect("in general");
        assert_eq!(g["joined"], true);
        assert_eq!(g["unread"], 0);
    }

    let (mut a, history) = server.connect(&alice.token, None).await;
    assert!(history.is_empty());
    assert!(a.rooms["rooms"].as_array().unwrap().iter().any(|r| id_of(r) == 1), "{}", a.rooms);
    let (mut b, _) = server.connect(&bob.token, None).await;
    // Without `room` (and the original's bare `{"text"}`), a message goes to general.
    let m = a.send_acked("no room given").await;
    assert_eq!(m["room"], 1);
    a.send_json(json!({ "text": "bare text frame" })).await;
    let (m, _) = wait_message(&mut b, "bare text frame").await;
    assert_eq!(m["room"], 1);
    let other = id_of(&create_room(&server, &alice, "elsewhere", "public").await);
    send_ok(&mut a, Some(other), "not in general").await;
    send_ok(&mut a, Some(1), "general by id").await;

    // GET /messages is general's history, and so is a new socket's recent history.
    let texts: Vec<String> = get_ok(&server, "/messages", &bob)
        .await
        .as_array()
        .unwrap()
        .iter()
        .map(|m| m["text"].as_str().unwrap().to_string())
        .collect();
    assert_eq!(texts, ["no room given", "bare text frame", "general by id"]);
    assert_eq!(history_texts(&server, &bob, 1).await, texts);
    let (_b2, history) = server.connect(&bob.token, None).await;
    let replayed: Vec<&str> = history.iter().map(|m| m["text"].as_str().unwrap()).collect();
    assert_eq!(replayed, texts);
}

#[tokio::test]
async fn auto_join_rooms_take_in_new_accounts() {
    let server = common::start().await;
    let alice = server.register("alice").await;
    let lobby = id_of(&create_room(&server, &alice, "Lobby", "public").await);
    let news = id_of(&create_room(&server, &alice, "news", "public").await);
    let secret = id_of(&create_room(&server, &alice, "secret", "private").await);
    let store = Arc::clone(server.chat.store());
    let set = |names: &[&str]| {
        let store = Arc::clone(&store);
        let names: Vec<String> = names.iter().map(|s| s.to_string()).collect();
        tokio::task::spawn_blocking(move || chatterbox::chat::rooms::set_auto_join(&*store, &names))
    };
    set(&["lobby", "NEWS"]).await.unwrap().unwrap();
    assert!(set(&["secret"]).await.unwrap().is_err(), "a private room cannot be auto-joined");
    assert!(set(&["no such room"]).await.unwrap().is_err());

    let bob = server.register("bob").await;
    let mut ids: Vec<i64> = my_rooms(&server, &bob).await.iter().map(id_of).collect();
    ids.sort_unstable();
    assert_eq!(ids, [1, lobby, news]);
    assert!(ids.iter().all(|&id| id != secret));
    // Existing accounts are not pulled in.
    let alice_ids: Vec<i64> = my_rooms(&server, &alice).await.iter().map(id_of).collect();
    assert_eq!(alice_ids.len(), 4, "general and the three rooms alice made");
}

// ---------------------------------------------------------------------------------------------
// Unread counts, read markers, mentions, notification levels

#[tokio::test]
async fn unread_counts_and_read_markers_move_forward_only() {
    let server = common::start().await;
    let [alice, bob] = accounts(&server, ["alice", "bob"]).await;
    let rid = id_of(&create_room(&server, &alice, "reading", "public").await);
    join(&server, &bob, rid).await;
    let (mut a1, _) = server.connect(&alice.token, None).await;
    let (mut a2, _) = server.connect(&alice.token, None).await;
    let (mut b, _) = server.connect(&bob.token, None).await;

    let mut ids = Vec::new();
    for i in 0..3 {
        ids.push(id_of(&send_ok(&mut b, Some(rid), &format!("from bob {i}")).await));
    }
    let own = id_of(&send_ok(&mut a1, Some(rid), "from alice").await);
    let summary = my_room(&server, &alice, rid).await.unwrap();
    assert_eq!(summary["unread"], 3, "only others' messages count: {summary}");
    assert_eq!(summary["last_message_id"], own);
    assert_eq!(my_room(&server, &bob, rid).await.unwrap()["unread"], 1);

    let read = |id: i64| mark_read(&server, &alice, rid, id);
    assert_eq!(read(ids[1]).await, (200, json!({ "last_read_id": ids[1] })));
    // Arrives on both of alice's sockets.
    for s in [&mut a1, &mut a2] {
        let (frame, _) = wait_for(s, "read frame", |v| v["type"] == "read").await;
        assert_eq!(frame, json!({ "type": "read", "room": rid, "message_id": ids[1] }));
    }
    let summary = my_room(&server, &alice, rid).await.unwrap();
    assert_eq!((summary["last_read_id"].clone(), summary["unread"].clone()), (json!(ids[1]), json!(1)));

    // Never back.
    assert_eq!(read(ids[0]).await, (200, json!({ "last_read_id": ids[1] })));
    assert_eq!(read(0).await.1["last_read_id"], ids[1]);
    // A huge id stops at the room's newest message.
    assert_eq!(read(i64::MAX).await, (200, json!({ "last_read_id": own })));
    let summary = my_room(&server, &alice, rid).await.unwrap();
    assert_eq!((summary["last_read_id"].clone(), summary["unread"].clone()), (json!(own), json!(0)));
    // The rooms frame of a new socket agrees.
    let (c, _) = server.connect(&alice.token, None).await;
    let listed = c.rooms["rooms"].as_array().unwrap().iter().find(|r| id_of(r) == rid).unwrap().clone();
    assert_eq!(listed["unread"], 0);
    assert_eq!(listed["last_read_id"], own);
    // Bob's marker is his own.
    assert_eq!(my_room(&server, &bob, rid).await.unwrap()["unread"], 1);
}

#[tokio::test]
async fn mentions_of_members_are_listed_and_counted_until_read() {
    let server = common::start().await;
    let [alice, bob, carol, _bobby] = accounts(&server, ["alice", "Bob", "carol", "bobby"]).await;
    let rid = id_of(&create_room(&server, &alice, "talk", "public").await);
    join(&server, &bob, rid).await;
    let (mut a, _) = server.connect(&alice.token, None).await;
    let (mut b, _) = server.connect(&bob.token, None).await;
    let (mut c, _) = server.connect(&carol.token, None).await;

    let cases: &[(&str, &[&str])] = &[
        ("hey @bob, look", &["Bob"]),
        ("@BOB!", &["Bob"]),
        ("(@Bob) and @alice.", &["Bob", "alice"]),
        ("write to bob@example.com", &[]),
        ("x@bob is not a mention", &[]),
        ("@bobby is not a member", &[]),
        ("@carol is not a member", &[]),
        ("@nobody exists", &[]),
        ("bob without an at", &[]),
    ];
    for (text, expected) in cases {
        let sent = send_ok(&mut a, Some(rid), text).await;
        assert_eq!(names(&sent["mentions"]), *expected, "{text:?}");
        let (got, _) = wait_message(&mut b, text).await;
        assert_eq!(got["mentions"], sent["mentions"], "{text:?}");
    }
    let history = get_ok(&server, &format!("/rooms/{rid}/messages"), &bob).await;
    assert_eq!(history[0]["mentions"], json!(["Bob"]), "stored with the message");
    assert_eq!(history[3]["mentions"], json!([]));

    let summary = my_room(&server, &bob, rid).await.unwrap();
    assert_eq!(summary["mentions"], 3, "{summary}");
    assert_eq!(summary["unread"], cases.len());
    assert_eq!(my_room(&server, &alice, rid).await.unwrap()["mentions"], 0, "own messages");

    // Reading past the first two mentions leaves one.
    let second = history[1]["id"].as_i64().unwrap();
    mark_read(&server, &bob, rid, second).await;
    assert_eq!(my_room(&server, &bob, rid).await.unwrap()["mentions"], 1);
    let last = id_of(history.as_array().unwrap().last().unwrap());
    mark_read(&server, &bob, rid, last).await;
    assert_eq!(my_room(&server, &bob, rid).await.unwrap()["mentions"], 0);

    // Carol, mentioned but not a member, got nothing and has no such room.
    let before = frames_before_marker(&mut a, &mut c, "marker").await;
    assert!(messages_of_room(&before, rid).is_empty(), "{before:?}");
    assert!(my_room(&server, &carol, rid).await.is_none());
    let general = my_room(&server, &carol, 1).await.unwrap();
    assert_eq!(general["mentions"], 0);
}

#[tokio::test]
async fn notification_levels_are_per_member() {
    let server = common::start().await;
    let [alice, bob] = accounts(&server, ["alice", "bob"]).await;
    let rid = id_of(&create_room(&server, &alice, "quiet", "public").await);
    assert_eq!(my_room(&server, &alice, rid).await.unwrap()["notify"], "all");
    let put = |who, level| set_notify(&server, who, rid, level);
    for level in ["mentions", "none", "all", "none"] {
        let (status, summary) = put(&alice, level).await;
        assert_eq!(status, 200, "{summary}");
        assert_eq!(summary["notify"], level);
        assert_eq!(summary["id"], rid);
    }
    assert_eq!(my_room(&server, &alice, rid).await.unwrap()["notify"], "none");
    let (status, body) = put(&alice, "loud").await;
    assert_eq!(status, 422, "{body}");
    assert!(body["detail"].is_string());
    assert_eq!(put(&alice, "").await.0, 422);
    assert_eq!(my_room(&server, &alice, rid).await.unwrap()["notify"], "none", "unchanged by a bad level");
    // Not a member (of a public room): refused, and others' levels are untouched.
    let (status, _) = put(&bob, "none").await;
    assert_eq!(status, 403);
    join(&server, &bob, rid).await;
    assert_eq!(my_room(&server, &bob, rid).await.unwrap()["notify"], "all");
}

// ---------------------------------------------------------------------------------------------
// Archived rooms

#[tokio::test]
async fn archived_rooms_are_read_only() {
    let server = common::start().await;
    let admin = server.register_admin("root").await;
    let [alice, bob, carol] = accounts(&server, ["alice", "bob", "carol"]).await;
    let rid = id_of(&create_room(&server, &alice, "old news", "public").await);
    join(&server, &bob, rid).await;
    let (mut a, _) = server.connect(&alice.token, None).await;
    let (mut b, _) = server.connect(&bob.token, None).await;
    send_ok(&mut a, Some(rid), "last words").await;

    let (status, body) = post(&server, &format!("/admin/rooms/{rid}/archive"), &admin, json!({})).await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["archived"], true);
    for s in [&mut a, &mut b] {
        let (frame, _) = wait_for(s, "room frame", |v| v["type"] == "room").await;
        assert_eq!(frame["room"]["id"], rid);
        assert_eq!(frame["room"]["archived"], true);
    }
    assert_eq!(my_room(&server, &alice, rid).await.unwrap()["archived"], true);
    assert!(get_ok(&server, "/rooms/directory", &carol)
        .await
        .as_array()
        .unwrap()
        .iter()
        .any(|r| id_of(r) == rid && r["archived"] == true));

    // Readable, not writable, not joinable.
    assert_eq!(history_texts(&server, &bob, rid).await, ["last words"]);
    let err = send_refused(&mut b, rid, "too late").await;
    assert!(err["detail"].is_string());
    assert_eq!(history_texts(&server, &alice, rid).await, ["last words"]);
    let (status, body) = post(&server, &format!("/rooms/{rid}/join"), &carol, json!({})).await;
    assert_eq!(status, 409, "{body}");
    assert_eq!(get(&server, &format!("/rooms/{rid}/messages"), &carol).await.0, 200, "public: readable");
    // Only admins archive.
    assert_eq!(post(&server, &format!("/admin/rooms/{rid}/unarchive"), &alice, json!({})).await.0, 403);

    let (status, body) = post(&server, &format!("/admin/rooms/{rid}/unarchive"), &admin, json!({})).await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["archived"], false);
    let (frame, _) = wait_for(&mut b, "room frame", |v| v["type"] == "room").await;
    assert_eq!(frame["room"]["archived"], false);
    send_ok(&mut b, Some(rid), "back again").await;
    join(&server, &carol, rid).await;
    assert_eq!(history_texts(&server, &carol, rid).await, ["last words", "back again"]);
}

// ---------------------------------------------------------------------------------------------
// Resume and ordering

#[tokio::test]
async fn resume_delivers_every_missed_message_of_every_room_once_in_order() {
    let server = common::start_with(common::unthrottled()).await;
    let [alice, bob] = accounts(&server, ["alice", "bob"]).await;
    let r1 = id_of(&create_room(&server, &alice, "one", "public").await);
    let r2 = id_of(&create_room(&server, &alice, "two", "private").await);
    assert_eq!(add_member(&server, &alice, r2, "bob").await.0, 200);
    join(&server, &bob, r1).await;
    let dm = id_of(&open_dm(&server, &bob, &["alice"]).await.1);
    let theirs = id_of(&create_room(&server, &bob, "bob only", "private").await);

    let (mut a, _) = server.connect(&alice.token, None).await;
    let since = id_of(&send_ok(&mut a, Some(r1), "seen").await);
    drop(a);

    let (mut b, _) = server.connect(&bob.token, None).await;
    let mut expected = Vec::new();
    for i in 0..5 {
        for room in [r1, r2, dm, 1] {
            let m = send_ok(&mut b, Some(room), &format!("missed {room}/{i}")).await;
            expected.push((id_of(&m), m["text"].as_str().unwrap().to_string()));
        }
        send_ok(&mut b, Some(theirs), &format!("not for alice {i}")).await;
    }

    // Read the connection's frames raw, to see their order.
    let (ws, _) =
        tokio_tungstenite::connect_async(server.ws_url(&format!("/ws?token={}&since={since}", alice.token)))
            .await
            .unwrap();
    let mut a = WsClient { ws, rooms: Value::Null };
    let mut frames = Vec::new();
    loop {
        let v = a.next_json().await.expect("a frame");
        let done = v["type"] == "presence";
        frames.push(v);
        if done {
            break;
        }
    }
    let kinds: Vec<&str> = frames.iter().map(|v| v["type"].as_str().unwrap()).collect();
    let n = expected.len();
    assert!(kinds[..n].iter().all(|k| *k == "message"), "{kinds:?}");
    assert_eq!(&kinds[n..], ["rooms", "presence"], "{kinds:?}");
    let got: Vec<(i64, String)> =
        frames[..n].iter().map(|v| (id_of(v), v["text"].as_str().unwrap().to_string())).collect();
    assert_eq!(got, expected);
    let rooms: Vec<i64> = frames[n]["rooms"].as_array().unwrap().iter().map(id_of).collect();
    for room in [1, r1, r2, dm] {
        assert!(rooms.contains(&room), "{rooms:?}");
    }
    assert!(!rooms.contains(&theirs));

    // Live messages follow, without repeats.
    send_ok(&mut b, Some(r2), "live").await;
    let (m, before) = wait_message(&mut a, "live").await;
    assert!(before.iter().all(|v| v["type"] != "message"), "repeats: {before:?}");
    assert!(id_of(&m) > expected.last().unwrap().0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn resuming_while_others_post_loses_and_repeats_nothing() {
    let server = common::start_with(common::unthrottled()).await;
    let [alice, bob] = accounts(&server, ["alice", "bob"]).await;
    let room = id_of(&create_room(&server, &alice, "busy", "public").await);
    join(&server, &bob, room).await;
    let (mut watcher, _) = server.connect(&alice.token, None).await;
    const TOTAL: usize = 300;
    let (mut b, _) = server.connect(&bob.token, None).await;
    let sender = tokio::spawn(async move {
        let mut ids = Vec::new();
        for i in 0..TOTAL {
            let target = if i % 3 == 0 { None } else { Some(room) };
            ids.push(id_of(&send_ok(&mut b, target, &format!("busy {i}")).await));
        }
        ids
    });
    // Reconnect in the middle of the stream, from an id some way back.
    let (seen, _) = wait_message(&mut watcher, "busy 100").await;
    let since = id_of(&seen) - 20;
    let (mut a, replay) = server.connect(&alice.token, Some(since)).await;
    let sent = sender.await.unwrap();
    let mut got: Vec<i64> = replay.iter().filter(|v| v["type"] == "message").map(id_of).collect();
    loop {
        let (m, _) = wait_for(&mut a, "a message", |v| v["type"] == "message").await;
        got.push(id_of(&m));
        if m["text"] == format!("busy {}", TOTAL - 1) {
            break;
        }
    }
    let expected: Vec<i64> = sent.into_iter().filter(|&id| id > since).collect();
    assert_eq!(got, expected, "every message after {since}, once, in order");
}

#[tokio::test]
async fn concurrent_senders_in_overlapping_rooms_all_see_increasing_ids() {
    let server = common::start_with(common::unthrottled()).await;
    const SENDERS: usize = 4;
    const EACH: usize = 20;
    let mut users = Vec::new();
    for i in 0..SENDERS {
        users.push(server.register(&format!("user{i}")).await);
    }
    // Room k holds users k and k+1 (a ring): every user is in two rooms, and general.
    let mut rooms = Vec::new();
    for k in 0..SENDERS {
        let room = id_of(&create_room(&server, &users[k], &format!("ring{k}"), "private").await);
        assert_eq!(add_member(&server, &users[k], room, &users[(k + 1) % SENDERS].username).await.0, 200);
        rooms.push(room);
    }
    let rooms_of = |u: usize| vec![1, rooms[u], rooms[(u + SENDERS - 1) % SENDERS]];

    let mut readers = Vec::new();
    for u in &users {
        readers.push(server.connect(&u.token, None).await.0);
    }
    // Every user sends EACH messages spread over their rooms, all at once.
    let mut tasks = Vec::new();
    for (u, user) in users.iter().enumerate() {
        let (mut w, _) = server.connect(&user.token, None).await;
        let mine = rooms_of(u);
        tasks.push(tokio::spawn(async move {
            let mut texts = Vec::new();
            for i in 0..EACH {
                let room = mine[i % mine.len()];
                let text = format!("u{u} r{room} #{i}");
                send(&mut w, Some(room), &text).await;
                texts.push((room, text));
            }
            let mut acked = 0;
            while acked < texts.len() {
                let (v, _) =
                    wait_for(&mut w, "echo", |v| v["type"] == "message" || v["type"] == "error").await;
                assert_ne!(v["type"], "error", "{v}");
                if v["text"].as_str().unwrap().starts_with(&format!("u{u} ")) {
                    acked += 1;
                }
            }
            texts
        }));
    }
    let mut sent = Vec::new();
    for t in tasks {
        sent.extend(t.await.unwrap());
    }

    for (u, reader) in readers.iter_mut().enumerate() {
        let mine = rooms_of(u);
        let mut expected: Vec<&String> =
            sent.iter().filter(|(room, _)| mine.contains(room)).map(|(_, t)| t).collect();
        expected.sort();
        let mut got = Vec::new();
        let mut last = 0;
        while got.len() < expected.len() {
            let (v, _) = wait_for(reader, "a message", |v| v["type"] == "message").await;
            let id = id_of(&v);
            assert!(id > last, "user{u}: id {id} after {last}");
            last = id;
            assert!(mine.contains(&v["room"].as_i64().unwrap()), "user{u} got {v}");
            got.push(v["text"].as_str().unwrap().to_string());
        }
        got.sort();
        assert_eq!(got.iter().collect::<Vec<_>>(), expected, "user{u}: each exactly once");
    }
}

// ---------------------------------------------------------------------------------------------
// Migration from the version before rooms

mod before_rooms {
    refinery::embed_migrations!("sql/sqlite");
}

#[tokio::test]
async fn a_database_from_before_rooms_migrates_into_general() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("old.db");
    // The previous version's schema (V1 and V2, through refinery as it applied them), with its
    // users and messages; the newest message was deleted (its id must never come back).
    let old: Vec<(i64, String, i64)> = {
        let mut conn = rusqlite::Connection::open(&path).unwrap();
        before_rooms::migrations::runner().set_target(refinery::Target::Version(2)).run(&mut conn).unwrap();
        let hash = bcrypt::hash(common::PASSWORD, 4).unwrap();
        for (i, name) in ["alice", "bob", "carol"].iter().enumerate() {
            conn.execute(
                "INSERT INTO users (username, email, password_hash, created_at) VALUES (?1, ?2, ?3, ?4)",
                rusqlite::params![
                    name,
                    format!("{name}@example.com"),
                    hash,
                    format!("2026-01-0{}T10:00:00.000Z", i + 1)
                ],
            )
            .unwrap();
        }
        for i in 0..30 {
            conn.execute(
                "INSERT INTO messages (sender_id, content, timestamp) VALUES (?1, ?2, ?3)",
                rusqlite::params![
                    i % 3 + 1,
                    format!("old message {i}"),
                    format!("2026-02-01T10:00:{i:02}.000Z")
                ],
            )
            .unwrap();
        }
        conn.execute("DELETE FROM messages WHERE id = 30", []).unwrap();
        let mut stmt = conn.prepare("SELECT id, content, sender_id FROM messages ORDER BY id").unwrap();
        let rows = stmt.query_map([], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?))).unwrap();
        rows.collect::<rusqlite::Result<Vec<_>>>().unwrap()
    };
    assert_eq!(old.len(), 29);

    let server = common::start_with(common::Options { db: Some(path.clone()), ..Default::default() }).await;
    let login = |name: &str| {
        let resp =
            server.post("/login", None, Some(json!({ "username": name, "password": common::PASSWORD })));
        let name = name.to_string();
        async move {
            let resp = resp.await;
            assert_eq!(resp.status(), 200, "login {name}");
            let body: Value = resp.json().await.unwrap();
            Account {
                id: body["user"]["id"].as_i64().unwrap(),
                username: name,
                token: body["access_token"].as_str().unwrap().to_string(),
            }
        }
    };
    let alice = login("alice").await;
    let bob = login("bob").await;

    // Every message is in general, with its id and text.
    let all = get_ok(&server, "/rooms/1/messages?limit=200", &alice).await;
    let got: Vec<(i64, String, i64)> = all
        .as_array()
        .unwrap()
        .iter()
        .map(|m| {
            assert_eq!(m["room"], 1);
            let sender = ["alice", "bob", "carol"].iter().position(|n| m["user"] == *n).unwrap() as i64 + 1;
            (id_of(m), m["text"].as_str().unwrap().to_string(), sender)
        })
        .collect();
    assert_eq!(got, old);
    let via_messages: Vec<(i64, String)> = get_ok(&server, "/messages?limit=200", &bob)
        .await
        .as_array()
        .unwrap()
        .iter()
        .map(|m| (id_of(m), m["text"].as_str().unwrap().to_string()))
        .collect();
    assert_eq!(via_messages, old.iter().map(|m| (m.0, m.1.clone())).collect::<Vec<_>>());

    // Everyone is in general, having read it all.
    let general = get_ok(&server, "/rooms/1", &alice).await;
    let members: Vec<&str> =
        general["member_list"].as_array().unwrap().iter().map(|m| m["username"].as_str().unwrap()).collect();
    assert_eq!(members, ["alice", "bob", "carol"]);
    for who in [&alice, &bob] {
        let rooms = my_rooms(&server, who).await;
        assert_eq!(rooms.len(), 1, "{rooms:?}");
        assert_eq!(rooms[0]["id"], 1);
        assert_eq!(rooms[0]["name"], "general");
        assert_eq!(rooms[0]["unread"], 0);
        assert_eq!(rooms[0]["mentions"], 0);
        assert_eq!(rooms[0]["last_message_id"], old.last().unwrap().0);
    }

    // Resume from before the migration works across it; new ids follow every old one.
    let (mut a, replay) = server.connect(&alice.token, Some(old[9].0)).await;
    let replayed: Vec<i64> = replay.iter().map(id_of).collect();
    assert_eq!(replayed, old[10..].iter().map(|m| m.0).collect::<Vec<_>>());
    let new = send_ok(&mut a, None, "first after the upgrade").await;
    assert!(id_of(&new) > 30, "a new id after every old one, deleted included: {new}");
    assert_eq!(new["room"], 1);
    let room = id_of(&create_room(&server, &bob, "new room", "public").await);
    join(&server, &alice, room).await;
    let m = send_ok(&mut a, Some(room), "in a new room").await;
    assert!(id_of(&m) > id_of(&new));
    assert_eq!(my_room(&server, &bob, 1).await.unwrap()["unread"], 1);
}

/// A long `rooms` list goes out in WebSocket fragments (so no socket keeps a buffer its size);
/// a client receives it as one message all the same.
#[tokio::test]
async fn a_long_rooms_list_arrives_whole() {
    let server = common::start().await;
    let [alice] = accounts(&server, ["alice"]).await;
    for i in 0..40 {
        create_room(&server, &alice, &format!("room number {i} with a longer name"), "private").await;
    }
    let (client, _) = server.connect(&alice.token, None).await;
    let rooms = client.rooms["rooms"].as_array().expect("a rooms frame");
    assert_eq!(rooms.len(), 41, "general and the 40 rooms");
    assert!(client.rooms.to_string().len() > 4 * 1536, "long enough to be sent in fragments");
}

// The same tests with their servers on PostgreSQL (`common::postgres_too`).
common::postgres_too!(
    public_room_create_join_chat_and_leave,
    room_names_are_unique_in_any_letter_case_and_validated,
    a_private_room_is_invisible_to_non_members,
    members_add_people_and_a_removed_member_hears_nothing_more,
    only_the_creator_or_an_admin_removes_people,
    a_removal_by_the_operator_stops_delivery_too,
    admin_views_show_public_rooms_text_only,
    a_dm_is_one_per_set_of_people_and_private_to_them,
    a_hidden_dm_comes_back_with_its_next_message,
    concurrent_opens_and_creates_agree_on_one_conversation,
    moderation_works_in_every_conversation,
    general_holds_every_new_account_and_room_less_clients,
    auto_join_rooms_take_in_new_accounts,
    unread_counts_and_read_markers_move_forward_only,
    mentions_of_members_are_listed_and_counted_until_read,
    notification_levels_are_per_member,
    archived_rooms_are_read_only,
    resume_delivers_every_missed_message_of_every_room_once_in_order,
    resuming_while_others_post_loses_and_repeats_nothing,
    concurrent_senders_in_overlapping_rooms_all_see_increasing_ids,
    a_long_rooms_list_arrives_whole,
    ;
    sqlite_only:
    a_database_from_before_rooms_migrates_into_general,
);
