//! `kilter ls [--json]`: every kilter cluster on the machine from one `docker ps -a`, and the CPU
//! and memory of the running ones from one `docker stats --no-stream` (none when nothing runs):
//! at most two docker calls, whatever the number of projects. `ls` needs only docker: a port
//! registry or project record it cannot read is a warning, never a failure.

use std::collections::BTreeMap;
use std::time::Duration;

use anyhow::Result;
use serde::Serialize;

use super::Ctx;
use crate::ports::{Ports, Registry};
use crate::project::{Identity, Paths};
use crate::table::{Column, Table, Width};
use crate::tools::docker::{KilterNode, Usage};
use crate::tools::{Tool, Tools};
use crate::ui::fmt_bytes;

/// `docker stats --no-stream` takes a second or two (two CPU readings); past this, `ls` shows
/// the clusters without figures rather than hang.
const STATS_LIMIT: Duration = Duration::from_secs(15);

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
    /// Percent of one CPU (`null` when not running or unknown).
    pub cpu_percent: Option<f64>,
    pub memory_bytes: Option<u64>,
    pub memory_limit_bytes: Option<u64>,
    pub memory_percent: Option<f64>,
}

/// Sums over the running clusters.
#[derive(Debug, Serialize)]
pub struct Totals {
    pub running: usize,
    pub cpu_percent: Option<f64>,
    pub memory_bytes: Option<u64>,
    /// What Docker can hand out (the containers' memory limit, i.e. the engine's memory).
    pub memory_limit_bytes: Option<u64>,
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

/// `kilter ls --json`.
#[derive(Debug, Serialize)]
pub struct List {
    pub projects: Vec<Row>,
    pub totals: Totals,
    /// Why there are no CPU and memory figures (`docker stats` failed or did not answer).
    pub usage_error: Option<String>,
    /// The shared registry and caches.
    pub registry: Vec<SharedRow>,
    /// Project → the URLs the shared router gives it.
    pub urls: BTreeMap<String, Vec<String>>,
}

impl crate::json::Document for List {
    const SCHEMA_VERSION: u32 = 1;
    const KEYS: crate::json::Keys = crate::json::Keys::Sorted;
}

pub fn run(ctx: &Ctx<'_>, json: bool) -> Result<i32> {
    let tools = Tools::discover(&[Tool::Docker])?;
    let docker = tools.docker()?;
    // One `docker ps` for the nodes and the shared local registry and caches (by name).
    let settings = crate::registry::Settings::from_env()?;
    let mut prefixes = vec!["kilter-".to_owned()];
    if settings.prefix != crate::registry::DEFAULT_PREFIX {
        prefixes.push(format!("{}-", settings.prefix));
    }
    let (nodes, entries) = docker.kilter_nodes_named(ctx.runner, &prefixes)?;
    let shared = shared_rows(&settings, &entries);

    let reg = match Registry::load(&ctx.dirs.port_registry()) {
        Ok(r) => r.unwrap_or_default(),
        Err(e) => {
            ctx.ui.warn(&format!("{e:#}; Tilt ports are not shown"));
            Registry::default()
        }
    };

    let running: Vec<&str> =
        nodes.iter().filter(|n| n.running()).map(|n| n.node.as_str()).collect();
    let (usage, usage_error) = match docker.usage(ctx.runner, &running, STATS_LIMIT) {
        Ok(u) => (u, None),
        Err(e) => (Vec::new(), Some(e)),
    };
    if let Some(e) = &usage_error {
        ctx.ui.warn(&format!("CPU and memory are not shown: {e}"));
    }

    let rows: Vec<Row> = nodes.iter().map(|n| row(ctx, n, &reg, &usage)).collect();
    let totals = totals(&rows);
    // The router's names of each project (none when it is off or was never made).
    let urls = if crate::router::Settings::from_env()?.machine_on {
        crate::router::machine_urls(&reg, &nodes)
    } else {
        Default::default()
    };
    if json {
        let doc = List { projects: rows, totals, usage_error, registry: shared, urls };
        crate::json::print(ctx.ui, &doc)?;
        return Ok(0);
    }
    let registry_line = shared_line(&shared).map(|l| l + "\n").unwrap_or_default();
    if rows.is_empty() {
        ctx.ui.info("No kilter clusters on this machine (`kilter up` in a project creates one)");
        ctx.ui.stdout(&registry_line);
        return Ok(0);
    }
    let mut names = String::new();
    for (project, list) in &urls {
        names.push_str(&format!("names of {project}: {}\n", list.join(", ")));
    }
    ctx.ui.stdout(&(table(&rows, &totals) + &registry_line + &names));
    Ok(0)
}

/// The shared containers among the listed ones, in [`crate::registry::Settings::names`] order.
fn shared_rows(
    settings: &crate::registry::Settings,
    entries: &[crate::tools::docker::PsEntry],
) -> Vec<SharedRow> {
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
    shared
}

/// `registry: running (127.0.0.1:5001->5000/tcp); caches 4/4 running`, or None when there are
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

fn row(ctx: &Ctx<'_>, n: &KilterNode, reg: &Registry, usage: &[Usage]) -> Row {
    let ports = reg.projects.get(&n.project).filter(|e| e.slot < crate::ports::SLOTS);
    let ports = ports.map(|e| Ports::of(e.slot));
    let identity = Identity::read(&Paths::new(&ctx.dirs, &n.project).identity);
    let u = usage.iter().find(|u| u.name == n.node).filter(|_| n.running());
    Row {
        project: n.project.clone(),
        cluster: n.cluster.clone(),
        state: n.state.clone(),
        status: n.status.clone(),
        tilt_port: ports.map(|p| p.tilt),
        port_base: ports.map(|p| p.base),
        directory: identity.map(|i| i.dir.to_string()),
        services: reg
            .projects
            .get(&n.project)
            .map(|e| {
                let mut s = e.services.clone();
                s.retain(|k, _| !crate::ports::is_route_key(k));
                s
            })
            .unwrap_or_default(),
        cpu_percent: u.and_then(|u| u.cpu_percent),
        memory_bytes: u.and_then(|u| u.memory_bytes),
        memory_limit_bytes: u.and_then(|u| u.memory_limit_bytes),
        memory_percent: u.and_then(|u| u.memory_percent),
    }
}

fn totals(rows: &[Row]) -> Totals {
    let running: Vec<&Row> = rows.iter().filter(|r| r.state == "running").collect();
    let sum_f = |f: fn(&Row) -> Option<f64>| -> Option<f64> {
        let v: Vec<f64> = running.iter().filter_map(|r| f(r)).collect();
        (!v.is_empty()).then(|| (v.iter().sum::<f64>() * 100.0).round() / 100.0)
    };
    let mem: Vec<u64> = running.iter().filter_map(|r| r.memory_bytes).collect();
    Totals {
        running: running.len(),
        cpu_percent: sum_f(|r| r.cpu_percent),
        memory_bytes: (!mem.is_empty()).then(|| mem.iter().sum()),
        memory_limit_bytes: running.iter().filter_map(|r| r.memory_limit_bytes).max(),
    }
}

fn table(rows: &[Row], totals: &Totals) -> String {
    let cpu = |c: Option<f64>| c.map(|c| format!("{c:.2}%")).unwrap_or_else(|| "-".into());
    let mem = |m: Option<u64>| m.map(fmt_bytes).unwrap_or_else(|| "-".into());
    let services = |r: &Row| -> String {
        if r.services.is_empty() {
            "-".to_owned()
        } else {
            r.services.keys().cloned().collect::<Vec<_>>().join(",")
        }
    };
    let table = Table::new(vec![
        Column::left("", Width::AtLeast(20)),
        Column::left(" ", Width::AtLeast(9)),
        Column::right(" ", Width::AtLeast(7)),
        Column::right(" ", Width::AtLeast(10)),
        Column::left(" ", Width::AtLeast(6)),
        Column::left(" ", Width::Fit(8)),
        Column::left(" ", Width::AtLeast(0)),
    ])
    .trim_end();
    let mut lines: Vec<Vec<String>> = vec![
        ["PROJECT", "STATE", "CPU", "MEMORY", "TILT", "SERVICES", "DIRECTORY"]
            .map(String::from)
            .to_vec(),
    ];
    for r in rows {
        lines.push(vec![
            r.project.clone(),
            r.state.clone(),
            cpu(r.cpu_percent),
            mem(r.memory_bytes),
            r.tilt_port.map(|p| p.to_string()).unwrap_or_else(|| "-".into()),
            services(r),
            r.directory.clone().unwrap_or_else(|| "-".into()),
        ]);
    }
    if totals.running > 0 {
        let of = totals
            .memory_limit_bytes
            .map(|l| format!("of {} that Docker has", fmt_bytes(l)))
            .unwrap_or_default();
        lines.push(vec![
            format!("total ({} running)", totals.running),
            String::new(),
            cpu(totals.cpu_percent),
            mem(totals.memory_bytes),
            String::new(),
            String::new(),
            of,
        ]);
    }
    table.render(&lines)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn r(project: &str, state: &str, cpu: Option<f64>, mem: Option<u64>) -> Row {
        Row {
            project: project.into(),
            cluster: format!("kilter-{project}"),
            state: state.into(),
            status: String::new(),
            tilt_port: Some(10368),
            port_base: Some(30340),
            directory: Some(format!("/src/{project}")),
            services: Default::default(),
            cpu_percent: cpu,
            memory_bytes: mem,
            memory_limit_bytes: mem.map(|_| 8 << 30),
            memory_percent: None,
        }
    }

    #[test]
    fn totals_add_up_the_running_clusters_only() {
        let rows = vec![
            r("a", "running", Some(1.25), Some(600 << 20)),
            r("b", "exited", None, None),
            r("c", "running", Some(2.5), Some(400 << 20)),
        ];
        let t = totals(&rows);
        assert_eq!(t.running, 2);
        assert_eq!(t.cpu_percent, Some(3.75));
        assert_eq!(t.memory_bytes, Some(1000 << 20));
        assert_eq!(t.memory_limit_bytes, Some(8 << 30));
        let text = table(&rows, &t);
        assert!(text.contains("total (2 running)"), "{text}");
        let total = text.lines().last().unwrap_or_default();
        assert!(total.contains("3.75%") && total.contains("1000.0 MiB"), "{text}");
        assert!(total.ends_with("of 8.0 GiB that Docker has"), "{text}");
        assert!(text.lines().nth(2).is_some_and(|l| l.contains(" - ")), "{text}");
        // The layout these `format!` lines print (each line without its trailing blanks).
        let line = |a: &str, b: &str, c: &str, d: &str, e: &str, s: &str, f: &str| {
            format!("{a:<20} {b:<9} {c:>7} {d:>10} {e:<6} {s:<8} {f}").trim_end().to_owned() + "\n"
        };
        let want = [
            line("PROJECT", "STATE", "CPU", "MEMORY", "TILT", "SERVICES", "DIRECTORY"),
            line("a", "running", "1.25%", "600.0 MiB", "10368", "-", "/src/a"),
            line("b", "exited", "-", "-", "10368", "-", "/src/b"),
            line("c", "running", "2.50%", "400.0 MiB", "10368", "-", "/src/c"),
            line(
                "total (2 running)",
                "",
                "3.75%",
                "1000.0 MiB",
                "",
                "",
                "of 8.0 GiB that Docker has",
            ),
        ]
        .concat();
        assert_eq!(text, want);
        // unknown figures stay unknown rather than adding up to zero
        let t = totals(&[r("a", "running", None, None)]);
        assert_eq!((t.cpu_percent, t.memory_bytes), (None, None));
    }
}
