//! Per-stage state under `$GENFILES/.betterform/state/`, one JSON file per stage, each written
//! atomically, and the journal of the run in progress.
//!
//! A stage that was running when its run died (SIGKILL, power loss) must read `unknown`, so
//! the next `up` runs it again. The journal makes that so at one small durable write per
//! stage: when a run starts its first stage it creates `state/journal` (its id, the DAG's
//! stages, and one byte per stage), fsynced with its directory. Before each stage's process
//! starts, that stage's byte is set and `fdatasync`ed: a one-byte write inside the file, with
//! no metadata to flush. The stage's record is written when it ends, tagged with the run's id,
//! and handed to a background thread that `fdatasync`s it while the next stages run. When the
//! run ends and those syncs are done, the journal is removed.
//!
//! Whoever reads state while a journal exists (a run in progress, or one that died) reads a
//! stage the journal marks started, with no record of that run saying how it ended, as
//! `unknown`. The next locked run makes that permanent: it writes those `unknown` records
//! durably, then removes the dead run's journal.

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::fs::{File, OpenOptions};
use std::io::{ErrorKind, Write};
use std::os::fd::OwnedFd;
use std::os::unix::fs::FileExt;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, mpsc};
use std::time::{Duration, SystemTime};

use nix::fcntl::OFlag;
use nix::sys::stat::Mode;
use rayon::prelude::*;
use serde::{Deserialize, Serialize};

use crate::fsutil::{Durability, write_record};
use crate::record_cache::{self, Cached, RecordCache};
use crate::wave::Wave;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(rename_all = "lowercase")]
pub(crate) enum Status {
    Up,
    Down,
    Failed,
    Unknown,
    #[default]
    Never,
}

impl Status {
    pub(crate) fn as_str(self) -> &'static str {
        match self {
            Status::Up => "up",
            Status::Down => "down",
            Status::Failed => "failed",
            Status::Unknown => "unknown",
            Status::Never => "never",
        }
    }
}

#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq, Eq)]
pub(crate) struct StageState {
    pub(crate) status: Status,
    pub(crate) last_command: Option<String>,
    /// RFC 3339 timestamps.
    pub(crate) started: Option<String>,
    pub(crate) ended: Option<String>,
    pub(crate) duration_ms: Option<u64>,
    pub(crate) exit_code: Option<i32>,
    pub(crate) log: Option<PathBuf>,
    /// Content hash of the stamped dir the last successful `up` ran on.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub(crate) stamp_digest: Option<String>,
    /// Hash of the template dir sources and of the config at that `up`: to say why a render
    /// changed (templates, config, or a file it reads).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub(crate) template_digest: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub(crate) config_digest: Option<String>,
    /// Step-package stages: hash of the package, referenced packages and bound inputs at the
    /// last successful `up` (the already-applied check).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub(crate) step_digest: Option<String>,
    /// Incremented by every `up` that ran and succeeded: dependents compare it with what they
    /// saw to know whether a dependency has completed an `up` since their own.
    #[serde(default)]
    pub(crate) generation: u64,
    /// Each dependency's generation when this stage's last successful `up` ran.
    #[serde(default)]
    pub(crate) dep_generations: BTreeMap<String, u64>,
    /// The run that wrote this record (matched against a journal: see the module docs).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub(crate) run: Option<String>,
    /// Not a record of betterform's: the original make-based betterform's sentinel
    /// (`$GENFILES/events/<stage>-up`) that says the stage is up. Never written.
    #[serde(skip)]
    pub(crate) adopted: Option<PathBuf>,
}

#[derive(Debug, thiserror::Error)]
pub(crate) enum StateError {
    #[error("state file {} is corrupt ({message}); remove it to forget what betterform knew about the stage", .path.display())]
    Corrupt { path: PathBuf, message: String },
    #[error("cannot {action} state file {}: {source}", .path.display())]
    Io { action: &'static str, path: PathBuf, source: std::io::Error },
}

pub(crate) fn timestamp(t: SystemTime) -> String {
    humantime::format_rfc3339_millis(t).to_string()
}

pub(crate) fn millis(d: Duration) -> u64 {
    u64::try_from(d.as_millis()).unwrap_or(u64::MAX)
}

/// Where the original make-based betterform kept its sentinels, under `GENFILES`:
/// `<stage>-stamped`, `<stage>-up` (removed when a `down` starts), `<stage>-down`.
pub(crate) const ORIGINAL_EVENTS: &str = "events";

pub(crate) struct StateStore {
    dir: PathBuf,
    /// The original betterform's sentinels, read for a stage betterform has no record of.
    events: PathBuf,
    /// Tags the records this process writes.
    run_id: String,
    /// The journal found when the store was opened: a run in progress elsewhere, or one that
    /// died. Dropped once recovered.
    found: Mutex<Option<Journal>>,
    /// Every stage of the DAG: one slot each in a journal.
    stages: Vec<String>,
    /// This process's own run: its journal once a stage started.
    own: Mutex<OwnRun>,
    /// The records this process wrote: read back from memory (a stage's dependents read its
    /// record right after it ended). Only the lock holder writes, so they are current.
    /// Kept as compact JSON: at 10,000 stages the parsed records were 10 MB.
    written: Mutex<HashMap<String, Box<[u8]>>>,
    /// The records read from disk, once [`StateStore::remember_reads`] was called: each read
    /// once per run (a stage's record is read by the stage and by each of its dependents).
    read: Mutex<HashMap<String, Arc<StageState>>>,
    remember: std::sync::atomic::AtomicBool,
    dir_fd: std::sync::OnceLock<Option<OwnedFd>>,
    /// The record cache (see `record_cache`) being read ahead ([`StateStore::read_cache_ahead`]),
    /// for [`StateStore::prefetch`], the one reader that uses it.
    cache_ahead: Mutex<Option<std::thread::JoinHandle<RecordCache>>>,
    /// A record was read from its file or written: the cache is rewritten ([`StateStore::keep_cache`]).
    cache_stale: std::sync::atomic::AtomicBool,
}

/// What a journal on disk says.
#[derive(Debug, PartialEq, Eq)]
struct Journal {
    run: String,
    started: BTreeSet<String>,
}

#[derive(Default)]
struct OwnRun {
    journal: Option<OpenJournal>,
    /// Syncs the records of stages that ended, in the background, before the journal goes.
    syncer: Option<Syncer>,
    /// A record could not be written: the journal stays, so the stage reads `unknown`.
    lost_record: bool,
}

struct Syncer {
    records: mpsc::Sender<PathBuf>,
    done: std::thread::JoinHandle<Result<(), StateError>>,
}

impl Syncer {
    fn start() -> Syncer {
        let (records, queue) = mpsc::channel::<PathBuf>();
        let done = std::thread::spawn(move || {
            let mut first_error = Ok(());
            for path in queue {
                if let Err(source) = sync_record(&path)
                    && first_error.is_ok()
                {
                    first_error = Err(StateError::Io { action: "sync", path, source });
                }
            }
            first_error
        });
        Syncer { records, done }
    }

    fn finish(self) -> Result<(), StateError> {
        drop(self.records);
        self.done.join().expect("the syncer does not panic")
    }
}

struct OpenJournal {
    file: File,
    /// Offset of each stage's started byte.
    slots: HashMap<String, u64>,
}

/// The record cache's file, beside the records' dir.
const CACHE_FILE: &str = "record-cache";
const JOURNAL_MAGIC: &str = "betterform journal 1";
const NOT_STARTED: u8 = b'.';
const STARTED: u8 = b'S';

impl Journal {
    /// Header lines (magic, run id, one stage per line), a blank line, then one byte
    /// per stage. A journal cut short before it was synced never had a started stage,
    /// so anything that does not parse reads as no journal.
    fn parse(bytes: &[u8]) -> Option<Journal> {
        let split = bytes.windows(2).position(|w| w == b"\n\n")?;
        let header = std::str::from_utf8(&bytes[..split]).ok()?;
        let slots = &bytes[split + 2..];
        let mut lines = header.lines();
        if lines.next()? != JOURNAL_MAGIC {
            return None;
        }
        let run = lines.next()?.strip_prefix("run ")?.to_string();
        let started = lines
            .zip(slots.iter().chain(std::iter::repeat(&NOT_STARTED)))
            .filter(|&(_, &slot)| slot == STARTED)
            .map(|(stage, _)| stage.to_string())
            .collect();
        Some(Journal { run, started })
    }

    fn read(path: &Path) -> Result<Option<Journal>, StateError> {
        match std::fs::read(path) {
            Ok(bytes) => Ok(Journal::parse(&bytes)),
            Err(e) if e.kind() == ErrorKind::NotFound => Ok(None),
            Err(source) => Err(StateError::Io { action: "read", path: path.to_path_buf(), source }),
        }
    }

    /// Whether `state` leaves `stage` cut off by this journal's run: started, and no record of
    /// that run says how it ended.
    fn cut_off(&self, stage: &str, state: &StageState) -> bool {
        self.started.contains(stage)
            && !(state.run.as_deref() == Some(self.run.as_str()) && state.status != Status::Unknown)
    }
}

/// The bytes of a small file (a record), without asking its size first as `fs::read` and
/// `read_to_end` do (a `statx` and an `lseek` per record); opened by its name in `dir` when
/// that is open (one path component looked up, not the whole path).
fn read_small(dir: Option<&OwnedFd>, path: &Path) -> std::io::Result<Vec<u8>> {
    let mut file = match (dir, path.file_name()) {
        (Some(dir), Some(name)) => {
            let flags = OFlag::O_RDONLY | OFlag::O_CLOEXEC;
            File::from(nix::fcntl::openat(dir, name, flags, Mode::empty()).map_err(std::io::Error::from)?)
        }
        _ => File::open(path)?,
    };
    let mut bytes = vec![0; 2048];
    let mut len = 0;
    loop {
        if len == bytes.len() {
            bytes.resize(len * 2, 0);
        }
        match std::io::Read::read(&mut file, &mut bytes[len..]) {
            Ok(0) => break,
            Ok(n) => len += n,
            Err(e) if e.kind() == ErrorKind::Interrupted => {}
            Err(e) => return Err(e),
        }
    }
    bytes.truncate(len);
    Ok(bytes)
}

/// `fdatasync` of a record; one that is gone has nothing left to lose.
fn sync_record(path: &Path) -> std::io::Result<()> {
    match File::open(path) {
        Ok(file) => file.sync_data(),
        Err(e) if e.kind() == ErrorKind::NotFound => Ok(()),
        Err(e) => Err(e),
    }
}

fn sync_dir(dir: &Path) -> std::io::Result<()> {
    File::open(dir)?.sync_all()
}

impl StateStore {
    /// The store of `stages` (the DAG's, in any fixed order).
    pub(crate) fn new(wave: &Wave, stages: Vec<String>) -> StateStore {
        let dir = wave.state_dir().join("state");
        // Unreadable now means unreadable for every load: those report it.
        let found = Journal::read(&dir.join("journal")).ok().flatten();
        let nanos = SystemTime::now().duration_since(SystemTime::UNIX_EPOCH).unwrap_or_default().as_nanos();
        StateStore {
            dir,
            events: wave.genfiles.join(ORIGINAL_EVENTS),
            run_id: format!("{nanos:x}-{}", std::process::id()),
            found: Mutex::new(found),
            stages,
            own: Mutex::new(OwnRun::default()),
            written: Mutex::default(),
            read: Mutex::default(),
            remember: std::sync::atomic::AtomicBool::new(false),
            dir_fd: std::sync::OnceLock::new(),
            cache_ahead: Mutex::new(None),
            cache_stale: std::sync::atomic::AtomicBool::new(false),
        }
    }

    /// The id of this process's run: tags its records, names its timings page.
    pub(crate) fn run_id(&self) -> &str {
        &self.run_id
    }

    /// The records' dir, opened once to read records by name (`None`: not there yet, or
    /// unreadable; records are then opened by their full path).
    fn dir_fd(&self) -> Option<&OwnedFd> {
        self.dir_fd
            .get_or_init(|| {
                let flags = OFlag::O_PATH | OFlag::O_DIRECTORY | OFlag::O_CLOEXEC;
                nix::fcntl::open(&self.dir, flags, Mode::empty()).ok()
            })
            .as_ref()
    }

    fn path(&self, stage: &str) -> PathBuf {
        self.dir.join(format!("{stage}.json"))
    }

    /// The record cache: the one read ahead, or read now. Not kept: at 10,000 stages it is
    /// megabytes, needed only while the records are prefetched.
    fn take_cache(&self) -> RecordCache {
        let ahead = self.cache_ahead.lock().expect("no panics while holding the lock").take();
        match ahead.map(std::thread::JoinHandle::join) {
            Some(Ok(cache)) => cache,
            _ => RecordCache::open(&self.dir.with_file_name(CACHE_FILE)),
        }
    }

    /// Starts reading the record cache in the background, for a command that will read every
    /// record (`up`, `plan`): it is read while the config is evaluated. Harmless before the
    /// run lock is taken: every cached record is checked against its file when it is used.
    pub(crate) fn read_cache_ahead(&self) {
        let path = self.dir.with_file_name(CACHE_FILE);
        if !crate::fsutil::worth_reading_ahead(&path) {
            return;
        }
        let reading = std::thread::spawn(move || RecordCache::open(&path));
        *self.cache_ahead.lock().expect("no panics while holding the lock") = Some(reading);
    }

    /// Rewrites the record cache when a record was read from its file or written since it
    /// was read: by the holder of the run lock (`up`), at the end of its run. A cache that
    /// cannot be written only costs the next run the record files.
    pub(crate) fn keep_cache(&self) {
        if !self.cache_stale.load(std::sync::atomic::Ordering::Relaxed) {
            return;
        }
        let Some(dir) = self.dir_fd() else { return };
        let files: Vec<String> = self.stages.iter().map(|stage| format!("{stage}.json")).collect();
        let records = self.stages.iter().map(String::as_str).zip(files.iter().map(std::ffi::OsStr::new));
        let path = self.dir.with_file_name(CACHE_FILE);
        let _ = record_cache::write(&path, dir, &RecordCache::open(&path), records);
    }

    fn journal_path(&self) -> PathBuf {
        self.dir.join("journal")
    }

    fn io(&self, action: &'static str, path: &Path) -> impl FnOnce(std::io::Error) -> StateError {
        let path = path.to_path_buf();
        move |source| StateError::Io { action, path, source }
    }

    /// From now on each record is read from disk once: for the holder of the run lock, whose
    /// own writes are the only ones, and for a one-shot reader (`plan`) that wants one
    /// snapshot (not for a reader that watches records change).
    pub(crate) fn remember_reads(&self) {
        self.remember.store(true, std::sync::atomic::Ordering::Relaxed);
    }

    /// The recorded state, or `never` when there is none; `unknown` when a journal says the
    /// stage was started by a run that has not recorded how it ended.
    pub(crate) fn load(&self, stage: &str) -> Result<StageState, StateError> {
        let mut state = self.load_record(stage)?;
        if let Some(journal) = &*self.found.lock().expect("no panics while holding the lock")
            && journal.cut_off(stage, &state)
        {
            state.status = Status::Unknown;
        }
        Ok(state)
    }

    /// Records `state` (atomically).
    pub(crate) fn save(&self, stage: &str, state: &StageState) -> Result<(), StateError> {
        self.write(stage, state, Durability::Atomic)
    }

    /// Records how a stage marked [`started`](Self::started) ended: atomically now, durably
    /// before the run's journal goes.
    pub(crate) fn ended(&self, stage: &str, state: &StageState) -> Result<(), StateError> {
        let result = self.write(stage, state, Durability::Atomic);
        let mut own = self.own.lock().expect("no panics while holding the lock");
        match (&result, &own.syncer) {
            (Ok(()), Some(syncer)) => {
                let _ = syncer.records.send(self.path(stage));
            }
            (Ok(()), None) => {}
            (Err(_), _) => own.lost_record = true,
        }
        result
    }

    fn write(&self, stage: &str, state: &StageState, durability: Durability) -> Result<(), StateError> {
        let path = self.path(stage);
        let state = StageState { run: Some(self.run_id.clone()), ..state.clone() };
        let mut bytes = serde_json::to_vec_pretty(&state).expect("state serializes");
        bytes.push(b'\n');
        write_record(&path, &bytes, durability).map_err(self.io("write", &path))?;
        self.cache_stale.store(true, std::sync::atomic::Ordering::Relaxed);
        // A failed write leaves the file as it was, which is what is remembered already.
        let compact = serde_json::to_vec(&state).expect("state serializes").into_boxed_slice();
        self.written.lock().expect("no panics while holding the lock").insert(stage.to_string(), compact);
        // What was read of it is superseded.
        self.read.lock().expect("no panics while holding the lock").remove(stage);
        Ok(())
    }

    /// Under the run lock: makes permanent what a dead run's journal says (its cut-off stages
    /// recorded `unknown`, durably), then removes the journal.
    pub(crate) fn recover(&self) -> Result<(), StateError> {
        let path = self.journal_path();
        let journal = Journal::read(&path)?;
        if let Some(journal) = &journal {
            let mut written = Vec::new();
            for stage in &journal.started {
                let mut state = self.load_record(stage)?;
                if journal.cut_off(stage, &state) {
                    state.status = Status::Unknown;
                    self.write(stage, &state, Durability::Durable)?;
                } else {
                    written.push(self.path(stage));
                }
            }
            // The dead run's other records may still be only in the page cache.
            self.sync(&written)?;
        }
        if journal.is_some() || path.exists() {
            std::fs::remove_file(&path).map_err(self.io("remove", &path))?;
            sync_dir(&self.dir).map_err(self.io("sync", &self.dir))?;
        }
        *self.found.lock().expect("no panics while holding the lock") = None;
        Ok(())
    }

    /// The record as written, whatever a journal says.
    fn load_record(&self, stage: &str) -> Result<StageState, StateError> {
        let written = self.written.lock().expect("no panics while holding the lock").get(stage).cloned();
        if let Some(bytes) = written {
            return Ok(serde_json::from_slice(&bytes).expect("written by this process, it parses"));
        }
        if let Some(state) = self.read.lock().expect("no panics while holding the lock").get(stage) {
            return Ok(StageState::clone(state));
        }
        let state = self.read_record(stage, None)?;
        if self.remember.load(std::sync::atomic::Ordering::Relaxed) {
            self.read
                .lock()
                .expect("no panics while holding the lock")
                .insert(stage.to_string(), Arc::new(state.clone()));
        }
        Ok(state)
    }

    /// Reads the records of `stages` on every core, once reads are remembered
    /// ([`StateStore::remember_reads`]): later loads find them in memory. Returns each one as
    /// [`StateStore::load`] would; `None` when not remembering, for a record this process
    /// wrote (not read here), and for one that cannot be read (its stage reports that when
    /// it loads it).
    pub(crate) fn prefetch(&self, stages: &[&str]) -> Vec<Option<Arc<StageState>>> {
        if !self.remember.load(std::sync::atomic::Ordering::Relaxed) {
            return vec![None; stages.len()];
        }
        let cached = self.take_cache().into_records(stages);
        let read: Vec<Option<Arc<StageState>>> = (stages, cached)
            .into_par_iter()
            .map(|(&stage, cached)| self.read_record(stage, Some(cached.as_ref())).ok().map(Arc::new))
            .collect();
        let written = self.written.lock().expect("no panics while holding the lock");
        let mut remembered = self.read.lock().expect("no panics while holding the lock");
        remembered.reserve(read.len());
        let found = self.found.lock().expect("no panics while holding the lock");
        stages
            .iter()
            .zip(read)
            .map(|(&stage, state)| {
                let state = state?;
                if written.contains_key(stage) {
                    return None;
                }
                let state = Arc::clone(remembered.entry(stage.to_string()).or_insert(state));
                match &*found {
                    Some(journal) if journal.cut_off(stage, &state) => {
                        Some(Arc::new(StageState { status: Status::Unknown, ..StageState::clone(&state) }))
                    }
                    _ => Some(state),
                }
            })
            .collect()
    }

    /// The record of `stage` as its file holds it. `cached`: when reading with the record
    /// cache, its entry, taken while the file stats as cached; a read from the file then
    /// makes the cache stale.
    fn read_record(&self, stage: &str, cached: Option<Option<&Cached>>) -> Result<StageState, StateError> {
        let path = self.path(stage);
        if let (Some(Some(cached)), Some(dir), Some(file)) = (cached, self.dir_fd(), path.file_name())
            && let Some(bytes) = cached.check(dir, file)
            && let Ok(state) = serde_json::from_slice::<StageState>(bytes)
        {
            return Ok(state);
        }
        match read_small(self.dir_fd(), &path) {
            Ok(bytes) => {
                if cached.is_some() {
                    self.cache_stale.store(true, std::sync::atomic::Ordering::Relaxed);
                }
                serde_json::from_slice(&bytes)
                    .map_err(|e| StateError::Corrupt { path, message: e.to_string() })
            }
            Err(e) if e.kind() == ErrorKind::NotFound => Ok(self.adopt(stage).unwrap_or_default()),
            Err(source) => Err(StateError::Io { action: "read", path, source }),
        }
    }

    /// A stage betterform never recorded that the original betterform brought up: its
    /// `events/<stage>-up` sentinel exists. Up, on the render the original stamped; the first
    /// `up` records it as betterform's own without running it.
    fn adopt(&self, stage: &str) -> Option<StageState> {
        let sentinel = self.events.join(format!("{stage}-up"));
        sentinel.is_file().then(|| StageState {
            status: Status::Up,
            last_command: Some("up".into()),
            adopted: Some(sentinel),
            ..StageState::default()
        })
    }

    /// Stages with a record that says they may still be up (anything but `down`) and that are
    /// not in the DAG any more: removed from `betterform_dag.mk` while up. Their resources
    /// still exist; `down --orphans` takes them down. Newest first: a stage added later
    /// may depend on one added earlier, never the other way round.
    pub(crate) fn orphans(&self) -> Result<Vec<(String, StageState)>, StateError> {
        let entries = match std::fs::read_dir(&self.dir) {
            Ok(entries) => entries,
            Err(e) if e.kind() == ErrorKind::NotFound => return Ok(Vec::new()),
            Err(source) => return Err(StateError::Io { action: "list", path: self.dir.clone(), source }),
        };
        let mut orphans = Vec::new();
        let known: std::collections::HashSet<&str> = self.stages.iter().map(String::as_str).collect();
        for entry in entries {
            let entry = entry.map_err(self.io("list", &self.dir))?;
            let file_name = entry.file_name();
            let Some(stage) = file_name.to_str().and_then(|n| n.strip_suffix(".json")) else { continue };
            if stage.is_empty() || stage.starts_with('.') || known.contains(stage) {
                continue;
            }
            let state = self.load(stage)?;
            if !matches!(state.status, Status::Down | Status::Never) {
                orphans.push((stage.to_string(), state));
            }
        }
        // RFC 3339 UTC timestamps of one format sort as text.
        orphans.sort_by(|(a, sa), (b, sb)| sb.started.cmp(&sa.started).then_with(|| a.cmp(b)));
        Ok(orphans)
    }

    fn sync(&self, records: &[PathBuf]) -> Result<(), StateError> {
        for path in records {
            sync_record(path).map_err(self.io("sync", path))?;
        }
        sync_dir(&self.dir).map_err(self.io("sync", &self.dir))
    }

    /// Durably marks `stage` started, before its process starts. The run's journal is written
    /// when its first stage starts, so a run that starts none writes nothing.
    pub(crate) fn started(&self, stage: &str) -> Result<(), StateError> {
        let mut own = self.own.lock().expect("no panics while holding the lock");
        let path = self.journal_path();
        if own.journal.is_none() {
            own.journal = Some(self.create_journal().map_err(self.io("write", &path))?);
            own.syncer = Some(Syncer::start());
        }
        let journal = own.journal.as_ref().expect("just created");
        let offset = journal.slots[stage];
        journal
            .file
            .write_all_at(&[STARTED], offset)
            .and_then(|()| journal.file.sync_data())
            .map_err(self.io("write", &path))
    }

    fn create_journal(&self) -> std::io::Result<OpenJournal> {
        let stages = &self.stages;
        std::fs::create_dir_all(&self.dir)?;
        let mut text = format!("{JOURNAL_MAGIC}\nrun {}\n", self.run_id);
        for stage in stages {
            text.push_str(stage);
            text.push('\n');
        }
        text.push('\n');
        let base = text.len() as u64;
        let mut bytes = text.into_bytes();
        bytes.resize(bytes.len() + stages.len(), NOT_STARTED);
        let path = self.journal_path();
        let mut file = OpenOptions::new().read(true).write(true).create(true).truncate(true).open(&path)?;
        file.write_all(&bytes)?;
        file.sync_all()?;
        sync_dir(&self.dir)?;
        let slots = stages.iter().enumerate().map(|(i, s)| (s.clone(), base + i as u64)).collect();
        Ok(OpenJournal { file, slots })
    }

    /// At the end of the run: once every record it wrote is on disk, its journal goes. Kept
    /// when a record could not be written, so the stage keeps reading `unknown`.
    pub(crate) fn finish_run(&self) -> Result<(), StateError> {
        let mut own = self.own.lock().expect("no panics while holding the lock");
        let synced = own.syncer.take().map_or(Ok(()), Syncer::finish);
        if own.journal.take().is_none() || own.lost_record {
            return synced;
        }
        synced?;
        // The records were exchanged into place: their directory entries, too.
        sync_dir(&self.dir).map_err(self.io("sync", &self.dir))?;
        let path = self.journal_path();
        std::fs::remove_file(&path).map_err(self.io("remove", &path))?;
        sync_dir(&self.dir).map_err(self.io("sync", &self.dir))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_journal_reads_back_which_stages_started() {
        let text = format!("{JOURNAL_MAGIC}\nrun r1\na\nb\nc\n\n.S.");
        let journal = Journal::parse(text.as_bytes()).unwrap();
        assert_eq!(journal.run, "r1");
        assert_eq!(journal.started, BTreeSet::from(["b".to_string()]));
        // Cut short before it was synced: no stage can have started.
        assert_eq!(Journal::parse(format!("{JOURNAL_MAGIC}\nrun r1\na\n").as_bytes()), None);
        assert_eq!(Journal::parse(b"garbage\n\nSSS"), None);
    }

    #[test]
    fn a_record_that_cannot_be_written_keeps_the_journal_so_the_stage_reads_unknown() {
        let dir = tempfile::tempdir().unwrap();
        let root = dir.path();
        let wave = Wave {
            impl_dir: root.to_path_buf(),
            genfiles: root.to_path_buf(),
            output_dir: root.join("output"),
            config_jsonnet_file: Some(root.join("config.jsonnet")),
            config_jsonnet_explicit: false,
            config_json_file: root.join("config.json"),
            interactive: "false".into(),
        };
        let stages = vec!["a".to_string(), "b".to_string()];
        let store = StateStore::new(&wave, stages.clone());
        store.started("a").unwrap();
        store.save("a", &StageState { status: Status::Unknown, ..StageState::default() }).unwrap();
        // The spare the final record goes through is a directory: the write fails, even as root.
        std::fs::create_dir(crate::fsutil::spare_of(&store.path("a"))).unwrap();
        let up = StageState { status: Status::Up, ..StageState::default() };
        let err = store.ended("a", &up).unwrap_err().to_string();
        assert!(err.contains("a.json"), "names the record: {err}");
        assert_eq!(store.load("a").unwrap().status, Status::Unknown, "the file, not the failed write");
        store.finish_run().unwrap();
        assert!(store.journal_path().exists(), "the journal outlives the lost record");
        let next = StateStore::new(&wave, stages);
        assert_eq!(next.load("a").unwrap().status, Status::Unknown);
        assert_eq!(next.load("b").unwrap().status, Status::Never, "never started, nothing recorded");
    }

    #[test]
    fn a_started_stage_is_unknown_until_its_run_records_how_it_ended() {
        let journal = Journal { run: "r1".into(), started: BTreeSet::from(["b".to_string()]) };
        let up =
            |run: &str| StageState { status: Status::Up, run: Some(run.into()), ..StageState::default() };
        assert!(journal.cut_off("b", &up("r0")), "a record from an earlier run says nothing of r1");
        assert!(!journal.cut_off("b", &up("r1")));
        assert!(journal.cut_off("b", &StageState { status: Status::Unknown, ..up("r1") }));
        assert!(!journal.cut_off("a", &up("r0")), "a stage r1 never started keeps its record");
    }
}
