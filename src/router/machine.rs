//! The router container: whether it is kilter's, its port, and [`Machine`], which writes the
//! configuration through the runner, creates or starts the container and reloads Caddy.

use anyhow::Result;
use camino::{Utf8Path, Utf8PathBuf};

use super::{
    CONFIG_MOUNT, CONTAINER_PORT, Change, FALLBACK_PORTS, KIND_NETWORK, ProjectRecord, ROLE,
    SHARED_LABEL, Settings, apply, config_dir, config_path, mounted_config, records, render,
    routes,
};
use crate::error::{Code, Exit};
use crate::exec::{Content, Runner};
use crate::fsutil::Perm;
use crate::ports::{self, Registry as PortRegistry};
use crate::project::Dirs;
use crate::shared;
use crate::tools::caddy;
use crate::tools::docker::{self, Container, Docker};
use crate::ui::Ui;

/// Whether a container is kilter's router: it carries `io.kilter.shared=router`. A same-named
/// container without it is someone else's and is never started, reloaded, stopped or removed.
pub fn is_kilters(c: &Container) -> bool {
    shared::is_kilters(c, ROLE)
}

/// What stops kilter at a same-named container it did not create (exit 1).
pub fn in_the_way(name: &str) -> Exit {
    shared::in_the_way(
        "container",
        &[name.to_owned()],
        &format!("{SHARED_LABEL}={ROLE}"),
        "`KILTER_ROUTER=off` runs without the router",
    )
}

/// The recorded router port, if any.
pub fn recorded_port(ports_path: &Utf8Path) -> Result<Option<u16>> {
    ports::shared_port(ports_path, ports::Shared::Router)
}

/// The first port of `candidates` that is not busy.
pub fn pick_port(
    candidates: impl IntoIterator<Item = u16>,
    busy: impl Fn(u16) -> bool,
) -> Option<u16> {
    candidates.into_iter().find(|p| !busy(*p))
}

/// The ports to try, in order: the recorded one, the preferred one, then 8080–8099.
pub fn candidates(recorded: Option<u16>, preferred: u16) -> Vec<u16> {
    let mut v: Vec<u16> = Vec::new();
    for p in recorded.into_iter().chain([preferred]).chain(FALLBACK_PORTS) {
        if !v.contains(&p) {
            v.push(p);
        }
    }
    v
}

/// What a sync did, for the callers' messages.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Synced {
    /// The host port the router is published on (when it exists).
    pub port: Option<u16>,
    pub created: bool,
    pub started: bool,
    pub reloaded: bool,
}

/// What managing the router needs.
pub struct Machine<'a, 'r> {
    pub runner: &'a Runner<'r>,
    pub ui: &'a Ui,
    pub docker: &'a Docker<'a>,
    pub settings: &'a Settings,
    pub dirs: &'a Dirs,
    pub ports_path: Utf8PathBuf,
    /// `router.lock` in the state dir: one kilter at a time regenerates the configuration.
    pub lock_path: Utf8PathBuf,
    /// This run created or started the router already (`kilter ci` after its deletion): the
    /// dry run, which inspects a router that was only printed, reloads it as the real run does.
    pub made: bool,
}

impl<'a, 'r> Machine<'a, 'r> {
    pub fn new(
        runner: &'a Runner<'r>,
        ui: &'a Ui,
        docker: &'a Docker<'a>,
        settings: &'a Settings,
        dirs: &'a Dirs,
    ) -> Self {
        Machine {
            runner,
            ui,
            docker,
            settings,
            dirs,
            ports_path: dirs.port_registry(),
            lock_path: dirs.state.join("router.lock"),
            made: false,
        }
    }

    /// `docker inspect` of the router (`None`: absent).
    pub fn inspect(&self) -> Result<Option<Container>> {
        let cmd = self.docker.inspect_cmd(&self.settings.name);
        let out = self.runner.run_unchecked(&cmd)?;
        crate::tools::docker::interpret_inspect(self.runner, &cmd, &out)
    }

    /// The router as inspected, refusing (exit 1) one that is not kilter's.
    pub fn inspect_ours(&self) -> Result<Option<Container>> {
        let c = self.inspect()?;
        if let Some(c) = &c
            && !is_kilters(c)
        {
            return Err(in_the_way(&self.settings.name).into());
        }
        Ok(c)
    }

    /// Every project's records: the port registry and one `docker ps -a` of the kind nodes.
    pub fn records(&self) -> Result<Vec<ProjectRecord>> {
        let reg = PortRegistry::load(&self.ports_path)?;
        let nodes = self.docker.kilter_nodes(self.runner)?;
        Ok(records(reg.as_ref(), &nodes))
    }

    /// Record the router's port in the port registry (when it differs).
    pub fn record_port(&self, port: u16) -> Result<()> {
        ports::record_shared_port(&self.ports_path, self.runner, ports::Shared::Router, port)
    }

    /// The configuration as it is on disk (empty when there is none).
    fn written(&self) -> String {
        std::fs::read_to_string(config_path(self.dirs)).unwrap_or_default()
    }

    fn write_config(&self, text: &str) -> Result<()> {
        self.runner.write_file(
            &config_path(self.dirs),
            &Content::text(text.to_owned()),
            Perm::Private(0o644),
        )
    }

    /// Regenerate the configuration from every project's records, and reload a running
    /// router when it changed. With `create`, make the router exist and run first (`up`, `kilter
    /// router start`); without, a missing or stopped router only gets its file (it reads it
    /// when it starts). A same-named container that is not kilter's: exit 1, nothing touched.
    pub fn sync(&self, create: bool, change: Option<Change<'_>>) -> Result<Synced> {
        let timeout = crate::lock::default_timeout()?;
        let _lock = self.runner.lock(&self.lock_path, "the shared router", "kilter", timeout)?;
        let container = self.inspect_ours()?;
        let mut done = Synced::default();
        let port = match &container {
            Some(c) => c.configured_port(CONTAINER_PORT),
            None if create => Some(self.plan_port()?),
            None => None,
        };
        let routes = routes(&apply(self.records()?, change));
        let text = render(&routes);
        let changed = self.written() != text;
        if changed {
            self.write_config(&text)?;
        }
        match container {
            None if create => {
                let planned = port.unwrap_or(self.settings.preferred_port);
                let got = self.create(planned)?;
                done.port = Some(got);
                done.created = true;
            }
            None if self.made && self.runner.planning() && changed => {
                self.reload()?;
                done.reloaded = true;
            }
            None => {}
            Some(c) => {
                done.port = port;
                if let Some(p) = port {
                    self.record_port(p)?;
                }
                if !c.on_network(KIND_NETWORK) {
                    let cmd = self.docker.network_connect_cmd(KIND_NETWORK, &self.settings.name);
                    let out = self.runner.run_unchecked(&cmd)?;
                    if !out.success() && !docker::already_on_network(&out.stderr) {
                        return Err(self.runner.failed(&cmd, &out, None).into());
                    }
                }
                let running = c.state.running || c.state.status == "restarting";
                if !running && create {
                    self.runner.run(&self.docker.start_cmd(&self.settings.name))?;
                    done.started = true;
                } else if running && changed {
                    self.reload()?;
                    done.reloaded = true;
                }
            }
        }
        Ok(done)
    }

    /// `docker exec <router> caddy reload --config …`: Caddy swaps the configuration in
    /// without dropping a connection; an invalid one is refused and the old one stays.
    pub fn reload(&self) -> Result<()> {
        let cmd = caddy::reload_cmd(self.docker, &self.settings.name, &mounted_config());
        let out = self.runner.run_unchecked(&cmd)?;
        if out.success() {
            return Ok(());
        }
        Err(self
            .runner
            .failed(
                &cmd,
                &out,
                Some(format!(
                    "the router keeps its previous routes; {} is the configuration kilter wrote",
                    config_path(self.dirs)
                )),
            )
            .into())
    }

    /// The port to create the router on: the recorded one, 80, then 8080–8099, past busy ones
    /// (saying so when it is not 80).
    pub fn plan_port(&self) -> Result<u16> {
        let recorded = recorded_port(&self.ports_path)?;
        self.free_port(&candidates(recorded, self.settings.preferred_port), None)
    }

    fn free_port(&self, list: &[u16], after: Option<u16>) -> Result<u16> {
        let from = after.and_then(|a| list.iter().position(|p| *p == a)).map_or(0, |i| i + 1);
        let port = pick_port(list[from.min(list.len())..].iter().copied(), ports::port_busy)
            .ok_or_else(|| {
                Exit::new(
                    Code::Failed,
                    format!(
                        "no free port for the router: {} and 8080-8099 are all in use",
                        self.settings.preferred_port
                    ),
                )
                .hint("free one of them, or `KILTER_ROUTER=off` to run without names")
            })?;
        Ok(port)
    }

    /// `docker run` the router on `planned` (moving on when docker finds the port taken);
    /// records and returns the port.
    fn create(&self, planned: u16) -> Result<u16> {
        let name = &self.settings.name;
        let step = self
            .ui
            .step(&format!("Creating the router {name}"), &format!("create the router {name}"));
        let list = candidates(recorded_port(&self.ports_path)?, self.settings.preferred_port);
        let mut port = planned;
        let mut migrate_requests = true;
        // Ends: a refused port moves on to a later candidate, and `free_port` fails after the
        // last; the sysctl is dropped at most once.
        loop {
            let spec = caddy::RouterSpec {
                name: name.clone(),
                image: self.settings.image.clone(),
                host_port: port,
                network: KIND_NETWORK.to_owned(),
                config_dir: config_dir(self.dirs).to_string(),
                mount: CONFIG_MOUNT.to_owned(),
                config: mounted_config(),
                labels: vec![(SHARED_LABEL.to_owned(), ROLE.to_owned())],
                migrate_requests,
            };
            let cmd = caddy::run_cmd(self.docker, &spec);
            let out = self.runner.run_unchecked(&cmd)?;
            if out.success() {
                self.record_port(port)?;
                step.done();
                if port != self.settings.preferred_port {
                    self.ui.note(&format!(
                        "port {} cannot be bound here; the router uses 127.0.0.1:{port} (every URL shows it)",
                        self.settings.preferred_port
                    ));
                }
                return Ok(port);
            }
            if migrate_requests && caddy::migrate_refused(&out.stderr) {
                // docker may have created the container before runc refused the switch (or may
                // not, when the engine refused it): remove it whatever, then the same port again.
                self.runner.run_unchecked(&self.docker.rm_force_cmd(std::slice::from_ref(name)))?;
                self.ui.note(&format!(
                    "this Docker engine's kernel has no {} (Linux < 5.14): a request that arrives while the router reloads may be dropped",
                    caddy::MIGRATE_SYSCTL
                ));
                migrate_requests = false;
                continue;
            }
            let taken = caddy::publish_refused(&out.stderr);
            if !taken {
                return Err(self
                    .runner
                    .failed(&cmd, &out, Some(run_hint(&out.stderr, &self.settings.image)))
                    .into());
            }
            // docker created the container before it failed to publish the port.
            self.runner.run(&self.docker.rm_force_cmd(std::slice::from_ref(name)))?;
            port = self.free_port(&list, Some(port))?;
        }
    }
}

fn run_hint(stderr: &str, image: &str) -> String {
    if docker::name_in_use(stderr) {
        "a container of that name exists: `kilter router status` shows it".into()
    } else if docker::image_unavailable(stderr) {
        format!(
            "docker could not get the image {image}; set KILTER_ROUTER_IMAGE to one you have, or `KILTER_ROUTER=off`"
        )
    } else if caddy::network_missing(stderr) {
        "the router joins kind's `kind` network, which the first cluster creates: `kilter up` a project first".into()
    } else {
        "`KILTER_ROUTER=off` (or `router: false` in kilter.yaml) runs without the router".into()
    }
}
