//! `stamp`: stamp every targeted stage whose dependencies are already up, and run nothing —
//! a preview of the rendered files up to the frontier of what is up, with no mock outputs.

use crate::cli::Global;
use crate::error::Error;
use crate::lock;
use crate::plan;
use crate::project::Pull;
use crate::report::eprint_line;
use crate::stamp::Upstream;

use super::plan::are_up;
use super::shared::{load_config, run_options};
use crate::execute;

pub(crate) fn stamp(global: &Global, stages: &[String]) -> Result<(), Error> {
    let options = run_options(global)?;
    let project = execute::load_project(global.impl_dir.as_deref())?;
    let members = project.select(stages, Pull::Dependencies, options.only)?;
    let _lock = lock::acquire(&project.wave, "stamp")?;
    let config = load_config(&project, &options)?;
    let (stamper, templates) = execute::load_templates(&project, &options, &config.value, &members)?;
    let store = &project.state;
    let dag = &project.dag;
    let (mut stamped, mut blocked, mut failed) = (0, 0, Vec::new());
    for &stage in dag.order().iter().filter(|&&s| members[s]) {
        let name = dag.name(stage);
        let not_up = if options.only {
            Vec::new()
        } else {
            plan::deps_not_up(&project, store, stage).map_err(|e| Error::Bookkeeping(e.into()))?
        };
        if !not_up.is_empty() {
            eprint_line(&format!("==> {name}: blocked until {}", are_up(&not_up)));
            blocked += 1;
            continue;
        }
        let result = stamper
            .render(name, &templates[&stage], Upstream::lazy(project.depends_on(stage)))
            .and_then(|image| stamper.write(name, &image));
        match result {
            Ok(r) => {
                eprint_line(&format!("==> {name}: {}", r.describe()));
                stamped += 1;
            }
            Err(e) => {
                eprint_line(&format!("==> {name}: FAILED: failed to stamp stage '{name}': {e}"));
                failed.push(name);
            }
        }
    }
    eprint_line(&format!("summary (stamp): {stamped} stamped, {blocked} blocked, {} failed", failed.len()));
    if failed.is_empty() {
        Ok(())
    } else {
        let noun = if failed.len() == 1 { "stage" } else { "stages" };
        Err(Error::StagesFailed(format!("failed to stamp {noun}: {}", failed.join(", "))))
    }
}
