//! Scratch files of the benchmarks, removed however a run ends.

use std::path::{Path, PathBuf};

/// Removes a file or directory tree when dropped, so a failed run leaves nothing behind.
pub(crate) struct RemoveOnDrop(pub(crate) PathBuf);

impl RemoveOnDrop {
    /// Creates the empty directory `path` for one run, removing what a run of the same name
    /// that was interrupted left there, and returns the guard that removes it again.
    pub(crate) fn fresh_directory(path: &Path) -> Result<RemoveOnDrop, String> {
        if path.exists() {
            std::fs::remove_dir_all(path)
                .map_err(|error| format!("removing the leftover {}: {error}", path.display()))?;
        }
        std::fs::create_dir_all(path)
            .map_err(|error| format!("creating {}: {error}", path.display()))?;
        Ok(RemoveOnDrop(path.to_path_buf()))
    }
}

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
