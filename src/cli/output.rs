//! How a command's report reaches stdout: as a table for people, or as one JSON object for
//! programs.

use std::io::{self, Write};

use super::error::CliError;

/// The report format chosen on the command line.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Format {
    /// Text for a person, usually a [`super::table::Table`].
    Human,
    /// One pretty-printed JSON object (`--json`).
    Json,
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
    match write_report(format, report, render) {
        Err(error) if error.kind() == io::ErrorKind::BrokenPipe => Ok(()),
        result => result.map_err(CliError::Output),
    }
}

fn write_report<T: serde::Serialize>(
    format: Format,
    report: &T,
    render: impl FnOnce(&T) -> String,
) -> io::Result<()> {
    let mut stdout = io::stdout().lock();
    match format {
        Format::Json => {
            serde_json::to_writer_pretty(&mut stdout, report).map_err(io::Error::from)?;
            writeln!(stdout)?;
        }
        Format::Human => write!(stdout, "{}", render(report))?,
    }
    stdout.flush()
}
