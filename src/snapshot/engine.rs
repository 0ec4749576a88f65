//! The database programs a snapshot runs inside the pod, per engine (pure argv builders).
//!
//! | | PostgreSQL | MySQL | MariaDB |
//! |---|---|---|---|
//! | version | `psql -tAc 'show server_version'` | `mysql -N -B -e 'select version()'` | `mariadb …` |
//! | probe | `pg_dump --version`, `command -v zstd` | `mysqldump --version`, `command -v zstd` | `mariadb-dump …` |
//! | dump | `pg_dump -Fc -Z zstd:1` (16+), else `-Z0 \| zstd -1` (pod has zstd), else `-Z 1` | `mysqldump --single-transaction --routines --triggers --events` (`\| zstd -1` when the pod has zstd) | `mariadb-dump …` |
//! | restore | `pg_restore --clean --if-exists --no-owner -f -` into `psql` in one transaction | `mysql` (the dump drops and recreates each table) | `mariadb` |
//! | answers? | `psql -tAc 'select 1'` | `mysql -N -B -e 'select 1'` | `mariadb …` |
//! | shell | `psql` | `mysql` | `mariadb` |
//!
//! MariaDB 11 images ship only the `mariadb*` names, MySQL images only the `mysql*` ones, so the
//! engine picks the program names. The client logs in as `database.user` the way the pod allows
//! it without a password prompt (the MariaDB image's `root` over the unix socket; otherwise a
//! `~/.my.cnf` or `~/.pgpass` in the container).

use super::Compression;

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

    /// The dump program (`pg_dump`, `mysqldump`, `mariadb-dump`).
    pub fn dump_program(self) -> &'static str {
        match self {
            Engine::Postgres => "pg_dump",
            Engine::Mysql => "mysqldump",
            Engine::Mariadb => "mariadb-dump",
        }
    }

    /// `sh -c PROBE_SCRIPT kilter-probe <dump program>`: what the pod can do for a transfer
    /// (read with [`parse_probe`]).
    pub fn probe_argv(self) -> Vec<String> {
        ["sh", "-c", PROBE_SCRIPT, "kilter-probe", self.dump_program()]
            .iter()
            .map(|s| (*s).to_owned())
            .collect()
    }

    /// The dump, written to stdout, for `transfer` (PostgreSQL compresses its own archive or
    /// not; SQL dumps are always plain, a compressor in the pod comes from the script).
    pub fn dump_argv(self, user: &str, db: &str, transfer: Transfer) -> Vec<String> {
        let v = |a: &[&str]| a.iter().map(|s| (*s).to_owned()).collect::<Vec<_>>();
        match self {
            Engine::Postgres => {
                let z = match transfer {
                    Transfer::ArchiveZstd => "zstd:1",
                    Transfer::ArchiveGzip => "1",
                    Transfer::PodZstd | Transfer::Raw => "0",
                };
                v(&["pg_dump", "-Fc", "-Z", z, "-U", user, db])
            }
            Engine::Mysql | Engine::Mariadb => v(&[
                self.dump_program(),
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

    /// The restore of database `db`: for MySQL/MariaDB the client reading the SQL dump; for
    /// PostgreSQL `pg_restore … -f -` (the archive as SQL on stdout) then `psql` applying it in
    /// one transaction ([`PG_RESTORE_SCRIPT`] runs the two).
    pub fn restore_argv(self, user: &str, db: &str) -> Vec<String> {
        let v = |a: &[&str]| a.iter().map(|s| (*s).to_owned()).collect::<Vec<_>>();
        match self {
            Engine::Postgres => v(&[
                "pg_restore",
                "--clean",
                "--if-exists",
                "--no-owner",
                "-f",
                "-",
                "psql",
                "-X",
                "-q",
                "-v",
                "ON_ERROR_STOP=1",
                "-U",
                user,
                "-d",
                db,
            ]),
            Engine::Mysql | Engine::Mariadb => v(&[self.client(), "-u", user, db]),
        }
    }

    /// The restore of database `db` under its pod script: `sh -c SCRIPT kilter-restore <bytes>
    /// <sha256> <decompressor> <restore argv…>`, where the script is [`PG_RESTORE_SCRIPT`]
    /// (PostgreSQL: one transaction that commits only once every byte arrived) or
    /// [`RESTORE_SCRIPT`] (MySQL/MariaDB: staged and verified first), and the decompressor is
    /// `zstd` when the pod decompresses what kilter sends, else `none`.
    pub fn checked_restore_argv(
        self,
        bytes: u64,
        sha256: &str,
        decompressor: &str,
        user: &str,
        db: &str,
    ) -> Vec<String> {
        let script = match self {
            Engine::Postgres => PG_RESTORE_SCRIPT,
            Engine::Mysql | Engine::Mariadb => RESTORE_SCRIPT,
        };
        let mut argv: Vec<String> = vec![
            "sh".into(),
            "-c".into(),
            script.into(),
            "kilter-restore".into(),
            bytes.to_string(),
            sha256.into(),
            decompressor.into(),
        ];
        argv.extend(self.restore_argv(user, db));
        argv
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

/// What the pod can do for a transfer, from [`Engine::probe_argv`]: the dump program's major
/// version and whether the pod has `zstd`.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct PodTools {
    pub dump_major: Option<u32>,
    pub zstd: bool,
}

/// `"$1" --version` and whether `zstd` is on the pod's PATH (one `kilter-probe: zstd` line).
/// Never fails: what it cannot find it leaves out.
pub const PROBE_SCRIPT: &str = r#""$1" --version 2>/dev/null || true; if command -v zstd >/dev/null 2>&1; then echo "kilter-probe: zstd"; fi"#;

/// The probe's output, read: `pg_dump (PostgreSQL) 17.5 (Debian …)` gives 17.
pub fn parse_probe(stdout: &str) -> PodTools {
    let dump_major = stdout.lines().find(|l| !l.starts_with("kilter-probe:")).and_then(|l| {
        l.split_whitespace()
            .find(|w| w.chars().next().is_some_and(|c| c.is_ascii_digit()))
            .and_then(|w| w.split(['.', '-', ',']).next()?.parse().ok())
    });
    let zstd = stdout.lines().any(|l| l.trim_end() == "kilter-probe: zstd");
    PodTools { dump_major, zstd }
}

/// How a dump leaves the pod and is stored. Chosen by measurement (README, "Performance"): the
/// channel of `kubectl exec` is slow, so the pod compresses whenever it can do so cheaply, and
/// kilter stores exactly the bytes that arrived (checked against the pod's count and sha256).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Transfer {
    /// `pg_dump -Z zstd:1` (PostgreSQL 16+): the archive compresses itself.
    ArchiveZstd,
    /// `pg_dump -Z 1` (gzip level 1, any PostgreSQL) when the pod has no `zstd`.
    ArchiveGzip,
    /// The dump through `zstd -1` in the pod: a standard zstd frame.
    PodZstd,
    /// Uncompressed; kilter compresses on the host (zstd -1). MySQL/MariaDB pods without `zstd`.
    Raw,
}

impl Transfer {
    /// The transfer for `engine` in a pod that can do `pod`.
    pub fn choose(engine: Engine, pod: &PodTools) -> Transfer {
        match engine {
            Engine::Postgres if pod.dump_major.is_some_and(|m| m >= 16) => Transfer::ArchiveZstd,
            _ if pod.zstd => Transfer::PodZstd,
            Engine::Postgres => Transfer::ArchiveGzip,
            Engine::Mysql | Engine::Mariadb => Transfer::Raw,
        }
    }

    /// The next one to try when the pod's dump program refuses this one (a PostgreSQL 16+
    /// built without zstd says so before it writes a byte).
    pub fn fallback(self, pod: &PodTools) -> Option<Transfer> {
        match self {
            Transfer::ArchiveZstd if pod.zstd => Some(Transfer::PodZstd),
            Transfer::ArchiveZstd => Some(Transfer::ArchiveGzip),
            _ => None,
        }
    }

    /// How the file that stores it is compressed.
    pub fn stored(self) -> Compression {
        match self {
            Transfer::ArchiveZstd => Compression::PgZstd { level: 1 },
            Transfer::ArchiveGzip => Compression::PgGzip { level: 1 },
            Transfer::PodZstd | Transfer::Raw => Compression::Zstd { level: 1 },
        }
    }

    /// The compressor the pod's script runs after the dump program.
    fn pod_compressor(self) -> &'static str {
        match self {
            Transfer::PodZstd => "zstd",
            _ => "none",
        }
    }
}

/// The POSIX `sh` script around a dump in the pod: it runs the dump program (`"$@"` after the
/// compressor, `zstd` or `none`) into the compressor and then `tee`, which hands the same bytes
/// to `wc -c` and `sha256sum` through two fifos, and reports on stderr, last, `kilter-stream:
/// rc=<exit> tee=<tee's exit> bytes=<N> sha256=<hex>` (the exit is the dump's, or the
/// compressor's when the dump succeeded). kilter keeps the dump only when what it received has
/// exactly that size and sha256 (real `kubectl exec` can end a stream early and still exit 0).
/// Portable: no `pipefail` (dash and busybox have none; exit statuses go through files), only
/// coreutils/busybox programs, and a missing one is named before anything runs. The fifos live
/// in a `mktemp -d` directory that the script removes.
pub const DUMP_SCRIPT: &str = r#"c=$1; shift; [ "$c" = none ] && c=; for p in mktemp mkfifo tee wc sha256sum $c; do command -v "$p" >/dev/null 2>&1 || { echo "kilter-stream: missing $p" >&2; exit 127; }; done; d=$(mktemp -d) || exit 70; trap 'rm -rf "$d"' EXIT; mkfifo "$d/n" "$d/s" || exit 70; wc -c <"$d/n" >"$d/count" & sha256sum <"$d/s" >"$d/sum" & if [ -n "$c" ]; then { "$@"; echo "$?" >"$d/rc"; } | { "$c" -q -1 -c; echo "$?" >"$d/zrc"; } | tee "$d/n" "$d/s"; else { "$@"; echo "$?" >"$d/rc"; } | tee "$d/n" "$d/s"; fi; t=$?; wait; rc=1; read -r rc <"$d/rc"; if [ -n "$c" ] && [ "$rc" = 0 ]; then rc=1; read -r rc <"$d/zrc"; fi; n=; read -r n <"$d/count"; s=; read -r s _ <"$d/sum"; echo "kilter-stream: rc=$rc tee=$t bytes=$n sha256=$s" >&2; [ "$rc" = 0 ] || exit "$rc"; exit "$t""#;

/// The POSIX `sh` script around a restore in the pod: stdin is staged into a file in a
/// `mktemp -d` directory first (`tee` hashes it on the way; a file `tee` could not write in full
/// fails the size check), and the restore program (`"$@"` after the expected byte count, sha256
/// and decompressor, `zstd` or `none`) reads it only when its size and sha256 are exactly what
/// kilter sent; otherwise nothing touches the database (exit 65). Either way the last stderr
/// line says what arrived: `kilter-stream: received bytes=<N> sha256=<hex>`, then
/// `kilter-stream: restored` once the program exited 0 (kilter requires that line too: a
/// `kubectl exec` that exits 0 for a failed command cannot pass for a restore). The pod needs
/// room for the stream as it was sent.
pub const RESTORE_SCRIPT: &str = r#"c=$3; [ "$c" = none ] && c=; for p in mktemp tee wc sha256sum $c; do command -v "$p" >/dev/null 2>&1 || { echo "kilter-stream: missing $p" >&2; exit 127; }; done; d=$(mktemp -d) || exit 70; trap 'rm -rf "$d"' EXIT; s=$(tee "$d/in" | sha256sum) || exit 74; s=${s%% *}; n=$(wc -c <"$d/in"); n=$((n + 0)); echo "kilter-stream: received bytes=$n sha256=$s" >&2; [ "$n" = "$1" ] && [ "$s" = "$2" ] || exit 65; shift 3; if [ -n "$c" ]; then { "$c" -q -d -c "$d/in" || echo "$?" >"$d/zrc"; } | "$@"; r=$?; [ "$r" = 0 ] || exit "$r"; [ -s "$d/zrc" ] && { echo "kilter-stream: $c could not decompress the staged stream" >&2; exit 74; }; else "$@" <"$d/in" || exit "$?"; fi; echo "kilter-stream: restored" >&2"#;

/// The POSIX `sh` script around a PostgreSQL restore in the pod: the stream is restored as it
/// arrives, in ONE transaction that commits only once every byte has arrived. `tee` hands the
/// stream to `wc -c` and `sha256sum` (fifos) and to the decompressor (`zstd` or `none`, the third
/// argument), `pg_restore … -f -` (the six words after it) turns the archive into SQL, and
/// `psql -v ON_ERROR_STOP=1 …` (the rest) applies it after a `BEGIN;`. The script writes `COMMIT;`
/// only when the byte count and sha256 are exactly the expected ones (the first two arguments)
/// and pg_restore and the decompressor exited 0; otherwise psql reaches the end of its input
/// inside the transaction and PostgreSQL rolls everything back: a cut stream leaves the
/// database as it was, as with the staged restore of MySQL/MariaDB, but without waiting for the
/// whole stream first and without room for it in the pod. Reports as [`RESTORE_SCRIPT`] does.
pub const PG_RESTORE_SCRIPT: &str = r#"c=$3; [ "$c" = none ] && c=; for p in mktemp mkfifo tee wc sha256sum "$4" "${10}" $c; do command -v "$p" >/dev/null 2>&1 || { echo "kilter-stream: missing $p" >&2; exit 127; }; done; d=$(mktemp -d) || exit 70; trap 'rm -rf "$d"' EXIT; mkfifo "$d/n" "$d/s" || exit 70; n=$1; h=$2; shift 3; { echo 'BEGIN;'; wc -c <"$d/n" >"$d/count" & sha256sum <"$d/s" >"$d/sum" & if [ -n "$c" ]; then tee "$d/n" "$d/s" | { "$c" -q -d -c; echo "$?" >"$d/zrc"; } | { "$1" "$2" "$3" "$4" "$5" "$6"; echo "$?" >"$d/prc"; }; else tee "$d/n" "$d/s" | { "$1" "$2" "$3" "$4" "$5" "$6"; echo "$?" >"$d/prc"; }; fi; wait; r=; read -r r <"$d/count"; s=; read -r s _ <"$d/sum"; p=1; read -r p <"$d/prc"; z=0; if [ -n "$c" ]; then z=1; read -r z <"$d/zrc"; fi; if [ "$((r + 0))" = "$n" ] && [ "$s" = "$h" ] && [ "$p" = 0 ] && [ "$z" = 0 ]; then echo 'COMMIT;'; : >"$d/ok"; fi; } | { shift 6; "$@" >/dev/null; echo "$?" >"$d/arc"; }; a=1; read -r a <"$d/arc"; r=; read -r r <"$d/count"; s=; read -r s _ <"$d/sum"; r=$((r + 0)); if [ "$a" != 0 ] && [ ! -f "$d/ok" ] && [ "$r" != "$n" ]; then echo "kilter-stream: $7 exited $a before the end of the stream" >&2; exit "$a"; fi; echo "kilter-stream: received bytes=$r sha256=$s" >&2; [ "$r" = "$n" ] && [ "$s" = "$h" ] || exit 65; [ "$a" = 0 ] || exit "$a"; [ -f "$d/ok" ] || { p=1; read -r p <"$d/prc"; [ "$p" = 0 ] && p=74; exit "$p"; }; echo "kilter-stream: restored" >&2"#;

/// `sh -c DUMP_SCRIPT kilter-dump <compressor> <dump argv…>`.
pub fn checked_dump_argv(transfer: Transfer, dump: Vec<String>) -> Vec<String> {
    let mut argv = vec![
        "sh".to_owned(),
        "-c".to_owned(),
        DUMP_SCRIPT.to_owned(),
        "kilter-dump".to_owned(),
        transfer.pod_compressor().to_owned(),
    ];
    argv.extend(dump);
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

/// The server version a version query printed.
pub fn server_version(stdout: &str) -> String {
    stdout.trim().to_owned()
}

/// Whether a query's single value (`select 1`, the existence checks) is `1`.
pub fn answers_one(stdout: &str) -> bool {
    stdout.trim() == "1"
}

/// Whether the dump program refused the compression it was asked for (a PostgreSQL 16+ built
/// without zstd: `pg_dump: error: invalid compression specification: this build does not
/// support compression with zstd`).
pub fn refused_compression(stderr: &str) -> bool {
    stderr.contains("does not support compression")
}

/// `stderr` without the scripts' `kilter-stream:` lines (what the database program said).
pub fn program_stderr(stderr: &str) -> String {
    stderr.lines().filter(|l| !l.starts_with("kilter-stream: ")).map(|l| format!("{l}\n")).collect()
}
