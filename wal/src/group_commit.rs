//! The group-commit hand-off: many committers, one flush in flight, every waiter released by the
//! flush that covers it.
//!
//! ```text
//!             ┌──────────── durable ≥ target ───────────────> return Ok
//! committer ──┼──────────── failure recorded ───────────────> return Err (sticky)
//!   (lock)    ├── a flush is in flight ──> register, park ────┐ (re-check from the top)
//!             └── none in flight ──> leader: take the batch, set `flushing`, unlock,
//!                                    write + flush, lock, publish the result, clear
//!                                    `flushing`, wake the waiters it covered and one
//!                                    successor, re-check
//! ```
//!
//! Waking only the covered waiters (and one successor to lead the next batch) instead of every
//! waiter matters on small machines: with 64 committers on 2 cores, waking all of them after
//! each flush spent more CPU on context switches than the flushes took.
//!
//! Invariants:
//! 1. At most one batch is in flight (`flushing`), so a batch is written only after every
//!    earlier batch is durable, and the durable point only moves forward.
//! 2. A batch takes everything appended so far, so it covers every waiter registered before it
//!    started. When `flushing` clears, every registered waiter is either covered (and woken), or
//!    waits for the next batch, and if any such waiter exists one of them is woken to lead it
//!    (unless a newcomer leads first, whose batch then covers it). No waiter sleeps forever.
//! 3. A failure is sticky: once recorded, every current and later waiter gets it (all woken).
//! 4. If the leader's I/O panics, the failure is recorded, `flushing` cleared and everyone woken
//!    on unwind.
//! 5. A waiter taken out of the wait list is always woken, after the lock is released; its flag
//!    is set before `unpark`, so a wake-up that lands before the waiter parks is not lost.

use crate::lsn::Lsn;
use crate::sync::{Arc, AtomicBool, Mutex, MutexGuard, Ordering, Thread, current, park, yield_now};

/// How many times a new leader lets other committers run before taking its batch, when others
/// are waiting (so committers are active). A yield lets committers that the last batch just
/// released append and join this batch. Measured with 64 committers on 2 cores: one yield took
/// throughput from 147K to about 175K commits/s; two or three gave 150-160K (batches no larger,
/// longer gaps between them).
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

/// A committer parked until a flush covers its target or it is chosen to lead.
struct Waiter {
    target: Lsn,
    thread: Thread,
    woken: Arc<AtomicBool>,
}

impl Waiter {
    fn wake(self) {
        self.woken.store(true, Ordering::Release);
        self.thread.unpark();
    }
}

struct Guarded<State> {
    state: State,
    flushing: bool,
    waiters: Vec<Waiter>,
}

impl<State: CommitState> Guarded<State> {
    /// After a batch: takes out of the wait list the waiter with the smallest target among
    /// those the batch did not cover (to lead the next batch; first, so the device idles as
    /// little as possible) and every waiter it covered (all of them after a failure). The
    /// caller wakes them after releasing the lock: each wake-up is a system call, and the
    /// successor must not wait behind them.
    fn take_wakeups(&mut self) -> Vec<Waiter> {
        let durable = self.state.lsn_durable();
        let failed = self.state.failure().is_some();
        let (released, mut waiting): (Vec<Waiter>, Vec<Waiter>) =
            self.waiters.drain(..).partition(|waiter| failed || waiter.target <= durable);
        let mut wakeups = Vec::with_capacity(released.len() + 1);
        if let Some(position) = (0..waiting.len()).min_by_key(|&index| waiting[index].target) {
            wakeups.push(waiting.swap_remove(position));
        }
        wakeups.extend(released);
        self.waiters = waiting;
        wakeups
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
        let mut guarded = self.lock();
        let mut yield_count = 0;
        let mut led = false;
        loop {
            if let Some(failure) = guarded.state.failure() {
                return Err(failure);
            }
            if guarded.state.lsn_durable() >= target {
                return Ok(led);
            }
            if guarded.flushing {
                let woken = Arc::new(AtomicBool::new(false));
                let waiter = Waiter { target, thread: current(), woken: Arc::clone(&woken) };
                guarded.waiters.push(waiter);
                drop(guarded);
                // `park` may return spuriously; the flag says whether this was a real wake-up.
                while !woken.load(Ordering::Acquire) {
                    park();
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

/// The leader's duty to publish its batch's outcome, even if `write` panics.
struct Lead<'commit, State: CommitState> {
    commit: &'commit GroupCommit<State>,
    batch: Option<State::Batch>,
}

impl<'commit, State: CommitState> Lead<'commit, State> {
    fn finish(mut self, result: Result<(), String>) -> MutexGuard<'commit, Guarded<State>> {
        let mut guarded = self.commit.lock();
        let batch = self.batch.take().expect("finished once");
        guarded.state.finish_batch(batch, result);
        guarded.flushing = false;
        let wakeups = guarded.take_wakeups();
        drop(guarded);
        wakeups.into_iter().for_each(Waiter::wake);
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
                    guarded.take_wakeups()
                }
                Err(_) => Vec::new(),
            };
            wakeups.into_iter().for_each(Waiter::wake);
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

    use super::toy::{Toy, append_and_wait};
    use super::*;

    #[test]
    fn many_committers_share_flushes_and_all_return() {
        let commit = Arc::new(GroupCommit::new(Toy::default()));
        let threads: Vec<_> = (0..16)
            .map(|_| {
                let commit = Arc::clone(&commit);
                std::thread::spawn(move || {
                    for _ in 0..100 {
                        append_and_wait(&commit);
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

    use super::toy::{Toy, append_and_wait};
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
                .map(|_| {
                    let commit = Arc::clone(&commit);
                    loom::thread::spawn(move || append_and_wait(&commit))
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
}
