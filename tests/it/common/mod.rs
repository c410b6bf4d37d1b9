//! Test harness: copy a fixture impl dir from `testdata/` into a temp dir, stand in a fresh
//! deployment dir beside it, and run the built binary there with a clean wave environment.

#![allow(dead_code)] // each test binary uses a different part of the harness

pub mod screen;

use std::path::{Path, PathBuf};
use std::process::{Output, Stdio};
use std::time::{Duration, Instant};

use assert_cmd::Command;
use tempfile::TempDir;

pub mod secrets;

/// Variables of the caller's environment that must not leak into a test run.
pub const LEAKY_VARS: [&str; 19] = [
    "IMPL_DIR",
    "COMPLETE",
    "NO_COLOR",
    "CLICOLOR_FORCE",
    "FORCE_COLOR",
    "BETTERFORM_STAGE_TIMEOUT",
    "GENFILES",
    "OUTPUT_DIR",
    "CONFIG_JSONNET_FILE",
    "CONFIG_JSON_FILE",
    "JSONNET_PATH",
    "BETTERFORM_JOBS",
    "BETTERFORM_OUTPUT",
    "BETTERFORM_MAX_STACK",
    "BETTERFORM_LEFT_DELIM",
    "BETTERFORM_RIGHT_DELIM",
    "FAIL_STAGE",
    "STAGE_SLEEP",
    "GITHUB_STEP_SUMMARY",
];

pub struct Fixture {
    _tmp: TempDir,
    /// The copied impl dir.
    pub impl_dir: PathBuf,
    /// The deployment dir the binary runs in.
    pub deploy: PathBuf,
}

fn copy_tree(from: &Path, to: &Path) {
    for entry in walkdir::WalkDir::new(from) {
        let entry = entry.unwrap();
        let rel = entry.path().strip_prefix(from).unwrap();
        let dest = to.join(rel);
        if entry.file_type().is_dir() {
            std::fs::create_dir_all(&dest).unwrap();
        } else if entry.file_type().is_symlink() {
            std::os::unix::fs::symlink(std::fs::read_link(entry.path()).unwrap(), &dest).unwrap();
        } else {
            std::fs::copy(entry.path(), &dest).unwrap();
        }
    }
}

/// `text` as a regex that matches it literally.
fn regex_escape(text: &str) -> String {
    let mut out = String::new();
    for c in text.chars() {
        if "\\.+*?()|[]{}^$#&-~".contains(c) {
            out.push('\\');
        }
        out.push(c);
    }
    out
}

/// [`copy_tree`] without what `.gitignore` files (the tree's own and its parents') ignore;
/// works outside a git checkout too (a release tarball).
pub fn copy_source_tree(from: &Path, to: &Path) {
    let walk = ignore::WalkBuilder::new(from)
        .standard_filters(false)
        .git_ignore(true)
        .parents(true)
        .require_git(false)
        .build();
    for entry in walk {
        let entry = entry.unwrap();
        let rel = entry.path().strip_prefix(from).unwrap();
        let dest = to.join(rel);
        let file_type = entry.file_type().unwrap();
        if file_type.is_dir() {
            std::fs::create_dir_all(&dest).unwrap();
        } else if file_type.is_symlink() {
            std::os::unix::fs::symlink(std::fs::read_link(entry.path()).unwrap(), &dest).unwrap();
        } else {
            std::fs::copy(entry.path(), &dest).unwrap();
        }
    }
}

impl Fixture {
    pub fn new(name: &str) -> Fixture {
        let tmp = TempDir::new().unwrap();
        let impl_dir = tmp.path().join("impl");
        copy_tree(&Path::new(env!("CARGO_MANIFEST_DIR")).join("testdata").join(name), &impl_dir);
        let deploy = tmp.path().join("deploy");
        std::fs::create_dir_all(&deploy).unwrap();
        Fixture { _tmp: tmp, impl_dir, deploy }
    }

    /// A fixture from an impl dir and a deployment dir anywhere (the bundled examples).
    ///
    /// Only the files the repository holds are copied: what git ignores (`genfiles/`,
    /// `output/`, a trace a run left) is what a user's own run of the example wrote, and a
    /// test must never start from it.
    pub fn from_dirs(impl_src: &Path, deploy_src: &Path) -> Fixture {
        let tmp = TempDir::new().unwrap();
        let impl_dir = tmp.path().join("impl");
        let deploy = tmp.path().join("deploy");
        copy_source_tree(impl_src, &impl_dir);
        copy_source_tree(deploy_src, &deploy);
        Fixture { _tmp: tmp, impl_dir, deploy }
    }

    /// A command for the binary in the deployment dir, with `--impl-dir` set and none of the
    /// caller's wave variables leaking in.
    pub fn cmd(&self) -> Command {
        Command::from_std(self.std_cmd())
    }

    /// [`Fixture::cmd`] as a `std` command, for tests that spawn and supervise it themselves.
    pub fn std_cmd(&self) -> std::process::Command {
        let mut cmd = self.std_cmd_without_impl_dir();
        cmd.arg("--impl-dir").arg(&self.impl_dir);
        cmd
    }

    /// [`Fixture::cmd`] without `--impl-dir`: the test names the impl dir its own way.
    pub fn cmd_without_impl_dir(&self) -> Command {
        Command::from_std(self.std_cmd_without_impl_dir())
    }

    fn std_cmd_without_impl_dir(&self) -> std::process::Command {
        let mut cmd = std::process::Command::new(assert_cmd::cargo::cargo_bin("betterform"));
        cmd.current_dir(&self.deploy).env("INTERACTIVE", "false");
        for var in LEAKY_VARS {
            cmd.env_remove(var);
        }
        cmd
    }

    pub fn run(&self, args: &[&str]) -> Run {
        Run(self.cmd().args(args).output().unwrap())
    }

    /// Like [`Fixture::run`], but a run still going after `limit` is killed and the test fails
    /// instead of hanging: for inputs that once made the binary block forever. The output
    /// must fit in the pipes (64 KiB each), as nothing reads them before the exit.
    pub fn run_within(&self, args: &[&str], limit: Duration) -> Run {
        let mut child = self
            .std_cmd()
            .args(args)
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        let deadline = Instant::now() + limit;
        while child.try_wait().unwrap().is_none() {
            if Instant::now() >= deadline {
                child.kill().unwrap();
                child.wait().unwrap();
                panic!("betterform {args:?} was still running after {limit:?}");
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        Run(child.wait_with_output().unwrap())
    }

    /// Regex filters (for `insta`) that make output machine-independent: this fixture's temp
    /// dir becomes `[TMP]`; durations, timestamps and pids become placeholders of the usual
    /// width, so the snapshots still show how columns line up.
    pub fn redactions(&self) -> Vec<(String, String)> {
        let root = self.impl_dir.parent().unwrap();
        let mut filters = Vec::new();
        // The canonical form first: it may be the longer one (macOS: /private/var/...).
        for dir in [root.canonicalize().unwrap(), root.to_path_buf()] {
            filters.push((regex_escape(&dir.display().to_string()), "[TMP]".to_string()));
        }
        for (regex, replacement) in [
            (r"\b\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d+)?Z", "YYYY-MM-DDTHH:MM:SS.mmmZ"),
            (r"\b\d+\.\ds\b", "#.#s"),
            (r"\b\d+m\d\ds\b", "#m##s"),
            (r#"\btime="\d+\.\d+""#, r##"time="#.###""##),
            (r"\bpid \d+", "pid [PID]"),
        ] {
            filters.push((regex.to_string(), replacement.to_string()));
        }
        filters
    }

    pub fn write(&self, rel: &str, text: &str) {
        let path = self.deploy.join(rel);
        std::fs::create_dir_all(path.parent().unwrap()).unwrap();
        std::fs::write(path, text).unwrap();
    }

    pub fn write_impl(&self, rel: &str, text: &str) {
        let path = self.impl_dir.join(rel);
        std::fs::create_dir_all(path.parent().unwrap()).unwrap();
        std::fs::write(path, text).unwrap();
    }

    pub fn read(&self, rel: &str) -> String {
        let path = self.deploy.join(rel);
        std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
    }

    /// A stage's log for `command` without the time stamp each line starts with (asserted).
    pub fn log(&self, stage: &str, command: &str) -> String {
        let text = self.read(&format!("genfiles/.betterform/logs/{stage}/{command}.log"));
        let mut lines = String::new();
        for line in text.split_inclusive('\n') {
            let (stamp, rest) = line.split_at(25);
            assert!(
                stamp.len() == 25 && stamp.ends_with("Z ") && stamp.as_bytes()[10] == b'T',
                "unstamped: {line:?}"
            );
            lines.push_str(rest);
        }
        lines
    }

    pub fn read_impl(&self, rel: &str) -> String {
        let path = self.impl_dir.join(rel);
        std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
    }

    pub fn exists(&self, rel: &str) -> bool {
        self.deploy.join(rel).exists()
    }

    /// Events the diamond fixture's stages appended to `trace.log`: (event, stage, command).
    pub fn trace(&self) -> Vec<(String, String, String)> {
        let Ok(text) = std::fs::read_to_string(self.deploy.join("trace.log")) else {
            return Vec::new();
        };
        text.lines()
            .map(|l| {
                let f: Vec<&str> = l.split_whitespace().collect();
                (f[0].to_string(), f[1].to_string(), f[2].to_string())
            })
            .collect()
    }

    /// Stages in the order their `command` started.
    pub fn started(&self, command: &str) -> Vec<String> {
        self.trace()
            .into_iter()
            .filter(|(ev, _, cmd)| ev == "start" && cmd == command)
            .map(|(_, stage, _)| stage)
            .collect()
    }

    pub fn status(&self, stage: &str) -> String {
        let text = self.read(&format!("genfiles/.betterform/state/{stage}.json"));
        let v: serde_json::Value = serde_json::from_str(&text).unwrap();
        v["status"].as_str().unwrap().to_string()
    }
}

/// Drives a program on a pseudo-terminal (python3's pty module): for each step, wait until
/// the output contains the text, then type the answer. Then read until the program ends.
const PTY_DRIVER: &str = r#"
import json, os, pty, select, sys, time
steps = json.loads(sys.stdin.read())
pid, fd = pty.fork()
if pid == 0:
    # PTY_STDERR: the program's stderr goes to that file instead of the terminal.
    if os.environ.get("PTY_STDERR"):
        os.dup2(os.open(os.environ["PTY_STDERR"], os.O_WRONLY | os.O_CREAT | os.O_TRUNC), 2)
    # PTY_COLS: the terminal's width (a fresh pty has none).
    if os.environ.get("PTY_COLS"):
        import fcntl, struct, termios
        fcntl.ioctl(0, termios.TIOCSWINSZ, struct.pack("HHHH", 40, int(os.environ["PTY_COLS"]), 0, 0))
    os.execv(sys.argv[1], sys.argv[1:])
out = b""
def read(timeout):
    global out
    r, _, _ = select.select([fd], [], [], timeout)
    if not r:
        return False
    try:
        chunk = os.read(fd, 4096)
    except OSError:
        return None
    out += chunk
    return bool(chunk) or None
seen = {}
for wait_for, send in steps:
    # The n-th step waiting for a text waits for its n-th occurrence.
    seen[wait_for] = seen.get(wait_for, 0) + 1
    deadline = time.time() + 20
    while out.count(wait_for.encode()) < seen[wait_for] and time.time() < deadline:
        if read(0.2) is None:
            break
    os.write(fd, send.encode())
while read(20):
    pass
_, status = os.waitpid(pid, 0)
# PTY_REPORT_ECHO: say whether the terminal echoes typed keys after the program ended.
if os.environ.get("PTY_REPORT_ECHO"):
    import termios
    echo = "on" if termios.tcgetattr(fd)[3] & termios.ECHO else "off"
    out += f"\n[pty echo: {echo}]\n".encode()
sys.stdout.write(out.decode(errors="replace"))
sys.exit(os.waitstatus_to_exitcode(status))
"#;

impl Fixture {
    /// Runs betterform (interactive) on a terminal, answering prompts; (exit code, output).
    pub fn on_terminal(&self, args: &[&str], steps: &[(&str, &str)]) -> (i32, String) {
        self.on_terminal_with_env(args, steps, &[])
    }

    /// [`Fixture::on_terminal`] with extra environment variables.
    pub fn on_terminal_with_env(
        &self,
        args: &[&str],
        steps: &[(&str, &str)],
        env: &[(&str, &str)],
    ) -> (i32, String) {
        let steps = serde_json::to_string(steps).unwrap();
        let mut cmd = std::process::Command::new("python3");
        for var in LEAKY_VARS {
            cmd.env_remove(var);
        }
        let out = cmd
            .args(["-c", PTY_DRIVER])
            .arg(assert_cmd::cargo::cargo_bin("betterform"))
            .arg("--impl-dir")
            .arg(&self.impl_dir)
            .args(args)
            .current_dir(&self.deploy)
            .env("INTERACTIVE", "true")
            // Plain text to search in: colour on a terminal is checked on its own.
            .env("NO_COLOR", "1")
            .envs(env.iter().copied())
            .stdin(std::process::Stdio::piped())
            .stdout(std::process::Stdio::piped())
            .spawn()
            .and_then(|mut child| {
                use std::io::Write;
                child.stdin.take().unwrap().write_all(steps.as_bytes())?;
                child.wait_with_output()
            })
            .unwrap();
        (out.status.code().unwrap(), String::from_utf8_lossy(&out.stdout).into_owned())
    }
}

/// The diamond fixture (`state_storage` → `parallel_a`, `parallel_b` → `final`) with the
/// config its templates need.
pub fn diamond() -> Fixture {
    let f = Fixture::new("diamond");
    f.write("config.jsonnet", "{ region: 'eu-north-1' }\n");
    f
}

pub struct Run(pub Output);

impl Run {
    pub fn code(&self) -> i32 {
        self.0.status.code().expect("exited normally")
    }
    pub fn stderr(&self) -> String {
        String::from_utf8_lossy(&self.0.stderr).into_owned()
    }
    pub fn stdout(&self) -> String {
        String::from_utf8_lossy(&self.0.stdout).into_owned()
    }
    /// Asserts the exit code, showing the output when it is wrong.
    pub fn expect(self, code: i32) -> Run {
        assert_eq!(self.code(), code, "stdout:\n{}\nstderr:\n{}", self.stdout(), self.stderr());
        self
    }
}

/// Runs shellcheck (as bash) over `files`, but for the checks `exclude`d; fails naming every
/// finding, or how to install it.
pub fn shellcheck(files: &[std::path::PathBuf], exclude: &[&str]) {
    let out = std::process::Command::new("shellcheck")
        .args(["--shell", "bash", "--format", "gcc"])
        .args(exclude.iter().flat_map(|code| ["--exclude", code]))
        .args(files)
        .output()
        .unwrap_or_else(|e| {
            panic!("shellcheck: {e}: run `bash tests/tools.sh` (or apt-get install shellcheck)")
        });
    assert!(out.status.success(), "shellcheck:\n{}", String::from_utf8_lossy(&out.stdout));
}
