//! Where kilter keeps its files: the base directories (XDG, under HOME) and every path of one
//! project derived from its name (docs/files.md).

use anyhow::Result;
use camino::{Utf8Path, Utf8PathBuf};

/// Base directories from the environment (XDG with the usual defaults under HOME).
#[derive(Debug, Clone)]
pub struct Dirs {
    pub home: Utf8PathBuf,
    pub cache: Utf8PathBuf,
    pub data: Utf8PathBuf,
    pub state: Utf8PathBuf,
}

impl Dirs {
    pub fn from_env() -> Result<Dirs> {
        let home = std::env::var("HOME")
            .ok()
            .filter(|h| !h.is_empty())
            .map(Utf8PathBuf::from)
            .ok_or_else(|| {
                crate::error::environment("HOME is not set; kilter keeps its files under it")
            })?;
        let xdg = |var: &str, default: &str| -> Utf8PathBuf {
            std::env::var(var)
                .ok()
                .filter(|v| !v.is_empty() && Utf8Path::new(v).is_absolute())
                .map(Utf8PathBuf::from)
                .unwrap_or_else(|| home.join(default))
                .join("kilter")
        };
        Ok(Dirs {
            cache: xdg("XDG_CACHE_HOME", ".cache"),
            data: xdg("XDG_DATA_HOME", ".local/share"),
            state: xdg("XDG_STATE_HOME", ".local/state"),
            home,
        })
    }

    /// `$XDG_STATE_HOME/kilter/ports.json`
    pub fn port_registry(&self) -> Utf8PathBuf {
        self.state.join("ports.json")
    }
}

/// Paths of one project.
#[derive(Debug, Clone)]
pub struct Paths {
    pub cache: Utf8PathBuf,
    pub kubeconfig: Utf8PathBuf,
    pub transcript: Utf8PathBuf,
    pub tilt_log: Utf8PathBuf,
    pub tilt_json: Utf8PathBuf,
    pub kind_config: Utf8PathBuf,
    /// Present while `kind create cluster` runs; a leftover means creation was interrupted.
    pub creating: Utf8PathBuf,
    pub identity: Utf8PathBuf,
    pub lock: Utf8PathBuf,
    /// What `kilter stop` replaced in kilter.yaml, so `up` can put back the exact bytes.
    pub flag_undo: Utf8PathBuf,
    /// The manifests rendered from kilter.yaml `services:` (what kilter last applied).
    pub services: Utf8PathBuf,
    pub snapshots: Utf8PathBuf,
}

impl Paths {
    pub fn new(dirs: &Dirs, name: &str) -> Paths {
        let cache = dirs.cache.join(name);
        Paths {
            kubeconfig: cache.join("kubeconfig"),
            transcript: cache.join("commands.log"),
            tilt_log: cache.join("tilt.log"),
            tilt_json: cache.join("tilt.json"),
            kind_config: cache.join("kind-config.yaml"),
            creating: cache.join("creating"),
            identity: cache.join("project.json"),
            lock: cache.join("lock"),
            flag_undo: cache.join("flag-undo.json"),
            services: cache.join("services.yaml"),
            snapshots: dirs.data.join(name).join("snapshots"),
            cache,
        }
    }
}
