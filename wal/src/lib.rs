//! The directdb write-ahead log: checksummed records, segments, group commit, a flush policy
//! chosen from the device's write cache, and the recovery reader.
//!
//! Not built yet: this crate is a placeholder in the workspace so that the dependency graph
//! (`engine → wal, bufferpool → disk`) is fixed from the start.
#![forbid(unsafe_code)]
