//! `kilter eject`: write the rendered Tiltfile, Dockerfile and manifests into the project, paths
//! relative to it, for the user to own. It refuses when any of the files exists (nothing is
//! written then); afterwards the project has a Tiltfile, which wins over rendering.

use anyhow::{Context, Result};

use super::{Ctx, preview_nodeports, services_of};
use crate::app::render::Layout;
use crate::error::invalid;
use crate::exec::Content;
use crate::fsutil::Perm;
use crate::lifecycle;
use crate::lifecycle::app::Choice;
use crate::services;

pub fn run(ctx: &Ctx<'_>) -> Result<i32> {
    let project = ctx.project()?;
    let app = match lifecycle::app::choose(&project)? {
        Choice::User { path, .. } => {
            return Err(invalid(format!(
                "the project already has its Tiltfile ({path}); there is nothing kilter renders to eject"
            ))
            .hint("remove the Tiltfile (and `tiltfile:` in kilter.yaml) to let kilter render one")
            .into());
        }
        Choice::Nothing => {
            return Err(invalid(
                "kilter found no app to eject (no package.json, pyproject.toml, requirements.txt or go.mod, and no `dev:` in kilter.yaml)",
            )
            .hint("declare the app in kilter.yaml: `dev:` and `port:`")
            .into());
        }
        Choice::Rendered(app) => app,
    };
    let (ports, _) = crate::ports::preview(&ctx.dirs.port_registry(), &project.name)?;
    let list = services_of(&project)?;
    let nodeports = preview_nodeports(ctx, &project, &list)?;
    let wired = services::wire_all(&list, &project.name, &project.namespace(), &nodeports)?;
    let files = lifecycle::app::files(&project, &app, &ports, &wired, Layout::Eject)?;
    let taken: Vec<String> = files
        .iter()
        .map(|f| project.dir.join(&f.name))
        .filter(|p| p.symlink_metadata().is_ok())
        .map(|p| p.to_string())
        .collect();
    if !taken.is_empty() {
        return Err(invalid(format!(
            "kilter eject never overwrites, and {} already exist{}",
            taken.join(", "),
            if taken.len() == 1 { "s" } else { "" }
        ))
        .hint("move them away (or compare them with `kilter render`) and run `kilter eject` again")
        .into());
    }
    // The transcript (commands.log) records the writes.
    ctx.runner.ensure_dir(&project.paths.cache)?;
    // Stage every file first: one that cannot be written fails before any is in place.
    let mut staged = Vec::with_capacity(files.len());
    for file in &files {
        let path = project.dir.join(&file.name);
        staged.push(
            ctx.runner
                .stage_write(&path, &Content::text(file.text.clone()), Perm::Keep)
                .with_context(|| format!("could not write {path}"))?,
        );
    }
    for write in staged {
        ctx.runner.commit(write)?;
    }
    let names: Vec<&str> = files.iter().map(|f| f.name.as_str()).collect();
    ctx.ui.success(
        &format!(
            "Wrote {} into {}; they are yours now, and `kilter up` runs your Tiltfile",
            names.join(", "),
            project.dir
        ),
        &format!("write {}", names.join(", ")),
    );
    Ok(0)
}
