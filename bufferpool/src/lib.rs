//! The directdb buffer pool: frames, page table, latches, eviction, batched write-back and
//! prefetch over any `disk` backend.
//!
//! Not built yet: this crate is a placeholder in the workspace so that the dependency graph
//! (`engine → wal, bufferpool → disk`) is fixed from the start.
#![forbid(unsafe_code)]
