//! Message search (issue 13): `GET /search` finds parts of words in any letter case, every word
//! required, newest first and paged; it looks only in the conversations the caller can read now
//! (an admin also in every public room), never in others' private rooms or DMs; the highlight
//! is escaped HTML; edits and deletions are followed by the index.

mod common;

use common::{Account, TestServer};
use reqwest::Method;
use serde_json::{json, Value};

// ---------------------------------------------------------------------------------------------
// Helpers

async fn server() -> TestServer {
    common::start_with(common::unthrottled()).await
}

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
    (status, serde_json::from_str(&text).unwrap_or(Value::String(text)))
}

/// `GET /search?<query>` (the query already encoded) as `who`.
async fn search(server: &TestServer, who: &Account, query: &str) -> (u16, Value) {
    call(server, Method::GET, &format!("/search?{query}"), who, None).await
}

/// The texts found for `query`, newest first; the search must succeed.
async fn found(server: &TestServer, who: &Account, query: &str) -> Vec<String> {
    let (status, body) = search(server, who, query).await;
    assert_eq!(status, 200, "search {query} as {}: {body}", who.username);
    body["results"].as_array().unwrap().iter().map(|r| r["text"].as_str().unwrap().to_string()).collect()
}

/// Sends the texts into `room` (None: `general`) as `who`, each acknowledged; returns their ids.
async fn say(server: &TestServer, who: &Account, room: Option<i64>, texts: &[&str]) -> Vec<i64> {
    let (mut ws, _) = server.connect(&who.token, None).await;
    let mut ids = Vec::new();
    for text in texts {
        let mut frame = json!({ "type": "message", "text": text });
        if let Some(room) = room {
            frame["room"] = json!(room);
        }
        ws.send_json(frame).await;
        loop {
            let v = ws.next_json().await.expect("the echo of a sent message");
            assert_ne!(v["type"], "error", "{text:?} refused: {v}");
            if v["type"] == "message" && v["text"] == *text {
                ids.push(v["id"].as_i64().unwrap());
                break;
            }
        }
    }
    ids
}

async fn create_room(server: &TestServer, who: &Account, name: &str, visibility: &str) -> i64 {
    let (status, body) =
        call(server, Method::POST, "/rooms", who, Some(json!({ "name": name, "visibility": visibility })))
            .await;
    assert_eq!(status, 201, "create {name}: {body}");
    body["id"].as_i64().unwrap()
}

async fn add_member(server: &TestServer, who: &Account, room: i64, username: &str) {
    let (status, body) = call(
        server,
        Method::POST,
        &format!("/rooms/{room}/members"),
        who,
        Some(json!({ "username": username })),
    )
    .await;
    assert_eq!(status, 200, "add {username} to {room}: {body}");
}

async fn open_dm(server: &TestServer, who: &Account, other: &str) -> i64 {
    let (status, body) = call(server, Method::POST, "/dms", who, Some(json!({ "usernames": [other] }))).await;
    assert!(status == 200 || status == 201, "DM with {other}: {body}");
    body["id"].as_i64().unwrap()
}

fn encode(s: &str) -> String {
    s.bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'.' | b'_' | b'~' => (b as char).to_string(),
            _ => format!("%{b:02X}"),
        })
        .collect()
}

/// `q=<text>`, encoded.
fn q(text: &str) -> String {
    format!("q={}", encode(text))
}

// ---------------------------------------------------------------------------------------------
// Matching

#[tokio::test]
async fn parts_of_words_in_any_case_with_every_word_required() {
    let server = server().await;
    let alice = server.register("alice").await;
    say(
        &server,
        &alice,
        None,
        &[
            "The deployment finished",
            "DEPLOY friday, said the release notes",
            "lunch at noon",
            "Redeployed twice",
        ],
    )
    .await;

    assert_eq!(
        found(&server, &alice, &q("deploy")).await,
        ["Redeployed twice", "DEPLOY friday, said the release notes", "The deployment finished"],
        "a part of a word, in any letter case, newest first"
    );
    assert_eq!(found(&server, &alice, &q("DePlOyMeNt")).await, ["The deployment finished"]);
    // Every word must occur, anywhere and in any order.
    assert_eq!(found(&server, &alice, &q("release deploy")).await, ["DEPLOY friday, said the release notes"]);
    assert_eq!(found(&server, &alice, &q("deploy lunch")).await, Vec::<String>::new());
    assert_eq!(found(&server, &alice, &q("  noon   LUNCH ")).await, ["lunch at noon"]);

    let (_, body) = search(&server, &alice, &q("deploy notes")).await;
    let hit = &body["results"][0];
    assert_eq!(hit["highlight"], "<mark>DEPLOY</mark> friday, said the release <mark>notes</mark>");
    assert_eq!(hit["user"], "alice");
    assert_eq!(hit["room"], 1);
    assert!(hit["id"].is_i64() && hit["timestamp"].is_string(), "{hit}");
    assert_eq!(body["next"], Value::Null);
}

#[tokio::test]
async fn one_and_two_character_words_and_like_wildcards_match_literally() {
    let server = server().await;
    let bob = server.register("bob").await;
    say(
        &server,
        &bob,
        None,
        &["50% off today", "5000 items", "use a_b here", "axb elsewhere", "Ok then", "x"],
    )
    .await;

    // Too short for a trigram index: matched another way, still as parts of words, any case.
    assert_eq!(found(&server, &bob, &q("OK")).await, ["Ok then"]);
    assert_eq!(found(&server, &bob, &q("x")).await, ["x", "axb elsewhere"]);
    // `%` and `_` are characters, not wildcards, short or long.
    assert_eq!(found(&server, &bob, &q("0%")).await, ["50% off today"]);
    assert_eq!(found(&server, &bob, &q("50%")).await, ["50% off today"]);
    assert_eq!(found(&server, &bob, &q("a_b")).await, ["use a_b here"]);
    assert_eq!(found(&server, &bob, &q("_")).await, ["use a_b here"]);
    assert_eq!(found(&server, &bob, &q("\\")).await, Vec::<String>::new());
    // Control characters (a NUL included) separate words.
    assert_eq!(found(&server, &bob, &q("today\u{0}50%")).await, ["50% off today"]);
    // Short and long words together.
    assert_eq!(found(&server, &bob, &q("ay off")).await, ["50% off today"]);
    assert_eq!(found(&server, &bob, &q("tod x")).await, Vec::<String>::new());
}

#[tokio::test]
async fn the_highlight_is_escaped_html() {
    let server = server().await;
    let eve = server.register("eve").await;
    say(&server, &eve, None, &["<script>alert('hi & bye')</script> scripted"]).await;
    let (_, body) = search(&server, &eve, &q("script")).await;
    let hit = &body["results"][0];
    assert_eq!(hit["text"], "<script>alert('hi & bye')</script> scripted", "the text itself is as sent");
    assert_eq!(
        hit["highlight"],
        "&lt;<mark>script</mark>&gt;alert(&#39;hi &amp; bye&#39;)&lt;/<mark>script</mark>&gt; <mark>script</mark>ed"
    );
    // A match inside what escaping adds is no match.
    assert_eq!(found(&server, &eve, &q("amp")).await, Vec::<String>::new());
    let (_, body) = search(&server, &eve, &q("<sc")).await;
    assert_eq!(body["results"][0]["highlight"].as_str().unwrap().matches("<mark>&lt;sc</mark>").count(), 1);
}

// ---------------------------------------------------------------------------------------------
// Order, paging and filters

#[tokio::test]
async fn newest_first_in_pages_linked_by_next() {
    let server = server().await;
    let carol = server.register("carol").await;
    let texts: Vec<String> = (0..25).map(|i| format!("status report {i}")).collect();
    let ids = say(&server, &carol, None, &texts.iter().map(String::as_str).collect::<Vec<_>>()).await;
    say(&server, &carol, None, &["unrelated"]).await;

    let mut seen: Vec<i64> = Vec::new();
    let mut query = format!("{}&limit=10", q("report"));
    let mut pages = 0;
    loop {
        let (status, body) = search(&server, &carol, &query).await;
        assert_eq!(status, 200, "{body}");
        pages += 1;
        let page: Vec<i64> =
            body["results"].as_array().unwrap().iter().map(|r| r["id"].as_i64().unwrap()).collect();
        seen.extend(&page);
        match body["next"].as_i64() {
            Some(next) => {
                assert_eq!(Some(&next), page.last(), "next is the last result's id");
                query = format!("{}&limit=10&before={next}", q("report"));
            }
            None => break,
        }
    }
    assert_eq!(pages, 3);
    let mut newest_first = ids.clone();
    newest_first.reverse();
    assert_eq!(seen, newest_first, "every match once, newest first");

    // The default page is 20; exactly as many matches as the limit has no next page.
    let (_, body) = search(&server, &carol, &q("report")).await;
    assert_eq!(body["results"].as_array().unwrap().len(), 20);
    let (_, body) = search(&server, &carol, &format!("{}&limit=25", q("report"))).await;
    assert_eq!(body["results"].as_array().unwrap().len(), 25);
    assert_eq!(body["next"], Value::Null);
}

#[tokio::test]
async fn room_sender_and_time_filters() {
    let server = server().await;
    let alice = server.register("alice").await;
    let bob = server.register("bob").await;
    let ops = create_room(&server, &alice, "ops", "public").await;
    call(&server, Method::POST, &format!("/rooms/{ops}/join"), &bob, Some(json!({}))).await;
    let a = say(&server, &alice, Some(ops), &["backup one", "backup two"]).await;
    let b = say(&server, &bob, None, &["backup three"]).await;
    let c = say(&server, &bob, Some(ops), &["backup four"]).await;

    assert_eq!(
        found(&server, &bob, &q("backup")).await,
        ["backup four", "backup three", "backup two", "backup one"]
    );
    assert_eq!(
        found(&server, &bob, &format!("{}&room={ops}", q("backup"))).await,
        ["backup four", "backup two", "backup one"]
    );
    assert_eq!(found(&server, &bob, &format!("{}&room=1", q("backup"))).await, ["backup three"]);
    assert_eq!(
        found(&server, &bob, &format!("{}&from=alice", q("backup"))).await,
        ["backup two", "backup one"]
    );
    assert_eq!(found(&server, &bob, &format!("{}&from=bob&room={ops}", q("backup"))).await, ["backup four"]);
    // Ids: exclusive bounds.
    let between = format!("{}&after={}&before={}", q("backup"), a[0], c[0]);
    assert_eq!(found(&server, &bob, &between).await, ["backup three", "backup two"]);
    assert_eq!(
        found(&server, &bob, &format!("{}&before={}", q("backup"), b[0])).await,
        ["backup two", "backup one"]
    );
    // Times: a date (midnight UTC) or RFC 3339.
    assert_eq!(
        found(&server, &bob, &format!("{}&before=2000-01-01", q("backup"))).await,
        Vec::<String>::new()
    );
    assert_eq!(
        found(&server, &bob, &format!("{}&after=2000-01-01&before=2999-01-01", q("backup"))).await.len(),
        4
    );
    let until = format!("{}&before={}", q("backup"), encode("2999-01-01T10:00:00+02:00"));
    assert_eq!(found(&server, &bob, &until).await.len(), 4);
    assert_eq!(
        found(&server, &bob, &format!("{}&after={}", q("backup"), encode("2999-01-01T00:00:00Z")))
            .await
            .len(),
        0
    );
    // A username nobody has is said so.
    let (status, body) = search(&server, &bob, &format!("{}&from=nobody", q("backup"))).await;
    assert_eq!((status, body["detail"].as_str()), (404, Some("No such user")), "{body}");
}

// ---------------------------------------------------------------------------------------------
// Privacy

#[tokio::test]
async fn private_rooms_and_dms_of_others_are_never_found() {
    let server = server().await;
    let alice = server.register("alice").await;
    let bob = server.register("bob").await;
    let mallory = server.register("mallory").await;
    let secret = create_room(&server, &alice, "secret", "private").await;
    add_member(&server, &alice, secret, "bob").await;
    say(&server, &alice, Some(secret), &["the vault code is hidden"]).await;
    let dm = open_dm(&server, &alice, "bob").await;
    say(&server, &bob, Some(dm), &["vault meeting at five"]).await;
    say(&server, &mallory, None, &["where is the vault?"]).await;

    // Members find them.
    assert_eq!(
        found(&server, &bob, &q("vault")).await,
        ["where is the vault?", "vault meeting at five", "the vault code is hidden"]
    );
    assert_eq!(found(&server, &alice, &format!("{}&room={dm}", q("vault"))).await, ["vault meeting at five"]);
    // Others do not, and naming the room answers exactly as a room that does not exist.
    assert_eq!(found(&server, &mallory, &q("vault")).await, ["where is the vault?"]);
    assert_eq!(found(&server, &mallory, &q("hidden")).await, Vec::<String>::new());
    let missing = search(&server, &mallory, &format!("{}&room=999999", q("vault"))).await;
    assert_eq!(missing.0, 404);
    assert_eq!(search(&server, &mallory, &format!("{}&room={secret}", q("vault"))).await, missing);
    assert_eq!(search(&server, &mallory, &format!("{}&room={dm}", q("vault"))).await, missing);
    assert_eq!(search(&server, &mallory, &format!("{}&room={secret}", q("zzzz"))).await, missing);

    // Someone removed from a room no longer finds its messages.
    let (status, _) =
        call(&server, Method::DELETE, &format!("/rooms/{secret}/members/bob"), &alice, None).await;
    assert_eq!(status, 200);
    assert_eq!(found(&server, &bob, &q("vault")).await, ["where is the vault?", "vault meeting at five"]);
    assert_eq!(search(&server, &bob, &format!("{}&room={secret}", q("vault"))).await, missing);
}

#[tokio::test]
async fn admins_also_search_public_rooms_they_are_not_in_but_not_private_ones() {
    let server = server().await;
    let alice = server.register("alice").await;
    let admin = server.register_admin("root").await;
    let plain = server.register("plain").await;
    let open = create_room(&server, &alice, "open", "public").await;
    let closed = create_room(&server, &alice, "closed", "private").await;
    say(&server, &alice, Some(open), &["invoice in the open room"]).await;
    say(&server, &alice, Some(closed), &["invoice in the closed room"]).await;
    let dm = open_dm(&server, &alice, "plain").await;
    say(&server, &alice, Some(dm), &["invoice in a DM"]).await;

    assert_eq!(found(&server, &admin, &q("invoice")).await, ["invoice in the open room"]);
    assert_eq!(
        found(&server, &admin, &format!("{}&room={open}", q("invoice"))).await,
        ["invoice in the open room"]
    );
    assert_eq!(search(&server, &admin, &format!("{}&room={closed}", q("invoice"))).await.0, 404);
    assert_eq!(search(&server, &admin, &format!("{}&room={dm}", q("invoice"))).await.0, 404);
    // Anyone else searches their own conversations only, unless they name a public room.
    assert_eq!(found(&server, &plain, &q("invoice")).await, ["invoice in a DM"]);
    assert_eq!(
        found(&server, &plain, &format!("{}&room={open}", q("invoice"))).await,
        ["invoice in the open room"]
    );
}

// ---------------------------------------------------------------------------------------------
// Edits and deletions

#[tokio::test]
async fn an_edited_message_is_found_by_its_new_text_only() {
    let server = server().await;
    let alice = server.register("alice").await;
    let id = say(&server, &alice, None, &["meet at the harbour"]).await[0];
    let (status, body) = call(
        &server,
        Method::PATCH,
        &format!("/messages/{id}"),
        &alice,
        Some(json!({ "text": "meet at the station" })),
    )
    .await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(found(&server, &alice, &q("harbour")).await, Vec::<String>::new());
    assert_eq!(found(&server, &alice, &q("station")).await, ["meet at the station"]);
    assert_eq!(found(&server, &alice, &q("meet")).await, ["meet at the station"]);
}

#[tokio::test]
async fn a_deleted_message_is_not_found() {
    let server = server().await;
    let alice = server.register("alice").await;
    let ids = say(&server, &alice, None, &["password is hunter2", "password rules"]).await;
    let (status, body) = call(&server, Method::DELETE, &format!("/messages/{}", ids[0]), &alice, None).await;
    assert!(status == 200 || status == 204, "{status} {body}");
    assert_eq!(found(&server, &alice, &q("password")).await, ["password rules"]);
    assert_eq!(found(&server, &alice, &q("hunter2")).await, Vec::<String>::new());
    assert_eq!(found(&server, &alice, &q("e")).await, ["password rules"], "the short-word path too");
}

// ---------------------------------------------------------------------------------------------
// Bad requests

#[tokio::test]
async fn bad_queries_are_400_with_a_reason_and_no_token_is_401() {
    let server = server().await;
    let alice = server.register("alice").await;
    let long = "x".repeat(201);
    for (query, says) in [
        ("", "q must contain"),
        ("q=", "q must contain"),
        ("q=%20%20", "q must contain"),
        ("q=%00%1B", "q must contain"),
        (&q(&long) as &str, "at most 200"),
        ("q=hello&limit=0", "limit"),
        ("q=hello&limit=101", "limit"),
        ("q=hello&limit=-3", "limit"),
        ("q=hello&limit=ten", "limit"),
        ("q=hello&before=yesterday", "before"),
        ("q=hello&after=2026-13-45", "after"),
        ("q=hello&before=99999999999999999999999", "before"),
        ("q=hello&room=general", "room"),
    ] {
        let (status, body) = search(&server, &alice, query).await;
        assert_eq!(status, 400, "{query}: {body}");
        let detail = body["detail"].as_str().unwrap();
        assert!(detail.contains(says), "{query}: {detail}");
    }
    assert_eq!(found(&server, &alice, &q(&"x".repeat(200))).await, Vec::<String>::new());
    let resp = server.get("/search?q=hello", None).await;
    assert_eq!(resp.status(), 401);
    let resp = server.post("/search?q=hello", Some(&alice.token), None).await;
    assert_eq!(resp.status(), 405);
}

// ---------------------------------------------------------------------------------------------
// Messages from before search

mod before_search {
    refinery::embed_migrations!("sql/sqlite");
}

#[tokio::test]
async fn messages_written_before_the_search_version_are_found() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("old.db");
    {
        let mut conn = rusqlite::Connection::open(&path).unwrap();
        before_search::migrations::runner().set_target(refinery::Target::Version(6)).run(&mut conn).unwrap();
        conn.execute_batch(
            "INSERT INTO users (username, email, password_hash, created_at) \
               VALUES ('old', 'old@example.com', 'x', '2026-01-01T10:00:00.000Z'); \
             INSERT INTO messages (sender_id, content, timestamp, room_id) VALUES \
               (1, 'an archived deployment note', '2026-02-01T10:00:00.000Z', 1), \
               (1, 'lunch', '2026-02-01T10:01:00.000Z', 1); \
             UPDATE log_counter SET next = (SELECT MAX(id) FROM messages) + 1;",
        )
        .unwrap();
    }
    let server = common::start_with(common::Options { db: Some(path), ..Default::default() }).await;
    let reader = server.register("reader").await;
    assert_eq!(found(&server, &reader, &q("deploy")).await, ["an archived deployment note"]);
    say(&server, &reader, None, &["a new deployment"]).await;
    assert_eq!(
        found(&server, &reader, &q("deploy")).await,
        ["a new deployment", "an archived deployment note"]
    );
}

// The same tests with their servers on PostgreSQL (`common::postgres_too`).
common::postgres_too!(
    parts_of_words_in_any_case_with_every_word_required,
    one_and_two_character_words_and_like_wildcards_match_literally,
    the_highlight_is_escaped_html,
    newest_first_in_pages_linked_by_next,
    room_sender_and_time_filters,
    private_rooms_and_dms_of_others_are_never_found,
    admins_also_search_public_rooms_they_are_not_in_but_not_private_ones,
    an_edited_message_is_found_by_its_new_text_only,
    a_deleted_message_is_not_found,
    bad_queries_are_400_with_a_reason_and_no_token_is_401,
    ;
    sqlite_only:
    messages_written_before_the_search_version_are_found,
);
