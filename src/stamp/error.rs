//! Errors of stamping, each naming the stage and, for template problems, file and line.

use std::path::PathBuf;

use crate::diagnostic::Diagnostic;

#[derive(Debug, thiserror::Error)]
pub(crate) enum StampError {
    /// A template failed to parse or render: where, what, and the line with a caret.
    #[error("{0}")]
    Template(Diagnostic),
    #[error("{}: {message}", .path.display())]
    Ignore { path: PathBuf, message: String },
    #[error("{action} {}: {source}", .path.display())]
    Io { action: &'static str, path: PathBuf, source: std::io::Error },
    /// A template dir entry that is neither a file, a dir nor a symlink.
    #[error("{}: a {kind} cannot be stamped; a stage template dir holds only files, dirs and symlinks", .path.display())]
    Unsupported { path: PathBuf, kind: &'static str },
    #[error("invalid delimiters: {0}")]
    Delimiters(String),
    /// Several template problems at once (syntax checks of many files).
    #[error("{}", .0.iter().map(ToString::to_string).collect::<Vec<_>>().join("\n"))]
    Many(Vec<StampError>),
}

impl StampError {
    pub(crate) fn io(
        action: &'static str,
        path: impl Into<PathBuf>,
    ) -> impl FnOnce(std::io::Error) -> StampError {
        let path = path.into();
        move |source| StampError::Io { action, path, source }
    }
}
