//! Caddy in the router container: `docker run` of the router with its configuration directory
//! mounted read-only and `caddy run --config …`, and `docker exec <router> caddy reload --config
//! …`. Pure argv builders; the runner runs them.

use super::docker::Docker;
use crate::exec::Cmd;

/// The router container.
#[derive(Debug, Clone)]
pub struct RouterSpec {
    pub name: String,
    pub image: String,
    /// Published as `127.0.0.1:<host_port>:80`.
    pub host_port: u16,
    pub network: String,
    /// The host directory holding the configuration, mounted read-only at `mount` (a
    /// directory, not the file: kilter replaces the file by rename, which a file mount would
    /// not see).
    pub config_dir: String,
    pub mount: String,
    /// The configuration file as the container sees it.
    pub config: String,
    pub labels: Vec<(String, String)>,
    /// `--sysctl net.ipv4.tcp_migrate_req=1` ([`MIGRATE_SYSCTL`]): off only on an engine whose
    /// kernel lacks it.
    pub migrate_requests: bool,
}

/// Caddy opens a new listening socket on each reload (SO_REUSEPORT) and closes the old one; the
/// kernel resets the connections still queued on the old socket unless this per-network-namespace
/// switch (Linux ≥ 5.14) moves them to the new one (docs/real-tools.md, "Caddy's reload").
pub const MIGRATE_SYSCTL: &str = "net.ipv4.tcp_migrate_req";

/// `caddy run --config FILE`: the container's command (Caddy loads the JSON file).
pub fn run_args(config: &str) -> Vec<String> {
    ["caddy", "run", "--config", config].map(str::to_owned).to_vec()
}

/// `docker run -d --name N --restart unless-stopped -p 127.0.0.1:P:80 --network kind
/// [--sysctl net.ipv4.tcp_migrate_req=1] -v DIR:/etc/kilter-router:ro --label … IMAGE caddy run
/// --config FILE`
pub fn run_cmd(docker: &Docker<'_>, spec: &RouterSpec) -> Cmd {
    let mut c = docker.bin.cmd(format!("start the router {}", spec.name)).args([
        "run",
        "-d",
        "--name",
        &spec.name,
        "--restart",
        "unless-stopped",
        "-p",
        &format!("127.0.0.1:{}:80", spec.host_port),
        "--network",
        &spec.network,
        "-v",
        &format!("{}:{}:ro", spec.config_dir, spec.mount),
    ]);
    if spec.migrate_requests {
        c = c.args(["--sysctl".to_owned(), format!("{MIGRATE_SYSCTL}=1")]);
    }
    for (k, v) in &spec.labels {
        c = c.args(["--label".to_owned(), format!("{k}={v}")]);
    }
    c.arg(&spec.image).args(run_args(&spec.config)).mutate()
}

/// `docker exec ROUTER caddy reload --config FILE`: a graceful swap through Caddy's admin API.
pub fn reload_cmd(docker: &Docker<'_>, router: &str, config: &str) -> Cmd {
    docker.exec_cmd(
        router,
        &format!("reload the router's routes ({config})"),
        &["caddy", "reload", "--config", config].map(str::to_owned),
    )
}

/// `docker run` of the router could not publish its port: held by docker or another program,
/// or a privileged port the engine may not bind (rootless Docker: "permission denied").
pub fn publish_refused(stderr: &str) -> bool {
    super::docker::publish_failed(stderr) || stderr.contains("permission denied")
}

/// `docker run --sysctl net.ipv4.tcp_migrate_req=1` on an engine whose kernel has no such
/// switch (Linux < 5.14): runc cannot open `/proc/sys/net/ipv4/tcp_migrate_req` (after docker
/// created the container), or the engine refuses the name.
pub fn migrate_refused(stderr: &str) -> bool {
    stderr.contains("tcp_migrate_req")
}

/// `docker run --network kind` before any cluster made kind's network.
pub fn network_missing(stderr: &str) -> bool {
    stderr.contains("network kind not found")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn spec(migrate_requests: bool) -> RouterSpec {
        RouterSpec {
            name: "kilter-router".into(),
            image: "caddy:2".into(),
            host_port: 80,
            network: "kind".into(),
            config_dir: "/home/u/.cache/kilter/.router".into(),
            mount: "/etc/kilter-router".into(),
            config: "/etc/kilter-router/caddy.json".into(),
            labels: vec![("io.kilter.shared".into(), "router".into())],
            migrate_requests,
        }
    }

    #[test]
    fn the_router_runs_with_request_migration_unless_told_not_to() {
        let bin =
            crate::tools::Bin { display: "docker".into(), path: Some("/usr/bin/docker".into()) };
        let d = Docker { bin: &bin };
        let head = "docker run -d --name kilter-router --restart unless-stopped -p 127.0.0.1:80:80 --network kind -v /home/u/.cache/kilter/.router:/etc/kilter-router:ro";
        let tail = "--label 'io.kilter.shared=router' caddy:2 caddy run --config /etc/kilter-router/caddy.json";
        assert_eq!(
            run_cmd(&d, &spec(true)).to_string(),
            format!("{head} --sysctl 'net.ipv4.tcp_migrate_req=1' {tail}")
        );
        assert_eq!(run_cmd(&d, &spec(false)).to_string(), format!("{head} {tail}"));
    }

    #[test]
    fn a_kernel_without_request_migration_is_told_from_other_failures() {
        // Docker 20.10.24 with runc 1.1 (measured here, with a sysctl this kernel lacks, renamed).
        assert!(migrate_refused(
            "docker: Error response from daemon: failed to create shim task: OCI runtime create failed: runc create failed: unable to start container process: error during container init: open /proc/sys/net/ipv4/tcp_migrate_req: no such file or directory: unknown\n\nRun 'docker run --help' for more information"
        ));
        assert!(!migrate_refused(
            "docker: Error response from daemon: driver failed programming external connectivity on endpoint kilter-router (0123): Bind for 127.0.0.1:80 failed: port is already allocated\n"
        ));
        assert!(!migrate_refused("docker: Error response from daemon: network kind not found."));
    }
}
