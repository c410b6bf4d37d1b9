//! Read-only commands — `graph`, `validate`, `config` — print what they should and leave the
//! deployment dir exactly as it was.

use std::collections::BTreeMap;
use std::path::Path;

use crate::common::Fixture;

fn snapshot(dir: &Path) -> BTreeMap<String, (Vec<u8>, std::time::SystemTime)> {
    walkdir::WalkDir::new(dir)
        .into_iter()
        .map(Result::unwrap)
        .map(|e| {
            let meta = e.metadata().unwrap();
            let bytes = if e.file_type().is_file() { std::fs::read(e.path()).unwrap() } else { Vec::new() };
            (e.path().display().to_string(), (bytes, meta.modified().unwrap()))
        })
        .collect()
}

fn diamond_with_a_failure() -> Fixture {
    let f = Fixture::new("diamond");
    f.write("config.jsonnet", "{ region: 'eu-north-1' }");
    f.cmd().args(["up", "-j", "1", "-k"]).env("FAIL_STAGE", "parallel_b").assert().code(1);
    f
}

#[test]
fn graph_in_every_format_shows_edges_and_last_status() {
    let f = diamond_with_a_failure();
    let before = snapshot(&f.deploy);
    assert_eq!(
        f.run(&["graph"]).expect(0).stdout(),
        "state_storage  up\nparallel_a     up       <- state_storage\nparallel_b     failed   <- state_storage\nfinal          never    <- parallel_a, parallel_b\n"
    );
    let dot = f.run(&["graph", "--format", "dot"]).expect(0).stdout();
    assert!(dot.starts_with("digraph betterform {\n"), "{dot}");
    assert!(dot.contains("  \"parallel_b\" [fillcolor=\"#f5a3a3\", tooltip=\"failed\"];\n"), "{dot}");
    assert!(dot.contains("  \"parallel_a\" -> \"final\";\n"), "{dot}");
    assert_eq!(dot.matches(" -> ").count(), 4);
    let mermaid = f.run(&["graph", "--format", "mermaid"]).expect(0).stdout();
    assert!(mermaid.starts_with("flowchart LR\n  s0[\"state_storage\"]:::up\n"), "{mermaid}");
    assert!(mermaid.contains("  s2[\"parallel_b\"]:::failed\n  s3[\"final\"]:::never\n"), "{mermaid}");
    assert!(mermaid.contains("  s1 --> s3\n  s2 --> s3\n"), "{mermaid}");
    assert!(mermaid.contains("classDef failed fill:#f5a3a3"), "{mermaid}");
    let json: serde_json::Value =
        serde_json::from_str(&f.run(&["graph", "--format", "json"]).expect(0).stdout()).unwrap();
    assert_eq!(json["stages"][3]["name"], "final");
    assert_eq!(json["stages"][3]["deps"], serde_json::json!(["parallel_a", "parallel_b"]));
    assert_eq!(json["stages"][2]["status"], "failed");
    assert_eq!(snapshot(&f.deploy), before, "graph must write nothing");
}

#[test]
fn validate_reports_every_problem_at_once() {
    let f = Fixture::new("diamond");
    f.write("config.jsonnet", "{ region: oops }");
    f.write_impl("parallel_a/bad.txt", "{{ cfg.region ");
    f.write_impl("final/bad.txt", "{{% for x in y %}}");
    let run = f.run(&["validate"]).expect(2);
    let err = run.stderr();
    assert!(err.starts_with("error: 3 problems found:\n"), "{err}");
    assert!(err.contains("config.jsonnet:1:11: undefined local: oops"), "{err}");
    assert!(err.contains("parallel_a/bad.txt:1:4: syntax error"), "{err}");
    assert!(err.contains("final/bad.txt:1:16: syntax error"), "{err}");
    assert!(f.trace().is_empty() && !f.exists("genfiles"), "validate runs and writes nothing");

    let json: serde_json::Value =
        serde_json::from_str(&f.run(&["validate", "--json"]).expect(2).stdout()).unwrap();
    assert_eq!(json["valid"], false);
    assert_eq!(json["problems"].as_array().unwrap().len(), 3);
}

#[test]
fn validate_reports_dag_and_config_problems_together() {
    let f = Fixture::new("diamond");
    f.write("config.jsonnet", "{");
    f.write_impl("betterform_dag.mk", "$(call define_stage, a, b)\n$(call define_stage, final, missing)\n");
    let err = f.run(&["validate"]).expect(2).stderr();
    assert!(err.contains("betterform_dag.mk:1:25: unknown stage 'b'"), "{err}");
    assert!(err.contains("betterform_dag.mk:2:29: unknown stage 'missing'"), "{err}");
    assert!(err.contains("config.jsonnet:1:2: syntax error"), "{err}");
}

#[test]
fn validate_passes_a_good_library() {
    let f = Fixture::new("diamond");
    f.write("config.jsonnet", "{ region: 'x' }");
    assert_eq!(f.run(&["validate"]).expect(0).stdout(), "valid: 4 stages, config and templates check out\n");
}

#[test]
fn config_prints_the_evaluated_config_without_writing_it() {
    let f = Fixture::new("diamond");
    f.write("config.jsonnet", "{ region: 'eu-' + 'north-1', n: 1 + 1 }");
    let out = f.run(&["config"]).expect(0).stdout();
    assert_eq!(out, "{\n  \"n\": 2,\n  \"region\": \"eu-north-1\"\n}\n");
    assert!(!f.exists("genfiles"), "config must not write CONFIG_JSON_FILE");
    f.write("config.jsonnet", "{ region: }");
    f.run(&["config"]).expect(2);
}

#[test]
fn plan_says_what_up_would_do_and_why_without_writing() {
    let f = Fixture::new("diamond");
    f.write("config.jsonnet", "{ region: 'x' }");
    let before = snapshot(&f.deploy);
    assert_eq!(
        f.run(&["plan"]).expect(0).stdout(),
        "wave 1:\n  state_storage  run      never brought up\nwave 2:\n  parallel_a     run      dependency state_storage will run (rendered after it)\n  parallel_b     run      dependency state_storage will run (rendered after it)\nwave 3:\n  final          run      dependencies parallel_a, parallel_b will run (rendered after them)\nplan: 4 to run, 0 up to date, 0 blocked\n"
    );
    assert_eq!(snapshot(&f.deploy), before, "plan must write nothing");

    f.run(&["up"]).expect(0);
    f.write_impl("parallel_a/extra.txt", "{{ cfg.region }}\n");
    let before = snapshot(&f.deploy);
    let plan = f.run(&["plan"]).expect(0).stdout();
    assert!(plan.contains("  state_storage  skip     up to date\n"), "{plan}");
    assert!(
        plan.contains(
            "  parallel_a     run      template files changed; stamped files differ: extra.txt (new)\n"
        ),
        "{plan}"
    );
    assert!(
        plan.contains("  final          run      dependency parallel_a will run (rendered after it)\n"),
        "{plan}"
    );
    assert!(plan.ends_with("plan: 2 to run, 2 up to date, 0 blocked\n"), "{plan}");
    let json: serde_json::Value =
        serde_json::from_str(&f.run(&["plan", "--json"]).expect(0).stdout()).unwrap();
    let actions: Vec<(&str, &str)> = json["stages"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| (s["name"].as_str().unwrap(), s["action"].as_str().unwrap()))
        .collect();
    assert_eq!(
        actions,
        [("state_storage", "skip"), ("parallel_a", "run"), ("parallel_b", "skip"), ("final", "run")]
    );
    assert_eq!(snapshot(&f.deploy), before, "plan must write nothing");
    // What plan said is what up does.
    let up = f.run(&["up"]).expect(0).stderr();
    assert!(up.contains("summary (up): 2 ran, 2 up to date"), "{up}");
    // -B plans every stage.
    assert!(
        f.run(&["plan", "-B", "parallel_b"])
            .expect(0)
            .stdout()
            .ends_with("plan: 2 to run, 0 up to date, 0 blocked\n")
    );
}

#[test]
fn stamp_renders_up_to_the_frontier_of_what_is_up_and_runs_nothing() {
    let f = Fixture::new("diamond");
    f.write("config.jsonnet", "{ region: 'x' }");
    let err = f.run(&["stamp"]).expect(0).stderr();
    assert!(err.contains("==> parallel_a: blocked until dependency state_storage is up"), "{err}");
    assert!(err.contains("summary (stamp): 1 stamped, 3 blocked, 0 failed"), "{err}");
    assert_eq!(f.read("genfiles/state_storage/settings.txt"), "region=x\nstage=state_storage\n");
    assert!(!f.exists("genfiles/parallel_a"));

    f.run(&["up", "state_storage"]).expect(0);
    let err = f.run(&["stamp"]).expect(0).stderr();
    assert!(err.contains("summary (stamp): 3 stamped, 1 blocked, 0 failed"), "{err}");
    assert!(err.contains("==> final: blocked until dependencies parallel_a, parallel_b are up"), "{err}");
    assert!(f.exists("genfiles/parallel_b/ctl"));
    assert_eq!(f.started("up"), ["state_storage"], "stamp runs no ctl");
    assert!(!f.exists("genfiles/.betterform/state/parallel_a.json"), "stamp records no state");

    f.write_impl("parallel_a/bad.txt", "{{ cfg.nope }}");
    let err = f.run(&["stamp"]).expect(1).stderr();
    assert!(err.contains("parallel_a/bad.txt:1:4: undefined value 'cfg.nope'"), "{err}");
}

#[test]
fn plan_exit_code_answers_whether_anything_is_pending() {
    let f = Fixture::new("diamond");
    f.write("config.jsonnet", "{ region: 'eu-north-1' }");
    // Everything would run.
    let run = f.run(&["plan", "--exit-code"]).expect(5);
    assert!(run.stderr().is_empty(), "an answer, not an error: {}", run.stderr());
    f.run(&["up"]).expect(0);
    // Nothing pending.
    f.run(&["plan", "--exit-code"]).expect(0);
    // Something would run.
    f.write_impl("final/extra.txt", "x\n");
    f.run(&["plan", "--exit-code"]).expect(5);
    // Something would fail at its turn.
    f.write_impl("final/extra.txt", "{{ output('parallel_a').no_such_key }}\n");
    f.run(&["plan", "--exit-code"]).expect(6);
    // Without the flag, plan exits 0 unless something would fail.
    f.run(&["plan"]).expect(6);
    f.write_impl("final/extra.txt", "x\n");
    f.run(&["plan"]).expect(0);
    // A CI job planning one stage whose upstream outputs were not restored: it would fail.
    let f = Fixture::new("diamond");
    f.write("config.jsonnet", "{ region: 'eu-north-1' }");
    f.run(&["plan", "--exit-code", "--only", "final"]).expect(6);
}
