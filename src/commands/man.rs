//! `man`: the reference pages, betterform(1) and one betterform-COMMAND(1) per command.
//!
//! A page is assembled from two sources so neither drifts: the title, NAME, SYNOPSIS, the
//! option sections and the command list come from the clap definitions (what `--help` shows),
//! and the reference prose (the DAG file, templates, the ctl contract, environment, files, exit
//! status, examples) is roff written by hand in `man/src/<page>.roff`, compiled in. In the
//! prose, a line `.\" @OPTIONS` stands for the generated option sections and `.\" @COMMANDS`
//! for the command list. No date: the same binary always prints the same page.

use std::io::Write;

use crate::cli;
use crate::error::Error;

const VERSION: &str = env!("CARGO_PKG_VERSION");

/// The hand-written part of each page, by page name. A command without an entry gets a page
/// made of its one-line about and options only, which `tests/it/docs.rs` refuses (no EXIT
/// STATUS, no EXAMPLES): add `man/src/betterform-<command>.roff` here.
const PROSE: [(&str, &str); 16] = [
    ("betterform", include_str!("../../man/src/betterform.roff")),
    ("betterform-up", include_str!("../../man/src/betterform-up.roff")),
    ("betterform-down", include_str!("../../man/src/betterform-down.roff")),
    ("betterform-run", include_str!("../../man/src/betterform-run.roff")),
    ("betterform-plan", include_str!("../../man/src/betterform-plan.roff")),
    ("betterform-stamp", include_str!("../../man/src/betterform-stamp.roff")),
    ("betterform-status", include_str!("../../man/src/betterform-status.roff")),
    ("betterform-logs", include_str!("../../man/src/betterform-logs.roff")),
    ("betterform-graph", include_str!("../../man/src/betterform-graph.roff")),
    ("betterform-validate", include_str!("../../man/src/betterform-validate.roff")),
    ("betterform-config", include_str!("../../man/src/betterform-config.roff")),
    ("betterform-export", include_str!("../../man/src/betterform-export.roff")),
    ("betterform-migrate", include_str!("../../man/src/betterform-migrate.roff")),
    ("betterform-stage", include_str!("../../man/src/betterform-stage.roff")),
    ("betterform-completions", include_str!("../../man/src/betterform-completions.roff")),
    ("betterform-man", include_str!("../../man/src/betterform-man.roff")),
];

pub(crate) fn man(subcommand: Option<&str>) -> Result<(), Error> {
    let page = page(subcommand)?;
    // A closed pipe (`betterform man | head`) is not an error worth reporting.
    let _ = std::io::stdout().write_all(page.as_bytes());
    Ok(())
}

/// The roff source of betterform(1), or of `subcommand`'s own page.
fn page(subcommand: Option<&str>) -> Result<String, Error> {
    let mut cli = cli::command();
    cli.build();
    let commands: Vec<&clap::Command> = cli.get_subcommands().filter(|c| c.get_name() != "help").collect();
    let (command, name) = match subcommand {
        None => (cli.clone(), "betterform".to_string()),
        Some(sub) => {
            let Some(found) = commands.iter().find(|c| c.get_name() == sub) else {
                let names: Vec<&str> = commands.iter().map(|c| c.get_name()).collect();
                return Err(Error::Usage(format!("no command '{sub}'; commands: {}", names.join(", "))));
            };
            // The page is betterform-<command>(1), as git and cargo name theirs.
            let title = format!("betterform-{sub}");
            let command = (*found).clone().name(title.clone()).display_name(title.clone());
            (command.bin_name(format!("betterform {sub}")), title)
        }
    };
    let synopsis = synopsis(&mut command.clone());
    let man = clap_mangen::Man::new(command);
    let about =
        commands.iter().find(|c| format!("betterform-{}", c.get_name()) == name).and_then(|c| c.get_about());
    let fallback = format!(
        ".SH DESCRIPTION\n{}\n.\\\" @OPTIONS\n.SH SEE ALSO\n\\fBbetterform\\fR(1)\n",
        escape(&about.map(|a| a.to_string()).unwrap_or_default())
    );
    let prose = PROSE.iter().find(|(page, _)| *page == name).map_or(fallback.as_str(), |(_, text)| text);
    assemble(&man, &name, &synopsis, prose, &commands).map_err(|e| Error::Bookkeeping(e.into()))
}

/// The generated parts and the prose, in page order.
fn assemble(
    man: &clap_mangen::Man,
    title: &str,
    synopsis: &str,
    prose: &str,
    commands: &[&clap::Command],
) -> std::io::Result<String> {
    let mut roff = Vec::new();
    // Written here, not by clap_mangen, whose `.TH` drops an empty date and so shifts the
    // version into the date's place. The date stays empty: the page is reproducible.
    writeln!(roff, ".TH {} 1 \"\" \"betterform {VERSION}\" \"betterform Manual\"", escape(title))?;
    man.render_name_section(&mut roff)?;
    writeln!(roff, ".SH SYNOPSIS\n{synopsis}")?;
    for line in prose.lines() {
        match line.trim_end() {
            r#".\" @OPTIONS"# => man.render_options_section(&mut roff)?,
            r#".\" @COMMANDS"# => command_list(commands, &mut roff)?,
            _ => writeln!(roff, "{line}")?,
        }
    }
    writeln!(roff, ".SH VERSION\nbetterform {VERSION}")?;
    Ok(ascii(&dedupe_preamble(&String::from_utf8_lossy(&roff))))
}

/// clap's usage line (`betterform up [OPTIONS] [STAGE]...`) in roff: the command in bold,
/// placeholders in italics. The OPTIONS section lists the options one by one, as git's pages do.
fn synopsis(command: &mut clap::Command) -> String {
    let usage = command.render_usage().to_string();
    let usage = usage.trim_start_matches("Usage:").trim();
    let mut words = usage.split_whitespace().peekable();
    let mut out = Vec::new();
    // The program and command names come first, before any `[`, `<` or `-`.
    let mut name = Vec::new();
    while let Some(word) = words.next_if(|w| !w.starts_with(['[', '<', '-'])) {
        name.push(escape(word));
    }
    out.push(format!("\\fB{}\\fR", name.join(" ")));
    for word in words {
        let mut text = String::new();
        let mut rest = word;
        while !rest.is_empty() {
            if let Some(after) = rest.strip_prefix('<') {
                let end = after.find('>').unwrap_or(after.len());
                text.push_str(&format!("\\fI{}\\fR", escape(&after[..end])));
                rest = after.get(end + 1..).unwrap_or("");
            } else if rest.starts_with('-') {
                let end = rest.find([']', ' ', '<']).unwrap_or(rest.len());
                text.push_str(&format!("\\fB{}\\fR", escape(&rest[..end])));
                rest = &rest[end..];
            } else if rest.starts_with(|c: char| c.is_ascii_uppercase()) {
                // A placeholder: `OPTIONS`, `STAGE`, `COMMAND`.
                let end = rest.find(|c: char| !(c.is_ascii_uppercase() || c == '_')).unwrap_or(rest.len());
                text.push_str(&format!("\\fI{}\\fR", escape(&rest[..end])));
                rest = &rest[end..];
            } else {
                let c = rest.chars().next().unwrap_or_default();
                text.push(c);
                rest = &rest[c.len_utf8()..];
            }
        }
        out.push(text);
    }
    out.join(" ")
}

/// The COMMANDS section of betterform(1): each command, what it does, its page.
fn command_list(commands: &[&clap::Command], roff: &mut Vec<u8>) -> std::io::Result<()> {
    writeln!(roff, ".SH COMMANDS")?;
    for command in commands {
        let name = command.get_name();
        let args: Vec<String> = command
            .get_positionals()
            .filter(|arg| !arg.is_hide_set())
            .map(|arg| {
                let value =
                    arg.get_value_names().and_then(|v| v.first()).map_or("ARG".into(), |v| v.to_string());
                let many = arg.get_num_args().is_some_and(|n| n.max_values() > 1);
                let value = format!("\\fI{value}\\fR{}", if many { "..." } else { "" });
                if arg.is_required_set() { value } else { format!("[{value}]") }
            })
            .collect();
        let about = command.get_about().map(|a| a.to_string()).unwrap_or_default();
        let about = about.trim_end_matches('.');
        writeln!(roff, ".TP\n\\fB{}\\fR {}", escape(name), args.join(" "))?;
        writeln!(roff, "{}. See \\fBbetterform\\-{}\\fR(1).", escape(about), escape(name))?;
    }
    Ok(())
}

/// `text` as roff running text: backslashes and hyphens escaped, no line read as a request.
fn escape(text: &str) -> String {
    let text = text.replace('\\', "\\e").replace('-', "\\-");
    match text.starts_with(['.', '\'']) {
        true => format!("\\&{text}"),
        false => text,
    }
}

/// Each part rendered by clap_mangen starts with the same two-line apostrophe preamble; the
/// page needs it once, at the top.
fn dedupe_preamble(page: &str) -> String {
    let mut seen = 0;
    page.lines()
        .filter(|line| {
            let preamble = line.starts_with(".ie \\n(.g .ds Aq") || line.starts_with(".el .ds Aq");
            seen += usize::from(preamble);
            !preamble || seen <= 2
        })
        .map(|line| format!("{line}\n"))
        .collect()
}

/// Non-ASCII characters (`…` in a help text) as groff's `\[uXXXX]` escapes: plain `groff`
/// reads Latin-1 unless told otherwise, and every formatter knows the escapes.
fn ascii(page: &str) -> String {
    page.chars()
        .map(|c| match c.is_ascii() {
            true => c.to_string(),
            false => format!("\\[u{:04X}]", u32::from(c)),
        })
        .collect()
}
