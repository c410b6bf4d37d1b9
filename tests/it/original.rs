//! Coming from the original make + gomplate betterform: its DAG file forms, make-style
//! `NAME=value` arguments and `-n`, its deployments' state, its stage utilities, and
//! `migrate`.

use crate::common::{Fixture, diamond};

#[test]
fn the_original_betterform_dag_forms_run_as_written_in_its_docs() {
    let f = diamond();
    // No comma after the function name, `dag_dep`, two calls on one line: the forms the
    // make-based original's documentation shows.
    f.write_impl(
        "betterform_dag.mk",
        "$(call dag_deps state_storage, )\n\
         $(call dag_dep, parallel_a parallel_b, state_storage) $(call dag_deps final, parallel_a parallel_b)\n",
    );
    f.run(&["up", "-j", "1"]).expect(0);
    let started = f.started("up");
    assert_eq!(started.first().map(String::as_str), Some("state_storage"));
    assert_eq!(started.last().map(String::as_str), Some("final"));
    assert_eq!(started.len(), 4);
}

#[test]
fn name_value_arguments_set_variables_for_the_run_as_make_did() {
    let f = diamond();
    let elsewhere = f.deploy.join("other/genfiles");
    // `./ctl up GENFILES=/x` as the original's make-based ctl took it; the stages see it too.
    let assign = format!("GENFILES={}", elsewhere.display());
    f.run(&["up", &assign, "parallel_a", "FAIL_STAGE=nobody"]).expect(0);
    assert!(elsewhere.join("parallel_a/ctl").is_file(), "stamped under the assigned GENFILES");
    assert!(!f.exists("genfiles/parallel_a"), "not under the default");
    let seen = std::fs::read_to_string(elsewhere.join("parallel_a/seen_env.up")).unwrap();
    assert!(seen.contains(&format!("GENFILES={}\n", elsewhere.display())), "{seen}");
    let trace = std::fs::read_to_string(f.deploy.join("other/trace.log")).unwrap();
    assert_eq!(
        trace.lines().filter(|l| l.starts_with("start")).count(),
        2,
        "parallel_a and its dependency: {trace}"
    );

    // A variable the stages read: FAIL_STAGE makes the diamond's stage fail.
    let err = f.run(&["up", "FAIL_STAGE=final"]).expect(1).stderr();
    assert!(err.contains("==> final: FAILED"), "{err}");
    // Not a stage name, not an assignment: still an unknown stage.
    let err = f.run(&["up", "1X=2"]).expect(2).stderr();
    assert!(err.contains("unknown stage '1X=2'"), "{err}");
}

#[test]
fn dash_n_is_a_dry_run_for_up_and_down() {
    let f = diamond();
    let out = f.run(&["up", "-n"]).expect(0).stdout();
    assert!(out.contains("state_storage") && out.contains("never brought up"), "the plan: {out}");
    assert!(f.trace().is_empty(), "nothing ran");
    assert!(!f.exists("genfiles/state_storage"), "nothing stamped");

    f.run(&["up", "parallel_a"]).expect(0);
    let out = f.run(&["down", "-n"]).expect(0).stdout();
    assert_eq!(
        out,
        "final: skip: never stamped\n\
         parallel_b: skip: never stamped\n\
         parallel_a: would run down (recorded up)\n\
         state_storage: would run down (recorded up)\n"
    );
    assert_eq!(f.status("parallel_a"), "up", "nothing went down");
}

/// A deployment the original make-based betterform brought up: its sentinels under
/// `genfiles/events/`, its stamped dirs, its stages' outputs; no record of betterform's.
fn brought_up_by_the_original(f: &Fixture, stages: &[&str]) {
    for stage in stages {
        f.write(&format!("genfiles/events/{stage}-stamped"), "");
        f.write(&format!("genfiles/events/{stage}-up"), "");
        f.write(&format!("genfiles/{stage}/ctl"), "#!/bin/sh\n");
        f.write(
            &format!("output/{stage}/output.json"),
            &format!("{{\"name\": \"{stage}\", \"value\": \"from-{stage}\"}}"),
        );
    }
}

#[test]
fn an_existing_deployment_of_the_original_is_adopted_not_run_again() {
    let f = diamond();
    brought_up_by_the_original(&f, &["state_storage", "parallel_a"]);

    let adopting = "adopting 2 stage(s) the original betterform recorded up (genfiles/events/<stage>-up): \
                    state_storage, parallel_a";
    let run = f.run(&["status"]).expect(0);
    assert!(run.stderr().contains(adopting), "{}", run.stderr());
    let line = |out: &str, stage: &str| {
        out.lines().find(|l| l.trim_start().starts_with(stage)).unwrap_or_default().to_string()
    };
    assert!(line(&run.stdout(), "state_storage").contains("up"), "{}", run.stdout());

    let out = f.run(&["plan"]).expect(0).stdout();
    assert!(line(&out, "parallel_a").contains("up to date"), "{out}");
    assert!(line(&out, "parallel_b").contains("run      never brought up"), "{out}");

    // The first up runs only what the original had not brought up.
    let err = f.run(&["up"]).expect(0).stderr();
    assert_eq!(f.started("up"), ["parallel_b", "final"], "{err}");
    assert!(err.contains("state_storage: adopted: the original betterform recorded it up"), "{err}");
    assert_eq!(f.status("state_storage"), "up", "recorded as betterform's own now");
    assert_eq!(f.read("genfiles/final/upstream.txt"), "a=from-parallel_a\nb=from-parallel_b\n");

    // From then on it is an ordinary deployment: nothing to do, -B runs one stage, down all.
    f.run(&["up"]).expect(0);
    assert_eq!(f.started("up").len(), 2, "nothing ran again");
    f.run(&["up", "-B", "--only", "parallel_a"]).expect(0);
    assert_eq!(f.started("up").last().map(String::as_str), Some("parallel_a"));
    f.run(&["down", "--yes"]).expect(0);
    let mut down = f.started("down");
    assert_eq!((down.first().unwrap().as_str(), down.last().unwrap().as_str()), ("final", "state_storage"));
    down.sort();
    assert_eq!(down, ["final", "parallel_a", "parallel_b", "state_storage"], "every stage went down");
}
