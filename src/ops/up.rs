//! `kilter up`: preflight → inspect the node → reuse / `docker start` / `kind create` → wait
//! until healthy → kubeconfig → namespace → clear the flag → Tilt → summary.

use std::collections::BTreeMap;
use std::time::{Duration, Instant};

use anyhow::{Context, Result};

use super::{Ctx, project_env, set_stopped_flag, stop_tilt};
use crate::cli::UpArgs;
use crate::error::{Code, Exit};
use crate::exec::{Output, check_interrupt};
use crate::ports::{self, Ports, Registry};
use crate::project::{Project, check_identity, write_identity};
use crate::tools::docker::{self, Container, Docker, NodeState};
use crate::tools::kubeconfig::{self, Check};
use crate::tools::kubectl::{self, ClusterView, Kubectl};
use crate::tools::tilt::{self, TiltArgs, TiltRecord};
use crate::tools::{Tool, Tools};

/// Returns the process exit code (`--ci`/`--attach` pass Tilt's through).
pub fn run(ctx: &Ctx<'_>, args: &UpArgs) -> Result<i32> {
    let started = Instant::now();
    let ui = ctx.ui;
    let runner = ctx.runner;
    let project = ctx.project()?;
    let claim_identity = check_identity(&project, args.adopt, ui)?;
    let lock = ctx.lock(&project, "kilter up")?;

    let tiltfile = project.tiltfile();
    let want_tilt = !args.no_tilt && tiltfile.is_file();
    let mut needed = vec![Tool::Docker, Tool::Kind, Tool::Kubectl];
    if want_tilt {
        needed.push(Tool::Tilt);
    }
    let tools = Tools::discover(&needed)?;
    let docker = tools.docker()?;
    let kind = tools.kind()?;

    // Preflight and inspect are independent: run them together.
    let (info, inspect) = std::thread::scope(|s| {
        let info = s.spawn(|| runner.run_unchecked(&docker.info_cmd()));
        let inspect = runner.run_unchecked(&docker.inspect_cmd(&project.node()));
        (info.join(), inspect)
    });
    let info = info.map_err(|_panic| anyhow::anyhow!("internal: preflight thread panicked"))??;
    Docker::check_daemon(&info)?;
    let mut container =
        docker::interpret_inspect(runner, &docker.inspect_cmd(&project.node()), &inspect?)?;

    // A creation that was interrupted (Ctrl-C, a killed kind) left a half-made cluster.
    if project.paths.creating.exists() {
        if container.is_some() {
            ui.warn(&format!(
                "the last creation of {} was interrupted; deleting the partial cluster and creating it again",
                project.cluster()
            ));
            runner.run(&kind.delete_cmd(&project.cluster(), &project.paths.kubeconfig))?;
            container = None;
        }
        if !runner.is_dry_run() {
            crate::fsutil::remove_if_exists(&project.paths.creating)?;
        }
    }

    let ports = assign_ports(ctx, &project, &docker, container.as_ref())?;
    let flag = project.flag_stopped();
    let mut created = false;
    let mut resumed = false;
    let state = container.as_ref().map(Container::node_state).unwrap_or(NodeState::Absent);
    match &state {
        NodeState::Running => {
            ui.info(&format!("Cluster {} is running; reusing it", project.cluster()));
        }
        NodeState::NotRunning(status) => {
            let c = container.as_ref().context("internal: container missing")?;
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
            let cmd = if status == "paused" {
                docker.unpause_cmd(&project.node())
            } else {
                docker.start_cmd(&project.node())
            };
            let out = runner.run_unchecked(&cmd)?;
            if !out.success() {
                let hint = if out.stderr.contains("port is already allocated") {
                    "another process took one of the cluster's ports; free it, or `kilter destroy` and `kilter up` to recreate"
                } else {
                    "try `kilter destroy` then `kilter up` to recreate the cluster (snapshots are kept)"
                };
                return Err(runner.failed(&cmd, &out, Some(hint.into())).into());
            }
            resumed = true;
        }
        NodeState::Absent => {
            if flag {
                ui.warn(&format!(
                    "kilter.yaml says cluster {} is stopped, but it no longer exists (deleted outside kilter?). Creating a new, empty cluster; restore data with `kilter db restore`.",
                    project.cluster()
                ));
            }
            create(ctx, &project, &tools, &ports)?;
            created = true;
        }
    }

    // Kubeconfig: kind wrote it on create; otherwise make sure it is there and current.
    if !created {
        let api_port = container.as_ref().and_then(Container::api_port);
        let needs_export = match kubeconfig::check(&project.paths.kubeconfig, &project.context()) {
            Check::Missing | Check::NoContext => true,
            Check::Server { port, contexts } => {
                resumed || contexts != 1 || (api_port.is_some() && port != api_port)
            }
        };
        if needs_export {
            export_kubeconfig(ctx, &project, &tools)?;
        }
    }
    if !runner.is_dry_run() && project.paths.kubeconfig.exists() {
        crate::fsutil::chmod(&project.paths.kubeconfig, 0o600)?;
    }

    let kubectl = Kubectl {
        bin: tools.get(Tool::Kubectl)?,
        kubeconfig: project.paths.kubeconfig.clone(),
        context: project.context(),
    };
    let view = if runner.is_dry_run() && state != NodeState::Running {
        runner.script_comment("kilter waits here until /readyz answers ok and the node is Ready");
        None
    } else {
        Some(wait_healthy(ctx, &kubectl, &project.namespace(), args.timeout)?)
    };

    // Namespace.
    let ns = project.namespace();
    let ns_exists = view.as_ref().is_some_and(|v| v.namespace_exists);
    if !ns_exists && (view.is_some() || created) {
        let cmd = kubectl.create_namespace_cmd(&ns);
        let out = runner.run_unchecked(&cmd)?;
        if !out.success() && !kubectl::already_exists(&out.stderr) {
            return Err(runner.failed(&cmd, &out, None).into());
        }
    } else if view.is_none() {
        runner.script_comment(&format!("kilter creates namespace {ns} here if it is missing"));
    }

    if set_stopped_flag(ctx, &project, false)? {
        ui.detail("removed cluster.stopped from kilter.yaml");
    }
    if claim_identity && !runner.is_dry_run() {
        write_identity(&project)?;
    }

    let cluster_took = started.elapsed();
    // Tilt.
    let env = project_env(&project, &ports);
    let targs = TiltArgs {
        port: ports.tilt,
        file: &tiltfile,
        context: &project.context(),
        namespace: &ns,
        env: &env,
    };
    if !want_tilt {
        summary(ctx, &project, &ports, None, cluster_took);
        if !args.no_tilt {
            ui.note(&format!("no Tiltfile at {tiltfile}; Tilt was skipped (the cluster is up)"));
        }
        return Ok(0);
    }
    let tilt_bin = tools.get(Tool::Tilt)?;
    if stop_tilt(ctx, &project)?.is_some() {
        ui.info("Restarting Tilt (a restart forces a full rebuild)");
    }
    if args.attach || args.ci {
        drop(lock);
        summary(ctx, &project, &ports, None, cluster_took);
        let cmd = if args.ci {
            tilt::ci_cmd(tilt_bin, &targs, &project.dir)
        } else {
            tilt::up_cmd(tilt_bin, &targs).cwd(&project.dir)
        };
        ports::check_free(
            &ports,
            true,
            false,
            Registry::load(&ctx.dirs.port_registry())?.as_ref(),
            &project.name,
        )?;
        let code = runner.run_foreground(&cmd)?;
        if args.attach {
            ui.info(&format!("Tilt exited ({code}); cluster {} keeps running", project.cluster()));
        }
        return Ok(code);
    }
    let pid = start_tilt(ctx, &project, tilt_bin, &targs, &ports)?;
    summary(ctx, &project, &ports, pid, started.elapsed());
    Ok(0)
}

fn assign_ports(
    ctx: &Ctx<'_>,
    project: &Project,
    docker: &Docker<'_>,
    container: Option<&Container>,
) -> Result<Ports> {
    let known = container.and_then(Container::port_slot);
    let path = ctx.dirs.port_registry();
    let rebuild = || rebuild_registry(ctx, docker);
    if ctx.runner.is_dry_run() {
        let mut reg = match Registry::load(&path)? {
            Some(r) => r,
            None => Registry {
                version: 1,
                projects: rebuild()?
                    .into_iter()
                    .map(|(n, s)| (n, ports::Entry { slot: s }))
                    .collect(),
            },
        };
        return Ok(Ports::of(reg.assign(&project.name, known)?));
    }
    let (slot, rebuilt) =
        ports::with_registry(&path, ctx.ui, rebuild, |reg| reg.assign(&project.name, known))?;
    if rebuilt {
        ctx.ui.detail(&format!(
            "port registry {path} was missing; rebuilt it from the existing clusters"
        ));
    }
    Ok(Ports::of(slot))
}

/// Recover slots from the kilter clusters that exist (one `docker ps`, one `docker inspect`).
pub fn rebuild_registry(ctx: &Ctx<'_>, docker: &Docker<'_>) -> Result<BTreeMap<String, u16>> {
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
    let mut cmd = docker.bin.cmd("read the port bindings of kilter clusters").args([
        "inspect",
        "--type",
        "container",
    ]);
    cmd = cmd.args(names.iter().cloned());
    let out = ctx.runner.run_unchecked(&cmd)?;
    let list: Vec<Container> = serde_json::from_str(out.stdout.trim()).unwrap_or_default();
    for c in list {
        let cluster = c.config.labels.as_ref().and_then(|l| l.get(docker::CLUSTER_LABEL)).cloned();
        if let (Some(cluster), Some(slot)) = (cluster, c.port_slot())
            && let Some(name) = cluster.strip_prefix("kilter-")
        {
            map.insert(name.to_owned(), slot);
        }
    }
    Ok(map)
}

fn create(ctx: &Ctx<'_>, project: &Project, tools: &Tools, ports: &Ports) -> Result<()> {
    let runner = ctx.runner;
    let kind = tools.kind()?;
    if !runner.is_dry_run() {
        let reg = Registry::load(&ctx.dirs.port_registry())?;
        ports::check_free(ports, false, true, reg.as_ref(), &project.name)?;
    }
    let config = crate::tools::kind::render_config(&project.cluster(), ports);
    runner.write_file(&project.paths.kind_config, &config, 0o600)?;
    if !runner.is_dry_run() {
        crate::fsutil::ensure_private_dir(&project.paths.cache)?;
        crate::fsutil::write_private(
            &project.paths.creating,
            b"kind create cluster in progress\n",
            0o600,
        )?;
    }
    let step = ctx.ui.step(&format!("Creating cluster {}", project.cluster()));
    let cmd = kind.create_cmd(
        &project.cluster(),
        &project.paths.kubeconfig,
        &project.paths.kind_config,
        project.config.kind.image.as_deref(),
    );
    let out = runner.run_unchecked(&cmd)?;
    if !out.success() {
        drop(step);
        // The `creating` marker stays: if kind was killed it left a half-made node behind, and
        // the next `up` deletes and recreates it.
        let hint = if docker::daemon_unreachable(&out.stderr) {
            return Err(docker::daemon_error(&out.stderr).into());
        } else if crate::tools::kind::already_exists(&out.stderr) {
            "a cluster with this name appeared meanwhile; run `kilter up` again".to_owned()
        } else {
            format!(
                "see the full output above with -v; the kind config is {}",
                project.paths.kind_config
            )
        };
        return Err(runner.failed(&cmd, &out, Some(hint)).into());
    }
    step.done();
    if !runner.is_dry_run() {
        crate::fsutil::remove_if_exists(&project.paths.creating)?;
    }
    Ok(())
}

fn export_kubeconfig(ctx: &Ctx<'_>, project: &Project, tools: &Tools) -> Result<()> {
    if !ctx.runner.is_dry_run() {
        crate::fsutil::ensure_private_dir(&project.paths.cache)?;
        // Start from a clean file so it holds exactly our one context.
        crate::fsutil::remove_if_exists(&project.paths.kubeconfig)?;
    }
    let cmd = tools.kind()?.export_kubeconfig_cmd(&project.cluster(), &project.paths.kubeconfig);
    ctx.runner.run(&cmd).context("could not write the project kubeconfig")?;
    Ok(())
}

/// Poll `/readyz` and the node's Ready condition (concurrently) with a short interval until
/// healthy or `timeout` (exit 5 with what it waited for and the last answer).
fn wait_healthy(
    ctx: &Ctx<'_>,
    kubectl: &Kubectl<'_>,
    namespace: &str,
    timeout: Duration,
) -> Result<ClusterView> {
    let runner = ctx.runner;
    let step = ctx.ui.step("Waiting for the cluster to become healthy");
    let deadline = Instant::now() + timeout;
    let mut waiting_for: &str;
    let mut last: String;
    let mut polls = 0u32;
    loop {
        check_interrupt()?;
        polls += 1;
        let (ready, nodes) = std::thread::scope(|s| {
            let nodes = s.spawn(|| runner.run_unchecked(&kubectl.nodes_and_namespaces_cmd()));
            let ready = runner.run_unchecked(&kubectl.readyz_cmd());
            (ready, nodes.join())
        });
        let ready: Output = ready?;
        let nodes: Output =
            nodes.map_err(|_panic| anyhow::anyhow!("internal: probe thread panicked"))??;
        if ready.success() && ready.stdout.trim() == "ok" {
            if nodes.success() {
                let view = kubectl::parse_cluster_view(&nodes.stdout, namespace)?;
                if view.nodes_ready > 0 {
                    let took = step.done();
                    ctx.ui.detail(&format!(
                        "healthy after {polls} polls ({})",
                        crate::ui::fmt_duration(took)
                    ));
                    return Ok(view);
                }
                waiting_for = "the node to become Ready";
                last = view.not_ready_reason.unwrap_or_else(|| "no nodes yet".into());
            } else {
                waiting_for = "the node to become Ready";
                last = kubectl::last_line(&nodes.stderr).to_owned();
            }
        } else {
            waiting_for = "the API server to answer /readyz";
            last = if ready.success() {
                ready.stdout.trim().to_owned()
            } else {
                kubectl::last_line(&ready.stderr).to_owned()
            };
        }
        ctx.ui.progress(&format!("Waiting for {waiting_for}: {last}"));
        if Instant::now() >= deadline {
            drop(step);
            return Err(Exit::new(
                Code::Timeout,
                format!(
                    "timed out after {} waiting for {waiting_for}\n  last answer: {last}",
                    crate::ui::fmt_duration(timeout)
                ),
            )
            .hint("raise --timeout, or look at the node with `docker logs` and `kilter status`")
            .into());
        }
        crate::exec::sleep(Duration::from_millis(100))?;
    }
}

/// Start Tilt detached, wait for its startup line, record it in tilt.json.
fn start_tilt(
    ctx: &Ctx<'_>,
    project: &Project,
    bin: &crate::tools::Bin,
    targs: &TiltArgs<'_>,
    ports: &Ports,
) -> Result<Option<i32>> {
    let runner = ctx.runner;
    if !runner.is_dry_run() {
        ports::check_free(
            ports,
            true,
            false,
            Registry::load(&ctx.dirs.port_registry())?.as_ref(),
            &project.name,
        )?;
        crate::fsutil::ensure_private_dir(&project.paths.cache)?;
    }
    let log = &project.paths.tilt_log;
    let offset = std::fs::metadata(log).map(|m| m.len()).unwrap_or(0);
    let cmd = tilt::up_cmd(bin, targs).cwd(&project.dir);
    let step = ctx.ui.step("Starting Tilt");
    let Some(child) = runner.spawn_detached(&cmd, log)? else {
        step.done();
        return Ok(None);
    };
    let pid = child.pid as i32;
    let deadline = Instant::now() + Duration::from_secs(60);
    // Tilt announces itself before it binds its port; once announced, a Tilt that is still alive
    // after this long without a later line is taken as started (a failed bind exits at once).
    const SETTLE: Duration = Duration::from_millis(1500);
    let mut announced_at: Option<Instant> = None;
    loop {
        if crate::exec::interrupted() {
            tilt::stop_group(pid, Duration::from_secs(2));
            return Err(crate::error::Interrupted.into());
        }
        // Look at the process before the log: a Tilt that has exited has written all it will.
        let state = child.state();
        let alive = state == crate::exec::ChildState::Running;
        let text = read_from(log, offset);
        if alive {
            match tilt::startup(&text) {
                tilt::Startup::Running => break,
                tilt::Startup::Announced => {
                    if announced_at.get_or_insert_with(Instant::now).elapsed() >= SETTLE {
                        break;
                    }
                }
                tilt::Startup::Silent => {}
            }
        }
        if !alive || Instant::now() >= deadline {
            if alive {
                tilt::stop_group(pid, Duration::from_secs(2));
            }
            drop(step);
            let tail = crate::exec::tail(&text, 15);
            let why = match state {
                crate::exec::ChildState::Exited(Some(code)) => {
                    format!("Tilt did not start: it exited with status {code}")
                }
                crate::exec::ChildState::Exited(None) => "Tilt did not start: it exited".to_owned(),
                crate::exec::ChildState::Running => format!(
                    "Tilt did not start within {}",
                    crate::ui::fmt_duration(Duration::from_secs(60))
                ),
            };
            return Err(Exit::new(
                Code::Failed,
                format!("{why}\n  $ {}\n  tilt.log:\n{}", cmd, indent(&tail)),
            )
            .hint(format!("the whole log is {log}; the cluster itself is up"))
            .into());
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    step.done();
    let rec = TiltRecord {
        pid,
        port: targs.port,
        started_at: crate::time::rfc3339_now(),
        tiltfile: targs.file.to_string(),
    };
    rec.write(&project.paths.tilt_json)?;
    Ok(Some(pid))
}

fn read_from(path: &camino::Utf8Path, offset: u64) -> String {
    use std::io::{Read, Seek, SeekFrom};
    let mut s = String::new();
    if let Ok(mut f) = std::fs::File::open(path) {
        let _ = f.seek(SeekFrom::Start(offset));
        let mut buf = Vec::new();
        let _ = f.read_to_end(&mut buf);
        s = String::from_utf8_lossy(&buf).into_owned();
    }
    s
}

fn indent(s: &str) -> String {
    s.lines().map(|l| format!("    {l}")).collect::<Vec<_>>().join("\n")
}

fn summary(ctx: &Ctx<'_>, project: &Project, ports: &Ports, tilt_pid: Option<i32>, took: Duration) {
    let ui = ctx.ui;
    if ctx.runner.is_dry_run() {
        return;
    }
    ui.success(&format!("{} is up ({})", project.name, crate::ui::fmt_duration(took)));
    ui.info(&format!("  cluster     {} (context {})", project.cluster(), project.context()));
    ui.info(&format!("  namespace   {}", project.namespace()));
    ui.info(&format!(
        "  kubeconfig  export KUBECONFIG={}",
        crate::exec::quote(project.paths.kubeconfig.as_str())
    ));
    match tilt_pid {
        Some(pid) => ui.info(&format!(
            "  tilt        http://localhost:{}/ (pid {pid}, log {})",
            ports.tilt, project.paths.tilt_log
        )),
        None => ui.info(&format!("  tilt        not running (port {} reserved)", ports.tilt)),
    }
    ui.info(&format!(
        "  ports       {}-{} on 127.0.0.1 (NodePorts)",
        ports.base,
        ports.base + ports::BLOCK - 1
    ));
}
