//! Bringing a project's cluster up, shared by `kilter up` and `kilter ci`: lock → identity →
//! preflight and inspect → reuse / `docker start` / `kind create` → wait until healthy →
//! kubeconfig → namespace → clear the flag. What comes after (Tilt detached, in the foreground,
//! or `tilt ci`; the summary) is the caller's.
//!
//! The caller's runner deadline (`up --timeout`, `ci --timeout`) bounds all of it: the runner
//! kills whatever still runs at that moment (a kubectl retrying against a resetting API port, a
//! hung kind) and the caller exits 5.

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use anyhow::{Context, Result};

use crate::context::Ctx;
use crate::error::invalid;
use crate::exec::{Content, Output, Poll, PollEnd};
use crate::fsutil::Perm;
use crate::lock::Lock;
use crate::ports::{self, Check as PortCheck, Ports, Registry};
use crate::project::{
    CreatingMarker, Project, check_identity, clear_stopped_flag, has_identity, record_creation,
    write_identity,
};
use crate::registry::{self, Machine, Seen, Settings};
use crate::services::{self, NodePorts, Service};
use crate::tools::docker::{self, Container, Docker, NodeState};
use crate::tools::kubeconfig::{self, Check};
use crate::tools::kubectl::{self, ClusterView, Kubectl};
use crate::tools::{Tool, Tools};

/// What the caller wants of [`cluster`].
pub struct Options<'a> {
    /// Take over a cluster created from another directory with the same project name.
    pub adopt: bool,
    /// Tilt will be needed afterwards (it must be installed, checked with the other tools).
    pub tilt: bool,
    /// How long the health wait may take (the runner's deadline bounds everything anyway).
    pub timeout: Duration,
    /// The command holding the project lock, as its holder is shown to a waiting one.
    pub command: &'a str,
    /// kilter.yaml's services (resolved by the caller before anything changed): their NodePorts
    /// are recorded with the project's slot.
    pub services: &'a [Service],
    /// Refuse (exit 4) when the cluster exists already, instead of reusing it (`ci --fresh`).
    pub fresh: bool,
    /// Set once `kind create` has made the cluster in this run (also when a later step fails).
    pub created: Option<&'a AtomicBool>,
    /// Who creates it, as recorded in the identity: `up` or `ci`.
    pub by: &'a str,
}

/// A cluster that is up and healthy, with what the caller needs to go on.
pub struct Up {
    pub tools: Tools,
    pub ports: Ports,
    /// The services' NodePorts, and the services recorded before this run.
    pub nodeports: NodePorts,
    pub had_services: Vec<String>,
    /// The project lock (none in a dry run). The caller drops it before a foreground Tilt.
    pub lock: Option<Lock>,
    /// The shared local registry's port when this cluster is wired to it (`localhost:<port>`).
    pub registry_port: Option<u16>,
}

/// Bring the project's cluster up and healthy, with its kubeconfig and namespace, and clear
/// `cluster.stopped`. Each step is a function below, in this order.
pub fn cluster(ctx: &Ctx<'_>, project: &Project, opts: &Options<'_>) -> Result<Up> {
    let runner = ctx.runner;
    let lock = ctx.lock(project, opts.command)?;
    // Under the lock: a second directory's `up` waits, then sees this one's claim.
    let claim = check_identity(project, opts.adopt, ctx.ui)?;
    let tools = ctx.tools(&needed_tools(opts))?;
    let docker = tools.docker()?;
    let settings = Settings::from_env()?;
    let use_registry = registry::enabled_for(project, &settings)?;

    let (container, shared) = inspect(ctx, project, &docker, &settings, use_registry)?;
    let had_identity = check_ownership(project, container.as_ref(), opts)?;
    if claim {
        write_identity(runner, project)?;
    }
    let container = recover_interrupted_creation(ctx, project, &tools, container, had_identity)?;

    // The registry's port is recorded in the same port-registry write as the project's slot.
    let machine = Machine::new(runner, ctx.ui, &docker, &settings, &ctx.dirs);
    let planned = if use_registry { soft(ctx.ui, machine.plan_port(&shared))? } else { None };
    let (ports, nodeports, had_services) =
        assign_ports(ctx, project, &docker, container.as_ref(), opts.services, planned)?;
    let node = Node { tools: &tools, container: container.as_ref(), ports: &ports, claim };
    let started = start_node(ctx, project, &node, use_registry, opts)?;
    refresh_kubeconfig(ctx, project, &node, started)?;

    let kubectl = project.kubectl(&tools)?;
    let wire = Wire { machine: &machine, shared: &shared, settings: &settings, planned };
    let (view, wiring) = wait_and_wire(ctx, project, &kubectl, &wire, started, opts, use_registry)?;
    ensure_namespace(ctx, project, &kubectl, view.as_ref())?;
    clear_flag(ctx, project);

    Ok(Up { tools, ports, nodeports, had_services, lock, registry_port: wiring })
}

/// docker, kind and kubectl; Tilt too when the caller will start one.
fn needed_tools(opts: &Options<'_>) -> Vec<Tool> {
    let mut needed = vec![Tool::Docker, Tool::Kind, Tool::Kubectl];
    if opts.tilt {
        needed.push(Tool::Tilt);
    }
    needed
}

/// The preflight (`docker info`) and the inspect of the node (with the local registry, of the
/// shared containers too), run together: the node, and the shared containers seen.
fn inspect(
    ctx: &Ctx<'_>,
    project: &Project,
    docker: &Docker<'_>,
    settings: &Settings,
    use_registry: bool,
) -> Result<(Option<Container>, Seen)> {
    let runner = ctx.runner;
    let inspect_cmd = if use_registry {
        let mut names = vec![project.node()];
        names.extend(settings.names());
        docker.inspect_many_cmd(&names)
    } else {
        docker.inspect_cmd(&project.node())
    };
    let (info, inspect) = std::thread::scope(|s| {
        let info = s.spawn(|| runner.run_unchecked(&docker.info_cmd()));
        let inspect = runner.run_unchecked(&inspect_cmd);
        (info.join(), inspect)
    });
    let info = info.map_err(|_panic| anyhow::anyhow!("internal: preflight thread panicked"))??;
    Docker::check_daemon(&info)?;
    let inspect = inspect?;
    Ok(if use_registry {
        let all = docker::interpret_inspect_many(runner, &inspect_cmd, &inspect)?;
        let (node, rest): (Vec<Container>, Vec<Container>) =
            all.into_iter().partition(|c| c.short_name() == project.node());
        (node.into_iter().next(), Seen::new(rest))
    } else {
        (docker::interpret_inspect(runner, &inspect_cmd, &inspect)?, Seen::default())
    })
}

/// A node this project has no record of was not created by it: kind directly, another HOME
/// (sudo), or a cache dir that was wiped. Use it only when asked to (`--adopt`); `ci --fresh`
/// refuses any. Returns whether the project had its identity record.
fn check_ownership(
    project: &Project,
    container: Option<&Container>,
    opts: &Options<'_>,
) -> Result<bool> {
    let had_identity = has_identity(project);
    if container.is_some() && !had_identity && !opts.adopt {
        return Err(invalid(format!(
            "cluster {} exists, but project `{}` has no record of creating it ({} is missing)",
            project.cluster(),
            project.name,
            project.paths.identity
        ))
        .hint("`kilter up --adopt` takes it over as this project's cluster; or give this project another `name:` in kilter.yaml")
        .into());
    }
    if opts.fresh
        && let Some(c) = container
    {
        return Err(fresh_refusal(project, c).into());
    }
    Ok(had_identity)
}

/// A creation that was interrupted (Ctrl-C, a killed kind) may have left a half-made node.
/// Only a node of this project's, created after the marker (and not long after: kind creates
/// its node within minutes), is that half-made node: it is deleted (`None` then).
fn recover_interrupted_creation(
    ctx: &Ctx<'_>,
    project: &Project,
    tools: &Tools,
    container: Option<Container>,
    had_identity: bool,
) -> Result<Option<Container>> {
    let (ui, runner) = (ctx.ui, ctx.runner);
    let Some(marker) = CreatingMarker::read(&project.paths.creating) else {
        return Ok(container);
    };
    let mut container = container;
    if let Some(c) = &container {
        let created = crate::time::parse_rfc3339(&c.created);
        let ours =
            had_identity && created.is_some_and(|t| (marker.unix..marker.unix + 3600).contains(&t));
        if ours {
            ui.warn(&format!(
                "the creation of {} at {} was interrupted; deleting the half-made cluster and creating it again",
                project.cluster(),
                marker.started_at
            ));
            let kind = tools.kind()?;
            runner.run(&kind.delete_cmd(&project.cluster(), &project.paths.kubeconfig))?;
            container = None;
        } else {
            ui.note(&format!(
                "an interrupted creation of {} was recorded at {}, but the node there ({}) is not what it left; keeping it",
                project.cluster(),
                marker.started_at,
                c.created
            ));
        }
    }
    runner.remove_file(&project.paths.creating)?;
    Ok(container)
}

/// The project's node as the steps after the port assignment see it.
struct Node<'a> {
    tools: &'a Tools,
    container: Option<&'a Container>,
    ports: &'a Ports,
    /// This run wrote the identity record (kind failing with "already exists" takes it back).
    claim: bool,
}

/// How the node came to run.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Started {
    /// It was running: reused.
    Reused,
    /// It was stopped (or paused): `docker start` (or `unpause`).
    Resumed,
    /// There was none: `kind create cluster`.
    Created,
}

/// Reuse the running node, resume a stopped one (saying whether `kilter stop` stopped it), or
/// create the cluster.
fn start_node(
    ctx: &Ctx<'_>,
    project: &Project,
    node: &Node<'_>,
    use_registry: bool,
    opts: &Options<'_>,
) -> Result<Started> {
    let (ui, runner) = (ctx.ui, ctx.runner);
    let flag = project.flag_stopped();
    let state = node.container.map(Container::node_state).unwrap_or(NodeState::Absent);
    match &state {
        NodeState::Running => {
            ui.info(&format!("Cluster {} is running; reusing it", project.cluster()));
            Ok(Started::Reused)
        }
        NodeState::NotRunning(status) => {
            let c = node.container.context("internal: container missing")?;
            if flag {
                ui.info(&format!(
                    "Resuming cluster {} (stopped by `kilter stop`)",
                    project.cluster()
                ));
            } else {
                let oom = if c.state.oom_killed { ", OOM-killed" } else { "" };
                ui.note(&format!(
                    "cluster {} is {status} (exit code {}{oom}) but was not stopped with `kilter stop`: a reboot, a Docker restart or an OOM kill. Resuming it instead of recreating it, so its data is kept.",
                    project.cluster(),
                    c.state.exit_code
                ));
            }
            let docker = node.tools.docker()?;
            let cmd = if status == "paused" {
                docker.unpause_cmd(&project.node())
            } else {
                docker.start_cmd(&project.node())
            };
            let out = runner.run_unchecked(&cmd)?;
            if !out.success() {
                let hint = if docker::port_allocated(&out.stderr) {
                    "another process took one of the cluster's ports; free it, or `kilter destroy` and `kilter up` to recreate"
                } else {
                    "try `kilter destroy` then `kilter up` to recreate the cluster (snapshots are kept)"
                };
                return Err(runner.failed(&cmd, &out, Some(hint.into())).into());
            }
            Ok(Started::Resumed)
        }
        NodeState::Absent => {
            if flag {
                ui.warn(&format!(
                    "kilter.yaml says cluster {} is stopped, but it no longer exists (deleted outside kilter?). Creating a new, empty cluster; restore data with `kilter db restore`.",
                    project.cluster()
                ));
            }
            create(ctx, project, node.tools, node.ports, node.claim, use_registry)?;
            if let Some(flag) = opts.created {
                flag.store(true, Ordering::SeqCst);
            }
            record_creation(runner, project, opts.by)?;
            Ok(Started::Created)
        }
    }
}

/// Kubeconfig: kind wrote it on create; otherwise make sure it is there and current. Always
/// mode 0600.
fn refresh_kubeconfig(
    ctx: &Ctx<'_>,
    project: &Project,
    node: &Node<'_>,
    started: Started,
) -> Result<()> {
    if started != Started::Created {
        let api_port = node.container.and_then(Container::api_port);
        let needs_export = match kubeconfig::check(&project.paths.kubeconfig, &project.context()) {
            Check::Missing | Check::NoContext => true,
            Check::Server { port, contexts } => {
                started == Started::Resumed
                    || contexts != 1
                    || (api_port.is_some() && port != api_port)
            }
        };
        if needs_export {
            export_kubeconfig(ctx, project, node.tools)?;
        }
    }
    ctx.runner.chmod(&project.paths.kubeconfig, 0o600)
}

/// The shared registry and caches as [`wait_and_wire`] wires the node to them.
struct Wire<'a, 'm> {
    machine: &'a Machine<'m, 'm>,
    shared: &'a Seen,
    settings: &'a Settings,
    /// The registry's port, when it is to be used.
    planned: Option<u16>,
}

/// Wait until the cluster is healthy; meanwhile make sure the shared registry and caches run
/// and probe the node's `hosts.toml` files (one `cat` of every file, when the node was running
/// or resumed); then write the missing ones and the `local-registry-hosting` ConfigMap. Returns
/// what the health wait saw (`None` in a dry run) and the registry port the cluster is wired to.
fn wait_and_wire(
    ctx: &Ctx<'_>,
    project: &Project,
    kubectl: &Kubectl<'_>,
    wire: &Wire<'_, '_>,
    started: Started,
    opts: &Options<'_>,
    use_registry: bool,
) -> Result<(Option<ClusterView>, Option<u16>)> {
    let (ui, runner) = (ctx.ui, ctx.runner);
    let created = started == Started::Created;
    let docker = wire.machine.docker;
    let wiring = match wire.planned {
        Some(port) => soft(ui, wire.machine.ensure(wire.shared, true, port))?,
        None => None,
    };
    let files = wiring.map(|port| registry::hosts_files(wire.settings, port)).unwrap_or_default();
    let probe = (!files.is_empty() && !created)
        .then(|| registry::hosts_probe_cmd(docker, &project.node(), &files));
    let (view, probed) = std::thread::scope(|s| {
        let probed = probe.as_ref().map(|p| s.spawn(|| runner.run_unchecked(p)));
        let view = wait_healthy(ctx, kubectl, &project.namespace(), opts.timeout, use_registry);
        (view, probed.map(|h| h.join()))
    });
    let view = view?;
    if let Some(port) = wiring {
        let to_write: Vec<usize> = match probed {
            Some(p) => {
                let out =
                    p.map_err(|_panic| anyhow::anyhow!("internal: probe thread panicked"))??;
                registry::hosts_to_write(&files, &out)
            }
            None => (0..files.len()).collect(),
        };
        let write: Vec<&registry::HostsFile> = to_write.iter().map(|&i| &files[i]).collect();
        if !write.is_empty() && !created {
            ui.detail(&format!(
                "repairing {} containerd registry file(s) in the node",
                write.len()
            ));
        }
        let expected = registry::hosting_value(port);
        let hosting_ok =
            view.as_ref().is_some_and(|v| v.registry_hosting.as_deref() == Some(expected.as_str()));
        soft(
            ui,
            (|| -> Result<()> {
                registry::write_hosts(
                    runner,
                    docker,
                    &project.node(),
                    &project.paths.cache,
                    &write,
                )?;
                if !hosting_ok {
                    registry::apply_hosting(runner, kubectl, &project.paths.cache, port)?;
                }
                Ok(())
            })(),
        )?;
    }
    Ok((view, wiring))
}

/// The project's namespace: created when the health wait did not see it; in a dry run (which
/// does not know) the script creates it unless it is there.
fn ensure_namespace(
    ctx: &Ctx<'_>,
    project: &Project,
    kubectl: &Kubectl<'_>,
    view: Option<&ClusterView>,
) -> Result<()> {
    let runner = ctx.runner;
    let ns = project.namespace();
    let create_ns = kubectl.create_namespace_cmd(&ns);
    match view {
        Some(v) if v.namespace_exists => {}
        Some(_) => {
            let out = runner.run_unchecked(&create_ns)?;
            if !out.success() && !kubectl::already_exists(&out.stderr) {
                return Err(runner.failed(&create_ns, &out, None).into());
            }
        }
        None => {
            runner.run_unless(&kubectl.get_namespace_cmd(&ns), &create_ns)?;
        }
    }
    Ok(())
}

/// The cluster is up: the flag is only intent, so failing to clear it is a warning.
fn clear_flag(ctx: &Ctx<'_>, project: &Project) {
    match clear_stopped_flag(ctx.runner, project) {
        Ok(true) => ctx.ui.detail("removed cluster.stopped from kilter.yaml"),
        Ok(false) => {}
        Err(e) => ctx.ui.warn(&format!(
            "the cluster is up, but `cluster.stopped: true` could not be removed from {}: {e:#}",
            project.file_path
        )),
    }
}

/// `ci --fresh` where the project's cluster exists: refused (exit 4), saying who made it.
pub fn fresh_refusal(project: &Project, c: &Container) -> crate::error::Exit {
    let made = crate::project::Identity::read(&project.paths.identity)
        .filter(|i| i.dir == project.dir)
        .and_then(|i| i.cluster)
        .map(|c| format!(", created by `kilter {}` at {}", c.created_by, c.created_at))
        .unwrap_or_default();
    invalid(format!(
        "--fresh wants a throwaway cluster of its own, but cluster {} exists ({}{made})",
        project.cluster(),
        c.state.status
    ))
    .hint(
        "without --fresh, `kilter ci` runs on it and keeps it; `kilter destroy` deletes it first (its database is snapshotted), or run CI in a directory with another `name:`",
    )
}

/// The local registry speeds Tilt up but the cluster works without it: a failure to set it up
/// is a warning (`None`), except an interrupt or a passed deadline.
fn soft<T>(ui: &crate::ui::Ui, res: Result<T>) -> Result<Option<T>> {
    match res {
        Ok(v) => Ok(Some(v)),
        Err(e) => {
            let code = crate::error::code_of(&e);
            if matches!(code, crate::error::Code::Interrupted | crate::error::Code::Timeout) {
                return Err(e);
            }
            ui.warn(&format!(
                "the local registry could not be set up, so Tilt will load images with `kind load` instead: {e:#}\n  (`kilter registry status` shows the shared containers; `registry: false` in kilter.yaml or KILTER_REGISTRY=off turns it off)"
            ));
            Ok(None)
        }
    }
}

/// The project's slot and its services' NodePorts (recorded together, under the registry's
/// lock), and the services recorded before.
fn assign_ports(
    ctx: &Ctx<'_>,
    project: &Project,
    docker: &Docker<'_>,
    container: Option<&Container>,
    service_list: &[Service],
    registry_port: Option<u16>,
) -> Result<(Ports, NodePorts, Vec<String>)> {
    let known = container.and_then(Container::port_slot);
    let path = ctx.dirs.port_registry();
    let rebuild = || rebuild_registry(ctx, docker);
    let wanted = services::wanted_ports(service_list);
    let ((slot, nodeports, had), rebuilt) =
        ports::with_registry(&path, ctx.runner, rebuild, |reg| {
            if registry_port.is_some() {
                reg.registry_port = registry_port;
            }
            let slot = reg.claim(&project.name, known, &project.dir)?;
            let (nodeports, had) = reg.assign_nodeports(&project.name, &wanted)?;
            Ok((slot, nodeports, had))
        })?;
    if rebuilt {
        ctx.ui.detail(&format!(
            "port registry {path} was missing; rebuilt it from the existing clusters"
        ));
    }
    Ok((Ports::of(slot), nodeports, had))
}

/// Recover slots from the kilter clusters that exist (one `docker ps`, one `docker inspect`).
fn rebuild_registry(ctx: &Ctx<'_>, docker: &Docker<'_>) -> Result<BTreeMap<String, u16>> {
    let out = ctx.runner.run(&docker.ps_kind_cmd())?;
    let names: Vec<String> = docker::parse_ps(&out.stdout)?
        .into_iter()
        .filter(|e| e.label(docker::CLUSTER_LABEL).is_some_and(|c| c.starts_with("kilter-")))
        .map(|e| e.names)
        .collect();
    let mut map = BTreeMap::new();
    if names.is_empty() {
        return Ok(map);
    }
    let cmd = docker.port_bindings_cmd(&names);
    let out = ctx.runner.run_unchecked(&cmd)?;
    // A node removed since `docker ps` is simply absent; a reply that is not docker's JSON is
    // an error (it used to read as "no clusters").
    for c in docker::interpret_inspect_many(ctx.runner, &cmd, &out)? {
        let cluster = c.config.labels.as_ref().and_then(|l| l.get(docker::CLUSTER_LABEL)).cloned();
        if let (Some(cluster), Some(slot)) = (cluster, c.port_slot())
            && let Some(name) = cluster.strip_prefix("kilter-")
        {
            map.insert(name.to_owned(), slot);
        }
    }
    Ok(map)
}

/// `kind create cluster`. `claimed` says this run wrote the identity record: kind failing with
/// "already exists" made nothing, so that claim is taken back too. `use_registry` adds the
/// containerd patch of the local registry to the kind config.
fn create(
    ctx: &Ctx<'_>,
    project: &Project,
    tools: &Tools,
    ports: &Ports,
    claimed: bool,
    use_registry: bool,
) -> Result<()> {
    let runner = ctx.runner;
    let kind = tools.kind()?;
    let reg = Registry::load(&ctx.dirs.port_registry())?;
    ports::check_free(ports, PortCheck::Block, reg.as_ref(), &project.name, None)?;
    let config = crate::tools::kind::render_config_with(&project.cluster(), ports, use_registry);
    runner.write_file(&project.paths.kind_config, &Content::text(config), Perm::Private(0o600))?;
    runner.remove_file(&crate::tools::kind::kubeconfig_lock(&project.paths.kubeconfig))?;
    CreatingMarker::write(runner, &project.paths.creating)?;
    let step = ctx.ui.step(
        &format!("Creating cluster {}", project.cluster()),
        &format!("create cluster {}", project.cluster()),
    );
    let cmd = kind.create_cmd(
        &project.cluster(),
        &project.paths.kubeconfig,
        &project.paths.kind_config,
        project.config.kind.image.as_deref(),
    );
    let out = runner.run_unchecked(&cmd)?;
    if !out.success() {
        drop(step);
        if docker::daemon_unreachable(&out.stderr) {
            return Err(docker::daemon_error(&out.stderr).into());
        }
        if crate::tools::kind::already_exists(&out.stderr) {
            // kind made nothing: the node that is there is not ours to delete later, nor to use
            // without --adopt.
            runner.remove_file(&project.paths.creating)?;
            if claimed {
                runner.remove_file(&project.paths.identity)?;
            }
            return Err(runner
                .failed(&cmd, &out, Some(format!(
                    "a cluster named {} appeared meanwhile, made outside this project; `kilter up --adopt` uses it, `kind delete cluster --name {}` removes it",
                    project.cluster(),
                    project.cluster()
                )))
                .into());
        }
        // kind removes its node when it fails: then nothing is half-made and the marker goes.
        // It stays only when a node is left (kind was killed, or ran with --retain): the next
        // `up` deletes that one (created after the marker) and creates it again.
        let docker = tools.docker()?;
        if docker.inspect(runner, &project.node())?.is_none() {
            runner.remove_file(&project.paths.creating)?;
        }
        let failed = runner.failed(&cmd, &out, None);
        let mut hint = format!("the kind config is {}", project.paths.kind_config);
        if failed.stderr_cut {
            hint.push_str("; `kilter up -v` shows kind's whole output");
        }
        return Err(runner.failed(&cmd, &out, Some(hint)).into());
    }
    step.done();
    runner.written_by_command(&project.paths.kubeconfig);
    runner.remove_file(&project.paths.creating)?;
    Ok(())
}

fn export_kubeconfig(ctx: &Ctx<'_>, project: &Project, tools: &Tools) -> Result<()> {
    ctx.runner.ensure_dir(&project.paths.cache)?;
    // Start from a clean file so it holds exactly our one context (and no stale lock of kind's).
    ctx.runner.remove_file(&project.paths.kubeconfig)?;
    ctx.runner.remove_file(&crate::tools::kind::kubeconfig_lock(&project.paths.kubeconfig))?;
    let cmd = tools.kind()?.export_kubeconfig_cmd(&project.cluster(), &project.paths.kubeconfig);
    ctx.runner.run(&cmd).context("could not write the project kubeconfig")?;
    ctx.runner.written_by_command(&project.paths.kubeconfig);
    Ok(())
}

/// Wait until `/readyz` answers `ok`, then until the node is Ready. `/readyz` is polled with
/// overlapping probes (a new one every 250 ms, at most 4 at once, the oldest killed past 1 s):
/// while the API port accepts and resets connections, one kubectl call takes seconds to fail,
/// but the first probe started after the API serves answers at once. Nothing slower than
/// `/readyz` runs before it said `ok`. `None`: a dry run printed the waits.
fn wait_healthy(
    ctx: &Ctx<'_>,
    kubectl: &Kubectl<'_>,
    namespace: &str,
    timeout: Duration,
    with_configmaps: bool,
) -> Result<Option<ClusterView>> {
    let runner = ctx.runner;
    let ui = ctx.ui;
    let step =
        ui.step("Waiting for the cluster to become healthy", "wait until the cluster is healthy");
    let readyz = kubectl.readyz_cmd();
    let ok = |o: &Output| kubectl::readyz_ok(o);
    let poll = Poll {
        what: "the API server to answer /readyz",
        probe: &readyz,
        every: Duration::from_millis(250),
        max_in_flight: 4,
        max_age: Duration::from_secs(1),
        timeout,
        script_condition: None,
    };
    let seen = |o: &Output| ui.progress(&format!("Waiting for the API server: {}", o.reason()));
    if let PollEnd::Planned = runner.poll(&poll, ok, seen)? {
        let wait = kubectl.wait_node_ready_cmd(Duration::from_secs(5));
        runner.poll(
            &Poll { what: "the node to become Ready", probe: &wait, ..poll },
            |_| true,
            |_| {},
        )?;
        step.done();
        return Ok(None);
    }
    let nodes = if with_configmaps {
        kubectl.nodes_namespaces_configmaps_cmd()
    } else {
        kubectl.nodes_and_namespaces_cmd()
    };
    let view = std::cell::RefCell::new(None);
    let node_ready = |o: &Output| {
        let v =
            o.success().then(|| kubectl::parse_cluster_view(&o.stdout, namespace).ok()).flatten();
        let ready = v.as_ref().is_some_and(|v| v.nodes_ready > 0);
        *view.borrow_mut() = v;
        ready
    };
    let node_poll = Poll {
        what: "the node to become Ready",
        probe: &nodes,
        every: Duration::from_millis(100),
        max_in_flight: 2,
        max_age: Duration::from_secs(2),
        timeout,
        script_condition: None,
    };
    runner.poll(&node_poll, node_ready, |o| {
        let why = view
            .borrow()
            .as_ref()
            .and_then(|v| v.not_ready_reason.clone())
            .unwrap_or_else(|| o.reason());
        ui.progress(&format!("Waiting for the node: {why}"));
    })?;
    let took = step.done();
    ui.detail(&format!("healthy after {}", crate::ui::fmt_duration(took)));
    Ok(view.into_inner())
}
