//! Secrets of step-package stages, over packages shaped exactly like Octopus's generator
//! builds them (`testdata/octopus`: metadata.json with `apiVersions`, inputs.json with
//! `isRoot` and a `SensitiveValue` emitted as `{"type": "object", "isSensitiveValue": true}`,
//! a bundled executor.js ending in `module.exports = executor`). Every test ends with the one
//! scan (`common::secrets`) of every file betterform wrote and everything it printed, for the
//! secret and its encoded forms.

use crate::common::secrets::{assert_no_leak, forms};
use crate::common::{Fixture, Run};

/// base64 and base64url differ for it, and URL- and JSON-escaping both change it.
const SECRET: &str = "ok-S3cr3t ?>~\"q\"\\&x=(1)/";

/// What the step makes of the secret and records as a sensitive output: a secret betterform
/// never binds.
fn reversed() -> String {
    SECRET.chars().rev().collect()
}

/// A value `issue` asks to be masked (`##octopus[mask …]`): neither bound nor an output.
const MASK_ONLY: &str = "m4sk-only/?\"value\"";

fn octopus() -> Fixture {
    Fixture::new("octopus")
}

/// Runs betterform with the secret in the environment: `OCTO_KEY` (bound by `issue`) and
/// `ECHO_SECRET` (printed by `echo` without binding it). Adds what was printed to `printed`.
fn run(f: &Fixture, args: &[&str], printed: &mut String) -> Run {
    let out = f
        .cmd()
        .env("OCTO_KEY", SECRET)
        .env("ECHO_SECRET", SECRET)
        .env("ECHO_GENERATED", reversed())
        .env("MASK_ONLY", MASK_ONLY)
        .args(args)
        .output()
        .unwrap();
    let r = Run(out);
    printed.push_str(&r.stdout());
    printed.push_str(&r.stderr());
    r
}

/// `issue/step.json` with its `apiKey` input written as `shape` (JSON) and its mode `kind`.
fn issue_with(f: &Fixture, shape: &str, kind: &str) {
    let mode =
        if kind == "fail" { r#"{ "kind": "fail", "howOften": 1 }"# } else { r#"{ "kind": "succeed" }"# };
    f.write_impl(
        "issue/step.json",
        &format!(
            r#"{{
  "package": "{{{{ env.IMPL_DIR }}}}/_packages/secret-step",
  "inputs": {{ "apiKey": {shape}, "message": "issue", "mode": {mode} }},
  "down": {{
    "package": "{{{{ env.IMPL_DIR }}}}/_packages/secret-step",
    "inputs": {{ "apiKey": {shape}, "message": "down issue", "mode": {{ "kind": "succeed" }} }}
  }}
}}
"#
        ),
    );
}

#[test]
fn the_secret_forms_differ_from_each_other() {
    // Otherwise the scan would check fewer forms than it says.
    let forms = forms(SECRET);
    for (i, (a, x)) in forms.iter().enumerate() {
        for (b, y) in &forms[i + 1..] {
            assert_ne!(x, y, "{a} and {b}");
        }
    }
}

#[test]
fn a_sensitive_value_in_every_octopus_shape_reaches_the_step_as_text_and_never_shows() {
    for shape in [
        r##""#{Env.OCTO_KEY}""##,
        r##"{ "type": "new", "newValue": "#{Env.OCTO_KEY}" }"##,
        r##"{ "HasValue": true, "NewValue": "#{Env.OCTO_KEY}" }"##,
        r##"{ "type": "bound", "expression": "#{Env.OCTO_KEY}" }"##,
    ] {
        let f = octopus();
        let mut printed = String::new();
        issue_with(&f, shape, "succeed");
        run(&f, &["up", "-j", "1", "--report", "report.json", "--junit", "junit.xml"], &mut printed)
            .expect(0);
        // The executor got the secret's text: its sensitive output is built from it.
        let issued: serde_json::Value =
            serde_json::from_str(&f.read("genfiles/issue/.betterform/sensitive-outputs.json")).unwrap();
        assert_eq!(issued["Issued"], format!("issued:{SECRET}"), "{shape}");
        let log = f.read("genfiles/.betterform/logs/issue/up.log");
        assert!(log.contains("plain=********") && log.contains("base64=********"), "{shape}: {log}");
        let manifest = f.read("genfiles/issue/.betterform/manifest-up.json");
        assert!(manifest.contains(r#""apiKey": "********""#), "{shape}: {manifest}");
        // A failing run: the reason quotes the secret.
        issue_with(&f, shape, "fail");
        let r = run(
            &f,
            &["up", "-j", "1", "-B", "--report", "report2.json", "--junit", "junit2.xml"],
            &mut printed,
        );
        assert!(r.expect(1).stderr().contains("refused ********"), "{shape}");
        for args in [&["plan"][..], &["status", "--json"], &["validate"], &["down", "-y"]] {
            run(&f, args, &mut printed);
        }
        assert_no_leak(&f.deploy, &printed, SECRET);
    }
}

#[test]
fn secrets_are_masked_in_runs_that_do_not_bind_them() {
    let f = octopus();
    let mut printed = String::new();
    run(&f, &["up", "-j", "1"], &mut printed).expect(0);
    // `echo` runs alone: `issue` binds nothing in this run, yet its secret (bound again from
    // the environment at the start) and its sensitive output (read back) are masked.
    let r = run(&f, &["up", "-B", "--only", "echo"], &mut printed).expect(0);
    let err = r.stderr();
    assert!(err.contains("[echo] plain=********"), "{err}");
    assert!(err.contains("[echo] generated plain=********"), "{err}");
    assert!(err.contains("[echo] generated base64=********"), "{err}");
    // What `issue` asked to mask in the earlier run: known by its fingerprint only.
    assert!(err.contains("[echo] masked plain=********"), "{err}");
    assert!(err.contains("[echo] masked url=********"), "{err}");
    assert!(f.read("genfiles/issue/.betterform/masks.json").contains("fingerprints"));
    // `down` takes `echo` down before `issue` binds anything.
    let err = run(&f, &["down", "-y"], &mut printed).expect(0).stderr();
    assert!(err.contains("[echo] plain=********"), "{err}");
    assert_no_leak(&f.deploy, &printed, SECRET);
    assert_no_leak(&f.deploy, &printed, &reversed());
    assert_no_leak(&f.deploy, &printed, MASK_ONLY);
}

/// `echo/step.json` running `target-step` (which deploys to `blob-target` targets) with
/// `target` (JSON, or none).
fn echo_with_target(f: &Fixture, target: Option<&str>) {
    let target = target.map(|t| format!(",\n  \"target\": {t}")).unwrap_or_default();
    f.write_impl(
        "echo/step.json",
        &format!(
            r#"{{
  "package": "{{{{ env.IMPL_DIR }}}}/_packages/target-step",
  "inputs": {{ "fileName": "site.zip" }}{target}
}}
"#
        ),
    );
}

const BLOB_TARGET: &str = r##"{
    "package": "{{ env.IMPL_DIR }}/_packages/blob-target",
    "inputs": {
      "containerName": "web-#{Stage.Name}",
      "replicas": "#{Replicas}",
      "accountKey": { "type": "new", "newValue": "#{Env.OCTO_KEY}" }
    }
  }"##;

#[test]
fn a_step_gets_its_target_bound_validated_against_the_target_package_and_masked() {
    let f = octopus();
    let mut printed = String::new();
    echo_with_target(&f, Some(BLOB_TARGET));
    // `Replicas` is a step.json variable: without it the target cannot be bound.
    let step = std::fs::read_to_string(f.impl_dir.join("echo/step.json")).unwrap();
    f.write_impl(
        "echo/step.json",
        &step.replacen("\"inputs\": {", "\"variables\": { \"Replicas\": \"3\" },\n  \"inputs\": {", 1),
    );
    run(&f, &["validate"], &mut printed).expect(0);
    let err = run(&f, &["up", "-j", "1"], &mut printed).expect(0).stderr();
    // Bound, coerced by the target's schema, its sensitive value given as text and masked.
    assert!(err.contains("[echo] upload site.zip to web-echo x3"), "{err}");
    assert!(err.contains("[echo] with key ********"), "{err}");
    assert!(
        err.contains(r#"[echo] target {"accountKey":"********","containerName":"web-echo","replicas":3}"#),
        "{err}"
    );
    let manifest: serde_json::Value =
        serde_json::from_str(&f.read("genfiles/echo/.betterform/manifest-up.json")).unwrap();
    assert_eq!(manifest["target"]["accountKey"], "********");
    assert_eq!(manifest["target"]["replicas"], 3);
    // A change of the target runs the step again.
    let step = std::fs::read_to_string(f.impl_dir.join("echo/step.json")).unwrap();
    f.write_impl("echo/step.json", &step.replace("\"Replicas\": \"3\"", "\"Replicas\": \"4\""));
    let err = run(&f, &["up", "-j", "1"], &mut printed).expect(0).stderr();
    assert!(err.contains("[echo] upload site.zip to web-echo x4"), "{err}");
    run(&f, &["down", "-y"], &mut printed).expect(0);
    assert_no_leak(&f.deploy, &printed, SECRET);
}

#[test]
fn a_target_that_does_not_fit_is_refused_by_validate_and_up() {
    let f = octopus();
    let mut printed = String::new();
    // Not valid against the target package's schema.
    echo_with_target(
        &f,
        Some(
            &BLOB_TARGET
                .replace(r##""replicas": "#{Replicas}","##, r#""replicas": "many", "colour": "red","#)
                .replace(
                    r##""accountKey": { "type": "new", "newValue": "#{Env.OCTO_KEY}" }"##,
                    r#""zone": 1"#,
                ),
        ),
    );
    let err = run(&f, &["validate"], &mut printed).expect(2).stderr();
    assert!(err.contains("target.accountKey: required input is missing"), "{err}");
    assert!(err.contains("target.colour: not an input of this step"), "{err}");
    assert!(err.contains(r#"target.replicas: expected number, got "many""#), "{err}");
    let err = run(&f, &["up", "-j", "1"], &mut printed).expect(1).stderr();
    assert!(err.contains("target.accountKey: required input is missing"), "{err}");
    // A step that deploys to a target needs one.
    echo_with_target(&f, None);
    let err = run(&f, &["validate"], &mut printed).expect(2).stderr();
    assert!(
        err.contains(
            r#"target: step 'target-step' deploys to a 'blob-target' target: give step.json a "target""#
        ),
        "{err}"
    );
    // The named package must be the target the step deploys to.
    echo_with_target(&f, Some(r#"{ "package": "{{ env.IMPL_DIR }}/_packages/secret-step", "inputs": {} }"#));
    let err = run(&f, &["validate"], &mut printed).expect(2).stderr();
    assert!(err.contains("a target package has type 'deployment-target'"), "{err}");
    // A target package named as the step.
    f.write_impl("echo/step.json", r#"{ "package": "{{ env.IMPL_DIR }}/_packages/blob-target" }"#);
    let err = run(&f, &["validate"], &mut printed).expect(2).stderr();
    assert!(err.contains("type is 'deployment-target', a target a step deploys to, not a step"), "{err}");
    assert_no_leak(&f.deploy, &printed, SECRET);
}

#[test]
fn a_ci_job_running_one_stage_masks_what_a_stage_it_never_stamped_binds() {
    // A fresh GENFILES, as in a CI job: `issue` was never stamped here, yet it binds the secret
    // `echo` prints; its template is rendered in memory to learn it.
    let f = octopus();
    let mut printed = String::new();
    let err = run(&f, &["up", "--only", "echo"], &mut printed).expect(0).stderr();
    assert!(err.contains("[echo] plain=********"), "{err}");
    assert!(!f.exists("genfiles/issue"), "issue is not stamped");
    // A down job: `echo` goes down from its stamped dir, `issue` is still only a template.
    let err = run(&f, &["down", "-y", "--only", "echo"], &mut printed).expect(0).stderr();
    assert!(err.contains("[echo] plain=********"), "{err}");
    assert_no_leak(&f.deploy, &printed, SECRET);
}

#[test]
fn validate_warns_when_a_template_writes_env_into_a_sensitive_target_value() {
    let f = octopus();
    let mut printed = String::new();
    echo_with_target(
        &f,
        Some(&BLOB_TARGET.replace(
            r##"{ "type": "new", "newValue": "#{Env.OCTO_KEY}" }"##,
            r#"{{ env.OCTO_KEY | tojson }}"#,
        )),
    );
    let step = std::fs::read_to_string(f.impl_dir.join("echo/step.json")).unwrap();
    f.write_impl(
        "echo/step.json",
        &step.replacen("\"inputs\": {", "\"variables\": { \"Replicas\": \"3\" },\n  \"inputs\": {", 1),
    );
    let err = run(&f, &["validate"], &mut printed).expect(0).stderr();
    assert!(
        err.contains("warning: stage 'echo': ")
            && err.contains("sensitive input 'target.accountKey' is filled from env by the template"),
        "{err}"
    );
    // The stamped step.json does hold it, which is why it is 0600 and why validate warns.
    run(&f, &["up", "-j", "1"], &mut printed).expect(0);
    let mode = std::os::unix::fs::PermissionsExt::mode(
        &std::fs::metadata(f.deploy.join("genfiles/echo/step.json")).unwrap().permissions(),
    );
    assert_eq!(mode & 0o777, 0o600);
    assert!(!printed.contains(SECRET), "{printed}");
}
