//! `kilter restart [<service>]`: `kubectl rollout restart` then `rollout status` with a timeout.

use anyhow::{Context, Result};

use super::{Ctx, workload};
use crate::cli::RestartArgs;
use crate::tools::{Tool, Tools};

pub fn run(ctx: &Ctx<'_>, args: &RestartArgs) -> Result<i32> {
    let project = ctx.project()?;
    let _lock = ctx.lock(&project, "kilter restart")?;
    let tools = Tools::discover(&[Tool::Docker, Tool::Kubectl])?;
    let kubectl = workload::kubectl(ctx, &project, &tools)?;
    let ns = project.namespace();
    let targets = match &args.service {
        Some(s) => vec![workload::find(ctx, &kubectl, &ns, s)?],
        None => workload::list(ctx, &kubectl, &ns)?,
    };
    if targets.is_empty() {
        ctx.ui.info(&format!("No Deployments or StatefulSets in {ns}; nothing to restart"));
        return Ok(0);
    }
    for w in &targets {
        let cmd = kubectl
            .cmd(
                format!("restart {}", w.reference()),
                ["rollout", "restart", &w.reference(), "-n", &ns],
            )
            .mutate();
        ctx.runner.run(&cmd).with_context(|| format!("could not restart {}", w.reference()))?;
    }
    if ctx.runner.is_dry_run() {
        return Ok(0);
    }
    let timeout = format!("{}s", args.timeout.as_secs().max(1));
    for w in &targets {
        let step = ctx.ui.step(&format!("Waiting for {} to roll out", w.reference()));
        let cmd = kubectl.cmd(
            format!("wait for the rollout of {}", w.reference()),
            ["rollout", "status", &w.reference(), "-n", &ns, "--timeout", &timeout],
        );
        ctx.runner
            .run(&cmd)
            .with_context(|| format!("{} did not finish rolling out", w.reference()))?;
        step.done();
    }
    ctx.ui.success(&format!(
        "Restarted {}",
        targets.iter().map(|w| w.reference()).collect::<Vec<_>>().join(", ")
    ));
    Ok(0)
}
