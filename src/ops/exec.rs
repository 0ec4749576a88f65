//! `kilter exec <service> [--] <cmd…>`: `kubectl exec -i [-t]` into the workload; the exit code
//! is the remote command's.

use std::io::IsTerminal;

use anyhow::Result;

use super::Ctx;
use crate::cli::ExecArgs;
use crate::lifecycle::workload;
use crate::tools::{Tool, Tools};

pub fn run(ctx: &Ctx<'_>, args: &ExecArgs) -> Result<i32> {
    let project = ctx.project()?;
    let tools = Tools::discover(&[Tool::Docker, Tool::Kubectl])?;
    let kubectl = workload::kubectl(ctx, &project, &tools)?;
    let ns = project.namespace();
    let w = workload::find(ctx, &kubectl, &ns, &args.service)?;
    let tty = std::io::stdin().is_terminal();
    let cmd = kubectl.exec_workload_cmd(&w.reference(), &ns, tty, &args.command);
    ctx.runner.run_foreground(&cmd)
}
