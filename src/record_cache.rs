//! The record cache: the stage records as the last `up` left them, each with the stat of its
//! file, in one file (`$GENFILES/.betterform/record-cache`). A record whose file stats as
//! cached, not racily (the stat index's rule, see `stamp/index.rs`: changed at or after the
//! cache was written is not trusted), is taken from the cache instead of being opened: a
//! no-op `up` of 3,000 stages spent a quarter of its time opening, reading and parsing the
//! records it had written itself. Anything else (a record changed, added, racy; no cache; a
//! cache that does not parse) reads the record file, the rule.
//!
//! ```text
//! header  "betterform record cache\n" version:u32
//! record  name:str stat:[mtime:i64 ctime:i64 size:u64 ino:u64 dev:u64 mode:u32] json:str
//! ```
//! A string is its length (`u32`, little-endian) and its bytes.

use std::collections::HashMap;
use std::ffi::OsStr;
use std::os::fd::OwnedFd;
use std::path::Path;

use crate::fsutil::{Stat, put_bytes, stat_at};

const MAGIC: &[u8] = b"betterform record cache\n";
const VERSION: u32 = 1;

/// The cache as read at the start of a run: each stage's record decoded as the file is read,
/// never held whole, each in an allocation of its own (a reader frees each record once
/// parsed, so at 10,000 stages the cache's megabytes do not come on top of the parsed
/// records).
pub(crate) struct RecordCache {
    records: HashMap<Box<str>, Cached>,
}

/// One stage's cached record.
pub(crate) struct Cached {
    stat: Stat,
    /// The cache file's mtime (ns) when read: a record changed since is racy.
    written: i64,
    bytes: Box<[u8]>,
}

impl Cached {
    /// The record's bytes, when its file `file` in `dir` stats as cached, not racily.
    pub(crate) fn check(&self, dir: &OwnedFd, file: &OsStr) -> Option<&[u8]> {
        let now = stat_at(dir, file, false)?;
        (now == self.stat && !now.racy(self.written)).then_some(&*self.bytes)
    }
}

impl RecordCache {
    /// The cache at `path`; empty when there is none or it does not parse.
    pub(crate) fn open(path: &Path) -> RecordCache {
        let written = Stat::at(path).map_or(i64::MIN, |s| s.mtime());
        let records = std::fs::File::open(path)
            .ok()
            .and_then(|file| decode(&mut std::io::BufReader::with_capacity(64 * 1024, file), written))
            .unwrap_or_default();
        RecordCache { records }
    }

    /// Stage `stage`'s cached record, whose file is `file` in `dir`, while it is valid
    /// ([`Cached::check`]).
    fn valid(&self, stage: &str, dir: &OwnedFd, file: &OsStr) -> Option<&Cached> {
        self.records.get(stage).filter(|cached| cached.check(dir, file).is_some())
    }

    /// The cached records of `stages`, in that order; the cache itself is gone.
    pub(crate) fn into_records(mut self, stages: &[&str]) -> Vec<Option<Cached>> {
        stages.iter().map(|&stage| self.records.remove(stage)).collect()
    }
}

/// Writes the cache at `path` (atomically) of the records `files` (stage, file name in
/// `dir`): each taken from `kept` when it is still valid there, else stat'ed and then read
/// (in that order: a change after the stat shows as a different stat next time). Right
/// before the file is written, so that a record changed in the same clock tick as the cache
/// is racy. A record that cannot be read is left out.
pub(crate) fn write<'a>(
    path: &Path,
    dir: &OwnedFd,
    kept: &RecordCache,
    files: impl Iterator<Item = (&'a str, &'a OsStr)>,
) -> std::io::Result<()> {
    let mut out = Vec::with_capacity(64 * 1024);
    out.extend_from_slice(MAGIC);
    out.extend_from_slice(&VERSION.to_le_bytes());
    for (stage, file) in files {
        let entry = match kept.valid(stage, dir, file) {
            Some(cached) => (cached.stat, cached.bytes.to_vec()),
            None => {
                let Some(stat) = stat_at(dir, file, false) else { continue };
                let Ok(bytes) = read_at(dir, file) else { continue };
                (stat, compact(bytes))
            }
        };
        put_bytes(&mut out, stage.as_bytes());
        entry.0.encode(&mut out);
        put_bytes(&mut out, &entry.1);
    }
    crate::fsutil::write_atomic(path, &out, None)
}

/// A record as compact JSON (the files are indented: at 10,000 stages the cache would be
/// 6.7 MB, not 4.4); bytes that are not JSON as they are.
fn compact(bytes: Vec<u8>) -> Vec<u8> {
    match serde_json::from_slice::<serde_json::Value>(&bytes) {
        Ok(value) => serde_json::to_vec(&value).unwrap_or(bytes),
        Err(_) => bytes,
    }
}

fn read_at(dir: &OwnedFd, file: &OsStr) -> std::io::Result<Vec<u8>> {
    use std::io::Read;
    let flags = nix::fcntl::OFlag::O_RDONLY | nix::fcntl::OFlag::O_CLOEXEC;
    let fd = nix::fcntl::openat(dir, file, flags, nix::sys::stat::Mode::empty())?;
    let mut bytes = Vec::new();
    std::fs::File::from(fd).read_to_end(&mut bytes)?;
    Ok(bytes)
}

/// Every record of the file; `None` when it is cut short or not a cache of this version.
fn decode(file: &mut impl std::io::Read, written: i64) -> Option<HashMap<Box<str>, Cached>> {
    let mut take = |n: usize| -> Option<Box<[u8]>> {
        let mut bytes = vec![0; n].into_boxed_slice();
        file.read_exact(&mut bytes).ok()?;
        Some(bytes)
    };
    let u32_of = |bytes: Box<[u8]>| Some(u32::from_le_bytes((*bytes).try_into().ok()?));
    if *take(MAGIC.len())? != *MAGIC || u32_of(take(4)?)? != VERSION {
        return None;
    }
    let mut records = HashMap::new();
    // The file ends where a record's length would be.
    while let Some(len) = take(4) {
        let name = String::from_utf8(take(usize::try_from(u32_of(len)?).ok()?)?.into_vec()).ok()?;
        let stat = Stat::decode(&take(Stat::ENCODED)?, false)?;
        let len = take(4)?;
        let bytes = take(usize::try_from(u32_of(len)?).ok()?)?;
        records.insert(name.into_boxed_str(), Cached { stat, written, bytes });
    }
    Some(records)
}

#[cfg(test)]
mod tests {
    use std::os::fd::OwnedFd;
    use std::path::PathBuf;
    use std::time::{Duration, SystemTime};

    use super::*;

    fn open_dir(dir: &Path) -> OwnedFd {
        let flags = nix::fcntl::OFlag::O_PATH | nix::fcntl::OFlag::O_DIRECTORY;
        nix::fcntl::open(dir, flags, nix::sys::stat::Mode::empty()).unwrap()
    }

    fn set_mtime(path: &Path, t: SystemTime) {
        std::fs::File::options().write(true).open(path).unwrap().set_modified(t).unwrap();
    }

    /// Two records, `a` and `b`, cached with their files a second older than the cache.
    fn cached(root: &Path) -> (PathBuf, OwnedFd) {
        let records = root.join("state");
        std::fs::create_dir(&records).unwrap();
        let past = SystemTime::now() - Duration::from_secs(5);
        for (stage, text) in [("a", "{\"generation\":1}"), ("b", "{\"generation\":2}")] {
            let file = records.join(format!("{stage}.json"));
            std::fs::write(&file, text).unwrap();
            set_mtime(&file, past);
        }
        let dir = open_dir(&records);
        let cache = root.join("record-cache");
        let names =
            [("a", OsStr::new("a.json")), ("b", OsStr::new("b.json")), ("gone", OsStr::new("gone.json"))];
        write(&cache, &dir, &RecordCache::open(&cache), names.into_iter()).unwrap();
        // Written well after the records changed: not racy (a test that wants racy says so).
        set_mtime(&cache, SystemTime::now() + Duration::from_secs(5));
        (cache, dir)
    }

    #[test]
    fn a_record_that_stats_as_cached_is_served_and_one_that_does_not_is_not() {
        let root = tempfile::tempdir().unwrap();
        let (cache, dir) = cached(root.path());
        let loaded = RecordCache::open(&cache);
        assert_eq!(
            loaded.valid("a", &dir, OsStr::new("a.json")).map(|c| &*c.bytes),
            Some(&b"{\"generation\":1}"[..])
        );
        assert_eq!(
            loaded.valid("gone", &dir, OsStr::new("gone.json")).map(|c| &*c.bytes),
            None,
            "no file, no entry"
        );
        // Rewritten in place, same size, mtime put back: the ctime still tells.
        let b = root.path().join("state/b.json");
        let mtime = b.metadata().unwrap().modified().unwrap();
        std::fs::write(&b, "{\"generation\":3}").unwrap();
        set_mtime(&b, mtime);
        assert_eq!(loaded.valid("b", &dir, OsStr::new("b.json")).map(|c| &*c.bytes), None);
        // Rewriting the cache reads what changed and keeps the rest.
        let names = [("a", OsStr::new("a.json")), ("b", OsStr::new("b.json"))];
        write(&cache, &dir, &loaded, names.into_iter()).unwrap();
        set_mtime(&cache, SystemTime::now() + Duration::from_secs(5));
        let again = RecordCache::open(&cache);
        assert_eq!(
            again.valid("b", &dir, OsStr::new("b.json")).map(|c| &*c.bytes),
            Some(&b"{\"generation\":3}"[..])
        );
        assert_eq!(
            again.valid("a", &dir, OsStr::new("a.json")).map(|c| &*c.bytes),
            Some(&b"{\"generation\":1}"[..])
        );
    }

    #[test]
    fn a_record_changed_in_the_same_tick_as_the_cache_was_written_is_not_trusted() {
        let root = tempfile::tempdir().unwrap();
        let (cache, dir) = cached(root.path());
        // The cache written no later than the record last changed (its ctime): racy.
        let ctime = {
            use std::os::unix::fs::MetadataExt;
            let meta = root.path().join("state/a.json").metadata().unwrap();
            SystemTime::UNIX_EPOCH + Duration::new(meta.ctime() as u64, meta.ctime_nsec() as u32)
        };
        set_mtime(&cache, ctime);
        assert_eq!(RecordCache::open(&cache).valid("a", &dir, OsStr::new("a.json")).map(|c| &*c.bytes), None);
    }

    #[test]
    fn a_cache_cut_short_or_of_another_version_is_empty() {
        let root = tempfile::tempdir().unwrap();
        let (cache, dir) = cached(root.path());
        let bytes = std::fs::read(&cache).unwrap();
        std::fs::write(&cache, &bytes[..bytes.len() - 3]).unwrap();
        assert!(RecordCache::open(&cache).records.is_empty());
        let mut other = bytes.clone();
        other[MAGIC.len()] = 9;
        std::fs::write(&cache, other).unwrap();
        assert!(
            RecordCache::open(&cache).valid("a", &dir, OsStr::new("a.json")).map(|c| &*c.bytes).is_none()
        );
        std::fs::write(&cache, bytes).unwrap();
        assert_eq!(RecordCache::open(&cache).records.len(), 2);
    }
}
