//! `run VERB`: any command of the stages' wave programs across the DAG (`plan`, `validate`,
//! `output`, `drift`…), the way Terragrunt's `run --all` does: each stage whose dependencies
//! are up is stamped and its `ctl VERB` run, in dependency order, with `-j`, `-k`, logs, the
//! summary and reports. No stage's up/down record changes: that is `up`'s and `down`'s job.

use crate::cli::Global;
use crate::error::Error;
use crate::events::Direction;
use crate::execute::{self, KINDS};
use crate::lock;
use crate::project::Pull;

use super::shared::{load_config, run_options};

pub(crate) fn run_verb(global: &Global, verb: &str, stages: &[String], reverse: bool) -> Result<(), Error> {
    check_verb(verb)?;
    let options = run_options(global)?;
    let project = execute::load_project(global.impl_dir.as_deref())?;
    let (pull, direction) =
        if reverse { (Pull::Dependents, Direction::Down) } else { (Pull::Dependencies, Direction::Up) };
    let members = project.select(stages, pull, options.only)?;
    // It stamps: one writer of GENFILES at a time.
    let _lock = lock::acquire(&project.wave, &format!("run {verb}"))?;
    let config = load_config(&project, &options)?;
    execute::run_verb(&project, &options, &KINDS, &config.value, &members, verb, direction)
}

/// A verb is one word a `ctl` takes; `up` and `down` are the commands of their own, which
/// record what they did.
fn check_verb(verb: &str) -> Result<(), Error> {
    if verb == "up" || verb == "down" {
        return Err(Error::Usage(format!(
            "'run {verb}' would change the stages without recording it; use 'betterform {verb}'"
        )));
    }
    let word = |c: char| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.');
    if verb.is_empty() || verb.starts_with(['-', '.']) || !verb.chars().all(word) {
        return Err(Error::Usage(format!(
            "'{verb}' is not a verb: one word of letters, digits, '-', '_' and '.' (the command a stage's ctl takes)"
        )));
    }
    Ok(())
}
