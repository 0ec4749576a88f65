//! `docker`: node container inspect/start/stop, daemon reachability, and cluster listing.

use std::collections::BTreeMap;

use anyhow::Result;
use serde::Deserialize;

use camino::Utf8Path;

use super::Bin;
use crate::error::{Code, Exit};
use crate::exec::{Cmd, Output, Runner, Stdin};

mod info;
pub use info::DockerInfo;

pub const CLUSTER_LABEL: &str = "io.x-k8s.kind.cluster";

pub struct Docker<'a> {
    pub bin: &'a Bin,
}

impl<'a> Docker<'a> {
    pub fn new(bin: &'a Bin) -> Docker<'a> {
        Docker { bin }
    }
}

/// The node container's state, as far as kilter cares.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum NodeState {
    Running,
    /// Exists but not running: `exited`, `created`, `paused`, `restarting`, `dead`, …
    NotRunning(String),
    Absent,
}

/// The fields of `docker inspect` kilter reads.
#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct Container {
    pub id: String,
    pub name: String,
    /// When the container was created (RFC 3339 with nanoseconds).
    #[serde(default)]
    pub created: String,
    pub state: State,
    #[serde(default)]
    pub host_config: HostConfig,
    #[serde(default)]
    pub config: ContainerConfig,
    #[serde(default)]
    pub network_settings: NetworkSettings,
}

/// Runtime port bindings (empty while the container is stopped).
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct NetworkSettings {
    #[serde(default)]
    pub ports: Option<BTreeMap<String, Option<Vec<Binding>>>>,
    /// The networks the container is connected to (`kind`, `bridge`, …).
    #[serde(default)]
    pub networks: Option<BTreeMap<String, serde_json::Value>>,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct State {
    pub status: String,
    #[serde(default)]
    pub running: bool,
    #[serde(default, rename = "OOMKilled")]
    pub oom_killed: bool,
    #[serde(default)]
    pub exit_code: i64,
    #[serde(default)]
    pub started_at: String,
    #[serde(default)]
    pub finished_at: String,
}

#[derive(Debug, Clone, Default, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct HostConfig {
    #[serde(default)]
    pub port_bindings: Option<BTreeMap<String, Option<Vec<Binding>>>>,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct Binding {
    #[serde(default)]
    pub host_ip: String,
    #[serde(default)]
    pub host_port: String,
}

#[derive(Debug, Clone, Default, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct ContainerConfig {
    #[serde(default)]
    pub labels: Option<BTreeMap<String, String>>,
    #[serde(default)]
    pub image: String,
}

impl Container {
    /// The value of label `key` (`Config.Labels`).
    pub fn label(&self, key: &str) -> Option<&str> {
        self.config.labels.as_ref().and_then(|l| l.get(key)).map(String::as_str)
    }

    /// The name without docker's leading `/`.
    pub fn short_name(&self) -> &str {
        self.name.trim_start_matches('/')
    }

    /// Whether the container is connected to docker network `net`.
    pub fn on_network(&self, net: &str) -> bool {
        self.network_settings
            .networks
            .as_ref()
            .and_then(|n| n.get(net))
            .is_some_and(|v| !v.is_null())
    }

    /// The host port configured for `<port>/tcp` (kept while the container is stopped).
    pub fn configured_port(&self, container_port: &str) -> Option<u16> {
        self.host_config
            .port_bindings
            .as_ref()?
            .get(container_port)?
            .as_ref()?
            .iter()
            .find_map(|b| b.host_port.parse::<u16>().ok().filter(|p| *p != 0))
    }

    pub fn node_state(&self) -> NodeState {
        if self.state.running && self.state.status == "running" {
            NodeState::Running
        } else {
            NodeState::NotRunning(self.state.status.clone())
        }
    }

    /// Host ports bound for `<port>/tcp`: the runtime bindings while running, else the
    /// configured ones (kept while stopped). A configured `0` ("docker picks") is not a port.
    pub fn host_ports(&self) -> Vec<(String, u16)> {
        let collect = |map: &Option<BTreeMap<String, Option<Vec<Binding>>>>| {
            let mut out = Vec::new();
            for (k, v) in map.iter().flatten() {
                for b in v.iter().flatten() {
                    if let Ok(p) = b.host_port.parse::<u16>()
                        && p != 0
                    {
                        out.push((k.clone(), p));
                    }
                }
            }
            out
        };
        let runtime = collect(&self.network_settings.ports);
        let configured = collect(&self.host_config.port_bindings);
        let mut all = runtime.clone();
        all.extend(configured.into_iter().filter(|(k, _)| !runtime.iter().any(|(rk, _)| rk == k)));
        all
    }

    /// The API server's host port (kind publishes `6443/tcp` on 127.0.0.1).
    pub fn api_port(&self) -> Option<u16> {
        self.host_ports().into_iter().find(|(k, _)| k == "6443/tcp").map(|(_, p)| p)
    }

    /// The kilter port slot, read from the published NodePort block.
    pub fn port_slot(&self) -> Option<u16> {
        self.host_ports()
            .into_iter()
            .filter(|(k, _)| k != "6443/tcp")
            .find_map(|(_, p)| crate::ports::Ports::slot_of_nodeport(p))
    }
}

/// Parse `docker inspect` output of several names: every object found (missing names only add
/// error lines on stderr and make the exit code 1).
pub fn parse_inspect_all(stdout: &str) -> Result<Vec<Container>> {
    let trimmed = stdout.trim();
    if trimmed.is_empty() {
        return Ok(Vec::new());
    }
    serde_json::from_str(trimmed)
        .map_err(|e| anyhow::anyhow!("could not parse `docker inspect` output: {e}"))
}

/// Parse `docker inspect` output (a JSON array). `Ok(None)` for `[]`.
pub fn parse_inspect(stdout: &str) -> Result<Option<Container>> {
    let trimmed = stdout.trim();
    if trimmed.is_empty() || trimmed == "[]" {
        return Ok(None);
    }
    let v: Vec<Container> = serde_json::from_str(trimmed)
        .map_err(|e| anyhow::anyhow!("could not parse `docker inspect` output: {e}"))?;
    Ok(v.into_iter().next())
}

/// Is this stderr the "daemon not reachable" family of errors?
pub fn daemon_unreachable(stderr: &str) -> bool {
    stderr.contains("Cannot connect to the Docker daemon")
        || stderr.contains("permission denied while trying to connect to the Docker daemon")
        || stderr.contains("error during connect")
}

/// The exit-3 error for an unreachable daemon, with a hint that fits the cause.
pub fn daemon_error(stderr: &str) -> Exit {
    let mut lines = stderr.lines().map(str::trim);
    let line = lines
        .clone()
        .find(|l| daemon_unreachable(l))
        .or_else(|| lines.find(|l| !l.is_empty()))
        .unwrap_or("no answer");
    // Docker 20.10 clients (Debian's docker.io) print only a template error for
    // `docker info --format '{{.ServerVersion}}'` when no daemon answers.
    let first = if line.starts_with("template:") && line.contains("nil pointer") {
        "`docker info` got no answer from the daemon"
    } else {
        line
    };
    let mut hint = if stderr.contains("permission denied") {
        "add your user to the `docker` group (`sudo usermod -aG docker $USER`, then log in again), or run Docker Desktop".to_owned()
    } else {
        "start Docker (Docker Desktop, or `sudo systemctl start docker`) and check with `docker info`".to_owned()
    };
    if let Some(host) = std::env::var("DOCKER_HOST").ok().filter(|h| !h.is_empty()) {
        hint.push_str(&format!(" (DOCKER_HOST is set to {host})"));
    }
    Exit::new(Code::Environment, format!("the Docker daemon is not reachable: {first}")).hint(hint)
}

impl Docker<'_> {
    pub fn info_cmd(&self) -> Cmd {
        self.bin.cmd("check that the Docker daemon is reachable").args([
            "info",
            "--format",
            "{{.ServerVersion}}",
        ])
    }

    /// Preflight: the daemon answers. Old clients (≤ 28.0) exit 0 with the error on stderr, so
    /// the stderr text and an empty version count as well as the exit code.
    pub fn check_daemon(out: &Output) -> Result<String, Exit> {
        if !out.success() || daemon_unreachable(&out.stderr) || out.stdout.trim().is_empty() {
            return Err(daemon_error(&out.stderr));
        }
        Ok(out.stdout.trim().to_owned())
    }

    pub fn inspect_cmd(&self, name: &str) -> Cmd {
        self.bin.cmd(format!("inspect container {name}")).args([
            "inspect",
            "--type",
            "container",
            name,
        ])
    }

    /// `docker inspect --type container A B …` (one call for several containers).
    pub fn inspect_many_cmd(&self, names: &[String]) -> Cmd {
        self.bin
            .cmd(format!("inspect containers {}", names.join(", ")))
            .args(["inspect", "--type", "container"])
            .args(names.iter().cloned())
    }

    /// `docker inspect --type container A B …` read for the port bindings (rebuilding the port
    /// registry).
    pub fn port_bindings_cmd(&self, names: &[String]) -> Cmd {
        self.bin
            .cmd("read the port bindings of kilter clusters")
            .args(["inspect", "--type", "container"])
            .args(names.iter().cloned())
    }

    /// Inspect one container: `Ok(None)` when it does not exist; exit 3 when the daemon is down.
    pub fn inspect(&self, runner: &Runner<'_>, name: &str) -> Result<Option<Container>> {
        let cmd = self.inspect_cmd(name);
        let out = runner.run_unchecked(&cmd)?;
        interpret_inspect(runner, &cmd, &out)
    }

    pub fn start_cmd(&self, name: &str) -> Cmd {
        self.bin.cmd(format!("start node container {name}")).args(["start", name]).mutate()
    }
    pub fn stop_cmd(&self, name: &str) -> Cmd {
        self.bin.cmd(format!("stop node container {name}")).args(["stop", name]).mutate()
    }
    pub fn unpause_cmd(&self, name: &str) -> Cmd {
        self.bin.cmd(format!("unpause node container {name}")).args(["unpause", name]).mutate()
    }

    /// `docker start A B …`
    pub fn start_many_cmd(&self, names: &[String]) -> Cmd {
        self.bin
            .cmd(format!("start {}", names.join(", ")))
            .arg("start")
            .args(names.iter().cloned())
            .mutate()
    }
    /// `docker stop A B …`
    pub fn stop_many_cmd(&self, names: &[String]) -> Cmd {
        self.bin
            .cmd(format!("stop {}", names.join(", ")))
            .arg("stop")
            .args(names.iter().cloned())
            .mutate()
    }
    /// `docker rm -f A B …` (a missing name is not an error)
    pub fn rm_force_cmd(&self, names: &[String]) -> Cmd {
        self.bin
            .cmd(format!("remove {}", names.join(", ")))
            .args(["rm", "-f"])
            .args(names.iter().cloned())
            .mutate()
    }
    /// `docker volume create --label K=V NAME` (creating an existing volume is fine)
    pub fn volume_create_cmd(&self, name: &str, labels: &[(&str, &str)]) -> Cmd {
        let mut c = self.bin.cmd(format!("create volume {name}")).args(["volume", "create"]);
        for (k, v) in labels {
            c = c.args(["--label".to_owned(), format!("{k}={v}")]);
        }
        c.arg(name).mutate()
    }
    /// `docker volume inspect A B …` (a missing one is reported on stderr, exit 1)
    pub fn volume_inspect_cmd(&self, names: &[String]) -> Cmd {
        self.bin
            .cmd(format!("inspect volumes {}", names.join(", ")))
            .args(["volume", "inspect"])
            .args(names.iter().cloned())
    }
    /// `docker volume rm A B …`
    pub fn volume_rm_cmd(&self, names: &[String]) -> Cmd {
        self.bin
            .cmd(format!("remove volumes {}", names.join(", ")))
            .args(["volume", "rm"])
            .args(names.iter().cloned())
            .mutate()
    }
    /// `docker volume ls --filter label=K --format '{{.Name}}'`
    pub fn volume_ls_cmd(&self, label: &str) -> Cmd {
        self.bin.cmd("list kilter's volumes").args([
            "volume",
            "ls",
            "--filter",
            &format!("label={label}"),
            "--format",
            "{{.Name}}",
        ])
    }
    /// `docker network inspect --format '{{.Name}}' NET`
    pub fn network_inspect_cmd(&self, net: &str) -> Cmd {
        self.bin.cmd(format!("look for docker network {net}")).args([
            "network",
            "inspect",
            "--format",
            "{{.Name}}",
            net,
        ])
    }
    /// `docker network connect NET CONTAINER`
    pub fn network_connect_cmd(&self, net: &str, container: &str) -> Cmd {
        self.bin
            .cmd(format!("connect {container} to the {net} network"))
            .args(["network", "connect", net, container])
            .mutate()
    }
    /// `docker run -d …` from a [`RunSpec`].
    pub fn run_cmd(&self, spec: &RunSpec) -> Cmd {
        let mut c = self.bin.cmd(format!("start {}", spec.name)).args([
            "run",
            "-d",
            "--name",
            &spec.name,
            "--restart",
            &spec.restart,
        ]);
        for p in &spec.publish {
            c = c.args(["-p", p]);
        }
        if let Some(net) = &spec.network {
            c = c.args(["--network", net]);
        }
        for v in &spec.volumes {
            c = c.args(["-v", v]);
        }
        for (k, v) in &spec.env {
            c = c.args(["-e".to_owned(), format!("{k}={v}")]);
        }
        for (k, v) in &spec.labels {
            c = c.args(["--label".to_owned(), format!("{k}={v}")]);
        }
        c.arg(&spec.image).mutate()
    }
    /// `docker exec NODE ARGS…` (a probe)
    pub fn exec_query_cmd(&self, node: &str, what: &str, args: &[String]) -> Cmd {
        self.bin.cmd(what).args(["exec", node]).args(args.iter().cloned())
    }
    /// `docker exec NODE ARGS…` that changes something
    pub fn exec_cmd(&self, node: &str, what: &str, args: &[String]) -> Cmd {
        self.exec_query_cmd(node, what, args).mutate()
    }
    /// `docker exec -i NODE ARGS… < FILE`
    pub fn exec_stdin_cmd(&self, node: &str, what: &str, args: &[String], stdin: &Utf8Path) -> Cmd {
        self.bin
            .cmd(what)
            .args(["exec", "-i", node])
            .args(args.iter().cloned())
            .stdin(Stdin::File(stdin.to_owned()))
            .mutate()
    }

    /// kilter's clusters and shared containers in one `docker ps -a`: every container whose name
    /// contains one of `prefixes` (repeated `name` filters are ORed); the caller keeps the ones
    /// whose labels say what they are.
    pub fn ps_names_cmd(&self, prefixes: &[String]) -> Cmd {
        let mut c = self.bin.cmd("list kilter's containers").args(["ps", "-a"]);
        for p in prefixes {
            c = c.args(["--filter".to_owned(), format!("name={p}")]);
        }
        c.args(["--format", "{{json .}}"])
    }

    /// Like [`Docker::kilter_nodes`], from one `docker ps -a` that selects by name
    /// ([`Docker::ps_names_cmd`]): the nodes, and every listed container (for the shared
    /// registry and caches, which carry no kind label).
    pub fn kilter_nodes_named(
        &self,
        runner: &Runner<'_>,
        prefixes: &[String],
    ) -> Result<(Vec<KilterNode>, Vec<PsEntry>)> {
        let cmd = self.ps_names_cmd(prefixes);
        let out = runner.run_unchecked(&cmd)?;
        if daemon_unreachable(&out.stderr) {
            return Err(daemon_error(&out.stderr).into());
        }
        if !out.success() {
            return Err(runner.failed(&cmd, &out, None).into());
        }
        let entries = parse_ps(&out.stdout)?;
        Ok((kilter_nodes(&entries), entries))
    }

    /// Every kilter node container (any state) from one `docker ps -a`; exit 3 when the daemon
    /// is down.
    pub fn kilter_nodes(&self, runner: &Runner<'_>) -> Result<Vec<KilterNode>> {
        let cmd = self.ps_kind_cmd();
        let out = runner.run_unchecked(&cmd)?;
        if daemon_unreachable(&out.stderr) {
            return Err(daemon_error(&out.stderr).into());
        }
        if !out.success() {
            return Err(runner.failed(&cmd, &out, None).into());
        }
        Ok(kilter_nodes(&parse_ps(&out.stdout)?))
    }

    /// CPU and memory of the named containers, one sample each (`--no-stream`; docker needs
    /// two readings for the CPU figure, so this takes a second or two on a real engine).
    /// Containers are named explicitly so that only kilter's nodes are sampled.
    pub fn stats_cmd<S: AsRef<str>>(&self, names: &[S]) -> Cmd {
        self.bin
            .cmd("read CPU and memory use of the kilter nodes")
            .args(["stats", "--no-stream", "--format", "{{json .}}"])
            .args(names.iter().map(|n| n.as_ref().to_owned()))
    }

    /// CPU and memory of the named kilter nodes (see [`Docker::stats_cmd`]), killed after
    /// `limit`. A node removed since it was listed fails docker's whole call — `No such
    /// container: X` when it was gone before the call, a bare `EOF` when it went while being
    /// sampled (measured with docker 20.10 and 28.2 clients) — so on such a failure the nodes
    /// are listed again and the call made once more for those still running. `Err` says why
    /// there are no figures.
    pub fn usage(
        &self,
        runner: &Runner<'_>,
        names: &[&str],
        limit: std::time::Duration,
    ) -> Result<Vec<Usage>, String> {
        let mut names: Vec<String> = names.iter().map(|n| (*n).to_owned()).collect();
        for attempt in 0..2 {
            if names.is_empty() {
                return Ok(Vec::new());
            }
            let cmd = self.stats_cmd(&names);
            let out = runner.run_for(&cmd, limit).map_err(|e| format!("{e:#}"))?;
            if out.success() {
                return parse_stats(&out.stdout).map_err(|e| format!("{e:#}"));
            }
            if attempt > 0 || out.timed_out || !stats_lost_a_container(&out.stderr) {
                return Err(format!("`{cmd}`: {}", out.reason()));
            }
            let still: Vec<String> = self
                .kilter_nodes(runner)
                .map_err(|e| format!("{e:#}"))?
                .into_iter()
                .filter(KilterNode::running)
                .map(|n| n.node)
                .collect();
            names.retain(|n| still.contains(n));
        }
        Err("internal: no answer from docker stats".into())
    }

    /// The daemon's own facts: `MemTotal` (bytes the engine can hand out; inside Docker
    /// Desktop's VM that is the VM's memory) and `NCPU`.
    pub fn info_json_cmd(&self) -> Cmd {
        self.bin.cmd("ask the Docker daemon about itself").args(["info", "--format", "{{json .}}"])
    }

    /// Every kind cluster's containers, one `docker ps -a` call.
    pub fn ps_kind_cmd(&self) -> Cmd {
        self.bin.cmd("list kind node containers").args([
            "ps",
            "-a",
            "--filter",
            &format!("label={CLUSTER_LABEL}"),
            "--format",
            "{{json .}}",
        ])
    }
}

/// `docker run -d` of a long-running service container.
#[derive(Debug, Clone, Default)]
pub struct RunSpec {
    pub name: String,
    pub image: String,
    /// `--restart` policy, e.g. `unless-stopped`
    pub restart: String,
    /// `-p` values, e.g. `127.0.0.1:5001:5000`
    pub publish: Vec<String>,
    pub network: Option<String>,
    /// `-v` values, e.g. `kilter-registry:/var/lib/registry`
    pub volumes: Vec<String>,
    pub env: Vec<(String, String)>,
    pub labels: Vec<(String, String)>,
}

/// Interpret `docker inspect` of several names: the objects found (missing ones are simply
/// absent); exit 3 when the daemon is down; an error for anything but "no such".
pub fn interpret_inspect_many(
    runner: &Runner<'_>,
    cmd: &Cmd,
    out: &Output,
) -> Result<Vec<Container>> {
    if daemon_unreachable(&out.stderr) {
        return Err(daemon_error(&out.stderr).into());
    }
    if out.success() || only_missing(&out.stderr, "no such") {
        return parse_inspect_all(&out.stdout);
    }
    Err(runner.failed(cmd, out, Some("check `docker info`".into())).into())
}

/// Shared by sequential and concurrent callers: interpret an inspect output.
pub fn interpret_inspect(
    runner: &Runner<'_>,
    cmd: &Cmd,
    out: &Output,
) -> Result<Option<Container>> {
    if daemon_unreachable(&out.stderr) {
        return Err(daemon_error(&out.stderr).into());
    }
    if out.success() {
        return parse_inspect(&out.stdout);
    }
    if out.stderr.to_ascii_lowercase().contains("no such") {
        return Ok(None);
    }
    Err(runner.failed(cmd, out, Some("check `docker info`".into())).into())
}

/// One line of `docker ps --format '{{json .}}'` (all values are strings).
#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct PsEntry {
    #[serde(default, rename = "ID")]
    pub id: String,
    #[serde(default)]
    pub names: String,
    #[serde(default)]
    pub labels: String,
    #[serde(default)]
    pub state: String,
    #[serde(default)]
    pub status: String,
    #[serde(default)]
    pub ports: String,
}

impl PsEntry {
    pub fn label(&self, key: &str) -> Option<&str> {
        self.labels
            .split(',')
            .find_map(|kv| kv.split_once('=').filter(|(k, _)| *k == key).map(|(_, v)| v))
    }
}

/// A kilter node container seen by `docker ps`: the kind cluster label `kilter-<name>` on the
/// container `kilter-<name>-control-plane` (other kind clusters are not kilter's).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct KilterNode {
    pub project: String,
    pub cluster: String,
    pub node: String,
    /// Docker's state word: `running`, `exited`, `paused`, `created`, …
    pub state: String,
    /// Docker's status text (`Up 2 hours`, `Exited (137) 3 minutes ago`).
    pub status: String,
}

impl KilterNode {
    pub fn running(&self) -> bool {
        self.state == "running"
    }
}

/// The kilter nodes among `docker ps` entries, sorted by project name.
pub fn kilter_nodes(entries: &[PsEntry]) -> Vec<KilterNode> {
    let mut nodes: Vec<KilterNode> = entries
        .iter()
        .filter_map(|e| {
            let cluster = e.label(CLUSTER_LABEL)?;
            let project = cluster.strip_prefix("kilter-")?;
            (e.names == format!("{cluster}-control-plane")).then(|| KilterNode {
                project: project.to_owned(),
                cluster: cluster.to_owned(),
                node: e.names.clone(),
                state: e.state.clone(),
                status: e.status.clone(),
            })
        })
        .collect();
    nodes.sort_by(|a, b| a.project.cmp(&b.project));
    nodes
}

/// One container's usage from `docker stats --no-stream --format '{{json .}}'`. A figure docker
/// could not read (`--`, e.g. a container that stopped while it was sampled) is `None`.
#[derive(Debug, Clone, PartialEq)]
pub struct Usage {
    /// The container name (without docker's leading `/`).
    pub name: String,
    /// Percent of one CPU (a busy container on 4 CPUs can show up to 400%).
    pub cpu_percent: Option<f64>,
    pub memory_bytes: Option<u64>,
    /// What the container may use: its limit, or the engine's memory when it has none.
    pub memory_limit_bytes: Option<u64>,
    pub memory_percent: Option<f64>,
}

/// The fields of a `docker stats` JSON line kilter reads (docker's statsContext: every value is
/// a string).
#[derive(Debug, Deserialize)]
#[serde(rename_all = "PascalCase")]
struct StatsLine {
    #[serde(default)]
    container: String,
    #[serde(default)]
    name: String,
    #[serde(default, rename = "CPUPerc")]
    cpu_perc: String,
    #[serde(default)]
    mem_usage: String,
    #[serde(default)]
    mem_perc: String,
}

/// Parse `docker stats --no-stream --format '{{json .}}'` output, one object per line.
pub fn parse_stats(stdout: &str) -> Result<Vec<Usage>> {
    stdout
        .lines()
        .filter(|l| !l.trim().is_empty())
        .map(|l| {
            let s: StatsLine = serde_json::from_str(l)
                .map_err(|e| anyhow::anyhow!("could not parse `docker stats` line {l:?}: {e}"))?;
            // `MemUsage` is "used / limit" on Linux and only "used" on Windows.
            let (used, limit) = match s.mem_usage.split_once(" / ") {
                Some((u, l)) => (parse_size(u), parse_size(l)),
                None => (parse_size(&s.mem_usage), None),
            };
            let name = if s.name.is_empty() || s.name == "--" { s.container } else { s.name };
            Ok(Usage {
                name: name.trim_start_matches('/').to_owned(),
                cpu_percent: parse_percent(&s.cpu_perc),
                memory_bytes: used,
                memory_limit_bytes: limit,
                memory_percent: parse_percent(&s.mem_perc),
            })
        })
        .collect()
}

/// Whether a failed `docker stats` failed because a named container went away: before the
/// call (`Error response from daemon: No such container: X`) or while it was sampled (the
/// CLI prints only `EOF`).
pub fn stats_lost_a_container(stderr: &str) -> bool {
    stderr.contains("No such container") || stderr.lines().any(|l| l.trim() == "EOF")
}

/// `2.50%` → 2.5; `--` (no data) → `None`.
pub fn parse_percent(s: &str) -> Option<f64> {
    let v: f64 = s.trim().strip_suffix('%')?.trim().parse().ok()?;
    (v.is_finite() && v >= 0.0).then_some(v)
}

/// A size as docker prints it, back to bytes: binary units from go-units `BytesSize`
/// (`650MiB`, `7.598GiB`, `1.5KiB`, `0B`) and decimal ones from `HumanSize` (`12.3MB`, `1kB`).
/// Docker rounds to 4 significant digits, so the result is within 0.05% of the real figure.
pub fn parse_size(s: &str) -> Option<u64> {
    let s = s.trim();
    let split = s.find(|c: char| !(c.is_ascii_digit() || c == '.' || c == 'e' || c == '+'))?;
    let (num, unit) = s.split_at(split);
    let n: f64 = num.parse().ok()?;
    let factor: f64 = match unit.trim() {
        "B" => 1.0,
        "KiB" => 1024.0,
        "MiB" => 1024f64.powi(2),
        "GiB" => 1024f64.powi(3),
        "TiB" => 1024f64.powi(4),
        "PiB" => 1024f64.powi(5),
        "kB" | "KB" => 1e3,
        "MB" => 1e6,
        "GB" => 1e9,
        "TB" => 1e12,
        "PB" => 1e15,
        _ => return None,
    };
    let bytes = n * factor;
    (bytes.is_finite() && bytes >= 0.0 && bytes < u64::MAX as f64).then(|| bytes.round() as u64)
}

/// `docker run`/`start` could not publish a port because something holds it (docker's own
/// "port is already allocated").
pub fn port_allocated(stderr: &str) -> bool {
    stderr.contains("port is already allocated")
}

/// `docker run -p` failed on a port held by docker or by another program.
pub fn publish_failed(stderr: &str) -> bool {
    port_allocated(stderr) || stderr.contains("address already in use")
}

/// `docker network connect`: the container is on that network already.
pub fn already_on_network(stderr: &str) -> bool {
    stderr.contains("already exists in network")
}

/// `docker run --name N`: a container of that name exists.
pub fn name_in_use(stderr: &str) -> bool {
    stderr.contains("is already in use by container")
}

/// `docker run`: the image could not be had (not local, and the pull failed or was refused).
pub fn image_unavailable(stderr: &str) -> bool {
    stderr.contains("pull access denied")
        || stderr.contains("manifest unknown")
        || stderr.contains("Unable to find image")
}

/// Every non-empty line of stderr says that a named object does not exist (`no_such`, e.g.
/// `no such volume`, compared without case); true for an empty stderr.
fn only_missing(stderr: &str, no_such: &str) -> bool {
    stderr
        .lines()
        .filter(|l| !l.trim().is_empty())
        .all(|l| l.to_ascii_lowercase().contains(no_such))
}

/// One object of `docker volume inspect`.
#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct Volume {
    pub name: String,
    #[serde(default)]
    pub labels: Option<BTreeMap<String, String>>,
}

impl Volume {
    pub fn label(&self, key: &str) -> Option<&str> {
        self.labels.as_ref().and_then(|l| l.get(key)).map(String::as_str)
    }
}

/// Parse `docker volume inspect` output (a JSON array; empty output when every name was
/// missing).
pub fn parse_volumes(stdout: &str) -> Result<Vec<Volume>> {
    if stdout.trim().is_empty() {
        return Ok(Vec::new());
    }
    serde_json::from_str(stdout)
        .map_err(|e| anyhow::anyhow!("could not parse `docker volume inspect` output: {e}"))
}

/// Interpret `docker volume inspect A B …`: the volumes found (missing ones are simply absent);
/// exit 3 when the daemon is down; an error for anything but "no such volume".
pub fn interpret_volume_inspect(
    runner: &Runner<'_>,
    cmd: &Cmd,
    out: &Output,
) -> Result<Vec<Volume>> {
    if daemon_unreachable(&out.stderr) {
        return Err(daemon_error(&out.stderr).into());
    }
    if !out.success() && !only_missing(&out.stderr, "no such volume") {
        return Err(runner.failed(cmd, out, None).into());
    }
    parse_volumes(&out.stdout).map_err(|e| anyhow::anyhow!("could not read `{cmd}`: {e:#}"))
}

/// The names in `--format '{{.Name}}'` output, one a line.
pub fn parse_names(stdout: &str) -> Vec<String> {
    stdout.lines().map(str::trim).filter(|l| !l.is_empty()).map(str::to_owned).collect()
}

/// What `docker exec NODE cat F1 F2 …` read.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CatOutput<'a> {
    /// cat (and so `docker exec`) exited 0: every file was read.
    pub complete: bool,
    /// The indices of the files cat reported as missing (`cat: F: No such file or directory`).
    pub missing: Vec<usize>,
    /// What it printed: the files it could read, in order.
    pub text: &'a str,
}

/// Read the answer of `docker exec NODE cat PATHS…`.
pub fn parse_cat<'a>(out: &'a Output, paths: &[String]) -> CatOutput<'a> {
    let missing = if out.success() {
        Vec::new()
    } else {
        (0..paths.len())
            .filter(|&i| {
                out.stderr.lines().any(|l| l.contains(&paths[i]) && l.contains("No such file"))
            })
            .collect()
    };
    CatOutput { complete: out.success(), missing, text: &out.stdout }
}

/// Parse NDJSON from `docker ps --format '{{json .}}'`.
pub fn parse_ps(stdout: &str) -> Result<Vec<PsEntry>> {
    stdout
        .lines()
        .filter(|l| !l.trim().is_empty())
        .map(|l| {
            serde_json::from_str(l)
                .map_err(|e| anyhow::anyhow!("could not parse `docker ps` line {l:?}: {e}"))
        })
        .collect()
}

#[cfg(test)]
mod tests;
