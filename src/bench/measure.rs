//! Running timed operations on many threads and summarising their latencies.

use std::time::{Duration, Instant};

use hdrhistogram::Histogram;

/// What a timed run measured.
#[derive(Debug, Clone, serde::Serialize)]
pub(crate) struct Measurement {
    /// Operations completed.
    pub(crate) operation_count: u64,
    /// Wall-clock time of the run.
    pub(crate) elapsed_seconds: f64,
    /// Operations per second.
    pub(crate) ops_per_second: f64,
    /// Median operation latency.
    pub(crate) latency_us_p50: f64,
    /// 99th-percentile operation latency.
    pub(crate) latency_us_p99: f64,
}

/// Latencies up to 60 s are recorded at 3 significant digits; longer ones are clamped (a
/// benchmark operation that takes a minute is a failure worth seeing, not a data point).
pub(crate) const LATENCY_NS_MAX: u64 = 60_000_000_000;

/// An empty latency histogram (3 significant digits) that grows to the largest latency
/// recorded in it. Callers clamp values to [`LATENCY_NS_MAX`]. Sized for 60 s from the start,
/// each took 213 KB, and a run keeps one per operation kind per client thread: 1 MiB per
/// thread (34 MiB at 32 threads), taken from the memory limit the caches share.
pub(crate) fn new_histogram() -> Histogram<u64> {
    let mut histogram = Histogram::new_with_bounds(1, 2, 3).expect("valid histogram bounds");
    histogram.auto(true);
    histogram
}

/// Records `latency` in `histogram`, clamped to `1..=LATENCY_NS_MAX` ns. (The histogram's
/// `saturating_record` would clamp to what it covers so far instead of growing.)
pub(crate) fn record_latency(histogram: &mut Histogram<u64>, latency: Duration) {
    let latency_ns = u64::try_from(latency.as_nanos()).unwrap_or(u64::MAX);
    histogram
        .record(latency_ns.clamp(1, LATENCY_NS_MAX))
        .expect("a histogram that grows records any value up to the clamp");
}

/// Runs `operation` in a loop on `thread_count` threads for `duration`, timing each call.
/// `setup` builds each thread's state (its buffers, its random generator) before the clock
/// starts. An operation returns `Ok(false)` when there is nothing left to do (that call is not
/// counted and its thread stops); an operation error stops its thread and is returned once
/// every thread has finished. A thread that panics (a bug in the code under test, say) is an
/// error too, carrying the panic's message: the report names the failure instead of the
/// benchmark aborting. Distinct errors of several threads are all returned, in thread order,
/// since the first thread to fail is not always the first one joined.
pub(crate) fn run_threads<State, Setup, Operation>(
    thread_count: usize,
    duration: Duration,
    setup: Setup,
    operation: Operation,
) -> Result<Measurement, String>
where
    Setup: Fn(usize) -> State + Sync,
    Operation: Fn(&mut State) -> Result<bool, String> + Sync,
{
    let barrier = std::sync::Barrier::new(thread_count + 1);
    let (histograms, elapsed) = std::thread::scope(|scope| {
        let workers: Vec<_> = (0..thread_count)
            .map(|thread_index| {
                let (barrier, setup, operation) = (&barrier, &setup, &operation);
                scope.spawn(move || {
                    let mut state = setup(thread_index);
                    let mut histogram = new_histogram();
                    barrier.wait();
                    let deadline = Instant::now() + duration;
                    loop {
                        let started = Instant::now();
                        if started >= deadline {
                            return Ok(histogram);
                        }
                        if !operation(&mut state)? {
                            return Ok(histogram);
                        }
                        record_latency(&mut histogram, started.elapsed());
                    }
                })
            })
            .collect();
        barrier.wait();
        let started = Instant::now();
        let histograms: Vec<Result<Histogram<u64>, String>> = workers
            .into_iter()
            .map(|worker| worker.join().unwrap_or_else(|payload| Err(panic_message(&*payload))))
            .collect();
        (histograms, started.elapsed())
    });
    let mut merged = new_histogram();
    let mut errors: Vec<String> = Vec::new();
    for histogram in histograms {
        match histogram {
            Ok(histogram) => merged.add(histogram).expect("same bounds"),
            Err(error) if !errors.contains(&error) => errors.push(error),
            Err(_) => {}
        }
    }
    if !errors.is_empty() {
        return Err(errors.join("; "));
    }
    Ok(summarise(&merged, elapsed))
}

/// The message a thread panicked with, for the error that reports it.
pub(crate) fn panic_message(payload: &(dyn std::any::Any + Send)) -> String {
    let message = payload
        .downcast_ref::<&str>()
        .copied()
        .or_else(|| payload.downcast_ref::<String>().map(String::as_str))
        .unwrap_or("(no message)");
    format!("a benchmark thread panicked: {message}")
}

/// Latencies recorded by one thread outside [`run_threads`] (a queue's completions).
pub(crate) struct Recorder {
    histogram: Histogram<u64>,
}

impl Recorder {
    pub(crate) fn new() -> Self {
        Self { histogram: new_histogram() }
    }

    pub(crate) fn record(&mut self, latency: Duration) {
        record_latency(&mut self.histogram, latency);
    }

    pub(crate) fn finish(self, elapsed: Duration) -> Measurement {
        summarise(&self.histogram, elapsed)
    }
}

fn summarise(histogram: &Histogram<u64>, elapsed: Duration) -> Measurement {
    let elapsed_seconds = elapsed.as_secs_f64();
    let operation_count = histogram.len();
    let micros = |quantile| histogram.value_at_quantile(quantile) as f64 / 1000.0;
    Measurement {
        operation_count,
        elapsed_seconds,
        ops_per_second: operation_count as f64 / elapsed_seconds.max(1e-9),
        latency_us_p50: micros(0.5),
        latency_us_p99: micros(0.99),
    }
}

#[cfg(test)]
mod tests {
    use std::sync::atomic::Ordering::Relaxed;

    use super::*;

    /// A histogram starts small, grows to what is recorded, up to the clamp, and merges with
    /// one that grew differently, keeping 3 significant digits.
    #[test]
    fn histograms_grow_to_the_largest_latency_and_merge() {
        let mut short = new_histogram();
        let empty_slots = short.distinct_values();
        for latency_ns in [1, 999, 73_500] {
            record_latency(&mut short, Duration::from_nanos(latency_ns));
        }
        let mut long = new_histogram();
        record_latency(&mut long, Duration::from_secs(3600));
        assert!(long.distinct_values() > short.distinct_values());
        assert!(short.distinct_values() > empty_slots);
        short.add(&long).unwrap();
        assert_eq!(short.len(), 4);
        assert_eq!(short.value_at_quantile(0.5), 999);
        let top = short.value_at_quantile(1.0);
        assert!(top.abs_diff(LATENCY_NS_MAX) <= LATENCY_NS_MAX / 1000, "{top}");
        assert!(short.equivalent(short.value_at_quantile(0.75), 73_500));
    }

    #[test]
    fn every_operation_is_counted_and_errors_stop_the_run() {
        let measurement = run_threads(
            3,
            Duration::from_millis(20),
            |_| 0u64,
            |count| {
                *count += 1;
                Ok(true)
            },
        )
        .unwrap();
        assert!(measurement.operation_count > 0);
        assert!(measurement.latency_us_p50 <= measurement.latency_us_p99);
        let failed = run_threads(2, Duration::from_secs(60), |_| (), |_| Err("boom".to_string()));
        assert_eq!(failed.unwrap_err(), "boom");
        // A panic is an error with its message, not an abort of the benchmark.
        let panicked = run_threads(
            2,
            Duration::from_secs(60),
            |thread_index| thread_index,
            |&mut thread_index| {
                assert!(thread_index == 0, "thread {thread_index} gave up");
                Err("thread 0 failed".to_string())
            },
        );
        assert_eq!(
            panicked.unwrap_err(),
            "thread 0 failed; a benchmark thread panicked: thread 1 gave up"
        );
        // Threads that run out of work end the run before the deadline, uncounted.
        let remaining = std::sync::atomic::AtomicU64::new(10);
        let bounded = run_threads(
            2,
            Duration::from_secs(60),
            |_| (),
            |_| Ok(remaining.fetch_update(Relaxed, Relaxed, |left| left.checked_sub(1)).is_ok()),
        )
        .unwrap();
        assert_eq!(bounded.operation_count, 10);
    }
}
