//! The end-to-end journey of kilter with the sample project (fixtures/sample-project), asserting every
//! step (docs/testing.md, the e2e tier):
//!
//!   up (its services postgres and redis from kilter.yaml ready, pods Ready; with real tools both
//!   answer on their NodePorts: pg_isready/psql with `kilter env`'s DATABASE_URL, a Redis PING) →
//!   insert a row → stop (node exited, flag in kilter.yaml) → up (row still there) → db snapshot →
//!   destroy --yes (node gone, snapshot kept, ~/.kube/config byte-identical) → up (row gone) → db
//!   restore (row back, also through the NodePort) → a second project alongside → destroy both (the
//!   shared registry stays) → an app without a Tiltfile (fixtures/apps/node-plain): `up` renders its
//!   Tiltfile and Tilt runs it, it answers on `kilter env`'s APP_URL, an edit of server.js is live in
//!   <= 3 s without a rebuild (measured, in the GitHub step summary), a package.json change reinstalls
//!   and is live, `down` leaves its pod, `stop`/`up` bring it back → `kilter registry rm --volumes`.
//!   The local registry is checked after the first up: created, wired into the node, Tilt pushed the
//!   sample's docker_build image to it; the second project's pods pulled public images through the
//!   docker.io pull-through cache.
//!
//! Run: `E2E_TOOLS=fake cargo test --locked --test e2e -- --include-ignored --nocapture` (the e2e stage
//! of `cargo xtask test`), or `E2E_TOOLS=real ...` with kind, kubectl, tilt and a Docker engine (the
//! GitHub e2e job). Without E2E_TOOLS the journey reports itself skipped.
//!
//! Env: E2E_TOOLS=real|fake   real: kind, kubectl and tilt from PATH and a Docker engine. fake: the test
//!                            fakes of kind/kubectl/tilt in their real-Docker backend, i.e. the REAL
//!                            Docker engine with the offline kilter-test-node image; there the "row" is
//!                            a file inside the node container and pod checks are skipped; the
//!                            `kilter db` steps run against a throwaway PostgreSQL on this machine (the
//!                            fake kubectl's exec runs the real pg_dump/psql against it; the journey
//!                            empties its database when the cluster is destroyed, as a new cluster's
//!                            postgres pod starts empty); the registry is the offline
//!                            kilter-test-registry image under its own name prefix, and the journey
//!                            pushes an image itself in place of Tilt.
//!      KILTER_BIN            the kilter binary (default: the one cargo built for this test)
//!      E2E_NAME              project name (default e2e-<random>); the second project is <name>-b
//!      E2E_TIMEOUT           seconds to wait for pods and the web app (default 600)
//!      E2E_TPUT_MB           MB of table data for the snapshot/restore throughput step (default 32);
//!                            the figures go to the job summary ($GITHUB_STEP_SUMMARY) when it is set
//!      E2E_KEEP_ON_FAILURE=1 on failure keep the clusters and the temp dir for inspection
//!      E2E_ARTIFACTS_DIR     copy each project's commands.log, tilt.log, tilt.json and status there
//!      E2E_REGISTRY_RM=1     with real tools, also remove the shared registry at the end
//!      E2E_FAKE_DB=0         skip the `kilter db` steps with E2E_TOOLS=fake (they need PostgreSQL's
//!                            server and client programs; without them the steps are reported skipped,
//!                            and under CI=true the run fails)
//!      KILTER_PG_BINDIR      PostgreSQL's bin dir for those steps (default: the newest
//!                            /usr/lib/postgresql/*/bin, else `pg_config --bindir`, else PATH)
//!
//! Everything runs under an isolated HOME/XDG tree in a temp dir; the clusters are always deleted at
//! the end (unless E2E_KEEP_ON_FAILURE=1 and a step failed).
#![allow(clippy::unwrap_used, clippy::disallowed_methods, unreachable_pub)]

use std::ffi::{OsStr, OsString};
use std::io::Write as _;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use serde_json::Value;
use sha2::{Digest, Sha256};

// The throwaway PostgreSQL of the `it` binary's db tests, shared.
#[path = "it/support/pg_server.rs"]
mod pg_server;
use pg_server::Pg;

const ROW: &str = "kilter-e2e-row";
const TOOLS_HELP: &str =
    "E2E_TOOLS=fake|real cargo test --locked --test e2e -- --include-ignored --nocapture";

#[test]
#[ignore = "the e2e journey: E2E_TOOLS=fake|real cargo test --locked --test e2e -- --include-ignored"]
fn journey() {
    let tools = match std::env::var("E2E_TOOLS").as_deref() {
        Ok("real") => Tools::Real,
        Ok("fake") => Tools::Fake,
        Ok(other) => panic!("e2e: E2E_TOOLS must be real or fake, not '{other}'"),
        Err(_) => {
            skipped("the e2e journey", &format!("E2E_TOOLS is not set ({TOOLS_HELP})"));
            return;
        }
    };
    // SIGINT/SIGTERM (Ctrl-C, a CI timeout, the test command passing either on) is recorded instead of
    // ending the process: the command it also reached fails, the step fails, and the cleanup runs.
    let interrupted = Arc::new(AtomicBool::new(false));
    for sig in [signal_hook::consts::SIGINT, signal_hook::consts::SIGTERM] {
        signal_hook::flag::register(sig, Arc::clone(&interrupted)).unwrap();
    }
    let mut e = E2e::setup(tools, interrupted);
    e.journey();
    e.passed = true;
}

fn truthy(var: &str) -> bool {
    matches!(std::env::var(var).as_deref(), Ok("1" | "true" | "yes"))
}

/// As tests/it/support `skipped`: never a silent pass.
fn skipped(what: &str, why: &str) {
    log_skip(what, why);
    assert!(!truthy("CI"), "{what} could not run ({why}), and CI=true requires it");
    eprintln!("SKIPPED {what}: {why}");
}

fn log_skip(what: &str, why: &str) {
    if let Ok(log) = std::env::var("KILTER_TEST_SKIP_LOG")
        && let Ok(mut f) = std::fs::OpenOptions::new().create(true).append(true).open(log)
    {
        let _ = writeln!(f, "{what}: {why}");
    }
}

#[derive(Clone, Copy, PartialEq, Eq, Debug)]
enum Tools {
    Real,
    Fake,
}

fn random_hex() -> String {
    let mut b = [0u8; 3];
    let mut f = std::fs::File::open("/dev/urandom").unwrap();
    std::io::Read::read_exact(&mut f, &mut b).unwrap();
    b.iter().map(|x| format!("{x:02x}")).collect()
}

fn on_path(name: &str) -> Option<PathBuf> {
    let path = std::env::var_os("PATH")?;
    std::env::split_paths(&path).map(|d| d.join(name)).find(|p| {
        use std::os::unix::fs::PermissionsExt;
        p.metadata().is_ok_and(|m| m.is_file() && m.permissions().mode() & 0o111 != 0)
    })
}

fn sha256_of(path: &Path) -> Vec<u8> {
    Sha256::digest(std::fs::read(path).unwrap()).to_vec()
}

/// MB/s of BYTES in SECS, one decimal.
fn mb_per_s(bytes: u64, secs: f64) -> String {
    format!("{:.1}", bytes as f64 / 1_000_000.0 / if secs > 0.0 { secs } else { 0.001 })
}

/// `cp -R SRC DST`.
fn copy_tree(src: &Path, dst: &Path) {
    let st = Command::new("cp").arg("-R").arg(src).arg(dst).status().unwrap();
    assert!(st.success(), "cp -R {} {} failed", src.display(), dst.display());
}

/// sed 's/FROM/TO/' on a file: the first match on each line.
fn sed_first(path: &Path, from: &str, to: &str) {
    let text = std::fs::read_to_string(path).unwrap();
    let mut out: String =
        text.lines().map(|l| l.replacen(from, to, 1)).collect::<Vec<_>>().join("\n");
    if text.ends_with('\n') {
        out.push('\n');
    }
    std::fs::write(path, out).unwrap();
}

/// The environment of the fake kubectl's exec against the throwaway PostgreSQL (`pg_server`, the
/// db steps with E2E_TOOLS=fake; tests/fake/README.md): its programs, then the shell and coreutils
/// of kilter's stream checks in the pod. It stands in for the server in the postgres pod, whose
/// database is named after the project.
fn pg_exec_env(pg: &Pg) -> Vec<(String, OsString)> {
    let mut path = pg.bin().as_os_str().to_owned();
    path.push(":/usr/bin:/bin");
    vec![
        ("KILTER_FAKE_EXEC_PATH".into(), path),
        ("KILTER_FAKE_PG_HOST".into(), pg.socket_dir().into_os_string()),
        ("KILTER_FAKE_PG_PORT".into(), "5432".into()),
    ]
}

struct E2e {
    tools: Tools,
    root: PathBuf,
    kilter: PathBuf,
    fake: Option<PathBuf>,
    /// The environment every command gets on top of this process's (the isolated HOME, the fakes).
    env: Vec<(String, OsString)>,
    /// Variables removed from every command's environment.
    unset: Vec<&'static str>,
    work: Option<tempfile::TempDir>,
    home: PathBuf,
    cache: PathBuf,
    data: PathBuf,
    reg_prefix: String,
    node_image: String,
    registry_image: String,
    name_a: String,
    name_b: String,
    name_c: String,
    projects: Vec<PathBuf>,
    has_exec: bool,
    db: bool,
    db_skipped: String,
    destroy_args: Vec<&'static str>,
    pg: Option<Pg>,
    timeout: u64,
    t0: Instant,
    step_t0: Instant,
    current: String,
    times: Vec<String>,
    passed: bool,
    interrupted: Arc<AtomicBool>,
}

impl E2e {
    fn setup(tools: Tools, interrupted: Arc<AtomicBool>) -> Self {
        let root = PathBuf::from(env!("CARGO_MANIFEST_DIR"));
        let timeout = std::env::var("E2E_TIMEOUT").ok().and_then(|s| s.parse().ok()).unwrap_or(600);
        assert!(on_path("docker").is_some(), "e2e: FAIL in step \"setup\": docker is not on PATH");
        let work = tempfile::Builder::new().prefix("kilter-e2e.").tempdir().unwrap();
        let w = work.path().to_path_buf();
        let mut env: Vec<(String, OsString)> = Vec::new();
        let mut fake = None;
        let mut node_image = String::new();
        let mut registry_image = String::new();
        let mut reg_prefix = std::env::var("KILTER_REGISTRY_PREFIX").unwrap_or_default();
        let kilter_built = PathBuf::from(env!("CARGO_BIN_EXE_kilter"));
        let mut path = std::env::var_os("PATH").unwrap_or_default();
        if tools == Tools::Fake {
            eprintln!("e2e: building the fake tools");
            let st = Command::new(env!("CARGO"))
                .args(["build", "--locked", "--quiet", "--example", "fake-tool", "--manifest-path"])
                .arg(root.join("Cargo.toml"))
                .status()
                .unwrap();
            assert!(st.success(), "e2e: cargo build --example fake-tool failed");
            let f = kilter_built.parent().unwrap().join("examples/fake-tool");
            assert!(f.is_file(), "e2e: no fake tool at {}", f.display());
            let real_docker = match std::env::var_os("KILTER_FAKE_REAL_DOCKER") {
                Some(d) if !d.is_empty() => PathBuf::from(d),
                _ if Path::new("/usr/bin/docker").is_file() => PathBuf::from("/usr/bin/docker"),
                _ => on_path("docker").unwrap(),
            };
            let bin = w.join("bin");
            std::fs::create_dir(&bin).unwrap();
            for t in ["kind", "kubectl", "tilt"] {
                std::os::unix::fs::symlink(&f, bin.join(t)).unwrap();
            }
            std::os::unix::fs::symlink(&real_docker, bin.join("docker")).unwrap();
            let mut p = bin.into_os_string();
            p.push(":");
            p.push(&path);
            path = p;
            node_image = std::env::var("KILTER_FAKE_NODE_IMAGE")
                .or_else(|_| std::env::var("KILTER_TEST_IMAGE"))
                .unwrap_or_else(|_| "kilter-test-node:latest".into());
            // The shared registry from the offline test image, under a prefix of its own (other runs
            // and a developer's real kilter-registry are left alone); offline, the caches mirror it.
            registry_image = std::env::var("KILTER_REGISTRY_TEST_IMAGE")
                .unwrap_or_else(|_| "kilter-test-registry:latest".into());
            reg_prefix = format!("e2e{}", random_hex());
            let own = format!("http://{reg_prefix}-registry:5000");
            env.extend([
                ("KILTER_FAKE_STATE".into(), w.join("fake-state").into_os_string()),
                ("KILTER_FAKE_DOCKER".into(), "real".into()),
                ("KILTER_FAKE_REAL_DOCKER".into(), real_docker.into_os_string()),
                ("KILTER_FAKE_NODE_IMAGE".into(), node_image.clone().into()),
                ("KILTER_REGISTRY_IMAGE".into(), registry_image.clone().into()),
                ("KILTER_REGISTRY_PREFIX".into(), reg_prefix.clone().into()),
                (
                    "KILTER_CACHE_UPSTREAMS".into(),
                    format!("docker.io={own},ghcr.io={own},quay.io={own},registry.k8s.io={own}")
                        .into(),
                ),
            ]);
            fake = Some(f);
        }
        if reg_prefix.is_empty() {
            reg_prefix = "kilter".into();
        }
        let kilter = std::env::var_os("KILTER_BIN").map_or(kilter_built, PathBuf::from);
        assert!(kilter.is_file(), "e2e: no kilter binary at {}", kilter.display());

        // --- isolated environment ---
        let orig_home = std::env::var_os("HOME").unwrap_or_else(|| "/root".into());
        let home = w.join("home");
        let cache = home.join(".cache");
        let data = home.join(".local/share");
        env.extend([
            ("PATH".into(), path),
            ("HOME".into(), home.clone().into_os_string()),
            ("XDG_CACHE_HOME".into(), cache.clone().into_os_string()),
            ("XDG_DATA_HOME".into(), data.clone().into_os_string()),
            ("XDG_STATE_HOME".into(), home.join(".local/state").into_os_string()),
            ("XDG_CONFIG_HOME".into(), home.join(".config").into_os_string()),
            ("NO_COLOR".into(), "1".into()),
        ]);
        // The docker client's own config (contexts, e.g. Docker Desktop) is not what this isolates.
        let docker_config = Path::new(&orig_home).join(".docker");
        if std::env::var_os("DOCKER_CONFIG").is_none() && docker_config.is_dir() {
            env.push(("DOCKER_CONFIG".into(), docker_config.into_os_string()));
        }
        std::fs::create_dir_all(home.join(".kube")).unwrap();
        std::fs::create_dir_all(w.join("projects")).unwrap();

        let name_a = std::env::var("E2E_NAME").unwrap_or_else(|_| format!("e2e-{}", random_hex()));
        let (db, db_skipped) = match (tools, std::env::var("E2E_FAKE_DB").as_deref()) {
            (Tools::Real, _) => (true, String::new()),
            (Tools::Fake, Ok("0")) => (false, "E2E_FAKE_DB=0".to_owned()),
            // The throwaway PostgreSQL starts in `journey`.
            (Tools::Fake, _) => (true, String::new()),
        };
        let now = Instant::now();
        let mut e = Self {
            tools,
            root,
            kilter,
            fake,
            env,
            unset: vec![
                "KUBECONFIG",
                "KILTER_DOCKER",
                "KILTER_KIND",
                "KILTER_KUBECTL",
                "KILTER_TILT",
            ],
            work: Some(work),
            home,
            cache,
            data,
            reg_prefix,
            node_image,
            registry_image,
            name_b: format!("{name_a}-b"),
            name_c: format!("{name_a}-app"),
            name_a,
            projects: Vec::new(),
            has_exec: false,
            db,
            db_skipped,
            destroy_args: vec!["--yes"],
            pg: None,
            timeout,
            t0: now,
            step_t0: now,
            current: "setup".into(),
            times: Vec::new(),
            passed: false,
            interrupted,
        };
        let help = e.out(&mut e.kilter_cmd(None, &["--help"]));
        e.has_exec = help.lines().any(|l| l.starts_with("  exec "));
        e
    }

    fn work(&self) -> &Path {
        self.work.as_ref().unwrap().path()
    }

    fn dir(&self, name: &str) -> PathBuf {
        self.work().join("projects").join(name)
    }

    // --- running things ---

    #[track_caller]
    fn fail(&self, msg: impl std::fmt::Display) -> ! {
        let why =
            if self.interrupted.load(Ordering::SeqCst) { " (after SIGINT or SIGTERM)" } else { "" };
        panic!("\ne2e: FAIL in step \"{}\": {msg}{why}", self.current)
    }

    /// Fail the step once SIGINT or SIGTERM arrived (not from the cleanup: that runs after it).
    #[track_caller]
    fn check_interrupted(&self) {
        if self.interrupted.load(Ordering::SeqCst) {
            self.fail("interrupted");
        }
    }

    fn step(&mut self, what: impl Into<String>) {
        if self.current != "setup" {
            self.times.push(format!("{:5}s  {}", self.step_t0.elapsed().as_secs(), self.current));
        }
        self.current = what.into();
        self.step_t0 = Instant::now();
        eprintln!("\n==> [{:4}s] {}", self.t0.elapsed().as_secs(), self.current);
    }

    fn ok(msg: impl std::fmt::Display) {
        eprintln!("    ok: {msg}");
    }

    fn log(msg: impl std::fmt::Display) {
        eprintln!("e2e: {msg}");
    }

    /// `log` for the cleanup: a closed stderr (the test command gone after a signal) is no panic there.
    fn log_quiet(msg: impl std::fmt::Display) {
        let msg = msg.to_string();
        let (nl, msg) = match msg.strip_prefix('\n') {
            Some(rest) => ("\n", rest.to_owned()),
            None => ("", msg),
        };
        let _ = writeln!(std::io::stderr(), "{nl}e2e: {msg}");
    }

    fn cmd(&self, prog: impl AsRef<OsStr>) -> Command {
        let mut c = Command::new(prog);
        for k in &self.unset {
            c.env_remove(k);
        }
        for (k, v) in &self.env {
            c.env(k, v);
        }
        c.stdin(Stdio::null());
        c
    }

    fn kilter_cmd(&self, dir: Option<&Path>, args: &[&str]) -> Command {
        let mut c = self.cmd(&self.kilter);
        if let Some(d) = dir {
            c.arg("-C").arg(d);
        }
        c.args(args);
        c
    }

    fn shown(c: &Command) -> String {
        let mut s = c.get_program().to_string_lossy().into_owned();
        for a in c.get_args() {
            s.push(' ');
            s.push_str(&a.to_string_lossy());
        }
        s
    }

    /// Run with the output shown; a failure fails the step.
    #[track_caller]
    fn run(&self, c: &mut Command) {
        self.check_interrupted();
        let st = c.status().unwrap_or_else(|e| self.fail(format!("`{}`: {e}", Self::shown(c))));
        if !st.success() {
            self.fail(format!("`{}` exited with {st}", Self::shown(c)));
        }
    }

    /// Its stdout (trailing newlines trimmed); stderr shown; a failure fails the step.
    #[track_caller]
    fn out(&self, c: &mut Command) -> String {
        self.try_out(c).unwrap_or_else(|why| self.fail(why))
    }

    /// Its stdout (trailing newlines trimmed), stderr shown, or why not.
    fn try_out(&self, c: &mut Command) -> Result<String, String> {
        self.check_interrupted();
        self.output(c.stderr(Stdio::inherit()))
    }

    /// `try_out` with stderr discarded (`2>/dev/null`).
    fn try_quiet(&self, c: &mut Command) -> Result<String, String> {
        self.output(c.stderr(Stdio::null()))
    }

    fn output(&self, c: &mut Command) -> Result<String, String> {
        let o = c.output().map_err(|e| format!("`{}`: {e}", Self::shown(c)))?;
        if !o.status.success() {
            return Err(format!("`{}` exited with {}", Self::shown(c), o.status));
        }
        Ok(String::from_utf8_lossy(&o.stdout).trim_end_matches('\n').to_owned())
    }

    /// Whether it succeeds, all output discarded.
    fn quiet_ok(&self, c: &mut Command) -> bool {
        c.stdout(Stdio::null()).stderr(Stdio::null()).status().is_ok_and(|s| s.success())
    }

    fn kilter_in(&self, dir: &Path, args: &[&str]) {
        self.run(&mut self.kilter_cmd(Some(dir), args));
    }

    fn kilter_json(&self, dir: Option<&Path>, args: &[&str]) -> Value {
        let out = self.out(&mut self.kilter_cmd(dir, args));
        serde_json::from_str(&out).unwrap_or_else(|e| {
            self.fail(format!("kilter {}: not JSON ({e}): {out}", args.join(" ")))
        })
    }

    fn docker(&self, args: &[&str]) -> Command {
        let mut c = self.cmd("docker");
        c.args(args);
        c
    }

    fn node(name: &str) -> String {
        format!("kilter-{name}-control-plane")
    }

    fn node_status(&self, name: &str) -> String {
        self.try_quiet(&mut self.docker(&["inspect", "-f", "{{.State.Status}}", &Self::node(name)]))
            .unwrap_or_else(|_| "absent".into())
    }

    fn kubeconfig_of(&self, name: &str) -> PathBuf {
        self.cache.join("kilter").join(name).join("kubeconfig")
    }

    fn snapshots_of(&self, name: &str) -> PathBuf {
        self.data.join("kilter").join(name).join("snapshots")
    }

    /// The first database's file of snapshot SNAP, whichever way the pod sent it (`SNAP.dump`:
    /// pg_dump compressed its own archive; `SNAP.dump.zst`: zstd).
    fn snapshot_file(&self, name: &str, snap: &str) -> Option<PathBuf> {
        [format!("{snap}.dump"), format!("{snap}.dump.zst")]
            .iter()
            .map(|f| self.snapshots_of(name).join(f))
            .find(|p| p.metadata().is_ok_and(|m| m.len() > 0))
    }

    fn port_base(&self, dir: &Path) -> String {
        let st = self.kilter_json(Some(dir), &["status", "--json"]);
        match &st["ports"]["nodeport_first"] {
            Value::Null => "null".into(),
            Value::String(s) => s.clone(),
            v => v.to_string(),
        }
    }

    fn kctl(&self, name: &str, args: &[&str]) -> Command {
        let mut c = self.cmd("kubectl");
        c.arg("--kubeconfig")
            .arg(self.kubeconfig_of(name))
            .args(["--context", &format!("kind-kilter-{name}"), "-n", &format!("{name}-dev")])
            .args(args);
        c
    }

    /// Retry every 2 s until it succeeds.
    #[track_caller]
    fn until_ok(&self, secs: u64, what: &str, mut f: impl FnMut(&Self) -> bool) {
        let end = Instant::now() + Duration::from_secs(secs);
        while !f(self) {
            self.check_interrupted();
            if Instant::now() >= end {
                self.fail(format!("timed out after {secs}s waiting for {what}"));
            }
            std::thread::sleep(Duration::from_secs(2));
        }
    }

    /// psql in the postgres service (its database is named after the project).
    fn psql_cmd(&self, dir: &Path, sql: &str) -> Command {
        let db = dir.file_name().unwrap().to_string_lossy().into_owned();
        let psql = ["psql", "-U", "postgres", "-d", &db, "-v", "ON_ERROR_STOP=1", "-tAc", sql];
        if self.has_exec {
            let mut args = vec!["-q", "exec", "postgres", "--"];
            args.extend(psql);
            self.kilter_cmd(Some(dir), &args)
        } else {
            let mut args = vec!["exec", "postgres-0", "--"];
            args.extend(psql);
            self.kctl(&db, &args)
        }
    }

    #[track_caller]
    fn psql_in(&self, dir: &Path, sql: &str) -> String {
        self.out(&mut self.psql_cmd(dir, sql))
    }

    /// VAR as a shell sees it after `eval "$(kilter env)"`.
    fn with_env(&self, dir: &Path, var: &str) -> Option<String> {
        let mut c = self.cmd("bash");
        c.arg("-c")
            .arg(format!("eval \"$(\"$0\" -C \"$1\" env)\" && printf %s \"${var}\""))
            .arg(&self.kilter)
            .arg(dir);
        self.try_quiet(&mut c).ok()
    }

    /// From this machine, through the NodePort: pg_isready, then a query with DATABASE_URL.
    fn postgres_answers(&self, dir: &Path) -> bool {
        let Some(url) = self.with_env(dir, "DATABASE_URL") else { return false };
        self.quiet_ok(self.cmd("pg_isready").args(["-d", &url, "-t", "5"]))
            && self
                .try_quiet(self.cmd("psql").args([
                    &url,
                    "-v",
                    "ON_ERROR_STOP=1",
                    "-tAc",
                    "select 1",
                ]))
                .is_ok_and(|o| o.lines().any(|l| l == "1"))
    }

    /// A Redis PING to REDIS_URL's host and port.
    fn redis_answers(&self, dir: &Path) -> bool {
        let Some(url) = self.with_env(dir, "REDIS_URL") else { return false };
        let hostport = url.trim_start_matches("redis://");
        let hostport = hostport.split('/').next().unwrap_or("");
        let Some((host, port)) = hostport.rsplit_once(':') else { return false };
        let Ok(port) = port.parse::<u16>() else { return false };
        let Ok(addrs) = std::net::ToSocketAddrs::to_socket_addrs(&(host, port)) else {
            return false;
        };
        for addr in addrs {
            let Ok(mut s) = std::net::TcpStream::connect_timeout(&addr, Duration::from_secs(5))
            else {
                continue;
            };
            let _ = s.set_read_timeout(Some(Duration::from_secs(5)));
            if s.write_all(b"PING\r\n").is_err() {
                continue;
            }
            let mut reply = String::new();
            let _ = std::io::BufRead::read_line(&mut std::io::BufReader::new(s), &mut reply);
            return reply.starts_with("+PONG");
        }
        false
    }

    /// curl -fsS --max-time T URL: the body, or nothing.
    fn get(&self, url: &str, max_time: &str) -> Option<String> {
        self.try_quiet(self.cmd("curl").args(["-fsS", "--max-time", max_time, url])).ok()
    }

    fn web_answers(&self, port: &str) -> bool {
        self.get(&format!("http://127.0.0.1:{port}/"), "5")
            .is_some_and(|b| b.contains("hello from the kilter sample project"))
    }

    fn wait_ready(&self, dir: &Path) {
        let name = dir.file_name().unwrap().to_string_lossy().into_owned();
        let st = self.node_status(&name);
        if st != "running" {
            self.fail(format!("node {} is {st}, not running", Self::node(&name)));
        }
        let st = self.kilter_json(Some(dir), &["status", "--json"]);
        if st["api"] != "ok" {
            self.fail(format!(
                "kilter status: API not ok ({}: {})",
                st["api"].as_str().unwrap_or(""),
                st["api_error"].as_str().unwrap_or("")
            ));
        }
        let st = self.kilter_json(Some(dir), &["status", "--json"]);
        let ready = st["services"]
            .as_array()
            .map_or(0, |s| s.iter().filter(|s| s["ready"] == Value::Bool(true)).count());
        if ready != 2 {
            self.fail("kilter status does not show postgres and redis ready");
        }
        let env = self.kilter_json(Some(dir), &["env", "--json"]);
        let url = env["env"]["DATABASE_URL"].as_str().unwrap_or("");
        let host_url = url
            .strip_prefix("postgres://postgres:postgres@127.0.0.1:")
            .and_then(|rest| rest.split_once('/'))
            .is_some_and(|(_, db)| db == name);
        if !host_url {
            self.fail("kilter env has no host DATABASE_URL");
        }
        if self.tools == Tools::Fake {
            Self::ok(
                "node running, API ok, services postgres and redis ready (fake kubectl; nothing listens on the NodePorts here)",
            );
            return;
        }
        // kilter applied the services and waited for them before it returned.
        self.out(
            &mut self.kctl(&name, &["rollout", "status", "statefulset/postgres", "--timeout=10s"]),
        );
        self.out(
            &mut self.kctl(&name, &["rollout", "status", "statefulset/redis", "--timeout=10s"]),
        );
        self.until_ok(self.timeout, "Tilt to apply the manifests", |e| {
            e.quiet_ok(&mut e.kctl(&name, &["get", "deployment/web"]))
        });
        let t = format!("--timeout={}s", self.timeout);
        self.out(&mut self.kctl(&name, &["rollout", "status", "deployment/web", &t]));
        self.out(
            &mut self.kctl(&name, &["wait", "--for=condition=Ready", "pod", "-l", "app=web", &t]),
        );
        self.until_ok(120, "postgres to accept connections", |e| {
            e.quiet_ok(&mut e.psql_cmd(dir, "SELECT 1"))
        });
        self.until_ok(60, "postgres on its NodePort (pg_isready, psql $DATABASE_URL)", |e| {
            e.postgres_answers(dir)
        });
        self.until_ok(60, "redis on its NodePort (PING)", |e| e.redis_answers(dir));
        // Tilt had the in-cluster DATABASE_URL and passed it to the app.
        let app_url = self.out(&mut self.kctl(
            &name,
            &[
                "get",
                "deployment/web",
                "-o",
                "jsonpath={.spec.template.spec.containers[0].env[0].value}",
            ],
        ));
        let want_url = format!("postgres://postgres:postgres@postgres.{name}-dev.svc:5432/{name}");
        if app_url != want_url {
            self.fail(format!("the web app got DATABASE_URL={app_url}, expected {want_url}"));
        }
        let base = self.port_base(dir);
        self.until_ok(120, &format!("the web app on 127.0.0.1:{base}"), |e| e.web_answers(&base));
        Self::ok(format!(
            "services ready, postgres and redis answer on their NodePorts, the app got the in-cluster DATABASE_URL, web app answers on 127.0.0.1:{base}"
        ));
    }

    // --- the row that lives as long as the cluster's data ---

    fn insert_row(&self, dir: &Path) {
        if self.tools == Tools::Real || self.db {
            self.psql_in(
                dir,
                &format!(
                    "CREATE TABLE IF NOT EXISTS e2e (v text); INSERT INTO e2e VALUES ('{ROW}');"
                ),
            );
        }
        if self.tools == Tools::Fake {
            let node = Self::node(&dir.file_name().unwrap().to_string_lossy());
            self.out(&mut self.docker(&[
                "exec",
                &node,
                "sh",
                "-c",
                &format!("echo {ROW} > /var/kilter-e2e-row"),
            ]));
        }
    }

    /// "present" or "absent" (no table e2e, or no row in it) in the project's database. An error
    /// (kilter exec, kubectl, psql) fails the step: it never reads as "absent".
    fn db_row_state(&self, dir: &Path) -> &'static str {
        let name = dir.file_name().unwrap().to_string_lossy().into_owned();
        let tables =
            self.try_out(&mut self.psql_cmd(
                dir,
                "SELECT count(*) FROM pg_catalog.pg_tables WHERE tablename = 'e2e'",
            ))
            .unwrap_or_else(|_| {
                self.fail(format!("could not ask the database of {name} whether table e2e exists"))
            });
        match tables.as_str() {
            "0" => return "absent",
            "1" => {}
            _ => self.fail(format!("unexpected answer counting table e2e: '{tables}'")),
        }
        let n = self
            .try_out(
                &mut self.psql_cmd(dir, &format!("SELECT count(*) FROM e2e WHERE v = '{ROW}'")),
            )
            .unwrap_or_else(|_| self.fail("could not read table e2e"));
        let n: u64 = n
            .parse()
            .unwrap_or_else(|_| self.fail(format!("unexpected answer counting the row: '{n}'")));
        if n > 0 { "present" } else { "absent" }
    }

    /// The same for the row file in the node container (E2E_TOOLS=fake). An error of `docker exec` (no
    /// node, node not running) fails the step.
    fn node_row_state(&self, dir: &Path) -> &'static str {
        let node = Self::node(&dir.file_name().unwrap().to_string_lossy());
        let out = self
            .try_out(&mut self.docker(&[
                "exec",
                &node,
                "sh",
                "-c",
                "if [ -e /var/kilter-e2e-row ]; then cat /var/kilter-e2e-row; else echo \"<no file>\"; fi",
            ]))
            .unwrap_or_else(|_| self.fail(format!("could not read the row file in node {node}")));
        match out.as_str() {
            ROW => "present",
            "<no file>" => "absent",
            _ => self.fail(format!("unexpected content of the row file: '{out}'")),
        }
    }

    /// Assert the row's state (real: the database; fake: the node, or the database with `in_db`).
    fn expect_row(&self, dir: &Path, want: &str, what: &str, in_db: bool) {
        let got = if in_db || self.tools == Tools::Real {
            self.db_row_state(dir)
        } else {
            self.node_row_state(dir)
        };
        if got != want {
            self.fail(format!("{what}: the row is {got}, expected {want}"));
        }
    }

    fn new_project(&mut self, name: &str) -> PathBuf {
        let dir = self.dir(name);
        copy_tree(&self.root.join("fixtures/sample-project"), &dir);
        let yaml = dir.join("kilter.yaml");
        let text = std::fs::read_to_string(&yaml).unwrap();
        let text: Vec<String> = text
            .lines()
            .map(|l| if l == "name: sample" { format!("name: {name}") } else { l.to_owned() })
            .collect();
        std::fs::write(&yaml, text.join("\n") + "\n").unwrap();
        if !std::fs::read_to_string(&yaml).unwrap().lines().any(|l| l == format!("name: {name}")) {
            self.fail(format!("could not set the name in {}", yaml.display()));
        }
        if self.node_status(name) != "absent" {
            self.fail(format!("a cluster kilter-{name} already exists; pick another E2E_NAME"));
        }
        self.projects.push(dir.clone());
        dir
    }

    /// The catalog of a shared registry container (`wget` is in registry:3 and in the test image).
    fn catalog_of(&self, container: &str) -> String {
        self.try_quiet(&mut self.docker(&[
            "exec",
            container,
            "wget",
            "-qO-",
            "http://localhost:5000/v2/_catalog",
        ]))
        .unwrap_or_default()
    }

    fn catalog_has(&self, container: &str, repo: &str) -> bool {
        self.catalog_of(container).contains(&format!("\"{repo}\""))
    }

    fn published_ports(&self, name: &str) -> Vec<u32> {
        let out = self.out(&mut self.docker(&["port", &Self::node(name)]));
        let mut ports: Vec<u32> = out
            .lines()
            .filter_map(|l| l.rsplit(':').next().and_then(|p| p.trim().parse().ok()))
            .collect();
        ports.sort_unstable();
        ports
    }

    fn step_summary(text: &str) {
        if let Some(path) = std::env::var_os("GITHUB_STEP_SUMMARY").filter(|p| !p.is_empty())
            && let Ok(mut f) = std::fs::OpenOptions::new().create(true).append(true).open(path)
        {
            let _ = f.write_all(text.as_bytes());
        }
    }

    fn app_pod(&self) -> String {
        self.try_out(&mut self.kctl(
            &self.name_c,
            &[
                "get",
                "pods",
                "-l",
                "app.kubernetes.io/name=app",
                "-o",
                "jsonpath={.items[0].metadata.name}",
            ],
        ))
        .unwrap_or_default()
    }

    fn tiltfile_of(&self, name: &str) -> String {
        let path = self.cache.join("kilter").join(name).join("tilt.json");
        let text = std::fs::read_to_string(&path).unwrap_or_default();
        serde_json::from_str::<Value>(&text)
            .ok()
            .and_then(|v| v["tiltfile"].as_str().map(str::to_owned))
            .unwrap_or_else(|| {
                self.fail(format!("Tilt does not run the rendered Tiltfile: {text}"))
            })
    }

    fn kube_sha(&self) -> Vec<u8> {
        sha256_of(&self.home.join(".kube/config"))
    }

    // --- the journey ---

    fn journey(&mut self) {
        let (a, b, c) = (self.name_a.clone(), self.name_b.clone(), self.name_c.clone());
        let version = self.out(&mut self.kilter_cmd(None, &["--version"]));
        Self::log(format!(
            "E2E_TOOLS={}, kilter {version}, projects {a} and {b}, work dir {}",
            if self.tools == Tools::Real { "real" } else { "fake" },
            self.work().display()
        ));
        if self.tools == Tools::Real {
            for tool in ["kind", "kubectl", "tilt", "curl", "pg_isready", "psql"] {
                if on_path(tool).is_none() {
                    self.fail(format!("{tool} is not on PATH"));
                }
            }
            let kind = self.out(self.cmd("kind").arg("version"));
            let kubectl = self.out(self.cmd("kubectl").args(["version", "--client", "-o", "json"]));
            let kubectl: Value = serde_json::from_str(&kubectl).unwrap_or_default();
            let tilt = self.out(self.cmd("tilt").arg("version"));
            Self::log(format!(
                "{kind}; kubectl {}; tilt {tilt}",
                kubectl["clientVersion"]["gitVersion"].as_str().unwrap_or("?")
            ));
        } else {
            if !self.quiet_ok(&mut self.docker(&["image", "inspect", &self.node_image])) {
                self.run(&mut self.cmd(self.root.join("scripts/build-test-image.sh")));
            }
            if !self.quiet_ok(&mut self.docker(&["image", "inspect", &self.registry_image])) {
                self.run(&mut self.cmd(self.root.join("scripts/build-registry-image.sh")));
            }
            Self::log(format!(
                "fake kind/kubectl/tilt, real docker, node image {}",
                self.node_image
            ));
        }
        if !self.quiet_ok(&mut self.docker(&["info"])) {
            self.fail("no Docker daemon answers");
        }
        if self.tools == Tools::Fake && self.db {
            match Pg::start() {
                Ok(pg) => {
                    // A new cluster's postgres pod starts with an empty database: so does this.
                    pg.recreate_db(&a);
                    pg.recreate_db(&b);
                    Self::log(format!(
                        "db steps: throwaway PostgreSQL {} at {}",
                        pg.version(),
                        pg.socket_dir().display()
                    ));
                    self.env.extend(pg_exec_env(&pg));
                    self.pg = Some(pg);
                }
                Err(why) => {
                    self.db = false;
                    self.db_skipped = format!("no usable PostgreSQL: {why}");
                    if truthy("CI") {
                        self.fail(format!(
                            "the db steps need PostgreSQL under CI=true: {}",
                            self.db_skipped
                        ));
                    }
                }
            }
        }
        // Without the db steps, destroy skips its automatic pre-destroy snapshot too.
        if !self.db {
            self.destroy_args.push("--no-snapshot");
            eprintln!("e2e: SKIPPED the db snapshot/restore steps: {}", self.db_skipped);
            // Counted in the test command's summary, like a test's `skipped`.
            log_skip("e2e db snapshot/restore steps", &self.db_skipped);
        }

        std::fs::write(
            self.home.join(".kube/config"),
            "dummy kubeconfig: kilter must never touch this file\n",
        )
        .unwrap();
        let kube_sha = self.kube_sha();
        let dir_a = self.new_project(&a);
        let destroy: Vec<&str> = [&["destroy"][..], &self.destroy_args].concat();

        self.step(format!("up ({a}) and pods Ready"));
        self.kilter_in(&dir_a, &["up", "--timeout", "300s"]);
        self.wait_ready(&dir_a);

        self.step("local registry: created, wired into the node, serving pushes");
        let st = self.kilter_json(Some(&dir_a), &["status", "--json"]);
        let reg_port = st["registry"]["host"]
            .as_str()
            .unwrap_or("")
            .trim_start_matches("localhost:")
            .to_owned();
        if reg_port.is_empty() {
            self.fail("kilter status shows no local registry");
        }
        let registry = format!("{}-registry", self.reg_prefix);
        if self.out(&mut self.docker(&["inspect", "-f", "{{.State.Status}}", &registry]))
            != "running"
        {
            self.fail(format!("{registry} is not running"));
        }
        let hosts = self.out(&mut self.docker(&[
            "exec",
            &Self::node(&a),
            "cat",
            &format!("/etc/containerd/certs.d/localhost:{reg_port}/hosts.toml"),
        ]));
        if !hosts.contains(&format!("http://{registry}:5000")) {
            self.fail(format!("the node has no hosts.toml for localhost:{reg_port}"));
        }
        if self.tools == Tools::Real {
            // The sample's Tiltfile builds kilter-sample-web with docker_build: Tilt pushes it here.
            self.until_ok(
                self.timeout,
                "Tilt to push kilter-sample-web to the local registry",
                |e| e.catalog_has(&registry, "kilter-sample-web"),
            );
            Self::ok(format!(
                "Tilt pushed kilter-sample-web to localhost:{reg_port} (the registry's catalog lists it)"
            ));
        } else {
            let probe = format!("127.0.0.1:{reg_port}/kilter-e2e-probe:1");
            self.out(&mut self.docker(&["tag", &self.node_image, &probe]));
            self.out(&mut self.docker(&["push", &probe]));
            self.out(&mut self.docker(&["rmi", &probe]));
            if !self.catalog_has(&registry, "kilter-e2e-probe") {
                self.fail("the pushed image is not in the catalog");
            }
            Self::ok(format!(
                "docker push to 127.0.0.1:{reg_port} landed in the registry (fake Tilt pushes nothing)"
            ));
        }

        self.step("insert a row");
        self.insert_row(&dir_a);
        self.expect_row(&dir_a, "present", "right after inserting it", false);
        if self.tools == Tools::Fake && self.db {
            self.expect_row(&dir_a, "present", "in the database", true);
        }
        Self::ok("row inserted");

        self.step("stop: node exited, flag in kilter.yaml");
        let before_stop = std::fs::read(dir_a.join("kilter.yaml")).unwrap();
        self.kilter_in(&dir_a, &["stop"]);
        let st = self.node_status(&a);
        if st != "exited" {
            self.fail(format!("node is {st} after stop, expected exited"));
        }
        if !std::fs::read_to_string(dir_a.join("kilter.yaml"))
            .unwrap()
            .lines()
            .any(|l| l.starts_with("  stopped: true"))
        {
            self.fail("kilter.yaml has no cluster.stopped flag");
        }
        let st = self.kilter_json(Some(&dir_a), &["status", "--json"]);
        if st["node"] != "stopped" || st["flag_stopped"] != Value::Bool(true) {
            self.fail("kilter status does not report stopped + flag");
        }
        Self::ok("node exited, cluster.stopped: true written");

        self.step("up again: the row is still there");
        let id_before = self.out(&mut self.docker(&["inspect", "-f", "{{.Id}}", &Self::node(&a)]));
        self.kilter_in(&dir_a, &["up", "--timeout", "300s"]);
        if self.out(&mut self.docker(&["inspect", "-f", "{{.Id}}", &Self::node(&a)])) != id_before {
            self.fail("the node was recreated, not resumed");
        }
        let after = std::fs::read(dir_a.join("kilter.yaml")).unwrap();
        if after != before_stop {
            self.fail(format!(
                "kilter.yaml is not byte-identical to what it was before stop:\n--- before\n{}\n--- after\n{}",
                String::from_utf8_lossy(&before_stop),
                String::from_utf8_lossy(&after)
            ));
        }
        self.wait_ready(&dir_a);
        self.expect_row(&dir_a, "present", "after stop/up", false);
        Self::ok("same node resumed, kilter.yaml byte-identical to before stop, row kept");

        if self.db {
            self.step("db snapshot");
            self.kilter_in(&dir_a, &["db", "snapshot", "e2e"]);
            let Some(f) = self.snapshot_file(&a, "e2e") else {
                self.fail(format!(
                    "no snapshot file e2e.dump or e2e.dump.zst in {}",
                    self.snapshots_of(&a).display()
                ))
            };
            Self::ok(format!(
                "snapshot e2e written ({})",
                f.file_name().unwrap().to_string_lossy()
            ));
        }

        self.step("destroy --yes: node gone, snapshots kept, ~/.kube/config untouched");
        self.kilter_in(&dir_a, &destroy);
        if self.node_status(&a) != "absent" {
            self.fail("the node still exists after destroy");
        }
        let label = format!("label=io.x-k8s.kind.cluster=kilter-{a}");
        if !self.out(&mut self.docker(&["ps", "-aq", "--filter", &label])).is_empty() {
            self.fail("containers of the cluster remain");
        }
        if self.db && self.snapshot_file(&a, "e2e").is_none() {
            self.fail("destroy removed the snapshot");
        }
        if self.kube_sha() != kube_sha {
            self.fail(format!("{} changed", self.home.join(".kube/config").display()));
        }
        if let Some(pg) = &self.pg {
            pg.recreate_db(&a);
        }
        Self::ok(format!(
            "node gone{}, ~/.kube/config byte-identical",
            if self.db { ", snapshot kept" } else { "" }
        ));

        self.step("up after destroy: the row is gone");
        self.kilter_in(&dir_a, &["up", "--timeout", "300s"]);
        self.wait_ready(&dir_a);
        self.expect_row(&dir_a, "absent", "after destroy and up", false);
        if self.tools == Tools::Fake && self.db {
            self.expect_row(&dir_a, "absent", "in the fresh database", true);
        }
        Self::ok("fresh cluster, no row");

        if self.db {
            self.db_restore_and_throughput(&dir_a);
        }

        self.step(format!("a second project alongside ({b})"));
        let dir_b = self.new_project(&b);
        self.kilter_in(&dir_b, &["up", "--timeout", "300s"]);
        self.wait_ready(&dir_b);
        if self.node_status(&a) != "running" {
            self.fail(format!("{a} is not running any more"));
        }
        let ports_a = self.published_ports(&a);
        let ports_b = self.published_ports(&b);
        // Each node publishes its project's 20 NodePorts (from `kilter status`), and nothing is shared.
        for (name, published, dir) in [(&a, &ports_a, &dir_a), (&b, &ports_b, &dir_b)] {
            if published.is_empty() {
                self.fail(format!("docker port shows no published ports for {}", Self::node(name)));
            }
            let base = self.port_base(dir);
            let Ok(base) = base.parse::<u32>() else {
                self.fail(format!("kilter status shows no NodePort base for {name}: '{base}'"))
            };
            for p in base..base + 20 {
                if !published.contains(&p) {
                    self.fail(format!(
                        "{} does not publish NodePort {p}: {published:?}",
                        Self::node(name)
                    ));
                }
            }
        }
        if ports_a.iter().any(|p| ports_b.contains(p)) {
            self.fail("the two projects publish the same host ports");
        }
        let ls = self.kilter_json(None, &["ls", "--json"]);
        for name in [&a, &b] {
            let state = ls["projects"]
                .as_array()
                .and_then(|ps| ps.iter().find(|p| p["project"] == name.as_str()))
                .map(|p| p["state"].clone());
            if state != Some(Value::from("running")) {
                self.fail(format!("kilter ls does not show {name} running"));
            }
        }
        if self.tools == Tools::Real {
            if !self.web_answers(&self.port_base(&dir_a)) {
                self.fail(format!("{a}'s web app stopped answering"));
            }
            if !self.web_answers(&self.port_base(&dir_b)) {
                self.fail(format!("{b}'s web app does not answer"));
            }
        }
        Self::ok(format!(
            "both running, disjoint published ports ({} + {}), kilter ls shows both",
            ports_a.len(),
            ports_b.len()
        ));
        if self.tools == Tools::Real {
            // postgres:15 comes from docker.io: the nodes pulled it through the shared cache.
            let cache = format!("{}-cache-docker.io", self.reg_prefix);
            if !self.catalog_has(&cache, "library/postgres") {
                self.fail(format!(
                    "the docker.io cache does not list library/postgres: {}",
                    self.catalog_of(&cache)
                ));
            }
            Self::ok(format!(
                "the pods pulled postgres through {cache} (its catalog lists library/postgres)"
            ));
        }

        self.step("destroy both");
        self.kilter_in(&dir_a, &destroy);
        self.kilter_in(&dir_b, &destroy);
        for name in [&a, &b] {
            if self.node_status(name) != "absent" {
                self.fail(format!("kilter-{name} still exists"));
            }
        }
        if self.kube_sha() != kube_sha {
            self.fail(format!("{} changed", self.home.join(".kube/config").display()));
        }
        Self::ok("no cluster left, ~/.kube/config byte-identical");

        self.app_without_tiltfile(&c, &destroy);

        self.step("the shared registry outlives the projects; registry rm --volumes removes it");
        if self.out(&mut self.docker(&["inspect", "-f", "{{.State.Status}}", &registry]))
            != "running"
        {
            self.fail("destroy touched the shared registry");
        }
        let work = self.work().to_path_buf();
        self.kilter_in(&work, &["registry", "rm", "--yes", "--volumes"]);
        let filter = format!("name=^{}-", self.reg_prefix);
        if !self.out(&mut self.docker(&["ps", "-aq", "--filter", &filter])).is_empty() {
            self.fail("shared containers remain after registry rm");
        }
        Self::ok("registry and caches removed with their volumes");

        self.step("done");
        eprintln!("\nstep times:\n{}", self.times.join("\n"));
    }

    fn db_restore_and_throughput(&mut self, dir_a: &Path) {
        let a = self.name_a.clone();
        self.step("db restore: the row is back");
        self.kilter_in(dir_a, &["db", "restore", "e2e"]);
        self.expect_row(dir_a, "present", "after db restore", true);
        if self.tools == Tools::Real {
            let url = self.with_env(dir_a, "DATABASE_URL").unwrap_or_default();
            let row = self
                .try_out(self.cmd("psql").args([&url, "-tAc", "select v from e2e"]))
                .unwrap_or_default();
            if row != ROW {
                self.fail(format!(
                    "the restored row does not come back through the NodePort: '{row}'"
                ));
            }
        }
        Self::ok("row restored from snapshot e2e (and read back through DATABASE_URL)");

        // The real channel's throughput (README "Performance" models it with the fake kubectl's
        // exec_mbps): a database of known size, snapshotted and restored through `kubectl exec`.
        let mb: u64 = std::env::var("E2E_TPUT_MB").ok().and_then(|s| s.parse().ok()).unwrap_or(32);
        self.step(format!("throughput of a snapshot and a restore ({mb} MB of table data)"));
        self.psql_in(
            dir_a,
            &format!(
                "CREATE TABLE tput AS SELECT g AS id, repeat(md5(g::text || random()::text), 31) AS v FROM generate_series(1, {mb} * 1000) g"
            ),
        );
        let db_bytes = self.psql_in(dir_a, "SELECT pg_database_size(current_database())");
        let db_bytes: u64 = db_bytes
            .parse()
            .unwrap_or_else(|_| self.fail(format!("pg_database_size: '{db_bytes}'")));
        let t0 = Instant::now();
        self.kilter_in(dir_a, &["-q", "db", "snapshot", "tput"]);
        let snap_s = t0.elapsed().as_secs_f64();
        let Some(file) = self.snapshot_file(&a, "tput") else {
            self.fail("no snapshot file tput.dump or tput.dump.zst")
        };
        let file_bytes = file.metadata().unwrap().len();
        self.psql_in(dir_a, "DELETE FROM tput WHERE id > 10");
        let t0 = Instant::now();
        self.kilter_in(dir_a, &["-q", "db", "restore", "tput"]);
        let rest_s = t0.elapsed().as_secs_f64();
        if self.psql_in(dir_a, "SELECT count(*) FROM tput") != (mb * 1000).to_string() {
            self.fail("the restore did not bring tput's rows back");
        }
        self.psql_in(dir_a, "DROP TABLE tput");
        self.kilter_in(dir_a, &["-q", "db", "rm", "tput"]);
        let summary = format!(
            "snapshot of a {db_bytes}-byte database in {snap_s:.2} s ({} MB/s of database, file {} {file_bytes} bytes); restore in {rest_s:.2} s ({} MB/s) [E2E_TOOLS={}]",
            mb_per_s(db_bytes, snap_s),
            file.file_name().unwrap().to_string_lossy(),
            mb_per_s(db_bytes, rest_s),
            if self.tools == Tools::Real { "real" } else { "fake" },
        );
        Self::step_summary(&format!("### kilter db snapshot/restore throughput\n\n{summary}\n"));
        Self::ok(summary);
    }

    fn app_without_tiltfile(&mut self, c: &str, destroy: &[&str]) {
        self.step(format!(
            "an app without a Tiltfile ({c}): kilter renders its Tiltfile and Tilt runs it"
        ));
        // fixtures/apps/node-plain: package.json (a `dev` script, no dependencies) and server.js, no
        // Tiltfile. kilter detects it, renders a Dockerfile, the Deployment + NodePort Service and a
        // Tiltfile into the cache, and runs Tilt on that.
        let dir_c = self.dir(c);
        copy_tree(&self.root.join("fixtures/apps/node-plain"), &dir_c);
        std::fs::write(dir_c.join("kilter.yaml"), format!("name: {c}\n")).unwrap();
        if self.node_status(c) != "absent" {
            self.fail(format!("a cluster kilter-{c} already exists; pick another E2E_NAME"));
        }
        self.projects.push(dir_c.clone());
        self.kilter_in(&dir_c, &["up", "--timeout", "300s"]);
        let render_dir = self.cache.join("kilter").join(c).join("render");
        for f in ["Tiltfile", "Dockerfile", "app.yaml"] {
            if !render_dir.join(f).is_file() {
                self.fail(format!("kilter up rendered no {f} into {}", render_dir.display()));
            }
        }
        let rendered = render_dir.join("Tiltfile").to_string_lossy().into_owned();
        if self.tiltfile_of(c) != rendered {
            self.fail("Tilt does not run the rendered Tiltfile");
        }
        let st = self.kilter_json(Some(&dir_c), &["status", "--json"]);
        if st["tilt"]["tiltfile_source"] != "rendered" {
            self.fail("kilter status does not say the rendered Tiltfile runs");
        }
        let env = self.kilter_json(Some(&dir_c), &["env", "--json"]);
        let app_url = env["env"]["APP_URL"].as_str().unwrap_or("null").to_owned();
        if app_url != format!("http://127.0.0.1:{}", self.port_base(&dir_c)) {
            self.fail(format!("kilter env prints APP_URL={app_url}, not the block's first port"));
        }
        let app_says = |e: &Self, text: &str| {
            e.get(&format!("{app_url}/"), "2").is_some_and(|b| b.contains(text))
        };
        // Poll every 0.1 s (until_ok's 2 s would blur the measurement).
        let until_live = |e: &Self, secs: u64, text: &str| {
            let end = Instant::now() + Duration::from_secs(secs);
            while !app_says(e, text) {
                e.check_interrupted();
                if Instant::now() >= end {
                    e.fail(format!(
                        "timed out after {secs} s waiting for {app_url} to say '{text}'"
                    ));
                }
                std::thread::sleep(Duration::from_millis(100));
            }
        };
        let tilt_log = self.cache.join("kilter").join(c).join("tilt.log");
        let installs = || {
            std::fs::read_to_string(&tilt_log)
                .unwrap_or_default()
                .lines()
                .filter(|l| l.contains("npm install"))
                .count()
        };
        if self.tools == Tools::Fake {
            Self::ok(format!(
                "rendered, Tilt runs {rendered}, APP_URL={app_url} (fake tilt builds nothing: no HTTP checks)"
            ));
        } else {
            self.until_ok(self.timeout, &format!("the app on {app_url}"), |e| {
                app_says(e, "hello from kilter (v1.0.0)")
            });
            Self::ok(format!("the app answers on {app_url}"));

            self.step("an edit of server.js is live without a rebuild");
            let pod = self.app_pod();
            let t0 = Instant::now();
            sed_first(&dir_c.join("server.js"), "hello from kilter", "hello again from kilter");
            until_live(self, 60, "hello again from kilter (v1.0.0)");
            let live_ms = t0.elapsed().as_millis();
            let now_pod = self.app_pod();
            if now_pod != pod {
                self.fail(format!(
                    "the edit replaced the pod ({pod} → {now_pod}): that was a rebuild, not a live update"
                ));
            }
            Self::ok(format!("live in {live_ms} ms, same pod {pod} (sync + restart, no rebuild)"));
            Self::step_summary(&format!(
                "### kilter: live update of a Node app without a Tiltfile\n\n| change | live after |\n|---|---|\n| `server.js` edited | {live_ms} ms |\n"
            ));
            if live_ms > 3000 {
                self.fail(format!("the edit took {live_ms} ms to be live (more than 3 s)"));
            }

            self.step("a change of package.json reinstalls and is live");
            // The image's own `RUN npm install` is in tilt.log already: count the installs from here on.
            let before = installs();
            let t0 = Instant::now();
            sed_first(
                &dir_c.join("package.json"),
                "\"version\": \"1.0.0\"",
                "\"version\": \"1.0.1\"",
            );
            until_live(self, 120, "hello again from kilter (v1.0.1)");
            let pkg_ms = t0.elapsed().as_millis();
            if installs() <= before {
                self.fail("tilt.log shows no npm install after the package.json change");
            }
            if self.app_pod() != pod {
                self.fail(
                    "the package.json change replaced the pod: a rebuild, not the install step",
                );
            }
            Self::ok(format!("reinstalled and live in {pkg_ms} ms"));
            Self::step_summary(&format!(
                "| `package.json` changed (npm install, restart) | {pkg_ms} ms |\n\n"
            ));
        }

        self.step("down stops the app's Tilt and leaves its pod; stop and up bring it back");
        self.kilter_in(&dir_c, &["down"]);
        if self.cache.join("kilter").join(c).join("tilt.json").exists() {
            self.fail("kilter down left tilt.json");
        }
        if self.node_status(c) != "running" {
            self.fail("kilter down stopped the cluster");
        }
        if self.tools == Tools::Real {
            if self.app_pod().is_empty() {
                self.fail("kilter down removed the app's pod");
            }
            if !app_says(self, "hello again from kilter") {
                self.fail("the app stopped answering after kilter down");
            }
        }
        self.kilter_in(&dir_c, &["stop"]);
        let st = self.node_status(c);
        if st != "exited" {
            self.fail(format!("kilter stop left the node {st}"));
        }
        self.kilter_in(&dir_c, &["up", "--timeout", "300s"]);
        if self.tiltfile_of(c) != rendered {
            self.fail("Tilt does not run the rendered Tiltfile after up");
        }
        if self.tools == Tools::Real {
            self.until_ok(self.timeout, &format!("the app on {app_url} after stop and up"), |e| {
                app_says(e, "hello again from kilter (v1.0.1)")
            });
        }
        self.kilter_in(&dir_c, destroy);
        if self.node_status(c) != "absent" {
            self.fail(format!("kilter-{c} still exists"));
        }
        Self::ok("down kept the pod, stop/up brought the app back, destroyed");
    }

    // --- cleanup ---

    fn collect_artifacts(&self) {
        let Some(out) = std::env::var_os("E2E_ARTIFACTS_DIR").filter(|d| !d.is_empty()) else {
            return;
        };
        let out = PathBuf::from(out);
        let _ = std::fs::create_dir_all(&out);
        for name in [&self.name_a, &self.name_b, &self.name_c] {
            let dir = self.cache.join("kilter").join(name);
            if !dir.is_dir() {
                continue;
            }
            let _ = std::fs::create_dir_all(out.join(name));
            for f in ["commands.log", "tilt.log", "tilt.json", "kind-config.yaml"] {
                if dir.join(f).is_file() {
                    let _ = std::fs::copy(dir.join(f), out.join(name).join(f));
                }
            }
        }
        for dir in &self.projects {
            let name = dir.file_name().unwrap();
            let _ = std::fs::create_dir_all(out.join(name));
            let status = self.kilter_cmd(Some(dir), &["status"]).output();
            if let Ok(o) = status {
                let mut text = o.stdout;
                text.extend(o.stderr);
                let _ = std::fs::write(out.join(name).join("status.txt"), text);
            }
        }
        if let Ok(o) =
            self.docker(&["ps", "-a", "--filter", "label=io.x-k8s.kind.cluster"]).output()
        {
            let mut text = o.stdout;
            text.extend(o.stderr);
            let _ = std::fs::write(out.join("docker-ps.txt"), text);
        }
        Self::log_quiet(format!("artifacts copied to {}", out.display()));
    }

    fn remove_cluster(&self, name: &str) {
        if self.tools == Tools::Real {
            let _ = self.quiet_ok(self.cmd("kind").args([
                "delete",
                "cluster",
                "--name",
                &format!("kilter-{name}"),
            ]));
        } else {
            let label = format!("label=io.x-k8s.kind.cluster=kilter-{name}");
            let ids = self
                .try_quiet(&mut self.docker(&["ps", "-aq", "--filter", &label]))
                .unwrap_or_default();
            let ids: Vec<&str> = ids.split_whitespace().collect();
            if !ids.is_empty() {
                let mut args = vec!["rm", "-f", "-v"];
                args.extend(ids);
                let _ = self.quiet_ok(&mut self.docker(&args));
            }
        }
    }
}

impl Drop for E2e {
    fn drop(&mut self) {
        let ok = self.passed;
        let secs = self.t0.elapsed().as_secs();
        let tools = if self.tools == Tools::Real { "real" } else { "fake" };
        self.collect_artifacts();
        if !ok && truthy("E2E_KEEP_ON_FAILURE") {
            let work = self.work.take().map(tempfile::TempDir::keep);
            if let Some(pg) = self.pg.as_mut() {
                // The throwaway PostgreSQL is kept running too, with its directory.
                let _ = pg.keep();
            }
            Self::log_quiet(format!(
                "FAILED; E2E_KEEP_ON_FAILURE=1: keeping clusters kilter-{} / kilter-{} and {}",
                self.name_a,
                self.name_b,
                work.map(|w| w.display().to_string()).unwrap_or_default()
            ));
            Self::log_quiet(format!(
                "clean up later with: kind delete cluster --name kilter-{} (or docker rm -f the node)",
                self.name_a
            ));
            return;
        }
        for dir in &self.projects {
            let _ = self.quiet_ok(
                &mut self.kilter_cmd(Some(dir), &["-q", "destroy", "--yes", "--no-snapshot"]),
            );
        }
        for name in [&self.name_a, &self.name_b, &self.name_c] {
            self.remove_cluster(name);
        }
        if self.tools == Tools::Fake
            || std::env::var_os("E2E_REGISTRY_RM").is_some_and(|v| !v.is_empty())
        {
            let work = self.work().to_path_buf();
            let _ = self.quiet_ok(
                &mut self.kilter_cmd(Some(&work), &["-q", "registry", "rm", "--yes", "--volumes"]),
            );
        }
        if let Some(fake) = &self.fake
            && let Ok(pids) = self.try_quiet(self.cmd(fake).args(["ctl", "tilt-pids"]))
        {
            for pid in pids.split_whitespace() {
                let _ = self.quiet_ok(self.cmd("kill").args(["-KILL", pid]));
            }
        }
        if let Some(pg) = self.pg.as_mut() {
            pg.stop();
        }
        self.work = None;
        if ok {
            Self::log_quiet(format!("\nPASSED (E2E_TOOLS={tools}) in {secs} s"));
        } else {
            Self::log_quiet(format!("\nFAILED (E2E_TOOLS={tools}) after {secs} s"));
        }
    }
}
