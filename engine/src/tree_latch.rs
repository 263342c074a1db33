//! [`TreeLatch`]: the tree-wide latch between the B+tree's readers and the thread that changes
//! it (the applier of committed versions; also a checkpoint's freeze and the integrity check).
//!
//! Two parts, held together by a writer:
//! - a blocking reader-writer lock: writers hold it exclusively; scans, and point reads that gave
//!   up on optimism, hold it shared and sleep while a writer works;
//! - a version latch ([`bufferpool::HybridLatch`], the frames' latch, model-checked with loom),
//!   held exclusively by every writer, so its version moves on with every change to the tree.
//!   Nobody holds it shared.
//!
//! A point read holds neither. It takes an optimistic token, descends reading each page
//! optimistically through the pool (each page read is validated by its frame's latch, so it is
//! one whole image of the page, even if the frame is evicted and reused meanwhile), and then
//! validates the token. If no writer held the latch in between, every page it read belongs to
//! the one state of the tree between two changes, exactly as if it had held the lock shared: its
//! answer stands, error or value. Otherwise it may have followed a child pointer across a split
//! or a merge, or into a freed page, and the answer (or the error) is thrown away. A shared hold
//! of the lock writes a cache line every reader shares; a token and a validation only read it.
//!
//! Why this is sound (the latch's module doc has the seqlock argument in full): every change to
//! the tree's pages and root happens under the exclusive hold, after the version latch's
//! acquisition fence, and every byte a reader reads is read through atomics (frame words, the
//! root), so a reader that saw any of a writer's changes fails validation. The engine's
//! `concurrency_optimistic_reads` test checks readers against a model while splits, merges and
//! root changes run.

use bufferpool::{ExclusiveGuard, HybridLatch, OptimisticToken};
use parking_lot::{RwLock, RwLockReadGuard, RwLockWriteGuard};

/// The tree-wide latch (see the module doc).
#[derive(Debug, Default)]
pub(crate) struct TreeLatch {
    blocking: RwLock<()>,
    version: HybridLatch,
}

/// The tree held for a change: readers are out, and optimistic readers will fail validation.
pub(crate) struct TreeWriteGuard<'latch> {
    // Fields drop in order: the version moves on before the blocking lock lets anyone in.
    _version: ExclusiveGuard<'latch>,
    _blocking: RwLockWriteGuard<'latch, ()>,
}

impl TreeLatch {
    /// Holds the tree for a change, waiting for readers that hold it shared to leave.
    pub(crate) fn write(&self) -> TreeWriteGuard<'_> {
        let blocking = self.blocking.write();
        // Only holders of the blocking lock's write side take the version latch, and nobody
        // takes it shared: this never waits.
        let version = self.version.try_lock_exclusive().expect("the version latch is free");
        TreeWriteGuard { _version: version, _blocking: blocking }
    }

    /// Holds the tree shared: no change runs until the guard is dropped.
    pub(crate) fn read(&self) -> RwLockReadGuard<'_, ()> {
        self.blocking.read()
    }

    /// A token for an optimistic read, or `None` while a change runs.
    #[inline]
    pub(crate) fn optimistic(&self) -> Option<OptimisticToken> {
        self.version.optimistic()
    }

    /// Whether no change ran since `token` was taken: then what was read since stands.
    #[inline]
    pub(crate) fn validate(&self, token: OptimisticToken) -> bool {
        self.version.validate(token)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_change_invalidates_tokens_and_excludes_readers() {
        let latch = TreeLatch::default();
        let token = latch.optimistic().expect("no change runs");
        assert!(latch.validate(token));
        drop(latch.read());
        assert!(latch.validate(token), "a shared hold does not invalidate");
        let change = latch.write();
        assert!(latch.optimistic().is_none(), "no token while a change runs");
        assert!(!latch.validate(token), "a running change invalidates");
        assert!(latch.blocking.try_read().is_none(), "a change excludes shared holders");
        drop(change);
        assert!(!latch.validate(token), "a finished change invalidates");
        let after = latch.optimistic().expect("the change is over");
        assert!(latch.validate(after));
        drop(latch.write());
        assert!(latch.optimistic().is_some(), "the version latch was released");
    }
}
