//! The machine's shared local registry and pull-through image caches (README "Local registry").
//!
//! One registry for every project (`kilter-registry`, published on `127.0.0.1:<port>`, default
//! 5001, recorded in the port registry) and one pull-through cache per upstream
//! (`kilter-cache-<upstream>`, the same image with `REGISTRY_PROXY_REMOTEURL`), each with its own
//! docker volume, restart policy `unless-stopped`, and connected to the `kind` network once it
//! exists. Each cluster is wired to them: containerd `hosts.toml` files in the node (kind's
//! recipe, `/etc/containerd/certs.d`) and the `local-registry-hosting` ConfigMap (KEP-1755) that
//! tells Tilt where to push.
//!
//! Everything here goes through the runner: the dry-run script creates the same containers,
//! volumes and files.

use anyhow::Result;
use camino::{Utf8Path, Utf8PathBuf};
use serde::Serialize;

use crate::error::{Code, Exit, invalid};
use crate::exec::{Content, Output, Runner};
use crate::fsutil::Perm;
use crate::ports;
use crate::project::Project;
use crate::tools::docker::{self, Container, Docker, RunSpec};
use crate::tools::kubectl::Kubectl;
use crate::ui::Ui;

pub const DEFAULT_PORT: u16 = 5001;
pub const DEFAULT_IMAGE: &str = "registry:3";
pub const DEFAULT_PREFIX: &str = "kilter";
/// The port the registry listens on inside its container.
pub const CONTAINER_PORT: &str = "5000/tcp";
/// kind's docker network (it exists once the first kind cluster was created).
pub const KIND_NETWORK: &str = "kind";
/// Label on the shared containers and volumes: `registry` or `cache`.
pub const SHARED_LABEL: &str = "io.kilter.shared";
/// Label on a cache container and volume: the upstream it mirrors.
pub const UPSTREAM_LABEL: &str = "io.kilter.upstream";
/// Where containerd looks for per-registry `hosts.toml` files in a node.
pub const CERTS_DIR: &str = "/etc/containerd/certs.d";
pub use crate::tools::kubectl::{HOSTING_KEY, HOSTING_NAME, HOSTING_NAMESPACE};
pub const HELP_URL: &str = "https://kind.sigs.k8s.io/docs/user/local-registry/";
/// How far past a busy port kilter looks for a free one.
const PORT_SPAN: u16 = 100;

/// The upstreams cached by default, with the URL each cache pulls from.
pub const UPSTREAMS: [(&str, &str); 4] = [
    ("docker.io", "https://registry-1.docker.io"),
    ("ghcr.io", "https://ghcr.io"),
    ("quay.io", "https://quay.io"),
    ("registry.k8s.io", "https://registry.k8s.io"),
];

/// One cached upstream registry.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Upstream {
    /// The registry host images name, e.g. `docker.io`.
    pub host: String,
    /// The URL the cache pulls from, e.g. `https://registry-1.docker.io`.
    pub remote: String,
}

/// Machine-wide settings, from the environment.
#[derive(Debug, Clone)]
pub struct Settings {
    /// `KILTER_REGISTRY=off` turns the registry off for every project.
    pub machine_on: bool,
    /// Container and volume name prefix (`KILTER_REGISTRY_PREFIX`, default `kilter`).
    pub prefix: String,
    /// `KILTER_REGISTRY_IMAGE`, default `registry:3`.
    pub image: String,
    /// The port to try first when none is recorded (`KILTER_REGISTRY_PORT`, default 5001).
    pub preferred_port: u16,
    pub upstreams: Vec<Upstream>,
}

fn name_ok(s: &str) -> bool {
    !s.is_empty()
        && s.len() <= 40
        && s.starts_with(|c: char| c.is_ascii_lowercase() || c.is_ascii_digit())
        && s.chars().all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-' || c == '.')
}

impl Settings {
    pub fn from_env() -> Result<Settings, Exit> {
        Settings::from_lookup(|k| std::env::var(k).ok())
    }

    /// Settings from a variable lookup (the environment, or a table in tests).
    pub fn from_lookup(get: impl Fn(&str) -> Option<String>) -> Result<Settings, Exit> {
        let machine_on = match get("KILTER_REGISTRY").map(|v| v.trim().to_ascii_lowercase()) {
            None => true,
            Some(v) => match v.as_str() {
                "" | "on" | "1" | "true" | "yes" => true,
                "off" | "0" | "false" | "no" => false,
                _ => {
                    return Err(invalid(format!("KILTER_REGISTRY={v}: expected on or off")).hint(
                        "`KILTER_REGISTRY=off` keeps every project off the shared registry",
                    ));
                }
            },
        };
        let image = get("KILTER_REGISTRY_IMAGE")
            .map(|s| s.trim().to_owned())
            .filter(|s| !s.is_empty())
            .unwrap_or_else(|| DEFAULT_IMAGE.to_owned());
        let prefix = get("KILTER_REGISTRY_PREFIX")
            .map(|s| s.trim().to_owned())
            .filter(|s| !s.is_empty())
            .unwrap_or_else(|| DEFAULT_PREFIX.to_owned());
        if !name_ok(&prefix) {
            return Err(invalid(format!(
                "KILTER_REGISTRY_PREFIX={prefix}: expected lowercase letters, digits, '-' and '.' (at most 40)"
            )));
        }
        let preferred_port = match get("KILTER_REGISTRY_PORT").map(|s| s.trim().to_owned()) {
            None => DEFAULT_PORT,
            Some(s) if s.is_empty() => DEFAULT_PORT,
            Some(s) => match s.parse::<u16>() {
                Ok(p) if p > 0 => p,
                _ => {
                    return Err(invalid(format!(
                        "KILTER_REGISTRY_PORT={s}: expected a port number (1-65535)"
                    )));
                }
            },
        };
        let mut upstreams: Vec<Upstream> = UPSTREAMS
            .iter()
            .map(|(h, r)| Upstream { host: (*h).to_owned(), remote: (*r).to_owned() })
            .collect();
        if let Some(over) = get("KILTER_CACHE_UPSTREAMS").filter(|s| !s.trim().is_empty()) {
            for item in over.split(',').map(str::trim).filter(|s| !s.is_empty()) {
                let Some((host, url)) = item.split_once('=') else {
                    return Err(invalid(format!(
                        "KILTER_CACHE_UPSTREAMS: `{item}` is not HOST=URL (e.g. docker.io=http://127.0.0.1:5000)"
                    )));
                };
                let (host, url) = (host.trim(), url.trim());
                if !name_ok(host) || !(url.starts_with("http://") || url.starts_with("https://")) {
                    return Err(invalid(format!(
                        "KILTER_CACHE_UPSTREAMS: `{item}` is not HOST=URL with an http(s) URL"
                    )));
                }
                match upstreams.iter_mut().find(|u| u.host == host) {
                    Some(u) => u.remote = url.to_owned(),
                    None => {
                        upstreams.push(Upstream { host: host.to_owned(), remote: url.to_owned() })
                    }
                }
            }
        }
        Ok(Settings { machine_on, prefix, image, preferred_port, upstreams })
    }

    /// `kilter-registry`
    pub fn registry_name(&self) -> String {
        format!("{}-registry", self.prefix)
    }

    /// `kilter-cache-docker.io`
    pub fn cache_name(&self, u: &Upstream) -> String {
        format!("{}-cache-{}", self.prefix, u.host)
    }

    /// The registry, then each cache (containers and volumes share these names).
    pub fn names(&self) -> Vec<String> {
        let mut v = vec![self.registry_name()];
        v.extend(self.upstreams.iter().map(|u| self.cache_name(u)));
        v
    }
}

/// Whether this project uses the registry: the machine's setting and kilter.yaml `registry:`
/// (default true).
pub fn enabled_for(project: &Project, settings: &Settings) -> Result<bool> {
    Ok(settings.machine_on && project.config.registry)
}

/// The first free port from `preferred` on (within [`PORT_SPAN`]).
pub fn pick_port(preferred: u16, busy: impl Fn(u16) -> bool) -> Option<u16> {
    (0..PORT_SPAN).filter_map(|i| preferred.checked_add(i)).find(|p| !busy(*p))
}

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

/// The role a shared name stands for: `registry` for the registry, `cache` for a cache.
fn role_of(settings: &Settings, name: &str) -> &'static str {
    if name == settings.registry_name() { "registry" } else { "cache" }
}

/// Whether a shared container is kilter's: it carries [`SHARED_LABEL`] with the role its name
/// stands for. A same-named container without it is someone else's and is never started,
/// connected, stopped or removed.
pub fn is_kilters(settings: &Settings, c: &Container) -> bool {
    c.label(SHARED_LABEL) == Some(role_of(settings, c.short_name()))
}

/// What stops kilter at a same-named container or volume it did not create (exit 1).
pub fn in_the_way(kind: &str, names: &[String]) -> Exit {
    let list = names.join(", ");
    let (them, it) = if names.len() == 1 { ("it", "it is") } else { ("them", "they are") };
    let first = names.first().map(String::as_str).unwrap_or("NAME");
    let hint = if kind == "container" {
        format!(
            "kilter leaves {them} alone: rename {them} out of the way (`docker rename {first} {first}-old`) or remove {them} if {it} not needed; or give kilter's shared containers other names with KILTER_REGISTRY_PREFIX (`KILTER_REGISTRY=off` runs without the local registry)"
        )
    } else {
        format!(
            "kilter leaves {them} alone: docker volumes cannot be renamed, so copy what you need and `docker volume rm {first}`; or give kilter's volumes other names with KILTER_REGISTRY_PREFIX (`KILTER_REGISTRY=off` runs without the local registry)"
        )
    };
    Exit::new(
        Code::Failed,
        format!(
            "docker {kind}{} {list} {} in the way: kilter did not create {them} (no `{SHARED_LABEL}` label)",
            if names.len() == 1 { "" } else { "s" },
            if names.len() == 1 { "is" } else { "are" }
        ),
    )
    .hint(hint)
}

/// The shared containers as `docker inspect` showed them.
#[derive(Debug, Clone, Default)]
pub struct Seen {
    pub containers: Vec<Container>,
}

impl Seen {
    pub fn new(containers: Vec<Container>) -> Seen {
        Seen { containers }
    }
    pub fn get(&self, name: &str) -> Option<&Container> {
        self.containers.iter().find(|c| c.short_name() == name)
    }

    /// The shared names held by containers kilter did not create, in [`Settings::names`] order.
    pub fn foreign(&self, settings: &Settings) -> Vec<String> {
        settings
            .names()
            .into_iter()
            .filter(|n| self.get(n).is_some_and(|c| !is_kilters(settings, c)))
            .collect()
    }

    /// Refuse (exit 1) when a shared name is held by a container kilter did not create.
    pub fn check(&self, settings: &Settings) -> Result<(), Exit> {
        let foreign = self.foreign(settings);
        if foreign.is_empty() { Ok(()) } else { Err(in_the_way("container", &foreign)) }
    }
}

/// What ensuring the shared containers needs.
pub struct Machine<'a, 'r> {
    pub runner: &'a Runner<'r>,
    pub ui: &'a Ui,
    pub docker: &'a Docker<'a>,
    pub settings: &'a Settings,
    /// `ports.json` (the registry port is recorded there).
    pub ports_path: Utf8PathBuf,
    /// `registry.lock` next to it: one kilter at a time creates the shared containers.
    pub lock_path: Utf8PathBuf,
}

/// The recorded registry port, if any.
pub fn recorded_port(ports_path: &Utf8Path) -> Result<Option<u16>> {
    ports::shared_port(ports_path, ports::Shared::Registry)
}

impl<'a, 'r> Machine<'a, 'r> {
    /// The machine's shared containers as this kilter reaches them: the port registry and the
    /// `registry.lock` next to it in the state dir.
    pub fn new(
        runner: &'a Runner<'r>,
        ui: &'a Ui,
        docker: &'a Docker<'a>,
        settings: &'a Settings,
        dirs: &crate::project::Dirs,
    ) -> Self {
        Machine {
            runner,
            ui,
            docker,
            settings,
            ports_path: dirs.port_registry(),
            lock_path: dirs.state.join("registry.lock"),
        }
    }

    /// Record the port in the port registry (when it differs from what is recorded).
    pub fn record_port(&self, port: u16) -> Result<()> {
        ports::record_shared_port(&self.ports_path, self.runner, ports::Shared::Registry, port)
    }

    fn labels(&self, role: &str, upstream: Option<&Upstream>) -> Vec<(String, String)> {
        let mut l = vec![(SHARED_LABEL.to_owned(), role.to_owned())];
        if let Some(u) = upstream {
            l.push((UPSTREAM_LABEL.to_owned(), u.host.clone()));
        }
        l
    }

    fn create_volume(&self, name: &str, role: &str, upstream: Option<&Upstream>) -> Result<()> {
        let labels = self.labels(role, upstream);
        let refs: Vec<(&str, &str)> =
            labels.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect();
        self.runner.run(&self.docker.volume_create_cmd(name, &refs))?;
        Ok(())
    }

    /// The registry's port: the one it is published on, else the recorded one, else the
    /// preferred one — moved past busy ports (and saying so) when kilter will create it.
    pub fn plan_port(&self, seen: &Seen) -> Result<u16> {
        seen.check(self.settings)?;
        if let Some(p) =
            seen.get(&self.settings.registry_name()).and_then(|c| c.configured_port(CONTAINER_PORT))
        {
            return Ok(p);
        }
        let start = recorded_port(&self.ports_path)?.unwrap_or(self.settings.preferred_port);
        self.free_port_from(start)
    }

    fn free_port_from(&self, start: u16) -> Result<u16> {
        let port = pick_port(start, ports::port_busy).ok_or_else(|| {
            Exit::new(
                Code::Failed,
                format!(
                    "no free port for the local registry in {start}-{}",
                    start.saturating_add(PORT_SPAN - 1)
                ),
            )
            .hint("set KILTER_REGISTRY_PORT to a free port, or `KILTER_REGISTRY=off`")
        })?;
        if port != start {
            self.ui.note(&format!(
                "port {start} is in use by another program; the local registry uses 127.0.0.1:{port}"
            ));
        }
        Ok(port)
    }

    /// Create the registry on `port` (moving on when docker finds it taken); returns the port.
    fn create_registry(&self, planned: u16) -> Result<u16> {
        let name = self.settings.registry_name();
        self.create_volume(&name, "registry", None)?;
        let mut port = planned;
        for _ in 0..3 {
            if port != planned {
                self.record_port(port)?;
            }
            let spec = RunSpec {
                name: name.clone(),
                image: self.settings.image.clone(),
                restart: "unless-stopped".into(),
                publish: vec![format!("127.0.0.1:{port}:5000")],
                network: None,
                volumes: vec![format!("{name}:/var/lib/registry")],
                env: Vec::new(),
                labels: self.labels("registry", None),
            };
            let cmd = self.docker.run_cmd(&spec);
            let out = self.runner.run_unchecked(&cmd)?;
            if out.success() {
                return Ok(port);
            }
            if docker::publish_failed(&out.stderr) {
                // docker created the container before it failed to publish the port.
                self.runner.run(&self.docker.rm_force_cmd(std::slice::from_ref(&name)))?;
                self.ui.note(&format!("port {port} was taken meanwhile; trying the next one"));
                port = self.free_port_from(port.saturating_add(1))?;
                continue;
            }
            return Err(self
                .runner
                .failed(&cmd, &out, Some(run_hint(&out, &self.settings.image)))
                .into());
        }
        Err(Exit::new(Code::Failed, "could not publish the local registry on a free port")
            .hint("set KILTER_REGISTRY_PORT to a free port")
            .into())
    }

    fn create_cache(&self, u: &Upstream, kind_net: bool) -> Result<()> {
        let name = self.settings.cache_name(u);
        self.create_volume(&name, "cache", Some(u))?;
        let spec = RunSpec {
            name: name.clone(),
            image: self.settings.image.clone(),
            restart: "unless-stopped".into(),
            publish: Vec::new(),
            network: kind_net.then(|| KIND_NETWORK.to_owned()),
            volumes: vec![format!("{name}:/var/lib/registry")],
            env: vec![("REGISTRY_PROXY_REMOTEURL".into(), u.remote.clone())],
            labels: self.labels("cache", Some(u)),
        };
        let cmd = self.docker.run_cmd(&spec);
        let out = self.runner.run_unchecked(&cmd)?;
        if !out.success() {
            return Err(self
                .runner
                .failed(&cmd, &out, Some(run_hint(&out, &self.settings.image)))
                .into());
        }
        Ok(())
    }

    /// Inspect every shared container (one call).
    pub fn inspect(&self) -> Result<Seen> {
        let cmd = self.docker.inspect_many_cmd(&self.settings.names());
        let out = self.runner.run_unchecked(&cmd)?;
        Ok(Seen::new(crate::tools::docker::interpret_inspect_many(self.runner, &cmd, &out)?))
    }

    /// Make the registry and every cache exist and run, connected to the `kind` network when it
    /// exists (`kind_net`). `seen` is what an earlier inspect showed; when something must be
    /// created, kilter takes the machine-wide lock and looks again. `planned` is
    /// [`Machine::plan_port`]'s answer, already recorded by the caller. Returns the port.
    pub fn ensure(&self, seen: &Seen, kind_net: bool, planned: u16) -> Result<u16> {
        seen.check(self.settings)?;
        let names = self.settings.names();
        let all_up = names.iter().all(|n| seen.get(n).is_some_and(up));
        let all_connected = !kind_net
            || names.iter().all(|n| seen.get(n).is_some_and(|c| c.on_network(KIND_NETWORK)));
        let reg = seen.get(&self.settings.registry_name());
        if all_up
            && all_connected
            && let Some(port) = reg.and_then(|c| c.configured_port(CONTAINER_PORT))
        {
            if port != planned {
                self.record_port(port)?;
            }
            return Ok(port);
        }
        let timeout = crate::lock::default_timeout()?;
        let _lock =
            self.runner.lock(&self.lock_path, "the shared local registry", "kilter", timeout)?;
        // Another kilter may have made them while this one waited for the lock.
        let fresh;
        let seen = if _lock.is_some() {
            fresh = self.inspect()?;
            &fresh
        } else {
            seen
        };
        seen.check(self.settings)?;
        let reg_name = self.settings.registry_name();
        // Volumes of the containers about to be created: one of that name that kilter did not
        // create would be mounted (and written to) by the new container.
        let mut creating: Vec<String> = Vec::new();
        if seen.get(&reg_name).is_none() {
            creating.push(reg_name.clone());
        }
        creating.extend(
            self.settings
                .upstreams
                .iter()
                .map(|u| self.settings.cache_name(u))
                .filter(|n| seen.get(n).is_none()),
        );
        self.check_volumes(&creating)?;
        // The registry first (published on the default bridge, as in kind's recipe, then
        // connected to kind), so that caches starting next can already reach it by name.
        let port = match seen.get(&reg_name) {
            Some(c) => {
                let port = c.configured_port(CONTAINER_PORT).unwrap_or(planned);
                if port != planned {
                    self.record_port(port)?;
                }
                if !up(c) {
                    self.start(std::slice::from_ref(&reg_name), port)?;
                }
                if kind_net && !c.on_network(KIND_NETWORK) {
                    self.connect(&reg_name)?;
                }
                port
            }
            None => {
                let step = self.ui.step(
                    &format!("Creating the local registry {reg_name}"),
                    &format!("create the local registry {reg_name}"),
                );
                let port = self.create_registry(planned)?;
                if kind_net {
                    self.connect(&reg_name)?;
                }
                step.done();
                port
            }
        };
        let missing: Vec<&Upstream> = self
            .settings
            .upstreams
            .iter()
            .filter(|u| seen.get(&self.settings.cache_name(u)).is_none())
            .collect();
        if !missing.is_empty() {
            let step = self.ui.step(
                &format!("Creating {} pull-through image caches", missing.len()),
                &format!("create {} pull-through image caches", missing.len()),
            );
            for u in &missing {
                self.create_cache(u, kind_net)?;
            }
            step.done();
        }
        let existing: Vec<&Container> = self
            .settings
            .upstreams
            .iter()
            .filter_map(|u| seen.get(&self.settings.cache_name(u)))
            .collect();
        let to_start: Vec<String> =
            existing.iter().filter(|c| !up(c)).map(|c| c.short_name().to_owned()).collect();
        if !to_start.is_empty() {
            self.start(&to_start, port)?;
        }
        if kind_net {
            for c in existing.iter().filter(|c| !c.on_network(KIND_NETWORK)) {
                self.connect(c.short_name())?;
            }
        }
        Ok(port)
    }

    /// Refuse (exit 1) when one of `names` is a docker volume kilter did not create.
    fn check_volumes(&self, names: &[String]) -> Result<()> {
        if names.is_empty() {
            return Ok(());
        }
        let cmd = self.docker.volume_inspect_cmd(names);
        let out = self.runner.run_unchecked(&cmd)?;
        let found = foreign_volumes(&docker::interpret_volume_inspect(self.runner, &cmd, &out)?);
        if found.is_empty() { Ok(()) } else { Err(in_the_way("volume", &found).into()) }
    }

    /// `docker start A B …` of stopped shared containers.
    fn start(&self, names: &[String], port: u16) -> Result<()> {
        let cmd = self.docker.start_many_cmd(names);
        let out = self.runner.run_unchecked(&cmd)?;
        if out.success() {
            return Ok(());
        }
        let hint = if docker::port_allocated(&out.stderr) {
            format!(
                "another program took the registry's port {port}; free it, or `kilter registry rm` and `kilter up` to publish it on a free port"
            )
        } else {
            "`kilter registry status` shows the shared containers".to_owned()
        };
        Err(self.runner.failed(&cmd, &out, Some(hint)).into())
    }

    /// `docker network connect kind NAME`; "already exists" (a race with another kilter) is fine.
    fn connect(&self, name: &str) -> Result<()> {
        let cmd = self.docker.network_connect_cmd(KIND_NETWORK, name);
        let out = self.runner.run_unchecked(&cmd)?;
        if out.success() || docker::already_on_network(&out.stderr) {
            return Ok(());
        }
        Err(self.runner.failed(&cmd, &out, None).into())
    }
}

/// The volumes of `docker volume inspect` that do not carry [`SHARED_LABEL`].
pub fn foreign_volumes(vols: &[docker::Volume]) -> Vec<String> {
    vols.iter().filter(|v| v.label(SHARED_LABEL).is_none()).map(|v| v.name.clone()).collect()
}

/// Running, or restarting under its restart policy (a cache whose upstream cannot be reached
/// exits and is restarted by docker: nothing for kilter to start).
fn up(c: &Container) -> bool {
    c.state.running || c.state.status == "restarting"
}

fn run_hint(out: &Output, image: &str) -> String {
    if docker::name_in_use(&out.stderr) {
        "a container of that name exists: `kilter registry status` shows it, `kilter registry rm` removes it".into()
    } else if docker::image_unavailable(&out.stderr) {
        format!(
            "docker could not get the image {image}; set KILTER_REGISTRY_IMAGE to one you have, or `KILTER_REGISTRY=off`"
        )
    } else {
        "`KILTER_REGISTRY=off` (or `registry: false` in kilter.yaml) brings the cluster up without the local registry".into()
    }
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

/// What `status`, `ls`, `doctor` and `registry status` show of one shared container.
#[derive(Debug, Clone, Serialize)]
pub struct SharedRow {
    pub name: String,
    /// `registry` or `cache`
    pub role: String,
    /// The upstream a cache mirrors.
    pub upstream: Option<String>,
    pub remote: Option<String>,
    /// docker's state word, or `absent`
    pub state: String,
    /// `127.0.0.1:<port>` for the registry.
    pub address: Option<String>,
    pub on_kind_network: bool,
    pub volume: String,
    /// Whether the container is kilter's (carries its label); true when absent. A same-named
    /// container of someone else's is shown, never touched.
    pub kilters: bool,
}

/// One row per shared container, in [`Settings::names`] order.
pub fn rows(settings: &Settings, seen: &Seen) -> Vec<SharedRow> {
    let mut out = Vec::new();
    let reg = settings.registry_name();
    let c = seen.get(&reg);
    out.push(SharedRow {
        name: reg.clone(),
        role: "registry".into(),
        upstream: None,
        remote: None,
        state: c.map(|c| c.state.status.clone()).unwrap_or_else(|| "absent".into()),
        address: c
            .and_then(|c| c.configured_port(CONTAINER_PORT))
            .map(|p| format!("127.0.0.1:{p}")),
        on_kind_network: c.is_some_and(|c| c.on_network(KIND_NETWORK)),
        volume: reg,
        kilters: c.is_none_or(|c| is_kilters(settings, c)),
    });
    for u in &settings.upstreams {
        let name = settings.cache_name(u);
        let c = seen.get(&name);
        out.push(SharedRow {
            name: name.clone(),
            role: "cache".into(),
            upstream: Some(u.host.clone()),
            remote: Some(u.remote.clone()),
            state: c.map(|c| c.state.status.clone()).unwrap_or_else(|| "absent".into()),
            address: None,
            on_kind_network: c.is_some_and(|c| c.on_network(KIND_NETWORK)),
            volume: name,
            kilters: c.is_none_or(|c| is_kilters(settings, c)),
        });
    }
    out
}

/// One line for `status` and `ls`: `running on 127.0.0.1:5001, 4/4 caches running`.
pub fn summary(rows: &[SharedRow]) -> String {
    let Some(reg) = rows.first() else { return "-".into() };
    let caches = &rows[1..];
    let running = caches.iter().filter(|r| r.state == "running").count();
    let reg_text = match (&reg.address, reg.state.as_str()) {
        _ if !reg.kilters => format!("{} is not kilter's (in the way)", reg.name),
        (_, "absent") => "absent".to_owned(),
        (Some(a), s) => format!("{s} on {a}"),
        (None, s) => s.to_owned(),
    };
    format!("{reg_text}, {running}/{} caches running", caches.len())
}

#[cfg(test)]
mod tests;
