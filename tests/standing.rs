//! A user's standing: the moderation ladder with timed mutes (`--moderation-ladder`), strikes that
//! decay (`--strike-decay`), admins' and the operator's mutes seen by running servers and by
//! other instances, `GET /me`'s standing fields, unblocks that start the ladder afresh, and the
//! audit log of each act. Over real HTTP, WebSocket and the CLI binary, on both stores.

mod common;

use std::time::Duration;

use chatterbox::chat::standing::Ladder;
use common::{Account, Options, TestServer, WsClient};
use serde_json::{json, Value};

common::postgres_too!(
    a_ladder_warns_then_mutes_and_the_mute_ends_by_itself,
    strikes_decay,
    admins_mute_and_unmute_over_rest_and_the_socket_is_told,
    the_operator_mutes_from_the_cli_and_a_running_server_is_told,
    concurrent_strikes_take_each_step_once,
    an_unblock_starts_the_ladder_afresh,
    a_mute_on_one_instance_refuses_posts_on_another;
    sqlite_only: ladder_flags_are_checked
);

fn with_ladder(ladder: &str) -> Options {
    let mut opts = common::unthrottled();
    opts.chat.ladder = Ladder::parse(ladder).unwrap();
    opts.chat.warning_limit = opts.chat.ladder.block_at().unwrap_or(0);
    opts
}

async fn me(server: &TestServer, who: &Account) -> Value {
    let resp = server.get("/me", Some(&who.token)).await;
    assert_eq!(resp.status(), 200);
    resp.json().await.unwrap()
}

/// The next frame that is not presence, typing or a room list.
async fn next_frame(client: &mut WsClient) -> Value {
    loop {
        let v = client.next_json().await.expect("a frame");
        if !matches!(v["type"].as_str(), Some("join" | "leave" | "presence" | "typing" | "rooms" | "room")) {
            return v;
        }
    }
}

/// Frames until one of type `kind` (panics on a close first).
async fn frame_of(client: &mut WsClient, kind: &str) -> Value {
    loop {
        let v = next_frame(client).await;
        if v["type"] == kind {
            return v;
        }
    }
}

/// The audit log of `user` (newest first), as (action, strike, actor).
async fn audit(server: &TestServer, admin: &Account, query: &str) -> Vec<Value> {
    let resp = server.get(&format!("/admin/violations?{query}"), Some(&admin.token)).await;
    assert_eq!(resp.status(), 200);
    resp.json::<Value>().await.unwrap().as_array().unwrap().clone()
}

fn actions(rows: &[Value]) -> Vec<(String, bool, String)> {
    rows.iter()
        .map(|r| {
            (
                r["action"].as_str().unwrap().to_string(),
                r["strike"].as_bool().unwrap(),
                r["actor"].as_str().unwrap().to_string(),
            )
        })
        .collect()
}

/// Sends `text` every 200 ms until it is accepted (its echo comes back); muted refusals
/// (error frames) in between are expected.
async fn post_eventually(client: &mut WsClient, text: &str) {
    for attempt in 0..100 {
        let sent = format!("{text} {attempt}");
        client.send_text(&sent).await;
        loop {
            let v = next_frame(client).await;
            match v["type"].as_str() {
                Some("message") if v["text"] == sent => return,
                Some("error") => {
                    assert!(v["detail"].as_str().unwrap().starts_with("You are muted until"), "{v}");
                    break;
                }
                _ => continue,
            }
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    panic!("the mute never ended");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_ladder_warns_then_mutes_and_the_mute_ends_by_itself() {
    let server = common::start_with(with_ladder("warn,warn,mute:2s,block")).await;
    let admin = server.register_admin("root").await;
    let alice = server.register("alice").await;
    let fresh = me(&server, &alice).await;
    assert_eq!((fresh["strikes"].as_i64(), fresh["next_step"].as_str()), (Some(0), Some("warn")));
    assert!(fresh["muted_until"].is_null());
    let (mut a, _) = server.connect(&alice.token, None).await;

    a.send_text("you idiot").await;
    let w = frame_of(&mut a, "warning").await;
    assert_eq!((w["warnings"].as_i64(), w["next"].as_str()), (Some(1), Some("warn")), "{w}");
    a.send_text("what an idiot").await;
    let w = frame_of(&mut a, "warning").await;
    assert_eq!((w["warnings"].as_i64(), w["next"].as_str()), (Some(2), Some("mute:2s")), "{w}");
    assert!(w["text"].as_str().unwrap().contains("a mute of 2s"), "{w}");
    assert_eq!(me(&server, &alice).await["next_step"], "mute:2s");

    a.send_text("idiot again").await;
    let m = frame_of(&mut a, "muted").await;
    let until = m["until"].as_str().unwrap().to_string();
    assert!(until.ends_with('Z') && m["text"].as_str().unwrap().contains("idiot"), "{m}");
    let standing = me(&server, &alice).await;
    assert_eq!(standing["muted_until"], until.as_str());
    assert_eq!((standing["strikes"].as_i64(), standing["next_step"].as_str()), (Some(3), Some("block")));

    // Muted: a post is refused with the time, and is no strike.
    a.send_text("hello while muted").await;
    let e = frame_of(&mut a, "error").await;
    assert_eq!(e["detail"], format!("You are muted until {until}"));
    // The mute ends by itself.
    post_eventually(&mut a, "back").await;
    let after = me(&server, &alice).await;
    assert!(after["muted_until"].is_null(), "{after}");
    assert_eq!(after["strikes"], 3);

    let rows = audit(&server, &admin, "user=alice").await;
    let expected = [("mute", true), ("warning", true), ("warning", true)]
        .map(|(a, s)| (a.to_string(), s, "moderation".to_string()));
    assert_eq!(actions(&rows), expected);
    assert_eq!(rows[0]["until"], until.as_str());
    assert_eq!(rows[0]["term"], "idiot");
    assert_eq!(rows[0]["room_id"], 1);
    server.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn strikes_decay() {
    let mut opts = with_ladder("warn,warn,block");
    opts.chat.strike_decay = Some(Duration::from_secs(2));
    let server = common::start_with(opts).await;
    let alice = server.register("alice").await;
    let (mut a, _) = server.connect(&alice.token, None).await;
    a.send_text("you idiot").await;
    assert_eq!(frame_of(&mut a, "warning").await["warnings"], 1);
    assert_eq!(me(&server, &alice).await["strikes"], 1);
    // The strike decays: it no longer counts, and the next violation is a first warning again.
    for _ in 0..100 {
        if me(&server, &alice).await["strikes"] == 0 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    assert_eq!(me(&server, &alice).await["strikes"], 0);
    a.send_text("what an idiot").await;
    assert_eq!(frame_of(&mut a, "warning").await["warnings"], 1);
    server.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn admins_mute_and_unmute_over_rest_and_the_socket_is_told() {
    let server = common::start_with(common::unthrottled()).await;
    let admin = server.register_admin("root").await;
    let alice = server.register("alice").await;
    let (mut a, _) = server.connect(&alice.token, None).await;
    let kept = a.send_acked("before the mute").await["id"].as_i64().unwrap();

    let path = format!("/admin/users/{}/mute", alice.id);
    let bad = server.post(&path, Some(&admin.token), Some(json!({ "for": "10x" }))).await;
    assert_eq!(bad.status(), 422);
    let not_admin = server.post(&path, Some(&alice.token), Some(json!({ "for": "1h" }))).await;
    assert_eq!(not_admin.status(), 403);
    let missing = server.post("/admin/users/9999/mute", Some(&admin.token), Some(json!({ "for": 60 }))).await;
    assert_eq!(missing.status(), 404);

    let resp =
        server.post(&path, Some(&admin.token), Some(json!({ "for": "1h", "reason": "cool off" }))).await;
    assert_eq!(resp.status(), 200);
    let muted: Value = resp.json().await.unwrap();
    let until = muted["muted_until"].as_str().unwrap().to_string();
    let m = frame_of(&mut a, "muted").await;
    assert_eq!(m["until"], until.as_str());
    let users: Value = server.get("/admin/users", Some(&admin.token)).await.json().await.unwrap();
    let listed = users.as_array().unwrap().iter().find(|u| u["username"] == "alice").unwrap().clone();
    assert_eq!(listed["muted_until"], until.as_str());
    assert_eq!(me(&server, &alice).await["muted_until"], until.as_str());

    // Posts, edits and reactions are refused while muted.
    a.send_text("let me talk").await;
    assert_eq!(frame_of(&mut a, "error").await["detail"], format!("You are muted until {until}"));
    let edit = server
        .http
        .patch(server.url(&format!("/messages/{kept}")))
        .bearer_auth(&alice.token)
        .json(&json!({ "text": "changed" }))
        .send()
        .await
        .unwrap();
    assert_eq!(edit.status(), 403);
    let body: Value = edit.json().await.unwrap();
    assert_eq!(body["detail"], format!("You are muted until {until}"));
    a.send_json(json!({ "type": "react", "id": kept, "emoji": "👍" })).await;
    assert_eq!(frame_of(&mut a, "error").await["detail"], format!("You are muted until {until}"));

    let resp = server.post(&format!("/admin/users/{}/unmute", alice.id), Some(&admin.token), None).await;
    assert_eq!(resp.status(), 200);
    assert!(resp.json::<Value>().await.unwrap()["muted_until"].is_null());
    assert_eq!(frame_of(&mut a, "unmuted").await["type"], "unmuted");
    a.send_acked("talking again").await;

    let rows = audit(&server, &admin, &format!("user={}", alice.id)).await;
    let expected = [("unmute", false), ("mute", false)].map(|(a, s)| (a.to_string(), s, "root".to_string()));
    assert_eq!(actions(&rows), expected);
    assert_eq!(
        (rows[1]["reason"].as_str(), rows[1]["actor_id"].as_i64()),
        (Some("cool off"), Some(admin.id))
    );
    assert_eq!(rows[1]["until"], until.as_str());
    assert_eq!(audit(&server, &admin, "action=unmute").await.len(), 1);
    let bad_filter = server.get("/admin/violations?action=nope", Some(&admin.token)).await;
    assert_eq!(bad_filter.status(), 400);
    // Nothing to lift: nothing audited.
    server.post(&format!("/admin/users/{}/unmute", alice.id), Some(&admin.token), None).await;
    assert_eq!(audit(&server, &admin, "action=unmute").await.len(), 1);
    server.stop().await;
}

/// Runs the operator CLI on the server's database: exit code, stdout, stderr.
async fn cli(server: &TestServer, args: &[&str]) -> (Option<i32>, String, String) {
    let mut all = server.db_args();
    all.extend(args.iter().map(|a| a.to_string()));
    let out = tokio::task::spawn_blocking(move || {
        std::process::Command::new(env!("CARGO_BIN_EXE_chatterbox")).args(&all).output().unwrap()
    })
    .await
    .unwrap();
    let text = |b: Vec<u8>| String::from_utf8(b).unwrap();
    (out.status.code(), text(out.stdout), text(out.stderr))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_operator_mutes_from_the_cli_and_a_running_server_is_told() {
    let server = common::start_with(common::unthrottled()).await;
    let admin = server.register_admin("root").await;
    let alice = server.register("alice").await;
    let (mut a, _) = server.connect(&alice.token, None).await;

    let (code, out, err) = cli(&server, &["user", "mute", "alice", "--for", "1h", "--reason", "spam"]).await;
    assert_eq!(code, Some(0), "{err}");
    assert!(out.starts_with("muted alice until "), "{out}");
    let m = frame_of(&mut a, "muted").await;
    assert!(out.trim().ends_with(m["until"].as_str().unwrap()), "{out} {m}");
    a.send_text("can I talk").await;
    assert!(frame_of(&mut a, "error").await["detail"].as_str().unwrap().starts_with("You are muted until"));

    let (code, out, _) = cli(&server, &["user", "unmute", "alice"]).await;
    assert_eq!((code, out.trim()), (Some(0), "unmuted alice"));
    frame_of(&mut a, "unmuted").await;
    a.send_acked("yes").await;
    let (code, out, _) = cli(&server, &["user", "unmute", "alice"]).await;
    assert_eq!((code, out.trim()), (Some(0), "alice is not muted; nothing changed"));

    let (code, _, err) = cli(&server, &["user", "mute", "nobody", "--for", "1h"]).await;
    assert_ne!(code, Some(0));
    assert!(err.contains("nobody"), "{err}");
    let (code, _, err) = cli(&server, &["user", "mute", "alice", "--for", "soon"]).await;
    assert_eq!(code, Some(2), "a usage error");
    assert!(err.contains("invalid duration"), "{err}");

    let rows = audit(&server, &admin, "user=alice").await;
    let expected = [("unmute", false), ("mute", false)].map(|(a, s)| (a.to_string(), s, "cli".to_string()));
    assert_eq!(actions(&rows), expected);
    assert_eq!(rows[1]["reason"], "spam");
    assert!(rows[1]["actor_id"].is_null());
    server.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn concurrent_strikes_take_each_step_once() {
    let server = common::start_with(with_ladder("warn,block")).await;
    let admin = server.register_admin("root").await;
    let alice = server.register("alice").await;
    let (mut a1, _) = server.connect(&alice.token, None).await;
    let (mut a2, _) = server.connect(&alice.token, None).await;
    // Two violations at once on two sockets: one is the warning, the other the block.
    a1.send_text("idiot one").await;
    a2.send_text("idiot two").await;
    a1.expect_close().await;
    a2.expect_close().await;
    let rows = audit(&server, &admin, "user=alice").await;
    let expected =
        [("block", true), ("warning", true)].map(|(a, s)| (a.to_string(), s, "moderation".to_string()));
    assert_eq!(actions(&rows), expected);
    server.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_unblock_starts_the_ladder_afresh() {
    let server = common::start_with(with_ladder("warn,warn,block")).await;
    let admin = server.register_admin("root").await;
    let alice = server.register("alice").await;
    let (mut a, _) = server.connect(&alice.token, None).await;
    for n in 0..3 {
        a.send_text(&format!("idiot {n}")).await;
    }
    a.expect_close().await;
    let resp = server.post(&format!("/admin/users/{}/unblock", alice.id), Some(&admin.token), None).await;
    assert_eq!(resp.status(), 200);
    let standing = me(&server, &alice).await;
    assert_eq!((standing["strikes"].as_i64(), standing["warning_count"].as_i64()), (Some(0), Some(0)));
    let (mut a, _) = server.connect(&alice.token, None).await;
    a.send_text("idiot again").await;
    assert_eq!(frame_of(&mut a, "warning").await["warnings"], 1);
    let rows = audit(&server, &admin, "user=alice").await;
    let got: Vec<&str> = rows.iter().map(|r| r["action"].as_str().unwrap()).collect();
    assert_eq!(got, ["warning", "unblock", "block", "warning", "warning"]);
    server.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_mute_on_one_instance_refuses_posts_on_another() {
    // Several instances share a database on PostgreSQL (SQLite: one file, here too).
    let first = common::start_with(common::unthrottled()).await;
    let mut opts = common::unthrottled();
    match &first.database_url {
        Some(url) => opts.database_url = Some(url.clone()),
        None => return, // one SQLite daemon per file in these tests
    }
    let second = common::start_with(opts).await;
    let admin = first.register_admin("root").await;
    let alice = first.register("alice").await;
    let (mut on_second, _) = second.connect(&alice.token, None).await;
    let resp = first
        .post(&format!("/admin/users/{}/mute", alice.id), Some(&admin.token), Some(json!({ "for": "1h" })))
        .await;
    assert_eq!(resp.status(), 200);
    let until = resp.json::<Value>().await.unwrap()["muted_until"].as_str().unwrap().to_string();
    assert_eq!(frame_of(&mut on_second, "muted").await["until"], until.as_str());
    on_second.send_text("from the other instance").await;
    assert_eq!(frame_of(&mut on_second, "error").await["detail"], format!("You are muted until {until}"));
    first.post(&format!("/admin/users/{}/unmute", alice.id), Some(&admin.token), None).await;
    frame_of(&mut on_second, "unmuted").await;
    on_second.send_acked("free again").await;
    second.stop().await;
    first.stop().await;
}

#[test]
fn ladder_flags_are_checked() {
    let serve = |args: &[&str]| {
        let dir = tempfile::tempdir().unwrap();
        let db = dir.path().join("chat.db");
        let mut all = vec!["--db", db.to_str().unwrap(), "serve", "--listen", "127.0.0.1:1"];
        all.extend_from_slice(args);
        let out = std::process::Command::new(env!("CARGO_BIN_EXE_chatterbox")).args(&all).output().unwrap();
        (out.status.code(), String::from_utf8(out.stderr).unwrap())
    };
    let (code, err) = serve(&["--moderation-ladder", "warn,block,warn"]);
    assert_ne!(code, Some(0));
    assert!(err.contains("block must be the last step"), "{err}");
    let (code, err) = serve(&["--moderation-ladder", "warn,mute:5x"]);
    assert_ne!(code, Some(0));
    assert!(err.contains("invalid duration"), "{err}");
    let (code, err) = serve(&["--moderation-ladder", "warn,block", "--warning-limit", "3"]);
    assert_eq!(code, Some(2));
    assert!(err.contains("cannot be used with"), "{err}");
    let (code, err) = serve(&["--strike-decay", "soon"]);
    assert_ne!(code, Some(0));
    assert!(err.contains("--strike-decay"), "{err}");
}
