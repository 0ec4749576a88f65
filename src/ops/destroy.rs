//! `kilter destroy`: confirm, `down`, `kind delete cluster`, remove the kubeconfig and runtime
//! files and the flag. Keeps snapshots and the port slot.

use std::io::IsTerminal;

use anyhow::Result;

use super::{Ctx, set_stopped_flag, stop_tilt};
use crate::cli::DestroyArgs;
use crate::error::{Code, Exit, invalid};
use crate::fsutil::remove_if_exists;
use crate::project::{Project, check_identity};
use crate::tools::docker;
use crate::tools::{Tool, Tools};

pub fn run(ctx: &Ctx<'_>, args: &DestroyArgs) -> Result<i32> {
    let ui = ctx.ui;
    let project = ctx.project()?;
    check_identity(&project, args.adopt, ui)?;
    if !args.yes && !ctx.runner.is_dry_run() {
        confirm(ui, &project)?;
    }
    let _lock = ctx.lock(&project, "kilter destroy")?;
    let tools = Tools::discover(&[Tool::Docker, Tool::Kind])?;
    let kind = tools.kind()?;

    // SPEC §6: a configured database is dumped first; a failure stops here (nothing deleted).
    if project.config.database.is_some() && !args.no_snapshot {
        super::db::pre_destroy(ctx, &project)?;
    }
    if let Some(pid) = stop_tilt(ctx, &project)? {
        ui.info(&format!("Stopped Tilt (pid {pid})"));
    }
    let step = ui.step(&format!("Deleting cluster {}", project.cluster()));
    let cmd = kind.delete_cmd(&project.cluster(), &project.paths.kubeconfig);
    let out = ctx.runner.run_unchecked(&cmd)?;
    if !out.success() {
        drop(step);
        if docker::daemon_unreachable(&out.stderr) {
            return Err(docker::daemon_error(&out.stderr).into());
        }
        return Err(ctx.runner.failed(&cmd, &out, None).into());
    }
    step.done();

    let p = &project.paths;
    if ctx.runner.is_dry_run() {
        ctx.runner.script(&format!(
            "rm -f {} {} {} {} {}",
            crate::exec::quote(p.kubeconfig.as_str()),
            crate::exec::quote(p.tilt_json.as_str()),
            crate::exec::quote(p.tilt_log.as_str()),
            crate::exec::quote(p.kind_config.as_str()),
            crate::exec::quote(p.identity.as_str()),
        ));
    } else {
        for f in
            [&p.kubeconfig, &p.tilt_json, &p.tilt_log, &p.kind_config, &p.creating, &p.identity]
        {
            remove_if_exists(f)?;
        }
        remove_if_exists(&p.kubeconfig.with_extension("lock"))?;
    }
    set_stopped_flag(ctx, &project, false)?;

    let (count, bytes) = crate::snapshot::stats(&p.snapshots);
    ui.success(&format!("Destroyed cluster {}", project.cluster()));
    if count > 0 {
        ui.info(&format!("Snapshots are kept: {count} in {} ({bytes} bytes)", p.snapshots));
    } else {
        ui.info(&format!("Snapshots are kept in {} (none yet)", p.snapshots));
    }
    Ok(0)
}

/// On a terminal, ask for the project name; without one, `--yes` is required (exit 4).
fn confirm(ui: &crate::ui::Ui, project: &Project) -> Result<()> {
    let stdin = std::io::stdin();
    if !stdin.is_terminal() {
        return Err(invalid(format!(
            "refusing to destroy cluster {} without confirmation: no terminal to ask on",
            project.cluster()
        ))
        .hint("pass --yes to confirm (snapshots are kept either way)")
        .into());
    }
    let line = ui.prompt(&format!(
        "This deletes cluster {} and everything in it (snapshots are kept).\nType the project name `{}` to confirm: ",
        project.cluster(),
        project.name
    ))?;
    if line != project.name {
        return Err(
            Exit::new(Code::Invalid, "confirmation did not match; nothing was destroyed").into()
        );
    }
    Ok(())
}
