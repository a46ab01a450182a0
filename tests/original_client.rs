//! The original implementation's own web client against chatterbox, spoken exactly as its pages
//! do (CI has no copy of them; tests/browser/original.test.mjs drives the real pages when one is
//! given): its cross-origin preflights, `/auth/login` with `{email, password}`, `/chat/ws?token=`
//! with its page's `Origin`, naive UTC timestamps, and its admin page's three routes.

mod common;

use std::{
    process::Stdio,
    time::{Duration, Instant},
};

use chatterbox::http::{cors::CorsOrigins, HttpConfig};
use common::{Next, Options, TestServer, WsClient, PASSWORD};
use serde_json::{json, Value};
use tokio_tungstenite::tungstenite::{client::IntoClientRequest, Message};

/// Where the original's frontend runs: its dev server on another port.
const PAGE_ORIGIN: &str = "http://localhost:5173";

async fn start() -> TestServer {
    let cors = CorsOrigins::parse(&[PAGE_ORIGIN]).unwrap();
    // Unthrottled: a test sends a dozen messages in a row, as people in a busy room would.
    common::start_with(Options {
        http: HttpConfig { cors, ..HttpConfig::default() },
        ..common::unthrottled()
    })
    .await
}

/// `2026-11-26T09:09:34.131000`, or without the fraction when it is zero; no offset, no `Z`.
fn assert_naive(ts: &Value) {
    let s = ts.as_str().unwrap_or_else(|| panic!("{ts} is not a string"));
    let (base, frac) = s.split_once('.').unwrap_or((s, "000000"));
    let ok = base.len() == 19
        && base.as_bytes()[10] == b'T'
        && base.chars().enumerate().all(|(i, c)| [4, 7, 10, 13, 16].contains(&i) || c.is_ascii_digit())
        && frac.len() == 6
        && frac.chars().all(|c| c.is_ascii_digit());
    assert!(ok, "{s:?} is not a naive Python isoformat timestamp");
}

async fn preflight(server: &TestServer, path: &str, origin: &str, method: &str) -> reqwest::Response {
    server
        .http
        .request(reqwest::Method::OPTIONS, server.url(path))
        .header("origin", origin)
        .header("access-control-request-method", method)
        .header("access-control-request-headers", "authorization,content-type")
        .send()
        .await
        .unwrap()
}

fn cors_headers(resp: &reqwest::Response) -> Vec<String> {
    resp.headers()
        .keys()
        .map(|k| k.as_str().to_string())
        .filter(|k| k.starts_with("access-control-"))
        .collect()
}

/// `POST /auth/login` as the original's sign-in page sends it, from its origin.
async fn page_login(server: &TestServer, path: &str, email: &str, password: &str) -> reqwest::Response {
    server
        .http
        .post(server.url(path))
        .header("origin", PAGE_ORIGIN)
        .json(&json!({ "email": email, "password": password }))
        .send()
        .await
        .unwrap()
}

/// Opens `/chat/ws?token=` with the page's `Origin`, reading nothing.
async fn open_original(server: &TestServer, token: &str, origin: &str) -> Result<WsClient, u16> {
    let mut req = server.ws_url(&format!("/chat/ws?token={token}")).into_client_request().unwrap();
    req.headers_mut().insert("origin", origin.parse().unwrap());
    match tokio_tungstenite::connect_async(req).await {
        Ok((ws, _)) => Ok(WsClient { ws, rooms: serde_json::Value::Null }),
        Err(tokio_tungstenite::tungstenite::Error::Http(resp)) => Err(resp.status().as_u16()),
        Err(e) => panic!("handshake failed: {e}"),
    }
}

/// Sends the original's frame, `{"text": ...}`.
async fn say(client: &mut WsClient, text: &str) {
    client.send_raw(Message::Text(json!({ "text": text }).to_string().into())).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn preflights_from_a_listed_origin_are_answered_and_others_refused() {
    let server = start().await;
    server.register("alice").await;

    let resp = preflight(&server, "/auth/login", PAGE_ORIGIN, "POST").await;
    assert_eq!(resp.status(), 204);
    let h = resp.headers();
    assert_eq!(h["access-control-allow-origin"], PAGE_ORIGIN);
    let methods = h["access-control-allow-methods"].to_str().unwrap();
    assert!(methods.contains("POST") && methods.contains("GET"), "{methods}");
    let headers = h["access-control-allow-headers"].to_str().unwrap().to_ascii_lowercase();
    assert!(headers.contains("authorization") && headers.contains("content-type"), "{headers}");
    assert!(h["access-control-max-age"].to_str().unwrap().parse::<u32>().unwrap() > 0);
    assert!(h.get_all("vary").iter().any(|v| v == "Origin"));

    // The real request then carries the header the browser needs to hand the answer over.
    let resp = page_login(&server, "/auth/login", "alice@example.com", PASSWORD).await;
    assert_eq!(resp.status(), 200);
    assert_eq!(resp.headers()["access-control-allow-origin"], PAGE_ORIGIN);
    assert!(resp.headers().get_all("vary").iter().any(|v| v == "Origin"));
    let body: Value = resp.json().await.unwrap();
    assert_eq!(body["token_type"], "bearer");
    // Its chat page reads the name from the token's payload.
    let token = body["access_token"].as_str().unwrap();
    let payload = token.split('.').nth(1).unwrap();
    let claims = String::from_utf8(base64_url(payload)).unwrap();
    assert!(claims.contains("\"username\":\"alice\""), "{claims}");

    // Another site gets neither a preflight nor the header on an answer.
    for origin in ["http://evil.example", "http://localhost:5174", "null"] {
        let resp = preflight(&server, "/chat/messages", origin, "GET").await;
        assert_eq!(resp.status(), 403, "{origin}");
        assert_eq!(cors_headers(&resp), Vec::<String>::new(), "{origin}");
        let resp = server.http.get(server.url("/healthz")).header("origin", origin).send().await.unwrap();
        assert_eq!(cors_headers(&resp), Vec::<String>::new(), "{origin}");
    }
    server.stop().await;

    // Nothing is allowed by default.
    let server = common::start().await;
    let resp = preflight(&server, "/auth/login", PAGE_ORIGIN, "POST").await;
    assert_eq!(resp.status(), 403);
    assert_eq!(cors_headers(&resp), Vec::<String>::new());
    server.stop().await;
}

fn base64_url(s: &str) -> Vec<u8> {
    const ALPHABET: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
    let mut bits = 0u32;
    let mut n = 0;
    let mut out = Vec::new();
    for c in s.bytes().filter(|&c| c != b'=') {
        bits = (bits << 6) | ALPHABET.iter().position(|&a| a == c).unwrap() as u32;
        n += 6;
        if n >= 8 {
            n -= 8;
            out.push((bits >> n) as u8);
        }
    }
    out
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn original_chat_page_talks_over_chat_ws_with_naive_timestamps() {
    let server = start().await;
    let alice = server.register("alice").await;
    let bob = server.register("bob").await;
    let (mut ours, _) = server.connect(&bob.token, None).await;
    ours.send_acked("before the page opened").await;

    // Another site's page is still refused; the listed origin is admitted.
    assert_eq!(open_original(&server, &alice.token, "http://evil.example").await.err(), Some(403));
    let mut page = open_original(&server, &alice.token, PAGE_ORIGIN).await.unwrap();

    // The page loads history over REST (naive timestamps there too), and the socket replays
    // nothing and sends no presence frames, which its page would render as empty bubbles.
    let resp = server
        .http
        .get(server.url("/chat/messages"))
        .header("origin", PAGE_ORIGIN)
        .bearer_auth(&alice.token)
        .send()
        .await
        .unwrap();
    assert_eq!(resp.headers()["access-control-allow-origin"], PAGE_ORIGIN);
    let history: Value = resp.json().await.unwrap();
    assert_eq!(history[0]["text"], "before the page opened");
    assert_naive(&history[0]["timestamp"]);
    let ours_history: Value = server.get("/messages", Some(&bob.token)).await.json().await.unwrap();
    assert!(ours_history[0]["timestamp"].as_str().unwrap().ends_with('Z'));

    say(&mut page, "hello from the original page").await;
    let frame = page.next_json().await.unwrap();
    assert_eq!(
        (frame["user"].as_str(), frame["text"].as_str()),
        (Some("alice"), Some("hello from the original page"))
    );
    assert_naive(&frame["timestamp"]);
    // Our own clients keep RFC 3339 with Z for the same message.
    let same = ours.next_message().await.unwrap();
    assert_eq!(same["text"], "hello from the original page");
    assert!(same["timestamp"].as_str().unwrap().ends_with('Z'), "{same}");

    // Bob's message reaches the page in its form; his leaving is not a frame it would render.
    ours.send_acked("hi alice").await;
    let frame = page.next_json().await.unwrap();
    assert_eq!((frame["user"].as_str(), frame["text"].as_str()), (Some("bob"), Some("hi alice")));
    assert_naive(&frame["timestamp"]);

    // A frame it cannot send is an alert, as its page shows `System` alerts.
    say(&mut page, "   ").await;
    let error = page.next_json().await.unwrap();
    assert_eq!((error["alert"].as_bool(), error["user"].as_str()), (Some(true), Some("System")), "{error}");
    assert!(error["text"].as_str().is_some_and(|t| !t.is_empty()));

    // Two warnings (alerts), then the block: `blocked` without `alert`, so its page signs out.
    for n in 1..=2 {
        say(&mut page, "you idiot").await;
        let warning = page.next_json().await.unwrap();
        assert_eq!((warning["alert"].as_bool(), warning["user"].as_str()), (Some(true), Some("System")));
        assert!(warning["text"].as_str().unwrap().starts_with(&format!("Warning {n}")), "{warning}");
        assert_naive(&warning["timestamp"]);
    }
    say(&mut page, "you idiot").await;
    let blocked = page.next_json().await.unwrap();
    assert_eq!((blocked["blocked"].as_bool(), blocked.get("alert")), (Some(true), None), "{blocked}");
    assert_naive(&blocked["timestamp"]);
    assert!(matches!(page.next().await, Next::Closed(Some(1008), _)));
    drop(ours);
    server.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn original_admin_page_signs_in_and_reads_its_dashboard() {
    let server = start().await;
    let root = server.register_admin("root").await;
    let mallory = server.register("mallory").await;
    let alice = server.register("alice").await;

    // Its sign-in: {email, password}; 401 for a wrong password, 403 for a non-admin.
    let resp = page_login(&server, "/admin/login", "root@example.com", PASSWORD).await;
    assert_eq!(resp.status(), 200);
    assert_eq!(resp.headers()["access-control-allow-origin"], PAGE_ORIGIN);
    let body: Value = resp.json().await.unwrap();
    assert_eq!(body["token_type"], "bearer");
    let admin_token = body["access_token"].as_str().unwrap().to_string();
    let resp = page_login(&server, "/admin/login", "root@example.com", "not the password").await;
    assert_eq!(resp.status(), 401);
    assert!(resp.json::<Value>().await.unwrap()["detail"].is_string());
    let resp = page_login(&server, "/admin/login", "alice@example.com", PASSWORD).await;
    assert_eq!(resp.status(), 403);
    assert!(resp.json::<Value>().await.unwrap()["detail"].is_string());
    let resp = page_login(&server, "/admin/login", "nobody@example.com", PASSWORD).await;
    assert_eq!(resp.status(), 401);

    // Twelve messages, one of them HTML that its page would otherwise run, then a block.
    let (mut m, _) = server.connect(&mallory.token, None).await;
    for i in 0..11 {
        m.send_acked(&format!("message {i}")).await;
    }
    m.send_acked("<img src=x onerror=alert(1)>").await;
    for _ in 0..3 {
        m.send_text("you idiot").await;
    }
    assert_eq!(m.expect_close().await, Some(1008));

    let resp = preflight(&server, "/admin/dashboard", PAGE_ORIGIN, "GET").await;
    assert_eq!(resp.status(), 204);
    let dash: Value = server.get("/admin/dashboard", Some(&admin_token)).await.json().await.unwrap();
    assert_eq!(
        (dash["total_users"].as_i64(), dash["total_messages"].as_i64(), dash["blocked_users"].as_i64()),
        (Some(3), Some(12), Some(1)),
        "{dash}"
    );
    let messages = dash["messages"].as_array().unwrap();
    assert_eq!(messages.len(), 10);
    let first = &messages[0];
    let keys: Vec<&str> = first.as_object().unwrap().keys().map(String::as_str).collect();
    assert_eq!(keys.len(), 4, "{first}");
    assert_eq!(first["message"], "&lt;img src=x onerror=alert(1)&gt;", "newest first, escaped");
    assert_eq!((first["username"].as_str(), first["blocked"].as_bool()), (Some("mallory"), Some(true)));
    assert_naive(&first["time"]);
    assert_eq!(messages[1]["message"], "message 10");
    assert_eq!(messages[9]["message"], "message 2");

    let blocked: Value = server.get("/admin/blocked-users", Some(&admin_token)).await.json().await.unwrap();
    let blocked = blocked.as_array().unwrap();
    assert_eq!(blocked.len(), 1);
    let b = &blocked[0];
    assert_eq!(
        (b["username"].as_str(), b["is_blocked"].as_bool(), b["warning_count"].as_i64()),
        (Some("mallory"), Some(true), Some(3))
    );
    assert_eq!(
        (b["email"].as_str(), b["full_name"].as_str(), b["is_admin"].as_bool()),
        (Some("mallory@example.com"), Some(""), Some(false))
    );
    assert_eq!(b["id"].as_i64(), Some(mallory.id));
    assert_naive(&b["created_at"]);
    assert!(b.get("password_hash").is_none() && b.get("password").is_none(), "{b}");

    // An e-mail address may hold what HTML interprets; its page inserts fields as HTML.
    let email = r#"<img/src=x/onerror=alert('pwned')>"@example.com"#;
    let resp = server
        .http
        .post(server.url("/register"))
        .json(&json!({ "username": "eve", "email": email, "password": PASSWORD }))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 201);
    let eve: Value = resp.json().await.unwrap();
    let eve_id = eve["user"]["id"].as_i64().unwrap();
    let resp = server.post(&format!("/admin/users/{eve_id}/block"), Some(&root.token), None).await;
    assert_eq!(resp.status(), 200);
    let blocked: Value = server.get("/admin/blocked-users", Some(&admin_token)).await.json().await.unwrap();
    let eve = blocked.as_array().unwrap().iter().find(|u| u["id"] == eve_id).expect("eve is listed");
    assert_eq!(eve["email"], "&lt;img/src=x/onerror=alert(&#39;pwned&#39;)&gt;&quot;@example.com", "{eve}");
    assert_eq!(eve["username"], "eve");

    // Admins only, as on our own admin API.
    for route in ["/admin/dashboard", "/admin/blocked-users"] {
        assert_eq!(server.get(route, None).await.status(), 401, "{route}");
        assert_eq!(server.get(route, Some(&alice.token)).await.status(), 403, "{route}");
        assert_eq!(server.post(route, Some(&root.token), None).await.status(), 405, "{route}");
    }
    assert_eq!(server.get("/admin/login", None).await.status(), 405);
    server.stop().await;
}

/// `serve` refuses what is not an origin, and `*`, saying why, before it starts.
#[test]
fn cors_origins_are_validated_at_startup() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("chat.db");
    let cases: [(&[&str], Option<&str>, &str); 3] = [
        (&["--cors-origin", "*"], None, "every web site"),
        (&["--cors-origin", "http://localhost:5173/"], None, "no path"),
        (&[], Some("http://localhost:5173,ftp://files.example"), "http or https"),
    ];
    for (args, env, expected) in cases {
        let mut cmd = std::process::Command::new(env!("CARGO_BIN_EXE_chatterbox"));
        cmd.arg("--db").arg(&db).args(["serve", "--listen", "127.0.0.1:0"]).args(args);
        cmd.env_remove("CHATTERBOX_CORS_ORIGINS").stdout(Stdio::null()).stderr(Stdio::piped());
        if let Some(env) = env {
            cmd.env("CHATTERBOX_CORS_ORIGINS", env);
        }
        let mut child = cmd.spawn().unwrap();
        let deadline = Instant::now() + Duration::from_secs(30);
        let status = loop {
            if let Some(status) = child.try_wait().unwrap() {
                break status;
            }
            if Instant::now() > deadline {
                child.kill().unwrap();
                panic!("{args:?} {env:?}: the server started instead of refusing");
            }
            std::thread::sleep(Duration::from_millis(50));
        };
        let mut stderr = String::new();
        std::io::Read::read_to_string(&mut child.stderr.take().unwrap(), &mut stderr).unwrap();
        assert!(!status.success(), "{args:?} {env:?}");
        assert!(stderr.contains("--cors-origin") && stderr.contains(expected), "{args:?} {env:?}: {stderr}");
    }
}

// The same tests with their servers on PostgreSQL (`common::postgres_too`).
common::postgres_too!(
    preflights_from_a_listed_origin_are_answered_and_others_refused,
    original_chat_page_talks_over_chat_ws_with_naive_timestamps,
    original_admin_page_signs_in_and_reads_its_dashboard,
    cors_origins_are_validated_at_startup,
);
