//! Stage logs: a time stamp on every line of the file (never on the terminal), the previous
//! run's log kept, `betterform logs` (`--command`, `--previous`, `--follow`), and per-stage
//! time limits from `.betterform-timeout`.

use std::io::Read;
use std::process::{Child, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use crate::common::Fixture;

/// Whether `text` holds a log time stamp (`2026-11-30T22:51:03.123Z`) anywhere.
fn has_stamp(text: &str) -> bool {
    let bytes = text.as_bytes();
    bytes.windows(24).any(|w| {
        w.iter().enumerate().all(|(i, &b)| match i {
            4 | 7 => b == b'-',
            10 => b == b'T',
            13 | 16 => b == b':',
            19 => b == b'.',
            23 => b == b'Z',
            _ => b.is_ascii_digit(),
        })
    })
}

fn log_path(f: &Fixture, stage: &str, name: &str) -> std::path::PathBuf {
    f.deploy.join(format!("genfiles/.betterform/logs/{stage}/{name}"))
}

#[test]
fn every_line_of_the_file_is_stamped_and_the_terminal_shows_none() {
    let f = Fixture::new("logs");
    let run = f.run(&["up", "talker"]).expect(0);
    let err = run.stderr();
    assert!(err.contains("[talker] line 1 of up"), "{err}");
    assert!(!has_stamp(&err), "no stamps on the terminal: {err}");
    let raw = f.read("genfiles/.betterform/logs/talker/up.log");
    // `f.log` asserts each line starts with a stamp; the line sent in two pieces is one line.
    assert_eq!(f.log("talker", "up"), "line 1 of up \nhalf a line, then the rest\nline 3 of up\n", "{raw}");
    assert_eq!(raw.lines().count(), 3);
}

#[test]
fn a_failed_stages_tail_is_shown_without_stamps_on_the_terminal_and_in_junit() {
    let f = Fixture::new("logs");
    let junit = f.deploy.join("junit.xml");
    let (code, out) = f.on_terminal_with_env(
        &["up", "talker", "--output", "live", "--junit", junit.to_str().unwrap()],
        &[],
        &[("TALKER_FAIL", "1")],
    );
    assert_eq!(code, 1, "{out}");
    assert!(out.contains("[talker] line 3 of up"), "the tail is shown: {out}");
    assert!(out.contains("[talker] talker failed"), "{out}");
    assert!(!has_stamp(&out), "{out}");
    let xml = std::fs::read_to_string(&junit).unwrap();
    assert!(xml.contains("half a line, then the rest") && xml.contains("talker failed"), "{xml}");
    // The report's own times are attributes; the stage's lines carry none.
    assert!(!xml.contains("Z line 1 of up") && !xml.contains("Z half a line"), "{xml}");
    // The file keeps them.
    assert!(has_stamp(&f.read("genfiles/.betterform/logs/talker/up.log")));
}

#[test]
fn a_new_run_keeps_the_last_log_as_previous_and_logs_shows_either() {
    let f = Fixture::new("logs");
    f.cmd().args(["up", "talker"]).env("TALKER_RUN", "first").assert().success();
    f.cmd().args(["up", "-B", "talker"]).env("TALKER_RUN", "second").assert().success();
    assert!(f.log("talker", "up").starts_with("line 1 of up second\n"));
    let previous = f.read("genfiles/.betterform/logs/talker/up.previous.log");
    assert!(previous.contains("line 1 of up first"), "{previous}");

    let latest = f.run(&["logs", "talker"]).expect(0).stdout();
    assert_eq!(
        latest,
        f.read("genfiles/.betterform/logs/talker/up.log"),
        "the file as it is, stamps and all"
    );
    assert!(has_stamp(&latest));
    let before = f.run(&["logs", "talker", "--previous"]).expect(0).stdout();
    assert_eq!(before, previous);
    // No run in progress: --follow prints the log and returns.
    assert_eq!(f.run(&["logs", "-f", "talker"]).expect(0).stdout(), latest);
}

#[test]
fn a_stage_skipped_as_up_to_date_keeps_its_log() {
    let f = Fixture::new("logs");
    f.run(&["up", "talker"]).expect(0);
    let log = f.read("genfiles/.betterform/logs/talker/up.log");
    let err = f.run(&["up", "talker"]).expect(0).stderr();
    assert!(err.contains("up to date"), "{err}");
    assert_eq!(f.read("genfiles/.betterform/logs/talker/up.log"), log);
    assert!(!log_path(&f, "talker", "up.previous.log").exists(), "nothing ran, nothing moved aside");
}

#[test]
fn logs_shows_the_command_that_ran_last_unless_told_which() {
    let f = Fixture::new("logs");
    f.run(&["up", "talker"]).expect(0);
    f.run(&["run", "plan", "talker"]).expect(0);
    let latest = f.run(&["logs", "talker"]).expect(0).stdout();
    assert!(latest.contains("line 1 of plan"), "{latest}");
    let up = f.run(&["logs", "talker", "--command", "up"]).expect(0).stdout();
    assert!(up.contains("line 1 of up"), "{up}");
    let err = f.run(&["logs", "talker", "--command", "down"]).expect(1).stderr();
    assert!(err.contains("stage 'talker' has no 'down' log yet"), "{err}");
    let err = f.run(&["logs", "talker", "--command", "../up"]).expect(2).stderr();
    assert!(err.contains("is not a command"), "{err}");
}

#[test]
fn logs_of_what_does_not_exist() {
    let f = Fixture::new("logs");
    let err = f.run(&["logs", "talker"]).expect(1).stderr();
    assert!(err.contains("stage 'talker' has no log yet: it has not run"), "{err}");
    f.run(&["up", "talker"]).expect(0);
    let err = f.run(&["logs", "talker", "--previous"]).expect(1).stderr();
    assert!(err.contains("stage 'talker' has no log of a 'up' run before the latest one"), "{err}");
    let err = f.run(&["logs", "talkr"]).expect(2).stderr();
    assert!(err.contains("unknown stage 'talkr' (did you mean 'talker'?)"), "{err}");
    let err = f.run(&["logs", "talker", "--follow", "--previous"]).expect(2).stderr();
    assert!(err.contains("cannot be used with"), "{err}");
    let err = f.run(&["logs", "talker", "-j", "2"]).expect(2).stderr();
    assert!(err.contains("-j") || err.contains("--jobs"), "{err}");
}

/// A child's stdout, collected by a thread as it comes; join the thread for all of it (the
/// child may have exited with its last bytes still in the pipe).
fn collect(child: &mut Child) -> Collected {
    let mut stdout = child.stdout.take().unwrap();
    let seen = Arc::new(Mutex::new(String::new()));
    let sink = Arc::clone(&seen);
    let reader = std::thread::spawn(move || {
        let mut buf = [0u8; 4096];
        while let Ok(n) = stdout.read(&mut buf) {
            if n == 0 {
                break;
            }
            sink.lock().unwrap().push_str(&String::from_utf8_lossy(&buf[..n]));
        }
    });
    (seen, reader)
}

fn wait_until(what: &str, mut done: impl FnMut() -> bool) {
    let deadline = Instant::now() + Duration::from_secs(30);
    while !done() {
        assert!(Instant::now() < deadline, "gave up waiting for {what}");
        std::thread::sleep(Duration::from_millis(20));
    }
}

fn wait_exit(child: &mut Child) -> i32 {
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        if let Some(status) = child.try_wait().unwrap() {
            return status.code().expect("exited, not killed");
        }
        if Instant::now() >= deadline {
            child.kill().unwrap();
            panic!("still running after 30s");
        }
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// Starts `up after` (and so `talker`), `talker` holding after its first line and `after`
/// until released, and waits until talker's first line is logged.
fn start_held_up(f: &Fixture) -> Child {
    let up = f
        .std_cmd()
        .args(["up", "after"])
        .env("TALKER_WAIT", "1")
        .env("AFTER_WAIT", "1")
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let log = log_path(f, "talker", "up.log");
    wait_until("the first line in the log", || {
        std::fs::read_to_string(&log).is_ok_and(|t| t.contains("line 1 of up"))
    });
    up
}

type Collected = (Arc<Mutex<String>>, std::thread::JoinHandle<()>);

fn start_follow(f: &Fixture) -> (Child, Collected) {
    let mut follow = f
        .std_cmd()
        .args(["logs", "--follow", "talker"])
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let (seen, reader) = collect(&mut follow);
    wait_until("logs --follow to print the first line", || seen.lock().unwrap().contains("line 1 of up"));
    (follow, (seen, reader))
}

#[test]
fn follow_prints_lines_as_they_come_and_returns_when_the_stage_finishes() {
    let f = Fixture::new("logs");
    let mut up = start_held_up(&f);
    let (mut follow, (seen, reader)) = start_follow(&f);
    // It is following, not done: the stage is still held.
    assert!(follow.try_wait().unwrap().is_none(), "returned while the stage still ran");
    std::fs::write(f.deploy.join("genfiles/release"), "").unwrap();
    assert_eq!(wait_exit(&mut follow), 0);
    // It returned when talker finished, not when the run did: `after` is still held.
    assert!(up.try_wait().unwrap().is_none(), "the run is still going");
    std::fs::write(f.deploy.join("genfiles/release-after"), "").unwrap();
    assert_eq!(wait_exit(&mut up), 0);
    reader.join().unwrap();
    let printed = seen.lock().unwrap().clone();
    assert_eq!(printed, f.read("genfiles/.betterform/logs/talker/up.log"), "every line, as in the file");
    assert!(
        printed.contains("half a line, then the rest\n") && printed.ends_with("line 3 of up\n"),
        "{printed}"
    );
}

#[test]
fn follow_stops_on_ctrl_c_with_130() {
    let f = Fixture::new("logs");
    let mut up = start_held_up(&f);
    let (mut follow, _) = start_follow(&f);
    let pid = follow.id().to_string();
    assert!(std::process::Command::new("kill").args(["-INT", &pid]).status().unwrap().success());
    assert_eq!(wait_exit(&mut follow), 130);
    std::fs::write(f.deploy.join("genfiles/release"), "").unwrap();
    std::fs::write(f.deploy.join("genfiles/release-after"), "").unwrap();
    assert_eq!(wait_exit(&mut up), 0, "the run is not disturbed");
}

#[test]
fn a_stage_with_its_own_shorter_limit_is_stopped_while_others_run_on() {
    let f = Fixture::new("logs");
    f.write_impl("sleeper/.betterform-timeout", "# it should never take long\n1s\n");
    let out = f
        .cmd()
        .args(["up", "-k", "--grace", "1", "--stage-timeout", "1m", "sleeper", "napper"])
        .output()
        .unwrap();
    let err = crate::common::Run(out).expect(1).stderr();
    assert!(err.contains("timed out after 1s ("), "{err}");
    assert!(err.contains("sleeper/.betterform-timeout); stopped"), "{err}");
    assert_eq!(f.status("sleeper"), "failed");
    // napper ran 2s, longer than sleeper's limit: the limit is sleeper's alone.
    assert_eq!(f.status("napper"), "up");
    assert!(f.log("napper", "up").contains("napper woke"));
    assert!(!f.exists("genfiles/sleeper/.betterform-timeout"), "a setting, not a stage file: not stamped");
}

#[test]
fn none_lifts_the_stage_timeout_for_one_stage() {
    let f = Fixture::new("logs");
    f.write_impl("napper/.betterform-timeout", "none\n");
    f.run(&["up", "--stage-timeout", "1s", "napper"]).expect(0);
    assert_eq!(f.status("napper"), "up");
}

#[test]
fn a_bad_time_limit_file_is_exit_2_before_anything_runs() {
    let f = Fixture::new("logs");
    f.write_impl("napper/.betterform-timeout", "# limit\nten minutes\n");
    let err = f.run(&["up", "talker", "napper"]).expect(2).stderr();
    assert!(err.contains("napper/.betterform-timeout:2:1: 'ten minutes' is not a time limit"), "{err}");
    assert!(err.contains("2 | ten minutes"), "the line is shown: {err}");
    assert!(!f.exists("genfiles/.betterform/logs/talker"), "nothing ran");
    let err = f.run(&["validate"]).expect(2).stderr();
    assert!(err.contains("napper/.betterform-timeout:2:1:"), "{err}");
    // A stage not targeted is not in the way.
    f.run(&["up", "talker"]).expect(0);
}

#[test]
fn follow_of_a_queued_stage_goes_on_to_its_new_log() {
    let f = Fixture::new("logs");
    f.cmd().args(["up", "talker"]).env("TALKER_RUN", "first").assert().success();
    let first = f.read("genfiles/.betterform/logs/talker/up.log");
    // talker waits for gate, which is held: its log is still the first run's.
    let mut up = f
        .std_cmd()
        .args(["up", "-B", "talker"])
        .env("GATE_WAIT", "1")
        .env("TALKER_RUN", "second")
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let gate = log_path(&f, "gate", "up.previous.log");
    wait_until("gate to start again", || gate.exists());
    let mut follow = f
        .std_cmd()
        .args(["logs", "--follow", "talker"])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let (seen, reader) = collect(&mut follow);
    wait_until("the first run's log", || seen.lock().unwrap().contains("line 1 of up first"));
    assert!(follow.try_wait().unwrap().is_none(), "talker has not run yet in this run");
    std::fs::write(f.deploy.join("genfiles/release-gate"), "").unwrap();
    assert_eq!(wait_exit(&mut follow), 0);
    assert_eq!(wait_exit(&mut up), 0);
    let second = f.read("genfiles/.betterform/logs/talker/up.log");
    assert!(second.contains("line 1 of up second"));
    reader.join().unwrap();
    assert_eq!(*seen.lock().unwrap(), format!("{first}{second}"), "the old log, then the new one");
    let mut err = String::new();
    follow.stderr.take().unwrap().read_to_string(&mut err).unwrap();
    assert!(err.contains("==> a new run of 'up' started"), "{err}");
}
