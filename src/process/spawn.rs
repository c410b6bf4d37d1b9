//! Running one `ctl` command: its own process group, stdout and stderr merged into one pipe,
//! every line captured to the stage's log file (time-stamped, see `logfile`) and handed to the
//! caller as it arrives.

use std::ffi::OsString;
use std::fs::File;
use std::io::Read;
use std::os::fd::AsFd;
use std::os::fd::OwnedFd;
use std::os::unix::process::{CommandExt, ExitStatusExt};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::time::{Duration, Instant};

use nix::errno::Errno;
use nix::poll::{PollFd, PollFlags, PollTimeout, poll};
use nix::sys::signal::{Signal, killpg};
use nix::sys::wait::{WaitPidFlag, WaitStatus, waitpid};
use nix::unistd::Pid;

use super::groups::{Groups, Interrupted};
use super::keyboard::Keyboard;
use super::terminal;

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

/// Why a job has no exit status to report on its own.
#[derive(Debug, thiserror::Error)]
pub(crate) enum Failure {
    /// It never started: its log could not be opened, or the system could not execute it.
    #[error("cannot run {}: {reason}", .program.display())]
    Start { program: PathBuf, reason: String, kind: std::io::ErrorKind },
    /// It ran to the end, but what it printed could not all be written to its log.
    #[error("it ran ({}), but its log {} could not be written: {source}", .exit.describe(), .log.display())]
    Log { exit: Exit, log: PathBuf, source: std::io::Error },
    /// It ran past its time limit and was stopped (SIGTERM, then SIGKILL after the grace).
    #[error("timed out after {} ({}); stopped", humantime::format_duration(.limit.after), .limit.set_by)]
    TimedOut { limit: TimeLimit },
    /// Waiting for it or reading its output failed.
    #[error("lost track of {}: {source}", .program.display())]
    Supervise { program: PathBuf, source: std::io::Error },
}

impl Failure {
    fn start(program: &Path, e: &std::io::Error) -> Failure {
        Failure::Start { program: program.to_path_buf(), reason: why_not_started(program, e), kind: e.kind() }
    }
}

/// Says why `exec` of `program` failed in terms of the file itself: the kernel's ENOENT for
/// a script whose `#!` interpreter is missing names neither the interpreter nor the line,
/// and ENOEXEC ("Exec format error") does not say that a `#!` line is what is missing.
fn why_not_started(program: &Path, e: &std::io::Error) -> String {
    let first_line = || {
        let mut head = [0u8; 256];
        let n = File::open(program).and_then(|mut f| f.read(&mut head)).unwrap_or(0);
        let head = &head[..n];
        let end = head.iter().position(|&b| b == b'\n').unwrap_or(head.len());
        String::from_utf8_lossy(&head[..end]).into_owned()
    };
    match e.raw_os_error().map(Errno::from_raw) {
        Some(Errno::ENOENT) if program.is_file() => match first_line().strip_prefix("#!") {
            Some(rest) => {
                let interpreter = rest.split_whitespace().next().unwrap_or("");
                format!("its interpreter '{interpreter}' (line 1: '#!{}') does not exist", rest.trim_end())
            }
            None => e.to_string(),
        },
        Some(Errno::ENOEXEC) => "it has no '#!' line and is not a program this system can run; \
            start it with an interpreter line such as '#!/usr/bin/env bash'"
            .to_string(),
        Some(Errno::EACCES) if first_line().starts_with("#!") => {
            format!("permission denied (check that the interpreter in '{}' is executable)", first_line())
        }
        _ => e.to_string(),
    }
}

/// How long a command may run before it is stopped as timed out, and what set that limit
/// (`--stage-timeout`, a stage's own file), for the message that says so.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct TimeLimit {
    pub(crate) after: Duration,
    pub(crate) set_by: String,
}

pub(crate) struct Job<'a> {
    pub(crate) program: PathBuf,
    pub(crate) args: Vec<OsString>,
    pub(crate) cwd: &'a Path,
    pub(crate) env: Vec<(&'static str, OsString)>,
    pub(crate) log: &'a Path,
    /// Give the child the terminal's stdin (interactive `-j 1` runs); else `/dev/null`.
    pub(crate) inherit_stdin: bool,
    /// A pseudo-terminal of its own, its prompts answered through the run's keyboard (an
    /// interactive parallel run): the keyboard and the stage's id.
    pub(crate) keyboard: Option<(&'a Keyboard, usize)>,
    /// A line longer than this is handed over in pieces rather than buffered without bound.
    pub(crate) max_line: usize,
    /// Add to the log rather than start it afresh (betterform wrote to it already).
    pub(crate) append_log: bool,
    /// Stop it past this (SIGTERM, then SIGKILL after the run's grace).
    pub(crate) time_limit: Option<TimeLimit>,
}

/// A partial line (no newline yet) is shown after this much silence.
const PARTIAL_LINE_AFTER: Duration = Duration::from_millis(200);

/// The usual [`Job::max_line`]: plenty for any human-readable line.
pub(crate) const MAX_LINE: usize = 64 * 1024;

/// Cuts a byte stream into lines (without their `\n`/`\r\n`), lossily decoded. Each piece
/// comes with whether it ended a line (a partial line shown early does not).
struct LineSplitter {
    pending: Vec<u8>,
    max_line: usize,
}

impl LineSplitter {
    fn new(max_line: usize) -> Self {
        LineSplitter { pending: Vec::new(), max_line }
    }

    fn push(&mut self, data: &[u8], on_line: &mut impl FnMut(&str, bool)) {
        self.pending.extend_from_slice(data);
        let mut start = 0;
        while let Some(i) = self.pending[start..].iter().position(|&b| b == b'\n') {
            emit(&self.pending[start..start + i], true, on_line);
            start += i + 1;
        }
        self.pending.drain(..start);
        if self.pending.len() >= self.max_line {
            self.flush(false, on_line);
        }
    }

    fn has_pending(&self) -> bool {
        !self.pending.is_empty()
    }

    /// Hands over what is pending: `complete` at the end of the output, else a partial line.
    fn flush(&mut self, complete: bool, on_line: &mut impl FnMut(&str, bool)) {
        if !self.pending.is_empty() {
            emit(&self.pending, complete, on_line);
            self.pending.clear();
        }
    }
}

fn emit(line: &[u8], complete: bool, on_line: &mut impl FnMut(&str, bool)) {
    let text = String::from_utf8_lossy(line);
    on_line(text.trim_end_matches('\r'), complete);
}

/// How long to keep reading output after the command exited and its group was told to stop:
/// a process that left the group but kept our pipe open must not hang the run.
const DRAIN_GRACE: Duration = Duration::from_secs(2);

/// Runs the job to completion, calling `on_line` for every output line (without its newline)
/// and whether the line is complete (a partial line is shown early when output pauses, or
/// when it grows past `max_line`; the rest follows as another piece).
/// What `on_line` returns is what the log records for that line (`None`: nothing), so the
/// caller decides what reaches the log (masked secrets, interpreted service messages).
pub(crate) fn run(
    job: &Job<'_>,
    groups: &Groups,
    mut on_line: impl FnMut(&str, bool) -> Option<String>,
) -> Result<Result<Exit, Failure>, Interrupted> {
    groups
        .spawn_guarded(|| {
            let (child, reader, log) = spawn(job)?;
            let pgid = i32::try_from(child.id()).expect("pids fit in i32");
            Ok(((child, reader, log), pgid))
        })
        .map(|spawned| {
            let (child, reader, log) = spawned?;
            let pgid = i32::try_from(child.id()).expect("pids fit in i32");
            // The terminal's input side, for the keyboard to write the operator's answers to.
            let prompts = match (job.keyboard, reader.try_clone()) {
                (Some((keyboard, stage)), Ok(input)) => Some((keyboard, stage, Arc::new(input))),
                _ => None,
            };
            let limit = job.time_limit.as_ref().map(|limit| (limit.after, groups.grace()));
            let result = supervise(child, reader, log, job.max_line, prompts.as_ref(), limit, &mut on_line)
                .map_err(|source| Failure::Supervise { program: job.program.clone(), source })
                .and_then(|(exit, log_error, timed_out)| match (log_error, timed_out, &job.time_limit) {
                    (_, Some(_), Some(limit)) => Err(Failure::TimedOut { limit: limit.clone() }),
                    (None, _, _) => Ok(exit),
                    (Some(source), _, _) => Err(Failure::Log { exit, log: job.log.to_path_buf(), source }),
                });
            if job.inherit_stdin {
                terminal::take_back();
            }
            if let Some((keyboard, stage, _)) = &prompts {
                keyboard.withdraw(*stage);
            }
            // Registered until empty: a run-level signal or grace still reaches what is left.
            stop_group(Pid::from_raw(pgid), groups.grace());
            groups.finished(pgid);
            result
        })
}

/// After the leader exits, how long to wait for a group that SIGKILL did not empty (a process
/// stuck in the kernel) before giving up on it rather than hanging the run.
const AFTER_KILL: Duration = Duration::from_secs(10);

/// Stops what a stage left in its process group once its leader exited (it was sent SIGTERM
/// then): waits up to `grace` for the group to empty, then SIGKILLs it, and returns only when
/// it is gone. betterform is a child subreaper (see [`become_subreaper`]), so a straggler
/// whose parent died is our child and is reaped here, not left a zombie that still counts as
/// a member of the group.
fn stop_group(pgid: Pid, grace: Duration) {
    let started = Instant::now();
    let mut killed = false;
    loop {
        // Reap the group's members that reparented to us.
        while let Ok(status) = waitpid(Pid::from_raw(-pgid.as_raw()), Some(WaitPidFlag::WNOHANG)) {
            if status == WaitStatus::StillAlive {
                break;
            }
        }
        if killpg(pgid, None) == Err(Errno::ESRCH) {
            return;
        }
        let waited = started.elapsed();
        if !killed && waited >= grace {
            let _ = killpg(pgid, Signal::SIGKILL);
            killed = true;
        }
        if waited >= grace + AFTER_KILL {
            return;
        }
        std::thread::sleep(Duration::from_millis(10));
    }
}

/// Makes this process the reaper of orphaned descendants (Linux `PR_SET_CHILD_SUBREAPER`):
/// a stage's background child whose parent exited becomes our child, so it can be waited for
/// and reaped. Elsewhere, or if refused, orphans go to init as before.
pub(crate) fn become_subreaper() {
    #[cfg(target_os = "linux")]
    {
        let _ = nix::sys::prctl::set_child_subreaper(true);
    }
}

/// The output side given to the child, and what betterform reads: a pipe, or a
/// pseudo-terminal for a stage that may prompt in a parallel interactive run.
fn output_channel(job: &Job<'_>) -> std::io::Result<(File, OwnedFd)> {
    if job.keyboard.is_none() {
        let (reader, writer) = std::io::pipe()?;
        return Ok((File::from(OwnedFd::from(reader)), OwnedFd::from(writer)));
    }
    // The operator's window size, so the stage lays out its output as on the real terminal.
    let mut size = nix::libc::winsize { ws_row: 0, ws_col: 0, ws_xpixel: 0, ws_ypixel: 0 };
    // SAFETY: TIOCGWINSZ fills a winsize; on failure it stays zeroed (the pty's default).
    unsafe { nix::libc::ioctl(0, nix::libc::TIOCGWINSZ, &mut size) };
    let pty = nix::pty::openpty(Some(&size), None).map_err(std::io::Error::from)?;
    Ok((File::from(pty.master), pty.slave))
}

fn spawn(job: &Job<'_>) -> Result<(Child, File, File), Failure> {
    let log_failure = |e: std::io::Error| Failure::Start {
        program: job.program.clone(),
        reason: format!("cannot write its log {}: {e}", job.log.display()),
        kind: e.kind(),
    };
    if let Some(dir) = job.log.parent() {
        std::fs::create_dir_all(dir).map_err(log_failure)?;
    }
    let log = if job.append_log {
        std::fs::OpenOptions::new().create(true).append(true).open(job.log)
    } else {
        // The last run's log is kept beside the new one.
        crate::logfile::create(job.log)
    }
    .map_err(log_failure)?;
    let start_failure = |e: std::io::Error| Failure::start(&job.program, &e);
    let (reader, writer) = output_channel(job).map_err(start_failure)?;
    let writer = File::from(writer);
    let stdin = match (job.inherit_stdin, job.keyboard.is_some()) {
        (true, _) => Stdio::inherit(),
        // Its own terminal: it reads the answers the keyboard writes to the other side.
        (false, true) => Stdio::from(writer.try_clone().map_err(start_failure)?),
        (false, false) => Stdio::null(),
    };
    let mut command = Command::new(&job.program);
    command
        .args(&job.args)
        .current_dir(job.cwd)
        .envs(job.env.iter().map(|(k, v)| (k, v)))
        .stdin(stdin)
        .stdout(writer.try_clone().map_err(start_failure)?)
        .stderr(writer);
    if job.keyboard.is_some() {
        // A session of its own with the pseudo-terminal as its controlling terminal (so
        // `/dev/tty` is it too); the session's group is the stage's group, as below.
        // SAFETY: setsid and ioctl are async-signal-safe.
        unsafe {
            command.pre_exec(|| {
                nix::unistd::setsid()?;
                if nix::libc::ioctl(0, nix::libc::TIOCSCTTY as _, 0) != 0 {
                    return Err(std::io::Error::last_os_error());
                }
                Ok(())
            });
        }
    } else {
        // Its own process group: signals can be forwarded to the stage and everything it
        // started, and terminal Ctrl-C reaches only betterform, which decides what to do.
        command.process_group(0);
    }
    if job.inherit_stdin {
        // SAFETY: the closure only makes async-signal-safe system calls.
        unsafe {
            command.pre_exec(terminal::take_foreground_in_child);
        }
    }
    let child = command.spawn().map_err(start_failure)?;
    // Our copies of the pipe's write end live in `command`; drop it so EOF can arrive.
    drop(command);
    Ok((child, reader, log))
}

/// A job's log being written: the first error is kept (and nothing more written) for the
/// end, as the job must still be supervised to its end.
struct Log {
    file: crate::logfile::Stamped<std::io::BufWriter<File>>,
    error: Option<std::io::Error>,
}

impl Log {
    fn write(&mut self, text: &str, complete: bool) {
        if self.error.is_none() {
            self.error = self.file.piece(text, complete).err();
        }
    }

    fn flush(&mut self) {
        if self.error.is_none() {
            self.error = self.file.flush().err();
        }
    }
}

/// Reads the output and waits for the leader on the calling thread: `poll` on the pipe, with
/// a timeout so a pending partial line is shown and the leader is checked on while a
/// straggler keeps the pipe open. No thread per stage, so a stage costs one `vfork`+`exec`.
///
/// Returns the exit and the first error writing the log: the command is still waited for
/// when its log cannot be written (it must not be left running), and it did run.
fn supervise(
    mut child: Child,
    mut reader: File,
    log: File,
    max_line: usize,
    prompts: Option<&(&Keyboard, usize, Arc<File>)>,
    limit: Option<(Duration, Duration)>,
    on_line: &mut impl FnMut(&str, bool) -> Option<String>,
) -> std::io::Result<(Exit, Option<std::io::Error>, Option<Duration>)> {
    let started = Instant::now();
    // Set when the stage ran past its time limit and was sent SIGTERM.
    let mut timed_out: Option<Instant> = None;
    let mut killed = false;
    let pgid = Pid::from_raw(i32::try_from(child.id()).expect("pids fit in i32"));
    let mut log = Log { file: crate::logfile::Stamped::new(std::io::BufWriter::new(log)), error: None };
    // The log gets each line as `on_line` wants it recorded, stamped with the time it came; a
    // partial line shown early is continued, not broken, when the rest arrives.
    let mut handle = |log: &mut Log, text: &str, complete: bool| {
        if let Some(logged) = on_line(text, complete) {
            log.write(&logged, complete);
        }
    };
    let mut lines = LineSplitter::new(max_line);
    let mut buf = vec![0u8; 16 * 1024];
    let mut status = None;
    // Set when the leader has exited: read what is left until then, no longer.
    let mut drain_until: Option<Instant> = None;
    loop {
        let wait = drain_until.map_or(PARTIAL_LINE_AFTER, |t| t.saturating_duration_since(Instant::now()));
        let timeout = PollTimeout::try_from(wait).unwrap_or(PollTimeout::MAX);
        let readable = match poll(&mut [PollFd::new(reader.as_fd(), PollFlags::POLLIN)], timeout) {
            Ok(n) => n > 0,
            Err(Errno::EINTR) => continue,
            Err(e) => return Err(e.into()),
        };
        let mut eof = false;
        if readable {
            match reader.read(&mut buf) {
                Ok(0) => eof = true,
                Ok(n) => {
                    lines.push(&buf[..n], &mut |t, c| handle(&mut log, t, c));
                    // What was read is in the log now, for whoever follows it (`logs -f`).
                    log.flush();
                }
                Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
                Err(_) => eof = true,
            }
        } else if status.is_none() {
            // Quiet for a moment with a partial line pending: a prompt (`read -p`) waiting
            // for an answer. Show it rather than keep it back until a newline comes, and,
            // on a terminal of its own, ask for the keyboard.
            let prompt = lines.has_pending();
            lines.flush(false, &mut |t, c| handle(&mut log, t, c));
            log.flush();
            if prompt && let Some((keyboard, stage, input)) = prompts {
                keyboard.request(*stage, input);
            }
        }
        // Past its time limit: stopped like an interrupted stage, SIGTERM then SIGKILL.
        if let Some((after, grace)) = limit
            && status.is_none()
        {
            if timed_out.is_none() && started.elapsed() >= after {
                let _ = killpg(pgid, Signal::SIGTERM);
                timed_out = Some(Instant::now());
            }
            if !killed && timed_out.is_some_and(|t| t.elapsed() >= grace) {
                let _ = killpg(pgid, Signal::SIGKILL);
                killed = true;
            }
        }
        if status.is_none() {
            // At the end of the output the leader is about to exit (or has): wait for it.
            // Before that, notice an exit while a straggler still holds the pipe.
            status = if eof { Some(child.wait()?) } else { child.try_wait()? };
            if status.is_some() {
                // The leader is gone; anything it left running in its group is a straggler.
                let _ = killpg(pgid, Signal::SIGTERM);
                drain_until = Some(Instant::now() + DRAIN_GRACE);
            }
        }
        if eof || drain_until.is_some_and(|t| Instant::now() >= t) {
            break;
        }
    }
    // The end of the output ends its last line.
    lines.flush(true, &mut |t, c| handle(&mut log, t, c));
    let status = status.expect("the loop ends only after the leader exited");
    log.flush();
    let log_error = log.error;
    let exit = match (status.code(), status.signal()) {
        (Some(code), _) => Exit::Code(code),
        (None, Some(sig)) => Exit::Signal(sig),
        (None, None) => Exit::Code(-1),
    };
    Ok((exit, log_error, timed_out.and(limit.map(|(after, _)| after))))
}

#[cfg(test)]
mod tests {
    use super::LineSplitter;

    fn split(chunks: &[&[u8]]) -> Vec<String> {
        let mut out = Vec::new();
        let mut lines = LineSplitter::new(super::MAX_LINE);
        for chunk in chunks {
            lines.push(chunk, &mut |l: &str, _| out.push(l.to_string()));
        }
        lines.flush(true, &mut |l: &str, _| out.push(l.to_string()));
        out
    }

    #[test]
    fn lines_survive_arbitrary_chunking() {
        assert_eq!(split(&[b"one\ntw", b"o\r\n", b"", b"thr", b"ee"]), ["one", "two", "three"]);
        assert_eq!(split(&[b"\n\n"]), ["", ""]);
        assert_eq!(split(&[b"bad \xff byte\n"]), ["bad \u{fffd} byte"]);
    }

    #[test]
    fn a_huge_line_is_shown_in_pieces() {
        let big = vec![b'x'; super::MAX_LINE + 10];
        let out = split(&[&big, b"\n"]);
        assert_eq!(out.len(), 2);
        assert_eq!(out[0].len() + out[1].len(), super::MAX_LINE + 10);
    }
}
