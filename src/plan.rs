//! Deciding what `up` does with a stage and why: run it (never up, failed, its render
//! changed, a dependency completed an `up` since, `-B`) or skip it as up to date. `up` acts on
//! the decision; `plan` only reports it.

use std::collections::BTreeMap;

use crate::events::{Cause, Reason};
use crate::graph::StageId;
use crate::project::Project;
use crate::stamp::{Image, Template};
use crate::state::{StageState, StateError, StateStore, Status};

/// What is known about a stage once its dependencies are final and it has been rendered.
pub(crate) struct Decision {
    pub(crate) previous: StageState,
    /// What to record if the stage runs and succeeds.
    pub(crate) digests: Digests,
    /// Each dependency's current generation, recorded if the stage runs and succeeds.
    pub(crate) dep_generations: BTreeMap<String, u64>,
    /// Why it must run; `None` when it is up to date.
    pub(crate) reason: Option<Reason>,
}

/// Content hashes of what a stage's render came from and what it is.
#[derive(Debug, Clone)]
pub(crate) struct Digests {
    pub(crate) stamp: String,
    pub(crate) template: String,
    pub(crate) config: String,
}

impl Digests {
    pub(crate) fn record(&self, state: &mut StageState) {
        state.stamp_digest = Some(self.stamp.clone());
        state.template_digest = Some(self.template.clone());
        state.config_digest = Some(self.config.clone());
    }
}

impl Decision {
    /// Records a successful `up` of the stage this decision is about: up, one generation
    /// more, what its render came from, and the dependencies' generations it saw.
    pub(crate) fn record_up(&self, state: &mut StageState) {
        state.status = Status::Up;
        state.generation += 1;
        self.digests.record(state);
        state.dep_generations = self.dep_generations.clone();
    }
}

/// A hash of the evaluated config, computed once per run.
pub(crate) fn config_digest(config_text: &str) -> String {
    blake3::hash(config_text.as_bytes()).to_hex().to_string()
}

/// A step-package stage also runs when its step changed (README: "Step-package stages"): `reason` is
/// what [`decide`] said, `previous` the step digest of the last successful `up`.
pub(crate) fn step_reason(reason: Option<Reason>, previous: Option<&str>, digest: &str) -> Option<Reason> {
    match reason {
        None if previous != Some(digest) => Some(Reason::StepChanged),
        reason => reason,
    }
}

pub(crate) fn decide(
    project: &Project,
    store: &StateStore,
    stage: StageId,
    (template, image): (&Template, &Image),
    config_digest: &str,
    force: bool,
) -> Result<Decision, StateError> {
    let name = project.dag.name(stage);
    let previous = store.load(name)?;
    let mut dep_generations = BTreeMap::new();
    for &dep in project.dag.deps(stage) {
        let dep = project.dag.name(dep);
        dep_generations.insert(dep.to_string(), store.load(dep)?.generation);
    }
    let digests =
        Digests { stamp: image.digest(), template: template.digest(), config: config_digest.to_string() };
    let mut reason = reason_to_run(&previous, &digests.stamp, &dep_generations, force);
    if let Some(Reason::RenderChanged { cause, files, more }) = &mut reason {
        // The render changed: say whether the templates, the config or a file they read did,
        // and which stamped files differ.
        *cause = Some(if previous.template_digest.as_deref() != Some(&digests.template) {
            Cause::Templates
        } else if previous.config_digest.as_deref() != Some(&digests.config) {
            Cause::Config
        } else {
            Cause::ReadFile
        });
        let mut changed = image.changes(&project.wave.stage_dir(name));
        *more = changed.len().saturating_sub(5);
        changed.truncate(5);
        *files = changed;
    }
    Ok(Decision { previous, digests, dep_generations, reason })
}

/// Whether `stage`, whose render the stat index says has digest `stamp`, is up to date on
/// its record: the content rule ([`reason_to_run`]) on that digest, without rendering.
pub(crate) fn up_to_date(
    project: &Project,
    store: &StateStore,
    stage: StageId,
    stamp: &str,
) -> Result<bool, StateError> {
    let previous = store.load(project.dag.name(stage))?;
    let mut generations = Vec::with_capacity(project.dag.deps(stage).len());
    for &dep in project.dag.deps(stage) {
        generations.push(store.load(project.dag.name(dep))?.generation);
    }
    Ok(up_on(project, stage, &previous, stamp, &generations))
}

/// [`up_to_date`] on records at hand: `previous` is the stage's, `generations` its
/// dependencies' current generations, in the order of its dependencies.
pub(crate) fn up_on(
    project: &Project,
    stage: StageId,
    previous: &StageState,
    stamp: &str,
    generations: &[u64],
) -> bool {
    if previous.adopted.is_some() {
        return false;
    }
    let deps = project.dag.deps(stage).iter().map(|&dep| project.dag.name(dep).to_string());
    let dep_generations = deps.zip(generations.iter().copied()).collect();
    reason_to_run(previous, stamp, &dep_generations, false).is_none()
}

/// Dependencies of `stage` not recorded up: what blocks stamping it (`plan`, `stamp`).
pub(crate) fn deps_not_up<'p>(
    project: &'p Project,
    store: &StateStore,
    stage: StageId,
) -> Result<Vec<&'p str>, StateError> {
    let mut not_up = Vec::new();
    for &dep in project.dag.deps(stage) {
        let name = project.dag.name(dep);
        if store.load(name)?.status != Status::Up {
            not_up.push(name);
        }
    }
    Ok(not_up)
}

/// Why a stage must run, or `None` when it is up to date: its last `up` succeeded on a
/// byte-identical render and no dependency has completed an `up` since (README: "Running").
pub(crate) fn reason_to_run(
    previous: &StageState,
    digest: &str,
    dep_generations: &BTreeMap<String, u64>,
    force: bool,
) -> Option<Reason> {
    if force {
        return Some(Reason::Forced);
    }
    match previous.status {
        Status::Up => {}
        Status::Never => return Some(Reason::NeverUp),
        status => return Some(Reason::LastStatus(status)),
    }
    // Brought up by the original betterform, which kept no digest: up on whatever it stamped.
    if previous.adopted.is_some() {
        return None;
    }
    if previous.stamp_digest.as_deref() != Some(digest) {
        return Some(Reason::RenderChanged { cause: None, files: Vec::new(), more: 0 });
    }
    let changed: Vec<&str> = dep_generations
        .iter()
        .filter(|(dep, generation)| previous.dep_generations.get(*dep) != Some(generation))
        .map(|(dep, _)| dep.as_str())
        .collect();
    if !changed.is_empty() {
        return Some(Reason::DependenciesUpdated(changed.into_iter().map(String::from).collect()));
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
        assert_eq!(
            reason_to_run(&up("h", &[("a", 2)]), "h", &deps, true).unwrap().to_string(),
            "forced (-B)"
        );
        assert_eq!(
            reason_to_run(&up("old", &[("a", 2)]), "h", &deps, false).unwrap().to_string(),
            "stamped files changed"
        );
        assert_eq!(
            reason_to_run(&up("h", &[("a", 1)]), "h", &deps, false).unwrap().to_string(),
            "dependency a completed an up since"
        );
        let never = StageState::default();
        assert_eq!(reason_to_run(&never, "h", &deps, false).unwrap().to_string(), "never brought up");
        let failed = StageState { status: Status::Unknown, ..up("h", &[("a", 2)]) };
        assert_eq!(
            reason_to_run(&failed, "h", &deps, false).unwrap().to_string(),
            "last recorded status is unknown"
        );
    }
}
