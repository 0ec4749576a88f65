//! `kilter ls [--json]`: every kilter cluster on the machine from one `docker ps -a`.

use anyhow::Result;
use serde::Serialize;

use super::Ctx;
use crate::ports::{Ports, Registry};
use crate::project::{Identity, Paths};
use crate::tools::docker::{self, CLUSTER_LABEL};
use crate::tools::{Tool, Tools};

#[derive(Debug, Serialize)]
pub struct Row {
    pub project: String,
    pub cluster: String,
    pub state: String,
    pub status: String,
    pub tilt_port: Option<u16>,
    pub port_base: Option<u16>,
    pub directory: Option<String>,
}

/// A shared registry or cache container, from the same `docker ps`.
#[derive(Debug, Serialize)]
pub struct SharedRow {
    pub name: String,
    /// `registry` or `cache`
    pub role: String,
    pub upstream: Option<String>,
    pub state: String,
    pub status: String,
    pub ports: String,
}

pub fn run(ctx: &Ctx<'_>, json: bool) -> Result<i32> {
    let tools = Tools::discover(&[Tool::Docker])?;
    let docker = tools.docker()?;
    let settings = crate::registry::Settings::from_env()?;
    let mut prefixes = vec!["kilter-".to_owned()];
    if settings.prefix != crate::registry::DEFAULT_PREFIX {
        prefixes.push(format!("{}-", settings.prefix));
    }
    let cmd = docker.ps_names_cmd(&prefixes);
    let out = ctx.runner.run_unchecked(&cmd)?;
    if docker::daemon_unreachable(&out.stderr) {
        return Err(docker::daemon_error(&out.stderr).into());
    }
    if !out.success() {
        return Err(ctx.runner.failed(&cmd, &out, None).into());
    }
    let reg = Registry::load(&ctx.dirs.port_registry())?.unwrap_or_default();
    let entries = docker::parse_ps(&out.stdout)?;
    let names = settings.names();
    let mut shared: Vec<SharedRow> = entries
        .iter()
        .filter(|e| e.label(crate::registry::SHARED_LABEL).is_some() && names.contains(&e.names))
        .map(|e| SharedRow {
            name: e.names.clone(),
            role: e.label(crate::registry::SHARED_LABEL).unwrap_or_default().to_owned(),
            upstream: e.label(crate::registry::UPSTREAM_LABEL).map(str::to_owned),
            state: e.state.clone(),
            status: e.status.clone(),
            ports: e.ports.clone(),
        })
        .collect();
    shared.sort_by_key(|r| names.iter().position(|n| n == &r.name));
    let mut rows: Vec<Row> = entries
        .into_iter()
        .filter_map(|e| {
            let cluster = e.label(CLUSTER_LABEL)?.to_owned();
            let name = cluster.strip_prefix("kilter-")?.to_owned();
            if e.names != format!("{cluster}-control-plane") {
                return None;
            }
            let ports = reg.projects.get(&name).map(|en| Ports::of(en.slot));
            let identity = Identity::read(&Paths::new(&ctx.dirs, &name).identity);
            Some(Row {
                project: name,
                cluster,
                state: e.state.clone(),
                status: e.status.clone(),
                tilt_port: ports.map(|p| p.tilt),
                port_base: ports.map(|p| p.base),
                directory: identity.map(|i| i.dir.to_string()),
            })
        })
        .collect();
    rows.sort_by(|a, b| a.project.cmp(&b.project));
    if json {
        let doc = serde_json::json!({ "schema_version": 1, "projects": rows, "registry": shared });
        ctx.ui.stdout(&(serde_json::to_string_pretty(&doc)? + "\n"));
        return Ok(0);
    }
    let registry_line = shared_line(&shared);
    if rows.is_empty() {
        ctx.ui.info("No kilter clusters on this machine (`kilter up` in a project creates one)");
        if let Some(l) = registry_line {
            ctx.ui.stdout(&format!("{l}\n"));
        }
        return Ok(0);
    }
    let mut text = format!("{:<20} {:<9} {:<6} {}\n", "PROJECT", "STATE", "TILT", "DIRECTORY");
    for r in &rows {
        text.push_str(&format!(
            "{:<20} {:<9} {:<6} {}\n",
            r.project,
            r.state,
            r.tilt_port.map(|p| p.to_string()).unwrap_or_else(|| "-".into()),
            r.directory.as_deref().unwrap_or("-")
        ));
    }
    if let Some(l) = registry_line {
        text.push_str(&format!("{l}\n"));
    }
    ctx.ui.stdout(&text);
    Ok(0)
}

/// `registry: running (127.0.0.1:5001->5000/tcp), caches 4/4 running`, or None when there are
/// no shared containers.
fn shared_line(shared: &[SharedRow]) -> Option<String> {
    if shared.is_empty() {
        return None;
    }
    let reg = match shared.iter().find(|r| r.role == "registry") {
        Some(r) if r.ports.is_empty() => r.state.clone(),
        Some(r) => format!("{} ({})", r.state, r.ports),
        None => "absent".into(),
    };
    let caches: Vec<&SharedRow> = shared.iter().filter(|r| r.role == "cache").collect();
    let running = caches.iter().filter(|r| r.state == "running").count();
    Some(format!("registry: {reg}; caches {running}/{} running", caches.len()))
}
