//! `up` and `down` end to end over the diamond fixture: ordering, parallelism, failures,
//! the wave environment a stage sees, stamp-time reads of upstream outputs, logs and state.

use crate::common::{Fixture, diamond};

#[test]
fn up_runs_the_diamond_in_dependency_order_and_stamps_upstream_outputs() {
    let f = diamond();
    let run = f.run(&["up", "-j", "2"]).expect(0);
    let started = f.started("up");
    assert_eq!(started.len(), 4);
    assert_eq!(started[0], "state_storage");
    assert_eq!(started[3], "final");
    // Stamp-time reads of upstream outputs, through output() and read_json().
    assert_eq!(f.read("genfiles/final/upstream.txt"), "a=from-parallel_a\nb=from-parallel_b\n");
    assert_eq!(f.read("genfiles/state_storage/settings.txt"), "region=eu-north-1\nstage=state_storage\n");
    // Every stage's output is prefixed, and the summary lists every stage.
    let err = run.stderr();
    assert!(err.contains("[final] final is up\n"), "{err}");
    assert!(err.contains("summary (up): 4 ran, 0 up to date, 0 skipped, 0 failed, 0 not run"), "{err}");
    for stage in ["state_storage", "parallel_a", "parallel_b", "final"] {
        assert_eq!(f.status(stage), "up");
        assert_eq!(f.log(stage, "up"), format!("{stage} is up\n"));
    }
    assert!(!err.contains('\x1b'), "no terminal control sequences off a terminal");
}

#[test]
fn stages_see_identical_absolute_wave_variables_and_run_in_their_stamped_dir() {
    let f = diamond();
    f.cmd_without_impl_dir()
        .args(["up", "-j", "1"])
        .env("IMPL_DIR", "../impl")
        .env("GENFILES", "gen")
        .env("OUTPUT_DIR", "./out/../out")
        .assert()
        .success();
    let deploy = f.deploy.canonicalize().unwrap();
    let impl_dir = f.impl_dir.canonicalize().unwrap();
    let expect = |stage: &str| {
        format!(
            "CONFIG_JSONNET_FILE={d}/config.jsonnet\nCONFIG_JSON_FILE={d}/gen/config.json\nGENFILES={d}/gen\nIMPL_DIR={i}\nINTERACTIVE=false\nOUTPUT_DIR={d}/out\nSTAGE_NAME={stage}\n",
            d = deploy.display(),
            i = impl_dir.display()
        )
    };
    for stage in ["state_storage", "final"] {
        assert_eq!(f.read(&format!("gen/{stage}/seen_env.up")), expect(stage));
        assert_eq!(
            f.read(&format!("gen/{stage}/seen_cwd.up")).trim(),
            deploy.join("gen").join(stage).display().to_string()
        );
    }
    assert!(f.exists("out/final/output.json"));
    // Another spelling of the same dirs is the same deployment: nothing changed, nothing runs.
    let again = f
        .cmd_without_impl_dir()
        .args(["up", "-j", "1"])
        .env("IMPL_DIR", f.deploy.join("../impl"))
        .env("GENFILES", "./gen/")
        .env("OUTPUT_DIR", "out")
        .output()
        .unwrap();
    let err = String::from_utf8_lossy(&again.stderr);
    assert!(again.status.success() && err.contains("0 ran, 4 up to date"), "{err}");
    // The evaluated config lands in CONFIG_JSON_FILE.
    let config: serde_json::Value = serde_json::from_str(&f.read("gen/config.json")).unwrap();
    assert_eq!(config["region"], "eu-north-1");
}

#[test]
fn independent_stages_overlap_under_j2() {
    // Each stage of this fixture waits for the other to start: only parallel runs succeed.
    let f = Fixture::new("pair");
    let run = f.run(&["up", "-j", "2"]).expect(0);
    assert!(run.stderr().contains("[left] met right"), "{}", run.stderr());
    assert!(run.stderr().contains("[right] met left"), "{}", run.stderr());
}

#[test]
fn nothing_overlaps_under_j1() {
    let f = diamond();
    f.cmd().args(["up", "-j", "1"]).env("STAGE_SLEEP", "0.2").assert().success();
    let mut running = 0;
    for (event, _, _) in f.trace() {
        running += if event == "start" { 1 } else { -1 };
        assert!(running <= 1, "two stages ran at once: {:?}", f.trace());
    }
    assert_eq!(f.started("up").len(), 4);
}

#[test]
fn jobs_option_is_accepted_before_or_after_the_command_and_from_the_environment() {
    let f = diamond();
    f.cmd().args(["-j", "1", "up"]).env("STAGE_SLEEP", "0.1").assert().success();
    let f = diamond();
    f.cmd().args(["up"]).env("BETTERFORM_JOBS", "1").env("STAGE_SLEEP", "0.1").assert().success();
    let mut running = 0;
    for (event, _, _) in f.trace() {
        running += if event == "start" { 1 } else { -1 };
        assert!(running <= 1, "BETTERFORM_JOBS=1 was not honoured");
    }
    f.run(&["up", "-j", "0"]).expect(2);
}

#[test]
fn a_failure_stops_new_stages_and_names_the_stage_and_its_log() {
    let f = diamond();
    let run = f.cmd().args(["up", "-j", "1"]).env("FAIL_STAGE", "parallel_a").output().unwrap();
    let run = crate::common::Run(run).expect(1);
    // -j 1 starts parallel_a before parallel_b; after it fails nothing new starts.
    assert_eq!(f.started("up"), ["state_storage", "parallel_a"]);
    let err = run.stderr();
    assert!(err.contains("[parallel_a] failing on purpose"), "{err}");
    assert!(err.contains("parallel_a     FAILED"), "{err}");
    assert!(err.contains("ctl up: exit status 3; log: genfiles/.betterform/logs/parallel_a/up.log"), "{err}");
    assert!(err.contains("parallel_b     not run           -  run stopped after a failure"), "{err}");
    assert!(err.contains("final          not run           -  dependency 'parallel_a' failed"), "{err}");
    assert!(err.contains("error: stage failed: parallel_a"), "{err}");
    assert_eq!(f.status("parallel_a"), "failed");
    assert!(!f.exists("genfiles/final"), "a dependent of a failure is never stamped");
}

#[test]
fn keep_going_runs_independent_stages_but_never_dependents_of_a_failure() {
    let f = diamond();
    let run = f.cmd().args(["up", "-j", "1", "-k"]).env("FAIL_STAGE", "parallel_a").output().unwrap();
    let run = crate::common::Run(run).expect(1);
    assert_eq!(f.started("up"), ["state_storage", "parallel_a", "parallel_b"]);
    assert_eq!(f.status("parallel_b"), "up");
    assert!(
        run.stderr().contains("summary (up): 2 ran, 0 up to date, 0 skipped, 1 failed, 1 not run"),
        "{}",
        run.stderr()
    );
}

#[test]
fn up_of_a_stage_brings_up_only_it_and_its_dependencies() {
    let f = diamond();
    f.run(&["up", "parallel_a"]).expect(0);
    let mut started = f.started("up");
    started.sort();
    assert_eq!(started, ["parallel_a", "state_storage"]);
    assert!(!f.exists("genfiles/final"));
}

#[test]
fn down_runs_dependents_first_and_skips_what_is_not_up() {
    let f = diamond();
    f.run(&["up", "-j", "2"]).expect(0);
    let run = f.run(&["down", "-j", "2"]).expect(0);
    let down = f.started("down");
    assert_eq!(down.first().map(String::as_str), Some("final"));
    assert_eq!(down.last().map(String::as_str), Some("state_storage"));
    // Each down starts only after every dependent's down ended.
    let trace = f.trace();
    let pos = |ev: &str, stage: &str| {
        trace.iter().position(|t| t.0 == ev && t.1 == stage && t.2 == "down").unwrap()
    };
    assert!(pos("end", "final") < pos("start", "parallel_a"));
    assert!(pos("end", "final") < pos("start", "parallel_b"));
    assert!(pos("end", "parallel_a") < pos("start", "state_storage"));
    assert!(pos("end", "parallel_b") < pos("start", "state_storage"));
    assert!(run.stderr().contains("summary (down): 4 ran"), "{}", run.stderr());
    assert_eq!(f.status("final"), "down");
    assert!(!f.exists("output/final"));
    // Again: everything is already down, no ctl runs.
    let again = f.run(&["down"]).expect(0);
    assert_eq!(f.started("down").len(), 4);
    assert!(again.stderr().contains("already down"), "{}", again.stderr());
}

#[test]
fn down_of_a_stage_takes_its_dependents_down_too() {
    let f = diamond();
    f.run(&["up"]).expect(0);
    f.run(&["down", "parallel_a"]).expect(0);
    assert_eq!(f.started("down"), ["final", "parallel_a"]);
    assert_eq!(f.status("parallel_b"), "up");
}

#[test]
fn down_skips_stages_never_stamped() {
    let f = diamond();
    let run = f.run(&["down"]).expect(0);
    assert!(f.trace().is_empty(), "no ctl may run");
    assert!(run.stderr().contains("summary (down): 0 ran, 0 up to date, 4 skipped"), "{}", run.stderr());
    assert!(run.stderr().contains("never stamped"), "{}", run.stderr());
}

#[test]
fn a_failed_down_keeps_its_dependencies_up() {
    let f = diamond();
    f.run(&["up"]).expect(0);
    let run = f.cmd().args(["down", "-j", "1"]).env("FAIL_STAGE", "parallel_b").output().unwrap();
    let err = crate::common::Run(run).expect(1).stderr();
    // In a down, what a stage waits for is its dependents: the summary says so.
    assert!(err.contains("state_storage  not run") && err.contains("dependent 'parallel_b' failed"), "{err}");
    assert_eq!(f.status("state_storage"), "up", "a dependency of a failed down must not go down");
    assert_eq!(f.status("parallel_b"), "failed");
}

#[test]
fn down_on_a_terminal_asks_first() {
    let f = diamond();
    f.run(&["up"]).expect(0);
    let (code, out) = f.on_terminal(&["down"], &[("[y/N]", "n\n")]);
    assert_eq!(code, 1, "{out}");
    assert!(
        out.contains("bring down 4 stage(s): final, parallel_b, parallel_a, state_storage? [y/N]"),
        "{out}"
    );
    assert!(out.contains("aborted: nothing was brought down"), "{out}");
    assert!(f.started("down").is_empty());
    let (code, out) = f.on_terminal(&["down"], &[("[y/N]", "y\n")]);
    assert_eq!(code, 0, "{out}");
    assert_eq!(f.started("down").len(), 4);
}

#[test]
fn down_asks_on_the_terminal_even_with_stderr_redirected() {
    let f = diamond();
    f.run(&["up"]).expect(0);
    let err_file = f.deploy.join("stderr.log");
    let env = [("PTY_STDERR", err_file.to_str().unwrap())];
    let (code, out) = f.on_terminal_with_env(&["down"], &[("[y/N]", "y\n")], &env);
    assert_eq!(code, 0, "{out}");
    assert!(out.contains("bring down 4 stage(s)"), "the question is on the terminal: {out}");
    assert!(!f.read("stderr.log").contains("[y/N]"), "not in the redirected stderr");
    assert_eq!(f.started("down").len(), 4);
}

#[test]
fn down_without_a_terminal_does_not_ask() {
    let f = diamond();
    f.run(&["up"]).expect(0);
    f.cmd().arg("down").env("INTERACTIVE", "true").write_stdin("").assert().success();
    assert_eq!(f.started("down").len(), 4);
}

#[test]
fn a_stage_gets_a_terminal_in_every_interactive_run_and_never_prompts_without_one() {
    let f = diamond();
    // -j 1: the terminal itself.
    let (code, out) = f.on_terminal(&["up", "-j", "1"], &[]);
    assert_eq!(code, 0, "{out}");
    assert_eq!(f.read("genfiles/final/seen_stdin.up"), "terminal\n");
    assert!(f.read("genfiles/final/seen_env.up").contains("INTERACTIVE=true\n"));
    // In parallel: a terminal of its own.
    let (code, out) = f.on_terminal(&["up", "-j", "2", "-B"], &[]);
    assert_eq!(code, 0, "{out}");
    assert_eq!(f.read("genfiles/final/seen_stdin.up"), "terminal\n");
    assert!(f.read("genfiles/final/seen_env.up").contains("INTERACTIVE=true\n"));
    // No terminal to answer from: /dev/null, and never told it may prompt, whatever the
    // caller's INTERACTIVE says.
    f.cmd().args(["up", "-j", "2", "-B"]).env("INTERACTIVE", "true").assert().success();
    assert_eq!(f.read("genfiles/final/seen_stdin.up"), "not-a-terminal\n");
    assert!(f.read("genfiles/final/seen_env.up").contains("INTERACTIVE=false\n"));
}

#[test]
fn an_interactive_stage_owns_the_terminal_and_sees_its_prompt_answered() {
    let f = Fixture::new("asker");
    let (code, out) = f.on_terminal(&["up", "-j", "1"], &[("continue? ", "yes please\n")]);
    assert_eq!(code, 0, "{out}");
    assert!(out.contains("[asker] continue? "), "a prompt without newline must be shown: {out}");
    assert!(out.contains("[asker] answer was: yes please"), "{out}");
}

#[test]
fn ctrl_c_at_an_interactive_stage_interrupts_the_run() {
    let f = Fixture::new("asker");
    let (code, out) = f.on_terminal(&["up", "-j", "1"], &[("continue? ", "\x03")]);
    assert_eq!(code, 130, "{out}");
    assert!(out.contains("error: interrupted by SIGINT"), "{out}");
    assert_eq!(f.status("asker"), "unknown");
}

#[test]
fn report_and_junit_record_what_ran() {
    let f = diamond();
    f.run(&["up"]).expect(0);
    f.write_impl("parallel_b/changed.txt", "x\n");
    let run = f
        .cmd()
        .args(["up", "-j", "1", "-k", "--report", "report.json", "--junit", "junit.xml"])
        .env("FAIL_STAGE", "parallel_b")
        .output()
        .unwrap();
    crate::common::Run(run).expect(1);

    let report: serde_json::Value = serde_json::from_str(&f.read("report.json")).unwrap();
    assert_eq!(report["command"], "up");
    assert_eq!(report["exit_code"], 1);
    let stage =
        |name: &str| report["stages"].as_array().unwrap().iter().find(|s| s["name"] == name).unwrap().clone();
    assert_eq!(stage("state_storage")["result"], "up to date");
    assert_eq!(stage("state_storage")["action"], "skip");
    let b = stage("parallel_b");
    assert_eq!(
        (b["action"].as_str(), b["result"].as_str(), b["exit_code"].as_i64()),
        (Some("run"), Some("failed"), Some(3))
    );
    assert_eq!(b["reason"], "ctl up: exit status 3");
    assert!(b["log"].as_str().unwrap().ends_with("genfiles/.betterform/logs/parallel_b/up.log"));
    assert!(b["duration_ms"].is_u64() && b["start"].is_string() && b["end"].is_string());
    assert_eq!(stage("final")["result"], "not run");
    assert_eq!(stage("final")["reason"], "dependency 'parallel_b' failed");
    assert_eq!(stage("parallel_a")["result"], "up to date");

    // The JUnit file is well-formed XML with one test case per stage and the failure's log.
    let check = r#"
import sys, xml.etree.ElementTree as ET
root = ET.parse(sys.argv[1]).getroot()
cases = root.findall("./testsuite/testcase")
print(len(cases), root.get("failures"), root.get("skipped"))
for c in cases:
    f = c.find("failure")
    print(c.get("name"), "failure" if f is not None else ("skipped" if c.find("skipped") is not None else "ok"), (f.text or "").strip() if f is not None else "")
"#;
    let out = std::process::Command::new("python3")
        .args(["-c", check])
        .arg(f.deploy.join("junit.xml"))
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let text = String::from_utf8_lossy(&out.stdout);
    assert_eq!(
        text,
        "4 1 3\nstate_storage skipped \nparallel_a skipped \nparallel_b failure failing on purpose\nfinal skipped \n"
    );
}

#[test]
fn live_display_on_a_terminal_prints_a_failed_stage_log_at_once() {
    let f = diamond();
    let (code, out) = f.on_terminal_with_env(
        &["up", "-j", "2", "-k", "--output", "live"],
        &[],
        &[("FAIL_STAGE", "parallel_b")],
    );
    assert_eq!(code, 1, "{out}");
    let failed_at = out.find("==> parallel_b: FAILED").expect("failure line");
    let tail_at = out.find("[parallel_b] failing on purpose").expect("log tail printed");
    let summary_at = out.find("summary (up)").expect("summary");
    assert!(failed_at < tail_at && tail_at < summary_at, "{out}");
    assert!(out.contains("stages done"), "the counter is shown: {out}");
}

/// The live display on a 100-column terminal with the keyboard not in use.
const LIVE_TERMINAL: [(&str, &str); 3] =
    [("INTERACTIVE", "false"), ("PTY_COLS", "100"), ("PTY_REPORT_ECHO", "1")];

#[test]
fn live_display_counts_from_the_start_with_stage_names_aligned() {
    let f = diamond();
    let mut env = LIVE_TERMINAL.to_vec();
    env.push(("STAGE_SLEEP", "1.5"));
    let (code, out) = f.on_terminal_with_env(&["up", "-j", "2"], &[], &env);
    assert_eq!(code, 0, "{out}");
    let first_done = out.find("==> state_storage: up done").expect("state_storage ran");
    // The counter is drawn, and its elapsed time moves, before any stage has finished.
    let counted = out.find("0/4 stages done  1s").expect("the counter ticks while the first stage runs");
    assert!(counted < first_done, "{out}");
    // Names padded to the longest ("state_storage"), so the elapsed times line up.
    assert!(out.contains("state_storage   0s") || out.contains("state_storage   1s"), "{out}");
    assert!(out.contains("parallel_a      0s") || out.contains("parallel_a      1s"), "{out}");
    let screen = crate::common::screen::Screen::render(100, &out);
    assert!(screen.contains("summary (up): 4 ran"), "{screen}");
    assert!(!screen.contains("stages done"), "the counter is cleared at the end:\n{screen}");
}

#[test]
fn ctrl_c_leaves_the_live_display_clean_and_the_terminal_echoing() {
    let f = diamond();
    let mut env = LIVE_TERMINAL.to_vec();
    env.push(("STAGE_SLEEP", "3"));
    // Ctrl-C while both parallel stages run: the terminal itself echoes `^C` unless told not
    // to, and that shifted the display by a line, leaving a frozen spinner line behind.
    let (code, out) = f.on_terminal_with_env(
        &["up", "-j", "2"],
        &[("==> state_storage: up done", ""), ("parallel_b ", "\x03")],
        &env,
    );
    assert_eq!(code, 130, "{out}");
    let screen = crate::common::screen::Screen::render(100, &out);
    assert!(screen.contains("==> parallel_a: interrupted"), "{screen}");
    let left: Vec<&str> =
        screen.lines().filter(|l| l.contains("running:") || l.contains("stages done")).collect();
    assert!(left.is_empty(), "display lines left on the screen: {left:?}\n{screen}");
    assert!(!out.contains("^C"), "the terminal echoed ^C into the display:\n{out}");
    assert!(out.ends_with("[pty echo: on]\n"), "echo restored after the run: {out}");
}

#[test]
fn live_output_off_a_terminal_streams_lines() {
    let f = diamond();
    let run = f
        .cmd()
        .args(["up", "-j", "2", "-k", "--output", "live"])
        .env("FAIL_STAGE", "parallel_b")
        .output()
        .unwrap();
    let err = crate::common::Run(run).expect(1).stderr();
    assert!(err.contains("[parallel_a] parallel_a is up"), "{err}");
    assert!(err.contains("[parallel_b] failing on purpose"), "the failed stage's output: {err}");
}

#[test]
fn grouped_output_under_github_actions_shows_a_failure_open_with_an_annotation() {
    let f = diamond();
    let run = f
        .cmd()
        .args(["up", "-j", "2", "-k", "--output", "grouped"])
        .env("GITHUB_ACTIONS", "true")
        .env("FAIL_STAGE", "parallel_b")
        .output()
        .unwrap();
    let err = crate::common::Run(run).expect(1).stderr();
    let at =
        err.find("::error title=parallel_b%3A up failed::").unwrap_or_else(|| panic!("no annotation: {err}"));
    let failure = &err[at..];
    let annotation = failure.lines().next().unwrap();
    assert!(annotation.contains("exit status 3"), "the reason: {err}");
    assert!(
        annotation.ends_with("(log: genfiles/.betterform/logs/parallel_b/up.log)"),
        "and where the whole log is: {annotation}"
    );
    assert!(f.exists("genfiles/.betterform/logs/parallel_b/up.log"));
    let output_at = failure.find("[parallel_b] failing on purpose").expect("the failed stage's output");
    // Not inside a group: no group opens between the annotation and the output.
    assert!(!failure[..output_at].contains("::group::"), "{err}");
    assert!(failure.contains("==> parallel_b: FAILED"), "{err}");
    assert_eq!(err.matches("::group::").count(), 2, "groups for the stages that ran: {err}");

    // A second run: everything that ran is up to date and prints nothing, so no empty groups.
    let run = f
        .cmd()
        .args(["up", "-j", "2", "--output", "grouped"])
        .env("GITHUB_ACTIONS", "true")
        .output()
        .unwrap();
    let err = crate::common::Run(run).expect(0).stderr();
    assert!(err.contains("==> state_storage: up to date"), "{err}");
    assert!(!err.contains("::group::state_storage"), "an empty group: {err}");
}

#[test]
fn a_stage_that_fails_before_its_command_runs_is_annotated_with_the_log_that_says_why() {
    let f = diamond();
    f.run(&["up"]).expect(0);
    // final's template reads an output parallel_a does not have: it fails at its turn, before
    // its ctl runs; the log the annotation names still holds the reason.
    f.write_impl("final/extra.txt", "{{ output('parallel_a').no_such_key }}\n");
    let _ = std::fs::remove_dir_all(f.deploy.join("genfiles/.betterform/logs/final"));
    let run = f.cmd().args(["up", "--output", "grouped"]).env("GITHUB_ACTIONS", "true").output().unwrap();
    let err = crate::common::Run(run).expect(1).stderr();
    let annotation =
        err.lines().find(|l| l.starts_with("::error title=final")).unwrap_or_else(|| panic!("{err}"));
    assert!(annotation.contains("no_such_key"), "the reason: {annotation}");
    let log = annotation.rsplit_once("(log: ").map(|(_, p)| p.trim_end_matches(')')).expect(annotation);
    assert!(f.read(log).contains("no_such_key"), "{log} says why");
}

#[test]
fn grouped_output_under_gitlab_ci_uses_collapsed_sections() {
    let f = diamond();
    let run =
        f.cmd().args(["up", "-j", "2", "--output", "grouped"]).env("GITLAB_CI", "true").output().unwrap();
    let err = crate::common::Run(run).expect(0).stderr();
    assert_eq!(err.matches("[collapsed=true]\r\x1b[0K==> ").count(), 4, "{err}");
    let start = err.find(":betterform_parallel_a[collapsed=true]").expect("a section per stage");
    let end =
        err.find("section_end:").map(|_| err[start..].find(":betterform_parallel_a\r").unwrap()).unwrap();
    assert!(err[start..start + end].contains("[parallel_a] parallel_a is up"), "{err}");
}

#[test]
fn grouped_output_keeps_each_stage_together_and_folds_under_github_actions() {
    let f = diamond();
    let run = f
        .cmd()
        .args(["up", "-j", "2", "--output", "grouped"])
        .env("GITHUB_ACTIONS", "true")
        .output()
        .unwrap();
    let err = crate::common::Run(run).expect(0).stderr();
    let block = err.split("::group::parallel_a: up done").nth(1).expect("a group per stage");
    let block = block.split("::endgroup::").next().unwrap();
    assert!(block.contains("[parallel_a] parallel_a is up"), "{err}");
    assert!(!block.contains("[parallel_b]"), "another stage's line inside the group: {err}");
    assert_eq!(err.matches("::group::").count(), 4);
    assert_eq!(err.matches("::endgroup::").count(), 4);
}

fn prompts() -> Fixture {
    let f = Fixture::new("prompts");
    f.write("config.jsonnet", "{}");
    f
}

#[test]
fn parallel_stages_each_get_a_terminal_and_the_keyboard_in_turn() {
    let f = prompts();
    let waiting = "waiting for input: type the answer and press Enter";
    let steps = [(waiting, "first\n"), (waiting, "second\n"), (waiting, "third\n")];
    let (code, out) = f.on_terminal(&["up", "-j", "4"], &steps);
    assert_eq!(code, 0, "{out}");
    let mut answers: Vec<String> =
        ["ask_a", "ask_b", "ask_c"].iter().map(|s| f.read(&format!("genfiles/{s}/answer"))).collect();
    answers.sort();
    assert_eq!(answers, ["first\n", "second\n", "third\n"], "each stage got exactly one answer: {out}");
    for stage in ["ask_a", "ask_b", "ask_c"] {
        assert_eq!(f.read(&format!("genfiles/{stage}/seen_stdin")), "terminal\n");
        assert_eq!(f.read(&format!("genfiles/{stage}/seen_interactive")), "INTERACTIVE=true\n");
        assert!(
            out.contains(&format!("[{stage}] Enter a value for {stage}: ")),
            "the prompt is shown: {out}"
        );
    }
    // The chatty stage streamed meanwhile.
    assert!(out.contains("[chatty] chatty line 5"), "{out}");
}

#[test]
fn ctrl_c_while_a_stage_holds_the_keyboard_stops_the_run() {
    let f = prompts();
    let waiting = "waiting for input: type the answer and press Enter";
    let (code, out) = f.on_terminal(&["up", "-j", "4", "--grace", "2"], &[(waiting, "\x03")]);
    assert_eq!(code, 130, "{out}");
    assert!(out.contains("interrupted"), "{out}");
}

#[test]
fn dash_c_runs_as_if_started_in_the_directory() {
    let f = diamond();
    let parent = f.deploy.parent().unwrap().to_path_buf();
    f.cmd().current_dir(&parent).args(["-C", "deploy", "up", "state_storage"]).assert().success();
    assert!(f.exists("genfiles/state_storage/ctl"), "genfiles of the deployment dir");
    assert!(!parent.join("genfiles").exists());
    let out = f.cmd().args(["-C", "no/such/dir", "status"]).output().unwrap();
    let err = crate::common::Run(out).expect(2).stderr();
    assert!(err.starts_with("error: -C no/such/dir: "), "{err}");
}

#[test]
fn colour_only_when_asked_for_or_on_a_terminal() {
    let f = diamond();
    let failing = |args: &[&str], env: &[(&str, &str)]| {
        let mut cmd = f.cmd();
        cmd.args(["up", "-B", "-j", "1"]).args(args).env("FAIL_STAGE", "state_storage");
        for (k, v) in env {
            cmd.env(k, v);
        }
        crate::common::Run(cmd.output().unwrap()).expect(1).stderr()
    };
    let red_failed = "\x1b[1;31mFAILED\x1b[0m";
    // Off a terminal: no colour, unless forced.
    assert!(!failing(&[], &[]).contains('\x1b'));
    let forced = failing(&[], &[("CLICOLOR_FORCE", "1")]);
    assert!(forced.contains(red_failed), "{forced}");
    assert!(forced.contains("\x1b[1;31merror:\x1b[0m"), "{forced}");
    assert!(failing(&["--color", "always"], &[]).contains(red_failed));
    assert!(!failing(&["--color", "never"], &[("CLICOLOR_FORCE", "1")]).contains('\x1b'));
    assert!(!failing(&[], &[("CLICOLOR_FORCE", "1"), ("NO_COLOR", "1")]).contains('\x1b'));
    // Never in the logs.
    assert!(!f.read("genfiles/.betterform/logs/state_storage/up.log").contains('\x1b'));
}
