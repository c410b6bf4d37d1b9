//! Child processes: spawning `ctl` in its own process group with its output captured, and
//! the registry of running groups that signals are forwarded to.

mod groups;
mod spawn;
mod terminal;

pub(crate) use groups::Groups;
pub(crate) use spawn::{Exit, Failure, Job, MAX_LINE, become_subreaper, run};
