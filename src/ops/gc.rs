//! `kilter gc [--yes] [--snapshots]`: find what no project owns any more, list it with sizes,
//! and remove it after confirmation.
//!
//! A project has *vanished* when the directory recorded for it (its identity record in the
//! cache dir, else the port registry's) is gone, or now resolves to another project name.
//! kilter collects:
//! - clusters of vanished projects (their Tilt is stopped, `kind delete cluster`, their cache
//!   dir and port slot go with them);
//! - cache dirs without a cluster (never the project you are in);
//! - port slots of vanished projects without a cluster (a destroyed project whose directory is
//!   still there keeps its slot);
//! - `.partial` snapshot files, and the temporary files of kilter's atomic writes
//!   (`.<name>.kilter-tmp.<pid>`) whose process is gone;
//! - snapshots of vanished projects: listed, and removed only with `--snapshots`.
//!
//! What kilter cannot attribute (a cluster without any record, an unreadable kilter.yaml, a
//! slot recorded without its directory) is kept and said so. Every removal runs under the
//! project's lock and re-checks what it is about to remove, so a concurrent `up` either wins or
//! waits; every removal goes through the runner, so `--dry-run` prints it as a script.

use std::collections::{BTreeMap, BTreeSet};
use std::io::IsTerminal;

use anyhow::Result;
use camino::{Utf8Path, Utf8PathBuf};

use super::Ctx;
use crate::cli::GcArgs;
use crate::error::{Code, Exit, code_of, invalid};
use crate::lock::Lock;
use crate::ports::{Ports, Registry};
use crate::project::{Owner, Paths, Project, owner_of};
use crate::tools::Tool;
use crate::tools::docker::{self, Docker, KilterNode};
use crate::tools::tilt::TiltFiles;
use crate::ui::{Ui, fmt_bytes};

/// What has to be typed at the prompt. `destroy` asks for the project name because it acts on
/// one named thing; `gc` acts on a list, so it asks for the word `yes` — any other answer,
/// `y` included, removes nothing — the convention of tools that apply a printed plan
/// (Terraform's "Only 'yes' will be accepted").
const CONFIRM_WORD: &str = "yes";

/// A cluster of a vanished project.
#[derive(Debug)]
struct Orphan {
    node: KilterNode,
    owner: Owner,
    /// Named on the command line: collected whatever directory still claims it.
    named: bool,
    cache_bytes: u64,
    slot: Option<u16>,
}

/// A project's cache dir with no cluster.
#[derive(Debug)]
struct CacheDir {
    project: String,
    bytes: u64,
}

/// A port slot whose project is gone.
#[derive(Debug)]
struct Slot {
    project: String,
    slot: u16,
    owner: Owner,
}

/// A `.partial` file a snapshot left.
#[derive(Debug)]
struct Partial {
    project: String,
    file: Utf8PathBuf,
    bytes: u64,
}

/// A temporary file (`.<name>.kilter-tmp.<pid>…`) whose writer is gone.
#[derive(Debug)]
struct Temp {
    file: Utf8PathBuf,
    bytes: u64,
    pid: i32,
}

/// The snapshots of a vanished project.
#[derive(Debug)]
struct Snapshots {
    project: String,
    dir: Utf8PathBuf,
    files: usize,
    bytes: u64,
    owner: Owner,
}

/// Everything `gc` found.
#[derive(Debug, Default)]
struct Plan {
    clusters: Vec<Orphan>,
    /// Cache dirs of projects without a cluster.
    caches: Vec<CacheDir>,
    /// Port slots of vanished projects.
    slots: Vec<Slot>,
    /// `.partial` snapshot files.
    partials: Vec<Partial>,
    /// Temporary files whose writer is gone.
    temps: Vec<Temp>,
    /// Snapshots of vanished projects.
    snapshots: Vec<Snapshots>,
    /// What was found but is kept, and why.
    kept: Vec<String>,
    /// Named projects `gc` must not collect (a directory still resolves to them), and why.
    refused: Vec<String>,
    /// Named projects of which nothing is known.
    unknown: Vec<String>,
}

impl Plan {
    fn removals(&self, with_snapshots: bool) -> usize {
        self.clusters.len()
            + self.caches.len()
            + self.slots.len()
            + self.partials.len()
            + self.temps.len()
            + if with_snapshots { self.snapshots.len() } else { 0 }
    }

    fn bytes(&self, with_snapshots: bool) -> u64 {
        self.clusters.iter().map(|o| o.cache_bytes).sum::<u64>()
            + self.caches.iter().map(|c| c.bytes).sum::<u64>()
            + self.partials.iter().map(|p| p.bytes).sum::<u64>()
            + self.temps.iter().map(|t| t.bytes).sum::<u64>()
            + if with_snapshots { self.snapshots.iter().map(|s| s.bytes).sum::<u64>() } else { 0 }
    }
}

pub fn run(ctx: &Ctx<'_>, args: &GcArgs) -> Result<i32> {
    let ui = ctx.ui;
    let runner = ctx.runner;
    let tools = ctx.tools(&[Tool::Docker])?;
    let docker = tools.docker()?;
    let nodes = docker.kilter_nodes(runner)?;
    // The project you are in is never collected (a broken kilter.yaml here protects nothing:
    // kilter cannot tell which project this is).
    let here = Project::resolve(&ctx.start_dir, &ctx.dirs, &Ui::silent()).ok();
    let registry = match Registry::load(&ctx.dirs.port_registry()) {
        Ok(r) => r,
        Err(e) => {
            ui.warn(&format!("{e:#}; port slots are not collected"));
            None
        }
    };
    let named = named_projects(&args.names, &nodes)?;
    let only = (!named.is_empty()).then_some(&named);
    let plan = survey(ctx, &nodes, registry.as_ref(), here.as_ref(), args.snapshots, only);
    if !plan.unknown.is_empty() {
        return Err(invalid(format!(
            "kilter knows nothing of {}: no cluster, cache dir, port slot or snapshots",
            plan.unknown.iter().map(|n| format!("`{n}`")).collect::<Vec<_>>().join(", ")
        ))
        .hint("`kilter ls` lists the projects kilter knows")
        .into());
    }
    if !plan.refused.is_empty() {
        return Err(invalid(format!(
            "refusing to collect what a project directory still claims:\n  {}",
            plan.refused.join("\n  ")
        ))
        .hint("`kilter -C DIR destroy` deletes a project's cluster (after a snapshot of its database); nothing was removed")
        .into());
    }
    show(ui, &plan, args.snapshots);
    let count = plan.removals(args.snapshots);
    if count == 0 {
        ui.info("Nothing to collect.");
        return Ok(0);
    }
    if !args.yes {
        runner.ask(
            &format!(
                "kilter asks you to type `{CONFIRM_WORD}` here to remove the {} above (or pass --yes)",
                items(count)
            ),
            || confirm(ui, count),
        )?;
    }
    let failed = collect(ctx, &docker, &plan, registry.is_some(), args.snapshots)?;
    // The router forgets the projects whose slots were released.
    crate::lifecycle::router::refresh(ctx, None)?;
    let done = count - failed.len();
    if done > 0 {
        ui.success(
            &format!("Removed {} ({} on disk)", items(done), fmt_bytes(plan.bytes(args.snapshots))),
            &format!("remove {}", items(count)),
        );
    }
    if !failed.is_empty() {
        return Err(Exit::new(
            Code::Failed,
            format!(
                "could not remove {} of {}:\n  {}",
                failed.len(),
                items(count),
                failed.join("\n  ")
            ),
        )
        .hint("run `kilter gc` again; `-v` shows every command")
        .into());
    }
    Ok(0)
}

/// `1 item`, `3 items`.
fn items(n: usize) -> String {
    if n == 1 { "1 item".to_owned() } else { format!("{n} items") }
}

/// The project names the user named: `NAME` or the cluster `kilter-NAME` (when such a cluster
/// exists and no project `kilter-NAME` does).
fn named_projects(args: &[String], nodes: &[KilterNode]) -> Result<BTreeSet<String>> {
    let mut out = BTreeSet::new();
    for a in args {
        let by_cluster = nodes.iter().find(|n| n.cluster == *a && n.project != *a);
        let name = match by_cluster {
            Some(n) if !nodes.iter().any(|m| m.project == *a) => n.project.clone(),
            _ => a.clone(),
        };
        crate::config::validate_name(&name)?;
        out.insert(name);
    }
    Ok(out)
}

/// The files and directories kilter keeps in a project's cache dir (docs/files.md).
const CACHE_ENTRIES: [&str; 18] = [
    "kubeconfig",
    "kubeconfig.lock",
    "commands.log",
    "tilt.log",
    "tilt.json",
    "kind-config.yaml",
    "creating",
    "project.json",
    "lock",
    "flag-undo.json",
    "services.yaml",
    "registry",
    "artifacts",
    "restore.log",
    "local-registry-hosting.yaml",
    "render",
    "render.new",
    "render.old",
];

/// What a directory under the cache root holds: whether any of it is kilter's, and the
/// entries that are not (sorted).
fn cache_contents(dir: &Utf8Path) -> (bool, Vec<String>) {
    let Ok(rd) = dir.read_dir_utf8() else { return (false, Vec::new()) };
    let mut kilters = false;
    let mut foreign = Vec::new();
    for e in rd.flatten() {
        let n = e.file_name();
        if CACHE_ENTRIES.contains(&n) || temp_pid(n).is_some() {
            kilters = true;
        } else {
            foreign.push(n.to_owned());
        }
    }
    foreign.sort();
    (kilters, foreign)
}

/// Why a cache dir may not be removed as a whole, if it may not.
fn cache_dir_keeps(dir: &Utf8Path) -> Option<String> {
    match cache_contents(dir) {
        (false, _) => Some(format!("{dir} holds no kilter files; kilter leaves it alone")),
        (true, foreign) if !foreign.is_empty() => Some(format!(
            "{dir} also holds files kilter did not write ({}); kilter leaves it alone",
            foreign.join(", ")
        )),
        _ => None,
    }
}

/// Valid project names among the subdirectories of `dir`.
fn names_in(dir: &Utf8Path) -> Vec<String> {
    let Ok(rd) = dir.read_dir_utf8() else { return Vec::new() };
    rd.flatten()
        .filter(|e| e.file_type().is_ok_and(|t| t.is_dir()))
        .map(|e| e.file_name().to_owned())
        .filter(|n| crate::config::validate_name(n).is_ok())
        .collect()
}

/// Bytes under `path` (files and symlinks themselves; symlinks are not followed).
fn size_of(path: &Utf8Path) -> u64 {
    let Ok(meta) = std::fs::symlink_metadata(path) else { return 0 };
    if !meta.is_dir() {
        return meta.len();
    }
    let Ok(rd) = path.read_dir_utf8() else { return 0 };
    rd.flatten().map(|e| size_of(e.path())).sum()
}

/// `.<file>.kilter-tmp.<pid>` → pid.
fn temp_pid(file_name: &str) -> Option<i32> {
    crate::fsutil::staged_tmp(file_name).map(|(_, pid)| pid)
}

fn survey(
    ctx: &Ctx<'_>,
    nodes: &[KilterNode],
    registry: Option<&Registry>,
    here: Option<&Project>,
    with_snapshots: bool,
    only: Option<&BTreeSet<String>>,
) -> Plan {
    let dirs = &ctx.dirs;
    let here_name = here.map(|p| p.name.as_str());
    let wanted = |n: &str| only.is_none_or(|o| o.contains(n));
    let named = |n: &str| only.is_some_and(|o| o.contains(n));
    let cache_names: Vec<String> =
        names_in(&dirs.cache).into_iter().filter(|n| wanted(n)).collect();
    let data_names: Vec<String> = names_in(&dirs.data).into_iter().filter(|n| wanted(n)).collect();
    let nodes: Vec<KilterNode> = nodes.iter().filter(|n| wanted(&n.project)).cloned().collect();
    let nodes = nodes.as_slice();
    let mut names: BTreeSet<String> = BTreeSet::new();
    names.extend(nodes.iter().map(|n| n.project.clone()));
    names.extend(cache_names.iter().cloned());
    names.extend(data_names.iter().cloned());
    if let Some(r) = registry {
        names.extend(r.projects.keys().filter(|n| wanted(n)).cloned());
    }
    let entry = |n: &str| registry.and_then(|r| r.projects.get(n));
    let owners: BTreeMap<String, Owner> = names
        .iter()
        .map(|n| {
            let owner = match here {
                Some(p) if p.name == *n => Owner::Here(p.dir.clone()),
                _ => owner_of(dirs, n, entry(n).and_then(|e| e.dir.as_deref())),
            };
            (n.clone(), owner)
        })
        .collect();
    let owner = |n: &str| owners.get(n).cloned().unwrap_or(Owner::Unknown);
    let node_of = |n: &str| nodes.iter().find(|x| x.project == n);
    let mut plan = Plan::default();
    if let Some(o) = only {
        plan.unknown = o.iter().filter(|n| !names.contains(*n)).cloned().collect();
        for n in o.iter().filter(|n| names.contains(*n)) {
            if let Owner::Here(d) = owner(n) {
                plan.refused.push(format!("project `{n}`: {d} still resolves to it"));
            }
        }
    }
    // Named on the command line, or no directory claims it any more.
    let collectable = |n: &str| named(n) || owner(n).vanished();

    for n in nodes {
        let o = owner(&n.project);
        if collectable(&n.project) {
            let paths = Paths::new(dirs, &n.project);
            plan.clusters.push(Orphan {
                node: n.clone(),
                owner: o,
                named: named(&n.project),
                cache_bytes: size_of(&paths.cache),
                slot: entry(&n.project).map(|e| e.slot),
            });
        } else if matches!(o, Owner::Unknown | Owner::Unreadable { .. } | Owner::Other { .. }) {
            let claim = if matches!(o, Owner::Other { .. }) {
                "`kilter up` there claims it again once its kilter.yaml names it"
            } else {
                "`kilter up --adopt` in its directory claims it"
            };
            plan.kept.push(format!(
                "cluster {} ({}): {}; {claim}, `kilter gc {}` removes it",
                n.cluster,
                n.state,
                o.describe(),
                n.project
            ));
        }
    }
    // Cache dirs that go as a whole: those of orphan clusters and those without a cluster.
    let mut gone_caches: BTreeSet<&str> =
        plan.clusters.iter().map(|o| o.node.project.as_str()).collect();
    for n in &cache_names {
        if Some(n.as_str()) == here_name || node_of(n).is_some() {
            continue;
        }
        let dir = dirs.cache.join(n);
        if let Some(why) = cache_dir_keeps(&dir) {
            plan.kept.push(why);
            continue;
        }
        plan.caches.push(CacheDir { project: n.clone(), bytes: size_of(&dir) });
        gone_caches.insert(n);
    }
    if let Some(r) = registry {
        let mut unknown = Vec::new();
        for (n, e) in &r.projects {
            if Some(n.as_str()) == here_name || node_of(n).is_some() || !wanted(n) {
                continue;
            }
            match owner(n) {
                o if collectable(n) => {
                    plan.slots.push(Slot { project: n.clone(), slot: e.slot, owner: o })
                }
                Owner::Unknown => unknown.push(n.as_str()),
                _ => {}
            }
        }
        if !unknown.is_empty() {
            plan.kept.push(format!(
                "port slots of {}: no directory is recorded for them (`kilter up` in a project records it; a project destroyed before that keeps its slot)",
                unknown.iter().map(|n| format!("`{n}`")).collect::<Vec<_>>().join(", ")
            ));
        }
    }
    // Snapshots of vanished projects (whose cluster, if any, is an orphan too). A project of
    // which nothing but snapshots is left counts as vanished too — but only when the port
    // registry is there to say it has no slot (every project that ever ran has one until `gc`
    // frees it; `destroy` keeps it).
    let mut gone_data: BTreeSet<&str> = BTreeSet::new();
    for n in &data_names {
        let forgotten = registry.is_some_and(|r| !r.projects.contains_key(n))
            && owner(n) == Owner::Unknown
            && node_of(n).is_none()
            && !cache_names.contains(n);
        let o = if forgotten { Owner::Forgotten } else { owner(n) };
        if !(o.vanished() || named(n)) || Some(n.as_str()) == here_name {
            continue;
        }
        let dir = dirs.data.join(n);
        let files = walk_files(&dir).len();
        plan.snapshots.push(Snapshots {
            project: n.clone(),
            dir: dir.clone(),
            files,
            bytes: size_of(&dir),
            owner: o,
        });
        if with_snapshots {
            gone_data.insert(n);
        }
    }
    for n in &data_names {
        if gone_data.contains(n.as_str()) {
            continue;
        }
        let snaps = Paths::new(dirs, n).snapshots;
        for f in files_in(&snaps) {
            if f.as_str().ends_with(".partial") {
                let bytes = size_of(&f);
                plan.partials.push(Partial { project: n.clone(), file: f, bytes });
            }
        }
    }
    // Temporary files of atomic writes whose writer is gone (not when only named projects are
    // collected).
    if only.is_some() {
        return plan;
    }
    let mut scan: BTreeSet<Utf8PathBuf> = BTreeSet::new();
    scan.insert(dirs.state.clone());
    for n in &cache_names {
        if !gone_caches.contains(n.as_str()) {
            scan.insert(dirs.cache.join(n));
        }
    }
    for n in &data_names {
        if !gone_data.contains(n.as_str()) {
            scan.insert(Paths::new(dirs, n).snapshots);
        }
    }
    for o in owners.values() {
        if let Owner::Here(d) = o {
            scan.insert(d.clone());
        }
    }
    for d in &scan {
        for f in files_in(d) {
            if let Some(pid) = f.file_name().and_then(temp_pid)
                && !crate::exec::pid_alive(pid)
            {
                let bytes = size_of(&f);
                plan.temps.push(Temp { file: f, bytes, pid });
            }
        }
    }
    plan
}

/// Regular files directly in `dir`, sorted.
fn files_in(dir: &Utf8Path) -> Vec<Utf8PathBuf> {
    let Ok(rd) = dir.read_dir_utf8() else { return Vec::new() };
    let mut v: Vec<Utf8PathBuf> = rd
        .flatten()
        .filter(|e| e.file_type().is_ok_and(|t| t.is_file()))
        .map(|e| e.path().to_owned())
        .collect();
    v.sort();
    v
}

/// Every file under `dir`.
fn walk_files(dir: &Utf8Path) -> Vec<Utf8PathBuf> {
    let Ok(rd) = dir.read_dir_utf8() else { return Vec::new() };
    let mut out = Vec::new();
    for e in rd.flatten() {
        match e.file_type() {
            Ok(t) if t.is_dir() => out.extend(walk_files(e.path())),
            Ok(_) => out.push(e.path().to_owned()),
            Err(_) => {}
        }
    }
    out
}

/// A slot's NodePort block as `first-last`.
fn range(p: &Ports) -> String {
    let b = p.block();
    format!("{}-{}", b.start(), b.end())
}

fn show(ui: &Ui, plan: &Plan, with_snapshots: bool) {
    let mut lines: Vec<String> = Vec::new();
    for o in &plan.clusters {
        let slot = o
            .slot
            .map(|s| {
                let p = Ports::of(s);
                format!(", port slot {s} (Tilt {}, NodePorts {})", p.tilt, range(&p))
            })
            .unwrap_or_default();
        let why = if o.named && !o.owner.vanished() {
            format!("named on the command line ({})", o.owner.describe())
        } else {
            o.owner.describe()
        };
        lines.push(format!(
            "cluster {} ({}): {why}; with its cache dir ({}){slot}",
            o.node.cluster,
            o.node.state,
            fmt_bytes(o.cache_bytes)
        ));
    }
    for CacheDir { project: n, bytes } in &plan.caches {
        lines.push(format!("cache dir of `{n}` ({}): no cluster kilter-{n}", fmt_bytes(*bytes)));
    }
    for Slot { project: n, slot, owner } in &plan.slots {
        let p = Ports::of(*slot);
        lines.push(format!(
            "port slot {slot} of `{n}` (Tilt {}, NodePorts {}): {}",
            p.tilt,
            range(&p),
            owner.describe()
        ));
    }
    for Partial { file, bytes, .. } in &plan.partials {
        lines.push(format!("incomplete snapshot {file} ({})", fmt_bytes(*bytes)));
    }
    for Temp { file, bytes, pid } in &plan.temps {
        lines.push(format!(
            "temporary file {file} ({}): its writer (pid {pid}) is gone",
            fmt_bytes(*bytes)
        ));
    }
    let mut kept = plan.kept.clone();
    for Snapshots { project: n, dir, files, bytes, owner } in &plan.snapshots {
        let what = format!(
            "snapshots of `{n}` in {dir} ({files} file{}, {}): {}",
            if *files == 1 { "" } else { "s" },
            fmt_bytes(*bytes),
            owner.describe()
        );
        if with_snapshots {
            lines.push(what);
        } else {
            kept.push(format!("{what}; `kilter gc --snapshots` removes them"));
        }
    }
    if !lines.is_empty() {
        ui.info(&format!(
            "kilter gc found {} item{} no project owns ({} on disk):",
            lines.len(),
            if lines.len() == 1 { "" } else { "s" },
            fmt_bytes(plan.bytes(with_snapshots))
        ));
        for l in &lines {
            ui.info(&format!("  - {l}"));
        }
    }
    if !kept.is_empty() {
        ui.info("Kept:");
        for l in &kept {
            ui.info(&format!("  - {l}"));
        }
    }
}

/// On a terminal, ask for the word; without one, `--yes` is required (exit 4).
fn confirm(ui: &Ui, count: usize) -> Result<()> {
    if !std::io::stdin().is_terminal() {
        return Err(invalid(format!(
            "refusing to remove {} without confirmation: no terminal to ask on",
            items(count)
        ))
        .hint("pass --yes to confirm (`kilter gc --dry-run` prints what it would run)")
        .into());
    }
    let line = ui.prompt(&format!("Type `{CONFIRM_WORD}` to remove {}: ", items(count)))?;
    if line != CONFIRM_WORD {
        return Err(Exit::new(Code::Invalid, "not confirmed; nothing was removed").into());
    }
    Ok(())
}

/// The project lock, when the project has a cache dir (taking it would create one).
fn lock_if_cached(ctx: &Ctx<'_>, paths: &Paths, name: &str) -> Result<Option<Lock>> {
    if !paths.cache.is_dir() {
        return Ok(None);
    }
    ctx.runner.lock(
        &paths.lock,
        &format!("project `{name}`"),
        "kilter gc",
        crate::lock::default_timeout()?,
    )
}

/// Remove what the plan lists. Returns the items that failed (an interruption stops it all).
fn collect(
    ctx: &Ctx<'_>,
    docker: &Docker<'_>,
    plan: &Plan,
    registry_ok: bool,
    with_snapshots: bool,
) -> Result<Vec<String>> {
    let runner = ctx.runner;
    let mut failed: Vec<String> = Vec::new();
    let mut note = |what: String, r: Result<()>| -> Result<()> {
        match r {
            Ok(()) => Ok(()),
            Err(e) if code_of(&e) == Code::Interrupted => Err(e),
            Err(e) => {
                failed.push(format!("{what}: {}", crate::error::with_stderr(&e, "    ")));
                Ok(())
            }
        }
    };
    let mut released: Vec<&str> = Vec::new();
    if !plan.clusters.is_empty() {
        let tools = ctx.tools(&[Tool::Kind])?;
        let kind = tools.kind()?;
        for o in &plan.clusters {
            let r = remove_cluster(ctx, &kind, o);
            if let Ok(true) = r {
                released.push(&o.node.project);
            }
            note(format!("cluster {}", o.node.cluster), r.map(|_| ()))?;
        }
    }
    for CacheDir { project: n, .. } in &plan.caches {
        let r = remove_cache(ctx, docker, n);
        note(format!("cache dir of `{n}`"), r)?;
    }
    released.extend(plan.slots.iter().map(|s| s.project.as_str()));
    if registry_ok && !released.is_empty() {
        let path = ctx.dirs.port_registry();
        let r = crate::ports::with_registry(
            &path,
            runner,
            || Ok(BTreeMap::new()),
            |reg| Ok(reg.release(&released)),
        );
        note(format!("port slots in {path}"), r.map(|_| ()))?;
    }
    for Partial { project: n, file: f, .. } in &plan.partials {
        let r = (|| {
            let _lock = lock_if_cached(ctx, &Paths::new(&ctx.dirs, n), n)?;
            runner.remove_file(f).map(|_| ())
        })();
        note(format!("{f}"), r)?;
    }
    for Temp { file: f, pid, .. } in &plan.temps {
        // A temporary file belongs to the process whose pid it carries; it is only ever
        // touched again by that process, so a dead pid makes it garbage.
        let r =
            if crate::exec::pid_alive(*pid) { Ok(()) } else { runner.remove_file(f).map(|_| ()) };
        note(format!("{f}"), r)?;
    }
    if with_snapshots {
        for Snapshots { project: n, dir, .. } in &plan.snapshots {
            let r = (|| {
                let _lock = lock_if_cached(ctx, &Paths::new(&ctx.dirs, n), n)?;
                runner.remove_dir_all(dir).map(|_| ())
            })();
            note(format!("snapshots of `{n}`"), r)?;
        }
    }
    Ok(failed)
}

/// Delete an orphan cluster and its cache dir, under its lock, if it is still an orphan.
/// Returns whether it was removed.
fn remove_cluster(ctx: &Ctx<'_>, kind: &crate::tools::kind::Kind<'_>, o: &Orphan) -> Result<bool> {
    let ui = ctx.ui;
    let runner = ctx.runner;
    let name = &o.node.project;
    let paths = Paths::new(&ctx.dirs, name);
    let _lock = lock_if_cached(ctx, &paths, name)?;
    // Under the lock: an `up --adopt` from a new directory may have claimed it meanwhile.
    let recorded = Registry::load(&ctx.dirs.port_registry())
        .ok()
        .flatten()
        .and_then(|r| r.projects.get(name).and_then(|e| e.dir.clone()));
    let owner = owner_of(&ctx.dirs, name, recorded.as_deref());
    if !(owner.vanished() || o.named && !matches!(owner, Owner::Here(_))) {
        ui.note(&format!("kept cluster {}: {}", o.node.cluster, owner.describe()));
        return Ok(false);
    }
    let files = TiltFiles { record: &paths.tilt_json, log: &paths.tilt_log };
    crate::lifecycle::stop_tilt(ctx, &files, Some(name))?;
    let cmd = kind.delete_cmd(&o.node.cluster, &paths.kubeconfig);
    let out = runner.run_unchecked(&cmd)?;
    if !out.success() {
        if docker::daemon_unreachable(&out.stderr) {
            return Err(docker::daemon_error(&out.stderr).into());
        }
        return Err(runner.failed(&cmd, &out, None).into());
    }
    match cache_dir_keeps(&paths.cache) {
        Some(why) if paths.cache.is_dir() => ui.note(&format!("kept its cache dir: {why}")),
        _ => {
            runner.remove_dir_all(&paths.cache)?;
        }
    }
    ui.success(
        &format!("Deleted cluster {}", o.node.cluster),
        &format!("delete {}", o.node.cluster),
    );
    Ok(true)
}

/// Remove a cache dir if its project still has no cluster (under its lock: an `up` that is
/// creating one right now holds it).
fn remove_cache(ctx: &Ctx<'_>, docker: &Docker<'_>, name: &str) -> Result<()> {
    let runner = ctx.runner;
    let paths = Paths::new(&ctx.dirs, name);
    let _lock = lock_if_cached(ctx, &paths, name)?;
    let node = format!("kilter-{name}-control-plane");
    if docker.inspect(runner, &node)?.is_some() {
        ctx.ui.note(&format!("kept the cache dir of `{name}`: its cluster exists now"));
        return Ok(());
    }
    if let Some(why) = cache_dir_keeps(&paths.cache) {
        ctx.ui.note(&format!("kept the cache dir of `{name}`: {why}"));
        return Ok(());
    }
    let files = TiltFiles { record: &paths.tilt_json, log: &paths.tilt_log };
    crate::lifecycle::stop_tilt(ctx, &files, Some(name))?;
    runner.remove_dir_all(&paths.cache)?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn temporary_file_names_carry_their_writers_pid() {
        assert_eq!(temp_pid(".ports.json.kilter-tmp.4242"), Some(4242));
        assert_eq!(temp_pid(".kilter.yaml.kilter-tmp.7"), Some(7));
        assert_eq!(temp_pid("ports.json.kilter-tmp.7"), None, "kilter's start with a dot");
        assert_eq!(temp_pid(".x.kilter-tmp.0"), None);
        assert_eq!(temp_pid(".x.kilter-tmp.12ab"), None);
        assert_eq!(temp_pid(".x.kilter-tmp."), None);
        assert_eq!(temp_pid(".notes"), None);
    }
}
