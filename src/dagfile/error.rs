//! Positions and errors for `betterform_dag.mk`.

use std::borrow::Cow;
use std::fmt;
use std::path::PathBuf;

use crate::diagnostic::Diagnostic;

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

/// Every problem found in one DAG file, each rendered as a [`Diagnostic`]: `file:line:col:
/// message`, then the line with a caret when the file's text is known.
#[derive(Debug, thiserror::Error)]
pub struct DagError {
    pub path: PathBuf,
    pub errors: Vec<DagFileError>,
    /// The file's text, for the snippets.
    pub text: Option<String>,
}

impl DagError {
    /// Each problem as a diagnostic, in file order.
    pub(crate) fn diagnostics(&self) -> Vec<Diagnostic> {
        self.errors
            .iter()
            .map(|e| {
                let d = Diagnostic::new(&self.path, e.pos.line, e.pos.col, e.message.clone());
                match &self.text {
                    Some(text) => d.with_source(text),
                    None => d,
                }
            })
            .collect()
    }
}

impl fmt::Display for DagError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (i, d) in self.diagnostics().iter().enumerate() {
            if i > 0 {
                writeln!(f)?;
            }
            write!(f, "{d}")?;
        }
        Ok(())
    }
}

/// How many characters of the user's text an error message quotes.
const QUOTE_CHARS: usize = 40;

/// `text` as an error message quotes it: whole when short, else its first [`QUOTE_CHARS`]
/// characters and `…`. The position already says where the text is; quoting all of a
/// garbage line (a file of megabytes with no newline) would bury the message, the terminal
/// and CI logs.
pub(crate) fn shorten(text: &str) -> Cow<'_, str> {
    match text.char_indices().nth(QUOTE_CHARS) {
        Some((cut, _)) => Cow::Owned(format!("{}…", &text[..cut])),
        None => Cow::Borrowed(text),
    }
}

/// What every message about make constructs says.
pub(crate) const NOT_MAKE: &str = "betterform_dag.mk is parsed, not run by make";

/// The message for something only make could evaluate: `what` is not supported, and what to
/// write instead.
pub(crate) fn not_make(what: &str) -> String {
    format!(
        "{what} is not supported: {NOT_MAKE}; \
         write one call per stage with its dependencies spelled out, e.g. `$(call define_stage, app, db cache)`"
    )
}

#[cfg(test)]
mod tests {
    use super::shorten;

    #[test]
    fn shorten_keeps_short_text_and_cuts_long_text_on_a_char_boundary() {
        assert_eq!(shorten("parallel_a"), "parallel_a");
        let forty = "a".repeat(40);
        assert_eq!(shorten(&forty), forty, "exactly the limit is kept whole");
        assert_eq!(shorten(&format!("{forty}b")), format!("{forty}…"));
        // Multi-byte characters: 41 of them are cut after the 40th, not inside one.
        let wide = "é".repeat(41);
        assert_eq!(shorten(&wide), format!("{}…", "é".repeat(40)));
    }
}
