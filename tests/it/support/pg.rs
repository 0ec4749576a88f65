//! The throwaway PostgreSQL server ([`super::pg_server`]) in the `kilter db` tests' harness:
//! skipping when it cannot start, and wiring it into an [`Env`].
//!
//! The fake kubectl's `exec` runs the real client programs (pg_dump, pg_restore, psql) from the
//! server's bin dir against it ([`Pg::wire`]), so snapshot data really flows through kilter.
//!
//! - Missing PostgreSQL: [`Pg::start_or_skip`] reports the test as skipped through
//!   [`super::skipped`] (which fails it under `CI=true`); `KILTER_REQUIRE_PG=1` also fails it.
#![allow(dead_code, unreachable_pub)]

use super::Env;
pub use super::pg_server::Pg;

fn required() -> bool {
    super::truthy("KILTER_REQUIRE_PG")
}

impl Pg {
    /// Start a server. When that fails the test is reported as skipped ([`super::skipped`]:
    /// a failure under `CI=true`) and `None` returned; under `KILTER_REQUIRE_PG=1` it panics.
    pub fn start_or_skip(test: &str) -> Option<Pg> {
        match Pg::start() {
            Ok(pg) => Some(pg),
            Err(e) if required() => {
                panic!("{test}: PostgreSQL is required here (KILTER_REQUIRE_PG=1): {e}")
            }
            Err(e) => {
                // The test's own name (libtest names the thread after it), else the caller's.
                let what = std::thread::current().name().unwrap_or(test).to_owned();
                super::skipped(&what, &format!("PostgreSQL is not usable here: {e}"));
                None
            }
        }
    }

    /// Point the fake kubectl's `exec` at this server: programs from its bin dir, `PGHOST` =
    /// the socket dir, `PGPORT` = 5432.
    pub fn wire(&self, env: &Env) {
        self.wire_to(env, &super::pod_tools());
    }

    /// [`Pg::wire`] for a pod without `zstd`, as the official postgres images are.
    pub fn wire_without_zstd(&self, env: &Env) {
        self.wire_to(env, &super::pod_tools_without_zstd());
    }

    fn wire_to(&self, env: &Env, tools: &std::path::Path) {
        // The bin dir first, then the shell and coreutils kilter's stream checks run.
        let path = format!("{}:{}", self.bin().display(), tools.display());
        env.set_knob("exec_path", &path);
        env.set_knob("pg_host", &self.socket_dir().to_string_lossy());
        env.set_knob("pg_port", "5432");
    }

    /// The project's `postgres` StatefulSet (image postgres:15) in namespace `ns`, served by this
    /// server ([`Pg::wire`]), with its database `db` created.
    pub fn serve_postgres_workload(&self, env: &Env, ns: &str, db: &str) {
        env.ctl(&["workload", ns, "postgres", "--kind", "statefulset", "--image", "postgres:15"]);
        self.wire(env);
        self.create_db(db);
    }
}
