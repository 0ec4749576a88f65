//! `kilter logs <service> [-f] [--tail N] [--since D]`

use anyhow::Result;

use super::Ctx;
use crate::cli::LogsArgs;
use crate::exec::Stdin;
use crate::lifecycle::workload;
use crate::tools::{Tool, Tools};

pub fn run(ctx: &Ctx<'_>, args: &LogsArgs) -> Result<i32> {
    let project = ctx.project()?;
    let tools = Tools::discover(&[Tool::Docker, Tool::Kubectl])?;
    let kubectl = workload::kubectl(ctx, &project, &tools)?;
    let ns = project.namespace();
    let w = workload::find(ctx, &kubectl, &ns, &args.service)?;
    let mut a: Vec<String> = vec![
        "logs".into(),
        w.reference(),
        "-n".into(),
        ns,
        "--all-containers".into(),
        "--prefix".into(),
    ];
    if args.follow {
        a.push("-f".into());
    }
    if let Some(n) = args.tail {
        a.extend(["--tail".into(), n.to_string()]);
    }
    if let Some(d) = &args.since {
        a.extend(["--since".into(), d.clone()]);
    }
    let cmd = kubectl.cmd(format!("show logs of {}", w.reference()), a).stdin(Stdin::Null);
    let code = ctx.runner.run_foreground(&cmd)?;
    if args.follow && crate::exec::interrupted() {
        return Ok(0); // Ctrl-C ends a follow: that is success
    }
    Ok(code)
}
