//! `kilter logs <service> [-f] [--tail N] [--since D]`

use anyhow::Result;

use super::Ctx;
use crate::cli::LogsArgs;
use crate::lifecycle::workload;
use crate::tools::kubectl::LogsOptions;
use crate::tools::{Tool, Tools};

pub fn run(ctx: &Ctx<'_>, args: &LogsArgs) -> Result<i32> {
    let project = ctx.project()?;
    let tools = Tools::discover(&[Tool::Docker, Tool::Kubectl])?;
    let kubectl = workload::kubectl(ctx, &project, &tools)?;
    let ns = project.namespace();
    let w = workload::find(ctx, &kubectl, &ns, &args.service)?;
    let opts = LogsOptions { follow: args.follow, tail: args.tail, since: args.since.as_deref() };
    let cmd = kubectl.logs_cmd(&w.reference(), &ns, &opts);
    let code = ctx.runner.run_foreground(&cmd)?;
    if args.follow && crate::exec::interrupted() {
        return Ok(0); // Ctrl-C ends a follow: that is success
    }
    Ok(code)
}
