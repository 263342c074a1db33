//! A failed write or flush stops the log: the state of the caches after it is unknown, so the
//! log refuses every later append and wait until it is reopened and recovered.

mod common;

use common::{open, payload};
use disk::SimDisk;
use disk::sim::{Fault, Operation, Trigger};
use wal::{Error, Lsn};

fn failing_log(operation: Operation) {
    let disk = SimDisk::with_seed(21);
    let (log, _) = open(&disk, Lsn::ZERO).unwrap();
    log.append_durable(1, &payload(0, 100)).unwrap();
    let next = disk.operation_counts().get(operation);
    disk.inject(Fault::io_error(operation, Trigger::Once { index: next }));
    let failed = log.append_durable(1, &payload(1, 100));
    assert!(matches!(failed, Err(Error::Failed { .. })), "{operation:?}: {failed:?}");
    // The fault was transient, but the log stays stopped.
    assert!(matches!(log.append(1, &payload(2, 100)), Err(Error::Failed { .. })));
    assert!(matches!(log.flush(), Err(Error::Failed { .. })));
    let reason = log.stats().failure.expect("the failure is reported in stats");
    assert!(
        reason.contains("Input/output error")
            || reason.contains("EIO")
            || reason.contains("os error 5"),
        "{reason}"
    );
    drop(log);
    // Reopening recovers: the acknowledged record is there; the failed one may or may not be.
    let (log, records) = open(&disk, Lsn::ZERO).unwrap();
    assert!(!records.is_empty() && records.len() <= 2);
    assert_eq!(records[0].payload, payload(0, 100));
    log.append_durable(1, &payload(3, 100)).unwrap();
}

#[test]
fn a_failed_flush_makes_the_log_refuse_appends() {
    failing_log(Operation::Flush);
}

#[test]
fn a_failed_write_makes_the_log_refuse_appends() {
    failing_log(Operation::Write);
}
