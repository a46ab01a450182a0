//! The hub: routes events to the sockets that should see them, tracks who is online, and reaches
//! all sockets of one user (to close them when the account is blocked).
//!
//! Routing is by conversation: the hub keeps, for every online user, the rooms they belong to,
//! and for every room its online members. A message costs one queue push per socket of its
//! room's online members, never a look at every connection. The index is changed only by the log
//! tailer (`chat::log`), in log order, so a member removed at position N receives nothing of that
//! room after N; a socket's first index comes from a snapshot the tailer installs at a known
//! position (`Chat::sync_memberships`).
//!
//! Each event is encoded to its wire form once (lazily, by the first socket that sends it) and
//! the bytes are shared by every receiver. Each socket's queue is bounded: a socket whose queue
//! is full loses its queue (the socket then closes as too slow and resumes with `?since=`)
//! instead of growing memory or holding anyone else up.
//!
//! Presence is debounced: a user whose last socket closes stays online for a grace period, and
//! their `leave` is announced only if no socket reopened by then (so a reconnecting client, or
//! one cycling connections on purpose, does not send every other client a join/leave pair each
//! time). "Online" everywhere (presence frames, join/leave, `/admin/stats`) is this one
//! definition: the users everyone was told are here, on this instance or on another one (the
//! other instances' users come from the database, `chat::presence`).

use std::{
    collections::{HashMap, HashSet},
    sync::{
        atomic::{AtomicU64, Ordering},
        Arc, Mutex, OnceLock,
    },
    time::Duration,
};

use hyper_tungstenite::tungstenite::Utf8Bytes;
use tokio::sync::mpsc::{self, error::TrySendError};

use crate::store::{Message, Reaction, Room, RoomView};

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum EventKind {
    /// Consecutive committed messages of one room, in id order: one event per run rather than
    /// per message, so a busy room costs each receiver one queue operation per batch.
    Messages {
        room: i64,
        messages: Vec<Message>,
    },
    Join(String),
    Leave(String),
    /// To one user: a conversation they are now in, as they see it.
    RoomAdded(Box<RoomView>),
    /// To one user: a conversation they are no longer in (or hid).
    RoomRemoved(i64),
    /// To a room's members: its shared fields changed.
    RoomChanged(Room),
    /// To one user: their read marker moved.
    Read {
        room: i64,
        message_id: i64,
    },
    /// To a room: a message's text changed (its state now), at log position `seq`.
    Edited {
        message: Box<Message>,
        seq: i64,
    },
    /// To a room: a message was deleted.
    Deleted {
        room: i64,
        id: i64,
        seq: i64,
    },
    /// To a room: someone is typing in it (not in the log, not stored).
    Typing {
        room: i64,
        user: String,
    },
    /// To a room: a message's reactions changed (all of them now).
    Reactions {
        room: i64,
        id: i64,
        reactions: Vec<Reaction>,
        seq: i64,
    },
    /// To one user: a report they filed was handled.
    Report {
        id: i64,
        status: crate::store::ReportStatus,
    },
    /// To a room: a member was named moderator of it, or unnamed.
    Role {
        room: i64,
        user: String,
        role: crate::store::RoomRole,
    },
    /// To one user: they were muted in the room until then (RFC 3339), or unmuted (None).
    Muted {
        room: i64,
        until: Option<String>,
    },
}

#[derive(Debug)]
pub struct Event {
    pub kind: EventKind,
    /// The log position of a non-message event (messages carry theirs as ids); None for
    /// presence, which is not in the log.
    pub position: Option<i64>,
    encoded: OnceLock<Vec<Utf8Bytes>>,
    /// The same frames in the second wire dialect (the original's, on its path).
    encoded_alt: OnceLock<Vec<Utf8Bytes>>,
}

impl Event {
    pub fn new(kind: EventKind, position: Option<i64>) -> Self {
        Event { kind, position, encoded: OnceLock::new(), encoded_alt: OnceLock::new() }
    }

    /// The log position of the `i`-th frame.
    pub fn position_of(&self, i: usize) -> Option<i64> {
        match &self.kind {
            EventKind::Messages { messages, .. } => messages.get(i).map(|m| m.id),
            _ => self.position,
        }
    }

    /// The room of a message event.
    pub fn room(&self) -> Option<i64> {
        match &self.kind {
            EventKind::Messages { room, .. } => Some(*room),
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

/// Who an event is for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Target {
    /// The room's online members, and sockets watching it.
    Room(i64),
    User(i64),
    Everyone,
    /// Everyone but this user (who knows of their own arrival).
    EveryoneBut(i64),
}

/// An instruction to one socket from outside its task.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Control {
    /// The account was blocked (by moderation on another socket, an admin or the CLI).
    Blocked,
    /// The account's admin role is now `admin`: a socket that started with the other role
    /// closes, and the client reconnects with what its new role may see.
    RoleChanged { admin: bool },
    /// The account is muted until then (RFC 3339), or its mute was lifted (None).
    Muted { until: Option<String> },
}

struct SocketEntry {
    id: u64,
    /// None once the queue overflowed: dropping the sender ends the socket's stream.
    events: Option<mpsc::Sender<Arc<Event>>>,
    control: mpsc::Sender<Control>,
    watching: Option<i64>,
}

struct Online {
    username: String,
    sockets: Vec<SocketEntry>,
    rooms: HashSet<i64>,
    /// When the last socket closed, while the leave is not announced yet.
    empty_since: Option<tokio::time::Instant>,
    /// A task is waiting to announce the leave: at most one per user, however often the user
    /// reconnects, so the number of timers is bounded by the number of accounts.
    timer: bool,
}

#[derive(Default)]
struct State {
    users: HashMap<i64, Online>,
    /// Online members of each room.
    rooms: HashMap<i64, HashSet<i64>>,
    /// Sockets (user, socket) watching a room they are not necessarily members of.
    watchers: HashMap<i64, Vec<(i64, u64)>>,
    /// Users online on other instances (`chat::presence` keeps it), by id: their names and
    /// sockets there.
    remote: HashMap<i64, Remote>,
    /// Frames handed to sockets and sockets dropped as too slow, since the start (for
    /// `/metrics`; plain integers, counted under the lock the delivery holds anyway).
    delivered: u64,
    slow: u64,
}

impl State {
    fn index_add(&mut self, user_id: i64, room: i64) {
        if let Some(u) = self.users.get_mut(&user_id) {
            if u.rooms.insert(room) {
                self.rooms.entry(room).or_default().insert(user_id);
            }
        }
    }

    fn index_remove(&mut self, user_id: i64, room: i64) {
        if let Some(u) = self.users.get_mut(&user_id) {
            u.rooms.remove(&room);
        }
        if let Some(members) = self.rooms.get_mut(&room) {
            members.remove(&user_id);
            if members.is_empty() {
                self.rooms.remove(&room);
            }
        }
    }

    fn unwatch(&mut self, user_id: i64, socket: u64, room: i64) {
        if let Some(w) = self.watchers.get_mut(&room) {
            w.retain(|&(u, s)| (u, s) != (user_id, socket));
            if w.is_empty() {
                self.watchers.remove(&room);
            }
        }
    }

    /// Pushes to every socket of `user_id` (but `only`, when given); returns sockets that
    /// overflowed.
    fn push_user(&mut self, user_id: i64, only: Option<u64>, event: &Arc<Event>) -> usize {
        let Some(u) = self.users.get_mut(&user_id) else { return 0 };
        let (mut dropped, mut delivered) = (0, 0);
        for s in u.sockets.iter_mut().filter(|s| only.is_none_or(|id| id == s.id)) {
            if let Some(tx) = &s.events {
                match tx.try_send(Arc::clone(event)) {
                    Ok(()) => delivered += 1,
                    Err(TrySendError::Full(_)) => {
                        s.events = None;
                        dropped += 1;
                    }
                    Err(TrySendError::Closed(_)) => s.events = None,
                }
            }
        }
        self.delivered += delivered;
        self.slow += dropped as u64;
        dropped
    }
}

pub struct Hub {
    state: Mutex<State>,
    next_socket: AtomicU64,
    /// How long a user without sockets still counts as online before the leave is announced.
    presence_grace: Duration,
    /// Events queued per socket before it counts as too slow.
    queue: usize,
}

/// A user online on other instances, as their last beat said.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Remote {
    pub username: String,
    /// Their sockets on the other instances together.
    pub sockets: usize,
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

impl Presence {
    /// Makes this socket also receive `room`'s messages (None stops). The caller checks that it
    /// may (an admin, a public room).
    pub fn watch(&self, room: Option<i64>) {
        let mut state = self.hub.lock();
        let Some(u) = state.users.get_mut(&self.user_id) else { return };
        let Some(s) = u.sockets.iter_mut().find(|s| s.id == self.socket) else { return };
        let old = std::mem::replace(&mut s.watching, room);
        if let Some(old) = old {
            state.unwatch(self.user_id, self.socket, old);
        }
        if let Some(room) = room {
            state.watchers.entry(room).or_default().push((self.user_id, self.socket));
        }
    }
}

impl Drop for Presence {
    fn drop(&mut self) {
        Hub::leave(&self.hub, self.user_id, self.socket);
    }
}

/// What a socket reads from: its events and its controls.
pub struct Inbox {
    pub events: mpsc::Receiver<Arc<Event>>,
    pub control: mpsc::Receiver<Control>,
}

impl Hub {
    /// `presence_grace` zero announces leaves at once. `queue`: events buffered per socket.
    pub fn new(queue: usize, presence_grace: Duration) -> Self {
        Hub {
            state: Mutex::new(State::default()),
            next_socket: AtomicU64::new(1),
            presence_grace,
            queue: queue.max(16),
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Frames handed to sockets, and sockets dropped as too slow, since the start.
    pub fn tally(&self) -> (u64, u64) {
        let state = self.lock();
        (state.delivered, state.slow)
    }

    /// Delivers an event; returns how many sockets overflowed (and will close as too slow).
    pub fn deliver(&self, target: Target, event: Event) -> usize {
        Self::deliver_locked(&mut self.lock(), target, event)
    }

    /// `deliver` under a lock the caller holds: presence decided under the lock is announced
    /// under it too, so a join and a leave of one user cannot overtake each other.
    fn deliver_locked(state: &mut State, target: Target, event: Event) -> usize {
        let event = Arc::new(event);
        let mut dropped = 0;
        match target {
            Target::User(user) => dropped += state.push_user(user, None, &event),
            Target::Everyone | Target::EveryoneBut(_) => {
                let but = match target {
                    Target::EveryoneBut(u) => Some(u),
                    _ => None,
                };
                let users: Vec<i64> = state.users.keys().copied().filter(|&u| Some(u) != but).collect();
                for user in users {
                    dropped += state.push_user(user, None, &event);
                }
            }
            Target::Room(room) => {
                let members: Vec<i64> =
                    state.rooms.get(&room).map(|m| m.iter().copied().collect()).unwrap_or_default();
                for &user in &members {
                    dropped += state.push_user(user, None, &event);
                }
                let watchers = state.watchers.get(&room).cloned().unwrap_or_default();
                for (user, socket) in watchers {
                    if !members.contains(&user) {
                        dropped += state.push_user(user, Some(socket), &event);
                    }
                }
            }
        }
        dropped
    }

    /// Puts `user_id` in `room`'s audience (no-op if the user is offline).
    pub fn add_to_room(&self, user_id: i64, room: i64) {
        self.lock().index_add(user_id, room);
    }

    pub fn remove_from_room(&self, user_id: i64, room: i64) {
        self.lock().index_remove(user_id, room);
    }

    /// Replaces an online user's rooms with a snapshot (the tailer installs it at the snapshot's
    /// position). Returns false if the user is offline.
    pub fn set_rooms(&self, user_id: i64, rooms: &[i64]) -> bool {
        let mut state = self.lock();
        let Some(u) = state.users.get(&user_id) else { return false };
        let old: Vec<i64> = u.rooms.iter().copied().collect();
        for room in old {
            state.index_remove(user_id, room);
        }
        for &room in rooms {
            state.index_add(user_id, room);
        }
        true
    }

    /// Whether an online user is in the room (None if the user is offline here).
    pub fn in_room(&self, user_id: i64, room: i64) -> Option<bool> {
        self.lock().users.get(&user_id).map(|u| u.rooms.contains(&room))
    }

    /// Whether the user counts as online on this instance (and so has a room index here).
    pub fn is_online_here(&self, user_id: i64) -> bool {
        self.lock().users.contains_key(&user_id)
    }

    /// Online members of a room (for room-wide updates that need per-user data).
    pub fn room_audience(&self, room: i64) -> Vec<i64> {
        self.lock().rooms.get(&room).map(|m| m.iter().copied().collect()).unwrap_or_default()
    }

    /// Registers a socket of `user_id`; announces the user if nobody counts them as online
    /// already. Refused when the account already has `max_sockets` open. The socket hears its
    /// user's rooms once a snapshot is installed (`set_rooms`).
    pub fn join(
        self: &Arc<Self>,
        user_id: i64,
        username: &str,
        max_sockets: usize,
    ) -> Result<(Presence, Inbox), TooManySockets> {
        let (events_tx, events) = mpsc::channel(self.queue);
        let (control_tx, control) = mpsc::channel(4);
        let socket = self.next_socket.fetch_add(1, Ordering::Relaxed);
        {
            let mut state = self.lock();
            // Sockets on other instances count as they were at their last beat (a second ago at
            // most): the cap holds across instances within that.
            let elsewhere = state.remote.get(&user_id).map_or(0, |r| r.sockets);
            if state.users.get(&user_id).map_or(0, |e| e.sockets.len()) + elsewhere >= max_sockets {
                return Err(TooManySockets);
            }
            let announce = !state.users.contains_key(&user_id) && !state.remote.contains_key(&user_id);
            let entry = state.users.entry(user_id).or_insert_with(|| Online {
                username: username.to_string(),
                sockets: Vec::new(),
                rooms: HashSet::new(),
                empty_since: None,
                timer: false,
            });
            entry.sockets.push(SocketEntry {
                id: socket,
                events: Some(events_tx),
                control: control_tx,
                watching: None,
            });
            entry.empty_since = None;
            if announce {
                Self::deliver_locked(
                    &mut state,
                    Target::EveryoneBut(user_id),
                    Event::new(EventKind::Join(username.to_string()), None),
                );
            }
        }
        Ok((Presence { hub: Arc::clone(self), user_id, socket }, Inbox { events, control }))
    }

    fn leave(self: &Arc<Self>, user_id: i64, socket: u64) {
        let runtime = tokio::runtime::Handle::try_current().ok().filter(|_| !self.presence_grace.is_zero());
        let mut start_timer = false;
        {
            let mut state = self.lock();
            let Some(entry) = state.users.get_mut(&user_id) else { return };
            let watched: Vec<i64> =
                entry.sockets.iter().filter(|s| s.id == socket).filter_map(|s| s.watching).collect();
            entry.sockets.retain(|s| s.id != socket);
            let empty = entry.sockets.is_empty();
            for room in watched {
                state.unwatch(user_id, socket, room);
            }
            if !empty {
                return;
            }
            if runtime.is_some() {
                let entry = state.users.get_mut(&user_id).expect("present above");
                entry.empty_since = Some(tokio::time::Instant::now());
                start_timer = !entry.timer;
                entry.timer = true;
            } else if let Some(username) = Self::forget(&mut state, user_id) {
                Self::deliver_locked(
                    &mut state,
                    Target::Everyone,
                    Event::new(EventKind::Leave(username), None),
                );
            }
        }
        if let (true, Some(runtime)) = (start_timer, runtime) {
            runtime.spawn(Arc::clone(self).announce_leave(user_id));
        }
    }

    /// Removes a user without sockets here and their room index; returns their name if they
    /// are now offline everywhere (their leave is to be announced).
    fn forget(state: &mut State, user_id: i64) -> Option<String> {
        let entry = state.users.remove(&user_id)?;
        for room in &entry.rooms {
            if let Some(members) = state.rooms.get_mut(room) {
                members.remove(&user_id);
                if members.is_empty() {
                    state.rooms.remove(room);
                }
            }
        }
        (!state.remote.contains_key(&user_id)).then_some(entry.username)
    }

    /// Replaces the users online on other instances; announces those who arrived or left
    /// everywhere (a user also online here was announced already, and stays).
    pub fn set_remote(&self, remote: HashMap<i64, Remote>) {
        let mut state = self.lock();
        let (joined, left) = {
            let old = std::mem::replace(&mut state.remote, remote);
            let joined: Vec<String> = state
                .remote
                .iter()
                .filter(|(id, _)| !old.contains_key(id) && !state.users.contains_key(id))
                .map(|(_, r)| r.username.clone())
                .collect();
            let left: Vec<String> = old
                .into_iter()
                .filter(|(id, _)| !state.remote.contains_key(id) && !state.users.contains_key(id))
                .map(|(_, r)| r.username)
                .collect();
            (joined, left)
        };
        for name in joined {
            Self::deliver_locked(&mut state, Target::Everyone, Event::new(EventKind::Join(name), None));
        }
        for name in left {
            Self::deliver_locked(&mut state, Target::Everyone, Event::new(EventKind::Leave(name), None));
        }
    }

    /// The users this instance counts as online on it (sockets open, or none within the
    /// presence grace) with their socket counts: what it tells the other instances.
    pub fn local_sockets(&self) -> HashMap<i64, i64> {
        self.lock().users.iter().map(|(&id, u)| (id, u.sockets.len() as i64)).collect()
    }

    /// Waits until the user has had no socket for the grace period, then announces the leave;
    /// ends without a word if a socket reopened.
    async fn announce_leave(self: Arc<Self>, user_id: i64) {
        loop {
            let deadline = {
                let mut state = self.lock();
                let Some(entry) = state.users.get_mut(&user_id) else { return };
                match entry.empty_since {
                    None => {
                        entry.timer = false;
                        return;
                    }
                    Some(since) if since.elapsed() >= self.presence_grace => {
                        if let Some(username) = Self::forget(&mut state, user_id) {
                            Self::deliver_locked(
                                &mut state,
                                Target::Everyone,
                                Event::new(EventKind::Leave(username), None),
                            );
                        }
                        return;
                    }
                    Some(since) => since + self.presence_grace,
                }
            };
            tokio::time::sleep_until(deadline).await;
        }
    }

    /// Tells every socket of the user; returns how many were told.
    pub fn send_control(&self, user_id: i64, control: Control) -> usize {
        let mut state = self.lock();
        let Some(entry) = state.users.get_mut(&user_id) else { return 0 };
        let mut told = 0;
        for s in &mut entry.sockets {
            if s.control.try_send(control.clone()).is_ok() {
                told += 1;
            } else if control == Control::Blocked {
                // A block must not be lost to a full control queue: ending the socket's stream
                // closes it, and its reconnection is refused.
                s.events = None;
                told += 1;
            }
        }
        told
    }

    /// Sorted usernames of everyone online (see the module comment).
    pub fn online_usernames(&self) -> Vec<String> {
        self.online_sample(usize::MAX).0
    }

    /// The first `limit` online usernames in sorted order, and how many are online in all.
    /// Bounded because the list goes to every socket that connects: a full list of a big server
    /// costs time per connect and leaves every socket's write buffer sized for it.
    pub fn online_sample(&self, limit: usize) -> (Vec<String>, usize) {
        let mut names: Vec<String> = {
            let state = self.lock();
            let remote = state.remote.iter().filter(|(id, _)| !state.users.contains_key(id));
            state
                .users
                .values()
                .map(|e| e.username.clone())
                .chain(remote.map(|(_, r)| r.username.clone()))
                .collect()
        };
        let total = names.len();
        let key = |a: &String, b: &String| a.to_lowercase().cmp(&b.to_lowercase()).then_with(|| a.cmp(b));
        if names.len() > limit {
            names.select_nth_unstable_by(limit, key);
            names.truncate(limit);
        }
        names.sort_by(key);
        (names, total)
    }

    /// How many users are online on any instance.
    pub fn online_count(&self) -> usize {
        let state = self.lock();
        state.users.len() + state.remote.keys().filter(|id| !state.users.contains_key(id)).count()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn hub() -> Arc<Hub> {
        Arc::new(Hub::new(16, Duration::ZERO))
    }

    fn kind(ev: Option<Arc<Event>>) -> EventKind {
        ev.expect("an event").kind.clone()
    }

    #[tokio::test]
    async fn presence_announces_first_and_last_socket_only() {
        let hub = hub();
        let (_w, mut watcher) = hub.join(9, "watcher", 10).unwrap();
        let (a1, _c1) = hub.join(1, "alice", 10).unwrap();
        let (a2, _c2) = hub.join(1, "alice", 10).unwrap();
        assert_eq!(hub.online_usernames(), vec!["alice", "watcher"]);
        drop(a1);
        drop(a2);
        assert_eq!(kind(watcher.events.recv().await), EventKind::Join("alice".into()));
        assert_eq!(kind(watcher.events.recv().await), EventKind::Leave("alice".into()));
        assert!(watcher.events.try_recv().is_err());
        assert_eq!(hub.online_count(), 1);
    }

    #[test]
    fn presence_sample_is_the_sorted_head_and_the_full_count() {
        let hub = hub();
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
        let hub = hub();
        let (_p1, mut c1) = hub.join(7, "bob", 10).unwrap();
        let (_p2, mut c2) = hub.join(7, "bob", 10).unwrap();
        let (_p3, mut c3) = hub.join(8, "carol", 10).unwrap();
        assert_eq!(hub.send_control(7, Control::Blocked), 2);
        assert_eq!(c1.control.recv().await, Some(Control::Blocked));
        assert_eq!(c2.control.recv().await, Some(Control::Blocked));
        assert!(c3.control.try_recv().is_err());
    }

    #[test]
    fn an_account_cannot_open_more_than_its_sockets() {
        let hub = hub();
        let first = hub.join(7, "bob", 2).unwrap();
        let _second = hub.join(7, "bob", 2).unwrap();
        assert!(hub.join(7, "bob", 2).is_err());
        assert!(hub.join(8, "carol", 2).is_ok());
        drop(first);
        assert!(hub.join(7, "bob", 2).is_ok(), "a closed socket frees its place");
    }

    fn message(id: i64, room: i64) -> Event {
        let m = Message {
            id,
            room_id: room,
            sender_id: 1,
            username: "alice".into(),
            content: "hi".into(),
            timestamp: String::new(),
            mentions: Vec::new(),
            edited_at: None,
            reply_to: None,
        };
        Event::new(EventKind::Messages { room, messages: vec![m] }, None)
    }

    #[tokio::test]
    async fn room_events_reach_online_members_only_and_stop_at_removal() {
        let hub = hub();
        let (_a, mut alice) = hub.join(1, "alice", 10).unwrap();
        let (_b, mut bob) = hub.join(2, "bob", 10).unwrap();
        while alice.events.try_recv().is_ok() {}
        while bob.events.try_recv().is_ok() {}
        hub.set_rooms(1, &[5, 6]);
        hub.set_rooms(2, &[6]);
        hub.deliver(Target::Room(5), message(10, 5));
        hub.deliver(Target::Room(6), message(11, 6));
        assert_eq!(alice.events.recv().await.unwrap().room(), Some(5));
        assert_eq!(alice.events.recv().await.unwrap().room(), Some(6));
        assert_eq!(bob.events.recv().await.unwrap().room(), Some(6));
        assert!(bob.events.try_recv().is_err(), "bob is not in room 5");
        hub.remove_from_room(2, 6);
        hub.deliver(Target::Room(6), message(12, 6));
        assert!(bob.events.try_recv().is_err(), "removed: nothing more from room 6");
    }

    #[tokio::test]
    async fn a_full_queue_ends_that_socket_only() {
        let hub = hub();
        let (_a, mut slow) = hub.join(1, "slow", 10).unwrap();
        let (_b, mut fast) = hub.join(2, "fast", 10).unwrap();
        hub.set_rooms(1, &[5]);
        hub.set_rooms(2, &[5]);
        while fast.events.try_recv().is_ok() {}
        let mut dropped = 0;
        for id in 0..40 {
            dropped += hub.deliver(Target::Room(5), message(id, 5));
            while fast.events.try_recv().is_ok() {}
        }
        assert_eq!(dropped, 1);
        let mut got = 0;
        while slow.events.recv().await.is_some() {
            got += 1;
        }
        assert!(got <= 17, "the slow socket's stream ends after its queue: {got}");
    }
}
