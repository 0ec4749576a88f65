//! Fake `tilt` v0.37.6. See README.md next to this file for every call.
//!
//! A running `tilt up` / `tilt ci` is a record in `<state>/tilt/<pid>.json` (what real Tilt keeps
//! in `~/.tilt-dev/config`: it is removed when tilt exits normally and stays behind when tilt is
//! SIGKILLed). `live_records` ignores records whose pid is dead. Tilt binds a real TCP listener on
//! its web port (a port clash is a real `EADDRINUSE`) and a second one, its API server, on a
//! random `127.0.0.1` port that `tilt get` connects to.

use std::fs;
use std::io::{BufRead as _, Read as _, Write as _};
use std::net::{IpAddr, Ipv4Addr, SocketAddr, TcpListener, TcpStream, ToSocketAddrs as _};
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use serde::{Deserialize, Serialize};
use serde_json::{Value, json};

use crate::args::{self, boolean, val};
use crate::common::{Ctx, pid_alive, pretty4, read_json, write_json};
use crate::kubeconfig::{self, ResolveError};
use crate::timefmt;

/// What a running fake `tilt up` / `tilt ci` recorded about itself.
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
    /// The child tilt started for its local resource `fake` (see [`child_main`]): it leads a
    /// session and process group of its own, as real Tilt runs every `local_resource` command.
    /// None until the Tiltfile has loaded without error (and never after a Tiltfile error).
    #[serde(default)]
    pub child_pid: Option<i32>,
    /// The grandchild the child forked (knob `tilt_child_fork`), in the child's process group.
    #[serde(default)]
    pub grandchild_pid: Option<i32>,
    #[serde(default)]
    pub child_started_ms: Option<u64>,
    /// The web port is bound (true from the bind until tilt exits).
    #[serde(default)]
    pub listening: bool,
    /// The API server's port on 127.0.0.1 (`tilt get` connects to it).
    #[serde(default)]
    pub apiserver_port: Option<u16>,
    /// The Tiltfile declares Kubernetes resources (so Tilt connects to the cluster).
    #[serde(default)]
    pub k8s: bool,
    #[serde(default)]
    pub load_started_ms: Option<u64>,
    #[serde(default)]
    pub load_finished_ms: Option<u64>,
    /// The Tiltfile's load error (`ERROR: <it>` in the log).
    #[serde(default)]
    pub tiltfile_error: Option<String>,
    /// The Cluster object's `status.error` (k8s Tiltfiles whose cluster is not usable).
    #[serde(default)]
    pub cluster_error: Option<String>,
    /// The kubeconfig cluster and namespace of the resolved context (when it resolved).
    #[serde(default)]
    pub kube_cluster: Option<String>,
    #[serde(default)]
    pub kube_namespace: Option<String>,
}

pub fn tilt_dir(state: &Path) -> PathBuf {
    state.join("tilt")
}

/// Every record, stale ones (of a SIGKILLed tilt) included.
fn all_records(state: &Path) -> Vec<TiltRecord> {
    let mut out = Vec::new();
    if let Ok(rd) = fs::read_dir(tilt_dir(state)) {
        for e in rd.flatten() {
            if e.path().extension().and_then(|x| x.to_str()) != Some("json") {
                continue;
            }
            out.push(read_json::<TiltRecord>(&e.path()));
        }
    }
    out.sort_by_key(|r| r.pid);
    out
}

/// Records of live fake tilt processes.
pub fn live_records(state: &Path) -> Vec<TiltRecord> {
    all_records(state).into_iter().filter(|r| pid_alive(r.pid)).collect()
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

/// How long `tilt up` waits for its local resources' process groups after SIGTERMing them
/// before it exits anyway (measured: 2.0 s, then exit 1, the process left running).
const UP_STOP_GRACE: Duration = Duration::from_secs(2);
/// How long `tilt ci` waits for them at its end before it SIGKILLs them (measured: ~30 s).
const CI_STOP_GRACE: Duration = Duration::from_secs(30);

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
    // Threads started from here on (the listeners) inherit the mask.
    // `tilt_term_exits_at_once`: SIGTERM keeps its default action and ends Tilt where it is,
    // signalling none of its commands (a Tilt that dies while it shuts down): their process
    // groups are then found only by a scan made before Tilt was signalled.
    let ignore_term = ctx.knob_bool("tilt_ignore_term");
    let set = block_signals(ignore_term, ctx.knob_bool("tilt_term_exits_at_once"));

    let file = p.get("--file").unwrap_or("Tiltfile").to_string();
    let cwd = std::env::current_dir().unwrap_or_default();
    let file_abs = cwd.join(&file);
    let kubeconfig_env = std::env::var("KUBECONFIG").ok();
    let kube = check_kube(kubeconfig_env.as_deref(), p.get("--context"));
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
        kubeconfig_ok: kube.kubeconfig_ok,
        resolved_context: kube.context.clone(),
        kube_cluster: kube.cluster.clone(),
        kube_namespace: kube.namespace.clone(),
        started_ms: timefmt::now_ms(),
        mode: if ci { "ci".into() } else { "up".into() },
        ..TiltRecord::default()
    };
    let record_path = tilt_dir(&ctx.state).join(format!("{}.json", me.pid));
    // Written at once, so that a test harness can find (and kill) every fake tilt it started.
    write_json(&record_path, &me);

    let start_ms = ctx.knob_u64("tilt_start_ms");
    if start_ms > 0 {
        std::thread::sleep(Duration::from_millis(start_ms));
    }
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
    let bind_ip = match host.as_str() {
        "localhost" => IpAddr::V4(Ipv4Addr::LOCALHOST),
        h => h.parse::<IpAddr>().ok().unwrap_or_else(|| {
            (h, 0)
                .to_socket_addrs()
                .ok()
                .and_then(|mut a| a.next())
                .map_or(IpAddr::V4(Ipv4Addr::LOCALHOST), |a| a.ip())
        }),
    };
    let bind_fail = |why: &str| -> i32 {
        let _ = fs::remove_file(&record_path);
        if why == "address already in use" {
            errln!(
                "Error: Tilt cannot start because you already have another process on port {port}"
            );
            errln!("If you want to run multiple Tilt instances simultaneously,");
            errln!("use the --port flag or TILT_PORT env variable to set a custom port");
            errln!("Original error: listen tcp {bind_ip}:{port}: bind: {why}");
        } else {
            errln!("Error: listen tcp {bind_ip}:{port}: bind: {why}");
        }
        1
    };
    if ctx.knob_bool("tilt_fail_start") {
        return bind_fail("address already in use");
    }
    if port != 0 {
        // std binds with SO_REUSEADDR, as Go's net.Listen does.
        match TcpListener::bind(SocketAddr::new(bind_ip, port)) {
            Ok(l) => serve(l),
            Err(e) => return bind_fail(&go_errno(&e)),
        }
    }
    match TcpListener::bind((Ipv4Addr::LOCALHOST, 0)) {
        Ok(l) => {
            me.apiserver_port = l.local_addr().ok().map(|a| a.port());
            serve(l);
        }
        Err(e) => return bind_fail(&go_errno(&e)),
    }
    me.listening = true;

    // past the bind: Tilt's Docker client (a real socket, as the real Tilt dials), then the
    // Tiltfile's initial build
    if let Some(why) = docker_unreachable() {
        say("[Docker Prune] Docker API version too low for Tilt to run Docker Prune:");
        say(&format!("\t{why}"));
    }
    say("");
    say("Initial Build");
    me.load_started_ms = Some(timefmt::now_ms());
    let loaded = if file_abs.is_file() {
        say(&format!("Loading Tiltfile at: {}", file_abs.display()));
        write_json(&record_path, &me);
        let load_ms = ctx.knob_u64("tilt_load_ms");
        if load_ms > 0 {
            std::thread::sleep(Duration::from_millis(load_ms));
        }
        let text = fs::read_to_string(&file_abs).unwrap_or_default();
        let run = run_tiltfile(&file_abs, &text);
        for line in &run.printed {
            say(line);
        }
        me.k8s = run.k8s;
        match (run.error, &kube.production) {
            (Some(e), _) => Err(e),
            (None, Some(stop)) if run.k8s => Err(stop.clone()),
            (None, _) => {
                let took = if load_ms > 0 { timefmt::go_duration(load_ms) } else { "12ms".into() };
                Ok(took)
            }
        }
    } else {
        Err(format!(
            "No Tiltfile found at paths '{}'. Check out https://docs.tilt.dev/tutorial.html",
            file_abs.display()
        ))
    };
    me.load_finished_ms = Some(timefmt::now_ms());
    match &loaded {
        Ok(took) => {
            say(&format!("Successfully loaded Tiltfile ({took})"));
            if me.k8s {
                me.cluster_error = kube.reason.as_deref().map(cluster_error_text);
            }
            if let Some(e) = &me.cluster_error {
                say(&format!("ERROR: Cluster status error: {e}"));
            }
        }
        Err(e) => {
            me.tiltfile_error = Some(e.clone());
            say(&format!("ERROR: {e}"));
        }
    }
    // Tilt starts the resources only once the Tiltfile has loaded.
    let mut child = if loaded.is_ok() {
        spawn_child(ctx.knob_bool("tilt_child_ignore_term"), ctx.knob_bool("tilt_child_fork"))
    } else {
        None
    };
    if let Some(c) = &child {
        me.child_pid = Some(c.pid);
        me.grandchild_pid = c.grandchild;
        me.child_started_ms = Some(timefmt::now_ms());
    }
    write_json(&record_path, &me);

    if ci {
        let code = match (&me.tiltfile_error, &me.cluster_error) {
            (Some(e), _) => {
                errln!("Error: {e}");
                1
            }
            (None, Some(_)) => {
                errln!("Error: cluster connection failed");
                1
            }
            (None, None) => ci_verdict(ctx, timeout_ms, &set),
        };
        if let Some(c) = child.as_mut()
            && !stop_child(c, CI_STOP_GRACE)
        {
            // SAFETY: kill(2) on the process group of the child this tilt started.
            unsafe { libc::kill(-c.pid, libc::SIGKILL) };
            let _ = c.proc.wait();
        }
        let _ = fs::remove_file(&record_path);
        return code;
    }

    // Run until SIGTERM/SIGINT (SIGTERM ignored with tilt_ignore_term: only SIGKILL ends us).
    let mut sig: libc::c_int = 0;
    // SAFETY: `set` is an initialised sigset blocked in this thread; `sig` is a valid out pointer.
    unsafe { libc::sigwait(&set, &mut sig) };
    // Tilt gives its local resources UP_STOP_GRACE, then exits 1 and leaves them running.
    let stopped = child.as_mut().is_none_or(|c| stop_child(c, UP_STOP_GRACE));
    let code = if stopped { 0 } else { 1 };
    let _ = fs::remove_file(&record_path);
    code
}

/// Go's text for a bind error's errno (`address already in use`, `permission denied`, …).
/// Why the real Tilt's Docker client cannot reach the engine (`DOCKER_HOST`, else
/// `/var/run/docker.sock`), in Go's words; `None` when the socket answers.
fn docker_unreachable() -> Option<String> {
    let host = std::env::var("DOCKER_HOST").unwrap_or_default();
    let host = if host.is_empty() { "unix:///var/run/docker.sock".to_owned() } else { host };
    let path = host.strip_prefix("unix://")?;
    let e = std::os::unix::net::UnixStream::connect(path).err()?;
    Some(format!(
        "failed to connect to the docker API at {host}; check if the path is correct and if the daemon is running: dial unix {path}: connect: {}",
        go_errno(&e)
    ))
}

fn go_errno(e: &std::io::Error) -> String {
    match e.raw_os_error() {
        Some(libc::EADDRINUSE) => "address already in use".into(),
        Some(libc::EADDRNOTAVAIL) => "cannot assign requested address".into(),
        Some(libc::EACCES) => "permission denied".into(),
        _ => {
            let s = e.to_string();
            let s = s.split(" (os error").next().unwrap_or(&s).to_string();
            let mut c = s.chars();
            c.next().map(|f| f.to_lowercase().collect::<String>() + c.as_str()).unwrap_or_default()
        }
    }
}

/// Serve a listener until the process exits: every connection gets an empty HTTP 200 answer
/// (after whatever request it sent within 200 ms) and is closed.
#[allow(clippy::disallowed_methods)] // a plain thread, no process
fn serve(listener: TcpListener) {
    std::thread::spawn(move || {
        for mut s in listener.incoming().flatten() {
            let _ = s.set_read_timeout(Some(Duration::from_millis(200)));
            let mut buf = [0u8; 4096];
            if matches!(s.read(&mut buf), Ok(n) if n > 0) {
                let _ = s.write_all(
                    b"HTTP/1.1 200 OK\r\nContent-Length: 0\r\nConnection: close\r\n\r\n",
                );
            }
        }
    });
}

/// What running a Tiltfile gave: the `print` lines, the error, and whether it declares
/// Kubernetes resources.
struct TiltfileRun {
    printed: Vec<String>,
    error: Option<String>,
    k8s: bool,
}

/// The Tiltfile calls that make Tilt connect to a Kubernetes cluster.
const K8S_CALLS: &[&str] =
    &["k8s_yaml(", "k8s_resource(", "docker_build(", "helm(", "k8s_custom_deploy("];

/// Run a Tiltfile the simple way: top-level lines in order; `print("s")` prints `s`;
/// `fail("msg")` stops with Starlark's traceback (`<file>:<line>:<column of the parenthesis>`).
/// Everything else is accepted as it is.
fn run_tiltfile(abs: &Path, text: &str) -> TiltfileRun {
    let mut run = TiltfileRun {
        printed: Vec::new(),
        error: None,
        k8s: K8S_CALLS.iter().any(|c| text.contains(c)),
    };
    for (i, line) in text.lines().enumerate() {
        let code = line.trim_start();
        let indent = line.len() - code.len();
        if let Some(arg) = code.strip_prefix("print(") {
            run.printed.push(string_arg(arg).unwrap_or_else(|| arg.trim_end_matches(')').into()));
        } else if let Some(arg) = code.strip_prefix("fail(") {
            let msg = string_arg(arg).unwrap_or_else(|| arg.trim_end_matches(')').into());
            // Starlark's call position is its opening parenthesis (1-based column).
            let col = indent + "fail(".len();
            run.error = Some(format!(
                "Traceback (most recent call last):\n  {}:{}:{col}: in <toplevel>\nError in fail: {msg}",
                abs.display(),
                i + 1
            ));
            break;
        }
    }
    run
}

/// The string literal that starts `s` (after a call's parenthesis), with `\\`, `\n`, `\t` and
/// quote escapes; None when `s` does not start with a simple literal followed by `)`.
fn string_arg(s: &str) -> Option<String> {
    let s = s.trim_start();
    let quote = s.chars().next().filter(|c| *c == '"' || *c == '\'')?;
    let mut out = String::new();
    let mut chars = s[1..].chars();
    loop {
        match chars.next()? {
            '\\' => match chars.next()? {
                'n' => out.push('\n'),
                't' => out.push('\t'),
                c => out.push(c),
            },
            c if c == quote => break,
            c => out.push(c),
        }
    }
    chars.as_str().trim_start().starts_with(')').then_some(out)
}

/// A running child of tilt (its local resource `fake`).
struct ChildProc {
    proc: std::process::Child,
    pid: i32,
    grandchild: Option<i32>,
}

/// Start the child for the Tiltfile's local resource `fake`, as real Tilt runs a
/// `local_resource`'s `cmd`/`serve_cmd` and each `local()`: the fake binary again under the name
/// `fake-tilt-child`, in a session and process group of its own (`setsid`). It answers
/// `ready [<grandchild pid>]` on its stdout once its signal dispositions are set.
#[allow(clippy::disallowed_methods)] // the fake starts its own child process
fn spawn_child(ignore_term: bool, fork: bool) -> Option<ChildProc> {
    use std::os::unix::process::CommandExt as _;
    let exe = std::env::current_exe().ok()?;
    let mut cmd = std::process::Command::new(exe);
    cmd.arg0(CHILD_NAME);
    if ignore_term {
        cmd.arg("--ignore-term");
    }
    if fork {
        cmd.arg("--fork");
    }
    cmd.stdin(std::process::Stdio::null())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::null());
    // SAFETY: setsid(2) is async-signal-safe; nothing else runs between fork and exec.
    unsafe {
        cmd.pre_exec(|| {
            if libc::setsid() < 0 {
                return Err(std::io::Error::last_os_error());
            }
            Ok(())
        });
    }
    let mut proc = cmd.spawn().ok()?;
    let mut line = String::new();
    let _ = std::io::BufReader::new(proc.stdout.take()?).read_line(&mut line);
    let grandchild = line.split_whitespace().nth(1).and_then(|p| p.parse().ok());
    let pid = proc.id() as i32;
    Some(ChildProc { proc, pid, grandchild })
}

/// Stop the child as Tilt stops a local resource: SIGTERM to its process group, then wait up to
/// `grace` for the child itself. True if it ended.
fn stop_child(c: &mut ChildProc, grace: Duration) -> bool {
    // SAFETY: kill(2) on the process group of the child this tilt started (it leads it).
    unsafe { libc::kill(-c.pid, libc::SIGTERM) };
    let end = Instant::now() + grace;
    loop {
        if matches!(c.proc.try_wait(), Ok(Some(_))) {
            return true;
        }
        if Instant::now() >= end {
            return false;
        }
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// `argv[0]` of the child `tilt up` / `tilt ci` starts (see [`spawn_child`]).
pub const CHILD_NAME: &str = "fake-tilt-child";

/// The child tilt starts (see [`spawn_child`]). Flags: `--ignore-term` (SIGTERM ignored, like a
/// shell's `trap "" TERM`; a grandchild inherits it), `--fork` (fork a grandchild in the same
/// process group, as a shell command's subprocess), `--grandchild` (this is that grandchild).
/// SIGTERM (unless ignored), SIGINT and SIGKILL end it with their default actions, whatever tilt
/// blocked or ignored; otherwise it runs until the fake state directory is gone (the test that
/// made it has finished), or 10 minutes at most.
#[allow(clippy::disallowed_methods)] // the child forks its own grandchild
pub fn child_main() -> i32 {
    use std::os::unix::process::CommandExt as _;
    let flags: Vec<String> = std::env::args().skip(1).collect();
    let has = |f: &str| flags.iter().any(|a| a == f);
    let ignore_term = has("--ignore-term");
    // SAFETY: plain libc signal-disposition and mask calls on a zeroed, then initialised, set.
    unsafe {
        libc::signal(libc::SIGTERM, if ignore_term { libc::SIG_IGN } else { libc::SIG_DFL });
        libc::signal(libc::SIGINT, libc::SIG_DFL);
        let mut set: libc::sigset_t = std::mem::zeroed();
        libc::sigemptyset(&mut set);
        libc::pthread_sigmask(libc::SIG_SETMASK, &set, std::ptr::null_mut());
    }
    let Some(state) = std::env::var_os("KILTER_FAKE_STATE").map(PathBuf::from) else { return 97 };
    let mut grandchild = None;
    if !has("--grandchild") {
        if has("--fork")
            && let Ok(exe) = std::env::current_exe()
        {
            let mut cmd = std::process::Command::new(exe);
            cmd.arg0(CHILD_NAME).arg("--grandchild");
            if ignore_term {
                cmd.arg("--ignore-term");
            }
            grandchild = cmd
                .stdin(std::process::Stdio::null())
                .stdout(std::process::Stdio::null())
                .stderr(std::process::Stdio::null())
                .spawn()
                .ok();
        }
        let pid = grandchild.as_ref().map(|g| format!(" {}", g.id())).unwrap_or_default();
        outln!("ready{pid}");
        let _ = std::io::stdout().flush();
    }
    let end = Instant::now() + Duration::from_secs(600);
    while state.is_dir() && Instant::now() < end {
        if let Some(g) = grandchild.as_mut() {
            let _ = g.try_wait(); // reap it if it ended
        }
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
    let end = Instant::now().checked_add(d);
    loop {
        let left = match end {
            Some(end) => end.saturating_duration_since(Instant::now()),
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
fn block_signals(ignore_term: bool, die_on_term: bool) -> libc::sigset_t {
    // SAFETY: plain libc signal-mask manipulation on a zeroed, then initialised, sigset_t.
    unsafe {
        let mut set: libc::sigset_t = std::mem::zeroed();
        libc::sigemptyset(&mut set);
        libc::sigaddset(&mut set, libc::SIGINT);
        if ignore_term {
            libc::signal(libc::SIGTERM, libc::SIG_IGN);
        } else if die_on_term {
            libc::signal(libc::SIGTERM, libc::SIG_DFL);
        } else {
            libc::sigaddset(&mut set, libc::SIGTERM);
        }
        libc::pthread_sigmask(libc::SIG_BLOCK, &set, std::ptr::null_mut());
        set
    }
}

/// What tilt makes of its kube config.
struct Kube {
    /// KUBECONFIG set, the file exists and contains the context tilt will use.
    kubeconfig_ok: bool,
    /// `--context`, else the current-context.
    context: Option<String>,
    /// The resolved cluster and default namespace (when the context resolved).
    cluster: Option<String>,
    namespace: Option<String>,
    /// Why Tilt cannot connect (client-go's words), for a Tiltfile with Kubernetes resources.
    reason: Option<String>,
    /// Tilt's "Stop! … might be production" Tiltfile error for a context that is not kind's.
    production: Option<String>,
}

/// Resolve tilt's kube context like client-go. A context that resolves to a kind cluster counts
/// as reachable (the fake does not probe the API).
fn check_kube(kubeconfig_env: Option<&str>, context: Option<&str>) -> Kube {
    const PREFIX: &str = "Loading Kubernetes config: invalid configuration:";
    let no_config = format!(
        "{PREFIX} no configuration has been provided, try setting KUBERNETES_MASTER environment variable"
    );
    let mut k = Kube {
        kubeconfig_ok: false,
        context: None,
        cluster: None,
        namespace: None,
        reason: None,
        production: None,
    };
    let cfg = match kubeconfig::client_load(None) {
        Ok(cfg) => cfg,
        Err(ResolveError::Invalid(e) | ResolveError::Missing(e) | ResolveError::NoContext(e)) => {
            k.reason = Some(format!("{PREFIX} {e}"));
            return k;
        }
        Err(ResolveError::NoConfig) => {
            k.reason = Some(no_config);
            return k;
        }
    };
    k.context = context.filter(|c| !c.is_empty()).map(str::to_string).or_else(|| {
        cfg.get("current-context")
            .and_then(Value::as_str)
            .filter(|s| !s.is_empty())
            .map(str::to_string)
    });
    let Some(name) = k.context.clone() else {
        k.reason = Some(no_config);
        return k;
    };
    match kubeconfig::resolve(&cfg, Some(&name)) {
        Ok(r) => {
            let file_exists =
                kubeconfig_env.is_some_and(|v| std::env::split_paths(v).any(|p| p.is_file()));
            k.kubeconfig_ok = file_exists;
            if !(r.cluster == "kind" || r.cluster.starts_with("kind-")) {
                k.production = Some(format!(
                    "Stop! {name} might be production.\nIf you're sure you want to deploy there, add:\n\tallow_k8s_contexts('{name}')\nto your Tiltfile. Otherwise, switch k8s contexts and restart Tilt."
                ));
            }
            k.namespace = r.namespace.clone();
            k.cluster = Some(r.cluster);
        }
        Err(ResolveError::NoContext(c)) => {
            k.reason = Some(format!(
                "{PREFIX} [context was not found for specified context: {c}, cluster has no server defined]"
            ));
        }
        Err(ResolveError::Invalid(e) | ResolveError::Missing(e)) => {
            k.reason = Some(format!("{PREFIX} [{e}]"));
        }
        Err(ResolveError::NoConfig) => k.reason = Some(no_config),
    }
    k
}

/// The Cluster object's `status.error` for a connection that failed for `reason`.
fn cluster_error_text(reason: &str) -> String {
    format!(
        "Tilt encountered an error connecting to your Kubernetes cluster:\n\t{reason}\nYou will need to restart Tilt after resolving the issue."
    )
}

fn get(ctx: &Ctx, rest: &[String]) -> i32 {
    let spec = [val(&["--output", "-o"]), val(&["--port"]), val(&["--host"])];
    let Ok(p) = args::parse(rest, &spec) else { return ctx.unexpected() };
    let pos: Vec<&str> = p.pos.iter().map(String::as_str).collect();
    if !matches!(
        pos.as_slice(),
        ["session"] | ["session", "Tiltfile"] | ["uiresources"] | ["clusters"]
    ) || p.get("--output") != Some("json")
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
    // The newest tilt on that port whose API server came up (its record is Tilt's entry in
    // ~/.tilt-dev/config: gone after a normal exit, left behind by a SIGKILLed tilt).
    let rec = {
        let _l = ctx.lock();
        all_records(&ctx.state)
            .into_iter()
            .filter(|r| r.port == port && r.listening)
            .max_by_key(|r| r.started_ms)
    };
    let (Some(r), Some(api)) = (rec.as_ref(), rec.as_ref().and_then(|r| r.apiserver_port)) else {
        let key = if port == 10350 { "tilt-default".to_string() } else { format!("tilt-{port}") };
        errln!("Error: No tilt apiserver found: {key}");
        return 1;
    };
    let addr = SocketAddr::new(IpAddr::V4(Ipv4Addr::LOCALHOST), api);
    if TcpStream::connect_timeout(&addr, Duration::from_secs(2)).is_err() {
        errln!(
            "The connection to the server {addr} was refused - did you specify the right host or port?"
        );
        return 1;
    }
    let body = match pos.as_slice() {
        ["session", "Tiltfile"] => session(r),
        ["session"] => list(vec![session(r)]),
        ["uiresources"] => list(uiresources(r)),
        _ => list(clusters(r)),
    };
    outln!("{}", pretty4(&body));
    0
}

fn list(items: Vec<Value>) -> Value {
    json!({"apiVersion": "v1", "items": items, "kind": "List", "metadata": {"resourceVersion": ""}})
}

/// The metadata Tilt gives the objects its Tiltfile owns.
fn meta(r: &TiltRecord, name: &str, resource: &str, n: u32) -> Value {
    json!({
        "annotations": {"tilt.dev/resource": resource},
        "creationTimestamp": timefmt::rfc3339_secs(r.started_ms),
        "name": name,
        "ownerReferences": [{
            "apiVersion": "tilt.dev/v1alpha1",
            "blockOwnerDeletion": true,
            "controller": true,
            "kind": "Tiltfile",
            "name": "(Tiltfile)",
            "uid": uid(r, 0),
        }],
        "resourceVersion": (10 + n).to_string(),
        "uid": uid(r, n),
    })
}

fn uid(r: &TiltRecord, n: u32) -> String {
    format!("00000000-0000-4000-8{n:03}-{:012}", r.pid)
}

fn micro(ms: u64) -> Value {
    json!(timefmt::rfc3339_micro(ms))
}

/// Is the child (its local resource's serve process) still running?
fn child_running(r: &TiltRecord) -> bool {
    r.child_pid.is_some_and(pid_alive)
}

fn session(r: &TiltRecord) -> Value {
    let load_start = r.load_started_ms.unwrap_or(r.started_ms);
    let mut targets = Vec::new();
    if let (Some(pid), Some(t)) = (r.child_pid, r.child_started_ms) {
        let serve = if child_running(r) {
            json!({"active": {"lastReadyTime": micro(t), "ready": true, "startTime": micro(t)}})
        } else {
            json!({"terminated": {
                "error": format!("Process {pid} exited with non-zero status"),
                "finishTime": micro(timefmt::now_ms()),
                "startTime": micro(t),
            }})
        };
        targets.push(
            json!({"name": "fake:serve", "resources": ["fake"], "state": serve, "type": "server"}),
        );
        targets.push(json!({
            "name": "fake:update",
            "resources": ["fake"],
            "state": {"terminated": {"finishTime": micro(t), "startTime": micro(t)}},
            "type": "job",
        }));
    }
    let tiltfile = match r.load_finished_ms {
        None => {
            json!({"active": {"lastReadyTime": null, "ready": false, "startTime": micro(load_start)}})
        }
        Some(done) => {
            let mut t = json!({"finishTime": micro(done), "startTime": micro(load_start)});
            if let Some(e) = &r.tiltfile_error {
                t["error"] = json!(e);
            }
            json!({"terminated": t})
        }
    };
    targets.push(json!({
        "name": "tiltfile:update",
        "resources": ["(Tiltfile)"],
        "state": tiltfile,
        "type": "job",
    }));
    let mut spec = json!({
        "exitCondition": if r.mode == "ci" { "ci" } else { "manual" },
        "tiltfilePath": r.file_abs,
    });
    // the CI settings come from the Tiltfile: none without one
    if !r.tiltfile_error.as_deref().is_some_and(|e| e.starts_with("No Tiltfile found")) {
        spec["ci"] = json!({"readinessTimeout": "5m0s", "timeout": "30m0s"});
    }
    json!({
        "apiVersion": "tilt.dev/v1alpha1",
        "kind": "Session",
        "metadata": meta(r, "Tiltfile", "(Tiltfile)", 1),
        "spec": spec,
        "status": {
            "done": false,
            "pid": r.pid,
            "startTime": micro(r.started_ms),
            "targets": targets,
        }
    })
}

fn conditions(at: u64, reason: Option<&str>, ready_reason: Option<&str>) -> Value {
    let cond = |ty: &str, reason: Option<&str>| {
        let mut c = json!({"lastTransitionTime": micro(at), "status": "True", "type": ty});
        if let Some(why) = reason {
            c["status"] = json!("False");
            c["reason"] = json!(why);
        }
        c
    };
    json!([cond("UpToDate", reason), cond("Ready", reason.or(ready_reason))])
}

fn uiresources(r: &TiltRecord) -> Vec<Value> {
    let load_start = r.load_started_ms.unwrap_or(r.started_ms);
    let span = "tiltfile:(Tiltfile):1";
    let mut status = json!({
        "disableStatus": {"disabledCount": 0, "enabledCount": 0, "sources": null, "state": "Enabled"},
        "order": 1,
        "pendingBuildSince": null,
        "runtimeStatus": "not_applicable",
    });
    match r.load_finished_ms {
        None => {
            status["currentBuild"] = json!({"spanID": span, "startTime": micro(load_start)});
            status["conditions"] = conditions(load_start, Some("Unknown"), None);
            status["pendingBuildSince"] = micro(load_start);
            status["updateStatus"] = json!("in_progress");
        }
        Some(done) => {
            let mut build =
                json!({"finishTime": micro(done), "spanID": span, "startTime": micro(load_start)});
            if let Some(e) = &r.tiltfile_error {
                build["error"] = json!(e);
            }
            let failed = r.tiltfile_error.is_some();
            status["buildHistory"] = json!([build]);
            status["conditions"] = conditions(done, failed.then_some("UpdateError"), None);
            status["lastDeployTime"] = micro(done);
            status["updateStatus"] = json!(if failed { "error" } else { "ok" });
        }
    }
    let mut items = vec![json!({
        "apiVersion": "tilt.dev/v1alpha1",
        "kind": "UIResource",
        "metadata": meta(r, "(Tiltfile)", "(Tiltfile)", 2),
        "spec": {},
        "status": status,
    })];
    if let (Some(pid), Some(t)) = (r.child_pid, r.child_started_ms) {
        let running = child_running(r);
        items.push(json!({
            "apiVersion": "tilt.dev/v1alpha1",
            "kind": "UIResource",
            "metadata": meta(r, "fake", "fake", 3),
            "spec": {},
            "status": {
                "buildHistory": [{"finishTime": micro(t), "spanID": "build:1", "startTime": micro(t)}],
                "conditions": conditions(t, None, (!running).then_some("RuntimeError")),
                "disableStatus": {
                    "disabledCount": 0,
                    "enabledCount": 1,
                    "sources": [{"configMap": {"key": "isDisabled", "name": "fake-disable"}}],
                    "state": "Enabled",
                },
                "lastDeployTime": micro(t),
                "localResourceInfo": {"pid": pid},
                "order": 2,
                "pendingBuildSince": null,
                "runtimeStatus": if running { "ok" } else { "error" },
                "specs": [{"id": "local:fake", "type": "local"}],
                "updateStatus": "ok",
            }
        }));
    }
    items
}

fn clusters(r: &TiltRecord) -> Vec<Value> {
    // Tilt creates its Cluster object only for a Tiltfile that loaded and has k8s resources.
    if !r.k8s || r.load_finished_ms.is_none() || r.tiltfile_error.is_some() {
        return Vec::new();
    }
    let status = match &r.cluster_error {
        Some(e) => json!({"error": e}),
        None => {
            json!({
                "arch": "amd64",
                "connectedAt": micro(r.load_finished_ms.unwrap_or(r.started_ms)),
                "connection": {"kubernetes": {
                    "cluster": r.kube_cluster.clone().unwrap_or_default(),
                    "context": r.resolved_context.clone().unwrap_or_default(),
                    "namespace": r.namespace.clone().or(r.kube_namespace.clone()).unwrap_or("default".into()),
                    "product": "kind",
                }},
                "version": "v1.36.1",
            })
        }
    };
    vec![json!({
        "apiVersion": "tilt.dev/v1alpha1",
        "kind": "Cluster",
        "metadata": meta(r, "default", "(Tiltfile)", 4),
        // `--context` is the only connection setting kilter passes
        "spec": {"connection": {"kubernetes": match &r.context {
            Some(c) => json!({"context": c}),
            None => json!({}),
        }}},
        "status": status,
    })]
}

/// `tilt version`'s line, also the second line `tilt up` prints.
fn version_line(ctx: &Ctx) -> String {
    format!("{}, built 2026-08-08", ctx.knob("tilt_version"))
}
