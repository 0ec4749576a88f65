//! `tilt`: the commands kilter runs and the whole lifecycle of a detached Tilt: starting it and
//! watching it get past its port bind, the `tilt.json` record, and stopping its process group
//! (SIGTERM, wait, SIGKILL) without ever signalling a stale pid.

use std::time::{Duration, Instant};

use anyhow::Result;
use camino::Utf8Path;
use serde::{Deserialize, Serialize};

use super::Bin;
use crate::error::{Code, Exit};
use crate::exec::{
    ChildState, Cmd, Content, Runner, START_TIME_OF_LAST_JOB, Spawned, Stopped, cmdline,
    leads_group, marked_groups, pid_alive, same_process, table,
};
use crate::fsutil::Perm;

/// Everything `tilt up`/`tilt ci` needs.
pub struct TiltArgs<'a> {
    pub port: u16,
    pub file: &'a Utf8Path,
    pub context: &'a str,
    pub namespace: &'a str,
    /// `KUBECONFIG` and the `KILTER_*` variables.
    pub env: &'a [(String, String)],
}

/// The variable a detached Tilt is started with (its record's path), which every command it runs
/// inherits: `stop` finds by it the commands of a Tilt that died (crashed, killed) and left
/// them running, and those that left its process tree.
pub const MARK: &str = "KILTER_TILT_RECORD";

/// Where every Tilt kilter starts serves its UI and API.
pub const HOST: &str = "127.0.0.1";

/// The variables of the user's shell that would change Tilt's port or host, and are overridden
/// by kilter's flags (`up` and `ci` say so).
pub fn overridden_env() -> Vec<String> {
    ["TILT_PORT", "TILT_HOST"]
        .into_iter()
        .filter_map(|k| std::env::var(k).ok().filter(|v| !v.is_empty()).map(|v| format!("{k}={v}")))
        .collect()
}

/// `tilt get <what> -o json --port P --host 127.0.0.1`: ask a running Tilt's API.
pub fn get_cmd(bin: &Bin, port: u16, what: &[&str]) -> Cmd {
    bin.cmd(format!("ask Tilt for its {}", what.join(" ")))
        .arg("get")
        .args(what.iter().copied())
        .args(["-o", "json", "--port", &port.to_string(), "--host", HOST])
}

/// What Tilt's session says of the Tiltfile: still loading, loaded, or failed with Tilt's
/// message.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SessionState {
    pub loaded: bool,
    pub error: Option<String>,
}

/// The JSON document in a `tilt get -o json` answer: from the first line that starts it, up to
/// its end (a wrapper script around tilt may print lines of its own before or after it).
fn json_of(out: &str, what: &str) -> Result<serde_json::Value> {
    let start = out
        .match_indices('{')
        .map(|(i, _)| i)
        .find(|&i| i == 0 || out.as_bytes()[i - 1] == b'\n')
        .ok_or_else(|| anyhow::anyhow!("tilt get {what} printed no JSON"))?;
    serde_json::Deserializer::from_str(&out[start..])
        .into_iter::<serde_json::Value>()
        .next()
        .transpose()
        .map_err(|e| anyhow::anyhow!("tilt get {what} printed no JSON ({e})"))?
        .ok_or_else(|| anyhow::anyhow!("tilt get {what} printed no JSON"))
}

/// Parse `tilt get session Tiltfile -o json` (docs/real-tools.md, "tilt get").
pub fn parse_session(json: &str) -> Result<SessionState> {
    let v = json_of(json, "session")?;
    let mut st = SessionState { loaded: false, error: None };
    let targets = v["status"]["targets"].as_array().cloned().unwrap_or_default();
    if let Some(term) = targets
        .iter()
        .find(|t| t["name"] == "tiltfile:update")
        .and_then(|t| t["state"].get("terminated"))
    {
        st.loaded = true;
        st.error = term["error"].as_str().filter(|e| !e.is_empty()).map(str::to_owned);
    }
    Ok(st)
}

/// The clusters Tilt connects to (`tilt get clusters -o json`; none for a Tiltfile without
/// Kubernetes resources): their connection errors, and whether one has neither connected nor
/// failed yet.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Clusters {
    pub errors: Vec<String>,
    pub connecting: bool,
}

pub fn parse_clusters(json: &str) -> Result<Clusters> {
    let v = json_of(json, "clusters")?;
    let mut c = Clusters { errors: Vec::new(), connecting: false };
    for item in v["items"].as_array().into_iter().flatten() {
        let st = &item["status"];
        match st["error"].as_str().filter(|e| !e.is_empty()) {
            Some(e) => c.errors.push(e.to_owned()),
            None if st.get("connectedAt").is_none() => c.connecting = true,
            None => {}
        }
    }
    Ok(c)
}

/// One of Tilt's resources as `tilt get uiresources -o json` shows it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Resource {
    pub name: String,
    /// `ok`, `error`, `pending`, `in_progress`, `not_applicable`, `none`.
    pub update: String,
    /// `ok`, `error`, `pending`, `not_applicable`, `unknown`.
    pub runtime: String,
    /// The last build's error, first line.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub last_error: Option<String>,
}

/// Parse `tilt get uiresources -o json`, in Tilt's order.
pub fn parse_resources(json: &str) -> Result<Vec<Resource>> {
    let v = json_of(json, "uiresources")?;
    let mut items: Vec<(i64, Resource)> = v["items"]
        .as_array()
        .into_iter()
        .flatten()
        .map(|it| {
            let st = &it["status"];
            let word = |k: &str| st[k].as_str().unwrap_or("unknown").to_owned();
            let last_error = st["buildHistory"]
                .as_array()
                .and_then(|h| h.first())
                .and_then(|b| b["error"].as_str())
                .filter(|e| !e.is_empty())
                .and_then(|e| e.lines().next())
                .map(str::to_owned);
            (
                st["order"].as_i64().unwrap_or(i64::MAX),
                Resource {
                    name: it["metadata"]["name"].as_str().unwrap_or("?").to_owned(),
                    update: word("updateStatus"),
                    runtime: word("runtimeStatus"),
                    last_error,
                },
            )
        })
        .collect();
    items.sort_by_key(|(order, _)| *order);
    Ok(items.into_iter().map(|(_, r)| r).collect())
}

/// Tilt's verdict once it is past its bind: ask its API until the Tiltfile has loaded (and,
/// when a resource waits for the cluster, until the cluster connected or failed). Returns
/// Tilt's errors (empty: all is well). Gives up waiting, without an error, after `limit`.
pub fn verdict(runner: &Runner<'_>, bin: &Bin, port: u16, limit: Duration) -> Result<Vec<String>> {
    let end = Instant::now() + limit;
    let probe = Duration::from_secs(5);
    loop {
        let out = runner.run_for(&get_cmd(bin, port, &["session", "Tiltfile"]), probe)?;
        if out.success() {
            let st = parse_session(&out.stdout)?;
            if let Some(e) = st.error {
                return Ok(vec![e]);
            }
            if st.loaded {
                // Kubernetes resources: a Cluster object that connects or fails (asynchronously).
                let out = runner.run_for(&get_cmd(bin, port, &["clusters"]), probe)?;
                if out.success() {
                    let c = parse_clusters(&out.stdout)?;
                    if !c.errors.is_empty() {
                        return Ok(c.errors);
                    }
                    if !c.connecting {
                        return Ok(Vec::new());
                    }
                }
            }
        }
        if Instant::now() >= end {
            runner.ui().warn(&format!(
                "Tilt had not finished loading its Tiltfile and connecting to the cluster after {}; see `kilter status`",
                crate::ui::fmt_duration(limit)
            ));
            return Ok(Vec::new());
        }
        crate::exec::sleep(Duration::from_millis(250))?;
    }
}

/// `tilt up …` in the project directory `dir`.
pub fn up_cmd(bin: &Bin, a: &TiltArgs<'_>, dir: &Utf8Path) -> Cmd {
    tilt_cmd(bin, a, "up", "start Tilt").cwd(dir)
}

/// `tilt ci …` in the project directory `dir`, with Tilt's own `--timeout` when given.
pub fn ci_cmd(bin: &Bin, a: &TiltArgs<'_>, dir: &Utf8Path, timeout: Option<Duration>) -> Cmd {
    let c = tilt_cmd(bin, a, "ci", "run tilt ci").cwd(dir);
    match timeout {
        Some(t) => c.args(["--timeout".to_owned(), go_duration(t)]),
        None => c,
    }
}

/// A duration as Go's `time.ParseDuration` reads it: seconds from 10 s up, else milliseconds.
pub fn go_duration(d: Duration) -> String {
    if d >= Duration::from_secs(10) {
        format!("{}s", d.as_secs())
    } else {
        format!("{}ms", d.as_millis())
    }
}

/// `tilt <verb> --port P --file F --context C --namespace N` with the project env.
fn tilt_cmd(bin: &Bin, a: &TiltArgs<'_>, verb: &str, summary: &str) -> Cmd {
    bin.cmd(summary)
        .envs(a.env)
        .args([
            verb,
            "--port",
            &a.port.to_string(),
            // The flags win over TILT_PORT/TILT_HOST from the user's shell: the port kilter
            // chose, and the UI on the loopback only.
            "--host",
            HOST,
            "--file",
            a.file.as_str(),
            "--context",
            a.context,
            "--namespace",
            a.namespace,
        ])
        .mutate()
}

/// `<cache dir>/tilt.json`: the detached Tilt this project runs.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
pub struct TiltRecord {
    /// Its pid, which is also its process group (it was started in a new group).
    pub pid: i32,
    /// When that process started (`/proc/<pid>/stat` field 22), so that a recycled pid is not
    /// taken for our Tilt. Absent in records written by kilter 0.1.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub start: Option<String>,
    pub port: u16,
    pub started_at: String,
    pub tiltfile: String,
}

impl TiltRecord {
    pub fn read(path: &Utf8Path) -> Option<TiltRecord> {
        serde_json::from_str(&std::fs::read_to_string(path).ok()?).ok()
    }

    /// The recorded process still runs, is the one we started, and leads its process group.
    pub fn is_live(&self) -> bool {
        self.check() == Liveness::Running
    }

    /// What the recorded pid is now: the Tilt kilter started (same pid and start time, and it
    /// leads its process group, as kilter starts it), gone (or another process under a
    /// recycled pid), or a live process of that start time that leads no group (a record
    /// written by something that did not start Tilt in a group of its own: signalling its group
    /// would reach others, and its own pid alone would miss Tilt's commands). A zombie is gone
    /// once its last thread has ended.
    /// A record without a start time falls back to the command line (`tilt … up … <port>`).
    pub fn check(&self) -> Liveness {
        let ours = if self.start.is_some() {
            same_process(self.pid, self.start.as_deref())
        } else {
            pid_alive(self.pid)
                && pid_cmdline(self.pid).is_none_or(|argv| {
                    argv.iter().any(|a| a == "up")
                        && argv.iter().any(|a| a == &self.port.to_string())
                })
        };
        if !ours {
            Liveness::Gone
        } else if leads_group(self.pid) {
            Liveness::Running
        } else {
            Liveness::NotLeader
        }
    }

    /// The record as a file: a dry run's script fills in the pid of the Tilt it just started
    /// (`$!`) and its start time itself.
    fn content(&self, planned: bool) -> Content {
        let esc = |s: &str| serde_json::to_string(s).unwrap_or_else(|_| "\"\"".into());
        let head = "{\n  \"pid\": ";
        let tail = format!(
            ",\n  \"port\": {},\n  \"started_at\": {},\n  \"tiltfile\": {}\n}}\n",
            self.port,
            esc(&self.started_at),
            esc(&self.tiltfile)
        );
        if planned {
            return Content::text(head)
                .shell("$!", self.pid.to_string())
                .lit(",\n  \"start\": \"")
                .shell(START_TIME_OF_LAST_JOB, self.start.clone().unwrap_or_default())
                .lit(format!("\",\n  \"port\": {},\n  \"started_at\": \"", self.port))
                .shell("$(date -u +%Y-%m-%dT%H:%M:%SZ)", self.started_at.clone())
                .lit(format!("\",\n  \"tiltfile\": {}\n}}\n", esc(&self.tiltfile)));
        }
        let start = match &self.start {
            Some(s) => format!(",\n  \"start\": {}", esc(s)),
            None => String::new(),
        };
        Content::text(format!("{head}{}{start}{tail}", self.pid))
    }
}

/// The command line of a process (Linux), for records written without a start time.
fn pid_cmdline(pid: i32) -> Option<Vec<String>> {
    let raw = std::fs::read(format!("/proc/{pid}/cmdline")).ok()?;
    Some(
        raw.split(|b| *b == 0)
            .filter(|s| !s.is_empty())
            .map(|s| String::from_utf8_lossy(s).into_owned())
            .collect(),
    )
}

/// What a `tilt.json` record names now ([`TiltRecord::check`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Liveness {
    Running,
    Gone,
    NotLeader,
}

/// How [`start`] starts a project's Tilt.
#[derive(Clone, Copy)]
pub struct Start<'a> {
    pub bin: &'a Bin,
    /// `tilt up …` ([`up_cmd`]).
    pub cmd: &'a Cmd,
    pub files: &'a TiltFiles<'a>,
    pub port: u16,
    pub tiltfile: &'a Utf8Path,
    /// How long it may take to get past its port bind and load its Tiltfile.
    pub limit: Duration,
    /// A Tiltfile or cluster error leaves Tilt running, with a warning.
    pub keep_going: bool,
}

/// Where a project's Tilt keeps its runtime files.
pub struct TiltFiles<'a> {
    pub record: &'a Utf8Path,
    pub log: &'a Utf8Path,
}

/// Stop this project's detached Tilt if it runs: SIGTERM to its process group and to every
/// group its commands run in (its descendants', and those that carry its [`MARK`]), up to 10 s,
/// then SIGKILL. A stale record (process gone, or another process under that pid) is removed,
/// never signalled; commands of that Tilt still running (found by its mark) are stopped, with a
/// note. A record whose process runs but leads no process group is neither signalled nor
/// removed: kilter says what it found. Returns the pid that was stopped.
pub fn stop(runner: &Runner<'_>, files: &TiltFiles<'_>) -> Result<Option<i32>> {
    let Some(rec) = TiltRecord::read(files.record) else { return Ok(None) };
    let marked = || marked_groups(&table(), MARK, files.record.as_str());
    match rec.check() {
        Liveness::Running => {}
        Liveness::Gone => {
            runner.ui().detail(&format!(
                "Tilt record was stale (pid {} is gone or is another process); cleaned up",
                rec.pid
            ));
            let left = marked();
            if !left.is_empty() {
                let list: Vec<String> = left.iter().map(i32::to_string).collect();
                runner.ui().note(&format!(
                    "Tilt (pid {}) had ended, but its commands still ran (process groups {}): stopping them",
                    rec.pid,
                    list.join(", ")
                ));
                if runner.stop_groups(None, left, Duration::from_secs(10))? == Stopped::Killed {
                    runner.ui().warn(&format!(
                        "commands of Tilt (pid {}) did not stop within 10s of SIGTERM; killed them",
                        rec.pid
                    ));
                }
            }
            runner.remove_file(files.record)?;
            return Ok(None);
        }
        Liveness::NotLeader => {
            runner.ui().warn(&format!(
                "{} names pid {} ({}), which runs but does not lead a process group, so it is not \
                 a Tilt kilter started: it was left running and the record kept; stop it yourself \
                 (`kill {}`) and remove {}",
                files.record,
                rec.pid,
                cmdline(rec.pid),
                rec.pid,
                files.record
            ));
            return Ok(None);
        }
    }
    if runner.stop_groups(Some(rec.pid), marked(), Duration::from_secs(10))? == Stopped::Killed {
        runner.ui().warn(&format!(
            "Tilt (pid {}) or one of its commands did not stop within 10s of SIGTERM; killed them",
            rec.pid
        ));
    }
    runner.remove_file(files.record)?;
    Ok(Some(rec.pid))
}

/// Start `tilt up` detached (its own process group, output appended to the log), wait until its
/// log shows it got past binding its port, and record it. A Tilt that exits while starting is
/// reported with its log; one whose record cannot be written is stopped again (an untracked
/// Tilt would hold the port). Returns its pid (`None` in a dry run).
pub fn start(runner: &Runner<'_>, how: &Start<'_>) -> Result<Option<i32>> {
    let Start { bin, cmd, files, port, tiltfile, limit, keep_going } = *how;
    // The mark its commands inherit: `stop` finds them by it if this Tilt dies before them.
    let cmd = &cmd.clone().env(MARK, files.record.as_str());
    let log = files.log;
    let offset = std::fs::metadata(log).map(|m| m.len()).unwrap_or(0);
    let step = runner.ui().step("Starting Tilt", "start Tilt");
    // The script reads only what this start writes to the log, as the real run does.
    let log_q = crate::exec::quote(log.as_str());
    runner.plan_line(&format!(
        "kilter_log_from=$(($( (wc -c < {log_q}) 2>/dev/null || echo 0) + 1))"
    ));
    let child = match runner.spawn_detached(cmd, log)? {
        Spawned::Started(child) => child,
        Spawned::Planned => {
            runner.plan_wait_for(
                "Tilt to get past binding its port",
                &format!(
                    "tail -c +\"$kilter_log_from\" {log_q} | sed -n '/Tilt started/,$p' | grep -q -e 'Initial Build' -e 'Loading Tiltfile' -e 'No Tiltfile found'"
                ),
                limit,
            );
            let rec = TiltRecord {
                pid: 0,
                start: None,
                port,
                started_at: String::new(),
                tiltfile: tiltfile.to_string(),
            };
            let content = rec.content(true);
            runner.write_file(files.record, &content, Perm::Private(0o600))?;
            step.done();
            return Ok(None);
        }
    };
    let pid = child.pid as i32;
    let deadline = Instant::now() + limit;
    // Tilt announces itself before it binds its port; once announced, a Tilt that is still alive
    // after this long without a later line is taken as started (a failed bind exits at once).
    const SETTLE: Duration = Duration::from_millis(1500);
    let mut announced_at: Option<Instant> = None;
    loop {
        if crate::exec::interrupted() {
            runner.stop_group(pid, Duration::from_secs(2))?;
            return Err(crate::error::Interrupted.into());
        }
        // Look at the process before the log: a Tilt that has exited has written all it will.
        let state = child.state();
        let alive = state == ChildState::Running;
        let text = read_from(log, offset);
        if alive {
            match startup(&text) {
                Startup::Running => break,
                Startup::Announced => {
                    if announced_at.get_or_insert_with(Instant::now).elapsed() >= SETTLE {
                        break;
                    }
                }
                Startup::Silent => {}
            }
        }
        if !alive || Instant::now() >= deadline {
            if alive {
                runner.stop_group(pid, Duration::from_secs(2))?;
            }
            drop(step);
            let tail = crate::exec::tail(&text, 15);
            let why = match state {
                ChildState::Exited(Some(code)) => {
                    format!("Tilt did not start: it exited with status {code}")
                }
                ChildState::Exited(None) => "Tilt did not start: it exited".to_owned(),
                ChildState::Running => {
                    format!("Tilt did not start within {}", crate::ui::fmt_duration(limit))
                }
            };
            return Err(Exit::new(
                Code::Failed,
                format!("{why}\n  $ {cmd}\n  tilt.log:\n{}", indent(&tail)),
            )
            .hint(format!("the whole log is {log}; the cluster itself is up"))
            .into());
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    step.done();
    let rec = TiltRecord {
        pid,
        start: child.start.clone(),
        port,
        started_at: crate::time::rfc3339_now(),
        tiltfile: tiltfile.to_string(),
    };
    if let Err(e) = runner.write_file(files.record, &rec.content(false), Perm::Private(0o600)) {
        runner.stop_group(pid, Duration::from_secs(5))?;
        return Err(e.context(format!(
            "Tilt (pid {pid}) was stopped again: kilter could not record it in {}, and an untracked Tilt would hold port {port}",
            files.record
        )));
    }
    // Tilt's verdict: a Tiltfile that does not load, or a cluster it cannot reach, is an error
    // (Tilt itself keeps running and only logs it).
    let step = runner.ui().step("Loading the Tiltfile", "load the Tiltfile");
    let errors = verdict(runner, bin, port, deadline.saturating_duration_since(Instant::now()))?;
    if errors.is_empty() {
        step.done();
        return Ok(Some(pid));
    }
    drop(step);
    // Tilt's messages as its API gives them, whole: in its log a message of several lines (a
    // traceback, a cluster error and its cause) starts with `ERROR:` on its first line only, and
    // the log also holds noise (its controllers racing at startup) that is no error.
    let shown = errors.join("\n");
    let what = if errors.iter().any(|e| e.contains("connecting to your Kubernetes cluster")) {
        "Tilt cannot reach the cluster"
    } else {
        "Tilt could not load the Tiltfile"
    };
    if keep_going {
        runner.ui().warn(&format!(
            "{what} (kept running: --keep-going):\n{}\n  Tilt's log: {log}",
            indent(&shown)
        ));
        return Ok(Some(pid));
    }
    runner.stop_group(pid, Duration::from_secs(5))?;
    runner.remove_file(files.record)?;
    Err(Exit::new(Code::Failed, format!("{what}:\n{}", indent(&shown)))
        .hint(format!(
            "Tilt was stopped; the cluster is up. Fix it and run `kilter up` again, or `kilter up --keep-going` to keep Tilt running anyway. Tilt's whole log: {log}"
        ))
        .into())
}

fn read_from(path: &Utf8Path, offset: u64) -> String {
    use std::io::{Read, Seek, SeekFrom};
    let mut s = String::new();
    if let Ok(mut f) = std::fs::File::open(path) {
        let _ = f.seek(SeekFrom::Start(offset));
        let mut buf = Vec::new();
        let _ = f.read_to_end(&mut buf);
        s = String::from_utf8_lossy(&buf).into_owned();
    }
    s
}

fn indent(s: &str) -> String {
    s.lines().map(|l| format!("    {l}")).collect::<Vec<_>>().join("\n")
}

/// How far Tilt's startup has got, judged from the log text written since we started it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Startup {
    /// Nothing yet.
    Silent,
    /// `Tilt started on …` is there, but nothing that proves the web listener was bound: tilt
    /// prints that line (and its version) *before* it binds the port, and exits 1 when the bind
    /// fails (docs/real-tools.md, "tilt").
    Announced,
    /// A line that tilt only prints once it is past the bind: the Tiltfile being loaded (or
    /// missing), the initial build, or a resource log line.
    Running,
}

pub fn startup(log: &str) -> Startup {
    let mut lines = log.lines().skip_while(|l| !l.contains("Tilt started"));
    if lines.next().is_none() {
        return Startup::Silent;
    }
    let past_bind = |l: &str| {
        // Tilt ≥ 0.37 prints "ERROR: No Tiltfile found at paths '…'" (docs/real-tools.md).
        let l = l.trim_start();
        let l = l.strip_prefix("ERROR: ").unwrap_or(l);
        l.starts_with("Loading Tiltfile")
            || l.starts_with("Successfully loaded Tiltfile")
            || l.starts_with("No Tiltfile found")
            || l.starts_with("Initial Build")
            || l.contains(" │ ")
    };
    if lines.any(past_bind) { Startup::Running } else { Startup::Announced }
}

#[cfg(test)]
mod api_tests {
    use super::*;

    fn fixture(name: &str) -> String {
        let path = format!("{}/fixtures/tilt/{name}", env!("CARGO_MANIFEST_DIR"));
        std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{path}: {e}"))
    }

    #[test]
    fn the_session_says_whether_the_tiltfile_loaded_and_with_what_error() {
        let ok = parse_session(&fixture("session-ok.json")).expect("parses");
        assert_eq!(ok, SessionState { loaded: true, error: None });
        let bad = parse_session(&fixture("session-tiltfile-error.json")).expect("parses");
        assert!(bad.loaded);
        assert_eq!(
            bad.error.as_deref(),
            Some("/home/me/src/p2/Tiltfile:3:1: got end of file, want ')'")
        );
        let waiting = parse_session(&fixture("session-waiting-for-cluster.json")).expect("parses");
        assert_eq!(waiting, SessionState { loaded: true, error: None });
        // Before the Tiltfile has loaded its target is active, not terminated.
        let loading = r#"{"status":{"targets":[{"name":"tiltfile:update","state":{"active":{"startTime":"x"}}}]}}"#;
        assert!(!parse_session(loading).expect("parses").loaded);
        assert!(parse_session("Error: No tilt apiserver found").is_err());
        // A wrapper script's own lines around the document are passed over.
        let wrapped = format!("wrapper starting\n{}\nwrapper done\n", fixture("session-ok.json"));
        assert_eq!(parse_session(&wrapped).expect("parses"), ok);
        // The document starts at a line's start, compact or not; a brace inside a line does not.
        let compact = format!("wrapper {{ says hi\n{loading}\n");
        assert!(!parse_session(&compact).expect("parses").loaded);
    }

    #[test]
    fn clusters_say_whether_they_failed_connected_or_are_still_connecting() {
        let c = parse_clusters(&fixture("clusters-error.json")).expect("parses");
        assert_eq!(c.errors.len(), 1);
        assert!(!c.connecting);
        assert!(
            c.errors[0].starts_with(
                "Tilt encountered an error connecting to your Kubernetes cluster:\n\tGet \"https://127.0.0.1:1/version"
            ),
            "{c:?}"
        );
        let none = parse_clusters(&fixture("clusters-none.json")).expect("parses");
        assert_eq!(none, Clusters { errors: Vec::new(), connecting: false });
        let fresh = r#"{"items":[{"kind":"Cluster","status":{}}]}"#;
        assert!(parse_clusters(fresh).expect("parses").connecting);
        let up = r#"{"items":[{"kind":"Cluster","status":{"connectedAt":"2026-12-04T14:26:53.000000Z","arch":"amd64"}}]}"#;
        assert_eq!(
            parse_clusters(up).expect("parses"),
            Clusters { errors: Vec::new(), connecting: false }
        );
    }

    #[test]
    fn resources_are_listed_in_tilts_order_with_their_statuses_and_last_error() {
        let local = parse_resources(&fixture("uiresources-local.json")).expect("parses");
        let names: Vec<&str> = local.iter().map(|r| r.name.as_str()).collect();
        assert_eq!(names, ["(Tiltfile)", "hello", "fork"]);
        assert_eq!((local[1].update.as_str(), local[1].runtime.as_str()), ("ok", "ok"));
        assert_eq!((local[2].update.as_str(), local[2].runtime.as_str()), ("not_applicable", "ok"));
        assert!(local.iter().all(|r| r.last_error.is_none()));
        let bad = parse_resources(&fixture("uiresources-tiltfile-error.json")).expect("parses");
        assert_eq!(bad[0].name, "(Tiltfile)");
        assert_eq!(bad[0].update, "error");
        assert_eq!(
            bad[0].last_error.as_deref(),
            Some("/home/me/src/p2/Tiltfile:3:1: got end of file, want ')'")
        );
        let cluster = parse_resources(&fixture("uiresources-cluster-error.json")).expect("parses");
        let unc = cluster.iter().find(|r| r.name == "uncategorized").expect("listed");
        assert_eq!((unc.update.as_str(), unc.runtime.as_str()), ("pending", "pending"));
    }

    #[test]
    fn every_tilt_command_names_the_port_and_the_loopback() {
        let bin = Bin { display: "tilt".into(), path: Some("/bin/tilt".into()) };
        let c = get_cmd(&bin, 10351, &["session", "Tiltfile"]);
        assert_eq!(
            c.to_string(),
            "tilt get session Tiltfile -o json --port 10351 --host 127.0.0.1"
        );
        let args = TiltArgs {
            port: 10351,
            file: Utf8Path::new("/p/Tiltfile"),
            context: "kind-kilter-p",
            namespace: "p-dev",
            env: &[],
        };
        let up = up_cmd(&bin, &args, Utf8Path::new("/p")).to_string();
        assert!(
            up.starts_with("cd /p && tilt up --port 10351 --host 127.0.0.1 --file /p/Tiltfile"),
            "{up}"
        );
        let ci = ci_cmd(&bin, &args, Utf8Path::new("/p"), Some(Duration::from_secs(1795)));
        assert!(ci.to_string().ends_with(" --namespace p-dev --timeout 1795s"), "{ci}");
        assert_eq!(go_duration(Duration::from_secs(1795)), "1795s");
        assert_eq!(go_duration(Duration::from_millis(2700)), "2700ms");
        assert_eq!(go_duration(Duration::from_millis(10_400)), "10s");
    }
}

#[cfg(test)]
mod startup_tests {
    use super::{Startup, startup};

    #[test]
    fn only_lines_after_the_bind_count_as_running() {
        assert_eq!(startup(""), Startup::Silent);
        // Lines before `Tilt started` (a wrapper's, a warning) are not a start.
        assert_eq!(startup("WARNING: a wrapper's line\n"), Startup::Silent);
        let announced = "Tilt started on http://localhost:10350/\nv0.37.6, built 2026-08-08\n";
        assert_eq!(startup(announced), Startup::Announced);
        let clash = format!(
            "{announced}Error: Tilt cannot start because you already have another process on port 10350\n"
        );
        assert_eq!(startup(&clash), Startup::Announced);
        for next in [
            "Successfully loaded Tiltfile (12ms)",
            "No Tiltfile found at paths 'Tiltfile'. Check out https://docs.tilt.dev/tutorial.html",
            "ERROR: No Tiltfile found at paths '/p/Tiltfile'. Check out https://docs.tilt.dev/tutorial.html",
            "Loading Tiltfile at: /p/Tiltfile",
            "          api │ listening on :8080",
        ] {
            assert_eq!(startup(&format!("{announced}{next}\n")), Startup::Running, "{next}");
        }
        // A Tiltfile line from an earlier run, before the announcement, does not count.
        assert_eq!(
            startup(&format!("Successfully loaded Tiltfile (1ms)\n{announced}")),
            Startup::Announced
        );
    }
}

#[cfg(test)]
// The processes a record names are the test's own, spawned directly: the check reads /proc.
#[allow(clippy::disallowed_methods)]
mod record_tests {
    use super::{Liveness, TiltRecord};
    use std::os::unix::process::CommandExt;
    use std::process::{Child, Command};

    /// A record written by kilter 0.1: no start time, so the command line decides.
    fn old_record(pid: u32) -> TiltRecord {
        TiltRecord {
            pid: pid as i32,
            start: None,
            port: 10399,
            started_at: "2026-01-01T00:00:00Z".into(),
            tiltfile: "Tiltfile".into(),
        }
    }

    /// Spawn `argv`, in a group of its own when `group`, and wait until its command line shows
    /// (right after exec, `/proc/<pid>/cmdline` can still read empty).
    fn spawn(argv: &[&str], group: bool) -> Child {
        let mut cmd = Command::new(argv[0]);
        cmd.args(&argv[1..]);
        if group {
            cmd.process_group(0);
        }
        let child = cmd.spawn().expect("spawn");
        let want: Vec<String> = argv.iter().map(|a| (*a).to_owned()).collect();
        let end = std::time::Instant::now() + std::time::Duration::from_secs(10);
        while super::pid_cmdline(child.id() as i32).as_ref() != Some(&want) {
            assert!(std::time::Instant::now() < end, "{argv:?} never showed its command line");
            std::thread::sleep(std::time::Duration::from_millis(5));
        }
        child
    }

    fn stop(mut c: Child) {
        let _ = c.kill();
        let _ = c.wait();
    }

    #[test]
    fn a_record_without_a_start_time_is_ours_only_for_a_live_tilt_up_on_its_port() {
        // `tilt up … 10399` as its command line says, leading its own group. (The shell's
        // command is not its last, so it does not exec into `sleep`, which would change it.)
        let tilt =
            spawn(&["/bin/sh", "-c", "sleep 30; exit 0", "tilt", "up", "--port", "10399"], true);
        assert_eq!(old_record(tilt.id()).check(), Liveness::Running);
        // The same, on another port: a different Tilt.
        let mut other = old_record(tilt.id());
        other.port = 10400;
        assert_eq!(other.check(), Liveness::Gone);
        stop(tilt);
        // On its port, but not `tilt up`.
        let ci =
            spawn(&["/bin/sh", "-c", "sleep 30; exit 0", "tilt", "ci", "--port", "10399"], true);
        assert_eq!(old_record(ci.id()).check(), Liveness::Gone);
        stop(ci);

        // A live process that is not Tilt, leading its group or not.
        let sleep = spawn(&["/bin/sleep", "30"], true);
        assert_eq!(old_record(sleep.id()).check(), Liveness::Gone);
        stop(sleep);
        let sleep = spawn(&["/bin/sleep", "30"], false);
        assert_eq!(old_record(sleep.id()).check(), Liveness::Gone);
        stop(sleep);

        // A pid whose process has exited and been reaped: gone, though no command line is left.
        let mut done = Command::new("/bin/true").spawn().expect("true");
        let pid = done.id();
        done.wait().expect("wait");
        assert_eq!(old_record(pid).check(), Liveness::Gone);
    }
}
