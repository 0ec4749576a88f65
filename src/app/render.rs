//! The files kilter writes for Tilt from an [`App`]: a dev `Dockerfile`, the app's Deployment and
//! NodePort Service (`app.yaml`) and the `Tiltfile`. Pure: the same inputs give the same bytes.
//!
//! Two layouts: [`Layout::Cache`] (`<cache>/render/`, paths absolute: the build context is the
//! project directory, the Dockerfile and manifests are in the cache) and [`Layout::Eject`]
//! (`kilter eject`: the files in the project, paths relative to it).

use camino::{Utf8Path, Utf8PathBuf};
use serde_json::{Value, json};

use super::App;
use crate::config::DevCommand;
use crate::exec::quote;

/// The Deployment, Service, container and Tilt resource name of the app.
pub const APP_NAME: &str = "app";
/// Where the app lives in its container.
pub const WORKDIR: &str = "/app";
/// The file the restart loop records the dev command's process group in.
const PID_FILE: &str = "/tmp/kilter-dev.pid";
/// Written by the restart step before it ends the dev command: the loop starts it again only
/// then (a command that exits by itself ends the container, so the pod shows the crash).
const RESTART_FILE: &str = "/tmp/kilter-dev.restart";

/// Where the rendered files go, which decides how the Tiltfile names paths.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Layout {
    /// `<cache>/render/` (this directory): absolute paths.
    Cache(Utf8PathBuf),
    /// The project directory itself: paths relative to it.
    Eject,
}

/// The names of the rendered files in each layout.
pub fn file_names(layout: &Layout) -> [&'static str; 3] {
    match layout {
        Layout::Cache(_) => ["Tiltfile", "Dockerfile", "app.yaml"],
        Layout::Eject => ["Tiltfile", "Dockerfile.dev", "app.k8s.yaml"],
    }
}

/// Everything besides the app that the files depend on.
#[derive(Debug, Clone)]
pub struct Input<'a> {
    pub project: &'a str,
    pub namespace: &'a str,
    /// The project directory (absolute): the build context.
    pub dir: &'a Utf8Path,
    /// The app's NodePort: the first port of the project's block.
    pub node_port: u16,
    /// The services' variables as the app reaches them in the cluster (`DATABASE_URL`, …).
    pub service_env: &'a [(String, String)],
    pub layout: Layout,
}

/// One rendered file: its name (relative to the layout's directory) and its text.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct File {
    pub name: String,
    pub text: String,
}

/// The image name in the manifests; Tilt builds it (and rewrites it for the local registry).
pub fn image_name(project: &str) -> String {
    format!("{project}-app")
}

/// The app's URL on this machine.
pub fn app_url(node_port: u16) -> String {
    format!("http://127.0.0.1:{node_port}/")
}

/// Render the three files, in the order of [`file_names`].
pub fn render(app: &App, input: &Input<'_>) -> Vec<File> {
    let [tiltfile, dockerfile, manifest] = file_names(&input.layout);
    vec![
        File { name: tiltfile.to_owned(), text: self::tiltfile(app, input) },
        File { name: dockerfile.to_owned(), text: self::dockerfile(app, input) },
        File { name: manifest.to_owned(), text: manifests(app, input) },
    ]
}

/// The first lines of each file: who wrote it and whose it is.
fn header(layout: &Layout) -> &'static str {
    match layout {
        Layout::Cache(_) => {
            "Rendered by kilter from kilter.yaml and the project's files; kilter rewrites it.\n`kilter eject` writes a copy into the project for you to own."
        }
        Layout::Eject => {
            "Written by `kilter eject` from kilter.yaml and the project's files.\nIt is yours now: kilter runs this Tiltfile and never rewrites it."
        }
    }
}

fn comment(prefix: &str, text: &str) -> String {
    text.lines().map(|l| format!("{prefix} {l}\n")).collect()
}

/// The dev image: the manifests and lockfile first and the install, then the source, so that a
/// source change does not reinstall.
pub fn dockerfile(app: &App, input: &Input<'_>) -> String {
    let mut out = comment("#", header(&input.layout));
    out.push_str(&format!("# The app of project {}: {}.\n", input.project, app.stack));
    out.push_str(&format!("FROM {}\n", app.image.value));
    out.push_str(&format!("WORKDIR {WORKDIR}\n"));
    for line in &app.setup {
        out.push_str(&format!("RUN {line}\n"));
    }
    if !app.manifests.is_empty() {
        let mut words = app.manifests.clone();
        words.push("./".to_owned());
        out.push_str(&format!("COPY {}\n", json_words(&words)));
    }
    if let Some(install) = &app.install {
        out.push_str(&format!("RUN {install}\n"));
    }
    out.push_str("COPY . .\n");
    out.push_str(&format!("EXPOSE {}\n", app.port.value));
    out.push_str(&format!("CMD {}\n", json_words(&command(app))));
    out
}

/// A Dockerfile JSON array (`["a", "b"]`): no shell reads it, so every byte stands as it is.
fn json_words(words: &[String]) -> String {
    format!("[{}]", words.iter().map(|w| star(w)).collect::<Vec<_>>().join(", "))
}

/// The container's command: the dev command, or (when it does not reload by itself) a loop that
/// runs it in a process group of its own and starts it again when live update's restart step
/// ends that group. A dev command that exits by itself ends the container with its exit code.
fn command(app: &App) -> Vec<String> {
    let line = match &app.dev.value {
        DevCommand::Shell(s) => s.clone(),
        DevCommand::Argv(argv) if !app.restart => return argv.clone(),
        DevCommand::Argv(argv) => argv.iter().map(|w| quote(w)).collect::<Vec<_>>().join(" "),
    };
    if !app.restart {
        return vec!["sh".into(), "-c".into(), line];
    }
    let script = format!(
        "trap 'kill -TERM -\"$(cat {PID_FILE})\" 2>/dev/null; exit 0' TERM INT; while :; do rm -f {RESTART_FILE}; setsid sh -c {} & echo $! > {PID_FILE}; wait $!; code=$?; [ -e {RESTART_FILE} ] || exit $code; done",
        quote(&line)
    );
    vec!["sh".into(), "-c".into(), script]
}

/// The live-update step that ends the dev command's process group (the loop starts it again).
pub fn restart_step() -> String {
    format!("touch {RESTART_FILE} && kill -TERM -\"$(cat {PID_FILE})\" 2>/dev/null || true")
}

/// The container's environment: `PORT` and `HOST`, the services' in-cluster variables, then
/// kilter.yaml's `env:` (which wins over any of them).
pub fn env(app: &App, input: &Input<'_>) -> Vec<(String, String)> {
    let mut vars: Vec<(String, String)> = vec![
        ("PORT".to_owned(), app.port.value.to_string()),
        ("HOST".to_owned(), "0.0.0.0".to_owned()),
    ];
    vars.extend(input.service_env.iter().cloned());
    vars.extend(app.env.iter().cloned());
    // The last value of each name wins, in the position of its first mention.
    let mut out: Vec<(String, String)> = Vec::with_capacity(vars.len());
    for (name, value) in vars {
        match out.iter_mut().find(|(n, _)| *n == name) {
            Some(slot) => slot.1 = value,
            None => out.push((name, value)),
        }
    }
    out
}

/// The Deployment and the NodePort Service, as one YAML stream.
pub fn manifests(app: &App, input: &Input<'_>) -> String {
    let labels = json!({
        "app.kubernetes.io/name": APP_NAME,
        "app.kubernetes.io/part-of": input.project,
    });
    let env: Vec<Value> = env(app, input)
        .into_iter()
        .map(|(name, value)| json!({"name": name, "value": value}))
        .collect();
    let mut container = json!({
        "name": APP_NAME,
        "image": image_name(input.project),
        "workingDir": WORKDIR,
        "ports": [{"name": "http", "containerPort": app.port.value}],
        "env": env,
    });
    if let Some(health) = &app.health {
        container["readinessProbe"] = json!({
            "httpGet": {"path": health.value, "port": "http"},
            "periodSeconds": 2,
            "failureThreshold": 3,
        });
    }
    let deployment = json!({
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": {"name": APP_NAME, "namespace": input.namespace, "labels": labels},
        "spec": {
            "replicas": 1,
            "selector": {"matchLabels": labels},
            "template": {
                "metadata": {"labels": labels},
                "spec": {"containers": [container]},
            },
        },
    });
    let service = json!({
        "apiVersion": "v1",
        "kind": "Service",
        "metadata": {"name": APP_NAME, "namespace": input.namespace, "labels": labels},
        "spec": {
            "type": "NodePort",
            "selector": labels,
            "ports": [{
                "name": "http",
                "port": app.port.value,
                "targetPort": "http",
                "nodePort": input.node_port,
            }],
        },
    });
    let mut out = comment("#", header(&input.layout));
    out.push_str(&crate::services::to_yaml(&deployment));
    out.push_str("---\n");
    out.push_str(&crate::services::to_yaml(&service));
    out
}

/// A Starlark string literal.
fn star(s: &str) -> String {
    // JSON's escapes are Starlark's for `"`, `\` and control characters; other characters
    // (unicode included) stand as they are in the UTF-8 source.
    serde_json::to_string(s).unwrap_or_else(|_| "\"\"".to_owned())
}

fn star_list(items: &[String]) -> String {
    format!("[{}]", items.iter().map(|i| star(i)).collect::<Vec<_>>().join(", "))
}

/// How the Tiltfile names a project path (`rel` is project-relative; `.` is the project).
fn project_path(input: &Input<'_>, rel: &str) -> String {
    match input.layout {
        Layout::Cache(_) if rel == "." => input.dir.to_string(),
        Layout::Cache(_) => input.dir.join(rel).to_string(),
        Layout::Eject => rel.to_owned(),
    }
}

/// How the Tiltfile names one of the rendered files.
fn rendered_path(input: &Input<'_>, name: &str) -> String {
    match &input.layout {
        Layout::Cache(dir) => dir.join(name).to_string(),
        Layout::Eject => name.to_owned(),
    }
}

/// What live update syncs: each `sync` path to the same place under `/app`.
pub fn syncs(app: &App) -> Vec<(String, String)> {
    app.sync
        .value
        .iter()
        .map(|p| {
            let rel = p.trim_start_matches("./").trim_end_matches('/');
            let remote = if rel.is_empty() || rel == "." {
                WORKDIR.to_owned()
            } else {
                format!("{WORKDIR}/{rel}")
            };
            (if rel.is_empty() { ".".to_owned() } else { rel.to_owned() }, remote)
        })
        .collect()
}

/// Whether live update syncs the project-relative file `path`.
fn synced(app: &App, path: &str) -> bool {
    syncs(app).iter().any(|(local, _)| {
        local == "."
            || path == local
            || path.strip_prefix(local.as_str()).is_some_and(|r| r.starts_with('/'))
    })
}

/// The Tiltfile: the image with live update, the manifests, and the app's resource with its link.
pub fn tiltfile(app: &App, input: &Input<'_>) -> String {
    let [_, dockerfile, manifest] = file_names(&input.layout);
    let mut out = comment("#", header(&input.layout));
    out.push_str(&format!("# The app of project {}: {}.\n\n", input.project, app.stack));
    out.push_str("docker_build(\n");
    out.push_str(&format!("    {},\n", star(&image_name(input.project))));
    out.push_str(&format!("    context={},\n", star(&project_path(input, "."))));
    out.push_str(&format!("    dockerfile={},\n", star(&rendered_path(input, dockerfile))));
    if !app.ignore.is_empty() {
        out.push_str(&format!("    ignore={},\n", star_list(&app.ignore)));
    }
    out.push_str("    live_update=[\n");
    for (local, remote) in syncs(app) {
        out.push_str(&format!(
            "        sync({}, {}),\n",
            star(&project_path(input, &local)),
            star(&remote)
        ));
    }
    // A manifest no sync covers is a change Tilt answers with a full rebuild (which installs).
    let synced: Vec<&String> = app.manifests.iter().filter(|m| synced(app, m)).collect();
    if let Some(install) = &app.install
        && !synced.is_empty()
    {
        let triggers: Vec<String> = synced.iter().map(|m| project_path(input, m)).collect();
        out.push_str(&format!(
            "        run({}, trigger={}),\n",
            star(&format!("cd {WORKDIR} && {install}")),
            star_list(&triggers)
        ));
    }
    if app.restart {
        out.push_str(&format!("        run({}),\n", star(&restart_step())));
    }
    out.push_str("    ],\n)\n\n");
    out.push_str(&format!("k8s_yaml({})\n\n", star(&rendered_path(input, manifest))));
    out.push_str(&format!(
        "k8s_resource(\n    {},\n    links=[link({}, {})],\n    labels=[\"app\"],\n)\n",
        star(APP_NAME),
        star(&app_url(input.node_port)),
        star(APP_NAME)
    ));
    out
}
