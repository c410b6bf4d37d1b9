//! Routes a parsed subcommand to its implementation.

use crate::cli::{Command, Global, StageUtility};
use crate::error::Error;

pub(crate) fn dispatch(command: Command, global: &Global) -> Result<(), Error> {
    match command {
        // make's -n: what would run, and why, is exactly what `plan` shows.
        Command::Up { stages, dry_run: true } => super::plan::plan(global, &stages, false),
        Command::Up { stages, dry_run: false } => super::up::up(global, &stages),
        Command::Down { stages, orphans, dry_run } => super::down::down(global, &stages, orphans, dry_run),
        Command::Plan { stages, exit_code } => super::plan::plan(global, &stages, exit_code),
        Command::Stamp { stages } => super::stamp::stamp(global, &stages),
        Command::Run { verb, stages, reverse } => super::run_verb::run_verb(global, &verb, &stages, reverse),
        Command::Status => super::status::status(global),
        Command::Logs { stage, command, follow, previous } => {
            super::logs::logs(global, &stage, command.as_deref(), follow, previous)
        }
        Command::Graph { format } => super::graph::graph(global, format),
        Command::Validate => super::validate::validate(global),
        Command::Config => super::show_config::show_config(global),
        Command::Export { format, direction, setup, trigger, image, name, commit_outputs, ci_file } => {
            super::export::export(
                global,
                format,
                direction,
                super::export::Options { setup, trigger, image, name, commit_outputs, ci_file },
            )
        }
        Command::Completions { shell } => super::complete::completions(shell),
        Command::Man { command } => super::man::man(command.as_deref()),
        Command::Migrate { check } => super::migrate::migrate(global, check),
        Command::Stage { utility: StageUtility::Terraform { command } } => super::stage::terraform(command),
    }
}
