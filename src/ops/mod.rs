//! One module per subcommand: orchestration only. Ops print through the `Ui`, have every effect
//! through the `Runner` (which performs it, or prints it in a dry run: ops never ask which), and
//! return `anyhow` errors with context. No op imports another op; what several share lives here
//! or in a domain module (`project`, `ports`, `tools::*`, …).

pub mod add;
pub mod catalog;
pub mod completions;
pub mod db;
pub mod destroy;
pub mod doctor;
pub mod down;
pub mod env;
pub mod exec;
pub mod gc;
pub mod init;
pub mod logs;
pub mod ls;
pub mod registry;
pub mod remove;
pub mod restart;
pub mod status;
pub mod stop;
pub mod up;
pub mod workload;

use std::time::Duration;

use anyhow::Result;
use camino::Utf8PathBuf;

use crate::exec::Runner;
use crate::lock::Lock;
use crate::ports::Ports;
use crate::project::{Dirs, Project};
use crate::services::deploy::{self, Target};
use crate::services::{self, NodePorts, Service, Wired};
use crate::tools::kubectl::Kubectl;
use crate::tools::tilt::TiltFiles;
use crate::tools::{Tool, Tools};
use crate::ui::Ui;

/// What every op gets.
pub struct Ctx<'a> {
    pub ui: &'a Ui,
    pub runner: &'a Runner<'a>,
    pub dirs: Dirs,
    /// Tools that are not installed are kept under their plain names instead of failing
    /// (`--dry-run`: a newcomer can preview the plan before installing kind, kubectl and tilt).
    pub missing_tools_ok: bool,
    pub start_dir: Utf8PathBuf,
}

impl Ctx<'_> {
    /// Resolve the project and point the transcript at its cache dir.
    pub fn project(&self) -> Result<Project> {
        let p = Project::resolve(&self.start_dir, &self.dirs, self.ui)?;
        self.runner.set_transcript(p.paths.transcript.clone());
        Ok(p)
    }

    /// The per-project lock (a dry run takes none).
    pub fn lock(&self, project: &Project, command: &str) -> Result<Option<Lock>> {
        let what = format!("project `{}`", project.name);
        self.runner.lock(&project.paths.lock, &what, command, crate::lock::default_timeout()?)
    }

    /// Find the tools a command needs. Docker is always required (even a dry run asks it what
    /// exists); kind, kubectl and tilt may be missing in a dry run, which says so.
    pub fn tools(&self, needed: &[Tool]) -> Result<Tools> {
        let may_miss: &[Tool] =
            if self.missing_tools_ok { &[Tool::Kind, Tool::Kubectl, Tool::Tilt] } else { &[] };
        let tools = Tools::discover_with(needed, may_miss)?;
        let missing: Vec<&str> = tools.missing().into_iter().map(Tool::name).collect();
        if !missing.is_empty() {
            self.runner.note(&format!(
                "not installed: {} (their commands below use the plain names; queries that need them are not run)",
                missing.join(", ")
            ));
        }
        Ok(tools)
    }
}

/// `KUBECONFIG` plus the `KILTER_*` variables for Tilt and `kilter env`.
pub fn project_env(project: &Project, ports: &Ports) -> Vec<(String, String)> {
    vec![
        ("KUBECONFIG".into(), project.paths.kubeconfig.to_string()),
        ("KILTER_PROJECT".into(), project.name.clone()),
        ("KILTER_NAMESPACE".into(), project.namespace()),
        ("KILTER_TILT_PORT".into(), ports.tilt.to_string()),
        ("KILTER_PORT_BASE".into(), ports.base.to_string()),
    ]
}

/// This project's Tilt files.
pub fn tilt_files(project: &Project) -> TiltFiles<'_> {
    TiltFiles { record: &project.paths.tilt_json, log: &project.paths.tilt_log }
}

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
    Ok(Some(Kubectl {
        bin: tools.get(Tool::Kubectl)?,
        kubeconfig: project.paths.kubeconfig.clone(),
        context: project.context(),
    }))
}

/// Put the project's services into its running cluster: write and apply their manifests,
/// delete the services of kilter's that kilter.yaml no longer lists (when it lists any, listed
/// some before (`had`), or `prune_data` asks to delete left-over data), and wait until every
/// one is ready (exit 5 past `timeout`).
#[allow(clippy::too_many_arguments)]
pub fn deploy_services(
    ctx: &Ctx<'_>,
    project: &Project,
    kubectl: &Kubectl<'_>,
    list: &[Service],
    nodeports: &NodePorts,
    had: &[String],
    prune_data: bool,
    timeout: Duration,
) -> Result<Vec<Wired>> {
    let ns = project.namespace();
    let wired = services::wire_all(list, &project.name, &ns, nodeports)?;
    let target = Target {
        runner: ctx.runner,
        ui: ctx.ui,
        kubectl,
        namespace: &ns,
        manifest: &project.paths.services,
    };
    if !list.is_empty() {
        ctx.runner.ensure_dir(&project.paths.cache)?;
    }
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
