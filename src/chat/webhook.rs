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
//! Plain `http://` only: the webhook is a sidecar on the same host or private network, and TLS
//! would add rustls, its crypto and a root store to a binary that has no TLS anywhere (a reverse
//! proxy terminates it); an `https://` URL is a configuration error that says so.

use std::time::Duration;

use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use hyper::{header, Request, Uri};
use hyper_util::rt::TokioIo;
use serde::{Deserialize, Serialize};
use tokio::sync::Semaphore;

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
}

impl WebhookConfig {
    /// Checks an operator's URL: `http://host[:port][/path]`.
    pub fn parse_url(url: &str) -> Result<Uri, String> {
        let uri: Uri = url.parse().map_err(|e| format!("not a URL: {e}"))?;
        match uri.scheme_str() {
            Some("http") => {}
            Some("https") => {
                return Err("https is not supported: run the webhook on the same host or a private \
                            network and give an http:// URL (or put a TLS-terminating proxy beside it)"
                    .into())
            }
            _ => return Err("the URL must start with http://".into()),
        }
        if uri.host().is_none_or(str::is_empty) {
            return Err("the URL has no host".into());
        }
        Ok(uri)
    }
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
        let host = uri.host().unwrap_or_default();
        let port = uri.port_u16().unwrap_or(80);
        let stream =
            tokio::net::TcpStream::connect((host, port)).await.map_err(|e| format!("cannot connect: {e}"))?;
        let (mut sender, conn) = hyper::client::conn::http1::handshake(TokioIo::new(stream))
            .await
            .map_err(|e| format!("handshake: {e}"))?;
        let driver = tokio::spawn(async move {
            let _ = conn.await;
        });
        let authority = uri.authority().map(|a| a.as_str()).unwrap_or(host);
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
