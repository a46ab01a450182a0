//! The password-hashing pool: a few low-priority threads with a bounded queue in front.
//!
//! bcrypt is deliberately slow (about a quarter of a second of CPU at cost 12), so a login storm
//! is mostly CPU contention with the chat. Three choices keep the chat ahead of it:
//! - the threads are few (one per core) and run at nice 10, so when the reactor and a hash both
//!   want the CPU the scheduler gives the reactor about nine tenths of it;
//! - the queue is bounded: past it a login is refused at once (503 with Retry-After) instead of
//!   holding a connection for minutes;
//! - a job whose client hung up before its turn is skipped, so an abandoned login costs no hash.

use std::{
    panic::{catch_unwind, AssertUnwindSafe},
    sync::{
        atomic::{AtomicUsize, Ordering},
        mpsc::{sync_channel, SyncSender, TrySendError},
        Arc, Mutex,
    },
};

use tokio::sync::oneshot;

use super::{ChatError, Result};

/// Niceness of the hashing threads (0 is normal; 19 is the lowest priority).
#[cfg(target_os = "linux")]
const NICE: i32 = 10;

type Job = Box<dyn FnOnce() + Send>;

/// Handle to the pool; the threads exit once it is dropped and their queue is empty.
#[derive(Debug)]
pub struct Hasher {
    queue: SyncSender<Job>,
    /// Jobs queued and not started yet (for `/metrics`).
    waiting: Arc<AtomicUsize>,
}

impl Hasher {
    /// Starts `threads` hashing threads behind a queue of `queue` waiting jobs.
    pub fn start(threads: usize, queue: usize) -> std::io::Result<Hasher> {
        let (tx, rx) = sync_channel::<Job>(queue);
        let rx = Arc::new(Mutex::new(rx));
        for i in 0..threads.max(1) {
            let rx = Arc::clone(&rx);
            std::thread::Builder::new().name(format!("chatterbox-hash-{i}")).spawn(move || {
                lower_priority();
                loop {
                    // The lock is held only while waiting for the next job, never while hashing.
                    let job = match rx.lock() {
                        Ok(rx) => rx.recv(),
                        Err(_) => return,
                    };
                    match job {
                        Ok(job) => job(),
                        Err(_) => return,
                    }
                }
            })?;
        }
        Ok(Hasher { queue: tx, waiting: Arc::new(AtomicUsize::new(0)) })
    }

    /// Jobs waiting for a hashing thread.
    pub fn waiting(&self) -> usize {
        self.waiting.load(Ordering::Relaxed)
    }

    /// Runs `f` on a hashing thread and returns its result. Refused with `Overloaded` when the
    /// queue is full.
    pub async fn run<T, F>(&self, f: F) -> Result<T>
    where
        F: FnOnce() -> Result<T> + Send + 'static,
        T: Send + 'static,
    {
        let (tx, rx) = oneshot::channel();
        let waiting = Arc::clone(&self.waiting);
        let job: Job = Box::new(move || {
            waiting.fetch_sub(1, Ordering::Relaxed);
            if tx.is_closed() {
                return; // the caller is gone: nobody would see the answer
            }
            let result = catch_unwind(AssertUnwindSafe(f))
                .unwrap_or_else(|_| Err(ChatError::Internal("password hashing panicked".into())));
            let _ = tx.send(result);
        });
        // Counted before it is queued, so a thread that takes it at once never counts below 0.
        self.waiting.fetch_add(1, Ordering::Relaxed);
        match self.queue.try_send(job) {
            Ok(()) => {}
            Err(TrySendError::Full(_)) => {
                self.waiting.fetch_sub(1, Ordering::Relaxed);
                return Err(ChatError::Overloaded);
            }
            Err(TrySendError::Disconnected(_)) => {
                self.waiting.fetch_sub(1, Ordering::Relaxed);
                return Err(ChatError::ShuttingDown);
            }
        }
        rx.await.map_err(|_| ChatError::Internal("a password-hashing thread stopped".into()))?
    }
}

/// Lowers the calling thread's scheduling priority (Linux threads have their own nice value).
/// Failing is harmless: hashing then competes with the chat at normal priority.
fn lower_priority() {
    #[cfg(target_os = "linux")]
    // SAFETY: plain system calls on the calling thread's own id; no memory is shared.
    unsafe {
        let tid = libc::syscall(libc::SYS_gettid) as libc::id_t;
        if libc::setpriority(libc::PRIO_PROCESS, tid, NICE) != 0 {
            tracing::debug!("could not lower the hashing thread's priority");
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn runs_jobs_and_refuses_beyond_the_queue() {
        let hasher = Arc::new(Hasher::start(1, 1).unwrap());
        assert_eq!(hasher.run(|| Ok(41 + 1)).await.unwrap(), 42);

        // Hold the only thread, fill the one queue slot, and the next job is refused.
        let (release, wait) = std::sync::mpsc::channel::<()>();
        let h = Arc::clone(&hasher);
        let busy = tokio::spawn(async move {
            h.run(move || {
                wait.recv().ok();
                Ok(())
            })
            .await
        });
        // Until the thread has taken the first job, the queue slot is still that job's and a
        // second one is refused at once: try again until one stays queued.
        let queued = loop {
            let h = Arc::clone(&hasher);
            let queued = tokio::spawn(async move { h.run(|| Ok(())).await });
            tokio::time::sleep(std::time::Duration::from_millis(20)).await;
            if !queued.is_finished() {
                break queued;
            }
        };
        assert!(matches!(hasher.run(|| Ok(())).await, Err(ChatError::Overloaded)));
        release.send(()).unwrap();
        busy.await.unwrap().unwrap();
        queued.await.unwrap().unwrap();
        assert!(hasher.run(|| Ok(())).await.is_ok(), "the queue drains");
    }

    #[tokio::test]
    async fn a_panicking_job_is_an_error_and_the_thread_lives_on() {
        let hasher = Hasher::start(1, 4).unwrap();
        let r: Result<()> = hasher.run(|| panic!("boom")).await;
        assert!(matches!(r, Err(ChatError::Internal(_))));
        assert_eq!(hasher.run(|| Ok(7)).await.unwrap(), 7);
    }
}
