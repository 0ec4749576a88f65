//! `kilter destroy`: confirm, check the Docker daemon, snapshot the database, then delete the
//! cluster (`lifecycle::destroy`: `down`, `kind delete cluster`, the kubeconfig, runtime files and
//! the flag). Keeps snapshots and the port slot. Nothing is touched before the confirmation and
//! the daemon check.

use std::io::IsTerminal;

use anyhow::Result;

use super::Ctx;
use crate::cli::DestroyArgs;
use crate::error::{Code, Exit, invalid};
use crate::lifecycle;
use crate::project::{Project, check_identity, stage_flag};
use crate::tools::Tool;
use crate::tools::docker::{Docker, NodeState};

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
            crate::lifecycle::snapshot::pre_destroy(ctx, &project)?;
        } else {
            ui.warn(&format!(
                "cluster {} is not running, so no pre-destroy database snapshot is taken",
                project.cluster()
            ));
        }
    }
    lifecycle::destroy::delete(ctx, &project, &kind, flag)?;
    // The router: this project's names answer 503 with where to run `kilter up`.
    lifecycle::router::refresh(ctx, Some((&project, crate::router::NodeState::Absent)))?;

    let (count, bytes) = crate::snapshot::stats(&project.paths.snapshots);
    ui.success(
        &format!("Destroyed cluster {}", project.cluster()),
        &format!("destroy cluster {}", project.cluster()),
    );
    if count > 0 {
        ui.info(&format!(
            "Snapshots are kept: {count} in {} ({bytes} bytes)",
            project.paths.snapshots
        ));
    } else {
        ui.info(&format!("Snapshots are kept in {} (none yet)", project.paths.snapshots));
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
