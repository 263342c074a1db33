//! The regular file the device probe asks the kernel about.
//!
//! `statx(STATX_DIOALIGN)` answers for regular files only (ext4 reports nothing for a
//! directory), and whether `open` accepts `O_DIRECT` is a question about a file too. When the
//! probed path is a directory, the probe creates a temporary file there and removes it when done;
//! when it cannot (a read-only directory or file system), it borrows an existing regular file,
//! opening it read-only and never reading or writing it; failing both, it asks about the
//! directory itself and the answer is the weaker one.

use std::fs;
use std::os::unix::fs::OpenOptionsExt;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};

use rustix::fs::{Mode, OFlags};
use rustix::io::Errno;

use crate::limits::PROBE_DIRECTORY_ENTRIES_MAX;

/// Which file the probe asked the kernel about.
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum ProbedFile {
    /// The probed path itself, a regular file.
    Given,
    /// A temporary file created in the probed directory and removed afterwards.
    Temporary,
    /// An existing regular file in the probed directory, because a temporary one could not be
    /// created there.
    Existing {
        /// The file.
        path: PathBuf,
    },
    /// The probed path itself, which is not a regular file (a directory where no file could be
    /// created or found, a device node, ...). Most file systems report no direct-I/O alignment
    /// for it.
    NotRegular,
}

/// The file being probed; removes it on drop if the probe created it.
pub(super) struct ProbeFile {
    path: PathBuf,
    kind: ProbedFile,
}

impl ProbeFile {
    /// Picks the file to probe for `path`, whose metadata is `metadata`.
    pub(super) fn for_path(path: &Path, metadata: &fs::Metadata) -> Self {
        if metadata.is_file() {
            return Self { path: path.to_path_buf(), kind: ProbedFile::Given };
        }
        if metadata.is_dir() {
            if let Some(temporary) = create_temporary(path) {
                return Self { path: temporary, kind: ProbedFile::Temporary };
            }
            if let Some(existing) = find_regular_file(path) {
                return Self {
                    path: existing.clone(),
                    kind: ProbedFile::Existing { path: existing },
                };
            }
        }
        Self { path: path.to_path_buf(), kind: ProbedFile::NotRegular }
    }

    /// The file to pass to `statx`.
    pub(super) fn path(&self) -> &Path {
        &self.path
    }

    /// Which file this is.
    pub(super) fn kind(&self) -> &ProbedFile {
        &self.kind
    }

    /// Whether the kernel accepts `O_DIRECT` when opening the file: `Some(false)` for `EINVAL`
    /// (the file system refuses direct I/O), `None` when the file is not regular or could not be
    /// opened for another reason (permissions), which says nothing about direct I/O.
    pub(super) fn accepts_o_direct(&self) -> Option<bool> {
        if self.kind == ProbedFile::NotRegular {
            return None;
        }
        // Read-only, and never read: opening is the whole test. NONBLOCK guards against the file
        // having been swapped for a FIFO since it was picked.
        let flags = OFlags::RDONLY | OFlags::DIRECT | OFlags::CLOEXEC | OFlags::NONBLOCK;
        match rustix::fs::open(&self.path, flags, Mode::empty()) {
            Ok(_closed_on_drop) => Some(true),
            Err(Errno::INVAL) => Some(false),
            Err(_) => None,
        }
    }
}

impl Drop for ProbeFile {
    fn drop(&mut self) {
        if self.kind == ProbedFile::Temporary {
            // Nothing useful can be done if this fails; the file is empty and hidden.
            let _ = fs::remove_file(&self.path);
        }
    }
}

/// Creates an empty, hidden file in `directory` with a name no other prober uses.
fn create_temporary(directory: &Path) -> Option<PathBuf> {
    static COUNT: AtomicU64 = AtomicU64::new(0);
    let name =
        format!(".directdb-probe-{}-{}", std::process::id(), COUNT.fetch_add(1, Ordering::Relaxed));
    let path = directory.join(name);
    fs::OpenOptions::new().write(true).create_new(true).mode(0o600).open(&path).ok()?;
    Some(path)
}

/// The first regular file among the first [`PROBE_DIRECTORY_ENTRIES_MAX`] entries of
/// `directory`. Symbolic links are skipped: they may lead to another file system.
fn find_regular_file(directory: &Path) -> Option<PathBuf> {
    fs::read_dir(directory)
        .ok()?
        .take(PROBE_DIRECTORY_ENTRIES_MAX)
        .filter_map(|entry| entry.ok())
        .find(|entry| entry.file_type().is_ok_and(|file_type| file_type.is_file()))
        .map(|entry| entry.path())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn entries(directory: &Path) -> usize {
        fs::read_dir(directory).unwrap().count()
    }

    #[test]
    fn a_directory_gets_a_temporary_file_that_is_removed() {
        let directory = tempfile::tempdir().unwrap();
        let file = ProbeFile::for_path(directory.path(), &fs::metadata(directory.path()).unwrap());
        assert_eq!(file.kind(), &ProbedFile::Temporary);
        assert!(file.path().is_file());
        assert_eq!(entries(directory.path()), 1);
        drop(file);
        assert_eq!(entries(directory.path()), 0, "the temporary file must be removed");
    }

    #[test]
    fn a_regular_file_is_probed_itself_and_kept() {
        let directory = tempfile::tempdir().unwrap();
        let path = directory.path().join("data");
        fs::write(&path, b"keep me").unwrap();
        let file = ProbeFile::for_path(&path, &fs::metadata(&path).unwrap());
        assert_eq!(file.kind(), &ProbedFile::Given);
        assert_eq!(file.path(), path);
        drop(file);
        assert_eq!(fs::read(&path).unwrap(), b"keep me");
    }

    #[test]
    fn an_existing_regular_file_is_found_and_kept() {
        let directory = tempfile::tempdir().unwrap();
        fs::create_dir(directory.path().join("a_directory")).unwrap();
        fs::write(directory.path().join("data"), b"keep me").unwrap();
        let found = find_regular_file(directory.path()).unwrap();
        assert_eq!(found, directory.path().join("data"));
    }

    #[test]
    fn a_directory_without_regular_files_has_none_to_borrow() {
        let directory = tempfile::tempdir().unwrap();
        fs::create_dir(directory.path().join("a_directory")).unwrap();
        assert_eq!(find_regular_file(directory.path()), None);
    }

    #[test]
    fn a_device_node_is_not_regular_and_not_opened() {
        let path = Path::new("/dev/null");
        let file = ProbeFile::for_path(path, &fs::metadata(path).unwrap());
        assert_eq!(file.kind(), &ProbedFile::NotRegular);
        assert_eq!(file.accepts_o_direct(), None);
    }
}
