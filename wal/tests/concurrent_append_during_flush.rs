//! Regression: records appended while a batch is being written.
//!
//! After a batch became durable, the writer dropped the flushed blocks from the front of its
//! buffer but left the offsets of the records appended meanwhile (by other committers, while
//! the leader was writing) pointing into the old buffer. The next batch then resealed the wrong
//! bytes or indexed past the buffer and panicked. A single committer never appends during a
//! flush, so only concurrent committers showed it (found by `directdb bench wal` at 2
//! committers). Here four committers append durably at once; every record must come back, each
//! committer's records in its own order.

use std::sync::Arc;

use disk::{Disk, SimDisk};
use wal::{Lsn, Wal, WalOptions};

const THREAD_COUNT: u8 = 4;
const RECORDS_PER_THREAD: u32 = 2000;

#[test]
fn appends_during_a_flush_survive_the_next_batch() {
    let disk: Arc<dyn Disk> = Arc::new(SimDisk::with_seed(11));
    let (log, _) = Wal::open(Arc::clone(&disk), "/wal", WalOptions::default(), Lsn::ZERO).unwrap();
    let log = Arc::new(log);
    let threads: Vec<_> = (0..THREAD_COUNT)
        .map(|thread| {
            let log = Arc::clone(&log);
            std::thread::spawn(move || {
                for sequence in 0..RECORDS_PER_THREAD {
                    let mut payload = vec![thread; 100];
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
    assert!(log.stats().batches_written < u64::from(THREAD_COUNT) * u64::from(RECORDS_PER_THREAD));
    drop(log);
    let (_log, replayed) = Wal::open(disk, "/wal", WalOptions::default(), Lsn::ZERO).unwrap();
    assert_eq!(replayed.len(), usize::from(THREAD_COUNT) * RECORDS_PER_THREAD as usize);
    let mut next_sequence = [0u32; THREAD_COUNT as usize];
    for record in &replayed {
        let thread = usize::from(record.tag);
        let sequence = u32::from_le_bytes(record.payload[..4].try_into().unwrap());
        assert_eq!(sequence, next_sequence[thread], "thread {thread}'s records out of order");
        assert!(record.payload[4..].iter().all(|&byte| usize::from(byte) == thread));
        next_sequence[thread] += 1;
    }
}
