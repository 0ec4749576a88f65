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
        let port = loop {
            let l = std::net::TcpListener::bind(("127.0.0.1", 0)).expect("bind");
            let p = l.local_addr().expect("addr").port();
            if std::net::TcpListener::bind(("127.0.0.1", p + 1)).is_ok() {
                break p;
            }
        };
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
