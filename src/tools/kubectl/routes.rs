//! `routes:` in kilter.yaml (docs/kilter-yaml.md): read the user's own Service
//! (`get service NAME -n NS -o json`) and build the NodePort Service `kilter-route-<name>` kilter
//! applies beside it, with the same selector.

use std::collections::BTreeMap;

use anyhow::{Context, Result};
use serde::Deserialize;
use serde_json::json;

use super::Kubectl;
use crate::exec::{Cmd, Output};

/// The label on a route's Service: its route name (not `app.kubernetes.io/managed-by`, so the
/// pruning of kilter's services never takes it).
pub const ROUTE_LABEL: &str = "io.kilter.route";

impl Kubectl<'_> {
    /// `get service NAME -n NS -o json`: the user's Service a route names.
    pub fn get_service_cmd(&self, name: &str, ns: &str) -> Cmd {
        self.cmd(format!("read Service {name}"), ["get", "service", name, "-n", ns, "-o", "json"])
    }
}

/// What kilter needs of a Service: its selector and its ports.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ServiceInfo {
    pub selector: BTreeMap<String, String>,
    /// `(port, targetPort as written)`: the target is a number or a named container port.
    pub ports: Vec<(u16, serde_json::Value)>,
}

#[derive(Deserialize)]
struct Doc {
    kind: String,
    #[serde(default)]
    spec: Spec,
}

#[derive(Deserialize, Default)]
struct Spec {
    #[serde(default)]
    selector: Option<BTreeMap<String, String>>,
    #[serde(default)]
    ports: Vec<PortDoc>,
}

#[derive(Deserialize)]
struct PortDoc {
    port: u16,
    #[serde(default, rename = "targetPort")]
    target_port: Option<serde_json::Value>,
}

/// `None` when kubectl said the Service does not exist (`Error from server (NotFound)`, exit 1);
/// the Service otherwise; an error for any other failure or a reply that is not a Service.
pub fn interpret_get_service(out: &Output) -> Result<Option<ServiceInfo>> {
    if !out.success() {
        if out.stderr.contains("(NotFound)") {
            return Ok(None);
        }
        anyhow::bail!("kubectl get service failed: {}", super::last_line(&out.stderr));
    }
    parse_service(&out.stdout).map(Some)
}

pub fn parse_service(stdout: &str) -> Result<ServiceInfo> {
    let doc: Doc = serde_json::from_str(stdout).context("kubectl's Service is not JSON")?;
    anyhow::ensure!(doc.kind == "Service", "expected a Service from kubectl, got a {}", doc.kind);
    Ok(ServiceInfo {
        selector: doc.spec.selector.unwrap_or_default(),
        ports: doc
            .spec
            .ports
            .into_iter()
            .map(|p| {
                let target = p.target_port.unwrap_or_else(|| json!(p.port));
                (p.port, target)
            })
            .collect(),
    })
}

/// `kilter-route-<route>`
pub fn route_service_name(route: &str) -> String {
    format!("kilter-route-{route}")
}

/// The NodePort Service of route `route` (JSON, which `kubectl apply` reads as YAML): the user's
/// Service's selector, its port `port` (targeting what that port targets, so a named target
/// port works too) on `node_port`.
pub fn route_service_manifest(
    route: &str,
    ns: &str,
    info: &ServiceInfo,
    port: u16,
    node_port: u16,
) -> String {
    let target =
        info.ports.iter().find(|(p, _)| *p == port).map_or_else(|| json!(port), |(_, t)| t.clone());
    let doc = json!({
        "apiVersion": "v1",
        "kind": "Service",
        "metadata": {
            "name": route_service_name(route),
            "namespace": ns,
            "labels": {ROUTE_LABEL: route},
        },
        "spec": {
            "type": "NodePort",
            "selector": info.selector,
            "ports": [{"name": "http", "port": port, "targetPort": target, "nodePort": node_port, "protocol": "TCP"}],
        },
    });
    serde_json::to_string_pretty(&doc).unwrap_or_default() + "\n"
}

#[cfg(test)]
mod tests {
    use super::*;

    const WEB: &str = r#"{
    "apiVersion": "v1",
    "kind": "Service",
    "metadata": {"name": "web", "namespace": "shop-dev"},
    "spec": {
        "clusterIP": "10.96.3.4",
        "ports": [{"name": "http", "port": 80, "protocol": "TCP", "targetPort": "http"}, {"port": 9090, "protocol": "TCP", "targetPort": 9090}],
        "selector": {"app": "web", "tier": "front"},
        "type": "ClusterIP"
    }
}"#;

    #[test]
    fn a_service_gives_its_selector_and_ports() {
        let info = parse_service(WEB).expect("a Service");
        assert_eq!(info.selector.get("app").map(String::as_str), Some("web"));
        assert_eq!(info.selector.len(), 2);
        assert_eq!(info.ports, vec![(80, json!("http")), (9090, json!(9090))]);
        assert!(parse_service(r#"{"kind": "Pod", "spec": {}}"#).is_err());
        assert!(parse_service("nope").is_err());
    }

    #[test]
    fn the_route_manifest_keeps_the_selector_and_the_target() {
        let info = parse_service(WEB).expect("a Service");
        let text = route_service_manifest("web", "shop-dev", &info, 80, 30950);
        let v: serde_json::Value = serde_json::from_str(&text).expect("JSON");
        assert_eq!(v["metadata"]["name"], "kilter-route-web");
        assert_eq!(v["metadata"]["namespace"], "shop-dev");
        assert_eq!(v["metadata"]["labels"][ROUTE_LABEL], "web");
        assert_eq!(v["spec"]["type"], "NodePort");
        assert_eq!(v["spec"]["selector"], json!({"app": "web", "tier": "front"}));
        assert_eq!(v["spec"]["ports"][0]["nodePort"], 30950);
        assert_eq!(v["spec"]["ports"][0]["targetPort"], "http");
        let other = route_service_manifest("m", "shop-dev", &info, 9090, 30949);
        assert!(other.contains("\"targetPort\": 9090"), "{other}");
    }
}
