//! What several commands share before anything runs: the command line resolved once into
//! the execution layer's [`RunOptions`], the config evaluated and written, and standard output
//! with secrets masked.

use std::io::IsTerminal;
use std::io::Write;
use std::time::Duration;

use crate::cli::{Global, OutputMode};
use crate::config::{self, Config, External, ExternalKind, JsonnetArgs};
use crate::error::Error;
use crate::execute::{RunOptions, TimingsPage};
use crate::project::Project;
use crate::report::{Display, display_path, eprint_line};
use crate::stamp::Delimiters;
use crate::state::ORIGINAL_EVENTS;

/// The options of a run, from the command line and the environment.
pub(crate) fn run_options(global: &Global) -> Result<RunOptions, Error> {
    let jobs = global
        .jobs
        .map_or_else(|| std::thread::available_parallelism().map_or(1, |n| n.get()), |j| j as usize);
    Ok(RunOptions {
        jobs,
        keep_going: global.keep_going,
        force: global.force,
        only: global.only,
        grace: Duration::from_secs(global.grace),
        stage_timeout: global.stage_timeout.map(Into::into),
        display: display(global.output),
        report: global.report.clone(),
        junit: global.junit.clone(),
        timings: match &global.timings {
            None => TimingsPage::Off,
            Some(None) => TimingsPage::Default,
            Some(Some(file)) => TimingsPage::File(file.clone()),
        },
        delimiters: Delimiters { left: global.left_delim.clone(), right: global.right_delim.clone() },
        jsonnet: jsonnet_args(global)?,
        terminals: std::io::stdin().is_terminal()
            && std::env::var("INTERACTIVE").map_or(true, |v| v != "false"),
    })
}

/// Resolves `--output auto`: the live display needs a real terminal on stderr, and stages of
/// an interactive run may prompt, so that gets plain lines. `--output live` off a terminal
/// (a pipe, a CI log, `TERM=dumb`) streams lines: a display that cannot draw would show
/// nothing but the summary, and a failed stage's log tail would be lost.
fn display(mode: OutputMode) -> Display {
    let drawable = std::io::stderr().is_terminal() && std::env::var("TERM").map_or(true, |t| t != "dumb");
    match mode {
        OutputMode::Auto => {
            // Stages of an interactive run may prompt (on the terminal itself with -j 1, on
            // terminals of their own in parallel): plain lines keep prompts and answers readable.
            let interactive_stage =
                std::io::stdin().is_terminal() && std::env::var("INTERACTIVE").map_or(true, |v| v != "false");
            if drawable && !interactive_stage { Display::Live } else { Display::Stream }
        }
        OutputMode::Live if drawable => Display::Live,
        OutputMode::Live => Display::Stream,
        OutputMode::Stream => Display::Stream,
        OutputMode::Grouped => Display::Grouped,
    }
}

/// The jsonnet CLI's inputs, from the command line (and the environment for bare names).
pub(crate) fn jsonnet_args(global: &Global) -> Result<JsonnetArgs, Error> {
    let kinds = [
        ("--ext-str", ExternalKind::Str, &global.ext_str),
        ("--ext-str-file", ExternalKind::StrFile, &global.ext_str_file),
        ("--ext-code", ExternalKind::Code, &global.ext_code),
        ("--ext-code-file", ExternalKind::CodeFile, &global.ext_code_file),
        ("--tla-str", ExternalKind::Str, &global.tla_str),
        ("--tla-str-file", ExternalKind::StrFile, &global.tla_str_file),
        ("--tla-code", ExternalKind::Code, &global.tla_code),
        ("--tla-code-file", ExternalKind::CodeFile, &global.tla_code_file),
    ];
    let mut args = JsonnetArgs {
        jpath: global.jpath.clone(),
        ext: Vec::new(),
        tla: Vec::new(),
        max_stack: global.max_stack as usize,
    };
    for (option, kind, specs) in kinds {
        for spec in specs {
            let parsed = External::parse(option, kind, spec).map_err(Error::Usage)?;
            let list = if option.starts_with("--ext") { &mut args.ext } else { &mut args.tla };
            list.push(parsed);
        }
    }
    Ok(args)
}

/// Evaluates the config and writes `CONFIG_JSON_FILE` (only when it changed).
pub(crate) fn load_config(project: &Project, options: &RunOptions) -> Result<Config, Error> {
    let config = config::load_keeping(&project.wave, &options.jsonnet)?;
    config::write(&project.wave, &config)?;
    Ok(config)
}

/// Says which stages are taken as up from the original make-based betterform's sentinels
/// (`$GENFILES/events/<stage>-up`), for stages betterform has no record of.
pub(crate) fn note_adopted(project: &Project) {
    // One stat on every run; the records are read only where the original left sentinels.
    if !project.wave.genfiles.join(ORIGINAL_EVENTS).is_dir() {
        return;
    }
    let adopted: Vec<&str> = (0..project.dag.len())
        .map(|s| project.dag.name(s))
        .filter(|name| project.state.load(name).is_ok_and(|state| state.adopted.is_some()))
        .collect();
    if !adopted.is_empty() {
        let events = display_path(&project.wave.genfiles.join(ORIGINAL_EVENTS));
        eprint_line(&format!(
            "==> adopting {} stage(s) the original betterform recorded up ({events}/<stage>-up): {}",
            adopted.len(),
            adopted.join(", ")
        ));
    }
}

/// Standard output with every secret masked, a whole line at a time (`writeln!` writes a
/// line in pieces, and a secret may straddle two).
pub(crate) struct Masked<W: Write> {
    out: W,
    line: Vec<u8>,
}

impl<W: Write> Masked<W> {
    pub(crate) fn new(out: W) -> Self {
        Masked { out, line: Vec::new() }
    }
}

impl<W: Write> Write for Masked<W> {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.line.extend_from_slice(buf);
        while let Some(end) = self.line.iter().position(|&b| b == b'\n') {
            let line: Vec<u8> = self.line.drain(..=end).collect();
            self.out.write_all(crate::mask::mask(&String::from_utf8_lossy(&line)).as_bytes())?;
        }
        Ok(buf.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        let rest = std::mem::take(&mut self.line);
        self.out.write_all(crate::mask::mask(&String::from_utf8_lossy(&rest)).as_bytes())?;
        self.out.flush()
    }
}

impl<W: Write> Drop for Masked<W> {
    fn drop(&mut self) {
        let _ = self.flush();
    }
}
