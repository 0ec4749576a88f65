//! The dry run is the real run, printed: from the same starting state, (a) run a verb for real,
//! (b) run it with `--dry-run` and execute the printed script with `sh` against the same fakes.
//! The resulting files (XDG dirs, kilter.yaml) and the fake tools' state must be equal, with only
//! times, pids, container ids and certificate bytes normalised.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use regex::Regex;

use crate::helpers::*;
use crate::support::Env;

/// Everything a verb can change, normalised, as `key → value` lines.
pub type State = BTreeMap<String, String>;

fn normalise(root: &Path, text: &str) -> String {
    let mut s = text.replace(&root.display().to_string(), "<root>");
    for (pat, rep) in [
        // RFC 3339 times, with or without fractions.
        (r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d+)?(Z|[+-]\d\d:\d\d)", "<time>"),
        (r#""pid": ?\d+"#, r#""pid": <pid>"#),
        (r#""start": ?"\d+""#, r#""start": <start>"#),
        (r#""unix": ?\d+"#, r#""unix": <unix>"#),
        // the API port kind picks
        (r"https://127\.0\.0\.1:\d+", "https://127.0.0.1:<api>"),
        (r#""6443/tcp":\[\{"HostIp":"127\.0\.0\.1","HostPort":"\d+"\}\]"#, r#""6443/tcp":<api>"#),
        // container ids, certificate data
        (r"\b[0-9a-f]{64}\b", "<id>"),
        (r"\b[0-9a-f]{12}\b", "<id12>"),
        (r"(certificate-authority-data|client-certificate-data|client-key-data): \S+", "$1: <b64>"),
    ] {
        s = Regex::new(pat).unwrap().replace_all(&s, rep).into_owned();
    }
    s
}

fn walk(dir: &Path, out: &mut Vec<PathBuf>) {
    let Ok(rd) = std::fs::read_dir(dir) else { return };
    for e in rd.flatten() {
        let p = e.path();
        out.push(p.clone());
        if p.is_dir() && !p.is_symlink() {
            walk(&p, out);
        }
    }
}

/// Files kilter manages plus kilter.yaml of each project dir; the fake tools' containers,
/// in-cluster namespaces and live Tilts.
pub fn state(env: &Env, projects: &[&Path]) -> State {
    use std::os::unix::fs::PermissionsExt;
    let root = env.root();
    let mut st = State::new();
    let mut paths = Vec::new();
    for d in [
        env.home().join(".cache/kilter"),
        env.home().join(".local/share/kilter"),
        env.state_home().join("kilter"),
    ] {
        walk(&d, &mut paths);
    }
    for p in projects {
        paths.push(p.join("kilter.yaml"));
    }
    for p in paths {
        let name = p.file_name().unwrap().to_string_lossy().into_owned();
        // The transcript and lock files record the run itself, not its effects; Tilt's log has
        // its own times.
        if name == "commands.log" || name == "lock" || name.ends_with(".lock") {
            continue;
        }
        let Ok(meta) = std::fs::symlink_metadata(&p) else { continue };
        let key = normalise(root, &p.display().to_string());
        let mode = meta.permissions().mode() & 0o7777;
        let value = if meta.is_dir() {
            format!("dir {mode:o}")
        } else if name == "tilt.log" {
            format!("file {mode:o} (a log)")
        } else {
            let text = String::from_utf8_lossy(&std::fs::read(&p).unwrap()).into_owned();
            format!("file {mode:o}\n{}", normalise(root, &text))
        };
        st.insert(key, value);
    }
    let containers: serde_json::Value =
        serde_json::from_str(&env.ctl(&["containers"])).unwrap_or_default();
    if let Some(map) = containers["containers"].as_object() {
        for (name, c) in map {
            let i = &c["inspect"];
            st.insert(
                format!("container {name}"),
                format!(
                    "{} labels={} ports={}",
                    i["State"]["Status"],
                    i["Config"]["Labels"],
                    normalise(root, &i["HostConfig"]["PortBindings"].to_string())
                ),
            );
        }
    }
    // kilter's services in the fake clusters: the objects as stored, minus what the API server
    // makes up itself (uids, resource versions, times, cluster IPs, volume names, status).
    for cluster in
        std::fs::read_dir(env.state_dir().join("clusters")).into_iter().flatten().flatten()
    {
        for ns in std::fs::read_dir(cluster.path().join("ns")).into_iter().flatten().flatten() {
            for resource in ["statefulsets", "deployments", "services", "persistentvolumeclaims"] {
                let Ok(text) = std::fs::read_to_string(ns.path().join(format!("{resource}.json")))
                else {
                    continue;
                };
                let all: serde_json::Value = serde_json::from_str(&text).unwrap();
                for (name, o) in all.as_object().cloned().unwrap_or_default() {
                    let mut o = o.clone();
                    if let Some(m) = o["metadata"].as_object_mut() {
                        for k in ["uid", "resourceVersion", "creationTimestamp"] {
                            m.remove(k);
                        }
                    }
                    if let Some(spec) = o["spec"].as_object_mut() {
                        for k in ["clusterIP", "clusterIPs", "volumeName"] {
                            spec.remove(k);
                        }
                    }
                    if let Some(obj) = o.as_object_mut() {
                        obj.remove("status");
                    }
                    st.insert(
                        format!("object {}/{resource}/{name}", ns.file_name().to_string_lossy()),
                        normalise(root, &o.to_string()),
                    );
                }
            }
        }
    }
    let mut tilts: Vec<String> = env
        .tilt_records()
        .iter()
        .map(|t| {
            normalise(
                root,
                &format!(
                    "port={} file={} context={} namespace={} cwd={} env={} kubeconfig={} services={}",
                    t["port"],
                    t["file"],
                    t["context"],
                    t["namespace"],
                    t["cwd"],
                    t["kilter_env"],
                    t["kubeconfig_env"],
                    service_env(&t["env"])
                ),
            )
        })
        .collect();
    tilts.sort();
    st.insert("tilts".into(), tilts.join("\n"));
    st
}

/// The variables of Tilt's environment that neither the harness nor a shell put there (the
/// services' `provides:` and anything else kilter adds).
fn service_env(env: &serde_json::Value) -> String {
    const FROM_HARNESS: &[&str] = &[
        "PATH",
        "HOME",
        "XDG_CACHE_HOME",
        "XDG_DATA_HOME",
        "XDG_STATE_HOME",
        "XDG_CONFIG_HOME",
        "DOCKER_CONFIG",
        "NO_COLOR",
        "PWD",
        "OLDPWD",
        "SHLVL",
        "_",
        "KUBECONFIG",
    ];
    let kept: serde_json::Map<String, serde_json::Value> = env
        .as_object()
        .into_iter()
        .flatten()
        .filter(|(k, _)| !FROM_HARNESS.contains(&k.as_str()) && !k.starts_with("KILTER_"))
        .map(|(k, v)| (k.clone(), v.clone()))
        .collect();
    serde_json::Value::Object(kept).to_string()
}

/// Run `args` for real in one environment and as a dry-run script in another, both prepared by
/// `setup`; the end states must be equal. Returns the script (for further checks).
pub fn assert_replay_equivalent(setup: impl Fn(&Env) -> PathBuf, args: &[&str]) -> String {
    assert_replay_equivalent_in(
        |env| {
            let dir = setup(env);
            (dir.clone(), vec![dir])
        },
        args,
    )
}

/// [`assert_replay_equivalent`] for commands that act on several projects (`stop --all`, `gc`):
/// `setup` returns the directory kilter runs in and every project directory whose kilter.yaml
/// belongs to the compared state (directories that no longer exist are fine).
pub fn assert_replay_equivalent_in(
    setup: impl Fn(&Env) -> (PathBuf, Vec<PathBuf>),
    args: &[&str],
) -> String {
    let real = Env::new();
    let (dir, projects) = setup(&real);
    let refs: Vec<&Path> = projects.iter().map(PathBuf::as_path).collect();
    let out = real.kilter(&dir).args(args).output().unwrap();
    assert!(out.status.success(), "real {args:?}: {}", stderr_of(&out));
    let want = state(&real, &refs);

    let planned = Env::new();
    let (dir_b, projects_b) = setup(&planned);
    let refs_b: Vec<&Path> = projects_b.iter().map(PathBuf::as_path).collect();
    let before = state(&planned, &refs_b);
    let mut dry: Vec<&str> = vec!["--dry-run"];
    dry.extend(args);
    let out = planned.kilter(&dir_b).args(&dry).output().unwrap();
    assert!(out.status.success(), "dry run {args:?}: {}", stderr_of(&out));
    let script = stdout_of(&out);
    assert_eq!(state(&planned, &refs_b), before, "the dry run itself changed something");
    // The script needs a shell's utilities (cat, mkdir, grep, date, …) after the fakes.
    let path = format!("{}:/usr/bin:/bin", planned.bin().display());
    let ran = std::process::Command::new("/bin/sh")
        .arg("-c")
        .arg(&script)
        .env_clear()
        .envs(planned.vars())
        .env("PATH", path)
        .current_dir(&dir_b)
        .stdin(std::process::Stdio::null())
        .output()
        .unwrap();
    assert!(
        ran.status.success(),
        "the script failed ({:?}):\n{script}\nstderr:\n{}",
        ran.status,
        stderr_of(&ran)
    );
    let got = state(&planned, &refs_b);
    if got != want {
        let mut diff = String::new();
        for k in want.keys().chain(got.keys()).collect::<std::collections::BTreeSet<_>>() {
            if want.get(k) != got.get(k) {
                diff.push_str(&format!(
                    "== {k}\n  real:   {:?}\n  script: {:?}\n",
                    want.get(k),
                    got.get(k)
                ));
            }
        }
        panic!(
            "{args:?}: the script's end state differs from the real run's:\n{diff}\nscript:\n{script}"
        );
    }
    script
}

fn fresh(env: &Env) -> PathBuf {
    project(env, "shop", Some("name: shop\n# keep me\n"), true)
}

fn running(env: &Env) -> PathBuf {
    let d = fresh(env);
    env.kilter(&d).arg("up").assert().success();
    d
}

fn stopped(env: &Env) -> PathBuf {
    let d = running(env);
    env.kilter(&d).arg("stop").assert().success();
    d
}

#[test]
fn up_on_a_fresh_project() {
    let script = assert_replay_equivalent(fresh, &["up"]);
    assert!(script.contains("kind create cluster"), "{script}");
    assert!(script.contains("until ") && script.contains("/readyz"), "a bounded wait: {script}");
}

#[test]
fn up_resuming_a_stopped_project() {
    let script = assert_replay_equivalent(stopped, &["up"]);
    assert!(script.contains("docker start kilter-shop-control-plane"), "{script}");
}

#[test]
fn up_reusing_a_running_project() {
    assert_replay_equivalent(running, &["up"]);
}

#[test]
fn up_without_tilt() {
    assert_replay_equivalent(fresh, &["up", "--no-tilt"]);
}

#[test]
fn stop_a_running_project() {
    let script = assert_replay_equivalent(running, &["stop"]);
    assert!(script.contains("kill -s TERM -- -"), "{script}");
}

#[test]
fn down_a_running_project() {
    assert_replay_equivalent(running, &["down"]);
}

#[test]
fn destroy_a_running_project() {
    let script = assert_replay_equivalent(running, &["destroy", "--yes"]);
    assert!(script.contains("kind delete cluster"), "{script}");
}

#[test]
fn destroy_a_stopped_project() {
    assert_replay_equivalent(stopped, &["destroy", "--yes"]);
}

#[test]
fn ci_on_a_fresh_project() {
    let script = assert_replay_equivalent(fresh, &["ci"]);
    assert!(script.contains("kind create cluster"), "{script}");
    assert!(script.contains(" tilt ci --port "), "{script}");
    assert!(script.contains("kind delete cluster"), "{script}");
}

#[test]
fn ci_keeping_a_running_project() {
    assert_replay_equivalent(running, &["ci", "--keep"]);
}

/// `ci` where `kilter up` made the cluster: the run reuses it and keeps it, in the script too.
#[test]
fn ci_reusing_a_dev_cluster_keeps_it() {
    let script = assert_replay_equivalent(running, &["ci"]);
    assert!(script.contains(" tilt ci --port "), "{script}");
    assert!(!script.contains("kind delete cluster"), "{script}");
}

/// A container of the user's named like the shared registry: `up` goes on without the registry,
/// and neither the real run nor the script touches it.
#[test]
fn up_beside_a_users_container_named_like_the_registry() {
    let setup = |env: &Env| {
        let d = fresh(env);
        let out = env
            .tool("docker")
            .args(["run", "-d", "--name", "kilter-registry", "busybox:1.36"])
            .output()
            .unwrap();
        assert!(out.status.success(), "{}", stderr_of(&out));
        d
    };
    let script = assert_replay_equivalent(setup, &["up", "--no-tilt"]);
    for l in script.lines().filter(|l| l.contains("kilter-registry")) {
        assert!(!l.starts_with("docker "), "the user's container is touched: {l}\n{script}");
    }
    assert!(!script.contains("docker run"), "nothing shared is created: {script}");
}

/// The refusals of `registry start|stop|rm` print no command that would change anything.
#[test]
fn registry_refusals_print_nothing_to_run() {
    let env = Env::new();
    let dir = fresh(&env);
    let out = env
        .tool("docker")
        .args(["run", "-d", "--name", "kilter-cache-ghcr.io", "busybox:1.36"])
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", stderr_of(&out));
    for verb in [&["registry", "start"][..], &["registry", "stop"], &["registry", "rm", "--yes"]] {
        let mut args = vec!["--dry-run"];
        args.extend(verb);
        let out = env.kilter(&dir).args(&args).output().unwrap();
        assert_eq!(out.status.code(), Some(1), "{verb:?}: {}", stderr_of(&out));
        let script = stdout_of(&out);
        assert!(
            !script.lines().any(|l| l.starts_with("docker ")),
            "{verb:?} would run something: {script}"
        );
    }
    assert_eq!(container_status(&env, "kilter-cache-ghcr.io").as_deref(), Some("running"));
}

// ---------------------------------------------------------------------------------------------
// Services (kilter.yaml `services:`)

fn fresh_with_services(env: &Env) -> PathBuf {
    project(env, "shop", Some("name: shop\n# keep me\nservices: [postgres, redis]\n"), true)
}

fn running_with_three_services(env: &Env) -> PathBuf {
    let d = project(env, "shop", Some("name: shop\nservices: [postgres, redis, mailpit]\n"), true);
    env.kilter(&d).arg("up").assert().success();
    d
}

#[test]
fn up_with_services_on_a_fresh_project() {
    let script = assert_replay_equivalent(fresh_with_services, &["up"]);
    assert!(script.contains("apply --server-side '--field-manager=kilter' -f - < "), "{script}");
    assert!(script.contains("services.yaml"), "{script}");
    assert!(
        script.contains("until ") && script.contains("rollout status statefulset/postgres"),
        "the wait is a bounded loop: {script}"
    );
}

#[test]
fn up_deleting_a_removed_service() {
    let script = assert_replay_equivalent(
        |env| {
            let d = running_with_three_services(env);
            std::fs::write(d.join("kilter.yaml"), "name: shop\nservices: [postgres]\n").unwrap();
            d
        },
        &["up", "--prune-data"],
    );
    assert!(script.contains("app.kubernetes.io/name notin (postgres)"), "{script}");
}

#[test]
fn add_on_a_running_project() {
    let script = assert_replay_equivalent(running, &["add", "postgres", "nats"]);
    assert!(script.contains("kilter.yaml"), "{script}");
}

#[test]
fn add_without_a_cluster() {
    assert_replay_equivalent(fresh, &["add", "redis"]);
}

#[test]
fn remove_on_a_running_project() {
    let script = assert_replay_equivalent(running_with_three_services, &["remove", "redis"]);
    assert!(script.contains("app.kubernetes.io/name in (redis)"), "{script}");
}

#[test]
fn ci_with_services_on_a_fresh_project() {
    let script = assert_replay_equivalent(fresh_with_services, &["ci"]);
    assert!(script.contains("apply --server-side '--field-manager=kilter' -f - < "), "{script}");
    assert!(script.contains(" tilt ci --port "), "{script}");
    assert!(script.contains("kind delete cluster"), "{script}");
}

/// Run a dry run's script with `sh`, as the replays above do; returns its output.
fn run_script(env: &Env, dir: &Path, script: &str) -> std::process::Output {
    let path = format!("{}:/usr/bin:/bin", env.bin().display());
    std::process::Command::new("/bin/sh")
        .arg("-c")
        .arg(script)
        .env_clear()
        .envs(env.vars())
        .env("PATH", path)
        .current_dir(dir)
        .stdin(std::process::Stdio::null())
        .output()
        .unwrap()
}

/// The new dry-run lines of `db snapshot` and `db restore` (a real PostgreSQL behind the fake
/// `kubectl exec`): the printed dump line, run by `sh`, is the checked stream (the pod's
/// `kilter-stream:` report matches the file it wrote), and the printed restore line, staged and
/// verified in the pod, restores exactly what the real `db restore` does.
#[test]
fn db_snapshot_and_restore_dry_run_lines_replay() {
    let Some(pg) = crate::support::pg::Pg::start_or_skip("db_dry_run_lines_replay") else { return };
    let env = Env::new();
    let dir = project(&env, "shop", Some("name: shop\ndatabase:\n  service: postgres\n"), false);
    env.kilter(&dir).arg("up").assert().success();
    pg.serve_postgres_workload(&env, "shop-dev", "shop");
    pg.psql("shop", "CREATE TABLE t (x int, v text); INSERT INTO t SELECT g, md5(g::text) FROM generate_series(1, 3000) g");
    let rows = || pg.psql("shop", "SELECT count(*), md5(string_agg(v, ',' ORDER BY x)) FROM t");
    let original = rows();
    env.kilter(&dir).args(["db", "snapshot", "base"]).assert().success();
    let snaps = env.data_dir("shop").join("snapshots");

    // The dump line: the file the script writes holds what the pod says it sent.
    let out = env.kilter(&dir).args(["--dry-run", "db", "snapshot", "plan"]).output().unwrap();
    assert!(out.status.success(), "{}", stderr_of(&out));
    let script = stdout_of(&out);
    assert!(
        script.contains(" kilter-dump zstd pg_dump -Fc -Z 0 -U postgres shop | cat > "),
        "{script}"
    );
    assert!(script.contains("# kilter keeps each dump only if its size and sha256"), "{script}");
    let ran = run_script(&env, &dir, &script);
    assert!(ran.status.success(), "{}", stderr_of(&ran));
    let report = stderr_of(&ran);
    let line =
        report.lines().find(|l| l.starts_with("kilter-stream: rc=0 tee=0 bytes=")).expect(&report);
    // The pod compressed it (it has zstd): the file is what it sent, a zstd frame of the archive.
    let raw = std::fs::read(snaps.join("plan.dump.zst")).unwrap();
    let archive = zstd::stream::decode_all(&raw[..]).unwrap();
    assert!(archive.starts_with(b"PGDMP"));
    assert!(line.contains(&format!(" bytes={} ", raw.len())), "{line}");
    use sha2::Digest as _;
    let hex: String = sha2::Sha256::digest(&raw).iter().map(|b| format!("{b:02x}")).collect();
    assert!(line.ends_with(&format!("sha256={hex}")), "{line} vs {hex}");

    // The restore line, against the real restore.
    pg.psql("shop", "DELETE FROM t WHERE x > 100");
    env.kilter(&dir).args(["db", "restore", "base"]).assert().success();
    assert_eq!(rows(), original, "the real restore");
    pg.psql("shop", "DELETE FROM t WHERE x > 100");
    let out = env.kilter(&dir).args(["--dry-run", "db", "restore", "base"]).output().unwrap();
    let script = stdout_of(&out);
    assert!(script.contains(" kilter-restore "), "{script}");
    assert_ne!(rows(), original, "the dry run itself restored nothing");
    let ran = run_script(&env, &dir, &script);
    assert!(ran.status.success(), "{}", stderr_of(&ran));
    assert!(stderr_of(&ran).contains("kilter-stream: restored"), "{}", stderr_of(&ran));
    assert_eq!(rows(), original, "the script restores what the real run does");
}
