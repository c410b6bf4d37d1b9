//! The execution manifest (README: "Step-package stages"): the ordered instructions betterform enacts for one
//! step run, written beside the stage (secrets redacted) so `plan` and operators can see
//! exactly what ran with which inputs.

use std::path::PathBuf;

use serde::Serialize;
use serde_json::Value;

#[derive(Debug, Clone, Serialize)]
#[serde(tag = "instruction", rename_all = "kebab-case")]
pub(crate) enum Instruction {
    ExtractPackage { reference: String, source: PathBuf, to: PathBuf },
    SubstituteInFiles { reference: String, globs: Vec<String> },
    Launch { launcher: &'static str, package: String, version: String },
}

impl std::fmt::Display for Instruction {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Instruction::ExtractPackage { reference, .. } => write!(f, "extract-package {reference}"),
            Instruction::SubstituteInFiles { reference, globs } => {
                write!(f, "substitute-in-files {reference} [{}]", globs.join(", "))
            }
            Instruction::Launch { launcher, package, version } => {
                write!(f, "launch {launcher} execute ({package} {version})")
            }
        }
    }
}

#[derive(Debug, Clone, Serialize)]
pub(crate) struct Manifest {
    pub(crate) stage: String,
    /// `up`, `down` or `rollback`.
    pub(crate) step: &'static str,
    pub(crate) package: PathBuf,
    pub(crate) instructions: Vec<Instruction>,
    /// The bound inputs, secrets replaced by the mask.
    pub(crate) inputs: Value,
    /// The bound deployment target (`null` without one), secrets replaced by the mask.
    pub(crate) target: Value,
}

impl Manifest {
    /// `a → b → c`, for logs and `plan`.
    pub(crate) fn summary(&self) -> String {
        self.instructions.iter().map(ToString::to_string).collect::<Vec<_>>().join(" → ")
    }
}
