//! The message writer: one dedicated thread that commits chat messages in batches (group commit)
//! and broadcasts each batch only after it is durable.
//!
//! One transaction per message caps SQLite at tens of thousands of commits a second and keeps
//! the reactor waiting on fsync; here whatever queued up while the previous batch committed goes
//! into the next transaction. Each committed batch goes to the log tailer (`chat::log`), which
//! delivers it in log order: nothing is delivered that is not committed.

use std::{
    sync::{Arc, Mutex},
    thread,
    time::{Duration, Instant},
};

use tokio::sync::{mpsc, oneshot};

use crate::store::{LogEntry, Message, NewMessage, Refusal, Store, StoreError};

use super::{
    error::{ChatError, Result},
    log::LogTail,
    metrics::{Metrics, Refused},
};

/// The most messages committed in one transaction.
pub const MAX_BATCH: usize = 256;
/// Submissions waiting for the writer; beyond this, senders wait (backpressure on the sockets).
const QUEUE: usize = 4 * MAX_BATCH;
/// Messages added to the search index at a time while the writer is idle (`Store::index_search`):
/// a millisecond or two of work, the longest a message arriving meanwhile waits for it. (Larger
/// chunks index more cheaply per message, 23 µs in chunks of 10,000 against about 85 µs one by one
/// in the insert's transaction, but 128 already cost the fan-out's p99 more than it saved.)
const INDEX_CHUNK: usize = 32;
/// How long no message must have been committed before the writer indexes.
const INDEX_QUIET: Duration = Duration::from_millis(20);
/// Without a quiet spell, still one chunk this often: a steady trickle of messages (one every
/// few milliseconds, all day) must not leave the index behind for good. About 1,600 messages a
/// second, a few percent of the writer's time.
const INDEX_EVERY: Duration = Duration::from_millis(20);
/// The same while more messages come than chunks every INDEX_EVERY can index: the index falls
/// behind under such a load whatever the writer does (it catches up in the next quiet spell,
/// and a search reads the messages after it directly), so it gets less of a core the chat
/// needs. At 20 ms the chunks cost the fan-out benchmark's p99 at 10,000 msg/s about 40 ms.
const INDEX_EVERY_BUSY: Duration = Duration::from_millis(250);

/// A queued message; `outcome` says whether it was committed (it then reaches its room, sender
/// included, through the log).
#[derive(Debug)]
pub struct Queued {
    outcome: oneshot::Receiver<Result<Message>>,
    /// A message the classifier or the webhook flagged: once committed, `Chat::settle` files
    /// it in the report queue.
    pub flag: Option<super::reports::AutoFlag>,
}

impl Queued {
    pub async fn outcome(self) -> Result<Message> {
        self.outcome.await.map_err(|_| ChatError::ShuttingDown)?
    }
}

/// Another write run on the writer's thread, in its turn (`Writer::write`).
type Call = Box<dyn FnOnce(&dyn Store) + Send>;

enum Job {
    Insert(NewMessage, oneshot::Sender<Result<Message>>),
    Call(Call),
    /// Everything queued before this is committed, then the thread exits.
    Stop(oneshot::Sender<()>),
}

#[derive(Clone)]
pub struct Writer {
    tx: mpsc::Sender<Job>,
    outcomes: Arc<Outcomes>,
}

/// When the writer last committed, and last failed to: the health check reports a disk that
/// refuses writes although reads still work.
#[derive(Default)]
struct Outcomes {
    times: Mutex<(Option<Instant>, Option<Instant>)>,
}

impl Outcomes {
    fn record(&self, ok: bool) {
        let mut times = self.times.lock().unwrap_or_else(|p| p.into_inner());
        let slot = if ok { &mut times.0 } else { &mut times.1 };
        *slot = Some(Instant::now());
    }
}

impl Writer {
    pub fn spawn(store: Arc<dyn Store>, log: LogTail, metrics: Arc<Metrics>) -> std::io::Result<Writer> {
        let (tx, rx) = mpsc::channel(QUEUE);
        let outcomes = Arc::new(Outcomes::default());
        let recorder = Arc::clone(&outcomes);
        thread::Builder::new()
            .name("chatterbox-writer".into())
            .spawn(move || run(store, log, rx, &recorder, &metrics))?;
        Ok(Writer { tx, outcomes })
    }

    /// How long ago the last commit failed, if it failed within `window` and nothing has been
    /// committed since.
    pub fn failing_for(&self, window: Duration) -> Option<Duration> {
        let (ok, failed) = *self.outcomes.times.lock().unwrap_or_else(|p| p.into_inner());
        let failed = failed?;
        let recovered = ok.is_some_and(|ok| ok > failed);
        (!recovered && failed.elapsed() <= window).then(|| failed.elapsed())
    }

    /// Queues a message; resolves once it is committed and broadcast (or failed).
    pub async fn submit(&self, msg: NewMessage) -> Result<Message> {
        self.enqueue(msg).await?.outcome().await
    }

    /// Queues a message for the next batch (waiting while the queue is full) and returns at
    /// once: a socket may queue its next message while this one commits, so a group commit
    /// holds more than one message per busy socket.
    pub async fn enqueue(&self, msg: NewMessage) -> Result<Queued> {
        let (ack, done) = oneshot::channel();
        self.tx.send(Job::Insert(msg, ack)).await.map_err(|_| ChatError::ShuttingDown)?;
        Ok(Queued { outcome: done, flag: None })
    }

    /// Runs a write on the writer's thread, after the messages queued before it. For a store that
    /// allows one writer at a time (SQLite), a second thread's write transactions would queue on
    /// the file's lock through the busy handler, which sleeps (1, 2, 5 ... 100 ms) rather than
    /// waits its turn: edits and reactions beside a busy chat cost the messages' latency its tail.
    pub async fn write<T, F>(&self, f: F) -> Result<T>
    where
        F: FnOnce(&dyn Store) -> Result<T> + Send + 'static,
        T: Send + 'static,
    {
        let (ack, done) = oneshot::channel();
        let call: Call = Box::new(move |store| {
            let _ = ack.send(f(store));
        });
        self.tx.send(Job::Call(call)).await.map_err(|_| ChatError::ShuttingDown)?;
        done.await.map_err(|_| ChatError::ShuttingDown)?
    }

    /// Commits everything queued so far and stops the thread.
    pub async fn stop(&self) {
        let (ack, done) = oneshot::channel();
        if self.tx.send(Job::Stop(ack)).await.is_ok() {
            let _ = done.await;
        }
    }
}

fn run(
    store: Arc<dyn Store>,
    log: LogTail,
    mut rx: mpsc::Receiver<Job>,
    outcomes: &Outcomes,
    metrics: &Metrics,
) {
    let mut batch: Vec<NewMessage> = Vec::with_capacity(MAX_BATCH);
    let mut acks: Vec<oneshot::Sender<Result<Message>>> = Vec::with_capacity(MAX_BATCH);
    // Whether messages may be waiting for the search index. Indexing is the writer's idle work,
    // on the writer's own thread: another thread would take the database's one write lock from
    // under it (a low-priority indexer thread, tried first, held it while preempted and cost the
    // chat's p99 more than this). Under a load that keeps the writer busy, the index falls
    // behind, and a search reads the messages not indexed yet directly.
    let mut index_pending = true;
    let mut last_commit = Instant::now();
    let mut last_index = Instant::now();
    // Messages committed since the last chunk was indexed.
    let mut since_index = 0usize;
    loop {
        let job = if index_pending {
            match rx.try_recv() {
                Ok(job) => job,
                // While messages keep coming, the chat has the CPU: on a saturated core even idle
                // moments' indexing was paid for in the messages' latency. A quiet spell first,
                // or at most one chunk every INDEX_EVERY.
                Err(mpsc::error::TryRecvError::Empty)
                    if last_commit.elapsed() < INDEX_QUIET
                        && last_index.elapsed()
                            < if since_index > INDEX_CHUNK { INDEX_EVERY_BUSY } else { INDEX_EVERY } =>
                {
                    thread::sleep(Duration::from_micros(250));
                    continue;
                }
                Err(mpsc::error::TryRecvError::Empty) => {
                    last_index = Instant::now();
                    since_index = 0;
                    index_pending = match store.index_search(INDEX_CHUNK) {
                        Ok(n) => n >= INDEX_CHUNK,
                        Err(e) => {
                            tracing::warn!(error = %e, "cannot update the search index; trying again after the next messages");
                            false
                        }
                    };
                    continue;
                }
                Err(mpsc::error::TryRecvError::Disconnected) => return,
            }
        } else {
            match rx.blocking_recv() {
                Some(job) => job,
                None => return,
            }
        };
        let mut stop = None;
        let mut call = None;
        let mut next = Some(job);
        while let Some(job) = next.take() {
            match job {
                Job::Insert(m, ack) => {
                    batch.push(m);
                    acks.push(ack);
                }
                // Its turn comes after the messages queued before it.
                Job::Call(f) => {
                    call = Some(f);
                    break;
                }
                Job::Stop(ack) => {
                    stop = Some(ack);
                    break;
                }
            }
            if batch.len() < MAX_BATCH {
                next = rx.try_recv().ok();
            }
        }
        if !batch.is_empty() {
            let started = Instant::now();
            let size = batch.len();
            let accepted = commit(&*store, &log, outcomes, metrics, &mut batch, &mut acks);
            metrics.committed(size, started.elapsed().as_secs_f64());
            metrics.accepted(accepted);
            since_index += size;
            index_pending = true;
            last_commit = Instant::now();
        }
        if let Some(f) = call {
            f(&*store);
        }
        if let Some(ack) = stop {
            let _ = ack.send(());
            return;
        }
    }
}

fn commit(
    store: &dyn Store,
    log: &LogTail,
    outcomes: &Outcomes,
    metrics: &Metrics,
    batch: &mut Vec<NewMessage>,
    acks: &mut Vec<oneshot::Sender<Result<Message>>>,
) -> u64 {
    let mut attempt = 0;
    let result = loop {
        let timestamp = crate::timefmt::now();
        match store.insert_messages(batch, &timestamp) {
            // A long operator transaction can outlast the busy timeout; wait a little more
            // before giving up on these messages.
            Err(StoreError::Busy) if attempt < 3 => {
                attempt += 1;
                thread::sleep(Duration::from_millis(200 * attempt));
            }
            other => break other,
        }
    };
    // Recorded before anyone is answered: a client told its message is saved finds the
    // health check agreeing.
    outcomes.record(result.is_ok());
    let mut accepted = 0;
    match result {
        Ok(outcomes) => {
            let committed: Vec<LogEntry> =
                outcomes.iter().filter_map(|o| o.as_ref().ok()).cloned().map(LogEntry::Message).collect();
            accepted = committed.len() as u64;
            if !committed.is_empty() {
                log.committed(committed);
            }
            for ((outcome, ack), m) in outcomes.into_iter().zip(acks.drain(..)).zip(batch.iter()) {
                match &outcome {
                    Ok(_) => {}
                    Err(Refusal::MutedInRoom { .. }) => metrics.refused(Refused::Muted),
                    Err(Refusal::SlowMode { .. }) => metrics.refused(Refused::SlowMode),
                    Err(_) => metrics.refused(Refused::NotAllowed),
                }
                let _ = ack.send(outcome.map_err(|r| match r {
                    Refusal::MutedInRoom { until } => ChatError::MutedInRoom { room: m.room_id, until },
                    Refusal::SlowMode { retry_after } => {
                        ChatError::SlowMode(Duration::from_secs(retry_after))
                    }
                    Refusal::NotMember => ChatError::RoomNotFound,
                    Refusal::Archived => ChatError::Archived,
                    Refusal::Muted { until } => ChatError::Muted { until },
                    Refusal::NoSuchReply => ChatError::Invalid {
                        field: "reply_to",
                        detail: "The message you reply to is not in this conversation, or was deleted".into(),
                    },
                }));
            }
        }
        Err(e) => {
            tracing::error!(error = %e, messages = batch.len(), "could not save messages");
            metrics.refused_many(Refused::Failed, batch.len() as u64);
            let shared = Arc::new(e);
            for ack in acks.drain(..) {
                let _ = ack.send(Err(ChatError::Store(clone_store_error(&shared))));
            }
        }
    }
    batch.clear();
    accepted
}

fn clone_store_error(e: &StoreError) -> StoreError {
    match e {
        StoreError::Busy => StoreError::Busy,
        StoreError::DiskFull => StoreError::DiskFull,
        StoreError::ReadOnly(s) => StoreError::ReadOnly(s.clone()),
        StoreError::Unavailable(s) => StoreError::Unavailable(s.clone()),
        other => StoreError::Database(other.to_string()),
    }
}
