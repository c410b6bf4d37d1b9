//! Where the time went: the critical path and slot waits in the summary, the timing record
//! behind `status --timings` and `--report`, and the `--timings` HTML page, opened in a real
//! headless browser (Debian's chromium): one bar per stage after the page's script ran, the
//! critical path marked in the timeline and the DAG, no script error, no console message.

use std::io::Read;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use serde_json::Value;

use crate::common::Fixture;

const CHROMIUM: &str = "/usr/bin/chromium";

/// Runs chromium headless on `page` with `args` (`--dump-dom`, `--screenshot=…`); returns its
/// stdout and stderr. Each run gets a profile of its own and nothing that reaches the network.
fn chromium(page: &Path, args: &[String]) -> (String, String) {
    assert!(
        Path::new(CHROMIUM).exists(),
        "{CHROMIUM} is missing: these tests check the --timings page in a real browser; \
         install it with `apt-get install chromium` (CI's .ci/run does)"
    );
    let profile = tempfile::tempdir().unwrap();
    let mut child = Command::new(CHROMIUM)
        .args([
            "--headless",
            "--no-sandbox",
            "--disable-gpu",
            "--disable-dev-shm-usage",
            "--disable-quic",
            "--no-first-run",
            "--disable-background-networking",
            "--disable-component-update",
            "--disable-sync",
            "--enable-logging=stderr",
            "--v=0",
        ])
        .arg(format!("--user-data-dir={}", profile.path().display()))
        .args(args)
        .arg(format!("file://{}", page.display()))
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    // Read both pipes while it runs: a page dump is bigger than a pipe holds.
    let mut stdout = child.stdout.take().unwrap();
    let mut stderr = child.stderr.take().unwrap();
    let out = std::thread::spawn(move || {
        let mut text = String::new();
        stdout.read_to_string(&mut text).unwrap();
        text
    });
    let err = std::thread::spawn(move || {
        let mut text = String::new();
        stderr.read_to_string(&mut text).unwrap();
        text
    });
    // A hung browser fails the test instead of hanging it (not a timing assertion).
    let deadline = Instant::now() + Duration::from_secs(120);
    while child.try_wait().unwrap().is_none() {
        if Instant::now() >= deadline {
            child.kill().unwrap();
            child.wait().unwrap();
            panic!("chromium was still running after 120 s on {}", page.display());
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    (out.join().unwrap(), err.join().unwrap())
}

/// The opening tags of `element` elements whose class list starts with `class`.
fn tags<'a>(dom: &'a str, element: &str, class: &str) -> Vec<&'a str> {
    let open = format!("<{element} class=\"{class}");
    dom.match_indices(&open)
        .map(|(i, _)| {
            let end = i + dom[i..].find('>').unwrap();
            &dom[i..=end]
        })
        .filter(|tag| {
            // `class="bar…"` must be the class `bar`, not `barrier`.
            let rest = &tag[open.len()..];
            rest.starts_with('"') || rest.starts_with(' ')
        })
        .collect()
}

fn attr<'a>(tag: &'a str, name: &str) -> Option<&'a str> {
    let key = format!(" {name}=\"");
    let start = tag.find(&key)? + key.len();
    Some(&tag[start..start + tag[start..].find('"')?])
}

/// Opens `page` in the browser and checks it against `record` (the run's `latest.json`):
/// the script ran to its end without an exception or a console message, one bar per stage
/// that started, one node per stage, and exactly the critical path marked in both.
fn check_page(page: &Path, record: &Value) -> String {
    let (dom, log) = chromium(page, &["--dump-dom".into()]);
    let console: Vec<&str> = log.lines().filter(|l| l.contains(":CONSOLE")).collect();
    assert!(console.is_empty(), "the page wrote to the console:\n{}", console.join("\n"));
    let body = &dom[dom.find("<body").expect("a DOM was dumped")..];
    let body = &body[..=body.find('>').unwrap()];
    assert!(attr(body, "data-error").is_none(), "the page's script failed: {body}");
    assert_eq!(attr(body, "data-rendered"), Some("ok"), "the page's script did not finish: {body}");

    let stages = record["stages"].as_array().unwrap();
    let started: Vec<&str> =
        stages.iter().filter(|s| !s["start_ms"].is_null()).map(|s| s["name"].as_str().unwrap()).collect();
    let critical: Vec<&str> =
        record["critical_path"].as_array().unwrap().iter().map(|s| s.as_str().unwrap()).collect();
    assert!(!critical.is_empty());

    let bars = tags(&dom, "g", "bar");
    let mut barred: Vec<&str> = bars.iter().map(|t| attr(t, "data-stage").unwrap()).collect();
    barred.sort_unstable();
    let mut expected = started.clone();
    expected.sort_unstable();
    assert_eq!(barred, expected, "one bar per stage that started");
    let marked = |tags: &[&str]| -> Vec<String> {
        let mut names: Vec<String> = tags
            .iter()
            .filter(|t| attr(t, "data-critical") == Some("true"))
            .map(|t| {
                assert!(attr(t, "class").unwrap().split(' ').any(|c| c == "critical"), "{t}");
                attr(t, "data-stage").unwrap().to_string()
            })
            .collect();
        names.sort_unstable();
        names
    };
    let mut on_path: Vec<String> = critical.iter().map(|s| s.to_string()).collect();
    on_path.sort_unstable();
    assert_eq!(marked(&bars), on_path, "the critical path's bars are marked, and only they");
    let nodes = tags(&dom, "g", "node");
    assert_eq!(nodes.len(), stages.len(), "one DAG node per stage");
    assert_eq!(marked(&nodes), on_path, "the critical path's nodes are marked, and only they");
    let edges = tags(&dom, "path", "edge critical");
    assert_eq!(edges.len(), critical.len() - 1, "the critical path's edges are highlighted");
    for edge in edges {
        let (from, to) = (attr(edge, "data-from").unwrap(), attr(edge, "data-to").unwrap());
        let at = |name: &str| critical.iter().position(|c| *c == name).unwrap();
        assert_eq!(at(from).abs_diff(at(to)), 1, "{from} → {to} is a link of the critical path");
    }
    assert_eq!(tags(&dom, "tr", "critical").len(), critical.len(), "the critical rows of the table");
    dom
}

/// The text of the element with `id` (no markup inside it).
fn text_of<'a>(dom: &'a str, id: &str) -> &'a str {
    let open = format!("id=\"{id}\"");
    let start = dom.find(&open).unwrap();
    let start = start + dom[start..].find('>').unwrap() + 1;
    &dom[start..start + dom[start..].find('<').unwrap()]
}

fn record(f: &Fixture) -> Value {
    serde_json::from_str(&f.read("genfiles/.betterform/timings/latest.json")).unwrap()
}

fn page_of(f: &Fixture, run: &Value) -> PathBuf {
    let page = f.deploy.join(format!("genfiles/.betterform/timings/{}.html", run["run"].as_str().unwrap()));
    assert!(page.exists(), "{}", page.display());
    let latest = f.deploy.join("genfiles/.betterform/timings/latest.html");
    assert_eq!(std::fs::read(&page).unwrap(), std::fs::read(latest).unwrap(), "latest.html is a copy");
    page
}

fn example() -> Fixture {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("examples");
    Fixture::from_dirs(&root.join("impl"), &root.join("dev"))
}

#[test]
fn the_example_page_renders_in_a_browser_with_the_critical_path_and_a_log_tail() {
    let f = example();
    let run = f.run(&["up", "-j", "2", "--timings"]).expect(0);
    let err = run.stderr();
    let record = record(&f);
    let page = page_of(&f, &record);
    assert!(err.contains(&format!(
        "timings: genfiles/.betterform/timings/{}.html",
        record["run"].as_str().unwrap()
    )));
    assert!(err.contains("critical path: state_storage "), "{err}");
    assert!(err.contains("waited for a -j slot: "), "{err}");
    let dom = check_page(&page, &record);
    // The page opens on the stage that finished last, with the tail of its log.
    let last = record["critical_path"].as_array().unwrap().last().unwrap().as_str().unwrap();
    assert_eq!(text_of(&dom, "detail-title"), format!("Stage log: {last}"));
    let log_tail = text_of(&dom, "log");
    let log = f.read(&format!("genfiles/.betterform/logs/{last}/up.log"));
    assert!(
        !log_tail.is_empty() && log.trim_end().ends_with(log_tail.trim_end().lines().last().unwrap()),
        "{log_tail}"
    );
    // The publish stage's secret access key is masked in its log tail, as everywhere.
    let html = std::fs::read_to_string(&page).unwrap();
    assert!(html.contains("signed the upload with ********"), "publish's log tail is embedded");
    assert!(!html.contains("dev-access-key-dev"), "the secret never reaches the page");
    assert!(html.contains("default-src 'none'"), "the page may fetch nothing");

    // The screenshot the README shows (BETTERFORM_SCREENSHOT_TO=docs/timings.png refreshes it).
    let shot = tempfile::tempdir().unwrap();
    let png = shot.path().join("timings.png");
    chromium(&page, &[format!("--screenshot={}", png.display()), "--window-size=1300,1050".into()]);
    let bytes = std::fs::read(&png).unwrap();
    assert!(bytes.starts_with(b"\x89PNG\r\n\x1a\n"), "a PNG");
    assert!(bytes.len() > 20_000, "the page drew something: {} bytes", bytes.len());
    if let Ok(to) = std::env::var("BETTERFORM_SCREENSHOT_TO") {
        std::fs::copy(&png, to).unwrap();
    }
}

/// A deployment of 300 stages: each depends on up to three earlier ones (a fixed pseudo-random
/// pick), every 40th stage is a new root; each `ctl` prints a line.
fn big_dag() -> Fixture {
    let src = tempfile::tempdir().unwrap();
    let impl_dir = src.path().join("impl");
    let mut dag = String::new();
    let mut seed: u64 = 0x2545_f491_4f6c_dd1d;
    for i in 0..300usize {
        let mut deps = std::collections::BTreeSet::new();
        if i % 40 != 0 {
            for _ in 0..3 {
                seed ^= seed << 13;
                seed ^= seed >> 7;
                seed ^= seed << 17;
                // Mostly recent stages, so the DAG is deep as well as wide.
                let back = 1 + (seed % (i.min(12) as u64)) as usize;
                deps.insert(format!("s{:03}", i - back));
            }
        }
        let deps: Vec<String> = deps.into_iter().collect();
        dag += &format!("$(call define_stage, s{i:03}, {})\n", deps.join(" "));
        let dir = impl_dir.join(format!("s{i:03}"));
        std::fs::create_dir_all(&dir).unwrap();
        std::fs::write(dir.join("ctl"), "#!/bin/sh\necho \"$STAGE_NAME: $1 <done> & ok\"\n").unwrap();
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(dir.join("ctl"), std::fs::Permissions::from_mode(0o755)).unwrap();
    }
    std::fs::write(impl_dir.join("betterform_dag.mk"), dag).unwrap();
    std::fs::create_dir_all(src.path().join("deploy")).unwrap();
    Fixture::from_dirs(&impl_dir, &src.path().join("deploy"))
}

#[test]
fn a_300_stage_page_renders_for_up_and_for_down() {
    let f = big_dag();
    f.run(&["up", "-j", "8", "--timings", "--output", "stream"]).expect(0);
    let up = record(&f);
    assert_eq!(up["stages"].as_array().unwrap().len(), 300);
    assert_eq!(up["direction"], "up");
    let critical = up["critical_path"].as_array().unwrap();
    assert!(critical.len() > 5, "a deep DAG has a long critical path: {critical:?}");
    // Each link waits for the one before it.
    for pair in critical.windows(2) {
        let stage = up["stages"].as_array().unwrap().iter().find(|s| s["name"] == pair[1]).unwrap();
        assert!(stage["deps"].as_array().unwrap().contains(&pair[0]), "{pair:?}");
    }
    check_page(&page_of(&f, &up), &up);

    f.run(&["down", "-y", "-j", "8", "--timings", "--output", "stream"]).expect(0);
    let down = record(&f);
    assert_eq!(down["direction"], "down");
    assert_ne!(down["run"], up["run"]);
    let critical = down["critical_path"].as_array().unwrap();
    // Down goes dependents first: each link is a dependency of the one before it.
    for pair in critical.windows(2) {
        let stage = down["stages"].as_array().unwrap().iter().find(|s| s["name"] == pair[0]).unwrap();
        assert!(stage["deps"].as_array().unwrap().contains(&pair[1]), "{pair:?}");
    }
    check_page(&page_of(&f, &down), &down);
    let mut names: Vec<String> = std::fs::read_dir(f.deploy.join("genfiles/.betterform/timings"))
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    names.sort();
    let (pages, records): (Vec<&String>, Vec<&String>) = names.iter().partition(|n| n.ends_with(".html"));
    assert_eq!(pages.len(), 3, "two runs' pages and latest.html: {names:?}");
    // The record is replaced through its spare, as the stages' records are.
    assert_eq!(records, [".latest.json.spare", "latest.json"], "{names:?}");
}

fn diamond() -> Fixture {
    let f = Fixture::new("diamond");
    f.write("config.jsonnet", "{ region: 'eu-north-1' }\n");
    f
}

#[test]
fn the_summary_names_the_critical_path_and_the_slot_waits() {
    let f = diamond();
    // -j 1: parallel_a and parallel_b are ready together; one waits for the other's slot.
    let err = f.run(&["up", "-j", "1", "--output", "stream", "--report", "report.json"]).expect(0).stderr();
    let record = record(&f);
    let path: Vec<&str> =
        record["critical_path"].as_array().unwrap().iter().map(|s| s.as_str().unwrap()).collect();
    assert_eq!(path.len(), 3, "{path:?}");
    assert_eq!((path[0], path[2]), ("state_storage", "final"));
    let line = err.lines().find(|l| l.starts_with("critical path: ")).unwrap();
    assert!(line.starts_with("critical path: state_storage "), "{line}");
    assert!(line.contains(&format!(" → {} ", path[1])) && line.contains(" → final "), "{line}");
    assert!(line.contains(" of "), "{line}");
    assert!(err.contains("waited for a -j slot: ") && err.contains("(-j 1)"), "{err}");
    assert!(!err.contains("timings: "), "no page without --timings");
    assert!(!f.exists("genfiles/.betterform/timings/latest.html"));
    // A run where nothing ran (all up to date) has no time to account for.
    let again = f.run(&["up", "-j", "1", "--output", "stream"]).expect(0).stderr();
    assert!(!again.contains("critical path") && !again.contains("waited for a -j slot"), "{again}");

    // The one that took the slot second waited for it; the other did not.
    let stage =
        |name: &str| record["stages"].as_array().unwrap().iter().find(|s| s["name"] == name).unwrap().clone();
    let second = stage(path[1]);
    let first = stage(if path[1] == "parallel_a" { "parallel_b" } else { "parallel_a" });
    assert!(second["start_ms"].as_u64() >= first["end_ms"].as_u64());
    assert!(second["waited_for_slot_ms"].as_u64().unwrap() >= first["duration_ms"].as_u64().unwrap());

    // --report carries the same timings.
    let report: Value = serde_json::from_str(&f.read("report.json")).unwrap();
    assert_eq!(report["critical_path"], record["critical_path"]);
    assert_eq!(report["jobs"], 1);
    for s in report["stages"].as_array().unwrap() {
        let name = s["name"].as_str().unwrap();
        assert_eq!(s["critical"], Value::Bool(path.contains(&name)), "{name}");
        assert_eq!(s["waited_for_slot_ms"], stage(name)["waited_for_slot_ms"], "{name}");
        assert_eq!(s["start_ms"], stage(name)["start_ms"], "{name}");
    }
}

#[test]
fn status_timings_shows_the_last_run_and_run_verb_writes_a_page_where_asked() {
    let f = diamond();
    let out = f.run(&["status", "--timings"]).expect(0).stdout();
    assert_eq!(out, "no timings recorded yet: `up`, `down` and `run` record them\n");
    let json: Value =
        serde_json::from_str(&f.run(&["status", "--timings", "--json"]).expect(0).stdout()).unwrap();
    assert!(json["last_run"].is_null());

    f.run(&["up", "-j", "2"]).expect(0);
    let err = f.run(&["run", "check", "--reverse", "--timings=out/check.html"]).expect(0).stderr();
    assert!(err.contains("timings: out/check.html"), "{err}");
    assert!(f.read("out/check.html").contains("\"command\":\"check\""));
    assert!(!f.exists("genfiles/.betterform/timings/latest.html"), "=FILE writes only FILE");

    let out = f.run(&["status", "--timings"]).expect(0).stdout();
    let mut lines = out.lines();
    assert!(lines.next().unwrap().starts_with("last run: check (run "), "{out}");
    assert_eq!(
        lines.next().unwrap().split_whitespace().collect::<Vec<_>>(),
        ["STAGE", "RESULT", "START", "END", "DURATION", "WAITED", "CRITICAL"]
    );
    // Reverse: final first; it is the start of the critical path of a down-like run.
    let record = record(&f);
    assert_eq!(record["direction"], "down");
    assert_eq!(record["critical_path"][0], "final");
    assert!(out.contains("critical path: final "), "{out}");
    let json: Value =
        serde_json::from_str(&f.run(&["status", "--timings", "--json"]).expect(0).stdout()).unwrap();
    assert_eq!(json["last_run"]["command"], "check");
    assert!(json["last_run"].get("stages").is_none());
    let final_stage = json["stages"].as_array().unwrap().iter().find(|s| s["name"] == "final").unwrap();
    assert_eq!(final_stage["status"], "up");
    assert_eq!(final_stage["timing"]["critical"], true);
    assert_eq!(final_stage["timing"]["start_ms"], record["stages"][3]["start_ms"]);

    let err = f.run(&["status", "--timings=x.html"]).expect(2).stderr();
    assert!(err.contains("status --timings takes no FILE"), "{err}");
    let err = f.run(&["plan", "--timings"]).expect(2).stderr();
    assert!(err.contains("--timings does not apply to `plan` (it is for up, down, run, status)"), "{err}");
}

#[test]
fn status_timings_table_after_a_failure() {
    let f = diamond();
    f.cmd().args(["up", "-j", "1", "-k"]).env("FAIL_STAGE", "parallel_a").assert().code(1);
    let out = f.run(&["status", "--timings"]).expect(0).stdout();
    let mut filters = f.redactions();
    filters.push((r"\b[0-9a-f]{16}-\d+\b".into(), "[RUN]".into()));
    insta::with_settings!({
        description => "FAIL_STAGE=parallel_a betterform up -j 1 -k; betterform status --timings",
        omit_expression => true,
        filters => filters.iter().map(|(regex, replacement)| (regex.as_str(), replacement.as_str())),
    }, {
        insta::assert_snapshot!("status_timings", out);
    });
}

#[test]
fn a_page_that_cannot_be_written_fails_a_run_that_succeeded_but_not_one_that_failed() {
    let f = diamond();
    let err = f.run(&["up", "--timings=config.jsonnet/page.html"]).expect(4).stderr();
    assert!(err.contains("cannot write config.jsonnet/page.html"), "{err}");
    assert!(f.exists("genfiles/.betterform/timings/latest.json"), "the record is written first");
    let run =
        f.cmd().args(["up", "-B", "--timings=config.jsonnet/page.html"]).env("FAIL_STAGE", "final").output();
    let err = crate::common::Run(run.unwrap()).expect(1).stderr();
    assert!(err.contains("error: cannot write config.jsonnet/page.html"), "{err}");
}

#[test]
fn only_the_newest_run_pages_are_kept_and_a_page_written_where_asked_is_never_pruned() {
    let f = diamond();
    let dir = f.deploy.join("genfiles/.betterform/timings");
    let pages = || -> Vec<String> {
        let mut names: Vec<String> = std::fs::read_dir(&dir)
            .unwrap()
            .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
            .filter(|n| n.ends_with(".html") && n != "latest.html")
            .collect();
        names.sort();
        names
    };
    let page_of_run = |args: &[&str]| -> String {
        let err = f.run(args).expect(0).stderr();
        let line = err.lines().find_map(|l| l.strip_prefix("timings: ")).unwrap_or_else(|| panic!("{err}"));
        Path::new(line).file_name().unwrap().to_string_lossy().into_owned()
    };
    let first = page_of_run(&["up", "--timings"]);
    f.run(&["run", "check", "--timings=kept.html"]).expect(0);
    let mut newest = Vec::new();
    for _ in 0..21 {
        newest.push(page_of_run(&["up", "-B", "--only", "state_storage", "--timings"]));
    }
    let left = pages();
    assert_eq!(left.len(), 20, "{left:?}");
    assert!(!left.contains(&first), "the oldest page went: {left:?}");
    newest.drain(..1);
    newest.sort();
    assert_eq!(left, newest, "the 20 newest stay");
    assert!(dir.join("latest.html").exists());
    assert!(f.exists("kept.html"), "a page written with --timings=FILE is the user's");
}
