//! The live moderation term lists (issue 14) as admins and users meet them: terms added and
//! removed with the operator CLI (another process) or the admin API reach a running server's word
//! list without a restart, the allow list exempts words the community accepts, `--blocklist`
//! seeds the list once, and every change lands in the audit log.

mod common;

use std::{
    sync::{Arc, Mutex},
    time::Duration,
};

use chatterbox::chat::webhook::WebhookConfig;
use common::{cli, Account, Options, TestServer, WsClient};
use reqwest::Method;
use serde_json::{json, Value};

/// One REST call; returns the status and the JSON body (Null when there is none).
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
    (status, if text.is_empty() { Value::Null } else { serde_json::from_str(&text).unwrap() })
}

/// Runs `chatterbox moderation terms ARGS` on the server's database.
async fn terms_cli(server: &TestServer, args: &[&str]) -> std::process::Output {
    let mut cmd = cli::chatterbox();
    cmd.args(server.db_args()).args(["moderation", "terms"]).args(args);
    tokio::task::spawn_blocking(move || cli::run(cmd, None)).await.unwrap()
}

/// Sends `text` and reads until its echo (true: delivered) or a moderation warning (false).
async fn delivered(socket: &mut WsClient, text: &str) -> bool {
    socket.send_text(text).await;
    loop {
        let v = socket.next_json().await.expect("an answer to a sent message");
        match v["type"].as_str() {
            Some("message") if v["text"] == text => return true,
            Some("warning") => return false,
            Some("error" | "blocked") => panic!("{text:?}: {v}"),
            _ => {}
        }
    }
}

/// Waits (up to 10 s) until the server's word list refuses `word` or not (`refused`), then sends
/// it to check what a user sees. Polling the list rather than sending: every refusal is a strike.
async fn until(server: &TestServer, socket: &mut WsClient, word: &str, refused: bool) {
    for _ in 0..100 {
        if server.chat.matcher().find(word).is_some() == refused {
            assert_eq!(delivered(socket, word).await, !refused, "{word:?}");
            return;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    panic!("{word:?} was never {}", if refused { "refused" } else { "accepted" });
}

/// The term-list rows of the audit log: (actor, term, what happened, reason), oldest first.
async fn audit_rows(server: &TestServer) -> Vec<(String, Option<String>, Option<String>, Option<String>)> {
    const SQL: &str = "SELECT actor, term, text, reason FROM violations WHERE action = 'terms' ORDER BY id";
    let (db, url) = (server.db.clone(), server.database_url.clone());
    tokio::task::spawn_blocking(move || match url {
        Some(url) => {
            let mut client = postgres::Client::connect(&url, postgres::NoTls).unwrap();
            client.query(SQL, &[]).unwrap().iter().map(|r| (r.get(0), r.get(1), r.get(2), r.get(3))).collect()
        }
        None => {
            let conn = rusqlite::Connection::open(db).unwrap();
            let mut stmt = conn.prepare(SQL).unwrap();
            stmt.query_map([], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?)))
                .unwrap()
                .collect::<Result<Vec<_>, _>>()
                .unwrap()
        }
    })
    .await
    .unwrap()
}

/// Another server on the same database (a restart, or a second instance).
async fn on_same_database(server: &TestServer) -> TestServer {
    let opts = match &server.database_url {
        Some(url) => Options { database_url: Some(url.clone()), ..common::unthrottled() },
        None => Options { db: Some(server.db.clone()), postgres: false, ..common::unthrottled() },
    };
    common::start_with(opts).await
}

fn terms_of(list: &Value) -> Vec<(String, String)> {
    list.as_array()
        .unwrap()
        .iter()
        .map(|t| (t["term"].as_str().unwrap().to_string(), t["list"].as_str().unwrap().to_string()))
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn cli_changes_reach_a_running_server_without_a_restart() {
    let server = common::start_with(common::unthrottled()).await;
    let alice = server.register("alice").await;
    let (mut socket, _) = server.connect(&alice.token, None).await;
    assert!(delivered(&mut socket, "bazinga").await, "not a term yet");

    let out = terms_cli(&server, &["add", "  Bazinga ", "--reason", "spam wave"]).await;
    assert!(out.status.success(), "{}", cli::describe(&out));
    assert!(String::from_utf8_lossy(&out.stdout).contains("added \"bazinga\" to the block list"));
    until(&server, &mut socket, "bazinga!", true).await;

    let out = terms_cli(&server, &["list", "--list", "block", "--format", "json"]).await;
    assert!(out.status.success(), "{}", cli::describe(&out));
    let listed: Value = serde_json::from_slice(&out.stdout).unwrap();
    let bazinga = listed.as_array().unwrap().iter().find(|t| t["term"] == "bazinga").expect("listed");
    assert_eq!((bazinga["list"].as_str(), bazinga["added_by"].as_str()), (Some("block"), Some("cli")));
    assert!(listed.as_array().unwrap().iter().any(|t| t["term"] == "idiot"), "the seeded default list");

    let out = terms_cli(&server, &["remove", "BAZINGA"]).await;
    assert!(out.status.success(), "{}", cli::describe(&out));
    until(&server, &mut socket, "bazinga?", false).await;

    // Clear errors, exit code 1, nothing written.
    let out = terms_cli(&server, &["remove", "bazinga"]).await;
    assert_eq!(out.status.code(), Some(1), "{}", cli::describe(&out));
    assert!(String::from_utf8_lossy(&out.stderr).contains("no such term"), "{}", cli::describe(&out));
    for bad in [&["add", "   "][..], &["add", "123"], &["add", "two words", "--allow"]] {
        let out = terms_cli(&server, bad).await;
        assert_eq!(out.status.code(), Some(1), "{bad:?}: {}", cli::describe(&out));
        assert!(String::from_utf8_lossy(&out.stderr).contains("error:"), "{}", cli::describe(&out));
    }
    let out = terms_cli(&server, &["list", "--format", "csv", "--list", "allow"]).await;
    assert_eq!(String::from_utf8_lossy(&out.stdout).trim(), "term,list,added_by,added_at");

    let rows = audit_rows(&server).await;
    let row = |term: &str, act: &str| {
        rows.iter().any(|(actor, t, text, _)| {
            actor == "cli" && t.as_deref() == Some(term) && text.as_deref() == Some(act)
        })
    };
    assert!(
        row("bazinga", "added to the block list") && row("bazinga", "removed from the block list"),
        "{rows:?}"
    );
    assert!(rows.iter().any(|r| r.3.as_deref() == Some("spam wave")), "the reason is kept: {rows:?}");
    server.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn admins_manage_both_lists_over_rest_and_edits_are_screened_too() {
    let server = common::start_with(common::unthrottled()).await;
    let admin = server.register_admin("root").await;
    let alice = server.register("alice").await;
    let (mut socket, _) = server.connect(&alice.token, None).await;

    // Only admins.
    let (status, _) = call(&server, Method::GET, "/admin/terms", &alice, None).await;
    assert_eq!(status, 403);
    let (status, _) = call(&server, Method::POST, "/admin/terms", &alice, Some(json!({ "term": "x" }))).await;
    assert_eq!(status, 403);

    // Added: refused at once on this instance (the answer waits for its word list).
    let (status, body) =
        call(&server, Method::POST, "/admin/terms", &admin, Some(json!({ "term": "Bazinga" }))).await;
    assert_eq!(
        (status, &body["term"], &body["list"], &body["result"]),
        (200, &json!("bazinga"), &json!("block"), &json!("added"))
    );
    assert!(!delivered(&mut socket, "oh b4zinga!").await, "look-alikes of a live term are caught");
    let (status, body) =
        call(&server, Method::POST, "/admin/terms", &admin, Some(json!({ "term": "bazinga" }))).await;
    assert_eq!((status, &body["result"]), (200, &json!("unchanged")));

    // An edit is screened with the live list as well.
    let sent = socket.send_acked("hello there").await;
    let id = sent["id"].as_i64().unwrap();
    let (status, body) =
        call(&server, Method::PATCH, &format!("/messages/{id}"), &alice, Some(json!({ "text": "bazinga" })))
            .await;
    assert_eq!(status, 422, "{body}");

    let (status, body) = call(&server, Method::DELETE, "/admin/terms/Bazinga", &admin, None).await;
    assert_eq!((status, &body["result"], &body["list"]), (200, &json!("removed"), &json!("block")));
    assert!(delivered(&mut socket, "bazinga again").await);
    let (status, body) = call(&server, Method::DELETE, "/admin/terms/bazinga", &admin, None).await;
    assert_eq!((status, body["detail"].as_str()), (404, Some("no such term")));

    // The allow list: a village the word list catches ("shit" counts at a word's start). Bob
    // sends now: two more violations would block alice.
    let bob = server.register("bob").await;
    let (mut socket, _) = server.connect(&bob.token, None).await;
    assert!(!delivered(&mut socket, "greetings from Shitterton").await);
    let (status, body) = call(
        &server,
        Method::POST,
        "/admin/terms",
        &admin,
        Some(json!({ "term": "Shitterton", "list": "allow" })),
    )
    .await;
    assert_eq!((status, &body["list"], &body["result"]), (200, &json!("allow"), &json!("added")));
    assert!(delivered(&mut socket, "greetings from Shitterton!").await);
    assert!(delivered(&mut socket, "the Shitterton-Bere-Regis road").await);
    assert!(!delivered(&mut socket, "Shitterton is shit").await, "only the allowed word is exempt");
    // Moving a term between lists; a removed default term is no longer refused.
    let (_, body) =
        call(&server, Method::POST, "/admin/terms", &admin, Some(json!({ "term": "crap", "list": "allow" })))
            .await;
    assert_eq!(body["result"], "moved");
    let (_, list) = call(&server, Method::GET, "/admin/terms", &admin, None).await;
    let terms = terms_of(&list);
    assert!(
        terms.contains(&("crap".into(), "allow".into()))
            && terms.contains(&("shitterton".into(), "allow".into()))
    );
    assert!(terms.contains(&("idiot".into(), "block".into())));

    // Validation: 422 with the field.
    for bad in [
        json!({ "term": "  " }),
        json!({ "term": "!!!" }),
        json!({ "term": "two words", "list": "allow" }),
        json!({ "term": " padded " }),
    ] {
        let (status, body) = call(&server, Method::POST, "/admin/terms", &admin, Some(bad.clone())).await;
        assert_eq!((status, body["field"].as_str()), (422, Some("term")), "{bad}: {body}");
    }
    let (status, _) =
        call(&server, Method::POST, "/admin/terms", &admin, Some(json!({ "term": "x", "list": "maybe" })))
            .await;
    assert!(status == 400 || status == 422, "{status}");

    let rows = audit_rows(&server).await;
    assert!(
        rows.iter().any(|(actor, term, text, _)| actor == "root"
            && term.as_deref() == Some("crap")
            && text.as_deref() == Some("moved to the allow list")),
        "{rows:?}"
    );
    server.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn blocklist_seeds_the_list_once() {
    let mut server = common::start_with(common::unthrottled()).await;
    let admin = server.register_admin("root").await;
    let (_, list) = call(&server, Method::GET, "/admin/terms", &admin, None).await;
    let seeded = list.as_array().unwrap();
    assert_eq!(seeded.len(), chatterbox::chat::moderation::DEFAULT_TERMS.len());
    assert!(seeded.iter().all(|t| t["added_by"] == "moderation" && t["list"] == "block"));
    // Every term removed: the next start must not seed them back.
    for t in seeded {
        let path = format!("/admin/terms/{}", t["term"].as_str().unwrap());
        assert_eq!(call(&server, Method::DELETE, &path, &admin, None).await.0, 200);
    }
    let dir = server.keep_dir();
    server.shutdown().await;
    let again = on_same_database(&server).await;
    let (_, list) = call(&again, Method::GET, "/admin/terms", &admin, None).await;
    assert_eq!(list, json!([]), "seeded once");
    let alice = again.register("alice").await;
    let (mut socket, _) = again.connect(&alice.token, None).await;
    assert!(delivered(&mut socket, "you idiot").await, "an empty list refuses nothing");
    let seeds = audit_rows(&again).await.into_iter().filter(|r| r.0 == "moderation").count();
    assert_eq!(seeds, 1, "one audit row for the seeding");
    again.stop().await;
    drop(dir);
}

// ---------------------------------------------------------------------------------------------
// The moderation webhook

/// A little moderation webhook: answers by the message's first word. `refuse` and `flag` give
/// those verdicts, `slow` answers after 3 s (past the servers' 1 s timeout), `fail` answers 500,
/// `garbage` answers 200 with something that is not a verdict, `hold` waits until the test
/// releases it; anything else is allowed. Keeps every call it got.
struct Hook {
    url: String,
    calls: Arc<Mutex<Vec<Value>>>,
    release: Arc<tokio::sync::Notify>,
}

async fn hook() -> Hook {
    start_hook(None).await
}

/// The same webhook over https, with a certificate for `localhost` made now; returns it with
/// that certificate in PEM, the authority a server must trust to reach it.
async fn hook_tls() -> (Hook, String) {
    let made = rcgen::generate_simple_self_signed(vec!["localhost".to_string()]).unwrap();
    let key = rustls::pki_types::PrivateKeyDer::try_from(made.signing_key.serialize_der()).unwrap();
    let config =
        rustls::ServerConfig::builder_with_provider(Arc::new(rustls::crypto::ring::default_provider()))
            .with_safe_default_protocol_versions()
            .unwrap()
            .with_no_client_auth()
            .with_single_cert(vec![made.cert.der().clone()], key)
            .unwrap();
    let hook = start_hook(Some(tokio_rustls::TlsAcceptor::from(Arc::new(config)))).await;
    (hook, made.cert.pem())
}

async fn start_hook(tls: Option<tokio_rustls::TlsAcceptor>) -> Hook {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = listener.local_addr().unwrap().port();
    let url = match tls {
        None => format!("http://127.0.0.1:{port}/moderate"),
        Some(_) => format!("https://localhost:{port}/moderate"),
    };
    let calls = Arc::new(Mutex::new(Vec::new()));
    let release = Arc::new(tokio::sync::Notify::new());
    let (seen, held) = (Arc::clone(&calls), Arc::clone(&release));
    tokio::spawn(async move {
        loop {
            let Ok((stream, _)) = listener.accept().await else { return };
            let (seen, held, tls) = (Arc::clone(&seen), Arc::clone(&held), tls.clone());
            tokio::spawn(async move {
                match tls {
                    None => answer(stream, seen, held).await,
                    // A client that does not trust the certificate ends the handshake here.
                    Some(tls) => {
                        if let Ok(stream) = tls.accept(stream).await {
                            answer(stream, seen, held).await;
                        }
                    }
                }
            });
        }
    });
    Hook { url, calls, release }
}

async fn answer<S>(mut stream: S, seen: Arc<Mutex<Vec<Value>>>, held: Arc<tokio::sync::Notify>)
where
    S: tokio::io::AsyncRead + tokio::io::AsyncWrite + Unpin,
{
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let mut buf = Vec::new();
    let mut chunk = [0u8; 4096];
    let body = loop {
        let n = stream.read(&mut chunk).await.unwrap_or(0);
        if n == 0 {
            return;
        }
        buf.extend_from_slice(&chunk[..n]);
        let Some(end) = buf.windows(4).position(|w| w == b"\r\n\r\n") else { continue };
        let head = String::from_utf8_lossy(&buf[..end]).to_lowercase();
        let len: usize = head
            .lines()
            .find_map(|l| l.strip_prefix("content-length:"))
            .and_then(|v| v.trim().parse().ok())
            .unwrap_or(0);
        if buf.len() >= end + 4 + len {
            assert!(head.starts_with("post /moderate http/1.1"), "{head}");
            assert!(head.contains("content-type: application/json"), "{head}");
            break buf[end + 4..end + 4 + len].to_vec();
        }
    };
    let call: Value = serde_json::from_slice(&body).unwrap();
    seen.lock().unwrap().push(call.clone());
    let text = call["text"].as_str().unwrap_or_default().to_string();
    let (status, reply) = match text.split_whitespace().next().unwrap_or_default() {
        "refuse" => ("200 OK", json!({ "verdict": "refuse", "reason": "spam" }).to_string()),
        "flag" => ("200 OK", json!({ "verdict": "flag", "reason": "looks odd" }).to_string()),
        "slow" => {
            tokio::time::sleep(Duration::from_secs(3)).await;
            ("200 OK", json!({ "verdict": "allow" }).to_string())
        }
        "fail" => ("500 Internal Server Error", "oops".to_string()),
        "garbage" => ("200 OK", "{\"verdict\": \"perhaps\"}".to_string()),
        "hold" => {
            held.notified().await;
            ("200 OK", json!({ "verdict": "allow" }).to_string())
        }
        _ => ("200 OK", json!({ "verdict": "allow" }).to_string()),
    };
    let resp = format!(
        "HTTP/1.1 {status}\r\ncontent-type: application/json\r\ncontent-length: {}\r\nconnection: close\r\n\r\n{reply}",
        reply.len()
    );
    let _ = stream.write_all(resp.as_bytes()).await;
    let _ = stream.shutdown().await;
}

async fn with_hook(hook: &Hook, fail_closed: bool) -> TestServer {
    with_hook_trusting(hook, None, fail_closed).await
}

/// A server calling `hook`; for an https one, trusting the authorities in the PEM `ca` only.
async fn with_hook_trusting(hook: &Hook, ca: Option<&str>, fail_closed: bool) -> TestServer {
    let ca_file = ca.map(|pem| {
        let file = tempfile::NamedTempFile::new().unwrap();
        std::fs::write(file.path(), pem).unwrap();
        file
    });
    let tls = ca_file.as_ref().map(|f| WebhookConfig::client_tls(Some(f.path())).unwrap());
    let mut opts = common::unthrottled();
    opts.chat.webhook = Some(WebhookConfig {
        url: WebhookConfig::parse_url(&hook.url).unwrap(),
        timeout: Duration::from_secs(1),
        fail_closed,
        concurrency: 4,
        tls,
    });
    common::start_with(opts).await
}

/// Sends `text`; the frame that answers it: its echo, a warning, or an error.
async fn answer_to(socket: &mut WsClient, text: &str) -> Value {
    socket.send_text(text).await;
    loop {
        let v = socket.next_json().await.expect("an answer");
        match v["type"].as_str() {
            Some("message") if v["text"] == text => return v,
            Some("warning" | "error" | "blocked") => return v,
            _ => {}
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_webhook_allows_flags_and_refuses_and_failing_open_delivers() {
    let hook = hook().await;
    let server = with_hook(&hook, false).await;
    let alice = server.register("alice").await;
    let (mut socket, _) = server.connect(&alice.token, None).await;
    let allowed = answer_to(&mut socket, "hello webhook").await;
    assert_eq!(allowed["type"], "message");
    let call = hook.calls.lock().unwrap().last().cloned().unwrap();
    assert_eq!(
        call,
        json!({ "text": "hello webhook", "user": { "id": alice.id, "username": "alice" },
                "room": { "id": 1, "kind": "public", "name": "general" }, "kind": "message" })
    );
    assert_eq!(answer_to(&mut socket, "flag me").await["type"], "message", "a flagged message is delivered");
    let refused = answer_to(&mut socket, "refuse this").await;
    assert_eq!(refused["type"], "warning", "{refused}");
    assert!(refused["text"].as_str().unwrap().contains("webhook: spam"), "{refused}");
    // The word list still comes first: the webhook is not asked about what it refuses.
    let bob = server.register("bob").await;
    let (mut bobs, _) = server.connect(&bob.token, None).await;
    let calls = hook.calls.lock().unwrap().len();
    assert_eq!(answer_to(&mut bobs, "you idiot").await["type"], "warning");
    assert_eq!(hook.calls.lock().unwrap().len(), calls);
    // Failing open: delivered whatever goes wrong.
    for text in ["slow but fine", "fail silently", "garbage in"] {
        assert_eq!(answer_to(&mut socket, text).await["type"], "message", "{text}");
    }
    // Edits are asked about too.
    let id = socket.send_acked("an honest message").await["id"].as_i64().unwrap();
    let (status, _) = call_json(
        &server,
        Method::PATCH,
        &format!("/messages/{id}"),
        &alice,
        json!({ "text": "refuse edit" }),
    )
    .await;
    assert_eq!(status, 422);
    let last = hook.calls.lock().unwrap().last().cloned().unwrap();
    assert_eq!((last["kind"].as_str(), last["text"].as_str()), (Some("edit"), Some("refuse edit")));
    // What the webhook flagged waits in the report queue, without a reporter.
    let admin = server.register_admin("root").await;
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(15);
    let report = loop {
        let reports: Vec<Value> =
            server.get("/admin/reports?status=all", Some(&admin.token)).await.json().await.unwrap();
        if let Some(r) = reports.into_iter().find(|r| r["message"]["text"] == "flag me") {
            break r;
        }
        assert!(std::time::Instant::now() < deadline, "the flagged message was not reported");
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    };
    assert_eq!(
        (report["source"].as_str(), report["reporter"].is_null()),
        (Some("webhook"), true),
        "{report}"
    );
    server.stop().await;
}

async fn call_json(
    server: &TestServer,
    method: Method,
    path: &str,
    who: &Account,
    body: Value,
) -> (u16, Value) {
    call(server, method, path, who, Some(body)).await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn failing_closed_refuses_without_a_strike() {
    let hook = hook().await;
    let server = with_hook(&hook, true).await;
    let alice = server.register("alice").await;
    let (mut socket, _) = server.connect(&alice.token, None).await;
    // More failures than the warnings an account has: none of them is a strike.
    for text in ["slow one", "fail two", "garbage three", "fail four"] {
        let v = answer_to(&mut socket, text).await;
        assert_eq!(
            (v["type"].as_str(), v["detail"].as_str()),
            (Some("error"), Some("moderation is unavailable, try again")),
            "{text}"
        );
    }
    assert_eq!(answer_to(&mut socket, "all good now").await["type"], "message");
    let (status, me) = call(&server, Method::GET, "/me", &alice, None).await;
    assert_eq!(status, 200);
    assert_eq!(me["warning_count"].as_i64().unwrap_or(0), 0, "{me}");
    server.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_slow_webhook_delays_only_its_sender_and_keeps_their_order() {
    let hook = hook().await;
    let server = with_hook(&hook, false).await;
    let alice = server.register("alice").await;
    let bob = server.register("bob").await;
    let (mut a, _) = server.connect(&alice.token, None).await;
    let (mut b, _) = server.connect(&bob.token, None).await;
    // Alice's first message waits for the webhook; her second is sent right behind it.
    a.send_text("hold first").await;
    a.send_text("then second").await;
    while hook.calls.lock().unwrap().iter().all(|c| c["text"] != "hold first") {
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    // Bob is not held up: his message is delivered (to himself and to alice) while hers waits.
    assert_eq!(b.send_acked("bob meanwhile").await["text"], "bob meanwhile");
    hook.release.notify_one();
    let mut seen = Vec::new();
    while seen.len() < 3 {
        let m = a.next_message().await.expect("messages");
        seen.push(m["text"].as_str().unwrap().to_string());
    }
    assert_eq!(seen, ["bob meanwhile", "hold first", "then second"], "alice's order holds; bob came first");
    server.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_https_webhook_is_called_over_tls_and_followed() {
    let (hook, cert) = hook_tls().await;
    let server = with_hook_trusting(&hook, Some(&cert), true).await;
    let alice = server.register("alice").await;
    let (mut socket, _) = server.connect(&alice.token, None).await;
    assert_eq!(answer_to(&mut socket, "hello over tls").await["type"], "message");
    let refused = answer_to(&mut socket, "refuse this").await;
    assert!(refused["text"].as_str().unwrap().contains("webhook: spam"), "{refused}");
    let texts: Vec<Value> = hook.calls.lock().unwrap().iter().map(|c| c["text"].clone()).collect();
    assert_eq!(texts, [json!("hello over tls"), json!("refuse this")]);
    server.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_https_webhook_with_a_certificate_nobody_vouches_for_gets_no_text() {
    let (hook, _) = hook_tls().await;
    // The server trusts another authority than the one that made the webhook's certificate.
    let other = rcgen::generate_simple_self_signed(vec!["localhost".to_string()]).unwrap();
    let server = with_hook_trusting(&hook, Some(&other.cert.pem()), true).await;
    let alice = server.register("alice").await;
    let (mut socket, _) = server.connect(&alice.token, None).await;
    let v = answer_to(&mut socket, "my secret").await;
    assert_eq!(
        (v["type"].as_str(), v["detail"].as_str()),
        (Some("error"), Some("moderation is unavailable, try again"))
    );
    assert!(hook.calls.lock().unwrap().is_empty(), "the text never reached an unverified webhook");
    server.stop().await;
}

common::postgres_too!(
    an_https_webhook_is_called_over_tls_and_followed,
    an_https_webhook_with_a_certificate_nobody_vouches_for_gets_no_text,
    cli_changes_reach_a_running_server_without_a_restart,
    admins_manage_both_lists_over_rest_and_edits_are_screened_too,
    blocklist_seeds_the_list_once,
    the_webhook_allows_flags_and_refuses_and_failing_open_delivers,
    failing_closed_refuses_without_a_strike,
    a_slow_webhook_delays_only_its_sender_and_keeps_their_order,
);
