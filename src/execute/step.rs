//! Step-package stages: a `step.json` in the stage dir names an Octopus-style step package
//! that betterform runs itself (see `src/step/`): inputs bound and validated before anything
//! launches, the step run, its outputs recorded, a rollback step on failure.

use std::path::{Path, PathBuf};

use crate::events::{Direction, Outcome, Reason};
use crate::fsutil::{DirEntries, is_regular};
use crate::plan::{self, Decision};
use crate::scheduler::Sink;
use crate::stamp::Image;
use crate::state::StageState;
use crate::step::{self, Ended, StepLog, StepStage, Which};

use super::kind::{Checked, Kind, Stage};
use super::record::{Attempt, StageRun, run_stage};

pub(crate) struct StepPackage;

impl StepPackage {
    fn load<'a>(stage: &'a Stage<'a>) -> Result<StepStage<'a>, step::StepError> {
        StepStage::load(&stage.project.wave, stage.name(), stage.config, stage.project.upstream(stage.id))
    }

    fn failed(stage: &Stage<'_>, direction: Direction, e: &dyn std::fmt::Display) -> Outcome {
        stage.fail(direction, format!("step-package stage '{}': {e}", stage.name()))
    }
}

impl Kind for StepPackage {
    fn marker(&self) -> &'static str {
        "a 'step.json'"
    }

    fn claims(&self, dir: &DirEntries<'_>) -> Result<bool, String> {
        Ok(dir.mode("step.json").is_some_and(is_regular))
    }

    fn up(&self, stage: &Stage<'_>, decision: Decision, sink: &Sink<'_>) -> Outcome {
        let step = match Self::load(stage) {
            Ok(step) => step,
            Err(e) => return Self::failed(stage, Direction::Up, &e),
        };
        // Bound and validated before anything is launched: invalid inputs fail here.
        let (prepared, warnings) = match step.prepare(Which::Up) {
            Ok(prepared) => prepared,
            Err(e) => return Self::failed(stage, Direction::Up, &e),
        };
        let previous_step = decision.previous.step_digest.as_deref();
        let Some(why) = plan::step_reason(decision.reason.clone(), previous_step, &prepared.digest) else {
            return Outcome::UpToDate;
        };
        sink.note(&format!("running: {why}"));
        let record = |state: &mut StageState| {
            decision.record_up(state);
            state.step_digest = Some(prepared.digest.clone());
        };
        let previous = decision.previous.clone();
        let run =
            StageRun { stage: stage.name(), direction: Direction::Up, previous, why, on_success: &record };
        run_step(stage, run, sink, |log| {
            warnings.iter().for_each(|w| log.note(w));
            step.run(Which::Up, &prepared, log)
        })
    }

    fn down(&self, stage: &Stage<'_>, run: StageRun<'_>, sink: &Sink<'_>) -> Outcome {
        let step = match Self::load(stage) {
            Ok(step) => step,
            Err(e) => return Self::failed(stage, Direction::Down, &e),
        };
        if !step.has_down() {
            return run_step(stage, run, sink, |log| {
                log.note("step.json has no down step; recording the stage down");
                match step.clear_outputs() {
                    Ok(()) => Ended::Succeeded,
                    Err(e) => Ended::Failed(e.to_string(), None),
                }
            });
        }
        let (prepared, warnings) = match step.prepare(Which::Down) {
            Ok(prepared) => prepared,
            Err(e) => return Self::failed(stage, Direction::Down, &e),
        };
        run_step(stage, run, sink, |log| {
            warnings.iter().for_each(|w| log.note(w));
            step.run(Which::Down, &prepared, log)
        })
    }

    /// Prepares the `up` step from the in-memory render (nothing is written): the
    /// already-applied check, and the execution manifest's instructions to show.
    fn plan(
        &self,
        stage: &Stage<'_>,
        image: &Image,
        previous: &StageState,
        reason: Option<Reason>,
    ) -> Result<(Option<Reason>, Option<Vec<String>>), String> {
        let text = image.file("step.json").and_then(|b| std::str::from_utf8(b).ok()).unwrap_or_default();
        let wave = &stage.project.wave;
        let upstream = stage.project.upstream(stage.id);
        let step = StepStage::from_text(wave, stage.name(), stage.config, upstream, text)
            .map_err(|e| e.to_string())?;
        let (prepared, _) = step.prepare(Which::Up).map_err(|e| e.to_string())?;
        let reason = plan::step_reason(reason, previous.step_digest.as_deref(), &prepared.digest);
        Ok((reason, Some(prepared.manifest.instructions.iter().map(ToString::to_string).collect())))
    }

    /// The bound sensitive inputs of its steps, from its `step.json` as rendered now and as
    /// stamped (either may be what runs), and its stored sensitive outputs.
    fn secrets(&self, stage: &Stage<'_>, render: &dyn Fn() -> Option<Image>) -> Vec<String> {
        let rendered = render().and_then(|image| String::from_utf8(image.file("step.json")?.to_vec()).ok());
        let stamped = std::fs::read_to_string(stage.dir().join("step.json")).ok();
        let mut texts = vec![rendered, stamped];
        texts.dedup();
        let wave = &stage.project.wave;
        let mut secrets = Vec::new();
        for text in texts.into_iter().flatten() {
            let upstream = stage.project.upstream(stage.id);
            if let Ok(step) = StepStage::from_text(wave, stage.name(), stage.config, upstream, &text) {
                secrets.extend(step.known_secrets());
            }
        }
        secrets
    }

    /// Every variable its steps bind that cannot be resolved, whatever upstream stages do.
    fn prove(&self, stage: &Stage<'_>, image: &Image) -> Vec<String> {
        let Some(text) = image.file("step.json").and_then(|b| std::str::from_utf8(b).ok()) else {
            return Vec::new();
        };
        let (shown_as, template) = template_of(stage);
        let source = source(stage, &shown_as, template.as_deref());
        let wave = &stage.project.wave;
        let upstream = stage.project.upstream(stage.id);
        match StepStage::from_text(wave, stage.name(), stage.config, upstream, text) {
            Ok(step) => step.unresolvable(text, source.as_ref()),
            // The stage reports it at its turn, as it always has.
            Err(_) => Vec::new(),
        }
    }

    /// Its `step.json` as rendered now, each step's package, and each step's inputs against
    /// the package's schema (values still bound to `#{…}` are checked when it runs); warnings
    /// about secrets its template would write in clear.
    fn check(&self, stage: &Stage<'_>, image: &Image) -> Checked {
        let Some(text) = image.file("step.json").and_then(|b| std::str::from_utf8(b).ok()) else {
            return Checked::default();
        };
        let (shown_as, template) = template_of(stage);
        let source = source(stage, &shown_as, template.as_deref());
        let mut checked = step::check(&stage.dir(), text, &shown_as, source.as_ref());
        let wave = &stage.project.wave;
        let upstream = stage.project.upstream(stage.id);
        if let Ok(step) = StepStage::from_text(wave, stage.name(), stage.config, upstream, text) {
            checked.problems.extend(step.unresolvable(text, source.as_ref()));
        }
        Checked { problems: checked.problems, warnings: checked.warnings }
    }
}

/// The stage's `step.json` template: its path, and its text when it can be read.
fn template_of(stage: &Stage<'_>) -> (PathBuf, Option<String>) {
    let path = stage.project.wave.template_dir(stage.name()).join("step.json");
    let text = std::fs::read_to_string(&path).ok();
    (path, text)
}

fn source<'a>(stage: &'a Stage<'_>, path: &'a Path, text: Option<&'a str>) -> Option<step::Source<'a>> {
    let delimiters = &stage.options.delimiters;
    text.map(|text| step::Source {
        text,
        path,
        delims: step::Delims { left: &delimiters.left, right: &delimiters.right },
    })
}

/// Runs a step-package stage's step (see [`run_stage`]): `body` gets the stage's log.
fn run_step(
    stage: &Stage<'_>,
    run: StageRun<'_>,
    sink: &Sink<'_>,
    body: impl FnOnce(&StepLog<'_>) -> Ended,
) -> Outcome {
    run_stage(stage.project, run, sink, |log| {
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
