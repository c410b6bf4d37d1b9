//! Bad input of every kind: exit 2, an error naming file, line and column, and nothing run
//! or stamped.

use crate::common::Fixture;

/// Replaces the diamond's DAG file and checks the run is refused before anything happens.
fn refused(dag: &str) -> String {
    let f = Fixture::new("diamond");
    f.write_impl("betterform_dag.mk", dag);
    let run = f.run(&["up"]).expect(2);
    assert!(f.trace().is_empty(), "no ctl may run on bad input");
    assert!(!f.exists("genfiles/state_storage"), "nothing may be stamped on bad input");
    let path = f.impl_dir.join("betterform_dag.mk").display().to_string();
    headlines(&run.stderr().replace(&path, "DAG"))
}

/// The error without the source snippets under each problem (`  |`, `5 | …`, carets).
fn headlines(err: &str) -> String {
    let snippet = |l: &&str| {
        l.trim_start().starts_with('|')
            || l.split_once(" | ").is_some_and(|(n, _)| n.trim().parse::<usize>().is_ok())
    };
    err.lines().filter(|l| !snippet(l)).map(|l| format!("{l}\n")).collect()
}

#[test]
fn unknown_dependency_names_line_column_and_a_suggestion() {
    let err = refused(
        "$(call define_stage, state_storage, )\n$(call define_stage, parallel_a, state_storage)\n$(call define_stage, parallel_b, state_storage)\n$(call define_stage, final, \\\n        paralel_a parallel_b)\n",
    );
    assert_eq!(err, "error: DAG:5:9: unknown stage 'paralel_a' (did you mean 'parallel_a'?)\n");
    // The whole error shows the line, a caret under the name.
    let f = Fixture::new("diamond");
    f.write_impl(
        "betterform_dag.mk",
        "$(call define_stage, state_storage, )\n$(call define_stage, final, stat_storage)\n",
    );
    let err = f.run(&["up"]).expect(2).stderr();
    assert!(
        err.ends_with("  |\n2 | $(call define_stage, final, stat_storage)\n  |                             ^^^^^^^^^^^^\n"),
        "{err}"
    );
}

#[test]
fn duplicate_definition() {
    let err = refused("$(call define_stage, state_storage, )\n\n$(call define_stage, state_storage, )\n");
    assert_eq!(
        err,
        "error: DAG:3:22: stage 'state_storage' is defined twice (first at line 1); merge its dependencies into one define_stage\n"
    );
}

#[test]
fn self_dependency() {
    let err = refused("$(call define_stage, state_storage,   state_storage)\n");
    assert_eq!(err, "error: DAG:1:39: stage 'state_storage' depends on itself\n");
}

#[test]
fn cycle_names_every_stage_on_it() {
    let err = refused(
        "$(call define_stage, state_storage, final)\n$(call define_stage, parallel_a, state_storage)\n$(call define_stage, parallel_b, )\n$(call define_stage, final, parallel_a parallel_b)\n",
    );
    assert_eq!(
        err,
        "error: DAG:1:22: cycle: state_storage -> final -> parallel_a -> state_storage (each stage depends on the next)\n"
    );
}

#[test]
fn cycle_through_the_older_dag_deps_form() {
    let err =
        refused("$(call dag_deps, parallel_a, state_storage)\n$(call dag_deps, state_storage, parallel_a)\n");
    assert!(err.contains("DAG:1:18: cycle: parallel_a -> state_storage -> parallel_a"), "{err}");
}

#[test]
fn syntax_errors_point_at_the_offending_token() {
    assert_eq!(
        refused("# fine\n$(call define_stage, state_storage, )\n$(call define_stage)\n"),
        "error: DAG:3:20: expected ',' after the function name, found ')'\n"
    );
    // A make rule is refused as make, with the declaration it would be.
    assert_eq!(
        refused("$(call define_stage, state_storage, )\nfinal: state_storage\n"),
        "error: DAG:2:6: the make rule 'final: …' is not supported: betterform_dag.mk is parsed, not run by make; \
         write one call per stage with its dependencies spelled out, e.g. `$(call define_stage, app, db cache)`; \
         this line would be `$(call define_stage, final, state_storage)`\n"
    );
    assert_eq!(
        refused("$(call define_stage, state_storage, )\n$(call define_stage, final: state_storage)\n"),
        "error: DAG:2:27: unexpected character ':'; stage names may contain letters, digits, '_', '-' and '.'\n"
    );
    assert_eq!(
        refused("$(call define_stage, state_storage, \n"),
        "error: DAG:1:37: expected ')', found end of line\n"
    );
}

#[test]
fn stage_without_a_template_dir() {
    let err = refused("$(call define_stage, state_storage, )\n$(call define_stage,  ghost, state_storage)\n");
    assert!(err.starts_with("error: DAG:2:23: stage 'ghost' has no template directory "), "{err}");
}

#[test]
fn stage_without_ctl_or_step_json() {
    let f = Fixture::new("diamond");
    std::fs::remove_file(f.impl_dir.join("final/ctl")).unwrap();
    let err = f.run(&["up"]).expect(2).stderr();
    assert!(err.contains("betterform_dag.mk:5:22: stage 'final': "), "{err}");
    assert!(err.contains("has neither an executable 'ctl' nor a 'step.json'"), "{err}");
    assert!(f.trace().is_empty());
}

#[test]
fn ctl_that_is_not_executable() {
    use std::os::unix::fs::PermissionsExt;
    let f = Fixture::new("diamond");
    let ctl = f.impl_dir.join("parallel_b/ctl");
    std::fs::set_permissions(&ctl, std::fs::Permissions::from_mode(0o644)).unwrap();
    let err = f.run(&["up"]).expect(2).stderr();
    assert!(err.contains("betterform_dag.mk:4:22: stage 'parallel_b': "), "{err}");
    assert!(err.contains("ctl is not an executable file (chmod +x it)"), "{err}");
}

#[test]
fn missing_dag_file_and_missing_impl_dir() {
    let f = Fixture::new("diamond");
    std::fs::remove_file(f.impl_dir.join("betterform_dag.mk")).unwrap();
    assert!(f.run(&["up"]).expect(2).stderr().contains("betterform_dag.mk"));
    let mut cmd = assert_cmd::Command::cargo_bin("betterform").unwrap();
    let out = cmd.env_remove("IMPL_DIR").current_dir(&f.deploy).arg("up").output().unwrap();
    let run = crate::common::Run(out).expect(2);
    assert_eq!(run.stderr(), "error: no impl dir: pass --impl-dir DIR or set IMPL_DIR\n");
}

#[test]
fn unknown_stage_on_the_command_line() {
    let f = Fixture::new("diamond");
    let err = f.run(&["up", "finall"]).expect(2).stderr();
    assert!(err.starts_with("error: unknown stage 'finall' (did you mean 'final'?)"), "{err}");
}

#[test]
fn no_command_prints_help_and_succeeds() {
    let mut cmd = assert_cmd::Command::cargo_bin("betterform").unwrap();
    let out = cmd.env_remove("IMPL_DIR").output().unwrap();
    let run = crate::common::Run(out).expect(0);
    assert!(run.stdout().contains("Usage: betterform"), "{}", run.stdout());
    let mut cmd = assert_cmd::Command::cargo_bin("betterform").unwrap();
    crate::common::Run(cmd.arg("--no-such-flag").output().unwrap()).expect(2);
}

#[test]
fn jsonnet_error_stops_everything_with_file_and_line() {
    let f = Fixture::new("diamond");
    f.write("config.jsonnet", "{\n  region: 'x',\n  zone: undefined_thing,\n}\n");
    let err = f.run(&["up"]).expect(2).stderr();
    assert!(err.contains("config.jsonnet:3:9: undefined local: undefined_thing"), "{err}");
    assert!(f.trace().is_empty());
    assert!(!f.exists("genfiles/state_storage"));
    assert!(!f.exists("genfiles/config.json"));

    f.write("config.jsonnet", "{\n  region: 'x' +,\n}\n");
    let err = f.run(&["up"]).expect(2).stderr();
    assert!(err.contains("config.jsonnet:2:16: syntax error"), "{err}");

    f.write("config.jsonnet", "local lib = import 'lib.libsonnet';\n{ region: lib.r }\n");
    f.write("lib.libsonnet", "{\n  r: error 'no region configured',\n}\n");
    let err = f.run(&["up"]).expect(2).stderr();
    assert!(err.contains("lib.libsonnet:2:6: runtime error: no region configured"), "{err}");
}

#[test]
fn explicit_config_jsonnet_file_must_exist() {
    let f = Fixture::new("diamond");
    let out = f.cmd().arg("up").env("CONFIG_JSONNET_FILE", "nope.jsonnet").output().unwrap();
    let err = crate::common::Run(out).expect(2).stderr();
    assert!(err.contains("nope.jsonnet' does not exist"), "{err}");
}

#[test]
fn template_syntax_errors_are_reported_before_any_stage_runs() {
    let f = Fixture::new("diamond");
    f.write("config.jsonnet", "{ region: 'x' }");
    // `final` would only be stamped last; its syntax error must still stop the run up front.
    f.write_impl("final/broken.txt", "line one\n{{% if cfg.region %}}\nno endif\n");
    f.write_impl("parallel_a/also.txt", "{{ cfg.region ");
    let err = f.run(&["up"]).expect(2).stderr();
    assert!(err.contains("final/broken.txt:2:22: syntax error: unexpected end of input"), "{err}");
    assert!(err.contains("parallel_a/also.txt:1:4: syntax error"), "{err}");
    assert!(f.trace().is_empty());
    assert!(!f.exists("genfiles/state_storage"));
}

#[test]
fn a_stage_named_like_config_json_is_refused() {
    let f = Fixture::new("diamond");
    std::fs::rename(f.impl_dir.join("state_storage"), f.impl_dir.join("config.json")).unwrap();
    f.write_impl("betterform_dag.mk", "$(call define_stage, config.json, )\n");
    let err = f.run(&["up"]).expect(2).stderr();
    assert!(
        err.contains("betterform_dag.mk:1:22: stage 'config.json' would be stamped over CONFIG_JSON_FILE"),
        "{err}"
    );
}
