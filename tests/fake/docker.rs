//! Fake `docker` (client and daemon 28.2.2). See README.md next to this file for every call.

use std::collections::BTreeMap;

use serde_json::{Value, json};

use crate::args::{self, boolean, val};
use crate::common::{Ctx, Daemon, pretty4};
use crate::state::{ClusterStore, Container, Containers};
use crate::timefmt;

pub const CANNOT_CONNECT: &str = "Cannot connect to the Docker daemon at unix:///var/run/docker.sock. Is the docker daemon running?";

const CLIENT_JSON: &str = r#"{"Platform":{"Name":"Docker Engine - Community"},"Version":"28.2.2","ApiVersion":"1.50","DefaultAPIVersion":"1.50","GitCommit":"e6534b4","GoVersion":"go1.24.3","Os":"linux","Arch":"amd64","BuildTime":"Fri May 30 12:07:26 2025","Context":"default"}"#;
const SERVER_JSON: &str = r#"{"Platform":{"Name":"Docker Engine - Community"},"Version":"28.2.2","ApiVersion":"1.50","MinAPIVersion":"1.24","Os":"linux","Arch":"amd64","Components":[{"Name":"Engine","Version":"28.2.2","Details":{"ApiVersion":"1.50","Arch":"amd64","BuildTime":"Fri May 30 12:07:26 2025","Experimental":"false","GitCommit":"45873be","GoVersion":"go1.24.3","KernelVersion":"6.8.0-60-generic","MinAPIVersion":"1.24","Os":"linux"}},{"Name":"containerd","Version":"1.7.27","Details":{"GitCommit":"05044ec0a9a75232cad458027ca83437aae3f4da"}},{"Name":"runc","Version":"1.2.5","Details":{"GitCommit":"v1.2.5-0-g59923ef"}},{"Name":"docker-init","Version":"0.19.0","Details":{"GitCommit":"de40ad0"}}],"GitCommit":"45873be","GoVersion":"go1.24.3","KernelVersion":"6.8.0-60-generic","BuildTime":"2025-05-30T12:07:26.000000000+00:00"}"#;

pub fn main(ctx: &Ctx) -> i32 {
    if let crate::backend::Backend::Real(real) = crate::backend::Backend::of(ctx) {
        // real-Docker backend: pass every call through to the real client (logged above)
        return real.exec(&ctx.args);
    }
    let a = &ctx.args;
    let rest = if a.is_empty() { &[][..] } else { &a[1..] };
    match a.first().map(String::as_str) {
        Some("-v" | "--version") if a.len() == 1 => {
            outln!("Docker version {}, build e6534b4", ctx.knob("docker_version"));
            0
        }
        Some("version") => version(ctx, rest),
        Some("info") => info(ctx, rest),
        Some("inspect") => inspect(ctx, rest, false),
        Some("container") if rest.first().map(String::as_str) == Some("inspect") => {
            inspect(ctx, &rest[1..], true)
        }
        Some("start") => lifecycle(ctx, Op::Start, rest),
        Some("stop") => lifecycle(ctx, Op::Stop, rest),
        Some("kill") => lifecycle(ctx, Op::Kill, rest),
        Some("restart") => lifecycle(ctx, Op::Restart, rest),
        Some("rm") => lifecycle(ctx, Op::Rm, rest),
        Some("ps") => ps(ctx, rest),
        Some("stats") => stats(ctx, rest),
        Some("container") if rest.first().map(String::as_str) == Some("stats") => {
            stats(ctx, &rest[1..])
        }
        _ => ctx.unexpected(),
    }
}

fn version(ctx: &Ctx, rest: &[String]) -> i32 {
    let Ok(p) = args::parse(rest, &[val(&["--format", "-f"])]) else { return ctx.unexpected() };
    if !p.pos.is_empty() || !matches!(p.get("--format"), Some("json" | "{{json .}}")) {
        return ctx.unexpected();
    }
    if ctx.daemon() == Daemon::Up {
        outln!(r#"{{"Client":{CLIENT_JSON},"Server":{SERVER_JSON}}}"#);
        0
    } else {
        outln!(r#"{{"Client":{CLIENT_JSON},"Server":null}}"#);
        errln!("{CANNOT_CONNECT}");
        1
    }
}

fn info_json(ctx: &Ctx, up: bool) -> String {
    let client = json!({
        "Debug": false,
        "Plugins": [],
        "Warnings": null,
    });
    if !up {
        let mut v = json!({
            "ID": "", "Containers": 0, "ContainersRunning": 0, "ContainersPaused": 0,
            "ContainersStopped": 0, "Images": 0, "Driver": "", "DockerRootDir": "",
            "NCPU": 0, "MemTotal": 0,
            "ServerVersion": "", "CgroupDriver": "", "CgroupVersion": "", "ClientInfo": client,
        });
        if ctx.daemon() == Daemon::DownOld {
            v["ServerErrors"] = json!([CANNOT_CONNECT]);
        }
        return v.to_string();
    }
    let cs = Containers::load(&ctx.state);
    let running = cs.containers.values().filter(|c| c.inspect.state.running).count();
    let v1 = ctx.cgroup_version() == 1;
    json!({
        "ID": "7a1f0c33-94f4-4c4b-9e0b-2f1d8c6e5a10",
        "Containers": cs.containers.len(),
        "ContainersRunning": running,
        "ContainersPaused": 0,
        "ContainersStopped": cs.containers.len() - running,
        "Images": 3,
        "Driver": "overlay2",
        "DockerRootDir": ctx.knob("docker_root_dir"),
        "MemoryLimit": true,
        "SwapLimit": true,
        "CPUShares": true,
        "PidsLimit": true,
        "CgroupDriver": if v1 { "cgroupfs" } else { "systemd" },
        "CgroupVersion": if v1 { "1" } else { "2" },
        "KernelVersion": "6.8.0-60-generic",
        "OperatingSystem": "Ubuntu 24.04.2 LTS",
        "OSType": "linux",
        "Architecture": "x86_64",
        "NCPU": ctx.knob_u64("ncpu"),
        "MemTotal": ctx.knob_u64("mem_total"),
        "Name": "fakehost",
        "ServerVersion": "28.2.2",
        "SecurityOptions": ["name=apparmor", "name=seccomp,profile=builtin", "name=cgroupns"],
        "ClientInfo": client,
    })
    .to_string()
}

/// The zero value of every field, as Go prints an `Info` the daemon never filled in.
fn zeroed(v: &Value) -> Value {
    match v {
        Value::String(_) => json!(""),
        Value::Number(_) => json!(0),
        Value::Bool(_) => json!(false),
        Value::Array(_) => json!([]),
        Value::Object(m) => Value::Object(m.iter().map(|(k, v)| (k.clone(), zeroed(v))).collect()),
        Value::Null => Value::Null,
    }
}

/// `docker info --format T`: `{{json .}}` / `json`, or one top-level field `{{.Field}}` (see
/// README).
fn info(ctx: &Ctx, rest: &[String]) -> i32 {
    let Ok(p) = args::parse(rest, &[val(&["--format", "-f"])]) else { return ctx.unexpected() };
    if !p.pos.is_empty() {
        return ctx.unexpected();
    }
    let up = ctx.daemon() == Daemon::Up;
    let body = match p.get("--format") {
        Some("{{json .}}" | "json") => info_json(ctx, up),
        Some(t) => {
            let Some(field) = t
                .trim()
                .strip_prefix("{{")
                .and_then(|t| t.strip_suffix("}}"))
                .map(str::trim)
                .and_then(|f| f.strip_prefix('.'))
                .filter(|f| !f.is_empty() && f.chars().all(|c| c.is_ascii_alphanumeric()))
            else {
                return ctx.unexpected();
            };
            let full: Value = serde_json::from_str(&info_json(ctx, true)).expect("info json");
            // with the daemon down the template still runs, on an empty Info
            let info = if up { full } else { zeroed(&full) };
            match info.get(field) {
                Some(v) => go_print(v),
                None => return ctx.unexpected(),
            }
        }
        None => return ctx.unexpected(),
    };
    // docker 28.x executes the template even when the daemon is down (so stdout is a lone newline
    // for a field template); ≥ 28.1 then exits 1, ≤ 28.0 exits 0.
    outln!("{body}");
    match ctx.daemon() {
        Daemon::Up => 0,
        Daemon::Down => {
            errln!("{CANNOT_CONNECT}");
            1
        }
        Daemon::DownOld => {
            errln!("{CANNOT_CONNECT}");
            0
        }
    }
}

// ---------------------------------------------------------------------------------------------
// Go-template subset.

enum Seg {
    Text(String),
    Action(String),
}

/// Split `a{{ x }}b` into text and trimmed actions; None on unbalanced braces.
fn parse_template(t: &str) -> Option<Vec<Seg>> {
    let mut segs = Vec::new();
    let mut rest = t;
    while let Some(start) = rest.find("{{") {
        if start > 0 {
            segs.push(Seg::Text(rest[..start].to_string()));
        }
        let end = rest[start..].find("}}")? + start;
        segs.push(Seg::Action(rest[start + 2..end].trim().to_string()));
        rest = &rest[end + 2..];
    }
    if rest.contains("}}") {
        return None;
    }
    if !rest.is_empty() {
        segs.push(Seg::Text(rest.to_string()));
    }
    Some(segs)
}

/// Go's default printing of a value inside a template.
fn go_print(v: &Value) -> String {
    match v {
        Value::String(s) => s.clone(),
        Value::Null => "<no value>".into(),
        Value::Array(a) => format!("[{}]", a.iter().map(go_print).collect::<Vec<_>>().join(" ")),
        Value::Object(m) => {
            format!(
                "map[{}]",
                m.iter().map(|(k, v)| format!("{k}:{}", go_print(v))).collect::<Vec<_>>().join(" ")
            )
        }
        other => other.to_string(),
    }
}

/// Split `"a b" c` into Go template words (quoted strings kept as literals).
fn words(action: &str) -> Vec<String> {
    shlex::split(action).unwrap_or_default()
}

enum Eval {
    Ok(String),
    /// Template is valid Go but fails at execution (real docker: exit 1 / 64).
    ExecError(String),
    /// Outside the supported subset → unexpected call.
    Unsupported,
}

/// Evaluate one inspect action against the container. Supported: `.A.B`, `json .A.B`,
/// `index .A.B "key"`, `json (index .A.B "key")` is not.
fn inspect_action(c: &Container, action: &str) -> Eval {
    let w = words(action);
    let typed = serde_json::to_value(&c.inspect).expect("inspect to value");
    let lookup = |path: &str| -> Result<Value, String> {
        if path == "." {
            return Ok(typed.clone());
        }
        let mut cur = &typed;
        for part in path.trim_start_matches('.').split('.') {
            cur = cur.get(part).ok_or_else(|| format!("map has no entry for key \"{part}\""))?;
        }
        Ok(cur.clone())
    };
    let at = |e: String| Eval::ExecError(format!("<{action}>: {e}"));
    match w.iter().map(String::as_str).collect::<Vec<_>>().as_slice() {
        ["json", "."] => Eval::Ok(serde_json::to_string(&c.inspect).expect("json")),
        ["json", p] if p.starts_with('.') => match lookup(p) {
            Ok(v) => Eval::Ok(json_of_path(c, p, &v)),
            Err(e) => at(e),
        },
        [p] if p.starts_with('.') => match lookup(p) {
            Ok(v) => Eval::Ok(go_print(&v)),
            Err(e) => at(e),
        },
        ["index", p, key] if p.starts_with('.') => match lookup(p) {
            Ok(Value::Object(m)) => Eval::Ok(m.get(*key).map(go_print).unwrap_or_default()),
            Ok(_) => at("error calling index: cannot index slice/array with type string".into()),
            Err(e) => at(e),
        },
        _ => Eval::Unsupported,
    }
}

/// `json .X` keeps the daemon's field order for the top-level sub-structs.
fn json_of_path(c: &Container, path: &str, v: &Value) -> String {
    let i = &c.inspect;
    match path {
        ".State" => serde_json::to_string(&i.state),
        ".HostConfig" => serde_json::to_string(&i.host_config),
        ".Config" => serde_json::to_string(&i.config),
        ".NetworkSettings" => serde_json::to_string(&i.network_settings),
        _ => serde_json::to_string(v),
    }
    .expect("json")
}

fn render_inspect(c: &Container, segs: &[Seg]) -> Eval {
    let mut out = String::new();
    for s in segs {
        match s {
            Seg::Text(t) => out.push_str(t),
            Seg::Action(a) => match inspect_action(c, a) {
                Eval::Ok(v) => out.push_str(&v),
                other => return other,
            },
        }
    }
    Eval::Ok(out)
}

// ---------------------------------------------------------------------------------------------

fn inspect(ctx: &Ctx, rest: &[String], container_cmd: bool) -> i32 {
    let spec = [val(&["--type"]), val(&["--format", "-f"]), boolean(&["--size", "-s"])];
    let Ok(p) = args::parse(rest, &spec) else { return ctx.unexpected() };
    let container_only = container_cmd || p.get("--type") == Some("container");
    if p.get("--type").is_some_and(|t| t != "container") || p.pos.is_empty() || p.rest.is_some() {
        return ctx.unexpected();
    }
    let format = p.get("--format").filter(|f| !f.is_empty());
    let segs = match format {
        None | Some("json") => None,
        Some(f) => match parse_template(f) {
            Some(s) => Some(s),
            None => return ctx.unexpected(),
        },
    };
    let compact = format == Some("json");
    let not_found = |name: &str| {
        if container_only {
            format!("Error response from daemon: No such container: {name}")
        } else {
            format!("Error: No such object: {name}")
        }
    };

    if ctx.daemon() != Daemon::Up {
        outln!("{}", if segs.is_some() { "" } else { "[]" });
        errln!("{CANNOT_CONNECT}");
        return 1;
    }
    let cs = {
        let _l = ctx.lock();
        Containers::load(&ctx.state)
    };
    let mut found: Vec<&Container> = Vec::new();
    let mut errors: Vec<String> = Vec::new();
    let mut lines: Vec<String> = Vec::new();
    for name in &p.pos {
        let Some(key) = cs.find(name) else {
            errors.push(not_found(name));
            continue;
        };
        let c = &cs.containers[key];
        match &segs {
            None => found.push(c),
            Some(segs) => match render_inspect(c, segs) {
                Eval::Ok(s) => lines.push(s),
                Eval::ExecError(e) => {
                    errors.push(format!(
                        "template parsing error: template: :1:2: executing \"\" at {e}"
                    ));
                }
                Eval::Unsupported => return ctx.unexpected(),
            },
        }
    }
    if segs.is_some() {
        if lines.is_empty() {
            outln!();
        } else {
            for l in &lines {
                outln!("{l}");
            }
        }
    } else if compact {
        outln!(
            "{}",
            serde_json::to_string(&found.iter().map(|c| &c.inspect).collect::<Vec<_>>())
                .expect("json")
        );
    } else if found.is_empty() {
        outln!("[]");
    } else {
        outln!("{}", pretty4(&found.iter().map(|c| &c.inspect).collect::<Vec<_>>()));
    }
    if errors.is_empty() {
        0
    } else {
        errln!("{}", errors.join("\n"));
        1
    }
}

#[derive(Clone, Copy, PartialEq, Eq)]
enum Op {
    Start,
    Stop,
    Kill,
    Restart,
    Rm,
}

fn lifecycle(ctx: &Ctx, op: Op, rest: &[String]) -> i32 {
    let spec: Vec<args::Flag> = match op {
        Op::Start => vec![],
        Op::Stop | Op::Restart => vec![val(&["--timeout", "-t"]), val(&["--signal", "-s"])],
        Op::Kill => vec![val(&["--signal", "-s"])],
        Op::Rm => vec![boolean(&["--force", "-f"]), boolean(&["--volumes", "-v"])],
    };
    let Ok(p) = args::parse(rest, &spec) else { return ctx.unexpected() };
    if p.pos.is_empty() || p.rest.is_some() {
        return ctx.unexpected();
    }
    if let Some(t) = p.get("--timeout")
        && t.parse::<i64>().is_err()
    {
        return ctx.unexpected();
    }
    let force = p.has("--force");
    let mut errors: Vec<String> = Vec::new();
    let mut failed: Vec<String> = Vec::new();

    if ctx.daemon() != Daemon::Up {
        for name in &p.pos {
            if op == Op::Start {
                errln!("{CANNOT_CONNECT}");
            } else {
                errors.push(CANNOT_CONNECT.to_string());
            }
            failed.push(name.clone());
        }
    } else {
        let _l = ctx.lock();
        let mut cs = Containers::load(&ctx.state);
        for name in &p.pos {
            let Some(key) = cs.find(name).map(str::to_string) else {
                let e = format!("Error response from daemon: No such container: {name}");
                match op {
                    Op::Start => errln!("{e}"),
                    Op::Rm if force => errln!("{e}"),
                    _ => errors.push(e),
                }
                if !(op == Op::Rm && force) {
                    failed.push(name.clone());
                }
                continue;
            };
            let result = match op {
                Op::Start => start_one(&mut cs, &key),
                Op::Stop => {
                    let c = cs.containers.get_mut(&key).expect("container");
                    if c.inspect.state.running {
                        // kind nodes ignore STOPSIGNAL long enough to be SIGKILLed: exit 137.
                        c.stop(137, false);
                    }
                    Ok(())
                }
                Op::Kill => {
                    let c = cs.containers.get_mut(&key).expect("container");
                    if c.inspect.state.running {
                        c.stop(137, false);
                        Ok(())
                    } else {
                        Err(format!(
                            "Error response from daemon: cannot kill container: {name}: container {} is not running",
                            c.inspect.id
                        ))
                    }
                }
                Op::Restart => {
                    let c = cs.containers.get_mut(&key).expect("container");
                    if c.inspect.state.running {
                        c.stop(137, false);
                    }
                    start_one(&mut cs, &key)
                }
                Op::Rm => {
                    let c = &cs.containers[&key];
                    if c.inspect.state.running && !force {
                        Err(format!(
                            "Error response from daemon: cannot remove container \"{name}\": container is running: stop the container before removing or force remove"
                        ))
                    } else {
                        let id = c.inspect.id.clone();
                        cs.containers.remove(&key);
                        ClusterStore::for_container(&ctx.state, &id).remove();
                        Ok(())
                    }
                }
            };
            match result {
                Ok(()) => outln!("{name}"),
                Err(e) => {
                    if op == Op::Start {
                        errln!("{e}");
                    } else {
                        errors.push(e);
                    }
                    failed.push(name.clone());
                }
            }
        }
        cs.save(&ctx.state);
    }
    if op == Op::Start {
        if failed.is_empty() {
            return 0;
        }
        errln!("Error: failed to start containers: {}", failed.join(", "));
        return 1;
    }
    if errors.is_empty() {
        0
    } else {
        errln!("{}", errors.join("\n"));
        1
    }
}

/// Start one container unless another running container already holds one of its host ports.
fn start_one(cs: &mut Containers, key: &str) -> Result<(), String> {
    if cs.containers[key].inspect.state.running {
        return Ok(());
    }
    let others: Vec<(String, String)> = {
        let mut tmp = Containers::default();
        for (k, c) in &cs.containers {
            if k != key {
                tmp.containers.insert(k.clone(), c.clone());
            }
        }
        tmp.used_host_ports()
    };
    let c = cs.containers.get_mut(key).expect("container");
    for b in c.inspect.host_config.port_bindings.values().flatten() {
        if others.iter().any(|(ip, port)| {
            port == &b.host_port && (ip == &b.host_ip || ip == "0.0.0.0" || b.host_ip == "0.0.0.0")
        }) {
            return Err(format!(
                "Error response from daemon: driver failed programming external connectivity on endpoint {} ({}): Bind for {}:{} failed: port is already allocated",
                c.name(),
                &c.inspect.id,
                b.host_ip,
                b.host_port
            ));
        }
    }
    c.start();
    Ok(())
}

// ---------------------------------------------------------------------------------------------
// docker ps

/// docker's `DisplayablePorts`: same-port mappings grouped into ranges, others listed last.
pub fn displayable_ports(c: &Container) -> String {
    struct P {
        ip: String,
        private: u16,
        public: u16,
        proto: String,
    }
    let mut ports: Vec<P> = Vec::new();
    for (k, binds) in &c.inspect.network_settings.ports {
        let (port, proto) = k.split_once('/').unwrap_or((k, "tcp"));
        let private: u16 = port.parse().unwrap_or(0);
        for b in binds {
            ports.push(P {
                ip: b.host_ip.clone(),
                private,
                public: b.host_port.parse().unwrap_or(0),
                proto: proto.into(),
            });
        }
    }
    ports.sort_by(|a, b| {
        (a.private, &a.ip, a.public, &a.proto).cmp(&(b.private, &b.ip, b.public, &b.proto))
    });
    let mut groups: Vec<(String, u16, u16)> = Vec::new(); // (key, first, last) in creation order
    let mut result: Vec<String> = Vec::new();
    let mut host_mappings: Vec<String> = Vec::new();
    let form = |key: &str, first: u16, last: u16| {
        let (ip, proto) = match key.split_once('/') {
            Some((ip, proto)) => (Some(ip), proto),
            None => (None, key),
        };
        let mut g = first.to_string();
        if first != last {
            g = format!("{g}-{last}");
        }
        if let Some(ip) = ip {
            let host = if ip.contains(':') { format!("[{ip}]:{g}") } else { format!("{ip}:{g}") };
            g = format!("{host}->{g}");
        }
        format!("{g}/{proto}")
    };
    for p in &ports {
        let mut key = p.proto.clone();
        if !p.ip.is_empty() {
            if p.public != p.private {
                let host = if p.ip.contains(':') { format!("[{}]", p.ip) } else { p.ip.clone() };
                host_mappings.push(format!("{host}:{}->{}/{}", p.public, p.private, p.proto));
                continue;
            }
            key = format!("{}/{}", p.ip, p.proto);
        }
        match groups.iter_mut().find(|g| g.0 == key) {
            None => groups.push((key, p.private, p.private)),
            Some(g) if p.private == g.2 + 1 => g.2 = p.private,
            Some(g) => {
                result.push(form(&g.0, g.1, g.2));
                g.1 = p.private;
                g.2 = p.private;
            }
        }
    }
    for g in &groups {
        result.push(form(&g.0, g.1, g.2));
    }
    result.extend(host_mappings);
    result.join(", ")
}

fn ellipsis(s: &str, max: usize) -> String {
    if s.chars().count() <= max {
        return s.to_string();
    }
    let mut out: String = s.chars().take(max - 1).collect();
    out.push('…');
    out
}

/// The `docker ps` row: alphabetical keys, string values (plus docker 28.2's `Platform: null`).
fn ps_row(c: &Container, trunc: bool) -> BTreeMap<String, Value> {
    let now = timefmt::now_ms();
    let i = &c.inspect;
    let command = format!("{} {}", i.path, i.args.join(" "));
    let status = match i.state.status.as_str() {
        "running" => {
            format!("Up {}", timefmt::human_duration(now.saturating_sub(c.meta.started_ms)))
        }
        "exited" => format!(
            "Exited ({}) {} ago",
            i.state.exit_code,
            timefmt::human_duration(now.saturating_sub(c.meta.finished_ms))
        ),
        "created" => "Created".to_string(),
        other => other.to_string(),
    };
    let labels: Vec<String> = i.config.labels.iter().map(|(k, v)| format!("{k}={v}")).collect();
    let mounts: Vec<String> = i
        .mounts
        .iter()
        .map(|m| {
            let n = m.name.clone().unwrap_or_else(|| m.source.clone());
            if trunc { ellipsis(&n, 15) } else { n }
        })
        .collect();
    let local = i.mounts.iter().filter(|m| m.driver.as_deref() == Some("local")).count();
    let s = |v: String| Value::String(v);
    BTreeMap::from([
        (
            "Command".into(),
            s(format!("{:?}", if trunc { ellipsis(&command, 20) } else { command })),
        ),
        ("CreatedAt".into(), s(timefmt::go_time_string(c.meta.created_ms))),
        ("ID".into(), s(if trunc { i.id[..12].to_string() } else { i.id.clone() })),
        ("Image".into(), s(i.config.image.split('@').next().unwrap_or_default().to_string())),
        ("Labels".into(), s(labels.join(","))),
        ("LocalVolumes".into(), s(local.to_string())),
        ("Mounts".into(), s(mounts.join(","))),
        ("Names".into(), s(c.name().to_string())),
        (
            "Networks".into(),
            s(i.network_settings.networks.keys().cloned().collect::<Vec<_>>().join(",")),
        ),
        ("Platform".into(), Value::Null),
        ("Ports".into(), s(displayable_ports(c))),
        (
            "RunningFor".into(),
            s(format!("{} ago", timefmt::human_duration(now.saturating_sub(c.meta.created_ms)))),
        ),
        ("Size".into(), s("1.24MB (virtual 1.05GB)".into())),
        ("State".into(), s(i.state.status.clone())),
        ("Status".into(), s(status)),
    ])
}

/// Minimal regexp for `--filter name=…`: optional `^`/`$` anchors, `.` wildcard, `\.` escapes.
/// Returns None for anything fancier (the caller reports an unexpected call).
fn name_matches(pattern: &str, name: &str) -> Option<bool> {
    let (anchored_start, p) = match pattern.strip_prefix('^') {
        Some(p) => (true, p),
        None => (false, pattern),
    };
    let (anchored_end, p) = match p.strip_suffix('$').filter(|q| !q.ends_with('\\')) {
        Some(q) => (true, q),
        None => (false, p),
    };
    // tokens: Some(c) literal, None any char
    let mut toks: Vec<Option<char>> = Vec::new();
    let mut chars = p.chars();
    while let Some(ch) = chars.next() {
        match ch {
            '\\' => toks.push(Some(chars.next()?)),
            '.' => toks.push(None),
            '*' | '+' | '?' | '[' | ']' | '(' | ')' | '{' | '}' | '|' | '^' | '$' => return None,
            c => toks.push(Some(c)),
        }
    }
    let hay: Vec<char> = name.chars().collect();
    let matches_at = |start: usize| -> bool {
        if start + toks.len() > hay.len() {
            return false;
        }
        let ok = toks.iter().enumerate().all(|(k, t)| t.is_none_or(|c| hay[start + k] == c));
        ok && (!anchored_end || start + toks.len() == hay.len())
    };
    Some(if anchored_start { matches_at(0) } else { (0..=hay.len()).any(matches_at) })
}

fn ps(ctx: &Ctx, rest: &[String]) -> i32 {
    let spec = [
        boolean(&["--all", "-a"]),
        boolean(&["--no-trunc"]),
        boolean(&["--quiet", "-q"]),
        val(&["--filter", "-f"]),
        val(&["--format"]),
    ];
    let Ok(p) = args::parse(rest, &spec) else { return ctx.unexpected() };
    if !p.pos.is_empty() || p.rest.is_some() {
        return ctx.unexpected();
    }
    let trunc = !p.has("--no-trunc");
    let format = if p.has("--quiet") {
        "{{.ID}}".to_string()
    } else {
        match p.get("--format") {
            Some("json") => "{{json .}}".to_string(),
            // docker's preFormat: trim spaces, unescape \t and \n
            Some(f) if f.starts_with("table") => return ctx.unexpected(),
            Some(f) => f.trim_matches(' ').replace("\\t", "\t").replace("\\n", "\n"),
            None => return ctx.unexpected(), // the human table is not supported
        }
    };
    let Some(segs) = parse_template(&format) else { return ctx.unexpected() };

    // filters
    let mut labels: Vec<(String, Option<String>)> = Vec::new();
    let mut names: Vec<String> = Vec::new();
    let mut statuses: Vec<String> = Vec::new();
    for f in p.all("--filter") {
        let Some((k, v)) = f.split_once('=') else {
            errln!("Error response from daemon: invalid filter '{f}'");
            return 1;
        };
        match k {
            "label" => labels.push(match v.split_once('=') {
                Some((lk, lv)) => (lk.to_string(), Some(lv.to_string())),
                None => (v.to_string(), None),
            }),
            "name" => names.push(v.to_string()),
            "status" => statuses.push(v.to_string()),
            _ => {
                errln!("Error response from daemon: invalid filter '{k}'");
                return 1;
            }
        }
    }
    if ctx.daemon() != Daemon::Up {
        errln!("{CANNOT_CONNECT}");
        return 1;
    }
    let cs = {
        let _l = ctx.lock();
        Containers::load(&ctx.state)
    };
    let mut rows: Vec<&Container> = Vec::new();
    for c in cs.containers.values() {
        if !p.has("--all") && statuses.is_empty() && !c.inspect.state.running {
            continue;
        }
        let lab = &c.inspect.config.labels;
        if !labels.iter().all(|(k, v)| match v {
            Some(v) => lab.get(k) == Some(v),
            None => lab.contains_key(k),
        }) {
            continue;
        }
        if !names.is_empty() {
            let mut any = false;
            for n in &names {
                let full = format!("/{}", c.name());
                match (name_matches(n, c.name()), name_matches(n, &full)) {
                    (Some(a), Some(b)) => any |= a || b,
                    _ => return ctx.unexpected(),
                }
            }
            if !any {
                continue;
            }
        }
        if !statuses.is_empty() && !statuses.iter().any(|s| s == &c.inspect.state.status) {
            continue;
        }
        rows.push(c);
    }
    rows.sort_by_key(|c| std::cmp::Reverse(c.meta.created_ms));
    for c in rows {
        let row = ps_row(c, trunc);
        let mut line = String::new();
        for s in &segs {
            match s {
                Seg::Text(t) => line.push_str(t),
                Seg::Action(a) => {
                    let w = words(a);
                    match w.iter().map(String::as_str).collect::<Vec<_>>().as_slice() {
                        ["json", "."] => line.push_str(&serde_json::to_string(&row).expect("json")),
                        [".Label", key] => line.push_str(
                            c.inspect.config.labels.get(*key).map(String::as_str).unwrap_or(""),
                        ),
                        [field] if field.starts_with('.') => match row.get(&field[1..]) {
                            Some(v) => line.push_str(&go_print(v)),
                            None => {
                                errln!(
                                    "template parsing error: template: :1:2: executing \"\" at <{field}>: can't evaluate field {} in type *formatter.ContainerContext",
                                    &field[1..]
                                );
                                return 64;
                            }
                        },
                        _ => return ctx.unexpected(),
                    }
                }
            }
        }
        outln!("{line}");
    }
    0
}

// ---------------------------------------------------------------------------------------------
// docker stats

/// Usage of a running node unless `fake-tool ctl stats` said otherwise.
pub const DEFAULT_CPU_PERC: f64 = 2.5;
pub const DEFAULT_MEM_BYTES: u64 = 650 * 1024 * 1024;
const NET_RX: f64 = 12_345_678.0;
const NET_TX: f64 = 4_567_890.0;
const BLOCK_READ: f64 = 98_765_432.0;
const BLOCK_WRITE: f64 = 123_456_789.0;
const PIDS: u64 = 220;

/// Per-container overrides written by `fake-tool ctl stats NAME --cpu P --mem BYTES`.
#[derive(serde::Serialize, serde::Deserialize, Clone, Copy, Debug, Default)]
pub struct StatsOverride {
    pub cpu: Option<f64>,
    pub mem: Option<u64>,
}

pub fn stats_path(state: &std::path::Path) -> std::path::PathBuf {
    state.join("stats.json")
}

/// Go's `%.<prec>g` for a finite, non-negative value.
fn go_g(x: f64, prec: usize) -> String {
    if x == 0.0 {
        return "0".into();
    }
    let e = format!("{:.*e}", prec - 1, x); // "1.235e3"
    let (mant, exp) = e.split_once('e').unwrap_or((&e, "0"));
    let exp: i32 = exp.parse().unwrap_or(0);
    let trim = |s: &str| -> String {
        if s.contains('.') {
            s.trim_end_matches('0').trim_end_matches('.').to_string()
        } else {
            s.to_string()
        }
    };
    if exp < -4 || exp >= prec as i32 {
        let sign = if exp < 0 { '-' } else { '+' };
        format!("{}e{sign}{:02}", trim(mant), exp.abs())
    } else {
        trim(&format!("{:.*}", (prec as i32 - 1 - exp).max(0) as usize, x))
    }
}

/// go-units `BytesSize`: binary units, 4 significant digits (`650MiB`, `7.629GiB`).
pub fn bytes_size(size: f64) -> String {
    const UNITS: [&str; 9] = ["B", "KiB", "MiB", "GiB", "TiB", "PiB", "EiB", "ZiB", "YiB"];
    let (mut size, mut i) = (size, 0);
    while size >= 1024.0 && i < UNITS.len() - 1 {
        size /= 1024.0;
        i += 1;
    }
    format!("{}{}", go_g(size, 4), UNITS[i])
}

/// go-units `HumanSizeWithPrecision(size, 3)`: decimal units (`12.3MB`, `0B`).
pub fn human_size3(size: f64) -> String {
    const UNITS: [&str; 9] = ["B", "kB", "MB", "GB", "TB", "PB", "EB", "ZB", "YB"];
    let (mut size, mut i) = (size, 0);
    while size >= 1000.0 && i < UNITS.len() - 1 {
        size /= 1000.0;
        i += 1;
    }
    format!("{}{}", go_g(size, 3), UNITS[i])
}

/// One `docker stats` row (docker's statsContext: alphabetical keys, string values). A stopped
/// container has no data: the daemon answers with zeros, which the CLI prints as such.
fn stats_row(
    c: &Container,
    container: &str,
    trunc: bool,
    over: StatsOverride,
    mem_total: u64,
) -> BTreeMap<String, Value> {
    let running = c.inspect.state.running;
    let (cpu, mem, limit) = if running {
        (
            over.cpu.unwrap_or(DEFAULT_CPU_PERC),
            over.mem.unwrap_or(DEFAULT_MEM_BYTES) as f64,
            mem_total as f64,
        )
    } else {
        (0.0, 0.0, 0.0)
    };
    let mem_perc = if limit > 0.0 { mem / limit * 100.0 } else { 0.0 };
    let io = |a: f64, b: f64| {
        if running { format!("{} / {}", human_size3(a), human_size3(b)) } else { "0B / 0B".into() }
    };
    let id = &c.inspect.id;
    let s = |v: String| Value::String(v);
    BTreeMap::from([
        ("BlockIO".into(), s(io(BLOCK_READ, BLOCK_WRITE))),
        ("CPUPerc".into(), s(format!("{cpu:.2}%"))),
        ("Container".into(), s(container.to_string())),
        ("ID".into(), s(if trunc { id[..12].to_string() } else { id.clone() })),
        ("MemPerc".into(), s(format!("{mem_perc:.2}%"))),
        ("MemUsage".into(), s(format!("{} / {}", bytes_size(mem), bytes_size(limit)))),
        ("Name".into(), s(c.name().to_string())),
        ("NetIO".into(), s(io(NET_RX, NET_TX))),
        ("PIDs".into(), s(if running { PIDS.to_string() } else { "0".into() })),
    ])
}

/// `docker stats --no-stream [-a] [--no-trunc] --format T [NAME…]` (docker 28's `RunStats`).
fn stats(ctx: &Ctx, rest: &[String]) -> i32 {
    let spec = [
        boolean(&["--all", "-a"]),
        boolean(&["--no-stream"]),
        boolean(&["--no-trunc"]),
        val(&["--format"]),
    ];
    let Ok(p) = args::parse(rest, &spec) else { return ctx.unexpected() };
    // streaming redraws the screen forever; the human table is not modelled
    if !p.has("--no-stream") || p.rest.is_some() {
        return ctx.unexpected();
    }
    let format = match p.get("--format") {
        Some("json") => "{{json .}}".to_string(),
        Some(f) if !f.starts_with("table") => {
            f.trim_matches(' ').replace("\\t", "\t").replace("\\n", "\n")
        }
        _ => return ctx.unexpected(),
    };
    let Some(segs) = parse_template(&format) else { return ctx.unexpected() };
    let trunc = !p.has("--no-trunc");
    if ctx.daemon() != Daemon::Up {
        // one error per container asked for (joined), or the failed container listing
        for _ in 0..p.pos.len().max(1) {
            errln!("{CANNOT_CONNECT}");
        }
        return 1;
    }
    let (cs, overrides) = {
        let _l = ctx.lock();
        let o: BTreeMap<String, StatsOverride> = crate::common::read_json(&stats_path(&ctx.state));
        (Containers::load(&ctx.state), o)
    };
    let mem_total = ctx.knob_u64("mem_total");
    let mut rows: Vec<(&Container, String)> = Vec::new();
    if p.pos.is_empty() {
        let mut list: Vec<&Container> =
            cs.containers.values().filter(|c| p.has("--all") || c.inspect.state.running).collect();
        list.sort_by_key(|c| std::cmp::Reverse(c.meta.created_ms));
        rows = list.into_iter().map(|c| (c, c.inspect.id[..12].to_string())).collect();
    } else {
        let mut errors = Vec::new();
        let mut seen: Vec<&str> = Vec::new();
        for name in &p.pos {
            if seen.contains(&name.as_str()) {
                continue; // the CLI collects each argument once
            }
            seen.push(name);
            match cs.find(name) {
                Some(k) => rows.push((&cs.containers[k], name.clone())),
                None => {
                    errors.push(format!("Error response from daemon: No such container: {name}"))
                }
            }
        }
        // any error fails the whole command before a single row is printed
        if !errors.is_empty() {
            errln!("{}", errors.join("\n"));
            return 1;
        }
    }
    for (c, container) in rows {
        let over = overrides.get(c.name()).copied().unwrap_or_default();
        let row = stats_row(c, &container, trunc, over, mem_total);
        let mut line = String::new();
        for seg in &segs {
            match seg {
                Seg::Text(t) => line.push_str(t),
                Seg::Action(a) => {
                    match words(a).iter().map(String::as_str).collect::<Vec<_>>().as_slice() {
                        ["json", "."] => line.push_str(&serde_json::to_string(&row).expect("json")),
                        [field] if field.starts_with('.') => match row.get(&field[1..]) {
                            Some(v) => line.push_str(&go_print(v)),
                            None => {
                                errln!(
                                    "template parsing error: template: :1:2: executing \"\" at <{field}>: can't evaluate field {} in type *container.statsContext",
                                    &field[1..]
                                );
                                return 64;
                            }
                        },
                        _ => return ctx.unexpected(),
                    }
                }
            }
        }
        outln!("{line}");
    }
    0
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn go_units_sizes() {
        assert_eq!(bytes_size(650.0 * 1024.0 * 1024.0), "650MiB");
        assert_eq!(bytes_size(8_589_934_592.0), "8GiB");
        assert_eq!(bytes_size(8_158_400_512.0), "7.598GiB");
        assert_eq!(bytes_size(0.0), "0B");
        assert_eq!(bytes_size(1536.0), "1.5KiB");
        assert_eq!(human_size3(12_345_678.0), "12.3MB");
        assert_eq!(human_size3(4_567_890.0), "4.57MB");
        assert_eq!(human_size3(123_456_789.0), "123MB");
        assert_eq!(human_size3(999.6), "1e+03B");
        assert_eq!(human_size3(0.0), "0B");
    }

    #[test]
    fn regex_subset() {
        assert_eq!(name_matches("^kilter-a-control-plane$", "kilter-a-control-plane"), Some(true));
        assert_eq!(name_matches("^kilter-a$", "kilter-a-control-plane"), Some(false));
        assert_eq!(name_matches("control", "kilter-a-control-plane"), Some(true));
        assert_eq!(name_matches("a.*", "x"), None);
    }
}
