//! Running a prepared step (README: "Step-package stages"): extract the packages, write the
//! inputs to a private file, launch through the `node` bootstrapper or the `exec` entry
//! point, and interpret the service messages the step prints. The private dir (inputs,
//! variables, bootstrapper) is removed whatever happens.

use std::collections::BTreeMap;
use std::ffi::OsString;
use std::fs;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};

use super::error::StepError;
use super::lookup::{StepVars, sensitive_outputs_path};
use super::messages::{self, Level, Line, Message};
use super::package::Launcher;
use super::prepare::{Prepared, work_dir};
use crate::fsutil::write_atomic;
use crate::mask;
use crate::process::{self, Exit, Failure, Job};
use crate::scheduler::Sink;
use crate::wave::Wave;

/// betterform's node bootstrapper, shipped inside the binary.
const BOOTSTRAP_JS: &str = include_str!("bootstrap.js");

/// A single service message (a large output variable) may be this long.
const MAX_MESSAGE: usize = 16 << 20;

/// The stage's log while a step runs: betterform's own lines go to it and to the terminal.
pub(crate) struct StepLog<'a> {
    pub(crate) path: PathBuf,
    pub(crate) sink: &'a Sink<'a>,
}

impl StepLog<'_> {
    /// Starts the log afresh (the last run's kept beside it).
    pub(crate) fn create(&self) -> std::io::Result<()> {
        crate::logfile::create(&self.path).map(drop)
    }

    /// A line from betterform about the step, masked.
    pub(crate) fn note(&self, text: &str) {
        let text = mask::mask(text);
        let _ = crate::logfile::append(&self.path, &format!("betterform: {text}"));
        self.sink.note(&text);
    }
}

/// What a finished step reported.
#[derive(Debug, Default)]
pub(crate) struct Report {
    /// Output variables: name → (value, sensitive).
    pub(crate) outputs: BTreeMap<String, (String, bool)>,
    /// The step's own account of its failure (`resultMessage`).
    pub(crate) result: Option<String>,
    /// Values the step asked to be masked (`mask`).
    pub(crate) masks: Vec<String>,
}

/// Reads the step's output line by line: service messages are acted on and logged as what
/// they mean; other lines are shown according to the current `stdout-*` level.
struct Interpreter<'a> {
    sink: &'a Sink<'a>,
    artifacts: PathBuf,
    cwd: PathBuf,
    level: Level,
    pending: String,
    report: Report,
}

impl Interpreter<'_> {
    fn line(&mut self, piece: &str, complete: bool) -> Option<String> {
        if !complete && self.pending.len() + piece.len() <= MAX_MESSAGE {
            // Wait for the rest: half a service message is not one.
            self.pending.push_str(piece);
            return None;
        }
        let mut text = std::mem::take(&mut self.pending);
        text.push_str(piece);
        let (shown, logged) = self.interpret(&text);
        if let Some(shown) = shown {
            self.sink.line(&shown);
        }
        logged.map(|l| mask::mask(&l).into_owned())
    }

    /// (what the terminal shows, what the log records).
    fn interpret(&mut self, text: &str) -> (Option<String>, Option<String>) {
        let said = |s: String| (Some(s.clone()), Some(s));
        match messages::parse(text) {
            Line::Text => match self.level {
                Level::Default | Level::Highlight => said(text.to_string()),
                Level::Warning => said(format!("warning: {text}")),
                Level::Error => said(format!("error: {text}")),
                Level::Verbose => (None, Some(format!("verbose: {text}"))),
                Level::Ignore => (None, Some(text.to_string())),
            },
            Line::Malformed(why) => said(format!("betterform: ignored a malformed service message ({why})")),
            Line::Message(message) => match message {
                Message::Level(level) => {
                    self.level = level;
                    (None, None)
                }
                Message::SetVariable { name, value, sensitive } => {
                    if sensitive {
                        mask::add(&value);
                    }
                    let kind = if sensitive { "sensitive output variable" } else { "output variable" };
                    let note = if !sensitive && mask::mask(&value) != value {
                        " (it holds a secret, masked in output.json)"
                    } else {
                        ""
                    };
                    self.report.outputs.insert(name.clone(), (value, sensitive));
                    said(format!("betterform: {kind} {name} set{note}"))
                }
                Message::Mask { value } => {
                    mask::add(&value);
                    self.report.masks.push(value);
                    (None, None)
                }
                Message::Progress { percentage, message } => {
                    let pct = percentage.map(|p| format!("{p}%")).unwrap_or_default();
                    said(format!("betterform: progress {pct} {message}").trim_end().to_string())
                }
                Message::Result { message } => {
                    let line = format!("betterform: result: {message}");
                    self.report.result = Some(message);
                    said(line)
                }
                Message::CreateArtifact { path, name } => said(self.artifact(&path, name.as_deref())),
                Message::Other(name) => (None, Some(format!("betterform: ignored service message '{name}'"))),
            },
        }
    }

    /// Copies an artifact the step made into `$GENFILES/<stage>/artifacts/`.
    fn artifact(&self, path: &str, name: Option<&str>) -> String {
        let source = self.cwd.join(path);
        let file_name = name
            .and_then(|n| Path::new(n).file_name())
            .or_else(|| source.file_name())
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_else(|| "artifact".into());
        let dest = self.artifacts.join(&file_name);
        let copied = fs::create_dir_all(&self.artifacts).and_then(|()| fs::copy(&source, &dest));
        match copied {
            Ok(_) => format!("betterform: artifact {file_name} saved to {}", dest.display()),
            Err(e) => format!("betterform: artifact {}: cannot save it: {e}", source.display()),
        }
    }
}

/// A private dir for the inputs: mode 0700, its files 0600, removed when dropped.
fn private_dir(parent: &Path) -> Result<tempfile::TempDir, StepError> {
    fs::create_dir_all(parent).map_err(StepError::io("cannot create", parent))?;
    // A dir left by a run that was killed still holds inputs: remove it first.
    if let Ok(entries) = fs::read_dir(parent) {
        for entry in entries.flatten() {
            if entry.file_name().to_string_lossy().starts_with(".run-") {
                let _ = fs::remove_dir_all(entry.path());
            }
        }
    }
    let dir = tempfile::Builder::new()
        .prefix(".run-")
        .permissions(fs::Permissions::from_mode(0o700))
        .tempdir_in(parent)
        .map_err(StepError::io("cannot create a private dir in", parent))?;
    Ok(dir)
}

fn write_private(path: &Path, content: &[u8]) -> Result<(), StepError> {
    write_atomic(path, content, Some(0o600)).map_err(StepError::io("cannot write", path))
}

/// Where a launch ended: not started (interrupted first), or finished.
pub(crate) enum Launch {
    Interrupted,
    Finished { exit: Exit, report: Report },
}

/// Extracts the packages and runs the step; the log already exists.
pub(crate) fn run(
    wave: &Wave,
    stage: &str,
    prepared: &Prepared,
    vars: &StepVars<'_>,
    log: &StepLog<'_>,
) -> Result<Launch, StepError> {
    let stage_dir = wave.stage_dir(stage);
    let work = work_dir(&stage_dir);
    log.note(&format!("manifest: {}", prepared.manifest.summary()));
    let manifest_path = work.join(format!("manifest-{}.json", prepared.manifest.step));
    let manifest = serde_json::to_vec_pretty(&prepared.manifest).expect("manifests serialize");
    write_atomic(&manifest_path, &manifest, None).map_err(StepError::io("cannot write", &manifest_path))?;

    prepared.package.tree.extract(&prepared.package_dir)?;
    for reference in &prepared.references {
        log.note(&format!("extract-package {} → {}", reference.name, reference.dest.display()));
        reference.tree.extract(&reference.dest)?;
    }

    let private = private_dir(&work)?;
    let inputs_file = private.path().join("inputs.json");
    write_private(&inputs_file, &serde_json::to_vec(&prepared.inputs.value).expect("inputs serialize"))?;
    let target_file = private.path().join("target.json");
    let target = match &prepared.target.value {
        serde_json::Value::Null => serde_json::json!({}),
        value => value.clone(),
    };
    write_private(&target_file, &serde_json::to_vec(&target).expect("targets serialize"))?;
    let variables_file = private.path().join("variables.json");
    write_private(&variables_file, &serde_json::to_vec(&vars.flattened()).expect("variables serialize"))?;

    let meta = &prepared.package.meta;
    // Its stdin is /dev/null: never told it may prompt.
    let mut env = wave.stage_env(stage, false);
    env.push(("BETTERFORM_STEP_INPUTS", inputs_file.clone().into()));
    env.push(("BETTERFORM_STEP_VARIABLES", variables_file.into()));
    env.push(("BETTERFORM_STEP_TARGET", target_file.into()));
    env.push(("BETTERFORM_STEP_PACKAGE", prepared.package_dir.clone().into()));
    let (program, args): (PathBuf, Vec<OsString>) = match meta.launcher {
        Launcher::Node => {
            let bootstrap = private.path().join("bootstrap.js");
            write_private(&bootstrap, BOOTSTRAP_JS.as_bytes())?;
            env.push(("BETTERFORM_STEP_EXECUTOR", prepared.package_dir.join("executor.js").into()));
            (PathBuf::from("node"), vec![bootstrap.into()])
        }
        Launcher::Exec => {
            let entry = meta.entry_point.as_deref().expect("exec packages have an entry point");
            (prepared.package_dir.join(entry), vec!["execute".into()])
        }
    };
    log.note(&format!("launch {} execute ({} {})", meta.launcher.as_str(), meta.id, meta.version));
    let job = Job {
        program: program.clone(),
        args,
        cwd: &stage_dir,
        env,
        log: &log.path,
        inherit_stdin: false,
        keyboard: None,
        max_line: MAX_MESSAGE,
        append_log: true,
        time_limit: log.sink.time_limit(),
    };
    let mut interpreter = Interpreter {
        sink: log.sink,
        artifacts: stage_dir.join("artifacts"),
        cwd: stage_dir.clone(),
        level: Level::Default,
        pending: String::new(),
        report: Report::default(),
    };
    let result = process::run(&job, log.sink.groups(), |piece, complete| interpreter.line(piece, complete));
    // The inputs never outlive the launch.
    drop(private);
    // Later runs mask what this step asked to be masked, knowing it by its fingerprint only.
    if let Err(e) = remember_masks(wave, stage, &interpreter.report.masks) {
        log.note(&format!("cannot remember the values the step masked: {e}"));
    }
    match result {
        Err(_) => Ok(Launch::Interrupted),
        Ok(Ok(exit)) => Ok(Launch::Finished { exit, report: interpreter.report }),
        Ok(Err(Failure::Start { kind: std::io::ErrorKind::NotFound, .. }))
            if meta.launcher == Launcher::Node =>
        {
            Err(StepError::io("cannot run", program)(std::io::Error::new(
                std::io::ErrorKind::NotFound,
                "node is not on PATH; the node launcher needs Node.js",
            )))
        }
        Ok(Err(e)) => Err(e.into()),
    }
}

/// Records a successful step's output variables: plain ones in
/// `$OUTPUT_DIR/<stage>/output.json`, sensitive ones only in a 0600 file under GENFILES.
pub(crate) fn write_outputs(wave: &Wave, stage: &str, report: &Report) -> Result<(), StepError> {
    let mut plain = serde_json::Map::new();
    let mut secret = serde_json::Map::new();
    for (name, (value, sensitive)) in &report.outputs {
        if *sensitive {
            secret.insert(name.clone(), value.clone().into());
        } else {
            // OUTPUT_DIR is checked in: a secret the step put in a plain output stays masked.
            plain.insert(name.clone(), mask::mask(value).into_owned().into());
        }
    }
    let output = wave.output_dir.join(stage).join("output.json");
    let mut text = serde_json::to_vec_pretty(&plain).expect("outputs serialize");
    text.push(b'\n');
    crate::fsutil::write_atomic_if_changed(&output, &text, None)
        .map_err(StepError::io("cannot write", &output))?;
    let secret_path = sensitive_outputs_path(wave, stage);
    if secret.is_empty() {
        let _ = fs::remove_file(&secret_path);
    } else {
        write_private(&secret_path, &serde_json::to_vec_pretty(&secret).expect("outputs serialize"))?;
    }
    Ok(())
}

/// `$GENFILES/<stage>/.betterform/masks.json`: fingerprints of the values the stage's steps
/// asked to be masked, and their salt (see `mask`). Never the values.
fn masks_path(wave: &Wave, stage: &str) -> PathBuf {
    work_dir(&wave.stage_dir(stage)).join("masks.json")
}

#[derive(serde::Serialize, serde::Deserialize, Default)]
struct Masks {
    /// Hex.
    salt: String,
    fingerprints: Vec<mask::Fingerprint>,
}

fn read_masks(wave: &Wave, stage: &str) -> Option<(Vec<u8>, Masks)> {
    let masks: Masks = serde_json::from_slice(&fs::read(masks_path(wave, stage)).ok()?).ok()?;
    let salt = (0..masks.salt.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(masks.salt.get(i..i + 2)?, 16).ok())
        .collect::<Option<Vec<u8>>>()?;
    Some((salt, masks))
}

/// Adds the fingerprints of `values` to the stage's [`masks_path`] (0600).
fn remember_masks(wave: &Wave, stage: &str, values: &[String]) -> Result<(), StepError> {
    if values.is_empty() {
        return Ok(());
    }
    let (salt, mut masks) = match read_masks(wave, stage) {
        Some(found) => found,
        None => {
            let mut salt = [0u8; 16];
            let path = Path::new("/dev/urandom");
            fs::File::open(path)
                .and_then(|mut f| std::io::Read::read_exact(&mut f, &mut salt))
                .map_err(StepError::io("cannot read", path))?;
            let hex = salt.iter().map(|b| format!("{b:02x}")).collect();
            (salt.to_vec(), Masks { salt: hex, fingerprints: Vec::new() })
        }
    };
    for value in values {
        for print in mask::fingerprints(value, &salt) {
            if !masks.fingerprints.contains(&print) {
                masks.fingerprints.push(print);
            }
        }
    }
    let path = masks_path(wave, stage);
    write_private(&path, &serde_json::to_vec_pretty(&masks).expect("fingerprints serialize"))
}

/// Registers for masking the values the stage's steps asked to be masked in earlier runs.
pub(crate) fn learn_masks(wave: &Wave, stage: &str) {
    if let Some((salt, masks)) = read_masks(wave, stage) {
        mask::add_fingerprints(&salt, &masks.fingerprints);
    }
}

/// The values of a stage's recorded sensitive outputs (none if it has none or they cannot
/// be read).
pub(crate) fn stored_secrets(wave: &Wave, stage: &str) -> Vec<String> {
    let Ok(bytes) = fs::read(sensitive_outputs_path(wave, stage)) else { return Vec::new() };
    let Ok(serde_json::Value::Object(map)) = serde_json::from_slice(&bytes) else { return Vec::new() };
    map.values().map(super::variables::text_of).collect()
}

/// Removes what [`write_outputs`] recorded (and `$OUTPUT_DIR/<stage>` if that empties it).
pub(crate) fn clear_outputs(wave: &Wave, stage: &str) -> Result<(), StepError> {
    let dir = wave.output_dir.join(stage);
    for path in [dir.join("output.json"), sensitive_outputs_path(wave, stage)] {
        match fs::remove_file(&path) {
            Err(e) if e.kind() != std::io::ErrorKind::NotFound => {
                return Err(StepError::io("cannot remove", path)(e));
            }
            _ => {}
        }
    }
    let _ = fs::remove_dir(&dir);
    Ok(())
}
