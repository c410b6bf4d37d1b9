//! A step's inputs against its `inputs.json` (README: "Step-package stages"):
//! bind `#{…}` expressions, coerce bound strings to the schema's types, map package
//! references to what the executor sees (`{"extractedToPath": …}`), collect secrets, then
//! validate with JSON Schema (draft-07) and report every error at its input path.
//!
//! The schema's marker keywords: `isRoot` (the root type among `definitions`),
//! `isPackageReference`, `isSensitiveValue`, and `isDiscriminator` with `const` (tells the
//! members of an `anyOf` union apart; never bound).

use std::collections::{BTreeMap, BTreeSet};
use std::fmt;
use std::path::{Path, PathBuf};

use jsonschema::error::{TypeKind, ValidationErrorKind};
use serde_json::{Map, Value, json};

use super::error::{InputError, StepError};
use super::variables::{self, Lookup};

/// One step of an input path.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Seg {
    Key(String),
    Index(usize),
}

/// An input path, shown as `a.b[2].c`.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
struct InputPath(Vec<Seg>);

impl fmt::Display for InputPath {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (i, seg) in self.0.iter().enumerate() {
            match seg {
                Seg::Key(k) if i == 0 => write!(f, "{k}")?,
                Seg::Key(k) => write!(f, ".{k}")?,
                Seg::Index(n) => write!(f, "[{n}]")?,
            }
        }
        Ok(())
    }
}

impl InputPath {
    fn child(&self, seg: Seg) -> InputPath {
        let mut path = self.clone();
        path.0.push(seg);
        path
    }

    /// From a JSON pointer into `instance` (array indices told apart by looking).
    fn from_pointer(pointer: &str, instance: &Value) -> InputPath {
        let mut path = InputPath::default();
        let mut at = Some(instance);
        for raw in pointer.split('/').skip(1) {
            let key = raw.replace("~1", "/").replace("~0", "~");
            let seg = match (at, key.parse::<usize>()) {
                (Some(Value::Array(_)), Ok(n)) => Seg::Index(n),
                _ => Seg::Key(key),
            };
            at = match (&seg, at) {
                (Seg::Index(n), Some(Value::Array(items))) => items.get(*n),
                (Seg::Key(k), Some(Value::Object(map))) => map.get(k),
                _ => None,
            };
            path.0.push(seg);
        }
        path
    }

    fn within(&self, other: &InputPath) -> bool {
        self.0.starts_with(&other.0)
    }
}

fn error(path: &InputPath, message: impl Into<String>) -> InputError {
    InputError { path: path.to_string(), message: message.into() }
}

/// Whether inputs are being checked before the run (bound values skipped) or bound for
/// execution.
pub(crate) enum Mode<'a> {
    Configure {
        /// The package reference ids `step.json` declares.
        packages: BTreeSet<String>,
    },
    Execute {
        vars: &'a dyn Lookup,
        /// Reference id → where the package was extracted.
        packages: &'a BTreeMap<String, PathBuf>,
    },
}

/// Inputs after binding.
#[derive(Debug, Default)]
pub(crate) struct Bound {
    pub(crate) value: Value,
    /// Values to mask: sensitive inputs, and anything bound from a sensitive variable.
    pub(crate) secrets: Vec<String>,
    /// Where secrets sit, to redact a copy of the inputs.
    sensitive: Vec<InputPath>,
    /// Still bound to `#{…}` (configure mode): not validated.
    skipped: Vec<InputPath>,
}

impl Bound {
    /// Each sensitive input's path, and what sits at that path in `other` (the same inputs
    /// as written in a template, say), where there is something.
    pub(crate) fn sensitive_in<'v>(&self, other: &'v Value) -> Vec<(String, &'v Value)> {
        self.sensitive
            .iter()
            .filter_map(|path| {
                let mut at = Some(other);
                for seg in &path.0 {
                    at = match (seg, at) {
                        (Seg::Key(k), Some(Value::Object(map))) => map.get(k),
                        (Seg::Index(n), Some(Value::Array(items))) => items.get(*n),
                        _ => None,
                    };
                }
                Some((path.to_string(), at?))
            })
            .collect()
    }

    /// The inputs with every secret replaced by the mask, for the manifest and `plan`.
    pub(crate) fn redacted(&self) -> Value {
        let mut value = self.value.clone();
        for path in &self.sensitive {
            let mut at = Some(&mut value);
            for seg in &path.0 {
                at = match (seg, at) {
                    (Seg::Key(k), Some(Value::Object(map))) => map.get_mut(k),
                    (Seg::Index(n), Some(Value::Array(items))) => items.get_mut(*n),
                    _ => None,
                };
            }
            if let Some(slot) = at {
                *slot = Value::String(crate::mask::MASK.into());
            }
        }
        value
    }
}

/// A compiled `inputs.json`.
pub(crate) struct Schema {
    /// The root type, with `definitions` beside it so `$ref`s resolve.
    root: Value,
    validator: jsonschema::Validator,
}

const MAX_REF_HOPS: usize = 64;

fn flag(schema: &Value, key: &str) -> bool {
    schema.get(key).and_then(Value::as_bool) == Some(true)
}

/// Server-owned types are checked by betterform, not by the validator. Package references
/// (declared in `step.json`, mapped to `extractedToPath`): their author-side shape is not the
/// executor's, so the validator only asks for an object there. Sensitive values (the
/// generator emits `{"type": "object", "isSensitiveValue": true}`) reach the executor as the
/// secret's text, as under Octopus: the validator asks for a string.
fn relax_server_types(schema: &mut Value) {
    match schema {
        Value::Object(map) if flag_in(map, "isPackageReference") => {
            *schema = json!({"type": "object", "isPackageReference": true});
        }
        Value::Object(map) if flag_in(map, "isSensitiveValue") => {
            *schema = json!({"type": "string", "isSensitiveValue": true});
        }
        Value::Object(map) => map.values_mut().for_each(relax_server_types),
        Value::Array(items) => items.iter_mut().for_each(relax_server_types),
        _ => {}
    }
}

fn flag_in(map: &Map<String, Value>, key: &str) -> bool {
    map.get(key).and_then(Value::as_bool) == Some(true)
}

/// The shapes a sensitive input may take in `step.json`: those of Octopus's step API
/// (`@octopusdeploy/step-inputs` `SensitiveValue`, the stored `{HasValue, NewValue}` form and
/// a runtime `BoundValue`), and a plain string or scalar.
#[derive(Debug, PartialEq)]
enum SensitiveForm<'v> {
    /// A string (maybe binding `#{…}`), or a number or boolean taken as its text.
    Text(String),
    /// `{"type": "new", "newValue": …}`, `{"HasValue": true, "NewValue": …}`,
    /// `{"type": "bound", "expression": …}`.
    New(&'v Value),
    /// `{"type": "existing"}`, `{"HasValue": true}`: a value stored on an Octopus Server.
    Existing,
    /// `{"type": "empty"}`, `{"HasValue": false}`, `null`: no value; the input is left out.
    Empty,
    Unknown,
}

fn sensitive_form(value: &Value) -> SensitiveForm<'_> {
    match value {
        Value::String(text) => SensitiveForm::Text(text.clone()),
        Value::Number(_) | Value::Bool(_) => SensitiveForm::Text(variables::text_of(value)),
        Value::Null => SensitiveForm::Empty,
        Value::Object(map) => match (map.get("type").and_then(Value::as_str), map.get("HasValue")) {
            (Some("new"), _) => map.get("newValue").map_or(SensitiveForm::Unknown, SensitiveForm::New),
            (Some("bound"), _) => map.get("expression").map_or(SensitiveForm::Unknown, SensitiveForm::New),
            (Some("existing"), _) => SensitiveForm::Existing,
            (Some("empty"), _) => SensitiveForm::Empty,
            (None, Some(Value::Bool(true))) => match map.get("NewValue") {
                Some(Value::Null) | None => SensitiveForm::Existing,
                Some(new) => SensitiveForm::New(new),
            },
            (None, Some(Value::Bool(false))) => SensitiveForm::Empty,
            _ => SensitiveForm::Unknown,
        },
        Value::Array(_) => SensitiveForm::Unknown,
    }
}

impl Schema {
    /// `doc` is `inputs.json`; `path` names it in messages.
    pub(crate) fn compile(doc: &Value, path: &Path) -> Result<Schema, StepError> {
        let bad = |message: String| StepError::package(path, message);
        let definitions = doc.get("definitions").cloned();
        let root_def = definitions.as_ref().and_then(Value::as_object).and_then(|defs| {
            let roots: Vec<&Value> = defs.values().filter(|d| flag(d, "isRoot")).collect();
            (roots.len() == 1).then(|| roots[0].clone())
        });
        let mut root = match root_def {
            Some(Value::Object(mut def)) => {
                if let Some(defs) = definitions {
                    def.insert("definitions".into(), defs);
                }
                Value::Object(def)
            }
            _ => doc.clone(),
        };
        relax_server_types(&mut root);
        let validator = jsonschema::options()
            .with_draft(jsonschema::Draft::Draft7)
            .build(&root)
            .map_err(|e| bad(format!("inputs.json is not a valid JSON Schema: {e}")))?;
        Ok(Schema { root, validator })
    }

    /// Follows `$ref`s (within this document).
    fn resolve<'s>(&'s self, mut schema: &'s Value) -> Option<&'s Value> {
        for _ in 0..MAX_REF_HOPS {
            match schema.get("$ref").and_then(Value::as_str) {
                Some(reference) => schema = self.root.pointer(reference.strip_prefix('#')?)?,
                None => return Some(schema),
            }
        }
        None
    }

    fn union<'s>(&'s self, schema: &'s Value) -> Option<Vec<&'s Value>> {
        let members = schema.get("anyOf").or_else(|| schema.get("oneOf"))?.as_array()?;
        Some(members.iter().filter_map(|m| self.resolve(m)).collect())
    }

    /// The discriminators (`isDiscriminator` + `const`) of an object schema.
    fn discriminators<'s>(&'s self, schema: &'s Value) -> Vec<(&'s String, &'s Value)> {
        let Some(props) = schema.get("properties").and_then(Value::as_object) else { return Vec::new() };
        props
            .iter()
            .filter_map(|(k, p)| {
                let p = self.resolve(p)?;
                flag(p, "isDiscriminator").then_some((k, p.get("const")?))
            })
            .collect()
    }

    /// The union member whose discriminators all match.
    fn member<'s>(&'s self, members: &[&'s Value], value: &Value) -> Option<&'s Value> {
        members.iter().copied().find(|member| {
            let discriminators = self.discriminators(member);
            !discriminators.is_empty()
                && discriminators.iter().all(|(k, c)| value.get(k.as_str()) == Some(*c))
        })
    }

    /// The JSON types a bound string may become here.
    fn types<'s>(&'s self, schema: &'s Value) -> Vec<&'s str> {
        let mut types = Vec::new();
        match schema.get("type") {
            Some(Value::String(t)) => types.push(t.as_str()),
            Some(Value::Array(ts)) => types.extend(ts.iter().filter_map(Value::as_str)),
            _ => {}
        }
        if let Some(members) = self.union(schema) {
            for member in members {
                types.extend(self.types(member));
            }
        }
        types
    }

    /// Binds `inputs`; every problem found is returned, not just the first.
    pub(crate) fn bind(&self, inputs: &Value, mode: &Mode<'_>) -> (Bound, Vec<InputError>) {
        let mut cx = Cx { mode, bound: Bound::default(), errors: Vec::new() };
        let value = self.bind_value(inputs, Some(&self.root), &InputPath::default(), &mut cx);
        cx.bound.value = value;
        (cx.bound, cx.errors)
    }

    fn bind_value(
        &self,
        value: &Value,
        schema: Option<&Value>,
        path: &InputPath,
        cx: &mut Cx<'_, '_>,
    ) -> Value {
        let mut schema = schema.and_then(|s| self.resolve(s));
        // Discriminator fields of this object (of any union member, if none was picked).
        let mut discriminators = BTreeSet::new();
        if let Some(s) = schema {
            if flag(s, "isPackageReference") {
                return self.package_reference(value, path, cx);
            }
            if let (Some(members), Value::Object(_)) = (self.union(s), value) {
                match self.member(&members, value) {
                    Some(member) => schema = Some(member),
                    None => {
                        discriminators.extend(
                            members.iter().flat_map(|m| self.discriminators(m)).map(|(k, _)| k.clone()),
                        );
                    }
                }
            }
        }
        if let Some(s) = schema {
            discriminators.extend(self.discriminators(s).into_iter().map(|(k, _)| k.clone()));
        }
        let sensitive = schema.is_some_and(|s| flag(s, "isSensitiveValue"));
        if sensitive {
            return self.bind_sensitive(value, path, cx);
        }
        match value {
            Value::Object(map) => {
                // A bare `{"referenceId": …}` without a schema marker is still a reference.
                if schema.is_none() && map.len() == 1 && map.contains_key("referenceId") {
                    return self.package_reference(value, path, cx);
                }
                let props = schema.and_then(|s| s.get("properties"));
                let additional = schema.and_then(|s| s.get("additionalProperties")).filter(|a| a.is_object());
                let mut out = Map::new();
                for (key, item) in map {
                    let sub = props.and_then(|p| p.get(key)).or(additional);
                    let child = path.child(Seg::Key(key.clone()));
                    // An empty sensitive value is no value: the step sees the input absent.
                    if sub.and_then(|s| self.resolve(s)).is_some_and(|s| flag(s, "isSensitiveValue"))
                        && sensitive_form(item) == SensitiveForm::Empty
                    {
                        continue;
                    }
                    if discriminators.contains(key) && item.as_str().is_some_and(variables::is_bound) {
                        cx.errors.push(error(&child, "a discriminator cannot be bound to a variable"));
                        out.insert(key.clone(), item.clone());
                        continue;
                    }
                    out.insert(key.clone(), self.bind_value(item, sub, &child, cx));
                }
                Value::Object(out)
            }
            Value::Array(items) => {
                let item_schemas = schema.and_then(|s| s.get("items"));
                let out = items
                    .iter()
                    .enumerate()
                    .map(|(i, item)| {
                        let sub = match item_schemas {
                            Some(Value::Array(tuple)) => tuple.get(i),
                            other => other,
                        };
                        self.bind_value(item, sub, &path.child(Seg::Index(i)), cx)
                    })
                    .collect();
                Value::Array(out)
            }
            Value::String(text) => self.bind_string(text, schema, false, path, cx),
            other => other.clone(),
        }
    }

    /// A sensitive input, in any of its shapes: the executor gets the secret's text, as an
    /// Octopus step does; its path is remembered for redaction and its value for masking.
    fn bind_sensitive(&self, value: &Value, path: &InputPath, cx: &mut Cx<'_, '_>) -> Value {
        let text = match sensitive_form(value) {
            SensitiveForm::Text(text) => text,
            SensitiveForm::New(Value::String(text)) => text.clone(),
            SensitiveForm::New(other @ (Value::Number(_) | Value::Bool(_))) => variables::text_of(other),
            SensitiveForm::Existing => {
                cx.errors.push(error(
                    path,
                    "an 'existing' sensitive value is one stored on an Octopus Server; betterform stores no secrets: bind it, e.g. \"#{Env.NAME}\" or {\"type\": \"new\", \"newValue\": \"#{Env.NAME}\"}",
                ));
                cx.bound.sensitive.push(path.clone());
                return Value::String(crate::mask::MASK.into());
            }
            SensitiveForm::Empty => return Value::Null,
            SensitiveForm::New(_) | SensitiveForm::Unknown => {
                // Not shown: it may hold the secret.
                cx.errors.push(error(
                    path,
                    "expected a sensitive value: a string, {\"type\": \"new\", \"newValue\": \"…\"}, {\"type\": \"existing\"} or {\"type\": \"empty\"}",
                ));
                cx.bound.sensitive.push(path.clone());
                return Value::String(crate::mask::MASK.into());
            }
        };
        self.bind_string(&text, None, true, path, cx)
    }

    fn bind_string(
        &self,
        text: &str,
        schema: Option<&Value>,
        sensitive: bool,
        path: &InputPath,
        cx: &mut Cx<'_, '_>,
    ) -> Value {
        let bound = variables::is_bound(text);
        let (resolved, from_secret) = match cx.mode {
            Mode::Configure { .. } if bound => {
                cx.bound.skipped.push(path.clone());
                if sensitive {
                    cx.bound.sensitive.push(path.clone());
                }
                return Value::String(text.to_string());
            }
            Mode::Configure { .. } => (text.replace("##{", "#{"), false),
            Mode::Execute { vars, .. } => match variables::evaluate(text, *vars) {
                Ok(result) => result,
                Err(e) => {
                    cx.errors.push(error(path, format!("cannot bind \"{text}\": {e}")));
                    return Value::String(text.to_string());
                }
            },
        };
        if sensitive || from_secret {
            cx.bound.secrets.push(resolved.clone());
            cx.bound.sensitive.push(path.clone());
        }
        if !bound {
            return Value::String(resolved);
        }
        let types = schema.map(|s| self.types(s)).unwrap_or_default();
        match coerce(&resolved, &types) {
            Ok(value) => value,
            Err(expected) => {
                cx.errors.push(error(
                    path,
                    format!("expected {expected}, got \"{resolved}\" (bound from \"{text}\")"),
                ));
                Value::String(resolved)
            }
        }
    }

    fn package_reference(&self, value: &Value, path: &InputPath, cx: &mut Cx<'_, '_>) -> Value {
        let Some(id) = value.get("referenceId").and_then(Value::as_str) else {
            cx.errors.push(error(path, "expected a package reference {\"referenceId\": \"…\"}"));
            return value.clone();
        };
        let undeclared = || {
            error(path, format!("package reference '{id}' is not declared under \"packages\" in step.json"))
        };
        match cx.mode {
            Mode::Configure { packages } => {
                if !packages.contains(id) {
                    cx.errors.push(undeclared());
                }
                value.clone()
            }
            Mode::Execute { packages, .. } => match packages.get(id) {
                Some(dir) => json!({ "extractedToPath": dir }),
                None => {
                    cx.errors.push(undeclared());
                    value.clone()
                }
            },
        }
    }

    /// Binds and validates: the bound inputs, or every error, sorted by input path. Schema
    /// errors at an input that could not be bound are left out (the binding error says it).
    pub(crate) fn check(&self, inputs: &Value, mode: &Mode<'_>) -> (Bound, Vec<InputError>) {
        let (bound, mut errors) = self.bind(inputs, mode);
        let unbound: Vec<String> = errors.iter().map(|e| e.path.clone()).collect();
        let within = |path: &str, of: &str| {
            path == of || path.strip_prefix(of).is_some_and(|rest| rest.starts_with(['.', '[']))
        };
        errors.extend(
            self.validate(&bound).into_iter().filter(|e| !unbound.iter().any(|u| within(&e.path, u))),
        );
        errors.sort_by(|a, b| a.path.cmp(&b.path));
        (bound, errors)
    }

    /// Validates bound inputs; every error, each at its input path. Values still bound to
    /// `#{…}` (configure mode) are not judged.
    pub(crate) fn validate(&self, bound: &Bound) -> Vec<InputError> {
        let instance = &bound.value;
        let mut errors = Vec::new();
        for e in self.validator.iter_errors(instance) {
            describe(&e, instance, &mut errors);
        }
        errors.retain(|(path, _)| !bound.skipped.iter().any(|skip| path.within(skip)));
        let mut seen = BTreeSet::new();
        errors
            .into_iter()
            .map(|(path, message)| error(&path, message))
            .filter(|e| seen.insert((e.path.clone(), e.message.clone())))
            .collect()
    }
}

struct Cx<'m, 'a> {
    mode: &'m Mode<'a>,
    bound: Bound,
    errors: Vec<InputError>,
}

/// A bound string as one of `types` (string wins when allowed), or what was expected.
fn coerce(text: &str, types: &[&str]) -> Result<Value, String> {
    if types.is_empty() || types.contains(&"string") {
        return Ok(Value::String(text.to_string()));
    }
    let t = text.trim();
    for ty in types {
        let value = match *ty {
            "integer" => t.parse::<i64>().ok().map(Value::from),
            "number" => t
                .parse::<i64>()
                .ok()
                .map(Value::from)
                .or_else(|| t.parse::<f64>().ok().filter(|f| f.is_finite()).map(Value::from)),
            "boolean" => match t.to_ascii_lowercase().as_str() {
                "true" => Some(Value::Bool(true)),
                "false" => Some(Value::Bool(false)),
                _ => None,
            },
            "null" => (t.is_empty() || t == "null").then_some(Value::Null),
            _ => None,
        };
        if let Some(value) = value {
            return Ok(value);
        }
    }
    let mut names: Vec<&str> = types.to_vec();
    names.dedup();
    Err(names.join(" or "))
}

fn short(value: &Value) -> String {
    let text = value.to_string();
    if text.chars().count() > 60 { format!("{}…", text.chars().take(60).collect::<String>()) } else { text }
}

/// Turns one validator error into messages at input paths. For a union, the member picked
/// by its discriminator explains the failure; if none matches, the discriminator is wrong.
fn describe(e: &jsonschema::ValidationError<'_>, root: &Value, out: &mut Vec<(InputPath, String)>) {
    let path = InputPath::from_pointer(e.instance_path().as_str(), root);
    let instance = e.instance();
    let message = match e.kind() {
        ValidationErrorKind::Type { kind } => {
            let expected = match kind {
                TypeKind::Single(t) => t.to_string(),
                TypeKind::Multiple(set) => set.iter().map(|t| t.to_string()).collect::<Vec<_>>().join(" or "),
            };
            format!("expected {expected}, got {}", short(instance))
        }
        ValidationErrorKind::Required { property } => {
            let name = property.as_str().map_or_else(|| property.to_string(), str::to_string);
            out.push((path.child(Seg::Key(name)), "required input is missing".into()));
            return;
        }
        ValidationErrorKind::AdditionalProperties { unexpected } => {
            for name in unexpected {
                out.push((path.child(Seg::Key(name.clone())), "not an input of this step".into()));
            }
            return;
        }
        ValidationErrorKind::Enum { options } => {
            format!("expected one of {}, got {}", short(options), short(instance))
        }
        ValidationErrorKind::Constant { expected_value } => {
            format!("expected {}, got {}", short(expected_value), short(instance))
        }
        ValidationErrorKind::AnyOf { context } | ValidationErrorKind::OneOfNotValid { context } => {
            // Members whose errors are not about a `const` field: the discriminator matched.
            let is_const_miss = |err: &jsonschema::ValidationError<'_>| {
                matches!(err.kind(), ValidationErrorKind::Constant { .. })
                    && InputPath::from_pointer(err.instance_path().as_str(), root).0.len() == path.0.len() + 1
            };
            let matched: Vec<&Vec<jsonschema::ValidationError<'_>>> =
                context.iter().filter(|errs| !errs.iter().any(is_const_miss)).collect();
            if let [errs] = matched.as_slice() {
                for err in errs.iter() {
                    describe(err, root, out);
                }
                return;
            }
            let mut wanted = Vec::new();
            let mut at = None;
            for err in context.iter().flatten() {
                if let ValidationErrorKind::Constant { expected_value } = err.kind()
                    && is_const_miss(err)
                {
                    wanted.push(expected_value.to_string());
                    at.get_or_insert_with(|| {
                        (InputPath::from_pointer(err.instance_path().as_str(), root), short(err.instance()))
                    });
                }
            }
            if let Some((at, got)) = at {
                wanted.dedup();
                out.push((at, format!("expected one of {}, got {got}", wanted.join(", "))));
                return;
            }
            "does not match any of the allowed shapes".into()
        }
        _ => e.to_string(),
    };
    out.push((path, message));
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::step::variables::{Resolved, VarError};

    struct Vars;

    impl Lookup for Vars {
        fn get(&self, name: &str) -> Result<Option<Resolved>, VarError> {
            Ok(match name {
                "Retries" => Some(Resolved { value: json!("3"), sensitive: false }),
                "Flag" => Some(Resolved { value: json!("True"), sensitive: false }),
                "Word" => Some(Resolved { value: json!("abc"), sensitive: false }),
                "Token" => Some(Resolved { value: json!("tok-secret-1"), sensitive: true }),
                _ => None,
            })
        }
    }

    fn schema() -> Schema {
        let doc = json!({
            "$schema": "http://json-schema.org/draft-07/schema#",
            "definitions": {
                "Inputs": {
                    "isRoot": true,
                    "type": "object",
                    "properties": {
                        "containerName": {"type": "string"},
                        "retries": {"type": "integer"},
                        "verbose": {"type": "boolean"},
                        "apiToken": {"type": "string", "isSensitiveValue": true},
                        "site": {"$ref": "#/definitions/PackageReference"},
                        "filesToInclude": {"anyOf": [{"$ref": "#/definitions/All"}, {"$ref": "#/definitions/Custom"}]}
                    },
                    "required": ["containerName", "retries"],
                    "additionalProperties": false
                },
                "PackageReference": {"type": "object", "isPackageReference": true,
                                     "properties": {"packageId": {"type": "string"}}, "required": ["packageId"]},
                "All": {"type": "object", "properties": {"type": {"const": "all files", "isDiscriminator": true}},
                        "required": ["type"]},
                "Custom": {"type": "object", "properties": {
                    "type": {"const": "custom files", "isDiscriminator": true},
                    "files": {"type": "array", "items": {"type": "object", "properties": {"glob": {"type": "string"}},
                              "required": ["glob"]}}
                }, "required": ["type", "files"]}
            }
        });
        Schema::compile(&doc, Path::new("inputs.json")).unwrap()
    }

    fn execute(inputs: Value) -> (Bound, Vec<String>) {
        let packages = BTreeMap::from([("site".to_string(), PathBuf::from("/x/site"))]);
        let schema = schema();
        let (bound, mut errors) = schema.bind(&inputs, &Mode::Execute { vars: &Vars, packages: &packages });
        if errors.is_empty() {
            errors = schema.validate(&bound);
        }
        (bound, errors.iter().map(ToString::to_string).collect())
    }

    #[test]
    fn binds_coerces_and_maps_package_references() {
        let (bound, errors) = execute(json!({
            "containerName": "c-#{Word}", "retries": "#{Retries}", "verbose": "#{Flag}",
            "site": {"referenceId": "site"}, "apiToken": "#{Token}",
            "filesToInclude": {"type": "custom files", "files": [{"glob": "*.html"}]}
        }));
        assert_eq!(errors, Vec::<String>::new());
        assert_eq!(bound.value["containerName"], "c-abc");
        assert_eq!(bound.value["retries"], 3);
        assert_eq!(bound.value["verbose"], true);
        assert_eq!(bound.value["site"], json!({"extractedToPath": "/x/site"}));
        assert_eq!(bound.secrets, ["tok-secret-1"]);
        assert_eq!(bound.redacted()["apiToken"], crate::mask::MASK);
        assert_eq!(bound.redacted()["retries"], 3);
    }

    /// A schema as the Octopus generator emits a `SensitiveValue` input.
    fn generated() -> Schema {
        let doc = json!({"definitions": {"I": {"isRoot": true, "type": "object",
            "properties": {"apiKey": {"type": "object", "isSensitiveValue": true}, "n": {"type": "string"}},
            "required": ["apiKey"], "additionalProperties": false}}});
        Schema::compile(&doc, Path::new("inputs.json")).unwrap()
    }

    fn bind_key(key: Value) -> (Bound, Vec<String>) {
        let packages = BTreeMap::new();
        let (bound, errors) =
            generated().check(&json!({"apiKey": key}), &Mode::Execute { vars: &Vars, packages: &packages });
        (bound, errors.iter().map(ToString::to_string).collect())
    }

    #[test]
    fn a_sensitive_value_in_every_shape_reaches_the_step_as_its_text() {
        for shape in [
            json!("#{Token}"),
            json!({"type": "new", "newValue": "#{Token}"}),
            json!({"HasValue": true, "NewValue": "#{Token}"}),
            json!({"type": "bound", "expression": "#{Token}"}),
            json!("tok-#{Word}"),
        ] {
            let (bound, errors) = bind_key(shape.clone());
            assert_eq!(errors, Vec::<String>::new(), "{shape}");
            let text = bound.value["apiKey"].as_str().unwrap().to_string();
            assert!(text == "tok-secret-1" || text == "tok-abc", "{shape}: {text}");
            assert_eq!(bound.secrets, std::slice::from_ref(&text), "{shape}");
            assert_eq!(bound.redacted()["apiKey"], crate::mask::MASK, "{shape}");
        }
        let (bound, errors) = bind_key(json!(12345));
        assert!(errors.is_empty());
        assert_eq!(bound.value["apiKey"], "12345");
    }

    #[test]
    fn empty_existing_and_malformed_sensitive_values() {
        for empty in [json!({"type": "empty"}), json!({"HasValue": false}), Value::Null] {
            let (bound, errors) = bind_key(empty.clone());
            assert_eq!(errors, ["apiKey: required input is missing"], "{empty}");
            assert!(bound.value.get("apiKey").is_none(), "{empty}");
        }
        for existing in [json!({"type": "existing"}), json!({"HasValue": true})] {
            let (_, errors) = bind_key(existing.clone());
            assert_eq!(errors.len(), 1, "{errors:?}");
            assert!(
                errors[0].contains("an 'existing' sensitive value is one stored on an Octopus Server"),
                "{errors:?}"
            );
        }
        let (bound, errors) = bind_key(json!({"type": "new", "newValue": ["leaked-in-an-error"]}));
        assert_eq!(errors.len(), 1, "{errors:?}");
        assert!(errors[0].starts_with("apiKey: expected a sensitive value"), "{errors:?}");
        assert!(!errors[0].contains("leaked"), "{errors:?}");
        assert_eq!(bound.redacted()["apiKey"], crate::mask::MASK);
    }

    #[test]
    fn every_error_is_reported_with_its_path() {
        let (_, errors) = execute(json!({
            "retries": 2.5, "bogus": 1,
            "filesToInclude": {"type": "custom files", "files": [{"glob": "a"}, {"glob": "b"}, {"glob": 5}, {}]}
        }));
        assert!(errors.contains(&"containerName: required input is missing".to_string()), "{errors:?}");
        assert!(errors.contains(&"retries: expected integer, got 2.5".to_string()), "{errors:?}");
        assert!(errors.contains(&"bogus: not an input of this step".to_string()), "{errors:?}");
        assert!(
            errors.contains(&"filesToInclude.files[2].glob: expected string, got 5".to_string()),
            "{errors:?}"
        );
        assert!(
            errors.contains(&"filesToInclude.files[3].glob: required input is missing".to_string()),
            "{errors:?}"
        );
        assert_eq!(errors.len(), 5, "{errors:?}");
    }

    #[test]
    fn a_wrong_discriminator_names_the_choices() {
        let (_, errors) =
            execute(json!({"containerName": "c", "retries": 1, "filesToInclude": {"type": "some files"}}));
        assert_eq!(
            errors,
            ["filesToInclude.type: expected one of \"all files\", \"custom files\", got \"some files\""]
        );
    }

    #[test]
    fn binding_problems_are_errors_at_the_input() {
        let (_, errors) = execute(json!({
            "containerName": "#{Missing}", "retries": "#{Word}", "site": {"referenceId": "nope"},
            "filesToInclude": {"type": "#{Word}"}
        }));
        assert!(
            errors.contains(
                &"containerName: cannot bind \"#{Missing}\": unresolvable variable 'Missing'".to_string()
            ),
            "{errors:?}"
        );
        assert!(
            errors.contains(&"retries: expected integer, got \"abc\" (bound from \"#{Word}\")".to_string()),
            "{errors:?}"
        );
        assert!(
            errors.iter().any(|e| e.starts_with("site: package reference 'nope' is not declared")),
            "{errors:?}"
        );
        assert!(
            errors
                .contains(&"filesToInclude.type: a discriminator cannot be bound to a variable".to_string()),
            "{errors:?}"
        );
    }

    #[test]
    fn configure_mode_skips_bound_values() {
        let schema = schema();
        let mode = Mode::Configure { packages: BTreeSet::from(["site".to_string()]) };
        let (bound, errors) = schema.bind(
            &json!({"containerName": "#{Name}", "retries": "#{Retries}", "site": {"referenceId": "site"}, "verbose": "yes"}),
            &mode,
        );
        assert!(errors.is_empty(), "{errors:?}");
        let errors: Vec<String> = schema.validate(&bound).iter().map(ToString::to_string).collect();
        assert_eq!(errors, ["verbose: expected boolean, got \"yes\""]);
    }

    #[test]
    fn coercion_rules() {
        assert_eq!(coerce(" 42 ", &["integer"]), Ok(json!(42)));
        assert_eq!(coerce("1.5", &["number"]), Ok(json!(1.5)));
        assert_eq!(coerce("FALSE", &["boolean"]), Ok(json!(false)));
        assert_eq!(coerce("7", &["string", "integer"]), Ok(json!("7")));
        assert_eq!(coerce("x", &["integer", "boolean"]), Err("integer or boolean".into()));
        assert_eq!(coerce("x", &[]), Ok(json!("x")));
    }
}
