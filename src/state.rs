//! Per-stage state under `$GENFILES/.betterform/state/`, one JSON file per stage, each written
//! atomically. A stage that is running is recorded `unknown` first, so a run that dies leaves
//! it `unknown` and the next `up` runs it again.

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::time::{Duration, SystemTime};

use serde::{Deserialize, Serialize};

use crate::fsutil::{Durability, write_record};
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

pub(crate) struct StateStore {
    dir: PathBuf,
}

impl StateStore {
    pub(crate) fn new(wave: &Wave) -> StateStore {
        StateStore { dir: wave.state_dir().join("state") }
    }

    fn path(&self, stage: &str) -> PathBuf {
        self.dir.join(format!("{stage}.json"))
    }

    /// The recorded state, or `never` when there is none.
    pub(crate) fn load(&self, stage: &str) -> Result<StageState, StateError> {
        let path = self.path(stage);
        match std::fs::read(&path) {
            Ok(bytes) => serde_json::from_slice(&bytes)
                .map_err(|e| StateError::Corrupt { path, message: e.to_string() }),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(StageState::default()),
            Err(source) => Err(StateError::Io { action: "read", path, source }),
        }
    }

    /// Records `state`. Durably when the stage is about to run (`unknown`): if that record were
    /// lost in a power cut, the next run could take a half-applied stage for up to date. Losing
    /// any later record only leaves `unknown`, which is safe, so those skip the fsyncs.
    pub(crate) fn save(&self, stage: &str, state: &StageState) -> Result<(), StateError> {
        let path = self.path(stage);
        let mut bytes = serde_json::to_vec_pretty(state).expect("state serializes");
        bytes.push(b'\n');
        let durability =
            if state.status == Status::Unknown { Durability::Durable } else { Durability::Atomic };
        write_record(&path, &bytes, durability).map_err(|source| StateError::Io {
            action: "write",
            path: path.clone(),
            source,
        })
    }
}
