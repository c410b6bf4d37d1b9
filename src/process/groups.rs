//! The process groups of every running stage, so a signal can be forwarded to all of them.
//!
//! Spawning and interrupting take the same mutex: either a stage is spawned before the
//! interruption (and is registered in time to receive the forwarded signal), or it sees the
//! interruption and is never spawned. Without that, a stage starting at the moment Ctrl-C
//! arrives could miss the signal and run on unsupervised.

use std::collections::HashSet;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};

use nix::sys::signal::{Signal, killpg};
use nix::unistd::Pid;

#[derive(Default)]
pub(crate) struct Groups {
    running: Mutex<HashSet<i32>>,
    /// Set by [`Groups::interrupt`], and by the signal handler itself the moment SIGINT or
    /// SIGTERM arrives ([`Groups::flag`]): a stage whose process dies of the terminal's
    /// Ctrl-C (sent to betterform's process group while that process was still being moved
    /// out of it) is then interrupted, not failed, even before the run forwards the signal.
    interrupted: Arc<AtomicBool>,
    /// How long what a stage leaves running after its leader exits (or runs past its time
    /// limit) gets to stop after SIGTERM before SIGKILL (`--grace`).
    grace: std::time::Duration,
}

/// Returned when the run was interrupted before the command could start.
#[derive(Debug)]
pub(crate) struct Interrupted;

impl Groups {
    pub(crate) fn new(grace: std::time::Duration) -> Groups {
        Groups { grace, ..Groups::default() }
    }

    pub(crate) fn grace(&self) -> std::time::Duration {
        self.grace
    }

    /// Runs `spawn` (which returns the new group's id) unless the run is interrupted, and
    /// registers the group before anyone can signal the run.
    pub(crate) fn spawn_guarded<T, E>(
        &self,
        spawn: impl FnOnce() -> Result<(T, i32), E>,
    ) -> Result<Result<T, E>, Interrupted> {
        let mut running = self.running.lock().expect("no panics while holding the lock");
        if self.interrupted() {
            return Err(Interrupted);
        }
        Ok(spawn().map(|(value, pgid)| {
            running.insert(pgid);
            value
        }))
    }

    pub(crate) fn finished(&self, pgid: i32) {
        self.running.lock().expect("no panics while holding the lock").remove(&pgid);
    }

    /// Marks the run interrupted (no more spawns) and sends `signal` to every running group.
    pub(crate) fn interrupt(&self, signal: Signal) {
        let running = self.running.lock().expect("no panics while holding the lock");
        self.interrupted.store(true, Ordering::SeqCst);
        for &pgid in running.iter() {
            // ESRCH means the group is already gone: nothing left to stop.
            let _ = killpg(Pid::from_raw(pgid), signal);
        }
    }

    /// The flag [`Groups::interrupted`] reads, for a signal handler to set.
    pub(crate) fn flag(&self) -> Arc<AtomicBool> {
        Arc::clone(&self.interrupted)
    }

    pub(crate) fn interrupted(&self) -> bool {
        self.interrupted.load(Ordering::SeqCst)
    }
}
