//! The group-commit hand-off: many committers, one flush in flight, every waiter released by the
//! flush that covers it.
//!
//! ```text
//!             ┌──────────── durable ≥ target ───────────────> return Ok
//! committer ──┼──────────── failure recorded ───────────────> return Err (sticky)
//!   (lock)    ├── a flush is in flight ──> wait on `changed` ─┐ (re-check from the top)
//!             └── none in flight ──> leader: take the batch, set `flushing`, unlock,
//!                                    write + flush, lock, publish the result,
//!                                    clear `flushing`, wake everyone, re-check
//! ```
//!
//! Invariants:
//! 1. At most one batch is in flight (`flushing`), so a batch is written only after every
//!    earlier batch is durable, and the durable point only moves forward.
//! 2. Every waiter re-checks after each wake-up; a wake-up is sent whenever `flushing` clears,
//!    so no waiter sleeps through the flush that covers it.
//! 3. A failure is sticky: once recorded, every current and later waiter gets it.
//! 4. If the leader's I/O panics, the failure is recorded and `flushing` cleared on unwind, so
//!    the others do not wait forever.

use crate::lsn::Lsn;
use crate::sync::{Condvar, Mutex, MutexGuard};

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

struct Guarded<State> {
    state: State,
    flushing: bool,
}

/// A [`CommitState`] behind the group-commit protocol.
pub(crate) struct GroupCommit<State> {
    guarded: Mutex<Guarded<State>>,
    changed: Condvar,
}

impl<State: CommitState> GroupCommit<State> {
    pub(crate) fn new(state: State) -> Self {
        Self { guarded: Mutex::new(Guarded { state, flushing: false }), changed: Condvar::new() }
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
    /// `write` (which runs without the lock held).
    pub(crate) fn wait_durable(
        &self,
        target: Lsn,
        write: impl Fn(&State::Batch) -> Result<(), String>,
    ) -> Result<(), String> {
        let mut guarded = self.lock();
        loop {
            if let Some(failure) = guarded.state.failure() {
                return Err(failure);
            }
            if guarded.state.lsn_durable() >= target {
                return Ok(());
            }
            if guarded.flushing {
                guarded = self.changed.wait(guarded).expect("log state lock poisoned by a panic");
                continue;
            }
            let Some(batch) = guarded.state.take_batch() else {
                panic!("waiting for LSN {target}, beyond everything appended");
            };
            guarded.flushing = true;
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
        self.commit.changed.notify_all();
        guarded
    }
}

impl<State: CommitState> Drop for Lead<'_, State> {
    fn drop(&mut self) {
        if let Some(batch) = self.batch.take() {
            // `write` panicked: publish a failure so no waiter sleeps forever.
            if let Ok(mut guarded) = self.commit.guarded.lock() {
                guarded.state.finish_batch(batch, Err("a log flush panicked".into()));
                guarded.flushing = false;
            }
            self.commit.changed.notify_all();
        }
    }
}

#[cfg(test)]
pub(crate) mod toy {
    //! A log of counters: appending adds one byte; a batch is everything appended.

    use super::CommitState;
    use crate::lsn::Lsn;

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

    use super::toy::Toy;
    use super::*;

    #[test]
    fn many_committers_share_flushes_and_all_return() {
        let commit = Arc::new(GroupCommit::new(Toy::default()));
        let threads: Vec<_> = (0..16)
            .map(|_| {
                let commit = Arc::clone(&commit);
                std::thread::spawn(move || {
                    for _ in 0..100 {
                        let target = commit.with_state(|toy| {
                            toy.appended += 1;
                            Lsn(toy.appended)
                        });
                        commit.wait_durable(target, |_| Ok(())).unwrap();
                        assert!(commit.with_state(|toy| toy.durable) >= target.0);
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

    use super::toy::Toy;
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
                    loom::thread::spawn(move || {
                        let target = commit.with_state(|toy| {
                            toy.appended += 1;
                            Lsn(toy.appended)
                        });
                        commit.wait_durable(target, |_| Ok(())).unwrap();
                        assert!(commit.with_state(|toy| toy.durable) >= target.0);
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
}
