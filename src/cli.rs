//! Command-line definitions (clap). Options are global, so they may come before or after the
//! subcommand: `betterform -j 2 up` and `betterform up -j 2` mean the same.

use std::path::PathBuf;

use clap::parser::ValueSource;
use clap::{ArgMatches, Args, CommandFactory, Parser, Subcommand};

const ABOUT: &str = "Orchestrate a DAG of infrastructure stages: stamp each stage's templates once \
its dependencies are up, then run its `ctl up` / `ctl down` (or its step package), in parallel.";

const AFTER_HELP: &str = "\
Stages: each stage dir in IMPL_DIR holds an executable `ctl`, or a `step.json` naming a step
package (a dir, .zip or .tar.gz with metadata.json, inputs.json and executor.js or an exec entry
point) that betterform runs itself: inputs bound with #{Name} variables (step.json variables,
Config.<path>, Env.<NAME>, Output[<stage>].<path>, Stage.Name), validated against inputs.json,
outputs to $OUTPUT_DIR/<stage>/output.json, sensitive values masked in all output.

Wave environment (relative paths are resolved against the current directory and passed to every
stage as absolute paths):
  IMPL_DIR             stage library holding betterform_dag.mk (or --impl-dir)
  GENFILES             generated files [default: ./genfiles]
  OUTPUT_DIR           checked-in stage outputs [default: ./output]
  CONFIG_JSONNET_FILE  configuration, evaluated by the embedded jsonnet [default: ./config.jsonnet]
  CONFIG_JSON_FILE     evaluated configuration [default: $GENFILES/config.json]
  INTERACTIVE          exactly 'false' means never prompt [default: true]

Options apply only to the commands that use them; one given to another command is refused.

Exit status: 0 success, 1 a stage failed (`logs`: no such log yet), 2 bad usage or bad input (nothing was run),
3 another run holds the lock, 4 no stage failed but betterform could not read or write its own
files (lock, state, journal, report), 5/6 `plan --exit-code`: something would run / would fail
or is blocked (6 also from `plan` when a stage would fail), 130 interrupted (SIGINT), 143
terminated (SIGTERM).";

#[derive(Debug, Parser)]
#[command(name = "betterform", version, about = ABOUT, after_help = AFTER_HELP, disable_version_flag = true)]
pub(crate) struct Cli {
    /// Print version (long only: -V is the jsonnet CLI's --ext-str)
    #[arg(long, action = clap::ArgAction::Version)]
    version: Option<bool>,
    #[command(subcommand)]
    pub(crate) command: Option<Command>,
    #[command(flatten)]
    pub(crate) global: Global,
}

#[derive(Debug, Args)]
pub(crate) struct Global {
    /// Stage library: holds betterform_dag.mk and one template dir per stage
    #[arg(long, env = "IMPL_DIR", value_name = "DIR", global = true)]
    pub(crate) impl_dir: Option<PathBuf>,

    /// Run at most N stages at once [default: number of CPUs]
    #[arg(short = 'j', long, env = "BETTERFORM_JOBS", value_name = "N", global = true,
          value_parser = clap::value_parser!(u32).range(1..))]
    pub(crate) jobs: Option<u32>,

    /// After a failure, keep running stages that do not depend on it
    #[arg(short = 'k', long, global = true)]
    pub(crate) keep_going: bool,

    /// Re-stamp and re-run targeted stages even if they are up to date
    #[arg(short = 'B', long, global = true)]
    pub(crate) force: bool,

    /// Act on exactly the named stages: no dependencies or dependents pulled in, and the
    /// dependencies' status not checked (a CI job per stage, outputs restored from artifacts)
    #[arg(long, global = true)]
    pub(crate) only: bool,

    /// Do not ask for confirmation before `down`
    #[arg(short = 'y', long, global = true)]
    pub(crate) yes: bool,

    /// Left delimiter of template expressions
    #[arg(long, env = "BETTERFORM_LEFT_DELIM", value_name = "S", default_value = "{{", global = true)]
    pub(crate) left_delim: String,

    /// Right delimiter of template expressions
    #[arg(long, env = "BETTERFORM_RIGHT_DELIM", value_name = "S", default_value = "}}", global = true)]
    pub(crate) right_delim: String,

    /// On SIGINT/SIGTERM, seconds to wait for running stages before killing them
    #[arg(long, value_name = "SECONDS", default_value_t = 30, global = true)]
    pub(crate) grace: u64,

    /// Stop a stage's command that runs longer than this (`90s`, `30m`, `2h`), like an
    /// interrupted one, and record it failed; a `.betterform-timeout` file in a stage's dir
    /// (one duration, or `none`) sets that stage's own limit
    #[arg(long, value_name = "DURATION", env = "BETTERFORM_STAGE_TIMEOUT", global = true)]
    pub(crate) stage_timeout: Option<humantime::Duration>,

    /// Colour outcomes: `auto` on a terminal (NO_COLOR, CLICOLOR_FORCE and FORCE_COLOR are honoured)
    #[arg(long, value_enum, value_name = "WHEN", default_value_t = ColorChoice::Auto, global = true)]
    pub(crate) color: ColorChoice,

    /// Run as if started in DIR (before anything else: relative paths, ./config.jsonnet, …)
    #[arg(short = 'C', value_name = "DIR", global = true)]
    pub(crate) directory: Option<PathBuf>,

    /// Machine-readable JSON output (for `plan`, `status` and `validate`)
    #[arg(long, global = true)]
    pub(crate) json: bool,

    /// How to show stage output: `auto` is `live` on a terminal, else `stream`
    #[arg(long, value_enum, env = "BETTERFORM_OUTPUT", default_value_t = OutputMode::Auto, global = true)]
    pub(crate) output: OutputMode,

    /// After `up`/`down`, write a JSON run report: each stage's action, result, reason,
    /// start, end, duration, log and exit code
    #[arg(long, value_name = "FILE", global = true)]
    pub(crate) report: Option<PathBuf>,

    /// After `up`/`down`, write JUnit XML (each stage a test case) for CI test views
    #[arg(long, value_name = "FILE", global = true)]
    pub(crate) junit: Option<PathBuf>,

    /// `up`/`down`/`run`: write an HTML timeline of the run (one bar per stage, concurrency
    /// against -j, the DAG with the critical path, log tails) to FILE [default:
    /// $GENFILES/.betterform/timings/<run-id>.html and latest.html]; `status`: show the last
    /// run's timings
    #[arg(long, value_name = "FILE", num_args = 0..=1, require_equals = true, global = true)]
    pub(crate) timings: Option<Option<PathBuf>>,

    /// Add a jsonnet library search dir (repeatable; searched before JSONNET_PATH)
    #[arg(short = 'J', long = "jpath", value_name = "DIR", global = true, help_heading = JSONNET)]
    pub(crate) jpath: Vec<PathBuf>,

    /// std.extVar(NAME) is the string VALUE; a bare NAME takes the environment variable NAME
    #[arg(short = 'V', long, value_name = "NAME[=VALUE]", global = true, help_heading = JSONNET)]
    pub(crate) ext_str: Vec<String>,

    /// std.extVar(NAME) is the contents of FILE, as a string
    #[arg(long, value_name = "NAME=FILE", global = true, help_heading = JSONNET)]
    pub(crate) ext_str_file: Vec<String>,

    /// std.extVar(NAME) is the value of jsonnet CODE; a bare NAME takes the environment variable NAME
    #[arg(long, value_name = "NAME[=CODE]", global = true, help_heading = JSONNET)]
    pub(crate) ext_code: Vec<String>,

    /// std.extVar(NAME) is the value of the jsonnet file FILE
    #[arg(long, value_name = "NAME=FILE", global = true, help_heading = JSONNET)]
    pub(crate) ext_code_file: Vec<String>,

    /// A config that is a top-level function gets NAME as the string VALUE (bare NAME: from the environment)
    #[arg(short = 'A', long, value_name = "NAME[=VALUE]", global = true, help_heading = JSONNET)]
    pub(crate) tla_str: Vec<String>,

    /// Top-level argument NAME is the contents of FILE, as a string
    #[arg(long, value_name = "NAME=FILE", global = true, help_heading = JSONNET)]
    pub(crate) tla_str_file: Vec<String>,

    /// Top-level argument NAME is the value of jsonnet CODE (bare NAME: from the environment)
    #[arg(long, value_name = "NAME[=CODE]", global = true, help_heading = JSONNET)]
    pub(crate) tla_code: Vec<String>,

    /// Top-level argument NAME is the value of the jsonnet file FILE
    #[arg(long, value_name = "NAME=FILE", global = true, help_heading = JSONNET)]
    pub(crate) tla_code_file: Vec<String>,

    /// Deepest jsonnet call stack allowed, as the jsonnet CLI's --max-stack
    #[arg(long, value_name = "N", env = "BETTERFORM_MAX_STACK", default_value_t = 500, global = true,
          value_parser = clap::value_parser!(u32).range(1..=100_000), help_heading = JSONNET)]
    pub(crate) max_stack: u32,
}

/// The help heading of the jsonnet CLI's options.
const JSONNET: &str = "Jsonnet options (config evaluation: up, down, plan, run, stamp, validate, config)";

/// The ids of the options that feed config evaluation.
const JSONNET_OPTIONS: [&str; 10] = [
    "jpath",
    "ext_str",
    "ext_str_file",
    "ext_code",
    "ext_code_file",
    "tla_str",
    "tla_str_file",
    "tla_code",
    "tla_code_file",
    "max_stack",
];

#[derive(Debug, Subcommand)]
pub(crate) enum Command {
    /// Bring the named stages and all their dependencies up (all stages if none named)
    Up {
        /// Stages to bring up, with everything they depend on; `NAME=value` sets the variable
        /// NAME for the run, as make did (`up GENFILES=/tmp/g`)
        #[arg(value_name = "STAGE")]
        stages: Vec<String>,
        /// Change nothing: show what would run and why (make's -n; the same as `plan`)
        #[arg(short = 'n', long)]
        dry_run: bool,
    },
    /// Bring the named stages and all their dependents down, dependents first (all if none)
    Down {
        /// Stages to bring down, with everything that depends on them; `NAME=value` sets the
        /// variable NAME for the run, as make did
        #[arg(value_name = "STAGE")]
        stages: Vec<String>,
        /// Change nothing: list the stages whose `ctl down` would run, in order (make's -n)
        #[arg(short = 'n', long)]
        dry_run: bool,
        /// Bring down orphaned stages instead: recorded up but no longer in the DAG file
        /// (newest first, one at a time, from their stamped dirs); STAGEs pick some of them
        #[arg(long)]
        orphans: bool,
    },
    /// Show, without changing anything, what `up` would do and why (with each step's manifest)
    Plan {
        /// Stages to plan for, with everything they depend on (all if none)
        #[arg(value_name = "STAGE")]
        stages: Vec<String>,
        /// Exit 0 when nothing would run, 5 when something would run, 6 when something would
        /// fail or is blocked (for CI: "is anything pending?"); without it, plan exits 6 only
        /// when something would fail
        #[arg(long)]
        exit_code: bool,
    },
    /// Run `ctl VERB` in every targeted stage, in dependency order (plan, validate, output, drift,
    /// …): stamps what can be stamped, changes no stage's up/down record
    Run {
        /// The ctl command to run in each stage
        #[arg(value_name = "VERB")]
        verb: String,
        /// Stages to run it in, with everything they depend on (all if none)
        #[arg(value_name = "STAGE")]
        stages: Vec<String>,
        /// Dependents first, as `down` goes (for teardown-like verbs)
        #[arg(long)]
        reverse: bool,
    },
    /// Stamp every targeted stage whose dependencies are already up; run nothing
    Stamp {
        /// Stages to stamp, with everything they depend on (all if none)
        #[arg(value_name = "STAGE")]
        stages: Vec<String>,
    },
    /// One line per stage: status, last command, when, duration, log (no lock, writes nothing)
    Status,
    /// Print a stage's latest log, time-stamped: `--follow` it while the stage runs, or the
    /// run before with `--previous` (no lock, writes nothing)
    #[command(after_help = LOGS_HELP)]
    Logs {
        /// The stage whose log to print
        #[arg(value_name = "STAGE")]
        stage: String,
        /// Which command's log: `up`, `down` or a `run` VERB [default: the one that ran last;
        /// with --follow during a run, the run's command]
        #[arg(long, value_name = "COMMAND")]
        command: Option<String>,
        /// Keep printing lines as they are written until the stage's command finishes (or the
        /// run ends); Ctrl-C stops (exit 130)
        #[arg(short = 'f', long, conflicts_with = "previous")]
        follow: bool,
        /// The log of the run before the latest one of the command
        #[arg(long)]
        previous: bool,
    },
    /// Print the DAG, each stage with its last status (no lock, writes nothing)
    Graph {
        /// Output format
        #[arg(long, value_enum, default_value_t = GraphFormat::Text)]
        format: GraphFormat,
    },
    /// Check the DAG, stage dirs, config, every template's syntax and step-package inputs; run nothing
    Validate,
    /// Print the evaluated config, as templates see it in `cfg` (writes nothing)
    Config,
    /// Print a CI pipeline running each stage as its own job, `needs:` mirroring the DAG
    Export {
        /// CI system
        #[arg(long, value_enum)]
        format: ExportFormat,
        /// Which run the pipeline performs
        #[arg(long = "for", value_enum, default_value_t = ExportFor::Up)]
        direction: ExportFor,
        /// Shell command each job runs first to install betterform (else it must be on PATH)
        #[arg(long, value_name = "CMD")]
        setup: Option<String>,
        /// GitLab CI: what may start the pipeline (repeatable; default web, api and schedule,
        /// never a plain push)
        #[arg(long, value_enum, value_name = "SOURCE")]
        trigger: Vec<ExportTrigger>,
        /// GitLab CI: the image every job runs in (one with betterform, or use --setup)
        #[arg(long, value_name = "IMAGE")]
        image: Option<String>,
        /// The deployment's name in the workflow name, concurrency and resource group (default:
        /// the deployment dir relative to the repository root)
        #[arg(long, value_name = "NAME")]
        name: Option<String>,
        /// Up pipeline: its last job also commits the final OUTPUT_DIR back to the branch
        /// (GitLab CI: pushes with the token in the BETTERFORM_PUSH_TOKEN variable)
        #[arg(long)]
        commit_outputs: bool,
        /// GitLab CI: where the pipeline is committed, from the repository root; its lock job
        /// runs that file as the child pipeline [default: .gitlab-ci.yml]
        #[arg(long, value_name = "PATH")]
        ci_file: Option<String>,
    },
    /// Print the script that registers completion of commands, options and stage names:
    /// `source <(betterform completions bash)`
    Completions {
        /// The shell to complete for
        #[arg(value_enum)]
        shell: clap_complete::Shell,
    },
    /// Convert an impl dir written for the original make + gomplate betterform, in place:
    /// gomplate templates to betterform's syntax, the DAG file to define_stage lines, the impl
    /// ctl to call betterform. What cannot be converted is listed (file:line) and left as it
    /// was. Exit 0: all converted (or nothing to do); 1: something was left (or, with --check,
    /// something would change)
    Migrate {
        /// Change nothing: print the diff of what would change
        #[arg(long)]
        check: bool,
    },
    /// Common stage utilities, for a stage's `ctl` (`exec betterform stage terraform "$@"`)
    Stage {
        #[command(subcommand)]
        utility: StageUtility,
    },
    /// Print the man page (roff) to stdout; pre-built copies ship in man/
    Man {
        /// A subcommand's own page (betterform-up(1), …) instead of betterform(1)
        #[arg(value_name = "COMMAND")]
        command: Option<String>,
    },
}

#[derive(Debug, Subcommand)]
pub(crate) enum StageUtility {
    /// Run terraform (or OpenTofu: TF_CMD, else `terraform` on PATH, else `tofu`) in the
    /// stage's dir as the original betterform_stage_terraform did: init with the lock file kept
    /// in $OUTPUT_DIR/$STAGE_NAME, apply (up) or destroy (down) with `-input=false
    /// -auto-approve` when INTERACTIVE=false, outputs to $OUTPUT_DIR/$STAGE_NAME/output.json.
    /// Also run as `betterform_stage_terraform up|down` (a symlink to betterform)
    Terraform {
        /// What ctl was asked to do
        #[arg(value_enum)]
        command: TerraformCommand,
    },
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub(crate) enum TerraformCommand {
    /// init, apply, output -json into output.json
    Up,
    /// init, destroy
    Down,
}

impl Command {
    /// Takes the `NAME=value` arguments out of the command's stage list, in order: make's
    /// command-line variables, which the original betterform's `./ctl up GENFILES=/x` passed
    /// through. A stage name never holds `=`, so nothing else can be taken for one.
    pub(crate) fn take_assignments(&mut self) -> Vec<(String, String)> {
        let stages = match self {
            Command::Up { stages, .. }
            | Command::Down { stages, .. }
            | Command::Plan { stages, .. }
            | Command::Run { stages, .. }
            | Command::Stamp { stages } => stages,
            _ => return Vec::new(),
        };
        let mut taken = Vec::new();
        stages.retain(|arg| match assignment(arg) {
            Some(pair) => {
                taken.push(pair);
                false
            }
            None => true,
        });
        taken
    }
}

/// `NAME=value` with NAME a shell variable name.
fn assignment(arg: &str) -> Option<(String, String)> {
    let (name, value) = arg.split_once('=')?;
    let mut chars = name.chars();
    let first = chars.next()?;
    let valid =
        (first.is_ascii_alphabetic() || first == '_') && chars.all(|c| c.is_ascii_alphanumeric() || c == '_');
    valid.then(|| (name.to_string(), value.to_string()))
}

const LOGS_HELP: &str = "\
Each command a stage runs writes $GENFILES/.betterform/logs/<stage>/<command>.log (stdout and
stderr, secrets masked), every line prefixed with the UTC time it was written
(`2026-11-30T22:51:03.123Z `; `cut -c26-` removes it). A new run of the command first moves the
last log to <command>.previous.log, so the run before stays readable; a stage skipped as up to
date keeps both.

Exit status: 0 printed, 1 the stage has no such log yet, 2 unknown stage or bad usage,
130/143 --follow stopped by SIGINT/SIGTERM.";

#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub(crate) enum ColorChoice {
    Auto,
    Always,
    Never,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub(crate) enum GraphFormat {
    /// One line per stage with its dependencies
    Text,
    /// Graphviz
    Dot,
    /// Mermaid flowchart (renders in GitHub and GitLab markdown)
    Mermaid,
    /// Machine-readable
    Json,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub(crate) enum OutputMode {
    /// `live` on a terminal, `stream` otherwise (pipes, CI logs, TERM=dumb)
    Auto,
    /// One spinner line per running stage; outcomes and failed logs printed above (`stream`
    /// off a terminal)
    Live,
    /// Every output line as it comes, prefixed `[stage] `
    Stream,
    /// Each stage's output as one block when it ends: collapsible sections under GitHub
    /// Actions and GitLab CI, a failed stage's shown open with an error annotation
    Grouped,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub(crate) enum ExportFormat {
    /// A GitHub Actions workflow (.github/workflows/*.yml)
    GithubActions,
    /// A GitLab CI pipeline (.gitlab-ci.yml)
    GitlabCi,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, clap::ValueEnum)]
pub(crate) enum ExportTrigger {
    /// Run pipeline button in the web UI
    Web,
    /// The pipelines API
    Api,
    /// A pipeline schedule
    Schedule,
    /// A trigger token
    Trigger,
    /// Every push (a deliberate choice: each push then runs the pipeline)
    Push,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub(crate) enum ExportFor {
    /// Bring the deployment up
    Up,
    /// Bring it down, dependents first
    Down,
}

/// The options (clap ids of [`Global`]'s fields) a command acts on. Options are global so they
/// can come before or after the command; one given on the command line to a command that
/// ignores it is refused, so `up --json` does not silently print text.
fn options_of(command: &str) -> &'static [&'static str] {
    match command {
        "up" => &[
            "impl_dir",
            "jobs",
            "keep_going",
            "force",
            "only",
            "left_delim",
            "right_delim",
            "grace",
            "stage_timeout",
            "output",
            "report",
            "junit",
            "timings",
        ],
        "down" => &[
            "impl_dir",
            "jobs",
            "keep_going",
            "only",
            "yes",
            "grace",
            "stage_timeout",
            "output",
            "report",
            "junit",
            "timings",
        ],
        "plan" => &["impl_dir", "force", "only", "json", "left_delim", "right_delim"],
        "stamp" => &["impl_dir", "only", "left_delim", "right_delim"],
        "run" => &[
            "impl_dir",
            "jobs",
            "keep_going",
            "only",
            "left_delim",
            "right_delim",
            "grace",
            "stage_timeout",
            "output",
            "report",
            "junit",
            "timings",
        ],
        "status" => &["impl_dir", "json", "timings"],
        "migrate" => &["impl_dir"],
        "logs" => &["impl_dir"],
        "graph" | "export" => &["impl_dir"],
        "validate" => &["impl_dir", "json", "left_delim", "right_delim"],
        "config" => &["impl_dir"],
        _ => &[],
    }
}

/// Whether `command` uses the option `id`: its own, plus the jsonnet options for every command
/// that evaluates the config.
fn applies(command: &str, id: &str) -> bool {
    let evaluates_config =
        matches!(command, "up" | "down" | "plan" | "stamp" | "validate" | "config" | "run");
    id == "directory"
        || id == "color"
        || options_of(command).contains(&id)
        || (evaluates_config && JSONNET_OPTIONS.contains(&id))
}

/// The command line as users see it. The options are global (accepted before or after the
/// command), and each subcommand's `--help`, man page and completions list only those it takes:
/// the others get a hidden copy in the subcommand, which clap's propagation of global options
/// then leaves alone. Such an option still parses there, and [`check_options`] refuses it.
pub(crate) fn command() -> clap::Command {
    decorated(|_| true)
}

/// [`command`] for parsing `args`: only the subcommands `args` name get their hidden copies
/// (all a parse, its errors and its `--help` show), not all twenty: decorating every one took
/// 0.1 ms of every run.
pub(crate) fn command_for(args: &[std::ffi::OsString]) -> clap::Command {
    decorated(|name| args.iter().any(|arg| arg == name))
}

fn decorated(wanted: impl Fn(&str) -> bool) -> clap::Command {
    let cli = Cli::command();
    let globals: Vec<clap::Arg> = cli.get_arguments().filter(|arg| arg.is_global_set()).cloned().collect();
    let names: Vec<String> =
        cli.get_subcommands().map(|c| c.get_name().to_string()).filter(|name| wanted(name)).collect();
    names.iter().fold(cli, |cli, name| {
        cli.mut_subcommand(name, |sub| {
            globals
                .iter()
                .filter(|arg| !applies(name, arg.get_id().as_str()))
                .fold(sub, |sub, arg| sub.arg(arg.clone().hide(true)))
        })
    })
}

/// Refuses an option given on the command line to a command that would ignore it. Values from
/// the environment (`BETTERFORM_JOBS`, …) are not refused: they are set for every command.
/// `cli`: the command `matches` came from.
pub(crate) fn check_options(cli: &clap::Command, matches: &ArgMatches) -> Result<(), String> {
    let Some((name, sub)) = matches.subcommand() else { return Ok(()) };
    for arg in cli.get_arguments().filter(|arg| arg.is_global_set()) {
        let id = arg.get_id().as_str();
        if applies(name, id) || sub.value_source(id) != Some(ValueSource::CommandLine) {
            continue;
        }
        let spelled = arg.get_long().map_or_else(|| id.to_string(), |long| format!("--{long}"));
        let users: Vec<&str> =
            cli.get_subcommands().map(|c| c.get_name()).filter(|&c| applies(c, id)).collect();
        let hint =
            if users.is_empty() { String::new() } else { format!(" (it is for {})", users.join(", ")) };
        return Err(format!("{spelled} does not apply to `{name}`{hint}"));
    }
    Ok(())
}
