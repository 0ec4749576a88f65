//! Tests of `config` as a whole: finding, loading and writing the file, the helpers the test
//! modules of `span`, `schema`, `edit` and `starter` share, and what holds across the parser
//! and the editors (no panic on any prefix, cost linear in the file).

use super::*;

// ---------------------------------------------------------------------------------------
// Helpers the test modules of `config` share
// ---------------------------------------------------------------------------------------

const PATH: &str = "/p/kilter.yaml";

pub(super) fn path() -> &'static Utf8Path {
    Utf8Path::new(PATH)
}

#[track_caller]
pub(super) fn parse_ok(text: &str) -> (Config, Vec<String>) {
    match parse(path(), text) {
        Ok(parsed) => parsed,
        Err(err) => panic!("{text:?} should parse, got: {err}"),
    }
}

#[track_caller]
pub(super) fn parse_err(text: &str) -> Exit {
    match parse(path(), text) {
        Ok(parsed) => panic!("{text:?} should not parse, got: {parsed:?}"),
        Err(err) => err,
    }
}

pub(super) const SPEC_EXAMPLE: &str = "\
name: shop                 # project name (§1)
tiltfile: Tiltfile         # default ./Tiltfile next to kilter.yaml
kind:
  image: kindest/node:v1.31.0   # optional node image pin, passed to kind --image
database:                  # what `kilter db` snapshots; defaults shown
  engine: postgres         # only postgres in v1
  service: postgres        # Deployment or StatefulSet in <name>-dev
  user: postgres
  name: shop               # default: the project name
cluster:
  stopped: true            # written by `kilter stop`, removed by `kilter up`
";

/// A realistic, heavily documented kilter.yaml using the wider ecosystem's fields.
pub(super) const DOCUMENTED: &str = r#"# kilter.yaml for the shop service
#
# `image`, `dev`, `port`, `health`, `env` and `sync` describe the app; fields
# such as `skills` or `build` belong to other tools of the kilter ecosystem and
# kilter keeps them as they are.

name: shop
description: |
  The shop backend: catalogue, cart and checkout.

  Owned by the storefront team.
version: 3
port: 8080                  # HTTP port inside the pod
health: /healthz            # readiness probe path
image: rust:1.83
dev: ["cargo", "watch", "-x", "run"]
sync:
  - src
  - Cargo.toml
skills: [rust, postgres]
services:
  - name: postgres
    image: postgres:16
    env:
      POSTGRES_PASSWORD: "dev only: not secret"
  - name: redis
    image: redis:7
env:
  RUST_LOG: info,shop=debug
  DATABASE_URL: postgres://postgres@postgres/shop
public: false
manifest: k8s/
profiles: {ci: {replicas: 1}, demo: {replicas: 2}}
secrets: []
volumes:
  data: {size: 1Gi}
build:
  context: .
  dockerfile: Dockerfile
deploy: {strategy: rolling}
hooks:
  pre-up: ./scripts/seed.sh
tilt:
  args: ["--stream"]

# The database kilter snapshots with `kilter db`.
database:
  service: postgres   # StatefulSet in shop-dev
"#;

pub(super) const APP: &str = "\
name: shop
image: node:22-alpine   # base of the dev image
dev: npm run dev -- --port 4000
port: 4000
health: /healthz
env:
  LOG_LEVEL: debug
  WORKERS: 2
  EMPTY:
sync: [src, public]
";

pub(super) const ROUTES: &str = "\
name: shop
services: [redis]
routes:
  web: {service: web, port: 80}   # the user's own Service
  api-v2:
    service: api
    port: 8080
";

#[track_caller]
pub(super) fn with(text: &str) -> String {
    set_stopped(path(), text).unwrap_or_else(|err| panic!("set_stopped({text:?}): {err}")).text
}

#[track_caller]
pub(super) fn without(text: &str) -> String {
    clear_stopped(path(), text, None).unwrap_or_else(|err| panic!("clear_stopped({text:?}): {err}"))
}

#[track_caller]
pub(super) fn add(text: &str, names: &[&str]) -> String {
    add_services(path(), text, names).unwrap_or_else(|err| panic!("add_services({text:?}): {err}"))
}

#[track_caller]
pub(super) fn remove(text: &str, names: &[&str]) -> String {
    remove_services(path(), text, names)
        .unwrap_or_else(|err| panic!("remove_services({text:?}): {err}"))
}

// ---------------------------------------------------------------------------------------
// Files
// ---------------------------------------------------------------------------------------

fn temp_dir() -> (tempfile::TempDir, Utf8PathBuf) {
    let dir = tempfile::tempdir().expect("tempdir");
    let path = Utf8PathBuf::from_path_buf(dir.path().to_owned()).expect("utf-8 temp dir");
    (dir, path)
}

fn entries(dir: &Utf8Path) -> Vec<String> {
    let mut names: Vec<String> = std::fs::read_dir(dir)
        .expect("read_dir")
        .map(|e| e.expect("entry").file_name().to_string_lossy().into_owned())
        .collect();
    names.sort();
    names
}

#[test]
fn find_walks_up_from_the_start_directory() {
    let (_guard, root) = temp_dir();
    let deep = root.join("a/b/c");
    std::fs::create_dir_all(&deep).expect("mkdir");
    std::fs::create_dir_all(root.join("a/b/kilter.yaml")).expect("a directory named kilter.yaml");
    std::fs::write(root.join("a/kilter.yaml"), "name: a\n").expect("write");
    assert_eq!(find(&deep), Some(root.join("a/kilter.yaml")));
    assert_eq!(find(&root.join("a")), Some(root.join("a/kilter.yaml")));
    assert_eq!(find(&root.join("a/b/./c")), Some(root.join("a/kilter.yaml")));
    assert_eq!(find(&root.join("a/b/../b/c")), Some(root.join("a/kilter.yaml")));
    std::fs::create_dir_all(root.join("x")).expect("mkdir");
    // `..` is resolved lexically: this is `<root>/x`, which must not find `<root>/a/kilter.yaml`.
    assert_eq!(find(&root.join("a/b/c/../../../x")), find(&root));
    assert_ne!(find(&root.join("a/b/c/../../../x")), Some(root.join("a/kilter.yaml")));
    std::fs::write(deep.join(FILE_NAME), "").expect("write");
    assert_eq!(find(&deep), Some(deep.join(FILE_NAME)));
}

#[test]
fn load_reads_parses_and_keeps_the_text() {
    let (_guard, dir) = temp_dir();
    let file = dir.join(FILE_NAME);
    std::fs::write(&file, "name: shop\ncolour: red\n").expect("write");
    let loaded = load(&file).expect("loads");
    assert_eq!(loaded.path, file);
    assert_eq!(loaded.text, "name: shop\ncolour: red\n");
    assert_eq!(loaded.config.name.as_deref(), Some("shop"));
    assert_eq!(loaded.warnings, vec![format!("{file}:2: unknown key `colour`")]);

    std::fs::write(&file, b"name: shop\nport: \xff\n").expect("write");
    let err = load(&file).expect_err("not utf-8");
    assert_eq!(err.message, format!("{file}:2:7: the file is not valid UTF-8"));

    std::fs::write(&file, "cluster: stopped\n").expect("write");
    assert!(
        load(&file).expect_err("invalid").message.starts_with(&format!("{file}:1:10: cluster:"))
    );

    let err = load(&dir.join("missing.yaml")).expect_err("missing");
    assert!(err.message.starts_with("could not read "), "{}", err.message);
}

#[test]
fn write_atomic_replaces_contents_and_leaves_no_temp_file() {
    let (_guard, dir) = temp_dir();
    let file = dir.join(FILE_NAME);
    crate::fsutil::write_atomic(&file, "name: a\n".as_bytes(), crate::fsutil::Perm::Keep)
        .expect("create");
    assert_eq!(std::fs::read_to_string(&file).expect("read"), "name: a\n");
    crate::fsutil::write_atomic(
        &file,
        "name: b\ncluster:\n  stopped: true\n".as_bytes(),
        crate::fsutil::Perm::Keep,
    )
    .expect("replace");
    assert_eq!(
        std::fs::read_to_string(&file).expect("read"),
        "name: b\ncluster:\n  stopped: true\n"
    );
    assert_eq!(entries(&dir), vec![FILE_NAME.to_owned()]);
    // A failed write (directory missing) leaves nothing behind either. (The one atomic
    // writer of kilter is `fsutil`'s; kilter.yaml uses it with `Perm::Keep`.)
    assert!(
        crate::fsutil::write_atomic(
            &dir.join("nope/kilter.yaml"),
            "x".as_bytes(),
            crate::fsutil::Perm::Keep
        )
        .is_err()
    );
    assert_eq!(entries(&dir), vec![FILE_NAME.to_owned()]);
}

#[cfg(unix)]
#[test]
fn write_atomic_keeps_permissions_and_symlinks() {
    use std::os::unix::fs::PermissionsExt as _;

    let (_guard, dir) = temp_dir();
    let file = dir.join(FILE_NAME);
    std::fs::write(&file, "name: a\n").expect("write");
    std::fs::set_permissions(&file, std::fs::Permissions::from_mode(0o640)).expect("chmod");
    crate::fsutil::write_atomic(&file, "name: b\n".as_bytes(), crate::fsutil::Perm::Keep)
        .expect("write");
    let mode = std::fs::metadata(&file).expect("stat").permissions().mode() & 0o7777;
    assert_eq!(mode, 0o640);
    assert_eq!(std::fs::read_to_string(&file).expect("read"), "name: b\n");

    let link_dir = dir.join("project");
    std::fs::create_dir(&link_dir).expect("mkdir");
    let link = link_dir.join(FILE_NAME);
    std::os::unix::fs::symlink(&file, &link).expect("symlink");
    crate::fsutil::write_atomic(&link, "name: c\n".as_bytes(), crate::fsutil::Perm::Keep)
        .expect("write through link");
    assert!(std::fs::symlink_metadata(&link).expect("lstat").file_type().is_symlink());
    assert_eq!(std::fs::read_to_string(&file).expect("read"), "name: c\n");
    assert_eq!(entries(&dir), vec![FILE_NAME.to_owned(), "project".to_owned()]);
    assert_eq!(entries(&link_dir), vec![FILE_NAME.to_owned()]);
}

// ---------------------------------------------------------------------------------------
// Every prefix of odd YAML, parsed and edited
// ---------------------------------------------------------------------------------------

/// Every prefix of a file full of odd YAML, cut at any character: the parser and the four
/// editors return (an edit that verified, or an error) and never panic.
#[test]
fn every_prefix_of_odd_yaml_is_handled_without_panic() {
    let odd = "\u{feff}--- # doc\r\nname: 'shop'  # q\r\n\"cluster\" : &c { stopped: false, zone: \"a, b}\" }\r\n\
               x: *c\r\nservices: [ postgres , {name: api, env: {A: 1}} ]\r\nd: |+\r\n  keep\r\n\r\n\
               e: >-\r\n  fold\r\n? complex\r\n: value\r\nl:\r\n- - a\r\n  - b\r\n- ~\r\nt: !custom x\r\n\
               n: ünï\r\n...\r\n";
    let mut outcomes = [0usize; 2];
    for (end, _) in odd.char_indices().chain([(odd.len(), ' ')]) {
        for text in
            [&odd[..end], &odd[..end].replace("\r\n", "\n"), &odd[..end].replace("\r\n", "\r")]
        {
            let _ = parse(path(), text);
            let results = [
                set_stopped(path(), text).map(|e| e.text),
                clear_stopped(path(), text, None),
                add_services(path(), text, &["redis"]),
                remove_services(path(), text, &["postgres"]),
            ];
            for result in results {
                outcomes[usize::from(result.is_ok())] += 1;
            }
        }
    }
    assert!(outcomes[1] > 100 && outcomes[0] > 100, "{outcomes:?}");
}

// ---------------------------------------------------------------------------------------
// Cost: linear in the size of the file
// ---------------------------------------------------------------------------------------

/// Files of one shape, `n` units big.
fn shaped(shape: &str, n: usize) -> String {
    let mut text = String::from("name: shop\n");
    let lines = |f: &dyn Fn(usize) -> String| (0..n).map(f).collect::<String>();
    match shape {
        "a long mapping" => {
            text += "env:\n";
            text += &lines(&|i| format!("  KEY_{i}: value {i}\n"));
        }
        "many top-level keys" => text += &lines(&|i| format!("custom_{i}: {i}\n")),
        "a long list" => {
            text += "hooks:\n";
            text += &lines(&|i| format!("  - item {i} with some words\n"));
        }
        "many services" => {
            text += "services:\n";
            text += &lines(&|i| format!("  - name: svc-{i}\n    image: img:{i}\n"));
        }
        "a flow list on one line" => {
            let items: Vec<String> = (0..n).map(|i| format!("item{i}")).collect();
            text += &format!("hooks: [{}]\n", items.join(", "));
        }
        "a flow mapping on one line" => {
            let items: Vec<String> = (0..n).map(|i| format!("K{i}: \"v {i}\"")).collect();
            text += &format!("env: {{{}}}\n", items.join(", "));
        }
        "quoted scalars" => text += &lines(&|i| format!("q_{i}: \"a \\\"quoted\\\" {i}\"\n")),
        "comments" => text += &lines(&|i| format!("# comment {i}: with some words\n")),
        "tabs after colons" => text += &lines(&|i| format!("key_{i}:\tvalue {i}\n")),
        "a block scalar" => {
            text += "description: |\n";
            text += &lines(&|i| format!("  line {i} of a literal block\n"));
        }
        "nested mappings" => {
            text += "hooks:\n";
            text += &lines(&|i| format!("  k{i}:\n    a: 1\n    b: [x, y]\n"));
        }
        other => unreachable!("{other}"),
    }
    text
}

const SHAPES: &[&str] = &[
    "a long mapping",
    "many top-level keys",
    "a long list",
    "many services",
    "a flow list on one line",
    "a flow mapping on one line",
    "quoted scalars",
    "comments",
    "tabs after colons",
    "a block scalar",
    "nested mappings",
];

/// The work `f` charges (see `span::charge`).
fn cost_of(f: impl FnOnce()) -> u64 {
    let before = span::cost();
    f();
    span::cost() - before
}

/// Reading kilter.yaml (and each edit `stop`/`up` make) costs time linear in its size: four
/// times the file is at most ~four times the work, whatever its shape. The work is counted
/// (characters looked at, keys compared), not timed, so a loaded machine cannot fail it; a
/// line:column lookup that rescanned the file, or a duplicate-key check that compared each key
/// with every other, makes the ratio grow with `n` instead.
#[test]
fn parsing_and_editing_cost_grows_linearly_with_the_file() {
    let n = 400;
    let mut failures = Vec::new();
    let mut check = |what: &str, shape: &str, a: u64, b: u64| {
        assert!(a > 0, "{shape}: nothing was counted");
        if b > 5 * a {
            let ratio = b as f64 / a as f64;
            failures
                .push(format!("{shape}: {what} 4× the file cost {ratio:.1}× the work ({a} → {b})"));
        }
    };
    for shape in SHAPES {
        let (small, big) = (shaped(shape, n), shaped(shape, 4 * n));
        assert!(big.len() > 3 * small.len(), "{shape}");
        let parse_cost = |text: &str| {
            cost_of(|| {
                parse_ok(text);
            })
        };
        check("parsing", shape, parse_cost(&small), parse_cost(&big));

        let edit_cost = |text: &str| {
            cost_of(|| {
                let set = set_stopped(path(), text).expect("set_stopped");
                let back =
                    clear_stopped(path(), &set.text, Some(&set.undo)).expect("clear_stopped");
                assert_eq!(back, text, "{shape}: stop/up keeps every byte");
            })
        };
        check("stop/up editing", shape, edit_cost(&small), edit_cost(&big));
    }
    assert!(failures.is_empty(), "not linear:\n{}", failures.join("\n"));
}
