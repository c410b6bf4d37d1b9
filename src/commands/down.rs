//! `down`: run `ctl down` of each stage after every stage that depends on it is down, from
//! the existing stamped dir (never re-stamped). Stages never stamped or already down are
//! skipped.

use std::io::{BufRead, IsTerminal, Write};

use crate::cli::Global;
use crate::error::Error;
use crate::events::{Direction, Outcome};
use crate::graph::{Dag, StageId};
use crate::lock;
use crate::project::{Project, Pull, StageKind};
use crate::report::eprint_line;
use crate::scheduler::Sink;
use crate::state::{StageState, StateStore, Status};

use crate::step::{Ended, StepStage, Which};

use super::run::{StageRun, fail_before_running, load_config, run_ctl, run_step, schedule, upstream};

fn confirm(project: &Project, members: &[bool], what: &str) -> Result<bool, Error> {
    let names: Vec<&str> =
        project.dag.order().iter().rev().filter(|&&s| members[s]).map(|&s| project.dag.name(s)).collect();
    let mut err = std::io::stderr().lock();
    let _ = write!(err, "bring down {} {what}: {}? [y/N] ", names.len(), names.join(", "));
    let _ = err.flush();
    let mut answer = String::new();
    std::io::stdin().lock().read_line(&mut answer).map_err(|e| Error::Bookkeeping(e.into()))?;
    Ok(matches!(answer.trim(), "y" | "Y" | "yes" | "YES" | "Yes"))
}

pub(crate) fn down(global: &Global, stages: &[String], orphans: bool) -> Result<(), Error> {
    let project = Project::load(global.impl_dir.as_deref())?;
    if orphans {
        return down_orphans(&project, global, stages);
    }
    let members = project.select(stages, Pull::Dependents, global.only)?;
    let _lock = lock::acquire(&project.wave, "down")?;
    let config = load_config(&project, global)?;
    let wave = &project.wave;
    if !global.yes
        && wave.interactive()
        && std::io::stdin().is_terminal()
        && !confirm(&project, &members, "stage(s)")?
    {
        return Err(Error::StagesFailed("aborted: nothing was brought down".into()));
    }
    project.state.recover().map_err(|e| Error::Bookkeeping(e.into()))?;
    let work = |stage: usize, sink: &Sink<'_>| down_stage(&project, global, &config.value, stage, sink);
    schedule(&project, global, &members, Direction::Down, &work)
}

/// `down --orphans`: stages recorded as (possibly) up that the DAG file no longer declares,
/// taken down from their stamped dirs one at a time, newest first (their dependencies are
/// not known any more; a stage added later may depend on one added earlier).
fn down_orphans(project: &Project, global: &Global, names: &[String]) -> Result<(), Error> {
    let _lock = lock::acquire(&project.wave, "down")?;
    project.state.recover().map_err(|e| Error::Bookkeeping(e.into()))?;
    let mut orphans: Vec<String> = project
        .state
        .orphans()
        .map_err(|e| Error::Bookkeeping(e.into()))?
        .into_iter()
        .map(|(name, _)| name)
        .collect();
    if let Some(unknown) = names.iter().find(|n| !orphans.contains(n)) {
        let known = if orphans.is_empty() { "there are none".to_string() } else { orphans.join(", ") };
        return Err(Error::Usage(format!("'{unknown}' is not an orphaned stage (orphans: {known})")));
    }
    if !names.is_empty() {
        orphans.retain(|o| names.contains(o));
    }
    if orphans.is_empty() {
        eprint_line("no orphaned stages: every stage with a record is in the DAG or down");
        return Ok(());
    }
    let wave = &project.wave;
    let kinds = orphans
        .iter()
        .map(|name| match wave.stage_dir(name).join("step.json").is_file() {
            true if !wave.stage_dir(name).join("ctl").is_file() => StageKind::StepPackage,
            _ => StageKind::Ctl,
        })
        .collect();
    let state = StateStore::new(wave, orphans.clone());
    let orphaned = Project { wave: wave.clone(), dag: Dag::chain(&orphans), kinds, state };
    let members = vec![true; orphans.len()];
    if !global.yes
        && wave.interactive()
        && std::io::stdin().is_terminal()
        && !confirm(&orphaned, &members, "orphaned stage(s), no longer in the DAG")?
    {
        return Err(Error::StagesFailed("aborted: nothing was brought down".into()));
    }
    let config = load_config(project, global)?;
    let work = |stage: usize, sink: &Sink<'_>| down_stage(&orphaned, global, &config.value, stage, sink);
    schedule(&orphaned, global, &members, Direction::Down, &work)
}

/// Runs one stage's `down` from its stamped dir (a `ctl`, or a step package's down step).
fn down_stage(
    project: &Project,
    global: &Global,
    config: &serde_json::Value,
    stage: StageId,
    sink: &Sink<'_>,
) -> Outcome {
    let wave = &project.wave;
    let store = &project.state;
    let name = project.dag.name(stage);
    if !wave.stage_dir(name).is_dir() {
        return Outcome::Skipped("never stamped".into());
    }
    let previous = match store.load(name) {
        Ok(state) if state.status == Status::Down => return Outcome::Skipped("already down".into()),
        Ok(state) => state,
        Err(e) => return Outcome::Failed(e.to_string()),
    };
    let why = format!("recorded {}", previous.status.as_str());
    let on_success = |state: &mut StageState| {
        state.status = Status::Down;
        state.stamp_digest = None;
    };
    let run = StageRun { stage: name, command: "down", previous, why, on_success: &on_success };
    match project.kinds[stage] {
        StageKind::Ctl => run_ctl(project, global, run, sink),
        StageKind::StepPackage => {
            let failed = |e: &dyn std::fmt::Display| {
                fail_before_running(project, name, "down", format!("step-package stage '{name}': {e}"))
            };
            let step = match StepStage::load(wave, name, config, upstream(project, stage)) {
                Ok(step) => step,
                Err(e) => return failed(&e),
            };
            if !step.has_down() {
                return run_step(project, run, sink, |log| {
                    log.note("step.json has no down step; recording the stage down");
                    match step.clear_outputs() {
                        Ok(()) => Ended::Succeeded,
                        Err(e) => Ended::Failed(e.to_string(), None),
                    }
                });
            }
            let (prepared, warnings) = match step.prepare(Which::Down) {
                Ok(prepared) => prepared,
                Err(e) => return failed(&e),
            };
            run_step(project, run, sink, |log| {
                warnings.iter().for_each(|w| log.note(w));
                step.run(Which::Down, &prepared, log)
            })
        }
    }
}
