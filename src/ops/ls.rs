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
    /// The project's services and their NodePorts, as the port registry records them.
    pub services: crate::ports::NodePorts,
}

pub fn run(ctx: &Ctx<'_>, json: bool) -> Result<i32> {
    let tools = Tools::discover(&[Tool::Docker])?;
    let docker = tools.docker()?;
    let cmd = docker.ps_kind_cmd();
    let out = ctx.runner.run_unchecked(&cmd)?;
    if docker::daemon_unreachable(&out.stderr) {
        return Err(docker::daemon_error(&out.stderr).into());
    }
    if !out.success() {
        return Err(ctx.runner.failed(&cmd, &out, None).into());
    }
    let reg = Registry::load(&ctx.dirs.port_registry())?.unwrap_or_default();
    let mut rows: Vec<Row> = docker::parse_ps(&out.stdout)?
        .into_iter()
        .filter_map(|e| {
            let cluster = e.label(CLUSTER_LABEL)?.to_owned();
            let name = cluster.strip_prefix("kilter-")?.to_owned();
            if e.names != format!("{cluster}-control-plane") {
                return None;
            }
            let entry = reg.projects.get(&name);
            let ports = entry.map(|en| Ports::of(en.slot));
            let services = entry.map(|en| en.services.clone()).unwrap_or_default();
            let identity = Identity::read(&Paths::new(&ctx.dirs, &name).identity);
            Some(Row {
                project: name,
                cluster,
                state: e.state.clone(),
                status: e.status.clone(),
                tilt_port: ports.map(|p| p.tilt),
                port_base: ports.map(|p| p.base),
                directory: identity.map(|i| i.dir.to_string()),
                services,
            })
        })
        .collect();
    rows.sort_by(|a, b| a.project.cmp(&b.project));
    if json {
        let doc = serde_json::json!({ "schema_version": 1, "projects": rows });
        ctx.ui.stdout(&(serde_json::to_string_pretty(&doc)? + "\n"));
        return Ok(0);
    }
    if rows.is_empty() {
        ctx.ui.info("No kilter clusters on this machine (`kilter up` in a project creates one)");
        return Ok(0);
    }
    let services = |r: &Row| -> String {
        if r.services.is_empty() {
            "-".to_owned()
        } else {
            r.services.keys().cloned().collect::<Vec<_>>().join(",")
        }
    };
    let sw = rows.iter().map(|r| services(r).len()).max().unwrap_or(0).max(8);
    let mut text = format!(
        "{:<20} {:<9} {:<6} {:<sw$} {}\n",
        "PROJECT", "STATE", "TILT", "SERVICES", "DIRECTORY"
    );
    for r in &rows {
        text.push_str(&format!(
            "{:<20} {:<9} {:<6} {:<sw$} {}\n",
            r.project,
            r.state,
            r.tilt_port.map(|p| p.to_string()).unwrap_or_else(|| "-".into()),
            services(r),
            r.directory.as_deref().unwrap_or("-")
        ));
    }
    ctx.ui.stdout(&text);
    Ok(0)
}
