//! The accept loop and graceful shutdown.
//!
//! `run` takes an already bound listener and a shutdown future, so tests bind `127.0.0.1:0` and
//! run many servers in one process. On shutdown it stops accepting, tells WebSockets to close
//! with 1001, lets in-flight requests finish, and commits queued messages, all within a bounded
//! grace period.
//!
//! Admission happens at accept, before a byte is read: a global cap, a per-address cap (an IPv6
//! client's /64 is one address; a `--trusted-proxy` has none), and a
//! reserve of the last global slots for addresses that hold no connection yet, so one client
//! (one address, or one account's many WebSockets) cannot lock everybody else out, and a health
//! probe or a new user still gets in when the server is otherwise full.

use std::{
    collections::HashMap,
    future::Future,
    net::IpAddr,
    sync::{Arc, Mutex},
    time::Duration,
};

use hyper::service::service_fn;
use hyper_util::rt::{TokioIo, TokioTimer};
use tokio::net::TcpListener;
use tokio_util::task::TaskTracker;

use crate::{
    chat::ratelimit::client_key,
    http::{self, proxy::TrustedProxies, AppState},
};

#[derive(Debug, Clone)]
pub struct ServerConfig {
    /// A client must send its request headers within this time (slowloris defence).
    pub header_timeout: Duration,
    /// How long shutdown waits for connections and pending writes.
    pub grace_period: Duration,
    /// Open HTTP connections and WebSockets beyond this are refused at accept.
    pub max_connections: usize,
    /// The last of the `max_connections` slots, given only to an address that holds none.
    pub reserved_connections: usize,
    /// Open connections of one client address beyond this are refused at accept.
    pub max_connections_per_ip: usize,
}

impl Default for ServerConfig {
    fn default() -> Self {
        ServerConfig {
            header_timeout: Duration::from_secs(10),
            grace_period: Duration::from_secs(10),
            max_connections: 20_000,
            reserved_connections: reserve_for(20_000),
            max_connections_per_ip: 256,
        }
    }
}

/// The reserve for a global cap: 5 %, so a full server still admits a health check and new
/// users from other addresses.
pub fn reserve_for(max_connections: usize) -> usize {
    max_connections / 20
}

/// Why a connection was refused at accept.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Refused {
    Full,
    PerAddress,
}

/// Logs refusals at most once per `REFUSAL_LOG_EVERY`, with how many there were: a client
/// hammering the server must not fill the disk with one log line per connection attempt.
#[derive(Default)]
struct Refusals {
    last_logged: Option<std::time::Instant>,
    since: u64,
}

const REFUSAL_LOG_EVERY: Duration = Duration::from_secs(10);

impl Refusals {
    fn note(&mut self, why: Refused, peer: IpAddr) {
        self.since += 1;
        if self.last_logged.is_some_and(|t| t.elapsed() < REFUSAL_LOG_EVERY) {
            return;
        }
        let limit = match why {
            Refused::Full => "the connection limit",
            Refused::PerAddress => "the per-address connection limit",
        };
        tracing::warn!(peer = %peer, refused = self.since, "{limit} reached; refusing connections");
        self.last_logged = Some(std::time::Instant::now());
        self.since = 0;
    }
}

/// Counts of open connections, in all and per client address (an IPv6 client: its /64).
struct Admission {
    max: usize,
    reserve: usize,
    per_ip: usize,
    /// Exempt from `per_ip`: all their clients' connections come from their address.
    trusted: TrustedProxies,
    open: Mutex<(usize, HashMap<IpAddr, usize>)>,
    /// The same total, for `/metrics`.
    gauge: prometheus_client::metrics::gauge::Gauge,
}

/// One admitted connection; dropping it (when the connection, or the WebSocket upgraded from
/// it, ends) gives the slot back.
struct Admitted {
    admission: Arc<Admission>,
    ip: IpAddr,
}

impl Admission {
    fn new(
        config: &ServerConfig,
        trusted: TrustedProxies,
        gauge: prometheus_client::metrics::gauge::Gauge,
    ) -> Self {
        Admission {
            max: config.max_connections,
            // Never the whole cap: at least one slot stays open to addresses that hold slots.
            reserve: config.reserved_connections.min(config.max_connections.saturating_sub(1)),
            per_ip: config.max_connections_per_ip,
            trusted,
            open: Mutex::new((0, HashMap::new())),
            gauge,
        }
    }

    /// Admits a connection from `peer`, the TCP peer: the client a proxy forwards for is not
    /// known before its request is read.
    fn admit(self: &Arc<Self>, peer: IpAddr) -> Result<Admitted, Refused> {
        // One client on IPv4 and IPv4-mapped IPv6 is still one client, and so is one IPv6 /64.
        let ip = client_key(peer);
        let mut open = self.open.lock().unwrap_or_else(|p| p.into_inner());
        let (total, by_ip) = &mut *open;
        let held = by_ip.get(&ip).copied().unwrap_or(0);
        if *total >= self.max || (*total >= self.max - self.reserve && held > 0) {
            return Err(Refused::Full);
        }
        if held >= self.per_ip && !self.trusted.contains(peer) {
            return Err(Refused::PerAddress);
        }
        *total += 1;
        *by_ip.entry(ip).or_insert(0) += 1;
        self.gauge.set(*total as i64);
        Ok(Admitted { admission: Arc::clone(self), ip })
    }
}

impl Drop for Admitted {
    fn drop(&mut self) {
        let mut open = self.admission.open.lock().unwrap_or_else(|p| p.into_inner());
        let (total, by_ip) = &mut *open;
        *total -= 1;
        self.admission.gauge.set(*total as i64);
        if let Some(n) = by_ip.get_mut(&self.ip) {
            *n -= 1;
            if *n == 0 {
                by_ip.remove(&self.ip);
            }
        }
    }
}

pub async fn run(
    listener: TcpListener,
    state: Arc<AppState>,
    config: ServerConfig,
    shutdown: impl Future<Output = ()>,
) -> std::io::Result<()> {
    let connections = TaskTracker::new();
    let admission = Arc::new(Admission::new(
        &config,
        state.http.trusted_proxies.clone(),
        state.chat.metrics().connections_gauge(),
    ));
    let mut refusals = Refusals::default();
    let presence = tokio::spawn(Arc::clone(&state.chat).run_presence(state.shutdown.child_token()));
    let purger = tokio::spawn(Arc::clone(&state.chat).purge_limits(state.shutdown.child_token()));
    let mut http = hyper::server::conn::http1::Builder::new();
    http.timer(TokioTimer::new())
        .header_read_timeout(config.header_timeout)
        .max_buf_size(64 * 1024)
        .keep_alive(true);
    tokio::pin!(shutdown);
    loop {
        let (stream, peer) = tokio::select! {
            _ = &mut shutdown => break,
            accepted = listener.accept() => match accepted {
                Ok(pair) => pair,
                Err(e) => {
                    // Usually out of file descriptors: back off instead of spinning.
                    tracing::warn!(error = %e, "accept failed");
                    tokio::time::sleep(Duration::from_millis(50)).await;
                    continue;
                }
            },
        };
        // A refused connection is closed at once (dropping the stream): nothing is read from
        // it, so refusing costs no more than accepting.
        let admitted = match admission.admit(peer.ip()) {
            Ok(a) => a,
            Err(why) => {
                refusals.note(why, peer.ip());
                continue;
            }
        };
        let _ = stream.set_nodelay(true);
        let state = Arc::clone(&state);
        let cancel = state.shutdown.clone();
        // Shared with a WebSocket upgraded from this connection, which then keeps the slot
        // until the socket closes.
        let slot = http::ConnectionSlot(Arc::new(admitted));
        let conn = http.serve_connection(
            TokioIo::new(stream),
            service_fn(move |mut req| {
                req.extensions_mut().insert(slot.clone());
                http::handle(Arc::clone(&state), peer, req)
            }),
        );
        connections.spawn(async move {
            let conn = conn.with_upgrades();
            tokio::pin!(conn);
            tokio::select! {
                res = conn.as_mut() => {
                    if let Err(e) = res { tracing::debug!(error = %e, "connection error"); }
                }
                _ = cancel.cancelled() => {
                    conn.as_mut().graceful_shutdown();
                    let _ = conn.await;
                }
            }
        });
    }
    drop(listener);
    tracing::info!("shutting down: closing connections");
    state.shutdown.cancel();
    connections.close();
    state.sockets.close();
    let drained = tokio::time::timeout(config.grace_period, async {
        connections.wait().await;
        state.sockets.wait().await;
    })
    .await;
    if drained.is_err() {
        tracing::warn!("grace period over with connections still open");
    }
    // Every socket task has ended (or the grace period is over), so nothing new is queued:
    // commit what is.
    if tokio::time::timeout(config.grace_period, state.chat.shutdown()).await.is_err() {
        tracing::error!("pending messages could not be committed within the grace period");
    }
    // The goodbye started when the shutdown did; an unreachable database must not hold the exit.
    if tokio::time::timeout(config.grace_period, presence).await.is_err() {
        tracing::warn!("this instance's presence could not be removed; the others drop it when it expires");
    }
    purger.abort();
    tracing::info!("stopped");
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn admission(per_ip: usize, trusted: &[&str]) -> Arc<Admission> {
        let config = ServerConfig {
            max_connections: 100,
            reserved_connections: 0,
            max_connections_per_ip: per_ip,
            ..ServerConfig::default()
        };
        Arc::new(Admission::new(&config, TrustedProxies::parse(trusted).unwrap(), Default::default()))
    }

    fn ip(s: &str) -> IpAddr {
        s.parse().unwrap()
    }

    #[test]
    fn one_ipv6_64_is_one_address_and_a_trusted_proxy_is_not_capped() {
        let a = admission(2, &["10.0.0.1"]);
        let held: Vec<Admitted> =
            ["2001:db8::1", "2001:db8::2"].iter().map(|s| a.admit(ip(s)).unwrap()).collect();
        assert_eq!(a.admit(ip("2001:db8::ffff:3")).err(), Some(Refused::PerAddress));
        assert!(a.admit(ip("2001:db8:0:1::1")).is_ok(), "another /64 is another client");
        let v4: Vec<Admitted> = (0..2).map(|_| a.admit(ip("::ffff:192.0.2.1")).unwrap()).collect();
        assert_eq!(a.admit(ip("192.0.2.1")).err(), Some(Refused::PerAddress));
        let proxied: Vec<Admitted> = (0..10).map(|_| a.admit(ip("10.0.0.1")).unwrap()).collect();
        drop((held, v4, proxied));
        assert!(a.admit(ip("2001:db8::1")).is_ok(), "slots come back");
    }
}
