//! Services from kilter.yaml: a catalog name becomes a running, wired service.
//!
//! - `catalog.rs` — the catalog (`postgres`, `redis`, `mailpit`, `nats`, `rabbitmq`, `minio`).
//! - this file — [`resolve`]: `services:` entries (bare catalog names, overrides of catalog
//!   entries, inline services) into [`Service`]s, with `file:line:column` errors; the default
//!   `database:` a `postgres` service gives.
//! - `template.rs` — `{{ .Namespace }}`, `{{ .Port }}`, `{{ .NodePort }}`, … placeholders.
//! - `wiring.rs` — what a service provides once its NodePorts are known: host and in-cluster
//!   addresses, credentials, `provides:` variables (in-cluster for Tilt, host for `kilter env`).
//! - `render.rs` + `yaml.rs` — the manifests (StatefulSet or Deployment, Service of type
//!   NodePort, PersistentVolumeClaim).
//! - `deploy.rs` — applying, deleting and waiting, through the runner.
//!
//! A service with a volume runs as a StatefulSet with a PersistentVolumeClaim `<name>-data`; one
//! without as a Deployment. Either way the workload and the Service are named after the service,
//! so `kilter logs|restart|exec <service>` find it.

pub mod catalog;
pub mod deploy;
mod render;
mod template;
pub mod wiring;
mod yaml;

#[cfg(test)]
mod tests;

use std::collections::BTreeMap;

use camino::Utf8Path;

use crate::config::{self, Database, Pos, ServiceEntry, Volume, error_at, suggest};
use crate::error::Exit;

pub use catalog::{CATALOG, CatalogEntry, Probe};
pub use render::{MANAGED_BY, NAME_LABEL, manifests};
pub use wiring::{Wired, dotenv, wire};
pub(crate) use yaml::to_yaml;

pub use crate::ports::NodePorts;

/// One port of a resolved service.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Port {
    pub name: String,
    pub port: u16,
}

/// A persistent volume.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Mount {
    pub path: String,
    pub size: String,
}

/// Deployment or StatefulSet.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum WorkloadKind {
    Deployment,
    StatefulSet,
}

impl WorkloadKind {
    /// `deployment` / `statefulset`, as kubectl names the type.
    pub fn as_str(self) -> &'static str {
        match self {
            WorkloadKind::Deployment => "deployment",
            WorkloadKind::StatefulSet => "statefulset",
        }
    }
}

/// A service with its catalog defaults and overrides applied. Values are still templates.
#[derive(Debug, Clone, PartialEq)]
pub struct Service {
    pub name: String,
    /// The catalog entry it starts from (`None`: defined inline).
    pub catalog: Option<&'static str>,
    pub image: String,
    /// The first is the service's `{{ .Port }}`.
    pub ports: Vec<Port>,
    pub env: Vec<(String, String)>,
    pub provides: Vec<(String, String)>,
    pub credentials: Vec<(String, String)>,
    pub args: Vec<String>,
    pub volume: Option<Mount>,
    pub probe: Probe,
    /// Where kilter.yaml lists it.
    pub at: Pos,
}

impl Service {
    pub fn kind(&self) -> WorkloadKind {
        if self.volume.is_some() { WorkloadKind::StatefulSet } else { WorkloadKind::Deployment }
    }
    /// `statefulset/postgres`, as kubectl names the workload.
    pub fn reference(&self) -> String {
        format!("{}/{}", self.kind().as_str(), self.name)
    }
    /// The PersistentVolumeClaim holding its data.
    pub fn claim(&self) -> Option<String> {
        self.volume.as_ref().map(|_| format!("{}-data", self.name))
    }
    pub fn port_names(&self) -> Vec<String> {
        self.ports.iter().map(|p| p.name.clone()).collect()
    }
}

/// Variables a service may not provide: kilter sets them itself, or the shell needs them.
const RESERVED: &[&str] = &["KUBECONFIG", "PATH", "HOME", "SHELL", "USER", "PWD"];

/// Turn the `services:` of kilter.yaml (at `path`, for messages) into services. Every problem is
/// exit 4 at the `file:line:column` of the entry or field: an unknown catalog name (with "did
/// you mean"), an inline service without `image` or `port`, a `provides:` variable that is not
/// a shell name or that two services both provide, an unknown placeholder, more ports than a
/// project's NodePort block holds.
pub fn resolve(path: &Utf8Path, entries: &[ServiceEntry]) -> Result<Vec<Service>, Exit> {
    let mut out: Vec<Service> = Vec::with_capacity(entries.len());
    let mut provided: BTreeMap<String, (String, Pos)> = BTreeMap::new();
    for (index, entry) in entries.iter().enumerate() {
        let field = format!("services[{index}]");
        let service = resolve_one(path, &field, entry)?;
        for (name, _) in &service.provides {
            let at = entry.provides.iter().find(|v| v.name == *name).map_or(entry.at, |v| v.at);
            if let Some((other, first)) = provided.get(name) {
                return Err(error_at(
                    path,
                    at,
                    format_args!(
                        "{field}: `{}` provides `{name}`, which `{other}` (line {}) provides already",
                        service.name, first.line
                    ),
                )
                .hint(format!(
                    "give one of them another variable name under `provides:`, e.g.\n  - name: {}\n    provides:\n      {}_{name}: …",
                    service.name,
                    service.name.to_ascii_uppercase().replace('-', "_")
                )));
            }
            provided.insert(name.clone(), (service.name.clone(), at));
        }
        out.push(service);
    }
    let total: usize = out.iter().map(|s| s.ports.len()).sum();
    if total > usize::from(crate::ports::BLOCK) {
        return Err(exhausted(&out, total));
    }
    Ok(out)
}

/// More ports than a NodePort block holds.
pub fn exhausted(services: &[Service], total: usize) -> Exit {
    let list: Vec<String> =
        services.iter().map(|s| format!("{} ({})", s.name, s.ports.len())).collect();
    crate::error::invalid(format!(
        "the services need {total} NodePorts, but a project's block has {}: {}",
        crate::ports::BLOCK,
        list.join(", ")
    ))
    .hint("remove a service from `services:` in kilter.yaml, or run the extra ones from your Tiltfile")
}

fn resolve_one(path: &Utf8Path, field: &str, entry: &ServiceEntry) -> Result<Service, Exit> {
    let name = entry.name.value.clone();
    let base = catalog::find(&name);
    let catalog_list = catalog::names().join(", ");
    if entry.bare && base.is_none() {
        let mut error = error_at(
            path,
            entry.name.at,
            format_args!("{field}: `{name}` is not a catalog service"),
        );
        error = match suggest(&name, &catalog::names()) {
            Some(close) => error.hint(format!(
                "did you mean `{close}`? The catalog has {catalog_list} (`kilter catalog` lists them)"
            )),
            None => error.hint(format!(
                "the catalog has {catalog_list}; define your own with a mapping, e.g.\n  - name: {name}\n    image: ghcr.io/acme/{name}:dev\n    port: 8080"
            )),
        };
        return Err(error);
    }
    let mut service = match base {
        Some(b) => Service {
            name: name.clone(),
            catalog: Some(b.name),
            image: b.image.to_owned(),
            ports: b.ports.iter().map(|p| Port { name: p.name.to_owned(), port: p.port }).collect(),
            env: b.env.iter().map(|(k, v)| ((*k).to_owned(), (*v).to_owned())).collect(),
            provides: b.provides.iter().map(|(k, v)| ((*k).to_owned(), (*v).to_owned())).collect(),
            credentials: b
                .credentials
                .iter()
                .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
                .collect(),
            args: b.args.iter().map(|s| (*s).to_owned()).collect(),
            volume: b.volume.map(|(p, s)| Mount { path: p.to_owned(), size: s.to_owned() }),
            probe: b.probe.to_probe(),
            at: entry.at,
        },
        None => {
            let missing: Vec<&str> =
                [("image", entry.image.is_none()), ("port", entry.port.is_none())]
                    .into_iter()
                    .filter_map(|(k, m)| m.then_some(k))
                    .collect();
            if !missing.is_empty() {
                let error = error_at(
                    path,
                    entry.at,
                    format_args!(
                        "{field}: `{name}` is not a catalog service, so it needs {}",
                        missing.iter().map(|m| format!("`{m}`")).collect::<Vec<_>>().join(" and ")
                    ),
                );
                return Err(match suggest(&name, &catalog::names()) {
                    Some(close) => error.hint(format!(
                        "did you mean the catalog's `{close}`? (the catalog has {catalog_list})"
                    )),
                    None => error.hint(format!(
                        "an inline service names its image and the port it listens on, e.g.\n  - name: {name}\n    image: ghcr.io/acme/{name}:dev\n    port: 8080"
                    )),
                });
            }
            Service {
                name: name.clone(),
                catalog: None,
                image: String::new(),
                ports: vec![Port { name: "main".to_owned(), port: 0 }],
                env: Vec::new(),
                provides: Vec::new(),
                credentials: Vec::new(),
                args: Vec::new(),
                volume: None,
                probe: Probe::Tcp { port: "main".to_owned() },
                at: entry.at,
            }
        }
    };
    if let Some(image) = &entry.image {
        if image.value.trim().is_empty() || image.value.chars().any(char::is_whitespace) {
            return Err(error_at(
                path,
                image.at,
                format_args!("{field}.image: {:?} is not an image reference", image.value),
            )
            .hint("e.g. `postgres:16` or `ghcr.io/acme/api:dev`"));
        }
        service.image = image.value.clone();
    }
    if let Some(port) = &entry.port {
        if let Some(clash) = service.ports.iter().skip(1).find(|p| p.port == port.value) {
            return Err(error_at(
                path,
                port.at,
                format_args!(
                    "{field}.port: {} is already `{name}`'s `{}` port",
                    port.value, clash.name
                ),
            ));
        }
        if let Some(first) = service.ports.first_mut() {
            first.port = port.value;
        }
    }
    for var in &entry.env {
        if var.name.contains('=') {
            return Err(error_at(
                path,
                var.at,
                format_args!(
                    "{field}.env: `{}` is not a variable name (it contains `=`)",
                    var.name
                ),
            ));
        }
        template::check(&var.value, false).map_err(|why| {
            error_at(path, var.at, format_args!("{field}.env.{}: {why}", var.name))
        })?;
        match service.env.iter_mut().find(|(k, _)| *k == var.name) {
            Some(slot) => slot.1 = var.value.clone(),
            None => service.env.push((var.name.clone(), var.value.clone())),
        }
    }
    for var in &entry.provides {
        if !is_shell_name(&var.name) {
            return Err(error_at(
                path,
                var.at,
                format_args!(
                    "{field}.provides: `{}` is not a variable name a shell can export",
                    var.name
                ),
            )
            .hint("use letters, digits and `_`, not starting with a digit, e.g. `DATABASE_URL`"));
        }
        if RESERVED.contains(&var.name.as_str()) || var.name.starts_with("KILTER_") {
            return Err(error_at(
                path,
                var.at,
                format_args!(
                    "{field}.provides: `{}` is kilter's own (or the shell's); a service cannot provide it",
                    var.name
                ),
            ));
        }
        match service.provides.iter_mut().find(|(k, _)| *k == var.name) {
            Some(slot) => slot.1 = var.value.clone(),
            None => service.provides.push((var.name.clone(), var.value.clone())),
        }
    }
    // Every provided value (catalog ones too) must expand with this service's env.
    for (k, v) in &service.provides {
        let at = entry.provides.iter().find(|p| p.name == *k).map_or(entry.at, |p| p.at);
        template::check(v, true)
            .and_then(|()| check_env_refs(v, &service.env))
            .map_err(|why| error_at(path, at, format_args!("{field}.provides.{k}: {why}")))?;
    }
    if let Some(volume) = &entry.volume {
        service.volume = match &volume.value {
            Volume::Off => None,
            Volume::Mount { path: mount, size } => {
                let base = service.volume.clone();
                let Some(mount) = mount.clone().or_else(|| base.as_ref().map(|b| b.path.clone()))
                else {
                    return Err(error_at(
                        path,
                        volume.at,
                        format_args!(
                            "{field}.volume: `{name}` has no default mount path; give one"
                        ),
                    )
                    .hint("e.g. `volume: /var/lib/data` or `volume: {path: /data, size: 2Gi}`"));
                };
                let size = size
                    .clone()
                    .or_else(|| base.map(|b| b.size))
                    .unwrap_or_else(|| "1Gi".to_owned());
                Some(Mount { path: mount, size })
            }
        };
    }
    Ok(service)
}

/// `{{ .Env.VAR }}` must name one of the service's env variables.
fn check_env_refs(text: &str, env: &[(String, String)]) -> Result<(), String> {
    let vars = template::Vars {
        namespace: "",
        project: "",
        name: "",
        port: 0,
        node_port: 0,
        env: Some(env),
    };
    template::expand(text, &vars).map(|_| ())
}

/// A name `export NAME=…` accepts: `[A-Za-z_][A-Za-z0-9_]*`.
pub fn is_shell_name(s: &str) -> bool {
    let mut chars = s.chars();
    chars.next().is_some_and(|c| c.is_ascii_alphabetic() || c == '_')
        && chars.all(|c| c.is_ascii_alphanumeric() || c == '_')
}

/// The `database:` a project gets when kilter.yaml has none: its first PostgreSQL service (the
/// catalog's `postgres`, or an inline service of a `postgres` image), with that service's user
/// and database (`POSTGRES_USER`, `POSTGRES_DB`). `project` fills in `{{ .Project }}`.
pub fn default_database(entries: &[ServiceEntry], project: &str) -> Option<Database> {
    let entry = entries.iter().find(|e| {
        e.name.value == "postgres"
            || (catalog::find(&e.name.value).is_none()
                && e.image.as_ref().is_some_and(|i| is_postgres_image(&i.value)))
    })?;
    let env_value = |key: &str, default: &str| -> String {
        let value = entry
            .env
            .iter()
            .find(|v| v.name == key)
            .map(|v| v.value.clone())
            .or_else(|| {
                catalog::find(&entry.name.value)
                    .and_then(|c| c.env.iter().find(|(k, _)| *k == key))
                    .map(|(_, v)| (*v).to_owned())
            })
            .unwrap_or_else(|| default.to_owned());
        value.replace("{{ .Project }}", project).replace("{{.Project}}", project)
    };
    let user = env_value("POSTGRES_USER", "postgres");
    let name = env_value("POSTGRES_DB", &user);
    Some(Database {
        engine: config::Engine::Postgres,
        service: entry.name.value.clone(),
        user,
        name: Some(name),
    })
}

/// `postgres:16`, `docker.io/library/postgres@sha256:…`, `library/postgres`.
fn is_postgres_image(image: &str) -> bool {
    let repo = image.split(['@']).next().unwrap_or(image);
    let repo = match repo.rsplit_once(':') {
        Some((r, tag)) if !tag.contains('/') => r,
        _ => repo,
    };
    matches!(repo, "postgres" | "library/postgres" | "docker.io/library/postgres")
}

/// Each service's port names, for NodePort assignment.
pub fn wanted_ports(services: &[Service]) -> Vec<(String, Vec<String>)> {
    services.iter().map(|s| (s.name.clone(), s.port_names())).collect()
}

/// Wire every service (see `wiring.rs`).
pub fn wire_all(
    services: &[Service],
    project: &str,
    namespace: &str,
    nodeports: &NodePorts,
) -> anyhow::Result<Vec<Wired>> {
    services
        .iter()
        .map(|s| {
            wire(s, project, namespace, nodeports.get(&s.name))
                .map_err(|why| anyhow::anyhow!("service `{}`: {why}", s.name))
        })
        .collect()
}

/// The `provides:` variables with their in-cluster values (Tilt's environment).
pub fn cluster_env(wired: &[Wired]) -> Vec<(String, String)> {
    wired
        .iter()
        .flat_map(|w| w.provides.iter().map(|p| (p.name.clone(), p.cluster.clone())))
        .collect()
}

/// The `provides:` variables with their host values (`kilter env`, `--dotenv`).
pub fn host_env(wired: &[Wired]) -> Vec<(String, String)> {
    wired.iter().flat_map(|w| w.provides.iter().map(|p| (p.name.clone(), p.host.clone()))).collect()
}
