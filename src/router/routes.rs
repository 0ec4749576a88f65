//! The names a project answers at and the routes Caddy tries, in order. Pure, but for
//! [`localhost_resolves`], which asks the system resolver.

use camino::Utf8PathBuf;

use super::{NodeState, ProjectRecord};

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
