//! `kilter env [--json | --dotenv]`: shell-evaluable exports (bash/zsh) of the project and of
//! its services as programs on this machine reach them (host values: `127.0.0.1:<NodePort>`),
//! plus the Tilt URL and each service's addresses and credentials as comments.
//!
//! `--dotenv` prints only the services' variables, in `.env` syntax, to stdout: the user picks
//! the file (`kilter env --dotenv > .env`), and kilter never overwrites a `.env` of theirs.

use std::collections::BTreeMap;

use anyhow::Result;
use serde::Serialize;

use super::{Ctx, preview_nodeports, project_env, services_of};
use crate::cli::EnvArgs;
use crate::exec::quote;
use crate::lifecycle;
use crate::lifecycle::app::Choice;
use crate::services::{self, Wired};
use crate::tools::Tool;
use crate::tools::docker::NodeState;

/// `kilter env --json`.
#[derive(Debug, Serialize)]
pub struct EnvJson {
    /// Exactly what `eval "$(kilter env)"` exports.
    pub env: BTreeMap<String, String>,
    /// Where Tilt's UI is (or will be).
    pub tilt_url: String,
    /// The services of kilter.yaml, in file order.
    pub services: Vec<Wired>,
}

impl crate::json::Document for EnvJson {
    const SCHEMA_VERSION: u32 = 1;
    const KEYS: crate::json::Keys = crate::json::Keys::Sorted;
}

pub fn run(ctx: &Ctx<'_>, args: &EnvArgs) -> Result<i32> {
    let project = ctx.project()?;
    let (ports, _) = crate::ports::preview(&ctx.dirs.port_registry(), &project.name)?;
    let list = services_of(&project)?;
    let nodeports = preview_nodeports(ctx, &project, &list)?;
    let wired = services::wire_all(&list, &project.name, &project.namespace(), &nodeports)?;
    let mut host = services::host_env(&wired);
    // `<SERVICE>_WEB_URL`: the names the shared router gives them. `APP_URL` of an app kilter
    // renders stays its NodePort address (printed below); a route named `app` (the user's own
    // Tiltfile) has only its name.
    let rendered = matches!(lifecycle::app::choose(&project)?, Choice::Rendered(_));
    let named = crate::lifecycle::router::urls(ctx, &project)?;
    host.extend(named.into_iter().filter(|(k, _)| !(rendered && k == "APP_URL")));
    say_cluster_state(ctx, &project);
    if args.dotenv {
        let mut out = format!(
            "# kilter env --dotenv: the services of project {} as this machine reaches them\n",
            project.name
        );
        out.push_str(&services::dotenv(&host)?);
        ctx.ui.stdout(&out);
        return Ok(0);
    }
    let mut env = project_env(&project, &ports);
    // The app kilter renders answers on the first port of the block.
    if rendered {
        env.push(("APP_URL".to_owned(), lifecycle::app::app_url(&ports)));
    }
    env.extend(host);
    let url = format!("http://localhost:{}/", ports.tilt);
    if args.json {
        // A later value of the same name wins, as in the shell.
        let mut map = BTreeMap::new();
        for (k, v) in &env {
            map.insert(k.clone(), v.clone());
        }
        crate::json::print(ctx.ui, &EnvJson { env: map, tilt_url: url, services: wired })?;
        return Ok(0);
    }
    let mut out = String::new();
    for (k, v) in &env {
        out.push_str(&format!("export {k}={}\n", quote(v)));
    }
    out.push_str(&format!("# Tilt UI: {url}\n"));
    for w in &wired {
        out.push_str(&comment(&service_comment(w)));
    }
    ctx.ui.stdout(&out);
    Ok(0)
}

/// When the cluster is not running, nothing answers on these addresses: say so on stderr (the
/// output stays the same, and so does the exit code). One `docker inspect`; when Docker cannot
/// tell, that is said instead.
fn say_cluster_state(ctx: &Ctx<'_>, project: &crate::project::Project) {
    let state = ctx
        .tools(&[Tool::Docker])
        .and_then(|t| t.docker().and_then(|d| d.inspect(ctx.runner, &project.node())));
    let cluster = project.cluster();
    match state {
        Ok(Some(c)) if c.node_state() == NodeState::Running => {}
        Ok(Some(c)) => ctx.ui.note(&format!(
            "cluster {cluster} is {} (not running): nothing answers on these addresses until `kilter up` starts it",
            c.state.status
        )),
        Ok(None) => ctx.ui.note(&format!(
            "cluster {cluster} does not exist: these are the addresses `kilter up` will give it"
        )),
        Err(e) => ctx.ui.note(&format!("could not tell whether cluster {cluster} runs: {e:#}")),
    }
}

/// `postgres: 127.0.0.1:30359 (in the cluster postgres.shop-dev.svc:5432); user postgres, …`
fn service_comment(w: &Wired) -> String {
    let ports: Vec<String> = w
        .ports
        .iter()
        .map(|p| {
            let host = p.host.clone().unwrap_or_else(|| "no NodePort".to_owned());
            let label = if w.ports.len() > 1 { format!("{} ", p.name) } else { String::new() };
            format!("{label}{host} (in the cluster {})", p.cluster)
        })
        .collect();
    let mut line = format!("{}: {}", w.name, ports.join(", "));
    if !w.credentials.is_empty() {
        let creds: Vec<String> = w.credentials.iter().map(|(k, v)| format!("{k} {v}")).collect();
        line.push_str(&format!("; {}", creds.join(", ")));
    }
    line
}

/// One `# …` line: line breaks would end the comment, so they become spaces.
fn comment(text: &str) -> String {
    format!("# {}\n", text.replace(['\n', '\r'], " "))
}
