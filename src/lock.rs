//! The run lock: `up`, `down` and `stamp` hold an exclusive `flock` on
//! `$GENFILES/.betterform/lock` for their whole run, so two runs can never drive the same
//! deployment at once. The kernel releases it when the process dies, however it dies, so a
//! crashed run never leaves a stale lock behind. The file's content names the holder.
//!
//! Taking the lock and naming the holder are two steps, so a run that loses a race can look
//! at the file between them. Two rules keep the loser's message right:
//!
//! - The winner overwrites the line in place and only then cuts the file to its length, so the
//!   file is never empty once it has named someone; between the two steps a reader sees the new
//!   line followed by the tail of the old one, and takes the first line only.
//! - The loser does not trust a file that is empty (a new lock file, not yet written) or names
//!   a process that is not running (the previous holder, not yet overwritten): it reads again
//!   for a short while, and only then settles for what it has.

use std::fs::{File, OpenOptions, TryLockError};
use std::os::unix::fs::FileExt;
use std::time::{Duration, Instant, SystemTime};

use nix::errno::Errno;
use nix::sys::signal::kill;
use nix::unistd::Pid;

use crate::error::Error;
use crate::state::timestamp;
use crate::wave::Wave;

/// How long a losing run waits for the winner to name itself. The winner writes right after it
/// takes the lock, so this is only reached when the holder is not a process this machine can
/// see (another PID namespace or host sharing GENFILES) or died between the two steps.
const NAME_WAIT: Duration = Duration::from_secs(1);
const NAME_POLL: Duration = Duration::from_millis(5);

/// Held for as long as this value lives.
pub(crate) struct RunLock {
    _file: File,
}

pub(crate) fn acquire(wave: &Wave, command: &str) -> Result<RunLock, Error> {
    let path = wave.state_dir().join("lock");
    let io = |action: &str, e: std::io::Error| {
        Error::Bookkeeping(anyhow::anyhow!("cannot {action} lock file {}: {e}", path.display()))
    };
    std::fs::create_dir_all(wave.state_dir()).map_err(|e| io("create the directory of", e))?;
    let file = OpenOptions::new()
        .read(true)
        .write(true)
        .create(true)
        .truncate(false)
        .open(&path)
        .map_err(|e| io("open", e))?;
    match file.try_lock() {
        Ok(()) => {}
        Err(TryLockError::WouldBlock) => {
            let holder = holder(&file);
            return Err(Error::Locked(format!(
                "another betterform run holds the lock on {} ({holder}); wait for it to finish",
                wave.genfiles.display()
            )));
        }
        Err(TryLockError::Error(e)) => return Err(io("lock", e)),
    }
    let args: Vec<String> = std::env::args().skip(1).collect();
    let info = format!(
        "pid {}, command '{command}' ({}), started {}\n",
        std::process::id(),
        args.join(" "),
        timestamp(SystemTime::now())
    );
    // Write first, cut after: never an empty window (see the module doc).
    file.write_all_at(info.as_bytes(), 0).map_err(|e| io("write", e))?;
    file.set_len(info.len() as u64).map_err(|e| io("write", e))?;
    Ok(RunLock { _file: file })
}

/// What the lock file says about its holder, as shown to a run that lost the race.
fn holder(file: &File) -> String {
    let deadline = Instant::now() + NAME_WAIT;
    loop {
        let line = first_line(file);
        let pid = line.as_deref().and_then(pid_of);
        if let (Some(line), Some(pid)) = (&line, pid)
            && running(pid)
        {
            return line.clone();
        }
        if Instant::now() >= deadline {
            return match (line, pid) {
                (None, _) => "an unknown process".to_string(),
                (Some(line), Some(_)) => {
                    format!("an unknown process; the lock file names {line}, which is not running here")
                }
                // Not a line betterform wrote; show it as it stands.
                (Some(line), None) => line,
            };
        }
        std::thread::sleep(NAME_POLL);
    }
}

/// The file's first line, trimmed, if it has a non-blank one.
fn first_line(file: &File) -> Option<String> {
    let mut buf = vec![0u8; 4096];
    let mut len = 0;
    while len < buf.len() {
        match file.read_at(&mut buf[len..], len as u64) {
            Ok(0) | Err(_) => break,
            Ok(n) => len += n,
        }
    }
    let text = String::from_utf8_lossy(&buf[..len]);
    let line = text.lines().next().unwrap_or("").trim();
    (!line.is_empty()).then(|| line.to_string())
}

/// The pid of a holder line `pid N, command …`.
fn pid_of(line: &str) -> Option<i32> {
    line.strip_prefix("pid ")?.split(',').next()?.parse().ok()
}

/// The run holding the lock now, as the lock file names it: its pid and command (`up`,
/// `down`, `run VERB`, …). `None` when the process named there is not running (no run holds
/// the lock) or nothing is named. Read without taking the lock, so it never gets in a run's way.
pub(crate) fn current_run(wave: &Wave) -> Option<(i32, String)> {
    let file = File::open(wave.state_dir().join("lock")).ok()?;
    let line = first_line(&file)?;
    let pid = pid_of(&line).filter(|&pid| running(pid))?;
    let command = line.split_once("command '")?.1.split('\'').next()?.to_string();
    Some((pid, command))
}

/// Whether the run `current_run` named still runs.
pub(crate) fn still_running(pid: i32) -> bool {
    running(pid)
}

/// Whether a process with this pid exists here (signal 0 checks without sending anything;
/// EPERM means it exists but belongs to someone else).
fn running(pid: i32) -> bool {
    pid > 0 && !matches!(kill(Pid::from_raw(pid), None), Err(Errno::ESRCH))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_holder_line_names_its_pid() {
        assert_eq!(pid_of("pid 42, command 'up' (up), started 2026-01-01T00:00:00.000Z"), Some(42));
        assert_eq!(pid_of("pid x, command 'up'"), None);
        assert_eq!(pid_of("garbage"), None);
    }

    #[test]
    fn the_first_line_wins_over_an_old_tail() {
        let mut file = tempfile::tempfile().unwrap();
        assert_eq!(first_line(&file), None);
        std::io::Write::write_all(&mut file, b"pid 1, new\nld line, longer than the new one\n").unwrap();
        assert_eq!(first_line(&file).as_deref(), Some("pid 1, new"));
    }

    #[test]
    fn a_loser_waits_for_a_live_holder_then_settles_for_what_the_file_says() {
        use std::io::Write;
        let mut file = tempfile::tempfile().unwrap();
        let began = Instant::now();
        assert_eq!(holder(&file), "an unknown process");
        assert!(began.elapsed() >= NAME_WAIT, "an empty file is read again before giving up");
        let mut child = std::process::Command::new("true").spawn().unwrap();
        child.wait().unwrap();
        let dead = format!("pid {}, command 'up' (up), started 2020-01-01T00:00:00.000Z", child.id());
        file.write_all(format!("{dead}\n").as_bytes()).unwrap();
        assert_eq!(
            holder(&file),
            format!("an unknown process; the lock file names {dead}, which is not running here")
        );
        let live = format!("pid {}, command 'up' (up), started 2026-01-01T00:00:00.000Z", std::process::id());
        file.write_all_at(format!("{live}\n").as_bytes(), 0).unwrap();
        let began = Instant::now();
        assert_eq!(holder(&file), live);
        assert!(began.elapsed() < NAME_WAIT, "a live holder is named at once");
    }

    #[test]
    fn liveness() {
        assert!(running(std::process::id() as i32));
        let mut child = std::process::Command::new("true").spawn().unwrap();
        let pid = child.id() as i32;
        child.wait().unwrap();
        assert!(!running(pid), "a reaped child is gone");
        assert!(!running(0) && !running(-1));
    }
}
