//! Links the `betterform` binary as a position-dependent executable on Linux (issue 22).
//!
//! A position-independent executable is relocated by the dynamic loader at every start: with
//! this dependency tree, 26,000 relative relocations written into 440 KB of pages that are
//! then private to the process. Linked at a fixed address, those pages stay shared with the
//! page cache and nothing is relocated: `betterform --version` starts in 1.29 ms instead of
//! 1.54 ms, and a no-op `up` of 300 stages takes 4.7 ms instead of 5.2 ms (bench/RESULTS.md).
//! Packing the relocations (`-z pack-relative-relocs`) was measured too and saved nothing.
//!
//! The cost is that the executable's own code and data are not moved by ASLR (libraries, heap,
//! stack and mappings still are), as for executables Go's toolchain builds by default on
//! linux/amd64. Only the binary is linked so: the code is still compiled
//! position-independent, and tests and libraries are unaffected.

fn main() {
    println!("cargo:rerun-if-changed=build.rs");
    if std::env::var("CARGO_CFG_TARGET_OS").as_deref() == Ok("linux") {
        println!("cargo:rustc-link-arg-bins=-no-pie");
    }
}
