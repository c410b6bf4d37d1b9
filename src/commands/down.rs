//! `down`: run `ctl down` of each stage after every stage that depends on it is down, from
//! the existing stamped dir (never re-stamped). Stages never stamped or already down are
//! skipped.

use std::io::{BufRead, IsTerminal, Write};

use crate::cli::Global;
use crate::error::Error;
use crate::execute::{self, KINDS, RunOptions};
use crate::fsutil::DirEntries;
use crate::graph::Dag;
use crate::lock;
use crate::project::{Project, Pull};
use crate::report::eprint_line;
use crate::state::{StateStore, Status};

use super::shared::{load_config, run_options};

fn confirm(project: &Project, members: &[bool], what: &str) -> Result<bool, Error> {
    let names: Vec<&str> =
        project.dag.order().iter().rev().filter(|&&s| members[s]).map(|&s| project.dag.name(s)).collect();
    let question = format!("bring down {} {what}: {}? [y/N] ", names.len(), names.join(", "));
    let mut answer = String::new();
    // Asked on the controlling terminal, so a prompt is never invisible because stderr is
    // redirected; stdin and stderr only when there is no terminal to open.
    match std::fs::OpenOptions::new().read(true).write(true).open("/dev/tty") {
        Ok(mut tty) => {
            let _ = tty.write_all(question.as_bytes());
            let _ = tty.flush();
            std::io::BufReader::new(tty).read_line(&mut answer).map_err(|e| Error::Bookkeeping(e.into()))?;
        }
        Err(_) => {
            let mut err = std::io::stderr().lock();
            let _ = write!(err, "{question}");
            let _ = err.flush();
            std::io::stdin().lock().read_line(&mut answer).map_err(|e| Error::Bookkeeping(e.into()))?;
        }
    }
    Ok(matches!(answer.trim(), "y" | "Y" | "yes" | "YES" | "Yes"))
}

pub(crate) fn down(global: &Global, stages: &[String], orphans: bool, dry_run: bool) -> Result<(), Error> {
    let options = run_options(global)?;
    let project = execute::load_project(global.impl_dir.as_deref())?;
    if orphans {
        return down_orphans(&project, global, &options, stages);
    }
    let members = project.select(stages, Pull::Dependents, options.only)?;
    super::shared::note_adopted(&project);
    if dry_run {
        return would_go_down(&project, &members);
    }
    let _lock = lock::acquire(&project.wave, "down")?;
    let config = load_config(&project, &options)?;
    let wave = &project.wave;
    if !global.yes
        && wave.interactive()
        && std::io::stdin().is_terminal()
        && !confirm(&project, &members, "stage(s)")?
    {
        return Err(Error::StagesFailed("aborted: nothing was brought down".into()));
    }
    execute::down(&project, &options, &KINDS, &config.value, &members)
}

/// `down -n`: each targeted stage in the order `down` takes them, with what `down` would do
/// to it. Reads records only: no lock, no config, nothing written.
fn would_go_down(project: &Project, members: &[bool]) -> Result<(), Error> {
    let mut out = std::io::stdout().lock();
    for &stage in project.dag.order().iter().rev().filter(|&&s| members[s]) {
        let name = project.dag.name(stage);
        let what = if !project.wave.stage_dir(name).is_dir() {
            "skip: never stamped".to_string()
        } else {
            match project.state.load(name) {
                Ok(state) if state.status == Status::Down => "skip: already down".to_string(),
                Ok(state) => format!("would run down (recorded {})", state.status.as_str()),
                Err(e) => return Err(Error::Bookkeeping(e.into())),
            }
        };
        let _ = writeln!(out, "{name}: {what}");
    }
    Ok(())
}

/// `down --orphans`: stages recorded as (possibly) up that the DAG file no longer declares,
/// taken down from their stamped dirs one at a time, newest first (their dependencies are
/// not known any more; a stage added later may depend on one added earlier).
fn down_orphans(
    project: &Project,
    global: &Global,
    options: &RunOptions,
    names: &[String],
) -> Result<(), Error> {
    let _lock = lock::acquire(&project.wave, "down")?;
    project.state.recover().map_err(|e| Error::Bookkeeping(e.into()))?;
    let mut orphans: Vec<String> = project
        .state
        .orphans()
        .map_err(|e| Error::Bookkeeping(e.into()))?
        .into_iter()
        .map(|(name, _)| name)
        .collect();
    if let Some(unknown) = names.iter().find(|n| !orphans.contains(n)) {
        let known = if orphans.is_empty() { "there are none".to_string() } else { orphans.join(", ") };
        return Err(Error::Usage(format!("'{unknown}' is not an orphaned stage (orphans: {known})")));
    }
    if !names.is_empty() {
        orphans.retain(|o| names.contains(o));
    }
    if orphans.is_empty() {
        eprint_line("no orphaned stages: every stage with a record is in the DAG or down");
        return Ok(());
    }
    let wave = &project.wave;
    // The template dir may be gone: the stamped dir says what kind the stage was. One that
    // says nothing is run as a ctl stage, which then fails naming the missing ctl.
    let kinds = orphans
        .iter()
        .map(|name| execute::classify(&KINDS, &DirEntries::at(&wave.stage_dir(name))).unwrap_or(0))
        .collect();
    let state = StateStore::new(wave, orphans.clone());
    let orphaned =
        Project { wave: wave.clone(), dag: Dag::chain(&orphans), kinds, state, graph: Default::default() };
    let members = vec![true; orphans.len()];
    if !global.yes
        && wave.interactive()
        && std::io::stdin().is_terminal()
        && !confirm(&orphaned, &members, "orphaned stage(s), no longer in the DAG")?
    {
        return Err(Error::StagesFailed("aborted: nothing was brought down".into()));
    }
    let config = load_config(project, options)?;
    execute::down(&orphaned, options, &KINDS, &config.value, &members)
}
