//! Integration-test harness: an isolated temp environment whose PATH holds only the fake
//! `docker`/`kind`/`kubectl`/`tilt` (one binary, `tests/fake/`, symlinked under each name).
//!
//! Layout of the temp dir:
//! ```text
//! <tmp>/bin/        symlinks to fake-tool (the only PATH entry)
//! <tmp>/home/       HOME; XDG_{CACHE,DATA,STATE,CONFIG}_HOME and DOCKER_CONFIG live under it
//! <tmp>/work/       project directories (`Env::project`)
//! <tmp>/fake-state/ KILTER_FAKE_STATE (shared by all fakes; see tests/fake/README.md)
//! <tmp>/shim.log    KILTER_SHIM_LOG (one line per fake call)
//! ```
// The harness spawns processes by design (clippy.toml bans Command::new outside exec.rs).
#![allow(clippy::unwrap_used, clippy::disallowed_methods, dead_code, unreachable_pub)]

use std::ffi::OsString;
use std::path::{Path, PathBuf};
use std::sync::OnceLock;
use std::time::{Duration, Instant};

pub mod mariadb;
mod netns;
pub mod pg;
mod pg_server;
mod real;
mod real_kind;
pub mod real_tilt;
pub use real::{RealDocker, preferred_ports, slot_of};
pub use real_tilt::{Leftover, real_tilt_or_skip};

/// Names of the fake tools.
pub const TOOLS: &[&str] = &["docker", "kind", "kubectl", "tilt"];

/// The compiled fake: `<target>/<profile>/examples/fake-tool`, next to the kilter binary.
/// Built by `cargo test` (all targets) or `cargo build --examples`; when it is missing or older
/// than its sources (e.g. `cargo test --test it` builds no examples) we build it once here.
pub fn fake_tool() -> &'static Path {
    static PATH: OnceLock<PathBuf> = OnceLock::new();
    PATH.get_or_init(|| {
        let kilter = Path::new(env!("CARGO_BIN_EXE_kilter"));
        let profile_dir = kilter.parent().unwrap();
        let fake = profile_dir.join("examples").join("fake-tool");
        if !fresh(&fake) {
            build_fake(profile_dir);
        }
        assert!(
            fake.exists(),
            "fake tool missing at {}: run `cargo build --examples`",
            fake.display()
        );
        fake
    })
}

/// The binary exists and is newer than every file in tests/fake/.
fn fresh(fake: &Path) -> bool {
    let Ok(built) = fake.metadata().and_then(|m| m.modified()) else { return false };
    let src = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests").join("fake");
    std::fs::read_dir(src)
        .into_iter()
        .flatten()
        .flatten()
        .filter(|e| e.path().extension().is_some_and(|x| x == "rs"))
        .all(|e| e.metadata().and_then(|m| m.modified()).is_ok_and(|t| t <= built))
}

fn build_fake(profile_dir: &Path) {
    let mut cmd = std::process::Command::new(env!("CARGO"));
    cmd.args(["build", "--quiet", "--example", "fake-tool", "--manifest-path"])
        .arg(Path::new(env!("CARGO_MANIFEST_DIR")).join("Cargo.toml"));
    // The same profile as this test binary: target/debug is the dev profile; any other directory is
    // named after its profile (release, or the `mutants` profile of scripts/mutants.sh).
    match profile_dir.file_name().and_then(|n| n.to_str()) {
        Some("debug") | None => {}
        Some(profile) => {
            cmd.args(["--profile", profile]);
        }
    }
    // same target dir as this test binary: <target>/<profile>/
    if let Some(target) = profile_dir.parent() {
        cmd.arg("--target-dir").arg(target);
    }
    let status = cmd.status();
    assert!(
        status.is_ok_and(|s| s.success()),
        "building the fake tool failed: run `cargo build --examples`"
    );
}

/// One isolated environment. Dropping it deletes the temp dir (after signalling any fake tilt
/// that is still running in it).
pub struct Env {
    dir: tempfile::TempDir,
    /// Set by [`Env::real_docker`]: `docker` is the real client (support/real.rs).
    real: Option<RealDocker>,
    /// Set by [`Env::expect_unexpected`]: this test provokes "unexpected call" (exit 97) on
    /// purpose, so dropping the Env does not fail it.
    allow_unexpected: std::sync::atomic::AtomicBool,
    /// The network namespace every process of this Env runs in (support/netns.rs); `None` for
    /// the real-Docker tier (published ports live in the host's namespace) and where none can
    /// be made.
    net: Option<netns::NetNs>,
    /// PATH also holds the system's directories after the fakes (the real Tilt runs its
    /// commands with `sh`).
    system_path: bool,
}

impl Default for Env {
    fn default() -> Self {
        Self::new()
    }
}

impl Env {
    /// All four tools on PATH.
    pub fn new() -> Env {
        Env::without(&[])
    }

    /// Like `new`, but without some tools in `bin/` (to test "tool missing").
    pub fn without(tools: &[&str]) -> Env {
        let dir = tempfile::Builder::new().prefix("kilter-it-").tempdir().unwrap();
        let env = Env {
            dir,
            real: None,
            allow_unexpected: std::sync::atomic::AtomicBool::new(false),
            net: own_netns(),
            system_path: false,
        };
        for d in [env.bin(), env.home(), env.root().join("work"), env.state_dir()] {
            std::fs::create_dir_all(d).unwrap();
        }
        for tool in TOOLS.iter().filter(|t| !tools.contains(t)) {
            std::os::unix::fs::symlink(fake_tool(), env.bin().join(tool)).unwrap();
        }
        env
    }

    pub fn root(&self) -> &Path {
        self.dir.path()
    }
    pub fn bin(&self) -> PathBuf {
        self.root().join("bin")
    }
    pub fn home(&self) -> PathBuf {
        self.root().join("home")
    }
    /// `KILTER_FAKE_STATE`.
    pub fn state_dir(&self) -> PathBuf {
        self.root().join("fake-state")
    }
    /// `KILTER_SHIM_LOG`.
    pub fn shim_log(&self) -> PathBuf {
        self.root().join("shim.log")
    }
    /// Creates `<tmp>/work/<dir_name>/` and returns it.
    pub fn project(&self, dir_name: &str) -> PathBuf {
        let p = self.root().join("work").join(dir_name);
        std::fs::create_dir_all(&p).unwrap();
        p
    }
    pub fn cache_dir(&self, name: &str) -> PathBuf {
        self.home().join(".cache").join("kilter").join(name)
    }
    pub fn data_dir(&self, name: &str) -> PathBuf {
        self.home().join(".local").join("share").join("kilter").join(name)
    }
    pub fn state_home(&self) -> PathBuf {
        self.home().join(".local").join("state")
    }
    /// `$HOME/.kube/config`: kilter must never create it.
    pub fn kube_config_home(&self) -> PathBuf {
        self.home().join(".kube").join("config")
    }

    /// The complete environment every process gets (nothing inherited).
    pub fn vars(&self) -> Vec<(&'static str, OsString)> {
        let home = self.home();
        let mut vars = vec![
            (
                "PATH",
                if self.system_path {
                    format!("{}:/usr/local/bin:/usr/bin:/bin", self.bin().display()).into()
                } else {
                    self.bin().into()
                },
            ),
            ("HOME", home.clone().into()),
            ("XDG_CACHE_HOME", home.join(".cache").into()),
            ("XDG_DATA_HOME", home.join(".local").join("share").into()),
            ("XDG_STATE_HOME", self.state_home().into()),
            ("XDG_CONFIG_HOME", home.join(".config").into()),
            ("DOCKER_CONFIG", home.join(".docker").into()),
            ("NO_COLOR", "1".into()),
            ("KILTER_FAKE_STATE", self.state_dir().into()),
            ("KILTER_SHIM_LOG", self.shim_log().into()),
        ];
        if self.real.is_none() {
            // The fake docker has no daemon socket, and the machine's own engine may or may not
            // run: a Tilt (the fake, or the real one of the real-Tilt tier) always finds none,
            // and says so the same way on every machine.
            vars.push(("DOCKER_HOST", format!("unix://{}", self.docker_sock().display()).into()));
        }
        vars.extend(self.real_vars());
        vars
    }

    /// Where `DOCKER_HOST` points in a fake-Docker Env: a socket that never exists.
    pub fn docker_sock(&self) -> PathBuf {
        self.root().join("no-docker.sock")
    }

    /// The two lines a Tilt prints after its version when `DOCKER_HOST` answers nothing.
    pub fn tilt_docker_prune_lines(&self) -> [String; 2] {
        let sock = self.docker_sock();
        [
            "[Docker Prune] Docker API version too low for Tilt to run Docker Prune:".to_owned(),
            format!(
                "\tfailed to connect to the docker API at unix://{0}; check if the path is correct and if the daemon is running: dial unix {0}: connect: no such file or directory",
                sock.display()
            ),
        ]
    }

    /// kilter in `cwd` with the isolated environment (no KUBECONFIG, no CI).
    pub fn kilter(&self, cwd: &Path) -> assert_cmd::Command {
        assert_cmd::Command::from_std(self.kilter_std(cwd))
    }

    /// The same as [`Env::kilter`] as a plain `std::process::Command` (for `spawn`).
    pub fn kilter_std(&self, cwd: &Path) -> std::process::Command {
        let mut cmd = std::process::Command::new(assert_cmd::cargo::cargo_bin!("kilter"));
        cmd.env_clear().envs(self.vars()).current_dir(cwd);
        self.enter_net(&mut cmd);
        cmd
    }

    /// A fake tool run directly (setup and selftests), same environment, cwd = root.
    pub fn tool(&self, tool: &str) -> std::process::Command {
        let mut cmd = std::process::Command::new(self.bin().join(tool));
        cmd.env_clear().envs(self.vars()).current_dir(self.root());
        self.enter_net(&mut cmd);
        cmd
    }

    /// Make `cmd` run in this Env's network namespace (when it has one).
    pub fn enter_net(&self, cmd: &mut std::process::Command) {
        if let Some(n) = &self.net {
            n.enter(cmd);
        }
    }

    /// Run `f` where this Env's processes see 127.0.0.1 (e.g. to hold one of its ports).
    pub fn in_net<R: Send>(&self, f: impl FnOnce() -> R + Send) -> R {
        match &self.net {
            Some(n) => n.run(f),
            None => f(),
        }
    }

    /// Bind 127.0.0.1:`port` where this Env's processes see it: "another program holds it".
    pub fn hold_port(&self, port: u16) -> std::net::TcpListener {
        self.in_net(|| std::net::TcpListener::bind(("127.0.0.1", port)))
            .unwrap_or_else(|e| panic!("bind 127.0.0.1:{port} in the test's network: {e}"))
    }

    /// `fake-tool ctl …`; panics on failure. Returns stdout.
    pub fn ctl(&self, args: &[&str]) -> String {
        let out = std::process::Command::new(fake_tool())
            .arg("ctl")
            .args(args)
            .env_clear()
            .envs(self.vars())
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "fake-tool ctl {args:?} failed: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8(out.stdout).unwrap()
    }

    /// `ctl set KEY VALUE` (see tests/fake/README.md for the knobs).
    pub fn set_knob(&self, key: &str, value: &str) {
        self.ctl(&["set", key, value]);
    }

    /// Shim-log lines in call order: `<tool> <args shell-quoted>`.
    pub fn calls(&self) -> Vec<String> {
        std::fs::read_to_string(self.shim_log())
            .unwrap_or_default()
            .lines()
            .map(str::to_string)
            .collect()
    }

    /// Shim-log lines of one tool.
    pub fn calls_of(&self, tool: &str) -> Vec<String> {
        let prefix = format!("{tool} ");
        self.calls().into_iter().filter(|l| l.starts_with(&prefix) || l == tool).collect()
    }

    /// Every line of `<state>/calls.jsonl`, in order: call records and exit records.
    fn call_log(&self) -> Vec<serde_json::Value> {
        std::fs::read_to_string(self.state_dir().join("calls.jsonl"))
            .unwrap_or_default()
            .lines()
            .map(|l| serde_json::from_str(l).unwrap())
            .collect()
    }

    /// `<state>/calls.jsonl` call records: {tool, argv, env (KUBECONFIG, KILTER_*), pid, pgid,
    /// ts_ms} per call (the exit records are left out; see [`Env::call_exits`]).
    pub fn call_records(&self) -> Vec<serde_json::Value> {
        self.call_log().into_iter().filter(|r| r.get("tool").is_some()).collect()
    }

    /// Each call record with the exit code its call returned (None: still running, killed by a
    /// signal, or replaced by the real docker client). A call's exit record is the next
    /// `{"exit","pid"}` line of the same pid.
    pub fn call_exits(&self) -> Vec<(serde_json::Value, Option<i64>)> {
        let ends = self.call_ends().into_iter();
        ends.map(|(r, end)| (r, end.and_then(|e| e["exit"].as_i64()))).collect()
    }

    /// Each call record (in the order of [`Env::call_records`]) with its exit record
    /// (`{"exit", "pid", "ts_ms"}`: when it returned), if it has one.
    pub fn call_ends(&self) -> Vec<(serde_json::Value, Option<serde_json::Value>)> {
        let mut out: Vec<(serde_json::Value, Option<serde_json::Value>)> = Vec::new();
        let mut open: std::collections::HashMap<i64, usize> = std::collections::HashMap::new();
        for r in self.call_log() {
            let pid = r["pid"].as_i64().unwrap_or(-1);
            if r.get("tool").is_some() {
                open.insert(pid, out.len());
                out.push((r, None));
            } else if let Some(i) = open.remove(&pid) {
                out[i].1 = Some(r);
            }
        }
        out
    }

    /// Calls a fake answered with "unexpected call" (exit 97), as `<tool> <args shell-quoted>`
    /// (the shim-log form).
    pub fn unexpected_calls(&self) -> Vec<String> {
        self.call_exits()
            .into_iter()
            .filter(|(_, code)| *code == Some(97))
            .map(|(r, _)| {
                let tool = r["tool"].as_str().unwrap_or_default().to_string();
                let argv: Vec<String> =
                    serde_json::from_value(r["argv"].clone()).unwrap_or_default();
                if argv.is_empty() {
                    tool
                } else {
                    let joined = shlex::try_join(argv.iter().map(String::as_str))
                        .unwrap_or_else(|_| argv.join(" "));
                    format!("{tool} {joined}")
                }
            })
            .collect()
    }

    /// Opt out of the check at drop that no fake answered "unexpected call" (exit 97): for the
    /// fake self-tests and the tests that make such a call on purpose. Say why at the call site.
    pub fn expect_unexpected(&self) {
        self.allow_unexpected.store(true, std::sync::atomic::Ordering::Relaxed);
    }

    /// The `docker inspect` object of a container, read from the fake state (not logged).
    pub fn container(&self, name: &str) -> Option<serde_json::Value> {
        let out = std::process::Command::new(fake_tool())
            .args(["ctl", "inspect", name])
            .env_clear()
            .envs(self.vars())
            .output()
            .unwrap();
        out.status.success().then(|| serde_json::from_slice(&out.stdout).unwrap())
    }

    /// Pids of live fake `tilt up` processes.
    pub fn tilt_pids(&self) -> Vec<i32> {
        self.ctl(&["tilt-pids"]).lines().map(|l| l.parse().unwrap()).collect()
    }

    /// Records of live fake tilts (pid, pgid, port, file, context, kubeconfig_env, kilter_env, …).
    pub fn tilt_records(&self) -> Vec<serde_json::Value> {
        serde_json::from_str(&self.ctl(&["tilt-records"])).unwrap()
    }
}

impl Drop for Env {
    fn drop(&mut self) {
        // A fake's "unexpected call" (exit 97) fails the test, even on a path kilter treats as
        // best-effort: either the fake lacks a call the real tool supports or kilter is wrong.
        // Checked first (the checks below don't call the fakes); not while already panicking.
        let unexpected = if self.allow_unexpected.load(std::sync::atomic::Ordering::Relaxed)
            || std::thread::panicking()
        {
            Vec::new()
        } else {
            self.unexpected_calls()
        };
        // Real-Docker Envs: remove the real node containers they made (also after a panic).
        self.real_cleanup();
        // Nothing this Env started outlives it (real Tilt's commands run in groups of their own).
        self.kill_leftovers();
        // Don't leave detached fake tilts behind.
        if let Ok(out) = std::process::Command::new(fake_tool())
            .args(["ctl", "tilt-pids"])
            .env_clear()
            .envs(self.vars())
            .output()
        {
            for pid in
                String::from_utf8_lossy(&out.stdout).lines().filter_map(|l| l.parse::<i32>().ok())
            {
                // SAFETY: plain kill(2) on a pid recorded by a fake tilt of this environment.
                unsafe { libc::kill(pid, libc::SIGKILL) };
            }
        }
        assert!(
            unexpected.is_empty(),
            "a fake answered \"unexpected call\" (exit 97) to {} call(s) (see tests/fake/README.md; \
             `Env::expect_unexpected` if the test does it on purpose):\n  {}",
            unexpected.len(),
            unexpected.join("\n  ")
        );
    }
}

/// A network namespace for a new Env, unless `KILTER_TEST_HOST_NET=1` asks for the host's or
/// none can be made here (not root): then a note, once.
fn own_netns() -> Option<netns::NetNs> {
    netns::enter_host();
    if truthy("KILTER_TEST_HOST_NET") {
        return None;
    }
    let ns = netns::NetNs::new();
    if let Some(n) = &ns {
        n.enter_this_thread();
    }
    if ns.is_none() {
        static NOTE: std::sync::Once = std::sync::Once::new();
        NOTE.call_once(|| {
            eprintln!(
                "note: no network namespace could be made (needs root): tests share the host's \
                 ports, so tests that bind the same Tilt port may collide when run in parallel"
            );
        });
    }
    ns
}

/// Poll `f` every 10 ms until it returns true or `timeout` passes.
pub fn wait_until(timeout: Duration, mut f: impl FnMut() -> bool) -> bool {
    let end = Instant::now() + timeout;
    loop {
        if f() {
            return true;
        }
        if Instant::now() >= end {
            return false;
        }
        std::thread::sleep(Duration::from_millis(10));
    }
}

/// The process exists and is not a zombie.
pub fn pid_alive(pid: i32) -> bool {
    // SAFETY: kill with signal 0 only checks existence.
    let exists = pid > 0
        && (unsafe { libc::kill(pid, 0) } == 0
            || std::io::Error::last_os_error().raw_os_error() == Some(libc::EPERM));
    exists
        && std::fs::read_to_string(format!("/proc/{pid}/stat"))
            .map(|s| s.rsplit_once(')').is_none_or(|(_, rest)| !rest.trim_start().starts_with('Z')))
            .unwrap_or(true)
}

/// Read a file to a string, panicking with its path.
pub fn read(path: impl AsRef<Path>) -> String {
    let path = path.as_ref();
    std::fs::read_to_string(path).unwrap_or_else(|e| panic!("read {}: {e}", path.display()))
}

/// Report that (part of) a test could not run here and why. It is never a silent pass: the line
/// goes to stderr and to `$KILTER_TEST_SKIP_LOG` (counted by scripts/test.sh), and under
/// `CI=true` — where every tier this machine can run is required — it fails the test.
pub fn skipped(what: &str, why: &str) {
    // The log line first, so that scripts/test.sh lists it under CI too (where the test fails).
    if let Ok(log) = std::env::var("KILTER_TEST_SKIP_LOG") {
        use std::io::Write;
        if let Ok(mut f) = std::fs::OpenOptions::new().create(true).append(true).open(log) {
            let _ = writeln!(f, "{what}: {why}");
        }
    }
    assert!(!truthy("CI"), "{what} could not run ({why}), and CI=true requires it");
    eprintln!("SKIPPED {what}: {why}");
}

/// util-linux `script` (runs kilter under a pseudo-terminal), or `None` after reporting `what`
/// as skipped (see [`skipped`]).
pub fn script_or_skip(what: &str) -> Option<&'static Path> {
    let script = Path::new("/usr/bin/script");
    // util-linux's `script -qec CMD FILE`; BSD's script (macOS) takes other flags.
    let util_linux = std::process::Command::new(script)
        .arg("--version")
        .output()
        .is_ok_and(|o| String::from_utf8_lossy(&o.stdout).contains("util-linux"));
    if util_linux {
        Some(script)
    } else {
        skipped(what, "util-linux `script` (/usr/bin/script) is not installed");
        None
    }
}

/// `script -qec SHELL /dev/null` (the `script` of [`script_or_skip`]) in `dir`, with `env`'s
/// isolated environment and nothing else: `SHELL` runs under a pseudo-terminal, and `script` puts
/// the terminal's output (stdout and stderr both) on its stdout.
pub fn on_a_terminal(script: &Path, env: &Env, dir: &Path, shell: &str) -> std::process::Command {
    let mut cmd = std::process::Command::new(script);
    cmd.args(["-qec", shell, "/dev/null"]).current_dir(dir).env_clear().envs(env.vars());
    cmd
}

/// Run `cmd` (an [`on_a_terminal`] command) with `answer` and a newline typed on its terminal, and
/// wait for it: its exit status and what the terminal showed (on stdout).
pub fn answered(mut cmd: std::process::Command, answer: &str) -> std::process::Output {
    use std::io::Write;
    use std::process::Stdio;
    cmd.stdin(Stdio::piped()).stdout(Stdio::piped()).stderr(Stdio::piped());
    let mut child = cmd.spawn().expect("script");
    child.stdin.take().expect("stdin").write_all(format!("{answer}\n").as_bytes()).expect("answer");
    child.wait_with_output().expect("wait")
}

/// The environment variable is set to 1, true or yes (any case).
pub fn truthy(var: &str) -> bool {
    std::env::var(var)
        .is_ok_and(|s| matches!(s.to_ascii_lowercase().as_str(), "1" | "true" | "yes"))
}

/// A directory standing for a database pod's image beside its database programs: the POSIX
/// shell and the coreutils that kilter's stream checks run in the pod (`sh`, `mktemp`, `mkfifo`,
/// `tee`, `wc`, `sha256sum`, `cat`, `rm`) and `zstd`, as symlinks, and nothing else (no pager
/// for an interactive client to start).
pub fn pod_tools() -> std::path::PathBuf {
    pod_tools_in("pod-tools", &["zstd"])
}

/// [`pod_tools`] without `zstd`, as in the official postgres and mariadb images.
pub fn pod_tools_without_zstd() -> std::path::PathBuf {
    pod_tools_in("pod-tools-no-zstd", &[])
}

fn pod_tools_in(name: &str, extra: &[&str]) -> std::path::PathBuf {
    let dir = Path::new(env!("CARGO_TARGET_TMPDIR")).join(name);
    let base = ["sh", "mktemp", "mkfifo", "tee", "wc", "sha256sum", "cat", "rm"];
    for tool in base.iter().chain(extra) {
        let link = dir.join(tool);
        if link.exists() {
            continue;
        }
        let _ = std::fs::create_dir_all(&dir);
        let target = ["/usr/bin", "/bin"]
            .iter()
            .map(|d| Path::new(d).join(tool))
            .find(|p| p.exists())
            .unwrap_or_else(|| panic!("{tool} is not installed in /usr/bin or /bin"));
        // Another test may have made it meanwhile.
        let _ = std::os::unix::fs::symlink(target, &link);
    }
    dir
}

/// The first of `n` consecutive ports on 127.0.0.1 that are free now, taken from 20000–29999:
/// below the kernel's ephemeral range (32768–60999 by default, where every outgoing connection
/// and every `bind(0)` of a parallel test takes its port, so that a neighbour "free a moment
/// ago" can be gone a moment later) and outside kilter's own Tilt (10351–10488) and NodePort
/// (30000–32759) blocks. Each call in this process moves on from the last, and the start differs
/// per process, so parallel tests and parallel suites do not pick the same ports.
pub fn quiet_ports(n: u16) -> u16 {
    use std::sync::atomic::{AtomicU16, Ordering};
    const LOW: u16 = 20000;
    const SPAN: u16 = 10000;
    static NEXT: AtomicU16 = AtomicU16::new(u16::MAX);
    let _ = NEXT.compare_exchange(
        u16::MAX,
        (std::process::id() % u32::from(SPAN)) as u16,
        Ordering::SeqCst,
        Ordering::SeqCst,
    );
    for _ in 0..SPAN {
        let off = NEXT.fetch_add(n, Ordering::SeqCst) % (SPAN - n);
        let first = LOW + off;
        if (first..first + n).all(|p| std::net::TcpListener::bind(("127.0.0.1", p)).is_ok()) {
            return first;
        }
    }
    panic!("no {n} consecutive free ports in {LOW}-{}", LOW + SPAN - 1);
}
