//! `chatterbox backup` as an operator runs it: the real binary, against a real server under chat
//! load; the backup restored (a server started on it) holds every message acknowledged before the
//! backup began. Plus what it refuses and how it fails: an existing file, a missing database, a
//! folder it cannot write, a full disk, PostgreSQL.

use std::{
    path::Path,
    process::Output,
    sync::{
        atomic::{AtomicBool, Ordering},
        Arc, Mutex,
    },
    time::Duration,
};

mod common;

use common::cli::{chatterbox, describe, run};
use serde_json::Value;

fn backup(db: &Path, file: &Path, extra: &[&str]) -> Output {
    let mut cmd = chatterbox();
    cmd.arg("--db").arg(db).arg("backup").arg(file).args(extra);
    run(cmd, None)
}

/// Every message of `general` the server at `server` shows `token`, oldest first.
async fn all_messages(server: &common::TestServer, token: &str) -> Vec<Value> {
    let mut all = Vec::new();
    let mut before: Option<i64> = None;
    loop {
        let page = match before {
            Some(b) => format!("/messages?limit=200&before={b}"),
            None => "/messages?limit=200".to_string(),
        };
        let resp = server.get(&page, Some(token)).await;
        assert_eq!(resp.status(), 200);
        let batch: Vec<Value> = resp.json().await.unwrap();
        if batch.is_empty() {
            break;
        }
        before = batch[0]["id"].as_i64();
        all.splice(0..0, batch);
    }
    all
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_backup_taken_under_chat_load_restores_every_acknowledged_message() {
    let server = common::start_with(common::Options { postgres: false, ..common::unthrottled() }).await;
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("backup.db");
    // (id, text) of every message whose echo a sender got, in the order they got it.
    let acked: Arc<Mutex<Vec<(i64, String)>>> = Arc::default();
    let stop = Arc::new(AtomicBool::new(false));
    let mut senders = Vec::new();
    for n in 0..4 {
        let account = server.register(&format!("loader{n}")).await;
        let (mut ws, _) = server.connect(&account.token, None).await;
        let (acked, stop) = (Arc::clone(&acked), Arc::clone(&stop));
        senders.push(tokio::spawn(async move {
            let mut i = 0;
            while !stop.load(Ordering::Relaxed) {
                let text = format!("loader{n} message {i}");
                let echo = ws.send_acked(&text).await;
                acked.lock().unwrap().push((echo["id"].as_i64().unwrap(), text));
                i += 1;
            }
        }));
    }
    // Load first, then the backup while the load goes on.
    while acked.lock().unwrap().len() < 200 {
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let before_backup = acked.lock().unwrap().clone();
    let (db, target) = (server.db.clone(), file.clone());
    let out = tokio::task::spawn_blocking(move || backup(&db, &target, &[])).await.unwrap();
    let during = acked.lock().unwrap().len() - before_backup.len();
    stop.store(true, Ordering::Relaxed);
    for s in senders {
        s.await.unwrap();
    }
    assert!(out.status.success(), "{}", describe(&out));
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(stdout.contains("messages") && stdout.contains("users"), "{}", describe(&out));
    assert!(String::from_utf8_lossy(&out.stderr).contains("integrity check: ok"), "{}", describe(&out));
    eprintln!("{} messages acknowledged before the backup, {during} while it ran", before_backup.len());
    let leftovers: Vec<_> = std::fs::read_dir(dir.path())
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .filter(|n| n != "backup.db")
        .collect();
    assert!(leftovers.is_empty(), "temporary files left beside the backup: {leftovers:?}");
    server.stop().await;

    // Restore: a server started on the backup file.
    let restored =
        common::start_with(common::Options { db: Some(file.clone()), ..common::Options::default() }).await;
    let reader = restored.register("reader").await;
    let messages = all_messages(&restored, &reader.token).await;
    let found: std::collections::HashMap<i64, &str> =
        messages.iter().map(|m| (m["id"].as_i64().unwrap(), m["text"].as_str().unwrap())).collect();
    for (id, text) in &before_backup {
        assert_eq!(
            found.get(id).copied(),
            Some(text.as_str()),
            "message {id} acknowledged before the backup"
        );
    }
    restored.stop().await;

    // The backup as a file: verified again from outside.
    let json = backup(&file, &dir.path().join("again.db"), &["--format", "json"]);
    assert!(json.status.success(), "{}", describe(&json));
    let report: Value = serde_json::from_slice(&json.stdout).unwrap();
    assert_eq!(report["integrity"], "ok");
    let messages_row =
        report["tables"].as_array().unwrap().iter().find(|t| t["table"] == "messages").unwrap();
    assert!(messages_row["rows"].as_i64().unwrap() >= before_backup.len() as i64, "{report}");
}

#[tokio::test]
async fn backup_refuses_to_overwrite_and_says_what_went_wrong() {
    let server = common::start_with(common::Options { postgres: false, ..common::Options::default() }).await;
    server.register("alice").await;
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("b.db");
    std::fs::write(&file, "precious").unwrap();
    let out = backup(&server.db, &file, &[]);
    assert_eq!(out.status.code(), Some(1), "{}", describe(&out));
    assert!(String::from_utf8_lossy(&out.stderr).contains("--force"), "{}", describe(&out));
    assert_eq!(std::fs::read_to_string(&file).unwrap(), "precious", "the existing file is untouched");
    let forced = backup(&server.db, &file, &["--force"]);
    assert!(forced.status.success(), "{}", describe(&forced));
    assert!(std::fs::read(&file).unwrap().starts_with(b"SQLite format 3\0"));

    // Never over the database itself, nor over a database in use (its WAL beside it).
    let onto_itself = backup(&server.db, &server.db, &["--force"]);
    assert_eq!(onto_itself.status.code(), Some(1), "{}", describe(&onto_itself));
    assert!(String::from_utf8_lossy(&onto_itself.stderr).contains("the database being backed up"));
    let live = dir.path().join("live.db");
    std::fs::write(&live, "").unwrap();
    std::fs::write(dir.path().join("live.db-wal"), "x").unwrap();
    let in_use = backup(&server.db, &live, &["--force"]);
    assert_eq!(in_use.status.code(), Some(1), "{}", describe(&in_use));
    assert!(String::from_utf8_lossy(&in_use.stderr).contains("in use"), "{}", describe(&in_use));
    std::fs::remove_file(dir.path().join("live.db-wal")).unwrap();

    let missing = backup(&dir.path().join("nope.db"), &dir.path().join("c.db"), &[]);
    assert_eq!(missing.status.code(), Some(1), "{}", describe(&missing));
    assert!(String::from_utf8_lossy(&missing.stderr).contains("no database at"), "{}", describe(&missing));
    assert!(!dir.path().join("nope.db").exists(), "a missing database is not created");

    // A folder that cannot be written: missing, or a file where a folder should be (these hold
    // for root too, unlike permissions).
    for target in [dir.path().join("no/such/folder/b.db"), file.join("b.db")] {
        let out = backup(&server.db, &target, &[]);
        assert_eq!(out.status.code(), Some(1), "{}", describe(&out));
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert!(stderr.contains("cannot create a file in"), "{}", describe(&out));
    }
    server.stop().await;
}

/// A full disk: a small tmpfs mounted for the test (needs root, as CI has; skipped otherwise).
#[tokio::test]
async fn a_full_disk_leaves_no_backup_and_no_temporary_file() {
    let server = common::start_with(common::Options { postgres: false, ..common::unthrottled() }).await;
    let account = server.register("filler").await;
    let (mut ws, _) = server.connect(&account.token, None).await;
    let padding = "x".repeat(1500);
    for i in 0..300 {
        ws.send_acked(&format!("{i} {padding}")).await;
    }
    let mut server = server;
    let _db_dir = server.keep_dir();
    let db = server.db.clone();
    server.stop().await;
    let mount = tempfile::tempdir().unwrap();
    let mounted = std::process::Command::new("mount")
        .args(["-t", "tmpfs", "-o", "size=128k", "tmpfs"])
        .arg(mount.path())
        .status()
        .is_ok_and(|s| s.success());
    if !mounted {
        eprintln!("SKIPPED the full-disk case: cannot mount a small tmpfs here (needs root)");
        return;
    }
    struct Unmount<'a>(&'a Path);
    impl Drop for Unmount<'_> {
        fn drop(&mut self) {
            let _ = std::process::Command::new("umount").arg(self.0).status();
        }
    }
    let _unmount = Unmount(mount.path());
    let out = backup(&db, &mount.path().join("b.db"), &[]);
    assert_eq!(out.status.code(), Some(1), "{}", describe(&out));
    assert!(String::from_utf8_lossy(&out.stderr).contains("is full"), "{}", describe(&out));
    let left: Vec<_> = std::fs::read_dir(mount.path()).unwrap().collect();
    assert!(left.is_empty(), "files left on the full disk: {left:?}");
}

#[test]
fn on_postgresql_backup_prints_the_pg_dump_command_without_the_password() {
    let mut cmd = chatterbox();
    cmd.args([
        "--database-url",
        "postgres://chat:hunter2@db.example:5433/chatterbox",
        "backup",
        "/b/chat.dump",
    ]);
    let out = run(cmd, None);
    assert_eq!(out.status.code(), Some(2), "{}", describe(&out));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains(
            "PGPASSWORD=... pg_dump --format=custom --host=db.example --port=5433 --username=chat \
             --dbname=chatterbox --file=/b/chat.dump"
        ),
        "{}",
        describe(&out)
    );
    assert!(!stderr.contains("hunter2") && out.stdout.is_empty(), "{}", describe(&out));
}
