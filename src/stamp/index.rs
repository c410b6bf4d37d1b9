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

use std::collections::{BTreeMap, BTreeSet};
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};
use std::sync::Mutex;

use serde::{Deserialize, Serialize};

/// What `lstat` says of a file: enough to tell it was touched (mtime, ctime), replaced
/// (inode, dev), resized or re-moded.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub(crate) struct Stat {
    mtime: i64,
    ctime: i64,
    size: u64,
    ino: u64,
    dev: u64,
    mode: u32,
    /// Taken through symlinks.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
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

    /// The `lstat` of `path`; `None` when there is nothing there (or it cannot be read,
    /// which never matches a recorded stat either).
    pub(crate) fn at(path: &Path) -> Option<Stat> {
        path.symlink_metadata().ok().map(|m| Stat::of(&m))
    }

    /// The `stat` of `path`, symlinks followed (a file a template reads); `None` as in [`Stat::at`].
    pub(crate) fn follow(path: &Path) -> Option<Stat> {
        path.metadata().ok().map(|m| Stat { followed: true, ..Stat::of(&m) })
    }

    /// Changed at or after `since` (ns): racily clean, so not to be trusted.
    fn racy(&self, since: i64) -> bool {
        self.mtime >= since || self.ctime >= since
    }
}

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
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub(crate) struct Entry {
    pub(crate) key: String,
    pub(crate) stamp: String,
    pub(crate) files: Vec<Seen>,
    /// The environment variables the render looked up, and a hash of each value (`None`:
    /// unset): a value may be a secret, never written down.
    pub(crate) env: Vec<(String, Option<String>)>,
    /// The whole environment's [`env_digest`], when the render went through all of it.
    pub(crate) all_env: Option<String>,
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

#[derive(Debug, Default, Serialize, Deserialize)]
struct File {
    version: u32,
    stages: BTreeMap<String, Entry>,
}

const VERSION: u32 = 2;

/// The index of a state dir, loaded once per run; changes are written by [`Index::save`].
pub(crate) struct Index {
    path: PathBuf,
    loaded: File,
    /// The index file's mtime (ns) when loaded: entries changed since are racy.
    written: i64,
    changes: Mutex<BTreeMap<String, Option<Entry>>>,
}

impl Index {
    /// The index under `state_dir`; empty when there is none or it does not parse.
    pub(crate) fn open(state_dir: &Path) -> Index {
        let path = state_dir.join("index.json");
        let written = Stat::at(&path).map_or(i64::MIN, |s| s.mtime);
        let loaded = std::fs::read(&path)
            .ok()
            .and_then(|bytes| serde_json::from_slice::<File>(&bytes).ok())
            .filter(|f| f.version == VERSION)
            .unwrap_or_default();
        Index { path, loaded, written, changes: Mutex::default() }
    }

    /// The image digest of `stage`'s last render when its key is `key`, the environment
    /// variables it read have the same values in `env` (whose [`env_digest`] is `env_digest`),
    /// and every file it consumed stats as it did then, not racily: rendering it now would
    /// give that image.
    pub(crate) fn fresh(
        &self,
        stage: &str,
        key: &str,
        (env, env_digest): (&BTreeMap<String, String>, &str),
    ) -> Option<&str> {
        let entry = self.loaded.stages.get(stage)?;
        if entry.key != key
            || entry.all_env.as_deref().is_some_and(|d| d != env_digest)
            || entry.env.iter().any(|(name, value)| env.get(name).map(|v| value_digest(v)) != *value)
        {
            return None;
        }
        let same = entry.files.iter().all(|(path, seen)| {
            let now = if seen.is_some_and(|s| s.followed) { Stat::follow(path) } else { Stat::at(path) };
            now == *seen && now.is_none_or(|s| !s.racy(self.written))
        });
        same.then_some(entry.stamp.as_str())
    }

    /// Records `stage`'s render (written by [`Index::save`] when it differs from the loaded one).
    pub(crate) fn record(&self, stage: &str, entry: Entry) {
        self.changes.lock().expect("no panics while holding the lock").insert(stage.to_string(), Some(entry));
    }

    /// Forgets `stage`'s entry: its next run takes the content path.
    pub(crate) fn forget(&self, stage: &str) {
        self.changes.lock().expect("no panics while holding the lock").insert(stage.to_string(), None);
    }

    /// Writes the index when a stage's entry changed, or when one was racy (rewriting settles
    /// it: the new file is younger than every stat in it).
    pub(crate) fn save(mut self) -> std::io::Result<()> {
        let changes = std::mem::take(self.changes.get_mut().expect("no panics while holding the lock"));
        let mut changed = false;
        for (stage, entry) in changes {
            match entry {
                Some(entry) => {
                    let racy = entry.files.iter().any(|(_, s)| s.is_some_and(|s| s.racy(self.written)));
                    let same = self.loaded.stages.get(&stage) == Some(&entry);
                    changed |= racy || !same;
                    self.loaded.stages.insert(stage, entry);
                }
                None => changed |= self.loaded.stages.remove(&stage).is_some(),
            }
        }
        if !changed {
            return Ok(());
        }
        self.loaded.version = VERSION;
        // Streamed: at 10,000 stages the index is tens of MB, not to be held twice.
        let dir = self.path.parent().expect("the index is under the state dir");
        std::fs::create_dir_all(dir)?;
        let tmp = tempfile::Builder::new().prefix(".betterform-tmp-").tempfile_in(dir)?;
        let mut out = std::io::BufWriter::new(tmp);
        serde_json::to_writer(&mut out, &self.loaded)?;
        let tmp = out.into_inner().map_err(|e| e.into_error())?;
        tmp.persist(&self.path).map_err(|e| e.error)?;
        Ok(())
    }
}
