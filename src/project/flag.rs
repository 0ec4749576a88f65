//! `cluster.stopped` in kilter.yaml: staging the edit before anything else changes, putting it
//! in place, and the undo record that lets `up` put back the exact bytes `stop` replaced.

use anyhow::{Context, Result};
use camino::{Utf8Path, Utf8PathBuf};
use serde::{Deserialize, Serialize};

use super::Project;
use crate::config::{self, Undo};
use crate::exec::{Content, Runner, StagedWrite};
use crate::fsutil::Perm;

/// The undo record of the last flag edit, stored between `stop` and `up`.
#[derive(Debug, Serialize, Deserialize)]
struct FlagUndo {
    file: Utf8PathBuf,
    undo: Undo,
}

/// An edit of `cluster.stopped` in kilter.yaml, staged (written to a temporary file beside
/// it, with its owner, group and mode) but not yet in place.
#[derive(Debug)]
pub struct StagedFlag {
    write: StagedWrite,
    /// The record of what setting the flag replaced, staged beside `flag-undo.json` too
    /// (`None` when clearing the flag: the record goes).
    undo: Option<StagedWrite>,
    created: bool,
}

impl StagedFlag {
    /// Whether kilter.yaml did not exist and is being created.
    pub fn creates_file(&self) -> bool {
        self.created
    }
}

fn read_project_file(path: &Utf8Path) -> Result<Option<String>> {
    match std::fs::read_to_string(path) {
        Ok(t) => Ok(Some(t)),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
        Err(e) => Err(anyhow::Error::new(e).context(format!("could not read {path}"))),
    }
}

fn read_undo(project: &Project) -> Option<Undo> {
    std::fs::read_to_string(&project.paths.flag_undo)
        .ok()
        .and_then(|t| serde_json::from_str::<FlagUndo>(&t).ok())
        .filter(|u| u.file == project.file_path)
        .map(|u| u.undo)
}

/// Prepare setting (`stop`) or clearing (`up`, `destroy`) `cluster.stopped`: compute the edit
/// and stage the file, so that a kilter.yaml that cannot be edited or written fails *before*
/// the caller changes anything else. Clearing puts back the exact bytes `stop` replaced when
/// the file still holds them. `None`: nothing to change.
pub fn stage_flag(
    runner: &Runner<'_>,
    project: &Project,
    stopped: bool,
) -> Result<Option<StagedFlag>> {
    let path = &project.file_path;
    let text = read_project_file(path)?;
    if text.is_none() && !stopped {
        return Ok(None);
    }
    let created = text.is_none();
    let text = text.unwrap_or_default();
    // The file as loaded (still the same bytes) is not parsed again.
    let loaded = project.file.as_ref().filter(|f| f.path == *path && f.text == text);
    let undo_record = if stopped { None } else { read_undo(project) };
    let (new, undo) = match (stopped, loaded) {
        (true, Some(file)) => {
            let e = config::set_stopped_in(file)?;
            (e.text, Some(e.undo))
        }
        (true, None) => {
            let e = config::set_stopped(path, &text)?;
            (e.text, Some(e.undo))
        }
        (false, Some(file)) => (config::clear_stopped_in(file, undo_record.as_ref())?, None),
        (false, None) => (config::clear_stopped(path, &text, undo_record.as_ref())?, None),
    };
    if new == text {
        return Ok(None);
    }
    let what =
        if stopped { "write `cluster.stopped: true` to" } else { "remove `cluster.stopped` from" };
    let write = runner
        .stage_write(path, &Content::text(new), Perm::Keep)
        .with_context(|| format!("cannot {what} {path}"))?;
    // The undo record is staged as well, so that a cache dir that is full or read-only fails
    // here, before `stop` stops anything, and not after the node is down.
    let undo = match undo {
        Some(undo) => {
            let rec = FlagUndo { file: project.file_path.clone(), undo };
            let text = serde_json::to_string_pretty(&rec)? + "\n";
            let record = &project.paths.flag_undo;
            Some(
                runner
                    .stage_write(record, &Content::text(text), Perm::Private(0o600))
                    .with_context(|| {
                        format!("cannot record in {record} what `cluster.stopped` replaces")
                    })?,
            )
        }
        None => None,
    };
    Ok(Some(StagedFlag { write, undo, created }))
}

/// Put a staged flag edit in place; remember what setting it replaced (or forget it). Both
/// files were written when staged: what is left are two renames (and a removal).
pub fn commit_flag(runner: &Runner<'_>, project: &Project, flag: StagedFlag) -> Result<()> {
    runner.commit(flag.write)?;
    match flag.undo {
        Some(undo) => runner.commit(undo),
        None => runner.remove_file(&project.paths.flag_undo).map(|_| ()),
    }
}

/// Clear `cluster.stopped` now (stage and commit). Returns whether kilter.yaml changed.
pub fn clear_stopped_flag(runner: &Runner<'_>, project: &Project) -> Result<bool> {
    match stage_flag(runner, project, false)? {
        Some(f) => commit_flag(runner, project, f).map(|()| true),
        None => {
            runner.remove_file(&project.paths.flag_undo)?;
            Ok(false)
        }
    }
}
