//! Scratch files of the benchmarks, removed however a run ends.

use std::path::PathBuf;

/// Removes a file or directory tree when dropped, so a failed run leaves nothing behind.
pub(crate) struct RemoveOnDrop(pub(crate) PathBuf);

impl Drop for RemoveOnDrop {
    fn drop(&mut self) {
        // Best effort: the run's result (or error) matters more than a leftover file, and the
        // next run removes a leftover log directory before it starts.
        let _ = if self.0.is_dir() {
            std::fs::remove_dir_all(&self.0)
        } else {
            std::fs::remove_file(&self.0)
        };
    }
}
