//! Behaviours that no test covered before: changing the code by hand to break each of them went
//! unnoticed by the whole suite. One test each, and each fails when its behaviour breaks.
//!
//! - `stop` and `destroy` take the project lock (docs/commands.md, `KILTER_LOCK_TIMEOUT`);
//! - `kilter ci` exits with Tilt's own exit code (docs/commands.md, "kilter ci", exit codes);
//! - `gc` keeps a cluster whose owner it cannot determine (docs/commands.md, "kilter gc");
//! - "already exists in network" from `docker network connect` counts as connected;
//! - `db snapshot --force` keeps the pin of the snapshot it replaces (docs/commands.md,
//!   "kilter db snapshot");
//! - `stop --all` matches a node to a project by its name and its directory.

use std::fs::File;
use std::io::Write as _;
use std::path::Path;
use std::process::Stdio;
use std::time::Duration;

use serde_json::Value;

use crate::helpers::*;
use crate::support::{Env, read, wait_until};

fn node(name: &str) -> String {
    format!("kilter-{name}-control-plane")
}

fn up(env: &Env, dir: &Path) {
    let out = env.kilter(dir).arg("up").output().expect("runs");
    assert!(out.status.success(), "up in {}: {}", dir.display(), stderr_of(&out));
}

/// Take project `name`'s lock as another kilter would (`flock` on `<cache>/<name>/lock`, with
/// its holder record), and keep it until the returned file is dropped.
fn hold_project_lock(env: &Env, name: &str, command: &str) -> File {
    let cache = env.cache_dir(name);
    std::fs::create_dir_all(&cache).expect("cache dir");
    let mut f = std::fs::OpenOptions::new()
        .read(true)
        .write(true)
        .create(true)
        .truncate(true)
        .open(cache.join("lock"))
        .expect("open the lock file");
    f.try_lock().expect("the lock is free");
    writeln!(f, "pid={} command={command}", std::process::id()).expect("holder record");
    f.flush().expect("flush");
    f
}

/// Start `kilter up` of a project whose `kind create` takes 1.5 s (knob `create_ms`), and
/// return it once that create has begun: from then on `up` holds the project lock.
fn slow_up(env: &Env, dir: &Path) -> std::process::Child {
    env.set_knob("create_ms", "1500");
    let child = env.kilter_std(dir).arg("up").stderr(Stdio::piped()).spawn().expect("spawn up");
    assert!(
        wait_until(Duration::from_secs(10), || env
            .calls()
            .iter()
            .any(|c| c.starts_with("kind create"))),
        "up reached kind create"
    );
    child
}

// ---------------------------------------------------------------------------------------------
// stop and destroy take the project lock

/// `kilter stop` while `kilter up` of the same project runs: `stop` waits for the lock, names
/// its holder, and then stops the cluster `up` made (and writes the flag). With the lock held and
/// `KILTER_LOCK_TIMEOUT` short, it gives up (exit 1) before it touches anything.
#[test]
fn stop_waits_for_the_project_lock_and_gives_up_touching_nothing() {
    let env = Env::new();
    let dir = project(&env, "shop", Some("name: shop\n"), false);
    let upping = slow_up(&env, &dir);
    let up_pid = upping.id();
    let stop = env.kilter(&dir).arg("stop").output().expect("runs");
    let upped = upping.wait_with_output().expect("wait for up");
    assert!(upped.status.success(), "up: {}", stderr_of(&upped));
    let err = stderr_of(&stop);
    assert!(stop.status.success(), "stop: {err}");
    assert!(
        err.contains(&format!(
            "waiting for `kilter up` (pid {up_pid}) to finish with project `shop`"
        )),
        "stop waited for up's lock: {err}"
    );
    assert_eq!(container_status(&env, &node("shop")).as_deref(), Some("exited"));
    assert_eq!(read(dir.join("kilter.yaml")), "name: shop\ncluster:\n  stopped: true\n");
    assert_eq!(env.calls().iter().filter(|c| c.starts_with("kind create")).count(), 1);

    // Bounded: the lock stays held, `stop` gives up and runs nothing.
    env.set_knob("create_ms", "50");
    up(&env, &dir);
    let yaml = read(dir.join("kilter.yaml"));
    let held = hold_project_lock(&env, "shop", "kilter test-holder");
    let mark = env.calls().len();
    let out =
        env.kilter(&dir).arg("stop").env("KILTER_LOCK_TIMEOUT", "0.5").output().expect("runs");
    let err = stderr_of(&out);
    assert_eq!(out.status.code(), Some(1), "{err}");
    assert!(
        err.contains(&format!("`kilter test-holder` (pid {})", std::process::id()))
            && err.contains("gave up after"),
        "{err}"
    );
    assert!(calls_since(&env, mark).is_empty(), "{:?}", calls_since(&env, mark));
    assert_eq!(container_status(&env, &node("shop")).as_deref(), Some("running"));
    assert_eq!(read(dir.join("kilter.yaml")), yaml);
    drop(held);
}

/// `kilter destroy --yes` while `kilter up` of the same project runs: `destroy` waits for the
/// lock, names its holder, and deletes the cluster only after `up` finished making it. With the
/// lock held and `KILTER_LOCK_TIMEOUT` short, it gives up (exit 1) before it touches anything.
#[test]
fn destroy_waits_for_the_project_lock_and_gives_up_touching_nothing() {
    let env = Env::new();
    let dir = project(&env, "shop", Some("name: shop\n"), false);
    let upping = slow_up(&env, &dir);
    let up_pid = upping.id();
    let destroy = env.kilter(&dir).args(["destroy", "--yes"]).output().expect("runs");
    let upped = upping.wait_with_output().expect("wait for up");
    assert!(upped.status.success(), "up: {}", stderr_of(&upped));
    let err = stderr_of(&destroy);
    assert!(destroy.status.success(), "destroy: {err}");
    assert!(
        err.contains(&format!(
            "waiting for `kilter up` (pid {up_pid}) to finish with project `shop`"
        )),
        "destroy waited for up's lock: {err}"
    );
    // The deletion came after the creation had ended (and exited 0).
    let exits = env.call_exits();
    let create = exits
        .iter()
        .position(|(r, _)| r["tool"] == "kind" && r["argv"][0] == "create")
        .expect("kind create");
    let delete = exits
        .iter()
        .position(|(r, _)| r["tool"] == "kind" && r["argv"][0] == "delete")
        .expect("kind delete");
    assert!(create < delete);
    assert_eq!(exits[create].1, Some(0), "the create was not disturbed");
    assert!(env.container(&node("shop")).is_none(), "destroyed");

    // Bounded: the lock stays held, `destroy` gives up and runs nothing.
    env.set_knob("create_ms", "50");
    up(&env, &dir);
    let held = hold_project_lock(&env, "shop", "kilter test-holder");
    let mark = env.calls().len();
    let out = env
        .kilter(&dir)
        .args(["destroy", "--yes"])
        .env("KILTER_LOCK_TIMEOUT", "0.5")
        .output()
        .expect("runs");
    let err = stderr_of(&out);
    assert_eq!(out.status.code(), Some(1), "{err}");
    assert!(
        err.contains(&format!("`kilter test-holder` (pid {})", std::process::id()))
            && err.contains("gave up after"),
        "{err}"
    );
    assert!(calls_since(&env, mark).is_empty(), "{:?}", calls_since(&env, mark));
    assert_eq!(container_status(&env, &node("shop")).as_deref(), Some("running"));
    assert!(kubeconfig(&env, "shop").exists());
    drop(held);
}

// ---------------------------------------------------------------------------------------------
// kilter ci exits with Tilt's code

/// A `tilt ci` that ends with a code other than 1 — here 2, how a Go program such as Tilt ends
/// on a panic — makes `kilter ci` exit 2 too, not a collapsed 1 (the fake Tilt fails only
/// with 1, so a wrapper given as `KILTER_TILT` plays the crashing Tilt).
#[test]
fn ci_exits_with_tilts_own_exit_code() {
    let env = Env::new();
    let dir = project(&env, "shop", Some("name: shop\n"), true);
    let tilt = script(
        &env,
        "tilt-panics",
        &format!(
            "if [ \"$1\" = ci ]; then\n\
             echo 'panic: runtime error: invalid memory address or nil pointer dereference' >&2\n\
             echo '[signal SIGSEGV: segmentation violation code=0x1 addr=0x0 pc=0x1c4a2f0]' >&2\n\
             exit 2\n\
             fi\n\
             exec {} \"$@\"\n",
            env.bin().join("tilt").display()
        ),
    );
    let out = env.kilter(&dir).arg("ci").env("KILTER_TILT", &tilt).output().expect("runs");
    let err = stderr_of(&out);
    assert_eq!(out.status.code(), Some(2), "Tilt's exit code: {err}");
    assert!(err.contains("panic: runtime error"), "Tilt's output is shown: {err}");
    assert!(
        err.lines().any(|l| l.trim_start().starts_with("tilt ci") && l.ends_with("failed: exit 2")),
        "the phase says so: {err}"
    );
    assert!(!err.contains("kilter ci passed"), "{err}");
    assert!(env.container(&node("shop")).is_none(), "the cluster is deleted after the failure");
}

/// `tilt ci` that writes, falls silent, writes again and exits, leaving a child that writes
/// once more: kilter keeps reading through the pause (an empty pipe is not its end) and, after
/// Tilt's exit, until the output ends (for at most 2 s), so every line reaches the terminal.
#[test]
fn ci_reads_tilts_output_through_a_pause() {
    let env = Env::new();
    let dir = project(&env, "shop", Some("name: shop\n"), true);
    let tilt = script(
        &env,
        "tilt-pauses",
        &format!(
            "if [ \"$1\" = ci ]; then\n\
             echo 'first: building'\n\
             /bin/sleep 1\n\
             echo 'second: SUCCESS. All workloads are healthy.'\n\
             (/bin/sleep 0.5; echo 'third: written after tilt exited') &\n\
             exit 0\n\
             fi\n\
             exec {} \"$@\"\n",
            env.bin().join("tilt").display()
        ),
    );
    let out = env.kilter(&dir).arg("ci").env("KILTER_TILT", &tilt).output().expect("runs");
    let err = stderr_of(&out);
    assert_eq!(out.status.code(), Some(0), "{err}");
    assert!(err.contains("first: building"), "{err}");
    assert!(err.contains("second: SUCCESS"), "the line after the pause: {err}");
    assert!(err.contains("third: written after tilt exited"), "the line after the exit: {err}");
}

// ---------------------------------------------------------------------------------------------
// gc keeps a cluster whose owner it cannot determine

/// Two clusters whose owner kilter cannot determine — one with no record of any directory
/// (made by `kind` itself under kilter's name), one whose directory's kilter.yaml cannot be
/// read — are listed as kept, and `gc --yes` deletes neither (no `kind delete`, no `docker
/// rm`), their cache dir included.
#[test]
fn gc_never_deletes_a_cluster_whose_owner_it_cannot_determine() {
    let env = Env::new();
    // No record at all: no identity record, no port slot.
    let out = env
        .tool("kind")
        .args(["create", "cluster", "--name", "kilter-stray", "--kubeconfig"])
        .arg(env.root().join("stray-kubeconfig"))
        .output()
        .expect("kind");
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    // A recorded directory whose kilter.yaml no longer parses.
    let broken = project(&env, "broken", Some("name: broken\n"), false);
    up(&env, &broken);
    std::fs::write(broken.join("kilter.yaml"), "name: [broken\n").expect("break kilter.yaml");
    // gc has something else to do, so that it really runs its removals.
    let gone = project(&env, "gone", Some("name: gone\n"), false);
    up(&env, &gone);
    std::fs::remove_dir_all(&gone).expect("rm gone");
    let elsewhere = env.project("elsewhere");

    let mark = env.calls().len();
    let out = env.kilter(&elsewhere).args(["gc", "--yes"]).output().expect("runs");
    let err = stderr_of(&out);
    assert!(out.status.success(), "{err}");
    assert!(env.container(&node("gone")).is_none(), "the vanished project's cluster went: {err}");
    let (found, kept) = err.split_once("Kept:").unwrap_or((err.as_str(), ""));
    for (n, why) in [("stray", "no project directory is recorded"), ("broken", "cannot be read")] {
        assert_eq!(
            container_status(&env, &node(n)).as_deref(),
            Some("running"),
            "cluster kilter-{n} kept: {err}"
        );
        assert!(
            kept.contains(&format!("cluster kilter-{n} ")) && kept.contains(why),
            "kilter-{n} is listed as kept: {err}"
        );
        assert!(!found.contains(&format!("kilter-{n} ")), "not listed for removal: {err}");
        assert!(
            !calls_since(&env, mark).iter().any(|c| c.contains(&format!("kilter-{n}"))
                && (c.starts_with("kind delete") || c.starts_with("docker rm"))),
            "{:?}",
            calls_since(&env, mark)
        );
    }
    assert!(env.cache_dir("broken").join("kubeconfig").exists(), "its cache dir is kept");
    assert_eq!(read(broken.join("kilter.yaml")), "name: [broken\n");
}

// ---------------------------------------------------------------------------------------------
// "already exists in network" is "connected"

fn on_kind(env: &Env, name: &str) -> bool {
    env.container(name)
        .unwrap_or_else(|| panic!("no container {name}"))
        .pointer("/NetworkSettings/Networks/kind")
        .is_some()
}

/// The shared registry and caches exist but are not on the `kind` network, and another kilter
/// connects each of them between this one's look and its `docker network connect` (a docker
/// wrapper given as `KILTER_DOCKER` makes that race certain). docker answers "endpoint with name
/// … already exists in network kind" (exit 1): `kilter registry start` counts that as
/// connected and succeeds.
#[test]
fn network_connect_already_exists_counts_as_connected() {
    let env = Env::new();
    let port = env.in_net(|| {
        std::net::TcpListener::bind(("127.0.0.1", 0)).expect("bind").local_addr().expect("a").port()
    });
    let dir = project(&env, "shop", Some("name: shop\n"), false);
    let kilter = |docker: Option<&Path>, args: &[&str]| {
        let mut c = env.kilter(&dir);
        c.env("KILTER_REGISTRY_PORT", port.to_string()).args(args);
        if let Some(d) = docker {
            c.env("KILTER_DOCKER", d);
        }
        c.output().expect("runs")
    };
    // Made before there is a kind network: on the default bridge only.
    let out = kilter(None, &["registry", "start"]);
    assert!(out.status.success(), "{}", stderr_of(&out));
    // A cluster that leaves them alone brings the kind network.
    let out = env.kilter(&dir).env("KILTER_REGISTRY", "off").arg("up").output().expect("runs");
    assert!(out.status.success(), "{}", stderr_of(&out));
    let shared = [
        "kilter-registry",
        "kilter-cache-docker.io",
        "kilter-cache-ghcr.io",
        "kilter-cache-quay.io",
        "kilter-cache-registry.k8s.io",
    ];
    assert!(shared.iter().all(|n| !on_kind(&env, n)), "not connected yet");

    let racing = script(
        &env,
        "docker-racing",
        &format!(
            "# another kilter connects it first\n\
             if [ \"$1\" = network ] && [ \"$2\" = connect ]; then\n\
             {docker} \"$@\" >/dev/null 2>&1 || exit 99\n\
             fi\n\
             exec {docker} \"$@\"\n",
            docker = env.bin().join("docker").display()
        ),
    );
    let out = kilter(Some(&racing), &["registry", "start"]);
    let err = stderr_of(&out);
    assert!(out.status.success(), "{err}");
    assert!(shared.iter().all(|n| on_kind(&env, n)), "all connected");
    // kilter's own connect calls met "already exists" (exit 1): the race did happen.
    let answered: Vec<Option<i64>> = env
        .call_exits()
        .into_iter()
        .filter(|(r, _)| r["tool"] == "docker" && r["argv"][1] == "connect")
        .map(|(_, code)| code)
        .collect();
    assert_eq!(answered.len(), 2 * shared.len(), "{answered:?}");
    assert_eq!(answered.iter().filter(|c| **c == Some(1)).count(), shared.len(), "{answered:?}");
}

// ---------------------------------------------------------------------------------------------
// db snapshot --force keeps the pin

/// A pinned snapshot replaced with `db snapshot NAME --force` is still pinned (metadata and
/// `db list`), and `db prune` still keeps it; the replacement really is a new dump.
#[test]
fn snapshot_force_keeps_the_pin_of_the_snapshot_it_replaces() {
    let Some(pg) = crate::support::pg::Pg::start_or_skip(
        "uncovered::snapshot_force_keeps_the_pin_of_the_snapshot_it_replaces",
    ) else {
        return;
    };
    let env = Env::new();
    let dir = project(
        &env,
        "shop",
        Some("name: shop\ndatabase:\n  service: postgres\n  user: postgres\n"),
        false,
    );
    up(&env, &dir);
    pg.serve_postgres_workload(&env, "shop-dev", "shop");
    let ok = |args: &[&str]| {
        let out = env.kilter(&dir).args(args).output().expect("runs");
        assert!(out.status.success(), "kilter {args:?}: {}", stderr_of(&out));
        out
    };
    let meta_path = env.data_dir("shop").join("snapshots/base.json");
    let meta = || -> Value { serde_json::from_str(&read(&meta_path)).expect("metadata") };

    pg.psql("shop", "CREATE TABLE t (x int); INSERT INTO t VALUES (1)");
    ok(&["db", "snapshot", "base"]);
    ok(&["db", "pin", "base"]);
    assert_eq!(meta()["pinned"], true);
    let old_sha = meta()["sha256"].clone();

    pg.psql("shop", "INSERT INTO t SELECT generate_series(2, 500)");
    ok(&["db", "snapshot", "base", "--force"]);
    let m = meta();
    assert_ne!(m["sha256"], old_sha, "a new dump replaced the old one");
    assert_eq!(m["pinned"], true, "the replacement keeps the pin: {m}");
    let list: Value =
        serde_json::from_slice(&ok(&["db", "list", "--json"]).stdout).expect("list json");
    let row = list["snapshots"]
        .as_array()
        .and_then(|a| a.iter().find(|s| s["name"] == "base"))
        .unwrap_or_else(|| panic!("base not listed: {list}"))
        .clone();
    assert_eq!(row["pinned"], true, "{row}");

    // A newer snapshot, then prune to one: the pinned `base` stays.
    ok(&["db", "snapshot", "later"]);
    ok(&["db", "prune", "--keep", "1"]);
    assert!(meta_path.exists(), "prune kept the pinned snapshot");
}

// ---------------------------------------------------------------------------------------------
// stop --all: a node's project by its name and its directory

/// `stop --all` writes the flag only into the project that is the node's by both its name and
/// its directory. A recorded directory that now holds another project, or that is now a
/// symlink to another directory of the same name (the project was moved), gets its node stopped
/// and nothing written (as `kilter stop` there would refuse: the name belongs to the recorded
/// directory).
#[test]
fn stop_all_matches_a_node_to_a_project_by_name_and_directory() {
    let env = Env::new();
    // `renamed`: its directory now holds project `fresh`.
    let renamed = project(&env, "renamed", Some("name: renamed\n"), false);
    up(&env, &renamed);
    std::fs::write(renamed.join("kilter.yaml"), "name: fresh\n").expect("rename");
    // `moved`: its directory moved, a symlink left where it was (same name, other directory).
    let moved = project(&env, "moved", Some("name: moved\n"), false);
    up(&env, &moved);
    let recorded = moved.canonicalize().expect("canonical");
    let new_home = env.root().join("work").join("moved-here");
    std::fs::rename(&recorded, &new_home).expect("move");
    std::os::unix::fs::symlink(&new_home, &recorded).expect("symlink");
    // `kept`: name and directory match: it is flagged.
    let kept = project(&env, "kept", Some("name: kept\n"), false);
    up(&env, &kept);
    let elsewhere = env.project("elsewhere");

    let out = env.kilter(&elsewhere).args(["stop", "--all"]).output().expect("runs");
    let err = stderr_of(&out);
    assert!(out.status.success(), "{err}");
    for n in ["renamed", "moved", "kept"] {
        assert_eq!(container_status(&env, &node(n)).as_deref(), Some("exited"), "{n}: {err}");
    }
    assert_eq!(read(renamed.join("kilter.yaml")), "name: fresh\n", "another project's file");
    assert_eq!(read(new_home.join("kilter.yaml")), "name: moved\n", "not the recorded directory");
    assert_eq!(read(kept.join("kilter.yaml")), "name: kept\ncluster:\n  stopped: true\n");
    for n in ["renamed", "moved"] {
        assert!(err.contains(&format!("stopped kilter-{n} only: ")), "{n}: {err}");
    }
    assert!(err.contains("now holds project `fresh`"), "{err}");
}
