//! The shared local registry and pull-through caches against the fake tools (README "Local
//! registry"): what `up` creates and wires, what a second project reuses, the one-probe check
//! on a running project and its repairs, the opt-outs, and `kilter registry …`.

use std::path::Path;

use serde_json::Value;

use crate::helpers::*;
use crate::support::{Env, read};

const CACHES: [&str; 4] = ["docker.io", "ghcr.io", "quay.io", "registry.k8s.io"];

/// A port that was free a moment ago (the fake docker binds nothing, but kilter's busy check
/// connects to the real 127.0.0.1, where another program may hold 5001).
fn free_port() -> u16 {
    crate::support::quiet_ports(2)
}

/// The check named `name` of `kilter doctor --json` (with the registry on `port`).
fn doctor_check(env: &Env, dir: &Path, port: u16, name: &str) -> Value {
    let out = env
        .kilter(dir)
        .env("KILTER_REGISTRY_PORT", port.to_string())
        .args(["doctor", "--json"])
        .output()
        .expect("runs");
    let d: Value = serde_json::from_slice(&out.stdout)
        .unwrap_or_else(|e| panic!("doctor --json: {e}\n{}", stderr_of(&out)));
    d["checks"]
        .as_array()
        .and_then(|c| c.iter().find(|c| c["name"] == name))
        .cloned()
        .unwrap_or_else(|| panic!("no check named {name:?}: {d}"))
}

fn kilter_ok(env: &Env, dir: &Path, port: u16, args: &[&str]) -> std::process::Output {
    let out = env
        .kilter(dir)
        .env("KILTER_REGISTRY_PORT", port.to_string())
        .args(args)
        .output()
        .expect("runs");
    assert!(
        out.status.success(),
        "kilter {args:?} failed ({:?})\nstderr:\n{}\nstdout:\n{}",
        out.status.code(),
        stderr_of(&out),
        stdout_of(&out)
    );
    out
}

/// `docker exec NODE cat FILE` through the fake docker (its per-container file map).
fn node_file(env: &Env, node: &str, path: &str) -> Option<String> {
    let out = env.tool("docker").args(["exec", node, "cat", path]).output().expect("docker");
    out.status.success().then(|| String::from_utf8_lossy(&out.stdout).into_owned())
}

fn configmap(env: &Env, name: &str) -> Option<Value> {
    let kc = kubeconfig(env, name);
    let out = env
        .tool("kubectl")
        .env("KUBECONFIG", &kc)
        .args([
            "--context",
            &format!("kind-kilter-{name}"),
            "get",
            "configmap",
            "-n",
            "kube-public",
            "local-registry-hosting",
            "-o",
            "json",
        ])
        .output()
        .expect("kubectl");
    out.status.success().then(|| serde_json::from_slice(&out.stdout).expect("json"))
}

fn volumes(env: &Env) -> Vec<String> {
    let out = env
        .tool("docker")
        .args(["volume", "ls", "--filter", "label=io.kilter.shared", "--format", "{{.Name}}"])
        .output()
        .expect("docker");
    String::from_utf8_lossy(&out.stdout).lines().map(str::to_owned).collect()
}

fn on_kind(c: &Value) -> bool {
    c["NetworkSettings"]["Networks"].get("kind").is_some()
}

#[test]
fn first_up_creates_the_registry_and_caches_and_wires_the_node() {
    let env = Env::new();
    let port = free_port();
    let dir = project(&env, "shop", Some("name: shop\n"), false);
    let out = kilter_ok(&env, &dir, port, &["up"]);
    let err = stderr_of(&out);
    assert!(!err.contains("warning"), "{err}");
    assert!(err.contains(&format!("registry    localhost:{port}")), "{err}");

    // The registry: published on loopback, its own volume, unless-stopped, on kind.
    let reg = env.container("kilter-registry").expect("registry exists");
    assert_eq!(reg["State"]["Status"], "running");
    assert_eq!(reg["HostConfig"]["RestartPolicy"]["Name"], "unless-stopped");
    assert_eq!(
        reg["HostConfig"]["PortBindings"]["5000/tcp"][0],
        serde_json::json!({"HostIp": "127.0.0.1", "HostPort": port.to_string()})
    );
    assert_eq!(reg["Mounts"][0]["Name"], "kilter-registry");
    assert_eq!(reg["Config"]["Image"], "registry:3");
    assert!(on_kind(&reg), "connected to kind once the cluster exists: {reg}");
    // One cache per upstream, each with its own volume and REGISTRY_PROXY_REMOTEURL.
    for u in CACHES {
        let c = env.container(&format!("kilter-cache-{u}")).expect("cache exists");
        assert_eq!(c["State"]["Status"], "running");
        assert!(on_kind(&c));
        assert_eq!(c["Mounts"][0]["Name"], format!("kilter-cache-{u}"));
        assert_eq!(c["HostConfig"]["PortBindings"], serde_json::json!({}), "not published");
        let env_list = c["Config"]["Env"].as_array().expect("env").clone();
        let remote = if u == "docker.io" {
            "https://registry-1.docker.io".into()
        } else {
            format!("https://{u}")
        };
        assert!(
            env_list.contains(&Value::from(format!("REGISTRY_PROXY_REMOTEURL={remote}"))),
            "{env_list:?}"
        );
    }
    let mut vols = volumes(&env);
    vols.sort();
    assert_eq!(vols.len(), 5, "{vols:?}");

    // The kind config has kind's containerd patch.
    let cfg = read(env.cache_dir("shop").join("kind-config.yaml"));
    assert!(cfg.contains("config_path = \"/etc/containerd/certs.d\""), "{cfg}");
    // hosts.toml files in the node; stdin came from files in the cache dir (re-runnable lines).
    let node = "kilter-shop-control-plane";
    assert_eq!(
        node_file(&env, node, &format!("/etc/containerd/certs.d/localhost:{port}/hosts.toml"))
            .as_deref(),
        Some("[host.\"http://kilter-registry:5000\"]\n")
    );
    let hub =
        node_file(&env, node, "/etc/containerd/certs.d/docker.io/hosts.toml").expect("hosts.toml");
    assert!(hub.starts_with("server = \"https://registry-1.docker.io\""), "{hub}");
    assert!(hub.contains("[host.\"http://kilter-cache-docker.io:5000\"]\n  capabilities = [\"pull\", \"resolve\"]"), "{hub}");
    let log = commands_log(&env, "shop");
    let cp = log
        .lines()
        .find(|l| l.contains("cp /dev/stdin /etc/containerd/certs.d/docker.io/hosts.toml"))
        .expect("cp logged");
    let stdin = env.cache_dir("shop").join("registry/certs.d/docker.io/hosts.toml");
    assert!(cp.ends_with(&format!("< {}", stdin.display())), "{cp}");
    assert_eq!(read(&stdin), hub);
    // The KEP-1755 ConfigMap.
    let cm = configmap(&env, "shop").expect("configmap");
    assert_eq!(
        cm["data"]["localRegistryHosting.v1"],
        format!(
            "host: \"localhost:{port}\"\nhelp: \"https://kind.sigs.k8s.io/docs/user/local-registry/\"\n"
        )
    );
    assert!(log.contains("apply --server-side '--field-manager=kilter' -f"), "{log}");
    // Recorded in the port registry.
    let ports: Value =
        serde_json::from_str(&read(env.state_home().join("kilter/ports.json"))).expect("json");
    assert_eq!(ports["registry_port"], port);
}

#[test]
fn a_second_project_reuses_the_shared_containers_and_only_wires_its_own_node() {
    let env = Env::new();
    let port = free_port();
    let a = project(&env, "a", Some("name: a\n"), false);
    let b = project(&env, "b", Some("name: b\n"), false);
    kilter_ok(&env, &a, port, &["up"]);
    let reg_id = env.container("kilter-registry").expect("registry")["Id"].clone();
    let mark = env.calls().len();
    kilter_ok(&env, &b, port, &["up"]);
    let calls = calls_since(&env, mark);
    assert!(
        !calls.iter().any(|c| c.starts_with("docker run") || c.starts_with("docker volume create")),
        "{calls:#?}"
    );
    assert_eq!(
        env.container("kilter-registry").expect("registry")["Id"],
        reg_id,
        "the same registry"
    );
    assert!(
        node_file(&env, "kilter-b-control-plane", "/etc/containerd/certs.d/quay.io/hosts.toml")
            .is_some()
    );
    assert!(configmap(&env, "b").is_some());
}

#[test]
fn up_on_a_running_project_probes_once_and_repairs_only_what_is_missing() {
    let env = Env::new();
    let port = free_port();
    let dir = project(&env, "shop", Some("name: shop\n"), false);
    kilter_ok(&env, &dir, port, &["up"]);

    // All in place: one inspect (node + shared), one `cat` of every hosts.toml, nothing changed.
    let mark = env.calls().len();
    let out = kilter_ok(&env, &dir, port, &["-v", "up"]);
    assert!(!stderr_of(&out).contains("repairing"), "{}", stderr_of(&out));
    let calls = calls_since(&env, mark);
    let docker: Vec<&String> = calls.iter().filter(|c| c.starts_with("docker ")).collect();
    assert_eq!(docker.len(), 3, "info, inspect, cat: {docker:#?}");
    assert!(docker.iter().any(|c| c.starts_with("docker inspect --type container kilter-shop-control-plane kilter-registry kilter-cache-docker.io")));
    assert_eq!(calls.iter().filter(|c| c.contains(" cat /etc/containerd/certs.d/")).count(), 1);
    assert!(
        !calls
            .iter()
            .any(|c| c.contains(" apply ") || c.contains(" cp ") || c.starts_with("docker start")),
        "{calls:#?}"
    );
    let log = commands_log(&env, "shop");
    let before_lines = log.lines().count();
    kilter_ok(&env, &dir, port, &["up", "--no-tilt"]);
    let after = commands_log(&env, "shop");
    // The poll's summary lines (`# probe 1 of 1 …`) are not processes.
    let spawned: Vec<&str> =
        after.lines().skip(before_lines).filter(|l| !l.contains("  # probe ")).collect();
    assert!(spawned.len() <= 5, "processes of `up` on a running project: {spawned:#?}");

    // Break three things: stop the registry, delete one hosts.toml, change the ConfigMap.
    env.tool("docker").args(["stop", "kilter-registry"]).output().expect("docker");
    let id = env.container("kilter-shop-control-plane").expect("node")["Id"]
        .as_str()
        .unwrap()
        .to_owned();
    let files_json = env.state_dir().join("files").join(format!("{id}.json"));
    let mut files: Value = serde_json::from_str(&read(&files_json)).expect("json");
    files["files"].as_object_mut().unwrap().remove("/etc/containerd/certs.d/ghcr.io/hosts.toml");
    std::fs::write(&files_json, files.to_string()).expect("write");
    let stale = env.root().join("stale.yaml");
    std::fs::write(
        &stale,
        "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: local-registry-hosting\n  namespace: kube-public\ndata:\n  localRegistryHosting.v1: |\n    host: \"localhost:1\"\n",
    )
    .expect("write");
    let kc = kubeconfig(&env, "shop");
    let applied = env
        .tool("kubectl")
        .env("KUBECONFIG", &kc)
        .args(["--context", "kind-kilter-shop", "apply", "--server-side", "-f"])
        .arg(&stale)
        .output()
        .expect("kubectl");
    assert_eq!(
        String::from_utf8_lossy(&applied.stdout),
        "configmap/local-registry-hosting serverside-applied\n"
    );

    let mark = env.calls().len();
    let out = kilter_ok(&env, &dir, port, &["-v", "up"]);
    assert!(
        stderr_of(&out).contains("repairing 1 containerd registry file(s) in the node"),
        "{}",
        stderr_of(&out)
    );
    let calls = calls_since(&env, mark);
    assert!(calls.contains(&"docker start kilter-registry".to_owned()), "{calls:#?}");
    let cps: Vec<&String> = calls.iter().filter(|c| c.contains(" cp /dev/stdin ")).collect();
    assert_eq!(cps.len(), 1, "only the missing file: {cps:#?}");
    assert!(cps[0].ends_with("/etc/containerd/certs.d/ghcr.io/hosts.toml"));
    assert!(
        calls.iter().any(|c| c.contains(" apply --server-side '--field-manager=kilter' -f ")),
        "{calls:#?}"
    );
    assert!(
        node_file(&env, "kilter-shop-control-plane", "/etc/containerd/certs.d/ghcr.io/hosts.toml")
            .is_some()
    );
    assert_eq!(
        configmap(&env, "shop").expect("cm")["data"]["localRegistryHosting.v1"],
        format!(
            "host: \"localhost:{port}\"\nhelp: \"https://kind.sigs.k8s.io/docs/user/local-registry/\"\n"
        )
    );
    assert_eq!(container_status(&env, "kilter-registry").as_deref(), Some("running"));
}

#[test]
fn registry_false_and_machine_off_create_nothing() {
    let env = Env::new();
    let port = free_port();
    let a = project(&env, "a", Some("name: a\nregistry: false\n"), false);
    let out = kilter_ok(&env, &a, port, &["up"]);
    assert!(!stderr_of(&out).contains("unknown key"), "{}", stderr_of(&out));
    let b = project(&env, "b", Some("name: b\n"), false);
    let out = env.kilter(&b).env("KILTER_REGISTRY", "off").arg("up").output().expect("runs");
    assert!(out.status.success(), "{}", stderr_of(&out));
    assert!(env.container("kilter-registry").is_none());
    assert!(!env.calls().iter().any(|c| c.starts_with("docker run")
        || c.contains("docker exec")
        || c.contains(" apply ")));
    for p in ["a", "b"] {
        assert!(!read(env.cache_dir(p).join("kind-config.yaml")).contains("containerd"));
    }
    let st = kilter_ok(&env, &a, port, &["status", "--json"]);
    let st: Value = serde_json::from_slice(&st.stdout).expect("json");
    assert_eq!(st["registry"]["enabled"], false);
    // A wrong type is an error naming the file.
    let c = project(&env, "c", Some("name: c\nregistry: maybe\n"), false);
    let out = env.kilter(&c).arg("up").output().expect("runs");
    assert_eq!(out.status.code(), Some(4), "{}", stderr_of(&out));
    assert!(stderr_of(&out).contains("registry: expected true or false"), "{}", stderr_of(&out));
}

#[test]
fn a_busy_port_moves_the_registry_to_the_next_free_one_and_says_so() {
    let env = Env::new();
    // A held port whose next one is free.
    let busy = free_port();
    let holder = std::net::TcpListener::bind(("127.0.0.1", busy)).expect("hold the port");
    let dir = project(&env, "shop", Some("name: shop\n"), false);
    let out = kilter_ok(&env, &dir, busy, &["up"]);
    assert!(
        stderr_of(&out).contains(&format!(
            "port {busy} is in use by another program; the local registry uses 127.0.0.1:{}",
            busy + 1
        )),
        "{}",
        stderr_of(&out)
    );
    let reg = env.container("kilter-registry").expect("registry");
    assert_eq!(
        reg["HostConfig"]["PortBindings"]["5000/tcp"][0]["HostPort"],
        (busy + 1).to_string()
    );
    assert!(
        node_file(
            &env,
            "kilter-shop-control-plane",
            &format!("/etc/containerd/certs.d/localhost:{}/hosts.toml", busy + 1)
        )
        .is_some()
    );
    // The port is sticky: freeing the preferred one later does not move the registry.
    drop(holder);
    let mark = env.calls().len();
    kilter_ok(&env, &dir, busy, &["up"]);
    assert!(!calls_since(&env, mark).iter().any(|c| c.starts_with("docker run")));
}

#[test]
fn stop_and_destroy_never_touch_the_shared_containers() {
    let env = Env::new();
    let port = free_port();
    let dir = project(&env, "shop", Some("name: shop\n"), false);
    kilter_ok(&env, &dir, port, &["up"]);
    kilter_ok(&env, &dir, port, &["stop"]);
    kilter_ok(&env, &dir, port, &["destroy", "--yes"]);
    assert!(!env.calls().iter().any(|c| c.contains("kilter-registry")
        && (c.starts_with("docker stop") || c.starts_with("docker rm"))));
    assert_eq!(container_status(&env, "kilter-registry").as_deref(), Some("running"));
    for u in CACHES {
        assert_eq!(
            container_status(&env, &format!("kilter-cache-{u}")).as_deref(),
            Some("running")
        );
    }
    assert!(
        !env.cache_dir("shop").join("registry").exists(),
        "destroy removes the cluster's copies"
    );
}

#[test]
fn registry_commands_status_stop_start_rm() {
    let env = Env::new();
    let port = free_port();
    let dir = project(&env, "shop", Some("name: shop\n"), false);
    // `start` before any cluster: no kind network yet, so the caches wait on the default bridge.
    let out = kilter_ok(&env, &dir, port, &["registry", "start"]);
    assert!(stderr_of(&out).contains("no kind network yet"), "{}", stderr_of(&out));
    assert!(!on_kind(&env.container("kilter-cache-ghcr.io").expect("cache")));
    kilter_ok(&env, &dir, port, &["up"]);
    assert!(on_kind(&env.container("kilter-cache-ghcr.io").expect("cache")), "up connects them");

    let st = kilter_ok(&env, &dir, port, &["registry", "status", "--json"]);
    let st: Value = serde_json::from_slice(&st.stdout).expect("json");
    assert_eq!(st["schema_version"], 1);
    assert_eq!(st["port"], port);
    let rows = st["containers"].as_array().expect("rows");
    assert_eq!(rows.len(), 5);
    assert_eq!(rows[0]["address"], format!("127.0.0.1:{port}"));
    assert!(rows.iter().all(|r| r["state"] == "running"
        && r["volume_exists"] == true
        && r["on_kind_network"] == true));

    // `status`, `ls` and `doctor` show them.
    let s = kilter_ok(&env, &dir, port, &["status"]);
    assert!(
        stdout_of(&s)
            .contains(&format!("registry    running on 127.0.0.1:{port}, 4/4 caches running")),
        "{}",
        stdout_of(&s)
    );
    let l = kilter_ok(&env, &dir, port, &["ls"]);
    assert!(stdout_of(&l).contains("registry: running (127.0.0.1:"), "{}", stdout_of(&l));
    assert!(stdout_of(&l).contains("caches 4/4 running"), "{}", stdout_of(&l));
    // `ls --json` lists the shared containers registry first, then the caches in their order.
    let l = kilter_ok(&env, &dir, port, &["ls", "--json"]);
    let doc: serde_json::Value = serde_json::from_slice(&l.stdout).expect("json");
    let names: Vec<&str> = doc["registry"]
        .as_array()
        .unwrap_or_else(|| panic!("no registry list: {doc}"))
        .iter()
        .filter_map(|r| r["name"].as_str())
        .collect();
    assert_eq!(
        names,
        [
            "kilter-registry",
            "kilter-cache-docker.io",
            "kilter-cache-ghcr.io",
            "kilter-cache-quay.io",
            "kilter-cache-registry.k8s.io"
        ]
    );
    let wiring = doctor_check(&env, &dir, port, "registry wiring");
    assert_eq!(wiring["status"], "ok", "{wiring}");
    let reg = doctor_check(&env, &dir, port, "registry");
    assert_eq!(reg["status"], "ok", "{reg}");

    kilter_ok(&env, &dir, port, &["registry", "stop"]);
    assert_eq!(container_status(&env, "kilter-registry").as_deref(), Some("exited"));
    // A stopped registry publishes no port: `ls` shows its state alone.
    let l = stdout_of(&kilter_ok(&env, &dir, port, &["ls"]));
    assert!(l.contains("registry: exited; caches 0/4 running"), "{l}");
    let reg = doctor_check(&env, &dir, port, "registry");
    assert_eq!(reg["status"], "warn", "{reg}");
    let detail = reg["detail"].as_str().unwrap_or_default();
    assert!(detail.contains("(not running: kilter-registry, kilter-cache-docker.io"), "{reg}");
    assert!(!detail.contains("missing"), "nothing is missing: {reg}");
    kilter_ok(&env, &dir, port, &["registry", "start"]);
    assert_eq!(container_status(&env, "kilter-registry").as_deref(), Some("running"));

    // One cache removed behind kilter's back: doctor names it as missing, and nothing as stopped.
    let rm =
        env.tool("docker").args(["rm", "-f", "kilter-cache-quay.io"]).output().expect("docker");
    assert!(rm.status.success(), "{}", stderr_of(&rm));
    let reg = doctor_check(&env, &dir, port, "registry");
    assert_eq!(reg["status"], "warn", "{reg}");
    let detail = reg["detail"].as_str().unwrap_or_default();
    assert!(detail.ends_with("(missing: kilter-cache-quay.io)"), "{reg}");
    kilter_ok(&env, &dir, port, &["registry", "start"]);
    assert_eq!(container_status(&env, "kilter-cache-quay.io").as_deref(), Some("running"));

    // rm without a terminal needs --yes; with it the containers go, the volumes stay.
    let out = env.kilter(&dir).args(["registry", "rm"]).output().expect("runs");
    assert_eq!(out.status.code(), Some(4), "{}", stderr_of(&out));
    assert!(env.container("kilter-registry").is_some(), "nothing removed");
    let out = kilter_ok(&env, &dir, port, &["registry", "rm", "--yes"]);
    assert!(env.container("kilter-registry").is_none());
    assert_eq!(volumes(&env).len(), 5, "volumes kept");
    let err = stderr_of(&out);
    let removed = err.lines().find(|l| l.contains("Removed ")).unwrap_or_default();
    assert!(removed.contains("Removed kilter-registry, kilter-cache-"), "{err}");
    assert!(!removed.contains("volume"), "no volume was removed: {err}");
    assert!(err.contains("The volumes are kept"), "{err}");
    let out = kilter_ok(&env, &dir, port, &["registry", "rm", "--yes", "--volumes"]);
    assert!(volumes(&env).is_empty());
    let err = stderr_of(&out);
    let removed = err.lines().find(|l| l.contains("Removed ")).unwrap_or_default();
    assert!(removed.ends_with("Removed no containers and 5 volume(s)"), "{err}");
    assert!(!err.contains("The volumes are kept"), "{err}");
    assert!(CACHES.iter().all(|u| env.container(&format!("kilter-cache-{u}")).is_none()));
}

/// On a terminal, `registry rm` asks for the word `registry`: another answer removes nothing
/// (exit 4), the word proceeds. Without a terminal it does not ask: `--yes` is required. Runs
/// kilter under a pseudo-terminal with util-linux `script`.
#[test]
fn registry_rm_on_a_terminal_asks_for_the_word_registry() {
    let Some(script) = crate::support::script_or_skip("registry rm's terminal confirmation") else {
        return;
    };
    let env = Env::new();
    let port = free_port();
    let dir = project(&env, "shop", Some("name: shop\n"), false);
    kilter_ok(&env, &dir, port, &["registry", "start"]);
    let out = env.kilter(&dir).args(["registry", "rm"]).output().expect("runs");
    let err = stderr_of(&out);
    assert_eq!(out.status.code(), Some(4), "{err}");
    assert!(err.contains("without confirmation: no terminal to ask on"), "{err}");
    assert!(!err.contains("Type `registry`"), "no question without a terminal: {err}");

    let kilter = env!("CARGO_BIN_EXE_kilter");
    let run = |answer: &str| {
        let mut cmd =
            crate::support::on_a_terminal(script, &env, &dir, &format!("{kilter} registry rm"));
        cmd.env("KILTER_REGISTRY_PORT", port.to_string());
        crate::support::answered(cmd, answer)
    };
    let out = run("yes");
    let shown = format!("{}{}", stdout_of(&out), stderr_of(&out));
    assert_eq!(out.status.code(), Some(4), "{shown}");
    assert!(shown.contains("Type `registry` to confirm"), "{shown}");
    assert!(shown.contains("confirmation did not match; nothing was removed"), "{shown}");
    assert!(env.container("kilter-registry").is_some(), "nothing removed");
    let out = run("registry");
    let shown = format!("{}{}", stdout_of(&out), stderr_of(&out));
    assert_eq!(out.status.code(), Some(0), "{shown}");
    assert!(env.container("kilter-registry").is_none(), "{shown}");
}

#[test]
fn the_dry_run_script_replays_to_the_same_registry_state() {
    let port = free_port();
    let run = |dry: bool| -> (Env, Vec<Value>) {
        let env = Env::new();
        let dir = project(&env, "shop", Some("name: shop\n"), false);
        if dry {
            let out = kilter_ok(&env, &dir, port, &["up", "--dry-run", "--no-tilt"]);
            let script = stdout_of(&out);
            assert!(
                script.contains(
                    "docker volume create --label 'io.kilter.shared=registry' kilter-registry"
                ),
                "{script}"
            );
            assert!(script.contains("docker network connect kind kilter-registry"), "{script}");
            let sh = std::process::Command::new("/bin/sh")
                .arg("-c")
                .arg(&script)
                .env_clear()
                .envs(env.vars())
                // the script's own mkdir/cat/chmod; the fakes stay first on PATH
                .env("PATH", format!("{}:/usr/bin:/bin", env.bin().display()))
                .current_dir(&dir)
                .output()
                .expect("sh");
            assert!(
                sh.status.success(),
                "script failed: {}\n{script}",
                String::from_utf8_lossy(&sh.stderr)
            );
        } else {
            kilter_ok(&env, &dir, port, &["up", "--no-tilt"]);
        }
        let mut seen: Vec<Value> =
            ["kilter-registry", "kilter-cache-docker.io", "kilter-cache-registry.k8s.io"]
                .iter()
                .map(|n| {
                    let c = env.container(n).expect("container");
                    serde_json::json!({
                        "name": n,
                        "state": c["State"]["Status"],
                        "ports": c["HostConfig"]["PortBindings"],
                        "restart": c["HostConfig"]["RestartPolicy"]["Name"],
                        "kind": on_kind(&c),
                        "env": c["Config"]["Env"],
                        "labels": c["Config"]["Labels"],
                    })
                })
                .collect();
        let node = "kilter-shop-control-plane";
        for host in [format!("localhost:{port}"), "docker.io".into(), "registry.k8s.io".into()] {
            seen.push(Value::from(node_file(
                &env,
                node,
                &format!("/etc/containerd/certs.d/{host}/hosts.toml"),
            )));
        }
        seen.push(configmap(&env, "shop").map(|c| c["data"].clone()).unwrap_or(Value::Null));
        let mut v = volumes(&env);
        v.sort();
        seen.push(Value::from(v));
        (env, seen)
    };
    let (_real_env, real) = run(false);
    let (_dry_env, dry) = run(true);
    assert_eq!(real, dry);
}

/// `docker run -d --name NAME busybox:1.36` through the fake docker: a container of the user's,
/// without kilter's label.
fn users_container(env: &Env, name: &str) {
    let out = env
        .tool("docker")
        .args(["run", "-d", "--name", name, "busybox:1.36"])
        .output()
        .expect("docker");
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
}

fn mutations_of(calls: &[String], name: &str) -> Vec<String> {
    calls
        .iter()
        .filter(|c| {
            c.split(' ').any(|w| w == name)
                && [
                    "docker start",
                    "docker stop",
                    "docker rm",
                    "docker network connect",
                    "docker run",
                ]
                .iter()
                .any(|p| c.starts_with(p))
        })
        .cloned()
        .collect()
}

#[test]
fn a_same_named_container_kilter_did_not_create_is_never_started_connected_stopped_or_removed() {
    let env = Env::new();
    let port = free_port();
    let dir = project(&env, "shop", Some("name: shop\n"), false);
    users_container(&env, "kilter-registry");
    env.tool("docker").args(["stop", "kilter-registry"]).output().expect("docker");
    let id = env.container("kilter-registry").expect("the user's")["Id"].clone();
    let mark = env.calls().len();

    for verb in [&["registry", "start"][..], &["registry", "stop"], &["registry", "rm", "--yes"]] {
        let out = env
            .kilter(&dir)
            .env("KILTER_REGISTRY_PORT", port.to_string())
            .args(verb)
            .output()
            .expect("runs");
        let err = stderr_of(&out);
        assert_eq!(out.status.code(), Some(1), "{verb:?}: {err}");
        assert!(
            err.contains("docker container kilter-registry is in the way: kilter did not create it (no `io.kilter.shared` label)"),
            "{verb:?}: {err}"
        );
        assert!(err.contains("docker rename kilter-registry kilter-registry-old"), "{err}");
    }
    // `up` goes on without the registry, with a warning, and leaves the container alone.
    let out = kilter_ok(&env, &dir, port, &["up"]);
    let err = stderr_of(&out);
    assert!(err.contains("warning: the local registry could not be set up"), "{err}");
    assert!(err.contains("kilter-registry is in the way"), "{err}");
    let calls = calls_since(&env, mark);
    assert_eq!(mutations_of(&calls, "kilter-registry"), Vec::<String>::new(), "{calls:#?}");
    assert!(!calls.iter().any(|c| c.starts_with("docker run")), "nothing created: {calls:#?}");
    let c = env.container("kilter-registry").expect("still there");
    assert_eq!(c["Id"], id);
    assert_eq!(c["State"]["Status"], "exited");
    assert!(!on_kind(&c));
    assert!(
        node_file(
            &env,
            "kilter-shop-control-plane",
            &format!("/etc/containerd/certs.d/localhost:{port}/hosts.toml")
        )
        .is_none(),
        "the node is not pointed at it"
    );
    assert!(configmap(&env, "shop").is_none());
    // `registry status` and `doctor` say what is in the way.
    let st = kilter_ok(&env, &dir, port, &["registry", "status"]);
    assert!(stdout_of(&st).contains("exited (not kilter's)"), "{}", stdout_of(&st));
    let st = kilter_ok(&env, &dir, port, &["registry", "status", "--json"]);
    let st: Value = serde_json::from_slice(&st.stdout).expect("json");
    assert_eq!(st["containers"][0]["kilters"], false);
    assert_eq!(st["containers"][1]["kilters"], true, "an absent cache counts as kilter's");
    // `ls` lists only kilter's own shared containers: none here.
    let ls = kilter_ok(&env, &dir, port, &["ls", "--json"]);
    let ls: Value = serde_json::from_slice(&ls.stdout).expect("json");
    assert_eq!(ls["registry"], serde_json::json!([]), "{ls}");
}

#[test]
fn a_running_container_of_the_users_is_not_connected_by_up_and_a_cache_name_counts_too() {
    let env = Env::new();
    let port = free_port();
    let dir = project(&env, "shop", Some("name: shop\n"), false);
    users_container(&env, "kilter-cache-quay.io");
    let mark = env.calls().len();
    let out = kilter_ok(&env, &dir, port, &["up"]);
    assert!(stderr_of(&out).contains("kilter-cache-quay.io is in the way"), "{}", stderr_of(&out));
    let calls = calls_since(&env, mark);
    assert_eq!(mutations_of(&calls, "kilter-cache-quay.io"), Vec::<String>::new(), "{calls:#?}");
    assert!(!calls.iter().any(|c| c.starts_with("docker run")), "{calls:#?}");
    let c = env.container("kilter-cache-quay.io").expect("still there");
    assert_eq!(c["State"]["Status"], "running");
    assert!(!on_kind(&c), "not connected to kind");
}

#[test]
fn a_volume_kilter_did_not_create_is_never_mounted() {
    let env = Env::new();
    let port = free_port();
    let dir = project(&env, "shop", Some("name: shop\n"), false);
    let out =
        env.tool("docker").args(["volume", "create", "kilter-registry"]).output().expect("docker");
    assert!(out.status.success());
    let mark = env.calls().len();
    let out = env
        .kilter(&dir)
        .env("KILTER_REGISTRY_PORT", port.to_string())
        .args(["registry", "start"])
        .output()
        .expect("runs");
    let err = stderr_of(&out);
    assert_eq!(out.status.code(), Some(1), "{err}");
    assert!(err.contains("docker volume kilter-registry is in the way"), "{err}");
    assert!(err.contains("docker volume rm kilter-registry"), "{err}");
    let calls = calls_since(&env, mark);
    assert!(
        !calls.iter().any(|c| c.starts_with("docker run") || c.starts_with("docker volume create")),
        "nothing created: {calls:#?}"
    );
    assert!(env.container("kilter-registry").is_none());
    assert!(volumes(&env).is_empty(), "the user's volume has no label and gets none");
}

/// `docker volume inspect` failing for a reason other than "no such volume" (here the daemon
/// refuses it) is an error: kilter cannot tell whose the volumes are, so it creates nothing.
#[test]
fn a_volume_inspect_that_fails_otherwise_creates_nothing() {
    let env = Env::new();
    let port = free_port();
    let dir = project(&env, "shop", Some("name: shop\n"), false);
    let wrapper = script(
        &env,
        "docker-refusing",
        &format!(
            "if [ \"$1\" = volume ] && [ \"$2\" = inspect ]; then\n\
             echo '[]'\n\
             echo 'Error response from daemon: permission denied' >&2\n\
             exit 1\n\
             fi\n\
             exec {} \"$@\"\n",
            env.bin().join("docker").display()
        ),
    );
    let mark = env.calls().len();
    let out = env
        .kilter(&dir)
        .env("KILTER_REGISTRY_PORT", port.to_string())
        .env("KILTER_DOCKER", &wrapper)
        .args(["registry", "start"])
        .output()
        .expect("runs");
    let err = stderr_of(&out);
    assert_eq!(out.status.code(), Some(1), "{err}");
    assert!(err.contains("permission denied"), "{err}");
    let calls = calls_since(&env, mark);
    assert!(
        !calls.iter().any(|c| c.starts_with("docker run") || c.starts_with("docker volume create")),
        "nothing created: {calls:#?}"
    );
}
