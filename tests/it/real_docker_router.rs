//! The shared router against a REAL Docker engine and a REAL Caddy: Debian's `caddy` in the
//! offline image `kilter-test-router:latest` (scripts/build-router-image.sh), passed to kilter as
//! `KILTER_ROUTER_IMAGE`. The fake kind puts real node containers (busybox) on the `kind`
//! network; each test starts busybox `httpd` in a node on a service's NodePort, so the router
//! really proxies to `<node>:<NodePort>`, and asks the router with a `Host:` header (what curl
//! and browsers send for `http://<name>.<project>.localhost`).
//!
//! Each test gets its own router name (`KILTER_REGISTRY_PREFIX`) and port (`KILTER_ROUTER_PORT`)
//! so the tests run in parallel on one engine; the one test that takes port 80 itself is the
//! only one that uses it. Each removes its router when it ends (also on panic). Opt-in like the
//! rest of the real-Docker tier (`KILTER_REAL_DOCKER=1`).

use std::io::{Read as _, Write as _};
use std::path::{Path, PathBuf};
use std::process::Output;
use std::time::Duration;

use crate::helpers::*;
use crate::support::{Env, wait_until};

fn router_image() -> String {
    std::env::var("KILTER_ROUTER_TEST_IMAGE").unwrap_or_else(|_| "kilter-test-router:latest".into())
}

/// A real-Docker Env with the router on, under a unique name and port; None after a skip.
struct Rt {
    env: Env,
    prefix: String,
    /// `KILTER_ROUTER_PORT` (None: kilter's default, 80).
    port: Option<u16>,
}

impl Rt {
    fn new(tag: &str, port: Option<u16>) -> Option<Rt> {
        let env = Env::real_docker_with_image(&router_image(), "scripts/build-router-image.sh")?;
        let prefix = format!("kt{}-{tag}", &env.unique_name("x")[2..8]);
        Some(Rt { env, prefix, port })
    }

    fn name(&self) -> String {
        format!("{}-router", self.prefix)
    }

    fn vars(&self) -> Vec<(String, String)> {
        let mut v = vec![
            ("KILTER_ROUTER".to_owned(), "on".to_owned()),
            ("KILTER_ROUTER_IMAGE".to_owned(), router_image()),
            ("KILTER_REGISTRY_PREFIX".to_owned(), self.prefix.clone()),
        ];
        if let Some(p) = self.port {
            v.push(("KILTER_ROUTER_PORT".to_owned(), p.to_string()));
        }
        v
    }

    /// A project with a mailpit service (a web UI: a name on the router).
    fn project(&self, tag: &str) -> (String, PathBuf) {
        let name = self.env.unique_name(tag);
        let yaml = format!("name: {name}\nservices:\n  - mailpit\n");
        let dir = project(&self.env, &name, Some(&yaml), false);
        (name, dir)
    }

    /// The same with an app kilter renders (a package.json with a `dev` script).
    fn project_with_app(&self, tag: &str) -> (String, PathBuf) {
        let (name, dir) = self.project(tag);
        let app = Path::new(env!("CARGO_MANIFEST_DIR")).join("fixtures/apps/node-plain");
        for f in ["package.json", "server.js"] {
            std::fs::copy(app.join(f), dir.join(f)).expect("copy the app");
        }
        (name, dir)
    }

    /// Serve `body` with busybox httpd in `project`'s node on NodePort `np`.
    fn serve_on(&self, project: &str, np: u64, body: &str) {
        let node = format!("kilter-{project}-control-plane");
        let www = format!("/tmp/www-{np}");
        let script = format!(
            "mkdir -p {www} && printf '%s' '{body}' > {www}/index.html && httpd -p {np} -h {www}"
        );
        self.env.docker_ok(&["exec", &node, "sh", "-c", &script]);
    }

    fn kilter(&self, dir: &Path, args: &[&str]) -> Output {
        self.env.kilter(dir).envs(self.vars()).args(args).output().expect("kilter runs")
    }

    fn kilter_ok(&self, dir: &Path, args: &[&str]) -> Output {
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

    /// The host port the router is published on.
    fn host_port(&self) -> u16 {
        let c = self.env.inspect(&self.name()).expect("the router exists");
        c["HostConfig"]["PortBindings"]["80/tcp"][0]["HostPort"]
            .as_str()
            .and_then(|p| p.parse().ok())
            .expect("published")
    }

    /// Serve `body` with busybox httpd in `project`'s node on the NodePort of its mailpit UI.
    fn serve(&self, project: &str, body: &str) -> u16 {
        let reg: serde_json::Value = serde_json::from_str(
            &std::fs::read_to_string(self.env.state_home().join("kilter/ports.json"))
                .expect("ports.json"),
        )
        .expect("json");
        let np = reg["projects"][project]["services"]["mailpit"]["http"].as_u64().expect("np");
        self.serve_on(project, np, body);
        if let Some(app) = reg["projects"][project]["app"].as_u64() {
            self.serve_on(project, app, &format!("app of {project}"));
        }
        np as u16
    }
}

impl Drop for Rt {
    fn drop(&mut self) {
        let _ = self.env.docker().args(["rm", "-f", &self.name()]).output();
    }
}

/// A port nothing listens on now (see [`crate::support::quiet_ports`]).
fn free_port() -> u16 {
    crate::support::quiet_ports(1)
}

/// `GET /` to 127.0.0.1:`port` with `Host: host`: (status, body), or None when nothing answers.
fn get(port: u16, host: &str) -> Option<(u16, String)> {
    try_get(port, host).ok()
}

/// [`get`], saying what went wrong: the connection, the request, the read, or the answer.
fn try_get(port: u16, host: &str) -> Result<(u16, String), String> {
    let mut s =
        std::net::TcpStream::connect(("127.0.0.1", port)).map_err(|e| format!("connect: {e}"))?;
    s.set_read_timeout(Some(Duration::from_secs(5))).map_err(|e| format!("timeout: {e}"))?;
    write!(s, "GET / HTTP/1.0\r\nHost: {host}\r\nConnection: close\r\n\r\n")
        .map_err(|e| format!("write: {e}"))?;
    let mut text = String::new();
    s.read_to_string(&mut text).map_err(|e| format!("read: {e} after {text:?}"))?;
    let status = text
        .split(' ')
        .nth(1)
        .and_then(|c| c.parse().ok())
        .ok_or_else(|| format!("no status in {text:?}"))?;
    let body = text.split_once("\r\n\r\n").map(|(_, b)| b.to_owned()).unwrap_or_default();
    Ok((status, body))
}

/// Wait until `host` answers `status` through the router (Caddy starts or reloads in a moment).
fn wait_for(port: u16, host: &str, status: u16) -> (u16, String) {
    let mut last = None;
    wait_until(Duration::from_secs(20), || {
        last = get(port, host);
        last.as_ref().is_some_and(|(s, _)| *s == status)
    });
    last.unwrap_or_else(|| panic!("nothing answers on 127.0.0.1:{port} for {host}"))
}

#[test]
#[ignore = "real-Docker tier: KILTER_REAL_DOCKER=1 and --include-ignored"]
fn real_docker_router_two_projects_by_name_then_stop_and_destroy() {
    let Some(rt) = Rt::new("two", Some(free_port())) else { return };
    let (a, dir_a) = rt.project_with_app("a");
    let (b, dir_b) = rt.project_with_app("b");
    rt.kilter_ok(&dir_a, &["up"]);
    rt.serve(&a, &format!("mail of {a}"));
    let port = rt.host_port();
    assert_eq!(Some(port), rt.port, "published where asked");
    let host_a = format!("mailpit.{a}.localhost");
    let host_b = format!("mailpit.{b}.localhost");
    assert_eq!(wait_for(port, &host_a, 200), (200, format!("mail of {a}")));
    // Caddy's reload closes its old listening socket (SO_REUSEPORT); the kernel moves what is
    // queued on it to the new one only with this switch on in the router's network namespace.
    let migrate = rt
        .env
        .docker()
        .args(["exec", &rt.name(), "cat", "/proc/sys/net/ipv4/tcp_migrate_req"])
        .output()
        .unwrap();
    assert_eq!(String::from_utf8_lossy(&migrate.stdout).trim(), "1", "{migrate:?}");
    let st: serde_json::Value =
        serde_json::from_slice(&rt.kilter_ok(&dir_a, &["router", "status", "--json"]).stdout)
            .expect("json");
    assert_eq!(st["reload_keeps_connections"], true, "read from the real engine's inspect: {st}");

    // The second project's up reloads the router while requests keep coming: none is dropped.
    let stop = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
    let looping = {
        let (stop, host) = (stop.clone(), host_a.clone());
        std::thread::spawn(move || {
            let mut bad = Vec::new();
            let mut n = 0;
            while !stop.load(std::sync::atomic::Ordering::Relaxed) {
                match try_get(port, &host) {
                    Ok((200, _)) => n += 1,
                    other => bad.push(format!("{other:?}")),
                }
            }
            (n, bad)
        })
    };
    rt.kilter_ok(&dir_b, &["up"]);
    rt.serve(&b, &format!("mail of {b}"));
    assert_eq!(wait_for(port, &host_b, 200), (200, format!("mail of {b}")));
    stop.store(true, std::sync::atomic::Ordering::Relaxed);
    let (n, bad) = looping.join().expect("loop");
    assert!(n > 0 && bad.is_empty(), "{n} answered, dropped or failed: {bad:?}");
    // Each name its own body, at the same time: the apps at the projects' names too.
    assert_eq!(get(port, &host_a), Some((200, format!("mail of {a}"))));
    for p in [&a, &b] {
        assert_eq!(get(port, &format!("{p}.localhost")), Some((200, format!("app of {p}"))));
        assert_eq!(get(port, &format!("app.{p}.localhost")), Some((200, format!("app of {p}"))));
    }
    // Caddy itself finds the configuration valid.
    let out = rt
        .env
        .docker()
        .args([
            "exec",
            &rt.name(),
            "caddy",
            "validate",
            "--config",
            "/etc/kilter-router/caddy.json",
        ])
        .output()
        .unwrap();
    assert!(out.status.success(), "caddy validate: {}", String::from_utf8_lossy(&out.stderr));
    // kilter env names the URL with the port.
    let env_out = stdout_of(&rt.kilter_ok(&dir_a, &["env"]));
    assert!(env_out.contains(&format!("MAILPIT_WEB_URL=http://{host_a}:{port}\n")), "{env_out}");

    // stop: 503 with where to run `kilter up`; the other project still answers.
    rt.kilter_ok(&dir_a, &["stop"]);
    let (status, body) = wait_for(port, &host_a, 503);
    assert_eq!(status, 503);
    assert!(body.contains("is stopped") && body.contains(&dir_a.display().to_string()), "{body}");
    assert!(body.contains("kilter up"), "{body}");
    assert_eq!(get(port, &host_b), Some((200, format!("mail of {b}"))));

    // destroy: the route to the node is gone; the name still says where to run `kilter up`.
    rt.kilter_ok(&dir_a, &["destroy", "--yes", "--no-snapshot"]);
    let (_, body) = wait_for(port, &host_a, 503);
    assert!(body.contains("has no cluster") && body.contains("kilter up"), "{body}");
    let cfg = std::fs::read_to_string(rt.env.home().join(".cache/kilter/.router/caddy.json"))
        .expect("config");
    assert!(!cfg.contains(&format!("kilter-{a}-control-plane:")), "no route to {a}'s node: {cfg}");
    // A name no project has: 404.
    assert_eq!(get(port, "nothing.localhost").map(|(s, _)| s), Some(404));
}

#[test]
#[ignore = "real-Docker tier: KILTER_REAL_DOCKER=1 and --include-ignored"]
fn real_docker_router_port_80_taken_moves_it_to_8080() {
    let Some(rt) = Rt::new("p80", None) else { return };
    // Port 80 is held by another program (this test); the fallback range must be free.
    let Ok(_holder) = std::net::TcpListener::bind(("127.0.0.1", 80)) else {
        crate::support::skipped(
            "real_docker_router_port_80_taken_moves_it_to_8080",
            "port 80 cannot be bound by the test (not root, or in use)",
        );
        return;
    };
    let first_free = (8080..=8099)
        .find(|p| std::net::TcpListener::bind(("127.0.0.1", *p)).is_ok())
        .expect("a free port in 8080-8099");
    let (a, dir_a) = rt.project("a");
    let out = rt.kilter_ok(&dir_a, &["up"]);
    let err = stderr_of(&out);
    assert!(err.contains(&format!("the router uses 127.0.0.1:{first_free}")), "{err}");
    assert_eq!(rt.host_port(), first_free);
    rt.serve(&a, "through the fallback");
    let host = format!("mailpit.{a}.localhost");
    assert_eq!(wait_for(first_free, &host, 200), (200, "through the fallback".to_owned()));
    let env_out = stdout_of(&rt.kilter_ok(&dir_a, &["env"]));
    assert!(
        env_out.contains(&format!("MAILPIT_WEB_URL=http://{host}:{first_free}\n")),
        "{env_out}"
    );
}

#[test]
#[ignore = "real-Docker tier: KILTER_REAL_DOCKER=1 and --include-ignored"]
fn real_docker_router_a_foreign_container_of_that_name_is_left_alone() {
    let Some(rt) = Rt::new("foreign", Some(free_port())) else { return };
    rt.env.docker_ok(&["run", "-d", "--name", &rt.name(), &router_image()]);
    let before = rt.env.inspect(&rt.name()).expect("theirs");
    let (_a, dir_a) = rt.project("a");
    let out = rt.kilter_ok(&dir_a, &["up"]);
    let err = stderr_of(&out);
    assert!(err.contains("warning") && err.contains("is in the way"), "{err}");
    let out = rt.kilter(&dir_a, &["router", "stop"]);
    assert_eq!(out.status.code(), Some(1), "{}", stderr_of(&out));
    assert!(stderr_of(&out).contains("kilter did not create it"), "{}", stderr_of(&out));
    let out = rt.kilter(&dir_a, &["router", "rm"]);
    assert_eq!(out.status.code(), Some(1), "{}", stderr_of(&out));
    let after = rt.env.inspect(&rt.name()).expect("still there");
    assert_eq!(before["Id"], after["Id"]);
    assert_eq!(after["State"]["Running"], true);
    assert_eq!(after["Config"]["Cmd"], before["Config"]["Cmd"], "not recreated");
}
