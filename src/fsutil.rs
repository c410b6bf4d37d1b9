//! Atomic file replacement: write a temporary file beside the target, rename it over.
//! Readers see either the old or the new content, never a half-written file. Only records
//! whose loss after a power cut would mislead the next run are also fsynced (`write_durable`).

use std::fs;
use std::io::Write;
use std::os::unix::fs::PermissionsExt;
use std::path::Path;

/// Replaces `path` with `content` atomically, with `mode` if given (else 0644 for new files).
pub(crate) fn write_atomic(path: &Path, content: &[u8], mode: Option<u32>) -> std::io::Result<()> {
    let dir = path.parent().expect("target paths have a parent");
    fs::create_dir_all(dir)?;
    let mut tmp = tempfile::Builder::new().prefix(".betterform-tmp-").tempfile_in(dir)?;
    tmp.write_all(content)?;
    tmp.as_file().set_permissions(fs::Permissions::from_mode(mode.unwrap_or(0o644)))?;
    tmp.persist(path).map_err(|e| e.error)?;
    Ok(())
}

/// Like [`write_atomic`], but the content and the rename are on disk before it returns
/// (fsync of the file, then of the directory).
pub(crate) fn write_durable(path: &Path, content: &[u8]) -> std::io::Result<()> {
    let dir = path.parent().expect("target paths have a parent");
    fs::create_dir_all(dir)?;
    let mut tmp = tempfile::Builder::new().prefix(".betterform-tmp-").tempfile_in(dir)?;
    tmp.write_all(content)?;
    tmp.as_file().sync_all()?;
    tmp.persist(path).map_err(|e| e.error)?;
    fs::File::open(dir)?.sync_all()
}

/// Like [`write_atomic`], but leaves the file alone (mtime included) when it already has this
/// content and mode. Returns whether it wrote.
pub(crate) fn write_atomic_if_changed(
    path: &Path,
    content: &[u8],
    mode: Option<u32>,
) -> std::io::Result<bool> {
    if let Ok(meta) = fs::symlink_metadata(path)
        && meta.file_type().is_file()
        && mode.is_none_or(|m| meta.permissions().mode() & 0o7777 == m)
        && meta.len() == content.len() as u64
        && fs::read(path)? == content
    {
        return Ok(false);
    }
    write_atomic(path, content, mode)?;
    Ok(true)
}
