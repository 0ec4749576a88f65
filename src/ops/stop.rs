//! `kilter stop`: `down`, `docker stop` the node, write `cluster.stopped: true`. Idempotent.

use anyhow::Result;

use super::{Ctx, set_stopped_flag, stop_tilt};
use crate::project::check_identity;
use crate::tools::docker::NodeState;
use crate::tools::{Tool, Tools};

pub fn run(ctx: &Ctx<'_>, adopt: bool) -> Result<i32> {
    let ui = ctx.ui;
    let project = ctx.project()?;
    check_identity(&project, adopt, ui)?;
    let _lock = ctx.lock(&project, "kilter stop")?;
    let tools = Tools::discover(&[Tool::Docker])?;
    let docker = tools.docker()?;
    if let Some(pid) = stop_tilt(ctx, &project)? {
        ui.info(&format!("Stopped Tilt (pid {pid})"));
    }
    let state = docker
        .inspect(ctx.runner, &project.node())?
        .map(|c| c.node_state())
        .unwrap_or(NodeState::Absent);
    match state {
        NodeState::Absent => {
            ui.info(&format!(
                "Project `{}` has no cluster ({} does not exist); nothing to stop",
                project.name,
                project.node()
            ));
            return Ok(0);
        }
        NodeState::Running => {
            let step = ui.step(&format!("Stopping cluster {}", project.cluster()));
            ctx.runner.run(&docker.stop_cmd(&project.node()))?;
            step.done();
        }
        NodeState::NotRunning(status) => {
            ui.info(&format!("Cluster {} is already stopped ({status})", project.cluster()));
        }
    }
    let created = !project.file_path.exists();
    if set_stopped_flag(ctx, &project, true)? {
        if created {
            ui.info(&format!("Wrote {} with `cluster.stopped: true`", project.file_path));
        } else {
            ui.detail(&format!("wrote cluster.stopped: true to {}", project.file_path));
        }
    }
    ui.success(&format!(
        "Stopped {}; its state is kept on disk. Resume with `kilter up`.",
        project.cluster()
    ));
    Ok(0)
}
