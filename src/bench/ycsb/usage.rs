//! What the process has cost so far, from `/proc/self`: bytes it made the block layer read and
//! write, CPU time, and major page faults. A phase's cost is the difference of two readings.
//!
//! - `read_bytes` / `write_bytes` of `/proc/self/io` count every thread of the process (the
//!   log's flusher and the pool's writer included) and only I/O that reached the block layer:
//!   a read the page cache served is not counted; a buffered or mmap write is counted when the
//!   page is dirtied, which is when the device is bound to see it.
//! - `utime` + `stime` of `/proc/self/stat` (fields 14 and 15, in clock ticks of
//!   `sysconf(_SC_CLK_TCK)`, usually 10 ms) are the CPU time of every thread.
//! - `majflt` (field 12) counts page faults that waited for the device: mmap's reads.

/// One reading.
#[derive(Clone, Copy, Debug, Default, PartialEq)]
pub(crate) struct Usage {
    /// Bytes read from the block layer.
    pub(crate) read_bytes: u64,
    /// Bytes written to the block layer (or dirtied in the page cache for it).
    pub(crate) write_bytes: u64,
    /// User and system CPU time, in seconds.
    pub(crate) cpu_seconds: f64,
    /// Page faults that read from the device.
    pub(crate) major_faults: u64,
}

impl Usage {
    /// The process's usage now. A kernel without `/proc/self/io` (task I/O accounting off)
    /// reports zero bytes rather than failing the benchmark; the report says where the numbers
    /// come from.
    pub(crate) fn now() -> Result<Usage, String> {
        let stat = std::fs::read_to_string("/proc/self/stat")
            .map_err(|error| format!("reading /proc/self/stat: {error}"))?;
        let io = std::fs::read_to_string("/proc/self/io").unwrap_or_default();
        let ticks_per_second = rustix::param::clock_ticks_per_second();
        Usage::parse(&stat, &io, ticks_per_second)
            .ok_or_else(|| format!("unexpected /proc/self/stat: {stat:?}"))
    }

    fn parse(stat: &str, io: &str, ticks_per_second: u64) -> Option<Usage> {
        // The command name (field 2) is in parentheses and may hold spaces or parentheses, so
        // fields are counted from the last ')': field 3 is the first after it.
        let after_name = &stat[stat.rfind(')')? + 1..];
        let fields: Vec<&str> = after_name.split_whitespace().collect();
        let field = |number: usize| -> Option<u64> { fields.get(number - 3)?.parse().ok() };
        let ticks = field(14)? + field(15)?;
        let (read_bytes, write_bytes) = Usage::parse_io(io).unwrap_or_default();
        Some(Usage {
            read_bytes,
            write_bytes,
            cpu_seconds: ticks as f64 / ticks_per_second.max(1) as f64,
            major_faults: field(12)?,
        })
    }

    /// `read_bytes` and `write_bytes` of a `/proc/self/io` text; `None` if either is missing.
    pub(crate) fn parse_io(io: &str) -> Option<(u64, u64)> {
        let io_field =
            |name: &str| io.lines().find_map(|line| line.strip_prefix(name)?.trim().parse().ok());
        Some((io_field("read_bytes:")?, io_field("write_bytes:")?))
    }

    /// What was spent between `earlier` and `self`.
    pub(crate) fn since(&self, earlier: &Usage) -> Usage {
        Usage {
            read_bytes: self.read_bytes.saturating_sub(earlier.read_bytes),
            write_bytes: self.write_bytes.saturating_sub(earlier.write_bytes),
            cpu_seconds: (self.cpu_seconds - earlier.cpu_seconds).max(0.0),
            major_faults: self.major_faults.saturating_sub(earlier.major_faults),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Fields 1 to 15 of a real `/proc/self/stat`, with a command name that has a space and a
    /// parenthesis in it.
    const STAT: &str = "4242 (dir db) x) S 1 4242 4242 0 -1 4194560 1500 0 37 0 250 75 0 0 20 0";
    const IO: &str = "rchar: 100\nwchar: 200\nsyscr: 3\nsyscw: 4\nread_bytes: 8192\n\
                      write_bytes: 12288\ncancelled_write_bytes: 0\n";

    #[test]
    fn fields_are_counted_from_the_end_of_the_command_name() {
        let usage = Usage::parse(STAT, IO, 100).unwrap();
        assert_eq!(usage.major_faults, 37);
        assert_eq!(usage.cpu_seconds, 3.25);
        assert_eq!(usage.read_bytes, 8192);
        assert_eq!(usage.write_bytes, 12288);
        let without_io = Usage::parse(STAT, "", 100).unwrap();
        assert_eq!((without_io.read_bytes, without_io.write_bytes), (0, 0));
        assert_eq!(Usage::parse("4242 (truncated", IO, 100), None);
        assert_eq!(Usage::parse("4242 (short) S 1 2", IO, 100), None);
    }

    #[test]
    fn a_phase_costs_the_difference_of_two_readings() {
        let before = Usage { read_bytes: 10, write_bytes: 20, cpu_seconds: 1.0, major_faults: 3 };
        let after = Usage { read_bytes: 15, write_bytes: 20, cpu_seconds: 1.5, major_faults: 4 };
        let spent = after.since(&before);
        assert_eq!(
            spent,
            Usage { read_bytes: 5, write_bytes: 0, cpu_seconds: 0.5, major_faults: 1 }
        );
        let now = Usage::now().unwrap();
        assert!(now.cpu_seconds >= 0.0);
    }
}
