//! Helpers shared by the engine's scenario tests.
#![allow(dead_code, reason = "each test file uses a different subset")]

use std::sync::Arc;

use disk::{Disk, FlushMethod, SimDisk};
use engine::{Db, Options, WalFlush};

pub(crate) const DIRECTORY: &str = "/db";

/// Options for a small database on a simulated disk: small pool, small log segments, frequent
/// checkpoints, so that tests reach eviction, segment switches and checkpoints quickly.
pub(crate) fn small_options() -> Options {
    Options {
        pool_size: 64 * 4096,
        wal_flush: WalFlush::Forced(FlushMethod::Fdatasync),
        wal_segment_bytes: wal::limits::SEGMENT_BYTES_MIN,
        checkpoint_wal_bytes: 256 << 10,
        ..Options::default()
    }
}

pub(crate) fn open_sim(disk: &SimDisk, options: &Options) -> engine::Result<Db> {
    Db::open_on(Arc::new(disk.clone()) as Arc<dyn Disk>, DIRECTORY, options.clone())
}
