//! `graph`: the DAG as text, Graphviz, Mermaid or JSON, each stage with its last recorded
//! status (dot and mermaid colour the nodes by it). Takes no lock and writes nothing.

use std::fmt::Write as _;
use std::io::Write;

use serde_json::json;

use crate::cli::{Global, GraphFormat};
use crate::error::Error;
use crate::state::Status;

/// Fill colour per status, shared by dot and mermaid.
fn colour(status: Status) -> &'static str {
    match status {
        Status::Up => "#b7e4c7",
        Status::Down => "#dee2e6",
        Status::Failed => "#f5a3a3",
        Status::Unknown => "#ffd8a8",
        Status::Never => "#ffffff",
    }
}

const ALL: [Status; 5] = [Status::Up, Status::Down, Status::Failed, Status::Unknown, Status::Never];

pub(crate) fn graph(global: &Global, format: GraphFormat) -> Result<(), Error> {
    let project = crate::execute::load_project(global.impl_dir.as_deref())?;
    let store = &project.state;
    let dag = &project.dag;
    let mut status = Vec::with_capacity(dag.len());
    for stage in 0..dag.len() {
        status.push(store.load(dag.name(stage)).map_err(|e| Error::Bookkeeping(e.into()))?.status);
    }
    let deps = |s: usize| -> Vec<&str> { dag.deps(s).iter().map(|&d| dag.name(d)).collect() };
    let mut out = String::new();
    match format {
        GraphFormat::Text => {
            let width = (0..dag.len()).map(|s| dag.name(s).len()).max().unwrap_or(0);
            for &s in dag.order() {
                let line = format!(
                    "{:<width$}  {:<7}  {}",
                    dag.name(s),
                    status[s].as_str(),
                    match deps(s).as_slice() {
                        [] => String::new(),
                        d => format!("<- {}", d.join(", ")),
                    }
                );
                let _ = writeln!(out, "{}", line.trim_end());
            }
        }
        GraphFormat::Dot => {
            let _ = writeln!(out, "digraph betterform {{");
            let _ = writeln!(out, "  rankdir=LR;");
            let _ = writeln!(out, "  node [shape=box, style=\"rounded,filled\", fontname=\"Helvetica\"];");
            for &s in dag.order() {
                let _ = writeln!(
                    out,
                    "  \"{0}\" [fillcolor=\"{1}\", tooltip=\"{2}\"];",
                    dag.name(s),
                    colour(status[s]),
                    status[s].as_str()
                );
            }
            for &s in dag.order() {
                for dep in deps(s) {
                    let _ = writeln!(out, "  \"{dep}\" -> \"{}\";", dag.name(s));
                }
            }
            let _ = writeln!(out, "}}");
        }
        GraphFormat::Mermaid => {
            let _ = writeln!(out, "flowchart LR");
            // Node ids are positional: a stage may be called `end` or contain `-`, which mean
            // something to mermaid; the name is only ever a quoted label.
            for &s in dag.order() {
                let _ = writeln!(out, "  s{s}[\"{}\"]:::{}", dag.name(s), status[s].as_str());
            }
            for &s in dag.order() {
                for &dep in dag.deps(s) {
                    let _ = writeln!(out, "  s{dep} --> s{s}");
                }
            }
            for st in ALL {
                let _ = writeln!(out, "  classDef {} fill:{},stroke:#495057", st.as_str(), colour(st));
            }
        }
        GraphFormat::Json => {
            let stages: Vec<_> = dag
                .order()
                .iter()
                .map(|&s| json!({ "name": dag.name(s), "deps": deps(s), "status": status[s].as_str() }))
                .collect();
            out = serde_json::to_string_pretty(&json!({ "stages": stages })).expect("JSON serializes");
            out.push('\n');
        }
    }
    // A closed pipe (`betterform graph | head`) ends the output quietly.
    let _ = std::io::stdout().write_all(out.as_bytes());
    Ok(())
}
