//! The `betterform` binary: parse arguments, run, print the error once, exit with its code.

fn main() {
    std::process::exit(betterform::run(std::env::args_os()));
}
