//! Kinds of stage behind one interface: what a stage dir holds to be of a kind, and how a
//! stamped stage of that kind is brought up, down, planned and validated. `ctl` stages and
//! step-package stages are the two kinds; a new kind is one file implementing [`Kind`] and
//! one entry in [`KINDS`].

use std::path::{Path, PathBuf};

use crate::error::Error;
use crate::events::{Direction, Outcome, Reason};
use crate::fsutil::DirEntries;
use crate::graph::StageId;
use crate::plan::Decision;
use crate::project::Project;
use crate::scheduler::Sink;
use crate::stamp::{Image, Index};
use crate::state::StageState;

use super::RunOptions;
use super::ctl::Ctl;
use super::record::{StageRun, fail_before_running};
use super::step::StepPackage;

/// One stage of a run, with what every kind needs to act on it.
pub(crate) struct Stage<'a> {
    pub(crate) project: &'a Project,
    pub(crate) options: &'a RunOptions,
    /// The evaluated config.
    pub(crate) config: &'a serde_json::Value,
    pub(crate) id: StageId,
}

impl Stage<'_> {
    pub(crate) fn name(&self) -> &str {
        self.project.dag.name(self.id)
    }

    /// Its stamped dir, where its command runs.
    pub(crate) fn dir(&self) -> PathBuf {
        self.project.wave.stage_dir(self.name())
    }

    /// Fails the stage before anything ran (recorded, and the reason in its log).
    pub(crate) fn fail(&self, direction: Direction, reason: String) -> Outcome {
        fail_before_running(self.project, self.name(), direction, reason)
    }
}

/// What `validate` found in one stage.
#[derive(Debug, Default)]
pub(crate) struct Checked {
    pub(crate) problems: Vec<String>,
    pub(crate) warnings: Vec<String>,
}

pub(crate) trait Kind: Sync {
    /// What a stage dir holds to be of this kind, for messages: `an executable 'ctl'`.
    fn marker(&self) -> &'static str;

    /// Whether the stage dir `dir` (a template dir, or a stamped one) is of this kind. An
    /// `Err` says why a dir that nearly is (a `ctl` that is not executable) is not.
    fn claims(&self, dir: &DirEntries<'_>) -> Result<bool, String>;

    /// Whether `up` of a stage of this kind depends only on its render and its dependencies'
    /// generations, so that the stat index may prove it up to date without rendering it.
    fn follows_render(&self) -> bool {
        false
    }

    /// Brings the stamped stage up; `decision` says whether and why its render calls for it.
    fn up(&self, stage: &Stage<'_>, decision: Decision, sink: &Sink<'_>) -> Outcome;

    /// Brings the stamped stage down: runs `run` (what was recorded, and how success is
    /// recorded).
    fn down(&self, stage: &Stage<'_>, run: StageRun<'_>, sink: &Sink<'_>) -> Outcome;

    /// `run VERB`: runs the stamped stage's `VERB` without changing its recorded state. A kind
    /// without verbs of its own skips it.
    fn verb(&self, _stage: &Stage<'_>, verb: &str, _sink: &Sink<'_>) -> Outcome {
        Outcome::Skipped(format!("a stage with {} has no '{verb}'", self.marker()))
    }

    /// `plan`: the reason `up` would act on, once the kind has had its say (`reason` is the
    /// render's), and the instructions `up` would enact, if the kind has such a manifest.
    /// `Err`: `up` would fail, and why.
    fn plan(
        &self,
        _stage: &Stage<'_>,
        _image: &Image,
        _previous: &StageState,
        reason: Option<Reason>,
    ) -> Result<(Option<Reason>, Option<Vec<String>>), String> {
        Ok((reason, None))
    }

    /// Secrets the stage knows before it runs, to mask from the start of every run (`up`,
    /// `down`, `--only`, later runs), not only from the moment the stage binds them.
    /// `render`: the stage rendered now, when this run will stamp it (else its stamped dir
    /// is what it would run).
    fn secrets(&self, _stage: &Stage<'_>, _render: &dyn Fn() -> Option<Image>) -> Vec<String> {
        Vec::new()
    }

    /// Problems of the rendered stage that make `up` (and `plan`) refuse before anything runs
    /// (exit 2), one per line: what no upstream stage's run can change.
    fn prove(&self, _stage: &Stage<'_>, _image: &Image) -> Vec<String> {
        Vec::new()
    }

    /// `validate`: configuration-time problems of the rendered stage (exit 2) and warnings,
    /// one per line.
    fn check(&self, _stage: &Stage<'_>, _image: &Image) -> Checked {
        Checked::default()
    }
}

/// The kinds of stage betterform runs, in the order they are asked to claim a stage dir.
pub(crate) static KINDS: [&dyn Kind; 2] = [&Ctl, &StepPackage];

/// Which of `kinds` the stage dir `dir` is (its index): exactly one must claim it.
pub(crate) fn classify(kinds: &[&dyn Kind], dir: &DirEntries<'_>) -> Result<usize, String> {
    let mut claimed = Vec::new();
    let mut near_misses = Vec::new();
    for (i, kind) in kinds.iter().enumerate() {
        match kind.claims(dir) {
            Ok(true) => claimed.push(i),
            Ok(false) => {}
            Err(why) => near_misses.push(why),
        }
    }
    let markers = |of: &[usize]| of.iter().map(|&i| kinds[i].marker()).collect::<Vec<_>>();
    match claimed.as_slice() {
        [one] => Ok(*one),
        [] => Err(near_misses.into_iter().next().unwrap_or_else(|| {
            let all: Vec<usize> = (0..kinds.len()).collect();
            format!("{} has neither {}", dir.path().display(), markers(&all).join(" nor "))
        })),
        // Running one and ignoring the other would surprise whoever added the second.
        many => Err(format!(
            "{} holds both {}; keep one (ctl: a wave program, step.json: a step package)",
            dir.path().display(),
            markers(many).join(" and ")
        )),
    }
}

/// Loads the project, each stage's kind one of [`KINDS`].
pub(crate) fn load_project(impl_dir: Option<&Path>) -> Result<Project, Error> {
    Project::load(impl_dir, &|dir| classify(&KINDS, dir))
}

/// Loads the project for a command that consults the stat index (`up`, `plan`), and opens
/// the index: a stage whose template dir stats as indexed is the kind the index recorded,
/// without looking into the dir again ([`Index::kind`]).
pub(crate) fn load_project_indexed(impl_dir: Option<&Path>) -> Result<(Project, Index), Error> {
    let wave = crate::wave::Wave::from_env(impl_dir)?;
    // The DAG file is parsed while the index is read and every stage it holds has its
    // template dir proven (its kind then needs no look): at 3,000 stages the parse is a few
    // milliseconds of one core, the proofs fifteen thousand `stat`s.
    let (index, dag) = rayon::join(
        || {
            let index = Index::open(&wave.state_dir());
            index.prove_kinds(&wave.impl_dir);
            index
        },
        || Project::read_dag(&wave),
    );
    let project = Project::classified(wave, dag?, &|dir| {
        let stage = dir.path().file_name().and_then(|name| name.to_str());
        match stage.and_then(|stage| index.kind(stage, dir.path())).filter(|&kind| kind < KINDS.len()) {
            Some(kind) => Ok(kind),
            None => classify(&KINDS, dir),
        }
    })?;
    project.state.read_cache_ahead();
    Ok((project, index))
}
