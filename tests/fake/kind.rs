//! Fake `kind` v0.32.0 (see README.md next to this file). All output is on stderr except program
//! output.

use std::collections::BTreeMap;
use std::net::TcpListener;
use std::time::Duration;

use serde_json::Value;

use crate::args::{self, boolean, val};
use crate::backend::{Backend, DockerError};
use crate::common::{Ctx, Daemon, on_path};
use crate::docker::CANNOT_CONNECT;
use crate::kubeconfig;
use crate::state::{ClusterStore, Container, Containers, PortBinding};
use crate::timefmt;

pub const DEFAULT_IMAGE: &str =
    "kindest/node:v1.36.1@sha256:3489c7674813ba5d8b1a9977baea8a6e553784dab7b84759d1014dbd78f7ebd5";

/// Printed first by every `kind create cluster` on a cgroup v1 host (also before the "already
/// exist" error).
pub const CGROUP_V1_WARNING: &str = "cgroup v1 is deprecated in Kubernetes and will not be supported in a future kind release, please upgrade to cgroup v2";

/// Marker error for configs the fake does not model (→ exit 97).
const UNSUPPORTED: &str = "fake kind: only a single control-plane node is supported";

const SALUTATIONS: &[&str] = &[
    "Have a nice day! 👋",
    "Thanks for using kind! 😊",
    "Not sure what to do next? 😅  Check out https://kind.sigs.k8s.io/docs/user/quick-start/",
    "Have a question, bug, or feature request? Let us know! https://kind.sigs.k8s.io/#community 🙂",
];

/// A kind error: `ERROR: <msg>` and, for a failed subprocess, a blank line plus its output.
#[derive(Debug)]
struct KindError {
    msg: String,
    output: Option<String>,
}

impl KindError {
    fn new(msg: impl Into<String>) -> KindError {
        KindError { msg: msg.into(), output: None }
    }
    fn cmd(msg: impl Into<String>, output: impl Into<String>) -> KindError {
        KindError { msg: msg.into(), output: Some(output.into()) }
    }
    fn wrap(self, prefix: &str) -> KindError {
        KindError { msg: format!("{prefix}: {}", self.msg), output: self.output }
    }
    fn print(&self) -> i32 {
        errln!("ERROR: {}", self.msg);
        if let Some(o) = &self.output {
            errln!("\nCommand Output: {o}");
        }
        1
    }
}

fn docker_cmd_error(what: &str, command: &str) -> KindError {
    KindError::cmd(
        format!("{what}: command \"{command}\" failed with error: exit status 1"),
        CANNOT_CONNECT,
    )
}

/// A real docker command that failed (real-Docker backend), like kind's `RunError`.
fn run_error(e: DockerError) -> KindError {
    KindError::cmd(format!("command \"{}\" failed with error: {}", e.command, e.error), e.output)
}

fn real_error(what: &str, e: DockerError) -> KindError {
    run_error(e).wrap(what)
}

fn list_nodes_cmd(name: &str) -> String {
    format!("docker ps -a --filter label=io.x-k8s.kind.cluster={name} --format '{{{{.Names}}}}'")
}

const LIST_CLUSTERS_CMD: &str = "docker ps -a --filter label=io.x-k8s.kind.cluster --format '{{.Label \"io.x-k8s.kind.cluster\"}}'";

/// kind's `ListNodes`, which needs the daemon: the fake state, or the real engine.
fn list_nodes(ctx: &Ctx, name: &str) -> Result<Vec<String>, KindError> {
    match Backend::of(ctx) {
        Backend::Real(real) => {
            real.list_nodes(name).map_err(|e| real_error("failed to list nodes", e))
        }
        Backend::Fake => {
            if ctx.daemon() != Daemon::Up {
                return Err(docker_cmd_error("failed to list nodes", &list_nodes_cmd(name)));
            }
            let _l = ctx.lock();
            Ok(Containers::load(&ctx.state).cluster_nodes(name))
        }
    }
}

/// The nodes of cluster `name` and a snapshot of them (fake state or `docker inspect`).
fn cluster_containers(ctx: &Ctx, name: &str) -> Result<(Vec<String>, Containers), KindError> {
    let nodes = list_nodes(ctx, name)?;
    let cs = match Backend::of(ctx) {
        Backend::Real(real) => real.snapshot(&ctx.state, Some(&nodes)),
        Backend::Fake => {
            let _l = ctx.lock();
            Containers::load(&ctx.state)
        }
    };
    Ok((nodes, cs))
}

/// [`cluster_containers`] for `kind export logs` (logs.rs): kind's error printed, exit 1.
pub fn cluster_containers_pub(ctx: &Ctx, name: &str) -> Result<(Vec<String>, Containers), i32> {
    cluster_containers(ctx, name).map_err(|e| e.print())
}

pub fn main(ctx: &Ctx) -> i32 {
    let a: Vec<&str> = ctx.args.iter().map(String::as_str).collect();
    let res = match a.as_slice() {
        ["version"] => {
            // the release binary of v0.32.0 was built with go1.26.3
            outln!("kind {} go1.26.3 linux/amd64", ctx.knob("kind_version"));
            return 0;
        }
        ["create", "cluster", ..] => create_cluster(ctx, &ctx.args[2..]),
        ["delete", "cluster", ..] => delete_cluster(ctx, &ctx.args[2..]),
        ["export", "kubeconfig", ..] => export_kubeconfig(ctx, &ctx.args[2..]),
        ["export", "logs", ..] => return crate::logs::export_logs(ctx, &ctx.args[2..]),
        ["get", "clusters"] => get_clusters(ctx),
        ["get", "nodes", ..] => get_nodes(ctx, &ctx.args[2..]),
        ["get", "kubeconfig", ..] => get_kubeconfig(ctx, &ctx.args[2..]),
        ["load", "docker-image", ..] => load_image(ctx, &ctx.args[2..]),
        _ => return ctx.unexpected(),
    };
    match res {
        Ok(code) => code,
        Err(e) => e.print(),
    }
}

/// Cluster name: `--name`, else `KIND_CLUSTER_NAME`, else `fallback`.
fn cluster_name(p: &args::Parsed, fallback: &str) -> String {
    p.get("--name")
        .map(str::to_string)
        .or_else(|| std::env::var("KIND_CLUSTER_NAME").ok().filter(|v| !v.is_empty()))
        .unwrap_or_else(|| fallback.to_string())
}

// ---------------------------------------------------------------------------------------------
// Cluster config (v1alpha4), decoded strictly like kind.

#[derive(Debug, Default)]
struct PortMapping {
    container_port: u16,
    host_port: u16,
    listen_address: String,
    protocol: String,
}

#[derive(Debug, Default)]
struct ClusterConfig {
    name: Option<String>,
    image: Option<String>,
    port_mappings: Vec<PortMapping>,
}

const TOP_FIELDS: &[&str] = &[
    "kind",
    "apiVersion",
    "name",
    "nodes",
    "networking",
    "featureGates",
    "runtimeConfig",
    "kubeadmConfigPatches",
    "kubeadmConfigPatchesJSON6902",
    "containerdConfigPatches",
    "containerdConfigPatchesJSON6902",
];
const NODE_FIELDS: &[&str] = &[
    "role",
    "image",
    "labels",
    "extraMounts",
    "extraPortMappings",
    "kubeadmConfigPatches",
    "kubeadmConfigPatchesJSON6902",
];
const PORT_FIELDS: &[&str] = &["containerPort", "hostPort", "listenAddress", "protocol"];

/// Line (1-based) of the first occurrence of `key:` in the raw text, for yaml.v3-like errors.
fn line_of(raw: &str, key: &str) -> usize {
    raw.lines()
        .position(|l| {
            let t = l.trim_start().trim_start_matches("- ");
            t.starts_with(&format!("{key}:")) || t.starts_with(&format!("\"{key}\":"))
        })
        .map(|i| i + 1)
        .unwrap_or(1)
}

fn unknown_field(raw: &str, key: &str, ty: &str) -> KindError {
    KindError::new(format!(
        "unable to decode config: yaml: unmarshal errors:\n  line {}: field {key} not found in type v1alpha4.{ty}",
        line_of(raw, key)
    ))
}

fn parse_config(raw: &str) -> Result<ClusterConfig, KindError> {
    let v: Value = serde_yaml::from_str(raw).map_err(|e| {
        KindError::new(format!("could not determine kind / apiVersion for config: yaml: {e}"))
    })?;
    let v = if v.is_null() { Value::Object(Default::default()) } else { v };
    let api = v.get("apiVersion").and_then(Value::as_str).unwrap_or("");
    let kind = v.get("kind").and_then(Value::as_str).unwrap_or("");
    if api != "kind.x-k8s.io/v1alpha4" {
        return Err(KindError::new(format!("unknown apiVersion: {api}")));
    }
    if kind != "Cluster" {
        return Err(KindError::new(format!("unknown kind {kind} for apiVersion: {api}")));
    }
    let obj =
        v.as_object().ok_or_else(|| KindError::new("unable to decode config: not a mapping"))?;
    if let Some(k) = obj.keys().find(|k| !TOP_FIELDS.contains(&k.as_str())) {
        return Err(unknown_field(raw, k, "Cluster"));
    }
    let mut cfg = ClusterConfig {
        name: obj.get("name").and_then(Value::as_str).map(str::to_string),
        ..Default::default()
    };
    let nodes = obj.get("nodes").and_then(Value::as_array).cloned().unwrap_or_default();
    for (i, node) in nodes.iter().enumerate() {
        let Some(n) = node.as_object() else { continue };
        if let Some(k) = n.keys().find(|k| !NODE_FIELDS.contains(&k.as_str())) {
            return Err(unknown_field(raw, k, "Node"));
        }
        let role = n.get("role").and_then(Value::as_str).unwrap_or("control-plane");
        if role != "control-plane" || i > 0 {
            // multi-node configs are outside what the fake models: an unexpected call
            return Err(KindError::new(UNSUPPORTED));
        }
        cfg.image = n.get("image").and_then(Value::as_str).map(str::to_string);
        for pm in n.get("extraPortMappings").and_then(Value::as_array).cloned().unwrap_or_default()
        {
            let Some(m) = pm.as_object() else { continue };
            if let Some(k) = m.keys().find(|k| !PORT_FIELDS.contains(&k.as_str())) {
                return Err(unknown_field(raw, k, "PortMapping"));
            }
            let num = |k: &str| -> Result<u16, KindError> {
                match m.get(k) {
                    None => Ok(0),
                    Some(Value::Number(n)) => {
                        n.as_u64().and_then(|x| u16::try_from(x).ok()).ok_or_else(|| {
                            KindError::new(format!("unable to decode config: invalid {k}"))
                        })
                    }
                    Some(other) => Err(KindError::new(format!(
                        "unable to decode config: yaml: unmarshal errors:\n  line {}: cannot unmarshal !!str `{}` into int32",
                        line_of(raw, k),
                        other.as_str().unwrap_or_default()
                    ))),
                }
            };
            cfg.port_mappings.push(PortMapping {
                container_port: num("containerPort")?,
                host_port: num("hostPort")?,
                listen_address: m
                    .get("listenAddress")
                    .and_then(Value::as_str)
                    .unwrap_or("0.0.0.0")
                    .to_string(),
                protocol: m.get("protocol").and_then(Value::as_str).unwrap_or("TCP").to_string(),
            });
        }
    }
    Ok(cfg)
}

// ---------------------------------------------------------------------------------------------

/// A port no one listens on right now (kind binds 127.0.0.1:0 and passes the port to docker).
fn free_port(cs: &Containers) -> u16 {
    for _ in 0..50 {
        let port = TcpListener::bind("127.0.0.1:0")
            .and_then(|l| l.local_addr())
            .map(|a| a.port())
            .unwrap_or(0);
        if port != 0 && !cs.containers.values().any(|c| c.api_port() == Some(port)) {
            return port;
        }
    }
    panic!("fake kind: no free port");
}

struct Status {
    current: Option<String>,
}

impl Status {
    fn start(&mut self, s: &str) {
        self.end(true);
        errln!(" • {s}  ...");
        self.current = Some(s.to_string());
    }
    fn end(&mut self, ok: bool) {
        if let Some(s) = self.current.take() {
            errln!(" {} {s}", if ok { "✓" } else { "✗" });
        }
    }
}

fn create_cluster(ctx: &Ctx, rest: &[String]) -> Result<i32, KindError> {
    let spec = [
        val(&["--name", "-n"]),
        val(&["--config"]),
        val(&["--image"]),
        boolean(&["--retain"]),
        val(&["--wait"]),
        val(&["--kubeconfig"]),
    ];
    let Ok(p) = args::parse(rest, &spec) else { return Ok(ctx.unexpected()) };
    if !p.pos.is_empty() || p.rest.is_some() {
        return Ok(ctx.unexpected());
    }
    let fail = |e: KindError| Err(e.wrap("failed to create cluster"));
    let Some(wait_ms) = timefmt::parse_go_duration(p.get("--wait").unwrap_or("0s")) else {
        return Ok(ctx.unexpected());
    };

    // 1. config (read while applying options, before anything talks to docker)
    let cfg = match p.get("--config") {
        None | Some("") => ClusterConfig::default(),
        Some("-") => return Ok(ctx.unexpected()),
        Some(path) => match std::fs::read_to_string(path) {
            Ok(raw) => match parse_config(&raw) {
                Ok(c) => c,
                Err(e) if e.msg == UNSUPPORTED => return Ok(ctx.unexpected()),
                Err(e) => return fail(e),
            },
            Err(_) => {
                return fail(KindError::new(format!(
                    "error reading file: open {path}: no such file or directory"
                )));
            }
        },
    };
    let name = cluster_name(&p, cfg.name.as_deref().unwrap_or("kind"));
    let explicit_kubeconfig = p.get("--kubeconfig").filter(|s| !s.is_empty());

    // 2. provider info
    let info_cmd = "docker info --format '{{json .}}'";
    if !on_path("docker") {
        return fail(KindError::cmd(
            format!(
                "failed to get docker info: command \"{info_cmd}\" failed with error: exec: \"docker\": executable file not found in $PATH"
            ),
            "",
        ));
    }
    // kind warns when `docker info` does not report cgroup v2 (an Info with empty server fields,
    // as docker ≤ 28.0 gives with the daemon down, does not either)
    let backend = Backend::of(ctx);
    let cgroup2 = match (&backend, ctx.daemon()) {
        (Backend::Real(real), _) => match real.info() {
            Ok(info) => serde_json::from_str::<Value>(info.trim())
                .is_ok_and(|v| v["CgroupVersion"].as_str() == Some("2")),
            Err(e) => return fail(real_error("failed to get docker info", e)),
        },
        (Backend::Fake, Daemon::Down) => {
            return fail(docker_cmd_error("failed to get docker info", info_cmd));
        }
        (Backend::Fake, Daemon::DownOld) => false,
        (Backend::Fake, Daemon::Up) => ctx.cgroup_version() == 2,
    };
    if !cgroup2 {
        errln!("{CGROUP_V1_WARNING}");
    }

    // 3. already exists? 4. validate. 5. provision the node container.
    let image = p
        .get("--image")
        .map(str::to_string)
        .or(cfg.image.clone())
        .unwrap_or_else(|| DEFAULT_IMAGE.into());
    let friendly = image.split('@').next().unwrap_or_default().to_string();
    let node = format!("{name}-control-plane");
    let step = Duration::from_millis(ctx.knob_u64("create_ms") / 6);
    let mut status = Status { current: None };
    match list_nodes(ctx, &name) {
        Ok(nodes) if !nodes.is_empty() => {
            return fail(KindError::new(format!(
                "node(s) already exist for a cluster with the name \"{name}\""
            )));
        }
        Ok(_) => {}
        Err(e) => return fail(e),
    }
    if name.len() > 50 {
        errln!(
            "cluster name \"{name}\" is probably too long, this might not work properly on some systems"
        );
    }
    if name.is_empty()
        || !name
            .chars()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '.' || c == '-')
    {
        return fail(KindError::new(format!(
            "'{name}' is not a valid cluster name, cluster names must match `^[a-z0-9.-]+$`"
        )));
    }
    errln!("Creating cluster \"{name}\" ...");
    status.start(&format!("Ensuring node image ({friendly}) 🖼"));
    std::thread::sleep(step);
    status.start("Preparing nodes 📦 ");
    let id = if let Backend::Real(real) = &backend {
        // kind picks the API port itself; the extra mappings come first, the API port last.
        let mut publish = Vec::new();
        for m in &cfg.port_mappings {
            let host_port =
                if m.host_port == 0 { free_port(&Containers::default()) } else { m.host_port };
            publish.push(format!(
                "{}:{host_port}:{}/{}",
                m.listen_address,
                m.container_port,
                m.protocol.to_ascii_uppercase()
            ));
        }
        publish.push(format!("127.0.0.1:{}:6443/TCP", free_port(&Containers::default())));
        match real.run_node(&node, &name, &image, &publish) {
            Ok(id) => id,
            Err(e) => {
                status.end(false);
                if !p.has("--retain") {
                    // `docker run` may have left a created (never started) container behind
                    delete_cluster_nodes(ctx, &name, explicit_kubeconfig)?;
                }
                return fail(run_error(e));
            }
        }
    } else {
        let _l = ctx.lock();
        let mut cs = Containers::load(&ctx.state);
        if !cs.cluster_nodes(&name).is_empty() || cs.containers.contains_key(&node) {
            // lost a race with a concurrent create
            status.end(false);
            return fail(KindError::cmd(
                format!(
                    "command \"docker run --name {node} …\" failed with error: exit status 125"
                ),
                format!(
                    "docker: Error response from daemon: Conflict. The container name \"/{node}\" is already in use by container \"{}\". You have to remove (or rename) that container to be able to reuse that name.",
                    cs.containers.get(&node).map(|c| c.inspect.id.clone()).unwrap_or_default()
                ),
            ));
        }
        let mut bindings: BTreeMap<String, Vec<PortBinding>> = BTreeMap::new();
        let api_port = free_port(&cs);
        bindings.insert(
            "6443/tcp".into(),
            vec![PortBinding { host_ip: "127.0.0.1".into(), host_port: api_port.to_string() }],
        );
        // kind's --publish flags: the extra mappings in config order, the API port last
        let mut publish = Vec::new();
        for m in &cfg.port_mappings {
            let host_port = if m.host_port == 0 { free_port(&cs) } else { m.host_port };
            publish.push(format!(
                "{}:{host_port}:{}/{}",
                m.listen_address,
                m.container_port,
                m.protocol.to_ascii_uppercase()
            ));
            bindings
                .entry(format!("{}/{}", m.container_port, m.protocol.to_ascii_lowercase()))
                .or_default()
                .push(PortBinding {
                    host_ip: m.listen_address.clone(),
                    host_port: host_port.to_string(),
                });
        }
        publish.push(format!("127.0.0.1:{api_port}:6443/TCP"));
        // docker run fails if a running container already publishes one of the host ports
        let used = cs.used_host_ports();
        let clash = bindings.values().flatten().find(|b| {
            used.iter().any(|(ip, port)| {
                port == &b.host_port
                    && (ip == &b.host_ip || ip == "0.0.0.0" || b.host_ip == "0.0.0.0")
            })
        });
        if let Some(b) = clash {
            status.end(false);
            // `docker run` created the container (and printed its Id) before its start failed;
            // kind deletes it unless --retain, which leaves it `created`.
            let mut c =
                Container::new_kind_node(&node, &name, &image, bindings.clone(), String::new());
            let error = format!(
                "driver failed programming external connectivity on endpoint {node} ({}): Bind for {}:{} failed: port is already allocated",
                crate::common::random_hex(32),
                b.host_ip,
                b.host_port
            );
            let out = format!("{}\ndocker: Error response from daemon: {error}.", c.inspect.id);
            if p.has("--retain") {
                // as docker leaves it (measured on Docker 20.10): created, exit code 128, the error
                let st = &mut c.inspect.state;
                st.status = "created".into();
                st.running = false;
                st.pid = 0;
                st.exit_code = 128;
                st.error = error;
                st.started_at = crate::state::ZERO_TIME.into();
                c.inspect.network_settings.ports.clear();
                c.meta.started_ms = 0;
                cs.containers.insert(node.clone(), c);
                cs.save(&ctx.state);
            } else {
                errln!("Deleted nodes: [\"{node}\"]");
            }
            return fail(KindError::cmd(
                format!(
                    "command \"{}\" failed with error: exit status 125",
                    kind_docker_run(&node, &name, &publish, &image)
                ),
                out,
            ));
        }
        let ip = cs.next_ip();
        let c = Container::new_kind_node(&node, &name, &image, bindings, ip);
        crate::engine::ensure_kind_network(&ctx.state);
        let id = c.inspect.id.clone();
        cs.containers.insert(node.clone(), c);
        cs.save(&ctx.state);
        id
    };
    std::thread::sleep(step);
    status.start("Writing configuration 📜");
    std::thread::sleep(step);
    status.start("Starting control-plane 🕹️");
    std::thread::sleep(step);
    if ctx.knob_bool("create_fail") {
        status.end(false);
        if !p.has("--retain") {
            delete_cluster_nodes(ctx, &name, explicit_kubeconfig)?;
        }
        return fail(KindError::cmd(
            format!(
                "failed to init node with kubeadm: command \"docker exec --privileged {node} kubeadm init --config=/kind/kubeadm.conf --skip-token-print --v=6\" failed with error: exit status 1"
            ),
            "I0101 00:00:00.000000     212 initconfiguration.go:261] loading configuration from \"/kind/kubeadm.conf\"\n[init] Using Kubernetes version: v1.36.1\n[wait-control-plane] Waiting for the kubelet to boot up the control plane as static Pods from directory \"/etc/kubernetes/manifests\"\n[kubelet-check] The kubelet is not healthy after 4m0.000000000s\nerror execution phase wait-control-plane: could not initialize a Kubernetes cluster",
        ));
    }
    if matches!(backend, Backend::Real(_)) {
        // kubeadm init done: the in-cluster state exists from now on
        let _l = ctx.lock();
        let store = ClusterStore::for_container(&ctx.state, &id);
        if !store.exists() {
            store.init();
        }
    } else {
        // kubeadm init done: the API server exists from now on (in-cluster state created)
        let _l = ctx.lock();
        let mut cs = Containers::load(&ctx.state);
        if let Some(c) = cs.containers.get_mut(&node).filter(|c| c.inspect.id == id) {
            c.meta.provisioned = true;
            let store = ClusterStore::for_container(&ctx.state, &id);
            if !store.exists() {
                store.init();
            }
            cs.save(&ctx.state);
        }
    }
    status.start("Installing CNI 🔌");
    std::thread::sleep(step);
    status.start("Installing StorageClass 💾");
    std::thread::sleep(step);
    status.end(true);
    if wait_ms > 0 {
        let label = format!(
            "Waiting ≤ {} for control-plane = Ready ⏳",
            timefmt::go_duration_secs(wait_ms)
        );
        status.start(&label);
        let began = timefmt::now_ms();
        let ready_at = {
            let _l = ctx.lock();
            let cs = crate::backend::containers(ctx);
            cs.containers
                .get(&node)
                .map(|c| c.meta.started_ms.saturating_add(ctx.knob_u64("node_ready_delay_ms")))
        }
        .unwrap_or(u64::MAX);
        if ready_at <= began.saturating_add(wait_ms) {
            std::thread::sleep(Duration::from_millis(ready_at.saturating_sub(began)));
            status.end(true);
            errln!(" • Ready after {} 💚", timefmt::go_duration_secs(timefmt::now_ms() - began));
        } else {
            std::thread::sleep(Duration::from_millis(wait_ms));
            status.end(false);
            errln!(" • WARNING: Timed out waiting for Ready ⚠️");
        }
    }

    // export the kubeconfig, with kind's backoff for lock failures
    let mut last = Ok(());
    for backoff in [0, 1, 50, 100] {
        std::thread::sleep(Duration::from_millis(backoff));
        last = export(ctx, &name, explicit_kubeconfig, false);
        if last.is_ok() {
            break;
        }
    }
    if let Err(e) = last {
        return fail(e);
    }
    let mut hint = format!("kubectl cluster-info --context kind-{name}");
    if let Some(k) = explicit_kubeconfig {
        hint.push_str(&format!(
            " --kubeconfig {}",
            shlex::try_quote(k).map(|q| q.into_owned()).unwrap_or(k.into())
        ));
    }
    errln!("Set kubectl context to \"kind-{name}\"");
    errln!("You can now use your cluster with:\n\n{hint}");
    errln!();
    let pick = (timefmt::now_ns() % SALUTATIONS.len() as u128) as usize;
    errln!("{}", SALUTATIONS[pick]);
    Ok(0)
}

/// The `docker run` of a control-plane node as the real kind v0.32.0 runs it (and names it in
/// its error when the run fails).
fn kind_docker_run(node: &str, cluster: &str, publish: &[String], image: &str) -> String {
    let mut s = format!(
        "docker run --name {node} --hostname {node} --label io.x-k8s.kind.role=control-plane --privileged --security-opt seccomp=unconfined --security-opt apparmor=unconfined --tmpfs /tmp --tmpfs /run --volume /var --volume /lib/modules:/lib/modules:ro -e KIND_EXPERIMENTAL_CONTAINERD_SNAPSHOTTER --detach --tty --label io.x-k8s.kind.cluster={cluster} --net kind --restart=on-failure:1 --init=false --cgroupns=private"
    );
    for p in publish {
        s.push_str(&format!(" --publish={p}"));
    }
    s.push_str(&format!(" -e KUBECONFIG=/etc/kubernetes/admin.conf {image}"));
    s
}

/// kind's `delete.Cluster`: kubeconfig entries first, then the nodes.
fn delete_cluster_nodes(ctx: &Ctx, name: &str, explicit: Option<&str>) -> Result<(), KindError> {
    let nodes = list_nodes(ctx, name).map_err(|e| e.wrap("error listing nodes"))?;
    let kerr = kubeconfig::remove_kind_everywhere(name, explicit).err();
    if let Some(e) = &kerr {
        errln!("failed to update kubeconfig: {e}");
    }
    if !nodes.is_empty() {
        if let Backend::Real(real) = Backend::of(ctx) {
            let ids: Vec<String> = real
                .inspect(&nodes)
                .iter()
                .filter_map(|v| v["Id"].as_str().map(str::to_string))
                .collect();
            real.remove(&nodes).map_err(|e| real_error("failed to delete nodes", e))?;
            let _l = ctx.lock();
            for id in ids {
                ClusterStore::for_container(&ctx.state, &id).remove();
            }
        } else {
            let _l = ctx.lock();
            let mut cs = Containers::load(&ctx.state);
            for n in &nodes {
                if let Some(c) = cs.containers.remove(n) {
                    ClusterStore::for_container(&ctx.state, &c.inspect.id).remove();
                }
            }
            cs.save(&ctx.state);
        }
        let quoted: Vec<String> = nodes.iter().map(|n| format!("{n:?}")).collect();
        errln!("Deleted nodes: [{}]", quoted.join(" "));
    }
    match kerr {
        Some(e) => Err(KindError::new(e)),
        None => Ok(()),
    }
}

fn delete_cluster(ctx: &Ctx, rest: &[String]) -> Result<i32, KindError> {
    let Ok(p) = args::parse(rest, &[val(&["--name", "-n"]), val(&["--kubeconfig"])]) else {
        return Ok(ctx.unexpected());
    };
    if !p.pos.is_empty() || p.rest.is_some() {
        return Ok(ctx.unexpected());
    }
    let name = cluster_name(&p, "kind");
    errln!("Deleting cluster \"{name}\" ...");
    delete_cluster_nodes(ctx, &name, p.get("--kubeconfig").filter(|s| !s.is_empty()))
        .map_err(|e| e.wrap(&format!("failed to delete cluster \"{name}\"")))?;
    Ok(0)
}

/// The cluster's kubeconfig (external or internal server), or kind's errors.
fn cluster_kubeconfig(ctx: &Ctx, name: &str, internal: bool) -> Result<Value, KindError> {
    let (nodes, cs) = cluster_containers(ctx, name)?;
    let cp = nodes.iter().find(|n| {
        cs.containers
            .get(*n)
            .and_then(|c| c.inspect.config.labels.get(crate::state::ROLE_LABEL))
            .map(String::as_str)
            == Some("control-plane")
    });
    let Some(cp) = cp else {
        return Err(KindError::new(format!(
            "could not locate any control plane nodes for cluster named '{name}'. Use the --name option to select a different cluster"
        )));
    };
    let c = &cs.containers[cp];
    if !c.inspect.state.running || !c.meta.provisioned {
        let output = if c.inspect.state.running {
            "cat: /etc/kubernetes/admin.conf: No such file or directory".to_string()
        } else {
            not_running(ctx, c)
        };
        return Err(KindError::cmd(
            format!(
                "failed to get cluster internal kubeconfig: command \"docker exec --privileged {cp} cat /etc/kubernetes/admin.conf\" failed with error: exit status 1"
            ),
            output,
        ));
    }
    let server = if internal {
        format!("https://{cp}:6443")
    } else {
        let port =
            c.inspect.network_settings.ports.get("6443/tcp").and_then(|b| b.first()).cloned();
        match port {
            Some(b) => format!("https://{}:{}", b.host_ip, b.host_port),
            None => return Err(KindError::new("failed to get api server port")),
        }
    };
    Ok(kubeconfig::kind_config(name, &server, &c.inspect.id))
}

/// What the daemon says to a `docker exec` into a stopped node. The real engine's own words in
/// the real-Docker backend (Docker 20.10 says `Container <id> is not running`), else docker 28's.
pub fn not_running(ctx: &Ctx, c: &Container) -> String {
    if let Backend::Real(real) = Backend::of(ctx)
        && let Err(e) = real.run(&[
            "exec".to_string(),
            c.name().to_string(),
            "cat".to_string(),
            "/kind/version".to_string(),
        ])
        && e.output.contains("is not running")
    {
        return e.output;
    }
    format!("Error response from daemon: container {} is not running", c.inspect.id)
}

fn export(ctx: &Ctx, name: &str, explicit: Option<&str>, internal: bool) -> Result<(), KindError> {
    let cfg = cluster_kubeconfig(ctx, name, internal)?;
    let path = kubeconfig::kind_merge_path(explicit);
    kubeconfig::write_merged(&path, &cfg).map_err(KindError::new)
}

fn export_kubeconfig(ctx: &Ctx, rest: &[String]) -> Result<i32, KindError> {
    let spec = [val(&["--name", "-n"]), val(&["--kubeconfig"]), boolean(&["--internal"])];
    let Ok(p) = args::parse(rest, &spec) else { return Ok(ctx.unexpected()) };
    if !p.pos.is_empty() || p.rest.is_some() {
        return Ok(ctx.unexpected());
    }
    let name = cluster_name(&p, "kind");
    export(ctx, &name, p.get("--kubeconfig").filter(|s| !s.is_empty()), p.has("--internal"))?;
    errln!("Set kubectl context to \"kind-{name}\"");
    Ok(0)
}

fn get_clusters(ctx: &Ctx) -> Result<i32, KindError> {
    let names: Vec<String> = if let Backend::Real(real) = Backend::of(ctx) {
        real.list_clusters().map_err(|e| real_error("failed to list clusters", e))?
    } else {
        if ctx.daemon() != Daemon::Up {
            return Err(docker_cmd_error("failed to list clusters", LIST_CLUSTERS_CMD));
        }
        let cs = {
            let _l = ctx.lock();
            Containers::load(&ctx.state)
        };
        let mut names: Vec<String> =
            cs.containers.values().filter_map(Container::cluster).map(str::to_string).collect();
        names.sort_unstable();
        names.dedup();
        names
    };
    if names.is_empty() {
        errln!("No kind clusters found.");
    }
    for n in names {
        outln!("{n}");
    }
    Ok(0)
}

fn get_nodes(ctx: &Ctx, rest: &[String]) -> Result<i32, KindError> {
    let Ok(p) = args::parse(rest, &[val(&["--name", "-n"]), boolean(&["--all-clusters", "-A"])])
    else {
        return Ok(ctx.unexpected());
    };
    if !p.pos.is_empty() || p.rest.is_some() {
        return Ok(ctx.unexpected());
    }
    let name = cluster_name(&p, "kind");
    let nodes: Vec<String> = if p.has("--all-clusters") {
        if let Backend::Real(real) = Backend::of(ctx) {
            real.list_all_nodes().map_err(|e| real_error("failed to list clusters", e))?
        } else {
            if ctx.daemon() != Daemon::Up {
                return Err(docker_cmd_error("failed to list clusters", LIST_CLUSTERS_CMD));
            }
            let cs = {
                let _l = ctx.lock();
                Containers::load(&ctx.state)
            };
            cs.containers
                .values()
                .filter(|c| c.cluster().is_some())
                .map(|c| c.name().to_string())
                .collect()
        }
    } else {
        list_nodes(ctx, &name)?
    };
    if nodes.is_empty() {
        if p.has("--all-clusters") {
            errln!("No kind nodes for any cluster.");
        } else {
            errln!("No kind nodes found for cluster \"{name}\".");
        }
    }
    for n in nodes {
        outln!("{n}");
    }
    Ok(0)
}

fn get_kubeconfig(ctx: &Ctx, rest: &[String]) -> Result<i32, KindError> {
    let Ok(p) = args::parse(rest, &[val(&["--name", "-n"]), boolean(&["--internal"])]) else {
        return Ok(ctx.unexpected());
    };
    if !p.pos.is_empty() || p.rest.is_some() {
        return Ok(ctx.unexpected());
    }
    let name = cluster_name(&p, "kind");
    let cfg = cluster_kubeconfig(ctx, &name, p.has("--internal"))?;
    // fmt.Fprintln of a string that already ends in "\n": one blank line at the end
    outln!("{}", kubeconfig::encode(&cfg));
    Ok(0)
}

fn load_image(ctx: &Ctx, rest: &[String]) -> Result<i32, KindError> {
    let Ok(p) = args::parse(rest, &[val(&["--name", "-n"]), val(&["--nodes"])]) else {
        return Ok(ctx.unexpected());
    };
    if p.pos.is_empty() || p.rest.is_some() {
        return Ok(ctx.unexpected());
    }
    let name = cluster_name(&p, "kind");
    if ctx.daemon() != Daemon::Up {
        return Err(KindError::new(format!("image: \"{}\" not present locally", p.pos[0])));
    }
    let nodes = list_nodes(ctx, &name)?;
    if nodes.is_empty() {
        return Err(KindError::new(format!("no nodes found for cluster \"{name}\"")));
    }
    for img in &p.pos {
        errln!(
            "Image: \"{img}\" with ID \"sha256:{}\" not yet present on node \"{}\", loading...",
            crate::common::random_hex(32),
            nodes[0]
        );
    }
    Ok(0)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn config_strict() {
        let ok = "kind: Cluster\napiVersion: kind.x-k8s.io/v1alpha4\nnodes:\n- role: control-plane\n  extraPortMappings:\n  - containerPort: 30000\n    hostPort: 30000\n    listenAddress: 127.0.0.1\n";
        let c = parse_config(ok).unwrap();
        assert_eq!(c.port_mappings.len(), 1);
        assert_eq!(c.port_mappings[0].listen_address, "127.0.0.1");
        let bad = "kind: Cluster\napiVersion: kind.x-k8s.io/v1alpha4\nfoo: 1\n";
        assert!(
            parse_config(bad)
                .err()
                .unwrap()
                .msg
                .contains("line 3: field foo not found in type v1alpha4.Cluster")
        );
        assert!(
            parse_config("kind: Cluster\napiVersion: v1\n")
                .err()
                .unwrap()
                .msg
                .contains("unknown apiVersion: v1")
        );
    }
}
