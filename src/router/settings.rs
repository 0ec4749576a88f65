//! The router's machine-wide settings from the environment, and where its configuration is
//! written and mounted.

use camino::Utf8PathBuf;

use super::{CONFIG_FILE, CONFIG_MOUNT, DEFAULT_IMAGE, PREFERRED_PORT};
use crate::error::Exit;
use crate::project::{Dirs, Project};
use crate::shared;

/// Machine-wide settings, from the environment.
#[derive(Debug, Clone)]
pub struct Settings {
    /// `KILTER_ROUTER=off` turns the router off for every project.
    pub machine_on: bool,
    /// `KILTER_ROUTER_IMAGE`, default `caddy:2`.
    pub image: String,
    /// `<prefix>-router`: the prefix of the shared containers (`KILTER_REGISTRY_PREFIX`, default
    /// `kilter`), so one setting renames all of them.
    pub name: String,
    /// The port to try first (`KILTER_ROUTER_PORT`, default 80).
    pub preferred_port: u16,
}

impl Settings {
    pub fn from_env() -> Result<Settings, Exit> {
        Settings::from_lookup(|k| std::env::var(k).ok())
    }

    pub fn from_lookup(get: impl Fn(&str) -> Option<String>) -> Result<Settings, Exit> {
        let machine_on = shared::switch(
            &get,
            "KILTER_ROUTER",
            "`KILTER_ROUTER=off` keeps every project off the shared router",
        )?;
        let image = shared::text(&get, "KILTER_ROUTER_IMAGE", DEFAULT_IMAGE);
        let prefix = shared::prefix(&get)?;
        let preferred_port = shared::port(&get, "KILTER_ROUTER_PORT", PREFERRED_PORT)?;
        Ok(Settings { machine_on, image, name: format!("{prefix}-router"), preferred_port })
    }
}

/// Whether this project uses the router: the machine's setting and kilter.yaml `router:`
/// (default true).
pub fn enabled_for(project: &Project, settings: &Settings) -> bool {
    settings.machine_on && project.config.router
}

/// The directory kilter writes the configuration in: `<cache root>/.router/` (a name no
/// project can have, so `gc` never takes it for a project's cache dir).
pub fn config_dir(dirs: &Dirs) -> Utf8PathBuf {
    dirs.cache.join(".router")
}

pub fn config_path(dirs: &Dirs) -> Utf8PathBuf {
    config_dir(dirs).join(CONFIG_FILE)
}

/// The configuration file as the container sees it.
pub fn mounted_config() -> String {
    format!("{CONFIG_MOUNT}/{CONFIG_FILE}")
}
