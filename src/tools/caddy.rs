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
}

/// `caddy run --config FILE`: the container's command (Caddy loads the JSON file).
pub fn run_args(config: &str) -> Vec<String> {
    ["caddy", "run", "--config", config].map(str::to_owned).to_vec()
}

/// `docker run -d --name N --restart unless-stopped -p 127.0.0.1:P:80 --network kind
/// -v DIR:/etc/kilter-router:ro --label … IMAGE caddy run --config FILE`
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

/// `docker run --network kind` before any cluster made kind's network.
pub fn network_missing(stderr: &str) -> bool {
    stderr.contains("network kind not found")
}
