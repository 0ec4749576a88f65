//! Pods in status, logs, restart, exec against fake workloads (issue #3).

use std::time::Duration;

use crate::helpers::*;
use crate::support::{Env, wait_until};

fn running_project(env: &Env) -> std::path::PathBuf {
    let dir = project(env, "shop", Some("name: shop\n"), false);
    env.kilter(&dir).arg("up").assert().success();
    env.ctl(&["workload", "shop-dev", "web", "--replicas", "2", "--log", "web listening on :8080"]);
    env.ctl(&["workload", "shop-dev", "api", "--crash", "--restarts", "7"]);
    env.ctl(&["workload", "shop-dev", "worker", "--phase", "Pending"]);
    env.ctl(&[
        "workload",
        "shop-dev",
        "postgres",
        "--kind",
        "statefulset",
        "--container",
        "postgres",
        "--container",
        "exporter",
    ]);
    dir
}

#[test]
fn status_shows_pods_in_crashloop_and_pending() {
    let env = Env::new();
    let dir = running_project(&env);
    let out = env.kilter(&dir).args(["status", "--json"]).output().expect("runs");
    assert!(out.status.success(), "{}", stderr_of(&out));
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).expect("json");
    let pods = v["pods"].as_array().expect("pods");
    assert_eq!(pods.len(), 5, "{v}");
    let pod = |prefix: &str| {
        pods.iter()
            .find(|p| p["name"].as_str().is_some_and(|n| n.starts_with(prefix)))
            .cloned()
            .expect(prefix)
    };
    let api = pod("api-");
    assert_eq!(
        (api["status"].as_str(), api["ready"].as_str(), api["restarts"].as_u64()),
        (Some("CrashLoopBackOff"), Some("0/1"), Some(7))
    );
    let worker = pod("worker-");
    assert_eq!(
        (worker["status"].as_str(), worker["ready"].as_str(), worker["restarts"].as_u64()),
        (Some("Pending"), Some("0/1"), Some(0))
    );
    let db = pod("postgres-0");
    assert_eq!((db["status"].as_str(), db["ready"].as_str()), (Some("Running"), Some("2/2")));
    let text = stdout_of(&env.kilter(&dir).arg("status").output().expect("runs"));
    assert!(
        text.lines()
            .any(|l| l.contains("api-") && l.contains("CrashLoopBackOff") && l.contains(" 7 ")),
        "{text}"
    );
}

#[test]
fn logs_of_a_workload_and_of_an_unknown_service() {
    let env = Env::new();
    let dir = running_project(&env);
    let out = env.kilter(&dir).args(["logs", "postgres", "--tail", "5"]).output().expect("runs");
    assert!(out.status.success(), "{}", stderr_of(&out));
    let text = stdout_of(&out);
    assert!(
        text.contains("[pod/postgres-0/postgres]") && text.contains("[pod/postgres-0/exporter]"),
        "all containers, prefixed: {text}"
    );
    assert!(
        env.calls().iter().any(|c| c
            .ends_with("logs statefulset/postgres -n shop-dev --all-containers --prefix --tail 5")),
        "{:?}",
        env.calls()
    );

    let out = env.kilter(&dir).args(["logs", "nope"]).output().expect("runs");
    assert_eq!(out.status.code(), Some(4), "{}", stderr_of(&out));
    let err = stderr_of(&out);
    for w in
        ["api (deployment)", "postgres (statefulset)", "web (deployment)", "worker (deployment)"]
    {
        assert!(err.contains(w), "lists {w}: {err}");
    }
}

#[test]
fn logs_follow_streams_until_ctrl_c_and_exits_0() {
    let env = Env::new();
    let dir = running_project(&env);
    let child = env
        .kilter_std(&dir)
        .args(["logs", "postgres", "-f"])
        .stdout(std::process::Stdio::piped())
        .spawn()
        .expect("spawn");
    assert!(wait_until(Duration::from_secs(10), || env
        .calls()
        .iter()
        .any(|c| c.contains("logs statefulset/postgres") && c.ends_with(" -f"))));
    std::thread::sleep(Duration::from_millis(300));
    // SAFETY: kill(2) on our own child.
    unsafe { libc::kill(child.id() as i32, libc::SIGINT) };
    let out = child.wait_with_output().expect("wait");
    assert_eq!(out.status.code(), Some(0), "{}", stderr_of(&out));
    assert!(stdout_of(&out).contains("postgres"), "{}", stdout_of(&out));

    // Without Ctrl-C, a follow that kubectl ends in failure is kilter's failure: kubectl's code.
    let out = env
        .kilter(&dir)
        .args(["logs", "worker", "-f"])
        .timeout(Duration::from_secs(20))
        .output()
        .expect("runs");
    assert_eq!(out.status.code(), Some(1), "{}", stderr_of(&out));
    assert!(stderr_of(&out).contains("does not have a host assigned"), "{}", stderr_of(&out));
}

#[test]
fn commands_on_a_stopped_or_absent_cluster_say_so_instead_of_hanging() {
    let env = Env::new();
    let dir = project(&env, "shop", Some("name: shop\n"), false);
    for args in [&["logs", "web"][..], &["restart"], &["exec", "web", "--", "true"]] {
        let out =
            env.kilter(&dir).args(args).timeout(Duration::from_secs(20)).output().expect("runs");
        assert_eq!(out.status.code(), Some(1), "{args:?}: {}", stderr_of(&out));
        assert!(
            stderr_of(&out).contains("has no cluster") && stderr_of(&out).contains("kilter up"),
            "{args:?}: {}",
            stderr_of(&out)
        );
    }
    env.kilter(&dir).arg("up").assert().success();
    env.kilter(&dir).arg("stop").assert().success();
    let out = env.kilter(&dir).args(["logs", "web"]).output().expect("runs");
    assert_eq!(out.status.code(), Some(1));
    assert!(stderr_of(&out).contains("is exited"), "{}", stderr_of(&out));
    assert!(
        !env.calls().iter().any(|c| c.starts_with("kubectl") && c.contains(" logs ")),
        "no kubectl logs call"
    );
}

#[test]
fn restart_one_all_and_a_failing_rollout() {
    let env = Env::new();
    let dir = project(&env, "shop", Some("name: shop\n"), false);
    env.kilter(&dir).arg("up").assert().success();
    env.ctl(&["workload", "shop-dev", "web"]);
    env.ctl(&["workload", "shop-dev", "postgres", "--kind", "statefulset"]);

    let out = env.kilter(&dir).args(["restart", "web"]).output().expect("runs");
    assert!(out.status.success(), "{}", stderr_of(&out));
    let calls = env.calls();
    let r = calls
        .iter()
        .position(|c| c.ends_with("rollout restart deployment/web -n shop-dev"))
        .expect("restart");
    let s = calls
        .iter()
        .position(|c| c.contains("rollout status deployment/web -n shop-dev --timeout "))
        .expect("status");
    assert!(r < s);
    assert!(stderr_of(&out).contains("$ KUBECONFIG="), "the restart is echoed as a mutation");

    std::thread::sleep(Duration::from_millis(1100)); // kubectl refuses two restarts within a second
    let mark = env.calls().len();
    env.kilter(&dir).arg("restart").assert().success();
    let calls = calls_since(&env, mark);
    assert!(calls.iter().any(|c| c.ends_with("rollout restart deployment/web -n shop-dev")));
    assert!(calls.iter().any(|c| c.ends_with("rollout restart statefulset/postgres -n shop-dev")));

    env.ctl(&["workload", "shop-dev", "api", "--crash"]);
    let out = env.kilter(&dir).args(["restart", "api", "--timeout", "1s"]).output().expect("runs");
    assert_eq!(out.status.code(), Some(1), "{}", stderr_of(&out));
    assert!(
        stderr_of(&out).contains("deployment/api did not finish rolling out"),
        "names the workload: {}",
        stderr_of(&out)
    );

    let mark = env.calls().len();
    let out = env.kilter(&dir).args(["restart", "web", "--dry-run"]).output().expect("runs");
    assert!(out.status.success());
    assert!(stdout_of(&out).contains("rollout restart deployment/web -n shop-dev"));
    assert!(
        !calls_since(&env, mark).iter().any(|c| c.contains("rollout")),
        "dry-run runs no rollout"
    );
}

#[test]
fn exec_passes_arguments_intact_and_propagates_the_exit_code() {
    let env = Env::new();
    let dir = running_project(&env);
    env.set_knob("exec_path", "/usr/bin:/bin");
    let out = env
        .kilter(&dir)
        .args(["exec", "web", "--", "printf", "%s|", "a b", "it's", "$HOME", ""])
        .output()
        .expect("runs");
    assert!(out.status.success(), "{}", stderr_of(&out));
    assert_eq!(stdout_of(&out), "a b|it's|$HOME||");
    assert!(
        env.calls().iter().any(|c| c.contains("exec -i deployment/web -n shop-dev -- printf")),
        "no -t without a terminal: {:?}",
        env.calls()
    );

    let out =
        env.kilter(&dir).args(["exec", "web", "--", "sh", "-c", "exit 3"]).output().expect("runs");
    assert_eq!(out.status.code(), Some(3), "{}", stderr_of(&out));
    assert!(stderr_of(&out).contains("command terminated with exit code 3"));

    let out = env
        .kilter(&dir)
        .args(["exec", "web", "--", "cat"])
        .write_stdin("piped input\n")
        .output()
        .expect("runs");
    assert_eq!(stdout_of(&out), "piped input\n", "stdin reaches the remote command");
}
