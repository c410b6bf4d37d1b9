//! Configuration: `CONFIG_JSONNET_FILE` evaluated by the embedded jsonnet engine (jrsonnet),
//! with imports resolved relative to the importing file, then `-J` dirs, then `JSONNET_PATH`,
//! and the jsonnet CLI's inputs (external variables, top-level arguments, `--max-stack`).
//! The result is what templates see as `cfg` and what `CONFIG_JSON_FILE` holds.
//!
//! Evaluation runs on a thread of its own with a large stack: the engine's parser and
//! manifester recurse once per nesting level, and a deeply nested input would otherwise
//! overflow the main thread's stack, which aborts the whole process.

use std::cell::{Cell, RefCell};
use std::path::{Path, PathBuf};

use jrsonnet_evaluator::manifest::JsonFormat;
use jrsonnet_evaluator::tla::TlaArg;
use jrsonnet_evaluator::trace::PathResolver;
use jrsonnet_evaluator::{AsPathLike, FileImportResolver, IStr, ImportResolver, SourcePath, State};

use crate::config_cache::{self, Seen};
use crate::fsutil::{Stat, write_atomic_if_changed};
use crate::wave::Wave;

/// The jsonnet CLI's inputs besides the file, as `jsonnet` spells them.
#[derive(Debug, Clone)]
pub(crate) struct JsonnetArgs {
    /// `-J` dirs, searched before `JSONNET_PATH`.
    pub(crate) jpath: Vec<PathBuf>,
    /// `-V/--ext-str`, `--ext-code` and their `-file` forms: `std.extVar(name)`.
    pub(crate) ext: Vec<(String, External)>,
    /// `-A/--tla-str`, `--tla-code` and their `-file` forms: arguments of a config that is a
    /// top-level function.
    pub(crate) tla: Vec<(String, External)>,
    /// Deepest jsonnet call stack allowed (`--max-stack`; the C++ CLI's default is 500).
    pub(crate) max_stack: usize,
}

/// One external variable or top-level argument.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum External {
    /// A string value.
    Str(String),
    /// Jsonnet code, evaluated.
    Code(String),
    /// The contents of a file, as a string.
    StrFile(PathBuf),
    /// A jsonnet file, evaluated (its imports relative to it).
    CodeFile(PathBuf),
}

/// Which `--ext-*`/`--tla-*` option a value came from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum ExternalKind {
    Str,
    Code,
    StrFile,
    CodeFile,
}

impl External {
    /// Parses `NAME=VALUE` as the jsonnet CLI does; a bare `NAME` of a string or code
    /// variable takes its value from the environment variable of that name (the CI form).
    pub(crate) fn parse(option: &str, kind: ExternalKind, spec: &str) -> Result<(String, External), String> {
        let (name, value) = match spec.split_once('=') {
            Some((name, value)) => (name, Some(value.to_string())),
            None => (spec, None),
        };
        if name.is_empty() {
            return Err(format!("{option} '{spec}': expected NAME=VALUE"));
        }
        let value = match (value, kind) {
            (Some(value), _) => value,
            (None, ExternalKind::Str | ExternalKind::Code) => std::env::var(name).map_err(|_| {
                format!("{option} {name}: no value given and no environment variable {name} is set")
            })?,
            (None, _) => return Err(format!("{option} '{spec}': expected NAME=FILE")),
        };
        let external = match kind {
            ExternalKind::Str => External::Str(value),
            ExternalKind::Code => External::Code(value),
            ExternalKind::StrFile => External::StrFile(PathBuf::from(value)),
            ExternalKind::CodeFile => External::CodeFile(PathBuf::from(value)),
        };
        Ok((name.to_string(), external))
    }

    fn to_tla_arg(&self) -> Result<TlaArg, std::io::Error> {
        Ok(match self {
            External::Str(s) => TlaArg::String(s.as_str().into()),
            External::Code(code) => TlaArg::InlineCode(code.clone()),
            External::StrFile(path) => {
                TlaArg::String(String::from_utf8_lossy(&crate::fsutil::read_regular(path)?).as_ref().into())
            }
            External::CodeFile(path) => {
                crate::fsutil::read_regular(path)?;
                TlaArg::Import(std::path::absolute(path)?.to_string_lossy().into_owned())
            }
        })
    }
}

/// The evaluation thread's stack. Reserved, not committed: pages are touched only as deep as
/// an evaluation goes. Enough for thousands of nesting levels in debug builds.
const EVAL_STACK: usize = 1 << 30;

#[derive(Debug, thiserror::Error)]
pub(crate) enum ConfigError {
    #[error("CONFIG_JSONNET_FILE '{}' does not exist", .0.display())]
    Missing(PathBuf),
    #[error("jsonnet evaluation of {} failed:\n{message}", .path.display())]
    Jsonnet { path: PathBuf, message: String },
    #[error("{}: {message}", .path.display())]
    Json { path: PathBuf, message: String },
    #[error("cannot write {}: {source}", .path.display())]
    Write { path: PathBuf, source: std::io::Error },
    #[error("cannot read {}: {source}", .path.display())]
    Read { path: PathBuf, source: std::io::Error },
    /// Templates read the config as `cfg.<key>`, step variables as `Config.<path>`: only an
    /// object has keys.
    #[error("{}: the config must be an object (templates read it as cfg.<key>), but it is {kind}", .path.display())]
    NotObject { path: PathBuf, kind: &'static str },
}

/// The evaluated configuration.
#[derive(Debug, Clone)]
pub(crate) struct Config {
    pub(crate) value: serde_json::Value,
    /// Pretty JSON as written to `CONFIG_JSON_FILE`.
    pub(crate) text: String,
    /// Where the config came from: jsonnet evaluation, an existing JSON file, or nothing.
    pub(crate) origin: Origin,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Origin {
    Jsonnet,
    JsonFile,
    Empty,
}

/// Library search path: `-J` dirs first, then `JSONNET_PATH` entries.
pub(crate) fn search_path(jpath: &[PathBuf]) -> Vec<PathBuf> {
    let mut dirs: Vec<PathBuf> = jpath.to_vec();
    if let Some(var) = std::env::var_os("JSONNET_PATH") {
        dirs.extend(std::env::split_paths(&var).filter(|p| !p.as_os_str().is_empty()));
    }
    dirs
}

/// Evaluates (or reads) the configuration without writing anything: a jsonnet config is
/// taken from the config cache when its inputs did not change (see `config_cache`).
pub(crate) fn load(wave: &Wave, args: &JsonnetArgs) -> Result<Config, ConfigError> {
    load_with(wave, args, false)
}

/// [`load`] for a command holding the run lock: an evaluation is kept in the config cache.
pub(crate) fn load_keeping(wave: &Wave, args: &JsonnetArgs) -> Result<Config, ConfigError> {
    load_with(wave, args, true)
}

fn load_with(wave: &Wave, args: &JsonnetArgs, keep: bool) -> Result<Config, ConfigError> {
    let config = load_any(wave, args, keep)?;
    let kind = match &config.value {
        serde_json::Value::Object(_) => return Ok(config),
        serde_json::Value::Array(_) => "an array",
        serde_json::Value::String(_) => "a string",
        serde_json::Value::Number(_) => "a number",
        serde_json::Value::Bool(_) => "a boolean",
        serde_json::Value::Null => "null",
    };
    let path = match config.origin {
        Origin::Jsonnet => wave.config_jsonnet_file.clone().expect("jsonnet evaluated a file"),
        Origin::JsonFile | Origin::Empty => wave.config_json_file.clone(),
    };
    Err(ConfigError::NotObject { path, kind })
}

fn load_any(wave: &Wave, args: &JsonnetArgs, keep: bool) -> Result<Config, ConfigError> {
    // A blank CONFIG_JSONNET_FILE means no jsonnet: CONFIG_JSON_FILE is used as it is.
    if let Some(file) = &wave.config_jsonnet_file {
        // `symlink_metadata`: a dangling symlink is there, and unreadable, not absent.
        if file.symlink_metadata().is_ok() {
            // Read once here, so a file jsonnet could not read (a FIFO, a directory, no
            // permission) is reported in plain words, not as the engine's debug text.
            crate::fsutil::read_regular(file)
                .map_err(|source| ConfigError::Read { path: file.clone(), source })?;
            return evaluate_cached(file, args, wave, keep);
        }
        if wave.config_jsonnet_explicit {
            return Err(ConfigError::Missing(file.clone()));
        }
    }
    let json_file = &wave.config_json_file;
    match crate::fsutil::read_regular(json_file) {
        Ok(bytes) => {
            let text = String::from_utf8(bytes).map_err(|e| ConfigError::Json {
                path: json_file.clone(),
                message: format!("not valid UTF-8 (byte {} of the file)", e.utf8_error().valid_up_to()),
            })?;
            let value: serde_json::Value = serde_json::from_str(&text).map_err(|e| ConfigError::Json {
                path: json_file.clone(),
                message: format!("{}:{}: {e}", e.line(), e.column()),
            })?;
            Ok(Config { value, text, origin: Origin::JsonFile })
        }
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            Ok(Config { value: serde_json::json!({}), text: "{}\n".to_string(), origin: Origin::Empty })
        }
        Err(source) => Err(ConfigError::Read { path: json_file.clone(), source }),
    }
}

/// Writes `CONFIG_JSON_FILE` atomically when the config came from jsonnet and its content
/// changed. Returns whether the file was written.
pub(crate) fn write(wave: &Wave, config: &Config) -> Result<bool, ConfigError> {
    if config.origin != Origin::Jsonnet {
        return Ok(false);
    }
    let path = &wave.config_json_file;
    write_atomic_if_changed(path, config.text.as_bytes(), None)
        .map_err(|source| ConfigError::Write { path: path.clone(), source })
}

/// The config from the cache when what it was evaluated from is unchanged, else evaluated
/// (and, with `keep`, cached).
fn evaluate_cached(file: &Path, args: &JsonnetArgs, wave: &Wave, keep: bool) -> Result<Config, ConfigError> {
    let env_json = serde_json::to_string(&wave.env_map()).expect("a string map serializes");
    let key = cache_key(file, args, &env_json);
    let cache = config_cache::path(&wave.state_dir());
    if let Some(text) = config_cache::lookup(&cache, &key)
        && let Ok(value) = parse_deep(&text)
    {
        return Ok(Config { value, text, origin: Origin::Jsonnet });
    }
    let (config, read) = evaluate_on_big_stack(file, args, env_json)?;
    if keep && let Some(read) = read {
        // Not kept: the next run evaluates again (never wrong).
        let _ = config_cache::store(&cache, &key, &read, &config.text);
    }
    Ok(config)
}

/// The config cache's key of evaluating `file` with `args` in an environment whose JSON is
/// `env_json`: every input besides the files it reads (see `config_cache`).
fn cache_key(file: &Path, args: &JsonnetArgs, env_json: &str) -> String {
    let mut key = config_cache::Key::new();
    key.path(&std::path::absolute(file).unwrap_or_else(|_| file.to_path_buf()));
    key.path(&std::env::current_dir().unwrap_or_default());
    key.field(env_json.as_bytes());
    // Each list with its length first: no two different lists hash alike.
    for inputs in [&args.ext, &args.tla] {
        key.field(&inputs.len().to_le_bytes());
        for (name, external) in inputs {
            key.field(name.as_bytes());
            match external {
                External::Str(value) => key.field(b"str").field(value.as_bytes()),
                External::Code(code) => key.field(b"code").field(code.as_bytes()),
                External::StrFile(path) => key.field(b"str-file").path(path),
                External::CodeFile(path) => key.field(b"code-file").path(path),
            };
        }
    }
    key.field(&args.jpath.len().to_le_bytes());
    for dir in &args.jpath {
        key.path(dir);
    }
    key.field(&args.max_stack.to_le_bytes());
    key.finish()
}

/// [`evaluate`] on a thread with [`EVAL_STACK`] of stack (see the module docs); an input
/// nested so deeply that it exhausts even that ends the process with exit 2 and a message.
/// Returns with the config what it read, for the cache (`None`: not cacheable).
fn evaluate_on_big_stack(
    file: &Path,
    args: &JsonnetArgs,
    env_json: String,
) -> Result<(Config, Option<Vec<Seen>>), ConfigError> {
    let message = format!(
        "error: jsonnet evaluation of {} failed: nested too deeply for the evaluator's stack ({} MiB); \
         flatten the deepest nesting\n",
        file.display(),
        EVAL_STACK >> 20
    );
    let (owned_file, args) = (file.to_path_buf(), args.clone());
    crate::stack_guard::run(EVAL_STACK, message, move || evaluate(&owned_file, &args, env_json))
        .map_err(|source| ConfigError::Read { path: file.to_path_buf(), source })?
}

/// The import resolver of an evaluation: jrsonnet's own, recording what it looks for and
/// reads (see `config_cache`).
struct Recording {
    files: FileImportResolver,
    /// The `-J` dirs and `JSONNET_PATH`, searched after the importing file's dir.
    library_paths: Vec<PathBuf>,
    read: RefCell<Vec<Seen>>,
    /// Something other than a regular file was read: the result is not cached.
    uncacheable: Cell<bool>,
}

impl Recording {
    fn new(library_paths: Vec<PathBuf>) -> Recording {
        Recording {
            files: FileImportResolver::new(library_paths.clone()),
            library_paths,
            read: RefCell::default(),
            uncacheable: Cell::new(false),
        }
    }

    fn saw(&self, path: &Path) -> Option<Stat> {
        let stat = Stat::follow(path);
        self.read.borrow_mut().push((path.to_path_buf(), stat));
        stat
    }
}

// SAFETY: holds no garbage-collected pointer, so it can be in no cycle.
unsafe impl jrsonnet_gcmodule::Acyclic for Recording {}
impl jrsonnet_gcmodule::Trace for Recording {}

impl ImportResolver for Recording {
    fn resolve_from(
        &self,
        from: &SourcePath,
        path: &dyn AsPathLike,
    ) -> jrsonnet_evaluator::Result<SourcePath> {
        // The candidates jrsonnet's resolver tries, in its order, each recorded up to the
        // first that exists: the importing file's dir (the working dir for the config file
        // itself), then the library dirs.
        let wanted = path.as_path();
        let (dir, libraries) = if let Some(importer) = from.downcast_ref::<jrsonnet_ir::SourceFile>() {
            (importer.path().parent().map(Path::to_path_buf), true)
        } else if let Some(dir) = from.downcast_ref::<jrsonnet_ir::SourceDirectory>() {
            (Some(dir.path().to_path_buf()), true)
        } else {
            let only_there = from.downcast_ref::<jrsonnet_ir::SourceDefaultIgnoreJpath>().is_some();
            (std::env::current_dir().ok(), !only_there)
        };
        let libraries = if libraries { self.library_paths.as_slice() } else { &[] };
        for candidate in dir.iter().chain(libraries).map(|dir| dir.join(wanted)) {
            if let Some(found) = self.saw(&candidate) {
                // A FIFO is read as it is resolved: what it gave is no input to compare.
                if !crate::fsutil::is_regular(found.mode()) {
                    self.uncacheable.set(true);
                }
                break;
            }
        }
        self.files.resolve_from(from, path)
    }

    fn load_file_contents(&self, resolved: &SourcePath) -> jrsonnet_evaluator::Result<Vec<u8>> {
        if let Some(file) = resolved.downcast_ref::<jrsonnet_ir::SourceFile>() {
            self.saw(file.path());
        } else if resolved.downcast_ref::<jrsonnet_ir::SourceFifo>().is_none() {
            self.uncacheable.set(true);
        }
        // A `SourceFifo` holds its bytes: inline code (`--ext-code`, `--tla-code`, the
        // environment), part of the key, or a FIFO found by `resolve_from`.
        self.files.load_file_contents(resolved)
    }
}

fn evaluate(
    file: &Path,
    args: &JsonnetArgs,
    env_json: String,
) -> Result<(Config, Option<Vec<Seen>>), ConfigError> {
    let fail = |message: String| ConfigError::Jsonnet { path: file.to_path_buf(), message };
    let resolver = Recording::new(search_path(&args.jpath));
    // Absolute: `std.thisFile` is the file's absolute path, as the original betterform gave
    // it to the jsonnet CLI (configs derive their region from their own directory).
    let context = jrsonnet_stdlib::ContextInitializer::new(PathResolver::Absolute);
    context.add_ext_code("env", env_json).map_err(|e| fail(e.to_string()))?;
    let input = |(name, external): &(String, External)| {
        if let External::StrFile(path) = external {
            resolver.saw(path);
        }
        external.to_tla_arg().map(|arg| (IStr::from(name.as_str()), arg)).map_err(|e| {
            let path = match external {
                External::StrFile(p) | External::CodeFile(p) => p.display().to_string(),
                External::Str(_) | External::Code(_) => String::new(),
            };
            fail(format!("  cannot read {path} (for '{name}'): {e}"))
        })
    };
    for ext in &args.ext {
        let (name, arg) = input(ext)?;
        context.settings_mut().ext_vars.insert(name, arg);
    }
    // IStr's hash does not depend on its interior (an interned string's refcount).
    #[allow(clippy::mutable_key_type)]
    let tla = args.tla.iter().map(input).collect::<Result<std::collections::HashMap<_, _>, _>>()?;
    let mut builder = State::builder();
    builder.import_resolver(resolver).context_initializer(context);
    let state = builder.build();
    // The guard must outlive manifestation: ext-code is evaluated lazily inside it.
    let _guard = state.enter();
    let _depth = jrsonnet_evaluator::stack::limit_stack_depth(args.max_stack);
    let format_error =
        |e: jrsonnet_evaluator::Error| fail(crate::jsonnet_error::render(file, &e, args.max_stack));
    let value = state.import(file).map_err(format_error)?;
    let value = jrsonnet_evaluator::apply_tla(&tla, value).map_err(format_error)?;
    let text = value.manifest(JsonFormat::default()).map_err(format_error)?;
    let value: serde_json::Value = parse_deep(&text).map_err(|e| fail(format!("result is not JSON: {e}")))?;
    let mut text = serde_json::to_string_pretty(&value).expect("JSON values serialize");
    text.push('\n');
    let resolver: &dyn std::any::Any = state.import_resolver();
    let read = resolver
        .downcast_ref::<Recording>()
        .and_then(|recording| (!recording.uncacheable.get()).then(|| recording.read.borrow().clone()));
    Ok((Config { value, text, origin: Origin::Jsonnet }, read))
}

/// Parses the engine's JSON output at any depth: serde_json stops at 128 levels by default,
/// and a config may nest deeper (the C++ CLI prints it). The depth is bounded anyway: each
/// level costs the engine a frame of `--max-stack`, and this runs on the evaluation thread's
/// large stack.
fn parse_deep(text: &str) -> Result<serde_json::Value, serde_json::Error> {
    use serde::Deserialize;
    let mut deserializer = serde_json::Deserializer::from_str(text);
    deserializer.disable_recursion_limit();
    serde_json::Value::deserialize(&mut deserializer)
}
