//! The bring-up sequence `kilter up` and `kilter ci` share, as named steps: the cluster up and
//! healthy ([`super::up::cluster`]), then kilter.yaml's services applied and ready (those no
//! longer listed deleted), then what a Tilt needs ([`prepare_tilt`]: this project's detached
//! Tilt stopped, the Tilt port free, the environment). The caller says how a step is run
//! ([`Steps`]: `up` runs each as it comes, `ci` times each as a phase) and what comes after.

use anyhow::Result;
use camino::Utf8Path;

use super::services::{Deploy, deploy_services};
use super::up::{Options, Up};
use crate::context::{Ctx, project_env};
use crate::ports::{self, Check as PortCheck, OwnTilt, Ports, Registry};
use crate::project::Project;
use crate::services::{self, Wired};
use crate::tools::tilt::{self, TiltArgs};

/// One step of [`bring_up`], as the caller's [`Steps`] sees it.
pub enum Step<'a> {
    /// The cluster, up and healthy: `cluster` is its name.
    Cluster { cluster: &'a str },
    /// The services: `names` are kilter.yaml's (none when only removed ones are deleted);
    /// `changes_nothing` when there are none and none were deployed before.
    Services { names: &'a [&'a str], changes_nothing: bool },
}

/// How the caller runs each step (times it, announces it, or just runs it).
pub trait Steps {
    fn run<T>(&mut self, step: &Step<'_>, f: impl FnOnce() -> Result<T>) -> Result<T>;
}

/// Each step run as it comes (`kilter up`).
pub struct InOrder;

impl Steps for InOrder {
    fn run<T>(&mut self, _step: &Step<'_>, f: impl FnOnce() -> Result<T>) -> Result<T> {
        f()
    }
}

/// A project brought up: the cluster (with the lock, the tools, the ports) and its services.
pub struct BroughtUp {
    pub up: Up,
    pub wired: Vec<Wired>,
}

/// The cluster, then the services (with `prune_data`, their left-over data deleted too).
pub fn bring_up(
    ctx: &Ctx<'_>,
    project: &Project,
    opts: &Options<'_>,
    prune_data: bool,
    steps: &mut impl Steps,
) -> Result<BroughtUp> {
    let cluster = project.cluster();
    let up = steps
        .run(&Step::Cluster { cluster: &cluster }, || super::up::cluster(ctx, project, opts))?;
    // Services: the namespace exists; Tilt (whose app wants them) starts after.
    let kubectl = project.kubectl(&up.tools)?;
    let deploy = Deploy {
        kubectl: &kubectl,
        services: opts.services,
        nodeports: &up.nodeports,
        had: &up.had_services,
        prune_data,
        timeout: opts.timeout,
    };
    let names: Vec<&str> = opts.services.iter().map(|s| s.name.as_str()).collect();
    let step = Step::Services {
        names: &names,
        changes_nothing: opts.services.is_empty() && up.had_services.is_empty(),
    };
    let wired = steps.run(&step, || deploy_services(ctx, project, &deploy))?;
    Ok(BroughtUp { up, wired })
}

/// What a Tilt of the project needs, ready: see [`prepare_tilt`].
pub struct TiltPlan {
    /// The project's environment and its services' variables as the app in the cluster
    /// reaches them.
    pub env: Vec<(String, String)>,
    /// This project's detached Tilt, stopped (or, in a dry run, to be stopped) first.
    pub own: Option<OwnTilt>,
    context: String,
    namespace: String,
    port: u16,
}

impl TiltPlan {
    /// The arguments of `tilt up` / `tilt ci` for `tiltfile`.
    pub fn tilt_args<'a>(&'a self, tiltfile: &'a Utf8Path) -> TiltArgs<'a> {
        TiltArgs {
            port: self.port,
            file: tiltfile,
            context: &self.context,
            namespace: &self.namespace,
            env: &self.env,
        }
    }
}

/// Before a Tilt starts: say which `TILT_*` variables of the user's are ignored (`who` serves
/// on the project's port: "this project's Tilt", "`tilt ci`"), stop this project's detached
/// Tilt (`stopped` says so when it ran), check that the Tilt port is free, and put together its
/// environment.
pub fn prepare_tilt(
    ctx: &Ctx<'_>,
    project: &Project,
    ports: &Ports,
    wired: &[Wired],
    who: &str,
    stopped: impl FnOnce(&OwnTilt),
) -> Result<TiltPlan> {
    for var in tilt::overridden_env() {
        ctx.ui.note(&format!(
            "{var} from your environment is ignored: {who} serves on {}:{}",
            tilt::HOST,
            ports.tilt
        ));
    }
    let own = super::own_tilt(ctx.runner, project)?;
    if let Some(o) = own.as_ref().filter(|o| o.stopped_first) {
        stopped(o);
    }
    let registry = Registry::load(&ctx.dirs.port_registry())?;
    ports::check_free(ports, PortCheck::Tilt, registry.as_ref(), &project.name, own)?;
    let mut env = project_env(project, ports);
    env.extend(services::cluster_env(wired));
    Ok(TiltPlan {
        env,
        own,
        context: project.context(),
        namespace: project.namespace(),
        port: ports.tilt,
    })
}
