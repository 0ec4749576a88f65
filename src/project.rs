//! The project model: its name, directory, kilter.yaml, and every path derived from the name
//! (docs/files.md). Also the project-identity record that stops two directories sharing a cluster.

use anyhow::{Context, Result};
use camino::{Utf8Path, Utf8PathBuf};
use serde::{Deserialize, Serialize};

use crate::config::Undo;
use crate::config::{self, Config, ProjectFile};
use crate::error::{Exit, invalid};
use crate::exec::{Content, Runner, StagedWrite};
use crate::fsutil::Perm;
use crate::ui::Ui;

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

/// A resolved project.
#[derive(Debug, Clone)]
pub struct Project {
    pub name: String,
    /// The directory holding kilter.yaml (or the start directory when there is none).
    pub dir: Utf8PathBuf,
    /// `<dir>/kilter.yaml`, whether or not it exists.
    pub file_path: Utf8PathBuf,
    pub file: Option<ProjectFile>,
    pub config: Config,
    pub paths: Paths,
}

impl Project {
    /// kubectl for this project's cluster: its kubeconfig and kind's `kind-kilter-<name>`
    /// context on every call (the one way an op gets a kubectl).
    pub fn kubectl<'t>(
        &self,
        tools: &'t crate::tools::Tools,
    ) -> anyhow::Result<crate::tools::kubectl::Kubectl<'t>> {
        Ok(self.kubectl_with(tools.get(crate::tools::Tool::Kubectl)?))
    }

    /// The same with a kubectl found already.
    pub fn kubectl_with<'b>(
        &self,
        bin: &'b crate::tools::Bin,
    ) -> crate::tools::kubectl::Kubectl<'b> {
        crate::tools::kubectl::Kubectl::new(bin, self.paths.kubeconfig.clone(), self.context())
    }

    /// Find kilter.yaml from `start` upwards, load it, and work out the name.
    pub fn resolve(start: &Utf8Path, dirs: &Dirs, ui: &Ui) -> Result<Project> {
        let start = absolute(start)?;
        refuse_broken_project_file(&start)?;
        let (dir, file) = match config::find(&start) {
            Some(path) => {
                let file = config::load(&path)?;
                for w in &file.warnings {
                    ui.warn(w);
                }
                let dir = path.parent().map(Utf8Path::to_owned).unwrap_or_else(|| start.clone());
                (dir, Some(file))
            }
            None => (start.clone(), None),
        };
        let mut config = file.as_ref().map(|f| f.config.clone()).unwrap_or_default();
        let name = match &config.name {
            Some(n) => n.clone(),
            None => {
                let raw = dir.file_name().unwrap_or("");
                let name = config::normalize_name(raw).ok_or_else(|| {
                    invalid(format!(
                        "cannot derive a project name from the directory name `{raw}`"
                    ))
                    .hint("add `name: <name>` to kilter.yaml (lowercase letters, digits and '-', at most 42 characters)")
                })?;
                if name != raw {
                    ui.note(&format!(
                        "project name `{name}` (from the directory name `{raw}`; set `name:` in kilter.yaml to choose another)"
                    ));
                }
                name
            }
        };
        config::validate_name(&name)?;
        // No `database:` section: a PostgreSQL service under `services:` is the database.
        if config.database.is_none() {
            config.database = crate::services::default_database(&config.services, &name);
        }
        let paths = Paths::new(dirs, &name);
        Ok(Project { file_path: dir.join(config::FILE_NAME), dir, file, config, paths, name })
    }

    pub fn cluster(&self) -> String {
        format!("kilter-{}", self.name)
    }
    pub fn node(&self) -> String {
        format!("kilter-{}-control-plane", self.name)
    }
    /// kind's own context name, never renamed (Tilt recognises `kind-`).
    pub fn context(&self) -> String {
        format!("kind-kilter-{}", self.name)
    }
    pub fn namespace(&self) -> String {
        format!("{}-dev", self.name)
    }

    /// The Tiltfile: `tiltfile:` relative to the project dir, default `./Tiltfile`.
    pub fn tiltfile(&self) -> Utf8PathBuf {
        match &self.config.tiltfile {
            Some(p) if p.is_absolute() => p.clone(),
            Some(p) => self.dir.join(p),
            None => self.dir.join("Tiltfile"),
        }
    }

    /// Whether kilter.yaml currently says `cluster.stopped: true`.
    pub fn flag_stopped(&self) -> bool {
        self.config.cluster.stopped
    }
}

/// A `kilter.yaml` that is there but not a readable file (a dangling symlink, a directory) must
/// not be skipped on the way up to a parent's kilter.yaml, nor replaced by `stop`.
fn refuse_broken_project_file(start: &Utf8Path) -> Result<()> {
    for dir in start.ancestors() {
        let candidate = dir.join(config::FILE_NAME);
        if candidate.is_file() {
            return Ok(());
        }
        if crate::fsutil::exists(&candidate) {
            let what = match std::fs::read_link(&candidate) {
                Ok(to) => format!("is a symlink to {}, which does not exist", to.display()),
                Err(_) => "is not a regular file".to_owned(),
            };
            return Err(invalid(format!("{candidate} {what}"))
                .hint("point it at an existing file, or remove it")
                .into());
        }
    }
    Ok(())
}

fn absolute(p: &Utf8Path) -> Result<Utf8PathBuf> {
    let abs = if p.is_absolute() {
        p.to_owned()
    } else {
        let cwd = std::env::current_dir().context("cannot read the current directory")?;
        Utf8PathBuf::from_path_buf(cwd)
            .map_err(|p| {
                anyhow::anyhow!("current directory is not UTF-8: {}", p.to_string_lossy())
            })?
            .join(p)
    };
    if !abs.is_dir() {
        return Err(invalid(format!("project directory {abs} does not exist")).into());
    }
    // Canonicalise so the identity check compares real paths.
    Ok(abs.canonicalize_utf8().unwrap_or(abs))
}

/// `<cache dir>/project.json`: which directory owns this project name's cluster.
#[derive(Debug, Serialize, Deserialize)]
pub struct Identity {
    pub version: u32,
    pub dir: Utf8PathBuf,
    /// When this directory claimed the name.
    pub created_at: String,
    /// Who created the cluster and when (`kind create` succeeded): absent for a cluster adopted,
    /// or recorded by an older kilter.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cluster: Option<Creation>,
}

/// Which kilter command created the cluster, and when.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
pub struct Creation {
    /// `up` or `ci`.
    pub created_by: String,
    pub created_at: String,
}

impl Identity {
    pub fn read(path: &Utf8Path) -> Option<Identity> {
        let text = std::fs::read_to_string(path).ok()?;
        serde_json::from_str(&text).ok()
    }
}

/// Refuse (exit 4) when another directory with the same project name owns the cluster, unless
/// `adopt`. Returns true when the identity record should be (re)written by a mutating verb.
/// Mutating verbs call this under the project lock, so two directories cannot both claim.
pub fn check_identity(project: &Project, adopt: bool, ui: &Ui) -> Result<bool> {
    let Some(id) = Identity::read(&project.paths.identity) else { return Ok(true) };
    if id.dir == project.dir {
        return Ok(false);
    }
    if adopt {
        ui.warn(&format!(
            "taking over project `{}` from {} (--adopt); that directory no longer owns the cluster",
            project.name, id.dir
        ));
        return Ok(true);
    }
    Err(Exit::new(
        crate::error::Code::Invalid,
        format!(
            "project name `{}` is already used by {} (cluster {})",
            project.name,
            id.dir,
            project.cluster()
        ),
    )
    .hint(format!(
        "give this project its own name with `name: <other-name>` in {}, or pass --adopt to take that cluster over",
        project.file_path
    ))
    .into())
}

/// Whether this project has an identity record at all (a cluster it created or adopted).
pub fn has_identity(project: &Project) -> bool {
    Identity::read(&project.paths.identity).is_some()
}

/// Record this directory as the owner of the project name.
pub fn write_identity(runner: &Runner<'_>, project: &Project) -> Result<()> {
    let id = Identity {
        version: 1,
        dir: project.dir.clone(),
        created_at: crate::time::rfc3339_now(),
        cluster: None,
    };
    let text = serde_json::to_string_pretty(&id)? + "\n";
    runner.write_file(&project.paths.identity, &Content::text(text), Perm::Private(0o600))
}

/// Record in the identity that command `by` (`up`, `ci`) has just created the cluster.
pub fn record_creation(runner: &Runner<'_>, project: &Project, by: &str) -> Result<()> {
    let now = crate::time::rfc3339_now();
    let claimed = Identity::read(&project.paths.identity)
        .filter(|i| i.dir == project.dir)
        .map(|i| i.created_at)
        .unwrap_or_else(|| now.clone());
    let id = Identity {
        version: 1,
        dir: project.dir.clone(),
        created_at: claimed,
        cluster: Some(Creation { created_by: by.to_owned(), created_at: now }),
    };
    let text = serde_json::to_string_pretty(&id)? + "\n";
    runner.write_file(&project.paths.identity, &Content::text(text), Perm::Private(0o600))
}

/// `<cache dir>/creating`: written right before `kind create cluster`, removed after it. It
/// records when, so that a later `up` deletes only a node created after it (a half-made
/// cluster of ours), never one that already existed.
#[derive(Debug, Serialize, Deserialize)]
pub struct CreatingMarker {
    pub started_at: String,
    /// Seconds since the epoch (what `.Created` of the node is compared with).
    pub unix: i64,
}

impl CreatingMarker {
    pub fn read(path: &Utf8Path) -> Option<CreatingMarker> {
        serde_json::from_str(&std::fs::read_to_string(path).ok()?).ok()
    }

    pub fn write(runner: &Runner<'_>, path: &Utf8Path) -> Result<()> {
        let now = crate::time::now_secs();
        let m = CreatingMarker { started_at: crate::time::rfc3339(now), unix: now };
        let text = serde_json::to_string(&m)? + "\n";
        runner.write_file(path, &Content::text(text), Perm::Private(0o600))
    }
}

/// The undo record of the last flag edit, stored between `stop` and `up`.
#[derive(Debug, Serialize, Deserialize)]
struct FlagUndo {
    file: Utf8PathBuf,
    undo: Undo,
}

/// An edit of `cluster.stopped` in kilter.yaml, staged (written to a temporary file beside
/// it, with its owner, group and mode) but not yet in place.
#[derive(Debug)]
pub struct StagedFlag {
    write: StagedWrite,
    /// The record of what setting the flag replaced, staged beside `flag-undo.json` too
    /// (`None` when clearing the flag: the record goes).
    undo: Option<StagedWrite>,
    created: bool,
}

impl StagedFlag {
    /// Whether kilter.yaml did not exist and is being created.
    pub fn creates_file(&self) -> bool {
        self.created
    }
}

fn read_project_file(path: &Utf8Path) -> Result<Option<String>> {
    match std::fs::read_to_string(path) {
        Ok(t) => Ok(Some(t)),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
        Err(e) => Err(anyhow::Error::new(e).context(format!("could not read {path}"))),
    }
}

fn read_undo(project: &Project) -> Option<Undo> {
    std::fs::read_to_string(&project.paths.flag_undo)
        .ok()
        .and_then(|t| serde_json::from_str::<FlagUndo>(&t).ok())
        .filter(|u| u.file == project.file_path)
        .map(|u| u.undo)
}

/// Prepare setting (`stop`) or clearing (`up`, `destroy`) `cluster.stopped`: compute the edit
/// and stage the file, so that a kilter.yaml that cannot be edited or written fails *before*
/// the caller changes anything else. Clearing puts back the exact bytes `stop` replaced when
/// the file still holds them. `None`: nothing to change.
pub fn stage_flag(
    runner: &Runner<'_>,
    project: &Project,
    stopped: bool,
) -> Result<Option<StagedFlag>> {
    let path = &project.file_path;
    let text = read_project_file(path)?;
    if text.is_none() && !stopped {
        return Ok(None);
    }
    let created = text.is_none();
    let text = text.unwrap_or_default();
    // The file as loaded (still the same bytes) is not parsed again.
    let loaded = project.file.as_ref().filter(|f| f.path == *path && f.text == text);
    let undo_record = if stopped { None } else { read_undo(project) };
    let (new, undo) = match (stopped, loaded) {
        (true, Some(file)) => {
            let e = config::set_stopped_in(file)?;
            (e.text, Some(e.undo))
        }
        (true, None) => {
            let e = config::set_stopped(path, &text)?;
            (e.text, Some(e.undo))
        }
        (false, Some(file)) => (config::clear_stopped_in(file, undo_record.as_ref())?, None),
        (false, None) => (config::clear_stopped(path, &text, undo_record.as_ref())?, None),
    };
    if new == text {
        return Ok(None);
    }
    let what =
        if stopped { "write `cluster.stopped: true` to" } else { "remove `cluster.stopped` from" };
    let write = runner
        .stage_write(path, &Content::text(new), Perm::Keep)
        .with_context(|| format!("cannot {what} {path}"))?;
    // The undo record is staged as well, so that a cache dir that is full or read-only fails
    // here, before `stop` stops anything, and not after the node is down.
    let undo = match undo {
        Some(undo) => {
            let rec = FlagUndo { file: project.file_path.clone(), undo };
            let text = serde_json::to_string_pretty(&rec)? + "\n";
            let record = &project.paths.flag_undo;
            Some(
                runner
                    .stage_write(record, &Content::text(text), Perm::Private(0o600))
                    .with_context(|| {
                        format!("cannot record in {record} what `cluster.stopped` replaces")
                    })?,
            )
        }
        None => None,
    };
    Ok(Some(StagedFlag { write, undo, created }))
}

/// Put a staged flag edit in place; remember what setting it replaced (or forget it). Both
/// files were written when staged: what is left are two renames (and a removal).
pub fn commit_flag(runner: &Runner<'_>, project: &Project, flag: StagedFlag) -> Result<()> {
    runner.commit(flag.write)?;
    match flag.undo {
        Some(undo) => runner.commit(undo),
        None => runner.remove_file(&project.paths.flag_undo).map(|_| ()),
    }
}

/// Clear `cluster.stopped` now (stage and commit). Returns whether kilter.yaml changed.
pub fn clear_stopped_flag(runner: &Runner<'_>, project: &Project) -> Result<bool> {
    match stage_flag(runner, project, false)? {
        Some(f) => commit_flag(runner, project, f).map(|()| true),
        None => {
            runner.remove_file(&project.paths.flag_undo)?;
            Ok(false)
        }
    }
}

/// Whether a project name still belongs to a directory (`kilter gc`, `kilter stop --all`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Owner {
    /// The directory is there and still resolves to this project name.
    Here(Utf8PathBuf),
    /// The recorded directory no longer exists.
    Gone(Utf8PathBuf),
    /// The directory is there but now holds another project (its kilter.yaml's `name:`, or
    /// its directory name, differs).
    Other { dir: Utf8PathBuf, name: String },
    /// The directory is there but its kilter.yaml cannot be read: kilter cannot tell.
    Unreadable { dir: Utf8PathBuf, error: String },
    /// No directory is recorded for the name.
    Unknown,
    /// Nothing but its snapshots is left: no cluster, no cache dir, no port slot (`kilter gc`
    /// removed them, or they were removed by hand).
    Forgotten,
}

impl Owner {
    /// The project no longer exists anywhere kilter knows of: the directory recorded for it is
    /// gone (not merely its kilter.yaml), or nothing but its snapshots is left. A directory that
    /// is still there keeps its claim even when it now resolves to another name: its kilter.yaml
    /// may be missing for a moment (a `git checkout`, an editor's save), so only the user, by
    /// naming the project (`kilter gc NAME`), gives such a claim up.
    pub fn vanished(&self) -> bool {
        matches!(self, Owner::Gone(_) | Owner::Forgotten)
    }

    /// Why the project counts as vanished (or what is known about its owner).
    pub fn describe(&self) -> String {
        match self {
            Owner::Here(d) => format!("owned by {d}"),
            Owner::Gone(d) => format!("its directory {d} is gone"),
            Owner::Other { dir, name } => format!(
                "its directory {dir} is still there but now resolves to project `{name}` (its kilter.yaml changed or is missing)"
            ),
            Owner::Unreadable { dir, error } => {
                format!("the kilter.yaml of {dir} cannot be read ({error})")
            }
            Owner::Unknown => "no project directory is recorded for it".to_owned(),
            Owner::Forgotten => {
                "nothing else of the project is left (no cluster, cache dir or port slot)"
                    .to_owned()
            }
        }
    }
}

/// Who owns project name `name`: the directory in its identity record, else `recorded` (the
/// port registry's), resolved the way kilter would resolve it when started there. Prints
/// nothing (another project's notes and warnings are not this command's).
pub fn owner_of(dirs: &Dirs, name: &str, recorded: Option<&Utf8Path>) -> Owner {
    let id = Identity::read(&Paths::new(dirs, name).identity).map(|i| i.dir);
    let Some(dir) = id.or_else(|| recorded.map(Utf8Path::to_owned)) else {
        return Owner::Unknown;
    };
    if !dir.is_dir() {
        return Owner::Gone(dir);
    }
    match Project::resolve(&dir, dirs, &Ui::silent()) {
        Ok(p) if p.name == name => Owner::Here(dir),
        Ok(p) => Owner::Other { dir, name: p.name },
        Err(e) => Owner::Unreadable { dir, error: format!("{e:#}") },
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn dirs(root: &Utf8Path) -> Dirs {
        Dirs {
            home: root.join("home"),
            cache: root.join("cache/kilter"),
            data: root.join("data/kilter"),
            state: root.join("state/kilter"),
        }
    }

    fn record(d: &Dirs, name: &str, dir: &Utf8Path) {
        let paths = Paths::new(d, name);
        std::fs::create_dir_all(&paths.cache).expect("mkdir");
        let id =
            Identity { version: 1, dir: dir.to_owned(), created_at: "t".into(), cluster: None };
        std::fs::write(&paths.identity, serde_json::to_string(&id).expect("json")).expect("w");
    }

    #[test]
    fn owners_from_the_identity_record_else_the_registrys_directory() {
        let tmp = tempfile::tempdir().expect("tmp");
        let root = Utf8Path::from_path(tmp.path()).expect("utf8").canonicalize_utf8().expect("c");
        let d = dirs(&root);
        let shop = root.join("src/shop");
        std::fs::create_dir_all(&shop).expect("mkdir");
        std::fs::write(shop.join("kilter.yaml"), "name: shop\n").expect("w");

        record(&d, "shop", &shop);
        assert_eq!(owner_of(&d, "shop", None), Owner::Here(shop.clone()));
        // the identity record wins over the registry's directory
        assert_eq!(owner_of(&d, "shop", Some(Utf8Path::new("/nope"))), Owner::Here(shop.clone()));

        std::fs::write(shop.join("kilter.yaml"), "name: shop2\n").expect("w");
        let o = owner_of(&d, "shop", None);
        assert_eq!(o, Owner::Other { dir: shop.clone(), name: "shop2".into() });
        assert!(!o.vanished(), "a live directory keeps its claim");
        assert!(o.describe().contains("now resolves to project `shop2`"));
        // kilter.yaml missing for a moment: the directory's name (`shop` here) decides, and a
        // directory named otherwise still keeps its claim.
        let other_named = root.join("src/my-shop");
        std::fs::create_dir_all(&other_named).expect("mkdir");
        record(&d, "shop", &other_named);
        let o = owner_of(&d, "shop", None);
        assert_eq!(o, Owner::Other { dir: other_named.clone(), name: "my-shop".into() });
        assert!(!o.vanished());
        record(&d, "shop", &shop);

        std::fs::write(shop.join("kilter.yaml"), "name: [unclosed\n").expect("w");
        let o = owner_of(&d, "shop", None);
        assert!(matches!(o, Owner::Unreadable { .. }) && !o.vanished(), "{o:?}");

        // no identity record: the registry's directory; without kilter.yaml, the directory name
        let blog = root.join("src/blog");
        std::fs::create_dir_all(&blog).expect("mkdir");
        assert_eq!(owner_of(&d, "blog", Some(&blog)), Owner::Here(blog.clone()));
        let gone = root.join("src/gone");
        assert_eq!(owner_of(&d, "gone", Some(&gone)), Owner::Gone(gone));
        assert_eq!(owner_of(&d, "nothing", None), Owner::Unknown);
        assert!(!Owner::Unknown.vanished() && Owner::Forgotten.vanished());
    }
}
