//! The options of a run, resolved once from the command line: what the execution layer is
//! told, in its own types.

use std::path::PathBuf;
use std::time::Duration;

use crate::config::JsonnetArgs;
use crate::report::Display;
use crate::stamp::Delimiters;

#[derive(Debug, Clone)]
pub(crate) struct RunOptions {
    /// At most this many stages at once.
    pub(crate) jobs: usize,
    /// After a failure, keep starting stages that do not depend on it.
    pub(crate) keep_going: bool,
    /// Re-stamp and re-run targeted stages even if they are up to date.
    pub(crate) force: bool,
    /// Act on exactly the named stages; dependencies' status is not checked.
    pub(crate) only: bool,
    /// How long stages get to stop after a forwarded signal before SIGKILL.
    pub(crate) grace: Duration,
    /// How long one stage's command may run before it is stopped and recorded failed.
    pub(crate) stage_timeout: Option<Duration>,
    /// How stage output is shown.
    pub(crate) display: Display,
    /// Where to write the JSON run report and the JUnit XML, if anywhere.
    pub(crate) report: Option<PathBuf>,
    pub(crate) junit: Option<PathBuf>,
    /// Where to write the run's HTML timeline (`--timings[=FILE]`), if anywhere.
    pub(crate) timings: TimingsPage,
    /// Template expression delimiters.
    pub(crate) delimiters: Delimiters,
    /// The jsonnet CLI's inputs for the config.
    pub(crate) jsonnet: JsonnetArgs,
    /// An interactive run (stdin a terminal, `INTERACTIVE` not `false`): stages may prompt.
    /// With `-j 1` a stage gets the terminal itself; in parallel, one of its own each.
    pub(crate) terminals: bool,
}

/// Where `--timings` writes the run's HTML timeline.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum TimingsPage {
    /// No `--timings`: only the timing record (`status --timings`) is kept.
    Off,
    /// `--timings`: `$GENFILES/.betterform/timings/<run-id>.html` and `latest.html` beside it.
    Default,
    /// `--timings=FILE`.
    File(PathBuf),
}
