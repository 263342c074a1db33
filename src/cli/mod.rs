//! Argument parsing and dispatch: one module per command.

mod bench;

use std::process::ExitCode;

use clap::{Parser, Subcommand};

/// directdb: an embedded transactional key-value storage engine on O_DIRECT, io_uring and its
/// own buffer pool.
#[derive(Debug, Parser)]
#[command(name = "directdb", version, about)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Benchmarks: `bench io` (the raw device table per backend).
    Bench(bench::BenchArgs),
}

/// Parses the command line, runs the command, and turns its error into a message on stderr and
/// exit code 1.
pub(crate) fn main() -> ExitCode {
    let cli = Cli::parse();
    let result = match cli.command {
        Command::Bench(args) => bench::run(args),
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(message) => {
            eprintln!("directdb: {message}");
            ExitCode::FAILURE
        }
    }
}
