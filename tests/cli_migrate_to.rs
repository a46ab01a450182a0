//! `chatterbox migrate-to`: a SQLite installation moved into PostgreSQL by the real binary, then
//! served from PostgreSQL by a real server as it was from SQLite (same ids, same sign-ins, the
//! log continuing after the copied positions); the copy is one snapshot of a source still being
//! written; a target holding data is refused untouched; and the source/target argument rules.
//! The PostgreSQL halves are skipped with CHATTERBOX_SKIP_POSTGRES=1, like every PostgreSQL test.

mod common;

use std::process::Output;

use common::{
    cli::{chatterbox, describe, run},
    Account, Options, TestServer,
};
use serde_json::{json, Value};

/// `chatterbox --db DB --database-url URL migrate-to ARGS...`
fn migrate_to(db: &std::path::Path, url: &str, args: &[&str]) -> Output {
    let mut cmd = chatterbox();
    cmd.arg("--db").arg(db).args(["--database-url", url, "migrate-to"]).args(args);
    run(cmd, None)
}

fn failure(out: &Output) -> String {
    assert_eq!(out.status.code(), Some(1), "{}", describe(out));
    let err = String::from_utf8(out.stderr.clone()).unwrap();
    let last = err.lines().last().unwrap_or_default().to_string();
    assert!(last.starts_with("chatterbox: error: "), "{}", describe(out));
    assert!(!err.contains("panicked"), "{}", describe(out));
    last
}

async fn pg_database() -> Option<String> {
    tokio::task::spawn_blocking(common::pg::database).await.unwrap()
}

async fn get_json(server: &TestServer, path: &str, who: &Account) -> Value {
    let resp = server.get(path, Some(&who.token)).await;
    assert_eq!(resp.status(), 200, "GET {path} as {}", who.username);
    resp.json().await.unwrap()
}

async fn post_json(server: &TestServer, path: &str, who: &Account, body: Value) -> Value {
    let resp = server.post(path, Some(&who.token), Some(body)).await;
    let status = resp.status();
    let body: Value = resp.json().await.unwrap_or(Value::Null);
    assert!(status.is_success(), "POST {path} as {}: {status} {body}", who.username);
    body
}

async fn login(server: &TestServer, username: &str) -> u16 {
    let body = json!({ "username": username, "password": common::PASSWORD });
    server.post("/login", None, Some(body)).await.status().as_u16()
}

/// The message ids a resuming client receives after `since`, in order.
async fn resumed_ids(server: &TestServer, who: &Account, since: i64) -> Vec<i64> {
    let (_client, history) = server.connect(&who.token, Some(since)).await;
    history.iter().filter(|f| f["type"] == "message").map(|f| f["id"].as_i64().unwrap()).collect()
}

/// What a user sees of the installation, read through the API: compared before and after.
async fn view(server: &TestServer, who: &Account, rooms: &[i64]) -> Vec<Value> {
    let mut out = vec![get_json(server, "/rooms", who).await];
    for room in rooms {
        out.push(get_json(server, &format!("/rooms/{room}/messages?limit=200"), who).await);
    }
    out
}

#[tokio::test]
async fn a_populated_installation_moves_to_postgres_and_is_served_the_same() {
    let Some(url) = pg_database().await else { return };
    let mut sqlite = common::start_with(Options { postgres: false, ..common::unthrottled() }).await;
    let alice = sqlite.register_admin("alice").await;
    let bob = sqlite.register("bob").await;
    let carol = sqlite.register("carol").await;
    let dave = sqlite.register("dave").await;

    let lobby =
        post_json(&sqlite, "/rooms", &alice, json!({ "name": "lobby", "visibility": "public" })).await;
    let lobby = lobby["id"].as_i64().unwrap();
    post_json(&sqlite, &format!("/rooms/{lobby}/join"), &bob, json!({})).await;
    let secret = post_json(
        &sqlite,
        "/rooms",
        &alice,
        json!({ "name": "secret", "visibility": "private", "topic": "shh" }),
    )
    .await;
    let secret = secret["id"].as_i64().unwrap();
    post_json(&sqlite, &format!("/rooms/{secret}/members"), &alice, json!({ "username": "bob" })).await;
    let dm = post_json(&sqlite, "/dms", &alice, json!({ "usernames": ["bob"] })).await;
    let dm = dm["id"].as_i64().unwrap();

    let (mut a, _) = sqlite.connect(&alice.token, None).await;
    let mut sent = Vec::new();
    for (room, text) in [
        (1, "hello everyone"),
        (lobby, "welcome to the lobby"),
        (secret, "@bob look at this"),
        (dm, "psst @bob"),
        (secret, "second secret"),
        (1, "general again"),
    ] {
        a.send_json(json!({ "type": "message", "room": room, "text": text })).await;
        loop {
            let v = a.next_json().await.unwrap();
            assert_ne!(v["type"], "error", "{text}: {v}");
            if v["type"] == "message" && v["text"] == text {
                sent.push(v);
                break;
            }
        }
    }
    assert_eq!(sent[2]["mentions"], json!(["bob"]));
    // Bob read the secret room up to its mention, and hears only mentions in the lobby.
    post_json(&sqlite, &format!("/rooms/{secret}/read"), &bob, json!({ "message_id": sent[2]["id"] })).await;
    let resp = sqlite
        .http
        .put(sqlite.url(&format!("/rooms/{lobby}/notify")))
        .bearer_auth(&bob.token)
        .json(&json!({ "level": "mentions" }))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 200);
    // A moderation violation (a warning) and an operator's block.
    let (mut d, _) = sqlite.connect(&dave.token, None).await;
    d.send_text("you idiot").await;
    loop {
        if d.next_json().await.unwrap()["type"] == "warning" {
            break;
        }
    }
    post_json(&sqlite, &format!("/admin/users/{}/block", carol.id), &alice, json!({ "reason": "spam" }))
        .await;

    let rooms = [1, lobby, secret, dm];
    let bob_before = view(&sqlite, &bob, &rooms).await;
    let alice_before = view(&sqlite, &alice, &rooms).await;
    let violations_before = get_json(&sqlite, "/admin/violations", &alice).await;
    let users_before = get_json(&sqlite, "/admin/users", &alice).await;
    let since = sent[0]["id"].as_i64().unwrap();
    let resumed_before = resumed_ids(&sqlite, &bob, since).await;
    assert_eq!(resumed_before.len(), 5, "{resumed_before:?}");
    drop((a, d));
    let _dir = sqlite.keep_dir();
    sqlite.shutdown().await;

    let out = migrate_to(&sqlite.db, &url, &["--format", "json"]);
    assert_eq!(out.status.code(), Some(0), "{}", describe(&out));
    let report: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(report["verified"], true, "{report}");
    let rows = |table: &str| {
        report["tables"].as_array().unwrap().iter().find(|t| t["table"] == table).unwrap()["target"]["rows"]
            .as_i64()
            .unwrap()
    };
    assert_eq!(rows("users"), 4);
    assert_eq!(rows("messages"), 6);
    assert_eq!(rows("rooms"), 4);
    assert_eq!(rows("violations"), 3, "the warning, the block and the seeding of the term list");
    assert_eq!(rows("moderation_terms"), chatterbox::chat::moderation::DEFAULT_TERMS.len() as i64);
    assert!(rows("settings") >= 1, "the token-signing secret");
    assert!(String::from_utf8_lossy(&out.stderr).contains("verified"), "{}", describe(&out));

    let pg = common::start_with(Options { database_url: Some(url.clone()), ..common::unthrottled() }).await;
    // The same conversations, messages (ids, mentions, times), read markers and levels; the old
    // sign-ins still valid (the secret moved too).
    assert_eq!(view(&pg, &bob, &rooms).await, bob_before);
    assert_eq!(view(&pg, &alice, &rooms).await, alice_before);
    assert_eq!(get_json(&pg, "/admin/violations", &alice).await, violations_before);
    assert_eq!(get_json(&pg, "/admin/users", &alice).await, users_before);
    assert_eq!(resumed_ids(&pg, &bob, since).await, resumed_before);
    // Passwords carried over; the blocked account stays blocked.
    assert_eq!(login(&pg, "bob").await, 200);
    assert_ne!(login(&pg, "carol").await, 200);
    // The log continues after the copied positions.
    let next = report["source_log_next"].as_i64().unwrap();
    let (mut b, _) = pg.connect(&bob.token, None).await;
    let echo = b.send_acked("first on postgres").await;
    assert_eq!(echo["id"].as_i64().unwrap(), next, "{echo}");
    let (mut b2, _) = pg.connect(&bob.token, None).await;
    b2.send_json(json!({ "type": "message", "room": dm, "text": "and one more" })).await;
    let more = loop {
        let v = b2.next_json().await.unwrap();
        if v["type"] == "message" && v["text"] == "and one more" {
            break v;
        }
    };
    assert_eq!(more["id"].as_i64().unwrap(), next + 1);
    let mut expected = resumed_before.clone();
    expected.extend([next, next + 1]);
    assert_eq!(resumed_ids(&pg, &bob, since).await, expected);
    // New accounts and rooms get fresh ids after the copied ones.
    let erin = pg.register("erin").await;
    assert_eq!(erin.id, dave.id + 1);
    let room = post_json(&pg, "/rooms", &erin, json!({ "name": "fresh", "visibility": "public" })).await;
    assert_eq!(room["id"].as_i64().unwrap(), dm + 1);
    pg.stop().await;
}

#[test]
fn a_target_holding_data_is_refused_and_left_alone() {
    let Some(url) = common::pg::database() else { return };
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("chat.db");
    let create = |name: &str, db_args: &[&std::ffi::OsStr]| {
        let mut cmd = chatterbox();
        cmd.args(db_args).args(["user", "create", name, "--email"]).arg(format!("{name}@example.com"));
        cmd.args(["--password-stdin", "--bcrypt-cost", "4"]);
        let out = run(cmd, Some("correct horse\n"));
        assert_eq!(out.status.code(), Some(0), "{}", describe(&out));
    };
    create("alice", &["--db".as_ref(), db.as_os_str()]);

    let first = migrate_to(&db, &url, &[]);
    assert_eq!(first.status.code(), Some(0), "{}", describe(&first));
    let table = String::from_utf8_lossy(&first.stdout);
    assert!(table.contains("users") && table.contains("messages") && table.contains("yes"), "{table}");

    // Run again: the target has alice now.
    create("bob", &["--db".as_ref(), db.as_os_str()]);
    let err = failure(&migrate_to(&db, &url, &[]));
    assert!(
        err.contains("not empty") && err.contains("users: 1") && err.contains("nothing was written"),
        "{err}"
    );
    let list =
        chatterbox().args(["--database-url", &url, "user", "list", "--format", "csv"]).output().unwrap();
    let list = String::from_utf8(list.stdout).unwrap();
    assert!(list.contains("alice") && !list.contains("bob"), "{list}");

    // A database another installation already uses is not empty either.
    let Some(other) = common::pg::database() else { return };
    create("zed", &["--database-url".as_ref(), other.as_ref()]);
    let err = failure(&migrate_to(&db, &other, &[]));
    assert!(err.contains("not empty"), "{err}");
    // So is one a daemon started on and left without accounts: its signing secret is stored.
    let Some(third) = common::pg::database() else { return };
    let (store, _) = chatterbox::store::PgStore::open_and_migrate(&third).unwrap();
    chatterbox::store::Store::setting_or_insert(&store, "jwt_secret", "0123456789abcdef").unwrap();
    drop(store);
    let err = failure(&migrate_to(&db, &third, &[]));
    assert!(err.contains("not empty (settings: 1)"), "{err}");
}

#[test]
fn the_source_must_be_an_existing_sqlite_database() {
    let dir = tempfile::tempdir().unwrap();
    // Refused before the target is contacted: an unreachable one will do.
    let url = "postgres://nobody@127.0.0.1:1/none?connect_timeout=2";
    let missing = dir.path().join("missing.db");
    let err = failure(&migrate_to(&missing, url, &[]));
    assert!(err.contains("no SQLite database at") && err.contains("missing.db"), "{err}");
    assert!(!missing.exists(), "the missing source was created");

    let text = dir.path().join("notes.txt");
    std::fs::write(&text, "not a database, just some words long enough to fill a header .........").unwrap();
    let err = failure(&migrate_to(&text, url, &[]));
    assert!(err.contains("cannot read the source"), "{err}");
}

#[test]
fn only_migrate_to_takes_both_databases() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("chat.db");
    let out = chatterbox().arg("--db").arg(&db).arg("migrate").output().unwrap();
    assert_eq!(out.status.code(), Some(0), "{}", describe(&out));
    let url = "postgres://nobody:secret-password@127.0.0.1:1/none?connect_timeout=2";

    // Both accepted: it gets as far as connecting to the target.
    let err = failure(&migrate_to(&db, url, &[]));
    assert!(err.contains("cannot connect to postgres 127.0.0.1:1/none"), "{err}");
    assert!(!err.contains("secret-password"), "{err}");
    // The environment variables count as the flags do.
    let out = chatterbox()
        .env("CHATTERBOX_DB", &db)
        .env("CHATTERBOX_DATABASE_URL", url)
        .arg("migrate-to")
        .output()
        .unwrap();
    assert!(failure(&out).contains("cannot connect"));

    // Without a target it is a usage error.
    let out = chatterbox().arg("--db").arg(&db).arg("migrate-to").output().unwrap();
    assert_eq!(out.status.code(), Some(2), "{}", describe(&out));
    assert!(String::from_utf8_lossy(&out.stderr).contains("--database-url"), "{}", describe(&out));

    // Every other command still takes one database only.
    for args in [&["migrate"][..], &["user", "list"], &["room", "list"]] {
        let out =
            chatterbox().arg("--db").arg(&db).args(["--database-url", url]).args(args).output().unwrap();
        assert_eq!(out.status.code(), Some(2), "{args:?}: {}", describe(&out));
        let err = String::from_utf8_lossy(&out.stderr);
        assert!(err.contains("--database-url") && err.contains("--db"), "{err}");
    }
}

/// What a daemon writes to the source while the copy runs is left out whole: the copy is the
/// source as of the moment it started (one read transaction), never half of a later write.
#[test]
fn the_copy_is_one_snapshot_of_a_source_that_keeps_changing() {
    use chatterbox::store::{NewMessage, NewUser, PgStore, SqliteStore, Store};
    let Some(url) = common::pg::database() else { return };
    let dir = tempfile::tempdir().unwrap();
    let (source, _) = SqliteStore::open_and_migrate(&dir.path().join("chat.db")).unwrap();
    let at = "2026-11-26T10:00:00.000Z";
    let user = |name: &str| {
        let email = format!("{name}@example.com");
        let new = NewUser {
            username: name,
            email: &email,
            password_hash: "$2b$04$x",
            is_admin: false,
            created_at: at,
        };
        source.create_user(&new).unwrap()
    };
    let alice = user("alice");
    let post = |text: &str| {
        let message = NewMessage {
            room_id: 1,
            sender_id: alice.id,
            username: "alice".into(),
            content: text.into(),
            mention_candidates: vec!["alice".into()],
            reply_to: None,
        };
        source.insert_messages(&[message], at).unwrap()[0].clone().unwrap()
    };
    let before = post("before the copy @alice");
    let next = source.log_next().unwrap();

    let mut dump = source.dump().unwrap();
    // Written on another connection of the source while the copy is under way.
    post("during the copy @alice");
    user("bob");
    let (target, _) = PgStore::open_and_migrate(&url).unwrap();
    target.load(&mut dump, &mut |_, _, _| {}).unwrap();
    drop(dump);

    assert_eq!(target.messages_before(1, None, 10).unwrap(), vec![before]);
    assert_eq!(target.log_next().unwrap(), next);
    let names: Vec<String> =
        target.list_users(Default::default()).unwrap().into_iter().map(|u| u.username).collect();
    assert_eq!(names, ["alice"]);
}
