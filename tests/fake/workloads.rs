//! Workloads in a fake cluster: Deployments (with their ReplicaSet) and StatefulSets and their
//! pods, seeded with `fake-tool ctl workload|apply|log`, and the kubectl verbs that act on them:
//! `exec` (runs the command for real on the host), `logs`, `rollout restart` and
//! `rollout status`. Shapes follow the real kubectl's (4-space JSON, sorted keys, zero counts omitted).
//!
//! How a workload's pods behave is kept in the workload's own annotations (the fake's only
//! invention, under `fake.kilter.dev/`), so `rollout restart` recreates pods that behave the same:
//! - `fake.kilter.dev/pods`: `Running`, `Pending` (unschedulable, no containerStatuses) or
//!   `CrashLoopBackOff` (phase Running, containers waiting, restartCount > 0);
//! - `fake.kilter.dev/restarts`: restartCount of crashing containers.
//!
//! Canned log lines live in `ns/<ns>/podlogs.json` as `{pod: {container: [[ts_ms, line], …]}}`
//! and the template lines of a workload in `ns/<ns>/workloadlogs.json` (`{"deployment/web": […]}`).

use std::collections::BTreeMap;
use std::io::{IsTerminal as _, Read as _, Write as _};
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use serde_json::{Value, json};

use crate::args;
use crate::common::{Ctx, random_hex, random_uid};
use crate::kubectl::{Conn, discovery_lines, resource, selector_matches};
use crate::proxy::{Probe, connect_or_report};
use crate::state::{CLUSTER_LABEL, ClusterStore, Container, Containers};
use crate::timefmt;

const BEHAVIOUR: &str = "fake.kilter.dev/pods";
const RESTARTS: &str = "fake.kilter.dev/restarts";
/// On a workload created by `kubectl apply`: how long its new pods take to become ready
/// (`never`: they stay ContainerCreating), from knob `apply_ready_ms` at apply time.
pub const READY_AFTER: &str = "fake.kilter.dev/ready-after-ms";
/// On such a pod: when it becomes Running and ready (epoch ms, or `never`).
const READY_AT: &str = "fake.kilter.dev/ready-at";
const RESTARTED_AT: &str = "kubectl.kubernetes.io/restartedAt";

/// Deployment or StatefulSet.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub enum Kind {
    Deployment,
    StatefulSet,
}

impl Kind {
    pub fn parse(s: &str) -> Option<Kind> {
        match s {
            "deployment" | "deployments" | "deploy" | "deployment.apps" | "deployments.apps" => {
                Some(Kind::Deployment)
            }
            "statefulset" | "statefulsets" | "sts" | "statefulset.apps" | "statefulsets.apps" => {
                Some(Kind::StatefulSet)
            }
            _ => None,
        }
    }
    pub fn from_object(o: &Value) -> Option<Kind> {
        match o["kind"].as_str()? {
            "Deployment" => Some(Kind::Deployment),
            "StatefulSet" => Some(Kind::StatefulSet),
            _ => None,
        }
    }
    pub fn resource(self) -> &'static str {
        match self {
            Kind::Deployment => "deployments",
            Kind::StatefulSet => "statefulsets",
        }
    }
    pub fn kind(self) -> &'static str {
        match self {
            Kind::Deployment => "Deployment",
            Kind::StatefulSet => "StatefulSet",
        }
    }
    /// `deployment.apps`, as kubectl names it in `…/NAME restarted`.
    pub fn dotted(self) -> &'static str {
        match self {
            Kind::Deployment => "deployment.apps",
            Kind::StatefulSet => "statefulset.apps",
        }
    }
    /// `deployments.apps`, as API errors name it.
    fn err_name(self) -> &'static str {
        match self {
            Kind::Deployment => "deployments.apps",
            Kind::StatefulSet => "statefulsets.apps",
        }
    }
    fn lower(self) -> &'static str {
        match self {
            Kind::Deployment => "deployment",
            Kind::StatefulSet => "statefulset",
        }
    }
}

/// How a workload's pods behave.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub enum Behaviour {
    Running,
    Pending,
    Crash,
    /// Scheduled, containers still being created (`ContainerCreating`); only for the pods of
    /// applied workloads until their `ready-at` time.
    Starting,
}

impl Behaviour {
    fn as_str(self) -> &'static str {
        match self {
            Behaviour::Running => "Running",
            Behaviour::Pending => "Pending",
            Behaviour::Crash => "CrashLoopBackOff",
            Behaviour::Starting => "Running",
        }
    }
    fn of(workload: &Value) -> Behaviour {
        match workload["metadata"]["annotations"][BEHAVIOUR].as_str() {
            Some("Pending") => Behaviour::Pending,
            Some("CrashLoopBackOff") => Behaviour::Crash,
            _ => Behaviour::Running,
        }
    }
}

/// The node the pods run on (the cluster's single node).
pub struct Node {
    name: String,
    ip: String,
}

impl Node {
    pub fn of(c: &Container) -> Node {
        Node { name: c.name().to_string(), ip: c.meta.ip.clone() }
    }
}

/// k8s `rand.String`-style suffix (consonants and digits without vowels/lookalikes).
fn suffix(n: usize) -> String {
    const ALPHABET: &[u8] = b"bcdfghjklmnpqrstvwxz2456789";
    let hex = random_hex(n);
    hex.as_bytes()
        .chunks(2)
        .map(|c| {
            let v = u8::from_str_radix(std::str::from_utf8(c).unwrap_or("00"), 16).unwrap_or(0);
            ALPHABET[v as usize % ALPHABET.len()] as char
        })
        .collect()
}

fn now_rfc() -> String {
    timefmt::rfc3339_secs(timefmt::now_ms())
}

fn labels_of(o: &Value) -> BTreeMap<String, String> {
    o["spec"]["selector"]["matchLabels"]
        .as_object()
        .map(|m| m.iter().map(|(k, v)| (k.clone(), v.as_str().unwrap_or("").to_string())).collect())
        .unwrap_or_default()
}

fn containers_of(template_spec: &Value) -> Vec<(String, String)> {
    template_spec["containers"]
        .as_array()
        .map(|cs| {
            cs.iter()
                .map(|c| {
                    (
                        c["name"].as_str().unwrap_or("app").to_string(),
                        c["image"].as_str().unwrap_or("busybox").to_string(),
                    )
                })
                .collect()
        })
        .unwrap_or_default()
}

/// Normalise a short image reference the way containerd reports it.
fn full_image(image: &str) -> String {
    let (repo, tag) = match image.rsplit_once(':') {
        Some((r, t)) if !t.contains('/') => (r, t),
        _ => (image, "latest"),
    };
    let repo = if repo.contains('/') { repo.to_string() } else { format!("library/{repo}") };
    let repo = if repo.split('/').next().is_some_and(|h| h.contains('.') || h.contains(':')) {
        repo
    } else {
        format!("docker.io/{repo}")
    };
    format!("{repo}:{tag}")
}

// ---------------------------------------------------------------------------------------------
// Objects

/// A pod of `workload`: `name`, owner `(kind, name, uid)`, extra labels.
fn pod_object(
    store: &ClusterStore,
    ns: &str,
    workload: &Value,
    name: &str,
    owner: (&str, &str, &str),
    extra_labels: &[(&str, String)],
    node: &Node,
) -> Value {
    let mut behaviour = Behaviour::of(workload);
    let now_ms = timefmt::now_ms();
    let ready_at = match workload["metadata"]["annotations"][READY_AFTER].as_str() {
        Some("never") => Some("never".to_string()),
        Some(ms) => match ms.parse::<u64>() {
            Ok(0) | Err(_) => None,
            Ok(ms) => Some(now_ms.saturating_add(ms).to_string()),
        },
        None => None,
    };
    if ready_at.is_some() && behaviour == Behaviour::Running {
        behaviour = Behaviour::Starting;
    }
    let restarts: u64 = workload["metadata"]["annotations"][RESTARTS]
        .as_str()
        .and_then(|s| s.parse().ok())
        .unwrap_or(5);
    let template = &workload["spec"]["template"];
    let mut labels: serde_json::Map<String, Value> =
        template["metadata"]["labels"].as_object().cloned().unwrap_or_default();
    for (k, v) in extra_labels {
        labels.insert((*k).to_string(), json!(v));
    }
    let containers = containers_of(&template["spec"]);
    let uid = random_uid();
    let sa_volume = format!("kube-api-access-{}", suffix(5));
    let mut spec_containers = Vec::new();
    for (i, (cname, image)) in containers.iter().enumerate() {
        let mut mounts: Vec<Value> = template["spec"]["containers"][i]["volumeMounts"]
            .as_array()
            .cloned()
            .unwrap_or_default();
        mounts.push(json!({
            "mountPath": "/var/run/secrets/kubernetes.io/serviceaccount",
            "name": sa_volume,
            "readOnly": true
        }));
        spec_containers.push(json!({
            "image": image,
            "imagePullPolicy": "IfNotPresent",
            "name": cname,
            "resources": {},
            "terminationMessagePath": "/dev/termination-log",
            "terminationMessagePolicy": "File",
            "volumeMounts": mounts
        }));
    }
    let mut spec = json!({
        "containers": spec_containers,
        "dnsPolicy": "ClusterFirst",
        "enableServiceLinks": true,
        "preemptionPolicy": "PreemptLowerPriority",
        "priority": 0,
        "restartPolicy": "Always",
        "schedulerName": "default-scheduler",
        "securityContext": {},
        "serviceAccount": "default",
        "serviceAccountName": "default",
        "terminationGracePeriodSeconds": 30,
        "tolerations": [
            {"effect": "NoExecute", "key": "node.kubernetes.io/not-ready", "operator": "Exists", "tolerationSeconds": 300},
            {"effect": "NoExecute", "key": "node.kubernetes.io/unreachable", "operator": "Exists", "tolerationSeconds": 300}
        ]
    });
    if owner.0 == "StatefulSet" {
        spec["hostname"] = json!(name);
        spec["subdomain"] = json!(workload["spec"]["serviceName"].as_str().unwrap_or(owner.1));
    }
    let status = pod_status(behaviour, &containers, &sa_volume, name, ns, &uid, node, restarts);
    if let Some(v) = template["spec"]["volumes"].as_array() {
        spec["volumes"] = json!(v);
    }
    if behaviour != Behaviour::Pending {
        spec["nodeName"] = json!(node.name);
    }
    let generate = match owner.0 {
        "ReplicaSet" => Some(format!("{}-", owner.1)),
        _ => Some(format!("{}-", workload["metadata"]["name"].as_str().unwrap_or(""))),
    };
    let now = timefmt::rfc3339_secs(now_ms);
    let mut pod = json!({
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": {
            "creationTimestamp": now,
            "generateName": generate,
            "labels": labels,
            "name": name,
            "namespace": ns,
            "ownerReferences": [{
                "apiVersion": "apps/v1",
                "blockOwnerDeletion": true,
                "controller": true,
                "kind": owner.0,
                "name": owner.1,
                "uid": owner.2
            }],
            "resourceVersion": store.next_rv(),
            "uid": uid
        },
        "spec": spec,
        "status": status
    });
    if let Some(at) = ready_at {
        pod["metadata"]["annotations"] = json!({ READY_AT: at });
    }
    pod
}

/// A pod's `status` for how it behaves.
#[allow(clippy::too_many_arguments)]
fn pod_status(
    behaviour: Behaviour,
    containers: &[(String, String)],
    sa_volume: &str,
    name: &str,
    ns: &str,
    uid: &str,
    node: &Node,
    restarts: u64,
) -> Value {
    let now_ms = timefmt::now_ms();
    let now = timefmt::rfc3339_secs(now_ms);
    let earlier = timefmt::rfc3339_secs(now_ms.saturating_sub(40_000));
    let cond = |t: &str, s: bool, extra: Value| {
        let mut c = json!({"lastProbeTime": null, "lastTransitionTime": now, "status": if s { "True" } else { "False" }, "type": t});
        if let (Some(c), Some(e)) = (c.as_object_mut(), extra.as_object()) {
            for (k, v) in e {
                c.insert(k.clone(), v.clone());
            }
        }
        c
    };
    let names: Vec<&str> = containers.iter().map(|(n, _)| n.as_str()).collect();
    let unready = json!({"message": format!("containers with unready status: [{}]", names.join(" ")), "reason": "ContainersNotReady"});
    let pod_ip =
        format!("10.244.0.{}", 2 + (u8::from_str_radix(&random_hex(1), 16).unwrap_or(7) % 250));
    match behaviour {
        Behaviour::Pending => {
            json!({
                "conditions": [cond("PodScheduled", false, json!({
                    "message": "0/1 nodes are available: 1 Insufficient memory. preemption: 0/1 nodes are available: 1 No preemption victims found for incoming pod.",
                    "reason": "Unschedulable"
                }))],
                "phase": "Pending",
                "qosClass": "BestEffort"
            })
        }
        Behaviour::Starting => {
            // Scheduled; the kubelet is still pulling the image and creating the containers.
            let statuses: Vec<Value> = containers
                .iter()
                .map(|(cname, image)| {
                    json!({
                        "image": image,
                        "imageID": "",
                        "lastState": {},
                        "name": cname,
                        "ready": false,
                        "restartCount": 0,
                        "started": false,
                        "state": {"waiting": {"reason": "ContainerCreating"}}
                    })
                })
                .collect();
            json!({
                "conditions": [
                    cond("PodReadyToStartContainers", false, json!({})),
                    cond("Initialized", true, json!({})),
                    cond("Ready", false, unready.clone()),
                    cond("ContainersReady", false, unready),
                    cond("PodScheduled", true, json!({}))
                ],
                "containerStatuses": statuses,
                "hostIP": node.ip,
                "hostIPs": [{"ip": node.ip}],
                "phase": "Pending",
                "qosClass": "BestEffort",
                "startTime": now
            })
        }
        Behaviour::Running | Behaviour::Crash => {
            let ok = behaviour == Behaviour::Running;
            let statuses: Vec<Value> = containers
                .iter()
                .map(|(cname, image)| {
                    let full = full_image(image);
                    let repo = full.rsplit_once(':').map(|(r, _)| r).unwrap_or(&full).to_string();
                    let cid = format!("containerd://{}", random_hex(32));
                    let mut s = json!({
                        "image": full,
                        "imageID": format!("{repo}@sha256:{}", random_hex(32)),
                        "name": cname,
                        "ready": ok,
                        "restartCount": if ok { 0 } else { restarts },
                        "started": ok,
                        "volumeMounts": [{
                            "mountPath": "/var/run/secrets/kubernetes.io/serviceaccount",
                            "name": sa_volume,
                            "readOnly": true,
                            "recursiveReadOnly": "Disabled"
                        }]
                    });
                    if ok {
                        s["containerID"] = json!(cid);
                        s["lastState"] = json!({});
                        s["state"] = json!({"running": {"startedAt": now}});
                    } else {
                        s["containerID"] = json!(cid.clone());
                        s["lastState"] = json!({"terminated": {
                            "containerID": cid, "exitCode": 1, "finishedAt": now,
                            "reason": "Error", "startedAt": earlier
                        }});
                        s["state"] = json!({"waiting": {
                            "message": format!("back-off 2m40s restarting failed container={cname} pod={name}_{ns}({uid})"),
                            "reason": "CrashLoopBackOff"
                        }});
                    }
                    s
                })
                .collect();
            let extra = if ok { json!({}) } else { unready.clone() };
            json!({
                "conditions": [
                    cond("PodReadyToStartContainers", true, json!({})),
                    cond("Initialized", true, json!({})),
                    cond("Ready", ok, extra.clone()),
                    cond("ContainersReady", ok, extra),
                    cond("PodScheduled", true, json!({}))
                ],
                "containerStatuses": statuses,
                "hostIP": node.ip,
                "hostIPs": [{"ip": node.ip}],
                "phase": "Running",
                "podIP": pod_ip,
                "podIPs": [{"ip": pod_ip}],
                "qosClass": "BestEffort",
                "startTime": now
            })
        }
    }
}

fn template(labels: &BTreeMap<String, String>, containers: &[(String, String)]) -> Value {
    let cs: Vec<Value> = containers
        .iter()
        .map(|(n, image)| {
            json!({
                "image": image,
                "imagePullPolicy": "IfNotPresent",
                "name": n,
                "resources": {},
                "terminationMessagePath": "/dev/termination-log",
                "terminationMessagePolicy": "File"
            })
        })
        .collect();
    json!({
        "metadata": {"labels": labels},
        "spec": {
            "containers": cs,
            "dnsPolicy": "ClusterFirst",
            "restartPolicy": "Always",
            "schedulerName": "default-scheduler",
            "securityContext": {},
            "terminationGracePeriodSeconds": 30
        }
    })
}

/// A new Deployment or StatefulSet object (status filled in by [`reconcile`]).
#[allow(clippy::too_many_arguments)]
fn workload_object(
    store: &ClusterStore,
    kind: Kind,
    ns: &str,
    name: &str,
    replicas: u32,
    labels: &BTreeMap<String, String>,
    containers: &[(String, String)],
    behaviour: Behaviour,
    restarts: u32,
) -> Value {
    let mut annotations = serde_json::Map::new();
    annotations.insert(BEHAVIOUR.into(), json!(behaviour.as_str()));
    annotations.insert(RESTARTS.into(), json!(restarts.to_string()));
    let mut spec = json!({
        "replicas": replicas,
        "revisionHistoryLimit": 10,
        "selector": {"matchLabels": labels},
        "template": template(labels, containers)
    });
    match kind {
        Kind::Deployment => {
            annotations.insert("deployment.kubernetes.io/revision".into(), json!("1"));
            spec["progressDeadlineSeconds"] = json!(600);
            spec["strategy"] = json!({"rollingUpdate": {"maxSurge": "25%", "maxUnavailable": "25%"}, "type": "RollingUpdate"});
        }
        Kind::StatefulSet => {
            spec["persistentVolumeClaimRetentionPolicy"] =
                json!({"whenDeleted": "Retain", "whenScaled": "Retain"});
            spec["podManagementPolicy"] = json!("OrderedReady");
            spec["serviceName"] = json!(name);
            spec["updateStrategy"] =
                json!({"rollingUpdate": {"partition": 0}, "type": "RollingUpdate"});
        }
    }
    json!({
        "apiVersion": "apps/v1",
        "kind": kind.kind(),
        "metadata": {
            "annotations": annotations,
            "creationTimestamp": now_rfc(),
            "generation": 1,
            "labels": labels,
            "name": name,
            "namespace": ns,
            "resourceVersion": store.next_rv(),
            "uid": random_uid()
        },
        "spec": spec,
        "status": {}
    })
}

/// Pods owned (directly or through a ReplicaSet) by the workload `name`.
fn owned_pods(store: &ClusterStore, ns: &str, kind: Kind, name: &str) -> Vec<Value> {
    let rss: Vec<String> = if kind == Kind::Deployment {
        store
            .list_namespaced(ns, "replicasets")
            .into_values()
            .filter(|rs| owner_is(rs, "Deployment", name))
            .filter_map(|rs| rs["metadata"]["name"].as_str().map(str::to_string))
            .collect()
    } else {
        Vec::new()
    };
    store
        .list_namespaced(ns, "pods")
        .into_values()
        .filter(|p| match kind {
            Kind::StatefulSet => owner_is(p, "StatefulSet", name),
            Kind::Deployment => rss.iter().any(|rs| owner_is(p, "ReplicaSet", rs)),
        })
        .collect()
}

fn owner_is(o: &Value, kind: &str, name: &str) -> bool {
    o["metadata"]["ownerReferences"]
        .as_array()
        .is_some_and(|os| os.iter().any(|r| r["kind"] == kind && r["name"] == name))
}

fn pod_ready(p: &Value) -> bool {
    p["status"]["conditions"]
        .as_array()
        .is_some_and(|cs| cs.iter().any(|c| c["type"] == "Ready" && c["status"] == "True"))
}

/// Replace the workload's pods with fresh ones (and, for a Deployment, a new ReplicaSet).
fn recreate_pods(store: &ClusterStore, ns: &str, workload: &mut Value, node: &Node) {
    let Some(kind) = Kind::from_object(workload) else { return };
    let name = workload["metadata"]["name"].as_str().unwrap_or_default().to_string();
    let wuid = workload["metadata"]["uid"].as_str().unwrap_or_default().to_string();
    for p in owned_pods(store, ns, kind, &name) {
        if let Some(pn) = p["metadata"]["name"].as_str() {
            store.delete_namespaced(ns, "pods", pn);
            store.delete_namespaced(ns, "podlogs", pn);
        }
    }
    let replicas = workload["spec"]["replicas"].as_u64().unwrap_or(1);
    let template_lines = workload_logs(store, ns, kind, &name);
    let mut new_pods = Vec::new();
    match kind {
        Kind::Deployment => {
            for rs in store.list_namespaced(ns, "replicasets").into_values() {
                if owner_is(&rs, "Deployment", &name) {
                    let rs_name = rs["metadata"]["name"].as_str().unwrap_or_default().to_string();
                    store.delete_namespaced(ns, "replicasets", &rs_name);
                }
            }
            let hash = suffix(10);
            let rs_name = format!("{name}-{hash}");
            let rs_uid = random_uid();
            let revision = workload["metadata"]["annotations"]["deployment.kubernetes.io/revision"]
                .as_str()
                .unwrap_or("1")
                .to_string();
            let mut tmpl = workload["spec"]["template"].clone();
            tmpl["metadata"]["labels"]["pod-template-hash"] = json!(hash);
            let mut selector = workload["spec"]["selector"].clone();
            selector["matchLabels"]["pod-template-hash"] = json!(hash);
            let mut labels = workload["spec"]["template"]["metadata"]["labels"].clone();
            labels["pod-template-hash"] = json!(hash);
            for _ in 0..replicas {
                let pname = format!("{rs_name}-{}", suffix(5));
                let pod = pod_object(
                    store,
                    ns,
                    workload,
                    &pname,
                    ("ReplicaSet", &rs_name, &rs_uid),
                    &[("pod-template-hash", hash.clone())],
                    node,
                );
                new_pods.push(pod);
            }
            let ready = new_pods.iter().filter(|p| pod_ready(p)).count() as u64;
            let mut rs_status = json!({"observedGeneration": 1, "replicas": replicas});
            if ready > 0 {
                rs_status["availableReplicas"] = json!(ready);
                rs_status["readyReplicas"] = json!(ready);
                rs_status["fullyLabeledReplicas"] = json!(replicas);
            }
            let rs = json!({
                "apiVersion": "apps/v1",
                "kind": "ReplicaSet",
                "metadata": {
                    "annotations": {
                        "deployment.kubernetes.io/desired-replicas": replicas.to_string(),
                        "deployment.kubernetes.io/max-replicas": (replicas + replicas.div_ceil(4)).to_string(),
                        "deployment.kubernetes.io/revision": revision
                    },
                    "creationTimestamp": now_rfc(),
                    "generation": 1,
                    "labels": labels,
                    "name": rs_name,
                    "namespace": ns,
                    "ownerReferences": [{
                        "apiVersion": "apps/v1", "blockOwnerDeletion": true, "controller": true,
                        "kind": "Deployment", "name": name, "uid": wuid
                    }],
                    "resourceVersion": store.next_rv(),
                    "uid": rs_uid
                },
                "spec": {"replicas": replicas, "selector": selector, "template": tmpl},
                "status": rs_status
            });
            store.put_namespaced(ns, "replicasets", &rs_name, rs);
        }
        Kind::StatefulSet => {
            let rev = format!("{name}-{}", suffix(10));
            for i in 0..replicas {
                let pname = format!("{name}-{i}");
                let pod = pod_object(
                    store,
                    ns,
                    workload,
                    &pname,
                    ("StatefulSet", &name, &wuid),
                    &[
                        ("apps.kubernetes.io/pod-index", i.to_string()),
                        ("controller-revision-hash", rev.clone()),
                        ("statefulset.kubernetes.io/pod-name", pname.clone()),
                    ],
                    node,
                );
                new_pods.push(pod);
            }
            workload["status"]["currentRevision"] = json!(rev);
            workload["status"]["updateRevision"] = json!(rev);
        }
    }
    let now = timefmt::now_ms();
    for pod in new_pods {
        let pname = pod["metadata"]["name"].as_str().unwrap_or_default().to_string();
        let cnames: Vec<String> = containers_of(&pod["spec"]).into_iter().map(|(n, _)| n).collect();
        if pod["status"]["phase"] == "Running" {
            let mut logs = pod_logs(store, ns);
            let entry = logs.entry(pname.clone()).or_default();
            entry.clear();
            for c in &cnames {
                let lines: Vec<(u64, String)> =
                    template_lines.iter().map(|l| (now, l.clone())).collect();
                entry.insert(c.clone(), lines);
            }
            save_pod_logs(store, ns, &logs);
        }
        store.put_namespaced(ns, "pods", &pname, pod);
    }
}

/// Fill in `status` from the pods, like the controllers would. `observed`: whether the controller
/// has seen the latest generation.
fn reconcile(store: &ClusterStore, ns: &str, workload: &mut Value, observed: bool) {
    let Some(kind) = Kind::from_object(workload) else { return };
    let name = workload["metadata"]["name"].as_str().unwrap_or_default().to_string();
    let pods = owned_pods(store, ns, kind, &name);
    let replicas = workload["spec"]["replicas"].as_u64().unwrap_or(1);
    let ready = pods.iter().filter(|p| pod_ready(p)).count() as u64;
    let generation = workload["metadata"]["generation"].as_u64().unwrap_or(1);
    let observed_gen = if observed {
        generation
    } else {
        workload["status"]["observedGeneration"].as_u64().unwrap_or(generation.saturating_sub(1))
    };
    let now = now_rfc();
    let mut st = serde_json::Map::new();
    let put = |st: &mut serde_json::Map<String, Value>, k: &str, v: u64| {
        if v > 0 {
            st.insert(k.into(), json!(v));
        }
    };
    put(&mut st, "observedGeneration", observed_gen);
    put(&mut st, "replicas", pods.len() as u64);
    put(&mut st, "readyReplicas", ready);
    put(&mut st, "updatedReplicas", pods.len() as u64);
    match kind {
        Kind::Deployment => {
            put(&mut st, "availableReplicas", ready);
            put(&mut st, "unavailableReplicas", replicas.saturating_sub(ready));
            let rs = store
                .list_namespaced(ns, "replicasets")
                .into_values()
                .find(|rs| owner_is(rs, "Deployment", &name))
                .and_then(|rs| rs["metadata"]["name"].as_str().map(str::to_string))
                .unwrap_or_default();
            let min_available = replicas - replicas / 4;
            let available = ready >= min_available;
            let done = ready >= replicas;
            let prev = workload["status"]["conditions"].clone();
            let since = |t: &str, status: &str| {
                prev.as_array()
                    .and_then(|cs| cs.iter().find(|c| c["type"] == t && c["status"] == status))
                    .and_then(|c| c["lastTransitionTime"].as_str().map(str::to_string))
                    .unwrap_or_else(|| now.clone())
            };
            let avail_status = if available { "True" } else { "False" };
            let prog_status = "True";
            st.insert(
                "conditions".into(),
                json!([
                    {
                        "lastTransitionTime": since("Available", avail_status),
                        "lastUpdateTime": now,
                        "message": if available { "Deployment has minimum availability." } else { "Deployment does not have minimum availability." },
                        "reason": if available { "MinimumReplicasAvailable" } else { "MinimumReplicasUnavailable" },
                        "status": avail_status,
                        "type": "Available"
                    },
                    {
                        "lastTransitionTime": since("Progressing", prog_status),
                        "lastUpdateTime": now,
                        "message": if done { format!("ReplicaSet \"{rs}\" has successfully progressed.") } else { format!("ReplicaSet \"{rs}\" is progressing.") },
                        "reason": if done { "NewReplicaSetAvailable" } else { "ReplicaSetUpdated" },
                        "status": prog_status,
                        "type": "Progressing"
                    }
                ]),
            );
        }
        Kind::StatefulSet => {
            st.insert("availableReplicas".into(), json!(ready));
            put(&mut st, "currentReplicas", pods.len() as u64);
            for k in ["currentRevision", "updateRevision"] {
                if let Some(v) = workload["status"][k].as_str() {
                    st.insert(k.into(), json!(v));
                }
            }
        }
    }
    workload["status"] = Value::Object(st);
}

// ---------------------------------------------------------------------------------------------
// Logs storage

pub type PodLogs = BTreeMap<String, BTreeMap<String, Vec<(u64, String)>>>;

pub fn pod_logs(store: &ClusterStore, ns: &str) -> PodLogs {
    let v = store.list_namespaced(ns, "podlogs");
    serde_json::from_value(Value::Object(v.into_iter().collect())).unwrap_or_default()
}

fn save_pod_logs(store: &ClusterStore, ns: &str, logs: &PodLogs) {
    // Rewrite the whole file: delete pods that have gone, keep the rest.
    let current = store.list_namespaced(ns, "podlogs");
    for k in current.keys() {
        if !logs.contains_key(k) {
            store.delete_namespaced(ns, "podlogs", k);
        }
    }
    for (pod, cs) in logs {
        store.put_namespaced(ns, "podlogs", pod, serde_json::to_value(cs).unwrap_or_default());
    }
}

fn workload_logs(store: &ClusterStore, ns: &str, kind: Kind, name: &str) -> Vec<String> {
    store
        .list_namespaced(ns, "workloadlogs")
        .get(&format!("{}/{name}", kind.lower()))
        .and_then(|v| serde_json::from_value(v.clone()).ok())
        .unwrap_or_default()
}

// ---------------------------------------------------------------------------------------------
// `fake-tool ctl workload|apply|log`

/// The store (and node) of the cluster named by `which` (kind cluster name or node container
/// name), or of the only cluster there is.
fn cluster(state: &Path, which: Option<&str>) -> Result<(ClusterStore, Node), String> {
    // the fake state, or the real engine's kind containers (backend.rs)
    let cs: Containers = crate::backend::containers_at(state);
    let nodes: Vec<&Container> = cs
        .containers
        .values()
        .filter(|c| c.cluster().is_some())
        .filter(|c| match which {
            None => true,
            Some(w) => {
                c.name() == w
                    || c.inspect.config.labels.get(CLUSTER_LABEL).map(String::as_str) == Some(w)
            }
        })
        .collect();
    let c = match nodes.as_slice() {
        [one] => *one,
        [] => {
            return Err(format!(
                "no kind cluster{}",
                which.map(|w| format!(" named {w}")).unwrap_or_default()
            ));
        }
        _ => return Err("several kind clusters exist: pass --cluster NAME".into()),
    };
    let store = ClusterStore::for_container(state, &c.inspect.id);
    if !store.exists() {
        return Err(format!(
            "cluster of {} has no API state yet (kind create did not finish)",
            c.name()
        ));
    }
    Ok((store, Node::of(c)))
}

fn require_namespace(store: &ClusterStore, ns: &str) -> Result<(), String> {
    if store.namespaces().iter().any(|n| n == ns) {
        Ok(())
    } else {
        Err(format!("namespace {ns} does not exist in the fake cluster (run `kilter up` first)"))
    }
}

pub const WORKLOAD_USAGE: &str = "ctl workload NS NAME [--kind deployment|statefulset] [--replicas N] [--phase Running|Pending] [--crash] [--restarts N] [--image IMG] [--container NAME]… [--label K=V]… [--log LINE]… [--cluster C]";

/// `ctl workload NS NAME …`: create (or replace) a workload and its pods.
pub fn ctl_workload(state: &Path, a: &[&str]) -> Result<String, String> {
    let spec = [
        args::val(&["--kind"]),
        args::val(&["--replicas"]),
        args::val(&["--phase"]),
        args::boolean(&["--crash"]),
        args::val(&["--restarts"]),
        args::val(&["--image"]),
        args::val(&["--container"]),
        args::val(&["--label"]),
        args::val(&["--log"]),
        args::val(&["--cluster"]),
    ];
    let owned: Vec<String> = a.iter().map(|s| s.to_string()).collect();
    let p = args::parse(&owned, &spec).map_err(|e| e.message)?;
    let [ns, name] = p.pos.as_slice() else { return Err(format!("usage: {WORKLOAD_USAGE}")) };
    let kind = Kind::parse(p.get("--kind").unwrap_or("deployment"))
        .ok_or("--kind must be deployment or statefulset")?;
    let replicas: u32 = p.get("--replicas").unwrap_or("1").parse().map_err(|_e| "--replicas N")?;
    let restarts: u32 = p.get("--restarts").unwrap_or("5").parse().map_err(|_e| "--restarts N")?;
    let behaviour = match (p.has("--crash"), p.get("--phase").unwrap_or("Running")) {
        (true, _) => Behaviour::Crash,
        (false, "Running") => Behaviour::Running,
        (false, "Pending") => Behaviour::Pending,
        (false, other) => {
            return Err(format!("--phase {other}: use Running or Pending (or --crash)"));
        }
    };
    let image = p.get("--image").unwrap_or("busybox:1.36").to_string();
    let mut containers: Vec<(String, String)> =
        p.all("--container").iter().map(|c| (c.to_string(), image.clone())).collect();
    if containers.is_empty() {
        containers.push((name.clone(), image.clone()));
    }
    let mut labels = BTreeMap::new();
    for l in p.all("--label") {
        let (k, v) = l.split_once('=').ok_or("--label K=V")?;
        labels.insert(k.to_string(), v.to_string());
    }
    if labels.is_empty() {
        labels.insert("app".to_string(), name.clone());
    }
    let mut log_lines: Vec<String> = p.all("--log").iter().map(|s| s.to_string()).collect();
    if log_lines.is_empty() {
        log_lines = match behaviour {
            Behaviour::Crash => vec![
                format!("starting {name}"),
                format!("error: {name} failed to start: exit status 1"),
            ],
            _ => vec![format!("starting {name}"), format!("{name} is ready")],
        };
    }
    let (store, node) = cluster(state, p.get("--cluster"))?;
    require_namespace(&store, ns)?;
    // Replace an existing workload of that name (and its pods).
    if store.list_namespaced(ns, kind.resource()).contains_key(name.as_str()) {
        for pod in owned_pods(&store, ns, kind, name) {
            if let Some(pn) = pod["metadata"]["name"].as_str() {
                store.delete_namespaced(ns, "pods", pn);
            }
        }
    }
    store.put_namespaced(ns, "workloadlogs", &format!("{}/{name}", kind.lower()), json!(log_lines));
    let mut w = workload_object(
        &store,
        kind,
        ns,
        name,
        replicas,
        &labels,
        &containers,
        behaviour,
        restarts,
    );
    recreate_pods(&store, ns, &mut w, &node);
    reconcile(&store, ns, &mut w, true);
    store.put_namespaced(ns, kind.resource(), name, w);
    let pods: Vec<String> = owned_pods(&store, ns, kind, name)
        .iter()
        .filter_map(|p| p["metadata"]["name"].as_str().map(str::to_string))
        .collect();
    Ok(pods.join("\n"))
}

/// `ctl apply CLUSTER_OR_NODE NAMESPACE FILE.json`: store objects given in their real shape (one
/// object or a `List`). Missing metadata (uid, creationTimestamp, resourceVersion, generation) is
/// filled in. Prints `kind.group/name created` per object.
pub fn ctl_apply(state: &Path, a: &[&str]) -> Result<String, String> {
    let [which, ns, file] = a else {
        return Err("usage: ctl apply CLUSTER_OR_NODE NAMESPACE FILE.json".into());
    };
    let (store, _) = cluster(state, Some(which))?;
    require_namespace(&store, ns)?;
    let text = std::fs::read_to_string(file).map_err(|e| format!("{file}: {e}"))?;
    let v: Value = serde_json::from_str(&text).map_err(|e| format!("{file}: {e}"))?;
    let items = if v["kind"] == "List" {
        v["items"].as_array().cloned().unwrap_or_default()
    } else {
        vec![v]
    };
    let mut out = Vec::new();
    for mut o in items {
        let kind = o["kind"].as_str().unwrap_or_default().to_string();
        let Some(r) = crate::kubectl::RESOURCES.iter().find(|r| r.kind == kind && r.namespaced)
        else {
            return Err(format!("ctl apply: unsupported kind {kind:?}"));
        };
        let name =
            o["metadata"]["name"].as_str().ok_or("object without metadata.name")?.to_string();
        let m = &mut o["metadata"];
        m["namespace"] = json!(ns);
        if m["uid"].is_null() {
            m["uid"] = json!(random_uid());
        }
        if m["creationTimestamp"].is_null() {
            m["creationTimestamp"] = json!(now_rfc());
        }
        if matches!(kind.as_str(), "Deployment" | "StatefulSet" | "ReplicaSet")
            && m["generation"].is_null()
        {
            m["generation"] = json!(1);
        }
        m["resourceVersion"] = json!(store.next_rv());
        store.put_namespaced(ns, r.names[0], &name, o);
        let group = r.api_version.split_once('/').map(|(g, _)| format!(".{g}")).unwrap_or_default();
        out.push(format!("{}{group}/{name} created", kind.to_ascii_lowercase()));
    }
    Ok(out.join("\n"))
}

/// `ctl log NS POD [--container C] LINE…`: append log lines to a pod's container.
pub fn ctl_log(state: &Path, a: &[&str]) -> Result<String, String> {
    let spec = [args::val(&["--container", "-c"]), args::val(&["--cluster"])];
    let owned: Vec<String> = a.iter().map(|s| s.to_string()).collect();
    let p = args::parse(&owned, &spec).map_err(|e| e.message)?;
    let [ns, pod, lines @ ..] = p.pos.as_slice() else {
        return Err("usage: ctl log NS POD [--container C] LINE…".into());
    };
    let (store, _) = cluster(state, p.get("--cluster"))?;
    let pods = store.list_namespaced(ns, "pods");
    let obj = pods.get(pod.as_str()).ok_or_else(|| format!("no pod {pod} in {ns}"))?;
    let first = containers_of(&obj["spec"]).first().map(|c| c.0.clone()).unwrap_or_default();
    let c = p.get("--container").map(str::to_string).unwrap_or(first);
    let mut logs = pod_logs(&store, ns);
    let now = timefmt::now_ms();
    logs.entry(pod.clone())
        .or_default()
        .entry(c)
        .or_default()
        .extend(lines.iter().map(|l| (now, l.clone())));
    save_pod_logs(&store, ns, &logs);
    Ok(String::new())
}

// ---------------------------------------------------------------------------------------------
// kubectl: shared target resolution

/// A workload of the connected cluster, or the NotFound error line.
fn find_workload(conn: &Conn, kind: Kind, name: &str) -> Result<Value, String> {
    conn.store.list_namespaced(&conn.namespace, kind.resource()).get(name).cloned().ok_or_else(
        || format!("Error from server (NotFound): {} \"{name}\" not found", kind.err_name()),
    )
}

/// Pods selected by a workload's selector, best first (Running and ready, then by name).
fn pods_for(conn: &Conn, w: &Value) -> Vec<Value> {
    let sel = labels_of(w).iter().map(|(k, v)| format!("{k}={v}")).collect::<Vec<_>>().join(",");
    let mut pods: Vec<Value> = conn
        .store
        .list_namespaced(&conn.namespace, "pods")
        .into_values()
        .filter(|p| selector_matches(Some(&sel), p) == Some(true))
        .collect();
    pods.sort_by_key(|p| {
        (
            !(p["status"]["phase"] == "Running"),
            !pod_ready(p),
            p["metadata"]["name"].as_str().unwrap_or_default().to_string(),
        )
    });
    pods
}

/// Resolve `POD`, `pod/POD` or `TYPE/NAME` to one pod, or the error line (exit 1).
fn target_pod(conn: &Conn, target: &str, announce_several: bool) -> Result<Value, String> {
    settle(&conn.store, &conn.namespace, &Node::of(&conn.container));
    let (t, name) = match target.split_once('/') {
        Some((t, n)) => (Some(t), n),
        None => (None, target),
    };
    match t.map(|t| (t, Kind::parse(t))) {
        None | Some(("pod" | "pods" | "po", _)) => conn
            .store
            .list_namespaced(&conn.namespace, "pods")
            .get(name)
            .cloned()
            .ok_or_else(|| format!("Error from server (NotFound): pods \"{name}\" not found")),
        Some((_, Some(kind))) => {
            let w = find_workload(conn, kind, name)?;
            let pods = pods_for(conn, &w);
            let first =
                pods.first().cloned().ok_or("error: timed out waiting for the condition")?;
            if announce_several && pods.len() > 1 {
                errln!(
                    "Found {} pods, using pod/{}",
                    pods.len(),
                    first["metadata"]["name"].as_str().unwrap_or_default()
                );
            }
            Ok(first)
        }
        Some((other, None)) => match resource(other) {
            Some(r) => Err(format!(
                "error: cannot attach to *v1.{}: selector for {} not implemented",
                r.kind,
                r.kind.to_ascii_lowercase()
            )),
            None => Err(format!("error: the server doesn't have a resource type \"{other}\"")),
        },
    }
}

fn pod_name(p: &Value) -> &str {
    p["metadata"]["name"].as_str().unwrap_or_default()
}

/// The container to act on: `-c`, else the default-container annotation, else the first (with
/// kubectl's "Defaulted container" notice when there are several).
fn pick_container(p: &Value, wanted: Option<&str>, quiet: bool) -> Result<String, String> {
    let names: Vec<String> = containers_of(&p["spec"]).into_iter().map(|(n, _)| n).collect();
    if let Some(c) = wanted {
        if names.iter().any(|n| n == c) {
            return Ok(c.to_string());
        }
        return Err(format!(
            "error: container {c} is not valid for pod {} out of: {}",
            pod_name(p),
            names.join(", ")
        ));
    }
    let default = p["metadata"]["annotations"]["kubectl.kubernetes.io/default-container"]
        .as_str()
        .map(str::to_string)
        .filter(|d| names.contains(d));
    let chosen = default.clone().or_else(|| names.first().cloned()).unwrap_or_default();
    if default.is_none() && names.len() > 1 && !quiet {
        errln!("Defaulted container \"{chosen}\" out of: {}", names.join(", "));
    }
    Ok(chosen)
}

/// Why a container cannot be attached to (exec/logs), if it cannot.
fn not_attachable(p: &Value, container: &str, logs: bool) -> Option<String> {
    let name = pod_name(p);
    match p["status"]["phase"].as_str() {
        Some(phase @ ("Succeeded" | "Failed")) if !logs => {
            return Some(format!(
                "error: cannot exec into a container in a completed pod; current phase is {phase}"
            ));
        }
        _ => {}
    }
    if p["spec"]["nodeName"].as_str().is_none_or(str::is_empty) {
        return Some(format!(
            "Error from server (BadRequest): pod {name} does not have a host assigned"
        ));
    }
    let st = p["status"]["containerStatuses"]
        .as_array()
        .and_then(|a| a.iter().find(|s| s["name"] == container))
        .cloned()
        .unwrap_or(Value::Null);
    let waiting = st["state"]["waiting"]["reason"].as_str();
    if logs {
        // Logs of a crash-looping container are readable (the last attempt's output).
        if st["state"]["running"].is_object()
            || st["lastState"]["terminated"].is_object()
            || st["state"]["terminated"].is_object()
        {
            return None;
        }
        return Some(format!(
            "Error from server (BadRequest): container \"{container}\" in pod \"{name}\" is waiting to start: {}",
            waiting.unwrap_or("ContainerCreating")
        ));
    }
    if st["state"]["running"].is_object() {
        None
    } else {
        Some(format!("error: unable to upgrade connection: container not found (\"{container}\")"))
    }
}

// ---------------------------------------------------------------------------------------------
// kubectl exec

/// `kubectl exec [-i] [-t] [-q] [-c C] POD|TYPE/NAME -n NS -- cmd…`: runs `cmd` on the host, with
/// the program looked up in knob `exec_path` (a PATH-like list), `PGHOST`/`PGPORT` from knobs
/// `pg_host`/`pg_port` and the MySQL/MariaDB socket from knob `mysql_socket`.
#[allow(clippy::disallowed_methods)] // the fake runs the "remote" command itself
pub fn exec(ctx: &Ctx, p: &args::Parsed) -> i32 {
    let Some(target) = p.pos.get(1) else {
        errln!("error: pod, type/name or --filename must be specified");
        return 1;
    };
    let cmd = match &p.rest {
        Some(rest) if p.pos.len() == 2 => rest.clone(),
        None if p.pos.len() > 2 => {
            errln!(
                "error: exec [POD] [COMMAND] is not supported anymore. Use exec [POD] -- [COMMAND] instead"
            );
            errln!("See 'kubectl exec -h' for help and examples");
            return 1;
        }
        Some(_) => return ctx.unexpected(),
        None => Vec::new(),
    };
    if cmd.is_empty() {
        errln!("error: you must specify at least one command for the container");
        return 1;
    }
    let conn = match connect_or_report(ctx, p, Probe::Discovery(4), |_| {}) {
        Ok(c) => c,
        Err(code) => return code,
    };
    let pod = {
        let _l = ctx.lock();
        match target_pod(&conn, target, false) {
            Ok(p) => p,
            Err(e) => {
                errln!("{e}");
                return 1;
            }
        }
    };
    let quiet = p.has("--quiet");
    let container = match pick_container(&pod, p.get("--container"), quiet) {
        Ok(c) => c,
        Err(e) => {
            errln!("{e}");
            return 1;
        }
    };
    if let Some(e) = not_attachable(&pod, &container, false) {
        errln!("{e}");
        return 1;
    }
    if p.has("--tty") && !std::io::stdin().is_terminal() && !quiet {
        errln!("Unable to use a TTY - input is not a terminal or the right kind of file");
    }
    let program = Path::new(&cmd[0])
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    // What a failing stream names: the program under a `sh -c SCRIPT NAME ARGS… PROG…` wrapper
    // (kilter's dump script takes the compressor first, its restore script the byte count,
    // sha256 and decompressor).
    let streamed = match cmd.get(..2) {
        Some([sh, c]) if sh == "sh" && c == "-c" => {
            let at = match cmd.get(3).map(String::as_str) {
                Some("kilter-dump") => 5,
                Some("kilter-restore") => 7,
                _ => 4,
            };
            cmd.get(at)
        }
        .map(|p| {
            Path::new(p).file_name().map_or_else(|| p.clone(), |n| n.to_string_lossy().into_owned())
        }),
        _ => None,
    }
    .unwrap_or_else(|| program.clone());
    let exec_path = ctx.knob("exec_path");
    let found = std::env::split_paths(&exec_path)
        .filter(|d| !d.as_os_str().is_empty())
        .map(|d| d.join(&program))
        .find(|c| is_executable(c));
    let Some(prog) = found else {
        errln!(
            "error: Internal error occurred: Internal error occurred: error executing command in container: failed to exec in container: failed to start exec \"{}\": OCI runtime exec failed: exec failed: unable to start container process: exec: \"{}\": executable file not found in $PATH: unknown",
            random_hex(32),
            cmd[0]
        );
        return 1;
    };
    let mut c = Command::new(&prog);
    c.args(&cmd[1..])
        .env_clear()
        .env("PATH", &exec_path)
        .env("HOSTNAME", pod_name(&pod))
        .env("HOME", ctx.state.join("pod-home"));
    for (knob, var) in [("pg_host", "PGHOST"), ("pg_port", "PGPORT")] {
        let v = ctx.knob(knob);
        if !v.is_empty() {
            c.env(var, v);
        }
    }
    // MySQL/MariaDB clients: option files beat MYSQL_UNIX_PORT (Debian's /etc/mysql names
    // /run/mysqld), so the socket also goes into the pod user's ~/.my.cnf, read last.
    let socket = ctx.knob("mysql_socket");
    if !socket.is_empty() {
        let home = ctx.state.join("pod-home");
        let _ = std::fs::create_dir_all(&home);
        let _ = std::fs::write(home.join(".my.cnf"), format!("[client]\nsocket={socket}\n"));
        c.env("MYSQL_UNIX_PORT", socket);
    }
    let fail_after = ctx.knob_u64("exec_fail_after_bytes");
    let cut_out = Cut::parse(&ctx.knob("exec_cut_stdout"));
    let cut_in = Cut::parse(&ctx.knob("exec_cut_stdin"));
    let rate = Some(ctx.knob_f64("exec_mbps", 0.0)).filter(|r| *r > 0.0).map(|r| r * 1e6);
    let pipe_in = p.has("--stdin") && (cut_in.is_some() || rate.is_some());
    let pipe_out = fail_after == 0 && (cut_out.is_some() || rate.is_some());
    c.stdin(if pipe_in {
        Stdio::piped()
    } else if p.has("--stdin") {
        Stdio::inherit()
    } else {
        Stdio::null()
    });
    c.stdout(if fail_after > 0 || pipe_out { Stdio::piped() } else { Stdio::inherit() });
    c.stderr(Stdio::inherit());
    // The remote process dies with the connection: kill it if this kubectl dies.
    // SAFETY: prctl(PR_SET_PDEATHSIG) is async-signal-safe and touches no memory.
    unsafe {
        use std::os::unix::process::CommandExt as _;
        c.pre_exec(|| {
            libc::prctl(libc::PR_SET_PDEATHSIG, libc::SIGKILL);
            Ok(())
        });
    }
    let mut child = match c.spawn() {
        Ok(ch) => ch,
        Err(e) => {
            errln!("error: Internal error occurred: error executing command in container: {e}");
            return 1;
        }
    };
    // stdin (kilter → the remote program), in a thread of its own: cut and/or throttled.
    let feeder = match (pipe_in, child.stdin.take()) {
        (true, Some(to)) => {
            let spool = ctx.state.join(format!("exec-stdin-{}", std::process::id()));
            Some(std::thread::spawn(move || {
                let cut = pass(std::io::stdin().lock(), to, cut_in, rate, &spool);
                let _ = std::fs::remove_file(&spool);
                cut
            }))
        }
        _ => None,
    };
    // stdout (the remote program → kilter): cut and/or throttled.
    let mut cut = false;
    if pipe_out && let Some(out) = child.stdout.take() {
        let spool = ctx.state.join(format!("exec-stdout-{}", std::process::id()));
        cut = pass(out, std::io::stdout().lock(), cut_out, rate, &spool);
        let _ = std::fs::remove_file(&spool);
    }
    if fail_after > 0
        && let Some(mut out) = child.stdout.take()
    {
        let mut stdout = std::io::stdout().lock();
        let mut written = 0u64;
        let mut buf = vec![0u8; 64 * 1024];
        loop {
            let n = match out.read(&mut buf) {
                Ok(0) | Err(_) => break,
                Ok(n) => n,
            };
            let take = (n as u64).min(fail_after - written) as usize;
            let _ = stdout.write_all(&buf[..take]);
            written += take as u64;
            if written >= fail_after {
                let _ = stdout.flush();
                let _ = child.kill();
                let _ = child.wait();
                errln!(
                    "{streamed}: error: Dumping the contents of table failed: PQgetResult() failed."
                );
                errln!(
                    "{streamed}: detail: Error message from server: server closed the connection unexpectedly"
                );
                errln!("command terminated with exit code 1");
                return 1;
            }
        }
        let _ = stdout.flush();
    }
    let code = match child.wait() {
        Ok(st) => {
            use std::os::unix::process::ExitStatusExt as _;
            st.code().unwrap_or_else(|| 128 + st.signal().unwrap_or(0))
        }
        Err(_) => 1,
    };
    if let Some(f) = feeder {
        cut |= f.join().unwrap_or(false);
    }
    if cut {
        // kubernetes/kubernetes#124571 and #73056: the stream ended early, and kubectl exits 0
        // whatever became of the remote command.
        return 0;
    }
    if code != 0 {
        errln!("command terminated with exit code {code}");
    }
    code
}

/// Where knob `exec_cut_stdout` / `exec_cut_stdin` cuts a stream.
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum Cut {
    Bytes(u64),
    /// A share of the whole stream, in percent (0 to 100).
    Percent(f64),
}

impl Cut {
    pub fn parse(s: &str) -> Option<Cut> {
        let s = s.trim();
        match s.strip_suffix('%') {
            Some(p) => p
                .trim()
                .parse::<f64>()
                .ok()
                .filter(|p| p.is_finite() && (0.0..=100.0).contains(p))
                .map(Cut::Percent),
            None => s.parse::<u64>().ok().map(Cut::Bytes),
        }
    }
}

/// Copy `from` into `to`, at most `rate` bytes per second, and only up to `cut`: past it `to`
/// is closed (a pipe's reader sees the end of the stream) and the rest of `from` is read and
/// dropped, so the remote program runs on to its end. A cut in percent needs the stream's size:
/// the whole stream is spooled into `spool` first. Returns whether the stream was cut (bytes
/// came past the cut point).
fn pass(
    mut from: impl std::io::Read,
    to: impl std::io::Write,
    cut: Option<Cut>,
    rate: Option<f64>,
    spool: &Path,
) -> bool {
    match cut {
        Some(Cut::Percent(p)) => {
            let Ok(total) =
                std::fs::File::create(spool).and_then(|mut f| std::io::copy(&mut from, &mut f))
            else {
                return false;
            };
            let limit = ((total as f64) * p / 100.0).floor() as u64;
            match std::fs::File::open(spool) {
                Ok(f) => copy_limited(f, to, limit, rate) || limit < total,
                Err(_) => false,
            }
        }
        Some(Cut::Bytes(n)) => copy_limited(from, to, n, rate),
        None => copy_limited(from, to, u64::MAX, rate),
    }
}

/// [`pass`] after the cut point is known: `limit` bytes at most. Returns whether any byte came
/// past it.
fn copy_limited(
    mut from: impl std::io::Read,
    to: impl std::io::Write,
    limit: u64,
    rate: Option<f64>,
) -> bool {
    let started = Instant::now();
    let mut to = Some(to);
    let mut sent = 0u64;
    let mut beyond = false;
    let mut buf = vec![0u8; 64 * 1024];
    loop {
        let n = match from.read(&mut buf) {
            Ok(0) | Err(_) => break,
            Ok(n) => n,
        };
        let take = (n as u64).min(limit - sent) as usize;
        beyond |= take < n;
        if let Some(w) = to.as_mut() {
            if w.write_all(&buf[..take]).is_err() {
                to = None;
            }
            sent += take as u64;
            if let Some(r) = rate {
                let due = Duration::from_secs_f64(sent as f64 / r);
                if let Some(wait) = due.checked_sub(started.elapsed()) {
                    std::thread::sleep(wait);
                }
            }
            if sent >= limit
                && let Some(mut w) = to.take()
            {
                let _ = w.flush();
            }
        }
    }
    if let Some(mut w) = to {
        let _ = w.flush();
    }
    beyond
}

fn is_executable(p: &Path) -> bool {
    use std::os::unix::fs::PermissionsExt as _;
    std::fs::metadata(p).is_ok_and(|m| m.is_file() && m.permissions().mode() & 0o111 != 0)
}

// ---------------------------------------------------------------------------------------------
// kubectl logs

/// `kubectl logs POD|TYPE/NAME -n NS [-c C] [--all-containers] [--prefix] [--timestamps] [-f]
/// [--tail N] [--since D]`.
pub fn logs(ctx: &Ctx, p: &args::Parsed) -> i32 {
    let [_, target] = p.pos.as_slice() else {
        if p.pos.len() > 2 {
            // `logs POD CONTAINER`
            return ctx.unexpected();
        }
        errln!("error: expected 'logs [-f] [-p] (POD | TYPE/NAME) [-c CONTAINER]'.");
        errln!("POD or TYPE/NAME is a required argument for the logs command");
        errln!("See 'kubectl logs -h' for help and examples");
        return 1;
    };
    let tail: Option<usize> = match p.get("--tail") {
        None | Some("-1") => None,
        Some(n) => match n.parse() {
            Ok(n) => Some(n),
            Err(_) => return ctx.unexpected(),
        },
    };
    let since_ms = match p.get("--since") {
        None => None,
        Some(d) => match timefmt::parse_go_duration(d) {
            Some(ms) => Some(ms),
            None => {
                errln!(
                    "error: invalid argument \"{d}\" for \"--since\" flag: time: invalid duration \"{d}\""
                );
                return 1;
            }
        },
    };
    if p.has("--all-containers") && p.get("--container").is_some() {
        errln!("error: --container cannot be used with --all-containers");
        return 1;
    }
    let conn = match connect_or_report(ctx, p, Probe::Discovery(4), |_| {}) {
        Ok(c) => c,
        Err(code) => return code,
    };
    let pod = {
        let _l = ctx.lock();
        match target_pod(&conn, target, true) {
            Ok(pod) => pod,
            Err(e) => {
                if e.contains("(NotFound): pods") {
                    errln!(
                        "error: error from server (NotFound): pods \"{}\" not found in namespace \"{}\"",
                        target.rsplit('/').next().unwrap_or(target),
                        conn.namespace
                    );
                } else {
                    errln!("{e}");
                }
                return 1;
            }
        }
    };
    let pname = pod_name(&pod).to_string();
    let containers: Vec<String> = if p.has("--all-containers") {
        containers_of(&pod["spec"]).into_iter().map(|(n, _)| n).collect()
    } else {
        match pick_container(&pod, p.get("--container"), false) {
            Ok(c) => vec![c],
            Err(e) => {
                errln!("{e}");
                return 1;
            }
        }
    };
    for c in &containers {
        if let Some(e) = not_attachable(&pod, c, true) {
            errln!("{e}");
            return 1;
        }
    }
    let prefix = p.has("--prefix");
    let stamps = p.has("--timestamps");
    let print = |c: &str, ts: u64, line: &str| {
        let mut s = String::new();
        if prefix {
            s.push_str(&format!("[pod/{pname}/{c}] "));
        }
        if stamps {
            s.push_str(&timefmt::rfc3339_nano(u128::from(ts) * 1_000_000 + 123_456));
            s.push(' ');
        }
        s.push_str(line);
        outln!("{s}");
    };
    let now = timefmt::now_ms();
    let mut seen: BTreeMap<String, usize> = BTreeMap::new();
    {
        let logs = pod_logs(&conn.store, &conn.namespace);
        for c in &containers {
            let lines = logs.get(&pname).and_then(|m| m.get(c)).cloned().unwrap_or_default();
            seen.insert(c.clone(), lines.len());
            let lines: Vec<&(u64, String)> =
                lines.iter().filter(|(ts, _)| since_ms.is_none_or(|s| *ts + s >= now)).collect();
            let start = tail.map_or(0, |t| lines.len().saturating_sub(t));
            for (ts, l) in &lines[start..] {
                print(c, *ts, l);
            }
        }
    }
    let _ = std::io::stdout().flush();
    if !p.has("--follow") {
        return 0;
    }
    // Follow: new lines as they are appended (`ctl log`); end when the pod goes away (deleted,
    // or replaced by a new pod of the same name).
    let uid = pod["metadata"]["uid"].clone();
    loop {
        std::thread::sleep(Duration::from_millis(50));
        let (logs, exists) = {
            let _l = ctx.lock();
            (
                pod_logs(&conn.store, &conn.namespace),
                conn.store
                    .list_namespaced(&conn.namespace, "pods")
                    .get(&pname)
                    .is_some_and(|p| p["metadata"]["uid"] == uid),
            )
        };
        if !exists {
            return 0;
        }
        for c in &containers {
            let lines = logs.get(&pname).and_then(|m| m.get(c)).cloned().unwrap_or_default();
            let from = seen.get(c).copied().unwrap_or(0);
            for (ts, l) in lines.iter().skip(from) {
                print(c, *ts, l);
            }
            seen.insert(c.clone(), lines.len().max(from));
        }
        let _ = std::io::stdout().flush();
    }
}

// ---------------------------------------------------------------------------------------------
// kubectl rollout

/// `kubectl rollout restart|status …`
pub fn rollout(ctx: &Ctx, p: &args::Parsed) -> i32 {
    match p.pos.get(1).map(String::as_str) {
        Some("restart") => restart(ctx, p),
        Some("status") => status(ctx, p),
        _ => ctx.unexpected(),
    }
}

/// Targets: `TYPE/NAME…`, or `TYPE[,TYPE]` alone (every object of those types).
fn rollout_targets(conn: &Conn, args: &[String]) -> Result<Vec<(Kind, String)>, Vec<String>> {
    let mut out = Vec::new();
    let mut errors = Vec::new();
    if args.len() == 1 && !args[0].contains('/') {
        for t in args[0].split(',') {
            let Some(kind) = Kind::parse(t) else {
                errors
                    .push(format!("error: no kind \"{t}\" is registered for version \"apps/v1\""));
                continue;
            };
            for name in conn.store.list_namespaced(&conn.namespace, kind.resource()).into_keys() {
                out.push((kind, name));
            }
        }
    } else {
        for a in args {
            let Some((t, n)) = a.split_once('/') else {
                errors.push(format!("error: arguments in resource/name form must have a single resource and name: {a}"));
                continue;
            };
            let Some(kind) = Kind::parse(t) else {
                errors
                    .push(format!("error: no kind \"{t}\" is registered for version \"apps/v1\""));
                continue;
            };
            if conn.store.list_namespaced(&conn.namespace, kind.resource()).contains_key(n) {
                out.push((kind, n.to_string()));
            } else {
                errors.push(format!(
                    "Error from server (NotFound): {} \"{n}\" not found",
                    kind.err_name()
                ));
            }
        }
    }
    if errors.is_empty() { Ok(out) } else { Err(errors) }
}

fn restart(ctx: &Ctx, p: &args::Parsed) -> i32 {
    if p.pos.len() < 3 {
        errln!("error: required resource not specified");
        return 1;
    }
    let probe = Probe::Discovery(discovery_lines(p.pos.get(2).map(String::as_str)));
    let conn = match connect_or_report(ctx, p, probe, |_| {}) {
        Ok(c) => c,
        Err(code) => return code,
    };
    let node = Node::of(&conn.container);
    let _l = ctx.lock();
    let (targets, mut errors) = match rollout_targets(&conn, &p.pos[2..]) {
        Ok(t) => (t, Vec::new()),
        Err(e) => (Vec::new(), e),
    };
    if targets.is_empty() && errors.is_empty() {
        errln!("error: no objects passed to restart");
        return 1;
    }
    let stamp = now_rfc();
    for (kind, name) in targets {
        let ns = conn.namespace.clone();
        let mut w = conn
            .store
            .list_namespaced(&ns, kind.resource())
            .get(&name)
            .cloned()
            .unwrap_or_default();
        let ann = &mut w["spec"]["template"]["metadata"]["annotations"];
        if ann[RESTARTED_AT].as_str() == Some(stamp.as_str()) {
            errors.push(format!("error: failed to create patch for {name}: if restart has already been triggered within the past second, please wait before attempting to trigger another"));
            continue;
        }
        ann[RESTARTED_AT] = json!(stamp);
        let generation = w["metadata"]["generation"].as_u64().unwrap_or(1);
        w["metadata"]["generation"] = json!(generation + 1);
        w["metadata"]["resourceVersion"] = json!(conn.store.next_rv());
        if kind == Kind::Deployment {
            let rev: u64 = w["metadata"]["annotations"]["deployment.kubernetes.io/revision"]
                .as_str()
                .and_then(|s| s.parse().ok())
                .unwrap_or(1);
            w["metadata"]["annotations"]["deployment.kubernetes.io/revision"] =
                json!((rev + 1).to_string());
        }
        recreate_pods(&conn.store, &ns, &mut w, &node);
        reconcile(&conn.store, &ns, &mut w, false);
        conn.store.put_namespaced(&ns, kind.resource(), &name, w);
        outln!("{}/{name} restarted", kind.dotted());
    }
    if errors.is_empty() {
        0
    } else {
        for e in errors {
            errln!("{e}");
        }
        1
    }
}

/// One status line of kubectl's rollout status viewers, and whether the rollout is done.
fn status_line(kind: Kind, w: &Value) -> (String, bool) {
    let name = w["metadata"]["name"].as_str().unwrap_or_default();
    let st = &w["status"];
    let n = |k: &str| st[k].as_u64().unwrap_or(0);
    let generation = w["metadata"]["generation"].as_u64().unwrap_or(1);
    let replicas = w["spec"]["replicas"].as_u64().unwrap_or(1);
    match kind {
        Kind::Deployment => {
            if generation > n("observedGeneration") {
                return ("Waiting for deployment spec update to be observed...".into(), false);
            }
            if n("updatedReplicas") < replicas {
                return (
                    format!(
                        "Waiting for deployment \"{name}\" rollout to finish: {} out of {replicas} new replicas have been updated...",
                        n("updatedReplicas")
                    ),
                    false,
                );
            }
            if n("replicas") > n("updatedReplicas") {
                return (
                    format!(
                        "Waiting for deployment \"{name}\" rollout to finish: {} old replicas are pending termination...",
                        n("replicas") - n("updatedReplicas")
                    ),
                    false,
                );
            }
            if n("availableReplicas") < n("updatedReplicas") {
                return (
                    format!(
                        "Waiting for deployment \"{name}\" rollout to finish: {} of {} updated replicas are available...",
                        n("availableReplicas"),
                        n("updatedReplicas")
                    ),
                    false,
                );
            }
            (format!("deployment \"{name}\" successfully rolled out"), true)
        }
        Kind::StatefulSet => {
            if generation > n("observedGeneration") || n("observedGeneration") == 0 {
                return ("Waiting for statefulset spec update to be observed...".into(), false);
            }
            if n("readyReplicas") < replicas {
                return (
                    format!("Waiting for {} pods to be ready...", replicas - n("readyReplicas")),
                    false,
                );
            }
            (
                format!(
                    "partitioned roll out complete: {} new pods have been updated...",
                    n("updatedReplicas")
                ),
                true,
            )
        }
    }
}

fn status(ctx: &Ctx, p: &args::Parsed) -> i32 {
    let [_, _, target] = p.pos.as_slice() else {
        if p.pos.len() < 3 {
            errln!("error: required resource not specified");
            return 1;
        }
        errln!(
            "error: rollout status is only supported on individual resources and resource collections"
        );
        return 1;
    };
    let Some((t, name)) = target.split_once('/') else { return ctx.unexpected() };
    let Some(kind) = Kind::parse(t) else { return ctx.unexpected() };
    let timeout = match p.get("--timeout") {
        None => None,
        Some(d) => match timefmt::parse_go_duration(d) {
            Some(0) => None,
            Some(ms) => Some(Duration::from_millis(ms)),
            None => return ctx.unexpected(),
        },
    };
    let probe = Probe::Discovery(discovery_lines(p.pos.get(2).map(String::as_str)));
    let conn = match connect_or_report(ctx, p, probe, |_| {}) {
        Ok(c) => c,
        Err(code) => return code,
    };
    let start = Instant::now();
    let ns = conn.namespace.clone();
    let mut last = String::new();
    loop {
        let w = {
            let _l = ctx.lock();
            settle(&conn.store, &ns, &Node::of(&conn.container));
            let Some(mut w) = conn.store.list_namespaced(&ns, kind.resource()).get(name).cloned()
            else {
                if last.is_empty() {
                    errln!(
                        "Error from server (NotFound): {} \"{name}\" not found",
                        kind.err_name()
                    );
                } else {
                    errln!("error: object has been deleted");
                }
                return 1;
            };
            // The controller catches up: report the in-between state once, then observe.
            let lagging = w["metadata"]["generation"].as_u64().unwrap_or(1)
                > w["status"]["observedGeneration"].as_u64().unwrap_or(0);
            if lagging {
                reconcile(&conn.store, &ns, &mut w, true);
                conn.store.put_namespaced(&ns, kind.resource(), name, w.clone());
                if status_line(kind, &w).1 {
                    let replicas = w["spec"]["replicas"].as_u64().unwrap_or(1);
                    let line = match kind {
                        Kind::Deployment => format!(
                            "Waiting for deployment \"{name}\" rollout to finish: {replicas} old replicas are pending termination..."
                        ),
                        Kind::StatefulSet => format!("Waiting for {replicas} pods to be ready..."),
                    };
                    outln!("{line}");
                    last = line;
                }
            } else {
                reconcile(&conn.store, &ns, &mut w, true);
            }
            w
        };
        let (line, done) = status_line(kind, &w);
        if line != last {
            outln!("{line}");
            let _ = std::io::stdout().flush();
            last = line;
        }
        if done {
            return 0;
        }
        if kind == Kind::Deployment {
            let deadline = w["spec"]["progressDeadlineSeconds"].as_u64().unwrap_or(600) * 1000;
            let since = w["spec"]["template"]["metadata"]["annotations"][RESTARTED_AT]
                .as_str()
                .or(w["metadata"]["creationTimestamp"].as_str())
                .and_then(timefmt::parse_rfc3339_ms)
                .unwrap_or(0);
            if timefmt::now_ms() > since + deadline {
                errln!("error: deployment \"{name}\" exceeded its progress deadline");
                return 1;
            }
        }
        if timeout.is_some_and(|t| start.elapsed() >= t) {
            errln!("error: timed out waiting for the condition");
            return 1;
        }
        std::thread::sleep(Duration::from_millis(50));
    }
}

// ---------------------------------------------------------------------------------------------
// `kubectl apply` of Deployments and StatefulSets, deletion, and the pods' own progress

/// Store a Deployment or StatefulSet sent by `kubectl apply --server-side` (`applied` has its
/// namespace set), as the API server and the controllers would: a new object gets the server's
/// defaults and its pods; an existing one keeps its uid, creation time and annotations other
/// managers set (e.g. `restartedAt` on its template), and a changed template bumps `generation`
/// and replaces the pods. Immutable fields that differ give the API server's error.
/// `ready_after`: knob `apply_ready_ms` (`never`, or milliseconds).
pub fn apply_workload(
    store: &ClusterStore,
    ns: &str,
    mut applied: Value,
    node: &Node,
    ready_after: &str,
) -> Result<(), String> {
    let Some(kind) = Kind::from_object(&applied) else {
        return Err("error: not a workload".into());
    };
    let name = applied["metadata"]["name"].as_str().unwrap_or_default().to_string();
    // The API server's validation of what the controllers rely on.
    let selector = labels_of(&applied);
    let tmpl_labels = &applied["spec"]["template"]["metadata"]["labels"];
    if selector.is_empty() {
        return Err(format!(
            "The {} \"{name}\" is invalid: spec.selector: Required value",
            kind.kind()
        ));
    }
    if selector.iter().any(|(k, v)| tmpl_labels[k].as_str() != Some(v.as_str())) {
        return Err(format!(
            "The {} \"{name}\" is invalid: spec.template.metadata.labels: Invalid value: {}: `selector` does not match template `labels`",
            kind.kind(),
            go_map(tmpl_labels)
        ));
    }
    if kind == Kind::StatefulSet && applied["spec"]["serviceName"].is_null() {
        // Optional since Kubernetes 1.29; kilter always sets it.
        applied["spec"]["serviceName"] = json!("");
    }
    let existing = store.list_namespaced(ns, kind.resource()).get(&name).cloned();
    let mut w = match existing {
        None => {
            let containers = containers_of(&applied["spec"]["template"]["spec"]);
            let replicas = applied["spec"]["replicas"].as_u64().unwrap_or(1) as u32;
            let mut w = workload_object(
                store,
                kind,
                ns,
                &name,
                replicas,
                &selector,
                &containers,
                Behaviour::Running,
                0,
            );
            // The applied spec wins over the defaults workload_object chose.
            for (k, v) in applied["spec"].as_object().cloned().unwrap_or_default() {
                w["spec"][k.as_str()] = v;
            }
            if let Some(labels) = applied["metadata"]["labels"].as_object() {
                w["metadata"]["labels"] = json!(labels);
            }
            if let Some(a) = applied["metadata"]["annotations"].as_object() {
                for (k, v) in a {
                    w["metadata"]["annotations"][k.as_str()] = v.clone();
                }
            }
            w["metadata"]["annotations"][READY_AFTER] = json!(ready_after);
            let lines = vec![format!("starting {name}"), format!("{name} is ready")];
            store.put_namespaced(
                ns,
                "workloadlogs",
                &format!("{}/{name}", kind.lower()),
                json!(lines),
            );
            recreate_pods(store, ns, &mut w, node);
            w
        }
        Some(mut w) => {
            let immutable: &[&str] = match kind {
                Kind::Deployment => &["selector"],
                Kind::StatefulSet => {
                    &["selector", "serviceName", "volumeClaimTemplates", "podManagementPolicy"]
                }
            };
            for f in immutable {
                let new = &applied["spec"][*f];
                if !new.is_null() && *new != w["spec"][*f] {
                    return Err(match kind {
                        Kind::StatefulSet => format!(
                            "The StatefulSet \"{name}\" is invalid: spec: Forbidden: updates to statefulset spec for fields other than 'replicas', 'ordinals', 'template', 'updateStrategy', 'persistentVolumeClaimRetentionPolicy' and 'minReadySeconds' are forbidden"
                        ),
                        Kind::Deployment => format!(
                            "The Deployment \"{name}\" is invalid: spec.selector: Invalid value: {}: field is immutable",
                            go_map(&new["matchLabels"])
                        ),
                    });
                }
            }
            // Template annotations other managers own (rollout restart) stay.
            let mut template = applied["spec"]["template"].clone();
            if let Some(a) = w["spec"]["template"]["metadata"]["annotations"].as_object() {
                for (k, v) in a {
                    if template["metadata"]["annotations"][k.as_str()].is_null() {
                        template["metadata"]["annotations"][k.as_str()] = v.clone();
                    }
                }
            }
            let changed = template != w["spec"]["template"]
                || applied["spec"]["replicas"] != w["spec"]["replicas"];
            for (k, v) in applied["spec"].as_object().cloned().unwrap_or_default() {
                w["spec"][k.as_str()] = v;
            }
            w["spec"]["template"] = template;
            if let Some(labels) = applied["metadata"]["labels"].as_object() {
                for (k, v) in labels {
                    w["metadata"]["labels"][k.as_str()] = v.clone();
                }
            }
            if changed {
                let generation = w["metadata"]["generation"].as_u64().unwrap_or(1);
                w["metadata"]["generation"] = json!(generation + 1);
                w["metadata"]["annotations"][READY_AFTER] = json!(ready_after);
                recreate_pods(store, ns, &mut w, node);
            }
            w["metadata"]["resourceVersion"] = json!(store.next_rv());
            w
        }
    };
    reconcile(store, ns, &mut w, true);
    store.put_namespaced(ns, kind.resource(), &name, w);
    bind_claims(store, ns);
    Ok(())
}

/// `map[string]string{"k":"v"}`, as the API server prints a label map in errors.
fn go_map(v: &Value) -> String {
    let pairs: Vec<String> = v
        .as_object()
        .map(|m| m.iter().map(|(k, v)| format!("{k:?}:{:?}", v.as_str().unwrap_or(""))).collect())
        .unwrap_or_default();
    format!("map[string]string{{{}}}", pairs.join(", "))
}

/// Delete a workload with its ReplicaSets, pods and their logs (what the garbage collector does
/// after `kubectl delete`, at once).
pub fn delete_workload(store: &ClusterStore, ns: &str, kind: Kind, name: &str) {
    for p in owned_pods(store, ns, kind, name) {
        if let Some(pn) = p["metadata"]["name"].as_str() {
            store.delete_namespaced(ns, "pods", pn);
            store.delete_namespaced(ns, "podlogs", pn);
        }
    }
    if kind == Kind::Deployment {
        for rs in store.list_namespaced(ns, "replicasets").into_values() {
            if owner_is(&rs, "Deployment", name)
                && let Some(rn) = rs["metadata"]["name"].as_str()
            {
                store.delete_namespaced(ns, "replicasets", rn);
            }
        }
    }
    store.delete_namespaced(ns, "workloadlogs", &format!("{}/{name}", kind.lower()));
    store.delete_namespaced(ns, kind.resource(), name);
}

/// What the kubelet does meanwhile: pods of applied workloads whose `ready-at` time has come
/// start running and become ready (their workloads' status follows); claims that a pod mounts
/// get bound. Called (under the state lock) before kubectl reads pods or workloads.
pub fn settle(store: &ClusterStore, ns: &str, node: &Node) {
    let now = timefmt::now_ms();
    let mut owners: Vec<(Kind, String)> = Vec::new();
    for (pname, mut pod) in store.list_namespaced(ns, "pods") {
        let Some(at) = pod["metadata"]["annotations"][READY_AT].as_str() else { continue };
        let due = at.parse::<u64>().is_ok_and(|at| now >= at);
        if !due || pod["status"]["phase"] != "Pending" {
            continue;
        }
        let containers = containers_of(&pod["spec"]);
        let sa = pod["spec"]["containers"][0]["volumeMounts"]
            .as_array()
            .and_then(|ms| {
                ms.iter()
                    .find_map(|m| m["name"].as_str().filter(|n| n.starts_with("kube-api-access-")))
            })
            .unwrap_or("kube-api-access-xxxxx")
            .to_string();
        let uid = pod["metadata"]["uid"].as_str().unwrap_or_default().to_string();
        pod["status"] = pod_status(Behaviour::Running, &containers, &sa, &pname, ns, &uid, node, 0);
        pod["metadata"]["resourceVersion"] = json!(store.next_rv());
        // The workload's log lines start now.
        let owner = pod["metadata"]["ownerReferences"][0].clone();
        let owner_kind = owner["kind"].as_str().unwrap_or_default().to_string();
        let owner_name = owner["name"].as_str().unwrap_or_default().to_string();
        let workload = match owner_kind.as_str() {
            "StatefulSet" => Some((Kind::StatefulSet, owner_name)),
            "ReplicaSet" => store
                .list_namespaced(ns, "replicasets")
                .get(&owner_name)
                .and_then(|rs| rs["metadata"]["ownerReferences"][0]["name"].as_str())
                .map(|d| (Kind::Deployment, d.to_string())),
            _ => None,
        };
        if let Some((kind, wname)) = &workload {
            let lines = workload_logs(store, ns, *kind, wname);
            let mut logs = pod_logs(store, ns);
            let entry = logs.entry(pname.clone()).or_default();
            for (c, _) in &containers {
                entry.insert(c.clone(), lines.iter().map(|l| (now, l.clone())).collect());
            }
            save_pod_logs(store, ns, &logs);
            if !owners.contains(&(*kind, wname.clone())) {
                owners.push((*kind, wname.clone()));
            }
        }
        store.put_namespaced(ns, "pods", &pname, pod);
    }
    for (kind, wname) in owners {
        if let Some(mut w) = store.list_namespaced(ns, kind.resource()).get(&wname).cloned() {
            reconcile(store, ns, &mut w, true);
            store.put_namespaced(ns, kind.resource(), &wname, w);
        }
    }
    bind_claims(store, ns);
}

/// Bind every Pending PersistentVolumeClaim that a pod mounts (kind's local-path provisioner
/// binds on first use: `WaitForFirstConsumer`).
fn bind_claims(store: &ClusterStore, ns: &str) {
    let pods = store.list_namespaced(ns, "pods");
    let used: Vec<String> = pods
        .values()
        .flat_map(|p| p["spec"]["volumes"].as_array().cloned().unwrap_or_default())
        .filter_map(|v| v["persistentVolumeClaim"]["claimName"].as_str().map(str::to_string))
        .collect();
    for (name, mut pvc) in store.list_namespaced(ns, "persistentvolumeclaims") {
        if pvc["status"]["phase"] != "Pending" || !used.contains(&name) {
            continue;
        }
        let uid = pvc["metadata"]["uid"].as_str().unwrap_or_default().to_string();
        let storage = pvc["spec"]["resources"]["requests"]["storage"].clone();
        pvc["spec"]["volumeName"] = json!(format!("pvc-{uid}"));
        pvc["metadata"]["annotations"]["pv.kubernetes.io/bind-completed"] = json!("yes");
        pvc["metadata"]["annotations"]["pv.kubernetes.io/bound-by-controller"] = json!("yes");
        pvc["metadata"]["annotations"]["volume.kubernetes.io/selected-node"] =
            json!(pods.values().find_map(|p| p["spec"]["nodeName"].as_str()).unwrap_or_default());
        pvc["status"] = json!({
            "accessModes": pvc["spec"]["accessModes"],
            "capacity": {"storage": storage},
            "phase": "Bound"
        });
        pvc["metadata"]["resourceVersion"] = json!(store.next_rv());
        store.put_namespaced(ns, "persistentvolumeclaims", &name, pvc);
    }
}
