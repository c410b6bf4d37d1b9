//! The wave environment: the six interface variables with their defaults, made absolute once
//! so every stage sees identical values, plus `STAGE_NAME` per stage.
//!
//! betterform never changes its own working directory; relative paths given by the caller are
//! resolved against it here, once.

use std::collections::BTreeMap;
use std::ffi::OsString;
use std::path::{Path, PathBuf};

/// A wave environment that cannot be set up: bad usage, nothing was run (exit 2).
#[derive(Debug, thiserror::Error)]
#[error("{0}")]
pub(crate) struct WaveError(String);

pub(crate) const STATE_DIR: &str = ".betterform";

#[derive(Debug, Clone)]
pub(crate) struct Wave {
    pub(crate) impl_dir: PathBuf,
    pub(crate) genfiles: PathBuf,
    pub(crate) output_dir: PathBuf,
    /// `None` when `CONFIG_JSONNET_FILE` is set but blank: no jsonnet, `CONFIG_JSON_FILE` is
    /// used as it is.
    pub(crate) config_jsonnet_file: Option<PathBuf>,
    /// Whether `CONFIG_JSONNET_FILE` was set explicitly (then it must exist).
    pub(crate) config_jsonnet_explicit: bool,
    pub(crate) config_json_file: PathBuf,
    /// The raw `INTERACTIVE` value; only exactly `false` turns prompting off.
    pub(crate) interactive: String,
}

fn env_path(name: &str) -> Option<PathBuf> {
    std::env::var_os(name).filter(|v| !v.is_empty()).map(PathBuf::from)
}

/// `path` made absolute against the working directory and normalised: `.` and `..`
/// components are resolved by name, the way the shell's `cd` and Python's `os.path.abspath`
/// do. One spelling per directory matters: `IMPL_DIR=../impl` one day and `$PWD/../impl` the
/// next must give stages the same variables, or what they recorded reads as changed.
fn absolute(path: &Path) -> Result<PathBuf, WaveError> {
    let path = std::path::absolute(path)
        .map_err(|e| WaveError(format!("cannot make '{}' absolute: {e}", path.display())))?;
    Ok(normalize(&path))
}

/// Resolves `.` and `..` of an absolute path by name (`..` of `/` is `/`).
pub(crate) fn normalize(path: &Path) -> PathBuf {
    use std::path::Component;
    let mut out = PathBuf::new();
    for component in path.components() {
        match component {
            Component::CurDir => {}
            Component::ParentDir => {
                out.pop();
            }
            other => out.push(other),
        }
    }
    out
}

impl Wave {
    /// Reads the wave variables from the environment; `impl_dir` comes from `--impl-dir` or
    /// `IMPL_DIR` (clap has already merged the two).
    pub(crate) fn from_env(impl_dir: Option<&Path>) -> Result<Wave, WaveError> {
        let impl_dir = impl_dir
            .ok_or_else(|| WaveError("no impl dir: pass --impl-dir DIR or set IMPL_DIR".to_string()))?;
        let impl_dir = absolute(impl_dir)?;
        if !impl_dir.is_dir() {
            return Err(WaveError(format!("impl dir '{}' is not a directory", impl_dir.display())));
        }
        let genfiles = absolute(&env_path("GENFILES").unwrap_or_else(|| "genfiles".into()))?;
        let output_dir = absolute(&env_path("OUTPUT_DIR").unwrap_or_else(|| "output".into()))?;
        let explicit_jsonnet = env_path("CONFIG_JSONNET_FILE");
        let blank_jsonnet = std::env::var_os("CONFIG_JSONNET_FILE").is_some_and(|v| v.is_empty());
        let config_jsonnet_file = match blank_jsonnet {
            true => None,
            false => Some(absolute(explicit_jsonnet.as_deref().unwrap_or(Path::new("config.jsonnet")))?),
        };
        let config_json_file = match env_path("CONFIG_JSON_FILE") {
            Some(p) => absolute(&p)?,
            None => genfiles.join("config.json"),
        };
        Ok(Wave {
            impl_dir,
            genfiles,
            output_dir,
            config_jsonnet_file,
            config_jsonnet_explicit: explicit_jsonnet.is_some(),
            config_json_file,
            interactive: std::env::var("INTERACTIVE").unwrap_or_else(|_| "true".to_string()),
        })
    }

    /// The six interface variables, identical for every stage.
    pub(crate) fn vars(&self) -> [(&'static str, OsString); 6] {
        [
            ("IMPL_DIR", self.impl_dir.clone().into()),
            ("GENFILES", self.genfiles.clone().into()),
            ("OUTPUT_DIR", self.output_dir.clone().into()),
            ("CONFIG_JSONNET_FILE", self.config_jsonnet_file.clone().unwrap_or_default().into()),
            ("CONFIG_JSON_FILE", self.config_json_file.clone().into()),
            ("INTERACTIVE", self.interactive.clone().into()),
        ]
    }

    /// What a process run for `stage` gets on top of the inherited environment: the interface
    /// variables, `STAGE_NAME`, and `BETTERFORM`, the running binary, so a stage can nest an
    /// orchestrator (`exec "$BETTERFORM" "$@"`). `can_answer`: whether its stdin is a terminal.
    /// A stage is never told `INTERACTIVE=true` with a stdin that cannot answer: terraform would
    /// ask for approval and fail on end of input instead of running with `-input=false`.
    pub(crate) fn stage_env(&self, stage: &str, can_answer: bool) -> Vec<(&'static str, OsString)> {
        static EXE: std::sync::OnceLock<Option<PathBuf>> = std::sync::OnceLock::new();
        let mut env: Vec<(&'static str, OsString)> = self.vars().into();
        if !can_answer {
            for (name, value) in &mut env {
                if *name == "INTERACTIVE" {
                    *value = "false".into();
                }
            }
        }
        env.push(("STAGE_NAME", stage.into()));
        if let Some(exe) = EXE.get_or_init(|| std::env::current_exe().ok()) {
            env.push(("BETTERFORM", exe.into()));
        }
        env
    }

    pub(crate) fn interactive(&self) -> bool {
        self.interactive != "false"
    }

    /// The environment as stages see it (minus `STAGE_NAME`), as one map: what jsonnet gets as
    /// `std.extVar('env')` and templates as `env`. Non-UTF-8 variables are left out.
    pub(crate) fn env_map(&self) -> BTreeMap<String, String> {
        let mut map: BTreeMap<String, String> = std::env::vars_os()
            .filter_map(|(k, v)| Some((k.into_string().ok()?, v.into_string().ok()?)))
            .collect();
        for (name, value) in self.vars() {
            map.insert(name.to_string(), value.to_string_lossy().into_owned());
        }
        map
    }

    pub(crate) fn dag_file(&self) -> PathBuf {
        self.impl_dir.join("betterform_dag.mk")
    }

    pub(crate) fn template_dir(&self, stage: &str) -> PathBuf {
        self.impl_dir.join(stage)
    }

    pub(crate) fn stage_dir(&self, stage: &str) -> PathBuf {
        self.genfiles.join(stage)
    }

    /// betterform's own bookkeeping: state, logs, stamp manifests, lock.
    pub(crate) fn state_dir(&self) -> PathBuf {
        self.genfiles.join(STATE_DIR)
    }

    /// Where a stage's logs are, one per command it ran (and the run before each).
    pub(crate) fn log_dir(&self, stage: &str) -> PathBuf {
        self.state_dir().join("logs").join(stage)
    }

    pub(crate) fn log_path(&self, stage: &str, command: &str) -> PathBuf {
        self.log_dir(stage).join(format!("{command}.log"))
    }
}

#[cfg(test)]
mod tests {
    use super::normalize;
    use std::path::Path;

    #[test]
    fn dot_and_dot_dot_are_resolved_by_name() {
        assert_eq!(normalize(Path::new("/work/dev/../impl")), Path::new("/work/impl"));
        assert_eq!(normalize(Path::new("/work/./dev/./")), Path::new("/work/dev"));
        assert_eq!(normalize(Path::new("/a/b/../../..")), Path::new("/"));
        assert_eq!(normalize(Path::new("/a//b")), Path::new("/a/b"));
    }
}
