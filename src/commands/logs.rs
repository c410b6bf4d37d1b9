//! `logs STAGE`: prints a stage's log file as it is (time stamps on, secrets already masked):
//! the latest run of the command that ran last, or of `--command`, or the run before that
//! (`--previous`). With `--follow` during a run, prints lines as the stage writes them until
//! its command finishes or the run ends, like `tail -F` (a new run of the command moves the
//! log aside; the new one is followed). Takes no lock and writes nothing.

use std::fs::File;
use std::io::{ErrorKind, Read, Write};
use std::os::unix::fs::MetadataExt;
use std::path::Path;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, SystemTime};

use crate::cli::Global;
use crate::error::Error;
use crate::lock;
use crate::logfile;
use crate::project::Project;
use crate::report::display_path;
use crate::state::StageState;

/// How often `--follow` looks for new lines and for the stage's command to finish.
const POLL: Duration = Duration::from_millis(100);

pub(crate) fn logs(
    global: &Global,
    stage: &str,
    command: Option<&str>,
    follow: bool,
    previous: bool,
) -> Result<(), Error> {
    let project = crate::execute::load_project(global.impl_dir.as_deref())?;
    let id = project.targets(&[stage.to_string()])?[0];
    let name = project.dag.name(id);
    if let Some(command) = command {
        check_command(command)?;
    }
    // A run in progress that runs stage commands: what `--follow` follows.
    let run = if follow {
        lock::current_run(&project.wave).and_then(|(pid, command)| Some((pid, stage_command(&command)?)))
    } else {
        None
    };
    let command = match (command, &run) {
        (Some(command), _) => command.to_string(),
        (None, Some((_, command))) => command.clone(),
        (None, None) => latest(&project, name)?,
    };
    let log = project.wave.log_path(name, &command);
    match run {
        Some((pid, _)) => follow_log(&project, name, &command, &log, pid),
        None if previous => print(&logfile::previous_of(&log), || {
            format!("stage '{name}' has no log of a '{command}' run before the latest one")
        }),
        None => print(&log, || format!("stage '{name}' has no '{command}' log yet")),
    }
}

/// A command is one word, as a `run` verb is; it names a file under the stage's log dir.
fn check_command(command: &str) -> Result<(), Error> {
    let word = |c: char| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.');
    if command.is_empty()
        || command.starts_with(['-', '.'])
        || !command.chars().all(word)
        || logfile::command_of(&format!("{command}.log")).is_none()
    {
        return Err(Error::Usage(format!(
            "--command '{command}' is not a command: `up`, `down` or a verb given to `betterform run`"
        )));
    }
    Ok(())
}

/// The command a run's stages run, from the lock file's account of the run: `up`, `down`, or
/// the verb of `run VERB`; `None` for a run that runs no stage command (`stamp`).
fn stage_command(run: &str) -> Option<String> {
    match run.split_once(' ') {
        Some(("run", verb)) => Some(verb.to_string()),
        None if run == "up" || run == "down" => Some(run.to_string()),
        _ => None,
    }
}

/// The command whose log the stage wrote last.
fn latest(project: &Project, stage: &str) -> Result<String, Error> {
    let dir = project.wave.log_dir(stage);
    let newest = std::fs::read_dir(&dir)
        .into_iter()
        .flatten()
        .flatten()
        .filter_map(|entry| {
            let name = entry.file_name().to_string_lossy().into_owned();
            let command = logfile::command_of(&name)?.to_string();
            let modified = entry.metadata().and_then(|m| m.modified()).unwrap_or(SystemTime::UNIX_EPOCH);
            Some((modified, command))
        })
        .max();
    newest.map(|(_, command)| command).ok_or_else(|| {
        Error::Missing(format!(
            "stage '{stage}' has no log yet: it has not run ({} is empty)",
            display_path(&dir)
        ))
    })
}

/// Prints the file at `path`; `missing` says what is missing when it does not exist.
fn print(path: &Path, missing: impl FnOnce() -> String) -> Result<(), Error> {
    let mut file = match File::open(path) {
        Ok(file) => file,
        Err(e) if e.kind() == ErrorKind::NotFound => {
            return Err(Error::Missing(format!("{} ({})", missing(), display_path(path))));
        }
        Err(e) => return Err(unreadable(path, &e)),
    };
    copy_new(&mut file, path).map(drop)
}

fn unreadable(path: &Path, e: &std::io::Error) -> Error {
    Error::Bookkeeping(anyhow::anyhow!("cannot read {}: {e}", path.display()))
}

/// Copies what `file` holds past its position to stdout. `false` when stdout is closed
/// (`| head`): the reader has seen enough, which is no error.
fn copy_new(file: &mut File, path: &Path) -> Result<bool, Error> {
    let mut out = std::io::stdout().lock();
    let mut buf = vec![0u8; 64 * 1024];
    loop {
        let n = match file.read(&mut buf) {
            Ok(0) => break,
            Ok(n) => n,
            Err(e) if e.kind() == ErrorKind::Interrupted => continue,
            Err(e) => return Err(unreadable(path, &e)),
        };
        if out.write_all(&buf[..n]).is_err() {
            return Ok(false);
        }
    }
    Ok(out.flush().is_ok())
}

/// Whether the stage's `command` has finished since `before` was read: its record says a run
/// of it ended that had not ended then. Only `up` and `down` are recorded; a verb's end is the
/// run's end.
fn finished(before: &StageState, now: &StageState, command: &str) -> bool {
    now.last_command.as_deref() == Some(command)
        && now.ended.is_some()
        && (before.ended.is_none() || now.started != before.started)
}

/// `--follow`: prints the log and what is added to it until the stage's `command` finishes or
/// the run (process `pid`) ends. A log moved aside by a new run of the command is finished and
/// the new one followed.
fn follow_log(project: &Project, stage: &str, command: &str, log: &Path, pid: i32) -> Result<(), Error> {
    let interrupt = Arc::new(AtomicBool::new(false));
    let terminate = Arc::new(AtomicBool::new(false));
    for (signal, flag) in
        [(signal_hook::consts::SIGINT, &interrupt), (signal_hook::consts::SIGTERM, &terminate)]
    {
        signal_hook::flag::register(signal, Arc::clone(flag))
            .map_err(|e| Error::Bookkeeping(anyhow::anyhow!("cannot handle signals: {e}")))?;
    }
    let before = project.state.load(stage).unwrap_or_default();
    let mut current: Option<(File, (u64, u64))> = None;
    let mut said_waiting = false;
    loop {
        if interrupt.load(Ordering::SeqCst) {
            return Err(Error::Interrupted { name: "SIGINT", code: 130 });
        }
        if terminate.load(Ordering::SeqCst) {
            return Err(Error::Interrupted { name: "SIGTERM", code: 143 });
        }
        // Checked before reading: once the command is seen finished, its log is complete.
        let done = !lock::still_running(pid)
            || project.state.load(stage).is_ok_and(|now| finished(&before, &now, command));
        if let Ok(file) = File::open(log)
            && let Ok(meta) = file.metadata()
            && current.as_ref().is_none_or(|(_, id)| *id != (meta.dev(), meta.ino()))
        {
            if let Some((mut old, _)) = current.take() {
                // The rest of the old log, then the new run's.
                if !copy_new(&mut old, log)? {
                    return Ok(());
                }
                eprintln!("==> a new run of '{command}' started: {}", display_path(log));
            }
            current = Some((file, (meta.dev(), meta.ino())));
        }
        if let Some((file, _)) = &mut current
            && !copy_new(file, log)?
        {
            return Ok(());
        }
        match (done, &current) {
            (true, Some(_)) => return Ok(()),
            (true, None) => {
                return Err(Error::Missing(format!(
                    "stage '{stage}' has no '{command}' log: the run ended without running it ({})",
                    display_path(log)
                )));
            }
            (false, None) if !said_waiting => {
                eprintln!("==> waiting for stage '{stage}' to run '{command}'");
                said_waiting = true;
            }
            (false, _) => {}
        }
        std::thread::sleep(POLL);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_stage_command_of_a_run() {
        assert_eq!(stage_command("up").as_deref(), Some("up"));
        assert_eq!(stage_command("down").as_deref(), Some("down"));
        assert_eq!(stage_command("run plan").as_deref(), Some("plan"));
        assert_eq!(stage_command("stamp"), None);
    }

    #[test]
    fn a_finished_command_is_one_that_ended_since() {
        let at = |started: &str, ended: Option<&str>| StageState {
            last_command: Some("up".into()),
            started: Some(started.into()),
            ended: ended.map(Into::into),
            ..StageState::default()
        };
        let running = at("t1", None);
        assert!(!finished(&running, &running, "up"));
        assert!(finished(&running, &at("t1", Some("t2")), "up"));
        assert!(!finished(&running, &at("t1", Some("t2")), "down"));
        // Queued: the last run ended before; only a new one's end counts.
        let last = at("t0", Some("t0"));
        assert!(!finished(&last, &last, "up"));
        assert!(finished(&last, &at("t3", Some("t4")), "up"));
        assert!(finished(&StageState::default(), &at("t3", Some("t4")), "up"));
    }

    #[test]
    fn commands_are_words() {
        assert!(check_command("up").is_ok() && check_command("drift-check").is_ok());
        for bad in ["", "../up", "-x", ".hidden", "up.previous", "a b"] {
            assert!(check_command(bad).is_err(), "{bad}");
        }
    }
}
