use std::collections::BTreeMap;

use camino::{Utf8Path, Utf8PathBuf};

use super::detect::{Pm, Stack, detect, port_flag};
use super::render::{Input, Layout, render};
use super::*;
use crate::config::{self, DevCommand};

/// Files in memory.
struct Mem(BTreeMap<&'static str, &'static str>);

impl Files for Mem {
    fn read(&self, path: &str) -> Option<Vec<u8>> {
        self.0.get(path).map(|t| t.as_bytes().to_vec())
    }
}

fn mem(files: &[(&'static str, &'static str)]) -> Mem {
    Mem(files.iter().copied().collect())
}

#[track_caller]
fn found(files: &Mem) -> Detected {
    detect(files).expect("no problem").expect("an app")
}

/// fixture, stack, framework, dev command, port, manifests, install (its start)
type Case =
    (&'static str, Stack, &'static str, &'static str, u16, &'static [&'static str], &'static str);

fn fixtures() -> Utf8PathBuf {
    Utf8PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("fixtures/apps")
}

fn fixture(name: &str) -> Option<Detected> {
    let dir = fixtures().join(name);
    assert!(dir.is_dir(), "{dir}");
    detect(&DirFiles(&dir)).unwrap_or_else(|p| panic!("{name}: {p:?}"))
}

/// The app of a fixture directory, with its kilter.yaml if it has one.
fn app_of(name: &str) -> App {
    let dir = fixtures().join(name);
    let yaml = dir.join("kilter.yaml");
    let declared = if yaml.is_file() {
        config::load(&yaml).expect("fixture kilter.yaml parses").config.app
    } else {
        config::AppSection::default()
    };
    resolve(&declared, &dir, &DirFiles(&dir)).expect("resolves").expect("an app")
}

#[test]
fn port_flags_in_scripts() {
    let cases: &[(&str, Option<u16>)] = &[
        ("vite --port 4000", Some(4000)),
        ("next dev -p 3001", Some(3001)),
        ("astro dev --port=4400 --host", Some(4400)),
        ("node server.js", None),
        ("vite --port", None),
        ("vite --port abc", None),
        ("vite --port 70000", None),
        ("vite --port 0", None),
        ("serve -p 8081 --port 9000", Some(8081)),
        ("cross-env NODE_ENV=dev vite --strictPort --port 5000", Some(5000)),
    ];
    for (script, want) in cases {
        assert_eq!(port_flag(script).map(|p| p.0), *want, "{script:?}");
    }
    assert_eq!(port_flag("vite --port=4400").map(|p| p.1), Some("--port=4400".to_owned()));
}

#[test]
fn each_fixture_is_detected_as_its_stack() {
    let cases: &[Case] = &[
        (
            "node-plain",
            Stack::Node,
            "plain, npm (no lockfile)",
            "npm run dev",
            3000,
            &["package.json"],
            "npm install",
        ),
        (
            "node-next-pnpm",
            Stack::Node,
            "Next.js, pnpm (pnpm-lock.yaml)",
            "pnpm run dev --hostname 0.0.0.0",
            3000,
            &["package.json", "pnpm-lock.yaml"],
            "pnpm install --frozen-lockfile",
        ),
        (
            "node-vite-yarn",
            Stack::Node,
            "Vite, yarn (yarn.lock)",
            "yarn run dev --host 0.0.0.0",
            4000,
            &["package.json", "yarn.lock"],
            "yarn install --frozen-lockfile",
        ),
        (
            "node-astro-bun",
            Stack::Node,
            "Astro, bun (bun.lock)",
            "bun run dev --host 0.0.0.0",
            4321,
            &["package.json", "bun.lock"],
            "bun install --frozen-lockfile",
        ),
        (
            "node-nuxt-npm",
            Stack::Node,
            "Nuxt, npm (package-lock.json)",
            "npm run dev -- --host 0.0.0.0",
            3000,
            &["package.json", "package-lock.json"],
            "npm ci",
        ),
        (
            "node-remix-npm",
            Stack::Node,
            "Remix, npm (package-lock.json)",
            "npm run dev -- --host 0.0.0.0",
            3001,
            &["package.json", "package-lock.json"],
            "npm ci",
        ),
        (
            "monorepo/apps/web",
            Stack::Node,
            "Vite, npm (no lockfile)",
            "npm run dev -- --host 0.0.0.0",
            5173,
            &["package.json"],
            "npm install",
        ),
        (
            "python-fastapi",
            Stack::Python,
            "FastAPI",
            "uvicorn main:app --reload --host 0.0.0.0 --port 8000",
            8000,
            &["requirements.txt"],
            "pip install --no-cache-dir -r requirements.txt",
        ),
        (
            "python-flask",
            Stack::Python,
            "Flask",
            "flask --app app run --debug --host 0.0.0.0 --port 5000",
            5000,
            &["pyproject.toml"],
            "python -c",
        ),
        (
            "python-django",
            Stack::Python,
            "Django",
            "python manage.py runserver 0.0.0.0:8000",
            8000,
            &["requirements.txt"],
            "pip install",
        ),
        ("go", Stack::Go, "plain", "go run .", 8080, &["go.mod"], "go mod download"),
    ];
    for (name, stack, framework, dev, port, manifests, install) in cases {
        let d = fixture(name).unwrap_or_else(|| panic!("{name}: nothing detected"));
        assert_eq!(d.stack, *stack, "{name}");
        assert_eq!(d.framework, *framework, "{name}");
        assert_eq!(d.dev.value, *dev, "{name}");
        assert_eq!(d.port.value, *port, "{name}: {}", d.port.why);
        assert_eq!(d.manifests, *manifests, "{name}");
        let got = d.install.clone().unwrap_or_default();
        assert!(got.starts_with(install), "{name}: {got}");
    }
    // Frameworks that reload by themselves are not restarted after a sync; the rest are.
    assert!(fixture("node-next-pnpm").expect("next").reloads);
    assert!(!fixture("node-plain").expect("plain").reloads);
    assert!(!fixture("go").expect("go").reloads);
    // Guesses say why.
    assert_eq!(fixture("node-vite-yarn").expect("vite").port.why, "`--port 4000` in the script");
    assert_eq!(fixture("node-nuxt-npm").expect("nuxt").port.why, "Nuxt default");
    assert_eq!(fixture("empty"), None);
    assert_eq!(fixture("declared"), None);
}

#[test]
fn node_rules_without_a_file_system() {
    // The lockfile decides the package manager, in a fixed precedence.
    let both = mem(&[
        ("package.json", r#"{"scripts": {"dev": "vite"}, "devDependencies": {"vite": "5"}}"#),
        ("yarn.lock", ""),
        ("package-lock.json", "{}"),
    ]);
    assert_eq!(found(&both).framework, "Vite, yarn (yarn.lock)");
    // No lockfile: `packageManager`, then npm.
    let field =
        mem(&[("package.json", r#"{"packageManager": "pnpm@9.1.0", "scripts": {"dev": "x"}}"#)]);
    let d = found(&field);
    assert_eq!(d.dev.value, "pnpm run dev");
    assert_eq!(d.install.as_deref(), Some("pnpm install"));
    assert_eq!(d.setup, ["corepack enable"]);
    assert!(d.notes.iter().any(|n| n.contains("no lockfile")), "{:?}", d.notes);
    // `bun.lockb` is bun's binary lockfile; the image is bun's.
    let bun = mem(&[
        ("package.json", r#"{"scripts": {"dev": "bun run server.ts"}}"#),
        ("bun.lockb", "\0"),
    ]);
    let d = found(&bun);
    assert_eq!(d.image.value, "oven/bun:1-alpine");
    assert_eq!(d.dev.value, "bun run dev");
    // No `dev`: `start`; neither: `main`, server.js, index.js.
    let start = mem(&[("package.json", r#"{"scripts": {"start": "node app.js -p 8088"}}"#)]);
    let d = found(&start);
    assert_eq!((d.dev.value.as_str(), d.port.value), ("npm run start", 8088));
    let main = mem(&[("package.json", r#"{"main": "src/app.js"}"#), ("src/app.js", "")]);
    assert_eq!(found(&main).dev.value, "node src/app.js");
    // `main` outside the project is not followed.
    let tmp = tempfile::tempdir().expect("tmp");
    let root = Utf8Path::from_path(tmp.path()).expect("utf8");
    std::fs::create_dir(root.join("p")).expect("mkdir");
    std::fs::write(root.join("p/package.json"), r#"{"main": "../outside.js"}"#).expect("write");
    std::fs::write(root.join("outside.js"), "").expect("write");
    let p = detect(&DirFiles(&root.join("p"))).expect_err("no entry point inside");
    assert!(p.message.contains("no `dev` or `start` script"), "{p:?}");
    let server = mem(&[("package.json", "{}"), ("server.js", "")]);
    assert_eq!(found(&server).dev.value, "node server.js");
    let nothing = mem(&[("package.json", r#"{"name": "lib"}"#)]);
    let p = detect(&nothing).expect_err("no command");
    assert!(p.message.contains("no `dev` or `start` script"), "{p:?}");
    // Not JSON, not an object: a problem with its position, never a panic.
    for (text, at) in [
        ("{\n  \"scripts\": {\"dev\": \"x\",}\n}\n", "package.json:2:26"),
        ("", "package.json:1:0"),
        ("[1, 2]", "package.json:1:1"),
        ("\u{feff}{}", "package.json:1:1"),
        ("{\"scripts\": 3}", ""),
    ] {
        match detect(&mem(&[("package.json", text), ("server.js", "")])) {
            Err(p) => assert_eq!(p.at, at, "{text:?}: {p:?}"),
            Ok(d) => assert!(at.is_empty(), "{text:?}: {d:?}"),
        }
    }
}

#[test]
fn python_and_go_rules_without_a_file_system() {
    let uvicorn = mem(&[
        ("pyproject.toml", "[project]\ndependencies = [\"uvicorn>=0.30\"]\n"),
        ("app/main.py", ""),
    ]);
    let d = found(&uvicorn);
    assert_eq!(d.dev.value, "uvicorn app.main:app --reload --host 0.0.0.0 --port 8000");
    // A word inside another name is not a dependency.
    let not_flask =
        mem(&[("requirements.txt", "flask-like-thing-not\nflasked==1\n"), ("main.py", "")]);
    let d = found(&not_flask);
    assert_eq!((d.framework.as_str(), d.port.value, d.reloads), ("plain", 8000, false));
    let go = mem(&[("go.mod", "module x\n"), ("go.sum", "")]);
    assert_eq!(found(&go).manifests, ["go.mod", "go.sum"]);
    // Node wins over Python when both are there (a JS front end with Python tooling).
    let both = mem(&[("package.json", r#"{"scripts": {"dev": "x"}}"#), ("requirements.txt", "")]);
    assert_eq!(found(&both).stack, Stack::Node);
    let _ = Pm::Npm;
}

#[test]
fn declared_fields_win_over_detection_and_say_where_they_are() {
    let app = app_of("node-health");
    assert_eq!(app.health.as_ref().map(|h| h.value.as_str()), Some("/healthz"));
    assert_eq!(
        app.health.as_ref().map(|h| h.origin.to_string()),
        Some("kilter.yaml:2:9".to_owned())
    );
    assert_eq!(app.env, [("GREETING".to_owned(), "hi".to_owned())]);
    assert_eq!(app.port.origin, Origin::Detected("plain default".to_owned()));
    let declared = app_of("declared");
    assert_eq!(declared.stack, "declared in kilter.yaml");
    assert_eq!(declared.image.value, "ruby:3.3-alpine");
    assert_eq!(declared.port.value, 9292);
    assert!(matches!(&declared.dev.value, DevCommand::Argv(a) if a[0] == "bundle"));
    assert_eq!(declared.sync.value, ["app", "config.ru"]);
    assert!(declared.restart, "an undetected command is restarted after a sync");
    let lines = declared.describe().join("\n");
    assert!(
        lines.contains("dev       bundle exec rackup --host 0.0.0.0 --port 9292 (kilter.yaml:3:6)"),
        "{lines}"
    );
    // Nothing declared and nothing found: no app.
    let empty = fixtures().join("empty");
    assert_eq!(
        resolve(&config::AppSection::default(), &empty, &DirFiles(&empty)).expect("resolves"),
        None
    );
}

#[test]
fn a_broken_package_json_is_exit_4_unless_dev_is_declared() {
    let dir = fixtures().join("node-bad-json");
    let err = resolve(&config::AppSection::default(), &dir, &DirFiles(&dir)).expect_err("an error");
    assert_eq!(err.code, crate::error::Code::Invalid);
    let text = err.to_string();
    assert!(
        text.contains("node-bad-json/package.json:3:39: package.json is not valid JSON"),
        "{text}"
    );
    let (cfg, _) =
        config::parse(Utf8Path::new("kilter.yaml"), "dev: node server.js\n").expect("parses");
    let app = resolve(&cfg.app, &dir, &DirFiles(&dir)).expect("resolves").expect("declared");
    assert!(app.notes.iter().any(|n| n.contains("not valid JSON")), "{:?}", app.notes);
    // Fields without a command, and nothing to detect it from: no app (`up` says how to
    // declare one).
    let empty = fixtures().join("empty");
    let (cfg, _) =
        config::parse(Utf8Path::new("kilter.yaml"), "port: 8000\nenv: {A: b}\n").expect("parses");
    assert_eq!(resolve(&cfg.app, &empty, &DirFiles(&empty)).expect("resolves"), None);
}

// ---------------------------------------------------------------------------------------
// Rendering
// ---------------------------------------------------------------------------------------

const ALL: &[&str] = &[
    "node-plain",
    "node-health",
    "node-next-pnpm",
    "node-vite-yarn",
    "node-astro-bun",
    "node-nuxt-npm",
    "node-remix-npm",
    "monorepo/apps/web",
    "python-fastapi",
    "python-flask",
    "python-django",
    "go",
    "declared",
];

const SERVICE_ENV: &[(&str, &str)] = &[
    (
        "DATABASE_URL",
        "postgres://postgres:postgres@postgres.shop-dev.svc:5432/shop?sslmode=disable",
    ),
    ("REDIS_URL", "redis://redis.shop-dev.svc:6379"),
];

/// The input every golden file is rendered with: project `shop`, slot 17 (NodePorts from 30340).
pub(crate) fn input<'a>(
    dir: &'a Utf8Path,
    env: &'a [(String, String)],
    layout: Layout,
) -> Input<'a> {
    Input {
        project: "shop",
        namespace: "shop-dev",
        dir,
        node_port: 30340,
        service_env: env,
        layout,
    }
}

fn service_env() -> Vec<(String, String)> {
    SERVICE_ENV.iter().map(|(k, v)| ((*k).to_owned(), (*v).to_owned())).collect()
}

fn golden_dir() -> Utf8PathBuf {
    crate::golden::dir("app")
}

fn golden(file: &Utf8Path, got: &str) {
    crate::golden::check(&golden_dir().join(file), got);
}

/// The project directory the golden files name (the fixtures' real place would differ per
/// checkout).
pub(crate) fn golden_project_dir(name: &str) -> Utf8PathBuf {
    Utf8PathBuf::from("/home/me/src").join(name)
}

#[test]
fn renders_match_the_golden_files() {
    let env = service_env();
    for name in ALL {
        let app = app_of(name);
        let dir = golden_project_dir(name);
        let cache = Utf8PathBuf::from("/home/me/.cache/kilter/shop/render");
        for file in render(&app, &input(&dir, &env, Layout::Cache(cache))) {
            golden(&Utf8Path::new(name).join(&file.name), &file.text);
        }
    }
    // The ejected layout names paths relative to the project.
    let app = app_of("node-next-pnpm");
    let dir = golden_project_dir("node-next-pnpm");
    for file in render(&app, &input(&dir, &env, Layout::Eject)) {
        golden(&Utf8Path::new("eject").join(&file.name), &file.text);
    }
}

#[test]
fn rendering_is_deterministic_and_follows_the_inputs() {
    let env = service_env();
    let app = app_of("node-health");
    let dir = Utf8PathBuf::from("/p/hello");
    let cache = Layout::Cache("/c/render".into());
    let one = render(&app, &input(&dir, &env, cache.clone()));
    assert_eq!(one, render(&app, &input(&dir, &env, cache.clone())));
    let [tiltfile, dockerfile, manifest] = [&one[0].text, &one[1].text, &one[2].text];
    // The manifests and lockfile are copied and installed before the source.
    let copy = dockerfile.find("COPY [\"package.json\", \"./\"]").expect("manifests copied");
    let install = dockerfile.find("RUN npm install").expect("install");
    let source = dockerfile.find("COPY . .").expect("source");
    assert!(copy < install && install < source, "{dockerfile}");
    // The readiness probe is on `health`, on the app's port.
    assert!(
        manifest.contains("httpGet:\n              path: /healthz\n              port: http"),
        "{manifest}"
    );
    assert!(manifest.contains("nodePort: 30340"), "{manifest}");
    assert!(tiltfile.contains("links=[link(\"http://127.0.0.1:30340/\", \"app\")]"), "{tiltfile}");
    // Without `health`, no probe.
    let plain = render(&app_of("node-plain"), &input(&dir, &env, cache.clone()));
    assert!(!plain[2].text.contains("readinessProbe"), "{}", plain[2].text);
    // kilter.yaml's env wins over a service's variable of the same name; PORT and HOST lead.
    let mut app2 = app.clone();
    app2.env.push(("DATABASE_URL".into(), "postgres://mine".into()));
    let vars = render::env(&app2, &input(&dir, &env, cache.clone()));
    let names: Vec<&str> = vars.iter().map(|(k, _)| k.as_str()).collect();
    assert_eq!(names, ["PORT", "HOST", "DATABASE_URL", "REDIS_URL", "GREETING"]);
    assert_eq!(vars[2].1, "postgres://mine");
    // A path no Dockerfile or Starlark reader can take apart: spaces, quotes, unicode.
    let odd = Utf8PathBuf::from("/home/me/my \"odd\" app ü/web");
    let files = render(&app, &input(&odd, &env, cache));
    assert!(
        files[0].text.contains(r#"context="/home/me/my \"odd\" app ü/web","#),
        "{}",
        files[0].text
    );
}

#[test]
fn restart_loop_and_syncs() {
    let env = service_env();
    let dir = Utf8PathBuf::from("/p");
    let layout = Layout::Cache("/c/render".into());
    // Go does not reload: the container loops, and live update ends the dev command's group.
    let go = render(&app_of("go"), &input(&dir, &env, layout.clone()));
    assert!(go[1].text.contains("setsid sh -c 'go run .'"), "{}", go[1].text);
    assert!(go[0].text.contains(&format!("run({:?})", render::restart_step())), "{}", go[0].text);
    // Next.js reloads: its command runs as it is, and no restart step.
    let next = render(&app_of("node-next-pnpm"), &input(&dir, &env, layout.clone()));
    assert!(
        next[1].text.contains("CMD [\"sh\", \"-c\", \"pnpm run dev --hostname 0.0.0.0\"]"),
        "{}",
        next[1].text
    );
    assert!(!next[0].text.contains("kill -TERM"), "{}", next[0].text);
    // A command declared as a list that reloads by itself is the container's command as it is:
    // no shell reads it.
    let mut argv = app_of("declared");
    argv.restart = false;
    let files = render(&argv, &input(&dir, &env, layout.clone()));
    assert!(
        files[1]
            .text
            .contains("CMD [\"bundle\", \"exec\", \"rackup\", \"--host\", \"0.0.0.0\", \"--port\", \"9292\"]\n"),
        "{}",
        files[1].text
    );
    // Declared syncs go to the same place under /app; a manifest no sync covers gets no run step.
    let declared = app_of("declared");
    assert_eq!(
        render::syncs(&declared),
        [
            ("app".to_owned(), "/app/app".to_owned()),
            ("config.ru".to_owned(), "/app/config.ru".to_owned())
        ]
    );
    let mut src_only = app_of("node-plain");
    src_only.sync.value = vec!["src/".into()];
    let files = render(&src_only, &input(&dir, &env, layout));
    assert!(files[0].text.contains("sync(\"/p/src\", \"/app/src\")"), "{}", files[0].text);
    assert!(!files[0].text.contains("npm install"), "{}", files[0].text);
    // A manifest inside a synced directory (not the directory itself, not the whole project)
    // is synced, so changing it runs the install in place; one beside it is not.
    let mut nested = app_of("node-plain");
    nested.sync.value = vec!["web/".into()];
    nested.manifests = vec!["web/package.json".into(), "webby/package.json".into()];
    let files = render(&nested, &input(&dir, &env, Layout::Cache("/c/render".into())));
    assert!(files[0].text.contains("trigger=[\"/p/web/package.json\"]"), "{}", files[0].text);
}

// ---------------------------------------------------------------------------------------
// Writing
// ---------------------------------------------------------------------------------------

fn stat(path: &Utf8Path) -> (std::time::SystemTime, u64) {
    use std::os::unix::fs::MetadataExt;
    let m = std::fs::metadata(path).expect("stat");
    (m.modified().expect("mtime"), m.ino())
}

#[test]
fn an_unchanged_render_writes_nothing_and_a_changed_one_replaces_the_directory() {
    let ui = crate::ui::Ui::for_tests();
    let runner = crate::exec::Runner::new(crate::exec::Mode::Real, &ui);
    let tmp = tempfile::tempdir().expect("tmp");
    let root = Utf8Path::from_path(tmp.path()).expect("utf8");
    let dir = root.join("render");
    let env = service_env();
    let project = Utf8PathBuf::from("/p");
    let app = app_of("node-plain");
    let files = render(&app, &input(&project, &env, Layout::Cache(dir.clone())));
    assert!(write_rendered(&runner, &dir, &files).expect("first write"));
    for f in &files {
        assert_eq!(std::fs::read_to_string(dir.join(&f.name)).expect("written"), f.text);
    }
    let before: Vec<_> =
        files.iter().map(|f| stat(&dir.join(&f.name))).chain([stat(&dir)]).collect();
    std::thread::sleep(std::time::Duration::from_millis(20));
    assert!(!write_rendered(&runner, &dir, &files).expect("second write"), "nothing to write");
    let after: Vec<_> =
        files.iter().map(|f| stat(&dir.join(&f.name))).chain([stat(&dir)]).collect();
    assert_eq!(before, after, "an unchanged render rewrote something");
    // A change replaces the whole directory; nothing is left beside it.
    let mut changed = app.clone();
    changed.port.value = 3999;
    let files2 = render(&changed, &input(&project, &env, Layout::Cache(dir.clone())));
    std::fs::write(dir.join("stray"), "x").expect("stray file");
    assert!(write_rendered(&runner, &dir, &files2).expect("rewrite"));
    assert!(std::fs::read_to_string(dir.join("app.yaml")).expect("manifest").contains("3999"));
    assert!(!dir.join("stray").exists());
    let mut names: Vec<String> = std::fs::read_dir(root)
        .expect("ls")
        .flatten()
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .collect();
    names.sort();
    assert_eq!(names, ["render"]);
    // A stray file alone is a change too (the directory must hold exactly the render).
    std::fs::write(dir.join("stray"), "x").expect("stray file");
    assert!(write_rendered(&runner, &dir, &files2).expect("rewrite"));
    // Leftovers of an interrupted write are cleared.
    std::fs::create_dir(root.join("render.new")).expect("leftover");
    std::fs::write(root.join("render.new/half"), "x").expect("leftover file");
    assert!(write_rendered(&runner, &dir, &files).expect("rewrite"));
    assert!(!root.join("render.new").exists());
}
