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

use crate::error::{Exit, invalid};

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

/// `.env` lines (`NAME=value`) of the host values, written so that every common reader —
/// `set -a; . ./.env` in sh and bash, docker compose's env files, python-dotenv — takes each value
/// literally: nothing is executed or expanded (docs/commands.md "kilter env"). The readers agree
/// on only part of the quoting rules, so each value gets the first form that is exact for all:
/// - bare, when it is made of `A-Z a-z 0-9 _ - . / : @ % + ,` only;
/// - in single quotes, when it holds no `'` and no `\\` (python-dotenv turns `\\` into `\`
///   inside single quotes, docker compose does not);
/// - in double quotes with `\\` and `\"` escapes and line breaks as they are, when it holds no
///   `$` and no backtick (sh needs `\$` there, which python-dotenv keeps as two characters).
///
/// A value none of them can carry is refused (exit 4): one with `${…}` (python-dotenv expands it
/// in every quoting, with no escape), one with a carriage return (python-dotenv reads it as a
/// line break), one ending in `\` (both python-dotenv and docker compose take it as escaping the
/// closing quote), and one with both a `'` (or `\\`) and a `$` or backtick.
pub fn dotenv(vars: &[(String, String)]) -> Result<String, Exit> {
    let mut out = String::new();
    for (k, v) in vars {
        out.push_str(&format!("{k}={}\n", dotenv_value(v).map_err(|why| unwritable(k, why))?));
    }
    Ok(out)
}

fn unwritable(key: &str, why: &str) -> Exit {
    invalid(format!(
        "cannot write {key} in .env syntax that every reader takes literally: its value holds {why}"
    ))
    .hint(format!(
        "change {key} under `provides:` in kilter.yaml, or read the value from `kilter env --json` or `kilter env`"
    ))
}

/// Whether python-dotenv would expand part of `v`: `${NAME}` or `${NAME:-default}` (its
/// `_posix_variable`), in any quoting.
fn python_dotenv_expands(v: &str) -> bool {
    let mut rest = v;
    while let Some(i) = rest.find("${") {
        let after = &rest[i + 2..];
        if let Some(end) = after.find('}') {
            let inner = &after[..end];
            let name_end = inner.find(':').unwrap_or(inner.len());
            if name_end == inner.len() || inner[name_end..].starts_with(":-") {
                return true;
            }
        }
        rest = after;
    }
    false
}

/// One value in its `.env` form, or why no form is read literally by every reader.
pub fn dotenv_value(v: &str) -> Result<String, &'static str> {
    let bare =
        !v.is_empty() && v.chars().all(|c| c.is_ascii_alphanumeric() || "_-./:@%+,".contains(c));
    if bare {
        return Ok(v.to_owned());
    }
    if v.contains('\r') {
        return Err("a carriage return, which python-dotenv reads as a line break");
    }
    if v.ends_with('\\') {
        return Err(
            "a final `\\`, which python-dotenv and docker compose take as escaping the closing quote",
        );
    }
    if python_dotenv_expands(v) {
        return Err("`${…}`, which python-dotenv expands in any quoting");
    }
    if !v.contains('\'') && !v.contains("\\\\") {
        return Ok(format!("'{v}'"));
    }
    if !v.contains(['$', '`']) {
        return Ok(format!("\"{}\"", v.replace('\\', "\\\\").replace('"', "\\\"")));
    }
    Err(if v.contains('\'') {
        "both a `'` and a `$` or backtick: no quoting keeps both literal for sh, docker compose and python-dotenv"
    } else {
        "both a `\\\\` and a `$` or backtick: no quoting keeps both literal for sh, docker compose and python-dotenv"
    })
}
