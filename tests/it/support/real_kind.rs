//! The real-kind tier of the harness: [`Env::real_kind`] gives an environment where kilter drives
//! the REAL kind v0.32.0 and the REAL Tilt v0.37.6 against the machine's Docker engine. Only
//! `kubectl` is a stand-in: the fake kubectl in its real-Docker backend, which answers for a
//! node of the real kind once kubeadm init ran in it (tests/fake/README.md, "Real-Docker
//! backend"), because no API server runs in the stub node image.
//!
//! `bin/` holds `docker` = the real-tools docker shim (this engine cannot grant `--privileged`,
//! which kind asks for; the shim rewrites it and passes everything else to the real client
//! `REAL_DOCKER`, logging each call to `DOCKER_SHIM_LOG`), `kind` and `tilt` = the real binaries
//! unpacked into `target/real-tools/` (`KILTER_REAL_TOOLS_BIN`) by scripts/unpack-real-tools.sh,
//! `kubectl` = the fake.
//! PATH also has /usr/bin:/bin after `bin/`: Tilt runs its local resources with `sh -c`.
//! The node image is the stub one of scripts/build-kind-node-image.sh.
//!
//! Opt-in: every test of the tier is `#[ignore]`d and carries `real_kind` in its name;
//! `KILTER_REAL_KIND=1 cargo test --locked --test it real_kind -- --include-ignored
//! --test-threads=1` runs them. Without `KILTER_REAL_KIND=1`, or without the real-tools
//! directory (`KILTER_REAL_TOOLS`, default `../shared/real-tools` next to the repository), a
//! daemon, zstd or the image, a test reports itself skipped through `support::skipped`, which
//! fails it under `CI=true` (and `KILTER_REQUIRE_REAL_TOOLS=1` makes it a failure too).
//!
//! Isolation and cleanup: project names are unique (`rk<hex>-<tag>`); dropping the Env (also
//! after a panic) kills every process still running with this Env's `KILTER_FAKE_STATE` in its
//! environment (Tilt and whatever it started) and removes the node containers of its clusters.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::OnceLock;
use std::time::Duration;

use super::{Env, RealDocker, truthy};

/// The stub node image (scripts/build-kind-node-image.sh; `KILTER_KIND_NODE_IMAGE` there and
/// here): its tag is the version kind reads from the node's /kind/version.
fn node_image() -> String {
    std::env::var("KILTER_KIND_NODE_IMAGE").unwrap_or_else(|_| "kilter-kind-node:v1.36.1".into())
}

/// The real tools of one real-kind Env.
pub struct RealKind {
    /// The real kind, Tilt and the docker shim (symlinked into `bin/`).
    pub kind: PathBuf,
    pub tilt: PathBuf,
    pub shim: PathBuf,
    /// The node image projects ask for (`kind: image:` in kilter.yaml).
    pub image: String,
}

impl RealKind {
    /// Extra variables of a real-kind Env (after the common ones, so PATH is replaced).
    pub(super) fn vars(&self, env: &Env, docker: &Path) -> Vec<(&'static str, std::ffi::OsString)> {
        let mut path = env.bin().into_os_string();
        path.push(":/usr/bin:/bin");
        vec![
            ("PATH", path),
            ("REAL_DOCKER", docker.into()),
            ("DOCKER_SHIM_LOG", env.docker_shim_log().into()),
        ]
    }
}

fn repo() -> &'static Path {
    Path::new(env!("CARGO_MANIFEST_DIR"))
}

/// The real-tools directory: `KILTER_REAL_TOOLS`, else `../shared/real-tools` next to the repo.
pub fn real_tools_dir() -> PathBuf {
    std::env::var_os("KILTER_REAL_TOOLS")
        .map(PathBuf::from)
        .unwrap_or_else(|| repo().join("..").join("shared").join("real-tools"))
}

/// Where the binaries are unpacked: `KILTER_REAL_TOOLS_BIN`, else `target/real-tools`.
fn real_tools_bin() -> PathBuf {
    std::env::var_os("KILTER_REAL_TOOLS_BIN")
        .map(PathBuf::from)
        .unwrap_or_else(|| repo().join("target").join("real-tools"))
}

/// Run one of the repository's scripts once per test process; Err(its stderr) on failure.
fn script_once(cell: &'static OnceLock<Result<(), String>>, script: &str) -> Result<(), String> {
    cell.get_or_init(|| {
        let out = Command::new(repo().join("scripts").join(script))
            .env("KILTER_REAL_TOOLS", real_tools_dir())
            .env("KILTER_REAL_TOOLS_BIN", real_tools_bin())
            .output()
            .map_err(|e| format!("scripts/{script} does not run: {e}"))?;
        if out.status.success() {
            Ok(())
        } else {
            Err(format!(
                "scripts/{script} failed ({}): {}",
                out.status,
                String::from_utf8_lossy(&out.stderr).trim()
            ))
        }
    })
    .clone()
}

impl Env {
    /// An environment with the real kind, Tilt and docker (see the module docs), or None (after
    /// a loud skip message) when the real-kind tier is not enabled or not available here.
    pub fn real_kind() -> Option<Env> {
        let test = std::thread::current().name().unwrap_or("a real-kind test").to_owned();
        let skip = |why: &str| {
            super::skipped(
                &test,
                &format!(
                    "{why} (the real-kind tier: KILTER_REAL_KIND=1 cargo test --locked --test it real_kind -- --include-ignored --test-threads=1)"
                ),
            );
            None
        };
        if !truthy("KILTER_REAL_KIND") {
            return skip("KILTER_REAL_KIND is not set");
        }
        let required = truthy("KILTER_REQUIRE_REAL_TOOLS");
        let missing = |why: String| -> Option<Env> {
            assert!(!required, "real-kind tier required (KILTER_REQUIRE_REAL_TOOLS) but {why}");
            skip(&why)
        };
        let tools = real_tools_dir();
        let shim = tools.join("docker-privileged-shim.sh");
        if !shim.is_file() {
            return missing(format!(
                "the real-tools directory {} (KILTER_REAL_TOOLS) has no docker-privileged-shim.sh",
                tools.display()
            ));
        }
        static UNPACKED: OnceLock<Result<(), String>> = OnceLock::new();
        if let Err(e) = script_once(&UNPACKED, "unpack-real-tools.sh") {
            return missing(e);
        }
        let bin = match super::real::docker_client() {
            Ok(bin) => bin,
            Err(why) => return missing(why),
        };
        static IMAGE: OnceLock<Result<(), String>> = OnceLock::new();
        if let Err(e) = script_once(&IMAGE, "build-kind-node-image.sh") {
            return missing(e);
        }

        let kind = RealKind {
            kind: real_tools_bin().join("kind"),
            tilt: real_tools_bin().join("tilt"),
            shim,
            image: node_image(),
        };
        let mut env = Env::without(&["docker", "kind", "tilt"]);
        for (name, target) in [("docker", &kind.shim), ("kind", &kind.kind), ("tilt", &kind.tilt)] {
            std::os::unix::fs::symlink(target, env.bin().join(name)).unwrap();
        }
        env.real = Some(RealDocker::new(bin, node_image(), Some(kind)));
        // The real kind publishes the node's ports in the host's network namespace.
        env.net = None;
        super::netns::enter_host();
        Some(env)
    }

    /// `DOCKER_SHIM_LOG`: every docker call of kind and kilter, as the shim received it.
    pub fn docker_shim_log(&self) -> PathBuf {
        self.root().join("docker-shim.log")
    }

    /// The lines of [`Env::docker_shim_log`] (`docker <args shell-quoted>`).
    pub fn docker_shim_calls(&self) -> Vec<String> {
        std::fs::read_to_string(self.docker_shim_log())
            .unwrap_or_default()
            .lines()
            .map(str::to_owned)
            .collect()
    }

    /// The processes of this Env still running (Tilt, what Tilt started, any tool), found by
    /// walking /proc ([`Env::leftovers`]). As (pid, command line).
    pub fn scenario_processes(&self) -> Vec<(i32, String)> {
        self.leftovers().into_iter().map(|p| (p.pid, p.cmd)).collect()
    }

    /// Fails the test when a process of this Env is still running `within` from now (they are
    /// given that long to end), naming each.
    pub fn assert_no_leftover_processes(&self, within: Duration) {
        let mut left = Vec::new();
        let gone = super::wait_until(within, || {
            left = self.scenario_processes();
            left.is_empty()
        });
        assert!(
            gone,
            "{} process(es) of this scenario are still running:\n  {}",
            left.len(),
            left.iter().map(|(p, c)| format!("{p} {c}")).collect::<Vec<_>>().join("\n  ")
        );
    }
}

/// Kill what is left of a real-kind Env's processes (the Env is being dropped).
pub(super) fn kill_leftovers(env: &Env) {
    for _ in 0..5 {
        if env.leftovers().is_empty() {
            return;
        }
        env.kill_leftovers();
        std::thread::sleep(Duration::from_millis(100));
    }
}
