//! A scheduled `up` or `down` run: what happens to each stage (render → decide → write → its
//! kind's `up`; or checks → its kind's `down`), the scheduler driving them with a reporter,
//! and what the run ends with (summary, exit code, report files).

use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::SystemTime;

use rayon::prelude::*;

use crate::config::Config;
use crate::error::Error;
use crate::events::{Direction, Outcome, Reason, Reporter, Stop};
use crate::graph::StageId;
use crate::plan;
use crate::project::Project;
use crate::report::timings::{self, RunInfo};
use crate::report::{
    Display, GroupedReporter, LineReporter, LiveReporter, RunReport, Timings, display_path, eprint_line,
    records, render_summary, span, timeline, write_json, write_junit,
};
use crate::scheduler::{self, Sink};
use crate::stamp::{Fresh, Index, Renderer, StampError, Stamper, Template, Upstream, env_digest};
use crate::state::{StageState, Status, millis};

use super::kind::{Kind, Stage};
use super::options::{RunOptions, TimingsPage};
use super::record::StageRun;
use super::time_limit::time_limits;

/// Builds the stamper and loads the templates of every stage in `members`, checking their
/// syntax: all errors are reported, before anything runs (exit 2).
pub(crate) fn load_templates<'p>(
    project: &'p Project,
    options: &RunOptions,
    cfg: &serde_json::Value,
    members: &[bool],
) -> Result<(Stamper<'p>, HashMap<StageId, Template>), Error> {
    let wave = &project.wave;
    let stages = (0..project.dag.len()).map(|s| project.dag.name(s).to_string()).collect();
    let renderer = Renderer::new(&options.delimiters, cfg, wave.env_map(), &wave.output_dir, stages)?;
    let stamper = Stamper { renderer, wave };
    // Parsing is independent per stage: spread it over the cores, report in DAG order.
    let targeted: Vec<StageId> = project.dag.order().iter().copied().filter(|&s| members[s]).collect();
    let loaded: Vec<(StageId, Result<Template, StampError>)> =
        targeted.par_iter().map(|&s| (s, stamper.load(project.dag.name(s)))).collect();
    let mut templates = HashMap::new();
    let mut errors = Vec::new();
    for (stage, result) in loaded {
        match result {
            Ok(template) => {
                templates.insert(stage, template);
            }
            Err(e) => errors.push(e),
        }
    }
    if !errors.is_empty() {
        return Err(StampError::Many(errors).into());
    }
    Ok((stamper, templates))
}

/// Renders every stage in `members` once, before anything runs, upstream outputs stood in
/// for: an undefined config path, an unknown filter or function, a read of a stage that is not
/// upstream, in any stage, is exit 2 with nothing run (see `stamp/scope.rs`).
pub(crate) fn prove(
    project: &Project,
    stamper: &Stamper<'_>,
    templates: &HashMap<StageId, Template>,
    members: &[bool],
) -> Result<(), Error> {
    let targeted: Vec<StageId> = project.dag.order().iter().copied().filter(|&s| members[s]).collect();
    let errors: Vec<StampError> = targeted
        .par_iter()
        .flat_map_iter(|&id| {
            stamper.prove(project.dag.name(id), &templates[&id], Upstream::lazy(project.depends_on(id)))
        })
        .collect();
    if errors.is_empty() { Ok(()) } else { Err(StampError::Many(errors).into()) }
}

/// What each targeted stage's kind refuses before anything runs (see [`Kind::prove`]), on
/// its render as it is now; a stage that cannot be rendered yet (it reads upstream outputs
/// not produced yet) is left to its turn. Every problem, exit 2.
pub(crate) fn prove_kinds(
    project: &Project,
    options: &RunOptions,
    kinds: &[&dyn Kind],
    config: &serde_json::Value,
    (stamper, templates): (&Stamper<'_>, &HashMap<StageId, Template>),
    members: &[bool],
) -> Result<(), Error> {
    let targeted: Vec<StageId> = project.dag.order().iter().copied().filter(|&s| members[s]).collect();
    let problems: Vec<String> = targeted
        .par_iter()
        .flat_map_iter(|&id| {
            let name = project.dag.name(id);
            let stage = Stage { project, options, config, id };
            let problems = match stamper.render(name, &templates[&id], Upstream::lazy(project.depends_on(id)))
            {
                Ok(image) => kinds[project.kinds[id]].prove(&stage, &image),
                Err(_) => Vec::new(),
            };
            problems.into_iter().map(move |p| format!("stage '{name}': {p}"))
        })
        .collect();
    if problems.is_empty() {
        return Ok(());
    }
    let noun = if problems.len() == 1 { "problem" } else { "problems" };
    Err(Error::Invalid(format!("{} {noun} found:\n{}", problems.len(), problems.join("\n"))))
}

/// Registers for masking every secret the project's stages know before they run (see
/// [`Kind::secrets`]), so a run masks a secret even when the stage that binds it does not
/// run. `stamping`: the stamper and the loaded templates of the stages this run will stamp;
/// every stage is rendered in memory with it (other stages' templates loaded for this), when
/// it can be, besides being read from its stamped dir.
pub(crate) fn learn_secrets(
    project: &Project,
    options: &RunOptions,
    kinds: &[&dyn Kind],
    config: &serde_json::Value,
    stamping: Option<(&Stamper<'_>, &HashMap<StageId, Template>)>,
) {
    let all: Vec<StageId> = project.dag.order().to_vec();
    let secrets: Vec<String> = all
        .par_iter()
        .flat_map_iter(|&id| {
            let stage = Stage { project, options, config, id };
            let render = || {
                let (stamper, templates) = stamping?;
                let name = project.dag.name(id);
                let loaded;
                let template = match templates.get(&id) {
                    Some(template) => template,
                    None => {
                        loaded = stamper.load(name).ok()?;
                        &loaded
                    }
                };
                stamper.render(name, template, Upstream::lazy(project.depends_on(id))).ok()
            };
            kinds[project.kinds[id]].secrets(&stage, &render)
        })
        .collect();
    for secret in &secrets {
        crate::mask::add(secret);
    }
}

/// `up` of `members`: every template is checked first (exit 2 before anything runs), then
/// each stage is stamped and brought up by its kind once its dependencies are up.
pub(crate) fn up(
    project: &Project,
    options: &RunOptions,
    kinds: &[&dyn Kind],
    config: &Config,
    (index, members): (Index, &[bool]),
) -> Result<(), Error> {
    let config_digest = plan::config_digest(&config.text);
    // The stat index (opened with the project, see `load_project_indexed`): a stage whose
    // last render's inputs all stat the same is proven up to date at its turn without
    // rendering (nor proving: those inputs were proven then).
    let (keys, fresh) = indexed(project, options, kinds, &config_digest, (&index, members));
    let rendering: Vec<bool> = (0..project.dag.len()).map(|id| members[id] && fresh[id].is_none()).collect();
    let (stamper, templates) = load_templates(project, options, &config.value, &rendering)?;
    prove(project, &stamper, &templates, &rendering)?;
    learn_secrets(project, options, kinds, &config.value, Some((&stamper, &templates)));
    prove_kinds(project, options, kinds, &config.value, (&stamper, &templates), &rendering)?;
    let templates = std::sync::Mutex::new(templates);
    // A stage the index proves unchanged that had no time limit file has none now.
    let known_none: Vec<bool> = fresh.iter().map(|f| f.as_ref().is_some_and(|f| f.no_time_limit)).collect();
    let limits = time_limits(project, (members, &known_none), options.stage_timeout)?;
    project.state.recover().map_err(|e| Error::Bookkeeping(e.into()))?;
    project.state.remember_reads();
    let records = prefetch_records(project, members);
    let work = |id: StageId, sink: &Sink<'_>| -> Outcome {
        if sink.interrupted() {
            return Outcome::Interrupted;
        }
        let stage = Stage { project, options, config: &config.value, id };
        let name = stage.name();
        if let Some(fresh) = &fresh[id] {
            match plan::up_to_date(project, &project.state, id, &fresh.stamp) {
                Ok(true) => return Outcome::UpToDate,
                Ok(false) => {}
                Err(e) => return Outcome::failed(e.to_string()),
            }
        }
        let stamp_failed = |e: &dyn std::fmt::Display| {
            stage.fail(Direction::Up, format!("failed to stamp stage '{name}': {e}"))
        };
        // Taken: each stage renders once, and its template is freed once it is done with (at
        // 10,000 stages the templates are megabytes).
        let taken = templates.lock().expect("no panics while holding the lock").remove(&id);
        let loaded = match taken {
            Some(template) => template,
            None => match stamper.load(name) {
                Ok(template) => template,
                Err(e) => return stamp_failed(&e),
            },
        };
        let template = &loaded;
        let image = match stamper.render(name, template, Upstream::lazy(project.depends_on(id))) {
            Ok(image) => image,
            Err(e) => return stamp_failed(&e),
        };
        let decision = match plan::decide(
            project,
            &project.state,
            id,
            (template, &image),
            &config_digest,
            options.force,
        ) {
            Ok(decision) => decision,
            Err(e) => return Outcome::failed(e.to_string()),
        };
        match stamper.write(name, &image) {
            Ok(report) if report.changed() => sink.note(&report.describe()),
            Ok(_) => {}
            Err(e) => {
                index.forget(name);
                return stamp_failed(&e);
            }
        }
        if let Some(key) = &keys[id] {
            let stamp = decision.digests.stamp.clone();
            let entry =
                stamper.index_entry(name, (key.clone(), stamp, project.kinds[id]), (template, &image));
            index.record(name, &entry);
        }
        if let (None, Some(sentinel)) = (&decision.reason, &decision.previous.adopted) {
            return adopt(project, &decision, name, sentinel, sink);
        }
        kinds[project.kinds[id]].up(&stage, decision, sink)
    };
    let settled = settled(project, members, &fresh, &records);
    drop(records);
    let outcome = schedule(project, options, members, (limits, settled), Direction::Up, "up", &work);
    // Not written: the next run takes the content path for what changed (never unsafe).
    let _ = index.save();
    project.state.keep_cache();
    outcome
}

/// Reads the record of every stage in `members` on every core, once records are remembered
/// ([`crate::state::StateStore::remember_reads`]): the scheduled workers then find them in
/// memory. Returns them by stage id, as [`crate::state::StateStore::prefetch`] does.
pub(crate) fn prefetch_records(project: &Project, members: &[bool]) -> Vec<Option<Arc<StageState>>> {
    let ids: Vec<StageId> = (0..project.dag.len()).filter(|&id| members[id]).collect();
    let stages: Vec<&str> = ids.iter().map(|&id| project.dag.name(id)).collect();
    let mut records = vec![None; project.dag.len()];
    for (id, record) in ids.into_iter().zip(project.state.prefetch(&stages)) {
        records[id] = record;
    }
    records
}

/// Each stage's stat index key ([`index_keys`]), and for each of `members` what the index
/// proves: the digest of its render when it would render as it did last (`-B`: none).
pub(crate) fn indexed(
    project: &Project,
    options: &RunOptions,
    kinds: &[&dyn Kind],
    config_digest: &str,
    (index, members): (&Index, &[bool]),
) -> (Vec<Option<String>>, Vec<Option<Fresh>>) {
    let keys = index_keys(project, options, kinds, config_digest);
    let env = project.wave.env_map();
    let env_digest = env_digest(&env);
    let fresh = (0..project.dag.len())
        .into_par_iter()
        .map(|id| match &keys[id] {
            Some(key) if members[id] && !options.force => {
                let name = project.dag.name(id);
                let dirs = [project.wave.template_dir(name), project.wave.stage_dir(name)];
                index.fresh(name, [&dirs[0], &dirs[1]], key, (&env, &env_digest))
            }
            _ => None,
        })
        .collect();
    (keys, fresh)
}

/// Each stage's stat index key, for the stages whose kind lets the index prove them up to
/// date: a hash of everything a render reads besides files and the environment (the config,
/// the delimiters, the working dir the templates' relative paths start from, the DAG that
/// decides which outputs a stage may read, this build of betterform) and the stage's name.
fn index_keys(
    project: &Project,
    options: &RunOptions,
    kinds: &[&dyn Kind],
    config_digest: &str,
) -> Vec<Option<String>> {
    let mut hasher = blake3::Hasher::new();
    let mut field = |bytes: &[u8]| {
        hasher.update(&(bytes.len() as u64).to_le_bytes());
        hasher.update(bytes);
    };
    field(env!("CARGO_PKG_VERSION").as_bytes());
    field(config_digest.as_bytes());
    field(options.delimiters.left.as_bytes());
    field(options.delimiters.right.as_bytes());
    let cwd = std::env::current_dir().unwrap_or_default();
    field(cwd.as_os_str().as_encoded_bytes());
    field(project.wave.output_dir.as_os_str().as_encoded_bytes());
    field(project.wave.impl_dir.as_os_str().as_encoded_bytes());
    field(project.wave.genfiles.as_os_str().as_encoded_bytes());
    for id in 0..project.dag.len() {
        field(project.dag.name(id).as_bytes());
        for &dep in project.dag.deps(id) {
            field(project.dag.name(dep).as_bytes());
        }
        field(b"");
    }
    let run = hasher.finalize();
    (0..project.dag.len())
        .map(|id| {
            kinds[project.kinds[id]].follows_render().then(|| {
                let mut hasher = blake3::Hasher::new();
                hasher.update(run.as_bytes());
                hasher.update(&project.kinds[id].to_le_bytes());
                hasher.update(project.dag.name(id).as_bytes());
                hasher.finalize().to_hex().to_string()
            })
        })
        .collect()
}

/// Makes a stage the original betterform brought up betterform's own: recorded up on the
/// render just written, nothing run. Its dependents then see an ordinary record.
fn adopt(
    project: &Project,
    decision: &plan::Decision,
    name: &str,
    sentinel: &std::path::Path,
    sink: &Sink<'_>,
) -> Outcome {
    let mut state = StageState { adopted: None, ..decision.previous.clone() };
    decision.record_up(&mut state);
    if let Err(e) = project.state.save(name, &state) {
        return Outcome::failed(e.to_string());
    }
    sink.note(&format!("adopted: the original betterform recorded it up ({})", display_path(sentinel)));
    Outcome::UpToDate
}

/// `down` of `members`, each from its existing stamped dir (never re-stamped), after every
/// stage that depends on it. Stages never stamped or already down are skipped.
pub(crate) fn down(
    project: &Project,
    options: &RunOptions,
    kinds: &[&dyn Kind],
    config: &serde_json::Value,
    members: &[bool],
) -> Result<(), Error> {
    // No stage is stamped, but a stage never stamped here (a CI job) may still bind secrets.
    let loaded = load_templates(project, options, config, &vec![false; project.dag.len()]).ok();
    learn_secrets(project, options, kinds, config, loaded.as_ref().map(|(s, t)| (s, t)));
    let limits = time_limits(project, (members, &vec![false; members.len()]), options.stage_timeout)?;
    project.state.recover().map_err(|e| Error::Bookkeeping(e.into()))?;
    let work = |id: StageId, sink: &Sink<'_>| -> Outcome {
        let stage = Stage { project, options, config, id };
        let name = stage.name();
        if !stage.dir().is_dir() {
            return Outcome::Skipped("never stamped".into());
        }
        let previous = match project.state.load(name) {
            Ok(state) if state.status == Status::Down => return Outcome::Skipped("already down".into()),
            Ok(state) => state,
            Err(e) => return Outcome::failed(e.to_string()),
        };
        let why = Reason::Recorded(previous.status);
        let on_success = |state: &mut StageState| {
            state.status = Status::Down;
            state.stamp_digest = None;
        };
        let run =
            StageRun { stage: name, direction: Direction::Down, previous, why, on_success: &on_success };
        kinds[project.kinds[id]].down(&stage, run, sink)
    };
    schedule(project, options, members, (limits, Vec::new()), Direction::Down, "down", &work)
}

/// `run VERB` over `members`: each stage whose dependencies are up is stamped and its
/// `ctl VERB` run, in dependency order (`direction` `Down`: dependents first). Nothing is
/// recorded: a stage's up/down state is `up`'s and `down`'s business.
pub(crate) fn run_verb(
    project: &Project,
    options: &RunOptions,
    kinds: &[&dyn Kind],
    config: &serde_json::Value,
    members: &[bool],
    verb: &str,
    direction: Direction,
) -> Result<(), Error> {
    let (stamper, templates) = load_templates(project, options, config, members)?;
    prove(project, &stamper, &templates, members)?;
    learn_secrets(project, options, kinds, config, Some((&stamper, &templates)));
    let limits = time_limits(project, (members, &vec![false; members.len()]), options.stage_timeout)?;
    let work = |id: StageId, sink: &Sink<'_>| -> Outcome {
        if sink.interrupted() {
            return Outcome::Interrupted;
        }
        let stage = Stage { project, options, config, id };
        let name = stage.name();
        let not_up = if options.only {
            Vec::new()
        } else {
            match plan::deps_not_up(project, &project.state, id) {
                Ok(not_up) => not_up,
                Err(e) => return Outcome::failed(e.to_string()),
            }
        };
        if !not_up.is_empty() {
            return Outcome::Skipped(format!("blocked: dependency {} is not up", not_up.join(", ")));
        }
        let stamped = stamper
            .render(name, &templates[&id], Upstream::lazy(project.depends_on(id)))
            .and_then(|image| stamper.write(name, &image));
        match stamped {
            Ok(report) if report.changed() => sink.note(&report.describe()),
            Ok(_) => {}
            Err(e) => return Outcome::failed(format!("failed to stamp stage '{name}': {e}")),
        }
        kinds[project.kinds[id]].verb(&stage, verb, sink)
    };
    schedule(project, options, members, (limits, Vec::new()), direction, verb, &work)
}

/// The stages of `members` an `up` knows are up to date before it starts (by stage id): the
/// index proves their render unchanged, their records (`records`, by stage id) say up on it,
/// and each dependency in the run is one of them too (one that runs could bring a new
/// generation).
fn settled(
    project: &Project,
    members: &[bool],
    fresh: &[Option<Fresh>],
    records: &[Option<Arc<StageState>>],
) -> Vec<bool> {
    let proven: Vec<bool> = (0..project.dag.len())
        .into_par_iter()
        .map(|id| {
            let (Some(fresh), Some(record)) =
                (fresh[id].as_ref().filter(|_| members[id]), records[id].as_deref())
            else {
                return false;
            };
            let generations: Option<Vec<u64>> =
                project.dag.deps(id).iter().map(|&dep| records[dep].as_ref().map(|r| r.generation)).collect();
            generations
                .is_some_and(|generations| plan::up_on(project, id, record, &fresh.stamp, &generations))
        })
        .collect();
    let mut settled = vec![false; project.dag.len()];
    for &id in project.dag.order() {
        settled[id] = proven[id] && project.dag.deps(id).iter().all(|&dep| !members[dep] || settled[dep]);
    }
    settled
}

/// Runs `work` over `members` and reports; an `Err` when any stage failed. `command`: what the
/// stages run (`up`, `down`, a verb), for logs and messages. `settled`: the members known to
/// be up to date already (see [`scheduler::Options::settled`]).
fn schedule(
    project: &Project,
    options: &RunOptions,
    members: &[bool],
    (time_limits, settled): (Vec<Option<crate::process::TimeLimit>>, Vec<bool>),
    direction: Direction,
    command: &str,
    work: &(dyn Fn(StageId, &Sink<'_>) -> Outcome + Sync),
) -> Result<(), Error> {
    let scheduling = scheduler::Options {
        jobs: options.jobs,
        keep_going: options.keep_going,
        grace: options.grace,
        keyboard: options.terminals && options.jobs > 1,
        time_limits,
        settled,
    };
    let log_path = |stage: &str| project.wave.log_path(stage, command);
    let total = members.iter().filter(|&&m| m).count();
    let mut reporter: Box<dyn Reporter + '_> = match options.display {
        Display::Live => Box::new(LiveReporter::new(&project.dag, command, total, &log_path)),
        Display::Grouped => Box::new(GroupedReporter::new(&project.dag, &project.wave, command)),
        Display::Stream => Box::new(LineReporter::new(&project.dag, command)),
    };
    let started = SystemTime::now();
    let run = scheduler::run(&project.dag, members, direction, scheduling, reporter.as_mut(), work);
    let finished = project.state.finish_run();
    // The live display clears its bars when dropped, before the summary is printed.
    drop(reporter);
    let ended = SystemTime::now();
    let results = run.results;
    let log_of = |stage: &str| display_path(&project.wave.log_path(stage, command));
    let timings = Timings::of(&project.dag, &results, direction, (started, ended), options.jobs);
    // The timing record is written while the summary is rendered and printed: at 1,000
    // stages each takes a few tenths of a millisecond.
    let (record, ()) = rayon::join(
        || write_timing_record(project, &results, &timings, (command, direction, started)),
        || {
            let summary = render_summary(&project.dag, &results, command, &log_of, direction);
            // Where the time went matters only when some stage's command ran.
            let ran = results.iter().flatten().any(|r| {
                matches!(
                    r,
                    crate::events::Result::Done {
                        outcome: Outcome::Ran { .. } | Outcome::Failed { .. } | Outcome::Interrupted,
                        ..
                    }
                )
            });
            let timing = if ran { timings.summary(&project.dag) } else { String::new() };
            eprint_line((summary + &timing).trim_end());
            crate::report::append_step_summary(|| {
                crate::report::markdown_summary(&project.dag, &results, command, &log_of, direction)
            });
        },
    );
    let outcome = match run.stop {
        Some(Stop::Interrupt) => Err(Error::Interrupted { name: "SIGINT", code: 130 }),
        Some(Stop::Terminate) => Err(Error::Interrupted { name: "SIGTERM", code: 143 }),
        Some(Stop::Failure) | None => {
            let failed: Vec<&str> = (0..project.dag.len())
                .filter(|&s| {
                    matches!(&results[s], Some(crate::events::Result::Done { outcome, .. }) if outcome.is_failure())
                })
                .map(|s| project.dag.name(s))
                .collect();
            if failed.is_empty() {
                Ok(())
            } else {
                let noun = if failed.len() == 1 { "stage" } else { "stages" };
                Err(Error::StagesFailed(format!("{noun} failed: {}", failed.join(", "))))
            }
        }
    };
    // The stages' records could not be made durable: the journal stays, so they read
    // `unknown` (safe), but say so.
    let outcome = match (outcome, finished) {
        (outcome, Ok(())) => outcome,
        (Ok(()), Err(e)) => Err(Error::Bookkeeping(e.into())),
        (Err(failed), Err(e)) => {
            eprint_line(&format!("error: {e}"));
            Err(failed)
        }
    };
    let outcome = keep_timings(project, options, record, outcome);
    if options.report.is_some() || options.junit.is_some() {
        let (started, ended, duration_ms) = span(started, ended);
        let report = RunReport {
            command,
            started,
            ended,
            duration_ms,
            exit_code: outcome.as_ref().map_or_else(Error::exit_code, |()| 0),
            jobs: timings.jobs,
            critical_path: timings.critical.iter().map(|&s| project.dag.name(s).to_string()).collect(),
            critical_path_ms: millis(timings.critical_total()),
            waited_for_slot_ms: millis(timings.waited().0),
            stages: records(
                &project.dag,
                &results,
                &|stage| project.wave.log_path(stage, command),
                direction,
                &timings,
            ),
        };
        let mut written = Ok(());
        if let Some(path) = &options.report {
            written = written.and(write_json(path, &report).map_err(|e| (path, e)));
        }
        if let Some(path) = &options.junit {
            written = written.and(write_junit(path, &report).map_err(|e| (path, e)));
        }
        if let Err((path, e)) = written {
            let e = Error::Bookkeeping(anyhow::anyhow!("cannot write {}: {e}", path.display()));
            // A failed stage's exit code matters more than the report; still say it.
            match outcome {
                Ok(()) => return Err(e),
                Err(_) => eprint_line(&format!("error: {e}")),
            }
        }
    }
    outcome
}

/// Writes the run's timing record (what `status --timings` shows); returns it with how the
/// write went, for [`keep_timings`].
fn write_timing_record(
    project: &Project,
    results: &[Option<crate::events::Result>],
    timings: &Timings,
    (command, direction, started): (&str, Direction, SystemTime),
) -> (timings::Record, Result<(), (PathBuf, std::io::Error)>) {
    let state_dir = project.wave.state_dir();
    let log_of = |stage: &str| project.wave.log_path(stage, command);
    let run = RunInfo { id: project.state.run_id(), command, direction, started, log_of: &log_of };
    let record = timings.record(&project.dag, results, run);
    let written =
        timings::write_record(&state_dir, &record).map_err(|e| (timings::record_path(&state_dir), e));
    (record, written)
}

/// After the timing record ([`write_timing_record`]), writes with `--timings` the run's HTML
/// timeline, saying where. A file that cannot be written fails a run that succeeded (exit 4);
/// after a failed stage the stage's exit code stays and the error is printed.
fn keep_timings(
    project: &Project,
    options: &RunOptions,
    (record, mut written): (timings::Record, Result<(), (PathBuf, std::io::Error)>),
    outcome: Result<(), Error>,
) -> Result<(), Error> {
    let state_dir = project.wave.state_dir();
    let pages = match &options.timings {
        TimingsPage::Off => Vec::new(),
        TimingsPage::Default => timeline::default_paths(&state_dir, &record.run).to_vec(),
        TimingsPage::File(path) => vec![path.clone()],
    };
    if written.is_ok() && !pages.is_empty() {
        written = timeline::write(&pages, &timeline::render(&record));
        if written.is_ok() {
            eprint_line(&format!("timings: {}", display_path(&pages[0])));
            if options.timings == TimingsPage::Default {
                timeline::prune(&timings::dir(&state_dir));
            }
        }
    }
    let Err((path, e)) = written else { return outcome };
    let e = Error::Bookkeeping(anyhow::anyhow!("cannot write {}: {e}", path.display()));
    match outcome {
        Ok(()) => Err(e),
        Err(failed) => {
            eprint_line(&format!("error: {e}"));
            Err(failed)
        }
    }
}
