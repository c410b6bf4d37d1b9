//! What `up` and `down` share: loading config, running the scheduler with a reporter,
//! printing the summary, turning failures into the exit code, and spawning one `ctl`.

use std::collections::{BTreeSet, HashMap};
use std::io::IsTerminal;
use std::path::Path;
use std::time::{Duration, SystemTime};

use rayon::prelude::*;

use crate::cli::{Global, OutputMode};
use crate::config::{self, Config, External, ExternalKind, JsonnetArgs};
use crate::error::Error;
use crate::events::{self, Direction, Outcome, Reporter, Stop};
use crate::graph::StageId;
use crate::process::{self, Job};
use crate::project::Project;
use crate::report::{
    GroupedReporter, LineReporter, LiveReporter, RunReport, eprint_line, records, render_summary, span,
    write_json, write_junit,
};
use crate::scheduler::{self, Sink};
use crate::stamp::{Delimiters, Renderer, StampError, Stamper, Template};
use crate::state::{StageState, Status, millis, timestamp};
use crate::step::{Ended, StepLog};

pub(crate) fn jobs(global: &Global) -> usize {
    global.jobs.map_or_else(|| std::thread::available_parallelism().map_or(1, |n| n.get()), |j| j as usize)
}

/// The jsonnet CLI's inputs, from the command line (and the environment for bare names).
pub(crate) fn jsonnet_args(global: &Global) -> Result<JsonnetArgs, Error> {
    let kinds = [
        ("--ext-str", ExternalKind::Str, &global.ext_str),
        ("--ext-str-file", ExternalKind::StrFile, &global.ext_str_file),
        ("--ext-code", ExternalKind::Code, &global.ext_code),
        ("--ext-code-file", ExternalKind::CodeFile, &global.ext_code_file),
        ("--tla-str", ExternalKind::Str, &global.tla_str),
        ("--tla-str-file", ExternalKind::StrFile, &global.tla_str_file),
        ("--tla-code", ExternalKind::Code, &global.tla_code),
        ("--tla-code-file", ExternalKind::CodeFile, &global.tla_code_file),
    ];
    let mut args = JsonnetArgs {
        jpath: global.jpath.clone(),
        ext: Vec::new(),
        tla: Vec::new(),
        max_stack: global.max_stack as usize,
    };
    for (option, kind, specs) in kinds {
        for spec in specs {
            let parsed = External::parse(option, kind, spec).map_err(Error::Usage)?;
            let list = if option.starts_with("--ext") { &mut args.ext } else { &mut args.tla };
            list.push(parsed);
        }
    }
    Ok(args)
}

/// Evaluates the config and writes `CONFIG_JSON_FILE` (only when it changed).
pub(crate) fn load_config(project: &Project, global: &Global) -> Result<Config, Error> {
    let config = config::load(&project.wave, &jsonnet_args(global)?)?;
    config::write(&project.wave, &config)?;
    Ok(config)
}

/// Builds the stamper and loads the templates of every stage in `members`, checking their
/// syntax: all errors are reported, before anything runs (exit 2).
pub(crate) fn load_templates<'p>(
    project: &'p Project,
    global: &Global,
    cfg: &serde_json::Value,
    members: &[bool],
) -> Result<(Stamper<'p>, HashMap<StageId, Template>), Error> {
    let wave = &project.wave;
    let delimiters = Delimiters { left: global.left_delim.clone(), right: global.right_delim.clone() };
    let renderer = Renderer::new(&delimiters, cfg, wave.env_map(), &wave.output_dir)?;
    let stamper = Stamper { renderer, wave };
    // Parsing is independent per stage: spread it over the cores, report in DAG order.
    let targeted: Vec<StageId> = project.dag.order().iter().copied().filter(|&s| members[s]).collect();
    let loaded: Vec<(StageId, Result<Template, StampError>)> =
        targeted.par_iter().map(|&s| (s, stamper.load(project.dag.name(s)))).collect();
    let mut templates = HashMap::new();
    let mut errors = Vec::new();
    for (stage, result) in loaded {
        match result {
            Ok(template) => {
                templates.insert(stage, template);
            }
            Err(e) => errors.push(e),
        }
    }
    if !errors.is_empty() {
        return Err(StampError::Many(errors).into());
    }
    Ok((stamper, templates))
}

/// Shows `path` relative to the working directory when it is below it.
pub(crate) fn display_path(path: &Path) -> String {
    let cwd = std::env::current_dir().ok();
    cwd.as_deref().and_then(|cwd| path.strip_prefix(cwd).ok()).unwrap_or(path).display().to_string()
}

/// Resolves `--output auto`: the live display needs a real terminal on stderr, and an
/// interactive `-j 1` stage owns the terminal itself, so it gets plain lines.
fn output_mode(global: &Global) -> OutputMode {
    match global.output {
        OutputMode::Auto => {
            let dumb = std::env::var("TERM").is_ok_and(|t| t == "dumb");
            let interactive_stage = jobs(global) == 1
                && std::io::stdin().is_terminal()
                && std::env::var("INTERACTIVE").map_or(true, |v| v != "false");
            if std::io::stderr().is_terminal() && !dumb && !interactive_stage {
                OutputMode::Live
            } else {
                OutputMode::Stream
            }
        }
        mode => mode,
    }
}

/// Runs `work` over `members` and reports; an `Err` when any stage failed.
pub(crate) fn schedule(
    project: &Project,
    global: &Global,
    members: &[bool],
    direction: Direction,
    work: &(dyn Fn(StageId, &Sink<'_>) -> Outcome + Sync),
) -> Result<(), Error> {
    let command = match direction {
        Direction::Up => "up",
        Direction::Down => "down",
    };
    let options = scheduler::Options {
        jobs: jobs(global),
        keep_going: global.keep_going,
        grace: Duration::from_secs(global.grace),
    };
    let log_path = |stage: &str| project.wave.log_path(stage, command);
    let total = members.iter().filter(|&&m| m).count();
    let mut reporter: Box<dyn Reporter + '_> = match output_mode(global) {
        OutputMode::Live => Box::new(LiveReporter::new(&project.dag, command, total, &log_path)),
        OutputMode::Grouped => Box::new(GroupedReporter::new(&project.dag, command)),
        OutputMode::Stream | OutputMode::Auto => Box::new(LineReporter::new(&project.dag, command)),
    };
    let started = SystemTime::now();
    let run = scheduler::run(&project.dag, members, direction, options, reporter.as_mut(), work);
    let finished = project.state.finish_run();
    // The live display clears its bars when dropped, before the summary is printed.
    drop(reporter);
    let ended = SystemTime::now();
    let results = run.results;
    let log_of = |stage: &str| display_path(&project.wave.log_path(stage, command));
    eprint_line(render_summary(&project.dag, &results, command, &log_of).trim_end());
    let outcome = match run.stop {
        Some(Stop::Interrupt) => Err(Error::Interrupted { name: "SIGINT", code: 130 }),
        Some(Stop::Terminate) => Err(Error::Interrupted { name: "SIGTERM", code: 143 }),
        Some(Stop::Failure) | None => {
            let failed: Vec<&str> = (0..project.dag.len())
                .filter(|&s| {
                    matches!(&results[s], Some(events::Result::Done { outcome: Outcome::Failed(_), .. }))
                })
                .map(|s| project.dag.name(s))
                .collect();
            if failed.is_empty() {
                Ok(())
            } else {
                let noun = if failed.len() == 1 { "stage" } else { "stages" };
                Err(Error::StagesFailed(format!("{noun} failed: {}", failed.join(", "))))
            }
        }
    };
    // The stages' records could not be made durable: the journal stays, so they read
    // `unknown` (safe), but say so.
    let outcome = match (outcome, finished) {
        (outcome, Ok(())) => outcome,
        (Ok(()), Err(e)) => Err(Error::Bookkeeping(e.into())),
        (Err(failed), Err(e)) => {
            eprint_line(&format!("error: {e}"));
            Err(failed)
        }
    };
    if global.report.is_some() || global.junit.is_some() {
        let store = &project.state;
        let (started, ended, duration_ms) = span(started, ended);
        let report = RunReport {
            command,
            started,
            ended,
            duration_ms,
            exit_code: outcome.as_ref().map_or_else(Error::exit_code, |()| 0),
            stages: records(
                &project.dag,
                &results,
                &|stage| project.wave.log_path(stage, command),
                &|stage| store.load(stage).ok().and_then(|s| s.exit_code),
            ),
        };
        let mut written = Ok(());
        if let Some(path) = &global.report {
            written = written.and(write_json(path, &report).map_err(|e| (path, e)));
        }
        if let Some(path) = &global.junit {
            written = written.and(write_junit(path, &report).map_err(|e| (path, e)));
        }
        if let Err((path, e)) = written {
            let e = Error::Bookkeeping(anyhow::anyhow!("cannot write {}: {e}", path.display()));
            // A failed stage's exit code matters more than the report; still say it.
            match outcome {
                Ok(()) => return Err(e),
                Err(_) => eprint_line(&format!("error: {e}")),
            }
        }
    }
    outcome
}

/// One recorded run of a stage's command: which stage and command, what was recorded before,
/// why it runs, and how success changes the recorded state.
pub(crate) struct StageRun<'a> {
    pub(crate) stage: &'a str,
    pub(crate) command: &'static str,
    pub(crate) previous: StageState,
    pub(crate) why: String,
    pub(crate) on_success: &'a dyn Fn(&mut StageState),
}

/// How the body of a [`StageRun`] went.
pub(crate) enum Attempt {
    /// Interrupted before it could start.
    NotStarted,
    /// It ran: success or the failure reason, and the exit code if a process got that far.
    Finished { result: Result<(), String>, exit_code: Option<i32> },
}

/// Runs `body` (which writes the stage's log at the path it is given), recording state around
/// it: marked started in the run's journal first (so a run that dies leaves it `unknown`),
/// then recorded `failed`, or whatever `on_success` makes of `previous`.
pub(crate) fn run_stage(
    project: &Project,
    run: StageRun<'_>,
    sink: &Sink<'_>,
    body: impl FnOnce(&Path) -> Attempt,
) -> Outcome {
    let StageRun { stage, command, previous, why, on_success } = run;
    if sink.interrupted() {
        return Outcome::Interrupted;
    }
    let store = &project.state;
    let log = project.wave.log_path(stage, command);
    let started = SystemTime::now();
    let mut state = StageState {
        status: Status::Unknown,
        last_command: Some(command.to_string()),
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
        return Outcome::Failed(e.to_string());
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
            Outcome::Ran(why)
        }
        Attempt::Finished { result: Err(reason), exit_code } => {
            state.status = Status::Failed;
            state.exit_code = exit_code;
            Outcome::Failed(reason)
        }
    };
    if let Err(e) = store.ended(stage, &state) {
        return Outcome::Failed(e.to_string());
    }
    outcome
}

/// Runs `ctl <command>` of a stamped stage (see [`run_stage`]).
pub(crate) fn run_ctl(project: &Project, global: &Global, run: StageRun<'_>, sink: &Sink<'_>) -> Outcome {
    let wave = &project.wave;
    let (stage, command) = (run.stage, run.command);
    run_stage(project, run, sink, |log| {
        let env = wave.stage_env(stage);
        let cwd = wave.stage_dir(stage);
        let job = Job {
            program: cwd.join("ctl"),
            args: vec![command.into()],
            cwd: &cwd,
            env,
            log,
            inherit_stdin: wave.interactive() && jobs(global) == 1 && std::io::stdin().is_terminal(),
            max_line: process::MAX_LINE,
            append_log: false,
        };
        let Ok(result) = process::run(&job, sink.groups(), |line, _| Some(sink.line(line))) else {
            return Attempt::NotStarted;
        };
        // A stage holding the terminal receives Ctrl-C itself, not betterform. Dying of it (or
        // exiting 130 from a trap) is the user's interrupt: stop the run as if we had received it.
        if job.inherit_stdin && matches!(result, Ok(process::Exit::Signal(2)) | Ok(process::Exit::Code(130)))
        {
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
    })
}

/// Runs a step-package stage's step (see [`run_stage`]): `body` gets the stage's log.
pub(crate) fn run_step(
    project: &Project,
    run: StageRun<'_>,
    sink: &Sink<'_>,
    body: impl FnOnce(&StepLog<'_>) -> Ended,
) -> Outcome {
    run_stage(project, run, sink, |log| {
        let log = StepLog { path: log.to_path_buf(), sink };
        if let Err(e) = log.create() {
            return Attempt::Finished {
                result: Err(format!("cannot write {}: {e}", log.path.display())),
                exit_code: None,
            };
        }
        match body(&log) {
            Ended::Interrupted => Attempt::NotStarted,
            Ended::Succeeded => Attempt::Finished { result: Ok(()), exit_code: Some(0) },
            Ended::Failed(reason, exit_code) => Attempt::Finished { result: Err(reason), exit_code },
        }
    })
}

/// The names of every stage `stage` depends on, directly or not: whose outputs it may read.
pub(crate) fn upstream(project: &Project, stage: StageId) -> BTreeSet<String> {
    let members = project.dag.with_dependencies(&[stage]);
    (0..project.dag.len())
        .filter(|&s| members[s] && s != stage)
        .map(|s| project.dag.name(s).to_string())
        .collect()
}

/// Fails a stage before anything could run (a template that did not render, invalid step
/// inputs): the reason goes to the stage's log, so the log path in the summary always
/// explains it, and the stage is recorded failed.
pub(crate) fn fail_before_running(project: &Project, stage: &str, command: &str, reason: String) -> Outcome {
    let wave = &project.wave;
    let log = wave.log_path(stage, command);
    if let Some(dir) = log.parent() {
        let _ = std::fs::create_dir_all(dir);
    }
    let _ = std::fs::write(&log, format!("betterform: {}\n", crate::mask::mask(&reason)));
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
    Outcome::Failed(reason)
}
