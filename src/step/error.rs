//! Errors of step-package stages. Each names the file it is about and, for inputs, the
//! input path (`filesToInclude.files[2].glob`).

use std::path::PathBuf;

use crate::diagnostic::Diagnostic;

/// One problem with a step's inputs, at an input path.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct InputError {
    /// `a.b[2].c`; empty for the inputs object itself.
    pub(crate) path: String,
    pub(crate) message: String,
}

impl std::fmt::Display for InputError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        if self.path.is_empty() {
            write!(f, "(inputs): {}", self.message)
        } else {
            write!(f, "{}: {}", self.path, self.message)
        }
    }
}

#[derive(Debug, thiserror::Error)]
pub(crate) enum StepError {
    /// `step.json` is not what it must be: where (when known), what, and the line.
    #[error("{0}")]
    Spec(Diagnostic),
    /// A package that cannot be used: unreadable archive, unsafe entry, bad metadata.
    #[error("package {}: {message}", .path.display())]
    Package { path: PathBuf, message: String },
    /// Inputs that cannot be bound or do not match the schema: every problem, one per line.
    #[error("invalid inputs for step '{step}' ({}):\n{}", .schema.display(), .errors.iter().map(|e| format!("  {e}")).collect::<Vec<_>>().join("\n"))]
    Inputs { step: String, schema: PathBuf, errors: Vec<InputError> },
    /// Variable substitution in a package's files failed.
    #[error("substitute-in-files {reference}: {}: {message}", .path.display())]
    Substitute { reference: String, path: PathBuf, message: String },
    /// The step's process could not be started, or ran but could not be logged.
    #[error(transparent)]
    Launch(#[from] crate::process::Failure),
    #[error("{action} {}: {source}", .path.display())]
    Io { action: &'static str, path: PathBuf, source: std::io::Error },
}

impl StepError {
    pub(crate) fn io(
        action: &'static str,
        path: impl Into<PathBuf>,
    ) -> impl FnOnce(std::io::Error) -> StepError {
        let path = path.into();
        move |source| StepError::Io { action, path, source }
    }

    pub(crate) fn package(path: impl Into<PathBuf>, message: impl Into<String>) -> StepError {
        StepError::Package { path: path.into(), message: message.into() }
    }
}
