//! Step-package stages (README: "Step-package stages"): betterform builds the execution manifest of a
//! stage's step and enacts it itself, instead of running a `ctl`.

mod error;
mod exposure;
mod inputs;
mod launch;
mod lookup;
mod manifest;
mod messages;
mod package;
mod prepare;
mod spec;
mod stage;
mod target;
mod variables;

pub(crate) use error::StepError;
pub(crate) use exposure::Delims;
pub(crate) use launch::StepLog;
pub(crate) use messages::{Line, Message, parse as parse_message};
pub(crate) use spec::Spec;
pub(crate) use stage::{Ended, Source, StepStage, Which, check};
