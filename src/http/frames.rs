//! The WebSocket protocol's JSON shapes: parsing client frames and encoding server frames.
//!
//! Server frames are supersets of the original's (`user`, `text`, `timestamp`), so its clients
//! keep working while new clients get `type` and `id`; on `/chat/ws` they follow the original's
//! dialect (`Dialect::Original`).

use hyper_tungstenite::tungstenite::Utf8Bytes;
use serde_json::{json, Value};

use crate::{
    chat::{
        hub::EventKind,
        standing::{format_duration, Step},
    },
    store::Message,
};

use super::rooms::{ReactionCount, RoomInfo, RoomSummary};

/// What a client may send.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ClientFrame {
    /// `room` None: `general` (the original's clients and ours before rooms).
    Message {
        room: Option<i64>,
        text: String,
        reply_to: Option<i64>,
    },
    /// An admin's live view of a public room (None stops).
    Watch {
        room: Option<i64>,
    },
    /// A new text for one's own message.
    Edit {
        id: i64,
        text: String,
    },
    Delete {
        id: i64,
    },
    /// Adds the reaction, or takes it back.
    React {
        id: i64,
        emoji: String,
    },
    Typing {
        room: i64,
    },
}

/// An optional integer field (null counts as absent).
fn int_field(obj: &serde_json::Map<String, Value>, name: &str, what: &str) -> Result<Option<i64>, String> {
    match obj.get(name) {
        None | Some(Value::Null) => Ok(None),
        Some(Value::Number(n)) if n.as_i64().is_some() => Ok(n.as_i64()),
        Some(_) => Err(format!("\"{name}\" must be {what} (an integer)")),
    }
}

fn string_field(obj: &serde_json::Map<String, Value>, name: &str, frame: &str) -> Result<String, String> {
    match obj.get(name) {
        Some(Value::String(s)) => Ok(s.clone()),
        Some(_) => Err(format!("\"{name}\" must be a string")),
        None => Err(format!("{} frame needs a \"{name}\" field", article(frame))),
    }
}

/// "A message", "An edit": the start of an error about a frame.
fn article(frame: &str) -> String {
    let a = if frame.starts_with(['a', 'e', 'i', 'o', 'u']) { "An" } else { "A" };
    format!("{a} {frame}")
}

/// Parses a client text frame; the error is the `detail` of the error frame to send back.
pub fn parse_client(text: &str) -> Result<ClientFrame, String> {
    let value: Value = serde_json::from_str(text).map_err(|e| format!("Malformed JSON: {e}"))?;
    let obj = value.as_object().ok_or("A frame must be a JSON object")?;
    let room = int_field(obj, "room", "a room id")?;
    let id = |frame: &str| {
        int_field(obj, "id", "a message id")?
            .ok_or(format!("{} frame needs the message's \"id\"", article(frame)))
    };
    let kind = match obj.get("type") {
        None => "message",
        Some(Value::String(t)) => t.as_str(),
        Some(_) => return Err("\"type\" must be a string".into()),
    };
    match kind {
        "message" => Ok(ClientFrame::Message {
            room,
            text: string_field(obj, "text", "message")?,
            reply_to: int_field(obj, "reply_to", "a message id")?,
        }),
        "watch" => Ok(ClientFrame::Watch { room }),
        "edit" => Ok(ClientFrame::Edit { id: id("edit")?, text: string_field(obj, "text", "edit")? }),
        "delete" => Ok(ClientFrame::Delete { id: id("delete")? }),
        "react" => Ok(ClientFrame::React { id: id("react")?, emoji: string_field(obj, "emoji", "react")? }),
        "typing" => Ok(ClientFrame::Typing { room: room.ok_or("A typing frame needs its \"room\"")? }),
        t => {
            let shown: String = t.chars().take(40).collect();
            Err(format!("Unknown frame type {shown:?}"))
        }
    }
}

fn encode(v: Value) -> Utf8Bytes {
    Utf8Bytes::from(v.to_string())
}

/// Which protocol a socket speaks: ours on `/ws`, or the original's on `/chat/ws`.
///
/// The original's chat page renders every frame without `alert` or `blocked` as a chat bubble
/// and appends `Z` to each timestamp, so its dialect has naive timestamps, no presence frames,
/// errors as `System` alerts, and a `blocked` frame without `alert` (or the page would show the
/// reason but never sign out).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Dialect {
    Ours,
    Original,
}

impl Dialect {
    fn timestamp(self, ts: &str) -> String {
        match self {
            Dialect::Ours => ts.to_string(),
            Dialect::Original => crate::timefmt::original(ts),
        }
    }
}

pub fn message(m: &Message, dialect: Dialect) -> Utf8Bytes {
    encode(message_value(m, dialect))
}

/// A message frame from history or a resume, with the message's reactions (when it has any).
pub fn message_with(m: &Message, reactions: &[crate::store::Reaction], dialect: Dialect) -> Utf8Bytes {
    let mut frame = message_value(m, dialect);
    if !reactions.is_empty() && dialect == Dialect::Ours {
        frame["reactions"] = reactions_json(reactions);
    }
    encode(frame)
}

fn message_value(m: &Message, dialect: Dialect) -> Value {
    let mut frame = json!({
        "type": "message",
        "id": m.id,
        "room": m.room_id,
        "user": m.username,
        "text": m.content,
        "timestamp": dialect.timestamp(&m.timestamp),
        "mentions": m.mentions,
    });
    // Only when set, so a plain message reads as it always did.
    if let Some(reply_to) = m.reply_to {
        frame["reply_to"] = json!(reply_to);
    }
    if let Some(edited_at) = &m.edited_at {
        frame["edited_at"] = json!(dialect.timestamp(edited_at));
    }
    frame
}

/// The reactions of a message in the shape REST gives them (`rooms::ReactionCount`): each emoji
/// with its count and who. Encoded once per event, so the copy is one per change, not per socket.
pub fn reactions_json(reactions: &[crate::store::Reaction]) -> serde_json::Value {
    json!(ReactionCount::list(reactions.to_vec()))
}

/// The frames of a hub event: one per message of a run, or one other change. The original's
/// dialect knows one room and no presence: it gets messages only.
pub fn event(kind: &EventKind, dialect: Dialect) -> Vec<Utf8Bytes> {
    match (kind, dialect) {
        (EventKind::Messages { messages, .. }, _) => messages.iter().map(|m| message(m, dialect)).collect(),
        (_, Dialect::Original) => Vec::new(),
        (EventKind::Join(user), Dialect::Ours) => vec![encode(json!({ "type": "join", "user": user }))],
        (EventKind::Leave(user), Dialect::Ours) => vec![encode(json!({ "type": "leave", "user": user }))],
        (EventKind::RoomAdded(view), Dialect::Ours) => {
            vec![encode(json!({ "type": "room", "room": RoomSummary::from((**view).clone()) }))]
        }
        (EventKind::RoomChanged(room), Dialect::Ours) => {
            vec![encode(json!({ "type": "room", "room": RoomInfo::from(room.clone()) }))]
        }
        (EventKind::RoomRemoved(room), Dialect::Ours) => {
            vec![encode(json!({ "type": "room_removed", "room": room }))]
        }
        (EventKind::Read { room, message_id }, Dialect::Ours) => {
            vec![encode(json!({ "type": "read", "room": room, "message_id": message_id }))]
        }
        (EventKind::Edited { message: m, seq }, Dialect::Ours) => vec![encode(json!({
            "type": "edited", "id": m.id, "room": m.room_id, "text": m.content,
            "mentions": m.mentions, "edited_at": m.edited_at, "seq": seq,
        }))],
        (EventKind::Deleted { room, id, seq }, Dialect::Ours) => {
            vec![encode(json!({ "type": "deleted", "id": id, "room": room, "seq": seq }))]
        }
        (EventKind::Typing { room, user }, Dialect::Ours) => {
            vec![encode(json!({ "type": "typing", "room": room, "user": user }))]
        }
        (EventKind::Reactions { room, id, reactions, seq }, Dialect::Ours) => vec![encode(json!({
            "type": "reactions", "id": id, "room": room, "reactions": reactions_json(reactions), "seq": seq,
        }))],
        (EventKind::Report { id, status }, Dialect::Ours) => {
            vec![encode(json!({ "type": "report", "id": id, "status": status }))]
        }
        (EventKind::Role { room, user, role }, Dialect::Ours) => {
            vec![encode(json!({ "type": "role", "room": room, "user": user, "role": role.as_str() }))]
        }
        (EventKind::Muted { room, until }, Dialect::Ours) => vec![encode(json!({
            "type": "muted", "room": room, "until": until,
            "text": crate::chat::roommod::mute_text(until.as_deref()),
        }))],
    }
}

/// The user's conversations, sent after the history on connect.
pub fn rooms(views: Vec<crate::store::RoomView>) -> Utf8Bytes {
    let rooms: Vec<RoomSummary> = views.into_iter().map(RoomSummary::from).collect();
    encode(json!({ "type": "rooms", "rooms": rooms }))
}

/// `online` may be the first part of the list only; `count` is always the whole room.
pub fn presence(online: &[String], count: usize) -> Utf8Bytes {
    encode(json!({ "type": "presence", "online": online, "count": count }))
}

pub fn error(detail: &str, dialect: Dialect) -> Utf8Bytes {
    match dialect {
        Dialect::Ours => encode(json!({ "type": "error", "detail": detail })),
        Dialect::Original => encode(json!({
            "type": "error",
            "detail": detail,
            "user": "System",
            "alert": true,
            "text": detail,
            "timestamp": dialect.timestamp(&crate::timefmt::now()),
        })),
    }
}

/// An error frame that says how many seconds to wait (slow mode): `retry_after`.
pub fn error_retry(detail: &str, retry_after: u64, dialect: Dialect) -> Utf8Bytes {
    match dialect {
        Dialect::Ours => encode(json!({ "type": "error", "detail": detail, "retry_after": retry_after })),
        Dialect::Original => error(detail, dialect),
    }
}

/// What a moderation refusal tells the user: `refused` says what did not happen ("your message
/// was not sent"). The REST answer to a refused edit says it in the same words.
pub fn warning_text(warnings: i64, limit: i64, term: &str, refused: &str) -> String {
    let left = (limit - 1).max(1);
    let banned = banned(term);
    format!(
        "Warning {warnings} of {left}: {refused} because it contains {banned}, which is not allowed here. \
         After {left} warnings the next violation blocks your account."
    )
}

/// What a violation's text held, for the user: the listed term in quotes, or what the classifier
/// judged it to be (its violations carry `classifier::TERM`, which no text contains).
pub fn banned(term: &str) -> String {
    if term == crate::chat::classifier::TERM {
        "offensive language".to_string()
    } else {
        format!("\"{term}\"")
    }
}

/// The words of a warning on a ladder other than warnings-then-block: what the next strike does.
pub fn ladder_warning_text(strikes: i64, next: Step, term: &str, refused: &str) -> String {
    let then = match next {
        Step::Warn => "another warning".to_string(),
        Step::Mute(d) => format!("a mute of {}", format_duration(d)),
        Step::Block => "a block of your account".to_string(),
    };
    format!(
        "Warning ({strikes} strike{s}): {refused} because it contains {banned}, which is not allowed here. \
         The next violation brings {then}.",
        banned = banned(term),
        s = if strikes == 1 { "" } else { "s" }
    )
}

/// `next`: the ladder's next step; the classic text (with `limit`) when the ladder is warnings
/// then a block.
pub fn warning(warnings: i64, limit: i64, term: &str, next: (Step, bool), dialect: Dialect) -> Utf8Bytes {
    let (step, classic) = next;
    let refused = "your message was not sent";
    let text = match classic {
        true => warning_text(warnings, limit, term, refused),
        false => ladder_warning_text(warnings, step, term, refused),
    };
    encode(json!({
        "type": "warning",
        "warnings": warnings,
        "limit": limit,
        "next": step.to_string(),
        "user": "System",
        "alert": true,
        "text": text,
        "timestamp": dialect.timestamp(&crate::timefmt::now()),
    }))
}

/// The account is muted until `until` (RFC 3339), or no longer muted (None: an `unmuted` frame).
pub fn muted(until: Option<&str>, text: &str, dialect: Dialect) -> Utf8Bytes {
    let mut frame = json!({
        "type": if until.is_some() { "muted" } else { "unmuted" },
        "user": "System",
        "alert": true,
        "text": text,
        "timestamp": dialect.timestamp(&crate::timefmt::now()),
    });
    if let Some(until) = until {
        frame["until"] = until.into();
    }
    encode(frame)
}

/// The token the socket was opened with expired; the socket closes with 1008 after it.
pub fn expired(text: &str, dialect: Dialect) -> Utf8Bytes {
    encode(json!({
        "type": "expired",
        "user": "System",
        "alert": true,
        "text": text,
        "timestamp": dialect.timestamp(&crate::timefmt::now()),
    }))
}

pub fn blocked(reason: &str, dialect: Dialect) -> Utf8Bytes {
    let mut frame = json!({
        "type": "blocked",
        "blocked": true,
        "user": "System",
        "alert": true,
        "text": reason,
        "timestamp": dialect.timestamp(&crate::timefmt::now()),
    });
    if dialect == Dialect::Original {
        frame.as_object_mut().map(|f| f.remove("alert"));
    }
    encode(frame)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_new_and_original_frames() {
        let want = Ok(ClientFrame::Message { room: None, text: "hi".into(), reply_to: None });
        assert_eq!(parse_client(r#"{"type":"message","text":"hi"}"#), want);
        assert_eq!(parse_client(r#"{"text":"hi"}"#), want);
        assert_eq!(
            parse_client(r#"{"type":"message","room":7,"text":"hi"}"#),
            Ok(ClientFrame::Message { room: Some(7), text: "hi".into(), reply_to: None })
        );
        assert_eq!(
            parse_client(r#"{"type":"message","room":7,"text":"hi","reply_to":3}"#),
            Ok(ClientFrame::Message { room: Some(7), text: "hi".into(), reply_to: Some(3) })
        );
        assert_eq!(
            parse_client(r#"{"type":"edit","id":3,"text":"x"}"#),
            Ok(ClientFrame::Edit { id: 3, text: "x".into() })
        );
        assert_eq!(parse_client(r#"{"type":"delete","id":3}"#), Ok(ClientFrame::Delete { id: 3 }));
        assert_eq!(
            parse_client(r#"{"type":"react","id":3,"emoji":"👍"}"#),
            Ok(ClientFrame::React { id: 3, emoji: "👍".into() })
        );
        assert_eq!(parse_client(r#"{"type":"typing","room":2}"#), Ok(ClientFrame::Typing { room: 2 }));
        assert!(parse_client(r#"{"type":"typing"}"#).unwrap_err().contains("room"));
        assert!(parse_client(r#"{"type":"edit","text":"x"}"#).unwrap_err().contains("An edit frame needs"));
        assert!(parse_client(r#"{"type":"react","id":"3","emoji":"x"}"#).unwrap_err().contains("id"));
        assert!(parse_client(r#"{"type":"message","room":"7","text":"hi"}"#).unwrap_err().contains("room"));
        assert_eq!(parse_client(r#"{"type":"watch","room":3}"#), Ok(ClientFrame::Watch { room: Some(3) }));
    }

    #[test]
    fn original_dialect_has_naive_timestamps_and_no_presence_or_blocked_alert() {
        let frame = |b: Utf8Bytes| serde_json::from_str::<Value>(b.as_str()).unwrap();
        let gone = frame(blocked("bye", Dialect::Original));
        assert_eq!((gone["blocked"].as_bool(), gone.get("alert")), (Some(true), None));
        let ts = gone["timestamp"].as_str().unwrap();
        assert!(!ts.ends_with('Z') && ts.as_bytes()[10] == b'T', "{ts}");
        assert_eq!(frame(blocked("bye", Dialect::Ours))["alert"], true);
        let alert = frame(error("slow down", Dialect::Original));
        assert_eq!((alert["alert"].as_bool(), alert["text"].as_str()), (Some(true), Some("slow down")));
        assert!(event(&EventKind::Join("bob".into()), Dialect::Original).is_empty());
        assert_eq!(event(&EventKind::Join("bob".into()), Dialect::Ours).len(), 1);
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
