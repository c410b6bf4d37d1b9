//! The module graph of `src/` has no cycle, and every module imports only what
//! `docs/architecture.md` says it may: the document stays true because this test reads it.

use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;

const ROOT: &str = env!("CARGO_MANIFEST_DIR");
const LEAVES: [&str; 5] = ["diagnostic", "fsutil", "logfile", "mask", "stack_guard"];

/// Top-level module of each file under `src/` (`src/step/spec.rs` → `step`), and the
/// top-level modules it names as `crate::name`.
fn imports() -> BTreeMap<String, BTreeSet<String>> {
    let src = Path::new(ROOT).join("src");
    let mut graph: BTreeMap<String, BTreeSet<String>> = BTreeMap::new();
    for entry in walkdir::WalkDir::new(&src) {
        let entry = entry.unwrap();
        let path = entry.path();
        if path.extension().is_none_or(|e| e != "rs") {
            continue;
        }
        let rel = path.strip_prefix(&src).unwrap();
        let first = rel.components().next().unwrap().as_os_str().to_str().unwrap();
        let module = first.trim_end_matches(".rs").to_string();
        if module == "lib" || module == "main" {
            continue;
        }
        let text = std::fs::read_to_string(path).unwrap();
        let used = graph.entry(module.clone()).or_default();
        for (i, _) in text.match_indices("crate::") {
            let name: String =
                text[i + 7..].chars().take_while(|c| c.is_ascii_lowercase() || *c == '_').collect();
            if !name.is_empty() && name != module {
                used.insert(name);
            }
        }
    }
    graph
}

/// `module` → the modules the document's table allows it to import.
fn documented() -> BTreeMap<String, BTreeSet<String>> {
    let doc = std::fs::read_to_string(Path::new(ROOT).join("docs/architecture.md")).unwrap();
    let mut table = BTreeMap::new();
    for line in doc.lines().filter(|l| l.starts_with("| `")) {
        let cells: Vec<&str> = line.split('|').map(str::trim).collect();
        let name = cells[1].trim_matches('`').to_string();
        let allowed =
            cells[2].split(',').map(|c| c.trim().trim_matches('`').to_string()).filter(|c| !c.is_empty());
        table.insert(name, allowed.collect());
    }
    table
}

#[test]
fn modules_import_downward_only_as_documented() {
    let graph = imports();
    let doc = documented();
    for (module, used) in &graph {
        let Some(allowed) = doc.get(module) else {
            panic!("module `{module}` is missing from docs/architecture.md");
        };
        let extra: Vec<&String> =
            used.iter().filter(|u| !allowed.contains(*u) && !LEAVES.contains(&u.as_str())).collect();
        assert!(extra.is_empty(), "`{module}` imports {extra:?}, which docs/architecture.md does not allow");
    }
    for module in doc.keys() {
        assert!(
            graph.contains_key(module),
            "docs/architecture.md lists `{module}`, which src/ does not have"
        );
    }
}

#[test]
fn the_module_graph_has_no_cycle() {
    let graph = imports();
    // Depth-first search; a module met again while on the path closes a cycle.
    fn visit(
        module: &str,
        graph: &BTreeMap<String, BTreeSet<String>>,
        path: &mut Vec<String>,
        done: &mut BTreeSet<String>,
    ) {
        if done.contains(module) {
            return;
        }
        if let Some(at) = path.iter().position(|m| m == module) {
            panic!("import cycle: {} -> {module}", path[at..].join(" -> "));
        }
        path.push(module.to_string());
        for next in graph.get(module).into_iter().flatten() {
            visit(next, graph, path, done);
        }
        path.pop();
        done.insert(module.to_string());
    }
    let mut done = BTreeSet::new();
    for module in graph.keys() {
        visit(module, &graph, &mut Vec::new(), &mut done);
    }
    assert!(done.len() >= 20, "every module was visited: {done:?}");
}
