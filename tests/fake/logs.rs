//! Fake `kind export logs [DIR] [-n|--name N]` (kind v0.32.0, `pkg/cmd/kind/export/logs`).
//!
//! kind lists the cluster's nodes (none: `ERROR: unknown cluster "N"`), prints
//! `Exporting logs for cluster "N" to:` on stderr and DIR on stdout (a new temporary directory
//! when none is given), then collects: `kind-version.txt`, `docker-info.txt`, and per node
//! `inspect.json`, `kubernetes-version.txt`, `journal.log`, `kubelet.log`, `containerd.log`,
//! `serial.log`, `images.log`, and the node's `/var/log` (`alternatives.log`, `pods/`,
//! `containers/`). The node's files come from `docker exec` into it: when the node is not
//! running each holds docker's error and kind fails with the aggregated command errors.

use std::path::{Path, PathBuf};

use crate::args::{self, val};
use crate::common::{Ctx, pretty4, random_hex};
use crate::state::{ClusterStore, Container};
use crate::timefmt;

/// kind's `DisplayVersion()` (no newline).
fn display_version(ctx: &Ctx) -> String {
    format!("kind {} go1.26.3 linux/amd64", ctx.knob("kind_version"))
}

pub fn export_logs(ctx: &Ctx, rest: &[String]) -> i32 {
    let Ok(p) = args::parse(rest, &[val(&["--name", "-n"])]) else { return ctx.unexpected() };
    if p.pos.len() > 1 || p.rest.is_some() {
        return ctx.unexpected();
    }
    let name = p
        .get("--name")
        .map(str::to_string)
        .or_else(|| std::env::var("KIND_CLUSTER_NAME").ok().filter(|s| !s.is_empty()))
        .unwrap_or_else(|| "kind".into());
    let (nodes, cs) = match crate::kind::cluster_containers_pub(ctx, &name) {
        Ok(x) => x,
        Err(code) => return code,
    };
    if nodes.is_empty() {
        errln!("ERROR: unknown cluster \"{name}\"");
        return 1;
    }
    let dir = match p.pos.first() {
        Some(d) => PathBuf::from(d),
        // fs.TempDir("", ""): a new directory under $TMPDIR with a numeric name
        None => {
            let n = u64::from_str_radix(&random_hex(4), 16).unwrap_or(1) % 10_000_000_000;
            std::env::temp_dir().join(n.to_string())
        }
    };
    errln!("Exporting logs for cluster \"{name}\" to:");
    outln!("{}", dir.display());

    if let Err(e) = std::fs::create_dir_all(&dir) {
        errln!("ERROR: failed to create logs directory: mkdir {}: {e}", dir.display());
        return 1;
    }
    let write = |rel: &str, text: &str| {
        let path = dir.join(rel);
        if let Some(parent) = path.parent() {
            let _ = std::fs::create_dir_all(parent);
        }
        let _ = std::fs::write(path, text);
    };
    write("kind-version.txt", &display_version(ctx));
    write("docker-info.txt", &docker_info(ctx, cs.containers.len()));
    let mut errors = Vec::new();
    for node in &nodes {
        let Some(c) = cs.containers.get(node) else { continue };
        write(&format!("{node}/inspect.json"), &(pretty4(&[&c.inspect]) + "\n"));
        if c.inspect.state.running {
            node_logs(ctx, c, &dir.join(node));
        } else {
            // Every `docker exec` into a stopped node fails; kind writes what it said.
            let said = format!("{}\n", crate::kind::not_running(ctx, c));
            for (file, command) in NODE_COMMANDS {
                write(&format!("{node}/{file}"), &said);
                errors.push(format!(
                    "command \"docker exec --privileged {node} {command}\" failed with error: exit status 1"
                ));
            }
            // The copy of the node's /var/log fails too (it writes no file of its own). kind runs
            // all six at once and lists their errors in the order they failed, which varies.
            errors.insert(
                2,
                format!(
                    "command \"docker exec --privileged {node} {VAR_LOG_TAR}\" failed with error: exit status 1"
                ),
            );
        }
        // `docker logs` works whatever the node's state.
        write(&format!("{node}/serial.log"), SERIAL);
    }
    match errors.len() {
        0 => 0,
        1 => {
            errln!("ERROR: {}", errors[0]);
            1
        }
        _ => {
            errln!("ERROR: [{}]", errors.join(", "));
            1
        }
    }
}

/// The node container's own output (`docker logs`): kind's entrypoint, then systemd.
const SERIAL: &str = "INFO: ensuring we can execute mount/umount even with userns-remap\nINFO: remounting /sys read-only\nINFO: making mounts shared\nINFO: detected cgroup v2\nINFO: starting init\nsystemd 252.38-1~deb12u1 running in system mode\nDetected virtualization docker.\nWelcome to Debian GNU/Linux 12 (bookworm)!\n";

/// How kind copies the node's `/var/log` out (`docker exec <node> …`, untarred on the host).
const VAR_LOG_TAR: &str =
    "sh -c 'tar --hard-dereference -C /var/log/ -chf - . || (r=$?; [ $r -eq 1 ] || exit $r)'";

/// The node files kind fills from `docker exec <node> …`.
const NODE_COMMANDS: &[(&str, &str)] = &[
    ("kubernetes-version.txt", "cat /kind/version"),
    ("journal.log", "journalctl --no-pager"),
    ("kubelet.log", "journalctl --no-pager -u kubelet.service"),
    ("containerd.log", "journalctl --no-pager -u containerd.service"),
    ("images.log", "crictl images"),
];

/// The human `docker info` kind records (a short, real-shaped excerpt).
fn docker_info(ctx: &Ctx, containers: usize) -> String {
    let v = ctx.knob("docker_version");
    let cgroup = ctx.cgroup_version();
    let driver = if cgroup == 2 { "systemd" } else { "cgroupfs" };
    format!(
        "Client:\n Version:    {v}\n Context:    default\n Debug Mode: false\n\nServer:\n Containers: {containers}\n Server Version: {v}\n Storage Driver: overlay2\n Cgroup Driver: {driver}\n Cgroup Version: {cgroup}\n Kernel Version: 6.8.0-60-generic\n Operating System: Ubuntu 24.04.2 LTS\n OSType: linux\n Architecture: x86_64\n CPUs: {}\n Total Memory: {:.2}GiB\n Docker Root Dir: {}\n",
        ctx.knob("ncpu"),
        ctx.knob_u64("mem_total") as f64 / (1u64 << 30) as f64,
        ctx.knob("docker_root_dir"),
    )
}

/// journald's short timestamp: `Dec 01 04:47:43`.
fn journal_time(ms: u64) -> String {
    const MONTHS: [&str; 12] =
        ["Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"];
    let t = timefmt::rfc3339_secs(ms); // 2026-12-01T04:47:43Z
    let month: usize = t[5..7].parse().unwrap_or(1);
    format!("{} {} {}", MONTHS[month.saturating_sub(1) % 12], &t[8..10], &t[11..19])
}

/// What a running node's `docker exec`s, `docker logs` and `/var/log` give.
fn node_logs(ctx: &Ctx, c: &Container, dir: &Path) {
    let node = c.name();
    let started = c.meta.started_ms;
    let t = |off: u64| journal_time(started.saturating_add(off));
    let write = |rel: &str, text: String| {
        let path = dir.join(rel);
        if let Some(parent) = path.parent() {
            let _ = std::fs::create_dir_all(parent);
        }
        let _ = std::fs::write(path, text);
    };
    write("kubernetes-version.txt", c.kube_version());
    let kubelet = [
        format!(
            "{} {node} systemd[1]: Started kubelet.service - kubelet: The Kubernetes Node Agent.",
            t(1200)
        ),
        format!(
            "{} {node} kubelet[212]: I1201 kubelet.go:2421] \"Starting kubelet main sync loop\"",
            t(1500)
        ),
        format!(
            "{} {node} kubelet[212]: I1201 kubelet_node_status.go:75] \"Successfully registered node\" node=\"{node}\"",
            t(2600)
        ),
    ];
    let containerd = [
        format!(
            "{} {node} systemd[1]: Starting containerd.service - containerd container runtime...",
            t(300)
        ),
        format!(
            "{} {node} containerd[105]: time=\"{}\" level=info msg=\"containerd successfully booted in 0.041s\"",
            t(400),
            timefmt::rfc3339_secs(started + 400)
        ),
        format!(
            "{} {node} systemd[1]: Started containerd.service - containerd container runtime.",
            t(420)
        ),
    ];
    let mut journal = vec![format!("{} {node} systemd[1]: Detected virtualization docker.", t(0))];
    journal.extend(containerd.iter().cloned());
    journal.extend(kubelet.iter().cloned());
    write("journal.log", journal.join("\n") + "\n");
    write("kubelet.log", kubelet.join("\n") + "\n");
    write("containerd.log", containerd.join("\n") + "\n");
    write(
        "alternatives.log",
        format!(
            "update-alternatives {}: run with --install /usr/bin/iptables iptables /usr/sbin/iptables-nft 20\n",
            timefmt::rfc3339_secs(started).replace('T', " ").trim_end_matches('Z')
        ),
    );

    // Pods: /var/log/pods/<ns>_<pod>_<uid>/<container>/0.log in CRI format, and the
    // /var/log/containers/<pod>_<ns>_<container>-<id>.log links (dereferenced by kind's tar).
    let mut images = vec!["IMAGE                                           TAG                  IMAGE ID            SIZE".to_string()];
    let mut seen_images = std::collections::BTreeSet::new();
    let store = ClusterStore::for_container(&ctx.state, &c.inspect.id);
    let _l = ctx.lock();
    for ns in store.namespaces() {
        let logs = crate::workloads::pod_logs(&store, &ns);
        for (pod_name, pod) in store.list_namespaced(&ns, "pods") {
            let uid = pod["metadata"]["uid"].as_str().unwrap_or_default();
            let statuses =
                pod["status"]["containerStatuses"].as_array().cloned().unwrap_or_default();
            for st in statuses {
                let cname = st["name"].as_str().unwrap_or_default();
                let image = st["image"].as_str().unwrap_or_default();
                if seen_images.insert(image.to_string()) {
                    let (repo, tag) = image.rsplit_once(':').unwrap_or((image, "latest"));
                    images
                        .push(format!("{repo:<47} {tag:<20} {:<19} 4.27MB", &random_hex(7)[..13]));
                }
                let lines: Vec<String> = logs
                    .get(&pod_name)
                    .and_then(|m| m.get(cname))
                    .map(|v| {
                        v.iter()
                            .map(|(ms, l)| {
                                format!(
                                    "{} stdout F {l}",
                                    timefmt::rfc3339_nano(u128::from(*ms) * 1_000_000)
                                )
                            })
                            .collect()
                    })
                    .unwrap_or_default();
                let text = if lines.is_empty() { String::new() } else { lines.join("\n") + "\n" };
                write(&format!("pods/{ns}_{pod_name}_{uid}/{cname}/0.log"), text.clone());
                let cid = st["containerID"].as_str().and_then(|s| s.strip_prefix("containerd://"));
                if let Some(cid) = cid {
                    write(&format!("containers/{pod_name}_{ns}_{cname}-{cid}.log"), text);
                }
            }
        }
    }
    let _ = std::fs::create_dir_all(dir.join("pods"));
    let _ = std::fs::create_dir_all(dir.join("containers"));
    write("images.log", images.join("\n") + "\n");
}
