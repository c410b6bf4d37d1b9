//! Child processes: spawning `ctl` in its own process group with its output captured, and
//! the registry of running groups that signals are forwarded to.

mod groups;
mod spawn;

pub(crate) use groups::Groups;
pub(crate) use spawn::{Job, run};
