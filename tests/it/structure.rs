//! The structure ARCHITECTURE.md promises, checked from the `use crate::…` paths in `src/`:
//! no import cycle between top-level modules, no op importing another op, and no op deciding
//! for itself whether this is a dry run.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

fn rust_files(dir: &Path, out: &mut Vec<PathBuf>) {
    for e in std::fs::read_dir(dir).unwrap().flatten() {
        let p = e.path();
        if p.is_dir() {
            rust_files(&p, out);
        } else if p.extension().is_some_and(|x| x == "rs") {
            out.push(p);
        }
    }
}

/// Every `crate::a::b…` path in a file (code and doc links alike: a doc link is a dependency
/// of the reader too), with the text of `use super::…` lines.
fn crate_paths(text: &str) -> Vec<Vec<String>> {
    let mut out = Vec::new();
    let mut rest = text;
    while let Some(i) = rest.find("crate::") {
        rest = &rest[i + 7..];
        let path: Vec<String> = rest
            .split(|c: char| !(c.is_ascii_alphanumeric() || c == '_' || c == ':'))
            .next()
            .unwrap_or("")
            .split("::")
            .filter(|s| !s.is_empty())
            .map(str::to_owned)
            .collect();
        out.push(path);
    }
    out
}

struct Src {
    /// `src/ops/up.rs` → ["ops", "up"]
    module: Vec<String>,
    text: String,
}

fn sources() -> Vec<Src> {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
    let mut files = Vec::new();
    rust_files(&root, &mut files);
    files
        .into_iter()
        .map(|p| {
            let rel = p.strip_prefix(&root).unwrap().with_extension("");
            let mut module: Vec<String> =
                rel.components().map(|c| c.as_os_str().to_string_lossy().into_owned()).collect();
            if module.last().is_some_and(|m| m == "mod" || m == "tests") {
                module.pop();
            }
            Src { module, text: std::fs::read_to_string(&p).unwrap() }
        })
        .collect()
}

#[test]
fn top_level_modules_form_no_cycle() {
    let mut graph: BTreeMap<String, BTreeSet<String>> = BTreeMap::new();
    for s in sources() {
        let Some(top) = s.module.first().cloned() else { continue };
        if top == "lib" || top == "main" {
            continue;
        }
        for path in crate_paths(&s.text) {
            if let Some(dep) = path.first()
                && *dep != top
            {
                graph.entry(top.clone()).or_default().insert(dep.clone());
            }
        }
    }
    // Depth-first search for a back edge.
    fn visit(
        n: &str,
        g: &BTreeMap<String, BTreeSet<String>>,
        stack: &mut Vec<String>,
        done: &mut BTreeSet<String>,
    ) -> Option<Vec<String>> {
        if let Some(i) = stack.iter().position(|s| s == n) {
            let mut cycle = stack[i..].to_vec();
            cycle.push(n.to_owned());
            return Some(cycle);
        }
        if done.contains(n) {
            return None;
        }
        stack.push(n.to_owned());
        for d in g.get(n).into_iter().flatten() {
            if let Some(c) = visit(d, g, stack, done) {
                return Some(c);
            }
        }
        stack.pop();
        done.insert(n.to_owned());
        None
    }
    let mut done = BTreeSet::new();
    for n in graph.keys() {
        if let Some(cycle) = visit(n, &graph, &mut Vec::new(), &mut done) {
            panic!("import cycle between modules: {}\n{graph:#?}", cycle.join(" → "));
        }
    }
}

#[test]
fn no_op_imports_another_op() {
    let srcs = sources();
    let ops: BTreeSet<String> = srcs
        .iter()
        .filter(|s| s.module.len() == 2 && s.module[0] == "ops")
        .map(|s| s.module[1].clone())
        .collect();
    let mut bad = Vec::new();
    for s in &srcs {
        if s.module.first().is_none_or(|m| m != "ops") || s.module.len() < 2 {
            continue;
        }
        let me = &s.module[1];
        for path in crate_paths(&s.text) {
            if path.first().is_some_and(|p| p == "ops")
                && let Some(other) = path.get(1)
                && ops.contains(other)
                && other != me
            {
                bad.push(format!("ops::{me} uses crate::ops::{other}"));
            }
        }
        // `use super::{Ctx, other}` and `use crate::ops::{…}` lists
        for line in s.text.lines().map(str::trim_start) {
            let list =
                line.strip_prefix("use super::").or_else(|| line.strip_prefix("use crate::ops::"));
            let list =
                list.map(|r| r.trim_end_matches(';').trim_start_matches('{').trim_end_matches('}'));
            for item in list.into_iter().flat_map(|l| l.split(',')) {
                let name = item.trim().split("::").next().unwrap_or("").trim();
                if ops.contains(name) && name != me {
                    bad.push(format!("ops::{me}: {}", line.trim()));
                }
            }
        }
        for (i, line) in s.text.lines().enumerate() {
            if let Some(pos) = line.find("super::") {
                let after = &line[pos + 7..];
                let name: String =
                    after.chars().take_while(|c| c.is_ascii_alphanumeric() || *c == '_').collect();
                if ops.contains(&name) && name != *me && s.module.len() == 2 {
                    bad.push(format!("src/ops/{me}.rs:{}: {}", i + 1, line.trim()));
                }
            }
        }
    }
    bad.sort();
    bad.dedup();
    assert!(bad.is_empty(), "ops must not import other ops:\n{}", bad.join("\n"));
}

#[test]
fn no_op_asks_whether_this_is_a_dry_run() {
    let bad: Vec<String> = sources()
        .into_iter()
        .filter(|s| s.module.first().is_some_and(|m| m == "ops"))
        .filter(|s| s.text.contains("is_dry_run") || s.text.contains("planning()"))
        .map(|s| s.module.join("/"))
        .collect();
    assert!(bad.is_empty(), "effects belong to the runner; these ops branch on dry-run: {bad:?}");
}
