//! `status`: one line per stage — status, last command, when, duration, log — from the
//! recorded state. Takes no lock and writes nothing.

use std::io::Write;
use std::time::Duration;

use rayon::prelude::*;
use serde_json::json;

use crate::cli::Global;
use crate::error::Error;
use crate::report::format_duration;
use crate::state::StageState;

use crate::project::Project;
use crate::report::display_path;
use crate::report::timings::{self, Record, StageTiming};

pub(crate) fn status(global: &Global) -> Result<(), Error> {
    let project = crate::execute::load_project(global.impl_dir.as_deref())?;
    super::shared::note_adopted(&project);
    let last_run = match &global.timings {
        None => None,
        Some(Some(file)) => {
            return Err(Error::Usage(format!(
                "status --timings takes no FILE ({}): status writes nothing; `up`, `down` and `run` write a page with --timings=FILE",
                file.display()
            )));
        }
        Some(None) => Some(
            timings::read_record(&project.wave.state_dir())
                .map_err(|e| Error::Bookkeeping(anyhow::anyhow!(e)))?,
        ),
    };
    if let Some(last_run) = last_run {
        return status_timings(&project, global.json, last_run.as_ref());
    }
    let store = &project.state;
    // Read on every core, reported in DAG order.
    let loaded: Vec<_> =
        project.dag.order().par_iter().map(|&stage| store.load(project.dag.name(stage))).collect();
    let mut rows = Vec::with_capacity(loaded.len());
    for (&stage, state) in project.dag.order().iter().zip(loaded) {
        rows.push((project.dag.name(stage), state.map_err(|e| Error::Bookkeeping(e.into()))?));
    }
    let orphans = store.orphans().map_err(|e| Error::Bookkeeping(e.into()))?;
    // Buffered: a line per stage.
    let mut out = std::io::BufWriter::new(std::io::stdout().lock());
    // Output errors (a closed pipe: `betterform status | head`) end the command quietly.
    if global.json {
        let row = |(name, s): &(&str, StageState)| {
            json!({
                "name": name,
                "status": s.status.as_str(),
                "last_command": s.last_command,
                "started": s.started,
                "ended": s.ended,
                "duration_ms": s.duration_ms,
                "log": s.log,
                "exit_code": s.exit_code,
            })
        };
        let stages: Vec<_> = rows.iter().map(row).collect();
        let orphans: Vec<_> = orphans.iter().map(|(name, s)| row(&(name.as_str(), s.clone()))).collect();
        let text = serde_json::to_string_pretty(&json!({ "stages": stages, "orphans": orphans }))
            .expect("JSON serializes");
        let _ = writeln!(out, "{text}");
        return Ok(());
    }
    let table: Vec<[String; 6]> = rows
        .iter()
        .map(|(name, s)| {
            [
                name.to_string(),
                s.status.as_str().to_string(),
                s.last_command.clone().unwrap_or_else(|| "-".into()),
                s.started.clone().unwrap_or_else(|| "-".into()),
                s.duration_ms.map_or_else(|| "-".into(), |ms| format_duration(Duration::from_millis(ms))),
                s.log.as_deref().map_or_else(|| "-".into(), display_path),
            ]
        })
        .collect();
    print_table(&mut out, ["STAGE", "STATUS", "LAST", "WHEN", "DURATION", "LOG"], &table);
    if !orphans.is_empty() {
        let _ = writeln!(out, "{}", super::plan::orphan_note(&orphans));
    }
    Ok(())
}

/// `status --timings`: each stage's place in the last `up`, `down` or `run` (start and end
/// since the run started, the wait for a `-j` slot, whether it was on the critical path),
/// from the record that run wrote.
fn status_timings(project: &Project, json: bool, record: Option<&Record>) -> Result<(), Error> {
    let timing_of = |name: &str| record.and_then(|r| r.stages.iter().find(|s| s.name == name));
    let mut out = std::io::stdout().lock();
    if json {
        let stages: Vec<_> = project
            .dag
            .order()
            .iter()
            .map(|&s| {
                let name = project.dag.name(s);
                let state = project.state.load(name).map_err(|e| Error::Bookkeeping(e.into()))?;
                Ok(json!({ "name": name, "status": state.status.as_str(), "timing": timing_of(name) }))
            })
            .collect::<Result<_, Error>>()?;
        // The run's own figures; its stages' are in `stages`, beside their status.
        let mut last_run = serde_json::to_value(record).expect("JSON serializes");
        if let Some(run) = last_run.as_object_mut() {
            run.remove("stages");
        }
        let text = serde_json::to_string_pretty(&json!({ "last_run": last_run, "stages": stages }))
            .expect("JSON serializes");
        let _ = writeln!(out, "{text}");
        return Ok(());
    }
    let Some(record) = record else {
        let _ = writeln!(out, "no timings recorded yet: `up`, `down` and `run` record them");
        return Ok(());
    };
    let ms = |ms: Option<u64>| ms.map_or_else(|| "-".into(), |ms| format_duration(Duration::from_millis(ms)));
    let _ = writeln!(
        out,
        "last run: {} (run {}), started {}, {}, -j {}",
        record.command,
        record.run,
        record.started,
        ms(Some(record.wall_ms)),
        record.jobs
    );
    let mut table: Vec<[String; 7]> = Vec::new();
    for &stage in project.dag.order() {
        let name = project.dag.name(stage);
        let row = match timing_of(name) {
            Some(StageTiming {
                result, start_ms, end_ms, duration_ms, waited_for_slot_ms, critical, ..
            }) => [
                name.to_string(),
                result.clone(),
                ms(*start_ms),
                ms(*end_ms),
                ms(*duration_ms),
                ms(*waited_for_slot_ms),
                if *critical { "yes".into() } else { String::new() },
            ],
            None => [
                name.to_string(),
                "not in run".into(),
                "-".into(),
                "-".into(),
                "-".into(),
                "-".into(),
                String::new(),
            ],
        };
        table.push(row);
    }
    let header = ["STAGE", "RESULT", "START", "END", "DURATION", "WAITED", "CRITICAL"];
    if !print_table(&mut out, header, &table) {
        return Ok(());
    }
    let _ = write!(out, "{}", timings::record_summary(record));
    Ok(())
}

/// Columns aligned under `header`, two spaces apart; `false` once the reader went away
/// (`| head`).
fn print_table<const N: usize>(out: &mut impl Write, header: [&str; N], rows: &[[String; N]]) -> bool {
    let header = header.map(String::from);
    let mut widths = header.clone().map(|h| h.chars().count());
    for row in rows {
        for (w, cell) in widths.iter_mut().zip(row) {
            *w = (*w).max(cell.chars().count());
        }
    }
    for row in std::iter::once(&header).chain(rows) {
        let line: Vec<String> = row.iter().zip(widths).map(|(cell, w)| format!("{cell:<w$}")).collect();
        if writeln!(out, "{}", line.join("  ").trim_end()).is_err() {
            return false;
        }
    }
    true
}
