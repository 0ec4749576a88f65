//! Fake `docker` verbs for service containers, volumes, networks and `exec` (docker 28.2.2;
//! messages measured against a real engine, see tests/fake/README.md "docker"):
//! `run -d`, `volume create|ls|inspect|rm`, `network inspect|connect`, and `exec` of
//! `mkdir -p`, `cp /dev/stdin FILE` and `cat FILE…` against a per-container file map.

use std::collections::{BTreeMap, BTreeSet};
use std::io::Read as _;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};
use serde_json::json;

use crate::args::{self, boolean, val};
use crate::common::{Ctx, Daemon, pretty4, random_hex, read_json, write_json};
use crate::docker::CANNOT_CONNECT;
use crate::state::{Container, Containers, Endpoint, Mount, PortBinding};
use crate::timefmt;

const RUN_HELP: &str = "Run 'docker run --help' for more information";

// ---------------------------------------------------------------------------------------------
// State: `<state>/networks.json`, `<state>/volumes.json`, `<state>/files/<container id>.json`.

#[derive(Serialize, Deserialize, Default)]
pub struct Networks {
    pub names: BTreeSet<String>,
}

impl Networks {
    pub fn load(state: &Path) -> Networks {
        read_json(&state.join("networks.json"))
    }
    pub fn save(&self, state: &Path) {
        write_json(&state.join("networks.json"), self);
    }
}

/// kind creates its network with the first cluster (tests/fake/kind.rs calls this).
pub fn ensure_kind_network(state: &Path) {
    let mut n = Networks::load(state);
    if n.names.insert("kind".into()) {
        n.save(state);
    }
}

#[derive(Serialize, Deserialize, Clone)]
pub struct Volume {
    pub labels: BTreeMap<String, String>,
    pub created: String,
}

#[derive(Serialize, Deserialize, Default)]
pub struct Volumes {
    pub volumes: BTreeMap<String, Volume>,
}

impl Volumes {
    fn load(state: &Path) -> Volumes {
        read_json(&state.join("volumes.json"))
    }
    fn save(&self, state: &Path) {
        write_json(&state.join("volumes.json"), self);
    }
    fn create(&mut self, name: &str, labels: BTreeMap<String, String>) {
        self.volumes
            .entry(name.to_string())
            .or_insert(Volume { labels, created: timefmt::rfc3339_secs(timefmt::now_ms()) });
    }
}

/// A container's files (what `exec` wrote) and directories.
#[derive(Serialize, Deserialize, Default)]
pub struct Files {
    pub dirs: BTreeSet<String>,
    pub files: BTreeMap<String, String>,
}

fn files_path(state: &Path, id: &str) -> PathBuf {
    state.join("files").join(format!("{id}.json"))
}

impl Files {
    pub fn load(state: &Path, id: &str) -> Files {
        let mut f: Files = read_json(&files_path(state, id));
        for d in ["/", "/etc", "/etc/containerd", "/tmp", "/var", "/dev"] {
            f.dirs.insert(d.into());
        }
        f
    }
    fn save(&self, state: &Path, id: &str) {
        write_json(&files_path(state, id), self);
    }
}

fn parent(path: &str) -> String {
    match path.rsplit_once('/') {
        Some(("", _)) => "/".into(),
        Some((p, _)) => p.into(),
        None => ".".into(),
    }
}

// ---------------------------------------------------------------------------------------------
// docker run

pub fn run(ctx: &Ctx, rest: &[String]) -> i32 {
    let spec = [
        boolean(&["--detach", "-d"]),
        val(&["--name"]),
        val(&["--restart"]),
        val(&["--publish", "-p"]),
        val(&["--volume", "-v"]),
        val(&["--env", "-e"]),
        val(&["--network", "--net"]),
        val(&["--label", "-l"]),
        val(&["--sysctl"]),
    ];
    // The image's own command, or the router's `caddy run --config FILE` after the image.
    let (rest, command) = split_caddy_command(rest);
    let Ok(p) = args::parse(rest, &spec) else { return ctx.unexpected() };
    // Only detached runs.
    let (Some(name), true, [image]) = (p.get("--name"), p.has("--detach"), p.pos.as_slice()) else {
        return ctx.unexpected();
    };
    if p.rest.is_some() {
        return ctx.unexpected();
    }
    if ctx.daemon() != Daemon::Up {
        errln!("docker: {CANNOT_CONNECT}\n\n{RUN_HELP}");
        return 125;
    }
    let restart = p.get("--restart").unwrap_or("no");
    if !matches!(restart, "no" | "always" | "unless-stopped" | "on-failure") {
        return ctx.unexpected();
    }
    let mut bindings: BTreeMap<String, Vec<PortBinding>> = BTreeMap::new();
    for spec in p.all("--publish") {
        // IP:HOST:CONTAINER only (what kilter uses)
        let parts: Vec<&str> = spec.split(':').collect();
        let [ip, host, cport] = parts.as_slice() else { return ctx.unexpected() };
        if host.parse::<u16>().is_err() || cport.parse::<u16>().is_err() {
            return ctx.unexpected();
        }
        bindings
            .entry(format!("{cport}/tcp"))
            .or_default()
            .push(PortBinding { host_ip: (*ip).to_string(), host_port: (*host).to_string() });
    }
    let mut mounts = Vec::new();
    // Bind mounts of a host directory: (source, destination, read-only).
    let mut binds: Vec<(String, String, bool)> = Vec::new();
    for v in p.all("--volume") {
        let Some((vol, dest)) = v.split_once(':') else { return ctx.unexpected() };
        if vol.starts_with('/') {
            let (dest, ro) = match dest.split_once(':') {
                None => (dest, false),
                Some((d, "ro")) => (d, true),
                Some(_) => return ctx.unexpected(),
            };
            if !dest.starts_with('/') {
                return ctx.unexpected();
            }
            binds.push((vol.to_string(), dest.to_string(), ro));
            continue;
        }
        if dest.contains(':') {
            return ctx.unexpected();
        }
        mounts.push((vol.to_string(), dest.to_string()));
    }
    let env: Vec<String> = p.all("--env").iter().map(|s| s.to_string()).collect();
    if env.iter().any(|e| !e.contains('=')) {
        return ctx.unexpected();
    }
    let mut labels = BTreeMap::new();
    for l in p.all("--label") {
        let (k, v) = l.split_once('=').unwrap_or((l, ""));
        labels.insert(k.to_string(), v.to_string());
    }
    let network = p.get("--network").unwrap_or("bridge").to_string();
    let mut sysctls = BTreeMap::new();
    for kv in p.all("--sysctl") {
        let Some((k, v)) = kv.split_once('=') else { return ctx.unexpected() };
        sysctls.insert(k.to_string(), v.to_string());
    }
    // A sysctl the engine's kernel does not have (knob `kernel_lacks`): runc fails to open it
    // when the container starts, after docker created it.
    let lacks = ctx.knob("kernel_lacks");
    let missing = sysctls.keys().find(|k| lacks.split(',').any(|l| !l.is_empty() && l == *k));
    let missing = missing.cloned();

    let _l = ctx.lock();
    let mut cs = Containers::load(&ctx.state);
    if let Some(key) = cs.find(name) {
        errln!(
            "docker: Error response from daemon: Conflict. The container name \"/{name}\" is already in use by container \"{}\". You have to remove (or rename) that container to be able to reuse that name.\n\n{RUN_HELP}",
            cs.containers[key].inspect.id
        );
        return 125;
    }
    if network != "bridge" && !Networks::load(&ctx.state).names.contains(&network) {
        errln!("docker: Error response from daemon: network {network} not found\n\n{RUN_HELP}");
        return 125;
    }
    let mut vols = Volumes::load(&ctx.state);
    for (vol, _) in &mounts {
        vols.create(vol, BTreeMap::new());
    }
    vols.save(&ctx.state);

    let ip = cs.next_ip();
    let mut c = Container::new_kind_node(name, "", image, bindings, ip);
    c.stop(0, false);
    let i = &mut c.inspect;
    i.path = "/entrypoint.sh".into();
    i.args = vec!["/etc/distribution/config.yml".into()];
    i.host_config.binds = mounts.iter().map(|(v, d)| format!("{v}:{d}")).collect();
    i.host_config.network_mode = network.clone();
    i.host_config.restart_policy.name = restart.into();
    i.host_config.restart_policy.maximum_retry_count = 0;
    i.host_config.privileged = false;
    i.host_config.security_opt = Vec::new();
    i.host_config.tmpfs = BTreeMap::new();
    i.host_config.sysctls = sysctls;
    i.host_config.binds.extend(
        binds.iter().map(|(s, d, ro)| if *ro { format!("{s}:{d}:ro") } else { format!("{s}:{d}") }),
    );
    i.mounts = mounts
        .iter()
        .map(|(v, d)| Mount {
            kind: "volume".into(),
            name: Some(v.clone()),
            source: format!("/var/lib/docker/volumes/{v}/_data"),
            destination: d.clone(),
            driver: Some("local".into()),
            mode: "z".into(),
            rw: true,
            propagation: String::new(),
        })
        .chain(binds.iter().map(|(s, d, ro)| Mount {
            kind: "bind".into(),
            name: None,
            source: s.clone(),
            destination: d.clone(),
            driver: None,
            mode: if *ro { "ro".into() } else { String::new() },
            rw: !ro,
            propagation: "rprivate".into(),
        }))
        .collect();
    i.config.hostname = i.id[..12].to_string();
    i.config.tty = false;
    i.config.env = env;
    i.config.env.push("PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin".into());
    i.config.labels = labels;
    i.config.entrypoint = vec!["/entrypoint.sh".into()];
    i.config.cmd = Some(vec!["/etc/distribution/config.yml".into()]);
    i.config.volumes = BTreeMap::from([("/var/lib/registry".into(), json!({}))]);
    i.config.stop_signal = String::new();
    if let Some(cmd) = &command {
        // caddy:2 has no entrypoint; its volumes are /config and /data.
        i.path = cmd[0].clone();
        i.args = cmd[1..].to_vec();
        i.config.entrypoint = Vec::new();
        i.config.cmd = Some(cmd.clone());
        i.config.volumes =
            BTreeMap::from([("/config".into(), json!({})), ("/data".into(), json!({}))]);
    }
    i.state.status = "created".into();
    i.state.exit_code = 0;
    i.state.finished_at = crate::state::ZERO_TIME.into();
    let ep = i.network_settings.networks.remove("kind").expect("endpoint");
    i.network_settings.networks.insert(network, ep);
    let id = c.inspect.id.clone();
    cs.containers.insert(name.to_string(), c);
    if let Some(key) = missing {
        let e = format!(
            "failed to create task for container: failed to create shim task: OCI runtime create failed: runc create failed: unable to start container process: error during container init: open /proc/sys/{}: no such file or directory: unknown",
            key.replace('.', "/")
        );
        let st = &mut cs.containers.get_mut(name).expect("inserted").inspect.state;
        st.exit_code = 127;
        st.error = e.clone();
        cs.save(&ctx.state);
        outln!("{id}");
        errln!("docker: Error response from daemon: {e}\n\n{RUN_HELP}");
        return 127;
    }
    // Publishing fails after the container was created (it stays `created`).
    if let Err(e) = crate::docker::start_one(&mut cs, name) {
        cs.save(&ctx.state);
        outln!("{id}");
        errln!("docker: {e}\n\n{RUN_HELP}");
        return 125;
    }
    cs.save(&ctx.state);
    if command.is_some() {
        // Caddy loads its configuration as it starts.
        let c = &cs.containers[name];
        if let Some(file) = c.inspect.args.get(2)
            && let Ok(text) = caddy_read(c, file)
        {
            caddy_store(&ctx.state, name, &text);
        }
    }
    outln!("{id}");
    0
}

/// `docker run … IMAGE caddy run --config FILE`: the command split off the end (the router is
/// the only container kilter runs with a command).
fn split_caddy_command(rest: &[String]) -> (&[String], Option<Vec<String>>) {
    let n = rest.len();
    if n >= 5 && rest[n - 4] == "caddy" && rest[n - 3] == "run" && rest[n - 2] == "--config" {
        return (&rest[..n - 4], Some(rest[n - 4..].to_vec()));
    }
    (rest, None)
}

/// A file in a container through its bind mounts (the host file the mount shows), as Caddy's
/// error says it when it cannot be read.
fn caddy_read(c: &Container, file: &str) -> Result<String, String> {
    let host = c.inspect.mounts.iter().filter(|m| m.kind == "bind").find_map(|m| {
        file.strip_prefix(&format!("{}/", m.destination))
            .map(|rel| PathBuf::from(&m.source).join(rel))
    });
    let Some(host) = host else {
        return Err(format!("reading config from file: open {file}: no such file or directory"));
    };
    std::fs::read_to_string(&host).map_err(|_missing| {
        format!("reading config from file: open {file}: no such file or directory")
    })
}

/// What the router serves now: `<state>/caddy/<container name>.json`.
pub fn caddy_store(state: &Path, name: &str, text: &str) {
    let dir = state.join("caddy");
    let _ = std::fs::create_dir_all(&dir);
    let _ = std::fs::write(dir.join(format!("{name}.json")), text);
}

/// `caddy reload|validate --config FILE` in a router container: the file is read through the
/// bind mount and must be Caddy JSON (an object whose `apps.http.servers` is an object);
/// `reload` makes it what the router serves.
fn caddy_exec(ctx: &Ctx, c: &Container, verb: &str, file: &str) -> i32 {
    let ts = timefmt::now_ms() as f64 / 1000.0;
    errln!(
        "{{\"level\":\"info\",\"ts\":{ts:.7},\"msg\":\"using config from file\",\"file\":\"{file}\"}}"
    );
    let text = match caddy_read(c, file) {
        Ok(t) => t,
        Err(e) => {
            errln!("Error: {e}");
            return 1;
        }
    };
    let v: serde_json::Value = match serde_json::from_str(&text) {
        Ok(v) => v,
        Err(e) => {
            errln!("Error: decoding config: {e}");
            return 1;
        }
    };
    if !v["apps"]["http"]["servers"].is_object() {
        errln!("Error: loading new config: http app module: start: no servers configured");
        return 1;
    }
    match verb {
        "reload" => {
            caddy_store(&ctx.state, c.name(), &text);
            0
        }
        _ => {
            outln!("Valid configuration");
            0
        }
    }
}

// ---------------------------------------------------------------------------------------------
// docker volume

pub fn volume(ctx: &Ctx, rest: &[String]) -> i32 {
    let Some(verb) = rest.first().map(String::as_str) else { return ctx.unexpected() };
    let rest = &rest[1..];
    if ctx.daemon() != Daemon::Up {
        errln!("{CANNOT_CONNECT}");
        return 1;
    }
    let _l = ctx.lock();
    let mut vols = Volumes::load(&ctx.state);
    match verb {
        "create" => {
            let Ok(p) = args::parse(rest, &[val(&["--label"])]) else { return ctx.unexpected() };
            let [name] = p.pos.as_slice() else { return ctx.unexpected() };
            let labels = p
                .all("--label")
                .iter()
                .map(|l| {
                    let (k, v) = l.split_once('=').unwrap_or((l, ""));
                    (k.to_string(), v.to_string())
                })
                .collect();
            vols.create(name, labels);
            vols.save(&ctx.state);
            outln!("{name}");
            0
        }
        "ls" => {
            let spec = [val(&["--filter", "-f"]), val(&["--format"]), boolean(&["--quiet", "-q"])];
            let Ok(p) = args::parse(rest, &spec) else { return ctx.unexpected() };
            if !p.pos.is_empty()
                || !(p.has("--quiet") || matches!(p.get("--format"), Some("{{.Name}}")))
            {
                return ctx.unexpected();
            }
            let mut filters: Vec<(String, Option<String>)> = Vec::new();
            for f in p.all("--filter") {
                match f.split_once('=') {
                    Some(("label", l)) => filters.push(match l.split_once('=') {
                        Some((k, v)) => (k.to_string(), Some(v.to_string())),
                        None => (l.to_string(), None),
                    }),
                    _ => return ctx.unexpected(),
                }
            }
            for (name, v) in &vols.volumes {
                if filters.iter().all(|(k, want)| match want {
                    Some(w) => v.labels.get(k) == Some(w),
                    None => v.labels.contains_key(k),
                }) {
                    outln!("{name}");
                }
            }
            0
        }
        "inspect" => {
            let Ok(p) = args::parse(rest, &[]) else { return ctx.unexpected() };
            if p.pos.is_empty() {
                return ctx.unexpected();
            }
            let mut found = Vec::new();
            let mut errors = Vec::new();
            for name in &p.pos {
                match vols.volumes.get(name) {
                    Some(v) => found.push(json!({
                        "CreatedAt": v.created,
                        "Driver": "local",
                        "Labels": v.labels,
                        "Mountpoint": format!("/var/lib/docker/volumes/{name}/_data"),
                        "Name": name,
                        "Options": null,
                        "Scope": "local",
                    })),
                    None => errors
                        .push(format!("Error response from daemon: get {name}: no such volume")),
                }
            }
            outln!("{}", if found.is_empty() { "[]".to_string() } else { pretty4(&found) });
            if errors.is_empty() {
                0
            } else {
                errln!("{}", errors.join("\n"));
                1
            }
        }
        "rm" => {
            let Ok(p) = args::parse(rest, &[boolean(&["--force", "-f"])]) else {
                return ctx.unexpected();
            };
            if p.pos.is_empty() {
                return ctx.unexpected();
            }
            let cs = Containers::load(&ctx.state);
            let mut errors = Vec::new();
            for name in &p.pos {
                let users: Vec<&str> = cs
                    .containers
                    .values()
                    .filter(|c| c.inspect.mounts.iter().any(|m| m.name.as_deref() == Some(name)))
                    .map(|c| c.inspect.id.as_str())
                    .collect();
                if !users.is_empty() {
                    errors.push(format!(
                        "Error response from daemon: remove {name}: volume is in use - [{}]",
                        users.join(", ")
                    ));
                } else if vols.volumes.remove(name).is_some() {
                    outln!("{name}");
                } else if !p.has("--force") {
                    errors.push(format!("Error response from daemon: get {name}: no such volume"));
                }
            }
            vols.save(&ctx.state);
            if errors.is_empty() {
                0
            } else {
                errln!("{}", errors.join("\n"));
                1
            }
        }
        _ => ctx.unexpected(),
    }
}

// ---------------------------------------------------------------------------------------------
// docker network

pub fn network(ctx: &Ctx, rest: &[String]) -> i32 {
    let Some(verb) = rest.first().map(String::as_str) else { return ctx.unexpected() };
    let rest = &rest[1..];
    if ctx.daemon() != Daemon::Up {
        errln!("{CANNOT_CONNECT}");
        return 1;
    }
    let _l = ctx.lock();
    let nets = Networks::load(&ctx.state);
    let exists = |n: &str| n == "bridge" || nets.names.contains(n);
    match verb {
        "inspect" => {
            let Ok(p) = args::parse(rest, &[val(&["--format", "-f"])]) else {
                return ctx.unexpected();
            };
            let ([net], Some("{{.Name}}")) = (p.pos.as_slice(), p.get("--format")) else {
                return ctx.unexpected();
            };
            if exists(net) {
                outln!("{net}");
                0
            } else {
                outln!();
                errln!("Error response from daemon: network {net} not found");
                1
            }
        }
        "connect" => {
            let (net, mut cs, key) = match member(ctx, rest, &exists) {
                Ok(found) => found,
                Err(code) => return code,
            };
            let c = cs.containers.get_mut(&key).expect("container");
            if c.inspect.network_settings.networks.contains_key(&net) {
                errln!(
                    "Error response from daemon: endpoint with name {} already exists in network {net}",
                    c.name()
                );
                return 1;
            }
            let mut ep = endpoint(&net);
            if c.inspect.state.running {
                ep.ip_address = c.meta.ip.clone();
                ep.ip_prefix_len = 16;
                ep.endpoint_id = random_hex(32);
                ep.dns_names = Some(vec![c.name().to_string(), c.inspect.id[..12].to_string()]);
            }
            c.inspect.network_settings.networks.insert(net, ep);
            cs.save(&ctx.state);
            0
        }
        // `docker network disconnect NETWORK CONTAINER` (a user taking a container off a network).
        "disconnect" => {
            let (net, mut cs, key) = match member(ctx, rest, &exists) {
                Ok(found) => found,
                Err(code) => return code,
            };
            let c = cs.containers.get_mut(&key).expect("container");
            if c.inspect.network_settings.networks.remove(&net).is_none() {
                errln!(
                    "Error response from daemon: container {} is not connected to network {net}",
                    c.inspect.id
                );
                return 1;
            }
            cs.save(&ctx.state);
            0
        }
        _ => ctx.unexpected(),
    }
}

/// `docker network connect|disconnect NETWORK CONTAINER`: the network, the containers and the
/// container's key, or the exit code of docker's answer when either is missing.
fn member(
    ctx: &Ctx,
    rest: &[String],
    exists: &dyn Fn(&str) -> bool,
) -> Result<(String, Containers, String), i32> {
    let Ok(p) = args::parse(rest, &[]) else { return Err(ctx.unexpected()) };
    let [net, name] = p.pos.as_slice() else { return Err(ctx.unexpected()) };
    if !exists(net) {
        errln!("Error response from daemon: network {net} not found");
        return Err(1);
    }
    let cs = Containers::load(&ctx.state);
    let Some(key) = cs.find(name).map(str::to_string) else {
        errln!("Error response from daemon: No such container: {name}");
        return Err(1);
    };
    Ok((net.clone(), cs, key))
}

fn endpoint(net: &str) -> Endpoint {
    Endpoint {
        ipam_config: None,
        links: None,
        aliases: None,
        mac_address: String::new(),
        driver_opts: None,
        gw_priority: 0,
        network_id: format!("{:0<64}", random_hex(8) + &net.len().to_string()),
        endpoint_id: String::new(),
        gateway: String::new(),
        ip_address: String::new(),
        ip_prefix_len: 0,
        ipv6_gateway: String::new(),
        global_ipv6_address: String::new(),
        global_ipv6_prefix_len: 0,
        dns_names: None,
    }
}

// ---------------------------------------------------------------------------------------------
// docker exec

pub fn exec(ctx: &Ctx, rest: &[String]) -> i32 {
    // Flags come before the container; the command after it is not parsed as flags.
    let mut stdin = false;
    let mut i = 0;
    while i < rest.len() && rest[i].starts_with('-') {
        match rest[i].as_str() {
            "-i" | "--interactive" => stdin = true,
            _ => return ctx.unexpected(),
        }
        i += 1;
    }
    let Some(name) = rest.get(i) else { return ctx.unexpected() };
    let cmd = &rest[i + 1..];
    if cmd.is_empty() {
        return ctx.unexpected();
    }
    if ctx.daemon() != Daemon::Up {
        errln!("{CANNOT_CONNECT}");
        return 1;
    }
    let _l = ctx.lock();
    let cs = Containers::load(&ctx.state);
    let Some(key) = cs.find(name) else {
        errln!("Error response from daemon: No such container: {name}");
        return 1;
    };
    let c = &cs.containers[key];
    if !c.inspect.state.running {
        errln!("Error response from daemon: container {} is not running", c.inspect.id);
        return 1;
    }
    let id = c.inspect.id.clone();
    let argv: Vec<&str> = cmd.iter().map(String::as_str).collect();
    if let ["caddy", verb @ ("reload" | "validate"), "--config", file] = argv.as_slice()
        && !stdin
    {
        if c.inspect.path != "caddy" {
            errln!(
                "OCI runtime exec failed: exec failed: unable to start container process: exec: \"caddy\": executable file not found in $PATH: unknown"
            );
            return 127;
        }
        return caddy_exec(ctx, c, verb, file);
    }
    let mut files = Files::load(&ctx.state, &id);
    // GNU coreutils messages (kind's node image is Debian).
    let code = match argv.as_slice() {
        ["mkdir", "-p", dirs @ ..] if !dirs.is_empty() => {
            for d in dirs {
                let mut cur = String::new();
                for part in d.split('/').filter(|s| !s.is_empty()) {
                    cur.push('/');
                    cur.push_str(part);
                    files.dirs.insert(cur.clone());
                }
            }
            0
        }
        ["cp", "/dev/stdin", target] if stdin => {
            let mut data = Vec::new();
            let _ = std::io::stdin().read_to_end(&mut data);
            if !files.dirs.contains(&parent(target)) {
                errln!("cp: cannot create regular file '{target}': No such file or directory");
                1
            } else {
                files
                    .files
                    .insert((*target).to_string(), String::from_utf8_lossy(&data).into_owned());
                0
            }
        }
        ["cat", paths @ ..] if !paths.is_empty() && !stdin => {
            let mut code = 0;
            for p in paths {
                match files.files.get(*p) {
                    Some(text) => out!("{text}"),
                    None if files.dirs.contains(*p) => {
                        errln!("cat: {p}: Is a directory");
                        code = 1;
                    }
                    None => {
                        errln!("cat: {p}: No such file or directory");
                        code = 1;
                    }
                }
            }
            code
        }
        _ => return ctx.unexpected(),
    };
    files.save(&ctx.state, &id);
    code
}
