//! `validate`: everything that can be checked without running anything — the DAG file, the
//! stage dirs, the config, every template's syntax, step-package inputs — reporting every problem, not just the
//! first. Exit 2 if there is any. Takes no lock and writes nothing.

use std::collections::HashMap;
use std::io::Write;

use serde_json::json;

use crate::cli::Global;
use crate::config;
use crate::diagnostic::Diagnostic;
use crate::error::Error;
use crate::execute::{self, KINDS, RunOptions, Stage};
use crate::graph::StageId;
use crate::project::Project;
use crate::stamp::{StampError, Stamper, Template, Upstream};
use crate::wave::Wave;

use super::shared::{Masked, run_options};

/// Configuration-time checks of every stage's kind on its render as it is now (a stage whose
/// templates read upstream outputs not produced yet is checked when it runs): problems, and
/// warnings.
fn check_kinds(
    project: &Project,
    options: &RunOptions,
    config: &serde_json::Value,
    stamper: &Stamper<'_>,
    templates: &HashMap<StageId, Template>,
) -> (Vec<String>, Vec<String>) {
    let mut problems = Vec::new();
    let mut warnings = Vec::new();
    for &id in project.dag.order() {
        let name = project.dag.name(id);
        let Ok(image) = stamper.render(name, &templates[&id], Upstream::lazy(project.depends_on(id))) else {
            continue;
        };
        let stage = Stage { project, options, config, id };
        let checked = KINDS[project.kinds[id]].check(&stage, &image);
        problems.extend(checked.problems.into_iter().map(|p| format!("stage '{name}': {p}")));
        warnings.extend(checked.warnings.into_iter().map(|w| format!("stage '{name}': {w}")));
    }
    (problems, warnings)
}

/// One problem `validate` found: in a user's file at a position, or described in words.
enum Problem {
    At(Diagnostic),
    Text(String),
}

impl Problem {
    /// The first line: `path:line:col: message`, or the text's first line.
    fn headline(&self) -> String {
        match self {
            Problem::At(d) => d.headline(),
            Problem::Text(text) => text.clone(),
        }
    }

    fn shown(&self) -> String {
        match self {
            Problem::At(d) => d.to_string(),
            Problem::Text(text) => text.clone(),
        }
    }
}

pub(crate) fn validate(global: &Global) -> Result<(), Error> {
    let options = run_options(global)?;
    let wave = Wave::from_env(global.impl_dir.as_deref())?;
    let mut problems: Vec<Problem> = Vec::new();
    let mut warnings: Vec<String> = Vec::new();

    let project = match execute::load_project(Some(&wave.impl_dir)) {
        Ok(project) => Some(project),
        Err(Error::Dag(e)) => {
            problems.extend(e.diagnostics().into_iter().map(Problem::At));
            None
        }
        Err(e) => return Err(e),
    };
    let cfg = match config::load(&wave, &options.jsonnet) {
        Ok(config) => config.value,
        Err(e) => {
            problems.push(Problem::Text(e.to_string()));
            serde_json::json!({})
        }
    };
    let mut stages = 0;
    if let Some(project) = &project {
        stages = project.dag.len();
        problems.extend(execute::check_time_limits(project).into_iter().map(Problem::At));
        match execute::load_templates(project, &options, &cfg, &vec![true; stages]) {
            Ok((stamper, templates)) => {
                // Every stage rendered with stand-ins for upstream outputs (as `up` does first).
                if let Err(Error::Stamp(StampError::Many(errors))) =
                    execute::prove(project, &stamper, &templates, &vec![true; stages])
                {
                    problems.extend(errors.into_iter().map(|e| match e {
                        StampError::Template(d) => Problem::At(d),
                        e => Problem::Text(e.to_string()),
                    }));
                }
                // A problem may quote a rendered input: what `up` would mask, `validate` masks.
                execute::learn_secrets(project, &options, &KINDS, &cfg, Some((&stamper, &templates)));
                let (checks, warned) = check_kinds(project, &options, &cfg, &stamper, &templates);
                problems.extend(checks.into_iter().map(Problem::Text));
                warnings.extend(warned);
            }
            Err(Error::Stamp(StampError::Many(errors))) => {
                for e in errors {
                    match e {
                        StampError::Template(d) => problems.push(Problem::At(d)),
                        e => problems.push(Problem::Text(e.to_string())),
                    }
                }
            }
            Err(e) => return Err(e),
        }
    }

    let mut out = Masked::new(std::io::stdout().lock());
    if global.json {
        let headlines: Vec<String> = problems.iter().map(Problem::headline).collect();
        let diagnostics: Vec<_> = problems
            .iter()
            .filter_map(|p| match p {
                Problem::At(d) => Some(json!({
                    "file": d.path, "line": d.line, "column": d.column, "length": d.length, "message": d.message,
                })),
                Problem::Text(_) => None,
            })
            .collect();
        let report = json!({
            "valid": problems.is_empty(), "stages": stages, "problems": headlines, "diagnostics": diagnostics,
            "warnings": warnings,
        });
        let _ = writeln!(out, "{}", serde_json::to_string_pretty(&report).expect("JSON serializes"));
    } else {
        // Warnings do not make the configuration invalid: they say what to change.
        for warning in &warnings {
            crate::report::eprint_line(&format!("warning: {warning}"));
        }
    }
    if !global.json && problems.is_empty() {
        let _ = writeln!(out, "valid: {stages} stages, config and templates check out");
    }
    if problems.is_empty() {
        return Ok(());
    }
    let count = problems.len();
    let noun = if count == 1 { "problem" } else { "problems" };
    let shown: Vec<String> = problems.iter().map(Problem::shown).collect();
    Err(Error::Invalid(format!("{count} {noun} found:\n{}", shown.join("\n"))))
}
