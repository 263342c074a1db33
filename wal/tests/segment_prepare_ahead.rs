//! Leaders initialise the next segment outside the log's lock once the current one is half
//! full. Committers that need it meanwhile wait for it instead of initialising it themselves
//! (two initialisations would give it two salts and invalidate records written under the
//! first). Four committers cross many segments here; every record must come back in each
//! committer's order, and most segments must have been prepared ahead.

mod common;

use std::sync::Arc;

use common::{check_committers, run_committers};
use disk::{Disk, SimDisk};
use wal::{Lsn, Wal, WalOptions};

const THREAD_COUNT: u8 = 4;
const RECORDS_PER_THREAD: u32 = 300;
const PAYLOAD_BYTES: usize = 20_000;

#[test]
fn segments_prepared_ahead_under_concurrent_commits() {
    let disk: Arc<dyn Disk> = Arc::new(SimDisk::with_seed(51));
    let options =
        WalOptions { segment_bytes: wal::limits::SEGMENT_BYTES_MIN, ..WalOptions::default() };
    let (log, _) = Wal::open(Arc::clone(&disk), "/wal", options.clone(), Lsn::ZERO).unwrap();
    let log = Arc::new(log);
    run_committers(&log, THREAD_COUNT, RECORDS_PER_THREAD, PAYLOAD_BYTES);
    log.check_invariants();
    let stats = log.stats();
    assert!(stats.segments_initialised >= 10, "{stats:?}");
    assert!(stats.segments_prepared_ahead >= stats.segments_initialised / 2, "{stats:?}");
    drop(log);
    let (_log, replay) = Wal::open(disk, "/wal", options, Lsn::ZERO).unwrap();
    let replayed: Vec<_> = replay.map(Result::unwrap).collect();
    check_committers(&replayed, THREAD_COUNT, RECORDS_PER_THREAD);
}
