//! `kilter down`: stop this project's Tilt only. Never `tilt down` (that deletes resources).

use anyhow::Result;

use super::{Ctx, stop_tilt};
use crate::project::check_identity;

pub fn run(ctx: &Ctx<'_>, adopt: bool) -> Result<i32> {
    let project = ctx.project()?;
    check_identity(&project, adopt, ctx.ui)?;
    let _lock = ctx.lock(&project, "kilter down")?;
    match stop_tilt(ctx, &project)? {
        Some(pid) => ctx.ui.success(&format!("Stopped Tilt (pid {pid})")),
        None => ctx.ui.info(&format!("Tilt is not running for project `{}`", project.name)),
    }
    ctx.ui.info(&format!(
        "`down` leaves cluster {} alone: if it runs, it and its pods keep running. `kilter stop` also stops the cluster; `kilter up` starts Tilt again.",
        project.cluster()
    ));
    Ok(0)
}
