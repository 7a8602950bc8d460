//! The rooms of `src/`: the folder-level import graph has no cycle (a folder
//! never imports one that imports it back, directly or through others), and
//! no source file grows past 450 lines.
//!
//! A folder is a top-level entry of `src/` (`train/`, `seed.rs`); an edge
//! A -> B is a `crate::B` path in code of A, comments and inline test
//! modules left out (tests may reach anywhere).

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

fn src() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("src")
}

/// Every `.rs` file under `dir`, sorted.
fn rust_files(dir: &Path) -> Vec<PathBuf> {
    let mut out = Vec::new();
    let mut todo = vec![dir.to_path_buf()];
    while let Some(d) = todo.pop() {
        for e in std::fs::read_dir(&d).unwrap().flatten() {
            let p = e.path();
            if p.is_dir() {
                todo.push(p);
            } else if p.extension().is_some_and(|x| x == "rs") {
                out.push(p);
            }
        }
    }
    out.sort();
    out
}

/// The top-level entry of `src/` that `file` belongs to (`train`, `seed`).
fn folder_of(file: &Path) -> String {
    let rel = file.strip_prefix(src()).unwrap();
    let first = rel
        .components()
        .next()
        .unwrap()
        .as_os_str()
        .to_string_lossy()
        .into_owned();
    first.trim_end_matches(".rs").to_string()
}

/// The code of `text` without its inline test module and its comments.
fn code(text: &str) -> String {
    let text = text.split("#[cfg(test)]\nmod tests").next().unwrap_or(text);
    text.lines()
        .map(|l| l.split("//").next().unwrap_or(""))
        .collect::<Vec<_>>()
        .join("\n")
}

/// Identifiers named right after `crate::`, and inside `crate::{a, b::c}` groups.
fn crate_paths(code: &str) -> BTreeSet<String> {
    let ident = |s: &str| -> String {
        s.chars()
            .take_while(|c| c.is_ascii_alphanumeric() || *c == '_')
            .collect()
    };
    let mut out = BTreeSet::new();
    for (i, _) in code.match_indices("crate::") {
        let rest = &code[i + "crate::".len()..];
        if let Some(group) = rest.strip_prefix('{') {
            let inner = group.split('}').next().unwrap_or("");
            for item in inner.split(',') {
                let name = ident(item.trim());
                if !name.is_empty() {
                    out.insert(name);
                }
            }
        } else {
            out.insert(ident(rest));
        }
    }
    out
}

/// Folder -> the folders its code imports.
fn import_graph() -> BTreeMap<String, BTreeSet<String>> {
    let files = rust_files(&src());
    let folders: BTreeSet<String> = files.iter().map(|f| folder_of(f)).collect();
    let mut graph: BTreeMap<String, BTreeSet<String>> = folders.iter().map(|f| (f.clone(), BTreeSet::new())).collect();
    for f in &files {
        let from = folder_of(f);
        let text = std::fs::read_to_string(f).unwrap();
        for to in crate_paths(&code(&text)) {
            if to != from && folders.contains(&to) {
                graph.get_mut(&from).unwrap().insert(to);
            }
        }
    }
    graph
}

/// A cycle through `graph` as `a -> b -> a`, if there is one.
fn find_cycle(graph: &BTreeMap<String, BTreeSet<String>>) -> Option<Vec<String>> {
    // Depth-first search with the path on a stack: an edge back into the path closes a cycle.
    fn visit(
        node: &str,
        graph: &BTreeMap<String, BTreeSet<String>>,
        path: &mut Vec<String>,
        done: &mut BTreeSet<String>,
    ) -> Option<Vec<String>> {
        if let Some(at) = path.iter().position(|p| p == node) {
            let mut cycle = path[at..].to_vec();
            cycle.push(node.to_string());
            return Some(cycle);
        }
        if done.contains(node) {
            return None;
        }
        path.push(node.to_string());
        for next in graph.get(node).into_iter().flatten() {
            if let Some(c) = visit(next, graph, path, done) {
                return Some(c);
            }
        }
        path.pop();
        done.insert(node.to_string());
        None
    }
    let mut done = BTreeSet::new();
    graph.keys().find_map(|k| visit(k, graph, &mut Vec::new(), &mut done))
}

#[test]
fn no_folder_imports_one_that_imports_it_back() {
    let graph = import_graph();
    assert!(graph.len() > 10, "the walk found the folders: {graph:?}");
    if let Some(cycle) = find_cycle(&graph) {
        let edges: Vec<String> = cycle
            .windows(2)
            .map(|w| {
                let files: Vec<String> = rust_files(&src().join(&w[0]))
                    .into_iter()
                    .filter(|f| crate_paths(&code(&std::fs::read_to_string(f).unwrap())).contains(&w[1]))
                    .map(|f| f.strip_prefix(src()).unwrap().display().to_string())
                    .collect();
                format!("{} -> {} ({})", w[0], w[1], files.join(", "))
            })
            .collect();
        panic!("folder cycle {}:\n  {}", cycle.join(" -> "), edges.join("\n  "));
    }
}

#[test]
fn the_cycle_check_finds_a_cycle_through_three_folders() {
    let g = |edges: &[(&str, &str)]| {
        let mut m: BTreeMap<String, BTreeSet<String>> = BTreeMap::new();
        for (a, b) in edges {
            m.entry(a.to_string()).or_default().insert(b.to_string());
            m.entry(b.to_string()).or_default();
        }
        m
    };
    assert_eq!(find_cycle(&g(&[("a", "b"), ("b", "c"), ("a", "c")])), None);
    assert_eq!(
        find_cycle(&g(&[("a", "b"), ("b", "c"), ("c", "a")])),
        Some(vec!["a".into(), "b".into(), "c".into(), "a".into()])
    );
    assert_eq!(
        crate_paths("use crate::{config::key, data};\nlet x = crate::seed::stream(0);"),
        BTreeSet::from(["config".into(), "data".into(), "seed".into()])
    );
    assert_eq!(
        code("use crate::a; // crate::b\n#[cfg(test)]\nmod tests { crate::c }"),
        "use crate::a; "
    );
}

#[test]
fn no_source_file_is_over_450_lines() {
    let long: Vec<String> = rust_files(&src())
        .into_iter()
        .map(|f| (std::fs::read_to_string(&f).unwrap().lines().count(), f))
        .filter(|(n, _)| *n > 450)
        .map(|(n, f)| format!("{} ({n} lines)", f.strip_prefix(src()).unwrap().display()))
        .collect();
    assert!(long.is_empty(), "split these by concept: {}", long.join(", "));
}
