//! What the user sees of a run: live lines while it runs, the summary when it ends.

pub(crate) mod color;
mod grouped;
mod live;
mod reporter;
mod run_report;
mod summary;
pub(crate) mod timeline;
pub(crate) mod timings;

pub(crate) use grouped::GroupedReporter;
pub(crate) use live::LiveReporter;
pub(crate) use reporter::{Display, LineReporter, display_path, eprint_line, format_duration};
pub(crate) use run_report::{RunReport, records, span, write_json, write_junit};
pub(crate) use summary::{
    append_step_summary, first_line, markdown as markdown_summary, render as render_summary,
};
pub(crate) use timings::Timings;
