//! The terminal display: one spinner line per running stage (name, elapsed time, its latest
//! output line) above a done/total counter. Finished stages print their outcome above the
//! bars; a failed stage's log tail is printed at once, so nobody has to wait for the summary.

use std::io::IsTerminal;
use std::os::fd::AsFd;
use std::path::PathBuf;
use std::time::Duration;

use indicatif::{MultiProgress, ProgressBar, ProgressStyle};
use nix::sys::termios::{self, LocalFlags, SetArg, Termios};

use super::reporter::finished_line;
use crate::events::Outcome;
use crate::events::Reporter;
use crate::graph::{Dag, StageId};

/// Lines of a failed stage's log shown as soon as it fails.
const TAIL: usize = 20;

/// How often the spinners, elapsed times and the counter are redrawn.
const TICK: Duration = Duration::from_millis(120);

pub(crate) struct LiveReporter<'a> {
    dag: &'a Dag,
    command: &'a str,
    log_of: &'a dyn Fn(&str) -> PathBuf,
    multi: MultiProgress,
    bars: Vec<Option<ProgressBar>>,
    /// The spinner line's template, its name column as wide as the longest stage name.
    spinner_style: ProgressStyle,
    counter: ProgressBar,
    _echo: EchoOff,
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
        // Shown, and its elapsed time moving, from the start, not from the first stage's end.
        counter.enable_steady_tick(TICK);
        let width = (0..dag.len()).map(|s| dag.name(s).chars().count()).max().unwrap_or(0);
        let spinner_style = ProgressStyle::with_template(&format!(
            "{{spinner}} {{prefix:<{width}}} {{elapsed:>4}}  {{wide_msg}}"
        ))
        .expect("valid template");
        LiveReporter {
            dag,
            command,
            log_of,
            multi,
            bars: vec![None; dag.len()],
            spinner_style,
            counter,
            _echo: EchoOff::new(),
        }
    }

    fn println(&self, text: &str) {
        let _ = self.multi.println(text);
    }
}

impl Reporter for LiveReporter<'_> {
    fn started(&mut self, stage: StageId) {
        let bar = self.multi.insert_before(&self.counter, ProgressBar::new_spinner());
        bar.set_style(self.spinner_style.clone());
        bar.set_prefix(self.dag.name(stage).to_string());
        bar.enable_steady_tick(TICK);
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

/// Keeps the terminal from echoing typed keys while the display is drawn, restoring it when
/// dropped.
///
/// indicatif pads every line it draws to the terminal's width and leaves the cursor in the
/// last column, so the next write begins a new line. Anything the terminal itself echoes
/// there, such as the `^C` of a Ctrl-C, starts that line early: the display then believes it
/// is one line higher than it is, and each redraw leaves a frozen spinner line behind. The
/// live display never reads the keyboard (an interactive run streams lines instead), so the
/// echo is off while it runs.
struct EchoOff {
    saved: Option<Termios>,
}

impl EchoOff {
    fn new() -> EchoOff {
        let stderr = std::io::stderr();
        if !stderr.is_terminal() {
            return EchoOff { saved: None };
        }
        let Ok(saved) = termios::tcgetattr(stderr.as_fd()) else {
            return EchoOff { saved: None };
        };
        let mut quiet = saved.clone();
        quiet.local_flags.remove(LocalFlags::ECHO | LocalFlags::ECHOCTL);
        match termios::tcsetattr(stderr.as_fd(), SetArg::TCSANOW, &quiet) {
            Ok(()) => EchoOff { saved: Some(saved) },
            Err(_) => EchoOff { saved: None },
        }
    }
}

impl Drop for EchoOff {
    fn drop(&mut self) {
        if let Some(saved) = &self.saved {
            let _ = termios::tcsetattr(std::io::stderr().as_fd(), SetArg::TCSANOW, saved);
        }
    }
}
