//! The real-kind tier (issue #20): kilter against the REAL kind v0.32.0, the REAL Tilt v0.37.6
//! and a real Docker engine; the node image is a stub without Kubernetes inside
//! (scripts/build-kind-node-image.sh), so `kubectl` is the fake one answering from the node
//! container (support/real_kind.rs). Assertions read the real engine (`docker inspect`,
//! `docker exec`), the docker calls kind made (the shim's log), the files kind wrote, and the
//! process table: after every scenario no process of it is left, and no container of it.
//!
//! Opt-in: `KILTER_REAL_KIND=1 cargo test --locked --test it real_kind -- --include-ignored
//! --test-threads=1`; otherwise every test reports itself skipped (a failure under `CI=true`).
//! What the real kind was seen to do is in docs/real-tools.md, "kind v0.32.0 as run here".

use std::path::{Path, PathBuf};
use std::process::Output;
use std::time::Duration;

use serde_json::Value;

use crate::helpers::*;
use crate::support::{Env, read, wait_until};

const PROBE: &str = "/var/kilter-probe";

/// A Tiltfile that needs no cluster: a build step and a server that runs until it is stopped.
const TILTFILE: &str = "local_resource('hello', cmd='echo built-hello', serve_cmd='echo serving-hello; exec sleep 3600')\n";

struct Proj {
    name: String,
    dir: PathBuf,
    node: String,
    cluster: String,
}

/// A project asking kind for the stub node image, with a Tiltfile.
fn real_project(env: &Env, tag: &str, tiltfile: &str, yaml_extra: &str) -> Proj {
    let name = env.unique_name(tag);
    let image = &env.real().kind.as_ref().expect("a real-kind Env").image;
    let yaml = format!("name: {name}\nkind:\n  image: {image}\n{yaml_extra}");
    let dir = project(env, &name, Some(&yaml), false);
    std::fs::write(dir.join("Tiltfile"), tiltfile).unwrap();
    Proj {
        node: format!("kilter-{name}-control-plane"),
        cluster: format!("kilter-{name}"),
        name,
        dir,
    }
}

fn kilter(env: &Env, p: &Proj, vars: &[(String, String)], args: &[&str]) -> Output {
    env.kilter(&p.dir)
        .envs(vars.iter().map(|(k, v)| (k, v)))
        .args(args)
        .timeout(Duration::from_secs(300))
        .output()
        .expect("kilter runs")
}

fn kilter_ok(env: &Env, p: &Proj, vars: &[(String, String)], args: &[&str]) -> Output {
    let out = kilter(env, p, vars, args);
    assert!(
        out.status.success(),
        "kilter {args:?} failed ({:?})\nstderr:\n{}\nstdout:\n{}",
        out.status.code(),
        stderr_of(&out),
        stdout_of(&out)
    );
    out
}

fn status(env: &Env, node: &str) -> Option<String> {
    env.inspect(node).map(|c| c["State"]["Status"].as_str().unwrap_or_default().to_owned())
}

fn status_json(env: &Env, p: &Proj, vars: &[(String, String)]) -> Value {
    let out = kilter_ok(env, p, vars, &["status", "--json"]);
    serde_json::from_slice(&out.stdout).expect("status --json is JSON")
}

/// The node container's published API port (`6443/tcp`, as kind chose it).
fn api_port(c: &Value) -> u16 {
    c["HostConfig"]["PortBindings"]["6443/tcp"][0]["HostPort"]
        .as_str()
        .and_then(|p| p.parse().ok())
        .expect("6443/tcp is published")
}

/// Containers of the cluster on the engine, any state.
fn cluster_containers(env: &Env, cluster: &str) -> Vec<String> {
    env.docker_ok(&[
        "ps",
        "-a",
        "--filter",
        &format!("label=io.x-k8s.kind.cluster={cluster}"),
        "--format",
        "{{.Names}}",
    ])
    .lines()
    .map(str::to_owned)
    .collect()
}

/// The one `docker run` kind made for the node, as the shim received it (with `--privileged`).
fn kinds_docker_run(env: &Env, p: &Proj) -> String {
    let runs: Vec<String> = env
        .docker_shim_calls()
        .into_iter()
        .filter(|l| l.starts_with("docker run ") && l.contains(&format!("--name {} ", p.node)))
        .collect();
    assert_eq!(runs.len(), 1, "one docker run of the node: {runs:#?}");
    runs[0].clone()
}

/// The processes of the project's Tilt (its pid and descendants) while it runs.
fn tilt_processes(env: &Env) -> Vec<(i32, String)> {
    env.scenario_processes()
        .into_iter()
        .filter(|(_, c)| c.contains("tilt") || c.contains("sleep 3600"))
        .collect()
}

/// The kubeconfig the real kind wrote: one context `kind-<cluster>`, its server on the node's
/// API port.
fn assert_kubeconfig_from_kind(env: &Env, p: &Proj, port: u16) {
    let path = env.cache_dir(&p.name).join("kubeconfig");
    assert_eq!(mode(&path), 0o600, "{}", path.display());
    let kc: serde_yaml::Value = serde_yaml::from_str(&read(&path)).expect("kubeconfig is YAML");
    let ctx = format!("kind-{}", p.cluster);
    assert_eq!(kc["current-context"].as_str(), Some(ctx.as_str()));
    let contexts = kc["contexts"].as_sequence().expect("contexts");
    assert_eq!(contexts.len(), 1, "exactly one context: {kc:?}");
    assert_eq!(contexts[0]["name"].as_str(), Some(ctx.as_str()));
    assert_eq!(
        kc["clusters"][0]["cluster"]["server"].as_str(),
        Some(format!("https://127.0.0.1:{port}").as_str())
    );
    // The stub's kubeadm wrote this CA into the node's admin.conf: kind copied it from there.
    let ca = kc["clusters"][0]["cluster"]["certificate-authority-data"].as_str().unwrap();
    assert_eq!(ca, base64_of(&format!("stub-ca-{}\n", p.cluster)), "{kc:?}");
}

fn base64_of(s: &str) -> String {
    const T: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    let b = s.as_bytes();
    let mut out = String::new();
    for chunk in b.chunks(3) {
        let n = chunk.iter().enumerate().fold(0u32, |n, (i, &c)| n | u32::from(c) << (16 - 8 * i));
        for i in 0..=chunk.len() {
            out.push(T[(n >> (18 - 6 * i) & 63) as usize] as char);
        }
        out.push_str(&"=".repeat(3 - chunk.len()));
    }
    out
}

// --- the shared registry, under this test's own prefix --------------------------------------

const CACHES: [&str; 4] = ["docker.io", "ghcr.io", "quay.io", "registry.k8s.io"];

/// The shared registry of one test (its own prefix and port); Drop removes its containers and
/// volumes.
struct Registry<'e> {
    env: &'e Env,
    prefix: String,
    port: u16,
}

impl<'e> Registry<'e> {
    fn new(env: &'e Env, tag: &str) -> Registry<'e> {
        let prefix = format!("kk{}-{tag}", &env.unique_name("x")[2..8]);
        let port = crate::support::quiet_ports(2);
        Registry { env, prefix, port }
    }

    fn name(&self) -> String {
        format!("{}-registry", self.prefix)
    }

    fn vars(&self) -> Vec<(String, String)> {
        // Offline, a cache whose upstream cannot be reached exits: every cache points at this
        // test's own registry.
        let own = format!("http://{}:5000", self.name());
        let upstreams: Vec<String> = CACHES.iter().map(|u| format!("{u}={own}")).collect();
        vec![
            ("KILTER_REGISTRY".into(), "on".into()),
            ("KILTER_REGISTRY_IMAGE".into(), registry_image()),
            ("KILTER_REGISTRY_PREFIX".into(), self.prefix.clone()),
            ("KILTER_REGISTRY_PORT".into(), self.port.to_string()),
            ("KILTER_CACHE_UPSTREAMS".into(), upstreams.join(",")),
        ]
    }

    fn leftovers(&self) -> (Vec<String>, Vec<String>) {
        let filter = format!("name={}-", self.prefix);
        let lines = |s: String| s.lines().map(str::to_owned).collect::<Vec<_>>();
        (
            lines(self.env.docker_ok(&["ps", "-a", "--filter", &filter, "--format", "{{.Names}}"])),
            lines(self.env.docker_ok(&[
                "volume",
                "ls",
                "--filter",
                &filter,
                "--format",
                "{{.Name}}",
            ])),
        )
    }
}

impl Drop for Registry<'_> {
    fn drop(&mut self) {
        let (containers, volumes) = self.leftovers();
        if !containers.is_empty() {
            let mut args = vec!["rm", "-f", "-v"];
            args.extend(containers.iter().map(String::as_str));
            let _ = self.env.docker().args(&args).output();
        }
        if !volumes.is_empty() {
            let mut args = vec!["volume", "rm", "-f"];
            args.extend(volumes.iter().map(String::as_str));
            let _ = self.env.docker().args(&args).output();
        }
    }
}

fn registry_image() -> String {
    std::env::var("KILTER_REGISTRY_TEST_IMAGE")
        .unwrap_or_else(|_| "kilter-test-registry:latest".into())
}

/// The registry image, built once per run when missing (scripts/build-registry-image.sh).
fn have_registry_image(env: &Env) -> bool {
    static BUILT: std::sync::OnceLock<bool> = std::sync::OnceLock::new();
    *BUILT.get_or_init(|| {
        let image = registry_image();
        let have = || {
            env.docker()
                .args(["image", "inspect", "--format", "{{.Id}}", &image])
                .output()
                .is_ok_and(|o| o.status.success())
        };
        have()
            || std::process::Command::new(
                Path::new(env!("CARGO_MANIFEST_DIR")).join("scripts/build-registry-image.sh"),
            )
            .status()
            .is_ok_and(|s| s.success())
                && have()
    })
}

// --- scenarios ----------------------------------------------------------------------------------

/// `up` (the real kind creates the node, with the registry wiring) → `stop` → `up` (resume) →
/// `destroy`, with the real Tilt started and stopped by each verb.
#[test]
#[ignore = "real-kind tier: KILTER_REAL_KIND=1 and --include-ignored"]
fn real_kind_up_with_the_registry_stop_resume_and_destroy() {
    let Some(env) = Env::real_kind() else { return };
    assert!(have_registry_image(&env), "the registry image {} is missing", registry_image());
    let reg = Registry::new(&env, "life");
    let vars = reg.vars();
    let p = real_project(&env, "life", TILTFILE, "");

    // --- up: kind create cluster, for real ---
    let out = kilter_ok(&env, &p, &vars, &["up"]);
    let err = stderr_of(&out);
    assert!(err.contains("kind create cluster --name"), "{err}");
    let run = kinds_docker_run(&env, &p);
    for part in [
        "--privileged",
        &format!("--hostname {}", p.node),
        &format!("--label io.x-k8s.kind.cluster={}", p.cluster),
        "--label io.x-k8s.kind.role=control-plane",
        "--net kind",
        "--restart=on-failure:1",
        "--cgroupns=private",
    ] {
        assert!(run.contains(part), "kind's docker run has {part}: {run}");
    }
    assert!(run.ends_with(&format!(" {}", env.real().image)), "{run}");
    let (_, base) = crate::support::preferred_ports(&p.name);
    for port in [base, base + 19] {
        let publish = format!("--publish=127.0.0.1:{port}:{port}/TCP");
        assert!(run.contains(&publish), "kind publishes the NodePort block: {publish} in {run}");
    }

    let c = env.inspect(&p.node).expect("the real kind made the node");
    assert_eq!(c["State"]["Status"], "running");
    assert_eq!(c["Config"]["Labels"]["io.x-k8s.kind.cluster"], p.cluster);
    assert_eq!(c["Config"]["Hostname"], p.node);
    assert_eq!(c["HostConfig"]["RestartPolicy"]["Name"], "on-failure");
    assert_eq!(c["HostConfig"]["RestartPolicy"]["MaximumRetryCount"], 1);
    let api = api_port(&c);
    assert_eq!(c["HostConfig"]["PortBindings"]["6443/tcp"][0]["HostIp"], "127.0.0.1");
    let first_id = c["Id"].clone();
    assert_kubeconfig_from_kind(&env, &p, api);
    // kind ran kubeadm init in the node with the config it generated for the cluster.
    let journal = env.docker_ok(&["exec", &p.node, "cat", "/var/log/stub-journal.log"]);
    assert!(journal.contains("kubeadm init --config=/kind/kubeadm.conf"), "{journal}");

    // The registry wiring: kind merged kilter's containerd patch into the node's config, kilter
    // wrote the hosts.toml files, and the node reaches the registry by name on `kind`.
    let toml = env.docker_ok(&["exec", &p.node, "cat", "/etc/containerd/config.toml"]);
    assert!(
        toml.contains("[plugins.\"io.containerd.grpc.v1.cri\".registry]")
            && toml.contains("config_path = \"/etc/containerd/certs.d\""),
        "kind merged the registry patch:\n{toml}"
    );
    let hosts = env.docker_ok(&[
        "exec",
        &p.node,
        "cat",
        &format!("/etc/containerd/certs.d/localhost:{}/hosts.toml", reg.port),
    ]);
    assert_eq!(hosts, format!("[host.\"http://{}:5000\"]\n", reg.name()));
    for u in CACHES {
        let f = env.docker_ok(&[
            "exec",
            &p.node,
            "cat",
            &format!("/etc/containerd/certs.d/{u}/hosts.toml"),
        ]);
        assert!(f.contains(&format!("{}-cache-{u}:5000", reg.prefix)), "{u}: {f}");
    }
    assert!(
        wait_until(Duration::from_secs(20), || {
            env.docker()
                .args(["exec", &p.node, "wget", "-qO-", &format!("http://{}:5000/v2/", reg.name())])
                .output()
                .is_ok_and(|o| o.status.success())
        }),
        "the node reaches the registry by name"
    );

    let st = status_json(&env, &p, &vars);
    assert_eq!(st["node"], "running", "{st}");
    assert_eq!(st["api"], "ok", "{st}");
    assert_eq!(st["ports"]["api_server"], api, "{st}");
    assert_eq!(st["ports"]["nodeport_first"], base, "{st}");
    assert_eq!(st["tilt"]["running"], true, "{st}");
    // The real Tilt runs the Tiltfile's server.
    assert!(
        wait_until(Duration::from_secs(60), || read(env.cache_dir(&p.name).join("tilt.log"))
            .contains("serving-hello")),
        "Tilt ran the serve_cmd:\n{}",
        read(env.cache_dir(&p.name).join("tilt.log"))
    );
    let running = tilt_processes(&env);
    assert!(
        running.iter().any(|(_, c)| c.contains("/tilt up"))
            && running.iter().any(|(_, c)| c.contains("sleep 3600")),
        "the process walk finds Tilt and its server: {running:?}"
    );
    env.docker_ok(&["exec", &p.node, "sh", "-c", &format!("echo x > {PROBE}")]);

    // --- stop ---
    let out = kilter_ok(&env, &p, &vars, &["stop"]);
    assert!(stderr_of(&out).contains(&format!("docker stop {}", p.node)), "{}", stderr_of(&out));
    assert_eq!(status(&env, &p.node).as_deref(), Some("exited"));
    assert!(read(p.dir.join("kilter.yaml")).contains("cluster:\n  stopped: true\n"));
    env.assert_no_leftover_processes(Duration::from_secs(10));
    let st = status_json(&env, &p, &vars);
    assert_eq!(st["node"], "stopped", "{st}");
    assert_eq!(st["ports"]["api_server"], api, "the API port is kept while stopped: {st}");

    // --- up: resume, the same node with its disk; kind exports the kubeconfig again ---
    let out = kilter_ok(&env, &p, &vars, &["up"]);
    let err = stderr_of(&out);
    assert!(err.contains(&format!("docker start {}", p.node)), "{err}");
    assert!(err.contains("kind export kubeconfig --name"), "{err}");
    assert!(!err.contains("kind create cluster"), "{err}");
    let c = env.inspect(&p.node).expect("node");
    assert_eq!(c["Id"], first_id, "resumed, not recreated");
    assert_eq!(api_port(&c), api, "kind's API port survives stop/start");
    assert_kubeconfig_from_kind(&env, &p, api);
    let probe = env.docker_ok(&["exec", &p.node, "cat", PROBE]);
    assert_eq!(probe.trim(), "x", "the node's disk survives stop/up");
    assert!(!read(p.dir.join("kilter.yaml")).contains("stopped"), "up removes the flag");
    assert_eq!(status_json(&env, &p, &vars)["tilt"]["running"], true);

    // --- destroy ---
    let out = kilter_ok(&env, &p, &vars, &["destroy", "--yes"]);
    let err = stderr_of(&out);
    assert!(err.contains("kind delete cluster --name"), "{err}");
    assert_eq!(status(&env, &p.node), None, "the node is gone");
    assert_eq!(cluster_containers(&env, &p.cluster), Vec::<String>::new());
    assert!(!env.cache_dir(&p.name).join("kubeconfig").exists(), "the kubeconfig is removed");
    env.assert_no_leftover_processes(Duration::from_secs(10));
    // The shared registry stays for the other projects.
    assert_eq!(status(&env, &reg.name()).as_deref(), Some("running"));
}

/// `ci --keep-on-failure` with a Tiltfile that fails: the real `tilt ci` fails, kilter collects
/// `kind export logs` of the real kind (which reads the node's journal and /var/log with
/// `docker exec`), keeps the cluster, and leaves no process behind; `destroy` then removes it.
#[test]
#[ignore = "real-kind tier: KILTER_REAL_KIND=1 and --include-ignored"]
fn real_kind_ci_keep_on_failure_collects_kinds_logs_and_keeps_the_cluster() {
    let Some(env) = Env::real_kind() else { return };
    let tiltfile = "local_resource('check', cmd='echo checking-now; exit 3')\n";
    let p = real_project(&env, "cikeep", tiltfile, "");
    let artifacts = env.root().join("artifacts");
    let out = kilter(
        &env,
        &p,
        &[],
        &["ci", "--keep-on-failure", "--timeout", "4m", "--artifacts", artifacts.to_str().unwrap()],
    );
    let err = stderr_of(&out);
    assert_eq!(out.status.code(), Some(1), "tilt ci's exit code:\n{err}");
    assert!(err.contains("kind create cluster --name"), "{err}");
    assert!(err.contains("tilt ci"), "{err}");
    assert!(err.contains("kind export logs"), "{err}");
    assert!(!err.contains("kind delete cluster"), "kept after the failure:\n{err}");
    assert!(!err.contains("could not collect"), "every artifact was collected:\n{err}");

    // What the real kind exported: its version, docker info, and the node's files read with
    // `docker exec` (the stub's journal holds the kubeadm init kind ran).
    let kind_dir = artifacts.join("kind");
    let version = read(kind_dir.join("kind-version.txt"));
    assert!(version.starts_with("kind v0.32.0 "), "{version}");
    assert!(read(kind_dir.join("docker-info.txt")).contains("Server Version:"));
    let node_dir = kind_dir.join(&p.node);
    let inspect: Value = serde_json::from_str(&read(node_dir.join("inspect.json"))).unwrap();
    assert_eq!(inspect[0]["Name"], format!("/{}", p.node));
    assert_eq!(read(node_dir.join("kubernetes-version.txt")).trim(), "v1.36.1");
    let journal = read(node_dir.join("journal.log"));
    assert!(journal.contains("kubeadm init --config=/kind/kubeadm.conf"), "{journal}");
    assert!(read(node_dir.join("serial.log")).contains("stub kind node entrypoint"));
    assert!(node_dir.join("stub-journal.log").is_file(), "the node's /var/log is copied");
    for f in ["tilt.log", "events.txt", "pods.txt", "status.json", "commands.log"] {
        assert!(artifacts.join(f).is_file(), "artifact {f}");
    }
    assert!(read(artifacts.join("tilt.log")).contains("checking-now"));

    // Kept: the node runs and answers; nothing of Tilt is left.
    assert_eq!(status(&env, &p.node).as_deref(), Some("running"));
    assert_eq!(status_json(&env, &p, &[])["api"], "ok");
    env.assert_no_leftover_processes(Duration::from_secs(10));

    kilter_ok(&env, &p, &[], &["destroy", "--yes"]);
    assert_eq!(cluster_containers(&env, &p.cluster), Vec::<String>::new());
    env.assert_no_leftover_processes(Duration::from_secs(10));
}

/// A passing `ci`: the real kind creates the cluster, the real `tilt ci` passes, kilter deletes
/// the cluster with the real kind; no container and no process is left.
#[test]
#[ignore = "real-kind tier: KILTER_REAL_KIND=1 and --include-ignored"]
fn real_kind_ci_that_passes_deletes_its_cluster() {
    let Some(env) = Env::real_kind() else { return };
    let p = real_project(&env, "cipass", "local_resource('check', cmd='echo all-good')\n", "");
    let out = kilter_ok(&env, &p, &[], &["ci", "--timeout", "4m"]);
    let err = stderr_of(&out);
    assert!(err.contains("kind create cluster --name"), "{err}");
    assert!(err.contains("kind delete cluster --name"), "{err}");
    assert!(!err.contains("kind export logs"), "no artifacts after a pass:\n{err}");
    assert_eq!(cluster_containers(&env, &p.cluster), Vec::<String>::new());
    env.assert_no_leftover_processes(Duration::from_secs(10));
}

// --- the real kind's output, as kilter parses it, against the fake kind's -----------------------

/// One call's exit code, stdout and stderr, normalised for comparison.
#[derive(Debug, PartialEq)]
struct Said {
    step: &'static str,
    code: Option<i32>,
    stdout: String,
    stderr: String,
}

/// The endings of `kind create cluster` (kind picks one at random).
const SALUTATIONS: &[&str] = &[
    "Have a nice day! 👋",
    "Thanks for using kind! 😊",
    "Not sure what to do next? 😅  Check out https://kind.sigs.k8s.io/docs/user/quick-start/",
    "Have a question, bug, or feature request? Let us know! https://kind.sigs.k8s.io/#community 🙂",
];

/// Replace what differs between two runs of the same kind: names, ids, ports, paths, the
/// salutation, the Go version of the build, and the order of the concurrent `export logs` errors.
fn normalise(text: &str, cluster: &str, root: &Path, id: &str) -> String {
    let mut lines = Vec::new();
    for line in text.lines() {
        let mut l = line.replace(&root.display().to_string(), "<ROOT>").replace(cluster, "<C>");
        if !id.is_empty() {
            l = l.replace(id, "<ID>");
        }
        if SALUTATIONS.contains(&l.as_str()) {
            l = "<SALUTATION>".into();
        }
        if let Some(rest) = l.strip_prefix("kind v0.32.0 go") {
            l = format!("kind v0.32.0 go<GO>{}", &rest[rest.find(' ').unwrap_or(rest.len())..]);
        }
        // The flags of kind's `docker run` differ on purpose (tests/fake/README.md), and docker
        // names the endpoint and the container by new ids.
        if let Some(at) = l.find("command \"docker run ")
            && let Some(end) = l[at..].find("\" failed with error")
        {
            l = format!("{}command \"docker run <ARGS>{}", &l[..at], &l[at + end..]);
        }
        l = hex_ids(&l);
        if let Some(list) = l.strip_prefix("ERROR: [").and_then(|r| r.strip_suffix(']')) {
            let mut items: Vec<&str> = list.split(", command \"").collect();
            let first = items.remove(0);
            let mut items: Vec<String> = items.iter().map(|i| format!("command \"{i}")).collect();
            items.push(first.to_owned());
            items.sort();
            l = format!("ERROR: [{}]", items.join(", "));
        }
        lines.push(l);
    }
    lines.join("\n")
}

/// Every run of 64 hex digits (a container or endpoint id) as `<HEX>`.
fn hex_ids(line: &str) -> String {
    let mut out = String::new();
    let mut run = String::new();
    for ch in line.chars().chain(std::iter::once(' ')) {
        if ch.is_ascii_hexdigit() && ch.is_ascii_lowercase() || ch.is_ascii_digit() {
            run.push(ch);
            continue;
        }
        out.push_str(if run.len() == 64 { "<HEX>" } else { &run });
        run.clear();
        out.push(ch);
    }
    out.pop();
    out
}

/// Run kind (`bin`: the real one or the fake) through the calls kilter makes and a few more,
/// on cluster `cluster`; every answer normalised. Leaves nothing behind.
fn kind_transcript(env: &Env, bin: &Path, cluster: &str) -> Vec<Said> {
    let work = env.root().join(format!("t-{cluster}"));
    std::fs::create_dir_all(&work).unwrap();
    let config = work.join("kind-config.yaml");
    // hostPort 0: kind picks a free host port itself.
    let base = 31000;
    std::fs::write(
        &config,
        format!(
            "kind: Cluster\napiVersion: kind.x-k8s.io/v1alpha4\nname: {cluster}\nnodes:\n- role: control-plane\n  extraPortMappings:\n  - containerPort: {base}\n    hostPort: 0\n    listenAddress: \"127.0.0.1\"\n    protocol: TCP\n{}",
            "containerdConfigPatches:\n- |-\n  [plugins.\"io.containerd.grpc.v1.cri\".registry]\n    config_path = \"/etc/containerd/certs.d\"\n"
        ),
    )
    .unwrap();
    let node = format!("{cluster}-control-plane");
    let kc = |n: &str| work.join(format!("kubeconfig{n}"));
    let image = env.real().kind.as_ref().unwrap().image.clone();
    let mut out = Vec::new();
    let mut run = |step: &'static str, args: Vec<String>, id: &str| {
        let o = std::process::Command::new(bin)
            .args(&args)
            .env_clear()
            .envs(env.vars())
            .current_dir(&work)
            .stdin(std::process::Stdio::null())
            .output()
            .unwrap();
        out.push(Said {
            step,
            code: o.status.code(),
            stdout: normalise(&String::from_utf8_lossy(&o.stdout), cluster, env.root(), id),
            stderr: normalise(&String::from_utf8_lossy(&o.stderr), cluster, env.root(), id),
        });
    };
    let s = |v: &[&str]| v.iter().map(|s| (*s).to_owned()).collect::<Vec<_>>();
    let p = |p: &PathBuf| p.display().to_string();
    // A host port of the config that a process of the host holds: docker fails at the start.
    let held = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let held_port = held.local_addr().unwrap().port();
    let taken = work.join("kind-config-taken.yaml");
    std::fs::write(&taken, read(&config).replace("hostPort: 0", &format!("hostPort: {held_port}")))
        .unwrap();
    run(
        "create, a port taken",
        s(&[
            "create",
            "cluster",
            "--name",
            cluster,
            "--kubeconfig",
            &p(&kc("")),
            "--config",
            &p(&taken),
            "--image",
            &image,
        ]),
        "",
    );
    drop(held);
    assert!(env.inspect(&node).is_none(), "{bin:?} removed the node it could not start");
    let create = s(&[
        "create",
        "cluster",
        "--name",
        cluster,
        "--kubeconfig",
        &p(&kc("")),
        "--config",
        &p(&config),
        "--image",
        &image,
    ]);
    run("create", create.clone(), "");
    let id = env.inspect(&node).map(|c| c["Id"].as_str().unwrap().to_owned()).unwrap_or_default();
    run("create again", create, &id);
    run("get nodes", s(&["get", "nodes", "--name", cluster]), &id);
    run(
        "export kubeconfig",
        s(&["export", "kubeconfig", "--name", cluster, "--kubeconfig", &p(&kc("2"))]),
        &id,
    );
    run("export logs", s(&["export", "logs", &p(&work.join("logs1")), "--name", cluster]), &id);
    // A lock file left by a killed kind.
    std::fs::write(work.join("kubeconfig5.lock"), "").unwrap();
    run(
        "export kubeconfig, stale lock",
        s(&["export", "kubeconfig", "--name", cluster, "--kubeconfig", &p(&kc("5"))]),
        &id,
    );
    env.docker_ok(&["stop", &node]);
    run(
        "export kubeconfig, stopped",
        s(&["export", "kubeconfig", "--name", cluster, "--kubeconfig", &p(&kc("3"))]),
        &id,
    );
    run(
        "export logs, stopped",
        s(&["export", "logs", &p(&work.join("logs2")), "--name", cluster]),
        &id,
    );
    env.docker_ok(&["start", &node]);
    // With a stale lock kind deletes the node, then fails to update the kubeconfig (exit 1).
    let lock = work.join("kubeconfig.lock");
    std::fs::write(&lock, "").unwrap();
    run(
        "delete, stale lock",
        s(&["delete", "cluster", "--name", cluster, "--kubeconfig", &p(&kc(""))]),
        &id,
    );
    std::fs::remove_file(&lock).unwrap();
    run("delete", s(&["delete", "cluster", "--name", cluster, "--kubeconfig", &p(&kc(""))]), &id);
    run(
        "delete again",
        s(&["delete", "cluster", "--name", cluster, "--kubeconfig", &p(&kc(""))]),
        &id,
    );
    run(
        "export logs, no cluster",
        s(&["export", "logs", &p(&work.join("logs3")), "--name", cluster]),
        &id,
    );
    run(
        "export kubeconfig, no cluster",
        s(&["export", "kubeconfig", "--name", cluster, "--kubeconfig", &p(&kc("4"))]),
        &id,
    );
    run("get nodes, no cluster", s(&["get", "nodes", "--name", cluster]), &id);
    run("version", s(&["version"]), &id);
    for said in &mut out {
        said.stderr = said.stderr.replace(&format!("127.0.0.1:{held_port}:"), "127.0.0.1:<PORT>:");
    }
    out
}

/// The files `kind export logs` wrote for a running node, relative to its directory.
fn exported(dir: &Path) -> Vec<String> {
    let mut files = Vec::new();
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        for e in std::fs::read_dir(&d).into_iter().flatten().flatten() {
            if e.path().is_dir() {
                stack.push(e.path());
            } else {
                files.push(e.path().strip_prefix(dir).unwrap().display().to_string());
            }
        }
    }
    files.sort();
    files
}

/// The real kind and the fake kind (real-Docker backend) answer the same calls the same way:
/// exit codes, stdout, stderr (normalised), the kubeconfig they write and what `export logs`
/// writes. kilter's parsers read the real kind's answers as they should.
#[test]
#[ignore = "real-kind tier: KILTER_REAL_KIND=1 and --include-ignored"]
fn real_kind_answers_as_the_fake_kind_does_and_kilter_parses_it() {
    let Some(env) = Env::real_kind() else { return };
    let real_cluster = format!("kilter-{}", env.unique_name("kr"));
    let fake_cluster = format!("kilter-{}", env.unique_name("kf"));
    let fake_bin = env.root().join("fake-kind").join("kind");
    std::fs::create_dir_all(fake_bin.parent().unwrap()).unwrap();
    std::os::unix::fs::symlink(crate::support::fake_tool(), &fake_bin).unwrap();

    let real = kind_transcript(&env, &env.bin().join("kind"), &real_cluster);
    let fake = kind_transcript(&env, &fake_bin, &fake_cluster);
    let mut differences = Vec::new();
    for (r, f) in real.iter().zip(&fake) {
        if r != f {
            differences.push(format!("real: {r:#?}\nfake: {f:#?}"));
        }
    }
    assert!(differences.is_empty(), "the fake kind differs:\n{}", differences.join("\n"));
    for cluster in [&real_cluster, &fake_cluster] {
        assert_eq!(cluster_containers(&env, cluster), Vec::<String>::new(), "{cluster}");
    }

    // Both wrote a kubeconfig of the same shape; after `delete` both left the same empty one.
    let shape = |cluster: &str| {
        let text = read(env.root().join(format!("t-{cluster}")).join("kubeconfig2"));
        let mut v: serde_yaml::Value = serde_yaml::from_str(&text).unwrap();
        let c = &mut v["clusters"][0]["cluster"];
        assert!(c["server"].as_str().unwrap().starts_with("https://127.0.0.1:"), "{text}");
        c["server"] = "<SERVER>".into();
        c["certificate-authority-data"] = "<CA>".into();
        v["users"][0]["user"]["client-certificate-data"] = "<CERT>".into();
        v["users"][0]["user"]["client-key-data"] = "<KEY>".into();
        normalise(&serde_yaml::to_string(&v).unwrap(), cluster, env.root(), "")
    };
    assert_eq!(shape(&real_cluster), shape(&fake_cluster));
    let emptied = |cluster: &str| read(env.root().join(format!("t-{cluster}")).join("kubeconfig"));
    assert_eq!(emptied(&real_cluster), "apiVersion: v1\nkind: Config\npreferences: {}\n");
    assert_eq!(emptied(&real_cluster), emptied(&fake_cluster));

    // `export logs` of a running node: the files kind itself writes are there in both (the rest
    // is the node's own /var/log, which differs between the stub image and the fake's model).
    for cluster in [&real_cluster, &fake_cluster] {
        let files = exported(&env.root().join(format!("t-{cluster}")).join("logs1"));
        let node = format!("{cluster}-control-plane");
        for f in ["kind-version.txt", "docker-info.txt"].into_iter().map(str::to_owned).chain(
            [
                "inspect.json",
                "serial.log",
                "journal.log",
                "kubelet.log",
                "containerd.log",
                "images.log",
                "kubernetes-version.txt",
            ]
            .iter()
            .map(|f| format!("{node}/{f}")),
        ) {
            assert!(files.contains(&f), "{cluster}: {f} in {files:?}");
        }
    }

    // kilter's parsers on the real kind's answers.
    let create_again = &real[2];
    assert_eq!(create_again.code, Some(1));
    assert!(kilter::tools::kind::already_exists(&create_again.stderr), "{create_again:?}");
    assert!(!kilter::tools::kind::already_exists(&real[1].stderr));
    assert!(!kilter::tools::kind::already_exists(&real[0].stderr));
    assert_eq!(real[0].code, Some(1), "{:?}", real[0]);
    let dir = env.root().join(format!("t-{real_cluster}"));
    let context = format!("kind-{real_cluster}");
    let written = read(dir.join("kubeconfig2"));
    assert!(
        matches!(
            kilter::tools::kubeconfig::check_text(&written, &context),
            kilter::tools::kubeconfig::Check::Server { port: Some(_), contexts: 1 }
        ),
        "{written}"
    );
    let emptied = read(dir.join("kubeconfig"));
    assert!(matches!(
        kilter::tools::kubeconfig::check_text(&emptied, &context),
        kilter::tools::kubeconfig::Check::NoContext
    ));
}

/// A cluster the real kind made outside kilter, under the project's cluster name: `up` refuses it
/// (exit 4), `up --adopt` takes it over (kind exports its kubeconfig), `destroy` deletes it.
#[test]
#[ignore = "real-kind tier: KILTER_REAL_KIND=1 and --include-ignored"]
fn real_kind_a_cluster_made_outside_kilter_is_refused_then_adopted() {
    let Some(env) = Env::real_kind() else { return };
    let p = real_project(&env, "adopt", TILTFILE, "");
    let outside = env.root().join("outside-kubeconfig");
    let made = std::process::Command::new(env.bin().join("kind"))
        .args(["create", "cluster", "--name", &p.cluster, "--kubeconfig"])
        .arg(&outside)
        .args(["--image", &env.real().image])
        .env_clear()
        .envs(env.vars())
        .output()
        .unwrap();
    assert!(made.status.success(), "{}", String::from_utf8_lossy(&made.stderr));
    let id = env.inspect(&p.node).expect("kind made the node")["Id"].clone();

    let out = kilter(&env, &p, &[], &["up"]);
    assert_eq!(out.status.code(), Some(4), "{}", stderr_of(&out));
    assert!(stderr_of(&out).contains("has no record of creating it"), "{}", stderr_of(&out));
    assert_eq!(env.inspect(&p.node).expect("left alone")["Id"], id);
    env.assert_no_leftover_processes(Duration::from_secs(5));

    let out = kilter_ok(&env, &p, &[], &["up", "--adopt"]);
    let err = stderr_of(&out);
    assert!(err.contains("is running; reusing it"), "{err}");
    assert!(err.contains("kind export kubeconfig --name"), "{err}");
    assert!(!err.contains("kind create cluster"), "{err}");
    assert_eq!(env.inspect(&p.node).expect("adopted")["Id"], id);
    let api = api_port(&env.inspect(&p.node).unwrap());
    assert_kubeconfig_from_kind(&env, &p, api);
    assert_eq!(status_json(&env, &p, &[])["api"], "ok");

    kilter_ok(&env, &p, &[], &["destroy", "--yes"]);
    assert_eq!(cluster_containers(&env, &p.cluster), Vec::<String>::new());
    env.assert_no_leftover_processes(Duration::from_secs(10));
}

/// A kind killed while it wrote the kubeconfig leaves `<kubeconfig>.lock`, and every later kind
/// call that writes that file fails (`failed to lock config file: … file exists`; `kind delete`
/// deletes the node, then exits 1). kilter holds the project lock, so no kind of its own is
/// writing: `up` (resume) and `destroy` go through.
#[test]
#[ignore = "real-kind tier: KILTER_REAL_KIND=1 and --include-ignored"]
fn real_kind_a_stale_kubeconfig_lock_does_not_block_up_or_destroy() {
    let Some(env) = Env::real_kind() else { return };
    let p = real_project(&env, "lock", TILTFILE, "");
    kilter_ok(&env, &p, &[], &["up"]);
    kilter_ok(&env, &p, &[], &["stop"]);
    let lock = env.cache_dir(&p.name).join("kubeconfig.lock");
    std::fs::write(&lock, "").unwrap();
    let out = kilter_ok(&env, &p, &[], &["up"]);
    assert!(stderr_of(&out).contains("kind export kubeconfig --name"), "{}", stderr_of(&out));
    assert!(!lock.exists(), "the stale lock is gone");
    assert_eq!(status_json(&env, &p, &[])["api"], "ok");

    std::fs::write(&lock, "").unwrap();
    kilter_ok(&env, &p, &[], &["destroy", "--yes"]);
    assert!(!lock.exists());
    assert_eq!(cluster_containers(&env, &p.cluster), Vec::<String>::new());
    env.assert_no_leftover_processes(Duration::from_secs(10));
}
