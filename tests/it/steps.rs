//! Step-package stages end to end over the `steps` fixture: a `ctl` stage `net` feeds a node
//! step package (`deploy`, Octopus format: metadata.json + inputs.json + executor.js), which
//! feeds an `exec` step package (`script`) through a sensitive output.

use std::os::unix::fs::PermissionsExt;
use std::process::Command;

use crate::common::secrets::assert_no_leak;
use crate::common::{Fixture, Run};

const TOKEN: &str = "tok-S3CRET-4711";

fn steps() -> Fixture {
    let f = Fixture::new("steps");
    f.write("config.jsonnet", "{ container: 'web-blue' }\n");
    f
}

/// Runs with the step's environment: `mode` is what the node step does (ok, fail, throw, exit).
fn run(f: &Fixture, mode: &str, args: &[&str]) -> Run {
    let mut cmd = f.cmd();
    cmd.env("STEP_TOKEN", TOKEN)
        .env("STEP_MODE", mode)
        .env("STEP_VERBOSE", "True")
        .env_remove("SHELL_STEP_FAIL");
    Run(cmd.args(args).output().unwrap())
}

fn up(f: &Fixture, mode: &str) -> Run {
    run(f, mode, &["up", "-j", "1"])
}

fn mode_of(f: &Fixture, rel: &str) -> u32 {
    std::fs::metadata(f.deploy.join(rel)).unwrap().permissions().mode() & 0o777
}

#[test]
fn a_node_step_gets_bound_coerced_inputs_and_its_outputs_are_recorded() {
    let f = steps();
    let run = up(&f, "ok").expect(0);
    let log = f.read("genfiles/.betterform/logs/deploy/up.log");
    // Bindings: step.json variables (stamped from cfg), a coerced integer and boolean, an
    // upstream output through a filter, the union member and the package reference.
    assert!(log.contains("container=web-blue retries=3 (number)"), "{log}");
    assert!(log.contains("verbose=true vpc=VPC-123 files=*.html"), "{log}");
    // substitute-in-files ran on the extracted package; `##{` stayed a literal `#{`.
    assert!(
        log.contains(r##"site config: {"container": "web-blue", "vpc": "vpc-123", "literal": "#{kept}"}"##),
        "{log}"
    );
    assert!(log.contains("stage=deploy token=********"), "{log}");
    // Service messages are consumed and logged as what they meant.
    assert!(!log.contains("##octopus"), "{log}");
    assert!(log.contains("verbose: verbose detail") && log.contains("warning: careful"), "{log}");
    assert!(log.contains("betterform: progress 50% half way"), "{log}");
    assert!(log.contains("betterform: sensitive output variable token set"), "{log}");
    assert!(!run.stderr().contains("verbose detail"), "verbose lines are for the log only");
    // The manifest, in order.
    assert!(
        log.contains(
            "manifest: extract-package site → substitute-in-files site [config/*.json] → launch node execute (hello-upload 1.2.0)"
        ),
        "{log}"
    );
    let manifest: serde_json::Value =
        serde_json::from_str(&f.read("genfiles/deploy/.betterform/manifest-up.json")).unwrap();
    assert_eq!(manifest["inputs"]["apiToken"], "********");
    assert_eq!(manifest["inputs"]["retries"], 3);
    let kinds: Vec<&str> = manifest["instructions"]
        .as_array()
        .unwrap()
        .iter()
        .map(|i| i["instruction"].as_str().unwrap())
        .collect();
    assert_eq!(kinds, ["extract-package", "substitute-in-files", "launch"]);
    // Plain outputs in OUTPUT_DIR, sensitive ones only in a 0600 file under GENFILES.
    let output: serde_json::Value = serde_json::from_str(&f.read("output/deploy/output.json")).unwrap();
    assert_eq!(output, serde_json::json!({"url": "https://web-blue.example"}));
    let secret: serde_json::Value =
        serde_json::from_str(&f.read("genfiles/deploy/.betterform/sensitive-outputs.json")).unwrap();
    assert_eq!(secret["token"], format!("issued-{TOKEN}"));
    assert_eq!(mode_of(&f, "genfiles/deploy/.betterform/sensitive-outputs.json"), 0o600);
    // Artifacts are collected; the private inputs dir is gone.
    assert_eq!(f.read("genfiles/deploy/artifacts/deploy-report.txt"), "deployed web-blue\n");
    let leftovers: Vec<_> = std::fs::read_dir(f.deploy.join("genfiles/deploy/.betterform"))
        .unwrap()
        .flatten()
        .filter(|e| e.file_name().to_string_lossy().starts_with(".run-"))
        .collect();
    assert!(leftovers.is_empty(), "the inputs file is removed after the launch");
    assert_eq!(f.status("deploy"), "up");
}

#[test]
fn an_exec_step_reads_inputs_from_a_private_file_and_binds_a_sensitive_upstream_output() {
    let f = steps();
    up(&f, "ok").expect(0);
    let log = f.read("genfiles/.betterform/logs/script/up.log");
    assert!(log.contains("inputs mode: -rw-------"), "{log}");
    // Its one input binds deploy's sensitive output: the whole bound value is masked.
    assert!(log.contains(r#"inputs: {"message":"********"}"#), "{log}");
    // The step echoed its inputs into a plain output: masked on its way into OUTPUT_DIR.
    let output = f.read("output/script/output.json");
    assert!(!output.contains(TOKEN) && output.contains("********"), "{output}");
    assert!(log.contains("it holds a secret, masked in output.json"), "{log}");
}

#[test]
fn secrets_never_reach_the_terminal_logs_state_reports_or_output_dir() {
    let f = steps();
    let mut printed = String::new();
    for (mode, args, code) in [
        ("ok", vec!["up", "-j", "1", "--report", "report.json", "--junit", "junit.xml"], 0),
        ("throw", vec!["up", "-j", "1", "-B", "--report", "report2.json"], 1),
        ("ok", vec!["up", "-j", "2", "-B"], 0),
        ("ok", vec!["plan"], 0),
        ("ok", vec!["status", "--json"], 0),
        ("ok", vec!["validate"], 0),
        ("ok", vec!["down", "-y"], 0),
    ] {
        if args[0] == "down" {
            // The scan below is meaningful: the secret is on disk, where it must be.
            assert!(f.read("genfiles/deploy/.betterform/sensitive-outputs.json").contains(TOKEN));
        }
        let r = run(&f, mode, &args).expect(code);
        printed.push_str(&r.stdout());
        printed.push_str(&r.stderr());
    }
    assert!(printed.contains("boom with ********"), "the thrown error is reported, masked");
    for secret in [TOKEN.to_string(), format!("issued-{TOKEN}")] {
        assert_no_leak(&f.deploy, &printed, &secret);
    }
}

#[test]
fn invalid_inputs_fail_the_stage_with_every_error_before_anything_is_launched() {
    let f = steps();
    run(&f, "ok", &["up", "net"]).expect(0);
    let r = Run(f
        .cmd()
        .env("STEP_TOKEN", TOKEN)
        .env("STEP_MODE", "sideways")
        .env("STEP_VERBOSE", "maybe")
        .args(["up"])
        .output()
        .unwrap())
    .expect(1);
    let err = r.stderr();
    assert!(err.contains("invalid inputs for step 'hello-upload'"), "{err}");
    assert!(
        err.contains(r##"verbose: expected boolean, got "maybe" (bound from "#{Env.STEP_VERBOSE}")"##),
        "{err}"
    );
    assert!(err.contains(r#"mode: expected one of ["ok","fail","throw","exit"], got "sideways""#), "{err}");
    assert!(!f.exists("genfiles/deploy/report.txt"), "the step never ran");
    assert!(!f.exists("genfiles/deploy/.betterform/packages"), "nothing was extracted");
    assert_eq!(f.status("deploy"), "failed");
    assert!(f.read("genfiles/.betterform/logs/deploy/up.log").contains("verbose: expected boolean"));
}

#[test]
fn schema_violations_are_reported_at_their_input_paths() {
    let f = steps();
    run(&f, "ok", &["up", "net"]).expect(0);
    let step = std::fs::read_to_string(f.impl_dir.join("deploy/step.json")).unwrap();
    let step = step
        .replace(r#"[ { "glob": "*.html" } ]"#, r#"[ { "glob": "*.html" }, { "glob": "a" }, { "glob": 5 } ]"#)
        .replace(r##""retries": "#{Retries}","##, r##""retries": "#{Retries}", "colour": "blue","##);
    f.write_impl("deploy/step.json", &step);
    let err = up(&f, "ok").expect(1).stderr();
    assert!(err.contains("filesToInclude.files[2].glob: expected string, got 5"), "{err}");
    assert!(err.contains("colour: not an input of this step"), "{err}");
    // A union member is told apart by its discriminator.
    f.write_impl("deploy/step.json", &step.replace("custom files", "some files"));
    let err = up(&f, "ok").expect(1).stderr();
    assert!(
        err.contains(r#"filesToInclude.type: expected one of "all files", "custom files", got "some files""#),
        "{err}"
    );
}

#[test]
fn an_unresolvable_variable_is_refused_before_anything_runs_and_named() {
    let f = steps();
    let r = Run(f
        .cmd()
        .env_remove("STEP_TOKEN")
        .env("STEP_MODE", "ok")
        .env("STEP_VERBOSE", "true")
        .args(["up"])
        .output()
        .unwrap());
    // Exit 2, nothing run (not even `net`, which binds nothing).
    let err = r.expect(2).stderr();
    assert!(
        err.contains(
            r##"step.json:8:18: apiToken: cannot bind "#{Env.STEP_TOKEN}": unresolvable variable 'Env.STEP_TOKEN'"##
        ),
        "{err}"
    );
    assert!(!f.exists("genfiles/.betterform/logs/net"), "nothing ran: {err}");
    // Only stages this one depends on can be read (their outputs exist when it runs).
    let f = steps();
    let step = std::fs::read_to_string(f.impl_dir.join("deploy/step.json")).unwrap();
    f.write_impl(
        "deploy/step.json",
        &step.replace("#{Output[net].vpc.id | ToUpper}", "#{Output[script].said}"),
    );
    let err = up(&f, "ok").expect(2).stderr();
    assert!(
        err.contains("'Output[script].said' reads stage 'script', which this stage does not depend on"),
        "{err}"
    );
    // `plan` refuses what `up` refuses.
    run(&f, "ok", &["plan"]).expect(2);
    // In a file of a referenced package it is found at the stage's turn (the files are read
    // then): the stage fails.
    let f = steps();
    f.write_impl("_packages/site/config/app.json", "{\"x\": \"#{NoSuchVariable}\"}\n");
    let err = up(&f, "ok").expect(1).stderr();
    assert!(
        err.contains("substitute-in-files site: config/app.json: unresolvable variable 'NoSuchVariable'"),
        "{err}"
    );
}

#[test]
fn an_identical_step_is_already_applied_and_any_change_runs_it_again() {
    let f = steps();
    up(&f, "ok").expect(0);
    let err = up(&f, "ok").expect(0).stderr();
    assert!(err.contains("summary (up): 0 ran, 3 up to date"), "{err}");
    // A bound input changes (a different token from the environment).
    let r = Run(f
        .cmd()
        .env("STEP_TOKEN", "tok-other-1")
        .env("STEP_MODE", "ok")
        .env("STEP_VERBOSE", "true")
        .args(["up"])
        .output()
        .unwrap());
    let err = r.expect(0).stderr();
    assert!(err.contains("==> deploy: running: the step package or its bound inputs changed"), "{err}");
    // The package's content changes.
    up(&f, "ok").expect(0);
    let exec = std::fs::read_to_string(f.impl_dir.join("_packages/hello/executor.js")).unwrap();
    f.write_impl("_packages/hello/executor.js", &format!("{exec}\n// v2\n"));
    let err = up(&f, "ok").expect(0).stderr();
    assert!(err.contains("==> deploy: running: the step package or its bound inputs changed"), "{err}");
    // A referenced package's content changes.
    f.write_impl("_packages/site/index.html", "<h1>v2</h1>\n");
    let err = up(&f, "ok").expect(0).stderr();
    assert!(err.contains("==> deploy: running: the step package or its bound inputs changed"), "{err}");
    assert!(err.contains("summary (up): 2 ran, 1 up to date"), "{err}");
}

#[test]
fn a_failed_step_reports_its_result_message_and_runs_the_rollback_step_once() {
    let f = steps();
    let err = up(&f, "fail").expect(1).stderr();
    assert!(err.contains("==> deploy: FAILED"), "{err}");
    assert!(err.contains("step hello-upload: upload refused for web-blue"), "{err}");
    let log = f.read("genfiles/.betterform/logs/deploy/up.log");
    assert_eq!(log.matches("running the rollback step").count(), 1, "{log}");
    assert!(log.contains(r#"inputs: {"message":"rolling back deploy"}"#), "{log}");
    assert!(log.contains("rollback step done"), "{log}");
    assert!(!f.exists("output/deploy/output.json"), "a failed step records no outputs");
    assert_eq!(f.status("deploy"), "failed");
    // Without a resultMessage, the exit code is the reason.
    let err = up(&f, "exit").expect(1).stderr();
    assert!(err.contains("step hello-upload: exit status 7"), "{err}");
}

#[test]
fn a_failing_rollback_is_logged_and_the_original_error_is_kept() {
    let f = steps();
    let r = Run(f
        .cmd()
        .env("STEP_TOKEN", TOKEN)
        .env("STEP_MODE", "throw")
        .env("STEP_VERBOSE", "true")
        .env("SHELL_STEP_FAIL", "1")
        .args(["up"])
        .output()
        .unwrap());
    let err = r.expect(1).stderr();
    assert!(err.contains("==> deploy: FAILED"), "{err}");
    assert!(err.contains("step hello-upload: boom with ********"), "{err}");
    let log = f.read("genfiles/.betterform/logs/deploy/up.log");
    assert!(log.contains("rollback step failed: step shell-echo: shell step refused"), "{log}");
}

#[test]
fn down_runs_the_down_step_and_a_stage_without_one_is_just_recorded_down() {
    let f = steps();
    up(&f, "ok").expect(0);
    let err = run(&f, "ok", &["down", "-y"]).expect(0).stderr();
    assert!(err.contains(r#"[deploy] inputs: {"message":"down deploy in eu-north-1"}"#), "{err}");
    assert!(err.contains("==> script: step.json has no down step; recording the stage down"), "{err}");
    for stage in ["net", "deploy", "script"] {
        assert_eq!(f.status(stage), "down");
    }
    // A step stage that is down has no outputs.
    assert!(!f.exists("output/deploy") && !f.exists("output/script"));
    assert!(!f.exists("genfiles/deploy/.betterform/sensitive-outputs.json"));
}

fn python(script: &str, args: &[&str]) {
    let status = Command::new("python3").arg("-c").arg(script).args(args).status().unwrap();
    assert!(status.success());
}

const ZIP: &str = r#"
import os, sys, zipfile
src, dest = sys.argv[1], sys.argv[2]
with zipfile.ZipFile(dest, "w") as z:
    for root, _, files in os.walk(src):
        for name in files:
            path = os.path.join(root, name)
            info = zipfile.ZipInfo(os.path.relpath(path, src))
            info.external_attr = (os.stat(path).st_mode & 0xFFFF) << 16
            z.writestr(info, open(path, "rb").read())
    for extra in sys.argv[3:]:
        z.writestr(extra, "evil")
"#;

const TAR_GZ: &str = r#"
import sys, tarfile
src, dest = sys.argv[1], sys.argv[2]
with tarfile.open(dest, "w:gz") as t:
    t.add(src, arcname="wrapped")
"#;

#[test]
fn packages_load_from_zip_and_tar_gz_archives() {
    let f = steps();
    let hello = f.impl_dir.join("_packages/hello");
    let shell = f.impl_dir.join("_packages/shell");
    python(ZIP, &[hello.to_str().unwrap(), f.impl_dir.join("_packages/hello.1.2.0.zip").to_str().unwrap()]);
    // A .tar.gz that wraps the package in one top-level dir, exec bit kept.
    python(
        TAR_GZ,
        &[shell.to_str().unwrap(), f.impl_dir.join("_packages/shell.0.1.0.tar.gz").to_str().unwrap()],
    );
    std::fs::remove_dir_all(&hello).unwrap();
    std::fs::remove_dir_all(&shell).unwrap();
    for stage in ["deploy", "script"] {
        let step = std::fs::read_to_string(f.impl_dir.join(stage).join("step.json")).unwrap();
        let step = step
            .replace("_packages/hello\"", "_packages/hello.1.2.0.zip\"")
            .replace("_packages/shell\"", "_packages/shell.0.1.0.tar.gz\"");
        f.write_impl(&format!("{stage}/step.json"), &step);
    }
    up(&f, "ok").expect(0);
    assert!(f.read("genfiles/.betterform/logs/deploy/up.log").contains("container=web-blue"));
    assert!(f.read("genfiles/.betterform/logs/script/up.log").contains("inputs mode: -rw-------"));
}

#[test]
fn archive_entries_that_escape_and_bad_metadata_are_refused() {
    let f = steps();
    let hello = f.impl_dir.join("_packages/hello");
    let zip = f.impl_dir.join("_packages/evil.zip");
    python(ZIP, &[hello.to_str().unwrap(), zip.to_str().unwrap(), "../../escaped.txt"]);
    let step = std::fs::read_to_string(f.impl_dir.join("deploy/step.json")).unwrap();
    f.write_impl("deploy/step.json", &step.replace("_packages/hello\"", "_packages/evil.zip\""));
    let err = up(&f, "ok").expect(1).stderr();
    assert!(
        err.contains("evil.zip: entry '../../escaped.txt' would be written outside the extraction dir"),
        "{err}"
    );
    assert!(!f.deploy.join("escaped.txt").exists() && !f.deploy.join("genfiles/escaped.txt").exists());

    let f = steps();
    f.write_impl(
        "_packages/hello/metadata.json",
        r#"{"id": "hello-upload", "version": "1.2.0", "launcher": "python"}"#,
    );
    let err = up(&f, "ok").expect(1).stderr();
    assert!(err.contains("metadata.json: unknown launcher 'python' (known: node, exec)"), "{err}");
    f.write_impl("_packages/hello/metadata.json", "{\"id\": \"hello-upload\",\n \"version\": }");
    let err = up(&f, "ok").expect(1).stderr();
    assert!(err.contains("metadata.json:2:"), "{err}");
}

#[test]
fn a_step_json_error_names_file_line_and_column() {
    let f = steps();
    let step = std::fs::read_to_string(f.impl_dir.join("deploy/step.json")).unwrap();
    f.write_impl("deploy/step.json", &step.replace("\"packages\"", "\"pakages\""));
    let err = up(&f, "ok").expect(1).stderr();
    assert!(err.contains("genfiles/deploy/step.json:13:"), "{err}");
    assert!(err.contains("unknown field `pakages`"), "{err}");
}

#[test]
fn validate_checks_step_inputs_at_configuration_time_skipping_bound_values() {
    let f = steps();
    let out = run(&f, "ok", &["validate"]).expect(0).stdout();
    assert!(out.contains("valid: 3 stages"), "{out}");
    let step = std::fs::read_to_string(f.impl_dir.join("deploy/step.json")).unwrap();
    let step =
        step.replace(r#""glob": "*.html""#, r#""glob": 5"#).replace(r##""#{Env.STEP_VERBOSE}""##, r#""yes""#);
    f.write_impl("deploy/step.json", &step);
    let err = run(&f, "ok", &["validate"]).expect(2).stderr();
    assert!(err.contains("stage 'deploy': invalid inputs for step 'hello-upload'"), "{err}");
    assert!(err.contains("filesToInclude.files[0].glob: expected string, got 5"), "{err}");
    assert!(err.contains(r#"verbose: expected boolean, got "yes""#), "{err}");
    // Inputs still bound to #{…} (retries, apiToken, …) are not judged before the run.
    assert!(!err.contains("retries") && !err.contains("apiToken"), "{err}");
    assert!(!f.exists("genfiles"), "validate writes nothing");
}

#[test]
fn plan_shows_the_execution_manifest_and_the_already_applied_decision() {
    let f = steps();
    up(&f, "ok").expect(0);
    let before = std::fs::read_to_string(f.deploy.join("genfiles/.betterform/state/deploy.json")).unwrap();
    let out = run(&f, "ok", &["plan"]).expect(0).stdout();
    assert!(
        out.contains("manifest: extract-package site → substitute-in-files site [config/*.json] → launch node execute (hello-upload 1.2.0)"),
        "{out}"
    );
    assert!(out.contains("plan: 0 to run, 3 up to date"), "{out}");
    let r = Run(f
        .cmd()
        .env("STEP_TOKEN", "tok-other-2")
        .env("STEP_MODE", "ok")
        .env("STEP_VERBOSE", "true")
        .args(["plan", "--json"])
        .output()
        .unwrap());
    let plan: serde_json::Value = serde_json::from_str(&r.expect(0).stdout()).unwrap();
    let deploy = plan["stages"].as_array().unwrap().iter().find(|s| s["name"] == "deploy").unwrap();
    assert_eq!(deploy["action"], "run");
    assert_eq!(deploy["reason"], "the step package or its bound inputs changed");
    assert_eq!(deploy["manifest"][2], "launch node execute (hello-upload 1.2.0)");
    let after = std::fs::read_to_string(f.deploy.join("genfiles/.betterform/state/deploy.json")).unwrap();
    assert_eq!(before, after, "plan writes nothing");
}

/// Replaces the `script` stage's package with an exec step running `body` (sh).
fn exec_step(f: &Fixture, body: &str) {
    f.write_impl(
        "_packages/custom/metadata.json",
        r#"{"id": "custom", "version": "1.0.0", "launcher": "exec", "entryPoint": "step.sh"}"#,
    );
    f.write_impl("_packages/custom/inputs.json", r#"{"type": "object"}"#);
    f.write_impl(
        "_packages/custom/step.sh",
        &format!("#!/bin/sh\nenc() {{ printf %s \"$1\" | base64 | tr -d '\\n'; }}\n{body}\n"),
    );
    let script = f.impl_dir.join("_packages/custom/step.sh");
    std::fs::set_permissions(&script, std::fs::Permissions::from_mode(0o755)).unwrap();
    f.write_impl("script/step.json", r#"{"package": "{{ env.IMPL_DIR }}/_packages/custom"}"#);
}

#[test]
fn service_messages_survive_pauses_mid_line_huge_values_and_garbage() {
    let f = steps();
    exec_step(
        &f,
        r###"big=$(head -c 300000 /dev/zero | tr '\0' x)
printf "##octopus[setVariable name='%s' " "$(enc big)"; sleep 0.5; printf "value='%s']\n" "$(enc "$big")"
echo "##octopus[mask value='$(enc hidden-by-mask-77)']"
echo "after the mask: hidden-by-mask-77"
echo "##octopus[setVariable name='broken"
echo "##octopus[stdout-ignore]"
echo "ignored on the terminal"
echo "##octopus[stdout-default]"
echo "##octopus[resultMessage message='$(enc "half done")']"
exit 4"###,
    );
    let err = up(&f, "ok").expect(1).stderr();
    assert!(err.contains("[script] betterform: output variable big set"), "{err}");
    assert!(err.contains("[script] after the mask: ********"), "{err}");
    assert!(err.contains("ignored a malformed service message (no closing ']')"), "{err}");
    assert!(!err.contains("ignored on the terminal"), "{err}");
    assert!(err.contains("step custom: half done"), "{err}");
    let log = f.read("genfiles/.betterform/logs/script/up.log");
    assert!(log.contains("ignored on the terminal"), "stdout-ignore lines are still logged");
    assert!(
        !log.contains("##octopus") && !log.contains("hidden-by-mask-77") && !log.contains("xxxxxxxx"),
        "{log}"
    );
}

#[test]
fn a_corrupt_archive_and_a_missing_package_are_clear_errors() {
    let f = steps();
    f.write_impl("_packages/broken.zip", "this is not a zip file");
    f.write_impl("script/step.json", r#"{"package": "{{ env.IMPL_DIR }}/_packages/broken.zip"}"#);
    let err = up(&f, "ok").expect(1).stderr();
    assert!(err.contains("broken.zip: not a readable zip archive"), "{err}");
    f.write_impl("script/step.json", r#"{"package": "{{ env.IMPL_DIR }}/_packages/nowhere"}"#);
    let err = up(&f, "ok").expect(1).stderr();
    assert!(err.contains("_packages/nowhere: cannot read it: No such file or directory"), "{err}");
}

#[test]
fn sigint_during_a_step_stops_it_records_unknown_runs_no_rollback_and_removes_the_inputs() {
    let f = steps();
    run(&f, "ok", &["up", "deploy"]).expect(0);
    // The trap is set before the file the test waits for exists, so the signal cannot come first.
    exec_step(&f, "trap 'echo got INT; exit 130' INT\ntouch \"$GENFILES/step.started\"\nsleep 30 & wait");
    let script = std::fs::read_to_string(f.impl_dir.join("script/step.json")).unwrap();
    let rollback =
        r#", "rollback": {"package": "{{ env.IMPL_DIR }}/_packages/shell", "inputs": {"message": "rb"}}}"#;
    f.write_impl("script/step.json", &format!("{}{rollback}", script.trim_end().trim_end_matches('}')));
    let child = std::process::Command::new(assert_cmd::cargo::cargo_bin("betterform"))
        .current_dir(&f.deploy)
        .env("INTERACTIVE", "false")
        .args(["--impl-dir", f.impl_dir.to_str().unwrap(), "up", "script"])
        .env("STEP_TOKEN", TOKEN)
        .env("STEP_MODE", "ok")
        .env("STEP_VERBOSE", "true")
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let started = f.deploy.join("genfiles/step.started");
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(20);
    while !started.exists() {
        assert!(std::time::Instant::now() < deadline, "the step never started");
        std::thread::sleep(std::time::Duration::from_millis(20));
    }
    let pid = child.id().to_string();
    assert!(Command::new("kill").args(["-INT", &pid]).status().unwrap().success());
    let r = Run(child.wait_with_output().unwrap()).expect(130);
    let log = f.read("genfiles/.betterform/logs/script/up.log");
    assert!(log.contains("got INT"), "the step's process group got the signal: {log}");
    assert!(!log.contains("rollback"), "an interrupt is not a failure: no rollback\n{log}");
    assert_eq!(f.status("script"), "unknown", "{}", r.stderr());
    let leftovers = std::fs::read_dir(f.deploy.join("genfiles/script/.betterform"))
        .unwrap()
        .flatten()
        .filter(|e| e.file_name().to_string_lossy().starts_with(".run-"))
        .count();
    assert_eq!(leftovers, 0, "the inputs file is removed on interrupt too");
}

/// Packs the `hello` step package with `script` (sh, run in `_packages/`, `$OUT` the archive to
/// write, named `archive`), points `deploy` at it, and runs `up deploy` from the archive alone.
fn up_from_archive(archive: &str, script: &str) {
    let f = steps();
    let packages = f.impl_dir.join("_packages");
    let out = packages.join(archive);
    let status =
        Command::new("sh").arg("-c").arg(script).current_dir(&packages).env("OUT", &out).status().unwrap();
    assert!(status.success(), "{script}");
    std::fs::remove_dir_all(packages.join("hello")).unwrap();
    let step = std::fs::read_to_string(f.impl_dir.join("deploy/step.json")).unwrap();
    f.write_impl("deploy/step.json", &step.replace("_packages/hello\"", &format!("_packages/{archive}\"")));
    let r = run(&f, "ok", &["up", "deploy"]);
    let err = r.stderr();
    r.expect(0);
    let log = f.read("genfiles/.betterform/logs/deploy/up.log");
    assert!(log.contains("container=web-blue"), "{archive}: {err}\n{log}");
}

#[test]
fn a_tarball_of_dot_with_dot_slash_entries_loads() {
    // `tar czf pkg.tar.gz .`: entries `./`, `./metadata.json`, …
    up_from_archive("hello.tar.gz", "cd hello && tar czf \"$OUT\" . && tar tzf \"$OUT\" | grep -qx './'");
}

#[test]
fn a_tarball_of_the_package_dir_loads_from_inside_its_one_top_level_dir() {
    up_from_archive(
        "hello.tgz",
        "tar czf \"$OUT\" hello && tar tzf \"$OUT\" | grep -qx 'hello/metadata.json'",
    );
}

#[test]
fn a_tarball_of_the_files_themselves_and_a_plain_tar_load() {
    up_from_archive(
        "hello.1.2.0.tar.gz",
        "cd hello && tar czf \"$OUT\" metadata.json inputs.json executor.js",
    );
    up_from_archive("hello.tar", "tar cf \"$OUT\" -C hello .");
}

#[test]
fn a_zip_of_dot_loads() {
    // `zip -r pkg.zip .` in the package dir: entries at the top, no `./`.
    up_from_archive(
        "hello.zip",
        "cd hello && zip -qr \"$OUT\" . && unzip -Z1 \"$OUT\" | grep -qx 'metadata.json'",
    );
}

#[test]
fn a_zip_of_the_package_dir_loads_from_inside_its_one_top_level_dir() {
    up_from_archive("hello.zip", "zip -qr \"$OUT\" hello && unzip -Z1 \"$OUT\" | grep -qx 'hello/'");
}

#[test]
fn a_zip_without_directory_entries_and_with_macos_resource_forks_loads() {
    // Finder's "Compress" adds `__MACOSX/…`; many zip writers add no entry for a dir.
    up_from_archive(
        "hello.zip",
        "zip -qrD \"$OUT\" hello && mkdir -p __MACOSX/hello && echo x > __MACOSX/hello/._executor.js \
         && zip -qr \"$OUT\" __MACOSX && ! unzip -Z1 \"$OUT\" | grep -qx 'hello/'",
    );
}

#[test]
fn a_stamped_step_json_is_private_to_its_owner() {
    let f = steps();
    up(&f, "ok").expect(0);
    assert_eq!(mode_of(&f, "genfiles/deploy/step.json"), 0o600);
    assert_eq!(mode_of(&f, "genfiles/script/step.json"), 0o600);
    // A file stamped 0644 by an older betterform is tightened by the next stamp.
    std::fs::set_permissions(
        f.deploy.join("genfiles/deploy/step.json"),
        std::fs::Permissions::from_mode(0o644),
    )
    .unwrap();
    run(&f, "ok", &["stamp", "deploy"]).expect(0);
    assert_eq!(mode_of(&f, "genfiles/deploy/step.json"), 0o600);
}

#[test]
fn validate_warns_when_a_template_writes_env_into_a_sensitive_input() {
    let f = steps();
    // The fixture binds its secret with #{Env.STEP_TOKEN}: no warning.
    let err = run(&f, "ok", &["validate"]).expect(0).stderr();
    assert!(!err.contains("warning"), "{err}");
    // Straight into the input.
    let step = std::fs::read_to_string(f.impl_dir.join("deploy/step.json")).unwrap();
    f.write_impl("deploy/step.json", &step.replace("#{Env.STEP_TOKEN}", "{{ env.STEP_TOKEN }}"));
    let r = run(&f, "ok", &["validate"]).expect(0);
    let err = r.stderr();
    assert!(
        err.contains("warning: stage 'deploy': ")
            && err.contains(
                "/deploy/step.json:8:18: sensitive input 'apiToken' is filled from env by the template"
            ),
        "{err}"
    );
    assert!(err.contains(r##"bind it with "#{Env.NAME}" instead"##), "{err}");
    assert!(!err.contains(TOKEN), "{err}");
    // Through a step.json variable (the pattern the README used to show).
    let step = step
        .replace("#{Env.STEP_TOKEN}", "#{Token}")
        .replace(r#""Retries": "3""#, "\"Retries\": \"3\",\n    \"Token\": \"{{ env.STEP_TOKEN }}\"");
    f.write_impl("deploy/step.json", &step);
    let err = run(&f, "ok", &["validate"]).expect(0).stderr();
    assert!(
        err.contains("/deploy/step.json:17:") && err.contains("variable 'Token' is filled from env by the template and bound into sensitive input 'apiToken'"),
        "{err}"
    );
    let out = run(&f, "ok", &["validate", "--json"]).expect(0).stdout();
    let report: serde_json::Value = serde_json::from_str(&out).unwrap();
    assert_eq!(report["warnings"].as_array().unwrap().len(), 1, "{out}");
}

#[test]
fn validate_reports_an_unresolvable_variable_with_its_step_json_line() {
    let f = steps();
    let step = std::fs::read_to_string(f.impl_dir.join("deploy/step.json")).unwrap();
    f.write_impl(
        "deploy/step.json",
        &step
            .replace("#{ContainerName}", "#{Nope}")
            .replace("rolling back #{Stage.Name}", "rolling #{Stage.Nam}"),
    );
    let err = run(&f, "ok", &["validate"]).expect(2).stderr();
    assert!(
        err.contains(
            r##"/deploy/step.json:4:23: containerName: cannot bind "#{Nope}": unresolvable variable 'Nope'"##
        ),
        "{err}"
    );
    assert!(
        err.contains(
            r##"/deploy/step.json:19:29: rollback.inputs.message: cannot bind "rolling #{Stage.Nam}""##
        ),
        "{err}"
    );
    assert!(err.contains("4 |     \"containerName\": \"#{Nope}\","), "the line is shown: {err}");
    // Upstream outputs not produced yet are the run's to resolve; `up` refuses too.
    assert!(!err.contains("Output[net]"), "{err}");
    // The environment is read as the run will read it.
    let r =
        Run(f.cmd().env("STEP_MODE", "ok").env("STEP_VERBOSE", "true").args(["validate"]).output().unwrap());
    let err = r.expect(2).stderr();
    assert!(
        err.contains("apiToken: cannot bind \"#{Env.STEP_TOKEN}\": unresolvable variable 'Env.STEP_TOKEN'"),
        "{err}"
    );
}

#[test]
fn plan_counts_a_stage_that_would_fail_as_blocked_and_exits_non_zero() {
    let f = steps();
    run(&f, "ok", &["up", "net"]).expect(0);
    // A deployment-target package named as the step.
    f.write_impl(
        "_packages/target/metadata.json",
        r#"{"schemaVersion": "1.0.0", "type": "deployment-target", "id": "t", "name": "T", "description": "",
            "categories": [], "launcher": "node"}"#,
    );
    f.write_impl("_packages/target/inputs.json", "{}");
    let step = std::fs::read_to_string(f.impl_dir.join("deploy/step.json")).unwrap();
    f.write_impl("deploy/step.json", &step.replace("_packages/hello\"", "_packages/target\""));
    let out = run(&f, "ok", &["plan"]).expect(6).stdout();
    assert!(out.contains("deploy  blocked  will fail: "), "{out}");
    assert!(out.contains("type is 'deployment-target'"), "{out}");
    // Its dependent cannot run either.
    assert!(out.contains("script  blocked  dependency deploy would fail"), "{out}");
    assert!(out.contains("plan: 0 to run, 1 up to date, 2 blocked"), "{out}");
    run(&f, "ok", &["plan", "--exit-code"]).expect(6);
    let plan: serde_json::Value =
        serde_json::from_str(&run(&f, "ok", &["plan", "--json"]).expect(6).stdout()).unwrap();
    assert_eq!(plan["stages"][1]["action"], "blocked", "{plan}");
}

#[test]
fn a_substituted_file_that_receives_a_secret_is_private_to_its_owner() {
    let f = steps();
    f.write_impl("_packages/conf/plain.txt", "region=#{Output[net].region}\n");
    f.write_impl("_packages/conf/secret.txt", "token=#{Output[deploy].token}\n");
    f.write_impl(
        "script/step.json",
        r#"{
  "package": "{{ env.IMPL_DIR }}/_packages/shell",
  "inputs": { "message": "configured" },
  "packages": { "conf": { "path": "{{ env.IMPL_DIR }}/_packages/conf", "substituteInFiles": ["*.txt"] } }
}"#,
    );
    up(&f, "ok").expect(0);
    let dir = "genfiles/script/.betterform/packages/conf";
    // The step gets the secret where it asked for it; nobody else may read it.
    assert_eq!(f.read(&format!("{dir}/secret.txt")), format!("token=issued-{TOKEN}\n"));
    assert_eq!(mode_of(&f, &format!("{dir}/secret.txt")), 0o600);
    assert_eq!(mode_of(&f, &format!("{dir}/plain.txt")), 0o644);
}
