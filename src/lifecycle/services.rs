//! The services of kilter.yaml in a project's cluster, shared by `kilter up`, `kilter ci`,
//! `kilter add` and `kilter remove` (and read by `env` and `status`): resolving the list,
//! recording their NodePorts, applying them and waiting until they are ready.

use std::time::Duration;

use anyhow::Result;

use crate::context::Ctx;
use crate::project::Project;
use crate::services::deploy::{self, Target};
use crate::services::{self, NodePorts, Service, Wired};
use crate::tools::Tools;
use crate::tools::kubectl::Kubectl;

/// The project's services (kilter.yaml `services:`), checked: a problem is exit 4 at its
/// `file:line:column`.
pub fn services_of(project: &Project) -> Result<Vec<Service>> {
    Ok(services::resolve(&project.file_path, &project.config.services)?)
}

/// The services' NodePorts as recorded in the port registry, or as `up` would assign them
/// (nothing is reserved).
pub fn preview_nodeports(ctx: &Ctx<'_>, project: &Project, list: &[Service]) -> Result<NodePorts> {
    crate::ports::preview_nodeports(
        &ctx.dirs.port_registry(),
        &project.name,
        &services::wanted_ports(list),
    )
}

/// Record the services' NodePorts in the port registry (under its lock; ports already recorded
/// stay, services no longer listed give theirs back). Returns the NodePorts and the services
/// recorded before.
///
/// The registry must exist (`up` writes it): rebuilding it is `up`'s job, which reads every
/// cluster's slot first.
pub fn assign_nodeports(
    ctx: &Ctx<'_>,
    project: &Project,
    list: &[Service],
) -> Result<(NodePorts, Vec<String>)> {
    let wanted = services::wanted_ports(list);
    let path = ctx.dirs.port_registry();
    let missing = || {
        Err(crate::error::invalid(format!("the port registry {path} is missing"))
            .hint("`kilter up` rebuilds it from the clusters that exist")
            .into())
    };
    let (out, _) = crate::ports::with_registry(&path, ctx.runner, missing, |reg| {
        reg.assign(&project.name, None)?;
        reg.assign_nodeports(&project.name, &wanted)
    })?;
    Ok(out)
}

/// kubectl for the project when its cluster runs (node running, kubeconfig there); `None`
/// otherwise. One `docker inspect`.
pub fn running_cluster<'t>(
    ctx: &Ctx<'_>,
    project: &Project,
    tools: &'t Tools,
) -> Result<Option<Kubectl<'t>>> {
    let node = tools.docker()?.inspect(ctx.runner, &project.node())?;
    let running =
        node.as_ref().is_some_and(|c| c.node_state() == crate::tools::docker::NodeState::Running);
    if !running || !project.paths.kubeconfig.exists() {
        return Ok(None);
    }
    Ok(Some(project.kubectl(tools)?))
}

/// What [`deploy_services`] puts into a running cluster.
pub struct Deploy<'a> {
    pub kubectl: &'a Kubectl<'a>,
    /// kilter.yaml's services.
    pub services: &'a [Service],
    pub nodeports: &'a NodePorts,
    /// The services this project had deployed before (the port registry's record).
    pub had: &'a [String],
    /// Also delete the data (PersistentVolumeClaims) of services no longer listed.
    pub prune_data: bool,
    /// How long every service may take to become ready (exit 5 past it).
    pub timeout: Duration,
}

/// Put the project's services into its running cluster: write and apply their manifests,
/// delete the services of kilter's that kilter.yaml no longer lists (when it lists any, listed
/// some before (`had`), or `prune_data` asks to delete left-over data), and wait until every
/// one is ready (exit 5 past `timeout`).
pub fn deploy_services(ctx: &Ctx<'_>, project: &Project, d: &Deploy<'_>) -> Result<Vec<Wired>> {
    let Deploy { kubectl, services: list, nodeports, had, prune_data, timeout } = *d;
    let ns = project.namespace();
    let wired = services::wire_all(list, &project.name, &ns, nodeports)?;
    let target = Target {
        runner: ctx.runner,
        ui: ctx.ui,
        kubectl,
        namespace: &ns,
        manifest: &project.paths.services,
    };
    // The manifest goes to the cache directory, which holds the project lock both callers took.
    deploy::apply(&target, list, &wired)?;
    if !list.is_empty() || !had.is_empty() || prune_data {
        let keep: Vec<String> = list.iter().map(|s| s.name.clone()).collect();
        deploy::delete_except(&target, &keep, prune_data)?;
    }
    deploy::wait_ready(&target, list, timeout)?;
    Ok(wired)
}

/// One line per service for summaries: `postgres  127.0.0.1:30359 → postgres.shop-dev.svc:5432`.
pub fn service_lines(wired: &[Wired]) -> Vec<String> {
    let w = wired.iter().map(|s| s.name.len()).max().unwrap_or(0);
    wired
        .iter()
        .map(|s| {
            let ports: Vec<String> = s
                .ports
                .iter()
                .map(|p| {
                    let host = p.host.clone().unwrap_or_else(|| "(no NodePort yet)".to_owned());
                    if s.ports.len() > 1 {
                        format!("{} {host} → {}", p.name, p.cluster)
                    } else {
                        format!("{host} → {}", p.cluster)
                    }
                })
                .collect();
            format!("{:<w$}  {}", s.name, ports.join(", "))
        })
        .collect()
}
