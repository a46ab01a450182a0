//! The broadcast hub: fans events out to every connected socket, tracks who is online, and
//! reaches all sockets of one user (to close them when the account is blocked).
//!
//! Fan-out sits behind the `Fanout` trait: in one process it is a tokio broadcast channel; a
//! multi-instance deployment can put a pub/sub broker behind the same two methods. Each event is
//! encoded to its wire form once (lazily, by the first socket that sends it) and the bytes are
//! shared by every receiver. The channel is bounded: a receiver that falls behind by more than
//! its capacity is told it lagged and is disconnected rather than buffered without limit.
//!
//! Presence is debounced: a user whose last socket closes stays online for a grace period, and
//! their `leave` is announced only if no socket reopened by then (so a reconnecting client, or
//! one cycling connections on purpose, does not send every other client a join/leave pair each
//! time). "Online" everywhere (presence frames, join/leave, `/admin/stats`) is this one
//! definition: the users the room was told are here.

use std::{
    collections::HashMap,
    sync::{
        atomic::{AtomicU64, Ordering},
        Arc, Mutex, OnceLock,
    },
    time::Duration,
};

use hyper_tungstenite::tungstenite::Utf8Bytes;
use tokio::sync::{broadcast, mpsc};

use crate::store::Message;

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum EventKind {
    /// One committed batch of messages, in id order: one event per commit rather than per
    /// message, so each receiver pays one channel operation and one wake-up per batch.
    Messages(Vec<Message>),
    Join(String),
    Leave(String),
}

#[derive(Debug)]
pub struct Event {
    pub kind: EventKind,
    encoded: OnceLock<Vec<Utf8Bytes>>,
    /// The same frames in the second wire dialect (the original's, on its path).
    encoded_alt: OnceLock<Vec<Utf8Bytes>>,
}

impl Event {
    pub fn new(kind: EventKind) -> Self {
        Event { kind, encoded: OnceLock::new(), encoded_alt: OnceLock::new() }
    }

    /// The id of the `i`-th frame, for frames that are stored messages.
    pub fn message_id(&self, i: usize) -> Option<i64> {
        match &self.kind {
            EventKind::Messages(ms) => ms.get(i).map(|m| m.id),
            _ => None,
        }
    }

    /// The wire frames, computed by `encode` the first time and shared by every receiver.
    pub fn frames(&self, encode: impl FnOnce(&EventKind) -> Vec<Utf8Bytes>) -> &[Utf8Bytes] {
        self.encoded.get_or_init(|| encode(&self.kind))
    }

    /// `frames` for the second dialect, also computed once and shared.
    pub fn frames_alt(&self, encode: impl FnOnce(&EventKind) -> Vec<Utf8Bytes>) -> &[Utf8Bytes] {
        self.encoded_alt.get_or_init(|| encode(&self.kind))
    }
}

/// How events reach every subscriber.
pub trait Fanout: Send + Sync + 'static {
    fn publish(&self, event: Arc<Event>);
    fn subscribe(&self) -> broadcast::Receiver<Arc<Event>>;
}

/// In-process fan-out over a bounded tokio broadcast channel.
pub struct LocalFanout {
    tx: broadcast::Sender<Arc<Event>>,
}

impl LocalFanout {
    pub fn new(capacity: usize) -> Self {
        LocalFanout { tx: broadcast::channel(capacity.max(16)).0 }
    }
}

impl Fanout for LocalFanout {
    fn publish(&self, event: Arc<Event>) {
        // No receivers is fine: nobody is online.
        let _ = self.tx.send(event);
    }

    fn subscribe(&self) -> broadcast::Receiver<Arc<Event>> {
        self.tx.subscribe()
    }
}

/// An instruction to one socket from outside its task.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Control {
    /// The account was blocked (by moderation on another socket, an admin or the CLI).
    Blocked,
}

struct Online {
    username: String,
    sockets: Vec<(u64, mpsc::Sender<Control>)>,
    /// When the last socket closed, while the leave is not announced yet.
    empty_since: Option<tokio::time::Instant>,
    /// A task is waiting to announce the leave: at most one per user, however often the user
    /// reconnects, so the number of timers is bounded by the number of accounts.
    timer: bool,
}

pub struct Hub {
    fanout: Box<dyn Fanout>,
    online: Mutex<HashMap<i64, Online>>,
    next_socket: AtomicU64,
    /// How long a user without sockets still counts as online before the leave is announced.
    presence_grace: Duration,
}

/// The account already has its most WebSockets open.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TooManySockets;

/// A socket's registration; dropping it removes the socket from the hub, whichever way the
/// connection ended.
pub struct Presence {
    hub: Arc<Hub>,
    user_id: i64,
    socket: u64,
}

impl Drop for Presence {
    fn drop(&mut self) {
        Hub::leave(&self.hub, self.user_id, self.socket);
    }
}

impl Hub {
    /// `presence_grace` zero announces leaves at once.
    pub fn new(fanout: Box<dyn Fanout>, presence_grace: Duration) -> Self {
        Hub { fanout, online: Mutex::new(HashMap::new()), next_socket: AtomicU64::new(1), presence_grace }
    }

    pub fn subscribe(&self) -> broadcast::Receiver<Arc<Event>> {
        self.fanout.subscribe()
    }

    pub fn publish(&self, kind: EventKind) {
        self.fanout.publish(Arc::new(Event::new(kind)));
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<i64, Online>> {
        self.online.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Registers a socket of `user_id`; announces the user if the room does not count them as
    /// online already. Refused when the account already has `max_sockets` open.
    pub fn join(
        self: &Arc<Self>,
        user_id: i64,
        username: &str,
        max_sockets: usize,
    ) -> Result<(Presence, mpsc::Receiver<Control>), TooManySockets> {
        let (tx, rx) = mpsc::channel(4);
        let socket = self.next_socket.fetch_add(1, Ordering::Relaxed);
        let announce = {
            let mut online = self.lock();
            if online.get(&user_id).map_or(0, |e| e.sockets.len()) >= max_sockets {
                return Err(TooManySockets);
            }
            let announce = !online.contains_key(&user_id);
            let entry = online.entry(user_id).or_insert_with(|| Online {
                username: username.to_string(),
                sockets: Vec::new(),
                empty_since: None,
                timer: false,
            });
            entry.sockets.push((socket, tx));
            entry.empty_since = None;
            announce
        };
        if announce {
            self.publish(EventKind::Join(username.to_string()));
        }
        Ok((Presence { hub: Arc::clone(self), user_id, socket }, rx))
    }

    fn leave(self: &Arc<Self>, user_id: i64, socket: u64) {
        let runtime = tokio::runtime::Handle::try_current().ok().filter(|_| !self.presence_grace.is_zero());
        let mut start_timer = false;
        let gone = {
            let mut online = self.lock();
            let Some(entry) = online.get_mut(&user_id) else { return };
            entry.sockets.retain(|(s, _)| *s != socket);
            if !entry.sockets.is_empty() {
                return;
            }
            if runtime.is_some() {
                entry.empty_since = Some(tokio::time::Instant::now());
                start_timer = !entry.timer;
                entry.timer = true;
                None
            } else {
                online.remove(&user_id).map(|e| e.username)
            }
        };
        if let Some(username) = gone {
            self.publish(EventKind::Leave(username));
        }
        if let (true, Some(runtime)) = (start_timer, runtime) {
            runtime.spawn(Arc::clone(self).announce_leave(user_id));
        }
    }

    /// Waits until the user has had no socket for the grace period, then announces the leave;
    /// ends without a word if a socket reopened.
    async fn announce_leave(self: Arc<Self>, user_id: i64) {
        loop {
            let deadline = {
                let mut online = self.lock();
                let Some(entry) = online.get_mut(&user_id) else { return };
                match entry.empty_since {
                    None => {
                        entry.timer = false;
                        return;
                    }
                    Some(since) if since.elapsed() >= self.presence_grace => {
                        let username = online.remove(&user_id).map(|e| e.username).unwrap_or_default();
                        drop(online);
                        self.publish(EventKind::Leave(username));
                        return;
                    }
                    Some(since) => since + self.presence_grace,
                }
            };
            tokio::time::sleep_until(deadline).await;
        }
    }

    /// Tells every socket of the user to close; returns how many were told.
    pub fn send_control(&self, user_id: i64, control: Control) -> usize {
        let online = self.lock();
        online
            .get(&user_id)
            .map(|e| e.sockets.iter().filter(|(_, tx)| tx.try_send(control.clone()).is_ok()).count())
            .unwrap_or(0)
    }

    /// Sorted usernames of everyone online (the room's view: see the module comment).
    pub fn online_usernames(&self) -> Vec<String> {
        self.online_sample(usize::MAX).0
    }

    /// The first `limit` online usernames in sorted order, and how many are online in all.
    /// Bounded because the list goes to every socket that connects: a full list of a big room
    /// costs time per connect and leaves every socket's write buffer sized for it.
    pub fn online_sample(&self, limit: usize) -> (Vec<String>, usize) {
        let mut names: Vec<String> = self.lock().values().map(|e| e.username.clone()).collect();
        let total = names.len();
        let key = |a: &String, b: &String| a.to_lowercase().cmp(&b.to_lowercase()).then_with(|| a.cmp(b));
        if names.len() > limit {
            names.select_nth_unstable_by(limit, key);
            names.truncate(limit);
        }
        names.sort_by(key);
        (names, total)
    }

    pub fn online_user_ids(&self) -> Vec<i64> {
        self.lock().keys().copied().collect()
    }

    pub fn online_count(&self) -> usize {
        self.lock().len()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn presence_announces_first_and_last_socket_only() {
        let hub = Arc::new(Hub::new(Box::new(LocalFanout::new(16)), Duration::ZERO));
        let mut rx = hub.subscribe();
        let (a1, _c1) = hub.join(1, "alice", 10).unwrap();
        let (a2, _c2) = hub.join(1, "alice", 10).unwrap();
        assert_eq!(hub.online_usernames(), vec!["alice"]);
        drop(a1);
        drop(a2);
        assert_eq!(rx.recv().await.unwrap().kind, EventKind::Join("alice".into()));
        assert_eq!(rx.recv().await.unwrap().kind, EventKind::Leave("alice".into()));
        assert!(rx.try_recv().is_err());
        assert_eq!(hub.online_count(), 0);
    }

    #[test]
    fn presence_sample_is_the_sorted_head_and_the_full_count() {
        let hub = Arc::new(Hub::new(Box::new(LocalFanout::new(16)), Duration::ZERO));
        let _p: Vec<_> = ["carol", "alice", "Bob", "dave"]
            .iter()
            .enumerate()
            .map(|(i, n)| hub.join(i as i64, n, 10).unwrap())
            .collect();
        assert_eq!(hub.online_sample(2), (vec!["alice".to_string(), "Bob".to_string()], 4));
        assert_eq!(hub.online_sample(10).0.len(), 4);
    }

    #[tokio::test]
    async fn control_reaches_every_socket_of_the_user() {
        let hub = Arc::new(Hub::new(Box::new(LocalFanout::new(16)), Duration::ZERO));
        let (_p1, mut c1) = hub.join(7, "bob", 10).unwrap();
        let (_p2, mut c2) = hub.join(7, "bob", 10).unwrap();
        let (_p3, mut c3) = hub.join(8, "carol", 10).unwrap();
        assert_eq!(hub.send_control(7, Control::Blocked), 2);
        assert_eq!(c1.recv().await, Some(Control::Blocked));
        assert_eq!(c2.recv().await, Some(Control::Blocked));
        assert!(c3.try_recv().is_err());
    }

    #[test]
    fn an_account_cannot_open_more_than_its_sockets() {
        let hub = Arc::new(Hub::new(Box::new(LocalFanout::new(16)), Duration::ZERO));
        let first = hub.join(7, "bob", 2).unwrap();
        let _second = hub.join(7, "bob", 2).unwrap();
        assert!(hub.join(7, "bob", 2).is_err());
        assert!(hub.join(8, "carol", 2).is_ok());
        drop(first);
        assert!(hub.join(7, "bob", 2).is_ok(), "a closed socket frees its place");
    }
}
