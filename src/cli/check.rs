//! `directdb check PATH [--page-size N] [--json]`: opens the database (recovering it, as any
//! open does) and checks it: every page of the tree read and verified (checksum, page id,
//! node structure), keys in order across leaves, every page of the file used once or free.

use std::path::PathBuf;

use engine::{CheckReport, DATA_FILE_NAME, Db, LevelShape, Options};

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
    output::emit(format, &report, |report| render(report, args.page_size).to_string())
}

fn render(report: &CheckReport, page_size: usize) -> Table {
    let mut table = Table::new();
    table.row("result", "ok".to_string());
    table.row("keys", report.key_count.to_string());
    table.row("tree pages", report.tree_pages.to_string());
    table.row("tree height", report.levels.len().to_string());
    for (level, shape) in report.levels.iter().enumerate().rev() {
        let name =
            if level == 0 { "leaves".to_string() } else { format!("level {level} branches") };
        table.row(name, level_summary(shape, page_size));
    }
    table.row("overflow pages", report.overflow_pages.to_string());
    table.row("log records", report.log_records.to_string());
    table.row("log commits", report.log_commits.to_string());
    table.row("free pages", report.free_pages.to_string());
    table.row("pages in file", report.page_count.to_string());
    table
}

/// "N nodes, F% full on average": a level's node count and how much of their node space is used.
fn level_summary(shape: &LevelShape, page_size: usize) -> String {
    let space = shape.nodes.saturating_mul(page_size as u64);
    let percent = if space == 0 { 0.0 } else { 100.0 * shape.bytes_used as f64 / space as f64 };
    format!("{} nodes, {percent:.0}% of their pages used", shape.nodes)
}
