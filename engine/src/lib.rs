//! The directdb engine: B+tree, transactions, checkpoints, recovery, free space and the `Db` API.
//!
//! Built so far: the data file header, free-space bookkeeping, the version store, and the
//! B+tree's page formats (`btree`: the node layout and its operations, overflow chains). The
//! tree, transactions, recovery and the `Db` API come next (see `docs/DESIGN.md`); the
//! dependency graph (`engine → wal, bufferpool → disk`) is fixed from the start.
#![forbid(unsafe_code)]

mod btree;
#[allow(dead_code, reason = "the commit path that uses it is being built")]
mod commit_record;
mod error;
#[allow(dead_code, reason = "the checkpoint and allocation paths that use it are being built")]
mod free_space;
#[cfg(any(test, feature = "fuzzing"))]
pub mod fuzzing;
#[allow(dead_code, reason = "the checkpoint and open paths that use it are being built")]
mod header;
mod limits;
#[allow(dead_code, reason = "the transaction layer that uses it is being built")]
mod versions;

pub use error::{Error, Result};
pub use limits::{KEY_BYTES_MAX, LEVEL_MAX, VALUE_BYTES_MAX};
