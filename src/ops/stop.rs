//! `kilter stop`: `down`, `docker stop` the node, write `cluster.stopped: true`. Idempotent and
//! all-or-nothing: the new kilter.yaml is computed and written to a temporary file beside it
//! (same owner, group and mode) *before* anything is stopped, so a file that cannot be edited or
//! written stops nothing; the rename that puts it in place comes after `docker stop`.

use anyhow::Result;

use super::{Ctx, tilt_files};
use crate::project::{check_identity, commit_flag, stage_flag};
use crate::tools::docker::{Docker, NodeState};
use crate::tools::{Tool, tilt};

pub fn run(ctx: &Ctx<'_>, adopt: bool) -> Result<i32> {
    let ui = ctx.ui;
    let runner = ctx.runner;
    let project = ctx.project()?;
    let _lock = ctx.lock(&project, "kilter stop")?;
    check_identity(&project, adopt, ui)?;
    let tools = ctx.tools(&[Tool::Docker])?;
    let docker = tools.docker()?;
    Docker::check_daemon(&runner.run_unchecked(&docker.info_cmd())?)?;
    let state = docker
        .inspect(runner, &project.node())?
        .map(|c| c.node_state())
        .unwrap_or(NodeState::Absent);
    // The flag means "a stopped cluster exists": no cluster, no flag.
    let flag = match state {
        NodeState::Absent => None,
        _ => stage_flag(runner, &project, true)?,
    };
    if let Some(pid) = tilt::stop(runner, &tilt_files(&project))? {
        ui.info(&format!("Stopped Tilt (pid {pid})"));
    }
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
            let step = ui.step(
                &format!("Stopping cluster {}", project.cluster()),
                &format!("stop cluster {}", project.cluster()),
            );
            runner.run(&docker.stop_cmd(&project.node()))?;
            step.done();
        }
        NodeState::NotRunning(status) => {
            ui.info(&format!("Cluster {} is already stopped ({status})", project.cluster()));
        }
    }
    if let Some(flag) = flag {
        let created = flag.creates_file();
        commit_flag(runner, &project, flag)?;
        if created {
            ui.info(&format!("Wrote {} with `cluster.stopped: true`", project.file_path));
        } else {
            ui.detail(&format!("wrote cluster.stopped: true to {}", project.file_path));
        }
    }
    ui.success(
        &format!(
            "Stopped {}; its state is kept on disk. Resume with `kilter up`.",
            project.cluster()
        ),
        &format!("stop {}", project.cluster()),
    );
    Ok(0)
}
