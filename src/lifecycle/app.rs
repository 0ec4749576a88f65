//! Which Tiltfile a project runs, and the app kilter renders one for (`up`, `ci`, `render`,
//! `eject`, `env`, `status`): the user's own Tiltfile (or `tiltfile:`) wins; otherwise the app
//! from kilter.yaml and detection (`crate::app`), rendered into `<cache>/render/`.

use anyhow::Result;
use camino::Utf8PathBuf;

use crate::app::render::{self, Input, Layout};
use crate::app::{self, App, DirFiles};
use crate::context::Ctx;
use crate::ports::Ports;
use crate::project::Project;
use crate::services::Wired;

/// What runs under Tilt.
#[derive(Debug, Clone)]
pub enum Choice {
    /// The user's Tiltfile (`./Tiltfile` or `tiltfile:`); `exists` is false when `tiltfile:`
    /// names a file that is not there.
    User { path: Utf8PathBuf, exists: bool },
    /// The app kilter renders a Tiltfile for.
    Rendered(Box<App>),
    /// No Tiltfile and no app: the cluster and services only.
    Nothing,
}

/// The note for [`Choice::Nothing`]: how to declare the app.
pub const NO_APP_NOTE: &str = "no Tiltfile and no app found (no package.json, pyproject.toml, requirements.txt or go.mod, no `dev:` in kilter.yaml): Tilt was skipped (the cluster and services are up); declare the app in kilter.yaml (`dev:` with the command that starts it, `port:` it listens on, e.g. `dev: node server.js` and `port: 3000`) or add a Tiltfile";

/// Decide which Tiltfile runs. Detection errors (a `package.json` that is not JSON) are exit 4.
pub fn choose(project: &Project) -> Result<Choice> {
    let path = project.tiltfile();
    if project.config.tiltfile.is_some() || path.is_file() {
        return Ok(Choice::User { exists: path.is_file(), path });
    }
    let found = app::resolve(&project.config.app, &project.dir, &DirFiles(&project.dir))?;
    Ok(match found {
        Some(app) => Choice::Rendered(Box::new(app)),
        None => Choice::Nothing,
    })
}

/// Beside an app kilter renders, the services of kilter.yaml must leave it its name and its
/// NodePort (the first of the block, which they take from the top down), and so must the routes
/// `up` gives a NodePort each (`routes`; `ci` has none): exit 4, checked before `up` or `ci`
/// changes anything, and again when rendering.
pub fn check_services(
    choice: &Choice,
    services: &[crate::services::Service],
    routes: &[crate::config::RouteEntry],
) -> Result<()> {
    if !matches!(choice, Choice::Rendered(_)) {
        return Ok(());
    }
    if let Some(clash) = services.iter().find(|s| s.name == render::APP_NAME) {
        return Err(app_name_taken(&clash.name));
    }
    let ports: usize = services.iter().map(|s| s.ports.len()).sum();
    if ports + routes.len() >= usize::from(crate::ports::BLOCK) {
        let mut list: Vec<String> =
            services.iter().map(|s| format!("{} ({})", s.name, s.ports.len())).collect();
        list.extend(routes.iter().map(|r| format!("route {} (1)", r.name.value)));
        let (need, or_route) = match routes.len() {
            0 => (format!("the services need {ports} NodePorts"), ""),
            n => (
                format!("the services need {ports} NodePorts, the routes {n},"),
                " or a route from `routes:`",
            ),
        };
        return Err(crate::error::invalid(format!(
            "{need} and the app kilter renders 1 more, but a project's block has {}: {}",
            crate::ports::BLOCK,
            list.join(", ")
        ))
        .hint(format!(
            "remove a service from `services:` in kilter.yaml (`kilter remove NAME`){or_route} to free a port for the app"
        ))
        .into());
    }
    Ok(())
}

/// A route named `app` stands for the app only where kilter renders none (the user's own
/// Tiltfile deploys it); beside a rendered app it would take the app's names.
pub fn check_route_names(choice: &Choice, routes: &[crate::config::RouteEntry]) -> Result<()> {
    if let Choice::Rendered(_) = choice
        && let Some(route) = routes.iter().find(|r| r.name.value == render::APP_NAME)
    {
        return Err(crate::error::invalid(format!(
            "kilter.yaml:{}:{}: routes.app names the app, but kilter renders this project's app itself",
            route.name.at.line, route.name.at.col
        ))
        .hint("rename the route, or run your own Tiltfile (a route named app then gives your Service the project's names)")
        .into());
    }
    Ok(())
}

fn app_name_taken(name: &str) -> anyhow::Error {
    crate::error::invalid(format!(
        "a service is named `{name}`, which is the name of the app kilter renders"
    ))
    .hint("rename the service in kilter.yaml (`services:`)")
    .into()
}

/// `<cache>/render`: where the rendered files go.
pub fn render_dir(project: &Project) -> Utf8PathBuf {
    project.paths.cache.join("render")
}

/// The rendered Tiltfile.
pub fn rendered_tiltfile(project: &Project) -> Utf8PathBuf {
    render_dir(project).join("Tiltfile")
}

/// The app's NodePort: the first port of the project's block (kilter's services take theirs
/// from the top of the block down).
pub fn app_node_port(ports: &Ports) -> u16 {
    ports.base
}

/// The files for `app` in `layout`, with the services' in-cluster variables.
pub fn files(
    project: &Project,
    app: &App,
    ports: &Ports,
    wired: &[Wired],
    layout: Layout,
) -> Result<Vec<render::File>> {
    if let Some(clash) = wired.iter().find(|w| w.name == render::APP_NAME) {
        return Err(app_name_taken(&clash.name));
    }
    let node_port = app_node_port(ports);
    if let Some(taken) =
        wired.iter().find(|w| w.ports.iter().any(|p| p.node_port == Some(node_port)))
    {
        return Err(crate::error::invalid(format!(
            "the service `{}` has NodePort {node_port}, the first port of the block, which is the app's: the project's 20 NodePorts are all taken",
            taken.name
        ))
        .hint("remove a service (`kilter remove NAME`) to free a port for the app")
        .into());
    }
    let env = crate::services::cluster_env(wired);
    let input = Input {
        project: &project.name,
        namespace: &project.namespace(),
        dir: &project.dir,
        node_port,
        service_env: &env,
        layout,
    };
    Ok(render::render(app, &input))
}

/// Render into `<cache>/render/` (nothing is written when it is unchanged); returns the
/// rendered Tiltfile.
pub fn render_into_cache(
    ctx: &Ctx<'_>,
    project: &Project,
    app: &App,
    ports: &Ports,
    wired: &[Wired],
) -> Result<Utf8PathBuf> {
    let dir = render_dir(project);
    let files = files(project, app, ports, wired, Layout::Cache(dir.clone()))?;
    ctx.runner.ensure_dir(&project.paths.cache)?;
    if app::write_rendered(ctx.runner, &dir, &files)? {
        ctx.ui.detail(&format!("Rendered the app's Tiltfile, Dockerfile and manifests into {dir}"));
    } else {
        ctx.ui.detail(&format!("The render in {dir} is current"));
    }
    Ok(dir.join("Tiltfile"))
}

/// Show what was detected and why (`-v` for `up`; `status` and `render` show it always).
pub fn describe(ctx: &Ctx<'_>, app: &App, verbose_only: bool) {
    for line in app.describe() {
        if verbose_only {
            ctx.ui.detail(&line);
        } else {
            ctx.ui.info(&line);
        }
    }
    for note in &app.notes {
        ctx.ui.note(note);
    }
}

/// `APP_URL`, when kilter renders the app.
pub fn app_url(ports: &Ports) -> String {
    render::app_url(app_node_port(ports)).trim_end_matches('/').to_owned()
}
