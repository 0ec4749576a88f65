//! The shared local registry against a REAL Docker engine and a REAL registry server: Debian's
//! `docker-registry` (distribution 2.8) in the offline image `kilter-test-registry:latest`
//! (scripts/build-registry-image.sh), passed to kilter as `KILTER_REGISTRY_IMAGE`. The fake kind
//! puts its real node containers on the `kind` network as kind does, so the node reaches the
//! registry and the caches by name.
//!
//! Each test gets its own name prefix (`KILTER_REGISTRY_PREFIX`) and port, so the tests run in
//! parallel on one engine, and removes its containers and volumes when it ends (also on panic).
//! Opt-in like the rest of the real-Docker tier (`KILTER_REAL_DOCKER=1`).

use std::path::PathBuf;
use std::process::Output;
use std::time::Duration;

use crate::helpers::*;
use crate::support::{Env, wait_until};

const CACHES: [&str; 4] = ["docker.io", "ghcr.io", "quay.io", "registry.k8s.io"];

fn registry_image() -> String {
    std::env::var("KILTER_REGISTRY_TEST_IMAGE")
        .unwrap_or_else(|_| "kilter-test-registry:latest".into())
}

/// A real-Docker Env with the registry turned on under a unique prefix; None after a skip.
struct Reg {
    env: Env,
    prefix: String,
    port: u16,
    extra: Vec<(String, String)>,
}

impl Reg {
    fn new(tag: &str) -> Option<Reg> {
        let env =
            Env::real_docker_with_image(&registry_image(), "scripts/build-registry-image.sh")?;
        let prefix = format!("kr{}-{tag}", &env.unique_name("x")[2..8]);
        // The registry may move one port up: keep the next one free too.
        let port = crate::support::quiet_ports(2);
        Some(Reg { env, prefix, port, extra: Vec::new() })
    }

    fn vars(&self) -> Vec<(String, String)> {
        let mut v = vec![
            ("KILTER_REGISTRY".to_owned(), "on".to_owned()),
            ("KILTER_REGISTRY_IMAGE".to_owned(), registry_image()),
            ("KILTER_REGISTRY_PREFIX".to_owned(), self.prefix.clone()),
            ("KILTER_REGISTRY_PORT".to_owned(), self.port.to_string()),
        ];
        v.extend(self.extra.iter().cloned());
        v
    }

    fn project(&self, tag: &str, yaml_extra: &str) -> (String, PathBuf) {
        let name = self.env.unique_name(tag);
        let dir = project(&self.env, &name, Some(&format!("name: {name}\n{yaml_extra}")), false);
        (name, dir)
    }

    fn kilter(&self, dir: &std::path::Path, args: &[&str]) -> Output {
        self.env.kilter(dir).envs(self.vars()).args(args).output().expect("kilter runs")
    }

    fn kilter_ok(&self, dir: &std::path::Path, args: &[&str]) -> Output {
        let out = self.kilter(dir, args);
        assert!(
            out.status.success(),
            "kilter {args:?} failed ({:?})\nstderr:\n{}\nstdout:\n{}",
            out.status.code(),
            stderr_of(&out),
            stdout_of(&out)
        );
        out
    }

    fn registry(&self) -> String {
        format!("{}-registry", self.prefix)
    }
    fn cache(&self, u: &str) -> String {
        format!("{}-cache-{u}", self.prefix)
    }
    fn names(&self) -> Vec<String> {
        let mut v = vec![self.registry()];
        v.extend(CACHES.iter().map(|u| self.cache(u)));
        v
    }

    /// Names of this test's containers (any state) and volumes on the engine.
    fn leftovers(&self) -> (Vec<String>, Vec<String>) {
        let ps = self.env.docker_ok(&[
            "ps",
            "-a",
            "--filter",
            &format!("name={}-", self.prefix),
            "--format",
            "{{.Names}}",
        ]);
        let vols = self.env.docker_ok(&[
            "volume",
            "ls",
            "--filter",
            &format!("name={}-", self.prefix),
            "--format",
            "{{.Name}}",
        ]);
        let lines = |s: String| s.lines().map(str::to_owned).filter(|l| !l.is_empty()).collect();
        (lines(ps), lines(vols))
    }
}

impl Drop for Reg {
    fn drop(&mut self) {
        let (containers, volumes) = self.leftovers();
        if !containers.is_empty() {
            let mut args = vec!["rm", "-f", "-v"];
            args.extend(containers.iter().map(String::as_str));
            let _ = self.env.docker().args(&args).output();
        }
        if !volumes.is_empty() {
            let mut args = vec!["volume", "rm", "-f"];
            args.extend(volumes.iter().map(String::as_str));
            let _ = self.env.docker().args(&args).output();
        }
    }
}

/// `GET http://127.0.0.1:PORT/PATH` (HTTP/1.0, no client library): the body.
fn http_get(port: u16, path: &str) -> Option<String> {
    use std::io::{Read, Write};
    let mut s = std::net::TcpStream::connect(("127.0.0.1", port)).ok()?;
    s.set_read_timeout(Some(Duration::from_secs(10))).ok()?;
    write!(s, "GET {path} HTTP/1.0\r\nHost: 127.0.0.1\r\n\r\n").ok()?;
    let mut out = String::new();
    s.read_to_string(&mut out).ok()?;
    let (head, body) = out.split_once("\r\n\r\n")?;
    head.starts_with("HTTP/1.0 200")
        .then(|| body.to_owned())
        .or_else(|| head.starts_with("HTTP/1.1 200").then(|| body.to_owned()))
}

/// Make sure the `kind` network exists (under the fake kind's own lock: older engines allow
/// two networks of one name).
fn ensure_kind_network(env: &Env) {
    let lock = std::fs::OpenOptions::new()
        .create(true)
        .truncate(false)
        .write(true)
        .open(std::env::temp_dir().join("kilter-fake-kind-network.lock"))
        .expect("lock file");
    lock.lock().expect("lock");
    if env.docker_ok(&["network", "ls", "-q", "--filter", "name=^kind$"]).trim().is_empty() {
        env.docker_ok(&["network", "create", "-d=bridge", "kind"]);
    }
}

fn network_of(env: &Env, name: &str) -> bool {
    env.inspect(name).is_some_and(|c| c["NetworkSettings"]["Networks"].get("kind").is_some())
}

#[test]
#[ignore = "real-Docker tier: KILTER_REAL_DOCKER=1 and --include-ignored"]
fn real_registry_up_creates_it_a_second_project_reuses_it_and_pushed_images_land_in_it() {
    let Some(mut reg) = Reg::new("push") else { return };
    // Offline, a cache whose upstream cannot be reached exits (and docker restarts it): point
    // every cache at this test's own registry.
    let own = format!("http://{}:5000", reg.registry());
    let upstreams: Vec<String> = CACHES.iter().map(|u| format!("{u}={own}")).collect();
    reg.extra.push(("KILTER_CACHE_UPSTREAMS".into(), upstreams.join(",")));
    let env = &reg.env;
    let (a, dir_a) = reg.project("a", "");
    reg.kilter_ok(&dir_a, &["up"]);
    let running = |n: &str| env.inspect(n).is_some_and(|c| c["State"]["Status"] == "running");
    assert!(
        wait_until(Duration::from_secs(30), || reg.names().iter().all(|n| running(n))),
        "every shared container runs"
    );

    // The registry: running, published on loopback, its volume, unless-stopped, on kind.
    let c = env.inspect(&reg.registry()).expect("the registry exists");
    assert_eq!(c["State"]["Status"], "running");
    assert_eq!(c["HostConfig"]["RestartPolicy"]["Name"], "unless-stopped");
    assert_eq!(c["HostConfig"]["PortBindings"]["5000/tcp"][0]["HostIp"], "127.0.0.1");
    assert_eq!(c["HostConfig"]["PortBindings"]["5000/tcp"][0]["HostPort"], reg.port.to_string());
    assert!(network_of(env, &reg.registry()), "connected to kind");
    let (_, volumes) = reg.leftovers();
    for n in reg.names() {
        assert!(volumes.contains(&n), "volume {n}: {volumes:?}");
        let c = env.inspect(&n).expect("exists");
        assert_eq!(c["State"]["Status"], "running", "{n}");
        assert!(network_of(env, &n), "{n} on kind");
    }

    // The node's hosts.toml files, read with the real docker.
    let node_a = format!("kilter-{a}-control-plane");
    let hosts = env.docker_ok(&[
        "exec",
        &node_a,
        "cat",
        &format!("/etc/containerd/certs.d/localhost:{}/hosts.toml", reg.port),
    ]);
    assert_eq!(hosts, format!("[host.\"http://{}:5000\"]\n", reg.registry()));
    let hub =
        env.docker_ok(&["exec", &node_a, "cat", "/etc/containerd/certs.d/docker.io/hosts.toml"]);
    assert!(hub.contains(&format!("[host.\"http://{}:5000\"]", reg.cache("docker.io"))), "{hub}");

    // A second project reuses the same registry and only wires its own node.
    let id = env.inspect(&reg.registry()).expect("registry")["Id"].clone();
    let (b, dir_b) = reg.project("b", "");
    let out = reg.kilter_ok(&dir_b, &["up"]);
    assert!(!stderr_of(&out).contains("docker run"), "{}", stderr_of(&out));
    assert_eq!(env.inspect(&reg.registry()).expect("registry")["Id"], id);
    let node_b = format!("kilter-{b}-control-plane");
    env.docker_ok(&["exec", &node_b, "cat", "/etc/containerd/certs.d/quay.io/hosts.toml"]);

    // The real docker client pushes to 127.0.0.1:<port>; the catalog lists the image.
    let target = format!("127.0.0.1:{}/kilter-probe:1", reg.port);
    env.docker_ok(&["tag", &env.real().image, &target]);
    let pushed = env.docker().args(["push", &target]).output().unwrap();
    let _ = env.docker().args(["rmi", &target]).output();
    assert!(pushed.status.success(), "push: {}", String::from_utf8_lossy(&pushed.stderr));
    let catalog = http_get(reg.port, "/v2/_catalog").expect("catalog answers");
    assert!(catalog.contains("\"kilter-probe\""), "{catalog}");
    // The node reaches the registry by the name its hosts.toml uses (Docker DNS on kind).
    let seen = env.docker_ok(&[
        "exec",
        &node_b,
        "wget",
        "-qO-",
        &format!("http://{}:5000/v2/_catalog", reg.registry()),
    ]);
    assert!(seen.contains("kilter-probe"), "{seen}");

    // `stop` and `destroy` of a project leave the shared containers alone.
    reg.kilter_ok(&dir_a, &["destroy", "--yes"]);
    assert_eq!(env.inspect(&reg.registry()).expect("registry")["State"]["Status"], "running");

    // `registry rm --volumes` removes everything.
    reg.kilter_ok(&dir_b, &["registry", "rm", "--yes", "--volumes"]);
    assert_eq!(reg.leftovers(), (Vec::new(), Vec::new()), "no container, no volume left");
}

#[test]
#[ignore = "real-Docker tier: KILTER_REAL_DOCKER=1 and --include-ignored"]
fn real_registry_a_pull_through_cache_serves_an_image_also_after_its_upstream_stopped() {
    let Some(mut reg) = Reg::new("cache") else { return };
    let upstream = format!("{}-upstream", reg.prefix);
    reg.extra.push(("KILTER_CACHE_UPSTREAMS".into(), format!("docker.io=http://{upstream}:5000")));
    let env = &reg.env;
    ensure_kind_network(env);
    // A local "upstream" registry on the kind network, with one image in it.
    env.docker_ok(&[
        "run",
        "-d",
        "--name",
        &upstream,
        "--network",
        "kind",
        "-p",
        "127.0.0.1::5000",
        &registry_image(),
    ]);
    let port_line = env.docker_ok(&["port", &upstream, "5000/tcp"]);
    let up_port: u16 = port_line
        .lines()
        .next()
        .and_then(|l| l.rsplit(':').next())
        .and_then(|p| p.trim().parse().ok())
        .expect("port");
    assert!(
        wait_until(Duration::from_secs(20), || http_get(up_port, "/v2/").is_some()),
        "upstream answers"
    );
    let target = format!("127.0.0.1:{up_port}/library/probe:1");
    env.docker_ok(&["tag", &env.real().image, &target]);
    let pushed = env.docker().args(["push", &target]).output().unwrap();
    let _ = env.docker().args(["rmi", &target]).output();
    assert!(pushed.status.success(), "push: {}", String::from_utf8_lossy(&pushed.stderr));

    let (name, dir) = reg.project("c", "");
    reg.kilter_ok(&dir, &["up"]);
    let node = format!("kilter-{name}-control-plane");
    let hub =
        env.docker_ok(&["exec", &node, "cat", "/etc/containerd/certs.d/docker.io/hosts.toml"]);
    assert!(hub.starts_with(&format!("server = \"http://{upstream}:5000\"")), "{hub}");

    assert!(
        wait_until(Duration::from_secs(30), || env
            .inspect(&reg.cache("docker.io"))
            .is_some_and(|c| c["State"]["Status"] == "running")),
        "the cache runs"
    );

    // Pull through the cache from the node, as containerd would: the manifest, then every blob.
    let cache = reg.cache("docker.io");
    let get = |path: &str| -> Output {
        env.docker()
            .args([
                "exec",
                &node,
                "wget",
                "-qO-",
                "--header",
                "Accept: application/vnd.docker.distribution.manifest.v2+json",
                &format!("http://{cache}:5000{path}"),
            ])
            .output()
            .unwrap()
    };
    let pull = || -> Vec<String> {
        let m = get("/v2/library/probe/manifests/1");
        assert!(
            m.status.success(),
            "manifest through the cache: {}",
            String::from_utf8_lossy(&m.stderr)
        );
        let manifest: serde_json::Value = serde_json::from_slice(&m.stdout).expect("manifest json");
        let mut digests = vec![manifest["config"]["digest"].as_str().expect("config").to_owned()];
        digests.extend(
            manifest["layers"]
                .as_array()
                .expect("layers")
                .iter()
                .map(|l| l["digest"].as_str().unwrap().to_owned()),
        );
        for d in &digests {
            let b = get(&format!("/v2/library/probe/blobs/{d}"));
            assert!(
                b.status.success() && !b.stdout.is_empty(),
                "blob {d}: {}",
                String::from_utf8_lossy(&b.stderr)
            );
        }
        digests
    };
    let first = pull();
    let catalog = env.docker_ok(&[
        "exec",
        &node,
        "wget",
        "-qO-",
        &format!("http://{cache}:5000/v2/_catalog"),
    ]);
    assert!(catalog.contains("library/probe"), "the cache's catalog lists it: {catalog}");

    // The upstream goes away; the cache still serves the image.
    env.docker_ok(&["stop", &upstream]);
    assert_eq!(pull(), first, "served from the cache after the upstream stopped");
}

#[test]
#[ignore = "real-Docker tier: KILTER_REAL_DOCKER=1 and --include-ignored"]
fn real_registry_a_busy_port_moves_it_to_the_next_one() {
    let Some(reg) = Reg::new("port") else { return };
    let holder =
        std::net::TcpListener::bind(("127.0.0.1", reg.port)).expect("hold the preferred port");
    let (_, dir) = reg.project("p", "");
    let out = reg.kilter_ok(&dir, &["up"]);
    assert!(
        stderr_of(&out).contains(&format!("port {} is in use by another program", reg.port)),
        "{}",
        stderr_of(&out)
    );
    let mapped = reg.env.docker_ok(&["port", &reg.registry(), "5000/tcp"]);
    assert!(
        mapped.starts_with(&format!("127.0.0.1:{}", reg.port + 1)),
        "held {}, mapped {mapped}",
        reg.port
    );
    assert!(http_get(reg.port + 1, "/v2/").is_some(), "the registry answers on the next port");
    drop(holder);
}

#[test]
#[ignore = "real-Docker tier: KILTER_REAL_DOCKER=1 and --include-ignored"]
fn real_registry_false_creates_nothing() {
    let Some(reg) = Reg::new("off") else { return };
    let (name, dir) = reg.project("n", "registry: false\n");
    reg.kilter_ok(&dir, &["up"]);
    assert_eq!(reg.leftovers(), (Vec::new(), Vec::new()));
    let node = format!("kilter-{name}-control-plane");
    let out = reg
        .env
        .docker()
        .args(["exec", &node, "cat", "/etc/containerd/certs.d/docker.io/hosts.toml"])
        .output()
        .unwrap();
    assert!(!out.status.success(), "no hosts.toml written");
}

/// A real containerd (Debian's `containerd` package; `containerd` and `ctr` link only libc) run
/// inside the node container pulls through the `hosts.toml` files kilter wrote: `localhost:<port>`
/// reaches the registry, `docker.io` the pull-through cache. Unprivileged, so content is fetched
/// (`ctr content fetch`), not unpacked into a snapshot (that needs mounts).
#[test]
#[ignore = "real-Docker tier: KILTER_REAL_DOCKER=1 and --include-ignored"]
fn real_registry_containerd_pulls_through_the_hosts_toml_wiring() {
    let bins = ["/usr/bin/containerd", "/usr/bin/ctr"];
    if let Some(missing) = bins.iter().find(|b| !std::path::Path::new(b).exists()) {
        let required = crate::support::truthy("KILTER_REQUIRE_REAL_TOOLS");
        assert!(!required, "{missing} is missing: apt-get install containerd");
        crate::support::skipped(
            "real_docker_registry::real_registry_containerd_pulls_through_the_hosts_toml_wiring",
            &format!("{missing} is missing (apt-get install containerd)"),
        );
        return;
    }
    let Some(mut reg) = Reg::new("ctrd") else { return };
    let own = format!("http://{}:5000", reg.registry());
    let upstreams: Vec<String> = CACHES.iter().map(|u| format!("{u}={own}")).collect();
    reg.extra.push(("KILTER_CACHE_UPSTREAMS".into(), upstreams.join(",")));
    let env = &reg.env;
    let (name, dir) = reg.project("d", "");
    reg.kilter_ok(&dir, &["up"]);
    let node = format!("kilter-{name}-control-plane");
    let cache = reg.cache("docker.io");
    assert!(
        wait_until(Duration::from_secs(30), || env
            .inspect(&cache)
            .is_some_and(|c| c["State"]["Status"] == "running")),
        "the cache runs"
    );
    // One image in the registry (the cache's upstream here is the registry itself).
    let target = format!("127.0.0.1:{}/library/kilter-probe:1", reg.port);
    env.docker_ok(&["tag", &env.real().image, &target]);
    let pushed = env.docker().args(["push", &target]).output().unwrap();
    let _ = env.docker().args(["rmi", &target]).output();
    assert!(pushed.status.success(), "push: {}", String::from_utf8_lossy(&pushed.stderr));

    // containerd and ctr (and the libc they link) into the node, then containerd in the background.
    env.docker_ok(&["exec", &node, "mkdir", "-p", "/lib/x86_64-linux-gnu", "/lib64", "/opt/ctrd"]);
    for (from, to) in [
        ("/lib/x86_64-linux-gnu/libc.so.6", "/lib/x86_64-linux-gnu/"),
        ("/lib64/ld-linux-x86-64.so.2", "/lib64/"),
        ("/usr/bin/containerd", "/opt/ctrd/"),
        ("/usr/bin/ctr", "/opt/ctrd/"),
    ] {
        env.docker_ok(&["cp", "-L", from, &format!("{node}:{to}")]);
    }
    env.docker_ok(&[
        "exec",
        "-d",
        &node,
        "sh",
        "-c",
        "mkdir -p /tmp/ctrd && exec /opt/ctrd/containerd --root /tmp/ctrd/root --state /tmp/ctrd/state --address /tmp/ctrd/sock > /tmp/ctrd/log 2>&1",
    ]);
    let ctr = |args: &[&str]| -> Output {
        let mut a = vec!["exec", node.as_str(), "/opt/ctrd/ctr", "--address", "/tmp/ctrd/sock"];
        a.extend_from_slice(args);
        env.docker().args(&a).output().unwrap()
    };
    assert!(
        wait_until(Duration::from_secs(20), || ctr(&["version"]).status.success()),
        "containerd does not start in the node: {}",
        env.docker_ok(&["exec", &node, "cat", "/tmp/ctrd/log"])
    );
    let fetch = |image: &str| {
        let out = ctr(&["content", "fetch", "--hosts-dir", "/etc/containerd/certs.d", image]);
        assert!(
            out.status.success(),
            "ctr content fetch {image}: {}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
    };
    // docker.io goes to the pull-through cache, which fetches from its upstream (first, while
    // containerd's content store is empty, so that every blob travels through the cache).
    fetch("docker.io/library/kilter-probe:1");
    let catalog = env.docker_ok(&[
        "exec",
        &node,
        "wget",
        "-qO-",
        &format!("http://{cache}:5000/v2/_catalog"),
    ]);
    assert!(catalog.contains("library/kilter-probe"), "the cache served it: {catalog}");
    // localhost:<port> inside the node is nothing; hosts.toml sends it to the registry by name.
    fetch(&format!("localhost:{}/library/kilter-probe:1", reg.port));
}

/// On a real engine: `docker create --name <kilter's registry name> …` (no
/// kilter label). `registry start|stop|rm` refuse with exit 1 and leave it exactly as it was;
/// `up` goes on without the registry. Then a same-named volume of the user's: never mounted.
#[test]
#[ignore = "real-Docker tier: KILTER_REAL_DOCKER=1 and --include-ignored"]
fn real_registry_a_same_named_container_or_volume_of_the_users_is_never_touched() {
    let Some(reg) = Reg::new("theirs") else { return };
    let env = &reg.env;
    let name = reg.registry();
    let id = env.docker_ok(&["create", "--name", &name, &registry_image()]).trim().to_owned();
    let (_, dir) = reg.project("a", "");
    for verb in [&["registry", "start"][..], &["registry", "stop"], &["registry", "rm", "--yes"]] {
        let out = reg.kilter(&dir, verb);
        let err = stderr_of(&out);
        assert_eq!(out.status.code(), Some(1), "{verb:?}: {err}");
        assert!(err.contains(&format!("docker container {name} is in the way")), "{err}");
    }
    let out = reg.kilter_ok(&dir, &["up", "--no-tilt"]);
    let err = stderr_of(&out);
    assert!(err.contains("warning: the local registry could not be set up"), "{err}");
    assert!(err.contains(&format!("{name} is in the way")), "{err}");
    let c = env.inspect(&name).expect("the user's container is still there");
    assert_eq!(c["Id"].as_str(), Some(id.as_str()), "the same container");
    assert_eq!(c["State"]["Status"], "created", "never started");
    assert!(c["NetworkSettings"]["Networks"].get("kind").is_none(), "never connected to kind");
    assert!(c["Config"]["Labels"].get("io.kilter.shared").is_none());
    for u in CACHES {
        assert!(env.inspect(&reg.cache(u)).is_none(), "nothing created next to it");
    }

    // A volume of the user's with the registry's name: `registry start` refuses to mount it.
    env.docker_ok(&["rm", &name]);
    env.docker_ok(&["volume", "create", &name]);
    let out = reg.kilter(&dir, &["registry", "start"]);
    let err = stderr_of(&out);
    assert_eq!(out.status.code(), Some(1), "{err}");
    assert!(err.contains(&format!("docker volume {name} is in the way")), "{err}");
    assert!(env.inspect(&name).is_none(), "no container made on the user's volume");
    let (containers, _) = reg.leftovers();
    assert!(containers.is_empty(), "{containers:?}");
    let labels = env.docker_ok(&["volume", "inspect", "--format", "{{json .Labels}}", &name]);
    assert!(!labels.contains("io.kilter"), "the volume is untouched: {labels}");
}
