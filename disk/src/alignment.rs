//! What the kernel requires of a direct-I/O request, and the check every backend runs before a
//! request reaches the kernel.

use std::path::Path;

use crate::error::{Error, Result};
use crate::limits::BUFFER_ALIGN_MIN_BYTES;

/// The direct-I/O alignment of one file: from `statx(STATX_DIOALIGN)`, else the block device's
/// logical block size, else [`crate::limits::ALIGN_FALLBACK_BYTES`].
///
/// Worked example for this machine (ext4 on a 512e virtio disk): `memory_bytes = 512`,
/// `offset_bytes = 512`. A 4096-byte read at offset 8192 into a buffer at address `0x7f..000`
/// passes; a read at offset 8200 fails (8200 % 512 = 8).
#[derive(Clone, Copy, Debug, PartialEq, Eq, serde::Serialize)]
pub struct Alignment {
    /// Required alignment of the buffer's address.
    pub memory_bytes: u32,
    /// Required alignment of the file offset and of the length.
    pub offset_bytes: u32,
}

impl Alignment {
    /// An alignment of `bytes` for both memory and offsets.
    pub const fn uniform(bytes: u32) -> Self {
        assert!(bytes.is_power_of_two());
        Self { memory_bytes: bytes, offset_bytes: bytes }
    }

    /// The alignment buffers are allocated with: the kernel's requirement, but at least
    /// [`BUFFER_ALIGN_MIN_BYTES`].
    pub fn buffer_align_bytes(&self) -> usize {
        (self.memory_bytes as usize).max(BUFFER_ALIGN_MIN_BYTES)
    }

    /// Checks one request; `operation` and `path` go into the error.
    pub fn check(
        &self,
        operation: &'static str,
        path: &Path,
        address: usize,
        length_bytes: usize,
        offset: u64,
    ) -> Result<()> {
        let misaligned = |what, value: u64, required: u32| Error::Misaligned {
            operation,
            path: path.to_path_buf(),
            what,
            value,
            required: u64::from(required),
        };
        if address % self.memory_bytes as usize != 0 {
            return Err(misaligned("buffer address", address as u64, self.memory_bytes));
        }
        if offset % u64::from(self.offset_bytes) != 0 {
            return Err(misaligned("offset", offset, self.offset_bytes));
        }
        if length_bytes % self.offset_bytes as usize != 0 {
            return Err(misaligned("length", length_bytes as u64, self.offset_bytes));
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn check_rejects_each_misalignment_by_name() {
        let alignment = Alignment::uniform(512);
        let path = Path::new("f");
        assert!(alignment.check("read", path, 4096, 4096, 8192).is_ok());
        let what = |result: Result<()>| match result {
            Err(Error::Misaligned { what, .. }) => what,
            other => panic!("expected a misalignment, got {other:?}"),
        };
        assert_eq!(what(alignment.check("read", path, 4097, 4096, 0)), "buffer address");
        assert_eq!(what(alignment.check("read", path, 4096, 4096, 8200)), "offset");
        assert_eq!(what(alignment.check("write", path, 4096, 100, 0)), "length");
    }

    #[test]
    fn buffers_are_at_least_four_kib_aligned() {
        assert_eq!(Alignment::uniform(512).buffer_align_bytes(), 4096);
        assert_eq!(Alignment::uniform(8192).buffer_align_bytes(), 8192);
    }
}
