//! `Db::check` reads the log back from the last checkpoint as recovery would after a crash now:
//! every commit since the checkpoint is counted, and damage to a record the log made durable is
//! a corruption error naming the LSN, found while the database is open, the last batch included
//! (which a recovery after a crash could not tell from a torn write).

mod common;

use std::path::PathBuf;

use common::{DIRECTORY, open_sim, small_options};
use disk::SimDisk;
use engine::{Db, Error};

const COMMIT_COUNT: u32 = 50;

/// The first segment of the log: segment 0 holds LSNs from 0, after its 4 KiB header.
fn first_segment() -> PathBuf {
    PathBuf::from(DIRECTORY).join("wal").join("wal-0000000000000000.seg")
}

const SEGMENT_HEADER_BYTES: u64 = 4096;

fn db_with_commits_in_the_log(disk: &SimDisk) -> Db {
    let db = open_sim(disk, &small_options()).unwrap();
    for index in 0..COMMIT_COUNT {
        db.put(format!("key{index:04}").as_bytes(), &[7; 200]).unwrap();
    }
    db
}

#[test]
fn every_commit_since_the_checkpoint_is_read_back() {
    let disk = SimDisk::with_seed(21);
    let db = db_with_commits_in_the_log(&disk);
    let report = db.check().unwrap();
    assert_eq!(report.log_commits, u64::from(COMMIT_COUNT), "{report:?}");
    assert!(report.log_records >= report.log_commits, "{report:?}");
    assert_eq!(report.key_count, u64::from(COMMIT_COUNT));
    db.checkpoint().unwrap();
    let report = db.check().unwrap();
    assert_eq!((report.log_records, report.log_commits), (0, 0), "the log starts after it");
}

#[test]
fn a_damaged_record_mid_log_is_corruption_naming_the_lsn() {
    let disk = SimDisk::with_seed(22);
    let db = db_with_commits_in_the_log(&disk);
    disk.flip_bit(&first_segment(), SEGMENT_HEADER_BYTES + 100, 0).unwrap();
    match db.check() {
        Err(error @ Error::Wal(wal::Error::Corruption { .. })) => {
            assert!(error.to_string().contains("LSN 0"), "names the LSN: {error}");
        }
        other => panic!("a damaged durable record passed the check: {other:?}"),
    }
}

#[test]
fn a_damaged_record_in_the_last_batch_is_corruption_too() {
    let disk = SimDisk::with_seed(23);
    let db = db_with_commits_in_the_log(&disk);
    let durable = db.stats().wal.lsn_durable.0;
    // A byte of the last commit's record, well inside it (records are over 200 bytes).
    disk.flip_bit(&first_segment(), SEGMENT_HEADER_BYTES + durable - 64, 3).unwrap();
    match db.check() {
        Err(error @ Error::Wal(wal::Error::Corruption { .. })) => {
            assert!(error.to_string().contains("durable point"), "{error}");
        }
        other => panic!("damage to the last batch passed the check: {other:?}"),
    }
}
