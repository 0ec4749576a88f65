//! `kilter doctor [--json]`: checks with ✓ / ! / ✗ and a fix for each; exit 1 if any ✗.

use anyhow::Result;
use serde::Serialize;

use super::Ctx;
use crate::exec::Output;
use crate::ports::{self, Ports, Registry};
use crate::project::Project;
use crate::tools::docker::{Container, Docker, DockerInfo, NodeState};
use crate::tools::version::{self, KubectlVersion};
use crate::tools::{Bin, Tool, kubeconfig, kubectl, locate};

/// Versions the README says were tested (older ones get a warning).
pub const TESTED: [(Tool, (u64, u64, u64)); 4] = [
    (Tool::Docker, (20, 10, 0)),
    (Tool::Kind, (0, 32, 0)),
    (Tool::Kubectl, (1, 32, 0)),
    (Tool::Tilt, (0, 37, 6)),
];

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Level {
    Ok,
    Warn,
    Fail,
}

#[derive(Debug, Serialize)]
pub struct Check {
    pub name: String,
    pub status: Level,
    pub detail: String,
    pub fix: Option<String>,
}

/// `kilter doctor --json`.
#[derive(Debug, Serialize)]
pub struct Report {
    /// No check failed (exit 1 otherwise).
    pub ok: bool,
    pub checks: Vec<Check>,
}

impl crate::json::Document for Report {
    const SCHEMA_VERSION: u32 = 1;
    const KEYS: crate::json::Keys = crate::json::Keys::Sorted;
}

fn check(name: &str, status: Level, detail: impl Into<String>, fix: Option<String>) -> Check {
    Check { name: name.into(), status, detail: detail.into(), fix }
}

pub fn run(ctx: &Ctx<'_>, json: bool) -> Result<i32> {
    let mut checks: Vec<Check> = Vec::new();
    let bins: Vec<(Tool, Option<Bin>)> = Tool::ALL.iter().map(|&t| (t, locate(t).ok())).collect();

    // Tool versions and the daemon, probed concurrently.
    let outputs: Vec<(Tool, Option<Result<Output>>)> = std::thread::scope(|s| {
        let handles: Vec<_> = bins
            .iter()
            .map(|(t, b)| {
                (
                    *t,
                    b.as_ref().map(|b| {
                        s.spawn(move || ctx.runner.run_unchecked(&version::version_cmd(*t, b)))
                    }),
                )
            })
            .collect();
        handles
            .into_iter()
            .map(|(t, h)| {
                (
                    t,
                    h.map(|h| {
                        h.join().unwrap_or_else(|_panic| Err(anyhow::anyhow!("probe panicked")))
                    }),
                )
            })
            .collect()
    });
    for (t, out) in &outputs {
        let name = t.name();
        match out {
            None => checks.push(check(
                name,
                Level::Fail,
                "not found on PATH",
                Some(t.install_hint().into()),
            )),
            Some(Err(e)) => checks.push(check(
                name,
                Level::Fail,
                format!("could not run: {e}"),
                Some(t.install_hint().into()),
            )),
            Some(Ok(o)) => {
                let min = TESTED.iter().find(|(x, _)| x == t).map(|(_, v)| *v).unwrap_or((0, 0, 0));
                match version::parse_tool_version(&o.stdout) {
                    Ok(v) if v.number < min => checks.push(check(
                        name,
                        Level::Warn,
                        format!(
                            "{} is older than the tested {}.{}.{}",
                            v.text, min.0, min.1, min.2
                        ),
                        Some(format!("upgrade {name}: {}", t.install_hint())),
                    )),
                    Ok(v) => checks.push(check(name, Level::Ok, v.text, None)),
                    Err(text) => checks.push(check(
                        name,
                        Level::Warn,
                        format!("unrecognised version output: {text}"),
                        None,
                    )),
                }
            }
        }
    }

    // Docker daemon.
    let docker_bin = bins.iter().find(|(t, _)| *t == Tool::Docker).and_then(|(_, b)| b.clone());
    let mut daemon_ok = false;
    let mut root_dir: Option<String> = None;
    let mut mem_total: Option<u64> = None;
    if let Some(b) = &docker_bin {
        let out = ctx.runner.run_unchecked(&Docker::new(b).info_json_cmd())?;
        match Docker::check_daemon(&out) {
            Ok(text) => {
                // Not docker's JSON reads as no server information: the check fails and says so.
                let info = DockerInfo::parse(&text).ok();
                root_dir = info.as_ref().and_then(|i| i.root_dir()).map(str::to_owned);
                mem_total = info.as_ref().and_then(DockerInfo::memory);
                match info.as_ref().and_then(DockerInfo::server) {
                    None => checks.push(check(
                        "docker daemon",
                        Level::Fail,
                        "no server information (daemon unreachable?)",
                        Some("check `docker info`".into()),
                    )),
                    Some(ver) => {
                        daemon_ok = true;
                        checks.push(check(
                            "docker daemon",
                            Level::Ok,
                            format!("reachable (server {ver})"),
                            None,
                        ));
                    }
                }
            }
            Err(e) => {
                checks.push(check("docker daemon", Level::Fail, e.message.clone(), e.hint.clone()))
            }
        }
    }

    // kilter.yaml and the project.
    let project = match Project::resolve(&ctx.start_dir, &ctx.dirs, ctx.ui) {
        Ok(p) => {
            let what = if p.file.is_some() {
                format!("{} is valid", p.file_path)
            } else {
                "no kilter.yaml (defaults apply)".into()
            };
            checks.push(check("kilter.yaml", Level::Ok, what, None));
            Some(p)
        }
        Err(e) => {
            checks.push(check(
                "kilter.yaml",
                Level::Fail,
                format!("{e:#}"),
                Some("fix the file at the position shown".into()),
            ));
            None
        }
    };

    if let Some(p) = &project {
        checks.push(app_check(p));
        project_checks(ctx, p, docker_bin.as_ref().filter(|_| daemon_ok), &bins, &mut checks)?;
    }

    // Memory for one more cluster.
    if let Some(b) = docker_bin.as_ref().filter(|_| daemon_ok) {
        checks.push(memory_check(ctx, &Docker::new(b), mem_total, project.as_ref())?);
    }

    // The router's names: `*.localhost` on this machine's resolver.
    checks.extend(router_check(project.as_ref())?);

    // Disk under Docker's data root.
    checks.push(disk_check(root_dir.as_deref()));
    checks.extend(inotify_checks());

    let failed = checks.iter().any(|c| c.status == Level::Fail);
    if json {
        crate::json::print(ctx.ui, &Report { ok: !failed, checks })?;
    } else {
        let mut text = String::new();
        for c in &checks {
            let mark = match c.status {
                Level::Ok => "✓",
                Level::Warn => "!",
                Level::Fail => "✗",
            };
            text.push_str(&format!("{mark} {:<15} {}\n", c.name, c.detail));
            if let Some(f) = &c.fix
                && c.status != Level::Ok
            {
                for l in f.lines() {
                    text.push_str(&format!("  fix: {l}\n"));
                }
            }
        }
        ctx.ui.stdout(&text);
    }
    Ok(if failed { 1 } else { 0 })
}

/// Whether `<project>.localhost` resolves to the loopback through the system resolver
/// (`getaddrinfo`): browsers and curl resolve `*.localhost` themselves, other programs ask the
/// resolver. Nothing to check when the router is off.
fn router_check(project: Option<&Project>) -> Result<Option<Check>> {
    let settings = crate::router::Settings::from_env()?;
    let on = match project {
        Some(p) => crate::router::enabled_for(p, &settings),
        None => settings.machine_on,
    };
    if !on {
        return Ok(None);
    }
    let name = project
        .map_or_else(|| "kilter.localhost".to_owned(), |p| crate::router::project_host(&p.name));
    Ok(Some(match crate::router::localhost_resolves(&name) {
        Ok(ips) => check(
            "names",
            Level::Ok,
            format!(
                "{name} resolves to {} (the router's names work in every program)",
                ips.iter().map(ToString::to_string).collect::<Vec<_>>().join(", ")
            ),
            None,
        ),
        Err(found) => check(
            "names",
            Level::Warn,
            format!(
                "{name} does not resolve to the loopback here ({found}); browsers and curl still reach http://<name>.<project>.localhost, other programs may not"
            ),
            Some(format!(
                "let the system resolver answer *.localhost: with systemd-resolved or nss-myhostname it does (add `myhostname` to the hosts line of /etc/nsswitch.conf), or add `127.0.0.1 {name}` and each name you use to /etc/hosts"
            )),
        ),
    }))
}

fn project_checks(
    ctx: &Ctx<'_>,
    p: &Project,
    docker: Option<&Bin>,
    bins: &[(Tool, Option<Bin>)],
    checks: &mut Vec<Check>,
) -> Result<()> {
    let container: Option<Container> = match docker {
        Some(b) => Docker::new(b).inspect(ctx.runner, &p.node()).unwrap_or(None),
        None => None,
    };
    let state = container.as_ref().map(Container::node_state).unwrap_or(NodeState::Absent);

    // Ports. A corrupt registry is a failed check, not the end of the report.
    let path = ctx.dirs.port_registry();
    let slot = Registry::load(&path).and_then(|reg| {
        let mut preview = Registry { version: 1, ..reg.unwrap_or_default() };
        preview.assign(&p.name, container.as_ref().and_then(Container::port_slot))
    });
    match slot {
        Ok(slot) => checks.push(ports_check(p, Ports::of(slot), &state)),
        Err(e) => {
            let fix = crate::error::render(&e)
                .into_iter()
                .find(|(part, _)| *part == crate::error::Part::Help)
                .map(|(_, h)| h);
            checks.push(check("port registry", Level::Fail, format!("{e:#}"), fix));
        }
    }

    // Kubeconfig.
    let kc = &p.paths.kubeconfig;
    checks.push(match std::fs::metadata(kc) {
        Err(_) if state == NodeState::Absent => {
            check("kubeconfig", Level::Ok, "none yet (no cluster)", None)
        }
        Err(_) => check(
            "kubeconfig",
            Level::Fail,
            format!("{kc} is missing"),
            Some("`kilter up` writes it again".into()),
        ),
        Ok(m) => {
            use std::os::unix::fs::PermissionsExt;
            let mode = m.permissions().mode() & 0o777;
            if mode != 0o600 {
                check(
                    "kubeconfig",
                    Level::Fail,
                    format!("{kc} has mode {mode:04o}, it holds credentials"),
                    Some(format!("chmod 600 {kc}")),
                )
            } else if kubeconfig::check(kc, &p.context()) == kubeconfig::Check::NoContext {
                check(
                    "kubeconfig",
                    Level::Fail,
                    format!("{kc} has no context {}", p.context()),
                    Some("`kilter up` refreshes it".into()),
                )
            } else {
                check("kubeconfig", Level::Ok, format!("{kc} (0600)"), None)
            }
        }
    });

    // Flag vs reality.
    let flag = p.flag_stopped();
    checks.push(match (flag, &state) {
        (true, NodeState::Running) => check(
            "cluster flag",
            Level::Warn,
            "kilter.yaml says stopped, but the node is running",
            Some("`kilter up` (clears the flag) or `kilter stop`".into()),
        ),
        (true, NodeState::Absent) => check(
            "cluster flag",
            Level::Warn,
            "kilter.yaml says stopped, but the cluster is gone",
            Some("`kilter up` creates a new one".into()),
        ),
        (false, NodeState::NotRunning(s)) => check(
            "cluster flag",
            Level::Warn,
            format!("the node is {s} without `kilter stop` (reboot, Docker restart or crash)"),
            Some("`kilter up` resumes it".into()),
        ),
        (_, NodeState::Running) => check("cluster flag", Level::Ok, "node running", None),
        (_, NodeState::NotRunning(s)) => {
            check("cluster flag", Level::Ok, format!("node {s} (stopped by `kilter stop`)"), None)
        }
        (false, NodeState::Absent) => check("cluster flag", Level::Ok, "no cluster yet", None),
    });

    if let Some(b) = docker {
        checks.extend(registry_checks(ctx, p, b, &state, bins)?);
    }

    // kubectl/server skew.
    if state == NodeState::Running
        && kc.exists()
        && let Some((_, Some(b))) = bins.iter().find(|(t, _)| *t == Tool::Kubectl)
    {
        let out = ctx.runner.run_unchecked(&p.kubectl_with(b).version_cmd())?;
        // stdout holds the client part even when the server does not answer (exit 1 then);
        // an answer that is not kubectl's JSON reads as neither version (the check warns).
        let v = KubectlVersion::parse(&out.stdout).unwrap_or_default();
        checks.push(match (v.client_minor(), v.server_minor()) {
            (Some(c), Some(s)) if (c - s).abs() > 1 => check(
                "version skew",
                Level::Warn,
                format!("kubectl 1.{c} vs server 1.{s}: more than one minor apart"),
                Some(format!("use kubectl 1.{s}, or pin `kind.image` to a node of 1.{c}")),
            ),
            (Some(c), Some(s)) => {
                check("version skew", Level::Ok, format!("kubectl 1.{c}, server 1.{s}"), None)
            }
            _ => check(
                "version skew",
                Level::Warn,
                format!("could not read the server version: {}", kubectl::last_line(&out.stderr)),
                Some("`kilter status` shows whether the API answers".into()),
            ),
        });
    }
    Ok(())
}

/// The shared local registry and caches, and this project's wiring to them (hosts.toml files in
/// the node, the `local-registry-hosting` ConfigMap) when its node runs.
fn registry_checks(
    ctx: &Ctx<'_>,
    p: &Project,
    docker_bin: &Bin,
    state: &NodeState,
    bins: &[(Tool, Option<Bin>)],
) -> Result<Vec<Check>> {
    use crate::registry::{self, Machine, Settings};
    let settings = match Settings::from_env() {
        Ok(s) => s,
        Err(e) => {
            return Ok(vec![check("registry", Level::Fail, e.message.clone(), e.hint.clone())]);
        }
    };
    let enabled = match registry::enabled_for(p, &settings) {
        Ok(e) => e,
        Err(e) => return Ok(vec![check("registry", Level::Fail, format!("{e:#}"), None)]),
    };
    if !enabled {
        let why = if settings.machine_on {
            "registry: false in kilter.yaml"
        } else {
            "KILTER_REGISTRY=off"
        };
        return Ok(vec![check("registry", Level::Ok, format!("not used ({why})"), None)]);
    }
    let docker = Docker::new(docker_bin);
    let m = Machine::new(ctx.runner, ctx.ui, &docker, &settings, &ctx.dirs);
    let seen = m.inspect()?;
    let rows = registry::rows(&settings, &seen);
    let line = registry::summary(&rows);
    let mut out = Vec::new();
    let absent = rows.iter().all(|r| r.state == "absent");
    let down: Vec<&str> = rows
        .iter()
        .filter(|r| r.state != "running" && r.state != "absent")
        .map(|r| r.name.as_str())
        .collect();
    let missing: Vec<&str> =
        rows.iter().filter(|r| r.state == "absent").map(|r| r.name.as_str()).collect();
    let foreign = seen.foreign(&settings);
    out.push(if !foreign.is_empty() {
        let e = registry::in_the_way("container", &foreign);
        check("registry", Level::Warn, format!("{} ({line})", e.message), e.hint)
    } else if absent {
        check("registry", Level::Ok, "not created yet (the next `kilter up` creates it)", None)
    } else if !down.is_empty() || !missing.is_empty() {
        let mut what = Vec::new();
        if !down.is_empty() {
            what.push(format!("not running: {}", down.join(", ")));
        }
        if !missing.is_empty() {
            what.push(format!("missing: {}", missing.join(", ")));
        }
        check(
            "registry",
            Level::Warn,
            format!("{line} ({})", what.join("; ")),
            Some("`kilter registry start` (or the next `kilter up`) brings them back".into()),
        )
    } else {
        check("registry", Level::Ok, line, None)
    });
    let port = seen
        .get(&settings.registry_name())
        .filter(|c| registry::is_kilters(&settings, c))
        .and_then(|c| c.configured_port(registry::CONTAINER_PORT));
    // The wiring of this project's running node.
    if let (NodeState::Running, Some(port)) = (state, port) {
        let files = registry::hosts_files(&settings, port);
        let probe =
            ctx.runner.run_unchecked(&registry::hosts_probe_cmd(&docker, &p.node(), &files))?;
        let bad = registry::hosts_to_write(&files, &probe);
        let mut problems: Vec<String> = Vec::new();
        if !bad.is_empty() {
            problems.push(format!(
                "{} of {} containerd hosts.toml files in the node are missing or differ",
                bad.len(),
                files.len()
            ));
        }
        if let Some((_, Some(kb))) = bins.iter().find(|(t, _)| *t == Tool::Kubectl)
            && p.paths.kubeconfig.exists()
        {
            let kubectl = p.kubectl_with(kb);
            let out = ctx
                .runner
                .run_for(&kubectl.hosting_get_cmd(), std::time::Duration::from_secs(5))?;
            let value = kubectl::parse_hosting_value(&out.stdout);
            if value.as_deref() != Some(registry::hosting_value(port).as_str()) {
                problems.push(format!(
                    "the {}/{} ConfigMap does not point at localhost:{port}",
                    registry::HOSTING_NAMESPACE,
                    registry::HOSTING_NAME
                ));
            }
        }
        out.push(if problems.is_empty() {
            check(
                "registry wiring",
                Level::Ok,
                format!("the node pulls through the caches and Tilt pushes to localhost:{port}"),
                None,
            )
        } else {
            check(
                "registry wiring",
                Level::Warn,
                problems.join("; "),
                Some("`kilter up` repairs the wiring".into()),
            )
        });
    }
    Ok(out)
}

/// What a new cluster is assumed to need: about 1 GiB. An idle kind node (API server, etcd,
/// controller manager, scheduler, kubelet, containerd, CoreDNS) holds somewhat less than that,
/// and the project's own pods come on top; 1 GiB per running node is also what users report
/// seeing in `docker stats`.
pub const NEW_CLUSTER_BYTES: u64 = 1 << 30;

/// Whether the running clusters plus the next `kilter up` here fit in what Docker has
/// (`docker info` MemTotal: the host's memory, or Docker Desktop's VM). A warning, not a
/// failure: the kernel swaps or OOM-kills before anything refuses to start.
fn memory_check(
    ctx: &Ctx<'_>,
    docker: &Docker<'_>,
    total: Option<u64>,
    project: Option<&Project>,
) -> Result<Check> {
    let Some(total) = total else {
        return Ok(check("memory", Level::Warn, "Docker did not say how much memory it has", None));
    };
    let nodes = docker.kilter_nodes(ctx.runner)?;
    let running: Vec<&str> =
        nodes.iter().filter(|n| n.running()).map(|n| n.node.as_str()).collect();
    let used: u64 = match docker.usage(ctx.runner, &running, std::time::Duration::from_secs(15)) {
        Ok(usage) => usage.iter().filter_map(|u| u.memory_bytes).sum(),
        Err(e) => {
            return Ok(check(
                "memory",
                Level::Warn,
                format!("could not read the clusters' memory: {e}"),
                Some("`kilter ls` shows what each cluster uses".into()),
            ));
        }
    };
    let ours = project.is_some_and(|p| running.contains(&p.node().as_str()));
    Ok(memory_verdict(used, running.len(), total, !ours))
}

fn memory_verdict(used: u64, running: usize, total: u64, new_one: bool) -> Check {
    let fmt = crate::ui::fmt_bytes;
    let clusters = match running {
        0 => "no kilter cluster runs".to_owned(),
        1 => format!("1 running kilter cluster uses {}", fmt(used)),
        n => format!("{n} running kilter clusters use {}", fmt(used)),
    };
    let need = used + if new_one { NEW_CLUSTER_BYTES } else { 0 };
    let plus = if new_one {
        format!("; a new cluster needs about {} more", fmt(NEW_CLUSTER_BYTES))
    } else {
        String::new()
    };
    let detail = format!("Docker has {}; {clusters}{plus}", fmt(total));
    if need > total {
        check(
            "memory",
            Level::Warn,
            detail,
            Some("`kilter stop --all` (or `kilter stop` in the projects you are not using; `kilter ls` shows what each uses), or give Docker more memory (Docker Desktop: Settings → Resources)".into()),
        )
    } else {
        check("memory", Level::Ok, detail, None)
    }
}

fn disk_check(root: Option<&str>) -> Check {
    let Some(root) = root else {
        return check(
            "disk",
            Level::Warn,
            "Docker's data root is unknown (daemon unreachable)",
            None,
        );
    };
    if root.contains('\0') {
        return check("disk", Level::Warn, "bad path", None);
    }
    let Ok(st) = rustix::fs::statvfs(root) else {
        return check(
            "disk",
            Level::Warn,
            format!("cannot read free space of {root} (Docker runs in a VM?)"),
            None,
        );
    };
    disk_verdict(st.f_bavail.saturating_mul(st.f_frsize), root)
}

/// Below 2 GiB a new node image or a snapshot will not fit (✗); below 10 GiB, a warning.
fn disk_verdict(free_bytes: u64, root: &str) -> Check {
    let gib = free_bytes as f64 / (1u64 << 30) as f64;
    let fix = Some(
        "free space: `docker system prune`, or remove unused kilter clusters (`kilter ls`)"
            .to_owned(),
    );
    if gib < 2.0 {
        check("disk", Level::Fail, format!("{gib:.1} GiB free under {root}"), fix)
    } else if gib < 10.0 {
        check("disk", Level::Warn, format!("{gib:.1} GiB free under {root}"), fix)
    } else {
        check("disk", Level::Ok, format!("{gib:.1} GiB free under {root}"), None)
    }
}

/// Tilt port and NodePort block: free, or owned by this project.
fn ports_check(p: &Project, ports: Ports, state: &NodeState) -> Check {
    let ours_running = *state == NodeState::Running;
    let tilt_live =
        crate::tools::tilt::TiltRecord::read(&p.paths.tilt_json).is_some_and(|r| r.is_live());
    let mut problems = Vec::new();
    if !tilt_live && ports::port_busy(ports.tilt) {
        problems.push(format!("Tilt port {} is in use by another program", ports.tilt));
    }
    if !ours_running {
        let busy: Vec<String> =
            ports.block().filter(|&x| ports::port_busy(x)).map(|x| x.to_string()).collect();
        if !busy.is_empty() {
            problems.push(format!("NodePorts {} are in use", busy.join(", ")));
        }
    }
    if problems.is_empty() {
        check(
            "ports",
            Level::Ok,
            format!(
                "Tilt {} and NodePorts {}-{} are {}",
                ports.tilt,
                ports.base,
                ports.block().end(),
                if ours_running { "owned by this project" } else { "free" }
            ),
            None,
        )
    } else {
        check(
            "ports",
            Level::Fail,
            problems.join("; "),
            Some("stop what holds them (`ss -ltnp` shows it)".into()),
        )
    }
}

/// Tilt and kind watch many files; low inotify limits break them.
fn inotify_checks() -> Vec<Check> {
    let root = std::env::var("KILTER_PROC_SYS").unwrap_or_else(|_| "/proc/sys".into());
    let read = |name: &str| {
        std::fs::read_to_string(format!("{root}/fs/inotify/{name}"))
            .ok()
            .and_then(|s| s.trim().parse::<u64>().ok())
    };
    let mut out = Vec::new();
    for (name, want) in [("max_user_watches", 524_288u64), ("max_user_instances", 512u64)] {
        out.push(match read(name) {
            None => check(&format!("inotify {}", &name[9..]), Level::Ok, "not applicable on this system", None),
            Some(v) if v < want => check(
                &format!("inotify {}", &name[9..]),
                Level::Warn,
                format!("fs.inotify.{name} = {v} (kind and Tilt want ≥ {want})"),
                Some(format!(
                    "sudo sysctl fs.inotify.{name}={want}\necho 'fs.inotify.{name} = {want}' | sudo tee /etc/sysctl.d/99-kilter-inotify-{name}.conf"
                )),
            ),
            Some(v) => check(&format!("inotify {}", &name[9..]), Level::Ok, format!("fs.inotify.{name} = {v}"), None),
        });
    }
    out
}

/// Which Tiltfile `up` runs, and whether the app's files can be read (a `package.json` that is
/// not JSON fails `up` with exit 4).
fn app_check(project: &crate::project::Project) -> Check {
    use crate::lifecycle::app::{self, Choice};
    match app::choose(project) {
        Ok(Choice::User { path, exists: true }) => {
            check("app", Level::Ok, format!("your Tiltfile {path} runs under Tilt"), None)
        }
        Ok(Choice::User { path, exists: false }) => check(
            "app",
            Level::Warn,
            format!("kilter.yaml names the Tiltfile {path}, which does not exist: Tilt is skipped"),
            Some("create it, or remove `tiltfile:` to let kilter render one for the app".into()),
        ),
        Ok(Choice::Rendered(a)) => check(
            "app",
            Level::Ok,
            format!("{}: kilter renders its Tiltfile (`kilter render` shows it)", a.stack),
            None,
        ),
        Ok(Choice::Nothing) => check(
            "app",
            Level::Warn,
            "no Tiltfile and no app found: `up` brings up the cluster and services only",
            Some("declare the app in kilter.yaml (`dev:`, `port:`) or add a Tiltfile".into()),
        ),
        Err(e) => check(
            "app",
            Level::Fail,
            format!("{e:#}"),
            Some("fix the file at the position shown, or declare `dev:` in kilter.yaml".into()),
        ),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn memory_for_one_more_cluster() {
        const GIB: u64 = 1 << 30;
        let c = memory_verdict(3 * GIB, 3, 8 * GIB, true);
        assert_eq!(c.status, Level::Ok, "{}", c.detail);
        assert_eq!(
            c.detail,
            "Docker has 8.0 GiB; 3 running kilter clusters use 3.0 GiB; a new cluster needs about 1.0 GiB more"
        );
        assert_eq!(memory_verdict(7 * GIB, 7, 8 * GIB, true).status, Level::Ok, "exactly fits");
        let c = memory_verdict(7 * GIB + 1, 7, 8 * GIB, true);
        assert_eq!(c.status, Level::Warn);
        assert!(c.fix.as_deref().is_some_and(|f| f.contains("kilter stop --all")));
        // this project's cluster already runs: nothing new to fit
        let c = memory_verdict(7 * GIB + 1, 7, 8 * GIB, false);
        assert_eq!(c.status, Level::Ok, "{}", c.detail);
        assert!(!c.detail.contains("new cluster"));
        let c = memory_verdict(0, 0, GIB / 2, true);
        assert_eq!(c.status, Level::Warn);
        assert!(
            c.detail.starts_with("Docker has 512.0 MiB; no kilter cluster runs;"),
            "{}",
            c.detail
        );
    }

    #[test]
    fn disk_thresholds() {
        const GIB: u64 = 1 << 30;
        for (free, want) in [
            (0, Level::Fail),
            (2 * GIB - 1, Level::Fail),
            (2 * GIB, Level::Warn),
            (10 * GIB - 1, Level::Warn),
            (10 * GIB, Level::Ok),
        ] {
            let c = disk_verdict(free, "/var/lib/docker");
            assert_eq!(c.status, want, "{free}: {}", c.detail);
            assert!(c.detail.ends_with("GiB free under /var/lib/docker"), "{}", c.detail);
            assert_eq!(c.fix.is_some(), want != Level::Ok);
        }
    }
}
