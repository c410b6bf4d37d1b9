//! `--output grouped`: each stage's output printed as one block when the stage ends, so
//! parallel stages never interleave. Under GitHub Actions the blocks are collapsible groups.

use std::time::Duration;

use super::reporter::{eprint_line, finished_line};
use crate::events::Outcome;
use crate::events::Reporter;
use crate::graph::{Dag, StageId};

pub(crate) struct GroupedReporter<'a> {
    dag: &'a Dag,
    command: &'a str,
    buffers: Vec<Vec<String>>,
    github: bool,
}

impl<'a> GroupedReporter<'a> {
    pub(crate) fn new(dag: &'a Dag, command: &'a str) -> Self {
        let github = std::env::var("GITHUB_ACTIONS").is_ok_and(|v| v == "true");
        GroupedReporter { dag, command, buffers: vec![Vec::new(); dag.len()], github }
    }
}

impl Reporter for GroupedReporter<'_> {
    fn started(&mut self, stage: StageId) {
        eprint_line(&format!("==> {}: {} started", self.dag.name(stage), self.command));
    }

    fn line(&mut self, stage: StageId, text: &str) {
        self.buffers[stage].push(format!("[{}] {text}", self.dag.name(stage)));
    }

    fn note(&mut self, stage: StageId, text: &str) {
        self.buffers[stage].push(format!("==> {}: {text}", self.dag.name(stage)));
    }

    fn finished(&mut self, stage: StageId, outcome: &Outcome, duration: Duration) {
        let end = finished_line(self.dag.name(stage), self.command, outcome, duration);
        let lines = std::mem::take(&mut self.buffers[stage]);
        if self.github {
            // The group title is the outcome, so a collapsed log still says what happened.
            eprint_line(&format!("::group::{}", end.trim_start_matches("==> ")));
            for line in &lines {
                eprint_line(line);
            }
            eprint_line("::endgroup::");
            if outcome.is_failure() {
                eprint_line(&end);
            }
        } else {
            for line in &lines {
                eprint_line(line);
            }
            eprint_line(&end);
        }
    }

    fn message(&mut self, text: &str) {
        eprint_line(&format!("==> {text}"));
    }
}
