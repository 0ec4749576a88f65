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

mod machine;
mod ownership;
mod rows;
mod settings;
mod wiring;

pub use machine::*;
pub use ownership::*;
pub use rows::*;
pub use settings::*;
pub use wiring::*;

pub const DEFAULT_PORT: u16 = 5001;
pub const DEFAULT_IMAGE: &str = "registry:3";
pub use crate::shared::{DEFAULT_PREFIX, KIND_NETWORK, SHARED_LABEL};
/// The port the registry listens on inside its container.
pub const CONTAINER_PORT: &str = "5000/tcp";
/// Label on a cache container and volume: the upstream it mirrors.
pub const UPSTREAM_LABEL: &str = "io.kilter.upstream";
/// Where containerd looks for per-registry `hosts.toml` files in a node.
pub const CERTS_DIR: &str = "/etc/containerd/certs.d";
pub use crate::tools::kubectl::{HOSTING_KEY, HOSTING_NAME, HOSTING_NAMESPACE};
pub const HELP_URL: &str = "https://kind.sigs.k8s.io/docs/user/local-registry/";

#[cfg(test)]
mod tests;
