//! Attacks on a running server, from the issue "the server stays responsive for everyone else and
//! its memory bounded": registration floods and password guessing against the auth rate limits,
//! connection churn (descriptors come back), slowloris and stalled handshakes, the connection cap,
//! SQL injection and stored XSS in every field, look-alike usernames, the pages' security headers
//! and cross-site use of a session, and a message flood next to a quiet client.
//!
//! Every address in 127.0.0.0/8 reaches a server listening on 127.0.0.1, so requests bound to
//! 127.0.0.2, 127.0.0.3, ... come, as far as the server can tell, from other machines: that is how
//! the per-address and the per-account limits are told apart. That, and counting descriptors in
//! /proc/self/fd, is Linux: the file is compiled there only.

#![cfg(target_os = "linux")]

mod common;

use std::{
    net::{IpAddr, Ipv4Addr, SocketAddr},
    time::{Duration, Instant},
};

use chatterbox::{chat::ratelimit::Rate, http::proxy::TrustedProxies, store::UserFilter};
use common::{Next, Options, TestServer, WsClient, PASSWORD};
use futures_util::future::join_all;
use reqwest::header::HeaderMap;
use serde_json::{json, Value};
use tokio::{
    io::{AsyncReadExt, AsyncWriteExt},
    net::TcpStream,
    sync::{RwLock, RwLockReadGuard, RwLockWriteGuard},
};
use tokio_tungstenite::tungstenite::{client::IntoClientRequest, http::HeaderValue};

// ---------------------------------------------------------------------------------------------
// Helpers

/// The tests of this binary share one process, and `socket_count` sees every test's sockets: the
/// test that counts descriptors runs alone, the others run together.
static PROCESS: RwLock<()> = RwLock::const_new(());

async fn shared() -> RwLockReadGuard<'static, ()> {
    PROCESS.read().await
}

async fn alone() -> RwLockWriteGuard<'static, ()> {
    PROCESS.write().await
}

/// Open file descriptors of this process, which runs the server too.
fn fd_count() -> usize {
    std::fs::read_dir("/proc/self/fd").expect("/proc/self/fd").count()
}

/// Open sockets of this process (client and server ends): the descriptors a leaked connection
/// would hold. The others are mostly the store's SQLite files, whose pool is bounded apart.
fn socket_count() -> usize {
    std::fs::read_dir("/proc/self/fd")
        .expect("/proc/self/fd")
        .filter_map(|e| std::fs::read_link(e.ok()?.path()).ok())
        .filter(|target| target.to_string_lossy().starts_with("socket:"))
        .count()
}

/// Polls until at most `limit` sockets are open (30 s at most); returns the last count.
async fn sockets_fall_to(limit: usize) -> usize {
    let mut count = socket_count();
    for _ in 0..300 {
        if count <= limit {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
        count = socket_count();
    }
    count
}

/// The socket count once it stopped changing (two equal readings 200 ms apart; 10 s at most).
async fn settled_socket_count() -> usize {
    let mut last = socket_count();
    for _ in 0..50 {
        tokio::time::sleep(Duration::from_millis(200)).await;
        let now = socket_count();
        if now == last {
            break;
        }
        last = now;
    }
    last
}

/// An HTTP client whose connections come from `127.0.0.{n}`: another address to the server.
fn client_from(n: u8) -> reqwest::Client {
    reqwest::Client::builder()
        .local_address(IpAddr::V4(Ipv4Addr::new(127, 0, 0, n)))
        .build()
        .expect("an HTTP client")
}

/// Status, `Retry-After` and JSON body of an answer.
#[derive(Debug)]
struct Answer {
    status: u16,
    retry_after: Option<u64>,
    body: Value,
}

async fn answer(resp: reqwest::Response) -> Answer {
    let status = resp.status().as_u16();
    let retry_after = resp
        .headers()
        .get("retry-after")
        .map(|v| v.to_str().unwrap().parse().expect("Retry-After in whole seconds"));
    let ctype = resp.headers().get("content-type").map(|v| v.to_str().unwrap().to_string());
    assert_eq!(ctype.as_deref(), Some("application/json"), "status {status}");
    Answer { status, retry_after, body: resp.json().await.expect("a JSON body") }
}

async fn register_from(
    client: &reqwest::Client,
    server: &TestServer,
    username: &str,
    email: &str,
    password: &str,
) -> Answer {
    let body = json!({ "username": username, "email": email, "password": password });
    answer(client.post(server.url("/register")).json(&body).send().await.unwrap()).await
}

/// Registers `name` with the e-mail `name@example.com` and `PASSWORD`.
async fn register_name(client: &reqwest::Client, server: &TestServer, name: &str) -> Answer {
    register_from(client, server, name, &format!("{name}@example.com"), PASSWORD).await
}

async fn login_from(client: &reqwest::Client, server: &TestServer, login: &str, password: &str) -> Answer {
    let body = json!({ "username": login, "password": password });
    answer(client.post(server.url("/login")).json(&body).send().await.unwrap()).await
}

/// A 429 with a `Retry-After` of at least a second and a reason.
fn assert_limited(a: &Answer) {
    assert_eq!(a.status, 429, "{a:?}");
    assert!(a.retry_after.is_some_and(|s| s >= 1), "{a:?}");
    assert!(a.body["detail"].as_str().is_some_and(|d| !d.is_empty()), "{a:?}");
}

/// A 422 that names the username field.
fn assert_bad_username(a: &Answer, name: &str) {
    assert_eq!(a.status, 422, "{name:?}: {a:?}");
    assert_eq!(a.body["field"], "username", "{name:?}: {a:?}");
}

/// `from` says `text`; it is acknowledged and `to` receives the same frame.
async fn relay(from: &mut WsClient, to: &mut WsClient, text: &str) -> Value {
    let sent = from.send_acked(text).await;
    assert_eq!(to.next_message().await.expect("the other client receives it"), sent);
    sent
}

async fn user_count(server: &TestServer) -> usize {
    server.chat.list_users(UserFilter::default()).await.unwrap().len()
}

/// Opens `n` chat WebSockets at once and drops them right after the handshake, half with a
/// close frame and half by just going away.
async fn websocket_churn(server: &TestServer, token: &str, n: usize) {
    let url = server.ws_url(&format!("/ws?token={token}"));
    let opened = join_all((0..n).map(|_| tokio_tungstenite::connect_async(url.clone()))).await;
    for (i, ws) in opened.into_iter().enumerate() {
        let (mut ws, _) = ws.expect("handshake");
        if i % 2 == 0 {
            let _ = ws.close(None).await;
        }
    }
}

/// What a slow client saw before it stopped.
#[derive(Debug)]
struct Slow {
    closed_by_server: bool,
    sent: usize,
    received: String,
}

/// Connects, writes `prefix` at once, then `trickle` one byte a second, and watches for the
/// server to close the connection; gives up, still open, after `limit`.
async fn slow_client(addr: SocketAddr, prefix: Vec<u8>, trickle: Vec<u8>, limit: Duration) -> Slow {
    let mut stream = TcpStream::connect(addr).await.expect("connect");
    stream.write_all(&prefix).await.expect("write the prefix");
    slow_stream(stream, prefix.len(), trickle, limit).await
}

async fn slow_stream(mut stream: TcpStream, mut sent: usize, trickle: Vec<u8>, limit: Duration) -> Slow {
    let deadline = Instant::now() + limit;
    let mut received = Vec::new();
    let mut next = trickle.iter();
    let mut buf = [0u8; 4096];
    let closed_by_server = loop {
        tokio::select! {
            r = stream.read(&mut buf) => match r {
                Ok(0) | Err(_) => break true,
                Ok(n) => received.extend_from_slice(&buf[..n]),
            },
            _ = tokio::time::sleep(Duration::from_secs(1)) => {
                if Instant::now() >= deadline {
                    break false;
                }
                if let Some(b) = next.next() {
                    if stream.write_all(&[*b]).await.is_err() {
                        break true;
                    }
                    sent += 1;
                }
            }
        }
    };
    Slow { closed_by_server, sent, received: String::from_utf8_lossy(&received).into_owned() }
}

/// Completes a WebSocket handshake by hand, then sends the first bytes of a 4 KiB text frame
/// and stalls in the middle of it.
async fn stalled_mid_frame(addr: SocketAddr, token: String, limit: Duration) -> Slow {
    let mut stream = TcpStream::connect(addr).await.expect("connect");
    let handshake = format!(
        "GET /ws?token={token} HTTP/1.1\r\nHost: {addr}\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\
         Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n"
    );
    stream.write_all(handshake.as_bytes()).await.unwrap();
    let mut head = Vec::new();
    let mut byte = [0u8; 1];
    while !head.ends_with(b"\r\n\r\n") {
        assert_eq!(stream.read(&mut byte).await.unwrap(), 1, "the handshake answer");
        head.push(byte[0]);
    }
    assert!(head.starts_with(b"HTTP/1.1 101"), "{}", String::from_utf8_lossy(&head));
    // FIN + text, masked, 16-bit length 4096, the mask, then 3 of the 4096 bytes.
    let partial = [0x81, 0xFE, 0x10, 0x00, 1, 2, 3, 4, b'a', b'b', b'c'];
    stream.write_all(&partial).await.unwrap();
    slow_stream(stream, partial.len(), Vec::new(), limit).await
}

/// The CSP's directives as (name, sources).
fn csp_directives(csp: &str) -> Vec<(String, Vec<String>)> {
    csp.split(';')
        .filter_map(|d| {
            let mut words = d.split_whitespace();
            let name = words.next()?.to_ascii_lowercase();
            Some((name, words.map(str::to_string).collect()))
        })
        .collect()
}

/// The headers that make a page safe to render: a script policy without inline code or eval,
/// no MIME sniffing, no referrer leaks, no framing.
fn assert_page_headers(path: &str, h: &HeaderMap) {
    let csp = h
        .get("content-security-policy")
        .unwrap_or_else(|| panic!("{path}: no Content-Security-Policy"))
        .to_str()
        .unwrap();
    let directives = csp_directives(csp);
    let sources = |name: &str| directives.iter().find(|(n, _)| n == name).map(|(_, s)| s.clone());
    let scripts = sources("script-src").or_else(|| sources("default-src")).expect("a script policy");
    for bad in ["'unsafe-inline'", "'unsafe-eval'", "*", "data:", "http:", "https:"] {
        assert!(!scripts.iter().any(|s| s == bad), "{path}: script sources allow {bad}: {csp}");
    }
    assert_eq!(h.get("x-content-type-options").map(|v| v.to_str().unwrap()), Some("nosniff"), "{path}");
    let referrer = h.get("referrer-policy").unwrap_or_else(|| panic!("{path}: no Referrer-Policy"));
    assert!(
        !["unsafe-url", "no-referrer-when-downgrade"].contains(&referrer.to_str().unwrap()),
        "{path}: {referrer:?}"
    );
    let deny_frames =
        h.get("x-frame-options").is_some_and(|v| v.to_str().unwrap().eq_ignore_ascii_case("deny"))
            || sources("frame-ancestors").is_some_and(|s| s == ["'none'"]);
    assert!(deny_frames, "{path}: the page can be framed");
}

// ---------------------------------------------------------------------------------------------
// Floods against the auth rate limits

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_registration_flood_from_one_address_gets_429_while_the_chat_goes_on() {
    let _process = shared().await;
    let mut opts = Options::default();
    // A burst of 5, then one attempt per 1,000 s: nothing refills during the test.
    opts.chat.auth_rate = Some(Rate::new(5.0, 0.001));
    let server = common::start_with(opts).await;
    let alice = server.account_in_store("alice").await;
    let bob = server.account_in_store("bob").await;
    let (mut a, _) = server.connect(&alice.token, None).await;
    let (mut b, _) = server.connect(&bob.token, None).await;

    // 50 registrations at once from 127.0.0.1, while alice and bob chat.
    let s = &server;
    let flood =
        join_all((0..50).map(|i| async move { register_name(&s.http, s, &format!("flood{i}")).await }));
    let chat = async {
        for i in 0..5 {
            relay(&mut a, &mut b, &format!("during the flood {i}")).await;
        }
    };
    let (answers, ()) = tokio::join!(flood, chat);
    let created = answers.iter().filter(|a| a.status == 201).count();
    assert_eq!(created, 5, "exactly the burst registers");
    for refused in answers.iter().filter(|a| a.status != 201) {
        assert_limited(refused);
    }
    assert_eq!(user_count(&server).await, 2 + 5, "no refused registration created an account");

    // The address is out of attempts for every account: alice, who took no part in the flood,
    // cannot sign in from it either.
    assert_limited(&login_from(&server.http, &server, "alice", PASSWORD).await);
    // Other addresses are not affected.
    let other = login_from(&client_from(2), &server, "alice", PASSWORD).await;
    assert_eq!(other.status, 200, "{other:?}");
    assert_eq!(register_name(&client_from(3), &server, "newcomer").await.status, 201);
    // And the chat never noticed.
    relay(&mut b, &mut a, "after the flood").await;
    assert_eq!(server.get("/healthz", None).await.status(), 200);
    server.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_login_storm_beyond_the_hashing_queue_gets_503_at_once_and_the_server_recovers() {
    let _process = shared().await;
    let mut opts = Options::default();
    // The real cost, so that each hash takes long enough for the storm to pile up behind it.
    opts.chat.bcrypt_cost = 12;
    opts.chat.max_pending_logins = 2;
    let server = common::start_with(opts).await;
    // Through the API, so that alice's hash has the server's cost.
    assert_eq!(register_name(&server.http, &server, "alice").await.status, 201);
    let bob = server.account_in_store("bob").await;
    let carol = server.account_in_store("carol").await;
    let (mut b, _) = server.connect(&bob.token, None).await;
    let (mut c, _) = server.connect(&carol.token, None).await;

    let s = &server;
    let storm = join_all((0..40).map(|_| async move { login_from(&s.http, s, "alice", PASSWORD).await }));
    let chat = async {
        for i in 0..3 {
            relay(&mut b, &mut c, &format!("during the storm {i}")).await;
        }
    };
    let (answers, ()) = tokio::join!(storm, chat);
    let signed_in = answers.iter().filter(|a| a.status == 200).count();
    let refused: Vec<&Answer> = answers.iter().filter(|a| a.status != 200).collect();
    eprintln!("{signed_in} of 40 signed in, {} refused", refused.len());
    assert!(signed_in >= 1, "the first logins are hashed: {answers:?}");
    assert!(!refused.is_empty(), "40 logins at once cannot all fit a queue of 2");
    for a in refused {
        assert_eq!(a.status, 503, "{a:?}");
        assert_eq!(a.retry_after, Some(5), "{a:?}");
        let detail = a.body["detail"].as_str().unwrap();
        assert!(detail.contains("try again"), "{detail}");
    }
    // Once the storm has passed, signing in works again: refused logins left no slot taken.
    let after = login_from(&server.http, &server, "alice", PASSWORD).await;
    assert_eq!(after.status, 200, "{after:?}");
    assert_eq!(register_name(&server.http, &server, "newcomer").await.status, 201);
    relay(&mut c, &mut b, "after the storm").await;
    server.stop().await;
}

/// Niceness of every thread of this process whose name starts with `prefix` (Linux truncates
/// thread names to 15 bytes).
fn thread_nice(prefix: &str) -> Vec<i64> {
    let mut out = Vec::new();
    for task in std::fs::read_dir("/proc/self/task").unwrap().flatten() {
        let Ok(stat) = std::fs::read_to_string(task.path().join("stat")) else { continue };
        let (Some(open), Some(close)) = (stat.find('('), stat.rfind(')')) else { continue };
        if stat[open + 1..close].starts_with(prefix) {
            // Fields after the name start at field 3 (state); nice is field 19.
            out.push(stat[close + 1..].split_whitespace().nth(16).unwrap().parse().unwrap());
        }
    }
    out
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn password_hashing_runs_on_low_priority_threads_so_a_storm_yields_to_the_chat() {
    let _process = shared().await;
    let server = common::start().await;
    // A login makes sure the pool has started and run a job.
    let alice = register_name(&server.http, &server, "alice").await;
    assert_eq!(alice.status, 201, "{alice:?}");
    let nice = thread_nice("chatterbox-hash");
    assert!(!nice.is_empty(), "no hashing thread found");
    assert!(nice.iter().all(|&n| n == 10), "hashing threads' nice values: {nice:?}");
    server.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn password_guessing_is_limited_per_account_whatever_the_address() {
    let _process = shared().await;
    let mut opts = Options::default();
    opts.chat.auth_rate = Some(Rate::new(5.0, 0.001));
    let server = common::start_with(opts).await;
    server.account_in_store("victim").await;
    server.account_in_store("bystander").await;

    // Five addresses guess, each within its own limit (5): together they spend the account's
    // budget of failures (5 x ACCOUNT_FAILURE_FACTOR = 25).
    assert_eq!(chatterbox::chat::ratelimit::ACCOUNT_FAILURE_FACTOR, 5.0);
    for n in 10..15 {
        for _ in 0..5 {
            assert_eq!(login_from(&client_from(n), &server, "victim", "wrong password").await.status, 401);
        }
    }
    // The owner, signing in from an address that has not failed, is not locked out by them.
    let owner = login_from(&client_from(15), &server, "victim", PASSWORD).await;
    assert_eq!(owner.status, 200, "{owner:?}");
    // A new address gets its one try; once it has failed, it is held back like the others,
    // however the account is spelled.
    assert_eq!(login_from(&client_from(16), &server, "victim", "wrong password").await.status, 401);
    assert_limited(&login_from(&client_from(16), &server, "victim", "another guess").await);
    for login in ["VICTIM", "  Victim  "] {
        assert_limited(&login_from(&client_from(16), &server, login, "wrong password").await);
    }
    // Other accounts are not affected, even from an address that guessed.
    let ok = login_from(&client_from(16), &server, "bystander", PASSWORD).await;
    assert_eq!(ok.status, 200, "{ok:?}");
    server.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn five_addresses_guessing_within_their_limits_do_not_lock_out_correct_logins() {
    let _process = shared().await;
    let mut opts = Options::default();
    opts.chat.auth_rate = Some(Rate::new(5.0, 0.001));
    let server = common::start_with(opts).await;
    server.account_in_store("victim").await;
    // Interleaved: guesses from five addresses and correct logins from others that never fail.
    let mut refused = Vec::new();
    for round in 0..5u8 {
        for n in 10..15 {
            assert_eq!(login_from(&client_from(n), &server, "victim", "wrong password").await.status, 401);
        }
        for n in [20 + round, 30 + round] {
            let a = login_from(&client_from(n), &server, "victim", PASSWORD).await;
            if a.status != 200 {
                refused.push((n, a));
            }
        }
    }
    assert!(refused.is_empty(), "correct logins refused: {refused:?}");
    server.stop().await;
}

/// A login through a proxy at 127.0.0.1 that says it forwards for `forwarded_for`.
async fn login_via(server: &TestServer, from: u8, forwarded_for: &str, password: &str) -> Answer {
    let body = json!({ "username": "alice", "password": password });
    let req = client_from(from).post(server.url("/login")).header("x-forwarded-for", forwarded_for);
    answer(req.json(&body).send().await.unwrap()).await
}

/// A server with alice's account and login limits of 5, trusting a proxy at 127.0.0.1.
async fn behind_a_proxy() -> TestServer {
    let mut opts = Options::default();
    opts.chat.auth_rate = Some(Rate::new(5.0, 0.001));
    opts.http.trusted_proxies = TrustedProxies::parse(&["127.0.0.1"]).unwrap();
    let server = common::start_with(opts).await;
    server.account_in_store("alice").await;
    server
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn clients_behind_a_trusted_proxy_have_their_own_login_budgets() {
    let _process = shared().await;
    let server = behind_a_proxy().await;
    // A guesser behind the proxy spends its own budget (the proxy adds to what it was sent).
    for _ in 0..5 {
        assert_eq!(login_via(&server, 1, "203.0.113.66", "wrong password").await.status, 401);
    }
    assert_limited(&login_via(&server, 1, "203.0.113.66", "wrong password").await);
    assert_limited(&login_via(&server, 1, "198.51.100.1, 203.0.113.66", "wrong password").await);
    // alice, another client of the same proxy, still signs in, and may even mistype.
    assert_eq!(login_via(&server, 1, "203.0.113.7", "wrong password").await.status, 401);
    let ok = login_via(&server, 1, "203.0.113.7", PASSWORD).await;
    assert_eq!(ok.status, 200, "{ok:?}");
    server.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn x_forwarded_for_from_an_untrusted_peer_is_ignored() {
    let _process = shared().await;
    let server = behind_a_proxy().await;
    // 127.0.0.2 is no proxy: a new address in the header each time buys it nothing.
    for n in 0..5 {
        let a = login_via(&server, 2, &format!("203.0.113.{n}"), "wrong password").await;
        assert_eq!(a.status, 401, "{a:?}");
    }
    assert_limited(&login_via(&server, 2, "203.0.113.99", "wrong password").await);
    server.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn guessing_through_the_email_address_counts_against_the_same_account() {
    let _process = shared().await;
    let mut opts = Options::default();
    opts.chat.auth_rate = Some(Rate::new(5.0, 0.001));
    let server = common::start_with(opts).await;
    server.account_in_store("victim").await;
    for n in 10..15 {
        for _ in 0..5 {
            assert_eq!(login_from(&client_from(n), &server, "victim", "wrong password").await.status, 401);
        }
    }
    // The account's budget is spent: an address that failed against it by name is held back
    // when it names the account by its e-mail address.
    assert_eq!(login_from(&client_from(15), &server, "victim", "a guess").await.status, 401);
    assert_limited(&login_from(&client_from(15), &server, "victim@example.com", "a third guess").await);
    server.stop().await;
}

// ---------------------------------------------------------------------------------------------
// Connections: churn, slowloris, the cap

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn thousands_of_connections_opened_and_dropped_leave_no_descriptors_behind() {
    let _process = alone().await;
    // The churn opens 50 sockets of one account at once: more than the per-account cap, which
    // has its own test.
    let mut opts = Options::default();
    opts.http.max_sockets_per_user = 100;
    let server = common::start_with(opts).await;
    let alice = server.account_in_store("alice").await;
    let bob = server.account_in_store("bob").await;
    let (mut a, _) = server.connect(&alice.token, None).await;
    let (mut b, _) = server.connect(&bob.token, None).await;
    let (start, start_fds) = (settled_socket_count().await, fd_count());

    // 2,000 TCP connections that send nothing and close, 100 at a time.
    for _ in 0..20 {
        let conns = join_all((0..100).map(|_| TcpStream::connect(server.addr))).await;
        let conns: Vec<TcpStream> = conns.into_iter().map(|c| c.expect("connect")).collect();
        assert!(socket_count() >= start + 100, "the connections are open");
        drop(conns);
    }
    // 500 WebSocket handshakes, each closed right away, 50 at a time.
    for _ in 0..10 {
        websocket_churn(&server, &alice.token, 50).await;
    }
    // Still serving: chat and health.
    relay(&mut a, &mut b, "after the churn").await;
    let health = client_from(2).get(server.url("/healthz")).send().await.unwrap();
    assert_eq!(health.status(), 200);
    drop(health);

    // Every socket of the churn is closed again (the health check's client may still hold one
    // connection: two sockets).
    let end = sockets_fall_to(start + 2).await;
    assert!(end <= start + 2, "{start} sockets open before the churn, {end} after");
    let end_fds = fd_count();
    eprintln!("sockets: {start} before the churn, {end} after; all descriptors: {start_fds}, {end_fds}");
    // The other descriptors that may have been added are the store's pool of SQLite connections,
    // grown by the concurrent handshakes: up to 8 idle plus a few in use, two files each.
    let targets: Vec<String> = std::fs::read_dir("/proc/self/fd")
        .unwrap()
        .filter_map(|e| std::fs::read_link(e.ok()?.path()).ok())
        .map(|p| p.display().to_string())
        .collect();
    assert!(
        end_fds <= start_fds + 32,
        "{start_fds} descriptors before the churn, {end_fds} after: {targets:?}"
    );
    relay(&mut b, &mut a, "still chatting").await;
    server.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn slow_and_stalled_clients_are_cut_off_while_everyone_else_is_served() {
    let _process = shared().await;
    let mut opts = Options::default();
    opts.server.header_timeout = Duration::from_secs(2);
    opts.http.body_timeout = Duration::from_secs(2);
    let server = common::start_with(opts).await;
    // Pings every second would also drop this test's own clients whenever they wait a second
    // without reading, so the sockets stalled mid-frame go to a second server that pings so often.
    let mut opts = Options::default();
    opts.http.ws_ping_interval = Duration::from_secs(1);
    let pinging = common::start_with(opts).await;
    let dave = pinging.account_in_store("dave").await;
    let alice = server.account_in_store("alice").await;
    let bob = server.account_in_store("bob").await;
    let carol = server.account_in_store("carol").await;
    let (mut a, _) = server.connect(&alice.token, None).await;
    let (mut b, _) = server.connect(&bob.token, None).await;
    let addr = server.addr;
    // A client that is still open after this was never cut off.
    let limit = Duration::from_secs(40);

    let half_upgrade = format!(
        "GET /ws?token={} HTTP/1.1\r\nHost: {addr}\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n",
        carol.token
    );
    let request = format!("GET /healthz HTTP/1.1\r\nHost: {addr}\r\n\r\n");
    let body = r#"{"username": "slowpoke", "email": "slowpoke@example.com", "password": "correct horse"}"#;
    let post_head = format!(
        "POST /register HTTP/1.1\r\nHost: {addr}\r\nContent-Type: application/json\r\nContent-Length: {}\r\n\r\n",
        body.len()
    );
    let mut silent = Vec::new();
    let mut half = Vec::new();
    let mut trickled_headers = Vec::new();
    let mut trickled_bodies = Vec::new();
    let mut mid_frame = Vec::new();
    for _ in 0..50 {
        silent.push(tokio::spawn(slow_client(addr, Vec::new(), Vec::new(), limit)));
        half.push(tokio::spawn(slow_client(addr, half_upgrade.clone().into_bytes(), Vec::new(), limit)));
        trickled_headers.push(tokio::spawn(slow_client(
            addr,
            Vec::new(),
            request.clone().into_bytes(),
            limit,
        )));
        trickled_bodies.push(tokio::spawn(slow_client(
            addr,
            post_head.clone().into_bytes(),
            body.as_bytes().to_vec(),
            limit,
        )));
    }
    for _ in 0..10 {
        mid_frame.push(tokio::spawn(stalled_mid_frame(pinging.addr, dave.token.clone(), limit)));
    }

    // Meanwhile everyone else is served as usual.
    for i in 0..5 {
        relay(&mut a, &mut b, &format!("among the slow ones {i}")).await;
        let health = client_from(2).get(server.url("/healthz")).send().await.unwrap();
        assert_eq!(health.status(), 200);
        let (_fresh, history) = server.connect(&bob.token, None).await;
        assert!(!history.is_empty());
        tokio::time::sleep(Duration::from_millis(300)).await;
    }

    let outcomes = |tasks: Vec<tokio::task::JoinHandle<Slow>>| async {
        join_all(tasks).await.into_iter().map(|r| r.unwrap()).collect::<Vec<Slow>>()
    };
    for s in outcomes(silent).await {
        assert!(s.closed_by_server, "a silent connection stayed open: {s:?}");
    }
    for s in outcomes(half).await {
        assert!(s.closed_by_server, "a half-sent upgrade stayed open: {s:?}");
        assert!(!s.received.contains(" 101 "), "{s:?}");
    }
    for s in outcomes(trickled_headers).await {
        assert!(s.closed_by_server, "headers sent a byte a second kept the connection: {s:?}");
        assert!(s.sent < request.len(), "the header deadline is for all headers: {s:?}");
        assert!(!s.received.contains(" 200 "), "{s:?}");
    }
    for s in outcomes(trickled_bodies).await {
        assert!(s.closed_by_server, "a body sent a byte a second kept the connection: {s:?}");
        assert!(s.received.starts_with("HTTP/1.1 408"), "{s:?}");
        assert!(s.sent < post_head.len() + body.len(), "{s:?}");
    }
    for s in outcomes(mid_frame).await {
        assert!(s.closed_by_server, "a socket stalled in the middle of a frame stayed open: {s:?}");
    }
    assert_eq!(user_count(&server).await, 3, "no trickled registration got through");
    relay(&mut b, &mut a, "the slow ones are gone").await;
    server.stop().await;
    pinging.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn connections_beyond_max_connections_are_refused_and_slots_come_back() {
    let _process = shared().await;
    let mut opts = Options::default();
    opts.server.max_connections = 50;
    // The cap alone here: one address and one account take it all (the reserve, and the
    // per-address and per-account caps, have their own tests below).
    opts.server.reserved_connections = 0;
    opts.server.max_connections_per_ip = 100;
    opts.http.max_sockets_per_user = 100;
    let server = common::start_with(opts).await;
    let alice = server.account_in_store("alice").await;
    let url = server.ws_url(&format!("/ws?token={}", alice.token));
    let open_one = || async {
        tokio::time::timeout(Duration::from_secs(10), server.try_connect(url.clone()))
            .await
            .expect("a refused connection is closed, not left hanging")
            .ok()
            .map(|(client, _)| client)
    };

    let mut open = Vec::new();
    let mut refused = 0;
    for _ in 0..60 {
        match open_one().await {
            Some(c) => open.push(c),
            None => refused += 1,
        }
    }
    assert_eq!((open.len(), refused), (50, 10), "50 accepted, the rest refused");
    // Plain HTTP is refused too while every slot is taken.
    assert!(client_from(2).get(server.url("/healthz")).send().await.is_err());

    // The 50 keep working: one speaks, all hear it.
    let (first, rest) = open.split_first_mut().unwrap();
    let sent = first.send_acked("all 50 still here").await;
    for c in rest.iter_mut() {
        assert_eq!(c.next_message().await.unwrap(), sent);
    }

    // Five leave; five others get in (once the server noticed), and the cap holds again.
    for mut c in open.drain(..5) {
        c.ws.close(None).await.unwrap();
    }
    for _ in 0..5 {
        let mut joined = None;
        for _ in 0..100 {
            joined = open_one().await;
            if joined.is_some() {
                break;
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        open.push(joined.expect("a freed slot is given to a new connection"));
    }
    assert!(open_one().await.is_none(), "the cap holds after the churn");
    let newest = open.last_mut().unwrap();
    let sent = newest.send_acked("a newcomer").await;
    assert_eq!(open[0].next_message().await.unwrap(), sent);
    server.stop().await;
}

/// A TCP connection from `127.0.0.{n}` that sends nothing.
async fn idle_from(server: &TestServer, n: u8) -> TcpStream {
    let socket = tokio::net::TcpSocket::new_v4().unwrap();
    socket.bind(SocketAddr::new(IpAddr::V4(Ipv4Addr::new(127, 0, 0, n)), 0)).unwrap();
    socket.connect(server.addr).await.unwrap()
}

/// `count` idle connections from `127.0.0.{n}`.
async fn idle_many(server: &TestServer, n: u8, count: usize) -> Vec<TcpStream> {
    let mut idle = Vec::with_capacity(count);
    for _ in 0..count {
        idle.push(idle_from(server, n).await);
    }
    idle
}

/// Whether the server closed `stream` within `wait` (it was refused at accept) rather than
/// waiting for a request on it.
async fn closed_within(stream: &mut TcpStream, wait: Duration) -> bool {
    let mut buf = [0u8; 64];
    matches!(tokio::time::timeout(wait, stream.read(&mut buf)).await, Ok(Ok(0) | Err(_)))
}

/// Long enough for the accept loop to refuse a connection.
const REFUSAL: Duration = Duration::from_secs(3);

/// Tries `attempt` every 100 ms until it gives something (5 s at most): a freed place is given
/// back once the server noticed the close.
async fn eventually<T, F: std::future::Future<Output = Option<T>>>(
    mut attempt: impl FnMut() -> F,
    what: &str,
) -> T {
    for _ in 0..50 {
        if let Some(v) = attempt().await {
            return v;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    panic!("{what}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn one_address_cannot_take_every_connection() {
    let _process = shared().await;
    let mut opts = Options::default();
    opts.server.max_connections_per_ip = 8;
    let server = common::start_with(opts).await;
    let mut idle = idle_many(&server, 1, 8).await;
    let mut ninth = idle_from(&server, 1).await;
    assert!(
        closed_within(&mut ninth, REFUSAL).await,
        "a 9th connection from one address is closed at accept"
    );
    // Another address is not affected.
    let resp = client_from(2).get(server.url("/healthz")).send().await.unwrap();
    assert_eq!(resp.status(), 200);
    // A closed connection gives its place back to the address.
    drop(idle.pop());
    let _again = eventually(
        || async {
            let mut stream = idle_from(&server, 1).await;
            (!closed_within(&mut stream, Duration::from_millis(300)).await).then_some(stream)
        },
        "the address gets its freed place back",
    )
    .await;
    server.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn one_account_cannot_take_every_websocket() {
    let _process = shared().await;
    let mut opts = Options::default();
    opts.http.max_sockets_per_user = 3;
    let server = common::start_with(opts).await;
    let alice = server.account_in_store("alice").await;
    let bob = server.account_in_store("bob").await;
    let url = server.ws_url(&format!("/ws?token={}", alice.token));
    let mut open = Vec::new();
    for _ in 0..3 {
        open.push(server.try_connect(url.clone()).await.unwrap().0);
    }
    match tokio_tungstenite::connect_async(url.clone()).await {
        Err(tokio_tungstenite::tungstenite::Error::Http(resp)) => {
            assert_eq!(resp.status(), 429);
            assert!(resp.headers().get("retry-after").is_some(), "{resp:?}");
            let body: Value = serde_json::from_slice(resp.body().as_deref().unwrap_or_default()).unwrap();
            assert!(body["detail"].as_str().unwrap().contains("3 chat connections"), "{body}");
        }
        other => panic!("a 4th socket of one account was not refused: {:?}", other.map(|_| ())),
    }
    // Another account still gets in, and hears alice.
    let (mut b, _) = server.connect(&bob.token, None).await;
    let sent = open[0].send_acked("three is enough").await;
    assert_eq!(b.next_message().await.unwrap(), sent);
    // A closed socket gives its place back.
    let mut first = open.remove(0);
    first.ws.close(None).await.unwrap();
    first.expect_close().await;
    let _again = eventually(
        || async { server.try_connect(url.clone()).await.ok() },
        "the account gets its freed place back",
    )
    .await;
    server.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn healthz_and_new_addresses_get_in_while_one_address_holds_the_rest() {
    let _process = shared().await;
    let mut opts = Options::default();
    opts.server.max_connections = 40;
    opts.server.reserved_connections = chatterbox::server::reserve_for(40);
    opts.server.max_connections_per_ip = 1000;
    let server = common::start_with(opts).await;
    // 127.0.0.1 takes every slot but the 5 % reserve (2 of 40); its next one is refused.
    let idle = idle_many(&server, 1, 38).await;
    let mut one_more = idle_from(&server, 1).await;
    assert!(
        closed_within(&mut one_more, REFUSAL).await,
        "an address holding connections cannot use the reserve"
    );
    // Refusals happen in accept order, so the 38 before it were admitted: none was closed.
    let mut buf = [0u8; 1];
    for stream in &idle {
        assert!(
            matches!(stream.try_read(&mut buf), Err(e) if e.kind() == std::io::ErrorKind::WouldBlock),
            "the 38 stay open"
        );
    }
    // The reserve: a health probe from another address, and a new user's page; both clients
    // keep their connection open.
    let (probe, newcomer) = (client_from(2), client_from(3));
    // Each body read to its end: a response dropped before its body arrived (a loaded machine)
    // makes the client close that connection, and its slot would be free again.
    let health = probe.get(server.url("/healthz")).send().await.unwrap();
    assert_eq!(health.status(), 200);
    health.bytes().await.unwrap();
    let page = newcomer.get(server.url("/")).send().await.unwrap();
    assert_eq!(page.status(), 200);
    page.bytes().await.unwrap();
    // Now every slot is taken.
    assert!(client_from(4).get(server.url("/healthz")).send().await.is_err());
    server.stop().await;
}

// ---------------------------------------------------------------------------------------------
// Injection and look-alikes

const SQL_INJECTIONS: [&str; 8] = [
    "' OR 1=1 --",
    "\"; DROP TABLE users; --",
    "1; DELETE FROM messages",
    "'); DROP TABLE messages; --",
    "admin'--",
    "' UNION SELECT password_hash, 1, 1, 1, 1 FROM users --",
    "x' AND (SELECT COUNT(*) FROM users) > 0 --",
    "%' OR username LIKE '%",
];

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sql_injection_in_every_field_is_plain_data() {
    let _process = shared().await;
    let server = common::start_with(common::unthrottled()).await;
    let admin = server.register_admin("root").await;
    let alice = server.register("alice").await;
    let http = &server.http;

    // Usernames: refused by validation before any query.
    for payload in SQL_INJECTIONS {
        assert_bad_username(&register_name(http, &server, payload).await, payload);
    }
    // E-mail addresses that are valid addresses are stored verbatim (lower-cased).
    let emails = ["x'or'1'='1@example.com", "y';drop-table-users;--@example.com"];
    for (i, email) in emails.iter().enumerate() {
        let a = register_from(http, &server, &format!("mail{i}"), email, PASSWORD).await;
        assert_eq!(a.status, 201, "{email}: {a:?}");
    }
    // Passwords: whatever they contain, they are only ever hashed.
    for (i, payload) in SQL_INJECTIONS.iter().enumerate() {
        let name = format!("pw{i}");
        let a = register_from(http, &server, &name, &format!("{name}@example.com"), payload).await;
        assert_eq!(a.status, 201, "{payload:?}: {a:?}");
        assert_eq!(login_from(http, &server, &name, payload).await.status, 200, "{payload:?}");
        assert_eq!(login_from(http, &server, &name, "' OR '1'='1").await.status, 401);
    }
    // Logins: the injection is a name nobody has.
    for payload in SQL_INJECTIONS {
        assert_eq!(login_from(http, &server, payload, payload).await.status, 401, "{payload:?}");
        assert_eq!(login_from(http, &server, payload, PASSWORD).await.status, 401, "{payload:?}");
    }
    // Messages: stored and shown verbatim.
    let (mut ws, _) = server.connect(&alice.token, None).await;
    let mut sent = Vec::new();
    for payload in SQL_INJECTIONS {
        let echo = ws.send_acked(payload).await;
        assert_eq!(echo["text"], payload);
        sent.push(echo);
    }
    let history: Value = server.get("/messages?limit=200", Some(&alice.token)).await.json().await.unwrap();
    let shown = |m: &Value| (m["id"].clone(), m["user"].clone(), m["text"].clone());
    let history: Vec<_> = history.as_array().unwrap().iter().map(shown).collect();
    assert_eq!(history, sent.iter().map(shown).collect::<Vec<_>>(), "stored verbatim");
    // Query parameters and path segments: refused as what they are, never a 500.
    let probes = [
        ("/messages?before=1%20OR%201=1", 400),
        ("/messages?limit=1;DROP%20TABLE%20messages", 400),
        ("/messages?before=0)%20OR%20(1=1", 400),
        ("/admin/messages?before=1%27%20OR%20%271%27=%271", 400),
        ("/admin/violations?limit=1%20UNION%20SELECT%201", 400),
        ("/admin/users?blocked=true%27%20OR%20%271%27=%271", 400),
    ];
    for (path, status) in probes {
        let resp = server.get(path, Some(&admin.token)).await;
        assert_eq!(resp.status(), status, "{path}");
    }
    for path in ["/admin/users/1%20OR%201=1/block", "/admin/users/1;DELETE%20FROM%20users/block"] {
        let resp = server.post(path, Some(&admin.token), None).await;
        assert!(resp.status() == 404 || resp.status() == 400, "{path}: {}", resp.status());
    }
    let since = format!("/ws?token={}&since=0%20OR%201=1", alice.token);
    assert_eq!(server.refused_status(server.ws_url(&since)).await, 400);

    // Nothing was executed: every table is there with exactly the rows written.
    let users: Value = server.get("/admin/users", Some(&admin.token)).await.json().await.unwrap();
    let users = users.as_array().unwrap();
    assert_eq!(users.len(), 2 + emails.len() + SQL_INJECTIONS.len());
    for email in emails {
        assert!(users.iter().any(|u| u["email"] == email), "{email} stored verbatim");
    }
    let db = server.db.clone();
    let (tables, messages, integrity) = tokio::task::spawn_blocking(move || {
        let conn = rusqlite::Connection::open(db).unwrap();
        let mut stmt =
            conn.prepare("SELECT name FROM sqlite_master WHERE type = 'table' ORDER BY name").unwrap();
        let tables: Vec<String> = stmt.query_map([], |r| r.get(0)).unwrap().map(Result::unwrap).collect();
        let messages: i64 = conn.query_row("SELECT COUNT(*) FROM messages", [], |r| r.get(0)).unwrap();
        let integrity: String = conn.query_row("PRAGMA integrity_check", [], |r| r.get(0)).unwrap();
        (tables, messages, integrity)
    })
    .await
    .unwrap();
    for table in ["users", "messages", "violations", "settings", "account_revision"] {
        assert!(tables.iter().any(|t| t == table), "table {table} is gone: {tables:?}");
    }
    assert_eq!(messages, SQL_INJECTIONS.len() as i64);
    assert_eq!(integrity, "ok");
    server.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn stored_xss_is_refused_in_usernames_and_inert_in_messages() {
    let _process = shared().await;
    let server = common::start_with(common::unthrottled()).await;
    let admin = server.register_admin("root").await;
    let alice = server.register("alice").await;
    let bob = server.register("bob").await;

    for name in [
        "<script>alert(1)</script>",
        "<img src=x onerror=alert(1)>",
        "\"><svg onload=alert(1)>",
        "javascript:alert(1)",
        "alice<b>",
        "{{constructor.constructor('alert(1)')()}}",
        "a&#97;lice",
    ] {
        assert_bad_username(&register_name(&server.http, &server, name).await, name);
    }

    let payloads = [
        "<script>alert(document.cookie)</script>",
        "<img src=x onerror=alert(1)>",
        "\"><svg onload=alert(1)>",
        "</script><script>alert(1)</script>",
        "javascript:alert(1)",
        "<a href=\"javascript:alert(1)\">click</a>",
        "=HYPERLINK(\"http://evil.example\",\"<b>x</b>\")",
        "-2+3+cmd|' /C calc'!A0",
        "+<script>x</script>",
        "\u{2028}<i>\u{2029}",
    ];
    let (mut a, _) = server.connect(&alice.token, None).await;
    let (mut b, _) = server.connect(&bob.token, None).await;
    for p in payloads {
        let sent = relay(&mut a, &mut b, p).await;
        assert_eq!(sent["text"], p.trim(), "delivered verbatim");
    }
    let expected: Vec<&str> = payloads.iter().map(|p| p.trim()).collect();

    // The JSON APIs return the text verbatim, as JSON that no browser renders as a page.
    for (path, token) in [("/messages?limit=200", &alice.token), ("/admin/messages?limit=200", &admin.token)]
    {
        let resp = server.get(path, Some(token)).await;
        assert_eq!(resp.status(), 200);
        assert_eq!(resp.headers()["content-type"], "application/json", "{path}");
        assert_eq!(resp.headers()["x-content-type-options"], "nosniff", "{path}");
        let body: Value = resp.json().await.unwrap();
        let texts: Vec<&str> = body.as_array().unwrap().iter().map(|m| m["text"].as_str().unwrap()).collect();
        assert_eq!(texts, expected, "{path}");
    }
    // The CSV download neutralises formulas and keeps everything else verbatim.
    let resp = server.get("/admin/download/messages", Some(&admin.token)).await;
    assert!(resp.headers()["content-type"].to_str().unwrap().starts_with("text/csv"));
    assert!(resp.headers()["content-disposition"].to_str().unwrap().starts_with("attachment"));
    let csv_text = resp.text().await.unwrap();
    let mut reader = csv::Reader::from_reader(csv_text.as_bytes());
    let cells: Vec<String> = reader.records().map(|r| r.unwrap()[3].to_string()).collect();
    let neutralised: Vec<String> = expected
        .iter()
        .map(|t| if t.starts_with(['=', '+', '-', '@']) { format!("'{t}") } else { t.to_string() })
        .collect();
    assert_eq!(cells, neutralised);
    server.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn look_alike_usernames_are_refused_and_case_variants_conflict() {
    let _process = shared().await;
    let server = common::start().await;
    server.register("alice").await;
    let http = &server.http;
    let look_alikes = [
        "\u{0430}lice",                             // Cyrillic a
        "alic\u{0435}",                             // Cyrillic e
        "\u{03B1}lice",                             // Greek alpha
        "\u{0251}lice",                             // Latin alpha
        "\u{FF41}\u{FF4C}\u{FF49}\u{FF43}\u{FF45}", // full-width
        "alice\u{200B}",                            // zero-width space
        "alic\u{0065}\u{0301}",                     // e + combining acute
        "\u{1D5BA}lice",                            // mathematical sans-serif a
        "al\u{0131}ce",                             // dotless i
    ];
    for (i, name) in look_alikes.iter().enumerate() {
        let a = register_from(http, &server, name, &format!("lookalike{i}@example.com"), PASSWORD).await;
        assert_bad_username(&a, name);
        // Nor do they sign in as alice.
        assert_eq!(login_from(http, &server, name, PASSWORD).await.status, 401, "{name:?}");
    }
    for (i, name) in ["Alice", "ALICE", "aLiCe", "  alice  ", "alice\u{00A0}"].iter().enumerate() {
        let a = register_from(http, &server, name, &format!("variant{i}@example.com"), PASSWORD).await;
        assert_eq!(a.status, 409, "{name:?}: {a:?}");
        assert_eq!(a.body["field"], "username", "{name:?}");
    }
    let a = register_from(http, &server, "other", "ALICE@Example.COM", PASSWORD).await;
    assert_eq!((a.status, a.body["field"].as_str()), (409, Some("email")), "{a:?}");
    assert_eq!(user_count(&server).await, 1);
    server.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ascii_look_alikes_of_a_name_conflict_and_reserved_names_are_refused() {
    let _process = shared().await;
    let server = common::start().await;
    server.register("alice").await;
    let http = &server.http;
    // Capital I and digit 1 for l, l for capital I: each renders like alice or ALICE.
    for (i, name) in ["aIice", "ALlCE", "a1ice", "AIICE", "aiice"].iter().enumerate() {
        let a = register_from(http, &server, name, &format!("ascii{i}@example.com"), PASSWORD).await;
        assert_eq!((a.status, a.body["field"].as_str()), (409, Some("username")), "{name:?}: {a:?}");
        assert!(a.body["detail"].as_str().unwrap().contains("already taken"), "{a:?}");
    }
    // The name warning frames are signed with, and the audit log's actors, in any disguise.
    for (i, name) in
        ["System", "system", "SYSTEM", "moderation", "rnoderation", "cli", "CLI"].iter().enumerate()
    {
        let a = register_from(http, &server, name, &format!("reserved{i}@example.com"), PASSWORD).await;
        assert_bad_username(&a, name);
        assert!(a.body["detail"].as_str().unwrap().contains("reserved"), "{a:?}");
    }
    assert_eq!(user_count(&server).await, 1);
    server.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn concurrent_registrations_of_look_alike_names_let_exactly_one_win() {
    let _process = shared().await;
    let server = common::start().await;
    let names = ["bob", "BOB", "b0b", "B0B", "Bob", "bOb", "BoB", "boB"];
    let answers =
        join_all(names.iter().enumerate().map(|(i, name)| {
            let server = &server;
            async move {
                register_from(&server.http, server, name, &format!("bob{i}@example.com"), PASSWORD).await
            }
        }))
        .await;
    let won: Vec<&str> =
        names.iter().zip(&answers).filter(|(_, a)| a.status == 201).map(|(n, _)| *n).collect();
    assert_eq!(won.len(), 1, "winners: {won:?}; answers: {answers:?}");
    for (name, a) in names.iter().zip(&answers) {
        assert!(a.status == 201 || (a.status == 409 && a.body["field"] == "username"), "{name}: {a:?}");
    }
    server.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ten_sockets_violating_at_once_give_one_block_and_warnings_up_to_the_limit() {
    let _process = shared().await;
    let server = common::start().await;
    let alice = server.register("alice").await;
    let mut sockets = Vec::new();
    for _ in 0..10 {
        sockets.push(server.connect(&alice.token, None).await.0);
    }
    // Every socket sends its violation before any answer is read.
    join_all(sockets.iter_mut().map(|ws| ws.send_text("you idiot"))).await;
    let mut blocked_frames = 0;
    for ws in &mut sockets {
        loop {
            match ws.next().await {
                Next::Json(v) if v["type"] == "blocked" => blocked_frames += 1,
                Next::Json(_) => continue,
                Next::Closed(..) => break,
            }
        }
    }
    assert!(blocked_frames >= 1, "the sockets were told of the block");
    let log = server.chat.violations(None, 100).await.unwrap();
    let count = |action: &str| {
        log.iter().filter(|v| v.user_id == Some(alice.id) && v.action.as_str() == action).count()
    };
    assert_eq!((count("warning"), count("block")), (2, 1), "{log:?}");
    let me = server.chat.list_users(UserFilter::default()).await.unwrap();
    let me = me.iter().find(|u| u.id == alice.id).unwrap();
    assert!(me.is_blocked);
    assert_eq!(me.warning_count, 3, "violations after the block are not counted");
    server.stop().await;
}

// ---------------------------------------------------------------------------------------------
// Pages and cross-site use

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn pages_forbid_inline_scripts_framing_and_sniffing_and_sessions_need_the_bearer_token() {
    let _process = shared().await;
    let server = common::start().await;
    let admin = server.register_admin("root").await;
    let pages = [
        "/",
        "/admin",
        "/static/app.js",
        "/static/api.js",
        "/static/socket.js",
        "/static/admin.js",
        "/static/style.css",
        "/static/admin.css",
        "/static/logo.svg",
        "/favicon.ico",
    ];
    for path in pages {
        for method in [reqwest::Method::GET, reqwest::Method::HEAD] {
            let resp = server.http.request(method.clone(), server.url(path)).send().await.unwrap();
            assert_eq!(resp.status(), 200, "{method} {path}");
            assert_page_headers(path, resp.headers());
        }
        let resp = server.get(path, None).await;
        let text = resp.text().await.unwrap();
        if path == "/" || path == "/admin" {
            // Inline code would not run under the policy anyway; the pages must not need it.
            for tag in text.split("<script").skip(1) {
                let tag = &tag[..tag.find('>').unwrap()];
                assert!(tag.contains("src="), "{path}: inline <script{tag}>");
            }
        }
        if path.ends_with(".js") {
            for sink in
                ["innerHTML", "outerHTML", "insertAdjacentHTML", "document.write", "eval(", "new Function"]
            {
                assert!(!text.contains(sink), "{path} uses {sink}");
            }
        }
    }
    assert_page_headers("a missing asset", server.get("/static/missing.js", None).await.headers());

    // No cookies: a cross-site page cannot ride on a session. The admin API answers only to the
    // bearer header, not to a cookie or a query token, even a valid one.
    let login = server.post("/login", None, Some(json!({ "username": "root", "password": PASSWORD }))).await;
    assert!(login.headers().get("set-cookie").is_none(), "login sets no cookie");
    let cookie = format!("token={0}; access_token={0}; session={0}", admin.token);
    for (method, path) in [
        (reqwest::Method::GET, "/admin/users".to_string()),
        (reqwest::Method::GET, "/me".to_string()),
        (reqwest::Method::POST, format!("/admin/users/{}/block", admin.id)),
        (reqwest::Method::GET, "/admin/download/messages".to_string()),
    ] {
        let resp = server
            .http
            .request(method.clone(), server.url(&path))
            .header("cookie", &cookie)
            .header("origin", "http://evil.example")
            .send()
            .await
            .unwrap();
        assert_eq!(resp.status(), 401, "{method} {path} with only a cookie");
        let sep = if path.contains('?') { '&' } else { '?' };
        let resp =
            server.http.request(method.clone(), server.url(&format!("{path}{sep}token={}", admin.token)));
        assert_eq!(resp.send().await.unwrap().status(), 401, "{method} {path} with a query token");
    }
    // No CORS: another origin's script cannot read answers, and a preflight grants nothing.
    let resp = server
        .http
        .get(server.url("/admin/users"))
        .bearer_auth(&admin.token)
        .header("origin", "http://evil.example")
        .send()
        .await
        .unwrap();
    assert!(resp.headers().get("access-control-allow-origin").is_none());
    let preflight = server
        .http
        .request(reqwest::Method::OPTIONS, server.url("/admin/users"))
        .header("origin", "http://evil.example")
        .header("access-control-request-method", "GET")
        .header("access-control-request-headers", "authorization")
        .send()
        .await
        .unwrap();
    assert!(preflight.status().is_client_error(), "{}", preflight.status());
    assert!(preflight.headers().get("access-control-allow-origin").is_none());

    // The WebSocket refuses every origin but its own, however the foreign one is dressed up.
    let port = server.addr.port();
    for origin in [
        "null".to_string(),
        "http://127.0.0.1".to_string(),
        format!("http://localhost:{port}"),
        format!("http://127.0.0.1:{port}.evil.example"),
        format!("http://evil.example/127.0.0.1:{port}"),
        format!("http://127.0.0.1:{port}@evil.example"),
        format!("http://evil.example#127.0.0.1:{port}"),
        format!("http://127.0.0.1:{}", port.wrapping_add(1)),
    ] {
        let mut req = server.ws_url(&format!("/ws?token={}", admin.token)).into_client_request().unwrap();
        req.headers_mut().insert("origin", HeaderValue::from_str(&origin).unwrap());
        assert_eq!(server.refused_status(req).await, 403, "Origin: {origin}");
    }
    server.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_websocket_origin_check_compares_the_scheme_too() {
    let _process = shared().await;
    let server = common::start().await;
    let alice = server.account_in_store("alice").await;
    let request = |origin: &str, forwarded_proto: Option<&str>| {
        let mut req = server.ws_url(&format!("/ws?token={}", alice.token)).into_client_request().unwrap();
        req.headers_mut().insert("origin", HeaderValue::from_str(origin).unwrap());
        if let Some(proto) = forwarded_proto {
            req.headers_mut().insert("x-forwarded-proto", HeaderValue::from_str(proto).unwrap());
        }
        req
    };
    let http = format!("http://{}", server.addr);
    let https = format!("https://{}", server.addr);
    // Served over plain HTTP: a page from the https origin of the same host is another origin.
    assert_eq!(server.refused_status(request(&https, None)).await, 403);
    assert!(server.try_connect(request(&http, None)).await.is_ok());
    // Behind a TLS-terminating proxy that says so, it is the other way round.
    assert_eq!(server.refused_status(request(&http, Some("https"))).await, 403);
    assert!(server.try_connect(request(&https, Some("https"))).await.is_ok());
    assert_eq!(server.refused_status(request(&https, Some("http"))).await, 403);
    server.stop().await;
}

// ---------------------------------------------------------------------------------------------
// Message flood

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_message_flood_gets_error_frames_and_never_holds_up_another_client() {
    let _process = shared().await;
    // The default per-connection limit: a burst of 10, then 5 a second.
    let server = common::start().await;
    let flooder = server.account_in_store("flooder").await;
    let quiet = server.account_in_store("quiet").await;
    let (mut f, _) = server.connect(&flooder.token, None).await;
    let (mut q, _) = server.connect(&quiet.token, None).await;

    // 500 frames as fast as the socket takes them, not reading anything meanwhile.
    const FLOOD: usize = 500;
    let flood = tokio::spawn(async move {
        for i in 0..FLOOD {
            f.send_text(&format!("flood {i}")).await;
        }
        f
    });
    // The quiet client's messages are each acknowledged in time (10 s at most, the harness's
    // limit) while the flood runs, and after it.
    for i in 0..10 {
        q.send_acked(&format!("quiet {i}")).await;
        tokio::time::sleep(Duration::from_millis(250)).await;
    }
    let mut f = flood.await.unwrap();
    q.send_acked("quiet after the flood").await;

    // One answer per flood frame: its echo, or an error frame saying it came too fast.
    let (mut accepted, mut refused) = (Vec::new(), 0);
    while accepted.len() + refused < FLOOD {
        let v = f.next_non_presence().await.expect("an answer to every frame");
        match v["type"].as_str() {
            Some("message") if v["user"] == "quiet" => {}
            Some("message") => accepted.push(v["id"].as_i64().unwrap()),
            Some("error") => {
                assert!(v["detail"].as_str().unwrap().contains("too fast"), "{v}");
                refused += 1;
            }
            _ => panic!("unexpected frame {v}"),
        }
    }
    eprintln!("flood: {} accepted, {refused} refused", accepted.len());
    assert!(accepted.len() >= 10, "at least the burst goes through");
    assert!(refused >= FLOOD / 2, "most of the flood is refused");
    // The flooder is throttled, not punished, and the refused frames left no trace.
    let me: Value = server.get("/me", Some(&flooder.token)).await.json().await.unwrap();
    assert_eq!((me["is_blocked"].as_bool(), me["warning_count"].as_i64()), (Some(false), Some(0)));
    let stored: Value = server.get("/messages?limit=200", Some(&quiet.token)).await.json().await.unwrap();
    let stored_flood: Vec<i64> = stored
        .as_array()
        .unwrap()
        .iter()
        .filter(|m| m["user"] == "flooder")
        .map(|m| m["id"].as_i64().unwrap())
        .collect();
    assert_eq!(stored_flood, accepted);
    drop_client(f).await;
    server.stop().await;
}

/// Closes a client's socket politely.
async fn drop_client(mut c: WsClient) {
    let _ = c.ws.close(None).await;
    while let Some(Next::Json(_)) = c.next_within(Duration::from_secs(5)).await {}
}

// The same tests with their servers on PostgreSQL (`common::postgres_too`).
common::postgres_too!(
    a_registration_flood_from_one_address_gets_429_while_the_chat_goes_on,
    a_login_storm_beyond_the_hashing_queue_gets_503_at_once_and_the_server_recovers,
    password_hashing_runs_on_low_priority_threads_so_a_storm_yields_to_the_chat,
    password_guessing_is_limited_per_account_whatever_the_address,
    five_addresses_guessing_within_their_limits_do_not_lock_out_correct_logins,
    clients_behind_a_trusted_proxy_have_their_own_login_budgets,
    x_forwarded_for_from_an_untrusted_peer_is_ignored,
    guessing_through_the_email_address_counts_against_the_same_account,
    slow_and_stalled_clients_are_cut_off_while_everyone_else_is_served,
    connections_beyond_max_connections_are_refused_and_slots_come_back,
    one_address_cannot_take_every_connection,
    one_account_cannot_take_every_websocket,
    healthz_and_new_addresses_get_in_while_one_address_holds_the_rest,
    stored_xss_is_refused_in_usernames_and_inert_in_messages,
    look_alike_usernames_are_refused_and_case_variants_conflict,
    ascii_look_alikes_of_a_name_conflict_and_reserved_names_are_refused,
    concurrent_registrations_of_look_alike_names_let_exactly_one_win,
    ten_sockets_violating_at_once_give_one_block_and_warnings_up_to_the_limit,
    pages_forbid_inline_scripts_framing_and_sniffing_and_sessions_need_the_bearer_token,
    the_websocket_origin_check_compares_the_scheme_too,
    a_message_flood_gets_error_frames_and_never_holds_up_another_client,
    ;
    sqlite_only:
    sql_injection_in_every_field_is_plain_data,
    thousands_of_connections_opened_and_dropped_leave_no_descriptors_behind,
);
