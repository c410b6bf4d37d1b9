//! The template engine (minijinja, Jinja2 semantics) as stamping uses it: strict undefined
//! values, the `cfg`/`env`/`stage_name` context, the file-reading functions and the filters
//! the README lists under "Templates and stamping".
//!
//! Stage files are shell, HCL, YAML, Makefiles: full of `${#x}`, `{%s}`, `%{ if }`, `#}`.
//! Jinja's default `{% %}` and `{# #}` collide with them, and a stray `{#` swallowed text up
//! to the next `#}` without a word. So every delimiter starts with the expression delimiter:
//! `{{ expr }}`, `{{% block %}}`, `{{# comment #}}` (built from `--left-delim/--right-delim`
//! when those are set), and a file without the left delimiter is not parsed at all: it
//! stamps byte for byte, whatever it holds.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use minijinja::value::{Serde, ValueKind};
use minijinja::{AutoEscape, Environment, ErrorKind, UndefinedBehavior, Value};

use super::error::StampError;
use super::filters;
use crate::diagnostic::Diagnostic;

/// Expression delimiters (`{{ }}` unless configured).
#[derive(Debug, Clone)]
pub(crate) struct Delimiters {
    pub(crate) left: String,
    pub(crate) right: String,
}

pub(crate) struct Renderer {
    env: Environment<'static>,
    /// The expression delimiter every other delimiter starts with: a file without it is
    /// copied as it is.
    left: String,
    right: String,
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
        let (left, right) = (&delimiters.left, &delimiters.right);
        let syntax = minijinja::syntax::SyntaxConfig::builder()
            .variable_delimiters(left.clone(), right.clone())
            .block_delimiters(format!("{left}%"), format!("%{right}"))
            .comment_delimiters(format!("{left}#"), format!("#{right}"))
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
        // Lists and maps print as JSON, which is also valid YAML and HCL, not Python's
        // `['a', 'b']`, which is valid in none of them.
        env.set_formatter(|out, state, value| match value.kind() {
            ValueKind::Bool => {
                out.write_str(if value.is_true() { "true" } else { "false" }).map_err(Into::into)
            }
            ValueKind::None => out.write_str("null").map_err(Into::into),
            ValueKind::Seq | ValueKind::Map => {
                out.write_str(&filters::to_json(value, false)?).map_err(Into::into)
            }
            _ => minijinja::escape_formatter(out, state, value),
        });
        filters::register(&mut env);
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
        Ok(Renderer { env, left: left.clone(), right: right.clone(), cfg: Value::from(Serde(cfg)), env_map })
    }

    /// Whether `source` holds template syntax at all.
    pub(crate) fn is_template(&self, source: &str) -> bool {
        source.contains(&self.left)
    }

    /// Checks that `source` parses, without rendering it.
    pub(crate) fn check(&self, path: &Path, source: &str) -> Result<(), StampError> {
        if !self.is_template(source) {
            return Ok(());
        }
        self.check_depth(path, source)?;
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
        if !self.is_template(source) {
            return Ok(source.to_string());
        }
        self.check_depth(path, source)?;
        let ctx = ctx.clone();
        let name = path.display().to_string();
        self.env.render_named_str(&name, source, ctx).map_err(|e| template_error(path, source, &e))
    }
}

/// How many chained operations (`.x`, `[i]`, calls, filters, arithmetic) one tag may hold.
/// minijinja's parser builds a chain as a nested tree, and its compiler and destructor recurse
/// through it: 10,000 `.a` overflow the stack and abort the process. Real expressions hold a
/// handful; a stage worker's stack holds thousands.
const MAX_CHAIN: usize = 500;

impl Renderer {
    /// Refuses a tag with more than [`MAX_CHAIN`] chained operations, naming where it is.
    fn check_depth(&self, path: &Path, source: &str) -> Result<(), StampError> {
        let mut rest = source;
        while let Some(start) = rest.find(&self.left) {
            let tag = &rest[start + self.left.len()..];
            let end = tag.find(&self.right_end()).unwrap_or(tag.len());
            let operations = chained_operations(&tag[..end]);
            if operations > MAX_CHAIN {
                let offset = source.len() - rest.len() + start;
                let head = &source[..offset];
                let line = head.matches('\n').count() + 1;
                let column = head.rsplit('\n').next().unwrap_or(head).chars().count() + 1;
                let message = format!(
                    "expression too deep: {operations} chained operations (at most {MAX_CHAIN}); \
                     split it with {}% set … %{}",
                    self.left,
                    self.right_end()
                );
                let diagnostic = Diagnostic::new(path, line, column, message)
                    .with_length(self.left.len())
                    .with_source(source);
                return Err(StampError::Template(diagnostic));
            }
            rest = &tag[end..];
        }
        Ok(())
    }

    /// The right delimiter of expressions (blocks and comments end with it too).
    fn right_end(&self) -> String {
        self.right.clone()
    }
}

/// Operators in a tag's text that chain onto what precedes them, outside string literals.
fn chained_operations(tag: &str) -> usize {
    let mut count = 0;
    let mut quote = None;
    for c in tag.chars() {
        match (quote, c) {
            (Some(q), c) if c == q => quote = None,
            (Some(_), _) => {}
            (None, '\'' | '"') => quote = Some(c),
            (None, '.' | '[' | '(' | '|' | '+' | '-' | '*' | '/' | '~' | '%') => count += 1,
            (None, _) => {}
        }
    }
    count
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
