//! Tilt handling: `--ci`, `--attach`, stale records (docs/commands.md, "kilter up", "kilter down").

use std::time::{Duration, Instant};

use crate::helpers::*;
use crate::support::{Env, pid_alive, wait_until};

#[test]
fn up_ci_runs_tilt_ci_in_the_foreground_and_exits_with_its_code() {
    let env = Env::new();
    let dir = project(&env, "shop", Some("name: shop\n"), true);
    let out = env.kilter(&dir).args(["up", "--ci"]).output().expect("runs");
    assert!(out.status.success(), "{}", stderr_of(&out));
    let tilt = env.calls_of("tilt");
    assert_eq!(tilt.len(), 1, "{tilt:?}");
    assert!(tilt[0].starts_with("tilt ci --port "), "{tilt:?}");
    assert!(
        stdout_of(&out).contains("SUCCESS. All workloads are healthy."),
        "Tilt's output reaches the terminal"
    );
    assert!(!env.cache_dir("shop").join("tilt.json").exists(), "nothing detached");

    env.set_knob("tilt_ci_fail", "1");
    let out = env.kilter(&dir).args(["up", "--ci"]).output().expect("runs");
    assert_eq!(out.status.code(), Some(1), "tilt ci's exit code: {}", stderr_of(&out));
    assert!(stderr_of(&out).contains("Error: Timeout after 30m0s"), "{}", stderr_of(&out));
}

/// `TILT_PORT` and `TILT_HOST` from the user's shell change nothing (kilter's flags win: the
/// project's port, the loopback), and `up` and `ci` say they are ignored; empty ones are unset.
#[test]
fn tilt_port_and_host_from_the_shell_are_overridden_and_named() {
    let env = Env::new();
    let dir = project(&env, "shop", Some("name: shop\n"), true);
    let out = env
        .kilter(&dir)
        .env("TILT_PORT", "9999")
        .env("TILT_HOST", "0.0.0.0")
        .arg("up")
        .output()
        .expect("runs");
    let err = stderr_of(&out);
    assert!(out.status.success(), "{err}");
    let record: serde_json::Value = serde_json::from_str(
        &std::fs::read_to_string(env.cache_dir("shop").join("tilt.json")).expect("tilt.json"),
    )
    .expect("json");
    let port = record["port"].as_u64().expect("port");
    for var in ["TILT_PORT=9999", "TILT_HOST=0.0.0.0"] {
        let note = format!(
            "{var} from your environment is ignored: this project's Tilt serves on 127.0.0.1:{port}"
        );
        assert!(err.contains(&note), "{note}\n{err}");
    }
    let tilt = env.calls_of("tilt");
    assert!(tilt[0].contains(&format!(" --port {port} --host 127.0.0.1 ")), "{tilt:?}");
    env.kilter(&dir).arg("down").assert().success();

    let out = env.kilter(&dir).env("TILT_PORT", "9999").arg("ci").output().expect("runs");
    let err = stderr_of(&out);
    assert!(out.status.success(), "{err}");
    assert!(
        err.contains(&format!(
            "TILT_PORT=9999 from your environment is ignored: `tilt ci` serves on 127.0.0.1:{port}"
        )),
        "{err}"
    );
    assert!(!err.contains("TILT_HOST"), "only what is set: {err}");

    let out = env.kilter(&dir).env("TILT_PORT", "").arg("up").output().expect("runs");
    assert!(out.status.success(), "{}", stderr_of(&out));
    assert!(!stderr_of(&out).contains("is ignored"), "empty is unset: {}", stderr_of(&out));
}

#[test]
fn up_attach_runs_tilt_in_the_foreground_and_ctrl_c_stops_tilt_only() {
    let env = Env::new();
    let dir = project(&env, "shop", Some("name: shop\n"), true);
    let child = env
        .kilter_std(&dir)
        .args(["up", "--attach"])
        .stderr(std::process::Stdio::piped())
        .spawn()
        .expect("spawn");
    assert!(wait_until(Duration::from_secs(10), || !env.tilt_pids().is_empty()), "tilt started");
    let tilt = env.tilt_pids()[0];
    // SAFETY: plain kill(2) on our own child (what a terminal's Ctrl-C does to kilter).
    unsafe { libc::kill(child.id() as i32, libc::SIGINT) };
    let out = child.wait_with_output().expect("wait");
    assert_eq!(out.status.code(), Some(0), "{}", stderr_of(&out));
    assert!(wait_dead(tilt), "Tilt stopped");
    assert!(stderr_of(&out).contains("keeps running"), "{}", stderr_of(&out));
    assert_eq!(container_status(&env, "kilter-shop-control-plane").as_deref(), Some("running"));
    assert!(env.calls_of("tilt")[0].starts_with("tilt up --port"));
}

#[test]
fn a_stale_tilt_record_is_cleaned_up_never_signalled() {
    let env = Env::new();
    let dir = project(&env, "shop", Some("name: shop\n"), true);
    env.kilter(&dir).arg("up").assert().success();
    let real = tilt_pid(&env, "shop").expect("pid");
    env.kilter(&dir).arg("down").assert().success();
    assert!(wait_dead(real));

    // A live process that is not Tilt now has the recorded pid (pid reuse). It leads a process
    // group of its own, as our Tilt did, so a kill(-pid) would reach it (in the test's own group
    // it could not tell whether kilter signalled it).
    let mut bystander = std::process::Command::new("/bin/sleep");
    std::os::unix::process::CommandExt::process_group(&mut bystander, 0);
    let mut bystander = bystander.arg("30").spawn().expect("sleep");
    assert_eq!(pgrp(bystander.id() as i32), Some(bystander.id() as i32));
    let rec = serde_json::json!({"pid": bystander.id(), "port": ports_of("shop").0, "started_at": "2026-01-01T00:00:00Z", "tiltfile": "Tiltfile"});
    std::fs::write(env.cache_dir("shop").join("tilt.json"), rec.to_string()).expect("write");
    let out = env.kilter(&dir).arg("down").output().expect("runs");
    assert!(out.status.success(), "{}", stderr_of(&out));
    assert!(pid_alive(bystander.id() as i32), "a pid that is not our Tilt is never signalled");
    assert!(!env.cache_dir("shop").join("tilt.json").exists(), "the stale record is removed");
    let _ = bystander.kill();
    let _ = bystander.wait();
}

/// The process group of a live process (`/proc/<pid>/stat`, field 5).
fn pgrp(pid: i32) -> Option<i32> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    stat.rsplit_once(')')?.1.split_whitespace().nth(2)?.parse().ok()
}

/// The live fake Tilt and the child it started in a process group (and session) of its own, as
/// real Tilt runs each `local_resource` (docs/real-tools.md, "tilt").
fn tilt_and_child(env: &Env) -> (i32, i32) {
    let recs = env.tilt_records();
    assert_eq!(recs.len(), 1, "{recs:?}");
    let tilt = recs[0]["pid"].as_i64().expect("pid") as i32;
    let child = recs[0]["child_pid"].as_i64().expect("tilt up started a child") as i32;
    assert!(pid_alive(child), "the child runs");
    assert_eq!(pgrp(tilt), Some(tilt), "Tilt leads its own process group");
    assert_eq!(pgrp(child), Some(child), "the child leads a process group of its own");
    (tilt, child)
}

/// Project `shop` with a Tiltfile, brought up with these fake knobs set: its directory, and the
/// fake Tilt and its child ([`tilt_and_child`]).
fn up_with_tilt(env: &Env, knobs: &[(&str, &str)]) -> (std::path::PathBuf, i32, i32) {
    let dir = project(env, "shop", Some("name: shop\n"), true);
    for (k, v) in knobs {
        env.set_knob(k, v);
    }
    env.kilter(&dir).arg("up").assert().success();
    let (tilt, child) = tilt_and_child(env);
    (dir, tilt, child)
}

/// `down`, `stop` and `destroy` stop Tilt and the process groups of what it started (its local
/// resources and builds; here the fake's child, in a group of its own), at SIGTERM, without
/// waiting out the grace period (docs/commands.md, "kilter down").
#[test]
fn down_stop_and_destroy_stop_tilt_and_what_it_started() {
    let env = Env::new();
    let dir = project(&env, "shop", Some("name: shop\n"), true);
    for verb in [&["down"][..], &["stop"], &["destroy", "--yes"]] {
        env.kilter(&dir).arg("up").assert().success();
        let (tilt, child) = tilt_and_child(&env);
        let started = Instant::now();
        let out = env.kilter(&dir).args(verb).output().expect("runs");
        let took = started.elapsed();
        assert!(out.status.success(), "{verb:?}: {}", stderr_of(&out));
        assert!(wait_dead(tilt), "{verb:?}: Tilt still runs");
        assert!(wait_dead(child), "{verb:?}: the child in its own process group still runs");
        assert!(
            !stderr_of(&out).contains("did not stop within"),
            "{verb:?}: SIGTERM to the group was enough: {}",
            stderr_of(&out)
        );
        assert!(took < Duration::from_secs(5), "{verb:?} took {took:?}: no grace period waited");
    }
}

/// The process groups of what Tilt started are found before Tilt is signalled: a Tilt that is
/// gone at once on SIGTERM, signalling none of its commands, leaves nothing running after `down`.
#[test]
fn down_stops_tilts_commands_even_when_tilt_exits_at_once() {
    let env = Env::new();
    let (dir, tilt, child) = up_with_tilt(&env, &[("tilt_term_exits_at_once", "1")]);
    let out = env.kilter(&dir).arg("down").output().expect("runs");
    assert!(out.status.success(), "{}", stderr_of(&out));
    assert!(wait_dead(tilt), "Tilt still runs");
    assert!(wait_dead(child), "the command Tilt left behind still runs: {}", stderr_of(&out));
}

/// A Tilt that dies (killed, crashed) leaves its commands running in their own groups, no longer
/// its descendants. Every command a detached Tilt runs inherits the mark kilter starts it with
/// (`KILTER_TILT_RECORD`, its record's path): `down` finds them by it, stops them with a note,
/// and removes the stale record; its dry run names the same groups and stops nothing.
#[test]
fn down_stops_the_commands_a_dead_tilt_left_running() {
    let env = Env::new();
    let (dir, tilt, child) = up_with_tilt(&env, &[]);
    // SAFETY: kill(2) on the fake Tilt this test's kilter started.
    unsafe { libc::kill(tilt, libc::SIGKILL) };
    assert!(wait_dead(tilt), "Tilt still runs");
    assert!(pid_alive(child), "its command outlives it");
    let record = env.cache_dir("shop").join("tilt.json");
    let environ = std::fs::read(format!("/proc/{child}/environ")).expect("environ");
    let mark = format!("KILTER_TILT_RECORD={}", record.display());
    assert!(
        environ.split(|b| *b == 0).any(|kv| kv == mark.as_bytes()),
        "the command carries Tilt's mark"
    );
    let note = format!(
        "Tilt (pid {tilt}) had ended, but its commands still ran (process groups {child}): stopping them"
    );
    let plan = env.kilter(&dir).args(["down", "--dry-run"]).output().expect("runs");
    assert!(plan.status.success(), "{}", stderr_of(&plan));
    assert!(stderr_of(&plan).contains(&note), "{}", stderr_of(&plan));
    assert!(
        stdout_of(&plan).contains(&format!("kill -s TERM -- -{child} 2>/dev/null || true")),
        "{}",
        stdout_of(&plan)
    );
    assert!(pid_alive(child), "the dry run stops nothing");
    let out = env.kilter(&dir).arg("down").output().expect("runs");
    let err = stderr_of(&out);
    assert!(out.status.success(), "{err}");
    assert!(err.contains(&note), "{err}");
    assert!(wait_dead(child), "the command the dead Tilt left still runs: {err}");
    assert!(!err.contains("did not stop within"), "SIGTERM was enough: {err}");
    assert!(!record.exists(), "the stale record is removed");
    // The next `down` finds nothing more to stop.
    let out = env.kilter(&dir).arg("down").output().expect("runs");
    assert!(!stderr_of(&out).contains("had ended"), "{}", stderr_of(&out));
}

/// A command that left a running Tilt's process tree (a daemon that forked twice and started a
/// session of its own: its parent link no longer leads to Tilt) still carries Tilt's mark, and
/// `down` stops it with Tilt.
#[test]
fn down_stops_a_command_that_left_tilts_process_tree() {
    let env = Env::new();
    let (dir, tilt, child) = up_with_tilt(&env, &[]);
    let record = env.cache_dir("shop").join("tilt.json");
    // A process of the test's in a group of its own, with `mark` as Tilt's commands have it.
    let marked = |mark: &std::path::Path| {
        let mut c = std::process::Command::new("/bin/sleep");
        std::os::unix::process::CommandExt::process_group(&mut c, 0);
        c.arg("600").env("KILTER_TILT_RECORD", mark).spawn().expect("sleep")
    };
    // The daemon, with the environment Tilt gave it; and one with another project's mark,
    // which `down` leaves alone.
    let mut daemon = marked(&record);
    let mut other = marked(&env.cache_dir("other").join("tilt.json"));
    let out = env.kilter(&dir).arg("down").output().expect("runs");
    assert!(out.status.success(), "{}", stderr_of(&out));
    assert!(wait_dead(tilt) && wait_dead(child), "{}", stderr_of(&out));
    // kilter's SIGTERM ends it; the test reaps it (it is the test's child).
    let ended = wait_until(Duration::from_secs(5), || matches!(daemon.try_wait(), Ok(Some(_))));
    assert!(ended, "the command that left Tilt's tree still runs: {}", stderr_of(&out));
    assert!(pid_alive(other.id() as i32), "another project's command is left alone");
    let _ = other.kill();
    let _ = other.wait();
}

/// `down` with a fake knob that makes something ignore SIGTERM: kilter waits the documented 10 s
/// grace period, then SIGKILLs Tilt's group and its commands' groups, says so, and reports the
/// stop; the record is gone afterwards.
fn down_after_the_grace_period(knob: &str) {
    let env = Env::new();
    let (dir, tilt, child) = up_with_tilt(&env, &[(knob, "true")]);
    let started = Instant::now();
    let out = env.kilter(&dir).arg("down").output().expect("runs");
    let took = started.elapsed();
    let err = stderr_of(&out);
    assert!(out.status.success(), "{knob}: {err}");
    assert!(!pid_alive(tilt), "{knob}: Tilt was stopped before kilter returned");
    assert!(!pid_alive(child), "{knob}: its command, in a group of its own, too");
    assert!(
        err.contains(&format!(
            "Tilt (pid {tilt}) or one of its commands did not stop within 10s of SIGTERM"
        )),
        "{knob}: {err}"
    );
    assert!(err.contains(&format!("Stopped Tilt (pid {tilt})")), "{knob}: {err}");
    assert!(!err.contains("survived SIGKILL"), "{knob}: nothing outlived SIGKILL: {err}");
    assert!(
        took >= Duration::from_secs(10) && took < Duration::from_secs(14),
        "{knob}: the grace period is 10 s: down took {took:?}"
    );
    assert!(!env.cache_dir("shop").join("tilt.json").exists(), "{knob}: the record is removed");
}

/// A command of Tilt's that ignores SIGTERM outlives Tilt (which gives up on it after ~2 s):
/// kilter found its group before signalling (docs/commands.md, "kilter down").
#[test]
fn a_command_of_tilts_that_ignores_sigterm_is_killed_after_the_grace_period() {
    down_after_the_grace_period("tilt_child_ignore_term");
}

/// A Tilt that ignores SIGTERM itself (docs/commands.md, "kilter down").
#[test]
fn a_tilt_that_ignores_sigterm_is_killed_with_its_group_after_the_grace_period() {
    down_after_the_grace_period("tilt_ignore_term");
}

/// A `tilt.json` whose pid runs, with the recorded start time, but leads no process group (what a
/// dry-run script run by bash used to record: the subshell around Tilt) is not a Tilt kilter
/// started: `down` says what it found, signals nothing, keeps the record, and never says "Stopped
/// Tilt" (docs/commands.md, "kilter down").
#[test]
fn a_recorded_pid_that_leads_no_group_is_neither_stopped_nor_forgotten() {
    let env = Env::new();
    let dir = project(&env, "shop", Some("name: shop\n"), true);
    env.kilter(&dir).arg("up").assert().success();
    env.kilter(&dir).arg("down").assert().success();
    // In the test's own process group: alive, but not a group leader.
    // (Long enough to outlast `down` on a loaded machine; killed at the end.)
    let mut other = std::process::Command::new("/bin/sleep").arg("600").spawn().expect("sleep");
    let pid = other.id() as i32;
    assert_ne!(pgrp(pid), Some(pid));
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).expect("stat");
    let start = stat.rsplit_once(')').expect("stat").1.split_whitespace().nth(19).expect("start");
    let rec = serde_json::json!({"pid": pid, "start": start, "port": ports_of("shop").0,
        "started_at": "2026-01-01T00:00:00Z", "tiltfile": "Tiltfile"});
    let record = env.cache_dir("shop").join("tilt.json");
    std::fs::write(&record, rec.to_string()).expect("write");
    let out = env.kilter(&dir).arg("down").output().expect("runs");
    let err = stderr_of(&out);
    assert!(out.status.success(), "{err}");
    assert!(!err.contains("Stopped Tilt"), "nothing was stopped: {err}");
    assert!(err.contains("does not lead a process group"), "{err}");
    assert!(err.contains(&format!("pid {pid} (/bin/sleep 600)")), "what it found: {err}");
    assert!(pid_alive(pid), "it was not signalled");
    assert!(record.exists(), "the record is kept, not deleted as if Tilt had stopped");
    let status: serde_json::Value = serde_json::from_slice(
        &env.kilter(&dir).args(["status", "--json"]).output().unwrap().stdout,
    )
    .expect("json");
    assert_eq!(status["tilt"]["running"], false, "status does not call it kilter's Tilt");
    let _ = other.kill();
    let _ = other.wait();
}

/// A Tiltfile that takes a while to load (the fake's `tilt_load_ms`) is waited for: Tilt's API
/// is asked again until it has a verdict, so its error still fails `up`, and a good one passes
/// without the "had not finished loading" warning.
#[test]
fn up_waits_for_a_tiltfile_that_loads_slowly() {
    let env = Env::new();
    let dir = project(&env, "shop", Some("name: shop\n"), true);
    env.set_knob("tilt_load_ms", "700");
    std::fs::write(dir.join("Tiltfile"), "local_resource('a', cmd='echo a')\nfail(\"boom\")\n")
        .expect("write");
    let out = env.kilter(&dir).arg("up").output().expect("runs");
    let err = stderr_of(&out);
    assert_eq!(out.status.code(), Some(1), "{err}");
    assert!(err.contains("Tilt could not load the Tiltfile"), "{err}");
    assert!(!err.contains("had not finished loading"), "{err}");
    std::fs::write(dir.join("Tiltfile"), "local_resource('a', cmd='echo a')\n").expect("write");
    let out = env.kilter(&dir).arg("up").output().expect("runs");
    let err = stderr_of(&out);
    assert!(out.status.success(), "{err}");
    assert!(!err.contains("warning"), "{err}");
    env.kilter(&dir).arg("down").assert().success();
}

/// Kubernetes resources on a cluster Tilt cannot reach fail `up` like a Tiltfile that does not
/// load: Tilt's own words from its Cluster object, whole, exit 1, Tilt stopped and not recorded.
/// (Here Tilt is given a kubeconfig that does not exist; the real-Tilt tier has the real case.)
#[test]
fn a_cluster_tilt_cannot_reach_fails_up_with_tilts_message() {
    let env = Env::new();
    let dir = project(&env, "shop", Some("name: shop\n"), true);
    let missing = env.root().join("no-such-kubeconfig");
    let tilt = wrap_tool(
        &env,
        "tilt",
        "tilt-without-kubeconfig",
        "up*",
        &format!("export KUBECONFIG='{}'", missing.display()),
    );
    let out = env.kilter(&dir).env("KILTER_TILT", &tilt).arg("up").output().expect("runs");
    let err = stderr_of(&out);
    assert_eq!(out.status.code(), Some(1), "{err}");
    assert!(err.contains("Tilt cannot reach the cluster"), "{err}");
    assert!(err.contains("error connecting to your Kubernetes cluster"), "Tilt's line: {err}");
    assert!(err.contains("You will need to restart Tilt after resolving the issue."), "{err}");
    assert!(!env.cache_dir("shop").join("tilt.json").exists(), "Tilt was stopped, not recorded");
    assert!(wait_until(Duration::from_secs(5), || env.tilt_pids().iter().all(|&p| !pid_alive(p))));
}

/// A Tiltfile that does not load fails `up` with Tilt's own message: Tilt is stopped and not
/// recorded, the cluster stays up; `up --keep-going` keeps Tilt running with a warning.
#[test]
fn a_tiltfile_error_fails_up_with_tilts_line_unless_keep_going() {
    let env = Env::new();
    let dir = project(&env, "shop", Some("name: shop\n"), true);
    std::fs::write(dir.join("Tiltfile"), "local_resource('a', cmd='echo a')\nfail(\"boom\")\n")
        .expect("write");
    let out = env.kilter(&dir).arg("up").output().expect("runs");
    let err = stderr_of(&out);
    assert_eq!(out.status.code(), Some(1), "{err}");
    assert!(err.contains("Tilt could not load the Tiltfile"), "{err}");
    // Tilt's whole message, not only its first line (a traceback is three).
    let traceback = format!(
        "    Traceback (most recent call last):\n      {}:2:5: in <toplevel>\n    Error in fail: boom\n",
        dir.join("Tiltfile").display()
    );
    assert!(err.contains(&traceback), "Tilt's own words: {err}");
    assert!(err.contains("--keep-going"), "{err}");
    assert!(!env.cache_dir("shop").join("tilt.json").exists(), "Tilt was stopped, not recorded");
    assert!(wait_until(Duration::from_secs(5), || env.tilt_pids().iter().all(|&p| !pid_alive(p))));
    let node = env.container("kilter-shop-control-plane").expect("the cluster stays");
    assert_eq!(node["State"]["Status"], "running");

    let out = env.kilter(&dir).args(["up", "--keep-going"]).output().expect("runs");
    let err = stderr_of(&out);
    assert!(out.status.success(), "{err}");
    assert!(err.contains("Tilt could not load the Tiltfile (kept running: --keep-going)"), "{err}");
    assert!(tilt_pid(&env, "shop").is_some_and(pid_alive), "Tilt runs and is recorded");
    env.kilter(&dir).arg("down").assert().success();
}
