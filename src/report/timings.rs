//! Where the time of a run went: each stage's span on the run's own clock (start and end
//! since the run started), how long it waited for a `-j` slot after everything it waits for
//! was done, and the **critical path**: the chain of stages, each released by the one before
//! it, that ends with the last stage to finish. Its durations are what the run's wall time is
//! made of; what they do not cover is slot waits and betterform's own work between stages.
//!
//! Built from the run's results once it ended, purely (no clock, no files), so the algorithm
//! is tested on DAGs whose answer is known by hand. The summary, `--report`, the HTML
//! timeline (`timeline`) and `status --timings` (through the record written to
//! `$GENFILES/.betterform/timings/latest.json`) all show this one computation.

use std::fmt::Write as _;
use std::path::{Path, PathBuf};
use std::time::{Duration, SystemTime};

use serde::{Deserialize, Serialize};

use super::reporter::format_duration;
use crate::events::{Direction, Outcome, Result};
use crate::graph::{Dag, StageId};
use crate::state::{millis, timestamp};

/// When one stage ran, on the run's clock.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Span {
    /// Since the run started.
    pub(crate) start: Duration,
    pub(crate) end: Duration,
    /// Ready (everything it waits for done) but no `-j` slot free, before `start`.
    pub(crate) waited: Duration,
}

impl Span {
    pub(crate) fn duration(&self) -> Duration {
        self.end.saturating_sub(self.start)
    }
}

/// The chain of stages that ends with the last one to finish: from that stage, step back to
/// whichever of the stages it waited for (in the run's direction) finished last, the one that
/// released it, until a stage waited for none that ran. Returned in run order.
///
/// Ties (only exact ones: times are in nanoseconds) never depend on hash or thread order: the
/// last stage is the one that also started last, then the one declared last (zero-length
/// up-to-date stages end together with what they wait for); among the stages it waited for,
/// the longer one, then the one declared first.
pub(crate) fn critical_path(
    spans: &[Option<Span>],
    waits_for: &dyn Fn(StageId) -> Vec<StageId>,
) -> Vec<StageId> {
    let span = |s: StageId| spans[s].expect("only stages that ran are compared");
    let last =
        (0..spans.len()).filter(|&s| spans[s].is_some()).max_by_key(|&s| (span(s).end, span(s).start, s));
    let mut chain = Vec::new();
    let mut current = last;
    while let Some(stage) = current {
        chain.push(stage);
        current = waits_for(stage)
            .into_iter()
            .filter(|&s| spans[s].is_some())
            .max_by_key(|&s| (span(s).end, span(s).duration(), std::cmp::Reverse(s)));
    }
    chain.reverse();
    chain
}

/// How a stage ended, as the timings name it (the summary's words).
pub(crate) fn result_label(outcome: &Outcome) -> &'static str {
    match outcome {
        Outcome::Ran { .. } => "ran",
        Outcome::UpToDate => "up to date",
        Outcome::Skipped(_) => "skipped",
        Outcome::Failed { .. } => "failed",
        Outcome::Interrupted => "interrupted",
    }
}

/// The timings of one run.
#[derive(Debug, Clone)]
pub(crate) struct Timings {
    /// The run's wall time, from the scheduler's start to its end.
    pub(crate) wall: Duration,
    /// The `-j` the run was given.
    pub(crate) jobs: usize,
    /// Per stage id: its span, for the stages that started.
    pub(crate) spans: Vec<Option<Span>>,
    /// The critical path, in run order.
    pub(crate) critical: Vec<StageId>,
}

impl Timings {
    /// The timings of a run that started at `started` and ended at `ended`.
    pub(crate) fn of(
        dag: &Dag,
        results: &[Option<Result>],
        direction: Direction,
        (started, ended): (SystemTime, SystemTime),
        jobs: usize,
    ) -> Timings {
        let since = |t: SystemTime| t.duration_since(started).unwrap_or_default();
        let spans: Vec<Option<Span>> = results
            .iter()
            .map(|r| match r {
                Some(Result::Done { started: at, duration, waited, .. }) => {
                    let start = since(*at);
                    Some(Span { start, end: start + *duration, waited: *waited })
                }
                _ => None,
            })
            .collect();
        let critical = critical_path(&spans, &|s| direction.waits_for(dag, s).to_vec());
        Timings { wall: since(ended), jobs, spans, critical }
    }

    /// The sum of the critical path's durations.
    pub(crate) fn critical_total(&self) -> Duration {
        self.critical.iter().filter_map(|&s| self.spans[s]).map(|s| s.duration()).sum()
    }

    /// How long stages waited for a slot: in all, and those on the critical path.
    pub(crate) fn waited(&self) -> (Duration, Duration) {
        let total = self.spans.iter().flatten().map(|s| s.waited).sum();
        let critical = self.critical.iter().filter_map(|&s| self.spans[s]).map(|s| s.waited).sum();
        (total, critical)
    }

    pub(crate) fn is_critical(&self, stage: StageId) -> bool {
        self.critical.contains(&stage)
    }

    /// The summary's closing lines, empty when no stage started:
    /// `critical path: a 2.1s → b 8.0s = 10.1s of 10.4s` and the slot waits.
    pub(crate) fn summary(&self, dag: &Dag) -> String {
        if self.critical.is_empty() {
            return String::new();
        }
        let links: Vec<String> = self
            .critical
            .iter()
            .map(|&s| format!("{} {}", dag.name(s), format_duration(self.spans[s].expect("ran").duration())))
            .collect();
        let mut out = format!(
            "critical path: {} = {} of {}\n",
            elide(&links),
            format_duration(self.critical_total()),
            format_duration(self.wall)
        );
        let (total, critical) = self.waited();
        let _ = writeln!(
            out,
            "waited for a -j slot: {} in all, {} of it on the critical path (-j {})",
            format_duration(total),
            format_duration(critical),
            self.jobs
        );
        out
    }

    /// The record of the run (`latest.json`, the page's data): every stage the run acted on,
    /// in DAG order, with its span, its dependencies among them, and its log when it ran.
    pub(crate) fn record(&self, dag: &Dag, results: &[Option<Result>], run: RunInfo<'_>) -> Record {
        let member = |s: StageId| results[s].is_some();
        let ms = |d: Duration| millis(d);
        let stages = dag
            .order()
            .iter()
            .copied()
            .filter(|&s| member(s))
            .map(|s| {
                let span = self.spans[s];
                let (result, ran) = match &results[s] {
                    Some(Result::Done { outcome, .. }) => (
                        result_label(outcome),
                        matches!(
                            outcome,
                            Outcome::Ran { .. } | Outcome::Failed { .. } | Outcome::Interrupted
                        ),
                    ),
                    _ => ("not run", false),
                };
                StageTiming {
                    name: dag.name(s).to_string(),
                    result: result.to_string(),
                    start_ms: span.map(|p| ms(p.start)),
                    end_ms: span.map(|p| ms(p.end)),
                    duration_ms: span.map(|p| ms(p.duration())),
                    waited_for_slot_ms: span.map(|p| ms(p.waited)),
                    critical: self.is_critical(s),
                    deps: dag
                        .deps(s)
                        .iter()
                        .filter(|&&d| member(d))
                        .map(|&d| dag.name(d).to_string())
                        .collect(),
                    log: ran.then(|| (run.log_of)(dag.name(s))),
                }
            })
            .collect();
        let (waited, _) = self.waited();
        Record {
            run: run.id.to_string(),
            command: run.command.to_string(),
            direction: run.direction.command().to_string(),
            started: timestamp(run.started),
            wall_ms: ms(self.wall),
            jobs: self.jobs,
            critical_path: self.critical.iter().map(|&s| dag.name(s).to_string()).collect(),
            critical_path_ms: ms(self.critical_total()),
            waited_for_slot_ms: ms(waited),
            stages,
        }
    }
}

/// A long chain keeps its first and last links, and says how many were left out between.
fn elide(links: &[String]) -> String {
    const KEEP: usize = 4;
    if links.len() <= 2 * KEEP + 1 {
        return links.join(" → ");
    }
    let left_out = links.len() - 2 * KEEP;
    format!(
        "{} → … {left_out} more … → {}",
        links[..KEEP].join(" → "),
        links[links.len() - KEEP..].join(" → ")
    )
}

/// What the record says about the run besides its stages.
pub(crate) struct RunInfo<'a> {
    pub(crate) id: &'a str,
    pub(crate) command: &'a str,
    pub(crate) direction: Direction,
    pub(crate) started: SystemTime,
    pub(crate) log_of: &'a dyn Fn(&str) -> PathBuf,
}

/// The timings of a run as written to `latest.json` and embedded in the HTML page.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
pub(crate) struct Record {
    /// The run's id (the `run` of the stage records it wrote; the page's file name).
    pub(crate) run: String,
    /// What the stages ran: `up`, `down` or a verb.
    pub(crate) command: String,
    /// `up` (dependencies first) or `down` (dependents first).
    pub(crate) direction: String,
    pub(crate) started: String,
    pub(crate) wall_ms: u64,
    pub(crate) jobs: usize,
    /// Stage names, in run order.
    pub(crate) critical_path: Vec<String>,
    pub(crate) critical_path_ms: u64,
    /// All stages' slot waits, added up.
    pub(crate) waited_for_slot_ms: u64,
    pub(crate) stages: Vec<StageTiming>,
}

/// One stage in a [`Record`]; the times are `None` for a stage that never started.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
pub(crate) struct StageTiming {
    pub(crate) name: String,
    /// `ran`, `up to date`, `skipped`, `failed`, `interrupted` or `not run`.
    pub(crate) result: String,
    /// Since the run started.
    pub(crate) start_ms: Option<u64>,
    pub(crate) end_ms: Option<u64>,
    pub(crate) duration_ms: Option<u64>,
    pub(crate) waited_for_slot_ms: Option<u64>,
    pub(crate) critical: bool,
    /// Its dependencies among the run's stages (whatever the direction: the DAG's edges).
    pub(crate) deps: Vec<String>,
    /// Its log of this run, when its command ran.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub(crate) log: Option<PathBuf>,
}

/// Where the timings of runs are kept, under betterform's own directory.
pub(crate) fn dir(state_dir: &Path) -> PathBuf {
    state_dir.join("timings")
}

/// The record of the last `up`, `down` or `run`.
pub(crate) fn record_path(state_dir: &Path) -> PathBuf {
    dir(state_dir).join("latest.json")
}

/// Replaces the timing record through its spare, as a stage's record is replaced: an
/// exchange, where a rename over the old file would make ext4 write the new one out at once
/// (about 1 ms of a no-op run of 3,000 stages, whose record is 400 KB).
pub(crate) fn write_record(state_dir: &Path, record: &Record) -> std::io::Result<()> {
    let path = record_path(state_dir);
    crate::fsutil::write_record_streamed(&path, crate::fsutil::Durability::Atomic, |out| {
        serde_json::to_writer(&mut *out, record)?;
        out.write_all(b"\n")
    })
}

/// The last run's record, if one was written.
pub(crate) fn read_record(state_dir: &Path) -> std::result::Result<Option<Record>, String> {
    let path = record_path(state_dir);
    match std::fs::read(&path) {
        Ok(bytes) => serde_json::from_slice(&bytes).map(Some).map_err(|e| {
            format!("timing record {} is corrupt ({e}); the next run rewrites it", path.display())
        }),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
        Err(e) => Err(format!("cannot read timing record {}: {e}", path.display())),
    }
}

/// The closing lines of a record, as the summary printed them (`status --timings`).
pub(crate) fn record_summary(record: &Record) -> String {
    let ms = |ms: u64| format_duration(Duration::from_millis(ms));
    let by_name = |name: &str| record.stages.iter().find(|s| s.name == name);
    if record.critical_path.is_empty() {
        return String::new();
    }
    let links: Vec<String> = record
        .critical_path
        .iter()
        .map(|name| format!("{name} {}", ms(by_name(name).and_then(|s| s.duration_ms).unwrap_or(0))))
        .collect();
    let on_path: u64 =
        record.critical_path.iter().filter_map(|name| by_name(name).and_then(|s| s.waited_for_slot_ms)).sum();
    format!(
        "critical path: {} = {} of {}\nwaited for a -j slot: {} in all, {} of it on the critical path (-j {})\n",
        elide(&links),
        ms(record.critical_path_ms),
        ms(record.wall_ms),
        ms(record.waited_for_slot_ms),
        ms(on_path),
        record.jobs
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::events::Reason;

    fn dag(text: &str) -> Dag {
        Dag::parse(Path::new("dag.mk"), text).unwrap()
    }

    fn s(secs: f64) -> Duration {
        Duration::from_secs_f64(secs)
    }

    /// Spans by name: (stage, start, end, waited), in seconds.
    fn spans(dag: &Dag, list: &[(&str, f64, f64, f64)]) -> Vec<Option<Span>> {
        let mut spans = vec![None; dag.len()];
        for &(name, start, end, waited) in list {
            spans[dag.lookup(name).unwrap()] = Some(Span { start: s(start), end: s(end), waited: s(waited) });
        }
        spans
    }

    fn path(dag: &Dag, spans: &[Option<Span>], direction: Direction) -> Vec<String> {
        critical_path(spans, &|st| direction.waits_for(dag, st).to_vec())
            .into_iter()
            .map(|st| dag.name(st).to_string())
            .collect()
    }

    const DIAMOND: &str = "$(call define_stage, state_storage, )\n$(call define_stage, parallel_a, state_storage)\n\
        $(call define_stage, parallel_b, state_storage)\n$(call define_stage, final, parallel_a parallel_b)\n";

    #[test]
    fn a_chain_is_its_own_critical_path() {
        let d = dag("$(call define_stage, a, )\n$(call define_stage, b, a)\n$(call define_stage, c, b)\n");
        let sp = spans(&d, &[("a", 0.0, 1.0, 0.0), ("b", 1.0, 3.0, 0.0), ("c", 3.0, 3.5, 0.0)]);
        assert_eq!(path(&d, &sp, Direction::Up), ["a", "b", "c"]);
    }

    #[test]
    fn a_diamond_goes_through_the_branch_that_finished_last() {
        let d = dag(DIAMOND);
        // The example: parallel_b (8.0 s) outlasts parallel_a (3.0 s).
        let sp = spans(
            &d,
            &[
                ("state_storage", 0.0, 2.1, 0.0),
                ("parallel_a", 2.2, 5.2, 0.0),
                ("parallel_b", 2.2, 10.2, 0.0),
                ("final", 10.5, 11.7, 0.0),
            ],
        );
        assert_eq!(path(&d, &sp, Direction::Up), ["state_storage", "parallel_b", "final"]);
        let t = Timings {
            wall: s(11.9),
            jobs: 4,
            critical: critical_path(&sp, &|x| d.deps(x).to_vec()),
            spans: sp,
        };
        assert_eq!(t.critical_total(), s(2.1) + s(8.0) + s(1.2));
        assert_eq!(
            t.summary(&d),
            "critical path: state_storage 2.1s → parallel_b 8.0s → final 1.2s = 11.3s of 11.9s\n\
             waited for a -j slot: 0.0s in all, 0.0s of it on the critical path (-j 4)\n"
        );
    }

    #[test]
    fn down_follows_the_dependents() {
        let d = dag(DIAMOND);
        // Down: final first, then both branches, then state_storage; parallel_a took longest.
        let sp = spans(
            &d,
            &[
                ("final", 0.0, 1.0, 0.0),
                ("parallel_a", 1.0, 6.0, 0.0),
                ("parallel_b", 1.0, 2.0, 0.0),
                ("state_storage", 6.0, 7.0, 0.0),
            ],
        );
        assert_eq!(path(&d, &sp, Direction::Down), ["final", "parallel_a", "state_storage"]);
    }

    #[test]
    fn a_wide_fan_in_takes_the_slowest_of_many() {
        let mut text = String::from("$(call define_stage, root, )\n");
        let leaves: Vec<String> = (0..20).map(|i| format!("leaf{i}")).collect();
        for leaf in &leaves {
            text += &format!("$(call define_stage, {leaf}, root)\n");
        }
        text += &format!("$(call define_stage, sink, {})\n", leaves.join(" "));
        let d = dag(&text);
        let mut list: Vec<(&str, f64, f64, f64)> = vec![("root", 0.0, 1.0, 0.0)];
        for (i, leaf) in leaves.iter().enumerate() {
            // leaf13 ends last, at 1 + 13/10 + 3 = 5.3 s.
            let end = if i == 13 { 5.3 } else { 1.0 + f64::from(i as u8) / 10.0 };
            list.push((leaf, 1.0, end, 0.0));
        }
        list.push(("sink", 5.3, 6.0, 0.0));
        let sp = spans(&d, &list);
        assert_eq!(path(&d, &sp, Direction::Up), ["root", "leaf13", "sink"]);
    }

    #[test]
    fn up_to_date_stages_of_zero_duration_stay_on_the_chain_and_ties_are_stable() {
        let d = dag(DIAMOND);
        // Everything up to date but parallel_a: the zero-length stages still link the chain.
        let sp = spans(
            &d,
            &[
                ("state_storage", 0.0, 0.0, 0.0),
                ("parallel_a", 0.0, 4.0, 0.0),
                ("parallel_b", 0.0, 0.0, 0.0),
                ("final", 4.0, 4.0, 0.0),
            ],
        );
        assert_eq!(path(&d, &sp, Direction::Up), ["state_storage", "parallel_a", "final"]);
        // All zero: the tie goes to the lower id (declaration order), every time.
        let zero = spans(
            &d,
            &[
                ("state_storage", 0.0, 0.0, 0.0),
                ("parallel_a", 0.0, 0.0, 0.0),
                ("parallel_b", 0.0, 0.0, 0.0),
                ("final", 0.0, 0.0, 0.0),
            ],
        );
        assert_eq!(path(&d, &zero, Direction::Up), ["state_storage", "parallel_a", "final"]);
        assert!(path(&d, &vec![None; d.len()], Direction::Up).is_empty(), "nothing started");
    }

    #[test]
    fn a_slot_wait_is_counted_and_does_not_bend_the_chain() {
        // -j 1 on: a → c, and b independent. b took the slot first; c waited 1 s for it.
        let d = dag("$(call define_stage, a, )\n$(call define_stage, b, )\n$(call define_stage, c, a)\n");
        let sp = spans(&d, &[("a", 0.0, 1.0, 0.0), ("b", 1.0, 2.0, 1.0), ("c", 2.0, 3.0, 1.0)]);
        let critical = critical_path(&sp, &|x| d.deps(x).to_vec());
        let t = Timings { wall: s(3.0), jobs: 1, critical, spans: sp };
        assert_eq!(t.critical.iter().map(|&x| d.name(x)).collect::<Vec<_>>(), ["a", "c"]);
        assert_eq!(t.waited(), (s(2.0), s(1.0)));
        assert!(
            t.summary(&d)
                .ends_with("waited for a -j slot: 2.0s in all, 1.0s of it on the critical path (-j 1)\n")
        );
    }

    #[test]
    fn a_stage_outside_the_run_does_not_link_the_chain() {
        // `up --only b`: a did not run, so b's chain is b alone.
        let d = dag("$(call define_stage, a, )\n$(call define_stage, b, a)\n");
        let sp = spans(&d, &[("b", 0.0, 2.0, 0.0)]);
        assert_eq!(path(&d, &sp, Direction::Up), ["b"]);
    }

    #[test]
    fn timings_of_results_measure_from_the_run_start_and_the_record_reads_back() {
        let d = dag(DIAMOND);
        let t0 = SystemTime::UNIX_EPOCH + Duration::from_secs(1_000_000);
        let done = |start: f64, dur: f64, waited: f64, outcome: Outcome| {
            Some(Result::Done { outcome, started: t0 + s(start), duration: s(dur), waited: s(waited) })
        };
        let ran = || Outcome::Ran { reason: Reason::NeverUp, exit_code: Some(0) };
        let results = vec![
            done(0.0, 1.0, 0.0, Outcome::UpToDate),
            done(1.0, 2.0, 0.0, Outcome::failed("boom")),
            done(3.0, 1.5, 2.0, ran()),
            Some(Result::Blocked { by: d.lookup("parallel_a").unwrap() }),
        ];
        let t = Timings::of(&d, &results, Direction::Up, (t0, t0 + s(5.0)), 1);
        assert_eq!(
            t.critical.iter().map(|&x| d.name(x)).collect::<Vec<_>>(),
            ["state_storage", "parallel_b"]
        );
        let log_of = |name: &str| PathBuf::from(format!("logs/{name}/up.log"));
        let info =
            RunInfo { id: "r1", command: "up", direction: Direction::Up, started: t0, log_of: &log_of };
        let record = t.record(&d, &results, info);
        assert_eq!(record.wall_ms, 5000);
        assert_eq!(record.critical_path_ms, 2500);
        assert_eq!(record.waited_for_slot_ms, 2000);
        let b = &record.stages[2];
        assert_eq!((b.name.as_str(), b.result.as_str()), ("parallel_b", "ran"));
        assert_eq!(
            (b.start_ms, b.end_ms, b.waited_for_slot_ms, b.critical),
            (Some(3000), Some(4500), Some(2000), true)
        );
        assert_eq!(record.stages[0].log, None, "an up-to-date stage ran nothing: no log");
        assert_eq!(record.stages[1].log, Some(PathBuf::from("logs/parallel_a/up.log")));
        let fin = &record.stages[3];
        assert_eq!((fin.result.as_str(), fin.start_ms, fin.critical), ("not run", None, false));
        assert_eq!(fin.deps, ["parallel_a", "parallel_b"]);
        assert_eq!(record_summary(&record), t.summary(&d));

        let dir = tempfile::tempdir().unwrap();
        assert_eq!(read_record(dir.path()), Ok(None));
        write_record(dir.path(), &record).unwrap();
        assert_eq!(read_record(dir.path()), Ok(Some(record)));
    }

    #[test]
    fn a_long_chain_is_elided_in_the_middle() {
        let links: Vec<String> = (0..12).map(|i| format!("s{i}")).collect();
        assert_eq!(elide(&links), "s0 → s1 → s2 → s3 → … 4 more … → s8 → s9 → s10 → s11");
        assert_eq!(elide(&links[..9]), links[..9].join(" → "));
    }
}
