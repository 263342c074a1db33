//! Drives a `SimDisk` with arbitrary sequences of writes, reads, flushes, durable writes and
//! crashes, against a model of what reads must see and what is durable:
//! `disk::fuzzing::sim_disk_ops`.
//!
//! Run: `cargo +nightly fuzz run sim_disk_ops` (from `fuzz/`).

#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| disk::fuzzing::sim_disk_ops(data));
