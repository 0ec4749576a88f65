//! Resolve `<service>` to a Deployment or StatefulSet in the project namespace (one `kubectl get`).

use anyhow::Result;

use crate::context::Ctx;
use crate::error::invalid;
use crate::project::Project;
use crate::tools::Tools;
use crate::tools::kubectl::Kubectl;

pub use crate::tools::kubectl::Workload;

/// "services in NS: a (deployment), b (statefulset)" — or that there are none yet.
pub fn listing(all: &[Workload], ns: &str) -> String {
    if all.is_empty() {
        return format!(
            "there are no Deployments or StatefulSets in {ns} yet (is Tilt still deploying? see `kilter status`)"
        );
    }
    let mut names: Vec<String> =
        all.iter().map(|w| format!("{} ({})", w.name, w.kind.to_ascii_lowercase())).collect();
    names.sort();
    format!("services in {ns}: {}", names.join(", "))
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
    project.kubectl(tools)
}

/// Every Deployment and StatefulSet of the namespace (one `kubectl get`).
pub fn list(ctx: &Ctx<'_>, kubectl: &Kubectl<'_>, ns: &str) -> Result<Vec<Workload>> {
    let out = ctx.runner.run(&kubectl.workloads_cmd(ns))?;
    let mut all = crate::tools::kubectl::parse_workloads(&out.stdout)?;
    all.sort_by(|a, b| (&a.kind, &a.name).cmp(&(&b.kind, &b.name)));
    Ok(all)
}

/// The workload named `service`, or exit 4 listing the ones that exist.
pub fn find(ctx: &Ctx<'_>, kubectl: &Kubectl<'_>, ns: &str, service: &str) -> Result<Workload> {
    let all = list(ctx, kubectl, ns)?;
    if let Some(w) = all.iter().find(|w| w.name == service) {
        return Ok(w.clone());
    }
    Err(invalid(format!(
        "unknown service `{service}`: no Deployment or StatefulSet of that name in {ns}; {}",
        listing(&all, ns)
    ))
    .into())
}

#[cfg(test)]
mod tests {
    use super::{Workload, listing};

    #[test]
    fn the_listing_names_each_workload_sorted_or_says_there_is_none() {
        let w = |kind: &str, name: &str| Workload {
            kind: kind.to_owned(),
            name: name.to_owned(),
            selector: None,
        };
        assert_eq!(
            listing(&[w("StatefulSet", "postgres"), w("Deployment", "api")], "shop-dev"),
            "services in shop-dev: api (deployment), postgres (statefulset)"
        );
        assert_eq!(
            listing(&[], "shop-dev"),
            "there are no Deployments or StatefulSets in shop-dev yet (is Tilt still deploying? see `kilter status`)"
        );
    }
}
