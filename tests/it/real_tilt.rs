//! The real-Tilt tier: kilter's verbs with the real Tilt v0.37.6 on PATH and the fake
//! docker/kind/kubectl (support/real_tilt.rs). Every test is `#[ignore]`d with `real_tilt` in its
//! name; `cargo test --test it real_tilt -- --include-ignored` runs them (scripts/test.sh's
//! real-tilt stage, required under `CI=true`).
//!
//! The Tiltfiles are `local_resource`s (real Tilt runs them without a cluster), among them a
//! `serve_cmd` that ignores SIGTERM and one that forks a grandchild, and Kubernetes resources
//! against the fake cluster, whose API port nothing serves (the unreachable cluster). After every
//! scenario no process the scenario started may be left (the process table is walked for the
//! Env's own environment), and Tilt's port is free.

use std::path::{Path, PathBuf};
use std::time::Duration;

use crate::helpers::*;
use crate::support::{Env, Leftover, pid_alive, read};

/// A `serve_cmd` that ignores SIGTERM (real Tilt gives up on it after ~2 s), one that forks a
/// grandchild into its own process group, and a Tiltfile `local()`.
const STUBBORN: &str = "\
local('echo loaded')
local_resource('stubborn', serve_cmd='trap \"\" TERM; while true; do sleep 1; done')
local_resource('forker', serve_cmd='(sleep 300 &) ; sleep 301')
";

/// Kubernetes resources: Tilt connects to the cluster, whose API nothing serves here.
const K8S: &str = "\
k8s_yaml(blob('''
apiVersion: v1
kind: ConfigMap
metadata:
  name: settings
data:
  a: b
'''))
local_resource('hello', cmd='echo hello')
";

fn setup(tiltfile: &str) -> Option<(Env, PathBuf)> {
    let env = Env::real_tilt()?;
    let dir = project(&env, "shop", Some("name: shop\n"), false);
    std::fs::write(dir.join("Tiltfile"), tiltfile).expect("write Tiltfile");
    Some((env, dir))
}

fn run(env: &Env, dir: &Path, args: &[&str]) -> std::process::Output {
    env.kilter(dir).args(args).timeout(Duration::from_secs(120)).output().expect("kilter runs")
}

fn ok(env: &Env, dir: &Path, args: &[&str]) -> std::process::Output {
    let out = run(env, dir, args);
    assert!(out.status.success(), "kilter {args:?}: {}\n{}", stderr_of(&out), stdout_of(&out));
    out
}

/// Nothing the scenario started still runs, and the Tilt port is free.
fn assert_clean(env: &Env, after: &str) {
    let left: Vec<Leftover> = env.settle_leftovers(3);
    assert!(
        left.is_empty(),
        "after {after}, processes of the scenario are still running:\n  {}",
        left.iter().map(ToString::to_string).collect::<Vec<_>>().join("\n  ")
    );
    let port = ports_of("shop").0;
    assert!(
        env.in_net(|| std::net::TcpStream::connect(("127.0.0.1", port)).is_err()),
        "after {after}, port {port} is still held"
    );
}

/// Wait until a process of this Env whose command line contains `needle` runs (a real Tilt
/// on a loaded two-core machine took more than 20 s to start a local resource once).
fn wait_for_process(env: &Env, needle: &str) -> Leftover {
    let mut found = None;
    let seen = crate::support::wait_until(Duration::from_secs(60), || {
        found = env.leftovers().into_iter().find(|p| p.cmd.contains(needle));
        found.is_some()
    });
    assert!(seen, "no process `{needle}` started; running: {:?}", env.leftovers());
    found.expect("found")
}

fn pgrp(pid: i32) -> Option<i32> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    stat.rsplit_once(')')?.1.split_whitespace().nth(2)?.parse().ok()
}

#[test]
#[ignore = "real-Tilt tier: scripts/test.sh, or cargo test --test it real_tilt -- --include-ignored"]
fn real_tilt_down_ends_tilt_and_every_command_it_started_in_groups_of_its_own() {
    let Some((env, dir)) = setup(STUBBORN) else { return };
    ok(&env, &dir, &["up"]);
    let pid = tilt_pid(&env, "shop").expect("tilt.json");
    assert_eq!(pgrp(pid), Some(pid), "kilter's Tilt leads its process group");
    let stubborn = wait_for_process(&env, "while true; do sleep 1; done");
    let grandchild = wait_for_process(&env, "sleep 300");
    assert_ne!(stubborn.pgid, pid, "real Tilt runs its commands in groups of their own");
    assert_ne!(grandchild.pgid, pid);

    // status lists Tilt's resources from its API.
    let status = ok(&env, &dir, &["status", "--json"]);
    let v: serde_json::Value = serde_json::from_slice(&status.stdout).expect("json");
    let names = tilt_resource_names(&v);
    assert_eq!(names, ["(Tiltfile)", "stubborn", "forker"], "{v}");
    assert_eq!(v["tilt"]["resources"][0]["update"], "ok");
    // The serve_cmd's runtime turns ok once Tilt has seen it start.
    let runtime_ok = crate::support::wait_until(Duration::from_secs(15), || {
        let status = ok(&env, &dir, &["status", "--json"]);
        let v: serde_json::Value = serde_json::from_slice(&status.stdout).expect("json");
        v["tilt"]["resources"][1]["runtime"] == "ok"
    });
    assert!(runtime_ok, "stubborn's runtime status became ok");

    let out = ok(&env, &dir, &["down"]);
    assert!(stderr_of(&out).contains(&format!("Stopped Tilt (pid {pid})")), "{}", stderr_of(&out));
    assert!(!env.cache_dir("shop").join("tilt.json").exists());
    assert_clean(&env, "kilter down");
}

#[test]
#[ignore = "real-Tilt tier: scripts/test.sh, or cargo test --test it real_tilt -- --include-ignored"]
fn real_tilt_up_again_stop_up_destroy_leave_one_tilt_or_none() {
    let Some((env, dir)) = setup(STUBBORN) else { return };
    ok(&env, &dir, &["up"]);
    wait_for_process(&env, "sleep 301");
    let first = tilt_pid(&env, "shop").expect("tilt.json");
    // `up` again restarts Tilt: the old one and all it ran are gone, one Tilt runs.
    let out = ok(&env, &dir, &["up"]);
    assert!(stderr_of(&out).contains("Restarting Tilt"), "{}", stderr_of(&out));
    let second = tilt_pid(&env, "shop").expect("tilt.json");
    assert_ne!(first, second);
    assert!(!pid_alive(first));
    wait_for_process(&env, "sleep 301");
    let tilts: Vec<Leftover> =
        env.leftovers().into_iter().filter(|p| p.cmd.contains(" up --port ")).collect();
    assert_eq!(tilts.len(), 1, "one Tilt: {tilts:?}");
    let sleeps = env.leftovers().into_iter().filter(|p| p.cmd == "sleep 301").count();
    assert_eq!(sleeps, 1, "the first Tilt's commands did not survive the restart");
    // `kilter restart` rolls the cluster's workloads and leaves Tilt alone.
    let out = run(&env, &dir, &["restart"]);
    assert!(out.status.code().is_some_and(|c| c <= 1), "{}", stderr_of(&out));
    assert_eq!(tilt_pid(&env, "shop"), Some(second));
    assert!(pid_alive(second), "restart leaves Tilt running");

    ok(&env, &dir, &["stop"]);
    assert_clean(&env, "kilter stop");
    assert_eq!(container_status(&env, "kilter-shop-control-plane").as_deref(), Some("exited"));

    ok(&env, &dir, &["up"]);
    wait_for_process(&env, "sleep 301");
    ok(&env, &dir, &["destroy", "--yes"]);
    assert_clean(&env, "kilter destroy");
}

#[test]
#[ignore = "real-Tilt tier: scripts/test.sh, or cargo test --test it real_tilt -- --include-ignored"]
fn real_tilt_a_tiltfile_error_fails_up_with_tilts_lines_unless_keep_going() {
    let Some((env, dir)) = setup("local_resource('a', cmd='echo a')\nfoo(\n") else { return };
    let out = run(&env, &dir, &["up"]);
    let err = stderr_of(&out);
    assert_eq!(out.status.code(), Some(1), "{err}");
    assert!(err.contains("Tilt could not load the Tiltfile"), "{err}");
    assert!(err.contains("Tiltfile:3:1: got end of file, want ')'"), "Tilt's own line: {err}");
    assert!(err.contains("--keep-going"), "{err}");
    assert!(!env.cache_dir("shop").join("tilt.json").exists(), "Tilt was stopped, not recorded");
    assert_clean(&env, "a failed up");
    assert_eq!(container_status(&env, "kilter-shop-control-plane").as_deref(), Some("running"));

    let out = ok(&env, &dir, &["up", "--keep-going"]);
    assert!(stderr_of(&out).contains("kept running: --keep-going"), "{}", stderr_of(&out));
    assert!(tilt_pid(&env, "shop").is_some_and(pid_alive));
    // Tilt may load the Tiltfile again meanwhile (its file watch): wait for its verdict.
    let mut status = String::new();
    crate::support::wait_until(Duration::from_secs(15), || {
        status = stdout_of(&ok(&env, &dir, &["status"]));
        status.contains("(Tiltfile) update error, runtime")
    });
    assert!(status.contains("(Tiltfile) update error, runtime"), "{status}");
    assert!(status.contains("got end of file"), "{status}");
    ok(&env, &dir, &["down"]);
    assert_clean(&env, "kilter down");
}

#[test]
#[ignore = "real-Tilt tier: scripts/test.sh, or cargo test --test it real_tilt -- --include-ignored"]
fn real_tilt_kubernetes_resources_against_an_unreachable_cluster_fail_up() {
    let Some((env, dir)) = setup(K8S) else { return };
    let out = run(&env, &dir, &["up"]);
    let err = stderr_of(&out);
    assert_eq!(out.status.code(), Some(1), "{err}");
    assert!(err.contains("Tilt cannot reach the cluster"), "{err}");
    assert!(err.contains("error connecting to your Kubernetes cluster"), "Tilt's line: {err}");
    // The whole message, its cause and advice included, not only the first line.
    assert!(err.contains("You will need to restart Tilt after resolving the issue."), "{err}");
    assert!(!err.contains("Reconciler error"), "Tilt's noise is not shown as an error: {err}");
    assert_clean(&env, "a failed up");
}

#[test]
#[ignore = "real-Tilt tier: scripts/test.sh, or cargo test --test it real_tilt -- --include-ignored"]
fn real_tilt_ci_passes_fails_and_meets_its_deadline_leaving_nothing() {
    let Some((env, dir)) = setup("local_resource('unit', cmd='echo tests pass')\n") else {
        return;
    };
    let out = run(&env, &dir, &["ci"]);
    assert_eq!(out.status.code(), Some(0), "{}", stderr_of(&out));
    let all = format!("{}{}", stdout_of(&out), stderr_of(&out));
    assert!(all.contains("SUCCESS. All workloads are healthy."), "{all}");
    assert_clean(&env, "a passing kilter ci");

    std::fs::write(dir.join("Tiltfile"), "local_resource('unit', cmd='echo broken; exit 3')\n")
        .expect("write");
    let out = run(&env, &dir, &["ci"]);
    assert_eq!(out.status.code(), Some(1), "{}", stderr_of(&out));
    assert_clean(&env, "a failing kilter ci");

    std::fs::write(dir.join("Tiltfile"), "foo(\n").expect("write");
    let out = run(&env, &dir, &["ci"]);
    assert_eq!(out.status.code(), Some(1), "{}", stderr_of(&out));
    let all = format!("{}{}", stdout_of(&out), stderr_of(&out));
    assert!(all.contains("got end of file"), "Tilt's line reaches the user: {all}");
    assert_clean(&env, "kilter ci with a Tiltfile error");

    // A Tiltfile `local()` that outlives the deadline: kilter ci exits 5 and nothing is left.
    std::fs::write(
        dir.join("Tiltfile"),
        "local('trap \"\" TERM; sleep 41')\nlocal_resource('unit', cmd='echo x')\n",
    )
    .expect("write");
    let out = run(&env, &dir, &["ci", "--timeout", "8s"]);
    assert_eq!(out.status.code(), Some(5), "{}", stderr_of(&out));
    assert_clean(&env, "kilter ci past its deadline");
    // Every path the failure report names exists (its error, help and summary lines).
    let err = stderr_of(&out);
    let report: String = err
        .lines()
        .filter(|l| {
            l.starts_with("error:") || l.starts_with("help:") || l.starts_with("  artifacts")
        })
        .collect::<Vec<_>>()
        .join("\n");
    assert!(report.contains("help:"), "{err}");
    for word in report.split_whitespace() {
        let path = word.trim_matches(|c: char| "()`',.:;".contains(c));
        if path.starts_with('/') && path.contains("kilter") {
            assert!(
                Path::new(path).exists(),
                "the report names {path}, which does not exist:\n{err}"
            );
        }
    }
}

#[test]
#[ignore = "real-Tilt tier: scripts/test.sh, or cargo test --test it real_tilt -- --include-ignored"]
fn real_tilt_up_ci_runs_tilt_ci_and_ends_what_it_started() {
    let Some((env, dir)) = setup(
        "local_resource('stubborn', serve_cmd='trap \"\" TERM; while true; do sleep 1; done', readiness_probe=None)\nlocal_resource('unit', cmd='echo ok')\n",
    ) else {
        return;
    };
    let out = run(&env, &dir, &["up", "--ci", "--timeout", "60s"]);
    // A serve_cmd never finishes: `tilt ci` waits for it to be ready, which it is at once.
    assert!(out.status.code().is_some(), "{}", stderr_of(&out));
    assert_clean(&env, "kilter up --ci");
}

/// The dry-run script as `shell` runs it, with this Env's environment and network.
fn run_script(env: &Env, dir: &Path, shell: &str, script: &[u8]) -> std::process::Output {
    let path = env.root().join(format!("plan-{shell}.sh"));
    std::fs::write(&path, script).expect("write script");
    let mut cmd = std::process::Command::new(format!("/bin/{shell}"));
    cmd.arg(&path).env_clear().envs(env.vars()).current_dir(dir);
    env.enter_net(&mut cmd);
    cmd.output().expect("shell runs")
}

#[test]
#[ignore = "real-Tilt tier: scripts/test.sh, or cargo test --test it real_tilt -- --include-ignored"]
fn real_tilt_dry_run_scripts_restart_the_running_tilt_under_sh_and_bash() {
    let Some((env, dir)) = setup(STUBBORN) else { return };
    ok(&env, &dir, &["up"]);
    wait_for_process(&env, "sleep 301");
    for shell in ["sh", "bash"] {
        let running = tilt_pid(&env, "shop").expect("tilt.json");
        // The port is this project's own Tilt's, which the plan stops first.
        let plan = run(&env, &dir, &["--dry-run", "up"]);
        assert!(plan.status.success(), "{shell}: {}", stderr_of(&plan));
        assert!(!stderr_of(&plan).contains("another program"), "{}", stderr_of(&plan));
        assert!(pid_alive(running), "a dry run stops nothing");
        let out = run_script(&env, &dir, shell, &plan.stdout);
        assert!(out.status.success(), "{shell} plan.sh: {}\n{}", stderr_of(&out), stdout_of(&out));
        assert!(!pid_alive(running), "{shell}: the script stopped the running Tilt");
        let pid = tilt_pid(&env, "shop").expect("the script records the new Tilt");
        assert!(pid_alive(pid), "{shell}: the recorded pid {pid} runs");
        assert_eq!(pgrp(pid), Some(pid), "{shell}: the recorded pid leads its process group");
        assert!(
            std::fs::read_to_string(format!("/proc/{pid}/cmdline"))
                .is_ok_and(|c| c.contains("tilt") && c.contains("up")),
            "{shell}: the recorded pid is Tilt itself"
        );
        wait_for_process(&env, "sleep 301");
    }
    let out = ok(&env, &dir, &["down"]);
    assert!(stderr_of(&out).contains("Stopped Tilt"), "{}", stderr_of(&out));
    assert_clean(&env, "kilter down after the scripts");
}

#[test]
#[ignore = "real-Tilt tier: scripts/test.sh, or cargo test --test it real_tilt -- --include-ignored"]
fn real_tilt_the_scripts_wait_fails_when_this_start_of_tilt_fails() {
    let Some((env, dir)) = setup("local_resource('a', cmd='echo a')\n") else { return };
    // An earlier run leaves Tilt's startup lines in tilt.log.
    ok(&env, &dir, &["up"]);
    ok(&env, &dir, &["down"]);
    assert!(read(env.cache_dir("shop").join("tilt.log")).contains("Initial Build"));
    let plan = run(&env, &dir, &["--dry-run", "up", "--timeout", "20s"]);
    assert!(plan.status.success(), "{}", stderr_of(&plan));
    // Another program takes the port before the script runs: this start of Tilt cannot bind.
    let _holder = env.hold_port(ports_of("shop").0);
    for shell in ["sh", "bash"] {
        let out = run_script(&env, &dir, shell, &plan.stdout);
        assert!(
            !out.status.success(),
            "{shell}: the script must fail where the real run fails: {}",
            stderr_of(&out)
        );
        assert!(stderr_of(&out).contains("waiting for Tilt"), "{}", stderr_of(&out));
    }
    drop(_holder);
    assert_clean(&env, "the failed scripts");
}

#[test]
#[ignore = "real-Tilt tier: scripts/test.sh, or cargo test --test it real_tilt -- --include-ignored"]
fn real_tilt_two_projects_at_once_and_stop_all() {
    let Some((env, dir)) = setup(STUBBORN) else { return };
    let other = project(&env, "alpha", Some("name: alpha\n"), false);
    std::fs::write(other.join("Tiltfile"), STUBBORN).expect("write");
    ok(&env, &dir, &["up"]);
    ok(&env, &other, &["up"]);
    let a = tilt_pid(&env, "shop").expect("shop's Tilt");
    let b = tilt_pid(&env, "alpha").expect("alpha's Tilt");
    assert!(pid_alive(a) && pid_alive(b));
    let sleeps = crate::support::wait_until(Duration::from_secs(20), || {
        env.leftovers().iter().filter(|p| p.cmd == "sleep 301").count() == 2
    });
    assert!(sleeps, "both projects' commands run: {:?}", env.leftovers());
    ok(&env, &dir, &["stop", "--all"]);
    assert_clean(&env, "kilter stop --all");
    let alpha_port = ports_of("alpha").0;
    assert!(env.in_net(|| std::net::TcpStream::connect(("127.0.0.1", alpha_port)).is_err()));
}

#[test]
#[ignore = "real-Tilt tier: scripts/test.sh, or cargo test --test it real_tilt -- --include-ignored"]
fn real_tilt_up_attach_ctrl_c_ends_tilt_and_its_commands() {
    let Some((env, dir)) = setup(STUBBORN) else { return };
    let child = env
        .kilter_std(&dir)
        .args(["up", "--attach"])
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .expect("spawn");
    wait_for_process(&env, "while true; do sleep 1; done");
    wait_for_process(&env, "sleep 301");
    // What a terminal's Ctrl-C does to kilter (kilter passes it on to Tilt).
    // SAFETY: plain kill(2) on our own child.
    unsafe { libc::kill(child.id() as i32, libc::SIGINT) };
    let out = child.wait_with_output().expect("wait");
    assert!(out.status.code().is_some(), "{}", stderr_of(&out));
    assert!(stderr_of(&out).contains("keeps running"), "{}", stderr_of(&out));
    assert_clean(&env, "Ctrl-C on kilter up --attach");
}

#[test]
#[ignore = "real-Tilt tier: scripts/test.sh, or cargo test --test it real_tilt -- --include-ignored"]
fn real_tilt_ci_dry_run_plans_around_the_dev_tilt_and_ci_stops_it_first() {
    let Some((env, dir)) = setup("local_resource('unit', cmd='echo ok')\n") else { return };
    ok(&env, &dir, &["up"]);
    let dev = tilt_pid(&env, "shop").expect("tilt.json");
    let plan = run(&env, &dir, &["--dry-run", "ci"]);
    assert!(plan.status.success(), "{}", stderr_of(&plan));
    assert!(pid_alive(dev), "a dry run stops nothing");
    let out = run(&env, &dir, &["ci"]);
    assert_eq!(out.status.code(), Some(0), "{}", stderr_of(&out));
    assert!(stderr_of(&out).contains(&format!("Stopped this project's detached Tilt (pid {dev})")));
    assert_clean(&env, "kilter ci after kilter up");
}

#[test]
#[ignore = "real-Tilt tier: scripts/test.sh, or cargo test --test it real_tilt -- --include-ignored"]
fn real_tilt_gc_of_a_project_whose_directory_is_gone_ends_its_tilt() {
    let Some((env, dir)) = setup(STUBBORN) else { return };
    ok(&env, &dir, &["up"]);
    wait_for_process(&env, "sleep 301");
    std::fs::remove_dir_all(&dir).expect("remove the project directory");
    let elsewhere = env.project("elsewhere");
    let out = ok(&env, &elsewhere, &["gc", "--yes"]);
    assert!(stderr_of(&out).contains("Stopped Tilt"), "{}", stderr_of(&out));
    assert_clean(&env, "kilter gc");
}

/// A real Tilt killed with SIGKILL leaves its `serve_cmd` running; `kilter down` finds it by the
/// mark every command of the Tilt it started inherits, and stops it.
#[test]
#[ignore = "real-Tilt tier: scripts/test.sh, or cargo test --test it real_tilt -- --include-ignored"]
fn real_tilt_down_stops_the_commands_of_a_tilt_that_was_killed() {
    let Some((env, dir)) = setup("local_resource('srv', serve_cmd='sleep 302')\n") else { return };
    ok(&env, &dir, &["up"]);
    let pid = tilt_pid(&env, "shop").expect("tilt.json");
    let cmd = wait_for_process(&env, "sleep 302");
    // SAFETY: kill(2) of the real Tilt this test's kilter started.
    unsafe { libc::kill(pid, libc::SIGKILL) };
    assert!(wait_dead(pid), "Tilt still runs");
    // Its leader is a zombie at once, but a thread of it may take a moment more to exit, and
    // its port is free only then (seen here: 1 run in 6).
    let port = ports_of("shop").0;
    let freed = crate::support::wait_until(Duration::from_secs(10), || {
        env.in_net(|| std::net::TcpStream::connect(("127.0.0.1", port)).is_err())
    });
    assert!(freed, "the killed Tilt still holds port {port}");
    assert!(pid_alive(cmd.pid), "its command outlives it");
    let out = ok(&env, &dir, &["down"]);
    let err = stderr_of(&out);
    assert!(
        err.contains(&format!(
            "Tilt (pid {pid}) had ended, but its commands still ran (process groups {}): stopping them",
            cmd.pgid
        )),
        "{err}"
    );
    assert!(!env.cache_dir("shop").join("tilt.json").exists());
    assert_clean(&env, "kilter down after Tilt was killed");
}
