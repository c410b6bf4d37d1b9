//! One file per subcommand, plus what `up` and `down` share.

mod dispatch;
mod down;
mod man;
mod run;
mod status;
mod up;

pub(crate) use dispatch::dispatch;
