//! The walk over the YAML tree that builds a [`Config`]: the top level, the small sections
//! (`kind`, `database`, `cluster`, `registry`, `router`) and the readers of single values
//! (strings, ports, `NAME: value` maps) the other parts use.

use camino::{Utf8Path, Utf8PathBuf};

use super::model::{At, ClusterSection, Config, Database, Engine, KindSection, Var};
use super::{describe, suggest};
use crate::config::span::{Node, Scalar, Tree};
use crate::error::Exit;

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

/// Check the tree against the schema; returns the settings and the warnings (unknown keys).
pub(crate) fn config(path: &Utf8Path, tree: &Tree) -> Result<(Config, Vec<String>), Exit> {
    let mut walker = Walker { path, tree, warnings: Vec::new() };
    let config = walker.config()?;
    Ok((config, walker.warnings))
}

pub(super) struct Walker<'a> {
    pub(super) path: &'a Utf8Path,
    pub(super) tree: &'a Tree,
    pub(super) warnings: Vec<String>,
}

impl<'a> Walker<'a> {
    pub(super) fn config(&mut self) -> Result<Config, Exit> {
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

    /// A section that must be a mapping (or empty). Unknown keys inside are warned about.
    pub(super) fn section(
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
    pub(super) fn string(&self, field: &str, value: &Node) -> Result<Option<String>, Exit> {
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

    pub(super) fn port(&self, field: &str, value: &Node) -> Result<Option<At<u16>>, Exit> {
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
    pub(super) fn vars(
        &self,
        field: &str,
        value: &Node,
        strings_only: bool,
    ) -> Result<Vec<Var>, Exit> {
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

    pub(super) fn kind(&mut self, value: &'a Node) -> Result<KindSection, Exit> {
        let mut kind = KindSection::default();
        for (key, v) in self.section("kind", value, "`image: <node image>`", KIND_KEYS)? {
            if key == "image" {
                kind.image = self.string("kind.image", v)?;
            }
        }
        Ok(kind)
    }

    pub(super) fn database(&mut self, value: &'a Node) -> Result<Database, Exit> {
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

    pub(super) fn engine(&self, at: &Node, engine: &str) -> Result<Engine, Exit> {
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

    pub(super) fn cluster(&mut self, value: &'a Node) -> Result<ClusterSection, Exit> {
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

    pub(super) fn registry(&self, value: &Node) -> Result<bool, Exit> {
        match self.tree.deref(value).scalar() {
            Some(Scalar::Null) => Ok(true),
            Some(Scalar::Bool(b)) => Ok(b),
            _ => Err(self.type_error("registry", value, "true or false").hint(
                "`registry: false` keeps this project off the machine's shared local registry",
            )),
        }
    }

    pub(super) fn router(&self, value: &Node) -> Result<bool, Exit> {
        match self.tree.deref(value).scalar() {
            Some(Scalar::Null) => Ok(true),
            Some(Scalar::Bool(b)) => Ok(b),
            _ => Err(self.type_error("router", value, "true or false").hint(
                "`router: false` gives this project no names on the machine's shared router",
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
