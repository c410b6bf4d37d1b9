//! What the scheduler tells the terminal owner, and the plain line-oriented implementation:
//! every stage output line prefixed `[stage] `, betterform's own messages prefixed `==> `.
//! It never emits terminal control sequences, so it is safe for CI logs and pipes.

use std::io::Write;
use std::time::Duration;

use super::color::{Tone, paint};
use crate::events::{Outcome, Reporter};
use crate::graph::{Dag, StageId};

pub(crate) fn format_duration(d: Duration) -> String {
    let secs = d.as_secs_f64();
    if secs < 60.0 {
        format!("{secs:.1}s")
    } else {
        let whole = d.as_secs();
        format!("{}m{:02}s", whole / 60, whole % 60)
    }
}

/// The line that says how a stage ended, the same in every output mode.
pub(crate) fn finished_line(name: &str, command: &str, outcome: &Outcome, duration: Duration) -> String {
    let took = format_duration(duration);
    match outcome {
        Outcome::Ran { .. } => {
            format!("==> {name}: {} ({took})", paint(&format!("{command} done"), Tone::Good))
        }
        Outcome::UpToDate => format!("==> {name}: up to date"),
        Outcome::Skipped(why) => format!("==> {name}: {}", paint(&format!("skipped: {why}"), Tone::Dim)),
        Outcome::Failed { reason, .. } => {
            format!("==> {name}: {} ({took}): {reason}", paint("FAILED", Tone::Bad))
        }
        Outcome::Interrupted => format!("==> {name}: {} ({took})", paint("interrupted", Tone::Warn)),
    }
}

/// How stage output is shown while a run goes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Display {
    /// One spinner line per running stage; outcomes and failed logs printed above.
    Live,
    /// Every output line as it comes, prefixed `[stage] `.
    Stream,
    /// Each stage's output as one block when it ends.
    Grouped,
}

/// Shows `path` relative to the working directory when it is below it.
pub(crate) fn display_path(path: &std::path::Path) -> String {
    // Looked up once: `-C` changes it before anything is shown, and nothing after.
    static CWD: std::sync::OnceLock<Option<std::path::PathBuf>> = std::sync::OnceLock::new();
    let cwd = CWD.get_or_init(|| std::env::current_dir().ok());
    cwd.as_deref().and_then(|cwd| path.strip_prefix(cwd).ok()).unwrap_or(path).display().to_string()
}

/// Prints a line to stderr, ignoring a closed stderr (`| head`): that must not kill a run
/// half-way.
pub(crate) fn eprint_line(text: &str) {
    // One write per line: stderr is unbuffered, and a no-op run prints two lines per stage.
    let mut line = crate::mask::mask(text).into_owned();
    line.push('\n');
    let _ = std::io::stderr().lock().write_all(line.as_bytes());
}

pub(crate) struct LineReporter<'a> {
    dag: &'a Dag,
    /// `up` or `down`: what the stages are running.
    command: &'a str,
    /// Lines not written yet: those of the events already queued, written in one go before
    /// the reporter waits for the next event ([`Reporter::idle`]).
    pending: String,
}

impl<'a> LineReporter<'a> {
    pub(crate) fn new(dag: &'a Dag, command: &'a str) -> Self {
        LineReporter { dag, command, pending: String::new() }
    }

    fn print(&mut self, text: String) {
        self.pending += &crate::mask::mask(&text);
        self.pending.push('\n');
    }
}

impl Drop for LineReporter<'_> {
    fn drop(&mut self) {
        self.idle();
    }
}

impl Reporter for LineReporter<'_> {
    fn started(&mut self, stage: StageId) {
        self.print(format!("==> {}: {}", self.dag.name(stage), self.command));
    }

    fn line(&mut self, stage: StageId, text: &str) {
        self.print(format!("[{}] {text}", self.dag.name(stage)));
    }

    fn note(&mut self, stage: StageId, text: &str) {
        self.print(format!("==> {}: {text}", self.dag.name(stage)));
    }

    fn finished(&mut self, stage: StageId, outcome: &Outcome, duration: Duration) {
        let line = finished_line(self.dag.name(stage), self.command, outcome, duration);
        self.print(line);
    }

    fn message(&mut self, text: &str) {
        self.print(format!("==> {text}"));
    }

    fn idle(&mut self) {
        if !self.pending.is_empty() {
            let _ = std::io::stderr().lock().write_all(self.pending.as_bytes());
            self.pending.clear();
        }
    }
}
