//! A step-package stage as `up` and `down` see it: its stamped `step.json`, its variables,
//! and the step convention: run the step; on failure run the rollback step once (its own
//! failure is logged and does not replace the original error); cleanup always.

use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;

use serde_json::Value;

use super::error::StepError;
use super::exposure::{self, Delims};
use super::inputs::{Mode, Schema};
use super::launch::{self, Launch, StepLog};
use super::lookup::StepVars;
use super::package::Package;
use super::prepare::{Prepared, prepare};
use super::spec::{Call, Spec};
use super::target;
use super::variables::{self, VarError};
use crate::diagnostic::Diagnostic;
use crate::wave::Wave;

/// Which of the stage's steps.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Which {
    Up,
    Down,
    Rollback,
}

impl Which {
    fn as_str(self) -> &'static str {
        match self {
            Which::Up => "up",
            Which::Down => "down",
            Which::Rollback => "rollback",
        }
    }
}

/// How a step run ended.
pub(crate) enum Ended {
    Interrupted,
    Succeeded,
    /// The reason, and the step's exit code when it got that far.
    Failed(String, Option<i32>),
}

pub(crate) struct StepStage<'a> {
    wave: &'a Wave,
    stage: &'a str,
    spec: Spec,
    vars: StepVars<'a>,
}

impl<'a> StepStage<'a> {
    /// Reads the stamped `step.json` of `stage`. `upstream`: the stages it depends on
    /// (whose outputs `Output[…]` may read).
    pub(crate) fn load(
        wave: &'a Wave,
        stage: &'a str,
        config: &'a Value,
        upstream: BTreeSet<String>,
    ) -> Result<StepStage<'a>, StepError> {
        let spec = Spec::load(&wave.stage_dir(stage).join("step.json"))?;
        Ok(StepStage::with_spec(wave, stage, config, upstream, spec))
    }

    /// Like [`StepStage::load`], from `step.json` rendered in memory (`plan`).
    pub(crate) fn from_text(
        wave: &'a Wave,
        stage: &'a str,
        config: &'a Value,
        upstream: BTreeSet<String>,
        text: &str,
    ) -> Result<StepStage<'a>, StepError> {
        let spec = Spec::parse(text, &wave.stage_dir(stage).join("step.json"))?;
        Ok(StepStage::with_spec(wave, stage, config, upstream, spec))
    }

    fn with_spec(
        wave: &'a Wave,
        stage: &'a str,
        config: &'a Value,
        upstream: BTreeSet<String>,
        spec: Spec,
    ) -> Self {
        let vars = StepVars::new(wave, stage, config, spec.variables.clone(), upstream);
        StepStage { wave, stage, spec, vars }
    }

    pub(crate) fn has_down(&self) -> bool {
        self.spec.down.is_some()
    }

    /// A stage that is down has no outputs: removes the ones its `up` recorded.
    pub(crate) fn clear_outputs(&self) -> Result<(), StepError> {
        launch::clear_outputs(self.wave, self.stage)
    }

    fn call(&self, which: Which) -> Option<Call> {
        match which {
            Which::Up => Some(self.spec.up()),
            Which::Down => self.spec.down.clone(),
            Which::Rollback => self.spec.rollback.clone(),
        }
    }

    /// Loads the package and binds and validates the inputs of the `which` step; nothing is
    /// launched or written.
    pub(crate) fn prepare(&self, which: Which) -> Result<(Prepared, Vec<String>), StepError> {
        let call = self.call(which).expect("callers check the step exists");
        let stage_dir = self.wave.stage_dir(self.stage);
        prepare(self.stage, &stage_dir, &self.spec, &call, which.as_str(), &self.vars)
    }

    /// The secrets this stage knows before it runs: the bound sensitive inputs of each of its
    /// steps (bound again from what they read: config, environment, upstream outputs; never
    /// stored) and its stored sensitive outputs. The values its steps asked to mask in earlier
    /// runs are registered for masking by their fingerprints. What cannot be bound now is left out: the
    /// step reports it when it runs.
    pub(crate) fn known_secrets(&self) -> Vec<String> {
        let mut secrets = Vec::new();
        let stage_dir = self.wave.stage_dir(self.stage);
        let no_packages = BTreeMap::new();
        for which in [Which::Up, Which::Down, Which::Rollback] {
            let Some(call) = self.call(which) else { continue };
            let Ok(package) = Package::load(&Spec::resolve(&stage_dir, &call.package)) else { continue };
            let Ok(schema) = Schema::compile(&package.schema, Path::new("inputs.json")) else { continue };
            let mode = Mode::Execute { vars: &self.vars, packages: &no_packages };
            let (bound, _) = schema.bind(&call.inputs, &mode);
            secrets.extend(bound.secrets);
            if which == Which::Up
                && let Ok(target) = target::bind(&self.spec, &stage_dir, &package.meta, &mode)
            {
                secrets.extend(target.bound.secrets);
            }
        }
        secrets.extend(launch::stored_secrets(self.wave, self.stage));
        // Values its steps asked to mask are known by their fingerprints: registered as such.
        launch::learn_masks(self.wave, self.stage);
        secrets
    }

    /// `validate`: every `#{…}` of its steps' inputs and its target resolved now, as far as
    /// can be known before anything runs. An upstream stage's output not produced yet, or a
    /// filter's verdict on a value, is left for the run. Each problem names the `step.json`
    /// line: in `source` (the template) when it holds the text, else in the rendered `text`.
    pub(crate) fn unresolvable(&self, text: &str, source: Option<&Source<'_>>) -> Vec<String> {
        let mut texts: Vec<(String, &str)> = Vec::new();
        let calls = [
            ("", Some(self.spec.up())),
            ("down.inputs", self.spec.down.clone()),
            ("rollback.inputs", self.spec.rollback.clone()),
        ];
        let mut owned: Vec<(&str, Value)> =
            calls.into_iter().filter_map(|(at, call)| Some((at, call?.inputs))).collect();
        if let Some(target) = &self.spec.target {
            owned.push(("target", target.inputs.clone()));
        }
        for (at, value) in &owned {
            collect_bound(value, at, &mut texts);
        }
        let shown_as = self.wave.stage_dir(self.stage).join("step.json");
        let mut problems = Vec::new();
        for (at, bound) in texts {
            let Err(e) = variables::evaluate(bound, &self.vars) else { continue };
            let later = match &e {
                VarError::Unresolvable(name) => name.starts_with("Output"),
                VarError::Base64(_) => true,
                _ => false,
            };
            if later {
                continue;
            }
            let quoted = serde_json::to_string(bound).expect("strings serialize");
            let (path, source_text) = match source.filter(|s| s.text.contains(&quoted)) {
                Some(s) => (s.path, s.text),
                None => (shown_as.as_path(), text),
            };
            let (line, column) = match source_text.find(&quoted) {
                Some(i) => (
                    source_text[..i].matches('\n').count() + 1,
                    source_text[..i].rsplit('\n').next().map_or(0, |l| l.chars().count()) + 2,
                ),
                None => (0, 0),
            };
            let message = format!("{at}: cannot bind \"{bound}\": {e}");
            let mut diagnostic = Diagnostic::new(path, line, column, message);
            diagnostic.length = bound.chars().count();
            problems.push(diagnostic.with_source(source_text).to_string());
        }
        problems
    }

    /// Runs a prepared step; for `up`, a failure runs the rollback step, if there is one.
    pub(crate) fn run(&self, which: Which, prepared: &Prepared, log: &StepLog<'_>) -> Ended {
        let ended = self.launch(prepared, log);
        // A step cut off by Ctrl-C/SIGTERM did not fail: the run is stopping, and the stage is
        // recorded unknown so the next `up` runs it again. No rollback then.
        if which == Which::Up
            && let Ended::Failed(reason, _) = &ended
            && self.spec.rollback.is_some()
            && !log.sink.interrupted()
        {
            log.note(&format!("up failed ({reason}); running the rollback step"));
            match self.prepare(Which::Rollback) {
                Ok((rollback, _)) => match self.launch(&rollback, log) {
                    Ended::Succeeded => log.note("rollback step done"),
                    Ended::Failed(why, _) => log.note(&format!("rollback step failed: {why}")),
                    Ended::Interrupted => log.note("rollback step interrupted"),
                },
                Err(e) => log.note(&format!("rollback step not run: {e}")),
            }
        }
        ended
    }

    fn launch(&self, prepared: &Prepared, log: &StepLog<'_>) -> Ended {
        match launch::run(self.wave, self.stage, prepared, &self.vars, log) {
            Err(e) => Ended::Failed(e.to_string(), None),
            Ok(Launch::Interrupted) => Ended::Interrupted,
            Ok(Launch::Finished { exit, report }) if exit.success() => {
                let recorded = match prepared.manifest.step {
                    "up" => launch::write_outputs(self.wave, self.stage, &report),
                    "down" => self.clear_outputs(),
                    _ => Ok(()),
                };
                match recorded {
                    Ok(()) => Ended::Succeeded,
                    Err(e) => Ended::Failed(e.to_string(), Some(0)),
                }
            }
            Ok(Launch::Finished { exit, report }) => {
                let reason = match report.result {
                    Some(message) => format!("step {}: {message}", prepared.package.meta.id),
                    None => format!("step {}: {}", prepared.package.meta.id, exit.describe()),
                };
                Ended::Failed(reason, exit.code())
            }
        }
    }
}

/// Every string under `value` that binds a variable, with its input path.
fn collect_bound<'v>(value: &'v Value, at: &str, out: &mut Vec<(String, &'v str)>) {
    match value {
        Value::String(text) if variables::is_bound(text) => out.push((at.to_string(), text)),
        Value::Array(items) => {
            for (i, item) in items.iter().enumerate() {
                collect_bound(item, &format!("{at}[{i}]"), out);
            }
        }
        Value::Object(map) => {
            for (key, item) in map {
                let child = if at.is_empty() { key.clone() } else { format!("{at}.{key}") };
                collect_bound(item, &child, out);
            }
        }
        _ => {}
    }
}

/// What `validate` learns of a step stage: problems (exit 2) and warnings.
#[derive(Debug, Default)]
pub(crate) struct Checked {
    pub(crate) problems: Vec<String>,
    pub(crate) warnings: Vec<String>,
}

/// The stage's `step.json` template, for configuration-time warnings about it.
pub(crate) struct Source<'a> {
    pub(crate) text: &'a str,
    pub(crate) path: &'a Path,
    pub(crate) delims: Delims<'a>,
}

/// Configuration-time checks of a step stage (`validate`): its `step.json` (as rendered, text
/// given), each step's package, and each step's inputs against the package's schema, skipping
/// values still bound to `#{…}`. Every problem, one per line; and warnings about secrets
/// the template would write in clear.
pub(crate) fn check(stage_dir: &Path, text: &str, shown_as: &Path, source: Option<&Source<'_>>) -> Checked {
    let mut checked = Checked::default();
    let spec = match Spec::parse(text, shown_as) {
        Ok(spec) => spec,
        Err(e) => {
            checked.problems.push(e.to_string());
            return checked;
        }
    };
    // The template as JSON, when it is JSON (expressions inside strings only).
    let template: Option<Value> = source.and_then(|s| exposure::as_json(s.text, &s.delims));
    let packages: BTreeSet<String> = spec.packages.keys().cloned().collect();
    let problems = &mut checked.problems;
    for (which, call) in
        [("up", Some(spec.up())), ("down", spec.down.clone()), ("rollback", spec.rollback.clone())]
    {
        let Some(call) = call else { continue };
        let source_path = Spec::resolve(stage_dir, &call.package);
        let package = match Package::load(&source_path) {
            Ok(package) => package,
            Err(e) => {
                problems.push(format!("{which} step: {e}"));
                continue;
            }
        };
        let schema_path = source_path.join("inputs.json");
        let schema = match Schema::compile(&package.schema, &schema_path) {
            Ok(schema) => schema,
            Err(e) => {
                problems.push(format!("{which} step: {e}"));
                continue;
            }
        };
        let mode = Mode::Configure { packages: packages.clone() };
        let (bound, mut errors) = schema.check(&call.inputs, &mode);
        // Sensitive values as the template writes them: (input path, template value).
        let written = |at: &[&str]| at.iter().try_fold(template.as_ref()?, |v, key| v.get(*key));
        let inputs_at: &[&str] = if which == "up" { &["inputs"] } else { &[which, "inputs"] };
        let mut sensitive = written(inputs_at).map(|w| bound.sensitive_in(w)).unwrap_or_default();
        if which == "up" {
            match target::bind(&spec, stage_dir, &package.meta, &mode) {
                Ok(target) => {
                    errors.extend(target.errors);
                    if let Some(w) = written(&["target", "inputs"]) {
                        let at_target = target.bound.sensitive_in(w).into_iter();
                        sensitive.extend(at_target.map(|(path, value)| (format!("target.{path}"), value)));
                    }
                }
                Err(e) => problems.push(format!("target: {e}")),
            }
        }
        if !errors.is_empty() {
            problems.push(
                StepError::Inputs { step: package.meta.id.clone(), schema: schema_path, errors }.to_string(),
            );
        }
        if let (Some(source), Some(template)) = (source, &template) {
            checked.warnings.extend(exposure::warnings(
                source.text,
                source.path,
                &sensitive,
                template.get("variables"),
                &source.delims,
            ));
        }
    }
    checked.warnings.sort();
    checked.warnings.dedup();
    checked
}
