//! Dynamic shell completion (clap_complete's `COMPLETE=<shell>` protocol): stage names come
//! from the DAG file the completed command line would use, for bash, zsh and fish; a broken
//! DAG file offers none and prints nothing.

use crate::common::{Fixture, Run};

const STAGES: [&str; 4] = ["state_storage", "parallel_a", "parallel_b", "final"];

/// Asks the binary for the completions of `words` (the command line, the binary's name first,
/// the word under the cursor last) the way `shell`'s registered script does, and returns the
/// offered values, without their descriptions.
fn complete(f: &Fixture, shell: &str, words: &[&str], env: &[(&str, &str)]) -> Vec<String> {
    let run = complete_run(f, shell, words, env);
    assert_eq!(run.stderr(), "", "{shell}: nothing on stderr");
    run.stdout()
        .split('\n')
        .filter(|line| !line.is_empty())
        // zsh: `value:description`; fish: `value<TAB>description`.
        .map(|line| line.split(['\t', ':']).next().unwrap().to_string())
        .collect()
}

fn complete_run(f: &Fixture, shell: &str, words: &[&str], env: &[(&str, &str)]) -> Run {
    let mut cmd = f.cmd_without_impl_dir();
    cmd.env("COMPLETE", shell).arg("--").args(words);
    // bash and zsh pass the index of the word under the cursor; fish completes the last word.
    if shell != "fish" {
        cmd.env("_CLAP_COMPLETE_INDEX", (words.len() - 1).to_string());
    }
    for (name, value) in env {
        cmd.env(name, value);
    }
    Run(cmd.output().unwrap()).expect(0)
}

fn stages_in(offered: &[String]) -> Vec<&str> {
    STAGES.iter().copied().filter(|s| offered.iter().any(|o| o == s)).collect()
}

#[test]
fn stage_names_are_offered_in_bash_zsh_and_fish() {
    let f = Fixture::new("diamond");
    let impl_dir = f.impl_dir.to_str().unwrap();
    for shell in ["bash", "zsh", "fish"] {
        for command in ["up", "down", "plan", "stamp"] {
            let offered = complete(&f, shell, &["betterform", command, ""], &[("IMPL_DIR", impl_dir)]);
            assert_eq!(stages_in(&offered), STAGES, "{shell} {command}: {offered:?}");
        }
        // `run VERB STAGE...`: stages after the verb.
        let offered = complete(&f, shell, &["betterform", "run", "plan", ""], &[("IMPL_DIR", impl_dir)]);
        assert_eq!(stages_in(&offered), STAGES, "{shell} run: {offered:?}");
        // A prefix narrows them, and options such as --only leave them offered.
        let offered = complete(&f, shell, &["betterform", "up", "--only", "par"], &[("IMPL_DIR", impl_dir)]);
        assert_eq!(offered, ["parallel_a", "parallel_b"], "{shell}");
    }
}

#[test]
fn fish_and_zsh_describe_each_stage_by_its_dependencies() {
    let f = Fixture::new("diamond");
    let impl_dir = f.impl_dir.to_str().unwrap();
    let fish = complete_run(&f, "fish", &["betterform", "up", "f"], &[("IMPL_DIR", impl_dir)]).stdout();
    assert_eq!(fish, "final\tafter parallel_a, parallel_b\n");
    let zsh = complete_run(&f, "zsh", &["betterform", "up", "s"], &[("IMPL_DIR", impl_dir)]).stdout();
    assert_eq!(zsh, "state_storage");
}

#[test]
fn the_impl_dir_is_read_from_the_command_line_and_relative_to_dash_c() {
    let f = Fixture::new("diamond");
    let impl_dir = f.impl_dir.to_str().unwrap();
    let parent = f.impl_dir.parent().unwrap().to_str().unwrap();
    for words in [
        vec!["betterform", "--impl-dir", impl_dir, "up", ""],
        vec!["betterform", "up", &format!("--impl-dir={impl_dir}"), ""],
        // Before or after the word being completed, as the shell passes the whole line.
        vec!["betterform", "-C", parent, "plan", "--impl-dir", "impl", ""],
        vec!["betterform", &format!("-C{parent}"), "plan", "--impl-dir", "impl", ""],
    ] {
        for shell in ["bash", "zsh", "fish"] {
            let offered = complete(&f, shell, &words, &[]);
            assert_eq!(stages_in(&offered), STAGES, "{shell} {words:?}: {offered:?}");
        }
    }
    // `-C` applies to IMPL_DIR from the environment too; without it the same relative dir
    // does not exist here, and nothing is offered.
    let offered = complete(&f, "bash", &["betterform", "-C", parent, "up", ""], &[("IMPL_DIR", "impl")]);
    assert_eq!(stages_in(&offered), STAGES);
    let offered = complete(&f, "bash", &["betterform", "up", ""], &[("IMPL_DIR", "impl")]);
    assert_eq!(stages_in(&offered), Vec::<&str>::new());
}

#[test]
fn a_broken_or_missing_dag_file_offers_no_stage_and_prints_no_error() {
    let f = Fixture::new("diamond");
    let impl_dir = f.impl_dir.to_str().unwrap();
    let dag = f.impl_dir.join("betterform_dag.mk");
    let good = std::fs::read_to_string(&dag).unwrap();
    // A syntax error, a cycle, bytes that are not UTF-8.
    let broken: [&[u8]; 3] = [
        b"$(call define_stage, state_storage\n",
        b"$(call define_stage, a, b)\n$(call define_stage, b, a)\n",
        b"$(call define_stage, parallel_a, )\n\xff\n",
    ];
    for text in broken {
        std::fs::write(&dag, text).unwrap();
        for shell in ["bash", "zsh", "fish"] {
            // complete() asserts that stderr is empty.
            let offered = complete(&f, shell, &["betterform", "up", ""], &[("IMPL_DIR", impl_dir)]);
            assert!(
                offered.contains(&"--force".to_string()),
                "{shell}: options are still offered: {offered:?}"
            );
            assert!(offered.iter().all(|v| v.starts_with('-')), "{shell}: no stage offered: {offered:?}");
        }
    }
    // No DAG file at all, or a FIFO in its place (which must not hang the shell).
    std::fs::remove_file(&dag).unwrap();
    let offered = complete(&f, "bash", &["betterform", "up", "p"], &[("IMPL_DIR", impl_dir)]);
    assert!(offered.is_empty(), "{offered:?}");
    assert!(std::process::Command::new("mkfifo").arg(&dag).status().unwrap().success());
    let offered = complete(&f, "bash", &["betterform", "up", "p"], &[("IMPL_DIR", impl_dir)]);
    assert!(offered.is_empty(), "{offered:?}");
    std::fs::remove_file(&dag).unwrap();
    std::fs::write(&dag, good).unwrap();
    let offered = complete(&f, "bash", &["betterform", "up", "p"], &[("IMPL_DIR", impl_dir)]);
    assert_eq!(offered, ["parallel_a", "parallel_b"]);
}

#[test]
fn man_completes_command_names() {
    let f = Fixture::new("diamond");
    let offered = complete(&f, "bash", &["betterform", "man", "ex"], &[]);
    assert_eq!(offered, ["export"]);
}

#[test]
fn completions_prints_the_dynamic_registration_for_each_shell() {
    let f = Fixture::new("diamond");
    for (shell, marker) in [
        ("bash", "complete -o nospace -o bashdefault -o nosort -F _clap_complete_betterform betterform"),
        ("zsh", "#compdef betterform"),
        ("fish", "complete --keep-order --exclusive --command betterform"),
        ("elvish", "set edit:completion:arg-completer[betterform]"),
        ("powershell", "Register-ArgumentCompleter -Native -CommandName betterform"),
    ] {
        let script =
            Run(f.cmd_without_impl_dir().args(["completions", shell]).output().unwrap()).expect(0).stdout();
        assert!(script.contains(marker), "{shell}: {script}");
        assert!(script.contains("COMPLETE"), "{shell}: calls back with the protocol: {script}");
        // The same script `COMPLETE=<shell> betterform` prints, which the README documents.
        let same = Run(f.cmd_without_impl_dir().env("COMPLETE", shell).output().unwrap()).expect(0).stdout();
        assert_eq!(script, same, "{shell}");
    }
}

/// The registered bash function, run as bash runs it on Tab: it calls the binary back and
/// fills COMPREPLY with the stage names.
#[test]
fn the_bash_registration_completes_stage_names_end_to_end() {
    let f = Fixture::new("diamond");
    let script =
        Run(f.cmd_without_impl_dir().args(["completions", "bash"]).output().unwrap()).expect(0).stdout();
    f.write("completion.bash", &script);
    let probe = r#"
source ./completion.bash
COMP_WORDS=(betterform up --only par) COMP_CWORD=3 COMP_TYPE=9
_clap_complete_betterform betterform par --only
printf '%s\n' "${COMPREPLY[@]}"
"#;
    let out = std::process::Command::new("bash")
        .args(["--norc", "-c", probe])
        .current_dir(&f.deploy)
        .env("IMPL_DIR", &f.impl_dir)
        .env_remove("COMPLETE")
        .output()
        .unwrap();
    let run = Run(out).expect(0);
    assert_eq!(run.stdout(), "parallel_a\nparallel_b\n", "{}", run.stderr());
}
