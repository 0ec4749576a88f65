//! Where the fakes' node containers live (knob `docker`):
//!
//! - `fake` (default): the simulated engine in `<state>/containers.json`, driven by the fake
//!   `docker`;
//! - `real`: a real Docker engine, reached through a real docker client (knob `real_docker`,
//!   default `/usr/bin/docker`). The fake `kind` then creates and deletes REAL containers the way
//!   kind does (image: knob `node_image`, default `kilter-test-node:latest`), and the fake `kubectl`
//!   reads node state from `docker inspect`. The in-cluster object store stays in the fake state,
//!   keyed by the real container Id.
//!
//! Readers use [`containers`], a snapshot in the fake's own model whichever the backend;
//! `kind` uses [`RealDocker`] directly for what it runs against the engine.

// The fakes are test tools: they run the real docker client themselves (clippy.toml bans
// `Command::new` outside the product's exec.rs).
#![allow(clippy::disallowed_methods)]

use std::collections::BTreeMap;
use std::path::Path;
use std::process::{Command, Stdio};

use serde_json::Value;

use crate::common::{Ctx, knob};
use crate::state::{CLUSTER_LABEL, ClusterStore, Container, Containers, PortBinding, ROLE_LABEL};

/// Label on real node containers: the fake state dir that created them (the harness removes
/// every container carrying its own state dir).
pub const STATE_LABEL: &str = "io.kilter.fake.state";
/// Label on real node containers: the node image kind was asked for (the container itself runs
/// the small test image). The fake kubectl derives the Kubernetes version from it.
pub const IMAGE_LABEL: &str = "io.kilter.fake.kind-image";

pub enum Backend {
    Fake,
    Real(RealDocker),
}

impl Backend {
    pub fn of(ctx: &Ctx) -> Backend {
        Backend::at(&ctx.state)
    }

    /// The backend of a state dir (knobs: env `KILTER_FAKE_DOCKER` etc., else `knobs.json`).
    pub fn at(state: &Path) -> Backend {
        if knob(state, "docker").trim() == "real" {
            Backend::Real(RealDocker {
                bin: knob(state, "real_docker"),
                image: knob(state, "node_image"),
                state: state.display().to_string(),
            })
        } else {
            Backend::Fake
        }
    }
}

/// Containers as the fakes model them: the fake state, or a snapshot of the real engine's kind
/// containers (every container labelled `io.x-k8s.kind.cluster`).
pub fn containers(ctx: &Ctx) -> Containers {
    containers_at(&ctx.state)
}

/// [`containers`] for callers without a tool context (`fake-tool ctl …`).
pub fn containers_at(state: &Path) -> Containers {
    match Backend::at(state) {
        Backend::Fake => Containers::load(state),
        Backend::Real(real) => real.snapshot(state, None),
    }
}

/// A real docker command that failed, in the terms kind reports it
/// (`command "docker …" failed with error: exit status N` + `Command Output:`).
#[derive(Debug)]
pub struct DockerError {
    pub command: String,
    pub error: String,
    pub output: String,
}

pub struct RealDocker {
    pub bin: String,
    pub image: String,
    pub state: String,
}

/// `docker <args>` as kind renders a command (shell-quoted, the program as `docker`).
pub fn render(args: &[String]) -> String {
    crate::common::render_call("docker", args)
}

impl RealDocker {
    fn command(&self, args: &[String]) -> Command {
        let mut cmd = Command::new(&self.bin);
        cmd.args(args).stdin(Stdio::null());
        cmd
    }

    /// Run the real client; stdout on success.
    pub fn run(&self, args: &[String]) -> Result<String, DockerError> {
        let out = self.command(args).output().map_err(|e| DockerError {
            command: render(args),
            error: format!("exec: \"{}\": {e}", self.bin),
            output: String::new(),
        })?;
        if out.status.success() {
            return Ok(String::from_utf8_lossy(&out.stdout).into_owned());
        }
        let mut output = String::from_utf8_lossy(&out.stdout).into_owned();
        output.push_str(&String::from_utf8_lossy(&out.stderr));
        Err(DockerError {
            command: render(args),
            error: format!("exit status {}", out.status.code().unwrap_or(1)),
            output: output.trim_end().to_string(),
        })
    }

    /// Replace this process with the real client (the fake `docker` in real mode).
    pub fn exec(&self, args: &[String]) -> i32 {
        use std::os::unix::process::CommandExt as _;
        let mut cmd = Command::new(&self.bin);
        cmd.args(args);
        let err = cmd.exec();
        errln!("fake docker: cannot run the real docker client {}: {err}", self.bin);
        crate::common::UNEXPECTED
    }

    /// kind's provider check: `docker info --format '{{json .}}'` (its stdout).
    pub fn info(&self) -> Result<String, DockerError> {
        self.run(&strings(&["info", "--format", "{{json .}}"]))
    }

    /// kind's `ListNodes`: `docker ps -a --filter label=io.x-k8s.kind.cluster=<name> --format '{{.Names}}'`.
    pub fn list_nodes(&self, cluster: &str) -> Result<Vec<String>, DockerError> {
        self.node_names(&format!("label={CLUSTER_LABEL}={cluster}"))
    }

    /// Every kind node (any cluster).
    pub fn list_all_nodes(&self) -> Result<Vec<String>, DockerError> {
        self.node_names(&format!("label={CLUSTER_LABEL}"))
    }

    /// `docker ps -a --filter FILTER --format '{{.Names}}'`, one name a line.
    fn node_names(&self, filter: &str) -> Result<Vec<String>, DockerError> {
        let out =
            self.run(&strings(&["ps", "-a", "--filter", filter, "--format", "{{.Names}}"]))?;
        Ok(lines(&out))
    }

    /// kind's `ListClusters`: de-duplicated and sorted.
    pub fn list_clusters(&self) -> Result<Vec<String>, DockerError> {
        let out = self.run(&strings(&[
            "ps",
            "-a",
            "--filter",
            &format!("label={CLUSTER_LABEL}"),
            "--format",
            &format!("{{{{.Label \"{CLUSTER_LABEL}\"}}}}"),
        ]))?;
        let mut names = lines(&out);
        names.sort_unstable();
        names.dedup();
        Ok(names)
    }

    /// kind's `ensureNetwork`: the `kind` bridge network, created with the first cluster (kind
    /// also asks for IPv6, which this engine may not offer; a test never needs it). A network
    /// made meanwhile by a parallel test is fine.
    pub fn ensure_kind_network(&self) -> Result<(), DockerError> {
        // Older engines allow two networks of one name; parallel tests take turns (kind itself
        // removes such duplicates), so hold a machine-wide lock while looking and creating.
        let lock_path = std::env::temp_dir().join("kilter-fake-kind-network.lock");
        let _lock = std::fs::OpenOptions::new()
            .create(true)
            .truncate(false)
            .write(true)
            .open(&lock_path)
            .and_then(|f| f.lock().map(|()| f));
        let ids = self.run(&strings(&["network", "ls", "-q", "--filter", "name=^kind$"]))?;
        if !ids.trim().is_empty() {
            return Ok(());
        }
        match self.run(&strings(&[
            "network",
            "create",
            "-d=bridge",
            "-o",
            "com.docker.network.bridge.enable_ip_masquerade=true",
            "-o",
            "com.docker.network.driver.mtu=1500",
            "kind",
        ])) {
            Err(e) if !e.output.contains("already exists") => Err(e),
            _ => Ok(()),
        }
    }

    /// `docker run` of a control-plane node on the `kind` network, as kind's provider does
    /// (minus what the busybox test image does not need: `--privileged`, seccomp/apparmor,
    /// cgroupns). Returns the container Id.
    pub fn run_node(
        &self,
        node: &str,
        cluster: &str,
        requested_image: &str,
        publish: &[String],
    ) -> Result<String, DockerError> {
        self.ensure_kind_network()?;
        let mut args = strings(&[
            "run",
            "--name",
            node,
            "--net",
            "kind",
            "--hostname",
            node,
            "--label",
            &format!("{CLUSTER_LABEL}={cluster}"),
            "--label",
            &format!("{ROLE_LABEL}=control-plane"),
            "--label",
            &format!("{STATE_LABEL}={}", self.state),
            "--label",
            &format!("{IMAGE_LABEL}={requested_image}"),
            "--detach",
            "--tty",
            "--restart=on-failure:1",
            "--init=false",
            "--tmpfs",
            "/tmp",
            "--volume",
            "/var",
            "-e",
            "KUBECONFIG=/etc/kubernetes/admin.conf",
        ]);
        args.extend(publish.iter().map(|p| format!("--publish={p}")));
        args.push(self.image.clone());
        let out = self.run(&args)?;
        Ok(out.trim().to_string())
    }

    /// kind's `DeleteNodes`: `docker rm -f -v <node…>`.
    pub fn remove(&self, nodes: &[String]) -> Result<(), DockerError> {
        if nodes.is_empty() {
            return Ok(());
        }
        let mut args = strings(&["rm", "-f", "-v"]);
        args.extend(nodes.iter().cloned());
        self.run(&args).map(drop)
    }

    /// Whether kubeadm init ran in a node the REAL kind made: its admin kubeconfig exists in the
    /// node (`docker exec NODE cat /etc/kubernetes/admin.conf`, the file kind itself reads after
    /// "Starting control-plane"). A node left by a kind killed before that has none.
    pub fn kubeadm_done(&self, node: &str) -> bool {
        self.command(&strings(&["exec", node, "cat", "/etc/kubernetes/admin.conf"]))
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .status()
            .is_ok_and(|s| s.success())
    }

    /// `docker inspect` of the named containers (missing ones are skipped).
    pub fn inspect(&self, names: &[String]) -> Vec<Value> {
        if names.is_empty() {
            return Vec::new();
        }
        let mut args = strings(&["inspect", "--type", "container"]);
        args.extend(names.iter().cloned());
        // exit 1 when one is missing, but the others are still printed
        let out = match self.command(&args).stderr(Stdio::null()).output() {
            Ok(o) => String::from_utf8_lossy(&o.stdout).into_owned(),
            Err(_) => return Vec::new(),
        };
        serde_json::from_str::<Vec<Value>>(out.trim()).unwrap_or_default()
    }

    /// The kind containers of the engine (or just `names`) in the fakes' model. An unreachable
    /// daemon gives an empty snapshot.
    pub fn snapshot(&self, state: &Path, names: Option<&[String]>) -> Containers {
        let names = match names {
            Some(n) => n.to_vec(),
            None => self.list_all_nodes().unwrap_or_default(),
        };
        let mut cs = Containers::default();
        for v in self.inspect(&names) {
            if let Some(c) = to_container(state, &v) {
                cs.containers.insert(c.name().to_string(), c);
            }
        }
        cs
    }
}

fn strings(a: &[&str]) -> Vec<String> {
    a.iter().map(|s| s.to_string()).collect()
}

fn lines(s: &str) -> Vec<String> {
    s.lines().map(str::trim).filter(|l| !l.is_empty()).map(str::to_string).collect()
}

fn bindings(v: &Value) -> BTreeMap<String, Vec<PortBinding>> {
    let mut out = BTreeMap::new();
    if let Some(map) = v.as_object() {
        for (k, list) in map {
            let list: Vec<PortBinding> = list
                .as_array()
                .map(|a| {
                    a.iter()
                        .map(|b| PortBinding {
                            host_ip: b["HostIp"].as_str().unwrap_or_default().to_string(),
                            host_port: b["HostPort"].as_str().unwrap_or_default().to_string(),
                        })
                        .collect()
                })
                .unwrap_or_default();
            if !list.is_empty() {
                out.insert(k.clone(), list);
            }
        }
    }
    out
}

/// A real `docker inspect` object as a fake [`Container`] (the fields the fakes read: name, Id,
/// state and times, labels, ports, IP, image). `provisioned` = the cluster store exists, which
/// the fake kind creates after "Starting control-plane".
pub fn to_container(state: &Path, v: &Value) -> Option<Container> {
    let id = v["Id"].as_str()?.to_string();
    let name = v["Name"].as_str()?.trim_start_matches('/').to_string();
    let labels: BTreeMap<String, String> =
        serde_json::from_value(v["Config"]["Labels"].clone()).unwrap_or_default();
    let cluster = labels.get(CLUSTER_LABEL).cloned().unwrap_or_default();
    let image = labels
        .get(IMAGE_LABEL)
        .cloned()
        .unwrap_or_else(|| v["Config"]["Image"].as_str().unwrap_or_default().to_string());
    let host_bindings = bindings(&v["HostConfig"]["PortBindings"]);
    let ip = v["NetworkSettings"]["IPAddress"].as_str().unwrap_or_default().to_string();
    let mut c = Container::new_kind_node(&name, &cluster, &image, host_bindings, ip);
    let s = &v["State"];
    let st = &mut c.inspect.state;
    st.status = s["Status"].as_str().unwrap_or_default().to_string();
    st.running = s["Running"].as_bool().unwrap_or(false);
    st.paused = s["Paused"].as_bool().unwrap_or(false);
    st.restarting = s["Restarting"].as_bool().unwrap_or(false);
    st.oom_killed = s["OOMKilled"].as_bool().unwrap_or(false);
    st.dead = s["Dead"].as_bool().unwrap_or(false);
    st.pid = s["Pid"].as_u64().unwrap_or(0) as u32;
    st.exit_code = s["ExitCode"].as_i64().unwrap_or(0) as i32;
    st.started_at = s["StartedAt"].as_str().unwrap_or_default().to_string();
    st.finished_at = s["FinishedAt"].as_str().unwrap_or_default().to_string();
    c.inspect.id = id.clone();
    c.inspect.created = v["Created"].as_str().unwrap_or_default().to_string();
    c.inspect.config.labels = labels;
    c.inspect.network_settings.ports = bindings(&v["NetworkSettings"]["Ports"]);
    c.meta.created_ms = crate::timefmt::parse_rfc3339_ms(&c.inspect.created).unwrap_or(0);
    c.meta.started_ms = crate::timefmt::parse_rfc3339_ms(&c.inspect.state.started_at).unwrap_or(0);
    c.meta.finished_ms =
        crate::timefmt::parse_rfc3339_ms(&c.inspect.state.finished_at).unwrap_or(0);
    c.meta.provisioned = ClusterStore::for_container(state, &id).exists();
    Some(c)
}

/// A running node that the REAL kind made (it lacks the fake kind's [`STATE_LABEL`]) and that no
/// kubectl has seen provisioned yet: provisioned once kubeadm init ran in it
/// ([`RealDocker::kubeadm_done`]); its in-cluster store is created then. A node of the fake kind
/// is provisioned only by the fake kind itself.
pub fn provision_real_kind_node(state: &Path, c: &mut Container) {
    if c.meta.provisioned
        || !c.inspect.state.running
        || c.inspect.config.labels.contains_key(STATE_LABEL)
    {
        return;
    }
    let Backend::Real(real) = Backend::at(state) else { return };
    if real.kubeadm_done(c.name()) {
        let store = ClusterStore::for_container(state, &c.inspect.id);
        if !store.exists() {
            store.init();
        }
        c.meta.provisioned = true;
    }
}
