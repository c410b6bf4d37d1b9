//! Coming from the original make + gomplate betterform: its DAG file forms, make-style
//! `NAME=value` arguments and `-n`, its deployments' state, its stage utilities, and
//! `migrate`.

use std::os::unix::fs::PermissionsExt;

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

/// The terraform fixture: two stages whose `ctl` runs the terraform utility (as
/// `betterform_stage_terraform` and as `betterform stage terraform`), a terraform stand-in on
/// PATH that logs every invocation to `tf.log`. `programs`: the stand-in's names to install.
fn terraform_stages(programs: &[&str]) -> (Fixture, String) {
    let f = Fixture::new("terraform");
    f.write("config.jsonnet", "{ region: 'eu' }");
    let path = with_terraform(&f, programs);
    (f, path)
}

/// A PATH with `betterform`, `betterform_stage_terraform` and the terraform stand-in under
/// each of `programs`' names.
fn with_terraform(f: &Fixture, programs: &[&str]) -> String {
    let bin = f.deploy.join("bin");
    std::fs::create_dir_all(&bin).unwrap();
    let betterform = assert_cmd::cargo::cargo_bin("betterform");
    std::os::unix::fs::symlink(&betterform, bin.join("betterform")).unwrap();
    std::os::unix::fs::symlink(&betterform, bin.join("betterform_stage_terraform")).unwrap();
    let standin = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("testdata/terraform/bin/terraform");
    for program in programs {
        std::fs::copy(&standin, bin.join(program)).unwrap();
    }
    format!("{}:/usr/bin:/bin", bin.display())
}

fn tf_log(f: &Fixture) -> Vec<String> {
    std::fs::read_to_string(f.deploy.join("tf.log")).unwrap_or_default().lines().map(String::from).collect()
}

#[test]
fn terraform_stages_run_through_the_original_stage_utility() {
    let (f, path) = terraform_stages(&["terraform"]);
    let log = f.deploy.join("tf.log");
    let run =
        |args: &[&str]| f.cmd().args(args).env("PATH", &path).env("TF_STANDIN_LOG", &log).output().unwrap();

    crate::common::Run(run(&["up", "-j", "1"])).expect(0);
    // No prompt can be answered off a terminal: -input=false everywhere, -auto-approve to apply.
    let network = [
        "terraform init -input=false",
        "terraform apply -input=false -auto-approve",
        "terraform output -json",
    ];
    assert_eq!(tf_log(&f), [network, network].concat(), "network, then app");
    // Outputs where dependents' templates read them; the lock file kept with them.
    let outputs: serde_json::Value = serde_json::from_str(&f.read("output/network/output.json")).unwrap();
    assert_eq!(outputs["vpc_id"]["value"], "vpc-eu");
    assert_eq!(f.read("genfiles/app/main.tf"), "output \"endpoint\" {\n  value = \"app.vpc-eu\"\n}\n");
    let outputs: serde_json::Value = serde_json::from_str(&f.read("output/app/output.json")).unwrap();
    assert_eq!(outputs["endpoint"]["value"], "app.vpc-eu");
    assert!(f.exists("output/network/.terraform.lock.hcl"));

    // The committed lock file is what init starts from.
    f.write("output/network/.terraform.lock.hcl", "# pinned providers\n");
    crate::common::Run(run(&["up", "-B", "--only", "network"])).expect(0);
    assert_eq!(f.read("genfiles/network/.terraform.lock.hcl"), "# pinned providers\n");

    // A failed `output -json` keeps the previous outputs and says where the new text went.
    let failed = f
        .cmd()
        .args(["up", "-B", "--only", "network"])
        .env("PATH", &path)
        .env("TF_STANDIN_FAIL", "output")
        .output()
        .unwrap();
    let err = crate::common::Run(failed).expect(1).stderr();
    assert!(err.contains("'terraform output -json' failed (exit status 1); what it printed is in "), "{err}");
    assert!(f.exists("output/network/output.json.tmp"));
    assert!(f.read("output/network/output.json").contains("vpc-eu"), "previous outputs kept");
    // A failing apply fails the stage with its status; no output -json runs after it.
    std::fs::remove_file(&log).unwrap();
    let failed = f
        .cmd()
        .args(["up", "-B", "--only", "network"])
        .env("PATH", &path)
        .env("TF_STANDIN_LOG", &log)
        .env("TF_STANDIN_FAIL", "apply")
        .output()
        .unwrap();
    let err = crate::common::Run(failed).expect(1).stderr();
    assert!(err.contains("'terraform apply' failed (exit status 1)"), "{err}");
    assert!(!tf_log(&f).iter().any(|l| l.contains("output")), "{:?}", tf_log(&f));

    std::fs::remove_file(&log).unwrap();
    crate::common::Run(run(&["down", "-j", "1", "--yes"])).expect(0);
    let destroyed: Vec<String> = tf_log(&f).into_iter().filter(|l| l.contains("destroy")).collect();
    assert_eq!(destroyed, ["terraform destroy -input=false -auto-approve"; 2]);
}

#[test]
fn the_terraform_utility_finds_opentofu_or_the_program_tf_cmd_names() {
    let (f, path) = terraform_stages(&["tofu"]);
    let log = f.deploy.join("tf.log");
    f.cmd().args(["up", "--only", "network"]).env("PATH", &path).env("TF_STANDIN_LOG", &log).assert().code(0);
    assert_eq!(tf_log(&f)[0], "tofu init -input=false", "tofu when terraform is not on PATH");

    let wrapper = f.deploy.join("bin/tf-wrapper");
    std::fs::copy(f.impl_dir.join("bin/terraform"), &wrapper).unwrap();
    std::fs::remove_file(&log).unwrap();
    f.cmd()
        .args(["up", "-B", "--only", "network"])
        .env("PATH", &path)
        .env("TF_STANDIN_LOG", &log)
        .env("TF_CMD", &wrapper)
        .assert()
        .code(0);
    assert_eq!(tf_log(&f)[0], "tf-wrapper init -input=false", "TF_CMD wins");

    // Neither on PATH: the stage fails saying what to do.
    let (f, path) = terraform_stages(&[]);
    let err =
        crate::common::Run(f.cmd().args(["up"]).env("PATH", &path).output().unwrap()).expect(1).stderr();
    assert!(err.contains("neither terraform nor tofu is on PATH; install one, or set TF_CMD"), "{err}");
}

#[test]
fn an_interactive_terraform_stage_asks_before_applying() {
    let (f, path) = terraform_stages(&["terraform"]);
    let log = f.deploy.join("tf.log").display().to_string();
    let (code, out) = f.on_terminal_with_env(
        // -j 1: the stage runs on the terminal itself (what this test is about is terraform's
        // prompt, not how parallel stages share the keyboard).
        &["up", "-j", "1", "--only", "network"],
        &[("Enter a value: ", "yes\n")],
        &[("PATH", &path), ("TF_STANDIN_LOG", &log)],
    );
    assert_eq!(code, 0, "{out}");
    assert_eq!(tf_log(&f), ["terraform init", "terraform apply", "terraform output -json"]);
    assert!(out.contains("Apply complete!"), "{out}");
}

#[test]
fn the_terraform_utility_outside_a_stage_says_what_is_missing() {
    let f = Fixture::new("terraform");
    let out = f.cmd_without_impl_dir().args(["stage", "terraform", "up"]).output().unwrap();
    let err = crate::common::Run(out).expect(2).stderr();
    assert_eq!(
        err,
        "error: STAGE_NAME is not set: `stage terraform` runs inside a stage's ctl, where betterform sets it\n"
    );
}

/// The original's layout: gomplate templates, its DAG forms, an impl ctl calling
/// `betterform_orchestrator`, a terraform stage it brought up (sentinel, stamped dir, outputs).
fn original_deployment() -> (Fixture, String) {
    let f = Fixture::new("original");
    f.write("cell_config.jsonnet", "{ region: 'eu' }");
    let libsonnet = f.impl_dir.join("config.libsonnet");
    f.write(
        "config.jsonnet",
        &format!("(import '{}')(cell_config=import 'cell_config.jsonnet')\n", libsonnet.display()),
    );
    f.write("genfiles/events/network-stamped", "");
    f.write("genfiles/events/network-up", "");
    f.write("genfiles/network/main.tf", "output \"vpc_id\" {\n  value = \"vpc-eu\"\n}\n");
    f.write(
        "output/network/output.json",
        r#"{"vpc_id": {"sensitive": false, "type": "string", "value": "vpc-eu"}}"#,
    );
    f.write("output/network/.terraform.lock.hcl", "# providers\n");
    let path = with_terraform(&f, &["terraform"]);
    (f, path)
}

#[test]
fn an_original_deployment_is_migrated_in_one_command_and_runs_only_what_is_not_up() {
    let (f, path) = original_deployment();
    let app_conf = f.impl_dir.join("app/app.conf");
    let gomplate = std::fs::read_to_string(&app_conf).unwrap();

    // --check shows the diff and changes nothing.
    let run = f.cmd().args(["migrate", "--check"]).output().unwrap();
    let check = crate::common::Run(run).expect(1);
    let diff = check.stdout();
    assert!(diff.contains("\n-$(call dag_deps app, network)\n"), "{diff}");
    assert!(diff.contains("\n+$(call define_stage, app, network)\n"), "{diff}");
    assert!(diff.contains("+stage={{ env.STAGE_NAME }}"), "{diff}");
    assert!(diff.contains("-exec betterform_orchestrator \"$@\"\n+exec betterform \"$@\""), "{diff}");
    assert!(check.stderr().contains("4 file(s) would change"), "{}", check.stderr());
    assert_eq!(std::fs::read_to_string(&app_conf).unwrap(), gomplate, "nothing written");

    let out = f.run(&["migrate"]).expect(0).stdout();
    assert_eq!(out.lines().count(), 4, "{out}");
    assert_eq!(
        std::fs::read_to_string(&app_conf).unwrap(),
        "{{%- set net = read_json(\"output/network/output.json\") -%}}\n\
         stage={{ env.STAGE_NAME }}\n\
         vpc={{ net.vpc_id.value }}\n\
         replicas={{ cfg.app.replicas }}\n\
         {{% for item in cfg.app.zones -%}}\nzone={{ item }}\n{{% endfor -%}}\n\
         {{% for k, v in cfg.app.labels|pairs -%}}\nlabel.{{ k }}={{ v|upper }}\n{{% endfor -%}}\n\
         {{% if cfg.app.replicas > 1 %}}ha=true{{% else %}}ha=false{{% endif %}}\n"
    );
    // Helm's templates under .gomplateignore are not gomplate's: untouched, not listed.
    assert_eq!(f.read_impl("app/chart/templates/deployment.yaml"), "replicas: {{ .Values.replicas }}\n");
    assert!(
        std::fs::metadata(f.impl_dir.join("ctl")).unwrap().permissions().mode() & 0o111 != 0,
        "still executable"
    );
    // Idempotent.
    let again = f.run(&["migrate"]).expect(0);
    assert_eq!(again.stdout(), "");
    assert!(again.stderr().contains("nothing to migrate"), "{}", again.stderr());

    // The first up: network was brought up by the original, only app runs.
    let up = f.cmd().args(["up", "-j", "1"]).env("PATH", &path).output().unwrap();
    let err = crate::common::Run(up).expect(0).stderr();
    assert!(err.contains("adopting 1 stage(s)"), "{err}");
    assert_eq!(tf_log(&f), Vec::<String>::new(), "terraform not run for the adopted network: {err}");
    assert_eq!(
        f.read("output/app/app.conf"),
        "stage=app\nvpc=vpc-eu\nreplicas=2\nzone=a\nzone=b\nlabel.team=INFRA\nlabel.tier=WEB\nha=true\n"
    );
    // The impl ctl, as operators ran it, now calls betterform.
    let log = f.deploy.join("tf.log");
    let ctl = std::process::Command::new(f.impl_dir.join("ctl"))
        .args(["up", "-B", "--only", "network"])
        .current_dir(&f.deploy)
        .env("PATH", &path)
        .env("TF_STANDIN_LOG", &log)
        .env("INTERACTIVE", "false")
        .output()
        .unwrap();
    assert!(ctl.status.success(), "{}", String::from_utf8_lossy(&ctl.stderr));
    assert!(
        tf_log(&f).contains(&"terraform apply -input=false -auto-approve".to_string()),
        "{:?}",
        tf_log(&f)
    );
    let down = f
        .cmd()
        .args(["down", "--yes", "-j", "1"])
        .env("PATH", &path)
        .env("TF_STANDIN_LOG", &log)
        .output()
        .unwrap();
    crate::common::Run(down).expect(0);
    assert!(tf_log(&f).contains(&"terraform destroy -input=false -auto-approve".to_string()));
    assert!(!f.exists("output/app"), "app took its outputs down");
    assert_eq!((f.status("app"), f.status("network")), ("down".to_string(), "down".to_string()));
}

#[test]
fn migrate_lists_what_it_cannot_convert_and_says_so_in_its_exit_status() {
    let (f, _) = original_deployment();
    f.write_impl("app/extra.txt", "a={{ .cfg.region }}\nb={{ printf \"%d\" 3 }}\n");
    f.write_impl("betterform_dag.mk", "NET := network\n$(call dag_deps app, network)\n");
    let run = f.run(&["migrate"]).expect(1);
    let err = run.stderr();
    let impl_dir = f.impl_dir.display();
    assert!(err.contains(&format!("{impl_dir}/app/extra.txt:2: left as it was: {{{{ printf \"%d\" 3 }}}}: 'printf' has no betterform equivalent")), "{err}");
    assert!(
        err.contains(&format!(
            "{impl_dir}/betterform_dag.mk:1: left as it was: the make variable assignment"
        )),
        "{err}"
    );
    assert_eq!(
        f.read_impl("app/extra.txt"),
        "a={{ cfg.region }}\nb={{ printf \"%d\" 3 }}\n",
        "the rest converted"
    );
    assert!(f.read_impl("betterform_dag.mk").starts_with("NET := network"), "the DAG file left as it was");
}
