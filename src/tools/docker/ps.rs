//! `docker ps --format '{{json .}}'` and `--format '{{.Name}}'` output, and the kilter nodes
//! among the containers it lists.

use anyhow::Result;
use serde::Deserialize;

use super::CLUSTER_LABEL;

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

/// The names in `--format '{{.Name}}'` output, one a line.
pub fn parse_names(stdout: &str) -> Vec<String> {
    stdout.lines().map(str::trim).filter(|l| !l.is_empty()).map(str::to_owned).collect()
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
