//! `kilter up`: bring the cluster up and healthy (`lifecycle::up`, shared with `kilter ci`),
//! then the services (apply, delete removed ones, wait until ready), then Tilt — detached, in the
//! foreground (`--attach`), or `tilt ci` (`--ci`) — and a summary.
//!
//! `--timeout` is a deadline for everything up to a started Tilt: the runner kills whatever
//! still runs at that moment (a kubectl retrying against a resetting API port, a hung kind) and
//! `up` exits 5.

use std::time::{Duration, Instant};

use anyhow::Result;

use super::{Ctx, Deploy, deploy_services, project_env, services_of, tilt_files};
use crate::cli::UpArgs;
use crate::lifecycle;
use crate::ports::{self, Check as PortCheck, Ports, Registry};
use crate::project::Project;
use crate::services::{self, Wired};
use crate::tools::Tool;
use crate::tools::tilt::{self, TiltArgs};

/// How long a detached Tilt may take to get past its port bind.
const TILT_START_LIMIT: Duration = Duration::from_secs(60);

/// Returns the process exit code (`--ci`/`--attach` pass Tilt's through).
pub fn run(ctx: &Ctx<'_>, args: &UpArgs) -> Result<i32> {
    let started = Instant::now();
    let timeout = args.timeout.get();
    let ui = ctx.ui;
    let runner = ctx.runner;
    runner.set_deadline(timeout, &format!("--timeout {}", args.timeout));
    let project = ctx.project()?;
    // kilter.yaml's services are checked before anything changes.
    let service_list = services_of(&project)?;
    let tiltfile = project.tiltfile();
    let want_tilt = !args.no_tilt && tiltfile.is_file();
    let opts = lifecycle::up::Options {
        adopt: args.adopt,
        tilt: want_tilt,
        timeout,
        command: "kilter up",
        services: &service_list,
        fresh: false,
        created: None,
        by: "up",
    };
    let up = lifecycle::up::cluster(ctx, &project, &opts)?;

    // Services: the namespace exists; Tilt (whose app wants them) starts after.
    let kubectl = project.kubectl(&up.tools)?;
    let deploy = Deploy {
        kubectl: &kubectl,
        services: &service_list,
        nodeports: &up.nodeports,
        had: &up.had_services,
        prune_data: args.prune_data,
        timeout,
    };
    let wired = deploy_services(ctx, &project, &deploy)?;
    // The shared router: this project's names (a warning at worst).
    lifecycle::router::after_up(ctx, &project, &up.nodeports)?;

    let cluster_took = started.elapsed();
    let lifecycle::up::Up { tools, ports, lock, .. } = up;
    let ns = project.namespace();
    // Tilt.
    let mut env = project_env(&project, &ports);
    // The services' variables as the app in the cluster reaches them.
    env.extend(services::cluster_env(&wired));
    let targs = TiltArgs {
        port: ports.tilt,
        file: &tiltfile,
        context: &project.context(),
        namespace: &ns,
        env: &env,
    };
    if !want_tilt {
        summary(ctx, &project, &ports, &wired, None, cluster_took, up.registry_port);
        if !args.no_tilt {
            ui.note(&format!("no Tiltfile at {tiltfile}; Tilt was skipped (the cluster is up)"));
        }
        return Ok(0);
    }
    let tilt_bin = tools.get(Tool::Tilt)?;
    for var in tilt::overridden_env() {
        ui.note(&format!(
            "{var} from your environment is ignored: this project's Tilt serves on {}:{}",
            tilt::HOST,
            ports.tilt
        ));
    }
    let own = lifecycle::own_tilt(runner, &project)?;
    if own.is_some_and(|o| o.stopped_first) {
        ui.info("Restarting Tilt (a restart forces a full rebuild)");
    }
    let registry = Registry::load(&ctx.dirs.port_registry())?;
    ports::check_free(&ports, PortCheck::Tilt, registry.as_ref(), &project.name, own)?;
    if args.attach || args.ci {
        // Tilt in the foreground runs as long as the user wants: no deadline.
        runner.clear_deadline();
        drop(lock);
        summary(ctx, &project, &ports, &wired, None, cluster_took, up.registry_port);
        let cmd = if args.ci {
            tilt::ci_cmd(tilt_bin, &targs, &project.dir)
        } else {
            tilt::up_cmd(tilt_bin, &targs).cwd(&project.dir)
        };
        let code = runner.run_foreground(&cmd)?;
        if args.attach {
            ui.info(&format!("Tilt exited ({code}); cluster {} keeps running", project.cluster()));
        }
        return Ok(code);
    }
    runner.ensure_dir(&project.paths.cache)?;
    let limit = runner.remaining().map_or(TILT_START_LIMIT, |r| r.min(TILT_START_LIMIT));
    let cmd = tilt::up_cmd(tilt_bin, &targs).cwd(&project.dir);
    let files = tilt_files(&project);
    let how = tilt::Start {
        bin: tilt_bin,
        cmd: &cmd,
        files: &files,
        port: ports.tilt,
        tiltfile: &tiltfile,
        limit,
        keep_going: args.keep_going,
    };
    let pid = tilt::start(runner, &how)?;
    runner.clear_deadline();
    summary(ctx, &project, &ports, &wired, pid, started.elapsed(), up.registry_port);
    Ok(0)
}

fn summary(
    ctx: &Ctx<'_>,
    project: &Project,
    ports: &Ports,
    wired: &[Wired],
    tilt_pid: Option<i32>,
    took: Duration,
    registry_port: Option<u16>,
) {
    let ui = ctx.ui;
    ui.success(
        &format!("{} is up ({})", project.name, crate::ui::fmt_duration(took)),
        &format!("bring {} up", project.name),
    );
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
        ports.block().end()
    ));
    for (i, line) in super::service_lines(wired).iter().enumerate() {
        let label = if i == 0 { "services" } else { "" };
        ui.info(&format!("  {label:<10}  {line}"));
    }
    if !wired.is_empty() {
        ui.info(
            "  env         eval \"$(kilter env)\" for DATABASE_URL and the others on this machine",
        );
    }
    for (var, url) in lifecycle::router::urls(ctx, project).unwrap_or_default() {
        ui.info(&format!("  {:<10}  {url}", var.trim_end_matches("_URL").to_ascii_lowercase()));
    }
    if let Some(p) = registry_port {
        ui.info(&format!(
            "  registry    localhost:{p} (docker push localhost:{p}/<image>; Tilt pushes there)"
        ));
    }
}
