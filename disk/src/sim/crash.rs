//! The crash model of [`crate::SimDisk`]: what a power loss keeps, loses and tears.
//!
//! At a crash:
//!
//! 1. Durable data stays: every write made durable by [`crate::File::sync_data`],
//!    [`crate::File::write_at_durable`], an `O_DSYNC` file, [`crate::File::allocate`] or
//!    [`crate::File::truncate`], and on a write-through disk ([`super::CacheMode`]) every
//!    completed write as far as it lies inside the file's durable size.
//! 2. Each write still in the volatile cache ([`PendingWrite`]) independently meets a
//!    [`WriteFate`]: lost, kept, or torn (a subset of its sectors kept, at a sector size of 512 B
//!    or 4 KiB, counted on absolute file offsets: a 4 KiB sector is the aligned 4 KiB block that
//!    holds it, as on a 512e drive whose physical sector is 4 KiB). Kept parts are applied in
//!    write order on top of the durable data; a kept part past the durable end of the file
//!    extends it (with zeros in any gap).
//! 3. Each directory keeps a prefix of its un-synced creates, removes and renames (see
//!    `namespace.rs`); a file whose every name is lost disappears with its data.
//! 4. Every handle and lock from before the crash is dead: its operations fail with
//!    [`crate::Error::Crashed`].
//!
//! The choices in 2 and 3 come from a [`CrashChoices`]: [`crate::SimDisk::crash`] draws them
//! from the disk's seeded generator, and an exhaustive explorer can enumerate them through
//! [`crate::SimDisk::crash_with`].

use std::path::{Path, PathBuf};

use rand::Rng;
use rand_chacha::ChaCha8Rng;

use super::UNIT_BYTES;
use super::inode::{Inode, PendingRecord};
use super::namespace::FileId;

/// A write in the volatile cache, as offered to [`CrashChoices::write_fate`].
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PendingWrite {
    /// The file written.
    pub file: FileId,
    /// A name the file has now (the first in sorted order), or `None` if it was removed.
    pub path: Option<PathBuf>,
    /// Issue order, unique across the disk: fates are applied in this order.
    pub sequence: u64,
    /// Where the write landed.
    pub offset_bytes: u64,
    /// Its length.
    pub length_bytes: u64,
}

impl PendingWrite {
    /// The number of `sector_bytes`-aligned sectors the write touches: the length of the mask in
    /// [`WriteFate::Torn`]. Worked example: a 4096-byte write at offset 2048 touches two 4 KiB
    /// sectors (`0..4096` and `4096..8192`) and eight 512 B sectors.
    pub fn sector_count(&self, sector_bytes: u64) -> usize {
        if self.length_bytes == 0 {
            return 0;
        }
        let first_sector = self.offset_bytes / sector_bytes;
        let last_sector = (self.offset_bytes + self.length_bytes - 1) / sector_bytes;
        usize::try_from(last_sector - first_sector + 1).unwrap_or(usize::MAX)
    }
}

/// What a crash does to one [`PendingWrite`].
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum WriteFate {
    /// None of it reached the media.
    Lost,
    /// All of it did.
    Kept,
    /// Some of its sectors did.
    Torn {
        /// The sector size the write tore at: a power of two, at least 512.
        sector_bytes: u64,
        /// One flag per sector the write touches ([`PendingWrite::sector_count`]), in file
        /// order: true where the sector was kept.
        kept_sectors: Vec<bool>,
    },
}

/// The choices a crash makes. Implemented by the seeded generator behind
/// [`crate::SimDisk::crash`], by [`LoseAll`] and [`KeepAll`], and by an explorer that enumerates
/// them.
///
/// The methods are called with the disk's state locked: they must not call back into the
/// `SimDisk`.
pub trait CrashChoices {
    /// The fate of one write; called once per pending write, in sequence order.
    ///
    /// # Panics
    /// The crash panics if a [`WriteFate::Torn`] has a sector size that is not a power of two of
    /// at least 512 or a mask whose length is not [`PendingWrite::sector_count`]: that is a bug
    /// in the implementation, not a property of the disk.
    fn write_fate(&mut self, write: &PendingWrite) -> WriteFate;

    /// How many of `directory`'s `pending_count` un-synced namespace changes survive, oldest
    /// first: `0..=pending_count`. Called once per directory with changes, in sorted order.
    fn namespace_kept_count(&mut self, directory: &Path, pending_count: usize) -> usize;
}

/// The worst crash: every non-durable write and namespace change is lost.
#[derive(Clone, Copy, Debug, Default)]
pub struct LoseAll;

impl CrashChoices for LoseAll {
    fn write_fate(&mut self, _write: &PendingWrite) -> WriteFate {
        WriteFate::Lost
    }

    fn namespace_kept_count(&mut self, _directory: &Path, _pending_count: usize) -> usize {
        0
    }
}

/// The mildest crash: every completed write and namespace change reached the media.
#[derive(Clone, Copy, Debug, Default)]
pub struct KeepAll;

impl CrashChoices for KeepAll {
    fn write_fate(&mut self, _write: &PendingWrite) -> WriteFate {
        WriteFate::Kept
    }

    fn namespace_kept_count(&mut self, _directory: &Path, pending_count: usize) -> usize {
        pending_count
    }
}

/// The choices of [`crate::SimDisk::crash`]: each write is lost, kept or torn with equal odds;
/// a torn write tears at one of `tear_sector_bytes` and keeps each sector with odds 1/2; each
/// directory keeps a uniformly chosen prefix.
pub(super) struct SeededChoices<'a> {
    pub(super) rng: &'a mut ChaCha8Rng,
    pub(super) tear_sector_bytes: &'a [u64],
}

impl CrashChoices for SeededChoices<'_> {
    fn write_fate(&mut self, write: &PendingWrite) -> WriteFate {
        match self.rng.random_range(0..3) {
            0 => WriteFate::Lost,
            1 => WriteFate::Kept,
            _ => {
                let choice = self.rng.random_range(0..self.tear_sector_bytes.len());
                let sector_bytes = self.tear_sector_bytes[choice];
                let kept_sectors = (0..write.sector_count(sector_bytes))
                    .map(|_| self.rng.random_bool(0.5))
                    .collect();
                WriteFate::Torn { sector_bytes, kept_sectors }
            }
        }
    }

    fn namespace_kept_count(&mut self, _directory: &Path, pending_count: usize) -> usize {
        self.rng.random_range(0..=pending_count)
    }
}

/// One pending write and what the crash did to it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct WriteOutcome {
    /// The write.
    pub write: PendingWrite,
    /// Its fate.
    pub fate: WriteFate,
}

/// One directory's un-synced namespace changes and how many the crash kept.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct DirectoryOutcome {
    /// The directory.
    pub directory: PathBuf,
    /// Its un-synced changes at the crash.
    pub pending_count: usize,
    /// How many of them (the oldest) survived.
    pub kept_count: usize,
}

/// What one crash did, for the harness's report and for replaying a failure.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct CrashReport {
    /// Which crash of this disk it was, from 0.
    pub crash_index: u64,
    /// Pending writes lost whole.
    pub writes_lost: usize,
    /// Pending writes kept whole.
    pub writes_kept: usize,
    /// Pending writes torn.
    pub writes_torn: usize,
    /// Un-synced namespace changes lost.
    pub namespace_changes_lost: usize,
    /// Un-synced namespace changes kept.
    pub namespace_changes_kept: usize,
    /// Every pending write and its fate, in sequence order.
    pub writes: Vec<WriteOutcome>,
    /// Every directory with un-synced changes, in sorted order.
    pub directories: Vec<DirectoryOutcome>,
}

impl CrashReport {
    pub(super) fn add_write(&mut self, write: PendingWrite, fate: WriteFate) {
        match fate {
            WriteFate::Lost => self.writes_lost += 1,
            WriteFate::Kept => self.writes_kept += 1,
            WriteFate::Torn { .. } => self.writes_torn += 1,
        }
        self.writes.push(WriteOutcome { write, fate });
    }

    pub(super) fn add_directory(&mut self, directory: PathBuf, pending_count: usize, kept: usize) {
        self.namespace_changes_kept += kept;
        self.namespace_changes_lost += pending_count - kept;
        self.directories.push(DirectoryOutcome { directory, pending_count, kept_count: kept });
    }
}

/// Describes `record` of `file` for [`CrashChoices::write_fate`].
pub(super) fn describe(
    file: FileId,
    path: Option<PathBuf>,
    record: &PendingRecord,
) -> PendingWrite {
    PendingWrite {
        file,
        path,
        sequence: record.sequence,
        offset_bytes: record.offset_bytes,
        length_bytes: record.data.len() as u64,
    }
}

/// The contents `inode` has after a crash that gives its pending writes `fates` (one per
/// pending write, in order).
pub(super) fn surviving_content(inode: &Inode, fates: &[&WriteFate]) -> Vec<u8> {
    assert_eq!(fates.len(), inode.pending.len());
    let mut content = inode.durable.clone();
    for (record, fate) in inode.pending.iter().zip(fates) {
        match fate {
            WriteFate::Lost => {}
            WriteFate::Kept => record.apply(&mut content),
            WriteFate::Torn { sector_bytes, kept_sectors } => {
                apply_torn(record, *sector_bytes, kept_sectors, &mut content);
            }
        }
    }
    content
}

fn apply_torn(
    record: &PendingRecord,
    sector_bytes: u64,
    kept_sectors: &[bool],
    target: &mut Vec<u8>,
) {
    assert!(
        sector_bytes.is_power_of_two() && sector_bytes >= UNIT_BYTES,
        "torn write sector size {sector_bytes} is not a power of two of at least {UNIT_BYTES}"
    );
    let first_sector = record.offset_bytes / sector_bytes;
    let sector_count = (record.end_bytes() - 1) / sector_bytes - first_sector + 1;
    assert_eq!(kept_sectors.len() as u64, sector_count, "torn write mask length");
    for unit_index in 0..record.live_units.len() {
        let sector_index = record.unit_offset_bytes(unit_index) / sector_bytes - first_sector;
        if kept_sectors[usize::try_from(sector_index).expect("mask index fits usize")] {
            record.apply_unit(target, unit_index);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand::SeedableRng;

    fn write_at(offset_bytes: u64, length_bytes: u64) -> PendingWrite {
        PendingWrite { file: FileId(1), path: None, sequence: 1, offset_bytes, length_bytes }
    }

    #[test]
    fn sector_count_counts_aligned_sectors_touched() {
        assert_eq!(write_at(2048, 4096).sector_count(4096), 2);
        assert_eq!(write_at(2048, 4096).sector_count(512), 8);
        assert_eq!(write_at(4096, 4096).sector_count(4096), 1);
        assert_eq!(write_at(0, 0).sector_count(512), 0);
    }

    #[test]
    fn torn_keeps_exactly_the_masked_sectors() {
        let mut inode = Inode::default();
        let data = (0..8u8).flat_map(|unit| vec![unit + 1; 512]).collect::<Vec<u8>>();
        inode.push(PendingRecord::new(1, 2048, data, vec![true; 8], true));
        // 4 KiB sectors: 0..4096 holds units 0..4 (offsets 2048..4096), 4096..8192 the rest.
        let fate = WriteFate::Torn { sector_bytes: 4096, kept_sectors: vec![false, true] };
        let content = surviving_content(&inode, &[&fate]);
        assert_eq!(content.len(), 6144);
        assert!(content[..4096].iter().all(|&byte| byte == 0));
        assert!(content[4096..4608].iter().all(|&byte| byte == 5));
    }

    #[test]
    #[should_panic(expected = "mask length")]
    fn a_wrong_mask_length_is_a_bug() {
        let mut inode = Inode::default();
        inode.push(PendingRecord::new(1, 0, vec![1; 1024], vec![true; 2], true));
        let fate = WriteFate::Torn { sector_bytes: 512, kept_sectors: vec![true] };
        surviving_content(&inode, &[&fate]);
    }

    #[test]
    fn seeded_choices_replay_from_the_seed() {
        let draw = |seed| {
            let mut rng = ChaCha8Rng::seed_from_u64(seed);
            let mut choices = SeededChoices { rng: &mut rng, tear_sector_bytes: &[512, 4096] };
            (0..32).map(|_| choices.write_fate(&write_at(0, 8192))).collect::<Vec<_>>()
        };
        assert_eq!(draw(1), draw(1));
        assert_ne!(draw(1), draw(2));
    }
}
