//! `man` and `completions`: generated from the clap definitions, so they never drift from
//! `--help`.

use std::io::Write;

use clap::CommandFactory;

use crate::cli::Cli;
use crate::error::Error;

pub(crate) fn man() -> Result<(), Error> {
    let mut page = Vec::new();
    clap_mangen::Man::new(Cli::command()).render(&mut page).map_err(|e| Error::Other(e.into()))?;
    // A closed pipe (`betterform man | head`) is not an error worth reporting.
    let _ = std::io::stdout().write_all(&page);
    Ok(())
}

pub(crate) fn completions(shell: clap_complete::Shell) -> Result<(), Error> {
    let mut script = Vec::new();
    clap_complete::generate(shell, &mut Cli::command(), "betterform", &mut script);
    let _ = std::io::stdout().write_all(&script);
    Ok(())
}
