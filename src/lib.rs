//! directdb: an embedded transactional key-value storage engine whose page store bypasses the
//! kernel page cache with `O_DIRECT`, submits batched `io_uring` requests through sector-aligned
//! buffers, and keeps its own buffer pool.
//!
//! This is the facade embedders depend on. Today it exposes the `disk` layer (files, backends,
//! the device probe and the simulated disk); the `Db` API arrives with the engine.

pub use disk;
