//! Helpers shared by the log's scenario tests.

#![allow(dead_code, reason = "each test file uses a different subset")]

use std::path::{Path, PathBuf};
use std::sync::Arc;

use disk::{AlignedBuf, Disk, OpenOptions, SimDisk};
use wal::{Lsn, Record, Wal, WalOptions};

pub(crate) const DIRECTORY: &str = "/db/wal";

/// Small segments, so tests cross segment boundaries quickly.
pub(crate) fn small_segments() -> WalOptions {
    WalOptions { segment_bytes: wal::limits::SEGMENT_BYTES_MIN, ..WalOptions::default() }
}

pub(crate) fn open(disk: &SimDisk, start: Lsn) -> wal::Result<(Wal, Vec<Record>)> {
    Wal::open(Arc::new(disk.clone()) as Arc<dyn Disk>, DIRECTORY, small_segments(), start)
}

/// A payload that names its record, so a misplaced or altered one is visible.
pub(crate) fn payload(number: u64, length_bytes: usize) -> Vec<u8> {
    let mut bytes = number.to_le_bytes().to_vec();
    bytes.resize(length_bytes.max(8), (number % 251) as u8);
    bytes
}

pub(crate) fn segment_path(index: u64) -> PathBuf {
    Path::new(DIRECTORY).join(format!("wal-{index:016x}.seg"))
}

/// Reads the 4 KiB block at `offset` of `path`, lets `change` edit it, writes it back durably.
pub(crate) fn edit_block(disk: &SimDisk, path: &Path, offset: u64, change: impl FnOnce(&mut [u8])) {
    let file = disk.open(path, OpenOptions::existing()).unwrap();
    let mut block = AlignedBuf::zeroed(4096, 4096);
    file.read_at(&mut block, offset).unwrap();
    change(&mut block);
    file.write_at(&block, offset).unwrap();
    file.sync_data().unwrap();
}

/// The file offset of `lsn` in its segment (the test log's geometry).
pub(crate) fn file_offset(lsn: Lsn) -> (u64, u64) {
    let data_bytes = u64::from(wal::limits::SEGMENT_BYTES_MIN) - 4096;
    (lsn.0 / data_bytes, 4096 + lsn.0 % data_bytes)
}
