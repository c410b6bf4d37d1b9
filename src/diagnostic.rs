//! One way to show a problem in a user's file, whichever parser found it (the DAG file, a
//! template, `step.json`, the config): `path:line:col: message`, then the offending source
//! line with a caret under the offending text, as rustc and just do.
//!
//! ```text
//! impl/betterform_dag.mk:5:29: unknown stage 'paralel_a' (did you mean 'parallel_a'?)
//!   |
//! 5 | $(call define_stage, final, paralel_a)
//!   |                             ^^^^^^^^^
//! ```
//!
//! The first line alone is the whole message for machines and for `grep`; the snippet is for
//! people. A source line is shown at most [`WINDOW`] characters wide around the column, so a
//! garbage file of one 30 MB line still makes a short message.

use std::fmt;
use std::path::PathBuf;

/// How many characters of a source line a snippet shows at most.
const WINDOW: usize = 100;

#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Diagnostic {
    pub(crate) path: PathBuf,
    /// 1-based; 0 when unknown (then there is no snippet).
    pub(crate) line: usize,
    /// 1-based, in characters; 0 when unknown (the snippet underlines nothing).
    pub(crate) column: usize,
    /// Characters to underline from `column` (at least one caret is drawn).
    pub(crate) length: usize,
    pub(crate) message: String,
    /// The text of line `line`, when the finder had the source at hand.
    pub(crate) source_line: Option<String>,
}

impl Diagnostic {
    pub(crate) fn new(
        path: impl Into<PathBuf>,
        line: usize,
        column: usize,
        message: impl Into<String>,
    ) -> Self {
        Diagnostic { path: path.into(), line, column, length: 0, message: message.into(), source_line: None }
    }

    /// Takes the offending line from the whole source `text`, and, unless a length was set,
    /// underlines the word at the column (a stage name, an expression).
    pub(crate) fn with_source(mut self, text: &str) -> Self {
        if self.line == 0 {
            return self;
        }
        self.source_line = text.lines().nth(self.line - 1).map(str::to_string);
        if self.length == 0
            && let Some(line) = &self.source_line
        {
            let word = |c: &char| c.is_alphanumeric() || matches!(c, '_' | '-' | '.');
            let from = line.chars().skip(self.column.saturating_sub(1));
            self.length = from.take_while(word).count().max(1);
        }
        self
    }

    pub(crate) fn with_length(mut self, length: usize) -> Self {
        self.length = length;
        self
    }

    /// `path:line:col: message` (the parts that are known).
    pub(crate) fn headline(&self) -> String {
        match (self.line, self.column) {
            (0, _) => format!("{}: {}", self.path.display(), self.message),
            (line, 0) => format!("{}:{line}: {}", self.path.display(), self.message),
            (line, column) => format!("{}:{line}:{column}: {}", self.path.display(), self.message),
        }
    }

    /// The source line and the caret line, each prefixed with the gutter, or `None` without a
    /// source line.
    fn snippet(&self) -> Option<String> {
        let source = self.source_line.as_deref()?;
        let chars: Vec<char> = source.chars().map(|c| if c == '\t' { ' ' } else { c }).collect();
        // A window of the line around the column, so a huge line stays readable.
        let column = self.column.max(1) - 1;
        let start = if chars.len() <= WINDOW { 0 } else { column.saturating_sub(WINDOW / 3) };
        let end = chars.len().min(start + WINDOW);
        let mut shown: String = chars[start..end].iter().collect();
        let mut offset = column - start.min(column);
        if start > 0 {
            shown.insert(0, '…');
            offset += 1;
        }
        if end < chars.len() {
            shown.push('…');
        }
        let number = self.line.to_string();
        let gutter = " ".repeat(number.len());
        let mut text = format!("{gutter} |\n{number} | {}", shown.trim_end());
        if self.column > 0 {
            let carets = self.length.max(1).min(end.saturating_sub(column).max(1));
            text.push_str(&format!("\n{gutter} | {}{}", " ".repeat(offset), "^".repeat(carets)));
        }
        Some(text)
    }
}

impl fmt::Display for Diagnostic {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.headline())?;
        if let Some(snippet) = self.snippet() {
            write!(f, "\n{snippet}")?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::Diagnostic;

    #[test]
    fn the_offending_word_is_underlined_below_its_line() {
        let text = "# the diamond\n$(call define_stage, final, paralel_a)\n";
        let d =
            Diagnostic::new("impl/betterform_dag.mk", 2, 29, "unknown stage 'paralel_a'").with_source(text);
        assert_eq!(
            d.to_string(),
            "impl/betterform_dag.mk:2:29: unknown stage 'paralel_a'\n  |\n2 | $(call define_stage, final, paralel_a)\n  |                             ^^^^^^^^^"
        );
        assert_eq!(d.headline(), "impl/betterform_dag.mk:2:29: unknown stage 'paralel_a'");
    }

    #[test]
    fn unknown_parts_are_left_out() {
        let no_line = Diagnostic::new("a.tf", 0, 0, "cannot read it").with_source("x");
        assert_eq!(no_line.to_string(), "a.tf: cannot read it");
        let no_column =
            Diagnostic::new("a.tf", 1, 0, "undefined value 'cfg.x'").with_source("x = {{ cfg.x }}\n");
        assert_eq!(no_column.to_string(), "a.tf:1: undefined value 'cfg.x'\n  |\n1 | x = {{ cfg.x }}");
        let past_the_end = Diagnostic::new("a.tf", 9, 1, "m").with_source("one line\n");
        assert_eq!(past_the_end.to_string(), "a.tf:9:1: m", "no line 9: no snippet");
    }

    #[test]
    fn a_huge_line_is_shown_as_a_window_around_the_column() {
        let line = format!("{}BAD{}", "x".repeat(1_000_000), "y".repeat(1_000_000));
        let d = Diagnostic::new("f", 1, 1_000_001, "here").with_source(&line).with_length(3);
        let text = d.to_string();
        assert!(text.len() < 400, "{} bytes", text.len());
        let lines: Vec<&str> = text.lines().collect();
        // In characters, as a terminal shows them (`…` is one character, three bytes).
        let caret_at = lines[3].chars().position(|c| c == '^').unwrap();
        let above: String = lines[2].chars().skip(caret_at).take(3).collect();
        assert_eq!(above, "BAD", "{text}");
        assert!(lines[2].contains('…'));
    }
}
