//! The machine's shared router (README "Names instead of port numbers"): one Caddy container,
//! `kilter-router`, on kind's `kind` network, published on `127.0.0.1:80` (or, when 80 cannot
//! be bound, the first free port of 8080–8099, recorded in the port registry), that gives every
//! project's app and web services a name: `http://<service>.<project>.localhost[:port]`.
//!
//! The routes are computed from every project's records (the port registry's entries: slot,
//! directory and services' NodePorts; the node containers' states from one `docker ps -a`) by
//! [`routes`] and rendered as Caddy's JSON configuration by [`render`]: pure functions, golden
//! tested. [`Machine`] writes that file through the runner's file effects (so a dry run prints
//! it), creates or starts the container, and reloads Caddy gracefully (`caddy reload`, which
//! drops no connection).

use std::collections::BTreeMap;

use anyhow::Result;
use camino::{Utf8Path, Utf8PathBuf};
use serde::Serialize;
use serde_json::{Value, json};

use crate::error::{Code, Exit, invalid};
use crate::exec::{Content, Runner};
use crate::fsutil::Perm;
use crate::ports::{self, NodePorts, Registry as PortRegistry};
use crate::project::{Dirs, Project};
use crate::tools::caddy;
use crate::tools::docker::{self, Container, Docker, KilterNode};
use crate::ui::Ui;

pub const DEFAULT_IMAGE: &str = "caddy:2";
/// The port kilter tries first.
pub const PREFERRED_PORT: u16 = 80;
/// Where it looks when the preferred port cannot be bound.
pub const FALLBACK_PORTS: std::ops::RangeInclusive<u16> = 8080..=8099;
/// The port Caddy listens on inside the container.
pub const CONTAINER_PORT: &str = "80/tcp";
/// Where the configuration directory is mounted in the container (read-only).
pub const CONFIG_MOUNT: &str = "/etc/kilter-router";
/// The configuration file's name, in the directory kilter writes and in the mount.
pub const CONFIG_FILE: &str = "caddy.json";
/// Caddy's admin endpoint inside the container (what `caddy reload` talks to).
pub const ADMIN_LISTEN: &str = "localhost:2019";
/// The label value on the router container (the label is the registry's `io.kilter.shared`).
pub const ROLE: &str = "router";
pub use crate::registry::{KIND_NETWORK, SHARED_LABEL};

/// Machine-wide settings, from the environment.
#[derive(Debug, Clone)]
pub struct Settings {
    /// `KILTER_ROUTER=off` turns the router off for every project.
    pub machine_on: bool,
    /// `KILTER_ROUTER_IMAGE`, default `caddy:2`.
    pub image: String,
    /// `<prefix>-router`: the prefix of the shared containers (`KILTER_REGISTRY_PREFIX`, default
    /// `kilter`), so one setting renames all of them.
    pub name: String,
    /// The port to try first (`KILTER_ROUTER_PORT`, default 80).
    pub preferred_port: u16,
}

impl Settings {
    pub fn from_env() -> Result<Settings, Exit> {
        Settings::from_lookup(|k| std::env::var(k).ok())
    }

    pub fn from_lookup(get: impl Fn(&str) -> Option<String>) -> Result<Settings, Exit> {
        let machine_on = match get("KILTER_ROUTER").map(|v| v.trim().to_ascii_lowercase()) {
            None => true,
            Some(v) => match v.as_str() {
                "" | "on" | "1" | "true" | "yes" => true,
                "off" | "0" | "false" | "no" => false,
                _ => {
                    return Err(invalid(format!("KILTER_ROUTER={v}: expected on or off"))
                        .hint("`KILTER_ROUTER=off` keeps every project off the shared router"));
                }
            },
        };
        let image = get("KILTER_ROUTER_IMAGE")
            .map(|s| s.trim().to_owned())
            .filter(|s| !s.is_empty())
            .unwrap_or_else(|| DEFAULT_IMAGE.to_owned());
        let prefix = get("KILTER_REGISTRY_PREFIX")
            .map(|s| s.trim().to_owned())
            .filter(|s| !s.is_empty())
            .unwrap_or_else(|| crate::registry::DEFAULT_PREFIX.to_owned());
        let prefix_ok = prefix.len() <= 40
            && prefix.starts_with(|c: char| c.is_ascii_lowercase() || c.is_ascii_digit())
            && prefix
                .chars()
                .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-' || c == '.');
        if !prefix_ok {
            return Err(invalid(format!(
                "KILTER_REGISTRY_PREFIX={prefix}: expected lowercase letters, digits, '-' and '.' (at most 40)"
            )));
        }
        let preferred_port = match get("KILTER_ROUTER_PORT").map(|s| s.trim().to_owned()) {
            None => PREFERRED_PORT,
            Some(s) if s.is_empty() => PREFERRED_PORT,
            Some(s) => match s.parse::<u16>() {
                Ok(p) if p > 0 => p,
                _ => {
                    return Err(invalid(format!(
                        "KILTER_ROUTER_PORT={s}: expected a port number (1-65535)"
                    )));
                }
            },
        };
        Ok(Settings { machine_on, image, name: format!("{prefix}-router"), preferred_port })
    }
}

/// Whether this project uses the router: the machine's setting and kilter.yaml `router:`
/// (default true).
pub fn enabled_for(project: &Project, settings: &Settings) -> bool {
    settings.machine_on && project.config.router
}

/// The directory kilter writes the configuration in: `<cache root>/.router/` (a name no
/// project can have, so `gc` never takes it for a project's cache dir).
pub fn config_dir(dirs: &Dirs) -> Utf8PathBuf {
    dirs.cache.join(".router")
}

pub fn config_path(dirs: &Dirs) -> Utf8PathBuf {
    config_dir(dirs).join(CONFIG_FILE)
}

/// The configuration file as the container sees it.
pub fn mounted_config() -> String {
    format!("{CONFIG_MOUNT}/{CONFIG_FILE}")
}

// ---------------------------------------------------------------------------------------------
// Routes: pure.

/// A project's cluster as `docker ps -a` shows its node.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum NodeState {
    Running,
    /// The node exists but does not run.
    Stopped,
    /// No node: destroyed (the port registry still knows the project).
    Absent,
}

/// One project's records, as far as the router cares.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ProjectRecord {
    pub name: String,
    /// The directory the port registry records (where `kilter up` brings it back).
    pub dir: Option<Utf8PathBuf>,
    pub state: NodeState,
    /// `kilter-<name>-control-plane`: the router reaches it by this name on `kind`.
    pub node: String,
    /// The services with a web UI and the NodePort of that UI, sorted by service.
    pub web: Vec<(String, u16)>,
    /// The NodePort of the project's app, when it has one.
    pub app: Option<u16>,
    /// kilter.yaml's `routes:` that `up` created a NodePort Service for, with that NodePort
    /// (recorded as `route:<name>` among the services' ports), sorted by name.
    pub routes: Vec<(String, u16)>,
}

/// The services of a port-registry entry that have a web UI, with that port's NodePort: the
/// port kilter.yaml's `http:` recorded (`web`; "" for none), else the catalog's web UI port.
pub fn web_services(services: &NodePorts, web: &BTreeMap<String, String>) -> Vec<(String, u16)> {
    services
        .iter()
        .filter_map(|(service, ports)| {
            let port = match web.get(service) {
                Some(p) if p.is_empty() => return None,
                Some(p) => p.as_str(),
                None => crate::services::catalog::web_port(service)?,
            };
            ports.get(port).map(|np| (service.clone(), *np))
        })
        .collect()
}

/// What kilter.yaml's `http:` says of a project's services (for [`ports::Entry::web`]): each
/// service with `http: true` → the catalog's web UI port when it has one, else its first port;
/// `http: false` → "".
pub fn web_overrides(
    entries: &[crate::config::ServiceEntry],
    services: &[crate::services::Service],
) -> BTreeMap<String, String> {
    entries
        .iter()
        .filter_map(|e| {
            let on = e.http?;
            let port = if on {
                let service = services.iter().find(|s| s.name == e.name.value)?;
                let catalog = crate::services::catalog::web_port(&service.name)
                    .filter(|w| service.ports.iter().any(|p| p.name == *w));
                match catalog {
                    Some(w) => w.to_owned(),
                    None => service.ports.first()?.name.clone(),
                }
            } else {
                String::new()
            };
            Some((e.name.value.clone(), port))
        })
        .collect()
}

/// Every project's URLs on the router (`ls`): project → URLs, for the projects that have names,
/// once a router port is recorded.
pub fn machine_urls(
    reg: &PortRegistry,
    nodes: &[KilterNode],
) -> std::collections::BTreeMap<String, Vec<String>> {
    let Some(port) = reg.router_port else { return Default::default() };
    records(Some(reg), nodes, &recorded_app)
        .iter()
        .map(|r| (r.name.clone(), names_of(r).into_iter().map(|(_, h)| url(&h, port)).collect()))
        .filter(|(_, v): &(String, Vec<String>)| !v.is_empty())
        .collect()
}

/// Every project the port registry knows, with the state of its node. `app_port` gives a
/// project's app NodePort (by name and port-registry entry) when it has an app.
pub fn records(
    reg: Option<&PortRegistry>,
    nodes: &[KilterNode],
    app_port: &dyn Fn(&str, &ports::Entry) -> Option<u16>,
) -> Vec<ProjectRecord> {
    let Some(reg) = reg else { return Vec::new() };
    reg.projects
        .iter()
        .map(|(name, entry)| {
            let node = format!("kilter-{name}-control-plane");
            let state = match nodes.iter().find(|n| n.project == *name) {
                Some(n) if n.running() => NodeState::Running,
                Some(_) => NodeState::Stopped,
                None => NodeState::Absent,
            };
            let (app, routes) =
                with_app_route(app_port(name, entry), ports::recorded_routes(&entry.services));
            ProjectRecord {
                name: name.clone(),
                dir: entry.dir.clone(),
                state,
                node,
                web: web_services(&entry.services, &entry.web),
                app,
                routes,
            }
        })
        .collect()
}

/// The app and the routes of a record: a route named `app` is the app of a project kilter
/// renders none for (the user's Tiltfile deploys it), so `<project>.localhost` and
/// `app.<project>.localhost` go to it. Only the `app` and `routes` fields are set.
pub fn with_app_route(
    app: Option<u16>,
    mut routes: Vec<(String, u16)>,
) -> (Option<u16>, Vec<(String, u16)>) {
    let app = match app {
        Some(port) => Some(port),
        None => routes.iter().position(|(n, _)| n == "app").map(|i| routes.remove(i).1),
    };
    (app, routes)
}

/// What the running command changes in one project's records, applied over what is on disk:
/// the routes are the run's end state even where the run's own writes are only printed (a dry
/// run's port registry and node are as they were).
#[derive(Debug, Clone, Copy)]
pub enum Change<'a> {
    /// `up`: the project runs from `dir`, with these services' NodePorts (and its routes', as
    /// `route:<name>`) and `http:` ports.
    Up {
        name: &'a str,
        dir: &'a Utf8Path,
        services: &'a NodePorts,
        web: &'a BTreeMap<String, String>,
        /// The app's NodePort when kilter renders the app.
        app: Option<u16>,
        /// `Running` after `up`; `Absent` after `kilter ci` deleted the cluster it created
        /// (the record as the run knows it: a dry run has none on disk).
        state: NodeState,
    },
    /// `stop` (`Stopped`) or `destroy` (`Absent`).
    State { name: &'a str, state: NodeState },
}

/// `records` with `change` applied.
pub fn apply(
    mut records: Vec<ProjectRecord>,
    change: Option<Change<'_>>,
    app_port: &dyn Fn(&str, &ports::Entry) -> Option<u16>,
) -> Vec<ProjectRecord> {
    match change {
        None => {}
        Some(Change::Up { name, dir, services, web, app, state }) => {
            let entry = ports::Entry {
                services: services.clone(),
                dir: Some(dir.to_owned()),
                web: web.clone(),
                app,
                ..ports::Entry::default()
            };
            let app_and_routes =
                with_app_route(app_port(name, &entry), ports::recorded_routes(services));
            let rec = ProjectRecord {
                name: name.to_owned(),
                dir: Some(dir.to_owned()),
                state,
                node: format!("kilter-{name}-control-plane"),
                web: web_services(services, web),
                app: app_and_routes.0,
                routes: app_and_routes.1,
            };
            match records.iter_mut().find(|r| r.name == name) {
                Some(r) => *r = rec,
                None => records.push(rec),
            }
        }
        Some(Change::State { name, state }) => {
            if let Some(r) = records.iter_mut().find(|r| r.name == name) {
                r.state = state;
            }
        }
    }
    records
}

/// For [`records`]: the app port a project's port-registry entry records (`up` records it when
/// kilter renders the project's app).
pub fn recorded_app(_project: &str, entry: &ports::Entry) -> Option<u16> {
    entry.app
}

/// What answers at a name.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Target {
    /// Proxied to `<node container>:<NodePort>` over the `kind` network.
    Proxy { dial: String },
    /// 503: the project is not running; the page says where to run `kilter up`.
    Down { project: String, dir: Option<Utf8PathBuf>, state: NodeState },
    /// 404: the project runs but has no route of that name; the page lists those it has.
    NoSuchName { project: String, names: Vec<String> },
}

/// One route: the hosts it matches (Caddy's host matcher; `*.p.localhost` is one label) and
/// what answers.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Route {
    pub hosts: Vec<String>,
    pub target: Target,
}

/// `<project>.localhost`
pub fn project_host(project: &str) -> String {
    format!("{project}.localhost")
}

/// `<service>.<project>.localhost`
pub fn service_host(service: &str, project: &str) -> String {
    format!("{service}.{project}.localhost")
}

/// `http://HOST` on port 80, `http://HOST:PORT` otherwise.
pub fn url(host: &str, port: u16) -> String {
    if port == 80 { format!("http://{host}") } else { format!("http://{host}:{port}") }
}

/// The names of one project that answer, with what they reach (for `env`, `status`, `ls`):
/// `(variable stem, host)`, the app first. A service named `app` gives way to the app.
pub fn names_of(record: &ProjectRecord) -> Vec<(String, String)> {
    let mut v = Vec::new();
    if record.app.is_some() {
        v.push(("APP".to_owned(), project_host(&record.name)));
    }
    for (service, _) in &record.web {
        if service == "app" && record.app.is_some() {
            continue;
        }
        v.push((
            format!("{}_WEB", service.to_ascii_uppercase().replace(['-', '.'], "_")),
            service_host(service, &record.name),
        ));
    }
    for (route, _) in &record.routes {
        v.push((
            format!("ROUTE_{}", route.to_ascii_uppercase().replace('-', "_")),
            service_host(route, &record.name),
        ));
    }
    v
}

/// The routes of every project, in the order Caddy tries them: each running project's names
/// first, then its catch-all (404 with the names it has); a stopped or destroyed one answers
/// 503 at every name. Projects in name order, so the same records give the same bytes.
pub fn routes(records: &[ProjectRecord]) -> Vec<Route> {
    let mut sorted: Vec<&ProjectRecord> = records.iter().collect();
    sorted.sort_by(|a, b| a.name.cmp(&b.name));
    let mut out = Vec::new();
    for r in sorted {
        let apex = project_host(&r.name);
        let wildcard = format!("*.{apex}");
        if r.state != NodeState::Running {
            out.push(Route {
                hosts: vec![apex, wildcard],
                target: Target::Down {
                    project: r.name.clone(),
                    dir: r.dir.clone(),
                    state: r.state,
                },
            });
            continue;
        }
        if let Some(port) = r.app {
            out.push(Route {
                hosts: vec![apex.clone(), service_host("app", &r.name)],
                target: Target::Proxy { dial: format!("{}:{port}", r.node) },
            });
        }
        for (service, port) in &r.web {
            if service == "app" && r.app.is_some() {
                continue;
            }
            out.push(Route {
                hosts: vec![service_host(service, &r.name)],
                target: Target::Proxy { dial: format!("{}:{port}", r.node) },
            });
        }
        for (route, port) in &r.routes {
            out.push(Route {
                hosts: vec![service_host(route, &r.name)],
                target: Target::Proxy { dial: format!("{}:{port}", r.node) },
            });
        }
        let names = names_of(r).into_iter().map(|(_, h)| h).collect();
        let mut hosts = vec![wildcard];
        if r.app.is_none() {
            hosts.insert(0, apex);
        }
        out.push(Route { hosts, target: Target::NoSuchName { project: r.name.clone(), names } });
    }
    out
}

/// Escape text for HTML, and `{` too: Caddy replaces `{placeholders}` in a response body.
fn html(s: &str) -> String {
    let mut o = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '&' => o.push_str("&amp;"),
            '<' => o.push_str("&lt;"),
            '>' => o.push_str("&gt;"),
            '"' => o.push_str("&quot;"),
            '{' => o.push_str("&#123;"),
            '}' => o.push_str("&#125;"),
            _ => o.push(c),
        }
    }
    o
}

fn page(title: &str, lines: &[String]) -> String {
    let mut s = format!(
        "<!doctype html>\n<html><head><meta charset=\"utf-8\"><title>{t}</title></head>\n<body style=\"font-family: sans-serif; margin: 3em\">\n<h1>{t}</h1>\n",
        t = html(title)
    );
    for l in lines {
        s.push_str(&format!("<p>{l}</p>\n"));
    }
    s.push_str("</body></html>\n");
    s
}

/// The 503 page of a project that is not running.
pub fn down_page(project: &str, dir: Option<&Utf8Path>, state: NodeState) -> String {
    let what = match state {
        NodeState::Stopped => "is stopped",
        _ => "has no cluster",
    };
    let run = match dir {
        Some(d) => {
            format!("Run <code>kilter up</code> in <code>{}</code> to start it.", html(d.as_str()))
        }
        None => "Run <code>kilter up</code> in its directory to start it.".to_owned(),
    };
    page(&format!("kilter project {project} {what}"), &[run])
}

fn no_such_page(project: &str, names: &[String]) -> String {
    let mut lines = vec![format!(
        "Project <code>{}</code> runs, but nothing answers at this name.",
        html(project)
    )];
    if names.is_empty() {
        lines.push(
            "It has no app and no service with a web UI yet (<code>kilter env</code> lists its addresses)."
                .to_owned(),
        );
    } else {
        let list: Vec<String> = names.iter().map(|h| format!("<code>{}</code>", html(h))).collect();
        lines.push(format!("Its names: {}", list.join(", ")));
    }
    page("No such name", &lines)
}

fn static_response(status: u16, body: String) -> Value {
    json!({
        "handler": "static_response",
        "status_code": status,
        "headers": {"Content-Type": ["text/html; charset=utf-8"]},
        "body": body,
    })
}

/// Caddy's JSON configuration for `routes`: one HTTP server on the container's port 80, no
/// automatic HTTPS, the routes in order, and a last 404 for any other name. Deterministic: the
/// same routes give the same bytes (and none depends on the host port, so the file is written
/// once, before the router is created).
pub fn render(routes: &[Route]) -> String {
    let mut list: Vec<Value> = routes
        .iter()
        .map(|r| {
            let handle = match &r.target {
                Target::Proxy { dial } => {
                    json!({"handler": "reverse_proxy", "upstreams": [{"dial": dial}]})
                }
                Target::Down { project, dir, state } => {
                    static_response(503, down_page(project, dir.as_deref(), *state))
                }
                Target::NoSuchName { project, names } => {
                    static_response(404, no_such_page(project, names))
                }
            };
            json!({"match": [{"host": r.hosts}], "handle": [handle], "terminal": true})
        })
        .collect();
    list.push(json!({
        "handle": [static_response(404, page("No such name", &[
            "No kilter project answers at <code>{http.request.host}</code>. <code>kilter ls</code> lists the projects on this machine.".to_owned(),
        ]))],
        "terminal": true,
    }));
    let config = json!({
        "admin": {"listen": ADMIN_LISTEN},
        "apps": {"http": {"servers": {"kilter": {
            "listen": [":80"],
            "automatic_https": {"disable": true},
            "routes": list,
        }}}},
    });
    let mut s = serde_json::to_string_pretty(&config).unwrap_or_default();
    s.push('\n');
    s
}

// ---------------------------------------------------------------------------------------------
// The container.

/// Whether a container is kilter's router: it carries `io.kilter.shared=router`. A same-named
/// container without it is someone else's and is never started, reloaded, stopped or removed.
pub fn is_kilters(c: &Container) -> bool {
    c.label(SHARED_LABEL) == Some(ROLE)
}

/// What stops kilter at a same-named container it did not create (exit 1).
pub fn in_the_way(name: &str) -> Exit {
    Exit::new(
        Code::Failed,
        format!(
            "docker container {name} is in the way: kilter did not create it (no `{SHARED_LABEL}={ROLE}` label)"
        ),
    )
    .hint(format!(
        "kilter leaves it alone: rename it out of the way (`docker rename {name} {name}-old`) or remove it if it is not needed; or give kilter's shared containers other names with KILTER_REGISTRY_PREFIX (`KILTER_ROUTER=off` runs without the router)"
    ))
}

/// The recorded router port, if any.
pub fn recorded_port(ports_path: &Utf8Path) -> Result<Option<u16>> {
    ports::shared_port(ports_path, ports::Shared::Router)
}

/// The first port of `candidates` that is not busy.
pub fn pick_port(
    candidates: impl IntoIterator<Item = u16>,
    busy: impl Fn(u16) -> bool,
) -> Option<u16> {
    candidates.into_iter().find(|p| !busy(*p))
}

/// The ports to try, in order: the recorded one, the preferred one, then 8080–8099.
pub fn candidates(recorded: Option<u16>, preferred: u16) -> Vec<u16> {
    let mut v: Vec<u16> = Vec::new();
    for p in recorded.into_iter().chain([preferred]).chain(FALLBACK_PORTS) {
        if !v.contains(&p) {
            v.push(p);
        }
    }
    v
}

/// What a sync did, for the callers' messages.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Synced {
    /// The host port the router is published on (when it exists).
    pub port: Option<u16>,
    pub created: bool,
    pub started: bool,
    pub reloaded: bool,
}

/// What managing the router needs.
pub struct Machine<'a, 'r> {
    pub runner: &'a Runner<'r>,
    pub ui: &'a Ui,
    pub docker: &'a Docker<'a>,
    pub settings: &'a Settings,
    pub dirs: &'a Dirs,
    pub ports_path: Utf8PathBuf,
    /// `router.lock` in the state dir: one kilter at a time regenerates the configuration.
    pub lock_path: Utf8PathBuf,
    /// This run created or started the router already (`kilter ci` after its deletion): the
    /// dry run, which inspects a router that was only printed, reloads it as the real run does.
    pub made: bool,
}

impl<'a, 'r> Machine<'a, 'r> {
    pub fn new(
        runner: &'a Runner<'r>,
        ui: &'a Ui,
        docker: &'a Docker<'a>,
        settings: &'a Settings,
        dirs: &'a Dirs,
    ) -> Self {
        Machine {
            runner,
            ui,
            docker,
            settings,
            dirs,
            ports_path: dirs.port_registry(),
            lock_path: dirs.state.join("router.lock"),
            made: false,
        }
    }

    /// `docker inspect` of the router (`None`: absent).
    pub fn inspect(&self) -> Result<Option<Container>> {
        let cmd = self.docker.inspect_cmd(&self.settings.name);
        let out = self.runner.run_unchecked(&cmd)?;
        crate::tools::docker::interpret_inspect(self.runner, &cmd, &out)
    }

    /// The router as inspected, refusing (exit 1) one that is not kilter's.
    pub fn inspect_ours(&self) -> Result<Option<Container>> {
        let c = self.inspect()?;
        if let Some(c) = &c
            && !is_kilters(c)
        {
            return Err(in_the_way(&self.settings.name).into());
        }
        Ok(c)
    }

    /// Every project's records: the port registry and one `docker ps -a` of the kind nodes.
    pub fn records(
        &self,
        app_port: &dyn Fn(&str, &ports::Entry) -> Option<u16>,
    ) -> Result<Vec<ProjectRecord>> {
        let reg = PortRegistry::load(&self.ports_path)?;
        let nodes = self.docker.kilter_nodes(self.runner)?;
        Ok(records(reg.as_ref(), &nodes, app_port))
    }

    /// Record the router's port in the port registry (when it differs).
    pub fn record_port(&self, port: u16) -> Result<()> {
        ports::record_shared_port(&self.ports_path, self.runner, ports::Shared::Router, port)
    }

    /// The configuration as it is on disk (empty when there is none).
    fn written(&self) -> String {
        std::fs::read_to_string(config_path(self.dirs)).unwrap_or_default()
    }

    fn write_config(&self, text: &str) -> Result<()> {
        self.runner.write_file(
            &config_path(self.dirs),
            &Content::text(text.to_owned()),
            Perm::Private(0o644),
        )
    }

    /// Regenerate the configuration from every project's records, and reload a running
    /// router when it changed. With `create`, make the router exist and run first (`up`, `kilter
    /// router start`); without, a missing or stopped router only gets its file (it reads it
    /// when it starts). A same-named container that is not kilter's: exit 1, nothing touched.
    pub fn sync(
        &self,
        create: bool,
        change: Option<Change<'_>>,
        app_port: &dyn Fn(&str, &ports::Entry) -> Option<u16>,
    ) -> Result<Synced> {
        let timeout = crate::lock::default_timeout()?;
        let _lock = self.runner.lock(&self.lock_path, "the shared router", "kilter", timeout)?;
        let container = self.inspect_ours()?;
        let mut done = Synced::default();
        let port = match &container {
            Some(c) => c.configured_port(CONTAINER_PORT),
            None if create => Some(self.plan_port()?),
            None => None,
        };
        let routes = routes(&apply(self.records(app_port)?, change, app_port));
        let text = render(&routes);
        let changed = self.written() != text;
        if changed {
            self.write_config(&text)?;
        }
        match container {
            None if create => {
                let planned = port.unwrap_or(self.settings.preferred_port);
                let got = self.create(planned)?;
                done.port = Some(got);
                done.created = true;
            }
            None if self.made && self.runner.planning() && changed => {
                self.reload()?;
                done.reloaded = true;
            }
            None => {}
            Some(c) => {
                done.port = port;
                if let Some(p) = port {
                    self.record_port(p)?;
                }
                if !c.on_network(KIND_NETWORK) {
                    let cmd = self.docker.network_connect_cmd(KIND_NETWORK, &self.settings.name);
                    let out = self.runner.run_unchecked(&cmd)?;
                    if !out.success() && !docker::already_on_network(&out.stderr) {
                        return Err(self.runner.failed(&cmd, &out, None).into());
                    }
                }
                let running = c.state.running || c.state.status == "restarting";
                if !running && create {
                    self.runner.run(&self.docker.start_cmd(&self.settings.name))?;
                    done.started = true;
                } else if running && changed {
                    self.reload()?;
                    done.reloaded = true;
                }
            }
        }
        Ok(done)
    }

    /// `docker exec <router> caddy reload --config …`: Caddy swaps the configuration in
    /// without dropping a connection; an invalid one is refused and the old one stays.
    pub fn reload(&self) -> Result<()> {
        let cmd = caddy::reload_cmd(self.docker, &self.settings.name, &mounted_config());
        let out = self.runner.run_unchecked(&cmd)?;
        if out.success() {
            return Ok(());
        }
        Err(self
            .runner
            .failed(
                &cmd,
                &out,
                Some(format!(
                    "the router keeps its previous routes; {} is the configuration kilter wrote",
                    config_path(self.dirs)
                )),
            )
            .into())
    }

    /// The port to create the router on: the recorded one, 80, then 8080–8099, past busy ones
    /// (saying so when it is not 80).
    pub fn plan_port(&self) -> Result<u16> {
        let recorded = recorded_port(&self.ports_path)?;
        self.free_port(&candidates(recorded, self.settings.preferred_port), None)
    }

    fn free_port(&self, list: &[u16], after: Option<u16>) -> Result<u16> {
        let from = after.and_then(|a| list.iter().position(|p| *p == a)).map_or(0, |i| i + 1);
        let port = pick_port(list[from.min(list.len())..].iter().copied(), ports::port_busy)
            .ok_or_else(|| {
                Exit::new(
                    Code::Failed,
                    format!(
                        "no free port for the router: {} and 8080-8099 are all in use",
                        self.settings.preferred_port
                    ),
                )
                .hint("free one of them, or `KILTER_ROUTER=off` to run without names")
            })?;
        Ok(port)
    }

    /// `docker run` the router on `planned` (moving on when docker finds the port taken);
    /// records and returns the port.
    fn create(&self, planned: u16) -> Result<u16> {
        let name = &self.settings.name;
        let step = self
            .ui
            .step(&format!("Creating the router {name}"), &format!("create the router {name}"));
        let list = candidates(recorded_port(&self.ports_path)?, self.settings.preferred_port);
        let mut port = planned;
        for _ in 0..list.len() {
            let spec = caddy::RouterSpec {
                name: name.clone(),
                image: self.settings.image.clone(),
                host_port: port,
                network: KIND_NETWORK.to_owned(),
                config_dir: config_dir(self.dirs).to_string(),
                mount: CONFIG_MOUNT.to_owned(),
                config: mounted_config(),
                labels: vec![(SHARED_LABEL.to_owned(), ROLE.to_owned())],
            };
            let cmd = caddy::run_cmd(self.docker, &spec);
            let out = self.runner.run_unchecked(&cmd)?;
            if out.success() {
                self.record_port(port)?;
                step.done();
                if port != self.settings.preferred_port {
                    self.ui.note(&format!(
                        "port {} cannot be bound here; the router uses 127.0.0.1:{port} (every URL shows it)",
                        self.settings.preferred_port
                    ));
                }
                return Ok(port);
            }
            let taken = caddy::publish_refused(&out.stderr);
            if !taken {
                return Err(self
                    .runner
                    .failed(&cmd, &out, Some(run_hint(&out.stderr, &self.settings.image)))
                    .into());
            }
            // docker created the container before it failed to publish the port.
            self.runner.run(&self.docker.rm_force_cmd(std::slice::from_ref(name)))?;
            port = self.free_port(&list, Some(port))?;
        }
        Err(Exit::new(Code::Failed, "could not publish the router on a free port")
            .hint("free port 80 or one of 8080-8099, or `KILTER_ROUTER=off`")
            .into())
    }
}

fn run_hint(stderr: &str, image: &str) -> String {
    if docker::name_in_use(stderr) {
        "a container of that name exists: `kilter router status` shows it".into()
    } else if docker::image_unavailable(stderr) {
        format!(
            "docker could not get the image {image}; set KILTER_ROUTER_IMAGE to one you have, or `KILTER_ROUTER=off`"
        )
    } else if caddy::network_missing(stderr) {
        "the router joins kind's `kind` network, which the first cluster creates: `kilter up` a project first".into()
    } else {
        "`KILTER_ROUTER=off` (or `router: false` in kilter.yaml) runs without the router".into()
    }
}

/// Whether `<name>.localhost` resolves to the loopback here (the system resolver, as
/// `getaddrinfo` sees it): `Ok(addresses)` with every address loopback, `Err(what it found)`.
pub fn localhost_resolves(name: &str) -> Result<Vec<std::net::IpAddr>, String> {
    use std::net::ToSocketAddrs as _;
    match (name, 80).to_socket_addrs() {
        Ok(addrs) => {
            let ips: Vec<std::net::IpAddr> = addrs.map(|a| a.ip()).collect();
            if !ips.is_empty() && ips.iter().all(|ip| ip.is_loopback()) {
                Ok(ips)
            } else if ips.is_empty() {
                Err("no address".to_owned())
            } else {
                Err(ips.iter().map(ToString::to_string).collect::<Vec<_>>().join(", "))
            }
        }
        Err(e) => Err(e.to_string()),
    }
}

#[cfg(test)]
mod tests;
