//! The bundled example library, run the way the README tells a newcomer to: `up` brings the
//! diamond up with real local work, `down` leaves nothing behind but betterform's own files.

use std::path::Path;

use crate::common::Fixture;

fn example(deployment: &str) -> Fixture {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("examples");
    Fixture::from_dirs(&root.join("impl"), &root.join(deployment))
}

#[test]
fn what_a_users_own_run_left_in_the_example_is_not_copied_into_a_test() {
    // The README's step 1 runs the example in place; step 2 runs these tests. A repository
    // laid out like this one, with a run's leftovers in a deployment dir:
    let repo = tempfile::tempdir().unwrap();
    let write = |rel: &str, text: &str| {
        let path = repo.path().join(rel);
        std::fs::create_dir_all(path.parent().unwrap()).unwrap();
        std::fs::write(path, text).unwrap();
    };
    std::fs::copy(Path::new(env!("CARGO_MANIFEST_DIR")).join(".gitignore"), repo.path().join(".gitignore"))
        .unwrap();
    write("examples/impl/betterform_dag.mk", "$(call define_stage, a, )\n");
    write("examples/dev/config.jsonnet", "{}\n");
    write("examples/dev/genfiles/.betterformstate/state/a.json", "{\"status\": \"up\"}");
    write("examples/dev/output/a/output.json", "{}");
    write("examples/nested/dev/trace.log", "a up\n");
    let f = Fixture::from_dirs(&repo.path().join("examples/impl"), &repo.path().join("examples/dev"));
    assert!(f.exists("config.jsonnet"));
    assert!(f.impl_dir.join("betterform_dag.mk").exists());
    assert!(!f.exists("genfiles"), "a user's genfiles must not reach a test");
    assert!(!f.exists("output"), "a user's outputs must not reach a test");
}

#[test]
fn prod_deployment_goes_up_and_down_cleanly() {
    let f = example("prod");
    let run = f.run(&["up", "-j", "2"]).expect(0);
    let err = run.stderr();
    assert!(err.contains("[final] smoke check passed for prod: http://localhost:443, 4 pages"), "{err}");
    // A rendered config that read an upstream output at stamp time.
    let api: serde_json::Value = serde_json::from_str(&f.read("genfiles/parallel_b/api.json")).unwrap();
    assert_eq!(api["replicas"], 3);
    assert_eq!(api["debug"], false);
    // The store, each stage's registration and the site must outlive the run and a CI job:
    // they live in OUTPUT_DIR, each in its own stage's dir, and outputs name them relative to
    // OUTPUT_DIR so they hold in any checkout.
    assert_eq!(api["state_store"], "state_storage/state.db");
    assert!(f.exists("output/state_storage/state.db"));
    for stage in ["parallel_a", "parallel_b", "announce"] {
        let out: serde_json::Value =
            serde_json::from_str(&f.read(&format!("output/{stage}/output.json"))).unwrap();
        assert_eq!(out["registration"], format!("{stage}/registration.db"));
        assert!(f.exists(&format!("output/{stage}/registration.db")));
    }
    assert!(f.exists("output/parallel_a/site/index.html") && !f.exists("genfiles/parallel_a/site"));
    let outputs: String = ["state_storage", "parallel_a", "parallel_b", "publish", "announce"]
        .iter()
        .map(|stage| f.read(&format!("output/{stage}/output.json")))
        .collect();
    assert!(!outputs.contains(&*f.deploy.to_string_lossy()), "no absolute paths in outputs: {outputs}");
    // The step-package stages: `publish` (node) uploaded parallel_a's site with a banner
    // substituted from the config into its bucket; `announce` (exec) recorded it, binding
    // publish's outputs.
    assert_eq!(
        f.read("output/publish/site-prod/banner.txt"),
        "PROD build of \"betterform example\", published by betterform\n"
    );
    assert!(err.contains("[publish] signed the upload with ********"), "{err}");
    let published: serde_json::Value = serde_json::from_str(&f.read("output/publish/output.json")).unwrap();
    assert_eq!(published["pages"], "4");
    assert_eq!(published["bucket_dir"], "publish/site-prod");
    assert!(err.contains("[announce] recorded publish: 4 pages at bucket://site-prod/index.html"), "{err}");

    f.run(&["down", "-j", "2"]).expect(0);
    assert!(!f.exists("output/publish/site-prod"), "publish's down step removed the bucket");
    assert!(!f.exists("output/state_storage/state.db"));
    assert!(!f.exists("output/parallel_a/site"));
    let leftovers: Vec<_> = std::fs::read_dir(f.deploy.join("output")).unwrap().collect();
    assert!(leftovers.is_empty(), "down must remove every output: {leftovers:?}");
}

#[test]
fn dev_deployment_differs_only_by_its_config() {
    let f = example("dev");
    let run = f.run(&["up"]).expect(0);
    assert!(
        run.stderr().contains("smoke check passed for dev: http://localhost:8080, 2 pages"),
        "{}",
        run.stderr()
    );
}

#[test]
fn a_nested_orchestrator_runs_its_inner_dag_inside_a_stage() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("examples/nested");
    let f = Fixture::from_dirs(&root.join("impl"), &root.join("dev"));
    let run = f.run(&["up", "-j", "2"]).expect(0);
    // Inner stages ran inside the outer stage, and their outputs land below its OUTPUT_DIR.
    assert!(run.stderr().contains("[platform] ==> db: up done"), "{}", run.stderr());
    assert_eq!(f.read("output/platform/net/output.json"), "{\"address\": \"net.dev.example.internal\"}\n");
    assert!(run.stderr().contains("[app] app connects to db.dev.example.internal"), "{}", run.stderr());
    assert!(
        f.exists("genfiles/platform/.betterform/state/db.json"),
        "inner state lives in the outer stage dir"
    );
    assert_eq!(f.read("trace.log"), "base up\nplatform up\ninner/net up\ninner/db up\napp up\n");

    // Up to date all the way down: the inner run is not even started.
    let again = f.run(&["up"]).expect(0);
    assert!(again.stderr().contains("summary (up): 0 ran, 3 up to date"), "{}", again.stderr());

    // down of the outer stage downs the inner DAG in reverse order, after its dependents.
    f.run(&["down", "platform"]).expect(0);
    assert_eq!(
        f.read("trace.log"),
        "base up\nplatform up\ninner/net up\ninner/db up\napp up\napp down\nplatform down\ninner/db down\ninner/net down\n"
    );
    assert!(!f.exists("output/platform"));
    assert!(f.exists("output/base/output.json"));
}

#[test]
fn the_stamped_ctl_scripts_of_every_deployment_pass_shellcheck() {
    for deployment in ["dev", "prod"] {
        let f = example(deployment);
        f.run(&["stamp"]).expect(0);
        f.run(&["up"]).expect(0);
        let ctls: Vec<std::path::PathBuf> = std::fs::read_dir(f.deploy.join("genfiles"))
            .unwrap()
            .map(|e| e.unwrap().path().join("ctl"))
            .filter(|ctl| ctl.exists())
            .collect();
        assert_eq!(ctls.len(), 4, "{deployment}: {ctls:?}");
        crate::common::shellcheck(&ctls, &[]);
    }
}
