//! How a command's report reaches stdout: as a table for people, or as one JSON object for
//! programs.

use std::io::{self, Write};
use std::path::{Path, PathBuf};

use super::error::CliError;

/// The report format chosen on the command line.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) enum Format {
    /// Text for a person, usually a [`super::table::Table`].
    Human,
    /// One pretty-printed JSON object on stdout (`--json`).
    Json,
    /// Text for a person on stdout, and the JSON object written to a file (`--json=FILE`):
    /// what a long benchmark wants, read now and kept for later.
    HumanAndJsonFile(PathBuf),
}

impl Format {
    /// Whether a person reads stdout (and stderr's progress lines are welcome).
    pub(crate) fn is_human(&self) -> bool {
        !matches!(self, Format::Json)
    }
}

/// Writes `report` to stdout: serialized as one JSON object, or as the text `render` makes of
/// it. A reader that closed the pipe early (`directdb probe | head -3`) chose to stop reading,
/// so that is not an error; other write errors are returned, not panicked on as `println!`
/// would.
pub(crate) fn emit<T: serde::Serialize>(
    format: Format,
    report: &T,
    render: impl FnOnce(&T) -> String,
) -> Result<(), CliError> {
    if let Format::HumanAndJsonFile(path) = &format {
        write_json_file(path, report)?;
    }
    match write_report(&format, report, render) {
        Err(error) if error.kind() == io::ErrorKind::BrokenPipe => Ok(()),
        result => result.map_err(CliError::Output),
    }
}

/// Writes `report` as one pretty-printed JSON object to the file at `path` (replacing it).
pub(crate) fn write_json_file<T: serde::Serialize>(
    path: &Path,
    report: &T,
) -> Result<(), CliError> {
    let mut text =
        serde_json::to_string_pretty(report).map_err(|error| CliError::Output(error.into()))?;
    text.push('\n');
    // A report file, not data or log I/O: std::fs is the right tool (no disk backend needed).
    std::fs::write(path, text).map_err(|error| {
        CliError::Output(io::Error::new(error.kind(), format!("{}: {error}", path.display())))
    })
}

fn write_report<T: serde::Serialize>(
    format: &Format,
    report: &T,
    render: impl FnOnce(&T) -> String,
) -> io::Result<()> {
    let mut stdout = io::stdout().lock();
    match format {
        Format::Json => {
            serde_json::to_writer_pretty(&mut stdout, report).map_err(io::Error::from)?;
            writeln!(stdout)?;
        }
        Format::Human | Format::HumanAndJsonFile(_) => write!(stdout, "{}", render(report))?,
    }
    stdout.flush()
}
