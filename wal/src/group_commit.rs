//! The group-commit hand-off: many committers, one flush in flight, every waiter released by the
//! flush that covers it.
//!
//! ```text
//!             ┌──── durable ≥ target ──────────────────────────────> return Ok
//! committer ──┼──── failure recorded ──────────────────────────────> return Err (sticky)
//!   (lock)    ├── a flush is in flight ──> register, park ──┬─ durable ──> return Ok (no lock)
//!             │                                             └─ recheck ──> lock, from the top
//!             └── none in flight ──> leader: take the batch, set `flushing`, unlock,
//!                                    write + flush, lock, publish the result, clear
//!                                    `flushing`, unlock, wake one successor ("recheck": it
//!                                    leads the next batch) and the covered waiters
//!                                    ("durable"), lock, re-check
//! ```
//!
//! What each choice saves, measured with 64 committers on 2 cores, where the CPU (context
//! switches and wake-ups), not the device, runs out first:
//! - Waking only the covered waiters and one successor instead of every waiter: waking all of
//!   them after each flush spent more CPU on context switches than the flushes took.
//! - A covered waiter learns from its slot that it is durable and returns without taking the lock
//!   again, and [`GroupCommit::append_then_wait`] appends and registers under one lock hold: a
//!   committer that does not lead takes the contended lock once per commit instead of three times.
//! - The covered waiters are woken as a tree ([`wake_tree`]): the leader wakes a few, each handed
//!   a share of the rest to wake in turn, about log2(n) wake-ups per thread instead of n for the
//!   leader (a wake-up is a system call of a few microseconds here). The leader's own committer
//!   gets back to work sooner, and the wake-ups run on both CPUs at once.
//!
//! Tried and measured worse (so not done): a leader that takes the next batch itself when waiters
//! remain, rather than waking a successor. The device idled less, but the committers it woke
//! kept both CPUs busy while its write and flush completed, so each of its device calls came back
//! later (64 committers: about 150K commits/s against 175K).
//!
//! Invariants:
//! 1. At most one batch is in flight (`flushing`), so a batch is written only after every
//!    earlier batch is durable, and the durable point only moves forward.
//! 2. A batch takes everything appended so far, so it covers every waiter registered before it
//!    started. When `flushing` clears, every registered waiter is either covered (and taken out
//!    to be woken), or waits for the next batch, and if any such waiter exists one of them is
//!    woken to lead it (unless a newcomer leads first, whose batch then covers it). No waiter
//!    sleeps forever.
//! 3. A failure is sticky: once recorded, every current and later waiter gets it (all woken to
//!    recheck under the lock).
//! 4. If the leader's I/O panics, the failure is recorded, `flushing` cleared and everyone woken
//!    on unwind.
//! 5. A waiter taken out of the wait list is always woken, after the lock is released: by the
//!    leader, or by the waiter it was handed to, who wakes its share before it returns. Its
//!    outcome (and its share) is stored before `unpark`, so a wake-up that lands before the
//!    waiter parks is not lost.

use crate::lsn::Lsn;
use crate::sync::{Arc, AtomicU8, Mutex, MutexGuard, Ordering, Thread, current, park, yield_now};

/// How many times a new leader lets other committers run before taking its batch, when others
/// are waiting (so committers are active). A yield lets committers that the last batch just
/// released append and join this batch. Measured with 64 committers on 2 cores: one yield took
/// throughput from 147K to about 175K commits/s; two or three gave 150-160K (batches no larger,
/// longer gaps between them). Making the leader claim the flush before its yield, so that only
/// it yields and newcomers register instead, gave larger batches but longer gaps (about 150K).
const LEADER_YIELD_COUNT_MAX: u32 = 1;

/// The log state the protocol runs over (the writer's tail in the crate; a toy in loom tests).
pub(crate) trait CommitState {
    /// What the leader writes.
    type Batch;
    /// Everything below this is durable.
    fn lsn_durable(&self) -> Lsn;
    /// The sticky failure, if any.
    fn failure(&self) -> Option<String>;
    /// Takes everything appended but not yet durable, or `None` if there is nothing.
    fn take_batch(&mut self) -> Option<Self::Batch>;
    /// Publishes the outcome of writing `batch`.
    fn finish_batch(&mut self, batch: Self::Batch, result: Result<(), String>);
}

/// A parked waiter's outcome: not yet woken.
const OUTCOME_PENDING: u8 = 0;
/// A batch covered the waiter's target: it returns without taking the lock.
const OUTCOME_DURABLE: u8 = 1;
/// Chosen to lead the next batch, or the log failed: take the lock and check again.
const OUTCOME_RECHECK: u8 = 2;

/// Where a parked waiter learns why it was woken, and which waiters it must wake in turn.
struct Slot {
    outcome: AtomicU8,
    /// Covered waiters this one wakes once woken (its share of the wake-up tree).
    share: Mutex<Vec<Waiter>>,
}

/// A committer parked until a flush covers its target or it is chosen to lead.
struct Waiter {
    target: Lsn,
    thread: Thread,
    slot: Arc<Slot>,
}

impl Waiter {
    /// Hands `share` to this waiter, sets its outcome, and unparks it.
    fn wake(self, outcome: u8, share: Vec<Waiter>) {
        if !share.is_empty() {
            *self.slot.share.lock().expect("a slot's share is never held across a panic") = share;
        }
        self.slot.outcome.store(outcome, Ordering::Release);
        self.thread.unpark();
    }
}

/// Wakes every waiter in `waiters` with `outcome`, as a tree: this thread wakes the first of the
/// back half and hands it the rest of that half, then does the same with the front half, until
/// none is left. With n waiters this thread makes about log2(n) wake-ups, and so does each
/// waiter it wakes; the last is woken after about log2(n) steps instead of n.
///
/// Worked example, 7 waiters 0..=6: wake 3 with [4, 5, 6]; wake 1 with [2]; wake 0. Waiter 3
/// then wakes 5 with [6] and 4; waiter 1 wakes 2; waiter 5 wakes 6.
fn wake_tree(mut waiters: Vec<Waiter>, outcome: u8) {
    while !waiters.is_empty() {
        let mut back = waiters.split_off(waiters.len() / 2);
        let first = back.remove(0);
        first.wake(outcome, back);
    }
}

struct Guarded<State> {
    state: State,
    flushing: bool,
    waiters: Vec<Waiter>,
}

/// Who a leader wakes after a batch, once it has released the lock.
struct Wakeups {
    /// The uncovered waiter with the smallest target, to lead the next batch; woken first, so
    /// the device idles as little as possible.
    successor: Option<Waiter>,
    /// The waiters the batch covered (all of them after a failure).
    released: Vec<Waiter>,
    /// The outcome the released waiters get.
    released_outcome: u8,
}

impl Wakeups {
    fn wake(self) {
        if let Some(successor) = self.successor {
            successor.wake(OUTCOME_RECHECK, Vec::new());
        }
        wake_tree(self.released, self.released_outcome);
    }
}

impl<State: CommitState> Guarded<State> {
    /// After a batch: takes out of the wait list every waiter it covered (all of them after a
    /// failure) and the smallest uncovered one, to lead the next batch.
    fn take_wakeups(&mut self) -> Wakeups {
        let durable = self.state.lsn_durable();
        let failed = self.state.failure().is_some();
        let (released, mut waiting): (Vec<Waiter>, Vec<Waiter>) =
            self.waiters.drain(..).partition(|waiter| failed || waiter.target <= durable);
        let successor = (0..waiting.len())
            .min_by_key(|&index| waiting[index].target)
            .map(|position| waiting.swap_remove(position));
        self.waiters = waiting;
        let released_outcome = if failed { OUTCOME_RECHECK } else { OUTCOME_DURABLE };
        Wakeups { successor, released, released_outcome }
    }
}

/// A [`CommitState`] behind the group-commit protocol.
pub(crate) struct GroupCommit<State> {
    guarded: Mutex<Guarded<State>>,
}

impl<State: CommitState> GroupCommit<State> {
    pub(crate) fn new(state: State) -> Self {
        Self { guarded: Mutex::new(Guarded { state, flushing: false, waiters: Vec::new() }) }
    }

    /// Runs `action` on the state under the lock (appends, reads of counters).
    pub(crate) fn with_state<Output>(&self, action: impl FnOnce(&mut State) -> Output) -> Output {
        action(&mut self.lock().state)
    }

    fn lock(&self) -> MutexGuard<'_, Guarded<State>> {
        // A panic while holding the lock leaves the state unknown: propagate it.
        self.guarded.lock().expect("log state lock poisoned by a panic")
    }

    /// Returns once everything below `target` is durable, leading flushes as needed with
    /// `write` (which runs without the lock held). `Ok(true)` if this call led a batch.
    pub(crate) fn wait_durable(
        &self,
        target: Lsn,
        write: impl Fn(&State::Batch) -> Result<(), String>,
    ) -> Result<bool, String> {
        self.wait_locked(self.lock(), target, &write)
    }

    /// Runs `append` on the state under the lock and, if it returns a target, waits for it as
    /// [`GroupCommit::wait_durable`] does without releasing the lock in between: one lock
    /// acquisition per commit instead of two. Returns what `append` returned, and the outcome
    /// of the wait if there was one.
    pub(crate) fn append_then_wait<Output>(
        &self,
        append: impl FnOnce(&mut State) -> (Output, Option<Lsn>),
        write: impl Fn(&State::Batch) -> Result<(), String>,
    ) -> (Output, Option<Result<bool, String>>) {
        let mut guarded = self.lock();
        let (output, target) = append(&mut guarded.state);
        let Some(target) = target else { return (output, None) };
        (output, Some(self.wait_locked(guarded, target, &write)))
    }

    fn wait_locked<'commit>(
        &'commit self,
        mut guarded: MutexGuard<'commit, Guarded<State>>,
        target: Lsn,
        write: &dyn Fn(&State::Batch) -> Result<(), String>,
    ) -> Result<bool, String> {
        let mut led = false;
        let mut yield_count = 0;
        loop {
            if let Some(failure) = guarded.state.failure() {
                return Err(failure);
            }
            if guarded.state.lsn_durable() >= target {
                return Ok(led);
            }
            if guarded.flushing {
                if park_as_waiter(guarded, target) == OUTCOME_DURABLE {
                    return Ok(led);
                }
                guarded = self.lock();
                continue;
            }
            if !guarded.waiters.is_empty() && yield_count < LEADER_YIELD_COUNT_MAX {
                // Others are waiting, so committers are active: let the ones the last batch
                // just released append before taking this batch, to make it larger.
                yield_count += 1;
                drop(guarded);
                yield_now();
                guarded = self.lock();
                continue;
            }
            let Some(batch) = guarded.state.take_batch() else {
                panic!("waiting for LSN {target}, beyond everything appended");
            };
            guarded.flushing = true;
            led = true;
            drop(guarded);
            let lead = Lead { commit: self, batch: Some(batch) };
            let result = write(lead.batch.as_ref().expect("taken once"));
            guarded = lead.finish(result);
        }
    }
}

/// Registers a waiter for `target`, releases the lock, and parks until woken; returns the
/// outcome it was woken with, after waking its share of the wake-up tree.
fn park_as_waiter<State>(mut guarded: MutexGuard<'_, Guarded<State>>, target: Lsn) -> u8 {
    let slot =
        Arc::new(Slot { outcome: AtomicU8::new(OUTCOME_PENDING), share: Mutex::new(Vec::new()) });
    guarded.waiters.push(Waiter { target, thread: current(), slot: Arc::clone(&slot) });
    drop(guarded);
    // `park` may return spuriously; the outcome says whether this was a real wake-up.
    let outcome = loop {
        match slot.outcome.load(Ordering::Acquire) {
            OUTCOME_PENDING => park(),
            outcome => break outcome,
        }
    };
    let share = std::mem::take(&mut *slot.share.lock().expect("never held across a panic"));
    wake_tree(share, outcome);
    outcome
}

/// The leader's duty to publish its batch's outcome, even if `write` panics.
struct Lead<'commit, State: CommitState> {
    commit: &'commit GroupCommit<State>,
    batch: Option<State::Batch>,
}

impl<'commit, State: CommitState> Lead<'commit, State> {
    /// Publishes the batch's outcome, clears `flushing`, wakes the successor and the covered
    /// waiters outside the lock, and takes the lock again.
    fn finish(mut self, result: Result<(), String>) -> MutexGuard<'commit, Guarded<State>> {
        let mut guarded = self.commit.lock();
        let batch = self.batch.take().expect("finished once");
        guarded.state.finish_batch(batch, result);
        guarded.flushing = false;
        let wakeups = guarded.take_wakeups();
        drop(guarded);
        wakeups.wake();
        self.commit.lock()
    }
}

impl<State: CommitState> Drop for Lead<'_, State> {
    fn drop(&mut self) {
        if let Some(batch) = self.batch.take() {
            // `write` panicked: publish a failure so no waiter sleeps forever.
            let wakeups = match self.commit.guarded.lock() {
                Ok(mut guarded) => {
                    guarded.state.finish_batch(batch, Err("a log flush panicked".into()));
                    guarded.flushing = false;
                    Some(guarded.take_wakeups())
                }
                Err(_) => None,
            };
            wakeups.into_iter().for_each(Wakeups::wake);
        }
    }
}

#[cfg(test)]
pub(crate) mod toy {
    //! A log of counters: appending adds one byte; a batch is everything appended.

    use super::{CommitState, GroupCommit};
    use crate::lsn::Lsn;

    /// One committer's step: append a byte, wait until it is durable, check that it is.
    pub(crate) fn append_and_wait(commit: &GroupCommit<Toy>) {
        let target = commit.with_state(|toy| {
            toy.appended += 1;
            Lsn(toy.appended)
        });
        commit.wait_durable(target, |_| Ok(())).unwrap();
        assert!(commit.with_state(|toy| toy.durable) >= target.0);
    }

    /// The same step with the append and the wait under one lock hold.
    pub(crate) fn append_then_wait(commit: &GroupCommit<Toy>) {
        let (target, waited) = commit.append_then_wait(
            |toy| {
                toy.appended += 1;
                let target = Lsn(toy.appended);
                (target, Some(target))
            },
            |_| Ok(()),
        );
        waited.expect("a target was given").unwrap();
        assert!(commit.with_state(|toy| toy.durable) >= target.0);
    }

    #[derive(Debug, Default)]
    pub(crate) struct Toy {
        pub(crate) appended: u64,
        pub(crate) durable: u64,
        pub(crate) failure: Option<String>,
        pub(crate) batch_count: u64,
    }

    impl CommitState for Toy {
        type Batch = u64;
        fn lsn_durable(&self) -> Lsn {
            Lsn(self.durable)
        }
        fn failure(&self) -> Option<String> {
            self.failure.clone()
        }
        fn take_batch(&mut self) -> Option<u64> {
            (self.appended > self.durable).then_some(self.appended)
        }
        fn finish_batch(&mut self, end: u64, result: Result<(), String>) {
            self.batch_count += 1;
            match result {
                Ok(()) => {
                    assert!(end > self.durable, "the durable point only moves forward");
                    self.durable = end;
                }
                Err(reason) => self.failure = Some(self.failure.take().unwrap_or(reason)),
            }
        }
    }
}

#[cfg(all(test, not(loom)))]
mod tests {
    use std::sync::Arc;

    use super::toy::{Toy, append_and_wait, append_then_wait};
    use super::*;

    #[test]
    fn many_committers_share_flushes_and_all_return() {
        let commit = Arc::new(GroupCommit::new(Toy::default()));
        let threads: Vec<_> = (0..16)
            .map(|thread_index| {
                let commit = Arc::clone(&commit);
                std::thread::spawn(move || {
                    for _ in 0..100 {
                        // Half the committers append and register under one lock hold.
                        if thread_index % 2 == 0 {
                            append_and_wait(&commit);
                        } else {
                            append_then_wait(&commit);
                        }
                    }
                })
            })
            .collect();
        for thread in threads {
            thread.join().unwrap();
        }
        commit.with_state(|toy| {
            assert_eq!(toy.durable, 1600);
            assert!(toy.batch_count <= 1600);
        });
    }

    #[test]
    fn a_failed_flush_is_sticky() {
        let commit = GroupCommit::new(Toy::default());
        commit.with_state(|toy| toy.appended = 1);
        assert_eq!(commit.wait_durable(Lsn(1), |_| Err("EIO".into())).unwrap_err(), "EIO");
        commit.with_state(|toy| toy.appended = 2);
        assert_eq!(commit.wait_durable(Lsn(2), |_| Ok(())).unwrap_err(), "EIO");
        assert_eq!(commit.with_state(|toy| toy.durable), 0);
    }

    #[test]
    fn a_panicking_flush_releases_the_other_waiters() {
        let commit = Arc::new(GroupCommit::new(Toy::default()));
        commit.with_state(|toy| toy.appended = 1);
        let leader = {
            let commit = Arc::clone(&commit);
            std::thread::spawn(move || commit.wait_durable(Lsn(1), |_| panic!("device gone")))
        };
        assert!(leader.join().is_err());
        assert!(commit.wait_durable(Lsn(1), |_| Ok(())).unwrap_err().contains("panicked"));
    }
}

#[cfg(all(test, loom))]
mod loom_models {
    //! `RUSTFLAGS="--cfg loom" cargo test -p wal --release --lib loom_models`

    use loom::sync::Arc;

    use super::toy::{Toy, append_and_wait, append_then_wait};
    use super::*;

    /// Explores every interleaving with up to three preemptions: enough for the lost-wake-up and
    /// double-leader bugs this protocol could have, and small enough to finish in seconds.
    fn model(body: impl Fn() + Sync + Send + 'static) {
        let mut builder = loom::model::Builder::new();
        builder.preemption_bound = Some(3);
        builder.check(body);
    }

    /// Three committers append one byte each and wait: every interleaving ends with all three
    /// released, everything durable, and at most three batches.
    #[test]
    fn every_committer_is_released_by_a_covering_flush() {
        model(|| {
            let commit = Arc::new(GroupCommit::new(Toy::default()));
            let threads: Vec<_> = (0..3)
                .map(|thread_index| {
                    let commit = Arc::clone(&commit);
                    loom::thread::spawn(move || {
                        if thread_index == 0 {
                            append_then_wait(&commit);
                        } else {
                            append_and_wait(&commit);
                        }
                    })
                })
                .collect();
            for thread in threads {
                thread.join().unwrap();
            }
            commit.with_state(|toy| {
                assert_eq!(toy.durable, 3);
                assert!(toy.batch_count <= 3);
            });
        });
    }

    /// The first flush fails: every committer returns the failure, none hangs, and nothing is
    /// ever reported durable.
    #[test]
    fn a_failure_reaches_every_waiter() {
        model(|| {
            let commit = Arc::new(GroupCommit::new(Toy::default()));
            let threads: Vec<_> = (0..2)
                .map(|_| {
                    let commit = Arc::clone(&commit);
                    loom::thread::spawn(move || {
                        let target = commit.with_state(|toy| {
                            toy.appended += 1;
                            Lsn(toy.appended)
                        });
                        commit.wait_durable(target, |_| Err("EIO".to_string()))
                    })
                })
                .collect();
            for thread in threads {
                assert_eq!(thread.join().unwrap().unwrap_err(), "EIO");
            }
            commit.with_state(|toy| assert_eq!(toy.durable, 0));
        });
    }

    /// A flush is in flight (the model holds `flushing`, as a leader would) while three
    /// committers register; then it publishes the batch that covers them all and wakes them as
    /// the leader does. The wake-up tree makes the first one it wakes wake another: every
    /// interleaving ends with all three returned, durable, without leading. A waiter that drops
    /// its share, or an outcome stored after the unpark, leaves one parked forever (loom reports
    /// the deadlock).
    #[test]
    fn the_wake_up_tree_releases_every_covered_waiter() {
        model(|| {
            let commit = Arc::new(GroupCommit::new(Toy { appended: 1, ..Toy::default() }));
            commit.lock().flushing = true;
            let threads: Vec<_> = (0..3)
                .map(|_| {
                    let commit = Arc::clone(&commit);
                    loom::thread::spawn(move || commit.wait_durable(Lsn(1), |_| Ok(())))
                })
                .collect();
            while commit.lock().waiters.len() < 3 {
                loom::thread::yield_now();
            }
            let mut guarded = commit.lock();
            guarded.state.finish_batch(1, Ok(()));
            guarded.flushing = false;
            let wakeups = guarded.take_wakeups();
            drop(guarded);
            assert!(wakeups.successor.is_none(), "the batch covered every waiter");
            wakeups.wake();
            for thread in threads {
                assert_eq!(thread.join().unwrap(), Ok(false), "released, not leading");
            }
        });
    }
}
