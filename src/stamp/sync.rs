//! Making `$GENFILES/<stage>` an exact image of a rendered template without destroying
//! runtime data.
//!
//! A manifest of what the previous stamp wrote is kept under `$GENFILES/.betterform/stamps/`.
//! Entries in the old manifest that the new image lacks are removed; anything not in the old
//! manifest (`.terraform/`, a local state file, logs the stage wrote) was created by the stage
//! and is never touched. Unchanged files are not rewritten, so their mtimes stay put.

use std::collections::BTreeSet;
use std::fs;
use std::io::ErrorKind;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use super::error::StampError;
use super::tree::Kind;
use crate::fsutil::{Durability, holds_as, write_atomic, write_record};

/// One rendered entry, ready to be written.
pub(crate) struct Rendered {
    pub(crate) rel: PathBuf,
    pub(crate) kind: Kind,
}

#[derive(Debug, Default, Serialize, Deserialize)]
struct Manifest {
    entries: BTreeSet<PathBuf>,
}

/// What a sync changed, for logs and tests.
#[derive(Debug, Default, PartialEq, Eq)]
pub(crate) struct SyncReport {
    pub(crate) written: usize,
    pub(crate) unchanged: usize,
    pub(crate) removed: usize,
}

impl SyncReport {
    /// `stamped (2 written, 1 unchanged, 0 removed)`.
    pub(crate) fn describe(&self) -> String {
        format!("stamped ({} written, {} unchanged, {} removed)", self.written, self.unchanged, self.removed)
    }

    /// Whether the stamped dir changed.
    pub(crate) fn changed(&self) -> bool {
        self.written + self.removed > 0
    }
}

/// The manifest at `path` and its bytes as read (empty when there is none).
fn load_manifest(path: &Path) -> (Manifest, Vec<u8>) {
    let bytes = fs::read(path).unwrap_or_default();
    // A missing or unreadable manifest only means we cannot prune: nothing is deleted.
    (serde_json::from_slice(&bytes).unwrap_or_default(), bytes)
}

pub(crate) fn sync(image: &[Rendered], dest: &Path, manifest_path: &Path) -> Result<SyncReport, StampError> {
    let (old, old_bytes) = load_manifest(manifest_path);
    let mut report = SyncReport::default();
    fs::create_dir_all(dest).map_err(StampError::io("cannot create", dest))?;

    for entry in image {
        let target = dest.join(&entry.rel);
        let existing = fs::symlink_metadata(&target).ok();
        match &entry.kind {
            Kind::Dir { mode } => {
                if existing.as_ref().is_some_and(|m| !m.is_dir()) {
                    fs::remove_file(&target).map_err(StampError::io("cannot replace", &target))?;
                }
                fs::create_dir_all(&target).map_err(StampError::io("cannot create", &target))?;
                // Keep the dir writable for ourselves so later stamps can update it.
                fs::set_permissions(&target, fs::Permissions::from_mode(mode | 0o700))
                    .map_err(StampError::io("cannot chmod", &target))?;
            }
            Kind::File { bytes, mode, .. } => {
                if existing.as_ref().is_some_and(|m| m.is_dir()) {
                    fs::remove_dir_all(&target).map_err(StampError::io("cannot replace", &target))?;
                }
                // One stat per file: the one above tells whether it can hold the render.
                let same = match &existing {
                    Some(meta) => holds_as(meta, &target, bytes, Some(*mode))
                        .map_err(StampError::io("cannot read", &target))?,
                    None => false,
                };
                if same {
                    report.unchanged += 1;
                } else {
                    write_atomic(&target, bytes, Some(*mode))
                        .map_err(StampError::io("cannot write", &target))?;
                    report.written += 1;
                }
            }
            Kind::Symlink { target: link } => {
                if existing.as_ref().is_some_and(|m| m.file_type().is_symlink())
                    && fs::read_link(&target).ok().as_ref() == Some(link)
                {
                    report.unchanged += 1;
                    continue;
                }
                if existing.as_ref().is_some_and(|m| m.is_dir()) {
                    fs::remove_dir_all(&target).map_err(StampError::io("cannot replace", &target))?;
                }
                // Create beside and rename over, so the link is never missing.
                let tmp = target.with_file_name(format!(
                    ".betterform-tmp-link-{}",
                    target.file_name().expect("entries have names").to_string_lossy()
                ));
                let _ = fs::remove_file(&tmp);
                std::os::unix::fs::symlink(link, &tmp).map_err(StampError::io("cannot create", &tmp))?;
                fs::rename(&tmp, &target).map_err(StampError::io("cannot write", &target))?;
                report.written += 1;
            }
        }
    }

    let new: BTreeSet<PathBuf> = image.iter().map(|e| e.rel.clone()).collect();
    // Deepest first, so a stale dir is emptied of stale files before we try to remove it.
    for rel in old.entries.iter().rev().filter(|rel| !new.contains(*rel)) {
        let target = dest.join(rel);
        let Ok(meta) = fs::symlink_metadata(&target) else { continue };
        let result = if meta.is_dir() {
            // A stale dir that still holds runtime files stays.
            match fs::remove_dir(&target) {
                Err(e) if e.kind() == ErrorKind::DirectoryNotEmpty => continue,
                other => other,
            }
        } else {
            fs::remove_file(&target)
        };
        result.map_err(StampError::io("cannot remove stale", &target))?;
        report.removed += 1;
    }

    let manifest = serde_json::to_vec_pretty(&Manifest { entries: new }).expect("manifest serializes");
    if manifest != old_bytes {
        write_record(manifest_path, &manifest, Durability::Atomic)
            .map_err(StampError::io("cannot write", manifest_path))?;
    }
    Ok(report)
}
