//! `GET /metrics` on its own listener (`serve --metrics-listen`): never on the chat port, so the
//! figures are not public unless the operator publishes that address.
//!
//! The listener answers nothing else. It is for one or two scrapers, not the public: at most
//! `MAX_CONNECTIONS` at a time, each with a short header timeout, so a stray client cannot pile
//! up tasks here.

use std::{convert::Infallible, sync::Arc, time::Duration};

use bytes::Bytes;
use http_body_util::Full;
use hyper::{body::Incoming, header, Method, Request, Response, StatusCode};
use hyper_util::rt::{TokioIo, TokioTimer};
use tokio::{net::TcpListener, sync::Semaphore};
use tokio_util::sync::CancellationToken;

use crate::chat::Chat;

const MAX_CONNECTIONS: usize = 16;

/// The OpenMetrics text format, which Prometheus asks for and understands.
const CONTENT_TYPE: &str = "application/openmetrics-text; version=1.0.0; charset=utf-8";

/// Serves `/metrics` until `shutdown` is cancelled.
pub async fn serve(listener: TcpListener, chat: Arc<Chat>, shutdown: CancellationToken) {
    let permits = Arc::new(Semaphore::new(MAX_CONNECTIONS));
    let mut http = hyper::server::conn::http1::Builder::new();
    http.timer(TokioTimer::new()).header_read_timeout(Duration::from_secs(5)).keep_alive(true);
    loop {
        let stream = tokio::select! {
            _ = shutdown.cancelled() => return,
            accepted = listener.accept() => match accepted {
                Ok((stream, _)) => stream,
                Err(e) => {
                    tracing::warn!(error = %e, "metrics: accept failed");
                    tokio::time::sleep(Duration::from_millis(50)).await;
                    continue;
                }
            },
        };
        // Beyond the limit the connection is closed at once.
        let Ok(permit) = Arc::clone(&permits).try_acquire_owned() else { continue };
        let chat = Arc::clone(&chat);
        let conn = http.serve_connection(
            TokioIo::new(stream),
            hyper::service::service_fn(move |req| answer(Arc::clone(&chat), req)),
        );
        let cancel = shutdown.clone();
        tokio::spawn(async move {
            let _permit = permit;
            tokio::pin!(conn);
            tokio::select! {
                _ = conn.as_mut() => {}
                _ = cancel.cancelled() => {
                    conn.as_mut().graceful_shutdown();
                    let _ = conn.await;
                }
            }
        });
    }
}

async fn answer(chat: Arc<Chat>, req: Request<Incoming>) -> Result<Response<Full<Bytes>>, Infallible> {
    let text = |status: StatusCode, body: String| {
        let mut resp = Response::new(Full::new(Bytes::from(body)));
        *resp.status_mut() = status;
        resp.headers_mut()
            .insert(header::CONTENT_TYPE, header::HeaderValue::from_static("text/plain; charset=utf-8"));
        resp
    };
    if req.uri().path() != "/metrics" {
        return Ok(text(StatusCode::NOT_FOUND, "Only /metrics is served here\n".into()));
    }
    if req.method() != Method::GET && req.method() != Method::HEAD {
        let mut resp = text(StatusCode::METHOD_NOT_ALLOWED, "GET /metrics\n".into());
        resp.headers_mut().insert(header::ALLOW, header::HeaderValue::from_static("GET, HEAD"));
        return Ok(resp);
    }
    let mut resp = Response::new(Full::new(Bytes::from(chat.scrape_metrics().await)));
    resp.headers_mut().insert(header::CONTENT_TYPE, header::HeaderValue::from_static(CONTENT_TYPE));
    Ok(resp)
}
