//! Planted bugs: durability steps that a test can switch off at run time, to prove that the
//! crash harness (`directdb crashtest`) notices when one is missing. Compiled in only with the
//! `planted-bugs` feature; without it [`active`] is a constant `false` and every hook folds away.
//!
//! Each hook is one line at the call site of the step it removes:
//!
//! | bug                            | the step skipped                                          | where                              |
//! |--------------------------------|-----------------------------------------------------------|------------------------------------|
//! | [`Bug::SkipWalFlush`]          | a commit's wait for its log records to be durable         | `engine::db`, `Inner::commit`      |
//! | [`Bug::SkipSegmentDirSync`]    | the directory fsync after a log segment is created        | `wal::writer`, `SegmentJob::run`   |
//! | [`Bug::AcceptTornTail`]        | recovery's payload checksum: a torn record reads as valid  | `wal::record`, `decode`            |
//! | [`Bug::SkipCheckpointFlush`]   | a checkpoint's page flush before its header write          | `engine::db`, `Inner::checkpoint`  |
//!
//! The switch is process-wide (an atomic bit set), so tests that plant bugs must not run beside
//! tests that expect none in the same process.

#[cfg(feature = "planted-bugs")]
use std::sync::atomic::{AtomicU32, Ordering};

/// A durability step a test can remove.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Bug {
    /// A commit is acknowledged without waiting for its log records to be durable.
    SkipWalFlush,
    /// A new log segment's directory entry is never made durable.
    SkipSegmentDirSync,
    /// Recovery accepts a record whose payload does not match its checksum (a torn tail).
    AcceptTornTail,
    /// A checkpoint writes its header without first writing the tree's dirty pages.
    SkipCheckpointFlush,
}

impl Bug {
    /// Every planted bug.
    pub const ALL: [Bug; 4] =
        [Bug::SkipWalFlush, Bug::SkipSegmentDirSync, Bug::AcceptTornTail, Bug::SkipCheckpointFlush];

    /// The name on the command line (`--plant skip-wal-flush`).
    pub fn name(self) -> &'static str {
        match self {
            Bug::SkipWalFlush => "skip-wal-flush",
            Bug::SkipSegmentDirSync => "skip-segment-dir-sync",
            Bug::AcceptTornTail => "accept-torn-tail",
            Bug::SkipCheckpointFlush => "skip-checkpoint-flush",
        }
    }

    /// The bug named `name` (see [`Bug::name`]).
    pub fn from_name(name: &str) -> Option<Bug> {
        Bug::ALL.into_iter().find(|bug| bug.name() == name)
    }

    #[cfg(feature = "planted-bugs")]
    fn bit(self) -> u32 {
        1 << (self as u32)
    }
}

#[cfg(feature = "planted-bugs")]
static PLANTED: AtomicU32 = AtomicU32::new(0);

/// Whether `bug` is planted (always `false` without the `planted-bugs` feature).
#[inline]
pub fn active(bug: Bug) -> bool {
    #[cfg(feature = "planted-bugs")]
    {
        PLANTED.load(Ordering::Relaxed) & bug.bit() != 0
    }
    #[cfg(not(feature = "planted-bugs"))]
    {
        let _ = bug;
        false
    }
}

/// Runs `step` unless `bug` is planted (then reports success with a default value): the
/// one-line hook at a durability step's call site.
#[inline]
pub fn unless<T: Default, E>(bug: Bug, step: impl FnOnce() -> Result<T, E>) -> Result<T, E> {
    if active(bug) { Ok(T::default()) } else { step() }
}

/// Plants `bug` in this process until [`clear`].
#[cfg(feature = "planted-bugs")]
pub fn plant(bug: Bug) {
    PLANTED.fetch_or(bug.bit(), Ordering::Relaxed);
}

/// Removes every planted bug.
#[cfg(feature = "planted-bugs")]
pub fn clear() {
    PLANTED.store(0, Ordering::Relaxed);
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_round_trip() {
        for bug in Bug::ALL {
            assert_eq!(Bug::from_name(bug.name()), Some(bug));
        }
        assert_eq!(Bug::from_name("no-such-bug"), None);
    }

    #[cfg(not(feature = "planted-bugs"))]
    #[test]
    fn nothing_is_planted_without_the_feature() {
        assert!(Bug::ALL.into_iter().all(|bug| !active(bug)));
        assert_eq!(unless(Bug::SkipWalFlush, || Err::<(), _>("ran")), Err("ran"));
    }
}
