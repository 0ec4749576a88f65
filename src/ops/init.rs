//! `kilter init`: write a starter kilter.yaml; never overwrite.

use anyhow::{Context, Result};

use super::Ctx;
use crate::app;
use crate::config;
use crate::error::invalid;
use crate::exec::Content;
use crate::fsutil::Perm;

pub fn run(ctx: &Ctx<'_>, name: Option<&str>) -> Result<i32> {
    let dir = ctx.start_dir.canonicalize_utf8().unwrap_or_else(|_| ctx.start_dir.clone());
    let path = dir.join(config::FILE_NAME);
    if path.exists() {
        return Err(
            invalid(format!("{path} already exists; kilter init never overwrites it")).into()
        );
    }
    let name = match name {
        Some(n) => {
            config::validate_name(n)?;
            n.to_owned()
        }
        None => {
            let raw = dir.file_name().unwrap_or("");
            config::normalize_name(raw).ok_or_else(|| {
                invalid(format!("cannot derive a project name from `{raw}`"))
                    .hint("pass --name <name>")
            })?
        }
    };
    let mut text = config::starter(&name);
    // What detection finds, as comments (a project file that cannot be read is a note here:
    // `init` still writes the starter).
    let detected = match app::detect::detect(&app::DirFiles(&dir)) {
        Ok(found) => found,
        Err(problem) => {
            ctx.ui.note(&format!("{}: {}", problem.at, problem.message));
            None
        }
    };
    text.push('\n');
    text.push_str(&app::starter_comments(detected.as_ref()));
    ctx.runner
        .write_file(&path, &Content::text(text), Perm::Keep)
        .with_context(|| format!("could not write {path}"))?;
    ctx.ui.success(
        &format!("Wrote {path} for project `{name}`; next: `kilter up`"),
        &format!("write {path}"),
    );
    Ok(0)
}
