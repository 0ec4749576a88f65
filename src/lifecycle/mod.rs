//! The steps of a cluster's life that more than one command takes: bringing it up and healthy
//! (`kilter up`, `kilter ci`), its kilter.yaml services (`up`, `ci`, `add`, `remove`), and
//! deleting it with its runtime files (`kilter destroy`, `kilter ci`). Orchestration like the ops, but no op of its own: an op calls these steps and
//! decides what comes before and after (confirmations, Tilt, summaries).

use anyhow::Result;

use crate::context::Ctx;
use crate::tools::tilt::{self, TiltFiles};

pub mod app;
pub mod bring_up;
pub mod destroy;
pub mod router;
pub mod routes;
pub mod services;
pub mod snapshot;
pub mod up;
pub mod workload;

/// Stop a project's Tilt (its whole process group) and say so: `Stopped Tilt of project `x` (pid
/// N)`, or `Stopped Tilt (pid N)` without a name; a dry run says what it would do.
pub fn stop_tilt(ctx: &Ctx<'_>, files: &TiltFiles<'_>, project: Option<&str>) -> Result<()> {
    if let Some(pid) = tilt::stop(ctx.runner, files)? {
        let of = project.map(|n| format!(" of project `{n}`")).unwrap_or_default();
        ctx.ui.did(&format!("Stopped Tilt{of} (pid {pid})"), &format!("stop Tilt{of}"));
    }
    Ok(())
}

/// Stop this project's detached Tilt if it runs (before `up` starts another, or `ci` needs its
/// port), and say which Tilt the port check must not count as "another program": the one just
/// stopped, which a dry run only plans to stop.
pub fn own_tilt(
    runner: &crate::exec::Runner<'_>,
    project: &crate::project::Project,
) -> Result<Option<crate::ports::OwnTilt>> {
    let files = crate::context::tilt_files(project);
    let recorded = tilt::TiltRecord::read(files.record).map(|r| r.pid);
    let stopped = tilt::stop(runner, &files)?;
    Ok(recorded.map(|pid| crate::ports::OwnTilt { pid, stopped_first: stopped == Some(pid) }))
}
