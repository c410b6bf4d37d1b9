//! Signals, the run lock and crash recovery, end to end on the built binary.

use std::path::Path;
use std::process::{Child, Stdio};
use std::time::{Duration, Instant};

use crate::common::Fixture;

fn wait_for(path: &Path) {
    let deadline = Instant::now() + Duration::from_secs(20);
    while !path.exists() {
        assert!(Instant::now() < deadline, "timed out waiting for {}", path.display());
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// Whether a process is still running. A zombie (dead, waiting for whoever inherited it to
/// reap it) does not count: in containers PID 1 may never reap orphans.
fn alive(pid: &str) -> bool {
    // Give the kernel a moment to deliver the kill to everything in the group.
    std::thread::sleep(Duration::from_millis(200));
    match std::fs::read_to_string(format!("/proc/{}/stat", pid.trim())) {
        Err(_) => false,
        Ok(stat) => {
            let state = stat.rsplit(')').next().unwrap_or("").split_whitespace().next().unwrap_or("");
            state != "Z" && state != "X"
        }
    }
}

fn signal(child: &Child, sig: &str) {
    let pid = child.id().to_string();
    assert!(std::process::Command::new("kill").args([sig, &pid]).status().unwrap().success());
}

/// Starts `up` in the background and waits until the slow stage is running.
fn start_up(f: &Fixture, extra: &[&str], mode: &str) -> Child {
    let child = std::process::Command::new(assert_cmd::cargo::cargo_bin("betterform"))
        .current_dir(&f.deploy)
        .env("INTERACTIVE", "false")
        .env("SLOW_MODE", mode)
        .arg("--impl-dir")
        .arg(&f.impl_dir)
        .arg("up")
        .args(extra)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    wait_for(&f.deploy.join("genfiles/slow.started"));
    child
}

fn finish(child: Child) -> crate::common::Run {
    crate::common::Run(child.wait_with_output().unwrap())
}

fn started(f: &Fixture) -> Vec<String> {
    f.started("up")
}

#[test]
fn sigint_is_forwarded_nothing_more_starts_and_no_process_survives() {
    let f = Fixture::new("signals");
    let child = start_up(&f, &[], "trap");
    assert!(alive(&f.read("genfiles/slow.bgpid")), "the liveness check must see the background child");
    signal(&child, "-INT");
    let run = finish(child).expect(130);
    assert_eq!(f.read("genfiles/slow.signal").trim(), "INT", "the stage saw the forwarded signal");
    assert_eq!(started(&f), ["slow"], "nothing starts after the signal");
    assert!(!alive(&f.read("genfiles/slow.bgpid")), "a backgrounded child of ctl must not survive");
    assert_eq!(f.status("slow"), "unknown");
    let err = run.stderr();
    assert!(err.contains("interrupted"), "{err}");
    assert!(err.contains("error: interrupted by SIGINT"), "{err}");
}

#[test]
fn sigterm_exits_143() {
    let f = Fixture::new("signals");
    let child = start_up(&f, &[], "trap");
    signal(&child, "-TERM");
    finish(child).expect(143);
    assert_eq!(f.read("genfiles/slow.signal").trim(), "TERM");
    assert_eq!(f.status("slow"), "unknown");
}

#[test]
fn a_stage_ignoring_signals_is_killed_after_the_grace_period() {
    let f = Fixture::new("signals");
    let child = start_up(&f, &["--grace", "1"], "ignore");
    let sent = Instant::now();
    signal(&child, "-INT");
    let run = finish(child).expect(130);
    assert!(sent.elapsed() < Duration::from_secs(15), "grace period not enforced");
    assert!(run.stderr().contains("grace period over"), "{}", run.stderr());
    assert!(!alive(&f.read("genfiles/slow.bgpid")));
    assert_eq!(f.status("slow"), "unknown");
}

#[test]
fn a_second_sigint_kills_at_once() {
    let f = Fixture::new("signals");
    let child = start_up(&f, &["--grace", "60"], "ignore");
    signal(&child, "-INT");
    std::thread::sleep(Duration::from_millis(300));
    let sent = Instant::now();
    signal(&child, "-INT");
    let run = finish(child).expect(130);
    assert!(sent.elapsed() < Duration::from_secs(10), "second SIGINT did not kill at once");
    assert!(run.stderr().contains("SIGINT again: killing"), "{}", run.stderr());
}

#[test]
fn a_second_run_exits_3_at_once_naming_the_holder() {
    let f = Fixture::new("signals");
    let child = start_up(&f, &[], "trap");
    let began = Instant::now();
    let second = f.run(&["up"]).expect(3);
    assert!(began.elapsed() < Duration::from_secs(1), "the second run must not wait");
    let err = second.stderr();
    assert!(err.contains(&format!("pid {}, command 'up'", child.id())), "{err}");
    assert!(err.contains("started 20"), "{err}");
    // down is locked out too; read-only status is not, and sees the running stage.
    f.run(&["down", "-y"]).expect(3);
    let status = f.run(&["status"]).expect(0).stdout();
    assert!(status.lines().any(|l| l.starts_with("slow ") && l.contains(" unknown ")), "{status}");
    std::fs::write(f.deploy.join("genfiles/release"), "").unwrap();
    finish(child).expect(0);
    assert_eq!(started(&f), ["slow", "after"]);
}

#[test]
fn after_kill_9_the_next_up_reruns_the_interrupted_stage() {
    let f = Fixture::new("signals");
    let child = start_up(&f, &[], "trap");
    signal(&child, "-KILL");
    let _ = finish(child);
    // State stays readable and says what is known: the stage may be half-done.
    assert_eq!(f.status("slow"), "unknown");
    // The orphaned ctl of the dead run is still going; let it finish.
    std::fs::write(f.deploy.join("genfiles/release"), "").unwrap();
    f.run(&["up"]).expect(0);
    assert_eq!(started(&f), ["slow", "slow", "after"]);
    assert_eq!(f.status("slow"), "up");
}

#[test]
fn a_stage_that_exits_leaving_a_child_on_its_output_ends_and_the_child_is_stopped() {
    let f = Fixture::new("signals");
    // Released from the start: `slow` exits at once, but its `sleep 300 &` keeps the output
    // pipe open. The run must notice the leader's exit, stop the group and go on.
    std::fs::create_dir_all(f.deploy.join("genfiles")).unwrap();
    std::fs::write(f.deploy.join("genfiles/release"), "").unwrap();
    let run = f.cmd().args(["up", "-j", "1"]).timeout(Duration::from_secs(60)).output().unwrap();
    let run = crate::common::Run(run).expect(0);
    assert_eq!(started(&f), ["slow", "after"], "{}", run.stderr());
    assert!(!alive(&f.read("genfiles/slow.bgpid")), "the straggler must be stopped");
    assert_eq!(f.log("slow", "up"), "released\n");
    assert_eq!(f.status("slow"), "up");
}

/// What a power cut leaves: the journal of a run that had started `parallel_a` and synced that,
/// and `parallel_a`'s record from the run before, as if the newer ones never reached the disk.
#[test]
fn after_a_power_cut_a_stage_the_journal_says_started_reads_unknown_and_runs_again() {
    let f = Fixture::new("diamond");
    f.write("config.jsonnet", "{ region: 'eu-north-1' }\n");
    f.run(&["up"]).expect(0);
    assert!(!f.exists("genfiles/.betterform/state/journal"), "a run that ended removes its journal");
    f.write(
        "genfiles/.betterform/state/journal",
        "betterform journal 1\nrun dead-run\nstate_storage\nparallel_a\nparallel_b\nfinal\n\n.S..",
    );
    // Read-only commands read through the journal; the record file is left as it was.
    let status = f.run(&["status"]).expect(0).stdout();
    let line = |stage: &str| status.lines().find(|l| l.starts_with(stage)).unwrap().to_string();
    assert!(line("parallel_a ").contains(" unknown "), "{status}");
    assert!(
        line("parallel_b ").contains(" up "),
        "a stage the dead run never started keeps its record: {status}"
    );
    assert_eq!(f.status("parallel_a"), "up");
    // The next locked run makes it permanent, removes the journal and runs the stage again.
    let run = f.run(&["up", "-j", "1"]).expect(0);
    assert!(!f.exists("genfiles/.betterform/state/journal"), "{}", run.stderr());
    let again: Vec<String> = f.started("up").into_iter().skip(4).collect();
    assert_eq!(again, ["parallel_a", "final"], "{}", run.stderr());
    assert_eq!(f.status("parallel_a"), "up");
}

/// A process id that is certainly not running: a child that has exited and been reaped.
fn dead_pid() -> u32 {
    let mut child = std::process::Command::new("true").spawn().unwrap();
    child.wait().unwrap();
    child.id()
}

/// Whether `child` has `path` open (it has reached the lock).
fn has_open(child: u32, path: &Path) -> bool {
    let Ok(fds) = std::fs::read_dir(format!("/proc/{child}/fd")) else { return false };
    fds.flatten().any(|fd| std::fs::read_link(fd.path()).is_ok_and(|target| target == path))
}

/// The window between a winner taking the lock and writing its line, made wide: this test
/// holds the lock itself with a file that is empty or names a dead run, and writes its own
/// line only once the losing run has the file open. The loser must name that line.
#[test]
fn a_run_that_loses_the_race_names_the_winner_not_an_unknown_process() {
    use std::io::Write;
    use std::os::unix::fs::FileExt;
    let f = Fixture::new("signals");
    let state = f.deploy.join("genfiles/.betterform");
    std::fs::create_dir_all(&state).unwrap();
    let path = state.join("lock");
    let stale = format!("pid {}, command 'up' (up), started 2020-01-01T00:00:00.000Z\n", dead_pid());
    for before in ["", stale.as_str()] {
        let mut lock = std::fs::File::create(&path).unwrap();
        lock.write_all(before.as_bytes()).unwrap();
        lock.try_lock().expect("nobody else holds the lock");
        let loser = std::process::Command::new(assert_cmd::cargo::cargo_bin("betterform"))
            .current_dir(&f.deploy)
            .env("INTERACTIVE", "false")
            .arg("--impl-dir")
            .arg(&f.impl_dir)
            .arg("up")
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        let deadline = Instant::now() + Duration::from_secs(20);
        while !has_open(loser.id(), &path) && Instant::now() < deadline {
            std::thread::sleep(Duration::from_millis(1));
        }
        // The loser has opened the file; it reads it right after try_lock fails.
        std::thread::sleep(Duration::from_millis(100));
        let line =
            format!("pid {}, command 'up' (up -j 2), started 2026-01-01T00:00:00.000Z", std::process::id());
        lock.write_all_at(format!("{line}\n").as_bytes(), 0).unwrap();
        lock.set_len(line.len() as u64 + 1).unwrap();
        let err = finish(loser).expect(3).stderr();
        assert!(err.contains(&format!("({line})")), "before: {before:?}\n{err}");
        drop(lock);
    }
    assert_eq!(started(&f), Vec::<String>::new(), "the loser ran nothing");
}

/// Pairs of runs started together: exactly one takes the lock, and the other names it (the
/// file still names the previous pair's winner, a dead process, when the race starts).
#[test]
fn of_two_runs_started_together_one_wins_and_the_other_names_it() {
    let f = Fixture::new("signals");
    let genfiles = f.deploy.join("genfiles");
    for pair in 0..10 {
        let _ = std::fs::remove_file(genfiles.join("release"));
        let _ = std::fs::remove_file(genfiles.join("slow.started"));
        let spawn = || {
            std::process::Command::new(assert_cmd::cargo::cargo_bin("betterform"))
                .current_dir(&f.deploy)
                .env("INTERACTIVE", "false")
                .arg("--impl-dir")
                .arg(&f.impl_dir)
                .args(["up", "-B"])
                .stdout(Stdio::piped())
                .stderr(Stdio::piped())
                .spawn()
                .unwrap()
        };
        let mut runs = [spawn(), spawn()];
        let deadline = Instant::now() + Duration::from_secs(20);
        let loser = loop {
            if let Some(i) = (0..2).find(|&i| runs[i].try_wait().unwrap().is_some()) {
                break i;
            }
            assert!(Instant::now() < deadline, "pair {pair}: neither run lost the race");
            std::thread::sleep(Duration::from_millis(5));
        };
        let [a, b] = runs;
        let (loser, winner) = if loser == 0 { (a, b) } else { (b, a) };
        let winner_pid = winner.id();
        let err = finish(loser).expect(3).stderr();
        assert!(err.contains(&format!("(pid {winner_pid}, command 'up' (")), "pair {pair}: {err}");
        wait_for(&genfiles.join("slow.started"));
        std::fs::write(genfiles.join("release"), "").unwrap();
        finish(winner).expect(0);
    }
}

#[test]
fn a_background_child_that_ignores_sigterm_is_killed_when_the_grace_ends() {
    // The leader exits; what it left in its group gets SIGTERM, then SIGKILL after --grace.
    let f = Fixture::new("signals");
    f.write("genfiles/release", "");
    let run = f.cmd().args(["up", "slow", "--grace", "1"]).env("SLOW_BG", "stubborn").output().unwrap();
    crate::common::Run(run).expect(0);
    assert!(!alive(&f.read("genfiles/slow.bgpid")), "a child ignoring SIGTERM must not outlive its stage");
}

#[test]
fn sigterm_of_the_run_covers_background_children_and_returns_only_when_they_are_gone() {
    let f = Fixture::new("signals");
    let started = Instant::now();
    let mut child = std::process::Command::new(assert_cmd::cargo::cargo_bin("betterform"))
        .current_dir(&f.deploy)
        .env("INTERACTIVE", "false")
        .env("SLOW_BG", "stubborn")
        .args(["--impl-dir"])
        .arg(&f.impl_dir)
        .args(["up", "--grace", "2"])
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    wait_for(&f.deploy.join("genfiles/slow.started"));
    let bg = f.read("genfiles/slow.bgpid");
    signal(&child, "-TERM");
    let status = child.wait().unwrap();
    assert_eq!(status.code(), Some(143));
    // The leader obeyed SIGTERM at once; the run still waited for the stubborn child.
    assert!(started.elapsed() >= Duration::from_secs(2), "returned before the grace ended");
    // Checked without the delay `alive` allows: gone by the time the run returned.
    let stat = std::fs::read_to_string(format!("/proc/{}/stat", bg.trim())).unwrap_or_default();
    let state = stat.rsplit(')').next().unwrap_or("").split_whitespace().next().unwrap_or("");
    assert!(
        stat.is_empty() || state == "Z" || state == "X",
        "still running when betterform returned: {stat}"
    );
}

#[test]
fn a_stage_past_its_timeout_is_stopped_and_recorded_failed() {
    let f = Fixture::new("signals");
    let out = f
        .cmd()
        .args(["up", "--stage-timeout", "1s", "--grace", "1"])
        .env("SLOW_MODE", "ignore")
        .env("SLOW_BG", "stubborn")
        .output()
        .unwrap();
    let err = crate::common::Run(out).expect(1).stderr();
    assert!(err.contains("slow") && err.contains("timed out after 1s (--stage-timeout); stopped"), "{err}");
    assert_eq!(f.status("slow"), "failed");
    assert!(!f.started("up").contains(&"after".to_string()), "its dependent never ran");
    assert!(!alive(&f.read("genfiles/slow.bgpid")), "nothing of it survives");
}
