//! The command line: one module per subcommand, each with an `Args` (its `clap::Args`) and a
//! `run(args, format)`.
//!
//! Adding a subcommand is two lines in the `commands!` list below (its doc comment, which is its
//! `--help` text, and `Variant => module,`) and a new file `src/cli/<module>.rs`.

mod error;
mod output;
mod table;

use std::path::PathBuf;

use clap::{Parser, Subcommand};

pub(crate) use error::CliError;
pub(crate) use output::Format;

/// directdb: an embedded transactional key-value storage engine on O_DIRECT, io_uring and its
/// own buffer pool.
#[derive(Debug, Parser)]
#[command(name = "directdb", version)]
pub(crate) struct Cli {
    /// Print one JSON object on stdout instead of a table (every command has it);
    /// `--json=FILE` prints the table and writes the JSON object to FILE.
    #[arg(long, global = true, value_name = "FILE", num_args = 0..=1, require_equals = true)]
    json: Option<Option<PathBuf>>,

    #[command(subcommand)]
    command: Command,
}

impl Cli {
    /// Runs the chosen subcommand.
    pub(crate) fn run(self) -> Result<(), CliError> {
        let format = match self.json {
            None => Format::Human,
            Some(None) => Format::Json,
            Some(Some(path)) => Format::HumanAndJsonFile(path),
        };
        self.command.run(format)
    }
}

/// Declares the subcommand modules, the [`Command`] enum with one variant per module (carrying
/// the module's `Args`), and the dispatch from a variant to the module's `run`.
macro_rules! commands {
    ($($(#[$help:meta])* $variant:ident => $module:ident,)+) => {
        $(mod $module;)+

        /// The subcommands.
        #[derive(Debug, Subcommand)]
        pub(crate) enum Command {
            $($(#[$help])* $variant($module::Args),)+
        }

        impl Command {
            fn run(self, format: Format) -> Result<(), CliError> {
                match self {
                    $(Command::$variant(args) => $module::run(args, format),)+
                }
            }
        }
    };
}

commands! {
    /// Report the file system, block device, write cache, FUA, DIO alignment, io_uring support
    /// and the WAL flush method directdb would choose for PATH.
    Probe => probe,
    /// Benchmarks: bare `bench`, the default suite (YCSB A, B, C, F on direct, buffered and
    /// mmap I/O); `bench ycsb`, every workload and knob; `bench tpcc`, a TPC-C-like mix with
    /// its consistency checks; `bench io`, the raw device table per backend with fio as the
    /// reference; `bench wal`, the log's durable commits; `bench pool`,
    /// the buffer pool's hit and miss paths.
    Bench => bench,
    /// Check a database directory: every page checksum, B+tree order and structure, free-space
    /// accounting; exits non-zero and names the page on any problem.
    Check => check,
    /// Crash-consistency harness: simulated crashes (seeded and exhaustive), I/O errors at every
    /// operation, and real process kills; a report of states explored, commits acknowledged,
    /// recovered and lost, holes, corruptions detected and undetected; exits non-zero on any
    /// loss.
    Crashtest => crashtest,
    /// The process `crashtest --mode kill` runs and kills (not for people).
    #[command(hide = true)]
    CrashtestChild => crashtest_child,
    /// The process `bench` runs each I/O mode in, under the memory limit (not for people).
    #[command(hide = true)]
    BenchChild => bench_child,
}
