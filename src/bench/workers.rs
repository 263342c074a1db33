//! Client threads for the workload drivers (`bench ycsb`, `bench tpcc`): a budget of operations
//! or seconds they share, and a runner that starts them together, reports progress while they
//! run, and merges what each measured.

use std::sync::Barrier;
use std::sync::atomic::{AtomicU64, Ordering::Relaxed};
use std::time::{Duration, Instant};

use crate::bench::measure;

/// Most client threads.
pub(crate) const THREAD_COUNT_MAX: usize = 1024;
/// Longest run (an hour): `--seconds 50000` is a typo, not a plan.
pub(crate) const SECONDS_MAX: f64 = 3600.0;

/// How often the progress callback runs while the threads work.
const PROGRESS_INTERVAL: Duration = Duration::from_millis(100);

/// When a run stops.
#[derive(Clone, Copy, Debug, PartialEq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "snake_case")]
pub(crate) enum Stop {
    /// After this many operations in all.
    Operations(u64),
    /// After this many seconds.
    Seconds(f64),
}

impl Stop {
    /// The stop the command line asks for: a count of operations when given, otherwise
    /// `seconds` or `seconds_default`.
    pub(crate) fn from_flags(
        count: Option<u64>,
        seconds: Option<f64>,
        seconds_default: f64,
    ) -> Stop {
        match (count, seconds) {
            (Some(count), _) => Stop::Operations(count),
            (None, seconds) => Stop::Seconds(seconds.unwrap_or(seconds_default)),
        }
    }

    /// Checks a stop from the command line; `operations_flag` names the counted form's flag.
    pub(crate) fn check(self, operations_flag: &str) -> Result<(), String> {
        match self {
            Stop::Operations(0) => Err(format!("{operations_flag} must be above 0")),
            Stop::Seconds(seconds) if !(seconds > 0.0 && seconds <= SECONDS_MAX) => {
                Err(format!("--seconds must be above 0 and at most {SECONDS_MAX}, not {seconds}"))
            }
            _ => Ok(()),
        }
    }
}

/// Checks `--threads`.
pub(crate) fn check_thread_count(thread_count: usize) -> Result<(), String> {
    if (1..=THREAD_COUNT_MAX).contains(&thread_count) {
        Ok(())
    } else {
        Err(format!("--threads must be from 1 to {THREAD_COUNT_MAX}, not {thread_count}"))
    }
}

/// What every thread of a run shares: the stop condition and the count of operations done.
#[derive(Debug)]
pub(crate) struct Budget {
    stop: Stop,
    /// Operations not yet claimed, when the run is counted.
    remaining: AtomicU64,
    done: AtomicU64,
}

impl Budget {
    pub(crate) fn new(stop: Stop) -> Budget {
        let remaining = match stop {
            Stop::Operations(count) => count,
            Stop::Seconds(_) => u64::MAX,
        };
        Budget { stop, remaining: AtomicU64::new(remaining), done: AtomicU64::new(0) }
    }

    /// The deadline of a thread that starts now, if the run is timed.
    pub(crate) fn deadline(&self) -> Option<Instant> {
        match self.stop {
            Stop::Seconds(seconds) => Some(Instant::now() + Duration::from_secs_f64(seconds)),
            Stop::Operations(_) => None,
        }
    }

    /// Whether the calling thread may run one more operation.
    pub(crate) fn claim(&self, deadline: Option<Instant>) -> bool {
        if deadline.is_some_and(|deadline| Instant::now() >= deadline) {
            return false;
        }
        self.remaining.fetch_update(Relaxed, Relaxed, |left| left.checked_sub(1)).is_ok()
    }

    /// Counts `count` operations done (what the progress callback and the run report).
    pub(crate) fn add_done(&self, count: u64) {
        self.done.fetch_add(count, Relaxed);
    }

    pub(crate) fn done(&self) -> u64 {
        self.done.load(Relaxed)
    }
}

/// What a thread measures, merged across threads at the end of a run.
pub(crate) trait Tally {
    fn empty() -> Self;
    fn merge(&mut self, other: &Self);
}

/// What a run measured: the merged tallies, the time from the first thread's start to the last
/// one's end, and the operations done.
#[derive(Debug)]
pub(crate) struct Run<T> {
    pub(crate) tally: T,
    pub(crate) elapsed: Duration,
    pub(crate) operation_count: u64,
}

/// Runs `work` on `thread_count` threads from a common start, each with the state `setup`
/// made for it before the start, and calls `tick` with the elapsed time and the operations
/// done every [`PROGRESS_INTERVAL`] while they run. A failing or panicking thread fails the
/// run with its message once every thread has stopped (the others stop at their budget).
pub(crate) fn run<State, T: Tally + Send>(
    thread_count: usize,
    budget: &Budget,
    setup: impl Fn(usize) -> State + Sync,
    work: impl Fn(&mut State, &mut T, &Budget) -> Result<(), String> + Sync,
    tick: impl Fn(Duration, u64),
) -> Result<Run<T>, String> {
    assert!(thread_count > 0);
    let barrier = Barrier::new(thread_count + 1);
    let (results, started) = std::thread::scope(|scope| {
        let workers: Vec<_> = (0..thread_count)
            .map(|thread_index| {
                let (barrier, setup, work) = (&barrier, &setup, &work);
                scope.spawn(move || {
                    let mut state = setup(thread_index);
                    let mut tally = T::empty();
                    barrier.wait();
                    let started = Instant::now();
                    work(&mut state, &mut tally, budget).map(|()| (tally, started, Instant::now()))
                })
            })
            .collect();
        barrier.wait();
        let started = Instant::now();
        while !workers.iter().all(|worker| worker.is_finished()) {
            std::thread::sleep(PROGRESS_INTERVAL);
            tick(started.elapsed(), budget.done());
        }
        let results: Vec<Result<(T, Instant, Instant), String>> = workers
            .into_iter()
            .map(|worker| {
                worker.join().unwrap_or_else(|payload| Err(measure::panic_message(&*payload)))
            })
            .collect();
        (results, started)
    });
    // The run lasts from the first thread's start to the last one's end: a short run can be
    // over before this thread, which released them, reads the clock.
    let mut merged = T::empty();
    let (mut started, mut ended) = (started, None::<Instant>);
    let mut errors: Vec<String> = Vec::new();
    for result in results {
        match result {
            Ok((tally, thread_started, thread_ended)) => {
                merged.merge(&tally);
                started = started.min(thread_started);
                ended = Some(ended.map_or(thread_ended, |ended| ended.max(thread_ended)));
            }
            Err(error) if !errors.contains(&error) => errors.push(error),
            Err(_) => {}
        }
    }
    if !errors.is_empty() {
        return Err(errors.join("; "));
    }
    Ok(Run {
        tally: merged,
        elapsed: ended.unwrap_or(started).duration_since(started),
        operation_count: budget.done(),
    })
}
