//! status, ls, env, completions, doctor (issue #3).

use crate::helpers::*;
use crate::support::Env;

fn json(out: &std::process::Output) -> serde_json::Value {
    serde_json::from_slice(&out.stdout)
        .unwrap_or_else(|e| panic!("not JSON ({e}): {}", stdout_of(out)))
}

fn status_json(env: &Env, dir: &std::path::Path) -> serde_json::Value {
    let out = env.kilter(dir).args(["status", "--json"]).output().expect("runs");
    assert!(out.status.success(), "{}", stderr_of(&out));
    json(&out)
}

#[test]
fn status_of_an_absent_cluster_makes_no_kubectl_call() {
    let env = Env::new();
    let dir = project(&env, "shop", Some("name: shop\n"), false);
    let s = status_json(&env, &dir);
    assert_eq!(s["schema_version"], 1);
    assert_eq!(s["node"], "absent");
    assert_eq!(s["api"], "unknown");
    assert!(s["drift"].is_null());
    assert!(env.calls_of("kubectl").is_empty(), "{:?}", env.calls());
    let text = stdout_of(&env.kilter(&dir).arg("status").output().expect("runs"));
    assert!(text.contains("absent") && text.contains("kilter up"), "{text}");
}

#[test]
fn status_of_a_running_project_field_by_field() {
    let env = Env::new();
    let dir = project(&env, "shop", Some("name: shop\n"), true);
    env.kilter(&dir).arg("up").assert().success();
    let s = status_json(&env, &dir);
    let (tilt, base) = ports_of("shop");
    assert_eq!(s["project"], "shop");
    assert_eq!(s["directory"], dir.canonicalize().expect("canon").display().to_string());
    assert_eq!(s["cluster"], "kilter-shop");
    assert_eq!(s["context"], "kind-kilter-shop");
    assert_eq!(s["namespace"], "shop-dev");
    assert_eq!(s["node"], "running");
    assert_eq!(s["node_status"], "running");
    assert_eq!(s["flag_stopped"], false);
    assert!(s["drift"].is_null());
    assert_eq!(s["api"], "ok");
    assert_eq!(s["tilt"]["running"], true);
    assert_eq!(s["tilt"]["pid"], tilt_pid(&env, "shop").expect("pid"));
    assert_eq!(s["tilt"]["url"], format!("http://localhost:{tilt}/"));
    // Tilt's resources, from its API: the Tiltfile first, then the local resource it runs.
    let names = tilt_resource_names(&s);
    assert_eq!(names.first(), Some(&"(Tiltfile)"), "{}", s["tilt"]);
    assert!(s["tilt"]["resources_error"].is_null(), "{}", s["tilt"]);
    assert_eq!(s["pods"], serde_json::json!([]));
    assert_eq!(s["ports"]["tilt"], tilt);
    assert_eq!(s["ports"]["nodeport_first"], base);
    assert_eq!(s["ports"]["nodeport_last"], base + 19);
    let c = env.container("kilter-shop-control-plane").expect("node");
    assert_eq!(
        s["ports"]["api_server"].to_string(),
        c["HostConfig"]["PortBindings"]["6443/tcp"][0]["HostPort"].as_str().expect("port")
    );
    assert_eq!(s["kubeconfig"]["exists"], true);
    assert_eq!(s["kubeconfig"]["mode"], "0600");
    assert_eq!(s["snapshots"]["count"], 0);
}

#[test]
fn status_spells_out_drift_in_each_node_state() {
    let env = Env::new();
    let dir = project(&env, "shop", Some("name: shop\n"), false);
    env.kilter(&dir).arg("up").assert().success();

    // stopped by kilter: no drift, no kubectl call
    env.kilter(&dir).arg("stop").assert().success();
    let mark = env.calls().len();
    let s = status_json(&env, &dir);
    assert_eq!((s["node"].as_str(), s["flag_stopped"].as_bool()), (Some("stopped"), Some(true)));
    assert!(s["drift"].is_null(), "{s}");
    assert!(
        !calls_since(&env, mark).iter().any(|c| c.starts_with("kubectl")),
        "a stopped node makes no kubectl call"
    );

    // started behind kilter's back while the flag says stopped
    env.tool("docker").args(["start", "kilter-shop-control-plane"]).output().expect("docker start");
    let s = status_json(&env, &dir);
    assert!(
        s["drift"].as_str().unwrap_or("").contains("says stopped, but the node is running"),
        "{s}"
    );

    // crashed without the flag
    env.kilter(&dir).arg("up").assert().success();
    env.ctl(&["crash", "kilter-shop-control-plane"]);
    let s = status_json(&env, &dir);
    assert_eq!(s["node_status"], "exited");
    assert!(s["drift"].as_str().unwrap_or("").contains("does not say stopped"), "{s}");
    assert!(s["drift"].as_str().unwrap_or("").contains("OOM"), "{s}");

    // flag set but the cluster deleted outside kilter
    env.kilter(&dir).arg("stop").assert().success();
    env.tool("kind")
        .args(["delete", "cluster", "--name", "kilter-shop", "--kubeconfig"])
        .arg(kubeconfig(&env, "shop"))
        .output()
        .expect("kind");
    let s = status_json(&env, &dir);
    assert_eq!(s["node"], "absent");
    assert!(s["drift"].as_str().unwrap_or("").contains("no longer exists"), "{s}");
}

#[test]
fn ls_with_no_clusters_and_with_a_foreign_kind_cluster() {
    let env = Env::new();
    let dir = project(&env, "shop", Some("name: shop\n"), false);
    let out = env.kilter(&dir).args(["ls", "--json"]).output().expect("runs");
    assert!(out.status.success(), "{}", stderr_of(&out));
    assert_eq!(json(&out)["projects"], serde_json::json!([]));
    let out = env.kilter(&dir).arg("ls").output().expect("runs");
    assert!(stderr_of(&out).contains("No kilter clusters"));

    env.kilter(&dir).arg("up").assert().success();
    let other = project(&env, "blog", Some("name: blog\n"), false);
    env.kilter(&other).arg("up").assert().success();
    env.kilter(&other).arg("stop").assert().success();
    let foreign_kc = env.root().join("foreign-kubeconfig");
    let k = env
        .tool("kind")
        .args(["create", "cluster", "--name", "dev", "--kubeconfig"])
        .arg(&foreign_kc)
        .output()
        .expect("kind");
    assert!(k.status.success());

    let mark = env.calls().len();
    let out = env.kilter(&dir).args(["ls", "--json"]).output().expect("runs");
    assert!(out.status.success(), "{}", stderr_of(&out));
    let calls = calls_since(&env, mark);
    assert_eq!(calls.len(), 2, "one docker ps and one docker stats: {calls:?}");
    assert!(
        calls[0].starts_with("docker ps -a --filter") && calls[0].contains("name=kilter-"),
        "{calls:?}"
    );
    assert_eq!(
        calls[1], "docker stats --no-stream --format '{{json .}}' kilter-shop-control-plane",
        "only the running kilter node is sampled"
    );
    let v = json(&out);
    let rows = v["projects"].as_array().expect("array");
    assert_eq!(rows.len(), 2, "the foreign kind cluster is left out: {v}");
    assert_eq!(rows[0]["project"], "blog");
    assert_eq!(rows[0]["state"], "exited");
    assert_eq!(rows[1]["project"], "shop");
    assert_eq!(rows[1]["state"], "running");
    assert_eq!(rows[1]["tilt_port"], ports_of("shop").0);
    assert_eq!(rows[1]["directory"], dir.canonicalize().expect("canon").display().to_string());
}

#[test]
fn env_is_evaluated_by_a_real_shell() {
    let env = Env::new();
    let dir = project(&env, "shop", Some("name: shop\n"), false);
    let odd_cache = env.root().join("ca che $HOME 'x'");
    let out = env.kilter(&dir).arg("env").env("XDG_CACHE_HOME", &odd_cache).output().expect("runs");
    assert!(out.status.success(), "{}", stderr_of(&out));
    let script = stdout_of(&out);
    assert!(script.contains("# Tilt UI: http://localhost:"), "{script}");
    let sh = std::process::Command::new("/bin/bash")
        .arg("-c")
        .arg(format!("{script}\nprintf '%s\\n' \"$KUBECONFIG\" \"$KILTER_PROJECT\" \"$KILTER_NAMESPACE\" \"$KILTER_TILT_PORT\" \"$KILTER_PORT_BASE\""))
        .env_clear()
        .output()
        .expect("bash");
    assert!(sh.status.success(), "{}", String::from_utf8_lossy(&sh.stderr));
    let lines: Vec<String> =
        String::from_utf8_lossy(&sh.stdout).lines().map(String::from).collect();
    let (tilt, base) = ports_of("shop");
    assert_eq!(lines[0], odd_cache.join("kilter/shop/kubeconfig").display().to_string());
    assert_eq!(
        &lines[1..],
        &["shop".to_owned(), "shop-dev".into(), tilt.to_string(), base.to_string()]
    );
    if std::path::Path::new("/bin/zsh").exists() || std::path::Path::new("/usr/bin/zsh").exists() {
        let zsh = std::process::Command::new("zsh")
            .arg("-c")
            .arg(format!("{script}\nprint -r -- \"$KUBECONFIG\""))
            .output()
            .expect("zsh");
        assert_eq!(String::from_utf8_lossy(&zsh.stdout).trim(), lines[0]);
    }
    let v: serde_json::Value = serde_json::from_slice(
        &env.kilter(&dir).args(["env", "--json"]).output().expect("runs").stdout,
    )
    .expect("json");
    assert_eq!(v["env"]["KILTER_NAMESPACE"], "shop-dev");
    assert_eq!(v["tilt_url"], format!("http://localhost:{tilt}/"));
}

/// docs/files.md: an `XDG_*` variable that is empty or not an absolute path is ignored, and the
/// default under HOME is used. A relative one would put the kubeconfig wherever kilter happens to
/// run.
#[test]
fn an_empty_or_relative_xdg_variable_falls_back_to_home() {
    let env = Env::new();
    let dir = project(&env, "shop", Some("name: shop\n"), false);
    let default = env.home().join(".cache/kilter/shop/kubeconfig").display().to_string();
    for value in ["", "rel/cache", "./cache"] {
        let out = env
            .kilter(&dir)
            .args(["env", "--json"])
            .env("XDG_CACHE_HOME", value)
            .output()
            .expect("runs");
        assert!(out.status.success(), "XDG_CACHE_HOME={value:?}: {}", stderr_of(&out));
        let v = json(&out);
        assert_eq!(v["env"]["KUBECONFIG"], default.as_str(), "XDG_CACHE_HOME={value:?}: {v}");
    }
    let absolute = env.root().join("elsewhere");
    let out = env
        .kilter(&dir)
        .args(["env", "--json"])
        .env("XDG_CACHE_HOME", &absolute)
        .output()
        .expect("runs");
    assert!(out.status.success(), "{}", stderr_of(&out));
    assert_eq!(
        json(&out)["env"]["KUBECONFIG"],
        absolute.join("kilter/shop/kubeconfig").display().to_string().as_str()
    );
}

#[test]
fn completions_for_each_shell() {
    let env = Env::new();
    let dir = project(&env, "shop", None, false);
    for (shell, marker) in [
        ("bash", "complete -F"),
        ("zsh", "#compdef kilter"),
        ("fish", "complete -c kilter"),
        ("powershell", "Register-ArgumentCompleter"),
    ] {
        let out = env.kilter(&dir).args(["completions", shell]).output().expect("runs");
        assert!(out.status.success(), "{shell}");
        let text = stdout_of(&out);
        assert!(
            text.contains(marker) && text.contains("destroy"),
            "{shell}: {}",
            &text[..text.len().min(200)]
        );
    }
    let bash = stdout_of(&env.kilter(&dir).args(["completions", "bash"]).output().expect("runs"));
    let check = std::process::Command::new("/bin/bash")
        .arg("-n")
        .arg("-c")
        .arg(&bash)
        .output()
        .expect("bash");
    assert!(check.status.success(), "bash completion parses");
    assert_eq!(
        env.kilter(&dir).args(["completions", "tcsh"]).output().expect("runs").status.code(),
        Some(2)
    );
}

fn doctor(env: &Env, dir: &std::path::Path) -> (i32, serde_json::Value) {
    let out = env.kilter(dir).args(["doctor", "--json"]).output().expect("runs");
    (out.status.code().unwrap_or(-1), json(&out))
}

fn check_status<'a>(v: &'a serde_json::Value, name: &str) -> &'a str {
    v["checks"]
        .as_array()
        .and_then(|a| a.iter().find(|c| c["name"] == name))
        .and_then(|c| c["status"].as_str())
        .unwrap_or_else(|| panic!("no check {name}: {v}"))
}

#[test]
fn doctor_passes_on_a_healthy_project_and_fails_on_each_problem_alone() {
    let env = Env::new();
    let dir = project(&env, "doc-ok", Some("name: doc-ok\n"), false);
    let low = env.root().join("proc-sys");
    std::fs::create_dir_all(low.join("fs/inotify")).expect("mkdir");
    std::fs::write(low.join("fs/inotify/max_user_watches"), "8192\n").expect("write");
    // Exactly what kind and Tilt want: enough.
    std::fs::write(low.join("fs/inotify/max_user_instances"), "512\n").expect("write");
    env.kilter(&dir).arg("up").assert().success();
    let out = env
        .kilter(&dir)
        .args(["doctor", "--json"])
        .env("KILTER_PROC_SYS", &low)
        .output()
        .expect("runs");
    let v = json(&out);
    assert_eq!(out.status.code(), Some(0), "{v}");
    assert_eq!(v["ok"], true, "{v}");
    for name in [
        "docker",
        "kind",
        "kubectl",
        "tilt",
        "docker daemon",
        "kilter.yaml",
        "ports",
        "kubeconfig",
        "cluster flag",
        "registry",
    ] {
        assert_eq!(check_status(&v, name), "ok", "{name}: {v}");
    }
    assert_eq!(check_status(&v, "inotify watches"), "warn");
    assert_eq!(check_status(&v, "inotify instances"), "ok", "{v}");
    let text = stdout_of(
        &env.kilter(&dir).arg("doctor").env("KILTER_PROC_SYS", &low).output().expect("runs"),
    );
    assert!(text.contains("sudo sysctl fs.inotify.max_user_watches=524288"), "{text}");
    assert!(text.contains("✓ docker daemon"), "{text}");

    // kubeconfig with the wrong mode
    std::fs::set_permissions(
        kubeconfig(&env, "doc-ok"),
        std::os::unix::fs::PermissionsExt::from_mode(0o644),
    )
    .expect("chmod");
    let (code, v) = doctor(&env, &dir);
    assert_eq!((code, check_status(&v, "kubeconfig")), (1, "fail"), "{v}");
    env.kilter(&dir).arg("up").assert().success();
    assert_eq!(doctor(&env, &dir).0, 0, "up restores 0600");

    // the kubeconfig gone while the cluster is there
    std::fs::remove_file(kubeconfig(&env, "doc-ok")).expect("rm");
    let (code, v) = doctor(&env, &dir);
    assert_eq!((code, check_status(&v, "kubeconfig")), (1, "fail"), "{v}");
    env.kilter(&dir).arg("up").assert().success();
    assert_eq!(doctor(&env, &dir).0, 0, "up writes it again");

    // flag vs reality: a warning, not a failure
    std::fs::write(dir.join("kilter.yaml"), "name: doc-ok\ncluster:\n  stopped: true\n")
        .expect("write");
    let (code, v) = doctor(&env, &dir);
    assert_eq!((code, check_status(&v, "cluster flag")), (0, "warn"), "{v}");
    std::fs::write(dir.join("kilter.yaml"), "name: doc-ok\n").expect("write");

    // a bad kilter.yaml
    std::fs::write(dir.join("kilter.yaml"), "name: doc-ok\ncluster: stopped\n").expect("write");
    let (code, v) = doctor(&env, &dir);
    assert_eq!((code, check_status(&v, "kilter.yaml")), (1, "fail"), "{v}");
    std::fs::write(dir.join("kilter.yaml"), "name: doc-ok\n").expect("write");

    // the daemon down
    env.ctl(&["daemon", "down"]);
    let (code, v) = doctor(&env, &dir);
    assert_eq!((code, check_status(&v, "docker daemon")), (1, "fail"), "{v}");
    env.ctl(&["daemon", "up"]);
}

#[test]
fn doctor_names_a_missing_tool_and_a_busy_port() {
    let env = Env::without(&["kind"]);
    let dir = project(&env, "doc-port", Some("name: doc-port\n"), false);
    let (tilt, _) = ports_of("doc-port");
    let holder =
        std::net::TcpListener::bind(("127.0.0.1", tilt)).expect("bind the project's Tilt port");
    let (code, v) = doctor(&env, &dir);
    assert_eq!(code, 1);
    assert_eq!(check_status(&v, "kind"), "fail");
    let kind = check_of(&v, "kind").to_string();
    assert!(kind.contains("install kind: https://kind.sigs.k8s.io/"), "how to get it: {kind}");
    assert_eq!(check_status(&v, "kubectl"), "ok");
    assert_eq!(check_status(&v, "ports"), "fail", "{v}");
    drop(holder);
    let (_, v) = doctor(&env, &dir);
    assert_eq!(check_status(&v, "ports"), "ok", "{v}");
    // A NodePort of the block another program holds while the project has no cluster (a running
    // cluster's own node publishes them, and doctor does not count those).
    let (_, base) = ports_of("doc-port");
    let holder = env.hold_port(base + 7);
    let (code, v) = doctor(&env, &dir);
    assert_eq!((code, check_status(&v, "ports")), (1, "fail"), "{v}");
    let detail = check_of(&v, "ports").to_string();
    assert!(detail.contains(&format!("NodePorts {} are in use", base + 7)), "{v}");
    drop(holder);
    // doctor only looks: version probes and read-only docker queries, and no call to the
    // missing kind.
    let calls = env.calls();
    assert!(calls.iter().any(|c| c == "tilt version"), "{calls:?}");
    for c in &calls {
        let words: Vec<&str> = c.split(' ').take(2).collect();
        assert!(
            matches!(
                words[..],
                ["docker", "--version" | "info" | "inspect" | "ps"]
                    | ["kubectl", "version"]
                    | ["tilt", "version"]
            ),
            "doctor made a call that is not a query: {c}\n{calls:?}"
        );
    }
}

fn check_of<'a>(v: &'a serde_json::Value, name: &str) -> &'a serde_json::Value {
    v["checks"]
        .as_array()
        .and_then(|a| a.iter().find(|c| c["name"] == name))
        .unwrap_or_else(|| panic!("no check {name}: {v}"))
}

/// Each tool older than the README's tested version warns on its own, naming both versions.
#[test]
fn doctor_warns_about_each_tool_older_than_tested() {
    let env = Env::new();
    let dir = project(&env, "doc-old", Some("name: doc-old\n"), false);
    let (code, v) = doctor(&env, &dir);
    assert_eq!(code, 0, "{v}");
    for (tool, knob, old, tested) in [
        ("docker", "docker_version", "19.03.15", "20.10.0"),
        ("kind", "kind_version", "v0.20.0", "0.32.0"),
        ("kubectl", "kubectl_version", "v1.28.4", "1.32.0"),
        ("tilt", "tilt_version", "v0.33.1", "0.37.6"),
    ] {
        env.set_knob(knob, old);
        let (code, v) = doctor(&env, &dir);
        assert_eq!(code, 0, "a warning is not a failure: {v}");
        let c = check_of(&v, tool);
        assert_eq!(c["status"], "warn", "{tool}: {v}");
        let detail = c["detail"].as_str().unwrap_or_default();
        assert!(
            detail.contains(old.trim_start_matches('v')) && detail.contains(tested),
            "{tool}: {detail}"
        );
        assert!(c["fix"].as_str().is_some_and(|f| f.starts_with("upgrade")), "{c}");
        for other in ["docker", "kind", "kubectl", "tilt"].iter().filter(|o| **o != tool) {
            assert_eq!(check_status(&v, other), "ok", "only {tool} warns: {v}");
        }
        env.ctl(&["unset", knob]);
    }
}

/// kubectl vs the node's Kubernetes: more than one minor apart warns, one apart is fine, and a
/// node whose API does not answer says so instead of staying silent.
#[test]
fn doctor_checks_kubectl_server_skew() {
    let env = Env::new();
    // kind's default node (v1.36.1 in the fake) against kubectl v1.32.2
    let dir = project(&env, "doc-skew", Some("name: doc-skew\n"), false);
    env.kilter(&dir).arg("up").assert().success();
    let (code, v) = doctor(&env, &dir);
    assert_eq!(code, 0, "{v}");
    let c = check_of(&v, "version skew");
    assert_eq!(c["status"], "warn", "{v}");
    assert_eq!(c["detail"], "kubectl 1.32 vs server 1.36: more than one minor apart", "{v}");
    assert!(
        env.calls_of("kubectl")
            .iter()
            .any(|l| l.contains("--context kind-kilter-doc-skew version -o json")),
        "{:?}",
        env.calls_of("kubectl")
    );
    env.set_knob("kubectl_version", "v1.35.0");
    let (_, v) = doctor(&env, &dir);
    assert_eq!(check_of(&v, "version skew")["status"], "ok", "{v}");
    assert_eq!(check_of(&v, "version skew")["detail"], "kubectl 1.35, server 1.36", "{v}");

    // the API does not answer although the node container runs (it answers only 10 minutes after
    // the container's start)
    env.set_knob("ready_delay_ms", "600000");
    let (code, v) = doctor(&env, &dir);
    assert_eq!(code, 0, "{v}");
    let c = check_of(&v, "version skew");
    assert_eq!(c["status"], "warn", "{v}");
    assert!(
        c["detail"].as_str().is_some_and(|d| d.starts_with("could not read the server version: ")
            && d.len() > "could not read the server version: ".len()),
        "{v}"
    );

    // a stopped node: no kubectl call at all
    env.set_knob("ready_delay_ms", "0");
    env.kilter(&dir).arg("stop").assert().success();
    let before = env.calls_of("kubectl").len();
    let (_, v) = doctor(&env, &dir);
    assert!(v["checks"].as_array().is_some_and(|a| a.iter().all(|c| c["name"] != "version skew")));
    let version_calls =
        env.calls_of("kubectl")[before..].iter().filter(|l| !l.contains("--client")).count();
    assert_eq!(version_calls, 0, "{:?}", env.calls_of("kubectl"));
}

/// The free space under Docker's data root (from `docker info`) is the space `df` reports there.
#[test]
fn doctor_reports_free_disk_under_dockers_data_root() {
    let env = Env::new();
    let dir = project(&env, "doc-disk", Some("name: doc-disk\n"), false);
    let root = env.root().join("docker-root");
    std::fs::create_dir_all(&root).expect("mkdir");
    env.set_knob("docker_root_dir", root.to_str().expect("utf-8"));
    let (_, v) = doctor(&env, &dir);
    let c = check_of(&v, "disk");
    let detail = c["detail"].as_str().expect("detail");
    let suffix = format!(" GiB free under {}", root.display());
    let gib: f64 = detail
        .strip_suffix(&suffix)
        .and_then(|n| n.parse().ok())
        .unwrap_or_else(|| panic!("{detail}"));
    let df = std::process::Command::new("df").args(["-Pk"]).arg(&root).output().expect("df runs");
    let df = String::from_utf8_lossy(&df.stdout);
    let avail_kib: f64 = df
        .lines()
        .nth(1)
        .and_then(|l| l.split_whitespace().nth(3))
        .and_then(|n| n.parse().ok())
        .unwrap_or_else(|| panic!("{df}"));
    let df_gib = avail_kib / (1024.0 * 1024.0);
    assert!((gib - df_gib).abs() < 0.2, "kilter {gib} GiB vs df {df_gib} GiB");
    let want = if gib < 2.0 {
        "fail"
    } else if gib < 10.0 {
        "warn"
    } else {
        "ok"
    };
    assert_eq!(c["status"], want, "{c}");

    // a data root kilter cannot see (Docker Desktop keeps it inside a VM): a warning, not a guess
    env.set_knob("docker_root_dir", "/nonexistent/docker");
    let (_, v) = doctor(&env, &dir);
    let c = check_of(&v, "disk");
    assert_eq!(c["status"], "warn", "{c}");
    assert!(c["detail"].as_str().is_some_and(|d| d.contains("/nonexistent/docker")), "{c}");
}

/// A running node whose kubeconfig is gone: `status` does not guess, it says what is missing and
/// how to get it back (and asks the API nothing).
#[test]
fn status_of_a_running_node_without_its_kubeconfig_says_so() {
    let env = Env::new();
    let dir = project(&env, "shop", Some("name: shop\n"), false);
    env.kilter(&dir).args(["up", "--no-tilt"]).assert().success();
    let kc = kubeconfig(&env, "shop");
    std::fs::remove_file(&kc).unwrap();
    let mark = env.calls().len();
    let out = env.kilter(&dir).args(["status", "--json"]).output().unwrap();
    assert!(out.status.success(), "{}", stderr_of(&out));
    let doc: serde_json::Value = serde_json::from_slice(&out.stdout).expect("json");
    let want = format!("no kubeconfig at {}; `kilter up` writes it", kc.display());
    assert_eq!(doc["api_error"], want.as_str(), "{doc}");
    assert!(calls_since(&env, mark).iter().all(|c| !c.starts_with("kubectl")), "no kubectl call");
}

/// The text form of `status`, line by line: a running project with Tilt and a ready service,
/// then the same project stopped, then a running one with no pods.
#[test]
fn status_text_shows_each_part_of_the_project() {
    let env = Env::new();
    let dir = project(&env, "shop", Some("name: shop\nservices: [postgres]\n"), true);
    env.kilter(&dir).arg("up").env("KILTER_REGISTRY", "off").assert().success();
    let status = |env: &Env, dir: &std::path::Path| {
        let out = env.kilter(dir).arg("status").env("KILTER_REGISTRY", "off").output().unwrap();
        assert!(out.status.success(), "{}", stderr_of(&out));
        stdout_of(&out)
    };
    let text = status(&env, &dir);
    let pid = tilt_pid(&env, "shop").expect("tilt runs");
    // slot 17 (docs/files.md): Tilt 10368, NodePorts 30340-30359, postgres on the top one.
    for want in [
        "node        running\n".to_owned(),
        "api         ok\n".to_owned(),
        format!("tilt        running, pid {pid}, http://localhost:10368/\n"),
        "ports       tilt 10368, NodePorts 30340-30359 on 127.0.0.1, API ".to_owned(),
        "registry    not used (registry: false in kilter.yaml, or KILTER_REGISTRY=off)\n".to_owned(),
        "services    postgres  ready                 127.0.0.1:30359 → postgres.shop-dev.svc:5432\n"
            .to_owned(),
        "pods in shop-dev:\n".to_owned(),
        "  postgres-0  1/1    Running             0 ".to_owned(),
    ] {
        assert!(text.contains(&want), "missing {want:?} in:\n{text}");
    }

    env.kilter(&dir).arg("stop").assert().success();
    let text = status(&env, &dir);
    for want in [
        "node        stopped (exited)\n",
        "api         - (node not running)\n",
        "tilt        not running\n",
    ] {
        assert!(text.contains(want), "missing {want:?} in:\n{text}");
    }

    let blog = project(&env, "blog", Some("name: blog\n"), false);
    env.kilter(&blog).args(["up", "--no-tilt"]).env("KILTER_REGISTRY", "off").assert().success();
    let text = status(&env, &blog);
    assert!(text.contains("pods        none in blog-dev\n"), "{text}");
    assert!(!text.contains("services "), "{text}");
}

/// `status` decides each service's state from its own pods only: pods that carry the service's
/// name and kilter's managed-by label, all Ready. A crashing pod is not ready; a pod of the same
/// name that kilter does not manage (someone else's) is not the service's.
#[test]
fn status_reads_each_services_state_from_its_own_pods() {
    let env = Env::new();
    let dir = project(&env, "shop", Some("name: shop\nservices: [postgres]\n"), false);
    env.kilter(&dir).args(["up", "--no-tilt"]).assert().success();
    // Listed after the `up`, so kilter has not applied them.
    std::fs::write(dir.join("kilter.yaml"), "name: shop\nservices: [postgres, redis, mailpit]\n")
        .unwrap();
    let (name, managed) =
        ("--label=app.kubernetes.io/name", "--label=app.kubernetes.io/managed-by=kilter");
    env.ctl(&[
        "workload",
        "shop-dev",
        "redis",
        "--kind",
        "statefulset",
        "--crash",
        &format!("{name}=redis"),
        managed,
    ]);
    env.ctl(&["workload", "shop-dev", "mailpit", &format!("{name}=mailpit")]);
    let out = env.kilter(&dir).args(["status", "--json"]).output().unwrap();
    assert!(out.status.success(), "{}", stderr_of(&out));
    let doc: serde_json::Value = serde_json::from_slice(&out.stdout).expect("json");
    let svc = |n: &str| {
        doc["services"].as_array().unwrap().iter().find(|s| s["name"] == n).cloned().unwrap()
    };
    assert_eq!(
        (svc("postgres")["ready"].clone(), svc("postgres")["state"].clone()),
        (true.into(), "ready".into())
    );
    assert_eq!(svc("redis")["ready"], false, "{doc}");
    let redis = svc("redis")["state"].as_str().unwrap_or_default().to_owned();
    assert!(redis.contains("CrashLoopBackOff"), "its own crashing pod: {doc}");
    assert_eq!(svc("mailpit")["ready"], false, "{doc}");
    assert_eq!(svc("mailpit")["state"], "not deployed (`kilter up` applies it)", "{doc}");
}
