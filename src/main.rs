//! The `betterform` binary: parse arguments, run, print the error once, exit with its code.

fn main() {
    // Two malloc arenas, not eight per core: the threads of a run (workers, the reporter,
    // the parallel parse) each took their own, and memory freed in one is not reused by
    // another (issue 22: a quarter of the peak RSS of a 10,000-stage run). A no-op
    // elsewhere than glibc.
    #[cfg(target_env = "gnu")]
    // SAFETY: called before any other thread exists; mallopt only sets a tunable.
    unsafe {
        libc::mallopt(libc::M_ARENA_MAX, 2);
    }
    std::process::exit(betterform::run(std::env::args_os()));
}
