//! `kilter destroy`: confirm, check the Docker daemon, snapshot the database, `down`,
//! `kind delete cluster`, remove the kubeconfig, runtime files and the flag. Keeps snapshots and
//! the port slot. Nothing is touched before the confirmation and the daemon check.

use std::io::IsTerminal;

use anyhow::Result;

use super::{Ctx, tilt_files};
use crate::cli::DestroyArgs;
use crate::error::{Code, Exit, invalid};
use crate::project::{Project, check_identity, commit_flag, stage_flag};
use crate::tools::docker::{self, Docker, NodeState};
use crate::tools::{Tool, tilt};

pub fn run(ctx: &Ctx<'_>, args: &DestroyArgs) -> Result<i32> {
    let ui = ctx.ui;
    let runner = ctx.runner;
    let project = ctx.project()?;
    if !args.yes {
        runner.ask(
            &format!("kilter asks you to type `{}` here to confirm (or pass --yes)", project.name),
            || confirm(ui, &project),
        )?;
    }
    let _lock = ctx.lock(&project, "kilter destroy")?;
    check_identity(&project, args.adopt, ui)?;
    let tools = ctx.tools(&[Tool::Docker, Tool::Kind])?;
    let kind = tools.kind()?;
    let docker = tools.docker()?;
    Docker::check_daemon(&runner.run_unchecked(&docker.info_cmd())?)?;
    let node = docker.inspect(runner, &project.node())?;
    let running = node.as_ref().is_some_and(|c| c.node_state() == NodeState::Running);
    // Staged before anything is deleted: a kilter.yaml that cannot be written deletes nothing.
    let flag = stage_flag(runner, &project, false)?;

    // A configured database is dumped first; a failure stops here (nothing deleted).
    if project.config.database.is_some() && !args.no_snapshot {
        if running {
            super::db::pre_destroy(ctx, &project)?;
        } else {
            ui.warn(&format!(
                "cluster {} is not running, so no pre-destroy database snapshot is taken",
                project.cluster()
            ));
        }
    }
    if let Some(pid) = tilt::stop(runner, &tilt_files(&project))? {
        ui.info(&format!("Stopped Tilt (pid {pid})"));
    }
    let step = ui.step(
        &format!("Deleting cluster {}", project.cluster()),
        &format!("delete cluster {}", project.cluster()),
    );
    let cmd = kind.delete_cmd(&project.cluster(), &project.paths.kubeconfig);
    let out = runner.run_unchecked(&cmd)?;
    if !out.success() {
        drop(step);
        if docker::daemon_unreachable(&out.stderr) {
            return Err(docker::daemon_error(&out.stderr).into());
        }
        return Err(runner.failed(&cmd, &out, None).into());
    }
    step.done();

    let p = &project.paths;
    for f in [
        &p.kubeconfig,
        &p.kubeconfig.with_extension("lock"),
        &p.tilt_json,
        &p.tilt_log,
        &p.kind_config,
        &p.creating,
        &p.identity,
        &p.services,
    ] {
        runner.remove_file(f)?;
    }
    // This cluster's copies of its registry wiring; the shared registry itself stays.
    runner.remove_dir_all(&p.cache.join("registry"))?;
    match flag {
        Some(flag) => commit_flag(runner, &project, flag)?,
        None => {
            runner.remove_file(&p.flag_undo)?;
        }
    }

    let (count, bytes) = crate::snapshot::stats(&project.paths.snapshots);
    ui.success(
        &format!("Destroyed cluster {}", project.cluster()),
        &format!("destroy cluster {}", project.cluster()),
    );
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
