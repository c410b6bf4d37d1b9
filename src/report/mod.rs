//! What the user sees of a run: live lines while it runs, the summary when it ends.

mod reporter;
mod summary;

pub(crate) use reporter::{LineReporter, Reporter, format_duration};
pub(crate) use summary::{render as render_summary, totals};
