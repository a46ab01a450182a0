//! Persistence benchmark: messages per second accepted and committed through the full domain
//! path (validate, moderate, group commit on the writer thread, broadcast), without sockets.
//!
//! `cargo bench --bench persist -- [--senders N] [--secs S] [--size BYTES]`
//! Every accepted message is checked to be in the database afterwards.

use std::{
    sync::{
        atomic::{AtomicBool, AtomicU64, Ordering},
        Arc,
    },
    time::{Duration, Instant},
};

use chatterbox::{
    chat::{moderation::Matcher, ratelimit::Rate, Chat, ChatConfig, Posted, Secret},
    store::{NewUser, SqliteStore, Store},
};

fn arg(args: &[String], name: &str, default: u64) -> u64 {
    args.windows(2).find(|w| w[0] == name).and_then(|w| w[1].parse().ok()).unwrap_or(default)
}

fn main() {
    let args: Vec<String> = std::env::args().collect();
    let senders = arg(&args, "--senders", 200) as usize;
    let secs = arg(&args, "--secs", 5);
    let size = arg(&args, "--size", 100) as usize;
    let dir = tempfile::tempdir().expect("temp dir");
    let path = dir.path().join("persist.db");
    let (store, _) = SqliteStore::open_and_migrate(&path).expect("database");
    let store: Arc<dyn Store> = Arc::new(store);
    let now = chatterbox::timefmt::now();
    let users: Vec<_> = (0..senders)
        .map(|i| {
            let name = format!("sender{i}");
            store
                .create_user(&NewUser {
                    username: &name,
                    email: &format!("{name}@example.com"),
                    password_hash: "x",
                    is_admin: false,
                    created_at: &now,
                })
                .expect("user")
        })
        .collect();
    let config =
        ChatConfig { bcrypt_cost: 4, message_rate: Rate::new(f64::MAX, f64::MAX), ..ChatConfig::default() };
    let rt = tokio::runtime::Builder::new_multi_thread().enable_all().build().expect("runtime");
    let chat =
        Chat::start(Arc::clone(&store), config, Secret::Stored, Matcher::default_terms()).expect("chat");
    let accepted = Arc::new(AtomicU64::new(0));
    let stop = Arc::new(AtomicBool::new(false));
    let text: String = "lorem ipsum dolor sit amet ".chars().cycle().take(size).collect();
    let started = Instant::now();
    rt.block_on(async {
        let tasks: Vec<_> = users
            .into_iter()
            .map(|user| {
                let (chat, accepted, stop, text) =
                    (Arc::clone(&chat), Arc::clone(&accepted), Arc::clone(&stop), text.clone());
                tokio::spawn(async move {
                    while !stop.load(Ordering::Relaxed) {
                        match chat.post(&user, None, &text, None).await {
                            Ok(Posted::Queued(queued)) => {
                                queued.outcome().await.expect("committed");
                                accepted.fetch_add(1, Ordering::Relaxed);
                            }
                            other => panic!("unexpected outcome: {other:?}"),
                        }
                    }
                })
            })
            .collect();
        tokio::time::sleep(Duration::from_secs(secs)).await;
        stop.store(true, Ordering::Relaxed);
        for t in tasks {
            t.await.expect("sender");
        }
        chat.shutdown().await;
    });
    let elapsed = started.elapsed().as_secs_f64();
    let n = accepted.load(Ordering::Relaxed);
    let stored = store
        .messages_before(chatterbox::store::GENERAL_ROOM, None, usize::MAX >> 1)
        .expect("read back")
        .len() as u64;
    println!("senders                      {senders}");
    println!("message size                 {size} bytes");
    println!("accepted and committed       {n} in {elapsed:.2} s = {:.0} msg/s", n as f64 / elapsed);
    println!(
        "rows in the database         {stored} ({})",
        if stored == n { "all of them" } else { "MISMATCH" }
    );
    assert_eq!(stored, n, "every acknowledged message must be stored");
}
