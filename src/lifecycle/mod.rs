//! The steps of a cluster's life that more than one command takes: bringing it up and healthy
//! (`kilter up`, `kilter ci`), its kilter.yaml services (`up`, `ci`, `add`, `remove`), and
//! deleting it with its runtime files (`kilter destroy`, `kilter ci`). Orchestration like the ops, but no op of its own: an op calls these steps and
//! decides what comes before and after (confirmations, Tilt, summaries).

use anyhow::Result;

use crate::context::Ctx;
use crate::tools::tilt::{self, TiltFiles};

pub mod destroy;
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
