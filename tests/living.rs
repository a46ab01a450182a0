//! Living messages as users see them (issue 13): editing, deleting, reacting, replying and
//! typing, over REST and the WebSocket, with the rules of who may do what; and the rule that
//! makes them trustworthy: a client that was offline resumes with `?since=` to exactly the state
//! of one that stayed online.

mod common;

use std::{
    collections::BTreeMap,
    time::{Duration, Instant},
};

use common::{Account, Next, Options, TestServer, WsClient};
use reqwest::Method;
use serde_json::{json, Value};

// ---------------------------------------------------------------------------------------------
// Helpers

/// One REST call; returns the status and the JSON body (Null when there is none).
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

async fn edit(server: &TestServer, who: &Account, id: i64, text: &str) -> (u16, Value) {
    call(server, Method::PATCH, &format!("/messages/{id}"), who, Some(json!({ "text": text }))).await
}

async fn delete(server: &TestServer, who: &Account, id: i64, reason: Option<&str>) -> (u16, Value) {
    let body = reason.map(|r| json!({ "reason": r }));
    call(server, Method::DELETE, &format!("/messages/{id}"), who, body).await
}

async fn react(server: &TestServer, who: &Account, id: i64, emoji: &str) -> (u16, Value) {
    call(server, Method::POST, &format!("/messages/{id}/reactions"), who, Some(json!({ "emoji": emoji })))
        .await
}

/// Reads frames until one of `kind`, skipping the others.
async fn expect_frame(socket: &mut WsClient, kind: &str) -> Value {
    loop {
        let v = socket.next_json().await.unwrap_or_else(|| panic!("closed while waiting for {kind}"));
        if v["type"] == kind {
            return v;
        }
    }
}

/// Sends a message into `room` and returns its echo.
async fn say(socket: &mut WsClient, room: i64, text: &str) -> Value {
    socket.send_json(json!({ "type": "message", "room": room, "text": text })).await;
    loop {
        let v = expect_frame(socket, "message").await;
        if v["text"] == text {
            return v;
        }
    }
}

fn id_of(v: &Value) -> i64 {
    v["id"].as_i64().unwrap_or_else(|| panic!("no id in {v}"))
}

/// A room's history as REST returns it.
async fn history(server: &TestServer, who: &Account, room: i64) -> Vec<Value> {
    let (status, body) =
        call(server, Method::GET, &format!("/rooms/{room}/messages?limit=200"), who, None).await;
    assert_eq!(status, 200, "{body}");
    body.as_array().unwrap().clone()
}

/// A private room made by `owner` with `others` added; its id.
async fn private_room(server: &TestServer, owner: &Account, name: &str, others: &[&Account]) -> i64 {
    let (status, room) =
        call(server, Method::POST, "/rooms", owner, Some(json!({ "name": name, "visibility": "private" })))
            .await;
    assert_eq!(status, 201, "{room}");
    let room = id_of(&room);
    for who in others {
        let path = format!("/rooms/{room}/members");
        let (status, body) =
            call(server, Method::POST, &path, owner, Some(json!({ "username": who.username }))).await;
        assert!(status < 300, "{body}");
    }
    room
}

const GENERAL: i64 = 1;

// ---------------------------------------------------------------------------------------------
// Edits, deletions, reactions, replies: live

#[tokio::test]
async fn edits_deletions_reactions_and_replies_reach_everyone_live() {
    let server = common::start().await;
    let alice = server.register("alice").await;
    let bob = server.register("bob").await;
    let (mut a, _) = server.connect(&alice.token, None).await;
    let (mut b, _) = server.connect(&bob.token, None).await;

    let first = say(&mut a, GENERAL, "the deploy is at noon").await;
    let id = id_of(&first);
    assert_eq!(expect_frame(&mut b, "message").await["id"], id);
    assert!(first.get("edited_at").is_none() && first.get("reply_to").is_none(), "{first}");

    // An edit over the socket: both see the new text, marked edited, at a log position.
    a.send_json(json!({ "type": "edit", "id": id, "text": "the deploy is at one" })).await;
    for socket in [&mut a, &mut b] {
        let edited = expect_frame(socket, "edited").await;
        assert_eq!((edited["id"].as_i64(), edited["room"].as_i64()), (Some(id), Some(GENERAL)));
        assert_eq!(edited["text"], "the deploy is at one");
        assert!(edited["edited_at"].as_str().is_some_and(|t| t.ends_with('Z')), "{edited}");
        assert!(edited["seq"].as_i64().unwrap() > id, "{edited}");
    }

    // A reaction over REST, another over the socket: counts and who.
    let (status, body) = react(&server, &bob, id, "👍").await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["reactions"], json!([{ "emoji": "👍", "count": 1, "users": ["bob"] }]));
    a.send_json(json!({ "type": "react", "id": id, "emoji": "👍" })).await;
    let mut last = Value::Null;
    for _ in 0..2 {
        last = expect_frame(&mut b, "reactions").await;
    }
    assert_eq!(last["reactions"], json!([{ "emoji": "👍", "count": 2, "users": ["bob", "alice"] }]));
    assert_eq!(last["id"], id);

    // A reply carries what it answers.
    b.send_json(json!({ "type": "message", "room": GENERAL, "text": "noted", "reply_to": id })).await;
    let reply = expect_frame(&mut a, "message").await;
    assert_eq!((reply["text"].as_str(), reply["reply_to"].as_i64()), (Some("noted"), Some(id)));

    // History shows the final state: text, edited mark, reactions, reply.
    let page = history(&server, &alice, GENERAL).await;
    let shown = page.iter().find(|m| m["id"] == id).unwrap();
    assert_eq!(shown["text"], "the deploy is at one");
    assert!(shown["edited_at"].is_string());
    assert_eq!(shown["reactions"][0]["count"], 2);
    assert_eq!(page.iter().find(|m| m["text"] == "noted").unwrap()["reply_to"], id);
    let (status, one) = call(&server, Method::GET, &format!("/messages/{id}"), &bob, None).await;
    assert_eq!((status, one["text"].as_str()), (200, Some("the deploy is at one")));

    // Deleted: gone for everyone, live and from history; the reply stays, pointing at nothing.
    let (status, body) = delete(&server, &alice, id, None).await;
    assert_eq!(status, 200, "{body}");
    for socket in [&mut a, &mut b] {
        let gone = expect_frame(socket, "deleted").await;
        assert_eq!((gone["id"].as_i64(), gone["room"].as_i64()), (Some(id), Some(GENERAL)));
        assert!(gone.get("text").is_none());
    }
    let page = history(&server, &bob, GENERAL).await;
    assert!(page.iter().all(|m| m["id"] != id), "deleted message still in history");
    assert_eq!(page.iter().find(|m| m["text"] == "noted").unwrap()["reply_to"], id);
    assert_eq!(call(&server, Method::GET, &format!("/messages/{id}"), &bob, None).await.0, 404);
    assert_eq!(edit(&server, &alice, id, "back").await.0, 404);
    assert_eq!(react(&server, &bob, id, "👍").await.0, 404);

    // A reply to a deleted message, or to one of another room, is refused.
    b.send_json(json!({ "type": "message", "room": GENERAL, "text": "late", "reply_to": id })).await;
    let refused = expect_frame(&mut b, "error").await;
    assert!(refused["detail"].as_str().unwrap().contains("reply"), "{refused}");
    server.stop().await;
}

#[tokio::test]
async fn only_authors_edit_and_admins_delete_others_with_an_audited_reason() {
    let server = common::start().await;
    let admin = server.register_admin("root").await;
    let alice = server.register("alice").await;
    let bob = server.register("bob").await;
    let (mut a, _) = server.connect(&alice.token, None).await;
    let id = id_of(&say(&mut a, GENERAL, "mine to change").await);

    let (status, body) = edit(&server, &bob, id, "hijacked").await;
    assert_eq!(status, 403, "{body}");
    assert!(body["detail"].as_str().unwrap().contains("your own"));
    assert_eq!(edit(&server, &admin, id, "admins do not rewrite").await.0, 403);
    assert_eq!(delete(&server, &bob, id, None).await.0, 403);
    // Over the socket the refusal is an error frame, and nothing changed.
    let (mut b, _) = server.connect(&bob.token, None).await;
    b.send_json(json!({ "type": "edit", "id": id, "text": "hijacked" })).await;
    assert!(expect_frame(&mut b, "error").await["detail"].as_str().unwrap().contains("your own"));
    b.send_json(json!({ "type": "delete", "id": id })).await;
    assert!(expect_frame(&mut b, "error").await["detail"].as_str().unwrap().contains("your own"));

    // Empty or oversized edits are refused like messages.
    assert_eq!(edit(&server, &alice, id, "   ").await.0, 422);
    assert_eq!(edit(&server, &alice, id, &"x".repeat(2001)).await.0, 422);
    assert_eq!(edit(&server, &alice, 999_999, "nothing").await.0, 404);
    // Malformed bodies and ids.
    let bad = server
        .http
        .patch(server.url(&format!("/messages/{id}")))
        .bearer_auth(&alice.token)
        .body("{not json")
        .send()
        .await
        .unwrap();
    assert_eq!(bad.status().as_u16(), 400);
    assert_eq!(call(&server, Method::GET, "/messages/abc", &alice, None).await.0, 404);
    assert_eq!(call(&server, Method::PUT, &format!("/messages/{id}"), &alice, None).await.0, 405);
    let anonymous = server.http.delete(server.url(&format!("/messages/{id}"))).send().await.unwrap();
    assert_eq!(anonymous.status().as_u16(), 401);

    // An admin deletes it with a reason: audited, without the text.
    let (status, body) = delete(&server, &admin, id, Some("off topic")).await;
    assert_eq!(status, 200, "{body}");
    let own = id_of(&say(&mut a, GENERAL, "my own to remove").await);
    assert_eq!(delete(&server, &alice, own, None).await.0, 200);
    let (status, audit) = call(&server, Method::GET, "/admin/deletions", &admin, None).await;
    assert_eq!(status, 200, "{audit}");
    let audit = audit.as_array().unwrap();
    assert_eq!(audit.len(), 1, "only deletions by others are audited: {audit:?}");
    assert_eq!(
        (audit[0]["message_id"].as_i64(), audit[0]["user"].as_str(), audit[0]["actor"].as_str()),
        (Some(id), Some("alice"), Some("root"))
    );
    assert_eq!(audit[0]["reason"], "off topic");
    assert!(!audit[0].to_string().contains("mine to change"));
    assert_eq!(call(&server, Method::GET, "/admin/deletions", &alice, None).await.0, 403);
    server.stop().await;
}

#[tokio::test]
async fn edits_pass_moderation_and_the_edit_window() {
    let mut opts = Options::default();
    opts.chat.edit_window = Duration::from_secs(2);
    let server = common::start_with(opts).await;
    let admin = server.register_admin("root").await;
    let alice = server.register("alice").await;
    let (mut a, _) = server.connect(&alice.token, None).await;
    let id = id_of(&say(&mut a, GENERAL, "a clean message").await);

    // A blocked term brought in by an edit is a violation, and the edit is refused.
    let (status, body) = edit(&server, &alice, id, "a fucking message").await;
    assert_eq!(status, 422, "{body}");
    assert!(body["detail"].as_str().unwrap().contains("Warning 1"), "{body}");
    a.send_json(json!({ "type": "edit", "id": id, "text": "you idiot" })).await;
    let warning = expect_frame(&mut a, "warning").await;
    assert_eq!(warning["warnings"], 2);
    let (_, log) = call(&server, Method::GET, "/admin/violations?action=warning", &admin, None).await;
    assert_eq!(log.as_array().unwrap().len(), 2, "{log}");
    assert_eq!(history(&server, &alice, GENERAL).await.last().unwrap()["text"], "a clean message");
    // The third blocks the account, as for messages.
    a.send_json(json!({ "type": "edit", "id": id, "text": "shit" })).await;
    assert_eq!(expect_frame(&mut a, "blocked").await["blocked"], true);
    assert_eq!(a.expect_close().await, Some(1008));

    // The window is in /me, for clients to offer editing only within it.
    let (_, me) = call(&server, Method::GET, "/me", &admin, None).await;
    assert_eq!(me["edit_window_secs"], 2);

    // Past the window, one's own message can no longer be edited (but can be deleted).
    let bob = server.register("bob").await;
    let (mut b, _) = server.connect(&bob.token, None).await;
    let old = id_of(&say(&mut b, GENERAL, "typo hre").await);
    assert_eq!(edit(&server, &bob, old, "typo here").await.0, 200);
    tokio::time::sleep(Duration::from_millis(2100)).await;
    let (status, body) = edit(&server, &bob, old, "typo here!").await;
    assert_eq!(status, 403, "{body}");
    assert!(body["detail"].as_str().unwrap().contains("edit window"), "{body}");
    assert_eq!(delete(&server, &bob, old, None).await.0, 200);
    server.stop().await;
}

#[tokio::test]
async fn reactions_are_single_emoji_toggled_and_bounded() {
    let server = common::start().await;
    let alice = server.register("alice").await;
    let bob = server.register("bob").await;
    let (mut a, _) = server.connect(&alice.token, None).await;
    let id = id_of(&say(&mut a, GENERAL, "react to me").await);

    for bad in ["", "ok", "👍👍", "a", " "] {
        let (status, body) = react(&server, &bob, id, bad).await;
        assert_eq!(status, 422, "{bad:?}: {body}");
        assert_eq!(body["field"], "emoji");
    }
    // A flag and a family are one emoji each.
    assert_eq!(react(&server, &bob, id, "🇫🇷").await.0, 200);
    let (_, body) = react(&server, &bob, id, "👨‍👩‍👧").await;
    assert_eq!(body["reactions"].as_array().unwrap().len(), 2);
    // Toggled off again.
    let (_, body) = react(&server, &bob, id, "🇫🇷").await;
    assert_eq!(body["reactions"], json!([{ "emoji": "👨‍👩‍👧", "count": 1, "users": ["bob"] }]));

    // At most 20 different emoji; adding to one of them still works.
    let emoji: Vec<String> = (0..19).map(|i| char::from_u32(0x1F600 + i).unwrap().to_string()).collect();
    for e in &emoji {
        assert_eq!(react(&server, &alice, id, e).await.0, 200, "{e}");
    }
    let (status, body) = react(&server, &alice, id, "🦀").await;
    assert_eq!(status, 422, "{body}");
    assert!(body["detail"].as_str().unwrap().contains("20"));
    let (status, body) = react(&server, &bob, id, &emoji[3]).await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["reactions"][4]["users"], json!(["alice", "bob"]));
    server.stop().await;
}

#[tokio::test]
async fn nothing_of_a_private_room_reaches_non_members() {
    let server = common::start().await;
    let alice = server.register("alice").await;
    let bob = server.register("bob").await;
    let eve = server.register("eve").await;
    let room = private_room(&server, &alice, "secret", &[&bob]).await;
    let (mut a, _) = server.connect(&alice.token, None).await;
    let (mut e, _) = server.connect(&eve.token, None).await;
    let cursor = id_of(&say(&mut a, GENERAL, "public start").await);
    let id = id_of(&say(&mut a, room, "hidden plans").await);

    // Eve cannot read, edit, delete or react to it, and cannot tell it exists.
    let missing = call(&server, Method::GET, "/messages/999999", &eve, None).await;
    for (status, body) in [
        call(&server, Method::GET, &format!("/messages/{id}"), &eve, None).await,
        edit(&server, &eve, id, "x").await,
        delete(&server, &eve, id, None).await,
        react(&server, &eve, id, "👍").await,
    ] {
        assert_eq!((status, &body), (missing.0, &missing.1));
    }
    e.send_json(json!({ "type": "react", "id": id, "emoji": "👍" })).await;
    assert_eq!(expect_frame(&mut e, "error").await["detail"], "No such message");
    e.send_json(json!({ "type": "typing", "room": room })).await;
    assert!(expect_frame(&mut e, "error").await["detail"].as_str().unwrap().contains("No such room"));
    e.send_json(json!({ "type": "message", "room": GENERAL, "text": "x", "reply_to": id })).await;
    assert!(expect_frame(&mut e, "error").await["detail"].as_str().unwrap().contains("reply"));

    // Nor can an admin outside the room: not even delete it blind.
    let admin = server.register_admin("root").await;
    assert_eq!(delete(&server, &admin, id, Some("probe")).await, missing);
    assert_eq!(call(&server, Method::GET, &format!("/messages/{id}"), &admin, None).await, missing);

    // The members' changes happen; eve's socket hears none of them, live or on resume.
    a.send_json(json!({ "type": "typing", "room": room })).await;
    assert_eq!(edit(&server, &alice, id, "hidden plans v2").await.0, 200);
    assert_eq!(react(&server, &bob, id, "👀").await.0, 200);
    assert_eq!(delete(&server, &alice, id, None).await.0, 200);
    let end = id_of(&say(&mut a, GENERAL, "public end").await);
    loop {
        let v = e.next_json().await.unwrap();
        assert!(v["room"] != room && !v.to_string().contains("hidden"), "eve got {v}");
        if v["id"] == end {
            break;
        }
    }
    let (_, replay) = server.connect(&eve.token, Some(cursor)).await;
    assert!(replay.iter().all(|v| v["room"] != room), "eve's resume: {replay:?}");
    server.stop().await;
}

#[tokio::test]
async fn typing_reaches_the_rooms_members_and_is_throttled() {
    let server = common::start().await;
    let alice = server.register("alice").await;
    let bob = server.register("bob").await;
    let carol = server.register("carol").await;
    let room = private_room(&server, &alice, "pair", &[&bob]).await;
    let (mut a, _) = server.connect(&alice.token, None).await;
    let (mut b, _) = server.connect(&bob.token, None).await;
    let (mut c, _) = server.connect(&carol.token, None).await;

    for _ in 0..10 {
        a.send_json(json!({ "type": "typing", "room": room })).await;
    }
    let done = id_of(&say(&mut a, room, "sent").await);
    let mut typing = 0;
    loop {
        let v = b.next_json().await.unwrap();
        if v["type"] == "typing" {
            assert_eq!((v["room"].as_i64(), v["user"].as_str()), (Some(room), Some("alice")));
            typing += 1;
        }
        if v["id"] == done {
            break;
        }
    }
    assert!((1..=4).contains(&typing), "ten typing frames in a burst came through as {typing}");
    // Carol is not in the room; typing in general reaches her.
    b.send_json(json!({ "type": "typing", "room": GENERAL })).await;
    let v = expect_frame(&mut c, "typing").await;
    assert_eq!((v["room"].as_i64(), v["user"].as_str()), (Some(GENERAL), Some("bob")));
    let (mut late, history) = server.connect(&carol.token, Some(0)).await;
    assert!(history.iter().all(|v| v["type"] != "typing"), "typing is not stored");
    drop(late.ws.close(None).await);
    server.stop().await;
}

#[tokio::test]
async fn exports_carry_the_final_text_and_leave_deleted_messages_out() {
    let server = common::start().await;
    let admin = server.register_admin("root").await;
    let alice = server.register("alice").await;
    let (mut a, _) = server.connect(&alice.token, None).await;
    let kept = id_of(&say(&mut a, GENERAL, "first draft").await);
    let gone = id_of(&say(&mut a, GENERAL, "regrettable words").await);
    assert_eq!(edit(&server, &alice, kept, "final text").await.0, 200);
    assert_eq!(delete(&server, &alice, gone, None).await.0, 200);
    let csv = server.get("/admin/download/messages", Some(&admin.token)).await.text().await.unwrap();
    let mut reader = csv::Reader::from_reader(csv.as_bytes());
    assert_eq!(reader.headers().unwrap().iter().next_back(), Some("edited_at"));
    let rows: Vec<Vec<String>> =
        reader.records().map(|r| r.unwrap().iter().map(str::to_string).collect()).collect();
    assert_eq!(rows.len(), 1, "{csv}");
    assert_eq!((rows[0][0].as_str(), rows[0][3].as_str()), (kept.to_string().as_str(), "final text"));
    assert!(rows[0][6].ends_with('Z'), "edited_at: {csv}");
    assert!(!csv.contains("regrettable") && !csv.contains("first draft"));
    server.stop().await;
}

/// Runs the operator CLI on the server's database; its exit status, stdout and stderr.
async fn cli(server: &TestServer, args: &[&str]) -> (bool, String, String) {
    let mut all = server.db_args();
    all.extend(args.iter().map(|a| a.to_string()));
    let out = tokio::task::spawn_blocking(move || {
        std::process::Command::new(env!("CARGO_BIN_EXE_chatterbox")).args(&all).output().unwrap()
    })
    .await
    .unwrap();
    let text = |b: Vec<u8>| String::from_utf8(b).unwrap();
    (out.status.success(), text(out.stdout), text(out.stderr))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_operator_deletes_a_message_from_the_shell_while_the_daemon_runs() {
    let server = common::start().await;
    let admin = server.register_admin("root").await;
    let alice = server.register("alice").await;
    let (mut a, _) = server.connect(&alice.token, None).await;
    let id = id_of(&say(&mut a, GENERAL, "illegal content").await);

    let (ok, out, err) =
        cli(&server, &["messages", "delete", &id.to_string(), "--reason", "court order"]).await;
    assert!(ok, "{err}");
    assert_eq!(out.trim(), format!("deleted message {id}"));
    // The daemon finds the deletion in the log by itself and tells the open chat.
    assert_eq!(expect_frame(&mut a, "deleted").await["id"], id);
    let (_, audit) = call(&server, Method::GET, "/admin/deletions", &admin, None).await;
    assert_eq!((audit[0]["actor"].as_str(), audit[0]["reason"].as_str()), (Some("cli"), Some("court order")));

    // Deleting it again, or a message that never was, names the id and fails.
    for missing in [id, 424242] {
        let (ok, out, err) = cli(&server, &["messages", "delete", &missing.to_string()]).await;
        assert!(!ok && out.is_empty(), "{out}");
        assert!(err.contains(&format!("no message with id {missing}")), "{err}");
    }
    server.stop().await;
}

// ---------------------------------------------------------------------------------------------
// Resume

/// A message as a client shows it: room, text, edited_at, reply_to, reactions.
type Shown = (i64, String, Option<String>, Option<i64>, Value);

/// A client's view of the conversations, built from frames only.
#[derive(Debug, Default, Clone, PartialEq)]
struct View {
    /// id -> (room, text, edited_at, reply_to, reactions)
    messages: BTreeMap<i64, Shown>,
    /// The highest id or seq seen: where to resume.
    cursor: i64,
}

impl View {
    fn apply(&mut self, v: &Value) {
        let position = v["seq"].as_i64().or(v["id"].as_i64()).unwrap_or(0);
        let id = v["id"].as_i64().unwrap_or(0);
        match v["type"].as_str() {
            Some("message") => {
                let reactions = v.get("reactions").cloned().unwrap_or(json!([]));
                self.messages.insert(
                    id,
                    (
                        v["room"].as_i64().unwrap(),
                        v["text"].as_str().unwrap().to_string(),
                        v["edited_at"].as_str().map(str::to_string),
                        v["reply_to"].as_i64(),
                        reactions,
                    ),
                );
            }
            Some("edited") => {
                if let Some(m) = self.messages.get_mut(&id) {
                    m.1 = v["text"].as_str().unwrap().to_string();
                    m.2 = v["edited_at"].as_str().map(str::to_string);
                }
            }
            Some("deleted") => {
                self.messages.remove(&id);
            }
            Some("reactions") => {
                if let Some(m) = self.messages.get_mut(&id) {
                    m.4 = v["reactions"].clone();
                }
            }
            _ => return,
        }
        assert!(
            position > self.cursor || v["type"] != "message",
            "positions increase: {v} after {}",
            self.cursor
        );
        self.cursor = self.cursor.max(position);
    }
}

/// Reads frames into `view` until the message `until` arrived.
async fn follow(socket: &mut WsClient, view: &mut View, until: i64) {
    loop {
        let v = socket.next_json().await.expect("the socket stays open");
        view.apply(&v);
        if v["type"] == "message" && v["id"] == until {
            return;
        }
    }
}

/// What REST says the conversations hold: the truth both clients must reach.
async fn truth(server: &TestServer, who: &Account, rooms: &[i64]) -> BTreeMap<i64, Shown> {
    let mut out = BTreeMap::new();
    for &room in rooms {
        for m in history(server, who, room).await {
            out.insert(
                id_of(&m),
                (
                    room,
                    m["text"].as_str().unwrap().to_string(),
                    m["edited_at"].as_str().map(str::to_string),
                    m["reply_to"].as_i64(),
                    m["reactions"].clone(),
                ),
            );
        }
    }
    out
}

#[tokio::test]
async fn an_offline_client_resumes_to_exactly_the_state_of_one_that_stayed_online() {
    let server = common::start_with(common::unthrottled()).await;
    let alice = server.register("alice").await;
    let bob = server.register("bob").await;
    let room = private_room(&server, &alice, "team", &[&bob]).await;
    let rooms = [GENERAL, room];
    let (mut a, _) = server.connect(&alice.token, None).await;

    // Some history, with edits and reactions, before either of bob's clients starts.
    let mut ids = Vec::new();
    for i in 0..12 {
        let r = rooms[i % 2];
        ids.push(id_of(&say(&mut a, r, &format!("before {i}")).await));
    }
    assert_eq!(edit(&server, &alice, ids[0], "before 0, edited").await.0, 200);
    assert_eq!(react(&server, &alice, ids[1], "🎉").await.0, 200);
    assert_eq!(delete(&server, &alice, ids[2], None).await.0, 200);

    // Bob's two clients: both replay everything from the start, then one goes offline.
    let mut online = View::default();
    let (mut on, replay) = server.connect(&bob.token, Some(0)).await;
    replay.iter().for_each(|v| online.apply(v));
    let mut offline = View::default();
    let (mut off, replay) = server.connect(&bob.token, Some(0)).await;
    replay.iter().for_each(|v| offline.apply(v));
    assert_eq!(online, offline);
    assert_eq!(online.messages, truth(&server, &bob, &rooms).await);
    off.ws.close(None).await.unwrap();

    // While it is away: new messages, edits of old and new ones, deletions of old and new ones,
    // reactions added and taken back, replies, from both people, over REST and the socket.
    let (mut b, _) = server.connect(&bob.token, None).await;
    for i in 0..20 {
        let r = rooms[i % 2];
        // A reply answers a message of the same conversation (ids[k] is in rooms[k % 2]), not
        // the deleted ids[2].
        let answered = match (i % 2) + 2 * ((i * 7 / 2) % 6) {
            2 => 4,
            j => j,
        };
        let reply = (i % 5 == 0).then(|| ids[answered]);
        let text = format!("while away {i}");
        let sender = if i % 3 == 0 { &mut b } else { &mut a };
        sender.send_json(json!({ "type": "message", "room": r, "text": text, "reply_to": reply })).await;
        let echo = loop {
            let v = expect_frame(sender, "message").await;
            if v["text"] == text {
                break v;
            }
        };
        ids.push(id_of(&echo));
    }
    let mine = |i: usize| if (i - 12).is_multiple_of(3) { &bob } else { &alice };
    for (k, &id) in ids.iter().enumerate() {
        if k == 2 {
            continue; // deleted before
        }
        match k % 6 {
            0 if k >= 12 => assert_eq!(edit(&server, mine(k), id, &format!("edited {k}")).await.0, 200),
            0 => assert_eq!(edit(&server, &alice, id, &format!("edited {k}")).await.0, 200),
            1 => {
                assert_eq!(react(&server, &bob, id, "👍").await.0, 200);
                assert_eq!(react(&server, &alice, id, "👍").await.0, 200);
            }
            2 => {
                a.send_json(json!({ "type": "react", "id": id, "emoji": "❤️" })).await;
                a.send_json(json!({ "type": "react", "id": id, "emoji": "❤️" })).await;
                b.send_json(json!({ "type": "react", "id": id, "emoji": "😂" })).await;
            }
            3 => {
                let who = if k >= 12 { mine(k) } else { &alice };
                assert_eq!(delete(&server, who, id, None).await.0, 200, "delete {k}");
            }
            4 => {
                assert_eq!(
                    edit(&server, if k >= 12 { mine(k) } else { &alice }, id, "edited once").await.0,
                    200
                );
                assert_eq!(react(&server, &bob, id, "🔥").await.0, 200);
                assert_eq!(
                    edit(&server, if k >= 12 { mine(k) } else { &alice }, id, "edited twice").await.0,
                    200
                );
            }
            _ => {}
        }
    }
    let end = id_of(&say(&mut a, GENERAL, "the end").await);
    follow(&mut on, &mut online, end).await;

    // Back: it resumes from the highest id or seq it saw.
    let (mut back, replay) = server.connect(&bob.token, Some(offline.cursor)).await;
    replay.iter().for_each(|v| offline.apply(v));
    let truth = truth(&server, &bob, &rooms).await;
    assert_eq!(online.messages, truth, "the online client matches the store");
    assert_eq!(offline.messages, truth, "the resumed client matches the store");
    assert!(
        replay.iter().all(|v| v["type"] != "deleted" || id_of(v) <= ids[11]),
        "no ghosts of new messages"
    );

    // A second resume from where it is now brings nothing new.
    back.ws.close(None).await.unwrap();
    let (_, again) = server.connect(&bob.token, Some(offline.cursor.max(online.cursor))).await;
    assert!(again.iter().all(|v| v["type"] == "rooms" || v["type"] == "presence"), "{again:?}");
    server.stop().await;
}

#[tokio::test]
async fn a_resume_after_thousands_of_changes_is_whole_and_in_order() {
    let server = common::start_with(common::unthrottled()).await;
    let alice = server.register("alice").await;
    let bob = server.register("bob").await;
    let (mut a, _) = server.connect(&alice.token, None).await;
    let first = id_of(&say(&mut a, GENERAL, "start").await);
    // More than one replay chunk of messages, with changes spread through them.
    let mut last = first;
    for i in 0..1100 {
        a.send_json(json!({ "type": "message", "room": GENERAL, "text": format!("m{i}") })).await;
        if i % 100 == 0 {
            a.send_json(json!({ "type": "react", "id": first, "emoji": "👍" })).await;
            a.send_json(json!({ "type": "edit", "id": first, "text": format!("start {i}") })).await;
        }
    }
    loop {
        let v = a.next_json().await.unwrap();
        if v["text"] == "m1099" {
            last = last.max(id_of(&v));
            break;
        }
    }
    let started = Instant::now();
    let (_, replay) = server.connect(&bob.token, Some(first)).await;
    let positions: Vec<i64> =
        replay.iter().map(|v| v["seq"].as_i64().or(v["id"].as_i64()).unwrap()).collect();
    assert!(positions.windows(2).all(|w| w[0] < w[1]), "one increasing sequence");
    assert_eq!(replay.iter().filter(|v| v["type"] == "message").count(), 1100);
    let edited: Vec<&Value> = replay.iter().filter(|v| v["type"] == "edited").collect();
    assert_eq!(edited.len(), 1, "only the last edit of a message: {edited:?}");
    assert_eq!(edited[0]["text"], "start 1000");
    assert_eq!(replay.iter().filter(|v| v["type"] == "reactions").count(), 1);
    assert!(*positions.last().unwrap() >= last);
    eprintln!("resume of {} frames took {:?}", replay.len(), started.elapsed());
    server.stop().await;
}

#[tokio::test]
async fn the_original_dialect_and_older_clients_are_unaffected() {
    let server = common::start().await;
    let alice = server.register("alice").await;
    let (mut a, _) = server.connect(&alice.token, None).await;
    let id = id_of(&say(&mut a, GENERAL, "hello old friends").await);
    assert_eq!(edit(&server, &alice, id, "hello, old friends").await.0, 200);
    let url = server.ws_url(&format!("/chat/ws?token={}", alice.token));
    let (mut old, _) = tokio_tungstenite::connect_async(url).await.unwrap();
    use futures_util::{SinkExt, StreamExt};
    assert_eq!(react(&server, &alice, id, "👍").await.0, 200);
    old.send(tokio_tungstenite::tungstenite::Message::Text(r#"{"text":"plain"}"#.into())).await.unwrap();
    // The original's client hears messages only, never a frame it would show as a bubble.
    let frame = tokio::time::timeout(Duration::from_secs(10), old.next()).await.unwrap().unwrap().unwrap();
    let v: Value = serde_json::from_str(frame.to_text().unwrap()).unwrap();
    assert_eq!(v["text"], "plain", "{v}");
    let (status, body) = call(&server, Method::GET, "/messages?limit=5", &alice, None).await;
    assert_eq!(status, 200);
    assert!(body.to_string().contains("hello, old friends"));
    match a.next_within(Duration::from_millis(10)).await {
        None | Some(Next::Json(_)) => {}
        Some(Next::Closed(..)) => panic!("closed"),
    }
    server.stop().await;
}

common::postgres_too!(
    edits_deletions_reactions_and_replies_reach_everyone_live,
    only_authors_edit_and_admins_delete_others_with_an_audited_reason,
    edits_pass_moderation_and_the_edit_window,
    reactions_are_single_emoji_toggled_and_bounded,
    nothing_of_a_private_room_reaches_non_members,
    typing_reaches_the_rooms_members_and_is_throttled,
    an_offline_client_resumes_to_exactly_the_state_of_one_that_stayed_online,
    a_resume_after_thousands_of_changes_is_whole_and_in_order,
    the_original_dialect_and_older_clients_are_unaffected,
    exports_carry_the_final_text_and_leave_deleted_messages_out,
    the_operator_deletes_a_message_from_the_shell_while_the_daemon_runs,
);
