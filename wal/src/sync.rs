//! The synchronisation primitives of the log: `std`'s, or loom's when the crate is built with
//! `--cfg loom` so that loom can explore every interleaving of the group-commit hand-off.

#[cfg(loom)]
pub(crate) use loom::sync::{Condvar, Mutex, MutexGuard};
#[cfg(not(loom))]
pub(crate) use std::sync::{Condvar, Mutex, MutexGuard};
