//! The HTTP API as a client sees it: accounts, login, tokens, history, errors, security headers
//! and the admin API with its CSV downloads.

mod common;

use std::sync::Arc;

use chatterbox::chat::{
    accounts::{create_account, set_blocked, NewAccount},
    ratelimit::Rate,
};
use common::{Account, TestServer, PASSWORD};
use jsonwebtoken::{encode, EncodingKey, Header};
use reqwest::{header::HeaderMap, Method};
use serde_json::{json, Value};

// ---------------------------------------------------------------------------------------------
// Helpers

/// Every response, whatever its status, carries these.
fn assert_security_headers(h: &HeaderMap) {
    let csp = h.get("content-security-policy").expect("Content-Security-Policy").to_str().unwrap();
    assert!(csp.contains("default-src 'self'"), "{csp}");
    assert!(csp.contains("frame-ancestors 'none'"), "{csp}");
    assert_eq!(h.get("x-content-type-options").expect("X-Content-Type-Options"), "nosniff");
    assert!(h.get("referrer-policy").is_some(), "Referrer-Policy");
    assert!(h.get("x-frame-options").is_some(), "X-Frame-Options");
}

/// Status and JSON body of a response, after checking its security headers and content type.
async fn json_of(resp: reqwest::Response) -> (u16, Value) {
    assert_security_headers(resp.headers());
    let status = resp.status().as_u16();
    let ctype = resp.headers().get("content-type").map(|v| v.to_str().unwrap().to_string());
    assert_eq!(ctype.as_deref(), Some("application/json"), "status {status}");
    let body = resp.json().await.expect("a JSON body");
    (status, body)
}

/// Expects `status` and returns the JSON body.
async fn expect(resp: reqwest::Response, status: u16) -> Value {
    let (got, body) = json_of(resp).await;
    assert_eq!(got, status, "body: {body}");
    body
}

/// Expects an error `status` with a JSON `{"detail": "..."}` body; returns the body.
async fn expect_error(resp: reqwest::Response, status: u16) -> Value {
    let body = expect(resp, status).await;
    assert!(body["detail"].as_str().is_some_and(|d| !d.is_empty()), "no detail: {body}");
    body
}

async fn raw(server: &TestServer, method: Method, path: &str, body: &str) -> reqwest::Response {
    server
        .http
        .request(method, server.url(path))
        .header("content-type", "application/json")
        .body(body.to_string())
        .send()
        .await
        .unwrap()
}

async fn send(server: &TestServer, method: Method, path: &str, token: &str) -> reqwest::Response {
    server.http.request(method, server.url(path)).bearer_auth(token).send().await.unwrap()
}

fn register_body(username: &str, email: &str, password: &str) -> Value {
    json!({ "username": username, "email": email, "password": password })
}

async fn login(server: &TestServer, path: &str, body: Value) -> reqwest::Response {
    server.post(path, None, Some(body)).await
}

/// Posts `texts` over the WebSocket as `account`, each acknowledged; returns the echoes.
async fn chat(server: &TestServer, account: &Account, texts: &[&str]) -> Vec<Value> {
    let (mut ws, _) = server.connect(&account.token, None).await;
    let mut out = Vec::new();
    for t in texts {
        out.push(ws.send_acked(t).await);
    }
    out
}

fn ids(v: &Value) -> Vec<i64> {
    v.as_array().unwrap().iter().map(|m| m["id"].as_i64().unwrap()).collect()
}

const B64: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";

fn b64url(bytes: &[u8]) -> String {
    let mut out = String::new();
    for chunk in bytes.chunks(3) {
        let n = chunk.iter().enumerate().fold(0u32, |acc, (i, b)| acc | (*b as u32) << (16 - 8 * i));
        for i in 0..=chunk.len() {
            out.push(B64[((n >> (18 - 6 * i)) & 63) as usize] as char);
        }
    }
    out
}

fn b64url_decode(s: &str) -> Vec<u8> {
    let (mut bits, mut nbits, mut out) = (0u32, 0, Vec::new());
    for c in s.bytes() {
        let v = B64.iter().position(|&b| b == c).expect("base64url") as u32;
        bits = (bits << 6) | v;
        nbits += 6;
        if nbits >= 8 {
            nbits -= 8;
            out.push((bits >> nbits) as u8);
            bits &= (1 << nbits) - 1;
        }
    }
    out
}

fn now() -> i64 {
    std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().as_secs() as i64
}

/// The claims chatterbox puts in its tokens.
fn claims(acc: &Account, is_admin: bool, iat: i64, exp: i64) -> Value {
    json!({ "sub": acc.id.to_string(), "user_id": acc.id, "username": acc.username, "is_admin": is_admin, "iat": iat, "exp": exp })
}

fn sign(claims: &Value, secret: &[u8]) -> String {
    encode(&Header::default(), claims, &EncodingKey::from_secret(secret)).unwrap()
}

/// `token` with its payload replaced, keeping the original header and signature.
fn with_payload(token: &str, payload: &Value) -> String {
    let parts: Vec<&str> = token.split('.').collect();
    format!("{}.{}.{}", parts[0], b64url(payload.to_string().as_bytes()), parts[2])
}

fn payload_of(token: &str) -> Value {
    serde_json::from_slice(&b64url_decode(token.split('.').nth(1).unwrap())).unwrap()
}

async fn block(server: &TestServer, admin: &Account, id: i64) -> Value {
    expect(server.post(&format!("/admin/users/{id}/block"), Some(&admin.token), None).await, 200).await
}

async fn violations(server: &TestServer, admin: &Account) -> Vec<Value> {
    let v = expect(server.get("/admin/violations", Some(&admin.token)).await, 200).await;
    v.as_array().unwrap().clone()
}

async fn download(
    server: &TestServer,
    admin: &Account,
    what: &str,
) -> (Vec<String>, Vec<Vec<String>>, String) {
    let resp = server.get(&format!("/admin/download/{what}"), Some(&admin.token)).await;
    assert_eq!(resp.status(), 200);
    assert_security_headers(resp.headers());
    let ctype = resp.headers()["content-type"].to_str().unwrap().to_string();
    assert!(ctype.starts_with("text/csv"), "{ctype}");
    assert_eq!(resp.headers()["content-disposition"], format!("attachment; filename={what}.csv").as_str());
    let text = resp.text().await.unwrap();
    let mut reader = csv::Reader::from_reader(text.as_bytes());
    let header = reader.headers().unwrap().iter().map(str::to_string).collect();
    let rows = reader.records().map(|r| r.unwrap().iter().map(str::to_string).collect()).collect();
    (header, rows, text)
}

// ---------------------------------------------------------------------------------------------
// Accounts

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn register_answers_201_with_a_bearer_token_and_the_user() {
    let server = common::start().await;
    let resp =
        server.post("/register", None, Some(register_body("alice", "Alice@Example.com", PASSWORD))).await;
    let body = expect(resp, 201).await;
    assert_eq!(body["token_type"], "bearer");
    let token = body["access_token"].as_str().expect("access_token");
    assert_eq!(token.split('.').count(), 3, "a JWT");
    let user = &body["user"];
    assert!(user["id"].as_i64().unwrap() > 0);
    assert_eq!(user["username"], "alice");
    assert_eq!(user["is_admin"], false);
    assert_eq!(user.as_object().unwrap().len(), 3, "{user}");

    let me = expect(server.get("/me", Some(token)).await, 200).await;
    assert_eq!(me["id"], user["id"]);
    assert_eq!(me["username"], "alice");
    assert_eq!(me["email"], "alice@example.com", "e-mail stored in lower case");
    assert_eq!(me["is_admin"], false);
    assert_eq!(me["is_blocked"], false);
    assert_eq!(me["warning_count"], 0);
    assert_eq!(me["warning_limit"], 3);
    assert!(me["created_at"].as_str().unwrap().ends_with('Z'), "{me}");
    assert!(me.get("password").is_none() && me.get("password_hash").is_none());
    server.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn register_validation_errors_name_the_field() {
    let server = common::start().await;
    let long_name = "a".repeat(33);
    let cases = [
        ("ab", "ab@example.com", PASSWORD, "username"),
        (long_name.as_str(), "long@example.com", PASSWORD, "username"),
        ("bad name", "bad@example.com", PASSWORD, "username"),
        ("bad!", "bad@example.com", PASSWORD, "username"),
        ("\u{430}lice", "cyr@example.com", PASSWORD, "username"),
        ("carol", "nobody", PASSWORD, "email"),
        ("carol", "carol@example", PASSWORD, "email"),
        ("carol", "carol @example.com", PASSWORD, "email"),
        ("carol", "carol@example.com", "short", "password"),
        ("carol", "carol@example.com", &"x".repeat(73), "password"),
        ("carol", "carol@example.com", &"é".repeat(37), "password"),
    ];
    for (username, email, password, field) in cases {
        let resp = server.post("/register", None, Some(register_body(username, email, password))).await;
        let body = expect_error(resp, 422).await;
        assert_eq!(body["field"], field, "{username:?} {email:?} {password:?}: {body}");
    }
    // Nothing was created by the refusals; 36 "é" is exactly 72 bytes, which is allowed.
    let password = "é".repeat(36);
    let resp =
        server.post("/register", None, Some(register_body("carol", "carol@example.com", &password))).await;
    expect(resp, 201).await;
    let resp = login(&server, "/login", json!({ "username": "carol", "password": password })).await;
    expect(resp, 200).await;
    server.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn duplicate_username_or_email_conflicts_case_insensitively() {
    let server = common::start().await;
    server.register("alice").await;
    let resp =
        server.post("/register", None, Some(register_body("Alice", "other@example.com", PASSWORD))).await;
    assert_eq!(expect_error(resp, 409).await["field"], "username");
    let resp =
        server.post("/register", None, Some(register_body("alice2", "ALICE@example.com", PASSWORD))).await;
    assert_eq!(expect_error(resp, 409).await["field"], "email");

    // The original's path: 200 and its own 400 for a taken name.
    let resp =
        server.post("/auth/register", None, Some(register_body("dave", "dave@example.com", PASSWORD))).await;
    let body = expect(resp, 200).await;
    assert_eq!(body["token_type"], "bearer");
    let token = body["access_token"].as_str().unwrap();
    expect(server.get("/me", Some(token)).await, 200).await;
    let resp =
        server.post("/auth/register", None, Some(register_body("dave", "dave2@example.com", PASSWORD))).await;
    assert_eq!(expect_error(resp, 400).await["detail"], "Username already exists");
    let resp =
        server.post("/auth/register", None, Some(json!({ "username": "erin", "password": PASSWORD }))).await;
    expect_error(resp, 422).await;
    server.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn login_by_username_or_email_on_both_paths() {
    let server = common::start().await;
    let alice = server.register("alice").await;
    let bodies = [
        ("/login", json!({ "username": "alice", "password": PASSWORD })),
        ("/login", json!({ "username": "alice@example.com", "password": PASSWORD })),
        ("/login", json!({ "email": "Alice@Example.com", "password": PASSWORD })),
        ("/auth/login", json!({ "email": "alice@example.com", "password": PASSWORD })),
        ("/auth/login", json!({ "username": "alice", "password": PASSWORD })),
    ];
    for (path, body) in bodies {
        let got = expect(login(&server, path, body.clone()).await, 200).await;
        assert_eq!(got["token_type"], "bearer", "{path} {body}");
        assert_eq!(got["user"]["id"], alice.id, "{path} {body}");
        let token = got["access_token"].as_str().unwrap();
        assert_eq!(expect(server.get("/me", Some(token)).await, 200).await["username"], "alice");
    }
    server.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn wrong_password_and_unknown_account_look_the_same() {
    let server = common::start().await;
    server.register("alice").await;
    let wrong =
        login(&server, "/login", json!({ "username": "alice", "password": "not the password" })).await;
    let wrong = expect_error(wrong, 401).await;
    let unknown =
        login(&server, "/login", json!({ "username": "nobody", "password": "not the password" })).await;
    let unknown = expect_error(unknown, 401).await;
    assert_eq!(wrong, unknown);
    assert_eq!(wrong["detail"], "Invalid username or password");
    let by_mail =
        login(&server, "/auth/login", json!({ "email": "nobody@example.com", "password": PASSWORD })).await;
    assert_eq!(expect_error(by_mail, 401).await, wrong);
    server.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn blocked_account_is_told_so_only_with_the_right_password() {
    let server = common::start().await;
    let admin = server.register_admin("root").await;
    let bob = server.register("bob").await;
    block(&server, &admin, bob.id).await;
    let right = login(&server, "/login", json!({ "username": "bob", "password": PASSWORD })).await;
    let right = expect_error(right, 403).await;
    assert!(right["detail"].as_str().unwrap().contains("blocked"), "{right}");
    let wrong = login(&server, "/login", json!({ "username": "bob", "password": "wrong password" })).await;
    let wrong = expect_error(wrong, 401).await;
    let unknown =
        login(&server, "/login", json!({ "username": "nobody", "password": "wrong password" })).await;
    assert_eq!(wrong, expect_error(unknown, 401).await);
    let compat =
        login(&server, "/auth/login", json!({ "email": "bob@example.com", "password": PASSWORD })).await;
    expect_error(compat, 403).await;
    server.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn login_is_rate_limited_with_retry_after() {
    let mut opts = common::Options::default();
    opts.chat.auth_rate = Some(Rate::new(3.0, 0.01));
    let server = common::start_with(opts).await;
    // Created directly in the store: a registration would count as an attempt.
    let store = Arc::clone(server.chat.store());
    tokio::task::spawn_blocking(move || {
        let new =
            NewAccount { username: "alice", email: "alice@example.com", password: PASSWORD, is_admin: false };
        create_account(&*store, &new, 4).unwrap();
    })
    .await
    .unwrap();
    let attempts = [(PASSWORD, 200), ("wrong password", 401), (PASSWORD, 200)];
    for (password, status) in attempts {
        let resp = login(&server, "/login", json!({ "username": "alice", "password": password })).await;
        expect(resp, status).await;
    }
    let resp = login(&server, "/login", json!({ "username": "alice", "password": PASSWORD })).await;
    let retry = resp.headers().get("retry-after").expect("Retry-After").to_str().unwrap().to_string();
    let secs: u64 = retry.parse().expect("Retry-After in whole seconds");
    assert!(secs >= 1, "{retry}");
    expect_error(resp, 429).await;
    server.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn login_by_e_mail_folds_non_ascii_case() {
    let server = common::start().await;
    let resp = server
        .post("/register", None, Some(register_body("emile", "\u{c9}mile@Example.org", PASSWORD)))
        .await;
    expect(resp, 201).await;
    for typed in ["\u{e9}mile@example.org", "\u{c9}MILE@EXAMPLE.ORG", "\u{c9}mile@Example.org"] {
        let got =
            expect(login(&server, "/login", json!({ "username": typed, "password": PASSWORD })).await, 200)
                .await;
        assert_eq!(got["user"]["username"], "emile", "{typed}");
    }
    let resp = server
        .post("/register", None, Some(register_body("emile2", "\u{e9}MILE@example.org", PASSWORD)))
        .await;
    assert_eq!(expect_error(resp, 409).await["field"], "email");
    server.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_password_longer_than_bcrypt_reads_is_refused_at_login_not_cut() {
    let server = common::start().await;
    let password = "p".repeat(72);
    let resp =
        server.post("/register", None, Some(register_body("carol", "carol@example.com", &password))).await;
    expect(resp, 201).await;
    // bcrypt reads 72 bytes: anything after them would pass, so the request is refused instead.
    let longer = format!("{password}anything");
    for path in ["/login", "/auth/login"] {
        let body = json!({ "username": "carol", "email": "carol@example.com", "password": longer });
        let err = expect_error(login(&server, path, body).await, 422).await;
        assert_eq!(err["field"], "password", "{path}");
        assert!(err["detail"].as_str().unwrap().contains("at most 72 bytes"), "{err}");
    }
    expect(login(&server, "/login", json!({ "username": "carol", "password": password })).await, 200).await;
    server.stop().await;
}

/// A database with accounts stored the way an older chatterbox (or an import) left them: no
/// look-alike or e-mail keys, mixed-case non-ASCII e-mail, two names that now count as one, and
/// hashes of cost 5 while the server is configured for 4.
/// The folder is returned to be kept alive as long as the server.
async fn legacy_server() -> (TestServer, tempfile::TempDir) {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("chat.db");
    let path = db.clone();
    tokio::task::spawn_blocking(move || {
        use chatterbox::store::{NewUser, SqliteStore, Store};
        let (store, _) = SqliteStore::open_and_migrate(&path).unwrap();
        let hash = bcrypt::hash(PASSWORD, 5).unwrap();
        for (name, email) in
            [("zoe", "Zo\u{cb}@Example.org"), ("alice", "alice@example.com"), ("aIice", "ai@example.com")]
        {
            let new = NewUser {
                username: name,
                email,
                password_hash: &hash,
                is_admin: false,
                created_at: "2026-01-01T00:00:00.000Z",
            };
            store.create_user(&new).unwrap();
        }
    })
    .await
    .unwrap();
    (common::start_with(common::Options { db: Some(db), ..common::Options::default() }).await, dir)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn accounts_stored_without_keys_get_them_at_start_and_look_alikes_stay_usable() {
    let (server, _dir) = legacy_server().await;
    let zoe =
        login(&server, "/login", json!({ "username": "ZO\u{cb}@EXAMPLE.ORG", "password": PASSWORD })).await;
    assert_eq!(expect(zoe, 200).await["user"]["username"], "zoe");
    let zoe =
        login(&server, "/login", json!({ "username": "zo\u{eb}@example.org", "password": PASSWORD })).await;
    assert_eq!(expect(zoe, 200).await["user"]["username"], "zoe");
    // Both look-alikes still sign in; a third is refused.
    for name in ["alice", "aIice"] {
        let got =
            expect(login(&server, "/login", json!({ "username": name, "password": PASSWORD })).await, 200)
                .await;
        assert_eq!(got["user"]["username"], name);
    }
    let resp =
        server.post("/register", None, Some(register_body("ALlCE", "third@example.com", PASSWORD))).await;
    assert_eq!(expect_error(resp, 409).await["field"], "username");
    server.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn unknown_names_cost_what_stored_hashes_cost_and_logins_move_hashes_to_the_configured_cost() {
    let (server, _dir) = legacy_server().await;
    // Every stored hash has cost 5, the server hashes new passwords at 4: an unknown name must
    // cost what a known name's wrong password costs, 5.
    assert_eq!(server.chat.dummy_cost(), 5);
    expect(login(&server, "/login", json!({ "username": "zoe", "password": PASSWORD })).await, 200).await;
    let store = Arc::clone(server.chat.store());
    let hash =
        tokio::task::spawn_blocking(move || store.credentials("zoe", "").unwrap().unwrap().password_hash)
            .await
            .unwrap();
    assert!(hash.starts_with("$2b$04$"), "rehashed at the configured cost: {hash}");
    expect(login(&server, "/login", json!({ "username": "zoe", "password": PASSWORD })).await, 200).await;
    server.stop().await;
}

// ---------------------------------------------------------------------------------------------
// Malformed requests, routing, headers

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bad_requests_get_json_errors_with_the_right_status() {
    let server = common::start().await;
    let cases: Vec<(Method, &str, String, u16)> = vec![
        (Method::POST, "/register", "{not json".into(), 400),
        (Method::POST, "/login", "".into(), 400),
        (
            Method::POST,
            "/register",
            r#"{"username": 5, "email": "a@example.com", "password": "12345678"}"#.into(),
            422,
        ),
        (Method::POST, "/register", r#"{"username": "alice"}"#.into(), 422),
        (Method::POST, "/register", "[1, 2]".into(), 422),
        (Method::POST, "/login", r#"{"username": "alice"}"#.into(), 422),
        (Method::POST, "/login", r#"{"password": "12345678"}"#.into(), 422),
        (Method::POST, "/register", format!(r#"{{"username": "{}"}}"#, "a".repeat(70 * 1024)), 413),
        (Method::GET, "/no/such/path", String::new(), 404),
        (Method::GET, "/admin/nothing", String::new(), 404),
        (Method::PUT, "/login", String::new(), 405),
        (Method::GET, "/register", String::new(), 405),
        (Method::GET, "/login", String::new(), 405),
        (Method::DELETE, "/me", String::new(), 405),
        (Method::POST, "/healthz", String::new(), 405),
        (Method::POST, "/messages", String::new(), 405),
    ];
    for (method, path, body, status) in cases {
        let resp = raw(&server, method.clone(), path, &body).await;
        let got = resp.status().as_u16();
        assert_eq!(got, status, "{method} {path}");
        expect_error(resp, status).await;
    }
    // The WebSocket endpoint over plain HTTP.
    let alice = server.register("alice").await;
    let body = expect_error(server.get("/ws", Some(&alice.token)).await, 426).await;
    assert!(body["detail"].as_str().unwrap().contains("WebSocket"), "{body}");
    // Successful responses and pages carry the security headers too.
    let page = server.get("/", None).await;
    assert_eq!(page.status(), 200);
    assert_security_headers(page.headers());
    server.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn health_me_and_paged_history() {
    let server = common::start().await;
    assert_eq!(expect(server.get("/healthz", None).await, 200).await["status"], "ok");
    let head = server.http.head(server.url("/healthz")).send().await.unwrap();
    assert_eq!(head.status(), 200, "load balancers probe with HEAD");
    let alice = server.register("alice").await;
    let me = expect(server.get("/me", Some(&alice.token)).await, 200).await;
    assert_eq!(me["username"], "alice");

    expect_error(server.get("/messages", None).await, 401).await;
    expect_error(server.get("/chat/messages", None).await, 401).await;
    assert_eq!(expect(server.get("/messages", Some(&alice.token)).await, 200).await, json!([]));

    let sent = chat(&server, &alice, &["one", "two", "three", "four", "five"]).await;
    let sent_ids: Vec<i64> = sent.iter().map(|m| m["id"].as_i64().unwrap()).collect();
    let all = expect(server.get("/messages", Some(&alice.token)).await, 200).await;
    assert_eq!(ids(&all), sent_ids, "oldest first");
    let first = &all[0];
    assert_eq!(first["user"], "alice");
    assert_eq!(first["text"], "one");
    assert!(first["timestamp"].as_str().unwrap().ends_with('Z'));

    let newest = expect(server.get("/messages?limit=2", Some(&alice.token)).await, 200).await;
    assert_eq!(ids(&newest), sent_ids[3..]);
    let page = format!("/messages?before={}&limit=2", sent_ids[3]);
    let older = expect(server.get(&page, Some(&alice.token)).await, 200).await;
    assert_eq!(ids(&older), sent_ids[1..3]);
    let page = format!("/messages?before={}&limit=2", sent_ids[1]);
    let oldest = expect(server.get(&page, Some(&alice.token)).await, 200).await;
    assert_eq!(ids(&oldest), sent_ids[..1]);

    for bad in ["/messages?before=abc", "/messages?limit=abc", "/messages?limit=0"] {
        expect_error(server.get(bad, Some(&alice.token)).await, 400).await;
    }
    server.stop().await;
}

// ---------------------------------------------------------------------------------------------
// Tokens

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn missing_garbage_forged_unsigned_and_expired_tokens_are_401() {
    let server = common::start().await;
    let alice = server.register("alice").await;
    let secret = server.jwt_secret().await;
    let t = now();

    // A token built by hand with the real secret works: the forgeries below differ only in
    // what they claim to test.
    let genuine = sign(&claims(&alice, false, t, t + 3600), secret.as_bytes());
    expect(server.get("/me", Some(&genuine)).await, 200).await;

    let resp = server.get("/me", None).await;
    assert_eq!(resp.headers().get("www-authenticate").map(|v| v.to_str().unwrap()), Some("Bearer"));
    expect_error(resp, 401).await;
    let basic = server.http.get(server.url("/me")).header("authorization", "Basic YWxpY2U6eA==").send().await;
    expect_error(basic.unwrap(), 401).await;

    let forged = sign(&claims(&alice, false, t, t + 3600), b"some other secret");
    let header = b64url(br#"{"alg":"none","typ":"JWT"}"#);
    let unsigned = format!("{header}.{}.", b64url(claims(&alice, false, t, t + 3600).to_string().as_bytes()));
    let expired = sign(&claims(&alice, false, t - 7200, t - 3600), secret.as_bytes());
    for (what, token) in [
        ("garbage", "garbage"),
        ("three garbage parts", "a.b.c"),
        ("forged signature", forged.as_str()),
        ("alg none", unsigned.as_str()),
        ("expired", expired.as_str()),
    ] {
        let body = expect_error(server.get("/me", Some(token)).await, 401).await;
        if what == "expired" {
            assert!(body["detail"].as_str().unwrap().contains("expired"), "{body}");
        }
        expect_error(server.get("/messages", Some(token)).await, 401).await;
    }
    server.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_user_token_edited_to_admin_cannot_reach_the_admin_api() {
    let server = common::start().await;
    let alice = server.register("alice").await;
    let secret = server.jwt_secret().await;
    let part = alice.token.split('.').nth(1).unwrap();
    assert_eq!(b64url(&b64url_decode(part)), part, "the hand-made base64url round-trips");
    let mut payload = payload_of(&alice.token);
    assert_eq!(payload["is_admin"], false);
    payload["is_admin"] = json!(true);

    let edited = with_payload(&alice.token, &payload);
    let resigned = sign(&payload, b"a guessed secret");
    for token in [&edited, &resigned] {
        expect_error(server.get("/admin/users", Some(token)).await, 401).await;
        expect_error(server.get("/me", Some(token)).await, 401).await;
    }
    // Even a correctly signed claim is only a hint: the role comes from the database.
    let signed = sign(&payload, secret.as_bytes());
    expect_error(server.get("/admin/users", Some(&signed)).await, 403).await;
    expect_error(server.get("/admin/users", Some(&alice.token)).await, 403).await;
    server.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_blocked_users_valid_token_is_refused() {
    let server = common::start().await;
    let admin = server.register_admin("root").await;
    let bob = server.register("bob").await;
    expect(server.get("/me", Some(&bob.token)).await, 200).await;
    block(&server, &admin, bob.id).await;
    let body = expect_error(server.get("/me", Some(&bob.token)).await, 403).await;
    assert!(body["detail"].as_str().unwrap().contains("blocked"), "{body}");
    expect_error(server.get("/messages", Some(&bob.token)).await, 403).await;
    assert_eq!(server.refused_status(server.ws_url(&format!("/ws?token={}", bob.token))).await, 403);
    server.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_revoked_admin_loses_the_admin_api_at_once() {
    let server = common::start().await;
    let root = server.register_admin("root").await;
    let ops = server.register_admin("ops").await;
    expect(server.get("/admin/users", Some(&ops.token)).await, 200).await;

    let path = format!("/admin/users/{}/admin", ops.id);
    let user = expect(send(&server, Method::DELETE, &path, &root.token).await, 200).await;
    assert_eq!(user["is_admin"], false);
    expect_error(server.get("/admin/users", Some(&ops.token)).await, 403).await;
    expect_error(server.get("/admin/stats", Some(&ops.token)).await, 403).await;
    let me = expect(server.get("/me", Some(&ops.token)).await, 200).await;
    assert_eq!(me["is_admin"], false);

    // An admin cannot revoke themselves; granting again restores access with the same token.
    let own = format!("/admin/users/{}/admin", root.id);
    expect_error(send(&server, Method::DELETE, &own, &root.token).await, 409).await;
    let user = expect(send(&server, Method::POST, &path, &root.token).await, 200).await;
    assert_eq!(user["is_admin"], true);
    expect(server.get("/admin/users", Some(&ops.token)).await, 200).await;
    server.stop().await;
}

// ---------------------------------------------------------------------------------------------
// Admin API

const ADMIN_ROUTES: [(&str, &str); 10] = [
    ("GET", "/admin/stats"),
    ("GET", "/admin/users"),
    ("GET", "/admin/messages"),
    ("GET", "/admin/violations"),
    ("GET", "/admin/download/users"),
    ("GET", "/admin/download/messages"),
    ("POST", "/admin/users/{id}/block"),
    ("POST", "/admin/users/{id}/unblock"),
    ("POST", "/admin/users/{id}/admin"),
    ("DELETE", "/admin/users/{id}/admin"),
];

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn non_admins_are_refused_on_every_admin_route() {
    let server = common::start().await;
    let alice = server.register("alice").await;
    let bob = server.register("bob").await;
    for (method, path) in ADMIN_ROUTES {
        let path = path.replace("{id}", &bob.id.to_string());
        let method: Method = method.parse().unwrap();
        expect_error(send(&server, method.clone(), &path, &alice.token).await, 403).await;
        let anonymous = server.http.request(method.clone(), server.url(&path)).send().await.unwrap();
        expect_error(anonymous, 401).await;
    }
    // Nothing happened to bob.
    let me = expect(server.get("/me", Some(&bob.token)).await, 200).await;
    assert_eq!((me["is_blocked"].clone(), me["is_admin"].clone()), (json!(false), json!(false)));
    server.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn admin_user_list_hides_password_hashes_and_filters_blocked() {
    let server = common::start().await;
    let admin = server.register_admin("root").await;
    server.register("alice").await;
    let bob = server.register("bob").await;
    block(&server, &admin, bob.id).await;

    let resp = server.get("/admin/users", Some(&admin.token)).await;
    assert_security_headers(resp.headers());
    let text = resp.text().await.unwrap();
    assert!(!text.contains("$2"), "a bcrypt hash leaked: {text}");
    assert!(!text.contains("password"), "{text}");
    let users: Vec<Value> = serde_json::from_str(&text).unwrap();
    let names: Vec<&str> = users.iter().map(|u| u["username"].as_str().unwrap()).collect();
    assert_eq!(names.len(), 3);
    for name in ["root", "alice", "bob"] {
        assert!(names.contains(&name), "{names:?}");
    }
    let mut keys: Vec<&str> = users[0].as_object().unwrap().keys().map(String::as_str).collect();
    keys.sort();
    assert_eq!(
        keys,
        ["created_at", "email", "id", "is_admin", "is_blocked", "muted_until", "username", "warning_count"]
    );

    let blocked = expect(server.get("/admin/users?blocked=true", Some(&admin.token)).await, 200).await;
    let blocked = blocked.as_array().unwrap();
    assert_eq!(blocked.len(), 1);
    assert_eq!(blocked[0]["username"], "bob");
    assert_eq!(blocked[0]["is_blocked"], true);
    let all = expect(server.get("/admin/users?blocked=false", Some(&admin.token)).await, 200).await;
    assert_eq!(all.as_array().unwrap().len(), 3);
    expect_error(server.get("/admin/users?blocked=maybe", Some(&admin.token)).await, 400).await;
    server.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn admin_user_list_says_why_each_blocked_account_is_blocked() {
    let server = common::start().await;
    let admin = server.register_admin("root").await;
    let alice = server.register("alice").await;
    let bob = server.register("bob").await;
    let carol = server.register("carol").await;
    // alice: blocked, unblocked, blocked again by the operator: the latest reason counts.
    // On a blocking thread, as the server calls the store (PostgreSQL's client requires it).
    let store = Arc::clone(server.chat.store());
    let alice_id = alice.id;
    tokio::task::spawn_blocking(move || {
        for (blocked, reason) in [(true, "first time"), (false, "appeal"), (true, "Spamming links")] {
            set_blocked(&*store, alice_id, blocked, "cli", Some(reason)).unwrap();
        }
    })
    .await
    .unwrap();
    // bob: blocked automatically after repeated violations; carol: by an admin, without a reason
    // (an empty body); dave: by an admin, with one.
    let dave = server.register("dave").await;
    let path = format!("/admin/users/{}/block", dave.id);
    let too_long = json!({ "reason": "x".repeat(501) });
    let err = expect_error(server.post(&path, Some(&admin.token), Some(too_long)).await, 422).await;
    assert_eq!(err["field"], "reason");
    let malformed = server.http.post(server.url(&path)).bearer_auth(&admin.token).body("{\"reason\": ");
    expect_error(malformed.send().await.unwrap(), 400).await;
    // The body is optional (nullable in the OpenAPI document): a JSON null blocks without a
    // reason, like an empty body. Unblock again so the reason given below is the latest.
    let null = server.http.post(server.url(&path)).bearer_auth(&admin.token).body("null");
    expect(null.send().await.unwrap(), 200).await;
    expect(server.post(&format!("/admin/users/{}/unblock", dave.id), Some(&admin.token), None).await, 200)
        .await;
    let reason = json!({ "reason": "  Threatened another user  " });
    expect(server.post(&path, Some(&admin.token), Some(reason)).await, 200).await;
    let (mut ws, _) = server.connect(&bob.token, None).await;
    for _ in 0..3 {
        ws.send_text("you idiot").await;
    }
    assert_eq!(ws.expect_close().await, Some(1008));
    block(&server, &admin, carol.id).await;

    let users = expect(server.get("/admin/users", Some(&admin.token)).await, 200).await;
    let block_of = |name: &str| {
        users.as_array().unwrap().iter().find(|u| u["username"] == name).unwrap().get("block").cloned()
    };
    assert_eq!(block_of("root"), None, "no block for an active account");
    let alice_block = block_of("alice").unwrap();
    assert_eq!((&alice_block["reason"], &alice_block["by"]), (&json!("Spamming links"), &json!("cli")));
    assert!(alice_block["at"].as_str().unwrap().ends_with('Z'));
    let bob_block = block_of("bob").unwrap();
    assert_eq!((&bob_block["reason"], &bob_block["by"]), (&Value::Null, &json!("moderation")));
    assert_eq!(bob_block["term"], "idiot");
    let carol_block = block_of("carol").unwrap();
    assert_eq!((&carol_block["reason"], &carol_block["by"]), (&Value::Null, &json!("root")));
    let dave_block = block_of("dave").unwrap();
    assert_eq!(
        (&dave_block["reason"], &dave_block["by"]),
        (&json!("Threatened another user"), &json!("root"))
    );
    let blocked = expect(server.get("/admin/users?blocked=true", Some(&admin.token)).await, 200).await;
    assert!(blocked.as_array().unwrap().iter().all(|u| u["block"].is_object()), "{blocked}");

    // Unblocked again: the old reason is gone from the listing (the audit log keeps it).
    let store = Arc::clone(server.chat.store());
    tokio::task::spawn_blocking(move || set_blocked(&*store, alice_id, false, "cli", None).unwrap())
        .await
        .unwrap();
    let users = expect(server.get("/admin/users", Some(&admin.token)).await, 200).await;
    let alice_now = users.as_array().unwrap().iter().find(|u| u["username"] == "alice").unwrap();
    assert!(alice_now.get("block").is_none(), "{alice_now}");
    server.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn admin_messages_page_oldest_first() {
    let server = common::start().await;
    let admin = server.register_admin("root").await;
    let alice = server.register("alice").await;
    let sent = chat(&server, &alice, &["m1", "m2", "m3", "m4", "m5"]).await;
    let sent_ids: Vec<i64> = sent.iter().map(|m| m["id"].as_i64().unwrap()).collect();

    let all = expect(server.get("/admin/messages", Some(&admin.token)).await, 200).await;
    assert_eq!(ids(&all), sent_ids);
    assert_eq!(all[0]["sender_id"], alice.id);
    assert_eq!(all[0]["user"], "alice");
    assert_eq!(all[0]["text"], "m1");
    assert!(all[0]["timestamp"].as_str().unwrap().ends_with('Z'));
    let newest = expect(server.get("/admin/messages?limit=2", Some(&admin.token)).await, 200).await;
    assert_eq!(ids(&newest), sent_ids[3..]);
    let page = format!("/admin/messages?before={}&limit=2", sent_ids[3]);
    assert_eq!(ids(&expect(server.get(&page, Some(&admin.token)).await, 200).await), sent_ids[1..3]);
    expect_error(server.get("/admin/messages?before=abc", Some(&admin.token)).await, 400).await;
    server.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn admin_block_unblock_resets_warnings_and_is_audited() {
    let server = common::start().await;
    let admin = server.register_admin("root").await;
    let alice = server.register("alice").await;
    let (mut ws, _) = server.connect(&alice.token, None).await;
    ws.send_text("you idiot").await;
    let warning = ws.next_non_presence().await.unwrap();
    assert_eq!(warning["type"], "warning");
    assert_eq!(warning["warnings"], 1);

    let user = block(&server, &admin, alice.id).await;
    assert_eq!(user["id"], alice.id);
    assert_eq!(user["is_blocked"], true);
    assert_eq!(user["warning_count"], 1);
    assert_eq!(ws.expect_close().await, Some(1008));
    let path = format!("/admin/users/{}/unblock", alice.id);
    let user = expect(server.post(&path, Some(&admin.token), None).await, 200).await;
    assert_eq!(user["is_blocked"], false);
    assert_eq!(user["warning_count"], 0, "unblocking resets the warnings");
    let me = expect(server.get("/me", Some(&alice.token)).await, 200).await;
    assert_eq!((me["is_blocked"].clone(), me["warning_count"].clone()), (json!(false), json!(0)));

    // Newest first: unblock and block by the admin, then the moderation warning, after the
    // seeding of the term list when the server first started.
    let log = violations(&server, &admin).await;
    assert_eq!(log.len(), 4, "{log:?}");
    let actions: Vec<(&str, &str)> =
        log.iter().map(|v| (v["action"].as_str().unwrap(), v["actor"].as_str().unwrap())).collect();
    assert_eq!(
        actions,
        [("unblock", "root"), ("block", "root"), ("warning", "moderation"), ("terms", "moderation")]
    );
    for v in &log[..3] {
        assert_eq!(v["user_id"], alice.id);
        assert_eq!(v["username"], "alice");
        assert!(v["timestamp"].as_str().unwrap().ends_with('Z'));
    }
    assert_eq!(log[2]["term"], "idiot");
    assert_eq!(log[2]["text"], "you idiot");
    assert!(log[0]["id"].as_i64() > log[1]["id"].as_i64());
    let page = format!("/admin/violations?before={}&limit=1", log[0]["id"]);
    let older = expect(server.get(&page, Some(&admin.token)).await, 200).await;
    assert_eq!(older.as_array().unwrap().len(), 1);
    assert_eq!(older[0]["id"], log[1]["id"]);
    server.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn admin_routes_answer_404_for_unknown_users_and_405_for_wrong_methods() {
    let server = common::start().await;
    let admin = server.register_admin("root").await;
    for (method, path) in ADMIN_ROUTES.iter().filter(|(_, p)| p.contains("{id}")) {
        let method: Method = method.parse().unwrap();
        let path = path.replace("{id}", "9999");
        let body = expect_error(send(&server, method, &path, &admin.token).await, 404).await;
        assert_eq!(body["detail"], "No such user");
    }
    expect_error(send(&server, Method::POST, "/admin/users/abc/block", &admin.token).await, 404).await;
    let path = format!("/admin/users/{}/block", admin.id);
    expect_error(send(&server, Method::GET, &path, &admin.token).await, 405).await;
    expect_error(send(&server, Method::DELETE, "/admin/users", &admin.token).await, 405).await;
    expect_error(send(&server, Method::POST, "/admin/stats", &admin.token).await, 405).await;
    server.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn admin_role_grant_and_revoke() {
    let server = common::start().await;
    let admin = server.register_admin("root").await;
    let alice = server.register("alice").await;
    expect_error(server.get("/admin/stats", Some(&alice.token)).await, 403).await;
    let path = format!("/admin/users/{}/admin", alice.id);
    let user = expect(send(&server, Method::POST, &path, &admin.token).await, 200).await;
    assert_eq!(user["is_admin"], true);
    expect(server.get("/admin/stats", Some(&alice.token)).await, 200).await;
    let admins: Vec<Value> = expect(server.get("/admin/users", Some(&admin.token)).await, 200)
        .await
        .as_array()
        .unwrap()
        .iter()
        .filter(|u| u["is_admin"] == true)
        .cloned()
        .collect();
    assert_eq!(admins.len(), 2);
    let user = expect(send(&server, Method::DELETE, &path, &admin.token).await, 200).await;
    assert_eq!(user["is_admin"], false);
    expect_error(server.get("/admin/stats", Some(&alice.token)).await, 403).await;
    server.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn admin_stats_count_users_online_messages_and_blocked() {
    let server = common::start().await;
    let admin = server.register_admin("root").await;
    let alice = server.register("alice").await;
    let bob = server.register("bob").await;
    let empty = expect(server.get("/admin/stats", Some(&admin.token)).await, 200).await;
    assert_eq!(empty, json!({ "users": 3, "online": 0, "messages_today": 0, "blocked": 0 }));

    block(&server, &admin, bob.id).await;
    let (mut ws, _) = server.connect(&alice.token, None).await;
    // A second socket of the same user is still one user online.
    let (_ws2, _) = server.connect(&alice.token, None).await;
    ws.send_acked("one").await;
    ws.send_acked("two").await;
    let stats = expect(server.get("/admin/stats", Some(&admin.token)).await, 200).await;
    assert_eq!(stats, json!({ "users": 3, "online": 1, "messages_today": 2, "blocked": 1 }));
    server.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn admin_csv_downloads_are_attachments_with_formulas_neutralised() {
    let server = common::start().await;
    let admin = server.register_admin("root").await;
    let alice = server.register("alice").await;
    let sent =
        chat(&server, &alice, &["=HYPERLINK(\"http://evil.example\")", "hello, \"world\"", "@SUM(A1)"]).await;

    let (header, rows, _) = download(&server, &admin, "messages").await;
    assert_eq!(header, ["id", "sender_id", "sender_username", "content", "timestamp", "room", "edited_at"]);
    assert_eq!(rows.len(), 3);
    let expected = ["'=HYPERLINK(\"http://evil.example\")", "hello, \"world\"", "'@SUM(A1)"];
    for ((row, echo), content) in rows.iter().zip(&sent).zip(expected) {
        assert_eq!(row[0], echo["id"].to_string());
        assert_eq!(row[1], alice.id.to_string());
        assert_eq!(row[2], "alice");
        assert_eq!(row[3], content);
        assert_eq!(row[4], echo["timestamp"].as_str().unwrap());
    }

    let (header, rows, text) = download(&server, &admin, "users").await;
    assert_eq!(header, ["id", "username", "email", "role", "blocked", "warnings", "created_at"]);
    assert!(!text.contains("$2"), "{text}");
    assert_eq!(rows.len(), 2);
    let root = rows.iter().find(|r| r[1] == "root").expect("root row");
    assert_eq!(
        root[..6],
        [
            admin.id.to_string(),
            "root".into(),
            "root@example.com".into(),
            "admin".into(),
            "no".into(),
            "0".into()
        ]
    );
    let row = rows.iter().find(|r| r[1] == "alice").expect("alice row");
    assert_eq!(
        row[..6],
        [
            alice.id.to_string(),
            "alice".into(),
            "alice@example.com".into(),
            "user".into(),
            "no".into(),
            "0".into()
        ]
    );
    assert!(row[6].ends_with('Z'));
    server.stop().await;
}

// The same tests with their servers on PostgreSQL (`common::postgres_too`).
common::postgres_too!(
    register_answers_201_with_a_bearer_token_and_the_user,
    register_validation_errors_name_the_field,
    duplicate_username_or_email_conflicts_case_insensitively,
    login_by_username_or_email_on_both_paths,
    wrong_password_and_unknown_account_look_the_same,
    blocked_account_is_told_so_only_with_the_right_password,
    login_is_rate_limited_with_retry_after,
    login_by_e_mail_folds_non_ascii_case,
    a_password_longer_than_bcrypt_reads_is_refused_at_login_not_cut,
    bad_requests_get_json_errors_with_the_right_status,
    health_me_and_paged_history,
    missing_garbage_forged_unsigned_and_expired_tokens_are_401,
    a_user_token_edited_to_admin_cannot_reach_the_admin_api,
    a_blocked_users_valid_token_is_refused,
    a_revoked_admin_loses_the_admin_api_at_once,
    non_admins_are_refused_on_every_admin_route,
    admin_user_list_hides_password_hashes_and_filters_blocked,
    admin_user_list_says_why_each_blocked_account_is_blocked,
    admin_messages_page_oldest_first,
    admin_block_unblock_resets_warnings_and_is_audited,
    admin_routes_answer_404_for_unknown_users_and_405_for_wrong_methods,
    admin_role_grant_and_revoke,
    admin_stats_count_users_online_messages_and_blocked,
    admin_csv_downloads_are_attachments_with_formulas_neutralised,
    ;
    sqlite_only:
    accounts_stored_without_keys_get_them_at_start_and_look_alikes_stay_usable,
    unknown_names_cost_what_stored_hashes_cost_and_logins_move_hashes_to_the_configured_cost,
);
