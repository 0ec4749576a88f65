//! The app of a project without a Tiltfile: what kilter.yaml declares (`image`, `dev`, `port`,
//! `health`, `env`, `sync`) completed by what [`detect`] finds in the project's files, and the
//! files kilter renders for Tilt from it ([`render`]). docs/kilter-yaml.md describes the fields,
//! docs/commands.md the detection rules and `kilter render`/`kilter eject`.

use camino::{Utf8Path, Utf8PathBuf};

use crate::config::{AppSection, DevCommand};
use crate::error::{Exit, invalid};

pub mod detect;
pub mod render;

#[cfg(test)]
mod tests;

pub use detect::{Detected, Files, Stack};

/// Where a value of the app comes from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Origin {
    /// Written in kilter.yaml (at `line:column`).
    Declared(crate::config::Pos),
    /// Detected from the project's files, and why.
    Detected(String),
    /// kilter's default when neither says anything.
    Default,
}

impl std::fmt::Display for Origin {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Origin::Declared(pos) => write!(f, "kilter.yaml:{pos}"),
            Origin::Detected(why) => write!(f, "detected: {why}"),
            Origin::Default => f.write_str("default"),
        }
    }
}

/// A value and where it comes from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Field<T> {
    pub value: T,
    pub origin: Origin,
}

/// The app as kilter runs it: every field known.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct App {
    /// `Node (Next.js, pnpm (pnpm-lock.yaml))`, or `declared in kilter.yaml`.
    pub stack: String,
    pub image: Field<String>,
    pub dev: Field<DevCommand>,
    pub port: Field<u16>,
    pub health: Option<Field<String>>,
    /// `env:` of kilter.yaml, in file order.
    pub env: Vec<(String, String)>,
    /// Project-relative paths synced into `/app` by live update (`.`: the whole project).
    pub sync: Field<Vec<String>>,
    /// Dependency manifests and lockfiles (copied before the source; their change reinstalls).
    pub manifests: Vec<String>,
    pub install: Option<String>,
    pub setup: Vec<String>,
    /// Restart the dev command after a sync (it does not reload by itself).
    pub restart: bool,
    pub ignore: Vec<String>,
    pub notes: Vec<String>,
}

/// The default base image when nothing says otherwise.
pub const DEFAULT_IMAGE: &str = "node:22-alpine";
/// The default port when nothing says otherwise (a plain Node server's).
pub const DEFAULT_PORT: u16 = 3000;

/// The project directory's files, read for [`detect::detect`]: only regular files inside it.
pub struct DirFiles<'a>(pub &'a Utf8Path);

impl Files for DirFiles<'_> {
    fn read(&self, path: &str) -> Option<Vec<u8>> {
        let inside = Utf8Path::new(path)
            .components()
            .all(|c| matches!(c, camino::Utf8Component::Normal(_) | camino::Utf8Component::CurDir));
        let full: Utf8PathBuf = self.0.join(path);
        if !inside || !full.is_file() {
            return None;
        }
        std::fs::read(&full).ok()
    }
}

/// The app of `dir`: kilter.yaml's fields first, detection for the rest. `Ok(None)`: no stack is
/// recognised and kilter.yaml has no `dev:` (the command is the one thing kilter cannot guess). A file detection must read but cannot
/// (a `package.json` that is not JSON) is exit 4, unless kilter.yaml declares `dev:` (then it is
/// a note).
pub fn resolve(
    declared: &AppSection,
    dir: &Utf8Path,
    files: &dyn Files,
) -> Result<Option<App>, Exit> {
    let (detected, problem) = match detect::detect(files) {
        Ok(d) => (d, None),
        Err(p) if declared.dev.is_some() => (None, Some(p)),
        Err(p) => {
            return Err(invalid(format!("{dir}/{}: {}", p.at, p.message)).hint(p.hint));
        }
    };
    if detected.is_none() && declared.dev.is_none() {
        return Ok(None);
    }
    let mut notes: Vec<String> = problem
        .map(|p| format!("{}: {} (kilter.yaml's `dev:` is used)", p.at, p.message))
        .into_iter()
        .collect();
    let declared_at = |pos| Origin::Declared(pos);
    let image = match (&declared.image, &detected) {
        (Some(i), _) => Field { value: i.value.clone(), origin: declared_at(i.at) },
        (None, Some(d)) => {
            Field { value: d.image.value.clone(), origin: Origin::Detected(d.image.why.clone()) }
        }
        (None, None) => Field { value: DEFAULT_IMAGE.to_owned(), origin: Origin::Default },
    };
    let dev = match (&declared.dev, &detected) {
        (Some(d), _) => Field { value: d.value.clone(), origin: declared_at(d.at) },
        (None, Some(d)) => Field {
            value: DevCommand::Shell(d.dev.value.clone()),
            origin: Origin::Detected(d.dev.why.clone()),
        },
        // Fields such as `env:` or `port:` without a command (they were the wider ecosystem's
        // before kilter read them): no app; the note of `up` says how to declare one.
        (None, None) => return Ok(None),
    };
    let port = match (&declared.port, &detected) {
        (Some(p), _) => Field { value: p.value, origin: declared_at(p.at) },
        (None, Some(d)) => {
            Field { value: d.port.value, origin: Origin::Detected(d.port.why.clone()) }
        }
        (None, None) => Field { value: DEFAULT_PORT, origin: Origin::Default },
    };
    let sync = match &declared.sync {
        Some(s) => Field { value: s.value.clone(), origin: declared_at(s.at) },
        None => Field {
            value: vec![".".to_owned()],
            origin: if detected.is_some() {
                Origin::Detected("the whole project, without its dependency directories".to_owned())
            } else {
                Origin::Default
            },
        },
    };
    let health = declared
        .health
        .as_ref()
        .map(|h| Field { value: h.value.clone(), origin: declared_at(h.at) });
    let env = declared.env.iter().map(|v| (v.name.clone(), v.value.clone())).collect();
    let stack = match &detected {
        Some(d) => format!("{} ({})", d.stack, d.framework),
        None => "declared in kilter.yaml".to_owned(),
    };
    let d = detected.unwrap_or_else(|| Detected {
        stack: Stack::Node,
        framework: String::new(),
        image: detect::Guess { value: String::new(), why: String::new() },
        dev: detect::Guess { value: String::new(), why: String::new() },
        port: detect::Guess { value: 0, why: String::new() },
        manifests: vec![],
        install: None,
        setup: vec![],
        reloads: false,
        ignore: vec![".git".to_owned()],
        notes: vec![],
    });
    notes.extend(d.notes);
    Ok(Some(App {
        stack,
        image,
        dev,
        port,
        health,
        env,
        sync,
        manifests: d.manifests,
        install: d.install,
        setup: d.setup,
        restart: !d.reloads,
        ignore: d.ignore,
        notes,
    }))
}

impl App {
    /// The dev command as one line (for messages).
    pub fn dev_line(&self) -> String {
        match &self.dev.value {
            DevCommand::Shell(s) => s.clone(),
            DevCommand::Argv(argv) => {
                argv.iter().map(|w| crate::exec::quote(w)).collect::<Vec<_>>().join(" ")
            }
        }
    }

    /// One line per value with its origin: what `up -v`, `status` and `render` show.
    pub fn describe(&self) -> Vec<String> {
        let mut lines = vec![format!("app         {}", self.stack)];
        lines.push(format!("  image     {} ({})", self.image.value, self.image.origin));
        lines.push(format!("  dev       {} ({})", self.dev_line(), self.dev.origin));
        lines.push(format!("  port      {} ({})", self.port.value, self.port.origin));
        match &self.health {
            Some(h) => lines.push(format!("  health    {} ({})", h.value, h.origin)),
            None => lines.push(
                "  health    none (the pod is ready when it runs; `health:` adds a probe)"
                    .to_owned(),
            ),
        }
        lines.push(format!("  sync      {} ({})", self.sync.value.join(", "), self.sync.origin));
        if let Some(install) = &self.install {
            lines.push(format!(
                "  install   {install} (again when {} changes)",
                self.manifests.join(" or ")
            ));
        }
        lines
    }
}

/// Put the rendered `files` in `dir` (`<cache>/render`) as one unit: when every file there
/// already has these bytes (and nothing else is there), nothing is written; otherwise the files
/// go into `render.new/`, which then replaces `dir` (the old one is moved aside and removed). A
/// crash leaves either the old directory or the new one, never a mix. Returns whether it wrote.
pub fn write_rendered(
    runner: &crate::exec::Runner<'_>,
    dir: &Utf8Path,
    files: &[render::File],
) -> anyhow::Result<bool> {
    if is_current(dir, files) {
        return Ok(false);
    }
    let name = dir.file_name().unwrap_or("render");
    let staging = dir.with_file_name(format!("{name}.new"));
    let old = dir.with_file_name(format!("{name}.old"));
    // Leftovers of an interrupted write.
    runner.remove_dir_all(&staging)?;
    runner.remove_dir_all(&old)?;
    runner.ensure_dir(&staging)?;
    for file in files {
        let path = staging.join(&file.name);
        if let Some(parent) = path.parent()
            && parent != staging
        {
            runner.ensure_dir(parent)?;
        }
        runner.write_file(
            &path,
            &crate::exec::Content::text(file.text.clone()),
            crate::fsutil::Perm::Private(0o600),
        )?;
    }
    if runner.exists(dir) {
        runner.rename(dir, &old)?;
    }
    runner.rename(&staging, dir)?;
    runner.remove_dir_all(&old)?;
    Ok(true)
}

/// Whether `dir` holds exactly `files`, byte for byte.
fn is_current(dir: &Utf8Path, files: &[render::File]) -> bool {
    let same = files
        .iter()
        .all(|f| std::fs::read(dir.join(&f.name)).is_ok_and(|b| b == f.text.as_bytes()));
    let mut expected: Vec<&str> = files.iter().map(|f| f.name.as_str()).collect();
    expected.sort_unstable();
    let mut present = Vec::new();
    let Ok(entries) = std::fs::read_dir(dir) else { return false };
    for entry in entries.flatten() {
        present.push(entry.file_name().to_string_lossy().into_owned());
    }
    present.sort_unstable();
    let flat: Vec<String> =
        expected.iter().map(|e| e.split('/').next().unwrap_or(e).to_owned()).collect();
    let mut flat_unique = flat.clone();
    flat_unique.dedup();
    same && present == flat_unique
}

/// The lines `kilter init` adds to the starter kilter.yaml: what detection found, commented
/// out (detection keeps deciding until the user uncomments a line), or how to declare the app.
pub fn starter_comments(detected: Option<&Detected>) -> String {
    let yaml = crate::config::scalar_text;
    match detected {
        Some(d) => format!(
            "\
# The app: kilter renders its Tiltfile, Dockerfile and manifests when the project
# has no Tiltfile. Detected: {} ({}). Uncomment a line to change what kilter guessed.
# image: {}
# dev: {}
# port: {}
# health: /healthz      # an HTTP path for the readiness probe
# env:
#   LOG_LEVEL: debug
# sync: [.]             # paths that live-update into the container
",
            d.stack,
            d.framework,
            yaml(&d.image.value),
            yaml(&d.dev.value),
            d.port.value
        ),
        None => "\
# The app: kilter renders its Tiltfile, Dockerfile and manifests when the project
# has no Tiltfile. No package.json, pyproject.toml, requirements.txt or go.mod was
# found here: declare the command that starts the app and the port it listens on.
# image: node:22-alpine
# dev: node server.js
# port: 3000
# health: /healthz
# env:
#   LOG_LEVEL: debug
# sync: [.]
"
        .to_owned(),
    }
}
