//! [`SimLockGuard`]: an exclusive lock on a path of a [`super::SimDisk`].

use std::fmt;
use std::path::PathBuf;
use std::sync::Arc;

use parking_lot::Mutex;

use super::state::State;
use crate::disk::LockGuard;

/// Holds the lock on `path` until dropped, or until the disk crashes (the simulated process that
/// held it is dead, so the lock is free for the next one).
pub(super) struct SimLockGuard {
    state: Arc<Mutex<State>>,
    path: PathBuf,
    /// The crash count when the lock was taken: a guard from before a crash releases nothing.
    epoch: u64,
}

impl SimLockGuard {
    pub(super) fn new(state: Arc<Mutex<State>>, path: PathBuf, epoch: u64) -> Self {
        Self { state, path, epoch }
    }
}

impl LockGuard for SimLockGuard {}

impl Drop for SimLockGuard {
    fn drop(&mut self) {
        self.state.lock().unlock(&self.path, self.epoch);
    }
}

impl fmt::Debug for SimLockGuard {
    fn fmt(&self, formatter: &mut fmt::Formatter<'_>) -> fmt::Result {
        formatter
            .debug_struct("SimLockGuard")
            .field("path", &self.path)
            .field("epoch", &self.epoch)
            .finish()
    }
}
