//! The app from kilter.yaml and detection (docs/commands.md, "The app"): `up` renders a Tiltfile
//! when the project has none, a user's Tiltfile wins, `env` prints `APP_URL`, `render` and
//! `eject`, their dry runs replayed; the rendered manifests against the Kubernetes schemas; and
//! (`real_tilt_*`, `#[ignore]`d: scripts/test.sh's real-Tilt stage) the real Tilt's
//! `tilt alpha tiltfile-result` on what kilter renders for every fixture of `fixtures/apps/`.

use std::path::{Path, PathBuf};
use std::time::Duration;

use serde_json::Value;

use crate::helpers::*;
use crate::replay::assert_replay_equivalent;
use crate::support::{Env, real_tilt_or_skip, skipped};

fn fixtures() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("fixtures/apps")
}

fn copy_dir(from: &Path, to: &Path) {
    std::fs::create_dir_all(to).expect("mkdir");
    for entry in std::fs::read_dir(from).expect("read fixture").flatten() {
        let target = to.join(entry.file_name());
        if entry.file_type().expect("type").is_dir() {
            copy_dir(&entry.path(), &target);
        } else {
            std::fs::copy(entry.path(), &target).expect("copy");
        }
    }
}

/// The fixture `name` as project `shop` (its kilter.yaml, if any, gets `name: shop` first).
fn app_project(env: &Env, name: &str) -> PathBuf {
    let dir = env.project("shop");
    copy_dir(&fixtures().join(name), &dir);
    let yaml = dir.join("kilter.yaml");
    let old = std::fs::read_to_string(&yaml).unwrap_or_default();
    let kept: String =
        old.lines().filter(|l| !l.starts_with("name:")).map(|l| format!("{l}\n")).collect();
    std::fs::write(&yaml, format!("name: shop\n{kept}")).expect("kilter.yaml");
    dir
}

fn run(env: &Env, dir: &Path, args: &[&str]) -> std::process::Output {
    env.kilter(dir).args(args).timeout(Duration::from_secs(60)).output().expect("kilter runs")
}

fn ok(env: &Env, dir: &Path, args: &[&str]) -> std::process::Output {
    let out = run(env, dir, args);
    assert!(out.status.success(), "kilter {args:?}: {}\n{}", stderr_of(&out), stdout_of(&out));
    out
}

fn render_dir(env: &Env) -> PathBuf {
    env.cache_dir("shop").join("render")
}

#[test]
fn up_without_a_tiltfile_renders_the_app_and_runs_tilt_on_the_render() {
    let env = Env::new();
    let dir = app_project(&env, "node-plain");
    let out = ok(&env, &dir, &["up", "-v"]);
    let err = stderr_of(&out);
    let tiltfile = render_dir(&env).join("Tiltfile");
    let tilt = env.calls_of("tilt");
    let file_arg = format!("--file {}", tiltfile.display());
    assert!(tilt.iter().any(|c| c.starts_with("tilt up") && c.contains(&file_arg)), "{tilt:?}");
    for file in ["Tiltfile", "Dockerfile", "app.yaml"] {
        assert!(render_dir(&env).join(file).is_file(), "{file} rendered");
    }
    let (_, base) = ports_of("shop");
    assert!(
        err.contains(&format!("tiltfile    {} (rendered by kilter)", tiltfile.display())),
        "{err}"
    );
    assert!(err.contains(&format!("app         http://127.0.0.1:{base} (Node (plain")), "{err}");
    // `-v` shows each guess and why.
    assert!(
        err.contains(
            "dev       npm run dev (detected: the `dev` script of package.json (node server.js))"
        ),
        "{err}"
    );
    assert!(err.contains("port      3000 (detected: plain default)"), "{err}");
    // `env` prints the app's URL: the first port of the block.
    let out = ok(&env, &dir, &["env"]);
    assert!(
        stdout_of(&out).contains(&format!("export APP_URL=http://127.0.0.1:{base}\n")),
        "{}",
        stdout_of(&out)
    );
    // A second `up` renders the same bytes and rewrites nothing.
    let stamp = |p: &Path| std::fs::metadata(p).expect("stat").modified().expect("mtime");
    let before = stamp(&tiltfile);
    std::thread::sleep(Duration::from_millis(20));
    ok(&env, &dir, &["up"]);
    assert_eq!(stamp(&tiltfile), before, "an unchanged render was rewritten");
}

#[test]
fn a_users_tiltfile_wins_and_nothing_is_rendered() {
    let env = Env::new();
    let dir = app_project(&env, "node-plain");
    std::fs::write(dir.join("Tiltfile"), "k8s_yaml('app.yaml')\n").expect("Tiltfile");
    let out = ok(&env, &dir, &["up"]);
    let tilt = env.calls_of("tilt");
    let file_arg = format!("--file {}", dir.join("Tiltfile").display());
    assert!(tilt.iter().any(|c| c.contains(&file_arg)), "{tilt:?}");
    assert!(!render_dir(&env).exists());
    assert!(stderr_of(&out).contains("(yours)"), "{}", stderr_of(&out));
    assert!(!stdout_of(&ok(&env, &dir, &["env"])).contains("APP_URL"));
    let out = ok(&env, &dir, &["render"]);
    assert!(stderr_of(&out).contains("is yours and runs under Tilt; kilter renders nothing"));
    assert_eq!(stdout_of(&out), "");
}

#[test]
fn no_app_and_no_tiltfile_brings_up_the_cluster_and_says_how_to_declare_the_app() {
    let env = Env::new();
    let dir = project(&env, "shop", Some("name: shop\n"), false);
    let out = ok(&env, &dir, &["up"]);
    assert!(env.calls_of("tilt").is_empty(), "{:?}", env.calls_of("tilt"));
    let err = stderr_of(&out);
    assert!(err.contains("no Tiltfile and no app found"), "{err}");
    assert!(err.contains("`dev:`"), "{err}");
    assert_eq!(container_status(&env, "kilter-shop-control-plane").as_deref(), Some("running"));
}

#[test]
fn a_broken_package_json_is_exit_4_before_anything_changes() {
    let env = Env::new();
    let dir = app_project(&env, "node-bad-json");
    let out = run(&env, &dir, &["up"]);
    assert_eq!(out.status.code(), Some(4), "{}", stderr_of(&out));
    let err = stderr_of(&out);
    assert!(err.contains("package.json:3:39: package.json is not valid JSON"), "{err}");
    assert!(!err.contains("panicked"), "{err}");
    assert!(env.calls_of("kind").is_empty(), "{:?}", env.calls_of("kind"));
    assert!(!render_dir(&env).exists());
    // A bad port in kilter.yaml: exit 4 at its line and column.
    std::fs::write(dir.join("kilter.yaml"), "name: shop\nport: 99999\n").expect("yaml");
    let out = run(&env, &dir, &["render"]);
    assert_eq!(out.status.code(), Some(4));
    assert!(
        stderr_of(&out).contains("kilter.yaml:2:7: port: expected a port number from 1 to 65535"),
        "{}",
        stderr_of(&out)
    );
}

#[test]
fn render_prints_the_files_and_eject_writes_them_once() {
    let env = Env::new();
    let dir = app_project(&env, "node-health");
    let out = ok(&env, &dir, &["render"]);
    let stdout = stdout_of(&out);
    let dockerfile =
        std::fs::read_to_string(render_dir(&env).join("Dockerfile")).expect("rendered");
    assert!(stdout.contains(&dockerfile), "{stdout}");
    assert!(stdout.contains(&format!("# ==> {} <==", render_dir(&env).join("app.yaml").display())));
    assert!(stderr_of(&out).contains("health    /healthz (kilter.yaml:"), "{}", stderr_of(&out));
    ok(&env, &dir, &["eject"]);
    for file in ["Tiltfile", "Dockerfile.dev", "app.k8s.yaml"] {
        let text = std::fs::read_to_string(dir.join(file)).expect("ejected");
        assert!(text.contains("Written by `kilter eject`"), "{file}: {text}");
    }
    let tiltfile = std::fs::read_to_string(dir.join("Tiltfile")).expect("Tiltfile");
    assert!(tiltfile.contains("context=\".\""), "{tiltfile}");
    // The ejected Tiltfile is the user's now.
    let out = run(&env, &dir, &["eject"]);
    assert_eq!(out.status.code(), Some(4));
    assert!(stderr_of(&out).contains("already has its Tiltfile"), "{}", stderr_of(&out));
    // One file in the way: refused, nothing written.
    let env = Env::new();
    let dir = app_project(&env, "node-health");
    std::fs::write(dir.join("Dockerfile.dev"), "FROM mine\n").expect("theirs");
    let out = run(&env, &dir, &["eject"]);
    assert_eq!(out.status.code(), Some(4));
    assert!(stderr_of(&out).contains("never overwrites"), "{}", stderr_of(&out));
    assert!(!dir.join("Tiltfile").exists());
    assert_eq!(std::fs::read_to_string(dir.join("Dockerfile.dev")).expect("kept"), "FROM mine\n");
}

#[test]
fn init_writes_the_detected_fields_as_comments() {
    let env = Env::new();
    let dir = env.project("web");
    copy_dir(&fixtures().join("node-vite-yarn"), &dir);
    ok(&env, &dir, &["init"]);
    let text = std::fs::read_to_string(dir.join("kilter.yaml")).expect("written");
    for line in
        ["# dev: \"yarn run dev --host 0.0.0.0\"", "# port: 4000", "# image: \"node:22-alpine\""]
    {
        assert!(text.contains(line), "{line:?} in\n{text}");
    }
    // Commented out: the file declares nothing, detection still decides.
    let out = ok(&env, &dir, &["render"]);
    assert!(stderr_of(&out).contains("port      4000 (detected:"), "{}", stderr_of(&out));
}

// ---------------------------------------------------------------------------------------------
// Dry runs are the real runs, printed

#[test]
fn up_of_an_app_without_a_tiltfile_replays() {
    assert_replay_equivalent(|env| app_project(env, "node-plain"), &["up"]);
}

#[test]
fn render_replays() {
    let script = assert_replay_equivalent(|env| app_project(env, "python-fastapi"), &["render"]);
    assert!(script.contains("render.new"), "{script}");
}

#[test]
fn eject_replays() {
    let script = assert_replay_equivalent(|env| app_project(env, "go"), &["eject"]);
    assert!(script.contains("Dockerfile.dev"), "{script}");
}

// ---------------------------------------------------------------------------------------------
// The rendered manifests against the Kubernetes schemas (PyPI `kubernetes-validate`)

#[test]
fn rendered_app_manifests_validate_against_the_kubernetes_schemas() {
    let ok_bin = std::process::Command::new("kubernetes-validate")
        .arg("--version")
        .output()
        .is_ok_and(|o| o.status.success());
    if !ok_bin {
        skipped(
            "validating the app manifests",
            "kubernetes-validate is not installed (`pip install kubernetes-validate`; .ci/run installs it)",
        );
        return;
    }
    let golden = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/golden/app");
    let mut files = Vec::new();
    for entry in std::fs::read_dir(&golden).expect("goldens").flatten() {
        for name in ["app.yaml", "app.k8s.yaml"] {
            let p = entry.path().join(name);
            if p.is_file() {
                files.push(p);
            }
        }
    }
    // The monorepo fixture's golden files are one level deeper.
    files.push(golden.join("monorepo/apps/web/app.yaml"));
    files.sort();
    assert!(files.len() >= 13, "{files:?}");
    let out = std::process::Command::new("kubernetes-validate")
        .args(["--strict", "-k", "1.36.0"])
        .args(&files)
        .output()
        .expect("runs");
    let report = format!("{}{}", stdout_of(&out), stderr_of(&out));
    assert!(out.status.success(), "schema validation failed:\n{report}");
    let passed = report.lines().filter(|l| l.contains("passed for resource")).count();
    assert_eq!(passed, files.len() * 2, "{report}");
}

// ---------------------------------------------------------------------------------------------
// The real Tilt reads what kilter renders

/// What kilter meant for a fixture: the sync pairs (project-relative, container), the run
/// steps (command, project-relative triggers), and whether the restart step ends them.
struct Meant {
    fixture: &'static str,
    syncs: &'static [(&'static str, &'static str)],
    run: Option<(&'static str, &'static [&'static str])>,
    restart: bool,
}

const MEANT: &[Meant] = &[
    Meant {
        fixture: "node-plain",
        syncs: &[(".", "/app")],
        run: Some(("npm install", &["package.json"])),
        restart: true,
    },
    Meant {
        fixture: "node-health",
        syncs: &[(".", "/app")],
        run: Some(("npm install", &["package.json"])),
        restart: true,
    },
    Meant {
        fixture: "node-next-pnpm",
        syncs: &[(".", "/app")],
        run: Some(("pnpm install --frozen-lockfile", &["package.json", "pnpm-lock.yaml"])),
        restart: false,
    },
    Meant {
        fixture: "node-vite-yarn",
        syncs: &[(".", "/app")],
        run: Some(("yarn install --frozen-lockfile", &["package.json", "yarn.lock"])),
        restart: false,
    },
    Meant {
        fixture: "node-astro-bun",
        syncs: &[(".", "/app")],
        run: Some(("bun install --frozen-lockfile", &["package.json", "bun.lock"])),
        restart: false,
    },
    Meant {
        fixture: "node-nuxt-npm",
        syncs: &[(".", "/app")],
        run: Some(("npm ci", &["package.json", "package-lock.json"])),
        restart: false,
    },
    Meant {
        fixture: "node-remix-npm",
        syncs: &[(".", "/app")],
        run: Some(("npm ci", &["package.json", "package-lock.json"])),
        restart: false,
    },
    Meant {
        fixture: "monorepo/apps/web",
        syncs: &[(".", "/app")],
        run: Some(("npm install", &["package.json"])),
        restart: false,
    },
    Meant {
        fixture: "python-fastapi",
        syncs: &[(".", "/app")],
        run: Some(("pip install --no-cache-dir -r requirements.txt", &["requirements.txt"])),
        restart: false,
    },
    Meant {
        fixture: "python-django",
        syncs: &[(".", "/app")],
        run: Some(("pip install --no-cache-dir -r requirements.txt", &["requirements.txt"])),
        restart: false,
    },
    Meant {
        fixture: "go",
        syncs: &[(".", "/app")],
        run: Some(("go mod download", &["go.mod"])),
        restart: true,
    },
    Meant {
        fixture: "declared",
        syncs: &[("app", "/app/app"), ("config.ru", "/app/config.ru")],
        run: None,
        restart: true,
    },
];

/// The fixtures with `health:` and the path of their readiness probe (the others have none).
const HEALTH: &[(&str, &str)] = &[("node-health", "/healthz"), ("declared", "/up")];

fn tiltfile_result(tilt: &Path, env: &Env, tiltfile: &Path) -> Value {
    let out = std::process::Command::new(tilt)
        .args(["alpha", "tiltfile-result", "-f"])
        .arg(tiltfile)
        .env_clear()
        .env("HOME", env.home())
        .env("PATH", "/usr/local/bin:/usr/bin:/bin")
        .current_dir(tiltfile.parent().expect("dir"))
        .output()
        .expect("real tilt runs");
    assert!(out.status.success(), "tiltfile-result: {}\n{}", stderr_of(&out), stdout_of(&out));
    serde_json::from_slice(&out.stdout).expect("tiltfile-result prints JSON")
}

fn strs(v: &Value) -> Vec<String> {
    v.as_array().into_iter().flatten().filter_map(|s| s.as_str().map(str::to_owned)).collect()
}

#[test]
#[ignore = "real-Tilt tier: scripts/test.sh, or cargo test --test it real_tilt -- --include-ignored"]
fn real_tilt_reads_the_image_syncs_runs_and_links_kilter_renders_for_every_fixture() {
    let Some(tilt) = real_tilt_or_skip("real_tilt_reads_the_image_syncs_runs_and_links") else {
        return;
    };
    for meant in MEANT {
        let env = Env::new();
        let dir = app_project(&env, meant.fixture);
        ok(&env, &dir, &["render"]);
        let render = render_dir(&env);
        let result = tiltfile_result(&tilt, &env, &render.join("Tiltfile"));
        let what = meant.fixture;
        assert_eq!(result["Error"], Value::Null, "{what}: {result}");
        let manifests = result["Manifests"].as_array().expect("manifests");
        assert_eq!(manifests.len(), 1, "{what}: one resource, the app");
        let m = &manifests[0];
        assert_eq!(m["Name"], "app", "{what}");
        assert_eq!(m["Labels"], serde_json::json!({"app": "app"}), "{what}");
        // The image: built from the project with kilter's Dockerfile, named as in the manifests.
        let images = m["ImageTargets"].as_array().expect("images");
        assert_eq!(images.len(), 1, "{what}");
        let image = &images[0];
        assert_eq!(image["selector"], "shop-app", "{what}");
        let build = &image["BuildDetails"];
        assert_eq!(build["context"].as_str(), dir.to_str(), "{what}");
        let dockerfile = std::fs::read_to_string(render.join("Dockerfile")).expect("Dockerfile");
        assert_eq!(build["dockerfileContents"].as_str(), Some(dockerfile.as_str()), "{what}");
        // Syncs: Tilt stores them relative to the Tiltfile's directory.
        let lu = &image["LiveUpdateSpec"];
        let base = PathBuf::from(lu["basePath"].as_str().expect("basePath"));
        let syncs: Vec<(PathBuf, String)> = lu["syncs"]
            .as_array()
            .expect("syncs")
            .iter()
            .map(|s| {
                let local = base.join(s["localPath"].as_str().expect("local"));
                (normalise(&local), s["containerPath"].as_str().expect("container").to_owned())
            })
            .collect();
        let want: Vec<(PathBuf, String)> =
            meant.syncs.iter().map(|(l, c)| (normalise(&dir.join(l)), (*c).to_owned())).collect();
        assert_eq!(syncs, want, "{what}");
        // Run steps: the install on its manifests, then (for what does not reload) the restart.
        let execs = lu["execs"].as_array().cloned().unwrap_or_default();
        let mut want_execs = Vec::new();
        if let Some((install, triggers)) = meant.run {
            let triggers: Vec<String> =
                triggers.iter().map(|t| dir.join(t).display().to_string()).collect();
            want_execs.push((
                vec!["sh".to_owned(), "-c".to_owned(), format!("cd /app && {install}")],
                triggers,
            ));
        }
        if meant.restart {
            let restart = "touch /tmp/kilter-dev.restart && kill -TERM -\"$(cat /tmp/kilter-dev.pid)\" 2>/dev/null || true";
            want_execs.push((vec!["sh".to_owned(), "-c".to_owned(), restart.to_owned()], vec![]));
        }
        let got_execs: Vec<(Vec<String>, Vec<String>)> =
            execs.iter().map(|e| (strs(&e["args"]), strs(&e["triggerPaths"]))).collect();
        assert_eq!(got_execs, want_execs, "{what}");
        // No port forward (the NodePort is the app's address), and the link to it.
        let deploy = &m["DeployTarget"];
        assert!(
            deploy
                .get("PortForwards")
                .is_none_or(|p| p.is_null() || p.as_array().is_some_and(|a| a.is_empty())),
            "{what}: {deploy}"
        );
        let links = deploy["Links"].as_array().expect("links");
        assert_eq!(links.len(), 1, "{what}");
        let (_, port) = ports_of("shop");
        assert_eq!(links[0]["URL"]["Host"], format!("127.0.0.1:{port}"), "{what}");
        assert_eq!(links[0]["Name"], "app", "{what}");
        // The manifests Tilt deploys are kilter's, with the image Tilt builds.
        let yaml = deploy["yaml"].as_str().expect("yaml");
        assert!(yaml.contains("image: shop-app"), "{what}: {yaml}");
        assert!(yaml.contains(&format!("nodePort: {port}")), "{what}: {yaml}");
        assert_eq!(strs(&deploy["imageMaps"]), ["shop-app"], "{what}");
        // The readiness probe on `health`, only where it is set.
        match HEALTH.iter().find(|(f, _)| *f == what) {
            Some((_, path)) => assert!(
                yaml.contains(&format!("readinessProbe:\n          failureThreshold: 3\n          httpGet:\n            path: {path}\n            port: http")),
                "{what}: {yaml}"
            ),
            None => assert!(!yaml.contains("readinessProbe"), "{what}: {yaml}"),
        }
    }
}

/// `a/b/../c` → `a/c`, `a/./b` → `a/b` (Tilt writes sync paths relative to the Tiltfile).
fn normalise(p: &Path) -> PathBuf {
    let mut out = PathBuf::new();
    for c in p.components() {
        match c {
            std::path::Component::ParentDir => {
                out.pop();
            }
            std::path::Component::CurDir => {}
            other => out.push(other),
        }
    }
    out
}

#[test]
#[ignore = "real-Tilt tier: scripts/test.sh, or cargo test --test it real_tilt -- --include-ignored"]
fn real_tilt_reads_an_ejected_tiltfile_and_a_project_path_with_spaces_and_unicode() {
    let Some(tilt) = real_tilt_or_skip("real_tilt_reads_an_ejected_tiltfile") else { return };
    // Ejected: the same image, syncs and link, with paths relative to the project.
    let env = Env::new();
    let dir = app_project(&env, "node-next-pnpm");
    ok(&env, &dir, &["eject"]);
    let result = tiltfile_result(&tilt, &env, &dir.join("Tiltfile"));
    let image = &result["Manifests"][0]["ImageTargets"][0];
    assert_eq!(image["selector"], "shop-app");
    assert_eq!(image["BuildDetails"]["context"].as_str(), dir.to_str());
    assert_eq!(image["LiveUpdateSpec"]["syncs"][0]["containerPath"], "/app");
    // A Dockerfile- and Starlark-hostile project directory.
    let env = Env::new();
    let odd = env.project("my \"odd\" app ü");
    copy_dir(&fixtures().join("node-plain"), &odd);
    std::fs::write(odd.join("kilter.yaml"), "name: shop\n").expect("yaml");
    ok(&env, &odd, &["render"]);
    let result = tiltfile_result(&tilt, &env, &render_dir(&env).join("Tiltfile"));
    let image = &result["Manifests"][0]["ImageTargets"][0];
    assert_eq!(image["BuildDetails"]["context"].as_str(), odd.to_str(), "{result}");
    let base = PathBuf::from(image["LiveUpdateSpec"]["basePath"].as_str().expect("base"));
    let local = image["LiveUpdateSpec"]["syncs"][0]["localPath"].as_str().expect("local");
    assert_eq!(normalise(&base.join(local)), odd);
}

// ---------------------------------------------------------------------------------------------
// The restart loop of a dev command that does not reload by itself, run by a real `sh`

/// The container command of the render for `dev`, and the restart step of its Tiltfile, with
/// its files (`/tmp/kilter-dev.*` in the container) moved into `tmp`.
fn restart_loop(env: &Env, dev: &str, tmp: &Path) -> (Vec<String>, String) {
    let dir = env.project("shop");
    std::fs::write(dir.join("kilter.yaml"), format!("name: shop\ndev: {dev:?}\nport: 8080\n"))
        .expect("yaml");
    ok(env, &dir, &["render"]);
    let dockerfile =
        std::fs::read_to_string(render_dir(env).join("Dockerfile")).expect("Dockerfile");
    let cmd = dockerfile.lines().find_map(|l| l.strip_prefix("CMD ")).expect("CMD");
    let here = format!("{}/kilter-dev.", tmp.display());
    let argv: Vec<String> = serde_json::from_str::<Vec<String>>(cmd)
        .expect("a JSON array")
        .into_iter()
        .map(|a| a.replace("/tmp/kilter-dev.", &here))
        .collect();
    let tiltfile = std::fs::read_to_string(render_dir(env).join("Tiltfile")).expect("Tiltfile");
    let line = tiltfile.lines().find(|l| l.contains("kill -TERM")).expect("restart step");
    let step: String =
        serde_json::from_str(line.trim().trim_start_matches("run(").trim_end_matches("),"))
            .expect("a string literal");
    (argv, step.replace("/tmp/kilter-dev.", &here))
}

#[test]
fn the_restart_loop_restarts_on_live_update_and_ends_with_a_command_that_exits() {
    let env = Env::new();
    let tmp = env.root().join("container-tmp");
    std::fs::create_dir_all(&tmp).expect("tmp");
    let log = tmp.join("starts");
    let (argv, step) =
        restart_loop(&env, &format!("echo started >> {}; exec sleep 30", log.display()), &tmp);
    assert_eq!(argv[..2], ["sh", "-c"]);
    let mut container = std::process::Command::new("sh").args(&argv[1..]).spawn().expect("sh");
    let starts = || std::fs::read_to_string(&log).unwrap_or_default().lines().count();
    assert!(crate::support::wait_until(Duration::from_secs(10), || starts() == 1), "started once");
    // Live update's restart step: the loop starts the command again.
    let status = std::process::Command::new("sh").args(["-c", &step]).status().expect("step");
    assert!(status.success());
    assert!(crate::support::wait_until(Duration::from_secs(10), || starts() == 2), "restarted");
    assert!(container.try_wait().expect("wait").is_none(), "the loop still runs");
    // TERM (the pod's deletion) ends the loop and the command's group.
    let pid = std::fs::read_to_string(tmp.join("kilter-dev.pid"))
        .expect("pid")
        .trim()
        .parse::<i32>()
        .expect("pid");
    // SAFETY: kill(2) on the shell this test started.
    unsafe { libc::kill(container.id() as i32, libc::SIGTERM) };
    let status = container.wait().expect("wait");
    assert_eq!(status.code(), Some(0));
    assert!(wait_dead(pid), "the dev command's group ended with the loop");

    // A command that exits by itself ends the container with its code (the pod shows the crash).
    let env = Env::new();
    let (argv, _) = restart_loop(&env, "echo bye; exit 3", &tmp);
    let out = std::process::Command::new("sh").args(&argv[1..]).output().expect("sh");
    assert_eq!(out.status.code(), Some(3), "{}", stderr_of(&out));
    assert_eq!(stdout_of(&out), "bye\n");
}

#[test]
fn status_says_which_tiltfile_runs_and_what_kilter_guessed() {
    let env = Env::new();
    let dir = app_project(&env, "node-health");
    ok(&env, &dir, &["up"]);
    let out = ok(&env, &dir, &["status"]);
    let text = stdout_of(&out);
    let tiltfile = render_dir(&env).join("Tiltfile");
    assert!(
        text.contains(&format!(
            "tiltfile    {} (rendered by kilter for the app)",
            tiltfile.display()
        )),
        "{text}"
    );
    let (_, base) = ports_of("shop");
    assert!(
        text.contains(&format!(
            "app         http://127.0.0.1:{base} Node (plain, npm (no lockfile))"
        )),
        "{text}"
    );
    assert!(text.contains("port 3000 (detected: plain default)"), "{text}");
    assert!(text.contains("health /healthz (kilter.yaml:2:9)"), "{text}");
    let json: Value =
        serde_json::from_str(&stdout_of(&ok(&env, &dir, &["status", "--json"]))).expect("json");
    assert_eq!(json["tilt"]["tiltfile_source"], "rendered");
    assert_eq!(json["tilt"]["tiltfile"].as_str(), tiltfile.to_str());
    assert_eq!(
        json["app"]["port"],
        serde_json::json!({"value": 3000, "from": "detected: plain default"})
    );
    assert_eq!(json["app"]["dev"]["value"], "npm run dev");
    assert_eq!(json["app_error"], Value::Null);
    // The user's Tiltfile.
    std::fs::write(dir.join("Tiltfile"), "local_resource('x', cmd='true')\n").expect("Tiltfile");
    let json: Value =
        serde_json::from_str(&stdout_of(&ok(&env, &dir, &["status", "--json"]))).expect("json");
    assert_eq!(json["tilt"]["tiltfile_source"], "yours");
    assert_eq!(json["app"], Value::Null);
    // A package.json that is not JSON does not fail `status`: it says why the app is unknown.
    std::fs::remove_file(dir.join("Tiltfile")).expect("rm");
    std::fs::write(dir.join("package.json"), "{").expect("broken");
    let out = ok(&env, &dir, &["status"]);
    assert!(stdout_of(&out).contains("app         unknown ("), "{}", stdout_of(&out));
}

#[test]
fn ci_runs_tilt_ci_on_the_rendered_tiltfile() {
    let env = Env::new();
    let dir = app_project(&env, "go");
    let out = ok(&env, &dir, &["ci"]);
    let tilt = env.calls_of("tilt");
    let file_arg = format!("--file {}", render_dir(&env).join("Tiltfile").display());
    assert!(
        tilt.iter().any(|c| c.starts_with("tilt ci") && c.contains(&file_arg)),
        "{tilt:?}\n{}",
        stderr_of(&out)
    );
}

#[test]
fn ci_of_an_app_without_a_tiltfile_replays() {
    let script = assert_replay_equivalent(|env| app_project(env, "node-next-pnpm"), &["ci"]);
    assert!(script.contains(" tilt ci --port "), "{script}");
}

#[test]
#[ignore = "real-Tilt tier: scripts/test.sh, or cargo test --test it real_tilt -- --include-ignored"]
fn real_tilt_up_loads_the_rendered_tiltfile_and_stops_only_where_nothing_serves() {
    // The real Tilt with the fake docker/kind/kubectl: the rendered Tiltfile loads (no Starlark
    // error), and Tilt then fails where any Tiltfile with an image and Kubernetes resources fails
    // here: at the cluster (or the Docker engine) nothing serves. Nothing it started is left.
    let Some(env) = Env::real_tilt() else { return };
    let dir = app_project(&env, "python-flask");
    let out = run(&env, &dir, &["up"]);
    let err = stderr_of(&out);
    assert_eq!(out.status.code(), Some(1), "{err}");
    assert!(!err.contains("Traceback"), "the rendered Tiltfile loads: {err}");
    let log = std::fs::read_to_string(env.cache_dir("shop").join("tilt.log")).expect("tilt.log");
    let tiltfile = render_dir(&env).join("Tiltfile");
    assert!(log.contains(&format!("Loading Tiltfile at: {}", tiltfile.display())), "{log}");
    assert!(log.contains("Successfully loaded Tiltfile"), "{log}");
    assert!(
        err.contains("connecting to your Kubernetes cluster")
            || err.contains("Failed to connect to Docker"),
        "{err}"
    );
    let left = env.settle_leftovers(3);
    assert!(left.is_empty(), "left running: {left:?}");
}

#[test]
fn render_never_replaces_the_render_of_another_directory_with_the_same_name() {
    let env = Env::new();
    let dir = app_project(&env, "node-plain");
    ok(&env, &dir, &["up"]);
    let before = std::fs::read_to_string(render_dir(&env).join("Tiltfile")).expect("rendered");
    // Another checkout with the same project name.
    let other = env.project("elsewhere/shop");
    copy_dir(&fixtures().join("go"), &other);
    std::fs::write(other.join("kilter.yaml"), "name: shop\n").expect("yaml");
    let out = run(&env, &other, &["render"]);
    assert_eq!(out.status.code(), Some(4), "{}", stderr_of(&out));
    assert!(stderr_of(&out).contains("is already used by"), "{}", stderr_of(&out));
    assert_eq!(std::fs::read_to_string(render_dir(&env).join("Tiltfile")).expect("kept"), before);
}

#[test]
fn a_service_named_app_is_exit_4_naming_it() {
    let env = Env::new();
    let dir = app_project(&env, "node-plain");
    std::fs::write(
        dir.join("kilter.yaml"),
        "name: shop\nservices:\n  - name: app\n    image: nginx:1.27\n    port: 80\n",
    )
    .expect("yaml");
    let out = run(&env, &dir, &["render"]);
    assert_eq!(out.status.code(), Some(4), "{}", stderr_of(&out));
    assert!(stderr_of(&out).contains("a service is named `app`"), "{}", stderr_of(&out));
    assert!(!render_dir(&env).exists());
    // `up` says so before it changes anything.
    let out = run(&env, &dir, &["up"]);
    assert_eq!(out.status.code(), Some(4), "{}", stderr_of(&out));
    assert!(env.calls_of("kind").is_empty(), "{:?}", env.calls_of("kind"));
}

/// The app's NodePort is the first of the project's block; twenty services with a port each take
/// the whole block, that one too: rendering the app is exit 4 naming the service that holds it,
/// nothing is rendered, and `up` and `ci` refuse before anything changes.
#[test]
fn an_app_whose_nodeport_the_services_would_take_is_exit_4_before_anything_changes() {
    let env = Env::new();
    let dir = app_project(&env, "node-plain");
    let mut yaml = String::from("name: shop\nservices:\n");
    for i in 0..20 {
        yaml.push_str(&format!("  - {{name: svc{i}, image: busybox, port: 80}}\n"));
    }
    std::fs::write(dir.join("kilter.yaml"), yaml).expect("yaml");
    let out = run(&env, &dir, &["render"]);
    let err = stderr_of(&out);
    assert_eq!(out.status.code(), Some(4), "{err}");
    // The services take the block from the top down: the last one listed gets its first port.
    let port: u16 = err
        .split("the service `svc19` has NodePort ")
        .nth(1)
        .and_then(|rest| rest.split(',').next())
        .and_then(|n| n.parse().ok())
        .unwrap_or_else(|| panic!("names svc19 and its NodePort: {err}"));
    assert!(
        (30000..=32740).contains(&port) && port.is_multiple_of(20),
        "a block's first port: {port}"
    );
    assert!(
        err.contains(", the first port of the block, which is the app's: the project's 20 NodePorts are all taken"),
        "{err}"
    );
    assert!(err.contains("kilter remove NAME"), "says the way out: {err}");
    assert!(!render_dir(&env).exists());
    // `up` and `ci` say so before they change anything.
    for verb in ["up", "ci"] {
        let out = run(&env, &dir, &[verb]);
        let err = stderr_of(&out);
        assert_eq!(out.status.code(), Some(4), "{verb}: {err}");
        assert!(
            err.contains("the services need 20 NodePorts and the app kilter renders 1 more, but a project's block has 20: svc0 (1), svc1 (1)"),
            "{verb}: {err}"
        );
        assert!(!err.contains("route"), "{verb}: no route to remove: {err}");
        // (`ci` collects its artifacts of a failed run: logs and inspections, no change.)
        let changed = |c: &String| {
            ["kind create", "docker run", "docker volume create", "kubectl"]
                .iter()
                .any(|p| c.starts_with(p))
        };
        assert!(!env.calls().iter().any(changed), "{verb}: nothing changed: {:?}", env.calls());
    }
    // With one service fewer, the app has its port.
    let yaml = std::fs::read_to_string(dir.join("kilter.yaml")).expect("yaml");
    std::fs::write(
        dir.join("kilter.yaml"),
        yaml.replace("  - {name: svc19, image: busybox, port: 80}\n", ""),
    )
    .expect("yaml");
    ok(&env, &dir, &["render"]);
}

/// `up` gives each route a NodePort of the same block: eighteen services with a port each and
/// two routes leave the rendered app none, and `up` says so before anything changes, naming the
/// routes; `ci` gives routes no port, so it goes on.
#[test]
fn routes_that_would_take_the_apps_nodeport_are_exit_4_before_up_changes_anything() {
    let env = Env::new();
    let dir = app_project(&env, "node-plain");
    let mut yaml = String::from("name: shop\nservices:\n");
    for i in 0..18 {
        yaml.push_str(&format!("  - {{name: svc{i}, image: busybox, port: 80}}\n"));
    }
    yaml.push_str("routes:\n  web: {service: web, port: 80}\n  api: {service: api, port: 80}\n");
    std::fs::write(dir.join("kilter.yaml"), &yaml).expect("yaml");
    let out = run(&env, &dir, &["up"]);
    let err = stderr_of(&out);
    assert_eq!(out.status.code(), Some(4), "{err}");
    assert!(
        err.contains("the services need 18 NodePorts, the routes 2, and the app kilter renders 1 more, but a project's block has 20: svc0 (1), "),
        "{err}"
    );
    assert!(err.contains(", svc17 (1), route web (1), route api (1)"), "{err}");
    assert!(err.contains("or a route from `routes:`"), "says the way out: {err}");
    assert!(env.calls().is_empty(), "nothing ran: {:?}", env.calls());
    // One route fewer: the app keeps its port.
    std::fs::write(dir.join("kilter.yaml"), yaml.replace("  api: {service: api, port: 80}\n", ""))
        .expect("yaml");
    ok(&env, &dir, &["up"]);
}

#[test]
fn doctor_says_which_tiltfile_runs_and_fails_on_an_unreadable_package_json() {
    let env = Env::new();
    let dir = app_project(&env, "node-vite-yarn");
    let check = |env: &Env, dir: &Path| -> (Option<i32>, Value) {
        let out = run(env, dir, &["doctor", "--json"]);
        let doc: Value = serde_json::from_str(&stdout_of(&out)).expect("json");
        let app = doc["checks"]
            .as_array()
            .expect("checks")
            .iter()
            .find(|c| c["name"] == "app")
            .cloned()
            .expect("an app check");
        (out.status.code(), app)
    };
    let (_, app) = check(&env, &dir);
    assert_eq!(app["status"], "ok", "{app}");
    assert!(
        app["detail"].as_str().expect("detail").starts_with("Node (Vite, yarn (yarn.lock))"),
        "{app}"
    );
    std::fs::write(dir.join("package.json"), "{\"scripts\": ").expect("broken");
    let (code, app) = check(&env, &dir);
    assert_eq!(code, Some(1));
    assert_eq!(app["status"], "fail", "{app}");
    assert!(
        app["detail"].as_str().expect("detail").contains("package.json is not valid JSON"),
        "{app}"
    );
    std::fs::remove_file(dir.join("package.json")).expect("rm");
    let (_, app) = check(&env, &dir);
    assert_eq!(app["status"], "warn", "{app}");
}

/// `docker rm -f` of a container when the test ends, also after a panic.
struct Removed<'a>(&'a Env, String);

impl Drop for Removed<'_> {
    fn drop(&mut self) {
        let _ = self.0.docker().args(["rm", "-f", &self.1]).output();
    }
}

#[test]
#[ignore = "real-Docker tier: KILTER_REAL_DOCKER=1 cargo test --test it real_docker -- --include-ignored"]
fn real_docker_the_restart_loop_runs_as_pid_1_of_a_busybox_container() {
    // Alpine's shell, `setsid` and `kill` are BusyBox's, as in the test node image: the rendered
    // loop as the container's PID 1, live update's restart step through `docker exec`, and the
    // pod's deletion (SIGTERM to PID 1).
    let Some(env) = Env::real_docker() else { return };
    let image = std::env::var("KILTER_FAKE_NODE_IMAGE")
        .unwrap_or_else(|_| "kilter-test-node:latest".into());
    let name = format!("kilter-{}-loop", env.unique_name("loop"));
    let (argv, step) =
        restart_loop(&env, "echo started >> /tmp/starts; exec sleep 300", Path::new("/tmp"));
    let starts = |env: &Env| -> usize {
        let out =
            env.docker().args(["exec", &name, "cat", "/tmp/starts"]).output().expect("docker exec");
        String::from_utf8_lossy(&out.stdout).lines().count()
    };
    let mut run_args: Vec<&str> = vec!["run", "-d", "--name", &name, "--entrypoint", "sh", &image];
    run_args.extend(argv[1..].iter().map(String::as_str));
    env.docker_ok(&run_args);
    let _gone = Removed(&env, name.clone());
    assert!(
        crate::support::wait_until(Duration::from_secs(10), || starts(&env) == 1),
        "started once"
    );
    let out = env.docker().args(["exec", &name, "sh", "-c", &step]).output().expect("exec");
    assert!(out.status.success(), "{}", stderr_of(&out));
    assert!(crate::support::wait_until(Duration::from_secs(10), || starts(&env) == 2), "restarted");
    let started = std::time::Instant::now();
    env.docker_ok(&["stop", "-t", "10", &name]);
    assert!(
        started.elapsed() < Duration::from_secs(5),
        "PID 1 ended on SIGTERM, not at docker's KILL"
    );
    let code = env.docker_ok(&["inspect", "-f", "{{.State.ExitCode}}", &name]);
    assert_eq!(code.trim(), "0");
}

/// Beside an app kilter renders, a route named `app` would take the app's names: exit 4 before
/// anything runs.
#[test]
fn a_route_named_app_beside_a_rendered_app_is_exit_4_before_anything_changes() {
    let env = Env::new();
    let dir = app_project(&env, "node-plain");
    let yaml = dir.join("kilter.yaml");
    let text = std::fs::read_to_string(&yaml).expect("kilter.yaml");
    std::fs::write(&yaml, format!("{text}routes:\n  app: {{service: web, port: 80}}\n")).unwrap();
    let out = run(&env, &dir, &["up"]);
    assert_eq!(out.status.code(), Some(4), "{}", stderr_of(&out));
    let err = stderr_of(&out);
    assert!(
        err.contains("routes.app names the app, but kilter renders this project's app itself"),
        "{err}"
    );
    assert!(env.calls_of("kind").is_empty(), "{:?}", env.calls_of("kind"));
}
