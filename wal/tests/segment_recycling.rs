//! The log crosses segments, releases the ones a checkpoint no longer needs, reuses their files,
//! and recovers from a checkpoint's LSN.

mod common;

use std::path::Path;

use common::{DIRECTORY, open, payload};
use disk::{Disk, SimDisk};
use wal::Lsn;

const RECORD_BYTES: usize = 64 * 1024;

fn segment_and_spare_counts(disk: &SimDisk) -> (usize, usize) {
    let names: Vec<String> = disk
        .list_dir(Path::new(DIRECTORY))
        .unwrap()
        .iter()
        .map(|path| path.file_name().unwrap().to_string_lossy().into_owned())
        .collect();
    let spares = names.iter().filter(|name| name.starts_with("wal-spare-")).count();
    (names.len() - spares, spares)
}

#[test]
fn segments_are_switched_released_recycled_and_recovered_from_a_checkpoint() {
    let disk = SimDisk::with_seed(11);
    let (log, _) = open(&disk, Lsn::ZERO).unwrap();
    let appended: Vec<wal::Appended> = (0..200)
        .map(|number| log.append_durable(1, &payload(number, RECORD_BYTES)).unwrap())
        .collect();
    let (segment_count, _) = segment_and_spare_counts(&disk);
    assert!(segment_count >= 6, "200 records of 64 KiB span several 2 MiB segments");
    drop(log);

    let (log, records) = open(&disk, Lsn::ZERO).unwrap();
    assert_eq!(records.len(), 200);
    for (number, record) in records.iter().enumerate() {
        assert_eq!(record.lsn, appended[number].lsn);
        assert_eq!(record.payload, payload(number as u64, RECORD_BYTES));
    }

    // A checkpoint at record 150: everything wholly below it goes.
    let checkpoint = appended[150].lsn;
    log.release_before(checkpoint).unwrap();
    let (remaining, spares) = segment_and_spare_counts(&disk);
    assert_eq!(spares, wal::limits::SPARE_SEGMENT_COUNT_MAX);
    assert!(remaining < segment_count, "released segments are gone");
    for number in 200..300 {
        log.append_durable(1, &payload(number, RECORD_BYTES)).unwrap();
    }
    assert!(log.stats().segments_recycled >= 1, "a spare was reused");
    log.check_invariants();
    drop(log);

    let (_, records) = open(&disk, checkpoint).unwrap();
    assert_eq!(records.len(), 150, "records 150..300 replay from the checkpoint");
    for (offset, record) in records.iter().enumerate() {
        assert_eq!(record.payload, payload(150 + offset as u64, RECORD_BYTES));
    }
    // Starting below the released segments is an error that names the LSN, not silence.
    match open(&disk, Lsn::ZERO) {
        Err(wal::Error::Corruption { lsn, .. }) => assert_eq!(lsn, Lsn::ZERO),
        other => {
            panic!("expected a corruption error, got {:?}", other.map(|(_, records)| records.len()))
        }
    }
}

#[test]
fn oversized_records_and_bad_options_are_refused() {
    let disk = SimDisk::with_seed(12);
    let (log, _) = open(&disk, Lsn::ZERO).unwrap();
    let too_large = vec![0; wal::limits::RECORD_PAYLOAD_BYTES_MAX + 1];
    assert!(matches!(log.append(1, &too_large), Err(wal::Error::RecordTooLarge { .. })));
    log.append_durable(1, &vec![7; wal::limits::RECORD_PAYLOAD_BYTES_MAX]).unwrap();
    let options = wal::WalOptions { segment_bytes: 4096, ..wal::WalOptions::default() };
    let disk: std::sync::Arc<dyn Disk> = std::sync::Arc::new(SimDisk::with_seed(13));
    assert!(matches!(
        wal::Wal::open(disk, DIRECTORY, options, Lsn::ZERO),
        Err(wal::Error::InvalidOptions { .. })
    ));
}

/// Reopening a cleanly closed log costs no writes, even when its tail lies in a recycled
/// segment whose old records fill the rest of the file. Those records carry the old salt and
/// can never be replayed; only records valid under the current salt (left by a torn batch) are
/// zeroed at recovery. Recovery used to rewrite every non-zero byte after the tail: most of the
/// segment, on every open.
#[test]
fn reopening_a_clean_log_in_a_recycled_segment_writes_nothing() {
    let disk = SimDisk::with_seed(14);
    let (log, _) = open(&disk, Lsn::ZERO).unwrap();
    let mut appended = Vec::new();
    for number in 0..100 {
        appended.push(log.append_durable(1, &payload(number, RECORD_BYTES)).unwrap());
    }
    log.release_before(appended[99].lsn).unwrap();
    for number in 100..140 {
        log.append_durable(1, &payload(number, RECORD_BYTES)).unwrap();
    }
    assert!(log.stats().segments_recycled >= 1, "the tail is in a recycled segment");
    drop(log);
    let writes_before = disk.operation_counts().get(disk::sim::Operation::Write);
    let (_, records) = open(&disk, appended[99].lsn).unwrap();
    assert_eq!(records.len(), 41);
    assert_eq!(disk.operation_counts().get(disk::sim::Operation::Write), writes_before);
}
