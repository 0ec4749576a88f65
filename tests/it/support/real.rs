//! The real-Docker tier of the harness: [`Env::real_docker`] gives an environment whose `docker`
//! is the REAL client talking to the machine's Docker engine, while `kind`/`kubectl`/`tilt` stay
//! the fakes (in their real-Docker backend, `KILTER_FAKE_DOCKER=real`: the fake kind creates real
//! node containers from `kilter-test-node:latest`).
//!
//! Opt-in: every test of the tier is `#[ignore]`d (so a plain `cargo test` lists it as ignored,
//! not passed) and carries `real_docker` in its name; `KILTER_REAL_DOCKER=1 cargo test --test it
//! real_docker -- --include-ignored` runs them (scripts/test.sh's real-docker stage). A test that
//! runs without `KILTER_REAL_DOCKER=1`, or finds no daemon or no test image, reports itself
//! skipped through `support::skipped` (a failure under `CI=true`); `KILTER_REQUIRE_REAL_TOOLS=1`
//! makes a missing daemon or image a failure too.
//!
//! Isolation: every Env hands out unique project names ([`Env::unique_name`]) whose NodePort
//! blocks are free, and its Drop removes (`docker rm -f -v`) every container labelled with its
//! own fake-state dir, also when the test panicked.

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::sync::{Mutex, OnceLock};

use super::Env;

/// Label the fake kind puts on real node containers: the `KILTER_FAKE_STATE` that made them.
pub const STATE_LABEL: &str = "io.kilter.fake.state";

pub struct RealDocker {
    /// The real docker client (`KILTER_FAKE_REAL_DOCKER`, default /usr/bin/docker).
    pub bin: PathBuf,
    /// The node image (`KILTER_FAKE_NODE_IMAGE`, default kilter-test-node:latest).
    pub image: String,
    /// Port slots handed out by this Env (released on drop).
    slots: Mutex<Vec<u16>>,
    /// Project names handed out by this Env: the clusters `kilter-<name>` are removed on drop
    /// (the real kind's nodes carry no state label).
    names: Mutex<Vec<String>>,
    /// The real kind, Tilt and docker shim of the real-kind tier (support/real_kind.rs).
    pub kind: Option<super::real_kind::RealKind>,
}

impl RealDocker {
    pub(super) fn new(
        bin: PathBuf,
        image: String,
        kind: Option<super::real_kind::RealKind>,
    ) -> Self {
        RealDocker {
            bin,
            image,
            slots: Mutex::new(Vec::new()),
            names: Mutex::new(Vec::new()),
            kind,
        }
    }
}

/// Slots reserved by the Envs alive in this test process.
static RESERVED: Mutex<BTreeSet<u16>> = Mutex::new(BTreeSet::new());

use super::truthy;

/// Run the real client with a minimal environment (no DOCKER_HOST: the default socket).
pub(super) fn bare(bin: &Path, args: &[&str]) -> std::io::Result<Output> {
    Command::new(bin)
        .args(args)
        .env_clear()
        .env("HOME", std::env::var_os("HOME").unwrap_or_else(|| "/root".into()))
        .env("PATH", "/usr/bin:/bin")
        .stdin(Stdio::null())
        .output()
}

/// The preferred port slot of a project name: 64-bit FNV-1a modulo 138, a second implementation
/// written from docs/files.md "Port slots" (the tier's names are random, so its expected ports
/// cannot be literals; `real_docker::the_tiers_slot_hash_gives_the_documented_slots` holds this
/// to literal values).
pub fn slot_of(name: &str) -> u16 {
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    for b in name.bytes() {
        h ^= u64::from(b);
        h = h.wrapping_mul(0x0000_0100_0000_01b3);
    }
    (h % 138) as u16
}

/// (Tilt port, first NodePort) of the preferred slot: what a project named by
/// [`Env::unique_name`] gets (its slot is free in its Env).
pub fn preferred_ports(name: &str) -> (u16, u16) {
    let slot = slot_of(name);
    (10351 + slot, 30000 + 20 * slot)
}

fn random_hex(n: usize) -> String {
    use std::io::Read as _;
    let mut buf = vec![0u8; n];
    std::fs::File::open("/dev/urandom").and_then(|mut f| f.read_exact(&mut buf)).unwrap();
    buf.iter().map(|b| format!("{b:02x}")).collect()
}

/// Remove node containers left behind by earlier, killed test runs (their state dir is gone).
fn sweep_orphans(bin: &Path) {
    let Ok(out) = bare(
        bin,
        &[
            "ps",
            "-a",
            "--filter",
            &format!("label={STATE_LABEL}"),
            "--format",
            &format!("{{{{.ID}}}}\t{{{{.Label \"{STATE_LABEL}\"}}}}"),
        ],
    ) else {
        return;
    };
    let orphans: Vec<String> = String::from_utf8_lossy(&out.stdout)
        .lines()
        .filter_map(|l| l.split_once('\t'))
        .filter(|(_, state)| !Path::new(state).exists())
        .map(|(id, _)| id.to_string())
        .collect();
    if !orphans.is_empty() {
        let mut args = vec!["rm", "-f", "-v"];
        args.extend(orphans.iter().map(String::as_str));
        let _ = bare(bin, &args);
    }
}

/// The real docker client (`KILTER_FAKE_REAL_DOCKER`, default /usr/bin/docker) with a daemon
/// that answers, or why not (the real-Docker and real-kind tiers).
pub(super) fn docker_client() -> Result<PathBuf, String> {
    let bin = PathBuf::from(
        std::env::var_os("KILTER_FAKE_REAL_DOCKER").unwrap_or_else(|| "/usr/bin/docker".into()),
    );
    if !bin.is_file() {
        return Err(format!("no docker client at {}", bin.display()));
    }
    match bare(&bin, &["info", "--format", "{{.ServerVersion}}"]) {
        Ok(o) if o.status.success() && !String::from_utf8_lossy(&o.stdout).trim().is_empty() => {
            Ok(bin)
        }
        Ok(o) => Err(format!(
            "no Docker daemon answers ({}); start one with scripts/dockerd.sh start",
            String::from_utf8_lossy(&o.stderr).trim()
        )),
        Err(e) => Err(format!("{} does not run: {e}", bin.display())),
    }
}

impl Env {
    /// An environment whose `docker` is the real client (see the module docs), or None (after
    /// a loud skip message) when the real-Docker tier is not enabled or not available.
    pub fn real_docker() -> Option<Env> {
        let test = std::thread::current().name().unwrap_or("a real-Docker test").to_owned();
        let skip = |why: &str| {
            super::skipped(
                &test,
                &format!(
                    "{why} (the real-Docker tier: KILTER_REAL_DOCKER=1 cargo test --test it real_docker -- --include-ignored, or scripts/test.sh)"
                ),
            );
            None
        };
        if !truthy("KILTER_REAL_DOCKER") {
            return skip("KILTER_REAL_DOCKER is not set");
        }
        let required = truthy("KILTER_REQUIRE_REAL_TOOLS");
        let missing = |why: String| -> Option<Env> {
            assert!(!required, "real-Docker tier required (KILTER_REQUIRE_REAL_TOOLS) but {why}");
            skip(&why)
        };
        let bin = match docker_client() {
            Ok(bin) => bin,
            Err(why) => return missing(why),
        };
        let image = std::env::var("KILTER_FAKE_NODE_IMAGE")
            .unwrap_or_else(|_| "kilter-test-node:latest".into());
        if !bare(&bin, &["image", "inspect", "--format", "{{.Id}}", &image])
            .is_ok_and(|o| o.status.success())
        {
            return missing(format!(
                "image {image} is missing; build it with scripts/build-test-image.sh"
            ));
        }
        static SWEPT: OnceLock<()> = OnceLock::new();
        SWEPT.get_or_init(|| sweep_orphans(&bin));

        let mut env = Env::without(&["docker"]);
        std::os::unix::fs::symlink(&bin, env.bin().join("docker")).unwrap();
        env.real = Some(RealDocker::new(bin, image, None));
        // Published ports live in the host's network namespace: the tier runs there.
        env.net = None;
        super::netns::enter_host();
        Some(env)
    }

    /// [`Env::real_docker`] that also needs `image` on the engine (built by `script`); None
    /// after a loud skip when it is missing (a failure under `KILTER_REQUIRE_REAL_TOOLS`).
    pub fn real_docker_with_image(image: &str, script: &str) -> Option<Env> {
        let env = Env::real_docker()?;
        let have = env
            .docker()
            .args(["image", "inspect", "--format", "{{.Id}}", image])
            .output()
            .expect("docker image inspect runs");
        if !have.status.success() {
            assert!(!truthy("KILTER_REQUIRE_REAL_TOOLS"), "image {image} is missing: run {script}");
            super::skipped(
                std::thread::current().name().unwrap_or("a real-Docker test"),
                &format!("image {image} is missing ({script})"),
            );
            return None;
        }
        Some(env)
    }

    pub fn real(&self) -> &RealDocker {
        self.real.as_ref().expect("not a real-Docker Env")
    }

    /// Extra variables of a real-Docker Env (added to `vars()`).
    pub(super) fn real_vars(&self) -> Vec<(&'static str, std::ffi::OsString)> {
        match &self.real {
            None => Vec::new(),
            Some(r) => {
                let mut v = vec![
                    ("KILTER_FAKE_DOCKER", "real".into()),
                    ("KILTER_FAKE_REAL_DOCKER", r.bin.clone().into()),
                    ("KILTER_FAKE_NODE_IMAGE", r.image.clone().into()),
                    // The shared registry is one set of machine-wide containers: tests that want
                    // it turn it on with their own name prefix and port (real_docker_registry.rs).
                    ("KILTER_REGISTRY", "off".into()),
                    // Likewise the router (real_docker_router.rs turns it on under its own name).
                    ("KILTER_ROUTER", "off".into()),
                ];
                if let Some(k) = &r.kind {
                    v.extend(k.vars(self, &r.bin));
                }
                v
            }
        }
    }

    /// A project name unique to this run (`rd<hex>-<tag>`; `rk<hex>-<tag>` in the real-kind tier)
    /// whose port slot no other live Env of
    /// this process holds and whose NodePort block is free on 127.0.0.1.
    pub fn unique_name(&self, tag: &str) -> String {
        let real = self.real();
        for _ in 0..500 {
            let prefix = if real.kind.is_some() { "rk" } else { "rd" };
            let name = format!("{prefix}{}-{tag}", random_hex(3));
            let slot = slot_of(&name);
            let mut reserved = RESERVED.lock().unwrap();
            if reserved.contains(&slot) {
                continue;
            }
            let base = 30000 + 20 * slot;
            let free = (base..base + 20)
                .all(|p| std::net::TcpListener::bind(("127.0.0.1", p)).is_ok())
                && std::net::TcpListener::bind(("127.0.0.1", 10351 + slot)).is_ok();
            if !free {
                continue;
            }
            reserved.insert(slot);
            real.slots.lock().unwrap().push(slot);
            real.names.lock().unwrap().push(name.clone());
            return name;
        }
        panic!("no free port slot for a real-Docker test project");
    }

    /// The real docker client with this Env's environment.
    pub fn docker(&self) -> Command {
        let mut cmd = Command::new(self.bin().join("docker"));
        cmd.env_clear().envs(self.vars()).current_dir(self.root()).stdin(Stdio::null());
        cmd
    }

    /// `docker <args>`; panics on failure; stdout.
    pub fn docker_ok(&self, args: &[&str]) -> String {
        let out = self.docker().args(args).output().unwrap();
        assert!(
            out.status.success(),
            "docker {args:?} failed: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8(out.stdout).unwrap()
    }

    /// `docker inspect --type container NAME` from the real engine, or None when it is absent.
    pub fn inspect(&self, name: &str) -> Option<serde_json::Value> {
        let out = self.docker().args(["inspect", "--type", "container", name]).output().unwrap();
        if !out.status.success() {
            return None;
        }
        let mut v: Vec<serde_json::Value> = serde_json::from_slice(&out.stdout).unwrap();
        v.pop()
    }

    /// Remove every real container this Env's fake kind created (label = its state dir), and the
    /// nodes of the clusters named after its projects (whichever kind made them); in the real-kind
    /// tier, first kill the processes left of its Tilts.
    pub(super) fn real_cleanup(&self) {
        let Some(r) = &self.real else { return };
        if r.kind.is_some() {
            super::real_kind::kill_leftovers(self);
        }
        let names = r.names.lock().unwrap_or_else(|e| e.into_inner()).clone();
        let filters =
            std::iter::once(format!("label={STATE_LABEL}={}", self.state_dir().display()))
                .chain(names.iter().map(|n| format!("label=io.x-k8s.kind.cluster=kilter-{n}")));
        for filter in filters {
            let Ok(out) = bare(&r.bin, &["ps", "-aq", "--filter", &filter]) else { continue };
            let ids: Vec<String> =
                String::from_utf8_lossy(&out.stdout).lines().map(str::to_string).collect();
            if !ids.is_empty() {
                let mut args = vec!["rm", "-f", "-v"];
                args.extend(ids.iter().map(String::as_str));
                let _ = bare(&r.bin, &args);
            }
        }
        let mine = std::mem::take(&mut *r.slots.lock().unwrap_or_else(|e| e.into_inner()));
        let mut reserved = RESERVED.lock().unwrap_or_else(|e| e.into_inner());
        for s in mine {
            reserved.remove(&s);
        }
    }
}
