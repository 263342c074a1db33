//! The entry points of the cargo-fuzz targets in `fuzz/` that run a whole database: each takes
//! the fuzzer's bytes, so that `tests/fuzz_corpora.rs` replays the targets' corpora on stable
//! Rust through the same code. They use the harness's oracle and its simulated-disk recovery,
//! and panic only when the database breaks a promise.
//!
//! | target                   | what it does                                                   |
//! |--------------------------|----------------------------------------------------------------|
//! | [`open_directory`]       | a directory of damaged or arbitrary files opened, read, checked |
//! | [`engine_ops_with_crash`] | operations against a `BTreeMap` model, with disk deaths and crashes |

mod open_directory;
mod operations;

pub use open_directory::open_directory;
pub use operations::engine_ops_with_crash;
