//! docs/json.md against the code: every `--json` document kilter prints has an example there,
//! and each example has the same keys, at every depth, and the same `schema_version` as what
//! kilter prints for a project where every field has a value (an app, services, the shared
//! registry and router, a snapshot).

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

use serde_json::Value;

use crate::helpers::*;
use crate::support::Env;

const DOC: &str = include_str!("../../docs/json.md");

/// Each documented command (its heading in docs/json.md), how the test runs it, and the paths
/// whose keys are data (names of variables, services, projects), not fields.
const COMMANDS: &[(&str, &[&str], &[&str])] = &[
    ("kilter status --json", &["status", "--json"], &[".urls"]),
    ("kilter ls --json", &["ls", "--json"], &[".projects[].services", ".urls"]),
    ("kilter env --json", &["env", "--json"], &[".env", ".services[].credentials"]),
    (
        "kilter catalog --json",
        &["catalog", "--json"],
        &[".services[].env", ".services[].provides", ".services[].credentials"],
    ),
    (
        "kilter catalog show NAME --json",
        &["catalog", "show", "minio", "--json"],
        &[".service.env", ".service.provides", ".service.credentials"],
    ),
    ("kilter doctor --json", &["doctor", "--json"], &[]),
    ("kilter db list --json", &["db", "list", "--json"], &[]),
    ("kilter registry status --json", &["registry", "status", "--json"], &[]),
    ("kilter router status --json", &["router", "status", "--json"], &[]),
];

/// Fields that are absent when they have no value (`skip_serializing_if`): documented, and
/// not printed for the state of this test.
const ABSENT_WHEN_NONE: &[&str] = &[
    // Tilt reports no build error for the fake's resources.
    ".tilt.resources[].last_error",
];

/// The examples of docs/json.md: the command of the heading above each ```json block.
fn examples() -> BTreeMap<String, Value> {
    let mut out = BTreeMap::new();
    let mut heading: Option<String> = None;
    let mut block: Option<String> = None;
    for line in DOC.lines() {
        if let Some(text) = block.as_mut() {
            if line.starts_with("```") {
                let name = heading.clone().expect("a ```json block under a `kilter …` heading");
                let value = serde_json::from_str(text)
                    .unwrap_or_else(|e| panic!("docs/json.md, {name}: not JSON ({e}):\n{text}"));
                assert!(out.insert(name.clone(), value).is_none(), "two examples for {name}");
                block = None;
            } else {
                // `"9f86d0…"`: an elided value is still a string.
                text.push_str(line);
                text.push('\n');
            }
        } else if line.starts_with("```json") {
            block = Some(String::new());
        } else if line.starts_with('#') {
            heading =
                line.split('`').nth(1).filter(|h| h.starts_with("kilter ")).map(str::to_owned);
        }
    }
    out
}

fn kind(v: &Value) -> &'static str {
    match v {
        Value::Null => "null",
        Value::Bool(_) => "bool",
        Value::Number(_) => "number",
        Value::String(_) => "string",
        Value::Array(_) => "array",
        Value::Object(_) => "object",
    }
}

/// The elements of an array as one value: objects merged (every key, its first non-null
/// value), else the first non-null element.
fn merged(items: &[Value]) -> Value {
    if items.iter().all(Value::is_object) {
        let mut out = serde_json::Map::new();
        for item in items {
            for (k, v) in item.as_object().into_iter().flatten() {
                let slot = out.entry(k.clone()).or_insert(Value::Null);
                if slot.is_null() || slot.as_array().is_some_and(Vec::is_empty) {
                    *slot = v.clone();
                }
            }
        }
        Value::Object(out)
    } else {
        items.iter().find(|v| !v.is_null()).cloned().unwrap_or(Value::Null)
    }
}

/// Where the documented and the printed document differ: a key only in one of them, or a
/// value of another kind. `compared` gets every object or array path seen on both sides.
fn differences(
    doc: &Value,
    real: &Value,
    path: &str,
    maps: &[&str],
    compared: &mut BTreeSet<String>,
    out: &mut Vec<String>,
) {
    match (doc, real) {
        _ if maps.contains(&path) => {
            compared.insert(path.to_owned());
        }
        (Value::Null, _) | (_, Value::Null) => {}
        (Value::Object(d), Value::Object(r)) => {
            compared.insert(path.to_owned());
            for k in d.keys().filter(|k| !r.contains_key(*k)) {
                let p = format!("{path}.{k}");
                if !ABSENT_WHEN_NONE.contains(&p.as_str()) {
                    out.push(format!("{p}: documented, not printed"));
                }
            }
            for k in r.keys().filter(|k| !d.contains_key(*k)) {
                out.push(format!("{path}.{k}: printed, not documented"));
            }
            for (k, dv) in d {
                if let Some(rv) = r.get(k) {
                    differences(dv, rv, &format!("{path}.{k}"), maps, compared, out);
                }
            }
        }
        // An empty array on either side tells nothing of its elements.
        (Value::Array(d), Value::Array(r)) if !d.is_empty() && !r.is_empty() => {
            compared.insert(path.to_owned());
            let p = format!("{path}[]");
            differences(&merged(d), &merged(r), &p, maps, compared, out);
        }
        _ if kind(doc) != kind(real) => {
            out.push(format!("{path}: documented as {}, printed as {}", kind(doc), kind(real)));
        }
        _ => {}
    }
}

/// Every path under which the example has an object or a non-empty array.
fn containers(v: &Value, path: &str, maps: &[&str], out: &mut BTreeSet<String>) {
    match v {
        _ if maps.contains(&path) => {
            out.insert(path.to_owned());
        }
        Value::Object(m) => {
            out.insert(path.to_owned());
            for (k, x) in m {
                containers(x, &format!("{path}.{k}"), maps, out);
            }
        }
        Value::Array(a) if !a.is_empty() => {
            out.insert(path.to_owned());
            containers(&merged(a), &format!("{path}[]"), maps, out);
        }
        _ => {}
    }
}

/// A project with something in every field: the app of a fixture (with a health path),
/// three services (one with a web UI, for the router), the shared registry and router on free
/// ports, `up`, and a v2 snapshot written by hand.
fn rich_project(env: &Env) -> (PathBuf, [(&'static str, String); 2]) {
    let free = || crate::support::quiet_ports(2);
    let vars =
        [("KILTER_REGISTRY_PORT", free().to_string()), ("KILTER_ROUTER_PORT", free().to_string())];
    let dir = env.project("shop");
    let fixture = Path::new(env!("CARGO_MANIFEST_DIR")).join("fixtures/apps/node-health");
    for e in std::fs::read_dir(&fixture).expect("fixture").flatten() {
        std::fs::copy(e.path(), dir.join(e.file_name())).expect("copy");
    }
    let yaml = std::fs::read_to_string(dir.join("kilter.yaml")).expect("kilter.yaml");
    let kept: String =
        yaml.lines().filter(|l| !l.starts_with("name:")).map(|l| format!("{l}\n")).collect();
    let yaml = format!("name: shop\n{kept}services: [postgres, redis, mailpit]\n");
    std::fs::write(dir.join("kilter.yaml"), yaml).expect("write");
    let out = env.kilter(&dir).envs(vars.clone()).arg("up").output().expect("runs");
    assert!(out.status.success(), "up: {}", stderr_of(&out));

    let snapshots = env.data_dir("shop").join("snapshots");
    std::fs::create_dir_all(&snapshots).expect("mkdir");
    let data = b"not really zstd, but db list reads only sizes";
    std::fs::write(snapshots.join("before.dump.zst"), data).expect("dump");
    let meta = serde_json::json!({
        "schema_version": 2, "name": "before", "project": "shop", "engine": "postgres",
        "database": "shop", "user": "postgres", "service": "statefulset/postgres",
        "pod": "postgres-0", "server_version": "17.5", "created_at": "2026-01-01T00:00:00Z",
        "size": data.len(), "sha256": "00", "kilter_version": "0.1.0",
        "compression": {"method": "zstd", "level": 1}, "pinned": true,
        "databases": [{"name": "shop", "file": "before.dump.zst", "format": "pg_dump -Fc",
                       "compression": {"method": "zstd", "level": 1}, "size": data.len(),
                       "sha256": "00", "raw_size": 100, "raw_sha256": "11"}]
    });
    std::fs::write(snapshots.join("before.json"), meta.to_string()).expect("meta");
    (dir, vars)
}

#[test]
fn every_json_example_has_the_keys_and_version_kilter_prints() {
    let examples = examples();
    let documented: BTreeSet<&str> = examples.keys().map(String::as_str).collect();
    let checked: BTreeSet<&str> = COMMANDS.iter().map(|(h, _, _)| *h).collect();
    assert_eq!(documented, checked, "docs/json.md's examples and the commands checked here");
    // Every `--json` payload type of src/ has its example: one `Document` impl per command.
    let mut files = Vec::new();
    rust_files(&Path::new(env!("CARGO_MANIFEST_DIR")).join("src"), &mut files);
    let impls: usize = files
        .iter()
        .map(|f| std::fs::read_to_string(f).expect("read").matches("json::Document for ").count())
        .sum();
    assert_eq!(impls, COMMANDS.len(), "a --json document without an example in docs/json.md");

    let env = Env::new();
    let (dir, vars) = rich_project(&env);
    let mut bad = Vec::new();
    for (heading, args, maps) in COMMANDS {
        let out = env.kilter(&dir).envs(vars.clone()).args(*args).output().expect("runs");
        // doctor exits 1 when a check fails; its document is printed all the same.
        assert!(
            out.status.success() || (args[0] == "doctor" && out.status.code() == Some(1)),
            "kilter {args:?}: {}",
            stderr_of(&out)
        );
        let real: Value = serde_json::from_slice(&out.stdout)
            .unwrap_or_else(|e| panic!("kilter {args:?}: not JSON ({e}): {}", stdout_of(&out)));
        let doc = &examples[*heading];
        if doc["schema_version"] != real["schema_version"] {
            bad.push(format!(
                "{heading}: schema_version {} documented, {} printed",
                doc["schema_version"], real["schema_version"]
            ));
        }
        let mut compared = BTreeSet::new();
        let mut found = Vec::new();
        differences(doc, &real, "", maps, &mut compared, &mut found);
        bad.extend(found.into_iter().map(|d| format!("{heading}: {d}")));
        // Every object and array of the example met a printed one with content: nothing
        // below it went unchecked.
        let mut wanted = BTreeSet::new();
        containers(doc, "", maps, &mut wanted);
        for path in wanted.difference(&compared) {
            bad.push(format!("{heading}: {path} not compared (printed empty or null)"));
        }
    }
    assert!(bad.is_empty(), "docs/json.md and kilter disagree:\n{}", bad.join("\n"));
}

fn rust_files(dir: &Path, out: &mut Vec<PathBuf>) {
    for e in std::fs::read_dir(dir).expect("read_dir").flatten() {
        let p = e.path();
        if p.is_dir() {
            rust_files(&p, out);
        } else if p.extension().is_some_and(|x| x == "rs") {
            out.push(p);
        }
    }
}

/// The comparison itself: a field added on either side, or retyped, is a difference; keys
/// that are data are not.
#[test]
fn the_comparison_sees_a_field_on_one_side_only() {
    let doc =
        serde_json::json!({"schema_version": 1, "a": {"b": 1, "c": [{"d": "x"}]}, "m": {"K": "v"}});
    let same = serde_json::json!({"schema_version": 1, "a": {"b": 2, "c": [{"d": "y"}]}, "m": {}});
    let diff = |real: &Value| {
        let (mut compared, mut out) = (BTreeSet::new(), Vec::new());
        differences(&doc, real, "", &[".m"], &mut compared, &mut out);
        out
    };
    assert_eq!(diff(&same), Vec::<String>::new());
    let added =
        serde_json::json!({"schema_version": 1, "a": {"b": 2, "c": [{"d": "y", "e": 1}]}, "m": {}});
    assert_eq!(diff(&added), [".a.c[].e: printed, not documented"]);
    let dropped = serde_json::json!({"schema_version": 1, "a": {"c": []}, "m": {}});
    assert_eq!(diff(&dropped), [".a.b: documented, not printed"]);
    let retyped = serde_json::json!({"schema_version": 1, "a": {"b": "2", "c": []}, "m": {}});
    assert_eq!(diff(&retyped), [".a.b: documented as number, printed as string"]);
}
