//! Writing files so that no reader ever sees one half-written.
//!
//! Files users see (stamped files, reports, outputs) are replaced by a temporary file renamed
//! over them. betterform's own records (stage state, stamp manifests, the timing record) are
//! rewritten on every run, so they are swapped instead: the new content goes into a spare file
//! kept beside the record, which is then atomically exchanged with it
//! (`renameat2(RENAME_EXCHANGE)`). The old content becomes the next spare, no inode is freed,
//! and none is allocated once both exist. That matters: a rename over a file frees its inode,
//! and ext4 without a journal scans past every recently freed inode when allocating the next
//! one, so a run that frees two inodes per stage gets slower with every stage (see
//! `bench/RESULTS.md`); and ext4 writes out at once a file renamed over another.
//!
//! Only records whose loss after a power cut would mislead the next run are also fsynced.

use std::fs::{self, File, OpenOptions};
use std::io::{ErrorKind, Write};
use std::os::unix::fs::{MetadataExt, OpenOptionsExt, PermissionsExt};
use std::path::{Path, PathBuf};

/// Reads a file that must be a regular file (a DAG file, a config, a template). A FIFO, socket
/// or device is refused instead of read: reading a FIFO blocks until something writes to it,
/// which would hang `validate` and `up` forever. The file is opened without blocking and
/// checked through its descriptor, so it cannot be swapped between the check and the read.
pub(crate) fn read_regular(path: &Path) -> std::io::Result<Vec<u8>> {
    use std::io::Read;
    let mut file = OpenOptions::new().read(true).custom_flags(nix::libc::O_NONBLOCK).open(path)?;
    let meta = file.metadata()?;
    if !meta.is_file() {
        return Err(std::io::Error::new(
            ErrorKind::InvalidInput,
            format!("it is a {}, not a regular file", kind_of(&meta.file_type())),
        ));
    }
    let mut bytes = Vec::with_capacity(meta.len() as usize);
    file.read_to_end(&mut bytes)?;
    Ok(bytes)
}

/// What a file is, in the words an error message needs.
pub(crate) fn kind_of(file_type: &fs::FileType) -> &'static str {
    use std::os::unix::fs::FileTypeExt;
    if file_type.is_dir() {
        "directory"
    } else if file_type.is_fifo() {
        "FIFO"
    } else if file_type.is_socket() {
        "socket"
    } else if file_type.is_block_device() || file_type.is_char_device() {
        "device"
    } else if file_type.is_symlink() {
        "symlink"
    } else {
        "regular file"
    }
}

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

/// Whether a record must be on disk before [`write_record`] returns.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Durability {
    /// Atomic only: a power cut may bring back the previous content.
    Atomic,
    /// The content and the exchange are on disk (fsync of the file, then of the directory).
    Durable,
}

/// The spare a record is written into before it is exchanged with the record.
pub(crate) fn spare_of(path: &Path) -> PathBuf {
    let name = path.file_name().expect("record paths name a file").to_string_lossy();
    path.with_file_name(format!(".{name}.spare"))
}

/// Replaces betterform's own record at `path` with `content` atomically, through its spare
/// (see the module docs). Only one writer may write a given record at a time; the run lock
/// and one worker per stage guarantee it.
pub(crate) fn write_record(path: &Path, content: &[u8], durability: Durability) -> std::io::Result<()> {
    write_record_streamed(path, durability, |out| out.write_all(content))
}

/// [`write_record`] of what `write` writes, streamed to the spare (not held whole: at 10,000
/// stages the timing record is megabytes).
pub(crate) fn write_record_streamed(
    path: &Path,
    durability: Durability,
    write: impl FnOnce(&mut dyn Write) -> std::io::Result<()>,
) -> std::io::Result<()> {
    let dir = path.parent().expect("record paths have a parent");
    let spare = spare_of(path);
    // Not truncated on open: truncating a file to zero frees its blocks (a synchronous discard
    // on a `discard`-mounted ext4 without a journal) and makes ext4 flush it on close. The
    // spare is overwritten in place and cut to length instead.
    let open = || OpenOptions::new().write(true).create(true).truncate(false).mode(0o644).open(&spare);
    let file = match open() {
        Err(e) if e.kind() == ErrorKind::NotFound => {
            fs::create_dir_all(dir)?;
            open()?
        }
        other => other?,
    };
    let mut out = std::io::BufWriter::new(Counted { file, len: 0 });
    write(&mut out)?;
    // The length as counted, not asked of the file: no `lseek` per record.
    let Counted { file, len } = out.into_inner().map_err(|e| e.into_error())?;
    file.set_len(len)?;
    if durability == Durability::Durable {
        file.sync_data()?;
    }
    drop(file);
    exchange(&spare, path)?;
    if durability == Durability::Durable {
        File::open(dir)?.sync_all()?;
    }
    Ok(())
}

/// A file and how many bytes were written to it.
struct Counted {
    file: File,
    len: u64,
}

impl Write for Counted {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        let written = self.file.write(buf)?;
        self.len += written as u64;
        Ok(written)
    }

    fn flush(&mut self) -> std::io::Result<()> {
        self.file.flush()
    }
}

/// Atomically exchanges `spare` and `path`; a plain rename when `path` does not exist yet or
/// the filesystem cannot exchange.
#[cfg(all(target_os = "linux", target_env = "gnu"))]
fn exchange(spare: &Path, path: &Path) -> std::io::Result<()> {
    use nix::errno::Errno;
    use nix::fcntl::{AT_FDCWD, RenameFlags, renameat2};
    match renameat2(AT_FDCWD, spare, AT_FDCWD, path, RenameFlags::RENAME_EXCHANGE) {
        Ok(()) => Ok(()),
        Err(Errno::ENOENT | Errno::EINVAL | Errno::ENOSYS | Errno::EOPNOTSUPP) => fs::rename(spare, path),
        Err(e) => Err(e.into()),
    }
}

#[cfg(not(all(target_os = "linux", target_env = "gnu")))]
fn exchange(spare: &Path, path: &Path) -> std::io::Result<()> {
    fs::rename(spare, path)
}

/// Whether `path` is a regular file that already holds `content` (and `mode`, if given).
pub(crate) fn holds(path: &Path, content: &[u8], mode: Option<u32>) -> std::io::Result<bool> {
    match fs::symlink_metadata(path) {
        Ok(meta) => holds_as(&meta, path, content, mode),
        Err(_) => Ok(false),
    }
}

/// [`holds`] for a caller that already has the file's metadata: read only when the type, mode
/// and size match.
pub(crate) fn holds_as(
    meta: &fs::Metadata,
    path: &Path,
    content: &[u8],
    mode: Option<u32>,
) -> std::io::Result<bool> {
    Ok(meta.file_type().is_file()
        && mode.is_none_or(|m| meta.permissions().mode() & 0o7777 == m)
        && meta.len() == content.len() as u64
        && fs::read(path)? == content)
}

/// Like [`write_atomic`], but leaves the file alone (mtime included) when it already has this
/// content and mode. Returns whether it wrote.
pub(crate) fn write_atomic_if_changed(
    path: &Path,
    content: &[u8],
    mode: Option<u32>,
) -> std::io::Result<bool> {
    if holds(path, content, mode)? {
        return Ok(false);
    }
    write_atomic(path, content, mode)?;
    Ok(true)
}

/// What `lstat` says of a file: enough to tell it was touched (mtime, ctime), replaced
/// (inode, dev), resized or re-moded.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Stat {
    mtime: i64,
    ctime: i64,
    size: u64,
    ino: u64,
    dev: u64,
    mode: u32,
    /// Taken through symlinks.
    followed: bool,
}

impl Stat {
    pub(crate) fn of(meta: &std::fs::Metadata) -> Stat {
        Stat {
            mtime: meta.mtime().saturating_mul(1_000_000_000).saturating_add(meta.mtime_nsec()),
            ctime: meta.ctime().saturating_mul(1_000_000_000).saturating_add(meta.ctime_nsec()),
            size: meta.size(),
            ino: meta.ino(),
            dev: meta.dev(),
            mode: meta.mode(),
            followed: false,
        }
    }

    pub(crate) fn of_raw(st: &nix::sys::stat::FileStat, followed: bool) -> Stat {
        #[allow(clippy::unnecessary_cast)] // the field types differ between targets
        Stat {
            mtime: (st.st_mtime as i64).saturating_mul(1_000_000_000).saturating_add(st.st_mtime_nsec as i64),
            ctime: (st.st_ctime as i64).saturating_mul(1_000_000_000).saturating_add(st.st_ctime_nsec as i64),
            size: st.st_size as u64,
            ino: st.st_ino as u64,
            dev: st.st_dev as u64,
            mode: st.st_mode as u32,
            followed,
        }
    }

    /// The `lstat` of `path`; `None` when there is nothing there (or it cannot be read,
    /// which never matches a recorded stat either).
    pub(crate) fn at(path: &Path) -> Option<Stat> {
        path.symlink_metadata().ok().map(|m| Stat::of(&m))
    }

    /// The `stat` of `path`, symlinks followed (a file a template reads); `None` as in [`Stat::at`].
    pub(crate) fn follow(path: &Path) -> Option<Stat> {
        path.metadata().ok().map(|m| Stat { followed: true, ..Stat::of(&m) })
    }

    /// Taken through symlinks ([`Stat::follow`]).
    pub(crate) fn followed(&self) -> bool {
        self.followed
    }

    /// `st_mode`: the file's type and permissions.
    pub(crate) fn mode(&self) -> u32 {
        self.mode
    }

    /// The modification time, in ns since the epoch.
    pub(crate) fn mtime(&self) -> i64 {
        self.mtime
    }

    /// How many bytes [`Stat::encode`] writes.
    pub(crate) const ENCODED: usize = 8 * 5 + 4;

    /// Appends the stat, little-endian (whether it was followed is the caller's to keep).
    pub(crate) fn encode(&self, out: &mut Vec<u8>) {
        for field in [self.mtime.to_le_bytes(), self.ctime.to_le_bytes()] {
            out.extend_from_slice(&field);
        }
        for field in [self.size, self.ino, self.dev] {
            out.extend_from_slice(&field.to_le_bytes());
        }
        out.extend_from_slice(&self.mode.to_le_bytes());
    }

    /// What [`Stat::encode`] wrote, from exactly [`Stat::ENCODED`] bytes.
    pub(crate) fn decode(bytes: &[u8], followed: bool) -> Option<Stat> {
        if bytes.len() != Self::ENCODED {
            return None;
        }
        let u64_at = |i: usize| u64::from_le_bytes(bytes[i..i + 8].try_into().expect("8 bytes"));
        Some(Stat {
            mtime: u64_at(0) as i64,
            ctime: u64_at(8) as i64,
            size: u64_at(16),
            ino: u64_at(24),
            dev: u64_at(32),
            mode: u32::from_le_bytes(bytes[40..44].try_into().expect("4 bytes")),
            followed,
        })
    }

    /// Changed at or after `since` (ns): racily clean, so not to be trusted.
    pub(crate) fn racy(&self, since: i64) -> bool {
        self.mtime >= since || self.ctime >= since
    }
}

/// The stat of `path` under the opened `dir`, as [`Stat::at`] or, `followed`, [`Stat::follow`].
pub(crate) fn stat_at(dir: &std::os::fd::OwnedFd, path: &std::ffi::OsStr, followed: bool) -> Option<Stat> {
    let flags =
        if followed { nix::fcntl::AtFlags::empty() } else { nix::fcntl::AtFlags::AT_SYMLINK_NOFOLLOW };
    nix::sys::stat::fstatat(dir, path, flags).ok().map(|st| Stat::of_raw(&st, followed))
}

/// Whether `path` is big enough to read on a thread of its own while the caller does
/// something else (a thread costs about what reading half a megabyte does).
pub(crate) fn worth_reading_ahead(path: &Path) -> bool {
    path.metadata().is_ok_and(|meta| meta.len() >= 512 * 1024)
}

/// A directory whose entries are looked up by name: under an opened parent when there is
/// one, so that each lookup walks one component more, not the whole path (classifying 3,000
/// stage dirs by full path was a tenth of a run with nothing to do).
pub(crate) struct DirEntries<'a> {
    path: &'a Path,
    under: Option<(std::os::fd::BorrowedFd<'a>, &'a std::ffi::OsStr)>,
}

impl<'a> DirEntries<'a> {
    /// `path`, looked into by its path.
    pub(crate) fn at(path: &'a Path) -> Self {
        DirEntries { path, under: None }
    }

    /// `path`, looked into under `parent`, the opened directory `path` is in.
    pub(crate) fn under(parent: std::os::fd::BorrowedFd<'a>, path: &'a Path) -> Self {
        let under = path.file_name().map(|name| (parent, name));
        DirEntries { path, under }
    }

    pub(crate) fn path(&self) -> &Path {
        self.path
    }

    /// The mode of the entry `name` (`st_mode`: type and permissions), symlinks followed;
    /// `None` when there is none or it cannot be looked at.
    pub(crate) fn mode(&self, name: &str) -> Option<u32> {
        use std::os::unix::fs::MetadataExt;
        match self.under {
            Some((parent, dir)) => {
                let mut rel = std::ffi::OsString::from(dir);
                rel.push("/");
                rel.push(name);
                let flags = nix::fcntl::AtFlags::empty();
                nix::sys::stat::fstatat(parent, rel.as_os_str(), flags).ok().map(|st| st.st_mode)
            }
            None => self.path.join(name).metadata().ok().map(|m| m.mode()),
        }
    }

    /// The entry `name`'s path, for messages.
    pub(crate) fn join(&self, name: &str) -> PathBuf {
        self.path.join(name)
    }
}

/// Whether `mode` (an `st_mode`) is a regular file's.
/// The length-prefixed binary encoding of betterform's caches (the stat index, the record
/// cache, the config cache): a count or a length is a `u32`, little-endian; a string is its
/// length and its bytes; a stat is a state byte (0: absent, 1: `lstat`, 2: through symlinks)
/// and, when present, [`Stat::encode`]'s bytes.
pub(crate) fn put_len(out: &mut Vec<u8>, len: usize) {
    out.extend_from_slice(&u32::try_from(len).unwrap_or(u32::MAX).to_le_bytes());
}

/// A string of the caches' encoding (see [`put_len`]).
pub(crate) fn put_bytes(out: &mut Vec<u8>, bytes: &[u8]) {
    put_len(out, bytes.len());
    out.extend_from_slice(bytes);
}

/// A stat of the caches' encoding (see [`put_len`]).
pub(crate) fn put_stat(out: &mut Vec<u8>, stat: Option<&Stat>) {
    match stat {
        None => out.push(0),
        Some(stat) => {
            out.push(if stat.followed() { 2 } else { 1 });
            stat.encode(out);
        }
    }
}

/// Reads what [`put_len`] and its siblings wrote; every read is bounds-checked (`None`: cut
/// short).
pub(crate) struct Reader<'a> {
    pub(crate) bytes: &'a [u8],
    pub(crate) at: usize,
}

impl<'a> Reader<'a> {
    pub(crate) fn take(&mut self, n: usize) -> Option<&'a [u8]> {
        let end = self.at.checked_add(n).filter(|&end| end <= self.bytes.len())?;
        let taken = &self.bytes[self.at..end];
        self.at = end;
        Some(taken)
    }

    pub(crate) fn u8(&mut self) -> Option<u8> {
        self.take(1).map(|b| b[0])
    }

    pub(crate) fn u32(&mut self) -> Option<u32> {
        self.take(4).map(|b| u32::from_le_bytes(b.try_into().expect("4 bytes")))
    }

    pub(crate) fn bytes(&mut self) -> Option<&'a [u8]> {
        let len = usize::try_from(self.u32()?).ok()?;
        self.take(len)
    }

    /// `Some(None)`: recorded absent.
    pub(crate) fn stat(&mut self) -> Option<Option<Stat>> {
        let state = self.u8()?;
        if state == 0 {
            return Some(None);
        }
        Stat::decode(self.take(Stat::ENCODED)?, state == 2).map(Some)
    }
}

pub(crate) fn is_regular(mode: u32) -> bool {
    mode & nix::libc::S_IFMT == nix::libc::S_IFREG
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::unix::fs::MetadataExt;

    #[test]
    fn a_record_is_exchanged_with_its_spare_without_new_inodes() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("sub/stage.json");
        write_record(&path, b"one", Durability::Atomic).unwrap();
        assert_eq!(fs::read(&path).unwrap(), b"one");
        write_record(&path, b"two", Durability::Durable).unwrap();
        assert_eq!(fs::read(&path).unwrap(), b"two");
        let inodes = |p: &Path| (fs::metadata(p).unwrap().ino(), fs::metadata(spare_of(p)).unwrap().ino());
        let before = inodes(&path);
        write_record(&path, b"three, longer than the spare", Durability::Atomic).unwrap();
        assert_eq!(fs::read(&path).unwrap(), b"three, longer than the spare");
        // The two files trade places: the record's inode is the old spare's and vice versa.
        assert_eq!(inodes(&path), (before.1, before.0));
        write_record(&path, b"4", Durability::Atomic).unwrap();
        assert_eq!(fs::read(&path).unwrap(), b"4", "a shorter record leaves nothing of the longer one");
        let names: Vec<_> =
            fs::read_dir(dir.path().join("sub")).unwrap().map(|e| e.unwrap().file_name()).collect();
        assert_eq!(names.len(), 2, "only the record and its spare: {names:?}");
    }

    #[test]
    fn a_streamed_record_is_cut_to_what_was_written() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("latest.json");
        // Past the writer's buffer: some writes go straight to the file.
        let long = vec![b'x'; 20_000];
        let chunks = |out: &mut dyn Write| long.chunks(7_000).try_for_each(|chunk| out.write_all(chunk));
        write_record_streamed(&path, Durability::Atomic, chunks).unwrap();
        write_record_streamed(&path, Durability::Atomic, chunks).unwrap();
        assert_eq!(fs::read(&path).unwrap(), long);
        write_record_streamed(&path, Durability::Atomic, |out| {
            out.write_all(b"short")?;
            out.write_all(b" again")
        })
        .unwrap();
        assert_eq!(fs::read(&path).unwrap(), b"short again", "the spare held the long one");
    }

    #[test]
    fn a_dir_looked_into_under_its_parent_sees_what_its_path_does() {
        let root = tempfile::tempdir().unwrap();
        let stage = root.path().join("stage");
        fs::create_dir(&stage).unwrap();
        fs::write(stage.join("ctl"), "#!/bin/sh\n").unwrap();
        fs::set_permissions(stage.join("ctl"), fs::Permissions::from_mode(0o750)).unwrap();
        fs::create_dir(stage.join("sub")).unwrap();
        std::os::unix::fs::symlink("ctl", stage.join("link")).unwrap();
        let parent =
            nix::fcntl::open(root.path(), nix::fcntl::OFlag::O_PATH, nix::sys::stat::Mode::empty()).unwrap();
        use std::os::fd::AsFd;
        for dir in [DirEntries::at(&stage), DirEntries::under(parent.as_fd(), &stage)] {
            let ctl = dir.mode("ctl").unwrap();
            assert!(is_regular(ctl) && ctl & 0o777 == 0o750, "{ctl:o}");
            assert!(!is_regular(dir.mode("sub").unwrap()), "a dir is not a regular file");
            assert_eq!(dir.mode("link"), Some(ctl), "symlinks are followed");
            assert_eq!(dir.mode("step.json"), None);
            assert_eq!(dir.join("ctl"), stage.join("ctl"));
        }
    }

    #[test]
    fn a_fifo_is_refused_without_blocking() {
        let dir = tempfile::tempdir().unwrap();
        let fifo = dir.path().join("betterform_dag.mk");
        nix::unistd::mkfifo(&fifo, nix::sys::stat::Mode::from_bits_truncate(0o644)).unwrap();
        let e = read_regular(&fifo).unwrap_err();
        assert_eq!(e.kind(), ErrorKind::InvalidInput);
        assert_eq!(e.to_string(), "it is a FIFO, not a regular file");
        let dir_err = read_regular(dir.path()).unwrap_err();
        assert_eq!(dir_err.to_string(), "it is a directory, not a regular file");
        fs::write(dir.path().join("f"), "x").unwrap();
        assert_eq!(read_regular(&dir.path().join("f")).unwrap(), b"x");
    }
}
