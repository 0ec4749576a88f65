//! What kilter must leave alone: `~/.kube/config` through a whole lifecycle, and everything —
//! files, modes, containers, kubeconfigs, Tilt — under each `--dry-run` verb on its own
//! (docs/dry-run.md, "The contract"; docs/files.md).

use std::collections::BTreeMap;
use std::os::unix::fs::{MetadataExt, PermissionsExt};
use std::path::{Path, PathBuf};
use std::process::Output;

use crate::helpers::*;
use crate::support::{Env, pid_alive};

// ---------------------------------------------------------------------------------------------
// ~/.kube/config

/// Bytes a user's own kubeconfig might hold (another cluster, a current-context kilter must not
/// change).
const USER_KUBECONFIG: &str = "\
apiVersion: v1
kind: Config
clusters:
- cluster:
    server: https://prod.example.com:6443
  name: prod
contexts:
- context:
    cluster: prod
    user: admin
  name: prod
current-context: prod
users:
- name: admin
  user:
    token: not-a-secret
";

/// Every entry under `dir` (relative path → bytes or `<dir>`), sorted.
fn tree(dir: &Path) -> BTreeMap<String, Vec<u8>> {
    let mut out = BTreeMap::new();
    let mut todo = vec![dir.to_path_buf()];
    while let Some(d) = todo.pop() {
        for e in std::fs::read_dir(&d).unwrap().flatten() {
            let p = e.path();
            let rel = p.strip_prefix(dir).unwrap().display().to_string();
            if e.file_type().unwrap().is_dir() {
                out.insert(rel, b"<dir>".to_vec());
                todo.push(p);
            } else {
                out.insert(rel, std::fs::read(&p).unwrap_or_default());
            }
        }
    }
    out
}

/// `~/.kube/config` exists with the user's bytes and KUBECONFIG is unset for kilter (the harness
/// never sets it): `up`, `stop`, `up` (resume), `down` and `destroy` leave the file byte-identical
/// with the same mtime, and nothing else appears under `~/.kube` (no lock, no second file).
#[test]
fn the_users_kube_config_is_never_touched_by_a_whole_lifecycle() {
    let env = Env::new();
    let dir = project(&env, "shop", Some("name: shop\n"), true);
    let kube_dir = env.home().join(".kube");
    std::fs::create_dir_all(&kube_dir).unwrap();
    let cfg = env.kube_config_home();
    std::fs::write(&cfg, USER_KUBECONFIG).unwrap();
    // An mtime in the past, so that a rewrite within the same second still shows.
    let old = std::time::SystemTime::UNIX_EPOCH + std::time::Duration::from_secs(1_600_000_000);
    std::fs::File::options().write(true).open(&cfg).unwrap().set_modified(old).unwrap();
    let meta = std::fs::metadata(&cfg).unwrap();
    let before = (meta.mtime(), meta.mtime_nsec(), meta.ino(), meta.mode());
    let listing = tree(&kube_dir);

    for verb in [&["up"][..], &["stop"], &["up"], &["down"], &["destroy", "--yes"]] {
        let out = env.kilter(&dir).args(verb).output().unwrap();
        assert!(out.status.success(), "kilter {verb:?}: {}", stderr_of(&out));
        assert_eq!(
            std::fs::read_to_string(&cfg).unwrap(),
            USER_KUBECONFIG,
            "kilter {verb:?} changed ~/.kube/config"
        );
        let meta = std::fs::metadata(&cfg).unwrap();
        assert_eq!(
            (meta.mtime(), meta.mtime_nsec(), meta.ino(), meta.mode()),
            before,
            "kilter {verb:?} rewrote ~/.kube/config (mtime, inode or mode changed)"
        );
        assert_eq!(tree(&kube_dir), listing, "kilter {verb:?} left something under ~/.kube");
    }
    // The verbs really ran against the cluster (a no-op run would pass the checks above).
    let kind = env.calls_of("kind");
    assert!(kind.iter().any(|c| c.starts_with("kind create cluster")), "{kind:?}");
    assert!(kind.iter().any(|c| c.starts_with("kind delete cluster")), "{kind:?}");
    assert!(env.container("kilter-shop-control-plane").is_none(), "destroyed");
}

// ---------------------------------------------------------------------------------------------
// --dry-run, verb by verb

/// One entry of the state: its kind and mode, and its bytes (a file) or target (a symlink).
#[derive(Debug, PartialEq, Eq, Clone)]
enum Entry {
    Dir { mode: u32 },
    File { mode: u32, bytes: Vec<u8> },
    Link { target: PathBuf },
}

/// Everything a kilter verb could change, outside the call logs: every file, directory and
/// symlink under the environment's root — the projects, HOME (cache, data, state, config,
/// `.kube`, `.docker`) and the fake state (containers and their states, the in-cluster objects,
/// kubeconfigs, Tilt records) — with path, mode and bytes, plus the live fake Tilts.
/// Left out: the call logs (`shim.log`, `calls.jsonl`; probes append to them) and the fake
/// state's lock file.
#[derive(Debug, PartialEq, Eq)]
struct State {
    entries: BTreeMap<String, Entry>,
    tilts: Vec<i32>,
}

impl State {
    fn take(env: &Env) -> State {
        let root = env.root();
        let skip = [
            env.shim_log(),
            env.state_dir().join("calls.jsonl"),
            env.state_dir().join(".lock"),
            env.bin(),
        ];
        let mut entries = BTreeMap::new();
        let mut todo = vec![root.to_path_buf()];
        while let Some(d) = todo.pop() {
            for e in std::fs::read_dir(&d).unwrap().flatten() {
                let p = e.path();
                if skip.contains(&p) {
                    continue;
                }
                let rel = p.strip_prefix(root).unwrap().display().to_string();
                let Ok(m) = std::fs::symlink_metadata(&p) else { continue };
                let mode = m.permissions().mode() & 0o7777;
                let entry = if m.file_type().is_symlink() {
                    Entry::Link { target: std::fs::read_link(&p).unwrap() }
                } else if m.is_dir() {
                    todo.push(p);
                    Entry::Dir { mode }
                } else {
                    Entry::File { mode, bytes: std::fs::read(&p).unwrap_or_default() }
                };
                entries.insert(rel, entry);
            }
        }
        let tilts = env.tilt_pids().into_iter().filter(|p| pid_alive(*p)).collect();
        State { entries, tilts }
    }

    /// What changed from `self` to `after`, one line per path (empty: nothing).
    fn diff(&self, after: &State) -> Vec<String> {
        let mut out = Vec::new();
        for (k, v) in &self.entries {
            match after.entries.get(k) {
                None => out.push(format!("removed   {k} ({})", describe(v))),
                Some(w) if w != v => {
                    out.push(format!("changed   {k}: {} -> {}", describe(v), describe(w)));
                }
                Some(_) => {}
            }
        }
        for (k, w) in &after.entries {
            if !self.entries.contains_key(k) {
                out.push(format!("appeared  {k} ({})", describe(w)));
            }
        }
        if self.tilts != after.tilts {
            out.push(format!("live Tilts {:?} -> {:?}", self.tilts, after.tilts));
        }
        out
    }
}

fn describe(e: &Entry) -> String {
    match e {
        Entry::Dir { mode } => format!("dir {mode:o}"),
        Entry::Link { target } => format!("symlink to {}", target.display()),
        Entry::File { mode, bytes } => {
            let text = String::from_utf8_lossy(bytes);
            let short: String = text.chars().take(120).collect();
            format!("{mode:o}, {} bytes: {short:?}", bytes.len())
        }
    }
}

/// `kilter --dry-run ARGS` in `dir`: asserts that nothing of [`State`] changed under this one
/// verb, and returns its output.
pub(crate) fn dry(env: &Env, dir: &Path, args: &[&str]) -> Output {
    let before = State::take(env);
    let out = env.kilter(dir).arg("--dry-run").args(args).output().unwrap();
    let after = State::take(env);
    let diff = before.diff(&after);
    assert!(
        diff.is_empty(),
        "`kilter --dry-run {}` changed the state:\n  {}\nstderr:\n{}",
        args.join(" "),
        diff.join("\n  "),
        stderr_of(&out)
    );
    out
}

/// [`dry`], and the verb succeeded (its script, if any, on stdout).
fn dry_ok(env: &Env, dir: &Path, args: &[&str]) -> String {
    let out = dry(env, dir, args);
    assert!(
        out.status.success(),
        "`kilter --dry-run {}` failed ({:?}):\n{}",
        args.join(" "),
        out.status.code(),
        stderr_of(&out)
    );
    let script = stdout_of(&out);
    // (a verb with nothing to do prints no script at all)
    assert!(script.is_empty() || script.starts_with("#!/bin/sh\n"), "{args:?}: {script}");
    script
}

/// The sample's kilter.yaml in short: two catalog services, the database snapshots use postgres.
const SERVICES_YAML: &str = "name: shop\nservices: [postgres]\n";

/// Each dry-run verb on its own changes nothing: on a fresh project, on a running cluster with
/// its Tilt, and on a stopped one (a write by one verb and a removal by the next cannot cancel
/// out, as they could if only the end state were compared).
#[test]
fn each_dry_run_verb_alone_changes_nothing() {
    let env = Env::new();
    let dir = project(&env, "shop", Some(SERVICES_YAML), true);
    let bare = env.project("bare");

    // Fresh: nothing exists yet.
    let script = dry_ok(&env, &dir, &["up"]);
    assert!(script.contains("kind create cluster --name kilter-shop"), "{script}");
    dry_ok(&env, &bare, &["init"]);
    dry_ok(&env, &dir, &["add", "redis"]);
    dry_ok(&env, &dir, &["down"]);
    dry_ok(&env, &dir, &["gc", "--yes"]);
    dry_ok(&env, &dir, &["registry", "start"]);
    assert!(env.container("kilter-shop-control-plane").is_none());

    // Running, with its Tilt and services.
    let out = env.kilter(&dir).arg("up").output().unwrap();
    assert!(out.status.success(), "up: {}", stderr_of(&out));
    let tilt = tilt_pid(&env, "shop").expect("Tilt runs");
    dry_ok(&env, &dir, &["up"]);
    let script = dry_ok(&env, &dir, &["down"]);
    assert!(script.contains(&format!("kill -s TERM -- -{tilt}")), "{script}");
    let script = dry_ok(&env, &dir, &["stop"]);
    assert!(script.contains("docker stop kilter-shop-control-plane"), "{script}");
    let script = dry_ok(&env, &dir, &["destroy", "--yes", "--no-snapshot"]);
    assert!(script.contains("kind delete cluster --name kilter-shop"), "{script}");
    dry_ok(&env, &dir, &["restart"]);
    dry_ok(&env, &dir, &["add", "redis"]);
    dry_ok(&env, &dir, &["remove", "postgres", "--prune-data"]);
    dry_ok(&env, &dir, &["gc", "--yes", "--snapshots"]);
    dry_ok(&env, &dir, &["registry", "stop"]);
    dry_ok(&env, &dir, &["registry", "rm", "--yes", "--volumes"]);
    dry(&env, &dir, &["ci"]);
    assert_eq!(container_status(&env, "kilter-shop-control-plane").as_deref(), Some("running"));
    assert!(pid_alive(tilt), "Tilt still runs");

    // Stopped: the flag is in kilter.yaml, the node exited.
    let out = env.kilter(&dir).arg("stop").output().unwrap();
    assert!(out.status.success(), "stop: {}", stderr_of(&out));
    let script = dry_ok(&env, &dir, &["up"]);
    assert!(script.contains("docker start kilter-shop-control-plane"), "{script}");
    dry_ok(&env, &dir, &["stop"]);
    dry_ok(&env, &dir, &["down"]);
    dry_ok(&env, &dir, &["destroy", "--yes"]);
    dry_ok(&env, &dir, &["remove", "postgres"]);
    dry_ok(&env, &dir, &["add", "redis"]);
    assert_eq!(container_status(&env, "kilter-shop-control-plane").as_deref(), Some("exited"));
}

/// The `db` verbs and destroy's pre-destroy snapshot, each alone, against a real PostgreSQL (the
/// fake kubectl's `exec` runs the real clients; a dry run still asks the server its version).
#[test]
fn each_dry_run_db_verb_alone_changes_nothing() {
    let pg = match crate::support::pg::Pg::start() {
        Ok(pg) => pg,
        Err(e) => {
            return crate::support::skipped(
                "untouched::each_dry_run_db_verb_alone_changes_nothing",
                &format!("PostgreSQL is not usable here: {e}"),
            );
        }
    };
    let env = Env::new();
    let dir = project(&env, "shop", Some(SERVICES_YAML), false);
    let out = env.kilter(&dir).arg("up").output().unwrap();
    assert!(out.status.success(), "up: {}", stderr_of(&out));
    pg.wire(&env);
    pg.create_db("shop");
    pg.psql("shop", "CREATE TABLE items (v text); INSERT INTO items VALUES ('kept')");

    dry_ok(&env, &dir, &["db", "snapshot", "plan"]);
    for name in ["base", "older"] {
        let out = env.kilter(&dir).args(["db", "snapshot", name]).output().unwrap();
        assert!(out.status.success(), "db snapshot: {}", stderr_of(&out));
    }
    let script = dry_ok(&env, &dir, &["db", "restore", "base"]);
    assert!(script.contains("pg_restore"), "{script}");
    dry_ok(&env, &dir, &["db", "rm", "base"]);
    dry_ok(&env, &dir, &["db", "pin", "base"]);
    dry_ok(&env, &dir, &["db", "prune", "--keep", "1"]);
    let script = dry_ok(&env, &dir, &["destroy", "--yes"]);
    assert!(script.contains("pg_dump"), "the pre-destroy snapshot is planned: {script}");
    dry_ok(&env, &dir, &["ci", "--restore", "base"]);
    let out = env.kilter(&dir).args(["db", "pin", "base"]).output().unwrap();
    assert!(out.status.success(), "db pin: {}", stderr_of(&out));
    dry_ok(&env, &dir, &["db", "unpin", "base"]);
    assert_eq!(pg.psql("shop", "SELECT v FROM items"), "kept\n");
}
