//! The accept loop and graceful shutdown.
//!
//! `run` takes an already bound listener and a shutdown future, so tests bind `127.0.0.1:0` and
//! run many servers in one process. On shutdown it stops accepting, tells WebSockets to close
//! with 1001, lets in-flight requests finish, and commits queued messages, all within a bounded
//! grace period.

use std::{future::Future, sync::Arc, time::Duration};

use hyper::service::service_fn;
use hyper_util::rt::{TokioIo, TokioTimer};
use tokio::{net::TcpListener, sync::Semaphore};
use tokio_util::task::TaskTracker;

use crate::http::{self, AppState};

#[derive(Debug, Clone)]
pub struct ServerConfig {
    /// A client must send its request headers within this time (slowloris defence).
    pub header_timeout: Duration,
    /// How long shutdown waits for connections and pending writes.
    pub grace_period: Duration,
    /// Open HTTP connections and WebSockets beyond this are refused at accept.
    pub max_connections: usize,
    /// How often the daemon checks for account changes made by the operator CLI.
    pub account_poll: Duration,
}

impl Default for ServerConfig {
    fn default() -> Self {
        ServerConfig {
            header_timeout: Duration::from_secs(10),
            grace_period: Duration::from_secs(10),
            max_connections: 20_000,
            account_poll: Duration::from_millis(500),
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
    let slots = Arc::new(Semaphore::new(config.max_connections));
    let watcher = tokio::spawn(
        Arc::clone(&state.chat).watch_accounts(config.account_poll, state.shutdown.child_token()),
    );
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
        let Ok(permit) = Arc::clone(&slots).try_acquire_owned() else {
            tracing::warn!(peer = %peer.ip(), "connection limit reached; refusing a connection");
            continue;
        };
        let _ = stream.set_nodelay(true);
        let state = Arc::clone(&state);
        let cancel = state.shutdown.clone();
        // Shared with a WebSocket upgraded from this connection, which then keeps the slot
        // until the socket closes.
        let slot = http::ConnectionSlot(Arc::new(permit));
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
    watcher.abort();
    tracing::info!("stopped");
    Ok(())
}
