//! What docker's stderr says: the daemon is not reachable, a port is taken, a name is in use,
//! an image cannot be had, a named object is missing.

use crate::error::{Code, Exit};

/// Is this stderr the "daemon not reachable" family of errors?
pub fn daemon_unreachable(stderr: &str) -> bool {
    stderr.contains("Cannot connect to the Docker daemon")
        || stderr.contains("permission denied while trying to connect to the Docker daemon")
        || stderr.contains("error during connect")
}

/// The exit-3 error for an unreachable daemon, with a hint that fits the cause.
pub fn daemon_error(stderr: &str) -> Exit {
    let mut lines = stderr.lines().map(str::trim);
    let line = lines
        .clone()
        .find(|l| daemon_unreachable(l))
        .or_else(|| lines.find(|l| !l.is_empty()))
        .unwrap_or("no answer");
    // Docker 20.10 clients (Debian's docker.io) print only a template error for
    // `docker info --format '{{.ServerVersion}}'` when no daemon answers.
    let first = if line.starts_with("template:") && line.contains("nil pointer") {
        "`docker info` got no answer from the daemon"
    } else {
        line
    };
    let mut hint = if stderr.contains("permission denied") {
        "add your user to the `docker` group (`sudo usermod -aG docker $USER`, then log in again), or run Docker Desktop".to_owned()
    } else {
        "start Docker (Docker Desktop, or `sudo systemctl start docker`) and check with `docker info`".to_owned()
    };
    if let Some(host) = std::env::var("DOCKER_HOST").ok().filter(|h| !h.is_empty()) {
        hint.push_str(&format!(" (DOCKER_HOST is set to {host})"));
    }
    Exit::new(Code::Environment, format!("the Docker daemon is not reachable: {first}")).hint(hint)
}

/// Whether a failed `docker stats` failed because a named container went away: before the
/// call (`Error response from daemon: No such container: X`) or while it was sampled (the
/// CLI prints only `EOF`).
pub fn stats_lost_a_container(stderr: &str) -> bool {
    stderr.contains("No such container") || stderr.lines().any(|l| l.trim() == "EOF")
}

/// `docker run`/`start` could not publish a port because something holds it (docker's own
/// "port is already allocated").
pub fn port_allocated(stderr: &str) -> bool {
    stderr.contains("port is already allocated")
}

/// `docker run -p` failed on a port held by docker or by another program.
pub fn publish_failed(stderr: &str) -> bool {
    port_allocated(stderr) || stderr.contains("address already in use")
}

/// `docker network connect`: the container is on that network already.
pub fn already_on_network(stderr: &str) -> bool {
    stderr.contains("already exists in network")
}

/// `docker run --name N`: a container of that name exists.
pub fn name_in_use(stderr: &str) -> bool {
    stderr.contains("is already in use by container")
}

/// `docker run`: the image could not be had (not local, and the pull failed or was refused).
pub fn image_unavailable(stderr: &str) -> bool {
    stderr.contains("pull access denied")
        || stderr.contains("manifest unknown")
        || stderr.contains("Unable to find image")
}

/// Every non-empty line of stderr says that a named object does not exist (`no_such`, e.g.
/// `no such volume`, compared without case); true for an empty stderr.
pub(super) fn only_missing(stderr: &str, no_such: &str) -> bool {
    stderr
        .lines()
        .filter(|l| !l.trim().is_empty())
        .all(|l| l.to_ascii_lowercase().contains(no_such))
}
