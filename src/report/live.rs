//! The terminal display: one spinner line per running stage (name, elapsed time, its latest
//! output line) above a done/total counter. Finished stages print their outcome above the
//! bars; a failed stage's log tail is printed at once, so nobody has to wait for the summary.

use std::path::PathBuf;
use std::time::Duration;

use indicatif::{MultiProgress, ProgressBar, ProgressStyle};

use super::reporter::finished_line;
use crate::events::Outcome;
use crate::events::Reporter;
use crate::graph::{Dag, StageId};

/// Lines of a failed stage's log shown as soon as it fails.
const TAIL: usize = 20;

pub(crate) struct LiveReporter<'a> {
    dag: &'a Dag,
    command: &'a str,
    log_of: &'a dyn Fn(&str) -> PathBuf,
    multi: MultiProgress,
    bars: Vec<Option<ProgressBar>>,
    counter: ProgressBar,
}

/// The last `lines` lines of a log, without their time stamps.
pub(crate) fn tail(path: &std::path::Path, lines: usize) -> Vec<String> {
    crate::logfile::tail(path, lines)
}

impl<'a> LiveReporter<'a> {
    pub(crate) fn new(
        dag: &'a Dag,
        command: &'a str,
        total: usize,
        log_of: &'a dyn Fn(&str) -> PathBuf,
    ) -> Self {
        let multi = MultiProgress::new();
        let counter = multi.add(ProgressBar::new(total as u64));
        counter.set_style(
            ProgressStyle::with_template("{pos}/{len} stages done  {elapsed}").expect("valid template"),
        );
        LiveReporter { dag, command, log_of, multi, bars: vec![None; dag.len()], counter }
    }

    fn println(&self, text: &str) {
        let _ = self.multi.println(text);
    }
}

impl Reporter for LiveReporter<'_> {
    fn started(&mut self, stage: StageId) {
        let bar = self.multi.insert_before(&self.counter, ProgressBar::new_spinner());
        bar.set_style(
            ProgressStyle::with_template("{spinner} {prefix} {elapsed:>4}  {wide_msg}")
                .expect("valid template"),
        );
        bar.set_prefix(self.dag.name(stage).to_string());
        bar.enable_steady_tick(Duration::from_millis(120));
        self.bars[stage] = Some(bar);
    }

    fn line(&mut self, stage: StageId, text: &str) {
        if let Some(bar) = &self.bars[stage] {
            bar.set_message(text.to_string());
        }
    }

    fn note(&mut self, stage: StageId, text: &str) {
        if let Some(bar) = &self.bars[stage] {
            bar.set_message(text.to_string());
        }
    }

    fn finished(&mut self, stage: StageId, outcome: &Outcome, duration: Duration) {
        if let Some(bar) = self.bars[stage].take() {
            bar.finish_and_clear();
            self.multi.remove(&bar);
        }
        let name = self.dag.name(stage);
        self.println(&finished_line(name, self.command, outcome, duration));
        if outcome.is_failure() {
            for line in tail(&(self.log_of)(name), TAIL) {
                self.println(&format!("[{name}] {line}"));
            }
        }
        self.counter.inc(1);
    }

    fn message(&mut self, text: &str) {
        self.println(&format!("==> {text}"));
    }
}

impl Drop for LiveReporter<'_> {
    fn drop(&mut self) {
        // Leave no bar behind for the summary printed after the run.
        self.counter.finish_and_clear();
        let _ = self.multi.clear();
    }
}
