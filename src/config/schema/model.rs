//! The typed model of kilter.yaml: [`Config`] and its sections, with their defaults. Every
//! field is optional; what a section does not say is its default here (except the user and
//! workload of a MySQL or MariaDB `database:`, which the walk sets from the engine).

use std::fmt;

use camino::Utf8PathBuf;

use crate::config::span::Pos;

/// The settings kilter reads from `kilter.yaml`. Every field is optional.
/// (Equality is for the tests: kilter compares the parsed trees, never two `Config`s.)
#[derive(Debug, Clone)]
#[cfg_attr(test, derive(PartialEq))]
pub struct Config {
    /// `name:` — the project name, already checked with [`validate_name`](crate::config::validate_name).
    pub name: Option<String>,
    /// `tiltfile:` — path of the Tiltfile, as written (relative to the kilter.yaml directory).
    pub tiltfile: Option<Utf8PathBuf>,
    /// `kind:` section.
    pub kind: KindSection,
    /// `database:` section; `Some` whenever a `database:` key is present, even if empty.
    pub database: Option<Database>,
    /// `cluster:` section (runtime state written by kilter itself).
    pub cluster: ClusterSection,
    /// `registry:` — use the machine's shared local registry (default); `false` opts out.
    pub registry: bool,
    /// `router:` — names through the machine's shared router (default); `false` opts out.
    pub router: bool,
    /// `services:` — in file order; empty when absent, null or `[]`.
    pub services: Vec<ServiceEntry>,
    /// `routes:` — names on the shared router for the user's own Services, in file order.
    pub routes: Vec<RouteEntry>,
    /// The app itself (`image`, `dev`, `port`, `health`, `env`, `sync`): what kilter renders a
    /// Tiltfile for when the project has none (docs/kilter-yaml.md).
    pub app: AppSection,
}

/// The app's own fields, all optional; what is missing is detected from the project's files.
/// Two sections are equal when they say the same: the positions (where each value is written)
/// are not compared, so an edit that moves lines keeps the config equal.
#[derive(Debug, Clone, Default)]
pub struct AppSection {
    /// `image:` — the base image of the dev container (e.g. `node:22-alpine`).
    pub image: Option<At<String>>,
    /// `dev:` — the command that starts the app in development.
    pub dev: Option<At<DevCommand>>,
    /// `port:` — the port the app listens on inside its container.
    pub port: Option<At<u16>>,
    /// `health:` — an HTTP path (starting with `/`) for the readiness probe.
    pub health: Option<At<String>>,
    /// `env:` — the app container's variables, in file order.
    pub env: Vec<Var>,
    /// `sync:` — project-relative paths that live-update into the container.
    pub sync: Option<At<Vec<String>>>,
}

/// Equal when the values are, wherever they were written (for the tests, as `Config`'s).
#[cfg(test)]
impl PartialEq for AppSection {
    fn eq(&self, other: &Self) -> bool {
        fn value<T>(at: &Option<At<T>>) -> Option<&T> {
            at.as_ref().map(|a| &a.value)
        }
        let vars = |vars: &[Var]| -> Vec<(String, String)> {
            vars.iter().map(|v| (v.name.clone(), v.value.clone())).collect()
        };
        value(&self.image) == value(&other.image)
            && value(&self.dev) == value(&other.dev)
            && value(&self.port) == value(&other.port)
            && value(&self.health) == value(&other.health)
            && vars(&self.env) == vars(&other.env)
            && value(&self.sync) == value(&other.sync)
    }
}

/// `dev:` as written: one shell command line, or a list of arguments (no shell).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum DevCommand {
    Shell(String),
    Argv(Vec<String>),
}

impl Default for Config {
    fn default() -> Self {
        Config {
            name: None,
            tiltfile: None,
            kind: KindSection::default(),
            database: None,
            cluster: ClusterSection::default(),
            registry: true,
            router: true,
            services: Vec::new(),
            routes: Vec::new(),
            app: AppSection::default(),
        }
    }
}

/// The `kind:` section.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct KindSection {
    /// `kind.image:` — node image pin, passed to `kind create cluster --image`.
    pub image: Option<String>,
}

/// `database.engine:`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Engine {
    #[default]
    Postgres,
    Mysql,
    Mariadb,
}

impl Engine {
    pub const ALL: [Engine; 3] = [Engine::Postgres, Engine::Mysql, Engine::Mariadb];

    /// The spelling in kilter.yaml.
    pub fn as_str(self) -> &'static str {
        match self {
            Engine::Postgres => "postgres",
            Engine::Mysql => "mysql",
            Engine::Mariadb => "mariadb",
        }
    }
}

impl fmt::Display for Engine {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// The `database:` section: what `kilter db` snapshots.
#[derive(Debug, Clone, PartialEq)]
pub struct Database {
    /// `database.engine:`
    pub engine: Engine,
    /// `database.service:` — the Deployment or StatefulSet in `<name>-dev`.
    pub service: String,
    /// `database.user:`
    pub user: String,
    /// `database.name:` — `None` means "the project name" (resolved by the caller).
    pub name: Option<String>,
}

impl Default for Database {
    fn default() -> Self {
        Database {
            engine: Engine::Postgres,
            service: "postgres".to_owned(),
            user: "postgres".to_owned(),
            name: None,
        }
    }
}

/// The `cluster:` section.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct ClusterSection {
    /// `cluster.stopped:` — written by `kilter stop`, removed by `kilter up`.
    pub stopped: bool,
}

/// A value and where it is written (so that later checks can point at it).
#[derive(Debug, Clone, PartialEq)]
pub struct At<T> {
    pub value: T,
    pub at: Pos,
}

/// One item of `services:`: a bare catalog name (`- redis`) or a mapping with `name`.
#[derive(Debug, Clone, PartialEq)]
pub struct ServiceEntry {
    /// Where the item is (the name for a bare item, the first key of a mapping).
    pub at: Pos,
    /// Written as a bare string: a catalog service taken as it is.
    pub bare: bool,
    /// A DNS-1123 label of at most [`MAX_NAME_LEN`](crate::config::MAX_NAME_LEN) characters.
    pub name: At<String>,
    pub image: Option<At<String>>,
    pub port: Option<At<u16>>,
    /// `env:` in file order; scalar values as written (`5432`, `true`), null as "".
    pub env: Vec<Var>,
    /// `provides:` in file order (`DATABASE_URL: postgres://…`).
    pub provides: Vec<Var>,
    pub volume: Option<At<Volume>>,
    /// `http:` — whether the service's first port is a web UI the shared router names
    /// (`<service>.<project>.localhost`); unset: the catalog says.
    pub http: Option<bool>,
}

/// One entry of `routes:` (`web: {service: web, port: 80}`): the name
/// `<name>.<project>.localhost` for the user's own Service `service`, target port `port`.
#[derive(Debug, Clone, PartialEq)]
pub struct RouteEntry {
    /// A DNS-1123 label, not a service's name nor `app`.
    pub name: At<String>,
    /// The name of the user's Service in the project's namespace.
    pub service: At<String>,
    /// The Service's port (its `port`, which kilter's NodePort Service targets).
    pub port: At<u16>,
}

/// A `NAME: value` entry of `env:` or `provides:`; `at` is the name's position.
#[derive(Debug, Clone, PartialEq)]
pub struct Var {
    pub name: String,
    pub value: String,
    pub at: Pos,
}

/// `volume:` of a service.
#[derive(Debug, Clone, PartialEq)]
pub enum Volume {
    /// `volume: false` — no persistent volume.
    Off,
    /// `volume: /abs/path` or `volume: {path, size}`; what is not given keeps the catalog's.
    Mount { path: Option<String>, size: Option<String> },
}
