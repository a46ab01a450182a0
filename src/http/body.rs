//! Response bodies (whole JSON or bytes, or streamed from a blocking producer) and bounded
//! request-body reading.

use std::{
    convert::Infallible,
    pin::Pin,
    sync::{
        atomic::{AtomicBool, Ordering},
        Arc,
    },
    task::{Context, Poll},
    time::Duration,
};

use bytes::Bytes;
use http_body::Frame;
use http_body_util::{combinators::BoxBody, BodyExt, Full, Limited};
use hyper::{body::Incoming, header, StatusCode};
use serde::{de::DeserializeOwned, Deserialize, Serialize};
use tokio::sync::mpsc;

use super::error::ApiError;

pub type Body = BoxBody<Bytes, std::io::Error>;
pub type Response = hyper::Response<Body>;

pub fn full(bytes: impl Into<Bytes>) -> Body {
    Full::new(bytes.into()).map_err(|e: Infallible| match e {}).boxed()
}

pub fn json_response<T: Serialize + ?Sized>(status: StatusCode, value: &T) -> Response {
    let bytes = serde_json::to_vec(value).unwrap_or_else(|_| b"{}".to_vec());
    let mut resp = hyper::Response::new(full(bytes));
    *resp.status_mut() = status;
    resp.headers_mut().insert(header::CONTENT_TYPE, header::HeaderValue::from_static("application/json"));
    resp
}

pub fn ok_json<T: Serialize + ?Sized>(value: &T) -> Response {
    json_response(StatusCode::OK, value)
}

/// Reads a JSON body of at most `limit` bytes within `timeout`, with precise errors: 413 for
/// too large, 408 for too slow, 400 for malformed JSON, 422 for the wrong shape.
pub async fn read_json<T: DeserializeOwned>(
    body: Incoming,
    limit: usize,
    timeout: Duration,
) -> Result<T, ApiError> {
    parse_json(&read_bytes(body, limit, timeout).await?)
}

/// Like `read_json`, but an empty body means `T::default()` (for requests whose body is optional).
pub async fn read_optional_json<T: DeserializeOwned + Default>(
    body: Incoming,
    limit: usize,
    timeout: Duration,
) -> Result<T, ApiError> {
    let bytes = read_bytes(body, limit, timeout).await?;
    if bytes.iter().all(u8::is_ascii_whitespace) {
        return Ok(T::default());
    }
    // An optional body is nullable in the OpenAPI document, so a JSON `null` means "no body" too.
    Ok(parse_json::<Option<T>>(&bytes)?.unwrap_or_default())
}

async fn read_bytes(body: Incoming, limit: usize, timeout: Duration) -> Result<Bytes, ApiError> {
    let collected = tokio::time::timeout(timeout, Limited::new(body, limit).collect())
        .await
        .map_err(|_| ApiError::new(StatusCode::REQUEST_TIMEOUT, "The request body took too long"))?;
    let bytes = match collected {
        Ok(c) => c.to_bytes(),
        Err(e) if e.is::<http_body_util::LengthLimitError>() => {
            return Err(ApiError::new(
                StatusCode::PAYLOAD_TOO_LARGE,
                format!("The request body is larger than {limit} bytes"),
            ))
        }
        Err(_) => return Err(ApiError::bad_request("The request body could not be read")),
    };
    Ok(bytes)
}

pub fn parse_json<T: DeserializeOwned>(bytes: &[u8]) -> Result<T, ApiError> {
    serde_json::from_slice(bytes).map_err(|e| {
        use serde_json::error::Category;
        match e.classify() {
            Category::Data => {
                ApiError::new(StatusCode::UNPROCESSABLE_ENTITY, format!("Invalid request: {e}"))
            }
            _ => ApiError::bad_request(format!("Malformed JSON: {e}")),
        }
    })
}

/// A body fed by a channel, so a blocking thread can stream a large export chunk by chunk
/// with the channel's bound as backpressure.
pub struct ChannelBody {
    rx: mpsc::Receiver<Result<Bytes, std::io::Error>>,
    failed: Arc<AtomicBool>,
}

/// A streamed body and the `Write` that feeds it from a blocking thread. The channel's small
/// bound is the backpressure; a client that takes no chunk for `stall_timeout` is abandoned.
pub fn channel_body(stall_timeout: Duration) -> (ChannelBody, ChannelWriter) {
    let (tx, rx) = mpsc::channel(4);
    let failed = Arc::new(AtomicBool::new(false));
    let body = ChannelBody { rx, failed: Arc::clone(&failed) };
    let writer = ChannelWriter {
        tx,
        buf: Vec::with_capacity(CHUNK),
        runtime: tokio::runtime::Handle::current(),
        stall_timeout,
        failed,
    };
    (body, writer)
}

impl http_body::Body for ChannelBody {
    type Data = Bytes;
    type Error = std::io::Error;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, std::io::Error>>> {
        match self.rx.poll_recv(cx) {
            // The producer gave up: end with an error, so hyper aborts the transfer instead of
            // closing the body normally and a cut-off export never looks complete.
            Poll::Ready(None) if self.failed.load(Ordering::Acquire) => {
                Poll::Ready(Some(Err(std::io::Error::other("the export was aborted"))))
            }
            other => other.map(|o| o.map(|r| r.map(Frame::data))),
        }
    }
}

/// A `Write` that sends its bytes into a `ChannelBody` in chunks; used from blocking threads
/// (it waits for the client with the runtime's timer while the producer holds its resources:
/// a blocking thread and, for exports, a database read snapshot that keeps the WAL from being
/// reset).
pub struct ChannelWriter {
    tx: mpsc::Sender<Result<Bytes, std::io::Error>>,
    buf: Vec<u8>,
    runtime: tokio::runtime::Handle,
    stall_timeout: Duration,
    failed: Arc<AtomicBool>,
}

const CHUNK: usize = 32 * 1024;

impl ChannelWriter {
    fn send(&mut self) -> std::io::Result<()> {
        if self.buf.is_empty() {
            return Ok(());
        }
        let chunk = Bytes::from(std::mem::replace(&mut self.buf, Vec::with_capacity(CHUNK)));
        match self.runtime.block_on(tokio::time::timeout(self.stall_timeout, self.tx.send(Ok(chunk)))) {
            Ok(Ok(())) => Ok(()),
            Ok(Err(_)) => Err(std::io::Error::new(std::io::ErrorKind::BrokenPipe, "client went away")),
            Err(_) => Err(std::io::Error::new(std::io::ErrorKind::TimedOut, "client stopped reading")),
        }
    }

    /// Ends the body with an error so the client sees a truncated transfer, not a short file.
    pub fn fail(self) {
        self.failed.store(true, Ordering::Release);
    }
}

impl std::io::Write for ChannelWriter {
    fn write(&mut self, data: &[u8]) -> std::io::Result<usize> {
        self.buf.extend_from_slice(data);
        if self.buf.len() >= CHUNK {
            self.send()?;
        }
        Ok(data.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        self.send()
    }
}

/// Deserializes an integer that JSON may also write as a float with no fraction (`42.0`, which
/// JSON Schema counts as an integer too).
pub fn integer<'de, D: serde::Deserializer<'de>>(d: D) -> Result<i64, D::Error> {
    let n = serde_json::Number::deserialize(d)?;
    if let Some(i) = n.as_i64() {
        return Ok(i);
    }
    match n.as_f64() {
        Some(f) if f.fract() == 0.0 && f.abs() < 9.0e15 => Ok(f as i64),
        _ => Err(serde::de::Error::custom(format!("expected an integer, found {n}"))),
    }
}
