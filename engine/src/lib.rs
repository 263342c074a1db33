//! The directdb engine: B+tree, transactions, checkpoints, recovery, free space and the `Db` API.
//!
//! Not built yet: this crate is a placeholder in the workspace so that the dependency graph
//! (`engine → wal, bufferpool → disk`) is fixed from the start.
#![forbid(unsafe_code)]

mod error;
#[allow(dead_code, reason = "the checkpoint and allocation paths that use it are being built")]
mod free_space;
#[allow(dead_code, reason = "the checkpoint and open paths that use it are being built")]
mod header;
#[allow(dead_code, reason = "the transaction layer that uses it is being built")]
mod versions;

pub use error::{Error, Result};
