//! `kilter restart [<service>]`: `kubectl rollout restart` then `rollout status` with a timeout.

use anyhow::{Context, Result};

use super::Ctx;
use crate::cli::RestartArgs;
use crate::lifecycle::workload;
use crate::tools::Tool;

pub fn run(ctx: &Ctx<'_>, args: &RestartArgs) -> Result<i32> {
    let timeout = args.timeout.get();
    let project = ctx.project()?;
    let _lock = ctx.lock(&project, "kilter restart")?;
    let tools = ctx.tools(&[Tool::Docker, Tool::Kubectl])?;
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
        let cmd = kubectl.rollout_restart_cmd(&w.reference(), &ns);
        ctx.runner.run(&cmd).with_context(|| format!("could not restart {}", w.reference()))?;
    }
    let timeout = format!("{}s", timeout.as_secs().max(1));
    for w in &targets {
        let step = ctx.ui.step(
            &format!("Waiting for {} to roll out", w.reference()),
            &format!("wait for {} to roll out", w.reference()),
        );
        let cmd = kubectl.rollout_status_cmd(&w.reference(), &ns, &timeout);
        ctx.runner
            .run(&cmd)
            .with_context(|| format!("{} did not finish rolling out", w.reference()))?;
        step.done();
    }
    let names = targets.iter().map(|w| w.reference()).collect::<Vec<_>>().join(", ");
    ctx.ui.success(&format!("Restarted {names}"), &format!("restart {names}"));
    Ok(0)
}
