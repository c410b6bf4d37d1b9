//! Executing stages: what happens to one stage in an `up` or a `down` run (render, decide,
//! write, run its kind's command, record), the kinds of stage behind one interface, and the
//! scheduled run with its report. Commands parse the command line into [`RunOptions`] and
//! call in here; nothing below this module knows about clap.

mod ctl;
mod kind;
mod options;
mod pipeline;
mod record;
mod step;
#[cfg(test)]
mod tests;
mod time_limit;

pub(crate) use kind::{KINDS, Stage, classify, load_project, load_project_indexed};
pub(crate) use options::{RunOptions, TimingsPage};
pub(crate) use pipeline::{
    down, indexed, learn_secrets, load_templates, prefetch_records, prove, prove_kinds, run_verb, up,
};
pub(crate) use time_limit::check_time_limits;
