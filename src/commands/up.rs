//! `up`: check everything that can be checked before running (DAG, stage dirs, config,
//! template syntax), then stamp and run each stage once its dependencies are up.

use crate::cli::Global;
use crate::error::Error;
use crate::lock;
use crate::plan;
use crate::project::{Project, Pull, StageKind};
use crate::scheduler::{Direction, Outcome};
use crate::state::{StageState, StateStore, Status};

use super::run::{CtlRun, load_config, load_templates, record_failure, run_ctl, schedule};

pub(crate) fn up(global: &Global, stages: &[String]) -> Result<(), Error> {
    let project = Project::load(global.impl_dir.as_deref())?;
    let members = project.select(stages, Pull::Dependencies, global.only)?;
    let _lock = lock::acquire(&project.wave, "up")?;
    let config = load_config(&project, global)?;
    let wave = &project.wave;
    let (stamper, templates) = load_templates(&project, global, &config.value, &members)?;

    let store = StateStore::new(wave);
    let config_digest = plan::config_digest(&config.text);
    let work = |stage: usize, sink: &crate::scheduler::Sink<'_>| -> Outcome {
        let name = project.dag.name(stage);
        if sink.interrupted() {
            return Outcome::Interrupted;
        }
        let stamp_failed = |e: &dyn std::fmt::Display| {
            let reason = format!("failed to stamp stage '{name}': {e}");
            record_failure(&project, name, "up", &reason);
            Outcome::Failed(reason)
        };
        let image = match stamper.render(name, &templates[&stage]) {
            Ok(image) => image,
            Err(e) => return stamp_failed(&e),
        };
        let decision = match plan::decide(
            &project,
            &store,
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
        let Some(why) = reason else {
            return Outcome::UpToDate;
        };
        sink.note(&format!("running: {why}"));
        let on_success = |state: &mut StageState| {
            state.status = Status::Up;
            state.generation += 1;
            digests.record(state);
            state.dep_generations = dep_generations.clone();
        };
        match project.kinds[stage] {
            StageKind::Ctl => run_ctl(
                &project,
                global,
                CtlRun { stage: name, command: "up", previous, why, on_success: &on_success },
                sink,
            ),
            StageKind::StepPackage => {
                Outcome::Failed("step-package stages (step.json) are not supported yet".into())
            }
        }
    };
    schedule(&project, global, &members, Direction::Up, &work)
}
