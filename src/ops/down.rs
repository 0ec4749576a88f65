//! `kilter down`: stop this project's Tilt only. Never `tilt down` (that deletes resources).

use anyhow::Result;

use super::{Ctx, tilt_files};
use crate::project::check_identity;
use crate::tools::tilt;

pub fn run(ctx: &Ctx<'_>, adopt: bool) -> Result<i32> {
    let project = ctx.project()?;
    let _lock = ctx.lock(&project, "kilter down")?;
    check_identity(&project, adopt, ctx.ui)?;
    match tilt::stop(ctx.runner, &tilt_files(&project))? {
        Some(pid) => ctx.ui.success(&format!("Stopped Tilt (pid {pid})"), "stop Tilt"),
        None => ctx.ui.info(&format!("Tilt is not running for project `{}`", project.name)),
    }
    ctx.ui.info(&format!(
        "`down` leaves cluster {} alone: if it runs, it and its pods keep running. `kilter stop` also stops the cluster; `kilter up` starts Tilt again.",
        project.cluster()
    ));
    Ok(0)
}
