//! The run lock: `up`, `down` and `stamp` hold an exclusive `flock` on
//! `$GENFILES/.betterform/lock` for their whole run, so two runs can never drive the same
//! deployment at once. The kernel releases it when the process dies, however it dies, so a
//! crashed run never leaves a stale lock behind. The file's content names the holder.

use std::fs::{File, OpenOptions, TryLockError};
use std::io::{Read, Seek, Write};
use std::time::SystemTime;

use crate::error::Error;
use crate::state::timestamp;
use crate::wave::Wave;

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
    let mut file = OpenOptions::new()
        .read(true)
        .write(true)
        .create(true)
        .truncate(false)
        .open(&path)
        .map_err(|e| io("open", e))?;
    match file.try_lock() {
        Ok(()) => {}
        Err(TryLockError::WouldBlock) => {
            let mut holder = String::new();
            let _ = file.read_to_string(&mut holder);
            let holder = holder.trim();
            let holder = if holder.is_empty() { "an unknown process" } else { holder };
            return Err(Error::Locked(format!(
                "another betterform run holds the lock on {} ({holder}); wait for it to finish",
                wave.genfiles.display()
            )));
        }
        Err(TryLockError::Error(e)) => return Err(io("lock", e)),
    }
    // Only the holder writes, so readers see the current holder or an empty file.
    let args: Vec<String> = std::env::args().skip(1).collect();
    let info = format!(
        "pid {}, command '{command}' ({}), started {}\n",
        std::process::id(),
        args.join(" "),
        timestamp(SystemTime::now())
    );
    file.set_len(0).map_err(|e| io("write", e))?;
    file.rewind().map_err(|e| io("write", e))?;
    file.write_all(info.as_bytes()).map_err(|e| io("write", e))?;
    Ok(RunLock { _file: file })
}
