//! `kilter render`: what kilter runs under Tilt for a project without a Tiltfile — the app (each
//! value with where it comes from, on stderr), and the rendered Tiltfile, Dockerfile and
//! manifests, written into `<cache>/render/` (only when they changed) and printed to stdout for
//! review (`tilt alpha tiltfile-result -f <cache>/render/Tiltfile` reads the same files).

use anyhow::Result;

use super::{Ctx, preview_nodeports, services_of};
use crate::app::render::Layout;
use crate::lifecycle;
use crate::lifecycle::app::Choice;
use crate::services;

pub fn run(ctx: &Ctx<'_>) -> Result<i32> {
    let project = ctx.project()?;
    let app = match lifecycle::app::choose(&project)? {
        Choice::User { path, exists: true } => {
            ctx.ui.note(&format!("{path} is yours and runs under Tilt; kilter renders nothing"));
            return Ok(0);
        }
        Choice::User { path, exists: false } => {
            ctx.ui.note(&format!(
                "kilter.yaml names the Tiltfile {path} (`tiltfile:`), which does not exist; kilter renders nothing while `tiltfile:` is set"
            ));
            return Ok(0);
        }
        Choice::Nothing => {
            ctx.ui.note(lifecycle::app::NO_APP_NOTE);
            return Ok(0);
        }
        Choice::Rendered(app) => app,
    };
    // The render directory is this project's: under its lock (an `up` may be rendering), and not
    // when another directory owns the project name (its Tilt may be running on that render).
    let _lock = ctx.lock(&project, "kilter render")?;
    crate::project::check_identity(&project, false, ctx.ui)?;
    let (ports, _) = crate::ports::preview(&ctx.dirs.port_registry(), &project.name)?;
    let list = services_of(&project)?;
    let nodeports = preview_nodeports(ctx, &project, &list)?;
    let wired = services::wire_all(&list, &project.name, &project.namespace(), &nodeports)?;
    lifecycle::app::describe(ctx, &app, false);
    let tiltfile = lifecycle::app::render_into_cache(ctx, &project, &app, &ports, &wired)?;
    let dir = lifecycle::app::render_dir(&project);
    let files = lifecycle::app::files(&project, &app, &ports, &wired, Layout::Cache(dir.clone()))?;
    let mut out = String::new();
    for file in &files {
        out.push_str(&format!("# ==> {} <==\n", dir.join(&file.name)));
        out.push_str(&file.text);
        out.push('\n');
    }
    ctx.ui.report(&out);
    ctx.ui.info(&format!(
        "`kilter up` runs Tilt on {tiltfile}; the app answers on {}",
        lifecycle::app::app_url(&ports)
    ));
    Ok(0)
}
