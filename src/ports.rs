//! The port registry (docs/files.md, "Port slots"): each project owns a slot `i`, chosen once
//! from a stable hash of its name (probing past taken slots), kept in
//! `$XDG_STATE_HOME/kilter/ports.json` under its own lock. Slot `i` gives the Tilt port
//! `10351 + i` and the NodePort block `30000 + 20*i ..+19`.

use std::collections::BTreeMap;

use anyhow::{Context, Result};
use camino::{Utf8Path, Utf8PathBuf};
use serde::{Deserialize, Serialize};

use crate::error::{Code, Exit, invalid};
use crate::exec::{Content, Runner};
use crate::fsutil::Perm;

pub const TILT_BASE: u16 = 10351;
pub const NODEPORT_BASE: u16 = 30000;
pub const BLOCK: u16 = 20;
/// NodePorts end at 32767: (32767 - 30000 + 1) / 20 = 138 whole blocks.
pub const SLOTS: u16 = 138;

/// A project's ports.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct Ports {
    pub slot: u16,
    pub tilt: u16,
    pub base: u16,
}

impl Ports {
    pub fn of(slot: u16) -> Ports {
        Ports { slot, tilt: TILT_BASE + slot, base: NODEPORT_BASE + BLOCK * slot }
    }
    /// The service block, `base ..= base+19`.
    pub fn block(&self) -> std::ops::RangeInclusive<u16> {
        self.base..=self.base + BLOCK - 1
    }
    /// The slot owning a NodePort, if it is in kilter's range.
    pub fn slot_of_nodeport(port: u16) -> Option<u16> {
        (NODEPORT_BASE..NODEPORT_BASE + BLOCK * SLOTS)
            .contains(&port)
            .then(|| (port - NODEPORT_BASE) / BLOCK)
    }
}

#[derive(Debug, Default, Serialize, Deserialize)]
pub struct Registry {
    pub version: u32,
    pub projects: BTreeMap<String, Entry>,
    /// The port of the machine's shared local registry (`src/registry.rs`), once chosen.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub registry_port: Option<u16>,
    /// The host port of the machine's shared router (`src/router.rs`), once chosen.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub router_port: Option<u16>,
}

/// A shared container whose host port the registry records.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Shared {
    Registry,
    Router,
}

impl Registry {
    fn shared_port(&mut self, which: Shared) -> &mut Option<u16> {
        match which {
            Shared::Registry => &mut self.registry_port,
            Shared::Router => &mut self.router_port,
        }
    }
}

/// The host port recorded for a shared container (none before it was first created).
pub fn shared_port(path: &Utf8Path, which: Shared) -> Result<Option<u16>> {
    Ok(Registry::load(path)?.and_then(|mut r| *r.shared_port(which)))
}

/// Record a shared container's host port (a write only when it differs from what is recorded).
pub fn record_shared_port(
    path: &Utf8Path,
    runner: &Runner<'_>,
    which: Shared,
    port: u16,
) -> Result<()> {
    if shared_port(path, which)? == Some(port) {
        return Ok(());
    }
    with_registry(
        path,
        runner,
        || Ok(BTreeMap::new()),
        |reg| {
            *reg.shared_port(which) = Some(port);
            Ok(())
        },
    )?;
    Ok(())
}

#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct Entry {
    pub slot: u16,
    /// The NodePorts of the project's services (kilter.yaml `services:`), recorded here with
    /// the slot: assigned once, under the registry's lock, kept across `destroy`.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub services: NodePorts,
    /// The project directory that last used the slot (`kilter up` records it), so that `kilter
    /// gc` can tell a project that is gone from one that was only destroyed. Absent in entries
    /// written before it was recorded.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub dir: Option<Utf8PathBuf>,
    /// The web UI ports that kilter.yaml sets with a service's `http:` (service → port name; ""
    /// for `http: false`), so that the shared router names them for every project.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub web: BTreeMap<String, String>,
    /// The NodePort of the app kilter renders for the project (the first of its block), so that
    /// the shared router names it `<project>.localhost`; absent without a rendered app.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub app: Option<u16>,
}

/// NodePorts of a project's services: service → port name → NodePort.
pub type NodePorts = BTreeMap<String, BTreeMap<String, u16>>;

/// FNV-1a: stable across Rust versions and platforms (unlike `DefaultHasher`).
pub fn preferred_slot(name: &str) -> u16 {
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    for b in name.bytes() {
        h ^= u64::from(b);
        h = h.wrapping_mul(0x0000_0100_0000_01b3);
    }
    (h % u64::from(SLOTS)) as u16
}

impl Registry {
    /// Read the registry. Invalid JSON is invalid input (exit 4): the file is the user's to
    /// move away (kilter then rebuilds it from the clusters).
    pub fn load(path: &Utf8Path) -> Result<Option<Registry>> {
        match std::fs::read_to_string(path) {
            Ok(text) => {
                let reg: Registry = serde_json::from_str(&text).map_err(|e| {
                    invalid(format!("the port registry {path} is not valid: {e}"))
                        .hint(format!("move it away (`mv {path} {path}.bad`); kilter rebuilds it from the clusters that exist"))
                })?;
                Ok(Some(reg))
            }
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
            Err(e) => Err(e).with_context(|| format!("could not read {path}")),
        }
    }

    /// Entries whose slot is outside the NodePort range (a hand-edited or corrupt file).
    pub fn bad_slots(&self) -> Vec<(&str, u16)> {
        self.projects
            .iter()
            .filter(|(_, e)| e.slot >= SLOTS)
            .map(|(n, e)| (n.as_str(), e.slot))
            .collect()
    }

    pub fn owner_of_slot(&self, slot: u16) -> Option<&str> {
        self.projects.iter().find(|(_, e)| e.slot == slot && slot < SLOTS).map(|(n, _)| n.as_str())
    }

    /// The slot of `name`: its entry, else `known` (e.g. read from its running cluster), else
    /// the hash slot probing past taken ones. A recorded slot out of range is exit 4: moving
    /// the project's ports silently would break whatever uses them.
    pub fn assign(&mut self, name: &str, known: Option<u16>) -> Result<u16> {
        if let Some(e) = self.projects.get(name) {
            if e.slot >= SLOTS {
                return Err(invalid(format!(
                    "the port registry gives project `{name}` slot {}, but slots end at {}: its NodePorts would be {}-{}, outside 30000-32767",
                    e.slot,
                    SLOTS - 1,
                    u32::from(NODEPORT_BASE) + u32::from(BLOCK) * u32::from(e.slot),
                    u32::from(NODEPORT_BASE) + u32::from(BLOCK) * u32::from(e.slot) + u32::from(BLOCK) - 1,
                ))
                .hint("remove that entry from ports.json (kilter then assigns a valid slot), or fix the number")
                .into());
            }
            return Ok(e.slot);
        }
        let slot = match known.filter(|s| *s < SLOTS && self.owner_of_slot(*s).is_none()) {
            Some(s) => s,
            None => {
                let start = preferred_slot(name);
                (0..SLOTS)
                    .map(|k| (start + k) % SLOTS)
                    .find(|s| self.owner_of_slot(*s).is_none())
                    .ok_or_else(|| {
                    Exit::new(Code::Failed, format!("all {SLOTS} kilter port slots are taken"))
                        .hint("destroy unused projects and remove them from the port registry")
                })?
            }
        };
        self.projects.insert(name.to_owned(), Entry { slot, ..Entry::default() });
        Ok(slot)
    }

    /// [`Registry::assign`], and record `dir` as the directory that uses the slot.
    pub fn claim(&mut self, name: &str, known: Option<u16>, dir: &Utf8Path) -> Result<u16> {
        let slot = self.assign(name, known)?;
        if let Some(e) = self.projects.get_mut(name)
            && e.dir.as_deref() != Some(dir)
        {
            e.dir = Some(dir.to_owned());
        }
        Ok(slot)
    }

    /// Forget the slots of `names` (`kilter gc`). Returns those that were there.
    pub fn release(&mut self, names: &[&str]) -> Vec<(String, u16)> {
        names
            .iter()
            .filter_map(|n| self.projects.remove(*n).map(|e| ((*n).to_owned(), e.slot)))
            .collect()
    }
}

impl Registry {
    /// Give every port of every service in `wanted` (service, its port names) a NodePort from
    /// project `name`'s block (its slot must be assigned). A port recorded earlier keeps its
    /// NodePort; a new one takes the highest free port of the block — the project's own
    /// manifests count up from `KILTER_PORT_BASE`, kilter's services down from the top, so they
    /// rarely meet. Services not in `wanted` give their ports back. Adding, removing or
    /// reordering services therefore never moves another service's port. Returns the NodePorts
    /// and the services that were recorded before (to find the removed ones).
    pub fn assign_nodeports(
        &mut self,
        name: &str,
        wanted: &[(String, Vec<String>)],
    ) -> Result<(NodePorts, Vec<String>)> {
        let entry = self
            .projects
            .get_mut(name)
            .with_context(|| format!("internal: project `{name}` has no port slot"))?;
        let block = Ports::of(entry.slot).block();
        // Routes' NodePorts ([`ROUTE_PREFIX`]) are not services: kept as they are, never
        // "removed services", and taken for the services' new ports.
        let routes: NodePorts = entry
            .services
            .iter()
            .filter(|(k, _)| is_route_key(k))
            .map(|(k, v)| (k.clone(), v.clone()))
            .collect();
        let before: Vec<String> =
            entry.services.keys().filter(|k| !is_route_key(k)).cloned().collect();
        let mut next = NodePorts::new();
        // Keep what is recorded (and still in the block), in `wanted` order.
        for (service, ports) in wanted {
            let recorded = entry.services.get(service);
            let mut kept = BTreeMap::new();
            for port in ports {
                if let Some(&np) = recorded.and_then(|r| r.get(port))
                    && block.contains(&np)
                    && !next.values().chain([&kept]).any(|m| m.values().any(|&v| v == np))
                {
                    kept.insert(port.clone(), np);
                }
            }
            next.insert(service.clone(), kept);
        }
        // Then the new ones, from the top of the block down.
        for (service, ports) in wanted {
            for port in ports {
                if next.get(service).is_some_and(|m| m.contains_key(port)) {
                    continue;
                }
                let taken: Vec<u16> = next
                    .values()
                    .chain(routes.values())
                    .flat_map(|m| m.values().copied())
                    .collect();
                let Some(free) = block.clone().rev().find(|p| !taken.contains(p)) else {
                    let holders: Vec<String> = next
                        .iter()
                        .filter(|(_, m)| !m.is_empty())
                        .map(|(s, m)| {
                            let ports: Vec<String> = m.values().map(u16::to_string).collect();
                            format!("{s} ({})", ports.join(", "))
                        })
                        .collect();
                    return Err(invalid(format!(
                        "project `{name}`'s NodePort block {}-{} is full: no port left for service `{service}` (`{port}`); taken by {}",
                        block.start(),
                        block.end(),
                        holders.join(", ")
                    ))
                    .hint("remove a service from `services:` in kilter.yaml")
                    .into());
                };
                next.entry(service.clone()).or_default().insert(port.clone(), free);
            }
        }
        let mut recorded = next.clone();
        recorded.extend(routes);
        entry.services = recorded;
        Ok((next, before))
    }

    /// Give each route of `names` (kilter.yaml `routes:` whose Service exists) a NodePort from
    /// project `name`'s block, recorded under `route:<name>` beside the services' ports: a
    /// recorded one keeps its port, a new one takes the highest free port; routes not in
    /// `names` give theirs back. Returns route name → NodePort.
    /// `reserved`: a port of the block no route may take (the app's, where kilter renders one),
    /// not even one a route had before.
    pub fn assign_routes(
        &mut self,
        name: &str,
        names: &[String],
        reserved: Option<u16>,
    ) -> Result<BTreeMap<String, u16>> {
        let entry = self
            .projects
            .get_mut(name)
            .with_context(|| format!("internal: project `{name}` has no port slot"))?;
        let block = Ports::of(entry.slot).block();
        let mut services = std::mem::take(&mut entry.services);
        let old: NodePorts = services
            .iter()
            .filter(|(k, _)| is_route_key(k))
            .map(|(k, v)| (k.clone(), v.clone()))
            .collect();
        services.retain(|k, _| !is_route_key(k));
        let mut taken: Vec<u16> = services.values().flat_map(|m| m.values().copied()).collect();
        taken.extend(reserved);
        let mut out = BTreeMap::new();
        for route in names {
            let key = route_key(route);
            if let Some(&np) = old.get(&key).and_then(|m| m.get(ROUTE_PORT))
                && block.contains(&np)
                && !taken.contains(&np)
            {
                taken.push(np);
                out.insert(route.clone(), np);
            }
        }
        for route in names {
            if out.contains_key(route) {
                continue;
            }
            let Some(free) = block.clone().rev().find(|p| !taken.contains(p)) else {
                entry.services = services;
                entry.services.extend(old);
                return Err(invalid(format!(
                    "project `{name}`'s NodePort block {}-{} is full: no port left for route `{route}`",
                    block.start(),
                    block.end()
                ))
                .hint("remove a route from `routes:` or a service from `services:` in kilter.yaml")
                .into());
            };
            taken.push(free);
            out.insert(route.clone(), free);
        }
        for (route, np) in &out {
            services.insert(route_key(route), BTreeMap::from([(ROUTE_PORT.to_owned(), *np)]));
        }
        entry.services = services;
        Ok(out)
    }
}

/// The prefix of a route's key among a project's recorded NodePorts (`route:web`): a `:` is
/// never in a service's name, so no service can take it.
pub const ROUTE_PREFIX: &str = "route:";
/// The port name a route's NodePort is recorded under.
pub const ROUTE_PORT: &str = "http";

pub fn route_key(route: &str) -> String {
    format!("{ROUTE_PREFIX}{route}")
}

pub fn is_route_key(key: &str) -> bool {
    key.starts_with(ROUTE_PREFIX)
}

/// The routes among recorded NodePorts: route name → NodePort.
pub fn recorded_routes(services: &NodePorts) -> Vec<(String, u16)> {
    services
        .iter()
        .filter_map(|(k, m)| Some((k.strip_prefix(ROUTE_PREFIX)?.to_owned(), *m.get(ROUTE_PORT)?)))
        .collect()
}

/// A project's service NodePorts as `up` would assign them, without reserving anything (for
/// `kilter env` and `status` before the first `up`).
pub fn preview_nodeports(
    path: &Utf8Path,
    name: &str,
    wanted: &[(String, Vec<String>)],
) -> Result<NodePorts> {
    let mut reg = Registry::load(path)?.unwrap_or_default();
    reg.assign(name, None)?;
    Ok(reg.assign_nodeports(name, wanted)?.0)
}

/// Read-modify-write the registry under its lock (through the runner: a dry run prints the
/// write). `rebuild` is consulted (once) when the file is missing, to recover slots from the
/// clusters that exist. Returns `f`'s result and whether the file was rebuilt.
pub fn with_registry<T>(
    path: &Utf8Path,
    runner: &Runner<'_>,
    rebuild: impl FnOnce() -> Result<BTreeMap<String, u16>>,
    f: impl FnOnce(&mut Registry) -> Result<T>,
) -> Result<(T, bool)> {
    let lock_path = path.with_extension("lock");
    let _lock =
        runner.lock(&lock_path, "the port registry", "kilter", crate::lock::default_timeout()?)?;
    // A dry run builds on what its script has already written there.
    let loaded = match runner.planned_text(path) {
        Some(text) => Some(serde_json::from_str::<Registry>(&text)?),
        None => Registry::load(path)?,
    };
    let (mut reg, existed) = match loaded {
        Some(r) => (r, true),
        None => {
            let mut r = Registry { version: 1, projects: BTreeMap::new(), ..Registry::default() };
            for (name, slot) in rebuild()? {
                r.projects.insert(name, Entry { slot, ..Entry::default() });
            }
            (r, false)
        }
    };
    let before = serde_json::to_string(&reg)?;
    let out = f(&mut reg)?;
    let after = serde_json::to_string(&reg)?;
    if before != after || !existed {
        let text = serde_json::to_string_pretty(&reg)? + "\n";
        runner.write_file(path, &Content::text(text), Perm::Private(0o644))?;
    }
    Ok((out, !existed))
}

/// A project's ports without reserving anything: its registry slot, or the slot it would get.
/// Returns whether the slot is already reserved.
pub fn preview(path: &Utf8Path, name: &str) -> Result<(Ports, bool)> {
    let mut reg = Registry::load(path)?.unwrap_or_default();
    let assigned = reg.projects.contains_key(name);
    Ok((Ports::of(reg.assign(name, None)?), assigned))
}

/// Which of a project's ports to check.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Check {
    /// Only the Tilt port (before starting Tilt).
    Tilt,
    /// Only the NodePort block (before creating the cluster).
    Block,
}

/// Whether something already listens on 127.0.0.1:port. A connect probe, not a bind: probing
/// never occupies the port, so two kilters checking at the same moment cannot collide.
pub fn port_busy(port: u16) -> bool {
    let addr = std::net::SocketAddr::from(([127, 0, 0, 1], port));
    std::net::TcpStream::connect_timeout(&addr, std::time::Duration::from_millis(300)).is_ok()
}

/// Check that the Tilt port (optional) and the service block are free; name the owner of any
/// busy port (another kilter project, or "another program").
/// This project's own Tilt, as its `tilt.json` names it, for [`check_free`].
#[derive(Debug, Clone, Copy)]
pub struct OwnTilt {
    pub pid: i32,
    /// The run stops it before it needs the port (a dry run only plans that, so the Tilt still
    /// holds the port while the plan is made).
    pub stopped_first: bool,
}

pub fn check_free(
    ports: &Ports,
    which: Check,
    reg: Option<&Registry>,
    me: &str,
    own: Option<OwnTilt>,
) -> Result<()> {
    let mut busy: Vec<String> = Vec::new();
    let candidates: Vec<u16> = match which {
        Check::Tilt => vec![ports.tilt],
        Check::Block => ports.block().collect(),
    };
    for p in candidates {
        if !port_busy(p) {
            continue;
        }
        if let Some(o) = own.filter(|o| p == ports.tilt && crate::exec::pid_alive(o.pid)) {
            if o.stopped_first {
                continue;
            }
            busy.push(format!("port {p} is held by this project's Tilt (pid {})", o.pid));
            continue;
        }
        let slot = if p == ports.tilt { Some(p - TILT_BASE) } else { Ports::slot_of_nodeport(p) };
        let owner = slot.and_then(|s| reg.and_then(|r| r.owner_of_slot(s))).filter(|o| *o != me);
        busy.push(match owner {
            Some(o) => format!("port {p} is held by kilter project `{o}`"),
            None => format!("port {p} is in use by another program"),
        });
    }
    if busy.is_empty() {
        return Ok(());
    }
    Err(Exit::new(
        Code::Failed,
        format!("ports needed by project `{me}` are not free:\n  {}", busy.join("\n  ")),
    )
    .hint(
        "stop whatever holds them (`ss -ltnp` shows the owner), or `kilter stop` the other project",
    )
    .into())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn slot_arithmetic() {
        let p = Ports::of(3);
        assert_eq!((p.tilt, p.base), (10354, 30060));
        assert_eq!(p.block().count(), 20);
        assert_eq!(*p.block().end(), 30079);
        assert_eq!(Ports::slot_of_nodeport(30079), Some(3));
        assert_eq!(Ports::slot_of_nodeport(29999), None);
        let last = Ports::of(SLOTS - 1);
        assert!(*last.block().end() <= 32767);
    }

    #[test]
    fn nodeports_map_to_their_slot_up_to_the_last_block() {
        // The last slot's block is 32740-32759; 32760 and up belong to no slot.
        assert_eq!(Ports::slot_of_nodeport(30000), Some(0));
        assert_eq!(Ports::slot_of_nodeport(32745), Some(137));
        assert_eq!(Ports::slot_of_nodeport(32759), Some(137));
        assert_eq!(Ports::slot_of_nodeport(32760), None);
    }

    #[test]
    fn an_unreadable_registry_is_an_error_not_an_empty_one() {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = Utf8Path::from_path(dir.path()).expect("utf-8");
        assert!(Registry::load(&path.join("missing.json")).expect("missing").is_none());
        // A directory where the file should be: reading fails, and that is not "no registry".
        assert!(Registry::load(path).is_err());
    }

    #[test]
    fn an_out_of_range_entry_owns_no_slot() {
        let mut r = Registry::default();
        r.projects.insert("big".into(), Entry { slot: SLOTS, ..Entry::default() });
        r.projects.insert("shop".into(), Entry { slot: 17, ..Entry::default() });
        assert_eq!(r.owner_of_slot(SLOTS), None);
        assert_eq!(r.owner_of_slot(17), Some("shop"));
    }

    fn wanted(list: &[(&str, &[&str])]) -> Vec<(String, Vec<String>)> {
        list.iter()
            .map(|(s, ports)| ((*s).to_owned(), ports.iter().map(|p| (*p).to_owned()).collect()))
            .collect()
    }

    #[test]
    fn nodeports_come_from_the_top_of_the_block_and_never_move() {
        let mut r = Registry::default();
        r.projects.insert("shop".into(), Entry { slot: 17, ..Entry::default() }); // 30340-30359
        let (np, before) = r
            .assign_nodeports("shop", &wanted(&[("postgres", &["pg"]), ("redis", &["redis"])]))
            .expect("assign");
        assert_eq!(np["postgres"]["pg"], 30359);
        assert_eq!(np["redis"]["redis"], 30358);
        assert!(before.is_empty(), "{before:?}");
        // Reordered, with a new service in front: the recorded ports stay.
        let (np, before) = r
            .assign_nodeports(
                "shop",
                &wanted(&[
                    ("mailpit", &["smtp", "http"]),
                    ("redis", &["redis"]),
                    ("postgres", &["pg"]),
                ]),
            )
            .expect("assign");
        assert_eq!(before, ["postgres", "redis"]);
        assert_eq!((np["postgres"]["pg"], np["redis"]["redis"]), (30359, 30358));
        assert_eq!((np["mailpit"]["http"], np["mailpit"]["smtp"]), (30356, 30357));
        // A service left out gives its port back; the next new one takes it.
        let (np, _) = r
            .assign_nodeports("shop", &wanted(&[("redis", &["redis"]), ("nats", &["nats"])]))
            .expect("assign");
        assert_eq!((np["redis"]["redis"], np["nats"]["nats"]), (30358, 30359));
        assert_eq!(np.len(), 2);
    }

    #[test]
    fn a_recorded_nodeport_outside_the_block_or_recorded_twice_is_reassigned() {
        let mut r = Registry::default();
        let mut services = NodePorts::new();
        services.insert("a".into(), BTreeMap::from([("p".to_owned(), 30345)]));
        services.insert("b".into(), BTreeMap::from([("p".to_owned(), 30345)])); // a duplicate
        services.insert("c".into(), BTreeMap::from([("p".to_owned(), 31000)])); // another block
        r.projects.insert("shop".into(), Entry { slot: 17, services, ..Entry::default() });
        let (np, _) = r
            .assign_nodeports("shop", &wanted(&[("a", &["p"]), ("b", &["p"]), ("c", &["p"])]))
            .expect("assign");
        assert_eq!(np["a"]["p"], 30345, "the first holder keeps it");
        assert_eq!(np["b"]["p"], 30359);
        assert_eq!(np["c"]["p"], 30358);
    }

    #[test]
    fn a_busy_tilt_port_names_the_kilter_project_that_owns_its_slot() {
        // Some slot whose Tilt port (10351 + slot) this test can hold.
        let (slot, _held) = (0..SLOTS)
            .find_map(|s| {
                std::net::TcpListener::bind(("127.0.0.1", TILT_BASE + s)).ok().map(|l| (s, l))
            })
            .expect("one of the 138 Tilt ports is free");
        let mut r = Registry::default();
        r.projects.insert("blog".into(), Entry { slot, ..Entry::default() });
        let ports = Ports::of(slot);
        let err = check_free(&ports, Check::Tilt, Some(&r), "shop", None).expect_err("busy");
        let want = format!("port {} is held by kilter project `blog`", TILT_BASE + slot);
        assert!(err.to_string().contains(&want), "{err}");
        // Its own slot is not "another project".
        let err = check_free(&ports, Check::Tilt, Some(&r), "blog", None).expect_err("busy");
        assert!(err.to_string().contains("in use by another program"), "{err}");
    }

    #[test]
    fn previews_reserve_nothing() {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = Utf8Path::from_path(dir.path()).expect("utf-8").join("ports.json");
        let np = preview_nodeports(&path, "shop", &wanted(&[("postgres", &["pg"])])).expect("np");
        assert_eq!(np["postgres"]["pg"], 30359);
        assert_eq!(preview(&path, "shop").expect("preview"), (Ports::of(17), false));
        assert!(!path.exists(), "a preview writes nothing");
    }

    #[test]
    fn a_full_block_names_the_holders() {
        let mut r = Registry::default();
        r.projects.insert("shop".into(), Entry { slot: 17, ..Entry::default() });
        let ports: Vec<String> = (0..21).map(|i| format!("p{i}")).collect();
        let err = r
            .assign_nodeports("shop", &[("none".to_owned(), vec![]), ("big".to_owned(), ports)])
            .expect_err("21 ports do not fit in 20");
        assert_eq!(crate::error::code_of(&err), Code::Invalid);
        let msg = err.to_string();
        assert!(
            msg.contains("30340-30359 is full: no port left for service `big` (`p20`)"),
            "{msg}"
        );
        // The holders are the services that have ports, each with its ports in port-name order.
        assert!(msg.contains("taken by big (30359, 30358, 30349, "), "{msg}");
        assert!(!msg.contains("none ("), "{msg}");
    }

    #[test]
    fn hash_is_stable() {
        // Pinned values (64-bit FNV-1a mod 138, worked out by hand): changing the hash would move
        // every user's ports.
        assert_eq!(preferred_slot("shop"), 17);
        assert_eq!(preferred_slot("blog"), 101);
        assert_eq!(preferred_slot("p55"), 137);
        assert_eq!(preferred_slot(""), 59);
    }

    #[test]
    fn assign_probes_past_taken_slots_and_is_sticky() {
        let mut r = Registry::default();
        assert_eq!(r.assign("shop", None).expect("slot"), 17);
        r.projects.insert("squatter".into(), Entry { slot: 18, ..Entry::default() });
        // with its preferred slot 17 and the next one taken, `shop` probes on to 19
        r.projects.remove("shop");
        r.projects.insert("other".into(), Entry { slot: 17, ..Entry::default() });
        assert_eq!(r.assign("shop", None).expect("slot"), 19);
        assert_eq!(r.assign("shop", None).expect("slot"), 19, "sticky");
        // `p55` prefers the last slot (137); taken, it wraps around to 0
        r.projects.insert("last".into(), Entry { slot: 137, ..Entry::default() });
        assert_eq!(r.assign("p55", None).expect("slot"), 0);
    }

    #[test]
    fn known_slot_from_a_running_cluster_wins_when_free() {
        let mut r = Registry::default();
        assert_eq!(r.assign("shop", Some(7)).expect("slot"), 7);
        let mut r2 = Registry::default();
        r2.projects.insert("x".into(), Entry { slot: 7, ..Entry::default() });
        assert_ne!(r2.assign("shop", Some(7)).expect("slot"), 7);
    }

    #[test]
    fn out_of_range_slots_are_refused_for_their_project_and_ignored_for_others() {
        let mut r = Registry::default();
        r.projects.insert("big".into(), Entry { slot: 138, ..Entry::default() });
        r.projects.insert("huge".into(), Entry { slot: 3000, ..Entry::default() });
        let err = r.assign("big", None).expect_err("138 is past the last slot (137)");
        assert_eq!(crate::error::code_of(&err), Code::Invalid);
        assert!(err.to_string().contains("32760-32779"), "{err}");
        assert!(r.assign("huge", None).is_err());
        assert_eq!(r.bad_slots(), vec![("big", 138), ("huge", 3000)]);
        // Another project is not blocked by them and never gets a bad slot.
        let s = r.assign("shop", Some(138)).expect("slot");
        assert!(s < SLOTS);
        assert_eq!(r.assign("last", Some(137)).expect("slot"), 137);
    }

    #[test]
    fn claim_records_the_directory_and_release_frees_the_slot() {
        let mut r = Registry::default();
        let s = r.claim("shop", None, Utf8Path::new("/src/shop")).expect("slot");
        assert_eq!(r.projects["shop"].dir.as_deref(), Some(Utf8Path::new("/src/shop")));
        // the same slot from another directory (--adopt): the directory moves with it
        assert_eq!(r.claim("shop", None, Utf8Path::new("/src/shop2")).expect("slot"), s);
        assert_eq!(r.projects["shop"].dir.as_deref(), Some(Utf8Path::new("/src/shop2")));
        // old files without `dir` still load, and an entry without one is written without it
        let old: Registry =
            serde_json::from_str(r#"{"version":1,"projects":{"blog":{"slot":3}}}"#).expect("old");
        assert_eq!(old.projects["blog"].dir, None);
        assert_eq!(
            serde_json::to_string(&old).expect("json"),
            r#"{"version":1,"projects":{"blog":{"slot":3}}}"#
        );
        assert_eq!(r.release(&["shop", "nope"]), vec![("shop".to_owned(), s)]);
        assert!(r.projects.is_empty());
        assert_eq!(r.assign("other", Some(s)).expect("slot"), s, "a freed slot is reusable");
    }

    /// This project's own Tilt (alive, and about to be stopped) excuses only the Tilt port: a
    /// busy port of the NodePort block is still someone else's.
    #[test]
    fn own_tilt_excuses_only_the_tilt_port() {
        let l = std::net::TcpListener::bind(("127.0.0.1", 0)).expect("bind");
        let port = l.local_addr().expect("addr").port();
        // The block starts at the held port; the Tilt port is one nothing holds (just freed).
        let free = std::net::TcpListener::bind(("127.0.0.1", 0)).expect("bind");
        let tilt = free.local_addr().expect("addr").port();
        drop(free);
        let ports = Ports { slot: 0, tilt, base: port };
        let own = Some(OwnTilt { pid: std::process::id() as i32, stopped_first: true });
        let err = check_free(&ports, Check::Block, None, "shop", own).expect_err("busy");
        assert!(
            err.to_string().contains(&format!("port {port} is in use by another program")),
            "{err}"
        );
        drop(l);
    }

    #[test]
    fn busy_port_is_named() {
        let l = std::net::TcpListener::bind(("127.0.0.1", 0)).expect("bind");
        let port = l.local_addr().expect("addr").port();
        assert!(port_busy(port));
        drop(l);
        assert!(!port_busy(port), "free again once the listener is gone");
        let l = std::net::TcpListener::bind(("127.0.0.1", port)).expect("rebind");
        let ports = Ports { slot: 0, tilt: port, base: 30000 };
        let err = check_free(&ports, Check::Tilt, None, "shop", None).expect_err("busy");
        assert!(
            err.to_string().contains(&format!("port {port} is in use by another program")),
            "{err}"
        );
        drop(l);
    }
}
