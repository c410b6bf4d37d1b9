//! `plan`: what `up` would do, in waves of stages that can run together, each with its action
//! and why. Renders in memory only: no lock, no state, no `CONFIG_JSON_FILE`, no stamped file.

use std::io::Write;

use serde_json::json;

use crate::cli::Global;
use crate::config;
use crate::error::Error;
use crate::execute::{self, KINDS, Stage};
use crate::plan;
use crate::project::Pull;
use crate::report::first_line;
use crate::stamp::{Template, Upstream};

use super::shared::{Masked, run_options};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Action {
    Run,
    Skip,
    Blocked,
}

impl Action {
    fn as_str(self) -> &'static str {
        match self {
            Action::Run => "run",
            Action::Skip => "skip",
            Action::Blocked => "blocked",
        }
    }
}

/// `plan --exit-code`: something would run.
const PENDING: i32 = 5;
/// `plan --exit-code`: something would fail, or cannot run until something else is up.
const WOULD_FAIL: i32 = 6;

pub(crate) fn plan(global: &Global, stages: &[String], exit_code: bool) -> Result<(), Error> {
    let options = run_options(global)?;
    let (project, index) = execute::load_project_indexed(global.impl_dir.as_deref())?;
    super::shared::note_adopted(&project);
    let members = project.select(stages, Pull::Dependencies, options.only)?;
    let config = config::load(&project.wave, &options.jsonnet)?;
    let config_digest = plan::config_digest(&config.text);
    // As `up` does: a stage the stat index proves unchanged is neither rendered nor proven.
    let (_, fresh) = execute::indexed(&project, &options, &KINDS, &config_digest, (&index, &members));
    let rendering: Vec<bool> = (0..project.dag.len()).map(|s| members[s] && fresh[s].is_none()).collect();
    let (stamper, templates) = execute::load_templates(&project, &options, &config.value, &rendering)?;
    // What `up` would refuse before running anything, `plan` refuses too.
    execute::prove(&project, &stamper, &templates, &rendering)?;
    // A reason may quote an input; what `up` would mask, `plan` masks.
    execute::learn_secrets(&project, &options, &KINDS, &config.value, Some((&stamper, &templates)));
    execute::prove_kinds(&project, &options, &KINDS, &config.value, (&stamper, &templates), &rendering)?;
    let store = &project.state;
    // One snapshot: each record read once (a stage's is read by each of its dependents too).
    store.remember_reads();
    execute::prefetch_records(&project, &members);
    let dag = &project.dag;

    let mut decided: Vec<Option<(Action, String, usize)>> = vec![None; dag.len()];
    // Stages that would fail at their turn, or depend on one that would: `blocked`, and the
    // plan's exit status says so.
    let mut would_fail = vec![false; dag.len()];
    // Stages whose kind has a manifest (step packages whose inputs could be bound): the
    // instructions `up` would enact.
    let mut manifests: Vec<Option<Vec<String>>> = vec![None; dag.len()];
    for &stage in dag.order().iter().filter(|&&s| members[s]) {
        let wave =
            1 + dag.deps(stage).iter().filter_map(|&d| decided[d].as_ref().map(|x| x.2)).max().unwrap_or(0);
        let name = |s: &usize| dag.name(*s).to_string();
        let running: Vec<String> = dag
            .deps(stage)
            .iter()
            .filter(|&&d| matches!(decided[d], Some((Action::Run, ..))))
            .map(name)
            .collect();
        // With --only, dependencies' status is not checked (their outputs come from elsewhere).
        let not_up = if options.only {
            Vec::new()
        } else {
            plan::deps_not_up(&project, store, stage).map_err(|e| Error::Bookkeeping(e.into()))?
        };
        // A dependency that would fail stops this stage as `up` would stop it.
        let failing: Vec<String> = dag
            .deps(stage)
            .iter()
            .filter(|&&d| matches!(decided[d], Some((Action::Blocked, ..))) && would_fail[d])
            .map(name)
            .collect();
        let (action, reason) = if !failing.is_empty() {
            would_fail[stage] = true;
            (Action::Blocked, format!("{} would fail", names_of("dependency", &failing)))
        } else if !running.is_empty() {
            // Its render reads what those dependencies produce: it runs after them.
            let them = if running.len() == 1 { "it" } else { "them" };
            (Action::Run, format!("{} will run (rendered after {them})", names_of("dependency", &running)))
        } else if !not_up.is_empty() {
            (Action::Blocked, format!("can't be rendered until {}", are_up(&not_up)))
        } else if let Some(fresh) = &fresh[stage]
            && plan::up_to_date(&project, store, stage, &fresh.stamp)
                .map_err(|e| Error::Bookkeeping(e.into()))?
        {
            (Action::Skip, "up to date".to_string())
        } else {
            let mut loaded: Option<Template> = None;
            let template = match templates.get(&stage) {
                Some(template) => Ok(template),
                None => stamper.load(dag.name(stage)).map(|t| &*loaded.insert(t)),
            };
            match template.and_then(|template| {
                let upstream = Upstream::lazy(project.depends_on(stage));
                stamper.render(dag.name(stage), template, upstream).map(|image| (template, image))
            }) {
                Err(e) => {
                    would_fail[stage] = true;
                    (Action::Blocked, format!("will fail: its templates do not render: {e}"))
                }
                Ok((template, image)) => {
                    let decision = plan::decide(
                        &project,
                        store,
                        stage,
                        (template, &image),
                        &config_digest,
                        options.force,
                    )
                    .map_err(|e| Error::Bookkeeping(e.into()))?;
                    let at = Stage { project: &project, options: &options, config: &config.value, id: stage };
                    let kind = KINDS[project.kinds[stage]];
                    match kind.plan(&at, &image, &decision.previous, decision.reason) {
                        Err(e) => {
                            would_fail[stage] = true;
                            (Action::Blocked, format!("will fail: {}", first_line(&e)))
                        }
                        Ok((reason, manifest)) => {
                            manifests[stage] = manifest;
                            match reason {
                                Some(reason) => (Action::Run, reason.to_string()),
                                None => (Action::Skip, "up to date".to_string()),
                            }
                        }
                    }
                }
            }
        };
        decided[stage] = Some((action, reason, wave));
    }

    // (wave, stage, action, reason, manifest)
    type Row<'a> = (usize, &'a str, Action, &'a str, Option<&'a Vec<String>>);
    // Each wave in DAG order: the order's positions looked up once (not searched per row).
    let mut position = vec![0; dag.len()];
    for (at, &s) in dag.order().iter().enumerate() {
        position[s] = at;
    }
    let mut rows: Vec<(usize, Row<'_>)> = decided
        .iter()
        .enumerate()
        .filter_map(|(s, d)| {
            d.as_ref().map(|(a, r, w)| (s, (*w, dag.name(s), *a, r.as_str(), manifests[s].as_ref())))
        })
        .collect();
    rows.sort_by_key(|&(s, (wave, ..))| (wave, position[s]));
    let rows: Vec<Row<'_>> = rows.into_iter().map(|(_, row)| row).collect();

    let orphans = project.state.orphans().map_err(|e| Error::Bookkeeping(e.into()))?;
    let mut out = Masked::new(std::io::BufWriter::new(std::io::stdout().lock()));
    if global.json {
        let orphans: Vec<_> =
            orphans.iter().map(|(name, s)| json!({ "name": name, "status": s.status.as_str() })).collect();
        let stages: Vec<_> = rows
            .iter()
            .map(|(wave, name, action, reason, manifest)| {
                let mut row =
                    json!({ "name": name, "action": action.as_str(), "reason": reason, "wave": wave });
                if let Some(manifest) = manifest {
                    row["manifest"] = json!(manifest);
                }
                row
            })
            .collect();
        let text = serde_json::to_string_pretty(&json!({ "stages": stages, "orphans": orphans }))
            .expect("JSON serializes");
        let _ = writeln!(out, "{text}");
        return answer(exit_code, &rows, would_fail.contains(&true));
    }
    let width = rows.iter().map(|r| r.1.len()).max().unwrap_or(0);
    let mut current = 0;
    for (wave, name, action, reason, manifest) in &rows {
        if *wave != current {
            current = *wave;
            let _ = writeln!(out, "wave {wave}:");
        }
        let _ = writeln!(out, "  {name:<width$}  {:<7}  {reason}", action.as_str());
        if let Some(manifest) = manifest {
            let _ = writeln!(out, "  {:<width$}  {:<7}  manifest: {}", "", "", manifest.join(" → "));
        }
    }
    let count = |a: Action| rows.iter().filter(|r| r.2 == a).count();
    let _ = writeln!(
        out,
        "plan: {} to run, {} up to date, {} blocked",
        count(Action::Run),
        count(Action::Skip),
        count(Action::Blocked)
    );
    if !orphans.is_empty() {
        let _ = writeln!(out, "{}", orphan_note(&orphans));
    }
    answer(exit_code, &rows, would_fail.contains(&true))
}

/// The plan's answer as the exit status: [`WOULD_FAIL`] when a stage would fail (`up` would
/// not get through); with `--exit-code`, also [`PENDING`] and [`WOULD_FAIL`] for a stage
/// blocked by a dependency that is not up.
fn answer<T>(exit_code: bool, rows: &[(usize, &str, Action, &str, T)], fails: bool) -> Result<(), Error> {
    if fails {
        return Err(Error::Answer(WOULD_FAIL));
    }
    if !exit_code {
        return Ok(());
    }
    if rows.iter().any(|r| r.2 == Action::Blocked) {
        Err(Error::Answer(WOULD_FAIL))
    } else if rows.iter().any(|r| r.2 == Action::Run) {
        Err(Error::Answer(PENDING))
    } else {
        Ok(())
    }
}

/// What `plan` and `status` say of orphaned stages: `up` never touches them again.
pub(crate) fn orphan_note(orphans: &[(String, crate::state::StageState)]) -> String {
    let list: Vec<String> =
        orphans.iter().map(|(name, s)| format!("{name} ({})", s.status.as_str())).collect();
    format!(
        "orphaned: {}: recorded but no longer in the DAG file; `betterform down --orphans` takes them down",
        list.join(", ")
    )
}

/// `dependency a` / `dependencies a, b`.
pub(crate) fn names_of(noun: &str, names: &[impl AsRef<str>]) -> String {
    let list: Vec<&str> = names.iter().map(AsRef::as_ref).collect();
    let noun = if list.len() == 1 { noun.to_string() } else { format!("{}ies", noun.trim_end_matches('y')) };
    format!("{noun} {}", list.join(", "))
}

/// `dependency a is up` / `dependencies a, b are up`.
pub(crate) fn are_up(names: &[impl AsRef<str>]) -> String {
    let verb = if names.len() == 1 { "is" } else { "are" };
    format!("{} {verb} up", names_of("dependency", names))
}
