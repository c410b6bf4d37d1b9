//! Reading a stage template dir into memory: which entries exist, their modes, symlink
//! targets, and which files `.betterformignore` (or the original tool's `.gomplateignore`;
//! both may exist) says to copy verbatim, with git's semantics exactly: a path under an
//! excluded directory stays excluded, whatever a later `!` pattern says.

use std::fs;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};

use ignore::gitignore::{Gitignore, GitignoreBuilder};
use walkdir::WalkDir;

use super::error::StampError;
use super::index::{Seen, Stat};

pub(crate) const IGNORE_FILE: &str = ".betterformignore";
/// The original make+gomplate betterform's ignore file, read the same way.
pub(crate) const GOMPLATE_IGNORE_FILE: &str = ".gomplateignore";
const IGNORE_FILES: [&str; 2] = [GOMPLATE_IGNORE_FILE, IGNORE_FILE];
/// A stage's own time limit (read by `execute`): betterform's setting, not a stage file, so
/// it is not stamped (like the ignore files) and changing it does not make the stage re-run.
pub(crate) const TIMEOUT_FILE: &str = ".betterform-timeout";
/// The longest ignore pattern accepted, in bytes.
const MAX_PATTERN: usize = 1024;

#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Kind {
    Dir {
        mode: u32,
    },
    /// `render` is false for files listed in `.betterformignore`; non-UTF-8 files are detected
    /// later, when their bytes are looked at.
    File {
        bytes: Vec<u8>,
        mode: u32,
        render: bool,
    },
    Symlink {
        target: PathBuf,
    },
}

#[derive(Debug, Clone)]
pub(crate) struct Entry {
    /// Path relative to the template dir.
    pub(crate) rel: PathBuf,
    pub(crate) kind: Kind,
}

/// The patterns of both ignore files, `.betterformignore`'s last (its patterns win).
fn matcher(root: &Path) -> Result<Gitignore, StampError> {
    let mut builder = GitignoreBuilder::new(root);
    for name in IGNORE_FILES {
        let file = root.join(name);
        if file.symlink_metadata().is_err() {
            continue;
        }
        let fail = |message: String| StampError::Ignore { path: file.clone(), message };
        let bytes = crate::fsutil::read_regular(&file).map_err(|e| fail(format!("cannot read it: {e}")))?;
        for (i, line) in String::from_utf8_lossy(&bytes).lines().enumerate() {
            // A glob of thousands of `dir/` segments takes the matcher seconds to build and
            // match (found by tests/fuzz.rs); no real pattern comes near this.
            if line.len() > MAX_PATTERN {
                return Err(fail(format!(
                    "line {}: a pattern of {} bytes; patterns are at most {MAX_PATTERN} bytes",
                    i + 1,
                    line.len()
                )));
            }
            builder
                .add_line(Some(root.to_path_buf()), line)
                .map_err(|e| fail(format!("line {}: {e}", i + 1)))?;
        }
    }
    builder.build().map_err(|e| StampError::Ignore { path: root.join(IGNORE_FILE), message: e.to_string() })
}

/// Whether `rel` (a path below `root`) is excluded: git never looks inside an excluded
/// directory, so a `!pattern` cannot bring back a file below one.
fn excluded(matcher: &Gitignore, root: &Path, rel: &Path, is_dir: bool) -> bool {
    let parents: Vec<&Path> = rel.ancestors().skip(1).filter(|a| !a.as_os_str().is_empty()).collect();
    parents.iter().rev().any(|dir| matcher.matched(root.join(dir), true).is_ignore())
        || matcher.matched(root.join(rel), is_dir).is_ignore()
}

/// Every entry under `root` except the ignore files and the time limit, sorted by path.
pub(crate) fn read(root: &Path) -> Result<Vec<Entry>, StampError> {
    read_seen(root).map(|(entries, _)| entries)
}

/// [`read`], and the stat of everything it read (the dirs, the ignore files), each taken
/// before it was read: for the stat index.
pub(crate) fn read_seen(root: &Path) -> Result<(Vec<Entry>, Vec<Seen>), StampError> {
    // An ignore file (or time limit) that is not there is not recorded: creating one changes
    // the dir's mtime and ctime, which are. The time limit is not read here, but a stage the
    // index proves unchanged and that had none is known to have none without looking.
    let mut seen: Vec<Seen> = std::iter::once(root.to_path_buf())
        .chain(IGNORE_FILES.iter().chain([&TIMEOUT_FILE]).map(|name| root.join(name)))
        .filter_map(|path| {
            let stat = Stat::at(&path);
            (stat.is_some() || path == root).then_some((path, stat))
        })
        .collect();
    let verbatim = matcher(root)?;
    let mut entries = Vec::new();
    for item in WalkDir::new(root).min_depth(1).follow_links(false).sort_by_file_name() {
        let item = item.map_err(|e| {
            let path = e.path().unwrap_or(root).to_path_buf();
            StampError::Io { action: "cannot read", path, source: e.into() }
        })?;
        let path = item.path();
        let rel = path.strip_prefix(root).expect("walkdir stays under its root").to_path_buf();
        if IGNORE_FILES.iter().chain([&TIMEOUT_FILE]).any(|name| rel == Path::new(name)) {
            continue;
        }
        let meta = item.metadata().map_err(|e| StampError::Io {
            action: "cannot stat",
            path: path.to_path_buf(),
            source: e.into(),
        })?;
        seen.push((path.to_path_buf(), Some(Stat::of(&meta))));
        let mode = meta.permissions().mode() & 0o7777;
        let kind = if meta.file_type().is_symlink() {
            let target = fs::read_link(path).map_err(StampError::io("cannot read link", path))?;
            Kind::Symlink { target }
        } else if meta.is_dir() {
            Kind::Dir { mode }
        } else if meta.is_file() {
            let bytes = fs::read(path).map_err(StampError::io("cannot read", path))?;
            let render = !excluded(&verbatim, root, &rel, false);
            Kind::File { bytes, mode, render }
        } else {
            // Sockets, FIFOs and devices have no place in a template library, and leaving
            // one out silently would stamp a stage without a file its author put there.
            let kind = crate::fsutil::kind_of(&meta.file_type());
            return Err(StampError::Unsupported { path: path.to_path_buf(), kind });
        };
        entries.push(Entry { rel, kind });
    }
    Ok((entries, seen))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_pattern_too_long_to_match_quickly_is_refused_naming_its_line() {
        // Found by tests/fuzz.rs: `**/e.txt/e.txt/…` 5000 segments long took the matcher 24 s.
        let dir = tempfile::tempdir().unwrap();
        let pattern = format!("**/{}", vec!["e.txt"; 5000].join("/"));
        std::fs::write(dir.path().join(IGNORE_FILE), format!("*.txt\n{pattern}\n")).unwrap();
        let started = std::time::Instant::now();
        let e = read(dir.path()).unwrap_err().to_string();
        assert!(e.ends_with("line 2: a pattern of 30002 bytes; patterns are at most 1024 bytes"), "{e}");
        assert!(started.elapsed() < std::time::Duration::from_secs(5));
    }
}
