//! `docker`: node container inspect/start/stop, daemon reachability, and cluster listing.

use std::collections::BTreeMap;

use anyhow::Result;
use serde::Deserialize;

use super::Bin;
use crate::error::{Code, Exit};
use crate::exec::{Cmd, Output, Runner};

pub const CLUSTER_LABEL: &str = "io.x-k8s.kind.cluster";

pub struct Docker<'a> {
    pub bin: &'a Bin,
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
