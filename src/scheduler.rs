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

use nix::sys::signal::Signal;
use signal_hook::consts::{SIGINT, SIGTERM};
use signal_hook::iterator::Signals;

use crate::graph::{Dag, StageId};
use crate::process::Groups;
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
    /// How long stages get to stop after a forwarded SIGINT/SIGTERM before SIGKILL.
    pub(crate) grace: Duration,
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

/// What a run produced: each member's result, and why it stopped early, if it did.
pub(crate) struct Run {
    pub(crate) results: Vec<Option<Result>>,
    pub(crate) stop: Option<Stop>,
}

/// A worker's handle for reporting output lines of its stage.
pub(crate) struct Sink<'g> {
    stage: StageId,
    tx: mpsc::Sender<Event>,
    groups: &'g Groups,
}

impl Sink<'_> {
    /// Where the stage's process group must be registered (see [`crate::process::run`]).
    pub(crate) fn groups(&self) -> &Groups {
        self.groups
    }

    pub(crate) fn interrupted(&self) -> bool {
        self.groups.interrupted()
    }

    /// Shows an output line of the stage, secrets masked; returns the line as shown.
    pub(crate) fn line(&self, text: &str) -> String {
        let text = crate::mask::mask(text).into_owned();
        let _ = self.tx.send(Event::Line { stage: self.stage, text: text.clone() });
        text
    }

    /// A message from betterform itself about the stage (stamping, skipping, ...).
    pub(crate) fn note(&self, text: &str) {
        let _ = self.tx.send(Event::Note { stage: self.stage, text: crate::mask::mask(text).into_owned() });
    }
}

enum Event {
    Line { stage: StageId, text: String },
    Note { stage: StageId, text: String },
    Done { stage: StageId, outcome: Outcome, started: SystemTime, duration: Duration },
    Signal(i32),
    GraceExpired,
}

/// Runs `work` for every stage in `members`, in dependency order for `direction`, and returns
/// each member's result (`None` for stages outside `members`).
pub(crate) fn run(
    dag: &Dag,
    members: &[bool],
    direction: Direction,
    options: Options,
    reporter: &mut dyn Reporter,
    work: &(dyn Fn(StageId, &Sink<'_>) -> Outcome + Sync),
) -> Run {
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
    let groups = Groups::default();

    // signal-hook's iterator receives signals through a self-pipe without blocking them, so
    // children inherit a normal signal mask (a blocked mask would make them deaf to the very
    // signals we forward). The handlers are installed only while stages run.
    let mut signals = Signals::new([SIGINT, SIGTERM]).expect("signal handlers install");
    let signal_handle = signals.handle();
    let signal_tx = tx.clone();
    std::thread::spawn(move || {
        for signal in signals.forever() {
            if signal_tx.send(Event::Signal(signal)).is_err() {
                break;
            }
        }
    });

    std::thread::scope(|scope| {
        loop {
            while stop.is_none() && running < options.jobs.max(1) {
                let Some((_, stage)) = ready.pop_first() else { break };
                running += 1;
                reporter.started(stage);
                let sink = Sink { stage, tx: tx.clone(), groups: &groups };
                scope.spawn(move || {
                    let started = SystemTime::now();
                    let clock = Instant::now();
                    let outcome = match work(stage, &sink) {
                        // A failure reason may quote a secret (a value that failed validation).
                        Outcome::Failed(why) => Outcome::Failed(crate::mask::mask(&why).into_owned()),
                        outcome => outcome,
                    };
                    let duration = clock.elapsed();
                    let _ = sink.tx.send(Event::Done { stage, outcome, started, duration });
                });
            }
            if running == 0 {
                break;
            }
            match rx.recv().expect("a running worker holds a sender") {
                Event::Signal(number) => {
                    let (kind, signal) = if number == SIGTERM {
                        (Stop::Terminate, Signal::SIGTERM)
                    } else {
                        (Stop::Interrupt, Signal::SIGINT)
                    };
                    if stop.is_some_and(|s| s >= Stop::Interrupt) {
                        reporter.message(&format!(
                            "{} again: killing {running} running stage(s) now",
                            signal.as_str()
                        ));
                        groups.interrupt(Signal::SIGKILL);
                    } else {
                        stop = stop.max(Some(kind));
                        reporter.message(&format!(
                            "{}: starting no more stages; forwarded to {running} running stage(s), \
                             waiting up to {}s for them (press Ctrl-C again to kill them now)",
                            signal.as_str(),
                            options.grace.as_secs()
                        ));
                        groups.interrupt(signal);
                        let timer_tx = tx.clone();
                        let grace = options.grace;
                        // Not a scoped thread: the run must not wait for the timer to end.
                        std::thread::spawn(move || {
                            std::thread::sleep(grace);
                            let _ = timer_tx.send(Event::GraceExpired);
                        });
                    }
                }
                Event::GraceExpired => {
                    reporter.message(&format!("grace period over: killing {running} stage(s) still running"));
                    groups.interrupt(Signal::SIGKILL);
                }
                Event::Line { stage, text } => reporter.line(stage, &text),
                Event::Note { stage, text } => reporter.note(stage, &text),
                Event::Done { stage, outcome, started, duration } => {
                    running -= 1;
                    reporter.finished(stage, &outcome, duration);
                    // A stage holding the terminal gets Ctrl-C itself and interrupts the run from
                    // its worker: the run stops even if this comes before the raised signal does.
                    if let Outcome::Interrupted = outcome {
                        stop = stop.max(Some(Stop::Interrupt));
                    }
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
    signal_handle.close();

    for (s, result) in results.iter_mut().enumerate() {
        if !members[s] || result.is_some() {
            continue;
        }
        *result = Some(match blocked_by[s] {
            Some(by) => Result::Blocked { by },
            None => Result::Stopped(stop.unwrap_or(Stop::Failure)),
        });
    }
    Run { results, stop }
}
