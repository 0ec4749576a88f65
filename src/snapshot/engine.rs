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
