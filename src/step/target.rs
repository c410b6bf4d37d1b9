//! A step's deployment target (`step.json` `"target"`): the object the executor gets as its
//! `target`, bound like inputs (`#{…}`), and validated against a deployment-target package's
//! `inputs.json` when `"package"` names one (its sensitive values masked like a step's). A
//! step whose `metadata.json` names a `deploymentTargetId` must be given a target, and a named
//! target package must be that one.

use std::collections::BTreeMap;
use std::path::Path;

use serde_json::json;

use super::error::{InputError, StepError};
use super::inputs::{Bound, Mode, Schema};
use super::package::{Metadata, TargetPackage};
use super::spec::Spec;

/// The bound target, every problem with it (at `target.…` paths), and the target package's
/// content hash when one is named.
pub(crate) struct BoundTarget {
    pub(crate) bound: Bound,
    pub(crate) errors: Vec<InputError>,
    pub(crate) package_digest: Option<String>,
}

fn at_target(mut e: InputError) -> InputError {
    e.path = if e.path.is_empty() { "target".into() } else { format!("target.{}", e.path) };
    e
}

/// Binds (or, in configure mode, checks) the target of `spec` for the step `step`.
pub(crate) fn bind(
    spec: &Spec,
    stage_dir: &Path,
    step: &Metadata,
    mode: &Mode<'_>,
) -> Result<BoundTarget, StepError> {
    let mut errors = Vec::new();
    let problem = |message: String| InputError { path: "target".into(), message };
    let Some(target) = &spec.target else {
        if let Some(wanted) = &step.deployment_target_id {
            errors.push(problem(format!(
                "step '{}' deploys to a '{wanted}' target: give step.json a \"target\"",
                step.id
            )));
        }
        return Ok(BoundTarget { bound: Bound::default(), errors, package_digest: None });
    };
    let (schema, package_digest) = match &target.package {
        Some(package) => {
            let source = Spec::resolve(stage_dir, package);
            let loaded = TargetPackage::load(&source)?;
            if let Some(wanted) = &step.deployment_target_id
                && *wanted != loaded.id
            {
                errors.push(problem(format!(
                    "step '{}' deploys to '{wanted}' targets; the target package is '{}'",
                    step.id, loaded.id
                )));
            }
            (Schema::compile(&loaded.schema, &source.join("inputs.json"))?, Some(loaded.digest))
        }
        None => (Schema::compile(&json!({}), Path::new("target"))?, None),
    };
    // A target has no package references of its own.
    let (bound, found) = match mode {
        Mode::Configure { .. } => {
            schema.check(&target.inputs, &Mode::Configure { packages: Default::default() })
        }
        Mode::Execute { vars, .. } => {
            schema.check(&target.inputs, &Mode::Execute { vars: *vars, packages: &BTreeMap::new() })
        }
    };
    errors.extend(found.into_iter().map(at_target));
    Ok(BoundTarget { bound, errors, package_digest })
}
