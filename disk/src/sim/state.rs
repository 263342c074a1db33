//! [`State`]: everything one simulated disk holds, behind the one lock of a [`crate::SimDisk`].
//!
//! Every operation of [`crate::SimDisk`] and [`super::SimFile`] runs here, in this order:
//!
//! 1. a handle from before a crash fails with [`Error::Crashed`];
//! 2. a misaligned request fails with [`Error::Misaligned`] (neither counted nor faulted: it
//!    never reaches the device);
//! 3. the operation is counted and injected faults are evaluated ([`FaultPlan::count`]);
//! 4. the operation runs, or fails as the kernel would (`ENOENT`, `ENOSPC`, ...).
//!
//! All randomness (failed-write outcomes, misdirected offsets, flipped bits, crash fates) comes
//! from one `ChaCha8Rng` seeded from the disk's seed, and every collection is ordered, so a
//! single-threaded run replays exactly from its seed.

use std::collections::{BTreeMap, BTreeSet};
use std::io;
use std::path::{Path, PathBuf};

use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;

use super::crash::{self, CrashChoices, CrashReport, PendingWrite, SeededChoices, WriteFate};
use super::fault::{Fault, FaultPlan, Operation, OperationCounts};
use super::inode::{Inode, PendingRecord, to_index};
use super::namespace::{FileId, Namespace, parent_of};
use super::{CacheMode, SimDiskOptions, TEAR_SECTOR_BYTES, UNIT_BYTES};
use crate::alignment::Alignment;
use crate::disk::OpenOptions;
use crate::error::{Error, Result};

/// An [`Error::Io`] carrying `errno`, as the kernel would report it.
pub(super) fn os_error(operation: &'static str, path: &Path, offset: u64, errno: i32) -> Error {
    Error::io(operation, path, offset, io::Error::from_raw_os_error(errno))
}

/// Which open file an operation is on, and from which epoch (crash count) its handle is.
#[derive(Clone, Copy, Debug)]
pub(super) struct HandleRef<'a> {
    pub(super) file: FileId,
    pub(super) epoch: u64,
    pub(super) path: &'a Path,
    pub(super) alignment: Alignment,
}

/// Everything one simulated disk holds.
#[derive(Clone)]
pub(super) struct State {
    pub(super) options: SimDiskOptions,
    rng: ChaCha8Rng,
    /// Crashes so far; handles and locks remember the epoch they were made in.
    pub(super) epoch: u64,
    namespace: Namespace,
    inodes: BTreeMap<FileId, Inode>,
    next_file_id: u64,
    next_sequence: u64,
    locks: BTreeSet<PathBuf>,
    faults: FaultPlan,
    tear_sector_bytes: Vec<u64>,
}

impl State {
    pub(super) fn new(options: SimDiskOptions) -> Self {
        let sector_bytes = u64::from(options.sector_bytes);
        let mut tear_sector_bytes: Vec<u64> =
            TEAR_SECTOR_BYTES.into_iter().filter(|&bytes| bytes >= sector_bytes).collect();
        if tear_sector_bytes.is_empty() {
            tear_sector_bytes.push(sector_bytes);
        }
        Self {
            rng: ChaCha8Rng::seed_from_u64(options.seed),
            options,
            epoch: 0,
            namespace: Namespace::default(),
            inodes: BTreeMap::new(),
            next_file_id: 0,
            next_sequence: 0,
            locks: BTreeSet::new(),
            faults: FaultPlan::default(),
            tear_sector_bytes,
        }
    }

    // ---- handles -------------------------------------------------------------------------

    fn check_epoch(&self, epoch: u64, operation: &'static str, path: &Path) -> Result<()> {
        if epoch == self.epoch {
            Ok(())
        } else {
            Err(Error::Crashed { operation, path: path.to_path_buf() })
        }
    }

    fn inode(&mut self, file: FileId) -> &mut Inode {
        self.inodes.get_mut(&file).expect("an open handle of the current epoch keeps its file")
    }

    /// Forgets one handle of `file` (dropped); a removed file dies with its last handle.
    pub(super) fn release(&mut self, file: FileId, epoch: u64) {
        if epoch != self.epoch {
            return;
        }
        let inode = self.inode(file);
        inode.open_handle_count -= 1;
        self.collect_garbage(file);
    }

    /// Drops `file` if nothing can reach it any more: no name (durable or not), no journaled
    /// change, no open handle.
    fn collect_garbage(&mut self, file: FileId) {
        let unreachable = self.inodes.get(&file).is_some_and(|inode| inode.open_handle_count == 0)
            && !self.namespace.refers_to(file);
        if unreachable {
            self.inodes.remove(&file);
        }
    }

    fn collect_all_garbage(&mut self) {
        let files: Vec<FileId> = self.inodes.keys().copied().collect();
        for file in files {
            self.collect_garbage(file);
        }
    }

    // ---- capacity ------------------------------------------------------------------------

    /// Fails with `ENOSPC` if growing `file` to `size_bytes` would take the disk past its
    /// capacity. Files are stored densely, so every byte up to a file's size counts.
    fn check_capacity(
        &self,
        file: FileId,
        size_bytes: u64,
        operation: Operation,
        path: &Path,
        offset: u64,
    ) -> Result<()> {
        let total_bytes: u64 = self.inodes.values().map(|inode| inode.current.len() as u64).sum();
        let file_bytes = self.inodes.get(&file).map_or(0, |inode| inode.current.len() as u64);
        let grown_bytes = size_bytes.saturating_sub(file_bytes);
        if total_bytes.saturating_add(grown_bytes) > self.options.capacity_bytes {
            return Err(os_error(operation.name(), path, offset, libc::ENOSPC));
        }
        Ok(())
    }

    // ---- file operations -----------------------------------------------------------------

    pub(super) fn read(
        &mut self,
        handle: HandleRef<'_>,
        buf: &mut [u8],
        offset: u64,
    ) -> Result<()> {
        let name = Operation::Read.name();
        self.check_epoch(handle.epoch, name, handle.path)?;
        handle.alignment.check(name, handle.path, buf.as_ptr() as usize, buf.len(), offset)?;
        let fired = self.faults.count(Operation::Read);
        if let Some(errno) = fired.errno {
            return Err(os_error(name, handle.path, offset, errno));
        }
        let content = &self.inodes[&handle.file].current;
        let start = usize::try_from(offset).unwrap_or(usize::MAX).min(content.len());
        let available = &content[start..];
        if available.len() < buf.len() {
            buf[..available.len()].copy_from_slice(available);
            return Err(Error::ShortRead {
                path: handle.path.to_path_buf(),
                offset,
                expected_bytes: buf.len(),
                got_bytes: available.len(),
            });
        }
        buf.copy_from_slice(&available[..buf.len()]);
        if fired.bit_flip_on_read {
            flip_random_bit(&mut self.rng, buf);
        }
        Ok(())
    }

    pub(super) fn write(
        &mut self,
        handle: HandleRef<'_>,
        buf: &[u8],
        offset: u64,
        durable: bool,
    ) -> Result<()> {
        let name = Operation::Write.name();
        self.check_epoch(handle.epoch, name, handle.path)?;
        handle.alignment.check(name, handle.path, buf.as_ptr() as usize, buf.len(), offset)?;
        let length_bytes = buf.len() as u64;
        if offset.checked_add(length_bytes).is_none() {
            return Err(os_error(name, handle.path, offset, libc::EINVAL));
        }
        let fired = self.faults.count(Operation::Write);
        if let Some(errno) = fired.errno {
            self.write_failed(handle.file, buf, offset);
            return Err(os_error(name, handle.path, offset, errno));
        }
        let landed_offset = if fired.misdirected_write {
            self.misdirected_offset(handle.file, offset, length_bytes)
        } else {
            offset
        };
        let landed_end = landed_offset.saturating_add(length_bytes);
        self.check_capacity(handle.file, landed_end, Operation::Write, handle.path, offset)?;
        let mut data = buf.to_vec();
        if fired.bit_flip_on_write {
            flip_random_bit(&mut self.rng, &mut data);
        }
        let sequence = self.take_sequence();
        let unit_count = data.len() / to_index(UNIT_BYTES);
        let record =
            PendingRecord::new(sequence, landed_offset, data, vec![true; unit_count], true);
        let write_through = self.options.cache_mode == CacheMode::WriteThrough;
        let inode = self.inode(handle.file);
        inode.push(record);
        if durable {
            inode.make_durable(sequence);
        } else if write_through {
            // No volatile cache: the data is on the media now; a new size is not (see
            // `CacheMode::WriteThrough`).
            inode.make_durable_inside_size(sequence);
        }
        Ok(())
    }

    fn take_sequence(&mut self) -> u64 {
        self.next_sequence += 1;
        self.next_sequence
    }

    /// A failed write leaves its range in an unknown state: none, all, or a random subset of
    /// its sectors landed (a third of the time each), and never extends the file. What landed
    /// is in the volatile cache for good: no later flush makes it durable. That holds in both
    /// cache modes: on a write-through disk a failed write is the one in flight when the machine
    /// died, and the crash decides what of it reached the media.
    fn write_failed(&mut self, file: FileId, buf: &[u8], offset: u64) {
        let sequence = self.take_sequence();
        let file_bytes = self.inodes[&file].current.len() as u64;
        let sector_bytes = u64::from(self.options.sector_bytes);
        let mode = self.rng.random_range(0..3);
        let mut live_units = vec![false; buf.len() / to_index(UNIT_BYTES)];
        for sector_offset in (0..buf.len() as u64).step_by(to_index(sector_bytes)) {
            let landed = match mode {
                0 => false,
                1 => true,
                _ => self.rng.random_bool(0.5),
            };
            let inside_file = offset + sector_offset + sector_bytes <= file_bytes;
            let first_unit = to_index(sector_offset / UNIT_BYTES);
            let unit_count = to_index(sector_bytes / UNIT_BYTES);
            live_units[first_unit..first_unit + unit_count].fill(landed && inside_file);
        }
        let record = PendingRecord::new(sequence, offset, buf.to_vec(), live_units, false);
        self.inode(file).push(record);
    }

    /// Another sector-aligned offset of the same file for a misdirected write of
    /// `length_bytes`: inside the file where there is room, else just past the requested range.
    fn misdirected_offset(&mut self, file: FileId, offset: u64, length_bytes: u64) -> u64 {
        let sector_bytes = u64::from(self.options.sector_bytes);
        let span_bytes = (self.inodes[&file].current.len() as u64).max(offset + length_bytes);
        let slot_count = (span_bytes - length_bytes) / sector_bytes + 1;
        if slot_count < 2 {
            return offset.saturating_add(length_bytes.max(sector_bytes));
        }
        let requested_slot = offset / sector_bytes;
        let mut slot = self.rng.random_range(0..slot_count - 1);
        if slot >= requested_slot {
            slot += 1;
        }
        slot * sector_bytes
    }

    pub(super) fn flush(&mut self, handle: HandleRef<'_>) -> Result<()> {
        let name = Operation::Flush.name();
        self.check_epoch(handle.epoch, name, handle.path)?;
        let fired = self.faults.count(Operation::Flush);
        if let Some(errno) = fired.errno {
            // Linux marks the pages clean after a failed fsync: retrying it would report
            // success without writing them. Model that by never flushing them.
            self.inode(handle.file).poison_pending();
            return Err(os_error(name, handle.path, 0, errno));
        }
        self.inode(handle.file).flush();
        Ok(())
    }

    pub(super) fn size_bytes(&self, handle: HandleRef<'_>) -> Result<u64> {
        self.check_epoch(handle.epoch, "fstat", handle.path)?;
        Ok(self.inodes[&handle.file].current.len() as u64)
    }

    pub(super) fn allocate(&mut self, handle: HandleRef<'_>, size_bytes: u64) -> Result<()> {
        let operation = Operation::Allocate;
        self.check_epoch(handle.epoch, operation.name(), handle.path)?;
        let fired = self.faults.count(operation);
        if let Some(errno) = fired.errno {
            return Err(os_error(operation.name(), handle.path, size_bytes, errno));
        }
        self.check_capacity(handle.file, size_bytes, operation, handle.path, size_bytes)?;
        self.inode(handle.file).allocate(size_bytes);
        Ok(())
    }

    /// The kernel's `ftruncate` makes a sparse file when it grows one; the simulation stores
    /// files densely, so growth past the capacity fails with `ENOSPC` here.
    pub(super) fn truncate(&mut self, handle: HandleRef<'_>, size_bytes: u64) -> Result<()> {
        let operation = Operation::Truncate;
        self.check_epoch(handle.epoch, operation.name(), handle.path)?;
        let fired = self.faults.count(operation);
        if let Some(errno) = fired.errno {
            return Err(os_error(operation.name(), handle.path, size_bytes, errno));
        }
        self.check_capacity(handle.file, size_bytes, operation, handle.path, size_bytes)?;
        self.inode(handle.file).truncate(size_bytes);
        Ok(())
    }

    // ---- namespace operations ------------------------------------------------------------

    /// Opens `path`, returning the file and the epoch of the new handle.
    pub(super) fn open(&mut self, path: &Path, options: OpenOptions) -> Result<FileId> {
        let name = Operation::Open.name();
        if let Some(errno) = self.faults.count(Operation::Open).errno {
            return Err(os_error(name, path, 0, errno));
        }
        let file = self.open_or_create(path, options.create, name)?;
        self.inode(file).open_handle_count += 1;
        Ok(file)
    }

    fn open_or_create(&mut self, path: &Path, create: bool, name: &'static str) -> Result<FileId> {
        if self.namespace.is_directory(path) {
            return Err(os_error(name, path, 0, libc::EISDIR));
        }
        if let Some(file) = self.namespace.file(path) {
            return Ok(file);
        }
        if !create {
            return Err(os_error(name, path, 0, libc::ENOENT));
        }
        if !self.namespace.is_directory(&parent_of(path)) {
            return Err(os_error(name, path, 0, libc::ENOENT));
        }
        let file = FileId(self.next_file_id);
        self.next_file_id += 1;
        self.inodes.insert(file, Inode::default());
        self.namespace.create(path, file);
        Ok(file)
    }

    pub(super) fn remove(&mut self, path: &Path) -> Result<()> {
        let name = Operation::Remove.name();
        if let Some(errno) = self.faults.count(Operation::Remove).errno {
            return Err(os_error(name, path, 0, errno));
        }
        if self.namespace.is_directory(path) {
            return Err(os_error(name, path, 0, libc::EISDIR));
        }
        let Some(file) = self.namespace.file(path) else {
            return Err(os_error(name, path, 0, libc::ENOENT));
        };
        self.namespace.remove(path);
        self.collect_garbage(file);
        Ok(())
    }

    /// Renames a file. Directories cannot be renamed on the simulated disk (`EISDIR`).
    pub(super) fn rename(&mut self, source: &Path, target: &Path) -> Result<()> {
        let name = Operation::Rename.name();
        if let Some(errno) = self.faults.count(Operation::Rename).errno {
            return Err(os_error(name, source, 0, errno));
        }
        if self.namespace.is_directory(source) || self.namespace.is_directory(target) {
            return Err(os_error(name, source, 0, libc::EISDIR));
        }
        if self.namespace.file(source).is_none() {
            return Err(os_error(name, source, 0, libc::ENOENT));
        }
        if !self.namespace.is_directory(&parent_of(target)) {
            return Err(os_error(name, target, 0, libc::ENOENT));
        }
        if source == target {
            return Ok(());
        }
        let replaced = self.namespace.file(target);
        self.namespace.rename(source, target);
        if let Some(replaced) = replaced {
            self.collect_garbage(replaced);
        }
        Ok(())
    }

    pub(super) fn sync_dir(&mut self, path: &Path) -> Result<()> {
        let name = Operation::SyncDir.name();
        if let Some(errno) = self.faults.count(Operation::SyncDir).errno {
            return Err(os_error(name, path, 0, errno));
        }
        if !self.namespace.is_directory(path) {
            let errno =
                if self.namespace.file(path).is_some() { libc::ENOTDIR } else { libc::ENOENT };
            return Err(os_error(name, path, 0, errno));
        }
        self.namespace.sync_dir(path);
        self.collect_all_garbage();
        Ok(())
    }

    /// Creates a directory and its parents, durably at once (directories are never lost).
    pub(super) fn create_dir_all(&mut self, path: &Path) -> Result<()> {
        let name = Operation::CreateDir.name();
        if let Some(errno) = self.faults.count(Operation::CreateDir).errno {
            return Err(os_error(name, path, 0, errno));
        }
        if let Some(file_path) =
            path.ancestors().find(|ancestor| self.namespace.file(ancestor).is_some())
        {
            let errno = if file_path == path { libc::EEXIST } else { libc::ENOTDIR };
            return Err(os_error(name, path, 0, errno));
        }
        self.namespace.create_dir_all(path);
        Ok(())
    }

    pub(super) fn list_dir(&self, path: &Path) -> Result<Vec<PathBuf>> {
        if !self.namespace.is_directory(path) {
            return Err(os_error("opendir", path, 0, libc::ENOENT));
        }
        Ok(self.namespace.list(path))
    }

    pub(super) fn exists(&self, path: &Path) -> bool {
        self.namespace.is_directory(path) || self.namespace.file(path).is_some()
    }

    /// Takes the lock on `path`, creating the file if needed.
    pub(super) fn lock(&mut self, path: &Path) -> Result<()> {
        let name = Operation::Lock.name();
        if let Some(errno) = self.faults.count(Operation::Lock).errno {
            return Err(os_error(name, path, 0, errno));
        }
        if self.locks.contains(path) {
            return Err(Error::Locked { path: path.to_path_buf() });
        }
        self.open_or_create(path, true, "open")?;
        self.locks.insert(path.to_path_buf());
        Ok(())
    }

    pub(super) fn unlock(&mut self, path: &Path, epoch: u64) {
        if epoch == self.epoch {
            self.locks.remove(path);
        }
    }

    /// Forgets every handle and lock (a forked copy: the handles belong to the original), and
    /// drops the files that only those handles kept alive.
    pub(super) fn detach_handles(&mut self) {
        for inode in self.inodes.values_mut() {
            inode.open_handle_count = 0;
        }
        self.locks.clear();
        self.collect_all_garbage();
    }

    // ---- crash ---------------------------------------------------------------------------

    /// Every write in the volatile cache, in sequence order.
    pub(super) fn pending_writes(&self) -> Vec<PendingWrite> {
        self.pending_records().into_iter().map(|(write, _)| write).collect()
    }

    /// Each pending write with its position `(file, index in that file's pending list)`.
    fn pending_records(&self) -> Vec<(PendingWrite, (FileId, usize))> {
        let mut first_names: BTreeMap<FileId, PathBuf> = BTreeMap::new();
        for (path, file) in self.namespace.files() {
            first_names.entry(*file).or_insert_with(|| path.clone());
        }
        let mut writes = Vec::new();
        for (file, inode) in &self.inodes {
            for (index, record) in inode.pending.iter().enumerate() {
                let path = first_names.get(file).cloned();
                writes.push((crash::describe(*file, path, record), (*file, index)));
            }
        }
        writes.sort_by_key(|(write, _)| write.sequence);
        writes
    }

    /// Each directory with un-synced changes and how many.
    pub(super) fn pending_namespace(&self) -> Vec<(PathBuf, usize)> {
        self.namespace.pending()
    }

    /// Crashes with the seeded generator's choices.
    pub(super) fn crash_seeded(&mut self) -> CrashReport {
        let mut rng = self.rng.clone();
        let tear_sector_bytes = self.tear_sector_bytes.clone();
        let mut choices = SeededChoices { rng: &mut rng, tear_sector_bytes: &tear_sector_bytes };
        let report = self.crash(&mut choices);
        self.rng = rng;
        report
    }

    /// Loses power, with `choices` deciding every pending write's fate and every directory's
    /// surviving prefix.
    pub(super) fn crash(&mut self, choices: &mut dyn CrashChoices) -> CrashReport {
        let mut report = CrashReport { crash_index: self.epoch, ..CrashReport::default() };
        let mut fates: BTreeMap<FileId, Vec<Option<WriteFate>>> = self
            .inodes
            .iter()
            .map(|(file, inode)| (*file, vec![None; inode.pending.len()]))
            .collect();
        for (write, (file, index)) in self.pending_records() {
            let fate = choices.write_fate(&write);
            fates.get_mut(&file).expect("listed file")[index] = Some(fate.clone());
            report.add_write(write, fate);
        }
        let outcomes = self.namespace.crash(|directory, pending_count| {
            choices.namespace_kept_count(directory, pending_count)
        });
        for (directory, pending_count, kept_count) in outcomes {
            report.add_directory(directory, pending_count, kept_count);
        }
        let survivors: BTreeSet<FileId> =
            self.namespace.durable_files().values().copied().collect();
        let mut inodes = BTreeMap::new();
        for file in survivors {
            let fates: Vec<&WriteFate> = fates[&file]
                .iter()
                .map(|fate| fate.as_ref().expect("every write got a fate"))
                .collect();
            let content = crash::surviving_content(&self.inodes[&file], &fates);
            inodes.insert(
                file,
                Inode { durable: content.clone(), current: content, ..Inode::default() },
            );
        }
        self.inodes = inodes;
        self.locks.clear();
        self.epoch += 1;
        report
    }

    // ---- faults and inspection -----------------------------------------------------------

    pub(super) fn inject(&mut self, fault: Fault) {
        self.faults.faults.push(fault);
    }

    pub(super) fn clear_faults(&mut self) {
        self.faults.faults.clear();
    }

    pub(super) fn counts(&self) -> OperationCounts {
        self.faults.counts
    }

    /// The durable content of the file `open` would find at `path`.
    pub(super) fn durable_content(&self, path: &Path) -> Result<Vec<u8>> {
        let Some(file) = self.namespace.file(path) else {
            return Err(os_error("open", path, 0, libc::ENOENT));
        };
        Ok(self.inodes[&file].durable.clone())
    }

    /// Every file in the durable namespace with its durable content.
    pub(super) fn durable_image(&self) -> BTreeMap<PathBuf, Vec<u8>> {
        self.namespace
            .durable_files()
            .iter()
            .map(|(path, file)| (path.clone(), self.inodes[file].durable.clone()))
            .collect()
    }

    /// Calls `visit` with every file in the durable namespace and its durable content.
    pub(super) fn visit_durable_image(&self, visit: &mut dyn FnMut(&Path, &[u8])) {
        for (path, file) in self.namespace.durable_files() {
            visit(path, &self.inodes[file].durable);
        }
    }

    /// Flips one stored bit (media corruption) of the file at `path`.
    pub(super) fn flip_bit(&mut self, path: &Path, offset_bytes: u64, bit_index: u8) -> Result<()> {
        let Some(file) = self.namespace.file(path) else {
            return Err(os_error("flip_bit", path, offset_bytes, libc::ENOENT));
        };
        let inode = self.inode(file);
        if offset_bytes >= inode.current.len() as u64 {
            return Err(os_error("flip_bit", path, offset_bytes, libc::EINVAL));
        }
        inode.flip_bit(offset_bytes, bit_index);
        Ok(())
    }

    pub(super) fn set_capacity_bytes(&mut self, capacity_bytes: u64) {
        self.options.capacity_bytes = capacity_bytes;
    }

    /// A one-line summary for `Debug`: counts, never contents.
    pub(super) fn summary(&self) -> (usize, u64, usize, usize) {
        let size_bytes = self.inodes.values().map(|inode| inode.current.len() as u64).sum();
        let pending_count = self.inodes.values().map(|inode| inode.pending.len()).sum();
        let namespace_count = self.namespace.pending().iter().map(|(_, count)| count).sum();
        (self.inodes.len(), size_bytes, pending_count, namespace_count)
    }

    /// Panics if any invariant of the simulated disk does not hold.
    pub(super) fn check_invariants(&self) {
        for (file, inode) in &self.inodes {
            inode.check_invariants();
            assert!(
                inode.open_handle_count > 0 || self.namespace.refers_to(*file),
                "file {file:?} is unreachable but kept"
            );
            for record in &inode.pending {
                assert!(record.sequence <= self.next_sequence);
            }
        }
        for file in self.namespace.files().values().chain(self.namespace.durable_files().values()) {
            assert!(self.inodes.contains_key(file), "name points at missing file {file:?}");
        }
    }
}

/// Flips one bit of `data`, chosen by `rng`; an empty buffer has no bit to flip.
fn flip_random_bit(rng: &mut ChaCha8Rng, data: &mut [u8]) {
    if data.is_empty() {
        return;
    }
    let index = rng.random_range(0..data.len());
    data[index] ^= 1 << rng.random_range(0..8u32);
}
