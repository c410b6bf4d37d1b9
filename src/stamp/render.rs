//! The template engine (minijinja, Jinja2 syntax) as stamping uses it: strict undefined
//! values, configurable expression delimiters, the `cfg`/`env`/`stage_name` context and the
//! file-reading functions the README lists under "Templates and stamping".

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use minijinja::value::{Serde, ValueKind};
use minijinja::{AutoEscape, Environment, ErrorKind, UndefinedBehavior, Value};

use super::error::StampError;
use crate::diagnostic::Diagnostic;

/// Expression delimiters (`{{ }}` unless configured).
#[derive(Debug, Clone)]
pub(crate) struct Delimiters {
    pub(crate) left: String,
    pub(crate) right: String,
}

pub(crate) struct Renderer {
    env: Environment<'static>,
    cfg: Value,
    env_map: BTreeMap<String, String>,
}

fn fn_error(message: String) -> minijinja::Error {
    minijinja::Error::new(ErrorKind::InvalidOperation, message)
}

fn read_text(path: &str, function: &str) -> Result<String, minijinja::Error> {
    std::fs::read_to_string(path).map_err(|e| fn_error(format!("{function}('{path}'): {e}")))
}

fn parse_json(path: &str, text: &str, function: &str) -> Result<Value, minijinja::Error> {
    let value: serde_json::Value = serde_json::from_str(text).map_err(|e| {
        fn_error(format!("{function}: {path}:{}:{}: invalid JSON: {e}", e.line(), e.column()))
    })?;
    Ok(Value::from(Serde(value)))
}

impl Renderer {
    pub(crate) fn new(
        delimiters: &Delimiters,
        cfg: &serde_json::Value,
        env_map: BTreeMap<String, String>,
        output_dir: &Path,
    ) -> Result<Renderer, StampError> {
        let mut env = Environment::new();
        let syntax = minijinja::syntax::SyntaxConfig::builder()
            .variable_delimiters(delimiters.left.clone(), delimiters.right.clone())
            // Stamped files must be byte-exact: a config file's final newline matters.
            .keep_trailing_newline(true)
            .build()
            .map_err(|e| StampError::Delimiters(e.to_string()))?;
        env.set_syntax(syntax);
        env.set_undefined_behavior(UndefinedBehavior::Strict);
        // Without debug info release builds lose line numbers in errors.
        env.set_debug(true);
        // Stage files are config and scripts, never HTML: escaping would corrupt them.
        env.set_auto_escape_callback(|_| AutoEscape::None);
        // Stamped files are Terraform, YAML, JSON, shell: print booleans and null the way
        // those (and gomplate) spell them, not Python's `True`/`None`.
        env.set_formatter(|out, state, value| match value.kind() {
            ValueKind::Bool => {
                out.write_str(if value.is_true() { "true" } else { "false" }).map_err(Into::into)
            }
            ValueKind::None => out.write_str("null").map_err(Into::into),
            _ => minijinja::escape_formatter(out, state, value),
        });
        env.add_function("read_file", |path: String| read_text(&path, "read_file"));
        env.add_function("read_json", |path: String| {
            parse_json(&path, &read_text(&path, "read_json")?, "read_json")
        });
        env.add_function("file_exists", |path: String| Path::new(&path).exists());
        let output_dir: Arc<PathBuf> = Arc::new(output_dir.to_path_buf());
        env.add_function("output", move |stage: String| {
            let path = output_dir.join(&stage).join("output.json");
            let shown = path.display().to_string();
            match std::fs::read_to_string(&path) {
                Ok(text) => parse_json(&shown, &text, "output"),
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => Err(fn_error(format!(
                    "output('{stage}'): {shown} does not exist: stage '{stage}' has not written its outputs here (has it run 'up'? a CI job running --only must first restore them from its dependencies' artifacts)"
                ))),
                Err(e) => Err(fn_error(format!("output('{stage}'): {shown}: {e}"))),
            }
        });
        Ok(Renderer { env, cfg: Value::from(Serde(cfg)), env_map })
    }

    /// Checks that `source` parses, without rendering it.
    pub(crate) fn check(&self, path: &Path, source: &str) -> Result<(), StampError> {
        let name = path.display().to_string();
        self.env
            .template_from_named_str(&name, source)
            .map(|_| ())
            .map_err(|e| template_error(path, source, &e))
    }

    /// The template context of one stage, built once and shared by all its files.
    pub(crate) fn context(&self, stage: &str) -> Value {
        let mut env_map = self.env_map.clone();
        env_map.insert("STAGE_NAME".to_string(), stage.to_string());
        minijinja::context! {
            cfg => self.cfg.clone(),
            env => Value::from(Serde(env_map)),
            stage_name => stage,
        }
    }

    pub(crate) fn render(&self, path: &Path, source: &str, ctx: &Value) -> Result<String, StampError> {
        let ctx = ctx.clone();
        let name = path.display().to_string();
        self.env.render_named_str(&name, source, ctx).map_err(|e| template_error(path, source, &e))
    }
}

/// `path:line: message`, naming the offending expression for undefined values. Never uses the
/// `{:#}` rendering, which dumps every variable in scope (secrets included).
fn template_error(path: &Path, source: &str, e: &minijinja::Error) -> StampError {
    // minijinja's span of an attribute lookup starts at the dot; widen it to the whole dotted
    // name so the message says `cfg.network.vpc_id`, not `.network.vpc_id`.
    let widened = e.range().map(|r| {
        let head = &source[..r.start];
        let start = head
            .char_indices()
            .rev()
            .take_while(|(_, c)| c.is_alphanumeric() || *c == '_' || *c == '.')
            .last()
            .map_or(r.start, |(i, _)| i);
        start..r.end
    });
    let snippet = widened
        .clone()
        .and_then(|r| source.get(r))
        .map(str::trim)
        .filter(|s| !s.is_empty() && s.len() <= 120);
    let message = match (e.kind(), snippet, e.detail()) {
        (ErrorKind::UndefinedError, Some(expr), _) => format!("undefined value '{expr}'"),
        (kind, _, Some(detail)) => format!("{kind}: {detail}"),
        (kind, _, None) => kind.to_string(),
    };
    let line = e.line().unwrap_or(0);
    // The column of the offending text on its line, in characters; unknown without a span.
    let column = widened
        .as_ref()
        .and_then(|r| source.get(..r.start))
        .map_or(0, |head| head.rsplit('\n').next().unwrap_or(head).chars().count() + 1);
    let length = widened.and_then(|r| source.get(r)).map_or(0, |s| s.trim_end().chars().count());
    let diagnostic = Diagnostic::new(path, line, column, message).with_length(length).with_source(source);
    StampError::Template(diagnostic)
}
