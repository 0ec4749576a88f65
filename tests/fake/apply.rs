//! `kubectl apply --server-side --field-manager=M -f -|FILE` and
//! `kubectl delete TYPE[,TYPE…] -n NS -l SELECTOR` against the fake cluster store.
//!
//! apply reads multi-document YAML (or JSON, or a `List`) and stores each object the way the API
//! server would after a server-side apply: Services get a cluster IP and their NodePorts checked
//! (range 30000-32767, not allocated by another Service), PersistentVolumeClaims wait for their
//! first consumer, Deployments and StatefulSets get their pods (see `workloads.rs`). It prints
//! `<kind>[.<group>]/<name> serverside-applied` per object, then the errors of the ones that
//! failed (exit 1). delete prints `<kind>[.<group>] "<name>" deleted` per object, or
//! `No resources found`.

use std::io::Read as _;

use serde_json::{Value, json};

use crate::args;
use crate::common::{Ctx, random_hex, random_uid};
use crate::kubectl::{
    ConnError, RESOURCES, Resource, conn_cause, discovery_lines, selector_matches,
};
use crate::proxy::{Probe, connect_or_report};
use crate::state::ClusterStore;
use crate::timefmt;
use crate::workloads::{self, Kind, Node};

/// `group/` of an apiVersion as kubectl prints it: `.apps` for `apps/v1`, nothing for `v1`.
fn group_suffix(r: &Resource) -> String {
    r.api_version.split_once('/').map(|(g, _)| format!(".{g}")).unwrap_or_default()
}

/// The objects of a YAML (or JSON) stream, `List`s flattened; empty documents skipped.
fn documents(text: &str) -> Result<Vec<Value>, String> {
    use serde::Deserialize as _;
    let mut out = Vec::new();
    for doc in serde_yaml::Deserializer::from_str(text) {
        let v = serde_yaml::Value::deserialize(doc)
            .map_err(|e| format!("error converting YAML to JSON: yaml: {e}"))?;
        let v: Value =
            serde_json::to_value(v).map_err(|e| format!("error converting YAML to JSON: {e}"))?;
        match v {
            Value::Null => {}
            Value::Object(_) if v["kind"] == "List" => {
                out.extend(v["items"].as_array().cloned().unwrap_or_default());
            }
            other => out.push(other),
        }
    }
    Ok(out)
}

pub fn apply(ctx: &Ctx, p: &args::Parsed) -> i32 {
    if !p.has("--server-side") || p.pos.len() != 1 {
        // Client-side apply (last-applied annotations, three-way merges) is not modelled.
        return ctx.unexpected();
    }
    let Some(file) = p.get("--filename") else {
        errln!("error: must specify one of -f and -k");
        errln!();
        return 1;
    };
    let (text, source) = if file == "-" {
        let mut s = String::new();
        if std::io::stdin().read_to_string(&mut s).is_err() {
            return ctx.unexpected();
        }
        (s, "STDIN".to_string())
    } else {
        match std::fs::read_to_string(file) {
            Ok(s) => (s, file.to_string()),
            Err(_) => {
                errln!("error: the path \"{file}\" does not exist");
                return 1;
            }
        }
    };
    // kubectl 1.32 resolves the context first, then reads the objects, then validates them
    // against the server's OpenAPI document (the first request: no discovery lines before it).
    let conn = match crate::kubectl::connect(ctx, p) {
        Ok(c) => Ok(c),
        Err(ConnError::Config(m)) => {
            errln!("{m}");
            return 1;
        }
        Err(ConnError::NoContext(name)) => {
            errln!("error: context \"{name}\" does not exist");
            return 1;
        }
        Err(e) => Err(e),
    };
    let objects = match documents(&text) {
        Ok(o) => o,
        Err(e) => {
            errln!("error: error parsing {source}: {e}");
            return 1;
        }
    };
    if objects.is_empty() {
        errln!("error: no objects passed to apply");
        return 1;
    }
    let conn = match conn {
        Ok(c) => c,
        Err(e) => {
            let timeout = p.get("--request-timeout").filter(|t| *t != "0").unwrap_or("32s");
            let (url, cause) = conn_cause(&e).unwrap_or_default();
            errln!(
                "error: error validating \"{source}\": error validating data: failed to download openapi: Get \"{url}/openapi/v2?timeout={timeout}\": {cause}; if you choose to ignore these errors, turn validation off with --validate=false"
            );
            return 1;
        }
    };
    let ready_after = {
        let k = ctx.knob("apply_ready_ms");
        if k.trim().is_empty() { "0".to_string() } else { k.trim().to_string() }
    };
    let node = Node::of(&conn.container);
    let _l = ctx.lock();
    let mut errors = Vec::new();
    for mut o in objects {
        let kind = o["kind"].as_str().unwrap_or_default().to_string();
        let api = o["apiVersion"].as_str().unwrap_or_default().to_string();
        let name = o["metadata"]["name"].as_str().unwrap_or_default().to_string();
        let ns = o["metadata"]["namespace"]
            .as_str()
            .map(str::to_string)
            .unwrap_or_else(|| conn.namespace.clone());
        let Some(r) = RESOURCES.iter().find(|r| r.kind == kind && r.api_version == api) else {
            errors.push(format!(
                "error: resource mapping not found for name: \"{name}\" namespace: \"{}\" from \"{source}\": no matches for kind \"{kind}\" in version \"{api}\"\nensure CRDs are installed first",
                o["metadata"]["namespace"].as_str().unwrap_or("")
            ));
            continue;
        };
        if name.is_empty() {
            errors.push("error: error when retrieving current configuration: resource name may not be empty".into());
            continue;
        }
        if !r.namespaced || matches!(r.kind, "Pod" | "ReplicaSet") {
            // Only what kilter applies is modelled.
            return ctx.unexpected();
        }
        if !conn.store.namespaces().contains(&ns) {
            errors.push(format!("Error from server (NotFound): namespaces \"{ns}\" not found"));
            continue;
        }
        o["metadata"]["namespace"] = json!(ns);
        let result = match r.kind {
            "Service" => apply_service(&conn.store, &ns, o),
            "PersistentVolumeClaim" => apply_claim(&conn.store, &ns, o),
            _ => workloads::apply_workload(&conn.store, &ns, o, &node, &ready_after),
        };
        match result {
            Ok(()) => {
                outln!("{}{}/{name} serverside-applied", kind.to_ascii_lowercase(), group_suffix(r))
            }
            Err(e) => errors.push(e),
        }
    }
    if errors.is_empty() {
        return 0;
    }
    for e in errors {
        errln!("{e}");
    }
    1
}

/// Metadata the server fills in on create, and keeps on update.
fn merge_metadata(store: &ClusterStore, applied: &mut Value, existing: Option<&Value>) {
    let m = &mut applied["metadata"];
    match existing {
        Some(e) => {
            for k in ["uid", "creationTimestamp"] {
                m[k] = e["metadata"][k].clone();
            }
            if let Some(a) = e["metadata"]["annotations"].as_object() {
                for (k, v) in a {
                    if m["annotations"][k.as_str()].is_null() {
                        m["annotations"][k.as_str()] = v.clone();
                    }
                }
            }
        }
        None => {
            m["uid"] = json!(random_uid());
            m["creationTimestamp"] = json!(timefmt::rfc3339_secs(timefmt::now_ms()));
        }
    }
    m["resourceVersion"] = json!(store.next_rv());
}

/// NodePorts held by the Services of every namespace but `except` (namespace, name).
fn allocated_node_ports(store: &ClusterStore, except: (&str, &str)) -> Vec<u64> {
    let mut out = Vec::new();
    for ns in store.namespaces() {
        for (name, svc) in store.list_namespaced(&ns, "services") {
            if (ns.as_str(), name.as_str()) == except {
                continue;
            }
            for p in svc["spec"]["ports"].as_array().map(Vec::as_slice).unwrap_or_default() {
                if let Some(np) = p["nodePort"].as_u64() {
                    out.push(np);
                }
            }
        }
    }
    out
}

fn apply_service(store: &ClusterStore, ns: &str, mut o: Value) -> Result<(), String> {
    let name = o["metadata"]["name"].as_str().unwrap_or_default().to_string();
    let existing = store.list_namespaced(ns, "services").get(&name).cloned();
    let node_port_type = matches!(o["spec"]["type"].as_str(), Some("NodePort" | "LoadBalancer"));
    let taken = allocated_node_ports(store, (ns, &name));
    let mut used: Vec<u64> = Vec::new();
    let ports = o["spec"]["ports"].as_array().cloned().unwrap_or_default();
    let mut out_ports = Vec::new();
    for (i, mut port) in ports.into_iter().enumerate() {
        if port["protocol"].is_null() {
            port["protocol"] = json!("TCP");
        }
        if port["targetPort"].is_null() {
            port["targetPort"] = port["port"].clone();
        }
        if node_port_type {
            let np = match port["nodePort"].as_u64() {
                Some(np) => np,
                None => {
                    // The one the Service had, else a random free one.
                    let kept = existing.as_ref().and_then(|e| {
                        e["spec"]["ports"][i]["nodePort"]
                            .as_u64()
                            .filter(|_| e["spec"]["ports"][i]["name"] == port["name"])
                    });
                    kept.unwrap_or_else(|| {
                        let seed = u64::from_str_radix(&random_hex(2), 16).unwrap_or(0);
                        (0..2768)
                            .map(|k| 30000 + (seed + k) % 2768)
                            .find(|p| !taken.contains(p) && !used.contains(p))
                            .unwrap_or(30000)
                    })
                }
            };
            if !(30000..=32767).contains(&np) {
                return Err(format!(
                    "The Service \"{name}\" is invalid: spec.ports[{i}].nodePort: Invalid value: {np}: provided port is not in the valid range. The range of valid ports is 30000-32767"
                ));
            }
            if taken.contains(&np) || used.contains(&np) {
                return Err(format!(
                    "The Service \"{name}\" is invalid: spec.ports[{i}].nodePort: Invalid value: {np}: provided port is already allocated"
                ));
            }
            used.push(np);
            port["nodePort"] = json!(np);
        }
        out_ports.push(port);
    }
    o["spec"]["ports"] = json!(out_ports);
    let cluster_ip = existing
        .as_ref()
        .and_then(|e| e["spec"]["clusterIP"].as_str().map(str::to_string))
        .unwrap_or_else(|| {
            let b = u8::from_str_radix(&random_hex(1), 16).unwrap_or(7);
            format!("10.96.{}.{}", b % 200 + 1, (b / 2) % 250 + 2)
        });
    let spec = &mut o["spec"];
    spec["clusterIP"] = json!(cluster_ip);
    spec["clusterIPs"] = json!([cluster_ip]);
    for (k, v) in [
        ("internalTrafficPolicy", json!("Cluster")),
        ("ipFamilies", json!(["IPv4"])),
        ("ipFamilyPolicy", json!("SingleStack")),
        ("sessionAffinity", json!("None")),
        ("type", json!("ClusterIP")),
    ] {
        if spec[k].is_null() {
            spec[k] = v;
        }
    }
    if node_port_type && spec["externalTrafficPolicy"].is_null() {
        spec["externalTrafficPolicy"] = json!("Cluster");
    }
    o["status"] = json!({"loadBalancer": {}});
    merge_metadata(store, &mut o, existing.as_ref());
    store.put_namespaced(ns, "services", &name, o);
    Ok(())
}

fn apply_claim(store: &ClusterStore, ns: &str, mut o: Value) -> Result<(), String> {
    let name = o["metadata"]["name"].as_str().unwrap_or_default().to_string();
    let existing = store.list_namespaced(ns, "persistentvolumeclaims").get(&name).cloned();
    if let Some(e) = &existing {
        let old = &e["spec"]["resources"]["requests"]["storage"];
        let new = &o["spec"]["resources"]["requests"]["storage"];
        if !new.is_null() && new != old {
            // kind's local-path StorageClass cannot expand volumes.
            return Err(format!(
                "The PersistentVolumeClaim \"{name}\" is invalid: spec.resources.requests.storage: Forbidden: only dynamically provisioned pvc can be resized and the storageclass that provisions the pvc must support resize"
            ));
        }
        // Nothing else changes for a claim that exists.
        let mut kept = e.clone();
        if let Some(labels) = o["metadata"]["labels"].as_object() {
            for (k, v) in labels {
                kept["metadata"]["labels"][k.as_str()] = v.clone();
            }
        }
        kept["metadata"]["resourceVersion"] = json!(store.next_rv());
        store.put_namespaced(ns, "persistentvolumeclaims", &name, kept);
        return Ok(());
    }
    let spec = &mut o["spec"];
    if spec["storageClassName"].is_null() {
        spec["storageClassName"] = json!("standard");
    }
    if spec["volumeMode"].is_null() {
        spec["volumeMode"] = json!("Filesystem");
    }
    o["metadata"]["annotations"]["volume.beta.kubernetes.io/storage-provisioner"] =
        json!("rancher.io/local-path");
    o["metadata"]["annotations"]["volume.kubernetes.io/storage-provisioner"] =
        json!("rancher.io/local-path");
    o["metadata"]["finalizers"] = json!(["kubernetes.io/pvc-protection"]);
    o["status"] = json!({"phase": "Pending"});
    merge_metadata(store, &mut o, None);
    store.put_namespaced(ns, "persistentvolumeclaims", &name, o);
    Ok(())
}

/// `kubectl delete TYPE[,TYPE…] -n NS -l SELECTOR [--wait…]`.
pub fn delete(ctx: &Ctx, p: &args::Parsed) -> i32 {
    let [_, types] = p.pos.as_slice() else { return ctx.unexpected() };
    let Some(selector) = p.get("--selector") else { return ctx.unexpected() };
    let mut wanted: Vec<&'static Resource> = Vec::new();
    for t in types.split(',') {
        match crate::kubectl::resource(t) {
            Some(r) if r.namespaced => wanted.push(r),
            Some(_) => return ctx.unexpected(),
            None => {
                errln!("error: the server doesn't have a resource type \"{t}\"");
                return 1;
            }
        }
    }
    let probe = Probe::Discovery(discovery_lines(Some(types)));
    let conn = match connect_or_report(ctx, p, probe, |_| {}) {
        Ok(c) => c,
        Err(code) => return code,
    };
    let ns = conn.namespace.clone();
    let _l = ctx.lock();
    let mut found = 0;
    for r in wanted {
        for (name, o) in conn.store.list_namespaced(&ns, r.names[0]) {
            match selector_matches(Some(selector), &o) {
                Some(true) => {}
                Some(false) => continue,
                None => return ctx.unexpected(),
            }
            found += 1;
            match Kind::from_object(&o) {
                Some(kind) => workloads::delete_workload(&conn.store, &ns, kind, &name),
                None => {
                    conn.store.delete_namespaced(&ns, r.names[0], &name);
                }
            }
            outln!("{}{} \"{name}\" deleted", r.kind.to_ascii_lowercase(), group_suffix(r));
        }
    }
    if found == 0 {
        outln!("No resources found");
    }
    0
}
