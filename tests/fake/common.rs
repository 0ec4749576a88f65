//! Shared plumbing: the per-call context, the call log, knobs, the state lock, atomic writes and
//! small encoders.

use std::collections::BTreeMap;
use std::fs::{self, File, OpenOptions};
use std::io::{Read as _, Write as _};
use std::path::{Path, PathBuf};
use std::time::Duration;

use serde::Serialize;
use serde::de::DeserializeOwned;

use crate::timefmt;

/// Exit code for any call the fakes do not support (and for a missing `KILTER_FAKE_STATE`).
pub const UNEXPECTED: i32 = 97;

/// Every knob the fakes understand, with its default (see README.md).
pub const KNOBS: &[(&str, &str)] = &[
    ("latency_ms", "0"),
    ("create_ms", "50"),
    ("ready_delay_ms", "0"),
    // kubectl behind docker-proxy (proxy.rs): the API port is published but not serving until
    // this many ms after the node's last start (`never`: not while running); empty: off
    ("api_proxy_ms", ""),
    // multiplies every wall time of the not-serving kubectl (1.0 = the measured 5.2 s, 65.2 s…)
    ("proxy_time_scale", "1.0"),
    ("node_ready_delay_ms", "0"),
    ("create_fail", "false"),
    ("daemon", "up"),
    ("tilt_ignore_term", "false"),
    ("tilt_fail_start", "false"),
    ("tilt_ci_fail", "false"),
    ("tilt_ci_ms", "0"),
    ("tilt_ci_error", ""),
    ("tilt_start_ms", "0"),
    ("tilt_bind_ms", "0"),
    ("tilt_load_ms", "0"),
    ("tilt_child_ignore_term", "false"),
    ("tilt_term_exits_at_once", "false"),
    ("tilt_child_fork", "false"),
    // Versions the client tools report (`docker --version`, `kind version`, `kubectl version`,
    // `tilt version`); the fake kubectl's server version comes from the node image tag.
    ("docker_version", "28.2.2"),
    ("docker_root_dir", "/var/lib/docker"),
    // `docker info`: MemTotal (bytes) and NCPU; the node object's capacity follows them
    ("mem_total", "8589934592"),
    ("ncpu", "4"),
    // the host's cgroup version as docker reports it: auto (v2 when
    // /sys/fs/cgroup/cgroup.controllers exists), v1 or v2
    ("cgroup", "auto"),
    // comma-separated sysctls the engine's kernel lacks: `docker run --sysctl K=V` of one creates
    // the container and fails to start it, as runc does (e.g. net.ipv4.tcp_migrate_req < 5.14)
    ("kernel_lacks", ""),
    ("kind_version", "v0.32.0"),
    ("kubectl_version", "v1.32.2"),
    ("tilt_version", "v0.37.6"),
    // `kubectl exec` (workloads.rs): where programs are found, and where PostgreSQL clients connect
    ("exec_path", ""),
    ("pg_host", ""),
    ("mysql_socket", ""),
    ("pg_port", ""),
    ("exec_fail_after_bytes", "0"),
    // `kubectl exec` streams: cut the remote's stdout / the remote's stdin after N bytes or N %
    // (`1234`, `60%`; empty: never) and exit 0; and a throughput limit in MB/s (0: none)
    ("exec_cut_stdout", ""),
    ("exec_cut_stdin", ""),
    ("exec_mbps", "0"),
    // pods of Deployments/StatefulSets created by `kubectl apply` are ContainerCreating for this
    // long, then Running and ready (`never`: they never start)
    ("apply_ready_ms", "0"),
    // `real`: node containers live in a real Docker engine (see backend.rs)
    ("docker", "fake"),
    ("real_docker", "/usr/bin/docker"),
    ("node_image", "kilter-test-node:latest"),
];

/// Environment variables recorded in `calls.jsonl` (when present).
const RECORDED_ENV: &[&str] =
    &["KUBECONFIG", "KILTER_PROJECT", "KILTER_NAMESPACE", "KILTER_TILT_PORT", "KILTER_PORT_BASE"];

/// The docker daemon as the fakes see it (knob `daemon`).
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub enum Daemon {
    Up,
    /// docker ≥ 28.1: `docker info --format …` exits 1.
    Down,
    /// docker ≤ 28.0: `docker info --format …` exits 0 with the error on stderr.
    DownOld,
}

/// One invocation of a fake tool.
pub struct Ctx {
    pub tool: String,
    pub args: Vec<String>,
    pub state: PathBuf,
}

impl Ctx {
    /// `unexpected call: <tool> <args>` on stderr, exit 97.
    pub fn unexpected(&self) -> i32 {
        errln!("unexpected call: {}", render_call(&self.tool, &self.args));
        UNEXPECTED
    }

    pub fn knob(&self, key: &str) -> String {
        knob(&self.state, key)
    }

    pub fn knob_u64(&self, key: &str) -> u64 {
        self.knob(key).trim().parse().unwrap_or(0)
    }

    pub fn knob_bool(&self, key: &str) -> bool {
        truthy(&self.knob(key))
    }

    /// A finite, non-negative float knob; anything else (never accepted by `ctl set`) gives
    /// `default`.
    pub fn knob_f64(&self, key: &str, default: f64) -> f64 {
        self.knob(key)
            .trim()
            .parse::<f64>()
            .ok()
            .filter(|f| f.is_finite() && *f >= 0.0)
            .unwrap_or(default)
    }

    /// The host's cgroup version (knob `cgroup`): 1 or 2.
    pub fn cgroup_version(&self) -> u8 {
        match self.knob("cgroup").trim() {
            "v1" | "1" => 1,
            "v2" | "2" => 2,
            _ if Path::new("/sys/fs/cgroup/cgroup.controllers").exists() => 2,
            _ => 1,
        }
    }

    pub fn daemon(&self) -> Daemon {
        match self.knob("daemon").as_str() {
            "down" => Daemon::Down,
            "down-old" => Daemon::DownOld,
            _ => Daemon::Up,
        }
    }

    /// Take the exclusive state lock (released on drop).
    pub fn lock(&self) -> Lock {
        Lock::take(&self.state)
    }
}

pub fn truthy(v: &str) -> bool {
    matches!(v.trim().to_ascii_lowercase().as_str(), "1" | "true" | "yes" | "on")
}

/// `<tool> <argv shell-quoted>`, the call-log line format.
pub fn render_call(tool: &str, args: &[String]) -> String {
    if args.is_empty() {
        return tool.to_string();
    }
    let joined =
        shlex::try_join(args.iter().map(String::as_str)).unwrap_or_else(|_| args.join(" "));
    format!("{tool} {joined}")
}

/// Entry point for the four tool names.
pub fn run_tool(tool: &str, args: Vec<String>) -> i32 {
    let line = render_call(tool, &args);
    if let Some(log) = std::env::var_os("KILTER_SHIM_LOG") {
        append_line(Path::new(&log), &line);
    }
    let Some(state) = std::env::var_os("KILTER_FAKE_STATE") else {
        errln!("fake {tool}: KILTER_FAKE_STATE is not set");
        return UNEXPECTED;
    };
    let state = PathBuf::from(state);
    let _ = fs::create_dir_all(&state);
    record_call(&state, tool, &args);
    let ctx = Ctx { tool: tool.to_string(), args, state };
    let latency = ctx.knob_u64("latency_ms");
    if latency > 0 {
        std::thread::sleep(Duration::from_millis(latency));
    }
    let code = match tool {
        "docker" => crate::docker::main(&ctx),
        "kind" => crate::kind::main(&ctx),
        "kubectl" => crate::kubectl::main(&ctx),
        "tilt" => crate::tilt::main(&ctx),
        _ => ctx.unexpected(),
    };
    record_exit(&ctx.state, code);
    code
}

/// Append one line atomically (single `write_all` on an `O_APPEND` file).
pub fn append_line(path: &Path, line: &str) {
    if let Ok(mut f) = OpenOptions::new().create(true).append(true).open(path) {
        let _ = f.write_all(format!("{line}\n").as_bytes());
    }
}

fn record_call(state: &Path, tool: &str, args: &[String]) {
    let env: BTreeMap<&str, String> =
        RECORDED_ENV.iter().filter_map(|k| std::env::var(k).ok().map(|v| (*k, v))).collect();
    // SAFETY: getpgid(0) has no memory-safety preconditions.
    let pgid = unsafe { libc::getpgid(0) };
    let rec = serde_json::json!({
        "tool": tool,
        "argv": args,
        "env": env,
        "pid": std::process::id(),
        "pgid": pgid,
        "ts_ms": timefmt::now_ms(),
    });
    append_line(&state.join("calls.jsonl"), &rec.to_string());
}

/// The second record of a call, appended when it returns: `{"exit", "pid", "ts_ms"}`. It pairs
/// with the latest call record of the same pid (a pid cannot be reused before this is written).
/// A call killed by a signal, or replaced by the real docker client, leaves none.
fn record_exit(state: &Path, code: i32) {
    let rec = serde_json::json!({
        "exit": code,
        "pid": std::process::id(),
        "ts_ms": timefmt::now_ms(),
    });
    append_line(&state.join("calls.jsonl"), &rec.to_string());
}

/// Knob value: env `KILTER_FAKE_<KEY>` overrides `<state>/knobs.json`, else the default.
pub fn knob(state: &Path, key: &str) -> String {
    if let Ok(v) = std::env::var(format!("KILTER_FAKE_{}", key.to_ascii_uppercase())) {
        return v;
    }
    let knobs: BTreeMap<String, String> = read_json(&state.join("knobs.json"));
    if let Some(v) = knobs.get(key) {
        return v.clone();
    }
    KNOBS.iter().find(|(k, _)| *k == key).map(|(_, d)| d.to_string()).unwrap_or_default()
}

/// Exclusive `flock` on `<state>/.lock`, released when dropped.
pub struct Lock(#[allow(dead_code)] File);

impl Lock {
    pub fn take(state: &Path) -> Lock {
        let _ = fs::create_dir_all(state);
        let f = OpenOptions::new()
            .create(true)
            .truncate(false)
            .write(true)
            .open(state.join(".lock"))
            .expect("open state lock");
        f.lock().expect("lock state");
        Lock(f)
    }
}

/// Write via a temporary file and rename, so readers never see a partial file.
pub fn write_atomic(path: &Path, data: &[u8]) {
    if let Some(dir) = path.parent() {
        let _ = fs::create_dir_all(dir);
    }
    let tmp = path.with_extension(format!("tmp.{}", std::process::id()));
    fs::write(&tmp, data).expect("write temp file");
    fs::rename(&tmp, path).expect("rename temp file");
}

/// Read a JSON file, or `T::default()` when it is missing or empty.
pub fn read_json<T: DeserializeOwned + Default>(path: &Path) -> T {
    match fs::read_to_string(path) {
        Ok(s) if !s.trim().is_empty() => {
            serde_json::from_str(&s).unwrap_or_else(|e| panic!("corrupt {}: {e}", path.display()))
        }
        _ => T::default(),
    }
}

pub fn write_json<T: Serialize>(path: &Path, value: &T) {
    let mut s = serde_json::to_string_pretty(value).expect("serialize state");
    s.push('\n');
    write_atomic(path, s.as_bytes());
}

/// JSON with a 4-space indent (docker inspect, kubectl -o json), no trailing newline.
pub fn pretty4<T: Serialize + ?Sized>(value: &T) -> String {
    let mut buf = Vec::new();
    let fmt = serde_json::ser::PrettyFormatter::with_indent(b"    ");
    let mut ser = serde_json::Serializer::with_formatter(&mut buf, fmt);
    value.serialize(&mut ser).expect("serialize");
    String::from_utf8(buf).expect("utf8")
}

/// `n` random bytes as lowercase hex.
pub fn random_hex(n_bytes: usize) -> String {
    let mut buf = vec![0u8; n_bytes];
    if File::open("/dev/urandom").and_then(|mut f| f.read_exact(&mut buf)).is_err() {
        let seed = timefmt::now_ns() ^ u128::from(std::process::id());
        for (i, b) in buf.iter_mut().enumerate() {
            *b = (seed >> ((i % 16) * 8)) as u8 ^ (i as u8).wrapping_mul(31);
        }
    }
    buf.iter().map(|b| format!("{b:02x}")).collect()
}

/// A random RFC 4122-looking UID.
pub fn random_uid() -> String {
    let h = random_hex(16);
    format!("{}-{}-4{}-a{}-{}", &h[0..8], &h[8..12], &h[13..16], &h[17..20], &h[20..32])
}

/// True if `pid` exists and is not a zombie.
pub fn pid_alive(pid: i32) -> bool {
    if pid <= 0 {
        return false;
    }
    // SAFETY: kill with signal 0 only checks for existence/permission.
    let exists = unsafe { libc::kill(pid, 0) } == 0
        || std::io::Error::last_os_error().raw_os_error() == Some(libc::EPERM);
    if !exists {
        return false;
    }
    match fs::read_to_string(format!("/proc/{pid}/stat")) {
        // state is the field after the parenthesised command name
        Ok(stat) => {
            stat.rsplit_once(')').is_none_or(|(_, rest)| !rest.trim_start().starts_with('Z'))
        }
        Err(_) => true,
    }
}

const B64: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";

pub fn base64_encode(data: &[u8]) -> String {
    let mut out = String::new();
    for chunk in data.chunks(3) {
        let b = [chunk[0], *chunk.get(1).unwrap_or(&0), *chunk.get(2).unwrap_or(&0)];
        let n = (u32::from(b[0]) << 16) | (u32::from(b[1]) << 8) | u32::from(b[2]);
        for i in 0..4 {
            if i <= chunk.len() {
                out.push(B64[((n >> (18 - 6 * i)) & 63) as usize] as char);
            } else {
                out.push('=');
            }
        }
    }
    out
}

pub fn base64_decode(s: &str) -> Option<Vec<u8>> {
    let mut out = Vec::new();
    let mut acc = 0u32;
    let mut bits = 0;
    for c in s.bytes().filter(|c| !c.is_ascii_whitespace() && *c != b'=') {
        let v = B64.iter().position(|x| *x == c)? as u32;
        acc = (acc << 6) | v;
        bits += 6;
        if bits >= 8 {
            bits -= 8;
            out.push((acc >> bits) as u8);
            acc &= (1 << bits) - 1;
        }
    }
    Some(out)
}

/// Is `name` an executable file in some `$PATH` entry?
pub fn on_path(name: &str) -> bool {
    use std::os::unix::fs::PermissionsExt as _;
    let Some(path) = std::env::var_os("PATH") else { return false };
    std::env::split_paths(&path).any(|dir| {
        fs::metadata(dir.join(name))
            .is_ok_and(|m| m.is_file() && m.permissions().mode() & 0o111 != 0)
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn b64_roundtrip() {
        for s in ["", "a", "ab", "abc", "-----BEGIN CERTIFICATE-----\n"] {
            assert_eq!(base64_decode(&base64_encode(s.as_bytes())).unwrap(), s.as_bytes());
        }
        assert!(base64_encode(b"-----BEGIN CERTIFICATE-----").starts_with("LS0tLS1CRUdJTi"));
    }
}
