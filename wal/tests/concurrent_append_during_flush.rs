//! Regression: records appended while a batch is being written.
//!
//! After a batch became durable, the writer dropped the flushed blocks from the front of its
//! buffer but left the offsets of the records appended meanwhile (by other committers, while
//! the leader was writing) pointing into the old buffer. The next batch then resealed the wrong
//! bytes or indexed past the buffer and panicked. A single committer never appends during a
//! flush, so only concurrent committers showed it (found by `directdb bench wal` at 2
//! committers). Here four committers append durably at once; every record must come back, each
//! committer's records in its own order.

mod common;

use std::sync::Arc;

use common::{check_committers, run_committers};
use disk::{Disk, SimDisk};
use wal::{Lsn, Wal, WalOptions};

const THREAD_COUNT: u8 = 4;
const RECORDS_PER_THREAD: u32 = 2000;

#[test]
fn appends_during_a_flush_survive_the_next_batch() {
    let disk: Arc<dyn Disk> = Arc::new(SimDisk::with_seed(11));
    let (log, _) = Wal::open(Arc::clone(&disk), "/wal", WalOptions::default(), Lsn::ZERO).unwrap();
    let log = Arc::new(log);
    run_committers(&log, THREAD_COUNT, RECORDS_PER_THREAD, 100);
    log.check_invariants();
    // Whether appends landed during a flush (a batch holding several records) depends on the
    // scheduler, so it is reported, not asserted: a test must not fail on timing. With four
    // committers it happens in practice on every run seen so far.
    let batches = log.stats().batches_written;
    let records = u64::from(THREAD_COUNT) * u64::from(RECORDS_PER_THREAD);
    if batches == records {
        eprintln!(
            "note: no batch held more than one record this run; the interleaving was not reached"
        );
    }
    drop(log);
    let (_log, replay) = Wal::open(disk, "/wal", WalOptions::default(), Lsn::ZERO).unwrap();
    let replayed: Vec<_> = replay.map(Result::unwrap).collect();
    check_committers(&replayed, THREAD_COUNT, RECORDS_PER_THREAD);
}
