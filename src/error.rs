//! The error type that crosses module boundaries to the top, and the one place that maps
//! errors to exit codes (README: "Exit codes").

use crate::config::ConfigError;
use crate::dagfile::{DagError, ReadError};
use crate::stamp::StampError;

#[derive(Debug, thiserror::Error)]
pub(crate) enum Error {
    /// Bad command line or environment.
    #[error("{0}")]
    Usage(String),
    #[error(transparent)]
    Dag(#[from] DagError),
    #[error(transparent)]
    Config(#[from] ConfigError),
    /// Template syntax or other stamp problems found before anything ran.
    #[error(transparent)]
    Stamp(#[from] StampError),
    /// `validate` found problems (each already formatted with its position).
    #[error("{0}")]
    Invalid(String),
    /// At least one stage failed; the summary already said which.
    #[error("{0}")]
    StagesFailed(String),
    /// What was asked for does not exist yet (`logs` of a stage that has not run): exit 1,
    /// as `grep` finding nothing.
    #[error("{0}")]
    Missing(String),
    /// Another run holds the lock.
    #[error("{0}")]
    Locked(String),
    /// The run was interrupted by a signal; the summary said which stages were running.
    #[error("interrupted by {name}")]
    Interrupted { name: &'static str, code: i32 },
    /// Not an error: an exit code that answers a question (`plan --exit-code`); the command
    /// already printed everything.
    #[error("")]
    Answer(i32),
    /// betterform could not do its own bookkeeping: the lock file, stage records, the run
    /// journal, a report file. No stage failed (or none ran); exit 4 tells scripts so.
    #[error(transparent)]
    Bookkeeping(#[from] anyhow::Error),
}

/// A DAG file that cannot be read at all is a usage problem, as before there was a DAG to
/// check; one that is not UTF-8 is a problem in the file, listed by `validate` with the rest.
impl From<ReadError> for Error {
    fn from(e: ReadError) -> Self {
        match e {
            ReadError::Invalid(e) => Error::Dag(e),
            e @ ReadError::Unreadable { .. } => Error::Usage(e.to_string()),
        }
    }
}

impl From<crate::wave::WaveError> for Error {
    fn from(e: crate::wave::WaveError) -> Error {
        Error::Usage(e.to_string())
    }
}

impl Error {
    pub(crate) fn exit_code(&self) -> i32 {
        match self {
            Error::Usage(_) | Error::Dag(_) | Error::Config(_) | Error::Stamp(_) | Error::Invalid(_) => 2,
            Error::StagesFailed(_) | Error::Missing(_) => 1,
            Error::Locked(_) => 3,
            Error::Bookkeeping(_) => 4,
            Error::Answer(code) => *code,
            Error::Interrupted { code, .. } => *code,
        }
    }
}
