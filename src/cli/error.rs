//! The one error type of the command line: what failed, said for the person who ran it.

use std::fmt;
use std::io;
use std::path::PathBuf;

/// Why a command failed. `main` prints it on stderr and exits with status 1.
#[derive(Debug)]
pub(crate) enum CliError {
    /// A path given on the command line does not exist.
    PathNotFound(PathBuf),
    /// The disk layer failed.
    Disk(disk::Error),
    /// The report could not be written to stdout (a closed pipe, a full disk).
    Output(io::Error),
    /// A benchmark could not run; the message says which step failed and why.
    Bench(String),
    /// The database failed to open, or its integrity check found a problem.
    Database(engine::Error),
    /// The crash harness found a failure, or could not run as asked.
    Crashtest(String),
}

impl fmt::Display for CliError {
    fn fmt(&self, formatter: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            CliError::PathNotFound(path) => {
                write!(formatter, "{}: no such file or directory", path.display())
            }
            CliError::Disk(error) => write!(formatter, "{error}"),
            CliError::Output(error) => write!(formatter, "writing the report to stdout: {error}"),
            CliError::Bench(message) => write!(formatter, "bench: {message}"),
            CliError::Database(error) => write!(formatter, "{error}"),
            CliError::Crashtest(message) => write!(formatter, "crashtest: {message}"),
        }
    }
}

impl std::error::Error for CliError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            CliError::PathNotFound(_) | CliError::Bench(_) | CliError::Crashtest(_) => None,
            CliError::Disk(error) => Some(error),
            CliError::Output(error) => Some(error),
            CliError::Database(error) => Some(error),
        }
    }
}

impl From<disk::Error> for CliError {
    fn from(error: disk::Error) -> Self {
        CliError::Disk(error)
    }
}

impl From<String> for CliError {
    fn from(message: String) -> Self {
        CliError::Bench(message)
    }
}
