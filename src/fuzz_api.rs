//! Entry points for the fuzz harness in `tests/fuzz.rs`, one per parser of text betterform
//! did not write: the DAG file, step service messages, `step.json` and a template dir's
//! `.betterformignore`. Not a stable API: it exists so the harness can drive the parsers
//! without making their modules public, and it only reduces what they return to what the
//! harness checks (nothing panics, nothing hangs, errors point inside the input).

use std::path::Path;

use crate::graph::Dag;
use crate::stamp::{Kind, read_tree};
use crate::step::{Line, Message, Spec, StepError, parse_message};

/// An error about the input, with its 1-based position (`line` 0: none known).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Problem {
    pub line: usize,
    pub column: usize,
    pub message: String,
}

/// What a DAG file that parsed holds.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct DagSummary {
    pub stages: usize,
    /// Distinct (dependent, dependency) pairs.
    pub edges: usize,
}

/// Parses and checks a DAG file's text, as `validate` and `up` do.
pub fn dag(text: &str) -> Result<DagSummary, Vec<Problem>> {
    match Dag::parse(Path::new("betterform_dag.mk"), text) {
        Ok(dag) => {
            let edges = (0..dag.len()).map(|stage| dag.deps(stage).len()).sum();
            Ok(DagSummary { stages: dag.len(), edges })
        }
        Err(e) => Err(e
            .errors
            .into_iter()
            .map(|e| Problem { line: e.pos.line, column: e.pos.col, message: e.message })
            .collect()),
    }
}

/// What one line of step output is taken for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum StepLine {
    Text,
    Malformed,
    /// `setVariable`, decoded (the message that carries secrets).
    Variable {
        name: String,
        value: String,
        sensitive: bool,
    },
    /// Any other service message.
    Message,
}

/// Classifies one line of a step's output; the bytes are decoded as the launcher decodes
/// them (invalid UTF-8 becomes U+FFFD).
pub fn step_message(line: &[u8]) -> StepLine {
    match parse_message(&String::from_utf8_lossy(line)) {
        Line::Text => StepLine::Text,
        Line::Malformed(_) => StepLine::Malformed,
        Line::Message(Message::SetVariable { name, value, sensitive }) => {
            StepLine::Variable { name, value, sensitive }
        }
        Line::Message(_) => StepLine::Message,
    }
}

/// Parses and checks `step.json` text.
pub fn step_json(text: &str) -> Result<(), Problem> {
    match Spec::parse(text, Path::new("step.json")) {
        Ok(_) => Ok(()),
        Err(StepError::Spec(d)) => Err(Problem { line: d.line, column: d.column, message: d.message }),
        Err(other) => Err(Problem { line: 0, column: 0, message: other.to_string() }),
    }
}

/// One entry of a template dir as the stamper reads it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TemplateEntry {
    /// Relative to the template dir.
    pub path: std::path::PathBuf,
    /// For files: whether it is rendered (false: `.betterformignore` says copy verbatim).
    pub render: Option<bool>,
}

/// Reads a template dir (applying its `.betterformignore`) as stamping does.
pub fn template_dir(root: &Path) -> Result<Vec<TemplateEntry>, String> {
    let entries = read_tree(root).map_err(|e| e.to_string())?;
    Ok(entries
        .into_iter()
        .map(|e| TemplateEntry {
            render: match e.kind {
                Kind::File { render, .. } => Some(render),
                Kind::Dir { .. } | Kind::Symlink { .. } => None,
            },
            path: e.rel,
        })
        .collect())
}
