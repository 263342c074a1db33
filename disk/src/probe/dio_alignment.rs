//! The direct-I/O alignment the kernel asks of a file, and where the probe got it.
//!
//! Since Linux 6.1, `statx(STATX_DIOALIGN)` reports it per file: `stx_dio_mem_align` for the
//! buffer's address, `stx_dio_offset_align` for the file offset and the length. Each file system
//! decides whether to answer (ext4, xfs, btrfs and f2fs do, for regular files) and answers 0 when
//! the file cannot do direct I/O at all. Without an answer the block device's logical block size
//! is the requirement (it is what the block layer checks), and without a block device,
//! [`ALIGN_FALLBACK_BYTES`].
//!
//! Worked example for this machine: ext4 on a virtio disk with 512-byte logical blocks answers
//! `mem 512, offset 512`; the source is `statx`. On a kernel before 6.1 the same file would get
//! 512 from `queue/logical_block_size`; on tmpfs (no block device, no answer) 4096.

use std::path::Path;

use rustix::fs::{AtFlags, CWD, StatxFlags};

use crate::alignment::Alignment;
use crate::limits::{ALIGN_FALLBACK_BYTES, ALIGN_MAX_BYTES};

/// What `statx(STATX_DIOALIGN)` said about the probed file.
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize)]
#[serde(tag = "status", rename_all = "snake_case")]
pub enum StatxDioAlign {
    /// The file system reported the alignment.
    Reported {
        /// `stx_dio_mem_align`.
        memory_bytes: u32,
        /// `stx_dio_offset_align`.
        offset_bytes: u32,
    },
    /// `STATX_DIOALIGN` was not in `stx_mask`: a kernel before 6.1, a file system that does not
    /// answer, or a file that is not regular.
    NotReported,
    /// The file system reported 0: this file cannot be opened for direct I/O.
    DirectIoUnsupported,
    /// `statx` itself failed (`ENOSYS` under an old seccomp filter, for one).
    Failed {
        /// The error.
        error: String,
    },
}

impl StatxDioAlign {
    /// Asks the kernel about `path` (following symbolic links).
    pub(crate) fn of_path(path: &Path) -> Self {
        match rustix::fs::statx(CWD, path, AtFlags::empty(), StatxFlags::DIOALIGN) {
            Ok(stat) => Self::from_statx(
                StatxFlags::from_bits_retain(stat.stx_mask),
                stat.stx_dio_mem_align,
                stat.stx_dio_offset_align,
            ),
            Err(errno) => Self::Failed { error: std::io::Error::from(errno).to_string() },
        }
    }

    /// Asks the kernel about an open file.
    pub(crate) fn of_fd(fd: impl std::os::fd::AsFd) -> Self {
        match rustix::fs::statx(fd, "", AtFlags::EMPTY_PATH, StatxFlags::DIOALIGN) {
            Ok(stat) => Self::from_statx(
                StatxFlags::from_bits_retain(stat.stx_mask),
                stat.stx_dio_mem_align,
                stat.stx_dio_offset_align,
            ),
            Err(errno) => Self::Failed { error: std::io::Error::from(errno).to_string() },
        }
    }

    /// Interprets the three `statx` fields that matter here.
    fn from_statx(mask: StatxFlags, memory_bytes: u32, offset_bytes: u32) -> Self {
        if !mask.contains(StatxFlags::DIOALIGN) {
            return Self::NotReported;
        }
        // The kernel documents both as 0 when direct I/O is unsupported; one 0 alone would be a
        // misreport, and either way no alignment can be taken from it.
        if memory_bytes == 0 || offset_bytes == 0 {
            return Self::DirectIoUnsupported;
        }
        Self::Reported { memory_bytes, offset_bytes }
    }
}

/// Where a [`DioAlignment`] came from.
#[derive(Clone, Copy, Debug, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "snake_case")]
pub enum AlignmentSource {
    /// `statx(STATX_DIOALIGN)` on the probed file.
    Statx,
    /// The block device's logical block size, because `statx` gave no usable answer.
    LogicalBlockSize,
    /// [`ALIGN_FALLBACK_BYTES`], because neither `statx` nor a block device answered.
    Fallback,
}

impl AlignmentSource {
    /// A short phrase for reports, to follow "from": "statx STATX_DIOALIGN", "the logical block
    /// size", "the default".
    pub fn describe(self) -> &'static str {
        match self {
            AlignmentSource::Statx => "statx STATX_DIOALIGN",
            AlignmentSource::LogicalBlockSize => "the logical block size",
            AlignmentSource::Fallback => "the default",
        }
    }
}

/// The direct-I/O alignment of files on the probed file system, and its source.
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize)]
pub struct DioAlignment {
    /// The alignment directdb would use.
    #[serde(flatten)]
    pub alignment: Alignment,
    /// Where it came from.
    pub source: AlignmentSource,
    /// What `statx` said, whether or not it was used.
    pub statx: StatxDioAlign,
}

impl DioAlignment {
    /// Takes `statx`'s answer if it is usable, else the logical block size if there is a usable
    /// one, else [`ALIGN_FALLBACK_BYTES`]. Usable means a power of two no larger than
    /// [`ALIGN_MAX_BYTES`]; anything else is a misreport and is passed over, not trusted.
    pub(crate) fn choose(statx: StatxDioAlign, logical_block_bytes: Option<u32>) -> Self {
        let (alignment, source) = match (&statx, logical_block_bytes) {
            (&StatxDioAlign::Reported { memory_bytes, offset_bytes }, _)
                if usable(memory_bytes) && usable(offset_bytes) =>
            {
                (Alignment { memory_bytes, offset_bytes }, AlignmentSource::Statx)
            }
            (_, Some(bytes)) if usable(bytes) => {
                (Alignment::uniform(bytes), AlignmentSource::LogicalBlockSize)
            }
            _ => (Alignment::uniform(ALIGN_FALLBACK_BYTES), AlignmentSource::Fallback),
        };
        Self { alignment, source, statx }
    }
}

fn usable(bytes: u32) -> bool {
    bytes.is_power_of_two() && bytes <= ALIGN_MAX_BYTES
}

#[cfg(test)]
mod tests {
    use super::*;

    const REPORTED_512: StatxDioAlign =
        StatxDioAlign::Reported { memory_bytes: 512, offset_bytes: 512 };

    #[test]
    fn statx_fields_are_interpreted_by_mask_then_value() {
        let dioalign = StatxFlags::DIOALIGN | StatxFlags::BASIC_STATS;
        assert_eq!(StatxDioAlign::from_statx(dioalign, 512, 512), REPORTED_512);
        let without_dioalign = StatxFlags::BASIC_STATS;
        assert_eq!(
            StatxDioAlign::from_statx(without_dioalign, 512, 512),
            StatxDioAlign::NotReported
        );
        assert_eq!(StatxDioAlign::from_statx(dioalign, 0, 0), StatxDioAlign::DirectIoUnsupported);
        assert_eq!(StatxDioAlign::from_statx(dioalign, 4, 0), StatxDioAlign::DirectIoUnsupported);
    }

    #[test]
    fn statx_wins_when_it_answers() {
        let statx = StatxDioAlign::Reported { memory_bytes: 4, offset_bytes: 512 };
        let chosen = DioAlignment::choose(statx, Some(4096));
        assert_eq!(chosen.source, AlignmentSource::Statx);
        assert_eq!(chosen.alignment, Alignment { memory_bytes: 4, offset_bytes: 512 });
    }

    #[test]
    fn the_logical_block_size_stands_in_when_statx_does_not_answer() {
        let failed = StatxDioAlign::Failed { error: "ENOSYS".into() };
        for statx in [StatxDioAlign::NotReported, StatxDioAlign::DirectIoUnsupported, failed] {
            let chosen = DioAlignment::choose(statx, Some(512));
            assert_eq!(chosen.source, AlignmentSource::LogicalBlockSize);
            assert_eq!(chosen.alignment, Alignment::uniform(512));
        }
    }

    #[test]
    fn misreported_values_are_passed_over() {
        let odd = StatxDioAlign::Reported { memory_bytes: 3, offset_bytes: 512 };
        assert_eq!(DioAlignment::choose(odd, Some(512)).source, AlignmentSource::LogicalBlockSize);
        let huge = StatxDioAlign::Reported { memory_bytes: 512, offset_bytes: 1 << 20 };
        assert_eq!(DioAlignment::choose(huge, None).source, AlignmentSource::Fallback);
        let chosen = DioAlignment::choose(StatxDioAlign::NotReported, Some(520));
        assert_eq!(chosen.source, AlignmentSource::Fallback);
        assert_eq!(chosen.alignment, Alignment::uniform(ALIGN_FALLBACK_BYTES));
    }

    #[test]
    fn a_missing_file_is_a_failed_statx_not_a_panic() {
        let statx = StatxDioAlign::of_path(Path::new("/nonexistent/directdb-probe"));
        assert!(matches!(statx, StatxDioAlign::Failed { .. }), "{statx:?}");
    }
}
