//! [`PoolOptions`]: the pool's size, page size and write-back policy.

use std::time::Duration;

use crate::error::{Error, Result};
use crate::limits::{FRAME_COUNT_MAX, FRAME_COUNT_MIN, PAGE_BYTES_MAX, PAGE_BYTES_MIN};

/// How a pool is built.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PoolOptions {
    /// Bytes of page memory (frames); the frame count is `pool_bytes / page_bytes`.
    pub pool_bytes: usize,
    /// Bytes of one page: a power of two from [`PAGE_BYTES_MIN`] to [`PAGE_BYTES_MAX`], and a
    /// multiple of the file's direct-I/O alignment.
    pub page_bytes: usize,
    /// Run a background writer that keeps [`PoolOptions::free_frames_reserve`] frames free by
    /// evicting clean pages and writing dirty ones back in batches, so that threads missing a
    /// page rarely wait for a write. Off, the threads that need frames do this work themselves.
    pub background_writer: bool,
    /// Free frames the background writer keeps in reserve; `None` picks 1/16 of the frames
    /// (at least 1, at most 1024).
    pub free_frames_reserve: Option<usize>,
    /// How long a thread that needs a frame waits while no frame anywhere in the pool is freed
    /// or cleaned, before it fails with [`crate::Error::Exhausted`] (every frame held by
    /// guards, or dirty and waiting for a log that does not advance) instead of waiting forever.
    pub frame_wait_max: Duration,
}

impl Default for PoolOptions {
    fn default() -> Self {
        Self {
            pool_bytes: 64 << 20,
            page_bytes: 4096,
            background_writer: true,
            free_frames_reserve: None,
            frame_wait_max: Duration::from_secs(5),
        }
    }
}

impl PoolOptions {
    /// Frames the options give.
    pub fn frame_count(&self) -> usize {
        self.pool_bytes / self.page_bytes.max(1)
    }

    /// The free-frame reserve in frames.
    pub(crate) fn reserve_frames(&self) -> usize {
        let frame_count = self.frame_count();
        self.free_frames_reserve.unwrap_or((frame_count / 16).clamp(1, 1024)).min(frame_count / 2)
    }

    /// Checks the options against the limits and the file's alignment.
    pub(crate) fn validate(&self, offset_alignment_bytes: u64) -> Result<()> {
        let invalid = |reason: String| Err(Error::InvalidOptions { reason });
        let page_bytes = self.page_bytes;
        if !page_bytes.is_power_of_two() || !(PAGE_BYTES_MIN..=PAGE_BYTES_MAX).contains(&page_bytes)
        {
            return invalid(format!(
                "page size {page_bytes} is not a power of two from {PAGE_BYTES_MIN} to {PAGE_BYTES_MAX}"
            ));
        }
        if page_bytes as u64 % offset_alignment_bytes.max(1) != 0 {
            return invalid(format!(
                "page size {page_bytes} is not a multiple of the file's direct-I/O alignment ({offset_alignment_bytes})"
            ));
        }
        let frame_count = self.frame_count();
        if !(FRAME_COUNT_MIN..=FRAME_COUNT_MAX).contains(&frame_count) {
            return invalid(format!(
                "{} bytes of {page_bytes}-byte pages is {frame_count} frames; the pool needs {FRAME_COUNT_MIN} to {FRAME_COUNT_MAX}",
                self.pool_bytes
            ));
        }
        Ok(())
    }
}
