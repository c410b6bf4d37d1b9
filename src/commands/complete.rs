//! Shell completion, clap_complete's dynamic protocol: the shell runs `COMPLETE=<shell>
//! betterform -- <words>` on every Tab, so stage names come from the DAG file of the directory
//! the operator stands in, as it is now. `completions SHELL` (and `COMPLETE=<shell> betterform`
//! with no words) print the small script that registers that call with the shell.

use std::ffi::{OsStr, OsString};
use std::io::Write;
use std::path::{Path, PathBuf};

use clap_complete::engine::{ArgValueCandidates, CompletionCandidate};
use clap_complete::env::{CompleteEnv, Shells};

use crate::cli;
use crate::error::Error;
use crate::graph::Dag;

/// The environment variable that turns a run into a completion request (clap_complete's).
const VAR: &str = "COMPLETE";

/// Answers a completion request when `COMPLETE` is set; `Some(exit code)` when it did.
/// Nothing goes to stderr: whatever is wrong (a broken DAG file, an unknown word), the shell
/// gets no candidates rather than an error printed into the command line being typed.
pub(crate) fn complete(args: &[OsString]) -> Option<i32> {
    if std::env::var_os(VAR).is_none_or(|v| v.is_empty() || v == "0") {
        return None;
    }
    let words = args.to_vec();
    let env = CompleteEnv::with_factory(move || command(&words)).var(VAR).bin("betterform");
    let current_dir = std::env::current_dir().ok();
    Some(match env.try_complete(args.iter().cloned(), current_dir.as_deref()) {
        Ok(_) => 0,
        Err(_) => 1,
    })
}

/// `completions SHELL`: the registration script, as `COMPLETE=SHELL betterform` prints it.
pub(crate) fn completions(shell: clap_complete::Shell) -> Result<(), Error> {
    let name = shell.to_string();
    let shells = Shells::builtins();
    let completer =
        shells.completer(&name).ok_or_else(|| Error::Usage(format!("no dynamic completion for {name}")))?;
    // The script calls back the binary by the name it was run as (found on PATH at Tab time),
    // or by its absolute path when it was run by a path (`./target/debug/betterform`).
    let argv0 = PathBuf::from(std::env::args_os().next().unwrap_or_else(|| "betterform".into()));
    let program = match argv0.components().count() > 1 {
        true => std::path::absolute(&argv0).unwrap_or(argv0),
        false => argv0,
    };
    let mut script = Vec::new();
    completer
        .write_registration(VAR, "betterform", "betterform", &program.to_string_lossy(), &mut script)
        .map_err(|e| Error::Bookkeeping(e.into()))?;
    // A closed pipe is not an error worth reporting.
    let _ = std::io::stdout().write_all(&script);
    Ok(())
}

/// The command line with value candidates: every `STAGE` argument (of any command, so a new
/// one gets them too) offers the DAG's stages, `man COMMAND` the commands. `words` is the command line being completed.
fn command(words: &[OsString]) -> clap::Command {
    let cli = cli::command();
    let impl_dir = impl_dir(words);
    let commands: Vec<String> = cli.get_subcommands().map(|c| c.get_name().to_string()).collect();
    let mut cli = cli.mut_subcommand("man", |man| {
        man.mut_arg("command", |arg| {
            arg.add(ArgValueCandidates::new(move || {
                commands.iter().map(CompletionCandidate::new).collect::<Vec<_>>()
            }))
        })
    });
    let with_stages: Vec<(String, String)> = cli
        .get_subcommands()
        .flat_map(|sub| {
            sub.get_positionals()
                .filter(|arg| {
                    let named = arg.get_value_names().is_some_and(|names| names.iter().any(|n| n == "STAGE"));
                    named || matches!(arg.get_id().as_str(), "stage" | "stages")
                })
                .map(|arg| (sub.get_name().to_string(), arg.get_id().to_string()))
                .collect::<Vec<_>>()
        })
        .collect();
    for (sub, id) in with_stages {
        let impl_dir = impl_dir.clone();
        cli = cli.mut_subcommand(sub, |sub| {
            sub.mut_arg(id, |arg| arg.add(ArgValueCandidates::new(move || stages(impl_dir.as_deref()))))
        });
    }
    cli
}

/// The impl dir the completed command line would use: `--impl-dir`, else `IMPL_DIR`, relative
/// to `-C DIR` when one is given. Read from the words, as nothing is parsed yet.
fn impl_dir(words: &[OsString]) -> Option<PathBuf> {
    let mut directory: Option<PathBuf> = None;
    let mut impl_dir: Option<PathBuf> = None;
    let mut words = words.iter().map(OsString::as_os_str).skip_while(|w| *w != "--").skip(1);
    while let Some(word) = words.next() {
        let text = word.to_string_lossy();
        let mut value = |flag: &str, joined: &str| -> Option<PathBuf> {
            if text == flag {
                words.next().map(PathBuf::from)
            } else {
                text.strip_prefix(joined).filter(|v| !v.is_empty()).map(PathBuf::from)
            }
        };
        if let Some(dir) = value("-C", "-C") {
            directory = Some(dir);
        } else if let Some(dir) = value("--impl-dir", "--impl-dir=") {
            impl_dir = Some(dir);
        }
    }
    let impl_dir =
        impl_dir.or_else(|| std::env::var_os("IMPL_DIR").filter(|v| !v.is_empty()).map(PathBuf::from))?;
    Some(match directory {
        Some(dir) => dir.join(impl_dir),
        None => impl_dir,
    })
}

/// The stages of the DAG file in `impl_dir`, in run order, each with what it depends on as its
/// description; none when there is no such file or it does not parse.
fn stages(impl_dir: Option<&Path>) -> Vec<CompletionCandidate> {
    let Some(impl_dir) = impl_dir else { return Vec::new() };
    let path = impl_dir.join("betterform_dag.mk");
    // Regular files only: a FIFO in its place must not hang the shell.
    let Some(text) = crate::fsutil::read_regular(&path).ok().and_then(|bytes| String::from_utf8(bytes).ok())
    else {
        return Vec::new();
    };
    let Ok(dag) = Dag::parse(&path, &text) else { return Vec::new() };
    dag.order()
        .iter()
        .map(|&stage| {
            let deps: Vec<&str> = dag.deps(stage).iter().map(|&d| dag.name(d)).collect();
            let help = (!deps.is_empty()).then(|| format!("after {}", deps.join(", ")).into());
            CompletionCandidate::new(OsStr::new(dag.name(stage))).help(help)
        })
        .collect()
}
