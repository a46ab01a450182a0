//! The broadcast hub: fans events out to every connected socket, tracks who is online, and
//! reaches all sockets of one user (to close them when the account is blocked).
//!
//! Fan-out sits behind the `Fanout` trait: in one process it is a tokio broadcast channel; a
//! multi-instance deployment can put a pub/sub broker behind the same two methods. Each event is
//! encoded to its wire form once (lazily, by the first socket that sends it) and the bytes are
//! shared by every receiver. The channel is bounded: a receiver that falls behind by more than
//! its capacity is told it lagged and is disconnected rather than buffered without limit.

use std::{
    collections::HashMap,
    sync::{
        atomic::{AtomicU64, Ordering},
        Arc, Mutex, OnceLock,
    },
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
}

pub struct Hub {
    fanout: Box<dyn Fanout>,
    online: Mutex<HashMap<i64, Online>>,
    next_socket: AtomicU64,
}

/// A socket's registration; dropping it removes the socket from the hub, whichever way the
/// connection ended.
pub struct Presence {
    hub: Arc<Hub>,
    user_id: i64,
    socket: u64,
}

impl Drop for Presence {
    fn drop(&mut self) {
        self.hub.leave(self.user_id, self.socket);
    }
}

impl Hub {
    pub fn new(fanout: Box<dyn Fanout>) -> Self {
        Hub { fanout, online: Mutex::new(HashMap::new()), next_socket: AtomicU64::new(1) }
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

    /// Registers a socket of `user_id`; announces the user if this is their first socket.
    pub fn join(self: &Arc<Self>, user_id: i64, username: &str) -> (Presence, mpsc::Receiver<Control>) {
        let (tx, rx) = mpsc::channel(4);
        let socket = self.next_socket.fetch_add(1, Ordering::Relaxed);
        let first = {
            let mut online = self.lock();
            let entry = online
                .entry(user_id)
                .or_insert_with(|| Online { username: username.to_string(), sockets: Vec::new() });
            entry.sockets.push((socket, tx));
            entry.sockets.len() == 1
        };
        if first {
            self.publish(EventKind::Join(username.to_string()));
        }
        (Presence { hub: Arc::clone(self), user_id, socket }, rx)
    }

    fn leave(&self, user_id: i64, socket: u64) {
        let gone = {
            let mut online = self.lock();
            match online.get_mut(&user_id) {
                Some(entry) => {
                    entry.sockets.retain(|(s, _)| *s != socket);
                    if entry.sockets.is_empty() {
                        online.remove(&user_id).map(|e| e.username)
                    } else {
                        None
                    }
                }
                None => None,
            }
        };
        if let Some(username) = gone {
            self.publish(EventKind::Leave(username));
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

    /// Sorted usernames of everyone with at least one socket.
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
        let hub = Arc::new(Hub::new(Box::new(LocalFanout::new(16))));
        let mut rx = hub.subscribe();
        let (a1, _c1) = hub.join(1, "alice");
        let (a2, _c2) = hub.join(1, "alice");
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
        let hub = Arc::new(Hub::new(Box::new(LocalFanout::new(16))));
        let _p: Vec<_> = ["carol", "alice", "Bob", "dave"]
            .iter()
            .enumerate()
            .map(|(i, n)| hub.join(i as i64, n))
            .collect();
        assert_eq!(hub.online_sample(2), (vec!["alice".to_string(), "Bob".to_string()], 4));
        assert_eq!(hub.online_sample(10).0.len(), 4);
    }

    #[tokio::test]
    async fn control_reaches_every_socket_of_the_user() {
        let hub = Arc::new(Hub::new(Box::new(LocalFanout::new(16))));
        let (_p1, mut c1) = hub.join(7, "bob");
        let (_p2, mut c2) = hub.join(7, "bob");
        let (_p3, mut c3) = hub.join(8, "carol");
        assert_eq!(hub.send_control(7, Control::Blocked), 2);
        assert_eq!(c1.recv().await, Some(Control::Blocked));
        assert_eq!(c2.recv().await, Some(Control::Blocked));
        assert!(c3.try_recv().is_err());
    }
}
