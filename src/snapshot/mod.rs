//! The snapshot store: names, files, metadata, listing, verification, prune plans.
//!
//! A snapshot `NAME` lives in the project's snapshots dir (0700; every file 0600) as:
//!
//! | file | what |
//! |---|---|
//! | `NAME.dump.zst` / `NAME.sql.zst` | the first database: `pg_dump -Fc -Z0` (PostgreSQL) or `mysqldump` SQL (MySQL/MariaDB), compressed by kilter with zstd |
//! | `NAME@DB.dump.zst` / `NAME@DB.sql.zst` | each database added with `--include` (`@` never occurs in a snapshot name) |
//! | `NAME.dump` / `NAME.sql` | the same, stored as-is (compression `none`; every v1 snapshot is a `NAME.dump`) |
//! | `NAME.json` | the metadata, written last: a snapshot is complete only once it exists |
//! | `…​.partial`, `.NAME.json.kilter-tmp.PID` (`.NAME.json.tmp` from earlier kilters) | files being written; a leftover one (kilter was killed) marks an incomplete snapshot |
//!
//! Every data file is fsynced and renamed into place before `NAME.json` is written, so a reader
//! that finds the metadata finds every file it names. v1 metadata (`schema_version: 1`, one
//! `NAME.dump`) still reads; it is upgraded in memory to the v2 shape.
//!
//! [`store`] holds every file effect (create, rename, remove, fsync, metadata writes) so that they
//! can print themselves in `--dry-run`; [`engine`] builds the argv of the database programs.

pub mod engine;
pub mod store;

use std::fs;

use anyhow::{Context, Result};
use camino::{Utf8Path, Utf8PathBuf};
use serde::{Deserialize, Serialize};

use crate::error::{Code, Exit, invalid};

/// Version of `NAME.json` written now (v1 files still read), and of `kilter db list --json`.
pub const SCHEMA_VERSION: u32 = 2;

/// Data file suffixes, longest first (so `x.dump.zst` is not read as `x.dump` + `.zst`).
const DATA_SUFFIXES: [&str; 4] = [".dump.zst", ".sql.zst", ".dump", ".sql"];

/// `^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$` (so never `..`, `/`, `@` or a hidden file).
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

/// A database name for `--include`: 1–63 letters, digits, `_`, `-`, `.` and `$`, not starting
/// with `.` or `-`. It becomes part of a file name and is passed as one argv word.
pub fn validate_database(name: &str) -> Result<(), Exit> {
    let b = name.as_bytes();
    let ok = !b.is_empty()
        && b.len() <= 63
        && !matches!(b[0], b'.' | b'-')
        && b.iter().all(|c| c.is_ascii_alphanumeric() || matches!(c, b'.' | b'_' | b'-' | b'$'));
    if ok {
        Ok(())
    } else {
        Err(invalid(format!("invalid database name {name:?} in --include")).hint(
            "database names for --include are 1–63 letters, digits, '_', '-', '.' and '$' (e.g. --include analytics,auth)",
        ))
    }
}

/// How a data file is compressed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(tag = "method", rename_all = "lowercase")]
pub enum Compression {
    /// Stored as the database program wrote it (v1 snapshots).
    #[default]
    None,
    /// zstd at `level` (a standard zstd frame with a content checksum).
    Zstd { level: i32 },
    /// pg_dump's own zstd inside its archive (`-Z zstd:LEVEL`), stored as pg_dump wrote it.
    #[serde(rename = "pg_dump-zstd")]
    PgZstd { level: i32 },
    /// pg_dump's own gzip inside its archive (`-Z LEVEL`), stored as pg_dump wrote it.
    #[serde(rename = "pg_dump-gzip")]
    PgGzip { level: i32 },
}

impl Compression {
    /// `zstd -3`, `none`.
    pub fn label(&self) -> String {
        match self {
            Compression::None => "none".to_owned(),
            Compression::Zstd { level } => format!("zstd -{level}"),
            Compression::PgZstd { level } => format!("pg_dump zstd:{level}"),
            Compression::PgGzip { level } => format!("pg_dump gzip:{level}"),
        }
    }

    /// Whether the file is exactly the stream the restore program reads (kilter sends it
    /// as it is): uncompressed, or compressed inside pg_dump's archive.
    pub fn is_program_input(&self) -> bool {
        !matches!(self, Compression::Zstd { .. })
    }

    fn suffix(&self) -> &'static str {
        match self {
            Compression::None | Compression::PgZstd { .. } | Compression::PgGzip { .. } => "",
            Compression::Zstd { .. } => ".zst",
        }
    }
}

/// The file name of one database's data in snapshot `name`: `NAME.dump.zst`, `NAME@DB.sql.zst`, …
/// (`include` is `None` for the first database).
pub fn data_file_name(name: &str, include: Option<&str>, ext: &str, c: Compression) -> String {
    match include {
        None => format!("{name}.{ext}{}", c.suffix()),
        Some(db) => format!("{name}@{db}.{ext}{}", c.suffix()),
    }
}

/// One database of a snapshot.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
pub struct DbFile {
    /// The database it was dumped from.
    pub name: String,
    /// Its file, relative to the snapshots dir.
    pub file: String,
    /// `pg_dump -Fc` or `sql`.
    pub format: String,
    pub compression: Compression,
    /// Bytes on disk and their sha256.
    pub size: u64,
    pub sha256: String,
    /// Bytes the database program wrote (before compression); unknown for v1 snapshots.
    #[serde(default)]
    pub raw_size: Option<u64>,
    /// The sha256 of those bytes, as the pod reported and kilter checked it; unknown for
    /// snapshots older than that check.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub raw_sha256: Option<String>,
}

/// `NAME.json`.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
pub struct Meta {
    pub schema_version: u32,
    pub name: String,
    pub project: String,
    /// `postgres`, `mysql` or `mariadb`.
    pub engine: String,
    /// The first database (the configured one).
    pub database: String,
    pub user: String,
    /// The Deployment/StatefulSet and pod it was taken from.
    pub service: String,
    pub pod: String,
    /// The server's version, asked just before the dump.
    pub server_version: String,
    /// When the dump started (UTC, RFC 3339).
    pub created_at: String,
    /// Bytes on disk of all files together.
    pub size: u64,
    /// sha256 of the first database's file (as in v1).
    pub sha256: String,
    pub kilter_version: String,
    /// How the files are compressed (v1: `none`).
    #[serde(default)]
    pub compression: Compression,
    /// Every database of the snapshot, the configured one first.
    #[serde(default)]
    pub databases: Vec<DbFile>,
    /// Pinned snapshots are never removed by `kilter db prune`.
    #[serde(default)]
    pub pinned: bool,
}

impl Meta {
    /// Read `NAME.json`, v1 or v2 (v1 is upgraded in memory: one `NAME.dump`, no compression).
    pub fn read(path: &Utf8Path) -> Result<Meta> {
        let text = fs::read_to_string(path).with_context(|| format!("could not read {path}"))?;
        Meta::parse(&text).with_context(|| format!("{path} is not valid snapshot metadata"))
    }

    pub fn parse(text: &str) -> Result<Meta> {
        let mut meta: Meta = serde_json::from_str(text)?;
        match meta.schema_version {
            1 => {
                meta.compression = Compression::None;
                meta.databases = vec![DbFile {
                    name: meta.database.clone(),
                    file: format!("{}.dump", meta.name),
                    format: "pg_dump -Fc".to_owned(),
                    compression: Compression::None,
                    size: meta.size,
                    sha256: meta.sha256.clone(),
                    raw_size: Some(meta.size),
                    raw_sha256: Some(meta.sha256.clone()),
                }];
            }
            SCHEMA_VERSION => {
                if meta.databases.is_empty() {
                    anyhow::bail!("it names no database files");
                }
            }
            v => anyhow::bail!(
                "schema_version {v} is newer than this kilter understands ({SCHEMA_VERSION}); upgrade kilter"
            ),
        }
        for db in &meta.databases {
            if split_file_name(&db.file).is_none_or(|(n, _)| n != meta.name) {
                anyhow::bail!("file {:?} does not belong to snapshot {:?}", db.file, meta.name);
            }
        }
        Ok(meta)
    }

    /// The metadata as written to disk (pretty JSON, final newline).
    pub fn to_text(&self) -> Result<String> {
        let mut m = self.clone();
        m.schema_version = SCHEMA_VERSION;
        Ok(serde_json::to_string_pretty(&m)? + "\n")
    }
}

/// Paths of snapshot `name`'s metadata.
pub fn meta_path(dir: &Utf8Path, name: &str) -> Utf8PathBuf {
    dir.join(format!("{name}.json"))
}

/// `x.dump.zst.partial` for `x.dump.zst`.
pub fn partial_path(path: &Utf8Path) -> Utf8PathBuf {
    Utf8PathBuf::from(format!("{path}.partial"))
}

/// What a file in the snapshots dir is.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Piece {
    Meta,
    /// A data file; `Some(db)` for an included database.
    Data(Option<String>),
    /// A `.partial` data file or the metadata being prepared.
    Partial,
}

/// `NAME.dump.zst` → (`NAME`, `None`); `NAME@db.sql` → (`NAME`, `Some("db")`).
fn split_file_name(file: &str) -> Option<(String, Option<String>)> {
    let base = DATA_SUFFIXES.iter().find_map(|s| file.strip_suffix(s))?;
    let (name, db) = match base.split_once('@') {
        Some((n, d)) => (n, Some(d.to_owned())),
        None => (base, None),
    };
    validate_name(name).ok()?;
    if let Some(d) = &db {
        validate_database(d).ok()?;
    }
    Some((name.to_owned(), db))
}

/// Which snapshot a file of the snapshots dir belongs to, and what it is (`None`: not ours).
pub fn classify(file: &str) -> Option<(String, Piece)> {
    if let Some(hidden) = file.strip_prefix('.') {
        // The metadata being written: `.NAME.json.kilter-tmp.PID` (the runner's atomic write,
        // `fsutil::stage`) or `.NAME.json.tmp` (earlier kilters).
        let inner = match crate::fsutil::staged_tmp(file) {
            Some((target, _)) => target.strip_suffix(".json"),
            None => hidden.strip_suffix(".json.tmp"),
        }?;
        validate_name(inner).ok()?;
        return Some((inner.to_owned(), Piece::Partial));
    }
    if let Some(data) = file.strip_suffix(".partial") {
        return split_file_name(data).map(|(n, _)| (n, Piece::Partial));
    }
    if let Some(name) = file.strip_suffix(".json") {
        validate_name(name).ok()?;
        return Some((name.to_owned(), Piece::Meta));
    }
    split_file_name(file).map(|(n, db)| (n, Piece::Data(db)))
}

/// The state of a snapshot on disk.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum State {
    /// Metadata and every file it names, with the recorded sizes.
    Complete,
    /// Files without metadata from a snapshot that never finished (kilter was killed).
    Incomplete,
    /// A v1 `NAME.dump` without `NAME.json`: restorable by hand, never by kilter.
    NoMetadata,
    /// Metadata whose files are missing or have the wrong size, or that cannot be read.
    Damaged,
}

impl State {
    pub fn word(self) -> &'static str {
        match self {
            State::Complete => "complete",
            State::Incomplete => "incomplete",
            State::NoMetadata => "no metadata",
            State::Damaged => "damaged",
        }
    }
}

/// One snapshot on disk.
#[derive(Debug, Clone, Serialize)]
pub struct Entry {
    pub name: String,
    pub state: State,
    pub created_at: Option<String>,
    /// Bytes on disk of its data files (leftover partial files included; not the metadata).
    pub size: u64,
    pub database: Option<String>,
    /// The metadata's databases (name, file, size, sha256, compression each).
    pub databases: Vec<DbFile>,
    pub engine: Option<String>,
    pub server_version: Option<String>,
    pub sha256: Option<String>,
    pub compression: Option<Compression>,
    pub pinned: bool,
    /// The first database's file.
    pub path: String,
    /// False when `NAME.json` is missing or unreadable (such a snapshot cannot be verified).
    pub has_metadata: bool,
    /// A `.partial` file of this name is left over (from a killed snapshot).
    pub partial: bool,
    /// Every file of this snapshot in the dir (what `kilter db rm` removes).
    #[serde(skip)]
    pub files: Vec<Utf8PathBuf>,
    /// Orders snapshots taken within the same second.
    #[serde(skip)]
    pub mtime_ns: u128,
}

/// Every snapshot in `dir`, newest first (also incomplete ones).
pub fn entries(dir: &Utf8Path) -> Result<Vec<Entry>> {
    let rd = match fs::read_dir(dir) {
        Ok(rd) => rd,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(Vec::new()),
        Err(e) => return Err(anyhow::Error::new(e).context(format!("could not read {dir}"))),
    };
    // name → (files with their piece, size and mtime)
    let mut by_name: std::collections::BTreeMap<String, Vec<(Piece, Utf8PathBuf, u64, u128)>> =
        std::collections::BTreeMap::new();
    for e in rd.flatten() {
        let file = e.file_name().to_string_lossy().into_owned();
        let Some((name, piece)) = classify(&file) else { continue };
        let md = e.metadata().ok();
        let mtime = md
            .as_ref()
            .and_then(|m| m.modified().ok())
            .and_then(|t| t.duration_since(std::time::UNIX_EPOCH).ok())
            .map(|d| d.as_nanos())
            .unwrap_or(0);
        let size = md.map(|m| m.len()).unwrap_or(0);
        by_name.entry(name).or_default().push((piece, dir.join(&file), size, mtime));
    }
    let mut out: Vec<Entry> = by_name
        .into_iter()
        .map(|(name, mut files)| {
            files.sort_by(|a, b| a.1.cmp(&b.1));
            entry(dir, name, files)
        })
        .collect();
    out.sort_by(|a, b| {
        (&b.created_at, b.mtime_ns, &b.name).cmp(&(&a.created_at, a.mtime_ns, &a.name))
    });
    Ok(out)
}

fn entry(dir: &Utf8Path, name: String, files: Vec<(Piece, Utf8PathBuf, u64, u128)>) -> Entry {
    let has_meta_file = files.iter().any(|(p, ..)| *p == Piece::Meta);
    let meta = if has_meta_file { Meta::read(&meta_path(dir, &name)).ok() } else { None };
    let partial = files.iter().any(|(p, ..)| *p == Piece::Partial);
    let size = files.iter().filter(|(p, ..)| *p != Piece::Meta).map(|(_, _, s, _)| s).sum();
    let mtime_ns = files.iter().map(|(.., m)| *m).max().unwrap_or(0);
    let primary = files.iter().find(|(p, ..)| *p == Piece::Data(None)).map(|(_, f, ..)| f.clone());
    let state = match &meta {
        Some(m) => {
            let intact = m.databases.iter().all(|d| {
                fs::metadata(dir.join(&d.file)).is_ok_and(|md| md.is_file() && md.len() == d.size)
            });
            if intact { State::Complete } else { State::Damaged }
        }
        None if has_meta_file => State::Damaged,
        None => {
            let v1_dump = files
                .iter()
                .any(|(p, f, ..)| *p == Piece::Data(None) && f.as_str().ends_with(".dump"));
            if v1_dump && !partial { State::NoMetadata } else { State::Incomplete }
        }
    };
    let created_at = meta.as_ref().map(|m| m.created_at.clone()).or_else(|| {
        (mtime_ns > 0).then(|| crate::time::rfc3339((mtime_ns / 1_000_000_000) as i64))
    });
    let path = meta
        .as_ref()
        .and_then(|m| m.databases.first())
        .map(|d| dir.join(&d.file))
        .or(primary)
        .unwrap_or_else(|| dir.join(format!("{name}.dump")));
    Entry {
        state,
        created_at,
        size,
        database: meta.as_ref().map(|m| m.database.clone()),
        databases: meta.as_ref().map(|m| m.databases.clone()).unwrap_or_default(),
        engine: meta.as_ref().map(|m| m.engine.clone()),
        server_version: meta.as_ref().map(|m| m.server_version.clone()),
        sha256: meta.as_ref().map(|m| m.sha256.clone()),
        compression: meta.as_ref().map(|m| m.compression),
        pinned: meta.as_ref().is_some_and(|m| m.pinned),
        path: path.to_string(),
        has_metadata: meta.is_some(),
        partial,
        files: files.into_iter().map(|(_, f, ..)| f).collect(),
        mtime_ns,
        name,
    }
}

/// (number of snapshots, bytes of all their files) in `dir`, for `status` and `destroy`.
pub fn stats(dir: &Utf8Path) -> (usize, u64) {
    let all = entries(dir).unwrap_or_default();
    (all.len(), all.iter().map(|e| e.size).sum())
}

/// Verify every file of `meta` (existence and size first, then sha256, one streaming pass each)
/// before anything touches a database.
pub fn verify(dir: &Utf8Path, meta: &Meta) -> Result<()> {
    let name = &meta.name;
    for db in &meta.databases {
        let path = dir.join(&db.file);
        let len = match fs::metadata(&path) {
            Ok(m) => m.len(),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                return Err(Exit::new(
                    Code::Failed,
                    format!(
                        "snapshot `{name}` is incomplete: {path} is missing; nothing was restored"
                    ),
                )
                .hint("restore another snapshot (`kilter db list`)")
                .into());
            }
            Err(e) => return Err(anyhow::Error::new(e).context(format!("could not stat {path}"))),
        };
        if len != db.size {
            return Err(Exit::new(
                Code::Failed,
                format!(
                    "snapshot `{name}` is {}: {path} holds {len} bytes, but {} were written; nothing was restored",
                    if len < db.size { "truncated" } else { "corrupt" },
                    db.size
                ),
            )
            .hint("restore another snapshot (`kilter db list`)")
            .into());
        }
    }
    for db in &meta.databases {
        let path = dir.join(&db.file);
        let (_, sha) = store::digest(&path)?;
        if sha != db.sha256 {
            return Err(Exit::new(
                Code::Failed,
                format!(
                    "snapshot `{name}` is corrupt: the sha256 of {path} is {sha}, but {} was recorded; nothing was restored",
                    db.sha256
                ),
            )
            .hint("the file changed after it was taken; restore another snapshot (`kilter db list`)")
            .into());
        }
    }
    Ok(())
}

/// What `kilter db prune --keep N [--older-than D]` removes: complete snapshots beyond the `keep`
/// newest unpinned ones (and, with `older_than`, only those created before `now - older_than`).
/// Pinned snapshots, the newest snapshot, and snapshots that are not complete are never in it.
pub fn prune_plan(
    all: &[Entry],
    keep: usize,
    older_than: Option<std::time::Duration>,
    now: i64,
) -> Vec<&Entry> {
    let cutoff = older_than.map(|d| now - d.as_secs() as i64);
    let complete: Vec<&Entry> = all.iter().filter(|e| e.state == State::Complete).collect();
    let mut unpinned_seen = 0usize;
    let mut out = Vec::new();
    for (i, e) in complete.iter().enumerate() {
        if e.pinned {
            continue;
        }
        unpinned_seen += 1;
        if i == 0 || unpinned_seen <= keep {
            continue;
        }
        if let Some(cut) = cutoff {
            let created = e.created_at.as_deref().and_then(crate::time::parse_rfc3339);
            if created.is_none_or(|c| c >= cut) {
                continue;
            }
        }
        out.push(*e);
    }
    out
}

/// `1.5 MiB`: sizes read as everywhere else in kilter.
pub use crate::ui::fmt_bytes;

#[cfg(test)]
mod tests;
