//! The scheduler: starts a stage as soon as everything it waits for has finished, at most
//! `--jobs` at once; after a failure either stops starting stages (default) or keeps going
//! with stages that do not depend on the failure (`-k`). Dependents of a failure never run.
//!
//! The same loop drives `up` (a stage waits for its dependencies) and `down` (a stage waits
//! for its dependents). Workers run on scoped threads and report through one channel; this
//! thread is the only one that talks to the reporter, so output is never interleaved mid-line.

use std::collections::BTreeSet;
use std::sync::mpsc;
use std::time::{Duration, Instant, SystemTime};

use crate::graph::{Dag, StageId};
use crate::report::Reporter;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Direction {
    /// Dependencies first.
    Up,
    /// Dependents first.
    Down,
}

#[derive(Debug, Clone, Copy)]
pub(crate) struct Options {
    pub(crate) jobs: usize,
    pub(crate) keep_going: bool,
}

/// What a worker reports for its stage.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Outcome {
    /// The stage's command ran and succeeded.
    Ran,
    /// Nothing needed doing (never stamped, already down, …); counts as success.
    Skipped(String),
    /// The stage failed; the reason names what went wrong.
    Failed(String),
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
    /// Never started because the run stopped after a failure elsewhere.
    Stopped,
}

/// Why the run stops starting new stages. Ordered by severity, so the most severe reason wins
/// when several arrive.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub(crate) enum Stop {
    /// A stage failed and `--keep-going` is off.
    Failure,
}

/// A worker's handle for reporting output lines of its stage.
pub(crate) struct Sink {
    stage: StageId,
    tx: mpsc::Sender<Event>,
}

impl Sink {
    pub(crate) fn line(&self, text: &str) {
        let _ = self.tx.send(Event::Line { stage: self.stage, text: text.to_string() });
    }

    /// A message from betterform itself about the stage (stamping, skipping, ...).
    pub(crate) fn note(&self, text: &str) {
        let _ = self.tx.send(Event::Note { stage: self.stage, text: text.to_string() });
    }
}

enum Event {
    Line { stage: StageId, text: String },
    Note { stage: StageId, text: String },
    Done { stage: StageId, outcome: Outcome, started: SystemTime, duration: Duration },
}

/// Runs `work` for every stage in `members`, in dependency order for `direction`, and returns
/// each member's result (`None` for stages outside `members`).
pub(crate) fn run(
    dag: &Dag,
    members: &[bool],
    direction: Direction,
    options: Options,
    reporter: &mut dyn Reporter,
    work: &(dyn Fn(StageId, &Sink) -> Outcome + Sync),
) -> Vec<Option<Result>> {
    let waits_for = |s: StageId| match direction {
        Direction::Up => dag.deps(s),
        Direction::Down => dag.dependents(s),
    };
    let unblocks = |s: StageId| match direction {
        Direction::Up => dag.dependents(s),
        Direction::Down => dag.deps(s),
    };
    // Ready stages are started in a stable order: topological position (reversed for down).
    let mut rank = vec![0usize; dag.len()];
    for (i, &s) in dag.order().iter().enumerate() {
        rank[s] = match direction {
            Direction::Up => i,
            Direction::Down => dag.len() - i,
        };
    }
    let mut waiting: Vec<usize> =
        (0..dag.len()).map(|s| waits_for(s).iter().filter(|&&w| members[w]).count()).collect();
    let mut ready: BTreeSet<(usize, StageId)> =
        (0..dag.len()).filter(|&s| members[s] && waiting[s] == 0).map(|s| (rank[s], s)).collect();
    let mut results: Vec<Option<Result>> = vec![None; dag.len()];
    let mut blocked_by: Vec<Option<StageId>> = vec![None; dag.len()];
    let mut stop: Option<Stop> = None;
    let mut running = 0usize;
    let (tx, rx) = mpsc::channel::<Event>();

    std::thread::scope(|scope| {
        loop {
            while stop.is_none() && running < options.jobs.max(1) {
                let Some((_, stage)) = ready.pop_first() else { break };
                running += 1;
                reporter.started(stage);
                let sink = Sink { stage, tx: tx.clone() };
                scope.spawn(move || {
                    let started = SystemTime::now();
                    let clock = Instant::now();
                    let outcome = work(stage, &sink);
                    let duration = clock.elapsed();
                    let _ = sink.tx.send(Event::Done { stage, outcome, started, duration });
                });
            }
            if running == 0 {
                break;
            }
            match rx.recv().expect("a running worker holds a sender") {
                Event::Line { stage, text } => reporter.line(stage, &text),
                Event::Note { stage, text } => reporter.note(stage, &text),
                Event::Done { stage, outcome, started, duration } => {
                    running -= 1;
                    reporter.finished(stage, &outcome, duration);
                    if let Outcome::Failed(_) = outcome {
                        if !options.keep_going {
                            stop = stop.max(Some(Stop::Failure));
                        }
                        // Everything downstream of the failure is blocked by it.
                        let downstream = match direction {
                            Direction::Up => dag.with_dependents(&[stage]),
                            Direction::Down => dag.with_dependencies(&[stage]),
                        };
                        for s in (0..dag.len()).filter(|&s| s != stage && downstream[s]) {
                            blocked_by[s].get_or_insert(stage);
                        }
                    } else {
                        for &next in unblocks(stage) {
                            if members[next] {
                                waiting[next] -= 1;
                                if waiting[next] == 0 && blocked_by[next].is_none() {
                                    ready.insert((rank[next], next));
                                }
                            }
                        }
                    }
                    results[stage] = Some(Result::Done { outcome, started, duration });
                }
            }
        }
    });

    for (s, result) in results.iter_mut().enumerate() {
        if !members[s] || result.is_some() {
            continue;
        }
        *result = Some(match blocked_by[s] {
            Some(by) => Result::Blocked { by },
            None => Result::Stopped,
        });
    }
    results
}
