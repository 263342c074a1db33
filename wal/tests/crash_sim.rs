//! Crashes at any point, over many seeds: after recovery the log holds every acknowledged
//! record, in order, and nothing that was never appended.
//!
//! Each seed runs a workload of appends and waits, stops it at a random operation by making the
//! simulated disk fail from there on (the machine dies mid-write or mid-flush), crashes the
//! disk (each unflushed write lost, kept or torn), recovers, checks, and does it again on the
//! recovered log, so recovery itself is also crashed into.

mod common;

use common::{open, payload};
use disk::SimDisk;
use disk::sim::{Fault, Trigger};
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use wal::Lsn;

const SEED_COUNT: u64 = 300;
const ROUND_COUNT: usize = 3;

#[test]
fn every_acknowledged_record_survives_any_crash() {
    let mut crossing_count = 0;
    for seed in 0..SEED_COUNT {
        crossing_count += usize::from(run_seed(seed));
    }
    // The workload must reach segment boundaries in a fair share of seeds, or this test would
    // not exercise segment switching under crashes.
    assert!(crossing_count >= 10, "only {crossing_count} seeds crossed a segment boundary");
}

/// A record size: mostly small, sometimes large enough to fill segments quickly.
fn record_bytes(rng: &mut ChaCha8Rng) -> usize {
    if rng.random_bool(0.2) { rng.random_range(10_000..300_000) } else { rng.random_range(1..3000) }
}

/// Returns whether the log crossed a segment boundary.
fn run_seed(seed: u64) -> bool {
    let disk = SimDisk::with_seed(seed);
    let mut rng = ChaCha8Rng::seed_from_u64(seed);
    let mut history: Vec<Vec<u8>> = Vec::new(); // every record appended, in order
    let mut acknowledged_count = 0;
    let mut crossed = false;
    for round in 0..ROUND_COUNT {
        let (log, records) = open(&disk, Lsn::ZERO)
            .unwrap_or_else(|error| panic!("seed {seed} round {round}: {error}"));
        check(seed, round, &records, &history, acknowledged_count);
        // What survived is now the log; anything appended after it is gone for good.
        history.truncate(records.len());
        acknowledged_count = records.len();
        let death = disk.operation_counts().total() + rng.random_range(1..60);
        disk.inject(Fault::io_error_on_any(Trigger::From { index: death }));
        for _ in 0..rng.random_range(1..40) {
            let record =
                payload(history.len() as u64 + 1000 * round as u64, record_bytes(&mut rng));
            let Ok(appended) = log.append(1, &record) else { break };
            history.push(record);
            if rng.random_bool(0.4) {
                if log.wait_durable(appended.lsn_end).is_err() {
                    break;
                }
                acknowledged_count = history.len();
            }
        }
        crossed |= log.lsn_next().0 >= u64::from(wal::limits::SEGMENT_BYTES_MIN) - 4096;
        drop(log);
        disk.crash();
        disk.clear_faults();
    }
    crossed
}

fn check(
    seed: u64,
    round: usize,
    records: &[wal::Record],
    history: &[Vec<u8>],
    acknowledged_count: usize,
) {
    assert!(
        records.len() >= acknowledged_count,
        "seed {seed} round {round}: {} records recovered, {acknowledged_count} acknowledged",
        records.len()
    );
    assert!(
        records.len() <= history.len(),
        "seed {seed} round {round}: more records than appended"
    );
    for (index, record) in records.iter().enumerate() {
        assert_eq!(
            record.payload, history[index],
            "seed {seed} round {round}: record {index} differs"
        );
    }
}
