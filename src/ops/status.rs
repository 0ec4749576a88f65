//! `kilter status [--json]`: reality first. Node state from `docker inspect`; when the node
//! runs, API health and pods concurrently; Tilt from tilt.json and the process table (no
//! process spawned); ports, kubeconfig, snapshots; drift between the flag and reality.

use anyhow::Result;
use serde::Serialize;

use std::time::{Duration, Instant};

use super::Ctx;
use crate::cli::StatusArgs;
use crate::error::{Code, Exit};
use crate::lifecycle::app::Choice;
use crate::project::Project;
use crate::table::{Column, Table, Width};
use crate::tools::Tool;
use crate::tools::docker::{self, Container, NodeState};
use crate::tools::kubectl::{self, PodRow};
use crate::tools::tilt::TiltRecord;

/// `kilter status --json`.
#[derive(Debug, Serialize)]
pub struct Status {
    pub project: String,
    pub directory: String,
    pub cluster: String,
    pub context: String,
    pub namespace: String,
    pub node: Node,
    /// docker's own state word (running, exited, paused, …), absent when there is no node
    pub node_status: Option<String>,
    pub flag_stopped: bool,
    /// A sentence when the flag and reality disagree.
    pub drift: Option<String>,
    pub api: Api,
    pub api_error: Option<String>,
    pub tilt: TiltStatus,
    pub pods: Option<Vec<PodRow>>,
    pub pods_error: Option<String>,
    pub ports: PortsStatus,
    pub kubeconfig: KubeconfigStatus,
    pub snapshots: SnapshotStatus,
    /// The machine's shared local registry and caches, as this project sees them.
    pub registry: RegistryStatus,
    /// kilter.yaml `services:`, with their addresses and readiness.
    pub services: Vec<ServiceStatus>,
    /// Why `services` is empty although kilter.yaml lists some (an invalid entry).
    pub services_error: Option<String>,
    /// The app kilter renders a Tiltfile for; null with a Tiltfile of the user's, or no app.
    pub app: Option<AppStatus>,
    /// Why `app` is null although the project has files kilter reads (a `package.json` that
    /// is not JSON).
    pub app_error: Option<String>,
    /// The names the shared router gives the project (`MAILPIT_WEB_URL` → its URL).
    pub urls: std::collections::BTreeMap<String, String>,
}

impl crate::json::Document for Status {
    const SCHEMA_VERSION: u32 = 1;
    const KEYS: crate::json::Keys = crate::json::Keys::Declared;
}

#[derive(Debug, Serialize)]
pub struct RegistryStatus {
    /// This project uses them (`registry:` in kilter.yaml and `KILTER_REGISTRY`).
    pub enabled: bool,
    /// `localhost:<port>`, where Tilt pushes.
    pub host: Option<String>,
    /// One line: the registry's state and address, and how many caches run.
    pub summary: Option<String>,
    pub containers: Vec<crate::registry::SharedRow>,
}

#[derive(Debug, Serialize)]
pub struct ServiceStatus {
    pub name: String,
    /// `statefulset/postgres`
    pub workload: String,
    pub image: String,
    /// `null` when the pods could not be listed (node not running).
    pub ready: Option<bool>,
    /// `1/1 pods ready`, `ContainerCreating`, `not deployed`, …
    pub state: Option<String>,
    pub ports: Vec<crate::services::wiring::WiredPort>,
}

/// The node as `status` reports it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Node {
    Running,
    Stopped,
    Absent,
}

/// The API server as `status` found it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Api {
    Ok,
    Unreachable,
    /// Not asked: the node is not running.
    Unknown,
}

impl Api {
    fn word(self) -> &'static str {
        match self {
            Api::Ok => "ok",
            Api::Unreachable => "unreachable",
            Api::Unknown => "unknown",
        }
    }
}

#[derive(Debug, Serialize)]
pub struct TiltStatus {
    pub running: bool,
    pub pid: Option<i32>,
    pub url: Option<String>,
    pub log: String,
    /// Tilt's resources as its API lists them (`tilt get uiresources`), when it runs and
    /// answered: the Tiltfile itself first, with update and runtime status and the last error.
    pub resources: Option<Vec<crate::tools::tilt::Resource>>,
    /// Why `resources` is missing although Tilt runs.
    pub resources_error: Option<String>,
    /// The Tiltfile `up` runs: the user's, or the one kilter renders for the app; null when
    /// there is neither.
    pub tiltfile: Option<String>,
    /// `yours`, `rendered` or `none`.
    pub tiltfile_source: &'static str,
}

/// The app kilter renders a Tiltfile for: each value with where it comes from.
#[derive(Debug, Serialize)]
pub struct AppStatus {
    /// e.g. `Node (Vite, npm (package-lock.json))`, or `declared in kilter.yaml`.
    pub stack: String,
    pub url: String,
    pub image: Valued<String>,
    pub dev: Valued<String>,
    pub port: Valued<u16>,
    pub health: Option<Valued<String>>,
    pub sync: Valued<Vec<String>>,
}

/// A value and its origin (`kilter.yaml:L:C`, `detected: …`, `default`).
#[derive(Debug, Serialize)]
pub struct Valued<T> {
    pub value: T,
    pub from: String,
}

#[derive(Debug, Serialize)]
pub struct PortsStatus {
    pub assigned: bool,
    pub tilt: u16,
    pub nodeport_first: u16,
    pub nodeport_last: u16,
    pub api_server: Option<u16>,
}

#[derive(Debug, Serialize)]
pub struct KubeconfigStatus {
    pub path: String,
    pub exists: bool,
    pub mode: Option<String>,
}

#[derive(Debug, Serialize)]
pub struct SnapshotStatus {
    pub dir: String,
    pub count: usize,
    pub bytes: u64,
}

/// Every probe of `status` ends by this deadline (`--probe-timeout`, default 3 s): the API port
/// can accept and reset connections while kubectl retries for a minute.
/// What the probes of the node and its API found.
struct Probed {
    container: Option<Container>,
    shared: crate::registry::Seen,
    state: NodeState,
    api: Api,
    api_error: Option<String>,
    pods: Option<Vec<kubectl::PodRow>>,
    pods_error: Option<String>,
    pod_list: Option<kubectl::PodList>,
}

pub fn run(ctx: &Ctx<'_>, args: &StatusArgs) -> Result<i32> {
    let json = args.json;
    let limit = args.probe_timeout.get();
    // Probes end a little before the limit, so that the whole command (start-up, killing the
    // probes, printing) answers within it.
    let deadline = Instant::now() + limit.saturating_sub(Duration::from_millis(150));
    let left = || deadline.saturating_duration_since(Instant::now());
    let project = ctx.project()?;
    let tools = ctx.tools(&[Tool::Docker, Tool::Kubectl])?;
    let docker = tools.docker()?;
    let settings = crate::registry::Settings::from_env()?;
    let use_registry = crate::registry::enabled_for(&project, &settings)?;
    // One inspect for the node and, with the registry, the shared containers.
    let inspect_cmd = if use_registry {
        let mut names = vec![project.node()];
        names.extend(settings.names());
        docker.inspect_many_cmd(&names)
    } else {
        docker.inspect_cmd(&project.node())
    };
    // Tilt's resources are asked for while the cluster is probed (neither waits for the other),
    // and only when a Tilt of this project runs (status needs no Tilt otherwise).
    let tilt_port =
        TiltRecord::read(&project.paths.tilt_json).filter(TiltRecord::is_live).map(|r| r.port);
    let tilt_query = |port: u16| -> Result<Vec<crate::tools::tilt::Resource>> {
        let t = crate::tools::Tools::discover(&[Tool::Tilt])?;
        let bin = t.get(Tool::Tilt)?;
        let cmd = crate::tools::tilt::get_cmd(bin, port, &["uiresources"]);
        let out = ctx.runner.run_for(&cmd, left())?;
        if out.timed_out {
            anyhow::bail!("Tilt's API did not answer within {}", crate::ui::fmt_duration(limit))
        }
        if !out.success() {
            anyhow::bail!("{}", kubectl::last_line(&out.stderr))
        }
        crate::tools::tilt::parse_resources(&out.stdout)
    };
    let probe = || -> Result<Probed> {
        let inspected = ctx.runner.run_for(&inspect_cmd, left())?;
        if inspected.timed_out {
            return Err(Exit::new(
                Code::Failed,
                format!(
                    "`{inspect_cmd}` did not answer within {}: the Docker daemon is not responding",
                    crate::ui::fmt_duration(limit)
                ),
            )
            .hint("check `docker info`; raise --probe-timeout if Docker is only slow")
            .into());
        }
        let (container, shared) = if use_registry {
            let all = docker::interpret_inspect_many(ctx.runner, &inspect_cmd, &inspected)?;
            let (node, rest): (Vec<Container>, Vec<Container>) =
                all.into_iter().partition(|c| c.short_name() == project.node());
            (node.into_iter().next(), crate::registry::Seen::new(rest))
        } else {
            (docker::interpret_inspect(ctx.runner, &inspect_cmd, &inspected)?, Default::default())
        };
        let state = container.as_ref().map(Container::node_state).unwrap_or(NodeState::Absent);

        let (mut api, mut api_error, mut pods, mut pods_error) = (Api::Unknown, None, None, None);
        let mut pod_list: Option<kubectl::PodList> = None;
        if state == NodeState::Running && project.paths.kubeconfig.exists() {
            let kubectl = project.kubectl(&tools)?;
            let ns = project.namespace();
            let pods_cmd = kubectl.pods_json_cmd(&ns);
            let readyz = kubectl.readyz_cmd();
            let budget = left();
            let (ready, listed) = std::thread::scope(|s| {
                let listed = s.spawn(|| ctx.runner.run_for(&pods_cmd, budget));
                (ctx.runner.run_for(&readyz, budget), listed.join())
            });
            let ready = ready?;
            if kubectl::readyz_ok(&ready) {
                api = Api::Ok;
            } else {
                api = Api::Unreachable;
                api_error = Some(probe_error(&ready, "the /readyz probe", limit));
            }
            let listed =
                listed.map_err(|_panic| anyhow::anyhow!("internal: probe thread panicked"))??;
            if listed.success() {
                pods = Some(kubectl::parse_pods(&listed.stdout, crate::time::now_secs())?);
                pod_list = Some(kubectl::PodList::parse(&listed.stdout)?);
            } else {
                pods_error = Some(probe_error(&listed, "the pod listing", limit));
            }
        } else if state == NodeState::Running {
            api_error = Some(format!(
                "no kubeconfig at {}; `kilter up` writes it",
                project.paths.kubeconfig
            ));
        }
        Ok(Probed { container, shared, state, api, api_error, pods, pods_error, pod_list })
    };
    let (probed, tilt_got) = std::thread::scope(|s| {
        let tilt = tilt_port.map(|port| s.spawn(move || tilt_query(port)));
        let probed = probe();
        let tilt_got = tilt.map(|h| {
            h.join().map_err(|_panic| anyhow::anyhow!("internal: probe thread panicked"))?
        });
        (probed, tilt_got)
    });
    let Probed { container, shared, state, api, api_error, pods, pods_error, pod_list } = probed?;

    let mut status =
        assemble(ctx, &project, container.as_ref(), &state, api, api_error, pods, pods_error)?;
    match tilt_got {
        Some(Ok(r)) => status.tilt.resources = Some(r),
        Some(Err(e)) => status.tilt.resources_error = Some(format!("{e:#}")),
        None => {}
    }
    if use_registry {
        let rows = crate::registry::rows(&settings, &shared);
        let port = rows
            .first()
            .and_then(|r| r.address.clone())
            .and_then(|a| a.rsplit_once(':').and_then(|(_, p)| p.parse::<u16>().ok()));
        status.registry = RegistryStatus {
            enabled: true,
            host: port.map(|p| format!("localhost:{p}")),
            summary: Some(crate::registry::summary(&rows)),
            containers: rows,
        };
    }
    status.urls = crate::lifecycle::router::urls(ctx, &project)?.into_iter().collect();
    match service_status(ctx, &project, pod_list.as_ref()) {
        Ok(list) => status.services = list,
        Err(e) => status.services_error = Some(format!("{e:#}")),
    }
    if json {
        crate::json::print(ctx.ui, &status)?;
    } else {
        ctx.ui.stdout(&render(&status));
    }
    Ok(0)
}

/// What a failed or abandoned probe says.
fn probe_error(out: &crate::exec::Output, probe: &str, limit: Duration) -> String {
    if out.timed_out {
        format!(
            "{probe} gave up after {} (the API port accepts connections but the API server does not answer; --probe-timeout raises the limit)",
            crate::ui::fmt_duration(limit)
        )
    } else {
        kubectl::last_line(&out.stderr).to_owned()
    }
}

#[allow(clippy::too_many_arguments)]
fn assemble(
    ctx: &Ctx<'_>,
    project: &Project,
    container: Option<&Container>,
    state: &NodeState,
    api: Api,
    api_error: Option<String>,
    pods: Option<Vec<PodRow>>,
    pods_error: Option<String>,
) -> Result<Status> {
    let flag = project.flag_stopped();
    let (node, node_status) = match state {
        NodeState::Running => (Node::Running, Some("running".to_owned())),
        NodeState::NotRunning(s) => (Node::Stopped, Some(s.clone())),
        NodeState::Absent => (Node::Absent, None),
    };
    let drift = match (flag, state) {
        (true, NodeState::Running) => Some(
            "kilter.yaml says stopped, but the node is running: Docker restarted it, or it was started outside kilter (`kilter up` clears the flag)".to_owned(),
        ),
        (true, NodeState::Absent) => Some(
            "kilter.yaml says stopped, but the cluster no longer exists: `kilter up` creates a new, empty one".to_owned(),
        ),
        (false, NodeState::NotRunning(s)) => Some(format!(
            "the node is {s} but kilter.yaml does not say stopped: a reboot, a Docker restart or a crash{}; `kilter up` resumes it with its data",
            if container.is_some_and(|c| c.state.oom_killed) { " (it was OOM-killed)" } else { "" }
        )),
        _ => None,
    };
    let rec = TiltRecord::read(&project.paths.tilt_json).filter(TiltRecord::is_live);
    let (ports, assigned) = crate::ports::preview(&ctx.dirs.port_registry(), &project.name)?;
    let (tiltfile, tiltfile_source, app, app_error) = match crate::lifecycle::app::choose(project) {
        Ok(Choice::User { path, exists: true }) => (Some(path.to_string()), "yours", None, None),
        Ok(Choice::User { .. } | Choice::Nothing) => (None, "none", None, None),
        Ok(Choice::Rendered(app)) => (
            Some(crate::lifecycle::app::rendered_tiltfile(project).to_string()),
            "rendered",
            Some(app_status(&app, &ports)),
            None,
        ),
        Err(e) => (None, "none", None, Some(format!("{e:#}"))),
    };
    let kc = &project.paths.kubeconfig;
    let mode = std::fs::metadata(kc).ok().map(|m| {
        use std::os::unix::fs::PermissionsExt;
        format!("{:04o}", m.permissions().mode() & 0o777)
    });
    let (count, bytes) = crate::snapshot::stats(&project.paths.snapshots);
    Ok(Status {
        project: project.name.clone(),
        directory: project.dir.to_string(),
        cluster: project.cluster(),
        context: project.context(),
        namespace: project.namespace(),
        node,
        node_status,
        flag_stopped: flag,
        drift,
        api,
        api_error,
        tilt: TiltStatus {
            running: rec.is_some(),
            pid: rec.as_ref().map(|r| r.pid),
            url: rec.as_ref().map(|r| format!("http://localhost:{}/", r.port)),
            log: project.paths.tilt_log.to_string(),
            resources: None,
            resources_error: None,
            tiltfile,
            tiltfile_source,
        },
        pods,
        pods_error,
        ports: PortsStatus {
            assigned,
            tilt: ports.tilt,
            nodeport_first: ports.base,
            nodeport_last: *ports.block().end(),
            api_server: container.and_then(Container::api_port),
        },
        kubeconfig: KubeconfigStatus { path: kc.to_string(), exists: kc.exists(), mode },
        snapshots: SnapshotStatus { dir: project.paths.snapshots.to_string(), count, bytes },
        urls: Default::default(),
        registry: RegistryStatus {
            enabled: false,
            host: None,
            summary: None,
            containers: Vec::new(),
        },
        services: Vec::new(),
        services_error: None,
        app,
        app_error,
    })
}

/// The services of kilter.yaml with their NodePorts (as recorded, or as `up` would assign them)
/// and, when the pods were listed, whether each one's pods are ready.
fn service_status(
    ctx: &Ctx<'_>,
    project: &Project,
    pods: Option<&kubectl::PodList>,
) -> Result<Vec<ServiceStatus>> {
    let list = super::services_of(project)?;
    let nodeports = super::preview_nodeports(ctx, project, &list)?;
    let wired = crate::services::wire_all(&list, &project.name, &project.namespace(), &nodeports)?;
    Ok(wired
        .into_iter()
        .map(|w| {
            let (ready, state) = match pods {
                None => (None, None),
                Some(pods) => {
                    let ours = pods.service(&w.name);
                    let state = ours
                        .state
                        .unwrap_or_else(|| "not deployed (`kilter up` applies it)".to_owned());
                    (Some(ours.ready), Some(if ours.ready { "ready".to_owned() } else { state }))
                }
            };
            ServiceStatus {
                name: w.name.clone(),
                workload: w.workload.clone(),
                image: w.image.clone(),
                ready,
                state,
                ports: w.ports,
            }
        })
        .collect())
}

fn app_status(app: &crate::app::App, ports: &crate::ports::Ports) -> AppStatus {
    fn valued<T: Clone>(f: &crate::app::Field<T>) -> Valued<T> {
        Valued { value: f.value.clone(), from: f.origin.to_string() }
    }
    AppStatus {
        stack: app.stack.clone(),
        url: crate::lifecycle::app::app_url(ports),
        image: valued(&app.image),
        dev: Valued { value: app.dev_line(), from: app.dev.origin.to_string() },
        port: valued(&app.port),
        health: app.health.as_ref().map(valued),
        sync: valued(&app.sync),
    }
}

fn render(s: &Status) -> String {
    let mut o = String::new();
    let mut line = |k: &str, v: String| o.push_str(&format!("{k:<11} {v}\n"));
    line("project", format!("{} ({})", s.project, s.directory));
    line(
        "node",
        match (&s.node_status, s.node) {
            (_, Node::Absent) => {
                format!("absent (no {}-control-plane; `kilter up` creates it)", s.cluster)
            }
            (Some(st), Node::Stopped) => format!("stopped ({st})"),
            _ => "running".into(),
        },
    );
    if let Some(d) = &s.drift {
        line("drift", d.clone());
    }
    line(
        "api",
        match (&s.api_error, s.api) {
            (_, Api::Ok) => "ok".into(),
            (Some(e), _) => format!("{} ({e})", s.api.word()),
            (None, _) => "- (node not running)".into(),
        },
    );
    line(
        "tilt",
        match (&s.tilt.url, s.tilt.pid) {
            (Some(url), Some(pid)) => format!("running, pid {pid}, {url}"),
            _ => "not running".into(),
        },
    );
    for r in s.tilt.resources.iter().flatten() {
        let err = r.last_error.as_deref().map(|e| format!(": {e}")).unwrap_or_default();
        line("", format!("{} update {}, runtime {}{err}", r.name, r.update, r.runtime));
    }
    if let Some(e) = &s.tilt.resources_error {
        line("", format!("resources unknown ({e})"));
    }
    line(
        "tiltfile",
        match (&s.tilt.tiltfile, s.tilt.tiltfile_source) {
            (Some(path), "rendered") => format!("{path} (rendered by kilter for the app)"),
            (Some(path), _) => format!("{path} (yours)"),
            (None, _) => "none (no Tiltfile and no app: `dev:` in kilter.yaml declares one)".into(),
        },
    );
    if let Some(app) = &s.app {
        line("app", format!("{} {}", app.url, app.stack));
        line("", format!("image {} ({})", app.image.value, app.image.from));
        line("", format!("dev {} ({})", app.dev.value, app.dev.from));
        line("", format!("port {} ({})", app.port.value, app.port.from));
        if let Some(h) = &app.health {
            line("", format!("health {} ({})", h.value, h.from));
        }
        line("", format!("sync {} ({})", app.sync.value.join(", "), app.sync.from));
    }
    if let Some(e) = &s.app_error {
        line("app", format!("unknown ({})", e.lines().next().unwrap_or_default()));
    }
    line(
        "ports",
        format!(
            "tilt {}, NodePorts {}-{} on 127.0.0.1{}{}",
            s.ports.tilt,
            s.ports.nodeport_first,
            s.ports.nodeport_last,
            s.ports.api_server.map(|p| format!(", API {p}")).unwrap_or_default(),
            if s.ports.assigned { "" } else { " (not reserved yet)" }
        ),
    );
    line(
        "kubeconfig",
        if s.kubeconfig.exists {
            format!("{} ({})", s.kubeconfig.path, s.kubeconfig.mode.as_deref().unwrap_or("?"))
        } else {
            format!("{} (missing)", s.kubeconfig.path)
        },
    );
    line(
        "registry",
        match (&s.registry.summary, s.registry.enabled) {
            (Some(sum), _) => sum.clone(),
            _ => "not used (registry: false in kilter.yaml, or KILTER_REGISTRY=off)".into(),
        },
    );
    if !s.urls.is_empty() {
        line("names", s.urls.values().cloned().collect::<Vec<_>>().join(", "));
    }
    line(
        "snapshots",
        format!("{} ({} bytes) in {}", s.snapshots.count, s.snapshots.bytes, s.snapshots.dir),
    );
    let services = Table::new(vec![
        Column::left("", Width::AtLeast(11)),
        Column::left(" ", Width::Fit(0)),
        Column::left("  ", Width::AtLeast(20)),
        Column::left("  ", Width::AtLeast(0)),
    ]);
    let rows: Vec<Vec<String>> = s
        .services
        .iter()
        .enumerate()
        .map(|(i, svc)| {
            let addrs: Vec<String> = svc
                .ports
                .iter()
                .map(|p| {
                    let host = p.host.clone().unwrap_or_else(|| "-".to_owned());
                    format!("{host} → {}", p.cluster)
                })
                .collect();
            vec![
                if i == 0 { "services" } else { "" }.to_owned(),
                svc.name.clone(),
                svc.state.clone().unwrap_or_else(|| "-".to_owned()),
                addrs.join(", "),
            ]
        })
        .collect();
    o.push_str(&services.render(&rows));
    if let Some(e) = &s.services_error {
        o.push_str(&format!("services    {e}\n"));
    }
    match (&s.pods, &s.pods_error) {
        (Some(pods), _) if pods.is_empty() => {
            o.push_str(&format!("pods        none in {}\n", s.namespace))
        }
        (Some(pods), _) => {
            o.push_str(&format!("pods in {}:\n", s.namespace));
            let table = Table::new(vec![
                Column::left("  ", Width::Fit(4)),
                Column::left("  ", Width::AtLeast(5)),
                Column::left("  ", Width::AtLeast(18)),
                Column::left("  ", Width::AtLeast(8)),
                Column::left("  ", Width::AtLeast(0)),
            ]);
            let mut rows: Vec<Vec<String>> =
                vec![["NAME", "READY", "STATUS", "RESTARTS", "AGE"].map(String::from).to_vec()];
            rows.extend(pods.iter().map(|p| {
                vec![
                    p.name.clone(),
                    p.ready.clone(),
                    p.status.clone(),
                    p.restarts.to_string(),
                    p.age.clone(),
                ]
            }));
            o.push_str(&table.render(&rows));
        }
        (None, Some(e)) => o.push_str(&format!("pods        could not list: {e}\n")),
        (None, None) => {}
    }
    o
}
