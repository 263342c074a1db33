//! Crashes at any point, over many seeds: after recovery the log holds every acknowledged
//! record, in order, and nothing that was never appended.
//!
//! Each seed runs a workload of appends and waits, stops it at a random operation by making the
//! simulated disk fail from there on (the machine dies mid-write or mid-flush), crashes the
//! disk (each unflushed write lost, kept or torn), recovers, checks, and does it again on the
//! recovered log. In some rounds the machine dies during recovery itself (its zeroing, segment
//! removal or segment initialisation) and the disk crashes again before the next recovery. Even
//! seeds flush with `fdatasync`, odd ones with `RWF_DSYNC` writes.

mod common;

use std::sync::Arc;

use common::{DIRECTORY, payload, small_segments};
use disk::sim::{Fault, Trigger};
use disk::{Disk, FlushMethod, SimDisk};
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use wal::{Error, Lsn, Record, Wal, WalOptions};

const SEED_COUNT: u64 = 300;
const ROUND_COUNT: usize = 3;

#[derive(Default)]
struct Coverage {
    crossed_segments: usize,
    recoveries_interrupted: usize,
}

#[test]
fn every_acknowledged_record_survives_any_crash() {
    let mut coverage = Coverage::default();
    for seed in 0..SEED_COUNT {
        run_seed(seed, &mut coverage);
    }
    // The workload must reach segment boundaries, and deaths must land inside recovery, in a
    // fair share of seeds, or this test would not exercise those paths.
    assert!(
        coverage.crossed_segments >= 10,
        "{} seeds crossed a segment",
        coverage.crossed_segments
    );
    assert!(
        coverage.recoveries_interrupted >= 10,
        "{} recoveries died",
        coverage.recoveries_interrupted
    );
}

/// A record size: mostly small, sometimes large enough to fill segments quickly.
fn record_bytes(rng: &mut ChaCha8Rng) -> usize {
    if rng.random_bool(0.2) { rng.random_range(10_000..300_000) } else { rng.random_range(1..3000) }
}

fn options(seed: u64) -> WalOptions {
    let flush_method = if seed % 2 == 0 { FlushMethod::Fdatasync } else { FlushMethod::DsyncWrite };
    WalOptions { flush_method, ..small_segments() }
}

fn open(disk: &SimDisk, seed: u64) -> wal::Result<(Wal, Vec<Record>)> {
    Wal::open(Arc::new(disk.clone()) as Arc<dyn Disk>, DIRECTORY, options(seed), Lsn::ZERO)
}

/// Lets the machine die a few operations into a recovery; if it does, crashes the disk.
fn interrupt_recovery(disk: &SimDisk, seed: u64, rng: &mut ChaCha8Rng, coverage: &mut Coverage) {
    let death = disk.operation_counts().total() + rng.random_range(0..12);
    disk.inject(Fault::io_error_on_any(Trigger::From { index: death }));
    match open(disk, seed) {
        Ok(_) => {}
        Err(error @ (Error::Corruption { .. } | Error::Incompatible { .. })) => {
            panic!("seed {seed}: a recovery that died part-way found {error}")
        }
        Err(_) => coverage.recoveries_interrupted += 1,
    }
    disk.crash();
    disk.clear_faults();
}

fn run_seed(seed: u64, coverage: &mut Coverage) {
    let disk = SimDisk::with_seed(seed);
    let mut rng = ChaCha8Rng::seed_from_u64(seed);
    let mut history: Vec<Vec<u8>> = Vec::new(); // every record appended, in order
    let mut acknowledged_count = 0;
    let mut crossed = false;
    for round in 0..ROUND_COUNT {
        if round > 0 && rng.random_bool(0.3) {
            interrupt_recovery(&disk, seed, &mut rng, coverage);
        }
        let (log, records) =
            open(&disk, seed).unwrap_or_else(|error| panic!("seed {seed} round {round}: {error}"));
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
    coverage.crossed_segments += usize::from(crossed);
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
