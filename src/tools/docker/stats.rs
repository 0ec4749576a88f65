//! `docker stats --no-stream --format '{{json .}}'`: CPU and memory figures, and docker's
//! sizes and percentages read back.

use anyhow::Result;
use serde::Deserialize;

/// One container's usage from `docker stats --no-stream --format '{{json .}}'`. A figure docker
/// could not read (`--`, e.g. a container that stopped while it was sampled) is `None`.
#[derive(Debug, Clone, PartialEq)]
pub struct Usage {
    /// The container name (without docker's leading `/`).
    pub name: String,
    /// Percent of one CPU (a busy container on 4 CPUs can show up to 400%).
    pub cpu_percent: Option<f64>,
    pub memory_bytes: Option<u64>,
    /// What the container may use: its limit, or the engine's memory when it has none.
    pub memory_limit_bytes: Option<u64>,
    pub memory_percent: Option<f64>,
}

/// The fields of a `docker stats` JSON line kilter reads (docker's statsContext: every value is
/// a string).
#[derive(Debug, Deserialize)]
#[serde(rename_all = "PascalCase")]
struct StatsLine {
    #[serde(default)]
    container: String,
    #[serde(default)]
    name: String,
    #[serde(default, rename = "CPUPerc")]
    cpu_perc: String,
    #[serde(default)]
    mem_usage: String,
    #[serde(default)]
    mem_perc: String,
}

/// Parse `docker stats --no-stream --format '{{json .}}'` output, one object per line.
pub fn parse_stats(stdout: &str) -> Result<Vec<Usage>> {
    stdout
        .lines()
        .filter(|l| !l.trim().is_empty())
        .map(|l| {
            let s: StatsLine = serde_json::from_str(l)
                .map_err(|e| anyhow::anyhow!("could not parse `docker stats` line {l:?}: {e}"))?;
            // `MemUsage` is "used / limit" on Linux and only "used" on Windows.
            let (used, limit) = match s.mem_usage.split_once(" / ") {
                Some((u, l)) => (parse_size(u), parse_size(l)),
                None => (parse_size(&s.mem_usage), None),
            };
            let name = if s.name.is_empty() || s.name == "--" { s.container } else { s.name };
            Ok(Usage {
                name: name.trim_start_matches('/').to_owned(),
                cpu_percent: parse_percent(&s.cpu_perc),
                memory_bytes: used,
                memory_limit_bytes: limit,
                memory_percent: parse_percent(&s.mem_perc),
            })
        })
        .collect()
}

/// `2.50%` → 2.5; `--` (no data) → `None`.
pub fn parse_percent(s: &str) -> Option<f64> {
    let v: f64 = s.trim().strip_suffix('%')?.trim().parse().ok()?;
    (v.is_finite() && v >= 0.0).then_some(v)
}

/// A size as docker prints it, back to bytes: binary units from go-units `BytesSize`
/// (`650MiB`, `7.598GiB`, `1.5KiB`, `0B`) and decimal ones from `HumanSize` (`12.3MB`, `1kB`).
/// Docker rounds to 4 significant digits, so the result is within 0.05% of the real figure.
pub fn parse_size(s: &str) -> Option<u64> {
    let s = s.trim();
    let split = s.find(|c: char| !(c.is_ascii_digit() || c == '.' || c == 'e' || c == '+'))?;
    let (num, unit) = s.split_at(split);
    let n: f64 = num.parse().ok()?;
    let factor: f64 = match unit.trim() {
        "B" => 1.0,
        "KiB" => 1024.0,
        "MiB" => 1024f64.powi(2),
        "GiB" => 1024f64.powi(3),
        "TiB" => 1024f64.powi(4),
        "PiB" => 1024f64.powi(5),
        "kB" | "KB" => 1e3,
        "MB" => 1e6,
        "GB" => 1e9,
        "TB" => 1e12,
        "PB" => 1e15,
        _ => return None,
    };
    let bytes = n * factor;
    (bytes.is_finite() && bytes >= 0.0 && bytes < u64::MAX as f64).then(|| bytes.round() as u64)
}
