//! `tilt`: the commands kilter runs, the `tilt.json` runtime record, and stopping Tilt's
//! process group (SIGTERM, wait, SIGKILL) without ever signalling a stale pid.

use std::time::{Duration, Instant};

use anyhow::Result;
use camino::Utf8Path;
use serde::{Deserialize, Serialize};

use super::Bin;
use crate::exec::{Cmd, pid_alive, pid_cmdline, signal};

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

/// `<cache dir>/tilt.json`
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
pub struct TiltRecord {
    pub pid: i32,
    pub port: u16,
    pub started_at: String,
    pub tiltfile: String,
}

impl TiltRecord {
    pub fn read(path: &Utf8Path) -> Option<TiltRecord> {
        serde_json::from_str(&std::fs::read_to_string(path).ok()?).ok()
    }

    pub fn write(&self, path: &Utf8Path) -> Result<()> {
        let text = serde_json::to_string_pretty(self)? + "\n";
        crate::fsutil::write_private(path, text.as_bytes(), 0o600)
    }

    /// The recorded process is alive and really a `tilt up` (Linux: by its command line).
    pub fn is_live(&self) -> bool {
        if !pid_alive(self.pid) {
            return false;
        }
        match pid_cmdline(self.pid) {
            Some(argv) => {
                let exe_is_tilt = argv
                    .first()
                    .is_some_and(|a| a.rsplit('/').next().is_some_and(|b| b.contains("tilt")));
                exe_is_tilt
                    && argv.iter().any(|a| a == "up")
                    && argv.iter().any(|a| a == &self.port.to_string())
            }
            None => true, // no /proc (macOS): alive is the best we can tell
        }
    }
}

/// How a stop went.
#[derive(Debug, PartialEq, Eq)]
pub enum Stopped {
    Terminated,
    Killed,
}

/// SIGTERM the process group, wait up to `grace`, then SIGKILL it.
pub fn stop_group(pid: i32, grace: Duration) -> Stopped {
    signal(-pid, libc::SIGTERM);
    let end = Instant::now() + grace;
    while Instant::now() < end {
        if !pid_alive(pid) {
            return Stopped::Terminated;
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    signal(-pid, libc::SIGKILL);
    let end = Instant::now() + Duration::from_secs(2);
    while pid_alive(pid) && Instant::now() < end {
        std::thread::sleep(Duration::from_millis(10));
    }
    Stopped::Killed
}

/// How far Tilt's startup has got, judged from the log text written since we started it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Startup {
    /// Nothing yet.
    Silent,
    /// `Tilt started on …` is there, but nothing that proves the web listener was bound: tilt
    /// prints that line (and its version) *before* it binds the port, and exits 1 when the bind
    /// fails (TOOLS.md D.1, "Port already in use").
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
