//! `kilter router status|start|stop|rm`: the machine's shared router (`src/router.rs`). `up`
//! creates it when a project has something to route; these commands manage it by hand. A
//! same-named container kilter did not create is shown, never touched (exit 1).

use anyhow::Result;
use serde::Serialize;

use super::Ctx;
use crate::cli::{RouterArgs, RouterCommand};
use crate::error::{Code, Exit};
use crate::router::{self, KIND_NETWORK, Machine, Settings, Target};
use crate::tools::{Tool, caddy};

pub fn run(ctx: &Ctx<'_>, args: &RouterArgs) -> Result<i32> {
    let settings = Settings::from_env()?;
    let tools = ctx.tools(&[Tool::Docker])?;
    let docker = tools.docker()?;
    let machine = Machine::new(ctx.runner, ctx.ui, &docker, &settings, &ctx.dirs);
    match &args.command {
        RouterCommand::Status(a) => status(ctx, &machine, a.json),
        RouterCommand::Start => start(ctx, &machine),
        RouterCommand::Stop => stop(ctx, &machine),
        RouterCommand::Rm => rm(ctx, &machine),
    }
}

/// `kilter router status --json`.
#[derive(Debug, Serialize)]
struct StatusDoc {
    /// `KILTER_ROUTER` is not `off`.
    enabled: bool,
    name: String,
    image: String,
    /// docker's state word, or `absent`
    state: String,
    /// Whether the container is kilter's (true when absent).
    kilters: bool,
    /// The host port: the published one, else the recorded one.
    port: Option<u16>,
    on_kind_network: bool,
    /// Whether a reload keeps the connections queued on Caddy's old socket (the container has
    /// `net.ipv4.tcp_migrate_req=1`); null when absent.
    reload_keeps_connections: Option<bool>,
    config: String,
    routes: Vec<RouteRow>,
}

impl crate::json::Document for StatusDoc {
    const SCHEMA_VERSION: u32 = 1;
    const KEYS: crate::json::Keys = crate::json::Keys::Declared;
}

#[derive(Debug, Serialize)]
struct RouteRow {
    url: String,
    project: String,
    /// `proxy`, `down` (503) or `none` (404)
    answer: &'static str,
    /// `<node>:<NodePort>` for a proxy; the directory to run `kilter up` in for `down`.
    target: Option<String>,
}

fn status(ctx: &Ctx<'_>, m: &Machine<'_, '_>, json: bool) -> Result<i32> {
    let c = m.inspect()?;
    let records = m.records()?;
    let port = c
        .as_ref()
        .and_then(|c| c.configured_port(router::CONTAINER_PORT))
        .or(router::recorded_port(&m.ports_path)?);
    let p = port.unwrap_or(m.settings.preferred_port);
    let mut rows = Vec::new();
    for r in router::routes(&records) {
        let host = r.hosts[0].clone();
        let (answer, target, project) = match &r.target {
            Target::Proxy { dial } => {
                let project = host.trim_end_matches(".localhost").rsplit('.').next();
                ("proxy", Some(dial.clone()), project.unwrap_or_default().to_owned())
            }
            Target::Down { project, dir, .. } => {
                ("down", dir.as_ref().map(ToString::to_string), project.clone())
            }
            Target::NoSuchName { .. } => continue,
        };
        for h in &r.hosts {
            rows.push(RouteRow {
                url: router::url(h, p),
                project: project.clone(),
                answer,
                target: target.clone(),
            });
        }
    }
    let doc = StatusDoc {
        enabled: m.settings.machine_on,
        name: m.settings.name.clone(),
        image: m.settings.image.clone(),
        state: c.as_ref().map(|c| c.state.status.clone()).unwrap_or_else(|| "absent".into()),
        kilters: c.as_ref().is_none_or(router::is_kilters),
        port,
        on_kind_network: c.as_ref().is_some_and(|c| c.on_network(KIND_NETWORK)),
        reload_keeps_connections: c.as_ref().map(|c| c.sysctl(caddy::MIGRATE_SYSCTL) == Some("1")),
        config: router::config_path(&ctx.dirs).to_string(),
        routes: rows,
    };
    if json {
        crate::json::print(ctx.ui, &doc)?;
        return Ok(0);
    }
    let state =
        if doc.kilters { doc.state.clone() } else { format!("{} (not kilter's)", doc.state) };
    let addr = match port {
        Some(p) if doc.state == "running" => format!(" on 127.0.0.1:{p}"),
        _ => String::new(),
    };
    let mut text = format!("{}: {state}{addr}\n", doc.name);
    text.push_str(&format!("image   {}\nconfig  {}\n", doc.image, doc.config));
    if doc.kilters && doc.reload_keeps_connections == Some(false) {
        text.push_str(&format!(
            "a reload may drop a request: made without {}=1 (by an earlier kilter, or on a kernel older than Linux 5.14); `kilter router rm` and the next `kilter up` make it anew\n",
            caddy::MIGRATE_SYSCTL
        ));
    }
    if doc.routes.is_empty() {
        text.push_str("no names yet: a project's services with a web UI (mailpit, minio, rabbitmq, nats) get one at `kilter up`\n");
    } else {
        let w = doc.routes.iter().map(|r| r.url.len()).max().unwrap_or(0).max(4);
        text.push_str(&format!("{:<w$}  {:<12}  ANSWER\n", "NAME", "PROJECT"));
        for r in &doc.routes {
            let answer = match (r.answer, &r.target) {
                ("proxy", Some(t)) => format!("→ {t}"),
                (_, Some(dir)) => format!("503: `kilter up` in {dir}"),
                _ => "503: `kilter up` in its directory".to_owned(),
            };
            text.push_str(&format!("{:<w$}  {:<12}  {answer}\n", r.url, r.project));
        }
    }
    if !doc.enabled {
        text.push_str("KILTER_ROUTER=off: `kilter up` does not use it\n");
    }
    ctx.ui.stdout(&text);
    Ok(0)
}

fn start(ctx: &Ctx<'_>, m: &Machine<'_, '_>) -> Result<i32> {
    let net = m.runner.run_unchecked(&m.docker.network_inspect_cmd(KIND_NETWORK))?;
    if !net.success() {
        return Err(Exit::new(
            Code::Failed,
            "there is no kind network yet: the router reaches the clusters over it",
        )
        .hint("`kilter up` a project first (kind creates the network with the first cluster)")
        .into());
    }
    let done = m.sync(true, None)?;
    let port = done.port.unwrap_or(m.settings.preferred_port);
    ctx.ui.success(
        &format!(
            "The router {} answers on 127.0.0.1:{port} ({})",
            m.settings.name,
            router::url("<name>.<project>.localhost", port)
        ),
        &format!("start the router on 127.0.0.1:{port}"),
    );
    Ok(0)
}

fn stop(ctx: &Ctx<'_>, m: &Machine<'_, '_>) -> Result<i32> {
    let c = m.inspect_ours()?;
    match c {
        Some(c) if c.state.running => {
            ctx.runner.run(&m.docker.stop_cmd(&m.settings.name))?;
            ctx.ui.success(
                &format!(
                    "Stopped {} (`kilter up` or `kilter router start` starts it)",
                    m.settings.name
                ),
                &format!("stop {}", m.settings.name),
            );
        }
        _ => ctx.ui.info(&format!("The router {} is not running", m.settings.name)),
    }
    Ok(0)
}

fn rm(ctx: &Ctx<'_>, m: &Machine<'_, '_>) -> Result<i32> {
    if m.inspect_ours()?.is_none() {
        ctx.ui.info("Nothing to remove");
        return Ok(0);
    }
    ctx.runner.run(&m.docker.rm_force_cmd(std::slice::from_ref(&m.settings.name)))?;
    ctx.ui.success(
        &format!("Removed {} (the next `kilter up` creates it again)", m.settings.name),
        &format!("remove {}", m.settings.name),
    );
    Ok(0)
}
