//! Child processes: spawning `ctl` in its own process group with its output captured.

mod spawn;

pub(crate) use spawn::{Job, run};
