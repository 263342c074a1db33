//! `directdb check PATH [--page-size N] [--json]`: opens the database (recovering it, as any
//! open does) and checks it: every page of the tree read and verified (checksum, page id,
//! node structure), keys in order across leaves, every page of the file used once or free.

use std::path::PathBuf;

use engine::{CheckReport, DATA_FILE_NAME, Db, Options};

use super::table::Table;
use super::{CliError, Format, output};

/// Arguments of `directdb check`.
#[derive(Debug, clap::Args)]
pub(crate) struct Args {
    /// The database directory.
    path: PathBuf,
    /// The database's page size in bytes (an error names the right one if it differs).
    #[arg(long, default_value_t = 4096)]
    page_size: usize,
}

/// Checks the database at `args.path` and writes the report; any problem is an error (exit 1).
pub(crate) fn run(args: Args, format: Format) -> Result<(), CliError> {
    if !args.path.join(DATA_FILE_NAME).exists() {
        return Err(CliError::PathNotFound(args.path.join(DATA_FILE_NAME)));
    }
    let options = Options { page_size: args.page_size, ..Options::default() };
    let db = Db::open(&args.path, options).map_err(CliError::Database)?;
    let report = db.check().map_err(CliError::Database)?;
    output::emit(format, &report, |report| render(report).to_string())
}

fn render(report: &CheckReport) -> Table {
    let mut table = Table::new();
    table.row("result", "ok".to_string());
    table.row("keys", report.key_count.to_string());
    table.row("tree pages", report.tree_pages.to_string());
    table.row("log records", report.log_records.to_string());
    table.row("log commits", report.log_commits.to_string());
    table.row("free pages", report.free_pages.to_string());
    table.row("pages in file", report.page_count.to_string());
    table
}
