//! `migrate [--check]`: converts an impl dir written for the original make + gomplate
//! betterform in place: every template file of every stage to betterform's syntax, the DAG
//! file to `define_stage` lines, the impl `ctl` from `betterform_orchestrator` to
//! `betterform`. Files listed in `.gomplateignore` are not templates and stay as they are.
//! What cannot be converted is listed with file and line and left as it was; the exit status
//! says so. `--check` changes nothing and prints the diff.

use std::io::Write;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};

use crate::cli::Global;
use crate::error::Error;
use crate::fsutil;
use crate::migrate::{dag, gomplate};
use crate::report::display_path;
use crate::stamp::{Kind, read_tree};
use crate::wave::Wave;

/// A file whose text changes.
struct Change {
    path: PathBuf,
    before: String,
    after: String,
}

/// Something left as it was: where, and why.
struct Left {
    path: PathBuf,
    line: usize,
    what: String,
}

pub(crate) fn migrate(global: &Global, check: bool) -> Result<(), Error> {
    let wave = Wave::from_env(global.impl_dir.as_deref())?;
    let impl_dir = &wave.impl_dir;
    let mut changes = Vec::new();
    let mut left = Vec::new();

    let dag_path = impl_dir.join("betterform_dag.mk");
    let dag_text = fsutil::read_regular(&dag_path)
        .map_err(|e| Error::Usage(format!("cannot read {}: {e}", dag_path.display())))?;
    let dag_text = String::from_utf8_lossy(&dag_text).into_owned();
    let stages: Vec<String> = match dag::convert(&dag_text) {
        Ok(converted) => {
            if let Some(after) = converted {
                changes.push(Change { path: dag_path.clone(), before: dag_text.clone(), after });
            }
            let decls = crate::dagfile::parse(&dag_text).unwrap_or_default();
            let mut names: Vec<String> = decls
                .iter()
                .flat_map(|d| d.stages.iter().chain(&d.deps))
                .map(|n| n.text.to_string())
                .collect();
            names.sort();
            names.dedup();
            names
        }
        Err(errors) => {
            for e in errors {
                left.push(Left { path: dag_path.clone(), line: e.pos.line, what: e.message });
            }
            // The stages are then the impl dir's subdirectories.
            let mut names: Vec<String> = std::fs::read_dir(impl_dir)
                .map_err(|e| Error::Usage(format!("cannot list {}: {e}", impl_dir.display())))?
                .filter_map(Result::ok)
                .filter(|e| e.path().is_dir())
                .map(|e| e.file_name().to_string_lossy().into_owned())
                .collect();
            names.sort();
            names
        }
    };

    for stage in &stages {
        let root = impl_dir.join(stage);
        if !root.is_dir() {
            continue;
        }
        for entry in read_tree(&root)? {
            let Kind::File { bytes, render: true, .. } = &entry.kind else { continue };
            let Ok(text) = std::str::from_utf8(bytes) else { continue };
            if !text.contains("{{") {
                continue;
            }
            let path = root.join(&entry.rel);
            let converted = gomplate::convert(text);
            for l in converted.left {
                left.push(Left {
                    path: path.clone(),
                    line: l.line,
                    what: format!("{}: {}", l.action, l.why),
                });
            }
            if converted.text != text {
                changes.push(Change { path, before: text.to_string(), after: converted.text });
            }
        }
    }

    // The impl dir's own ctl ran the original orchestrator; betterform reads IMPL_DIR the same way.
    let ctl = impl_dir.join("ctl");
    if let Ok(text) = std::fs::read_to_string(&ctl)
        && text.contains("betterform_orchestrator")
    {
        changes.push(Change {
            path: ctl,
            after: text.replace("betterform_orchestrator", "betterform"),
            before: text,
        });
    }

    let mut out = std::io::stdout().lock();
    for change in &changes {
        let shown = display_path(&change.path);
        if check {
            // Named as git names them: a/ and b/ before the path within the impl dir.
            let rel = change.path.strip_prefix(impl_dir).unwrap_or(&change.path).display().to_string();
            let diff = similar::TextDiff::from_lines(&change.before, &change.after);
            let _ = write!(out, "{}", diff.unified_diff().header(&format!("a/{rel}"), &format!("b/{rel}")));
        } else {
            write_keeping_mode(&change.path, &change.after)?;
            let _ = writeln!(out, "converted {shown}");
        }
    }
    for l in &left {
        let _ =
            writeln!(std::io::stderr(), "{}:{}: left as it was: {}", display_path(&l.path), l.line, l.what);
    }
    let summary = match (check, changes.len(), left.len()) {
        (_, 0, 0) => "nothing to migrate: the impl dir is in betterform's syntax".to_string(),
        (true, n, l) => format!("{n} file(s) would change; {l} construct(s) would be left as they are"),
        (false, n, l) => format!("{n} file(s) converted; {l} construct(s) left as they were (listed above)"),
    };
    let _ = writeln!(std::io::stderr(), "{summary}");
    if !left.is_empty() || (check && !changes.is_empty()) {
        return Err(Error::Answer(1));
    }
    Ok(())
}

fn write_keeping_mode(path: &Path, text: &str) -> Result<(), Error> {
    let mode = std::fs::metadata(path).map(|m| m.permissions().mode() & 0o7777).ok();
    fsutil::write_atomic(path, text.as_bytes(), mode)
        .map_err(|e| Error::Bookkeeping(anyhow::anyhow!("cannot write {}: {e}", path.display())))
}
