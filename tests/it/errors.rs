//! Environment problems and failures (scenarios 12, 13) and error rendering.

use crate::helpers::*;
use crate::support::Env;

/// 12a. Every missing tool is named at once, exit 3.
#[test]
fn missing_tools_are_named_together_with_exit_3() {
    let env = Env::without(&["kind", "kubectl"]);
    let dir = project(&env, "shop", Some("name: shop\n"), false);
    let out = env.kilter(&dir).arg("up").output().expect("runs");
    assert_eq!(out.status.code(), Some(3));
    let err = stderr_of(&out);
    assert!(err.contains("kind, kubectl"), "{err}");
    assert!(
        err.contains("https://kind.sigs.k8s.io") && err.contains("kubernetes.io/docs/tasks/tools"),
        "install hints: {err}"
    );
    assert!(env.calls().is_empty(), "nothing ran");
    assert!(!err.contains("(from KILTER_"), "no override was set: {err}");

    // A `KILTER_<TOOL>` that names no executable is named with the variable, not taken for the
    // tool missing from PATH.
    let not_exec = env.root().join("kind-not-executable");
    std::fs::write(&not_exec, "#!/bin/sh\n").expect("write");
    let out = env.kilter(&dir).env("KILTER_KIND", &not_exec).arg("up").output().expect("runs");
    assert_eq!(out.status.code(), Some(3));
    let err = stderr_of(&out);
    let named = format!("kind (from KILTER_KIND={}: not an executable)", not_exec.display());
    assert!(err.contains(&named), "{err}");
    assert!(env.calls().is_empty(), "nothing ran");
}

#[test]
fn tilt_is_only_required_when_there_is_a_tiltfile() {
    let env = Env::without(&["tilt"]);
    let dir = project(&env, "shop", Some("name: shop\n"), false);
    let out = env.kilter(&dir).arg("up").output().expect("runs");
    assert!(out.status.success(), "{}", stderr_of(&out));
    assert!(stderr_of(&out).contains("Tilt was skipped"));
    // Asked for with --no-tilt: no note about a Tiltfile or an app, with or without one.
    for tiltfile in [false, true] {
        if tiltfile {
            std::fs::write(dir.join("Tiltfile"), "").expect("write");
        }
        let out = env.kilter(&dir).args(["up", "--no-tilt"]).output().expect("runs");
        let err = stderr_of(&out);
        assert!(out.status.success(), "{err}");
        assert!(!err.contains("Tilt was skipped") && !err.contains("no Tiltfile"), "{err}");
    }
    let out = env.kilter(&dir).arg("up").output().expect("runs");
    assert_eq!(out.status.code(), Some(3), "{}", stderr_of(&out));
    assert!(stderr_of(&out).contains("tilt"));
}

/// 12b. Docker daemon down, in both client behaviours: exit 3 with a hint, nothing created.
#[test]
fn docker_daemon_down_exits_3_with_a_hint() {
    for mode in ["down", "down-old"] {
        let env = Env::new();
        let dir = project(&env, "shop", Some("name: shop\n"), false);
        env.ctl(&["daemon", mode]);
        let out = env.kilter(&dir).arg("up").output().expect("runs");
        assert_eq!(out.status.code(), Some(3), "{mode}: {}", stderr_of(&out));
        let err = stderr_of(&out);
        assert!(err.contains("Cannot connect to the Docker daemon"), "{mode}: {err}");
        assert!(err.contains("help:") && err.contains("docker info"), "{mode}: {err}");
        assert!(env.calls_of("kind").is_empty(), "{mode}: no create");
        // The hint names DOCKER_HOST when it is set (an empty one is not set).
        for (host, named) in [("unix:///nonexistent/docker.sock", true), ("", false)] {
            let out = env.kilter(&dir).env("DOCKER_HOST", host).arg("up").output().expect("runs");
            let err = stderr_of(&out);
            assert_eq!(out.status.code(), Some(3), "{mode} {host:?}: {err}");
            assert_eq!(
                err.contains(&format!("(DOCKER_HOST is set to {host})")),
                named,
                "{mode} {host:?}: {err}"
            );
        }
        env.ctl(&["daemon", "up"]);
        env.kilter(&dir).arg("up").assert().success();
    }
}

/// `-q` hides progress, never errors: a runtime error (not only a usage error) still prints its
/// message and hint, with the same exit code.
#[test]
fn runtime_errors_still_show_with_q() {
    // docker missing: exit 3, and the same message and hint as without -q
    let env = Env::without(&["docker"]);
    let dir = project(&env, "shop", Some("name: shop\n"), false);
    let loud = env.kilter(&dir).arg("up").output().expect("runs");
    let quiet = env.kilter(&dir).args(["-q", "up"]).output().expect("runs");
    assert_eq!((loud.status.code(), quiet.status.code()), (Some(3), Some(3)));
    let err = stderr_of(&quiet);
    assert!(err.starts_with("error: a required tool was not found on PATH: docker\n"), "{err}");
    assert!(err.contains("https://docs.docker.com/engine/install/"), "{err}");
    assert_eq!(err, stderr_of(&loud));

    // the daemon down: exit 3 with the client's message and the hint, and no progress lines
    let env = Env::new();
    let dir = project(&env, "shop", Some("name: shop\n"), false);
    env.ctl(&["daemon", "down"]);
    let out = env.kilter(&dir).args(["-q", "up"]).output().expect("runs");
    assert_eq!(out.status.code(), Some(3), "{}", stderr_of(&out));
    let err = stderr_of(&out);
    assert!(err.starts_with("error: "), "only the error, no progress: {err}");
    assert!(err.contains("Cannot connect to the Docker daemon"), "{err}");
    assert!(err.contains("help:") && err.contains("docker info"), "{err}");
}

/// 13. Health never comes: exit 5 saying what it waited for and the last answer.
#[test]
fn health_timeout_exits_5_with_what_it_waited_for() {
    let env = Env::new();
    let dir = project(&env, "shop", Some("name: shop\n"), false);
    env.set_knob("ready_delay_ms", "600000");
    // Long enough for the steps before the wait on a loaded machine (the registry's, a cluster
    // create), so that it is the wait the deadline ends.
    let out = env.kilter(&dir).args(["up", "--timeout", "4s"]).output().expect("runs");
    assert_eq!(out.status.code(), Some(5), "{}", stderr_of(&out));
    let err = stderr_of(&out);
    assert!(err.contains("timed out after") && err.contains("/readyz"), "{err}");
    assert!(err.contains("last answer: The connection to the server 127.0.0.1:"), "{err}");
    // It is the command's deadline that ended the wait, and the error says which.
    assert!(err.contains("timed out after 4.0s (--timeout 4s) while waiting for"), "{err}");
}

#[test]
fn node_not_ready_is_what_the_timeout_names() {
    let env = Env::new();
    let dir = project(&env, "shop", Some("name: shop\n"), false);
    env.set_knob("node_ready_delay_ms", "600000");
    let out = env.kilter(&dir).args(["up", "--timeout", "4s"]).output().expect("runs");
    assert_eq!(out.status.code(), Some(5), "{}", stderr_of(&out));
    assert!(stderr_of(&out).contains("the node to become Ready"), "{}", stderr_of(&out));
}

/// A tool failing mid-way: summary, `$` line, stderr tail, hint, exit 1.
#[test]
fn kind_failure_shows_command_stderr_and_hint() {
    let env = Env::new();
    let dir = project(&env, "shop", Some("name: shop\n"), false);
    env.set_knob("create_fail", "1");
    let out = env.kilter(&dir).arg("up").output().expect("runs");
    assert_eq!(out.status.code(), Some(1), "{}", stderr_of(&out));
    let err = stderr_of(&out);
    assert!(
        err.contains("error: failed to create kind cluster kilter-shop (exit status 1)"),
        "{err}"
    );
    assert!(err.contains("  $ KUBECONFIG="), "{err}");
    assert!(err.contains("stderr:") && err.contains("failed to init node with kubeadm"), "{err}");
    assert!(err.contains("help:"), "{err}");
}

#[test]
fn tilt_that_fails_to_start_shows_its_log() {
    // 0: the error follows the announcement at once; 400: tilt has printed `Tilt started on …`
    // and is still alive for a while before its port bind fails, as real tilt can be.
    for bind_ms in ["0", "400"] {
        let env = Env::new();
        let dir = project(&env, "shop", Some("name: shop\n"), true);
        env.set_knob("tilt_fail_start", "1");
        env.set_knob("tilt_bind_ms", bind_ms);
        let started = std::time::Instant::now();
        let out = env.kilter(&dir).arg("up").output().expect("runs");
        // Seen as soon as it exits, not at the end of the 60 s start limit.
        let took = started.elapsed();
        assert!(took < std::time::Duration::from_secs(30), "bind_ms={bind_ms}: {took:?}");
        assert_eq!(out.status.code(), Some(1), "bind_ms={bind_ms}: {}", stderr_of(&out));
        let err = stderr_of(&out);
        assert!(
            err.contains("Tilt did not start: it exited with status 1")
                && err.contains("already have another process on port")
                && err.contains("Tilt started on http://127.0.0.1:"),
            "bind_ms={bind_ms}: {err}"
        );
        assert!(!env.cache_dir("shop").join("tilt.json").exists(), "no tilt.json for a dead Tilt");
    }
}

/// A Tilt that is slow to get past its port bind is still waited for, not declared failed.
#[test]
fn tilt_slow_to_bind_is_waited_for() {
    let env = Env::new();
    let dir = project(&env, "shop", Some("name: shop\n"), true);
    env.set_knob("tilt_bind_ms", "400");
    let out = env.kilter(&dir).arg("up").output().expect("runs");
    assert_eq!(out.status.code(), Some(0), "{}", stderr_of(&out));
    // kilter returns on `Initial Build`; the Tiltfile line follows it a moment later.
    let log_path = env.cache_dir("shop").join("tilt.log");
    let loaded =
        || std::fs::read_to_string(&log_path).is_ok_and(|l| l.contains("Successfully loaded"));
    assert!(
        crate::support::wait_until(std::time::Duration::from_secs(10), loaded),
        "{}",
        std::fs::read_to_string(&log_path).unwrap_or_default()
    );
    assert!(env.cache_dir("shop").join("tilt.json").exists());
    env.kilter(&dir).arg("down").assert().success();
}

#[test]
fn usage_errors_exit_2() {
    let env = Env::new();
    let dir = project(&env, "shop", None, false);
    assert_eq!(env.kilter(&dir).arg("frobnicate").output().expect("runs").status.code(), Some(2));
    assert_eq!(
        env.kilter(&dir).args(["-v", "-q", "up"]).output().expect("runs").status.code(),
        Some(2)
    );
    assert!(env.calls().is_empty());
}

/// Bad numbers are invalid input (exit 4) with the rule, never a panic, and change nothing.
#[test]
fn bad_numbers_exit_4_and_never_panic() {
    let env = Env::new();
    let dir = project(&env, "shop", None, false);
    for t in ["soon", "-1s", "inf", "NaN", "99999999999999999999h", "8d"] {
        let out = env.kilter(&dir).args(["up", &format!("--timeout={t}")]).output().expect("runs");
        assert_eq!(out.status.code(), Some(4), "--timeout {t}: {}", stderr_of(&out));
        assert!(stderr_of(&out).contains("--timeout"), "{}", stderr_of(&out));
    }
    // Every verb with a --timeout checks it before it does anything.
    for verb in [&["ci"][..], &["add", "redis"], &["remove", "redis"], &["restart"]] {
        let out = env.kilter(&dir).args(verb).arg("--timeout=soon").output().expect("runs");
        assert_eq!(out.status.code(), Some(4), "{verb:?}: {}", stderr_of(&out));
        assert!(stderr_of(&out).contains("--timeout"), "{verb:?}: {}", stderr_of(&out));
        assert!(!dir.join("kilter.yaml").exists(), "{verb:?} changed nothing");
    }
    let out = env.kilter(&dir).args(["status", "--probe-timeout", "x"]).output().expect("runs");
    assert_eq!(out.status.code(), Some(4), "{}", stderr_of(&out));
    for v in ["-1", "inf", "NaN", "5m"] {
        let out =
            env.kilter(&dir).env("KILTER_LOCK_TIMEOUT", v).arg("down").output().expect("runs");
        assert_eq!(out.status.code(), Some(4), "KILTER_LOCK_TIMEOUT={v}: {}", stderr_of(&out));
        assert!(stderr_of(&out).contains("KILTER_LOCK_TIMEOUT"), "{}", stderr_of(&out));
    }
    assert!(env.calls().is_empty(), "{:?}", env.calls());
}

/// A tool that cannot be started at all (its `#!` interpreter is missing): kilter names the
/// command it could not run and the system's reason (once), and exits 3.
#[test]
fn a_tool_that_cannot_be_started_is_named_with_the_reason() {
    let env = Env::new();
    let dir = project(&env, "shop", Some("name: shop\n"), false);
    let docker = executable(&env, "docker-broken", "#!/nonexistent/interpreter\n");
    let out = env.kilter(&dir).env("KILTER_DOCKER", &docker).arg("ls").output().expect("runs");
    let err = stderr_of(&out);
    assert_eq!(out.status.code(), Some(3), "{err}");
    let first = err.lines().next().unwrap_or_default();
    let want = format!("error: could not run `{} ps -a ", docker.display());
    assert!(first.starts_with(&want), "{err}");
    assert!(first.ends_with(": No such file or directory (os error 2)"), "{err}");
    // The reason is said once: not again under "Caused by:".
    assert_eq!(err.matches("No such file or directory").count(), 1, "{err}");
    assert!(!err.contains("Caused by:"), "{err}");
    assert!(err.contains("help: run `kilter doctor` to check the tools kilter needs"), "{err}");
}
