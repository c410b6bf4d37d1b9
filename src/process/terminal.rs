//! Handing the terminal to an interactive stage (`-j 1` on a terminal) and taking it back.
//!
//! A stage runs in its own process group. A background group that reads the terminal is
//! stopped by SIGTTIN, so an interactive stage (a `terraform apply` asking for confirmation)
//! must be made the terminal's foreground group, as a shell does for a job. Ctrl-C then goes
//! to the stage directly; the caller treats a stage killed by SIGINT as the user's interrupt.

use std::io::stdin;

use nix::sys::signal::{SigSet, SigmaskHow, Signal, pthread_sigmask};
use nix::unistd::{Pid, getpgrp, tcsetpgrp};

/// `tcsetpgrp` from a background group raises SIGTTOU unless the caller blocks it.
fn with_sigttou_blocked<T>(f: impl FnOnce() -> T) -> T {
    let mut block = SigSet::empty();
    block.add(Signal::SIGTTOU);
    let mut old = SigSet::empty();
    let _ = pthread_sigmask(SigmaskHow::SIG_BLOCK, Some(&block), Some(&mut old));
    let result = f();
    let _ = pthread_sigmask(SigmaskHow::SIG_SETMASK, Some(&old), None);
    result
}

/// In the child, between fork and exec: join a new group and make it the foreground one.
/// Only async-signal-safe calls (setpgid, sigprocmask, tcsetpgrp).
pub(crate) fn take_foreground_in_child() -> std::io::Result<()> {
    nix::unistd::setpgid(Pid::from_raw(0), Pid::from_raw(0))?;
    let mut block = SigSet::empty();
    block.add(Signal::SIGTTOU);
    let mut old = SigSet::empty();
    nix::sys::signal::sigprocmask(SigmaskHow::SIG_BLOCK, Some(&block), Some(&mut old))?;
    let result = tcsetpgrp(stdin(), getpgrp());
    nix::sys::signal::sigprocmask(SigmaskHow::SIG_SETMASK, Some(&old), None)?;
    result.map_err(Into::into)
}

/// In betterform, once the stage has exited: make our own group the foreground one again.
pub(crate) fn take_back() {
    with_sigttou_blocked(|| {
        let _ = tcsetpgrp(stdin(), getpgrp());
    });
}
