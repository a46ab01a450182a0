//! The operator's room commands end to end: `chatterbox room ...` run as the real binary against a
//! temporary database (exit code, stdout, stderr, and what the database then holds), the export's
//! `room` column and `--room` filter, and a running daemon picking up what the CLI changed: a
//! member removed from a private room stops getting it, a member added gets it, an archived room
//! refuses posts.

mod common;

use std::{path::Path, process::Command, time::Duration};

use chatterbox::{
    chat::{
        accounts::{self, NewAccount},
        rooms,
    },
    store::{NewMessage, Room, SqliteStore, Store, User, GENERAL_ROOM},
};
use common::{Next, TestServer, WsClient};
use serde_json::{json, Value};

/// How long the daemon may take to notice a change written by another process (its log poll is
/// 250 ms): the promise to operators.
const NOTICED_WITHIN: Duration = Duration::from_secs(1);

// ---------------------------------------------------------------------------------------------
// Running the binary

struct Ran {
    code: Option<i32>,
    stdout: String,
    stderr: String,
}

/// Runs `chatterbox --db DB ARGS...` with no stdin and no environment leaking in.
fn cli(db: &Path, args: &[&str]) -> Ran {
    let out = Command::new(env!("CARGO_BIN_EXE_chatterbox"))
        .env_remove("CHATTERBOX_DB")
        .env_remove("RUST_LOG")
        .arg("--db")
        .arg(db)
        .args(args)
        .stdin(std::process::Stdio::null())
        .output()
        .expect("run chatterbox");
    Ran {
        code: out.status.code(),
        stdout: String::from_utf8(out.stdout).expect("UTF-8 stdout"),
        stderr: String::from_utf8(out.stderr).expect("UTF-8 stderr"),
    }
}

/// Exit 0 and nothing on stderr; returns stdout.
fn ok(db: &Path, args: &[&str]) -> String {
    let ran = cli(db, args);
    assert_eq!(ran.code, Some(0), "{args:?}\n{}{}", ran.stdout, ran.stderr);
    assert_eq!(ran.stderr, "", "{args:?}");
    ran.stdout
}

/// Exit 1, nothing on stdout and one `chatterbox: error:` line; returns that line.
fn fails(db: &Path, args: &[&str]) -> String {
    let ran = cli(db, args);
    assert_eq!(ran.code, Some(1), "{args:?}\n{}{}", ran.stdout, ran.stderr);
    assert_eq!(ran.stdout, "", "{args:?}");
    let lines: Vec<&str> = ran.stderr.lines().collect();
    assert_eq!(lines.len(), 1, "{args:?}: {}", ran.stderr);
    assert!(lines[0].starts_with("chatterbox: error: "), "{args:?}: {}", ran.stderr);
    for bad in ["panicked", "Error {", "Some(", "RUST_BACKTRACE"] {
        assert!(!lines[0].contains(bad), "{args:?}: {}", ran.stderr);
    }
    lines[0].to_string()
}

/// The CLI from a test running a server (its blocking wait off the reactor).
async fn cli_async(db: &Path, args: &[&str]) -> String {
    let db = db.to_path_buf();
    let args: Vec<String> = args.iter().map(|a| a.to_string()).collect();
    tokio::task::spawn_blocking(move || ok(&db, &args.iter().map(String::as_str).collect::<Vec<_>>()))
        .await
        .unwrap()
}

// ---------------------------------------------------------------------------------------------
// A database with people, through the library (no SQL)

struct Db {
    _dir: tempfile::TempDir,
    path: std::path::PathBuf,
    store: SqliteStore,
}

impl Db {
    fn new() -> Db {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("chatterbox.db");
        let (store, _) = SqliteStore::open_and_migrate(&path).unwrap();
        Db { _dir: dir, path, store }
    }

    fn user(&self, name: &str) -> User {
        let email = format!("{name}@example.com");
        let new = NewAccount { username: name, email: &email, password: "correct horse", is_admin: false };
        accounts::create_account(&self.store, &new, 4).unwrap()
    }

    fn room(&self, name: &str) -> Room {
        rooms::room_by_name(&self.store, name).unwrap()
    }

    fn post(&self, room: i64, user: &User, text: &str) -> i64 {
        let msg = NewMessage {
            room_id: room,
            sender_id: user.id,
            username: user.username.clone(),
            content: text.to_string(),
            mention_candidates: Vec::new(),
            reply_to: None,
        };
        let out = self.store.insert_messages(&[msg], "2026-11-26T12:00:00.000Z").unwrap();
        out.into_iter().next().unwrap().expect("a member may post").id
    }

    fn list_json(&self) -> Vec<Value> {
        serde_json::from_str::<Value>(&ok(&self.path, &["room", "list", "--format", "json"]))
            .expect("room list --format json is JSON")
            .as_array()
            .expect("an array")
            .clone()
    }
}

// =============================================================================================
// room create / list

#[test]
fn room_list_shows_public_and_private_rooms_in_every_format_but_no_dms() {
    let db = Db::new();
    let (alice, bob) = (db.user("alice"), db.user("bob"));
    assert_eq!(
        ok(&db.path, &["room", "create", "Lobby", "--topic", "Say hi"]),
        "created public room Lobby (id 2)\n"
    );
    assert_eq!(
        ok(&db.path, &["room", "create", " Secret ", "--private"]),
        "created private room Secret (id 3)\n"
    );
    let lobby = db.room("lobby");
    rooms::join(&db.store, &alice, lobby.id).unwrap();
    db.post(lobby.id, &alice, "first");
    db.post(lobby.id, &alice, "second");
    let dm = rooms::open_dm(&db.store, &alice, &["bob".to_string()]).unwrap();
    db.post(dm.id, &bob, "psst");

    let rows = db.list_json();
    assert_eq!(rows.len(), 3, "general, Lobby and Secret, not the DM: {rows:?}");
    let by_name = |n: &str| rows.iter().find(|r| r["name"] == n).unwrap_or_else(|| panic!("{n}: {rows:?}"));
    let l = by_name("Lobby");
    assert_eq!(
        (&l["id"], &l["kind"], &l["topic"], &l["members"], &l["messages"], &l["archived"]),
        (&json!(lobby.id), &json!("public"), &json!("Say hi"), &json!(1), &json!(2), &json!(false))
    );
    assert_eq!(l["last_activity"], "2026-11-26T12:00:00.000Z");
    let s = by_name("Secret");
    assert_eq!((&s["kind"], &s["members"], &s["messages"]), (&json!("private"), &json!(0), &json!(0)));
    assert_eq!(s["last_activity"], Value::Null, "no message yet");
    assert_eq!(by_name("general")["members"], 2);

    let csv = ok(&db.path, &["room", "list", "--format", "csv"]);
    let mut reader = csv::Reader::from_reader(csv.as_bytes());
    let header: Vec<String> = reader.headers().unwrap().iter().map(String::from).collect();
    assert_eq!(header, ["id", "name", "kind", "topic", "members", "messages", "last_activity", "archived"]);
    let records: Vec<Vec<String>> =
        reader.records().map(|r| r.unwrap().iter().map(String::from).collect()).collect();
    assert_eq!(records.len(), 3, "{csv}");
    assert!(
        records.contains(
            &["2", "Lobby", "public", "Say hi", "1", "2", "2026-11-26T12:00:00.000Z", "no"]
                .map(String::from)
                .to_vec()
        ),
        "{csv}"
    );
    assert!(
        records.contains(&["3", "Secret", "private", "", "0", "0", "", "no"].map(String::from).to_vec()),
        "{csv}"
    );

    let table = ok(&db.path, &["room", "list"]);
    for cell in ["Name", "Last activity", "general", "Lobby", "Secret", "private", "2026-11-26T12:00:00.000Z"]
    {
        assert!(table.contains(cell), "{cell:?} missing:\n{table}");
    }
    assert!(!table.contains("dm") && !table.contains("bob"), "a DM is listed:\n{table}");
}

#[test]
fn room_list_never_lets_a_room_name_drive_the_terminal() {
    let db = Db::new();
    // A bidirectional override is not a control character, so it is a valid name.
    ok(&db.path, &["room", "create", "\u{202e}txt.exe"]);
    let table = ok(&db.path, &["room", "list"]);
    assert!(table.contains("\\u{202e}txt.exe") && !table.contains('\u{202e}'), "{table}");
    let json = ok(&db.path, &["room", "list", "--format", "json"]);
    assert!(json.contains("\\u202etxt.exe") && !json.contains('\u{202e}'), "{json}");
    assert!(db.list_json().iter().any(|r| r["name"] == "\u{202e}txt.exe"), "JSON keeps the same value");
}

#[test]
fn room_create_refuses_taken_and_invalid_names_and_creates_nothing() {
    let db = Db::new();
    ok(&db.path, &["room", "create", "Lobby"]);
    let err = fails(&db.path, &["room", "create", "LOBBY"]);
    assert!(err.contains("\"LOBBY\"") && err.contains("already exists"), "{err}");
    let err = fails(&db.path, &["room", "create", "general"]);
    assert!(err.contains("already exists"), "{err}");
    for (name, why) in [("", "needs a name"), ("   ", "needs a name"), ("a\u{7}b", "control characters")] {
        let err = fails(&db.path, &["room", "create", name]);
        assert!(err.contains(why), "{name:?}: {err}");
    }
    let err = fails(&db.path, &["room", "create", &"x".repeat(41)]);
    assert!(err.contains("at most 40 characters"), "{err}");
    ok(&db.path, &["room", "create", &"y".repeat(40)]);
    let err = fails(&db.path, &["room", "create", "Topical", "--topic", &"t".repeat(201)]);
    assert!(err.contains("at most 200 characters"), "{err}");
    let names: Vec<Value> = db.list_json().into_iter().map(|r| r["name"].clone()).collect();
    assert_eq!(names, [json!("general"), json!("Lobby"), json!("y".repeat(40))]);

    // A private room may share a name (a refusal would reveal private rooms to whoever tries
    // names); commands then want the room's id.
    ok(&db.path, &["room", "create", "LOBBY", "--private"]);
    let err = fails(&db.path, &["room", "archive", "lobby"]);
    assert!(err.contains("2 rooms are named") && err.contains('#'), "{err}");
    let id = db.list_json().into_iter().find(|r| r["kind"] == "private").unwrap()["id"].clone();
    ok(&db.path, &["room", "archive", &format!("#{id}")]);
}

// =============================================================================================
// room archive

#[test]
fn room_archive_and_undo_are_idempotent_and_name_an_unknown_room() {
    let db = Db::new();
    let alice = db.user("alice");
    ok(&db.path, &["room", "create", "Lobby"]);
    let lobby = db.room("Lobby");
    rooms::join(&db.store, &alice, lobby.id).unwrap();

    assert_eq!(ok(&db.path, &["room", "archive", "lobby"]), "archived Lobby\n");
    assert_eq!(ok(&db.path, &["room", "archive", "Lobby"]), "Lobby was already archived; nothing changed\n");
    assert_eq!(db.list_json().iter().find(|r| r["name"] == "Lobby").unwrap()["archived"], true);
    let refused = db.store.insert_messages(
        &[NewMessage {
            room_id: lobby.id,
            sender_id: alice.id,
            username: "alice".into(),
            content: "anyone?".into(),
            mention_candidates: Vec::new(),
            reply_to: None,
        }],
        "2026-11-26T12:00:00.000Z",
    );
    assert!(refused.unwrap()[0].is_err(), "an archived room takes no message");

    assert_eq!(ok(&db.path, &["room", "archive", "Lobby", "--undo"]), "Lobby is open again\n");
    assert_eq!(
        ok(&db.path, &["room", "archive", "Lobby", "--undo"]),
        "Lobby was not archived; nothing changed\n"
    );
    db.post(lobby.id, &alice, "back");

    let err = fails(&db.path, &["room", "archive", "Nowhere"]);
    assert!(err.contains("no room named \"Nowhere\""), "{err}");
}

// =============================================================================================
// room add-member / remove-member

#[test]
fn room_members_are_added_and_removed_by_name_with_clear_errors() {
    let db = Db::new();
    let (alice, _bob) = (db.user("alice"), db.user("bob"));
    ok(&db.path, &["room", "create", "Secret", "--private"]);
    ok(&db.path, &["room", "create", "Lobby"]);
    let secret = db.room("Secret");

    assert_eq!(ok(&db.path, &["room", "add-member", "secret", "alice"]), "added alice to Secret\n");
    assert!(db.store.is_member(secret.id, alice.id).unwrap());
    assert_eq!(
        ok(&db.path, &["room", "add-member", "Secret", "alice"]),
        "alice was already a member of Secret; nothing changed\n"
    );
    ok(&db.path, &["room", "add-member", "Secret", "bob"]);
    assert_eq!(db.list_json().iter().find(|r| r["name"] == "Secret").unwrap()["members"], 2);

    let err = fails(&db.path, &["room", "add-member", "Secret", "zed"]);
    assert!(err.contains("no user named \"zed\""), "{err}");
    let err = fails(&db.path, &["room", "add-member", "Nowhere", "alice"]);
    assert!(err.contains("no room named \"Nowhere\""), "{err}");
    let err = fails(&db.path, &["room", "add-member", "Lobby", "alice"]);
    assert!(err.contains("public room"), "{err}");

    assert_eq!(ok(&db.path, &["room", "remove-member", "Secret", "alice"]), "removed alice from Secret\n");
    assert!(!db.store.is_member(secret.id, alice.id).unwrap());
    assert_eq!(
        ok(&db.path, &["room", "remove-member", "Secret", "alice"]),
        "alice was not a member of Secret; nothing changed\n"
    );
    let err = fails(&db.path, &["room", "remove-member", "Secret", "zed"]);
    assert!(err.contains("no user named \"zed\""), "{err}");
    let err = fails(&db.path, &["room", "remove-member", "Nowhere", "bob"]);
    assert!(err.contains("no room named \"Nowhere\""), "{err}");
    let err = fails(&db.path, &["room", "remove-member", "general", "alice"]);
    assert!(err.contains("private rooms"), "{err}");
    assert!(db.store.is_member(GENERAL_ROOM, alice.id).unwrap(), "nobody is removed from a public room");
}

// =============================================================================================
// messages export: the room column and --room

#[test]
fn messages_export_names_each_message_room_and_filters_by_room() {
    let db = Db::new();
    let (alice, bob) = (db.user("alice"), db.user("bob"));
    ok(&db.path, &["room", "create", "Lobby"]);
    let lobby = db.room("Lobby");
    rooms::join(&db.store, &bob, lobby.id).unwrap();
    let dm = rooms::open_dm(&db.store, &bob, &["alice".to_string()]).unwrap();
    let ids = [
        db.post(GENERAL_ROOM, &alice, "in general"),
        db.post(lobby.id, &bob, "in the lobby"),
        db.post(dm.id, &alice, "just us"),
        db.post(lobby.id, &bob, "lobby again"),
    ];

    let rows = |args: &[&str]| -> Vec<(i64, String, String)> {
        let out = ok(&db.path, args);
        let mut reader = csv::Reader::from_reader(out.as_bytes());
        let header = reader.headers().unwrap().clone();
        assert_eq!(header.len(), 7, "{out}");
        assert_eq!(&header[5], "room", "the room follows the timestamp: {out}");
        reader
            .records()
            .map(|r| {
                let r = r.unwrap();
                (r[0].parse().unwrap(), r[3].to_string(), r[5].to_string())
            })
            .collect()
    };
    assert_eq!(
        rows(&["messages", "export", "--csv"]),
        [
            (ids[0], "in general".into(), "general".into()),
            (ids[1], "in the lobby".into(), "Lobby".into()),
            (ids[2], "just us".into(), "dm:alice+bob".into()),
            (ids[3], "lobby again".into(), "Lobby".into()),
        ]
    );
    assert_eq!(
        rows(&["messages", "export", "--csv", "--room", "LOBBY"]),
        [(ids[1], "in the lobby".into(), "Lobby".into()), (ids[3], "lobby again".into(), "Lobby".into())]
    );
    assert_eq!(
        rows(&["messages", "export", "--room", "general"]),
        [(ids[0], "in general".into(), "general".into())]
    );
    let err = fails(&db.path, &["messages", "export", "--room", "Nowhere"]);
    assert!(err.contains("no room named \"Nowhere\""), "{err}");
}

// =============================================================================================
// The running daemon sees what the CLI changed

/// The next frame of type `kind`, skipping others; None if none came within `NOTICED_WITHIN`.
async fn frame_within(client: &mut WsClient, kind: &str) -> Option<Value> {
    let deadline = tokio::time::Instant::now() + NOTICED_WITHIN;
    loop {
        let left = deadline.saturating_duration_since(tokio::time::Instant::now());
        match client.next_within(left).await? {
            Next::Json(v) if v["type"] == kind => return Some(v),
            Next::Json(_) => continue,
            Next::Closed(code, reason) => panic!("socket closed ({code:?} {reason}) waiting for {kind}"),
        }
    }
}

/// Posts into `room` and waits for the echo (or panics on an error frame).
async fn post(client: &mut WsClient, room: i64, text: &str) -> Value {
    client.send_json(json!({ "type": "message", "room": room, "text": text })).await;
    loop {
        let v = client.next_json().await.expect("an answer to a post");
        match v["type"].as_str() {
            Some("message") if v["text"] == text => return v,
            Some("error" | "warning") => panic!("{text:?} refused: {v}"),
            _ => {}
        }
    }
}

async fn room_id(server: &TestServer, name: &str) -> i64 {
    let store = std::sync::Arc::clone(server.chat.store());
    let name = name.to_string();
    tokio::task::spawn_blocking(move || rooms::room_by_name(&*store, &name).unwrap().id).await.unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_daemon_applies_member_changes_made_by_the_cli_within_a_second() {
    let server = common::start().await;
    let alice = server.register("alice").await;
    let bob = server.register("bob").await;
    cli_async(&server.db, &["room", "create", "Secret", "--private"]).await;
    let secret = room_id(&server, "Secret").await;
    let (mut a, _) = server.connect(&alice.token, None).await;
    let (mut b, _) = server.connect(&bob.token, None).await;
    assert!(!a.rooms.to_string().contains("Secret"), "not a member yet: {}", a.rooms);

    // Added: the room arrives on the open socket.
    cli_async(&server.db, &["room", "add-member", "Secret", "alice"]).await;
    let frame = frame_within(&mut a, "room").await.expect("a room frame within a second of add-member");
    assert_eq!((&frame["room"]["id"], &frame["room"]["name"]), (&json!(secret), &json!("Secret")), "{frame}");
    cli_async(&server.db, &["room", "add-member", "Secret", "bob"]).await;
    frame_within(&mut b, "room").await.expect("bob's room frame");
    post(&mut a, secret, "welcome bob").await;
    assert_eq!(b.next_message().await.unwrap()["text"], "welcome bob");

    // Removed: room_removed, then nothing more of the room, although alice posts at once.
    cli_async(&server.db, &["room", "remove-member", "Secret", "bob"]).await;
    let frame = frame_within(&mut b, "room_removed").await.expect("room_removed within a second");
    assert_eq!(frame, json!({ "type": "room_removed", "room": secret }));
    post(&mut a, secret, "bob is gone").await;
    post(&mut a, GENERAL_ROOM, "marker in general").await;
    loop {
        let m = b.next_message().await.expect("bob's socket stays open");
        assert_ne!(m["room"], secret, "a removed member got {m}");
        if m["text"] == "marker in general" {
            break;
        }
    }
    // And bob cannot post there any more.
    b.send_json(json!({ "type": "message", "room": secret, "text": "still here?" })).await;
    frame_within(&mut b, "error").await.expect("an error frame for a removed member's post");
    server.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_room_archived_by_the_cli_refuses_posts_until_undone() {
    let server = common::start().await;
    let alice = server.register("alice").await;
    cli_async(&server.db, &["room", "create", "Lobby"]).await;
    let lobby = room_id(&server, "Lobby").await;
    let resp = server.post(&format!("/rooms/{lobby}/join"), Some(&alice.token), None).await;
    assert_eq!(resp.status(), 200);
    let (mut a, _) = server.connect(&alice.token, None).await;
    post(&mut a, lobby, "before").await;

    cli_async(&server.db, &["room", "archive", "Lobby"]).await;
    let frame = frame_within(&mut a, "room").await.expect("a room frame within a second of archive");
    assert_eq!((&frame["room"]["id"], &frame["room"]["archived"]), (&json!(lobby), &json!(true)), "{frame}");
    a.send_json(json!({ "type": "message", "room": lobby, "text": "during" })).await;
    let err = frame_within(&mut a, "error").await.expect("an error frame");
    assert!(err["detail"].as_str().unwrap().contains("archived"), "{err}");

    cli_async(&server.db, &["room", "archive", "Lobby", "--undo"]).await;
    let frame = frame_within(&mut a, "room").await.expect("a room frame within a second of --undo");
    assert_eq!(frame["room"]["archived"], false, "{frame}");
    post(&mut a, lobby, "after").await;
    let history: Value =
        server.get(&format!("/rooms/{lobby}/messages"), Some(&alice.token)).await.json().await.unwrap();
    let texts: Vec<&Value> = history.as_array().unwrap().iter().map(|m| &m["text"]).collect();
    assert_eq!(texts, [&json!("before"), &json!("after")], "the refused post was not stored");
    server.stop().await;
}
