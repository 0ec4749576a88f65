//! What the tools say about their versions: each tool's version command and the parse of its
//! answer, and `kubectl version -o json` (client and server) for the skew check.

use anyhow::Result;
use serde::Deserialize;

use super::{Bin, Tool};
use crate::exec::Cmd;

/// A version as a tool printed it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Version {
    /// major, minor, patch (a missing patch is 0)
    pub number: (u64, u64, u64),
    /// The word as the tool wrote it, without a leading `v` (`20.10.24+dfsg1`).
    pub text: String,
}

/// `<tool> --version` / `version` / `version --client -o json`: the client's version only, no
/// daemon or cluster asked.
pub fn version_cmd(t: Tool, bin: &Bin) -> Cmd {
    let c = bin.cmd(format!("read the {} version", t.name()));
    match t {
        Tool::Docker => c.arg("--version"),
        Tool::Kind => c.arg("version"),
        Tool::Kubectl => c.args(["version", "--client", "-o", "json"]),
        Tool::Tilt => c.arg("version"),
    }
}

/// The answer of [`version_cmd`]: the first version in it, or `Err` with the (trimmed) text
/// when there is none.
pub fn parse_tool_version(stdout: &str) -> Result<Version, String> {
    find_version(stdout)
        .map(|(number, text)| Version { number, text: text.to_owned() })
        .ok_or_else(|| stdout.trim().to_owned())
}

/// `1.2.3` anywhere in a string (leading `v` allowed).
pub fn parse_version(s: &str) -> Option<(u64, u64, u64)> {
    find_version(s).map(|(v, _)| v)
}

/// The first version in `s`, with the word as the tool wrote it (without a leading `v`).
fn find_version(s: &str) -> Option<((u64, u64, u64), &str)> {
    for word in s.split(|c: char| c.is_whitespace() || c == ',' || c == '"') {
        let w = word.trim_start_matches('v');
        let mut it = w.split(['.', '-', '+']);
        let (Some(a), Some(b)) = (it.next(), it.next()) else { continue };
        let (Ok(a), Ok(b)) = (a.parse(), b.parse()) else { continue };
        let c = it.next().and_then(|c| c.parse().ok()).unwrap_or(0);
        return Some(((a, b, c), w));
    }
    None
}

/// `kubectl version -o json`: the client part always, the server part when the API answered
/// (kubectl prints the client part on stdout and exits 1 when it did not).
#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct KubectlVersion {
    #[serde(default)]
    pub client_version: Option<VersionInfo>,
    #[serde(default)]
    pub server_version: Option<VersionInfo>,
}

/// One side of `kubectl version -o json` (Kubernetes' `version.Info`, all strings).
#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct VersionInfo {
    #[serde(default)]
    pub major: String,
    /// `32`, or `32+` for builds from a vendor's tree
    #[serde(default)]
    pub minor: String,
    #[serde(default)]
    pub git_version: String,
}

impl VersionInfo {
    /// The minor version as a number (`32+` → 32).
    pub fn minor_number(&self) -> Option<i64> {
        self.minor.trim_end_matches('+').parse().ok()
    }
}

impl KubectlVersion {
    /// Parse `kubectl version -o json`; an error for anything that is not its JSON.
    pub fn parse(stdout: &str) -> Result<KubectlVersion> {
        serde_json::from_str(stdout)
            .map_err(|e| anyhow::anyhow!("could not parse `kubectl version -o json` output: {e}"))
    }
    pub fn client_minor(&self) -> Option<i64> {
        self.client_version.as_ref().and_then(VersionInfo::minor_number)
    }
    pub fn server_minor(&self) -> Option<i64> {
        self.server_version.as_ref().and_then(VersionInfo::minor_number)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn versions_from_every_tool_format() {
        assert_eq!(parse_version("kind v0.32.0 go1.24.6 linux/amd64"), Some((0, 32, 0)));
        assert_eq!(parse_version("v0.37.6, built 2026-08-08"), Some((0, 37, 6)));
        assert_eq!(parse_version("28.2.2"), Some((28, 2, 2)));
        assert_eq!(parse_version("20.10.24+dfsg1"), Some((20, 10, 24)));
        assert_eq!(
            parse_version("{\n  \"clientVersion\": {\n    \"gitVersion\": \"v1.32.2\""),
            Some((1, 32, 2))
        );
        assert_eq!(parse_version("nothing here"), None);
    }

    #[test]
    fn captured_docker_versions() {
        let v = parse_tool_version(include_str!("../../fixtures/docker/captured-version-28.2.txt"))
            .expect("a version");
        assert_eq!((v.number, v.text.as_str()), ((28, 2, 2), "28.2.2"));
        let v =
            parse_tool_version(include_str!("../../fixtures/docker/captured-version-20.10.txt"))
                .expect("a version");
        assert_eq!((v.number, v.text.as_str()), ((20, 10, 24), "20.10.24+dfsg1"));
        assert_eq!(parse_tool_version("  no version\n"), Err("no version".to_owned()));
    }

    #[test]
    fn captured_kubectl_client_version() {
        let text = include_str!("../../fixtures/kubectl/captured-version-client.json");
        // What doctor shows for the client: the first version word, as kubectl wrote it.
        let v = parse_tool_version(text).expect("a version");
        assert_eq!((v.number, v.text.as_str()), ((1, 32, 4), "1.32.4-dispatcher"));
        let k = KubectlVersion::parse(text).expect("parses");
        assert_eq!(k.client_minor(), Some(32), "`32+` is minor 32");
        assert_eq!(k.client_version.as_ref().map(|c| c.major.as_str()), Some("1"));
        assert_eq!(k.server_version, None);
        assert_eq!(k.server_minor(), None);
    }

    #[test]
    fn kubectl_version_without_a_server_keeps_the_client_part() {
        let k = KubectlVersion::parse(include_str!(
            "../../fixtures/kubectl/captured-version-no-server.stdout"
        ))
        .expect("parses");
        assert_eq!((k.client_minor(), k.server_minor()), (Some(32), None));
    }

    #[test]
    fn kubectl_version_with_a_server() {
        let text = r#"{
  "clientVersion": {"major": "1", "minor": "32+", "gitVersion": "v1.32.4-dispatcher"},
  "kustomizeVersion": "v5.5.0",
  "serverVersion": {"major": "1", "minor": "36", "gitVersion": "v1.36.1"}
}"#;
        let k = KubectlVersion::parse(text).expect("parses");
        assert_eq!((k.client_minor(), k.server_minor()), (Some(32), Some(36)));
        assert_eq!(k.server_version.map(|s| s.git_version), Some("v1.36.1".to_owned()));
    }

    #[test]
    fn not_kubectl_json_is_an_error() {
        assert!(KubectlVersion::parse("").is_err());
        assert!(KubectlVersion::parse("Client Version: v1.32.4").is_err());
        assert!(KubectlVersion::parse("{\"clientVersion\": ").is_err());
    }
}
