//! Every project's records as far as the router cares (the port registry's entries and the
//! states of the kind nodes), and what the running command changes in them. Pure.

use std::collections::BTreeMap;

use camino::{Utf8Path, Utf8PathBuf};
use serde::Serialize;

use super::{names_of, url};
use crate::ports::{self, NodePorts, Registry as PortRegistry};
use crate::tools::docker::KilterNode;

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
                // A catalog service keeps its port names (`port:` only renumbers the first), so
                // its web port is always one of its ports.
                match crate::services::catalog::web_port(&service.name) {
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
    records(Some(reg), nodes)
        .iter()
        .map(|r| (r.name.clone(), names_of(r).into_iter().map(|(_, h)| url(&h, port)).collect()))
        .filter(|(_, v): &(String, Vec<String>)| !v.is_empty())
        .collect()
}

/// Every project the port registry knows, with the state of its node.
pub fn records(reg: Option<&PortRegistry>, nodes: &[KilterNode]) -> Vec<ProjectRecord> {
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
            let (app, routes) = with_app_route(entry.app, ports::recorded_routes(&entry.services));
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
pub fn apply(mut records: Vec<ProjectRecord>, change: Option<Change<'_>>) -> Vec<ProjectRecord> {
    match change {
        None => {}
        Some(Change::Up { name, dir, services, web, app, state }) => {
            let app_and_routes = with_app_route(app, ports::recorded_routes(services));
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
