//! One file per subcommand, plus what `up` and `down` share.

mod dispatch;
mod down;
mod export;
mod graph;
mod man;
mod plan;
mod run;
mod show_config;
mod stamp;
mod status;
mod up;
mod validate;

pub(crate) use dispatch::dispatch;
