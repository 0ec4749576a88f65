//! The manifests of a project's services, as one multi-document YAML text for
//! `kubectl apply --server-side --field-manager=kilter -f -`.
//!
//! Per service, in this order: a PersistentVolumeClaim `<name>-data` (services with a volume), a
//! Service `<name>` of type NodePort (every port on its assigned NodePort), and the workload
//! `<name>`: a StatefulSet when it has a volume (one pod, `<name>-0`, never two at once on the
//! same data), a Deployment otherwise. Every object carries
//! `app.kubernetes.io/managed-by: kilter` and `app.kubernetes.io/name: <name>` and names its
//! namespace, so the file can be applied by hand as it is.
//!
//! Pods get `enableServiceLinks: false`: Kubernetes would otherwise put `POSTGRES_PORT=tcp://…`
//! and the like into every pod, which the images of some services read as their own settings.

use serde_json::{Value, json};

use super::catalog::Probe;
use super::{Service, Wired, WorkloadKind, yaml};

pub use crate::tools::kubectl::{MANAGED_BY, NAME_LABEL};

fn labels(name: &str) -> Value {
    json!({ MANAGED_BY: "kilter", NAME_LABEL: name })
}

/// Metadata of object `name` of service `service`.
fn metadata(name: &str, service: &str, namespace: &str) -> Value {
    json!({ "labels": labels(service), "name": name, "namespace": namespace })
}

/// The objects of one service.
pub(crate) fn objects(service: &Service, wired: &Wired, namespace: &str) -> Vec<Value> {
    let name = &service.name;
    let mut out = Vec::new();
    if let (Some(claim), Some(volume)) = (service.claim(), &service.volume) {
        out.push(json!({
            "apiVersion": "v1",
            "kind": "PersistentVolumeClaim",
            "metadata": metadata(&claim, name, namespace),
            "spec": {
                "accessModes": ["ReadWriteOnce"],
                "resources": {"requests": {"storage": volume.size}}
            }
        }));
    }
    let ports: Vec<Value> = wired
        .ports
        .iter()
        .map(|p| {
            let mut port = json!({
                "name": p.name,
                "port": p.port,
                "protocol": "TCP",
                "targetPort": p.name
            });
            if let Some(np) = p.node_port {
                port["nodePort"] = json!(np);
            }
            port
        })
        .collect();
    out.push(json!({
        "apiVersion": "v1",
        "kind": "Service",
        "metadata": metadata(name, name, namespace),
        "spec": {
            "ports": ports,
            "selector": labels(name),
            "type": "NodePort"
        }
    }));
    let mut container = json!({
        "env": wired.env.iter().map(|(k, v)| json!({"name": k, "value": v})).collect::<Vec<_>>(),
        "image": service.image,
        "name": name,
        "ports": wired.ports.iter().map(|p| json!({"containerPort": p.port, "name": p.name, "protocol": "TCP"})).collect::<Vec<_>>(),
        "readinessProbe": probe(service, wired),
    });
    if wired.env.is_empty()
        && let Some(c) = container.as_object_mut()
    {
        c.remove("env");
    }
    if !service.args.is_empty() {
        container["args"] = json!(service.args);
    }
    let mut pod_spec = json!({
        "containers": [],
        "enableServiceLinks": false,
        "terminationGracePeriodSeconds": 10
    });
    if let (Some(claim), Some(volume)) = (service.claim(), &service.volume) {
        container["volumeMounts"] = json!([{"mountPath": volume.path, "name": "data"}]);
        pod_spec["volumes"] =
            json!([{"name": "data", "persistentVolumeClaim": {"claimName": claim}}]);
    }
    pod_spec["containers"] = json!([container]);
    let template = json!({"metadata": {"labels": labels(name)}, "spec": pod_spec});
    let mut spec = json!({
        "replicas": 1,
        "selector": {"matchLabels": labels(name)},
        "template": template
    });
    let kind = match service.kind() {
        WorkloadKind::StatefulSet => {
            spec["serviceName"] = json!(name);
            "StatefulSet"
        }
        WorkloadKind::Deployment => "Deployment",
    };
    out.push(json!({
        "apiVersion": "apps/v1",
        "kind": kind,
        "metadata": metadata(name, name, namespace),
        "spec": spec
    }));
    out
}

fn probe(service: &Service, wired: &Wired) -> Value {
    // A command in the container (a JVM or an Erlang VM starting a client) needs more time and
    // more room between runs than an HTTP or TCP check.
    let (mut p, period, timeout) = match &service.probe {
        Probe::Exec(_) => (json!({"exec": {"command": wired.probe_exec}}), 3, 10),
        Probe::Http { path, port } => (json!({"httpGet": {"path": path, "port": port}}), 2, 5),
        Probe::Tcp { port } => (json!({"tcpSocket": {"port": port}}), 2, 5),
    };
    p["periodSeconds"] = json!(period);
    p["failureThreshold"] = json!(3);
    p["timeoutSeconds"] = json!(timeout);
    p
}

/// Every object of every service, as a multi-document YAML text (`None`: no services).
pub fn manifests(pairs: &[(&Service, &Wired)], namespace: &str) -> Option<String> {
    if pairs.is_empty() {
        return None;
    }
    let mut out = String::from(
        "# Rendered by kilter from kilter.yaml `services:`; applied with\n# kubectl apply --server-side --field-manager=kilter. Edits here are overwritten.\n",
    );
    for (service, wired) in pairs {
        for o in objects(service, wired, namespace) {
            out.push_str("---\n");
            out.push_str(&yaml::to_yaml(&o));
        }
    }
    Some(out)
}
