//! `directdb crashtest-child --dir D --seed S` (hidden): the process `directdb crashtest --mode
//! kill` runs and kills. It opens the database in D, runs the plan of seed S, and prints a line
//! per acknowledged commit (see `directdb::crashtest::kill`).

use std::path::PathBuf;

use super::{CliError, Format};

/// Arguments of `directdb crashtest-child`.
#[derive(Debug, clap::Args)]
pub(crate) struct Args {
    /// The database directory.
    #[arg(long)]
    dir: PathBuf,
    /// The plan's seed.
    #[arg(long)]
    seed: u64,
    /// Plant a bug first (`planted-bugs` builds only).
    #[arg(long)]
    plant: Vec<String>,
}

/// Runs the child's plan until it ends, fails, or the parent kills it.
pub(crate) fn run(args: Args, _format: Format) -> Result<(), CliError> {
    super::crashtest::plant(&args.plant)?;
    directdb::crashtest::kill::child(&args.dir, args.seed).map_err(CliError::Crashtest)
}
