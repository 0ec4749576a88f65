//! `kilter db snapshot|list|restore|rm|prune|pin|unpin|shell` and the `pre-destroy-…` snapshot of
//! `destroy`: orchestration only. The store (files, metadata, verification) is `crate::snapshot`.
//!
//! Taking a snapshot: for each database (the configured one, then each `--include`), the dump
//! (`pg_dump -Fc -Z0`, `mysqldump`/`mariadb-dump`) streams out of `kubectl exec` into kilter,
//! which compresses it with multi-threaded zstd and hashes it on the way into `<file>.partial`
//! (kilter never holds a dump in memory). Each file is fsynced and checked (`PGDMP` magic, or the
//! `-- Dump completed` trailer). Only when every dump succeeded are the files renamed into place
//! and `NAME.json` written, last. Any failure or Ctrl-C removes the `.partial` files; an
//! existing snapshot of the same name is only replaced (`--force`) once the new one is complete.
//!
//! Restoring: every file's size and sha256 are verified before any command touches a database;
//! each file is then decompressed by kilter into `kubectl exec -i … -- pg_restore --clean
//! --if-exists --no-owner` (or `mysql`/`mariadb`), and success is reported only once each
//! database answers `select 1`.

use std::io::IsTerminal;
use std::time::{Duration, Instant};

use anyhow::{Context, Result};
use camino::Utf8Path;
use serde::Serialize;

use super::{Ctx, workload};
use crate::cli::{DbArgs, DbCommand, PruneArgs, ShellArgs, SnapshotCommand};
use crate::config::Database;
use crate::error::{Code, CommandFailed, Exit, invalid};
use crate::exec::{Chunk, Cmd, Stdin, quote};
use crate::project::Project;
use crate::snapshot::engine::Engine;
use crate::snapshot::store::{self, PartialGuard, Writer};
use crate::snapshot::{
    self, Compression, DbFile, Entry, Meta, State, data_file_name, fmt_bytes, meta_path,
    meta_tmp_path, partial_path,
};
use crate::tools::kubectl::{self, ExecTarget, Kubectl, PodPick};
use crate::tools::{Tool, Tools};

pub use crate::snapshot::{SCHEMA_VERSION, validate_name};

/// The zstd level of new snapshots, chosen by measurement (README, "Performance"): on two cores
/// level 1 compresses the dump of a random-bytes database (hex text in COPY) 3× faster than
/// level 3, and smaller; on pgbench data it gives 4.9 MB where level 3 gives 3.9 MB and pg_dump's
/// zlib 11.3 MB. Even truly random input takes it only ~0.5 s per 100 MB on two threads, so
/// nothing is stored as-is.
pub const ZSTD_LEVEL: i32 = 1;

pub fn run(ctx: &Ctx<'_>, args: &DbArgs) -> Result<i32> {
    match &args.command {
        DbCommand::Snapshot(a) => match &a.command {
            Some(SnapshotCommand::List(l)) => list(ctx, l.json),
            None => snapshot(ctx, a.name.as_deref(), a.force, &a.include),
        },
        DbCommand::List(a) => list(ctx, a.json),
        DbCommand::Restore(a) => restore(ctx, a.name.as_deref()),
        DbCommand::Rm(a) => rm(ctx, &a.name),
        DbCommand::Prune(a) => prune(ctx, a),
        DbCommand::Pin(a) => pin(ctx, &a.name, true),
        DbCommand::Unpin(a) => pin(ctx, &a.name, false),
        DbCommand::Shell(a) => shell(ctx, a),
    }
}

/// The database settings with their defaults; an absent `database:` section means the defaults.
pub fn database(project: &Project) -> (Database, String) {
    let db = project.config.database.clone().unwrap_or_default();
    let name = db.name.clone().unwrap_or_else(|| project.name.clone());
    (db, name)
}

// ---------------------------------------------------------------------------------------------
// Finding the database pod

/// kubectl for the project (after checking the node runs) and the pod to exec into.
struct Target<'t> {
    kubectl: Kubectl<'t>,
    exec: ExecTarget,
    workload: kubectl::Workload,
}

impl Target<'_> {
    fn exec(&self, summary: String, stdin: bool, argv: &[String]) -> Cmd {
        let argv: Vec<&str> = argv.iter().map(String::as_str).collect();
        self.kubectl.exec_cmd(summary, &self.exec, stdin, &argv)
    }
}

fn locate<'t>(
    ctx: &Ctx<'_>,
    project: &Project,
    tools: &'t Tools,
    db: &Database,
) -> Result<Target<'t>> {
    let kubectl = workload::kubectl(ctx, project, tools)?;
    let ns = project.namespace();
    let out = ctx.runner.run(&kubectl.workloads_cmd(&ns))?;
    let all = kubectl::parse_workloads(&out.stdout)?;
    let Some(w) = all.iter().find(|w| w.name == db.service).cloned() else {
        let existing = workload::listing(&all, &ns);
        return Err(Exit::new(
            Code::Failed,
            format!(
                "database workload `{}` not found: no Deployment or StatefulSet of that name in {ns}",
                db.service
            ),
        )
        .hint(format!("{existing}; `database.service` in kilter.yaml names the database workload"))
        .into());
    };
    let Some(selector) = w.selector.clone() else {
        return Err(Exit::new(
            Code::Failed,
            format!("{} has no usable pod selector", w.reference()),
        )
        .into());
    };
    let out = ctx.runner.run(&kubectl.pods_cmd(&ns, &selector))?;
    let mut prefer = vec![db.engine.as_str(), db.service.as_str()];
    prefer.extend(Engine::from_config(db.engine.as_str()).containers());
    match kubectl::pick_pod(&out.stdout, &prefer)? {
        PodPick::Found { pod, container } => {
            Ok(Target { kubectl, exec: ExecTarget { pod, namespace: ns, container }, workload: w })
        }
        PodPick::NoneRunning(seen) => {
            let what = if seen.is_empty() {
                "it has no pods".to_owned()
            } else {
                format!("its pods: {}", seen.join(", "))
            };
            Err(Exit::new(
                Code::Failed,
                format!(
                    "the database is not running: no Running pod of {} in {ns}; {what}",
                    w.reference()
                ),
            )
            .hint(format!(
                "wait until it runs (`kilter status`), or look at `kilter logs {}`",
                w.name
            ))
            .into())
        }
    }
}

// ---------------------------------------------------------------------------------------------
// snapshot

fn snapshot(ctx: &Ctx<'_>, name: Option<&str>, force: bool, include: &[String]) -> Result<i32> {
    let project = ctx.project()?;
    let name = match name {
        Some(n) => n.to_owned(),
        None => crate::time::compact(crate::time::now_secs()),
    };
    validate_name(&name)?;
    for db in include {
        snapshot::validate_database(db)?;
    }
    let _lock = ctx.lock(&project, "kilter db snapshot")?;
    let tools = Tools::discover(&[Tool::Docker, Tool::Kubectl])?;
    take(ctx, &project, &tools, &name, force, include)?;
    Ok(0)
}

/// What [`take`] made.
#[derive(Debug)]
pub struct Taken {
    pub meta: Meta,
}

/// Whether a snapshot of this name exists (complete, damaged, or a v1 dump without metadata);
/// leftovers of an interrupted one do not count.
fn existing(dir: &Utf8Path, name: &str) -> Result<Option<Entry>> {
    Ok(snapshot::entries(dir)?.into_iter().find(|e| e.name == name))
}

/// Take snapshot `name` (already validated) of the configured database and `include`. The
/// caller holds the project lock. Returns `None` in `--dry-run`.
pub fn take(
    ctx: &Ctx<'_>,
    project: &Project,
    tools: &Tools,
    name: &str,
    force: bool,
    include: &[String],
) -> Result<Option<Taken>> {
    let ui = ctx.ui;
    let runner = ctx.runner;
    let dir = &project.paths.snapshots;
    let old = existing(dir, name)?;
    if let Some(e) = old.as_ref().filter(|e| e.state != State::Incomplete)
        && !force
    {
        let when = match (&e.created_at, e.has_metadata) {
            (Some(t), true) => format!(" (taken {t}, {})", fmt_bytes(e.size)),
            _ => String::new(),
        };
        return Err(invalid(format!("snapshot `{name}` already exists{when}"))
            .hint("pass --force to replace it (the old one is kept until the new dump is complete), or choose another name")
            .into());
    }
    let (db, db_name) = database(project);
    let engine = Engine::from_config(db.engine.as_str());
    let mut dbs: Vec<(String, Option<String>)> = vec![(db_name.clone(), None)];
    for inc in include {
        if !dbs.iter().any(|(d, _)| d == inc) {
            dbs.push((inc.clone(), Some(inc.clone())));
        }
    }
    let t = locate(ctx, project, tools, &db)?;

    // The server version, asked before the dump (it also proves the database answers).
    let version_cmd = t.exec(
        format!("ask database {db_name} for its server version"),
        false,
        &engine.version_argv(&db.user, &db_name),
    );
    let out = runner.run_unchecked(&version_cmd)?;
    if !out.success() {
        return Err(runner
            .failed(
                &version_cmd,
                &out,
                Some(format!(
                    "check `database.user` ({}) and `database.name` ({db_name}) in kilter.yaml",
                    db.user
                )),
            )
            .into());
    }
    let server_version = out.stdout.trim().to_owned();
    let created_at = crate::time::rfc3339_now();
    let compression = Compression::Zstd { level: ZSTD_LEVEL };

    store::ensure_dir(runner, dir)?;
    // Leftovers of an interrupted snapshot of this name go first.
    if let Some(e) = &old {
        let stale: Vec<_> = if e.state == State::Incomplete {
            e.files.clone()
        } else {
            e.files.iter().filter(|f| f.as_str().ends_with(".partial")).cloned().collect()
        };
        let mut stale = stale;
        let tmp = meta_tmp_path(dir, name);
        if tmp.exists() && !stale.contains(&tmp) {
            stale.push(tmp);
        }
        store::remove(runner, &stale)?;
    }

    let mut guard = PartialGuard { paths: Vec::new() };
    let mut files: Vec<DbFile> = Vec::new();
    let mut renames = Vec::new();
    let total_start = Instant::now();
    for (dbname, inc) in &dbs {
        let file = data_file_name(name, inc.as_deref(), engine.ext(), compression);
        let dest = dir.join(&file);
        let partial = partial_path(&dest);
        let dump_cmd = t
            .exec(
                format!("dump database {dbname} from pod {}", t.exec.pod),
                false,
                &engine.dump_argv(&db.user, dbname),
            )
            .mutate();
        let rest = match compression {
            Compression::Zstd { level } => {
                format!("{} > {}", store::zstd_shell(level), quote(partial.as_str()))
            }
            Compression::None => format!("cat > {}", quote(partial.as_str())),
        };
        renames.push((partial.clone(), dest.clone()));
        let what = format!(
            "Dumping database {dbname} from {} (pod {})",
            t.workload.reference(),
            t.exec.pod
        );
        let step = ui.step(&what, &format!("dump database {dbname} into {partial}"));
        let started = Instant::now();
        let mut last = Instant::now();
        let progress = ui.progress_enabled();
        // Opened only when the dump really runs (the runner says `Start`; a dry run never does).
        let mut writer: Option<Writer> = None;
        let out = runner.run_stdout_into(&dump_cmd, &rest, &mut |chunk| match chunk {
            Chunk::Start => {
                let handle = store::create_partial(&partial).map_err(std::io::Error::other)?;
                guard.paths.push(partial.clone());
                writer = Some(Writer::new(handle, compression)?);
                Ok(())
            }
            Chunk::Data(data) => {
                let w = writer
                    .as_mut()
                    .ok_or_else(|| std::io::Error::other("dump data before its start"))?;
                w.write(data)?;
                if progress && last.elapsed() >= Duration::from_millis(250) {
                    last = Instant::now();
                    let n = w.raw_bytes();
                    let rate = n as f64 / started.elapsed().as_secs_f64().max(0.001);
                    ui.progress(&format!(
                        "{what}: {} ({}/s)",
                        fmt_bytes(n),
                        fmt_bytes(rate as u64)
                    ));
                }
                Ok(())
            }
        });
        let out = match out {
            Ok(o) => o,
            Err(e) => {
                drop(step);
                return Err(e.context(format!(
                    "the partial snapshot was removed; {}",
                    kept(old.as_ref(), name)
                )));
            }
        };
        if !out.success() {
            drop(step);
            let prog = engine.dump_argv("", "")[0].clone();
            let kept = format!("the partial dump was removed; {}", kept(old.as_ref(), name));
            let hint = if out.code == Some(137) {
                format!("{prog} was killed (out of memory?); {kept}")
            } else {
                kept
            };
            return Err(runner.failed(&dump_cmd, &out, Some(hint)).into());
        }
        let Some(writer) = writer else {
            // Nothing ran (a dry run): there is nothing to check or record.
            drop(step);
            continue;
        };
        let written =
            writer.finish().with_context(|| format!("could not finish writing {partial}"))?;
        if !engine.looks_whole(&written.head, &written.tail) {
            drop(step);
            let want = match engine {
                Engine::Postgres => "a custom-format archive",
                Engine::Mysql | Engine::Mariadb => "a complete dump (no `-- Dump completed` line)",
            };
            return Err(Exit::new(
                Code::Failed,
                format!(
                    "the dump of database {dbname} exited 0 but is not {want} ({} bytes); nothing was kept",
                    written.raw_size
                ),
            )
            .hint("run the command from commands.log by hand to see what the pod's dump program writes")
            .into());
        }
        step.done();
        ui.detail(&format!(
            "{dbname}: {} dumped, {} on disk ({})",
            fmt_bytes(written.raw_size),
            fmt_bytes(written.size),
            compression.label()
        ));
        files.push(DbFile {
            name: dbname.clone(),
            file,
            format: engine.format().to_owned(),
            compression,
            size: written.size,
            sha256: written.sha256,
            raw_size: Some(written.raw_size),
        });
    }

    // Commit: every file into place, then the metadata last.
    for (from, to) in &renames {
        store::rename(runner, from, to)?;
    }
    guard.disarm();
    if files.len() < dbs.len() {
        // A dry run: the dumps were printed, not taken.
        runner.note(&format!(
            "kilter checks each dump, records its size and sha256 and writes {} last",
            meta_path(dir, name)
        ));
        return Ok(None);
    }
    let first = &files[0];
    let meta = Meta {
        schema_version: SCHEMA_VERSION,
        name: name.to_owned(),
        project: project.name.clone(),
        engine: db.engine.to_string(),
        database: db_name.clone(),
        user: db.user.clone(),
        service: t.workload.reference(),
        pod: t.exec.pod.clone(),
        server_version,
        created_at,
        size: files.iter().map(|f| f.size).sum(),
        sha256: first.sha256.clone(),
        kilter_version: env!("CARGO_PKG_VERSION").to_owned(),
        compression,
        databases: files,
        // A replaced snapshot keeps its pin.
        pinned: old.as_ref().is_some_and(|e| e.pinned),
    };
    store::write_meta(runner, dir, &meta)?;
    // Files of the replaced snapshot that the new one does not have.
    if let Some(e) = &old {
        let keep: Vec<_> = meta.databases.iter().map(|d| dir.join(&d.file)).collect();
        let meta_file = meta_path(dir, name);
        let stale: Vec<_> = e
            .files
            .iter()
            .filter(|f| !keep.contains(f) && **f != meta_file && f.exists())
            .cloned()
            .collect();
        store::remove(runner, &stale)?;
    }
    let took = total_start.elapsed();
    let raw: u64 = meta.databases.iter().filter_map(|d| d.raw_size).sum();
    ui.success(
        &format!(
            "Snapshot `{name}`: {} dumped → {} ({}) in {} ({}/s) → {}",
            fmt_bytes(raw),
            fmt_bytes(meta.size),
            compression.label(),
            crate::ui::fmt_duration(took),
            fmt_bytes((raw as f64 / took.as_secs_f64().max(0.001)) as u64),
            dir.join(&meta.databases[0].file)
        ),
        &format!("take snapshot `{name}`"),
    );
    Ok(Some(Taken { meta }))
}

fn kept(old: Option<&Entry>, name: &str) -> String {
    match old {
        Some(e) if e.state != State::Incomplete => {
            format!("the existing snapshot `{name}` is unchanged")
        }
        _ => format!("no snapshot `{name}` was written"),
    }
}

/// `destroy`'s safety net: when the node runs, take `pre-destroy-<UTC timestamp>` (the caller
/// holds the project lock). A failure stops `destroy` before anything is deleted.
pub fn pre_destroy(ctx: &Ctx<'_>, project: &Project) -> Result<()> {
    let tools = Tools::discover(&[Tool::Docker, Tool::Kubectl])?;
    let node = tools.docker()?.inspect(ctx.runner, &project.node())?;
    let running =
        node.as_ref().is_some_and(|c| c.node_state() == crate::tools::docker::NodeState::Running);
    if !running {
        ctx.ui.warn(&format!(
            "cluster {} is not running, so no pre-destroy database snapshot is taken",
            project.cluster()
        ));
        return Ok(());
    }
    let name = format!("pre-destroy-{}", crate::time::compact(crate::time::now_secs()));
    match take(ctx, project, &tools, &name, false, &[]) {
        Ok(_) => Ok(()),
        Err(mut e) => {
            let extra = "nothing was deleted; fix the problem, or pass --no-snapshot to destroy without a snapshot";
            let mut hinted = false;
            if let Some(x) = e.downcast_mut::<Exit>() {
                x.hint = Some(join_hint(x.hint.take(), extra));
                hinted = true;
            } else if let Some(x) = e.downcast_mut::<CommandFailed>() {
                x.hint = Some(join_hint(x.hint.take(), extra));
                hinted = true;
            }
            let e = e.context(format!(
                "could not take the pre-destroy snapshot `{name}`; cluster {} was not destroyed",
                project.cluster()
            ));
            if hinted {
                Err(e)
            } else {
                let code = crate::error::code_of(&e);
                Err(Exit::new(code, format!("{e:#}")).hint(extra).into())
            }
        }
    }
}

fn join_hint(old: Option<String>, extra: &str) -> String {
    match old {
        Some(h) => format!("{h}; {extra}"),
        None => extra.to_owned(),
    }
}

// ---------------------------------------------------------------------------------------------
// list

#[derive(Serialize)]
struct ListJson<'a> {
    schema_version: u32,
    project: &'a str,
    dir: &'a str,
    snapshots: &'a [Entry],
}

fn list(ctx: &Ctx<'_>, json: bool) -> Result<i32> {
    let project = ctx.project()?;
    let all = snapshot::entries(&project.paths.snapshots)?;
    if json {
        let doc = ListJson {
            schema_version: SCHEMA_VERSION,
            project: &project.name,
            dir: project.paths.snapshots.as_str(),
            snapshots: &all,
        };
        ctx.ui.stdout(&(serde_json::to_string_pretty(&doc)? + "\n"));
        return Ok(0);
    }
    if all.is_empty() {
        ctx.ui.info(&format!(
            "No snapshots yet in {} (take one with `kilter db snapshot`)",
            project.paths.snapshots
        ));
        return Ok(0);
    }
    let rows: Vec<[String; 6]> = all.iter().map(row).collect();
    let header = ["NAME", "CREATED", "SIZE", "COMPRESSION", "DATABASE", "NOTE"];
    let mut widths = header.map(str::len);
    for r in &rows {
        for (w, c) in widths.iter_mut().zip(r) {
            *w = (*w).max(c.chars().count());
        }
    }
    let mut text = String::new();
    for r in std::iter::once(header.map(str::to_owned)).chain(rows) {
        let line = format!(
            "{:<w0$}  {:<w1$}  {:>w2$}  {:<w3$}  {:<w4$}  {}",
            r[0],
            r[1],
            r[2],
            r[3],
            r[4],
            r[5],
            w0 = widths[0],
            w1 = widths[1],
            w2 = widths[2],
            w3 = widths[3],
            w4 = widths[4],
        );
        text.push_str(line.trim_end());
        text.push('\n');
    }
    ctx.ui.stdout(&text);
    Ok(0)
}

fn row(e: &Entry) -> [String; 6] {
    let databases = if e.databases.is_empty() {
        e.database.clone().unwrap_or_else(|| "?".into())
    } else {
        e.databases.iter().map(|d| d.name.as_str()).collect::<Vec<_>>().join(",")
    };
    let mut notes: Vec<String> = Vec::new();
    match e.state {
        State::Complete => {}
        State::Incomplete => {
            notes.push(format!("incomplete (interrupted; `kilter db rm {}` removes it)", e.name))
        }
        State::NoMetadata => notes.push("no metadata (cannot be verified)".into()),
        State::Damaged => notes.push("damaged (files missing or changed)".into()),
    }
    if e.pinned {
        notes.push("pinned".into());
    }
    if e.partial && e.state != State::Incomplete {
        notes.push("+ a leftover .partial file".into());
    }
    [
        e.name.clone(),
        e.created_at.clone().unwrap_or_else(|| "-".into()),
        fmt_bytes(e.size),
        e.compression.map(|c| c.label()).unwrap_or_else(|| "-".into()),
        databases,
        notes.join(", "),
    ]
}

// ---------------------------------------------------------------------------------------------
// restore

fn no_such(project: &Project, name: &str) -> anyhow::Error {
    let names: Vec<String> = snapshot::entries(&project.paths.snapshots)
        .unwrap_or_default()
        .into_iter()
        .map(|e| e.name)
        .collect();
    let hint = if names.is_empty() {
        format!("there are no snapshots in {}", project.paths.snapshots)
    } else {
        format!("snapshots: {}", names.join(", "))
    };
    invalid(format!("no snapshot named `{name}`")).hint(hint).into()
}

/// The metadata of snapshot `name`; without it a snapshot is never restored.
fn read_meta(dir: &Utf8Path, name: &str) -> Result<Meta> {
    Ok(Meta::read(&meta_path(dir, name)).map_err(|e| {
        Exit::new(
            Code::Failed,
            format!("snapshot `{name}` cannot be verified: {e:#}; nothing was restored"),
        )
        .hint("a snapshot without its metadata (checksum) is never restored")
    })?)
}

fn restore(ctx: &Ctx<'_>, name: Option<&str>) -> Result<i32> {
    let ui = ctx.ui;
    let runner = ctx.runner;
    let project = ctx.project()?;
    let dir = &project.paths.snapshots;
    let name = match name {
        Some(n) => {
            validate_name(n)?;
            n.to_owned()
        }
        None => match snapshot::entries(dir)?.into_iter().find(|e| e.state == State::Complete) {
            Some(e) => {
                ui.info(&format!("Restoring the newest snapshot, `{}`", e.name));
                e.name
            }
            None => {
                return Err(Exit::new(
                    Code::Failed,
                    format!("there are no complete snapshots to restore in {dir}"),
                )
                .hint("take one with `kilter db snapshot`")
                .into());
            }
        },
    };
    let _lock = ctx.lock(&project, "kilter db restore")?;
    if !snapshot::entries(dir)?.iter().any(|e| e.name == name) {
        return Err(no_such(&project, &name));
    }
    let meta = read_meta(dir, &name)?;
    let (db, db_name) = database(&project);
    let engine = Engine::from_config(db.engine.as_str());
    if Engine::from_config(&meta.engine) != engine {
        return Err(Exit::new(
            Code::Failed,
            format!(
                "snapshot `{name}` was taken from a {} database, but `database.engine` is {}; nothing was restored",
                meta.engine, db.engine
            ),
        )
        .hint("restore it into a database of the same engine")
        .into());
    }
    if meta.database != db_name {
        ui.warn(&format!(
            "snapshot `{name}` was taken from database `{}`; restoring it into `{db_name}`",
            meta.database
        ));
    }
    let tools = Tools::discover(&[Tool::Docker, Tool::Kubectl])?;
    // The checksums are verified while the read-only probes find the pod; nothing touches a
    // database before both are done, and a failed verification is the error that counts.
    let (checked, located) = std::thread::scope(|s| {
        let check = s.spawn(|| snapshot::verify(dir, &meta));
        let located = locate(ctx, &project, &tools, &db);
        (check.join(), located)
    });
    checked.unwrap_or_else(|_| Err(anyhow::anyhow!("the verification of `{name}` panicked")))?;
    ui.detail(&format!(
        "sha256 of {} verified",
        meta.databases.iter().map(|d| d.file.as_str()).collect::<Vec<_>>().join(", ")
    ));
    let t = located?;
    let all_dbs = std::iter::once(db_name.as_str())
        .chain(meta.databases.iter().skip(1).map(|d| d.name.as_str()))
        .collect::<Vec<_>>()
        .join(", ");
    let step = ui.step(
        &format!(
            "Restoring `{name}` ({}) into database {all_dbs} (pod {})",
            fmt_bytes(meta.size),
            t.exec.pod
        ),
        &format!("restore `{name}` into database {all_dbs}"),
    );
    let again = format!(
        "the database may be partly restored; fix the cause and run `kilter db restore {name}` again"
    );
    let mut targets = Vec::new();
    for (i, f) in meta.databases.iter().enumerate() {
        let target = if i == 0 { db_name.clone() } else { f.name.clone() };
        if i > 0 {
            ensure_database(ctx, &t, engine, &db.user, &db_name, &target)?;
        }
        let path = dir.join(&f.file);
        let restore_cmd = t
            .exec(
                format!("restore snapshot {name} into database {target}"),
                true,
                &engine.restore_argv(&db.user, &target),
            )
            .mutate();
        // v1 and uncompressed files go straight from the file into the pod.
        let restore_cmd = match f.compression {
            Compression::None => restore_cmd.stdin(Stdin::File(path.clone())),
            Compression::Zstd { .. } => restore_cmd,
        };
        let out = match f.compression {
            Compression::None => runner.run_unchecked(&restore_cmd),
            Compression::Zstd { .. } => {
                let source = format!("zstd -dc {}", quote(path.as_str()));
                let compression = f.compression;
                let p = path.clone();
                runner
                    .run_stdin_from(&restore_cmd, &source, &mut |w| store::feed(&p, compression, w))
            }
        };
        let out = match out {
            Ok(o) => o,
            Err(e) => {
                drop(step);
                return Err(e.context(again.clone()));
            }
        };
        if !out.success() {
            drop(step);
            return Err(runner.failed(&restore_cmd, &out, Some(again)).into());
        }
        targets.push(target);
    }
    for target in &targets {
        let check = t.exec(
            format!("check that database {target} answers"),
            false,
            &engine.check_argv(&db.user, target),
        );
        let out = runner.run_unchecked(&check)?;
        if !out.success() || out.stdout.trim() != "1" {
            drop(step);
            return Err(runner
                .failed(
                    &check,
                    &out,
                    Some("the restore finished, but the database does not answer".into()),
                )
                .into());
        }
    }
    let took = step.done();
    ui.success(
        &format!(
            "Restored `{name}` (taken {}) into database {} in {}",
            meta.created_at,
            targets.join(", "),
            crate::ui::fmt_duration(took)
        ),
        &format!("restore `{name}`"),
    );
    Ok(0)
}

/// Create an included database that does not exist yet (a fresh server after `destroy` → `up`).
fn ensure_database(
    ctx: &Ctx<'_>,
    t: &Target<'_>,
    engine: Engine,
    user: &str,
    via: &str,
    db: &str,
) -> Result<()> {
    let probe = t.exec(
        format!("check whether database {db} exists"),
        false,
        &engine.exists_argv(user, via, db),
    );
    let out = ctx.runner.run(&probe)?;
    if out.stdout.trim() == "1" {
        return Ok(());
    }
    let create =
        t.exec(format!("create database {db}"), false, &engine.create_argv(user, via, db)).mutate();
    ctx.runner.run(&create)?;
    Ok(())
}

// ---------------------------------------------------------------------------------------------
// rm, prune, pin

fn rm(ctx: &Ctx<'_>, name: &str) -> Result<i32> {
    let project = ctx.project()?;
    validate_name(name)?;
    let _lock = ctx.lock(&project, "kilter db rm")?;
    let dir = &project.paths.snapshots;
    let Some(e) = snapshot::entries(dir)?.into_iter().find(|e| e.name == name) else {
        return Err(no_such(&project, name));
    };
    remove_entry(ctx, dir, &e)?;
    ctx.ui.success(&format!("Removed snapshot `{name}`"), &format!("remove snapshot `{name}`"));
    Ok(0)
}

/// Remove every file of a snapshot, the metadata first (so it never names missing files).
fn remove_entry(ctx: &Ctx<'_>, dir: &Utf8Path, e: &Entry) -> Result<()> {
    let meta = meta_path(dir, &e.name);
    let mut files: Vec<_> = e.files.iter().filter(|f| **f == meta).cloned().collect();
    files.extend(e.files.iter().filter(|f| **f != meta).cloned());
    store::remove(ctx.runner, &files)?;
    store::fsync_dir(dir);
    Ok(())
}

fn prune(ctx: &Ctx<'_>, args: &PruneArgs) -> Result<i32> {
    let project = ctx.project()?;
    let _lock = ctx.lock(&project, "kilter db prune")?;
    let dir = &project.paths.snapshots;
    let all = snapshot::entries(dir)?;
    let plan =
        snapshot::prune_plan(&all, args.keep as usize, args.older_than, crate::time::now_secs());
    if plan.is_empty() {
        ctx.ui.info(&format!(
            "Nothing to prune: {} snapshot(s), keeping the {} newest{}",
            all.len(),
            args.keep,
            if all.iter().any(|e| e.pinned) { " and every pinned one" } else { "" }
        ));
        return Ok(0);
    }
    let mut freed = 0;
    for e in &plan {
        remove_entry(ctx, dir, e)?;
        freed += e.size;
        ctx.ui.info(&format!(
            "Removed snapshot `{}` (taken {})",
            e.name,
            e.created_at.as_deref().unwrap_or("?")
        ));
    }
    ctx.ui.success(
        &format!("Pruned {} snapshot(s), {} freed", plan.len(), fmt_bytes(freed)),
        &format!("prune {} snapshot(s)", plan.len()),
    );
    Ok(0)
}

fn pin(ctx: &Ctx<'_>, name: &str, pinned: bool) -> Result<i32> {
    let project = ctx.project()?;
    validate_name(name)?;
    let _lock = ctx.lock(&project, if pinned { "kilter db pin" } else { "kilter db unpin" })?;
    let dir = &project.paths.snapshots;
    let Some(e) = snapshot::entries(dir)?.into_iter().find(|e| e.name == name) else {
        return Err(no_such(&project, name));
    };
    if !e.has_metadata {
        return Err(Exit::new(
            Code::Failed,
            format!(
                "snapshot `{name}` has no readable metadata ({}), so it cannot be pinned",
                e.state.word()
            ),
        )
        .into());
    }
    let mut meta = Meta::read(&meta_path(dir, name))?;
    let verb = if pinned { "Pinned" } else { "Unpinned" };
    if meta.pinned == pinned {
        ctx.ui.info(&format!("Snapshot `{name}` is already {}", verb.to_lowercase()));
        return Ok(0);
    }
    meta.pinned = pinned;
    store::write_meta(ctx.runner, dir, &meta)?;
    ctx.ui.success(
        &format!(
            "{verb} snapshot `{name}`{}",
            if pinned { " (`kilter db prune` never removes it)" } else { "" }
        ),
        &format!("{} snapshot `{name}`", if pinned { "pin" } else { "unpin" }),
    );
    Ok(0)
}

// ---------------------------------------------------------------------------------------------
// shell

fn shell(ctx: &Ctx<'_>, args: &ShellArgs) -> Result<i32> {
    let project = ctx.project()?;
    let tools = Tools::discover(&[Tool::Docker, Tool::Kubectl])?;
    let (db, db_name) = database(&project);
    let engine = Engine::from_config(db.engine.as_str());
    let t = locate(ctx, &project, &tools, &db)?;
    let mut a: Vec<String> = vec!["exec".into(), "-i".into()];
    if std::io::stdin().is_terminal() {
        a.push("-t".into());
    }
    a.extend([t.exec.pod.clone(), "-n".into(), t.exec.namespace.clone()]);
    if let Some(c) = &t.exec.container {
        a.extend(["-c".into(), c.clone()]);
    }
    a.push("--".into());
    a.extend(engine.shell_argv(&db.user, &db_name, &args.args));
    let cmd = t
        .kubectl
        .cmd(format!("open a database shell in pod {}", t.exec.pod), a)
        .stdin(Stdin::Inherit)
        .mutate();
    ctx.runner.run_foreground(&cmd)
}
