//! `kilter status [--json]`: reality first. Node state from `docker inspect`; when the node
//! runs, API health and pods concurrently; Tilt from tilt.json and the process table (no
//! process spawned); ports, kubeconfig, snapshots; drift between the flag and reality.

use anyhow::Result;
use serde::Serialize;

use super::Ctx;
use crate::ops::env::ports_preview;
use crate::project::Project;
use crate::tools::docker::{Container, NodeState};
use crate::tools::kubectl::{self, Kubectl, PodRow};
use crate::tools::tilt::TiltRecord;
use crate::tools::{Tool, Tools};

#[derive(Debug, Serialize)]
pub struct Status {
    pub schema_version: u32,
    pub project: String,
    pub directory: String,
    pub cluster: String,
    pub context: String,
    pub namespace: String,
    /// running | stopped | absent
    pub node: String,
    /// docker's own state word (running, exited, paused, …), absent when there is no node
    pub node_status: Option<String>,
    pub flag_stopped: bool,
    /// A sentence when the flag and reality disagree.
    pub drift: Option<String>,
    /// ok | unreachable | unknown (node not running)
    pub api: String,
    pub api_error: Option<String>,
    pub tilt: TiltStatus,
    pub pods: Option<Vec<PodRow>>,
    pub pods_error: Option<String>,
    pub ports: PortsStatus,
    pub kubeconfig: KubeconfigStatus,
    pub snapshots: SnapshotStatus,
}

#[derive(Debug, Serialize)]
pub struct TiltStatus {
    pub running: bool,
    pub pid: Option<i32>,
    pub url: Option<String>,
    pub log: String,
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

pub fn run(ctx: &Ctx<'_>, json: bool) -> Result<i32> {
    let project = ctx.project()?;
    let tools = Tools::discover(&[Tool::Docker, Tool::Kubectl])?;
    let docker = tools.docker()?;
    let container = docker.inspect(ctx.runner, &project.node())?;
    let state = container.as_ref().map(Container::node_state).unwrap_or(NodeState::Absent);

    let (mut api, mut api_error, mut pods, mut pods_error) =
        ("unknown".to_owned(), None, None, None);
    if state == NodeState::Running && project.paths.kubeconfig.exists() {
        let kubectl = Kubectl {
            bin: tools.get(Tool::Kubectl)?,
            kubeconfig: project.paths.kubeconfig.clone(),
            context: project.context(),
        };
        let ns = project.namespace();
        let pods_cmd = kubectl.cmd("list pods", ["get", "pods", "-n", ns.as_str(), "-o", "json"]);
        let (ready, listed) = std::thread::scope(|s| {
            let listed = s.spawn(|| ctx.runner.run_unchecked(&pods_cmd));
            (ctx.runner.run_unchecked(&kubectl.readyz_cmd()), listed.join())
        });
        let ready = ready?;
        if ready.success() && ready.stdout.trim() == "ok" {
            api = "ok".into();
        } else {
            api = "unreachable".into();
            api_error = Some(kubectl::last_line(&ready.stderr).to_owned());
        }
        let listed =
            listed.map_err(|_panic| anyhow::anyhow!("internal: probe thread panicked"))??;
        if listed.success() {
            pods = Some(kubectl::parse_pods(&listed.stdout, crate::time::now_secs())?);
        } else {
            pods_error = Some(kubectl::last_line(&listed.stderr).to_owned());
        }
    } else if state == NodeState::Running {
        api_error =
            Some(format!("no kubeconfig at {}; `kilter up` writes it", project.paths.kubeconfig));
    }

    let status =
        assemble(ctx, &project, container.as_ref(), &state, api, api_error, pods, pods_error)?;
    if json {
        ctx.ui.stdout(&(serde_json::to_string_pretty(&status)? + "\n"));
    } else {
        ctx.ui.stdout(&render(&status));
    }
    Ok(0)
}

#[allow(clippy::too_many_arguments)]
fn assemble(
    ctx: &Ctx<'_>,
    project: &Project,
    container: Option<&Container>,
    state: &NodeState,
    api: String,
    api_error: Option<String>,
    pods: Option<Vec<PodRow>>,
    pods_error: Option<String>,
) -> Result<Status> {
    let flag = project.flag_stopped();
    let (node, node_status) = match state {
        NodeState::Running => ("running", Some("running".to_owned())),
        NodeState::NotRunning(s) => ("stopped", Some(s.clone())),
        NodeState::Absent => ("absent", None),
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
    let (ports, assigned) = ports_preview(ctx, project)?;
    let kc = &project.paths.kubeconfig;
    let mode = std::fs::metadata(kc).ok().map(|m| {
        use std::os::unix::fs::PermissionsExt;
        format!("{:04o}", m.permissions().mode() & 0o777)
    });
    let (count, bytes) = crate::snapshot::stats(&project.paths.snapshots);
    Ok(Status {
        schema_version: 1,
        project: project.name.clone(),
        directory: project.dir.to_string(),
        cluster: project.cluster(),
        context: project.context(),
        namespace: project.namespace(),
        node: node.into(),
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
        },
        pods,
        pods_error,
        ports: PortsStatus {
            assigned,
            tilt: ports.tilt,
            nodeport_first: ports.base,
            nodeport_last: ports.base + crate::ports::BLOCK - 1,
            api_server: container.and_then(Container::api_port),
        },
        kubeconfig: KubeconfigStatus { path: kc.to_string(), exists: kc.exists(), mode },
        snapshots: SnapshotStatus { dir: project.paths.snapshots.to_string(), count, bytes },
    })
}

fn render(s: &Status) -> String {
    let mut o = String::new();
    let mut line = |k: &str, v: String| o.push_str(&format!("{k:<11} {v}\n"));
    line("project", format!("{} ({})", s.project, s.directory));
    line(
        "node",
        match (&s.node_status, s.node.as_str()) {
            (_, "absent") => {
                format!("absent (no {}-control-plane; `kilter up` creates it)", s.cluster)
            }
            (Some(st), "stopped") => format!("stopped ({st})"),
            _ => "running".into(),
        },
    );
    if let Some(d) = &s.drift {
        line("drift", d.clone());
    }
    line(
        "api",
        match (&s.api_error, s.api.as_str()) {
            (_, "ok") => "ok".into(),
            (Some(e), _) => format!("{} ({e})", s.api),
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
        "snapshots",
        format!("{} ({} bytes) in {}", s.snapshots.count, s.snapshots.bytes, s.snapshots.dir),
    );
    match (&s.pods, &s.pods_error) {
        (Some(pods), _) if pods.is_empty() => {
            o.push_str(&format!("pods        none in {}\n", s.namespace))
        }
        (Some(pods), _) => {
            o.push_str(&format!("pods in {}:\n", s.namespace));
            let w = pods.iter().map(|p| p.name.len()).max().unwrap_or(4).max(4);
            o.push_str(&format!(
                "  {:<w$}  {:<5}  {:<18}  {:<8}  AGE\n",
                "NAME", "READY", "STATUS", "RESTARTS"
            ));
            for p in pods {
                o.push_str(&format!(
                    "  {:<w$}  {:<5}  {:<18}  {:<8}  {}\n",
                    p.name, p.ready, p.status, p.restarts, p.age
                ));
            }
        }
        (None, Some(e)) => o.push_str(&format!("pods        could not list: {e}\n")),
        (None, None) => {}
    }
    o
}
