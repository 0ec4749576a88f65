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
    ChildState, Cmd, Content, Runner, START_TIME_OF_LAST_JOB, Spawned, Stopped, pid_alive,
    same_process,
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

pub fn up_cmd(bin: &Bin, a: &TiltArgs<'_>) -> Cmd {
    tilt_cmd(bin, a, "up", "start Tilt")
}

pub fn ci_cmd(bin: &Bin, a: &TiltArgs<'_>, dir: &Utf8Path) -> Cmd {
    tilt_cmd(bin, a, "ci", "run tilt ci").cwd(dir)
}

/// `tilt <verb> --port P --file F --context C --namespace N` with the project env.
fn tilt_cmd(bin: &Bin, a: &TiltArgs<'_>, verb: &str, summary: &str) -> Cmd {
    bin.cmd(summary)
        .envs(a.env)
        .args([
            verb,
            "--port",
            &a.port.to_string(),
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

    /// The recorded process still runs and is the one we started: same pid and start time (a
    /// wrapper script that starts tilt without `exec` is recognised too; a zombie is gone).
    /// A record without a start time falls back to the command line (`tilt … up … <port>`).
    pub fn is_live(&self) -> bool {
        if self.start.is_some() {
            return same_process(self.pid, self.start.as_deref());
        }
        if !pid_alive(self.pid) {
            return false;
        }
        match pid_cmdline(self.pid) {
            Some(argv) => {
                argv.iter().any(|a| a == "up") && argv.iter().any(|a| a == &self.port.to_string())
            }
            None => true,
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

/// Where a project's Tilt keeps its runtime files.
pub struct TiltFiles<'a> {
    pub record: &'a Utf8Path,
    pub log: &'a Utf8Path,
}

/// Stop this project's detached Tilt if it runs: SIGTERM to its process group, up to 10 s, then
/// SIGKILL. A stale record (process gone, or another process under that pid) is removed, never
/// signalled. Returns the pid that was stopped.
pub fn stop(runner: &Runner<'_>, files: &TiltFiles<'_>) -> Result<Option<i32>> {
    let Some(rec) = TiltRecord::read(files.record) else { return Ok(None) };
    if !rec.is_live() {
        runner.ui().detail(&format!(
            "Tilt record was stale (pid {} is gone or is another process); cleaned up",
            rec.pid
        ));
        runner.remove_file(files.record)?;
        return Ok(None);
    }
    if runner.stop_group(rec.pid, Duration::from_secs(10))? == Stopped::Killed {
        runner
            .ui()
            .warn(&format!("Tilt (pid {}) did not stop within 10s of SIGTERM; killed it", rec.pid));
    }
    runner.remove_file(files.record)?;
    Ok(Some(rec.pid))
}

/// Start `tilt up` detached (its own process group, output appended to the log), wait until its
/// log shows it got past binding its port, and record it. A Tilt that exits while starting is
/// reported with its log; one whose record cannot be written is stopped again (an untracked
/// Tilt would hold the port). Returns its pid (`None` in a dry run).
pub fn start(
    runner: &Runner<'_>,
    cmd: &Cmd,
    files: &TiltFiles<'_>,
    port: u16,
    tiltfile: &Utf8Path,
    limit: Duration,
) -> Result<Option<i32>> {
    let log = files.log;
    let offset = std::fs::metadata(log).map(|m| m.len()).unwrap_or(0);
    let step = runner.ui().step("Starting Tilt", "start Tilt");
    let child = match runner.spawn_detached(cmd, log)? {
        Spawned::Started(child) => child,
        Spawned::Planned => {
            runner.plan_wait_for(
                "Tilt to get past binding its port",
                &format!(
                    "grep -q -e 'Initial Build' -e 'Loading Tiltfile' -e 'No Tiltfile found' {}",
                    crate::exec::quote(log.as_str())
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
    Ok(Some(pid))
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
        let l = l.trim_start();
        l.starts_with("Loading Tiltfile")
            || l.starts_with("Successfully loaded Tiltfile")
            || l.starts_with("No Tiltfile found")
            || l.starts_with("Initial Build")
            || l.contains(" │ ")
    };
    if lines.any(past_bind) { Startup::Running } else { Startup::Announced }
}

#[cfg(test)]
mod startup_tests {
    use super::{Startup, startup};

    #[test]
    fn only_lines_after_the_bind_count_as_running() {
        assert_eq!(startup(""), Startup::Silent);
        let announced = "Tilt started on http://localhost:10350/\nv0.37.6, built 2026-08-08\n";
        assert_eq!(startup(announced), Startup::Announced);
        let clash = format!(
            "{announced}Error: Tilt cannot start because you already have another process on port 10350\n"
        );
        assert_eq!(startup(&clash), Startup::Announced);
        for next in [
            "Successfully loaded Tiltfile (12ms)",
            "No Tiltfile found at paths 'Tiltfile'. Check out https://docs.tilt.dev/tutorial.html",
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
