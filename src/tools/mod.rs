//! The external tools: discovery (PATH or `KILTER_<TOOL>` override, all missing ones reported
//! together) and one typed module per tool with pure argv builders and pure parsers.
//!
//! This is the only way from kilter to a tool: [`Bin::cmd`], the constructor of a raw command,
//! is visible inside `tools` only, so every command is built by a typed builder here, and every
//! tool output is read by a parser here (`tests/it/structure.rs` checks the rest of `src/`).

pub mod caddy;
pub mod docker;
pub mod kind;
pub mod kubeconfig;
pub mod kubectl;
pub mod tilt;
pub mod version;

use camino::{Utf8Path, Utf8PathBuf};

use crate::error::{Code, Exit};
use crate::exec::Cmd;

/// One of the four tools kilter drives.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Tool {
    Docker,
    Kind,
    Kubectl,
    Tilt,
}

impl Tool {
    pub const ALL: [Tool; 4] = [Tool::Docker, Tool::Kind, Tool::Kubectl, Tool::Tilt];

    pub fn name(self) -> &'static str {
        match self {
            Tool::Docker => "docker",
            Tool::Kind => "kind",
            Tool::Kubectl => "kubectl",
            Tool::Tilt => "tilt",
        }
    }
    pub fn env_override(self) -> &'static str {
        match self {
            Tool::Docker => "KILTER_DOCKER",
            Tool::Kind => "KILTER_KIND",
            Tool::Kubectl => "KILTER_KUBECTL",
            Tool::Tilt => "KILTER_TILT",
        }
    }
    pub fn install_hint(self) -> &'static str {
        match self {
            Tool::Docker => {
                "install Docker Engine or Docker Desktop: https://docs.docker.com/engine/install/"
            }
            Tool::Kind => {
                "install kind: https://kind.sigs.k8s.io/docs/user/quick-start/#installation (e.g. `go install sigs.k8s.io/kind@v0.32.0` or `brew install kind`)"
            }
            Tool::Kubectl => {
                "install kubectl: https://kubernetes.io/docs/tasks/tools/ (e.g. `brew install kubectl`)"
            }
            Tool::Tilt => {
                "install Tilt: https://docs.tilt.dev/install.html (e.g. `brew install tilt-dev/tap/tilt`)"
            }
        }
    }
}

/// A resolved executable.
#[derive(Debug, Clone)]
pub struct Bin {
    /// What the transcript shows: the bare name when found on PATH, the path when overridden.
    pub display: String,
    /// `None`: not installed (a dry run goes on with the plain name).
    pub path: Option<Utf8PathBuf>,
}

impl Bin {
    /// A raw command of this executable: only the typed builders of `tools` use it.
    pub(in crate::tools) fn cmd(&self, summary: impl Into<String>) -> Cmd {
        Cmd::new(&self.display, self.path.as_deref(), summary)
    }
}

/// kilter itself, run by `kilter ci` for `db restore` and the `status --json` artifact.
#[derive(Debug, Clone)]
pub struct KilterSelf {
    bin: Bin,
}

impl KilterSelf {
    /// `kilter -C DIR db restore NAME`
    pub fn restore_cmd(&self, dir: &Utf8Path, name: &str) -> Cmd {
        self.bin
            .cmd(format!("restore snapshot {name}"))
            .args(["-C", dir.as_str(), "db", "restore", name])
            .mutate()
    }

    /// `kilter -C DIR status --json`
    pub fn status_json_cmd(&self, dir: &Utf8Path) -> Cmd {
        self.bin.cmd("record kilter status --json").args(["-C", dir.as_str(), "status", "--json"])
    }
}

/// kilter itself: shown as `kilter` when that name on PATH is this very executable, else by
/// its path.
pub fn kilter_self() -> KilterSelf {
    let path = std::env::current_exe().ok().and_then(|p| Utf8PathBuf::from_path_buf(p).ok());
    let same = |p: &Utf8Path| {
        which::which("kilter")
            .ok()
            .and_then(|w| std::fs::canonicalize(w).ok())
            .zip(std::fs::canonicalize(p).ok())
            .is_some_and(|(a, b)| a == b)
    };
    let display = match &path {
        Some(p) if !same(p) => p.to_string(),
        _ => "kilter".to_owned(),
    };
    KilterSelf { bin: Bin { display, path } }
}

/// The tools this command needs, resolved once.
#[derive(Debug, Clone, Default)]
pub struct Tools {
    docker: Option<Bin>,
    kind: Option<Bin>,
    kubectl: Option<Bin>,
    tilt: Option<Bin>,
}

/// Resolve one tool: `KILTER_<TOOL>` (a path or a name on PATH), else the name on PATH.
pub fn locate(tool: Tool) -> Result<Bin, String> {
    let over = std::env::var(tool.env_override()).ok().filter(|s| !s.is_empty());
    let (wanted, display_override) = match &over {
        Some(v) => (v.clone(), true),
        None => (tool.name().to_owned(), false),
    };
    let found = if wanted.contains('/') {
        let p = Utf8PathBuf::from(&wanted);
        if is_executable(&p) { Some(p) } else { None }
    } else {
        which::which(&wanted).ok().and_then(|p| Utf8PathBuf::from_path_buf(p).ok())
    };
    match found {
        Some(path) => Ok(Bin {
            display: if display_override { wanted } else { tool.name().to_owned() },
            path: Some(path),
        }),
        None if display_override => Err(format!(
            "{} (from {}={wanted}: not an executable)",
            tool.name(),
            tool.env_override()
        )),
        None => Err(tool.name().to_owned()),
    }
}

fn is_executable(p: &Utf8Path) -> bool {
    use std::os::unix::fs::PermissionsExt;
    std::fs::metadata(p).is_ok_and(|m| m.is_file() && m.permissions().mode() & 0o111 != 0)
}

impl Tools {
    /// Resolve `needed`, reporting every missing tool at once (exit 3).
    pub fn discover(needed: &[Tool]) -> Result<Tools, Exit> {
        Tools::discover_with(needed, &[])
    }

    /// Like [`Tools::discover`], but the tools in `may_miss` that are not installed are kept
    /// under their plain names (a dry run previews the plan without them). Returns them too.
    pub fn discover_with(needed: &[Tool], may_miss: &[Tool]) -> Result<Tools, Exit> {
        let mut tools = Tools::default();
        let mut missing: Vec<(Tool, String)> = Vec::new();
        for &t in needed {
            match locate(t) {
                Ok(bin) => *tools.slot(t) = Some(bin),
                Err(_) if may_miss.contains(&t) => {
                    *tools.slot(t) = Some(Bin { display: t.name().to_owned(), path: None });
                }
                Err(what) => missing.push((t, what)),
            }
        }
        if missing.is_empty() {
            return Ok(tools);
        }
        let names: Vec<&str> = missing.iter().map(|(t, _)| t.name()).collect();
        let mut msg = format!(
            "{} not found on PATH: {}",
            if missing.len() == 1 { "a required tool was" } else { "required tools were" },
            names.join(", ")
        );
        for (t, what) in &missing {
            msg.push_str(&format!("\n  {what}: {}", t.install_hint()));
        }
        Err(Exit::new(Code::Environment, msg)
            .hint("or point kilter at them with KILTER_DOCKER, KILTER_KIND, KILTER_KUBECTL, KILTER_TILT; `kilter doctor` checks everything"))
    }

    fn slot(&mut self, t: Tool) -> &mut Option<Bin> {
        match t {
            Tool::Docker => &mut self.docker,
            Tool::Kind => &mut self.kind,
            Tool::Kubectl => &mut self.kubectl,
            Tool::Tilt => &mut self.tilt,
        }
    }

    pub fn get(&self, t: Tool) -> anyhow::Result<&Bin> {
        let b = match t {
            Tool::Docker => &self.docker,
            Tool::Kind => &self.kind,
            Tool::Kubectl => &self.kubectl,
            Tool::Tilt => &self.tilt,
        };
        b.as_ref().ok_or_else(|| anyhow::anyhow!("internal: {} was not discovered", t.name()))
    }

    pub fn docker(&self) -> anyhow::Result<docker::Docker<'_>> {
        Ok(docker::Docker::new(self.get(Tool::Docker)?))
    }
    pub fn kind(&self) -> anyhow::Result<kind::Kind<'_>> {
        Ok(kind::Kind { bin: self.get(Tool::Kind)? })
    }

    /// The needed tools that are not installed (only possible with `discover_with`).
    pub fn missing(&self) -> Vec<Tool> {
        Tool::ALL.into_iter().filter(|t| self.get(*t).is_ok_and(|b| b.path.is_none())).collect()
    }
}
