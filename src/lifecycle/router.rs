//! The shared router's part in a project's life (`src/router.rs`): `up` creates or starts it
//! when the project has something to route and reloads its routes; `stop`, `destroy` and `gc`
//! reload them (a stopped or destroyed project's names answer 503 with where to run `kilter
//! up`). Names are a convenience: a router that cannot be set up is a warning, never a failure.
//! `env`, `status`, `ls` and the `up` summary read the names from the port registry.

use anyhow::Result;

use crate::context::Ctx;
use crate::error::{Code, code_of};
use crate::ports::NodePorts;
use crate::ports::Registry as PortRegistry;
use crate::project::Project;
use crate::router::{self, Change, Machine, NodeState, ProjectRecord, Settings};
use crate::tools::Tool;

/// A failure to set the router up is a warning; an interrupt or a passed deadline is not.
fn soft(ctx: &Ctx<'_>, res: Result<()>) -> Result<()> {
    match res {
        Ok(()) => Ok(()),
        Err(e) => {
            if matches!(code_of(&e), Code::Interrupted | Code::Timeout) {
                return Err(e);
            }
            ctx.ui.warn(&format!(
                "the router could not be updated, so the http://<name>.<project>.localhost names may not answer (the NodePorts do): {}\n  (`kilter router status` shows it; `router: false` in kilter.yaml or KILTER_ROUTER=off turns it off)",
                crate::error::with_stderr(&e, "  ")
            ));
            Ok(())
        }
    }
}

/// After `up` (the cluster runs, its services' NodePorts are recorded): create or start the
/// router when this project has a name to give, and reload every project's routes; with
/// nothing to route, only a router that exists is reloaded.
pub fn after_up(ctx: &Ctx<'_>, project: &Project, services: &NodePorts) -> Result<()> {
    let settings = Settings::from_env()?;
    if !settings.machine_on {
        return Ok(());
    }
    if !router::enabled_for(project, &settings) {
        // `router: false`: no service of this project gets a name, whichever project's command
        // regenerates the routes next (and an existing router forgets them now).
        let none = services.keys().map(|s| (s.clone(), String::new())).collect();
        return soft(
            ctx,
            record(ctx, &project.name, &none, None)
                .and_then(|()| sync(ctx, &settings, None, false)),
        );
    }
    let (web, app) = names(ctx, project)?;
    let change = Change::Up {
        name: &project.name,
        dir: &project.dir,
        services,
        web: &web,
        app,
        state: NodeState::Running,
    };
    soft(
        ctx,
        record(ctx, &project.name, &web, app)
            .and_then(|()| sync(ctx, &settings, Some(change), false)),
    )
}

/// kilter.yaml's `http:` choices, and the app's NodePort when kilter renders the app (the first
/// NodePort of the block).
fn names(
    ctx: &Ctx<'_>,
    project: &Project,
) -> Result<(std::collections::BTreeMap<String, String>, Option<u16>)> {
    let web =
        router::web_overrides(&project.config.services, &super::services::services_of(project)?);
    let app = match super::app::choose(project)? {
        super::app::Choice::Rendered(_) => {
            let (ports, _) = crate::ports::preview(&ctx.dirs.port_registry(), &project.name)?;
            Some(super::app::app_node_port(&ports))
        }
        _ => None,
    };
    Ok((web, app))
}

/// After `kilter ci` deleted the cluster it created, whose services had `services`' NodePorts
/// when [`after_up`] named them: this project's names answer 503 as after `destroy`. The record
/// is the run's own (a dry run has none on disk), and a router this run made is reloaded.
pub fn after_ci_delete(ctx: &Ctx<'_>, project: &Project, services: &NodePorts) -> Result<()> {
    let settings = Settings::from_env()?;
    if !settings.machine_on {
        return Ok(());
    }
    let (web, app) = names(ctx, project)?;
    if !router::enabled_for(project, &settings)
        || (router::web_services(services, &web).is_empty() && app.is_none())
    {
        return refresh(ctx, Some((project, NodeState::Absent)));
    }
    let change = Change::Up {
        name: &project.name,
        dir: &project.dir,
        services,
        web: &web,
        app,
        state: NodeState::Absent,
    };
    soft(ctx, sync(ctx, &settings, Some(change), true))
}

/// Record kilter.yaml's `http:` choices and the rendered app's NodePort in the project's
/// port-registry entry (a write only when they changed), so that every later regeneration names
/// the same ports.
fn record(
    ctx: &Ctx<'_>,
    name: &str,
    web: &std::collections::BTreeMap<String, String>,
    app: Option<u16>,
) -> Result<()> {
    let path = ctx.dirs.port_registry();
    crate::ports::with_registry(
        &path,
        ctx.runner,
        || Ok(std::collections::BTreeMap::new()),
        |reg| {
            if let Some(e) = reg.projects.get_mut(name)
                && (e.web != *web || e.app != app)
            {
                e.web = web.clone();
                e.app = app;
            }
            Ok(())
        },
    )?;
    Ok(())
}

/// After `stop` (`Stopped`), `destroy` (`Absent`) of `project`, or `gc` (`None`: the records
/// on disk): reload the routes of a router that exists (never creates it).
pub fn refresh(ctx: &Ctx<'_>, change: Option<(&Project, NodeState)>) -> Result<()> {
    let settings = Settings::from_env()?;
    if !settings.machine_on {
        return Ok(());
    }
    let change = change.map(|(p, state)| Change::State { name: &p.name, state });
    soft(ctx, sync(ctx, &settings, change, false))
}

/// Regenerate the routes with `change` applied. `made`: this run created or started the router
/// (`kilter ci` after its deletion), so it is reloaded even where the dry run cannot see it.
fn sync(ctx: &Ctx<'_>, settings: &Settings, change: Option<Change<'_>>, made: bool) -> Result<()> {
    let tools = ctx.tools(&[Tool::Docker])?;
    let docker = tools.docker()?;
    let mut machine = Machine::new(ctx.runner, ctx.ui, &docker, settings, &ctx.dirs);
    machine.made = made;
    let wants = match change {
        Some(Change::Up { services, web, app, state: NodeState::Running, .. }) => {
            !router::web_services(services, web).is_empty()
                || app.is_some()
                || !crate::ports::recorded_routes(services).is_empty()
        }
        _ => false,
    };
    if !made {
        // Nothing to route here, and no router was ever made (none recorded its port): no call.
        if !wants && router::recorded_port(&machine.ports_path)?.is_none() {
            return Ok(());
        }
        if !wants && machine.inspect_ours()?.is_none() {
            return Ok(());
        }
    }
    let done = machine.sync(wants, change)?;
    if done.started {
        ctx.ui.did(
            &format!("Started the router {}", settings.name),
            &format!("start the router {}", settings.name),
        );
    }
    if done.reloaded {
        ctx.ui.detail(&format!("Reloaded the routes of {}", settings.name));
    }
    Ok(())
}

/// This project's names with their URLs (`APP_URL`, `<SERVICE>_WEB_URL`), from the port
/// registry alone: empty when the router is off for it or has never been created (no port
/// recorded).
pub fn urls(ctx: &Ctx<'_>, project: &Project) -> Result<Vec<(String, String)>> {
    let settings = Settings::from_env()?;
    if !router::enabled_for(project, &settings) {
        return Ok(Vec::new());
    }
    let Some(reg) = PortRegistry::load(&ctx.dirs.port_registry())? else {
        return Ok(Vec::new());
    };
    let (Some(port), Some(entry)) = (reg.router_port, reg.projects.get(&project.name)) else {
        return Ok(Vec::new());
    };
    let (app, routes) =
        router::with_app_route(entry.app, crate::ports::recorded_routes(&entry.services));
    let record = ProjectRecord {
        name: project.name.clone(),
        dir: entry.dir.clone(),
        state: NodeState::Running,
        node: project.node(),
        web: router::web_services(&entry.services, &entry.web),
        app,
        routes,
    };
    Ok(router::names_of(&record)
        .into_iter()
        .map(|(stem, host)| (format!("{stem}_URL"), router::url(&host, port)))
        .collect())
}
