//! The documentation the binary ships: the man pages (fresh, complete, versioned, with the
//! reference sections, in step with `--help` and with what the code reads) and each command's
//! `--help` (every option it shows is one the command takes, and every option it hides is
//! refused).

use std::collections::BTreeSet;
use std::path::Path;

use crate::common::{Fixture, Run};

const VERSION: &str = env!("CARGO_PKG_VERSION");

fn betterform(args: &[&str]) -> Run {
    let mut cmd = assert_cmd::Command::cargo_bin("betterform").unwrap();
    for var in ["IMPL_DIR", "COMPLETE", "BETTERFORM_JOBS", "BETTERFORM_OUTPUT", "BETTERFORM_STAGE_TIMEOUT"] {
        cmd.env_remove(var);
    }
    Run(cmd.env("COLUMNS", "100").args(args).output().unwrap())
}

/// The commands as `betterform --help` lists them (not the `help` pseudo-command).
fn commands() -> Vec<String> {
    let help = betterform(&["--help"]).expect(0).stdout();
    let listed = help.lines().skip_while(|l| *l != "Commands:").skip(1).take_while(|l| !l.is_empty());
    listed
        .filter(|l| l.starts_with("  ") && !l.starts_with("   "))
        .filter_map(|l| l.split_whitespace().next())
        .filter(|name| *name != "help")
        .map(str::to_string)
        .collect()
}

fn man_dir() -> &'static Path {
    Path::new(concat!(env!("CARGO_MANIFEST_DIR"), "/man"))
}

/// The shipped page `name` (`betterform`, `betterform-up`, …).
fn page(name: &str) -> String {
    std::fs::read_to_string(man_dir().join(format!("{name}.1")))
        .unwrap_or_else(|e| panic!("man/{name}.1: {e}: write man/src/{name}.roff and run man/generate.sh"))
}

/// The `.SH` section titles of a page, in order.
fn sections(page: &str) -> Vec<String> {
    page.lines().filter_map(|l| l.strip_prefix(".SH ")).map(|t| t.trim_matches('"').to_string()).collect()
}

/// The text of section `title` (up to the next `.SH`).
fn section<'a>(page: &'a str, title: &str) -> &'a str {
    let start = page.find(&format!(".SH {title}\n")).unwrap_or_else(|| panic!("no section {title}"));
    let rest = &page[start + 4..];
    &rest[..rest.find("\n.SH ").map_or(rest.len(), |i| i + 1)]
}

#[test]
fn shipped_man_pages_match_the_cli() {
    let mut shipped = BTreeSet::new();
    for entry in std::fs::read_dir(man_dir()).unwrap() {
        let path = entry.unwrap().path();
        let Some(file) = path.file_name().and_then(|n| n.to_str()).and_then(|n| n.strip_suffix(".1")) else {
            continue;
        };
        let mut args = vec!["man"];
        if let Some(sub) = file.strip_prefix("betterform-") {
            args.push(sub);
        }
        let run = betterform(&args).expect(0);
        assert!(
            run.stdout() == std::fs::read_to_string(&path).unwrap(),
            "{} is stale: regenerate the pages with man/generate.sh",
            path.display()
        );
        shipped.insert(file.to_string());
    }
    let commands = commands();
    assert!(
        commands.contains(&"export".to_string()) && commands.contains(&"run".to_string()),
        "{commands:?}"
    );
    let expected: BTreeSet<String> = std::iter::once("betterform".to_string())
        .chain(commands.iter().map(|c| format!("betterform-{c}")))
        .collect();
    assert_eq!(shipped, expected, "one page for betterform and one per command (man/generate.sh)");
    let err = betterform(&["man", "upp"]).expect(2).stderr();
    assert!(err.contains("no command 'upp'; commands: up, down,"), "{err}");
}

#[test]
fn every_page_is_a_versioned_reference_without_a_date() {
    let main = [
        "NAME",
        "SYNOPSIS",
        "DESCRIPTION",
        "OPTIONS",
        "COMMANDS",
        "THE DAG FILE",
        "CONFIGURATION",
        "TEMPLATES",
        "THE CTL CONTRACT",
        "STEP PACKAGES",
        "ENVIRONMENT",
        "FILES",
        "EXIT STATUS",
        "EXAMPLES",
        "SEE ALSO",
        "VERSION",
    ];
    let sub =
        ["NAME", "SYNOPSIS", "DESCRIPTION", "OPTIONS", "EXIT STATUS", "EXAMPLES", "SEE ALSO", "VERSION"];
    let mut pages = vec![("betterform".to_string(), &main[..])];
    pages.extend(commands().into_iter().map(|c| (format!("betterform-{c}"), &sub[..])));
    for (name, required) in pages {
        let text = page(&name);
        let found = sections(&text);
        for title in required {
            assert!(
                found.iter().any(|f| f == title),
                "{name}(1) lacks {title} (man/src/{name}.roff): {found:?}"
            );
        }
        // `.TH title section date source manual`: no date, so a rebuild gives the same page.
        let th = text.lines().find(|l| l.starts_with(".TH ")).unwrap();
        let title = name.replace('-', "\\-");
        assert_eq!(
            th,
            format!(".TH {title} 1 \"\" \"betterform {VERSION}\" \"betterform Manual\""),
            "{name}"
        );
        assert_eq!(section(&text, "VERSION"), format!("VERSION\nbetterform {VERSION}\n"), "{name}");
        let see_also = section(&text, "SEE ALSO");
        assert!(name == "betterform" || see_also.contains("\\fBbetterform\\fR(1)"), "{name}: {see_also}");
    }
}

#[test]
fn betterform_1_lists_and_refers_to_every_command_page() {
    let main = page("betterform");
    let (listed, see_also) = (section(&main, "COMMANDS"), section(&main, "SEE ALSO"));
    for command in commands() {
        let reference = format!("\\fBbetterform\\-{}\\fR(1)", command.replace('-', "\\-"));
        assert!(listed.contains(&format!(".TP\n\\fB{command}\\fR")), "COMMANDS lacks {command}");
        assert!(listed.contains(&reference) && see_also.contains(&reference), "{reference}");
    }
}

/// Only requests a man page needs, ASCII only (plain `groff` reads Latin-1), and nothing a
/// formatter could take for a request by accident.
#[test]
fn pages_use_plain_man_macros_and_ascii() {
    let known = [
        ".TH", ".SH", ".SS", ".PP", ".TP", ".IP", ".RS", ".RE", ".EX", ".EE", ".br", ".B", ".I", ".\\\"",
        ".ie", ".el",
    ];
    for entry in std::fs::read_dir(man_dir()).unwrap() {
        let path = entry.unwrap().path();
        if path.extension().is_none_or(|e| e != "1") {
            continue;
        }
        let text = std::fs::read_to_string(&path).unwrap();
        for (n, line) in text.lines().enumerate() {
            let at = format!("{}:{}", path.display(), n + 1);
            assert!(line.is_ascii(), "{at}: not ASCII: {line}");
            if line.starts_with(['.', '\'']) {
                let request = line.split_whitespace().next().unwrap();
                assert!(known.contains(&request), "{at}: unexpected request: {line}");
            }
            // An unescaped backslash at the end would join lines; `\e` is the backslash.
            assert!(!line.ends_with('\\') || line.ends_with("\\\\"), "{at}: {line}");
        }
    }
}

/// Every environment variable the code reads is in betterform(1)'s ENVIRONMENT.
#[test]
fn environment_names_every_variable_betterform_reads() {
    let environment = section(&page("betterform"), "ENVIRONMENT").to_string();
    let mut read = BTreeSet::new();
    let src = Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
    for entry in walkdir::WalkDir::new(&src) {
        let entry = entry.unwrap();
        if entry.path().extension().is_none_or(|e| e != "rs") {
            continue;
        }
        let text = std::fs::read_to_string(entry.path()).unwrap();
        // Unit tests set up their own variables.
        let text = text.split("#[cfg(test)]").next().unwrap();
        for marker in ["var(\"", "var_os(\"", "env = \"", "env_path(\"", "set(\""] {
            for (i, _) in text.match_indices(marker) {
                let rest = &text[i + marker.len()..];
                let name = &rest[..rest.find('"').unwrap()];
                if !name.is_empty()
                    && name.chars().all(|c| c.is_ascii_uppercase() || c.is_ascii_digit() || c == '_')
                {
                    read.insert(name.to_string());
                }
            }
        }
    }
    for must in ["IMPL_DIR", "GENFILES", "INTERACTIVE", "BETTERFORM_JOBS", "NO_COLOR", "JSONNET_PATH"] {
        assert!(read.contains(must), "the scan finds {must}: {read:?}");
    }
    for name in read {
        assert!(
            environment.contains(&format!("\\fB{name}\\fR")),
            "ENVIRONMENT in man/src/betterform.roff lacks {name}"
        );
    }
}

/// EXIT STATUS and the exit codes `--help` lists are the same codes.
#[test]
fn exit_status_matches_help() {
    let help = betterform(&["--help"]).expect(0).stdout();
    let from_help = &help[help.find("Exit status:").expect("--help lists the exit codes")..];
    let codes_in_help: BTreeSet<u32> =
        from_help.split(|c: char| !c.is_ascii_digit()).filter_map(|n| n.parse().ok()).collect();
    let main = page("betterform");
    let codes_in_man: BTreeSet<u32> = section(&main, "EXIT STATUS")
        .lines()
        .filter_map(|l| l.strip_prefix("\\fB")?.strip_suffix("\\fR")?.parse().ok())
        .collect();
    assert_eq!(codes_in_man, codes_in_help);
    assert!(codes_in_man.is_superset(&[0, 1, 2, 3, 4, 5, 6, 130, 143].into()), "{codes_in_man:?}");
}

/// The options a `--help` lists: (spelling, value name).
fn options_in_help(help: &str) -> Vec<(String, Option<String>)> {
    help.lines()
        // `  -j, --jobs <N>` or `      --only`; deeper lines are descriptions and values.
        .filter_map(|l| l.strip_prefix("      ").or_else(|| l.strip_prefix("  ")))
        .filter(|l| l.starts_with('-'))
        .map(|l| {
            let head = l.split("  ").next().unwrap();
            // `-j, --jobs <N>`, `-C <DIR>`, `--only`.
            let mut words = head.split_whitespace().map(|w| w.trim_end_matches(','));
            // `--timings[=<FILE>]`: the value is optional; the flag alone is valid.
            let first = words.next().unwrap().split('[').next().unwrap();
            let mut spelling = first.to_string();
            let mut value = None;
            for word in words {
                if word.starts_with("--") {
                    spelling = word.split('[').next().unwrap().to_string();
                } else if let Some(v) = word.strip_prefix('<') {
                    value = Some(v.trim_end_matches('>').to_string());
                }
            }
            (spelling, value)
        })
        .filter(|(spelling, _)| spelling != "--help" && spelling != "--version")
        .collect()
}

/// A value the option accepts.
fn sample(option: &str, value: &str, command: &str) -> String {
    match (option, value) {
        ("--format", _) if command == "export" => "gitlab-ci",
        ("--format", _) => "json",
        ("--for", _) => "down",
        ("--color", _) => "never",
        ("--output", _) => "stream",
        ("--command", _) => "up",
        ("--trigger", _) => "web",
        (_, "IMAGE") => "rust:1",
        (_, "PATH") => "ci/deploy.yml",
        (_, "NAME") => "prod/eu-north-1",
        (_, "N" | "SECONDS") => "3",
        (_, "DIR") => ".",
        (_, "FILE") => "out.json",
        (_, "S") => "<<",
        (_, "DURATION") => "90s",
        (_, "CMD") => "true",
        (_, "NAME[=VALUE]" | "NAME[=CODE]") => "x=1",
        (_, "NAME=FILE") => "x=f.json",
        _ => panic!("no sample value for {option} <{value}> of {command}: add one to this table"),
    }
    .to_string()
}

/// What a command needs besides options to parse at all.
fn required(command: &str, option: &str) -> Vec<&'static str> {
    match command {
        "run" => vec!["plan"],
        "logs" => vec!["state_storage"],
        "stage" => vec!["terraform", "up"],
        "completions" => vec!["bash"],
        "export" if option != "--format" => vec!["--format", "github-actions"],
        _ => vec![],
    }
}

/// For each command: every option its `--help` shows is accepted (it parses, passes the
/// per-command check, and the run gets as far as `-C`, which fails on a missing dir before
/// anything is read), and every global option it does not show is refused as not applying.
#[test]
fn each_command_help_shows_exactly_the_options_it_takes() {
    let f = Fixture::new("diamond");
    let missing = f.deploy.join("no-such-dir");
    let missing = missing.to_str().unwrap();
    let all = options_in_help(&betterform(&["--help"]).expect(0).stdout());
    let try_option = |command: &str, option: &str, value: &Option<String>| -> Run {
        let mut args: Vec<String> = vec![command.to_string()];
        args.extend(required(command, option).iter().map(|a| a.to_string()));
        args.push(option.to_string());
        if let Some(value) = value {
            args.push(if option == "-C" { missing.to_string() } else { sample(option, value, command) });
        }
        if option != "-C" {
            args.extend(["-C".to_string(), missing.to_string()]);
        }
        Run(f.cmd_without_impl_dir().args(&args).output().unwrap())
    };
    for command in commands() {
        let help = betterform(&[&command, "--help"]).expect(0).stdout();
        let shown = options_in_help(&help);
        assert!(shown.iter().any(|(o, _)| o == "-C"), "{command}: -C applies everywhere");
        for (option, value) in &shown {
            let run = try_option(&command, option, value).expect(2);
            let err = run.stderr();
            assert!(err.starts_with(&format!("error: -C {missing}: ")), "{command} {option}: {err}");
        }
        for (option, value) in all.iter().filter(|o| !shown.contains(o)) {
            let err = try_option(&command, option, value).expect(2).stderr();
            assert!(
                err.starts_with(&format!("error: {option} does not apply to `{command}`")),
                "{command} {option} is hidden from its help, so it must be refused: {err}"
            );
        }
    }
}

/// The pages format without a single warning where groff is installed (man-db's formatter;
/// CI images without it rely on `pages_use_plain_man_macros_and_ascii`).
#[test]
fn pages_format_without_warnings_under_groff() {
    if std::process::Command::new("groff").arg("--version").output().is_err() {
        eprintln!("groff is not installed: formatting not checked");
        return;
    }
    for entry in std::fs::read_dir(man_dir()).unwrap() {
        let path = entry.unwrap().path();
        if path.extension().is_none_or(|e| e != "1") {
            continue;
        }
        let out = std::process::Command::new("groff")
            .args(["-man", "-Tutf8", "-ww", "-z"])
            .arg(&path)
            .output()
            .unwrap();
        let warnings = String::from_utf8_lossy(&out.stderr);
        assert!(out.status.success() && warnings.is_empty(), "{}: {warnings}", path.display());
    }
}
