//! One module per subcommand: orchestration only. Ops print through the `Ui`, run commands
//! through the `Runner`, and return `anyhow` errors with context.

pub mod completions;
pub mod db;
pub mod destroy;
pub mod doctor;
pub mod down;
pub mod env;
pub mod exec;
pub mod init;
pub mod logs;
pub mod ls;
pub mod restart;
pub mod status;
pub mod stop;
pub mod up;
pub mod workload;

use anyhow::Result;
use camino::Utf8PathBuf;

use crate::cli::Global;
use crate::config;
use crate::exec::Runner;
use crate::lock::Lock;
use crate::ports::Ports;
use crate::project::{Dirs, Project};
use crate::tools::tilt::TiltRecord;
use crate::ui::Ui;

/// What every op gets.
pub struct Ctx<'a> {
    pub ui: &'a Ui,
    pub runner: &'a Runner<'a>,
    pub dirs: Dirs,
    pub global: Global,
    pub start_dir: Utf8PathBuf,
}

impl Ctx<'_> {
    /// Resolve the project and point the transcript at its cache dir.
    pub fn project(&self) -> Result<Project> {
        let p = Project::resolve(&self.start_dir, &self.dirs, self.ui)?;
        if !self.runner.is_dry_run() {
            self.runner.set_transcript(p.paths.transcript.clone());
        }
        Ok(p)
    }

    /// The per-project lock (not taken in `--dry-run`, which changes nothing).
    pub fn lock(&self, project: &Project, command: &str) -> Result<Option<Lock>> {
        if self.runner.is_dry_run() {
            return Ok(None);
        }
        let what = format!("project `{}`", project.name);
        Ok(Some(crate::lock::acquire(
            &project.paths.lock,
            &what,
            command,
            self.ui,
            crate::lock::default_timeout(),
        )?))
    }
}

/// `KUBECONFIG` plus the `KILTER_*` variables for Tilt and `kilter env`.
pub fn project_env(project: &Project, ports: &Ports) -> Vec<(String, String)> {
    vec![
        ("KUBECONFIG".into(), project.paths.kubeconfig.to_string()),
        ("KILTER_PROJECT".into(), project.name.clone()),
        ("KILTER_NAMESPACE".into(), project.namespace()),
        ("KILTER_TILT_PORT".into(), ports.tilt.to_string()),
        ("KILTER_PORT_BASE".into(), ports.base.to_string()),
    ]
}

/// Stop this project's detached Tilt if it runs. A stale record is removed, never signalled.
/// Returns the pid that was stopped.
pub fn stop_tilt(ctx: &Ctx<'_>, project: &Project) -> Result<Option<i32>> {
    let path = &project.paths.tilt_json;
    let Some(rec) = TiltRecord::read(path) else { return Ok(None) };
    if !rec.is_live() {
        ctx.ui.detail(&format!(
            "Tilt record was stale (pid {} is gone or not Tilt); cleaned up",
            rec.pid
        ));
        if !ctx.runner.is_dry_run() {
            crate::fsutil::remove_if_exists(path)?;
        }
        return Ok(None);
    }
    if ctx.runner.is_dry_run() {
        ctx.runner.script(&format!("kill -TERM -- -{}  # Tilt's process group", rec.pid));
        return Ok(Some(rec.pid));
    }
    ctx.ui.echo(crate::exec::Effect::Mutate, &format!("kill -TERM -- -{}", rec.pid));
    let how = crate::tools::tilt::stop_group(rec.pid, std::time::Duration::from_secs(10));
    if how == crate::tools::tilt::Stopped::Killed {
        ctx.ui
            .warn(&format!("Tilt (pid {}) did not stop within 10s of SIGTERM; killed it", rec.pid));
    }
    crate::fsutil::remove_if_exists(path)?;
    Ok(Some(rec.pid))
}

/// Set or clear `cluster.stopped` in kilter.yaml, preserving every other byte. Re-reads the
/// file under the project lock so a concurrent edit is not lost.
pub fn set_stopped_flag(ctx: &Ctx<'_>, project: &Project, stopped: bool) -> Result<bool> {
    let path = &project.file_path;
    let text = match std::fs::read_to_string(path) {
        Ok(t) => t,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            if !stopped {
                return Ok(false);
            }
            String::new()
        }
        Err(e) => return Err(anyhow::Error::new(e).context(format!("could not read {path}"))),
    };
    let new = if stopped {
        config::set_stopped(path, &text)?.text
    } else {
        config::clear_stopped(path, &text, None)?
    };
    if new == text {
        return Ok(false);
    }
    if ctx.runner.is_dry_run() {
        ctx.runner.script_comment(&format!(
            "kilter {} `cluster.stopped: true` {} {path}",
            if stopped { "writes" } else { "removes" },
            if stopped { "to" } else { "from" }
        ));
        return Ok(true);
    }
    config::write_atomic(path, &new)
        .map_err(|e| anyhow::Error::new(e).context(format!("could not write {path}")))?;
    Ok(true)
}
