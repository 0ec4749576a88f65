//! `kilter completions <shell>`

use anyhow::Result;
use clap::CommandFactory;

use crate::cli::Cli;
use crate::ui::Ui;

pub fn run(ui: &Ui, shell: clap_complete::Shell) -> Result<i32> {
    let mut cmd = Cli::command();
    let mut buf = Vec::new();
    clap_complete::generate(shell, &mut cmd, "kilter", &mut buf);
    ui.stdout(&String::from_utf8_lossy(&buf));
    Ok(0)
}
