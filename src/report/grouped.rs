//! `--output grouped`: each stage's output printed as one block when the stage ends, so
//! parallel stages never interleave. Under GitHub Actions and GitLab CI a stage that succeeded
//! is a collapsed section titled with its outcome; a failed stage is never folded away: an
//! error annotation, then its output in the open. A stage with no output gets no section.

use std::time::{Duration, SystemTime};

use super::reporter::{display_path, eprint_line, finished_line};
use crate::events::Outcome;
use crate::events::Reporter;

use crate::graph::{Dag, StageId};
use crate::wave::Wave;

/// Whose log viewer reads the output, as far as sections and annotations go.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Viewer {
    Plain,
    /// `::group::`/`::endgroup::` and `::error::` workflow commands.
    GithubActions,
    /// `section_start`/`section_end` markers.
    GitlabCi,
}

impl Viewer {
    fn from_env() -> Viewer {
        let set = |var: &str| std::env::var(var).is_ok_and(|v| v == "true");
        if set("GITHUB_ACTIONS") {
            Viewer::GithubActions
        } else if set("GITLAB_CI") {
            Viewer::GitlabCi
        } else {
            Viewer::Plain
        }
    }
}

pub(crate) struct GroupedReporter<'a> {
    dag: &'a Dag,
    /// Where the stages' logs are, for the failure annotation.
    wave: &'a Wave,
    command: &'a str,
    buffers: Vec<Vec<String>>,
    viewer: Viewer,
}

impl<'a> GroupedReporter<'a> {
    pub(crate) fn new(dag: &'a Dag, wave: &'a Wave, command: &'a str) -> Self {
        GroupedReporter {
            dag,
            wave,
            command,
            buffers: vec![Vec::new(); dag.len()],
            viewer: Viewer::from_env(),
        }
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
        let name = self.dag.name(stage);
        let end = finished_line(name, self.command, outcome, duration);
        let lines = std::mem::take(&mut self.buffers[stage]);
        let folded = !lines.is_empty() && !outcome.is_failure();
        match self.viewer {
            Viewer::GithubActions if folded => {
                // The group title is the outcome, so a collapsed log still says what happened.
                eprint_line(&format!("::group::{}", end.trim_start_matches("==> ")));
                lines.iter().for_each(|line| eprint_line(line));
                eprint_line("::endgroup::");
            }
            Viewer::GitlabCi if folded => {
                let section = gitlab_section(name);
                let now =
                    SystemTime::now().duration_since(SystemTime::UNIX_EPOCH).unwrap_or_default().as_secs();
                eprint_line(&format!("\x1b[0Ksection_start:{now}:{section}[collapsed=true]\r\x1b[0K{end}"));
                lines.iter().for_each(|line| eprint_line(line));
                eprint_line(&format!("\x1b[0Ksection_end:{now}:{section}\r\x1b[0K"));
            }
            viewer => {
                if let (Viewer::GithubActions, Outcome::Failed { reason, .. }) = (viewer, outcome) {
                    let title = github_escape(&format!("{name}: {} failed", self.command), true);
                    let log = self.wave.log_path(name, self.command);
                    let message = match log.exists() {
                        true => format!("{reason} (log: {})", display_path(&log)),
                        false => reason.clone(),
                    };
                    eprint_line(&format!("::error title={title}::{}", github_escape(&message, false)));
                }
                lines.iter().for_each(|line| eprint_line(line));
                eprint_line(&end);
            }
        }
    }

    fn message(&mut self, text: &str) {
        eprint_line(&format!("==> {text}"));
    }
}

/// A GitLab section name: letters, digits, `_`, `.` and `-` only.
fn gitlab_section(stage: &str) -> String {
    let name: String =
        stage.chars().map(|c| if c.is_ascii_alphanumeric() || "_.-".contains(c) { c } else { '_' }).collect();
    format!("betterform_{name}")
}

/// Escapes a GitHub workflow command's message, or one of its property values.
fn github_escape(text: &str, property: bool) -> String {
    let mut out = text.replace('%', "%25").replace('\r', "%0D").replace('\n', "%0A");
    if property {
        out = out.replace(':', "%3A").replace(',', "%2C");
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn github_messages_and_properties_are_escaped() {
        assert_eq!(github_escape("50% done\nnext", false), "50%25 done%0Anext");
        assert_eq!(github_escape("db: up, failed", true), "db%3A up%2C failed");
    }

    #[test]
    fn gitlab_section_names_keep_only_allowed_characters() {
        assert_eq!(gitlab_section("db.main-1_x"), "betterform_db.main-1_x");
        assert_eq!(gitlab_section("a b/c"), "betterform_a_b_c");
    }
}
