//! The original betterform's DAG file (`$(call dag_deps, DEPENDENTS, DEPENDENCIES)`, a stage
//! in several calls, calls sharing a line) to one `$(call define_stage, NAME, DEPS)` line per
//! stage. Comments and blank lines stay where they were; each stage's line goes where the
//! stage first appears, with every dependency any call gave it.

use crate::dagfile::{DagFileError, Decl, DeclKind, parse};

/// The converted text, or `None` when the file is already one `define_stage` call per line.
pub(crate) fn convert(text: &str) -> Result<Option<String>, Vec<DagFileError>> {
    let decls = parse(text)?;
    let mut lines_with_calls: Vec<usize> = decls.iter().map(|d| d.pos.line).collect();
    lines_with_calls.dedup();
    if decls.iter().all(|d| d.kind == DeclKind::DefineStage) && lines_with_calls.len() == decls.len() {
        return Ok(None);
    }
    // Each stage's dependencies, merged over every call, in first-seen order.
    let mut stages: Vec<(String, Vec<String>)> = Vec::new();
    let mut first_line: Vec<usize> = Vec::new();
    let mut index = |name: &str, line: usize, stages: &mut Vec<(String, Vec<String>)>| {
        stages.iter().position(|(n, _)| n == name).unwrap_or_else(|| {
            stages.push((name.to_string(), Vec::new()));
            first_line.push(line);
            stages.len() - 1
        })
    };
    for decl in &decls {
        for dep in &decl.deps {
            index(dep.text, decl.pos.line, &mut stages);
        }
        for stage in &decl.stages {
            let at = index(stage.text, decl.pos.line, &mut stages);
            for dep in &decl.deps {
                if !stages[at].1.iter().any(|d| d == dep.text) {
                    stages[at].1.push(dep.text.to_string());
                }
            }
        }
    }
    let mut out = String::new();
    let mut continued = false;
    for (i, line) in text.split_inclusive('\n').enumerate() {
        let number = i + 1;
        let in_call = continued || starts_call(&decls, number);
        continued = in_call && line.trim_end_matches(['\n', '\r']).ends_with('\\');
        if !in_call {
            out.push_str(line);
            continue;
        }
        if starts_call(&decls, number) {
            for (at, (name, deps)) in stages.iter().enumerate() {
                if first_line[at] == number {
                    out.push_str(&format!("$(call define_stage, {name}, {})\n", deps.join(" ")));
                }
            }
        }
    }
    Ok(Some(out))
}

fn starts_call(decls: &[Decl], line: usize) -> bool {
    decls.iter().any(|d| d.pos.line == line)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dag_deps_calls_become_one_define_stage_per_stage_in_place() {
        let text = "# the deployment\n$(call dag_deps stage_one, )\n\n$(call dag_dep, a b, stage_one) $(call dag_deps, c, \\\n    a b)\n# more\n$(call dag_deps, a, net)\n";
        assert_eq!(
            convert(text).unwrap().unwrap(),
            "# the deployment\n$(call define_stage, stage_one, )\n\n\
             $(call define_stage, a, stage_one net)\n$(call define_stage, b, stage_one)\n$(call define_stage, c, a b)\n\
             # more\n$(call define_stage, net, )\n"
        );
    }

    #[test]
    fn a_file_of_define_stage_lines_is_left_alone_and_converting_is_idempotent() {
        let text = "$(call define_stage, a, )\n$(call define_stage, b, a)\n";
        assert_eq!(convert(text).unwrap(), None);
        let once = convert("$(call dag_deps, b, a)\n").unwrap().unwrap();
        assert_eq!(once, "$(call define_stage, a, )\n$(call define_stage, b, a)\n");
        assert_eq!(convert(&once).unwrap(), None);
    }
}
