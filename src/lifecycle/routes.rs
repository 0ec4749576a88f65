//! kilter.yaml's `routes:` (docs/kilter-yaml.md): names on the shared router for the user's
//! own Services. After `up` brought the cluster up, each route whose Service exists gets a
//! NodePort Service `kilter-route-<name>` with that Service's selector, on a NodePort of the
//! project's block recorded as `route:<name>` (so it never moves); a route whose Service does
//! not exist yet gets a note and nothing (its name is not on the router: the project's 404
//! page answers there until `kilter up` runs again).

use anyhow::Result;

use crate::context::Ctx;
use crate::exec::Content;
use crate::fsutil::Perm;
use crate::ports::{self, NodePorts};
use crate::project::Project;
use crate::tools::kubectl::{self, Kubectl, ServiceInfo};

/// Create or update the routes' Services; returns `services` with the routes' NodePorts added
/// (`route:<name>` → `http` → NodePort), what the router names. `app_port`: the NodePort of the
/// app kilter renders, which no route takes.
pub fn after_up(
    ctx: &Ctx<'_>,
    project: &Project,
    kubectl: &Kubectl<'_>,
    services: &NodePorts,
    app_port: Option<u16>,
) -> Result<NodePorts> {
    let mut all = services.clone();
    let settings = crate::router::Settings::from_env()?;
    let on = crate::router::enabled_for(project, &settings);
    let ns = project.namespace();
    let mut found: Vec<(&crate::config::RouteEntry, ServiceInfo)> = Vec::new();
    if on {
        for route in &project.config.routes {
            let cmd = kubectl.get_service_cmd(&route.service.value, &ns);
            let out = ctx.runner.run_unchecked(&cmd)?;
            match kubectl::interpret_get_service(&out) {
                Ok(Some(info)) => found.push((route, info)),
                Ok(None) => ctx.ui.note(&format!(
                    "route {}: Service {} not found in {ns} yet; run `kilter up` again once it is deployed",
                    route.name.value, route.service.value
                )),
                Err(e) => ctx.ui.warn(&format!("route {}: {e:#}", route.name.value)),
            }
        }
    }
    let names: Vec<String> = found.iter().map(|(r, _)| r.name.value.clone()).collect();
    let had = ports::Registry::load(&ctx.dirs.port_registry())?
        .and_then(|reg| {
            reg.projects.get(&project.name).map(|e| ports::recorded_routes(&e.services))
        })
        .unwrap_or_default();
    if names.is_empty() && had.is_empty() {
        return Ok(all);
    }
    let (assigned, _) = ports::with_registry(
        &ctx.dirs.port_registry(),
        ctx.runner,
        || Ok(Default::default()),
        |reg| reg.assign_routes(&project.name, &names, app_port),
    )?;
    if found.is_empty() {
        return Ok(all);
    }
    ctx.runner.ensure_dir(&project.paths.cache)?;
    let manifest = project.paths.cache.join("routes.yaml");
    let text: Vec<String> = found
        .iter()
        .map(|(r, info)| {
            kubectl::route_service_manifest(
                &r.name.value,
                &ns,
                info,
                r.port.value,
                assigned[&r.name.value],
            )
        })
        .collect();
    // One JSON document per route, as a YAML stream (JSON is YAML).
    ctx.runner.write_file(&manifest, &Content::text(text.join("---\n")), Perm::Private(0o600))?;
    let summary = format!("apply routes {}", names.join(", "));
    let cmd = kubectl.apply_cmd(summary.clone(), &manifest);
    let out = ctx.runner.run_unchecked(&cmd)?;
    if !out.success() {
        return Err(ctx
            .runner
            .failed(&cmd, &out, Some(format!("the manifests are in {manifest}")))
            .into());
    }
    for (r, _) in &found {
        let np = assigned[&r.name.value];
        ctx.ui.did(
            &format!(
                "Route {} → Service {} port {} (NodePort {np}, Service {})",
                r.name.value,
                r.service.value,
                r.port.value,
                kubectl::route_service_name(&r.name.value)
            ),
            &format!("route {} to Service {}", r.name.value, r.service.value),
        );
    }
    for (name, np) in assigned {
        all.insert(ports::route_key(&name), [(ports::ROUTE_PORT.to_owned(), np)].into());
    }
    Ok(all)
}
