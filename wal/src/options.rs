//! How a log is opened.

use disk::FlushMethod;

use crate::limits::SEGMENT_BYTES_DEFAULT;

/// Options of a [`crate::Wal`].
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct WalOptions {
    /// Size of each segment file for a new log (an existing log keeps the size it was made
    /// with). A multiple of 4096 within [`crate::limits::SEGMENT_BYTES_MIN`] and
    /// [`crate::limits::SEGMENT_BYTES_MAX`].
    pub segment_bytes: u32,
    /// How appends are made durable (see `docs/DURABILITY.md`). Choose it from the device with
    /// [`disk::DeviceProbe`] and [`FlushMethod::choose`], or force one.
    pub flush_method: FlushMethod,
    /// Why that method: shown in stats and logs.
    pub flush_reason: String,
}

impl Default for WalOptions {
    /// 16 MiB segments, flushed with `fdatasync`: correct on every device, whatever its cache.
    fn default() -> Self {
        Self {
            segment_bytes: SEGMENT_BYTES_DEFAULT,
            flush_method: FlushMethod::Fdatasync,
            flush_reason: "default: fdatasync is correct whatever the write cache does".into(),
        }
    }
}

impl WalOptions {
    /// Options whose flush method is chosen from the device holding `directory`, as `directdb
    /// probe` reports it.
    pub fn probed(directory: &std::path::Path) -> crate::Result<Self> {
        let probe = disk::DeviceProbe::of_path(directory)?;
        Ok(Self {
            flush_method: probe.flush_method,
            flush_reason: probe.flush_reason,
            ..Self::default()
        })
    }
}
