//! `cargo xtask test`: the test command (README "Development"). From anywhere in the repository:
//! `cargo xtask test` (or `scripts/test.sh`, which execs it).
//!
//! Stages, in order (`STAGES`): fmt, clippy, lint, build, test, real-tools, real-tilt, docker, image,
//! registry-image, router-image, real-docker, real-docker-client2, real-kind, e2e. Every stage runs even
//! if an earlier, independent one failed; the stages that need a build, a daemon or the real tools are
//! skipped when those failed. The exit code is 1 if any stage failed (130/143 on SIGINT/SIGTERM).
//!
//! Skipped tests: a test that cannot run here says so through the harness (tests/it/support/mod.rs
//! `skipped`), which appends "what: why" to `$KILTER_TEST_SKIP_LOG` (a temp file this task exports to
//! every stage). The closing summary counts and lists them, with the real-tool tiers whose stage did not
//! run. Under CI=true a skip fails the test itself and, should any line reach the log, the run.
//!
//! What stays bash is the glue the stages call: scripts/lint.sh, scripts/dockerd.sh,
//! scripts/unpack-real-tools.sh and scripts/build-*.sh.

use std::collections::BTreeSet;
use std::ffi::OsString;
use std::fmt::Write as _;
use std::io::{BufRead, BufReader, Write};
use std::os::unix::process::{CommandExt, ExitStatusExt};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitCode, ExitStatus, Stdio};
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::mpsc;
use std::time::{Duration, Instant};

/// Every stage, in the order they run.
pub(crate) const STAGES: &[(&str, &str)] = &[
    ("fmt", "cargo fmt --all -- --check"),
    ("clippy", "cargo clippy --workspace --all-targets --locked -- -D warnings (kilter and xtask)"),
    ("lint", "scripts/lint.sh (shellcheck, actionlint)"),
    ("build", "cargo build --workspace --all-targets --locked (also the fake tools example)"),
    (
        "test",
        "cargo test --workspace --all-targets --locked --no-fail-fast (unit + fake-tool integration \
         tests; the real-tool tiers are #[ignore]d here and run in their own stages)",
    ),
    (
        "real-tools",
        "scripts/unpack-real-tools.sh: the real Tilt and kind into target/real-tools/ (missing is a \
         failure under CI=true, a skip otherwise)",
    ),
    (
        "real-tilt",
        "cargo test --test it real_tilt -- --include-ignored: the real Tilt, fake docker/kind/kubectl",
    ),
    (
        "docker",
        "a Docker daemon for the real-Docker tiers; with CI=true or KILTER_REAL_DOCKER=1 one is started \
         when none answers (scripts/dockerd.sh start), and failing to get one is a failure",
    ),
    (
        "image",
        "scripts/build-test-image.sh (kilter-test-node:latest, offline, reused when unchanged)",
    ),
    ("registry-image", "scripts/build-registry-image.sh (kilter-test-registry:latest)"),
    ("router-image", "scripts/build-router-image.sh (kilter-test-router:latest)"),
    ("real-docker", "KILTER_REAL_DOCKER=1 cargo test --test it real_docker -- --include-ignored"),
    (
        "real-docker-client2",
        "the same through a second docker client of another version, when PATH has one",
    ),
    (
        "real-kind",
        "KILTER_REAL_KIND=1 cargo test --test it real_kind -- --include-ignored: the real kind and Tilt on \
         the Docker engine",
    ),
    (
        "e2e",
        "E2E_TOOLS=fake cargo test --test e2e -- --include-ignored: the whole journey (tests/e2e.rs) with \
         the fakes and the real engine",
    ),
];

/// What a stage needs to have run (when stages are named on the command line, these come along).
fn needs(stage: &str) -> &'static [&'static str] {
    match stage {
        "real-tilt" => &["real-tools"],
        "real-kind" => &["real-tools", "docker"],
        "image" | "registry-image" | "router-image" | "e2e" => &["docker"],
        "real-docker" | "real-docker-client2" => {
            &["docker", "image", "registry-image", "router-image"]
        }
        _ => &[],
    }
}

const HELP_ENV: &str = "\
Env: CI=true                  every stage is required: the real-Docker tier (a dockerd is started if none
                              answers), the real tools, no skipped test
     KILTER_REAL_DOCKER=1     the real-Docker tier required without CI
     KILTER_TEST_SKIP=a,b     skip the named stages (e.g. fmt,clippy when CI ran them already)
     KILTER_TEST_FAIL_FAST=1  stop at the first failing stage
     KILTER_KEEP_DOCKERD=1    leave a dockerd that this run started running at the end
";

fn usage() -> String {
    let mut s = String::from(
        "usage: cargo xtask test [STAGE...]\n\n\
         Runs every stage in order (or only the named ones, with the stages they need) and prints a \
         summary.\n\nstages:\n",
    );
    for (name, what) in STAGES {
        let _ = writeln!(s, "  {name:<20} {what}");
    }
    s.push('\n');
    s.push_str(HELP_ENV);
    s
}

pub(crate) fn main(args: &[String]) -> ExitCode {
    let mut selected = BTreeSet::new();
    for a in args {
        match a.as_str() {
            "-h" | "--help" => {
                print!("{}", usage());
                return ExitCode::SUCCESS;
            }
            name if STAGES.iter().any(|(s, _)| *s == name) => {
                selected.insert(name.to_owned());
            }
            other => {
                eprintln!("xtask test: unknown stage '{other}'\n\n{}", usage());
                return ExitCode::from(2);
            }
        }
    }
    let only = if selected.is_empty() {
        None
    } else {
        let mut all = selected.clone();
        for s in &selected {
            for n in needs(s) {
                all.insert((*n).to_owned());
                for m in needs(n) {
                    all.insert((*m).to_owned());
                }
            }
        }
        Some(all)
    };
    match Runner::new(only) {
        Ok(mut r) => ExitCode::from(r.run()),
        Err(e) => {
            eprintln!("xtask test: {e}");
            ExitCode::from(2)
        }
    }
}

fn is_true(var: &str) -> bool {
    matches!(std::env::var(var).as_deref(), Ok("1" | "true" | "yes"))
}

/// Test counts added up over every `cargo test` run's "test result:" lines.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
struct Counts {
    passed: u64,
    failed: u64,
    ignored: u64,
}

impl Counts {
    /// Add a line of libtest's output: `test result: ok. 12 passed; 0 failed; 3 ignored; ...`.
    fn add_line(&mut self, line: &str) {
        if !line.starts_with("test result:") {
            return;
        }
        let words: Vec<&str> = line.split_whitespace().collect();
        for pair in words.windows(2) {
            let n: u64 = pair[0].parse().unwrap_or(0);
            match pair[1].trim_end_matches(';') {
                "passed" => self.passed += n,
                "failed" => self.failed += n,
                "ignored" => self.ignored += n,
                _ => {}
            }
        }
    }
}

/// One row of the summary table.
fn row(name: &str, result: &str, secs: f64, note: &str) -> String {
    format!("{name:<12} {result:<8} {:>8} s  {note}", format!("{secs:.1}"))
}

/// A temp file of our own, removed when the run ends.
fn temp_file(prefix: &str) -> std::io::Result<PathBuf> {
    let dir = std::env::var_os("TMPDIR").map_or_else(|| PathBuf::from("/tmp"), PathBuf::from);
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.subsec_nanos());
    for i in 0..100u32 {
        let p = dir.join(format!("{prefix}.{}.{nanos}.{i}", std::process::id()));
        match std::fs::OpenOptions::new().write(true).create_new(true).open(&p) {
            Ok(_) => return Ok(p),
            Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => {}
            Err(e) => return Err(e),
        }
    }
    Err(std::io::Error::other(format!("no free temp file name {prefix}.* in {}", dir.display())))
}

/// How long a stage's output is still shown after a signal (its cleanup, e.g. the e2e journey's).
const SIGNAL_GRACE: Duration = Duration::from_secs(120);

/// TERM the process group that `pid` leads (each stage runs in its own).
fn term_group(pid: u32) {
    if let Ok(pid) = libc::pid_t::try_from(pid) {
        // SAFETY: kill(2) with a negative pid signals that process group; no memory is involved.
        unsafe {
            libc::kill(-pid, libc::SIGTERM);
        }
    }
}

/// The first executable `name` on PATH.
fn on_path(name: &str) -> Option<PathBuf> {
    let path = std::env::var_os("PATH")?;
    std::env::split_paths(&path).map(|d| d.join(name)).find(|p| {
        p.metadata().is_ok_and(|m| {
            m.is_file() && std::os::unix::fs::PermissionsExt::mode(&m.permissions()) & 0o111 != 0
        })
    })
}

/// A stage's body: a command (with extra environment) run in its own process group.
struct Cmd {
    env: Vec<(&'static str, OsString)>,
    argv: Vec<OsString>,
    /// Its output is kept (and still shown) to add up the test counts.
    tee: bool,
}

impl Cmd {
    fn new(argv: &[&str]) -> Self {
        Self { env: Vec::new(), argv: argv.iter().map(OsString::from).collect(), tee: false }
    }
    fn env(mut self, k: &'static str, v: impl Into<OsString>) -> Self {
        self.env.push((k, v.into()));
        self
    }
    fn tee(mut self) -> Self {
        self.tee = true;
        self
    }
    /// `K=V ... argv`, as the stage's header shows it.
    fn display(&self) -> String {
        let mut words: Vec<String> =
            self.env.iter().map(|(k, v)| format!("{k}={}", v.to_string_lossy())).collect();
        words.extend(self.argv.iter().map(|a| a.to_string_lossy().into_owned()));
        words.join(" ")
    }
}

struct Runner {
    root: PathBuf,
    ci: bool,
    require_docker: bool,
    fail_fast: bool,
    gha: bool,
    skip_list: BTreeSet<String>,
    only: Option<BTreeSet<String>>,
    skip_log: PathBuf,
    counts: Counts,
    results: Vec<String>,
    failed: bool,
    started_dockerd: bool,
    start: Instant,
    /// SIGINT/SIGTERM seen: 130 or 143 (the exit code), else 0.
    signal: Arc<AtomicUsize>,
    real_docker_ran: bool,
    real_docker_why: String,
    real_tilt_ran: bool,
    real_tilt_why: String,
    real_kind_ran: bool,
    real_kind_why: String,
}

/// How a stage ended: 0 (also when skipped through KILTER_TEST_SKIP) or its exit code.
type Rc = i32;

impl Runner {
    fn new(only: Option<BTreeSet<String>>) -> Result<Self, String> {
        // The repository root: xtask/ is one level below it (`cargo run` says where xtask is).
        let manifest_dir = std::env::var_os("CARGO_MANIFEST_DIR")
            .map_or_else(|| PathBuf::from(env!("CARGO_MANIFEST_DIR")), PathBuf::from);
        let root = manifest_dir.parent().ok_or("xtask has no parent directory")?.to_path_buf();
        std::env::set_current_dir(&root).map_err(|e| format!("cd {}: {e}", root.display()))?;
        let ci = is_true("CI");
        let signal = Arc::new(AtomicUsize::new(0));
        for (sig, code) in [(signal_hook::consts::SIGINT, 130), (signal_hook::consts::SIGTERM, 143)]
        {
            signal_hook::flag::register_usize(sig, Arc::clone(&signal), code)
                .map_err(|e| format!("install a signal handler: {e}"))?;
        }
        let skip_log =
            temp_file("kilter-test-skips").map_err(|e| format!("create the skip log: {e}"))?;
        Ok(Self {
            root,
            ci,
            require_docker: ci || is_true("KILTER_REAL_DOCKER"),
            fail_fast: is_true("KILTER_TEST_FAIL_FAST"),
            gha: is_true("GITHUB_ACTIONS"),
            skip_list: std::env::var("KILTER_TEST_SKIP")
                .unwrap_or_default()
                .split(',')
                .filter(|s| !s.is_empty())
                .map(str::to_owned)
                .collect(),
            only,
            skip_log,
            counts: Counts::default(),
            results: Vec::new(),
            failed: false,
            started_dockerd: false,
            start: Instant::now(),
            signal,
            real_docker_ran: false,
            real_docker_why: "the real-docker stage did not run".into(),
            real_tilt_ran: false,
            real_tilt_why: "the real-tilt stage did not run".into(),
            real_kind_ran: false,
            real_kind_why: "the real-kind stage did not run".into(),
        })
    }

    /// Whether a stage was left out by naming others on the command line (then it is not run, and
    /// what depends on it takes it as done).
    fn unselected(&self, name: &str) -> bool {
        self.only.as_ref().is_some_and(|o| !o.contains(name))
    }

    fn record(&mut self, name: &str, result: &str, secs: f64, note: &str) {
        self.results.push(row(name, result, secs, note));
    }

    fn skip(&mut self, name: &str, why: &str) {
        if self.unselected(name) {
            return;
        }
        println!("\n==> [{name}] skipped: {why}");
        self.record(name, "skipped", 0.0, why);
    }

    /// A command with the environment every stage gets (cargo's variables for `cargo run` removed: a
    /// stage sees what it would see from a shell).
    #[expect(
        clippy::disallowed_methods,
        reason = "running the stages' commands is what xtask is for"
    )]
    fn command(&self, cmd: &Cmd) -> Command {
        let mut c = Command::new(&cmd.argv[0]);
        c.args(&cmd.argv[1..]).current_dir(&self.root);
        for (k, _) in std::env::vars_os() {
            let k = k.to_string_lossy();
            if k.starts_with("CARGO_PKG_")
                || matches!(
                    &*k,
                    "CARGO_MANIFEST_DIR"
                        | "CARGO_MANIFEST_PATH"
                        | "CARGO_CRATE_NAME"
                        | "CARGO_BIN_NAME"
                        | "CARGO_PRIMARY_PACKAGE"
                )
            {
                c.env_remove(&*k);
            }
        }
        c.env("KILTER_TEST_SKIP_LOG", &self.skip_log);
        if std::env::var_os("KILTER_TEST_IMAGE").is_none() {
            c.env("KILTER_TEST_IMAGE", "kilter-test-node:latest");
        }
        for (k, v) in &cmd.env {
            c.env(k, v);
        }
        c
    }

    /// Run a command in its own process group and wait for it; SIGINT or SIGTERM meanwhile is passed on
    /// to the whole group (cargo, the test binaries, scripts and their children) and ends the run.
    fn exec(&mut self, cmd: &Cmd) -> Rc {
        let mut c = self.command(cmd);
        c.process_group(0);
        let (tx, rx) = mpsc::channel::<Counts>();
        let mut reader = None;
        if cmd.tee {
            // `cmd 2>&1 | tee`: one pipe for both streams, each line shown and counted.
            match std::io::pipe() {
                Ok((r, w)) => {
                    match w.try_clone() {
                        Ok(w2) => {
                            c.stdout(w2).stderr(w);
                        }
                        Err(e) => {
                            eprintln!("xtask test: pipe: {e}");
                            return 1;
                        }
                    }
                    reader = Some(r);
                }
                Err(e) => {
                    eprintln!("xtask test: pipe: {e}");
                    return 1;
                }
            }
        }
        let mut child = match c.spawn() {
            Ok(ch) => ch,
            Err(e) => {
                eprintln!("xtask test: {}: {e}", cmd.argv[0].to_string_lossy());
                return 127;
            }
        };
        // The Command holds the pipe's write ends: drop it, so the reader sees EOF when the child is done.
        drop(c);
        let tee_thread = reader.map(|r| {
            std::thread::spawn(move || {
                let mut counts = Counts::default();
                let mut out = std::io::stdout();
                for line in BufReader::new(r).split(b'\n') {
                    let Ok(line) = line else { break };
                    let _ = out.write_all(&line);
                    let _ = out.write_all(b"\n");
                    let _ = out.flush();
                    counts.add_line(&String::from_utf8_lossy(&line));
                }
                let _ = tx.send(counts);
            })
        });
        let pid = child.id();
        let status = self.wait(&mut child);
        if let Some(t) = tee_thread {
            // Children that outlive the command may hold the pipe, e.g. a test binary still cleaning up
            // after a signal took cargo down: show their output until they close it (at most
            // SIGNAL_GRACE after a signal), passing on a signal that arrives meanwhile.
            let mut signalled_at = (self.signalled() != 0).then(Instant::now);
            loop {
                match rx.recv_timeout(Duration::from_millis(100)) {
                    Ok(c) => {
                        self.counts.passed += c.passed;
                        self.counts.failed += c.failed;
                        self.counts.ignored += c.ignored;
                        let _ = t.join();
                        break;
                    }
                    Err(mpsc::RecvTimeoutError::Timeout) => {
                        if signalled_at.is_none() && self.signalled() != 0 {
                            term_group(pid);
                            signalled_at = Some(Instant::now());
                        }
                        if signalled_at.is_some_and(|at| at.elapsed() > SIGNAL_GRACE) {
                            break;
                        }
                    }
                    Err(mpsc::RecvTimeoutError::Disconnected) => break,
                }
            }
        }
        self.exit_if_signalled();
        match status.code() {
            Some(code) => code,
            None => 128 + status.signal().unwrap_or(0),
        }
    }

    /// The child's exit status. On SIGINT/SIGTERM meanwhile, its process group gets a TERM first.
    fn wait(&mut self, child: &mut Child) -> ExitStatus {
        loop {
            match child.try_wait() {
                Ok(Some(st)) => return st,
                Ok(None) => {}
                Err(e) => {
                    eprintln!("xtask test: wait: {e}");
                    return ExitStatus::from_raw(1 << 8);
                }
            }
            if self.signalled() != 0 {
                term_group(child.id());
                return child.wait().unwrap_or_else(|_| ExitStatus::from_raw(1 << 8));
            }
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    /// 130 after SIGINT, 143 after SIGTERM, else 0.
    fn signalled(&self) -> usize {
        self.signal.load(Ordering::SeqCst)
    }

    /// After SIGINT/SIGTERM: clean up and exit with 130/143.
    #[expect(
        clippy::disallowed_methods,
        reason = "exits after its own cleanup, from inside a stage"
    )]
    fn exit_if_signalled(&mut self) {
        let code = self.signalled();
        if code == 0 {
            return;
        }
        self.cleanup();
        std::process::exit(i32::try_from(code).unwrap_or(1));
    }

    /// Run one stage with a header, its time and its result.
    fn stage(&mut self, name: &str, body: &Cmd) -> Rc {
        self.stage_with(name, &body.display(), |r| r.exec(body), None)
    }

    /// `stage`, with a body of several steps, and an exit code `soft_skip` that is a skip, not a failure.
    fn stage_with(
        &mut self,
        name: &str,
        shown: &str,
        body: impl FnOnce(&mut Self) -> Rc,
        soft_skip: Option<(Rc, &str)>,
    ) -> Rc {
        if self.unselected(name) {
            return 0;
        }
        self.exit_if_signalled();
        if self.skip_list.contains(name) {
            println!("\n==> [{name}] skipped (KILTER_TEST_SKIP)");
            self.record(name, "skipped", 0.0, "KILTER_TEST_SKIP");
            return 0;
        }
        println!();
        if self.gha {
            println!("::group::{name}");
        }
        println!("==> [{name}] {shown}");
        let _ = std::io::stdout().flush();
        let t0 = Instant::now();
        let rc = body(self);
        let secs = t0.elapsed().as_secs_f64();
        if self.gha {
            println!("::endgroup::");
        }
        if rc == 0 {
            println!("<== [{name}] ok ({secs:.1} s)");
            self.record(name, "ok", secs, "");
        } else if let Some((code, why)) = soft_skip.filter(|(code, _)| *code == rc) {
            println!("<== [{name}] skipped: exit code {code} ({secs:.1} s)");
            self.record(name, "skipped", secs, why);
        } else {
            eprintln!("<== [{name}] FAILED with exit code {rc} ({secs:.1} s)");
            if self.gha {
                println!("::error::cargo xtask test: stage '{name}' failed (exit {rc})");
            }
            self.record(name, "FAILED", secs, &format!("exit {rc}"));
            self.failed = true;
            if self.fail_fast {
                self.summary();
                self.cleanup();
                #[expect(
                    clippy::disallowed_methods,
                    reason = "KILTER_TEST_FAIL_FAST: after the summary and cleanup"
                )]
                std::process::exit(1);
            }
        }
        rc
    }

    fn script(&self, rel: &str) -> String {
        self.root.join(rel).to_string_lossy().into_owned()
    }

    fn dockerd_answers(&mut self) -> bool {
        let script = self.script("scripts/dockerd.sh");
        self.exec(&Cmd::new(&[&script, "status", "-q"])) == 0
    }

    fn cargo_test(args: &[&str]) -> Cmd {
        let mut argv = vec!["cargo", "test"];
        argv.extend_from_slice(args);
        Cmd::new(&argv).tee()
    }

    fn run(&mut self) -> u8 {
        // --- static checks ------------------------------------------------------------------------------
        self.stage("fmt", &Cmd::new(&["cargo", "fmt", "--all", "--", "--check"]));
        self.stage(
            "clippy",
            &Cmd::new(&[
                "cargo",
                "clippy",
                "--workspace",
                "--all-targets",
                "--locked",
                "--",
                "-D",
                "warnings",
            ]),
        );
        self.stage("lint", &Cmd::new(&["scripts/lint.sh"]));

        // --- build and the fast tests -------------------------------------------------------------------
        let built = self.stage(
            "build",
            &Cmd::new(&["cargo", "build", "--workspace", "--all-targets", "--locked"]),
        ) == 0;
        if built {
            self.stage(
                "test",
                &Self::cargo_test(&["--workspace", "--all-targets", "--locked", "--no-fail-fast"]),
            );
        } else {
            self.skip("test", "the build failed");
        }

        // --- the real Tilt (and kind) from ../shared/real-tools -----------------------------------------
        let missing = "../shared/real-tools is missing (scripts/unpack-real-tools.sh)";
        let soft = if self.ci { None } else { Some((3, missing)) };
        let unpack = Cmd::new(&["scripts/unpack-real-tools.sh"]);
        let real_tools_rc =
            self.stage_with("real-tools", &unpack.display(), |r| r.exec(&unpack), soft);
        let real_tools_ok = real_tools_rc == 0;
        if real_tools_rc == 3 && !self.ci {
            self.real_tilt_why = missing.into();
        }
        if built && real_tools_ok {
            self.real_tilt_ran = !self.unselected("real-tilt");
            let tilt = self.root.join("target/real-tools/tilt");
            self.stage(
                "real-tilt",
                &Self::cargo_test(&[
                    "--locked",
                    "--test",
                    "it",
                    "real_tilt",
                    "--",
                    "--include-ignored",
                    "--test-threads=2",
                ])
                .env("KILTER_REAL_TILT", tilt),
            );
        } else {
            if self.real_tilt_why == "the real-tilt stage did not run" {
                self.real_tilt_why = "the build or scripts/unpack-real-tools.sh failed".into();
            }
            let why = self.real_tilt_why.clone();
            self.skip("real-tilt", &why);
        }

        // --- real Docker engine -------------------------------------------------------------------------
        let docker_ok = self.docker();

        if docker_ok {
            let mut image_ok =
                self.stage("image", &Cmd::new(&["scripts/build-test-image.sh"])) == 0;
            image_ok &=
                self.stage("registry-image", &Cmd::new(&["scripts/build-registry-image.sh"])) == 0;
            image_ok &=
                self.stage("router-image", &Cmd::new(&["scripts/build-router-image.sh"])) == 0;
            if built && image_ok {
                let tier = [
                    "--locked",
                    "--test",
                    "it",
                    "real_docker",
                    "--",
                    "--include-ignored",
                    "--test-threads=2",
                ];
                self.real_docker_ran =
                    !self.unselected("real-docker") || !self.unselected("real-docker-client2");
                self.stage("real-docker", &Self::cargo_test(&tier).env("KILTER_REAL_DOCKER", "1"));
                // A second docker client of another version on PATH (e.g. docker 28 in /usr/local/bin
                // next to Debian's 20.10): the tier through it too, since messages and exit codes differ.
                let default_client = Path::new("/usr/bin/docker");
                if let Some(other) = on_path("docker")
                    && other != default_client
                    && default_client.is_file()
                    && version_of(&other) != version_of(default_client)
                {
                    self.stage(
                        "real-docker-client2",
                        &Self::cargo_test(&tier)
                            .env("KILTER_REAL_DOCKER", "1")
                            .env("KILTER_FAKE_REAL_DOCKER", other),
                    );
                }
            } else {
                self.real_docker_why = "the build or the test image failed".into();
                let why = self.real_docker_why.clone();
                self.skip("real-docker", &why);
            }
        } else {
            let why = self.real_docker_why.clone();
            self.skip("image", &why);
            self.skip("real-docker", &why);
        }

        // --- the real kind and Tilt on the real engine (the docker shim, a stub node image) -------------
        if built && docker_ok && real_tools_ok {
            self.real_kind_ran = !self.unselected("real-kind");
            self.stage(
                "real-kind",
                &Self::cargo_test(&[
                    "--locked",
                    "--test",
                    "it",
                    "real_kind",
                    "--",
                    "--include-ignored",
                    "--test-threads=1",
                ])
                .env("KILTER_REAL_KIND", "1")
                .env("KILTER_REQUIRE_REAL_TOOLS", if self.ci { "1" } else { "0" }),
            );
        } else {
            self.real_kind_why = "needs the build, a Docker daemon and the real tools".into();
            let why = self.real_kind_why.clone();
            self.skip("real-kind", &why);
        }

        // --- the end-to-end journey with fake kind/kubectl/tilt and the real engine ---------------------
        if built && docker_ok {
            self.stage(
                "e2e",
                &Self::cargo_test(&[
                    "--locked",
                    "--test",
                    "e2e",
                    "--",
                    "--include-ignored",
                    "--nocapture",
                ])
                .env("E2E_TOOLS", "fake"),
            );
        } else {
            self.skip("e2e", "needs the build and a Docker daemon");
        }

        self.summary();
        self.cleanup();
        u8::from(self.failed)
    }

    /// The docker stage: a daemon that answers, or one started when the run requires it. Whether the
    /// stages that need it may run.
    fn docker(&mut self) -> bool {
        self.real_docker_why = "no Docker daemon".into();
        if self.unselected("docker") {
            return true;
        }
        if self.skip_list.contains("docker") {
            self.real_docker_why = "the docker stage was skipped (KILTER_TEST_SKIP)".into();
            self.skip("docker", "KILTER_TEST_SKIP");
            return false;
        }
        let dockerd = self.script("scripts/dockerd.sh");
        // Probe first so that "not available" is a skip, not a failure, outside CI.
        if self.dockerd_answers() {
            let status = Cmd::new(&[&dockerd, "status"]);
            return self.stage("docker", &status) == 0;
        }
        if !self.require_docker {
            self.skip(
                "docker",
                "no Docker daemon (start one with scripts/dockerd.sh start, or set CI=true / KILTER_REAL_DOCKER=1)",
            );
            return false;
        }
        // Set before the start: the daemon is stopped at the end even if we are interrupted half-way;
        // `dockerd.sh stop` only ever stops a dockerd that it started.
        self.started_dockerd = true;
        let start = Cmd::new(&[&dockerd, "start"]);
        let shown = format!(
            "(no Docker daemon answers; CI=true or KILTER_REAL_DOCKER=1, so starting one) {}",
            start.display()
        );
        let rc = self.stage_with(
            "docker",
            &shown,
            |r| {
                let rc = r.exec(&start);
                if rc != 0 {
                    eprintln!("error: could not start a Docker daemon; the real-Docker tier is required here");
                }
                rc
            },
            None,
        );
        rc == 0
    }

    fn summary(&mut self) {
        println!("\n==================== cargo xtask test summary ====================");
        for r in &self.results {
            println!("{r}");
        }
        println!("total: {:.1} s", self.start.elapsed().as_secs_f64());
        let mut skips: Vec<String> = std::fs::read_to_string(&self.skip_log)
            .unwrap_or_default()
            .lines()
            .map(str::to_owned)
            .collect();
        let logged = !skips.is_empty();
        // The test stage's ignored tests are the real-tool tiers: they count once their stage ran them,
        // and are skipped otherwise.
        if self.counts.ignored > 0 {
            for (ran, tier, why) in [
                (self.real_docker_ran, "real-Docker", &self.real_docker_why),
                (self.real_tilt_ran, "real-Tilt", &self.real_tilt_why),
                (self.real_kind_ran, "real-kind", &self.real_kind_why),
            ] {
                if !ran {
                    skips.push(format!("the {tier} tier (#[ignore]d in the test stage): {why}"));
                }
            }
        }
        if !skips.is_empty() {
            println!("skipped:");
            for s in &skips {
                println!("  {s}");
            }
        }
        // The closing line, counted over every `cargo test` run above.
        println!(
            "tests: {} passed, {} failed, {} skipped",
            self.counts.passed,
            self.counts.failed,
            skips.len()
        );
        if self.ci && logged {
            eprintln!(
                "error: CI=true and tests were skipped (listed above); every test must run here"
            );
            self.failed = true;
        }
        let _ = std::io::stdout().flush();
    }

    /// Stop a dockerd this run started (unless KILTER_KEEP_DOCKERD=1) and remove the temp files.
    fn cleanup(&mut self) {
        if self.started_dockerd && !is_true("KILTER_KEEP_DOCKERD") {
            self.started_dockerd = false;
            println!("\n==> stopping the dockerd this run started");
            let _ = self.command(&Cmd::new(&[&self.script("scripts/dockerd.sh"), "stop"])).status();
        }
        let _ = std::fs::remove_file(&self.skip_log);
    }
}

/// `CLIENT --version`, or nothing.
#[expect(clippy::disallowed_methods, reason = "a probe of the test machine, not kilter's runner")]
fn version_of(client: &Path) -> Option<Vec<u8>> {
    Command::new(client)
        .arg("--version")
        .stdin(Stdio::null())
        .stderr(Stdio::null())
        .output()
        .ok()
        .map(|o| o.stdout)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn counts_add_up_libtest_result_lines() {
        let mut c = Counts::default();
        for line in [
            "running 3 tests",
            "test result: ok. 12 passed; 0 failed; 3 ignored; 0 measured; 0 filtered out; finished in 0.01s",
            "test result: FAILED. 4 passed; 2 failed; 0 ignored; 0 measured; 5 filtered out; finished in 1s",
            "test foo ... ok",
            "   test result: ok. 99 passed; not at the start of the line",
        ] {
            c.add_line(line);
        }
        assert_eq!(c, Counts { passed: 16, failed: 2, ignored: 3 });
    }

    #[test]
    fn summary_rows_line_up() {
        assert_eq!(row("fmt", "ok", 1.24, ""), "fmt          ok            1.2 s  ");
        assert_eq!(
            row("real-docker-client2", "FAILED", 123.45, "exit 101"),
            "real-docker-client2 FAILED      123.5 s  exit 101"
        );
    }

    #[test]
    fn every_needed_stage_exists_and_runs_before_what_needs_it() {
        let pos = |s: &str| STAGES.iter().position(|(n, _)| *n == s);
        for (stage, _) in STAGES {
            for n in needs(stage) {
                assert!(pos(n) < pos(stage), "{n} must run before {stage}");
                assert!(pos(n).is_some(), "{stage} needs an unknown stage {n}");
            }
        }
    }
}
