//! kilter: one disposable local Kubernetes (KIND + Tilt) dev environment per project.
//!
//! Flow: `cli` (raw flags) → `project`/`config` (validated model) → `ops::*` (one per command)
//! → `tools::*` (typed argv builders and parsers) → `exec::Runner` (the only place that spawns).

pub mod app;
pub mod cli;
pub mod config;
pub mod context;
pub mod error;
pub mod exec;
pub mod fsutil;
pub mod github;
#[cfg(test)]
mod golden;
pub mod interrupt;
pub mod json;
pub mod lifecycle;
pub mod lock;
pub mod ops;
pub mod ports;
pub mod project;
pub mod registry;
pub mod router;
pub mod services;
pub mod shared;
pub mod snapshot;
pub mod table;
pub mod time;
pub mod tools;
pub mod ui;

use std::ffi::OsString;
use std::process::ExitCode;

use camino::Utf8PathBuf;
use clap::Parser;

use crate::cli::{Cli, Command};
use crate::error::{Code, code_of};
use crate::exec::{Mode, Runner};
use crate::ui::{Ui, UiEnv, Verbosity};

/// Parse arguments, run the command, render any error, and return the exit code.
pub fn run(args: impl IntoIterator<Item = OsString>) -> ExitCode {
    let cli = match Cli::try_parse_from(args) {
        Ok(c) => c,
        Err(e) => {
            let code = if e.use_stderr() { Code::Usage as u8 } else { 0 };
            let _ = e.print();
            return ExitCode::from(code);
        }
    };
    let verbosity = Verbosity::from_flags(cli.global.quiet, cli.global.verbose);
    let ui =
        Ui::new(verbosity, cli.global.color, &UiEnv::from_process()).planning(cli.global.dry_run);
    exec::install_signal_handlers();
    let mode = if cli.global.dry_run { Mode::DryRun } else { Mode::Real };
    let runner = Runner::new(mode, &ui);
    match dispatch(&cli, &ui, &runner) {
        Ok(code) => ExitCode::from(code.clamp(0, 255) as u8),
        Err(err) => {
            let code = code_of(&err);
            if code == Code::Interrupted {
                ui.error(&anyhow::anyhow!("interrupted; the next `kilter up` recovers"));
            } else {
                ui.error(&err);
            }
            ExitCode::from(code as u8)
        }
    }
}

fn dispatch(cli: &Cli, ui: &Ui, runner: &Runner<'_>) -> anyhow::Result<i32> {
    cli.command.check_flags()?;
    // Needs neither a project nor HOME.
    if let Command::Completions(a) = &cli.command {
        return ops::completions::run(ui, a.shell);
    }
    if let Command::Catalog(a) = &cli.command {
        return ops::catalog::run(ui, a);
    }
    let start_dir = match &cli.global.project_dir {
        Some(d) => d.clone(),
        None => {
            let cwd = std::env::current_dir()?;
            Utf8PathBuf::from_path_buf(cwd).map_err(|p| {
                anyhow::anyhow!("the current directory is not UTF-8: {}", p.to_string_lossy())
            })?
        }
    };
    let ctx = ops::Ctx {
        ui,
        runner,
        dirs: project::Dirs::from_env()?,
        // A dry run previews the plan before kind, kubectl or tilt are installed.
        missing_tools_ok: cli.global.dry_run,
        start_dir,
    };
    match &cli.command {
        Command::Init(a) => ops::init::run(&ctx, a.name.as_deref()),
        Command::Up(a) => ops::up::run(&ctx, a),
        Command::Down(a) => ops::down::run(&ctx, a.adopt),
        Command::Ci(a) => ops::ci::run(&ctx, a),
        Command::Stop(a) => ops::stop::run(&ctx, a),
        Command::Destroy(a) => ops::destroy::run(&ctx, a),
        Command::Status(a) => ops::status::run(&ctx, a),
        Command::Ls(a) => ops::ls::run(&ctx, a.json),
        Command::Gc(a) => ops::gc::run(&ctx, a),
        Command::Env(a) => ops::env::run(&ctx, a),
        Command::Logs(a) => ops::logs::run(&ctx, a),
        Command::Restart(a) => ops::restart::run(&ctx, a),
        Command::Exec(a) => ops::exec::run(&ctx, a),
        Command::Doctor(a) => ops::doctor::run(&ctx, a.json),
        Command::Completions(a) => ops::completions::run(ui, a.shell),
        Command::Db(a) => ops::db::run(&ctx, a),
        Command::Registry(a) => ops::registry::run(&ctx, a),
        Command::Router(a) => ops::router::run(&ctx, a),
        Command::Catalog(a) => ops::catalog::run(ui, a),
        Command::Add(a) => ops::add::run(&ctx, a),
        Command::Remove(a) => ops::remove::run(&ctx, a),
        Command::Render => ops::render::run(&ctx),
        Command::Eject => ops::eject::run(&ctx),
    }
}
