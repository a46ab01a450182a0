//! Three chatterbox instances on one PostgreSQL database under faults, checked the way clients
//! see it (issue 12): an instance killed with SIGKILL while clients send, PostgreSQL stopped hard
//! and started again, the listening connections killed, and a slow commit holding the log
//! counter while the other instances write.
//!
//! Clients spread over the instances send into several conversations (a public room, a private
//! room, a DM and `general`) while a `Checker` records, per client, every message id it received
//! per socket and every send acknowledged (its echo). After each scenario, once everything
//! stored has had time to arrive: every stored message reached every member of its room exactly
//! once and nobody else, so every member sees the same order; every acknowledged message is
//! stored; ids strictly increase on every socket; a send on a socket that stayed open was either
//! acknowledged or answered with an error, never silently dropped; and resuming with `?since=`
//! on another instance fills the gap exactly.
//!
//! Except through the database restart, every client also moves to the next instance every few
//! seconds (`HOP`), resuming there with `?since=`, so sockets keep arriving on instances where
//! their user was not online while the others write: that found a tailer that delivered past a
//! new socket's snapshot before installing its rooms (a gap).
//!
//! The scenarios share the binary's PostgreSQL cluster, which one of them restarts: they run one
//! at a time (`SERIAL`). Kill -9 and the restart run the real binary; the listening-connection
//! and slow-commit scenarios run in-process instances whose tailers never poll, so only the
//! database's notifications wake them.

#![cfg(unix)]

mod common;

use std::{
    collections::{BTreeMap, BTreeSet, HashMap},
    net::SocketAddr,
    process::{Child, Command, Stdio},
    sync::{
        atomic::{AtomicU8, Ordering},
        Arc, Mutex,
    },
    time::{Duration, Instant},
};

use common::{Options, TestServer, PASSWORD};
use futures_util::{SinkExt, StreamExt};
use serde_json::{json, Value};
use tokio::task::JoinHandle;
use tokio_tungstenite::tungstenite::Message;

const BIN: &str = env!("CARGO_BIN_EXE_chatterbox");
/// The token-signing secret of the spawned instances (one for all, so a token works on each).
const SECRET: &str = "cluster-faults-secret-0123456789abcdef";
/// Time between two sends of one client.
const SEND_EVERY: Duration = Duration::from_millis(10);
/// Where clients hop, how long a client stays away from an instance before it comes back: longer
/// than a user stays online there after its last socket closed (3 s), so that each arrival
/// installs its rooms afresh while the other instances write. It stays on each instance this
/// long divided by the number of the others.
const HOP: Duration = Duration::from_millis(3200);
/// How long everything stored may take to reach every member once the sending stopped.
const SETTLE: Duration = Duration::from_secs(40);

/// One scenario at a time: one of them stops the cluster every test of this binary shares.
static SERIAL: tokio::sync::Mutex<()> = tokio::sync::Mutex::const_new(());

// ---------------------------------------------------------------------------------------------
// Instances

/// `chatterbox --database-url URL serve` on a free port; killed when dropped.
struct Daemon {
    child: Child,
    addr: SocketAddr,
    log: Arc<Mutex<String>>,
}

impl Daemon {
    fn start(url: &str) -> Daemon {
        let mut cmd = Command::new(BIN);
        for (key, _) in std::env::vars() {
            if key.starts_with("CHATTERBOX_") || key == "RUST_LOG" {
                cmd.env_remove(key);
            }
        }
        cmd.env("CHATTERBOX_JWT_SECRET", SECRET)
            .args(["--database-url", url, "serve", "--listen", "127.0.0.1:0", "--bcrypt-cost", "4"])
            .args(["--rate-limit-off", "--message-burst", "100000", "--message-rate", "100000"])
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::piped());
        let mut child = cmd.spawn().expect("start chatterbox serve");
        let (log, rx) = common::drain_log(child.stderr.take().expect("stderr pipe"));
        let addr = rx
            .recv_timeout(Duration::from_secs(60))
            .unwrap_or_else(|_| panic!("the instance did not listen:\n{}", log.lock().unwrap()));
        Daemon { child, addr: addr.parse().expect("a socket address in the log"), log }
    }

    fn log(&self) -> String {
        self.log.lock().unwrap().clone()
    }
}

impl Drop for Daemon {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

enum Instance {
    Process(Daemon),
    InProcess(TestServer),
}

impl Instance {
    fn addr(&self) -> SocketAddr {
        match self {
            Instance::Process(d) => d.addr,
            Instance::InProcess(s) => s.addr,
        }
    }
}

/// Three instances on one new database, six people in four conversations.
struct Cluster {
    url: String,
    instances: Vec<Instance>,
    /// Which instances clients may (re)connect to.
    alive: Arc<Mutex<Vec<bool>>>,
    http: reqwest::Client,
    /// (name, token, conversations), client i connects first to instance i % 3.
    people: Vec<(String, String, Vec<i64>)>,
    /// Members of each conversation, by name.
    members: BTreeMap<i64, BTreeSet<String>>,
}

const PEOPLE: [&str; 6] = ["ann", "ben", "cat", "dan", "eve", "fay"];

impl Cluster {
    /// Real processes, or in-process instances whose tailers never poll; None when PostgreSQL
    /// is skipped.
    async fn start(processes: bool) -> Option<Cluster> {
        let url = tokio::task::spawn_blocking(common::pg::database).await.unwrap()?;
        let mut instances = Vec::new();
        for _ in 0..3 {
            instances.push(if processes {
                let url = url.clone();
                Instance::Process(tokio::task::spawn_blocking(move || Daemon::start(&url)).await.unwrap())
            } else {
                let mut opts = common::unthrottled();
                opts.chat.log_poll = Duration::from_secs(3600);
                Instance::InProcess(
                    common::start_with(Options { database_url: Some(url.clone()), ..opts }).await,
                )
            });
        }
        let mut cluster = Cluster {
            url,
            instances,
            alive: Arc::new(Mutex::new(vec![true; 3])),
            http: reqwest::Client::new(),
            people: Vec::new(),
            members: BTreeMap::new(),
        };
        cluster.seed().await;
        Some(cluster)
    }

    async fn call(&self, at: usize, method: reqwest::Method, path: &str, token: &str, body: Value) -> Value {
        let url = format!("http://{}{path}", self.instances[at].addr());
        let mut req = self.http.request(method, url).bearer_auth(token);
        if !body.is_null() {
            req = req.json(&body);
        }
        let resp = req.send().await.unwrap();
        let status = resp.status();
        let body: Value = resp.json().await.unwrap_or(Value::Null);
        assert!(status.is_success(), "{path}: {status} {body}");
        body
    }

    /// Registers everyone (each on its own instance) and builds the conversations: `general`
    /// (everyone), public `lobby` (ann, ben, cat, dan), private `den` (dan, eve, fay) and the DM
    /// of ann and fay.
    async fn seed(&mut self) {
        let mut tokens = Vec::new();
        for (i, name) in PEOPLE.iter().enumerate() {
            let body =
                json!({ "username": name, "email": format!("{name}@example.com"), "password": PASSWORD });
            let url = format!("http://{}/register", self.instances[i % 3].addr());
            let resp = self.http.post(url).json(&body).send().await.unwrap();
            assert_eq!(resp.status(), 201, "register {name}");
            let body: Value = resp.json().await.unwrap();
            tokens.push(body["access_token"].as_str().unwrap().to_string());
        }
        let post = reqwest::Method::POST;
        let lobby = self
            .call(0, post.clone(), "/rooms", &tokens[0], json!({ "name": "lobby", "visibility": "public" }))
            .await;
        let lobby = lobby["id"].as_i64().unwrap();
        for (i, token) in tokens.iter().enumerate().take(4).skip(1) {
            self.call(i % 3, post.clone(), &format!("/rooms/{lobby}/join"), token, Value::Null).await;
        }
        let den = self
            .call(0, post.clone(), "/rooms", &tokens[3], json!({ "name": "den", "visibility": "private" }))
            .await;
        let den = den["id"].as_i64().unwrap();
        for name in ["eve", "fay"] {
            self.call(
                1,
                post.clone(),
                &format!("/rooms/{den}/members"),
                &tokens[3],
                json!({ "username": name }),
            )
            .await;
        }
        let dm = self.call(2, post, "/dms", &tokens[0], json!({ "usernames": ["fay"] })).await;
        let dm = dm["id"].as_i64().unwrap();
        let rooms: [(i64, &[&str]); 4] = [
            (1, &PEOPLE),
            (lobby, &["ann", "ben", "cat", "dan"]),
            (den, &["dan", "eve", "fay"]),
            (dm, &["ann", "fay"]),
        ];
        for (room, names) in rooms {
            self.members.insert(room, names.iter().map(|n| n.to_string()).collect());
        }
        for (name, token) in PEOPLE.iter().zip(tokens) {
            let mine = self.members.iter().filter(|(_, m)| m.contains(*name)).map(|(r, _)| *r).collect();
            self.people.push((name.to_string(), token, mine));
        }
    }

    /// Starts one client per person, each sending every `SEND_EVERY` into its conversations in
    /// turn; with `hop`, each also moves to the next instance that often (resuming there), so
    /// sockets join instances all the time while the others write.
    fn load(&self, hop: Option<Duration>) -> Load {
        let mode = Arc::new(AtomicU8::new(SEND));
        let addrs: Vec<SocketAddr> = self.instances.iter().map(Instance::addr).collect();
        let mut records = Vec::new();
        let mut tasks = Vec::new();
        for (i, (name, token, rooms)) in self.people.iter().enumerate() {
            let record = Arc::new(Mutex::new(Record { name: name.clone(), ..Record::default() }));
            records.push(Arc::clone(&record));
            let client = Client {
                name: name.clone(),
                token: token.clone(),
                rooms: rooms.clone(),
                home: i % 3,
                // Staggered, so the clients do not all move at once.
                hop: hop.map(|h| h + Duration::from_millis(37 * i as u64)),
                addrs: addrs.clone(),
                alive: Arc::clone(&self.alive),
                mode: Arc::clone(&mode),
                record,
            };
            tasks.push(tokio::spawn(client.run()));
        }
        Load { checker: Checker { records, members: self.members.clone() }, mode, tasks }
    }

    /// Stops the sending, waits until everything stored reached its members, checks, and checks
    /// a resume from the middle on another instance.
    async fn finish(&self, load: Load) {
        load.mode.store(QUIET, Ordering::SeqCst);
        let deadline = Instant::now() + SETTLE;
        let mut before = Vec::new();
        let stored = loop {
            let stored = self.stored().await;
            // Settled twice in a row on the same store: writes queued before the sending
            // stopped may still be committing.
            let settled = load.checker.settled(&stored);
            if settled && stored.len() == before.len() || Instant::now() > deadline {
                break stored;
            }
            before = if settled { stored } else { Vec::new() };
            tokio::time::sleep(Duration::from_millis(300)).await;
        };
        load.mode.store(DONE, Ordering::SeqCst);
        for task in load.tasks {
            tokio::time::timeout(Duration::from_secs(20), task).await.expect("the client ends").unwrap();
        }
        let problems = load.checker.check(&stored);
        assert!(problems.is_empty(), "{} problems:\n{}", problems.len(), problems.join("\n"));
        let live: Vec<SocketAddr> = {
            let alive = self.alive.lock().unwrap();
            self.instances.iter().zip(alive.iter()).filter(|(_, a)| **a).map(|(i, _)| i.addr()).collect()
        };
        for (i, (_, token, _)) in self.people.iter().enumerate() {
            load.checker.check_resume(i, live[(i + 1) % live.len()], token).await;
        }
        eprintln!("{}", load.checker.summary(stored.len()));
        for instance in &self.instances {
            if let Instance::Process(d) = instance {
                let log = d.log();
                assert!(!log.contains("panicked"), "an instance panicked:\n{log}");
            }
        }
    }

    /// Every stored message: id, room, sender, text (retried while the database restarts).
    async fn stored(&self) -> Vec<Stored> {
        let url = self.url.clone();
        tokio::task::spawn_blocking(move || {
            for _ in 0..100 {
                let rows = postgres::Client::connect(&url, postgres::NoTls).and_then(|mut c| {
                    c.query(
                        "SELECT m.id, m.room_id, u.username, m.content FROM messages m \
                         JOIN users u ON u.id = m.sender_id ORDER BY m.id",
                        &[],
                    )
                });
                match rows {
                    Ok(rows) => {
                        return rows
                            .iter()
                            .map(|r| Stored { id: r.get(0), room: r.get(1), user: r.get(2), text: r.get(3) })
                            .collect()
                    }
                    Err(_) => std::thread::sleep(Duration::from_millis(200)),
                }
            }
            panic!("cannot read the stored messages");
        })
        .await
        .unwrap()
    }

    /// Runs `sql` on an administrative connection to the database.
    async fn admin(&self, sql: &'static str) -> Vec<postgres::Row> {
        let url = self.url.clone();
        tokio::task::spawn_blocking(move || {
            let mut admin = postgres::Client::connect(&url, postgres::NoTls).unwrap();
            admin.query(sql, &[]).unwrap()
        })
        .await
        .unwrap()
    }
}

#[derive(Debug, Clone)]
struct Stored {
    id: i64,
    room: i64,
    user: String,
    text: String,
}

// ---------------------------------------------------------------------------------------------
// Clients

const SEND: u8 = 0;
const QUIET: u8 = 1;
const DONE: u8 = 2;

struct Load {
    checker: Checker,
    /// SEND, then QUIET (keep reading), then DONE.
    mode: Arc<AtomicU8>,
    tasks: Vec<JoinHandle<()>>,
}

impl Load {
    /// Waits until every client has `n` more sends acknowledged than now (60 s at most): the
    /// chat goes on through every instance still up.
    async fn wait_acked(&self, n: usize) {
        let counts =
            || self.checker.records.iter().map(|r| r.lock().unwrap().acked.len()).collect::<Vec<_>>();
        let start = counts();
        let deadline = Instant::now() + Duration::from_secs(60);
        while counts().iter().zip(&start).any(|(now, before)| *now < before + n) {
            assert!(Instant::now() < deadline, "the load did not go on: {}", self.checker.summary(0));
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }
}

struct Client {
    name: String,
    token: String,
    rooms: Vec<i64>,
    home: usize,
    hop: Option<Duration>,
    addrs: Vec<SocketAddr>,
    alive: Arc<Mutex<Vec<bool>>>,
    mode: Arc<AtomicU8>,
    record: Arc<Mutex<Record>>,
}

impl Client {
    /// The first instance from `from` on that clients may use.
    fn next_alive(&self, from: usize) -> usize {
        let alive = self.alive.lock().unwrap();
        (from..from + alive.len()).map(|i| i % alive.len()).find(|i| alive[*i]).expect("an instance alive")
    }

    /// Connects (resuming with `?since=` the last id seen), sends and records until DONE;
    /// reconnects to the next live instance whenever the socket ends or it is time to hop.
    async fn run(self) {
        let mut at = self.home;
        let mut sent = 0usize;
        let mut failing_since: Option<Instant> = None;
        while self.mode.load(Ordering::SeqCst) != DONE {
            let since = self.record.lock().unwrap().last_id();
            let url = format!("ws://{}/ws?token={}&since={since}", self.addrs[at], self.token);
            let connected =
                tokio::time::timeout(Duration::from_secs(10), tokio_tungstenite::connect_async(url)).await;
            let ws = match connected {
                Ok(Ok((ws, _))) => ws,
                // A dead instance, or one whose database is down (503): try the next one.
                failed => {
                    let first = *failing_since.get_or_insert_with(Instant::now);
                    if first.elapsed() > Duration::from_secs(60) {
                        let why = match failed {
                            Ok(Err(e)) => e.to_string(),
                            _ => "handshake timed out".to_string(),
                        };
                        self.record.lock().unwrap().failure =
                            Some(format!("cannot reconnect for 60 s: {why}"));
                        return;
                    }
                    tokio::time::sleep(Duration::from_millis(200)).await;
                    at = self.next_alive(at + 1);
                    continue;
                }
            };
            failing_since = None;
            let session = {
                let mut record = self.record.lock().unwrap();
                record.sessions.push(Session { instance: at, ..Session::default() });
                record.sessions.len() - 1
            };
            let (mut sink, mut stream) = ws.split();
            let mut tick = tokio::time::interval(SEND_EVERY);
            let others = self.alive.lock().unwrap().iter().filter(|a| **a).count().saturating_sub(1).max(1);
            let hop = tokio::time::sleep(self.hop.map_or(Duration::MAX / 4, |h| h / others as u32));
            tokio::pin!(hop);
            let ended = loop {
                tokio::select! {
                    _ = &mut hop => {
                        let _ = sink.close().await;
                        break true;
                    }
                    frame = stream.next() => match frame {
                        Some(Ok(Message::Text(t))) => {
                            let v: Value = serde_json::from_str(&t).unwrap();
                            self.record.lock().unwrap().frame(&self.name, session, &v);
                        }
                        Some(Ok(Message::Close(_))) | Some(Err(_)) | None => break true,
                        Some(Ok(_)) => {}
                    },
                    _ = tick.tick() => match self.mode.load(Ordering::SeqCst) {
                        SEND => {
                            let text = format!("{} {sent}", self.name);
                            let room = self.rooms[sent % self.rooms.len()];
                            sent += 1;
                            self.record.lock().unwrap().sending(session, &text);
                            let frame = json!({ "type": "message", "room": room, "text": text }).to_string();
                            if sink.send(Message::Text(frame.into())).await.is_err() {
                                break true;
                            }
                        }
                        DONE => {
                            let _ = sink.close().await;
                            break false;
                        }
                        _ => {}
                    },
                }
            };
            if ended {
                self.record.lock().unwrap().sessions[session].ended = true;
                at = self.next_alive(at + 1);
            }
        }
    }
}

// ---------------------------------------------------------------------------------------------
// The checker

/// One socket of a client, from its handshake to its end.
#[derive(Default, Debug)]
struct Session {
    instance: usize,
    /// Message frames in arrival order, history included: (id, room).
    frames: Vec<(i64, i64)>,
    sent: usize,
    acked: usize,
    errors: Vec<String>,
    /// It ended before the client was done (an instance killed, or the client moved on): its
    /// unanswered sends are in doubt.
    ended: bool,
}

/// What one client did and saw.
#[derive(Default)]
struct Record {
    name: String,
    sessions: Vec<Session>,
    /// Sends not acknowledged yet: text -> session.
    pending: HashMap<String, usize>,
    /// Acknowledged sends: (id, room).
    acked: Vec<(i64, i64)>,
    /// Every message seen: id -> (room, sender, text).
    seen: BTreeMap<i64, (i64, String, String)>,
    failure: Option<String>,
}

impl Record {
    fn last_id(&self) -> i64 {
        self.sessions.iter().flat_map(|s| s.frames.last()).map(|f| f.0).max().unwrap_or(0)
    }

    fn sending(&mut self, session: usize, text: &str) {
        self.sessions[session].sent += 1;
        self.pending.insert(text.to_string(), session);
    }

    fn frame(&mut self, me: &str, session: usize, v: &Value) {
        match v["type"].as_str() {
            Some("message") => {
                let (id, room) = (v["id"].as_i64().unwrap(), v["room"].as_i64().unwrap());
                let (user, text) =
                    (v["user"].as_str().unwrap().to_string(), v["text"].as_str().unwrap().to_string());
                self.sessions[session].frames.push((id, room));
                if user == me {
                    if let Some(at) = self.pending.remove(&text) {
                        self.sessions[at].acked += 1;
                        self.acked.push((id, room));
                    }
                }
                let this = (room, user, text);
                if let Some(before) = self.seen.insert(id, this.clone()) {
                    if before != this && self.failure.is_none() {
                        self.failure = Some(format!("id {id} was {before:?} and then {this:?}"));
                    }
                }
            }
            Some("error") => self.sessions[session].errors.push(v["detail"].to_string()),
            Some("warning" | "blocked" | "expired") => self.failure = Some(format!("unexpected frame {v}")),
            _ => {}
        }
    }

    /// Everything received, in arrival order over all sockets.
    fn received(&self) -> impl Iterator<Item = &(i64, i64)> {
        self.sessions.iter().flat_map(|s| s.frames.iter())
    }

    /// Sends on sockets still open that got neither an echo nor an error: a silent loss, or
    /// not answered yet.
    fn unanswered(&self) -> usize {
        self.sessions
            .iter()
            .filter(|s| !s.ended)
            .map(|s| s.sent.saturating_sub(s.acked + s.errors.len()))
            .sum()
    }
}

/// Per client what it received and what was acknowledged, and who is in which conversation.
struct Checker {
    records: Vec<Arc<Mutex<Record>>>,
    members: BTreeMap<i64, BTreeSet<String>>,
}

impl Checker {
    fn is_member(&self, room: &i64, name: &str) -> bool {
        self.members.get(room).is_some_and(|m| m.contains(name))
    }

    /// The stored ids of each conversation, in order.
    fn by_room(stored: &[Stored]) -> BTreeMap<i64, Vec<i64>> {
        let mut rooms: BTreeMap<i64, Vec<i64>> = BTreeMap::new();
        for m in stored {
            rooms.entry(m.room).or_default().push(m.id);
        }
        rooms
    }

    /// Whether every member has received everything stored in its conversations and every
    /// send on an open socket was answered.
    fn settled(&self, stored: &[Stored]) -> bool {
        let rooms = Self::by_room(stored);
        self.records.iter().all(|r| {
            let r = r.lock().unwrap();
            let got: BTreeSet<i64> = r.received().map(|f| f.0).collect();
            r.unanswered() == 0
                && rooms
                    .iter()
                    .filter(|(room, _)| self.is_member(room, &r.name))
                    .all(|(_, ids)| ids.iter().all(|id| got.contains(id)))
        })
    }

    /// Everything the issue asks, as a list of what is wrong.
    fn check(&self, stored: &[Stored]) -> Vec<String> {
        let mut problems = Vec::new();
        let rooms = Self::by_room(stored);
        let by_id: BTreeMap<i64, &Stored> = stored.iter().map(|m| (m.id, m)).collect();
        for record in &self.records {
            let r = record.lock().unwrap();
            let name = &r.name;
            if let Some(f) = &r.failure {
                problems.push(format!("{name}: {f}"));
            }
            for (n, s) in r.sessions.iter().enumerate() {
                if let Some(w) = s.frames.windows(2).find(|w| w[0].0 >= w[1].0) {
                    problems.push(format!(
                        "{name}: socket {n} (instance {}): id {} after {}",
                        s.instance, w[1].0, w[0].0
                    ));
                }
            }
            let mut once = BTreeSet::new();
            for (id, room) in r.received() {
                if !once.insert(*id) {
                    problems.push(format!("{name}: id {id} received twice"));
                }
                if !self.is_member(room, name) {
                    problems.push(format!("{name}: got id {id} of room {room}, which it is not in"));
                }
            }
            // Exactly what is stored, in the one order: no gap, nothing extra, nothing twice.
            for (room, ids) in rooms.iter().filter(|(room, _)| self.is_member(room, name)) {
                let got: Vec<i64> = r.received().filter(|f| f.1 == *room).map(|f| f.0).collect();
                if got != *ids {
                    let missing: Vec<&i64> = ids.iter().filter(|i| !got.contains(i)).collect();
                    let extra: Vec<&i64> = got.iter().filter(|i| !ids.contains(i)).collect();
                    problems.push(format!(
                        "{name}: room {room} differs from the store: missing {missing:?}, not stored {extra:?}, {} received, {} stored",
                        got.len(),
                        ids.len()
                    ));
                }
            }
            for (id, room) in &r.acked {
                if by_id.get(id).is_none_or(|m| m.room != *room) {
                    problems.push(format!("{name}: acknowledged id {id} (room {room}) is not stored"));
                }
            }
            for (id, (room, user, text)) in &r.seen {
                if let Some(m) = by_id.get(id) {
                    if (m.room, &m.user, &m.text) != (*room, user, text) {
                        problems.push(format!(
                            "{name}: id {id} shown as {room}/{user}/{text:?}, stored as {m:?}"
                        ));
                    }
                }
            }
            if r.unanswered() > 0 {
                problems.push(format!(
                    "{name}: {} sends on an open socket got neither an echo nor an error",
                    r.unanswered()
                ));
            }
        }
        problems
    }

    /// Client `i` resumes on `addr` from the middle of what it received: the history is exactly
    /// what came after, in the same order.
    async fn check_resume(&self, i: usize, addr: SocketAddr, token: &str) {
        let (name, expected_after) = {
            let r = self.records[i].lock().unwrap();
            let all: Vec<i64> = r.received().map(|f| f.0).collect();
            let Some(middle) = all.get(all.len() / 2).copied() else { return };
            (r.name.clone(), (middle, all.into_iter().filter(|id| *id > middle).collect::<Vec<_>>()))
        };
        let (middle, expected) = expected_after;
        let url = format!("ws://{addr}/ws?token={token}&since={middle}");
        let (ws, _) = tokio_tungstenite::connect_async(url).await.expect("websocket connects");
        let mut client = common::WsClient { ws, rooms: Value::Null };
        let mut history = Vec::new();
        loop {
            let v = client.next_json().await.expect("history frame");
            match v["type"].as_str() {
                Some("presence") => break,
                Some("message") => history.push(v["id"].as_i64().unwrap()),
                _ => {}
            }
        }
        assert_eq!(history, expected, "{name} resuming after {middle} on {addr}");
    }

    fn summary(&self, stored: usize) -> String {
        let mut out = format!("{stored} stored;");
        for record in &self.records {
            let r = record.lock().unwrap();
            let sent: usize = r.sessions.iter().map(|s| s.sent).sum();
            let errors: usize = r.sessions.iter().map(|s| s.errors.len()).sum();
            out.push_str(&format!(
                " {}: {} sockets, {sent} sent, {} acked, {errors} errors, {} received;",
                r.name,
                r.sessions.len(),
                r.acked.len(),
                r.received().count()
            ));
        }
        out
    }
}

// ---------------------------------------------------------------------------------------------
// Scenarios

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn kill_9_of_one_instance_its_clients_resume_on_another_and_nothing_acknowledged_is_lost() {
    let _serial = SERIAL.lock().await;
    let Some(mut cluster) = Cluster::start(true).await else { return };
    let load = cluster.load(Some(HOP));
    load.wait_acked(400).await;
    cluster.alive.lock().unwrap()[1] = false;
    let Instance::Process(daemon) = &mut cluster.instances[1] else { unreachable!() };
    daemon.child.kill().unwrap();
    daemon.child.wait().unwrap();
    load.wait_acked(400).await;
    cluster.finish(load).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn postgres_stopped_hard_and_started_again_under_three_instances() {
    let _serial = SERIAL.lock().await;
    let Some(cluster) = Cluster::start(true).await else { return };
    let pg = common::pg::cluster().expect("the cluster is up");
    let load = cluster.load(None);
    load.wait_acked(100).await;
    tokio::task::spawn_blocking(|| pg.stop_immediate()).await.unwrap();
    // Longer than a call waits for a connection (5 s): sends fail with an error frame rather
    // than wait for the database to come back.
    tokio::time::sleep(Duration::from_secs(7)).await;
    tokio::task::spawn_blocking(|| pg.start_again()).await.unwrap();
    // Back by themselves: messages are acknowledged again.
    load.wait_acked(100).await;
    let errors: usize = load
        .checker
        .records
        .iter()
        .map(|r| r.lock().unwrap().sessions.iter().map(|s| s.errors.len()).sum::<usize>())
        .sum();
    assert!(errors > 0, "sends during the outage were answered with an error");
    cluster.finish(load).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn listening_connections_killed_under_load_delay_nothing_and_lose_nothing() {
    let _serial = SERIAL.lock().await;
    let Some(cluster) = Cluster::start(false).await else { return };
    let load = cluster.load(Some(HOP));
    load.wait_acked(100).await;
    for _ in 0..3 {
        let killed = cluster
            .admin(
                "SELECT pg_terminate_backend(pid) FROM pg_stat_activity \
                 WHERE application_name = 'chatterbox-listen' AND datname = current_database()",
            )
            .await;
        assert_eq!(killed.len(), 3, "one listening connection per instance");
        // The tailers never poll here: only a notification after reconnecting delivers.
        load.wait_acked(100).await;
    }
    cluster.finish(load).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_slow_commit_holding_the_log_counter_while_the_others_write() {
    let _serial = SERIAL.lock().await;
    let Some(cluster) = Cluster::start(false).await else { return };
    let load = cluster.load(Some(HOP));
    load.wait_acked(100).await;

    // Another session holds the counter row for two seconds: every writer waits for it.
    let url = cluster.url.clone();
    let holder = tokio::task::spawn_blocking(move || {
        let mut admin = postgres::Client::connect(&url, postgres::NoTls).unwrap();
        let mut tx = admin.transaction().unwrap();
        tx.query("SELECT next FROM log_counter WHERE id = 1 FOR UPDATE", &[]).unwrap();
        std::thread::sleep(Duration::from_secs(2));
        tx.commit().unwrap();
    });
    holder.await.unwrap();
    load.wait_acked(100).await;

    // One instance's own commits turn slow (ann writes through instance 0): each tenth of her
    // messages keeps its transaction, and the counter, for 300 ms.
    cluster
        .admin(
            "CREATE FUNCTION slow_commit() RETURNS trigger LANGUAGE plpgsql AS $$ BEGIN \
               IF NEW.content LIKE 'ann %7' THEN PERFORM pg_sleep(0.3); END IF; RETURN NEW; END $$",
        )
        .await;
    cluster
        .admin("CREATE TRIGGER slow_commit BEFORE INSERT ON messages FOR EACH ROW EXECUTE FUNCTION slow_commit()")
        .await;
    load.wait_acked(50).await;
    cluster.admin("DROP TRIGGER slow_commit ON messages").await;
    cluster.finish(load).await;
}
