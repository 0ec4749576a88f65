//! The project model: its name, directory and kilter.yaml, resolved from a start directory.
//! Its paths ([`paths`]), the records of who owns its cluster ([`identity`]), the
//! `cluster.stopped` edit ([`flag`]) and whether a name still has a directory ([`owner`]) live
//! in the submodules, re-exported here.

use anyhow::{Context, Result};
use camino::{Utf8Path, Utf8PathBuf};

use crate::config::{self, Config, ProjectFile};
use crate::error::invalid;
use crate::ui::Ui;

mod flag;
mod identity;
mod owner;
mod paths;

pub use flag::{StagedFlag, clear_stopped_flag, commit_flag, stage_flag};
pub use identity::{
    CreatingMarker, Creation, Identity, check_identity, has_identity, record_creation,
    write_identity,
};
pub use owner::{Owner, owner_of};
pub use paths::{Dirs, Paths};

/// A resolved project.
#[derive(Debug, Clone)]
pub struct Project {
    pub name: String,
    /// The directory holding kilter.yaml (or the start directory when there is none).
    pub dir: Utf8PathBuf,
    /// `<dir>/kilter.yaml`, whether or not it exists.
    pub file_path: Utf8PathBuf,
    pub file: Option<ProjectFile>,
    pub config: Config,
    pub paths: Paths,
}

impl Project {
    /// kubectl for this project's cluster: its kubeconfig and kind's `kind-kilter-<name>`
    /// context on every call (the one way an op gets a kubectl).
    pub fn kubectl<'t>(
        &self,
        tools: &'t crate::tools::Tools,
    ) -> anyhow::Result<crate::tools::kubectl::Kubectl<'t>> {
        Ok(self.kubectl_with(tools.get(crate::tools::Tool::Kubectl)?))
    }

    /// The same with a kubectl found already.
    pub fn kubectl_with<'b>(
        &self,
        bin: &'b crate::tools::Bin,
    ) -> crate::tools::kubectl::Kubectl<'b> {
        crate::tools::kubectl::Kubectl::new(bin, self.paths.kubeconfig.clone(), self.context())
    }

    /// Find kilter.yaml from `start` upwards, load it, and work out the name.
    pub fn resolve(start: &Utf8Path, dirs: &Dirs, ui: &Ui) -> Result<Project> {
        let start = absolute(start)?;
        refuse_broken_project_file(&start)?;
        let (dir, file) = match config::find(&start) {
            Some(path) => {
                let file = config::load(&path)?;
                for w in &file.warnings {
                    ui.warn(w);
                }
                let dir = path.parent().map(Utf8Path::to_owned).unwrap_or_else(|| start.clone());
                (dir, Some(file))
            }
            None => (start.clone(), None),
        };
        let mut config = file.as_ref().map(|f| f.config.clone()).unwrap_or_default();
        let name = match &config.name {
            Some(n) => n.clone(),
            None => {
                let raw = dir.file_name().unwrap_or("");
                let name = config::normalize_name(raw).ok_or_else(|| {
                    invalid(format!(
                        "cannot derive a project name from the directory name `{raw}`"
                    ))
                    .hint("add `name: <name>` to kilter.yaml (lowercase letters, digits and '-', at most 42 characters)")
                })?;
                if name != raw {
                    ui.note(&format!(
                        "project name `{name}` (from the directory name `{raw}`; set `name:` in kilter.yaml to choose another)"
                    ));
                }
                name
            }
        };
        config::validate_name(&name)?;
        // No `database:` section: a PostgreSQL service under `services:` is the database.
        if config.database.is_none() {
            config.database = crate::services::default_database(&config.services, &name);
        }
        let paths = Paths::new(dirs, &name);
        Ok(Project { file_path: dir.join(config::FILE_NAME), dir, file, config, paths, name })
    }

    pub fn cluster(&self) -> String {
        format!("kilter-{}", self.name)
    }
    pub fn node(&self) -> String {
        format!("kilter-{}-control-plane", self.name)
    }
    /// kind's own context name, never renamed (Tilt recognises `kind-`).
    pub fn context(&self) -> String {
        format!("kind-kilter-{}", self.name)
    }
    pub fn namespace(&self) -> String {
        format!("{}-dev", self.name)
    }

    /// The Tiltfile: `tiltfile:` relative to the project dir, default `./Tiltfile`.
    pub fn tiltfile(&self) -> Utf8PathBuf {
        match &self.config.tiltfile {
            Some(p) if p.is_absolute() => p.clone(),
            Some(p) => self.dir.join(p),
            None => self.dir.join("Tiltfile"),
        }
    }

    /// Whether kilter.yaml currently says `cluster.stopped: true`.
    pub fn flag_stopped(&self) -> bool {
        self.config.cluster.stopped
    }
}

/// A `kilter.yaml` that is there but not a readable file (a dangling symlink, a directory) must
/// not be skipped on the way up to a parent's kilter.yaml, nor replaced by `stop`.
fn refuse_broken_project_file(start: &Utf8Path) -> Result<()> {
    for dir in start.ancestors() {
        let candidate = dir.join(config::FILE_NAME);
        if candidate.is_file() {
            return Ok(());
        }
        if crate::fsutil::exists(&candidate) {
            let what = match std::fs::read_link(&candidate) {
                Ok(to) => format!("is a symlink to {}, which does not exist", to.display()),
                Err(_) => "is not a regular file".to_owned(),
            };
            return Err(invalid(format!("{candidate} {what}"))
                .hint("point it at an existing file, or remove it")
                .into());
        }
    }
    Ok(())
}

fn absolute(p: &Utf8Path) -> Result<Utf8PathBuf> {
    let abs = if p.is_absolute() {
        p.to_owned()
    } else {
        let cwd = std::env::current_dir().context("cannot read the current directory")?;
        Utf8PathBuf::from_path_buf(cwd)
            .map_err(|p| {
                anyhow::anyhow!("current directory is not UTF-8: {}", p.to_string_lossy())
            })?
            .join(p)
    };
    if !abs.is_dir() {
        return Err(invalid(format!("project directory {abs} does not exist")).into());
    }
    // Canonicalise so the identity check compares real paths.
    Ok(abs.canonicalize_utf8().unwrap_or(abs))
}
