//! One file per subcommand, plus what several share (`shared`): each parses its options and
//! calls the layers below; the per-stage work lives in `execute`.

mod complete;
mod dispatch;
mod down;
mod export;
mod graph;
mod logs;
mod man;
mod migrate;
mod plan;
mod run_verb;
mod shared;
mod show_config;
mod stage;
mod stamp;
mod status;
mod up;
mod validate;

pub(crate) use complete::complete;
pub(crate) use dispatch::dispatch;
