//! `status`: what is recorded per stage, as a table or JSON, read without side effects.

use std::collections::BTreeMap;
use std::path::Path;

use crate::common::Fixture;

/// Every file under `dir` with its content and mtime, to prove a command wrote nothing.
fn snapshot(dir: &Path) -> BTreeMap<String, (Vec<u8>, std::time::SystemTime)> {
    walkdir::WalkDir::new(dir)
        .into_iter()
        .map(Result::unwrap)
        .filter(|e| e.file_type().is_file())
        .map(|e| {
            let meta = e.metadata().unwrap();
            (e.path().display().to_string(), (std::fs::read(e.path()).unwrap(), meta.modified().unwrap()))
        })
        .collect()
}

#[test]
fn status_reports_each_stage_as_table_and_json_without_writing() {
    let f = Fixture::new("diamond");
    f.write("config.jsonnet", "{ region: 'x' }");
    let before = f.run(&["status"]).expect(0).stdout();
    assert_eq!(
        before.lines().nth(1).unwrap().split_whitespace().collect::<Vec<_>>(),
        ["state_storage", "never", "-", "-", "-", "-"]
    );
    assert!(!f.exists("genfiles"), "status must not create anything");

    f.cmd().args(["up", "-j", "1"]).env("FAIL_STAGE", "parallel_b").assert().code(1);
    let snap = snapshot(&f.deploy);
    let table = f.run(&["status"]).expect(0).stdout();
    let row = |stage: &str| -> Vec<String> {
        table
            .lines()
            .find(|l| l.starts_with(&format!("{stage} ")))
            .unwrap()
            .split_whitespace()
            .map(String::from)
            .collect()
    };
    assert_eq!(row("state_storage")[1..3], ["up", "up"]);
    assert_eq!(row("parallel_b")[1..3], ["failed", "up"]);
    assert_eq!(row("parallel_b")[5], "genfiles/.betterform/logs/parallel_b/up.log");
    assert_eq!(row("final")[1], "never");

    let json: serde_json::Value =
        serde_json::from_str(&f.run(&["status", "--json"]).expect(0).stdout()).unwrap();
    let stages = json["stages"].as_array().unwrap();
    assert_eq!(stages.len(), 4);
    let b = stages.iter().find(|s| s["name"] == "parallel_b").unwrap();
    assert_eq!(b["status"], "failed");
    assert_eq!(b["last_command"], "up");
    assert_eq!(b["exit_code"], 3);
    assert!(b["duration_ms"].is_u64());
    assert!(b["started"].as_str().unwrap().ends_with('Z'));
    assert!(b["log"].as_str().unwrap().ends_with("logs/parallel_b/up.log"));
    assert_eq!(snapshot(&f.deploy), snap, "status must write nothing");
}

#[test]
fn status_names_a_corrupt_state_file() {
    let f = Fixture::new("diamond");
    f.write("genfiles/.betterform/state/final.json", "[]");
    let err = f.run(&["status"]).expect(4).stderr();
    assert!(err.contains("final.json is corrupt"), "{err}");
}

#[test]
fn a_closed_pipe_ends_output_quietly() {
    // Enough stages that the output overflows the pipe buffer after `head` has gone.
    let f = Fixture::new("diamond");
    let mut dag = String::new();
    for i in 0..3000 {
        dag += &format!("$(call define_stage, stage_with_a_long_name_{i:05}, )\n");
        let dir = f.impl_dir.join(format!("stage_with_a_long_name_{i:05}"));
        std::fs::create_dir_all(&dir).unwrap();
        std::fs::write(dir.join("step.json"), "{}").unwrap();
    }
    f.write_impl("betterform_dag.mk", &dag);
    for command in ["graph", "status"] {
        let script = format!(
            "\"$0\" --impl-dir \"$1\" {command} | head -n 1 > /dev/null; echo \"exit=${{PIPESTATUS[0]}}\""
        );
        let out = std::process::Command::new("bash")
            .args(["-c", &script])
            .arg(assert_cmd::cargo::cargo_bin("betterform"))
            .arg(&f.impl_dir)
            .current_dir(&f.deploy)
            .output()
            .unwrap();
        assert_eq!(String::from_utf8_lossy(&out.stdout), "exit=0\n", "{command}");
        assert_eq!(String::from_utf8_lossy(&out.stderr), "", "{command}: nothing on stderr");
    }
}

#[test]
fn stages_removed_from_the_dag_while_up_are_listed_and_taken_down_newest_first() {
    let f = Fixture::new("diamond");
    f.write("config.jsonnet", "{ region: 'eu-north-1' }");
    f.run(&["up", "-j", "1"]).expect(0);
    // parallel_b and final leave the DAG (and the library) while their resources are up.
    f.write_impl(
        "betterform_dag.mk",
        "$(call define_stage, state_storage, )\n$(call define_stage, parallel_a, state_storage)\n",
    );
    std::fs::remove_dir_all(f.impl_dir.join("final")).unwrap();
    std::fs::remove_dir_all(f.impl_dir.join("parallel_b")).unwrap();
    let note = "orphaned: final (up), parallel_b (up): recorded but no longer in the DAG file; `betterform down --orphans` takes them down";
    let status = f.run(&["status"]).expect(0).stdout();
    assert!(status.ends_with(&format!("{note}\n")), "{status}");
    let plan = f.run(&["plan"]).expect(0).stdout();
    assert!(plan.ends_with(&format!("plan: 0 to run, 2 up to date, 0 blocked\n{note}\n")), "{plan}");
    let json: serde_json::Value =
        serde_json::from_str(&f.run(&["status", "--json"]).expect(0).stdout()).unwrap();
    assert_eq!(json["orphans"][0]["name"], "final");
    assert_eq!(json["orphans"][1]["status"], "up");
    let json: serde_json::Value =
        serde_json::from_str(&f.run(&["plan", "--json"]).expect(0).stdout()).unwrap();
    assert_eq!(json["orphans"].as_array().unwrap().len(), 2);

    // A name that is not an orphan is refused; a plain `down` leaves orphans alone.
    let err = f.run(&["down", "--orphans", "parallel_a"]).expect(2).stderr();
    assert!(err.contains("'parallel_a' is not an orphaned stage (orphans: final, parallel_b)"), "{err}");
    let before = f.started("down");
    f.run(&["down", "--orphans"]).expect(0);
    let downed: Vec<String> = f.started("down").into_iter().skip(before.len()).collect();
    assert_eq!(downed, ["final", "parallel_b"], "from their stamped dirs, newest first");
    assert!(!f.exists("output/final") && !f.exists("output/parallel_b"));
    assert!(f.exists("output/parallel_a/output.json"), "stages in the DAG are not touched");
    let status = f.run(&["status"]).expect(0).stdout();
    assert!(!status.contains("orphaned"), "{status}");
    let err = f.run(&["down", "--orphans"]).expect(0).stderr();
    assert!(err.contains("no orphaned stages"), "{err}");
}
