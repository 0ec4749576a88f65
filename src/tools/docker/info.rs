//! `docker info --format '{{json .}}'`: the daemon's facts kilter reads.

use anyhow::Result;
use serde::Deserialize;

/// The fields of `docker info` kilter reads. A client that reached no daemon prints the zero
/// value of every field (empty strings, zeros), which [`DockerInfo::server`] and the accessors
/// read as "not known".
#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct DockerInfo {
    #[serde(default)]
    pub server_version: String,
    #[serde(default)]
    pub docker_root_dir: String,
    /// Bytes the engine can hand out (inside Docker Desktop's VM: the VM's memory).
    #[serde(default)]
    pub mem_total: u64,
    #[serde(default, rename = "NCPU")]
    pub ncpu: u64,
}

impl DockerInfo {
    /// Parse the JSON; an error for anything else (never a silent default).
    pub fn parse(text: &str) -> Result<DockerInfo> {
        serde_json::from_str(text.trim())
            .map_err(|e| anyhow::anyhow!("could not parse `docker info` output: {e}"))
    }
    /// The daemon's version, when a daemon answered.
    pub fn server(&self) -> Option<&str> {
        Some(self.server_version.as_str()).filter(|v| !v.is_empty())
    }
    /// Docker's data root (`/var/lib/docker`), when known.
    pub fn root_dir(&self) -> Option<&str> {
        Some(self.docker_root_dir.as_str()).filter(|d| !d.is_empty())
    }
    /// The engine's memory, when known.
    pub fn memory(&self) -> Option<u64> {
        Some(self.mem_total).filter(|m| *m > 0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn captured_info_of_a_20_10_daemon() {
        let i = DockerInfo::parse(include_str!("../../../fixtures/docker/captured-info.json"))
            .expect("parses");
        assert_eq!(i.server(), Some("20.10.24+dfsg1"));
        assert_eq!(i.root_dir(), Some("/var/lib/docker"));
        assert_eq!(i.memory(), Some(25_276_203_008));
        assert_eq!(i.ncpu, 2);
    }

    #[test]
    fn no_daemon_is_zero_values() {
        // What a client prints when no daemon answers (docker's zero `Info`).
        let i = DockerInfo::parse(
            r#"{"ID":"","Containers":0,"Driver":"","DockerRootDir":"","NCPU":0,"MemTotal":0,"ServerVersion":"","ClientInfo":{"Debug":false}}"#,
        )
        .expect("parses");
        assert_eq!((i.server(), i.root_dir(), i.memory()), (None, None, None));
    }

    #[test]
    fn not_json_is_an_error() {
        assert!(DockerInfo::parse("20.10.24").is_err());
        assert!(DockerInfo::parse("{\"ServerVersion\": ").is_err());
        assert!(DockerInfo::parse("{\"MemTotal\": \"lots\"}").is_err());
    }
}
