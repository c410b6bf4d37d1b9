//! Unhappy paths that once gave a wrong exit code, a hang or a misleading message: each test
//! pins the exit code and the words an operator reads.

use std::os::unix::fs::PermissionsExt;
use std::time::Duration;

use crate::common::{Fixture, diamond};

/// Runs betterform with a time limit: a regression to a hang fails instead of hanging.
fn run_bounded(f: &Fixture, args: &[&str]) -> (i32, String) {
    let run = f.run_within(args, Duration::from_secs(20));
    (run.code(), run.stderr())
}

fn mkfifo(path: &std::path::Path) {
    nix::unistd::mkfifo(path, nix::sys::stat::Mode::from_bits_truncate(0o644)).unwrap();
}

#[test]
fn a_fifo_as_config_jsonnet_is_refused_at_once() {
    let f = Fixture::new("diamond");
    mkfifo(&f.deploy.join("config.jsonnet"));
    for command in ["validate", "up", "config"] {
        let (code, err) = run_bounded(&f, &[command]);
        assert_eq!(code, 2, "{command}: {err}");
        assert!(err.contains("config.jsonnet: it is a FIFO, not a regular file"), "{command}: {err}");
    }
    assert!(!f.exists("genfiles/state_storage"), "nothing was stamped");
}

#[test]
fn a_config_that_cannot_be_read_is_named_in_plain_words() {
    let f = Fixture::new("diamond");
    std::fs::create_dir(f.deploy.join("config.jsonnet")).unwrap();
    let run = f.run(&["validate"]).expect(2);
    let err = run.stderr();
    assert!(err.contains("cannot read") && err.contains("config.jsonnet: it is a directory"), "{err}");
    assert!(!err.contains("SourceFile"), "no engine debug text: {err}");
    // A dangling symlink is there and unreadable, not absent (absent would mean "no config").
    std::fs::remove_dir(f.deploy.join("config.jsonnet")).unwrap();
    std::os::unix::fs::symlink("/nonexistent/config.jsonnet", f.deploy.join("config.jsonnet")).unwrap();
    let err = f.run(&["up"]).expect(2).stderr();
    assert!(err.contains("config.jsonnet: No such file or directory"), "{err}");
}

#[test]
fn a_config_that_is_not_an_object_is_bad_input() {
    let f = Fixture::new("diamond");
    f.write("config.jsonnet", "[1, 2]");
    let err = f.run(&["validate"]).expect(2).stderr();
    assert!(
        err.contains("config.jsonnet: the config must be an object (templates read it as cfg.<key>), but it is an array"),
        "{err}"
    );
    f.run(&["up"]).expect(2);
    assert!(!f.exists("genfiles/state_storage"), "nothing ran");
    // A hand-written CONFIG_JSON_FILE is held to the same rule.
    std::fs::remove_file(f.deploy.join("config.jsonnet")).unwrap();
    f.write("genfiles/config.json", "\"eu-north-1\"\n");
    let err = f.run(&["validate"]).expect(2).stderr();
    assert!(err.contains("config.json: the config must be an object"), "{err}");
    assert!(err.contains("but it is a string"), "{err}");
}

#[test]
fn a_stage_with_both_ctl_and_step_json_is_refused() {
    let f = diamond();
    f.write_impl("parallel_a/step.json", "{}");
    let err = f.run(&["validate"]).expect(2).stderr();
    assert!(err.contains("betterform_dag.mk:3:"), "{err}");
    assert!(
        err.contains("stage 'parallel_a': ")
            && err.contains("holds both an executable 'ctl' and a 'step.json'"),
        "{err}"
    );
}

#[test]
fn a_fifo_in_a_template_dir_is_an_error_not_left_out() {
    let f = diamond();
    mkfifo(&f.impl_dir.join("parallel_a/pipe"));
    let (code, err) = run_bounded(&f, &["validate"]);
    assert_eq!(code, 2, "{err}");
    assert!(
        err.contains(
            "parallel_a/pipe: a FIFO cannot be stamped; a stage template dir holds only files, dirs and symlinks"
        ),
        "{err}"
    );
    let (code, _) = run_bounded(&f, &["up"]);
    assert_eq!(code, 2);
    assert!(!f.exists("trace.log"), "no stage ran");
}

fn with_ctl(f: &Fixture, stage: &str, text: &str) {
    let path = f.impl_dir.join(stage).join("ctl");
    std::fs::write(&path, text).unwrap();
    std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o755)).unwrap();
}

#[test]
fn a_missing_interpreter_is_named_with_its_line() {
    let f = diamond();
    with_ctl(&f, "state_storage", "#!/nonexistent/bash -eu\necho hi\n");
    let err = f.run(&["up"]).expect(1).stderr();
    assert!(
        err.contains(
            "its interpreter '/nonexistent/bash' (line 1: '#!/nonexistent/bash -eu') does not exist"
        ),
        "{err}"
    );
    assert!(err.contains("genfiles/state_storage/ctl"), "names the ctl: {err}");
}

#[test]
fn a_ctl_without_a_shebang_says_what_is_missing() {
    let f = diamond();
    with_ctl(&f, "state_storage", "echo no interpreter line\n");
    let err = f.run(&["up"]).expect(1).stderr();
    assert!(err.contains("it has no '#!' line and is not a program this system can run"), "{err}");
    assert!(!err.contains("Exec format error"), "{err}");
}

#[test]
fn a_log_that_cannot_be_written_is_not_reported_as_a_ctl_that_did_not_run() {
    let f = diamond();
    f.run(&["up", "state_storage"]).expect(0);
    // Every write to /dev/full fails with ENOSPC, as a full disk does.
    let log = f.deploy.join("genfiles/.betterform/logs/state_storage/up.log");
    std::fs::remove_file(&log).unwrap();
    std::os::unix::fs::symlink("/dev/full", &log).unwrap();
    let err = f.run(&["up", "-B", "state_storage"]).expect(1).stderr();
    assert!(err.contains("ctl up ran (exit status 0), but its log"), "{err}");
    assert!(err.contains("could not be written: No space left on device"), "{err}");
    assert!(!err.contains("cannot run"), "{err}");
    assert_eq!(f.status("state_storage"), "failed", "its output is lost: run it again next time");
}

#[test]
fn bookkeeping_failures_exit_4_not_1() {
    let f = diamond();
    f.run(&["up", "state_storage"]).expect(0);

    // A report file that cannot be written, after a run that succeeded.
    let err = f.run(&["up", "--report", "config.jsonnet/report.json"]).expect(4).stderr();
    assert!(err.contains("cannot write config.jsonnet/report.json"), "{err}");

    // Corrupt state in `status`: tests/status.rs.

    // A lock file that cannot be opened: nothing ran.
    let lock = f.deploy.join("genfiles/.betterform/lock");
    std::fs::remove_file(&lock).unwrap();
    std::fs::create_dir(&lock).unwrap();
    let err = f.run(&["up"]).expect(4).stderr();
    assert!(err.contains("cannot open lock file"), "{err}");
    std::fs::remove_dir(&lock).unwrap();

    // A journal that cannot be read.
    std::fs::create_dir(f.deploy.join("genfiles/.betterform/state/journal")).unwrap();
    let trace = f.read("trace.log");
    let err = f.run(&["up", "-B"]).expect(4).stderr();
    assert!(err.contains("state/journal"), "{err}");
    assert_eq!(f.read("trace.log"), trace, "nothing ran");
}

#[test]
fn an_option_the_command_would_ignore_is_refused() {
    let f = diamond();
    let err = f.run(&["up", "--json"]).expect(2).stderr();
    assert_eq!(err, "error: --json does not apply to `up` (it is for plan, status, validate)\n");
    assert!(!f.exists("genfiles"), "nothing ran");
    let err = f.run(&["status", "--report", "x.json"]).expect(2).stderr();
    assert_eq!(err, "error: --report does not apply to `status` (it is for up, down, run)\n");
    let err = f.run(&["config", "-k", "-B", "--only"]).expect(2).stderr();
    assert!(err.starts_with("error: --keep-going does not apply to `config`"), "{err}");
    // Before the command counts the same; what applies is accepted either side.
    f.run(&["--json", "graph"]).expect(2);
    f.run(&["--json", "status"]).expect(0);
    // (Accepted: `final` alone would fail, its upstream outputs missing, which plan says with 6.)
    f.run(&["plan", "-B", "--only", "final"]).expect(6);
    // The environment sets options for every command: not an error.
    f.cmd().arg("status").env("BETTERFORM_JOBS", "3").assert().code(0);
    // Only the commands named on the command line get their hidden options for a parse: one
    // named only as another's argument still parses and shows its help as itself.
    let help = f.run(&["up", "--help"]).expect(0).stdout();
    assert!(help.contains("--keep-going") && !help.contains("--json"), "{help}");
    assert_eq!(f.run(&["help", "up"]).expect(0).stdout(), help);
    let err = f.run(&["-C", "status", "up", "--json"]).expect(2).stderr();
    assert!(err.starts_with("error: --json does not apply to `up`"), "{err}");
}
