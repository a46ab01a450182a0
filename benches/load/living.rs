//! Living-message traffic for the `living` and `resume` scenarios: one client posts some messages
//! of its own, then edits them, reacts to them and deletes some at a set rate over its socket
//! (the same frames the web UI sends), while draining everything the server sends it.

use std::{
    sync::{
        atomic::{AtomicBool, AtomicU64, Ordering::Relaxed},
        Arc,
    },
    time::{Duration, Instant},
};

use futures_util::{SinkExt, StreamExt};
use serde_json::{json, Value};
use tokio_tungstenite::tungstenite::Message;

/// What an editor did and saw.
#[derive(Default)]
pub struct Counts {
    pub sent: AtomicU64,
    pub errors: AtomicU64,
    /// `edited`, `deleted` and `reactions` frames the editor's own socket received.
    pub changes_seen: AtomicU64,
}

pub struct Editor {
    /// The editor's own messages, oldest first (their ids).
    pub ids: Vec<i64>,
    sink: futures_util::stream::SplitSink<
        tokio_tungstenite::WebSocketStream<tokio_tungstenite::MaybeTlsStream<tokio::net::TcpStream>>,
        Message,
    >,
    pub counts: Arc<Counts>,
    stop: Arc<AtomicBool>,
}

/// The mix of changes an editor makes, in tenths: edits, reactions, deletions.
#[derive(Clone, Copy)]
pub struct Mix {
    pub edits: u32,
    pub reactions: u32,
    pub deletions: u32,
}

impl Mix {
    /// Edits and reactions only (the messages stay for the whole run).
    pub const LIVE: Mix = Mix { edits: 5, reactions: 5, deletions: 0 };
    /// What a client away for a while misses: mostly edits and reactions, some deletions.
    pub const MIXED: Mix = Mix { edits: 4, reactions: 4, deletions: 2 };
}

const EMOJI: [&str; 8] = ["👍", "❤️", "😂", "🎉", "👀", "🔥", "🙏", "✅"];

/// Connects with `url`, posts `count` messages to `general` and waits for their echoes.
pub async fn seed(url: &str, count: usize) -> Result<Editor, String> {
    let (ws, _) = tokio_tungstenite::connect_async(url).await.map_err(|e| format!("editor: connect: {e}"))?;
    let (mut sink, mut stream) = ws.split();
    for k in 0..count {
        let frame = json!({ "type": "message", "text": format!("editor seed {k}") });
        sink.send(Message::Text(frame.to_string().into())).await.map_err(|e| format!("editor: send: {e}"))?;
    }
    let mut ids = Vec::with_capacity(count);
    let deadline = Instant::now() + Duration::from_secs(60);
    while ids.len() < count {
        let left = deadline.saturating_duration_since(Instant::now());
        let frame = tokio::time::timeout(left, stream.next())
            .await
            .map_err(|_| format!("editor: only {} of {count} seed messages echoed in 60 s", ids.len()))?;
        let Some(Ok(Message::Text(text))) = frame else {
            if matches!(frame, Some(Ok(_))) {
                continue;
            }
            return Err("editor: the socket closed while seeding".into());
        };
        let v: Value = serde_json::from_str(&text).unwrap_or(Value::Null);
        if v["type"] == "message" && v["text"].as_str().is_some_and(|t| t.starts_with("editor seed ")) {
            ids.push(v["id"].as_i64().unwrap_or(0));
        }
    }
    let counts = Arc::new(Counts::default());
    let stop = Arc::new(AtomicBool::new(false));
    let (c, s) = (Arc::clone(&counts), Arc::clone(&stop));
    // Drains the socket for the rest of the run, so the editor is never a slow reader.
    tokio::spawn(async move {
        while let Some(Ok(m)) = stream.next().await {
            if let Message::Text(t) = m {
                let b = t.as_bytes();
                if find(b, b"\"seq\":") {
                    c.changes_seen.fetch_add(1, Relaxed);
                } else if find(b, b"\"type\":\"error\"") || find(b, b"\"type\":\"warning\"") {
                    c.errors.fetch_add(1, Relaxed);
                }
            }
            if s.load(Relaxed) {
                break;
            }
        }
    });
    Ok(Editor { ids, sink, counts, stop })
}

fn find(hay: &[u8], needle: &[u8]) -> bool {
    hay.windows(needle.len()).any(|w| w == needle)
}

impl Editor {
    /// Sends `total` changes (None: until `stop` is set) at `rate` a second, in `mix`. Deletions
    /// take the newest messages, one each, and nothing else touches a deleted message.
    pub async fn run(
        &mut self,
        rate: f64,
        total: Option<u64>,
        mix: Mix,
        stop: &AtomicBool,
    ) -> Result<u64, String> {
        let n = self.ids.len();
        // The newest deletions-in-ten share of the messages may be deleted; the rest is edited and
        // reacted to.
        let deletable = (n * mix.deletions as usize / 10).min(n.saturating_sub(1));
        let kept = n - deletable;
        let mut deleted = 0usize;
        let start = Instant::now();
        let mut sent: u64 = 0;
        // Ten ticks a second, each sending what the rate owes by then: steady without a timer per
        // frame.
        let mut tick = tokio::time::interval(Duration::from_millis(10));
        loop {
            tick.tick().await;
            let owed = (start.elapsed().as_secs_f64() * rate) as u64;
            while sent < owed {
                if stop.load(Relaxed) || total.is_some_and(|t| sent >= t) {
                    return Ok(sent);
                }
                let slot = (sent % 10) as u32;
                let k = sent as usize;
                let frame = if slot < mix.deletions && deleted < deletable {
                    deleted += 1;
                    json!({ "type": "delete", "id": self.ids[n - deleted] })
                } else if slot < mix.deletions + mix.edits || mix.reactions == 0 {
                    let id = self.ids[k % kept];
                    json!({ "type": "edit", "id": id, "text": format!("editor seed, edit {k}") })
                } else {
                    let id = self.ids[(k * 7) % kept];
                    json!({ "type": "react", "id": id, "emoji": EMOJI[k % EMOJI.len()] })
                };
                self.sink
                    .send(Message::Text(frame.to_string().into()))
                    .await
                    .map_err(|e| format!("editor: send: {e}"))?;
                sent += 1;
                self.counts.sent.fetch_add(1, Relaxed);
            }
        }
    }
}

impl Drop for Editor {
    fn drop(&mut self) {
        self.stop.store(true, Relaxed);
    }
}
