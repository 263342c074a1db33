//! [`Options`]: how a database is opened. Public fields, so that callers write
//! `Options { pool_size: 64 << 20, ..Options::default() }`.

pub use disk::{DirectIo, FlushMethod, IoMode};

/// When a commit is acknowledged, relative to the log (see docs/DURABILITY.md).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
#[non_exhaustive]
pub enum Durability {
    /// Acknowledged means durable: `commit` returns after the log has made the commit durable
    /// (group commit shares one flush among concurrent committers).
    #[default]
    Immediate,
    /// Acknowledged before it is durable; a background flush makes every commit durable within
    /// [`Options::eventual_flush_interval_ms`]. A crash may lose the commits of that window,
    /// never part of one.
    Eventual,
    /// The log is made durable only by checkpoints and a clean close. A crash may lose any
    /// commit since the last checkpoint, never part of one.
    None,
}

/// How the log makes appends durable.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
#[non_exhaustive]
pub enum WalFlush {
    /// Chosen from the device (what `directdb probe` reports).
    #[default]
    Auto,
    /// This method, whatever the device does.
    Forced(FlushMethod),
}

/// How a database is opened.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Options {
    /// Bytes of a page for a new database (a power of two, 4 KiB to 64 KiB). An existing
    /// database keeps its page size; opening it with another is an error.
    pub page_size: usize,
    /// Bytes of buffer pool frames.
    pub pool_size: usize,
    /// How the data file is read and written: direct I/O, buffered, or through a mapping.
    pub io: IoMode,
    /// Whether direct I/O is required, preferred (fall back to buffered, and say so), or off.
    pub direct_io: DirectIo,
    /// When commits are acknowledged.
    pub durability: Durability,
    /// How the log makes appends durable.
    pub wal_flush: WalFlush,
    /// A checkpoint runs once this much log has been written since the last one, bounding the
    /// log recovery replays: at most twice this much (see [`Options::background_checkpoints`]).
    pub checkpoint_wal_bytes: u64,
    /// Run checkpoints in a background thread, woken by the commit that crosses
    /// [`Options::checkpoint_wal_bytes`], so no committer waits for a checkpoint's page flush.
    /// Should the log reach twice that while one runs, a committer waits for it and runs the
    /// next itself, so the log recovery replays stays bounded. Off, the committing thread that
    /// crosses the threshold runs the checkpoint: a single-threaded workload then issues the
    /// same disk operations in the same order every run, which the crash harness needs.
    pub background_checkpoints: bool,
    /// With [`Durability::Eventual`], the longest a commit waits to be made durable.
    pub eventual_flush_interval_ms: u64,
    /// Bytes of each log segment of a new database (an existing log keeps its size).
    pub wal_segment_bytes: u32,
    /// Run the buffer pool's background writer, which keeps frames free ahead of need. Off,
    /// the committing and reading threads write back and evict for themselves: slower under a
    /// small pool, but a single-threaded workload then issues the same disk operations in the
    /// same order every run, which the crash harness needs to replay a seed exactly.
    pub pool_background_writer: bool,
}

impl Default for Options {
    fn default() -> Self {
        Self {
            page_size: 4096,
            pool_size: 64 << 20,
            io: IoMode::Direct,
            direct_io: DirectIo::Preferred,
            durability: Durability::Immediate,
            wal_flush: WalFlush::Auto,
            checkpoint_wal_bytes: 64 << 20,
            background_checkpoints: true,
            eventual_flush_interval_ms: 10,
            wal_segment_bytes: wal::limits::SEGMENT_BYTES_DEFAULT,
            pool_background_writer: true,
        }
    }
}
