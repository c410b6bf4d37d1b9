//! `step.json`, the stage's description of its step (README: "Step-package stages"), read from the
//! stamped stage dir.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use serde::Deserialize;
use serde_json::Value;

use super::error::StepError;
use crate::diagnostic::Diagnostic;

/// One step invocation: which package, with which inputs.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct Call {
    /// Path of the step package (dir, `.zip`, `.tar.gz`), relative to the stamped stage dir.
    pub(crate) package: String,
    #[serde(default = "empty_object")]
    pub(crate) inputs: Value,
}

/// What a package reference (`{"referenceId": …}`) points at.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct PackageSource {
    pub(crate) path: String,
    /// Globs, relative to the extracted root, of files whose `#{…}` expressions are
    /// substituted.
    #[serde(default, rename = "substituteInFiles")]
    pub(crate) substitute_in_files: Vec<String>,
}

/// The deployment target a step is given (`step.json` `"target"`).
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct Target {
    /// A deployment-target package whose `inputs.json` the target is validated against.
    pub(crate) package: Option<String>,
    /// What the executor gets as its `target`; strings may bind variables.
    #[serde(default = "empty_object")]
    pub(crate) inputs: Value,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct Spec {
    pub(crate) package: String,
    #[serde(default = "empty_object")]
    pub(crate) inputs: Value,
    #[serde(default)]
    pub(crate) packages: BTreeMap<String, PackageSource>,
    /// Extra variables; values may bind other variables.
    #[serde(default)]
    pub(crate) variables: BTreeMap<String, Value>,
    /// Run by `betterform down`; without it `down` only records the stage down.
    pub(crate) down: Option<Call>,
    /// Run once when `up` fails after the inputs were valid.
    pub(crate) rollback: Option<Call>,
    /// The deployment target every step of the stage is given.
    pub(crate) target: Option<Target>,
}

fn empty_object() -> Value {
    Value::Object(serde_json::Map::new())
}

impl Spec {
    /// Reads and checks `step.json`; errors name the file, line and column.
    pub(crate) fn load(path: &Path) -> Result<Spec, StepError> {
        let text = std::fs::read_to_string(path).map_err(StepError::io("cannot read", path))?;
        Spec::parse(&text, path)
    }

    /// Parses `step.json` text; `path` names it in errors.
    pub(crate) fn parse(text: &str, path: &Path) -> Result<Spec, StepError> {
        let spec: Spec = serde_json::from_str(text).map_err(|e| {
            // The position is shown once, as `path:line:col`. Only the suffix serde_json added
            // is cut: the message itself may quote the input (an unknown field's name).
            let message = e.to_string();
            let suffix = format!(" at line {} column {}", e.line(), e.column());
            let message = message.strip_suffix(&suffix).unwrap_or(&message).to_string();
            StepError::Spec(Diagnostic::new(path, e.line(), e.column(), message).with_source(text))
        })?;
        let at = |message: String| StepError::Spec(Diagnostic::new(path, 0, 0, message));
        let inputs = [
            Some(&spec.inputs),
            spec.down.as_ref().map(|c| &c.inputs),
            spec.rollback.as_ref().map(|c| &c.inputs),
            spec.target.as_ref().map(|t| &t.inputs),
        ];
        for inputs in inputs.into_iter().flatten() {
            if !inputs.is_object() {
                return Err(at("'inputs' must be an object".into()));
            }
        }
        for (name, value) in &spec.variables {
            if value.is_object() || value.is_array() {
                return Err(at(format!("variable '{name}' must be a string, number or boolean")));
            }
        }
        Ok(spec)
    }

    /// The `up` step.
    pub(crate) fn up(&self) -> Call {
        Call { package: self.package.clone(), inputs: self.inputs.clone() }
    }

    /// Where `package` (a path in `step.json`) is: relative to the stamped stage dir.
    pub(crate) fn resolve(stage_dir: &Path, package: &str) -> PathBuf {
        stage_dir.join(package)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn load(text: &str) -> Result<Spec, StepError> {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("step.json");
        std::fs::write(&path, text).unwrap();
        Spec::load(&path)
    }

    #[test]
    fn reads_the_documented_shape() {
        let spec = load(
            r##"{"package": "p.zip", "inputs": {"a": "#{X}"},
                "packages": {"site": {"path": "s.tar.gz", "substituteInFiles": ["*.json"]}},
                "variables": {"X": "1", "N": 2}, "down": {"package": "d"}}"##,
        )
        .unwrap();
        assert_eq!(spec.up().package, "p.zip");
        assert_eq!(spec.packages["site"].substitute_in_files, ["*.json"]);
        assert_eq!(spec.down.unwrap().inputs, serde_json::json!({}));
        assert!(spec.rollback.is_none());
    }

    #[test]
    fn errors_name_file_line_and_column() {
        let err = load("{\n  \"package\": \"p\",\n  \"pakages\": {}\n}").unwrap_err().to_string();
        assert!(err.contains("step.json:3:"), "{err}");
        assert!(err.contains("\n3 |   \"pakages\": {}\n"), "the line is shown: {err}");
        assert!(err.contains("unknown field `pakages`"), "{err}");
        // Found by tests/fuzz.rs: the message was cut at the first " at line ", even one quoted
        // from the input.
        let err = load("{\"package\": \"p\", \"x at line 1 column 2\": 1}").unwrap_err().to_string();
        // The headline; the snippet under it shows the line itself, which quotes the text again.
        let err = err.lines().next().unwrap().to_string();
        assert!(
            err.contains("step.json:1:") && err.contains("unknown field `x at line 1 column 2`"),
            "{err}"
        );
        assert_eq!(err.matches(" at line ").count(), 1, "{err}");
        let err = load("{\"inputs\": {}}").unwrap_err().to_string();
        assert!(err.contains("missing field `package`"), "{err}");
        let err = load("{\"package\": \"p\", \"inputs\": []}").unwrap_err().to_string();
        assert!(err.contains("'inputs' must be an object"), "{err}");
    }
}
