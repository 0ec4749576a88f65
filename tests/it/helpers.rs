//! Helpers shared by the kilter integration tests (on top of `support`).

use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::time::Duration;

use crate::support::{Env, read, wait_until};

/// A long, documented kilter.yaml full of comments and ecosystem fields (byte-preservation tests).
pub const DOCUMENTED_YAML: &str = "\
# kilter.yaml for the shop service
# (comments everywhere, on purpose)

name: shop            # the project name
tiltfile: Tiltfile    # next to this file

port: 8080
health: /healthz
image: ghcr.io/acme/shop:dev
dev: [\"cargo\", \"watch\", \"-x\", \"run\"]   # inner loop
sync:
  - src
skills:
  - rust
  - postgres
services:
  - name: postgres
    image: postgres:15
    port: 5432
env:
  RUST_LOG: debug
  DATABASE_URL: \"postgres://postgres@postgres:5432/shop\"

# database snapshots
database:
  service: postgres
  user: postgres
";

/// Create `<work>/<dir>` with a kilter.yaml (when `yaml` is Some) and a Tiltfile (when `tilt`).
pub fn project(env: &Env, dir: &str, yaml: Option<&str>, tilt: bool) -> PathBuf {
    let d = env.project(dir);
    if let Some(y) = yaml {
        std::fs::write(d.join("kilter.yaml"), y).expect("write kilter.yaml");
    }
    if tilt {
        std::fs::write(d.join("Tiltfile"), "k8s_yaml('app.yaml')\n").expect("write Tiltfile");
    }
    d
}

/// An executable `/bin/sh` script at `<root>/<name>` (e.g. a tool wrapper given as
/// `KILTER_DOCKER` that answers one call its own way and `exec`s the fake for the rest).
pub fn script(env: &Env, name: &str, body: &str) -> PathBuf {
    executable(env, name, &format!("#!/bin/sh\n{body}"))
}

/// An executable file `name` under the test's root holding `content`, written by a `sh` child,
/// not by this process: a file this process had open for writing could be inherited, still
/// writable, by a child another test thread forks at that moment, and running the file would then
/// fail with "Text file busy" (ETXTBSY) until that child execs.
pub fn executable(env: &Env, name: &str, content: &str) -> PathBuf {
    use std::io::Write as _;
    let path = env.root().join(name);
    let mut sh = std::process::Command::new("/bin/sh")
        .args(["-c", "cat > \"$1\" && chmod 755 \"$1\"", "sh"])
        .arg(&path)
        .stdin(std::process::Stdio::piped())
        .spawn()
        .expect("sh");
    sh.stdin.take().expect("stdin").write_all(content.as_bytes()).expect("write script");
    assert!(sh.wait().expect("wait").success(), "could not write {}", path.display());
    path
}

/// A wrapper around the fake `tool`, written as [`script`] `name` (for `KILTER_DOCKER`,
/// `KILTER_KIND`, …): a call whose arguments match the shell `pattern` runs `action` (which may
/// exit; `"$fake" "$@"` runs the fake), and every call goes on to the fake unless it exited.
pub fn wrap_tool(env: &Env, tool: &str, name: &str, pattern: &str, action: &str) -> PathBuf {
    let fake = env.bin().join(tool);
    script(
        env,
        name,
        &format!(
            "fake='{}'\ncase \"$*\" in {pattern}) {action};; esac\nexec \"$fake\" \"$@\"\n",
            fake.display()
        ),
    )
}

pub fn mode(p: &Path) -> u32 {
    std::fs::metadata(p)
        .unwrap_or_else(|e| panic!("stat {}: {e}", p.display()))
        .permissions()
        .mode()
        & 0o777
}

/// The tilt.json pid of a project.
pub fn tilt_pid(env: &Env, name: &str) -> Option<i32> {
    let text = std::fs::read_to_string(env.cache_dir(name).join("tilt.json")).ok()?;
    let v: serde_json::Value = serde_json::from_str(&text).ok()?;
    v["pid"].as_i64().map(|p| p as i32)
}

pub fn container_status(env: &Env, name: &str) -> Option<String> {
    env.container(name).map(|c| c["State"]["Status"].as_str().unwrap_or("").to_owned())
}

/// Calls recorded since `mark` (an index into `env.calls()`).
pub fn calls_since(env: &Env, mark: usize) -> Vec<String> {
    env.calls().into_iter().skip(mark).collect()
}

pub fn stderr_of(out: &std::process::Output) -> String {
    String::from_utf8_lossy(&out.stderr).into_owned()
}

pub fn stdout_of(out: &std::process::Output) -> String {
    String::from_utf8_lossy(&out.stdout).into_owned()
}

pub fn wait_dead(pid: i32) -> bool {
    wait_until(Duration::from_secs(5), || !crate::support::pid_alive(pid))
}

pub fn kubeconfig(env: &Env, name: &str) -> PathBuf {
    env.cache_dir(name).join("kubeconfig")
}

pub fn commands_log(env: &Env, name: &str) -> String {
    read(env.cache_dir(name).join("commands.log"))
}

/// The Tilt port and first NodePort of a project that got its preferred slot, as literals (not
/// computed by the code under test). Worked out by hand from docs/files.md "Port slots" (64-bit
/// FNV-1a of the name, modulo 138; Tilt on 10351 + i, NodePorts from 30000 + 20·i) and checked
/// against the ports `kilter up` prints; docs/files.md's own example is `shop` (slot 17).
pub fn ports_of(name: &str) -> (u16, u16) {
    match name {
        "alpha" => (10354, 30060),       // slot 3
        "shop" => (10368, 30340),        // slot 17
        "doc-port" => (10438, 31740),    // slot 87
        "old" | "p32" => (10477, 32520), // slot 126
        _ => panic!("no literal ports for project `{name}`: work them out and add them here"),
    }
}

/// The names of Tilt's resources in a `kilter status --json` document, in order.
pub fn tilt_resource_names(status: &serde_json::Value) -> Vec<&str> {
    status["tilt"]["resources"]
        .as_array()
        .unwrap_or_else(|| panic!("resources listed: {}", status["tilt"]))
        .iter()
        .filter_map(|r| r["name"].as_str())
        .collect()
}

/// The lines `reader` gives (a child's piped stderr) up to and including the first that holds
/// `needle`; panics naming `what` if the stream ends first.
pub fn read_lines_until(reader: &mut impl std::io::BufRead, needle: &str, what: &str) -> String {
    let mut seen = String::new();
    while !seen.contains(needle) {
        let mut line = String::new();
        if reader.read_line(&mut line).expect("read") == 0 {
            panic!("{what} ended before printing {needle:?}: {seen}");
        }
        seen.push_str(&line);
    }
    seen
}

/// Hold the lock of project `name` as another process would, until the file is dropped: its
/// lock file must exist (the project has run once).
pub fn hold_project_lock(env: &Env, name: &str) -> std::fs::File {
    let held = std::fs::OpenOptions::new()
        .read(true)
        .write(true)
        .open(env.cache_dir(name).join("lock"))
        .expect("the project's lock file");
    held.lock().expect("the test holds the project lock");
    held
}
