//! Reports and appeals (issue 14): members report what they can read, handlers (admins for
//! every conversation, room moderators for their rooms) see the message and its neighbours only
//! and decide, every decision is audited and told to the reporter; a blocked user appeals at
//! sign-in and reads the answer at the next one. On both stores.

mod common;

use common::{Account, TestServer, WsClient, PASSWORD};
use reqwest::Method;
use serde_json::{json, Value};

const GENERAL: i64 = 1;

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
    (status, if text.is_empty() { Value::Null } else { serde_json::from_str(&text).unwrap() })
}

async fn get(server: &TestServer, path: &str, who: &Account) -> (u16, Value) {
    call(server, Method::GET, path, &who.token, None).await
}

async fn post(server: &TestServer, path: &str, who: &Account, body: Value) -> (u16, Value) {
    call(server, Method::POST, path, &who.token, Some(body)).await
}

async fn report(server: &TestServer, who: &Account, message: i64, reason: &str) -> (u16, Value) {
    post(
        server,
        &format!("/messages/{message}/report"),
        who,
        json!({ "reason": reason, "text": "please look" }),
    )
    .await
}

async fn decide(server: &TestServer, route: &str, who: &Account, id: i64, body: Value) -> (u16, Value) {
    post(server, &format!("/{route}/reports/{id}"), who, body).await
}

async fn expect_frame(socket: &mut WsClient, kind: &str) -> Value {
    loop {
        let v = socket.next_json().await.unwrap_or_else(|| panic!("closed while waiting for {kind}"));
        if v["type"] == kind {
            return v;
        }
    }
}

async fn say(socket: &mut WsClient, room: i64, text: &str) -> i64 {
    socket.send_json(json!({ "type": "message", "room": room, "text": text })).await;
    loop {
        let v = expect_frame(socket, "message").await;
        if v["text"] == text {
            return v["id"].as_i64().unwrap();
        }
    }
}

async fn create_room(server: &TestServer, who: &Account, name: &str, visibility: &str) -> i64 {
    let (status, body) = post(server, "/rooms", who, json!({ "name": name, "visibility": visibility })).await;
    assert_eq!(status, 201, "{body}");
    body["id"].as_i64().unwrap()
}

async fn add_member(server: &TestServer, who: &Account, room: i64, username: &str) {
    let (status, body) =
        post(server, &format!("/rooms/{room}/members"), who, json!({ "username": username })).await;
    assert!(status == 200 || status == 201, "{status} {body}");
}

async fn join(server: &TestServer, who: &Account, room: i64) {
    let (status, body) = post(server, &format!("/rooms/{room}/join"), who, json!({})).await;
    assert!(status == 200 || status == 201, "{status} {body}");
}

/// The audit entries of an action, newest first.
async fn audit(server: &TestServer, admin: &Account, action: &str) -> Vec<Value> {
    let (status, body) = get(server, "/admin/violations?limit=500", admin).await;
    assert_eq!(status, 200);
    body.as_array().unwrap().iter().filter(|v| v["action"] == action).cloned().collect()
}

async fn login(server: &TestServer, name: &str) -> (u16, Value) {
    let resp = server
        .http
        .post(server.url("/login"))
        .json(&json!({ "username": name, "password": PASSWORD }))
        .send()
        .await
        .unwrap();
    let status = resp.status().as_u16();
    (status, resp.json().await.unwrap())
}

#[tokio::test]
async fn report_rules() {
    let server = common::start().await;
    let (alice, bob, carol) =
        (server.register("alice").await, server.register("bob").await, server.register("carol").await);
    let (mut a, _) = server.connect(&alice.token, None).await;
    let public = say(&mut a, GENERAL, "you are all wrong").await;
    let private = create_room(&server, &alice, "secret", "private").await;
    add_member(&server, &alice, private, "bob").await;
    let hidden = say(&mut a, private, "members only").await;

    // Own message: 422; an unknown reason: 422; too long a text: 422.
    assert_eq!(report(&server, &alice, public, "spam").await.0, 422);
    assert_eq!(report(&server, &bob, public, "rude").await.0, 422);
    let long = post(
        &server,
        &format!("/messages/{public}/report"),
        &bob,
        json!({ "reason": "spam", "text": "x".repeat(501) }),
    )
    .await;
    assert_eq!(long.0, 422);

    let (status, filed) = report(&server, &bob, public, "harassment").await;
    assert_eq!(status, 201, "{filed}");
    assert_eq!(filed["status"], "open");
    // Once per reporter and message.
    let (status, again) = report(&server, &bob, public, "spam").await;
    assert_eq!(status, 409);
    assert!(again["detail"].as_str().unwrap().contains("already reported"), "{again}");
    // Another member may report it too.
    assert_eq!(report(&server, &carol, public, "spam").await.0, 201);

    // A private room's message is, to a non-member, a missing id; its member may report it.
    assert_eq!(report(&server, &carol, hidden, "spam").await.0, 404);
    assert_eq!(report(&server, &bob, hidden, "spam").await.0, 201);
    // Missing and deleted messages are 404.
    assert_eq!(report(&server, &bob, 999_999, "spam").await.0, 404);
    let gone = say(&mut a, GENERAL, "soon gone").await;
    assert_eq!(call(&server, Method::DELETE, &format!("/messages/{gone}"), &alice.token, None).await.0, 200);
    assert_eq!(report(&server, &bob, gone, "spam").await.0, 404);

    // The reporter's own list.
    let (status, mine) = get(&server, "/reports", &bob).await;
    assert_eq!(status, 200);
    let mine = mine.as_array().unwrap();
    assert_eq!(mine.len(), 2);
    assert_eq!(mine[0]["message_id"], hidden);
    assert_eq!(mine[1]["message_id"], public);
    assert_eq!(mine[1]["reason"], "harassment");
    assert!(mine.iter().all(|r| r["status"] == "open" && r["handled_at"].is_null()));
    // Unauthenticated: 401.
    let resp =
        server.post(&format!("/messages/{public}/report"), None, Some(json!({ "reason": "spam" }))).await;
    assert_eq!(resp.status(), 401);
}

#[tokio::test]
async fn open_reports_are_bounded_per_reporter() {
    let server = common::start_with(common::unthrottled()).await;
    let (alice, bob) = (server.register("alice").await, server.register("bob").await);
    let (mut a, _) = server.connect(&alice.token, None).await;
    let max = chatterbox::chat::reports::MAX_OPEN_REPORTS;
    for i in 0..max {
        let id = say(&mut a, GENERAL, &format!("message {i}")).await;
        assert_eq!(report(&server, &bob, id, "spam").await.0, 201);
    }
    let one_more = say(&mut a, GENERAL, "one more").await;
    assert_eq!(report(&server, &bob, one_more, "spam").await.0, 429);
}

#[tokio::test]
async fn queue_visibility_and_context() {
    let server = common::start().await;
    let admin = server.register_admin("root").await;
    let (alice, bob, mod_, eve) = (
        server.register("alice").await,
        server.register("bob").await,
        server.register("mona").await,
        server.register("eve").await,
    );
    // mona created (so moderates) a private room; the admin is not in it.
    let room = create_room(&server, &mod_, "den", "private").await;
    add_member(&server, &mod_, room, "alice").await;
    add_member(&server, &mod_, room, "bob").await;
    let (mut a, _) = server.connect(&alice.token, None).await;
    let mut ids = Vec::new();
    for text in ["one", "two", "three", "four", "five", "six", "seven"] {
        ids.push(say(&mut a, room, text).await);
    }
    let in_room = ids[3];
    let in_general = say(&mut a, GENERAL, "general rudeness").await;
    assert_eq!(report(&server, &bob, in_room, "harassment").await.0, 201);
    assert_eq!(report(&server, &bob, in_general, "spam").await.0, 201);

    // The admin sees both, newest first, with the message, the reporter and the context.
    let (status, queue) = get(&server, "/admin/reports", &admin).await;
    assert_eq!(status, 200, "{queue}");
    let queue = queue.as_array().unwrap();
    assert_eq!(queue.len(), 2);
    let r = &queue[1];
    assert_eq!(r["message"]["id"], in_room);
    assert_eq!(r["message"]["text"], "four");
    assert_eq!(r["message"]["room"]["kind"], "private");
    assert_eq!(r["message"]["sender"]["username"], "alice");
    assert_eq!(r["reporter"]["username"], "bob");
    assert_eq!(r["source"], "member");
    assert_eq!(r["text"], "please look");
    // Exactly two before and two after, nothing else of the room.
    let context: Vec<&str> =
        r["context"].as_array().unwrap().iter().map(|m| m["text"].as_str().unwrap()).collect();
    assert_eq!(context, ["two", "three", "five", "six"]);

    // The room's moderator sees the report of their room only.
    let (status, queue) = get(&server, "/moderation/reports", &mod_).await;
    assert_eq!(status, 200);
    let queue = queue.as_array().unwrap();
    assert_eq!(queue.len(), 1);
    assert_eq!(queue[0]["message"]["id"], in_room);
    // An admin's moderation queue is everything.
    assert_eq!(get(&server, "/moderation/reports", &admin).await.1.as_array().unwrap().len(), 2);
    // Others: nothing in the moderators' queue, 403 at the admins'.
    assert_eq!(get(&server, "/moderation/reports", &eve).await.1.as_array().unwrap().len(), 0);
    assert_eq!(get(&server, "/admin/reports", &eve).await.0, 403);
    assert_eq!(get(&server, "/admin/reports", &mod_).await.0, 403);
    // A moderator cannot decide on another room's report: 404.
    let general_report = queue_ids(&server, &admin).await[0];
    let (status, _) =
        decide(&server, "moderation", &mod_, general_report, json!({ "action": "dismiss" })).await;
    assert_eq!(status, 404);
    let (status, _) =
        decide(&server, "moderation", &eve, general_report, json!({ "action": "dismiss" })).await;
    assert_eq!(status, 404);
    // Filters.
    assert_eq!(get(&server, "/admin/reports?status=handled", &admin).await.1.as_array().unwrap().len(), 0);
    assert_eq!(get(&server, "/admin/reports?status=bogus", &admin).await.0, 400);
}

async fn queue_ids(server: &TestServer, admin: &Account) -> Vec<i64> {
    let (_, queue) = get(server, "/admin/reports?status=all", admin).await;
    queue.as_array().unwrap().iter().map(|r| r["id"].as_i64().unwrap()).collect()
}

#[tokio::test]
async fn decisions_are_audited_and_reporters_told() {
    let server = common::start().await;
    let admin = server.register_admin("root").await;
    let (alice, bob, carol) =
        (server.register("alice").await, server.register("bob").await, server.register("carol").await);
    let (mut a, _) = server.connect(&alice.token, None).await;
    let (mut b, _) = server.connect(&bob.token, None).await;

    // dismiss: bob's and carol's reports of one message close together.
    let m1 = say(&mut a, GENERAL, "first").await;
    let r1 = report(&server, &bob, m1, "spam").await.1["id"].as_i64().unwrap();
    let r1c = report(&server, &carol, m1, "spam").await.1["id"].as_i64().unwrap();
    let (status, out) =
        decide(&server, "admin", &admin, r1, json!({ "action": "dismiss", "note": "fine" })).await;
    assert_eq!(status, 200, "{out}");
    assert_eq!(out["status"], "dismissed");
    assert_eq!(out["handled_by"], "root");
    assert_eq!(out["note"], "fine");
    let frame = expect_frame(&mut b, "report").await;
    assert_eq!(frame, json!({ "type": "report", "id": r1, "status": "dismissed" }));
    let (_, carols) = get(&server, "/reports", &carol).await;
    assert_eq!(carols[0]["id"], r1c);
    assert_eq!(carols[0]["status"], "dismissed");
    assert!(carols[0]["handled_at"].is_string());
    // Handled already: 409 (also for the one closed with it).
    assert_eq!(decide(&server, "admin", &admin, r1, json!({ "action": "warn" })).await.0, 409);
    assert_eq!(decide(&server, "admin", &admin, r1c, json!({ "action": "warn" })).await.0, 409);
    let audited = audit(&server, &admin, "report").await;
    assert_eq!(audited.len(), 1);
    assert_eq!(audited[0]["username"], "alice");
    assert!(audited[0]["reason"].as_str().unwrap().contains(&format!("report #{r1}: dismiss")));

    // delete: the message is gone for everyone, the deletion audited too.
    let m2 = say(&mut a, GENERAL, "second").await;
    let r2 = report(&server, &bob, m2, "hate").await.1["id"].as_i64().unwrap();
    let (status, out) = decide(&server, "admin", &admin, r2, json!({ "action": "delete" })).await;
    assert_eq!(status, 200, "{out}");
    assert_eq!(out["status"], "deleted");
    assert_eq!(out["message"]["deleted"], true);
    // The decision is claimed first, then carried out: the report frame, then the deletion.
    assert_eq!(expect_frame(&mut b, "report").await["status"], "deleted");
    let deleted = expect_frame(&mut b, "deleted").await;
    assert_eq!(deleted["id"], m2);
    assert_eq!(get(&server, &format!("/messages/{m2}"), &bob).await.0, 404);
    let deletions = audit(&server, &admin, "delete").await;
    assert!(deletions[0]["reason"].as_str().unwrap().starts_with(&format!("report #{r2}")), "{deletions:?}");

    // warn: a strike on alice's ladder.
    let m3 = say(&mut a, GENERAL, "third").await;
    let r3 = report(&server, &bob, m3, "harassment").await.1["id"].as_i64().unwrap();
    assert_eq!(decide(&server, "admin", &admin, r3, json!({ "action": "warn" })).await.0, 200);
    assert_eq!(expect_frame(&mut b, "report").await["status"], "warned");
    let (_, me) = get(&server, "/me", &alice).await;
    assert_eq!(me["warning_count"], 1);
    let warnings = audit(&server, &admin, "warning").await;
    assert_eq!(warnings[0]["username"], "alice");

    // mute takes a duration (1 h when absent); it mutes the sender's account (STANDING's mute, audited).
    let m4 = say(&mut a, GENERAL, "fourth").await;
    let m5 = say(&mut a, GENERAL, "fifth").await;
    let r4 = report(&server, &bob, m4, "spam").await.1["id"].as_i64().unwrap();
    assert_eq!(
        decide(&server, "admin", &admin, r4, json!({ "action": "mute", "duration": "soon" })).await.0,
        422
    );
    assert_eq!(decide(&server, "admin", &admin, r4, json!({ "action": "explode" })).await.0, 422);
    let (status, out) =
        decide(&server, "admin", &admin, r4, json!({ "action": "mute", "duration": "1h" })).await;
    assert_eq!(status, 200, "{out}");
    assert_eq!(out["status"], "muted");
    assert_eq!(expect_frame(&mut b, "report").await["status"], "muted");
    let mutes = audit(&server, &admin, "mute").await;
    assert_eq!(mutes[0]["username"], "alice");
    let r5 = report(&server, &bob, m5, "spam").await.1["id"].as_i64().unwrap();

    // block: admins only; the sender's sockets close.
    let (status, _) =
        decide(&server, "admin", &admin, r5, json!({ "action": "block", "note": "enough" })).await;
    assert_eq!(status, 200);
    assert_eq!(expect_frame(&mut b, "report").await["status"], "blocked");
    assert!(a.expect_close().await.is_some());
    assert_eq!(login(&server, "alice").await.0, 403);
    let reports = audit(&server, &admin, "report").await;
    assert_eq!(reports.len(), 5);
    assert!(reports.iter().all(|r| r["actor"] == "root"));
    // Unknown report: 404.
    assert_eq!(decide(&server, "admin", &admin, 999_999, json!({ "action": "dismiss" })).await.0, 404);
}

#[tokio::test]
async fn a_room_moderator_decides_but_cannot_block() {
    let server = common::start().await;
    let (alice, bob, mona) =
        (server.register("alice").await, server.register("bob").await, server.register("mona").await);
    let room = create_room(&server, &mona, "club", "public").await;
    join(&server, &alice, room).await;
    let (mut a, _) = server.connect(&alice.token, None).await;
    let m = say(&mut a, room, "spam spam").await;
    join(&server, &bob, room).await;
    let r = report(&server, &bob, m, "spam").await.1["id"].as_i64().unwrap();
    let (status, body) = decide(&server, "moderation", &mona, r, json!({ "action": "block" })).await;
    assert_eq!(status, 403, "{body}");
    let (status, out) = decide(&server, "moderation", &mona, r, json!({ "action": "delete" })).await;
    assert_eq!(status, 200, "{out}");
    assert_eq!(out["message"]["deleted"], true);
    let (_, mine) = get(&server, "/reports", &bob).await;
    assert_eq!(mine[0]["status"], "deleted");

    // A moderator's mute is a mute in their room, never of the account everywhere.
    let m2 = say(&mut a, room, "more spam").await;
    let r2 = report(&server, &bob, m2, "spam").await.1["id"].as_i64().unwrap();
    let (status, out) =
        decide(&server, "moderation", &mona, r2, json!({ "action": "mute", "duration": "1h" })).await;
    assert_eq!(status, 200, "{out}");
    let (_, me) = get(&server, "/me", &alice).await;
    assert!(me["muted_until"].is_null(), "{me}");
    let (_, club) = get(&server, &format!("/rooms/{room}"), &mona).await;
    let member = club["member_list"].as_array().unwrap().iter().find(|m| m["username"] == "alice").unwrap();
    assert!(member["muted_until"].is_string(), "{club}");
    let refused = say_refused(&mut a, room, "still here?").await;
    assert!(refused.contains("muted"), "{refused}");
    // Elsewhere alice still talks.
    say(&mut a, GENERAL, "hello elsewhere").await;
}

/// Sends a message that is refused; the error frame's words.
async fn say_refused(socket: &mut WsClient, room: i64, text: &str) -> String {
    socket.send_json(json!({ "type": "message", "room": room, "text": text })).await;
    expect_frame(socket, "error").await["detail"].as_str().unwrap_or_default().to_string()
}

#[tokio::test]
async fn automatic_flags_join_the_queue() {
    let server = common::start().await;
    let admin = server.register_admin("root").await;
    let alice = server.register("alice").await;
    let (mut a, _) = server.connect(&alice.token, None).await;
    let id = say(&mut a, GENERAL, "you are worthless trash").await;
    let store = std::sync::Arc::clone(server.chat.store());
    let message = tokio::task::spawn_blocking(move || store.message(id).unwrap().unwrap()).await.unwrap();
    let rid = server
        .chat
        .flag(&message, chatterbox::store::ReportSource::Classifier, Some(0.93), "offensive")
        .await
        .unwrap();
    let (_, queue) = get(&server, "/admin/reports", &admin).await;
    let r = &queue.as_array().unwrap()[0];
    assert_eq!(r["id"], rid);
    assert_eq!(r["source"], "classifier");
    assert_eq!(r["score"], 0.93);
    assert!(r["reporter"].is_null());
    assert_eq!(r["reason"], "offensive");
    // A second automatic flag of the same message is not a member's duplicate.
    let again = server.chat.flag(&message, chatterbox::store::ReportSource::Webhook, None, "refuse").await;
    assert!(again.is_ok());
    assert_eq!(decide(&server, "admin", &admin, rid, json!({ "action": "dismiss" })).await.0, 200);
    // Both closed with the one decision.
    assert_eq!(get(&server, "/admin/reports", &admin).await.1.as_array().unwrap().len(), 0);
}

async fn block(server: &TestServer, admin: &Account, who: &Account) {
    let (status, body) =
        post(server, &format!("/admin/users/{}/block", who.id), admin, json!({ "reason": "abuse" })).await;
    assert_eq!(status, 200, "{body}");
}

#[tokio::test]
async fn appeal_from_blocked_sign_in_to_unblock() {
    let server = common::start().await;
    let admin = server.register_admin("root").await;
    let alice = server.register("alice").await;
    block(&server, &admin, &alice).await;

    // The refusal keeps its status and detail, and offers an appeal.
    let (status, refused) = login(&server, "alice").await;
    assert_eq!(status, 403);
    assert!(refused["detail"].as_str().unwrap().contains("blocked"));
    assert_eq!(refused["appeal"]["allowed"], true);
    let token = refused["appeal"]["token"].as_str().unwrap().to_string();
    assert!(refused.get("access_token").is_none());
    // A wrong password tells nothing of the block.
    let resp =
        server.post("/login", None, Some(json!({ "username": "alice", "password": "wrong password" }))).await;
    assert_eq!(resp.status(), 401);
    assert!(resp.json::<Value>().await.unwrap().get("appeal").is_none());
    // The appeal token is no session token, and a session token files no appeal.
    assert_eq!(server.get("/me", Some(&token)).await.status(), 401);
    assert_eq!(
        call(&server, Method::POST, "/appeals", &admin.token, Some(json!({ "text": "hi" }))).await.0,
        401
    );
    assert_eq!(call(&server, Method::POST, "/appeals", &token, Some(json!({ "text": " " }))).await.0, 422);

    let (status, appeal) =
        call(&server, Method::POST, "/appeals", &token, Some(json!({ "text": "I am sorry" }))).await;
    assert_eq!(status, 201, "{appeal}");
    assert_eq!(appeal["status"], "open");
    // One per block.
    assert_eq!(
        call(&server, Method::POST, "/appeals", &token, Some(json!({ "text": "again" }))).await.0,
        409
    );
    let (_, refused) = login(&server, "alice").await;
    assert_eq!(refused["appeal"]["allowed"], false);
    assert_eq!(refused["appeal"]["status"], "open");

    // Admins see it and unblock with a note.
    let (status, list) = get(&server, "/admin/appeals", &admin).await;
    assert_eq!(status, 200);
    assert_eq!(list[0]["user"]["username"], "alice");
    assert_eq!(list[0]["text"], "I am sorry");
    assert_eq!(get(&server, "/admin/appeals", &alice_like(&server).await).await.0, 403);
    let id = list[0]["id"].as_i64().unwrap();
    let (status, answered) = post(
        &server,
        &format!("/admin/appeals/{id}"),
        &admin,
        json!({ "decision": "unblock", "note": "Welcome back" }),
    )
    .await;
    assert_eq!(status, 200, "{answered}");
    assert_eq!(answered["status"], "unblocked");
    assert_eq!(
        post(&server, &format!("/admin/appeals/{id}"), &admin, json!({ "decision": "keep" })).await.0,
        409
    );
    assert_eq!(get(&server, "/admin/appeals", &admin).await.1.as_array().unwrap().len(), 0);
    assert_eq!(get(&server, "/admin/appeals?status=all", &admin).await.1.as_array().unwrap().len(), 1);

    // The note once, at the next sign-in.
    let (status, signed) = login(&server, "alice").await;
    assert_eq!(status, 200, "{signed}");
    assert_eq!(signed["appeal_answer"], "Welcome back");
    let (_, again) = login(&server, "alice").await;
    assert!(again.get("appeal_answer").is_none());
    // Audited: filed, answered, and the unblock itself.
    let appeals = audit(&server, &admin, "appeal").await;
    assert_eq!(appeals.len(), 2);
    assert_eq!(appeals[0]["actor"], "root");
    assert_eq!(audit(&server, &admin, "unblock").await.len(), 1);
}

async fn alice_like(server: &TestServer) -> Account {
    server.register("mallory").await
}

#[tokio::test]
async fn appeal_kept_shows_the_note_at_sign_in() {
    let server = common::start().await;
    let admin = server.register_admin("root").await;
    let alice = server.register("alice").await;
    block(&server, &admin, &alice).await;
    let token = login(&server, "alice").await.1["appeal"]["token"].as_str().unwrap().to_string();
    assert_eq!(
        call(&server, Method::POST, "/appeals", &token, Some(json!({ "text": "please" }))).await.0,
        201
    );
    let id = get(&server, "/admin/appeals", &admin).await.1[0]["id"].as_i64().unwrap();
    let (status, _) = post(
        &server,
        &format!("/admin/appeals/{id}"),
        &admin,
        json!({ "decision": "keep", "note": "Not this time" }),
    )
    .await;
    assert_eq!(status, 200);
    let (status, refused) = login(&server, "alice").await;
    assert_eq!(status, 403);
    assert_eq!(refused["appeal"]["status"], "kept");
    assert_eq!(refused["appeal"]["answer"], "Not this time");
    // The original's login path answers the same.
    let resp = server
        .post("/auth/login", None, Some(json!({ "email": "alice@example.com", "password": PASSWORD })))
        .await;
    assert_eq!(resp.status(), 403);
    assert_eq!(resp.json::<Value>().await.unwrap()["appeal"]["answer"], "Not this time");
    // A new block (after an unblock) may be appealed again.
    assert_eq!(post(&server, &format!("/admin/users/{}/unblock", alice.id), &admin, json!({})).await.0, 200);
    block(&server, &admin, &alice).await;
    assert_eq!(login(&server, "alice").await.1["appeal"]["allowed"], true);
    // The old token is for the old block.
    assert_eq!(call(&server, Method::POST, "/appeals", &token, Some(json!({ "text": "old" }))).await.0, 401);
}

common::postgres_too!(
    report_rules,
    open_reports_are_bounded_per_reporter,
    queue_visibility_and_context,
    decisions_are_audited_and_reporters_told,
    a_room_moderator_decides_but_cannot_block,
    automatic_flags_join_the_queue,
    appeal_from_blocked_sign_in_to_unblock,
    appeal_kept_shows_the_note_at_sign_in,
);
