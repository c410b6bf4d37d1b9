//! `run VERB`: a stage command across the DAG, in dependency order, recording nothing.

use crate::common::{Fixture, diamond};

#[test]
fn a_verb_runs_in_every_stage_in_dependency_order_and_records_nothing() {
    let f = diamond();
    f.run(&["up", "-j", "1"]).expect(0);
    let before = f.read("genfiles/.betterform/state/final.json");
    let run = f.run(&["run", "plan", "-j", "1"]).expect(0);
    assert_eq!(f.started("plan"), ["state_storage", "parallel_a", "parallel_b", "final"]);
    assert_eq!(f.read("genfiles/.betterform/state/final.json"), before, "no record changes");
    assert!(f.exists("genfiles/.betterform/logs/final/plan.log"));
    let err = run.stderr();
    assert!(err.contains("summary (plan): 4 ran"), "{err}");
    // Teardown-like verbs go dependents first.
    f.run(&["run", "check-destroy", "--reverse", "-j", "1"]).expect(0);
    assert_eq!(f.started("check-destroy"), ["final", "parallel_b", "parallel_a", "state_storage"]);
}

#[test]
fn stages_whose_dependencies_are_not_up_are_reported_blocked() {
    let f = diamond();
    let err = f.run(&["run", "plan", "-j", "1"]).expect(0).stderr();
    assert_eq!(f.started("plan"), ["state_storage"], "only the stage with nothing to wait for");
    assert!(err.contains("skipped: blocked: dependency state_storage is not up"), "{err}");
    assert!(!f.exists("genfiles/.betterform/state/state_storage.json"), "run records nothing");
}

#[test]
fn a_failing_verb_fails_the_run_and_blocks_what_depends_on_it() {
    let f = diamond();
    f.run(&["up"]).expect(0);
    let out = f.cmd().args(["run", "validate", "-j", "1"]).env("FAIL_STAGE", "parallel_a").output().unwrap();
    let err = crate::common::Run(out).expect(1).stderr();
    assert!(err.contains("parallel_a") && err.contains("ctl validate: exit status 3"), "{err}");
    assert!(!f.started("validate").contains(&"final".to_string()), "final depends on the failure");
    assert_eq!(f.status("parallel_a"), "up", "its record is untouched");
}

#[test]
fn up_and_down_and_non_words_are_refused() {
    let f = diamond();
    let err = f.run(&["run", "up"]).expect(2).stderr();
    assert!(
        err.contains("'run up' would change the stages without recording it; use 'betterform up'"),
        "{err}"
    );
    let err = f.run(&["run", "../evil"]).expect(2).stderr();
    assert!(err.contains("'../evil' is not a verb"), "{err}");
    assert!(f.trace().is_empty());
}

#[test]
fn step_package_stages_without_the_verb_are_skipped_with_a_reason() {
    let f = Fixture::new("steps");
    f.write("config.jsonnet", "{ container: 'web-blue' }\n");
    f.run(&["up", "net"]).expect(0);
    let err = f.run(&["run", "plan", "--only", "deploy"]).expect(0).stderr();
    assert!(err.contains("skipped: a stage with a 'step.json' has no 'plan'"), "{err}");
}
