//! What a service gives the project once its NodePorts are known: where it is (on the host and
//! in the cluster), its credentials, and its `provides:` variables in both forms.
//!
//! A `provides:` value is written for the cluster (`postgres://…@postgres.shop-dev.svc:5432/…`).
//! Its host form is the same text with the service's in-cluster address —
//! `<name>.<namespace>.svc.cluster.local:<port>`, `<name>.<namespace>.svc:<port>`,
//! `<name>.<namespace>:<port>`, or `<name>:<port>` right after `//`, `@` or at the start — replaced
//! by `127.0.0.1:<NodePort>` of that port. Tilt gets the cluster form; `kilter env` and
//! `kilter env --dotenv` the host form.

use std::collections::BTreeMap;

use serde::Serialize;

use super::template::{self, Vars};
use super::{Service, WorkloadKind};

/// One port of a wired service.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct WiredPort {
    pub name: String,
    pub port: u16,
    /// `None`: no NodePort assigned yet.
    pub node_port: Option<u16>,
    /// `127.0.0.1:<nodeport>` (`None` without a NodePort).
    pub host: Option<String>,
    /// `<service>.<namespace>.svc:<port>`
    pub cluster: String,
}

/// A `provides:` variable in both forms.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Provided {
    pub name: String,
    /// The value for programs on the host (`kilter env`).
    pub host: String,
    /// The value inside the cluster (Tilt's environment).
    pub cluster: String,
}

/// A service with every template expanded.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Wired {
    pub name: String,
    pub image: String,
    /// `statefulset` or `deployment`
    pub kind: String,
    /// `statefulset/postgres`
    pub workload: String,
    pub ports: Vec<WiredPort>,
    /// The container's environment.
    #[serde(skip)]
    pub env: Vec<(String, String)>,
    /// Readiness probe command words, expanded (exec probes only).
    #[serde(skip)]
    pub probe_exec: Vec<String>,
    pub credentials: BTreeMap<String, String>,
    pub provides: Vec<Provided>,
    /// The PersistentVolumeClaim holding its data.
    pub volume: Option<String>,
}

impl Wired {
    /// The first port's host address.
    pub fn host(&self) -> Option<&str> {
        self.ports.first().and_then(|p| p.host.as_deref())
    }
    /// The first port's in-cluster address.
    pub fn cluster(&self) -> &str {
        self.ports.first().map_or("", |p| p.cluster.as_str())
    }
}

/// Expand `service`'s templates for project `project` (namespace `namespace`) with its
/// NodePorts (`nodeports`: port name → NodePort; a port without one has no host address).
pub fn wire(
    service: &Service,
    project: &str,
    namespace: &str,
    nodeports: Option<&BTreeMap<String, u16>>,
) -> Result<Wired, String> {
    let node_port = |name: &str| nodeports.and_then(|n| n.get(name)).copied();
    let first = service.ports.first();
    let vars = Vars {
        namespace,
        project,
        name: &service.name,
        port: first.map_or(0, |p| p.port),
        node_port: first.and_then(|p| node_port(&p.name)).unwrap_or(0),
        env: None,
    };
    let mut env = Vec::with_capacity(service.env.len());
    for (k, v) in &service.env {
        env.push((k.clone(), template::expand(v, &vars)?));
    }
    let with_env = Vars { env: Some(&env), ..vars.clone() };
    let ports: Vec<WiredPort> = service
        .ports
        .iter()
        .map(|p| {
            let np = node_port(&p.name);
            WiredPort {
                name: p.name.clone(),
                port: p.port,
                node_port: np,
                host: np.map(|n| format!("127.0.0.1:{n}")),
                cluster: format!("{}.{namespace}.svc:{}", service.name, p.port),
            }
        })
        .collect();
    let mut provides = Vec::with_capacity(service.provides.len());
    for (k, v) in &service.provides {
        let cluster = template::expand(v, &with_env)?;
        let host = host_form(&cluster, &service.name, namespace, &ports);
        provides.push(Provided { name: k.clone(), host, cluster });
    }
    let mut credentials = BTreeMap::new();
    for (k, v) in &service.credentials {
        credentials.insert(k.clone(), template::expand(v, &with_env)?);
    }
    let probe_exec = match &service.probe {
        super::Probe::Exec(argv) => {
            argv.iter().map(|a| template::expand(a, &vars)).collect::<Result<Vec<_>, _>>()?
        }
        _ => Vec::new(),
    };
    let kind = service.kind();
    Ok(Wired {
        name: service.name.clone(),
        image: service.image.clone(),
        kind: kind.as_str().to_owned(),
        workload: service.reference(),
        ports,
        env,
        probe_exec,
        credentials,
        provides,
        volume: match kind {
            WorkloadKind::StatefulSet => service.claim(),
            WorkloadKind::Deployment => None,
        },
    })
}

/// The host form of an in-cluster value (see the module docs).
fn host_form(value: &str, name: &str, namespace: &str, ports: &[WiredPort]) -> String {
    let mut out = value.to_owned();
    for p in ports {
        let Some(host) = &p.host else { continue };
        for addr in [
            format!("{name}.{namespace}.svc.cluster.local:{}", p.port),
            format!("{name}.{namespace}.svc:{}", p.port),
            format!("{name}.{namespace}:{}", p.port),
        ] {
            out = replace_address(&out, &addr, host, false);
        }
        out = replace_address(&out, &format!("{name}:{}", p.port), host, true);
    }
    out
}

/// Replace `addr` by `with` where it is not followed by another digit (`:5432` is not `:54321`)
/// and, when `bare`, where it starts the value or follows `/` or `@` (so that a `name:` in
/// `user:password@` is left alone).
fn replace_address(text: &str, addr: &str, with: &str, bare: bool) -> String {
    let mut out = String::with_capacity(text.len());
    let mut last = 0;
    for (i, _) in text.match_indices(addr) {
        let before = text[..i].chars().last();
        let after = text[i + addr.len()..].chars().next();
        let ends = !after.is_some_and(|c| c.is_ascii_digit());
        let starts = !bare || before.is_none_or(|c| c == '/' || c == '@');
        if ends && starts {
            out.push_str(&text[last..i]);
            out.push_str(with);
            last = i + addr.len();
        }
    }
    out.push_str(&text[last..]);
    out
}

/// `.env` lines (`NAME=value`) of the host values. A value of only safe characters is written
/// bare; any other in single quotes, which dotenv readers (docker compose, python-dotenv, node's
/// dotenv) and `set -a; . ./.env` all take literally — no `$` expansion, no escapes. A value
/// holding a `'` or a line break cannot be single-quoted: it is double-quoted with `\\`, `\"`
/// and `\n` escapes.
pub fn dotenv(vars: &[(String, String)]) -> String {
    let mut out = String::new();
    for (k, v) in vars {
        let safe = !v.is_empty()
            && v.chars().all(|c| c.is_ascii_alphanumeric() || "_-./:@%+,".contains(c));
        if safe {
            out.push_str(&format!("{k}={v}\n"));
        } else if !v.contains(['\'', '\n', '\r']) {
            out.push_str(&format!("{k}='{v}'\n"));
        } else {
            let escaped = v
                .replace('\\', "\\\\")
                .replace('"', "\\\"")
                .replace('\n', "\\n")
                .replace('\r', "\\r");
            out.push_str(&format!("{k}=\"{escaped}\"\n"));
        }
    }
    out
}
