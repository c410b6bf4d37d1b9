//! The format of a stage's log file: every line starts with the time it was written (RFC 3339
//! UTC with milliseconds and a space: `2026-11-30T22:51:03.123Z `), so an operator reading
//! `up.log` after the fact can tell a slow step from a hang. The terminal never shows the
//! stamps: excerpts betterform prints or embeds (a failed stage's tail, JUnit output) are
//! [`strip`]ped back to the stage's own lines.
//!
//! A fresh log moves the last one aside first ([`create`]): `up.log` becomes
//! `up.previous.log`, so the run before the latest can still be read (`logs --previous`).

use std::fs::File;
use std::io::{self, Write};
use std::path::{Path, PathBuf};
use std::time::SystemTime;

/// How a log's name ends; the log kept from the run before ends in `.previous.log`.
const EXTENSION: &str = ".log";
const PREVIOUS: &str = ".previous.log";

/// Width of a stamp without its trailing space: `2026-11-30T22:51:03.123Z`.
const STAMP_WIDTH: usize = 24;

/// The stamp for now, formatted once per millisecond: a stage printing a burst of lines pays
/// for reading the clock, not for formatting the time, on each.
#[derive(Default)]
struct Clock {
    last: Option<(u128, String)>,
}

impl Clock {
    fn now(&mut self) -> &str {
        let now = SystemTime::now();
        let millis = now.duration_since(SystemTime::UNIX_EPOCH).unwrap_or_default().as_millis();
        if self.last.as_ref().is_none_or(|(at, _)| *at != millis) {
            self.last = Some((millis, humantime::format_rfc3339_millis(now).to_string()));
        }
        &self.last.as_ref().expect("set above").1
    }
}

/// Where the log kept from the run before `log` is: `up.log` → `up.previous.log`.
pub(crate) fn previous_of(log: &Path) -> PathBuf {
    let name = log.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_default();
    let command = name.strip_suffix(EXTENSION).unwrap_or(&name);
    log.with_file_name(format!("{command}{PREVIOUS}"))
}

/// The command whose latest log is `name` (`up.log` → `up`); `None` for a kept previous log
/// or another file.
pub(crate) fn command_of(name: &str) -> Option<&str> {
    if name.ends_with(PREVIOUS) {
        return None;
    }
    name.strip_suffix(EXTENSION).filter(|c| !c.is_empty())
}

/// Starts `log` afresh for a new run of its command: the last run's log, if any, becomes
/// [`previous_of`] it (replacing the one before), and an empty log is opened for writing.
/// A log that is a symlink is the operator's arrangement (the log kept elsewhere): it is
/// written through, not moved aside.
pub(crate) fn create(log: &Path) -> io::Result<File> {
    if let Some(dir) = log.parent() {
        std::fs::create_dir_all(dir)?;
    }
    let linked = std::fs::symlink_metadata(log).is_ok_and(|m| m.file_type().is_symlink());
    if !linked {
        match std::fs::rename(log, previous_of(log)) {
            Err(e) if e.kind() != io::ErrorKind::NotFound => return Err(e),
            _ => {}
        }
    }
    File::create(log)
}

/// Writes log text with a stamp at the start of every line. Output arrives in pieces (a
/// prompt shown before its newline, a huge line cut up): only a piece that starts a line is
/// stamped, so a line continued later stays one line in the file.
pub(crate) struct Stamped<W: Write> {
    inner: W,
    at_line_start: bool,
    clock: Clock,
}

impl<W: Write> Stamped<W> {
    /// `inner` is at the start of a line (a new or complete log).
    pub(crate) fn new(inner: W) -> Self {
        Stamped { inner, at_line_start: true, clock: Clock::default() }
    }

    /// Writes `text` (which may hold newlines of its own); `complete` ends the line.
    pub(crate) fn piece(&mut self, text: &str, complete: bool) -> io::Result<()> {
        let mut parts = text.split('\n').peekable();
        while let Some(part) = parts.next() {
            let ends_line = complete || parts.peek().is_some();
            if self.at_line_start && (ends_line || !part.is_empty()) {
                self.inner.write_all(self.clock.now().as_bytes())?;
                self.inner.write_all(b" ")?;
                self.at_line_start = false;
            }
            self.inner.write_all(part.as_bytes())?;
            if ends_line {
                self.inner.write_all(b"\n")?;
                self.at_line_start = true;
            }
        }
        Ok(())
    }

    /// Writes `text` as whole lines.
    pub(crate) fn lines(&mut self, text: &str) -> io::Result<()> {
        self.piece(text.strip_suffix('\n').unwrap_or(text), true)
    }

    pub(crate) fn flush(&mut self) -> io::Result<()> {
        self.inner.flush()
    }
}

/// Appends whole lines, stamped, to the log at `path` (created if missing): betterform's own
/// notes about a stage.
pub(crate) fn append(path: &Path, text: &str) -> io::Result<()> {
    let file = std::fs::OpenOptions::new().append(true).create(true).open(path)?;
    Stamped::new(file).lines(text)
}

/// `line` without its stamp; a line without one (a log from before stamps) as it is.
pub(crate) fn strip(line: &str) -> &str {
    let bytes = line.as_bytes();
    let stamped = bytes.len() >= STAMP_WIDTH
        && bytes[..STAMP_WIDTH].iter().enumerate().all(|(i, &b)| match i {
            4 | 7 => b == b'-',
            10 => b == b'T',
            13 | 16 => b == b':',
            19 => b == b'.',
            23 => b == b'Z',
            _ => b.is_ascii_digit(),
        });
    match (stamped, bytes.get(STAMP_WIDTH)) {
        (true, None) => "",
        (true, Some(b' ')) => &line[STAMP_WIDTH + 1..],
        _ => line,
    }
}

/// The last `lines` lines of the log at `path`, without their stamps (nothing if unreadable).
pub(crate) fn tail(path: &Path, lines: usize) -> Vec<String> {
    let text = std::fs::read(path).map(|b| String::from_utf8_lossy(&b).into_owned()).unwrap_or_default();
    let all: Vec<&str> = text.lines().collect();
    all[all.len().saturating_sub(lines)..].iter().map(|l| strip(l).to_string()).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn written(pieces: &[(&str, bool)]) -> String {
        let mut out = Stamped::new(Vec::new());
        for (text, complete) in pieces {
            out.piece(text, *complete).unwrap();
        }
        String::from_utf8(out.inner).unwrap()
    }

    #[test]
    fn every_line_is_stamped_once_however_it_arrives() {
        let text = written(&[("Password: ", false), ("hunter2", true), ("", true), ("a\nb", true)]);
        let lines: Vec<&str> = text.lines().collect();
        assert_eq!(lines.len(), 4, "{text}");
        for line in &lines {
            assert_ne!(strip(line), *line, "stamped: {line}");
        }
        assert_eq!(lines.iter().map(|l| strip(l)).collect::<Vec<_>>(), ["Password: hunter2", "", "a", "b"]);
        assert!(text.ends_with('\n'));
        // A partial piece alone leaves the line open, stamped once.
        let open = written(&[("Continue? ", false)]);
        assert_eq!(open.matches('Z').count(), 1);
        assert!(!open.ends_with('\n'));
    }

    #[test]
    fn strip_takes_only_a_real_stamp() {
        assert_eq!(strip("2026-11-30T22:51:03.123Z hello"), "hello");
        assert_eq!(strip("2026-11-30T22:51:03.123Z"), "");
        assert_eq!(strip("2026-11-30T22:51:03.123Z  indented"), " indented");
        assert_eq!(strip("2026-11-30 22:51:03 plain"), "2026-11-30 22:51:03 plain");
        assert_eq!(strip("2026-11-30T22:51:03.123Zx"), "2026-11-30T22:51:03.123Zx");
        assert_eq!(strip("short"), "short");
        assert_eq!(strip("ünïcödé line that is long enough"), "ünïcödé line that is long enough");
    }

    #[test]
    fn the_stamp_has_the_documented_shape() {
        let s = Clock::default().now().to_string();
        assert_eq!(s.len(), STAMP_WIDTH, "{s}");
        assert_eq!(strip(&format!("{s} x")), "x");
    }

    #[test]
    fn previous_and_command_names() {
        assert_eq!(previous_of(Path::new("/g/logs/db/up.log")), Path::new("/g/logs/db/up.previous.log"));
        assert_eq!(command_of("plan.log"), Some("plan"));
        assert_eq!(command_of("plan.previous.log"), None);
        assert_eq!(command_of(".log"), None);
        assert_eq!(command_of("notes.txt"), None);
    }

    #[test]
    fn create_keeps_the_last_log_as_previous() {
        let dir = tempfile::tempdir().unwrap();
        let log = dir.path().join("logs/db/up.log");
        drop(create(&log).unwrap());
        std::fs::write(&log, "first\n").unwrap();
        drop(create(&log).unwrap());
        assert_eq!(std::fs::read_to_string(previous_of(&log)).unwrap(), "first\n");
        assert_eq!(std::fs::read_to_string(&log).unwrap(), "");
        // A symlinked log stays where the operator pointed it.
        let elsewhere = dir.path().join("elsewhere.log");
        std::fs::write(&elsewhere, "old\n").unwrap();
        std::fs::remove_file(&log).unwrap();
        std::os::unix::fs::symlink(&elsewhere, &log).unwrap();
        drop(create(&log).unwrap());
        assert!(std::fs::symlink_metadata(&log).unwrap().file_type().is_symlink());
        assert_eq!(std::fs::read_to_string(&elsewhere).unwrap(), "");
    }
}
