//! A throwaway PostgreSQL server: its own data dir in a temp dir under /tmp, a unix socket only
//! (no TCP), trust auth for the `postgres` role, stopped when dropped.
//!
//! Self-contained (std, `tempfile`, `libc`), so both test binaries use this one copy: the `it`
//! binary's harness builds on it (`support/pg.rs`: skipping, wiring into an `Env`) and
//! `tests/e2e.rs` includes this file with `#[path]`.
//!
//! - Binaries: `KILTER_PG_BINDIR` when set, else the newest `/usr/lib/postgresql/<v>/bin` that has
//!   all of them (Debian; the `/usr/bin` ones are version-dispatching wrappers), else
//!   `pg_config --bindir`, else `PATH`.
//! - The server refuses to run as root: as root, initdb and pg_ctl run through
//!   `runuser -u postgres` (the user Debian's package creates), or `nobody` when that user is
//!   missing. The temp dirs are made traversable for it.
//! - `initdb` runs once per bin dir into `$CARGO_TARGET_TMPDIR/pg-template-…`; each server copies
//!   that template (`cp -a`, ~0.1 s) and starts with fsync off.
//! - The socket path has a length limit (about 100 bytes): the server's dir is a short one in /tmp,
//!   and the socket lives in its `run/`.
#![allow(clippy::unwrap_used, clippy::disallowed_methods, dead_code, unreachable_pub)]

use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::OnceLock;

/// The server and client programs a server needs.
pub const PROGRAMS: &[&str] = &["initdb", "pg_ctl", "postgres", "pg_dump", "pg_restore", "psql"];

/// A running server. Dropping it stops the server and removes its files (unless [`Pg::keep`]).
pub struct Pg {
    /// The server's dir (`data/`, `run/`); `None` once stopped or kept.
    root: Option<tempfile::TempDir>,
    path: PathBuf,
    bin: PathBuf,
    user: Option<User>,
}

#[derive(Clone, Debug)]
struct User {
    name: String,
    uid: u32,
    gid: u32,
}

fn has_all(dir: &Path) -> bool {
    PROGRAMS.iter().all(|p| dir.join(p).is_file())
}

/// The directory holding the PostgreSQL server and client programs.
pub fn bindir() -> Result<PathBuf, String> {
    if let Some(d) = std::env::var_os("KILTER_PG_BINDIR") {
        let d = PathBuf::from(d);
        return if has_all(&d) {
            Ok(d)
        } else {
            Err(format!("KILTER_PG_BINDIR={} lacks one of {PROGRAMS:?}", d.display()))
        };
    }
    let mut versions: Vec<(u32, PathBuf)> = std::fs::read_dir("/usr/lib/postgresql")
        .into_iter()
        .flatten()
        .flatten()
        .filter_map(|e| {
            let v: u32 = e.file_name().to_str()?.parse().ok()?;
            Some((v, e.path().join("bin")))
        })
        .filter(|(_, d)| has_all(d))
        .collect();
    versions.sort();
    if let Some((_, d)) = versions.pop() {
        return Ok(d);
    }
    if let Ok(out) = Command::new("pg_config").arg("--bindir").output()
        && out.status.success()
    {
        let d = PathBuf::from(String::from_utf8_lossy(&out.stdout).trim());
        if has_all(&d) {
            return Ok(d);
        }
    }
    for d in std::env::split_paths(&std::env::var_os("PATH").unwrap_or_default()) {
        if has_all(&d) {
            return Ok(d);
        }
    }
    Err(format!(
        "PostgreSQL server programs ({}) not found in /usr/lib/postgresql/*/bin, `pg_config --bindir` or PATH; install Debian's `postgresql` package (.ci/run does)",
        PROGRAMS.join(", ")
    ))
}

/// As root, the unprivileged user the server runs as.
fn server_user() -> Result<Option<User>, String> {
    // SAFETY: geteuid has no preconditions.
    if unsafe { libc::geteuid() } != 0 {
        return Ok(None);
    }
    let passwd = std::fs::read_to_string("/etc/passwd").map_err(|e| format!("/etc/passwd: {e}"))?;
    for wanted in ["postgres", "nobody"] {
        for line in passwd.lines() {
            let f: Vec<&str> = line.split(':').collect();
            if f.len() >= 4 && f[0] == wanted {
                let (Ok(uid), Ok(gid)) = (f[2].parse(), f[3].parse()) else { continue };
                return Ok(Some(User { name: wanted.to_string(), uid, gid }));
            }
        }
    }
    Err("running as root, but there is neither a `postgres` nor a `nobody` user to run the server as".into())
}

/// `prog args…`, as the server user when we are root.
fn as_server(user: &Option<User>, prog: &Path) -> Command {
    match user {
        Some(u) => {
            let mut c = Command::new("runuser");
            c.args(["-u", &u.name, "--"]).arg(prog);
            c
        }
        None => Command::new(prog),
    }
}

/// Run `cmd`: its stdout, or an error naming `what` with both of its outputs. (The throwaway
/// MariaDB uses it too.)
pub fn run(cmd: &mut Command, what: &str) -> Result<String, String> {
    let out = cmd.output().map_err(|e| format!("{what}: could not run: {e}"))?;
    if out.status.success() {
        Ok(String::from_utf8_lossy(&out.stdout).into_owned())
    } else {
        Err(format!(
            "{what} failed ({}): {}{}",
            out.status,
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        ))
    }
}

fn chown(p: &Path, user: &Option<User>) -> Result<(), String> {
    if let Some(u) = user {
        std::os::unix::fs::chown(p, Some(u.uid), Some(u.gid))
            .map_err(|e| format!("chown {}: {e}", p.display()))?;
    }
    Ok(())
}

/// A temp dir in /tmp (short socket paths) that the server user can traverse.
fn open_tempdir(prefix: &str) -> Result<tempfile::TempDir, String> {
    let d = tempfile::Builder::new()
        .prefix(prefix)
        .tempdir_in("/tmp")
        .map_err(|e| format!("tempdir: {e}"))?;
    std::fs::set_permissions(d.path(), std::fs::Permissions::from_mode(0o755))
        .map_err(|e| format!("chmod: {e}"))?;
    Ok(d)
}

/// The initdb'd template data dir for `bin` (made once, reused across runs).
fn template(bin: &Path, user: &Option<User>) -> Result<PathBuf, String> {
    static T: OnceLock<Result<PathBuf, String>> = OnceLock::new();
    T.get_or_init(|| {
        let tag: String = bin
            .to_string_lossy()
            .chars()
            .map(|c| if c.is_ascii_alphanumeric() { c } else { '_' })
            .collect();
        let owner = user.as_ref().map(|u| u.name.as_str()).unwrap_or("self");
        let dest = Path::new(env!("CARGO_TARGET_TMPDIR")).join(format!("pg-template{tag}-{owner}"));
        if dest.join("PG_VERSION").is_file() {
            return Ok(dest);
        }
        let work = open_tempdir("kilter-pg-init-")?;
        let data = work.path().join("data");
        std::fs::create_dir(&data).map_err(|e| format!("mkdir: {e}"))?;
        chown(&data, user)?;
        run(
            as_server(user, &bin.join("initdb")).arg("-D").arg(&data).args([
                "-U",
                "postgres",
                "--auth=trust",
                "-E",
                "UTF8",
                "--locale=C",
                "--no-sync",
            ]),
            "initdb",
        )?;
        // Copy into place under a unique name, then rename (parallel test binaries race here).
        let tmp = dest.with_extension(format!("tmp{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&tmp);
        std::fs::create_dir_all(dest.parent().unwrap()).map_err(|e| format!("mkdir: {e}"))?;
        run(Command::new("cp").arg("-a").arg(&data).arg(&tmp), "cp -a template")?;
        if std::fs::rename(&tmp, &dest).is_err() {
            let _ = std::fs::remove_dir_all(&tmp);
        }
        if dest.join("PG_VERSION").is_file() {
            Ok(dest)
        } else {
            Err(format!("template {} is incomplete", dest.display()))
        }
    })
    .clone()
}

impl Pg {
    /// Start a server, or say why it cannot.
    pub fn start() -> Result<Pg, String> {
        let bin = bindir()?;
        let user = server_user()?;
        let template = template(&bin, &user)?;
        let root = open_tempdir("kilter-pg-")?;
        let pg = Pg { path: root.path().to_path_buf(), root: Some(root), bin, user };
        let data = pg.data_dir();
        run(Command::new("cp").arg("-a").arg(&template).arg(&data), "cp -a data dir")?;
        let run_dir = pg.socket_dir();
        std::fs::create_dir(&run_dir).map_err(|e| format!("mkdir: {e}"))?;
        chown(&run_dir, &pg.user)?;
        let opts = format!("-k {} -c listen_addresses= -F", run_dir.display());
        run(
            as_server(&pg.user, &pg.bin.join("pg_ctl"))
                .arg("-D")
                .arg(&data)
                .args(["-o", &opts, "-w", "-t", "30", "-l"])
                .arg(run_dir.join("server.log"))
                .arg("start"),
            "pg_ctl start",
        )
        .map_err(|e| format!("{e}\nserver.log:\n{}", pg.server_log()))?;
        Ok(pg)
    }

    /// The bin dir of the server and client programs.
    pub fn bin(&self) -> &Path {
        &self.bin
    }
    /// The server's own dir: `data/` and `run/` (the socket dir).
    pub fn dir(&self) -> &Path {
        &self.path
    }
    fn data_dir(&self) -> PathBuf {
        self.path.join("data")
    }
    /// The unix socket's directory (`PGHOST`); the port is the default 5432.
    pub fn socket_dir(&self) -> PathBuf {
        self.path.join("run")
    }
    pub fn server_log(&self) -> String {
        std::fs::read_to_string(self.socket_dir().join("server.log")).unwrap_or_default()
    }

    /// The server's version (`postgres --version`'s third word, e.g. `15.8`); empty when unknown.
    pub fn version(&self) -> String {
        Command::new(self.bin.join("postgres"))
            .arg("--version")
            .output()
            .map(|o| {
                String::from_utf8_lossy(&o.stdout)
                    .split_whitespace()
                    .nth(2)
                    .unwrap_or("")
                    .to_owned()
            })
            .unwrap_or_default()
    }

    /// `psql` as `postgres` on database `db`: `-X -q -tA -v ON_ERROR_STOP=1 -c sql`; panics on error.
    pub fn psql(&self, db: &str, sql: &str) -> String {
        let out = Command::new(self.bin.join("psql"))
            .arg("-h")
            .arg(self.socket_dir())
            .args([
                "-U",
                "postgres",
                "-d",
                db,
                "-X",
                "-q",
                "-tA",
                "-v",
                "ON_ERROR_STOP=1",
                "-c",
                sql,
            ])
            .env_clear()
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "psql {sql:?} failed: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8(out.stdout).unwrap()
    }

    pub fn create_db(&self, name: &str) {
        self.psql("postgres", &format!("CREATE DATABASE \"{name}\""));
    }

    pub fn drop_db(&self, name: &str) {
        self.psql("postgres", &format!("DROP DATABASE IF EXISTS \"{name}\" WITH (FORCE)"));
    }

    /// Drop and create `name` again: the empty database a fresh pod would start with.
    pub fn recreate_db(&self, name: &str) {
        self.drop_db(name);
        self.create_db(name);
    }

    /// Stop the server (`pg_ctl stop -m immediate`) and remove its files; once only, and not
    /// after [`Pg::keep`].
    pub fn stop(&mut self) {
        if self.root.is_none() {
            return;
        }
        let _ = as_server(&self.user, &self.bin.join("pg_ctl"))
            .arg("-D")
            .arg(self.data_dir())
            .args(["-m", "immediate", "-w", "stop"])
            .output();
        self.root = None;
    }

    /// Leave the server running and its dir in place (for inspection after a failure); the
    /// dir is returned.
    pub fn keep(&mut self) -> Option<PathBuf> {
        self.root.take().map(tempfile::TempDir::keep)
    }
}

impl Drop for Pg {
    fn drop(&mut self) {
        self.stop();
    }
}
