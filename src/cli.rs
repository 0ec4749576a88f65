//! Command-line flags, exactly as typed (clap derive). Interpretation happens in `lib.rs`/ops.

use camino::Utf8PathBuf;
use clap::{Args, Parser, Subcommand};

use crate::ui::ColorChoice;

/// One disposable local Kubernetes (KIND + Tilt) dev environment per project.
#[derive(Debug, Parser)]
#[command(name = "kilter", version, about, propagate_version = true, max_term_width = 100)]
pub struct Cli {
    #[command(flatten)]
    pub global: Global,
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Debug, Args, Clone)]
pub struct Global {
    /// Run as if started in DIR (where kilter.yaml is looked up from)
    #[arg(short = 'C', long = "project-dir", value_name = "DIR", global = true)]
    pub project_dir: Option<Utf8PathBuf>,
    /// Also show read-only probes (-v) and their output, env and timings (-vv)
    #[arg(short, long, action = clap::ArgAction::Count, global = true, conflicts_with = "quiet")]
    pub verbose: u8,
    /// Print errors only
    #[arg(short, long, global = true)]
    pub quiet: bool,
    /// When to use colour (NO_COLOR is honoured)
    #[arg(long, value_enum, default_value = "auto", global = true, value_name = "WHEN")]
    pub color: ColorChoice,
    /// Run read-only probes, print the mutating commands as a script on stdout, change nothing
    #[arg(long, global = true)]
    pub dry_run: bool,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Write a starter kilter.yaml (never overwrites)
    Init(InitArgs),
    /// Create or resume the cluster, wait until healthy, start Tilt
    Up(UpArgs),
    /// Stop this project's Tilt only; the cluster and pods keep running
    Down(AdoptArgs),
    /// Stop Tilt and the cluster's container (state kept on disk); resume with `kilter up`
    Stop(StopArgs),
    /// Delete the cluster (asks for confirmation); snapshots and the port slot are kept
    Destroy(DestroyArgs),
    /// One shot for a CI job: cluster, restore, `tilt ci`, artifacts on failure, destroy
    Ci(CiArgs),
    /// Node, API, Tilt, pods, ports, kubeconfig and snapshots of this project
    Status(StatusArgs),
    /// Every kilter cluster on this machine, with its CPU and memory
    Ls(JsonArgs),
    /// Find and remove what no project owns any more (asks first)
    Gc(GcArgs),
    /// Shell exports for this project and its services: eval "$(kilter env)"
    Env(EnvArgs),
    /// Logs of a Deployment or StatefulSet in the project namespace (all containers)
    Logs(LogsArgs),
    /// Rollout-restart one workload, or all of them, and wait for the rollout
    Restart(RestartArgs),
    /// Run a command in a workload's pod (exit code of the remote command)
    Exec(ExecArgs),
    /// Check tools, Docker, kilter.yaml, ports, kubeconfig, memory, disk and inotify limits
    Doctor(JsonArgs),
    /// Print a shell completion script
    Completions(CompletionsArgs),
    /// Database snapshots that survive `destroy`: snapshot, list, restore, rm, prune, pin, shell
    Db(DbArgs),
    /// The machine's shared local registry and pull-through image caches
    Registry(RegistryArgs),
    /// The machine's shared router: http://<name>.<project>.localhost for every project
    Router(RouterArgs),
    /// The services `services:` in kilter.yaml can name: images, ports, what they provide
    Catalog(CatalogArgs),
    /// Add catalog services to kilter.yaml; applied at once when the cluster runs
    Add(AddArgs),
    /// Remove services from kilter.yaml; deleted at once when the cluster runs (data kept)
    Remove(RemoveArgs),
    /// Render the app's Tiltfile, Dockerfile and manifests into the cache and print them
    Render,
    /// Write the rendered Tiltfile, Dockerfile and manifests into the project (never overwrites)
    Eject,
}

#[derive(Debug, Args)]
pub struct RegistryArgs {
    #[command(subcommand)]
    pub command: RegistryCommand,
}

#[derive(Debug, Subcommand)]
pub enum RegistryCommand {
    /// The registry and each cache: state, address, network, volume
    Status(JsonArgs),
    /// Create or start the registry and the caches
    Start,
    /// Stop them (their data is kept; `kilter up` starts them again)
    Stop,
    /// Remove the containers (asks first; --yes without a terminal)
    Rm(RegistryRmArgs),
}

#[derive(Debug, Args)]
pub struct RegistryRmArgs {
    /// Also remove their volumes (the pushed images and the cached layers)
    #[arg(long)]
    pub volumes: bool,
    /// Do not ask for confirmation (required without a terminal)
    #[arg(short, long)]
    pub yes: bool,
}

#[derive(Debug, Args)]
pub struct RouterArgs {
    #[command(subcommand)]
    pub command: RouterCommand,
}

#[derive(Debug, Subcommand)]
pub enum RouterCommand {
    /// The router: state, address, and every name it answers
    Status(JsonArgs),
    /// Create or start the router and reload its routes
    Start,
    /// Stop it (`kilter up` or `kilter router start` starts it again)
    Stop,
    /// Remove the container (its configuration file is kept and rewritten by the next `up`)
    Rm,
}

#[derive(Debug, Args)]
pub struct EnvArgs {
    /// Machine-readable output (has a `schema_version`)
    #[arg(long, conflicts_with = "dotenv")]
    pub json: bool,
    /// The services' variables with their host values, in `.env` syntax (e.g. `> .env`)
    #[arg(long)]
    pub dotenv: bool,
}

#[derive(Debug, Args)]
#[command(args_conflicts_with_subcommands = true)]
pub struct CatalogArgs {
    /// Machine-readable output (has a `schema_version`)
    #[arg(long)]
    pub json: bool,
    #[command(subcommand)]
    pub command: Option<CatalogCommand>,
}

#[derive(Debug, Subcommand)]
pub enum CatalogCommand {
    /// Image, ports, environment, volume and provided variables of one catalog service
    Show(CatalogShowArgs),
}

#[derive(Debug, Args)]
pub struct CatalogShowArgs {
    /// A catalog service (`kilter catalog` lists them)
    pub name: String,
    /// Machine-readable output (has a `schema_version`)
    #[arg(long)]
    pub json: bool,
}

#[derive(Debug, Args)]
pub struct AddArgs {
    /// Catalog services to add (e.g. postgres redis)
    #[arg(required = true, num_args = 1..)]
    pub names: Vec<String>,
    /// Give up (exit 5) if the services are not ready by then (when the cluster runs)
    #[arg(long, default_value = "120s", value_name = "D")]
    pub timeout: DurationArg,
}

#[derive(Debug, Args)]
pub struct RemoveArgs {
    /// Services to remove from `services:`
    #[arg(required = true, num_args = 1..)]
    pub names: Vec<String>,
    /// Also delete their data (the PersistentVolumeClaims kept otherwise)
    #[arg(long)]
    pub prune_data: bool,
    /// Give up (exit 5) if deleting them takes longer (when the cluster runs)
    #[arg(long, default_value = "120s", value_name = "D")]
    pub timeout: DurationArg,
}

#[derive(Debug, Args)]
pub struct JsonArgs {
    /// Machine-readable output (has a `schema_version`)
    #[arg(long)]
    pub json: bool,
}

#[derive(Debug, Args)]
pub struct StatusArgs {
    /// Machine-readable output (has a `schema_version`)
    #[arg(long)]
    pub json: bool,
    /// Give up on a probe (docker, the API, pods) after this long and say which one did
    #[arg(long, default_value = "3s", value_name = "D")]
    pub probe_timeout: DurationArg,
}

#[derive(Debug, Args)]
pub struct LogsArgs {
    /// The Deployment or StatefulSet
    pub service: String,
    /// Stream until Ctrl-C
    #[arg(short, long)]
    pub follow: bool,
    /// Lines to show from the end of each container's log
    #[arg(long, value_name = "N")]
    pub tail: Option<u64>,
    /// Only logs newer than this (e.g. 5m, 1h)
    #[arg(long, value_name = "D")]
    pub since: Option<String>,
}

#[derive(Debug, Args)]
pub struct RestartArgs {
    /// The Deployment or StatefulSet (default: all of them)
    pub service: Option<String>,
    /// How long to wait for each rollout (e.g. 120s, 2m)
    #[arg(long, default_value = "120s", value_name = "D")]
    pub timeout: DurationArg,
}

#[derive(Debug, Args)]
pub struct ExecArgs {
    /// The Deployment or StatefulSet
    pub service: String,
    /// The command and its arguments
    #[arg(trailing_var_arg = true, allow_hyphen_values = true, required = true, num_args = 1..)]
    pub command: Vec<String>,
}

#[derive(Debug, Args)]
pub struct CompletionsArgs {
    /// bash, zsh, fish, powershell or elvish
    pub shell: clap_complete::Shell,
}

#[derive(Debug, Args)]
pub struct InitArgs {
    /// Project name (default: the directory name, normalised)
    #[arg(long)]
    pub name: Option<String>,
}

#[derive(Debug, Args)]
pub struct UpArgs {
    /// Give up (exit 5) if the cluster is not up and healthy by then (e.g. 120s, 2m)
    #[arg(long, default_value = "120s", value_name = "D")]
    pub timeout: DurationArg,
    /// Bring the cluster up without starting Tilt
    #[arg(long, conflicts_with_all = ["attach", "ci"])]
    pub no_tilt: bool,
    /// Run Tilt in the foreground (Ctrl-C stops Tilt only)
    #[arg(long, conflicts_with = "ci")]
    pub attach: bool,
    /// Run `tilt ci` in the foreground and exit with its code (for CI jobs)
    #[arg(long)]
    pub ci: bool,
    /// Take over a cluster created from another directory with the same project name
    #[arg(long)]
    pub adopt: bool,
    /// Also delete the data (PersistentVolumeClaims) of services removed from kilter.yaml
    #[arg(long)]
    pub prune_data: bool,
    /// Keep Tilt running when its Tiltfile does not load or it cannot reach the cluster (a
    /// warning instead of exit 1)
    #[arg(long, conflicts_with_all = ["no_tilt", "attach", "ci"])]
    pub keep_going: bool,
}

#[derive(Debug, Args)]
pub struct CiArgs {
    /// Give up (exit 5) when the whole run has not finished by then (e.g. 30m, 1h); collecting
    /// the artifacts and deleting the cluster afterwards get a few minutes of their own
    #[arg(long, default_value = "30m", value_name = "D")]
    pub timeout: DurationArg,
    /// Where to collect the evidence of a failure (default: <cache dir>/artifacts)
    #[arg(long, value_name = "DIR")]
    pub artifacts: Option<Utf8PathBuf>,
    /// Keep the cluster afterwards, whatever the outcome
    #[arg(long, conflicts_with = "keep_on_failure")]
    pub keep: bool,
    /// Keep the cluster when the run fails (to look at it); delete it when it passes
    #[arg(long)]
    pub keep_on_failure: bool,
    /// Restore this database snapshot once the cluster is up, before `tilt ci`
    #[arg(long, value_name = "SNAPSHOT")]
    pub restore: Option<String>,
    /// Run on a throwaway cluster of its own: refuse (exit 4) when the project's cluster exists
    /// already, instead of reusing (and keeping) it
    #[arg(long)]
    pub fresh: bool,
}

#[derive(Debug, Args)]
pub struct AdoptArgs {
    /// Act on a cluster created from another directory with the same project name
    #[arg(long)]
    pub adopt: bool,
}

#[derive(Debug, Args)]
pub struct StopArgs {
    /// Act on a cluster created from another directory with the same project name
    #[arg(long, conflicts_with = "all")]
    pub adopt: bool,
    /// Stop every running kilter cluster on this machine (a few at a time)
    #[arg(long)]
    pub all: bool,
}

#[derive(Debug, Args)]
pub struct GcArgs {
    /// Collect only these projects (or clusters `kilter-<name>`), also when a directory still
    /// claims them; a project whose directory still resolves to it is refused (`kilter destroy`)
    #[arg(value_name = "NAME")]
    pub names: Vec<String>,
    /// Do not ask for confirmation (required without a terminal)
    #[arg(short, long)]
    pub yes: bool,
    /// Also remove the snapshots of projects that are gone (they are only listed otherwise)
    #[arg(long)]
    pub snapshots: bool,
}

#[derive(Debug, Args)]
pub struct DestroyArgs {
    /// Do not ask for confirmation (required without a terminal)
    #[arg(short, long)]
    pub yes: bool,
    /// Skip the automatic pre-destroy database snapshot
    #[arg(long)]
    pub no_snapshot: bool,
    /// Act on a cluster created from another directory with the same project name
    #[arg(long)]
    pub adopt: bool,
}

#[derive(Debug, Args)]
pub struct DbArgs {
    #[command(subcommand)]
    pub command: DbCommand,
}

#[derive(Debug, Subcommand)]
pub enum DbCommand {
    /// Dump the database (pg_dump -Fc -Z0, mysqldump or mariadb-dump) into a zstd-compressed snapshot outside the cluster
    Snapshot(SnapshotArgs),
    /// List snapshots, newest first
    List(JsonArgs),
    /// Verify a snapshot's checksums, then restore it (pg_restore --clean --if-exists --no-owner, mysql or mariadb)
    Restore(RestoreArgs),
    /// Delete one snapshot (also an incomplete one)
    Rm(RmArgs),
    /// Delete old snapshots, keeping the newest N and every pinned one
    Prune(PruneArgs),
    /// Keep a snapshot from `kilter db prune`
    Pin(PinArgs),
    /// Let `kilter db prune` remove a pinned snapshot again
    Unpin(PinArgs),
    /// Open the database client (psql, mysql or mariadb) in the database pod
    Shell(ShellArgs),
}

#[derive(Debug, Args)]
pub struct PruneArgs {
    /// Keep this many of the newest unpinned snapshots (at least 1: the newest is never removed)
    #[arg(long, value_name = "N", value_parser = clap::value_parser!(u32).range(1..), required = true)]
    pub keep: u32,
    /// Only remove snapshots older than this (e.g. 30d, 12h, 2w)
    #[arg(long, value_name = "AGE", value_parser = parse_age)]
    pub older_than: Option<std::time::Duration>,
}

#[derive(Debug, Args)]
pub struct ShellArgs {
    /// Extra arguments for the client (after `--`), e.g. `-- -c 'select 1'`
    #[arg(last = true, allow_hyphen_values = true)]
    pub args: Vec<String>,
}

#[derive(Debug, Args)]
#[command(args_conflicts_with_subcommands = true)]
pub struct SnapshotArgs {
    /// Snapshot name: letters, digits, '.', '_', '-', at most 64 (default: UTC YYYYMMDD-HHMMSS)
    pub name: Option<String>,
    /// Replace an existing snapshot of that name (only once the new dump is complete)
    #[arg(long)]
    pub force: bool,
    /// Further databases of the same server to put into the snapshot (comma-separated)
    #[arg(long, value_name = "DB,…", value_delimiter = ',')]
    pub include: Vec<String>,
    #[command(subcommand)]
    pub command: Option<SnapshotCommand>,
}

#[derive(Debug, Subcommand)]
pub enum SnapshotCommand {
    /// The same as `kilter db list`
    List(JsonArgs),
}

#[derive(Debug, Args)]
pub struct RestoreArgs {
    /// Snapshot to restore (default: the newest)
    pub name: Option<String>,
}

#[derive(Debug, Args)]
pub struct RmArgs {
    /// Snapshot to delete
    pub name: String,
}

#[derive(Debug, Args)]
pub struct PinArgs {
    /// Snapshot to pin or unpin
    pub name: String,
}

/// An age for `db prune --older-than`: `30d`, `2w`, or anything [`parse_duration`] reads.
pub fn parse_age(s: &str) -> Result<std::time::Duration, String> {
    let t = s.trim();
    for (unit, secs) in [('d', 86_400u64), ('w', 7 * 86_400)] {
        if let Some(n) = t.strip_suffix(unit) {
            return n
                .parse::<u64>()
                .ok()
                .and_then(|n| n.checked_mul(secs))
                .map(std::time::Duration::from_secs)
                .ok_or_else(|| format!("invalid age `{s}` (try 30d, 2w or 12h)"));
        }
    }
    parse_duration(t).map_err(|e| format!("{e}; days and weeks work too (30d, 2w)"))
}

/// Longest duration kilter accepts (a week): anything longer is surely a typo, and it keeps
/// `Instant` arithmetic far from overflowing.
pub const MAX_DURATION: std::time::Duration = std::time::Duration::from_secs(7 * 24 * 3600);

/// A duration flag (`--timeout`, `--probe-timeout`), parsed once when the command line is:
/// [`Command::check_flags`] turns a value that does not parse into exit 4 with the rule before
/// any op runs, so an op only ever sees a valid one. Shown as the user typed it.
#[derive(Debug, Clone)]
pub struct DurationArg {
    text: String,
    parsed: Result<std::time::Duration, String>,
}

impl std::str::FromStr for DurationArg {
    type Err = std::convert::Infallible;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Ok(DurationArg { text: s.to_owned(), parsed: parse_duration(s) })
    }
}

impl std::fmt::Display for DurationArg {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.text)
    }
}

impl DurationArg {
    /// The duration (checked before dispatch; zero for a value that was not).
    pub fn get(&self) -> std::time::Duration {
        self.parsed.clone().unwrap_or_default()
    }

    /// Exit 4 with the rule when the value does not parse.
    fn check(&self, flag: &str) -> Result<(), crate::error::Exit> {
        self.parsed.as_ref().map(|_| ()).map_err(|why| {
            crate::error::invalid(format!("{flag} {}: {why}", self.text))
                .hint("durations look like 90s, 2m, 1m30s, 500ms or 1h (at most 7 days)")
        })
    }
}

impl Command {
    /// Every duration flag of the command parses (exit 4 otherwise), checked once before
    /// dispatch.
    pub fn check_flags(&self) -> Result<(), crate::error::Exit> {
        match self {
            Command::Up(a) => a.timeout.check("--timeout"),
            Command::Ci(a) => a.timeout.check("--timeout"),
            Command::Add(a) => a.timeout.check("--timeout"),
            Command::Remove(a) => a.timeout.check("--timeout"),
            Command::Restart(a) => a.timeout.check("--timeout"),
            Command::Status(a) => a.probe_timeout.check("--probe-timeout"),
            _ => Ok(()),
        }
    }
}

/// `120s`, `2m`, `1m30s`, `500ms`, `1h`, or a bare number of seconds; at most [`MAX_DURATION`].
pub fn parse_duration(s: &str) -> Result<std::time::Duration, String> {
    let s = s.trim();
    if s.is_empty() {
        return Err("empty duration".into());
    }
    if let Ok(n) = s.parse::<u64>() {
        return Some(std::time::Duration::from_secs(n))
            .filter(|d| *d <= MAX_DURATION)
            .ok_or_else(|| format!("`{s}` is longer than 7 days"));
    }
    let mut total_ms: u128 = 0;
    let mut num = String::new();
    let mut chars = s.chars().peekable();
    while let Some(c) = chars.next() {
        if c.is_ascii_digit() || c == '.' {
            num.push(c);
            continue;
        }
        let mut unit = c.to_string();
        if c == 'm' && chars.peek() == Some(&'s') {
            chars.next();
            unit = "ms".into();
        }
        let n: f64 =
            num.parse().map_err(|e| format!("invalid duration `{s}` ({e}; try 120s or 2m)"))?;
        if !n.is_finite() {
            return Err(format!("invalid duration `{s}`"));
        }
        num.clear();
        let factor = match unit.as_str() {
            "ms" => 1.0,
            "s" => 1000.0,
            "m" => 60_000.0,
            "h" => 3_600_000.0,
            _ => {
                return Err(format!(
                    "invalid duration `{s}`: unknown unit `{unit}` (use ms, s, m or h)"
                ));
            }
        };
        total_ms += (n * factor) as u128;
        if total_ms > MAX_DURATION.as_millis() {
            return Err(format!("`{s}` is longer than 7 days"));
        }
    }
    if !num.is_empty() {
        return Err(format!(
            "invalid duration `{s}`: missing unit after {num} (use ms, s, m or h)"
        ));
    }
    Ok(std::time::Duration::from_millis(total_ms as u64))
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    #[test]
    fn durations() {
        assert_eq!(parse_duration("120s"), Ok(Duration::from_secs(120)));
        assert_eq!(parse_duration("2m"), Ok(Duration::from_secs(120)));
        assert_eq!(parse_duration("1m30s"), Ok(Duration::from_secs(90)));
        assert_eq!(parse_duration("500ms"), Ok(Duration::from_millis(500)));
        assert_eq!(parse_duration("1.5s"), Ok(Duration::from_millis(1500)));
        assert_eq!(parse_duration("30"), Ok(Duration::from_secs(30)));
        assert!(parse_duration("10x").is_err());
        assert!(parse_duration("10m5").is_err());
        assert!(parse_duration("").is_err());
        assert_eq!(parse_age("30d"), Ok(Duration::from_secs(30 * 86_400)));
        assert_eq!(parse_age("2w"), Ok(Duration::from_secs(14 * 86_400)));
        assert_eq!(parse_age("12h"), Ok(Duration::from_secs(12 * 3600)));
        for bad in ["d", "-1d", "1.5d", "99999999999999999999d", "x", ""] {
            assert!(parse_age(bad).is_err(), "{bad}");
        }
        for bad in ["-1s", "inf", "NaN", "99999999999999999999h", "8d", "169h", "1e9s"] {
            assert!(parse_duration(bad).is_err(), "{bad}");
        }
        assert_eq!(parse_duration("168h"), Ok(MAX_DURATION));
    }

    #[test]
    fn cli_is_well_formed() {
        use clap::CommandFactory;
        Cli::command().debug_assert();
    }
}
