//! [`Lsn`]: a position in the log.

use std::fmt;

/// A log sequence number: the byte position of a record in the log, counted from the start of
/// the first segment's data and continuous across segments. A record's LSN is where its header
/// starts; the LSN after it is where the next record may start.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, PartialOrd, Ord, Hash, serde::Serialize)]
pub struct Lsn(pub u64);

impl Lsn {
    /// The start of the log.
    pub const ZERO: Lsn = Lsn(0);

    /// This position plus `bytes`.
    pub fn plus(self, bytes: u64) -> Lsn {
        Lsn(self.0.checked_add(bytes).expect("LSN overflow: 16 EiB of log"))
    }
}

impl fmt::Display for Lsn {
    fn fmt(&self, formatter: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(formatter, "{}", self.0)
    }
}
