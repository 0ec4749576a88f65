//! The database programs a snapshot runs inside the pod, per engine (pure argv builders).
//!
//! | | PostgreSQL | MySQL | MariaDB |
//! |---|---|---|---|
//! | version | `psql -tAc 'show server_version'` | `mysql -N -B -e 'select version()'` | `mariadb …` |
//! | dump | `pg_dump -Fc -Z0` (kilter compresses) | `mysqldump --single-transaction --routines --triggers --events` | `mariadb-dump …` |
//! | restore | `pg_restore --clean --if-exists --no-owner` | `mysql` (the dump drops and recreates each table) | `mariadb` |
//! | answers? | `psql -tAc 'select 1'` | `mysql -N -B -e 'select 1'` | `mariadb …` |
//! | shell | `psql` | `mysql` | `mariadb` |
//!
//! MariaDB 11 images ship only the `mariadb*` names, MySQL images only the `mysql*` ones, so the
//! engine picks the program names. The client logs in as `database.user` the way the pod allows
//! it without a password prompt (the MariaDB image's `root` over the unix socket; otherwise a
//! `~/.my.cnf` or `~/.pgpass` in the container).

/// A database engine kilter can snapshot.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Engine {
    Postgres,
    Mysql,
    Mariadb,
}

impl Engine {
    /// From `database.engine` (already validated by the config).
    pub fn from_config(s: &str) -> Engine {
        match s {
            "mysql" => Engine::Mysql,
            "mariadb" => Engine::Mariadb,
            _ => Engine::Postgres,
        }
    }

    /// Extension of its data files (`dump`: pg_dump's custom archive; `sql`: SQL text).
    pub fn ext(self) -> &'static str {
        match self {
            Engine::Postgres => "dump",
            Engine::Mysql | Engine::Mariadb => "sql",
        }
    }

    /// What is recorded as the data format.
    pub fn format(self) -> &'static str {
        match self {
            Engine::Postgres => "pg_dump -Fc",
            Engine::Mysql | Engine::Mariadb => "sql",
        }
    }

    /// Container names preferred when a pod has several.
    pub fn containers(self) -> &'static [&'static str] {
        match self {
            Engine::Postgres => &["postgres", "postgresql", "db"],
            Engine::Mysql => &["mysql", "db"],
            Engine::Mariadb => &["mariadb", "mysql", "db"],
        }
    }

    fn client(self) -> &'static str {
        match self {
            Engine::Postgres => "psql",
            Engine::Mysql => "mysql",
            Engine::Mariadb => "mariadb",
        }
    }

    /// One query whose single value is printed bare.
    fn query(self, user: &str, db: &str, sql: &str) -> Vec<String> {
        let v = |a: &[&str]| a.iter().map(|s| (*s).to_owned()).collect::<Vec<_>>();
        match self {
            Engine::Postgres => v(&["psql", "-U", user, "-d", db, "-tAc", sql]),
            Engine::Mysql | Engine::Mariadb => {
                v(&[self.client(), "-u", user, "-N", "-B", "-e", sql, db])
            }
        }
    }

    /// The server version (also proves that the database answers before a dump).
    pub fn version_argv(self, user: &str, db: &str) -> Vec<String> {
        match self {
            Engine::Postgres => self.query(user, db, "show server_version"),
            Engine::Mysql | Engine::Mariadb => self.query(user, db, "select version()"),
        }
    }

    /// Success of a restore is reported only once this prints `1`.
    pub fn check_argv(self, user: &str, db: &str) -> Vec<String> {
        self.query(user, db, "select 1")
    }

    /// The dump, written to stdout.
    pub fn dump_argv(self, user: &str, db: &str) -> Vec<String> {
        let v = |a: &[&str]| a.iter().map(|s| (*s).to_owned()).collect::<Vec<_>>();
        match self {
            Engine::Postgres => v(&["pg_dump", "-Fc", "-Z0", "-U", user, db]),
            Engine::Mysql | Engine::Mariadb => v(&[
                if self == Engine::Mysql { "mysqldump" } else { "mariadb-dump" },
                "--single-transaction",
                "--routines",
                "--triggers",
                "--events",
                "-u",
                user,
                db,
            ]),
        }
    }

    /// The restore, reading the dump on stdin.
    pub fn restore_argv(self, user: &str, db: &str) -> Vec<String> {
        let v = |a: &[&str]| a.iter().map(|s| (*s).to_owned()).collect::<Vec<_>>();
        match self {
            Engine::Postgres => {
                v(&["pg_restore", "--clean", "--if-exists", "--no-owner", "-U", user, "-d", db])
            }
            Engine::Mysql | Engine::Mariadb => v(&[self.client(), "-u", user, db]),
        }
    }

    /// Whether database `db` exists (prints `1` when it does), asked through database `via`.
    /// `db` has passed [`super::validate_database`], so it needs no SQL quoting.
    pub fn exists_argv(self, user: &str, via: &str, db: &str) -> Vec<String> {
        match self {
            Engine::Postgres => {
                self.query(user, via, &format!("select 1 from pg_database where datname = '{db}'"))
            }
            Engine::Mysql | Engine::Mariadb => self.query(
                user,
                via,
                &format!("select 1 from information_schema.schemata where schema_name = '{db}'"),
            ),
        }
    }

    /// Create database `db` (before restoring an included database that does not exist yet).
    pub fn create_argv(self, user: &str, via: &str, db: &str) -> Vec<String> {
        let v = |a: &[&str]| a.iter().map(|s| (*s).to_owned()).collect::<Vec<_>>();
        match self {
            Engine::Postgres => v(&["createdb", "-U", user, db]),
            Engine::Mysql | Engine::Mariadb => v(&[
                self.client(),
                "-u",
                user,
                "-e",
                &format!("create database if not exists `{db}`"),
                via,
            ]),
        }
    }

    /// The interactive client, with `extra` arguments appended.
    pub fn shell_argv(self, user: &str, db: &str, extra: &[String]) -> Vec<String> {
        let mut a: Vec<String> = match self {
            Engine::Postgres => {
                vec!["psql".into(), "-U".into(), user.into(), "-d".into(), db.into()]
            }
            Engine::Mysql | Engine::Mariadb => {
                vec![self.client().into(), "-u".into(), user.into(), db.into()]
            }
        };
        a.extend(extra.iter().cloned());
        a
    }

    /// Whether a finished dump looks whole: pg_dump's archive starts with `PGDMP`; mysqldump and
    /// mariadb-dump end with `-- Dump completed on …` (their default `--comments`).
    pub fn looks_whole(self, head: &[u8], tail: &[u8]) -> bool {
        match self {
            Engine::Postgres => head.starts_with(b"PGDMP"),
            Engine::Mysql | Engine::Mariadb => {
                let t = String::from_utf8_lossy(tail);
                t.lines()
                    .rev()
                    .find(|l| !l.trim().is_empty())
                    .is_some_and(|l| l.starts_with("-- Dump completed"))
            }
        }
    }
}

/// The POSIX `sh` script around a dump in the pod: it runs the dump program (`"$@"`) into `tee`,
/// which hands the same bytes to `wc -c` and `sha256sum` through two fifos, and reports on
/// stderr, last, `kilter-stream: rc=<dump's exit> tee=<tee's exit> bytes=<N> sha256=<hex>`.
/// kilter keeps the dump only when what it received has exactly that size and sha256 (real
/// `kubectl exec` can end a stream early and still exit 0). Portable: no `pipefail` (dash and
/// busybox have none; the dump's exit status goes through a file), only coreutils/busybox
/// programs, and a missing one is named before anything runs. The fifos live in a `mktemp -d`
/// directory that the script removes.
pub const DUMP_SCRIPT: &str = r#"for p in mktemp mkfifo tee wc sha256sum; do command -v "$p" >/dev/null 2>&1 || { echo "kilter-stream: missing $p" >&2; exit 127; }; done; d=$(mktemp -d) || exit 70; trap 'rm -rf "$d"' EXIT; mkfifo "$d/n" "$d/s" || exit 70; wc -c <"$d/n" >"$d/count" & sha256sum <"$d/s" >"$d/sum" & { "$@"; echo "$?" >"$d/rc"; } | tee "$d/n" "$d/s"; t=$?; wait; rc=1; read -r rc <"$d/rc"; n=; read -r n <"$d/count"; s=; read -r s _ <"$d/sum"; echo "kilter-stream: rc=$rc tee=$t bytes=$n sha256=$s" >&2; [ "$rc" = 0 ] || exit "$rc"; exit "$t""#;

/// The POSIX `sh` script around a restore in the pod: stdin is staged into a file in a
/// `mktemp -d` directory first (`tee` hashes it on the way; a file `tee` could not write in full
/// fails the size check), and the restore program (`"$@"` after the expected byte count
/// and sha256) reads it only when its size and sha256 are exactly what kilter sent; otherwise
/// nothing touches the database (exit 65). Either way the last stderr line says what arrived:
/// `kilter-stream: received bytes=<N> sha256=<hex>`, then `kilter-stream: restored` once the
/// program exited 0 (kilter requires that line too: a `kubectl exec` that exits 0 for a failed
/// command cannot pass for a restore). The pod needs room for one uncompressed dump.
pub const RESTORE_SCRIPT: &str = r#"for p in mktemp tee wc sha256sum; do command -v "$p" >/dev/null 2>&1 || { echo "kilter-stream: missing $p" >&2; exit 127; }; done; d=$(mktemp -d) || exit 70; trap 'rm -rf "$d"' EXIT; s=$(tee "$d/in" | sha256sum) || exit 74; s=${s%% *}; n=$(wc -c <"$d/in"); n=$((n + 0)); echo "kilter-stream: received bytes=$n sha256=$s" >&2; [ "$n" = "$1" ] && [ "$s" = "$2" ] || exit 65; shift 2; "$@" <"$d/in" || exit "$?"; echo "kilter-stream: restored" >&2"#;

/// `sh -c DUMP_SCRIPT kilter-dump <dump argv…>`.
pub fn checked_dump_argv(dump: Vec<String>) -> Vec<String> {
    let mut argv =
        vec!["sh".to_owned(), "-c".to_owned(), DUMP_SCRIPT.to_owned(), "kilter-dump".to_owned()];
    argv.extend(dump);
    argv
}

/// `sh -c RESTORE_SCRIPT kilter-restore <bytes> <sha256> <restore argv…>`.
pub fn staged_restore_argv(bytes: u64, sha256: &str, restore: Vec<String>) -> Vec<String> {
    let mut argv = vec![
        "sh".to_owned(),
        "-c".to_owned(),
        RESTORE_SCRIPT.to_owned(),
        "kilter-restore".to_owned(),
        bytes.to_string(),
        sha256.to_owned(),
    ];
    argv.extend(restore);
    argv
}

/// What the pod's dump script reported (the last `kilter-stream:` line of its stderr).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Sent {
    /// The dump program's and tee's exit codes, the byte count and sha256 of what tee read.
    Report { rc: i32, tee: i32, bytes: u64, sha256: String },
    /// A program the script needs is not in the pod.
    Missing(String),
}

/// The last `kilter-stream:` line of `stderr`, parsed; `None` when there is none (the report
/// never arrived) or it is garbled.
pub fn parse_sent(stderr: &str) -> Option<Sent> {
    let line = stderr.lines().rev().find_map(|l| l.trim_end().strip_prefix("kilter-stream: "))?;
    if let Some(program) = line.strip_prefix("missing ") {
        return Some(Sent::Missing(program.trim().to_owned()));
    }
    let mut rc = None;
    let mut tee = None;
    let mut bytes = None;
    let mut sha256 = None;
    for field in line.split_whitespace() {
        match field.split_once('=') {
            Some(("rc", v)) => rc = v.parse().ok(),
            Some(("tee", v)) => tee = v.parse().ok(),
            Some(("bytes", v)) => bytes = v.parse().ok(),
            Some(("sha256", v)) if v.len() == 64 && v.bytes().all(|b| b.is_ascii_hexdigit()) => {
                sha256 = Some(v.to_ascii_lowercase());
            }
            _ => {}
        }
    }
    Some(Sent::Report { rc: rc?, tee: tee?, bytes: bytes?, sha256: sha256? })
}

/// What the pod's restore script reported: the size and sha256 it received (`None` when the
/// report never arrived), and whether it says the restore program finished (exit 0).
pub fn parse_received(stderr: &str) -> (Option<(u64, String)>, bool) {
    let mut received = None;
    let mut restored = false;
    for line in stderr.lines().filter_map(|l| l.trim_end().strip_prefix("kilter-stream: ")) {
        if line == "restored" {
            restored = true;
        } else if let Some(rest) = line.strip_prefix("received ") {
            let mut bytes = None;
            let mut sha = None;
            for field in rest.split_whitespace() {
                match field.split_once('=') {
                    Some(("bytes", v)) => bytes = v.parse().ok(),
                    Some(("sha256", v)) => sha = Some(v.to_owned()),
                    _ => {}
                }
            }
            received = bytes.zip(sha);
        }
    }
    (received, restored)
}

/// `stderr` without the scripts' `kilter-stream:` lines (what the database program said).
pub fn program_stderr(stderr: &str) -> String {
    stderr.lines().filter(|l| !l.starts_with("kilter-stream: ")).map(|l| format!("{l}\n")).collect()
}
