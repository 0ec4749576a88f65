//! `kilter registry status|start|stop|rm [--volumes]`: the machine's shared local registry and
//! pull-through caches (`src/registry.rs`). `stop` and `destroy` of a project never touch them;
//! these commands do.

use std::io::IsTerminal;

use anyhow::Result;
use serde::Serialize;

use super::Ctx;
use crate::cli::{RegistryArgs, RegistryCommand, RegistryRmArgs};
use crate::error::{Code, Exit, invalid};
use crate::registry::{self, KIND_NETWORK, Machine, SHARED_LABEL, Seen, Settings, SharedRow};
use crate::table::{Column, Table, Width};
use crate::tools::Tool;
use crate::tools::docker;

pub fn run(ctx: &Ctx<'_>, args: &RegistryArgs) -> Result<i32> {
    let settings = Settings::from_env()?;
    let tools = ctx.tools(&[Tool::Docker])?;
    let docker = tools.docker()?;
    let machine = Machine::new(ctx.runner, ctx.ui, &docker, &settings, &ctx.dirs);
    match &args.command {
        RegistryCommand::Status(a) => status(ctx, &machine, a.json),
        RegistryCommand::Start => start(ctx, &machine),
        RegistryCommand::Stop => stop(ctx, &machine),
        RegistryCommand::Rm(a) => rm(ctx, &machine, a),
    }
}

/// `kilter registry status --json`.
#[derive(Debug, Serialize)]
struct StatusDoc {
    /// `KILTER_REGISTRY` is not `off`.
    enabled: bool,
    /// The port recorded in the port registry.
    port: Option<u16>,
    image: String,
    containers: Vec<Row>,
}

impl crate::json::Document for StatusDoc {
    const SCHEMA_VERSION: u32 = 1;
    const KEYS: crate::json::Keys = crate::json::Keys::Declared;
}

#[derive(Debug, Serialize)]
struct Row {
    #[serde(flatten)]
    shared: SharedRow,
    volume_exists: bool,
}

/// The containers (one inspect) and kilter's volumes (one `volume ls`), side by side.
fn look(m: &Machine<'_, '_>) -> Result<(Seen, Vec<String>)> {
    let ls = m.docker.volume_ls_cmd(SHARED_LABEL);
    let (seen, vols) = std::thread::scope(|s| {
        let vols = s.spawn(|| m.runner.run_unchecked(&ls));
        (m.inspect(), vols.join())
    });
    let seen = seen?;
    let vols = vols.map_err(|_panic| anyhow::anyhow!("internal: probe thread panicked"))??;
    if docker::daemon_unreachable(&vols.stderr) {
        return Err(docker::daemon_error(&vols.stderr).into());
    }
    Ok((seen, docker::parse_names(&vols.stdout)))
}

fn status(ctx: &Ctx<'_>, m: &Machine<'_, '_>, json: bool) -> Result<i32> {
    let (seen, volumes) = look(m)?;
    let rows: Vec<Row> = registry::rows(m.settings, &seen)
        .into_iter()
        .map(|r| Row { volume_exists: volumes.contains(&r.volume), shared: r })
        .collect();
    let doc = StatusDoc {
        enabled: m.settings.machine_on,
        port: registry::recorded_port(&m.ports_path)?,
        image: m.settings.image.clone(),
        containers: rows,
    };
    if json {
        crate::json::print(ctx.ui, &doc)?;
        return Ok(0);
    }
    ctx.ui.stdout(&status_text(&doc));
    Ok(0)
}

/// `registry status` as a table.
fn status_text(doc: &StatusDoc) -> String {
    let table = Table::new(vec![
        Column::left("", Width::AtLeast(32)),
        Column::left(" ", Width::AtLeast(9)),
        Column::left(" ", Width::AtLeast(16)),
        Column::left(" ", Width::AtLeast(5)),
        Column::left(" ", Width::AtLeast(0)),
    ]);
    let mut rows: Vec<Vec<String>> = vec![
        ["CONTAINER", "STATE", "ADDRESS/UPSTREAM", "KIND", "VOLUME"].map(String::from).to_vec(),
    ];
    for r in &doc.containers {
        let s = &r.shared;
        let addr = s.address.clone().or_else(|| s.upstream.clone()).unwrap_or_default();
        let state = if s.kilters { s.state.clone() } else { format!("{} (not kilter's)", s.state) };
        rows.push(vec![
            s.name.clone(),
            state,
            addr,
            if s.on_kind_network { "yes" } else { "no" }.to_owned(),
            format!("{}{}", s.volume, if r.volume_exists { "" } else { " (none)" }),
        ]);
    }
    let mut text = table.render(&rows);
    if !doc.enabled {
        text.push_str("KILTER_REGISTRY=off: `kilter up` does not use them\n");
    }
    text
}

fn start(ctx: &Ctx<'_>, m: &Machine<'_, '_>) -> Result<i32> {
    let seen = m.inspect()?;
    let net = m.runner.run_unchecked(&m.docker.network_inspect_cmd(KIND_NETWORK))?;
    let kind_net = net.success();
    let planned = m.plan_port(&seen)?;
    m.record_port(planned)?;
    let port = m.ensure(&seen, kind_net, planned)?;
    ctx.ui.success(
        &format!("The local registry runs on 127.0.0.1:{port} (push to localhost:{port}/<image>)"),
        &format!("start the local registry on 127.0.0.1:{port}"),
    );
    if !kind_net {
        ctx.ui.info(
            "There is no kind network yet: the first `kilter up` connects them to it, so clusters reach them by name",
        );
    }
    Ok(0)
}

fn existing(m: &Machine<'_, '_>, seen: &Seen) -> Vec<String> {
    m.settings.names().into_iter().filter(|n| seen.get(n).is_some()).collect()
}

fn stop(ctx: &Ctx<'_>, m: &Machine<'_, '_>) -> Result<i32> {
    let seen = m.inspect()?;
    // A same-named container kilter did not create is not stopped: nothing is, and kilter
    // says what is in the way.
    seen.check(m.settings)?;
    let running: Vec<String> = m
        .settings
        .names()
        .into_iter()
        .filter(|n| seen.get(n).is_some_and(|c| c.state.running))
        .collect();
    if running.is_empty() {
        ctx.ui.info("The local registry and the caches are not running");
        return Ok(0);
    }
    ctx.runner.run(&m.docker.stop_many_cmd(&running))?;
    ctx.ui.success(
        &format!(
            "Stopped {} (data kept; `kilter up` or `kilter registry start` starts them)",
            running.join(", ")
        ),
        &format!("stop {}", running.join(", ")),
    );
    Ok(0)
}

fn rm(ctx: &Ctx<'_>, m: &Machine<'_, '_>, args: &RegistryRmArgs) -> Result<i32> {
    let what = if args.volumes {
        "the local registry and the caches, with their volumes (every pushed image and cached layer)"
    } else {
        "the local registry and the cache containers (their volumes are kept)"
    };
    if !args.yes {
        ctx.runner
            .ask("kilter asks you to type `registry` here to confirm (or pass --yes)", || {
                confirm(ctx, what)
            })?;
    }
    let (seen, volumes) = look(m)?;
    seen.check(m.settings)?;
    let names = existing(m, &seen);
    if !names.is_empty() {
        ctx.runner.run(&m.docker.rm_force_cmd(&names))?;
    }
    let mut removed_volumes = Vec::new();
    if args.volumes {
        removed_volumes =
            m.settings.names().into_iter().filter(|n| volumes.contains(n)).collect::<Vec<_>>();
        if !removed_volumes.is_empty() {
            ctx.runner.run(&m.docker.volume_rm_cmd(&removed_volumes))?;
        }
    }
    if names.is_empty() && removed_volumes.is_empty() {
        ctx.ui.info("Nothing to remove");
        return Ok(0);
    }
    let mut done = format!(
        "Removed {}",
        if names.is_empty() { "no containers".into() } else { names.join(", ") }
    );
    if !removed_volumes.is_empty() {
        done.push_str(&format!(" and {} volume(s)", removed_volumes.len()));
    }
    ctx.ui.success(&done, &format!("remove {what}"));
    if !args.volumes {
        ctx.ui.info("The volumes are kept: the next `kilter up` serves the same images again (`--volumes` removes them)");
    }
    Ok(0)
}

/// On a terminal, ask for the word `registry`; without one, `--yes` is required (exit 4).
fn confirm(ctx: &Ctx<'_>, what: &str) -> Result<()> {
    if !std::io::stdin().is_terminal() {
        return Err(invalid(format!(
            "refusing to remove {what} without confirmation: no terminal to ask on"
        ))
        .hint("pass --yes to confirm")
        .into());
    }
    let line = ctx.ui.prompt(&format!(
        "This removes {what}; every project's cluster loses them until the next `kilter up`.\nType `registry` to confirm: "
    ))?;
    if line != "registry" {
        return Err(
            Exit::new(Code::Invalid, "confirmation did not match; nothing was removed").into()
        );
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn row(name: &str, state: &str, address: Option<&str>, kilters: bool, volume: bool) -> Row {
        Row {
            shared: SharedRow {
                name: name.into(),
                role: "cache".into(),
                upstream: Some("https://registry-1.docker.io".into()),
                remote: None,
                state: state.into(),
                address: address.map(str::to_owned),
                on_kind_network: kilters,
                volume: format!("{name}-data"),
                kilters,
            },
            volume_exists: volume,
        }
    }

    /// The table is exactly what these `format!` lines print (the layout `registry status` has
    /// always had): fixed minimum widths, a longer cell pushing only its own row.
    #[test]
    fn the_status_table_keeps_its_layout() {
        let doc = StatusDoc {
            enabled: false,
            port: Some(5001),
            image: "registry:2".into(),
            containers: vec![
                row("kilter-registry", "running", Some("127.0.0.1:5001"), true, true),
                row("kilter-cache-a-much-longer-name-than-32", "exited", None, false, false),
            ],
        };
        let mut want = format!(
            "{:<32} {:<9} {:<16} {:<5} {}\n",
            "CONTAINER", "STATE", "ADDRESS/UPSTREAM", "KIND", "VOLUME"
        );
        want.push_str(&format!(
            "{:<32} {:<9} {:<16} {:<5} {}{}\n",
            "kilter-registry", "running", "127.0.0.1:5001", "yes", "kilter-registry-data", ""
        ));
        want.push_str(&format!(
            "{:<32} {:<9} {:<16} {:<5} {}{}\n",
            "kilter-cache-a-much-longer-name-than-32",
            "exited (not kilter's)",
            "https://registry-1.docker.io",
            "no",
            "kilter-cache-a-much-longer-name-than-32-data",
            " (none)"
        ));
        want.push_str("KILTER_REGISTRY=off: `kilter up` does not use them\n");
        assert_eq!(status_text(&doc), want);
    }
}
