//! What `status`, `ls`, `doctor` and `registry status` show of the shared containers.

use serde::Serialize;

use super::{CONTAINER_PORT, KIND_NETWORK, Seen, Settings, is_kilters};

/// What `status`, `ls`, `doctor` and `registry status` show of one shared container.
#[derive(Debug, Clone, Serialize)]
pub struct SharedRow {
    pub name: String,
    /// `registry` or `cache`
    pub role: String,
    /// The upstream a cache mirrors.
    pub upstream: Option<String>,
    pub remote: Option<String>,
    /// docker's state word, or `absent`
    pub state: String,
    /// `127.0.0.1:<port>` for the registry.
    pub address: Option<String>,
    pub on_kind_network: bool,
    pub volume: String,
    /// Whether the container is kilter's (carries its label); true when absent. A same-named
    /// container of someone else's is shown, never touched.
    pub kilters: bool,
}

/// One row per shared container, in [`Settings::names`] order.
pub fn rows(settings: &Settings, seen: &Seen) -> Vec<SharedRow> {
    let mut out = Vec::new();
    let reg = settings.registry_name();
    let c = seen.get(&reg);
    out.push(SharedRow {
        name: reg.clone(),
        role: "registry".into(),
        upstream: None,
        remote: None,
        state: c.map(|c| c.state.status.clone()).unwrap_or_else(|| "absent".into()),
        address: c
            .and_then(|c| c.configured_port(CONTAINER_PORT))
            .map(|p| format!("127.0.0.1:{p}")),
        on_kind_network: c.is_some_and(|c| c.on_network(KIND_NETWORK)),
        volume: reg,
        kilters: c.is_none_or(|c| is_kilters(settings, c)),
    });
    for u in &settings.upstreams {
        let name = settings.cache_name(u);
        let c = seen.get(&name);
        out.push(SharedRow {
            name: name.clone(),
            role: "cache".into(),
            upstream: Some(u.host.clone()),
            remote: Some(u.remote.clone()),
            state: c.map(|c| c.state.status.clone()).unwrap_or_else(|| "absent".into()),
            address: None,
            on_kind_network: c.is_some_and(|c| c.on_network(KIND_NETWORK)),
            volume: name,
            kilters: c.is_none_or(|c| is_kilters(settings, c)),
        });
    }
    out
}

/// One line for `status` and `ls`: `running on 127.0.0.1:5001, 4/4 caches running`.
pub fn summary(rows: &[SharedRow]) -> String {
    let Some(reg) = rows.first() else { return "-".into() };
    let caches = &rows[1..];
    let running = caches.iter().filter(|r| r.state == "running").count();
    let reg_text = match (&reg.address, reg.state.as_str()) {
        _ if !reg.kilters => format!("{} is not kilter's (in the way)", reg.name),
        (_, "absent") => "absent".to_owned(),
        (Some(a), s) => format!("{s} on {a}"),
        (None, s) => s.to_owned(),
    };
    format!("{reg_text}, {running}/{} caches running", caches.len())
}
