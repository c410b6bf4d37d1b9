//! `man` and `completions`: generated from the clap definitions, so they never drift from
//! `--help`.

use std::io::Write;

use clap::CommandFactory;

use crate::cli::Cli;
use crate::error::Error;

pub(crate) fn man(subcommand: Option<&str>) -> Result<(), Error> {
    let mut cli = Cli::command();
    cli.build();
    let command = match subcommand {
        None => cli,
        Some(name) => {
            let names: Vec<String> = cli.get_subcommands().map(|c| c.get_name().to_string()).collect();
            let sub = cli.find_subcommand(name).cloned().ok_or_else(|| {
                Error::Usage(format!("no command '{name}'; commands: {}", names.join(", ")))
            })?;
            // The page is betterform-<command>(1), as git and cargo name theirs.
            let title = format!("betterform-{name}");
            sub.name(title.clone()).display_name(title).bin_name(format!("betterform {name}"))
        }
    };
    let mut page = Vec::new();
    clap_mangen::Man::new(command).render(&mut page).map_err(|e| Error::Bookkeeping(e.into()))?;
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
