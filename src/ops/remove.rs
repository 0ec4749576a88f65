//! `kilter remove NAME… [--prune-data]`: take services out of `services:` in kilter.yaml (a
//! byte-preserving edit) and, when the cluster runs, delete them at once (by label) and give
//! their NodePorts back. Their data (PersistentVolumeClaim) is kept unless `--prune-data`. When
//! the cluster does not run, the next `kilter up` deletes them.

use anyhow::Result;

use super::{Ctx, assign_nodeports, running_cluster, services_of};
use crate::cli::RemoveArgs;
use crate::config;
use crate::exec::Content;
use crate::fsutil::Perm;
use crate::services::deploy::{self, Target};
use crate::services::{self};
use crate::tools::Tool;

pub fn run(ctx: &Ctx<'_>, args: &RemoveArgs) -> Result<i32> {
    let timeout = args.timeout.get();
    ctx.runner.set_deadline(timeout, &format!("--timeout {}", args.timeout));
    let ui = ctx.ui;
    let project = ctx.project()?;
    let _lock = ctx.lock(&project, "kilter remove")?;
    // The transcript of this run goes there.
    ctx.runner.ensure_dir(&project.paths.cache)?;
    let path = &project.file_path;
    let text = match std::fs::read_to_string(path) {
        Ok(t) => t,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => String::new(),
        Err(e) => return Err(anyhow::Error::new(e).context(format!("could not read {path}"))),
    };
    let mut names: Vec<String> = Vec::new();
    for n in &args.names {
        if !names.contains(n) {
            names.push(n.clone());
        }
    }
    let new_text = config::remove_services(path, &text, &names)?;
    let (config, _) = config::parse(path, &new_text)?;
    let mut updated = project.clone();
    updated.config.services = config.services;
    let list = services_of(&updated)?;
    ctx.runner.write_file(path, &Content::text(new_text), Perm::Keep)?;
    ui.success(
        &format!("Removed {} from `services:` in {path}", names.join(", ")),
        &format!("remove {} from `services:` in {path}", names.join(", ")),
    );

    let tools = ctx.tools(&[Tool::Docker, Tool::Kubectl])?;
    let Some(kubectl) = running_cluster(ctx, &updated, &tools)? else {
        let prune = if args.prune_data {
            " (`kilter up --prune-data` also deletes their data)"
        } else {
            ""
        };
        ui.info(&format!(
            "Cluster {} is not running; the next `kilter up` deletes {}{prune}",
            project.cluster(),
            names.join(", ")
        ));
        return Ok(0);
    };
    let ns = project.namespace();
    let target = Target {
        runner: ctx.runner,
        ui,
        kubectl: &kubectl,
        namespace: &ns,
        manifest: &project.paths.services,
    };
    deploy::delete_named(&target, &names, args.prune_data)?;
    // The rest keep their NodePorts; the removed ones are free again.
    let (nodeports, _) = assign_nodeports(ctx, &updated, &list)?;
    // The manifest file holds what is applied: the services that are left.
    let wired = services::wire_all(&list, &project.name, &ns, &nodeports)?;
    deploy::write_manifest(&target, &list, &wired)?;
    Ok(0)
}
