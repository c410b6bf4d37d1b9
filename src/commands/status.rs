//! `status`: one line per stage — status, last command, when, duration, log — from the
//! recorded state. Takes no lock and writes nothing.

use std::io::Write;
use std::time::Duration;

use serde_json::json;

use crate::cli::Global;
use crate::error::Error;
use crate::report::format_duration;
use crate::state::StageState;

use crate::report::display_path;

pub(crate) fn status(global: &Global) -> Result<(), Error> {
    let project = crate::execute::load_project(global.impl_dir.as_deref())?;
    super::shared::note_adopted(&project);
    let store = &project.state;
    let mut rows = Vec::new();
    for &stage in project.dag.order() {
        let name = project.dag.name(stage);
        let state = store.load(name).map_err(|e| Error::Bookkeeping(e.into()))?;
        rows.push((name, state));
    }
    let orphans = store.orphans().map_err(|e| Error::Bookkeeping(e.into()))?;
    let mut out = std::io::stdout().lock();
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
    let header = ["STAGE", "STATUS", "LAST", "WHEN", "DURATION", "LOG"].map(String::from);
    let mut widths = header.clone().map(|h| h.len());
    for row in &table {
        for (w, cell) in widths.iter_mut().zip(row) {
            *w = (*w).max(cell.len());
        }
    }
    for row in std::iter::once(&header).chain(&table) {
        let line: Vec<String> = row.iter().zip(widths).map(|(cell, w)| format!("{cell:<w$}")).collect();
        if writeln!(out, "{}", line.join("  ").trim_end()).is_err() {
            break;
        }
    }
    if !orphans.is_empty() {
        let _ = writeln!(out, "{}", super::plan::orphan_note(&orphans));
    }
    Ok(())
}
