//! [`LogDurability`]: the WAL rule as an interface. The pool never writes a page whose LSN is
//! beyond what the log says is durable: if it did and then crashed, the page on disk would hold
//! a change whose log record was lost, and recovery could neither redo nor undo it.
//!
//! The engine implements this over its log; the pool does not know the log exists (`wal` and
//! `bufferpool` never depend on each other).

/// What the pool asks the log.
pub trait LogDurability: Send + Sync + std::fmt::Debug {
    /// Every log record with an LSN at or below this is durable.
    fn lsn_durable(&self) -> u64;

    /// The pool needs the log durable up to `lsn` to write a page back (every clean frame is
    /// taken and dirty pages wait for the log). The log should start a flush; the pool checks
    /// [`LogDurability::lsn_durable`] again afterwards. The default does nothing.
    fn request_durable(&self, lsn: u64) {
        let _ = lsn;
    }
}

/// For pools without a log (tests, benchmarks, durability `None`): every LSN is durable.
#[derive(Clone, Copy, Debug, Default)]
pub struct NoLog;

impl LogDurability for NoLog {
    fn lsn_durable(&self) -> u64 {
        u64::MAX
    }
}
