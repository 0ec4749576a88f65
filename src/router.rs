//! The machine's shared router (README "Names instead of port numbers"): one Caddy container,
//! `kilter-router`, on kind's `kind` network, published on `127.0.0.1:80` (or, when 80 cannot
//! be bound, the first free port of 8080–8099, recorded in the port registry), that gives every
//! project's app and web services a name: `http://<service>.<project>.localhost[:port]`.
//!
//! The routes are computed from every project's records (the port registry's entries: slot,
//! directory and services' NodePorts; the node containers' states from one `docker ps -a`) by
//! [`routes`] and rendered as Caddy's JSON configuration by [`render`]: pure functions, golden
//! tested. [`Machine`] writes that file through the runner's file effects (so a dry run prints
//! it), creates or starts the container, and reloads Caddy gracefully (`caddy reload`, which
//! drops no connection).

mod machine;
mod records;
mod render;
mod routes;
mod settings;

pub use machine::*;
pub use records::*;
pub use render::*;
pub use routes::*;
pub use settings::*;

pub const DEFAULT_IMAGE: &str = "caddy:2";
/// The port kilter tries first.
pub const PREFERRED_PORT: u16 = 80;
/// Where it looks when the preferred port cannot be bound.
pub const FALLBACK_PORTS: std::ops::RangeInclusive<u16> = 8080..=8099;
/// The port Caddy listens on inside the container.
pub const CONTAINER_PORT: &str = "80/tcp";
/// Where the configuration directory is mounted in the container (read-only).
pub const CONFIG_MOUNT: &str = "/etc/kilter-router";
/// The configuration file's name, in the directory kilter writes and in the mount.
pub const CONFIG_FILE: &str = "caddy.json";
/// Caddy's admin endpoint inside the container (what `caddy reload` talks to).
pub const ADMIN_LISTEN: &str = "localhost:2019";
/// The label value on the router container (the label is the shared containers' `io.kilter.shared`).
pub const ROLE: &str = "router";
pub use crate::shared::{KIND_NETWORK, SHARED_LABEL};

#[cfg(test)]
mod tests;
