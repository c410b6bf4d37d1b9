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

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use minijinja::value::{Serde, ValueKind};
use minijinja::{AutoEscape, Environment, ErrorKind, UndefinedBehavior, Value};

use super::error::StampError;
use super::filters;
use super::scope::{self, Env, Scope, Upstream};
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
    stages: Arc<BTreeSet<String>>,
    output_dir: Arc<PathBuf>,
    env_map: Arc<BTreeMap<String, String>>,
}

impl Renderer {
    /// `stages`: every stage of the DAG (reads of another stage's outputs are checked).
    pub(crate) fn new(
        delimiters: &Delimiters,
        cfg: &serde_json::Value,
        env_map: BTreeMap<String, String>,
        output_dir: &Path,
        stages: BTreeSet<String>,
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
        scope::register(&mut env);
        Ok(Renderer {
            env,
            left: left.clone(),
            right: right.clone(),
            cfg: Value::from(Serde(cfg)),
            env_map: Arc::new(env_map),
            stages: Arc::new(stages),
            output_dir: Arc::new(output_dir.to_path_buf()),
        })
    }

    /// The environment templates see as `env` (besides `STAGE_NAME`).
    pub(crate) fn env(&self) -> &BTreeMap<String, String> {
        &self.env_map
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
        self.env.template_from_named_str(&name, source).map(|_| ()).map_err(|e| self.error(path, source, &e))
    }

    /// The template context of one stage, built once and shared by all its files, and the
    /// scope its reads of other stages are checked against (`upstream`: what it depends on;
    /// `preflight`: upstream outputs are stand-ins).
    pub(crate) fn context(
        &self,
        stage: &str,
        upstream: impl Into<Upstream>,
        preflight: bool,
    ) -> (Value, Arc<Scope>) {
        let scope = Arc::new(Scope {
            stage: stage.to_string(),
            upstream: upstream.into(),
            stages: self.stages.clone(),
            output_dir: self.output_dir.clone(),
            preflight,
            certain: AtomicBool::new(false),
            consumed: std::sync::Mutex::default(),
        });
        let env = Env { base: self.env_map.clone(), scope: scope.clone() };
        let ctx = minijinja::context! {
            cfg => self.cfg.clone(),
            env => Value::from_object(env),
            stage_name => stage,
            __betterform_scope => Value::from_dyn_object(scope.clone()),
        };
        (ctx, scope)
    }

    /// The proof render of one file (see `scope`): the error it finds that no stand-in can
    /// have caused, if any.
    pub(crate) fn prove(&self, path: &Path, source: &str, ctx: &Value, scope: &Scope) -> Option<StampError> {
        if !self.is_template(source) {
            return None;
        }
        if let Err(e) = self.check_depth(path, source) {
            return Some(e);
        }
        scope.certain.store(false, Ordering::SeqCst);
        let e = self.render_raw(path, source, ctx).err()?;
        // A stand-in has every attribute and accepts every call: an undefined value, an
        // unknown filter, test, function or method is the template's own mistake.
        let certain = scope.certain.load(Ordering::SeqCst)
            || matches!(
                e.kind(),
                ErrorKind::UndefinedError
                    | ErrorKind::UnknownFilter
                    | ErrorKind::UnknownTest
                    | ErrorKind::UnknownFunction
                    | ErrorKind::UnknownMethod
                    | ErrorKind::SyntaxError
            );
        certain.then(|| self.error(path, source, &e))
    }

    pub(crate) fn render(&self, path: &Path, source: &str, ctx: &Value) -> Result<String, StampError> {
        if !self.is_template(source) {
            return Ok(source.to_string());
        }
        self.check_depth(path, source)?;
        self.render_raw(path, source, ctx).map_err(|e| self.error(path, source, &e))
    }

    fn render_raw(&self, path: &Path, source: &str, ctx: &Value) -> Result<String, minijinja::Error> {
        self.env.render_named_str(&path.display().to_string(), source, ctx.clone())
    }

    /// A template error, with a did-you-mean for an undefined `cfg` path.
    fn error(&self, path: &Path, source: &str, e: &minijinja::Error) -> StampError {
        let mut error = template_error(path, source, e);
        if let StampError::Template(d) = &mut error
            && let Some(expr) = d.message.strip_prefix("undefined value '").and_then(|m| m.strip_suffix('\''))
            && let Some(better) = self.suggest(expr)
        {
            d.message.push_str(&format!(" (did you mean '{better}'?)"));
        }
        error
    }

    /// The closest existing path to an undefined `cfg.a.b.c`: the first missing key replaced
    /// by the most similar key of the object that lacks it.
    fn suggest(&self, expr: &str) -> Option<String> {
        let mut parts = expr.split('.');
        if parts.next() != Some("cfg") {
            return None;
        }
        let mut value = self.cfg.clone();
        let mut path = String::from("cfg");
        for key in parts {
            match value.get_attr(key) {
                Ok(next) if !next.is_undefined() => {
                    value = next;
                    path.push('.');
                    path.push_str(key);
                }
                _ => {
                    let keys = value.try_iter().ok()?;
                    let best = keys
                        .filter_map(|k| k.as_str().map(str::to_string))
                        .map(|k| (strsim::jaro_winkler(key, &k), k))
                        .filter(|(score, _)| *score > 0.8)
                        .max_by(|a, b| a.0.total_cmp(&b.0))?;
                    return Some(format!("{path}.{}", best.1));
                }
            }
        }
        None
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
            let end = tag.find(&self.right).unwrap_or(tag.len());
            let operations = chained_operations(&tag[..end]);
            if operations > MAX_CHAIN {
                let offset = source.len() - rest.len() + start;
                let head = &source[..offset];
                let line = head.matches('\n').count() + 1;
                let column = head.rsplit('\n').next().unwrap_or(head).chars().count() + 1;
                let message = format!(
                    "expression too deep: {operations} chained operations (at most {MAX_CHAIN}); \
                     split it with {}% set … %{}",
                    self.left, self.right
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
