//! `kilter exec <service> [--] <cmd…>`: `kubectl exec -i [-t]` into the workload; the exit code
//! is the remote command's.

use std::io::IsTerminal;

use anyhow::Result;

use super::Ctx;
use crate::cli::ExecArgs;
use crate::exec::Stdin;
use crate::lifecycle::workload;
use crate::tools::{Tool, Tools};

pub fn run(ctx: &Ctx<'_>, args: &ExecArgs) -> Result<i32> {
    let project = ctx.project()?;
    let tools = Tools::discover(&[Tool::Docker, Tool::Kubectl])?;
    let kubectl = workload::kubectl(ctx, &project, &tools)?;
    let ns = project.namespace();
    let w = workload::find(ctx, &kubectl, &ns, &args.service)?;
    let mut a: Vec<String> = vec!["exec".into(), "-i".into()];
    if std::io::stdin().is_terminal() {
        a.push("-t".into());
    }
    a.extend([w.reference(), "-n".into(), ns, "--".into()]);
    a.extend(args.command.iter().cloned());
    let cmd = kubectl
        .cmd(format!("run a command in {}", w.reference()), a)
        .stdin(Stdin::Inherit)
        .mutate();
    ctx.runner.run_foreground(&cmd)
}
