//! betterform: a command-line orchestrator for infrastructure stages.
//!
//! The pipeline, one module per step: [`cli`] → [`project`] (DAG file, stage dirs) and
//! [`config`] → [`stamp`] → [`scheduler`] → [`process`] → [`state`] + [`report`].

#[doc(hidden)]
pub mod bench_api;
mod cli;
mod commands;
mod config;
mod config_cache;
mod dagfile;
mod diagnostic;
mod error;
mod events;
mod execute;
mod fsutil;
#[doc(hidden)]
pub mod fuzz_api;
mod graph;
mod jsonnet_error;
mod lock;
mod logfile;
mod mask;
mod migrate;
mod plan;
mod process;
mod project;
mod record_cache;
mod report;
mod scheduler;
mod stack_guard;
mod stamp;
mod state;
mod step;
mod wave;

use std::ffi::OsString;
use std::io::Write;

use clap::FromArgMatches;

/// Runs betterform with `args` (including the program name) and returns the exit code.
pub fn run(args: impl IntoIterator<Item = OsString>) -> i32 {
    let mut args: Vec<OsString> = args.into_iter().collect();
    // `COMPLETE=<shell>`: the shell asking for completions, before anything else is looked at.
    if let Some(code) = commands::complete(&args) {
        return code;
    }
    // Run as `betterform_stage_terraform` (a symlink, as the original shipped it): that utility.
    if args
        .first()
        .and_then(|a| std::path::Path::new(a).file_name())
        .is_some_and(|n| n == "betterform_stage_terraform")
    {
        args.splice(0..1, ["betterform", "stage", "terraform"].map(OsString::from));
    }
    let mut parser = cli::command_for(&args);
    let mut parse = || {
        let parsed = parser
            .try_get_matches_from_mut(&args)
            .and_then(|matches| Ok((cli::Cli::from_arg_matches(&matches)?, matches)));
        parsed.map_err(|e| {
            let _ = e.print();
            if e.use_stderr() { 2 } else { 0 }
        })
    };
    let (mut cli, mut matches) = match parse() {
        Ok(parsed) => parsed,
        Err(code) => return code,
    };
    // `NAME=value` among the stage arguments: set for the whole run, as make's command-line
    // variables were, then parsed again so that options read from the environment see them.
    let assignments = cli.command.as_mut().map(cli::Command::take_assignments).unwrap_or_default();
    if !assignments.is_empty() {
        for (name, value) in &assignments {
            // SAFETY: nothing but the parse has run; there is no other thread to race with.
            unsafe { std::env::set_var(name, value) };
        }
        (cli, matches) = match parse() {
            Ok(parsed) => parsed,
            Err(code) => return code,
        };
        if let Some(command) = cli.command.as_mut() {
            command.take_assignments();
        }
    }
    let Some(command) = cli.command else {
        let _ = cli::command().print_help();
        return 0;
    };
    if let Err(message) = cli::check_options(&parser, &matches) {
        let _ = writeln!(std::io::stderr(), "error: {message}");
        return 2;
    }
    report::color::init(match cli.global.color {
        cli::ColorChoice::Auto => None,
        cli::ColorChoice::Always => Some(true),
        cli::ColorChoice::Never => Some(false),
    });
    // `-C DIR`: as if started there, before any path is resolved.
    if let Some(dir) = &cli.global.directory
        && let Err(e) = std::env::set_current_dir(dir)
    {
        let _ = writeln!(std::io::stderr(), "error: -C {}: {e}", dir.display());
        return 2;
    }
    match commands::dispatch(command, &cli.global) {
        Ok(()) => 0,
        Err(e @ error::Error::Answer(_)) => e.exit_code(),
        Err(e) => {
            let error = report::color::paint("error:", report::color::Tone::Bad);
            let _ = writeln!(std::io::stderr(), "{error} {}", mask::mask(&e.to_string()));
            e.exit_code()
        }
    }
}
