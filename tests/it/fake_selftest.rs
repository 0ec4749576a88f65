//! Self-tests of the fake tools (tests/fake/), called directly through the harness: they must
//! behave like the real tools as tests/fake/README.md describes them.
#![allow(clippy::unwrap_used)]

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::Duration;

use serde_json::Value;

use crate::support::{Env, pid_alive, read, wait_until};

/// (exit code, stdout, stderr)
fn run(cmd: &mut Command) -> (i32, String, String) {
    let out = cmd.output().unwrap();
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8(out.stdout).unwrap(),
        String::from_utf8(out.stderr).unwrap(),
    )
}

fn ok(cmd: &mut Command) -> String {
    let (code, stdout, stderr) = run(cmd);
    assert_eq!(code, 0, "stdout: {stdout}\nstderr: {stderr}");
    stdout
}

const NODE: &str = "kilter-shop-control-plane";

/// A kind config with two extraPortMappings, like kilter generates.
fn kind_config(env: &Env) -> PathBuf {
    let p = env.root().join("kind-config.yaml");
    std::fs::write(
        &p,
        "kind: Cluster\napiVersion: kind.x-k8s.io/v1alpha4\nnodes:\n- role: control-plane\n  extraPortMappings:\n  - containerPort: 30000\n    hostPort: 30000\n    listenAddress: 127.0.0.1\n    protocol: TCP\n  - containerPort: 30001\n    hostPort: 30001\n    listenAddress: 127.0.0.1\n",
    )
    .unwrap();
    p
}

fn kubeconfig_path(env: &Env) -> PathBuf {
    env.cache_dir("shop").join("kubeconfig")
}

/// `kind create cluster --name kilter-shop --kubeconfig … --config …` → stderr.
fn create(env: &Env) -> String {
    let cfg = kind_config(env);
    let (code, stdout, stderr) = run(env
        .tool("kind")
        .args(["create", "cluster", "--name", "kilter-shop", "--kubeconfig"])
        .arg(kubeconfig_path(env))
        .arg("--config")
        .arg(&cfg));
    assert_eq!(code, 0, "{stderr}");
    assert_eq!(stdout, "", "kind create prints nothing on stdout");
    stderr
}

fn kubectl(env: &Env, args: &[&str]) -> Command {
    let mut c = env.tool("kubectl");
    c.arg("--kubeconfig").arg(kubeconfig_path(env)).args(args);
    c
}

fn readyz(env: &Env) -> (i32, String, String) {
    run(&mut kubectl(env, &["get", "--raw", "/readyz"]))
}

fn namespaces(env: &Env) -> Vec<String> {
    let out = ok(&mut kubectl(env, &["get", "namespaces", "-o", "json"]));
    let v: Value = serde_json::from_str(&out).unwrap();
    v["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|i| i["metadata"]["name"].as_str().unwrap().to_string())
        .collect()
}

#[test]
fn kind_create_makes_a_running_node_with_ports_labels_and_kubeconfig() {
    let env = Env::new();
    env.set_knob("cgroup", "v2"); // no deprecation warning first
    let stderr = create(&env);
    assert!(stderr.starts_with("Creating cluster \"kilter-shop\" ...\n"), "{stderr}");
    assert!(stderr.contains(" • Ensuring node image (kindest/node:v1.36.1) 🖼  ...\n"), "{stderr}");
    assert!(stderr.contains(" ✓ Preparing nodes 📦 \n"), "{stderr}");
    let kc = kubeconfig_path(&env);
    assert!(stderr.contains(&format!(
        "kubectl cluster-info --context kind-kilter-shop --kubeconfig {}\n",
        kc.display()
    )));

    let c = env.container(NODE).expect("node container");
    assert_eq!(c["State"]["Status"], "running");
    assert_eq!(c["State"]["Running"], true);
    assert_eq!(c["Name"], format!("/{NODE}"));
    assert_eq!(c["Id"].as_str().unwrap().len(), 64);
    assert_eq!(c["Config"]["Hostname"], NODE);
    assert_eq!(c["Config"]["Labels"]["io.x-k8s.kind.cluster"], "kilter-shop");
    assert_eq!(c["Config"]["Labels"]["io.x-k8s.kind.role"], "control-plane");
    assert_eq!(c["HostConfig"]["RestartPolicy"]["Name"], "on-failure");
    assert_eq!(c["HostConfig"]["RestartPolicy"]["MaximumRetryCount"], 1);
    let api = &c["HostConfig"]["PortBindings"]["6443/tcp"][0];
    assert_eq!(api["HostIp"], "127.0.0.1");
    let api_port: u16 = api["HostPort"].as_str().unwrap().parse().unwrap();
    assert!(api_port > 0);
    assert_eq!(c["HostConfig"]["PortBindings"]["30000/tcp"][0]["HostPort"], "30000");
    assert_eq!(c["HostConfig"]["PortBindings"]["30001/tcp"][0]["HostIp"], "127.0.0.1");
    assert_eq!(c["NetworkSettings"]["Ports"], c["HostConfig"]["PortBindings"]);
    assert!(!c["NetworkSettings"]["Networks"]["kind"]["IPAddress"].as_str().unwrap().is_empty());

    // docker inspect through the CLI: 4-space indent, daemon key order, trailing newline.
    let out = ok(env.tool("docker").args(["inspect", NODE]));
    assert!(out.starts_with("[\n    {\n        \"Id\": \""), "{out}");
    assert!(out.ends_with("}\n]\n"));
    let order: Vec<usize> = [
        "\"Id\"",
        "\"Created\"",
        "\"State\"",
        "\"Name\"",
        "\"HostConfig\"",
        "\"Config\"",
        "\"NetworkSettings\"",
    ]
    .iter()
    .map(|k| out.find(k).unwrap())
    .collect();
    assert!(order.windows(2).all(|w| w[0] < w[1]), "daemon field order");
    assert_eq!(
        ok(env.tool("docker").args(["inspect", "--format", "{{.State.Status}}", NODE])),
        "running\n"
    );

    // kubeconfig: merged kind entries, 0600 in a 0755 dir, server = API port
    use std::os::unix::fs::PermissionsExt as _;
    assert_eq!(std::fs::metadata(&kc).unwrap().permissions().mode() & 0o777, 0o600);
    let text = read(&kc);
    assert!(text.contains(&format!("server: https://127.0.0.1:{api_port}\n")), "{text}");
    assert!(text.contains("current-context: kind-kilter-shop\n"));
    assert!(text.contains("certificate-authority-data: LS0tLS1CRUdJTi"));
    assert!(!env.kube_config_home().exists());

    // the API answers and the default namespaces exist
    let (code, stdout, _) = readyz(&env);
    assert_eq!((code, stdout.as_str()), (0, "ok"), "no trailing newline");
    assert_eq!(
        namespaces(&env),
        ["default", "kube-node-lease", "kube-public", "kube-system", "local-path-storage"]
    );
    let nodes: Value =
        serde_json::from_str(&ok(&mut kubectl(&env, &["get", "nodes", "-o", "json"]))).unwrap();
    assert_eq!(nodes["kind"], "List");
    assert_eq!(nodes["metadata"]["resourceVersion"], "");
    let node = &nodes["items"][0];
    assert_eq!(node["metadata"]["name"], NODE);
    assert_eq!(node["status"]["nodeInfo"]["kubeletVersion"], "v1.36.1");
    let ready = node["status"]["conditions"]
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["type"] == "Ready")
        .unwrap();
    assert_eq!(ready["status"], "True");

    // docker ps: NDJSON, sorted keys, string values, ranges of same-port mappings
    let ps = ok(env.tool("docker").args([
        "ps",
        "-a",
        "--filter",
        "label=io.x-k8s.kind.cluster",
        "--format",
        "{{json .}}",
    ]));
    assert_eq!(ps.lines().count(), 1);
    let row: Value = serde_json::from_str(ps.lines().next().unwrap()).unwrap();
    assert_eq!(row["Names"], NODE);
    assert_eq!(row["State"], "running");
    assert_eq!(row["ID"].as_str().unwrap().len(), 12);
    assert_eq!(row["Labels"], "io.x-k8s.kind.cluster=kilter-shop,io.x-k8s.kind.role=control-plane");
    assert_eq!(
        row["Ports"],
        format!("127.0.0.1:30000-30001->30000-30001/tcp, 127.0.0.1:{api_port}->6443/tcp")
    );
    assert!(row["Status"].as_str().unwrap().starts_with("Up "));
    let keys: Vec<&String> = row.as_object().unwrap().keys().collect();
    assert!(ps.starts_with("{\"Command\":"), "alphabetical keys: {keys:?}");
}

const CGROUP_V1: &str = "cgroup v1 is deprecated in Kubernetes and will not be supported in a future kind release, please upgrade to cgroup v2\n";

#[test]
fn second_create_fails_with_the_single_already_exists_line() {
    let env = Env::new();
    env.set_knob("cgroup", "v2");
    create(&env);
    env.tool("docker").args(["stop", NODE]).output().unwrap(); // stopped nodes count too
    let before = env.container(NODE).unwrap();
    let kc = env.root().join("other-kubeconfig");
    let (code, stdout, stderr) = run(env
        .tool("kind")
        .args(["create", "cluster", "--name", "kilter-shop", "--kubeconfig"])
        .arg(&kc));
    assert_eq!(code, 1);
    assert_eq!(stdout, "");
    assert_eq!(
        stderr,
        "ERROR: failed to create cluster: node(s) already exist for a cluster with the name \"kilter-shop\"\n"
    );
    // it creates nothing and writes no kubeconfig; the existing node is untouched
    assert!(!kc.exists());
    assert_eq!(env.container(NODE).unwrap(), before);

    // on a cgroup v1 host the deprecation warning comes first, even before this error
    env.set_knob("cgroup", "v1");
    let (code, _, stderr) =
        run(env.tool("kind").args(["create", "cluster", "--name", "kilter-shop"]));
    assert_eq!(code, 1);
    assert_eq!(
        stderr,
        format!(
            "{CGROUP_V1}ERROR: failed to create cluster: node(s) already exist for a cluster with the name \"kilter-shop\"\n"
        )
    );
}

#[test]
fn cgroup_knob_drives_docker_info_and_kinds_warning() {
    let env = Env::new();
    let info = |env: &Env, t: &str| ok(env.tool("docker").args(["info", "--format", t]));
    env.set_knob("cgroup", "v1");
    assert_eq!(info(&env, "{{.CgroupVersion}}"), "1\n");
    assert_eq!(info(&env, "{{ .CgroupDriver }}"), "cgroupfs\n");
    let stderr = create(&env);
    assert!(
        stderr.starts_with(&format!("{CGROUP_V1}Creating cluster \"kilter-shop\" ...\n")),
        "{stderr}"
    );
    assert_eq!(stderr.matches("cgroup v1").count(), 1);

    env.set_knob("cgroup", "v2");
    assert_eq!(info(&env, "{{.CgroupVersion}}"), "2\n");
    let v: Value = serde_json::from_str(&info(&env, "{{json .}}")).unwrap();
    assert_eq!(
        (v["CgroupVersion"].as_str(), v["CgroupDriver"].as_str()),
        (Some("2"), Some("systemd"))
    );

    // auto: what this host has
    env.set_knob("cgroup", "auto");
    let host = if Path::new("/sys/fs/cgroup/cgroup.controllers").exists() { "2" } else { "1" };
    assert_eq!(info(&env, "{{.CgroupVersion}}"), format!("{host}\n"));
    let (code, _, stderr) = run(env.tool("kind").args(["create", "cluster", "--name", "kilter-x"]));
    assert_eq!((code, stderr.starts_with(CGROUP_V1)), (0, host == "1"), "{stderr}");

    // a bad value is refused when set
    let out = Command::new(crate::support::fake_tool())
        .args(["ctl", "set", "cgroup", "v3"])
        .env_clear()
        .envs(env.vars())
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
}

#[test]
fn stop_start_cycle_and_readyz() {
    let env = Env::new();
    create(&env);
    env.set_knob("ready_delay_ms", "300");

    let (code, stdout, stderr) = run(env.tool("docker").args(["stop", NODE]));
    assert_eq!((code, stdout.as_str(), stderr.as_str()), (0, &*format!("{NODE}\n"), ""));
    let c = env.container(NODE).unwrap();
    assert_eq!(c["State"]["Status"], "exited");
    assert_eq!(c["State"]["ExitCode"], 137);
    assert_eq!(c["NetworkSettings"]["Ports"], serde_json::json!({}));
    assert_eq!(c["NetworkSettings"]["Networks"]["kind"]["IPAddress"], "");
    let api_port =
        c["HostConfig"]["PortBindings"]["6443/tcp"][0]["HostPort"].as_str().unwrap().to_string();
    // stopping again succeeds and echoes
    assert_eq!(ok(env.tool("docker").args(["stop", "-t", "5", NODE])), format!("{NODE}\n"));

    // refused while stopped: --raw prints only the final line; get prints klog lines first
    let (code, stdout, stderr) = readyz(&env);
    assert_eq!(code, 1);
    assert_eq!(stdout, "");
    assert_eq!(
        stderr,
        format!(
            "The connection to the server 127.0.0.1:{api_port} was refused - did you specify the right host or port?\n"
        )
    );
    let (code, _, stderr) = run(&mut kubectl(&env, &["get", "ns", "-o", "json"]));
    assert_eq!(code, 1);
    assert!(stderr.lines().next().unwrap().contains("memcache.go:265]"), "{stderr}");
    assert!(stderr.trim_end().ends_with("did you specify the right host or port?"));

    // kind export kubeconfig needs a running node
    let (code, stdout, stderr) = run(env
        .tool("kind")
        .args(["export", "kubeconfig", "--name", "kilter-shop", "--kubeconfig"])
        .arg(kubeconfig_path(&env)));
    assert_eq!((code, stdout.as_str()), (1, ""));
    let id = c["Id"].as_str().unwrap();
    assert_eq!(
        stderr,
        format!(
            "ERROR: failed to get cluster internal kubeconfig: command \"docker exec --privileged {NODE} cat /etc/kubernetes/admin.conf\" failed with error: exit status 1\n\nCommand Output: Error response from daemon: container {id} is not running\n"
        )
    );

    // start: same API port, API answers only after ready_delay_ms
    assert_eq!(ok(env.tool("docker").args(["start", NODE])), format!("{NODE}\n"));
    let c = env.container(NODE).unwrap();
    assert_eq!(c["State"]["Status"], "running");
    assert_eq!(c["NetworkSettings"]["Ports"]["6443/tcp"][0]["HostPort"], api_port.as_str());
    assert_eq!(readyz(&env).0, 1, "not ready right after start");
    assert!(wait_until(Duration::from_secs(3), || readyz(&env) == (0, "ok".into(), String::new())));

    let (code, _, stderr) = run(env
        .tool("kind")
        .args(["export", "kubeconfig", "--name", "kilter-shop", "--kubeconfig"])
        .arg(kubeconfig_path(&env)));
    assert_eq!((code, stderr.as_str()), (0, "Set kubectl context to \"kind-kilter-shop\"\n"));

    // crash (OOM-like) leaves it exited with OOMKilled
    env.ctl(&["crash", NODE]);
    let c = env.container(NODE).unwrap();
    assert_eq!(
        (c["State"]["Status"].as_str(), c["State"]["OOMKilled"].as_bool()),
        (Some("exited"), Some(true))
    );
}

#[test]
fn namespaces_survive_stop_start_but_not_delete_and_recreate() {
    let env = Env::new();
    create(&env);
    assert_eq!(
        ok(&mut kubectl(&env, &["create", "namespace", "shop-dev"])),
        "namespace/shop-dev created\n"
    );
    let (code, _, stderr) = run(&mut kubectl(&env, &["create", "ns", "shop-dev"]));
    assert_eq!(
        (code, stderr.as_str()),
        (1, "Error from server (AlreadyExists): namespaces \"shop-dev\" already exists\n")
    );
    let (code, stdout, stderr) =
        run(&mut kubectl(&env, &["get", "namespace", "nope", "-o", "json"]));
    assert_eq!(
        (code, stdout.as_str(), stderr.as_str()),
        (1, "", "Error from server (NotFound): namespaces \"nope\" not found\n")
    );
    let one: Value =
        serde_json::from_str(&ok(&mut kubectl(&env, &["get", "ns", "shop-dev", "-o", "json"])))
            .unwrap();
    assert_eq!(one["kind"], "Namespace");
    assert_eq!(one["status"]["phase"], "Active");

    ok(env.tool("docker").args(["stop", NODE]));
    ok(env.tool("docker").args(["start", NODE]));
    assert!(namespaces(&env).contains(&"shop-dev".to_string()));

    // delete: idempotent, removes the kind entries but keeps the file and other entries
    let kc = kubeconfig_path(&env);
    // a second cluster in the same file; its entries must survive the delete
    ok(env
        .tool("kind")
        .args(["create", "cluster", "--name", "kilter-other", "--kubeconfig"])
        .arg(&kc));
    // (a cluster publishing the same host ports cannot be created while shop runs)
    let (code, _, stderr) = run(env
        .tool("kind")
        .args(["create", "cluster", "--name", "kilter-third", "--config"])
        .arg(kind_config(&env)));
    assert_eq!(code, 1);
    assert!(
        stderr.contains("Bind for 127.0.0.1:30000 failed: port is already allocated"),
        "{stderr}"
    );
    // As the real kind v0.32.0: docker created the container, printed its Id, failed to start
    // it; kind deleted it, then reported the whole `docker run`.
    assert!(
        stderr.contains(" ✗ Preparing nodes 📦 \nDeleted nodes: [\"kilter-third-control-plane\"]\nERROR: failed to create cluster: command \"docker run --name kilter-third-control-plane --hostname kilter-third-control-plane --label io.x-k8s.kind.role=control-plane --privileged "),
        "{stderr}"
    );
    let id_line = stderr.split("Command Output: ").nth(1).and_then(|o| o.lines().next());
    assert!(
        id_line.is_some_and(|l| l.len() == 64 && l.chars().all(|c| c.is_ascii_hexdigit())),
        "{stderr}"
    );
    assert!(env.container("kilter-third-control-plane").is_none());
    // With --retain the created container stays, never started.
    let (code, _, stderr) = run(env
        .tool("kind")
        .args(["create", "cluster", "--retain", "--name", "kilter-third", "--config"])
        .arg(kind_config(&env)));
    assert_eq!(code, 1);
    assert!(!stderr.contains("Deleted nodes"), "{stderr}");
    let left = env.container("kilter-third-control-plane").expect("retained");
    assert_eq!(left["State"]["Status"], "created");
    ok(env.tool("docker").args(["rm", "kilter-third-control-plane"]));
    let (code, stdout, stderr) = run(env
        .tool("kind")
        .args(["delete", "cluster", "--name", "kilter-shop", "--kubeconfig"])
        .arg(&kc));
    assert_eq!((code, stdout.as_str()), (0, ""));
    assert_eq!(
        stderr,
        format!("Deleting cluster \"kilter-shop\" ...\nDeleted nodes: [\"{NODE}\"]\n")
    );
    assert!(env.container(NODE).is_none());
    assert!(kc.exists(), "kind keeps the file");
    assert!(!read(&kc).contains("kind-kilter-shop"), "{}", read(&kc));
    assert!(read(&kc).contains("current-context: kind-kilter-other\n"));
    let (code, _, stderr) = run(env
        .tool("kind")
        .args(["delete", "cluster", "--name", "kilter-shop", "--kubeconfig"])
        .arg(&kc));
    assert_eq!((code, stderr.as_str()), (0, "Deleting cluster \"kilter-shop\" ...\n"));

    // recreate: fresh in-cluster state
    create(&env);
    assert!(!namespaces(&env).contains(&"shop-dev".to_string()));
}

#[test]
fn kind_kubeconfig_files_merge_keep_their_mode_and_empty_after_delete() {
    use std::os::unix::fs::PermissionsExt as _;
    let env = Env::new();
    create(&env);
    let mode = |p: &Path| std::fs::metadata(p).unwrap().permissions().mode() & 0o777;

    // an existing file: merged into (other contexts survive), its mode kept
    let shared = env.root().join("shared-kubeconfig");
    std::fs::write(
        &shared,
        "apiVersion: v1\nclusters:\n- cluster:\n    server: https://example.invalid:6443\n  name: prod\ncontexts:\n- context:\n    cluster: prod\n    user: prod\n  name: prod\ncurrent-context: prod\nkind: Config\npreferences: {}\nusers:\n- name: prod\n  user:\n    token: x\n",
    )
    .unwrap();
    std::fs::set_permissions(&shared, std::fs::Permissions::from_mode(0o644)).unwrap();
    ok(env
        .tool("kind")
        .args(["export", "kubeconfig", "--name", "kilter-shop", "--kubeconfig"])
        .arg(&shared));
    let text = read(&shared);
    assert!(text.contains("name: prod\n") && text.contains("name: kind-kilter-shop\n"), "{text}");
    assert!(text.contains("current-context: kind-kilter-shop\n"));
    assert_eq!(mode(&shared), 0o644, "an existing file keeps its mode");

    // a new file: 0600 in a new 0755 directory (under the usual umask 022)
    let fresh = env.root().join("new-dir").join("kubeconfig");
    ok(env
        .tool("kind")
        .args(["export", "kubeconfig", "--name", "kilter-shop", "--kubeconfig"])
        .arg(&fresh));
    assert_eq!(mode(&fresh), 0o600);
    assert_eq!(mode(fresh.parent().unwrap()), 0o755);

    // delete: the only cluster's entries go, leaving kind's 44-byte empty config
    ok(env
        .tool("kind")
        .args(["delete", "cluster", "--name", "kilter-shop", "--kubeconfig"])
        .arg(&fresh));
    let empty = read(&fresh);
    assert_eq!(empty, "apiVersion: v1\nkind: Config\npreferences: {}\n");
    assert_eq!(empty.len(), 44);
    // the shared file still holds the other context and lost only kind's entries
    ok(env
        .tool("kind")
        .args(["delete", "cluster", "--name", "kilter-shop", "--kubeconfig"])
        .arg(&shared));
    let text = read(&shared);
    assert!(text.contains("name: prod\n") && !text.contains("kind-kilter-shop"), "{text}");
    assert!(!text.contains("current-context"), "cleared, as it pointed at the cluster: {text}");
    assert_eq!(mode(&shared), 0o644);
}

#[test]
fn kind_failure_output_keeps_the_blank_line_before_command_output() {
    let env = Env::new();
    env.ctl(&["daemon", "down"]);
    let (code, _, stderr) = run(env.tool("kind").args(["get", "clusters"]));
    assert_eq!(code, 1);
    assert!(
        stderr.contains("failed with error: exit status 1\n\nCommand Output: Cannot connect to the Docker daemon"),
        "{stderr}"
    );
}

#[test]
fn stale_kubeconfig_of_a_recreated_cluster_fails_tls() {
    let env = Env::new();
    create(&env);
    let old = read(kubeconfig_path(&env));
    ok(env.tool("docker").args(["rm", "-f", NODE]));
    create(&env);
    let c = env.container(NODE).unwrap();
    let port = c["HostConfig"]["PortBindings"]["6443/tcp"][0]["HostPort"].as_str().unwrap();
    // old credentials pointed at the new port: a different CA
    let stale = env.root().join("stale");
    let old_port = old.split("127.0.0.1:").nth(1).unwrap().split('\n').next().unwrap();
    std::fs::write(&stale, old.replace(old_port, port)).unwrap();
    let (code, _, stderr) =
        run(env.tool("kubectl").arg("--kubeconfig").arg(&stale).args(["get", "--raw", "/readyz"]));
    assert_eq!(code, 1);
    assert!(stderr.contains("x509: certificate signed by unknown authority"), "{stderr}");
}

#[test]
fn kind_get_clusters_and_docker_inspect_missing() {
    let env = Env::new();
    let (code, stdout, stderr) = run(env.tool("kind").args(["get", "clusters"]));
    assert_eq!((code, stdout.as_str(), stderr.as_str()), (0, "", "No kind clusters found.\n"));

    let (code, stdout, stderr) = run(env.tool("docker").args(["inspect", "nope"]));
    assert_eq!(
        (code, stdout.as_str(), stderr.as_str()),
        (1, "[]\n", "Error: No such object: nope\n")
    );
    let (code, stdout, stderr) =
        run(env.tool("docker").args(["inspect", "--type", "container", "nope"]));
    assert_eq!(
        (code, stdout.as_str(), stderr.as_str()),
        (1, "[]\n", "Error response from daemon: No such container: nope\n")
    );
    let (code, stdout, _) =
        run(env.tool("docker").args(["inspect", "--format", "{{.State.Status}}", "nope"]));
    assert_eq!((code, stdout.as_str()), (1, "\n"));
    let (code, _, stderr) = run(env.tool("docker").args(["start", "nope"]));
    assert_eq!(
        (code, stderr.as_str()),
        (
            1,
            "Error response from daemon: No such container: nope\nError: failed to start containers: nope\n"
        )
    );
    let (code, _, stderr) = run(env.tool("docker").args(["rm", "-f", "nope"]));
    assert_eq!(
        (code, stderr.as_str()),
        (0, "Error response from daemon: No such container: nope\n")
    );
    let (code, stdout, _) = run(env.tool("docker").args([
        "ps",
        "-a",
        "--filter",
        "label=io.x-k8s.kind.cluster",
        "--format",
        "{{json .}}",
    ]));
    assert_eq!((code, stdout.as_str()), (0, ""));

    create(&env);
    assert_eq!(ok(env.tool("kind").args(["get", "clusters"])), "kilter-shop\n");
    assert_eq!(
        ok(env.tool("kind").args(["get", "nodes", "--name", "kilter-shop"])),
        format!("{NODE}\n")
    );
    assert!(
        ok(env.tool("kind").args(["get", "kubeconfig", "--name", "kilter-shop"])).ends_with("\n\n")
    );
}

#[test]
fn daemon_down_variants() {
    let env = Env::new();
    let info = |env: &Env| run(env.tool("docker").args(["info", "--format", "{{.ServerVersion}}"]));
    assert_eq!(info(&env), (0, "28.2.2\n".into(), String::new()));
    let cannot = "Cannot connect to the Docker daemon at unix:///var/run/docker.sock. Is the docker daemon running?\n";

    env.ctl(&["daemon", "down"]);
    let (code, stdout, stderr) = info(&env);
    assert_eq!((code, stdout.trim(), stderr.as_str()), (1, "", cannot));
    let (code, stdout, stderr) = run(env.tool("docker").args(["inspect", "x"]));
    assert_eq!((code, stdout.as_str(), stderr.as_str()), (1, "[]\n", cannot));
    let (code, stdout, stderr) = run(env.tool("docker").args(["version", "--format", "json"]));
    assert_eq!((code, stderr.as_str()), (1, cannot));
    assert!(stdout.trim_end().ends_with(",\"Server\":null}"), "{stdout}");
    let (code, _, stderr) =
        run(env.tool("kind").args(["create", "cluster", "--name", "kilter-shop"]));
    assert_eq!(code, 1);
    assert_eq!(
        stderr,
        format!(
            "ERROR: failed to create cluster: failed to get docker info: command \"docker info --format '{{{{json .}}}}'\" failed with error: exit status 1\n\nCommand Output: {cannot}"
        )
    );

    env.ctl(&["daemon", "down-old"]);
    let (code, stdout, stderr) = info(&env);
    assert_eq!((code, stdout.trim(), stderr.as_str()), (0, "", cannot), "docker ≤ 28.0 exits 0");

    env.ctl(&["daemon", "up"]);
    assert_eq!(info(&env).0, 0);
}

#[test]
fn unexpected_calls_exit_97_and_are_logged() {
    let env = Env::new();
    // Every call below is unexpected on purpose.
    env.expect_unexpected();
    for (tool, args) in [
        ("docker", &["run", "alpine"][..]),
        ("docker", &["ps", "--bogus"][..]),
        ("kind", &["create", "cluster", "--name", "x", "--bogus"][..]),
        ("kubectl", &["apply", "--prune", "-f", "x.yaml"][..]),
        ("tilt", &["down"][..]),
    ] {
        let (code, _, stderr) = run(env.tool(tool).args(args));
        assert_eq!(code, 97, "{tool} {args:?}");
        assert!(stderr.starts_with(&format!("unexpected call: {tool} ")), "{stderr}");
    }
    let calls = env.calls();
    assert_eq!(calls.len(), 5);
    assert_eq!(calls[0], "docker run alpine");
    assert_eq!(calls[4], "tilt down");
    assert_eq!(env.calls_of("tilt"), ["tilt down"]);
    let recs = env.call_records();
    assert_eq!(recs[3]["tool"], "kubectl");
    assert_eq!(recs[3]["argv"], serde_json::json!(["apply", "--prune", "-f", "x.yaml"]));

    // shell quoting in the log, and no state dir → 97
    ok(env.tool("docker").args(["ps", "-a", "--format", "{{.Label \"io.x-k8s.kind.cluster\"}}"]));
    assert_eq!(
        env.calls().last().unwrap(),
        "docker ps -a --format '{{.Label \"io.x-k8s.kind.cluster\"}}'"
    );
    let (code, _, stderr) = run(env.tool("docker").arg("-v").env_remove("KILTER_FAKE_STATE"));
    assert_eq!((code, stderr.as_str()), (97, "fake docker: KILTER_FAKE_STATE is not set\n"));

    // every call also records its exit code, so the harness can list the unexpected ones
    assert_eq!(
        env.unexpected_calls(),
        [
            "docker run alpine",
            "docker ps --bogus",
            "kind create cluster --name x --bogus",
            "kubectl apply --prune -f x.yaml",
            "tilt down"
        ]
    );
    let exits = env.call_exits();
    assert_eq!(exits.len(), 6);
    assert_eq!(exits[5].0["argv"][0], "ps");
    assert_eq!(exits[5].1, Some(0));
    assert!(exits[..5].iter().all(|(_, code)| *code == Some(97)));
}

#[test]
fn kind_falls_back_to_home_kube_config_without_kubeconfig_flag() {
    let env = Env::new();
    ok(env.tool("kind").args(["create", "cluster", "--name", "kilter-shop"]));
    let home_cfg = env.kube_config_home();
    assert!(home_cfg.exists(), "kind without --kubeconfig writes $HOME/.kube/config");
    assert!(read(&home_cfg).contains("current-context: kind-kilter-shop"));
    // and $KUBECONFIG wins over $HOME when set
    let alt = env.root().join("alt-kubeconfig");
    ok(env
        .tool("kind")
        .args(["export", "kubeconfig", "--name", "kilter-shop"])
        .env("KUBECONFIG", &alt));
    assert!(read(&alt).contains("kind-kilter-shop"));
}

#[test]
fn create_fail_cleans_up_and_killed_create_leaves_the_node() {
    let env = Env::new();
    env.set_knob("create_fail", "true");
    let (code, _, stderr) = run(env
        .tool("kind")
        .args(["create", "cluster", "--name", "kilter-shop", "--kubeconfig"])
        .arg(kubeconfig_path(&env)));
    assert_eq!(code, 1);
    assert!(stderr.contains(" ✗ Starting control-plane 🕹️\n"), "{stderr}");
    assert!(stderr.contains(&format!("Deleted nodes: [\"{NODE}\"]\nERROR: failed to create cluster: failed to init node with kubeadm: ")), "{stderr}");
    assert!(env.container(NODE).is_none());

    // SIGKILL mid-way: the node container stays, no kubeconfig entry, the API never answers
    env.ctl(&["unset", "create_fail"]);
    env.set_knob("create_ms", "3000");
    let mut child = env
        .tool("kind")
        .args(["create", "cluster", "--name", "kilter-shop", "--kubeconfig"])
        .arg(kubeconfig_path(&env))
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    assert!(wait_until(Duration::from_secs(3), || env.container(NODE).is_some()));
    child.kill().unwrap();
    child.wait().unwrap();
    assert_eq!(env.container(NODE).unwrap()["State"]["Status"], "running");
    assert!(!kubeconfig_path(&env).exists());
    let (code, _, stderr) =
        run(env.tool("kind").args(["create", "cluster", "--name", "kilter-shop"]));
    assert_eq!(code, 1);
    assert!(stderr.contains("already exist"));
}

#[test]
fn concurrent_creates_of_one_name_let_exactly_one_win() {
    let env = Env::new();
    let children: Vec<_> = (0..3)
        .map(|_| {
            env.tool("kind")
                .args(["create", "cluster", "--name", "kilter-shop", "--kubeconfig"])
                .arg(kubeconfig_path(&env))
                .stderr(Stdio::null())
                .spawn()
                .unwrap()
        })
        .collect();
    let codes: Vec<i32> = children
        .into_iter()
        .map(|c| c.wait_with_output().unwrap().status.code().unwrap())
        .collect();
    assert_eq!(codes.iter().filter(|c| **c == 0).count(), 1, "{codes:?}");
    assert_eq!(ok(env.tool("kind").args(["get", "clusters"])), "kilter-shop\n");
}

/// Spawn a fake `tilt up` in `dir` (stdout to a file, own process group).
fn spawn_tilt(env: &Env, dir: &Path, port: &str, log: &str) -> std::process::Child {
    use std::os::unix::process::CommandExt as _;
    env.tool("tilt")
        .args([
            "up",
            "--port",
            port,
            "--file",
            "Tiltfile",
            "--context",
            "kind-kilter-shop",
            "--namespace",
            "shop-dev",
        ])
        .current_dir(dir)
        .env("KUBECONFIG", kubeconfig_path(env))
        .env("KILTER_PROJECT", "shop")
        .stdout(std::fs::File::create(env.root().join(log)).unwrap())
        .stderr(Stdio::piped())
        .process_group(0)
        .spawn()
        .unwrap()
}

/// `tilt up --port P --file Tiltfile` in `dir` with extra variables (knobs as
/// `KILTER_FAKE_<KNOB>`), stdout to `<root>/<log>`, in a process group of its own.
fn spawn_up(
    env: &Env,
    dir: &Path,
    port: &str,
    log: &str,
    vars: &[(&str, &str)],
) -> std::process::Child {
    use std::os::unix::process::CommandExt as _;
    env.tool("tilt")
        .args(["up", "--port", port, "--file", "Tiltfile"])
        .envs(vars.iter().copied())
        .current_dir(dir)
        .stdout(std::fs::File::create(env.root().join(log)).unwrap())
        .stderr(Stdio::piped())
        .process_group(0)
        .spawn()
        .unwrap()
}

/// `tilt get WHAT -o json --port P --host 127.0.0.1` as kilter calls it: (exit code, stdout,
/// stderr).
fn tilt_get(env: &Env, what: &[&str], port: &str) -> (i32, String, String) {
    run(env.tool("tilt").arg("get").args(what).args([
        "-o",
        "json",
        "--port",
        port,
        "--host",
        "127.0.0.1",
    ]))
}

/// `tilt get …` that must succeed, parsed.
fn get_json(env: &Env, what: &[&str], port: &str) -> Value {
    let (code, stdout, stderr) = tilt_get(env, what, port);
    assert_eq!(code, 0, "tilt get {what:?}: {stderr}");
    assert!(stdout.ends_with("}\n"), "{stdout}");
    serde_json::from_str(&stdout).unwrap()
}

/// (ppid, process group, session) of a live process, from `/proc/<pid>/stat`.
fn proc_ids(pid: i32) -> Option<(i32, i32, i32)> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    let f: Vec<i32> =
        stat.rsplit_once(')')?.1.split_whitespace().skip(1).take(3).flat_map(str::parse).collect();
    (f.len() == 3).then(|| (f[0], f[1], f[2]))
}

fn signal(pid: i32, sig: libc::c_int) {
    // SAFETY: plain kill(2) on a process (or, negative, a group) this test started.
    unsafe { libc::kill(pid, sig) };
}

/// Something accepts connections on 127.0.0.1:`port` where the Env's processes run.
fn listens(env: &Env, port: u16) -> bool {
    env.in_net(|| std::net::TcpStream::connect(("127.0.0.1", port)).is_ok())
}

/// The live fake tilt's record once `f` holds for it.
fn record_when(env: &Env, f: impl Fn(&Value) -> bool) -> Value {
    let mut last = Value::Null;
    let ok = wait_until(Duration::from_secs(5), || {
        last = env.tilt_records().pop().unwrap_or(Value::Null);
        f(&last)
    });
    assert!(ok, "{last}");
    last
}

/// The names of a List's items, or of a Session's targets.
fn names(v: &Value, key: &str) -> Vec<String> {
    v[key].as_array().unwrap().iter().map(|i| i["name"].as_str().unwrap().to_owned()).collect()
}

fn item_names(list: &Value) -> Vec<String> {
    list["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|i| i["metadata"]["name"].as_str().unwrap().to_owned())
        .collect()
}

/// A Tiltfile that declares Kubernetes resources (so Tilt connects to the cluster).
const K8S_TILTFILE: &str = "k8s_yaml('app.yaml')\n";

/// The Cluster's error, and the log's `ERROR: Cluster status error: …`, for a connection that
/// failed for `reason`.
fn cluster_error(reason: &str) -> String {
    format!(
        "Tilt encountered an error connecting to your Kubernetes cluster:\n\t{reason}\nYou will need to restart Tilt after resolving the issue."
    )
}

const NO_KUBE_CONFIG: &str = "Loading Kubernetes config: invalid configuration: no configuration has been provided, try setting KUBERNETES_MASTER environment variable";

/// A kubeconfig whose only context, `prod`, is not a kind cluster.
fn prod_kubeconfig(env: &Env) -> PathBuf {
    let p = env.root().join("prod-kubeconfig");
    std::fs::write(
        &p,
        "apiVersion: v1\nkind: Config\nclusters:\n- cluster:\n    server: https://127.0.0.1:1\n  name: prod\ncontexts:\n- context:\n    cluster: prod\n    user: prod\n  name: prod\ncurrent-context: prod\nusers:\n- name: prod\n  user:\n    token: x\n",
    )
    .unwrap();
    p
}

#[test]
fn tilt_up_runs_until_sigterm_and_detects_port_clashes() {
    let env = Env::new();
    create(&env);
    let dir = env.project("shop");
    std::fs::write(dir.join("Tiltfile"), format!("print('hi')\n{K8S_TILTFILE}")).unwrap();
    let mut first = spawn_tilt(&env, &dir, "10351", "tilt1.log");
    let pid = first.id() as i32;
    assert!(wait_until(Duration::from_secs(3), || read(env.root().join("tilt1.log"))
        .contains("Successfully loaded Tiltfile")));
    // a Tiltfile's print() output comes before the verdict
    assert_eq!(
        read(env.root().join("tilt1.log")),
        format!(
            "Tilt started on http://localhost:10351/\nv0.37.6, built 2026-08-08\n{}\n\nInitial Build\nLoading Tiltfile at: {}\nhi\nSuccessfully loaded Tiltfile (12ms)\n",
            env.tilt_docker_prune_lines().join("\n"),
            dir.join("Tiltfile").display()
        )
    );
    assert_eq!(env.tilt_pids(), [pid]);
    let rec = &env.tilt_records()[0];
    assert_eq!(rec["pgid"], pid, "own process group");
    assert_eq!(rec["port"], 10351);
    assert_eq!(rec["kubeconfig_env"], kubeconfig_path(&env).display().to_string());
    assert_eq!(rec["kubeconfig_ok"], true);
    assert_eq!(rec["kilter_env"]["KILTER_PROJECT"], "shop");
    assert_eq!(rec["listening"], true);
    // a real listener on 127.0.0.1:P, with a minimal HTTP answer
    assert!(listens(&env, 10351));
    let answer = env.in_net(|| {
        use std::io::{Read as _, Write as _};
        let mut s = std::net::TcpStream::connect(("127.0.0.1", 10351)).unwrap();
        s.write_all(b"GET / HTTP/1.1\r\nHost: localhost\r\n\r\n").unwrap();
        let mut got = String::new();
        s.read_to_string(&mut got).unwrap();
        got
    });
    assert!(answer.starts_with("HTTP/1.1 200 OK\r\n"), "{answer}");
    let session = get_json(&env, &["session", "Tiltfile"], "10351");
    assert_eq!(session["status"]["pid"], pid);
    // the kind context checks out: a Cluster without error
    let clusters = get_json(&env, &["clusters"], "10351");
    assert_eq!(item_names(&clusters), ["default"]);
    let c = &clusters["items"][0];
    assert_eq!(c["kind"], "Cluster");
    assert!(c["status"].get("error").is_none(), "{c}");
    assert_eq!(c["status"]["connection"]["kubernetes"]["context"], "kind-kilter-shop");
    assert_eq!(c["status"]["connection"]["kubernetes"]["namespace"], "shop-dev");
    assert_eq!(c["spec"]["connection"]["kubernetes"]["context"], "kind-kilter-shop");

    // a second tilt on the same port fails at its real bind, like real tilt
    let clash = "Error: Tilt cannot start because you already have another process on port 10351\nIf you want to run multiple Tilt instances simultaneously,\nuse the --port flag or TILT_PORT env variable to set a custom port\nOriginal error: listen tcp 127.0.0.1:10351: bind: address already in use\n";
    let second = spawn_tilt(&env, &dir, "10351", "tilt2.log").wait_with_output().unwrap();
    assert_eq!(second.status.code(), Some(1));
    assert_eq!(String::from_utf8_lossy(&second.stderr), clash);
    assert_eq!(
        read(env.root().join("tilt2.log")),
        "Tilt started on http://localhost:10351/\nv0.37.6, built 2026-08-08\n"
    );
    assert_eq!(env.tilt_pids(), [pid], "the failed tilt left no record");

    // SIGTERM → exit 0, record gone, port closed and free again
    signal(pid, libc::SIGTERM);
    assert_eq!(first.wait().unwrap().code(), Some(0));
    assert!(env.tilt_pids().is_empty());
    assert!(!listens(&env, 10351), "the listener closed with tilt");
    let (code, _, stderr) = tilt_get(&env, &["session", "Tiltfile"], "10351");
    assert_eq!((code, stderr.as_str()), (1, "Error: No tilt apiserver found: tilt-10351\n"));

    // a port another program holds: the same error (no fake record involved)
    let held = env.hold_port(10353);
    let out = spawn_tilt(&env, &dir, "10353", "tilt3.log").wait_with_output().unwrap();
    assert_eq!(out.status.code(), Some(1));
    assert_eq!(String::from_utf8_lossy(&out.stderr), clash.replace("10351", "10353"));
    drop(held);
    // an address this host does not have: Go's bare listen error
    let (code, stdout, stderr) = run(env.tool("tilt").current_dir(&dir).args([
        "up",
        "--port",
        "10354",
        "--host",
        "10.255.255.1",
    ]));
    assert_eq!(
        (code, stdout.as_str(), stderr.as_str()),
        (
            1,
            "Tilt started on http://10.255.255.1:10354/\nv0.37.6, built 2026-08-08\n",
            "Error: listen tcp 10.255.255.1:10354: bind: cannot assign requested address\n"
        )
    );
    // `tilt_fail_start` forces the port-in-use failure
    env.set_knob("tilt_fail_start", "true");
    let out = spawn_tilt(&env, &dir, "10351", "tilt4.log").wait_with_output().unwrap();
    assert_eq!(
        (out.status.code(), String::from_utf8_lossy(&out.stderr).into_owned()),
        (Some(1), clash.to_owned())
    );
}

#[test]
fn tilt_ignore_term_needs_sigkill_and_ci_modes() {
    let env = Env::new();
    let dir = env.project("shop");
    std::fs::write(dir.join("Tiltfile"), "").unwrap();
    env.set_knob("tilt_ignore_term", "true");
    let mut t = spawn_tilt(&env, &dir, "10352", "tilt.log");
    let pid = t.id() as i32;
    let rec = record_when(&env, |r| r["child_pid"].is_i64());
    assert_eq!(rec["pid"], pid);
    let child = rec["child_pid"].as_i64().unwrap() as i32;
    let api = rec["apiserver_port"].as_u64().expect("an API server port") as u16;
    // the child runs in a session and process group of its own, its parent is tilt
    assert_eq!(proc_ids(child), Some((pid, child, child)));
    signal(pid, libc::SIGTERM);
    std::thread::sleep(Duration::from_millis(200));
    assert!(pid_alive(pid), "SIGTERM ignored");
    t.kill().unwrap();
    t.wait().unwrap();
    assert!(!pid_alive(pid));
    assert!(env.tilt_pids().is_empty(), "stale record ignored");
    // A SIGKILLed tilt leaves its API server entry behind: `tilt get` finds it, and is refused.
    let (code, _, stderr) = tilt_get(&env, &["session", "Tiltfile"], "10352");
    assert_eq!(
        (code, stderr),
        (
            1,
            format!(
                "The connection to the server 127.0.0.1:{api} was refused - did you specify the right host or port?\n"
            )
        )
    );
    // Tilt's child outlives a tilt killed alone; it does not inherit tilt's ignored SIGTERM.
    assert!(pid_alive(child), "the child outlives tilt");
    signal(child, libc::SIGTERM);
    assert!(wait_until(Duration::from_secs(3), || !pid_alive(child)), "SIGTERM ends the child");

    let (code, stdout, _) =
        run(env.tool("tilt").args(["ci", "--file", "Tiltfile"]).current_dir(&dir));
    assert_eq!(code, 0);
    assert!(stdout.ends_with("SUCCESS. All workloads are healthy.\n"), "{stdout}");
    env.set_knob("tilt_ci_fail", "1");
    let (code, _, stderr) =
        run(env.tool("tilt").args(["ci", "--file", "Tiltfile"]).current_dir(&dir));
    assert_eq!(
        (code, stderr.as_str()),
        (1, "Error: Timeout after 30m0s: 1 resources waiting (api:runtime waiting-for-pod)\n")
    );
    let (code, _, stderr) = run(env.tool("tilt").args(["up", "-p", "1"]));
    assert_eq!((code, stderr.as_str()), (1, "Error: unknown shorthand flag: 'p' in -p\n"));
}

/// At SIGTERM tilt SIGTERMs its child's process group (a grandchild in it goes too) and waits
/// up to 2 s for the child; a child that ignores SIGTERM outlives tilt, which then exits 1.
#[test]
fn tilt_stops_its_childs_group_at_sigterm_and_gives_up_after_2s() {
    let env = Env::new();
    let dir = env.project("shop");
    std::fs::write(dir.join("Tiltfile"), "local_resource('fake', serve_cmd='sleep 1000')\n")
        .unwrap();
    let fork = ("KILTER_FAKE_TILT_CHILD_FORK", "1");
    let mut t = spawn_up(&env, &dir, "10355", "up1.log", &[fork]);
    let tilt = t.id() as i32;
    let rec = record_when(&env, |r| r["grandchild_pid"].is_i64());
    let (child, grand) =
        (rec["child_pid"].as_i64().unwrap() as i32, rec["grandchild_pid"].as_i64().unwrap() as i32);
    assert_eq!(proc_ids(child), Some((tilt, child, child)), "child: own session and group");
    assert_eq!(proc_ids(grand), Some((child, child, child)), "grandchild: in the child's group");
    let started = std::time::Instant::now();
    signal(tilt, libc::SIGTERM);
    assert_eq!(t.wait().unwrap().code(), Some(0));
    assert!(started.elapsed() < Duration::from_millis(1500), "{:?}", started.elapsed());
    assert!(wait_until(Duration::from_secs(3), || !pid_alive(child) && !pid_alive(grand)));

    // a child that ignores SIGTERM (`trap "" TERM`), and so does its grandchild
    let mut t = spawn_up(
        &env,
        &dir,
        "10356",
        "up2.log",
        &[fork, ("KILTER_FAKE_TILT_CHILD_IGNORE_TERM", "true")],
    );
    let tilt = t.id() as i32;
    let rec = record_when(&env, |r| r["grandchild_pid"].is_i64());
    let (child, grand) =
        (rec["child_pid"].as_i64().unwrap() as i32, rec["grandchild_pid"].as_i64().unwrap() as i32);
    let started = std::time::Instant::now();
    signal(tilt, libc::SIGTERM);
    assert_eq!(t.wait().unwrap().code(), Some(1), "tilt gives up on its child: exit 1");
    let took = started.elapsed();
    assert!((Duration::from_millis(1900)..Duration::from_secs(4)).contains(&took), "{took:?}");
    assert!(pid_alive(child) && pid_alive(grand), "both outlive tilt");
    assert_eq!(proc_ids(child).map(|p| p.1), Some(child));
    assert_eq!(proc_ids(grand).map(|p| p.1), Some(child));
    signal(-child, libc::SIGKILL);
    assert!(wait_until(Duration::from_secs(3), || !pid_alive(child) && !pid_alive(grand)));
}

#[test]
fn tilt_get_reports_session_uiresources_and_clusters() {
    let env = Env::new();
    let dir = env.project("shop");
    std::fs::write(dir.join("Tiltfile"), "local_resource('fake', serve_cmd='sleep 1000')\n")
        .unwrap();
    // a local-only Tiltfile with a slow load, and no kubeconfig at all
    let mut t = spawn_up(&env, &dir, "10357", "up.log", &[("KILTER_FAKE_TILT_LOAD_MS", "1500")]);
    let tilt = t.id() as i32;
    assert!(wait_until(Duration::from_secs(5), || tilt_get(&env, &["session"], "10357").0 == 0));
    let session = get_json(&env, &["session", "Tiltfile"], "10357");
    assert_eq!(names(&session["status"], "targets"), ["tiltfile:update"]);
    let loading = &session["status"]["targets"][0]["state"];
    assert_eq!(loading["active"]["ready"], false, "{session}");
    let ui = get_json(&env, &["uiresources"], "10357");
    assert_eq!(item_names(&ui), ["(Tiltfile)"]);
    assert_eq!(ui["items"][0]["status"]["updateStatus"], "in_progress");
    assert!(wait_until(Duration::from_secs(5), || read(env.root().join("up.log"))
        .contains("Successfully loaded Tiltfile (1.5s)\n")));
    let rec = record_when(&env, |r| r["child_pid"].is_i64());
    let child = rec["child_pid"].as_i64().unwrap();

    let session = get_json(&env, &["session", "Tiltfile"], "10357");
    assert_eq!(session["kind"], "Session");
    assert_eq!(session["metadata"]["name"], "Tiltfile");
    assert_eq!(session["spec"]["tiltfilePath"], dir.join("Tiltfile").display().to_string());
    assert_eq!(
        names(&session["status"], "targets"),
        ["fake:serve", "fake:update", "tiltfile:update"]
    );
    let targets = &session["status"]["targets"];
    assert_eq!(targets[0]["state"]["active"]["ready"], true);
    assert_eq!(targets[0]["type"], "server");
    let done = &targets[2]["state"]["terminated"];
    assert!(done["finishTime"].is_string() && done.get("error").is_none(), "{done}");
    let ui = get_json(&env, &["uiresources"], "10357");
    assert_eq!(ui["kind"], "List");
    assert_eq!(item_names(&ui), ["(Tiltfile)", "fake"]);
    let (tf, fake) = (&ui["items"][0]["status"], &ui["items"][1]["status"]);
    assert_eq!((&tf["updateStatus"], &tf["runtimeStatus"]), (&json("ok"), &json("not_applicable")));
    assert!(tf["buildHistory"][0].get("error").is_none());
    assert_eq!((&fake["updateStatus"], &fake["runtimeStatus"]), (&json("ok"), &json("ok")));
    assert_eq!(fake["localResourceInfo"]["pid"], child);
    // a local-only Tiltfile: no Cluster object, and no kube context complaint
    assert_eq!(get_json(&env, &["clusters"], "10357")["items"], serde_json::json!([]));
    assert!(!read(env.root().join("up.log")).contains("ERROR"));
    // the child dies: its serve target fails
    signal(child as i32, libc::SIGKILL);
    assert!(wait_until(Duration::from_secs(3), || !pid_alive(child as i32)));
    let ui = get_json(&env, &["uiresources"], "10357");
    assert_eq!(ui["items"][1]["status"]["runtimeStatus"], "error");
    let serve = &get_json(&env, &["session", "Tiltfile"], "10357")["status"]["targets"][0];
    assert_eq!(
        serve["state"]["terminated"]["error"],
        format!("Process {child} exited with non-zero status")
    );
    signal(tilt, libc::SIGTERM);
    assert_eq!(t.wait().unwrap().code(), Some(0));

    // Kubernetes resources without a kubeconfig: a cluster error, and tilt keeps running
    std::fs::write(dir.join("Tiltfile"), K8S_TILTFILE).unwrap();
    let mut t = spawn_up(&env, &dir, "10358", "up2.log", &[]);
    let rec = record_when(&env, |r| r["child_pid"].is_i64());
    assert_eq!(
        read(env.root().join("up2.log")),
        format!(
            "Tilt started on http://localhost:10358/\nv0.37.6, built 2026-08-08\n{}\n\nInitial Build\nLoading Tiltfile at: {}\nSuccessfully loaded Tiltfile (12ms)\nERROR: Cluster status error: {}\n",
            env.tilt_docker_prune_lines().join("\n"),
            dir.join("Tiltfile").display(),
            cluster_error(NO_KUBE_CONFIG)
        )
    );
    let clusters = get_json(&env, &["clusters"], "10358");
    assert_eq!(item_names(&clusters), ["default"]);
    assert_eq!(
        clusters["items"][0]["status"],
        serde_json::json!({"error": cluster_error(NO_KUBE_CONFIG)})
    );
    let ui = get_json(&env, &["uiresources"], "10358");
    assert_eq!(ui["items"][1]["status"]["runtimeStatus"], "ok", "local resources still run");
    assert!(pid_alive(rec["child_pid"].as_i64().unwrap() as i32));
    signal(t.id() as i32, libc::SIGTERM);
    assert_eq!(t.wait().unwrap().code(), Some(0));
    assert!(env.settle_leftovers(3).is_empty(), "{:?}", env.leftovers());

    // only these calls (kilter's); anything else is an unexpected call
    env.expect_unexpected();
    let (code, _, stderr) = tilt_get(&env, &["pods"], "10358");
    assert_eq!(
        (code, stderr.as_str()),
        (97, "unexpected call: tilt get pods -o json --port 10358 --host 127.0.0.1\n")
    );
}

fn json(s: &str) -> Value {
    Value::String(s.to_owned())
}

#[test]
fn tilt_tiltfile_errors_keep_tilt_up_and_fail_ci() {
    let env = Env::new();
    let dir = env.project("shop");
    let tiltfile = dir.join("Tiltfile");
    std::fs::write(&tiltfile, "print(\"x\")\n# fail(\"not this one\")\nfail(\"boom\")\n").unwrap();
    let head = format!(
        "Tilt started on http://localhost:10359/\nv0.37.6, built 2026-08-08\n{}\n\nInitial Build\n",
        env.tilt_docker_prune_lines().join("\n")
    );
    let traceback = format!(
        "Traceback (most recent call last):\n  {}:3:5: in <toplevel>\nError in fail: boom",
        tiltfile.display()
    );
    let mut t = spawn_up(&env, &dir, "10359", "up.log", &[]);
    assert!(wait_until(Duration::from_secs(3), || read(env.root().join("up.log")).contains("boom")));
    assert_eq!(
        read(env.root().join("up.log")),
        format!("{head}Loading Tiltfile at: {}\nx\nERROR: {traceback}\n", tiltfile.display())
    );
    // tilt stays up and serves; no resource runs
    std::thread::sleep(Duration::from_millis(200));
    assert!(pid_alive(t.id() as i32));
    assert!(listens(&env, 10359));
    let rec = &env.tilt_records()[0];
    assert_eq!(rec["child_pid"], Value::Null, "no resource starts after a Tiltfile error");
    let session = get_json(&env, &["session", "Tiltfile"], "10359");
    assert_eq!(names(&session["status"], "targets"), ["tiltfile:update"]);
    assert_eq!(session["status"]["targets"][0]["state"]["terminated"]["error"], traceback);
    let ui = get_json(&env, &["uiresources"], "10359");
    assert_eq!(item_names(&ui), ["(Tiltfile)"]);
    assert_eq!(ui["items"][0]["status"]["updateStatus"], "error");
    assert_eq!(ui["items"][0]["status"]["buildHistory"][0]["error"], traceback);
    assert_eq!(get_json(&env, &["clusters"], "10359")["items"], serde_json::json!([]));
    signal(t.id() as i32, libc::SIGTERM);
    assert_eq!(t.wait().unwrap().code(), Some(0));

    let ci = |kubeconfig: Option<&Path>, extra: &[&str]| {
        let mut c = env.tool("tilt");
        c.args(["ci", "--port", "10359", "--file", "Tiltfile"]).args(extra).current_dir(&dir);
        if let Some(k) = kubeconfig {
            c.env("KUBECONFIG", k);
        }
        run(&mut c)
    };
    let loading = format!("{head}Loading Tiltfile at: {}\n", tiltfile.display());
    // tilt ci: the same log on stdout, then `Error: <it>` on stderr, exit 1
    assert_eq!(
        ci(None, &[]),
        (1, format!("{loading}x\nERROR: {traceback}\n"), format!("Error: {traceback}\n"))
    );
    // no Tiltfile: tilt says so with its absolute path, and never says "Loading"
    std::fs::remove_file(&tiltfile).unwrap();
    let missing = format!(
        "No Tiltfile found at paths '{}'. Check out https://docs.tilt.dev/tutorial.html",
        tiltfile.display()
    );
    assert_eq!(
        ci(None, &[]),
        (1, format!("{head}ERROR: {missing}\n"), format!("Error: {missing}\n"))
    );
    // Kubernetes resources and no usable cluster: the cluster error, then `cluster connection
    // failed`; the local resources that did start are stopped
    std::fs::write(&tiltfile, K8S_TILTFILE).unwrap();
    let loaded = format!("{loading}Successfully loaded Tiltfile (12ms)\n");
    assert_eq!(
        ci(None, &[]),
        (
            1,
            format!("{loaded}ERROR: Cluster status error: {}\n", cluster_error(NO_KUBE_CONFIG)),
            "Error: cluster connection failed\n".to_owned()
        )
    );
    assert!(env.settle_leftovers(3).is_empty(), "{:?}", env.leftovers());
    let prod = prod_kubeconfig(&env);
    let reason = "Loading Kubernetes config: invalid configuration: [context was not found for specified context: kind-missing, cluster has no server defined]";
    assert_eq!(
        ci(Some(&prod), &["--context", "kind-missing"]),
        (
            1,
            format!("{loaded}ERROR: Cluster status error: {}\n", cluster_error(reason)),
            "Error: cluster connection failed\n".to_owned()
        )
    );
    // a context that is not kind's: Tilt refuses the Tiltfile
    let stop = "Stop! prod might be production.\nIf you're sure you want to deploy there, add:\n\tallow_k8s_contexts('prod')\nto your Tiltfile. Otherwise, switch k8s contexts and restart Tilt.";
    assert_eq!(
        ci(Some(&prod), &[]),
        (1, format!("{loading}ERROR: {stop}\n"), format!("Error: {stop}\n"))
    );
    // a local-only Tiltfile never looks at the kube context
    std::fs::write(&tiltfile, "local_resource('fake', serve_cmd='sleep 1000')\n").unwrap();
    assert_eq!(
        ci(Some(&prod), &[]),
        (0, format!("{loaded}SUCCESS. All workloads are healthy.\n"), String::new())
    );
    assert!(env.settle_leftovers(3).is_empty(), "ci stopped its child: {:?}", env.leftovers());
}

/// Drop the fields that differ between two runs (times, pids, uids, versions) and put the
/// project directory's path in a neutral form.
fn neutral(text: &str, env: &Env) -> Value {
    let mut v: Value =
        serde_json::from_str(&text.replace(&env.root().display().to_string(), "<root>")).unwrap();
    fn strip(v: &mut Value) {
        const VOLATILE: &[&str] = &[
            "uid",
            "creationTimestamp",
            "resourceVersion",
            "startTime",
            "finishTime",
            "lastTransitionTime",
            "pid",
            "connectedAt",
            "lastDeployTime",
            "lastReadyTime",
        ];
        match v {
            Value::Object(m) => {
                m.retain(|k, _| !VOLATILE.contains(&k.as_str()));
                m.values_mut().for_each(strip);
            }
            Value::Array(a) => a.iter_mut().for_each(strip),
            _ => {}
        }
    }
    strip(&mut v);
    // The real Tilt lists the objects of a kind in no fixed order (seen both ways round).
    if let Some(items) = v.get_mut("items").and_then(Value::as_array_mut) {
        items.sort_by_key(|i| i["metadata"]["name"].as_str().unwrap_or_default().to_owned());
    }
    v
}

/// A tilt log in a neutral form: the Env's root, the port, the build date and load time
/// replaced; real Tilt's occasional controller-race lines and its resources' log lines dropped.
fn neutral_log(text: &str, env: &Env) -> String {
    text.replace(&env.root().display().to_string(), "<root>")
        .lines()
        .filter(|l| !l.starts_with("ERROR: [] \"msg\"=\"Reconciler error\"") && !l.contains(" │ "))
        .map(|l| {
            if l.starts_with("v0.37.6, built ") {
                "v0.37.6, built <date>".to_owned()
            } else if l.starts_with("Successfully loaded Tiltfile (") {
                "Successfully loaded Tiltfile (<t>)".to_owned()
            } else {
                l.to_owned()
            }
        })
        .map(|l| l + "\n")
        .collect()
}

/// The fake tilt next to the real Tilt v0.37.6 (when it is there): the same Tiltfiles give the
/// same log lines, errors and exit codes under `tilt ci`, and the same `tilt get` objects
/// under `tilt up` (apart from times, pids and uids).
#[test]
fn fake_tilt_answers_like_the_real_tilt() {
    let Some(real) = Env::real_tilt() else { return };
    let fake = Env::new();
    let local = "local_resource('fake', cmd='true', serve_cmd='sleep 1000')\n";
    let cases: &[(&str, Option<&str>, bool, &[&str])] = &[
        ("tiltfile error", Some("print('x')\nfail(\"boom\")\n"), false, &[]),
        ("no Tiltfile", None, false, &[]),
        ("no kubeconfig", Some(K8S_TILTFILE), false, &[]),
        ("missing context", Some(K8S_TILTFILE), true, &["--context", "kind-missing"]),
        ("production context", Some(K8S_TILTFILE), true, &[]),
        ("local only", Some(local), true, &[]),
    ];
    for (what, tiltfile, prod, extra) in cases {
        let mut got = Vec::new();
        for env in [&real, &fake] {
            let dir = env.project("shop");
            // real Tilt reads the file k8s_yaml names (the fake does not)
            std::fs::write(
                dir.join("app.yaml"),
                "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: app\n",
            )
            .unwrap();
            let _ = std::fs::remove_file(dir.join("Tiltfile"));
            if let Some(t) = tiltfile {
                std::fs::write(dir.join("Tiltfile"), t).unwrap();
            }
            let mut c = env.tool("tilt");
            c.args(["ci", "--port", "10360", "--file", "Tiltfile"]).args(*extra).current_dir(&dir);
            if *prod {
                c.env("KUBECONFIG", prod_kubeconfig(env));
            }
            let (code, stdout, stderr) = run(&mut c);
            got.push((code, neutral_log(&stdout, env), neutral_log(&stderr, env)));
        }
        assert_eq!(got[0], got[1], "{what}: real (left) and fake (right) differ");
    }
    assert!(real.settle_leftovers(5).is_empty(), "{:?}", real.leftovers());

    // a port another program holds
    let mut got = Vec::new();
    for env in [&real, &fake] {
        let _held = env.hold_port(10362);
        let (code, stdout, stderr) =
            run(env.tool("tilt").args(["ci", "--port", "10362"]).current_dir(env.root()));
        got.push((code, neutral_log(&stdout, env), stderr));
    }
    assert_eq!(got[0], got[1], "port in use: real (left) and fake (right) differ");

    // `tilt up` and kilter's `tilt get` calls, with a running local resource and with a
    // Tiltfile error
    for (what, tiltfile, wait_for) in [
        ("local resource", local, "fake:serve"),
        ("tiltfile error", "fail(\"boom\")\n", "tiltfile:update"),
    ] {
        let mut got = Vec::new();
        for env in [&real, &fake] {
            let dir = env.project("shop");
            std::fs::write(dir.join("Tiltfile"), tiltfile).unwrap();
            let mut t = spawn_up(env, &dir, "10361", "cmp.log", &[]);
            let settled = |s: &Value| {
                s["status"]["targets"].as_array().is_some_and(|ts| {
                    ts.iter().any(|t| {
                        t["name"] == wait_for
                            && (t["state"]["active"]["ready"] == true
                                || t["state"]["terminated"].is_object())
                    })
                })
            };
            // What the last poll saw, for the failure message.
            let mut last = (String::new(), String::new());
            assert!(
                wait_until(Duration::from_secs(60), || {
                    let (code, out, _) = tilt_get(env, &["session", "Tiltfile"], "10361");
                    let (ui_code, ui, _) = tilt_get(env, &["uiresources"], "10361");
                    last = (out.clone(), ui.clone());
                    // The UIResources follow the session a moment later, and their Ready
                    // condition up to a second after their runtime status.
                    let ui_settled = |v: &Value| {
                        v["items"].as_array().is_some_and(|items| {
                            items.iter().all(|i| {
                                let st = &i["status"];
                                let done = |k: &str| {
                                    matches!(st[k].as_str(), Some("ok" | "not_applicable"))
                                };
                                st["updateStatus"] == "error"
                                    || (done("updateStatus")
                                        && done("runtimeStatus")
                                        && st["conditions"].as_array().is_some_and(|cs| {
                                            cs.iter().all(|c| c["status"] == "True")
                                        }))
                            })
                        })
                    };
                    code == 0
                        && ui_code == 0
                        && serde_json::from_str(&out).is_ok_and(|s| settled(&s))
                        && serde_json::from_str(&ui).is_ok_and(|v| ui_settled(&v))
                }),
                "{what}: not settled in 60 s\nlog:\n{}\nsession:\n{}\nuiresources:\n{}",
                read(env.root().join("cmp.log")),
                last.0,
                last.1
            );
            let mut one = Vec::new();
            for w in [&["session", "Tiltfile"][..], &["uiresources"], &["clusters"]] {
                let (code, out, err) = tilt_get(env, w, "10361");
                assert_eq!(code, 0, "{what}: {err}");
                one.push(neutral(&out, env));
            }
            one.push(Value::String(neutral_log(&read(env.root().join("cmp.log")), env)));
            signal(t.id() as i32, libc::SIGTERM);
            one.push(serde_json::json!(t.wait().unwrap().code()));
            got.push(one);
            assert!(env.settle_leftovers(5).is_empty(), "{what}: {:?}", env.leftovers());
        }
        for (i, name) in
            ["session", "uiresources", "clusters", "log", "exit code"].iter().enumerate()
        {
            assert_eq!(got[0][i], got[1][i], "{what}, {name}: real (left) and fake (right) differ");
        }
    }
}

/// What `kilter down` relies on to find the commands of a Tilt that died, the fake tilt next to
/// the real Tilt v0.37.6: a variable `tilt up` was started with is in the environment of the
/// command its `serve_cmd` runs, that command runs in a process group other than Tilt's, and it
/// outlives a Tilt killed with SIGKILL.
#[test]
fn fake_and_real_tilt_commands_carry_its_environment_and_outlive_it() {
    let Some(real) = Env::real_tilt() else { return };
    let fake = Env::new();
    let mark = "KILTER_TILT_RECORD=/somewhere/tilt.json";
    let mut got = Vec::new();
    for env in [&real, &fake] {
        let dir = env.project("shop");
        std::fs::write(dir.join("Tiltfile"), "local_resource('fake', serve_cmd='sleep 1000')\n")
            .unwrap();
        let (var, value) = mark.split_once('=').unwrap();
        let mut t = spawn_up(env, &dir, "10363", "marked.log", &[(var, value)]);
        let tilt = t.id() as i32;
        let mut cmd = None;
        let started = wait_until(Duration::from_secs(60), || {
            cmd = env.leftovers().into_iter().find(|p| p.pid != tilt && p.pgid != tilt);
            cmd.is_some()
        });
        assert!(started, "no command started: {}", read(env.root().join("marked.log")));
        let cmd = cmd.expect("found");
        let environ = std::fs::read(format!("/proc/{}/environ", cmd.pid)).unwrap_or_default();
        let carries = environ.split(|b| *b == 0).any(|kv| kv == mark.as_bytes());
        signal(tilt, libc::SIGKILL);
        let _ = t.wait();
        std::thread::sleep(Duration::from_millis(500));
        let outlives = pid_alive(cmd.pid);
        got.push((carries, cmd.pgid != tilt, outlives));
        env.kill_leftovers();
        assert!(env.settle_leftovers(5).is_empty(), "{:?}", env.leftovers());
    }
    assert_eq!(got[0], (true, true, true), "the real Tilt");
    assert_eq!(got[0], got[1], "real (left) and fake (right) differ");
}

#[test]
fn versions() {
    let env = Env::new();
    assert_eq!(ok(env.tool("docker").arg("-v")), "Docker version 28.2.2, build e6534b4\n");
    assert_eq!(ok(env.tool("kind").arg("version")), "kind v0.32.0 go1.26.3 linux/amd64\n");
    assert_eq!(ok(env.tool("tilt").arg("version")), "v0.37.6, built 2026-08-08\n");
    let v: Value =
        serde_json::from_str(&ok(env.tool("kubectl").args(["version", "--client", "-o", "json"])))
            .unwrap();
    assert_eq!(v["clientVersion"]["gitVersion"], "v1.32.2");
    let v: Value =
        serde_json::from_str(&ok(env.tool("docker").args(["version", "--format", "{{json .}}"])))
            .unwrap();
    assert_eq!(v["Server"]["Version"], "28.2.2");
}

#[test]
fn kind_needs_docker_on_path_and_knobs_can_come_from_env() {
    let env = Env::without(&["docker"]);
    assert!(!env.bin().join("docker").exists());
    let (code, _, stderr) =
        run(env.tool("kind").args(["create", "cluster", "--name", "kilter-shop"]));
    assert_eq!(code, 1);
    assert!(stderr.contains("exec: \"docker\": executable file not found in $PATH"), "{stderr}");

    let start = std::time::Instant::now();
    ok(env.tool("kind").arg("version").env("KILTER_FAKE_LATENCY_MS", "150"));
    assert!(start.elapsed() >= Duration::from_millis(150));
}

// ---------------------------------------------------------------------------------------------
// kubectl behind docker-proxy (knob api_proxy_ms): published, not serving.

/// The API port of the one node.
fn api_port(env: &Env) -> String {
    let c = env.container(NODE).unwrap();
    c["HostConfig"]["PortBindings"]["6443/tcp"][0]["HostPort"].as_str().unwrap().to_string()
}

/// (exit code, stdout, stderr, seconds) of a command.
fn timed(cmd: &mut Command) -> (i32, String, String, f64) {
    let start = std::time::Instant::now();
    let (code, out, err) = run(cmd);
    (code, out, err, start.elapsed().as_secs_f64())
}

/// The klog line of one failed discovery attempt, without its time and pid.
fn klog_tail(line: &str) -> &str {
    assert!(line.starts_with('E'), "not a klog error line: {line}");
    line.split_once(" memcache.go:265] ").map(|(_, t)| t).unwrap_or_else(|| panic!("{line}"))
}

#[test]
fn proxy_raw_probe_fails_with_eof_after_the_real_5_2_seconds() {
    let env = Env::new();
    create(&env);
    env.set_knob("api_proxy_ms", "never");
    let (code, stdout, stderr, secs) = timed(&mut kubectl(&env, &["get", "--raw", "/readyz"]));
    assert_eq!(
        (code, stdout.as_str(), stderr.as_str()),
        (1, "", "Unable to connect to the server: EOF\n")
    );
    assert!((5.0..6.0).contains(&secs), "took {secs:.2} s");
}

#[test]
fn proxy_calls_retry_like_kubectl_then_fail() {
    let env = Env::new();
    create(&env);
    let port = api_port(&env);
    env.set_knob("api_proxy_ms", "never");
    env.set_knob("proxy_time_scale", "0.02"); // 5.2 s → 104 ms, 65.2 s → 1.3 s
    let url = format!("https://127.0.0.1:{port}/api?timeout=32s");

    // --request-timeout does not shorten a raw request
    let (code, _, stderr, secs) =
        timed(&mut kubectl(&env, &["get", "--raw", "/readyz", "--request-timeout=2s"]));
    assert_eq!((code, stderr.as_str()), (1, "Unable to connect to the server: EOF\n"));
    assert!(secs >= 5.2 * 0.02, "took {secs:.3} s");

    // discovery: 6 klog lines ~10 s apart, then EOF, 65.2 s in all
    let (code, stdout, stderr, secs) =
        timed(&mut kubectl(&env, &["get", "nodes,namespaces", "-o", "json"]));
    assert_eq!((code, stdout.as_str()), (1, ""));
    let lines: Vec<&str> = stderr.lines().collect();
    assert_eq!(lines.len(), 7, "{stderr}");
    for l in &lines[..6] {
        assert_eq!(
            klog_tail(l),
            format!(
                "\"Unhandled Error\" err=\"couldn't get current server API group list: Get \\\"{url}\\\": EOF\""
            )
        );
    }
    assert_eq!(lines[6], "Unable to connect to the server: EOF");
    assert!(secs >= 65.2 * 0.02, "took {secs:.3} s");

    // `get pods -n NS`: 5 lines, then the wrapped error, 55.2 s
    let (code, _, stderr, secs) =
        timed(&mut kubectl(&env, &["get", "pods", "-n", "shop", "-o", "json"]));
    assert_eq!(code, 1);
    let lines: Vec<&str> = stderr.lines().collect();
    assert_eq!(lines.len(), 6, "{stderr}");
    let last = lines[5];
    let prefix =
        format!("error: Get \"{url}\": EOF - error from a previous attempt: read tcp 127.0.0.1:");
    let suffix = format!("->127.0.0.1:{port}: read: connection reset by peer");
    assert!(last.starts_with(&prefix) && last.ends_with(&suffix), "{last}");
    let local = &last[prefix.len()..last.len() - suffix.len()];
    assert!(local.parse::<u16>().is_ok_and(|p| p >= 32768), "{last}");
    assert!((55.2 * 0.02..65.2 * 0.02).contains(&secs), "took {secs:.3} s");

    // --request-timeout=2s: attempts 2 s apart, the rate limiter's error, 17.1 s
    let (code, _, stderr, secs) = timed(&mut kubectl(
        &env,
        &["get", "nodes,namespaces", "-o", "json", "--request-timeout=2s"],
    ));
    assert_eq!(code, 1);
    let lines: Vec<&str> = stderr.lines().collect();
    assert_eq!(lines.len(), 7, "{stderr}");
    for l in &lines[..6] {
        assert_eq!(
            klog_tail(l),
            "\"Unhandled Error\" err=\"couldn't get current server API group list: client rate limiter Wait returned an error: context deadline exceeded - error from a previous attempt: EOF\""
        );
    }
    assert!(lines[6].starts_with("error: client rate limiter Wait returned an error: context deadline exceeded - error from a previous attempt: read tcp 127.0.0.1:"));
    assert!(lines[6].ends_with(&suffix), "{}", lines[6]);
    assert!((17.1 * 0.02..55.2 * 0.02).contains(&secs), "took {secs:.3} s");

    // no discovery: create namespace (one POST) and version's GET /version fail like --raw
    let (code, stdout, stderr) = run(&mut kubectl(&env, &["create", "namespace", "shop"]));
    assert_eq!(
        (code, stdout.as_str(), stderr.as_str()),
        (1, "", "Unable to connect to the server: EOF\n")
    );
    let (code, stdout, stderr) = run(&mut kubectl(&env, &["version", "-o", "json"]));
    assert_eq!((code, stderr.as_str()), (1, "Unable to connect to the server: EOF\n"));
    let v: Value = serde_json::from_str(&stdout).unwrap();
    assert_eq!(v["clientVersion"]["gitVersion"], "v1.32.2");
    assert!(v.get("serverVersion").is_none());
    // logs, exec and rollout go through discovery too
    let (code, _, stderr) = run(&mut kubectl(&env, &["logs", "deployment/web", "-n", "shop"]));
    assert_eq!((code, stderr.lines().count()), (1, 5), "{stderr}");

    // a stopped node publishes nothing: refused at once, as before
    ok(env.tool("docker").args(["stop", NODE]));
    let (code, _, stderr, secs) = timed(&mut kubectl(&env, &["get", "--raw", "/readyz"]));
    assert_eq!(code, 1);
    assert!(stderr.contains("was refused"), "{stderr}");
    assert!(secs < 5.2 * 0.02, "refused is instant: {secs:.3} s");
}

#[test]
fn proxy_api_serving_mid_probe_lets_the_probe_succeed() {
    let env = Env::new();
    create(&env);
    ok(env.tool("docker").args(["stop", NODE]));
    // serving 1.5 s after the start; attempts at 0, 1, 2 … s (raw) succeed at the one at 2 s
    env.set_knob("api_proxy_ms", "1500");
    ok(env.tool("docker").args(["start", NODE]));
    let (code, stdout, stderr, secs) = timed(&mut kubectl(&env, &["get", "--raw", "/readyz"]));
    assert_eq!((code, stdout.as_str(), stderr.as_str()), (0, "ok", ""));
    assert!((1.4..3.0).contains(&secs), "took {secs:.2} s");
    // a new probe once it serves: at once
    let (code, stdout, _, secs) = timed(&mut kubectl(&env, &["get", "--raw", "/readyz"]));
    assert_eq!((code, stdout.as_str()), (0, "ok"));
    assert!(secs < 1.0, "took {secs:.2} s");

    // discovery (scale 0.2: attempts at 0 and 2 s, the first failing at 1.04 s): the first
    // attempt prints its klog line, the second finds the API serving and the call goes on
    ok(env.tool("docker").args(["stop", NODE]));
    env.set_knob("proxy_time_scale", "0.2");
    ok(env.tool("docker").args(["start", NODE]));
    let (code, stdout, stderr, secs) = timed(&mut kubectl(&env, &["get", "nodes", "-o", "json"]));
    assert_eq!(code, 0, "{stderr}");
    assert_eq!(stderr.lines().count(), 1, "one failed attempt: {stderr}");
    assert!(stderr.contains("\": EOF\""), "{stderr}");
    let nodes: Value = serde_json::from_str(&stdout).unwrap();
    assert_eq!(nodes["items"][0]["metadata"]["name"], NODE);
    assert!((1.4..3.5).contains(&secs), "took {secs:.2} s");
}

#[test]
fn proxy_probe_is_killable_and_holds_no_state_lock() {
    let env = Env::new();
    create(&env);
    env.set_knob("api_proxy_ms", "never");
    let mut probe = kubectl(&env, &["get", "namespaces", "-o", "json"])
        .stderr(Stdio::null())
        .stdout(Stdio::null())
        .spawn()
        .unwrap();
    std::thread::sleep(Duration::from_millis(300));
    // other calls that take the state lock go through meanwhile
    let start = std::time::Instant::now();
    ok(env.tool("docker").args(["stop", NODE]));
    ok(env.tool("docker").args(["start", NODE]));
    assert!(start.elapsed() < Duration::from_secs(2));
    assert!(probe.try_wait().unwrap().is_none(), "still probing");
    probe.kill().unwrap();
    let status = probe.wait().unwrap();
    use std::os::unix::process::ExitStatusExt as _;
    assert_eq!(status.signal(), Some(libc::SIGKILL));
    // a call killed by a signal has no exit record
    let exits = env.call_exits();
    let rec = exits.iter().find(|(r, _)| r["tool"] == "kubectl").unwrap();
    assert_eq!(rec.1, None);
}

// ---------------------------------------------------------------------------------------------
// docker stats and memory

#[test]
fn docker_stats_rows_like_docker_28() {
    let env = Env::new();
    // Checks on purpose that the calls the fake does not model (streaming, the table) exit 97.
    env.expect_unexpected();
    create(&env);
    let id = env.container(NODE).unwrap()["Id"].as_str().unwrap()[..12].to_string();
    let stats = |args: &[&str]| run(env.tool("docker").args(["stats", "--no-stream"]).args(args));

    // all running containers, one JSON object per line, alphabetical keys, string values
    let (code, stdout, _) = stats(&["--format", "{{json .}}"]);
    assert_eq!(code, 0);
    assert_eq!(
        stdout,
        format!(
            "{{\"BlockIO\":\"98.8MB / 123MB\",\"CPUPerc\":\"2.50%\",\"Container\":\"{id}\",\"ID\":\"{id}\",\"MemPerc\":\"7.93%\",\"MemUsage\":\"650MiB / 8GiB\",\"Name\":\"{NODE}\",\"NetIO\":\"12.3MB / 4.57MB\",\"PIDs\":\"220\"}}\n"
        )
    );
    // by name: Container is the argument as given; --format json is the same
    let (_, stdout, _) = stats(&["--format", "json", NODE]);
    let row: Value = serde_json::from_str(stdout.trim_end()).unwrap();
    assert_eq!((row["Container"].as_str(), row["Name"].as_str()), (Some(NODE), Some(NODE)));

    // overrides per container, and the machine total as the limit
    env.ctl(&["stats", NODE, "--cpu", "12.5", "--mem", "1073741824"]);
    env.set_knob("mem_total", "4294967296");
    let (_, stdout, _) =
        stats(&["--format", "{{.Name}}\t{{.CPUPerc}}\t{{.MemUsage}}\t{{.MemPerc}}", NODE]);
    assert_eq!(stdout, format!("{NODE}\t12.50%\t1GiB / 4GiB\t25.00%\n"));

    // a missing name fails the whole call: no rows, the daemon's error, exit 1
    let (code, stdout, stderr) = stats(&["--format", "json", NODE, "nope"]);
    assert_eq!(
        (code, stdout.as_str(), stderr.as_str()),
        (1, "", "Error response from daemon: No such container: nope\n")
    );

    // a stopped container named explicitly: zeros; without names: only running ones
    ok(env.tool("docker").args(["stop", NODE]));
    let (code, stdout, _) = stats(&["--format", "json", NODE]);
    assert_eq!(code, 0);
    assert_eq!(
        stdout,
        format!(
            "{{\"BlockIO\":\"0B / 0B\",\"CPUPerc\":\"0.00%\",\"Container\":\"{NODE}\",\"ID\":\"{id}\",\"MemPerc\":\"0.00%\",\"MemUsage\":\"0B / 0B\",\"Name\":\"{NODE}\",\"NetIO\":\"0B / 0B\",\"PIDs\":\"0\"}}\n"
        )
    );
    assert_eq!(stats(&["--format", "json"]), (0, String::new(), String::new()));
    assert_eq!(stats(&["-a", "--format", "{{.Container}}"]).1, format!("{id}\n"));

    // streaming and the table are not modelled
    assert_eq!(run(env.tool("docker").args(["stats", "--format", "json"])).0, 97);
    assert_eq!(stats(&[]).0, 97);
    // daemon down
    env.ctl(&["daemon", "down"]);
    let (code, _, stderr) = stats(&["--format", "json"]);
    assert_eq!(code, 1);
    assert!(stderr.starts_with("Cannot connect to the Docker daemon"), "{stderr}");
}

#[test]
fn docker_info_reports_memory_and_cpus() {
    let env = Env::new();
    // Checks on purpose that a template field the fake does not know exits 97.
    env.expect_unexpected();
    let info = |t: &str| run(env.tool("docker").args(["info", "--format", t]));
    assert_eq!(info("{{.MemTotal}}"), (0, "8589934592\n".into(), String::new()));
    assert_eq!(info("{{.NCPU}}").1, "4\n");
    env.set_knob("mem_total", "17179869184");
    env.set_knob("ncpu", "16");
    let v: Value = serde_json::from_str(&info("{{json .}}").1).unwrap();
    assert_eq!((v["MemTotal"].as_u64(), v["NCPU"].as_u64()), (Some(17_179_869_184), Some(16)));
    // the kind node sees the same machine
    create(&env);
    let nodes: Value =
        serde_json::from_str(&ok(&mut kubectl(&env, &["get", "nodes", "-o", "json"]))).unwrap();
    let cap = &nodes["items"][0]["status"]["capacity"];
    assert_eq!((cap["cpu"].as_str(), cap["memory"].as_str()), (Some("16"), Some("16777216Ki")));
    // daemon down: the template runs on an empty Info
    env.ctl(&["daemon", "down"]);
    let (code, stdout, _) = info("{{.MemTotal}}");
    assert_eq!((code, stdout.as_str()), (1, "0\n"));
    assert_eq!(info("{{.NoSuchField}}").0, 97);
}

// ---------------------------------------------------------------------------------------------
// tilt ci timing

#[test]
fn tilt_ci_takes_its_time_and_honours_timeout() {
    let env = Env::new();
    let dir = env.project("shop");
    std::fs::write(dir.join("Tiltfile"), "").unwrap();
    let ci = |args: &[&str]| timed(env.tool("tilt").arg("ci").args(args).current_dir(&dir));

    env.set_knob("tilt_ci_ms", "400");
    let (code, stdout, _, secs) = ci(&[]);
    assert_eq!(code, 0);
    assert!(stdout.ends_with("SUCCESS. All workloads are healthy.\n"));
    assert!(secs >= 0.4, "took {secs:.2} s");

    // the run would outlast --timeout: it fails at the timeout, in tilt's words
    env.set_knob("tilt_ci_ms", "20000");
    let (code, stdout, stderr, secs) = ci(&["--timeout", "300ms"]);
    assert_eq!(
        (code, stderr.as_str()),
        (1, "Error: Timeout after 300ms: 1 resources waiting (api:runtime waiting-for-pod)\n")
    );
    assert!(!stdout.contains("SUCCESS"));
    assert!((0.3..5.0).contains(&secs), "took {secs:.2} s");

    // tilt_ci_fail reports the effective timeout
    env.set_knob("tilt_ci_ms", "0");
    env.set_knob("tilt_ci_fail", "true");
    let (_, _, stderr, _) = ci(&["--timeout=2m"]);
    assert_eq!(
        stderr,
        "Error: Timeout after 2m0s: 1 resources waiting (api:runtime waiting-for-pod)\n"
    );

    // SIGTERM mid-run cancels it
    env.set_knob("tilt_ci_fail", "false");
    env.set_knob("tilt_ci_ms", "20000");
    let child = env
        .tool("tilt")
        .args(["ci"])
        .current_dir(&dir)
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let pid = child.id() as i32;
    assert!(wait_until(Duration::from_secs(3), || env.tilt_pids() == [pid]));
    // SAFETY: signalling our own child.
    unsafe { libc::kill(pid, libc::SIGTERM) };
    let out = child.wait_with_output().unwrap();
    assert_eq!(out.status.code(), Some(1));
    assert_eq!(String::from_utf8_lossy(&out.stderr), "Error: context canceled\n");
    assert!(env.tilt_pids().is_empty());
}
