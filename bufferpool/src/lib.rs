//! The directdb buffer pool: frames, page table, latches, eviction, batched write-back and
//! prefetch over any `disk` backend.
//!
//! Built so far: [`HybridLatch`], the per-frame latch (optimistic, shared and exclusive modes
//! with upgrades), model-checked with loom. The frame arena, page table, eviction, write-back
//! and prefetch come next.
//!
//! ```
//! use bufferpool::HybridLatch;
//!
//! let latch = HybridLatch::new();
//! let token = latch.optimistic().expect("no writer");
//! // ... read the protected data through atomics ...
//! assert!(latch.validate(token));
//! drop(latch.lock_exclusive()); // a writer came and went
//! assert!(!latch.validate(token));
//! ```
#![forbid(unsafe_code)]

mod latch;
mod sync;

pub use latch::{ExclusiveGuard, HybridLatch, OptimisticToken, SHARED_COUNT_MAX, SharedGuard};
