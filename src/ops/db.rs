//! `kilter db snapshot|list|restore|rm|prune|pin|unpin|shell`: orchestration only. Taking a
//! snapshot (shared with `destroy`) is `crate::lifecycle::snapshot`; the store (files, metadata,
//! verification) is `crate::snapshot`.
//!
//! Restoring: every file's size and sha256 are verified before any command touches a database;
//! each file is then decompressed by kilter into `kubectl exec -i … -- pg_restore --clean
//! --if-exists --no-owner` (or `mysql`/`mariadb`), and success is reported only once each
//! database answers `select 1`.

use std::io::IsTerminal;

use anyhow::Result;
use camino::Utf8Path;
use serde::Serialize;

use super::Ctx;
use crate::cli::{DbArgs, DbCommand, PruneArgs, ShellArgs, SnapshotCommand};
use crate::error::{Code, Exit, invalid};
use crate::exec::{Output, quote};
use crate::lifecycle::snapshot::{Target, database, locate, take};
use crate::project::Project;
use crate::snapshot::engine::{self, Engine};
use crate::snapshot::store::{self};
use crate::snapshot::{self, Compression, Entry, Meta, State, fmt_bytes, meta_path};
use crate::table::{Column, Table, Width};
use crate::tools::{Tool, Tools};

pub use crate::snapshot::{SCHEMA_VERSION, validate_name};

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

// ---------------------------------------------------------------------------------------------
// list

/// `kilter db list --json`.
#[derive(Serialize)]
struct ListJson<'a> {
    project: &'a str,
    dir: &'a str,
    snapshots: &'a [Entry],
}

/// The list shows the metadata's entries: it carries the metadata's version.
impl crate::json::Document for ListJson<'_> {
    const SCHEMA_VERSION: u32 = SCHEMA_VERSION;
    const KEYS: crate::json::Keys = crate::json::Keys::Declared;
}

fn list(ctx: &Ctx<'_>, json: bool) -> Result<i32> {
    let project = ctx.project()?;
    let all = snapshot::entries(&project.paths.snapshots)?;
    if json {
        let doc = ListJson {
            project: &project.name,
            dir: project.paths.snapshots.as_str(),
            snapshots: &all,
        };
        crate::json::print(ctx.ui, &doc)?;
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
    let text = list_text(rows);
    ctx.ui.stdout(&text);
    Ok(0)
}

/// The `db list` table: a header, then one row per snapshot (SIZE right-aligned, the other
/// columns fitted, trailing blanks cut).
fn list_text(rows: Vec<[String; 6]>) -> String {
    let header = ["NAME", "CREATED", "SIZE", "COMPRESSION", "DATABASE", "NOTE"];
    let table = Table::new(vec![
        Column::left("", Width::Fit(0)),
        Column::left("  ", Width::Fit(0)),
        Column::right("  ", Width::Fit(0)),
        Column::left("  ", Width::Fit(0)),
        Column::left("  ", Width::Fit(0)),
        Column::left("  ", Width::AtLeast(0)),
    ])
    .trim_end();
    let cells: Vec<Vec<String>> =
        std::iter::once(header.map(str::to_owned)).chain(rows).map(Vec::from).collect();
    table.render(&cells)
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
    // Also the size and sha256 of what each restore sends (decompressed), which the pod checks
    // before the restore program reads a byte: recorded since kilter checks dumps, computed
    // here for older snapshots.
    let (checked, located) = std::thread::scope(|s| {
        let check = s.spawn(|| {
            snapshot::verify(dir, &meta)?;
            meta.databases
                .iter()
                .map(|f| match (f.raw_size, &f.raw_sha256) {
                    (Some(n), Some(sha)) => Ok((n, sha.clone())),
                    _ => store::raw_digest(&dir.join(&f.file), f.compression),
                })
                .collect::<Result<Vec<(u64, String)>>>()
        });
        let located = locate(ctx, &project, &tools, &db);
        (check.join(), located)
    });
    let raw = checked
        .unwrap_or_else(|_| Err(anyhow::anyhow!("the verification of `{name}` panicked")))?;
    ui.detail(&format!(
        "sha256 of {} verified",
        meta.databases.iter().map(|d| d.file.as_str()).collect::<Vec<_>>().join(", ")
    ));
    let t = located?;
    // A zstd file goes into the pod as it is when the pod can decompress it (a fraction of the
    // bytes through the slow channel); else kilter decompresses it on the way.
    let pod_zstd = meta.databases.iter().any(|f| matches!(f.compression, Compression::Zstd { .. }))
        && crate::lifecycle::snapshot::probe(ctx, &t, engine)?.zstd;
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
    runner.note(match engine {
        Engine::Postgres => {
            "the pod restores each stream as it arrives in one transaction (pg_restore -f - into psql) and commits only once its size and sha256 are the expected ones; kilter requires its `kilter-stream: restored` line"
        }
        Engine::Mysql | Engine::Mariadb => {
            "the pod stages each stream and checks its size and sha256 before the restore program reads it; kilter requires its `kilter-stream: restored` line"
        }
    });
    let mut targets = Vec::new();
    for (i, f) in meta.databases.iter().enumerate() {
        let target = if i == 0 { db_name.clone() } else { f.name.clone() };
        if i > 0 {
            ensure_database(ctx, &t, engine, &db.user, &db_name, &target)?;
        }
        let path = dir.join(&f.file);
        // What goes through `kubectl exec`: the file as it is (the restore program's own input,
        // or a zstd frame the pod decompresses), or its decompressed contents.
        let as_is = f.compression.is_program_input() || pod_zstd;
        let (bytes, sha, decompressor) = if as_is && !f.compression.is_program_input() {
            (f.size, f.sha256.clone(), "zstd")
        } else {
            (raw[i].0, raw[i].1.clone(), "none")
        };
        let restore_cmd = t.exec_mutating(
            format!("restore snapshot {name} into database {target}"),
            true,
            &engine.checked_restore_argv(bytes, &sha, decompressor, &db.user, &target),
        );
        // Fed by kilter; `ran` says that the command really ran (a dry run only prints it).
        let source = if as_is {
            format!("cat {}", quote(path.as_str()))
        } else {
            format!("zstd -dc {}", quote(path.as_str()))
        };
        let compression = f.compression;
        let mut ran = false;
        let out = runner.run_stdin_from(&restore_cmd, &source, &mut |w| {
            ran = true;
            if as_is { store::copy_into(&path, w) } else { store::feed(&path, compression, w) }
        });
        let out = match out {
            Ok(o) => o,
            Err(e) => {
                drop(step);
                return Err(e.context(again.clone()));
            }
        };
        let (received, restored) = engine::parse_received(&out.stderr);
        let (bytes, sha) = (&bytes, &sha);
        let whole = received.as_ref().is_some_and(|(n, s)| n == bytes && s == sha);
        if ran && !whole && (received.is_some() || out.success()) {
            drop(step);
            let got = match &received {
                Some((n, _)) if n != bytes => format!("received {n}"),
                Some((_, s)) => format!("received {bytes} with sha256 {s}, not {sha}"),
                None => "the pod did not report what it received".to_owned(),
            };
            let untouched = if i == 0 {
                "nothing was restored; the database is as it was".to_owned()
            } else {
                format!(
                    "database {target} is as it was (databases before it in the snapshot were restored)"
                )
            };
            return Err(Exit::new(
                Code::Failed,
                format!(
                    "the restore stream of database {target} was cut short: expected {bytes} bytes, {got}; {untouched}"
                ),
            )
            .hint(format!(
                "`kubectl exec` can end a stream early and still exit 0; run `kilter db restore {name}` again"
            ))
            .into());
        }
        let out = Output { stderr: engine::program_stderr(&out.stderr), ..out };
        if !out.success() || (ran && !restored) {
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
        if !out.success() || !engine::answers_one(&out.stdout) {
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
    if engine::answers_one(&out.stdout) {
        return Ok(());
    }
    let create =
        t.exec_mutating(format!("create database {db}"), false, &engine.create_argv(user, via, db));
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
    let cmd = t.kubectl.exec_interactive_cmd(
        format!("open a database shell in pod {}", t.exec.pod),
        &t.exec,
        std::io::stdin().is_terminal(),
        &engine.shell_argv(&db.user, &db_name, &args.args),
    );
    ctx.runner.run_foreground(&cmd)
}

#[cfg(test)]
mod tests {
    /// The table reads exactly as the `format!` line it replaced.
    #[test]
    fn the_list_table_is_the_format_it_replaced() {
        let r = |a: [&str; 6]| a.map(str::to_owned);
        let rows = vec![
            r(["nightly", "2026-12-04T17:00:00Z", "1.2 MiB", "zstd -1", "shop", ""]),
            r([
                "b",
                "-",
                "10 B",
                "pg_dump gzip:1",
                "shop,auth",
                "pinned, + a leftover .partial file",
            ]),
        ];
        let header = ["NAME", "CREATED", "SIZE", "COMPRESSION", "DATABASE", "NOTE"];
        let mut widths = header.map(str::len);
        for row in &rows {
            for (w, c) in widths.iter_mut().zip(row) {
                *w = (*w).max(c.chars().count());
            }
        }
        let mut want = String::new();
        for c in std::iter::once(header.map(str::to_owned)).chain(rows.clone()) {
            let line = format!(
                "{:<w0$}  {:<w1$}  {:>w2$}  {:<w3$}  {:<w4$}  {}",
                c[0],
                c[1],
                c[2],
                c[3],
                c[4],
                c[5],
                w0 = widths[0],
                w1 = widths[1],
                w2 = widths[2],
                w3 = widths[3],
                w4 = widths[4],
            );
            want.push_str(line.trim_end());
            want.push('\n');
        }
        assert_eq!(super::list_text(rows), want);
    }
}
