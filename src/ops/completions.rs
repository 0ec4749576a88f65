//! `kilter completions <shell>`

use anyhow::Result;
use clap::CommandFactory;

use super::Ctx;
use crate::cli::Cli;

pub fn run(ctx: &Ctx<'_>, shell: clap_complete::Shell) -> Result<i32> {
    let mut cmd = Cli::command();
    let mut buf = Vec::new();
    clap_complete::generate(shell, &mut cmd, "kilter", &mut buf);
    ctx.ui.stdout(&String::from_utf8_lossy(&buf));
    Ok(0)
}
