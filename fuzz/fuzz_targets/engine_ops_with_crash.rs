//! Arbitrary operations (puts, deletes, transactions committed or rolled back, snapshot reads,
//! ranges, checkpoints, disk deaths, crashes and reopens) on a database over `SimDisk`, against
//! a `BTreeMap` model and the crash harness's oracle:
//! `directdb::crashtest::fuzz::engine_ops_with_crash`.
//!
//! Run: `cargo +nightly fuzz run engine_ops_with_crash` (from `fuzz/`).

#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| directdb::crashtest::fuzz::engine_ops_with_crash(data));
