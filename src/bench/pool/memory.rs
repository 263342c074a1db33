//! What the process holds in memory and has read from the device, from `/proc/self`.
//!
//! `VmRSS` is what the bound is stated for. It is split as the kernel splits it: `RssAnon`
//! (heap, stacks: the pool's frames live here) and `RssFile` (mapped file pages, which the
//! mmap backend's reads bring into this process's mapping). `read_bytes` of `/proc/self/io` is
//! what the process made the block layer read, whichever backend it used: it tells device reads
//! from reads the kernel's page cache served.

use super::memory_bound_bytes;

/// The resident set at one moment, and the bound it is held to.
#[derive(Clone, Debug, serde::Serialize)]
pub(crate) struct MemoryRow {
    /// `VmRSS`: every resident page of the process.
    pub(crate) vm_rss_bytes: u64,
    /// `RssAnon`: resident anonymous memory (the pool's frames, heap, stacks).
    pub(crate) rss_anon_bytes: u64,
    /// `RssFile`: resident pages of mapped files (the binary, and the data file under mmap).
    pub(crate) rss_file_bytes: u64,
    /// The bound: pool bytes + 5% + 16 MiB.
    pub(crate) bound_bytes: u64,
    /// Whether `VmRSS` is within the bound.
    pub(crate) within_bound: bool,
    /// Whether `RssAnon` alone is within the bound (what the process allocated itself).
    pub(crate) anon_within_bound: bool,
}

impl MemoryRow {
    /// The resident set now, against the bound for a pool of `pool_bytes`.
    pub(crate) fn now(pool_bytes: u64) -> Result<MemoryRow, String> {
        let status = std::fs::read_to_string("/proc/self/status")
            .map_err(|error| format!("reading /proc/self/status: {error}"))?;
        MemoryRow::from_status(&status, pool_bytes)
    }

    fn from_status(status: &str, pool_bytes: u64) -> Result<MemoryRow, String> {
        let field = |name: &str| {
            kib_field(status, name)
                .map(|kib| kib * 1024)
                .ok_or_else(|| format!("no {name} in /proc/self/status"))
        };
        let vm_rss_bytes = field("VmRSS")?;
        let rss_anon_bytes = field("RssAnon")?;
        let rss_file_bytes = field("RssFile")?;
        let bound_bytes = memory_bound_bytes(pool_bytes);
        Ok(MemoryRow {
            vm_rss_bytes,
            rss_anon_bytes,
            rss_file_bytes,
            bound_bytes,
            within_bound: vm_rss_bytes <= bound_bytes,
            anon_within_bound: rss_anon_bytes <= bound_bytes,
        })
    }
}

/// `name:   1234 kB` in `/proc/self/status`, in KiB.
fn kib_field(status: &str, name: &str) -> Option<u64> {
    status.lines().find_map(|line| {
        let rest = line.strip_prefix(name)?.strip_prefix(':')?;
        rest.trim().strip_suffix("kB")?.trim().parse().ok()
    })
}

/// Bytes the process has made the block layer read so far (`read_bytes` of `/proc/self/io`),
/// or `None` where the kernel does not account them.
pub(crate) fn device_read_bytes() -> Option<u64> {
    let io = std::fs::read_to_string("/proc/self/io").ok()?;
    read_bytes_field(&io)
}

fn read_bytes_field(io: &str) -> Option<u64> {
    io.lines().find_map(|line| line.strip_prefix("read_bytes:")?.trim().parse().ok())
}

#[cfg(test)]
mod tests {
    use super::*;

    const STATUS: &str = "Name:\tdirectdb\nVmPeak:\t  200000 kB\nVmRSS:\t   90112 kB\n\
                          RssAnon:\t   86016 kB\nRssFile:\t    4096 kB\nRssShmem:\t       0 kB\n";

    #[test]
    fn the_resident_set_is_read_from_status_and_held_to_the_bound() {
        let row = MemoryRow::from_status(STATUS, 64 << 20).unwrap();
        assert_eq!(row.vm_rss_bytes, 90112 * 1024);
        assert_eq!(row.rss_anon_bytes, 86016 * 1024);
        assert_eq!(row.rss_file_bytes, 4096 * 1024);
        assert_eq!(row.bound_bytes, memory_bound_bytes(64 << 20));
        assert!(!row.within_bound, "88 MiB is above 64 MiB + 5% + 16 MiB = 83.2 MiB");
        assert!(!row.anon_within_bound);
        let larger_pool = MemoryRow::from_status(STATUS, 72 << 20).unwrap();
        assert!(larger_pool.within_bound);
        let missing = MemoryRow::from_status("VmRSS:\t1 kB\n", 1).unwrap_err();
        assert!(missing.contains("RssAnon"), "{missing}");
    }

    #[test]
    fn fields_are_matched_by_whole_name() {
        assert_eq!(kib_field("VmRSSX:\t5 kB\nVmRSS:\t7 kB\n", "VmRSS"), Some(7));
        assert_eq!(kib_field("VmRSS:\tseven kB\n", "VmRSS"), None);
        let io = "rchar: 10\nread_bytes: 8192\nwrite_bytes: 0\ncancelled_write_bytes: 0\n";
        assert_eq!(read_bytes_field(io), Some(8192));
        assert_eq!(read_bytes_field("rchar: 10\n"), None);
    }

    #[test]
    fn this_process_has_a_resident_set() {
        let row = MemoryRow::now(0).unwrap();
        assert!(row.vm_rss_bytes > 0);
        assert!(row.rss_anon_bytes <= row.vm_rss_bytes);
    }
}
