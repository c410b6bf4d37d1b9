//! `up`: check everything that can be checked before running (DAG, stage dirs, config,
//! template syntax), then stamp and run each stage once its dependencies are up.

use std::collections::{BTreeMap, HashMap};

use rayon::prelude::*;

use crate::cli::Global;
use crate::error::Error;
use crate::lock;
use crate::project::{Project, StageKind};
use crate::scheduler::{Direction, Outcome};
use crate::stamp::{Delimiters, Renderer, StampError, Stamper, Template};
use crate::state::{StageState, StateStore, Status};

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
    // Parsing is independent per stage: spread it over the cores, keep DAG order in reports.
    let targeted: Vec<usize> = project.dag.order().iter().copied().filter(|&s| members[s]).collect();
    let loaded: Vec<(usize, Result<Template, StampError>)> =
        targeted.par_iter().map(|&s| (s, stamper.load(project.dag.name(s)))).collect();
    let mut templates: HashMap<usize, Template> = HashMap::new();
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

    let store = StateStore::new(wave);
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
        let previous = match store.load(name) {
            Ok(state) => state,
            Err(e) => return Outcome::Failed(e.to_string()),
        };
        // Dependencies have all finished by now, so their generations are final.
        let mut dep_generations = BTreeMap::new();
        for &dep in project.dag.deps(stage) {
            let dep = project.dag.name(dep);
            match store.load(dep) {
                Ok(state) => dep_generations.insert(dep.to_string(), state.generation),
                Err(e) => return Outcome::Failed(e.to_string()),
            };
        }
        let digest = image.digest();
        let why_run = reason_to_run(&previous, &digest, &dep_generations, global.force);
        match stamper.write(name, &image) {
            Ok(report) if report.written + report.removed > 0 => sink.note(&format!(
                "stamped ({} written, {} unchanged, {} removed)",
                report.written, report.unchanged, report.removed
            )),
            Ok(_) => {}
            Err(e) => return stamp_failed(&e),
        }
        let Some(why) = why_run else {
            return Outcome::UpToDate;
        };
        sink.note(&format!("running: {why}"));
        let on_success = |state: &mut StageState| {
            state.status = Status::Up;
            state.generation += 1;
            state.stamp_digest = Some(digest.clone());
            state.dep_generations = dep_generations.clone();
        };
        match project.kinds[stage] {
            StageKind::Ctl => run_ctl(&project, global, name, "up", previous, &on_success, sink),
            StageKind::StepPackage => {
                Outcome::Failed("step-package stages (step.json) are not supported yet".into())
            }
        }
    };
    schedule(&project, global, &members, Direction::Up, &work)
}

/// Why a stage must run, or `None` when it is up to date: its last `up` succeeded on a
/// byte-identical render and no dependency has completed an `up` since (contract §6).
fn reason_to_run(
    previous: &StageState,
    digest: &str,
    dep_generations: &BTreeMap<String, u64>,
    force: bool,
) -> Option<String> {
    if force {
        return Some("forced (-B)".into());
    }
    match previous.status {
        Status::Up => {}
        Status::Never => return Some("never brought up".into()),
        status => return Some(format!("last recorded status is {}", status.as_str())),
    }
    if previous.stamp_digest.as_deref() != Some(digest) {
        return Some("stamped files changed".into());
    }
    let changed: Vec<&str> = dep_generations
        .iter()
        .filter(|(dep, generation)| previous.dep_generations.get(*dep) != Some(generation))
        .map(|(dep, _)| dep.as_str())
        .collect();
    if !changed.is_empty() {
        return Some(format!("dependency {} completed an up since", changed.join(", ")));
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    fn up(digest: &str, deps: &[(&str, u64)]) -> StageState {
        StageState {
            status: Status::Up,
            stamp_digest: Some(digest.into()),
            dep_generations: deps.iter().map(|(d, g)| (d.to_string(), *g)).collect(),
            ..StageState::default()
        }
    }

    #[test]
    fn up_to_date_only_when_render_and_dependencies_are_unchanged() {
        let deps: BTreeMap<String, u64> = [("a".to_string(), 2)].into();
        assert_eq!(reason_to_run(&up("h", &[("a", 2)]), "h", &deps, false), None);
        assert_eq!(reason_to_run(&up("h", &[("a", 2)]), "h", &deps, true).unwrap(), "forced (-B)");
        assert_eq!(
            reason_to_run(&up("old", &[("a", 2)]), "h", &deps, false).unwrap(),
            "stamped files changed"
        );
        assert_eq!(
            reason_to_run(&up("h", &[("a", 1)]), "h", &deps, false).unwrap(),
            "dependency a completed an up since"
        );
        let never = StageState::default();
        assert_eq!(reason_to_run(&never, "h", &deps, false).unwrap(), "never brought up");
        let failed = StageState { status: Status::Unknown, ..up("h", &[("a", 2)]) };
        assert_eq!(reason_to_run(&failed, "h", &deps, false).unwrap(), "last recorded status is unknown");
    }
}
