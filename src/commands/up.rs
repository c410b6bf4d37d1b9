//! `up`: check everything that can be checked before running (DAG, stage dirs, config,
//! template syntax), then stamp and run each stage once its dependencies are up.

use crate::cli::Global;
use crate::error::Error;
use crate::lock;
use crate::project::{Project, StageKind};
use crate::scheduler::{Direction, Outcome};
use crate::stamp::{Delimiters, Renderer, StampError, Stamper};
use crate::state::Status;

use super::run::{load_config, record_failure, run_ctl, schedule};

pub(crate) fn up(global: &Global, stages: &[String]) -> Result<(), Error> {
    let project = Project::load(global.impl_dir.as_deref())?;
    let targets = project.targets(stages)?;
    let members = project.dag.with_dependencies(&targets);
    let _lock = lock::acquire(&project.wave, "up")?;
    let config = load_config(&project, global)?;
    let delimiters = Delimiters { left: global.left_delim.clone(), right: global.right_delim.clone() };
    let wave = &project.wave;
    let renderer = Renderer::new(&delimiters, &config.value, wave.env_map(), &wave.output_dir)?;
    let stamper = Stamper { renderer, wave };

    // Syntax errors anywhere are reported, all of them, before any stage runs.
    let errors: Vec<StampError> = project
        .dag
        .order()
        .iter()
        .filter(|&&s| members[s])
        .filter_map(|&s| stamper.check_syntax(project.dag.name(s)).err())
        .collect();
    if !errors.is_empty() {
        return Err(StampError::Many(errors).into());
    }

    let work = |stage: usize, sink: &crate::scheduler::Sink<'_>| -> Outcome {
        let name = project.dag.name(stage);
        if sink.interrupted() {
            return Outcome::Interrupted;
        }
        match stamper.stamp(name) {
            Ok(report) => sink.note(&format!(
                "stamped ({} written, {} unchanged, {} removed)",
                report.written, report.unchanged, report.removed
            )),
            Err(e) => {
                let reason = format!("failed to stamp stage '{name}': {e}");
                record_failure(&project, name, "up", &reason);
                return Outcome::Failed(reason);
            }
        }
        match project.kinds[stage] {
            StageKind::Ctl => run_ctl(&project, global, name, "up", Status::Up, sink),
            StageKind::StepPackage => {
                Outcome::Failed("step-package stages (step.json) are not supported yet".into())
            }
        }
    };
    schedule(&project, global, &members, Direction::Up, &work)
}
