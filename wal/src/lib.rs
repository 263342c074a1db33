//! The directdb write-ahead log: checksummed records in pre-zeroed, recycled segments, group
//! commit, a flush method chosen from what the device's write cache does, a shadow copy of each
//! batch's last block, and a recovery reader that cuts a torn tail, restores a damaged last
//! block from its shadow and reports corruption.
//!
//! ```
//! use std::sync::Arc;
//! use disk::{Disk, SimDisk};
//! use wal::{Lsn, Wal, WalOptions};
//!
//! # fn main() -> wal::Result<()> {
//! let disk: Arc<dyn Disk> = Arc::new(SimDisk::with_seed(1));
//! let (log, replayed) = Wal::open(Arc::clone(&disk), "/db/wal", WalOptions::default(), Lsn::ZERO)?;
//! assert!(replayed.is_empty());
//! let appended = log.append(1, b"put k v")?;
//! log.wait_durable(appended.lsn_end)?; // many committers share one flush here
//! drop(log);
//!
//! let (_log, replay) = Wal::open(disk, "/db/wal", WalOptions::default(), Lsn::ZERO)?;
//! let replayed = replay.collect::<wal::Result<Vec<_>>>()?; // read as it is iterated
//! assert_eq!(replayed[0].payload, b"put k v");
//! # Ok(())
//! # }
//! ```
#![forbid(unsafe_code)]

mod error;
#[cfg(feature = "fuzzing")]
pub mod fuzzing;
mod group_commit;
pub mod limits;
mod lsn;
mod options;
pub mod planted;
mod record;
mod recovery;
mod repair;
mod replay;
mod segment;
mod segment_reader;
mod shadow;
mod sync;
mod wal;
mod writer;

pub use error::{Error, Result};
pub use lsn::Lsn;
pub use options::WalOptions;
pub use record::Record;
pub use replay::Replay;
pub use wal::{Appended, Wal, WalStats};
