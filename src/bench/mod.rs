//! Benchmarks behind `directdb bench`: each measures one layer against the one below it, side by
//! side in the same run, because the machines this runs on are shared and noisy.

pub(crate) mod child;
pub(crate) mod fio;
pub(crate) mod io;
pub(crate) mod kv;
pub(crate) mod measure;
pub(crate) mod memory_budget;
pub(crate) mod memory_limit;
#[cfg(feature = "peers")]
pub(crate) mod peers;
pub(crate) mod pool;
pub(crate) mod scratch;
pub(crate) mod timed_disk;
pub(crate) mod tpcc;
pub(crate) mod wal;
pub(crate) mod workers;
pub(crate) mod ycsb;
