//! Routes a parsed subcommand to its implementation.

use crate::cli::{Command, Global};
use crate::error::Error;

pub(crate) fn dispatch(command: Command, global: &Global) -> Result<(), Error> {
    match command {
        Command::Up { stages } => super::up::up(global, &stages),
        Command::Down { stages } => super::down::down(global, &stages),
        Command::Status => super::status::status(global),
        Command::Man => super::man::man(),
    }
}
