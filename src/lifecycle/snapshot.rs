//! Taking a snapshot, the step that `kilter db snapshot` and `kilter destroy` (its
//! `pre-destroy-…` snapshot) share, and finding the database pod that `db restore` and `db shell`
//! also use. The store (files, metadata, verification) is `crate::snapshot`.
//!
//! First kilter asks the pod what it can do (`pg_dump --version`, `command -v zstd`) and picks
//! the transfer ([`engine::Transfer`]): the pod compresses the dump whenever it can do so cheaply
//! (`pg_dump -Z zstd:1` on PostgreSQL 16+, `zstd -1` in the pod, else pg_dump's gzip level 1;
//! MySQL/MariaDB without zstd in the pod send plain SQL, which kilter compresses with zstd -1).
//! For each database (the configured one, then each `--include`), the dump streams out of
//! `kubectl exec` into `<file>.partial`, counted and hashed on the way (kilter never holds a dump
//! in memory) and compared with the pod's own count and sha256 of what it sent. Each file is fsynced and checked. Only when every dump succeeded are the files
//! renamed into place and `NAME.json` written, last. Any failure or Ctrl-C removes the `.partial`
//! files; an existing snapshot of the same name is only replaced (`--force`) once the new one is
//! complete.

use std::time::{Duration, Instant};

use anyhow::Result;
use camino::{Utf8Path, Utf8PathBuf};

use crate::config::Database;
use crate::context::Ctx;
use crate::error::{Code, CommandFailed, Exit, invalid};
use crate::exec::{Chunk, Cmd, quote};
use crate::lifecycle::workload;
use crate::project::Project;
use crate::snapshot::SCHEMA_VERSION;
use crate::snapshot::engine::Transfer;
use crate::snapshot::engine::{self, Engine};
use crate::snapshot::store::{self, PartialGuard, Store, Writer};
use crate::snapshot::{
    self, DbFile, Entry, Meta, Piece, State, data_file_name, fmt_bytes, meta_path, partial_path,
};
use crate::tools::kubectl::{self, ExecTarget, Kubectl, PodPick};
use crate::tools::{Tool, Tools};

/// The zstd level of new snapshots, chosen by measurement (README, "Performance"): on two cores
/// level 1 compresses the dump of a random-bytes database (hex text in COPY) 3× faster than
/// level 3, and smaller; on pgbench data it gives 4.9 MB where level 3 gives 3.9 MB and pg_dump's
/// zlib 11.3 MB. Even truly random input takes it only ~0.5 s per 100 MB on two threads, so
/// nothing is stored as-is.
pub const ZSTD_LEVEL: i32 = 1;

/// The database settings with their defaults; an absent `database:` section means the defaults.
pub fn database(project: &Project) -> (Database, String) {
    let db = project.config.database.clone().unwrap_or_default();
    let name = db.name.clone().unwrap_or_else(|| project.name.clone());
    (db, name)
}

// ---------------------------------------------------------------------------------------------
// Finding the database pod

/// kubectl for the project (after checking the node runs) and the pod to exec into.
pub struct Target<'t> {
    pub kubectl: Kubectl<'t>,
    pub exec: ExecTarget,
    pub workload: kubectl::Workload,
}

impl Target<'_> {
    /// `kubectl exec` of `argv` in the database pod: a query.
    pub fn exec(&self, summary: String, stdin: bool, argv: &[String]) -> Cmd {
        let argv: Vec<&str> = argv.iter().map(String::as_str).collect();
        self.kubectl.exec_cmd(summary, &self.exec, stdin, &argv)
    }
    /// `kubectl exec` of `argv` in the database pod that changes something (or streams a dump).
    pub fn exec_mutating(&self, summary: String, stdin: bool, argv: &[String]) -> Cmd {
        let argv: Vec<&str> = argv.iter().map(String::as_str).collect();
        self.kubectl.exec_mutating_cmd(summary, &self.exec, stdin, &argv)
    }
}

pub fn locate<'t>(
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
    let dir = &project.paths.snapshots;
    let old = existing(dir, name)?;
    refuse_existing(old.as_ref(), name, force)?;
    let (db, db_name) = database(project);
    let engine = Engine::from_config(db.engine.as_str());
    let dbs = databases_to_dump(&db_name, include);
    let t = locate(ctx, project, tools, &db)?;
    let server_version = server_version(ctx, &t, engine, &db, &db_name)?;
    let created_at = crate::time::rfc3339_now();
    let pod = probe(ctx, &t, engine)?;
    clear_leftovers(ctx, dir, old.as_ref())?;

    let taking = Taking { ctx, t: &t, engine, user: &db.user, name, dir, old: old.as_ref() };
    let mut guard = PartialGuard { paths: Vec::new() };
    let mut files: Vec<DbFile> = Vec::new();
    let mut renames = Vec::new();
    let total_start = Instant::now();
    let mut transfer = Transfer::choose(engine, &pod);
    for (dbname, inc) in &dbs {
        let (dumped, rename) =
            taking.dump(dbname, inc.as_deref(), &mut transfer, &pod, &mut guard)?;
        renames.push(rename);
        files.extend(dumped);
    }

    // Commit: every file into place, then the metadata last.
    for (from, to) in &renames {
        store::rename(ctx.runner, from, to)?;
    }
    guard.disarm();
    if files.len() < dbs.len() {
        // A dry run: the dumps were printed, not taken.
        ctx.runner.note(&format!(
            "kilter keeps each dump only if its size and sha256 are what the pod reports it sent (the last `kilter-stream:` line on stderr), records them and writes {} last",
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
        compression: first.compression,
        databases: files,
        // A replaced snapshot keeps its pin.
        pinned: old.as_ref().is_some_and(|e| e.pinned),
    };
    store::write_meta(ctx.runner, dir, &meta)?;
    remove_replaced(ctx, dir, &meta, old.as_ref())?;
    report(ctx, dir, &meta, total_start.elapsed());
    Ok(Some(Taken { meta }))
}

/// An existing snapshot of this name needs `--force` (leftovers of an interrupted one do not).
fn refuse_existing(old: Option<&Entry>, name: &str, force: bool) -> Result<()> {
    if let Some(e) = old.filter(|e| e.state != State::Incomplete)
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
    Ok(())
}

/// The configured database, then each `--include`d one, once each (`None`: the first).
fn databases_to_dump(db_name: &str, include: &[String]) -> Vec<(String, Option<String>)> {
    let mut dbs: Vec<(String, Option<String>)> = vec![(db_name.to_owned(), None)];
    for inc in include {
        if !dbs.iter().any(|(d, _)| d == inc) {
            dbs.push((inc.clone(), Some(inc.clone())));
        }
    }
    dbs
}

/// The server version, asked before the dump (it also proves the database answers).
fn server_version(
    ctx: &Ctx<'_>,
    t: &Target<'_>,
    engine: Engine,
    db: &Database,
    db_name: &str,
) -> Result<String> {
    let version_cmd = t.exec(
        format!("ask database {db_name} for its server version"),
        false,
        &engine.version_argv(&db.user, db_name),
    );
    let out = ctx.runner.run_unchecked(&version_cmd)?;
    if !out.success() {
        return Err(ctx
            .runner
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
    Ok(engine::server_version(&out.stdout))
}

/// The snapshots dir, and the leftovers of an interrupted snapshot of this name removed first.
fn clear_leftovers(ctx: &Ctx<'_>, dir: &Utf8Path, old: Option<&Entry>) -> Result<()> {
    store::ensure_dir(ctx.runner, dir)?;
    if let Some(e) = old {
        // An incomplete snapshot is all leftovers; of another, the `.partial` data files and
        // the metadata temp files are (`snapshot::classify`).
        let stale: Vec<_> = if e.state == State::Incomplete {
            e.files.clone()
        } else {
            e.files
                .iter()
                .filter(|f| {
                    f.file_name()
                        .and_then(snapshot::classify)
                        .is_some_and(|(_, piece)| piece == Piece::Partial)
                })
                .cloned()
                .collect()
        };
        store::remove(ctx.runner, &stale)?;
    }
    Ok(())
}

/// Files of the replaced snapshot that the new one does not have.
fn remove_replaced(ctx: &Ctx<'_>, dir: &Utf8Path, meta: &Meta, old: Option<&Entry>) -> Result<()> {
    if let Some(e) = old {
        let keep: Vec<_> = meta.databases.iter().map(|d| dir.join(&d.file)).collect();
        let meta_file = meta_path(dir, &meta.name);
        let stale: Vec<_> = e
            .files
            .iter()
            .filter(|f| !keep.contains(f) && **f != meta_file && f.exists())
            .cloned()
            .collect();
        store::remove(ctx.runner, &stale)?;
    }
    Ok(())
}

/// The closing line: what was dumped, what is on disk, how fast.
fn report(ctx: &Ctx<'_>, dir: &Utf8Path, meta: &Meta, took: Duration) {
    let raw: u64 = meta.databases.iter().filter_map(|d| d.raw_size).sum();
    let name = &meta.name;
    ctx.ui.success(
        &format!(
            "Snapshot `{name}`: {} dumped → {} ({}) in {} ({}/s) → {}",
            fmt_bytes(raw),
            fmt_bytes(meta.size),
            meta.compression.label(),
            crate::ui::fmt_duration(took),
            fmt_bytes((raw as f64 / took.as_secs_f64().max(0.001)) as u64),
            dir.join(&meta.databases[0].file)
        ),
        &format!("take snapshot `{name}`"),
    );
}

/// What one snapshot's dumps share.
struct Taking<'a> {
    ctx: &'a Ctx<'a>,
    t: &'a Target<'a>,
    engine: Engine,
    user: &'a str,
    name: &'a str,
    dir: &'a Utf8Path,
    old: Option<&'a Entry>,
}

/// One try of one dump.
enum Attempt {
    /// The dump program refused the transfer before it wrote a byte: try this one instead.
    Refused(Transfer),
    /// A dry run: printed, not run.
    Planned,
    /// Every byte arrived and was checked.
    Done(DbFile),
}

impl Taking<'_> {
    /// Dump database `dbname` into its `.partial` file (the transfer falls back while the pod
    /// refuses it). Returns its record (none in a dry run) and the rename that commits it.
    fn dump(
        &self,
        dbname: &str,
        inc: Option<&str>,
        transfer: &mut Transfer,
        pod: &engine::PodTools,
        guard: &mut PartialGuard,
    ) -> Result<(Option<DbFile>, (Utf8PathBuf, Utf8PathBuf))> {
        loop {
            let file = data_file_name(self.name, inc, self.engine.ext(), transfer.stored());
            let dest = self.dir.join(&file);
            let partial = partial_path(&dest);
            match self.attempt(dbname, &file, &partial, *transfer, pod, guard)? {
                Attempt::Refused(next) => *transfer = next,
                Attempt::Planned => return Ok((None, (partial, dest))),
                Attempt::Done(f) => return Ok((Some(f), (partial, dest))),
            }
        }
    }

    fn attempt(
        &self,
        dbname: &str,
        file: &str,
        partial: &Utf8Path,
        transfer: Transfer,
        pod: &engine::PodTools,
        guard: &mut PartialGuard,
    ) -> Result<Attempt> {
        let (ui, runner, t, engine) = (self.ctx.ui, self.ctx.runner, self.t, self.engine);
        let compression = transfer.stored();
        let store_as = match transfer {
            Transfer::Raw => Store::Compress(ZSTD_LEVEL),
            Transfer::PodZstd => Store::AsIsZstd,
            Transfer::ArchiveZstd | Transfer::ArchiveGzip => Store::AsIs,
        };
        let dump_cmd = t.exec_mutating(
            format!("dump database {dbname} from pod {}", t.exec.pod),
            false,
            &engine::checked_dump_argv(transfer, engine.dump_argv(self.user, dbname, transfer)),
        );
        let rest = match store_as {
            Store::Compress(level) => {
                format!("{} > {}", store::zstd_shell(level), quote(partial.as_str()))
            }
            Store::AsIs | Store::AsIsZstd => format!("cat > {}", quote(partial.as_str())),
        };
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
                let handle = store::create_partial(partial).map_err(std::io::Error::other)?;
                guard.paths.push(partial.to_owned());
                writer = Some(Writer::new(handle, store_as)?);
                Ok(())
            }
            Chunk::Data(data) => {
                let w = writer
                    .as_mut()
                    .ok_or_else(|| std::io::Error::other("dump data before its start"))?;
                w.write(data)?;
                if progress && last.elapsed() >= Duration::from_millis(250) {
                    last = Instant::now();
                    let n = w.received();
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
        let kept = || kept(self.old, self.name);
        let out = match out {
            Ok(o) => o,
            Err(e) => {
                drop(step);
                return Err(e.context(format!("the partial snapshot was removed; {}", kept())));
            }
        };
        let sent = engine::parse_sent(&out.stderr);
        let out = crate::exec::Output { stderr: engine::program_stderr(&out.stderr), ..out };
        if !out.success() {
            drop(step);
            // A PostgreSQL 16+ built without zstd refuses `-Z zstd:1` before it writes a byte.
            let refused = writer.as_ref().is_some_and(|w| w.received() == 0)
                && engine::refused_compression(&out.stderr);
            if let Some(next) = transfer.fallback(pod).filter(|_| refused) {
                ui.detail(&format!(
                    "{} refused {}; dumping with {} instead",
                    engine.dump_program(),
                    compression.label(),
                    next.stored().label()
                ));
                drop(writer);
                store::remove(runner, &[partial.to_owned()])?;
                guard.paths.retain(|p| p != partial);
                return Ok(Attempt::Refused(next));
            }
            if let Some(engine::Sent::Missing(p)) = &sent {
                return Err(Exit::new(
                    Code::Failed,
                    format!(
                        "the pod {} has no `{p}`, which kilter needs to check that every byte of the dump arrives; nothing was kept",
                        t.exec.pod
                    ),
                )
                .hint(kept())
                .into());
            }
            let kept = format!("the partial dump was removed; {}", kept());
            let hint = if out.code == Some(137) {
                format!("{} was killed (out of memory?); {kept}", engine.dump_program())
            } else {
                kept
            };
            return Err(runner.failed(&dump_cmd, &out, Some(hint)).into());
        }
        let Some(writer) = writer else {
            // Nothing ran (a dry run): there is nothing to check or record.
            drop(step);
            return Ok(Attempt::Planned);
        };
        let received = writer.received();
        let written = match writer.finish() {
            Ok(w) => w,
            Err(e) if e.kind() == std::io::ErrorKind::InvalidData => {
                drop(step);
                return Err(Exit::new(
                    Code::Failed,
                    format!(
                        "the dump of database {dbname} arrived ({received} bytes) but does not decompress: {e}; nothing was kept"
                    ),
                )
                .hint(kept())
                .into());
            }
            Err(e) => {
                return Err(
                    anyhow::Error::new(e).context(format!("could not finish writing {partial}"))
                );
            }
        };
        if let Err(e) = arrived_whole(dbname, sent.as_ref(), &written) {
            drop(step);
            return Err(e
                .hint(format!(
                    "`kubectl exec` can end a stream early and still exit 0; {}; try again",
                    kept()
                ))
                .into());
        }
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
        Ok(Attempt::Done(DbFile {
            name: dbname.to_owned(),
            file: file.to_owned(),
            format: engine.format().to_owned(),
            compression,
            size: written.size,
            sha256: written.sha256,
            raw_size: Some(written.raw_size),
            raw_sha256: Some(written.raw_sha256),
        }))
    }
}

/// What the database pod can do for a transfer (its dump program's version, `zstd`).
pub fn probe(ctx: &Ctx<'_>, t: &Target<'_>, engine: Engine) -> Result<engine::PodTools> {
    let cmd = t.exec(
        format!("ask pod {} which compression it can do", t.exec.pod),
        false,
        &engine.probe_argv(),
    );
    let out = ctx.runner.run_unchecked(&cmd)?;
    if !out.success() {
        return Err(ctx.runner.failed(&cmd, &out, None).into());
    }
    Ok(engine::parse_probe(&out.stdout))
}

/// Whether every byte the pod's dump script reports it sent has arrived, unchanged.
fn arrived_whole(
    dbname: &str,
    sent: Option<&engine::Sent>,
    written: &store::Written,
) -> Result<(), Exit> {
    let received = written.wire_size;
    match sent {
        // Every byte may have arrived, but of a dump that failed (a `kubectl exec` that exits 0
        // for a failed command).
        Some(engine::Sent::Report { rc, tee, .. }) if *rc != 0 || *tee != 0 => Err(Exit::new(
            Code::Failed,
            format!(
                "the dump of database {dbname} failed in the pod (exit {rc}, tee exit {tee}) although `kubectl exec` exited 0; nothing was kept"
            ),
        )),
        Some(engine::Sent::Report { bytes, .. }) if *bytes != received => Err(Exit::new(
            Code::Failed,
            format!(
                "the dump of database {dbname} was cut short: expected {bytes} bytes, received {received}; nothing was kept"
            ),
        )),
        Some(engine::Sent::Report { sha256, .. }) if *sha256 != written.wire_sha256 => {
            Err(Exit::new(
                Code::Failed,
                format!(
                    "the dump of database {dbname} arrived altered: {received} bytes as expected, but their sha256 is {}, not {sha256}; nothing was kept",
                    written.wire_sha256
                ),
            ))
        }
        Some(engine::Sent::Report { .. }) => Ok(()),
        Some(engine::Sent::Missing(p)) => Err(Exit::new(
            Code::Failed,
            format!(
                "the pod has no `{p}` to count and hash the dump of database {dbname}; nothing was kept"
            ),
        )),
        None => Err(Exit::new(
            Code::Failed,
            format!(
                "the dump of database {dbname} ended without the pod's report of how many bytes it sent (received {received}); nothing was kept"
            ),
        )),
    }
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

#[cfg(test)]
mod tests {
    use super::*;

    fn written(bytes: &[u8]) -> store::Written {
        use sha2::Digest as _;
        let sha: String = sha2::Sha256::digest(bytes).iter().map(|b| format!("{b:02x}")).collect();
        store::Written {
            size: 0,
            sha256: String::new(),
            wire_size: bytes.len() as u64,
            wire_sha256: sha.clone(),
            raw_size: bytes.len() as u64,
            raw_sha256: sha,
            head: Vec::new(),
            tail: Vec::new(),
        }
    }

    #[test]
    fn a_dump_is_whole_only_with_the_pods_report_of_the_same_bytes_and_success() {
        let w = written(b"PGDMP...");
        let report = |rc, tee, bytes, sha: &str| engine::Sent::Report {
            rc,
            tee,
            bytes,
            sha256: sha.to_owned(),
        };
        let sha = w.raw_sha256.clone();
        assert!(arrived_whole("shop", Some(&report(0, 0, 8, &sha)), &w).is_ok());
        let err = |sent: Option<&engine::Sent>| {
            arrived_whole("shop", sent, &w).expect_err("refused").to_string()
        };
        assert!(
            err(Some(&report(0, 0, 9, &sha))).contains("cut short: expected 9 bytes, received 8"),
            "{}",
            err(Some(&report(0, 0, 9, &sha)))
        );
        assert!(err(Some(&report(0, 0, 8, &"0".repeat(64)))).contains("arrived altered"));
        assert!(err(Some(&report(1, 0, 8, &sha))).contains("failed in the pod (exit 1"));
        assert!(err(Some(&report(0, 141, 8, &sha))).contains("tee exit 141"));
        assert!(err(None).contains("without the pod's report"));
        assert!(err(Some(&engine::Sent::Missing("tee".into()))).contains("no `tee`"));
    }
}
