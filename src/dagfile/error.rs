//! Positions and errors for `betterform_dag.mk`.

use std::fmt;
use std::path::PathBuf;

/// A 1-based line and column in the DAG file.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub struct Pos {
    pub line: usize,
    pub col: usize,
}

/// One problem at one position of the DAG file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DagFileError {
    pub pos: Pos,
    pub message: String,
}

impl DagFileError {
    pub(crate) fn at(pos: Pos, message: impl Into<String>) -> Self {
        DagFileError { pos, message: message.into() }
    }
}

/// Every problem found in one DAG file, each rendered as `file:line:col: message`.
#[derive(Debug, thiserror::Error)]
pub struct DagError {
    pub path: PathBuf,
    pub errors: Vec<DagFileError>,
}

impl fmt::Display for DagError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (i, e) in self.errors.iter().enumerate() {
            if i > 0 {
                writeln!(f)?;
            }
            write!(f, "{}:{}:{}: {}", self.path.display(), e.pos.line, e.pos.col, e.message)?;
        }
        Ok(())
    }
}
