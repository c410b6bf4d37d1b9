//! The `betterform` binary: parse arguments, run, print the error once, exit with its code.

fn main() {
    // Two malloc arenas, not eight per core: the threads of a run (workers, the reporter,
    // the parallel parse) each took their own, and memory freed in one is not reused by
    // another (issue 22: a quarter of the peak RSS of a 10,000-stage run). Each heap grows
    // by 4 MB at least, not by what one allocation needs: a no-op run of 3,000 stages made
    // 425 `mprotect` calls growing the threads' heaps, 15 now, and about 10% fewer page
    // faults (pages are still only resident once touched: the peak RSS of 10,000 stages
    // did not change). A no-op elsewhere than glibc.
    #[cfg(target_env = "gnu")]
    // SAFETY: called before any other thread exists; mallopt only sets tunables.
    unsafe {
        libc::mallopt(libc::M_ARENA_MAX, 2);
        libc::mallopt(libc::M_TOP_PAD, 4 << 20);
    }
    std::process::exit(betterform::run(std::env::args_os()));
}
