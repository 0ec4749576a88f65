//! Reading the state of kilter's services from kubectl: readiness of their workloads, why
//! their pods are not ready, and what `kubectl delete` removed.

use anyhow::Result;
use serde_json::Value;

/// The label every object of kilter's services carries: `app.kubernetes.io/managed-by=kilter`.
pub const MANAGED_BY: &str = "app.kubernetes.io/managed-by";
/// The label naming the service an object belongs to.
pub const NAME_LABEL: &str = "app.kubernetes.io/name";

/// Whether one service is ready, and if not, why.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Readiness {
    pub name: String,
    pub ready: bool,
    /// `2/2 ready`, `ContainerCreating`, `ImagePullBackOff: Back-off pulling image …`, …
    pub detail: String,
}

fn items_of(stdout: &str, what: &str) -> Result<Vec<Value>> {
    let v: Value = serde_json::from_str(stdout)
        .map_err(|e| anyhow::anyhow!("could not parse `kubectl get{what}` output: {e}"))?;
    Ok(v["items"].as_array().cloned().unwrap_or_default())
}

/// Read `kubectl get statefulsets,deployments,pods -l app.kubernetes.io/managed-by=kilter -o
/// json`: each service (its name and its workload's kind, `StatefulSet` or `Deployment`) is
/// ready when its workload has seen its latest spec and every replica is updated and ready
/// (and, for a StatefulSet, its current revision is the update revision).
pub fn readiness(stdout: &str, services: &[(String, &str)]) -> Result<Vec<Readiness>> {
    let items = items_of(stdout, "")?;
    let mut out = Vec::with_capacity(services.len());
    for (name, kind_word) in services {
        let workload =
            items.iter().find(|o| o["kind"] == *kind_word && o["metadata"]["name"] == **name);
        let Some(w) = workload else {
            out.push(Readiness {
                name: name.clone(),
                ready: false,
                detail: "not created yet".to_owned(),
            });
            continue;
        };
        let n = |v: &Value| v.as_u64().unwrap_or(0);
        let replicas = w["spec"]["replicas"].as_u64().unwrap_or(1);
        let st = &w["status"];
        let seen =
            n(&st["observedGeneration"]) >= w["metadata"]["generation"].as_u64().unwrap_or(1);
        let updated = n(&st["updatedReplicas"]) >= replicas;
        let ready_n = n(&st["readyReplicas"]);
        let no_old = n(&st["replicas"]) <= replicas;
        let revision_done = match (st["currentRevision"].as_str(), st["updateRevision"].as_str()) {
            (Some(c), Some(u)) => c == u,
            _ => true,
        };
        let ready = seen && updated && ready_n >= replicas && no_old && revision_done;
        let detail = if ready {
            format!("{ready_n}/{replicas} ready")
        } else {
            pods_state(&items, name).unwrap_or_else(|| format!("{ready_n}/{replicas} ready"))
        };
        out.push(Readiness { name: name.clone(), ready, detail });
    }
    Ok(out)
}

fn pod_ready(p: &Value) -> bool {
    p["status"]["conditions"]
        .as_array()
        .is_some_and(|cs| cs.iter().any(|c| c["type"] == "Ready" && c["status"] == "True"))
}

/// Why the pods of service `name` are not ready (the first waiting reason, an unschedulable
/// pod's message, or `N/M ready`); `None` when it has no pods.
fn pods_state(items: &[Value], name: &str) -> Option<String> {
    let pods: Vec<&Value> = items
        .iter()
        .filter(|o| o["kind"] == "Pod" && o["metadata"]["labels"][NAME_LABEL] == *name)
        .collect();
    if pods.is_empty() {
        return None;
    }
    for p in &pods {
        for s in p["status"]["containerStatuses"].as_array().map(Vec::as_slice).unwrap_or_default()
        {
            if let Some(reason) = s["state"]["waiting"]["reason"].as_str() {
                return Some(match s["state"]["waiting"]["message"].as_str() {
                    Some(m) if reason != "ContainerCreating" => format!("{reason}: {m}"),
                    _ => reason.to_owned(),
                });
            }
        }
        if p["status"]["phase"] == "Pending"
            && let Some(c) = p["status"]["conditions"].as_array().and_then(|cs| {
                cs.iter().find(|c| c["type"] == "PodScheduled" && c["status"] == "False")
            })
        {
            return Some(format!(
                "Pending: {}",
                c["message"].as_str().or(c["reason"].as_str()).unwrap_or("not scheduled")
            ));
        }
    }
    let ready = pods.iter().filter(|p| pod_ready(p)).count();
    Some(format!("{ready}/{} pods ready", pods.len()))
}

/// The pods of `kubectl get pods -o json`, to be asked about kilter's services.
#[derive(Debug, Clone)]
pub struct PodList {
    items: Vec<Value>,
}

/// What the pods of one of kilter's services say.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ServicePods {
    /// It has pods and every one is Ready.
    pub ready: bool,
    /// Why not ([`readiness`]'s detail); `None` when it has no pods.
    pub state: Option<String>,
}

impl PodList {
    pub fn parse(stdout: &str) -> Result<PodList> {
        Ok(PodList { items: items_of(stdout, " pods")? })
    }

    /// The pods of service `name` that kilter manages.
    pub fn service(&self, name: &str) -> ServicePods {
        let ours: Vec<Value> = self
            .items
            .iter()
            .filter(|p| {
                p["metadata"]["labels"][NAME_LABEL] == *name
                    && p["metadata"]["labels"][MANAGED_BY] == "kilter"
            })
            .cloned()
            .collect();
        let ready = !ours.is_empty() && ours.iter().all(pod_ready);
        ServicePods { ready, state: pods_state(&ours, name) }
    }
}

/// One object `kubectl delete` reports deleted: `statefulset.apps "redis" deleted`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Deleted {
    /// `statefulset.apps`, `service`, `persistentvolumeclaim`, …
    pub resource: String,
    pub name: String,
}

/// The `… deleted` lines of `kubectl delete` (`No resources found` and the rest are not).
pub fn parse_deleted(stdout: &str) -> Vec<Deleted> {
    stdout
        .lines()
        .filter(|l| l.ends_with(" deleted"))
        .filter_map(|l| {
            let (resource, rest) = l.split_once(" \"")?;
            let name = rest.split('"').next()?;
            Some(Deleted { resource: resource.to_owned(), name: name.to_owned() })
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sts(name: &str, ready: u64, gen_seen: u64) -> Value {
        serde_json::json!({"kind": "StatefulSet", "metadata": {"name": name, "generation": 2},
            "spec": {"replicas": 1},
            "status": {"observedGeneration": gen_seen, "replicas": 1, "updatedReplicas": 1,
                       "readyReplicas": ready, "currentRevision": "r1", "updateRevision": "r1"}})
    }

    fn pod(service: &str, ready: bool, waiting: Option<&str>) -> Value {
        let mut status = serde_json::json!({"phase": "Running",
            "conditions": [{"type": "Ready", "status": if ready { "True" } else { "False" }}]});
        if let Some(r) = waiting {
            status["containerStatuses"] =
                serde_json::json!([{"state": {"waiting": {"reason": r, "message": "pulling"}}}]);
        }
        serde_json::json!({"kind": "Pod", "metadata": {"name": format!("{service}-0"),
            "labels": {NAME_LABEL: service, MANAGED_BY: "kilter"}}, "status": status})
    }

    fn list(items: Vec<Value>) -> String {
        serde_json::json!({"apiVersion": "v1", "kind": "List", "items": items}).to_string()
    }

    #[test]
    fn ready_waiting_and_missing_services() {
        let text = list(vec![
            sts("postgres", 1, 2),
            sts("redis", 0, 2),
            pod("postgres", true, None),
            pod("redis", false, Some("ImagePullBackOff")),
        ]);
        let got = readiness(
            &text,
            &[
                ("postgres".into(), "StatefulSet"),
                ("redis".into(), "StatefulSet"),
                ("nats".into(), "Deployment"),
            ],
        )
        .expect("parses");
        assert_eq!(
            got,
            vec![
                Readiness { name: "postgres".into(), ready: true, detail: "1/1 ready".into() },
                Readiness {
                    name: "redis".into(),
                    ready: false,
                    detail: "ImagePullBackOff: pulling".into()
                },
                Readiness { name: "nats".into(), ready: false, detail: "not created yet".into() },
            ]
        );
        // a service's own pods explain it: another service's waiting pod is not its reason
        let text = list(vec![
            sts("postgres", 0, 2),
            sts("redis", 0, 2),
            pod("postgres", false, None),
            pod("redis", false, Some("ImagePullBackOff")),
        ]);
        let got = readiness(&text, &[("postgres".into(), "StatefulSet")]).expect("parses");
        assert_eq!(got[0].detail, "0/1 pods ready", "{got:?}");
        // an old generation is not ready even with every replica ready
        let stale =
            readiness(&list(vec![sts("postgres", 1, 1)]), &[("postgres".into(), "StatefulSet")])
                .expect("parses");
        assert!(!stale[0].ready, "{stale:?}");
        // a StatefulSet whose rollout has not finished (its current revision is not the update
        // revision yet) is not ready either; a Deployment has no revisions in its status
        let mut rolling = sts("postgres", 1, 2);
        rolling["status"]["updateRevision"] = "r2".into();
        let got =
            readiness(&list(vec![rolling]), &[("postgres".into(), "StatefulSet")]).expect("parses");
        assert!(!got[0].ready, "{got:?}");
        let mut deploy = sts("web", 1, 2);
        deploy["kind"] = "Deployment".into();
        let status = deploy["status"].as_object_mut().expect("status");
        status.remove("currentRevision");
        status.remove("updateRevision");
        let got = readiness(&list(vec![deploy]), &[("web".into(), "Deployment")]).expect("parses");
        assert!(got[0].ready, "{got:?}");
        assert!(readiness("{", &[]).is_err());
    }

    #[test]
    fn a_service_pods() {
        let pods = PodList::parse(&list(vec![
            pod("postgres", true, None),
            pod("redis", false, Some("ContainerCreating")),
        ]))
        .expect("parses");
        assert_eq!(
            pods.service("postgres"),
            ServicePods { ready: true, state: Some("1/1 pods ready".into()) }
        );
        assert_eq!(
            pods.service("redis"),
            ServicePods { ready: false, state: Some("ContainerCreating".into()) }
        );
        assert_eq!(pods.service("nats"), ServicePods { ready: false, state: None });
        assert!(PodList::parse("not json").is_err());

        // A pod the scheduler cannot place says why; a scheduled one still pending does not.
        let pending = |scheduled: &str| {
            let mut p = pod("redis", false, None);
            p["status"]["phase"] = "Pending".into();
            p["status"]["conditions"] = serde_json::json!([{"type": "PodScheduled",
                "status": scheduled, "reason": "Unschedulable",
                "message": "0/1 nodes are available: 1 Insufficient memory."}]);
            PodList::parse(&list(vec![p])).expect("parses").service("redis")
        };
        let why = "Pending: 0/1 nodes are available: 1 Insufficient memory.";
        assert_eq!(pending("False"), ServicePods { ready: false, state: Some(why.into()) });
        assert_eq!(
            pending("True"),
            ServicePods { ready: false, state: Some("0/1 pods ready".into()) }
        );
    }

    #[test]
    fn what_kubectl_delete_deleted() {
        let out =
            "statefulset.apps \"redis\" deleted\nservice \"redis\" deleted\nNo resources found\n";
        assert_eq!(
            parse_deleted(out),
            vec![
                Deleted { resource: "statefulset.apps".into(), name: "redis".into() },
                Deleted { resource: "service".into(), name: "redis".into() },
            ]
        );
        assert!(parse_deleted("No resources found\n").is_empty());
    }
}
