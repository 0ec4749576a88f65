//! Fake `kubectl` v1.32.2. See README.md next to this file for every call.
//!
//! Structure, so more verbs/resources can be added later:
//! - [`parse`] splits global flags (anywhere on the line) from the verb and its flags;
//! - [`connect`] resolves the kubeconfig/context to a fake cluster (the kind node container
//!   publishing the server's port) or to the exact client error;
//! - [`RESOURCES`] is the table of resource types; objects are stored per cluster in
//!   [`ClusterStore`] (cluster-scoped by resource, namespaced per namespace) except `nodes`, which
//!   are synthesised from the node container.

use serde_json::{Value, json};

use crate::args::{self, boolean, val};
use crate::common::{Ctx, pretty4};
use crate::kubeconfig::{self, ResolveError};
use crate::proxy::{Probe, connect_or_report};
use crate::state::{ClusterStore, Container, Containers};
use crate::timefmt;

/// A resource type kubectl knows.
pub struct Resource {
    /// plural first, then singular and short names
    pub names: &'static [&'static str],
    pub kind: &'static str,
    /// `apps/v1`, `v1`: `apply` matches objects by kind and apiVersion
    pub api_version: &'static str,
    pub namespaced: bool,
    /// how errors name it: `namespaces`, `deployments.apps`
    pub err_name: &'static str,
}

pub const RESOURCES: &[Resource] = &[
    Resource {
        names: &["nodes", "node", "no"],
        kind: "Node",
        api_version: "v1",
        namespaced: false,
        err_name: "nodes",
    },
    Resource {
        names: &["namespaces", "namespace", "ns"],
        kind: "Namespace",
        api_version: "v1",
        namespaced: false,
        err_name: "namespaces",
    },
    Resource {
        names: &["pods", "pod", "po"],
        kind: "Pod",
        api_version: "v1",
        namespaced: true,
        err_name: "pods",
    },
    Resource {
        names: &["services", "service", "svc"],
        kind: "Service",
        api_version: "v1",
        namespaced: true,
        err_name: "services",
    },
    Resource {
        names: &["persistentvolumeclaims", "persistentvolumeclaim", "pvc"],
        kind: "PersistentVolumeClaim",
        api_version: "v1",
        namespaced: true,
        err_name: "persistentvolumeclaims",
    },
    Resource {
        names: &["deployments", "deployment", "deploy", "deployments.apps", "deployment.apps"],
        kind: "Deployment",
        api_version: "apps/v1",
        namespaced: true,
        err_name: "deployments.apps",
    },
    Resource {
        names: &["statefulsets", "statefulset", "sts", "statefulsets.apps", "statefulset.apps"],
        kind: "StatefulSet",
        api_version: "apps/v1",
        namespaced: true,
        err_name: "statefulsets.apps",
    },
    Resource {
        names: &["configmaps", "configmap", "cm"],
        kind: "ConfigMap",
        api_version: "v1",
        namespaced: true,
        err_name: "configmaps",
    },
    Resource {
        names: &["replicasets", "replicaset", "rs", "replicasets.apps", "replicaset.apps"],
        kind: "ReplicaSet",
        api_version: "apps/v1",
        namespaced: true,
        err_name: "replicasets.apps",
    },
];

pub fn resource(name: &str) -> Option<&'static Resource> {
    RESOURCES.iter().find(|r| r.names.contains(&name))
}

const GLOBAL: &[&str] = &["--kubeconfig", "--context", "--namespace", "--request-timeout"];

fn spec() -> Vec<args::Flag> {
    vec![
        val(&["--kubeconfig"]),
        val(&["--context"]),
        val(&["--namespace", "-n"]),
        val(&["--request-timeout"]),
        val(&["--output", "-o"]),
        val(&["--raw"]),
        boolean(&["--client"]),
        boolean(&["--all-namespaces", "-A"]),
        val(&["--selector", "-l"]),
        // exec
        boolean(&["--stdin", "-i"]),
        boolean(&["--tty", "-t"]),
        boolean(&["--quiet", "-q"]),
        val(&["--container", "-c"]),
        // logs
        boolean(&["--follow", "-f"]),
        val(&["--tail"]),
        val(&["--since"]),
        boolean(&["--all-containers"]),
        boolean(&["--prefix"]),
        boolean(&["--timestamps"]),
        // rollout status, wait
        val(&["--timeout"]),
        val(&["--for"]),
        boolean(&["--all"]),
        boolean(&["--watch", "-w"]),
        // delete
        boolean(&["--wait"]),
        boolean(&["--ignore-not-found"]),
    ]
}

/// `apply`'s flags: there `-f` is `--filename` (for `logs` it is `--follow`).
fn apply_spec() -> Vec<args::Flag> {
    vec![
        val(&["--kubeconfig"]),
        val(&["--context"]),
        val(&["--namespace", "-n"]),
        val(&["--request-timeout"]),
        val(&["--filename", "-f"]),
        boolean(&["--server-side"]),
        val(&["--field-manager"]),
        boolean(&["--force-conflicts"]),
    ]
}

pub fn main(ctx: &Ctx) -> i32 {
    // `apply` parses with its own flags (`-f` is `--filename` there).
    let applying = args::parse(&ctx.args, &apply_spec())
        .ok()
        .filter(|a| a.pos.first().is_some_and(|v| v == "apply"));
    let p = match applying {
        Some(a) => a,
        None => match args::parse(&ctx.args, &spec()) {
            Ok(p) if p.pos.first().is_none_or(|v| v != "apply") => p,
            _ => return ctx.unexpected(),
        },
    };
    let verb = p.pos.first().map(String::as_str).unwrap_or("");
    if p.rest.is_some() && verb != "exec" {
        return ctx.unexpected();
    }
    let allowed: &[&str] = match verb {
        "version" => &["--client", "--output"],
        "get" => &["--raw", "--output", "--all-namespaces", "--selector"],
        "create" => &[],
        "exec" => &["--stdin", "--tty", "--quiet", "--container"],
        "logs" => &[
            "--container",
            "--follow",
            "--tail",
            "--since",
            "--all-containers",
            "--prefix",
            "--timestamps",
        ],
        "rollout" => match p.pos.get(1).map(String::as_str) {
            Some("status") => &["--timeout", "--watch"],
            _ => &[],
        },
        "wait" => &["--for", "--all", "--timeout"],
        "describe" => &[],
        "apply" => &["--filename", "--server-side", "--field-manager", "--force-conflicts"],
        "delete" => &["--selector", "--wait", "--ignore-not-found"],
        _ => return ctx.unexpected(),
    };
    if p.flags.iter().any(|(f, _)| !GLOBAL.contains(f) && !allowed.contains(f)) {
        return ctx.unexpected();
    }
    match verb {
        "version" => version(ctx, &p),
        "get" => get(ctx, &p),
        "create" => create(ctx, &p),
        "exec" => crate::workloads::exec(ctx, &p),
        "logs" => crate::workloads::logs(ctx, &p),
        "rollout" => crate::workloads::rollout(ctx, &p),
        "wait" => wait(ctx, &p),
        "describe" => crate::describe::describe(ctx, &p),
        "apply" => crate::apply::apply(ctx, &p),
        "delete" => crate::apply::delete(ctx, &p),
        _ => ctx.unexpected(),
    }
}

fn version(ctx: &Ctx, p: &args::Parsed) -> i32 {
    if p.pos.len() != 1 || p.get("--output") != Some("json") {
        return ctx.unexpected();
    }
    let client = ctx.knob("kubectl_version");
    let Some(client_minor) = client.split('.').nth(1).map(str::to_string) else {
        return ctx.unexpected();
    };
    // kubectl's version command indents with two spaces (json.MarshalIndent(v, "", "  ")).
    let client_json = format!(
        r#"  "clientVersion": {{
    "major": "1",
    "minor": "{client_minor}",
    "gitVersion": "{client}",
    "gitCommit": "67a30c0adcf52bd3f56ff0893ce19966be12991f",
    "gitTreeState": "clean",
    "buildDate": "2025-02-12T21:26:09Z",
    "goVersion": "go1.23.6",
    "compiler": "gc",
    "platform": "linux/amd64"
  }},
  "kustomizeVersion": "v5.5.0""#
    );
    if p.has("--client") {
        outln!("{{\n{client_json}\n}}");
        return 0;
    }
    // Without --client it also asks the server (GET /version). When that fails the client part
    // is still printed on stdout, then the connection error, exit 1.
    let conn = match connect_or_report(ctx, p, Probe::Request, |e| {
        // a context that does not exist fails before anything is printed
        if !matches!(e, ConnError::NoContext(_) | ConnError::Config(_)) {
            outln!("{{\n{client_json}\n}}");
        }
    }) {
        Ok(c) => c,
        Err(code) => return code,
    };
    let server = conn.container.kube_version();
    let server_minor = server.split('.').nth(1).unwrap_or("36").to_string();
    outln!(
        r#"{{
{client_json},
  "serverVersion": {{
    "major": "1",
    "minor": "{server_minor}",
    "gitVersion": "{server}",
    "gitCommit": "5f3e0a1b2c4d6e8f0a1b2c3d4e5f6a7b8c9d0e1f",
    "gitTreeState": "clean",
    "buildDate": "2026-07-15T10:00:00Z",
    "goVersion": "go1.25.3",
    "compiler": "gc",
    "platform": "linux/amd64"
  }}
}}"#
    );
    // kubectl ≤ 1.32 prints the skew warning (on stderr) after the document.
    let (c, s): (i64, i64) = (client_minor.parse().unwrap_or(0), server_minor.parse().unwrap_or(0));
    if (c - s).abs() > 1 {
        errln!(
            "WARNING: version difference between client (1.{c}) and server (1.{s}) exceeds the supported minor version skew of +/-1"
        );
    }
    0
}

// ---------------------------------------------------------------------------------------------
// Connecting.

/// Why no request reached a (ready) API server.
pub enum ConnError {
    /// Printed as-is before any request (`error: stat …`, `Error in configuration: …`).
    Config(String),
    /// `--context` (or current-context) names a context no loaded kubeconfig has.
    NoContext(String),
    /// Connection refused on `host` (URL.Host); `url` is the server base URL.
    Refused { host: String, url: String },
    /// TLS verification failed (kubeconfig CA from another incarnation of the cluster).
    X509 { url: String },
    /// The port is published (docker-proxy accepts) but nothing serves behind it yet (knob
    /// `api_proxy_ms`): every connection ends in `EOF` or a reset. `host` is `127.0.0.1:PORT`.
    NotServing { host: String, url: String },
}

/// A reachable fake cluster.
pub struct Conn {
    pub container: Container,
    pub store: ClusterStore,
    pub namespace: String,
}

pub fn connect(ctx: &Ctx, p: &args::Parsed) -> Result<Conn, ConnError> {
    let cfg = kubeconfig::client_load(p.get("--kubeconfig")).map_err(|e| match e {
        ResolveError::Missing(m) => ConnError::Config(format!("error: {m}")),
        ResolveError::Invalid(m) => ConnError::Config(format!("error: {m}")),
        ResolveError::NoConfig | ResolveError::NoContext(_) => unreachable!(),
    })?;
    let resolved = match kubeconfig::resolve(&cfg, p.get("--context")) {
        Ok(r) => r,
        Err(ResolveError::NoConfig) => {
            return Err(ConnError::Refused {
                host: "localhost:8080".into(),
                url: "http://localhost:8080".into(),
            });
        }
        Err(ResolveError::Invalid(m) | ResolveError::Missing(m)) => {
            return Err(ConnError::Config(format!("Error in configuration: {m}")));
        }
        Err(ResolveError::NoContext(name)) => return Err(ConnError::NoContext(name)),
    };
    let namespace = p
        .get("--namespace")
        .map(str::to_string)
        .or(resolved.namespace.clone())
        .unwrap_or_else(|| "default".into());
    let (host, port) = kubeconfig::host_port(&resolved.server);
    let url = resolved.server.trim_end_matches('/').to_string();
    let refused = || ConnError::Refused { host: format!("{host}:{port}"), url: url.clone() };
    if !matches!(host.as_str(), "127.0.0.1" | "localhost" | "0.0.0.0" | "::1") {
        return Err(refused());
    }
    // the fake state, or a snapshot of the real engine (backend.rs; no lock needed for it)
    let cs: Containers = crate::backend::containers(ctx);
    let _l = ctx.lock();
    let c = cs
        .containers
        .values()
        .find(|c| {
            c.inspect.state.running
                && c.inspect
                    .network_settings
                    .ports
                    .get("6443/tcp")
                    .and_then(|b| b.first())
                    .map(|b| b.host_port.as_str())
                    == Some(port.to_string().as_str())
        })
        .ok_or_else(refused)?;
    // A node of the real kind (the real-kind tier): provisioned when kubeadm init ran in it.
    let mut c = c.clone();
    crate::backend::provision_real_kind_node(&ctx.state, &mut c);
    let c = &c;
    let started = c.meta.started_ms;
    let now = timefmt::now_ms();
    if now < started.saturating_add(ctx.knob_u64("ready_delay_ms")) {
        return Err(refused());
    }
    if let Some(window) = crate::proxy::window(ctx)
        && (!c.meta.provisioned || window.is_none_or(|ms| now < started.saturating_add(ms)))
    {
        // docker-proxy publishes the port of a running node whatever runs inside it
        return Err(ConnError::NotServing { host: format!("{host}:{port}"), url });
    }
    if !c.api_up(0) {
        return Err(refused());
    }
    if let Some(ca_id) = resolved.ca_data.as_deref().and_then(kubeconfig::ca_container_id)
        && ca_id != c.inspect.id
    {
        return Err(ConnError::X509 { url });
    }
    Ok(Conn {
        container: c.clone(),
        store: ClusterStore::for_container(&ctx.state, &c.inspect.id),
        namespace,
    })
}

/// The server URL and the Go error of a failed connection (`None` for configuration errors,
/// which fail before any request).
pub fn conn_cause(e: &ConnError) -> Option<(String, String)> {
    match e {
        ConnError::Config(_) | ConnError::NoContext(_) => None,
        ConnError::Refused { host, url } => {
            let dial = if host.starts_with("localhost:") {
                host.replacen("localhost", "[::1]", 1)
            } else {
                host.clone()
            };
            Some((url.clone(), format!("dial tcp {dial}: connect: connection refused")))
        }
        ConnError::X509 { url } => Some((
            url.clone(),
            "tls: failed to verify certificate: x509: certificate signed by unknown authority"
                .to_string(),
        )),
        ConnError::NotServing { url, .. } => Some((url.clone(), "EOF".to_string())),
    }
}

/// Print a connection error. `discovery`: the command first fetches the API group list, which
/// How many klog `memcache.go` lines kubectl 1.32 logs when API discovery fails, for a command
/// whose first resource argument is `arg`: 4, plus one per type of a bare type list
/// (`pods` 5, `nodes,namespaces` 6; `deployment/x` 4). `--raw`, `version` and
/// `create namespace` use no discovery: 0. Checked against the real kubectl by
/// tests/it/contract.rs.
pub fn discovery_lines(arg: Option<&str>) -> usize {
    match arg {
        Some(a) if !a.contains('/') => 4 + a.split(',').filter(|t| !t.is_empty()).count(),
        _ => 4,
    }
}

/// Report a failed connection the way kubectl does. `discovery` is the number of
/// [`discovery_lines`] (0: a command without API discovery).
pub fn report(e: &ConnError, discovery: usize, p: &args::Parsed) -> i32 {
    let timeout = p.get("--request-timeout").filter(|t| *t != "0").unwrap_or("32s");
    let (url, cause, last) = match e {
        ConnError::Config(m) => {
            errln!("{m}");
            return 1;
        }
        // Resource-builder commands read the namespace from the kubeconfig when `-n` is not
        // given, and that is where kubectl 1.32 notices the missing context first.
        ConnError::NoContext(name) if discovery > 0 && p.get("--namespace").is_none() => {
            errln!("Error in configuration: context was not found for specified context: {name}");
            return 1;
        }
        ConnError::NoContext(name) => {
            errln!("error: context \"{name}\" does not exist");
            return 1;
        }
        ConnError::Refused { host, url } => {
            let dial = if host.starts_with("localhost:") { host.replacen("localhost", "[::1]", 1) } else { host.clone() };
            (
                url.clone(),
                format!("dial tcp {dial}: connect: connection refused"),
                format!("The connection to the server {host} was refused - did you specify the right host or port?"),
            )
        }
        ConnError::X509 { url } => (
            url.clone(),
            "tls: failed to verify certificate: x509: certificate signed by unknown authority".to_string(),
            "Unable to connect to the server: tls: failed to verify certificate: x509: certificate signed by unknown authority"
                .to_string(),
        ),
        ConnError::NotServing { url, .. } => {
            (url.clone(), "EOF".to_string(), "Unable to connect to the server: EOF".to_string())
        }
    };
    for _ in 0..discovery {
        klog_discovery_error(&format!("Get \\\"{url}/api?timeout={timeout}\\\": {cause}"));
    }
    errln!("{last}");
    1
}

/// One klog line of a failed API discovery, as kubectl 1.32 prints it:
/// `E1201 10:00:00.123456   12345 memcache.go:265] "Unhandled Error" err="couldn't get current
/// server API group list: <err>"` (`err` already escaped for the quoted form).
pub fn klog_discovery_error(err: &str) {
    let pid = std::process::id();
    let t = timefmt::rfc3339_nano(timefmt::now_ns() / 1000 * 1000 + 1); // …T10:00:00.123456001Z
    let (date, time) = t.split_once('T').unwrap_or_default();
    let mmdd = format!("{}{}", &date[5..7], &date[8..10]);
    errln!(
        "E{mmdd} {} {pid:>7} memcache.go:265] \"Unhandled Error\" err=\"couldn't get current server API group list: {err}\"",
        &time[..15]
    );
}

// ---------------------------------------------------------------------------------------------
// get

/// The node's `capacity`/`allocatable`: kind nodes see the host's CPUs and memory.
pub struct Capacity {
    pub cpu: u64,
    pub mem_bytes: u64,
}

fn node_object(c: &Container, ready_delay_ms: u64, cap: &Capacity) -> Value {
    let name = c.name();
    let created = timefmt::rfc3339_secs(c.meta.created_ms);
    let started = timefmt::rfc3339_secs(c.meta.started_ms);
    let now = timefmt::rfc3339_secs(timefmt::now_ms());
    let ready = timefmt::now_ms() >= c.meta.started_ms.saturating_add(ready_delay_ms);
    let id = &c.inspect.id;
    let uid =
        format!("{}-{}-{}-{}-{}", &id[0..8], &id[8..12], &id[12..16], &id[16..20], &id[20..32]);
    let cond = |t: &str, reason: &str, msg: &str| {
        json!({"lastHeartbeatTime": now, "lastTransitionTime": started, "message": msg, "reason": reason,
               "status": "False", "type": t})
    };
    let ready_cond = if ready {
        json!({"lastHeartbeatTime": now, "lastTransitionTime": started, "message": "kubelet is posting ready status",
               "reason": "KubeletReady", "status": "True", "type": "Ready"})
    } else {
        json!({"lastHeartbeatTime": now, "lastTransitionTime": started,
               "message": "container runtime network not ready: NetworkReady=false reason:NetworkPluginNotReady message:Network plugin returns error: cni plugin not initialized",
               "reason": "KubeletNotReady", "status": "False", "type": "Ready"})
    };
    let cluster = c.cluster().unwrap_or_default();
    json!({
        "apiVersion": "v1",
        "kind": "Node",
        "metadata": {
            "annotations": {
                "kubeadm.alpha.kubernetes.io/cri-socket": "unix:///run/containerd/containerd.sock",
                "node.alpha.kubernetes.io/ttl": "0",
                "volumes.kubernetes.io/controller-managed-attach-detach": "true"
            },
            "creationTimestamp": created,
            "labels": {
                "beta.kubernetes.io/arch": "amd64",
                "beta.kubernetes.io/os": "linux",
                "kubernetes.io/arch": "amd64",
                "kubernetes.io/hostname": name,
                "kubernetes.io/os": "linux",
                "node-role.kubernetes.io/control-plane": "",
                "node.kubernetes.io/exclude-from-external-load-balancers": ""
            },
            "name": name,
            "resourceVersion": (c.meta.started_ms / 1000 % 100_000).to_string(),
            "uid": uid
        },
        "spec": {
            "podCIDR": "10.244.0.0/24",
            "podCIDRs": ["10.244.0.0/24"],
            "providerID": format!("kind://docker/{cluster}/{name}")
        },
        "status": {
            "addresses": [{"address": c.meta.ip, "type": "InternalIP"}, {"address": name, "type": "Hostname"}],
            "allocatable": {"cpu": cap.cpu.to_string(), "ephemeral-storage": "81106868Ki", "hugepages-2Mi": "0", "memory": format!("{}Ki", cap.mem_bytes / 1024), "pods": "110"},
            "capacity": {"cpu": cap.cpu.to_string(), "ephemeral-storage": "81106868Ki", "hugepages-2Mi": "0", "memory": format!("{}Ki", cap.mem_bytes / 1024), "pods": "110"},
            "conditions": [
                cond("MemoryPressure", "KubeletHasSufficientMemory", "kubelet has sufficient memory available"),
                cond("DiskPressure", "KubeletHasNoDiskPressure", "kubelet has no disk pressure"),
                cond("PIDPressure", "KubeletHasSufficientPID", "kubelet has sufficient PID available"),
                ready_cond
            ],
            "daemonEndpoints": {"kubeletEndpoint": {"Port": 10250}},
            "images": [],
            "nodeInfo": {
                "architecture": "amd64",
                "bootID": "0d6f3a1e-7b3c-4f55-9a34-1c2d3e4f5a6b",
                "containerRuntimeVersion": "containerd://2.1.4",
                "kernelVersion": "6.8.0-60-generic",
                "kubeProxyVersion": "",
                "kubeletVersion": c.kube_version(),
                "machineID": &id[..32],
                "operatingSystem": "linux",
                "osImage": "Debian GNU/Linux 12 (bookworm)",
                "systemUUID": uid
            }
        }
    })
}

/// Label selectors as kubectl takes them: `k=v`, `k==v`, `k!=v`, `k in (a,b)`,
/// `k notin (a,b)`, `k`, `!k`, joined by commas. `None`: a selector this fake cannot parse.
pub fn selector_matches(sel: Option<&str>, obj: &Value) -> Option<bool> {
    let Some(sel) = sel else { return Some(true) };
    let labels = &obj["metadata"]["labels"];
    // Split on the commas outside `( … )`.
    let mut terms = Vec::new();
    let (mut depth, mut start) = (0i32, 0);
    for (i, c) in sel.char_indices() {
        match c {
            '(' => depth += 1,
            ')' => depth -= 1,
            ',' if depth == 0 => {
                terms.push(&sel[start..i]);
                start = i + 1;
            }
            _ => {}
        }
    }
    terms.push(&sel[start..]);
    for term in terms.iter().map(|t| t.trim()).filter(|t| !t.is_empty()) {
        let set = |rest: &str| -> Option<Vec<String>> {
            let inner = rest.trim().strip_prefix('(')?.strip_suffix(')')?;
            Some(inner.split(',').map(|v| v.trim().to_string()).collect())
        };
        let ok = if let Some((k, rest)) = term.split_once(" notin ") {
            let values = set(rest)?;
            labels[k.trim()].as_str().is_none_or(|v| !values.iter().any(|x| x == v))
        } else if let Some((k, rest)) = term.split_once(" in ") {
            let values = set(rest)?;
            labels[k.trim()].as_str().is_some_and(|v| values.iter().any(|x| x == v))
        } else if let Some((k, v)) = term.split_once("!=") {
            labels[k.trim()].as_str() != Some(v.trim())
        } else if let Some((k, v)) = term.split_once("==").or_else(|| term.split_once('=')) {
            labels[k.trim()].as_str() == Some(v.trim())
        } else if let Some(k) = term.strip_prefix('!') {
            labels[k.trim()].is_null()
        } else if term.contains(['(', ')', ' ']) {
            return None;
        } else {
            !labels[term].is_null()
        };
        if !ok {
            return Some(false);
        }
    }
    Some(true)
}

/// All objects of `r` visible with the given namespace scope (None = all namespaces).
fn list(
    conn: &Conn,
    r: &Resource,
    ns: Option<&str>,
    ready_delay_ms: u64,
    cap: &Capacity,
) -> Vec<Value> {
    match (r.kind, r.namespaced) {
        ("Node", _) => vec![node_object(&conn.container, ready_delay_ms, cap)],
        (_, false) => conn.store.list_cluster_scoped(r.names[0]).into_values().collect(),
        (_, true) => {
            let namespaces = match ns {
                Some(n) => vec![n.to_string()],
                None => conn.store.namespaces(),
            };
            namespaces
                .iter()
                .flat_map(|n| conn.store.list_namespaced(n, r.names[0]).into_values())
                .collect()
        }
    }
}

/// `wait --for=condition=Ready node[s] --all|NAME [--timeout D]`: `node/N condition met` once the
/// node is Ready (exit 0); at the timeout (default 30s) `error: timed out waiting for the
/// condition on nodes/N` (exit 1). Only nodes and the Ready condition are modelled.
fn wait(ctx: &Ctx, p: &args::Parsed) -> i32 {
    let is_node = p.pos.get(1).is_some_and(|t| matches!(t.as_str(), "node" | "nodes" | "no"));
    if p.get("--for") != Some("condition=Ready")
        || !is_node
        || (p.has("--all") == (p.pos.len() > 2))
    {
        return ctx.unexpected();
    }
    let timeout_ms = match p.get("--timeout") {
        None => 30_000,
        Some(t) => match timefmt::parse_go_duration(t) {
            Some(ms) => ms,
            None => return ctx.unexpected(),
        },
    };
    let probe = Probe::Discovery(discovery_lines(p.pos.get(1).map(String::as_str)));
    let conn = match connect_or_report(ctx, p, probe, |_| {}) {
        Ok(c) => c,
        Err(code) => return code,
    };
    let name = conn.container.name();
    if p.pos.len() > 2 && p.pos[2] != name {
        errln!("Error from server (NotFound): nodes \"{}\" not found", p.pos[2]);
        return 1;
    }
    let ready_at =
        conn.container.meta.started_ms.saturating_add(ctx.knob_u64("node_ready_delay_ms"));
    let end = timefmt::now_ms().saturating_add(timeout_ms);
    loop {
        let now = timefmt::now_ms();
        if now >= ready_at {
            outln!("node/{name} condition met");
            return 0;
        }
        if now >= end {
            errln!("error: timed out waiting for the condition on nodes/{name}");
            return 1;
        }
        std::thread::sleep(std::time::Duration::from_millis(50));
    }
}

fn get(ctx: &Ctx, p: &args::Parsed) -> i32 {
    if let Some(path) = p.get("--raw") {
        if p.pos.len() != 1 || p.flags.iter().any(|(f, _)| !GLOBAL.contains(f) && *f != "--raw") {
            return ctx.unexpected();
        }
        return raw(ctx, p, path);
    }
    let output = p.get("--output");
    if output.is_none()
        && matches!(p.pos.get(1).map(String::as_str), Some("events" | "event" | "ev"))
    {
        return crate::describe::get_events(ctx, p);
    }
    if !matches!(output, Some("json" | "name")) || p.pos.len() < 2 {
        return ctx.unexpected();
    }
    // `get TYPE[,TYPE] [NAME…]` or `get TYPE/NAME…`
    let mut wanted: Vec<(&'static Resource, Option<String>)> = Vec::new();
    if p.pos[1].contains('/') {
        for a in &p.pos[1..] {
            let Some((t, n)) = a.split_once('/') else { return ctx.unexpected() };
            let Some(r) = resource(t) else { return ctx.unexpected() };
            wanted.push((r, Some(n.to_string())));
        }
    } else {
        let mut types = Vec::new();
        for t in p.pos[1].split(',') {
            let Some(r) = resource(t) else { return ctx.unexpected() };
            types.push(r);
        }
        for r in types {
            if p.pos.len() == 2 {
                wanted.push((r, None));
            } else {
                for n in &p.pos[2..] {
                    wanted.push((r, Some(n.clone())));
                }
            }
        }
    }
    let probe = Probe::Discovery(discovery_lines(p.pos.get(1).map(String::as_str)));
    let conn = match connect_or_report(ctx, p, probe, |_| {}) {
        Ok(c) => c,
        Err(code) => return code,
    };
    let delay = ctx.knob_u64("node_ready_delay_ms");
    let cap = Capacity { cpu: ctx.knob_u64("ncpu"), mem_bytes: ctx.knob_u64("mem_total") };
    let all_ns = p.has("--all-namespaces");
    let ns_scope = if all_ns { None } else { Some(conn.namespace.as_str()) };
    let _l = ctx.lock();
    // Pods that became ready meanwhile (workloads created by `apply`).
    let node = crate::workloads::Node::of(&conn.container);
    let scope = match ns_scope {
        Some(n) => vec![n.to_string()],
        None => conn.store.namespaces(),
    };
    for n in &scope {
        crate::workloads::settle(&conn.store, n, &node);
    }
    let mut items: Vec<Value> = Vec::new();
    let mut errors: Vec<String> = Vec::new();
    let single = wanted.len() == 1 && wanted[0].1.is_some();
    for (r, name) in &wanted {
        let objs = list(&conn, r, ns_scope, delay, &cap);
        match name {
            None => {
                for o in objs {
                    match selector_matches(p.get("--selector"), &o) {
                        Some(true) => items.push(o),
                        Some(false) => {}
                        None => return ctx.unexpected(),
                    }
                }
            }
            Some(n) => match objs.into_iter().find(|o| o["metadata"]["name"].as_str() == Some(n)) {
                Some(o) => items.push(o),
                None => errors.push(format!(
                    "Error from server (NotFound): {} \"{n}\" not found",
                    r.err_name
                )),
            },
        }
    }
    if output == Some("name") {
        for o in &items {
            let kind = o["kind"].as_str().unwrap_or_default().to_ascii_lowercase();
            let group = o["apiVersion"]
                .as_str()
                .and_then(|a| a.split_once('/'))
                .map(|(g, _)| format!(".{g}"))
                .unwrap_or_default();
            outln!("{kind}{group}/{}", o["metadata"]["name"].as_str().unwrap_or_default());
        }
    } else if single {
        if let Some(o) = items.first() {
            outln!("{}", pretty4(o));
        }
    } else if !items.is_empty() || errors.is_empty() {
        let list = json!({"apiVersion": "v1", "items": items, "kind": "List", "metadata": {"resourceVersion": ""}});
        outln!("{}", pretty4(&list));
    }
    if errors.is_empty() {
        0
    } else {
        for e in errors {
            errln!("{e}");
        }
        1
    }
}

fn raw(ctx: &Ctx, p: &args::Parsed, path: &str) -> i32 {
    let conn = match connect_or_report(ctx, p, Probe::Request, |_| {}) {
        Ok(c) => c,
        Err(code) => return code,
    };
    match path {
        "/readyz" | "/livez" | "/healthz" => {
            out!("ok");
            0
        }
        "/version" => {
            let v = conn.container.kube_version();
            let minor = v.split('.').nth(1).unwrap_or("36").to_string();
            out!(
                "{{\n  \"major\": \"1\",\n  \"minor\": \"{minor}\",\n  \"gitVersion\": \"{v}\",\n  \"gitCommit\": \"5f3e0a1b2c4d6e8f0a1b2c3d4e5f6a7b8c9d0e1f\",\n  \"gitTreeState\": \"clean\",\n  \"buildDate\": \"2026-07-15T10:00:00Z\",\n  \"goVersion\": \"go1.25.3\",\n  \"compiler\": \"gc\",\n  \"platform\": \"linux/amd64\"\n}}"
            );
            0
        }
        _ => ctx.unexpected(),
    }
}

// ---------------------------------------------------------------------------------------------
// create

fn dns1123_label(s: &str) -> bool {
    !s.is_empty()
        && s.len() <= 63
        && s.chars().all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-')
        && !s.starts_with('-')
        && !s.ends_with('-')
}

fn create(ctx: &Ctx, p: &args::Parsed) -> i32 {
    let [_, what, name] = p.pos.as_slice() else { return ctx.unexpected() };
    if !matches!(what.as_str(), "namespace" | "ns") {
        return ctx.unexpected();
    }
    let conn = match connect_or_report(ctx, p, Probe::Request, |_| {}) {
        Ok(c) => c,
        Err(code) => return code,
    };
    if !dns1123_label(name) {
        errln!(
            "The Namespace \"{name}\" is invalid: metadata.name: Invalid value: \"{name}\": a lowercase RFC 1123 label must consist of lower case alphanumeric characters or '-', and must start and end with an alphanumeric character (e.g. 'my-name',  or '123-abc', regex used for validation is '[a-z0-9]([-a-z0-9]*[a-z0-9])?')"
        );
        return 1;
    }
    let _l = ctx.lock();
    if conn.store.list_cluster_scoped("namespaces").contains_key(name.as_str()) {
        errln!("Error from server (AlreadyExists): namespaces \"{name}\" already exists");
        return 1;
    }
    let obj = conn.store.namespace_object(name);
    conn.store.put_cluster_scoped("namespaces", name, obj);
    outln!("namespace/{name} created");
    0
}
