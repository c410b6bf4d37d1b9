//! `up`: check everything that can be checked before running (DAG, stage dirs, config,
//! template syntax), then stamp and run each stage once its dependencies are up.

use crate::cli::Global;
use crate::error::Error;
use crate::events::{Direction, Outcome};
use crate::lock;
use crate::plan;
use crate::project::{Project, Pull, StageKind};
use crate::state::{StageState, Status};

use crate::step::{StepStage, Which};

use super::run::{
    StageRun, fail_before_running, load_config, load_templates, run_ctl, run_step, schedule, upstream,
};

pub(crate) fn up(global: &Global, stages: &[String]) -> Result<(), Error> {
    let project = Project::load(global.impl_dir.as_deref())?;
    let members = project.select(stages, Pull::Dependencies, global.only)?;
    let _lock = lock::acquire(&project.wave, "up")?;
    let config = load_config(&project, global)?;
    let wave = &project.wave;
    let (stamper, templates) = load_templates(&project, global, &config.value, &members)?;

    project.state.recover().map_err(|e| Error::Bookkeeping(e.into()))?;
    let store = &project.state;
    let config_digest = plan::config_digest(&config.text);
    let work = |stage: usize, sink: &crate::scheduler::Sink<'_>| -> Outcome {
        let name = project.dag.name(stage);
        if sink.interrupted() {
            return Outcome::Interrupted;
        }
        let stamp_failed = |e: &dyn std::fmt::Display| {
            fail_before_running(&project, name, "up", format!("failed to stamp stage '{name}': {e}"))
        };
        let image = match stamper.render(name, &templates[&stage]) {
            Ok(image) => image,
            Err(e) => return stamp_failed(&e),
        };
        let decision = match plan::decide(
            &project,
            store,
            stage,
            (&templates[&stage], &image),
            &config_digest,
            global.force,
        ) {
            Ok(decision) => decision,
            Err(e) => return Outcome::Failed(e.to_string()),
        };
        match stamper.write(name, &image) {
            Ok(report) if report.written + report.removed > 0 => sink.note(&format!(
                "stamped ({} written, {} unchanged, {} removed)",
                report.written, report.unchanged, report.removed
            )),
            Ok(_) => {}
            Err(e) => return stamp_failed(&e),
        }
        let plan::Decision { previous, digests, dep_generations, reason } = decision;
        let mark_up = |state: &mut StageState| {
            state.status = Status::Up;
            state.generation += 1;
            digests.record(state);
            state.dep_generations = dep_generations.clone();
        };
        match project.kinds[stage] {
            StageKind::Ctl => {
                let Some(why) = reason else {
                    return Outcome::UpToDate;
                };
                sink.note(&format!("running: {why}"));
                let run = StageRun { stage: name, command: "up", previous, why, on_success: &mark_up };
                run_ctl(&project, global, run, sink)
            }
            StageKind::StepPackage => {
                let failed = |e: &dyn std::fmt::Display| {
                    fail_before_running(&project, name, "up", format!("step-package stage '{name}': {e}"))
                };
                let step = match StepStage::load(wave, name, &config.value, upstream(&project, stage)) {
                    Ok(step) => step,
                    Err(e) => return failed(&e),
                };
                // Bound and validated before anything is launched: invalid inputs fail here.
                let (prepared, warnings) = match step.prepare(Which::Up) {
                    Ok(prepared) => prepared,
                    Err(e) => return failed(&e),
                };
                let Some(why) = plan::step_reason(reason, previous.step_digest.as_deref(), &prepared.digest)
                else {
                    return Outcome::UpToDate;
                };
                sink.note(&format!("running: {why}"));
                let on_success = |state: &mut StageState| {
                    mark_up(state);
                    state.step_digest = Some(prepared.digest.clone());
                };
                let run = StageRun { stage: name, command: "up", previous, why, on_success: &on_success };
                run_step(&project, run, sink, |log| {
                    warnings.iter().for_each(|w| log.note(w));
                    step.run(Which::Up, &prepared, log)
                })
            }
        }
    };
    schedule(&project, global, &members, Direction::Up, &work)
}
