//! Making the registry and every cache exist and run: the port, the containers and volumes,
//! the machine-wide lock, the `kind` network.

use anyhow::Result;
use camino::{Utf8Path, Utf8PathBuf};

use super::{
    CONTAINER_PORT, KIND_NETWORK, SHARED_LABEL, Seen, Settings, UPSTREAM_LABEL, Upstream,
    foreign_volumes, in_the_way,
};
use crate::error::{Code, Exit};
use crate::exec::{Output, Runner};
use crate::ports;
use crate::tools::docker::{self, Container, Docker, RunSpec};
use crate::ui::Ui;

/// How far past a busy port kilter looks for a free one.
const PORT_SPAN: u16 = 100;

/// The first free port from `preferred` on (within [`PORT_SPAN`]).
pub fn pick_port(preferred: u16, busy: impl Fn(u16) -> bool) -> Option<u16> {
    (0..PORT_SPAN).filter_map(|i| preferred.checked_add(i)).find(|p| !busy(*p))
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
            // `planned` came from this same `seen` (the port it is published on): nothing to
            // record that the caller did not.
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

/// Running, or restarting under its restart policy (a cache whose upstream cannot be reached
/// exits and is restarted by docker: nothing for kilter to start).
fn up(c: &Container) -> bool {
    c.state.running || c.state.status == "restarting"
}

pub(super) fn run_hint(out: &Output, image: &str) -> String {
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
