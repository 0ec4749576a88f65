//! `docker` calls run and read in one step: the daemon check, one container's inspect, the
//! kilter nodes, and their CPU and memory use.

use anyhow::Result;

use super::{
    Container, Docker, KilterNode, PsEntry, Usage, daemon_error, daemon_unreachable,
    interpret_inspect, kilter_nodes, parse_ps, parse_stats, stats_lost_a_container,
};
use crate::error::Exit;
use crate::exec::{Output, Runner};

impl Docker<'_> {
    /// Preflight: the daemon answers. Old clients (≤ 28.0) exit 0 with the error on stderr, so
    /// the stderr text and an empty version count as well as the exit code.
    pub fn check_daemon(out: &Output) -> Result<String, Exit> {
        if !out.success() || daemon_unreachable(&out.stderr) || out.stdout.trim().is_empty() {
            return Err(daemon_error(&out.stderr));
        }
        Ok(out.stdout.trim().to_owned())
    }

    /// Inspect one container: `Ok(None)` when it does not exist; exit 3 when the daemon is down.
    pub fn inspect(&self, runner: &Runner<'_>, name: &str) -> Result<Option<Container>> {
        let cmd = self.inspect_cmd(name);
        let out = runner.run_unchecked(&cmd)?;
        interpret_inspect(runner, &cmd, &out)
    }

    /// Like [`Docker::kilter_nodes`], from one `docker ps -a` that selects by name
    /// ([`Docker::ps_names_cmd`]): the nodes, and every listed container (for the shared
    /// registry and caches, which carry no kind label).
    pub fn kilter_nodes_named(
        &self,
        runner: &Runner<'_>,
        prefixes: &[String],
    ) -> Result<(Vec<KilterNode>, Vec<PsEntry>)> {
        let cmd = self.ps_names_cmd(prefixes);
        let out = runner.run_unchecked(&cmd)?;
        if daemon_unreachable(&out.stderr) {
            return Err(daemon_error(&out.stderr).into());
        }
        if !out.success() {
            return Err(runner.failed(&cmd, &out, None).into());
        }
        let entries = parse_ps(&out.stdout)?;
        Ok((kilter_nodes(&entries), entries))
    }

    /// Every kilter node container (any state) from one `docker ps -a`; exit 3 when the daemon
    /// is down.
    pub fn kilter_nodes(&self, runner: &Runner<'_>) -> Result<Vec<KilterNode>> {
        let cmd = self.ps_kind_cmd();
        let out = runner.run_unchecked(&cmd)?;
        if daemon_unreachable(&out.stderr) {
            return Err(daemon_error(&out.stderr).into());
        }
        if !out.success() {
            return Err(runner.failed(&cmd, &out, None).into());
        }
        Ok(kilter_nodes(&parse_ps(&out.stdout)?))
    }

    /// CPU and memory of the named kilter nodes (see [`Docker::stats_cmd`]), killed after
    /// `limit`. A node removed since it was listed fails docker's whole call — `No such
    /// container: X` when it was gone before the call, a bare `EOF` when it went while being
    /// sampled (measured with docker 20.10 and 28.2 clients) — so on such a failure the nodes
    /// are listed again and the call made once more for those still running. `Err` says why
    /// there are no figures.
    pub fn usage(
        &self,
        runner: &Runner<'_>,
        names: &[&str],
        limit: std::time::Duration,
    ) -> Result<Vec<Usage>, String> {
        let mut names: Vec<String> = names.iter().map(|n| (*n).to_owned()).collect();
        for attempt in 0..2 {
            if names.is_empty() {
                return Ok(Vec::new());
            }
            let cmd = self.stats_cmd(&names);
            let out = runner.run_for(&cmd, limit).map_err(|e| format!("{e:#}"))?;
            if out.success() {
                return parse_stats(&out.stdout).map_err(|e| format!("{e:#}"));
            }
            if attempt > 0 || out.timed_out || !stats_lost_a_container(&out.stderr) {
                return Err(format!("`{cmd}`: {}", out.reason()));
            }
            let still: Vec<String> = self
                .kilter_nodes(runner)
                .map_err(|e| format!("{e:#}"))?
                .into_iter()
                .filter(KilterNode::running)
                .map(|n| n.node)
                .collect();
            names.retain(|n| still.contains(n));
        }
        Err("internal: no answer from docker stats".into())
    }
}
