//! [`AlignedBuf`]: an owned, zero-initialised byte buffer whose address and length meet a
//! file's direct-I/O alignment.

use std::fmt;
use std::ops::{Deref, DerefMut};

use aligned_vec::{AVec, RuntimeAlign};

use crate::alignment::Alignment;
use crate::limits::BUFFER_ALIGN_MIN_BYTES;

/// An owned buffer aligned for direct I/O.
///
/// The address is a multiple of `max(alignment.memory_bytes, 4096)` and the length a multiple of
/// `alignment.offset_bytes`, so any whole buffer can be read or written at an aligned offset.
/// The buffer is borrowed by an I/O request for exactly as long as the request is in flight:
/// [`crate::File::submit`] does not return while the kernel still holds a pointer into it.
pub struct AlignedBuf {
    bytes: AVec<u8, RuntimeAlign>,
}

impl AlignedBuf {
    /// A zeroed buffer of `length_bytes`, aligned to `align_bytes` (raised to at least 4 KiB).
    ///
    /// # Panics
    /// If `align_bytes` is not a power of two or `length_bytes` is not a multiple of 512: both
    /// are bugs in the caller, never a property of a file.
    pub fn zeroed(length_bytes: usize, align_bytes: usize) -> Self {
        assert!(align_bytes.is_power_of_two(), "alignment {align_bytes} is not a power of two");
        assert!(length_bytes % 512 == 0, "length {length_bytes} is not a multiple of 512");
        let align_bytes = align_bytes.max(BUFFER_ALIGN_MIN_BYTES);
        let bytes = AVec::from_iter(align_bytes, std::iter::repeat_n(0u8, length_bytes));
        assert_eq!(bytes.as_ptr() as usize % align_bytes, 0);
        Self { bytes }
    }

    /// A zeroed buffer of `length_bytes` for a file with `alignment`. The length is rounded up to
    /// the file's offset alignment.
    pub fn for_alignment(length_bytes: usize, alignment: Alignment) -> Self {
        let length_bytes = length_bytes.next_multiple_of(alignment.offset_bytes as usize);
        Self::zeroed(length_bytes.next_multiple_of(512), alignment.buffer_align_bytes())
    }

    /// A buffer holding a copy of `data`, zero-padded up to the next multiple of 512 bytes.
    pub fn from_slice_padded(data: &[u8], align_bytes: usize) -> Self {
        let mut buf = Self::zeroed(data.len().next_multiple_of(512), align_bytes);
        buf[..data.len()].copy_from_slice(data);
        buf
    }

    /// The buffer's alignment in bytes.
    pub fn align_bytes(&self) -> usize {
        self.bytes.alignment()
    }
}

impl Deref for AlignedBuf {
    type Target = [u8];
    fn deref(&self) -> &[u8] {
        &self.bytes
    }
}

impl DerefMut for AlignedBuf {
    fn deref_mut(&mut self) -> &mut [u8] {
        &mut self.bytes
    }
}

impl Clone for AlignedBuf {
    fn clone(&self) -> Self {
        let mut copy = Self::zeroed(self.len(), self.align_bytes());
        copy.copy_from_slice(self);
        copy
    }
}

impl fmt::Debug for AlignedBuf {
    fn fmt(&self, formatter: &mut fmt::Formatter<'_>) -> fmt::Result {
        formatter
            .debug_struct("AlignedBuf")
            .field("length_bytes", &self.len())
            .field("align_bytes", &self.align_bytes())
            .finish()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn zeroed_is_aligned_and_zero() {
        for align in [512, 4096, 65536] {
            let buf = AlignedBuf::zeroed(8192, align);
            assert_eq!(buf.as_ptr() as usize % align.max(4096), 0);
            assert_eq!(buf.len(), 8192);
            assert!(buf.iter().all(|&byte| byte == 0));
        }
    }

    #[test]
    fn for_alignment_rounds_length_up() {
        let buf = AlignedBuf::for_alignment(100, Alignment::uniform(4096));
        assert_eq!(buf.len(), 4096);
    }

    #[test]
    fn from_slice_pads_with_zeros() {
        let buf = AlignedBuf::from_slice_padded(b"abc", 4096);
        assert_eq!(buf.len(), 512);
        assert_eq!(&buf[..3], b"abc");
        assert!(buf[3..].iter().all(|&byte| byte == 0));
    }
}
