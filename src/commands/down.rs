//! `down`: run `ctl down` of each stage after every stage that depends on it is down, from
//! the existing stamped dir (never re-stamped). Stages never stamped or already down are
//! skipped.

use std::io::{BufRead, IsTerminal, Write};

use crate::cli::Global;
use crate::error::Error;
use crate::lock;
use crate::project::{Project, Pull, StageKind};
use crate::scheduler::{Direction, Outcome};
use crate::state::{StageState, Status};

use crate::step::{Ended, StepStage, Which};

use super::run::{StageRun, fail_before_running, load_config, run_ctl, run_step, schedule, upstream};

fn confirm(project: &Project, members: &[bool]) -> Result<bool, Error> {
    let names: Vec<&str> =
        project.dag.order().iter().rev().filter(|&&s| members[s]).map(|&s| project.dag.name(s)).collect();
    let mut err = std::io::stderr().lock();
    let _ = write!(err, "bring down {} stage(s): {}? [y/N] ", names.len(), names.join(", "));
    let _ = err.flush();
    let mut answer = String::new();
    std::io::stdin().lock().read_line(&mut answer).map_err(|e| Error::Bookkeeping(e.into()))?;
    Ok(matches!(answer.trim(), "y" | "Y" | "yes" | "YES" | "Yes"))
}

pub(crate) fn down(global: &Global, stages: &[String]) -> Result<(), Error> {
    let project = Project::load(global.impl_dir.as_deref())?;
    let members = project.select(stages, Pull::Dependents, global.only)?;
    let _lock = lock::acquire(&project.wave, "down")?;
    let config = load_config(&project, global)?;
    let wave = &project.wave;
    if !global.yes && wave.interactive() && std::io::stdin().is_terminal() && !confirm(&project, &members)? {
        return Err(Error::StagesFailed("aborted: nothing was brought down".into()));
    }
    project.state.recover().map_err(|e| Error::Bookkeeping(e.into()))?;
    let store = &project.state;
    let work = |stage: usize, sink: &crate::scheduler::Sink<'_>| -> Outcome {
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
            StageKind::Ctl => run_ctl(&project, global, run, sink),
            StageKind::StepPackage => {
                let failed = |e: &dyn std::fmt::Display| {
                    fail_before_running(&project, name, "down", format!("step-package stage '{name}': {e}"))
                };
                let step = match StepStage::load(wave, name, &config.value, upstream(&project, stage)) {
                    Ok(step) => step,
                    Err(e) => return failed(&e),
                };
                if !step.has_down() {
                    return run_step(&project, run, sink, |log| {
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
                run_step(&project, run, sink, |log| {
                    warnings.iter().for_each(|w| log.note(w));
                    step.run(Which::Down, &prepared, log)
                })
            }
        }
    };
    schedule(&project, global, &members, Direction::Down, &work)
}
