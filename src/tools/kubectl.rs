//! `kubectl`, always with `KUBECONFIG=<project kubeconfig>` and `--context kind-kilter-<name>`.

use anyhow::Result;
use camino::Utf8PathBuf;
use serde::Deserialize;

use super::Bin;
use crate::exec::{Cmd, Output, Stdin};

mod routes;
mod services;
pub use routes::{
    ROUTE_LABEL, ServiceInfo, interpret_get_service, parse_service, route_service_manifest,
    route_service_name,
};
pub use services::{
    Deleted, MANAGED_BY, NAME_LABEL, PodList, Readiness, ServicePods, parse_deleted, readiness,
};

/// kubectl bound to one project's kubeconfig and context.
pub struct Kubectl<'a> {
    pub bin: &'a Bin,
    pub kubeconfig: Utf8PathBuf,
    pub context: String,
}

impl<'a> Kubectl<'a> {
    pub fn new(bin: &'a Bin, kubeconfig: Utf8PathBuf, context: String) -> Kubectl<'a> {
        Kubectl { bin, kubeconfig, context }
    }
}

impl Kubectl<'_> {
    /// `KUBECONFIG=… kubectl --context C <args>`. The typed builders below use it; outside
    /// `tools` only `kilter db shell` still does (`tests/it/structure.rs` names it), until it
    /// moves to [`Kubectl::exec_interactive_cmd`].
    pub(in crate::tools) fn cmd<I, S>(&self, summary: impl Into<String>, args: I) -> Cmd
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

    /// `version -o json`: the client's version and, when the API answers, the server's.
    pub fn version_cmd(&self) -> Cmd {
        self.cmd("read the client and server versions", ["version", "-o", "json"])
    }

    /// `apply --server-side --field-manager=kilter -f FILE`: the `local-registry-hosting`
    /// ConfigMap written at `file`.
    pub fn hosting_apply_cmd(&self, file: &camino::Utf8Path) -> Cmd {
        self.cmd(
            format!(
                "tell Tilt about the local registry (ConfigMap {HOSTING_NAMESPACE}/{HOSTING_NAME})"
            ),
            ["apply", "--server-side", "--field-manager=kilter", "-f", file.as_str()],
        )
        .mutate()
    }

    /// `get configmap -n kube-public local-registry-hosting -o json`
    pub fn hosting_get_cmd(&self) -> Cmd {
        self.cmd(
            "read the local-registry-hosting ConfigMap",
            ["get", "configmap", "-n", HOSTING_NAMESPACE, HOSTING_NAME, "-o", "json"],
        )
    }

    /// `logs TYPE/NAME -n NS --all-containers --prefix [-f] [--tail N] [--since D]`, shown to
    /// the user (stdin closed).
    pub fn logs_cmd(&self, reference: &str, ns: &str, opts: &LogsOptions<'_>) -> Cmd {
        let mut a: Vec<String> = vec![
            "logs".into(),
            reference.into(),
            "-n".into(),
            ns.into(),
            "--all-containers".into(),
            "--prefix".into(),
        ];
        if opts.follow {
            a.push("-f".into());
        }
        if let Some(n) = opts.tail {
            a.extend(["--tail".into(), n.to_string()]);
        }
        if let Some(d) = opts.since {
            a.extend(["--since".into(), d.to_owned()]);
        }
        self.cmd(format!("show logs of {reference}"), a).stdin(Stdin::Null)
    }

    /// `exec -i [-t] TYPE/NAME -n NS -- ARGV…`: the user's command in a workload, with the
    /// user's stdin (and terminal, with `tty`). `argv` is passed through as is.
    pub fn exec_workload_cmd(&self, reference: &str, ns: &str, tty: bool, argv: &[String]) -> Cmd {
        let mut a: Vec<String> = vec!["exec".into(), "-i".into()];
        if tty {
            a.push("-t".into());
        }
        a.extend([reference.to_owned(), "-n".into(), ns.to_owned(), "--".into()]);
        a.extend(argv.iter().cloned());
        self.cmd(format!("run a command in {reference}"), a).stdin(Stdin::Inherit).mutate()
    }

    /// One call for both the node's readiness and the namespace's existence.
    pub fn nodes_and_namespaces_cmd(&self) -> Cmd {
        self.cmd("read nodes and namespaces", ["get", "nodes,namespaces", "-o", "json"])
    }

    /// [`Kubectl::nodes_and_namespaces_cmd`] that also reads the ConfigMaps of `kube-public`
    /// (where `local-registry-hosting` lives): the health poll checks the registry wiring too.
    pub fn nodes_namespaces_configmaps_cmd(&self) -> Cmd {
        self.cmd(
            "read nodes, namespaces and kube-public's ConfigMaps",
            ["get", "nodes,namespaces,configmaps", "-n", "kube-public", "-o", "json"],
        )
    }

    pub fn get_namespace_cmd(&self, ns: &str) -> Cmd {
        self.cmd(format!("look for namespace {ns}"), ["get", "namespace", ns, "-o", "name"])
    }

    /// `kubectl wait --for=condition=Ready node --all --timeout=…` (what a dry-run script runs
    /// for the node check; a real run polls `get nodes,namespaces`).
    pub fn wait_node_ready_cmd(&self, each: std::time::Duration) -> Cmd {
        self.cmd(
            "wait for the node to become Ready",
            [
                "wait".to_owned(),
                "--for=condition=Ready".to_owned(),
                "node".to_owned(),
                "--all".to_owned(),
                format!("--timeout={}s", each.as_secs().max(1)),
            ],
        )
    }

    /// `kubectl get pods -n NS -o json`
    pub fn pods_json_cmd(&self, ns: &str) -> Cmd {
        self.cmd("list pods", ["get", "pods", "-n", ns, "-o", "json"])
    }

    /// `kubectl get events -n NS`: the namespace's events as kubectl's table.
    pub fn events_cmd(&self, ns: &str) -> Cmd {
        self.cmd(format!("list the events of {ns}"), ["get", "events", "-n", ns])
    }

    /// `kubectl describe pods -n NS`: every pod's spec, state and events, as text.
    pub fn describe_pods_cmd(&self, ns: &str) -> Cmd {
        self.cmd(format!("describe the pods of {ns}"), ["describe", "pods", "-n", ns])
    }

    pub fn create_namespace_cmd(&self, ns: &str) -> Cmd {
        self.cmd(format!("create namespace {ns}"), ["create", "namespace", ns]).mutate()
    }
}

// ---------------------------------------------------------------------------------------------
// Services from kilter.yaml: server-side apply, delete by label, readiness

impl Kubectl<'_> {
    /// `apply --server-side --field-manager=kilter -f - < FILE`: the objects in FILE (each names
    /// its namespace), owned by the field manager `kilter`.
    pub fn apply_cmd(&self, summary: impl Into<String>, file: &camino::Utf8Path) -> Cmd {
        self.cmd(summary, ["apply", "--server-side", "--field-manager=kilter", "-f", "-"])
            .stdin(crate::exec::Stdin::File(file.to_owned()))
            .mutate()
    }

    /// `delete TYPES -n NS -l SELECTOR`: every object of those types the selector matches
    /// (`No resources found` when there is none, exit 0).
    pub fn delete_selected_cmd(
        &self,
        summary: impl Into<String>,
        types: &str,
        ns: &str,
        selector: &str,
    ) -> Cmd {
        self.cmd(summary, ["delete", types, "-n", ns, "-l", selector]).mutate()
    }

    /// `get TYPES -n NS -l SELECTOR -o json` (one `List` of every type).
    pub fn get_selected_cmd(
        &self,
        summary: impl Into<String>,
        types: &str,
        ns: &str,
        selector: &str,
    ) -> Cmd {
        self.cmd(summary, ["get", types, "-n", ns, "-l", selector, "-o", "json"])
    }

    /// `rollout restart TYPE/NAME -n NS`.
    pub fn rollout_restart_cmd(&self, reference: &str, ns: &str) -> Cmd {
        self.cmd(format!("restart {reference}"), ["rollout", "restart", reference, "-n", ns])
            .mutate()
    }

    /// `rollout status TYPE/NAME -n NS --timeout D` (a bounded wait).
    pub fn rollout_status_cmd(&self, reference: &str, ns: &str, timeout: &str) -> Cmd {
        self.cmd(
            format!("wait for the rollout of {reference}"),
            ["rollout", "status", reference, "-n", ns, "--timeout", timeout],
        )
        .wait()
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
    #[serde(default)]
    pub data: serde_json::Value,
}

#[derive(Debug, Deserialize)]
pub struct Metadata {
    pub name: String,
}

/// The KEP-1755 ConfigMap (in `kube-public`) that tells Tilt where the local registry is.
pub const HOSTING_NAME: &str = "local-registry-hosting";
/// Its namespace.
pub const HOSTING_NAMESPACE: &str = "kube-public";
/// Its key.
pub const HOSTING_KEY: &str = "localRegistryHosting.v1";

/// What [`Kubectl::logs_cmd`] shows.
#[derive(Debug, Clone, Default)]
pub struct LogsOptions<'a> {
    pub follow: bool,
    pub tail: Option<u64>,
    pub since: Option<&'a str>,
}

/// The `/readyz` probe answered `ok`.
pub fn readyz_ok(out: &Output) -> bool {
    out.success() && out.stdout.trim() == "ok"
}

/// `localRegistryHosting.v1` of the ConfigMap in `kubectl get configmap … -o json`; `None`
/// when the answer is not such an object or has no such key.
pub fn parse_hosting_value(stdout: &str) -> Option<String> {
    let obj: serde_json::Value = serde_json::from_str(stdout).ok()?;
    obj["data"][HOSTING_KEY].as_str().map(str::to_owned)
}

/// What the `nodes,namespaces` list says.
#[derive(Debug, PartialEq, Eq)]
pub struct ClusterView {
    pub nodes: usize,
    pub nodes_ready: usize,
    pub namespace_exists: bool,
    /// `reason: message` of a node that is not Ready, for timeout messages.
    pub not_ready_reason: Option<String>,
    /// `localRegistryHosting.v1` of the `local-registry-hosting` ConfigMap, when listed.
    pub registry_hosting: Option<String>,
}

pub fn parse_cluster_view(stdout: &str, namespace: &str) -> Result<ClusterView> {
    let list: List = serde_json::from_str(stdout)
        .map_err(|e| anyhow::anyhow!("could not parse `kubectl get` output: {e}"))?;
    let mut view = ClusterView {
        nodes: 0,
        nodes_ready: 0,
        namespace_exists: false,
        not_ready_reason: None,
        registry_hosting: None,
    };
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
            "ConfigMap" if item.metadata.name == HOSTING_NAME => {
                view.registry_hosting = item.data[HOSTING_KEY].as_str().map(str::to_owned);
            }
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
                not_ready_reason: None,
                registry_hosting: None,
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
    fn the_registry_configmap_is_read_from_the_same_listing() {
        let list = serde_json::json!({"apiVersion": "v1", "kind": "List", "items": [
            {"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "kube-root-ca.crt"}, "data": {"ca.crt": "x"}},
            {"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "local-registry-hosting", "namespace": "kube-public"},
             "data": {"localRegistryHosting.v1": "host: \"localhost:5001\"\n"}},
            // A ConfigMap of the user's that sorts after it is not the registry's.
            {"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "team-notes", "namespace": "kube-public"},
             "data": {"notes": "x"}},
        ]});
        let v = parse_cluster_view(&list.to_string(), "shop-dev").expect("parses");
        assert_eq!(v.registry_hosting.as_deref(), Some("host: \"localhost:5001\"\n"));
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

    /// Ready only when kubectl succeeded *and* the body is `ok`: a 200 from something that is
    /// not the API server (a proxy's page) is not ready, and neither is a failed call.
    #[test]
    fn readyz_needs_success_and_ok() {
        let out = |code: i32, stdout: &str| Output {
            code: Some(code),
            stdout: stdout.to_owned(),
            ..Output::default()
        };
        assert!(readyz_ok(&out(0, "ok\n")));
        assert!(!readyz_ok(&out(0, "<html>502 Bad Gateway</html>\n")));
        assert!(!readyz_ok(&out(1, "ok\n")));
        assert!(!readyz_ok(&out(1, "")));
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

// ---------------------------------------------------------------------------------------------
// Workloads, pods and `exec` (database snapshots)

/// Where `kubectl exec` runs: a pod of a namespace and, when kubectl's default would be wrong,
/// a container.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ExecTarget {
    pub pod: String,
    pub namespace: String,
    pub container: Option<String>,
}

impl Kubectl<'_> {
    /// `get deployment,statefulset -n NS -o json` (one call for both kinds).
    pub fn workloads_cmd(&self, ns: &str) -> Cmd {
        self.cmd(
            format!("list the Deployments and StatefulSets of namespace {ns}"),
            ["get", "deployment,statefulset", "-n", ns, "-o", "json"],
        )
    }

    /// `get pods -n NS -l SELECTOR -o json`
    pub fn pods_cmd(&self, ns: &str, selector: &str) -> Cmd {
        self.cmd(
            format!("list the pods of namespace {ns} matching {selector}"),
            ["get", "pods", "-n", ns, "-l", selector, "-o", "json"],
        )
    }

    /// [`Kubectl::exec_cmd`] that changes something (printed, not run, in a dry run).
    pub fn exec_mutating_cmd(
        &self,
        summary: impl Into<String>,
        target: &ExecTarget,
        stdin: bool,
        argv: &[&str],
    ) -> Cmd {
        self.exec_cmd(summary, target, stdin, argv).mutate()
    }

    /// `exec -i [-t] POD -n NS [-c C] -- ARGV…` with the user's stdin (and terminal, with
    /// `tty`): an interactive program in the pod (a database shell).
    pub fn exec_interactive_cmd(
        &self,
        summary: impl Into<String>,
        target: &ExecTarget,
        tty: bool,
        argv: &[String],
    ) -> Cmd {
        let mut args: Vec<&str> = vec!["exec", "-i"];
        if tty {
            args.push("-t");
        }
        args.extend([target.pod.as_str(), "-n", target.namespace.as_str()]);
        if let Some(c) = &target.container {
            args.extend(["-c", c.as_str()]);
        }
        args.push("--");
        args.extend(argv.iter().map(String::as_str));
        self.cmd(summary, args).stdin(Stdin::Inherit).mutate()
    }

    /// `exec [-i] POD -n NS [-c C] -- ARGV…` — a query; [`Kubectl::exec_mutating_cmd`] for
    /// one that changes something.
    pub fn exec_cmd(
        &self,
        summary: impl Into<String>,
        target: &ExecTarget,
        stdin: bool,
        argv: &[&str],
    ) -> Cmd {
        let mut args: Vec<&str> = vec!["exec"];
        if stdin {
            args.push("-i");
        }
        args.extend([target.pod.as_str(), "-n", target.namespace.as_str()]);
        if let Some(c) = &target.container {
            args.extend(["-c", c.as_str()]);
        }
        args.push("--");
        args.extend(argv);
        self.cmd(summary, args)
    }
}

/// A Deployment or StatefulSet and its pod selector in `kubectl -l` syntax.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Workload {
    /// `Deployment` or `StatefulSet`
    pub kind: String,
    pub name: String,
    /// `app=db,tier=data`; `None` when the selector cannot be expressed (or is empty).
    pub selector: Option<String>,
}

impl Workload {
    /// `statefulset/postgres`, as kubectl names it.
    pub fn reference(&self) -> String {
        format!("{}/{}", self.kind.to_ascii_lowercase(), self.name)
    }
}

/// Parse `kubectl get deployment,statefulset -o json` (a `List`).
pub fn parse_workloads(stdout: &str) -> Result<Vec<Workload>> {
    let v: serde_json::Value = serde_json::from_str(stdout).map_err(|e| {
        anyhow::anyhow!("could not parse `kubectl get deployment,statefulset` output: {e}")
    })?;
    Ok(v["items"]
        .as_array()
        .map(Vec::as_slice)
        .unwrap_or_default()
        .iter()
        .filter(|o| matches!(o["kind"].as_str(), Some("Deployment" | "StatefulSet")))
        .map(|o| Workload {
            kind: o["kind"].as_str().unwrap_or_default().to_owned(),
            name: o["metadata"]["name"].as_str().unwrap_or_default().to_owned(),
            selector: label_selector(&o["spec"]["selector"]),
        })
        .collect())
}

/// A `LabelSelector` (matchLabels + matchExpressions) in `kubectl -l` syntax, sorted.
pub fn label_selector(sel: &serde_json::Value) -> Option<String> {
    let mut terms: Vec<String> = sel["matchLabels"]
        .as_object()
        .map(|m| m.iter().map(|(k, v)| format!("{k}={}", v.as_str().unwrap_or_default())).collect())
        .unwrap_or_default();
    terms.sort();
    for e in sel["matchExpressions"].as_array().map(Vec::as_slice).unwrap_or_default() {
        let key = e["key"].as_str()?;
        let values: Vec<&str> = e["values"]
            .as_array()
            .map(|vs| vs.iter().filter_map(|v| v.as_str()).collect())
            .unwrap_or_default();
        terms.push(match e["operator"].as_str()? {
            "In" => format!("{key} in ({})", values.join(",")),
            "NotIn" => format!("{key} notin ({})", values.join(",")),
            "Exists" => key.to_owned(),
            "DoesNotExist" => format!("!{key}"),
            _ => return None,
        });
    }
    if terms.is_empty() { None } else { Some(terms.join(",")) }
}

/// The outcome of looking for a pod to exec into.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PodPick {
    /// A Running pod (not terminating) whose container runs; `container` is set when the pod
    /// has several containers and one of them is the preferred one.
    Found { pod: String, container: Option<String> },
    /// None usable; `pod (STATUS)` for each pod seen, for the error message.
    NoneRunning(Vec<String>),
}

/// Pick the pod to exec into from `kubectl get pods -o json`: Running, not terminating, the
/// target container running; ready pods first, then by name (a StatefulSet's `-0` first). With
/// several containers, `prefer` names the container to use (first match) unless the pod has a
/// `kubectl.kubernetes.io/default-container` annotation.
pub fn pick_pod(stdout: &str, prefer: &[&str]) -> Result<PodPick> {
    let v: serde_json::Value = serde_json::from_str(stdout)
        .map_err(|e| anyhow::anyhow!("could not parse `kubectl get pods` output: {e}"))?;
    let rows = parse_pods(stdout, crate::time::now_secs())?;
    let items = v["items"].as_array().map(Vec::as_slice).unwrap_or_default();
    let mut candidates: Vec<(bool, String, Option<String>)> = Vec::new();
    for p in items {
        let name = p["metadata"]["name"].as_str().unwrap_or_default().to_owned();
        if p["metadata"]["deletionTimestamp"].is_string() || p["status"]["phase"] != "Running" {
            continue;
        }
        let containers: Vec<&str> = p["spec"]["containers"]
            .as_array()
            .map(|cs| cs.iter().filter_map(|c| c["name"].as_str()).collect())
            .unwrap_or_default();
        let annotated = p["metadata"]["annotations"]["kubectl.kubernetes.io/default-container"]
            .as_str()
            .filter(|d| containers.contains(d));
        let chosen: Option<&str> = if containers.len() > 1 && annotated.is_none() {
            prefer.iter().copied().find(|c| containers.contains(c))
        } else {
            None
        };
        let effective = chosen.or(annotated).or(containers.first().copied()).unwrap_or_default();
        let status = p["status"]["containerStatuses"]
            .as_array()
            .and_then(|a| a.iter().find(|s| s["name"] == effective));
        let Some(status) = status else { continue };
        if !status["state"]["running"].is_object() {
            continue;
        }
        let ready = status["ready"] == true;
        candidates.push((!ready, name, chosen.map(str::to_owned)));
    }
    candidates.sort();
    Ok(match candidates.into_iter().next() {
        Some((_, pod, container)) => PodPick::Found { pod, container },
        None => PodPick::NoneRunning(
            rows.iter().map(|r| format!("{} ({}, {} ready)", r.name, r.status, r.ready)).collect(),
        ),
    })
}

#[cfg(test)]
mod workload_tests {
    use super::*;

    #[test]
    fn workloads_and_their_selectors() {
        let ws = parse_workloads(include_str!("../../fixtures/kubectl/get-deploy-sts.json"))
            .expect("parses");
        let got: Vec<(&str, &str, Option<&str>)> =
            ws.iter().map(|w| (w.kind.as_str(), w.name.as_str(), w.selector.as_deref())).collect();
        assert_eq!(
            got,
            vec![
                ("Deployment", "web", Some("app=web")),
                ("StatefulSet", "postgres", Some("app.kubernetes.io/name=postgres,tier=db")),
            ]
        );
        assert_eq!(ws[1].reference(), "statefulset/postgres");
    }

    #[test]
    fn selectors_with_expressions() {
        let sel = serde_json::json!({
            "matchLabels": {"b": "2", "a": "1"},
            "matchExpressions": [
                {"key": "env", "operator": "In", "values": ["dev", "ci"]},
                {"key": "x", "operator": "Exists"},
                {"key": "y", "operator": "DoesNotExist"},
                {"key": "z", "operator": "NotIn", "values": ["q"]}
            ]
        });
        assert_eq!(
            label_selector(&sel).as_deref(),
            Some("a=1,b=2,env in (dev,ci),x,!y,z notin (q)")
        );
        assert_eq!(label_selector(&serde_json::json!({})), None);
    }

    #[test]
    fn picks_a_running_pod_and_the_database_container() {
        // Only postgres-0 (as `-l` would select it); it has two containers, both running: the
        // preferred one is named.
        let mut all: serde_json::Value =
            serde_json::from_str(include_str!("../../fixtures/kubectl/get-pods.json"))
                .expect("json");
        all["items"]
            .as_array_mut()
            .expect("items")
            .retain(|p| p["metadata"]["name"] == "postgres-0");
        let pods = all.to_string();
        assert_eq!(
            pick_pod(&pods, &["postgres"]).expect("parses"),
            PodPick::Found { pod: "postgres-0".into(), container: Some("postgres".into()) }
        );
        // With that container alone, none is named: `kubectl exec` takes a pod's only one.
        for (part, key) in [("spec", "containers"), ("status", "containerStatuses")] {
            let list = all["items"][0][part][key].as_array_mut().expect("containers");
            list.retain(|c| c["name"] == "postgres");
        }
        assert_eq!(
            pick_pod(&all.to_string(), &["postgres"]).expect("parses"),
            PodPick::Found { pod: "postgres-0".into(), container: None }
        );
        // Ready pods first: a second replica that is ready wins over a first one that is not.
        let mut two = all.clone();
        let mut second = two["items"][0].clone();
        second["metadata"]["name"] = "postgres-1".into();
        let items = two["items"].as_array_mut().expect("items");
        for s in items[0]["status"]["containerStatuses"].as_array_mut().expect("statuses") {
            s["ready"] = false.into();
        }
        items.push(second);
        assert_eq!(
            pick_pod(&two.to_string(), &[]).expect("parses"),
            PodPick::Found { pod: "postgres-1".into(), container: None }
        );
        let empty = "{\"apiVersion\":\"v1\",\"items\":[],\"kind\":\"List\"}";
        assert_eq!(pick_pod(empty, &[]).expect("parses"), PodPick::NoneRunning(vec![]));
    }

    #[test]
    fn crash_looping_pending_and_terminating_pods_are_not_picked() {
        let pods = include_str!("../../fixtures/kubectl/get-pods-db-not-running.json");
        match pick_pod(pods, &["postgres"]).expect("parses") {
            PodPick::NoneRunning(seen) => {
                assert_eq!(seen.len(), 3, "{seen:?}");
                assert!(seen[0].contains("CrashLoopBackOff"), "{seen:?}");
                assert!(seen[1].contains("Pending"), "{seen:?}");
                assert!(seen[2].contains("Terminating"), "{seen:?}");
            }
            other => panic!("picked {other:?}"),
        }
    }

    #[test]
    fn exec_argv() {
        let bin =
            crate::tools::Bin { display: "kubectl".into(), path: Some("/usr/bin/kubectl".into()) };
        let k = Kubectl {
            bin: &bin,
            kubeconfig: "/k/config".into(),
            context: "kind-kilter-shop".into(),
        };
        let t =
            ExecTarget { pod: "postgres-0".into(), namespace: "shop-dev".into(), container: None };
        assert_eq!(
            k.exec_cmd("dump", &t, false, &["pg_dump", "-Fc", "-U", "postgres", "shop"])
                .to_string(),
            "KUBECONFIG=/k/config kubectl --context kind-kilter-shop exec postgres-0 -n shop-dev -- pg_dump -Fc -U postgres shop"
        );
        let t = ExecTarget { container: Some("db".into()), ..t };
        assert_eq!(
            k.exec_cmd("restore", &t, true, &["pg_restore", "-d", "my db"]).to_string(),
            "KUBECONFIG=/k/config kubectl --context kind-kilter-shop exec -i postgres-0 -n shop-dev -c db -- pg_restore -d 'my db'"
        );
        let shell = k.exec_interactive_cmd("shell", &t, true, &["psql".into(), "-U".into()]);
        assert_eq!(
            shell.to_string(),
            "KUBECONFIG=/k/config kubectl --context kind-kilter-shop exec -i -t postgres-0 -n shop-dev -c db -- psql -U"
        );
        assert_eq!(shell.effect(), crate::exec::Effect::Mutate);
        let run =
            k.exec_workload_cmd("deployment/web", "shop-dev", false, &["ls".into(), "-l".into()]);
        assert_eq!(
            run.to_string(),
            "KUBECONFIG=/k/config kubectl --context kind-kilter-shop exec -i deployment/web -n shop-dev -- ls -l"
        );
        assert_eq!(run.summary(), "run a command in deployment/web");
        let logs = LogsOptions { follow: true, tail: Some(20), since: Some("5m") };
        assert_eq!(
            k.logs_cmd("deployment/web", "shop-dev", &logs).to_string(),
            "KUBECONFIG=/k/config kubectl --context kind-kilter-shop logs deployment/web -n shop-dev --all-containers --prefix -f --tail 20 --since 5m"
        );
        assert_eq!(
            k.logs_cmd("deployment/web", "shop-dev", &LogsOptions::default()).to_string(),
            "KUBECONFIG=/k/config kubectl --context kind-kilter-shop logs deployment/web -n shop-dev --all-containers --prefix"
        );
    }
}
