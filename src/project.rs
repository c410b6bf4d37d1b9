//! Loading a project: the wave environment, the DAG file, and the stage template dirs it
//! names. Everything here is checked before anything runs (exit 2 on any problem).

use std::collections::{BTreeSet, HashMap};
use std::path::Path;
use std::sync::{Arc, OnceLock};

use nix::fcntl::OFlag;
use nix::sys::stat::Mode;
use rayon::prelude::*;
use std::os::fd::AsFd;

use crate::dagfile::{self, DagError, DagFileError};
use crate::error::Error;
use crate::fsutil::DirEntries;
use crate::graph::{Dag, StageId};
use crate::state::StateStore;
use crate::wave::Wave;

/// Says which kind of stage a template dir holds, as an index into the caller's list of stage
/// kinds, or why it holds none. The kinds themselves (what a `ctl` or a step package is, how
/// each runs) live above this module, in `execute`; a project only records the answer.
pub(crate) type Classify<'a> = &'a (dyn Fn(&DirEntries<'_>) -> Result<usize, String> + Sync + 'a);

pub(crate) struct Project {
    pub(crate) wave: Wave,
    pub(crate) dag: Dag,
    /// Each stage's kind, as the classifier said.
    pub(crate) kinds: Vec<usize>,
    /// Stage state, read through the journal of a run in progress or one that died.
    pub(crate) state: StateStore,
    /// The DAG by name, shared with what renders ask whether a stage is upstream.
    pub(crate) graph: OnceLock<Arc<Graph>>,
}

/// A DAG file as read and parsed, its stage dirs not yet looked at ([`Project::read_dag`]).
pub(crate) struct ParsedDag {
    dag_file: std::path::PathBuf,
    text: String,
    dag: Dag,
}

/// Stage ids by name and each stage's dependencies.
pub(crate) struct Graph {
    ids: HashMap<String, StageId>,
    deps: Vec<Vec<StageId>>,
}

impl Project {
    pub(crate) fn load(impl_dir: Option<&Path>, classify: Classify<'_>) -> Result<Project, Error> {
        let wave = Wave::from_env(impl_dir)?;
        let dag = Project::read_dag(&wave)?;
        Project::classified(wave, dag, classify)
    }

    /// The DAG file of `wave`, read and parsed (for [`Project::classified`]).
    pub(crate) fn read_dag(wave: &Wave) -> Result<ParsedDag, Error> {
        let dag_file = wave.dag_file();
        let text = dagfile::read(&dag_file)?;
        let dag = Dag::parse(&dag_file, &text)?;
        Ok(ParsedDag { dag_file, text, dag })
    }

    /// The project of `wave` and its parsed DAG file, once every stage's template dir is found
    /// and classified.
    pub(crate) fn classified(
        wave: Wave,
        parsed: ParsedDag,
        classify: Classify<'_>,
    ) -> Result<Project, Error> {
        let ParsedDag { dag_file, text, dag } = parsed;
        let mut errors = Vec::new();
        let mut kinds = Vec::with_capacity(dag.len());
        // Classified first, on every core: a dir some kind claims exists, so only a stage
        // that none claims costs a look at whether its dir is there.
        let flags = OFlag::O_PATH | OFlag::O_DIRECTORY | OFlag::O_CLOEXEC;
        let impl_fd = nix::fcntl::open(&wave.impl_dir, flags, Mode::empty()).ok();
        let classified: Vec<Result<usize, String>> = (0..dag.len())
            .into_par_iter()
            .map(|stage| {
                let dir = wave.template_dir(dag.name(stage));
                match &impl_fd {
                    // Stage names are single path components, checked by the DAG parser.
                    Some(fd) if dir.parent() == Some(wave.impl_dir.as_path()) => {
                        classify(&DirEntries::under(fd.as_fd(), &dir))
                    }
                    _ => classify(&DirEntries::at(&dir)),
                }
            })
            .collect();
        for (stage, classified) in classified.into_iter().enumerate() {
            let name = dag.name(stage);
            let dir = wave.template_dir(name);
            let at = dag.declared_at(stage);
            if classified.is_err() && !dir.is_dir() {
                errors.push(DagFileError::at(
                    at,
                    format!("stage '{name}' has no template directory {}", dir.display()),
                ));
                kinds.push(0);
                continue;
            }
            if wave.stage_dir(name) == wave.config_json_file {
                errors.push(DagFileError::at(
                    at,
                    format!(
                        "stage '{name}' would be stamped over CONFIG_JSON_FILE {}; rename the stage",
                        wave.config_json_file.display()
                    ),
                ));
            }
            match classified {
                Ok(kind) => kinds.push(kind),
                Err(why) => {
                    errors.push(DagFileError::at(at, format!("stage '{name}': {why}")));
                    kinds.push(0);
                }
            }
        }
        if !errors.is_empty() {
            return Err(DagError { path: dag_file, errors, text: Some(text) }.into());
        }
        let state = StateStore::new(&wave, (0..dag.len()).map(|s| dag.name(s).to_string()).collect());
        Ok(Project { wave, dag, kinds, state, graph: OnceLock::new() })
    }

    /// The names of every stage `stage` depends on, directly or not: whose outputs it may read.
    /// Whether a stage (by name) is upstream of `stage`: a walk of `stage`'s dependencies,
    /// done only when asked (a template reading another stage's outputs).
    pub(crate) fn depends_on(&self, stage: StageId) -> impl Fn(&str) -> bool + Send + Sync + 'static {
        let graph = self.graph.get_or_init(|| {
            let ids = (0..self.dag.len()).map(|s| (self.dag.name(s).to_string(), s)).collect();
            let deps = (0..self.dag.len()).map(|s| self.dag.deps(s).to_vec()).collect();
            Arc::new(Graph { ids, deps })
        });
        let graph = graph.clone();
        move |name| {
            let Some(&target) = graph.ids.get(name) else { return false };
            let mut seen = vec![false; graph.deps.len()];
            let mut stack = graph.deps[stage].clone();
            while let Some(s) = stack.pop() {
                if s == target {
                    return true;
                }
                if !std::mem::replace(&mut seen[s], true) {
                    stack.extend_from_slice(&graph.deps[s]);
                }
            }
            false
        }
    }

    pub(crate) fn upstream(&self, stage: StageId) -> BTreeSet<String> {
        let members = self.dag.with_dependencies(&[stage]);
        (0..self.dag.len())
            .filter(|&s| members[s] && s != stage)
            .map(|s| self.dag.name(s).to_string())
            .collect()
    }

    /// Resolves stage names from the command line; none means every stage.
    pub(crate) fn targets(&self, names: &[String]) -> Result<Vec<StageId>, Error> {
        if names.is_empty() {
            return Ok(self.dag.order().to_vec());
        }
        names
            .iter()
            .map(|name| {
                self.dag.lookup(name).ok_or_else(|| {
                    let hint =
                        self.dag.suggest(name).map(|s| format!(" (did you mean '{s}'?)")).unwrap_or_default();
                    Error::Usage(format!(
                        "unknown stage '{name}'{hint}; stages are declared in {}",
                        self.wave.dag_file().display()
                    ))
                })
            })
            .collect()
    }
}

/// Which way `select` pulls in more stages.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Pull {
    /// `up`, `plan`, `stamp`: a stage needs its dependencies.
    Dependencies,
    /// `down`: a stage must go after its dependents.
    Dependents,
}

impl Project {
    /// The stages a command acts on: the named ones (all if none) plus what `pull` brings in,
    /// or exactly the named ones with `--only`.
    pub(crate) fn select(&self, names: &[String], pull: Pull, only: bool) -> Result<Vec<bool>, Error> {
        let targets = self.targets(names)?;
        Ok(match (only, pull) {
            (true, _) => {
                let mut members = vec![false; self.dag.len()];
                for t in targets {
                    members[t] = true;
                }
                members
            }
            (false, Pull::Dependencies) => self.dag.with_dependencies(&targets),
            (false, Pull::Dependents) => self.dag.with_dependents(&targets),
        })
    }
}
