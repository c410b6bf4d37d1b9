//! Stamping: rendering a stage template dir into `$GENFILES/<stage>` (README: "Templates and stamping").

mod error;
mod filters;
mod index;
mod render;
mod scope;
mod stamper;
mod sync;
mod tree;

pub(crate) use error::StampError;
pub(crate) use index::{Fresh, Index, env_digest};
pub(crate) use render::{Delimiters, Renderer};
pub(crate) use scope::Upstream;
pub(crate) use stamper::{Image, Stamper, Template, digest_entries};
pub(crate) use tree::{Entry, Kind, TIMEOUT_FILE, read as read_tree};
