//! The `directdb` command line: `probe`, `bench`, `crashtest`, `check`.
//!
//! Exit codes: 0 on success, 1 when a command fails (the reason is on stderr), 2 for a command
//! line clap cannot parse (clap's convention, with its usage message on stderr).

mod bench;
mod cli;

use std::io::Write;
use std::process::ExitCode;

use clap::Parser;

fn main() -> ExitCode {
    let cli = cli::Cli::parse();
    match cli.run() {
        Ok(()) => ExitCode::SUCCESS,
        Err(error) => {
            // `eprintln!` would panic if stderr is gone; there is no one left to tell then.
            let _ = writeln!(std::io::stderr(), "directdb: {error}");
            ExitCode::FAILURE
        }
    }
}
