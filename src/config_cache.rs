//! The config cache: the last jsonnet evaluation's result, kept with what it depended on
//! (`$GENFILES/.betterform/config-cache`), so that a run whose config inputs did not change
//! does not evaluate again (issue 22). Large configs take the embedded engine hundreds of
//! milliseconds; even a one-line config costs a run a quarter of a millisecond of engine
//! start.
//!
//! What an evaluation depends on is of two kinds:
//! - its **inputs**, hashed into the cache's key: the config file's path, the working dir, the
//!   environment (`std.extVar('env')`, `JSONNET_PATH`), the external variables and top-level
//!   arguments (values, or the paths of their `-file` forms), the `-J` dirs, `--max-stack`,
//!   and this build of betterform;
//! - the **files** it read or looked for: the config file, every file imported (`import`,
//!   `importstr`, `importbin`), every candidate an import looked for before the one found
//!   (absent ones too: a file that appears earlier in the search order is seen), and the
//!   files of `--ext-str-file`/`--tla-str-file`, each with its `stat` (through symlinks, as
//!   the engine opens them) taken before it was read.
//!
//! The cached result is used when the key is the same and every file stats as recorded, not
//! racily (the stat index's rule, `stamp/index.rs`: a file changed at or after the moment the
//! cache was written is not trusted). Anything else evaluates, the rule. An evaluation that
//! read something other than a regular file (a FIFO) is not cached. Only commands holding the
//! run lock write the cache; every command that evaluates the config reads it. Deleting it is
//! safe. `std.trace` messages are printed by an evaluation only, not by a cached result.
//!
//! ```text
//! header  "betterform config cache\n" version:u32 key:str
//! files   count:u32 { path:str stat }
//! config  text:str
//! ```
//! In the encoding of `fsutil::put_len`: a string is its length (`u32`, little-endian) and its
//! bytes, a stat a state byte (0: absent, 2: through symlinks) and [`Stat::encode`]'s bytes.

use std::ffi::OsStr;
use std::os::unix::ffi::OsStrExt;
use std::path::{Path, PathBuf};

use crate::fsutil::{Durability, Reader, Stat, put_bytes, put_len, put_stat};

const MAGIC: &[u8] = b"betterform config cache\n";
const VERSION: u32 = 1;

/// A file an evaluation read or looked for, with its stat before (`None`: absent).
pub(crate) type Seen = (PathBuf, Option<Stat>);

/// Where the cache of a state dir is.
pub(crate) fn path(state_dir: &Path) -> PathBuf {
    state_dir.join("config-cache")
}

/// The key of an evaluation's inputs: each field length-prefixed, then hashed.
pub(crate) struct Key(blake3::Hasher);

impl Key {
    pub(crate) fn new() -> Key {
        let mut key = Key(blake3::Hasher::new());
        key.field(env!("CARGO_PKG_VERSION").as_bytes());
        key
    }

    pub(crate) fn field(&mut self, bytes: &[u8]) -> &mut Key {
        self.0.update(&(bytes.len() as u64).to_le_bytes());
        self.0.update(bytes);
        self
    }

    pub(crate) fn path(&mut self, path: &Path) -> &mut Key {
        self.field(path.as_os_str().as_bytes())
    }

    pub(crate) fn finish(&self) -> String {
        self.0.finalize().to_hex().to_string()
    }
}

/// The config text the cache at `path` holds for `key`, when every file it depended on stats
/// as recorded, not racily.
pub(crate) fn lookup(path: &Path, key: &str) -> Option<String> {
    let written = Stat::at(path)?.mtime();
    let bytes = crate::fsutil::read_regular(path).ok()?;
    let mut r = Reader { bytes: &bytes, at: 0 };
    if r.take(MAGIC.len())? != MAGIC || r.u32()? != VERSION || r.bytes()? != key.as_bytes() {
        return None;
    }
    for _ in 0..r.u32()? {
        let file = Path::new(OsStr::from_bytes(r.bytes()?));
        let seen = r.stat()?;
        let now = Stat::follow(file);
        if now != seen || now.is_some_and(|s| s.racy(written)) {
            return None;
        }
    }
    let text = String::from_utf8(r.bytes()?.to_vec()).ok()?;
    (r.at == bytes.len()).then_some(text)
}

/// Keeps `text` as the result of the evaluation of `key`, which read `files`.
pub(crate) fn store(path: &Path, key: &str, files: &[Seen], text: &str) -> std::io::Result<()> {
    let mut out = Vec::with_capacity(text.len() + 64 * files.len() + 128);
    out.extend_from_slice(MAGIC);
    out.extend_from_slice(&VERSION.to_le_bytes());
    put_bytes(&mut out, key.as_bytes());
    put_len(&mut out, files.len());
    for (file, seen) in files {
        put_bytes(&mut out, file.as_os_str().as_bytes());
        put_stat(&mut out, seen.as_ref());
    }
    put_bytes(&mut out, text.as_bytes());
    crate::fsutil::write_record(path, &out, Durability::Atomic)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn seen(path: &Path) -> Seen {
        (path.to_path_buf(), Stat::follow(path))
    }

    fn set_mtime(path: &Path, t: std::time::SystemTime) {
        std::fs::File::options().write(true).open(path).unwrap().set_modified(t).unwrap();
    }

    /// As if the cache had been written a minute after everything so far: nothing is racy.
    fn written_later(cache: &Path) {
        set_mtime(cache, std::time::SystemTime::now() + std::time::Duration::from_secs(60));
    }

    #[test]
    fn a_result_is_used_while_its_key_and_files_are_unchanged() {
        let dir = tempfile::tempdir().unwrap();
        let [config, lib, absent] = ["c.jsonnet", "l.libsonnet", "x"].map(|name| dir.path().join(name));
        let t0 = std::time::SystemTime::now() - std::time::Duration::from_secs(60);
        for file in [&config, &lib] {
            std::fs::write(file, "{}").unwrap();
            set_mtime(file, t0);
        }
        let cache = path(dir.path());
        let files = [seen(&config), seen(&lib), seen(&absent)];
        store(&cache, "k", &files, "{\"a\": 1}\n").unwrap();
        written_later(&cache);
        assert_eq!(lookup(&cache, "k").as_deref(), Some("{\"a\": 1}\n"));
        assert_eq!(lookup(&cache, "other key"), None, "other inputs");
        // A file that was absent appears: a candidate of an import earlier in the search order.
        std::fs::write(&absent, "").unwrap();
        assert_eq!(lookup(&cache, "k"), None);
        std::fs::remove_file(&absent).unwrap();
        assert!(lookup(&cache, "k").is_some());
        // Rewritten with the same size and mtime: the ctime differs.
        std::fs::write(&lib, "[]").unwrap();
        set_mtime(&lib, t0);
        assert_eq!(lookup(&cache, "k"), None);
    }

    #[test]
    fn a_file_changed_in_the_tick_the_cache_was_written_is_not_trusted() {
        let dir = tempfile::tempdir().unwrap();
        let config = dir.path().join("c.jsonnet");
        std::fs::write(&config, "{}").unwrap();
        let cache = path(dir.path());
        store(&cache, "k", &[seen(&config)], "{}\n").unwrap();
        written_later(&cache);
        assert!(lookup(&cache, "k").is_some());
        // The file was written after (or in the same tick as) the cache: racy.
        set_mtime(&cache, std::time::SystemTime::now() - std::time::Duration::from_secs(60));
        assert_eq!(lookup(&cache, "k"), None);
    }

    #[test]
    fn a_cache_cut_short_or_of_another_version_is_not_used() {
        let dir = tempfile::tempdir().unwrap();
        let cache = path(dir.path());
        store(&cache, "k", &[], "{}\n").unwrap();
        assert!(lookup(&cache, "k").is_some());
        let bytes = std::fs::read(&cache).unwrap();
        std::fs::write(&cache, &bytes[..bytes.len() - 1]).unwrap();
        assert_eq!(lookup(&cache, "k"), None);
        let mut other = bytes.clone();
        other[MAGIC.len()] ^= 1;
        std::fs::write(&cache, &other).unwrap();
        assert_eq!(lookup(&cache, "k"), None);
    }
}
