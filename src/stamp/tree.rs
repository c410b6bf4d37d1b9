//! Reading a stage template dir into memory: which entries exist, their modes, symlink
//! targets, and which files `.betterformignore` says to copy verbatim.

use std::fs;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};

use ignore::gitignore::{Gitignore, GitignoreBuilder};
use walkdir::WalkDir;

use super::error::StampError;

pub(crate) const IGNORE_FILE: &str = ".betterformignore";

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

fn matcher(root: &Path) -> Result<Gitignore, StampError> {
    let file = root.join(IGNORE_FILE);
    let mut builder = GitignoreBuilder::new(root);
    if file.is_file()
        && let Some(err) = builder.add(&file)
    {
        return Err(StampError::Ignore { path: file, message: err.to_string() });
    }
    builder.build().map_err(|e| StampError::Ignore { path: file, message: e.to_string() })
}

/// Every entry under `root` except the ignore file itself, sorted by path.
pub(crate) fn read(root: &Path) -> Result<Vec<Entry>, StampError> {
    let verbatim = matcher(root)?;
    let mut entries = Vec::new();
    for item in WalkDir::new(root).min_depth(1).follow_links(false).sort_by_file_name() {
        let item = item.map_err(|e| {
            let path = e.path().unwrap_or(root).to_path_buf();
            StampError::Io { action: "cannot read", path, source: e.into() }
        })?;
        let path = item.path();
        let rel = path.strip_prefix(root).expect("walkdir stays under its root").to_path_buf();
        if rel == Path::new(IGNORE_FILE) {
            continue;
        }
        let meta = item.metadata().map_err(|e| StampError::Io {
            action: "cannot stat",
            path: path.to_path_buf(),
            source: e.into(),
        })?;
        let mode = meta.permissions().mode() & 0o7777;
        let kind = if meta.file_type().is_symlink() {
            let target = fs::read_link(path).map_err(StampError::io("cannot read link", path))?;
            Kind::Symlink { target }
        } else if meta.is_dir() {
            Kind::Dir { mode }
        } else if meta.is_file() {
            let bytes = fs::read(path).map_err(StampError::io("cannot read", path))?;
            let render = !verbatim.matched_path_or_any_parents(path, false).is_ignore();
            Kind::File { bytes, mode, render }
        } else {
            // Sockets, FIFOs and devices have no place in a template library, and leaving
            // one out silently would stamp a stage without a file its author put there.
            let kind = crate::fsutil::kind_of(&meta.file_type());
            return Err(StampError::Unsupported { path: path.to_path_buf(), kind });
        };
        entries.push(Entry { rel, kind });
    }
    Ok(entries)
}
