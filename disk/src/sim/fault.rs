//! Fault injection for [`crate::SimDisk`]: which operation fails, when, and how.
//!
//! Every operation that reaches the (simulated) device is counted by kind ([`OperationCounts`]).
//! A [`Fault`] names a kind (or any kind), an index among the operations it counts, whether it
//! fires once or from then on, and its effect. Indices are 0-based and count from the creation of
//! the `SimDisk` (a crash does not reset them), so a harness can run a workload once, read
//! [`crate::SimDisk::operation_counts`], and then replay it once per index with an error at that
//! index:
//!
//! ```
//! use disk::SimDisk;
//! use disk::sim::{Fault, Operation, Trigger};
//!
//! let disk = SimDisk::with_seed(7);
//! // ... run the workload, then read how many writes it issued ...
//! let write_count = disk.operation_counts().get(Operation::Write);
//! for write_index in 0..write_count {
//!     let disk = SimDisk::with_seed(7);
//!     disk.inject(Fault::io_error(Operation::Write, Trigger::Once { index: write_index }));
//!     // ... run the workload again and check it reports the error and recovers ...
//! }
//! ```
//!
//! Injected errors are [`crate::Error::Io`] with the kernel's errno, so the layers above take the
//! same path as for a real error.

use std::fmt;

/// A kind of operation the simulated disk counts and can fail.
///
/// Queries that a kernel answers from memory (`size_bytes`, `exists`, `list_dir`) are neither
/// counted nor failed.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Operation {
    /// [`crate::Disk::open`].
    Open,
    /// [`crate::File::read_at`], or one read request of [`crate::File::submit`].
    Read,
    /// [`crate::File::write_at`], [`crate::File::write_at_durable`], or one write request of
    /// [`crate::File::submit`].
    Write,
    /// [`crate::File::sync_data`].
    Flush,
    /// [`crate::File::allocate`].
    Allocate,
    /// [`crate::File::truncate`].
    Truncate,
    /// [`crate::Disk::remove`].
    Remove,
    /// [`crate::Disk::rename`].
    Rename,
    /// [`crate::Disk::sync_dir`].
    SyncDir,
    /// [`crate::Disk::create_dir_all`].
    CreateDir,
    /// [`crate::Disk::lock`].
    Lock,
}

impl Operation {
    /// Every kind, in the order [`OperationCounts`] lists them.
    pub const ALL: [Operation; 11] = [
        Operation::Open,
        Operation::Read,
        Operation::Write,
        Operation::Flush,
        Operation::Allocate,
        Operation::Truncate,
        Operation::Remove,
        Operation::Rename,
        Operation::SyncDir,
        Operation::CreateDir,
        Operation::Lock,
    ];

    /// The name the kernel-facing backends put into [`crate::Error::Io::operation`].
    pub fn name(self) -> &'static str {
        match self {
            Operation::Open => "open",
            Operation::Read => "read",
            Operation::Write => "write",
            Operation::Flush => "fdatasync",
            Operation::Allocate => "fallocate",
            Operation::Truncate => "ftruncate",
            Operation::Remove => "unlink",
            Operation::Rename => "rename",
            Operation::SyncDir => "fsync",
            Operation::CreateDir => "mkdir",
            Operation::Lock => "flock",
        }
    }

    fn position(self) -> usize {
        match self {
            Operation::Open => 0,
            Operation::Read => 1,
            Operation::Write => 2,
            Operation::Flush => 3,
            Operation::Allocate => 4,
            Operation::Truncate => 5,
            Operation::Remove => 6,
            Operation::Rename => 7,
            Operation::SyncDir => 8,
            Operation::CreateDir => 9,
            Operation::Lock => 10,
        }
    }
}

/// How many operations of each kind the simulated disk has seen since it was created,
/// including failed ones (but not requests rejected as misaligned or made on a handle from
/// before a crash: those never reach the device).
#[derive(Clone, Copy, Default, PartialEq, Eq)]
pub struct OperationCounts {
    counts: [u64; Operation::ALL.len()],
}

impl OperationCounts {
    /// Operations of one kind.
    pub fn get(&self, operation: Operation) -> u64 {
        self.counts[operation.position()]
    }

    /// Operations of every kind together.
    pub fn total(&self) -> u64 {
        self.counts.iter().sum()
    }

    fn increment(&mut self, operation: Operation) {
        self.counts[operation.position()] += 1;
    }
}

impl fmt::Debug for OperationCounts {
    fn fmt(&self, formatter: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut map = formatter.debug_map();
        for operation in Operation::ALL {
            map.entry(&operation.name(), &self.get(operation));
        }
        map.finish()
    }
}

/// Which operations a [`Fault`] counts and fires on.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum FaultTarget {
    /// Every counted operation; the index is into [`OperationCounts::total`].
    Any,
    /// One kind; the index is into [`OperationCounts::get`] of that kind.
    Only(Operation),
}

/// When a [`Fault`] fires, as a 0-based index among the operations its target counts.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Trigger {
    /// Only at the operation with this index (a transient error).
    Once {
        /// The operation's index.
        index: u64,
    },
    /// At the operation with this index and every one after it (a dead device).
    From {
        /// The first failing operation's index.
        index: u64,
    },
}

impl Trigger {
    fn fires_at(self, operation_index: u64) -> bool {
        match self {
            Trigger::Once { index } => operation_index == index,
            Trigger::From { index } => operation_index >= index,
        }
    }
}

/// What a [`Fault`] does when it fires.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum FaultEffect {
    /// The operation fails with [`crate::Error::Io`] carrying this errno (`libc::EIO`, ...).
    ///
    /// A failed write leaves its target range in an unknown state (each sector either written
    /// or not, chosen by the seed) and is never made durable by a later flush. A failed flush
    /// leaves the file's unflushed writes unflushed for good: a later successful
    /// [`crate::File::sync_data`] does not make them durable (Linux marks the pages clean after a
    /// failed `fsync`, so retrying it proves nothing).
    Error {
        /// The errno.
        errno: i32,
    },
    /// A write reports success but lands at another aligned offset of the same file.
    MisdirectedWrite,
    /// A read returns the stored data with one bit flipped (the stored data is intact).
    BitFlipOnRead,
    /// A write reports success but stores its data with one bit flipped.
    BitFlipOnWrite,
}

/// One fault to inject into a [`crate::SimDisk`] (see [`crate::SimDisk::inject`]).
///
/// An effect that does not apply to the operation it fires on (a misdirected "write" that fires
/// on a read) does nothing.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Fault {
    /// Which operations it counts.
    pub target: FaultTarget,
    /// At which of them it fires.
    pub trigger: Trigger,
    /// What it does.
    pub effect: FaultEffect,
}

impl Fault {
    /// `EIO` on operations of one kind.
    pub fn io_error(operation: Operation, trigger: Trigger) -> Self {
        Self::error(FaultTarget::Only(operation), trigger, libc::EIO)
    }

    /// `EIO` on the operation at `trigger` counting every kind together.
    pub fn io_error_on_any(trigger: Trigger) -> Self {
        Self::error(FaultTarget::Any, trigger, libc::EIO)
    }

    /// Any errno on any target.
    pub fn error(target: FaultTarget, trigger: Trigger, errno: i32) -> Self {
        Self { target, trigger, effect: FaultEffect::Error { errno } }
    }

    /// Writes that land at another offset than requested.
    pub fn misdirected_write(trigger: Trigger) -> Self {
        Self {
            target: FaultTarget::Only(Operation::Write),
            trigger,
            effect: FaultEffect::MisdirectedWrite,
        }
    }

    /// Reads that return one flipped bit.
    pub fn bit_flip_on_read(trigger: Trigger) -> Self {
        Self {
            target: FaultTarget::Only(Operation::Read),
            trigger,
            effect: FaultEffect::BitFlipOnRead,
        }
    }

    /// Writes that store one flipped bit.
    pub fn bit_flip_on_write(trigger: Trigger) -> Self {
        Self {
            target: FaultTarget::Only(Operation::Write),
            trigger,
            effect: FaultEffect::BitFlipOnWrite,
        }
    }
}

/// The faults that fired on one operation.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub(super) struct Fired {
    /// The errno of the first error fault that fired.
    pub(super) errno: Option<i32>,
    pub(super) misdirected_write: bool,
    pub(super) bit_flip_on_read: bool,
    pub(super) bit_flip_on_write: bool,
}

/// The injected faults and the operation counters they are indexed by.
#[derive(Clone, Debug, Default)]
pub(super) struct FaultPlan {
    pub(super) faults: Vec<Fault>,
    pub(super) counts: OperationCounts,
}

impl FaultPlan {
    /// Counts one operation of kind `operation` and returns the faults that fire on it.
    pub(super) fn count(&mut self, operation: Operation) -> Fired {
        let index_of_kind = self.counts.get(operation);
        let index_overall = self.counts.total();
        self.counts.increment(operation);
        let mut fired = Fired::default();
        for fault in &self.faults {
            let index = match fault.target {
                FaultTarget::Any => index_overall,
                FaultTarget::Only(kind) if kind == operation => index_of_kind,
                FaultTarget::Only(_) => continue,
            };
            if !fault.trigger.fires_at(index) {
                continue;
            }
            match fault.effect {
                FaultEffect::Error { errno } => fired.errno = fired.errno.or(Some(errno)),
                FaultEffect::MisdirectedWrite => {
                    fired.misdirected_write |= operation == Operation::Write;
                }
                FaultEffect::BitFlipOnRead => {
                    fired.bit_flip_on_read |= operation == Operation::Read
                }
                FaultEffect::BitFlipOnWrite => {
                    fired.bit_flip_on_write |= operation == Operation::Write;
                }
            }
        }
        fired
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn once_fires_at_exactly_one_index_of_its_kind() {
        let mut plan = FaultPlan::default();
        plan.faults.push(Fault::io_error(Operation::Write, Trigger::Once { index: 1 }));
        assert_eq!(plan.count(Operation::Write).errno, None);
        assert_eq!(plan.count(Operation::Read).errno, None, "reads do not count as writes");
        assert_eq!(plan.count(Operation::Write).errno, Some(libc::EIO));
        assert_eq!(plan.count(Operation::Write).errno, None);
        assert_eq!(plan.counts.get(Operation::Write), 3);
        assert_eq!(plan.counts.total(), 4);
    }

    #[test]
    fn from_fires_at_every_later_index() {
        let mut plan = FaultPlan::default();
        plan.faults.push(Fault::io_error(Operation::Flush, Trigger::From { index: 1 }));
        let errors: Vec<_> = (0..4).map(|_| plan.count(Operation::Flush).errno).collect();
        assert_eq!(errors, [None, Some(libc::EIO), Some(libc::EIO), Some(libc::EIO)]);
    }

    #[test]
    fn any_target_counts_every_kind() {
        let mut plan = FaultPlan::default();
        plan.faults.push(Fault::io_error_on_any(Trigger::Once { index: 2 }));
        assert_eq!(plan.count(Operation::Open).errno, None);
        assert_eq!(plan.count(Operation::Write).errno, None);
        assert_eq!(plan.count(Operation::Read).errno, Some(libc::EIO));
    }

    #[test]
    fn effects_only_apply_to_their_operation() {
        let mut plan = FaultPlan::default();
        plan.faults.push(Fault {
            target: FaultTarget::Any,
            trigger: Trigger::From { index: 0 },
            effect: FaultEffect::MisdirectedWrite,
        });
        assert!(!plan.count(Operation::Read).misdirected_write);
        assert!(plan.count(Operation::Write).misdirected_write);
    }
}
