//! Which shared containers and volumes are kilter's: the registry's and caches' roles on
//! [`SHARED_LABEL`], what `docker inspect` showed of them, and the refusal at a same-named one
//! kilter did not create.

use super::{SHARED_LABEL, Settings};
use crate::error::Exit;
use crate::shared;
use crate::tools::docker::{self, Container};

/// The role a shared name stands for: `registry` for the registry, `cache` for a cache.
fn role_of(settings: &Settings, name: &str) -> &'static str {
    if name == settings.registry_name() { "registry" } else { "cache" }
}

/// Whether a shared container is kilter's: it carries [`SHARED_LABEL`] with the role its name
/// stands for. A same-named container without it is someone else's and is never started,
/// connected, stopped or removed.
pub fn is_kilters(settings: &Settings, c: &Container) -> bool {
    shared::is_kilters(c, role_of(settings, c.short_name()))
}

/// What stops kilter at a same-named container or volume it did not create (exit 1).
pub fn in_the_way(kind: &str, names: &[String]) -> Exit {
    shared::in_the_way(
        kind,
        names,
        SHARED_LABEL,
        "`KILTER_REGISTRY=off` runs without the local registry",
    )
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

/// The volumes of `docker volume inspect` that do not carry [`SHARED_LABEL`].
pub fn foreign_volumes(vols: &[docker::Volume]) -> Vec<String> {
    vols.iter().filter(|v| v.label(SHARED_LABEL).is_none()).map(|v| v.name.clone()).collect()
}
