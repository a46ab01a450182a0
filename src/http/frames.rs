//! The WebSocket protocol's JSON shapes: parsing client frames and encoding server frames.
//!
//! Server frames are supersets of the original's (`user`, `text`, `timestamp`), so its clients
//! keep working while new clients get `type` and `id`.

use hyper_tungstenite::tungstenite::Utf8Bytes;
use serde_json::{json, Value};

use crate::{chat::hub::EventKind, store::Message};

/// What a client may send.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ClientFrame {
    Message { text: String },
}

/// Parses a client text frame; the error is the `detail` of the error frame to send back.
pub fn parse_client(text: &str) -> Result<ClientFrame, String> {
    let value: Value = serde_json::from_str(text).map_err(|e| format!("Malformed JSON: {e}"))?;
    let obj = value.as_object().ok_or("A frame must be a JSON object")?;
    match obj.get("type") {
        None => {}
        Some(Value::String(t)) if t == "message" => {}
        Some(Value::String(t)) => {
            let shown: String = t.chars().take(40).collect();
            return Err(format!("Unknown frame type {shown:?}"));
        }
        Some(_) => return Err("\"type\" must be a string".into()),
    }
    match obj.get("text") {
        Some(Value::String(text)) => Ok(ClientFrame::Message { text: text.clone() }),
        Some(_) => Err("\"text\" must be a string".into()),
        None => Err("A message frame needs a \"text\" field".into()),
    }
}

fn encode(v: Value) -> Utf8Bytes {
    Utf8Bytes::from(v.to_string())
}

pub fn message(m: &Message) -> Utf8Bytes {
    encode(json!({
        "type": "message",
        "id": m.id,
        "user": m.username,
        "text": m.content,
        "timestamp": m.timestamp,
    }))
}

/// The frames of a hub event: one per message of a committed batch, or one presence change.
pub fn event(kind: &EventKind) -> Vec<Utf8Bytes> {
    match kind {
        EventKind::Messages(ms) => ms.iter().map(message).collect(),
        EventKind::Join(user) => vec![encode(json!({ "type": "join", "user": user }))],
        EventKind::Leave(user) => vec![encode(json!({ "type": "leave", "user": user }))],
    }
}

/// `online` may be the first part of the list only; `count` is always the whole room.
pub fn presence(online: &[String], count: usize) -> Utf8Bytes {
    encode(json!({ "type": "presence", "online": online, "count": count }))
}

pub fn error(detail: &str) -> Utf8Bytes {
    encode(json!({ "type": "error", "detail": detail }))
}

pub fn warning(warnings: i64, limit: i64, term: &str) -> Utf8Bytes {
    let left = (limit - 1).max(1);
    let text = format!(
        "Warning {warnings} of {left}: your message was not sent because it contains \"{term}\", which is not allowed here. \
         After {left} warnings the next violation blocks your account."
    );
    encode(json!({
        "type": "warning",
        "warnings": warnings,
        "limit": limit,
        "user": "System",
        "alert": true,
        "text": text,
        "timestamp": crate::timefmt::now(),
    }))
}

/// The token the socket was opened with expired; the socket closes with 1008 after it.
pub fn expired(text: &str) -> Utf8Bytes {
    encode(json!({
        "type": "expired",
        "user": "System",
        "alert": true,
        "text": text,
        "timestamp": crate::timefmt::now(),
    }))
}

pub fn blocked(reason: &str) -> Utf8Bytes {
    encode(json!({
        "type": "blocked",
        "blocked": true,
        "user": "System",
        "alert": true,
        "text": reason,
        "timestamp": crate::timefmt::now(),
    }))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_new_and_original_frames() {
        let want = Ok(ClientFrame::Message { text: "hi".into() });
        assert_eq!(parse_client(r#"{"type":"message","text":"hi"}"#), want);
        assert_eq!(parse_client(r#"{"text":"hi"}"#), want);
    }

    #[test]
    fn rejects_bad_frames_with_reasons() {
        assert!(parse_client("not json").unwrap_err().contains("Malformed"));
        assert!(parse_client("[1]").unwrap_err().contains("object"));
        assert!(parse_client(r#"{"type":"dance"}"#).unwrap_err().contains("Unknown"));
        assert!(parse_client(r#"{"type":"message"}"#).unwrap_err().contains("text"));
        assert!(parse_client(r#"{"text":5}"#).unwrap_err().contains("string"));
    }
}
