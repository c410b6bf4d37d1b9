//! Where a step's `#{…}` names come from: `step.json` variables, `Config.<path>` (the
//! evaluated config), `Env.<NAME>`, `Output[<stage>].<path>` (an upstream stage's outputs,
//! sensitive ones included and kept sensitive), and `Stage.Name`.

use std::cell::RefCell;
use std::collections::{BTreeMap, BTreeSet};
use std::path::PathBuf;

use serde_json::Value;

use super::variables::{self, Lookup, Resolved, VarError};
use crate::wave::Wave;

/// The file beside a step stage holding its sensitive output variables (0600).
pub(crate) fn sensitive_outputs_path(wave: &Wave, stage: &str) -> PathBuf {
    wave.stage_dir(stage).join(".betterform").join("sensitive-outputs.json")
}

pub(crate) struct StepVars<'a> {
    pub(crate) wave: &'a Wave,
    pub(crate) stage: &'a str,
    pub(crate) config: &'a Value,
    pub(crate) variables: BTreeMap<String, Value>,
    /// Stages whose outputs may be read: everything this stage depends on.
    pub(crate) upstream: BTreeSet<String>,
    /// Variables being evaluated, to catch `A = #{B}`, `B = #{A}`.
    resolving: RefCell<Vec<String>>,
    outputs: RefCell<BTreeMap<String, Option<(Value, Value)>>>,
}

impl<'a> StepVars<'a> {
    pub(crate) fn new(
        wave: &'a Wave,
        stage: &'a str,
        config: &'a Value,
        variables: BTreeMap<String, Value>,
        upstream: BTreeSet<String>,
    ) -> Self {
        StepVars {
            wave,
            stage,
            config,
            variables,
            upstream,
            resolving: RefCell::default(),
            outputs: RefCell::default(),
        }
    }

    /// (`output.json`, sensitive outputs) of `stage`, read once.
    fn outputs_of(&self, stage: &str) -> Option<(Value, Value)> {
        self.outputs
            .borrow_mut()
            .entry(stage.to_string())
            .or_insert_with(|| {
                let read = |path: PathBuf| -> Option<Value> {
                    serde_json::from_slice(&std::fs::read(path).ok()?).ok()
                };
                let plain = read(self.wave.output_dir.join(stage).join("output.json"));
                let secret = read(sensitive_outputs_path(self.wave, stage));
                if plain.is_none() && secret.is_none() {
                    return None;
                }
                Some((plain.unwrap_or(Value::Null), secret.unwrap_or(Value::Null)))
            })
            .clone()
    }

    /// Every `step.json` variable that resolves, with `Stage.Name`: what the step can read
    /// with `getOctopusVariable`.
    pub(crate) fn flattened(&self) -> BTreeMap<String, String> {
        let mut out: BTreeMap<String, String> = self
            .variables
            .keys()
            .filter_map(|name| Some((name.clone(), variables::text_of(&self.get(name).ok()??.value))))
            .collect();
        out.insert("Stage.Name".into(), self.stage.to_string());
        out
    }
}

impl Lookup for StepVars<'_> {
    fn get(&self, name: &str) -> Result<Option<Resolved>, VarError> {
        if let Some(value) = self.variables.get(name) {
            let Some(text) = value.as_str().filter(|t| variables::is_bound(t)) else {
                return Ok(Some(Resolved { value: value.clone(), sensitive: false }));
            };
            if self.resolving.borrow().iter().any(|n| n == name) {
                return Err(VarError::Cycle(name.to_string()));
            }
            self.resolving.borrow_mut().push(name.to_string());
            let result = variables::evaluate(text, self);
            self.resolving.borrow_mut().pop();
            let (text, sensitive) = result?;
            return Ok(Some(Resolved { value: Value::String(text), sensitive }));
        }
        let end = name.find(['.', '[']).unwrap_or(name.len());
        let (head, rest) = name.split_at(end);
        let plain = |value: Option<&Value>| value.map(|v| Resolved { value: v.clone(), sensitive: false });
        Ok(match head {
            "Config" => plain(variables::walk(self.config, &variables::segments(rest))),
            "Env" => rest
                .strip_prefix('.')
                .and_then(|var| std::env::var(var).ok())
                .map(|v| Resolved { value: Value::String(v), sensitive: false }),
            "Stage" if rest == ".Name" => {
                Some(Resolved { value: Value::String(self.stage.into()), sensitive: false })
            }
            "Output" => {
                let segments = variables::segments(rest);
                let Some((stage, path)) = segments.split_first() else { return Ok(None) };
                if !self.upstream.contains(*stage) {
                    return Err(VarError::NotUpstream { name: name.to_string(), stage: stage.to_string() });
                }
                let Some((plain_out, secret_out)) = self.outputs_of(stage) else { return Ok(None) };
                if let Some(v) = variables::walk(&secret_out, path).filter(|_| !path.is_empty()) {
                    Some(Resolved { value: v.clone(), sensitive: true })
                } else {
                    plain(variables::walk(&plain_out, path))
                }
            }
            _ => None,
        })
    }
}
