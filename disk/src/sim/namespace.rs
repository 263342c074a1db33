//! [`Namespace`]: the simulated directory tree, with a journal of un-synced changes per
//! directory.
//!
//! Files are named by path and point at a [`FileId`]. Two maps are kept: `files` (what `open`
//! and `list_dir` see) and `durable_files` (what a crash that loses every un-synced change
//! leaves). Each create, remove and rename appends a [`Change`] to the journal of the directory
//! it touches; [`Namespace::sync_dir`] applies a directory's journal to `durable_files`, and a
//! crash applies a prefix of each journal (journaled file systems commit a directory's changes in
//! order).
//!
//! A rename within one directory is one change, applied whole. A rename across directories is
//! two: an unlink in the source directory and a link in the target directory, each surviving
//! with its own directory's prefix. That is harsher than ext4, which commits a rename in one
//! transaction, and is the conservative choice: a protocol that renames across directories must
//! sync both.
//!
//! Directories themselves are durable as soon as they are created and are never removed (the
//! [`crate::Disk`] trait has no call that removes one).

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

/// Identifies one simulated file (an inode) for as long as it exists.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct FileId(pub u64);

/// One namespace change, applied atomically: each name is set to a file or removed.
#[derive(Clone, Debug, PartialEq, Eq)]
struct Change {
    entries: Vec<(PathBuf, Option<FileId>)>,
}

impl Change {
    fn apply(&self, files: &mut BTreeMap<PathBuf, FileId>) {
        for (name, file) in &self.entries {
            match file {
                Some(file) => files.insert(name.clone(), *file),
                None => files.remove(name),
            };
        }
    }
}

/// The directory a file or directory path lives in ("" for a bare relative name).
pub(super) fn parent_of(path: &Path) -> PathBuf {
    path.parent().map(Path::to_path_buf).unwrap_or_default()
}

/// The simulated directory tree.
#[derive(Clone, Debug, Default)]
pub(super) struct Namespace {
    directories: BTreeSet<PathBuf>,
    files: BTreeMap<PathBuf, FileId>,
    durable_files: BTreeMap<PathBuf, FileId>,
    /// Directory → its un-synced changes, oldest first.
    journals: BTreeMap<PathBuf, Vec<Change>>,
}

impl Namespace {
    /// Whether `path` is a directory. The root and the empty path (the parent of a bare relative
    /// name) always are.
    pub(super) fn is_directory(&self, path: &Path) -> bool {
        path.as_os_str().is_empty() || path.parent().is_none() || self.directories.contains(path)
    }

    /// Creates `path` and every missing ancestor, durably.
    pub(super) fn create_dir_all(&mut self, path: &Path) {
        for ancestor in path.ancestors() {
            if !self.is_directory(ancestor) {
                self.directories.insert(ancestor.to_path_buf());
            }
        }
    }

    /// The file at `path`, as `open` sees it.
    pub(super) fn file(&self, path: &Path) -> Option<FileId> {
        self.files.get(path).copied()
    }

    /// The files directly in `directory`, sorted.
    pub(super) fn list(&self, directory: &Path) -> Vec<PathBuf> {
        self.files.keys().filter(|name| parent_of(name) == directory).cloned().collect()
    }

    /// Links a new file at `path` (which must be free, in an existing directory).
    pub(super) fn create(&mut self, path: &Path, file: FileId) {
        assert!(!self.files.contains_key(path));
        self.record(path, Change { entries: vec![(path.to_path_buf(), Some(file))] });
    }

    /// Unlinks the file at `path` (which must exist).
    pub(super) fn remove(&mut self, path: &Path) {
        assert!(self.files.contains_key(path));
        self.record(path, Change { entries: vec![(path.to_path_buf(), None)] });
    }

    /// Moves the file at `source` (which must exist) to `target`, replacing any file there.
    pub(super) fn rename(&mut self, source: &Path, target: &Path) {
        let file = self.files.get(source).copied().expect("rename source exists");
        let unlink = (source.to_path_buf(), None);
        let link = (target.to_path_buf(), Some(file));
        if parent_of(source) == parent_of(target) {
            self.record(target, Change { entries: vec![unlink, link] });
        } else {
            self.record(source, Change { entries: vec![unlink] });
            self.record(target, Change { entries: vec![link] });
        }
    }

    fn record(&mut self, path: &Path, change: Change) {
        change.apply(&mut self.files);
        self.journals.entry(parent_of(path)).or_default().push(change);
    }

    /// Makes every change in `directory` durable.
    pub(super) fn sync_dir(&mut self, directory: &Path) {
        for change in self.journals.remove(directory).unwrap_or_default() {
            change.apply(&mut self.durable_files);
        }
    }

    /// Each directory with un-synced changes and how many it has, sorted by directory.
    pub(super) fn pending(&self) -> Vec<(PathBuf, usize)> {
        self.journals
            .iter()
            .filter(|(_, changes)| !changes.is_empty())
            .map(|(directory, changes)| (directory.clone(), changes.len()))
            .collect()
    }

    /// Loses power: for each directory (in sorted order), keeps the first
    /// `kept_count(directory, pending_count)` of its un-synced changes and loses the rest.
    /// Returns `(directory, pending_count, kept_count)` for each directory.
    pub(super) fn crash(
        &mut self,
        mut kept_count: impl FnMut(&Path, usize) -> usize,
    ) -> Vec<(PathBuf, usize, usize)> {
        let mut outcomes = Vec::new();
        for (directory, changes) in std::mem::take(&mut self.journals) {
            let kept = kept_count(&directory, changes.len());
            assert!(kept <= changes.len(), "kept {kept} of {} changes", changes.len());
            for change in &changes[..kept] {
                change.apply(&mut self.durable_files);
            }
            outcomes.push((directory, changes.len(), kept));
        }
        self.files = self.durable_files.clone();
        outcomes
    }

    /// Whether any name, durable or not, or any un-synced change still refers to `file`.
    pub(super) fn refers_to(&self, file: FileId) -> bool {
        self.files.values().any(|&named| named == file)
            || self.durable_files.values().any(|&named| named == file)
            || self
                .journals
                .values()
                .flatten()
                .any(|change| change.entries.iter().any(|(_, named)| *named == Some(file)))
    }

    /// The durable name of every file, sorted.
    pub(super) fn durable_files(&self) -> &BTreeMap<PathBuf, FileId> {
        &self.durable_files
    }

    /// The name of every file as `open` sees it.
    pub(super) fn files(&self) -> &BTreeMap<PathBuf, FileId> {
        &self.files
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn namespace_with_dir() -> Namespace {
        let mut namespace = Namespace::default();
        namespace.create_dir_all(Path::new("/db"));
        namespace
    }

    #[test]
    fn create_dir_all_creates_ancestors() {
        let mut namespace = Namespace::default();
        namespace.create_dir_all(Path::new("/a/b/c"));
        assert!(namespace.is_directory(Path::new("/a")));
        assert!(namespace.is_directory(Path::new("/a/b/c")));
        assert!(!namespace.is_directory(Path::new("/b")));
    }

    #[test]
    fn sync_dir_makes_changes_durable() {
        let mut namespace = namespace_with_dir();
        namespace.create(Path::new("/db/a"), FileId(1));
        assert!(namespace.durable_files().is_empty());
        namespace.sync_dir(Path::new("/db"));
        assert_eq!(namespace.durable_files().get(Path::new("/db/a")), Some(&FileId(1)));
    }

    #[test]
    fn crash_keeps_a_prefix_per_directory() {
        let mut namespace = namespace_with_dir();
        namespace.create(Path::new("/db/a"), FileId(1));
        namespace.create(Path::new("/db/b"), FileId(2));
        namespace.rename(Path::new("/db/a"), Path::new("/db/c"));
        assert_eq!(namespace.pending(), [(PathBuf::from("/db"), 3)]);
        let outcomes = namespace.crash(|_, _| 2);
        assert_eq!(outcomes, [(PathBuf::from("/db"), 3, 2)]);
        let names: Vec<_> = namespace.files().keys().cloned().collect();
        assert_eq!(names, [PathBuf::from("/db/a"), PathBuf::from("/db/b")]);
    }

    #[test]
    fn rename_within_a_directory_is_atomic() {
        let mut namespace = namespace_with_dir();
        namespace.create(Path::new("/db/a"), FileId(1));
        namespace.sync_dir(Path::new("/db"));
        namespace.rename(Path::new("/db/a"), Path::new("/db/b"));
        assert_eq!(namespace.pending(), [(PathBuf::from("/db"), 1)]);
        namespace.crash(|_, _| 0);
        assert_eq!(namespace.file(Path::new("/db/a")), Some(FileId(1)));
        assert_eq!(namespace.file(Path::new("/db/b")), None);
    }

    #[test]
    fn refers_to_sees_journaled_names() {
        let mut namespace = namespace_with_dir();
        namespace.create(Path::new("/db/a"), FileId(1));
        namespace.remove(Path::new("/db/a"));
        assert!(namespace.refers_to(FileId(1)), "the create may still survive a crash");
        namespace.sync_dir(Path::new("/db"));
        assert!(!namespace.refers_to(FileId(1)));
    }
}
