//! Recovery of a damaged log never panics, and returns only records that were appended, in
//! order: `wal::fuzzing::wal_recovery`.
//!
//! Run: `cargo +nightly fuzz run wal_recovery` (from `fuzz/`).

#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| wal::fuzzing::wal_recovery(data));
