//! Fake `tilt` v0.37.6. See README.md next to this file for every call.
//!
//! A running `tilt up` is a record in `<state>/tilt/<pid>.json`; records whose pid is dead are
//! stale and ignored. Port clashes are detected between live fake tilts of the same state dir
//! (no real socket is bound, so parallel tests never collide).

use std::fs;
use std::io::Write as _;
use std::path::{Path, PathBuf};
use std::time::Duration;

use serde::{Deserialize, Serialize};
use serde_json::{Value, json};

use crate::args::{self, boolean, val};
use crate::common::{Ctx, pid_alive, pretty4, read_json, write_json};
use crate::kubeconfig;
use crate::timefmt;

/// What a running fake `tilt up` recorded about itself.
#[derive(Serialize, Deserialize, Clone, Debug, Default)]
pub struct TiltRecord {
    pub pid: i32,
    pub pgid: i32,
    pub port: u16,
    pub host: String,
    /// `--file` as given, and resolved against the working directory.
    pub file: String,
    pub file_abs: String,
    pub context: Option<String>,
    pub namespace: Option<String>,
    pub args: Vec<String>,
    pub cwd: String,
    /// `$KUBECONFIG` as seen by tilt (None when unset).
    pub kubeconfig_env: Option<String>,
    /// All `KILTER_*` variables in tilt's environment (fake plumbing excluded).
    pub kilter_env: std::collections::BTreeMap<String, String>,
    /// Tilt's whole environment (what a Tiltfile's `os.getenv` sees), fake plumbing excluded.
    #[serde(default)]
    pub env: std::collections::BTreeMap<String, String>,
    /// KUBECONFIG set, the file exists and contains the context tilt will use.
    pub kubeconfig_ok: bool,
    /// The context tilt resolved (`--context`, else current-context).
    pub resolved_context: Option<String>,
    pub started_ms: u64,
    pub mode: String,
    /// `tilt up`'s child (see [`child_main`]): it stays in tilt's process group and outlives a
    /// tilt that alone is signalled. None for `tilt ci`.
    #[serde(default)]
    pub child_pid: Option<i32>,
}

pub fn tilt_dir(state: &Path) -> PathBuf {
    state.join("tilt")
}

/// Records of live fake tilt processes.
pub fn live_records(state: &Path) -> Vec<TiltRecord> {
    let mut out = Vec::new();
    if let Ok(rd) = fs::read_dir(tilt_dir(state)) {
        for e in rd.flatten() {
            if e.path().extension().and_then(|x| x.to_str()) != Some("json") {
                continue;
            }
            let r: TiltRecord = read_json(&e.path());
            if pid_alive(r.pid) {
                out.push(r);
            }
        }
    }
    out.sort_by_key(|r| r.pid);
    out
}

fn say(line: &str) {
    let mut o = std::io::stdout().lock();
    let _ = writeln!(o, "{line}");
    let _ = o.flush();
}

pub fn main(ctx: &Ctx) -> i32 {
    match ctx.args.first().map(String::as_str) {
        Some("version") if ctx.args.len() == 1 => {
            outln!("{}", version_line(ctx));
            0
        }
        Some("up") => up(ctx, &ctx.args[1..], false),
        Some("ci") => up(ctx, &ctx.args[1..], true),
        Some("get") => get(ctx, &ctx.args[1..]),
        // `tilt down` deletes resources: kilter must never run it.
        _ => ctx.unexpected(),
    }
}

fn default_port() -> Result<u16, String> {
    match std::env::var("TILT_PORT") {
        Ok(v) if !v.is_empty() => v
            .parse()
            .map_err(|e| format!("parsing env TILT_PORT: strconv.Atoi: parsing {v:?}: {e}")),
        _ => Ok(10350),
    }
}

fn up(ctx: &Ctx, rest: &[String], ci: bool) -> i32 {
    let mut spec = vec![
        val(&["--port"]),
        val(&["--host"]),
        val(&["--file", "-f"]),
        val(&["--context"]),
        val(&["--namespace"]),
        boolean(&["--stream"]),
    ];
    if ci {
        spec.push(val(&["--timeout"]));
    }
    let p = match args::parse(rest, &spec) {
        Ok(p) => p,
        Err(e) if e.message.contains("'p' in -p") || e.message == "unknown flag: --kubeconfig" => {
            // cobra's own parse error, as real tilt prints it
            errln!("Error: {}", e.message);
            return 1;
        }
        Err(_) => return ctx.unexpected(),
    };
    let port: u16 = match p.get("--port") {
        Some(v) => match v.parse() {
            Ok(n) => n,
            Err(_) => return ctx.unexpected(),
        },
        None => match default_port() {
            Ok(n) => n,
            Err(e) => {
                outln!("{e}");
                return 1;
            }
        },
    };
    // `tilt ci --timeout` (default 30m; 0 = none)
    let Some(timeout_ms) = timefmt::parse_go_duration(p.get("--timeout").unwrap_or("30m")) else {
        return ctx.unexpected();
    };
    let host = p
        .get("--host")
        .map(str::to_string)
        .or_else(|| std::env::var("TILT_HOST").ok())
        .unwrap_or("localhost".into());

    // Block SIGTERM/SIGINT now so a signal during startup is not lost; `sigwait` takes it later.
    let ignore_term = ctx.knob_bool("tilt_ignore_term");
    let set = block_signals(ignore_term);

    let file = p.get("--file").unwrap_or("Tiltfile").to_string();
    let cwd = std::env::current_dir().unwrap_or_default();
    let file_abs = cwd.join(&file);
    let kubeconfig_env = std::env::var("KUBECONFIG").ok();
    let (kubeconfig_ok, resolved_context, kube_error) =
        check_kube(kubeconfig_env.as_deref(), p.get("--context"));
    // SAFETY: getpgid(0) has no preconditions.
    let pgid = unsafe { libc::getpgid(0) };
    let mut me = TiltRecord {
        pid: std::process::id() as i32,
        pgid,
        port,
        host: host.clone(),
        file: file.clone(),
        file_abs: file_abs.display().to_string(),
        context: p.get("--context").map(str::to_string),
        namespace: p.get("--namespace").map(str::to_string),
        args: p.pos.iter().cloned().chain(p.rest.clone().unwrap_or_default()).collect(),
        cwd: cwd.display().to_string(),
        kubeconfig_env,
        kilter_env: std::env::vars()
            .filter(|(k, _)| {
                k.starts_with("KILTER_") && !k.starts_with("KILTER_FAKE_") && k != "KILTER_SHIM_LOG"
            })
            .collect(),
        env: std::env::vars()
            .filter(|(k, _)| !k.starts_with("KILTER_FAKE_") && k != "KILTER_SHIM_LOG")
            .collect(),
        kubeconfig_ok,
        resolved_context,
        started_ms: timefmt::now_ms(),
        mode: if ci { "ci".into() } else { "up".into() },
        child_pid: None,
    };
    let record_path = tilt_dir(&ctx.state).join(format!("{}.json", me.pid));

    let start_ms = ctx.knob_u64("tilt_start_ms");
    if start_ms > 0 {
        std::thread::sleep(Duration::from_millis(start_ms));
    }
    let clash = {
        let _l = ctx.lock();
        let clash =
            port != 0 && live_records(&ctx.state).iter().any(|r| r.port == port && r.pid != me.pid);
        if !clash && !ctx.knob_bool("tilt_fail_start") {
            if !ci {
                me.child_pid = spawn_child();
            }
            write_json(&record_path, &me);
        }
        clash
    };
    let url_line = if port == 0 {
        "Tilt started (without browser UI)".to_string()
    } else if host == "0.0.0.0" {
        format!("Tilt started on http://127.0.0.1:{port}/ (listening on 0.0.0.0)")
    } else {
        format!("Tilt started on http://{host}:{port}/")
    };
    say(&url_line);
    say(&version_line(ctx));
    // Real tilt flushes those two lines before it binds its web port.
    let bind_ms = ctx.knob_u64("tilt_bind_ms");
    if bind_ms > 0 {
        std::thread::sleep(Duration::from_millis(bind_ms));
    }
    if clash || ctx.knob_bool("tilt_fail_start") {
        let bind = if host == "localhost" { "127.0.0.1".to_string() } else { host.clone() };
        errln!("Error: Tilt cannot start because you already have another process on port {port}");
        errln!("If you want to run multiple Tilt instances simultaneously,");
        errln!("use the --port flag or TILT_PORT env variable to set a custom port");
        errln!("Original error: listen tcp {bind}:{port}: bind: address already in use");
        return 1;
    }
    // past the bind: the Tiltfile's initial build (as tilt ≥ 0.2x prints it in stream mode)
    say("");
    say("Initial Build");
    say(&format!("Loading Tiltfile at: {}", file_abs.display()));
    if file_abs.is_file() {
        say("Successfully loaded Tiltfile (12ms)");
        if let Some(e) = kube_error {
            say(&e);
        }
    } else {
        say(&format!(
            "No Tiltfile found at paths '{file}'. Check out https://docs.tilt.dev/tutorial.html"
        ));
    }

    if ci {
        let code = ci_verdict(ctx, timeout_ms, &set);
        let _ = fs::remove_file(&record_path);
        return code;
    }

    // Run until SIGTERM/SIGINT (SIGTERM ignored with tilt_ignore_term: only SIGKILL ends us).
    let mut sig: libc::c_int = 0;
    // SAFETY: `set` is an initialised sigset blocked in this thread; `sig` is a valid out pointer.
    unsafe { libc::sigwait(&set, &mut sig) };
    let _ = fs::remove_file(&record_path);
    0
}

/// Start `tilt up`'s child, as real Tilt runs a Tiltfile's `local_resource` / `serve_cmd`
/// commands and builds: the fake binary again under the name `fake-tilt-child`, in tilt's own
/// process group. Tilt does not stop it when it exits, so only a signal to the whole group ends
/// both (that is what kilter sends; a signal to tilt's pid alone leaves the child running).
#[allow(clippy::disallowed_methods)] // the fake starts its own child process
fn spawn_child() -> Option<i32> {
    use std::os::unix::process::CommandExt as _;
    let exe = std::env::current_exe().ok()?;
    let child = std::process::Command::new(exe)
        .arg0(CHILD_NAME)
        .stdin(std::process::Stdio::null())
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .spawn()
        .ok()?;
    Some(child.id() as i32)
}

/// `argv[0]` of the child `tilt up` starts.
pub const CHILD_NAME: &str = "fake-tilt-child";

/// The child `tilt up` starts: it sleeps until a signal ends it (SIGTERM, SIGINT or SIGKILL, with
/// their default actions: what tilt blocks or ignores is reset here), until the fake state
/// directory is gone (the test that made it has finished), or after 10 minutes at most.
pub fn child_main() -> i32 {
    // SAFETY: plain libc signal-disposition and mask calls on a zeroed, then initialised, set.
    unsafe {
        libc::signal(libc::SIGTERM, libc::SIG_DFL);
        libc::signal(libc::SIGINT, libc::SIG_DFL);
        let mut set: libc::sigset_t = std::mem::zeroed();
        libc::sigemptyset(&mut set);
        libc::pthread_sigmask(libc::SIG_SETMASK, &set, std::ptr::null_mut());
    }
    let Some(state) = std::env::var_os("KILTER_FAKE_STATE").map(PathBuf::from) else { return 97 };
    let end = std::time::Instant::now() + Duration::from_secs(600);
    while state.is_dir() && std::time::Instant::now() < end {
        std::thread::sleep(Duration::from_millis(50));
    }
    0
}

/// How `tilt ci` ends after its startup lines: it runs `tilt_ci_ms`, unless its `--timeout`
/// passes first (`Error: Timeout after D: …`, as tilt's session status words it); then it fails
/// (`tilt_ci_fail`: the workloads never became healthy, reported as a timeout too, or the
/// failure text of knob `tilt_ci_error`) or succeeds.
/// SIGTERM/SIGINT meanwhile cancel the run: `Error: context canceled`, exit 1.
fn ci_verdict(ctx: &Ctx, timeout_ms: u64, set: &libc::sigset_t) -> i32 {
    let run_ms = ctx.knob_u64("tilt_ci_ms");
    let timed_out = timeout_ms > 0 && run_ms > timeout_ms;
    let wait = if timed_out { timeout_ms } else { run_ms };
    if wait_for_signal(set, Duration::from_millis(wait)) {
        errln!("Error: context canceled");
        return 1;
    }
    let waiting = "1 resources waiting (api:runtime waiting-for-pod)";
    let limit = timefmt::go_duration(if timeout_ms > 0 { timeout_ms } else { 30 * 60_000 });
    if timed_out {
        errln!("Error: Timeout after {limit}: {waiting}");
        return 1;
    }
    if ctx.knob_bool("tilt_ci_fail") {
        // The session's error: a build or runtime failure's own text when one is set.
        match ctx.knob("tilt_ci_error") {
            e if e.is_empty() => errln!("Error: Timeout after {limit}: {waiting}"),
            e => errln!("Error: {e}"),
        }
        return 1;
    }
    say("SUCCESS. All workloads are healthy.");
    0
}

/// Wait up to `d` for one of the blocked signals in `set`; true if one came.
fn wait_for_signal(set: &libc::sigset_t, d: Duration) -> bool {
    let end = std::time::Instant::now().checked_add(d);
    loop {
        let left = match end {
            Some(end) => end.saturating_duration_since(std::time::Instant::now()),
            None => Duration::MAX, // longer than this process will live
        };
        if left.is_zero() {
            return false;
        }
        let slice = left.min(Duration::from_millis(100));
        let ts = libc::timespec {
            tv_sec: slice.as_secs() as libc::time_t,
            tv_nsec: libc::c_long::from(slice.subsec_nanos() as i32),
        };
        // SAFETY: `set` is an initialised sigset blocked in this thread; a null siginfo is allowed.
        if unsafe { libc::sigtimedwait(set, std::ptr::null_mut(), &ts) } > 0 {
            return true;
        }
    }
}

/// Build and block the signal set tilt waits on.
fn block_signals(ignore_term: bool) -> libc::sigset_t {
    // SAFETY: plain libc signal-mask manipulation on a zeroed, then initialised, sigset_t.
    unsafe {
        let mut set: libc::sigset_t = std::mem::zeroed();
        libc::sigemptyset(&mut set);
        libc::sigaddset(&mut set, libc::SIGINT);
        if ignore_term {
            libc::signal(libc::SIGTERM, libc::SIG_IGN);
        } else {
            libc::sigaddset(&mut set, libc::SIGTERM);
        }
        libc::pthread_sigmask(libc::SIG_BLOCK, &set, std::ptr::null_mut());
        set
    }
}

/// Does tilt's kube config point at a kind cluster it can use? Returns (kubeconfig_ok, context,
/// an error line to print after loading the Tiltfile).
fn check_kube(
    kubeconfig_env: Option<&str>,
    context: Option<&str>,
) -> (bool, Option<String>, Option<String>) {
    let cfg = kubeconfig::client_load(None).unwrap_or_else(|_| json!({}));
    let ctx_name = context.map(str::to_string).or_else(|| {
        cfg.get("current-context")
            .and_then(Value::as_str)
            .filter(|s| !s.is_empty())
            .map(str::to_string)
    });
    let resolved = ctx_name.as_deref().and_then(|c| kubeconfig::resolve(&cfg, Some(c)).ok());
    let file_exists = kubeconfig_env.is_some_and(|k| std::env::split_paths(k).any(|p| p.is_file()));
    let ok = file_exists && resolved.is_some();
    let err = match (&ctx_name, &resolved) {
        (None, _) => Some(
            "Tiltfile error: no Kubernetes context (KUBECONFIG has no current-context)".to_string(),
        ),
        (Some(c), None) => {
            Some(format!("Tiltfile error: Kubernetes context \"{c}\" not found in kubeconfig"))
        }
        (Some(c), Some(r)) if !(r.cluster == "kind" || r.cluster.starts_with("kind-")) => {
            Some(format!(
                "Stop! {c} might be production.\nIf you're sure you want to deploy there, add:\n\tallow_k8s_contexts('{c}')\nto your Tiltfile. Otherwise, switch k8s contexts and restart Tilt."
            ))
        }
        _ if !ok => Some(
            "Tiltfile error: KUBECONFIG is not set (tilt would use ~/.kube/config)".to_string(),
        ),
        _ => None,
    };
    (ok, ctx_name, err)
}

fn get(ctx: &Ctx, rest: &[String]) -> i32 {
    let spec = [val(&["--output", "-o"]), val(&["--port"]), val(&["--host"])];
    let Ok(p) = args::parse(rest, &spec) else { return ctx.unexpected() };
    let pos: Vec<&str> = p.pos.iter().map(String::as_str).collect();
    if !matches!(pos.as_slice(), ["session"] | ["session", "Tiltfile"])
        || p.get("--output") != Some("json")
    {
        return ctx.unexpected();
    }
    let port: u16 = match p.get("--port") {
        Some(v) => match v.parse() {
            Ok(n) => n,
            Err(_) => return ctx.unexpected(),
        },
        None => match default_port() {
            Ok(n) => n,
            Err(_) => return ctx.unexpected(),
        },
    };
    let live = {
        let _l = ctx.lock();
        live_records(&ctx.state)
    };
    let Some(r) = live.iter().find(|r| r.port == port && r.mode == "up") else {
        let key = if port == 10350 { "tilt-default".to_string() } else { format!("tilt-{port}") };
        errln!("Error: No tilt apiserver found: {key}");
        return 1;
    };
    let started = timefmt::rfc3339_micro(r.started_ms);
    let session = json!({
        "apiVersion": "tilt.dev/v1alpha1",
        "kind": "Session",
        "metadata": {
            "creationTimestamp": timefmt::rfc3339_secs(r.started_ms),
            "name": "Tiltfile",
            "resourceVersion": "3",
            "uid": format!("00000000-0000-4000-8000-{:012}", r.pid),
        },
        "spec": {"exitCondition": "manual", "tiltfilePath": r.file_abs},
        "status": {
            "done": false,
            "pid": r.pid,
            "startTime": started,
            "targets": [{
                "name": "tiltfile:update",
                "resources": ["(Tiltfile)"],
                "state": {"terminated": {"finishTime": started, "startTime": started}},
                "type": "job"
            }]
        }
    });
    let body = if pos.len() == 2 {
        session
    } else {
        json!({"apiVersion": "v1", "items": [session], "kind": "List", "metadata": {"resourceVersion": ""}})
    };
    outln!("{}", pretty4(&body));
    0
}

/// `tilt version`'s line, also the second line `tilt up` prints.
fn version_line(ctx: &Ctx) -> String {
    format!("{}, built 2026-08-08", ctx.knob("tilt_version"))
}
