//! `ctl` stages: an executable wave program in the stage dir, run as `ctl up` / `ctl down` in
//! the stamped dir, in its own process group, its output logged.

use std::path::Path;

use crate::events::{Direction, Outcome, Reason};
use crate::fsutil::{DirEntries, is_regular};
use crate::plan::Decision;
use crate::process::{self, Job};
use crate::scheduler::Sink;
use crate::state::StageState;

use super::kind::{Kind, Stage};
use super::record::{Attempt, StageRun, run_stage};

pub(crate) struct Ctl;

impl Kind for Ctl {
    fn marker(&self) -> &'static str {
        "an executable 'ctl'"
    }

    fn claims(&self, dir: &DirEntries<'_>) -> Result<bool, String> {
        match dir.mode("ctl") {
            Some(mode) if is_regular(mode) && mode & 0o111 != 0 => Ok(true),
            Some(_) => Err(format!("{} is not an executable file (chmod +x it)", dir.join("ctl").display())),
            None => Ok(false),
        }
    }

    fn follows_render(&self) -> bool {
        true
    }

    fn up(&self, stage: &Stage<'_>, decision: Decision, sink: &Sink<'_>) -> Outcome {
        let Some(why) = decision.reason.clone() else {
            return Outcome::UpToDate;
        };
        sink.note(&format!("running: {why}"));
        let record = |state: &mut StageState| decision.record_up(state);
        let previous = decision.previous.clone();
        let run =
            StageRun { stage: stage.name(), direction: Direction::Up, previous, why, on_success: &record };
        run_ctl(stage, run, sink)
    }

    fn down(&self, stage: &Stage<'_>, run: StageRun<'_>, sink: &Sink<'_>) -> Outcome {
        run_ctl(stage, run, sink)
    }

    fn verb(&self, stage: &Stage<'_>, verb: &str, sink: &Sink<'_>) -> Outcome {
        let log = stage.project.wave.log_path(stage.name(), verb);
        match ctl(stage, verb, &log, sink) {
            Attempt::NotStarted => Outcome::Interrupted,
            Attempt::Finished { .. } if sink.interrupted() => Outcome::Interrupted,
            Attempt::Finished { result: Ok(()), exit_code } => {
                Outcome::Ran { reason: Reason::Verb(verb.to_string()), exit_code }
            }
            Attempt::Finished { result: Err(reason), exit_code } => Outcome::Failed { reason, exit_code },
        }
    }
}

/// Runs `ctl <up|down>` of a stamped stage (see [`run_stage`]).
fn run_ctl(stage: &Stage<'_>, run: StageRun<'_>, sink: &Sink<'_>) -> Outcome {
    let command = run.direction.command();
    run_stage(stage.project, run, sink, |log| ctl(stage, command, log, sink))
}

/// Runs `ctl <command>` in the stamped dir, its output to `log` and the run's reporter.
fn ctl(stage: &Stage<'_>, command: &str, log: &Path, sink: &Sink<'_>) -> Attempt {
    let wave = &stage.project.wave;
    let cwd = stage.dir();
    let inherit_stdin = stage.options.terminals && stage.options.jobs == 1;
    let keyboard = if stage.options.terminals { sink.keyboard() } else { None };
    let job = Job {
        program: cwd.join("ctl"),
        args: vec![command.into()],
        cwd: &cwd,
        env: wave.stage_env(stage.name(), inherit_stdin || keyboard.is_some()),
        log,
        inherit_stdin,
        keyboard,
        max_line: process::MAX_LINE,
        append_log: false,
        time_limit: sink.time_limit(),
    };
    let Ok(result) = process::run(&job, sink.groups(), |line, _| Some(sink.line(line))) else {
        return Attempt::NotStarted;
    };
    // A stage holding the terminal receives Ctrl-C itself, not betterform. Dying of it (or
    // exiting 130 from a trap) is the user's interrupt: stop the run as if we had received it.
    if job.inherit_stdin && matches!(result, Ok(process::Exit::Signal(2)) | Ok(process::Exit::Code(130))) {
        sink.groups().interrupt(nix::sys::signal::Signal::SIGINT);
        let _ = nix::sys::signal::raise(nix::sys::signal::Signal::SIGINT);
    }
    match result {
        Ok(exit) if exit.success() => Attempt::Finished { result: Ok(()), exit_code: Some(0) },
        Ok(exit) => Attempt::Finished {
            result: Err(format!("ctl {command}: {}", exit.describe())),
            exit_code: exit.code(),
        },
        Err(process::Failure::Log { exit, log, source }) => Attempt::Finished {
            result: Err(format!(
                "ctl {command} ran ({}), but its log {} could not be written: {source}",
                exit.describe(),
                log.display()
            )),
            exit_code: exit.code(),
        },
        Err(e) => Attempt::Finished { result: Err(e.to_string()), exit_code: None },
    }
}
