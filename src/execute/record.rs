//! Recording a stage's state around the command that runs it: marked started in the run's
//! journal first (so a run that dies leaves it `unknown`), then recorded `failed`, `unknown`
//! (interrupted) or whatever success makes of it.

use std::path::Path;
use std::time::SystemTime;

use crate::events::{Direction, Outcome, Reason};
use crate::project::Project;
use crate::scheduler::Sink;
use crate::state::{StageState, Status, millis, timestamp};

/// One recorded run of a stage's command: which stage and direction, what was recorded
/// before, why it runs, and how success changes the recorded state.
pub(crate) struct StageRun<'a> {
    pub(crate) stage: &'a str,
    pub(crate) direction: Direction,
    pub(crate) previous: StageState,
    pub(crate) why: Reason,
    pub(crate) on_success: &'a dyn Fn(&mut StageState),
}

/// How the body of a [`StageRun`] went.
pub(crate) enum Attempt {
    /// Interrupted before it could start.
    NotStarted,
    /// It ran: success or the failure reason, and the exit code if a process got that far.
    Finished { result: Result<(), String>, exit_code: Option<i32> },
}

/// Runs `body` (which writes the stage's log at the path it is given), recording state
/// around it (see the module docs).
pub(crate) fn run_stage(
    project: &Project,
    run: StageRun<'_>,
    sink: &Sink<'_>,
    body: impl FnOnce(&Path) -> Attempt,
) -> Outcome {
    let StageRun { stage, direction, previous, why, on_success } = run;
    if sink.interrupted() {
        return Outcome::Interrupted;
    }
    let store = &project.state;
    let log = project.wave.log_path(stage, direction.command());
    let started = SystemTime::now();
    let mut state = StageState {
        status: Status::Unknown,
        last_command: Some(direction.command().to_string()),
        started: Some(timestamp(started)),
        ended: None,
        duration_ms: None,
        exit_code: None,
        log: Some(log.clone()),
        ..previous
    };
    // Durably in the journal (survives a power cut), then in the stage's record, which is what
    // a reader of the state files sees after a SIGKILL.
    if let Err(e) = store.started(stage).and_then(|()| store.save(stage, &state)) {
        return Outcome::Failed { reason: e.to_string(), exit_code: None };
    }
    let attempt = body(&log);
    let ended = SystemTime::now();
    state.ended = Some(timestamp(ended));
    state.duration_ms = Some(millis(ended.duration_since(started).unwrap_or_default()));
    let outcome = match attempt {
        // Interrupted before it started: it stays recorded `unknown` (the safe side).
        Attempt::NotStarted => return Outcome::Interrupted,
        // Whatever its exit code, a stage that was running when the signal came may have been
        // cut off half-way: `unknown`, so the next `up` runs it again.
        Attempt::Finished { exit_code, .. } if sink.interrupted() => {
            state.status = Status::Unknown;
            state.exit_code = exit_code;
            Outcome::Interrupted
        }
        Attempt::Finished { result: Ok(()), exit_code } => {
            on_success(&mut state);
            state.exit_code = exit_code;
            Outcome::Ran { reason: why, exit_code }
        }
        Attempt::Finished { result: Err(reason), exit_code } => {
            state.status = Status::Failed;
            state.exit_code = exit_code;
            Outcome::Failed { reason, exit_code }
        }
    };
    if let Err(e) = store.ended(stage, &state) {
        return Outcome::Failed { reason: e.to_string(), exit_code: state.exit_code };
    }
    outcome
}

/// Fails a stage before anything could run (a template that did not render, invalid step
/// inputs): the reason goes to the stage's log, so the log path in the summary always
/// explains it, and the stage is recorded failed.
pub(crate) fn fail_before_running(
    project: &Project,
    stage: &str,
    direction: Direction,
    reason: String,
) -> Outcome {
    let wave = &project.wave;
    let command = direction.command();
    let log = wave.log_path(stage, command);
    let _ = crate::logfile::create(&log).and_then(|file| {
        crate::logfile::Stamped::new(file).lines(&format!("betterform: {}", crate::mask::mask(&reason)))
    });
    let store = &project.state;
    let now = timestamp(SystemTime::now());
    let state = StageState {
        status: Status::Failed,
        last_command: Some(command.to_string()),
        started: Some(now.clone()),
        ended: Some(now),
        log: Some(log),
        ..store.load(stage).unwrap_or_default()
    };
    let _ = store.save(stage, &state);
    Outcome::Failed { reason, exit_code: None }
}
