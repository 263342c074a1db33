//! How the WAL makes a commit durable, chosen from what the device's write cache does.
//!
//! The decision table (the device's answers come from `/sys/block/<disk>/queue/`):
//!
//! | `write_cache`   | `fua` | method        | why                                                  |
//! |-----------------|-------|---------------|------------------------------------------------------|
//! | "write through" | any   | `PlainWrite`  | a completed direct write is already on stable media  |
//! | "write back"    | 1     | `DsyncWrite`  | FUA makes that one write durable, no full flush      |
//! | "write back"    | 0     | `Fdatasync`   | only a cache flush makes the volatile cache durable  |
//! | unknown         | any   | `Fdatasync`   | the one method that is durable on every cache        |

use std::fmt;
use std::str::FromStr;

use crate::error::Result;
use crate::file::{File, FileInfo};
use crate::options::IoMode;

/// What a block device's write cache does with a completed write, from
/// `/sys/block/<disk>/queue/write_cache`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, serde::Serialize)]
pub enum WriteCache {
    /// Writes are acknowledged from a volatile cache; a power loss can drop them until the cache
    /// is flushed (or unless they were written with FUA).
    #[serde(rename = "write back")]
    WriteBack,
    /// Writes are acknowledged only once on stable media (or a cache that survives power loss).
    #[serde(rename = "write through")]
    WriteThrough,
    /// No block device, no `write_cache` file, or a value this code does not know.
    #[serde(rename = "unknown")]
    Unknown,
}

impl WriteCache {
    /// Parses the contents of a `write_cache` file ("write back\n" or "write through\n").
    /// Anything else is [`WriteCache::Unknown`]: sysfs text is input, not a promise.
    pub fn parse(text: &str) -> Self {
        match text.trim() {
            "write back" => WriteCache::WriteBack,
            "write through" => WriteCache::WriteThrough,
            _ => WriteCache::Unknown,
        }
    }

    /// The words sysfs uses: "write back", "write through", or "unknown".
    pub fn name(self) -> &'static str {
        match self {
            WriteCache::WriteBack => "write back",
            WriteCache::WriteThrough => "write through",
            WriteCache::Unknown => "unknown",
        }
    }
}

impl fmt::Display for WriteCache {
    fn fmt(&self, formatter: &mut fmt::Formatter<'_>) -> fmt::Result {
        formatter.write_str(self.name())
    }
}

/// How the WAL makes a batch of log writes durable.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, serde::Serialize)]
pub enum FlushMethod {
    /// Write, then `fdatasync`: the device has a volatile write-back cache and no FUA, so only a
    /// full cache flush makes the write durable.
    #[serde(rename = "fdatasync")]
    Fdatasync,
    /// Writes with `RWF_DSYNC`: the device has FUA, which makes each write durable on its own
    /// without flushing the whole cache.
    #[serde(rename = "dsync")]
    DsyncWrite,
    /// Plain direct writes: the cache is write-through, so a completed direct write is already
    /// durable. Only for overwrites of preallocated, pre-zeroed space: a write that changes the
    /// file's size or extent map still needs `fdatasync` for the file system's metadata.
    #[serde(rename = "plain")]
    PlainWrite,
}

impl FlushMethod {
    /// Writes `buf` at `offset` the way this method writes: with `RWF_DSYNC` for
    /// [`FlushMethod::DsyncWrite`], a plain write otherwise. Durable on return only if
    /// [`FlushMethod::needs_sync`] is false.
    pub fn write(self, file: &dyn File, buf: &[u8], offset: u64) -> Result<()> {
        match self {
            FlushMethod::DsyncWrite => file.write_at_durable(buf, offset),
            FlushMethod::Fdatasync | FlushMethod::PlainWrite => file.write_at(buf, offset),
        }
    }

    /// Whether writes made with [`FlushMethod::write`] still need [`File::sync_data`] to be
    /// durable (only [`FlushMethod::Fdatasync`]: a write-through device keeps plain writes, FUA
    /// keeps `RWF_DSYNC` ones).
    pub fn needs_sync(self) -> bool {
        self == FlushMethod::Fdatasync
    }

    /// One durable write: [`FlushMethod::write`], then `sync_data` if the method needs it. A log
    /// batch that spans several files writes them all first and syncs each after.
    pub fn write_durably(self, file: &dyn File, buf: &[u8], offset: u64) -> Result<()> {
        self.write(file, buf, offset)?;
        if self.needs_sync() {
            file.sync_data()?;
        }
        Ok(())
    }

    /// The method that keeps this one's promise on a file opened as `info` says, with the
    /// reason when it differs. Plain writes are durable only when they bypass the page cache
    /// (on a write-through device): on a file that fell back to buffered I/O (a file system
    /// without direct I/O, or `DirectIo::Off`) a completed plain write may sit in the page
    /// cache, lost on a kernel crash, so `fdatasync` takes its place.
    pub fn for_file(self, info: &FileInfo) -> (FlushMethod, Option<String>) {
        if self == FlushMethod::PlainWrite && info.io_mode != IoMode::Direct {
            let reason = format!(
                "fdatasync instead of plain writes: the file is not opened with direct I/O \
                 ({}), so a completed write may sit in the page cache",
                info.io_mode.name()
            );
            return (FlushMethod::Fdatasync, Some(reason));
        }
        (self, None)
    }

    /// Every method, in the order messages list them.
    pub const ALL: [FlushMethod; 3] =
        [FlushMethod::Fdatasync, FlushMethod::DsyncWrite, FlushMethod::PlainWrite];

    /// Chooses the cheapest method that is durable on a device with this cache, and says why.
    pub fn choose(write_cache: WriteCache, fua: bool) -> (FlushMethod, String) {
        match (write_cache, fua) {
            (WriteCache::WriteThrough, _) => (
                FlushMethod::PlainWrite,
                "the write cache is write-through: a completed direct write is already on \
                 stable media, so no flush is needed"
                    .to_string(),
            ),
            (WriteCache::WriteBack, true) => (
                FlushMethod::DsyncWrite,
                "the write cache is write-back with FUA: RWF_DSYNC writes are durable one by \
                 one without flushing the whole cache"
                    .to_string(),
            ),
            (WriteCache::WriteBack, false) => (
                FlushMethod::Fdatasync,
                "the write cache is write-back (volatile) and the device has no FUA: only a \
                 cache flush (fdatasync) makes a write durable"
                    .to_string(),
            ),
            // The safe choice: fdatasync is durable whatever the cache does, where the other
            // two methods lose acknowledged commits on a volatile cache.
            (WriteCache::Unknown, _) => (
                FlushMethod::Fdatasync,
                "the write cache mode is unknown (no block device, or sysfs does not say): \
                 fdatasync is the method that is durable on any cache"
                    .to_string(),
            ),
        }
    }

    /// The name used on the command line and in reports: "fdatasync", "dsync" or "plain".
    pub fn name(self) -> &'static str {
        match self {
            FlushMethod::Fdatasync => "fdatasync",
            FlushMethod::DsyncWrite => "dsync",
            FlushMethod::PlainWrite => "plain",
        }
    }
}

impl fmt::Display for FlushMethod {
    fn fmt(&self, formatter: &mut fmt::Formatter<'_>) -> fmt::Result {
        formatter.write_str(self.name())
    }
}

impl FromStr for FlushMethod {
    type Err = String;

    /// Parses a name from [`FlushMethod::name`], so that a user can force a method.
    fn from_str(text: &str) -> Result<Self, String> {
        FlushMethod::ALL.into_iter().find(|method| method.name() == text).ok_or_else(|| {
            format!("unknown flush method {text:?} (expected fdatasync, dsync or plain)")
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn write_through_needs_no_flush_whatever_the_fua() {
        for fua in [false, true] {
            let (method, reason) = FlushMethod::choose(WriteCache::WriteThrough, fua);
            assert_eq!(method, FlushMethod::PlainWrite);
            assert!(reason.contains("write-through"), "{reason}");
        }
    }

    #[test]
    fn write_back_with_fua_uses_dsync_writes() {
        let (method, reason) = FlushMethod::choose(WriteCache::WriteBack, true);
        assert_eq!(method, FlushMethod::DsyncWrite);
        assert!(reason.contains("FUA"), "{reason}");
    }

    #[test]
    fn write_back_without_fua_uses_fdatasync() {
        let (method, reason) = FlushMethod::choose(WriteCache::WriteBack, false);
        assert_eq!(method, FlushMethod::Fdatasync);
        assert!(reason.contains("no FUA"), "{reason}");
    }

    #[test]
    fn unknown_cache_takes_the_safe_choice_and_says_so() {
        for fua in [false, true] {
            let (method, reason) = FlushMethod::choose(WriteCache::Unknown, fua);
            assert_eq!(method, FlushMethod::Fdatasync);
            assert!(reason.contains("unknown"), "{reason}");
        }
    }

    #[test]
    fn names_round_trip_through_from_str() {
        for method in FlushMethod::ALL {
            assert_eq!(method.name().parse::<FlushMethod>(), Ok(method));
        }
        assert_eq!("dsync".parse::<FlushMethod>(), Ok(FlushMethod::DsyncWrite));
        assert_eq!("plain".parse::<FlushMethod>(), Ok(FlushMethod::PlainWrite));
    }

    #[test]
    fn unknown_names_are_refused_with_the_choices() {
        for text in ["", "fsync", "Fdatasync", " plain"] {
            let error = text.parse::<FlushMethod>().unwrap_err();
            assert!(error.contains("expected fdatasync, dsync or plain"), "{error}");
        }
    }

    #[test]
    fn write_cache_text_is_parsed_leniently_about_whitespace_only() {
        assert_eq!(WriteCache::parse("write back\n"), WriteCache::WriteBack);
        assert_eq!(WriteCache::parse("write through\n"), WriteCache::WriteThrough);
        assert_eq!(WriteCache::parse(""), WriteCache::Unknown);
        assert_eq!(WriteCache::parse("write around\n"), WriteCache::Unknown);
        assert_eq!(WriteCache::parse("\u{fffd}\u{0}"), WriteCache::Unknown);
    }

    #[test]
    fn serialized_names_are_the_sysfs_and_command_line_words() {
        // serde's output is what `probe --json` prints; it must match `name()`.
        for cache in [WriteCache::WriteBack, WriteCache::WriteThrough, WriteCache::Unknown] {
            assert_eq!(serde_json::to_value(cache).unwrap(), cache.name());
        }
        for method in FlushMethod::ALL {
            assert_eq!(serde_json::to_value(method).unwrap(), method.name());
        }
    }
}

#[cfg(test)]
mod durable_write_tests {
    use std::path::Path;

    use super::FlushMethod;
    use crate::sim::LoseAll;
    use crate::{AlignedBuf, Disk, OpenOptions, SimDisk};

    #[test]
    fn plain_writes_need_direct_io_and_other_methods_never_change() {
        let info = |io_mode| crate::FileInfo {
            io_mode,
            submission: crate::Submission::Syscalls,
            alignment: crate::Alignment::uniform(512),
            file_system: "ext4".into(),
            fallback_reasons: Vec::new(),
        };
        for io_mode in crate::IoMode::ALL {
            let (method, reason) = FlushMethod::PlainWrite.for_file(&info(io_mode));
            let direct = io_mode == crate::IoMode::Direct;
            assert_eq!(
                method,
                if direct { FlushMethod::PlainWrite } else { FlushMethod::Fdatasync }
            );
            assert_eq!(reason.is_some(), !direct);
            for other in [FlushMethod::Fdatasync, FlushMethod::DsyncWrite] {
                assert_eq!(other.for_file(&info(io_mode)), (other, None));
            }
        }
    }

    /// On a volatile write-back cache (the simulated disk's model), `fdatasync` and `RWF_DSYNC`
    /// writes survive a power loss; a plain write does not, which is why plain is chosen only
    /// for write-through devices.
    #[test]
    fn write_durably_survives_a_power_loss_exactly_when_the_method_is_durable_here() {
        for method in FlushMethod::ALL {
            let survived = survives_power_loss(&SimDisk::with_seed(1), method);
            assert_eq!(survived, method != FlushMethod::PlainWrite, "{method:?}");
        }
    }

    /// On a write-through device every method survives a power loss: the one where the probe
    /// chooses plain writes. Plain writes into the file's allocated space, as the log does.
    #[test]
    fn write_durably_survives_a_power_loss_with_every_method_on_a_write_through_disk() {
        let disk = SimDisk::write_through(1);
        let (chosen, _) = FlushMethod::choose(disk.cache_mode().write_cache(), false);
        assert_eq!(chosen, FlushMethod::PlainWrite);
        for method in FlushMethod::ALL {
            assert!(survives_power_loss(&SimDisk::write_through(1), method), "{method:?}");
        }
    }

    /// Writes a block with `method` into allocated space of a new file on `disk`, loses every
    /// pending write, and says whether the block survived.
    fn survives_power_loss(disk: &SimDisk, method: FlushMethod) -> bool {
        let path = Path::new("/file");
        let file = disk.open(path, OpenOptions::create()).unwrap();
        disk.sync_dir(Path::new("/")).unwrap();
        file.allocate(4096).unwrap();
        let mut block = AlignedBuf::zeroed(4096, 4096);
        block.fill(7);
        method.write_durably(&*file, &block, 0).unwrap();
        disk.crash_with(&mut LoseAll);
        disk.durable_content(path).unwrap()[..4096].iter().all(|&byte| byte == 7)
    }
}
