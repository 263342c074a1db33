//! `directdb bench-child` (hidden): the process `directdb bench` (`ycsb`, `tpcc`) runs one I/O
//! mode in, under the memory limit. It reads its request as JSON on stdin, joins the memory
//! cgroup it names, runs the benchmark the request names on the mode (the load and the runs),
//! and prints the mode's report as JSON on stdout (progress and errors go to stderr, which it
//! shares with the parent). The protocol is in `src/bench/child.rs`.

use std::io::{Read as _, Write as _};

use super::{CliError, Format};

/// Arguments of `directdb bench-child`: none; the request comes on stdin.
#[derive(Debug, clap::Args)]
pub(crate) struct Args {}

/// Runs the request on stdin; the report goes to stdout.
pub(crate) fn run(_args: Args, _format: Format) -> Result<(), CliError> {
    let mut request = String::new();
    std::io::stdin()
        .read_to_string(&mut request)
        .map_err(|error| CliError::Bench(format!("bench-child: reading stdin: {error}")))?;
    let report = crate::bench::child::serve(&request).map_err(CliError::Bench)?;
    let mut stdout = std::io::stdout().lock();
    writeln!(stdout, "{report}").map_err(|error| CliError::Bench(format!("bench-child: {error}")))
}
