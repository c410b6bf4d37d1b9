//! The HTML timeline of a run (`--timings[=FILE]`): one self-contained page, opened from disk
//! in any browser, that fetches nothing. The run's [`Record`] and each stage's log tail are
//! embedded as JSON in a `<script type="application/json">` element; a small script in
//! `timeline.html` draws the timeline (one bar per stage), the concurrency against `-j`, the
//! DAG with the critical path highlighted, and shows a stage's log tail on click.
//!
//! Secrets never reach the page: every log line is masked again here (a secret registered
//! after a line was logged is masked too), and the script only ever inserts text as text.

use std::collections::BTreeMap;
use std::io::{Read, Seek, SeekFrom};
use std::path::{Path, PathBuf};

use serde::Serialize;

use super::timings::{self, Record};
use crate::fsutil::write_atomic;

/// The page, with `__TIMINGS_DATA__` where the data goes.
const TEMPLATE: &str = include_str!("timeline.html");

/// At most this many lines of each stage's log are embedded, each cut to `LINE_CHARS`.
const TAIL_LINES: usize = 40;
const LINE_CHARS: usize = 400;
/// Only the end of a log is read: a stage that logs gigabytes must not make the page huge.
const TAIL_BYTES: u64 = 64 * 1024;

#[derive(Serialize)]
struct PageData<'a> {
    record: &'a Record,
    /// Stage name → the last lines of its log of this run.
    tails: BTreeMap<&'a str, Vec<String>>,
}

/// The page for `record`, with the tail of each log it names.
pub(crate) fn render(record: &Record) -> String {
    let tails = record
        .stages
        .iter()
        .filter_map(|s| s.log.as_deref().map(|log| (s.name.as_str(), tail(log))))
        .collect();
    let json = serde_json::to_string(&PageData { record, tails }).expect("page data serializes");
    TEMPLATE.replacen("__TIMINGS_DATA__", &script_safe(&json), 1)
}

/// JSON that can sit inside a `<script>` element: `<`, `>` and `&` are written as JSON
/// escapes, so no text in it (a log line holding `</script>`) can end the element or be read
/// as markup. `JSON.parse` reads the same strings back.
fn script_safe(json: &str) -> String {
    let mut out = String::with_capacity(json.len());
    for c in json.chars() {
        match c {
            '<' => out.push_str("\\u003c"),
            '>' => out.push_str("\\u003e"),
            '&' => out.push_str("\\u0026"),
            '\u{2028}' => out.push_str("\\u2028"),
            '\u{2029}' => out.push_str("\\u2029"),
            c => out.push(c),
        }
    }
    out
}

/// The last lines of a log, masked, without terminal escape sequences, each bounded.
fn tail(path: &Path) -> Vec<String> {
    let Ok(mut file) = std::fs::File::open(path) else { return Vec::new() };
    let len = file.metadata().map(|m| m.len()).unwrap_or(0);
    let from = len.saturating_sub(TAIL_BYTES);
    let mut bytes = Vec::new();
    if file.seek(SeekFrom::Start(from)).is_err() || file.take(TAIL_BYTES).read_to_end(&mut bytes).is_err() {
        return Vec::new();
    }
    let text = String::from_utf8_lossy(&bytes);
    let mut lines: Vec<&str> = text.lines().collect();
    if from > 0 && !lines.is_empty() {
        lines.remove(0); // cut mid-line by the seek
    }
    lines[lines.len().saturating_sub(TAIL_LINES)..]
        .iter()
        .map(|line| {
            let plain = strip_escapes(line);
            let masked = crate::mask::mask(&plain).into_owned();
            if masked.chars().count() > LINE_CHARS {
                format!("{}…", masked.chars().take(LINE_CHARS).collect::<String>())
            } else {
                masked
            }
        })
        .collect()
}

/// `line` without ANSI CSI sequences (colours, cursor moves) that tools write to their logs.
fn strip_escapes(line: &str) -> String {
    let mut out = String::with_capacity(line.len());
    let mut chars = line.chars().peekable();
    while let Some(c) = chars.next() {
        if c == '\u{1b}' && chars.peek() == Some(&'[') {
            chars.next();
            for c in chars.by_ref() {
                if ('@'..='~').contains(&c) {
                    break;
                }
            }
        } else if c == '\r' || (c.is_control() && c != '\t') {
            continue;
        } else {
            out.push(c);
        }
    }
    out
}

/// Where the page of a run goes without `=FILE`: `<run-id>.html` under the timings dir, and
/// `latest.html` beside it.
pub(crate) fn default_paths(state_dir: &Path, run: &str) -> [PathBuf; 2] {
    let dir = timings::dir(state_dir);
    [dir.join(format!("{run}.html")), dir.join("latest.html")]
}

/// How many run pages [`prune`] keeps under the timings dir (besides `latest.html`).
pub(crate) const KEEP_PAGES: usize = 20;

/// Removes all but the newest [`KEEP_PAGES`] run pages (`<run-id>.html`) under `dir`, so
/// `--timings` on every run (as exported CI jobs do) cannot fill GENFILES. Best effort: a
/// page that cannot be listed or removed stays.
pub(crate) fn prune(dir: &Path) {
    let Ok(entries) = std::fs::read_dir(dir) else { return };
    let mut pages: Vec<(std::time::SystemTime, PathBuf)> = entries
        .flatten()
        .filter(|e| {
            let name = e.file_name();
            let name = name.to_string_lossy();
            name.ends_with(".html") && name != "latest.html"
        })
        .filter_map(|e| Some((e.metadata().ok()?.modified().ok()?, e.path())))
        .collect();
    // Newest first; same-tick pages by name, so the order is stable.
    pages.sort_by(|a, b| b.cmp(a));
    for (_, page) in pages.into_iter().skip(KEEP_PAGES) {
        let _ = std::fs::remove_file(page);
    }
}

/// Writes the page to each of `paths`, each atomically; the first error names its path.
pub(crate) fn write(paths: &[PathBuf], html: &str) -> Result<(), (PathBuf, std::io::Error)> {
    for path in paths {
        write_atomic(path, html.as_bytes(), None).map_err(|e| (path.clone(), e))?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::report::timings::StageTiming;

    fn record(log: Option<PathBuf>) -> Record {
        Record {
            run: "r1".into(),
            command: "up".into(),
            direction: "up".into(),
            started: "2026-01-01T00:00:00.000Z".into(),
            wall_ms: 1000,
            jobs: 2,
            critical_path: vec!["a</script>".into()],
            critical_path_ms: 900,
            waited_for_slot_ms: 0,
            stages: vec![StageTiming {
                name: "a</script>".into(),
                result: "ran".into(),
                start_ms: Some(0),
                end_ms: Some(900),
                duration_ms: Some(900),
                waited_for_slot_ms: Some(0),
                critical: true,
                deps: vec![],
                log,
            }],
        }
    }

    #[test]
    fn the_page_embeds_the_record_and_log_tail_where_no_text_can_close_the_script() {
        let dir = tempfile::tempdir().unwrap();
        let log = dir.path().join("up.log");
        let mut text = String::new();
        for i in 0..100 {
            text += &format!("line {i}\n");
        }
        text += "\u{1b}[32mgreen\u{1b}[0m <b>&</b></script><script>alert(1)</script>\n";
        text += &"x".repeat(1000);
        std::fs::write(&log, text).unwrap();
        let page = render(&record(Some(log)));
        assert_eq!(page.matches("</script>").count(), TEMPLATE.matches("</script>").count());
        assert!(!page.contains("__TIMINGS_DATA__"));
        let start = page.find("id=\"timings-data\">").unwrap() + "id=\"timings-data\">".len();
        let end = start + page[start..].find("</script>").unwrap();
        let data: serde_json::Value = serde_json::from_str(&page[start..end]).unwrap();
        assert_eq!(data["record"]["stages"][0]["name"], "a</script>");
        let tail: Vec<&str> =
            data["tails"]["a</script>"].as_array().unwrap().iter().map(|l| l.as_str().unwrap()).collect();
        assert_eq!(tail.len(), TAIL_LINES);
        assert_eq!(tail[0], "line 62");
        assert_eq!(tail[TAIL_LINES - 2], "green <b>&</b></script><script>alert(1)</script>");
        assert_eq!(tail[TAIL_LINES - 1].chars().count(), LINE_CHARS + 1, "cut, with an ellipsis");
    }

    #[test]
    fn log_lines_are_masked_and_only_the_end_of_a_big_log_is_read() {
        crate::mask::add("s3cr3t-timeline-value");
        let dir = tempfile::tempdir().unwrap();
        let log = dir.path().join("up.log");
        let mut text = "early line\n".repeat(20_000);
        text += "token is s3cr3t-timeline-value\n";
        std::fs::write(&log, text).unwrap();
        let lines = tail(&log);
        assert_eq!(lines.last().unwrap(), &format!("token is {}", crate::mask::MASK));
        assert!(lines.iter().all(|l| l == "early line" || l.starts_with("token")), "{lines:?}");
        assert!(tail(&dir.path().join("missing.log")).is_empty());
    }
}
