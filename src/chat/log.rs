//! The log tailer: the one thread that feeds the hub, from the committed log, in log order.
//!
//! Everything the daemon fans out (messages, membership changes, room changes, read markers) is
//! a log entry with a dense position given in commit order (`store::LogEntry`). The tailer keeps
//! a cursor, the last position it delivered, and delivers each entry exactly once, in order:
//! - the writer hands it each committed batch, delivered at once when it follows the cursor;
//! - anything else (a membership change made by a REST call, the operator CLI in another
//!   process, and later other instances) is read from the store after the cursor, when a
//!   doorbell rings (`ring`) or, as a fallback that also covers a lost doorbell, on a short poll.
//!
//! Because only this thread changes the hub's room index, and it does so at the entry's
//! position, a member removed at position N gets nothing of that room after N. A socket's first
//! index is installed here too (`register`): the tailer reads the user's rooms in one snapshot
//! at position P, delivers everything before P, installs the snapshot, and answers P; the socket
//! replays history before P from the store and takes everything from P on from its queue, so it
//! sees no gap and no duplicate.

use std::{
    sync::{
        atomic::{AtomicBool, AtomicI64, AtomicU64, Ordering},
        mpsc, Arc,
    },
    thread,
    time::{Duration, Instant},
};

use tokio::sync::oneshot;

use crate::store::{Change, LogBell, LogEntry, Memberships, Message, RoomKind, RoomRole, Store};

use super::{
    error::{ChatError, Result},
    hub::{Control, Event, EventKind, Hub, Target},
    terms::LiveTerms,
};

/// Entries read from the store per query while catching up.
const CHUNK: usize = 1000;
/// Commands waiting for the tailer; the writer waits when it is full (backpressure).
const QUEUE: usize = 1024;

enum Cmd {
    Committed(Vec<LogEntry>),
    Ring,
    Register(i64, oneshot::Sender<Result<Memberships>>),
    /// Deliver everything committed so far, then answer.
    Sync(oneshot::Sender<()>),
    Stop(oneshot::Sender<()>),
}

#[derive(Clone)]
pub struct LogTail {
    tx: mpsc::SyncSender<Cmd>,
    /// Set when the tailer thread has ended, so a backend's log watcher stops too.
    ended: Arc<AtomicBool>,
    status: Arc<TailStatus>,
}

/// How far the tailer has come, for `/healthz`.
#[derive(Debug)]
struct TailStatus {
    /// The last position delivered.
    cursor: AtomicI64,
    /// When the tailer last read the store successfully, in milliseconds after `epoch`.
    read_at_ms: AtomicU64,
    epoch: Instant,
}

impl TailStatus {
    fn read_now(&self) {
        self.read_at_ms.store(self.epoch.elapsed().as_millis() as u64, Ordering::Relaxed);
    }
}

/// The tailer's progress against the end of the log.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Lag {
    /// The last position delivered to this instance's sockets.
    pub delivered: i64,
    /// Committed entries not delivered yet (any instance's).
    pub behind: i64,
    /// Since the tailer last read the log successfully (it reads at every poll).
    pub since_read: Duration,
}

impl LogTail {
    /// Starts the tailer at the current end of the log, read now: before the writer can
    /// commit anything, which the tailer must then deliver.
    pub fn spawn(
        store: Arc<dyn Store>,
        hub: Arc<Hub>,
        terms: Arc<LiveTerms>,
        poll: Duration,
    ) -> Result<LogTail> {
        let cursor = store.log_next()? - 1;
        let (tx, rx) = mpsc::sync_channel(QUEUE);
        let ended = Arc::new(AtomicBool::new(false));
        let done = Arc::clone(&ended);
        let status = Arc::new(TailStatus {
            cursor: AtomicI64::new(cursor),
            read_at_ms: AtomicU64::new(0),
            epoch: Instant::now(),
        });
        let shared = Arc::clone(&status);
        thread::Builder::new()
            .name("chatterbox-log".into())
            .spawn(move || {
                let mut tail = Tailer { store, hub, terms, cursor, status: shared };
                // A change committed between the caller's first read of the lists and `cursor`.
                tail.reload_terms();
                tail.run(rx, poll);
                done.store(true, Ordering::Release);
            })
            .map_err(|e| ChatError::Internal(format!("cannot start the log thread: {e}")))?;
        Ok(LogTail { tx, ended, status })
    }

    /// The tailer's lag, given the log's next position read just now.
    pub fn lag(&self, next: i64) -> Lag {
        let status = &self.status;
        let delivered = status.cursor.load(Ordering::Relaxed);
        let read_at = Duration::from_millis(status.read_at_ms.load(Ordering::Relaxed));
        Lag {
            delivered,
            behind: (next - 1 - delivered).max(0),
            since_read: status.epoch.elapsed().saturating_sub(read_at),
        }
    }

    /// The doorbell a backend rings when another process or instance commits to the log
    /// (`Store::watch_log`).
    pub fn bell(&self) -> Box<dyn LogBell> {
        Box::new(self.clone())
    }

    /// Hands over a batch the writer committed (blocking: the writer's thread only).
    pub fn committed(&self, entries: Vec<LogEntry>) {
        let _ = self.tx.send(Cmd::Committed(entries));
    }

    /// Something was written to the log outside the writer: read it soon. Never blocks; when
    /// the queue is full the tailer is busy and the poll finds the entries anyway.
    pub fn ring(&self) {
        let _ = self.tx.try_send(Cmd::Ring);
    }

    /// Returns once everything committed before the call is delivered: a REST call that changed
    /// memberships answers after the hub knows, so the client's next frame finds it so.
    pub async fn sync(&self) {
        let (reply, answer) = oneshot::channel();
        let tx = self.tx.clone();
        let sent =
            tokio::task::spawn_blocking(move || tx.send(Cmd::Sync(reply)).is_ok()).await.unwrap_or(false);
        if sent {
            let _ = answer.await;
        }
    }

    /// Installs the user's rooms in the hub (the user must have joined it) at a snapshot's
    /// position; returns the snapshot.
    pub async fn register(&self, user_id: i64) -> Result<Memberships> {
        let (reply, answer) = oneshot::channel();
        let tx = self.tx.clone();
        tokio::task::spawn_blocking(move || tx.send(Cmd::Register(user_id, reply)))
            .await?
            .map_err(|_| ChatError::ShuttingDown)?;
        answer.await.map_err(|_| ChatError::ShuttingDown)?
    }

    pub async fn stop(&self) {
        let (ack, done) = oneshot::channel();
        let tx = self.tx.clone();
        let sent =
            tokio::task::spawn_blocking(move || tx.send(Cmd::Stop(ack)).is_ok()).await.unwrap_or(false);
        if sent {
            let _ = done.await;
        }
    }
}

impl LogBell for LogTail {
    fn ring(&self) {
        LogTail::ring(self);
    }

    fn wanted(&self) -> bool {
        !self.ended.load(Ordering::Acquire)
    }
}

struct Tailer {
    store: Arc<dyn Store>,
    hub: Arc<Hub>,
    terms: Arc<LiveTerms>,
    /// The last position delivered.
    cursor: i64,
    status: Arc<TailStatus>,
}

impl Tailer {
    fn run(&mut self, rx: mpsc::Receiver<Cmd>, poll: Duration) {
        let mut polled = Instant::now();
        loop {
            // A steady stream of this instance's own batches must not starve the poll, which
            // is what finds other writers' entries when a doorbell is lost.
            if polled.elapsed() >= poll {
                let _ = self.catch_up(None);
                polled = Instant::now();
            }
            match rx.recv_timeout(poll.saturating_sub(polled.elapsed())) {
                Ok(Cmd::Committed(entries)) => self.committed(entries),
                Ok(Cmd::Ring) => {
                    let _ = self.catch_up(None);
                    polled = Instant::now();
                }
                Err(mpsc::RecvTimeoutError::Timeout) => {}
                Ok(Cmd::Sync(reply)) => {
                    let _ = self.catch_up(None);
                    let _ = reply.send(());
                }
                Ok(Cmd::Register(user, reply)) => {
                    let _ = reply.send(self.register(user));
                }
                Ok(Cmd::Stop(ack)) => {
                    let _ = self.catch_up(None);
                    let _ = ack.send(());
                    return;
                }
                Err(mpsc::RecvTimeoutError::Disconnected) => return,
            }
        }
    }

    fn committed(&mut self, entries: Vec<LogEntry>) {
        let Some(first) = entries.first().map(LogEntry::position) else { return };
        if first > self.cursor + 1 && self.catch_up(Some(first - 1)).is_err() {
            // The gap cannot be read now: deliver nothing out of order; the poll retries and
            // reads these entries from the store as well.
            return;
        }
        let cursor = self.cursor;
        let fresh: Vec<LogEntry> = entries.into_iter().filter(|e| e.position() > cursor).collect();
        self.deliver(fresh);
    }

    /// Reads and delivers everything after the cursor (up to `until` when given).
    fn catch_up(&mut self, until: Option<i64>) -> Result<()> {
        let result = (|| loop {
            let cursor = self.cursor;
            if until.is_some_and(|u| cursor >= u) {
                return Ok(());
            }
            if until.is_none() && self.store.log_next()? <= cursor + 1 {
                self.status.read_now();
                return Ok(());
            }
            let mut entries = self.store.log_after(cursor, CHUNK)?;
            self.status.read_now();
            let full = entries.len() == CHUNK;
            // Never past `until`: `register` installs a socket's rooms at `until + 1`, so what
            // follows (committed meanwhile, often by another instance) must wait for them.
            let past = until.is_some_and(|u| entries.last().is_some_and(|e| e.position() > u));
            if let Some(u) = until {
                entries.retain(|e| e.position() <= u);
            }
            self.deliver(entries);
            if !full || past {
                return Ok(());
            }
        })();
        if let Err(e) = &result {
            tracing::warn!(error = %e, "cannot read the log; retrying");
        }
        result
    }

    fn register(&mut self, user_id: i64) -> Result<Memberships> {
        let snapshot = self.store.memberships(user_id)?;
        self.catch_up(Some(snapshot.next - 1))?;
        self.hub.set_rooms(user_id, &snapshot.rooms);
        Ok(snapshot)
    }

    /// Delivers entries in order and moves the cursor past them.
    fn deliver(&mut self, entries: Vec<LogEntry>) {
        let mut run: Vec<Message> = Vec::new();
        for entry in entries {
            let position = entry.position();
            match entry {
                LogEntry::Message(m) => {
                    if run.first().is_some_and(|r| r.room_id != m.room_id) {
                        self.flush(&mut run);
                    }
                    run.push(m);
                }
                LogEntry::Change { seq, change } => {
                    self.flush(&mut run);
                    self.change(seq, change);
                }
            }
            self.cursor = position;
        }
        self.flush(&mut run);
        self.status.cursor.store(self.cursor, Ordering::Relaxed);
    }

    fn flush(&self, run: &mut Vec<Message>) {
        let Some(room) = run.first().map(|m| m.room_id) else { return };
        let messages = std::mem::take(run);
        let dropped =
            self.hub.deliver(Target::Room(room), Event::new(EventKind::Messages { room, messages }, None));
        if dropped > 0 {
            tracing::info!(sockets = dropped, "disconnecting clients that fell behind");
        }
    }

    /// Rebuilds the word list from the live term lists. On failure the old list stays in force
    /// (the next change or restart retries): moderation never turns off.
    fn reload_terms(&self) {
        match self.terms.reload(&*self.store) {
            Ok(()) => tracing::debug!("reloaded the moderation term lists"),
            Err(e) => {
                tracing::warn!(error = %e, "cannot reload the moderation term lists; keeping the old ones")
            }
        }
    }

    fn change(&self, seq: i64, change: Change) {
        let at = Some(seq);
        match change {
            Change::Member { room_id, user_id } => {
                if !self.hub.is_online_here(user_id) {
                    return;
                }
                self.hub.add_to_room(user_id, room_id);
                match self.store.room_view(user_id, room_id) {
                    Ok(Some(view)) => {
                        self.hub.deliver(
                            Target::User(user_id),
                            Event::new(EventKind::RoomAdded(Box::new(view)), at),
                        );
                    }
                    Ok(None) => {}
                    Err(e) => tracing::warn!(error = %e, "cannot read a room for its new member"),
                }
            }
            Change::Unmember { room_id, user_id } => {
                // Nobody leaves a DM, they hide it: its next message shows it again, so that
                // message must still reach them (a DM has no other kind of unmembering).
                let hid_dm = matches!(self.store.room(room_id), Ok(Some(r)) if r.kind == RoomKind::Dm);
                if !hid_dm {
                    self.hub.remove_from_room(user_id, room_id);
                }
                self.hub.deliver(Target::User(user_id), Event::new(EventKind::RoomRemoved(room_id), at));
            }
            // Still a member: the DM leaves the user's list, but its messages keep arriving and
            // bring it back.
            Change::Hide { room_id, user_id } => {
                self.hub.deliver(Target::User(user_id), Event::new(EventKind::RoomRemoved(room_id), at));
            }
            Change::Room { room_id } => match self.store.room(room_id) {
                Ok(Some(room)) => {
                    self.hub.deliver(Target::Room(room_id), Event::new(EventKind::RoomChanged(room), at));
                }
                Ok(None) => {}
                Err(e) => tracing::warn!(error = %e, "cannot read a changed room"),
            },
            Change::Read { room_id, user_id, message_id } => {
                self.hub.deliver(
                    Target::User(user_id),
                    Event::new(EventKind::Read { room: room_id, message_id }, at),
                );
            }
            // Whichever instance or operator command made the change, every instance closes the
            // account's sockets here (an unblocked account has none).
            // Living messages: the state as it is now goes out (a later change of the same
            // message has its own entry and frame), to the room's members and watchers.
            Change::Edit { room_id, message_id, .. } => match self.store.message(message_id) {
                Ok(Some(message)) => {
                    let kind = EventKind::Edited { message: Box::new(message), seq };
                    self.hub.deliver(Target::Room(room_id), Event::new(kind, at));
                }
                // Deleted since: its own entry follows.
                Ok(None) => {}
                Err(e) => tracing::warn!(error = %e, "cannot read an edited message"),
            },
            Change::Delete { room_id, message_id, .. } => {
                let kind = EventKind::Deleted { room: room_id, id: message_id, seq };
                self.hub.deliver(Target::Room(room_id), Event::new(kind, at));
            }
            Change::React { room_id, message_id, .. } => match self.store.reactions(&[message_id]) {
                Ok(mut found) => {
                    let reactions = found.pop().map(|(_, r)| r).unwrap_or_default();
                    let kind = EventKind::Reactions { room: room_id, id: message_id, reactions, seq };
                    self.hub.deliver(Target::Room(room_id), Event::new(kind, at));
                }
                Err(e) => tracing::warn!(error = %e, "cannot read a message's reactions"),
            },
            Change::Report { report_id, user_id, status } => {
                let kind = EventKind::Report { id: report_id, status };
                self.hub.deliver(Target::User(user_id), Event::new(kind, at));
            }
            Change::Role { room_id, user_id, moderator } => match self.store.user_by_id(user_id) {
                Ok(Some(user)) => {
                    let role = if moderator { RoomRole::Moderator } else { RoomRole::Member };
                    let kind = EventKind::Role { room: room_id, user: user.username, role };
                    self.hub.deliver(Target::Room(room_id), Event::new(kind, at));
                }
                Ok(None) => {}
                Err(e) => tracing::warn!(error = %e, "cannot read a member whose role changed"),
            },
            Change::RoomMute { room_id, user_id, until_ms } => {
                let until = super::roommod::mute_end(until_ms);
                let kind = EventKind::Muted { room: room_id, until };
                self.hub.deliver(Target::User(user_id), Event::new(kind, at));
            }
            Change::Terms => self.reload_terms(),
            Change::Account { user_id, blocked, admin } => {
                // A block ends every socket of the account; a socket that started after the
                // block committed found it in its snapshot (`Memberships::blocked`).
                let control = if blocked { Control::Blocked } else { Control::RoleChanged { admin } };
                if self.hub.send_control(user_id, control) > 0 {
                    tracing::info!(user_id, blocked, admin, "telling the sockets of a changed account");
                }
            }
            Change::Mute { user_id, until_ms } => {
                self.hub.send_control(user_id, super::standing::mute_control(until_ms));
            }
        }
    }
}
