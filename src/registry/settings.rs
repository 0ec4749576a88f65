//! The registry's machine-wide settings from the environment, the upstreams it caches, and
//! the names of its containers and volumes.

use anyhow::Result;
use serde::Serialize;

use super::{DEFAULT_IMAGE, DEFAULT_PORT};
use crate::error::{Exit, invalid};
use crate::project::Project;
use crate::shared;

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

impl Settings {
    pub fn from_env() -> Result<Settings, Exit> {
        Settings::from_lookup(|k| std::env::var(k).ok())
    }

    /// Settings from a variable lookup (the environment, or a table in tests).
    pub fn from_lookup(get: impl Fn(&str) -> Option<String>) -> Result<Settings, Exit> {
        let machine_on = shared::switch(
            &get,
            "KILTER_REGISTRY",
            "`KILTER_REGISTRY=off` keeps every project off the shared registry",
        )?;
        let image = shared::text(&get, "KILTER_REGISTRY_IMAGE", DEFAULT_IMAGE);
        let prefix = shared::prefix(&get)?;
        let preferred_port = shared::port(&get, "KILTER_REGISTRY_PORT", DEFAULT_PORT)?;
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
                if !shared::name_ok(host)
                    || !(url.starts_with("http://") || url.starts_with("https://"))
                {
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
