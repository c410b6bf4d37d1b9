//! `up`: check everything that can be checked before running (DAG, stage dirs, config,
//! template syntax), then stamp and run each stage once its dependencies are up.

use crate::cli::Global;
use crate::error::Error;
use crate::execute::{self, KINDS};
use crate::lock;
use crate::project::Pull;

use super::shared::{load_config, run_options};

pub(crate) fn up(global: &Global, stages: &[String]) -> Result<(), Error> {
    let options = run_options(global)?;
    let (project, index) = execute::load_project_indexed(global.impl_dir.as_deref())?;
    let members = project.select(stages, Pull::Dependencies, options.only)?;
    super::shared::note_adopted(&project);
    let _lock = lock::acquire(&project.wave, "up")?;
    let config = load_config(&project, &options)?;
    let outcome = execute::up(&project, &options, &KINDS, &config, (index, &members));
    // Freed by the process's exit: one by one, the allocations of a project of 3,000 stages
    // (names, edges, every stage's record) took a millisecond of a no-op run.
    std::mem::forget(project);
    outcome
}
