//! `docker inspect` and `docker volume inspect`: the fields kilter reads, their parsers, and
//! how a failed inspect is read (absent, daemon down, or an error).

use std::collections::BTreeMap;

use anyhow::Result;
use serde::Deserialize;

use super::{daemon_error, daemon_unreachable, only_missing};
use crate::exec::{Cmd, Output, Runner};

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
    /// `--sysctl K=V` (absent when none).
    #[serde(default)]
    pub sysctls: Option<BTreeMap<String, String>>,
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

    /// The value of sysctl `key` the container was created with (`HostConfig.Sysctls`).
    pub fn sysctl(&self, key: &str) -> Option<&str> {
        self.host_config.sysctls.as_ref().and_then(|s| s.get(key)).map(String::as_str)
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
