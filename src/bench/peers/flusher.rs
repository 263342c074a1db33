//! The `Eventual` durability of the peers: a thread that makes every commit durable within
//! directdb's bound ([`engine::Options::eventual_flush_interval_ms`]), for engines that either
//! have no timer of their own (LMDB, redb) or whose own notion has no time bound (SQLite's
//! `synchronous=NORMAL`, fjall's buffered journal).

use std::sync::mpsc::{self, RecvTimeoutError};
use std::sync::{Arc, OnceLock};
use std::thread::{self, JoinHandle};
use std::time::Duration;

use super::{Flush, PeerKind};

/// A background flush every interval while the store is open, or nothing for the durabilities
/// that flush in the commit (`Immediate`) or only at checkpoints (`None`).
pub(super) struct Flusher {
    /// Dropped to stop the thread: its wait then ends at once, not at the next tick.
    stop: Option<mpsc::Sender<()>>,
    thread: Option<JoinHandle<()>>,
    /// The first error of a background flush: the thread stops there, and the store's next
    /// commit or checkpoint reports it, since a commit can no longer be promised durable.
    failure: Arc<OnceLock<String>>,
}

impl Flusher {
    /// Runs `flush` every interval when `when` is [`Flush::Background`]; otherwise starts
    /// nothing.
    pub(super) fn start(
        kind: PeerKind,
        when: Flush,
        flush: impl FnMut() -> Result<(), String> + Send + 'static,
    ) -> Result<Self, String> {
        let failure = Arc::new(OnceLock::new());
        if when != Flush::Background {
            return Ok(Flusher { stop: None, thread: None, failure });
        }
        let interval =
            Duration::from_millis(engine::Options::default().eventual_flush_interval_ms.max(1));
        let (stop, stopped) = mpsc::channel();
        let thread = thread::Builder::new()
            .name(format!("{}-flusher", kind.name()))
            .spawn({
                let failure = Arc::clone(&failure);
                move || run(&stopped, interval, flush, &failure)
            })
            .map_err(|error| {
                format!("{}: cannot start the flusher thread: {error}", kind.name())
            })?;
        Ok(Flusher { stop: Some(stop), thread: Some(thread), failure })
    }

    /// Err if a background flush has failed (commits since then may not become durable).
    pub(super) fn check(&self) -> Result<(), String> {
        match self.failure.get() {
            Some(error) => Err(format!("an earlier background flush failed: {error}")),
            None => Ok(()),
        }
    }
}

/// The thread's loop: flush, wait an interval, until the sender is dropped or a flush fails.
fn run(
    stopped: &mpsc::Receiver<()>,
    interval: Duration,
    mut flush: impl FnMut() -> Result<(), String>,
    failure: &OnceLock<String>,
) {
    while let Err(RecvTimeoutError::Timeout) = stopped.recv_timeout(interval) {
        if let Err(error) = flush() {
            let _ = failure.set(error);
            return;
        }
    }
}

impl Drop for Flusher {
    /// Stops the thread and waits for it, so that the engine handle it holds is released
    /// before the store's own (a reopen of the directory must not find it still open).
    fn drop(&mut self) {
        drop(self.stop.take());
        if let Some(thread) = self.thread.take() {
            // A panic in `flush` is a bug of this module; it has already been printed, and
            // panicking again in a drop would abort.
            let _ = thread.join();
        }
    }
}
