//! Resolve `<service>` to a Deployment or StatefulSet in the project namespace (one `kubectl get`).

use anyhow::Result;

use super::Ctx;
use crate::error::invalid;
use crate::project::Project;
use crate::tools::kubectl::Kubectl;
use crate::tools::{Tool, Tools};

/// A workload kilter can operate on.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Workload {
    /// `deployment` or `statefulset` (kubectl's resource name).
    pub kind: &'static str,
    pub name: String,
}

impl Workload {
    /// `deployment/web`
    pub fn target(&self) -> String {
        format!("{}/{}", self.kind, self.name)
    }
}

/// Parse `kubectl get deployments,statefulsets -o json`.
pub fn parse(stdout: &str) -> Result<Vec<Workload>> {
    let v: serde_json::Value = serde_json::from_str(stdout)
        .map_err(|e| anyhow::anyhow!("could not parse `kubectl get` output: {e}"))?;
    let mut out = Vec::new();
    for item in v["items"].as_array().map(Vec::as_slice).unwrap_or_default() {
        let kind = match item["kind"].as_str() {
            Some("Deployment") => "deployment",
            Some("StatefulSet") => "statefulset",
            _ => continue,
        };
        if let Some(name) = item["metadata"]["name"].as_str() {
            out.push(Workload { kind, name: name.to_owned() });
        }
    }
    out.sort_by(|a, b| (a.kind, &a.name).cmp(&(b.kind, &b.name)));
    Ok(out)
}

/// kubectl bound to the project, after checking the node runs (clear message instead of a hang).
pub fn kubectl<'t>(ctx: &Ctx<'_>, project: &Project, tools: &'t Tools) -> Result<Kubectl<'t>> {
    let docker = tools.docker()?;
    let state = docker.inspect(ctx.runner, &project.node())?.map(|c| c.node_state());
    match state {
        Some(crate::tools::docker::NodeState::Running) => {}
        Some(crate::tools::docker::NodeState::NotRunning(s)) => {
            return Err(crate::error::Exit::new(
                crate::error::Code::Failed,
                format!("cluster {} is {s}", project.cluster()),
            )
            .hint("start it with `kilter up`")
            .into());
        }
        None | Some(crate::tools::docker::NodeState::Absent) => {
            return Err(crate::error::Exit::new(
                crate::error::Code::Failed,
                format!("project `{}` has no cluster", project.name),
            )
            .hint("create it with `kilter up`")
            .into());
        }
    }
    if !project.paths.kubeconfig.exists() {
        return Err(crate::error::Exit::new(
            crate::error::Code::Failed,
            format!("the kubeconfig {} is missing", project.paths.kubeconfig),
        )
        .hint("`kilter up` writes it again")
        .into());
    }
    Ok(Kubectl {
        bin: tools.get(Tool::Kubectl)?,
        kubeconfig: project.paths.kubeconfig.clone(),
        context: project.context(),
    })
}

/// Every Deployment and StatefulSet of the namespace.
pub fn list(ctx: &Ctx<'_>, kubectl: &Kubectl<'_>, ns: &str) -> Result<Vec<Workload>> {
    let cmd =
        kubectl.cmd("list workloads", ["get", "deployments,statefulsets", "-n", ns, "-o", "json"]);
    let out = ctx.runner.run(&cmd)?;
    parse(&out.stdout)
}

/// The workload named `service`, or exit 4 listing the ones that exist.
pub fn find(ctx: &Ctx<'_>, kubectl: &Kubectl<'_>, ns: &str, service: &str) -> Result<Workload> {
    let all = list(ctx, kubectl, ns)?;
    if let Some(w) = all.iter().find(|w| w.name == service) {
        return Ok(w.clone());
    }
    let existing = if all.is_empty() {
        format!("there are no Deployments or StatefulSets in {ns} yet")
    } else {
        format!(
            "services in {ns}: {}",
            all.iter().map(|w| format!("{} ({})", w.name, w.kind)).collect::<Vec<_>>().join(", ")
        )
    };
    Err(invalid(format!(
        "unknown service `{service}`: no Deployment or StatefulSet of that name in {ns}; {existing}"
    ))
    .into())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_deployments_and_statefulsets_sorted() {
        let json = r#"{"apiVersion":"v1","items":[
            {"apiVersion":"apps/v1","kind":"StatefulSet","metadata":{"name":"postgres"}},
            {"apiVersion":"apps/v1","kind":"Deployment","metadata":{"name":"web"}},
            {"apiVersion":"apps/v1","kind":"Deployment","metadata":{"name":"api"}}],
            "kind":"List","metadata":{"resourceVersion":""}}"#;
        let w = parse(json).expect("parses");
        let t: Vec<String> = w.iter().map(Workload::target).collect();
        assert_eq!(t, ["deployment/api", "deployment/web", "statefulset/postgres"]);
    }
}
