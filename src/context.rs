//! What every command runs with ([`Ctx`]: the Ui, the runner, the XDG dirs, where it started)
//! and the small helpers that the ops and the lifecycle steps they share all use. It sits below
//! both `ops` and `lifecycle`, so that neither needs the other's context.

use anyhow::Result;
use camino::Utf8PathBuf;

use crate::exec::Runner;
use crate::lock::Lock;
use crate::ports::Ports;
use crate::project::{Dirs, Project};
use crate::tools::tilt::TiltFiles;
use crate::tools::{Tool, Tools};
use crate::ui::Ui;

/// What every op gets.
pub struct Ctx<'a> {
    pub ui: &'a Ui,
    pub runner: &'a Runner<'a>,
    pub dirs: Dirs,
    /// Tools that are not installed are kept under their plain names instead of failing
    /// (`--dry-run`: a newcomer can preview the plan before installing kind, kubectl and tilt).
    pub missing_tools_ok: bool,
    pub start_dir: Utf8PathBuf,
}

impl Ctx<'_> {
    /// Resolve the project and point the transcript at its cache dir.
    pub fn project(&self) -> Result<Project> {
        let p = Project::resolve(&self.start_dir, &self.dirs, self.ui)?;
        self.runner.set_transcript(p.paths.transcript.clone());
        Ok(p)
    }

    /// The per-project lock (a dry run takes none).
    pub fn lock(&self, project: &Project, command: &str) -> Result<Option<Lock>> {
        let what = format!("project `{}`", project.name);
        self.runner.lock(&project.paths.lock, &what, command, crate::lock::default_timeout()?)
    }

    /// Find the tools a command needs. Docker is always required (even a dry run asks it what
    /// exists); kind, kubectl and tilt may be missing in a dry run, which says so.
    pub fn tools(&self, needed: &[Tool]) -> Result<Tools> {
        let may_miss: &[Tool] =
            if self.missing_tools_ok { &[Tool::Kind, Tool::Kubectl, Tool::Tilt] } else { &[] };
        let tools = Tools::discover_with(needed, may_miss)?;
        let missing: Vec<&str> = tools.missing().into_iter().map(Tool::name).collect();
        if !missing.is_empty() {
            self.runner.note(&format!(
                "not installed: {} (their commands below use the plain names; queries that need them are not run)",
                missing.join(", ")
            ));
        }
        Ok(tools)
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

/// This project's Tilt files.
pub fn tilt_files(project: &Project) -> TiltFiles<'_> {
    TiltFiles { record: &project.paths.tilt_json, log: &project.paths.tilt_log }
}
