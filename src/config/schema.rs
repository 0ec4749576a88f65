//! What kilter.yaml may say: the typed [`Config`], and the walk over the YAML tree that
//! builds it, with a `file:line:column` error for a wrong type and a warning (with "did you
//! mean") for an unknown key.

use std::collections::HashMap;
use std::fmt;

use camino::{Utf8Path, Utf8PathBuf};

use super::error_at;
use super::span::{Node, Pos, Scalar, Tree};
use crate::error::{Exit, invalid};

/// Longest valid project name: `kilter-<name>-control-plane` must stay a valid hostname (≤ 63).
pub const MAX_NAME_LEN: usize = 42;

/// The settings kilter reads from `kilter.yaml`. Every field is optional.
#[derive(Debug, Clone, PartialEq)]
pub struct Config {
    /// `name:` — the project name, already checked with [`validate_name`].
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

impl AppSection {
    /// Whether kilter.yaml says anything about the app.
    pub fn is_declared(&self) -> bool {
        self.image.is_some()
            || self.dev.is_some()
            || self.port.is_some()
            || self.health.is_some()
            || !self.env.is_empty()
            || self.sync.is_some()
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
    /// A DNS-1123 label of at most [`MAX_NAME_LEN`] characters.
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

/// Keys kilter itself reads.
pub(crate) const KNOWN_KEYS: &[&str] = &[
    "name", "tiltfile", "kind", "database", "cluster", "registry", "router", "services", "routes",
    "image", "dev", "port", "health", "env", "sync",
];

/// Keys of the wider kilter ecosystem: accepted silently, preserved, never interpreted.
pub(crate) const ECOSYSTEM_KEYS: &[&str] = &[
    "skills",
    "public",
    "manifest",
    "description",
    "version",
    "profiles",
    "secrets",
    "volumes",
    "build",
    "deploy",
    "hooks",
    "tilt",
];

const KIND_KEYS: &[&str] = &["image"];
const DATABASE_KEYS: &[&str] = &["engine", "service", "user", "name"];
const CLUSTER_KEYS: &[&str] = &["stopped"];
const SERVICE_KEYS: &[&str] = &["name", "image", "port", "env", "provides", "volume", "http"];
const VOLUME_KEYS: &[&str] = &["path", "size"];
const ROUTE_KEYS: &[&str] = &["service", "port"];

/// Check the tree against the schema; returns the settings and the warnings (unknown keys).
pub(crate) fn config(path: &Utf8Path, tree: &Tree) -> Result<(Config, Vec<String>), Exit> {
    let mut walker = Walker { path, tree, warnings: Vec::new() };
    let config = walker.config()?;
    Ok((config, walker.warnings))
}

struct Walker<'a> {
    path: &'a Utf8Path,
    tree: &'a Tree,
    warnings: Vec<String>,
}

impl<'a> Walker<'a> {
    fn error(&self, at: &Node, message: impl fmt::Display) -> Exit {
        error_at(self.path, at.pos, message)
    }

    fn unknown_key(&mut self, section: &[&str], key: &Node, candidates: &[&str]) {
        let repr = key.key_repr();
        let suggestion = suggest(&repr, candidates)
            .map(|c| format!(" (did you mean `{}`?)", dotted(section, c)))
            .unwrap_or_default();
        self.warnings.push(format!(
            "{}:{}: unknown key `{}`{suggestion}",
            self.path,
            key.pos.line,
            dotted(section, &repr)
        ));
    }

    fn config(&mut self) -> Result<Config, Exit> {
        let mut config = Config::default();
        let Some(root) = &self.tree.root else { return Ok(config) };
        if root.is_null() {
            return Ok(config);
        }
        let Some(entries) = root.entries() else {
            return Err(self
                .error(root, format_args!(
                    "expected a mapping of settings at the top level (e.g. `name: shop`), found {}",
                    describe(root)
                ))
                .hint("see the commented example written by `kilter init`"));
        };
        let top_candidates: Vec<&str> = KNOWN_KEYS.iter().chain(ECOSYSTEM_KEYS).copied().collect();
        for (key, value) in entries {
            match key.scalar() {
                Some(Scalar::Str("name")) => {
                    config.name = self.string("name", value)?;
                    if let Some(name) = &config.name {
                        self.check_name(value, name)?;
                    }
                }
                Some(Scalar::Str("tiltfile")) => {
                    config.tiltfile = self.string("tiltfile", value)?.map(Utf8PathBuf::from);
                }
                Some(Scalar::Str("kind")) => config.kind = self.kind(value)?,
                Some(Scalar::Str("database")) => config.database = Some(self.database(value)?),
                Some(Scalar::Str("cluster")) => config.cluster = self.cluster(value)?,
                Some(Scalar::Str("registry")) => config.registry = self.registry(value)?,
                Some(Scalar::Str("router")) => config.router = self.router(value)?,
                Some(Scalar::Str("services")) => config.services = self.services(value)?,
                Some(Scalar::Str("routes")) => config.routes = self.routes(value)?,
                Some(Scalar::Str("image")) => config.app.image = self.image(value)?,
                Some(Scalar::Str("dev")) => config.app.dev = self.dev(value)?,
                Some(Scalar::Str("port")) => config.app.port = self.port("port", value)?,
                Some(Scalar::Str("health")) => config.app.health = self.health(value)?,
                Some(Scalar::Str("env")) => config.app.env = self.vars("env", value, false)?,
                Some(Scalar::Str("sync")) => config.app.sync = self.sync(value)?,
                Some(Scalar::Str(k)) if ECOSYSTEM_KEYS.contains(&k) => {}
                _ => self.unknown_key(&[], key, &top_candidates),
            }
        }
        self.route_clashes(&config)?;
        Ok(config)
    }

    /// `routes:` — a mapping of route name → `{service, port}`.
    fn routes(&mut self, value: &Node) -> Result<Vec<RouteEntry>, Exit> {
        let node = self.tree.deref(value);
        if node.is_null() {
            return Ok(Vec::new());
        }
        let hint = "e.g.\n  routes:\n    web: {service: web, port: 80}";
        let Some(entries) = node.entries() else {
            return Err(self
                .type_error("routes", value, "a mapping of route names to `{service, port}`")
                .hint(hint));
        };
        let mut routes = Vec::with_capacity(entries.len());
        for (key, item) in entries {
            super::span::charge(1);
            let Some(Scalar::Str(name)) = key.scalar() else {
                return Err(self
                    .error(
                        key,
                        format_args!(
                            "routes: a route's name must be a string, found {}",
                            describe(key)
                        ),
                    )
                    .hint(hint));
            };
            let field = format!("routes.{name}");
            if let Some(problem) = name_problem(name) {
                return Err(self.error(
                    key,
                    format_args!(
                        "{field}: invalid route name {name:?} ({problem}): {SERVICE_RULE}"
                    ),
                ));
            }
            let Some(fields) = self.tree.deref(item).entries() else {
                return Err(self
                    .type_error(&field, item, "a mapping with `service` and `port`")
                    .hint(hint));
            };
            let (mut service, mut port) = (None, None);
            for (k, v) in fields {
                match k.scalar() {
                    Some(Scalar::Str("service")) => {
                        let sub = format!("{field}.service");
                        let Some(Scalar::Str(s)) = self.tree.deref(v).scalar() else {
                            return Err(self.type_error(&sub, v, "the name of a Service"));
                        };
                        if s.is_empty() {
                            return Err(self.error(v, format_args!("{sub}: must not be empty")));
                        }
                        service = Some(At { value: s.to_owned(), at: v.pos });
                    }
                    Some(Scalar::Str("port")) => {
                        let sub = format!("{field}.port");
                        port = self.port(&sub, v)?;
                        if port.is_none() {
                            return Err(self.type_error(&sub, v, "a port number from 1 to 65535"));
                        }
                    }
                    _ => return Err(self.unknown_item_key(&field, k, ROUTE_KEYS)),
                }
            }
            let Some(service) = service else {
                return Err(self
                    .error(
                        item,
                        format_args!("{field}: a route needs `service` (the name of your Service)"),
                    )
                    .hint(hint));
            };
            let Some(port) = port else {
                return Err(self
                    .error(
                        item,
                        format_args!(
                            "{field}: a route needs `port` (a port of Service `{}`)",
                            service.value
                        ),
                    )
                    .hint(hint));
            };
            routes.push(RouteEntry {
                name: At { value: name.to_owned(), at: key.pos },
                service,
                port,
            });
        }
        Ok(routes)
    }

    /// A route may not take the name of a service: both would answer at it. (A route named
    /// `app` names the app of a project kilter renders none for; `up` refuses it beside a
    /// rendered app.)
    fn route_clashes(&self, config: &Config) -> Result<(), Exit> {
        for route in &config.routes {
            let name = &route.name.value;
            if let Some(s) = config.services.iter().find(|s| s.name.value == *name) {
                return Err(error_at(
                    self.path,
                    route.name.at,
                    format_args!(
                        "routes.{name}: the name clashes with service `{name}` at line {}, column {}: both would answer at {name}.<project>.localhost",
                        s.name.at.line, s.name.at.col
                    ),
                )
                .hint("rename the route"));
            }
        }
        Ok(())
    }

    /// `dev:` — a command line (run by `sh -c`) or a non-empty list of arguments.
    fn dev(&self, value: &Node) -> Result<Option<At<DevCommand>>, Exit> {
        let node = self.tree.deref(value);
        let at = value.pos;
        let expected = "a command line (e.g. `npm run dev`) or a list of arguments";
        if let Some(items) = node.items() {
            let mut argv = Vec::with_capacity(items.len());
            for (i, item) in items.iter().enumerate() {
                match self.tree.deref(item).scalar() {
                    Some(Scalar::Str(s)) => argv.push(s.to_owned()),
                    Some(Scalar::Number(_) | Scalar::Bool(_)) => {
                        argv.push(self.tree.deref(item).text().unwrap_or_default().to_owned());
                    }
                    _ => return Err(self.type_error(&format!("dev[{i}]"), item, "a string")),
                }
            }
            if argv.is_empty() {
                return Err(self
                    .error(value, "dev: the list of arguments is empty")
                    .hint("remove the `dev` line to use the detected command"));
            }
            return Ok(Some(At { value: DevCommand::Argv(argv), at }));
        }
        match node.scalar() {
            Some(Scalar::Str(_) | Scalar::Null) => {
                Ok(self.string("dev", value)?.map(|s| At { value: DevCommand::Shell(s), at }))
            }
            _ => Err(self.type_error("dev", value, expected)),
        }
    }

    /// `image:` — an image reference: one word (it becomes the Dockerfile's `FROM`).
    fn image(&self, value: &Node) -> Result<Option<At<String>>, Exit> {
        let Some(image) = self.string("image", value)? else { return Ok(None) };
        if image.chars().any(|c| c.is_whitespace() || c.is_control()) {
            return Err(self
                .error(value, format_args!("image: {image:?} is not an image reference (it contains spaces or line breaks)"))
                .hint("e.g. `image: node:22-alpine`"));
        }
        Ok(Some(At { value: image, at: value.pos }))
    }

    /// `health:` — an HTTP path: starts with `/`, no spaces or control characters.
    fn health(&self, value: &Node) -> Result<Option<At<String>>, Exit> {
        let node = self.tree.deref(value);
        if node.scalar().is_none() {
            return Err(self
                .type_error("health", value, "an HTTP path such as `/healthz`")
                .hint("write the path the readiness probe asks, e.g. `health: /healthz`"));
        }
        let Some(path) = self.string("health", value)? else { return Ok(None) };
        if !path.starts_with('/') || path.chars().any(|c| c.is_whitespace() || c.is_control()) {
            return Err(self
                .error(
                    value,
                    format_args!(
                        "health: expected an HTTP path starting with `/` (e.g. `/healthz`), found {path:?}"
                    ),
                )
                .hint("the readiness probe asks GET <path> on the app's port; write only the path"));
        }
        Ok(Some(At { value: path, at: value.pos }))
    }

    /// `sync:` — a path or a list of paths inside the project directory.
    fn sync(&self, value: &Node) -> Result<Option<At<Vec<String>>>, Exit> {
        let node = self.tree.deref(value);
        let at = value.pos;
        if node.is_null() {
            return Ok(None);
        }
        let expected = "a list of paths inside the project (e.g. `[src, public]`)";
        let one = |field: &str, item: &Node| -> Result<String, Exit> {
            let Some(path) = self.string(field, item)? else {
                return Err(self.type_error(field, item, "a path"));
            };
            let escapes = path.starts_with('/')
                || camino::Utf8Path::new(&path)
                    .components()
                    .any(|c| matches!(c, camino::Utf8Component::ParentDir));
            if escapes {
                return Err(self
                    .error(
                        item,
                        format_args!("{field}: {path:?} is not inside the project directory"),
                    )
                    .hint("sync paths are relative to the directory of kilter.yaml, e.g. `src`"));
            }
            Ok(path)
        };
        if let Some(items) = node.items() {
            let mut paths = Vec::with_capacity(items.len());
            for (i, item) in items.iter().enumerate() {
                paths.push(one(&format!("sync[{i}]"), item)?);
            }
            return Ok(Some(At { value: paths, at }));
        }
        match node.scalar() {
            Some(Scalar::Str(_)) => Ok(Some(At { value: vec![one("sync", value)?], at })),
            _ => Err(self.type_error("sync", value, expected)),
        }
    }

    fn check_name(&self, at: &Node, name: &str) -> Result<(), Exit> {
        let Some(problem) = name_problem(name) else { return Ok(()) };
        let error = self.error(at, name_message(name, &problem));
        Err(match suggested_name(name) {
            Some(good) => error.hint(format!("use `name: {good}`")),
            None => error,
        })
    }

    /// A section that must be a mapping (or empty). Unknown keys inside are warned about.
    fn section(
        &mut self,
        key: &str,
        value: &'a Node,
        expected: &str,
        fields: &[&str],
    ) -> Result<Vec<(&'a str, &'a Node)>, Exit> {
        let node = self.tree.deref(value);
        if node.is_null() {
            return Ok(Vec::new());
        }
        let Some(entries) = node.entries() else {
            return Err(self.error(
                value,
                format_args!("{key}: expected a mapping with {expected}, found {}", describe(node)),
            ));
        };
        let mut known = Vec::new();
        for (k, v) in entries {
            match k.scalar() {
                Some(Scalar::Str(name)) if fields.contains(&name) => known.push((name, v)),
                _ => self.unknown_key(&[key], k, fields),
            }
        }
        Ok(known)
    }

    /// An optional string; only `name` may be empty (its own check says why it is wrong).
    fn string(&self, field: &str, value: &Node) -> Result<Option<String>, Exit> {
        let last = field.rsplit(['.', ']']).next().unwrap_or(field);
        match self.tree.deref(value).scalar() {
            Some(Scalar::Null) => Ok(None),
            Some(Scalar::Str(s)) if s.trim().is_empty() && field != "name" => Err(self
                .error(value, format_args!("{field}: must not be empty"))
                .hint(format!("remove the `{last}` line to use the default"))),
            Some(Scalar::Str(s)) => Ok(Some(s.to_owned())),
            _ => Err(self.type_error(field, value, "a string")),
        }
    }

    /// "`field`: expected …, found …", with a hint to quote a number or boolean.
    fn type_error(&self, field: &str, value: &Node, expected: &str) -> Exit {
        let node = self.tree.deref(value);
        let error = self
            .error(value, format_args!("{field}: expected {expected}, found {}", describe(node)));
        let last = field.rsplit(['.', ']']).next().unwrap_or(field);
        match (node.scalar(), node.text()) {
            (Some(Scalar::Number(_) | Scalar::Bool(_)), Some(text)) if expected == "a string" => {
                error.hint(format!("quote the value to make it a string: `{last}: \"{text}\"`"))
            }
            _ => error,
        }
    }

    fn kind(&mut self, value: &'a Node) -> Result<KindSection, Exit> {
        let mut kind = KindSection::default();
        for (key, v) in self.section("kind", value, "`image: <node image>`", KIND_KEYS)? {
            if key == "image" {
                kind.image = self.string("kind.image", v)?;
            }
        }
        Ok(kind)
    }

    fn database(&mut self, value: &'a Node) -> Result<Database, Exit> {
        let mut db = Database::default();
        let (mut service, mut user) = (None, None);
        let expected = "`engine`, `service`, `user` and `name` (all optional)";
        for (key, v) in self.section("database", value, expected, DATABASE_KEYS)? {
            let text = self.string(&format!("database.{key}"), v)?;
            match key {
                "engine" => {
                    if let Some(engine) = text {
                        db.engine = self.engine(v, &engine)?;
                    }
                }
                "service" => service = text,
                "user" => user = text,
                _ => db.name = text,
            }
        }
        // MySQL and MariaDB default to a workload named after the engine and the `root` user.
        if db.engine != Engine::Postgres {
            db.service = db.engine.as_str().to_owned();
            db.user = "root".to_owned();
        }
        db.service = service.unwrap_or(db.service);
        db.user = user.unwrap_or(db.user);
        Ok(db)
    }

    fn engine(&self, at: &Node, engine: &str) -> Result<Engine, Exit> {
        if let Some(known) = Engine::ALL.into_iter().find(|e| e.as_str() == engine) {
            return Ok(known);
        }
        let names: Vec<&str> = Engine::ALL.iter().map(|e| e.as_str()).collect();
        let error = self.error(
            at,
            format_args!(
                "database.engine: unsupported engine {engine:?}; kilter supports `postgres`, `mysql` and `mariadb`"
            ),
        );
        Err(match suggest(engine, &names) {
            Some(close) => error.hint(format!("did you mean `engine: {close}`?")),
            None => error.hint("use `engine: postgres`, `engine: mysql` or `engine: mariadb`"),
        })
    }

    fn cluster(&mut self, value: &'a Node) -> Result<ClusterSection, Exit> {
        let mut cluster = ClusterSection::default();
        for (_, v) in self.section("cluster", value, "`stopped: true|false`", CLUSTER_KEYS)? {
            cluster.stopped = match self.tree.deref(v).scalar() {
                Some(Scalar::Null) => false,
                Some(Scalar::Bool(b)) => b,
                _ => {
                    return Err(self.type_error("cluster.stopped", v, "true or false").hint(
                        "kilter writes this flag itself: `kilter stop` sets it, `kilter up` removes it",
                    ));
                }
            };
        }
        Ok(cluster)
    }

    fn registry(&self, value: &Node) -> Result<bool, Exit> {
        match self.tree.deref(value).scalar() {
            Some(Scalar::Null) => Ok(true),
            Some(Scalar::Bool(b)) => Ok(b),
            _ => Err(self.type_error("registry", value, "true or false").hint(
                "`registry: false` keeps this project off the machine's shared local registry",
            )),
        }
    }

    fn router(&self, value: &Node) -> Result<bool, Exit> {
        match self.tree.deref(value).scalar() {
            Some(Scalar::Null) => Ok(true),
            Some(Scalar::Bool(b)) => Ok(b),
            _ => Err(self.type_error("router", value, "true or false").hint(
                "`router: false` gives this project no names on the machine's shared router",
            )),
        }
    }

    fn services(&mut self, value: &Node) -> Result<Vec<ServiceEntry>, Exit> {
        let node = self.tree.deref(value);
        if node.is_null() {
            return Ok(Vec::new());
        }
        let Some(items) = node.items() else {
            return Err(self
                .type_error("services", value, "a list of services")
                .hint("list each service as an item: a catalog name or a mapping, e.g.\n  services:\n    - redis\n    - name: api\n      image: ghcr.io/acme/api:dev"));
        };
        let mut services: Vec<ServiceEntry> = Vec::with_capacity(items.len());
        // Each name and the line of its first item: duplicates without a quadratic search.
        let mut seen: HashMap<String, usize> = HashMap::with_capacity(items.len());
        for (index, item) in items.iter().enumerate() {
            let service = self.service(&format!("services[{index}]"), item)?;
            super::span::charge(1);
            if let Some(line) = seen.get(&service.name.value) {
                return Err(error_at(
                    self.path,
                    service.name.at,
                    format_args!(
                        "services[{index}]: duplicate service `{}` (first listed on line {line})",
                        service.name.value
                    ),
                )
                .hint("list each service once"));
            }
            seen.insert(service.name.value.clone(), service.at.line);
            services.push(service);
        }
        Ok(services)
    }

    fn service(&mut self, field: &str, item: &Node) -> Result<ServiceEntry, Exit> {
        let node = self.tree.deref(item);
        if let Some(Scalar::Str(name)) = node.scalar() {
            self.check_service_name(field, item, name)?;
            let name = At { value: name.to_owned(), at: item.pos };
            return Ok(ServiceEntry {
                at: item.pos,
                bare: true,
                name,
                image: None,
                port: None,
                env: Vec::new(),
                provides: Vec::new(),
                volume: None,
                http: None,
            });
        }
        let Some(entries) = node.entries() else {
            return Err(self.type_error(
                field,
                item,
                "a catalog service name or a mapping with `name`",
            ));
        };
        let mut service = ServiceEntry {
            at: item.pos,
            bare: false,
            name: At { value: String::new(), at: item.pos },
            image: None,
            port: None,
            env: Vec::new(),
            provides: Vec::new(),
            volume: None,
            http: None,
        };
        let mut named = false;
        for (key, value) in entries {
            let at = value.pos;
            let key_name = match key.scalar() {
                Some(Scalar::Str(k)) if SERVICE_KEYS.contains(&k) => k,
                _ => return Err(self.unknown_item_key(field, key, SERVICE_KEYS)),
            };
            let sub = format!("{field}.{key_name}");
            match key_name {
                "name" => {
                    let Some(name) = self.string(&sub, value)? else {
                        return Err(self.error(value, format_args!("{sub}: must not be empty")));
                    };
                    self.check_service_name(field, value, &name)?;
                    service.name = At { value: name, at: value.pos };
                    named = true;
                }
                "image" => {
                    service.image = self.string(&sub, value)?.map(|value| At { value, at });
                }
                "port" => service.port = self.port(&sub, value)?,
                "env" => service.env = self.vars(&sub, value, false)?,
                "provides" => service.provides = self.vars(&sub, value, true)?,
                "http" => {
                    service.http = match self.tree.deref(value).scalar() {
                        Some(Scalar::Null) => None,
                        Some(Scalar::Bool(b)) => Some(b),
                        _ => {
                            return Err(self.type_error(&sub, value, "true or false").hint(
                                "`http: true` gives the service's first port a name on the shared router",
                            ));
                        }
                    }
                }
                _ => service.volume = self.volume(&sub, value)?,
            }
        }
        if !named {
            return Err(self
                .error(item, format_args!("{field}: a service mapping needs a `name`"))
                .hint("e.g. `- name: api` (a catalog name alone is written `- redis`)"));
        }
        Ok(service)
    }

    fn unknown_item_key(&self, field: &str, key: &Node, candidates: &[&str]) -> Exit {
        let repr = key.key_repr();
        let suggestion = suggest(&repr, candidates)
            .map(|c| format!(" (did you mean `{c}`?)"))
            .unwrap_or_default();
        let list: Vec<String> = candidates.iter().map(|c| format!("`{c}`")).collect();
        self.error(key, format_args!("{field}: unknown key `{repr}`{suggestion}"))
            .hint(format!("the keys here are {}", list.join(", ")))
    }

    fn check_service_name(&self, field: &str, at: &Node, name: &str) -> Result<(), Exit> {
        let Some(problem) = name_problem(name) else { return Ok(()) };
        let error = self.error(
            at,
            format_args!("{field}: invalid service name {name:?} ({problem}): {SERVICE_RULE}"),
        );
        Err(match suggested_name(name) {
            Some(good) => error.hint(format!("use `{good}`")),
            None => error,
        })
    }

    fn port(&self, field: &str, value: &Node) -> Result<Option<At<u16>>, Exit> {
        let node = self.tree.deref(value);
        match node.scalar() {
            Some(Scalar::Null) => Ok(None),
            Some(Scalar::Number(text)) => match parse_port(text) {
                Some(port) => Ok(Some(At { value: port, at: value.pos })),
                None => Err(self.type_error(field, value, "a port number from 1 to 65535")),
            },
            _ => Err(self.type_error(field, value, "a port number from 1 to 65535")),
        }
    }

    /// `env:` (any scalar, kept as written) or `provides:` (strings only).
    fn vars(&self, field: &str, value: &Node, strings_only: bool) -> Result<Vec<Var>, Exit> {
        let node = self.tree.deref(value);
        if node.is_null() {
            return Ok(Vec::new());
        }
        let Some(entries) = node.entries() else {
            return Err(self.type_error(field, value, "a mapping of `NAME: value`"));
        };
        let mut vars = Vec::with_capacity(entries.len());
        for (key, v) in entries {
            let name = match key.scalar() {
                Some(Scalar::Str(name)) if !name.is_empty() => name,
                _ => return Err(self.type_error(field, key, "variable names that are strings")),
            };
            let sub = format!("{field}.{name}");
            let resolved = self.tree.deref(v);
            let value = match (resolved.scalar(), resolved.text()) {
                (Some(Scalar::Str(s)), _) => s.to_owned(),
                (Some(Scalar::Null), _) if !strings_only => String::new(),
                (Some(Scalar::Number(_) | Scalar::Bool(_)), Some(text)) if !strings_only => {
                    text.to_owned()
                }
                _ if strings_only => return Err(self.type_error(&sub, v, "a string")),
                _ => {
                    return Err(self.type_error(
                        &sub,
                        v,
                        "a single value (string, number or boolean)",
                    ));
                }
            };
            vars.push(Var { name: name.to_owned(), value, at: key.pos });
        }
        Ok(vars)
    }

    fn volume(&self, field: &str, value: &Node) -> Result<Option<At<Volume>>, Exit> {
        let expected = "`false`, an absolute mount path or a mapping with `path` and `size`";
        let node = self.tree.deref(value);
        let at = value.pos;
        let volume = match node.scalar() {
            Some(Scalar::Null) => return Ok(None),
            Some(Scalar::Bool(false)) => Volume::Off,
            Some(Scalar::Str(path)) => {
                Volume::Mount { path: Some(self.mount_path(field, value, path)?), size: None }
            }
            Some(_) => return Err(self.type_error(field, value, expected)),
            None => {
                let Some(entries) = node.entries() else {
                    return Err(self.type_error(field, value, expected));
                };
                let (mut path, mut size) = (None, None);
                for (key, v) in entries {
                    let sub = format!("{field}.{}", key.key_repr());
                    if key.is_key("path") {
                        path = match self.string(&sub, v)? {
                            Some(p) => Some(self.mount_path(&sub, v, &p)?),
                            None => None,
                        };
                    } else if key.is_key("size") {
                        size = self.size(&sub, v)?;
                    } else {
                        return Err(self.unknown_item_key(field, key, VOLUME_KEYS));
                    }
                }
                Volume::Mount { path, size }
            }
        };
        Ok(Some(At { value: volume, at }))
    }

    fn mount_path(&self, field: &str, at: &Node, path: &str) -> Result<String, Exit> {
        if path.starts_with('/') {
            return Ok(path.to_owned());
        }
        Err(self
            .error(at, format_args!("{field}: the mount path must be absolute, found {path:?}"))
            .hint("e.g. `/var/lib/postgresql/data`; `volume: false` for no volume"))
    }

    fn size(&self, field: &str, value: &Node) -> Result<Option<String>, Exit> {
        let node = self.tree.deref(value);
        match (node.scalar(), node.text()) {
            (Some(Scalar::Null), _) => Ok(None),
            (Some(Scalar::Str(_) | Scalar::Number(_)), Some(text)) if is_quantity(text) => {
                Ok(Some(text.to_owned()))
            }
            _ => Err(self.type_error(field, value, "a size such as `1Gi` or `500Mi`").hint(
                "sizes are Kubernetes quantities: a number with Ki, Mi, Gi, Ti (or k, M, G, T)",
            )),
        }
    }
}

/// A decimal, `0x` or `0o` integer from 1 to 65535.
fn parse_port(text: &str) -> Option<u16> {
    let text = text.strip_prefix('+').unwrap_or(text);
    let port = if let Some(hex) = text.strip_prefix("0x") {
        u16::from_str_radix(hex, 16).ok()
    } else if let Some(octal) = text.strip_prefix("0o") {
        u16::from_str_radix(octal, 8).ok()
    } else {
        text.parse::<u16>().ok()
    };
    port.filter(|&p| p > 0)
}

/// A Kubernetes quantity as used for volume sizes: `10`, `1.5Gi`, `500M`.
fn is_quantity(text: &str) -> bool {
    const SUFFIXES: &[&str] = &["Ki", "Mi", "Gi", "Ti", "Pi", "Ei", "k", "M", "G", "T", "P", "E"];
    let number = SUFFIXES
        .iter()
        .find_map(|s| text.strip_suffix(s))
        .filter(|n| !n.is_empty())
        .unwrap_or(text);
    let (whole, fraction) = number.split_once('.').unwrap_or((number, "0"));
    let digits = |s: &str| !s.is_empty() && s.bytes().all(|b| b.is_ascii_digit());
    digits(whole) && digits(fraction) && number.bytes().any(|b| b != b'0' && b != b'.')
}

fn dotted(section: &[&str], key: &str) -> String {
    section.iter().copied().chain([key]).collect::<Vec<_>>().join(".")
}

/// How a YAML value is named in messages.
pub(crate) fn describe(node: &Node) -> String {
    match node.scalar() {
        Some(Scalar::Null) => "nothing (null)".to_owned(),
        Some(Scalar::Bool(b)) => format!("the boolean `{b}`"),
        Some(Scalar::Number(n)) => format!("the number {n}"),
        Some(Scalar::Str(s)) => format!("the string {s:?}"),
        Some(Scalar::Tagged(tag)) => format!("a value tagged `{tag}`"),
        None if node.items().is_some() => "a list".to_owned(),
        None if node.entries().is_some() => "a mapping".to_owned(),
        None => "an alias".to_owned(),
    }
}

/// "Did you mean": a case-insensitive match, else the closest candidate within
/// Levenshtein distance 2 (and closer than the word's own length, so that `db` does not
/// suggest `dev`). Ties go to the earlier candidate (kilter's own keys come first).
pub fn suggest<'c>(unknown: &str, candidates: &[&'c str]) -> Option<&'c str> {
    if let Some(exact) = candidates.iter().find(|c| c.eq_ignore_ascii_case(unknown)) {
        return Some(exact);
    }
    let lower = unknown.to_lowercase();
    let len = lower.chars().count();
    candidates
        .iter()
        .map(|c| (strsim::levenshtein(&lower, c), *c))
        .filter(|&(distance, _)| distance <= 2 && distance < len)
        .min_by_key(|&(distance, _)| distance)
        .map(|(_, c)| c)
}

// ---------------------------------------------------------------------------------------
// Names
// ---------------------------------------------------------------------------------------

pub(crate) const NAME_RULE: &str = "a project name must be a DNS-1123 label: 1 to 42 characters, only lowercase letters (a-z), digits and '-', starting and ending with a letter or digit";

const SERVICE_RULE: &str = "a service name must be a DNS-1123 label: 1 to 42 characters, only lowercase letters (a-z), digits and '-', starting and ending with a letter or digit";

/// Check a project name: a DNS-1123 label `^[a-z0-9]([-a-z0-9]*[a-z0-9])?$` of 1 to
/// [`MAX_NAME_LEN`] characters. The error states the rule; its hint suggests
/// [`normalize_name`]`(name)` when that gives a valid name.
pub fn validate_name(name: &str) -> Result<(), Exit> {
    let Some(problem) = name_problem(name) else { return Ok(()) };
    let error = invalid(name_message(name, &problem));
    Err(match suggested_name(name) {
        Some(good) => error.hint(format!("try `{good}`")),
        None => error,
    })
}

/// Check the name of a service given on the command line (`kilter add NAME`).
pub(crate) fn validate_service_name(name: &str) -> Result<(), Exit> {
    let Some(problem) = name_problem(name) else { return Ok(()) };
    let error = invalid(format!("invalid service name {name:?} ({problem}): {SERVICE_RULE}"));
    Err(match suggested_name(name) {
        Some(good) => error.hint(format!("try `{good}`")),
        None => error,
    })
}

fn name_message(name: &str, problem: &str) -> String {
    format!("invalid project name {name:?} ({problem}): {NAME_RULE}")
}

fn suggested_name(name: &str) -> Option<String> {
    normalize_name(name).filter(|good| good != name && name_problem(good).is_none())
}

/// What is wrong with a name, or `None` if it is valid.
fn name_problem(name: &str) -> Option<String> {
    let length = name.chars().count();
    if name.is_empty() {
        return Some("it is empty".to_owned());
    }
    if length > MAX_NAME_LEN {
        return Some(format!("it is {length} characters long, more than {MAX_NAME_LEN}"));
    }
    if !name.is_ascii() {
        return Some("it contains non-ASCII characters".to_owned());
    }
    if name.bytes().any(|b| b.is_ascii_uppercase()) {
        return Some("it contains uppercase letters".to_owned());
    }
    if let Some(bad) =
        name.chars().find(|&c| !(c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-'))
    {
        return Some(format!("it contains {bad:?}"));
    }
    if name.starts_with('-') {
        return Some("it starts with '-'".to_owned());
    }
    if name.ends_with('-') {
        return Some("it ends with '-'".to_owned());
    }
    None
}

/// Normalise a directory name into a project name: lowercase; `_`, `.` and space become
/// `-`; other characters outside `[a-z0-9-]` (non-ASCII included) are dropped; runs of
/// `-` are collapsed; leading and trailing `-` are trimmed; the result is cut to
/// [`MAX_NAME_LEN`] (and trimmed again). `None` if nothing valid remains.
pub fn normalize_name(raw: &str) -> Option<String> {
    let mut out = String::with_capacity(raw.len());
    for c in raw.chars() {
        let c = match c.to_ascii_lowercase() {
            '_' | '.' | ' ' => '-',
            c @ ('a'..='z' | '0'..='9' | '-') => c,
            _ => continue,
        };
        if !(c == '-' && (out.is_empty() || out.ends_with('-'))) {
            out.push(c);
        }
    }
    out.truncate(MAX_NAME_LEN);
    let trimmed = out.trim_matches('-');
    (!trimmed.is_empty()).then(|| trimmed.to_owned())
}
