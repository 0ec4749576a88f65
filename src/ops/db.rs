//! `kilter db snapshot|list|restore|rm` (docs/commands.md, "kilter db") and the `pre-destroy-…`
//! snapshot of `destroy`.
//!
//! A snapshot is two files in the project's snapshots dir (`$XDG_DATA_HOME/kilter/<name>/
//! snapshots/`, 0700; files 0600): `<NAME>.dump`, pg_dump's custom format exactly as it came out
//! of `kubectl exec … -- pg_dump -Fc`, and `<NAME>.json`, its metadata (checksum, size, server
//! version, …).
//!
//! Taking one: pg_dump's stdout goes straight into `<NAME>.dump.partial` (kilter never holds the
//! dump in memory), then the file is fsynced, checked (non-empty, `PGDMP` magic) and hashed in
//! one streaming pass, renamed to `<NAME>.dump`, and the metadata is written atomically. Any
//! failure or Ctrl-C removes the `.partial`; an existing snapshot of the same name is only
//! replaced (`--force`) once the new dump is complete and verified.
//!
//! Restoring: the checksum and size are verified before any command touches the database; the
//! file is then streamed into `kubectl exec -i … -- pg_restore --clean --if-exists --no-owner`,
//! and success is reported only once the database answers `select 1`.

use std::fs::{self, File, OpenOptions};
use std::io::{Read, Write};
use std::os::unix::fs::{OpenOptionsExt, PermissionsExt};
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use anyhow::{Context, Result};
use camino::{Utf8Path, Utf8PathBuf};
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use super::{Ctx, workload};
use crate::cli::{DbArgs, DbCommand, SnapshotCommand};
use crate::config::Database;
use crate::error::{Code, CommandFailed, Exit, invalid};
use crate::exec::{Stdin, quote};
use crate::project::Project;
use crate::tools::kubectl::{self, ExecTarget, Kubectl, PodPick};
use crate::tools::{Tool, Tools};

/// Version of `<NAME>.json` and of `kilter db list --json`.
pub const SCHEMA_VERSION: u32 = 1;

pub fn run(ctx: &Ctx<'_>, args: &DbArgs) -> Result<i32> {
    match &args.command {
        DbCommand::Snapshot(a) => match &a.command {
            Some(SnapshotCommand::List(l)) => list(ctx, l.json),
            None => snapshot(ctx, a.name.as_deref(), a.force),
        },
        DbCommand::List(a) => list(ctx, a.json),
        DbCommand::Restore(a) => restore(ctx, a.name.as_deref()),
        DbCommand::Rm(a) => rm(ctx, &a.name),
    }
}

// ---------------------------------------------------------------------------------------------
// Names, files, metadata

/// `^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$` (so never `..`, `/` or a hidden file).
pub fn validate_name(name: &str) -> Result<(), Exit> {
    let b = name.as_bytes();
    let ok = !b.is_empty()
        && b.len() <= 64
        && b[0].is_ascii_alphanumeric()
        && b.iter().all(|c| c.is_ascii_alphanumeric() || matches!(c, b'.' | b'_' | b'-'));
    if ok {
        return Ok(());
    }
    let shown = if name.chars().count() > 70 {
        format!("{}…", name.chars().take(70).collect::<String>())
    } else {
        name.to_owned()
    };
    Err(invalid(format!("invalid snapshot name {:?}", shown)).hint(
        "a snapshot name is 1–64 characters: letters, digits, '.', '_' and '-', starting with a letter or digit (e.g. before-migration)",
    ))
}

/// The database settings with their defaults (docs/kilter-yaml.md, "database"); an absent
/// `database:` section means the defaults too.
pub fn database(project: &Project) -> (Database, String) {
    let db = project.config.database.clone().unwrap_or_default();
    let name = db.name.clone().unwrap_or_else(|| project.name.clone());
    (db, name)
}

/// The files of one snapshot.
#[derive(Debug, Clone)]
pub struct Files {
    pub dump: Utf8PathBuf,
    pub meta: Utf8PathBuf,
    pub partial: Utf8PathBuf,
    /// The metadata is prepared here before the dump is renamed into place.
    pub meta_tmp: Utf8PathBuf,
}

impl Files {
    pub fn new(dir: &Utf8Path, name: &str) -> Files {
        Files {
            dump: dir.join(format!("{name}.dump")),
            meta: dir.join(format!("{name}.json")),
            partial: dir.join(format!("{name}.dump.partial")),
            meta_tmp: dir.join(format!(".{name}.json.tmp")),
        }
    }
}

/// `<NAME>.json`
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
pub struct Meta {
    pub schema_version: u32,
    pub name: String,
    pub project: String,
    pub engine: String,
    pub database: String,
    pub user: String,
    /// The Deployment/StatefulSet and pod it was taken from.
    pub service: String,
    pub pod: String,
    /// `show server_version` of the server, asked just before the dump.
    pub server_version: String,
    /// When the dump started (UTC, RFC 3339).
    pub created_at: String,
    pub size: u64,
    pub sha256: String,
    pub kilter_version: String,
}

impl Meta {
    pub fn read(path: &Utf8Path) -> Result<Meta> {
        let text = fs::read_to_string(path).with_context(|| format!("could not read {path}"))?;
        serde_json::from_str(&text)
            .with_context(|| format!("{path} is not valid snapshot metadata"))
    }
}

/// Size and sha256 of a file, read in one streaming pass (memory stays flat). Also returns the
/// first bytes, to check the archive magic.
fn digest(path: &Utf8Path) -> Result<(u64, String, Vec<u8>)> {
    let mut f = File::open(path).with_context(|| format!("could not open {path}"))?;
    let mut hasher = Sha256::new();
    let mut buf = vec![0u8; 1 << 20];
    let mut size = 0u64;
    let mut head = Vec::new();
    loop {
        crate::exec::check_interrupt()?;
        let n = match f.read(&mut buf) {
            Ok(0) => break,
            Ok(n) => n,
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => continue,
            Err(e) => return Err(anyhow::Error::new(e).context(format!("could not read {path}"))),
        };
        if head.len() < 8 {
            head.extend_from_slice(&buf[..n.min(8 - head.len())]);
        }
        hasher.update(&buf[..n]);
        size += n as u64;
    }
    let sha: String = hasher.finalize().iter().map(|b| format!("{b:02x}")).collect();
    Ok((size, sha, head))
}

/// `1.5 MiB`
pub fn fmt_bytes(n: u64) -> String {
    const UNITS: [&str; 5] = ["B", "KiB", "MiB", "GiB", "TiB"];
    let mut v = n as f64;
    let mut u = 0;
    while v >= 1024.0 && u < UNITS.len() - 1 {
        v /= 1024.0;
        u += 1;
    }
    if u == 0 { format!("{n} B") } else { format!("{v:.1} {}", UNITS[u]) }
}

/// Removes the `.partial` file when dropped, unless it was renamed into place.
struct PartialGuard<'a> {
    path: &'a Utf8Path,
    armed: bool,
}

impl Drop for PartialGuard<'_> {
    fn drop(&mut self) {
        if self.armed {
            let _ = fs::remove_file(self.path);
        }
    }
}

fn fsync_dir(dir: &Utf8Path) {
    if let Ok(d) = File::open(dir) {
        let _ = d.sync_all();
    }
}

// ---------------------------------------------------------------------------------------------
// Finding the database pod

/// kubectl for the project (after checking the node runs) and the pod to exec into.
struct Target<'t> {
    kubectl: Kubectl<'t>,
    exec: ExecTarget,
    workload: kubectl::Workload,
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
    let prefer = [db.engine.as_str(), db.service.as_str(), "postgres", "postgresql", "db"];
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

fn snapshot(ctx: &Ctx<'_>, name: Option<&str>, force: bool) -> Result<i32> {
    let project = ctx.project()?;
    let started = crate::time::now_secs();
    let name = match name {
        Some(n) => n.to_owned(),
        None => crate::time::compact(started),
    };
    validate_name(&name)?;
    let _lock = ctx.lock(&project, "kilter db snapshot")?;
    let tools = Tools::discover(&[Tool::Docker, Tool::Kubectl])?;
    take(ctx, &project, &tools, &name, force)?;
    Ok(0)
}

/// What [`take`] made.
#[derive(Debug)]
pub struct Taken {
    pub meta: Meta,
    pub path: Utf8PathBuf,
}

/// Take snapshot `name` (already validated). The caller holds the project lock. Returns `None`
/// in `--dry-run`.
pub fn take(
    ctx: &Ctx<'_>,
    project: &Project,
    tools: &Tools,
    name: &str,
    force: bool,
) -> Result<Option<Taken>> {
    let ui = ctx.ui;
    let runner = ctx.runner;
    let dir = &project.paths.snapshots;
    let files = Files::new(dir, name);
    if !force && (files.dump.exists() || files.meta.exists()) {
        let when = Meta::read(&files.meta)
            .map(|m| format!(" (taken {}, {})", m.created_at, fmt_bytes(m.size)))
            .unwrap_or_default();
        return Err(invalid(format!("snapshot `{name}` already exists{when}"))
            .hint("pass --force to replace it (the old one is kept until the new dump is complete), or choose another name")
            .into());
    }
    let (db, db_name) = database(project);
    let t = locate(ctx, project, tools, &db)?;

    // The server version, asked before the dump (it also proves the database answers).
    let version_cmd = t.kubectl.exec_cmd(
        format!("ask database {db_name} for its server version"),
        &t.exec,
        false,
        &["psql", "-U", &db.user, "-d", &db_name, "-tAc", "show server_version"],
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
    let dump_cmd = t
        .kubectl
        .exec_cmd(
            format!("dump database {db_name} from pod {}", t.exec.pod),
            &t.exec,
            false,
            &["pg_dump", "-Fc", "-U", &db.user, &db_name],
        )
        .mutate();

    if runner.is_dry_run() {
        runner.script(&format!(
            "mkdir -p {} && chmod 700 {}",
            quote(dir.as_str()),
            quote(dir.as_str())
        ));
        runner.run_to_file(&dump_cmd, &files.partial, dry_run_sink()?)?;
        runner.script(&format!(
            "mv {} {}",
            quote(files.partial.as_str()),
            quote(files.dump.as_str())
        ));
        runner.script_comment(&format!(
            "kilter checks the dump, computes its sha256 and writes {}",
            files.meta
        ));
        return Ok(None);
    }

    crate::fsutil::ensure_private_dir(dir)?;
    let file = OpenOptions::new()
        .write(true)
        .create(true)
        .truncate(true)
        .mode(0o600)
        .open(&files.partial)
        .with_context(|| format!("could not create {}", files.partial))?;
    let mut guard = PartialGuard { path: &files.partial, armed: true };
    file.set_permissions(fs::Permissions::from_mode(0o600))
        .with_context(|| format!("could not chmod {}", files.partial))?;
    let keep = file.try_clone().context("could not duplicate the snapshot file handle")?;

    let what =
        format!("Dumping database {db_name} from {} (pod {})", t.workload.reference(), t.exec.pod);
    let step = ui.step(&what, &what);
    let out = with_progress(ctx, &what, &files.partial, || {
        runner.run_to_file(&dump_cmd, &files.partial, file)
    })?;
    if !out.success() {
        drop(step);
        let kept = if files.dump.exists() {
            format!("the partial dump was removed; the existing snapshot `{name}` is unchanged")
        } else {
            format!("the partial dump was removed; no snapshot `{name}` was written")
        };
        let hint = if out.code == Some(137) {
            format!("pg_dump was killed (out of memory?); {kept}")
        } else {
            kept
        };
        return Err(runner.failed(&dump_cmd, &out, Some(hint)).into());
    }
    keep.sync_all().with_context(|| format!("could not fsync {}", files.partial))?;
    drop(keep);

    let (size, sha256, head) = digest(&files.partial)?;
    if !head.starts_with(b"PGDMP") {
        drop(step);
        return Err(Exit::new(
            Code::Failed,
            format!(
                "pg_dump exited 0 but did not produce a custom-format archive ({} bytes); nothing was kept",
                size
            ),
        )
        .hint("run the command from commands.log by hand to see what the pod's pg_dump writes")
        .into());
    }
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
        size,
        sha256,
        kilter_version: env!("CARGO_PKG_VERSION").to_owned(),
    };
    // Prepare the metadata first, so the old pair (with --force) is replaced by two renames.
    let text = serde_json::to_string_pretty(&meta)? + "\n";
    write_synced(&files.meta_tmp, text.as_bytes())?;
    fs::rename(&files.partial, &files.dump)
        .with_context(|| format!("could not rename {} to {}", files.partial, files.dump))?;
    guard.armed = false;
    let renamed = fs::rename(&files.meta_tmp, &files.meta)
        .with_context(|| format!("could not rename {} to {}", files.meta_tmp, files.meta));
    if renamed.is_err() {
        let _ = fs::remove_file(&files.meta_tmp);
    }
    renamed?;
    fsync_dir(dir);
    let took = step.done();
    ui.success(
        &format!(
            "Snapshot `{name}`: {} in {} ({}/s) → {}",
            fmt_bytes(size),
            crate::ui::fmt_duration(took),
            fmt_bytes((size as f64 / took.as_secs_f64().max(0.001)) as u64),
            files.dump
        ),
        &format!("take snapshot `{name}`"),
    );
    Ok(Some(Taken { meta, path: files.dump }))
}

/// `--dry-run` never writes the file; the runner only needs a handle to hand over.
fn dry_run_sink() -> Result<File> {
    File::options().write(true).open("/dev/null").context("could not open /dev/null")
}

fn write_synced(path: &Utf8Path, data: &[u8]) -> Result<()> {
    let res = (|| -> std::io::Result<()> {
        let mut f =
            OpenOptions::new().write(true).create(true).truncate(true).mode(0o600).open(path)?;
        f.set_permissions(fs::Permissions::from_mode(0o600))?;
        f.write_all(data)?;
        f.sync_all()
    })();
    if res.is_err() {
        let _ = fs::remove_file(path);
    }
    res.with_context(|| format!("could not write {path}"))
}

/// Run `f` while a thread shows the growing size of `path` and the rate in the step's spinner
/// (only when progress is shown; plain output gets the final line only).
fn with_progress<T>(ctx: &Ctx<'_>, what: &str, path: &Utf8Path, f: impl FnOnce() -> T) -> T {
    if !ctx.ui.progress_enabled() {
        return f();
    }
    let done = AtomicBool::new(false);
    std::thread::scope(|s| {
        s.spawn(|| {
            let start = Instant::now();
            let mut last = Instant::now() - Duration::from_secs(1);
            while !done.load(Ordering::SeqCst) {
                std::thread::sleep(Duration::from_millis(50));
                if last.elapsed() < Duration::from_millis(250) {
                    continue;
                }
                last = Instant::now();
                let size = fs::metadata(path).map(|m| m.len()).unwrap_or(0);
                let rate = size as f64 / start.elapsed().as_secs_f64().max(0.001);
                ctx.ui.progress(&format!(
                    "{what}: {} ({}/s)",
                    fmt_bytes(size),
                    fmt_bytes(rate as u64)
                ));
            }
        });
        let r = f();
        done.store(true, Ordering::SeqCst);
        r
    })
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
    match take(ctx, project, &tools, &name, false) {
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

/// One snapshot on disk.
#[derive(Debug, Clone, Serialize)]
pub struct Entry {
    pub name: String,
    pub created_at: Option<String>,
    pub size: u64,
    pub database: Option<String>,
    pub engine: Option<String>,
    pub server_version: Option<String>,
    pub sha256: Option<String>,
    pub path: String,
    /// False when `<NAME>.json` is missing or unreadable (such a snapshot cannot be verified).
    pub has_metadata: bool,
    /// Orders snapshots taken within the same second.
    #[serde(skip)]
    pub mtime_ns: u128,
}

/// Every `<NAME>.dump` of the project, newest first.
pub fn entries(project: &Project) -> Result<Vec<Entry>> {
    let dir = &project.paths.snapshots;
    let rd = match fs::read_dir(dir) {
        Ok(rd) => rd,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(Vec::new()),
        Err(e) => return Err(anyhow::Error::new(e).context(format!("could not read {dir}"))),
    };
    let mut out = Vec::new();
    for e in rd.flatten() {
        let file_name = e.file_name().to_string_lossy().into_owned();
        let Some(name) = file_name.strip_suffix(".dump") else { continue };
        if validate_name(name).is_err() {
            continue;
        }
        let files = Files::new(dir, name);
        let meta = Meta::read(&files.meta).ok();
        let md = e.metadata().ok();
        let modified = md
            .as_ref()
            .and_then(|m| m.modified().ok())
            .and_then(|t| t.duration_since(std::time::UNIX_EPOCH).ok());
        let mtime = modified.map(|d| crate::time::rfc3339(d.as_secs() as i64));
        out.push(Entry {
            name: name.to_owned(),
            created_at: meta.as_ref().map(|m| m.created_at.clone()).or(mtime),
            size: md.map(|m| m.len()).unwrap_or(0),
            database: meta.as_ref().map(|m| m.database.clone()),
            engine: meta.as_ref().map(|m| m.engine.clone()),
            server_version: meta.as_ref().map(|m| m.server_version.clone()),
            sha256: meta.as_ref().map(|m| m.sha256.clone()),
            path: files.dump.to_string(),
            has_metadata: meta.is_some(),
            mtime_ns: modified.map(|d| d.as_nanos()).unwrap_or(0),
        });
    }
    out.sort_by(|a, b| {
        (&b.created_at, b.mtime_ns, &b.name).cmp(&(&a.created_at, a.mtime_ns, &a.name))
    });
    Ok(out)
}

#[derive(Serialize)]
struct ListJson<'a> {
    schema_version: u32,
    project: &'a str,
    dir: &'a str,
    snapshots: &'a [Entry],
}

fn list(ctx: &Ctx<'_>, json: bool) -> Result<i32> {
    let project = ctx.project()?;
    let all = entries(&project)?;
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
    let rows: Vec<[String; 4]> = all
        .iter()
        .map(|e| {
            [
                e.name.clone(),
                e.created_at.clone().unwrap_or_else(|| "-".into()),
                fmt_bytes(e.size),
                match (&e.database, e.has_metadata) {
                    (Some(d), true) => d.clone(),
                    _ => "? (no metadata)".into(),
                },
            ]
        })
        .collect();
    let header = ["NAME", "CREATED", "SIZE", "DATABASE"];
    let mut widths = header.map(str::len);
    for r in &rows {
        for (w, c) in widths.iter_mut().zip(r) {
            *w = (*w).max(c.chars().count());
        }
    }
    let mut text = String::new();
    for r in std::iter::once(header.map(str::to_owned)).chain(rows) {
        let line = format!(
            "{:<w0$}  {:<w1$}  {:>w2$}  {}",
            r[0],
            r[1],
            r[2],
            r[3],
            w0 = widths[0],
            w1 = widths[1],
            w2 = widths[2]
        );
        text.push_str(line.trim_end());
        text.push('\n');
    }
    ctx.ui.stdout(&text);
    Ok(0)
}

// ---------------------------------------------------------------------------------------------
// restore

fn no_such(project: &Project, name: &str) -> anyhow::Error {
    let names: Vec<String> =
        entries(project).unwrap_or_default().into_iter().map(|e| e.name).collect();
    let hint = if names.is_empty() {
        format!("there are no snapshots in {}", project.paths.snapshots)
    } else {
        format!("snapshots: {}", names.join(", "))
    };
    invalid(format!("no snapshot named `{name}`")).hint(hint).into()
}

/// Verify `<NAME>.dump` against `<NAME>.json` (size first, then sha256). Touches nothing else.
pub fn verify(files: &Files, name: &str) -> Result<Meta> {
    let meta = Meta::read(&files.meta).map_err(|e| {
        Exit::new(
            Code::Failed,
            format!("snapshot `{name}` cannot be verified: {e:#}; nothing was restored"),
        )
        .hint("a snapshot without its metadata (checksum) is never restored")
    })?;
    let len =
        fs::metadata(&files.dump).with_context(|| format!("could not stat {}", files.dump))?.len();
    if len != meta.size {
        return Err(Exit::new(
            Code::Failed,
            format!(
                "snapshot `{name}` is {}: {} holds {len} bytes, but {} were written; nothing was restored",
                if len < meta.size { "truncated" } else { "corrupt" },
                files.dump,
                meta.size
            ),
        )
        .hint("restore another snapshot (`kilter db list`)")
        .into());
    }
    let (_, sha, _) = digest(&files.dump)?;
    if sha != meta.sha256 {
        return Err(Exit::new(
            Code::Failed,
            format!(
                "snapshot `{name}` is corrupt: the sha256 of {} is {sha}, but {} was recorded; nothing was restored",
                files.dump, meta.sha256
            ),
        )
        .hint("the file changed after it was taken; restore another snapshot (`kilter db list`)")
        .into());
    }
    Ok(meta)
}

fn restore(ctx: &Ctx<'_>, name: Option<&str>) -> Result<i32> {
    let ui = ctx.ui;
    let runner = ctx.runner;
    let project = ctx.project()?;
    let name = match name {
        Some(n) => {
            validate_name(n)?;
            n.to_owned()
        }
        None => match entries(&project)?.into_iter().next() {
            Some(e) => {
                ui.info(&format!("Restoring the newest snapshot, `{}`", e.name));
                e.name
            }
            None => {
                return Err(Exit::new(
                    Code::Failed,
                    format!("there are no snapshots to restore in {}", project.paths.snapshots),
                )
                .hint("take one with `kilter db snapshot`")
                .into());
            }
        },
    };
    let _lock = ctx.lock(&project, "kilter db restore")?;
    let files = Files::new(&project.paths.snapshots, &name);
    if !files.dump.exists() {
        return Err(no_such(&project, &name));
    }
    // Verify before anything touches the database.
    let meta = verify(&files, &name)?;
    ui.detail(&format!("sha256 of {} verified ({})", files.dump, meta.sha256));

    let (db, db_name) = database(&project);
    if meta.database != db_name {
        ui.warn(&format!(
            "snapshot `{name}` was taken from database `{}`; restoring it into `{db_name}`",
            meta.database
        ));
    }
    let tools = Tools::discover(&[Tool::Docker, Tool::Kubectl])?;
    let t = locate(ctx, &project, &tools, &db)?;
    let what = format!(
        "Restoring `{name}` ({}) into database {db_name} (pod {})",
        fmt_bytes(meta.size),
        t.exec.pod
    );
    let step = ui.step(&what, &what);
    let restore_cmd = t
        .kubectl
        .exec_cmd(
            format!("restore snapshot {name} into database {db_name}"),
            &t.exec,
            true,
            &["pg_restore", "--clean", "--if-exists", "--no-owner", "-U", &db.user, "-d", &db_name],
        )
        .stdin(Stdin::File(files.dump.clone()))
        .mutate();
    let out = runner.run_unchecked(&restore_cmd)?;
    if !out.success() {
        drop(step);
        return Err(runner
            .failed(
                &restore_cmd,
                &out,
                Some(format!(
                    "the database may be partly restored; fix the cause and run `kilter db restore {name}` again"
                )),
            )
            .into());
    }
    if runner.is_dry_run() {
        runner.script_comment(&format!(
            "kilter then checks that database {db_name} answers `select 1`"
        ));
        drop(step);
        return Ok(0);
    }
    let check = t.kubectl.exec_cmd(
        format!("check that database {db_name} answers"),
        &t.exec,
        false,
        &["psql", "-U", &db.user, "-d", &db_name, "-tAc", "select 1"],
    );
    let out = runner.run_unchecked(&check)?;
    if !out.success() || out.stdout.trim() != "1" {
        drop(step);
        return Err(runner
            .failed(
                &check,
                &out,
                Some("pg_restore finished, but the database does not answer".into()),
            )
            .into());
    }
    let took = step.done();
    ui.success(
        &format!(
            "Restored `{name}` (taken {}) into database {db_name} in {}",
            meta.created_at,
            crate::ui::fmt_duration(took)
        ),
        &format!("restore `{name}`"),
    );
    Ok(0)
}

// ---------------------------------------------------------------------------------------------
// rm

fn rm(ctx: &Ctx<'_>, name: &str) -> Result<i32> {
    let project = ctx.project()?;
    validate_name(name)?;
    let _lock = ctx.lock(&project, "kilter db rm")?;
    let files = Files::new(&project.paths.snapshots, name);
    if !files.dump.exists() && !files.meta.exists() {
        return Err(no_such(&project, name));
    }
    if ctx.runner.is_dry_run() {
        ctx.runner.script(&format!(
            "rm -f {} {}",
            quote(files.dump.as_str()),
            quote(files.meta.as_str())
        ));
        return Ok(0);
    }
    for f in [&files.dump, &files.meta, &files.partial, &files.meta_tmp] {
        crate::fsutil::remove_if_exists(f)?;
    }
    ctx.ui.success(&format!("Removed snapshot `{name}`"), &format!("remove snapshot `{name}`"));
    Ok(0)
}

#[cfg(test)]
mod tests;
