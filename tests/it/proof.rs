//! Templates proven before anything runs: `validate`, `plan` and the start of `up` render
//! every targeted stage against the real config, upstream outputs stood in for. What no
//! upstream output can change is exit 2 with nothing run, naming file and line.

use crate::common::Fixture;

fn diamond() -> Fixture {
    let f = Fixture::new("diamond");
    f.write("config.jsonnet", "{ region: 'eu-north-1', app: { replicas: 3, image: 'web:1' } }");
    f
}

/// `validate`, `plan` and `up` all refuse with exit 2, the message in each, and nothing ran.
fn refused_everywhere(f: &Fixture, expected: &str) {
    for command in ["validate", "plan", "up"] {
        let err = f.run(&[command]).expect(2).stderr();
        assert!(err.contains(expected), "{command}: {err}");
    }
    assert!(f.trace().is_empty(), "no ctl ran");
    assert!(!f.exists("genfiles/state_storage"), "nothing was stamped");
}

#[test]
fn a_typo_in_a_config_path_is_found_with_a_suggestion() {
    let f = diamond();
    f.write_impl("final/app.yaml", "replicas: {{ cfg.app.replicaz }}\n");
    refused_everywhere(
        &f,
        "final/app.yaml:1:14: undefined value 'cfg.app.replicaz' (did you mean 'cfg.app.replicas'?)",
    );
}

#[test]
fn an_unknown_filter_is_found_before_upstream_stages_change_anything() {
    let f = diamond();
    // In the last stage: before, `up` ran three stages and then failed here.
    f.write_impl("final/app.yaml", "app: {{ cfg.app | toyamll }}\n");
    refused_everywhere(&f, "final/app.yaml:1:");
    let err = f.run(&["validate"]).expect(2).stderr();
    assert!(err.contains("unknown filter"), "{err}");
}

#[test]
fn reading_a_stage_that_is_not_upstream_names_both_and_the_fix() {
    let f = diamond();
    // parallel_a does not depend on parallel_b: whether the output exists is a race.
    f.write_impl("parallel_a/peer.txt", "{{ output('parallel_b').value }}\n");
    refused_everywhere(
        &f,
        "parallel_a/peer.txt:1:4: invalid operation: output('parallel_b') reads the outputs of stage 'parallel_b', which 'parallel_a' does not depend on",
    );
    let err = f.run(&["validate"]).expect(2).stderr();
    assert!(
        err.contains("add 'parallel_b' to the dependencies of 'parallel_a' in betterform_dag.mk"),
        "{err}"
    );
    // The same through read_json of its output file.
    let f = diamond();
    f.write_impl(
        "parallel_a/peer.txt",
        "{{ read_json(env.OUTPUT_DIR ~ '/parallel_b/output.json').value }}\n",
    );
    refused_everywhere(&f, "reads the outputs of stage 'parallel_b', which 'parallel_a' does not depend on");
}

#[test]
fn a_missing_required_value_is_found_before_running() {
    let f = diamond();
    f.write_impl(
        "state_storage/db.conf",
        "password={{ cfg.db_password | required('set db_password in config.jsonnet') }}\n",
    );
    refused_everywhere(&f, "set db_password in config.jsonnet");
}

#[test]
fn upstream_outputs_are_stand_ins_until_their_stage_has_run() {
    let f = diamond();
    // Outputs that do not exist yet, used every way a template uses them.
    f.write_impl(
        "final/uses.txt",
        "{{ output('parallel_a').value | upper }} {{ output('state_storage').name }}\n\
         {{% for key in output('parallel_b') %}}{{ key }} {{% endfor %}}\n\
         {{% if file_exists(env.OUTPUT_DIR ~ '/parallel_a/output.json') %}}yes{{% endif %}}\n\
         {{ read_json(env.OUTPUT_DIR ~ '/parallel_b/output.json').value }} {{ cfg.app.image }}\n",
    );
    f.run(&["validate"]).expect(0);
    f.run(&["plan"]).expect(0);
    f.run(&["up"]).expect(0);
    // At its turn the real outputs are there.
    assert_eq!(
        f.read("genfiles/final/uses.txt"),
        "FROM-PARALLEL_A state_storage\nname value \nyes\nfrom-parallel_b web:1\n"
    );
}
