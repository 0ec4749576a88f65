//! The shared fake state: docker containers (`containers.json`) and each kind cluster's
//! "in-cluster" objects (`clusters/<container id>/…`). Callers hold the state lock
//! ([`crate::common::Lock`]) around every read-modify-write.

use std::collections::BTreeMap;
use std::fs;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::common::{random_hex, random_uid, read_json, write_json};
use crate::timefmt;

pub const CLUSTER_LABEL: &str = "io.x-k8s.kind.cluster";
pub const ROLE_LABEL: &str = "io.x-k8s.kind.role";
pub const ZERO_TIME: &str = "0001-01-01T00:00:00Z";

// ---------------------------------------------------------------------------------------------
// docker containers. Field order is the daemon's (InspectResponse), so `docker inspect` output
// can be serialised straight from these structs.

#[derive(Serialize, Deserialize, Clone, Debug)]
#[serde(rename_all = "PascalCase")]
pub struct Inspect {
    pub id: String,
    pub created: String,
    pub path: String,
    pub args: Vec<String>,
    pub state: CState,
    pub image: String,
    pub resolv_conf_path: String,
    pub hostname_path: String,
    pub hosts_path: String,
    pub log_path: String,
    pub name: String,
    pub restart_count: u32,
    pub driver: String,
    pub platform: String,
    pub mount_label: String,
    pub process_label: String,
    pub app_armor_profile: String,
    #[serde(rename = "ExecIDs")]
    pub exec_ids: Option<Vec<String>>,
    pub host_config: HostConfig,
    pub mounts: Vec<Mount>,
    pub config: Config,
    pub network_settings: NetworkSettings,
}

#[derive(Serialize, Deserialize, Clone, Debug)]
#[serde(rename_all = "PascalCase")]
pub struct CState {
    pub status: String,
    pub running: bool,
    pub paused: bool,
    pub restarting: bool,
    #[serde(rename = "OOMKilled")]
    pub oom_killed: bool,
    pub dead: bool,
    pub pid: u32,
    pub exit_code: i32,
    pub error: String,
    pub started_at: String,
    pub finished_at: String,
}

#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, Eq)]
#[serde(rename_all = "PascalCase")]
pub struct PortBinding {
    pub host_ip: String,
    pub host_port: String,
}

#[derive(Serialize, Deserialize, Clone, Debug)]
#[serde(rename_all = "PascalCase")]
pub struct RestartPolicy {
    pub name: String,
    pub maximum_retry_count: u32,
}

#[derive(Serialize, Deserialize, Clone, Debug)]
#[serde(rename_all = "PascalCase")]
pub struct HostConfig {
    pub binds: Vec<String>,
    pub network_mode: String,
    pub port_bindings: BTreeMap<String, Vec<PortBinding>>,
    pub restart_policy: RestartPolicy,
    pub auto_remove: bool,
    pub cgroupns_mode: String,
    pub privileged: bool,
    pub security_opt: Vec<String>,
    pub tmpfs: BTreeMap<String, String>,
    pub init: bool,
    /// `--sysctl K=V` (docker leaves the key out when there is none).
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub sysctls: BTreeMap<String, String>,
}

#[derive(Serialize, Deserialize, Clone, Debug)]
#[serde(rename_all = "PascalCase")]
pub struct Mount {
    #[serde(rename = "Type")]
    pub kind: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    pub source: String,
    pub destination: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub driver: Option<String>,
    pub mode: String,
    #[serde(rename = "RW")]
    pub rw: bool,
    pub propagation: String,
}

#[derive(Serialize, Deserialize, Clone, Debug)]
#[serde(rename_all = "PascalCase")]
pub struct Config {
    pub hostname: String,
    pub domainname: String,
    pub user: String,
    pub attach_stdin: bool,
    pub attach_stdout: bool,
    pub attach_stderr: bool,
    pub exposed_ports: BTreeMap<String, Value>,
    pub tty: bool,
    pub open_stdin: bool,
    pub stdin_once: bool,
    pub env: Vec<String>,
    pub cmd: Option<Vec<String>>,
    pub image: String,
    pub volumes: BTreeMap<String, Value>,
    pub working_dir: String,
    pub entrypoint: Vec<String>,
    pub on_build: Option<Vec<String>>,
    pub labels: BTreeMap<String, String>,
    pub stop_signal: String,
}

#[derive(Serialize, Deserialize, Clone, Debug)]
pub struct NetworkSettings {
    #[serde(rename = "Bridge")]
    pub bridge: String,
    #[serde(rename = "SandboxID")]
    pub sandbox_id: String,
    #[serde(rename = "SandboxKey")]
    pub sandbox_key: String,
    #[serde(rename = "Ports")]
    pub ports: BTreeMap<String, Vec<PortBinding>>,
    #[serde(rename = "HairpinMode")]
    pub hairpin_mode: bool,
    #[serde(rename = "LinkLocalIPv6Address")]
    pub link_local_ipv6_address: String,
    #[serde(rename = "LinkLocalIPv6PrefixLen")]
    pub link_local_ipv6_prefix_len: u32,
    #[serde(rename = "SecondaryIPAddresses")]
    pub secondary_ip_addresses: Option<Vec<String>>,
    #[serde(rename = "SecondaryIPv6Addresses")]
    pub secondary_ipv6_addresses: Option<Vec<String>>,
    #[serde(rename = "EndpointID")]
    pub endpoint_id: String,
    #[serde(rename = "Gateway")]
    pub gateway: String,
    #[serde(rename = "GlobalIPv6Address")]
    pub global_ipv6_address: String,
    #[serde(rename = "GlobalIPv6PrefixLen")]
    pub global_ipv6_prefix_len: u32,
    #[serde(rename = "IPAddress")]
    pub ip_address: String,
    #[serde(rename = "IPPrefixLen")]
    pub ip_prefix_len: u32,
    #[serde(rename = "IPv6Gateway")]
    pub ipv6_gateway: String,
    #[serde(rename = "MacAddress")]
    pub mac_address: String,
    #[serde(rename = "Networks")]
    pub networks: BTreeMap<String, Endpoint>,
}

#[derive(Serialize, Deserialize, Clone, Debug)]
pub struct Endpoint {
    #[serde(rename = "IPAMConfig")]
    pub ipam_config: Option<Value>,
    #[serde(rename = "Links")]
    pub links: Option<Vec<String>>,
    #[serde(rename = "Aliases")]
    pub aliases: Option<Vec<String>>,
    #[serde(rename = "MacAddress")]
    pub mac_address: String,
    #[serde(rename = "DriverOpts")]
    pub driver_opts: Option<Value>,
    #[serde(rename = "GwPriority")]
    pub gw_priority: i32,
    #[serde(rename = "NetworkID")]
    pub network_id: String,
    #[serde(rename = "EndpointID")]
    pub endpoint_id: String,
    #[serde(rename = "Gateway")]
    pub gateway: String,
    #[serde(rename = "IPAddress")]
    pub ip_address: String,
    #[serde(rename = "IPPrefixLen")]
    pub ip_prefix_len: u32,
    #[serde(rename = "IPv6Gateway")]
    pub ipv6_gateway: String,
    #[serde(rename = "GlobalIPv6Address")]
    pub global_ipv6_address: String,
    #[serde(rename = "GlobalIPv6PrefixLen")]
    pub global_ipv6_prefix_len: u32,
    #[serde(rename = "DNSNames")]
    pub dns_names: Option<Vec<String>>,
}

/// Bookkeeping the daemon would not show.
#[derive(Serialize, Deserialize, Clone, Debug, Default)]
pub struct Meta {
    pub created_ms: u64,
    pub started_ms: u64,
    pub finished_ms: u64,
    /// kubeadm init finished: without it the API server never answers (a `kind create` killed
    /// mid-way leaves such a node behind).
    pub provisioned: bool,
    /// The node's IP on the `kind` network (kept across stop/start).
    pub ip: String,
    pub mac: String,
}

#[derive(Serialize, Deserialize, Clone, Debug)]
pub struct Container {
    pub inspect: Inspect,
    pub meta: Meta,
}

#[derive(Serialize, Deserialize, Default, Debug)]
pub struct Containers {
    pub containers: BTreeMap<String, Container>,
}

fn containers_path(state: &Path) -> PathBuf {
    state.join("containers.json")
}

impl Containers {
    pub fn load(state: &Path) -> Containers {
        read_json(&containers_path(state))
    }
    pub fn save(&self, state: &Path) {
        write_json(&containers_path(state), self);
    }
    /// Look up by name (with or without the leading `/`), full id or unique id prefix.
    pub fn find(&self, name_or_id: &str) -> Option<&str> {
        let n = name_or_id.strip_prefix('/').unwrap_or(name_or_id);
        if let Some((k, _)) = self.containers.get_key_value(n) {
            return Some(k);
        }
        if n.is_empty() {
            return None;
        }
        let by_id: Vec<&String> = self
            .containers
            .iter()
            .filter(|(_, c)| c.inspect.id.starts_with(n))
            .map(|(k, _)| k)
            .collect();
        (by_id.len() == 1).then(|| by_id[0].as_str())
    }
    /// Container names of kind cluster `cluster` (label match), any state.
    pub fn cluster_nodes(&self, cluster: &str) -> Vec<String> {
        self.containers
            .iter()
            .filter(|(_, c)| {
                c.inspect.config.labels.get(CLUSTER_LABEL).map(String::as_str) == Some(cluster)
            })
            .map(|(k, _)| k.clone())
            .collect()
    }
    /// Host ports bound by running containers, as (ip, port).
    pub fn used_host_ports(&self) -> Vec<(String, String)> {
        self.containers
            .values()
            .filter(|c| c.inspect.state.running)
            .flat_map(|c| c.inspect.host_config.port_bindings.values().flatten())
            .map(|b| (b.host_ip.clone(), b.host_port.clone()))
            .collect()
    }
    /// Pick an unused address on the kind network.
    pub fn next_ip(&self) -> String {
        (2..250)
            .map(|n| format!("172.18.0.{n}"))
            .find(|ip| !self.containers.values().any(|c| &c.meta.ip == ip))
            .unwrap_or_else(|| "172.18.0.250".into())
    }
}

impl Container {
    /// A new kind node container, already running (like `docker run --detach`).
    pub fn new_kind_node(
        name: &str,
        cluster: &str,
        image: &str,
        port_bindings: BTreeMap<String, Vec<PortBinding>>,
        ip: String,
    ) -> Container {
        let now_ns = timefmt::now_ns();
        let now_ms = (now_ns / 1_000_000) as u64;
        let id = random_hex(32);
        let mac = {
            let h = random_hex(4);
            format!("02:42:{}:{}:{}:{}", &h[0..2], &h[2..4], &h[4..6], &h[6..8])
        };
        let volume = random_hex(32);
        let labels = BTreeMap::from([
            (CLUSTER_LABEL.to_string(), cluster.to_string()),
            (ROLE_LABEL.to_string(), "control-plane".to_string()),
        ]);
        let exposed = port_bindings.keys().map(|k| (k.clone(), serde_json::json!({}))).collect();
        let mut c = Container {
            inspect: Inspect {
                id: id.clone(),
                created: timefmt::rfc3339_nano(now_ns),
                path: "/usr/local/bin/entrypoint".into(),
                args: vec!["/sbin/init".into()],
                state: CState {
                    status: "created".into(),
                    running: false,
                    paused: false,
                    restarting: false,
                    oom_killed: false,
                    dead: false,
                    pid: 0,
                    exit_code: 0,
                    error: String::new(),
                    started_at: ZERO_TIME.into(),
                    finished_at: ZERO_TIME.into(),
                },
                image: format!("sha256:{}", random_hex(32)),
                resolv_conf_path: format!("/var/lib/docker/containers/{id}/resolv.conf"),
                hostname_path: format!("/var/lib/docker/containers/{id}/hostname"),
                hosts_path: format!("/var/lib/docker/containers/{id}/hosts"),
                log_path: format!("/var/lib/docker/containers/{id}/{id}-json.log"),
                name: format!("/{name}"),
                restart_count: 0,
                driver: "overlay2".into(),
                platform: "linux".into(),
                mount_label: String::new(),
                process_label: String::new(),
                app_armor_profile: "unconfined".into(),
                exec_ids: None,
                host_config: HostConfig {
                    binds: vec!["/lib/modules:/lib/modules:ro".into()],
                    network_mode: "kind".into(),
                    port_bindings,
                    restart_policy: RestartPolicy {
                        name: "on-failure".into(),
                        maximum_retry_count: 1,
                    },
                    auto_remove: false,
                    cgroupns_mode: "private".into(),
                    privileged: true,
                    security_opt: vec!["seccomp=unconfined".into(), "apparmor=unconfined".into()],
                    tmpfs: BTreeMap::from([
                        ("/run".into(), String::new()),
                        ("/tmp".into(), String::new()),
                    ]),
                    sysctls: BTreeMap::new(),
                    init: false,
                },
                mounts: vec![
                    Mount {
                        kind: "volume".into(),
                        name: Some(volume.clone()),
                        source: format!("/var/lib/docker/volumes/{volume}/_data"),
                        destination: "/var".into(),
                        driver: Some("local".into()),
                        mode: String::new(),
                        rw: true,
                        propagation: String::new(),
                    },
                    Mount {
                        kind: "bind".into(),
                        name: None,
                        source: "/lib/modules".into(),
                        destination: "/lib/modules".into(),
                        driver: None,
                        mode: "ro".into(),
                        rw: false,
                        propagation: "rprivate".into(),
                    },
                ],
                config: Config {
                    hostname: name.into(),
                    domainname: String::new(),
                    user: String::new(),
                    attach_stdin: false,
                    attach_stdout: false,
                    attach_stderr: false,
                    exposed_ports: exposed,
                    tty: true,
                    open_stdin: false,
                    stdin_once: false,
                    env: vec![
                        "KUBECONFIG=/etc/kubernetes/admin.conf".into(),
                        "KIND_EXPERIMENTAL_CONTAINERD_SNAPSHOTTER".into(),
                        "PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin".into(),
                        "container=docker".into(),
                    ],
                    cmd: None,
                    image: image.into(),
                    volumes: BTreeMap::from([("/var".into(), serde_json::json!({}))]),
                    working_dir: "/".into(),
                    entrypoint: vec!["/usr/local/bin/entrypoint".into(), "/sbin/init".into()],
                    on_build: None,
                    labels,
                    stop_signal: "SIGRTMIN+3".into(),
                },
                network_settings: NetworkSettings {
                    bridge: String::new(),
                    sandbox_id: String::new(),
                    sandbox_key: String::new(),
                    ports: BTreeMap::new(),
                    hairpin_mode: false,
                    link_local_ipv6_address: String::new(),
                    link_local_ipv6_prefix_len: 0,
                    secondary_ip_addresses: None,
                    secondary_ipv6_addresses: None,
                    endpoint_id: String::new(),
                    gateway: String::new(),
                    global_ipv6_address: String::new(),
                    global_ipv6_prefix_len: 0,
                    ip_address: String::new(),
                    ip_prefix_len: 0,
                    ipv6_gateway: String::new(),
                    mac_address: String::new(),
                    networks: BTreeMap::from([(
                        "kind".to_string(),
                        Endpoint {
                            ipam_config: None,
                            links: None,
                            aliases: None,
                            mac_address: String::new(),
                            driver_opts: None,
                            gw_priority: 0,
                            network_id:
                                "5e6f7a8b9c0d1e2f3a4b5c6d7e8f9a0b1c2d3e4f5a6b7c8d9e0f1a2b3c4d5e6f"
                                    .into(),
                            endpoint_id: String::new(),
                            gateway: String::new(),
                            ip_address: String::new(),
                            ip_prefix_len: 0,
                            ipv6_gateway: String::new(),
                            global_ipv6_address: String::new(),
                            global_ipv6_prefix_len: 0,
                            dns_names: None,
                        },
                    )]),
                },
            },
            meta: Meta {
                created_ms: now_ms,
                started_ms: 0,
                finished_ms: 0,
                provisioned: false,
                ip,
                mac,
            },
        };
        c.start();
        c
    }

    pub fn name(&self) -> &str {
        self.inspect.name.trim_start_matches('/')
    }

    pub fn cluster(&self) -> Option<&str> {
        self.inspect.config.labels.get(CLUSTER_LABEL).map(String::as_str)
    }

    /// Start (or restart) the container: new StartedAt/Pid, ports and IP back.
    pub fn start(&mut self) {
        let now_ns = timefmt::now_ns();
        let s = &mut self.inspect.state;
        s.status = "running".into();
        s.running = true;
        s.paused = false;
        s.restarting = false;
        s.oom_killed = false;
        s.dead = false;
        s.pid = 10_000 + (now_ns % 50_000) as u32;
        s.exit_code = 0;
        s.error = String::new();
        s.started_at = timefmt::rfc3339_nano(now_ns);
        self.meta.started_ms = (now_ns / 1_000_000) as u64;
        let ns = &mut self.inspect.network_settings;
        ns.ports = self.inspect.host_config.port_bindings.clone();
        ns.sandbox_id = random_hex(32);
        ns.sandbox_key = format!("/var/run/docker/netns/{}", &ns.sandbox_id[..12]);
        let ip = self.meta.ip.clone();
        let mac = self.meta.mac.clone();
        let name = self.inspect.name.trim_start_matches('/').to_string();
        for ep in ns.networks.values_mut() {
            ep.mac_address = mac.clone();
            ep.endpoint_id = random_hex(32);
            ep.gateway = "172.18.0.1".into();
            ep.ip_address = ip.clone();
            ep.ip_prefix_len = 16;
            ep.dns_names = Some(vec![name.clone(), self.inspect.id[..12].to_string()]);
        }
    }

    /// Stop the container with `exit_code` (kind nodes end in 137 after a `docker stop`).
    pub fn stop(&mut self, exit_code: i32, oom: bool) {
        let now_ns = timefmt::now_ns();
        let s = &mut self.inspect.state;
        s.status = "exited".into();
        s.running = false;
        s.paused = false;
        s.restarting = false;
        s.oom_killed = oom;
        s.pid = 0;
        s.exit_code = exit_code;
        s.finished_at = timefmt::rfc3339_nano(now_ns);
        self.meta.finished_ms = (now_ns / 1_000_000) as u64;
        let ns = &mut self.inspect.network_settings;
        ns.ports = BTreeMap::new();
        ns.sandbox_id = String::new();
        ns.sandbox_key = String::new();
        for ep in ns.networks.values_mut() {
            ep.mac_address = String::new();
            ep.endpoint_id = String::new();
            ep.gateway = String::new();
            ep.ip_address = String::new();
            ep.ip_prefix_len = 0;
            ep.dns_names = None;
        }
    }

    /// The published host port of the API server (`6443/tcp`), from the port bindings.
    pub fn api_port(&self) -> Option<u16> {
        self.inspect.host_config.port_bindings.get("6443/tcp")?.first()?.host_port.parse().ok()
    }

    /// The API server answers: running, kubeadm done, and `ready_delay_ms` since the last start.
    pub fn api_up(&self, ready_delay_ms: u64) -> bool {
        self.inspect.state.running
            && self.meta.provisioned
            && timefmt::now_ms() >= self.meta.started_ms.saturating_add(ready_delay_ms)
    }

    /// `kindest/node:v1.36.1@sha256:…` → `v1.36.1`.
    pub fn kube_version(&self) -> String {
        let img = self.inspect.config.image.split('@').next().unwrap_or_default();
        match img.rsplit_once(':') {
            Some((_, tag)) if tag.starts_with('v') && !tag.contains('/') => tag.to_string(),
            _ => "v1.36.1".to_string(),
        }
    }
}

// ---------------------------------------------------------------------------------------------
// In-cluster state: `<state>/clusters/<container id>/`
//   meta.json                 {"resource_version": N, "created_ms": …}
//   namespaces.json           {name: Namespace object}                 (cluster-scoped)
//   ns/<namespace>/<resource>.json   {name: object}                    (namespaced, e.g. pods)
// Keyed by the node container's Id, so a deleted+recreated cluster starts empty while a
// stopped/started one keeps everything.

pub const DEFAULT_NAMESPACES: &[&str] =
    &["default", "kube-node-lease", "kube-public", "kube-system", "local-path-storage"];

pub struct ClusterStore {
    pub dir: PathBuf,
}

#[derive(Serialize, Deserialize, Default)]
struct StoreMeta {
    resource_version: u64,
}

pub type Objects = BTreeMap<String, Value>;

impl ClusterStore {
    pub fn for_container(state: &Path, id: &str) -> ClusterStore {
        ClusterStore { dir: state.join("clusters").join(id) }
    }

    pub fn exists(&self) -> bool {
        self.dir.join("meta.json").exists()
    }

    /// Create the store with kind's default namespaces.
    pub fn init(&self) {
        write_json(&self.dir.join("meta.json"), &StoreMeta { resource_version: 100 });
        for ns in DEFAULT_NAMESPACES {
            let obj = self.namespace_object(ns);
            self.put_cluster_scoped("namespaces", ns, obj);
        }
    }

    pub fn remove(&self) {
        let _ = fs::remove_dir_all(&self.dir);
    }

    /// Next `metadata.resourceVersion`.
    pub fn next_rv(&self) -> String {
        let p = self.dir.join("meta.json");
        let mut m: StoreMeta = read_json(&p);
        m.resource_version += 1;
        write_json(&p, &m);
        m.resource_version.to_string()
    }

    fn scoped_path(&self, resource: &str) -> PathBuf {
        self.dir.join(format!("{resource}.json"))
    }

    fn namespaced_path(&self, ns: &str, resource: &str) -> PathBuf {
        self.dir.join("ns").join(ns).join(format!("{resource}.json"))
    }

    pub fn list_cluster_scoped(&self, resource: &str) -> Objects {
        read_json(&self.scoped_path(resource))
    }

    pub fn put_cluster_scoped(&self, resource: &str, name: &str, obj: Value) {
        let mut all = self.list_cluster_scoped(resource);
        all.insert(name.to_string(), obj);
        write_json(&self.scoped_path(resource), &all);
    }

    /// Namespaced objects of one namespace.
    pub fn list_namespaced(&self, ns: &str, resource: &str) -> Objects {
        read_json(&self.namespaced_path(ns, resource))
    }

    #[allow(dead_code)] // for future verbs (pods, deployments, …)
    pub fn put_namespaced(&self, ns: &str, resource: &str, name: &str, obj: Value) {
        let mut all = self.list_namespaced(ns, resource);
        all.insert(name.to_string(), obj);
        write_json(&self.namespaced_path(ns, resource), &all);
    }

    #[allow(dead_code)] // for future verbs (pods, deployments, …)
    pub fn delete_namespaced(&self, ns: &str, resource: &str, name: &str) -> bool {
        let mut all = self.list_namespaced(ns, resource);
        let removed = all.remove(name).is_some();
        write_json(&self.namespaced_path(ns, resource), &all);
        removed
    }

    /// Namespaces that exist (sorted).
    pub fn namespaces(&self) -> Vec<String> {
        self.list_cluster_scoped("namespaces").into_keys().collect()
    }

    pub fn namespace_object(&self, name: &str) -> Value {
        serde_json::json!({
            "apiVersion": "v1",
            "kind": "Namespace",
            "metadata": {
                "creationTimestamp": timefmt::rfc3339_secs(timefmt::now_ms()),
                "labels": {"kubernetes.io/metadata.name": name},
                "name": name,
                "resourceVersion": self.next_rv(),
                "uid": random_uid(),
            },
            "spec": {"finalizers": ["kubernetes"]},
            "status": {"phase": "Active"},
        })
    }
}
