//! `kilter catalog [--json]` and `kilter catalog show NAME [--json]`: what one word under
//! `services:` becomes. Needs neither a project nor a cluster.

use std::collections::BTreeMap;

use anyhow::Result;
use serde::Serialize;

use crate::cli::{CatalogArgs, CatalogCommand};
use crate::config::suggest;
use crate::error::invalid;
use crate::services::catalog::{self, CatalogEntry, ProbeSpec};
use crate::table::{Column, Table, Width};
use crate::ui::Ui;

pub fn run(ui: &Ui, args: &CatalogArgs) -> Result<i32> {
    match &args.command {
        Some(CatalogCommand::Show(show)) => {
            let Some(entry) = catalog::find(&show.name) else {
                let error = invalid(format!("`{}` is not a catalog service", show.name));
                return Err(match suggest(&show.name, &catalog::names()) {
                    Some(close) => error.hint(format!("did you mean `{close}`?")),
                    None => error.hint(format!("the catalog has {}", catalog::names().join(", "))),
                }
                .into());
            };
            if show.json {
                crate::json::print(ui, &Show { service: describe(entry) })?;
            } else {
                ui.stdout(&show_text(entry));
            }
        }
        None if args.json => {
            let services = catalog::CATALOG.iter().map(describe).collect();
            crate::json::print(ui, &Catalog { services })?;
        }
        None => ui.stdout(&list_text()),
    }
    Ok(0)
}

fn kind(e: &CatalogEntry) -> &'static str {
    if e.volume.is_some() { "statefulset" } else { "deployment" }
}

/// `kilter catalog --json`.
#[derive(Debug, Serialize)]
pub struct Catalog {
    pub services: Vec<Described>,
}

/// `kilter catalog show NAME --json`.
#[derive(Debug, Serialize)]
pub struct Show {
    pub service: Described,
}

impl crate::json::Document for Catalog {
    const SCHEMA_VERSION: u32 = 1;
    const KEYS: crate::json::Keys = crate::json::Keys::Sorted;
}

impl crate::json::Document for Show {
    const SCHEMA_VERSION: u32 = 1;
    const KEYS: crate::json::Keys = crate::json::Keys::Sorted;
}

/// One catalog entry as written: the templates (`{{ .Port }}`, …) are not expanded.
#[derive(Debug, Serialize)]
pub struct Described {
    pub name: &'static str,
    pub description: &'static str,
    pub image: &'static str,
    /// `statefulset` (with a volume) or `deployment`
    pub kind: &'static str,
    pub ports: Vec<DescribedPort>,
    pub env: BTreeMap<&'static str, &'static str>,
    pub provides: BTreeMap<&'static str, &'static str>,
    pub credentials: BTreeMap<&'static str, &'static str>,
    pub args: &'static [&'static str],
    pub volume: Option<DescribedVolume>,
    /// How Kubernetes tells that it is ready, in words.
    pub readiness: String,
}

#[derive(Debug, Serialize)]
pub struct DescribedPort {
    pub name: &'static str,
    pub port: u16,
    pub what: &'static str,
}

#[derive(Debug, Serialize)]
pub struct DescribedVolume {
    pub path: &'static str,
    pub size: &'static str,
}

fn describe(e: &CatalogEntry) -> Described {
    // A later pair of the same name wins.
    let pairs = |list: &'static [(&'static str, &'static str)]| {
        let mut map = BTreeMap::new();
        for (k, v) in list {
            map.insert(*k, *v);
        }
        map
    };
    Described {
        name: e.name,
        description: e.description,
        image: e.image,
        kind: kind(e),
        ports: e
            .ports
            .iter()
            .map(|p| DescribedPort { name: p.name, port: p.port, what: p.what })
            .collect(),
        env: pairs(e.env),
        provides: pairs(e.provides),
        credentials: pairs(e.credentials),
        args: e.args,
        volume: e.volume.map(|(path, size)| DescribedVolume { path, size }),
        readiness: probe_text(e.probe),
    }
}

fn probe_text(p: ProbeSpec) -> String {
    match p {
        ProbeSpec::Exec(argv) => format!("exec {}", argv.join(" ")),
        ProbeSpec::Http { path, port } => format!("HTTP GET {path} on port {port}"),
        ProbeSpec::Tcp { port } => format!("TCP connect to port {port}"),
    }
}

fn list_text() -> String {
    let table = Table::new(vec![
        Column::left("", Width::AtLeast(10)),
        Column::left(" ", Width::AtLeast(42)),
        Column::left(" ", Width::AtLeast(22)),
        Column::left(" ", Width::AtLeast(0)),
    ]);
    let mut rows: Vec<Vec<String>> =
        vec![["NAME", "IMAGE", "PORTS", "PROVIDES"].map(String::from).to_vec()];
    for e in catalog::CATALOG {
        let ports: Vec<String> = e.ports.iter().map(|p| format!("{}/{}", p.port, p.name)).collect();
        let provides: Vec<&str> = e.provides.iter().map(|(k, _)| *k).collect();
        rows.push(vec![e.name.to_owned(), e.image.to_owned(), ports.join(","), provides.join(",")]);
    }
    let mut out = table.render(&rows);
    out.push_str("\nAdd one with `kilter add NAME`; `kilter catalog show NAME` has the details.\n");
    out
}

fn show_text(e: &CatalogEntry) -> String {
    let mut out = format!("{} — {}\n", e.name, e.description);
    let mut line = |k: &str, v: String| out.push_str(&format!("  {k:<12} {v}\n"));
    line("image", e.image.to_owned());
    line(
        "runs as",
        match e.volume {
            Some((path, size)) => format!(
                "StatefulSet `{}` with a {size} PersistentVolumeClaim `{}-data` at {path}",
                e.name, e.name
            ),
            None => format!("Deployment `{}` (no volume)", e.name),
        },
    );
    for (i, p) in e.ports.iter().enumerate() {
        let label = if i == 0 { "ports" } else { "" };
        let first = if i == 0 { " — {{ .Port }}" } else { "" };
        line(label, format!("{} {} ({}){first}", p.port, p.name, p.what));
    }
    for (i, (k, v)) in e.env.iter().enumerate() {
        line(if i == 0 { "env" } else { "" }, format!("{k}={v}"));
    }
    if !e.args.is_empty() {
        line("args", e.args.join(" "));
    }
    line("readiness", probe_text(e.probe));
    for (i, (k, v)) in e.provides.iter().enumerate() {
        line(if i == 0 { "provides" } else { "" }, format!("{k}={v}"));
    }
    out.push_str(&format!(
        "\nIn kilter.yaml: `services: [{}]`, or override fields:\n  services:\n    - name: {}\n      image: {}\n      env:\n        KEY: value\n",
        e.name, e.name, e.image
    ));
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The list is exactly what these `format!` lines print (its layout since it was added).
    #[test]
    fn the_list_keeps_its_layout() {
        let mut want = format!("{:<10} {:<42} {:<22} {}\n", "NAME", "IMAGE", "PORTS", "PROVIDES");
        for e in catalog::CATALOG {
            let ports: Vec<String> =
                e.ports.iter().map(|p| format!("{}/{}", p.port, p.name)).collect();
            let provides: Vec<&str> = e.provides.iter().map(|(k, _)| *k).collect();
            want.push_str(&format!(
                "{:<10} {:<42} {:<22} {}\n",
                e.name,
                e.image,
                ports.join(","),
                provides.join(",")
            ));
        }
        let got = list_text();
        assert!(got.starts_with(&want), "{got}");
        assert!(got.lines().nth(1).is_some_and(|l| l.starts_with("postgres   ")), "{got}");
    }
}
