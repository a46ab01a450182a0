//! The HTTP layer: routing, request parsing and JSON shapes over the `chat` domain.
//!
//! `handle` is the hyper service function. It never fails: every error becomes a JSON response
//! in `error.rs`, and security headers are added to every response in one place here.

mod account;
mod admin;
mod appeals;
pub mod body;
pub mod cors;
pub mod error;
pub mod frames;
mod messages;
pub mod metrics;
mod openapi;
mod original;
pub mod proxy;
mod reports;
pub mod roommod;
pub mod rooms;
mod search;
mod terms;
mod web;
mod ws;

use std::{
    convert::Infallible,
    net::{IpAddr, SocketAddr},
    path::PathBuf,
    sync::Arc,
    time::{Duration, Instant},
};

use hyper::{body::Incoming, header, Method, Request, StatusCode};
use tokio_util::{sync::CancellationToken, task::TaskTracker};

use crate::chat::{reports::Queue, Chat, ChatError};

/// Also what `chatterbox room list --format json` prints, so a script reads one shape.
pub use admin::AdminRoom;
pub use body::Response;
use error::ApiError;

/// Limits and options of the HTTP layer (validated by `config`).
#[derive(Debug, Clone)]
pub struct HttpConfig {
    /// Serve the UI from this folder instead of the embedded copy.
    pub web_dir: Option<PathBuf>,
    pub max_body_bytes: usize,
    pub body_timeout: Duration,
    /// Largest WebSocket message accepted; a bigger one closes the socket with 1009.
    pub max_frame_bytes: usize,
    /// Open chat WebSockets of one account beyond this are refused with 429.
    pub max_sockets_per_user: usize,
    /// Per-socket bound on queued outgoing bytes before the socket counts as stuck.
    pub ws_write_timeout: Duration,
    pub ws_ping_interval: Duration,
    /// A download (CSV export) whose client reads nothing for this long is abandoned.
    pub download_stall_timeout: Duration,
    /// Other origins whose pages may call the API and open the chat (`--cors-origin`).
    pub cors: cors::CorsOrigins,
    /// Reverse proxies whose `X-Forwarded-For` names the client (`--trusted-proxy`).
    pub trusted_proxies: proxy::TrustedProxies,
}

impl Default for HttpConfig {
    fn default() -> Self {
        HttpConfig {
            web_dir: None,
            max_body_bytes: 64 * 1024,
            body_timeout: Duration::from_secs(10),
            max_frame_bytes: 64 * 1024,
            max_sockets_per_user: 20,
            ws_write_timeout: Duration::from_secs(10),
            ws_ping_interval: Duration::from_secs(30),
            download_stall_timeout: Duration::from_secs(30),
            cors: cors::CorsOrigins::default(),
            trusted_proxies: proxy::TrustedProxies::default(),
        }
    }
}

/// Everything a request handler can reach. Passed explicitly; there is no global state.
pub struct AppState {
    pub chat: Arc<Chat>,
    pub http: HttpConfig,
    /// Cancelled when the server shuts down; WebSocket tasks watch it to close with 1001.
    pub shutdown: CancellationToken,
    /// WebSocket tasks, which outlive the HTTP connection that upgraded them.
    pub sockets: TaskTracker,
}

/// A connection's place under the server's connection limits, attached to each of its requests;
/// opaque here, it gives the place back when the last clone is dropped.
#[derive(Clone)]
pub struct ConnectionSlot(pub Arc<dyn std::any::Any + Send + Sync>);

/// Attached to each request of a connection the server itself decrypted (`--tls-cert`): the
/// page was served over https whatever the headers say.
#[derive(Debug, Clone, Copy)]
pub struct OverTls;

const CSP: &str = "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; \
                   connect-src 'self' ws: wss:; frame-ancestors 'none'; base-uri 'none'; form-action 'self'";

pub async fn handle(
    state: Arc<AppState>,
    peer: SocketAddr,
    req: Request<Incoming>,
) -> Result<Response, Infallible> {
    let started = Instant::now();
    let method = req.method().clone();
    // The path only: the query may carry a token (`/ws?token=`), which must never be logged.
    let path = req.uri().path().to_string();
    let origin = req.headers().get(header::ORIGIN).cloned();
    // Worked out once, here: the address the limits below key the client by.
    let client = state.http.trusted_proxies.client(peer.ip(), req.headers());
    let mut resp = match state.http.cors.preflight(&req) {
        Some(r) => r,
        None => route(&state, client, req).await.unwrap_or_else(ApiError::into_response),
    };
    state.http.cors.decorate(origin.as_ref(), &mut resp);
    let h = resp.headers_mut();
    h.insert("content-security-policy", header::HeaderValue::from_static(CSP));
    h.insert("x-content-type-options", header::HeaderValue::from_static("nosniff"));
    h.insert("referrer-policy", header::HeaderValue::from_static("no-referrer"));
    h.insert("x-frame-options", header::HeaderValue::from_static("DENY"));
    tracing::debug!(%method, %path, status = resp.status().as_u16(), elapsed_ms = started.elapsed().as_millis() as u64, peer = %peer.ip(), %client, "request");
    Ok(resp)
}

async fn route(state: &Arc<AppState>, client: IpAddr, req: Request<Incoming>) -> Result<Response, ApiError> {
    let path = req.uri().path().to_string();
    let segments: Vec<&str> = path.trim_start_matches('/').split('/').collect();
    let method = req.method().clone();
    match (&method, segments.as_slice()) {
        (&Method::GET | &Method::HEAD, ["healthz"]) => health(state).await,
        (&Method::POST, ["register"]) => account::register(state, client, req, false).await,
        (&Method::POST, ["auth", "register"]) => account::register(state, client, req, true).await,
        (&Method::POST, ["login"] | ["auth", "login"]) => account::login(state, client, req).await,
        (&Method::GET, ["me"]) => account::me(state, req).await,
        (&Method::GET, ["messages"]) => account::history(state, req).await,
        (_, ["rooms", ..] | ["dms"] | ["users"]) => rooms::route(state, req, &segments).await,
        (_, ["messages", _, ..]) => messages::route(state, req, &segments).await,
        (&Method::GET, ["chat", "messages"]) => original::history(state, req).await,
        (&Method::GET, ["search"]) => search::search(state, req).await,
        (&Method::GET, ["ws"]) => ws::upgrade(state, req, frames::Dialect::Ours).await,
        (&Method::GET, ["chat", "ws"]) => ws::upgrade(state, req, frames::Dialect::Original).await,
        (_, ["openapi.json"]) => openapi::serve(&method),
        (&Method::POST, ["admin", "login"]) => original::admin_login(state, client, req).await,
        (&Method::GET, ["admin", "dashboard"]) => original::dashboard(state, req).await,
        (&Method::GET, ["admin", "blocked-users"]) => original::blocked_users(state, req).await,
        (_, ["admin", "login"]) => Err(ApiError::method_not_allowed("POST")),
        (_, ["admin", "dashboard" | "blocked-users"]) => Err(ApiError::method_not_allowed("GET")),
        (_, ["admin", "reports", ..]) => reports::route(state, req, Queue::Admin, &segments[1..]).await,
        (_, ["moderation", "reports", ..]) => {
            reports::route(state, req, Queue::Moderator, &segments[1..]).await
        }
        (_, ["admin", "appeals", ..]) => appeals::route(state, req, &segments[1..]).await,
        (&Method::GET, ["reports"]) => reports::mine(state, req).await,
        (&Method::POST, ["appeals"]) => appeals::file(state, req).await,
        (_, ["admin", _, ..]) => admin::route(state, req, &segments[1..]).await,
        (&Method::GET | &Method::HEAD, _) if web::is_page(&path) => web::serve(state, &path).await,
        (_, ["healthz"]) => Err(ApiError::method_not_allowed("GET, HEAD")),
        (_, ["register" | "login"] | ["auth", "register" | "login"]) => {
            Err(ApiError::method_not_allowed("POST"))
        }
        (_, ["appeals"]) => Err(ApiError::method_not_allowed("POST")),
        (_, ["me" | "messages" | "ws" | "search" | "reports"] | ["chat", "messages" | "ws"]) => {
            Err(ApiError::method_not_allowed("GET"))
        }
        _ if web::is_page(&path) => Err(ApiError::method_not_allowed("GET, HEAD")),
        _ => Err(ApiError::not_found()),
    }
}

/// A failed message commit this recent, with none saved since, makes the server unhealthy.
const WRITE_FAILURE_WINDOW: Duration = Duration::from_secs(10);

async fn health(state: &AppState) -> Result<Response, ApiError> {
    // Reads can work on a full or read-only disk while every message is refused: a probe that
    // only reads would call that healthy.
    if let Some(ago) = state.chat.writes_failing(WRITE_FAILURE_WINDOW) {
        tracing::warn!(seconds_ago = ago.as_secs(), "health check: saving messages is failing");
        return Err(ApiError::new(
            StatusCode::SERVICE_UNAVAILABLE,
            "Writes to the database are failing: messages cannot be saved (is the disk full or read-only?)",
        ));
    }
    let lag = match state.chat.log_lag().await {
        Ok(lag) => lag,
        Err(e) => {
            tracing::warn!(error = %e, "health check failed");
            return Err(ApiError::new(StatusCode::SERVICE_UNAVAILABLE, "The database is not answering"));
        }
    };
    // The database answers this request, but the tailer (which reads the log at every poll)
    // has not managed to for a while: this instance's sockets hear nothing new.
    // A tailer set to poll rarely (it then relies on the database's doorbell) is allowed as
    // many polls.
    if lag.since_read > TAILER_STALL.max(state.chat.config.log_poll * 4) {
        tracing::warn!(
            seconds = lag.since_read.as_secs(),
            behind = lag.behind,
            "health check: the log tailer is stalled"
        );
        return Err(ApiError::new(
            StatusCode::SERVICE_UNAVAILABLE,
            "This instance has not read the message log for a while: its clients receive nothing new",
        ));
    }
    Ok(body::ok_json(&serde_json::json!({
        "status": "ok",
        "database": "ok",
        "log": {
            "delivered": lag.delivered,
            "behind": lag.behind,
            "read_ms_ago": lag.since_read.as_millis() as u64,
        },
    })))
}

/// How long the log tailer may go without reading the log before the instance reports itself
/// unhealthy (it polls every 250 ms, and a catch-up after a long outage reads in chunks).
const TAILER_STALL: Duration = Duration::from_secs(10);

/// The bearer token of a request, from the header or, for browsers' WebSockets, `?token=`.
fn bearer(req: &Request<Incoming>, allow_query: bool) -> Option<String> {
    if let Some(v) = req.headers().get(header::AUTHORIZATION).and_then(|v| v.to_str().ok()) {
        let (scheme, token) = v.trim().split_once(' ')?;
        return scheme.eq_ignore_ascii_case("bearer").then(|| token.trim().to_string());
    }
    if allow_query {
        return query_param(req, "token");
    }
    None
}

async fn authenticate(state: &AppState, req: &Request<Incoming>) -> Result<crate::store::User, ApiError> {
    Ok(state.chat.authenticate(&bearer_required(req)?).await?)
}

/// `authenticate`, and the account must hold the admin role (re-read from the database).
async fn authenticate_admin(
    state: &AppState,
    req: &Request<Incoming>,
) -> Result<crate::store::User, ApiError> {
    Ok(state.chat.authenticate_admin(&bearer_required(req)?).await?)
}

fn bearer_required(req: &Request<Incoming>) -> Result<String, ApiError> {
    bearer(req, false).ok_or(ApiError::from(ChatError::Unauthenticated("missing bearer token")))
}

fn query_param(req: &Request<Incoming>, name: &str) -> Option<String> {
    let query = req.uri().query()?;
    query.split('&').find_map(|pair| {
        let (k, v) = pair.split_once('=').unwrap_or((pair, ""));
        (percent_decode(k) == name).then(|| percent_decode(v))
    })
}

fn percent_decode(s: &str) -> String {
    let bytes = s.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        let hex = bytes
            .get(i + 1..i + 3)
            .filter(|h| h.iter().all(u8::is_ascii_hexdigit))
            .and_then(|h| std::str::from_utf8(h).ok());
        match (bytes[i], hex.and_then(|h| u8::from_str_radix(h, 16).ok())) {
            (b'%', Some(b)) => {
                out.push(b);
                i += 3;
            }
            (b'+', _) => {
                out.push(b' ');
                i += 1;
            }
            (b, _) => {
                out.push(b);
                i += 1;
            }
        }
    }
    String::from_utf8_lossy(&out).into_owned()
}

/// Parses an optional integer query parameter; a present but invalid value is a 400.
fn query_i64(req: &Request<Incoming>, name: &str) -> Result<Option<i64>, ApiError> {
    match query_param(req, name) {
        None => Ok(None),
        Some(v) if v.is_empty() => Ok(None),
        Some(v) => v
            .parse::<i64>()
            .map(Some)
            .map_err(|_| ApiError::bad_request(format!("Query parameter {name:?} must be an integer"))),
    }
}

/// `?limit=` clamped to 1..=max, defaulting to `default`.
fn query_limit(req: &Request<Incoming>, default: usize, max: usize) -> Result<usize, ApiError> {
    Ok(match query_i64(req, "limit")? {
        None => default,
        Some(n) if n < 1 => return Err(ApiError::bad_request("limit must be at least 1")),
        Some(n) => (n as usize).min(max),
    })
}

#[cfg(test)]
mod tests {
    use super::percent_decode;

    #[test]
    fn decodes_percent_escapes() {
        assert_eq!(percent_decode("a%20b+c"), "a b c");
        assert_eq!(percent_decode("100%"), "100%");
        assert_eq!(percent_decode("%zz"), "%zz");
        assert_eq!(percent_decode("%e2%82%ac"), "€");
    }
}
