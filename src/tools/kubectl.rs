//! `kubectl`, always with `KUBECONFIG=<project kubeconfig>` and `--context kind-kilter-<name>`.

use anyhow::Result;
use camino::Utf8PathBuf;
use serde::Deserialize;

use super::Bin;
use crate::exec::Cmd;

/// kubectl bound to one project's kubeconfig and context.
pub struct Kubectl<'a> {
    pub bin: &'a Bin,
    pub kubeconfig: Utf8PathBuf,
    pub context: String,
}

impl Kubectl<'_> {
    /// `KUBECONFIG=… kubectl --context C <args>`
    pub fn cmd<I, S>(&self, summary: impl Into<String>, args: I) -> Cmd
    where
        I: IntoIterator<Item = S>,
        S: Into<String>,
    {
        self.bin
            .cmd(summary)
            .env("KUBECONFIG", self.kubeconfig.as_str())
            .args(["--context", self.context.as_str()])
            .args(args)
    }

    pub fn readyz_cmd(&self) -> Cmd {
        self.cmd("ask the API server whether it is ready", ["get", "--raw", "/readyz"])
    }

    /// One call for both the node's readiness and the namespace's existence.
    pub fn nodes_and_namespaces_cmd(&self) -> Cmd {
        self.cmd("read nodes and namespaces", ["get", "nodes,namespaces", "-o", "json"])
    }

    pub fn create_namespace_cmd(&self, ns: &str) -> Cmd {
        self.cmd(format!("create namespace {ns}"), ["create", "namespace", ns]).mutate()
    }
}

/// A generic `List` from `kubectl get … -o json`.
#[derive(Debug, Deserialize)]
pub struct List {
    #[serde(default)]
    pub items: Vec<Object>,
}

#[derive(Debug, Deserialize)]
pub struct Object {
    pub kind: String,
    pub metadata: Metadata,
    #[serde(default)]
    pub status: serde_json::Value,
}

#[derive(Debug, Deserialize)]
pub struct Metadata {
    pub name: String,
}

/// What the `nodes,namespaces` list says.
#[derive(Debug, PartialEq, Eq)]
pub struct ClusterView {
    pub nodes: usize,
    pub nodes_ready: usize,
    pub namespace_exists: bool,
    /// `reason: message` of a node that is not Ready, for timeout messages.
    pub not_ready_reason: Option<String>,
}

pub fn parse_cluster_view(stdout: &str, namespace: &str) -> Result<ClusterView> {
    let list: List = serde_json::from_str(stdout)
        .map_err(|e| anyhow::anyhow!("could not parse `kubectl get` output: {e}"))?;
    let mut view =
        ClusterView { nodes: 0, nodes_ready: 0, namespace_exists: false, not_ready_reason: None };
    for item in &list.items {
        match item.kind.as_str() {
            "Node" => {
                view.nodes += 1;
                let ready = item.status["conditions"].as_array().and_then(|cs| {
                    cs.iter().find(|c| c["type"] == "Ready").map(|c| {
                        (
                            c["status"] == "True",
                            format!(
                                "{}: {}",
                                c["reason"].as_str().unwrap_or(""),
                                c["message"].as_str().unwrap_or("")
                            ),
                        )
                    })
                });
                match ready {
                    Some((true, _)) => view.nodes_ready += 1,
                    Some((false, why)) => view.not_ready_reason = Some(why),
                    None => view.not_ready_reason = Some("no Ready condition yet".into()),
                }
            }
            "Namespace" if item.metadata.name == namespace => view.namespace_exists = true,
            _ => {}
        }
    }
    Ok(view)
}

/// The last line of kubectl's stderr (the message after klog noise).
pub fn last_line(stderr: &str) -> &str {
    stderr.lines().rev().find(|l| !l.trim().is_empty()).unwrap_or("").trim()
}

pub fn already_exists(stderr: &str) -> bool {
    stderr.contains("(AlreadyExists)")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ready_node_and_namespace() {
        let v = parse_cluster_view(
            include_str!("../../fixtures/kubectl/get-nodes-namespaces.json"),
            "shop-dev",
        )
        .expect("parses");
        assert_eq!(
            v,
            ClusterView {
                nodes: 1,
                nodes_ready: 1,
                namespace_exists: true,
                not_ready_reason: None
            }
        );
        let v = parse_cluster_view(
            include_str!("../../fixtures/kubectl/get-nodes-namespaces.json"),
            "blog-dev",
        )
        .expect("parses");
        assert!(!v.namespace_exists);
    }

    #[test]
    fn not_ready_node_reports_why() {
        let v = parse_cluster_view(
            include_str!("../../fixtures/kubectl/get-nodes-notready.json"),
            "shop-dev",
        )
        .expect("parses");
        assert_eq!(v.nodes_ready, 0);
        assert!(v.not_ready_reason.as_deref().unwrap_or("").contains("KubeletNotReady"), "{v:?}");
    }

    #[test]
    fn last_line_skips_klog_noise() {
        let s = "E0205 10:23:18.252079     957 memcache.go:265] \"Unhandled Error\" err=\"couldn't get current server API group list\"\nThe connection to the server 127.0.0.1:6443 was refused - did you specify the right host or port?\n";
        assert!(last_line(s).starts_with("The connection to the server"));
    }
}

/// One pod row for `kilter status` (kubectl's READY / STATUS / RESTARTS / AGE columns).
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct PodRow {
    pub name: String,
    pub ready: String,
    pub containers_ready: u32,
    pub containers: u32,
    /// Phase, or the waiting/terminated reason (e.g. `CrashLoopBackOff`), or `Terminating`.
    pub status: String,
    pub restarts: u32,
    pub age_seconds: Option<i64>,
    pub age: String,
}

/// Parse `kubectl get pods -o json` (a `List`; zero fields are omitted by kubectl).
pub fn parse_pods(stdout: &str, now: i64) -> Result<Vec<PodRow>> {
    let v: serde_json::Value = serde_json::from_str(stdout)
        .map_err(|e| anyhow::anyhow!("could not parse `kubectl get pods` output: {e}"))?;
    let mut rows = Vec::new();
    for p in v["items"].as_array().map(Vec::as_slice).unwrap_or_default() {
        let name = p["metadata"]["name"].as_str().unwrap_or("?").to_owned();
        let spec_n = p["spec"]["containers"].as_array().map_or(0, Vec::len) as u32;
        let statuses = p["status"]["containerStatuses"].as_array().cloned().unwrap_or_default();
        let containers = spec_n.max(statuses.len() as u32);
        let ready_n = statuses.iter().filter(|s| s["ready"] == true).count() as u32;
        let restarts =
            statuses.iter().map(|s| s["restartCount"].as_u64().unwrap_or(0) as u32).sum();
        let reason = statuses.iter().find_map(|s| {
            s["state"]["waiting"]["reason"]
                .as_str()
                .or_else(|| s["state"]["terminated"]["reason"].as_str())
                .map(str::to_owned)
        });
        let init_reason = p["status"]["initContainerStatuses"].as_array().and_then(|a| {
            a.iter()
                .find_map(|s| s["state"]["waiting"]["reason"].as_str().map(|r| format!("Init:{r}")))
        });
        let status = if p["metadata"]["deletionTimestamp"].is_string() {
            "Terminating".to_owned()
        } else {
            init_reason
                .or(reason)
                .unwrap_or_else(|| p["status"]["phase"].as_str().unwrap_or("Unknown").to_owned())
        };
        let started = p["status"]["startTime"]
            .as_str()
            .or_else(|| p["metadata"]["creationTimestamp"].as_str());
        let age_seconds = started.and_then(crate::time::parse_rfc3339).map(|t| now - t);
        rows.push(PodRow {
            name,
            ready: format!("{ready_n}/{containers}"),
            containers_ready: ready_n,
            containers,
            status,
            restarts,
            age: age_seconds.map(crate::time::age).unwrap_or_else(|| "-".into()),
            age_seconds,
        });
    }
    Ok(rows)
}

#[cfg(test)]
mod pod_tests {
    use super::*;

    #[test]
    fn pods_in_every_state() {
        let now = crate::time::parse_rfc3339("2026-11-23T21:40:00Z").expect("time");
        let rows =
            parse_pods(include_str!("../../fixtures/kubectl/get-pods.json"), now).expect("parses");
        let by = |n: &str| rows.iter().find(|r| r.name.starts_with(n)).cloned().expect(n);
        let web = by("web-");
        assert_eq!(
            (web.ready.as_str(), web.status.as_str(), web.restarts, web.age.as_str()),
            ("1/1", "Running", 0, "10m")
        );
        let api = by("api-");
        assert_eq!(
            (api.ready.as_str(), api.status.as_str(), api.restarts),
            ("0/1", "CrashLoopBackOff", 5)
        );
        let pending = by("worker-");
        assert_eq!(
            (pending.ready.as_str(), pending.status.as_str(), pending.restarts),
            ("0/1", "Pending", 0)
        );
        let db = by("postgres-0");
        assert_eq!((db.ready.as_str(), db.status.as_str()), ("2/2", "Running"));
        assert!(
            parse_pods("{\"apiVersion\":\"v1\",\"items\":[],\"kind\":\"List\"}", now)
                .expect("empty")
                .is_empty()
        );
    }
}
