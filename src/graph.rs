//! The stage DAG: built from the parsed DAG file, checked (unknown names, duplicates,
//! self-dependencies, cycles with their full path), and queried for closures and order.

use std::collections::HashMap;
use std::path::Path;

use petgraph::algo::tarjan_scc;
use petgraph::graph::{DiGraph, NodeIndex};

use crate::dagfile::{DagError, DagFileError, Decl, DeclKind, Pos, parse, shorten};

/// The longest stage name, in bytes. A name becomes a directory and part of file names
/// (`.NAME.json.spare` is the longest); 200 leaves room for those under the 255-byte name
/// limit of common filesystems, so a long name fails here, at its position, rather than as
/// an I/O error in the middle of a run. It also bounds every later message that quotes one.
const MAX_NAME_BYTES: usize = 200;

/// Why `name` cannot be a stage name, if it cannot.
fn invalid_name(name: &str) -> Option<String> {
    if name.starts_with('.') {
        Some("stage names cannot start with '.'".to_string())
    } else if name.len() > MAX_NAME_BYTES {
        Some(format!("stage names are at most {MAX_NAME_BYTES} bytes long (each names a directory)"))
    } else {
        None
    }
}

/// Index of a stage in [`Dag`]; stages are numbered in declaration order.
pub(crate) type StageId = usize;

#[derive(Debug)]
pub(crate) struct Dag {
    names: Vec<String>,
    index: HashMap<String, StageId>,
    /// Where each stage was first declared, for errors about it.
    declared_at: Vec<Pos>,
    deps: Vec<Vec<StageId>>,
    dependents: Vec<Vec<StageId>>,
    /// A topological order (dependencies first), ties broken by declaration order.
    order: Vec<StageId>,
}

impl Dag {
    /// Parses and checks a DAG file's text. `path` is only used in error messages.
    pub(crate) fn parse(path: &Path, text: &str) -> Result<Dag, DagError> {
        let wrap = |errors: Vec<DagFileError>| DagError {
            path: path.to_path_buf(),
            errors,
            text: Some(text.to_string()),
        };
        // With syntax errors only those are reported: a skipped line's stage would otherwise
        // show up again as an "unknown stage" wherever it is used.
        let decls = parse(text).map_err(wrap)?;
        Dag::from_decls(&decls).map_err(wrap)
    }

    fn from_decls(decls: &[Decl]) -> Result<Dag, Vec<DagFileError>> {
        let mut dag = Dag {
            names: Vec::new(),
            index: HashMap::new(),
            declared_at: Vec::new(),
            deps: Vec::new(),
            dependents: Vec::new(),
            order: Vec::new(),
        };
        let mut errors = Vec::new();
        let mut defined_at: HashMap<&str, Pos> = HashMap::new();

        // First pass: every declared name, so dependencies may refer to stages declared later.
        for decl in decls {
            let names = match decl.kind {
                DeclKind::DefineStage => decl.stages.iter().collect::<Vec<_>>(),
                DeclKind::DagDeps => decl.stages.iter().chain(&decl.deps).collect(),
            };
            for name in names {
                // An invalid name is still interned: any error fails the parse anyway, and
                // its uses elsewhere must not be reported again as unknown stages.
                if let Some(why) = invalid_name(name.text) {
                    errors.push(DagFileError::at(
                        name.pos,
                        format!("invalid stage name '{}': {why}", shorten(name.text)),
                    ));
                }
                dag.intern(name.text, name.pos);
            }
            if decl.kind == DeclKind::DefineStage {
                let name = &decl.stages[0];
                if let Some(first) = defined_at.insert(name.text, name.pos) {
                    errors.push(DagFileError::at(
                        name.pos,
                        format!(
                            "stage '{}' is defined twice (first at line {}); merge its dependencies into one define_stage",
                            shorten(name.text),
                            first.line
                        ),
                    ));
                }
            }
        }

        // Second pass: edges.
        for decl in decls {
            for dependent in &decl.stages {
                let Some(&stage) = dag.index.get(dependent.text) else { continue };
                for dep in &decl.deps {
                    let Some(&dep_id) = dag.index.get(dep.text) else {
                        let hint = dag
                            .suggest(dep.text)
                            .map(|s| format!(" (did you mean '{}'?)", shorten(s)))
                            .unwrap_or_default();
                        errors.push(DagFileError::at(
                            dep.pos,
                            format!("unknown stage '{}'{hint}", shorten(dep.text)),
                        ));
                        continue;
                    };
                    if dep_id == stage {
                        errors.push(DagFileError::at(
                            dep.pos,
                            format!("stage '{}' depends on itself", shorten(dep.text)),
                        ));
                        continue;
                    }
                    if !dag.deps[stage].contains(&dep_id) {
                        dag.deps[stage].push(dep_id);
                        dag.dependents[dep_id].push(stage);
                    }
                }
            }
        }
        if errors.is_empty() {
            errors.extend(dag.cycles());
        }
        if !errors.is_empty() {
            errors.sort_by_key(|e| e.pos);
            return Err(errors);
        }
        dag.order = dag.topological_order();
        Ok(dag)
    }

    fn intern(&mut self, name: &str, pos: Pos) -> StageId {
        if let Some(&id) = self.index.get(name) {
            return id;
        }
        let id = self.names.len();
        self.names.push(name.to_string());
        self.index.insert(name.to_string(), id);
        self.declared_at.push(pos);
        self.deps.push(Vec::new());
        self.dependents.push(Vec::new());
        id
    }

    /// One error per strongly connected component with more than one stage, each naming the
    /// whole cycle (petgraph's toposort would name only one node of it).
    fn cycles(&self) -> Vec<DagFileError> {
        let mut graph = DiGraph::<StageId, ()>::new();
        let nodes: Vec<NodeIndex> = (0..self.len()).map(|i| graph.add_node(i)).collect();
        for (stage, deps) in self.deps.iter().enumerate() {
            for &dep in deps {
                graph.add_edge(nodes[stage], nodes[dep], ());
            }
        }
        let mut errors = Vec::new();
        for scc in tarjan_scc(&graph) {
            if scc.len() < 2 {
                continue;
            }
            let members: Vec<StageId> = scc.iter().map(|n| graph[*n]).collect();
            let start = *members.iter().min().expect("non-empty component");
            let path = self.cycle_path(start, &members);
            let rendered: Vec<_> = path.iter().map(|&s| shorten(self.name(s))).collect();
            errors.push(DagFileError::at(
                self.declared_at[start],
                format!("cycle: {} (each stage depends on the next)", rendered.join(" -> ")),
            ));
        }
        errors
    }

    /// A path start -> … -> start through dependency edges, staying inside `members`.
    fn cycle_path(&self, start: StageId, members: &[StageId]) -> Vec<StageId> {
        // Depth-first search; every member of a strongly connected component reaches `start`.
        let mut path = vec![start];
        let mut visited = vec![false; self.len()];
        visited[start] = true;
        let mut cursors = vec![0usize];
        while let Some(&node) = path.last() {
            let cursor = cursors.last_mut().expect("parallel stacks");
            let next = self.deps[node].get(*cursor).copied();
            *cursor += 1;
            match next {
                Some(dep) if dep == start => {
                    path.push(start);
                    return path;
                }
                Some(dep) if members.contains(&dep) && !visited[dep] => {
                    visited[dep] = true;
                    path.push(dep);
                    cursors.push(0);
                }
                Some(_) => {}
                None => {
                    path.pop();
                    cursors.pop();
                }
            }
        }
        unreachable!("a strongly connected component always contains a cycle through each member")
    }

    fn topological_order(&self) -> Vec<StageId> {
        let mut remaining: Vec<usize> = self.deps.iter().map(Vec::len).collect();
        let mut ready: std::collections::BTreeSet<StageId> =
            (0..self.len()).filter(|&s| remaining[s] == 0).collect();
        let mut order = Vec::with_capacity(self.len());
        while let Some(stage) = ready.pop_first() {
            order.push(stage);
            for &dependent in &self.dependents[stage] {
                remaining[dependent] -= 1;
                if remaining[dependent] == 0 {
                    ready.insert(dependent);
                }
            }
        }
        order
    }

    pub(crate) fn len(&self) -> usize {
        self.names.len()
    }

    pub(crate) fn name(&self, stage: StageId) -> &str {
        &self.names[stage]
    }

    pub(crate) fn lookup(&self, name: &str) -> Option<StageId> {
        self.index.get(name).copied()
    }

    pub(crate) fn declared_at(&self, stage: StageId) -> Pos {
        self.declared_at[stage]
    }

    pub(crate) fn deps(&self, stage: StageId) -> &[StageId] {
        &self.deps[stage]
    }

    pub(crate) fn dependents(&self, stage: StageId) -> &[StageId] {
        &self.dependents[stage]
    }

    /// All stages, dependencies before dependents.
    pub(crate) fn order(&self) -> &[StageId] {
        &self.order
    }

    /// The closest known stage name, for "did you mean" hints.
    pub(crate) fn suggest(&self, unknown: &str) -> Option<&str> {
        // Nothing that long is a typo of a valid name, and comparing megabytes is slow.
        if unknown.len() > MAX_NAME_BYTES {
            return None;
        }
        self.names
            .iter()
            .map(|n| (strsim::jaro_winkler(unknown, n), n))
            .filter(|(score, _)| *score > 0.8)
            .max_by(|a, b| a.0.total_cmp(&b.0))
            .map(|(_, n)| n.as_str())
    }

    /// `targets` plus everything they depend on, transitively (as a membership mask).
    pub(crate) fn with_dependencies(&self, targets: &[StageId]) -> Vec<bool> {
        self.closure(targets, |s| &self.deps[s])
    }

    /// `targets` plus everything that depends on them, transitively.
    pub(crate) fn with_dependents(&self, targets: &[StageId]) -> Vec<bool> {
        self.closure(targets, |s| &self.dependents[s])
    }

    fn closure<'a>(&'a self, targets: &[StageId], next: impl Fn(StageId) -> &'a [StageId]) -> Vec<bool> {
        let mut member = vec![false; self.len()];
        let mut stack = targets.to_vec();
        while let Some(stage) = stack.pop() {
            if !std::mem::replace(&mut member[stage], true) {
                stack.extend_from_slice(next(stage));
            }
        }
        member
    }
}

impl Dag {
    /// A DAG in which each stage depends on the next one: `down` goes through `names` in their
    /// order, one at a time. For stages no DAG file declares any more (orphans), whose real
    /// dependencies are unknown.
    pub(crate) fn chain<'n>(names: &'n [String]) -> Dag {
        let nowhere = Pos { line: 0, col: 0 };
        let name = |text: &'n String| crate::dagfile::Name { text, pos: nowhere };
        let decls: Vec<Decl> = names
            .iter()
            .enumerate()
            .map(|(i, stage)| Decl {
                kind: DeclKind::DefineStage,
                pos: nowhere,
                stages: vec![name(stage)],
                deps: names.get(i + 1).map(name).into_iter().collect(),
            })
            .collect();
        Dag::from_decls(&decls).expect("distinct names in a chain make a valid DAG")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The DAG, or the first line of each problem (`path:line:col: message`).
    fn dag(text: &str) -> Result<Dag, String> {
        Dag::parse(Path::new("dag.mk"), text)
            .map_err(|e| e.diagnostics().iter().map(|d| d.headline()).collect::<Vec<_>>().join("\n"))
    }

    #[test]
    fn each_problem_shows_its_line_with_a_caret() {
        let err = Dag::parse(
            Path::new("dag.mk"),
            "$(call define_stage, a, )\n$(call define_stage, b, paralel_a)\n",
        )
        .unwrap_err();
        assert_eq!(
            err.to_string(),
            "dag.mk:2:25: unknown stage 'paralel_a'\n  |\n2 | $(call define_stage, b, paralel_a)\n  |                         ^^^^^^^^^"
        );
    }

    #[test]
    fn diamond_orders_dependencies_first() {
        let d = dag("$(call define_stage, final, a b)\n$(call define_stage, a, root)\n$(call define_stage, b, root)\n$(call define_stage, root, )\n").unwrap();
        let order: Vec<&str> = d.order().iter().map(|&s| d.name(s)).collect();
        assert_eq!(order, ["root", "a", "b", "final"]);
        let up = d.with_dependencies(&[d.lookup("a").unwrap()]);
        let names: Vec<&str> = (0..d.len()).filter(|&s| up[s]).map(|s| d.name(s)).collect();
        assert_eq!(names, ["a", "root"]);
        let down = d.with_dependents(&[d.lookup("b").unwrap()]);
        let names: Vec<&str> = (0..d.len()).filter(|&s| down[s]).map(|s| d.name(s)).collect();
        assert_eq!(names, ["final", "b"]);
    }

    #[test]
    fn dag_deps_declares_every_name() {
        let d = dag("$(call dag_deps, x y, a b)\n").unwrap();
        assert_eq!(d.len(), 4);
        assert_eq!(d.deps(d.lookup("y").unwrap()).len(), 2);
    }

    #[test]
    fn unknown_dependency_suggests_the_near_name() {
        let err = dag("$(call define_stage, parallel_a, )\n$(call define_stage, final, \\\n   paralel_a)\n")
            .unwrap_err();
        assert_eq!(err, "dag.mk:3:4: unknown stage 'paralel_a' (did you mean 'parallel_a'?)");
    }

    #[test]
    fn duplicate_and_self_dependency_are_all_reported() {
        let err = dag("$(call define_stage, a, a)\n$(call define_stage, b, )\n$(call define_stage, b, a)\n")
            .unwrap_err();
        assert_eq!(
            err,
            "dag.mk:1:25: stage 'a' depends on itself\ndag.mk:3:22: stage 'b' is defined twice (first at line 2); merge its dependencies into one define_stage"
        );
    }

    #[test]
    fn cycle_reports_the_whole_path() {
        let err = dag("$(call define_stage, ok, )\n$(call define_stage, a, c ok)\n$(call define_stage, b, a)\n$(call define_stage, c, b)\n").unwrap_err();
        assert_eq!(err, "dag.mk:2:22: cycle: a -> c -> b -> a (each stage depends on the next)");
    }

    #[test]
    fn with_syntax_errors_only_those_are_reported() {
        // Line 2 is skipped, so 'b' is never declared: its use on line 3 is not an error.
        let err = dag("$(call define_stage, a, )\n$(call define_stage; b, a)\n$(call define_stage, c, b)\n$(call define_stage, d a)\n$(call define_stage, e, x)\n")
            .unwrap_err();
        assert_eq!(
            err,
            "dag.mk:2:20: unexpected character ';'; stage names may contain letters, digits, '_', '-' and '.'\ndag.mk:4:24: define_stage takes one stage name, found 2; put dependencies after the second ','"
        );
    }

    #[test]
    fn a_megabyte_of_text_makes_a_short_error() {
        let y = "y".repeat(1 << 20);
        let cases = [
            (
                y.clone(),
                "dag.mk:1:1: expected '$(call define_stage, NAME, DEPS)', a comment or a blank line, found 'yyyy",
            ),
            (format!("$(call define_stage, {y}, )"), "dag.mk:1:22: invalid stage name 'yyyy"),
            (format!("$(call define_stage, a, {y})"), "dag.mk:1:25: unknown stage 'yyyy"),
            (
                format!("$(call define_stage, a, ) {y}"),
                "dag.mk:1:27: expected end of line after ')', found 'yyyy",
            ),
            ("%".repeat(1 << 20), "dag.mk:1:1: unexpected character '%'"),
        ];
        for (text, start) in cases {
            let err = dag(&text).unwrap_err();
            assert!(err.len() < 200, "{} bytes: {}", err.len(), shorten(&err));
            assert!(err.starts_with(start), "{err}");
        }
    }

    #[test]
    fn stage_names_are_at_most_200_bytes() {
        let longest = "n".repeat(200);
        assert_eq!(dag(&format!("$(call define_stage, {longest}, )\n")).unwrap().name(0), longest);
        let err = dag(&format!("$(call define_stage, {longest}x, )\n$(call define_stage, b, {longest}x)\n"))
            .unwrap_err();
        // Reported where it is declared, and not again as an unknown stage where it is used.
        assert_eq!(
            err,
            format!(
                "dag.mk:1:22: invalid stage name '{}…': stage names are at most 200 bytes long (each names a directory)",
                "n".repeat(40)
            )
        );
    }

    #[test]
    fn dotted_names_are_rejected() {
        let err = dag("$(call define_stage, .betterform, )\n").unwrap_err();
        assert!(err.starts_with("dag.mk:1:22: invalid stage name '.betterform'"), "{err}");
    }
}
