//! The shared router against the fake tools (README "Names instead of port numbers"): what
//! `up` creates and the routes it loads, the reloads of `stop` and `destroy`, the port-80
//! fallback, a foreign `kilter-router`, the opt-outs, `kilter router …`, `env` and `status`.

use std::path::Path;

use serde_json::Value;

use crate::helpers::*;
use crate::support::Env;

const SHOP: &str = "name: shop\nservices:\n  - mailpit\n  - postgres\n";
const BLOG: &str = "name: blog\nservices:\n  - minio\n";

fn kilter(env: &Env, dir: &Path, args: &[&str]) -> std::process::Output {
    env.kilter(dir).env("KILTER_REGISTRY", "off").args(args).output().expect("runs")
}

fn kilter_ok(env: &Env, dir: &Path, args: &[&str]) -> std::process::Output {
    let out = kilter(env, dir, args);
    assert!(
        out.status.success(),
        "kilter {args:?} failed ({:?})\nstderr:\n{}\nstdout:\n{}",
        out.status.code(),
        stderr_of(&out),
        stdout_of(&out)
    );
    out
}

/// What the fake router serves now (the configuration Caddy last loaded).
fn served(env: &Env) -> Value {
    let path = env.state_dir().join("caddy").join("kilter-router.json");
    let text = std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    serde_json::from_str(&text).expect("json")
}

/// `(hosts, dial or status)` of every route with a host matcher.
fn routes(cfg: &Value) -> Vec<(Vec<String>, String)> {
    cfg["apps"]["http"]["servers"]["kilter"]["routes"]
        .as_array()
        .expect("routes")
        .iter()
        .filter_map(|r| {
            let hosts: Vec<String> = r["match"][0]["host"]
                .as_array()?
                .iter()
                .map(|h| h.as_str().expect("host").to_owned())
                .collect();
            let h = &r["handle"][0];
            let what = match h["handler"].as_str() {
                Some("reverse_proxy") => {
                    h["upstreams"][0]["dial"].as_str().expect("dial").to_owned()
                }
                _ => format!("{} {}", h["status_code"], h["body"].as_str().unwrap_or_default()),
            };
            Some((hosts, what))
        })
        .collect()
}

/// What answers at `host`: the first route whose host matcher takes it (Caddy's `*.` is one
/// label).
fn answer<'a>(routes: &'a [(Vec<String>, String)], host: &str) -> Option<&'a str> {
    let takes = |pattern: &str| match pattern.strip_prefix("*.") {
        Some(rest) => {
            host.split_once('.').is_some_and(|(label, tail)| !label.is_empty() && tail == rest)
        }
        None => pattern == host,
    };
    routes.iter().find(|(h, _)| h.iter().any(|x| takes(x))).map(|(_, w)| w.as_str())
}

/// The NodePort the port registry gives a service's port.
fn nodeport(env: &Env, project: &str, service: &str, port: &str) -> u64 {
    let reg: Value = serde_json::from_str(
        &std::fs::read_to_string(env.state_home().join("kilter").join("ports.json"))
            .expect("ports.json"),
    )
    .expect("json");
    reg["projects"][project]["services"][service][port].as_u64().expect("nodeport")
}

/// `kilter router status --json`.
fn status_json(env: &Env, dir: &Path) -> Value {
    serde_json::from_slice(&kilter_ok(env, dir, &["router", "status", "--json"]).stdout)
        .expect("json")
}

fn router_port(env: &Env) -> Option<u64> {
    let text = std::fs::read_to_string(env.state_home().join("kilter").join("ports.json")).ok()?;
    serde_json::from_str::<Value>(&text).ok()?["router_port"].as_u64()
}

#[test]
fn up_with_a_web_service_creates_the_router_and_routes_its_names() {
    let env = Env::new();
    let dir = project(&env, "shop", Some(SHOP), false);
    let out = kilter_ok(&env, &dir, &["up"]);
    let err = stderr_of(&out);
    assert!(!err.contains("warning"), "{err}");
    assert!(err.contains("mailpit_web  http://mailpit.shop.localhost"), "{err}");

    let c = env.container("kilter-router").expect("the router exists");
    assert_eq!(c["State"]["Status"], "running");
    assert_eq!(c["Config"]["Image"], "caddy:2");
    assert_eq!(c["Config"]["Labels"]["io.kilter.shared"], "router");
    assert_eq!(c["HostConfig"]["RestartPolicy"]["Name"], "unless-stopped");
    assert_eq!(
        c["HostConfig"]["PortBindings"]["80/tcp"][0],
        serde_json::json!({"HostIp": "127.0.0.1", "HostPort": "80"})
    );
    assert!(c["NetworkSettings"]["Networks"].get("kind").is_some(), "on kind: {c}");
    // A reload moves the connections queued on Caddy's old socket to its new one.
    assert_eq!(c["HostConfig"]["Sysctls"], serde_json::json!({"net.ipv4.tcp_migrate_req": "1"}));
    let config_dir = env.home().join(".cache").join("kilter").join(".router");
    let bind =
        c["Mounts"].as_array().expect("mounts").iter().find(|m| m["Type"] == "bind").cloned();
    let bind = bind.expect("the configuration directory is mounted");
    assert_eq!(bind["Source"], config_dir.display().to_string());
    assert_eq!(
        (bind["Destination"].as_str(), bind["RW"].as_bool()),
        (Some("/etc/kilter-router"), Some(false))
    );
    assert_eq!(
        c["Config"]["Cmd"],
        serde_json::json!(["caddy", "run", "--config", "/etc/kilter-router/caddy.json"])
    );
    assert_eq!(router_port(&env), Some(80));
    let st = status_json(&env, &dir);
    assert_eq!(st["reload_keeps_connections"], true);

    // What it serves is the file kilter wrote: mailpit's UI by name, postgres has none.
    let file = std::fs::read_to_string(config_dir.join("caddy.json")).expect("config file");
    assert_eq!(serde_json::from_str::<Value>(&file).expect("json"), served(&env));
    let r = routes(&served(&env));
    let np = nodeport(&env, "shop", "mailpit", "http");
    assert_eq!(
        answer(&r, "mailpit.shop.localhost"),
        Some(format!("kilter-shop-control-plane:{np}").as_str())
    );
    assert!(answer(&r, "postgres.shop.localhost").is_some_and(|a| a.starts_with("404 ")), "{r:?}");

    // env and status show the name.
    let env_out = stdout_of(&kilter_ok(&env, &dir, &["env"]));
    assert!(
        env_out.contains("export MAILPIT_WEB_URL=http://mailpit.shop.localhost\n"),
        "{env_out}"
    );
    assert!(!env_out.contains("POSTGRES_WEB_URL"), "{env_out}");
    let status: Value =
        serde_json::from_slice(&kilter_ok(&env, &dir, &["status", "--json"]).stdout).expect("json");
    assert_eq!(status["urls"]["MAILPIT_WEB_URL"], "http://mailpit.shop.localhost");
    let text = stdout_of(&kilter_ok(&env, &dir, &["status"]));
    assert!(text.contains("http://mailpit.shop.localhost"), "{text}");

    // A second up with nothing new reloads nothing.
    kilter_ok(&env, &dir, &["up"]);
    let log = std::fs::read_to_string(env.shim_log()).unwrap_or_default();
    assert_eq!(log.matches("caddy reload").count(), 0, "{log}");
}

#[test]
fn a_project_without_web_services_makes_no_router() {
    let env = Env::new();
    let dir = project(&env, "data", Some("name: data\nservices:\n  - postgres\n"), false);
    kilter_ok(&env, &dir, &["up"]);
    assert!(env.container("kilter-router").is_none());
    assert!(!env.home().join(".cache/kilter/.router").exists());
    let env_out = stdout_of(&kilter_ok(&env, &dir, &["env"]));
    assert!(!env_out.contains("_WEB_URL"), "{env_out}");
}

/// `stop --all` reloads the router once the clusters are stopped: every project's names answer
/// 503 saying where to run `kilter up`.
#[test]
fn stop_all_turns_every_projects_names_to_503() {
    let env = Env::new();
    let shop = project(&env, "shop", Some(SHOP), false);
    let blog = project(&env, "blog", Some(BLOG), false);
    kilter_ok(&env, &shop, &["up"]);
    kilter_ok(&env, &blog, &["up"]);
    kilter_ok(&env, &shop, &["stop", "--all"]);
    let r = routes(&served(&env));
    for (host, name, dir) in
        [("mailpit.shop.localhost", "shop", &shop), ("minio.blog.localhost", "blog", &blog)]
    {
        let down = answer(&r, host).unwrap_or_else(|| panic!("{host} still answers: {r:?}"));
        assert!(down.starts_with("503 "), "{host}: {down}");
        assert!(down.contains(&format!("kilter project {name} is stopped")), "{down}");
        assert!(
            down.contains(&format!("<code>kilter up</code> in <code>{}</code>", dir.display())),
            "{down}"
        );
    }
}

#[test]
fn two_projects_then_stop_and_destroy_answer_503_with_the_directory() {
    let env = Env::new();
    let shop = project(&env, "shop", Some(SHOP), false);
    let blog = project(&env, "blog", Some(BLOG), false);
    kilter_ok(&env, &shop, &["up"]);
    kilter_ok(&env, &blog, &["up"]);
    let r = routes(&served(&env));
    let console = nodeport(&env, "blog", "minio", "console");
    assert_eq!(
        answer(&r, "minio.blog.localhost"),
        Some(format!("kilter-blog-control-plane:{console}").as_str())
    );
    assert!(
        answer(&r, "mailpit.shop.localhost")
            .is_some_and(|a| a.starts_with("kilter-shop-control-plane:"))
    );

    // ls shows every project's names.
    let ls = stdout_of(&kilter_ok(&env, &shop, &["ls"]));
    assert!(ls.contains("names of blog: http://minio.blog.localhost\n"), "{ls}");
    assert!(ls.contains("names of shop: http://mailpit.shop.localhost\n"), "{ls}");
    let doc: Value =
        serde_json::from_slice(&kilter_ok(&env, &shop, &["ls", "--json"]).stdout).expect("json");
    assert_eq!(doc["urls"]["blog"], serde_json::json!(["http://minio.blog.localhost"]));

    kilter_ok(&env, &shop, &["stop"]);
    let log = std::fs::read_to_string(env.shim_log()).unwrap_or_default();
    assert!(log.contains("caddy reload --config /etc/kilter-router/caddy.json"), "{log}");
    let r = routes(&served(&env));
    let down = answer(&r, "mailpit.shop.localhost").expect("shop's names still answer");
    assert!(down.starts_with("503 "), "{down}");
    assert!(down.contains("kilter project shop is stopped"), "{down}");
    assert!(
        down.contains(&format!("<code>kilter up</code> in <code>{}</code>", shop.display())),
        "{down}"
    );
    assert_eq!(answer(&r, "shop.localhost"), Some(down));
    assert!(
        answer(&r, "minio.blog.localhost")
            .is_some_and(|a| a.starts_with("kilter-blog-control-plane:")),
        "blog still routed"
    );

    kilter_ok(&env, &shop, &["destroy", "--yes", "--no-snapshot"]);
    let r = routes(&served(&env));
    let gone = answer(&r, "mailpit.shop.localhost").expect("a destroyed project is still known");
    assert!(gone.starts_with("503 ") && gone.contains("shop has no cluster"), "{gone}");
    assert!(
        !r.iter().any(|(_, w)| w.starts_with("kilter-shop-control-plane")),
        "no route to shop's node: {r:?}"
    );

    // up again: routed again.
    kilter_ok(&env, &shop, &["up"]);
    let r = routes(&served(&env));
    assert!(
        answer(&r, "mailpit.shop.localhost")
            .is_some_and(|a| a.starts_with("kilter-shop-control-plane:")),
        "{r:?}"
    );
}

#[test]
fn port_80_taken_moves_the_router_to_8080_and_the_urls_say_so() {
    let env = Env::new();
    let dir = project(&env, "shop", Some(SHOP), false);
    // Something else publishes 127.0.0.1:80 (a container, so that the fake docker sees it).
    let st = env
        .tool("docker")
        .args(["run", "-d", "--name", "web80", "-p", "127.0.0.1:80:80", "nginx:1"])
        .output()
        .expect("docker");
    assert!(st.status.success(), "{}", String::from_utf8_lossy(&st.stderr));
    let out = kilter_ok(&env, &dir, &["up"]);
    let err = stderr_of(&out);
    assert!(err.contains("the router uses 127.0.0.1:8080"), "{err}");
    let c = env.container("kilter-router").expect("router");
    assert_eq!(c["HostConfig"]["PortBindings"]["80/tcp"][0]["HostPort"], "8080");
    assert_eq!(c["State"]["Status"], "running");
    assert_eq!(router_port(&env), Some(8080));
    let env_out = stdout_of(&kilter_ok(&env, &dir, &["env"]));
    assert!(
        env_out.contains("export MAILPIT_WEB_URL=http://mailpit.shop.localhost:8080\n"),
        "{env_out}"
    );
    let text = stdout_of(&kilter_ok(&env, &dir, &["router", "status"]));
    assert!(text.contains("http://mailpit.shop.localhost:8080"), "{text}");
}

/// The preferred port held by another program on the host (a socket, not a container): the
/// router is planned past it, so its one `docker run` publishes a fallback port.
#[test]
fn a_preferred_port_held_on_the_host_is_passed_over_before_the_docker_run() {
    let env = Env::new();
    let dir = project(&env, "shop", Some(SHOP), false);
    let busy = crate::support::quiet_ports(1);
    let _holder = std::net::TcpListener::bind(("127.0.0.1", busy)).expect("hold the port");
    let out = env
        .kilter(&dir)
        .env("KILTER_ROUTER_PORT", busy.to_string())
        .args(["-v", "up"])
        .output()
        .expect("runs");
    let err = stderr_of(&out);
    assert!(out.status.success(), "{err}");
    let runs = err
        .lines()
        .filter(|l| l.starts_with("$ ") && l.contains(" run -d --name kilter-router"))
        .count();
    assert_eq!(runs, 1, "one docker run: {err}");
    let port = router_port(&env).expect("recorded");
    assert!((8080..=8099).contains(&port), "{port}");
    let c = env.container("kilter-router").expect("router");
    assert_eq!(c["HostConfig"]["PortBindings"]["80/tcp"][0]["HostPort"], port.to_string());
    assert!(
        err.contains(&format!(
            "port {busy} cannot be bound here; the router uses 127.0.0.1:{port}"
        )),
        "{err}"
    );
}

/// Every port the router may take is published by another container (docker refuses each
/// one, though no host socket holds it): kilter tries each candidate once, in order, removes
/// what each refused run left, and fails with what to free.
#[test]
fn every_router_port_taken_tries_each_once_then_says_what_to_free() {
    let env = Env::new();
    let dir = project(&env, "shop", Some(SHOP), false);
    kilter_ok(&env, &dir, &["up"]);
    kilter_ok(&env, &dir, &["router", "rm"]);
    let ports: Vec<u16> = std::iter::once(80).chain(8080..=8099).collect();
    for p in &ports {
        let st = env
            .tool("docker")
            .args([
                "run",
                "-d",
                "--name",
                &format!("web{p}"),
                "-p",
                &format!("127.0.0.1:{p}:80"),
                "nginx:1",
            ])
            .output()
            .expect("docker");
        assert!(st.status.success(), "{}", String::from_utf8_lossy(&st.stderr));
    }
    let before = env.calls_of("docker").len();
    let out = kilter(&env, &dir, &["router", "start"]);
    let err = stderr_of(&out);
    assert_eq!(out.status.code(), Some(1), "{err}");
    assert!(err.contains("no free port for the router: 80 and 8080-8099 are all in use"), "{err}");
    assert!(err.contains("`KILTER_ROUTER=off`"), "{err}");
    let calls = env.calls_of("docker")[before..].to_vec();
    let tried: Vec<String> = calls
        .iter()
        .filter(|c| c.contains(" run -d --name kilter-router "))
        .map(|c| c.split(" -p ").nth(1).and_then(|r| r.split(' ').next()).unwrap_or("?").to_owned())
        .collect();
    let want: Vec<String> = ports.iter().map(|p| format!("127.0.0.1:{p}:80")).collect();
    assert_eq!(tried, want, "each candidate once, in order");
    assert_eq!(calls.iter().filter(|c| c.contains("rm -f kilter-router")).count(), ports.len());
    assert!(env.container("kilter-router").is_none(), "nothing left behind");
}

/// An engine whose kernel cannot migrate queued connections (Linux < 5.14): docker creates the
/// router, runc refuses the sysctl; kilter removes it, runs it without, on the same port, and
/// says what that costs. Any other failure is not retried without it.
#[test]
fn an_engine_without_request_migration_gets_the_router_without_it_and_a_note() {
    let env = Env::new();
    let dir = project(&env, "shop", Some(SHOP), false);
    env.set_knob("kernel_lacks", "net.ipv4.tcp_migrate_req");
    let out = kilter_ok(&env, &dir, &["up"]);
    let err = stderr_of(&out);
    assert!(
        err.contains("kernel has no net.ipv4.tcp_migrate_req (Linux < 5.14): a request that arrives while the router reloads may be dropped"),
        "{err}"
    );
    assert!(!err.contains("the router uses 127.0.0.1:8080"), "the same port: {err}");
    let c = env.container("kilter-router").expect("the router exists");
    assert_eq!(c["State"]["Status"], "running");
    assert!(c["HostConfig"].get("Sysctls").is_none(), "{c}");
    assert_eq!(c["HostConfig"]["PortBindings"]["80/tcp"][0]["HostPort"], "80");
    let calls: Vec<String> = env
        .calls_of("docker")
        .into_iter()
        .filter(|c| c.contains("kilter-router") && (c.contains(" run ") || c.contains(" rm ")))
        .collect();
    assert_eq!(calls.len(), 3, "run, rm -f, run: {calls:?}");
    assert!(calls[0].contains("--sysctl 'net.ipv4.tcp_migrate_req=1'"), "{calls:?}");
    assert!(calls[1].contains("rm -f kilter-router"), "{calls:?}");
    assert!(!calls[2].contains("--sysctl"), "{calls:?}");
    assert_eq!(router_port(&env), Some(80));
    // status says what that costs.
    let st = status_json(&env, &dir);
    assert_eq!(st["reload_keeps_connections"], false);
    let text = stdout_of(&kilter_ok(&env, &dir, &["router", "status"]));
    assert!(
        text.contains("a reload may drop a request: made without net.ipv4.tcp_migrate_req=1"),
        "{text}"
    );
    kilter_ok(&env, &dir, &["router", "rm"]);
    let st = status_json(&env, &dir);
    assert_eq!(st["reload_keeps_connections"], Value::Null, "absent");
}

#[test]
fn a_foreign_kilter_router_is_left_alone() {
    let env = Env::new();
    let dir = project(&env, "shop", Some(SHOP), false);
    let st = env
        .tool("docker")
        .args(["run", "-d", "--name", "kilter-router", "caddy:2"])
        .output()
        .expect("docker");
    assert!(st.status.success());
    let before = env.container("kilter-router").expect("theirs");
    // up goes on, with a warning.
    let out = kilter_ok(&env, &dir, &["up"]);
    let err = stderr_of(&out);
    assert!(err.contains("warning") && err.contains("kilter-router is in the way"), "{err}");
    // The router verbs refuse (exit 1) and say what is in the way.
    for verb in [&["router", "stop"][..], &["router", "rm"], &["router", "start"]] {
        let out = kilter(&env, &dir, verb);
        assert_eq!(out.status.code(), Some(1), "{verb:?}: {}", stderr_of(&out));
        assert!(stderr_of(&out).contains("kilter did not create it"), "{}", stderr_of(&out));
    }
    let after = env.container("kilter-router").expect("still there");
    assert_eq!(before["Id"], after["Id"]);
    assert_eq!(after["State"]["Status"], "running");
    let log = std::fs::read_to_string(env.shim_log()).unwrap_or_default();
    assert!(!log.contains("exec kilter-router"), "never reloaded: {log}");
    // status shows it as someone else's.
    let text = stdout_of(&kilter_ok(&env, &dir, &["router", "status"]));
    assert!(text.contains("running (not kilter's)"), "{text}");
}

/// `kilter -v router start` for project `shop`, whose router was removed, with a docker whose
/// `docker run` fails with `stderr` (exit 125, as docker does) and is the fake otherwise; the
/// output, after checking that it failed with exit 1 after one `docker run` that left nothing.
fn router_start_failing_with(stderr: &str) -> String {
    let env = Env::new();
    let dir = project(&env, "shop", Some(SHOP), false);
    kilter_ok(&env, &dir, &["up"]);
    kilter_ok(&env, &dir, &["router", "rm"]);
    let printed: String = stderr
        .lines()
        .map(|l| format!("printf '%s\\n' '{}' >&2\n", l.replace('\'', "'\\''")))
        .collect();
    let wrapper =
        wrap_tool(&env, "docker", "docker-failing-run", "'run '*", &format!("{printed}exit 125"));
    let out = env
        .kilter(&dir)
        .env("KILTER_REGISTRY", "off")
        .env("KILTER_DOCKER", &wrapper)
        .args(["-v", "router", "start"])
        .output()
        .expect("runs");
    let err = stderr_of(&out);
    assert_eq!(out.status.code(), Some(1), "{err}");
    let runs = err.lines().filter(|l| l.starts_with("$ ") && l.contains(" run -d ")).count();
    assert_eq!(runs, 1, "one docker run, one port: {err}");
    assert!(!err.contains("docker rm"), "nothing to remove: {err}");
    assert!(env.container("kilter-router").is_none(), "nothing left behind");
    err
}

/// A `docker run` of the router that fails for another reason than its port (here the image:
/// not on this machine and no registry reachable, as docker 28 prints it with no network) is
/// that failure, with its hint: no second port is tried and nothing is left behind.
#[test]
fn router_start_without_its_image_says_so_and_tries_no_other_port() {
    let err = router_start_failing_with(
        "Unable to find image 'caddy:2' locally\n\
         docker: Error response from daemon: Get \"https://registry-1.docker.io/v2/\": dial tcp: lookup registry-1.docker.io on 10.255.255.53:53: no such host\n\
         \n\
         Run 'docker run --help' for more information",
    );
    assert!(err.contains("no such host"), "docker's own error: {err}");
    assert!(err.contains("docker could not get the image caddy:2"), "{err}");
}

/// A router step that runs past `up --timeout` is the timeout (exit 5), not the warning a router
/// that cannot be set up gets: names are a convenience, the deadline is not.
#[test]
fn a_router_step_past_the_deadline_is_the_timeout_not_a_warning() {
    let env = Env::new();
    let dir = project(&env, "shop", Some(SHOP), false);
    let wrapper =
        wrap_tool(&env, "docker", "docker-slow-router", "*kilter-router*caddy*", "/bin/sleep 30");
    let started = std::time::Instant::now();
    let out = env
        .kilter(&dir)
        .env("KILTER_REGISTRY", "off")
        .env("KILTER_DOCKER", &wrapper)
        .args(["up", "--timeout", "5s"])
        .output()
        .expect("runs");
    let err = stderr_of(&out);
    assert_eq!(out.status.code(), Some(5), "{err}");
    assert!(err.contains("--timeout 5s"), "names the deadline: {err}");
    assert!(err.contains("kilter-router"), "at the router's step: {err}");
    assert!(!err.contains("the router could not be updated"), "no warning: {err}");
    assert!(started.elapsed() < std::time::Duration::from_secs(25), "the sleep was cut short");
}

/// The hint follows docker's error: kind's network missing names the first cluster that makes
/// it; any other failure names the way to run without the router.
#[test]
fn router_start_hints_follow_dockers_error() {
    let err =
        router_start_failing_with("docker: Error response from daemon: network kind not found.");
    assert!(err.contains("network kind not found"), "docker's own error: {err}");
    assert!(err.contains("which the first cluster creates"), "{err}");
    let err = router_start_failing_with(
        "docker: Error response from daemon: failed to create task for container: OCI runtime create failed.",
    );
    assert!(err.contains("OCI runtime create failed"), "docker's own error: {err}");
    assert!(
        err.contains(
            "`KILTER_ROUTER=off` (or `router: false` in kilter.yaml) runs without the router"
        ),
        "{err}"
    );
    assert!(!err.contains("first cluster") && !err.contains("could not get the image"), "{err}");
}

/// `kilter VERB` with `KILTER_REGISTRY=off` and `KILTER_ROUTER=off`; it must succeed.
fn without_shared_containers(env: &Env, dir: &std::path::Path, verb: &str) {
    let out = env
        .kilter(dir)
        .env("KILTER_REGISTRY", "off")
        .env("KILTER_ROUTER", "off")
        .arg(verb)
        .output()
        .expect("runs");
    assert!(out.status.success(), "{}", stderr_of(&out));
}

#[test]
fn the_switches_turn_it_off() {
    let env = Env::new();
    let dir = project(&env, "shop", Some(SHOP), false);
    without_shared_containers(&env, &dir, "up");
    assert!(env.container("kilter-router").is_none());
    let other =
        project(&env, "blog", Some("name: blog\nrouter: false\nservices:\n  - minio\n"), false);
    kilter_ok(&env, &other, &["up"]);
    assert!(env.container("kilter-router").is_none());
    // Another project's router does not name a `router: false` project's services either.
    let third = project(&env, "news", Some("name: news\nservices:\n  - mailpit\n"), false);
    kilter_ok(&env, &third, &["up"]);
    let r = routes(&served(&env));
    assert!(
        answer(&r, "mailpit.news.localhost").is_some_and(|a| a.starts_with("kilter-news-")),
        "{r:?}"
    );
    assert!(answer(&r, "minio.blog.localhost").is_some_and(|a| a.starts_with("404 ")), "{r:?}");
    let bad = env.kilter(&dir).env("KILTER_ROUTER", "maybe").arg("env").output().expect("runs");
    assert_eq!(bad.status.code(), Some(4), "{}", stderr_of(&bad));
}

#[test]
fn router_verbs_stop_start_and_remove_it() {
    let env = Env::new();
    let dir = project(&env, "shop", Some(SHOP), false);
    kilter_ok(&env, &dir, &["up"]);
    let text = stdout_of(&kilter_ok(&env, &dir, &["router", "status"]));
    assert!(text.contains("kilter-router: running on 127.0.0.1:80"), "{text}");
    let np = nodeport(&env, "shop", "mailpit", "http");
    assert!(
        text.contains(&format!(
            "http://mailpit.shop.localhost  shop          → kilter-shop-control-plane:{np}\n"
        )),
        "{text}"
    );
    // Made with the sysctl: no word about reloads dropping requests; the router is on.
    assert!(!text.contains("a reload may drop"), "{text}");
    assert!(!text.contains("KILTER_ROUTER=off"), "{text}");
    let off = env.kilter(&dir).env("KILTER_ROUTER", "off").args(["router", "status"]).output();
    let off = stdout_of(&off.expect("runs"));
    assert!(off.ends_with("KILTER_ROUTER=off: `kilter up` does not use it\n"), "{off}");
    let doc: Value = status_json(&env, &dir);
    assert_eq!(doc["state"], "running");
    assert_eq!(doc["routes"][0]["url"], "http://mailpit.shop.localhost");
    kilter_ok(&env, &dir, &["router", "stop"]);
    assert_eq!(container_status(&env, "kilter-router").as_deref(), Some("exited"));
    let mark = env.calls().len();
    let again = kilter_ok(&env, &dir, &["router", "stop"]);
    assert!(
        stderr_of(&again).contains("The router kilter-router is not running"),
        "{}",
        stderr_of(&again)
    );
    assert!(
        !calls_since(&env, mark).iter().any(|c| c.starts_with("docker stop")),
        "no second stop"
    );
    // A stopped router names no address; a stopped project's names say where to `kilter up`.
    kilter_ok(&env, &dir, &["stop"]);
    let text = stdout_of(&kilter_ok(&env, &dir, &["router", "status"]));
    assert!(text.starts_with("kilter-router: exited\n"), "{text}");
    assert!(
        text.contains(&format!(
            "http://shop.localhost    shop          503: `kilter up` in {}\n",
            dir.display()
        )),
        "{text}"
    );
    // up starts a stopped router.
    let out = kilter_ok(&env, &dir, &["up"]);
    assert!(stderr_of(&out).contains("Started the router kilter-router"), "{}", stderr_of(&out));
    assert_eq!(container_status(&env, "kilter-router").as_deref(), Some("running"));
    kilter_ok(&env, &dir, &["router", "stop"]);
    kilter_ok(&env, &dir, &["router", "start"]);
    assert_eq!(container_status(&env, "kilter-router").as_deref(), Some("running"));
    kilter_ok(&env, &dir, &["router", "rm"]);
    assert!(env.container("kilter-router").is_none());
    let out = kilter_ok(&env, &dir, &["router", "rm"]);
    assert!(stderr_of(&out).contains("Nothing to remove"), "{}", stderr_of(&out));
    // start creates it again, on the recorded port.
    kilter_ok(&env, &dir, &["router", "start"]);
    assert_eq!(container_status(&env, "kilter-router").as_deref(), Some("running"));
}

/// A router taken off the `kind` network (`docker network disconnect kind kilter-router`) is
/// connected again by the next `up`: the nodes are only reachable there.
#[test]
fn up_connects_a_router_that_left_the_kind_network() {
    let env = Env::new();
    let dir = project(&env, "shop", Some(SHOP), false);
    kilter_ok(&env, &dir, &["up"]);
    let on_kind = |env: &Env| {
        env.container("kilter-router")
            .expect("the router")
            .pointer("/NetworkSettings/Networks/kind")
            .is_some()
    };
    assert!(on_kind(&env), "made on kind");
    let off = env.tool("docker").args(["network", "disconnect", "kind", "kilter-router"]).output();
    let off = off.expect("runs");
    assert!(off.status.success(), "{}", stderr_of(&off));
    assert!(!on_kind(&env), "taken off");
    let mark = env.calls().len();
    let out = kilter_ok(&env, &dir, &["up"]);
    assert!(on_kind(&env), "connected again by up");
    // The router's trouble is only a warning for `up`: there must be none.
    assert!(!stderr_of(&out).contains("warning"), "{}", stderr_of(&out));
    let connects: Vec<String> = calls_since(&env, mark)
        .into_iter()
        .filter(|c| c.starts_with("docker network connect"))
        .collect();
    assert_eq!(connects, ["docker network connect kind kilter-router"]);

    // Another kilter connects it between this one's look and its connect: docker's "already
    // exists in network" (exit 1) is connected, no warning. Any other refusal is a warning.
    let off = env.tool("docker").args(["network", "disconnect", "kind", "kilter-router"]).output();
    assert!(off.expect("runs").status.success());
    let docker = env.bin().join("docker");
    let racing = script(
        &env,
        "docker-racing",
        &format!(
            "if [ \"$1\" = network ] && [ \"$2\" = connect ]; then\n\
             '{d}' \"$@\" >/dev/null 2>&1 || exit 99\n\
             fi\n\
             exec '{d}' \"$@\"\n",
            d = docker.display()
        ),
    );
    let mark = env.calls().len();
    let out = env.kilter(&dir).env("KILTER_DOCKER", &racing).arg("up").output().expect("runs");
    let err = stderr_of(&out);
    assert!(out.status.success() && !err.contains("warning"), "{err}");
    assert!(on_kind(&env));
    let refused = calls_since(&env, mark)
        .into_iter()
        .filter(|c| c == "docker network connect kind kilter-router")
        .count();
    assert_eq!(refused, 2, "the race's connect and kilter's, which met `already exists`");

    let off = env.tool("docker").args(["network", "disconnect", "kind", "kilter-router"]).output();
    assert!(off.expect("runs").status.success());
    let refusing = wrap_tool(
        &env,
        "docker",
        "docker-refusing",
        "'network connect '*",
        "echo 'Error response from daemon: network kind not found' >&2; exit 1",
    );
    let out = env.kilter(&dir).env("KILTER_DOCKER", &refusing).arg("up").output().expect("runs");
    let err = stderr_of(&out);
    assert!(out.status.success(), "{err}");
    assert!(err.contains("warning: the router could not be updated"), "{err}");
    assert!(err.contains("network kind not found"), "{err}");
}

#[test]
fn dry_run_prints_the_configuration_file_and_the_container() {
    let env = Env::new();
    let dir = project(&env, "shop", Some(SHOP), false);
    kilter_ok(&env, &dir, &["up"]);
    kilter_ok(&env, &dir, &["router", "rm"]);
    std::fs::remove_file(env.home().join(".cache/kilter/.router/caddy.json")).expect("rm");
    let out = kilter_ok(&env, &dir, &["--dry-run", "router", "start"]);
    let script = stdout_of(&out);
    assert!(script.contains(".router/caddy.json"), "{script}");
    assert!(script.contains("mailpit.shop.localhost"), "the file's content: {script}");
    assert!(
        script.contains(
            "run -d --name kilter-router --restart unless-stopped -p 127.0.0.1:80:80 --network kind"
        ),
        "{script}"
    );
    assert!(
        script.contains("caddy:2 caddy run --config /etc/kilter-router/caddy.json"),
        "{script}"
    );
    assert!(env.container("kilter-router").is_none(), "a dry run creates nothing");
    assert!(!env.home().join(".cache/kilter/.router/caddy.json").exists());
}

// ---------------------------------------------------------------------------------------------
// The dry run reaches the real run's end state (tests/it/replay.rs's harness): the routes are
// the run's own end state, not the records on disk before it.

fn fresh_with_mailpit(env: &Env) -> std::path::PathBuf {
    project(env, "shop", Some("name: shop\nservices: [mailpit]\n"), false)
}

fn running_with_mailpit(env: &Env) -> std::path::PathBuf {
    let d = fresh_with_mailpit(env);
    env.kilter(&d).arg("up").assert().success();
    d
}

#[test]
fn replay_up_creating_the_router() {
    let script = crate::replay::assert_replay_equivalent(fresh_with_mailpit, &["up"]);
    assert!(script.contains("caddy run --config /etc/kilter-router/caddy.json"), "{script}");
}

#[test]
fn replay_stop_and_destroy_reload_the_routes() {
    let script = crate::replay::assert_replay_equivalent(running_with_mailpit, &["stop"]);
    assert!(script.contains("exec kilter-router caddy reload"), "{script}");
    assert!(
        script.contains("kilter project shop is stopped"),
        "the file the script writes: {script}"
    );
    let script = crate::replay::assert_replay_equivalent(
        running_with_mailpit,
        &["destroy", "--yes", "--no-snapshot"],
    );
    assert!(script.contains("kilter project shop has no cluster"), "{script}");
}

#[test]
fn gc_of_a_project_whose_directory_is_gone_forgets_its_names() {
    let env = Env::new();
    let shop = project(&env, "shop", Some(SHOP), false);
    let blog = project(&env, "blog", Some(BLOG), false);
    kilter_ok(&env, &shop, &["up"]);
    kilter_ok(&env, &blog, &["up"]);
    kilter_ok(&env, &shop, &["destroy", "--yes", "--no-snapshot"]);
    assert!(
        answer(&routes(&served(&env)), "shop.localhost").is_some_and(|a| a.starts_with("503 "))
    );
    std::fs::remove_dir_all(&shop).expect("rm the project");
    kilter_ok(&env, &blog, &["gc", "--yes"]);
    let r = routes(&served(&env));
    assert_eq!(
        answer(&r, "shop.localhost"),
        None,
        "forgotten: the machine-wide 404 answers: {r:?}"
    );
    assert!(
        answer(&r, "minio.blog.localhost")
            .is_some_and(|a| a.starts_with("kilter-blog-control-plane:"))
    );
}

#[test]
fn doctor_says_whether_localhost_names_resolve_here() {
    use std::net::ToSocketAddrs as _;
    let env = Env::new();
    let dir = project(&env, "shop", Some(SHOP), false);
    let out = kilter(&env, &dir, &["doctor"]);
    let text = stdout_of(&out);
    let line = text.lines().find(|l| l.contains(" names ")).unwrap_or_else(|| panic!("{text}"));
    // The same question kilter asks (getaddrinfo), here.
    let loopback = ("shop.localhost", 80)
        .to_socket_addrs()
        .is_ok_and(|a| a.collect::<Vec<_>>().iter().all(|a| a.ip().is_loopback()));
    if loopback {
        assert!(line.starts_with("✓") && line.contains("shop.localhost resolves to"), "{line}");
    } else {
        assert!(
            line.starts_with("!") && line.contains("does not resolve to the loopback"),
            "{line}"
        );
        assert!(text.contains("fix: let the system resolver answer *.localhost"), "{text}");
    }
    let off = env.kilter(&dir).env("KILTER_ROUTER", "off").arg("doctor").output().expect("runs");
    assert!(!stdout_of(&off).lines().any(|l| l.contains(" names ")), "{}", stdout_of(&off));
}

#[test]
fn rendered_configurations_are_valid_for_the_real_caddy() {
    let caddy = std::path::Path::new("/usr/bin/caddy");
    if !caddy.exists() {
        crate::support::skipped(
            "router::rendered_configurations_are_valid_for_the_real_caddy",
            "/usr/bin/caddy is missing (apt-get install caddy)",
        );
        return;
    }
    let golden = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/golden/router");
    let mut n = 0;
    for f in std::fs::read_dir(&golden).expect("golden dir").flatten() {
        let out = std::process::Command::new(caddy)
            .args(["validate", "--config"])
            .arg(f.path())
            .env("HOME", std::env::temp_dir())
            .output()
            .expect("caddy runs");
        assert!(
            out.status.success()
                && String::from_utf8_lossy(&out.stdout).contains("Valid configuration"),
            "{}: {}",
            f.path().display(),
            String::from_utf8_lossy(&out.stderr)
        );
        n += 1;
    }
    assert!(n >= 2, "the golden configurations are there");
}

#[test]
fn http_true_names_an_inline_service_and_http_false_takes_a_catalog_name_away() {
    let env = Env::new();
    let yaml = "name: shop\nservices:\n  - name: api\n    image: ghcr.io/me/api:1\n    port: 8080\n    http: true\n  - name: mailpit\n    http: false\n";
    let dir = project(&env, "shop", Some(yaml), false);
    kilter_ok(&env, &dir, &["up"]);
    let r = routes(&served(&env));
    let np = nodeport(&env, "shop", "api", "main");
    assert_eq!(
        answer(&r, "api.shop.localhost"),
        Some(format!("kilter-shop-control-plane:{np}").as_str())
    );
    assert!(answer(&r, "mailpit.shop.localhost").is_some_and(|a| a.starts_with("404 ")), "{r:?}");
    let env_out = stdout_of(&kilter_ok(&env, &dir, &["env"]));
    assert!(env_out.contains("export API_WEB_URL=http://api.shop.localhost\n"), "{env_out}");
    assert!(!env_out.contains("MAILPIT_WEB_URL"), "{env_out}");
}

#[test]
fn a_rendered_app_answers_at_the_project_name_and_app_name() {
    let env = Env::new();
    let dir = project(&env, "shop", Some("name: shop\nservices: [mailpit]\n"), false);
    let app = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("fixtures/apps/node-plain");
    for f in ["package.json", "server.js"] {
        std::fs::copy(app.join(f), dir.join(f)).expect("copy the app");
    }
    kilter_ok(&env, &dir, &["up"]);
    let r = routes(&served(&env));
    let base = nodeport(&env, "shop", "mailpit", "http") - 18; // the block's first port
    let dial = format!("kilter-shop-control-plane:{base}");
    assert_eq!(answer(&r, "shop.localhost"), Some(dial.as_str()), "{r:?}");
    assert_eq!(answer(&r, "app.shop.localhost"), Some(dial.as_str()));
    let status: Value =
        serde_json::from_slice(&kilter_ok(&env, &dir, &["status", "--json"]).stdout).expect("json");
    assert_eq!(status["urls"]["APP_URL"], "http://shop.localhost");
    // `kilter env` keeps the app's APP_URL (its NodePort) and adds the web UIs' names.
    let env_out = stdout_of(&kilter_ok(&env, &dir, &["env"]));
    assert_eq!(env_out.matches("export APP_URL=").count(), 1, "{env_out}");
    assert!(
        env_out.contains("export MAILPIT_WEB_URL=http://mailpit.shop.localhost\n"),
        "{env_out}"
    );
}

#[test]
fn ci_names_the_project_while_it_runs_and_after_deleting_its_cluster_they_answer_503() {
    // Kept: the names route to the node, as after `up`.
    let env = Env::new();
    let dir = project(&env, "shop", Some(SHOP), false);
    let out = kilter_ok(&env, &dir, &["ci", "--keep"]);
    let err = stderr_of(&out);
    assert!(!err.contains("warning"), "{err}");
    assert!(env.container("kilter-router").is_some(), "ci created the router");
    let r = routes(&served(&env));
    let np = nodeport(&env, "shop", "mailpit", "http");
    assert_eq!(
        answer(&r, "mailpit.shop.localhost"),
        Some(format!("kilter-shop-control-plane:{np}").as_str())
    );

    // Not kept: the cluster ci created goes, and its names answer 503 as after `destroy`.
    let env = Env::new();
    let dir = project(&env, "shop", Some(SHOP), false);
    kilter_ok(&env, &dir, &["ci"]);
    let log = std::fs::read_to_string(env.shim_log()).unwrap_or_default();
    assert!(log.contains("caddy reload --config /etc/kilter-router/caddy.json"), "{log}");
    let r = routes(&served(&env));
    let gone = answer(&r, "mailpit.shop.localhost").expect("the project is still known");
    assert!(gone.starts_with("503 ") && gone.contains("shop has no cluster"), "{gone}");
    assert!(
        !r.iter().any(|(_, w)| w.starts_with("kilter-shop-control-plane")),
        "no route to the deleted node: {r:?}"
    );
}

/// A router `kilter ci` could not create (its `docker run` fails) is one warning; after the
/// deletion there is no router to reload, so no second one and no `caddy reload`.
#[test]
fn ci_whose_router_could_not_be_made_warns_once_and_reloads_nothing() {
    let env = Env::new();
    let dir = project(&env, "shop", Some(SHOP), false);
    let wrapper = wrap_tool(
        &env,
        "docker",
        "docker-no-caddy",
        "'run '*caddy*",
        "echo \"Unable to find image 'caddy:2' locally\" >&2; exit 125",
    );
    let out = env
        .kilter(&dir)
        .env("KILTER_REGISTRY", "off")
        .env("KILTER_DOCKER", &wrapper)
        .arg("ci")
        .output()
        .expect("runs");
    let err = stderr_of(&out);
    assert!(out.status.success(), "a router is a convenience: {err}");
    assert_eq!(err.matches("the router could not be updated").count(), 1, "{err}");
    assert!(err.contains("  Unable to find image 'caddy:2' locally\n"), "docker's words: {err}");
    assert!(env.container("kilter-router").is_none());
    let log = std::fs::read_to_string(env.shim_log()).unwrap_or_default();
    assert!(log.contains("kind delete cluster"), "{log}");
    assert!(!log.contains("caddy reload"), "{log}");
}

#[test]
fn replay_ci_creating_the_router_and_reloading_after_the_deletion() {
    let script = crate::replay::assert_replay_equivalent(fresh_with_mailpit, &["ci"]);
    assert!(script.contains("caddy run --config /etc/kilter-router/caddy.json"), "{script}");
    assert!(script.contains("kilter project shop has no cluster"), "{script}");
    // The router the script created is reloaded after the deletion, as in the real run.
    let deleted = script.find("kind delete cluster").expect("the deletion");
    assert!(script[deleted..].contains("exec kilter-router caddy reload"), "{script}");
}

#[test]
fn ci_with_the_router_off_makes_none_and_router_false_keeps_the_names_away() {
    let env = Env::new();
    let dir = project(&env, "shop", Some(SHOP), false);
    without_shared_containers(&env, &dir, "ci");
    assert!(env.container("kilter-router").is_none());
    let log = std::fs::read_to_string(env.shim_log()).unwrap_or_default();
    assert!(!log.contains("kilter-router"), "no router command at all: {log}");

    // `router: false` beside a routed project: its kept ci cluster gets no names, the other keeps its.
    let news = project(&env, "news", Some("name: news\nservices:\n  - mailpit\n"), false);
    kilter_ok(&env, &news, &["up"]);
    let blog =
        project(&env, "blog", Some("name: blog\nrouter: false\nservices:\n  - minio\n"), false);
    kilter_ok(&env, &blog, &["ci", "--keep"]);
    let r = routes(&served(&env));
    assert!(answer(&r, "minio.blog.localhost").is_some_and(|a| a.starts_with("404 ")), "{r:?}");
    assert!(!r.iter().any(|(_, w)| w.starts_with("kilter-blog-")), "{r:?}");
    assert!(
        answer(&r, "mailpit.news.localhost").is_some_and(|a| a.starts_with("kilter-news-")),
        "{r:?}"
    );

    // With no router on the machine, a `router: false` project's ci (its deletion included)
    // makes no router call at all.
    let env = Env::new();
    let mag = project(&env, "mag", Some("name: mag\nrouter: false\nservices:\n  - minio\n"), false);
    let out = env.kilter(&mag).env("KILTER_REGISTRY", "off").arg("ci").output().expect("runs");
    assert!(out.status.success(), "{}", stderr_of(&out));
    let log = std::fs::read_to_string(env.shim_log()).unwrap_or_default();
    assert!(log.contains("kind delete cluster"), "{log}");
    assert!(!log.contains("kilter-router"), "no router command at all: {log}");
}

// ---------------------------------------------------------------------------------------------
// routes: the user's own Services

const ROUTED: &str = "name: shop\nroutes:\n  web: {service: web, port: 80}\n";

/// `kubectl ARGS…` through the fake, with shop's kubeconfig, as a user would run it.
fn shop_kubectl(env: &Env, args: &[&str]) -> std::process::Output {
    env.tool("kubectl")
        .env("KUBECONFIG", kubeconfig(env, "shop"))
        .args(["--context", "kind-kilter-shop"])
        .args(args)
        .output()
        .expect("kubectl runs")
}

/// The user's own Service `web` (as their Tiltfile would deploy it).
fn deploy_users_web(env: &Env) {
    let f = env.root().join("web-svc.yaml");
    std::fs::write(
        &f,
        "apiVersion: v1\nkind: Service\nmetadata:\n  name: web\n  namespace: shop-dev\nspec:\n  selector:\n    app: web\n    tier: front\n  ports:\n    - name: http\n      port: 80\n      targetPort: 8080\n",
    )
    .unwrap();
    let out = shop_kubectl(
        env,
        &["apply", "--server-side", "--field-manager=t", "-f", f.to_str().unwrap()],
    );
    assert!(out.status.success(), "{}", stderr_of(&out));
}

fn route_service(env: &Env) -> Option<Value> {
    let out =
        shop_kubectl(env, &["get", "service", "kilter-route-web", "-n", "shop-dev", "-o", "json"]);
    out.status.success().then(|| serde_json::from_slice(&out.stdout).expect("json"))
}

#[test]
fn a_route_to_a_service_not_deployed_yet_is_a_note_and_nothing_else() {
    let env = Env::new();
    let dir = project(&env, "shop", Some(ROUTED), false);
    let out = kilter_ok(&env, &dir, &["up"]);
    let err = stderr_of(&out);
    assert!(
        err.contains("route web: Service web not found in shop-dev yet; run `kilter up` again once it is deployed"),
        "{err}"
    );
    assert!(!err.contains("warning"), "{err}");
    assert!(route_service(&env).is_none(), "no Service for the route");
    let reg = std::fs::read_to_string(env.state_home().join("kilter").join("ports.json")).unwrap();
    assert!(!reg.contains("route:"), "no NodePort reserved: {reg}");
    // Nothing to route: no router was made for it.
    assert!(env.container("kilter-router").is_none());
}

#[test]
fn a_route_gets_a_nodeport_service_with_the_users_selector_that_stays_across_ups() {
    let env = Env::new();
    let dir = project(&env, "shop", Some(ROUTED), false);
    kilter_ok(&env, &dir, &["up"]);
    deploy_users_web(&env);
    let out = kilter_ok(&env, &dir, &["up"]);
    let err = stderr_of(&out);
    assert!(!err.contains("not found"), "{err}");
    let np = nodeport(&env, "shop", "route:web", "http");
    let svc = route_service(&env).expect("kilter-route-web exists");
    assert_eq!(svc["spec"]["type"], "NodePort");
    assert_eq!(svc["spec"]["selector"], serde_json::json!({"app": "web", "tier": "front"}));
    assert_eq!(svc["spec"]["ports"][0]["port"], 80);
    assert_eq!(svc["spec"]["ports"][0]["targetPort"], 8080);
    assert_eq!(svc["spec"]["ports"][0]["nodePort"].as_u64(), Some(np));
    assert_eq!(svc["metadata"]["labels"]["io.kilter.route"], "web");
    let (_, base) = ports_of("shop");
    let block = u64::from(base)..u64::from(base) + 20;
    assert!(block.contains(&np), "{np} in shop's block {block:?}");
    let r = routes(&served(&env));
    assert_eq!(
        answer(&r, "web.shop.localhost"),
        Some(format!("kilter-shop-control-plane:{np}").as_str())
    );
    let env_out = stdout_of(&kilter_ok(&env, &dir, &["env"]));
    assert!(env_out.contains("ROUTE_WEB_URL=http://web.shop.localhost"), "{env_out}");
    // A service added later and another `up`: the route's NodePort does not move, the
    // service gets another, and the route's Service is no "removed service".
    std::fs::write(dir.join("kilter.yaml"), format!("{ROUTED}services: [mailpit]\n")).unwrap();
    kilter_ok(&env, &dir, &["up"]);
    assert_eq!(nodeport(&env, "shop", "route:web", "http"), np);
    assert_ne!(nodeport(&env, "shop", "mailpit", "http"), np);
    assert_ne!(nodeport(&env, "shop", "mailpit", "smtp"), np);
    assert!(route_service(&env).is_some(), "the route's Service stays");
    // `ls` lists the services with their NodePorts, and not the route's.
    let ls: serde_json::Value =
        serde_json::from_slice(&kilter_ok(&env, &dir, &["ls", "--json"]).stdout).expect("json");
    let shop = ls["projects"]
        .as_array()
        .and_then(|p| p.iter().find(|p| p["project"] == "shop"))
        .unwrap_or_else(|| panic!("{ls}"));
    let np_of = |port: &str| nodeport(&env, "shop", "mailpit", port);
    assert_eq!(
        shop["services"],
        serde_json::json!({"mailpit": {"http": np_of("http"), "smtp": np_of("smtp")}}),
        "{ls}"
    );
    let r = routes(&served(&env));
    assert_eq!(
        answer(&r, "web.shop.localhost"),
        Some(format!("kilter-shop-control-plane:{np}").as_str())
    );
    // `stop`: its name answers 503 like the project's others.
    kilter_ok(&env, &dir, &["stop"]);
    let r = routes(&served(&env));
    assert!(answer(&r, "web.shop.localhost").is_some_and(|a| a.starts_with("503 ")), "{r:?}");
}

#[test]
fn a_route_that_clashes_with_a_service_is_exit_4_before_anything_changes() {
    let env = Env::new();
    let dir = project(
        &env,
        "shop",
        Some("name: shop\nservices:\n  - mailpit\nroutes:\n  mailpit: {service: web, port: 80}\n"),
        false,
    );
    let out = kilter(&env, &dir, &["up"]);
    assert_eq!(out.status.code(), Some(4), "{}", stderr_of(&out));
    let err = stderr_of(&out);
    assert!(
        err.contains("kilter.yaml:5:3: routes.mailpit: the name clashes with service `mailpit` at line 3, column 5"),
        "{err}"
    );
    assert!(env.calls().is_empty(), "nothing ran: {:?}", env.calls());
}

#[test]
fn a_dry_run_up_prints_the_route_service_it_would_apply() {
    let env = Env::new();
    let dir = project(&env, "shop", Some(ROUTED), false);
    kilter_ok(&env, &dir, &["up"]);
    deploy_users_web(&env);
    let out = kilter_ok(&env, &dir, &["up", "--dry-run"]);
    let text = format!("{}{}", stdout_of(&out), stderr_of(&out));
    assert!(
        text.contains("kubectl --context kind-kilter-shop apply --server-side '--field-manager=kilter' -f - < ")
            && text.contains("shop/routes.yaml\n"),
        "{text}"
    );
    assert!(text.contains("would: route web to Service web"), "{text}");
    assert!(text.contains("\"name\": \"kilter-route-web\""), "{text}");
    assert!(text.contains("routes.yaml"), "{text}");
    // Printed, not done.
    assert!(route_service(&env).is_none(), "a dry run applies nothing");
}

/// A route named `app` in a project with its own Tiltfile (kilter renders no app) gives the
/// user's Service the project's own names.
#[test]
fn a_route_named_app_gives_the_users_service_the_project_names() {
    let env = Env::new();
    let dir = project(
        &env,
        "shop",
        Some("name: shop\nroutes:\n  app: {service: web, port: 80}\n"),
        false,
    );
    kilter_ok(&env, &dir, &["up"]);
    deploy_users_web(&env);
    kilter_ok(&env, &dir, &["up"]);
    let np = nodeport(&env, "shop", "route:app", "http");
    let r = routes(&served(&env));
    let want = format!("kilter-shop-control-plane:{np}");
    assert_eq!(answer(&r, "shop.localhost"), Some(want.as_str()), "{r:?}");
    assert_eq!(answer(&r, "app.shop.localhost"), Some(want.as_str()), "{r:?}");
    let env_out = stdout_of(&kilter_ok(&env, &dir, &["env"]));
    assert!(env_out.contains("APP_URL=http://shop.localhost"), "{env_out}");
    assert!(!env_out.contains("ROUTE_APP_URL"), "{env_out}");
}
