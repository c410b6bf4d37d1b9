//! The end-of-run summary: every stage the run acted on, its result and duration, and for a
//! failure the reason and the log to read.

use std::fmt::Write;

use super::color::{Tone, paint};
use super::reporter::format_duration;
use crate::events::{Direction, Outcome, Result, Stop};
use crate::graph::Dag;

/// Counts of how a run went.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Totals {
    pub(crate) ran: usize,
    pub(crate) up_to_date: usize,
    pub(crate) skipped: usize,
    pub(crate) failed: usize,
    pub(crate) interrupted: usize,
    pub(crate) not_run: usize,
}

pub(crate) fn totals(results: &[Option<Result>]) -> Totals {
    let mut t = Totals::default();
    for r in results.iter().flatten() {
        match r {
            Result::Done { outcome: Outcome::Ran { .. }, .. } => t.ran += 1,
            Result::Done { outcome: Outcome::UpToDate, .. } => t.up_to_date += 1,
            Result::Done { outcome: Outcome::Skipped(_), .. } => t.skipped += 1,
            Result::Done { outcome: Outcome::Failed { .. }, .. } => t.failed += 1,
            Result::Done { outcome: Outcome::Interrupted, .. } => t.interrupted += 1,
            Result::Blocked { .. } | Result::Stopped(_) => t.not_run += 1,
        }
    }
    t
}

/// One summary row: stage, result, duration, detail.
type Row = (String, &'static str, String, String);

/// The rows of the summary, started stages by start time, then the ones that never started.
fn rows(
    dag: &Dag,
    results: &[Option<Result>],
    log_of: &dyn Fn(&str) -> String,
    direction: Direction,
) -> Vec<Row> {
    let mut rows: Vec<Row> = Vec::new();
    let mut ordered: Vec<usize> = (0..dag.len()).filter(|&s| results[s].is_some()).collect();
    // Started stages by start time, then the ones that never started, in DAG order.
    let mut position = vec![0; dag.len()];
    for (at, &s) in dag.order().iter().enumerate() {
        position[s] = at;
    }
    ordered.sort_by_key(|&s| match &results[s] {
        Some(Result::Done { started, .. }) => (0, Some(*started), position[s]),
        _ => (1, None, position[s]),
    });
    for s in ordered {
        let name = dag.name(s).to_string();
        let row = match results[s].as_ref().expect("filtered") {
            Result::Done { outcome, duration, .. } => {
                let took = format_duration(*duration);
                match outcome {
                    Outcome::Ran { .. } => (name, "ran", took, String::new()),
                    Outcome::UpToDate => (name, "up to date", took, String::new()),
                    Outcome::Skipped(why) => (name, "skipped", took, why.clone()),
                    Outcome::Failed { reason: why, .. } => {
                        let log = log_of(dag.name(s));
                        // A multi-line reason (every invalid input) was printed in full when
                        // the stage failed; the summary keeps one line per stage.
                        (name, "FAILED", took, format!("{}; log: {log}", first_line(why)))
                    }
                    Outcome::Interrupted => {
                        let log = log_of(dag.name(s));
                        (name, "interrupted", took, format!("recorded unknown; log: {log}"))
                    }
                }
            }
            Result::Blocked { by } => {
                let noun = direction.waits_for_noun();
                (name, "not run", "-".into(), format!("{noun} '{}' failed", dag.name(*by)))
            }
            Result::Stopped(Stop::Failure) => {
                (name, "not run", "-".into(), "run stopped after a failure (use -k to keep going)".into())
            }
            Result::Stopped(Stop::Interrupt | Stop::Terminate) => {
                (name, "not run", "-".into(), "run interrupted".into())
            }
        };
        rows.push(row);
    }
    rows
}

/// Renders the summary; `log_of` gives the log path shown for a failed stage.
pub(crate) fn render(
    dag: &Dag,
    results: &[Option<Result>],
    command: &str,
    log_of: &dyn Fn(&str) -> String,
    direction: Direction,
) -> String {
    let rows = rows(dag, results, log_of, direction);
    let mut out = headline(results, command);
    let width = rows.iter().map(|r| r.0.len()).max().unwrap_or(0);
    for (name, result, took, detail) in rows {
        let tone = match result {
            "ran" => Some(Tone::Good),
            "FAILED" => Some(Tone::Bad),
            "interrupted" => Some(Tone::Warn),
            "not run" | "skipped" => Some(Tone::Dim),
            _ => None,
        };
        // Padded before it is painted: escape codes take no columns.
        let padded = format!("{result:<11}");
        let result = tone.map_or(padded.clone(), |tone| paint(&padded, tone));
        let line = format!("  {name:<width$}  {result} {took:>7}  {detail}");
        let _ = writeln!(out, "{}", line.trim_end());
    }
    out
}

/// `summary (up): 3 ran, …`, with its newline.
fn headline(results: &[Option<Result>], command: &str) -> String {
    let t = totals(results);
    let mut out = format!(
        "summary ({command}): {} ran, {} up to date, {} skipped, {} failed, {} not run",
        t.ran, t.up_to_date, t.skipped, t.failed, t.not_run
    );
    if t.interrupted > 0 {
        let _ = write!(out, ", {} interrupted", t.interrupted);
    }
    out.push('\n');
    out
}

/// The summary as a Markdown table, for `$GITHUB_STEP_SUMMARY`.
pub(crate) fn markdown(
    dag: &Dag,
    results: &[Option<Result>],
    command: &str,
    log_of: &dyn Fn(&str) -> String,
    direction: Direction,
) -> String {
    let cell = |text: &str| text.replace('\\', "\\\\").replace('|', "\\|").replace('\n', " ");
    let mut out = format!("### betterform {}\n\n", headline(results, command).trim_end());
    out += "| stage | result | time | detail |\n| --- | --- | ---: | --- |\n";
    for (name, result, took, detail) in rows(dag, results, log_of, direction) {
        let _ = writeln!(out, "| {} | {} | {} | {} |", cell(&name), result, cell(&took), cell(&detail));
    }
    out
}

/// Under GitHub Actions (`GITHUB_ACTIONS=true`), appends `markdown()` to the file named by
/// `$GITHUB_STEP_SUMMARY`, which GitHub shows on the run's page. Secrets are masked as on the
/// terminal; a file that can't be written costs a warning, never the run.
pub(crate) fn append_step_summary(markdown: impl FnOnce() -> String) {
    if std::env::var("GITHUB_ACTIONS").as_deref() != Ok("true") {
        return;
    }
    let Some(path) = std::env::var_os("GITHUB_STEP_SUMMARY").filter(|p| !p.is_empty()) else {
        return;
    };
    let markdown = markdown();
    let text = crate::mask::mask(&markdown) + "\n";
    let written = std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(&path)
        .and_then(|mut file| std::io::Write::write_all(&mut file, text.as_bytes()));
    if let Err(e) = written {
        super::eprint_line(&format!(
            "warning: cannot append the summary to GITHUB_STEP_SUMMARY {}: {e}",
            std::path::Path::new(&path).display()
        ));
    }
}

/// The first line of a multi-line message, marked as cut.
pub(crate) fn first_line(text: &str) -> String {
    match text.split_once('\n') {
        Some((first, _)) => format!("{} (…)", first.trim_end_matches(':')),
        None => text.to_string(),
    }
}
