//! What happens in a run, as data: the direction a run goes, how each stage ended and why,
//! and the [`Reporter`] interface through which the scheduler tells every consumer (live
//! display, line and grouped output) about it. The scheduler produces these; `report`
//! consumes them; neither imports the other.

use std::time::{Duration, SystemTime};

use crate::graph::{Dag, StageId};

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
    /// The stage's command ran and succeeded; why it ran.
    Ran(String),
    /// The stage was already up on an identical render; nothing ran.
    UpToDate,
    /// Nothing needed doing (never stamped, already down, …); counts as success.
    Skipped(String),
    /// The stage failed; the reason names what went wrong.
    Failed(String),
    /// The run was interrupted while the stage ran (or was about to).
    Interrupted,
}

/// The final result of every stage the run was asked to act on.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Result {
    Done {
        outcome: Outcome,
        started: SystemTime,
        duration: Duration,
    },
    /// Never started because a stage it waits for failed.
    Blocked {
        by: StageId,
    },
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
}
