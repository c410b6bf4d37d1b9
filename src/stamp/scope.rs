//! What a template may read of other stages, and the proof run before anything runs.
//!
//! A stage's templates read upstream outputs (`output('db')`, `read_json(env.OUTPUT_DIR ~
//! "/db/output.json")`). Reading a stage that is not upstream is an error wherever it happens:
//! nothing orders the two, so it would succeed or fail by timing. Before any stage runs,
//! every targeted stage is rendered once against the real config with *stand-ins* for upstream
//! outputs: values that accept any use (any attribute, call, iteration, test), so everything
//! else in the template is checked — undefined config paths, unknown filters and functions,
//! `required` values. Only errors that cannot be caused by a stand-in count then.

use std::collections::{BTreeMap, BTreeSet};
use std::fmt;
use std::path::{Component, Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};

use minijinja::value::{Enumerator, Object, ObjectRepr, Serde};
use minijinja::{Error, ErrorKind, State, Value};

use super::index::{Consumed, Stat};

/// The name the scope has in a template's context (not meant for templates to use).
pub(crate) const SCOPE: &str = "__betterform_scope";

/// Who is rendering: the stage, what it may read, and whether this is the proof render.
#[derive(Debug)]
pub(crate) struct Scope {
    pub(crate) stage: String,
    /// Stages this one depends on, directly or not: whose outputs it may read.
    pub(crate) upstream: Upstream,
    /// Every stage of the DAG, to tell another stage's output dir from any other dir.
    pub(crate) stages: Arc<BTreeSet<String>>,
    pub(crate) output_dir: Arc<PathBuf>,
    /// Upstream outputs are stand-ins (the proof render before anything runs).
    pub(crate) preflight: bool,
    /// Set when an error was raised that no stand-in can cause: the proof reports it.
    pub(crate) certain: AtomicBool,
    /// What the render read besides its templates: files (with their stat before), the
    /// environment (the stat index).
    pub(crate) consumed: Mutex<Consumed>,
}

/// Whether a stage is upstream of the one rendering, asked only when a template reads
/// another stage's outputs (a set of every upstream name, built for every render, made runs of
/// thousands of stages quadratic).
#[derive(Clone)]
pub(crate) struct Upstream(Arc<dyn Fn(&str) -> bool + Send + Sync>);

impl Upstream {
    pub(crate) fn lazy(contains: impl Fn(&str) -> bool + Send + Sync + 'static) -> Upstream {
        Upstream(Arc::new(contains))
    }

    pub(crate) fn contains(&self, stage: &str) -> bool {
        (self.0)(stage)
    }
}

impl From<BTreeSet<String>> for Upstream {
    fn from(stages: BTreeSet<String>) -> Upstream {
        Upstream::lazy(move |stage| stages.contains(stage))
    }
}

impl fmt::Debug for Upstream {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Upstream")
    }
}

/// A render's `env`: the environment, and `STAGE_NAME` the stage's name. The names a render
/// looks up, or that it went through them all, are noted in its scope (the stat index).
#[derive(Debug)]
pub(crate) struct Env {
    pub(crate) base: Arc<BTreeMap<String, String>>,
    pub(crate) scope: Arc<Scope>,
}

const STAGE_NAME: &str = "STAGE_NAME";

impl Env {
    fn lookup(&self, name: &str) -> Option<&str> {
        if name == STAGE_NAME { Some(&self.scope.stage) } else { self.base.get(name).map(String::as_str) }
    }
}

impl Object for Env {
    fn repr(self: &Arc<Self>) -> ObjectRepr {
        ObjectRepr::Map
    }

    fn get_value(self: &Arc<Self>, key: &Value) -> Option<Value> {
        let name = key.as_str()?;
        if name != STAGE_NAME {
            self.scope
                .consumed
                .lock()
                .expect("no panics while holding the lock")
                .env
                .insert(name.to_string());
        }
        self.lookup(name).map(Value::from)
    }

    fn enumerate(self: &Arc<Self>) -> Enumerator {
        self.scope.consumed.lock().expect("no panics while holding the lock").all_env = true;
        let mut names: Vec<&str> = self.base.keys().map(String::as_str).collect();
        if !self.base.contains_key(STAGE_NAME) {
            names.push(STAGE_NAME);
            names.sort_unstable();
        }
        Enumerator::Values(names.into_iter().map(Value::from).collect())
    }
}

impl Object for Scope {}

impl Scope {
    /// Notes that the render is about to read `path` (or look whether it exists).
    fn reading(&self, path: &Path) {
        let stat = Stat::follow(path);
        self.consumed
            .lock()
            .expect("no panics while holding the lock")
            .files
            .push((path.to_path_buf(), stat));
    }

    /// The scope of the render in progress.
    pub(crate) fn of(state: &State<'_, '_>) -> Option<Arc<Scope>> {
        state.lookup(SCOPE).and_then(|v| v.downcast_object::<Scope>())
    }

    /// An error the proof must report (not one a stand-in could have caused).
    pub(crate) fn certain_error(&self, message: String) -> Error {
        self.certain.store(true, Ordering::SeqCst);
        Error::new(ErrorKind::InvalidOperation, message)
    }

    /// The stage whose output dir holds `path`, if it is another stage's.
    fn output_of(&self, path: &Path) -> Option<String> {
        let path = crate::wave::normalize(&std::path::absolute(path).ok()?);
        let rel = path.strip_prefix(self.output_dir.as_path()).ok()?;
        let Some(Component::Normal(first)) = rel.components().next() else { return None };
        let stage = first.to_str()?.to_string();
        (stage != self.stage && self.stages.contains(&stage)).then_some(stage)
    }

    /// Checks that reading `stage`'s outputs is allowed; `Ok(true)`: a stand-in is read
    /// instead (the proof render).
    fn may_read(&self, stage: &str, what: &str) -> Result<bool, Error> {
        if !self.upstream.contains(stage) {
            return Err(self.certain_error(format!(
                "{what} reads the outputs of stage '{stage}', which '{}' does not depend on: nothing \
                 orders the two, so the read would depend on timing; add '{stage}' to the dependencies \
                 of '{}' in betterform_dag.mk",
                self.stage, self.stage
            )));
        }
        Ok(self.preflight)
    }
}

/// A value only a stage that has not run yet will produce: accepts any use.
#[derive(Debug)]
struct StandIn(String);

impl StandIn {
    fn value(what: String) -> Value {
        Value::from_object(StandIn(what))
    }
}

impl Object for StandIn {
    fn get_value(self: &Arc<Self>, key: &Value) -> Option<Value> {
        Some(StandIn::value(format!("{}.{key}", self.0)))
    }

    fn enumerate(self: &Arc<Self>) -> Enumerator {
        Enumerator::Empty
    }

    fn call(self: &Arc<Self>, _: &mut State<'_, '_>, _: &[Value]) -> Result<Value, Error> {
        Ok(StandIn::value(format!("{}()", self.0)))
    }

    fn call_method(
        self: &Arc<Self>,
        _: &mut State<'_, '_>,
        method: &str,
        _: &[Value],
    ) -> Result<Value, Error> {
        Ok(StandIn::value(format!("{}.{method}()", self.0)))
    }

    fn render(self: &Arc<Self>, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "<{}>", self.0)
    }
}

fn fn_error(message: String) -> Error {
    Error::new(ErrorKind::InvalidOperation, message)
}

fn read_text(path: &str, function: &str) -> Result<String, Error> {
    std::fs::read_to_string(path).map_err(|e| fn_error(format!("{function}('{path}'): {e}")))
}

fn parse_json(path: &str, text: &str, function: &str) -> Result<Value, Error> {
    let value: serde_json::Value = serde_json::from_str(text).map_err(|e| {
        fn_error(format!("{function}: {path}:{}:{}: invalid JSON: {e}", e.line(), e.column()))
    })?;
    Ok(Value::from(Serde(value)))
}

/// `read_json`, `read_file`, `file_exists` and `output`, aware of the scope.
pub(crate) fn register(env: &mut minijinja::Environment<'static>) {
    env.add_function("read_json", |state: &State<'_, '_>, path: String| {
        if let Some(scope) = Scope::of(state)
            && let Some(stage) = scope.output_of(Path::new(&path))
            && scope.may_read(&stage, &format!("read_json('{path}')"))?
        {
            return Ok(StandIn::value(format!("read_json('{path}')")));
        }
        if let Some(scope) = Scope::of(state) {
            scope.reading(Path::new(&path));
        }
        parse_json(&path, &read_text(&path, "read_json")?, "read_json")
    });
    env.add_function("read_file", |state: &State<'_, '_>, path: String| {
        if let Some(scope) = Scope::of(state)
            && let Some(stage) = scope.output_of(Path::new(&path))
            && scope.may_read(&stage, &format!("read_file('{path}')"))?
        {
            return Ok(StandIn::value(format!("read_file('{path}')")));
        }
        if let Some(scope) = Scope::of(state) {
            scope.reading(Path::new(&path));
        }
        read_text(&path, "read_file").map(Value::from)
    });
    env.add_function("file_exists", |state: &State<'_, '_>, path: String| {
        if let Some(scope) = Scope::of(state)
            && let Some(stage) = scope.output_of(Path::new(&path))
            && scope.may_read(&stage, &format!("file_exists('{path}')"))?
        {
            return Ok(true);
        }
        if let Some(scope) = Scope::of(state) {
            scope.reading(Path::new(&path));
        }
        Ok(Path::new(&path).exists())
    });
    env.add_function("output", |state: &State<'_, '_>, stage: String| {
        let Some(scope) = Scope::of(state) else { return Err(fn_error("output() outside a stage".into())) };
        // Its own outputs, from its last `up`, need no ordering.
        if stage != scope.stage {
            if !scope.stages.contains(&stage) {
                return Err(
                    scope.certain_error(format!("output('{stage}'): there is no stage '{stage}' in the DAG"))
                );
            }
            if scope.may_read(&stage, &format!("output('{stage}')"))? {
                return Ok(StandIn::value(format!("output('{stage}')")));
            }
        }
        let path = scope.output_dir.join(&stage).join("output.json");
        let shown = path.display().to_string();
        scope.reading(&path);
        match std::fs::read_to_string(&path) {
            Ok(text) => parse_json(&shown, &text, "output"),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Err(fn_error(format!(
                "output('{stage}'): {shown} does not exist: stage '{stage}' has not written its outputs here (has it run 'up'? a CI job running --only must first restore them from its dependencies' artifacts)"
            ))),
            Err(e) => Err(fn_error(format!("output('{stage}'): {shown}: {e}"))),
        }
    });
}
