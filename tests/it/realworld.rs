//! What broke against the real tools and hostile input (the robustness issue, items 2–8), one test
//! per finding, each written so that the code before the fix fails it.

use std::time::{Duration, Instant};

use crate::helpers::*;
use crate::support::{Env, read, wait_until};

fn node_id(env: &Env, project: &str) -> Option<String> {
    env.container(&format!("kilter-{project}-control-plane"))
        .and_then(|c| c["Id"].as_str().map(str::to_owned))
}

/// Item 2: A cluster kilter did not create is never deleted, and is used only with `--adopt`.
#[test]
fn a_cluster_made_by_kind_directly_is_not_taken_or_deleted() {
    let env = Env::new();
    let dir = project(&env, "shop", Some("name: shop\n"), false);
    let made =
        env.tool("kind").args(["create", "cluster", "--name", "kilter-shop"]).output().unwrap();
    assert!(made.status.success(), "{}", stderr_of(&made));
    let id = node_id(&env, "shop").expect("kind made the node");
    let mark = env.calls().len();
    let out = env.kilter(&dir).arg("up").output().unwrap();
    assert_eq!(out.status.code(), Some(4), "{}", stderr_of(&out));
    assert!(stderr_of(&out).contains("--adopt"), "{}", stderr_of(&out));
    assert!(
        calls_since(&env, mark).iter().all(|c| !c.starts_with("kind delete")),
        "{:?}",
        calls_since(&env, mark)
    );
    assert_eq!(node_id(&env, "shop").as_deref(), Some(id.as_str()), "untouched");
    // A stale `creating` marker from long before does not make it deletable either.
    let marker = env.cache_dir("shop").join("creating");
    std::fs::create_dir_all(marker.parent().unwrap()).unwrap();
    std::fs::write(&marker, "{\"started_at\":\"2020-01-01T00:00:00Z\",\"unix\":1577836800}\n")
        .unwrap();
    let out = env.kilter(&dir).args(["up", "--adopt"]).output().unwrap();
    assert!(out.status.success(), "{}", stderr_of(&out));
    assert_eq!(node_id(&env, "shop").as_deref(), Some(id.as_str()), "adopted, not recreated");
    assert!(!marker.exists());
    // From now on it is this project's cluster.
    env.kilter(&dir).arg("up").assert().success();
}

/// Item 2: A node created before the `creating` marker was written is not "interrupted".
#[test]
fn a_node_older_than_the_creating_marker_is_kept() {
    let env = Env::new();
    let dir = project(&env, "shop", Some("name: shop\n"), false);
    env.kilter(&dir).arg("up").assert().success();
    let id = node_id(&env, "shop").unwrap();
    let now = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap();
    let marker = env.cache_dir("shop").join("creating");
    std::fs::write(
        &marker,
        format!("{{\"started_at\":\"later\",\"unix\":{}}}\n", now.as_secs() + 5),
    )
    .unwrap();
    let out = env.kilter(&dir).arg("up").output().unwrap();
    assert!(out.status.success(), "{}", stderr_of(&out));
    assert!(stderr_of(&out).contains("keeping it"), "{}", stderr_of(&out));
    assert_eq!(node_id(&env, "shop").as_deref(), Some(id.as_str()));
    assert!(!marker.exists());
    // Nor is a node created more than an hour after the marker (kind makes its node within
    // minutes): the marker is stale, not this node's.
    std::fs::write(
        &marker,
        format!("{{\"started_at\":\"long ago\",\"unix\":{}}}\n", now.as_secs() - 2 * 3600),
    )
    .unwrap();
    let out = env.kilter(&dir).arg("up").output().unwrap();
    assert!(out.status.success(), "{}", stderr_of(&out));
    assert!(stderr_of(&out).contains("keeping it"), "{}", stderr_of(&out));
    assert_eq!(node_id(&env, "shop").as_deref(), Some(id.as_str()));
    // Whereas a node created just after the marker is a half-made cluster of ours: recreated.
    std::fs::write(
        &marker,
        format!("{{\"started_at\":\"before\",\"unix\":{}}}\n", now.as_secs() - 30),
    )
    .unwrap();
    let out = env.kilter(&dir).arg("up").output().unwrap();
    assert!(out.status.success(), "{}", stderr_of(&out));
    assert!(stderr_of(&out).contains("interrupted"), "{}", stderr_of(&out));
    assert_ne!(node_id(&env, "shop").as_deref(), Some(id.as_str()), "recreated");
}

/// Item 2: `kind create` failing with "already exist" (the node appeared between kilter's inspect
/// and kind's own check) made nothing: no marker stays, no identity is claimed, and the next `up`
/// refuses instead of deleting the cluster someone else made.
#[test]
fn already_exists_leaves_no_marker_and_no_claim() {
    let env = Env::new();
    let dir = project(&env, "shop", Some("name: shop\n"), false);
    env.set_knob("latency_ms", "700");
    let mut up = env.kilter_std(&dir).arg("up").spawn().unwrap();
    // kilter's inspect answers at ~0.7 s (absent); kind create acts at ~1.4 s+; this one at ~1.0 s.
    std::thread::sleep(Duration::from_millis(300));
    let made =
        env.tool("kind").args(["create", "cluster", "--name", "kilter-shop"]).output().unwrap();
    assert!(made.status.success(), "{}", stderr_of(&made));
    let status = up.wait().unwrap();
    env.set_knob("latency_ms", "0");
    assert_eq!(status.code(), Some(1), "kind said it already exists");
    let id = node_id(&env, "shop").expect("node");
    assert!(!env.cache_dir("shop").join("creating").exists(), "marker cleared");
    assert!(!env.cache_dir("shop").join("project.json").exists(), "nothing claimed");
    let mark = env.calls().len();
    let out = env.kilter(&dir).arg("up").output().unwrap();
    assert_eq!(out.status.code(), Some(4), "{}", stderr_of(&out));
    assert!(calls_since(&env, mark).iter().all(|c| !c.starts_with("kind delete")));
    assert_eq!(node_id(&env, "shop").as_deref(), Some(id.as_str()));
}

/// Item 3: Identity is claimed before `kind create`: an `up` that timed out still owns its cluster.
#[test]
fn a_timed_out_up_still_owns_its_cluster() {
    let env = Env::new();
    let a = project(&env, "a/shop", Some("name: shop\n"), false);
    let b = project(&env, "b/shop", Some("name: shop\n"), false);
    env.set_knob("ready_delay_ms", "600000");
    let out = env.kilter(&a).args(["up", "--timeout", "4s"]).output().unwrap();
    assert_eq!(out.status.code(), Some(5), "{}", stderr_of(&out));
    env.set_knob("ready_delay_ms", "0");
    let out = env.kilter(&b).arg("up").output().unwrap();
    assert_eq!(out.status.code(), Some(4), "{}", stderr_of(&out));
    assert!(stderr_of(&out).contains("already used by"), "{}", stderr_of(&out));
}

/// Item 3: Two directories with the same name running `up` at the same moment: one wins.
#[test]
fn concurrent_ups_from_two_directories_do_not_share_a_cluster() {
    let env = Env::new();
    let a = project(&env, "a/shop", Some("name: shop\n"), false);
    let b = project(&env, "b/shop", Some("name: shop\n"), false);
    env.set_knob("create_ms", "800");
    let pa = env.kilter_std(&a).arg("up").spawn().unwrap();
    let pb = env.kilter_std(&b).arg("up").spawn().unwrap();
    let (oa, ob) = (pa.wait_with_output().unwrap(), pb.wait_with_output().unwrap());
    let mut codes = [oa.status.code(), ob.status.code()];
    codes.sort();
    assert_eq!(codes, [Some(0), Some(4)], "{}\n{}", stderr_of(&oa), stderr_of(&ob));
}

fn running_project(env: &Env, yaml: &str) -> std::path::PathBuf {
    let dir = project(env, "shop", Some(yaml), false);
    env.kilter(&dir).arg("up").assert().success();
    dir
}

/// Item 4: `stop` writes nothing and stops nothing when kilter.yaml cannot take the flag.
#[test]
fn stop_stops_nothing_when_the_flag_cannot_be_written() {
    // An alias on `cluster:` cannot be edited without changing what it refers to.
    let env = Env::new();
    let yaml = "base: &c\n  stopped: false\nname: shop\ncluster: *c\n";
    let dir = running_project(&env, yaml);
    let mark = env.calls().len();
    let out = env.kilter(&dir).arg("stop").output().unwrap();
    assert_eq!(out.status.code(), Some(4), "{}", stderr_of(&out));
    assert_eq!(container_status(&env, "kilter-shop-control-plane").as_deref(), Some("running"));
    assert!(calls_since(&env, mark).iter().all(|c| !c.starts_with("docker stop")));
    assert_eq!(read(dir.join("kilter.yaml")), yaml);

    // An immutable file (chattr +i; root can write read-only files, not immutable ones).
    let env = Env::new();
    let dir = running_project(&env, "name: shop\n");
    let file = dir.join("kilter.yaml");
    let chattr = std::process::Command::new("chattr").arg("+i").arg(&file).output();
    if chattr.as_ref().is_ok_and(|o| o.status.success()) {
        let out = env.kilter(&dir).arg("stop").output().unwrap();
        let _ = std::process::Command::new("chattr").arg("-i").arg(&file).status();
        assert_eq!(out.status.code(), Some(1), "{}", stderr_of(&out));
        assert!(stderr_of(&out).contains("cannot write"), "{}", stderr_of(&out));
        assert_eq!(container_status(&env, "kilter-shop-control-plane").as_deref(), Some("running"));
        assert_eq!(read(&file), "name: shop\n");
        let leftovers: Vec<_> = std::fs::read_dir(&dir).unwrap().flatten().collect();
        assert_eq!(leftovers.len(), 1, "no temporary file left: {leftovers:?}");
    } else {
        crate::support::skipped("immutable kilter.yaml", "chattr +i does not work here");
    }

    // A dangling symlink: refused at once (exit 4), never replaced by a regular file.
    let env = Env::new();
    let dir = running_project(&env, "name: shop\n");
    let file = dir.join("kilter.yaml");
    std::fs::remove_file(&file).unwrap();
    std::os::unix::fs::symlink(dir.join("gone.yaml"), &file).unwrap();
    let out = env.kilter(&dir).arg("stop").output().unwrap();
    assert_eq!(out.status.code(), Some(4), "{}", stderr_of(&out));
    assert!(stderr_of(&out).contains("does not exist"), "{}", stderr_of(&out));
    assert_eq!(container_status(&env, "kilter-shop-control-plane").as_deref(), Some("running"));
    assert!(std::fs::symlink_metadata(&file).unwrap().file_type().is_symlink());
}

/// Item 4: A kilter.yaml that is a symlink to a real file: the flag goes into the target.
#[test]
fn stop_writes_through_a_symlinked_kilter_yaml() {
    let env = Env::new();
    let dir = env.project("shop");
    std::fs::write(dir.join("real.yaml"), "name: shop\n").unwrap();
    std::os::unix::fs::symlink("real.yaml", dir.join("kilter.yaml")).unwrap();
    env.kilter(&dir).arg("up").assert().success();
    env.kilter(&dir).arg("stop").assert().success();
    assert!(std::fs::symlink_metadata(dir.join("kilter.yaml")).unwrap().file_type().is_symlink());
    assert!(read(dir.join("real.yaml")).contains("stopped: true"));
    env.kilter(&dir).arg("up").assert().success();
    assert_eq!(read(dir.join("real.yaml")), "name: shop\n");
}

/// Item 5: stop → up gives back every byte `stop` replaced, and the file's owner.
#[test]
fn stop_then_up_restores_kilter_yaml_byte_for_byte() {
    for yaml in [
        "name: shop\ncluster:\n  stopped: false  # explicit\n",
        "name: shop\ncluster: {}\n",
        "name: shop\ncluster: null\n",
        "name: shop\ncluster:\n  stopped: ~\n",
        "name: shop\n# trailing comment\n",
        "name: shop\r\ncluster: {}\r\n",
    ] {
        let env = Env::new();
        let dir = running_project(&env, yaml);
        env.kilter(&dir).arg("stop").assert().success();
        let stopped = read(dir.join("kilter.yaml"));
        assert!(stopped.contains("stopped: true"), "{yaml:?} → {stopped:?}");
        env.kilter(&dir).arg("up").assert().success();
        assert_eq!(read(dir.join("kilter.yaml")), yaml, "round trip of {yaml:?}");
    }
}

/// Item 5: `sudo kilter stop` keeps a user's kilter.yaml owned by the user.
#[test]
fn stop_keeps_the_owner_and_mode_of_kilter_yaml() {
    use std::os::unix::fs::MetadataExt;
    let env = Env::new();
    let dir = running_project(&env, "name: shop\n");
    let file = dir.join("kilter.yaml");
    if std::os::unix::fs::chown(&file, Some(1234), Some(2345)).is_err() {
        crate::support::skipped(
            "kilter.yaml owner",
            "not root: cannot give the file another owner",
        );
        return;
    }
    std::fs::set_permissions(&file, std::os::unix::fs::PermissionsExt::from_mode(0o640)).unwrap();
    env.kilter(&dir).arg("stop").assert().success();
    let m = std::fs::metadata(&file).unwrap();
    assert_eq!((m.uid(), m.gid(), m.mode() & 0o777), (1234, 2345, 0o640));
    env.kilter(&dir).arg("up").assert().success();
    let m = std::fs::metadata(&file).unwrap();
    assert_eq!((m.uid(), m.gid(), m.mode() & 0o777), (1234, 2345, 0o640));
}

/// Item 6: A Tilt whose record cannot be written is stopped again, and the error says so.
#[test]
fn an_unrecorded_tilt_is_stopped_again() {
    let env = Env::new();
    let dir = project(&env, "shop", Some("name: shop\n"), true);
    // tilt.json cannot be written: a directory is in its place.
    std::fs::create_dir_all(env.cache_dir("shop").join("tilt.json").join("x")).unwrap();
    let out = env.kilter(&dir).arg("up").output().unwrap();
    assert_eq!(out.status.code(), Some(1), "{}", stderr_of(&out));
    assert!(stderr_of(&out).contains("was stopped again"), "{}", stderr_of(&out));
    assert!(
        wait_until(Duration::from_secs(5), || env.tilt_pids().is_empty()),
        "{:?}",
        env.tilt_pids()
    );
}

/// Item 6: A Tilt started through a wrapper script that does not `exec` is recognised and stopped.
#[test]
fn a_wrapped_tilt_is_recognised_and_stopped() {
    let env = Env::new();
    let dir = project(&env, "shop", Some("name: shop\n"), true);
    let wrapper = script(
        &env,
        "tilt-wrapper",
        &format!("{} \"$@\"\necho wrapper done\n", env.bin().join("tilt").display()),
    );
    let up = || {
        let mut c = env.kilter(&dir);
        c.env("KILTER_TILT", &wrapper).arg("up");
        c
    };
    up().assert().success();
    assert_eq!(env.tilt_pids().len(), 1);
    let out = env.kilter(&dir).arg("down").output().unwrap();
    assert!(stderr_of(&out).contains("Stopped Tilt"), "{}", stderr_of(&out));
    assert!(
        wait_until(Duration::from_secs(5), || env.tilt_pids().is_empty()),
        "{:?}",
        env.tilt_pids()
    );
    up().assert().success();
    up().assert().success(); // restarts it: the port was free again
    assert_eq!(env.tilt_pids().len(), 1);
}

/// Item 6: A recorded pid that now belongs to another process is never signalled.
#[test]
fn a_recycled_pid_is_not_taken_for_tilt() {
    let env = Env::new();
    let dir = project(&env, "shop", Some("name: shop\n"), true);
    env.kilter(&dir).arg("up").assert().success();
    env.kilter(&dir).arg("down").assert().success();
    // A bystander in its own process group, recorded as if it were our Tilt, with another
    // start time: exactly what a recycled pid looks like.
    let mut bystander = std::process::Command::new("sleep");
    std::os::unix::process::CommandExt::process_group(&mut bystander, 0);
    let mut child = bystander.arg("30").spawn().unwrap();
    let pid = child.id();
    let rec = format!(
        "{{\"pid\": {pid}, \"start\": \"1\", \"port\": {}, \"started_at\": \"x\", \"tiltfile\": \"t\"}}\n",
        ports_of("shop").0
    );
    std::fs::write(env.cache_dir("shop").join("tilt.json"), rec).unwrap();
    env.kilter(&dir).arg("down").assert().success();
    assert!(child.try_wait().unwrap().is_none(), "the bystander was signalled");
    assert!(!env.cache_dir("shop").join("tilt.json").exists(), "stale record removed");
    child.kill().unwrap();
    child.wait().unwrap();
}

/// Item 7: A port slot out of range is exit 4, not ports outside 30000–32767.
#[test]
fn an_out_of_range_port_slot_is_refused() {
    let env = Env::new();
    let dir = project(&env, "shop", Some("name: shop\n"), false);
    let reg = env.state_home().join("kilter");
    std::fs::create_dir_all(&reg).unwrap();
    for slot in ["138", "3000"] {
        std::fs::write(
            reg.join("ports.json"),
            format!("{{\"version\":1,\"projects\":{{\"shop\":{{\"slot\":{slot}}}}}}}"),
        )
        .unwrap();
        let out = env.kilter(&dir).arg("up").output().unwrap();
        assert_eq!(out.status.code(), Some(4), "slot {slot}: {}", stderr_of(&out));
        assert!(stderr_of(&out).contains("outside 30000-32767"), "{}", stderr_of(&out));
        assert!(env.container("kilter-shop-control-plane").is_none());
    }
}

/// Item 7: `doctor` reports a corrupt ports.json and goes on; `completions` needs no HOME.
#[test]
fn doctor_reports_a_corrupt_registry_and_completions_need_no_home() {
    let env = Env::new();
    let dir = project(&env, "shop", Some("name: shop\n"), false);
    let reg = env.state_home().join("kilter");
    std::fs::create_dir_all(&reg).unwrap();
    std::fs::write(reg.join("ports.json"), "{not json").unwrap();
    let out = env.kilter(&dir).args(["doctor", "--json"]).output().unwrap();
    assert_eq!(out.status.code(), Some(1), "{}", stderr_of(&out));
    let doc: serde_json::Value = serde_json::from_slice(&out.stdout).expect("valid JSON");
    let checks = doc["checks"].as_array().unwrap();
    let bad = checks.iter().find(|c| c["name"] == "port registry").expect("a registry check");
    assert_eq!(bad["status"], "fail");
    assert_eq!(doc["ok"], false, "{doc}");
    // The fix is the error's help, not the error again.
    let path = reg.join("ports.json");
    let fix = format!(
        "move it away (`mv {p} {p}.bad`); kilter rebuilds it from the clusters that exist",
        p = path.display()
    );
    assert_eq!(bad["fix"], fix.as_str(), "{bad}");
    assert!(checks.iter().any(|c| c["name"] == "kubeconfig"), "the report went on");
    assert!(checks.iter().any(|c| c["name"] == "disk"), "the report went on");

    let out = env.kilter(&dir).env_remove("HOME").args(["completions", "bash"]).output().unwrap();
    assert!(out.status.success(), "{}", stderr_of(&out));
    assert!(stdout_of(&out).contains("kilter"));
}

/// Item 7: `destroy` with the Docker daemon down stops at the daemon check (exit 3), before Tilt.
#[test]
fn destroy_with_the_daemon_down_touches_nothing() {
    let env = Env::new();
    let dir = project(&env, "shop", Some("name: shop\n"), true);
    env.kilter(&dir).arg("up").assert().success();
    let tilt = tilt_pid(&env, "shop").unwrap();
    env.ctl(&["daemon", "down"]);
    let out = env.kilter(&dir).args(["destroy", "--yes"]).output().unwrap();
    assert_eq!(out.status.code(), Some(3), "{}", stderr_of(&out));
    assert!(crate::support::pid_alive(tilt), "Tilt was stopped before the daemon check");
    assert!(env.cache_dir("shop").join("kubeconfig").exists());
    env.ctl(&["daemon", "up"]);
}

/// Item 8: doctor's two inotify fixes write two files (the second `tee` no longer overwrites the first).
#[test]
fn inotify_fixes_do_not_overwrite_each_other() {
    let env = Env::new();
    let dir = project(&env, "shop", Some("name: shop\n"), false);
    let proc_sys = env.root().join("proc-sys");
    std::fs::create_dir_all(proc_sys.join("fs/inotify")).unwrap();
    std::fs::write(proc_sys.join("fs/inotify/max_user_watches"), "8192\n").unwrap();
    std::fs::write(proc_sys.join("fs/inotify/max_user_instances"), "128\n").unwrap();
    let out = env
        .kilter(&dir)
        .env("KILTER_PROC_SYS", &proc_sys)
        .args(["doctor", "--json"])
        .output()
        .unwrap();
    let doc: serde_json::Value = serde_json::from_slice(&out.stdout).expect("json");
    let targets: Vec<String> = doc["checks"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|c| c["fix"].as_str())
        .filter(|f| f.contains("tee"))
        .map(|f| f.rsplit(' ').next().unwrap().to_owned())
        .collect();
    assert_eq!(targets.len(), 2, "{doc}");
    assert_ne!(targets[0], targets[1], "both fixes write {}", targets[0]);
}

/// Item 8: kind's failure output keeps its blank line, and no "see the full output" when it is all shown.
#[test]
fn kind_failure_output_is_shown_whole() {
    let env = Env::new();
    let dir = project(&env, "shop", Some("name: shop\n"), false);
    env.set_knob("create_fail", "true");
    let started = Instant::now();
    let out = env.kilter(&dir).arg("up").output().unwrap();
    assert_eq!(out.status.code(), Some(1));
    let err = stderr_of(&out);
    assert!(!err.contains("full output"), "{err}");
    assert!(err.contains("ERROR: failed to create cluster"), "{err}");
    let lines: Vec<&str> = err.lines().collect();
    let at = lines
        .iter()
        .position(|l| l.trim_start().starts_with("Command Output:"))
        .expect("kind's output");
    assert!(
        at > 0 && lines[at - 1].trim().is_empty(),
        "the blank line before Command Output: {err}"
    );
    assert!(started.elapsed() < Duration::from_secs(10));
}

/// Item 1: the API port accepts and resets while the API server is down, and kubectl retries for
/// seconds to a minute (the fake's docker-proxy mode, at the real timings). `up --timeout`
/// is a deadline kilter enforces by killing its probes.
#[test]
fn up_timeout_holds_when_the_api_port_resets() {
    let env = Env::new();
    let dir = project(&env, "shop", Some("name: shop\n"), false);
    env.kilter(&dir).arg("up").assert().success();
    env.kilter(&dir).arg("stop").assert().success();
    env.set_knob("api_proxy_ms", "never");
    let t = Instant::now();
    let out = env.kilter(&dir).args(["up", "--timeout", "8s"]).output().unwrap();
    let took = t.elapsed();
    assert_eq!(out.status.code(), Some(5), "{}", stderr_of(&out));
    assert!(took <= Duration::from_millis(9500), "returned after {took:?}");
    let err = stderr_of(&out);
    assert!(err.contains("/readyz"), "{err}");
    // The wait is in the transcript as its first and last probe, not one line per poll.
    let log = commands_log(&env, "shop");
    let probes = log.lines().filter(|l| l.contains("get --raw /readyz")).count();
    assert!((1..=3).contains(&probes), "{probes} readyz lines:\n{log}");
}

/// Item 1: `status` answers within its probe timeout and says which probe gave up.
#[test]
fn status_answers_in_time_when_the_api_port_resets() {
    let env = Env::new();
    let dir = project(&env, "shop", Some("name: shop\n"), false);
    env.kilter(&dir).arg("up").assert().success();
    env.kilter(&dir).arg("stop").assert().success();
    env.set_knob("api_proxy_ms", "never");
    env.tool("docker").args(["start", "kilter-shop-control-plane"]).output().unwrap();
    let t = Instant::now();
    let out = env.kilter(&dir).args(["status", "--json"]).output().unwrap();
    let took = t.elapsed();
    assert!(out.status.success(), "{}", stderr_of(&out));
    assert!(took <= Duration::from_secs(4), "status took {took:?}");
    let doc: serde_json::Value = serde_json::from_slice(&out.stdout).expect("valid JSON");
    assert_eq!(doc["api"], "unreachable");
    assert!(doc["api_error"].as_str().unwrap().contains("/readyz probe gave up"), "{doc}");
    assert!(doc["pods_error"].as_str().unwrap().contains("pod listing gave up"), "{doc}");
    // The text form says the same on its `api` line.
    let out = env.kilter(&dir).arg("status").output().unwrap();
    let text = stdout_of(&out);
    let api = text.lines().find(|l| l.trim_start().starts_with("api ")).unwrap_or_default();
    assert!(api.contains("unreachable (") && api.contains("/readyz probe gave up"), "{text}");
}

/// Item 1: resume and create with an API that serves 6 s after the node starts return soon
/// after it serves — not after kubectl's own 5 s retries of a probe started just before.
#[test]
fn resume_and_create_notice_the_api_soon_after_it_serves() {
    let env = Env::new();
    let dir = project(&env, "shop", Some("name: shop\n"), false);
    env.set_knob("api_proxy_ms", "6000");
    let t = Instant::now();
    let out = env.kilter(&dir).args(["up", "--timeout", "30s"]).output().unwrap();
    let create = t.elapsed();
    assert!(out.status.success(), "{}", stderr_of(&out));
    env.kilter(&dir).arg("stop").assert().success();
    let t = Instant::now();
    let out = env.kilter(&dir).args(["up", "--timeout", "30s"]).output().unwrap();
    let resume = t.elapsed();
    assert!(out.status.success(), "{}", stderr_of(&out));
    assert!(create <= Duration::from_secs(7), "create took {create:?}");
    assert!(resume <= Duration::from_secs(7), "resume took {resume:?}");
}

/// Item 2: a `kind create` that failed and cleaned up after itself leaves no marker, so a
/// cluster made by hand afterwards is not taken for a half-made one and deleted.
#[test]
fn a_failed_create_that_left_nothing_leaves_no_marker() {
    let env = Env::new();
    let dir = project(&env, "shop", Some("name: shop\n"), false);
    env.set_knob("create_fail", "true");
    assert_eq!(env.kilter(&dir).arg("up").output().unwrap().status.code(), Some(1));
    env.set_knob("create_fail", "false");
    assert!(!env.cache_dir("shop").join("creating").exists());
    let made =
        env.tool("kind").args(["create", "cluster", "--name", "kilter-shop"]).output().unwrap();
    assert!(made.status.success(), "{}", stderr_of(&made));
    let id = node_id(&env, "shop").unwrap();
    let mark = env.calls().len();
    env.kilter(&dir).arg("up").output().unwrap();
    assert!(calls_since(&env, mark).iter().all(|c| !c.starts_with("kind delete")));
    assert_eq!(node_id(&env, "shop").as_deref(), Some(id.as_str()));
}
