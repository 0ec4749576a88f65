//! Many projects on one machine: `ls` with CPU and memory, `stop --all`, `gc`, and `doctor`'s
//! memory check.

use std::path::{Path, PathBuf};
use std::process::Output;
use std::time::Duration;

use serde_json::Value;

use crate::helpers::*;
use crate::replay::{assert_replay_equivalent_in, state};
use crate::support::{Env, read, wait_until};

const MIB: u64 = 1024 * 1024;
const GIB: u64 = 1024 * MIB;

fn json(out: &std::process::Output) -> Value {
    serde_json::from_slice(&out.stdout)
        .unwrap_or_else(|e| panic!("not JSON ({e}): {}\n{}", stdout_of(out), stderr_of(out)))
}

fn up(env: &Env, name: &str) -> PathBuf {
    let dir = project(env, name, Some(&format!("name: {name}\n")), true);
    let out = env.kilter(&dir).arg("up").output().expect("runs");
    assert!(out.status.success(), "up {name}: {}", stderr_of(&out));
    dir
}

fn node(name: &str) -> String {
    format!("kilter-{name}-control-plane")
}

fn registry(env: &Env) -> Value {
    serde_json::from_str(&read(env.state_home().join("kilter/ports.json"))).expect("ports.json")
}

fn row<'a>(ls: &'a Value, project: &str) -> &'a Value {
    ls["projects"]
        .as_array()
        .and_then(|rows| rows.iter().find(|r| r["project"] == project))
        .unwrap_or_else(|| panic!("{project} not in {ls}"))
}

fn flagged(dir: &Path) -> bool {
    std::fs::read_to_string(dir.join("kilter.yaml")).is_ok_and(|t| t.contains("stopped: true"))
}

// ---------------------------------------------------------------------------------------------
// ls

/// `ls` reads CPU and memory of the running clusters from one `docker stats` that names only
/// them, adds them up, and makes no stats call when nothing runs.
#[test]
fn ls_shows_each_running_clusters_cpu_and_memory_and_the_totals() {
    let env = Env::new();
    let shop = up(&env, "shop");
    up(&env, "api");
    let blog = up(&env, "blog");
    env.kilter(&blog).arg("stop").assert().success();
    env.ctl(&["stats", &node("shop"), "--cpu", "12.5", "--mem", &(700 * MIB).to_string()]);

    let mark = env.calls().len();
    let out = env.kilter(&shop).args(["ls", "--json"]).output().expect("runs");
    assert!(out.status.success(), "{}", stderr_of(&out));
    assert_eq!(
        calls_since(&env, mark),
        vec![
            "docker ps -a --filter 'name=kilter-' --format '{{json .}}'".to_owned(),
            format!(
                "docker stats --no-stream --format '{{{{json .}}}}' {} {}",
                node("api"),
                node("shop")
            ),
        ],
        "two docker calls, the stopped node not sampled"
    );
    let v = json(&out);
    assert_eq!(v["schema_version"], 1);
    let s = row(&v, "shop");
    assert_eq!(s["cpu_percent"], 12.5);
    assert_eq!(s["memory_bytes"], 700 * MIB);
    assert_eq!(s["memory_limit_bytes"], 8 * GIB, "the fake's mem_total");
    assert_eq!(s["memory_percent"], 8.54);
    let a = row(&v, "api");
    assert_eq!(
        (a["cpu_percent"].as_f64(), a["memory_bytes"].as_u64()),
        (Some(2.5), Some(650 * MIB))
    );
    let b = row(&v, "blog");
    assert!(b["cpu_percent"].is_null() && b["memory_bytes"].is_null(), "{b}");
    assert_eq!(v["totals"]["running"], 2);
    assert_eq!(v["totals"]["cpu_percent"], 15.0);
    assert_eq!(v["totals"]["memory_bytes"], 1350 * MIB);
    assert_eq!(v["totals"]["memory_limit_bytes"], 8 * GIB);
    assert!(v["usage_error"].is_null());

    let out = env.kilter(&shop).arg("ls").output().expect("runs");
    let text = stdout_of(&out);
    // (the last line is the shared local registry's, when there is one)
    let lines: Vec<&str> = text.lines().filter(|l| !l.starts_with("registry: ")).collect();
    assert_eq!(lines.len(), 5, "header, three projects, totals:\n{text}");
    assert!(
        lines[0].starts_with("PROJECT") && lines[0].contains("CPU") && lines[0].contains("MEMORY")
    );
    assert!(
        lines[3].starts_with("shop")
            && lines[3].contains("12.50%")
            && lines[3].contains("700.0 MiB"),
        "{text}"
    );
    assert!(lines[1].starts_with("api") && lines[1].contains("650.0 MiB"), "{text}");
    assert!(lines[2].starts_with("blog") && lines[2].contains(" - "), "{text}");
    assert!(
        lines[4].starts_with("total (2 running)")
            && lines[4].contains("15.00%")
            && lines[4].contains("1.3 GiB")
            && lines[4].ends_with("of 8.0 GiB that Docker has"),
        "{text}"
    );

    // Nothing running: the one `docker ps`, no stats.
    for d in ["shop", "api"] {
        env.kilter(&env.project(d)).arg("stop").assert().success();
    }
    let mark = env.calls().len();
    let out = env.kilter(&shop).args(["ls", "--json"]).output().expect("runs");
    assert_eq!(calls_since(&env, mark).len(), 1, "{:?}", calls_since(&env, mark));
    let v = json(&out);
    assert_eq!(v["totals"]["running"], 0);
    assert!(v["totals"]["memory_bytes"].is_null());
    // and no totals line in the table
    let text = stdout_of(&env.kilter(&shop).arg("ls").output().expect("runs"));
    assert!(text.lines().any(|l| l.starts_with("shop ")), "{text}");
    assert!(!text.contains("total ("), "{text}");
}

/// `ls` needs only docker: a corrupt port registry is a warning, the clusters are still shown.
#[test]
fn ls_shows_what_it_can_with_a_corrupt_port_registry() {
    let env = Env::new();
    let shop = up(&env, "shop");
    let reg = env.state_home().join("kilter/ports.json");
    std::fs::write(&reg, "{ not json").expect("corrupt");
    let out = env.kilter(&shop).args(["ls", "--json"]).output().expect("runs");
    assert!(out.status.success(), "{}", stderr_of(&out));
    let err = stderr_of(&out);
    assert!(err.contains("warning:") && err.contains("ports.json"), "{err}");
    let v = json(&out);
    let s = row(&v, "shop");
    assert!(s["tilt_port"].is_null(), "{s}");
    assert_eq!(s["state"], "running");
    assert_eq!(s["memory_bytes"], 650 * MIB);
    assert_eq!(read(&reg), "{ not json", "ls never rewrites the registry");
    let out = env.kilter(&shop).arg("ls").output().expect("runs");
    assert!(out.status.success());
    assert!(stdout_of(&out).lines().nth(1).is_some_and(|l| l.starts_with("shop")));

    // A slot past the last one (137) has no ports: none is shown; the last one has its own.
    for (slot, tilt) in [(138, serde_json::Value::Null), (137, serde_json::json!(10488))] {
        std::fs::write(&reg, format!(r#"{{"version":1,"projects":{{"shop":{{"slot":{slot}}}}}}}"#))
            .expect("w");
        let out = env.kilter(&shop).args(["ls", "--json"]).output().expect("runs");
        assert!(out.status.success(), "{}", stderr_of(&out));
        let v = json(&out);
        assert_eq!(row(&v, "shop")["tilt_port"], tilt, "slot {slot}: {v}");
    }
}

/// A cluster removed between `docker ps` and `docker stats` fails docker's whole stats call;
/// `ls` leaves it out and asks once more for the others, instead of showing no figures at all.
#[test]
fn ls_keeps_the_figures_when_a_cluster_vanishes_while_it_is_sampled() {
    let env = Env::new();
    let shop = up(&env, "shop");
    up(&env, "blog");
    env.set_knob("latency_ms", "700");
    let ls = env
        .kilter_std(&shop)
        .args(["ls", "--json"])
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .expect("ls");
    // the stats call is logged before it sleeps and reads the state: remove blog meanwhile
    assert!(wait_until(Duration::from_secs(10), || {
        env.calls().iter().any(|c| c.starts_with("docker stats"))
    }));
    let rm = env
        .tool("docker")
        .args(["rm", "-f", &node("blog")])
        .env("KILTER_FAKE_LATENCY_MS", "0")
        .output()
        .expect("rm");
    assert!(rm.status.success());
    let out = ls.wait_with_output().expect("ls");
    assert!(out.status.success(), "{}", stderr_of(&out));
    let stats: Vec<String> =
        env.calls().into_iter().filter(|c| c.starts_with("docker stats")).collect();
    assert_eq!(
        stats,
        vec![
            format!(
                "docker stats --no-stream --format '{{{{json .}}}}' {} {}",
                node("blog"),
                node("shop")
            ),
            format!("docker stats --no-stream --format '{{{{json .}}}}' {}", node("shop")),
        ]
    );
    let v = json(&out);
    assert_eq!(row(&v, "shop")["memory_bytes"], 650 * MIB);
    assert!(row(&v, "blog")["memory_bytes"].is_null());
    assert!(v["usage_error"].is_null(), "{v}");
}

/// When the second `docker stats` also loses a container, `ls` asks no third time: it shows the
/// clusters without figures and says docker's own reason, not an internal error.
#[test]
fn ls_gives_dockers_reason_when_stats_fails_again() {
    let (v, stats_calls) = ls_with_failing_stats(
        "Error response from daemon: No such container: kilter-gone-control-plane",
    );
    let why = v["usage_error"].as_str().unwrap_or_else(|| panic!("a reason: {v}"));
    assert!(why.contains("No such container: kilter-gone-control-plane"), "{why}");
    assert!(why.contains(" stats --no-stream "), "the command: {why}");
    assert!(row(&v, "shop")["memory_bytes"].is_null(), "{v}");
    assert_eq!(stats_calls, 2, "asked once more, then no more");
}

/// Any other `docker stats` failure is not retried: one call, and docker's reason.
#[test]
fn ls_does_not_retry_a_docker_stats_that_failed_for_another_reason() {
    let (v, stats_calls) =
        ls_with_failing_stats("Error response from daemon: cgroup stats unavailable");
    let why = v["usage_error"].as_str().unwrap_or_else(|| panic!("a reason: {v}"));
    assert!(why.contains("cgroup stats unavailable"), "{why}");
    assert_eq!(stats_calls, 1, "one docker stats");
}

/// `ls --json` of a running project whose every `docker stats` fails with `error`: the report,
/// and how many stats calls were made.
fn ls_with_failing_stats(error: &str) -> (Value, usize) {
    let env = Env::new();
    let shop = up(&env, "shop");
    let log = env.root().join("stats-calls");
    let docker = wrap_tool(
        &env,
        "docker",
        "docker-stats-fails",
        "stats*",
        &format!("echo stats >> '{}'; echo '{error}' >&2; exit 1", log.display()),
    );
    let out = env
        .kilter(&shop)
        .env("KILTER_DOCKER", &docker)
        .args(["ls", "--json"])
        .output()
        .expect("runs");
    assert!(out.status.success(), "{}", stderr_of(&out));
    (json(&out), read(&log).lines().count())
}

// ---------------------------------------------------------------------------------------------
// stop --all

/// Three running projects, one of whose directories was deleted: every node stops, every Tilt
/// stops, the two that still have their kilter.yaml get the flag (written by the same code as
/// `kilter stop`, logged in their own commands.log), the deleted one gets a note and no
/// directory back. They are stopped a few at a time, and a second run has nothing to do.
#[test]
fn stop_all_stops_every_running_cluster_and_flags_the_projects_that_still_exist() {
    let env = Env::new();
    let a = up(&env, "alpha");
    let b = up(&env, "bravo");
    let c = up(&env, "charlie");
    let stopped_one = up(&env, "delta");
    env.kilter(&stopped_one).arg("stop").assert().success();
    let delta_yaml = read(stopped_one.join("kilter.yaml"));
    assert_eq!(env.tilt_pids().len(), 3);
    std::fs::remove_dir_all(&b).expect("delete bravo's directory");
    let elsewhere = env.project("elsewhere");
    // Every docker call now takes 300 ms: stopping three one after the other would need more
    // than 1.8 s of calls; three at a time, their `docker stop`s start together.
    env.set_knob("latency_ms", "300");

    let mark = env.call_records().len();
    let out = env.kilter(&elsewhere).args(["stop", "--all"]).output().expect("runs");
    let err = stderr_of(&out);
    assert!(out.status.success(), "{err}");
    for n in ["alpha", "bravo", "charlie", "delta"] {
        assert_eq!(container_status(&env, &node(n)).as_deref(), Some("exited"), "{n}");
    }
    assert!(env.tilt_pids().is_empty(), "every Tilt stopped, also the deleted project's");
    assert!(flagged(&a) && flagged(&c), "{}", read(a.join("kilter.yaml")));
    assert_eq!(read(a.join("kilter.yaml")), "name: alpha\ncluster:\n  stopped: true\n");
    assert!(!b.exists(), "nothing recreates the deleted directory");
    assert_eq!(
        read(stopped_one.join("kilter.yaml")),
        delta_yaml,
        "a stopped project is left alone"
    );
    assert!(
        err.contains("stopped kilter-bravo only: its directory") && err.contains("is gone"),
        "{err}"
    );
    assert!(err.contains("Stopped 3 clusters: alpha, bravo, charlie"), "{err}");
    // Each project that still has its kilter.yaml is named with the file its flag went to.
    for (n, dir) in [("alpha", &a), ("charlie", &c)] {
        let line =
            format!("Stopped kilter-{n} (flag written to {})", dir.join("kilter.yaml").display());
        assert_eq!(err.matches(&line).count(), 1, "{line}: {err}");
    }
    assert_eq!(err.matches("(flag written to").count(), 2, "no flag for bravo or delta: {err}");
    assert!(commands_log(&env, "alpha").contains("docker stop kilter-alpha-control-plane"));
    assert!(commands_log(&env, "bravo").contains("docker stop kilter-bravo-control-plane"));
    assert!(!commands_log(&env, "charlie").contains("alpha"), "each project's own transcript");

    // When each `docker stop` started and returned: they overlap when every one started before
    // any had returned (one after the other, each would start after the last one returned),
    // however long a busy machine makes each of them take.
    let stops: Vec<(u64, u64)> = env.call_ends()[mark..]
        .iter()
        .filter(|(r, _)| r["tool"] == "docker" && r["argv"][0] == "stop")
        .map(|(r, end)| {
            let end = end.as_ref().and_then(|e| e["ts_ms"].as_u64()).expect("returned");
            (r["ts_ms"].as_u64().expect("ts"), end)
        })
        .collect();
    assert_eq!(stops.len(), 3, "one docker stop per running node");
    let last_start = stops.iter().map(|s| s.0).max().unwrap();
    let first_end = stops.iter().map(|s| s.1).min().unwrap();
    assert!(last_start < first_end, "the three stops overlap: {stops:?}");

    env.set_knob("latency_ms", "0");
    let mark = env.calls().len();
    let out = env.kilter(&elsewhere).args(["stop", "--all"]).output().expect("runs");
    assert!(out.status.success(), "{}", stderr_of(&out));
    assert!(stderr_of(&out).contains("No kilter cluster is running"), "{}", stderr_of(&out));
    assert_eq!(
        calls_since(&env, mark).len(),
        1,
        "only the docker ps: {:?}",
        calls_since(&env, mark)
    );
}

/// `stop --all` while `up` of one project runs: it waits for that project's lock, then stops
/// it with the flag. Racing them freely, the end state is always consistent: stopped with the
/// flag, or running without it.
/// A cluster `stop --all` cannot stop does not keep it from stopping the others: exit 1 names
/// it with docker's own error, and its project keeps no stopped flag.
#[test]
fn stop_all_goes_on_past_a_cluster_it_cannot_stop_and_names_it_with_dockers_error() {
    let env = Env::new();
    let a = up(&env, "alpha");
    let b = up(&env, "bravo");
    let docker = wrap_tool(
        &env,
        "docker",
        "docker-failing-stop",
        "'stop kilter-alpha-control-plane'*",
        "echo 'Error response from daemon: cannot stop container: kilter-alpha-control-plane: tried to kill container, but did not receive an exit event' >&2; exit 1",
    );
    let elsewhere = env.project("elsewhere");
    let out = env
        .kilter(&elsewhere)
        .env("KILTER_DOCKER", &docker)
        .args(["stop", "--all"])
        .output()
        .expect("runs");
    let err = stderr_of(&out);
    assert_eq!(out.status.code(), Some(1), "{err}");
    assert!(err.contains("Stopped 1 cluster: bravo"), "{err}");
    assert!(err.contains("could not stop 1 of 2 clusters:\n  alpha: "), "{err}");
    assert!(
        err.contains("\n    Error response from daemon: cannot stop container: kilter-alpha-control-plane: tried to kill container"),
        "docker's own error under it: {err}"
    );
    assert_eq!(container_status(&env, &node("alpha")).as_deref(), Some("running"));
    assert_eq!(container_status(&env, &node("bravo")).as_deref(), Some("exited"));
    assert!(!flagged(&a) && flagged(&b), "{}", read(a.join("kilter.yaml")));
}

/// Run kilter in `dir` with `args`, Ctrl-C it while `tool` runs a call matching `pattern` (which
/// then hangs), and return what it did.
fn interrupted_in(env: &Env, dir: &Path, args: &[&str], tool: &str, pattern: &str) -> Output {
    let mark = env.root().join(format!("{tool}-call-started"));
    let wrapper = wrap_tool(
        env,
        tool,
        &format!("{tool}-hanging"),
        pattern,
        &format!(": > '{}'; /bin/sleep 30", mark.display()),
    );
    let child = env
        .kilter_std(dir)
        .env(format!("KILTER_{}", tool.to_uppercase()), &wrapper)
        .args(args)
        .stderr(std::process::Stdio::piped())
        .spawn()
        .expect("spawn");
    assert!(wait_until(Duration::from_secs(20), || mark.exists()), "the {tool} call started");
    // SAFETY: plain kill(2) on our own child.
    unsafe { libc::kill(child.id() as i32, libc::SIGINT) };
    child.wait_with_output().expect("wait")
}

/// Ctrl-C while `gc` removes a cluster stops `gc` there (exit 130): it is not one more failure
/// in the list, and nothing after it is removed.
#[test]
fn sigint_during_gc_stops_it_there_with_exit_130() {
    let env = Env::new();
    for name in ["gone", "lost"] {
        let dir = up(&env, name);
        env.kilter(&dir).arg("down").assert().success();
        std::fs::remove_dir_all(&dir).expect("rm");
    }
    let here = env.project("here");
    let out = interrupted_in(&env, &here, &["gc", "--yes"], "kind", "*'delete cluster'*");
    let err = stderr_of(&out);
    assert_eq!(out.status.code(), Some(130), "{err}");
    assert!(err.contains("interrupted"), "{err}");
    assert!(!err.contains("could not remove"), "not a failure in the list: {err}");
    let deletes = env.calls().iter().filter(|c| c.starts_with("kind delete")).count();
    assert_eq!(deletes, 0, "the interrupted delete never reached kind, and no other began");
    assert!(env.container(&node("gone")).is_some() && env.container(&node("lost")).is_some());
}

/// Ctrl-C while `stop --all` waits on a `docker stop` ends the run with exit 130: the
/// interrupt is not one more cluster in the list of those it could not stop.
#[test]
fn sigint_during_stop_all_exits_130_and_is_not_a_failure_in_the_list() {
    let env = Env::new();
    let a = up(&env, "alpha");
    let elsewhere = env.project("elsewhere");
    let pattern = "'stop kilter-alpha-control-plane'*";
    let out = interrupted_in(&env, &elsewhere, &["stop", "--all"], "docker", pattern);
    let err = stderr_of(&out);
    assert_eq!(out.status.code(), Some(130), "{err}");
    assert!(err.contains("interrupted"), "{err}");
    assert!(!err.contains("could not stop"), "not a failure in the list: {err}");
    assert!(
        !flagged(&a),
        "no flag for a stop that did not finish: {}",
        read(a.join("kilter.yaml"))
    );
}

#[test]
fn stop_all_respects_a_concurrent_up() {
    let env = Env::new();
    let a = up(&env, "alpha");
    let b = up(&env, "bravo");
    let elsewhere = env.project("elsewhere");
    env.set_knob("tilt_start_ms", "1500");
    let upping = env
        .kilter_std(&a)
        .arg("up")
        .stderr(std::process::Stdio::piped())
        .spawn()
        .expect("spawn up");
    let up_pid = upping.id();
    let (tilt_port, _) = ports_of("alpha");
    let restarting = format!("tilt up --port {tilt_port}");
    assert!(wait_until(Duration::from_secs(10), || {
        env.calls().iter().filter(|c| c.starts_with(&restarting)).count() == 2
    }));
    let out = env.kilter(&elsewhere).args(["stop", "--all"]).output().expect("runs");
    let up_out = upping.wait_with_output().expect("up");
    assert!(up_out.status.success(), "{}", stderr_of(&up_out));
    let err = stderr_of(&out);
    assert!(out.status.success(), "{err}");
    assert!(
        err.contains(&format!(
            "waiting for `kilter up` (pid {up_pid}) to finish with project `alpha`"
        )),
        "{err}"
    );
    for (n, d) in [("alpha", &a), ("bravo", &b)] {
        assert_eq!(container_status(&env, &node(n)).as_deref(), Some("exited"), "{n}");
        assert!(flagged(d), "{n}");
    }
    assert!(env.tilt_pids().is_empty(), "the Tilt that `up` started was stopped after it");

    // Free race: whoever gets the lock first, the result is one of the two consistent states.
    env.set_knob("tilt_start_ms", "0");
    for round in 0..3 {
        let upping = env.kilter_std(&a).arg("up").spawn().expect("spawn up");
        std::thread::sleep(Duration::from_millis(20 * round));
        let out = env.kilter(&elsewhere).args(["stop", "--all"]).output().expect("runs");
        assert!(out.status.success(), "{}", stderr_of(&out));
        assert!(upping.wait_with_output().expect("up").status.success());
        let running = container_status(&env, &node("alpha")).as_deref() == Some("running");
        assert_eq!(
            flagged(&a),
            !running,
            "round {round}: running={running} but kilter.yaml is {:?}",
            read(a.join("kilter.yaml"))
        );
        if running {
            env.kilter(&a).arg("stop").assert().success();
        }
    }
}

fn three_projects_one_deleted(env: &Env) -> (PathBuf, Vec<PathBuf>) {
    let dirs: Vec<PathBuf> = ["alpha", "bravo", "charlie"].iter().map(|n| up(env, n)).collect();
    std::fs::remove_dir_all(&dirs[1]).expect("rm");
    (env.project("elsewhere"), dirs)
}

#[test]
fn stop_all_dry_run_replays_to_the_same_state() {
    let script = assert_replay_equivalent_in(three_projects_one_deleted, &["stop", "--all"]);
    for n in ["alpha", "bravo", "charlie"] {
        assert!(script.contains(&format!("docker stop {}", node(n))), "{script}");
    }
    let alpha = script.find("docker stop kilter-alpha").unwrap_or_default();
    let bravo = script.find("docker stop kilter-bravo").unwrap_or_default();
    assert!(alpha < bravo, "one project after the other, in order:\n{script}");
}

// ---------------------------------------------------------------------------------------------
// gc

/// A pid that is not running (a child that has exited and been reaped).
fn dead_pid() -> u32 {
    let mut c = std::process::Command::new("/bin/true").spawn().expect("true");
    let pid = c.id();
    c.wait().expect("wait");
    assert!(!crate::support::pid_alive(pid as i32));
    pid
}

struct Zoo {
    /// kilter runs here: its cache dir is kept although it has no cluster.
    here: PathBuf,
    keep: PathBuf,
    renamed: PathBuf,
    destroyed: PathBuf,
    all: Vec<PathBuf>,
}

/// One of every kind of orphan, next to things that are owned.
fn zoo(env: &Env, dead: u32) -> Zoo {
    // owned, running, with snapshots and a leftover .partial
    let keep = up(env, "keep");
    let snaps = env.data_dir("keep").join("snapshots");
    std::fs::create_dir_all(&snaps).expect("mkdir");
    std::fs::write(snaps.join("base.dump"), b"PGDMP-keep").expect("w");
    std::fs::write(snaps.join("half.dump.partial"), vec![0u8; 3000]).expect("w");
    std::fs::write(snaps.join(format!(".base.json.kilter-tmp.{dead}")), b"{}").expect("w");
    // the directory is gone: orphan cluster (running, its Tilt too), its snapshots
    let gone = up(env, "gone");
    let gone_snaps = env.data_dir("gone").join("snapshots");
    std::fs::create_dir_all(&gone_snaps).expect("mkdir");
    std::fs::write(gone_snaps.join("old.dump"), vec![7u8; 5000]).expect("w");
    std::fs::write(gone_snaps.join("old.json"), vec![b' '; 120]).expect("w");
    std::fs::remove_dir_all(&gone).expect("rm");
    // the directory now resolves to another project: its claim stands (kept unless named)
    let renamed = up(env, "renamed");
    env.kilter(&renamed).arg("stop").assert().success();
    std::fs::write(renamed.join("kilter.yaml"), "name: fresh\n").expect("rename");
    // destroyed, directory still there: its cache dir goes, its slot stays
    let destroyed = up(env, "destroyed");
    env.kilter(&destroyed).args(["destroy", "--yes"]).assert().success();
    // destroyed, then its directory deleted: cache dir and slot go
    let vanished = up(env, "vanished");
    env.kilter(&vanished).args(["destroy", "--yes"]).assert().success();
    std::fs::remove_dir_all(&vanished).expect("rm");
    // the project kilter runs in: destroyed, so a cache dir without a cluster
    let here = up(env, "here");
    env.kilter(&here).args(["destroy", "--yes"]).assert().success();
    // temporary files: a dead writer's and a live one's (this test process)
    let state = env.state_home().join("kilter");
    std::fs::write(state.join(format!(".ports.json.kilter-tmp.{dead}")), b"{}").expect("w");
    std::fs::write(state.join(format!(".ports.json.kilter-tmp.{}", std::process::id())), b"{")
        .expect("w");
    std::fs::write(keep.join(format!(".kilter.yaml.kilter-tmp.{dead}")), b"name: keep\n")
        .expect("w");
    // ...and one in the cache dir of a project that stays
    std::fs::write(env.cache_dir("keep").join(format!(".project.json.kilter-tmp.{dead}")), b"{")
        .expect("w");
    Zoo {
        here: here.clone(),
        keep: keep.clone(),
        renamed: renamed.clone(),
        destroyed: destroyed.clone(),
        all: vec![keep, gone, renamed, destroyed, vanished, here],
    }
}

#[test]
fn gc_finds_every_kind_of_orphan_and_touches_nothing_owned() {
    let env = Env::new();
    let dead = dead_pid();
    let z = zoo(&env, dead);
    let refs: Vec<&Path> = z.all.iter().map(PathBuf::as_path).collect();
    let keep_tilt = tilt_pid(&env, "keep").expect("keep's Tilt");
    let before = state(&env, &refs);

    // No terminal, no --yes: exit 4, everything listed, nothing touched.
    let mark = env.calls().len();
    let out = env.kilter(&z.here).arg("gc").output().expect("runs");
    let err = stderr_of(&out);
    assert_eq!(out.status.code(), Some(4), "{err}");
    assert!(err.contains("--yes"), "{err}");
    for want in [
        "cluster kilter-gone (running): its directory",
        // the slot of `gone` by the documented hash (docs/files.md), with its ports
        "port slot 30 (Tilt 10381, NodePorts 30600-30619)",
        "cluster kilter-renamed (exited): its directory",
        "now resolves to project `fresh`",
        "`kilter gc renamed` removes it",
        "cache dir of `destroyed`",
        "cache dir of `vanished`",
        "port slot",
        "of `vanished`",
        "incomplete snapshot",
        "half.dump.partial (2.9 KiB)",
        &format!(".ports.json.kilter-tmp.{dead} (2 B): its writer (pid {dead}) is gone"),
        &format!(".kilter.yaml.kilter-tmp.{dead}"),
        &format!(".project.json.kilter-tmp.{dead} (1 B)"),
        &format!(".base.json.kilter-tmp.{dead} (2 B)"),
        // the files under it counted, in its subdirectories too
        &format!("snapshots of `gone` in {} (2 files, 5.0 KiB)", env.data_dir("gone").display()),
        "`kilter gc --snapshots` removes them",
    ] {
        assert!(err.contains(want), "missing {want:?} in:\n{err}");
    }
    for never in [
        "cache dir of `here`",
        "cache dir of `keep`",
        "base.dump",
        // with the space after it: the dead pid's digits may start with this process's own
        &format!("kilter-tmp.{} ", std::process::id()),
    ] {
        assert!(!err.contains(never), "{never:?} must not be listed:\n{err}");
    }
    assert!(
        calls_since(&env, mark)
            .iter()
            .all(|c| c.starts_with("docker ps") || c.starts_with("docker inspect")),
        "{:?}",
        calls_since(&env, mark)
    );
    assert_eq!(state(&env, &refs), before, "nothing changed without confirmation");

    let out = env.kilter(&z.here).args(["gc", "--yes"]).output().expect("runs");
    let err = stderr_of(&out);
    assert!(out.status.success(), "{err}");
    // Nine orphans, each one line: the count says nine, before and after.
    let found = err.split("Kept:").next().unwrap_or_default();
    assert_eq!(found.lines().filter(|l| l.starts_with("  - ")).count(), 9, "{err}");
    assert!(err.contains("kilter gc found 9 items no project owns"), "{err}");
    assert!(err.contains("Removed 9 items"), "{err}");
    // orphans are gone
    assert!(env.container(&node("gone")).is_none());
    for n in ["gone", "destroyed", "vanished"] {
        assert!(!env.cache_dir(n).exists(), "cache dir of {n}");
    }
    let reg = registry(&env);
    let slots = reg["projects"].as_object().expect("projects");
    for n in ["gone", "vanished"] {
        assert!(!slots.contains_key(n), "slot of {n} freed: {reg}");
    }
    // a directory that still exists keeps its claim, whatever it resolves to now
    assert_eq!(container_status(&env, &node("renamed")).as_deref(), Some("exited"));
    assert!(env.cache_dir("renamed").join("project.json").exists());
    assert!(slots.contains_key("renamed"), "{reg}");
    assert!(!env.state_home().join(format!("kilter/.ports.json.kilter-tmp.{dead}")).exists());
    assert!(!z.keep.join(format!(".kilter.yaml.kilter-tmp.{dead}")).exists());
    assert!(!env.cache_dir("keep").join(format!(".project.json.kilter-tmp.{dead}")).exists());
    assert!(!env.data_dir("keep").join(format!("snapshots/.base.json.kilter-tmp.{dead}")).exists());
    assert!(!env.data_dir("keep").join("snapshots/half.dump.partial").exists());
    // what is owned stays
    assert_eq!(container_status(&env, &node("keep")).as_deref(), Some("running"));
    assert!(crate::support::pid_alive(keep_tilt), "keep's Tilt still runs");
    assert_eq!(
        env.tilt_pids(),
        vec![keep_tilt],
        "gone's Tilt was stopped with its cluster, keep's was not"
    );
    for n in ["keep", "destroyed", "here"] {
        assert!(slots.contains_key(n), "slot of {n} kept: {reg}");
    }
    assert_eq!(read(env.data_dir("keep").join("snapshots/base.dump")), "PGDMP-keep");
    assert!(env.cache_dir("keep").join("kubeconfig").exists());
    assert!(env.cache_dir("here").exists(), "the project kilter runs in keeps its cache dir");
    assert!(
        env.state_home()
            .join(format!("kilter/.ports.json.kilter-tmp.{}", std::process::id()))
            .exists(),
        "a live writer's temporary file is kept"
    );
    assert_eq!(read(z.renamed.join("kilter.yaml")), "name: fresh\n");
    assert!(z.destroyed.exists());
    // snapshots of a vanished project are only listed...
    assert!(env.data_dir("gone").join("snapshots/old.dump").exists());
    // ...until --snapshots
    let out = env.kilter(&z.here).args(["gc", "--yes", "--snapshots"]).output().expect("runs");
    assert!(out.status.success(), "{}", stderr_of(&out));
    assert!(stderr_of(&out).contains("snapshots of `gone`"), "{}", stderr_of(&out));
    assert!(!env.data_dir("gone").exists());
    assert_eq!(read(env.data_dir("keep").join("snapshots/base.dump")), "PGDMP-keep");

    let out = env.kilter(&z.here).args(["gc"]).output().expect("runs");
    assert!(out.status.success(), "nothing to confirm: {}", stderr_of(&out));
    assert!(stderr_of(&out).contains("Nothing to collect"), "{}", stderr_of(&out));

    // Naming it gives the claim up: only that project is collected.
    let out = env.kilter(&z.here).args(["gc", "--yes", "renamed"]).output().expect("runs");
    let err = stderr_of(&out);
    assert!(out.status.success(), "{err}");
    assert!(err.contains("cluster kilter-renamed (exited): named on the command line"), "{err}");
    assert!(env.container(&node("renamed")).is_none());
    assert!(!env.cache_dir("renamed").exists());
    assert!(!registry(&env)["projects"].as_object().unwrap().contains_key("renamed"));
    assert_eq!(container_status(&env, &node("keep")).as_deref(), Some("running"));
    assert_eq!(read(z.renamed.join("kilter.yaml")), "name: fresh\n");
}

/// A port slot whose entry records no directory (written before kilter recorded one) has no
/// owner `gc` can ask: it is kept, and named under "Kept:" with why; with none such, nothing is
/// said about slots. What `gc` found and removed is summed on disk (here a cache dir of more
/// than 3,000 bytes).
#[test]
fn gc_keeps_a_slot_with_no_recorded_directory_and_sums_what_it_removes() {
    let env = Env::new();
    let here = up(&env, "here");
    let vanished = up(&env, "vanished");
    env.kilter(&vanished).args(["destroy", "--yes"]).assert().success();
    std::fs::remove_dir_all(&vanished).expect("rm");
    // Its transcript, a file kilter writes, made 3,000 bytes longer.
    let log = env.cache_dir("vanished").join("commands.log");
    std::fs::write(&log, read(&log) + &"x".repeat(3000)).expect("w");
    let out = env.kilter(&here).args(["gc", "--yes"]).output().expect("runs");
    let err = stderr_of(&out);
    assert!(out.status.success(), "{err}");
    assert!(!err.contains("port slots of"), "no slot without a directory: {err}");
    let total = |line: &str| -> f64 {
        let at = err.find(line).unwrap_or_else(|| panic!("{line:?} in {err}"));
        let size = err[at..].split(" on disk)").next().and_then(|l| l.rsplit('(').next());
        let size = size.unwrap_or_else(|| panic!("a size after {line:?}: {err}"));
        let (n, unit) = size.split_once(' ').unwrap_or_else(|| panic!("{size}"));
        let n: f64 = n.parse().unwrap_or_else(|_| panic!("{size}"));
        n * match unit {
            "B" => 1.0,
            "KiB" => 1024.0,
            other => panic!("unit {other}"),
        }
    };
    assert!(total("no project owns (") >= 3000.0, "{err}");
    assert!(total("Removed ") >= 3000.0, "{err}");

    // A slot with no directory recorded.
    let path = env.state_home().join("kilter/ports.json");
    let mut reg: serde_json::Value = serde_json::from_str(&read(&path)).expect("json");
    reg["projects"]["legacy"] = serde_json::json!({"slot": 77});
    std::fs::write(&path, reg.to_string()).expect("w");
    // It has snapshots too, and nothing in the cache: its owner cannot be told, so even
    // `--snapshots` keeps them (only a project the registry has forgotten counts as gone).
    let snaps = env.data_dir("legacy").join("snapshots");
    std::fs::create_dir_all(&snaps).expect("mkdir");
    std::fs::write(snaps.join("before.dump"), "PGDMP").expect("w");
    let out = env.kilter(&here).args(["gc", "--yes", "--snapshots"]).output().expect("runs");
    let err = stderr_of(&out);
    assert!(out.status.success(), "{err}");
    assert!(
        err.contains("Kept:\n  - port slots of `legacy`: no directory is recorded for them"),
        "{err}"
    );
    assert!(registry(&env)["projects"]["legacy"].is_object(), "its slot is kept");
    assert_eq!(read(snaps.join("before.dump")), "PGDMP", "its snapshots are kept: {err}");

    // A dead writer's temporary file and an incomplete snapshot alone: their 3,000 and 1,096
    // bytes are the sum.
    let tmp = env.state_home().join(format!("kilter/.ports.json.kilter-tmp.{}", dead_pid()));
    std::fs::write(&tmp, vec![b'{'; 3000]).expect("w");
    let here_snaps = env.data_dir("here").join("snapshots");
    std::fs::create_dir_all(&here_snaps).expect("mkdir");
    let partial = here_snaps.join("cut.dump.partial");
    std::fs::write(&partial, vec![0u8; 1096]).expect("w");
    let out = env.kilter(&here).args(["gc", "--yes"]).output().expect("runs");
    let err = stderr_of(&out);
    assert!(out.status.success(), "{err}");
    assert!(err.contains("kilter gc found 2 items no project owns (4.0 KiB on disk)"), "{err}");
    assert!(err.contains("Removed 2 items (4.0 KiB on disk)"), "{err}");
    assert!(!tmp.exists() && !partial.exists(), "{err}");
}

/// A port registry `gc` cannot read is left as it is, byte for byte, while the rest is
/// collected: the cluster of a project whose directory is gone goes, its slot stays in the
/// unreadable file, and a warning says so.
#[test]
fn gc_leaves_an_unreadable_port_registry_as_it_is() {
    let env = Env::new();
    let here = up(&env, "here");
    let gone = up(&env, "gone");
    std::fs::remove_dir_all(&gone).expect("rm");
    let path = env.state_home().join("kilter/ports.json");
    std::fs::write(&path, "{\"projects\": {not json").expect("w");
    let out = env.kilter(&here).args(["gc", "--yes"]).output().expect("runs");
    let err = stderr_of(&out);
    assert_eq!(out.status.code(), Some(0), "{err}");
    assert!(err.contains("port slots are not collected"), "{err}");
    assert!(env.container(&node("gone")).is_none(), "its cluster is collected: {err}");
    assert_eq!(read(&path), "{\"projects\": {not json", "untouched");
}

/// A live project whose directory name differs from its `name:`, while its
/// kilter.yaml is missing for a moment (a `git checkout`, an editor's save).
/// One removal that fails does not stop `gc`: the others are removed, the failure is listed at
/// the end with exit 1, and what failed keeps its port slot for the next `gc`.
#[test]
fn gc_goes_on_past_a_removal_that_fails_and_lists_it() {
    let env = Env::new();
    let z = zoo(&env, dead_pid());
    let kind = wrap_tool(
        &env,
        "kind",
        "kind-failing-gone",
        "*'delete cluster'*kilter-gone*",
        "echo 'ERROR: failed to delete cluster \"kilter-gone\": boom' >&2; exit 1",
    );
    let out =
        env.kilter(&z.here).env("KILTER_KIND", &kind).args(["gc", "--yes"]).output().expect("runs");
    let err = stderr_of(&out);
    assert_eq!(out.status.code(), Some(1), "{err}");
    assert!(err.contains("Removed 8 items"), "{err}");
    assert!(err.contains("could not remove 1 of 9 items:\n  cluster kilter-gone: "), "{err}");
    assert!(
        err.contains(
            "(exit status 1)\n    ERROR: failed to delete cluster \"kilter-gone\": boom\n"
        ),
        "kind's own error under it: {err}"
    );
    assert!(env.container(&node("gone")).is_some(), "the cluster that failed is still there");
    for n in ["destroyed", "vanished"] {
        assert!(!env.cache_dir(n).exists(), "cache dir of {n} removed all the same");
    }
    let reg = registry(&env);
    let slots = reg["projects"].as_object().expect("projects");
    assert!(slots.contains_key("gone"), "its slot is kept: {reg}");
    assert!(!slots.contains_key("vanished"), "the others' slots are freed: {reg}");
    // Again with kind failing: nothing was removed, and no line says anything was.
    let out =
        env.kilter(&z.here).env("KILTER_KIND", &kind).args(["gc", "--yes"]).output().expect("runs");
    let err = stderr_of(&out);
    assert_eq!(out.status.code(), Some(1), "{err}");
    assert!(err.contains("could not remove 1 of 1 item:\n  cluster kilter-gone: "), "{err}");
    assert!(!err.contains("Removed "), "{err}");
    // The next gc, with kind working, removes it.
    let out = env.kilter(&z.here).args(["gc", "--yes"]).output().expect("runs");
    assert!(out.status.success(), "{}", stderr_of(&out));
    assert!(env.container(&node("gone")).is_none());
}

#[test]
fn gc_keeps_a_cluster_whose_directory_is_there_while_its_kilter_yaml_is_missing() {
    let env = Env::new();
    let dir = project(&env, "my-shop", Some("name: shop\n"), false);
    env.kilter(&dir).args(["up", "--no-tilt"]).assert().success();
    let aside = env.root().join("kilter.yaml.aside");
    std::fs::rename(dir.join("kilter.yaml"), &aside).expect("mv");
    let elsewhere = env.project("elsewhere");
    let out = env.kilter(&elsewhere).args(["gc", "--yes"]).output().expect("runs");
    let err = stderr_of(&out);
    assert!(out.status.success(), "{err}");
    assert!(err.contains("Kept:"), "{err}");
    assert!(err.contains("now resolves to project `my-shop`"), "{err}");
    assert_eq!(container_status(&env, &node("shop")).as_deref(), Some("running"));
    assert!(env.cache_dir("shop").join("kubeconfig").exists());
    assert!(registry(&env)["projects"].as_object().unwrap().contains_key("shop"));
    std::fs::rename(&aside, dir.join("kilter.yaml")).expect("mv back");
    env.kilter(&dir).args(["up", "--no-tilt"]).assert().success();
    // The directory itself gone: collected.
    std::fs::remove_dir_all(&dir).expect("rm");
    let out = env.kilter(&elsewhere).args(["gc", "--yes"]).output().expect("runs");
    assert!(out.status.success(), "{}", stderr_of(&out));
    assert!(env.container(&node("shop")).is_none());
}

/// Directories under the cache root that hold no kilter files (or also hold files kilter did
/// not write) are never removed.
#[test]
fn gc_never_removes_a_cache_root_dir_that_is_not_all_kilters() {
    let env = Env::new();
    let cache = env.cache_dir("notes");
    std::fs::create_dir_all(&cache).expect("mkdir");
    std::fs::write(cache.join("todo.txt"), "mine").expect("w");
    let mixed = up(&env, "mixed");
    env.kilter(&mixed).args(["destroy", "--yes"]).assert().success();
    std::fs::write(env.cache_dir("mixed").join("notes.md"), "mine too").expect("w");
    let plain = up(&env, "plain");
    env.kilter(&plain).args(["destroy", "--yes"]).assert().success();
    let elsewhere = env.project("elsewhere");
    let out = env.kilter(&elsewhere).args(["gc", "--yes"]).output().expect("runs");
    let err = stderr_of(&out);
    assert!(out.status.success(), "{err}");
    assert_eq!(read(cache.join("todo.txt")), "mine");
    assert!(err.contains("holds no kilter files; kilter leaves it alone"), "{err}");
    assert_eq!(read(env.cache_dir("mixed").join("notes.md")), "mine too");
    assert!(err.contains("also holds files kilter did not write (notes.md)"), "{err}");
    assert!(!env.cache_dir("plain").exists(), "a cache dir of kilter's own files goes");

    // The cluster of a vanished project goes; its cache dir, with a file of the user's, stays.
    let orphan = up(&env, "orphan");
    std::fs::write(env.cache_dir("orphan").join("notes.md"), "keep me").expect("w");
    std::fs::remove_dir_all(&orphan).expect("rm");
    let out = env.kilter(&elsewhere).args(["gc", "--yes"]).output().expect("runs");
    let err = stderr_of(&out);
    assert!(out.status.success(), "{err}");
    assert!(env.container(&node("orphan")).is_none(), "{err}");
    assert_eq!(read(env.cache_dir("orphan").join("notes.md")), "keep me");
    assert!(
        err.contains(&format!(
            "kept its cache dir: {} also holds files kilter did not write (notes.md)",
            env.cache_dir("orphan").display()
        )),
        "{err}"
    );
}

#[test]
fn gc_refuses_a_named_project_a_directory_still_resolves_to_and_an_unknown_name() {
    let env = Env::new();
    let keep = up(&env, "keep");
    let elsewhere = env.project("elsewhere");
    let out = env.kilter(&elsewhere).args(["gc", "--yes", "keep"]).output().expect("runs");
    let err = stderr_of(&out);
    assert_eq!(out.status.code(), Some(4), "{err}");
    assert!(err.contains("refusing to collect what a project directory still claims"), "{err}");
    assert!(err.contains(&format!("project `keep`: {}", keep.display())), "{err}");
    assert!(err.contains("kilter -C DIR destroy"), "{err}");
    assert_eq!(container_status(&env, &node("keep")).as_deref(), Some("running"));
    let out = env.kilter(&elsewhere).args(["gc", "--yes", "nope"]).output().expect("runs");
    assert_eq!(out.status.code(), Some(4), "{}", stderr_of(&out));
    assert!(stderr_of(&out).contains("kilter knows nothing of `nope`"), "{}", stderr_of(&out));
    // The cluster's name works as well as the project's.
    std::fs::write(keep.join("kilter.yaml"), "name: other\n").expect("w");
    let out = env.kilter(&elsewhere).args(["gc", "--yes", "kilter-keep"]).output().expect("runs");
    assert!(out.status.success(), "{}", stderr_of(&out));
    assert!(env.container(&node("keep")).is_none());
}

/// `kilter gc kilter-x` names the project `kilter-x` when there is one, even though it is also
/// the name of project `x`'s cluster: a project's own name wins over a cluster's.
#[test]
fn gc_of_a_name_that_is_a_project_and_a_cluster_means_the_project() {
    let env = Env::new();
    let x = up(&env, "x");
    let kx = up(&env, "kilter-x");
    let elsewhere = env.project("elsewhere");
    let out = env.kilter(&elsewhere).args(["gc", "--yes", "kilter-x"]).output().expect("runs");
    let err = stderr_of(&out);
    assert_eq!(out.status.code(), Some(4), "{err}");
    assert!(err.contains(&format!("project `kilter-x`: {}", kx.display())), "{err}");
    assert!(!err.contains(&format!("project `x`: {}", x.display())), "{err}");
}

/// A slot freed by `gc` is taken by the next project that wants it.
#[test]
fn gc_frees_a_port_slot_that_is_then_reused() {
    let env = Env::new();
    let (_, base) = ports_of("old");
    // `p32` prefers the same slot as `old` (126; see `ports_of`)
    let twin = "p32".to_owned();
    let old = up(&env, "old");
    env.kilter(&old).args(["destroy", "--yes"]).assert().success();
    std::fs::remove_dir_all(&old).expect("rm");
    let slot_of = |env: &Env, n: &str| registry(env)["projects"][n]["slot"].as_u64();
    let taken = slot_of(&env, "old").expect("old keeps its slot after destroy");

    let elsewhere = env.project("elsewhere");
    env.kilter(&elsewhere).args(["gc", "--yes"]).assert().success();
    assert_eq!(slot_of(&env, "old"), None);
    let twin_dir = up(&env, &twin);
    assert_eq!(slot_of(&env, &twin), Some(taken), "the freed slot is reused");
    let ls = json(&env.kilter(&twin_dir).args(["ls", "--json"]).output().expect("ls"));
    assert_eq!(row(&ls, &twin)["port_base"], base);
}

/// A taken preferred slot: `up` probes forward to the next free one, and wraps around after the
/// last (docs/files.md "Port slots"). The expected ports are literals worked out by hand from
/// that formula: `p118` prefers slot 17 like `shop`, `p136` prefers slot 137 like `p55`.
#[test]
fn a_taken_preferred_slot_probes_to_the_next_free_one_and_wraps_around() {
    let env = Env::new();
    let shop = up(&env, "shop");
    up(&env, "p118");
    up(&env, "p55");
    up(&env, "p136");
    let ls = json(&env.kilter(&shop).args(["ls", "--json"]).output().expect("ls"));
    let ports = |n: &str| (row(&ls, n)["tilt_port"].as_u64(), row(&ls, n)["port_base"].as_u64());
    assert_eq!(ports("shop"), (Some(10368), Some(30340)), "slot 17");
    assert_eq!(ports("p118"), (Some(10369), Some(30360)), "17 is taken: slot 18");
    assert_eq!(ports("p55"), (Some(10488), Some(32740)), "slot 137");
    assert_eq!(ports("p136"), (Some(10351), Some(30000)), "137 is taken: wraps to slot 0");
    let reg = registry(&env);
    let slots: Vec<_> = ["shop", "p118", "p55", "p136"]
        .iter()
        .map(|n| reg["projects"][n]["slot"].as_u64())
        .collect();
    assert_eq!(slots, [Some(17), Some(18), Some(137), Some(0)]);
    // What Tilt was started with.
    let mut tilts: Vec<(u64, String)> = env
        .tilt_records()
        .iter()
        .map(|r| (r["port"].as_u64().unwrap(), r["kilter_env"]["KILTER_PORT_BASE"].to_string()))
        .collect();
    tilts.sort();
    assert_eq!(
        tilts,
        [
            (10351, "\"30000\"".into()),
            (10368, "\"30340\"".into()),
            (10369, "\"30360\"".into()),
            (10488, "\"32740\"".into())
        ]
    );
}

/// On a terminal, `gc` asks for `yes`: anything else removes nothing (exit 4).
#[test]
fn gc_on_a_terminal_asks_for_yes() {
    let Some(script) = crate::support::script_or_skip("many::gc_on_a_terminal_asks_for_yes") else {
        return;
    };
    let env = Env::new();
    let gone = up(&env, "gone");
    std::fs::remove_dir_all(&gone).expect("rm");
    let here = env.project("elsewhere");
    let kilter = env!("CARGO_BIN_EXE_kilter");
    let run = |answer: &str| {
        let cmd = crate::support::on_a_terminal(script, &env, &here, &format!("{kilter} gc"));
        crate::support::answered(cmd, answer)
    };
    for wrong in ["y", "gone", ""] {
        let out = run(wrong);
        let shown = format!("{}{}", stdout_of(&out), stderr_of(&out));
        assert_eq!(out.status.code(), Some(4), "{wrong:?}: {shown}");
        assert!(shown.contains("Type `yes` to remove 1 item: "), "{shown}");
        assert!(shown.contains("nothing was removed"), "{shown}");
        assert!(env.container(&node("gone")).is_some(), "nothing removed after {wrong:?}");
    }
    let out = run("yes");
    assert_eq!(out.status.code(), Some(0), "{}{}", stdout_of(&out), stderr_of(&out));
    assert!(env.container(&node("gone")).is_none());
}

#[test]
fn gc_dry_run_replays_to_the_same_state() {
    let dead = dead_pid();
    let script = assert_replay_equivalent_in(
        |env| {
            let z = zoo(env, dead);
            (z.here, z.all)
        },
        &["gc", "--yes", "--snapshots"],
    );
    assert!(script.contains("kind delete cluster --name kilter-gone --kubeconfig"), "{script}");
    assert!(!script.contains("kilter-renamed"), "a live directory's claim stands: {script}");
    assert!(script.contains("rm -rf "), "{script}");
    assert!(script.contains("ports.json"), "the registry rewrite: {script}");
    assert!(script.contains("half.dump.partial"), "{script}");
}

#[test]
fn gc_of_a_named_project_dry_run_replays_to_the_same_state() {
    let dead = dead_pid();
    let script = assert_replay_equivalent_in(
        |env| {
            let z = zoo(env, dead);
            (z.here, z.all)
        },
        &["gc", "--yes", "renamed"],
    );
    assert!(script.contains("kind delete cluster --name kilter-renamed --kubeconfig"), "{script}");
    assert!(!script.contains("kilter-gone"), "only the named project: {script}");
}

#[test]
fn gc_with_the_docker_daemon_down_exits_3_and_removes_nothing() {
    let env = Env::new();
    let gone = up(&env, "gone");
    std::fs::remove_dir_all(&gone).expect("rm");
    env.ctl(&["daemon", "down"]);
    let here = env.project("elsewhere");
    let out = env.kilter(&here).args(["gc", "--yes"]).output().expect("runs");
    assert_eq!(out.status.code(), Some(3), "{}", stderr_of(&out));
    assert!(env.cache_dir("gone").exists());
    env.ctl(&["daemon", "up"]);
    let out = env.kilter(&here).args(["stop", "--all"]).output().expect("runs");
    assert!(out.status.success(), "{}", stderr_of(&out));
}

// ---------------------------------------------------------------------------------------------
// doctor

fn memory_check(env: &Env, dir: &Path) -> Value {
    let out = env.kilter(dir).args(["doctor", "--json"]).output().expect("runs");
    let v = json(&out);
    v["checks"]
        .as_array()
        .and_then(|c| c.iter().find(|c| c["name"] == "memory"))
        .cloned()
        .unwrap_or_else(|| panic!("no memory check in {v}"))
}

/// doctor warns when the running clusters plus a new one (1 GiB) exceed Docker's MemTotal.
#[test]
fn doctor_warns_when_a_new_cluster_would_not_fit_in_dockers_memory() {
    let env = Env::new();
    env.set_knob("mem_total", &(3 * GIB).to_string());
    up(&env, "alpha");
    up(&env, "bravo");
    let newcomer = project(&env, "newcomer", Some("name: newcomer\n"), false);
    // 2 × 650 MiB + 1 GiB fits in 3 GiB
    let c = memory_check(&env, &newcomer);
    assert_eq!(c["status"], "ok", "{c}");
    assert_eq!(
        c["detail"],
        "Docker has 3.0 GiB; 2 running kilter clusters use 1.3 GiB; a new cluster needs about 1.0 GiB more"
    );
    env.ctl(&["stats", &node("bravo"), "--mem", &(1400 * MIB).to_string()]);
    let c = memory_check(&env, &newcomer);
    assert_eq!(c["status"], "warn", "650 MiB + 1400 MiB + 1 GiB > 3 GiB: {c}");
    assert!(c["fix"].as_str().is_some_and(|f| f.contains("kilter stop --all")), "{c}");
    // from a project whose cluster already runs, nothing new has to fit
    let c = memory_check(&env, &env.project("alpha"));
    assert_eq!(c["status"], "ok", "{c}");
    // the text form shows it with its fix
    let out = env.kilter(&newcomer).arg("doctor").output().expect("runs");
    let text = stdout_of(&out);
    assert!(text.contains("! memory") && text.contains("fix: `kilter stop --all`"), "{text}");
}

/// `gc` decides again under the project's lock: a cluster named on the command line whose
/// directory claims it once more while `gc` waits for that lock (an `up --adopt`, a restored
/// checkout) is kept. Named or not, a cluster whose directory is gone is listed for that reason.
#[test]
fn gc_keeps_a_named_cluster_whose_directory_claims_it_while_gc_waits_for_its_lock() {
    let env = Env::new();
    let dir = up(&env, "shop");
    std::fs::remove_dir_all(&dir).expect("rm");
    let lock = hold_project_lock(&env, "shop");
    let elsewhere = env.project("elsewhere");
    let mut gc = env
        .kilter_std(&elsewhere)
        .args(["gc", "--yes", "shop"])
        .stderr(std::process::Stdio::piped())
        .spawn()
        .expect("spawn");
    let mut err = std::io::BufReader::new(gc.stderr.take().expect("stderr"));
    let before = read_lines_until(&mut err, "waiting for ", "gc");
    let listed = format!("cluster kilter-shop (running): its directory {} is gone", dir.display());
    assert!(before.contains(&listed), "{before}");
    assert!(!before.contains("named on the command line"), "{before}");
    // The directory is back, as it was, before gc gets the lock.
    std::fs::create_dir_all(&dir).expect("mkdir");
    std::fs::write(dir.join("kilter.yaml"), "name: shop\n").expect("w");
    lock.unlock().expect("unlock");
    let mut after = String::new();
    std::io::Read::read_to_string(&mut err, &mut after).expect("read");
    let status = gc.wait().expect("wait");
    assert!(status.success(), "{before}{after}");
    assert!(after.contains("kept cluster kilter-shop: "), "{after}");
    assert_eq!(container_status(&env, &node("shop")).as_deref(), Some("running"), "{after}");
    assert!(env.cache_dir("shop").join("kubeconfig").exists());
}

/// The project `gc` runs in is never collected, even when its recorded directory is gone
/// because the project was moved: `gc` from the new place keeps its cluster.
#[test]
fn gc_never_collects_the_project_it_runs_in_after_the_project_moved() {
    let env = Env::new();
    let old = up(&env, "shop");
    let new = env.root().join("work/moved-shop");
    std::fs::rename(&old, &new).expect("mv");
    let out = env.kilter(&new).args(["gc", "--yes"]).output().expect("runs");
    let err = stderr_of(&out);
    assert!(out.status.success(), "{err}");
    assert!(!err.contains("cluster kilter-shop"), "{err}");
    assert_eq!(container_status(&env, &node("shop")).as_deref(), Some("running"), "{err}");
    assert!(env.cache_dir("shop").join("kubeconfig").exists(), "{err}");
}
