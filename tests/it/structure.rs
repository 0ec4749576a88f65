//! The structure ARCHITECTURE.md promises, checked from the text of `src/`: no import cycle
//! between top-level modules, no op importing another op, no op deciding for itself whether
//! this is a dry run, no way to a tool but the typed builders and parsers of `src/tools/`, and
//! no `--json` document but through the typed envelope of `src/json.rs`.

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

/// Every `use` declaration of a file, comments dropped and joined onto one line (a list may
/// span several), with the line it starts on.
fn use_statements(text: &str) -> Vec<(usize, String)> {
    let mut out = Vec::new();
    let mut open: Option<(usize, String)> = None;
    for (i, line) in text.lines().enumerate() {
        let code = line.split("//").next().unwrap_or("").trim();
        let starts =
            code.starts_with("use ") || code.starts_with("pub use ") || code.contains(" use ");
        if open.is_none() && starts {
            open = Some((i + 1, String::new()));
        }
        if let Some((_, statement)) = open.as_mut() {
            statement.push_str(code);
            statement.push(' ');
            if code.contains(';') {
                out.extend(open.take().map(|(l, s)| (l, s.trim().to_owned())));
            }
        }
    }
    out
}

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
    // Spawning by other means than `Cmd`: the standard library's or duct's command builders.
    let process = Regex::new(r"\bprocess::(Command\b|\{[^}]*\bCommand\b)|\bduct\b").unwrap();
    // The names above under another name (`use crate::exec::Cmd as C;`, `use duct::cmd as run;`,
    // `type K = Kubectl;`): the alias would slip past every pattern here.
    let alias = Regex::new(
        r"\b(Cmd|Command|cmd|Kubectl|Docker|Kind|Bin|KilterSelf|Expression|Handle)\s+as\s+\w+",
    )
    .unwrap();
    let type_alias = Regex::new(
        r"\btype\s+\w+(<[^>]*>)?\s*=[^;]*\b(Cmd|Command|Kubectl|Docker|Kind|Bin|KilterSelf)\b",
    )
    .unwrap();
    let text = Regex::new(
        r"\.std(out|err)(\.trim\(\))?\s*(==|!=|\.(lines|split\w*|rsplit\w*|contains|parse|find|starts_with|ends_with|strip_\w+|matches)\b)",
    )
    .unwrap();
    let own_records =
        OWN_RECORDS.iter().any(|o| src.rel.starts_with(o)) || src.rel.ends_with("tests.rs");
    let mut out = Vec::new();
    for (line, statement) in use_statements(&src.text) {
        if alias.is_match(&statement) {
            out.push((
                line,
                "imports a command builder or tool handle under another name",
                statement,
            ));
        }
    }
    for (i, line) in src.text.lines().enumerate() {
        let code = line.split("//").next().unwrap_or("");
        if process.is_match(code) {
            out.push((i + 1, "spawns outside the runner", line.trim().to_owned()));
        }
        if type_alias.is_match(code) {
            out.push((
                i + 1,
                "names a command builder or tool handle otherwise",
                line.trim().to_owned(),
            ));
        }
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
        "let c = std::process::Command::new(\"docker\");",
        "use std::process::Command;",
        "use std::process::{Command, Stdio};",
        "let out = duct::cmd!(\"kubectl\", \"get\", \"pods\").read()?;",
        "use duct::cmd;",
        // The alias-import blind spot: each of these renames a builder or a handle.
        "use std::process::Command as C;",
        "use duct::cmd as run;",
        "use crate::exec::Cmd as C;",
        "use crate::exec::{Mode, Cmd as C};",
        "use crate::exec::{\n    Mode,\n    Cmd as Command,\n};",
        "use crate::tools::kubectl::Kubectl as K;",
        "pub(crate) use crate::tools::docker::Docker as D;",
        "type K = crate::tools::kubectl::Kubectl;",
        "type Runner<'a> = Docker<'a>;",
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
        "use crate::ports::{self, Check as PortCheck, Ports, Registry};",
        "use crate::ports::Registry as PortRegistry;",
        "use std::os::unix::fs::PermissionsExt as _;",
        "use crate::cli::{Cli, Command};",
        "Command::Ls(a) => ops::ls::run(&ctx, a.json),",
        "// see std::process::Command as C in the docs",
        "type Rows = Vec<(String, u16)>;",
    ] {
        assert!(tool_layer_violations(&file("ops/x.rs", fine)).is_empty(), "flagged: {fine}");
    }
    let record = "let meta: Meta = serde_json::from_str(text)?;";
    assert!(tool_layer_violations(&file("snapshot/mod.rs", record)).is_empty());
    assert!(!tool_layer_violations(&file("ops/x.rs", record)).is_empty());
}

/// The files whose product code may build JSON with `json!`, each with the reason: none of them
/// prints a `--json` document.
const JSON_LITERALS: &[(&str, &str)] = &[
    ("router/render.rs", "the shared router's Caddy configuration (caddy.json)"),
    ("services/render.rs", "the services' Kubernetes manifests, applied by kubectl"),
    ("app/render.rs", "the rendered app's Kubernetes manifests"),
    ("tools/kubectl/routes.rs", "the route Services' manifests, applied by kubectl"),
];

/// The files that may declare a `schema_version` field: the envelope, and the snapshot
/// metadata file (a record on disk, not a `--json` document).
const SCHEMA_FIELDS: &[&str] = &["json.rs", "snapshot/"];

/// A file without its unit tests (`tests.rs`, and each item under `#[cfg(test)]`, to its
/// closing brace), lines kept in place (blank) so that line numbers stay right.
fn product_code(src: &Src) -> String {
    if src.rel.ends_with("tests.rs") {
        return String::new();
    }
    let mut out = String::new();
    // Inside a test item: its brace depth, once it opened.
    let mut test: Option<Option<usize>> = None;
    for line in src.text.lines() {
        if test.is_none() && line.trim_start().starts_with("#[cfg(test)]") {
            test = Some(None);
        }
        if let Some(depth) = test.as_mut() {
            for c in line.split("//").next().unwrap_or("").chars() {
                match c {
                    '{' => *depth = Some(depth.unwrap_or(0) + 1),
                    '}' => *depth = depth.map(|d| d.saturating_sub(1)),
                    _ => {}
                }
            }
            // A test item without a body (`#[cfg(test)] use …;`) ends at its semicolon.
            if *depth == Some(0) || (depth.is_none() && line.trim_end().ends_with(';')) {
                test = None;
            }
            out.push('\n');
        } else {
            out.push_str(line);
            out.push('\n');
        }
    }
    out
}

/// What the `--json` rule finds in one file: `(line number, what, line)`.
fn json_output_violations(src: &Src) -> Vec<(usize, &'static str, String)> {
    use regex::Regex;
    let literal = Regex::new(r"\bjson!\s*[(\[{]").unwrap();
    let serde_json = Regex::new(r"\bserde_json\b").unwrap();
    // A field declaration (`schema_version: u32`, `: Option<u32>`, `: Version`), not a value.
    let schema = Regex::new(
        r"^\s*(pub(\([a-z]+\))?\s+)?schema_version\s*:\s*(u\d+|i\d+|usize|Option<|[A-Z][a-z][A-Za-z0-9]*\s*(,|<|$))",
    )
    .unwrap();
    let op = src.module.first().is_some_and(|m| m == "ops");
    let literal_ok = JSON_LITERALS.iter().any(|(f, _)| *f == src.rel);
    let schema_ok = SCHEMA_FIELDS.iter().any(|f| src.rel.starts_with(f));
    let mut out = Vec::new();
    let code = product_code(src);
    for (i, line) in code.lines().enumerate() {
        let code = line.split("//").next().unwrap_or("");
        if op && serde_json.is_match(code) {
            out.push((i + 1, "an op handles JSON itself", line.trim().to_owned()));
        } else if literal.is_match(code) && !literal_ok {
            out.push((i + 1, "builds JSON with json!", line.trim().to_owned()));
        }
        if schema.is_match(code) && !schema_ok {
            out.push((i + 1, "declares its own schema_version", line.trim().to_owned()));
        }
    }
    out
}

/// Every `--json` document is a typed payload printed by `crate::json` (one envelope with its
/// `schema_version`, docs/json.md): no op touches `serde_json` (no `json!`, no
/// `to_string_pretty`, no `Value`), no other product code builds JSON with `json!` except the
/// files listed with their reason, and no type but the envelope and the snapshot metadata
/// declares a `schema_version`.
#[test]
fn every_json_document_goes_through_the_envelope() {
    let mut bad = Vec::new();
    for s in sources() {
        for (line, what, text) in json_output_violations(&s) {
            bad.push(format!("src/{}:{line}: {what}: {text}", s.rel));
        }
    }
    assert!(
        bad.is_empty(),
        "a --json document is a payload type implementing crate::json::Document, printed by \
         crate::json::print:\n{}",
        bad.join("\n")
    );
}

/// The rule above sees what it is meant to see.
#[test]
fn the_json_rule_catches_each_way_around_it() {
    let file = |rel: &str, text: &str| Src {
        module: rel.trim_end_matches(".rs").split('/').map(str::to_owned).collect(),
        rel: rel.to_owned(),
        text: text.to_owned(),
    };
    for (rel, bad) in [
        ("ops/x.rs", "let doc = serde_json::json!({\"schema_version\": 1});"),
        ("ops/x.rs", "let doc = json!({\"schema_version\": 1, \"ok\": ok});"),
        ("ops/x.rs", "ctx.ui.stdout(&(serde_json::to_string_pretty(&doc)? + \"\\n\"));"),
        ("ops/x.rs", "use serde_json::{Value, json};"),
        ("lifecycle/x.rs", "let v = json!([1, 2]);"),
        ("ops/x.rs", "    schema_version: u32,"),
        ("registry.rs", "pub schema_version: u32,"),
        (
            "ops/x.rs",
            "#[cfg(test)]\nmod tests {\n    fn t() {}\n}\nfn late() -> Value { json!(1) }",
        ),
        ("ops/x.rs", "    pub(crate) schema_version: Version,"),
    ] {
        assert!(!json_output_violations(&file(rel, bad)).is_empty(), "not caught in {rel}: {bad}");
    }
    for (rel, fine) in [
        ("ops/x.rs", "crate::json::print(ctx.ui, &Report { ok, checks })?;"),
        ("ops/x.rs", "// once built with serde_json::json!"),
        ("ops/x.rs", "fn f() {}\n#[cfg(test)]\nmod tests {\n    use serde_json::json;\n}"),
        ("ops/x.rs", "#[cfg(test)]\nuse serde_json::json;\nfn f() {}"),
        ("router/render.rs", "let config = json!({\"apps\": {}});"),
        ("ports.rs", "let text = serde_json::to_string_pretty(&reg)? + \"\\n\";"),
        ("snapshot/mod.rs", "    pub schema_version: u32,"),
        ("lifecycle/snapshot.rs", "        schema_version: SCHEMA_VERSION,"),
    ] {
        assert!(json_output_violations(&file(rel, fine)).is_empty(), "flagged in {rel}: {fine}");
    }
}
