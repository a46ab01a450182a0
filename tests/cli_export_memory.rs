//! `chatterbox messages export` streams: exporting 100,000 messages (~50 MB of text) to a file
//! keeps the child's peak memory far below the size of the data. A test binary of its own with a
//! single test, so `getrusage(RUSAGE_CHILDREN)` measures only the export process.

#![cfg(unix)]

use std::process::Command;

use chatterbox::{
    store::{NewMessage, NewUser, SqliteStore, Store},
    timefmt,
};

const BIN: &str = env!("CARGO_BIN_EXE_chatterbox");
const MESSAGES: usize = 100_000;
const MESSAGE_BYTES: usize = 500;
const BATCH: usize = 1_000;
/// Buffering every row would need well over 50 MB; a streaming export needs a few.
const MAX_PEAK_RSS_BYTES: u64 = 40 * 1024 * 1024;

/// A distinct message of exactly `MESSAGE_BYTES` bytes, with CSV-quoted characters in it.
fn message(i: usize) -> String {
    let mut text = format!("#{i:06} ");
    let filler = "lorem ipsum, \"dolor\" sit amet; consectetur adipiscing elit ";
    while text.len() < MESSAGE_BYTES {
        text.push_str(filler);
    }
    text.truncate(MESSAGE_BYTES);
    text
}

/// Peak resident set size of all waited-for children, in bytes.
fn children_peak_rss_bytes() -> u64 {
    // SAFETY: getrusage only writes into the zeroed struct we pass.
    let usage = unsafe {
        let mut usage: libc::rusage = std::mem::zeroed();
        assert_eq!(libc::getrusage(libc::RUSAGE_CHILDREN, &mut usage), 0, "getrusage failed");
        usage
    };
    let maxrss = u64::try_from(usage.ru_maxrss).expect("non-negative ru_maxrss");
    // Linux and the BSDs report kilobytes, macOS bytes.
    if cfg!(target_os = "macos") {
        maxrss
    } else {
        maxrss * 1024
    }
}

#[test]
fn export_of_100k_messages_runs_in_constant_memory() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("chatterbox.db");
    {
        let (store, _) = SqliteStore::open_and_migrate(&db).unwrap();
        let alice = store
            .create_user(&NewUser {
                username: "alice",
                email: "alice@example.com",
                password_hash: "not a real hash",
                is_admin: false,
                created_at: &timefmt::now(),
            })
            .unwrap();
        let now = timefmt::now();
        for start in (0..MESSAGES).step_by(BATCH) {
            let batch: Vec<NewMessage> = (start..start + BATCH)
                .map(|i| NewMessage {
                    room_id: chatterbox::store::GENERAL_ROOM,
                    sender_id: alice.id,
                    username: "alice".into(),
                    content: message(i),
                    mention_candidates: Vec::new(),
                    reply_to: None,
                })
                .collect();
            store.insert_messages(&batch, &now).unwrap();
        }
    }

    let target = dir.path().join("export.csv");
    let out = Command::new(BIN)
        .arg("--db")
        .arg(&db)
        .args(["messages", "export", "--csv", "--output"])
        .arg(&target)
        .env_remove("CHATTERBOX_DB")
        .env_remove("RUST_LOG")
        .output()
        .expect("run chatterbox");
    assert!(
        out.status.success(),
        "export failed: {:?}\n{}",
        out.status,
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(String::from_utf8_lossy(&out.stderr).contains(&format!("wrote {MESSAGES} messages")));

    // Every row is there, in order, with its content intact.
    let mut reader = csv::Reader::from_path(&target).unwrap();
    let mut rows = 0usize;
    for record in reader.records() {
        let record = record.unwrap();
        assert_eq!(&record[3], message(rows), "row {rows}");
        rows += 1;
    }
    assert_eq!(rows, MESSAGES);
    let size = std::fs::metadata(&target).unwrap().len();
    assert!(size > (MESSAGES * MESSAGE_BYTES) as u64, "export is only {size} bytes");

    let peak = children_peak_rss_bytes();
    assert!(
        peak < MAX_PEAK_RSS_BYTES,
        "the export's peak RSS was {} MB for a {} MB export; rows are being buffered",
        peak / (1024 * 1024),
        size / (1024 * 1024)
    );
}
