//! What happens in a run, as data: the direction a run goes, how each stage ended and why,
//! and the [`Reporter`] interface through which the scheduler tells every consumer (live
//! display, line and grouped output) about it. The scheduler produces these; `report`
//! consumes them; neither imports the other.

use std::time::{Duration, SystemTime};

use crate::graph::{Dag, StageId};
use crate::state::Status;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Direction {
    /// Dependencies first.
    Up,
    /// Dependents first.
    Down,
}

impl Direction {
    /// The stages `stage` waits for.
    pub(crate) fn waits_for(self, dag: &Dag, stage: StageId) -> &[StageId] {
        match self {
            Direction::Up => dag.deps(stage),
            Direction::Down => dag.dependents(stage),
        }
    }

    /// The stages that wait for `stage`.
    pub(crate) fn unblocks(self, dag: &Dag, stage: StageId) -> &[StageId] {
        match self {
            Direction::Up => dag.dependents(stage),
            Direction::Down => dag.deps(stage),
        }
    }

    /// `stage` and every stage that waits for it, directly or not.
    pub(crate) fn downstream(self, dag: &Dag, stage: StageId) -> Vec<bool> {
        match self {
            Direction::Up => dag.with_dependents(&[stage]),
            Direction::Down => dag.with_dependencies(&[stage]),
        }
    }
}

impl Direction {
    /// What a stage waits for in this direction, in words: `dependency` or `dependent`.
    pub(crate) fn waits_for_noun(self) -> &'static str {
        match self {
            Direction::Up => "dependency",
            Direction::Down => "dependent",
        }
    }

    /// The stage command a run in this direction runs: `up` or `down`.
    pub(crate) fn command(self) -> &'static str {
        match self {
            Direction::Up => "up",
            Direction::Down => "down",
        }
    }
}

/// What a worker reports for its stage.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Outcome {
    /// The stage's command ran and succeeded: why it ran, and its exit code when a process
    /// of its own ran.
    Ran { reason: Reason, exit_code: Option<i32> },
    /// The stage was already up on an identical render; nothing ran.
    UpToDate,
    /// Nothing needed doing (never stamped, already down, …); counts as success.
    Skipped(String),
    /// The stage failed: what went wrong, and the exit code if a process got that far.
    Failed { reason: String, exit_code: Option<i32> },
    /// The run was interrupted while the stage ran (or was about to).
    Interrupted,
}

impl Outcome {
    pub(crate) fn failed(reason: impl Into<String>) -> Outcome {
        Outcome::Failed { reason: reason.into(), exit_code: None }
    }

    pub(crate) fn is_failure(&self) -> bool {
        matches!(self, Outcome::Failed { .. })
    }

    /// The exit code of the stage's own process, when one ran.
    pub(crate) fn exit_code(&self) -> Option<i32> {
        match self {
            Outcome::Ran { exit_code, .. } | Outcome::Failed { exit_code, .. } => *exit_code,
            Outcome::UpToDate | Outcome::Skipped(_) | Outcome::Interrupted => None,
        }
    }
}

/// Why a stage's command runs. The text of each reason lives here, once.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Reason {
    /// `-B`.
    Forced,
    /// No `up` was ever recorded.
    NeverUp,
    /// Its last recorded status is not `up` (failed, unknown, down).
    LastStatus(Status),
    /// Its render differs from the one its last `up` ran on: why, if known, and the stamped
    /// files that differ (the first few, and how many more).
    RenderChanged { cause: Option<Cause>, files: Vec<String>, more: usize },
    /// These dependencies completed an `up` since the stage's own.
    DependenciesUpdated(Vec<String>),
    /// A step-package stage's package or bound inputs changed.
    StepChanged,
    /// `down`: what was recorded.
    Recorded(Status),
    /// `run VERB`: asked for.
    Verb(String),
}

/// What changed a stage's render.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Cause {
    Templates,
    Config,
    /// A file its templates read (`read_json`, `output`, …).
    ReadFile,
}

impl std::fmt::Display for Reason {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Reason::Forced => write!(f, "forced (-B)"),
            Reason::NeverUp => write!(f, "never brought up"),
            Reason::LastStatus(status) => write!(f, "last recorded status is {}", status.as_str()),
            Reason::RenderChanged { cause: None, .. } => write!(f, "stamped files changed"),
            Reason::RenderChanged { cause: Some(cause), files, more } => {
                let cause = match cause {
                    Cause::Templates => "template files changed",
                    Cause::Config => "config changed",
                    Cause::ReadFile => "a file its templates read changed",
                };
                write!(f, "{cause}")?;
                if !files.is_empty() {
                    write!(f, "; stamped files differ: {}", files.join(", "))?;
                }
                if *more > 0 {
                    write!(f, " and {more} more")?;
                }
                Ok(())
            }
            Reason::DependenciesUpdated(deps) => {
                write!(f, "dependency {} completed an up since", deps.join(", "))
            }
            Reason::StepChanged => write!(f, "the step package or its bound inputs changed"),
            Reason::Recorded(status) => write!(f, "recorded {}", status.as_str()),
            Reason::Verb(verb) => write!(f, "run {verb}"),
        }
    }
}

/// The final result of every stage the run was asked to act on.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Result {
    Done {
        outcome: Outcome,
        started: SystemTime,
        duration: Duration,
        /// How long it was ready (everything it waits for done) before a `-j` slot took it.
        waited: Duration,
    },
    /// Never started because a stage it waits for failed.
    Blocked { by: StageId },
    /// Never started because the run stopped (a failure elsewhere, or a signal).
    Stopped(Stop),
}

/// Why the run stops starting new stages. Ordered by severity, so the most severe reason wins
/// when several arrive.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub(crate) enum Stop {
    /// A stage failed and `--keep-going` is off.
    Failure,
    /// SIGINT (Ctrl-C).
    Interrupt,
    /// SIGTERM.
    Terminate,
}

/// Told about everything the scheduler does, on the one thread that owns the terminal.
pub(crate) trait Reporter {
    fn started(&mut self, stage: StageId);
    fn line(&mut self, stage: StageId, text: &str);
    fn note(&mut self, stage: StageId, text: &str);
    fn finished(&mut self, stage: StageId, outcome: &Outcome, duration: Duration);
    /// A message about the whole run (signals, ...).
    fn message(&mut self, text: &str);
    /// Every event so far was told: the reporter is about to wait for the next one (a
    /// reporter that batches its output writes it now).
    fn idle(&mut self) {}
}
