//! [`HybridLatch`]: one 64-bit word per frame with three ways in — optimistic (read without
//! writing the word, then validate a version), shared (a reader count), exclusive (one writer).
//! Hot inner B+tree pages are read optimistically, so many cores read them without bouncing a
//! shared cache line between them.
//!
//! ```text
//! bit  0        exclusive     a writer holds the latch
//! bits 1..=23   shared count  readers holding it shared (at most SHARED_COUNT_MAX), plus
//!                             readers backing out of a failed attempt (at most one per thread)
//! bits 24..=63  version       bumped by every exclusive release (wraps after 2^40 of them)
//! ```
//!
//! Optimistic reads follow the seqlock pattern, made free of data races in Rust's memory model
//! as Boehm describes ("Can seqlocks get along with programming language memory models?"):
//! - reader: take a token (`Acquire` load of the word; none while a writer holds it), read the
//!   protected data *through atomics*, then validate: an `Acquire` fence, then a load of the word,
//!   which must carry the token's version and no writer;
//! - writer: acquire exclusive (`Acquire` compare-exchange), then a `Release` fence before
//!   writing the data (through atomics), and release with a `Release` read-modify-write that
//!   clears the exclusive bit and bumps the version.
//!
//! If a reader's load saw any store the writer made after its fence, the reader's fence
//! synchronises with the writer's, so the validating load sees the exclusive bit or a later
//! version, and validation fails. The latch orders; it cannot make plain memory reads safe: data
//! read optimistically must be read through atomics, or copied out that way and validated before
//! use (the frame accessors do this).
//!
//! A shared lock is one `fetch_add` on the word, not a load and a compare-exchange: on a line
//! another core wrote last, that is one coherence transaction instead of two. A reader whose
//! increment finds a writer (or the count at its cap) takes it back with a `fetch_sub`, so the
//! count may be above zero for a moment while a writer holds the latch; every change a writer
//! makes to the word is therefore a read-modify-write that leaves the count alone.
//!
//! Invariants (checked by [`HybridLatch::check_invariants`] where observable):
//! 1. The exclusive bit and a shared *hold* never exist together: a shared count above zero
//!    under the exclusive bit counts only readers backing out, so it is zero once no thread is
//!    inside a shared attempt (when the pool checks it).
//! 2. The version changes only when an exclusive holder releases, so a reader that validates saw
//!    no writer between taking its token and validating.
//! 3. A writer takes the latch only by compare-exchange from a word with no holder and no reader
//!    backing out, and changes the word while holding it only by read-modify-writes that keep the
//!    shared count, so a reader's increment and its taking back are never lost.
//! 4. The shared count never carries into the version: holders are capped at `SHARED_COUNT_MAX`
//!    (2^15 - 1), readers backing out are at most one per thread, and Linux allows fewer than
//!    2^22 threads (`PID_MAX_LIMIT`), so the count stays below 2^23.

use crate::sync::{AtomicU64, Ordering, fence, yield_now};

const EXCLUSIVE_BIT: u64 = 1;
const SHARED_SHIFT: u32 = 1;
const SHARED_ONE: u64 = 1 << SHARED_SHIFT;
/// Most readers that can hold one latch shared at once.
pub const SHARED_COUNT_MAX: u64 = 0x7FFF;
/// Bits of the shared count: room for `SHARED_COUNT_MAX` holders and one reader backing out per
/// thread (invariant 4).
const SHARED_BITS: u32 = 23;
const SHARED_MASK: u64 = ((1 << SHARED_BITS) - 1) << SHARED_SHIFT;
const VERSION_SHIFT: u32 = SHARED_SHIFT + SHARED_BITS;
const VERSION_ONE: u64 = 1 << VERSION_SHIFT;
/// Added to an exclusively held word to release it: clears the exclusive bit (which is set, so
/// nothing borrows) and adds one to the version, leaving the shared count as it is.
const EXCLUSIVE_RELEASE: u64 = VERSION_ONE - EXCLUSIVE_BIT;
/// Linux's most threads (`PID_MAX_LIMIT` on 64-bit targets), each backing out of at most one
/// shared attempt at a time.
const THREAD_COUNT_MAX: u64 = 1 << 22;
const _: () = assert!(SHARED_MASK & EXCLUSIVE_BIT == 0);
const _: () = assert!(
    SHARED_COUNT_MAX + THREAD_COUNT_MAX < 1 << SHARED_BITS,
    "holders and readers backing out can carry into the version"
);

/// Spins before yielding the CPU while waiting for a latch: short enough not to burn a core that
/// the holder might need (this machine has two), long enough to ride out a brief hold.
const SPIN_COUNT_BEFORE_YIELD: u32 = 64;

/// Proof that no writer held the latch at some moment, and which version it had then.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct OptimisticToken {
    version: u64,
}

/// The latch word of one frame.
#[derive(Debug)]
pub struct HybridLatch {
    word: AtomicU64,
    /// Under loom only: a stand-in for the data the latch protects, written by every exclusive
    /// holder after its `Release` fence and read-modify-written by `validate` before its
    /// `Acquire` fence. The pool's frames are `std` atomics that loom does not see (see
    /// `sync.rs`), so without it loom cannot know that an optimistic read saw a writer's bytes,
    /// and lets the validating load return a version from before that writer (which the fences
    /// rule out for real atomics). A read-modify-write reads the latest value, as the frames'
    /// `std` loads do in loom's one-thread-at-a-time execution.
    #[cfg(loom)]
    data_written: AtomicU64,
}

impl Default for HybridLatch {
    fn default() -> Self {
        Self::new()
    }
}

impl HybridLatch {
    /// An unlocked latch at version 0.
    pub fn new() -> Self {
        Self {
            word: AtomicU64::new(0),
            #[cfg(loom)]
            data_written: AtomicU64::new(0),
        }
    }

    /// A token for an optimistic read, or `None` while a writer holds the latch.
    #[inline]
    pub fn optimistic(&self) -> Option<OptimisticToken> {
        let word = self.word.load(Ordering::Acquire);
        (word & EXCLUSIVE_BIT == 0).then_some(OptimisticToken { version: word >> VERSION_SHIFT })
    }

    /// Whether everything read (through atomics) since `token` was taken is consistent: no
    /// writer held or released the latch in between.
    #[inline]
    pub fn validate(&self, token: OptimisticToken) -> bool {
        #[cfg(loom)]
        self.data_written.fetch_add(0, Ordering::Relaxed);
        fence(Ordering::Acquire);
        let word = self.word.load(Ordering::Relaxed);
        word & EXCLUSIVE_BIT == 0 && word >> VERSION_SHIFT == token.version
    }

    /// Holds the latch shared, waiting while a writer holds it.
    #[inline]
    pub fn lock_shared(&self) -> SharedGuard<'_> {
        if let Some(guard) = self.try_lock_shared() {
            return guard;
        }
        // While a writer holds it, wait with loads: increments that would be taken back only
        // take the line from the writer, which must write it to leave.
        wait_for(|| {
            let word = self.word.load(Ordering::Relaxed);
            if word & EXCLUSIVE_BIT != 0 { None } else { self.try_lock_shared() }
        })
    }

    /// Holds the latch shared if no writer holds it now.
    #[inline]
    pub fn try_lock_shared(&self) -> Option<SharedGuard<'_>> {
        let before = self.word.fetch_add(SHARED_ONE, Ordering::Acquire);
        if before & EXCLUSIVE_BIT == 0 && (before & SHARED_MASK) >> SHARED_SHIFT < SHARED_COUNT_MAX
        {
            return Some(SharedGuard { latch: self });
        }
        // A writer holds it, or the holders are at their cap: back out (invariants 1 and 4).
        self.word.fetch_sub(SHARED_ONE, Ordering::Relaxed);
        None
    }

    /// Holds the latch exclusively, waiting for every other holder to leave.
    #[inline]
    pub fn lock_exclusive(&self) -> ExclusiveGuard<'_> {
        wait_for(|| self.try_lock_exclusive())
    }

    /// Holds the latch exclusively if nobody holds it now.
    #[inline]
    pub fn try_lock_exclusive(&self) -> Option<ExclusiveGuard<'_>> {
        let word = self.word.load(Ordering::Relaxed);
        if word & (EXCLUSIVE_BIT | SHARED_MASK) != 0 {
            return None;
        }
        self.take_exclusive_from(word)
    }

    /// Turns an optimistic read into exclusive ownership if nothing changed since `token`: the
    /// caller may then act on what it read.
    pub fn try_upgrade(&self, token: OptimisticToken) -> Option<ExclusiveGuard<'_>> {
        self.take_exclusive_from(token.version << VERSION_SHIFT)
    }

    /// Sets the exclusive bit if the word is exactly `expected` (free of holders).
    #[inline]
    fn take_exclusive_from(&self, expected: u64) -> Option<ExclusiveGuard<'_>> {
        debug_assert_eq!(expected & (EXCLUSIVE_BIT | SHARED_MASK), 0);
        self.word
            .compare_exchange(
                expected,
                expected | EXCLUSIVE_BIT,
                Ordering::Acquire,
                Ordering::Relaxed,
            )
            .ok()?;
        // Orders the holder's data writes after the exclusive bit (see the module comment).
        fence(Ordering::Release);
        self.note_data_written();
        Some(ExclusiveGuard { latch: self })
    }

    /// Under loom, writes the stand-in for the protected data (see `data_written`): called by
    /// a new exclusive holder after its `Release` fence, before it writes anything.
    #[inline]
    fn note_data_written(&self) {
        #[cfg(loom)]
        self.data_written.fetch_add(1, Ordering::Relaxed);
    }

    /// The current version (for tests and diagnostics).
    pub fn version(&self) -> u64 {
        self.word.load(Ordering::Relaxed) >> VERSION_SHIFT
    }

    /// Panics if the word breaks invariant 1. Call it only when no thread can be inside a
    /// shared attempt (a reader backing out counts under the exclusive bit for a moment).
    pub fn check_invariants(&self) {
        let word = self.word.load(Ordering::Relaxed);
        assert!(
            word & EXCLUSIVE_BIT == 0 || word & SHARED_MASK == 0,
            "latch word {word:#x} is exclusive and shared at once"
        );
    }
}

/// Retries `attempt` until it succeeds: spinning a little, then yielding, since a holder may
/// need this core to finish. Under loom every retry yields, so that loom explores the holder's
/// progress instead of an endless spin.
#[inline]
fn wait_for<Guard>(mut attempt: impl FnMut() -> Option<Guard>) -> Guard {
    let mut attempt_count = 0u32;
    loop {
        if let Some(guard) = attempt() {
            return guard;
        }
        attempt_count += 1;
        if cfg!(loom) || attempt_count > SPIN_COUNT_BEFORE_YIELD {
            yield_now();
        } else {
            std::hint::spin_loop();
        }
    }
}

/// The latch held shared; released on drop.
#[derive(Debug)]
pub struct SharedGuard<'latch> {
    latch: &'latch HybridLatch,
}

impl<'latch> SharedGuard<'latch> {
    /// Becomes exclusive if this is the only holder; otherwise gives the shared guard back.
    pub fn try_upgrade(self) -> Result<ExclusiveGuard<'latch>, SharedGuard<'latch>> {
        let latch = self.latch;
        let word = latch.word.load(Ordering::Relaxed);
        if word & SHARED_MASK != SHARED_ONE {
            return Err(self);
        }
        let exclusive = (word - SHARED_ONE) | EXCLUSIVE_BIT;
        match latch.word.compare_exchange(word, exclusive, Ordering::Acquire, Ordering::Relaxed) {
            Ok(_) => {
                std::mem::forget(self); // its share became the exclusive hold
                fence(Ordering::Release);
                latch.note_data_written();
                Ok(ExclusiveGuard { latch })
            }
            Err(_) => Err(self),
        }
    }
}

impl Drop for SharedGuard<'_> {
    #[inline]
    fn drop(&mut self) {
        let before = self.latch.word.fetch_sub(SHARED_ONE, Ordering::Release);
        debug_assert!(before & SHARED_MASK != 0, "shared release without a share");
    }
}

/// The latch held exclusively; released on drop with the version bumped.
#[derive(Debug)]
pub struct ExclusiveGuard<'latch> {
    latch: &'latch HybridLatch,
}

impl<'latch> ExclusiveGuard<'latch> {
    /// Releases the exclusive hold (bumping the version, as any release does) and holds the
    /// latch shared in the same read-modify-write, so no other writer can come in between.
    pub fn downgrade(self) -> SharedGuard<'latch> {
        let latch = self.latch;
        std::mem::forget(self); // its hold becomes the share added below
        let before = latch.word.fetch_add(EXCLUSIVE_RELEASE + SHARED_ONE, Ordering::Release);
        debug_assert!(before & EXCLUSIVE_BIT != 0, "downgrade without the exclusive bit");
        SharedGuard { latch }
    }
}

impl Drop for ExclusiveGuard<'_> {
    #[inline]
    fn drop(&mut self) {
        // Invariant 3: readers backing out may change the count meanwhile, so not a store.
        let before = self.latch.word.fetch_add(EXCLUSIVE_RELEASE, Ordering::Release);
        debug_assert!(before & EXCLUSIVE_BIT != 0, "exclusive release without the exclusive bit");
    }
}

#[cfg(all(test, not(loom)))]
mod tests {
    use std::sync::Arc;
    use std::sync::atomic::AtomicU64 as StdAtomicU64;

    use super::*;

    #[test]
    fn modes_exclude_each_other_and_versions_move_on_exclusive_release() {
        let latch = HybridLatch::new();
        let token = latch.optimistic().unwrap();
        let shared = latch.lock_shared();
        assert!(latch.try_lock_exclusive().is_none(), "shared blocks exclusive");
        assert!(latch.try_lock_shared().is_some(), "shared admits shared");
        assert!(latch.validate(token), "shared holders do not invalidate readers");
        drop(shared);
        let exclusive = latch.lock_exclusive();
        assert!(latch.optimistic().is_none(), "no optimistic token under a writer");
        assert!(latch.try_lock_shared().is_none());
        assert!(!latch.validate(token), "a writer holding the latch invalidates");
        drop(exclusive);
        assert_eq!(latch.version(), 1);
        assert!(!latch.validate(token), "a completed write invalidates");
        latch.check_invariants();
    }

    #[test]
    fn upgrades_succeed_only_when_nothing_intervened() {
        let latch = HybridLatch::new();
        let token = latch.optimistic().unwrap();
        drop(latch.try_upgrade(token).expect("nothing changed since the token"));
        assert!(latch.try_upgrade(token).is_none(), "the version moved on");
        let first = latch.lock_shared();
        let second = latch.lock_shared();
        let first = first.try_upgrade().expect_err("another reader holds it");
        drop(second);
        let exclusive = first.try_upgrade().expect("the only reader may upgrade");
        assert!(latch.try_lock_shared().is_none());
        drop(exclusive);
        assert!(latch.try_lock_exclusive().is_some(), "the upgraded hold was released");
    }

    #[test]
    fn a_downgrade_keeps_writers_out_and_moves_the_version() {
        let latch = HybridLatch::new();
        let token = latch.optimistic().unwrap();
        let shared = latch.lock_exclusive().downgrade();
        assert!(!latch.validate(token), "the exclusive hold it came from invalidates");
        assert!(latch.try_lock_exclusive().is_none(), "still held shared");
        assert!(latch.try_lock_shared().is_some(), "other readers may join");
        let after = latch.optimistic().expect("no writer holds it");
        drop(shared);
        assert!(latch.validate(after), "a shared release does not move the version");
        assert!(latch.try_lock_exclusive().is_some());
        latch.check_invariants();
    }

    #[test]
    fn the_shared_count_saturates_instead_of_overflowing() {
        let latch = HybridLatch::new();
        let guards: Vec<SharedGuard<'_>> =
            (0..SHARED_COUNT_MAX).map(|_| latch.try_lock_shared().unwrap()).collect();
        assert!(latch.try_lock_shared().is_none());
        assert!(latch.try_lock_exclusive().is_none());
        drop(guards);
        assert!(latch.try_lock_exclusive().is_some());
    }

    #[test]
    fn an_exclusive_release_keeps_readers_backing_out_and_wraps_the_version() {
        let latch = HybridLatch::new();
        // The last version, held exclusively, with one reader between its increment and its
        // taking back.
        latch.word.store(!0 << VERSION_SHIFT | SHARED_ONE | EXCLUSIVE_BIT, Ordering::Relaxed);
        drop(ExclusiveGuard { latch: &latch });
        assert_eq!(latch.version(), 0, "the version wraps without carrying out of the word");
        assert!(latch.try_lock_exclusive().is_none(), "the reader's increment is still counted");
        latch.word.fetch_sub(SHARED_ONE, Ordering::Relaxed); // the reader backs out
        latch.check_invariants();
        let shared = latch.try_lock_exclusive().expect("nobody holds it").downgrade();
        assert_eq!(latch.version(), 1);
        assert!(latch.try_lock_exclusive().is_none(), "held shared after the downgrade");
        drop(shared);
        assert_eq!(latch.word.load(Ordering::Relaxed), 1 << VERSION_SHIFT, "no count is left");
    }

    /// Writers keep two atomics equal under the exclusive latch; optimistic readers that
    /// validate never see them differ, shared readers never do either.
    #[test]
    fn readers_never_validate_a_torn_write() {
        struct Protected {
            latch: HybridLatch,
            left: StdAtomicU64,
            right: StdAtomicU64,
        }
        let protected = Arc::new(Protected {
            latch: HybridLatch::new(),
            left: StdAtomicU64::new(0),
            right: StdAtomicU64::new(0),
        });
        let threads: Vec<_> = (0..4)
            .map(|thread| {
                let protected = Arc::clone(&protected);
                std::thread::spawn(move || {
                    for round in 0..20_000u64 {
                        if thread == 0 {
                            let _guard = protected.latch.lock_exclusive();
                            protected.left.store(round, Ordering::Relaxed);
                            protected.right.store(round, Ordering::Relaxed);
                        } else if thread == 1 {
                            let _guard = protected.latch.lock_shared();
                            let left = protected.left.load(Ordering::Relaxed);
                            assert_eq!(left, protected.right.load(Ordering::Relaxed));
                        } else if let Some(token) = protected.latch.optimistic() {
                            let left = protected.left.load(Ordering::Relaxed);
                            let right = protected.right.load(Ordering::Relaxed);
                            if protected.latch.validate(token) {
                                assert_eq!(left, right, "a validated read saw a torn write");
                            }
                        }
                    }
                })
            })
            .collect();
        for thread in threads {
            thread.join().unwrap();
        }
        // How many optimistic reads validated depends on scheduling, so it is not asserted; once
        // the writer is gone, one must validate and see its last write whole.
        let token = protected.latch.optimistic().expect("no writer left");
        let left = protected.left.load(Ordering::Relaxed);
        assert_eq!(left, protected.right.load(Ordering::Relaxed));
        assert_eq!(left, 19_999);
        assert!(protected.latch.validate(token));
        protected.latch.check_invariants();
    }
}

#[cfg(all(test, loom))]
mod loom_models {
    //! `RUSTFLAGS="--cfg loom" cargo test -p bufferpool --release --lib loom_models`

    use loom::sync::Arc;
    use loom::sync::atomic::AtomicU64 as LoomAtomicU64;

    use super::*;

    fn model(body: impl Fn() + Sync + Send + 'static) {
        let mut builder = loom::model::Builder::new();
        builder.preemption_bound = Some(3);
        // Waiting for a latch spins (with yields), which multiplies the branches loom explores.
        builder.max_branches = 100_000;
        builder.check(body);
    }

    struct Pair {
        latch: HybridLatch,
        left: LoomAtomicU64,
        right: LoomAtomicU64,
    }

    fn pair() -> Arc<Pair> {
        Arc::new(Pair {
            latch: HybridLatch::new(),
            left: LoomAtomicU64::new(0),
            right: LoomAtomicU64::new(0),
        })
    }

    /// A writer changes both halves under the exclusive latch; an optimistic reader that
    /// validates never saw one half changed without the other — under every interleaving and
    /// every ordering the memory model allows.
    #[test]
    fn a_validated_optimistic_read_is_never_torn() {
        model(|| {
            let pair = pair();
            let writer = {
                let pair = Arc::clone(&pair);
                loom::thread::spawn(move || {
                    let _guard = pair.latch.lock_exclusive();
                    pair.left.store(1, Ordering::Relaxed);
                    pair.right.store(1, Ordering::Relaxed);
                })
            };
            if let Some(token) = pair.latch.optimistic() {
                let left = pair.left.load(Ordering::Relaxed);
                let right = pair.right.load(Ordering::Relaxed);
                if pair.latch.validate(token) {
                    assert_eq!(left, right);
                }
            }
            writer.join().unwrap();
        });
    }

    /// A writer and a reader that upgrades: the two exclusive sections never overlap each other
    /// or the reader's shared section, whoever wins.
    #[test]
    fn a_writer_and_an_upgrading_reader_never_overlap() {
        model(|| {
            let pair = pair();
            let reader = {
                let pair = Arc::clone(&pair);
                loom::thread::spawn(move || {
                    let shared = pair.latch.lock_shared();
                    assert_eq!(
                        pair.left.load(Ordering::Relaxed),
                        pair.right.load(Ordering::Relaxed)
                    );
                    if let Ok(_exclusive) = shared.try_upgrade() {
                        pair.left.fetch_add(1, Ordering::Relaxed);
                        pair.right.fetch_add(1, Ordering::Relaxed);
                    }
                })
            };
            {
                let _exclusive = pair.latch.lock_exclusive();
                pair.left.fetch_add(1, Ordering::Relaxed);
                pair.right.fetch_add(1, Ordering::Relaxed);
            }
            reader.join().unwrap();
            pair.latch.check_invariants();
        });
    }

    /// A reader trying for a share while a writer holds the latch and downgrades: the
    /// reader's increment, and its taking back if it found the writer, are not lost to the
    /// writer's release, so no count is left over once both are gone.
    #[test]
    fn a_reader_backing_out_is_not_lost_to_a_release() {
        model(|| {
            let pair = pair();
            let reader = {
                let pair = Arc::clone(&pair);
                loom::thread::spawn(move || {
                    if let Some(_shared) = pair.latch.try_lock_shared() {
                        assert_eq!(
                            pair.left.load(Ordering::Relaxed),
                            pair.right.load(Ordering::Relaxed)
                        );
                    }
                })
            };
            let exclusive = pair.latch.lock_exclusive();
            pair.left.fetch_add(1, Ordering::Relaxed);
            pair.right.fetch_add(1, Ordering::Relaxed);
            drop(exclusive.downgrade());
            reader.join().unwrap();
            pair.latch.check_invariants();
            assert_eq!(pair.latch.version(), 1);
            assert!(pair.latch.try_lock_exclusive().is_some(), "a share was left behind");
        });
    }

    /// Two readers: an upgrade succeeds only while the upgrading reader is the sole holder, so
    /// the other reader never sees the write half done.
    #[test]
    fn an_upgrade_waits_for_no_other_reader() {
        model(|| {
            let pair = pair();
            let other = {
                let pair = Arc::clone(&pair);
                loom::thread::spawn(move || {
                    let _shared = pair.latch.lock_shared();
                    assert_eq!(
                        pair.left.load(Ordering::Relaxed),
                        pair.right.load(Ordering::Relaxed)
                    );
                })
            };
            let shared = pair.latch.lock_shared();
            if let Ok(_exclusive) = shared.try_upgrade() {
                pair.left.fetch_add(1, Ordering::Relaxed);
                pair.right.fetch_add(1, Ordering::Relaxed);
            }
            other.join().unwrap();
            pair.latch.check_invariants();
        });
    }
}
