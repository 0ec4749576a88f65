//! Wiring a cluster to the registry and its caches: containerd `hosts.toml` files in the node
//! (kind's recipe, `/etc/containerd/certs.d`) and the `local-registry-hosting` ConfigMap
//! (KEP-1755) that tells Tilt where to push.

use anyhow::Result;
use camino::{Utf8Path, Utf8PathBuf};

use super::{CERTS_DIR, HELP_URL, HOSTING_KEY, HOSTING_NAME, HOSTING_NAMESPACE, Settings};
use crate::exec::{Content, Output, Runner};
use crate::fsutil::Perm;
use crate::tools::docker::{self, Docker};
use crate::tools::kubectl::Kubectl;

/// One containerd `hosts.toml` in a node.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HostsFile {
    /// The registry host as images name it: `localhost:5001`, `docker.io`, …
    pub host: String,
    pub content: String,
}

impl HostsFile {
    pub fn node_dir(&self) -> String {
        format!("{CERTS_DIR}/{}", self.host)
    }
    pub fn node_path(&self) -> String {
        format!("{}/hosts.toml", self.node_dir())
    }
    /// The copy kilter writes in the project's cache dir (the `docker exec -i` stdin).
    pub fn local_path(&self, cache: &Utf8Path) -> Utf8PathBuf {
        cache.join("registry").join("certs.d").join(&self.host).join("hosts.toml")
    }
}

/// The files that point a node at the registry (`localhost:<port>`) and at each cache.
pub fn hosts_files(settings: &Settings, port: u16) -> Vec<HostsFile> {
    let mut v = vec![HostsFile {
        host: format!("localhost:{port}"),
        content: format!("[host.\"http://{}:5000\"]\n", settings.registry_name()),
    }];
    for u in &settings.upstreams {
        v.push(HostsFile {
            host: u.host.clone(),
            content: format!(
                "server = \"{}\"\n\n[host.\"http://{}:5000\"]\n  capabilities = [\"pull\", \"resolve\"]\n",
                u.remote,
                settings.cache_name(u)
            ),
        });
    }
    v
}

/// The value of `localRegistryHosting.v1` (KEP-1755).
pub fn hosting_value(port: u16) -> String {
    format!("host: \"localhost:{port}\"\nhelp: \"{HELP_URL}\"\n")
}

/// The `local-registry-hosting` ConfigMap in `kube-public`.
pub fn hosting_manifest(port: u16) -> String {
    let mut s = format!(
        "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: {HOSTING_NAME}\n  namespace: {HOSTING_NAMESPACE}\n  labels:\n    app.kubernetes.io/managed-by: kilter\ndata:\n  {HOSTING_KEY}: |\n"
    );
    for l in hosting_value(port).lines() {
        s.push_str(&format!("    {l}\n"));
    }
    s
}

pub fn hosting_local_path(cache: &Utf8Path) -> Utf8PathBuf {
    cache.join("registry").join("local-registry-hosting.yaml")
}

/// Which hosts files need writing after `docker exec NODE cat <every node_path>`: the ones cat
/// could not read, and all of them when the others do not read back exactly.
pub fn hosts_to_write(files: &[HostsFile], probe: &Output) -> Vec<usize> {
    let paths: Vec<String> = files.iter().map(HostsFile::node_path).collect();
    let read = docker::parse_cat(probe, &paths);
    if read.complete {
        let all: String = files.iter().map(|f| f.content.as_str()).collect();
        return if read.text == all { Vec::new() } else { (0..files.len()).collect() };
    }
    let missing = read.missing;
    if missing.is_empty() {
        // The exec itself failed (or something else went wrong): write everything.
        return (0..files.len()).collect();
    }
    let present: String = (0..files.len())
        .filter(|i| !missing.contains(i))
        .map(|i| files[i].content.as_str())
        .collect();
    if read.text == present { missing } else { (0..files.len()).collect() }
}

/// Wire one node: write the missing `hosts.toml` files (decided by `hosts_to_write`) into it.
pub fn write_hosts(
    runner: &Runner<'_>,
    docker: &Docker<'_>,
    node: &str,
    cache: &Utf8Path,
    files: &[&HostsFile],
) -> Result<()> {
    if files.is_empty() {
        return Ok(());
    }
    for f in files {
        runner.write_file(
            &f.local_path(cache),
            &Content::text(f.content.clone()),
            Perm::Private(0o600),
        )?;
    }
    let mut mkdir = vec!["mkdir".to_owned(), "-p".to_owned()];
    mkdir.extend(files.iter().map(|f| f.node_dir()));
    runner.run(&docker.exec_cmd(
        node,
        &format!("make the containerd registry dirs in {node}"),
        &mkdir,
    ))?;
    for f in files {
        let args = vec!["cp".to_owned(), "/dev/stdin".to_owned(), f.node_path()];
        let what = format!("write {} in {node}", f.node_path());
        runner.run(&docker.exec_stdin_cmd(node, &what, &args, &f.local_path(cache)))?;
    }
    Ok(())
}

/// `docker exec NODE cat <every hosts.toml>`: one probe for all of them.
pub fn hosts_probe_cmd(docker: &Docker<'_>, node: &str, files: &[HostsFile]) -> crate::exec::Cmd {
    let mut args = vec!["cat".to_owned()];
    args.extend(files.iter().map(HostsFile::node_path));
    docker.exec_query_cmd(node, &format!("read the containerd registry config of {node}"), &args)
}

/// Write the ConfigMap next to the project's files and apply it (server-side, field manager
/// `kilter`, as kilter applies its services).
pub fn apply_hosting(
    runner: &Runner<'_>,
    kubectl: &Kubectl<'_>,
    cache: &Utf8Path,
    port: u16,
) -> Result<()> {
    let path = hosting_local_path(cache);
    runner.write_file(&path, &Content::text(hosting_manifest(port)), Perm::Private(0o600))?;
    runner.run(&kubectl.hosting_apply_cmd(&path))?;
    Ok(())
}
