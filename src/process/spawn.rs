//! Running one `ctl` command: its own process group, stdout and stderr merged into one pipe,
//! every line captured to the stage's log file and handed to the caller as it arrives.

use std::ffi::OsString;
use std::fs::File;
use std::io::{BufRead, BufReader, PipeReader, Write};
use std::os::unix::process::{CommandExt, ExitStatusExt};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::mpsc;
use std::time::Duration;

use nix::sys::signal::{Signal, killpg};
use nix::unistd::Pid;

use super::groups::{Groups, Interrupted};

/// How a command ended.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Exit {
    Code(i32),
    Signal(i32),
}

impl Exit {
    pub(crate) fn success(&self) -> bool {
        *self == Exit::Code(0)
    }

    pub(crate) fn describe(&self) -> String {
        match self {
            Exit::Code(c) => format!("exit status {c}"),
            Exit::Signal(s) => {
                let name = Signal::try_from(*s).map(|s| s.as_str()).unwrap_or("unknown signal");
                format!("killed by signal {s} ({name})")
            }
        }
    }

    pub(crate) fn code(&self) -> Option<i32> {
        match self {
            Exit::Code(c) => Some(*c),
            Exit::Signal(_) => None,
        }
    }
}

pub(crate) struct Job<'a> {
    pub(crate) program: PathBuf,
    pub(crate) args: Vec<OsString>,
    pub(crate) cwd: &'a Path,
    pub(crate) env: Vec<(&'static str, OsString)>,
    pub(crate) log: &'a Path,
    /// Give the child the terminal's stdin (interactive `-j 1` runs); else `/dev/null`.
    pub(crate) inherit_stdin: bool,
}

/// How long to keep reading output after the command exited and its group was told to stop:
/// a process that left the group but kept our pipe open must not hang the run.
const DRAIN_GRACE: Duration = Duration::from_secs(2);

enum Msg {
    Line(Vec<u8>),
    Eof,
    Exited(std::io::Result<std::process::ExitStatus>),
}

/// Runs the job to completion, calling `on_line` for every output line (without its newline).
pub(crate) fn run(
    job: &Job<'_>,
    groups: &Groups,
    mut on_line: impl FnMut(&str),
) -> Result<std::io::Result<Exit>, Interrupted> {
    groups
        .spawn_guarded(|| {
            let (child, reader, log) = spawn(job)?;
            let pgid = i32::try_from(child.id()).expect("pids fit in i32");
            Ok(((child, reader, log), pgid))
        })
        .map(|spawned| {
            let (child, reader, log) = spawned?;
            let pgid = i32::try_from(child.id()).expect("pids fit in i32");
            let result = supervise(child, reader, log, &mut on_line);
            groups.finished(pgid);
            result
        })
}

fn spawn(job: &Job<'_>) -> std::io::Result<(Child, PipeReader, File)> {
    if let Some(dir) = job.log.parent() {
        std::fs::create_dir_all(dir)?;
    }
    let log = File::create(job.log)?;
    let (reader, writer) = std::io::pipe()?;
    let mut command = Command::new(&job.program);
    command
        .args(&job.args)
        .current_dir(job.cwd)
        .envs(job.env.iter().map(|(k, v)| (k, v)))
        .stdin(if job.inherit_stdin { Stdio::inherit() } else { Stdio::null() })
        .stdout(writer.try_clone()?)
        .stderr(writer)
        // Its own process group: signals can be forwarded to the stage and everything it
        // started, and terminal Ctrl-C reaches only betterform, which decides what to do.
        .process_group(0);
    let child = command.spawn()?;
    // Our copies of the pipe's write end live in `command`; drop it so EOF can arrive.
    drop(command);
    Ok((child, reader, log))
}

fn supervise(
    mut child: Child,
    reader: PipeReader,
    mut log: File,
    on_line: &mut impl FnMut(&str),
) -> std::io::Result<Exit> {
    let pgid = Pid::from_raw(i32::try_from(child.id()).expect("pids fit in i32"));

    // Output is read on one thread and the leader is waited for on another, so that we
    // notice the leader's exit even when a straggler keeps the pipe open.
    let (tx, rx) = mpsc::channel::<Msg>();
    let lines = tx.clone();
    std::thread::spawn(move || {
        let mut reader = BufReader::new(reader);
        loop {
            let mut line = Vec::new();
            match reader.read_until(b'\n', &mut line) {
                Ok(0) | Err(_) => break,
                Ok(_) => {
                    if lines.send(Msg::Line(line)).is_err() {
                        return;
                    }
                }
            }
        }
        let _ = lines.send(Msg::Eof);
    });
    std::thread::spawn(move || {
        let _ = tx.send(Msg::Exited(child.wait()));
    });

    let mut status = None;
    let mut eof = false;
    while !(eof && status.is_some()) {
        let msg = if status.is_some() { rx.recv_timeout(DRAIN_GRACE).ok() } else { rx.recv().ok() };
        match msg {
            Some(Msg::Line(line)) => {
                log.write_all(&line)?;
                let text = String::from_utf8_lossy(&line);
                on_line(text.trim_end_matches(['\n', '\r']));
            }
            Some(Msg::Eof) => eof = true,
            Some(Msg::Exited(result)) => {
                status = Some(result?);
                // The leader is gone; anything it left running in its group is a straggler.
                let _ = killpg(pgid, Signal::SIGTERM);
            }
            // Drain grace expired (or the threads are gone): stop reading.
            None => break,
        }
    }
    let status = status.expect("loop ends only after the leader exited");
    log.flush()?;
    Ok(match (status.code(), status.signal()) {
        (Some(code), _) => Exit::Code(code),
        (None, Some(sig)) => Exit::Signal(sig),
        (None, None) => Exit::Code(-1),
    })
}
