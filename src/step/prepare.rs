//! Everything decided before a step is launched (README: "Step-package stages"): load the
//! package and check its metadata, read the referenced packages and substitute variables in
//! their files (in memory), bind and validate the inputs, build the execution manifest, and
//! hash it all for the already-applied check. Nothing is written here: a step whose inputs
//! are invalid leaves no trace but its log.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use globset::{Glob, GlobSetBuilder};
use serde_json::Value;

use super::error::StepError;
use super::inputs::{Bound, Mode, Schema};
use super::lookup::StepVars;
use super::manifest::{Instruction, Manifest};
use super::package::{Package, Tree};
use super::spec::{Call, Spec};
use super::target;
use super::variables::{self, Lookup};
use crate::stamp::Kind;

/// A referenced package, ready to be written where the step will find it.
pub(crate) struct Reference {
    pub(crate) name: String,
    pub(crate) tree: Tree,
    pub(crate) dest: PathBuf,
}

pub(crate) struct Prepared {
    pub(crate) package: Package,
    /// Where the step package is extracted for launching.
    pub(crate) package_dir: PathBuf,
    pub(crate) references: Vec<Reference>,
    pub(crate) inputs: Bound,
    /// The deployment target the executor gets (an empty object when there is none).
    pub(crate) target: Bound,
    pub(crate) manifest: Manifest,
    /// Package id and version, package contents, referenced contents (after substitution)
    /// and bound inputs: equal digests mean an identical step run.
    pub(crate) digest: String,
}

/// `$GENFILES/<stage>/.betterform`: betterform's files for a step stage (extracted packages,
/// manifests, sensitive outputs). The stamped image never has this dir, so stamping keeps it.
pub(crate) fn work_dir(stage_dir: &Path) -> PathBuf {
    stage_dir.join(".betterform")
}

/// Substitutes `#{…}` in the files of `tree` matched by `globs`.
fn substitute(
    tree: &mut Tree,
    reference: &str,
    globs: &[String],
    vars: &dyn Lookup,
) -> Result<Vec<String>, StepError> {
    let mut warnings = Vec::new();
    let mut builder = GlobSetBuilder::new();
    for glob in globs {
        let compiled = Glob::new(glob).map_err(|e| StepError::Substitute {
            reference: reference.into(),
            path: PathBuf::from(glob),
            message: format!("bad glob: {e}"),
        })?;
        builder.add(compiled);
    }
    let set = builder.build().map_err(|e| StepError::Substitute {
        reference: reference.into(),
        path: PathBuf::new(),
        message: e.to_string(),
    })?;
    let mut matched = vec![false; globs.len()];
    for entry in &mut tree.entries {
        let Kind::File { bytes, mode, .. } = &mut entry.kind else { continue };
        let hits = set.matches(&entry.rel);
        if hits.is_empty() {
            continue;
        }
        hits.iter().for_each(|&i| matched[i] = true);
        let fail = |message: String| StepError::Substitute {
            reference: reference.into(),
            path: entry.rel.clone(),
            message,
        };
        let text = std::str::from_utf8(bytes).map_err(|_| fail("not a UTF-8 text file".into()))?;
        let (out, secret) = variables::evaluate(text, vars).map_err(|e| fail(e.to_string()))?;
        *bytes = out.into_bytes();
        // The step needs the secret in the file; nobody else needs to read it.
        if secret {
            *mode &= 0o700;
            *mode |= 0o600;
        }
    }
    for (glob, hit) in globs.iter().zip(matched) {
        if !hit {
            warnings.push(format!("substitute-in-files {reference}: no file matches '{glob}'"));
        }
    }
    Ok(warnings)
}

/// Prepares `call` (the `up`, `down` or `rollback` step of `spec`). Also returns warnings
/// worth logging.
pub(crate) fn prepare(
    stage: &str,
    stage_dir: &Path,
    spec: &Spec,
    call: &Call,
    which: &'static str,
    vars: &StepVars<'_>,
) -> Result<(Prepared, Vec<String>), StepError> {
    let source = Spec::resolve(stage_dir, &call.package);
    let package = Package::load(&source)?;
    let work = work_dir(stage_dir);
    let mut warnings = Vec::new();
    let mut references = Vec::new();
    let mut instructions = Vec::new();
    let mut extracted = BTreeMap::new();
    for (name, declared) in &spec.packages {
        let path = Spec::resolve(stage_dir, &declared.path);
        let mut tree = Tree::read(&path)?;
        let dest = work.join("packages").join(name);
        instructions.push(Instruction::ExtractPackage {
            reference: name.clone(),
            source: path,
            to: dest.clone(),
        });
        if !declared.substitute_in_files.is_empty() {
            warnings.extend(substitute(&mut tree, name, &declared.substitute_in_files, vars)?);
            instructions.push(Instruction::SubstituteInFiles {
                reference: name.clone(),
                globs: declared.substitute_in_files.clone(),
            });
        }
        extracted.insert(name.clone(), dest.clone());
        references.push(Reference { name: name.clone(), tree, dest });
    }
    let schema_path = source.join("inputs.json");
    let schema = Schema::compile(&package.schema, &schema_path)?;
    let (inputs, mut errors) = schema.check(&call.inputs, &Mode::Execute { vars, packages: &extracted });
    let target = target::bind(spec, stage_dir, &package.meta, &Mode::Execute { vars, packages: &extracted })?;
    errors.extend(target.errors);
    // Secrets are masked from here on, including in the errors about to be reported.
    for secret in inputs.secrets.iter().chain(&target.bound.secrets) {
        crate::mask::add(secret);
    }
    if !errors.is_empty() {
        return Err(StepError::Inputs { step: package.meta.id.clone(), schema: schema_path, errors });
    }
    instructions.push(Instruction::Launch {
        launcher: package.meta.launcher.as_str(),
        package: package.meta.id.clone(),
        version: package.meta.version.clone(),
    });
    let manifest = Manifest {
        stage: stage.into(),
        step: which,
        package: source,
        instructions,
        inputs: inputs.redacted(),
        target: target.bound.redacted(),
    };
    let mut hasher = blake3::Hasher::new();
    for part in [package.meta.id.as_str(), package.meta.version.as_str(), package.digest.as_str()] {
        hasher.update(&(part.len() as u64).to_le_bytes());
        hasher.update(part.as_bytes());
    }
    for reference in &references {
        hasher.update(reference.name.as_bytes());
        hasher.update(reference.tree.digest().as_bytes());
    }
    hasher.update(canonical(&inputs.value).as_bytes());
    hasher.update(b"target");
    hasher.update(canonical(&target.bound.value).as_bytes());
    hasher.update(target.package_digest.as_deref().unwrap_or_default().as_bytes());
    let digest = hasher.finalize().to_hex().to_string();
    let package_dir = work.join(format!("step-{which}"));
    let target = target.bound;
    Ok((Prepared { package, package_dir, references, inputs, target, manifest, digest }, warnings))
}

/// JSON with object keys sorted, so equal values hash equal.
fn canonical(value: &Value) -> String {
    match value {
        Value::Object(map) => {
            let sorted: BTreeMap<&String, String> = map.iter().map(|(k, v)| (k, canonical(v))).collect();
            let body: Vec<String> =
                sorted.iter().map(|(k, v)| format!("{}:{v}", Value::String((*k).clone()))).collect();
            format!("{{{}}}", body.join(","))
        }
        Value::Array(items) => format!("[{}]", items.iter().map(canonical).collect::<Vec<_>>().join(",")),
        other => other.to_string(),
    }
}
