//! A database directory whose files hold arbitrary bytes (a real database's files edited, or
//! files made from nothing) is opened, read and checked: a database or a clear error, never a
//! panic, a hang or data nobody wrote: `directdb::crashtest::fuzz::open_directory`.
//!
//! Run: `cargo +nightly fuzz run open_directory` (from `fuzz/`).

#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| directdb::crashtest::fuzz::open_directory(data));
