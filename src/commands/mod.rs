//! One file per subcommand, plus what `up` and `down` share.

mod dispatch;
mod down;
mod run;
mod up;

pub(crate) use dispatch::dispatch;
