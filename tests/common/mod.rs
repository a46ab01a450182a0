//! Test harness: starts a real chatterbox server on 127.0.0.1:0 over a temporary database, and
//! gives real HTTP and WebSocket clients for it.
//!
//! The database is a temporary SQLite file, or a fresh database on the test binary's own
//! PostgreSQL cluster (`pg.rs`) for a test's PostgreSQL twin (`postgres_too!`), with
//! `Options::postgres`, or everywhere with `CHATTERBOX_TEST_BACKEND=postgres`: the same HTTP and
//! WebSocket tests run against both backends.
#![allow(dead_code)]

pub mod cli;
pub mod pg;

use std::{net::SocketAddr, path::PathBuf, sync::Arc, time::Duration};

use chatterbox::{
    chat::{moderation::Matcher, Chat, ChatConfig, Secret},
    http::{AppState, HttpConfig},
    server::ServerConfig,
    store::{PgStore, SqliteStore, Store},
};
use futures_util::{SinkExt, StreamExt};
use serde_json::{json, Value};
use tokio::{net::TcpStream, sync::oneshot, task::JoinHandle};
use tokio_tungstenite::{tungstenite::Message, MaybeTlsStream, WebSocketStream};
use tokio_util::{sync::CancellationToken, task::TaskTracker};

pub const PASSWORD: &str = "correct horse";

/// Settings for one test server; `Default` is fast (bcrypt cost 4) and has no auth rate limit.
pub struct Options {
    pub chat: ChatConfig,
    pub http: HttpConfig,
    pub server: ServerConfig,
    pub db: Option<PathBuf>,
    /// Run on PostgreSQL (a new database of the test cluster) instead of SQLite; defaults to
    /// `CHATTERBOX_TEST_BACKEND=postgres`. Ignored when `db` names a file.
    pub postgres: bool,
    /// Run on this PostgreSQL database (another server's `database_url`: several instances).
    pub database_url: Option<String>,
}

impl Default for Options {
    fn default() -> Self {
        Options {
            chat: ChatConfig { bcrypt_cost: 4, auth_rate: None, ..ChatConfig::default() },
            http: HttpConfig::default(),
            server: ServerConfig::default(),
            db: None,
            postgres: ON_POSTGRES.get()
                || std::env::var("CHATTERBOX_TEST_BACKEND").is_ok_and(|b| b == "postgres"),
            database_url: None,
        }
    }
}

thread_local! {
    /// Set while a test runs as its PostgreSQL twin (`postgres_too!`): the servers it starts on
    /// this thread (the test's own, where `#[tokio::test]` runs its body) use PostgreSQL.
    static ON_POSTGRES: std::cell::Cell<bool> = const { std::cell::Cell::new(false) };
}

/// Runs a test (a `#[tokio::test]` function, which is a plain function once expanded) with its
/// servers on PostgreSQL; does nothing when PostgreSQL is skipped (`CHATTERBOX_SKIP_POSTGRES=1`).
pub fn on_postgres(test: fn()) {
    if pg::cluster().is_none() {
        return;
    }
    /// Puts the thread back on SQLite however the test ends (the harness reuses threads).
    struct Reset;
    impl Drop for Reset {
        fn drop(&mut self) {
            ON_POSTGRES.set(false);
        }
    }
    let _reset = Reset;
    ON_POSTGRES.set(true);
    test();
}

/// Every test of a suite also runs on PostgreSQL, as `on_postgres::<name>`; the tests after
/// `sqlite_only:` check something only SQLite has (a file, its CLI paths), and are named so that
/// `tests/generated.rs` can check that no test of the suite is forgotten.
#[allow(unused_macros)] // Suites that do not run on both stores include this module too.
macro_rules! postgres_too {
    ($($name:ident),* $(,)? $(; sqlite_only: $($only:ident),* $(,)?)?) => {
        /// The same tests, with their servers on PostgreSQL.
        mod on_postgres {
            $(#[test] fn $name() { crate::common::on_postgres(super::$name) })*
        }
    };
}
#[allow(unused_imports)]
pub(crate) use postgres_too;

pub struct TestServer {
    pub addr: SocketAddr,
    pub base: String,
    pub db: PathBuf,
    /// The PostgreSQL database the server runs on, if it does (then `db` is unused).
    pub database_url: Option<String>,
    pub chat: Arc<Chat>,
    pub http: reqwest::Client,
    dir: Option<tempfile::TempDir>,
    stop: Option<oneshot::Sender<()>>,
    handle: Option<JoinHandle<std::io::Result<()>>>,
}

pub async fn start() -> TestServer {
    start_with(Options::default()).await
}

pub async fn start_with(opts: Options) -> TestServer {
    assert!(
        !(ON_POSTGRES.get() && opts.db.is_some()),
        "a test's PostgreSQL twin asked for a SQLite file: list the test after `sqlite_only:`"
    );
    let (dir, db) = match opts.db {
        Some(db) => (None, db),
        None => {
            let dir = tempfile::tempdir().unwrap();
            let db = dir.path().join("chat.db");
            (Some(dir), db)
        }
    };
    let path = db.clone();
    let database_url = if opts.database_url.is_some() {
        opts.database_url
    } else if opts.postgres && dir.is_some() {
        Some(tokio::task::spawn_blocking(pg::database).await.unwrap().expect(
            "CHATTERBOX_TEST_BACKEND=postgres needs PostgreSQL (and cannot be combined with CHATTERBOX_SKIP_POSTGRES)",
        ))
    } else {
        None
    };
    let url = database_url.clone();
    let chat_config = opts.chat;
    let chat = tokio::task::spawn_blocking(move || {
        let store: Arc<dyn Store> = match url {
            Some(url) => Arc::new(PgStore::open_and_migrate(&url).unwrap().0),
            None => Arc::new(SqliteStore::open_and_migrate(&path).unwrap().0),
        };
        Chat::start(store, chat_config, Secret::Stored, Matcher::default_terms()).unwrap()
    })
    .await
    .unwrap();
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let state = Arc::new(AppState {
        chat: Arc::clone(&chat),
        http: opts.http,
        shutdown: CancellationToken::new(),
        sockets: TaskTracker::new(),
    });
    let (stop, stopped) = oneshot::channel::<()>();
    let handle = tokio::spawn(chatterbox::server::run(listener, state, opts.server, async {
        let _ = stopped.await;
    }));
    TestServer {
        addr,
        base: format!("http://{addr}"),
        db,
        database_url,
        chat,
        http: reqwest::Client::new(),
        dir,
        stop: Some(stop),
        handle: Some(handle),
    }
}

pub struct Account {
    pub id: i64,
    pub username: String,
    pub token: String,
}

impl TestServer {
    pub fn url(&self, path: &str) -> String {
        format!("{}{}", self.base, path)
    }

    /// The global options that point the operator CLI at this server's database.
    pub fn db_args(&self) -> Vec<String> {
        match &self.database_url {
            Some(url) => vec!["--database-url".to_string(), url.clone()],
            None => vec!["--db".to_string(), self.db.to_str().unwrap().to_string()],
        }
    }

    /// Registers `name` (e-mail `name@example.com`, password `PASSWORD`).
    pub async fn register(&self, name: &str) -> Account {
        let resp = self
            .http
            .post(self.url("/register"))
            .json(&json!({ "username": name, "email": format!("{name}@example.com"), "password": PASSWORD }))
            .send()
            .await
            .unwrap();
        assert_eq!(resp.status(), 201, "register {name}");
        let body: Value = resp.json().await.unwrap();
        Account {
            id: body["user"]["id"].as_i64().unwrap(),
            username: name.to_string(),
            token: body["access_token"].as_str().unwrap().to_string(),
        }
    }

    /// Registers `name` and makes it an admin directly in the store (as `make-admin` would).
    pub async fn register_admin(&self, name: &str) -> Account {
        let acc = self.register(name).await;
        let store = Arc::clone(self.chat.store());
        let id = acc.id;
        tokio::task::spawn_blocking(move || store.set_admin(id, true).unwrap()).await.unwrap();
        acc
    }

    pub async fn get(&self, path: &str, token: Option<&str>) -> reqwest::Response {
        let mut req = self.http.get(self.url(path));
        if let Some(t) = token {
            req = req.bearer_auth(t);
        }
        req.send().await.unwrap()
    }

    pub async fn post(&self, path: &str, token: Option<&str>, body: Option<Value>) -> reqwest::Response {
        let mut req = self.http.post(self.url(path));
        if let Some(t) = token {
            req = req.bearer_auth(t);
        }
        if let Some(b) = body {
            req = req.json(&b);
        }
        req.send().await.unwrap()
    }

    /// Opens the chat WebSocket with `?token=` (and `since`), and reads up to and including the
    /// `presence` frame that ends the history; returns the client and the history frames.
    pub async fn connect(&self, token: &str, since: Option<i64>) -> (WsClient, Vec<Value>) {
        let mut url = format!("ws://{}/ws?token={token}", self.addr);
        if let Some(s) = since {
            url.push_str(&format!("&since={s}"));
        }
        self.try_connect(url).await.expect("websocket connects")
    }

    /// Stops the server gracefully and waits for it.
    pub async fn stop(mut self) {
        self.shutdown().await;
    }

    pub async fn shutdown(&mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
        if let Some(h) = self.handle.take() {
            h.await.unwrap().unwrap();
        }
    }

    /// Keeps the temporary folder alive past `stop` (to restart on the same database).
    pub fn keep_dir(&mut self) -> Option<tempfile::TempDir> {
        self.dir.take()
    }
}

pub struct WsClient {
    pub ws: WebSocketStream<MaybeTlsStream<TcpStream>>,
    /// The `rooms` frame the server sent after the history (Null before it arrived).
    pub rooms: Value,
}

#[derive(Debug)]
pub enum Next {
    Json(Value),
    Closed(Option<u16>, String),
}

impl WsClient {
    pub async fn send_text(&mut self, text: &str) {
        self.send_json(json!({ "type": "message", "text": text })).await;
    }

    pub async fn send_json(&mut self, v: Value) {
        self.ws.send(Message::Text(v.to_string().into())).await.unwrap();
    }

    pub async fn send_raw(&mut self, m: Message) {
        self.ws.send(m).await.unwrap();
    }

    /// Next text frame as JSON, or the close code; skips pings. Panics after 10 s of silence.
    pub async fn next(&mut self) -> Next {
        loop {
            let msg = tokio::time::timeout(Duration::from_secs(10), self.ws.next())
                .await
                .expect("a frame within 10 s");
            match msg {
                Some(Ok(Message::Text(t))) => return Next::Json(serde_json::from_str(&t).unwrap()),
                Some(Ok(Message::Close(c))) => {
                    return Next::Closed(
                        c.as_ref().map(|c| u16::from(c.code)),
                        c.map(|c| c.reason.to_string()).unwrap_or_default(),
                    )
                }
                Some(Ok(_)) => continue,
                Some(Err(_)) | None => return Next::Closed(None, String::new()),
            }
        }
    }

    pub async fn next_json(&mut self) -> Option<Value> {
        match self.next().await {
            Next::Json(v) => Some(v),
            Next::Closed(..) => None,
        }
    }

    /// Skips join/leave frames; returns the next frame of another type.
    pub async fn next_non_presence(&mut self) -> Option<Value> {
        loop {
            let v = self.next_json().await?;
            if v["type"] != "join" && v["type"] != "leave" {
                return Some(v);
            }
        }
    }

    /// Expects the server to close the socket; returns the close code.
    pub async fn expect_close(&mut self) -> Option<u16> {
        loop {
            match self.next().await {
                Next::Json(_) => continue,
                Next::Closed(code, _) => return code,
            }
        }
    }
}

// ---- Helpers shared by tests/api.rs, tests/chat.rs and tests/lifecycle.rs ----

/// `Options::default()` with the per-connection message rate limit effectively off, for tests
/// that send many messages over one socket.
pub fn unthrottled() -> Options {
    let mut opts = Options::default();
    opts.chat.message_rate = chatterbox::chat::ratelimit::Rate::new(1_000_000.0, 1_000_000.0);
    opts
}

impl TestServer {
    /// `ws://addr` + `path_and_query`.
    pub fn ws_url(&self, path_and_query: &str) -> String {
        format!("ws://{}{}", self.addr, path_and_query)
    }

    /// Opens a WebSocket with a prepared request (URL or request with headers) and reads the
    /// history up to and including `presence`; the error is the handshake's.
    pub async fn try_connect<R>(
        &self,
        req: R,
    ) -> Result<(WsClient, Vec<Value>), tokio_tungstenite::tungstenite::Error>
    where
        R: tokio_tungstenite::tungstenite::client::IntoClientRequest + Unpin,
    {
        let (ws, _) = tokio_tungstenite::connect_async(req).await?;
        let mut client = WsClient { ws, rooms: Value::Null };
        let mut history = Vec::new();
        loop {
            let frame = client.next_json().await.expect("history frame");
            if frame["type"] == "presence" {
                break;
            }
            if frame["type"] == "rooms" {
                client.rooms = frame;
                continue;
            }
            history.push(frame);
        }
        Ok((client, history))
    }

    /// The handshake status of a WebSocket request the server must refuse.
    pub async fn refused_status<R>(&self, req: R) -> u16
    where
        R: tokio_tungstenite::tungstenite::client::IntoClientRequest + Unpin,
    {
        match tokio_tungstenite::connect_async(req).await {
            Err(tokio_tungstenite::tungstenite::Error::Http(resp)) => resp.status().as_u16(),
            Err(e) => panic!("expected an HTTP refusal, got {e}"),
            Ok(_) => panic!("expected the handshake to be refused"),
        }
    }

    /// The token-signing secret the server uses (as stored in its database).
    pub async fn jwt_secret(&self) -> String {
        let store = Arc::clone(self.chat.store());
        tokio::task::spawn_blocking(move || store.setting_or_insert("jwt_secret", "x").unwrap())
            .await
            .unwrap()
    }
}

impl WsClient {
    /// Sends a chat message and waits for its echo (the acknowledgement), skipping other
    /// frames; panics on an error or warning frame. Texts must be unique within a test.
    pub async fn send_acked(&mut self, text: &str) -> Value {
        self.send_text(text).await;
        loop {
            let v = self.next_json().await.expect("the echo of a sent message");
            match v["type"].as_str() {
                Some("message") if v["text"] == text.trim() => return v,
                Some("error" | "warning" | "blocked") => panic!("{text:?} was not accepted: {v}"),
                _ => continue,
            }
        }
    }

    /// The next `message` frame, skipping every other type; None once the socket closed.
    pub async fn next_message(&mut self) -> Option<Value> {
        loop {
            let v = self.next_json().await?;
            if v["type"] == "message" {
                return Some(v);
            }
        }
    }
}

// ---- Helpers shared by tests/attacks.rs and tests/faults.rs ----

impl TestServer {
    /// Creates `name` (e-mail `name@example.com`, password `PASSWORD`) directly in the store and
    /// signs a token for it as a login would: no HTTP request, so no rate-limit token is spent
    /// and no connection is left in the client's pool.
    pub async fn account_in_store(&self, name: &str) -> Account {
        let store = Arc::clone(self.chat.store());
        let username = name.to_string();
        let user = tokio::task::spawn_blocking(move || {
            let email = format!("{username}@example.com");
            let new = chatterbox::chat::accounts::NewAccount {
                username: &username,
                email: &email,
                password: PASSWORD,
                is_admin: false,
            };
            chatterbox::chat::accounts::create_account(&*store, &new, 4).unwrap()
        })
        .await
        .unwrap();
        let token = self.chat.issue_token(&user).unwrap();
        Account { id: user.id, username: user.username, token }
    }
}

impl WsClient {
    /// Like `next`, but waits up to `wait` instead of 10 s; None if nothing came in time.
    pub async fn next_within(&mut self, wait: Duration) -> Option<Next> {
        let deadline = tokio::time::Instant::now() + wait;
        loop {
            let msg = tokio::time::timeout_at(deadline, self.ws.next()).await.ok()?;
            return Some(match msg {
                Some(Ok(Message::Text(t))) => Next::Json(serde_json::from_str(&t).unwrap()),
                Some(Ok(Message::Close(c))) => Next::Closed(
                    c.as_ref().map(|c| u16::from(c.code)),
                    c.map(|c| c.reason.to_string()).unwrap_or_default(),
                ),
                Some(Ok(_)) => continue,
                Some(Err(_)) | None => Next::Closed(None, String::new()),
            });
        }
    }
}

// ---- Shared by tests/faults.rs and tests/cluster_faults.rs ----

/// Reads a spawned `chatterbox serve`'s stderr for the whole life of the process (so logging
/// never blocks it) into a shared log; sends the address of each `listening on http://ADDR`.
pub fn drain_log(
    stderr: std::process::ChildStderr,
) -> (Arc<std::sync::Mutex<String>>, std::sync::mpsc::Receiver<String>) {
    use std::io::BufRead;
    let log = Arc::new(std::sync::Mutex::new(String::new()));
    let sink = Arc::clone(&log);
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        for line in std::io::BufReader::new(stderr).lines() {
            let Ok(line) = line else { break };
            let rest = line.split("listening on http://").nth(1);
            if let Some(rest) = rest.or_else(|| line.split("listening on https://").nth(1)) {
                let _ = tx.send(rest.split_whitespace().next().unwrap_or("").to_string());
            }
            let mut log = sink.lock().unwrap();
            log.push_str(&line);
            log.push('\n');
        }
    });
    (log, rx)
}
