//! Machine-readable records of a run for CI systems: a JSON run report (`--report FILE`) and
//! JUnit XML (`--junit FILE`), where each stage is a test case. Both written atomically.

use std::fmt::Write as _;
use std::path::{Path, PathBuf};
use std::time::{Duration, SystemTime};

use serde::Serialize;

use super::timings::Timings;
use crate::events::{Direction, Outcome, Result, Stop};
use crate::fsutil::write_atomic;
use crate::graph::Dag;
use crate::logfile::tail;
use crate::state::{millis, timestamp};

/// One stage of the run as reported.
#[derive(Debug, Serialize)]
pub(crate) struct StageRecord {
    pub(crate) name: String,
    /// `run` (its command ran), `skip` (nothing needed doing) or `none` (never started).
    pub(crate) action: &'static str,
    /// `ran`, `up to date`, `skipped`, `failed`, `interrupted` or `not run`.
    pub(crate) result: &'static str,
    pub(crate) reason: String,
    pub(crate) start: Option<String>,
    pub(crate) end: Option<String>,
    pub(crate) duration_ms: Option<u64>,
    pub(crate) log: Option<PathBuf>,
    pub(crate) exit_code: Option<i32>,
    /// Start and end since the run started, and the wait for a `-j` slot before the start.
    pub(crate) start_ms: Option<u64>,
    pub(crate) end_ms: Option<u64>,
    pub(crate) waited_for_slot_ms: Option<u64>,
    /// On the run's critical path (see `timings`).
    pub(crate) critical: bool,
}

#[derive(Debug, Serialize)]
pub(crate) struct RunReport<'a> {
    pub(crate) command: &'a str,
    pub(crate) started: String,
    pub(crate) ended: String,
    pub(crate) duration_ms: u64,
    pub(crate) exit_code: i32,
    pub(crate) jobs: usize,
    /// The critical path (stage names, in run order), its length, and all slot waits.
    pub(crate) critical_path: Vec<String>,
    pub(crate) critical_path_ms: u64,
    pub(crate) waited_for_slot_ms: u64,
    pub(crate) stages: Vec<StageRecord>,
}

/// Builds the record of each stage the run acted on, in the summary's order.
pub(crate) fn records(
    dag: &Dag,
    results: &[Option<Result>],
    log_of: &dyn Fn(&str) -> PathBuf,
    direction: Direction,
    timings: &Timings,
) -> Vec<StageRecord> {
    let mut records = Vec::new();
    for &s in dag.order() {
        let Some(result) = &results[s] else { continue };
        let name = dag.name(s).to_string();
        let record = match result {
            Result::Done { outcome, started, duration, .. } => {
                let span = timings.spans[s];
                let (action, result, reason, ran) = match outcome {
                    Outcome::Ran { reason, .. } => ("run", "ran", reason.to_string(), true),
                    Outcome::UpToDate => ("skip", "up to date", "up to date".into(), false),
                    Outcome::Skipped(why) => ("skip", "skipped", why.clone(), false),
                    Outcome::Failed { reason, .. } => ("run", "failed", reason.clone(), true),
                    Outcome::Interrupted => ("run", "interrupted", "interrupted by a signal".into(), true),
                };
                StageRecord {
                    action,
                    result,
                    reason,
                    start: Some(timestamp(*started)),
                    end: Some(timestamp(*started + *duration)),
                    duration_ms: Some(millis(*duration)),
                    log: ran.then(|| log_of(&name)),
                    exit_code: outcome.exit_code(),
                    start_ms: span.map(|p| millis(p.start)),
                    end_ms: span.map(|p| millis(p.end)),
                    waited_for_slot_ms: span.map(|p| millis(p.waited)),
                    critical: timings.is_critical(s),
                    name,
                }
            }
            Result::Blocked { by } => {
                not_run(name, format!("{} '{}' failed", direction.waits_for_noun(), dag.name(*by)))
            }
            Result::Stopped(Stop::Failure) => not_run(name, "run stopped after a failure".into()),
            Result::Stopped(Stop::Interrupt | Stop::Terminate) => not_run(name, "run interrupted".into()),
        };
        records.push(record);
    }
    records
}

fn not_run(name: String, reason: String) -> StageRecord {
    StageRecord {
        name,
        action: "none",
        result: "not run",
        reason,
        start: None,
        end: None,
        duration_ms: None,
        log: None,
        exit_code: None,
        start_ms: None,
        end_ms: None,
        waited_for_slot_ms: None,
        critical: false,
    }
}

pub(crate) fn write_json(path: &Path, report: &RunReport<'_>) -> std::io::Result<()> {
    let mut text = serde_json::to_vec_pretty(report).expect("reports serialize");
    text.push(b'\n');
    write_atomic(path, &text, None)
}

fn xml_escape(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&apos;"),
            // Control characters are not allowed in XML 1.0, even escaped.
            c if (c as u32) < 0x20 && !matches!(c, '\n' | '\t' | '\r') => out.push('\u{fffd}'),
            c => out.push(c),
        }
    }
    out
}

pub(crate) fn write_junit(path: &Path, report: &RunReport<'_>) -> std::io::Result<()> {
    let count = |r: &str| report.stages.iter().filter(|s| s.result == r).count();
    let failures = count("failed") + count("interrupted");
    let skipped = report.stages.len() - failures - count("ran");
    let secs = |ms: Option<u64>| Duration::from_millis(ms.unwrap_or(0)).as_secs_f64();
    let mut xml = String::from("<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n");
    let suite = format!("betterform {}", report.command);
    let _ = writeln!(
        xml,
        "<testsuites name=\"betterform\" tests=\"{}\" failures=\"{failures}\" skipped=\"{skipped}\" time=\"{:.3}\">",
        report.stages.len(),
        secs(Some(report.duration_ms))
    );
    let _ = writeln!(
        xml,
        "  <testsuite name=\"{suite}\" tests=\"{}\" failures=\"{failures}\" skipped=\"{skipped}\" time=\"{:.3}\" timestamp=\"{}\">",
        report.stages.len(),
        secs(Some(report.duration_ms)),
        report.started
    );
    for stage in &report.stages {
        let _ = write!(
            xml,
            "    <testcase name=\"{}\" classname=\"{suite}\" time=\"{:.3}\"",
            xml_escape(&stage.name),
            secs(stage.duration_ms)
        );
        match stage.result {
            "ran" => xml.push_str("/>\n"),
            "failed" | "interrupted" => {
                let tail = stage.log.as_deref().map(|l| tail(l, 50).join("\n")).unwrap_or_default();
                let _ = writeln!(
                    xml,
                    ">\n      <failure message=\"{}\" type=\"{}\">{}</failure>\n    </testcase>",
                    xml_escape(&stage.reason),
                    stage.result,
                    xml_escape(&tail)
                );
            }
            _ => {
                let _ = writeln!(
                    xml,
                    ">\n      <skipped message=\"{}: {}\"/>\n    </testcase>",
                    stage.result,
                    xml_escape(&stage.reason)
                );
            }
        }
    }
    xml.push_str("  </testsuite>\n</testsuites>\n");
    write_atomic(path, xml.as_bytes(), None)
}

/// The wall-clock span of a run, for the report header.
pub(crate) fn span(started: SystemTime, ended: SystemTime) -> (String, String, u64) {
    (timestamp(started), timestamp(ended), millis(ended.duration_since(started).unwrap_or_default()))
}
