//! The stat index: what each stage's last render consumed, with the stat data of every file,
//! the way git's index keeps the working tree's (issue 22). A stage whose consumed files all
//! stat the same, whose render key (config, environment, delimiters, DAG, working dir) is the
//! same, and whose record says up on that render's digest, renders byte-identically: `up` and
//! `plan` skip rendering, hashing and reading it. Any difference falls back to the content
//! comparison, which is the rule; the index only ever saves work it can prove redundant.
//!
//! Racy timestamps, git's answer: a file changed within the clock granularity of the moment
//! its stat was taken can keep its mtime. An entry whose mtime or ctime is not older than
//! the index file's own mtime is treated as changed (the stage takes the content path, and
//! the rewritten index settles it).
//!
//! The file (`$GENFILES/.betterform/index`) is binary and compact, read whole and decoded one
//! stage at a time, when that stage is checked: a header, then one record per stage. Every
//! number is little-endian; a string is its length (`u32`) and its bytes.
//!
//! ```text
//! header   "betterform stat index\n" version:u32
//! record   length:u32 (of what follows) name key stamp kind:u8
//!          files:u32 { base:u8 path state:u8 [mtime:i64 ctime:i64 size:u64 ino:u64 dev:u64 mode:u32] }
//!          env:u32 { name set:u8 [value-digest] } all-env:u8 [digest]
//! ```
//!
//! A file's `base` is 0 when its path is as the render saw it (absolute, or relative to the
//! working dir, which is part of the key), 1 when it is relative to the stage's template dir,
//! 2 to its stamped dir (the dir itself: an empty path). Those are stat'ed with `fstatat`
//! as `<stage>/<path>` relative to the opened impl dir or GENFILES (opened once per run):
//! two path components looked up, not the whole path, and no open per stage. `state` is
//! 0 for a file that was absent, 1 for an `lstat`, 2 for a `stat` through symlinks. `kind`
//! is the stage's kind (its index among the kinds; 255: none recorded): while the template
//! dir's files stat as recorded, the stage is that kind without looking ([`Index::kind`]).

use std::collections::{BTreeMap, BTreeSet, HashMap, HashSet};
use std::ffi::OsStr;
use std::io::Write;
use std::os::fd::OwnedFd;
use std::os::unix::ffi::OsStrExt;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, RwLock};

use nix::fcntl::OFlag;
use nix::sys::stat::Mode;

use super::tree::TIMEOUT_FILE;
use crate::fsutil::{Reader, put_bytes, put_len, put_stat};
pub(crate) use crate::fsutil::{Stat, stat_at};

/// A file a render consumed and its stat when it was (about to be) read; `None`: absent.
pub(crate) type Seen = (PathBuf, Option<Stat>);

/// What a render read besides its templates.
#[derive(Debug, Default)]
pub(crate) struct Consumed {
    /// Files read or looked for, each with its stat before.
    pub(crate) files: Vec<Seen>,
    /// Environment variables looked up.
    pub(crate) env: BTreeSet<String>,
    /// Went through every environment variable.
    pub(crate) all_env: bool,
}

/// One stage's last render: its key, the digest of the image it produced, what it consumed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Entry {
    pub(crate) key: String,
    pub(crate) stamp: String,
    /// The stage's kind (see [`Index::kind`]).
    pub(crate) kind: usize,
    /// The stage's template dir and stamped dir: the files under them are kept relative.
    pub(crate) dirs: [PathBuf; 2],
    pub(crate) files: Vec<Seen>,
    /// The environment variables the render looked up, and a hash of each value (`None`:
    /// unset): a value may be a secret, never written down.
    pub(crate) env: Vec<(String, Option<String>)>,
    /// The whole environment's [`env_digest`], when the render went through all of it.
    pub(crate) all_env: Option<String>,
}

/// What the index proves of a stage: rendering it now would give the image `stamp`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Fresh {
    pub(crate) stamp: String,
    /// Its template dir holds no time limit file (the dir is as it was, and had none).
    pub(crate) no_time_limit: bool,
}

/// A hash of one environment value, as the index keeps it.
pub(crate) fn value_digest(value: &str) -> String {
    blake3::hash(value.as_bytes()).to_hex().to_string()
}

/// A hash of a whole environment.
pub(crate) fn env_digest(env: &BTreeMap<String, String>) -> String {
    let mut hasher = blake3::Hasher::new();
    for (name, value) in env {
        for field in [name, value] {
            hasher.update(&(field.len() as u64).to_le_bytes());
            hasher.update(field.as_bytes());
        }
    }
    hasher.finalize().to_hex().to_string()
}

const MAGIC: &[u8] = b"betterform stat index\n";
const VERSION: u32 = 4;
const FILE_NAME: &str = "index";

/// The index of a state dir, loaded once per run; changes are written by [`Index::save`].
pub(crate) struct Index {
    path: PathBuf,
    /// The file as read: records are decoded from it when checked.
    bytes: Vec<u8>,
    /// Where each stage's record is in `bytes`.
    records: HashMap<Box<str>, Span>,
    /// The index file's mtime (ns) when loaded: entries changed since are racy.
    written: i64,
    changes: Mutex<Changes>,
    /// The dirs holding the stage dirs, opened: see [`Index::parent_fd`].
    parents: RwLock<Vec<(PathBuf, Option<Arc<OwnedFd>>)>>,
}

/// A stage's record in the loaded file (from its name, to its end).
struct Span {
    start: usize,
    end: usize,
    /// Its template dir's files were found to stat as recorded ([`Index::kind`]): the check
    /// is not repeated for [`Index::fresh`].
    template_proven: std::sync::atomic::AtomicBool,
}

/// This run's records, streamed into the next index as they come (not held: at 10,000
/// stages they are megabytes).
#[derive(Default)]
struct Changes {
    /// The stages recorded or forgotten: their loaded records are not carried over.
    touched: HashSet<String>,
    /// The next index, begun at the first record: a temp file beside it.
    next: Option<std::io::BufWriter<tempfile::NamedTempFile>>,
    /// A record differs from the loaded one (or was racy, or a loaded one was forgotten).
    changed: bool,
    /// The next index could not be written: it is not saved (never unsafe: a missing or
    /// older entry only costs its stage the content path).
    failed: bool,
}

impl Index {
    /// Where the index of `state_dir` is.
    pub(crate) fn path(state_dir: &Path) -> PathBuf {
        state_dir.join(FILE_NAME)
    }

    /// The index under `state_dir`; empty when there is none or it does not parse.
    pub(crate) fn open(state_dir: &Path) -> Index {
        let path = Index::path(state_dir);
        let written = Stat::at(&path).map_or(i64::MIN, |s| s.mtime());
        let bytes = std::fs::read(&path).unwrap_or_default();
        let records = Reader::records(&bytes).unwrap_or_default();
        Index { path, bytes, records, written, changes: Mutex::default(), parents: RwLock::default() }
    }

    /// `dir` opened to stat what is under it, once per run (`None`: not a directory).
    fn parent_fd(&self, dir: &Path) -> Option<Arc<OwnedFd>> {
        if let Some((_, fd)) =
            self.parents.read().expect("no panics while holding the lock").iter().find(|(d, _)| d == dir)
        {
            return fd.clone();
        }
        let flags = OFlag::O_PATH | OFlag::O_DIRECTORY | OFlag::O_CLOEXEC;
        let fd = nix::fcntl::open(dir, flags, Mode::empty()).ok().map(Arc::new);
        self.parents.write().expect("no panics while holding the lock").push((dir.to_path_buf(), fd.clone()));
        fd
    }

    fn loaded(&self, stage: &str) -> Option<&[u8]> {
        self.records.get(stage).map(|span| &self.bytes[span.start..span.end])
    }

    /// What the index proves of `stage`, whose template and stamped dirs are `dirs`: its last
    /// render had key `key`, the environment variables it read have the same values in `env`
    /// (whose [`env_digest`] is `env_digest`), and every file it consumed stats as it did
    /// then, not racily: rendering it now would give that image.
    pub(crate) fn fresh(
        &self,
        stage: &str,
        dirs: [&Path; 2],
        key: &str,
        (env, env_digest): (&BTreeMap<String, String>, &str),
    ) -> Option<Fresh> {
        let span = self.records.get(stage)?;
        let template_proven = span.template_proven.load(std::sync::atomic::Ordering::Relaxed);
        let mut r = Reader { bytes: &self.bytes[..span.end], at: span.start };
        r.bytes()?; // the name
        if r.bytes()? != key.as_bytes() {
            return None;
        }
        let stamp = std::str::from_utf8(r.bytes()?).ok()?.to_string();
        r.u8()?; // the kind
        // Each dir's parent (the impl dir, GENFILES), opened once per run: a file under a
        // stage dir is stat'ed as `<stage>/<path>` relative to it.
        let mut parents = Vec::with_capacity(2);
        for dir in dirs {
            parents.push((self.parent_fd(dir.parent()?)?, dir.file_name()?.as_bytes()));
        }
        let mut at = Vec::with_capacity(64);
        let mut no_time_limit = true;
        for _ in 0..r.u32()? {
            let (base, path, seen) = r.file()?;
            let followed = seen.is_some_and(|s| s.followed());
            let now = match base {
                0 => {
                    let path = Path::new(OsStr::from_bytes(path));
                    if followed { Stat::follow(path) } else { Stat::at(path) }
                }
                1 | 2 => {
                    let (parent, name) = &parents[usize::from(base - 1)];
                    no_time_limit &= !(base == 1 && path == TIMEOUT_FILE.as_bytes());
                    if base == 1 && template_proven {
                        continue;
                    }
                    stat_under(parent, name, path, followed, &mut at)
                }
                _ => return None,
            };
            if now != seen || now.is_some_and(|s| s.racy(self.written)) {
                return None;
            }
        }
        for _ in 0..r.u32()? {
            let name = std::str::from_utf8(r.bytes()?).ok()?;
            let value = r.optional()?;
            if env.get(name).map(|v| value_digest(v)).as_deref().map(str::as_bytes) != value {
                return None;
            }
        }
        if let Some(digest) = r.optional()?
            && digest != env_digest.as_bytes()
        {
            return None;
        }
        Some(Fresh { stamp, no_time_limit })
    }

    /// The kind recorded for `stage`, whose template dir is `dir`, while every file recorded
    /// under that dir stats as it did then, not racily: the dir holds the same entries (its
    /// own stat), and none of its top-level entries is a symlink (whose target could change
    /// kind unseen). `None`: classify it.
    pub(crate) fn kind(&self, stage: &str, dir: &Path) -> Option<usize> {
        let span = self.records.get(stage)?;
        let mut r = Reader { bytes: &self.bytes[..span.end], at: span.start };
        for _ in 0..3 {
            r.bytes()?; // name, key, stamp
        }
        let kind = r.u8()?;
        if kind == u8::MAX {
            return None;
        }
        // Proven already this run ([`Index::prove_kinds`]).
        if span.template_proven.load(std::sync::atomic::Ordering::Relaxed) {
            return Some(usize::from(kind));
        }
        let parent = self.parent_fd(dir.parent()?)?;
        let name = dir.file_name()?.as_bytes();
        let mut at = Vec::with_capacity(64);
        let mut saw_dir = false;
        for _ in 0..r.u32()? {
            let (base, path, seen) = r.file()?;
            if base != 1 {
                continue;
            }
            let type_is = |t: u32| seen.is_some_and(|s| s.mode() & nix::libc::S_IFMT == t);
            if path.is_empty() {
                saw_dir = type_is(nix::libc::S_IFDIR);
            } else if !path.contains(&b'/') && type_is(nix::libc::S_IFLNK) {
                return None;
            }
            let now = stat_under(&parent, name, path, seen.is_some_and(|s| s.followed()), &mut at);
            if now != seen || now.is_some_and(|s| s.racy(self.written)) {
                return None;
            }
        }
        if !saw_dir {
            return None;
        }
        span.template_proven.store(true, std::sync::atomic::Ordering::Relaxed);
        Some(usize::from(kind))
    }

    /// [`Index::kind`] of every stage the index holds, its template dir under `impl_dir`, on
    /// every core: run while the DAG file is parsed, so that classifying the DAG's stages
    /// then costs no `stat`. A stage the DAG no longer has costs its `stat`s for nothing.
    pub(crate) fn prove_kinds(&self, impl_dir: &Path) {
        use rayon::prelude::*;
        let stages: Vec<&str> = self.records.keys().map(|stage| &**stage).collect();
        stages.into_par_iter().for_each(|stage| {
            // A name that is not one path component was not written by betterform.
            if !stage.is_empty() && !stage.contains('/') && stage != "." && stage != ".." {
                self.kind(stage, &impl_dir.join(stage));
            }
        });
    }

    /// Records `stage`'s render (written by [`Index::save`] when it differs from the loaded one).
    pub(crate) fn record(&self, stage: &str, entry: &Entry) {
        let racy = entry.files.iter().any(|(_, s)| s.is_some_and(|s| s.racy(self.written)));
        let encoded = encode(stage, entry);
        let differs = racy || self.loaded(stage) != Some(&encoded[4..]);
        let mut changes = self.changes.lock().expect("no panics while holding the lock");
        changes.changed |= differs;
        changes.touched.insert(stage.to_string());
        if changes.failed {
            return;
        }
        if changes.next.is_none() {
            match self.begin() {
                Ok(next) => changes.next = Some(next),
                Err(_) => {
                    changes.failed = true;
                    return;
                }
            }
        }
        let next = changes.next.as_mut().expect("begun");
        if next.write_all(&encoded).is_err() {
            changes.failed = true;
        }
    }

    /// A temp file beside the index, its header written.
    fn begin(&self) -> std::io::Result<std::io::BufWriter<tempfile::NamedTempFile>> {
        let dir = self.path.parent().expect("the index is under the state dir");
        std::fs::create_dir_all(dir)?;
        let tmp = tempfile::Builder::new().prefix(".betterform-tmp-").tempfile_in(dir)?;
        let mut next = std::io::BufWriter::new(tmp);
        next.write_all(MAGIC)?;
        next.write_all(&VERSION.to_le_bytes())?;
        Ok(next)
    }

    /// Forgets `stage`'s entry: its next run takes the content path.
    pub(crate) fn forget(&self, stage: &str) {
        let mut changes = self.changes.lock().expect("no panics while holding the lock");
        changes.changed |= self.records.contains_key(stage);
        changes.touched.insert(stage.to_string());
    }

    /// Writes the index when a stage's entry changed, or when one was racy (rewriting settles
    /// it: the new file is younger than every stat in it). A recorded stage that is then
    /// forgotten is not expected; its record would stay.
    pub(crate) fn save(mut self) -> std::io::Result<()> {
        let changes = std::mem::take(self.changes.get_mut().expect("no panics while holding the lock"));
        if !changes.changed || changes.failed {
            return Ok(());
        }
        let mut next = match changes.next {
            Some(next) => next,
            None => self.begin()?,
        };
        for (stage, span) in &self.records {
            if !changes.touched.contains(&**stage) {
                next.write_all(&u32::try_from(span.end - span.start).unwrap_or(u32::MAX).to_le_bytes())?;
                next.write_all(&self.bytes[span.start..span.end])?;
            }
        }
        let tmp = next.into_inner().map_err(|e| e.into_error())?;
        tmp.persist(&self.path).map_err(|e| e.error)?;
        // The JSON index of earlier versions, superseded.
        let dir = self.path.parent().expect("the index is under the state dir");
        let _ = std::fs::remove_file(dir.join("index.json"));
        Ok(())
    }
}

/// The stat of `<dir>/<path>` (`path` empty: the dir itself) under the opened `parent`,
/// the path built in `at`.
fn stat_under(parent: &OwnedFd, dir: &[u8], path: &[u8], followed: bool, at: &mut Vec<u8>) -> Option<Stat> {
    at.clear();
    at.extend_from_slice(dir);
    if !path.is_empty() {
        at.push(b'/');
        at.extend_from_slice(path);
    }
    stat_at(parent, OsStr::from_bytes(at), followed)
}

/// A stage's record as the file keeps it, its length first.
fn encode(stage: &str, entry: &Entry) -> Vec<u8> {
    let mut out = Vec::with_capacity(256 + entry.files.len() * 80);
    out.extend_from_slice(&[0; 4]);
    let string = put_bytes;
    string(&mut out, stage.as_bytes());
    string(&mut out, entry.key.as_bytes());
    string(&mut out, entry.stamp.as_bytes());
    out.push(u8::try_from(entry.kind).unwrap_or(u8::MAX));
    put_len(&mut out, entry.files.len());
    for (path, stat) in &entry.files {
        let (base, rel) = match entry.dirs.iter().position(|dir| path.starts_with(dir)) {
            Some(i) => (i as u8 + 1, path.strip_prefix(&entry.dirs[i]).expect("starts with it")),
            None => (0, path.as_path()),
        };
        out.push(base);
        string(&mut out, rel.as_os_str().as_bytes());
        put_stat(&mut out, stat.as_ref());
    }
    put_len(&mut out, entry.env.len());
    for (name, value) in &entry.env {
        string(&mut out, name.as_bytes());
        match value {
            None => out.push(0),
            Some(value) => {
                out.push(1);
                string(&mut out, value.as_bytes());
            }
        }
    }
    match &entry.all_env {
        None => out.push(0),
        Some(digest) => {
            out.push(1);
            string(&mut out, digest.as_bytes());
        }
    }
    let len = u32::try_from(out.len() - 4).unwrap_or(u32::MAX);
    out[..4].copy_from_slice(&len.to_le_bytes());
    out
}

/// Decodes the file; every read is bounds-checked (`None`: cut short or not an index).
/// The index's reads: where each stage's record is, and the parts of a record the
/// shared encoding ([`Reader`]) has no name for.
impl<'a> Reader<'a> {
    /// Where each stage's record is; `None` when the file is not an index of this version.
    fn records(bytes: &[u8]) -> Option<HashMap<Box<str>, Span>> {
        let body = bytes.strip_prefix(MAGIC)?;
        let mut r = Reader { bytes, at: bytes.len() - body.len() };
        if r.u32()? != VERSION {
            return None;
        }
        let mut records = HashMap::new();
        while r.at < bytes.len() {
            let len = usize::try_from(r.u32()?).ok()?;
            let start = r.at;
            let end = start.checked_add(len).filter(|&end| end <= bytes.len())?;
            let name = std::str::from_utf8(r.bytes()?).ok()?;
            let template_proven = std::sync::atomic::AtomicBool::new(false);
            records.insert(name.into(), Span { start, end, template_proven });
            r.at = end;
        }
        Some(records)
    }

    /// A flag byte, then a string when it is set.
    fn optional(&mut self) -> Option<Option<&'a [u8]>> {
        match self.u8()? {
            0 => Some(None),
            _ => self.bytes().map(Some),
        }
    }

    /// A consumed file: its base, its path and its stat.
    fn file(&mut self) -> Option<(u8, &'a [u8], Option<Stat>)> {
        Some((self.u8()?, self.bytes()?, self.stat()?))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn entry(dir: &Path) -> Entry {
        let template = dir.join("t");
        let stamped = dir.join("g");
        std::fs::create_dir_all(&template).unwrap();
        std::fs::create_dir_all(&stamped).unwrap();
        std::fs::write(template.join("a.txt"), "a").unwrap();
        std::fs::write(stamped.join("a.txt"), "a").unwrap();
        std::fs::write(dir.join("input"), "i").unwrap();
        let files = [template.clone(), template.join("a.txt"), stamped.clone(), stamped.join("a.txt")]
            .into_iter()
            .map(|p| {
                let s = Stat::at(&p);
                (p, s)
            })
            .chain([(dir.join("input"), Stat::follow(&dir.join("input"))), (dir.join("absent"), None)])
            .collect();
        Entry {
            key: "k".into(),
            stamp: "s".into(),
            kind: 0,
            dirs: [template, stamped],
            files,
            env: vec![("HOME".into(), Some(value_digest("/root"))), ("UNSET".into(), None)],
            all_env: None,
        }
    }

    #[test]
    fn a_saved_entry_proves_its_stage_until_a_file_changes() {
        let tmp = tempfile::tempdir().unwrap();
        let entry = entry(tmp.path());
        let index = Index::open(&tmp.path().join("state"));
        index.record("one", &entry);
        index.save().unwrap();
        // Made older than every stat in it, as a later run would see it.
        let state = tmp.path().join("state");
        age_stats(&state.join(FILE_NAME));
        let env: BTreeMap<String, String> = [("HOME".to_string(), "/root".to_string())].into();
        let dirs = [entry.dirs[0].as_path(), entry.dirs[1].as_path()];
        let index = Index::open(&state);
        let fresh = index.fresh("one", dirs, "k", (&env, "d"));
        assert_eq!(fresh, Some(Fresh { stamp: "s".into(), no_time_limit: true }));
        assert_eq!(index.fresh("one", dirs, "other key", (&env, "d")), None);
        assert_eq!(index.fresh("two", dirs, "k", (&env, "d")), None);
        let other: BTreeMap<String, String> = [("HOME".to_string(), "/home".to_string())].into();
        assert_eq!(index.fresh("one", dirs, "k", (&other, "d")), None);
        std::fs::write(tmp.path().join("absent"), "now here").unwrap();
        assert_eq!(index.fresh("one", dirs, "k", (&env, "d")), None);
    }

    /// Makes the index file at `path` newer than every stat recorded in it, as a later run
    /// sees it (so none is racy).
    fn age_stats(path: &Path) {
        std::thread::sleep(std::time::Duration::from_millis(20));
        std::fs::File::options()
            .write(true)
            .open(path)
            .unwrap()
            .set_modified(std::time::SystemTime::now())
            .unwrap();
    }

    #[test]
    fn untouched_records_are_carried_over_and_forgotten_ones_dropped() {
        let tmp = tempfile::tempdir().unwrap();
        let entry = entry(tmp.path());
        let index = Index::open(tmp.path());
        for stage in ["one", "two", "three"] {
            index.record(stage, &entry);
        }
        index.save().unwrap();
        let names = || {
            let bytes = std::fs::read(tmp.path().join(FILE_NAME)).unwrap();
            let mut names: Vec<String> =
                Reader::records(&bytes).unwrap().into_keys().map(String::from).collect();
            names.sort();
            names
        };
        assert_eq!(names(), ["one", "three", "two"]);
        let index = Index::open(tmp.path());
        index.forget("two");
        index.record("four", &entry);
        index.save().unwrap();
        assert_eq!(names(), ["four", "one", "three"]);
        // Nothing changed: not rewritten (not even racily: the stats are older than the file).
        let path = tmp.path().join(FILE_NAME);
        age_stats(&path);
        let before = Stat::at(&path);
        let index = Index::open(tmp.path());
        index.record("one", &entry);
        index.save().unwrap();
        assert_eq!(Stat::at(&path), before);
        assert_eq!(
            std::fs::read_dir(tmp.path())
                .unwrap()
                .filter(|e| {
                    e.as_ref().unwrap().file_name().to_string_lossy().starts_with(".betterform-tmp-")
                })
                .count(),
            0,
            "the unused next index is removed"
        );
    }

    #[test]
    fn a_cut_or_foreign_file_is_an_empty_index() {
        let tmp = tempfile::tempdir().unwrap();
        let index = Index::open(tmp.path());
        index.record("one", &entry(tmp.path()));
        index.save().unwrap();
        let bytes = std::fs::read(tmp.path().join(FILE_NAME)).unwrap();
        assert_eq!(Reader::records(&bytes).map(|r| r.len()), Some(1));
        assert!(Reader::records(&bytes[..bytes.len() - 1]).is_none());
        assert!(Reader::records(b"{\"version\":2}").is_none());
    }
}
