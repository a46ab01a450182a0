//! The WebSocket clients: opening (bounded concurrency, retries), the per-socket reader (light
//! scanning, no JSON parsing), the paced senders, and the shared counters they update.
//!
//! Every chat message the bench sends carries `lb tm <ns since bench start> ph <phase> sd
//! <sender> sq <seq>` in its text. Receivers take the latency from `t` (same process, same `Instant`
//! base), count deliveries per send phase `p`, and a sender recognises its own echo by `s`.
//!
//! Clients are split into conversation groups (`Shared::grouped`: one group per seeded room whose
//! members are disjoint; everyone in group 0 otherwise). A receiver must get every accepted
//! message of its own group exactly once, and nothing of another group.

use std::{
    collections::BTreeMap,
    net::SocketAddr,
    sync::{
        atomic::{AtomicBool, AtomicI64, AtomicU64, Ordering::Relaxed},
        Arc, Mutex,
    },
    time::{Duration, Instant},
};

use futures_util::{
    stream::{SplitSink, SplitStream},
    SinkExt, StreamExt,
};
use tokio::{net::TcpStream, sync::watch, task::JoinHandle};
use tokio_tungstenite::{
    tungstenite::{protocol::WebSocketConfig, Message},
    WebSocketStream,
};

use crate::hist::{Histo, Snap};

pub type Ws = WebSocketStream<TcpStream>;
pub type Sink = SplitSink<Ws, Message>;

pub const MAX_PHASES: usize = 48;

/// Counters shared by every client task of one scenario.
pub struct Shared {
    pub base: Instant,
    hist: Vec<Histo>,
    delivered: Vec<AtomicU64>,
    accepted: Vec<AtomicU64>,
    /// Accepted messages by phase and group: `[phase * groups + group]`.
    accepted_in: Vec<AtomicU64>,
    /// Client index -> its group (empty: every client is in group 0).
    group_of: Vec<u32>,
    groups: usize,
    /// Client index -> the instance it is connected to (the cluster scenario; else empty).
    instance_of: Vec<u8>,
    /// Per phase, the latency of deliveries to a receiver on another instance than the sender.
    cross: Vec<Histo>,
    sent: Vec<AtomicU64>,
    last_rx_ns: Vec<AtomicU64>,
    /// Every frame received, of any type (for "has the traffic settled").
    pub frames: AtomicU64,
    pub joins: AtomicU64,
    pub leaves: AtomicU64,
    pub presences: AtomicU64,
    /// `edited`, `deleted` and `reactions` frames (they carry a `seq`), live or replayed.
    pub living_frames: AtomicU64,
    pub dups: AtomicU64,
    pub error_frames: AtomicU64,
    pub warnings: AtomicU64,
    pub foreign: AtomicU64,
    /// Marked messages a receiver got from a sender of another group (another room).
    pub misrouted: AtomicU64,
    /// `rooms`, `room`, `room_removed` and `read` frames.
    pub room_frames: AtomicU64,
    pub send_errors: AtomicU64,
    /// "1008 too slow" -> how many receivers were closed that way.
    pub closes: Mutex<BTreeMap<String, u64>>,
    pub first_error: Mutex<Option<String>>,
}

impl Shared {
    /// Every client in one group: each receives every message.
    pub fn new(base: Instant) -> Arc<Shared> {
        Shared::grouped(base, Vec::new())
    }

    /// Client `i` is in group `group_of[i]` (0 past its end) and receives that group's messages.
    pub fn grouped(base: Instant, group_of: Vec<u32>) -> Arc<Shared> {
        let v = |n: usize| (0..n).map(|_| AtomicU64::new(0)).collect::<Vec<_>>();
        let groups = group_of.iter().max().map(|&g| g as usize + 1).unwrap_or(1);
        Arc::new(Shared {
            base,
            hist: (0..MAX_PHASES).map(|_| Histo::default()).collect(),
            delivered: v(MAX_PHASES),
            accepted: v(MAX_PHASES),
            accepted_in: v(MAX_PHASES * groups),
            group_of,
            groups,
            instance_of: Vec::new(),
            cross: Vec::new(),
            sent: v(MAX_PHASES),
            last_rx_ns: v(MAX_PHASES),
            frames: AtomicU64::new(0),
            joins: AtomicU64::new(0),
            leaves: AtomicU64::new(0),
            presences: AtomicU64::new(0),
            living_frames: AtomicU64::new(0),
            dups: AtomicU64::new(0),
            error_frames: AtomicU64::new(0),
            warnings: AtomicU64::new(0),
            foreign: AtomicU64::new(0),
            misrouted: AtomicU64::new(0),
            room_frames: AtomicU64::new(0),
            send_errors: AtomicU64::new(0),
            closes: Mutex::new(BTreeMap::new()),
            first_error: Mutex::new(None),
        })
    }

    /// Everyone in one group, client `i` connected to instance `instance_of[i]`: deliveries
    /// between instances get histograms of their own (`cross_phase`).
    pub fn clustered(base: Instant, instance_of: Vec<u8>) -> Arc<Shared> {
        let mut shared = Shared::grouped(base, Vec::new());
        let s = Arc::get_mut(&mut shared).expect("not shared yet");
        s.instance_of = instance_of;
        s.cross = (0..MAX_PHASES).map(|_| Histo::default()).collect();
        shared
    }

    /// Latency of one phase's deliveries from a sender on one instance to receivers on others.
    pub fn cross_phase(&self, p: usize) -> Snap {
        self.cross.get(p).map(Histo::snapshot).unwrap_or_default()
    }

    pub fn now_ns(&self) -> u64 {
        self.base.elapsed().as_nanos() as u64
    }

    pub fn phase(&self, p: usize) -> PhaseStats {
        PhaseStats {
            sent: self.sent[p].load(Relaxed),
            accepted: self.accepted[p].load(Relaxed),
            delivered: self.delivered[p].load(Relaxed),
            last_rx_ns: self.last_rx_ns[p].load(Relaxed),
            hist: self.hist[p].snapshot(),
        }
    }

    /// (sent, accepted, delivered) of one phase, without copying its histogram.
    pub fn counts(&self, p: usize) -> (u64, u64, u64) {
        (self.sent[p].load(Relaxed), self.accepted[p].load(Relaxed), self.delivered[p].load(Relaxed))
    }

    pub fn accepted_total(&self) -> u64 {
        self.accepted.iter().map(|a| a.load(Relaxed)).sum()
    }

    pub fn group(&self, idx: usize) -> usize {
        self.group_of.get(idx).map(|&g| g as usize).unwrap_or(0)
    }

    /// Accepted messages per group, of one phase or (None) of all phases.
    fn accepted_by_group(&self, phase: Option<usize>) -> Vec<u64> {
        let mut by = vec![0u64; self.groups];
        let phases = match phase {
            Some(p) => p..p + 1,
            None => 0..MAX_PHASES,
        };
        for p in phases {
            for (g, n) in by.iter_mut().enumerate() {
                *n += self.accepted_in[p * self.groups + g].load(Relaxed);
            }
        }
        by
    }

    /// Frames the open receivers must have of one phase (None: of all phases): each its group's
    /// accepted messages.
    pub fn expected(&self, conns: &[Conn], phase: Option<usize>) -> u64 {
        let by = self.accepted_by_group(phase);
        conns.iter().filter(|c| c.state.open.load(Relaxed)).map(|c| by[c.state.group]).sum()
    }

    pub fn sent_total(&self) -> u64 {
        self.sent.iter().map(|a| a.load(Relaxed)).sum()
    }

    fn note_error(&self, text: &str) {
        let mut e = self.first_error.lock().unwrap();
        if e.is_none() {
            *e = Some(text.chars().take(300).collect());
        }
    }

    pub fn closes_text(&self) -> String {
        let c = self.closes.lock().unwrap();
        if c.is_empty() {
            return "none".into();
        }
        c.iter().map(|(k, v)| format!("{v} x {k}")).collect::<Vec<_>>().join(", ")
    }

    pub fn closes_total(&self) -> u64 {
        self.closes.lock().unwrap().values().sum()
    }
}

pub struct PhaseStats {
    pub sent: u64,
    pub accepted: u64,
    pub delivered: u64,
    pub last_rx_ns: u64,
    pub hist: Snap,
}

/// What one connection's reader has seen.
pub struct ConnState {
    pub idx: usize,
    /// Its conversation group (`Shared::group`).
    pub group: usize,
    /// Our marked message frames received after `presence`.
    pub live: AtomicU64,
    /// Message frames received before `presence` (history / resume replay).
    pub history: AtomicU64,
    /// Edits, deletions and reaction changes replayed before `presence`.
    pub history_changes: AtomicU64,
    pub history_last_ns: AtomicU64,
    pub presence_ns: AtomicU64,
    pub last_id: AtomicI64,
    pub open: AtomicBool,
    pub close: Mutex<Option<String>>,
}

pub struct Conn {
    pub state: Arc<ConnState>,
    pub sink: Option<Sink>,
    pub reader: JoinHandle<()>,
}

impl Drop for Conn {
    fn drop(&mut self) {
        self.reader.abort();
    }
}

/// TCP connect + WebSocket handshake, each with a deadline. `rcvbuf` shrinks the socket's
/// receive buffer (the slow reader: otherwise Linux autotunes it to tens of MiB on loopback).
pub async fn connect(addr: SocketAddr, url: &str, rcvbuf: Option<u32>) -> Result<Ws, String> {
    let sock = tokio::net::TcpSocket::new_v4().map_err(|e| format!("socket: {e}"))?;
    if let Some(n) = rcvbuf {
        sock.set_recv_buffer_size(n).map_err(|e| format!("SO_RCVBUF: {e}"))?;
    }
    let stream = match tokio::time::timeout(Duration::from_secs(10), sock.connect(addr)).await {
        Ok(Ok(s)) => s,
        Ok(Err(e)) => return Err(format!("connect: {e}")),
        Err(_) => return Err("connect: timed out after 10 s".into()),
    };
    let _ = stream.set_nodelay(true);
    let config = WebSocketConfig::default().read_buffer_size(16 * 1024);
    match tokio::time::timeout(
        Duration::from_secs(15),
        tokio_tungstenite::client_async_with_config(url, stream, Some(config)),
    )
    .await
    {
        Ok(Ok((ws, _resp))) => Ok(ws),
        Ok(Err(e)) => Err(format!("handshake: {e}")),
        Err(_) => Err("handshake: timed out after 15 s".into()),
    }
}

/// Opens one client: connects, starts its reader, and waits for the `presence` frame (the end
/// of history). `since` is also the id the order check starts from.
pub async fn open(
    shared: &Arc<Shared>,
    addr: SocketAddr,
    idx: usize,
    url: &str,
    since: Option<i64>,
    presence_timeout: Duration,
) -> Result<Conn, (bool, String)> {
    let ws = connect(addr, url, None).await.map_err(|e| (true, e))?;
    let (sink, stream) = ws.split();
    let state = Arc::new(ConnState {
        idx,
        group: shared.group(idx),
        live: AtomicU64::new(0),
        history: AtomicU64::new(0),
        history_changes: AtomicU64::new(0),
        history_last_ns: AtomicU64::new(0),
        presence_ns: AtomicU64::new(0),
        last_id: AtomicI64::new(since.unwrap_or(0)),
        open: AtomicBool::new(true),
        close: Mutex::new(None),
    });
    let (tx, rx) = tokio::sync::oneshot::channel();
    let reader = tokio::spawn(reader(stream, Arc::clone(&state), Arc::clone(shared), tx));
    let conn = Conn { state, sink: Some(sink), reader };
    match tokio::time::timeout(presence_timeout, rx).await {
        Ok(Ok(())) => Ok(conn),
        Ok(Err(_)) => {
            let why = conn.state.close.lock().unwrap().clone().unwrap_or_default();
            Err((true, format!("closed before presence: {why}")))
        }
        Err(_) => Err((false, format!("no presence frame within {} s", presence_timeout.as_secs()))),
    }
}

#[derive(Default)]
pub struct OpenReport {
    pub wanted: usize,
    pub opened: usize,
    pub failed: usize,
    pub retries: u64,
    pub secs: f64,
    pub errors: BTreeMap<String, u64>,
    /// Time from TCP connect to the `presence` frame, per successful open.
    pub latency: Snap,
}

impl OpenReport {
    pub fn errors_text(&self) -> String {
        if self.errors.is_empty() {
            return "none".into();
        }
        self.errors.iter().map(|(k, v)| format!("{v} x {k}")).collect::<Vec<_>>().join("; ")
    }
}

/// Opens clients `urls` (index, url) with at most `concurrency` handshakes in flight; each is
/// retried up to 5 times on connect/handshake errors. Returns the open ones sorted by index.
pub async fn open_many(
    shared: &Arc<Shared>,
    addr: SocketAddr,
    urls: Vec<(usize, String)>,
    concurrency: usize,
) -> (Vec<Conn>, OpenReport) {
    let t0 = Instant::now();
    let wanted = urls.len();
    let errors: Arc<Mutex<BTreeMap<String, u64>>> = Default::default();
    let retries = Arc::new(AtomicU64::new(0));
    let presence_timeout = Duration::from_secs(60);
    let latency = Arc::new(Histo::default());
    let results: Vec<Option<Conn>> = futures_util::stream::iter(urls)
        .map(|(idx, url)| {
            let shared = Arc::clone(shared);
            let errors = Arc::clone(&errors);
            let retries = Arc::clone(&retries);
            let latency = Arc::clone(&latency);
            async move {
                let mut attempt = 0u64;
                loop {
                    attempt += 1;
                    let t0 = Instant::now();
                    match open(&shared, addr, idx, &url, None, presence_timeout).await {
                        Ok(c) => {
                            latency.record(t0.elapsed().as_nanos() as u64);
                            return Some(c);
                        }
                        Err((retry, e)) => {
                            let key: String = e.chars().take(120).collect();
                            *errors.lock().unwrap().entry(key).or_default() += 1;
                            if !retry || attempt >= 5 {
                                return None;
                            }
                            retries.fetch_add(1, Relaxed);
                            tokio::time::sleep(Duration::from_millis(100 * attempt)).await;
                        }
                    }
                }
            }
        })
        .buffer_unordered(concurrency.max(1))
        .collect()
        .await;
    let mut conns: Vec<Conn> = results.into_iter().flatten().collect();
    conns.sort_by_key(|c| c.state.idx);
    let report = OpenReport {
        wanted,
        opened: conns.len(),
        failed: wanted - conns.len(),
        retries: retries.load(Relaxed),
        secs: t0.elapsed().as_secs_f64(),
        errors: std::mem::take(&mut *errors.lock().unwrap()),
        latency: latency.snapshot(),
    };
    (conns, report)
}

fn find(h: &[u8], needle: &[u8], from: usize) -> Option<usize> {
    let first = needle[0];
    let mut i = from;
    while i + needle.len() <= h.len() {
        let j = i + h[i..h.len() - needle.len() + 1].iter().position(|&b| b == first)?;
        if &h[j..j + needle.len()] == needle {
            return Some(j);
        }
        i = j + 1;
    }
    None
}

/// Digits at `at`: (value, index after them).
fn digits(h: &[u8], mut at: usize) -> Option<(u64, usize)> {
    let start = at;
    let mut v: u64 = 0;
    while at < h.len() && h[at].is_ascii_digit() {
        v = v.wrapping_mul(10).wrapping_add((h[at] - b'0') as u64);
        at += 1;
    }
    (at > start).then_some((v, at))
}

/// `lb tm <t> ph <p> sd <s>` inside a frame, starting the search at `from`.
fn marker(h: &[u8], from: usize) -> Option<(u64, usize, usize)> {
    let i = find(h, b"\"text\":\"lb tm ", from)?;
    let (t, j) = digits(h, i + 14)?;
    if h.get(j..j + 4)? != b" ph " {
        return None;
    }
    let (p, j) = digits(h, j + 4)?;
    if h.get(j..j + 4)? != b" sd " {
        return None;
    }
    let (s, _) = digits(h, j + 4)?;
    Some((t, p as usize, s as usize))
}

async fn reader(
    mut stream: SplitStream<Ws>,
    st: Arc<ConnState>,
    shared: Arc<Shared>,
    ready: tokio::sync::oneshot::Sender<()>,
) {
    let mut ready = Some(ready);
    let mut last_id = st.last_id.load(Relaxed);
    let mut live = false;
    let end: String = loop {
        let msg = match stream.next().await {
            None => break "connection ended without a close frame".into(),
            Some(Err(e)) => break format!("read error: {e}"),
            Some(Ok(m)) => m,
        };
        let text = match msg {
            Message::Text(t) => t,
            Message::Close(Some(cf)) => {
                break format!("closed {} {:?}", u16::from(cf.code), cf.reason.as_str())
            }
            Message::Close(None) => break "closed without a code".into(),
            _ => continue,
        };
        let now = shared.now_ns();
        shared.frames.fetch_add(1, Relaxed);
        let b = text.as_bytes();
        // Room summaries and reactions frames carry an "id" too, so the type decides.
        let message = find(b, b"\"type\":\"message\"", 0).is_some();
        if let Some(i) = find(b, b"\"id\":", 0).filter(|_| message) {
            let id = digits(b, i + 5).map(|d| d.0 as i64).unwrap_or(0);
            if id <= last_id {
                shared.dups.fetch_add(1, Relaxed);
            } else {
                last_id = id;
            }
            st.last_id.store(last_id, Relaxed);
            if !live {
                st.history.fetch_add(1, Relaxed);
                st.history_last_ns.store(now, Relaxed);
            } else if let Some((t, p, s)) = marker(b, i) {
                if p < MAX_PHASES {
                    shared.delivered[p].fetch_add(1, Relaxed);
                    shared.hist[p].record(now.saturating_sub(t));
                    if let (Some(from), Some(to)) =
                        (shared.instance_of.get(s), shared.instance_of.get(st.idx))
                    {
                        if from != to {
                            shared.cross[p].record(now.saturating_sub(t));
                        }
                    }
                    shared.last_rx_ns[p].fetch_max(now, Relaxed);
                    if s == st.idx {
                        shared.accepted[p].fetch_add(1, Relaxed);
                        shared.accepted_in[p * shared.groups + st.group].fetch_add(1, Relaxed);
                    }
                }
                if shared.group(s) != st.group {
                    shared.misrouted.fetch_add(1, Relaxed);
                }
                st.live.fetch_add(1, Relaxed);
            } else {
                shared.foreign.fetch_add(1, Relaxed);
            }
        } else if find(b, b"\"seq\":", 0).is_some() {
            shared.living_frames.fetch_add(1, Relaxed);
            if !live {
                st.history_changes.fetch_add(1, Relaxed);
                st.history_last_ns.store(now, Relaxed);
            }
        } else if find(b, b"\"type\":\"presence\"", 0).is_some() {
            shared.presences.fetch_add(1, Relaxed);
            if !live {
                live = true;
                st.presence_ns.store(now, Relaxed);
                if let Some(r) = ready.take() {
                    let _ = r.send(());
                }
            }
        } else if find(b, b"\"type\":\"join\"", 0).is_some() {
            shared.joins.fetch_add(1, Relaxed);
        } else if find(b, b"\"type\":\"leave\"", 0).is_some() {
            shared.leaves.fetch_add(1, Relaxed);
        } else if find(b, b"\"type\":\"r", 0).is_some() {
            // rooms / room / room_removed / read: conversation bookkeeping, not chat.
            shared.room_frames.fetch_add(1, Relaxed);
        } else if find(b, b"\"type\":\"error\"", 0).is_some() {
            shared.error_frames.fetch_add(1, Relaxed);
            shared.note_error(&text);
        } else {
            // warning / blocked: moderation hit a bench text (must not happen).
            shared.warnings.fetch_add(1, Relaxed);
            shared.note_error(&text);
        }
    };
    st.open.store(false, Relaxed);
    *shared.closes.lock().unwrap().entry(end.clone()).or_default() += 1;
    *st.close.lock().unwrap() = Some(end);
}

/// What the senders do now: send at `rate` msg/s each, tagging messages with `phase`, at most
/// `limit` messages (0 = no limit); rate 0 pauses; `stop` ends the sender.
#[derive(Clone, Debug, Default)]
pub struct Plan {
    pub phase: usize,
    pub rate: f64,
    pub limit: u64,
    pub stop: bool,
}

const PAD: &str = "lorem ipsum dolor sit amet consectetur adipiscing elit sed do eiusmod tempor incididunt ut labore et dolore magna aliqua ";

/// The text of a message: the marker, padded with harmless words up to `size` bytes.
///
/// The marker is made so the server's moderation can never read a word into it: only words of
/// two or more letters and numbers of two or more digits, separated by spaces (no glue such as
/// `=`, which the matcher joins, and no one-letter words, whose runs it reads as spelled out).
pub fn message_text(t: u64, phase: usize, sender: usize, n: u64, size: usize) -> String {
    let mut s = format!("lb tm {t:02} ph {phase:02} sd {sender:02} sq {n:02} ");
    while s.len() < size {
        let room = size - s.len();
        s.push_str(&PAD[..room.min(PAD.len())]);
    }
    let trimmed = s.trim_end().len();
    s.truncate(trimmed);
    s
}

/// A paced sender on `sink`. `offset` (0..1) staggers the senders' phases within a period.
/// Messages go to `rooms` in turn; with none, to `general` the way older clients post (no `room`).
pub fn spawn_sender(
    mut sink: Sink,
    idx: usize,
    shared: Arc<Shared>,
    mut plan_rx: watch::Receiver<Plan>,
    size: usize,
    offset: f64,
    rooms: Vec<i64>,
) -> JoinHandle<Sink> {
    tokio::spawn(async move {
        let io = Duration::from_secs(10);
        'plans: loop {
            let plan = plan_rx.borrow_and_update().clone();
            if plan.stop {
                break;
            }
            if plan.rate <= 0.0 {
                if plan_rx.changed().await.is_err() {
                    break;
                }
                continue;
            }
            let period_ns = (1e9 / plan.rate) as u64;
            let start = Instant::now() + Duration::from_nanos((period_ns as f64 * offset) as u64);
            let due = |n: u64| start + Duration::from_nanos(period_ns.saturating_mul(n));
            let mut n: u64 = 0;
            loop {
                if plan.limit > 0 && n >= plan.limit {
                    if plan_rx.changed().await.is_err() {
                        break 'plans;
                    }
                    continue 'plans;
                }
                tokio::select! {
                    biased;
                    r = plan_rx.changed() => {
                        if r.is_err() { break 'plans; }
                        continue 'plans;
                    }
                    _ = tokio::time::sleep_until(due(n).into()) => {}
                }
                let now = Instant::now();
                let mut batch = 0;
                while due(n) <= now && batch < 1000 && (plan.limit == 0 || n < plan.limit) {
                    let text = message_text(shared.now_ns(), plan.phase, idx, n, size);
                    let frame = match rooms.len() {
                        0 => serde_json::json!({"type": "message", "text": text}),
                        k => serde_json::json!({"type": "message", "room": rooms[(n % k as u64) as usize], "text": text}),
                    }
                    .to_string();
                    match tokio::time::timeout(io, sink.feed(Message::text(frame))).await {
                        Ok(Ok(())) => {}
                        Ok(Err(e)) => {
                            shared.send_errors.fetch_add(1, Relaxed);
                            shared.note_error(&format!("sender {idx}: {e}"));
                            break 'plans;
                        }
                        Err(_) => {
                            shared.send_errors.fetch_add(1, Relaxed);
                            shared.note_error(&format!("sender {idx}: write blocked for 10 s"));
                            break 'plans;
                        }
                    }
                    shared.sent[plan.phase.min(MAX_PHASES - 1)].fetch_add(1, Relaxed);
                    n += 1;
                    batch += 1;
                }
                match tokio::time::timeout(io, sink.flush()).await {
                    Ok(Ok(())) => {}
                    _ => {
                        shared.send_errors.fetch_add(1, Relaxed);
                        shared.note_error(&format!("sender {idx}: flush failed or blocked"));
                        break 'plans;
                    }
                }
            }
        }
        sink
    })
}

/// Polls `cond` every `every` until it holds or `limit` passes; returns whether it held.
pub async fn wait_for(limit: Duration, every: Duration, mut cond: impl FnMut() -> bool) -> bool {
    let deadline = Instant::now() + limit;
    loop {
        if cond() {
            return true;
        }
        if Instant::now() >= deadline {
            return false;
        }
        tokio::time::sleep(every).await;
    }
}

/// Waits until no frame has arrived for `quiet` (the join/presence flood after opening is
/// over), at most `limit`. Returns the seconds waited and whether it settled.
pub async fn quiesce(shared: &Shared, quiet: Duration, limit: Duration) -> (f64, bool) {
    let t0 = Instant::now();
    let mut last = shared.frames.load(Relaxed);
    let mut since = Instant::now();
    loop {
        tokio::time::sleep(Duration::from_millis(50)).await;
        let now = shared.frames.load(Relaxed);
        if now != last {
            last = now;
            since = Instant::now();
        } else if since.elapsed() >= quiet {
            return (t0.elapsed().as_secs_f64(), true);
        }
        if t0.elapsed() >= limit {
            return (t0.elapsed().as_secs_f64(), false);
        }
    }
}

/// Loss and duplicates over all live frames: every open receiver must have received every
/// accepted message of its group exactly once.
pub struct Loss {
    /// Frames the open receivers had to get in all (each its group's accepted messages).
    pub expected: u64,
    pub receivers_open: usize,
    pub receivers_closed: usize,
    pub lost: u64,
    pub extra: u64,
    pub lost_on_closed: u64,
    pub dups: u64,
}

pub fn loss(conns: &[Conn], shared: &Shared) -> Loss {
    let by = shared.accepted_by_group(None);
    let mut l = Loss {
        expected: 0,
        receivers_open: 0,
        receivers_closed: 0,
        lost: 0,
        extra: 0,
        lost_on_closed: 0,
        dups: shared.dups.load(Relaxed),
    };
    for c in conns {
        let exp = by[c.state.group];
        let got = c.state.live.load(Relaxed);
        if c.state.open.load(Relaxed) {
            l.receivers_open += 1;
            l.expected += exp;
            l.lost += exp.saturating_sub(got);
            l.extra += got.saturating_sub(exp);
        } else {
            l.receivers_closed += 1;
            l.lost_on_closed += exp.saturating_sub(got);
        }
    }
    l
}

/// Waits until every accepted message reached every open receiver of its group (or `limit`
/// passes).
pub async fn drain_all(conns: &[Conn], shared: &Shared, limit: Duration) -> bool {
    wait_for(limit, Duration::from_millis(20), || {
        let by = shared.accepted_by_group(None);
        shared.sent_total() <= shared.accepted_total() + shared.send_errors.load(Relaxed)
            && conns
                .iter()
                .all(|c| !c.state.open.load(Relaxed) || c.state.live.load(Relaxed) >= by[c.state.group])
    })
    .await
}
