//! The structure ARCHITECTURE.md promises, checked from the text of `src/`: no import cycle
//! between top-level modules, no op importing another op, no op deciding for itself whether
//! this is a dry run, and no way to a tool but the typed builders and parsers of `src/tools/`.

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
    /// `ops/up.rs`
    rel: String,
    text: String,
}

fn sources() -> Vec<Src> {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
    let mut files = Vec::new();
    rust_files(&root, &mut files);
    files
        .into_iter()
        .map(|p| {
            let file = p.strip_prefix(&root).unwrap();
            let rel = file.with_extension("");
            let mut module: Vec<String> =
                rel.components().map(|c| c.as_os_str().to_string_lossy().into_owned()).collect();
            if module.last().is_some_and(|m| m == "mod" || m == "tests") {
                module.pop();
            }
            let rel = file.to_string_lossy().into_owned();
            Src { module, rel, text: std::fs::read_to_string(&p).unwrap() }
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

/// Files outside `src/tools/` that may still build a tool's command themselves, by name, each
/// with the reason. Nothing else may.
const TOOL_LAYER_EXCEPTIONS: &[(&str, &str)] = &[];

/// The modules that read and write kilter's own JSON records (`ports.json`, the identity and
/// flag-undo records, snapshot metadata), and the app detection, which reads the project's own
/// `package.json`: they may parse JSON, no tool output reaches them. Unit-test files
/// (`tests.rs`) may too: they read fixtures and round-trip records.
const OWN_RECORDS: &[&str] = &["ports.rs", "project.rs", "project/", "snapshot/", "app/detect.rs"];

/// What the tool-layer rule finds in one file: `(line number, what, line)` for every way of
/// building a command or reading a tool's output by hand.
fn tool_layer_violations(src: &Src) -> Vec<(usize, &'static str, String)> {
    use regex::Regex;
    let build = Regex::new(
        r"Cmd::new\(|\.cmd\(|\.(arg|args|env|envs|secret_arg|secret_env|cwd|stdin)\(|\.(mutate|wait)\(\)",
    )
    .unwrap();
    // A tool handle made by hand instead of by its constructor (`Docker::new`,
    // `Project::kubectl`, `Tools::kind`); a declaration of a type of the same name is not one.
    let handle = Regex::new(r"\b(Kubectl|Docker|Kind|Bin|KilterSelf)\s*\{").unwrap();
    let declaration = Regex::new(r"\b(enum|struct|impl|trait)\b").unwrap();
    let json = Regex::new(r"serde_json::(from_str|from_slice|from_reader|from_value)\b").unwrap();
    let text = Regex::new(
        r"\.std(out|err)(\.trim\(\))?\s*(==|!=|\.(lines|split\w*|rsplit\w*|contains|parse|find|starts_with|ends_with|strip_\w+|matches)\b)",
    )
    .unwrap();
    let own_records =
        OWN_RECORDS.iter().any(|o| src.rel.starts_with(o)) || src.rel.ends_with("tests.rs");
    let mut out = Vec::new();
    for (i, line) in src.text.lines().enumerate() {
        let code = line.split("//").next().unwrap_or("");
        if build.is_match(code) {
            out.push((i + 1, "builds a command", line.trim().to_owned()));
        }
        if handle.is_match(code) && !declaration.is_match(code) {
            out.push((i + 1, "makes a tool handle by hand", line.trim().to_owned()));
        }
        if json.is_match(code) && !own_records {
            out.push((i + 1, "parses JSON", line.trim().to_owned()));
        }
        if text.is_match(code) {
            out.push((i + 1, "reads a tool's output text", line.trim().to_owned()));
        }
    }
    out
}

/// The only way from kilter to a tool is `src/tools/`: its typed builders make every command
/// (`Bin::cmd`, the raw constructor, is private to it) and its parsers read every output.
/// Outside it (and `src/exec/`, which defines `Cmd` and runs it) no code creates a `Cmd`, adds
/// arguments, environment, a directory, stdin or an effect class to one, makes a tool handle
/// without its constructor, parses JSON that a tool printed, or picks at a tool's stdout/stderr
/// text; it hands the output whole to a parser.
#[test]
fn only_the_tool_layer_builds_commands_and_reads_their_output() {
    let mut bad = Vec::new();
    for s in sources() {
        let top = s.module.first().map(String::as_str);
        if matches!(top, Some("tools" | "exec"))
            || TOOL_LAYER_EXCEPTIONS.iter().any(|(f, _)| *f == s.rel)
        {
            continue;
        }
        for (line, what, text) in tool_layer_violations(&s) {
            bad.push(format!("src/{}:{line}: {what}: {text}", s.rel));
        }
    }
    assert!(
        bad.is_empty(),
        "commands are built and tool output is read only in src/tools (add a typed builder or \
         parser there):\n{}",
        bad.join("\n")
    );
}

/// The rule above sees what it is meant to see (and not kilter's own records).
#[test]
fn the_tool_layer_rule_catches_each_way_around_it() {
    let file = |rel: &str, text: &str| Src {
        module: vec![rel.trim_end_matches(".rs").to_owned()],
        rel: rel.to_owned(),
        text: text.to_owned(),
    };
    for bad in [
        "let c = bin.cmd(\"x\");",
        "let c = Cmd::new(\"kubectl\", None, \"x\");",
        "let c = kubectl.readyz_cmd().args([\"-v\", \"9\"]);",
        "let c = up_cmd(b, &a).cwd(&dir);",
        "let c = k.exec_cmd(s, &t, false, &argv).mutate();",
        "let d = Docker { bin: b };",
        "let k = crate::tools::kubectl::Kubectl { bin, kubeconfig, context };",
        "let v: Value = serde_json::from_str(&out.stdout)?;",
        "if out.stdout.trim() == \"ok\" {}",
        "for l in out.stderr.lines() {}",
        "if o.stderr.contains(\"No such\") {}",
    ] {
        assert!(!tool_layer_violations(&file("ops/x.rs", bad)).is_empty(), "not caught: {bad}");
    }
    for fine in [
        "let out = runner.run(&kubectl.readyz_cmd())?;",
        "let rows = kubectl::parse_pods(&out.stdout, now)?;",
        "// a comment may say .stdout.lines()",
        "let reason = out.reason();",
        "let d = Docker::new(b);",
        "pub(crate) enum Kind {",
    ] {
        assert!(tool_layer_violations(&file("ops/x.rs", fine)).is_empty(), "flagged: {fine}");
    }
    let record = "let meta: Meta = serde_json::from_str(text)?;";
    assert!(tool_layer_violations(&file("snapshot/mod.rs", record)).is_empty());
    assert!(!tool_layer_violations(&file("ops/x.rs", record)).is_empty());
}
