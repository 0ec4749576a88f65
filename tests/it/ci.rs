//! `kilter ci` against the fakes: a passing run, `tilt ci` failing (artifacts present and
//! complete; the cluster deleted, or kept with `--keep-on-failure`), `--timeout` (exit 5),
//! `--restore`, no Tiltfile, and the GitHub Actions output (workflow commands and the step
//! summary, as golden text).

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use regex::Regex;

use crate::helpers::*;
use crate::support::{Env, read};

const NODE: &str = "kilter-shop-control-plane";

fn shop(env: &Env, tilt: bool) -> PathBuf {
    project(env, "shop", Some("name: shop\n"), tilt)
}

fn code(out: &std::process::Output) -> i32 {
    out.status.code().unwrap_or(-1)
}

/// The names in a directory, sorted.
fn entries(dir: &Path) -> Vec<String> {
    let mut v: Vec<String> = std::fs::read_dir(dir)
        .unwrap_or_else(|e| panic!("read_dir {}: {e}", dir.display()))
        .flatten()
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .collect();
    v.sort();
    v
}

/// The cluster and the project's runtime files are gone; snapshots dir and port slot untouched.
fn assert_destroyed(env: &Env) {
    assert!(env.container(NODE).is_none(), "the node container is deleted");
    let cache = env.cache_dir("shop");
    for f in ["kubeconfig", "tilt.json", "tilt.log", "kind-config.yaml"] {
        assert!(!cache.join(f).exists(), "{f} is removed");
    }
    let reg = read(env.state_home().join("kilter/ports.json"));
    assert!(reg.contains("\"shop\""), "the port slot is kept: {reg}");
}

#[test]
fn a_passing_run_creates_runs_tilt_ci_and_deletes_the_cluster() {
    let env = Env::new();
    let dir = shop(&env, true);
    let out = env.kilter(&dir).arg("ci").output().unwrap();
    let err = stderr_of(&out);
    assert_eq!(code(&out), 0, "{err}");
    assert_eq!(stdout_of(&out), "", "stdout is for requested output only");

    // One cluster created, one tilt ci with the project's port, file, context and namespace, and
    // Tilt's own --timeout a little under kilter's 30m.
    assert_eq!(env.calls_of("kind").iter().filter(|c| c.starts_with("kind create")).count(), 1);
    let tilt = env.calls_of("tilt");
    assert_eq!(tilt.len(), 1, "{tilt:?}");
    let (tilt_port, _) = ports_of("shop");
    let want = format!(
        "tilt ci --port {tilt_port} --host 127.0.0.1 --file {} --context kind-kilter-shop --namespace shop-dev --timeout ",
        dir.join("Tiltfile").display()
    );
    assert!(tilt[0].starts_with(&want), "{}\n{want}", tilt[0]);
    let secs: u64 = tilt[0].rsplit(' ').next().unwrap().trim_end_matches('s').parse().unwrap();
    assert!((1780..1800).contains(&secs), "tilt's timeout leaves a margin: {}", tilt[0]);
    let rec = env.call_records().into_iter().find(|r| r["tool"] == "tilt").unwrap();
    assert_eq!(rec["env"]["KUBECONFIG"], kubeconfig(&env, "shop").display().to_string());
    assert_eq!(rec["env"]["KILTER_NAMESPACE"], "shop-dev");

    // Tilt's output reached the job log (stderr) live.
    assert!(err.contains("SUCCESS. All workloads are healthy."), "{err}");
    // Then the cluster was deleted, and the phases were timed.
    assert!(env.calls().contains(&format!(
        "kind delete cluster --name kilter-shop --kubeconfig {}",
        kubeconfig(&env, "shop").display()
    )));
    assert_destroyed(&env);
    for phase in ["cluster", "tilt ci", "destroy", "total"] {
        assert!(
            Regex::new(&format!(r"(?m)^  {phase} +\d+(\.\d)?(ms|s)")).unwrap().is_match(&err),
            "phase {phase} with its time:\n{err}"
        );
    }
    assert!(err.contains("kilter ci passed"), "{err}");
    assert!(!env.cache_dir("shop").join("artifacts").exists(), "no artifacts without a failure");
    assert!(env.unexpected_calls().is_empty(), "{:?}", env.unexpected_calls());
    assert!(!env.kube_config_home().exists(), "~/.kube/config is never written");
}

#[test]
fn without_a_tiltfile_the_healthy_cluster_is_the_test() {
    let env = Env::new();
    let dir = shop(&env, false);
    let out = env.kilter(&dir).arg("ci").output().unwrap();
    let err = stderr_of(&out);
    assert_eq!(code(&out), 0, "{err}");
    assert!(env.calls_of("tilt").is_empty(), "no tilt call: {:?}", env.calls_of("tilt"));
    assert!(err.contains("tilt ci: skipped (no Tiltfile at"), "{err}");
    assert!(env.calls().iter().any(|c| c.contains("get --raw /readyz")), "health was checked");
    assert_destroyed(&env);
}

/// A running project with a crash-looping workload, so that events and pod descriptions have
/// something to say.
fn running_with_a_crashing_api(env: &Env) -> PathBuf {
    let dir = shop(env, true);
    let out = env.kilter(&dir).args(["up", "--no-tilt"]).output().unwrap();
    assert!(out.status.success(), "{}", stderr_of(&out));
    env.ctl(&[
        "workload",
        "shop-dev",
        "api",
        "--crash",
        "--restarts",
        "4",
        "--log",
        "boom: no DATABASE_URL",
    ]);
    env.set_knob("tilt_ci_fail", "1");
    dir
}

/// A dev cluster `kilter ci` reused is still there, running, with its kubeconfig, and `ci` said
/// why it kept it.
fn assert_kept_reused(env: &Env, err: &str) {
    assert_eq!(container_status(env, NODE).as_deref(), Some("running"), "{err}");
    assert!(kubeconfig(env, "shop").exists());
    assert!(!env.calls().iter().any(|c| c.starts_with("kind delete")), "{:?}", env.calls());
    assert!(
        err.contains(
            "destroy: skipped (this run did not create kilter-shop, created by `kilter up` at "
        ),
        "{err}"
    );
    assert!(err.contains("it is kept; `kilter ci --fresh`"), "{err}");
}

#[test]
fn a_failing_tilt_ci_collects_complete_artifacts_and_keeps_the_dev_cluster_it_reused() {
    let env = Env::new();
    let dir = running_with_a_crashing_api(&env);
    let art = env.root().join("artifacts");
    let out = env.kilter(&dir).args(["ci", "--artifacts"]).arg(&art).output().unwrap();
    let err = stderr_of(&out);
    assert_eq!(code(&out), 1, "Tilt's exit code:\n{err}");
    assert!(err.contains("Cluster kilter-shop is running; reusing it"), "{err}");
    assert!(err.contains("error: failed to run tilt ci (exit status 1)"), "{err}");
    assert!(err.contains("Error: Timeout after"), "Tilt's verdict is shown: {err}");

    assert_eq!(
        entries(&art),
        ["commands.log", "events.txt", "kind", "pods.txt", "status.json", "tilt.log"],
        "{err}"
    );
    // kind export logs: the whole tree, with the crash-looping pod's log.
    let kind = art.join("kind");
    assert_eq!(read(kind.join("kind-version.txt")), "kind v0.32.0 go1.26.3 linux/amd64");
    assert!(read(kind.join("docker-info.txt")).contains("Server Version: 28.2.2"));
    let node = kind.join(NODE);
    for f in [
        "alternatives.log",
        "containerd.log",
        "images.log",
        "inspect.json",
        "journal.log",
        "kubelet.log",
        "kubernetes-version.txt",
        "serial.log",
    ] {
        assert!(node.join(f).is_file(), "{f} in {:?}", entries(&node));
    }
    let inspect: serde_json::Value =
        serde_json::from_str(&read(node.join("inspect.json"))).unwrap();
    assert_eq!(inspect[0]["Name"], format!("/{NODE}"));
    let pods = entries(&node.join("pods"));
    assert_eq!(pods.len(), 1, "{pods:?}");
    assert!(pods[0].starts_with("shop-dev_api-"), "{pods:?}");
    let log = read(node.join("pods").join(&pods[0]).join("api").join("0.log"));
    assert!(log.contains(" stdout F boom: no DATABASE_URL"), "CRI log format: {log}");
    assert_eq!(entries(&node.join("containers")).len(), 1);

    // Tilt's log, the transcript (with the artifact commands themselves), status, events, pods.
    assert!(read(art.join("tilt.log")).contains("Error: Timeout after"));
    let transcript = read(art.join("commands.log"));
    for c in
        ["kind create cluster", "tilt ci --port", "kind export logs", "describe pods -n shop-dev"]
    {
        assert!(transcript.contains(c), "{c} in commands.log:\n{transcript}");
    }
    let status: serde_json::Value = serde_json::from_str(&read(art.join("status.json"))).unwrap();
    assert_eq!(status["schema_version"], 1);
    assert_eq!(status["node"], "running", "taken before the cluster was deleted");
    assert_eq!(status["pods"][0]["status"], "CrashLoopBackOff");
    let events = read(art.join("events.txt"));
    assert!(events.starts_with("LAST SEEN   TYPE      REASON"), "{events}");
    assert!(
        Regex::new(r"(?m)^\S+ +Warning +BackOff +pod/api-\S+ +Back-off restarting failed container api in pod api-")
            .unwrap()
            .is_match(&events),
        "{events}"
    );
    let described = read(art.join("pods.txt"));
    assert!(described.starts_with("Name:             api-"), "{described}");
    assert!(described.contains("\nNamespace:        shop-dev\n"), "{described}");
    assert!(
        described.contains("    State:          Waiting\n      Reason:       CrashLoopBackOff\n"),
        "{described}"
    );
    assert!(described.contains("    Restart Count:  4\n"), "{described}");

    // The evidence is kept, and so is the dev cluster `kilter up` made: this run did not create it.
    assert_kept_reused(&env, &err);
    assert!(env.unexpected_calls().is_empty(), "{:?}", env.unexpected_calls());
}

#[test]
fn keep_on_failure_keeps_the_failed_cluster_running() {
    let env = Env::new();
    let dir = running_with_a_crashing_api(&env);
    let out = env.kilter(&dir).args(["ci", "--keep-on-failure"]).output().unwrap();
    let err = stderr_of(&out);
    assert_eq!(code(&out), 1, "{err}");
    assert_eq!(container_status(&env, NODE).as_deref(), Some("running"));
    assert!(kubeconfig(&env, "shop").exists());
    assert!(!env.calls().iter().any(|c| c.starts_with("kind delete")), "{:?}", env.calls());
    assert!(err.contains("destroy: skipped (--keep-on-failure"), "{err}");
    // Default artifacts dir: the project's cache dir.
    let art = env.cache_dir("shop").join("artifacts");
    assert!(art.join("kind").join(NODE).join("inspect.json").is_file(), "{err}");
    assert!(art.join("tilt.log").is_file());

    // A passing run with --keep-on-failure deletes a cluster it created itself.
    env.set_knob("tilt_ci_fail", "0");
    let out = env.kilter(&dir).args(["destroy", "--yes"]).output().unwrap();
    assert_eq!(code(&out), 0, "{}", stderr_of(&out));
    let out = env.kilter(&dir).args(["ci", "--keep-on-failure"]).output().unwrap();
    assert_eq!(code(&out), 0, "{}", stderr_of(&out));
    assert_destroyed(&env);
}

/// The identity keeps when this directory claimed the name: a cluster deleted outside kilter and
/// made again by the next `up` is recorded as made by that `up`, now, while the claim keeps its
/// first time.
#[test]
fn a_cluster_made_again_keeps_the_time_the_directory_claimed_the_name() {
    let env = Env::new();
    let dir = shop(&env, true);
    env.kilter(&dir).args(["up", "--no-tilt"]).assert().success();
    let path = env.cache_dir("shop").join("project.json");
    let mut id: serde_json::Value = serde_json::from_str(&read(&path)).unwrap();
    id["created_at"] = "2020-01-02T03:04:05Z".into();
    id["cluster"]["created_at"] = "2020-01-02T03:04:05Z".into();
    std::fs::write(&path, id.to_string()).unwrap();
    let kind = env
        .tool("kind")
        .args(["delete", "cluster", "--name", "kilter-shop", "--kubeconfig"])
        .arg(crate::helpers::kubeconfig(&env, "shop"))
        .output()
        .expect("kind");
    assert!(kind.status.success(), "{}", stderr_of(&kind));
    let out = env.kilter(&dir).args(["up", "--no-tilt"]).output().unwrap();
    assert!(out.status.success(), "{}", stderr_of(&out));
    let id: serde_json::Value = serde_json::from_str(&read(&path)).unwrap();
    assert_eq!(id["created_at"], "2020-01-02T03:04:05Z", "the claim keeps its time: {id}");
    assert_eq!(id["cluster"]["created_by"], "up", "{id}");
    assert_ne!(id["cluster"]["created_at"], "2020-01-02T03:04:05Z", "made now: {id}");
}

/// `kilter up` made the cluster; `kilter ci` in the same directory runs on it
/// and keeps it (and says so). A cluster an earlier `ci --keep` made is not this run's either.
#[test]
fn ci_keeps_a_cluster_it_did_not_create_in_this_run() {
    let env = Env::new();
    let dir = shop(&env, true);
    let out = env.kilter(&dir).args(["up", "--no-tilt"]).output().unwrap();
    assert!(out.status.success(), "{}", stderr_of(&out));
    let id: serde_json::Value =
        serde_json::from_str(&read(env.cache_dir("shop").join("project.json"))).unwrap();
    assert_eq!(id["cluster"]["created_by"], "up", "{id}");
    let out = env.kilter(&dir).arg("ci").output().unwrap();
    let err = stderr_of(&out);
    assert_eq!(code(&out), 0, "{err}");
    assert_kept_reused(&env, &err);
    assert_eq!(env.calls_of("tilt").iter().filter(|c| c.starts_with("tilt ci")).count(), 1);

    // `ci --keep` creates one; the next `ci` reuses it and keeps it too.
    env.kilter(&dir).args(["destroy", "--yes"]).assert().success();
    env.kilter(&dir).args(["ci", "--keep"]).assert().success();
    let out = env.kilter(&dir).arg("ci").output().unwrap();
    let err = stderr_of(&out);
    assert_eq!(code(&out), 0, "{err}");
    assert!(err.contains("created by `kilter ci` at "), "{err}");
    assert_eq!(container_status(&env, NODE).as_deref(), Some("running"));
}

#[test]
fn fresh_refuses_an_existing_cluster_and_otherwise_makes_and_deletes_its_own() {
    let env = Env::new();
    let dir = shop(&env, true);
    env.kilter(&dir).args(["up", "--no-tilt"]).assert().success();
    env.kilter(&dir).arg("stop").assert().success();
    let before = read(env.cache_dir("shop").join("project.json"));
    let mark = env.calls().len();
    let out = env.kilter(&dir).args(["ci", "--fresh"]).output().unwrap();
    let err = stderr_of(&out);
    assert_eq!(code(&out), 4, "{err}");
    assert!(
        err.contains("--fresh wants a throwaway cluster of its own, but cluster kilter-shop exists (exited, created by `kilter up` at "),
        "{err}"
    );
    assert!(err.contains("`kilter destroy` deletes it first"), "{err}");
    let calls = calls_since(&env, mark);
    assert!(
        !calls.iter().any(|c| c.starts_with("docker start")
            || c.starts_with("kind ")
            || c.starts_with("tilt ")),
        "nothing started, created or deleted: {calls:#?}"
    );
    assert_eq!(container_status(&env, NODE).as_deref(), Some("exited"));
    assert_eq!(read(env.cache_dir("shop").join("project.json")), before);

    env.kilter(&dir).args(["destroy", "--yes"]).assert().success();
    let out = env.kilter(&dir).args(["ci", "--fresh"]).output().unwrap();
    assert_eq!(code(&out), 0, "{}", stderr_of(&out));
    assert_destroyed(&env);
}

#[test]
fn fresh_refusal_dry_run_prints_nothing_to_run() {
    let env = Env::new();
    let dir = shop(&env, true);
    env.kilter(&dir).args(["up", "--no-tilt"]).assert().success();
    let out = env.kilter(&dir).args(["--dry-run", "ci", "--fresh"]).output().unwrap();
    assert_eq!(code(&out), 4, "{}", stderr_of(&out));
    let script = stdout_of(&out);
    assert!(!script.contains("kind ") && !script.contains("tilt ci"), "{script}");
}

#[test]
fn keep_keeps_a_passing_cluster() {
    let env = Env::new();
    let dir = shop(&env, true);
    let out = env.kilter(&dir).args(["ci", "--keep"]).output().unwrap();
    assert_eq!(code(&out), 0, "{}", stderr_of(&out));
    assert_eq!(container_status(&env, NODE).as_deref(), Some("running"));
    assert!(stderr_of(&out).contains("destroy: skipped (--keep"), "{}", stderr_of(&out));
}

#[test]
fn timeout_exits_5_with_the_evidence_and_no_cluster_left() {
    let env = Env::new();
    let dir = shop(&env, true);
    env.set_knob("tilt_ci_ms", "60000");
    let art = env.root().join("art");
    let started = Instant::now();
    let out =
        env.kilter(&dir).args(["ci", "--timeout", "4s", "--artifacts"]).arg(&art).output().unwrap();
    let took = started.elapsed();
    let err = stderr_of(&out);
    assert_eq!(code(&out), 5, "{err}");
    assert!(took < Duration::from_secs(20), "bounded: {took:?}");
    assert!(err.contains("timed out"), "{err}");
    let tilt = &env.calls_of("tilt")[0];
    let t = tilt.rsplit(' ').next().unwrap();
    assert!(t.ends_with("ms"), "tilt ci gets what is left of the 4s, minus a margin: {tilt}");
    assert!(read(art.join("tilt.log")).contains("Error: Timeout after"), "Tilt's verdict is kept");
    assert!(art.join("kind").join(NODE).is_dir());
    assert_destroyed(&env);
}

#[test]
fn a_tilt_that_outlives_the_deadline_is_stopped_with_its_process_group() {
    let env = Env::new();
    let dir = shop(&env, true);
    // Tilt says nothing for a minute: kilter's deadline comes first and stops it.
    env.set_knob("tilt_start_ms", "60000");
    let started = Instant::now();
    let out =
        env.kilter(&dir).args(["ci", "--timeout", "3s", "--artifacts", "art"]).output().unwrap();
    let err = stderr_of(&out);
    assert_eq!(code(&out), 5, "{err}");
    assert!(started.elapsed() < Duration::from_secs(20), "{:?}", started.elapsed());
    assert!(err.contains("timed out after 3.0s (--timeout 3s)"), "{err}");
    let tilt = env.call_records().into_iter().find(|r| r["tool"] == "tilt").expect("tilt ran");
    let pid = tilt["pid"].as_i64().unwrap() as i32;
    assert!(wait_dead(pid), "the stopped tilt is gone (pid {pid})");
    let log = commands_log(&env, "shop");
    assert!(log.lines().any(|l| l.contains("\ttimeout\t") && l.contains("tilt ci")), "{log}");
    // A relative --artifacts is relative to where kilter ran, and named in full.
    assert!(dir.join("art").join("kind").join(NODE).is_dir(), "{err}");
    let full = dir.join("art");
    assert!(
        err.contains(&format!(" in {})", full.display())),
        "the phase table names {full:?}: {err}"
    );
    assert_destroyed(&env);
}

#[test]
fn a_bad_timeout_is_invalid_input() {
    let env = Env::new();
    let dir = shop(&env, true);
    let out = env.kilter(&dir).args(["ci", "--timeout", "soon"]).output().unwrap();
    assert_eq!(code(&out), 4, "{}", stderr_of(&out));
    assert!(env.calls().is_empty(), "nothing ran: {:?}", env.calls());
    let out = env.kilter(&dir).args(["ci", "--keep", "--keep-on-failure"]).output().unwrap();
    assert_eq!(code(&out), 2, "conflicting flags are a usage error");
}

#[test]
fn restore_of_a_missing_snapshot_is_refused_before_anything_is_created() {
    let env = Env::new();
    let dir = shop(&env, true);
    let out = env.kilter(&dir).args(["ci", "--restore", "nope"]).output().unwrap();
    let err = stderr_of(&out);
    assert_eq!(code(&out), 4, "{err}");
    assert!(err.contains("no snapshot named `nope`"), "{err}");
    assert!(env.calls().is_empty(), "nothing ran: {:?}", env.calls());
    let out = env.kilter(&dir).args(["ci", "--restore", "../etc/passwd"]).output().unwrap();
    let err = stderr_of(&out);
    assert_eq!(code(&out), 4, "{err}");
    // the rule `kilter db restore` applies, in its words
    assert!(err.contains("invalid snapshot name \"../etc/passwd\""), "{err}");
    assert!(err.contains("a snapshot name is 1–64 characters"), "{err}");
    assert!(env.calls().is_empty(), "nothing ran: {:?}", env.calls());
}

#[test]
fn a_failed_restore_fails_the_run_with_its_exit_code() {
    let env = Env::new();
    let dir = shop(&env, true);
    // Metadata that `kilter db restore` refuses (no data file, nothing to verify).
    let snaps = env.data_dir("shop").join("snapshots");
    std::fs::create_dir_all(&snaps).unwrap();
    std::fs::write(snaps.join("broken.json"), "{\"not\": \"a snapshot\"}\n").unwrap();
    let direct = env.kilter(&dir).args(["db", "restore", "broken"]).output().unwrap();
    let want = code(&direct);
    assert_ne!(want, 0, "{}", stderr_of(&direct));

    let out = env.kilter(&dir).args(["ci", "--restore", "broken"]).output().unwrap();
    let err = stderr_of(&out);
    assert_eq!(code(&out), want, "`kilter db restore`'s own exit code:\n{err}");
    assert!(err.contains("could not restore snapshot broken"), "{err}");
    assert!(err.contains("db restore broken"), "the failing `$` line: {err}");
    assert!(env.calls_of("tilt").is_empty(), "tilt ci never ran");
    assert!(env.cache_dir("shop").join("artifacts").join("restore.log").is_file(), "{err}");
    assert_destroyed(&env);
    // kilter names itself by its path, which is not on PATH here; once the `kilter` on PATH is
    // this very binary, as plain `kilter`.
    let bin = env!("CARGO_BIN_EXE_kilter");
    assert!(err.contains(&format!("$ {bin} -C ")), "{err}");
    std::os::unix::fs::symlink(bin, env.bin().join("kilter")).expect("symlink");
    let out = env.kilter(&dir).args(["ci", "--restore", "broken"]).output().unwrap();
    let err = stderr_of(&out);
    assert!(err.contains("$ kilter -C ") && !err.contains(bin), "{err}");
}

#[test]
fn a_cluster_that_never_gets_healthy_times_out_and_is_still_cleaned_up() {
    let env = Env::new();
    let dir = shop(&env, true);
    env.set_knob("node_ready_delay_ms", "600000");
    let started = Instant::now();
    let out = env
        .kilter(&dir)
        .args(["ci", "--timeout", "3s"])
        .env("GITHUB_ACTIONS", "true")
        .output()
        .unwrap();
    let err = stderr_of(&out);
    assert_eq!(code(&out), 5, "{err}");
    assert!(started.elapsed() < Duration::from_secs(20), "{:?}", started.elapsed());
    // The annotation names the phase and gives kilter's error; the table says "timed out".
    let annotation = err.lines().find(|l| l.starts_with("::error ")).unwrap_or_default();
    assert!(
        annotation.starts_with("::error title=kilter ci%3A cluster failed::timed out after 3.0s"),
        "{err}"
    );
    assert!(
        err.lines().any(|l| l.starts_with("  cluster ") && l.ends_with("failed: timed out")),
        "{err}"
    );
    assert!(env.calls_of("tilt").is_empty());
    let art = env.cache_dir("shop").join("artifacts");
    assert!(art.join("kind").join(NODE).join("inspect.json").is_file(), "{err}");
    assert_destroyed(&env);
}

#[test]
fn docker_down_touches_nothing_it_did_not_make() {
    let env = Env::new();
    let dir = shop(&env, true);
    env.ctl(&["daemon", "down"]);
    let out = env.kilter(&dir).arg("ci").output().unwrap();
    let err = stderr_of(&out);
    assert_eq!(code(&out), 3, "environment not ready:\n{err}");
    assert!(!env.calls().iter().any(|c| c.starts_with("kind delete")), "{:?}", env.calls());
    assert!(err.contains("destroy: skipped"), "{err}");
}

#[test]
fn restore_brings_a_snapshot_back_before_tilt_ci() {
    let Some(pg) = crate::support::pg::Pg::start_or_skip("ci_restore") else { return };
    let env = Env::new();
    let dir = project(&env, "shop", Some("name: shop\ndatabase:\n  service: postgres\n"), true);
    let out = env.kilter(&dir).args(["up", "--no-tilt"]).output().unwrap();
    assert!(out.status.success(), "{}", stderr_of(&out));
    pg.serve_postgres_workload(&env, "shop-dev", "shop");
    pg.psql("shop", "CREATE TABLE t (x int); INSERT INTO t VALUES (1), (2), (3);");
    let out = env.kilter(&dir).args(["db", "snapshot", "seed"]).output().unwrap();
    assert!(out.status.success(), "{}", stderr_of(&out));
    pg.psql("shop", "DELETE FROM t;");

    let out = env.kilter(&dir).args(["ci", "--restore", "seed"]).output().unwrap();
    let err = stderr_of(&out);
    assert_eq!(code(&out), 0, "{err}");
    assert_eq!(pg.psql("shop", "SELECT count(*) FROM t").trim(), "3", "restored");
    let calls = env.calls();
    let restore = calls.iter().position(|c| c.contains("pg_restore")).expect("pg_restore ran");
    let tilt = calls.iter().position(|c| c.starts_with("tilt ci")).expect("tilt ci ran");
    assert!(restore < tilt, "restored before tilt ci: {calls:#?}");
    assert!(err.contains("Restored `seed`"), "the restore's output is shown: {err}");
    // The dev cluster `kilter up` made, with its database, is kept: this run did not create it.
    assert_kept_reused(&env, &err);
    assert_eq!(pg.psql("shop", "SELECT count(*) FROM t").trim(), "3", "the data is still there");
    let out = env.kilter(&dir).args(["db", "snapshot", "after-ci"]).output().unwrap();
    assert!(out.status.success(), "the database still answers: {}", stderr_of(&out));
}

/// Durations and the temp dir vary from run to run.
fn normalise(env: &Env, s: &str) -> String {
    let s = s.replace(&env.root().display().to_string(), "<root>");
    let s = Regex::new(r"\b\d+(\.\d+)?(ms|s)\b|\b\d+m\d\ds\b").unwrap().replace_all(&s, "<t>");
    let (tilt_port, _) = ports_of("shop");
    s.replace(&tilt_port.to_string(), "<port>")
}

#[test]
fn github_actions_groups_annotation_and_step_summary() {
    let env = Env::new();
    let dir = running_with_a_crashing_api(&env);
    // A build error whose text holds every character the workflow-command escaping is about.
    env.set_knob(
        "tilt_ci_error",
        "step 1/2: 50%\rstep 2/2: 100%\nbuild::step failed\n::warning::not a command",
    );
    let summary = env.root().join("summary.md");
    std::fs::write(&summary, "earlier step\n").unwrap();
    let art = env.root().join("art");
    let out = env
        .kilter(&dir)
        .args(["ci", "--artifacts"])
        .arg(&art)
        .env("GITHUB_ACTIONS", "true")
        .env("GITHUB_STEP_SUMMARY", &summary)
        .output()
        .unwrap();
    let err = stderr_of(&out);
    assert_eq!(code(&out), 1, "{err}");

    // Each phase is one group; groups never nest.
    let commands: Vec<&str> = err.lines().filter(|l| l.starts_with("::")).collect();
    let kc = kubeconfig(&env, "shop").display().to_string();
    let line = format!(
        "cd {} && KUBECONFIG={kc} KILTER_PROJECT=shop KILTER_NAMESPACE=shop-dev KILTER_TILT_PORT=<port> KILTER_PORT_BASE=<base> tilt ci --port <port> --host 127.0.0.1 --file {}/Tiltfile --context kind-kilter-shop --namespace shop-dev --timeout <t>",
        dir.display(),
        dir.display()
    );
    let (_, base) = ports_of("shop");
    let token = Regex::new(r"kilter-[0-9a-f]{16}").unwrap();
    let got: Vec<String> = commands
        .iter()
        .map(|c| {
            let c = c.replace(&format!("KILTER_PORT_BASE={base}"), "KILTER_PORT_BASE=<base>");
            token.replace_all(&normalise(&env, &c), "<token>").into_owned()
        })
        .collect();
    // The annotation: the failed command, its `$` line and the tail of Tilt's output, on one line.
    let tilt_out = [
        "Tilt started on http://127.0.0.1:<port>/".to_owned(),
        "v0.37.6, built 2026-08-08".to_owned(),
    ]
    .into_iter()
    .chain(env.tilt_docker_prune_lines())
    .chain([
        String::new(),
        "Initial Build".to_owned(),
        format!("Loading Tiltfile at: {}/Tiltfile", dir.display()),
        "Successfully loaded Tiltfile (<t>)".to_owned(),
    ])
    .collect::<Vec<_>>()
    .join("%0A");
    let want_error = normalise(
        &env,
        &format!(
            "::error title=kilter ci%3A tilt ci failed (exit 1)::failed to run tilt ci (exit status 1)%0A$ {line}%0A{tilt_out}%0A{}",
            "Error: step 1/2: 50%25%0Dstep 2/2: 100%25%0Abuild::step failed%0A::warning::not a command"
        ),
    );
    assert_eq!(
        got,
        [
            "::group::Cluster kilter-shop".to_owned(),
            "::endgroup::".to_owned(),
            "::group::tilt ci".to_owned(),
            // Tilt's output is fenced: its `::warning::` line is not obeyed.
            "::stop-commands::<token>".to_owned(),
            "::warning::not a command".to_owned(),
            "::<token>::".to_owned(),
            "::endgroup::".to_owned(),
            want_error,
            "::group::Collecting artifacts".to_owned(),
            "::endgroup::".to_owned(),
            // The dev cluster it reused is kept: no deletion group.
        ],
        "{err}"
    );

    // The step summary is appended (the earlier step's text stays), golden after normalising.
    let md = normalise(&env, &read(&summary));
    let md = Regex::new(r"at \d{4}-\d\d-\d\dT[0-9:.]+Z").unwrap().replace_all(&md, "at <time>");
    let (pod, age) = {
        let re =
            Regex::new(r"\| (api-[a-z0-9]+-[a-z0-9]+) \| 0/1 \| CrashLoopBackOff \| 4 \| (\S+) \|")
                .unwrap();
        let c = re.captures(&md).unwrap_or_else(|| panic!("pods table:\n{md}"));
        (c[1].to_owned(), c[2].to_owned())
    };
    let want = format!(
        "earlier step
### kilter ci: shop — ❌ failed

| phase | result | time |
|---|---|---|
| cluster | ✅ ok | <t> |
| tilt ci | ❌ exit 1 | <t> |
| artifacts | ✅ 6 in <root>/art | <t> |
| destroy | ➖ skipped: this run did not create kilter-shop, created by `kilter up` at <time>: it is kept; `kilter ci --fresh` insists on a throwaway cluster of its own | – |
| **total** | | **<t>** |

**Pods in `shop-dev`**

| pod | ready | status | restarts | age |
|---|---|---|---|---|
| {pod} | 0/1 | CrashLoopBackOff | 4 | {age} |

**Artifacts** in `<root>/art`: `kind/`, `events.txt`, `pods.txt`, `status.json`, `tilt.log`, `commands.log`

<details><summary>What failed</summary>

```text
failed to run tilt ci (exit status 1)
$ {line}
{}
Error: step 1/2: 50%
step 2/2: 100%
build::step failed
::warning::not a command
```

</details>

",
        tilt_out.replace("%0A", "\n")
    );
    let want = want.replace(&format!("KILTER_PORT_BASE={base}"), "KILTER_PORT_BASE=<base>");
    let md = md.replace(&format!("KILTER_PORT_BASE={base}"), "KILTER_PORT_BASE=<base>");
    assert_eq!(md, normalise(&env, &want));
}

#[test]
fn outside_github_actions_there_are_no_workflow_commands() {
    let env = Env::new();
    let dir = shop(&env, false);
    let summary = env.root().join("summary.md");
    let out = env
        .kilter(&dir)
        .arg("ci")
        .env("GITHUB_STEP_SUMMARY", &summary)
        .env("GITHUB_ACTIONS", "false")
        .output()
        .unwrap();
    assert_eq!(code(&out), 0, "{}", stderr_of(&out));
    assert!(!stderr_of(&out).lines().any(|l| l.starts_with("::")), "{}", stderr_of(&out));
    assert!(!summary.exists(), "no step summary outside GitHub Actions");
}

#[test]
fn services_are_ready_before_tilt_ci_and_tilt_gets_their_variables() {
    let env = Env::new();
    let dir = project(&env, "shop", Some("name: shop\nservices: [postgres, redis]\n"), true);
    // tilt ci runs long enough for its record (with its environment) to be read.
    env.set_knob("tilt_ci_ms", "3000");
    let child =
        env.kilter_std(&dir).arg("ci").stderr(std::process::Stdio::piped()).spawn().expect("spawn");
    assert!(
        crate::support::wait_until(Duration::from_secs(30), || !env.tilt_records().is_empty()),
        "tilt ci started"
    );
    let rec = env.tilt_records().pop().unwrap();
    assert_eq!(rec["mode"], "ci");
    assert_eq!(
        rec["env"]["DATABASE_URL"],
        "postgres://postgres:postgres@postgres.shop-dev.svc:5432/shop"
    );
    assert_eq!(rec["env"]["REDIS_URL"], "redis://redis.shop-dev.svc:6379/0");
    let out = child.wait_with_output().unwrap();
    let err = stderr_of(&out);
    assert_eq!(code(&out), 0, "{err}");
    let calls = env.calls();
    let apply = calls.iter().position(|c| c.contains(" apply --server-side")).expect("applied");
    let tilt = calls.iter().position(|c| c.starts_with("tilt ci")).expect("tilt ci");
    assert!(apply < tilt, "services before tilt ci: {calls:#?}");
    assert!(
        Regex::new(r"(?m)^  services +\d+(\.\d)?(ms|s) +ok$").unwrap().is_match(&err),
        "a phase of its own:\n{err}"
    );
    assert!(!env.cache_dir("shop").join("services.yaml").exists(), "removed with the cluster");
    assert_destroyed(&env);
}

/// A detached `tilt up` of the project holds the port `tilt ci` needs: the dry run plans around
/// it (stopping nothing, and not calling the port busy), and the run stops it first and says so.
#[test]
fn ci_dry_run_plans_around_the_dev_tilt_and_ci_stops_it_first() {
    let env = Env::new();
    let dir = shop(&env, true);
    env.kilter(&dir).arg("up").assert().success();
    let dev = tilt_pid(&env, "shop").expect("tilt.json");
    let plan = env.kilter(&dir).args(["--dry-run", "ci"]).output().unwrap();
    assert_eq!(code(&plan), 0, "{}", stderr_of(&plan));
    assert!(crate::support::pid_alive(dev), "a dry run stops nothing");
    let out = env.kilter(&dir).arg("ci").output().unwrap();
    assert_eq!(code(&out), 0, "{}", stderr_of(&out));
    let said =
        format!("Stopped this project's detached Tilt (pid {dev}): `tilt ci` needs its port");
    assert!(stderr_of(&out).contains(&said), "{}", stderr_of(&out));
    assert!(
        crate::support::wait_until(Duration::from_secs(5), || !crate::support::pid_alive(dev)),
        "the dev Tilt is stopped"
    );
}
