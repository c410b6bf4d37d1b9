//! Make-like incremental runs: a stage is skipped when its last `up` succeeded on a
//! byte-identical render and no dependency has completed an `up` since; `-B` overrides.

use crate::common::Fixture;

/// The diamond, with parallel_a reading an input file and parallel_b a config value.
fn diamond() -> Fixture {
    let f = Fixture::new("diamond");
    f.write("config.jsonnet", "{ region: 'eu-north-1', b_value: 1 }\n");
    f.write("inputs/a.json", "{\"x\": 1, \"unused\": 1}");
    f.write_impl("parallel_a/a.txt", "x={{ read_json('inputs/a.json').x }}\n");
    f.write_impl("parallel_b/b.txt", "b={{ cfg.b_value }}\n");
    f.run(&["up", "-j", "1"]).expect(0);
    assert_eq!(f.started("up").len(), 4);
    f
}

/// The stages whose `ctl up` ran in the last `up`, sorted.
fn rerun(f: &Fixture, args: &[&str]) -> (Vec<String>, String) {
    let before = f.started("up").len();
    let mut full = vec!["up", "-j", "1"];
    full.extend_from_slice(args);
    let run = f.run(&full).expect(0);
    let mut ran: Vec<String> = f.started("up").split_off(before);
    ran.sort();
    (ran, run.stderr())
}

#[test]
fn nothing_changed_runs_nothing() {
    let f = diamond();
    let (ran, err) = rerun(&f, &[]);
    assert!(ran.is_empty(), "{ran:?}");
    assert!(err.contains("summary (up): 0 ran, 4 up to date"), "{err}");
    assert!(err.contains("==> final: up to date"), "{err}");
}

#[test]
fn a_changed_template_reruns_that_stage_and_its_dependents_only() {
    let f = diamond();
    f.write_impl("parallel_a/new.txt", "new\n");
    let (ran, err) = rerun(&f, &[]);
    assert_eq!(ran, ["final", "parallel_a"]);
    assert!(
        err.contains("==> parallel_a: running: template files changed; stamped files differ: new.txt (new)"),
        "{err}"
    );
    assert!(err.contains("==> final: running: dependency parallel_a completed an up since"), "{err}");
}

#[test]
fn a_changed_config_value_reruns_only_the_stages_that_use_it() {
    let f = diamond();
    f.write("config.jsonnet", "{ region: 'eu-north-1', b_value: 2 }\n");
    let (ran, err) = rerun(&f, &[]);
    assert_eq!(ran, ["final", "parallel_b"]);
    assert!(err.contains("==> parallel_b: running: config changed; stamped files differ: b.txt"), "{err}");
    assert_eq!(f.read("genfiles/parallel_b/b.txt"), "b=2\n");
}

#[test]
fn a_changed_input_file_reruns_the_stage_that_reads_it_only_if_its_render_changes() {
    let f = diamond();
    f.write("inputs/a.json", "{\"x\": 1, \"unused\": 2}");
    assert!(rerun(&f, &[]).0.is_empty(), "a change the render does not see must not rerun");
    f.write("inputs/a.json", "{\"x\": 2, \"unused\": 2}");
    let (ran, err) = rerun(&f, &[]);
    assert_eq!(ran, ["final", "parallel_a"]);
    assert!(
        err.contains(
            "==> parallel_a: running: a file its templates read changed; stamped files differ: a.txt"
        ),
        "{err}"
    );
}

#[test]
fn force_reruns_every_targeted_stage() {
    let f = diamond();
    assert_eq!(rerun(&f, &["-B"]).0, ["final", "parallel_a", "parallel_b", "state_storage"]);
    assert_eq!(rerun(&f, &["-B", "parallel_b"]).0, ["parallel_b", "state_storage"]);
    // state_storage and parallel_b completed an up since their dependents' last up.
    assert_eq!(rerun(&f, &[]).0, ["final", "parallel_a"]);
}

#[test]
fn a_failed_stage_runs_again_but_up_to_date_ones_do_not() {
    let f = diamond();
    f.write("config.jsonnet", "{ region: 'eu-north-1', b_value: 3 }\n");
    f.cmd().args(["up", "-j", "1"]).env("FAIL_STAGE", "parallel_b").assert().code(1);
    assert_eq!(f.status("parallel_b"), "failed");
    let (ran, err) = rerun(&f, &[]);
    assert_eq!(ran, ["final", "parallel_b"]);
    assert!(err.contains("==> parallel_b: running: last recorded status is failed"), "{err}");
}

#[test]
fn a_stage_brought_down_is_brought_up_again() {
    let f = diamond();
    f.run(&["down", "final"]).expect(0);
    assert_eq!(rerun(&f, &[]).0, ["final"]);
}

#[test]
fn a_corrupt_state_file_is_named_and_fails_the_stage() {
    let f = diamond();
    f.write("genfiles/.betterform/state/parallel_a.json", "{ not json");
    let run = f.run(&["up", "-j", "1"]).expect(1);
    let err = run.stderr();
    assert!(err.contains("state file ") && err.contains("parallel_a.json is corrupt"), "{err}");
}
