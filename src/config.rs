//! Configuration: `CONFIG_JSONNET_FILE` evaluated by the embedded jsonnet engine (jrsonnet),
//! with imports resolved relative to the importing file, then `-J` dirs, then `JSONNET_PATH`.
//! The result is what templates see as `cfg` and what `CONFIG_JSON_FILE` holds.

use std::path::{Path, PathBuf};

use jrsonnet_evaluator::error::ErrorKind;
use jrsonnet_evaluator::manifest::JsonFormat;
use jrsonnet_evaluator::trace::PathResolver;
use jrsonnet_evaluator::{FileImportResolver, State};
use jrsonnet_evaluator::{Source, Span};

use crate::fsutil::write_atomic_if_changed;
use crate::wave::Wave;

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

/// Evaluates (or reads) the configuration without writing anything.
pub(crate) fn load(wave: &Wave, jpath: &[PathBuf]) -> Result<Config, ConfigError> {
    let config = load_any(wave, jpath)?;
    let kind = match &config.value {
        serde_json::Value::Object(_) => return Ok(config),
        serde_json::Value::Array(_) => "an array",
        serde_json::Value::String(_) => "a string",
        serde_json::Value::Number(_) => "a number",
        serde_json::Value::Bool(_) => "a boolean",
        serde_json::Value::Null => "null",
    };
    let path = match config.origin {
        Origin::Jsonnet => wave.config_jsonnet_file.clone(),
        Origin::JsonFile | Origin::Empty => wave.config_json_file.clone(),
    };
    Err(ConfigError::NotObject { path, kind })
}

fn load_any(wave: &Wave, jpath: &[PathBuf]) -> Result<Config, ConfigError> {
    let file = &wave.config_jsonnet_file;
    // `symlink_metadata`: a dangling symlink is there, and unreadable, not absent.
    if file.symlink_metadata().is_ok() {
        // Read once here, so a file jsonnet could not read (a FIFO, a directory, no
        // permission) is reported in plain words, not as the engine's debug text.
        crate::fsutil::read_regular(file)
            .map_err(|source| ConfigError::Read { path: file.clone(), source })?;
        return evaluate(file, &search_path(jpath), wave);
    }
    if wave.config_jsonnet_explicit {
        return Err(ConfigError::Missing(file.clone()));
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

fn evaluate(file: &Path, search: &[PathBuf], wave: &Wave) -> Result<Config, ConfigError> {
    let fail = |message: String| ConfigError::Jsonnet { path: file.to_path_buf(), message };
    let context = jrsonnet_stdlib::ContextInitializer::new(PathResolver::new_cwd_fallback());
    let env_json = serde_json::to_string(&wave.env_map()).expect("a string map serializes");
    context.add_ext_code("env", env_json).map_err(|e| fail(e.to_string()))?;
    let mut builder = State::builder();
    builder.import_resolver(FileImportResolver::new(search.to_vec())).context_initializer(context);
    let state = builder.build();
    // The guard must outlive manifestation: ext-code is evaluated lazily inside it.
    let _guard = state.enter();
    let format_error = |e: jrsonnet_evaluator::Error| fail(format_jsonnet_error(file, &e));
    let value = state.import(file).map_err(format_error)?;
    let text = value.manifest(JsonFormat::default()).map_err(format_error)?;
    let value: serde_json::Value =
        serde_json::from_str(&text).map_err(|e| fail(format!("result is not JSON: {e}")))?;
    let mut text = serde_json::to_string_pretty(&value).expect("JSON values serialize");
    text.push('\n');
    Ok(Config { value, text, origin: Origin::Jsonnet })
}

/// `file:line:col` of a position in a jsonnet source, the file shown relative to the working
/// directory when it is below it.
fn location(source: &Source, offset: u32) -> String {
    let [at] = source.map_source_locations(&[offset]);
    let path = source.source_path();
    let file = path.path().map_or_else(|| path.to_string(), |p| PathResolver::new_cwd_fallback().resolve(p));
    format!("{file}:{}:{}", at.line, at.column)
}

fn span_location(span: &Span) -> String {
    location(&span.0, span.1)
}

/// Renders a jsonnet error so that every line starts with the `file:line:col` it is about:
/// syntax errors, each static-analysis finding (undefined locals, …), and runtime errors with
/// their stack, innermost first.
fn format_jsonnet_error(file: &Path, e: &jrsonnet_evaluator::Error) -> String {
    let file = PathResolver::new_cwd_fallback().resolve(file);
    let mut lines = Vec::new();
    match e.error() {
        ErrorKind::ImportSyntaxError { error, .. } => {
            lines.push(format!("  {}: syntax error: {}", span_location(&error.location), error.message));
        }
        ErrorKind::StaticAnalysisError(diagnostics) => {
            for d in diagnostics {
                match &d.span {
                    Some(span) => lines.push(format!("  {}: {}", span_location(span), d.message)),
                    None => lines.push(format!("  {file}: {}", d.message)),
                }
            }
        }
        kind => {
            let first = e.trace().0.iter().find_map(|el| el.location.as_ref());
            match first {
                Some(span) => lines.push(format!("  {}: {kind}", span_location(span))),
                // jrsonnet records no position for some errors (a missing field, an import that
                // cannot be resolved): name at least the file evaluated.
                None => lines.push(format!("  {file}: {kind}")),
            }
            for el in e.trace().0.iter().take(20) {
                if let Some(span) = &el.location {
                    lines.push(format!("    at {}: {}", span_location(span), el.desc));
                }
            }
        }
    }
    lines.join("\n")
}
