//! The records in a project's cache dir that say who owns its cluster: `project.json` (the
//! identity that stops two directories sharing a cluster, and who created the cluster) and the
//! `creating` marker written around `kind create cluster`.

use anyhow::Result;
use camino::{Utf8Path, Utf8PathBuf};
use serde::{Deserialize, Serialize};

use super::Project;
use crate::error::Exit;
use crate::exec::{Content, Runner};
use crate::fsutil::Perm;
use crate::ui::Ui;

/// `<cache dir>/project.json`: which directory owns this project name's cluster.
#[derive(Debug, Serialize, Deserialize)]
pub struct Identity {
    pub version: u32,
    pub dir: Utf8PathBuf,
    /// When this directory claimed the name.
    pub created_at: String,
    /// Who created the cluster and when (`kind create` succeeded): absent for a cluster adopted,
    /// or recorded by an older kilter.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cluster: Option<Creation>,
}

/// Which kilter command created the cluster, and when.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
pub struct Creation {
    /// `up` or `ci`.
    pub created_by: String,
    pub created_at: String,
}

impl Identity {
    pub fn read(path: &Utf8Path) -> Option<Identity> {
        let text = std::fs::read_to_string(path).ok()?;
        serde_json::from_str(&text).ok()
    }
}

/// Refuse (exit 4) when another directory with the same project name owns the cluster, unless
/// `adopt`. Returns true when the identity record should be (re)written by a mutating verb.
/// Mutating verbs call this under the project lock, so two directories cannot both claim.
pub fn check_identity(project: &Project, adopt: bool, ui: &Ui) -> Result<bool> {
    let Some(id) = Identity::read(&project.paths.identity) else { return Ok(true) };
    if id.dir == project.dir {
        return Ok(false);
    }
    if adopt {
        ui.warn(&format!(
            "taking over project `{}` from {} (--adopt); that directory no longer owns the cluster",
            project.name, id.dir
        ));
        return Ok(true);
    }
    Err(Exit::new(
        crate::error::Code::Invalid,
        format!(
            "project name `{}` is already used by {} (cluster {})",
            project.name,
            id.dir,
            project.cluster()
        ),
    )
    .hint(format!(
        "give this project its own name with `name: <other-name>` in {}, or pass --adopt to take that cluster over",
        project.file_path
    ))
    .into())
}

/// Whether this project has an identity record at all (a cluster it created or adopted).
pub fn has_identity(project: &Project) -> bool {
    Identity::read(&project.paths.identity).is_some()
}

/// Record this directory as the owner of the project name.
pub fn write_identity(runner: &Runner<'_>, project: &Project) -> Result<()> {
    let id = Identity {
        version: 1,
        dir: project.dir.clone(),
        created_at: crate::time::rfc3339_now(),
        cluster: None,
    };
    let text = serde_json::to_string_pretty(&id)? + "\n";
    runner.write_file(&project.paths.identity, &Content::text(text), Perm::Private(0o600))
}

/// Record in the identity that command `by` (`up`, `ci`) has just created the cluster.
pub fn record_creation(runner: &Runner<'_>, project: &Project, by: &str) -> Result<()> {
    let now = crate::time::rfc3339_now();
    let claimed = Identity::read(&project.paths.identity)
        .filter(|i| i.dir == project.dir)
        .map(|i| i.created_at)
        .unwrap_or_else(|| now.clone());
    let id = Identity {
        version: 1,
        dir: project.dir.clone(),
        created_at: claimed,
        cluster: Some(Creation { created_by: by.to_owned(), created_at: now }),
    };
    let text = serde_json::to_string_pretty(&id)? + "\n";
    runner.write_file(&project.paths.identity, &Content::text(text), Perm::Private(0o600))
}

/// `<cache dir>/creating`: written right before `kind create cluster`, removed after it. It
/// records when, so that a later `up` deletes only a node created after it (a half-made
/// cluster of ours), never one that already existed.
#[derive(Debug, Serialize, Deserialize)]
pub struct CreatingMarker {
    pub started_at: String,
    /// Seconds since the epoch (what `.Created` of the node is compared with).
    pub unix: i64,
}

impl CreatingMarker {
    pub fn read(path: &Utf8Path) -> Option<CreatingMarker> {
        serde_json::from_str(&std::fs::read_to_string(path).ok()?).ok()
    }

    pub fn write(runner: &Runner<'_>, path: &Utf8Path) -> Result<()> {
        let now = crate::time::now_secs();
        let m = CreatingMarker { started_at: crate::time::rfc3339(now), unix: now };
        let text = serde_json::to_string(&m)? + "\n";
        runner.write_file(path, &Content::text(text), Perm::Private(0o600))
    }
}
