//! A throwaway MariaDB server for the `kilter db` tests (the counterpart of `pg.rs`): its own data
//! dir in a temp dir, a unix socket only (`--skip-networking`), `root` without a password, killed
//! when dropped.
//!
//! The fake kubectl's `exec` runs the real client programs (`mariadb-dump`, `mariadb`, and their
//! `mysqldump`/`mysql` names) against it ([`Maria::wire`]: knob `exec_path` = the clients' dir,
//! knob `mysql_socket` = the socket), so snapshot data really flows through kilter.
//!
//! - Programs: Debian's `mariadb-server` (`/usr/sbin/mariadbd`, `/usr/bin/mariadb-install-db`,
//!   `/usr/bin/mariadb`, `/usr/bin/mariadb-dump`); `KILTER_MARIADB_SBIN` / `KILTER_MARIADB_BIN`
//!   override the two dirs.
//! - `mariadb-install-db` runs once into `$CARGO_TARGET_TMPDIR/mariadb-template-…`; each server
//!   copies it (`cp -a`) and starts with `--no-defaults`, so no system option file applies. As
//!   root the server runs with `--user=root` (it refuses root otherwise).
//! - Missing MariaDB: [`Maria::start_or_skip`] reports the test as skipped through
//!   [`super::skipped`] (which fails it under `CI=true`); `KILTER_REQUIRE_MARIADB=1` also fails it.
#![allow(clippy::unwrap_used, clippy::disallowed_methods, dead_code, unreachable_pub)]

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::OnceLock;
use std::time::{Duration, Instant};

use super::Env;
use super::pg_server::run;

/// A running server; dropping it kills the server and removes its files.
pub struct Maria {
    root: tempfile::TempDir,
    bin: PathBuf,
    child: Child,
}

fn dirs() -> Result<(PathBuf, PathBuf), String> {
    let sbin =
        std::env::var_os("KILTER_MARIADB_SBIN").map_or_else(|| "/usr/sbin".into(), PathBuf::from);
    let bin =
        std::env::var_os("KILTER_MARIADB_BIN").map_or_else(|| "/usr/bin".into(), PathBuf::from);
    let need = [
        sbin.join("mariadbd"),
        bin.join("mariadb-install-db"),
        bin.join("mariadb"),
        bin.join("mariadb-dump"),
    ];
    match need.iter().find(|p| !p.is_file()) {
        None => Ok((sbin, bin)),
        Some(p) => Err(format!(
            "{} not found; install Debian's `mariadb-server` package (.ci/run does)",
            p.display()
        )),
    }
}

fn is_root() -> bool {
    // SAFETY: geteuid has no preconditions.
    unsafe { libc::geteuid() == 0 }
}

/// The installed template data dir (made once, reused across runs).
fn template(bin: &Path) -> Result<PathBuf, String> {
    static T: OnceLock<Result<PathBuf, String>> = OnceLock::new();
    T.get_or_init(|| {
        let owner = if is_root() { "root" } else { "self" };
        let dest = Path::new(env!("CARGO_TARGET_TMPDIR")).join(format!("mariadb-template-{owner}"));
        if dest.join("mysql").is_dir() {
            return Ok(dest);
        }
        let tmp = dest.with_extension(format!("tmp{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&tmp);
        std::fs::create_dir_all(&tmp).map_err(|e| format!("mkdir: {e}"))?;
        let mut cmd = Command::new(bin.join("mariadb-install-db"));
        cmd.arg("--no-defaults")
            .arg(format!("--datadir={}", tmp.display()))
            .args(["--auth-root-authentication-method=normal", "--skip-test-db"]);
        if is_root() {
            cmd.arg("--user=root");
        }
        run(&mut cmd, "mariadb-install-db")?;
        if std::fs::rename(&tmp, &dest).is_err() {
            let _ = std::fs::remove_dir_all(&tmp);
        }
        if dest.join("mysql").is_dir() {
            Ok(dest)
        } else {
            Err(format!("template {} is incomplete", dest.display()))
        }
    })
    .clone()
}

fn required() -> bool {
    super::truthy("KILTER_REQUIRE_MARIADB")
}

impl Maria {
    /// Start a server. When that fails the test is reported as skipped ([`super::skipped`]:
    /// a failure under `CI=true`) and `None` returned; under `KILTER_REQUIRE_MARIADB=1` it panics.
    pub fn start_or_skip(test: &str) -> Option<Maria> {
        match Maria::start() {
            Ok(m) => Some(m),
            Err(e) if required() => {
                panic!("{test}: MariaDB is required here (KILTER_REQUIRE_MARIADB=1): {e}")
            }
            Err(e) => {
                // The test's own name (libtest names the thread after it), else the caller's.
                let what = std::thread::current().name().unwrap_or(test).to_owned();
                super::skipped(&what, &format!("MariaDB is not usable here: {e}"));
                None
            }
        }
    }

    pub fn start() -> Result<Maria, String> {
        let (sbin, bin) = dirs()?;
        let template = template(&bin)?;
        let root = tempfile::Builder::new()
            .prefix("kilter-maria-")
            .tempdir_in("/tmp")
            .map_err(|e| format!("tempdir: {e}"))?;
        let data = root.path().join("data");
        run(Command::new("cp").arg("-a").arg(&template).arg(&data), "cp -a data dir")?;
        let sock = root.path().join("sock");
        let log = root.path().join("server.log");
        // Its own directory for temporary tables: nothing another test or program does in /tmp
        // can remove a file under a running query.
        let scratch = root.path().join("tmp");
        std::fs::create_dir(&scratch).map_err(|e| format!("mkdir {}: {e}", scratch.display()))?;
        let mut cmd = Command::new(sbin.join("mariadbd"));
        cmd.arg("--no-defaults")
            .arg(format!("--datadir={}", data.display()))
            .arg(format!("--socket={}", sock.display()))
            .arg(format!("--pid-file={}", root.path().join("pid").display()))
            .arg(format!("--log-error={}", log.display()))
            .arg(format!("--tmpdir={}", scratch.display()))
            .args([
                "--skip-networking",
                "--skip-log-bin",
                "--innodb-flush-log-at-trx-commit=0",
                "--innodb-buffer-pool-size=64M",
                "--innodb-log-file-size=48M",
                "--event-scheduler=OFF",
            ])
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null());
        if is_root() {
            cmd.arg("--user=root");
        }
        let child = cmd.spawn().map_err(|e| format!("mariadbd: could not run: {e}"))?;
        let mut m = Maria { root, bin, child };
        let deadline = Instant::now() + Duration::from_secs(30);
        loop {
            if m.sock().exists() && m.try_sql("", "select 1").is_ok_and(|o| o.trim() == "1") {
                return Ok(m);
            }
            if let Ok(Some(st)) = m.child.try_wait() {
                return Err(format!("mariadbd exited ({st}):\n{}", m.server_log()));
            }
            if Instant::now() > deadline {
                return Err(format!("mariadbd did not answer within 30 s:\n{}", m.server_log()));
            }
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    pub fn sock(&self) -> PathBuf {
        self.root.path().join("sock")
    }
    pub fn bin(&self) -> &Path {
        &self.bin
    }
    pub fn server_log(&self) -> String {
        std::fs::read_to_string(self.root.path().join("server.log")).unwrap_or_default()
    }

    fn try_sql(&self, db: &str, sql: &str) -> Result<String, String> {
        let mut cmd = Command::new(self.bin.join("mariadb"));
        cmd.arg("--no-defaults")
            .arg(format!("--socket={}", self.sock().display()))
            .args(["-u", "root", "-N", "-B", "-e", sql]);
        if !db.is_empty() {
            cmd.arg(db);
        }
        run(cmd.env_clear(), "mariadb")
    }

    /// Run SQL as root on database `db` (`""`: none); tab-separated rows without headers.
    pub fn sql(&self, db: &str, sql: &str) -> String {
        self.try_sql(db, sql).unwrap_or_else(|e| panic!("{sql:?}: {e}"))
    }

    pub fn create_db(&self, name: &str) {
        self.sql("", &format!("CREATE DATABASE `{name}`"));
    }

    /// Drop and create `name` again: the empty database a fresh pod would start with.
    pub fn recreate_db(&self, name: &str) {
        self.sql("", &format!("DROP DATABASE IF EXISTS `{name}`"));
        self.create_db(name);
    }

    /// Point the fake kubectl's `exec` at this server.
    pub fn wire(&self, env: &Env) {
        self.wire_to(env, &self.bin, &super::pod_tools());
    }

    /// [`Maria::wire`] for a pod without `zstd`, as the official mariadb images are.
    pub fn wire_without_zstd(&self, env: &Env) {
        // Only the server's client programs from its bin dir (which may be /usr/bin, zstd
        // and all).
        let dir = Path::new(env!("CARGO_TARGET_TMPDIR")).join("mariadb-clients");
        for p in ["mariadb", "mariadb-dump", "mysql", "mysqldump"] {
            let (from, to) = (self.bin.join(p), dir.join(p));
            if from.exists() && !to.exists() {
                let _ = std::fs::create_dir_all(&dir);
                let _ = std::os::unix::fs::symlink(&from, &to);
            }
        }
        self.wire_to(env, &dir, &super::pod_tools_without_zstd());
    }

    fn wire_to(&self, env: &Env, bin: &Path, tools: &Path) {
        // The bin dir first, then the shell and coreutils kilter's stream checks run.
        let path = format!("{}:{}", bin.display(), tools.display());
        env.set_knob("exec_path", &path);
        env.set_knob("mysql_socket", &self.sock().to_string_lossy());
    }
}

impl Drop for Maria {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}
