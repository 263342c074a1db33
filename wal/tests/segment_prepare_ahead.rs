//! Leaders initialise the next segment outside the log's lock once the current one is half
//! full. Committers that need it meanwhile wait for it instead of initialising it themselves
//! (two initialisations would give it two salts and invalidate records written under the
//! first). Four committers cross many segments here; every record must come back in each
//! committer's order, and most segments must have been prepared ahead.

use std::sync::Arc;

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
    let threads: Vec<_> = (0..THREAD_COUNT)
        .map(|thread| {
            let log = Arc::clone(&log);
            std::thread::spawn(move || {
                for sequence in 0..RECORDS_PER_THREAD {
                    let mut payload = vec![thread; PAYLOAD_BYTES];
                    payload[..4].copy_from_slice(&sequence.to_le_bytes());
                    log.append_durable(thread, &payload).unwrap();
                }
            })
        })
        .collect();
    for thread in threads {
        thread.join().unwrap();
    }
    log.check_invariants();
    let stats = log.stats();
    assert!(stats.segments_initialised >= 10, "{stats:?}");
    assert!(stats.segments_prepared_ahead >= stats.segments_initialised / 2, "{stats:?}");
    drop(log);
    let (_log, replayed) = Wal::open(disk, "/wal", options, Lsn::ZERO).unwrap();
    assert_eq!(replayed.len(), usize::from(THREAD_COUNT) * RECORDS_PER_THREAD as usize);
    let mut next_sequence = [0u32; THREAD_COUNT as usize];
    for record in &replayed {
        let thread = usize::from(record.tag);
        let sequence = u32::from_le_bytes(record.payload[..4].try_into().unwrap());
        assert_eq!(sequence, next_sequence[thread], "thread {thread}'s records out of order");
        next_sequence[thread] += 1;
    }
}
