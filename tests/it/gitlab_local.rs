//! The exported GitLab pipeline, run by gitlab-ci-local (npm): GitLab's semantics as others
//! implemented them, where `export.rs` plays the pipeline with a model written by us. Jobs run
//! with its shell executor, each in a fresh copy of the committed tree
//! (`.gitlab-ci-local/builds/<job>`), its cache (`.gitlab-ci-local/cache/<key>`) kept between
//! the pipeline runs of one repository, as GitLab keeps it between pipelines.
//!
//! It runs the pipeline as exported: the parent's lock job triggers the same file as the child
//! pipeline (`trigger: include: local`), whose jobs' `rules:` admit `parent_pipeline`. Where it
//! differs from GitLab, the test allows for it (README, *Running in CI*): it ignores
//! `workflow: rules` (the rules are checked through a probe job's `rules:`, which it
//! evaluates) and `resource_group`.

use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;
use std::process::Command;

use serde_yaml_ng::Value;

use crate::export::{bin, example_repo, files, local_outputs};

/// What `tests/tools.sh` installs: the newest release that runs on Debian's node 20 (4.74 and
/// later need node 22).
const INSTALL: &str = "npm install -g gitlab-ci-local@4.73.0";

const STAGES: [&str; 6] = ["state_storage", "parallel_a", "parallel_b", "final", "publish", "announce"];

/// A run of gitlab-ci-local: whether it succeeded, what it printed, and each job's log.
struct Pipeline {
    ok: bool,
    printed: String,
    logs: BTreeMap<String, String>,
}

impl Pipeline {
    /// The logs of the stages' jobs (not `outputs` nor `confirm-down`), by stage.
    fn stage_logs(&self, direction: &str) -> BTreeMap<String, String> {
        self.logs
            .iter()
            .filter_map(|(job, log)| {
                Some((job.strip_prefix(&format!("{direction}-"))?.to_string(), log.clone()))
            })
            .collect()
    }

    /// Asserts a job per stage ran, each log containing `summary`.
    fn expect_each_stage(&self, direction: &str, summary: &str, what: &str) {
        let logs = self.stage_logs(direction);
        assert_eq!(
            logs.keys().map(String::as_str).collect::<BTreeSet<_>>(),
            BTreeSet::from(STAGES),
            "{what}: a {direction} job per stage\n{}",
            self.printed
        );
        for (stage, log) in &logs {
            assert!(log.contains(summary), "{what}: {direction}-{stage} lacks `{summary}`:\n{log}");
        }
    }
}

/// The repository as CI checks it out: the bundled example (`impl/`, `deploy/config.jsonnet`)
/// committed in a real git repository, which gitlab-ci-local copies each job's tree from.
fn git_repo() -> tempfile::TempDir {
    let repo = example_repo();
    std::fs::remove_dir_all(repo.path().join(".git")).unwrap();
    git(repo.path(), &["init", "-q", "-b", "main"]);
    git(repo.path(), &["add", "-A"]);
    git(repo.path(), &["commit", "-q", "-m", "the example"]);
    git(repo.path(), &["remote", "add", "origin", "https://gitlab.example.com/ops/example.git"]);
    repo
}

fn git(repo: &Path, args: &[&str]) {
    let out = Command::new("git")
        .args(["-c", "user.name=t", "-c", "user.email=t@t"])
        .args(args)
        .current_dir(repo)
        .output()
        .unwrap();
    assert!(out.status.success(), "git {args:?}: {}", String::from_utf8_lossy(&out.stderr));
}

/// The pipeline `--for direction`, to be committed as `<direction>.gitlab-ci.yml` (which its
/// lock job runs as the child pipeline).
fn export(repo: &Path, direction: &str) -> String {
    let out = Command::new(bin())
        .current_dir(repo.join("deploy"))
        .env_remove("IMPL_DIR")
        .env_remove("OUTPUT_DIR")
        .env_remove("GENFILES")
        .args(["--impl-dir", "../impl", "export", "--format", "gitlab-ci", "--for", direction])
        .arg("--ci-file")
        .arg(format!("{direction}.gitlab-ci.yml"))
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    String::from_utf8(out.stdout).unwrap()
}

/// gitlab-ci-local with the built betterform first on PATH and a clean wave environment.
fn gitlab_ci_local(repo: &Path, home: &Path) -> Command {
    let path = std::env::join_paths(
        std::iter::once(bin().parent().unwrap().to_path_buf())
            .chain(std::env::split_paths(&std::env::var_os("PATH").unwrap())),
    )
    .unwrap();
    let mut cmd = Command::new("gitlab-ci-local");
    cmd.current_dir(repo).env("PATH", path);
    for var in crate::common::LEAKY_VARS {
        cmd.env_remove(var);
    }
    // Its variables file and includes cache: none of the user's.
    cmd.arg("--home").arg(home);
    cmd
}

/// Fails, naming the install command, when gitlab-ci-local or the rsync it copies with is
/// missing.
fn check_installed() {
    let version = Command::new("gitlab-ci-local").arg("--version").output();
    let version = match version {
        Ok(out) if out.status.success() => String::from_utf8_lossy(&out.stdout).trim().to_string(),
        Ok(out) => panic!(
            "gitlab-ci-local does not run ({}): run `bash tests/tools.sh` (or {INSTALL})",
            String::from_utf8_lossy(&out.stderr).lines().last().unwrap_or("")
        ),
        Err(e) => panic!("gitlab-ci-local is not installed ({e}): run `bash tests/tools.sh` (or {INSTALL})"),
    };
    assert!(version.starts_with("4."), "gitlab-ci-local {version}: the test expects 4.x ({INSTALL})");
    assert!(
        Command::new("rsync").arg("--version").output().is_ok_and(|o| o.status.success()),
        "rsync is missing (gitlab-ci-local copies with it): run `bash tests/tools.sh` (or apt-get install rsync)"
    );
}

/// Runs the pipeline in `file` as started from `source` (`CI_PIPELINE_SOURCE`).
fn run(repo: &Path, home: &Path, file: &str, source: &str, extra: &[&str]) -> Pipeline {
    let logs_dir = repo.join(".gitlab-ci-local/output");
    let _ = std::fs::remove_dir_all(&logs_dir);
    let out = gitlab_ci_local(repo, home)
        .args(["--file", file, "--shell-isolation", "--no-artifacts-to-source", "--no-color"])
        .arg("--variable")
        .arg(format!("CI_PIPELINE_SOURCE={source}"))
        .args(["--ignore-predefined-vars", "CI_PIPELINE_SOURCE"])
        .args(extra)
        .output()
        .unwrap();
    let printed = format!("{}{}", String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr));
    let logs = std::fs::read_dir(&logs_dir)
        .into_iter()
        .flatten()
        .map(|e| e.unwrap().path())
        .filter_map(|p| {
            let job = p.file_name()?.to_str()?.strip_suffix(".log")?.to_string();
            Some((job, std::fs::read_to_string(&p).unwrap()))
        })
        .collect();
    Pipeline { ok: out.status.success(), printed, logs }
}

/// The final OUTPUT_DIR: the artifact of the up pipeline's `outputs` job.
fn final_outputs(repo: &Path) -> BTreeMap<String, String> {
    let dir = repo.join(".gitlab-ci-local/artifacts/outputs/deploy/output");
    assert!(dir.is_dir(), "no `outputs` artifact at {}", dir.display());
    files(&dir)
}

/// The status betterform recorded for `stage` in the stage's `state` cache entry.
fn cached_status(repo: &Path, stage: &str) -> String {
    let record = repo.join(format!(
        ".gitlab-ci-local/cache/betterform@deploy@{stage}@state/deploy/genfiles/.betterform/state/{stage}.json"
    ));
    let text = std::fs::read_to_string(&record).unwrap_or_else(|e| panic!("{}: {e}", record.display()));
    let record: serde_json::Value = serde_json::from_str(&text).unwrap();
    record["status"].as_str().unwrap().to_string()
}

/// The pipeline sources whose pipelines gitlab-ci-local's rule evaluator lets run, by
/// pipeline (`up`, `down`): a probe job per pipeline carries its `workflow: rules` as its own
/// `rules:` (gitlab-ci-local evaluates those, not the workflow's).
fn sources_admitted(repo: &Path, home: &Path, pipelines: &[(&str, &str)]) -> BTreeMap<String, Vec<String>> {
    let mut probe = String::from("stages: [betterform]\n");
    for (name, yaml) in pipelines {
        let doc: Value = serde_yaml_ng::from_str(yaml).unwrap();
        let rules = serde_json::to_string(&doc["workflow"]["rules"]).unwrap();
        probe += &format!("{name}:\n  stage: betterform\n  script: ['true']\n  rules: {rules}\n");
    }
    std::fs::write(repo.join("probe.gitlab-ci.yml"), probe).unwrap();
    let mut admitted: BTreeMap<String, Vec<String>> = BTreeMap::new();
    for source in ["web", "api", "schedule", "trigger", "push", "merge_request_event", "parent_pipeline"] {
        let out = gitlab_ci_local(repo, home)
            .args(["--file", "probe.gitlab-ci.yml", "--list-json"])
            .arg("--variable")
            .arg(format!("CI_PIPELINE_SOURCE={source}"))
            .args(["--ignore-predefined-vars", "CI_PIPELINE_SOURCE"])
            .output()
            .unwrap();
        assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
        let jobs: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
        for job in jobs.as_array().unwrap() {
            let entry = admitted.entry(job["name"].as_str().unwrap().to_string()).or_default();
            if job["when"] != "never" {
                entry.push(source.to_string());
            }
        }
    }
    admitted
}

#[test]
fn gitlab_ci_local_runs_the_bundled_examples_pipelines_as_a_local_up_does() {
    check_installed();
    let repo = git_repo();
    let root = repo.path();
    let home = tempfile::TempDir::new().unwrap();
    let expected = files(&local_outputs(root).path().join("deploy/output"));
    let up = export(root, "up");
    let down = export(root, "down");
    std::fs::write(root.join("up.gitlab-ci.yml"), &up).unwrap();
    std::fs::write(root.join("down.gitlab-ci.yml"), &down).unwrap();
    // Committed, as the lock job's `include: local` needs them in the repository.
    git(root, &["add", "up.gitlab-ci.yml", "down.gitlab-ci.yml"]);
    git(root, &["commit", "-q", "-m", "the pipelines"]);

    // Only a deliberate start runs either pipeline (and its child); a push never does.
    let admitted = sources_admitted(root, home.path(), &[("up", &up), ("down", &down)]);
    for pipeline in ["up", "down"] {
        assert_eq!(
            admitted[pipeline],
            ["web", "api", "schedule", "parent_pipeline"],
            "what starts the {pipeline} pipeline"
        );
    }

    // Run 1: every job passes; the outputs, the state store and each registration among
    // them, are those of a local `up`.
    let run1 = run(root, home.path(), "up.gitlab-ci.yml", "web", &[]);
    assert!(run1.ok, "run 1 failed:\n{}", run1.printed);
    run1.expect_each_stage("up", "summary (up): 1 ran", "run 1");
    assert!(run1.logs["up-final"].contains("smoke check passed for dev"), "{}", run1.logs["up-final"]);
    assert_eq!(final_outputs(root), expected, "run 1: the final outputs");

    // Run 2, nothing changed: each stage's job restores its record and outputs from the cache
    // and the records of this run from its needs' artifacts, and finds the stage up to date.
    let run2 = run(root, home.path(), "up.gitlab-ci.yml", "web", &[]);
    assert!(run2.ok, "run 2 failed:\n{}", run2.printed);
    run2.expect_each_stage("up", "summary (up): 0 ran, 1 up to date", "run 2");
    assert_eq!(final_outputs(root), expected, "run 2: the final outputs");

    // A page dropped from the config: parallel_a rebuilds its site without it, and no job gets
    // the dropped page back from the cache (gitlab-ci-local's entries still hold it: it merges
    // what a job saves into the old entry), nor from the bucket publish made of it.
    let config = root.join("deploy/config.jsonnet");
    let text = std::fs::read_to_string(&config).unwrap() + "+ { site+: { pages: ['index'] } }\n";
    std::fs::write(&config, text).unwrap();
    git(root, &["commit", "-q", "-a", "-m", "one page"]);
    let fewer = files(&local_outputs(root).path().join("deploy/output"));
    assert!(
        !fewer.contains_key("parallel_a/site/about.html") && fewer.contains_key("parallel_a/site/index.html")
    );
    let run3 = run(root, home.path(), "up.gitlab-ci.yml", "web", &[]);
    assert!(run3.ok, "run 3 failed:\n{}", run3.printed);
    assert!(run3.logs["up-final"].contains("1 pages"), "{}", run3.logs["up-final"]);
    assert_eq!(final_outputs(root), fewer, "run 3: a page fewer");

    // Down waits for a person: without the manual job no stage is touched.
    let blocked = run(root, home.path(), "down.gitlab-ci.yml", "web", &[]);
    assert!(!blocked.ok && blocked.printed.contains("confirm-down"), "{}", blocked.printed);
    assert!(blocked.stage_logs("down").is_empty(), "a down job ran unconfirmed:\n{}", blocked.printed);

    // Confirmed, it brings every stage down from the cache alone (no artifacts), and each
    // stage's state entry records it down.
    let down_run = run(root, home.path(), "down.gitlab-ci.yml", "web", &["--manual", "confirm-down"]);
    assert!(down_run.ok, "down failed:\n{}", down_run.printed);
    down_run.expect_each_stage("down", "summary (down): 1 ran", "down");
    assert!(
        down_run.logs["down-publish"].contains("removed bucket site-dev"),
        "{}",
        down_run.logs["down-publish"]
    );
    let imported: Vec<&str> = down_run.printed.lines().filter(|l| l.contains("imported artifacts")).collect();
    assert!(imported.is_empty(), "down jobs take no artifacts: {imported:?}");
    for stage in STAGES {
        assert_eq!(cached_status(root, stage), "down", "{stage}'s cached record after down");
    }

    // And the next up finds every stage down: all run again, to the same outputs.
    let run4 = run(root, home.path(), "up.gitlab-ci.yml", "web", &[]);
    assert!(run4.ok, "up after down failed:\n{}", run4.printed);
    run4.expect_each_stage("up", "summary (up): 1 ran", "up after down");
    assert_eq!(final_outputs(root), fewer, "up after down: the final outputs");
}
