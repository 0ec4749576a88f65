//! `kilter add NAME… [--timeout D]`: append catalog services to `services:` in kilter.yaml (a
//! byte-preserving edit; the key is created if absent, a new kilter.yaml if there is none) and,
//! when the cluster runs, apply them at once and wait until they are ready.

use anyhow::Result;

use super::{
    Ctx, Deploy, assign_nodeports, deploy_services, running_cluster, service_lines, services_of,
};
use crate::cli::AddArgs;
use crate::config::{self, suggest};
use crate::error::invalid;
use crate::exec::Content;
use crate::fsutil::Perm;
use crate::services::catalog;
use crate::tools::Tool;
use crate::tools::tilt::TiltRecord;

pub fn run(ctx: &Ctx<'_>, args: &AddArgs) -> Result<i32> {
    let timeout = args.timeout.get();
    ctx.runner.set_deadline(timeout, &format!("--timeout {}", args.timeout));
    let ui = ctx.ui;
    let project = ctx.project()?;
    for name in &args.names {
        if catalog::find(name).is_none() {
            let error = invalid(format!("`{name}` is not a catalog service"));
            return Err(match suggest(name, &catalog::names()) {
                Some(close) => error.hint(format!(
                    "did you mean `{close}`? (`kilter catalog` lists the catalog)"
                )),
                None => error.hint(format!(
                    "the catalog has {}; a service of your own goes into kilter.yaml by hand:\n  services:\n    - name: {name}\n      image: ghcr.io/acme/{name}:dev\n      port: 8080",
                    catalog::names().join(", ")
                )),
            }
            .into());
        }
    }
    let _lock = ctx.lock(&project, "kilter add")?;
    // The transcript of this run goes there.
    ctx.runner.ensure_dir(&project.paths.cache)?;
    let path = &project.file_path;
    let text = match std::fs::read_to_string(path) {
        Ok(t) => t,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => String::new(),
        Err(e) => return Err(anyhow::Error::new(e).context(format!("could not read {path}"))),
    };
    let listed: Vec<String> =
        project.config.services.iter().map(|s| s.name.value.clone()).collect();
    let mut added: Vec<String> = Vec::new();
    for name in &args.names {
        if listed.contains(name) {
            ui.info(&format!("`{name}` is already under `services:` in {path}"));
        } else if !added.contains(name) {
            added.push(name.clone());
        }
    }
    let new_text = config::add_services(path, &text, &added)?;
    // The whole new list must make sense (ports, provided variables) before anything is written.
    let (config, _) = config::parse(path, &new_text)?;
    let mut updated = project.clone();
    updated.config.services = config.services;
    let list = services_of(&updated)?;
    // Everything else is checked before kilter.yaml changes, so that a failure below leaves it
    // as it was: the port registry (readable, a slot in range, room in the block for the new
    // NodePorts), the tools, and whether the cluster runs (then the registry must exist).
    super::preview_nodeports(ctx, &updated, &list)?;
    let tools = ctx.tools(&[Tool::Docker, Tool::Kubectl])?;
    let running = running_cluster(ctx, &updated, &tools)?;
    let ports_path = ctx.dirs.port_registry();
    if running.is_some() && crate::ports::Registry::load(&ports_path)?.is_none() {
        return Err(invalid(format!("the port registry {ports_path} is missing"))
            .hint("`kilter up` rebuilds it from the clusters that exist; nothing was changed")
            .into());
    }
    if new_text != text {
        ctx.runner.write_file(path, &Content::text(new_text), Perm::Keep)?;
        ui.success(
            &format!("Added {} to `services:` in {path}", added.join(", ")),
            &format!("add {} to `services:` in {path}", added.join(", ")),
        );
    }

    let Some(kubectl) = running else {
        ui.info(&format!(
            "Cluster {} is not running; `kilter up` starts the services",
            project.cluster()
        ));
        return Ok(0);
    };
    let (nodeports, had) = assign_nodeports(ctx, &updated, &list)?;
    let deploy = Deploy {
        kubectl: &kubectl,
        services: &list,
        nodeports: &nodeports,
        had: &had,
        prune_data: false,
        timeout,
    };
    let wired = deploy_services(ctx, &updated, &deploy)?;
    for line in service_lines(&wired) {
        if added.iter().any(|a| line.starts_with(&format!("{a} "))) {
            ui.info(&format!("  {line}"));
        }
    }
    if TiltRecord::read(&project.paths.tilt_json).is_some_and(|r| r.is_live()) {
        ui.note("Tilt started before these services: `kilter up` restarts it with their variables (DATABASE_URL, …) in its environment");
    }
    Ok(0)
}
