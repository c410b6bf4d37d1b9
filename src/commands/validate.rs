//! `validate`: everything that can be checked without running anything — the DAG file, the
//! stage dirs, the config, every template's syntax, step-package inputs — reporting every problem, not just the
//! first. Exit 2 if there is any. Takes no lock and writes nothing.

use std::collections::HashMap;
use std::io::Write;

use serde_json::json;

use crate::cli::Global;
use crate::config;
use crate::error::Error;
use crate::graph::StageId;
use crate::project::{Project, StageKind};
use crate::stamp::{StampError, Stamper, Template};
use crate::step;
use crate::wave::Wave;

use super::run::load_templates;

/// Configuration-time checks of every step-package stage whose `step.json` renders now (one
/// that reads upstream outputs not produced yet is checked when it runs).
fn check_steps(
    project: &Project,
    stamper: &Stamper<'_>,
    templates: &HashMap<StageId, Template>,
) -> Vec<String> {
    let mut problems = Vec::new();
    for &stage in project.dag.order() {
        if project.kinds[stage] != StageKind::StepPackage {
            continue;
        }
        let name = project.dag.name(stage);
        let Ok(image) = stamper.render(name, &templates[&stage]) else { continue };
        let Some(text) = image.file("step.json").and_then(|b| std::str::from_utf8(b).ok()) else { continue };
        let shown_as = project.wave.template_dir(name).join("step.json");
        for problem in step::check(&project.wave.stage_dir(name), text, &shown_as) {
            problems.push(format!("stage '{name}': {problem}"));
        }
    }
    problems
}

pub(crate) fn validate(global: &Global) -> Result<(), Error> {
    let wave = Wave::from_env(global.impl_dir.as_deref())?;
    let mut problems: Vec<String> = Vec::new();

    let project = match Project::load(Some(&wave.impl_dir)) {
        Ok(project) => Some(project),
        // One problem per line: each line of a DAG error is one position in the file.
        Err(e @ Error::Dag(_)) => {
            problems.extend(e.to_string().lines().map(String::from));
            None
        }
        Err(e) => return Err(e),
    };
    let cfg = match config::load(&wave, &super::run::jsonnet_args(global)?) {
        Ok(config) => config.value,
        Err(e) => {
            problems.push(e.to_string());
            serde_json::json!({})
        }
    };
    let mut stages = 0;
    if let Some(project) = &project {
        stages = project.dag.len();
        match load_templates(project, global, &cfg, &vec![true; stages]) {
            Ok((stamper, templates)) => problems.extend(check_steps(project, &stamper, &templates)),
            Err(Error::Stamp(StampError::Many(errors))) => {
                for e in errors {
                    match e {
                        StampError::Many(many) => problems.extend(many.iter().map(ToString::to_string)),
                        e => problems.push(e.to_string()),
                    }
                }
            }
            Err(e) => return Err(e),
        }
    }

    let mut out = std::io::stdout().lock();
    if global.json {
        let report = json!({ "valid": problems.is_empty(), "stages": stages, "problems": problems });
        let _ = writeln!(out, "{}", serde_json::to_string_pretty(&report).expect("JSON serializes"));
    } else if problems.is_empty() {
        let _ = writeln!(out, "valid: {stages} stages, config and templates check out");
    }
    if problems.is_empty() {
        return Ok(());
    }
    let count = problems.len();
    let noun = if count == 1 { "problem" } else { "problems" };
    Err(Error::Invalid(format!("{count} {noun} found:\n{}", problems.join("\n"))))
}
