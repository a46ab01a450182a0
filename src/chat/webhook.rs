//! The moderation webhook (`--moderation-webhook URL`): operators who run a bigger model than
//! the word list get each message and edit POSTed to them, and answer allow, flag or refuse.
//!
//! The request is JSON `{"text", "user": {"id", "username"}, "room": {"id", "kind", "name"},
//! "kind": "message"|"edit"}`; the answer `{"verdict": "allow"|"flag"|"refuse", "reason"?}`.
//! A webhook that does not answer in time (waiting for one of the bounded slots counts), cannot
//! be reached, answers a non-2xx status or something that is not such JSON is *unavailable*, and
//! `--moderation-webhook-fail` decides: `open` delivers, `closed` refuses the message (an error
//! for the sender to retry, never a strike). Only the sender waits: `Chat::post` awaits the
//! verdict before the message enters the writer, so one socket's messages keep their order, and
//! other sockets never wait for it (their posts run on their own tasks; the slots only bound
//! the connections open to the webhook).
//!
//! `https://` is verified against the system's certificate authorities (or the operator's own,
//! `--moderation-webhook-ca`): the call carries whatever anyone wrote, private rooms and DMs
//! included, so it never crosses a network in the clear unless the operator chose `http://`
//! (a sidecar on the same host).

use std::{path::Path, sync::Arc, time::Duration};

use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use hyper::{header, Request, Uri};
use hyper_util::rt::TokioIo;
use rustls::pki_types::{pem::PemObject, CertificateDer, ServerName};
use serde::{Deserialize, Serialize};
use tokio::{
    io::{AsyncRead, AsyncWrite},
    sync::Semaphore,
};

use crate::store::{Room, User};

/// The largest answer read from the webhook.
const MAX_ANSWER_BYTES: usize = 64 * 1024;

/// `--moderation-webhook*`, validated.
#[derive(Debug, Clone)]
pub struct WebhookConfig {
    pub url: Uri,
    /// For the whole call: waiting for a slot, connecting, sending, and reading the answer.
    pub timeout: Duration,
    /// Refuse (instead of deliver) when the webhook is unavailable.
    pub fail_closed: bool,
    /// Calls in flight at once.
    pub concurrency: usize,
    /// For an `https://` URL: the client configuration with the authorities its certificate
    /// must chain to (`WebhookConfig::client_tls`).
    pub tls: Option<Arc<rustls::ClientConfig>>,
}

/// Where Linux distributions keep the system's certificate authorities in one PEM file (Debian
/// and Ubuntu; Fedora and RHEL; openSUSE; Alpine), after `SSL_CERT_FILE` as OpenSSL reads it.
const SYSTEM_CA_FILES: &[&str] = &[
    "/etc/ssl/certs/ca-certificates.crt",
    "/etc/pki/tls/certs/ca-bundle.crt",
    "/etc/ssl/ca-bundle.pem",
    "/etc/ssl/cert.pem",
];

impl WebhookConfig {
    /// Checks an operator's URL: `http[s]://host[:port][/path]`.
    pub fn parse_url(url: &str) -> Result<Uri, String> {
        let uri: Uri = url.parse().map_err(|e| format!("not a URL: {e}"))?;
        if !matches!(uri.scheme_str(), Some("http" | "https")) {
            return Err("the URL must start with http:// or https://".into());
        }
        if uri.host().is_none_or(str::is_empty) {
            return Err("the URL has no host".into());
        }
        if uri.scheme_str() == Some("https") && ServerName::try_from(host_of(&uri)).is_err() {
            return Err("the host is not a name or address a certificate can be checked against".into());
        }
        Ok(uri)
    }

    /// The TLS client for an `https://` webhook: certificates must chain to an authority in
    /// `ca` (PEM), or else in the system's bundle.
    pub fn client_tls(ca: Option<&Path>) -> Result<Arc<rustls::ClientConfig>, String> {
        let (path, pem) = match ca {
            Some(path) => {
                let pem = std::fs::read(path).map_err(|e| format!("cannot read {}: {e}", path.display()))?;
                (path.to_path_buf(), pem)
            }
            None => {
                let candidates = std::env::var_os("SSL_CERT_FILE")
                    .map(std::path::PathBuf::from)
                    .into_iter()
                    .chain(SYSTEM_CA_FILES.iter().map(std::path::PathBuf::from));
                let found = candidates.into_iter().find_map(|p| std::fs::read(&p).ok().map(|pem| (p, pem)));
                found.ok_or_else(|| {
                    format!(
                        "no certificate authorities to check the webhook's certificate against: none of \
                         SSL_CERT_FILE, {} could be read (install ca-certificates, or give \
                         --moderation-webhook-ca FILE)",
                        SYSTEM_CA_FILES.join(", ")
                    )
                })?
            }
        };
        let mut roots = rustls::RootCertStore::empty();
        let mut added = 0;
        for cert in CertificateDer::pem_slice_iter(&pem) {
            let cert = cert.map_err(|e| format!("{}: invalid PEM: {e}", path.display()))?;
            // A bundle may hold a certificate rustls cannot use as a root; the others still count.
            added += usize::from(roots.add(cert).is_ok());
        }
        if added == 0 {
            return Err(format!("{}: no usable PEM certificate in it", path.display()));
        }
        // The provider named, as for the server's TLS (`crate::tls`).
        let provider = Arc::new(rustls::crypto::ring::default_provider());
        let config = rustls::ClientConfig::builder_with_provider(provider)
            .with_safe_default_protocol_versions()
            .map_err(|e| e.to_string())?
            .with_root_certificates(roots)
            .with_no_client_auth();
        Ok(Arc::new(config))
    }
}

/// The URL's host as a certificate names it: an IPv6 address without its brackets.
fn host_of(uri: &Uri) -> String {
    let host = uri.host().unwrap_or_default();
    host.strip_prefix('[').and_then(|h| h.strip_suffix(']')).unwrap_or(host).to_string()
}

/// What the webhook said about a message.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Verdict {
    Allow,
    /// Delivered, and reported for a moderator to look at.
    Flag {
        reason: String,
    },
    /// Refused as a violation (a strike, like a word-list hit).
    Refuse {
        reason: String,
    },
    /// No usable answer and `--moderation-webhook-fail closed`: refused, not a strike.
    Unavailable,
}

/// Whether the webhook sees a new message or an edit.
#[derive(Debug, Clone, Copy, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Kind {
    Message,
    Edit,
}

#[derive(Serialize)]
struct Call<'a> {
    text: &'a str,
    user: CallUser<'a>,
    room: CallRoom<'a>,
    kind: Kind,
}

#[derive(Serialize)]
struct CallUser<'a> {
    id: i64,
    username: &'a str,
}

#[derive(Serialize)]
struct CallRoom<'a> {
    id: i64,
    kind: &'a str,
    name: Option<&'a str>,
}

#[derive(Deserialize)]
struct Answer {
    verdict: AnswerVerdict,
    #[serde(default)]
    reason: Option<String>,
}

#[derive(Deserialize)]
#[serde(rename_all = "lowercase")]
enum AnswerVerdict {
    Allow,
    Flag,
    Refuse,
}

#[derive(Debug)]
pub struct Webhook {
    config: WebhookConfig,
    slots: Semaphore,
}

impl Webhook {
    pub fn new(config: WebhookConfig) -> Webhook {
        let slots = Semaphore::new(config.concurrency.max(1));
        Webhook { config, slots }
    }

    /// Asks the webhook about `text`; applies the fail policy when it gives no usable answer.
    pub async fn screen(&self, text: &str, user: &User, room: &Room, kind: Kind) -> Verdict {
        let call = Call {
            text,
            user: CallUser { id: user.id, username: &user.username },
            room: CallRoom { id: room.id, kind: room.kind.as_str(), name: room.name.as_deref() },
            kind,
        };
        let body = match serde_json::to_vec(&call) {
            Ok(b) => b,
            Err(e) => return self.unavailable(&format!("cannot encode the call: {e}"), user),
        };
        let answer = match tokio::time::timeout(self.config.timeout, self.call(body)).await {
            Ok(Ok(answer)) => answer,
            Ok(Err(e)) => return self.unavailable(&e, user),
            Err(_) => return self.unavailable("no answer in time", user),
        };
        let reason = answer.reason.unwrap_or_default();
        match answer.verdict {
            AnswerVerdict::Allow => Verdict::Allow,
            AnswerVerdict::Flag => Verdict::Flag { reason },
            AnswerVerdict::Refuse => Verdict::Refuse { reason },
        }
    }

    fn unavailable(&self, why: &str, user: &User) -> Verdict {
        // Never the text: it may be anything anyone wrote.
        tracing::warn!(why, user = %user.username, fail_closed = self.config.fail_closed, "the moderation webhook is unavailable");
        if self.config.fail_closed {
            Verdict::Unavailable
        } else {
            Verdict::Allow
        }
    }

    /// One POST on a connection of its own, in one of the bounded slots.
    async fn call(&self, body: Vec<u8>) -> Result<Answer, String> {
        let _slot = self.slots.acquire().await.map_err(|_| "closed".to_string())?;
        let uri = &self.config.url;
        let host = host_of(uri);
        let tls = self.config.tls.clone();
        let port = uri.port_u16().unwrap_or(if uri.scheme_str() == Some("https") { 443 } else { 80 });
        let stream = tokio::net::TcpStream::connect((host.as_str(), port))
            .await
            .map_err(|e| format!("cannot connect: {e}"))?;
        match tls {
            None => self.post(stream, body).await,
            Some(config) => {
                let name = ServerName::try_from(host).map_err(|e| format!("host: {e}"))?;
                let stream = tokio_rustls::TlsConnector::from(config)
                    .connect(name, stream)
                    .await
                    .map_err(|e| format!("TLS: {e}"))?;
                self.post(stream, body).await
            }
        }
    }

    /// The request and its answer, over an open connection.
    async fn post<S>(&self, stream: S, body: Vec<u8>) -> Result<Answer, String>
    where
        S: AsyncRead + AsyncWrite + Unpin + Send + 'static,
    {
        let uri = &self.config.url;
        let (mut sender, conn) = hyper::client::conn::http1::handshake(TokioIo::new(stream))
            .await
            .map_err(|e| format!("handshake: {e}"))?;
        let driver = tokio::spawn(async move {
            let _ = conn.await;
        });
        let authority = uri.authority().map(|a| a.as_str()).unwrap_or_default();
        let path = uri.path_and_query().map(|p| p.as_str()).unwrap_or("/");
        let req = Request::post(path)
            .header(header::HOST, authority)
            .header(header::CONTENT_TYPE, "application/json")
            .body(Full::new(Bytes::from(body)))
            .map_err(|e| format!("request: {e}"))?;
        let result = async {
            let resp = sender.send_request(req).await.map_err(|e| format!("request failed: {e}"))?;
            let status = resp.status();
            if !status.is_success() {
                return Err(format!("answered {status}"));
            }
            let limited = http_body_util::Limited::new(resp.into_body(), MAX_ANSWER_BYTES);
            let bytes = limited.collect().await.map_err(|e| format!("reading the answer: {e}"))?.to_bytes();
            serde_json::from_slice::<Answer>(&bytes).map_err(|e| format!("not a verdict: {e}"))
        }
        .await;
        driver.abort();
        result
    }
}

impl super::Chat {
    /// The webhook's verdict on a post into `room` (Allow when there is no webhook);
    /// `ModerationUnavailable` when it gave none and the policy is to refuse.
    pub(super) async fn webhook_verdict(
        &self,
        user: &User,
        room: i64,
        text: &str,
        kind: Kind,
    ) -> super::Result<Verdict> {
        let Some(hook) = &self.webhook else { return Ok(Verdict::Allow) };
        let Some(room) = self.blocking(move |s| Ok(s.room(room)?)).await? else { return Ok(Verdict::Allow) };
        match hook.screen(text, user, &room, kind).await {
            Verdict::Unavailable => Err(super::ChatError::ModerationUnavailable),
            verdict => Ok(verdict),
        }
    }

    /// The webhook's verdict on an edit of message `id` (Allow when there is no webhook, or
    /// nothing to ask it about).
    pub(super) async fn webhook_edit(&self, user: &User, id: i64, text: &str) -> super::Result<Verdict> {
        if self.webhook.is_none() {
            return Ok(Verdict::Allow);
        }
        // A message the user cannot edit (not theirs, or gone) fails the edit itself, after
        // this: the webhook is not told about it.
        let Some(message) = self.blocking(move |s| Ok(s.message(id)?)).await? else {
            return Ok(Verdict::Allow);
        };
        if message.sender_id != user.id {
            return Ok(Verdict::Allow);
        }
        self.webhook_verdict(user, message.room_id, text, Kind::Edit).await
    }
}

/// The reason of the report a message the webhook flagged files.
pub fn flag_reason(reason: &str) -> String {
    let reason = reason.trim();
    if reason.is_empty() {
        "flagged by the moderation webhook".to_string()
    } else {
        reason.chars().take(200).collect()
    }
}

/// What a webhook refusal is recorded as, in the place of a word-list term.
pub fn refusal_term(reason: &str) -> String {
    let reason = reason.trim();
    if reason.is_empty() {
        "webhook".to_string()
    } else {
        format!("webhook: {}", reason.chars().take(200).collect::<String>())
    }
}
