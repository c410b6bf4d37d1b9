//! Snapshots (insta) of the text people read: help, the end-of-run summary, plan, graph,
//! validate, status and JUnit. Temp paths, durations, timestamps and pids are redacted by
//! `Fixture::redactions`; runs use `-j 1` wherever the order of lines depends on scheduling.
//! Review a change with `cargo insta review` (or `INSTA_UPDATE=always`, then `git diff`).

use crate::common::{Fixture, Run};

/// Asserts `text` against the snapshot `name`, redacted for `f`; `command` is recorded in the
/// snapshot file so a reviewer sees what produced it.
fn check(f: &Fixture, name: &str, command: &str, text: &str) {
    let filters = f.redactions();
    insta::with_settings!({
        description => command,
        omit_expression => true,
        filters => filters.iter().map(|(regex, replacement)| (regex.as_str(), replacement.as_str())),
    }, {
        insta::assert_snapshot!(name, text);
    });
}

fn diamond() -> Fixture {
    let f = Fixture::new("diamond");
    f.write("config.jsonnet", "{ region: 'eu-north-1' }\n");
    f
}

/// The diamond after `up -j 1 -k` with parallel_a failing: state_storage and parallel_b up,
/// parallel_a failed, final never run.
fn diamond_after_a_failure(extra: &[&str]) -> (Fixture, Run) {
    let f = diamond();
    let run = f
        .cmd()
        .args(["up", "-j", "1", "-k", "--output", "stream"])
        .args(extra)
        .env("FAIL_STAGE", "parallel_a")
        .output()
        .unwrap();
    (f, Run(run).expect(1))
}

/// Help wraps to the terminal; COLUMNS pins the width a pipe gets anyway. clap indents the
/// blank lines inside a long help; that trailing space is dropped so an editor that trims
/// whitespace cannot break the snapshot.
fn help_text(args: &[&str]) -> (Fixture, String) {
    let f = Fixture::new("diamond");
    let out = f.cmd_without_impl_dir().args(args).env("COLUMNS", "100").output().unwrap();
    let run = Run(out).expect(0);
    assert_eq!(run.stderr(), "");
    let text: String = run.stdout().lines().map(|line| format!("{}\n", line.trim_end())).collect();
    (f, text)
}

#[test]
fn help() {
    let (f, text) = help_text(&["--help"]);
    check(&f, "help", "betterform --help", &text);
}

#[test]
fn up_help() {
    let (f, text) = help_text(&["up", "--help"]);
    check(&f, "up_help", "betterform up --help", &text);
}

/// Every other command's help: each lists only the options the command takes (what those are
/// is checked in `docs`; this pins the text).
#[test]
fn each_command_help() {
    let (f, top) = help_text(&["--help"]);
    let commands: Vec<&str> = top
        .lines()
        .skip_while(|l| *l != "Commands:")
        .skip(1)
        .take_while(|l| !l.is_empty())
        .filter(|l| l.starts_with("  ") && !l.starts_with("   "))
        .filter_map(|l| l.split_whitespace().next())
        .filter(|c| !matches!(*c, "help" | "up"))
        .collect();
    assert!(commands.contains(&"run") && commands.contains(&"export"), "{commands:?}");
    for command in commands {
        let (_, text) = help_text(&[command, "--help"]);
        check(&f, &format!("help_{command}"), &format!("betterform {command} --help"), &text);
    }
}

#[test]
fn up_keep_going_output_and_junit_with_a_failed_stage() {
    let (f, run) = diamond_after_a_failure(&["--junit", "junit.xml"]);
    assert_eq!(run.stdout(), "", "up reports on stderr");
    let command = "FAIL_STAGE=parallel_a betterform up -j 1 -k --output stream --junit junit.xml";
    check(&f, "up_keep_going_failure", &format!("{command} (stderr)"), &run.stderr());
    check(&f, "up_keep_going_failure_junit", &format!("{command} (junit.xml)"), &f.read("junit.xml"));
}

#[test]
fn plan_after_a_partial_up() {
    let (f, _) = diamond_after_a_failure(&[]);
    // A changed template in a stage that is up: its reason to run differs from the failed one's.
    f.write_impl("parallel_b/extra.txt", "{{ cfg.region }}\n");
    let run = f.run(&["plan"]).expect(0);
    assert_eq!(run.stderr(), "");
    check(
        &f,
        "plan_after_partial_up",
        "betterform plan (after parallel_a failed and parallel_b changed)",
        &run.stdout(),
    );
}

#[test]
fn graph_text_and_mermaid() {
    let (f, _) = diamond_after_a_failure(&[]);
    let text = f.run(&["graph"]).expect(0).stdout();
    check(&f, "graph_text", "betterform graph (after parallel_a failed)", &text);
    let mermaid = f.run(&["graph", "--format", "mermaid"]).expect(0).stdout();
    check(&f, "graph_mermaid", "betterform graph --format mermaid (after parallel_a failed)", &mermaid);
}

#[test]
fn status_table() {
    let (f, _) = diamond_after_a_failure(&[]);
    let run = f.run(&["status"]).expect(0);
    assert_eq!(run.stderr(), "");
    check(&f, "status", "betterform status (after parallel_a failed)", &run.stdout());
}

#[test]
fn validate_config_and_template_problems() {
    let f = Fixture::new("diamond");
    f.write("config.jsonnet", "{ region: oops }\n");
    f.write_impl("parallel_a/bad.txt", "region={{ cfg.region \n");
    f.write_impl("final/bad.txt", "{{% for x in y %}}\n");
    let run = f.run(&["validate"]).expect(2);
    assert_eq!(run.stdout(), "");
    check(
        &f,
        "validate_config_and_templates",
        "betterform validate (bad config, two bad templates)",
        &run.stderr(),
    );
}

/// DAG errors stop validate before templates are checked, so they get a case of their own:
/// the config error is reported beside them, the broken template (today) is not.
#[test]
fn validate_dag_problems() {
    let f = Fixture::new("diamond");
    f.write("config.jsonnet", "{\n");
    f.write_impl(
        "betterform_dag.mk",
        "$(call define_stage, state_storage, )\n\
         $(call define_stage, parallel_a, state_storag)\n\
         $(call define_stage, parallel_b, state_storage)\n\
         $(call define_stage, final, parallel_a parallel_b missing)\n",
    );
    f.write_impl("final/bad.txt", "{{ oops\n");
    let run = f.run(&["validate"]).expect(2);
    assert_eq!(run.stdout(), "");
    check(
        &f,
        "validate_dag",
        "betterform validate (unknown dependencies, bad config, a bad template left unchecked)",
        &run.stderr(),
    );
}
