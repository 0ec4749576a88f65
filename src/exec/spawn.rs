//! Commands that are not captured: in the foreground with the terminal's stdio (`tilt ci`
//! under `up --ci`, `kubectl exec`, `logs -f`), or detached in a session of their own (Tilt).

use std::fs::OpenOptions;
use std::time::{Duration, Instant};

use anyhow::{Context, Result};
use camino::Utf8Path;

use super::{
    Begin, Cmd, CouldNotExecute, Redirect, Runner, interrupted, pid_alive, signal, start_time,
    status_word, stream,
};

/// A detached child (Tilt) started by this run.
#[derive(Debug)]
pub struct Detached {
    pub pid: u32,
    /// Its start time ([`start_time`]) read right after the spawn.
    pub start: Option<String>,
    /// Kept so that kilter can reap the child while it watches it start (a zombie still answers
    /// `kill(pid, 0)`). Dropping it neither kills nor waits for the child.
    handle: duct::Handle,
}

/// What `spawn_detached` did.
#[derive(Debug)]
pub enum Spawned {
    Started(Box<Detached>),
    /// A dry run printed the command; `$!` is its pid in the script.
    Planned,
}

/// What became of a detached child.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ChildState {
    Running,
    /// Exited, with its exit code (`None`: killed by a signal, or the code is unknown).
    Exited(Option<i32>),
}

impl Detached {
    /// Whether the child still runs; reaps it once it has exited.
    pub fn state(&self) -> ChildState {
        match self.handle.try_wait() {
            Ok(Some(out)) => ChildState::Exited(out.status.code()),
            Ok(None) => ChildState::Running,
            // The handle cannot tell: ask the kernel.
            Err(_) if pid_alive(self.pid as i32) => ChildState::Running,
            Err(_) => ChildState::Exited(None),
        }
    }
}

impl Runner<'_> {
    /// Run in the foreground with the terminal's stdio (Tilt `--attach`, `tilt ci`, `kubectl exec`,
    /// `logs -f`). Returns the exit code (128+signal when killed). On Ctrl-C the child (which got
    /// the same signal from the terminal) is given a grace period, then killed.
    pub fn run_foreground(&self, cmd: &Cmd) -> Result<i32> {
        let line = cmd.to_string();
        let (expr, start) = match self.prepare(cmd, &line, false)? {
            Begin::Answered(out) | Begin::NotInstalled(out) => return Ok(out.code.unwrap_or(0)),
            Begin::Run { expr, start, .. } => (expr, start),
        };
        let handle = expr.start().map_err(|e| CouldNotExecute { line: line.clone(), source: e })?;
        let mut grace_until: Option<Instant> = None;
        let root = handle.pids().first().map(|p| *p as i32).unwrap_or(0);
        let mut groups = Vec::new();
        let mut scanned: Option<Instant> = None;
        let status = loop {
            if scanned.is_none_or(|t| t.elapsed() >= stream::SCAN) {
                scanned = Some(Instant::now());
                stream::track_groups(root, &mut groups);
            }
            match handle.wait_timeout(Duration::from_millis(50)) {
                Ok(Some(o)) => break o.status,
                Ok(None) => {}
                Err(e) => {
                    return Err(CouldNotExecute { line, source: e }.into());
                }
            }
            if interrupted() {
                let until = *grace_until.get_or_insert_with(|| {
                    for pid in handle.pids() {
                        signal(pid as i32, libc::SIGINT);
                    }
                    Instant::now() + Duration::from_secs(3)
                });
                if Instant::now() >= until {
                    let _ = handle.kill();
                }
            }
        };
        let code = exit_code(&status);
        self.log(&line, &status_word(Some(code)), start.elapsed());
        // What it started in groups of their own and left running (`tilt ci`/`tilt up` give up
        // stopping their commands after ~2 s).
        self.end_leftover_groups(groups, Duration::from_secs(3))?;
        Ok(code)
    }

    /// Start a detached process in a session (and so a process group) of its own, stdout and
    /// stderr appended to `log`. It outlives kilter. Its pid is also its process group id.
    pub fn spawn_detached(&self, cmd: &Cmd, log: &Utf8Path) -> Result<Spawned> {
        let redirect = Redirect::AppendBothDetached(log.to_owned());
        let line = cmd.render_with(Some(&redirect));
        let expr = match self.prepare(cmd, &line, false)? {
            Begin::Answered(_) | Begin::NotInstalled(_) => return Ok(Spawned::Planned),
            Begin::Run { expr, .. } => expr,
        };
        let file = OpenOptions::new()
            .create(true)
            .append(true)
            .open(log)
            .with_context(|| format!("could not open {log}"))?;
        let handle = expr
            .stdin_null()
            // duct applies the outermost call first: join stderr into stdout, then send stdout
            // to the log (the other order would leak stderr to kilter's own stderr).
            .stderr_to_stdout()
            .stdout_file(file)
            .before_spawn(|c| {
                use std::os::unix::process::CommandExt;
                // A session of its own, as `setsid` in the logged line says: its own process
                // group, and no controlling terminal whose hangup could reach it.
                // SAFETY: setsid(2) is async-signal-safe and touches no memory of the parent.
                unsafe {
                    c.pre_exec(|| {
                        if libc::setsid() == -1 {
                            return Err(std::io::Error::last_os_error());
                        }
                        Ok(())
                    });
                }
                Ok(())
            })
            .unchecked()
            .start()
            .map_err(|e| CouldNotExecute { line: line.clone(), source: e })?;
        let pid = handle.pids().first().copied().unwrap_or(0);
        let start = start_time(pid as i32);
        self.log(&line, &format!("spawned pid={pid}"), Duration::ZERO);
        Ok(Spawned::Started(Box::new(Detached { pid, start, handle })))
    }
}

fn exit_code(status: &std::process::ExitStatus) -> i32 {
    use std::os::unix::process::ExitStatusExt;
    status.code().unwrap_or_else(|| 128 + status.signal().unwrap_or(0))
}
