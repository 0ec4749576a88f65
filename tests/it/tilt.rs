//! Tilt handling: `--ci`, `--attach`, stale records (docs/commands.md, "kilter up", "kilter down").

use std::time::Duration;

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

    // A live process that is not Tilt now has the recorded pid (pid reuse).
    let mut bystander = std::process::Command::new("/bin/sleep").arg("30").spawn().expect("sleep");
    let rec = serde_json::json!({"pid": bystander.id(), "port": ports_of("shop").0, "started_at": "2026-01-01T00:00:00Z", "tiltfile": "Tiltfile"});
    std::fs::write(env.cache_dir("shop").join("tilt.json"), rec.to_string()).expect("write");
    let out = env.kilter(&dir).arg("down").output().expect("runs");
    assert!(out.status.success(), "{}", stderr_of(&out));
    assert!(pid_alive(bystander.id() as i32), "a pid that is not our Tilt is never signalled");
    assert!(!env.cache_dir("shop").join("tilt.json").exists(), "the stale record is removed");
    let _ = bystander.kill();
    let _ = bystander.wait();
}
