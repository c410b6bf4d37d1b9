//! Child processes: spawning `ctl` in its own process group with its output captured, and
//! the registry of running groups that signals are forwarded to.

mod groups;
mod keyboard;
mod spawn;
mod terminal;

pub(crate) use groups::Groups;
pub(crate) use keyboard::{Keyboard, Notify};
pub(crate) use spawn::{Exit, Failure, Job, MAX_LINE, TimeLimit, become_subreaper, run};
