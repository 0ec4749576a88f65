//! What kind of app a directory holds, read from its files alone (docs/commands.md, "Detection").
//!
//! Pure: [`detect`] takes a function that reads a project-relative file (and says whether it
//! exists), so the rules are tested without a file system and the fixtures under
//! `fixtures/apps/` only add real directories. Nothing here runs a command.
//!
//! - Node: `package.json`. The package manager comes from the lockfile (`pnpm-lock.yaml`,
//!   `yarn.lock`, `bun.lock`/`bun.lockb`, `package-lock.json`; none: the `packageManager`
//!   field, else npm). The command is the `dev` script (`<pm> run dev`), else `start`, else
//!   `node <main | server.js | index.js>`. The port is the script's `--port N`/`--port=N`/`-p N`,
//!   else the framework's default (Next.js 3000, Vite 5173, Nuxt 3000, Astro 4321, Remix 3000,
//!   plain 3000).
//! - Python: `pyproject.toml` or `requirements.txt` (or `manage.py`). Django (`manage.py`)
//!   `runserver` 8000, FastAPI/uvicorn 8000, Flask 5000, else `python main.py` 8000.
//! - Go: `go.mod`: `go run .`, port 8080 (the app reads `PORT`).

use std::fmt;

/// A guess and why it was made (shown by `up -v`, `status` and `render`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Guess<T> {
    pub value: T,
    pub why: String,
}

fn guess<T>(value: T, why: impl Into<String>) -> Guess<T> {
    Guess { value, why: why.into() }
}

/// The language of the app.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Stack {
    Node,
    Python,
    Go,
}

impl fmt::Display for Stack {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Stack::Node => "Node",
            Stack::Python => "Python",
            Stack::Go => "Go",
        })
    }
}

/// A Node package manager.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Pm {
    Npm,
    Pnpm,
    Yarn,
    Bun,
}

impl Pm {
    pub fn as_str(self) -> &'static str {
        match self {
            Pm::Npm => "npm",
            Pm::Pnpm => "pnpm",
            Pm::Yarn => "yarn",
            Pm::Bun => "bun",
        }
    }
}

/// What was found: everything kilter needs to build and run the app in dev.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Detected {
    pub stack: Stack,
    /// The framework or server, e.g. `Next.js`, `Vite`, `FastAPI`, `plain`.
    pub framework: String,
    /// The dev container's base image.
    pub image: Guess<String>,
    /// The command line that starts the app (run by `sh -c` in the container).
    pub dev: Guess<String>,
    pub port: Guess<u16>,
    /// The dependency manifests and lockfiles that exist, copied before the source.
    pub manifests: Vec<String>,
    /// The install command run after the manifests are copied (and again by live update when
    /// one of them changes); `None`: nothing to install.
    pub install: Option<String>,
    /// Lines run once in the image before the install (e.g. `corepack enable`).
    pub setup: Vec<String>,
    /// Whether the dev command reloads changed source itself; otherwise kilter restarts it
    /// after each sync.
    pub reloads: bool,
    /// Paths never copied or synced (dependency and build directories).
    pub ignore: Vec<String>,
    /// Things the user should know (a missing lockfile, a guessed entry point).
    pub notes: Vec<String>,
}

/// A file of the project that could not be read as what it must be (exit 4).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Problem {
    /// The project-relative file, with `:line:column` when known.
    pub at: String,
    pub message: String,
    pub hint: String,
}

/// Reads a project-relative file: `None` when it does not exist (or is not a file).
pub trait Files {
    fn read(&self, path: &str) -> Option<Vec<u8>>;
    fn exists(&self, path: &str) -> bool {
        self.read(path).is_some()
    }
}

/// The directory's app, `Ok(None)` when no stack is recognised.
pub fn detect(files: &dyn Files) -> Result<Option<Detected>, Problem> {
    if let Some(bytes) = files.read("package.json") {
        return node(files, &bytes).map(Some);
    }
    if ["pyproject.toml", "requirements.txt", "manage.py"].iter().any(|f| files.exists(f)) {
        return Ok(Some(python(files)));
    }
    if files.exists("go.mod") {
        return Ok(Some(go(files)));
    }
    Ok(None)
}

// ---------------------------------------------------------------------------------------
// Node
// ---------------------------------------------------------------------------------------

/// Lockfiles in order of precedence: the package manager they mean.
const LOCKFILES: &[(&str, Pm)] = &[
    ("pnpm-lock.yaml", Pm::Pnpm),
    ("yarn.lock", Pm::Yarn),
    ("bun.lock", Pm::Bun),
    ("bun.lockb", Pm::Bun),
    ("package-lock.json", Pm::Npm),
    ("npm-shrinkwrap.json", Pm::Npm),
];

/// Frameworks by dependency, most specific first (Nuxt, Astro and Remix use Vite).
const FRAMEWORKS: &[(&str, &str, u16, &str)] = &[
    // dependency, name, default port, the flags that make it listen on every interface
    ("next", "Next.js", 3000, "--hostname 0.0.0.0"),
    ("nuxt", "Nuxt", 3000, "--host 0.0.0.0"),
    ("astro", "Astro", 4321, "--host 0.0.0.0"),
    ("@remix-run/dev", "Remix", 3000, "--host 0.0.0.0"),
    ("vite", "Vite", 5173, "--host 0.0.0.0"),
];

fn node(files: &dyn Files, bytes: &[u8]) -> Result<Detected, Problem> {
    let pkg: serde_json::Value = serde_json::from_slice(bytes).map_err(|e| Problem {
        at: format!("package.json:{}:{}", e.line(), e.column()),
        message: format!("package.json is not valid JSON: {e}"),
        hint: "fix package.json (kilter reads its `scripts` and dependencies), or declare the app in kilter.yaml (`dev:`, `port:`)".to_owned(),
    })?;
    let Some(pkg) = pkg.as_object() else {
        return Err(Problem {
            at: "package.json:1:1".to_owned(),
            message: "package.json is not a JSON object".to_owned(),
            hint:
                "a package.json is an object such as {\"scripts\": {\"dev\": \"node server.js\"}}"
                    .to_owned(),
        });
    };
    let mut notes = Vec::new();
    let lock = LOCKFILES.iter().find(|(f, _)| files.exists(f));
    let pm = match lock {
        Some((file, pm)) => guess(*pm, (*file).to_owned()),
        None => match pkg.get("packageManager").and_then(|v| v.as_str()) {
            Some(field) => {
                let name = field.split('@').next().unwrap_or_default();
                match [Pm::Pnpm, Pm::Yarn, Pm::Bun, Pm::Npm]
                    .into_iter()
                    .find(|p| p.as_str() == name)
                {
                    Some(pm) => guess(pm, format!("packageManager {field:?} in package.json")),
                    None => guess(Pm::Npm, "no lockfile"),
                }
            }
            None => guess(Pm::Npm, "no lockfile"),
        },
    };
    let scripts = pkg.get("scripts").and_then(|s| s.as_object());
    let script = |name: &str| scripts.and_then(|s| s.get(name)).and_then(|v| v.as_str());
    let deps: Vec<&str> = ["dependencies", "devDependencies"]
        .iter()
        .filter_map(|k| pkg.get(*k).and_then(|d| d.as_object()))
        .flat_map(|d| d.keys().map(String::as_str))
        .collect();
    let framework = FRAMEWORKS.iter().find(|(dep, ..)| deps.contains(dep));
    let run = |name: &str| match pm.value {
        Pm::Npm => format!("npm run {name}"),
        p => format!("{} run {name}", p.as_str()),
    };
    // The command, and the script text the port is read from.
    let (dev, text) = if let Some(text) = script("dev") {
        (guess(run("dev"), format!("the `dev` script of package.json ({text})")), text)
    } else if let Some(text) = script("start") {
        (guess(run("start"), format!("the `start` script of package.json ({text})")), text)
    } else {
        let main = pkg.get("main").and_then(|m| m.as_str()).filter(|m| files.exists(m));
        let entry =
            main.or_else(|| ["server.js", "index.js"].into_iter().find(|f| files.exists(f)));
        match entry {
            Some(file) => {
                notes.push(format!(
                    "package.json has no `dev` script: kilter runs `node {file}` (add a `dev` script or `dev:` in kilter.yaml to change it)"
                ));
                (guess(format!("node {file}"), format!("no `dev` script; {file} exists")), "")
            }
            None => {
                return Err(Problem {
                    at: "package.json".to_owned(),
                    message: "package.json has no `dev` or `start` script, and there is no server.js or index.js: kilter cannot tell how to start the app".to_owned(),
                    hint: "add a `dev` script to package.json, or `dev:` (and `port:`) to kilter.yaml".to_owned(),
                });
            }
        }
    };
    let (name, default_port, host_flags) = match framework {
        Some((_, name, port, flags)) => (*name, *port, *flags),
        None => ("plain", 3000, ""),
    };
    let port = match port_flag(text) {
        Some((p, shown)) => guess(p, format!("`{shown}` in the script")),
        None => guess(default_port, format!("{name} default")),
    };
    // Dev servers listen on localhost unless told otherwise; in a pod that is unreachable.
    let dev = if host_flags.is_empty() || !dev.value.contains(" run ") {
        dev
    } else {
        let sep = if pm.value == Pm::Npm { " -- " } else { " " };
        Guess { value: format!("{}{sep}{host_flags}", dev.value), why: dev.why }
    };
    let mut manifests = vec!["package.json".to_owned()];
    let install = match lock {
        Some((file, p)) => {
            manifests.push((*file).to_owned());
            match p {
                Pm::Npm => "npm ci",
                Pm::Pnpm => "pnpm install --frozen-lockfile",
                Pm::Yarn => "yarn install --frozen-lockfile",
                Pm::Bun => "bun install --frozen-lockfile",
            }
        }
        None => {
            notes.push(format!(
                "no lockfile next to package.json: the image runs `{} install` (commit a lockfile for repeatable installs)",
                pm.value.as_str()
            ));
            match pm.value {
                Pm::Npm => "npm install",
                Pm::Pnpm => "pnpm install",
                Pm::Yarn => "yarn install",
                Pm::Bun => "bun install",
            }
        }
    };
    let (image, setup) = match pm.value {
        Pm::Bun => (guess("oven/bun:1-alpine".to_owned(), "bun"), vec![]),
        Pm::Pnpm | Pm::Yarn => {
            (guess("node:22-alpine".to_owned(), "Node"), vec!["corepack enable".to_owned()])
        }
        Pm::Npm => (guess("node:22-alpine".to_owned(), "Node"), vec![]),
    };
    Ok(Detected {
        stack: Stack::Node,
        framework: format!("{name}, {} ({})", pm.value.as_str(), pm.why),
        image,
        dev,
        port,
        manifests,
        install: Some(install.to_owned()),
        setup,
        reloads: framework.is_some(),
        ignore: vec![
            "node_modules".to_owned(),
            ".git".to_owned(),
            ".next".to_owned(),
            "dist".to_owned(),
        ],
        notes,
    })
}

/// `--port N`, `--port=N` or `-p N` in a script: the port and how it was written.
pub fn port_flag(script: &str) -> Option<(u16, String)> {
    let words: Vec<&str> = script.split_whitespace().collect();
    for (i, word) in words.iter().enumerate() {
        let next = words.get(i + 1).copied();
        let (value, shown) = match *word {
            "--port" | "-p" => (next, format!("{word} {}", next.unwrap_or_default())),
            w => match w.strip_prefix("--port=") {
                Some(v) => (Some(v), w.to_owned()),
                None => continue,
            },
        };
        if let Some(port) = value.and_then(|v| v.parse::<u16>().ok()).filter(|p| *p > 0) {
            return Some((port, shown));
        }
    }
    None
}

// ---------------------------------------------------------------------------------------
// Python
// ---------------------------------------------------------------------------------------

fn python(files: &dyn Files) -> Detected {
    let text = |f: &str| files.read(f).map(|b| String::from_utf8_lossy(&b).to_lowercase());
    let pyproject = text("pyproject.toml");
    let requirements = text("requirements.txt");
    let all = format!(
        "{}\n{}",
        pyproject.clone().unwrap_or_default(),
        requirements.clone().unwrap_or_default()
    );
    let has = |name: &str| {
        all.split(|c: char| !(c.is_ascii_alphanumeric() || c == '-' || c == '_'))
            .any(|word| word == name)
    };
    let module = ["main.py", "app.py", "app/main.py", "src/main.py"]
        .into_iter()
        .find(|f| files.exists(f))
        .unwrap_or("main.py");
    let dotted = module.trim_end_matches(".py").replace('/', ".");
    let mut notes = Vec::new();
    let (framework, dev, port, reloads) = if files.exists("manage.py") {
        (
            "Django",
            guess("python manage.py runserver 0.0.0.0:8000".to_owned(), "manage.py"),
            8000,
            true,
        )
    } else if has("fastapi") || has("uvicorn") {
        let dep = if has("fastapi") { "fastapi" } else { "uvicorn" };
        (
            "FastAPI",
            guess(
                format!("uvicorn {dotted}:app --reload --host 0.0.0.0 --port 8000"),
                format!("{dep} in the dependencies; the app object `app` in {module}"),
            ),
            8000,
            true,
        )
    } else if has("flask") {
        (
            "Flask",
            guess(
                format!("flask --app {dotted} run --debug --host 0.0.0.0 --port 5000"),
                format!("flask in the dependencies; the app in {module}"),
            ),
            5000,
            true,
        )
    } else {
        notes.push(format!(
            "no Django, FastAPI or Flask found: kilter runs `python {module}` and restarts it after each sync"
        ));
        ("plain", guess(format!("python {module}"), "no web framework found"), 8000, false)
    };
    let port = guess(port, format!("{framework} default"));
    let mut manifests = Vec::new();
    let install = if requirements.is_some() {
        manifests.push("requirements.txt".to_owned());
        Some("pip install --no-cache-dir -r requirements.txt".to_owned())
    } else if pyproject.is_some() {
        manifests.push("pyproject.toml".to_owned());
        // The dependencies alone, without the project's own source (which is not copied yet).
        Some("python -c \"import tomllib; print('\\n'.join(tomllib.load(open('pyproject.toml', 'rb')).get('project', {}).get('dependencies', [])))\" > /tmp/requirements.txt && pip install --no-cache-dir -r /tmp/requirements.txt".to_owned())
    } else {
        None
    };
    Detected {
        stack: Stack::Python,
        framework: framework.to_owned(),
        image: guess("python:3.12-slim".to_owned(), "Python"),
        dev,
        port,
        manifests,
        install,
        setup: vec![],
        reloads,
        ignore: vec![".venv".to_owned(), "__pycache__".to_owned(), ".git".to_owned()],
        notes,
    }
}

// ---------------------------------------------------------------------------------------
// Go
// ---------------------------------------------------------------------------------------

fn go(files: &dyn Files) -> Detected {
    let mut manifests = vec!["go.mod".to_owned()];
    if files.exists("go.sum") {
        manifests.push("go.sum".to_owned());
    }
    Detected {
        stack: Stack::Go,
        framework: "plain".to_owned(),
        image: guess("golang:1.23-alpine".to_owned(), "Go"),
        dev: guess("go run .".to_owned(), "go.mod"),
        port: guess(8080, "Go default (the app reads PORT)"),
        manifests,
        install: Some("go mod download".to_owned()),
        setup: vec![],
        reloads: false,
        ignore: vec![".git".to_owned(), "vendor".to_owned()],
        notes: vec![],
    }
}
