//! `kilter up`: bring the cluster up and healthy (`lifecycle::up`, shared with `kilter ci`),
//! then the services (apply, delete removed ones, wait until ready), then Tilt — detached, in the
//! foreground (`--attach`), or `tilt ci` (`--ci`) — and a summary.
//!
//! `--timeout` is a deadline for everything up to a started Tilt: the runner kills whatever
//! still runs at that moment (a kubectl retrying against a resetting API port, a hung kind) and
//! `up` exits 5.

use std::time::{Duration, Instant};

use anyhow::Result;

use super::{Ctx, services_of, tilt_files};
use crate::cli::UpArgs;
use crate::lifecycle;
use crate::lifecycle::app::Choice;
use crate::lifecycle::bring_up::{BroughtUp, InOrder, bring_up, prepare_tilt};
use crate::ports::Ports;
use crate::project::Project;
use crate::services::Wired;
use crate::tools::Tool;
use crate::tools::tilt;

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
    // Which Tiltfile runs: the user's, or the one kilter renders for the app (checked before
    // anything changes: a broken package.json is exit 4 here).
    let choice = lifecycle::app::choose(&project)?;
    let (tiltfile, have_tiltfile) = match &choice {
        Choice::User { path, exists } => (path.clone(), *exists),
        Choice::Rendered(app) => {
            lifecycle::app::describe(ctx, app, true);
            (lifecycle::app::rendered_tiltfile(&project), true)
        }
        Choice::Nothing => (project.tiltfile(), false),
    };
    let want_tilt = !args.no_tilt && have_tiltfile;
    lifecycle::app::check_services(&choice, &service_list, &project.config.routes)?;
    lifecycle::app::check_route_names(&choice, &project.config.routes)?;
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
    let BroughtUp { up, wired } = bring_up(ctx, &project, &opts, args.prune_data, &mut InOrder)?;
    // The shared router: this project's names (a warning at worst).
    // kilter.yaml's `routes:`: NodePort Services beside the user's own, then their names.
    let kubectl = project.kubectl(&up.tools)?;
    let app_port =
        matches!(choice, Choice::Rendered(_)).then(|| lifecycle::app::app_node_port(&up.ports));
    let named = lifecycle::routes::after_up(ctx, &project, &kubectl, &up.nodeports, app_port)?;
    drop(kubectl);
    lifecycle::router::after_up(ctx, &project, &named)?;

    let cluster_took = started.elapsed();
    let lifecycle::up::Up { tools, ports, lock, .. } = up;
    if let Choice::Rendered(app) = &choice {
        lifecycle::app::render_into_cache(ctx, &project, app, &ports, &wired)?;
    }
    let shown = Shown {
        choice: &choice,
        tiltfile: &tiltfile,
        wired: &wired,
        registry_port: up.registry_port,
    };
    if !want_tilt {
        summary(ctx, &project, &ports, None, cluster_took, &shown);
        match &choice {
            _ if args.no_tilt => {}
            Choice::Nothing => ui.note(lifecycle::app::NO_APP_NOTE),
            _ => {
                ui.note(&format!("no Tiltfile at {tiltfile}; Tilt was skipped (the cluster is up)"))
            }
        }
        return Ok(0);
    }
    let tilt_bin = tools.get(Tool::Tilt)?;
    let plan = prepare_tilt(ctx, &project, &ports, &wired, "this project's Tilt", |_| {
        ui.info("Restarting Tilt (a restart forces a full rebuild)");
    })?;
    let targs = plan.tilt_args(&tiltfile);
    if args.attach || args.ci {
        // Tilt in the foreground runs as long as the user wants: no deadline.
        runner.clear_deadline();
        drop(lock);
        summary(ctx, &project, &ports, None, cluster_took, &shown);
        let cmd = if args.ci {
            tilt::ci_cmd(tilt_bin, &targs, &project.dir, None)
        } else {
            tilt::up_cmd(tilt_bin, &targs, &project.dir)
        };
        let code = runner.run_foreground(&cmd)?;
        if args.attach {
            ui.info(&format!("Tilt exited ({code}); cluster {} keeps running", project.cluster()));
        }
        return Ok(code);
    }
    runner.ensure_dir(&project.paths.cache)?;
    let limit = runner.remaining().map_or(TILT_START_LIMIT, |r| r.min(TILT_START_LIMIT));
    let cmd = tilt::up_cmd(tilt_bin, &targs, &project.dir);
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
    summary(ctx, &project, &ports, pid, started.elapsed(), &shown);
    Ok(0)
}

/// What the summary shows besides the cluster and Tilt: which Tiltfile runs, the services, the
/// registry.
struct Shown<'a> {
    choice: &'a Choice,
    tiltfile: &'a camino::Utf8Path,
    wired: &'a [Wired],
    registry_port: Option<u16>,
}

fn summary(
    ctx: &Ctx<'_>,
    project: &Project,
    ports: &Ports,
    tilt_pid: Option<i32>,
    took: Duration,
    shown: &Shown<'_>,
) {
    let ui = ctx.ui;
    let (wired, registry_port) = (shown.wired, shown.registry_port);
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
    match shown.choice {
        Choice::User { exists: true, .. } => {
            ui.info(&format!("  tiltfile    {} (yours)", shown.tiltfile));
        }
        Choice::Rendered(app) => {
            ui.info(&format!("  tiltfile    {} (rendered by kilter)", shown.tiltfile));
            ui.info(&format!(
                "  app         {} ({}, port {})",
                lifecycle::app::app_url(ports),
                app.stack,
                app.port.value
            ));
        }
        _ => {}
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
