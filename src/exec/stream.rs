//! Commands whose output goes somewhere other than kilter's memory: into a file kilter creates
//! (`kubectl describe pods > pods.txt`), or streamed line by line to the terminal and appended to
//! a log at the same time (`tilt ci` under `kilter ci`, so that the job log shows it live and
//! `tilt.log` keeps it for the artifacts).

use std::fs::{File, OpenOptions};
use std::io::{Read, Write};
use std::time::{Duration, Instant};

use anyhow::{Context, Result};
use camino::Utf8Path;

use super::{
    Cmd, CouldNotExecute, Interrupted, Mode, Output, Redirect, RunOpts, Runner, interrupted, quote,
    signal, status_word,
};
use crate::interrupt::check_interrupt;

/// How many lines of a streamed command's output are kept for its error report.
const TAIL_LINES: usize = 40;

/// How long a streamed command gets to exit after SIGINT (Ctrl-C, or its deadline) before its
/// process group is killed.
const GRACE: Duration = Duration::from_secs(3);

impl Runner<'_> {
    /// Run `cmd` with its stdout written to `path` (created or truncated; shown as `> path`),
    /// stderr captured. Writing the file is a change, so a dry run prints the line instead.
    pub fn run_into(&self, cmd: &Cmd, path: &Utf8Path) -> Result<Output> {
        let cmd = cmd.clone().mutate();
        let redirect = Redirect::StdoutTo(path.to_owned());
        if !matches!(self.mode, Mode::Real) {
            let line = cmd.render_with(Some(&redirect));
            if let Some(out) = self.intercept(&cmd, &line)? {
                self.plan_file(path, true);
                return Ok(out);
            }
        }
        let file = File::create(path).with_context(|| format!("could not create {path}"))?;
        let opts = RunOpts { redirect: Some(&redirect), limit: None };
        self.run_captured(&cmd, opts, move |e| e.stdout_file(file))
    }

    /// Run `cmd` with stdout and stderr merged, each line handed to `on_line` as it comes (the
    /// caller shows it) and every byte appended to `log`. The command runs in a process group
    /// of its own: Ctrl-C, or the runner's deadline, sends it SIGINT, then SIGKILL to the whole
    /// group after a grace period (an interrupt then fails with `Interrupted`, a passed deadline
    /// with exit 5). The returned output has the last lines in `stderr`. A dry run prints
    /// `<line> >> <log> 2>&1`.
    pub fn run_streamed(
        &self,
        cmd: &Cmd,
        log: &Utf8Path,
        on_line: &(dyn Fn(&str) + Sync),
    ) -> Result<Output> {
        let line = format!("{} >> {} 2>&1", cmd.render_with(None), quote(log.as_str()));
        if let Some(out) = self.intercept(cmd, &line)? {
            self.plan_file(log, true);
            return Ok(out);
        }
        check_interrupt()?;
        let deadline = self.current_deadline();
        if let Some(d) = &deadline
            && Instant::now() >= d.at
        {
            return Err(self.deadline_error(d, &format!("about to {}", cmd.summary())));
        }
        let Some(expr) = cmd.expression() else {
            return Ok(self.not_installed(cmd, &line));
        };
        let mut file = OpenOptions::new()
            .create(true)
            .append(true)
            .open(log)
            .with_context(|| format!("could not open {log}"))?;
        self.echo(cmd.effect(), &line);
        let (mut pipe_out, pipe_in) = std::io::pipe().context("could not create a pipe")?;
        let start = Instant::now();
        let handle = expr
            .stderr_to_stdout()
            .stdout_file(pipe_in)
            .before_spawn(|c| {
                use std::os::unix::process::CommandExt;
                c.process_group(0);
                Ok(())
            })
            .start()
            .map_err(|e| CouldNotExecute { line: line.clone(), source: e })?;
        // duct keeps no copy of the pipe's write end once started: EOF comes when the group
        // has closed it.
        let pgid = handle.pids().first().map(|p| *p as i32).unwrap_or(0);
        let stop_at = deadline.as_ref().map(|d| d.at);

        let (tail, waited) = std::thread::scope(|s| {
            let reader = s.spawn(move || {
                let mut tail: Vec<String> = Vec::new();
                let mut partial: Vec<u8> = Vec::new();
                let mut buf = vec![0u8; 64 * 1024];
                loop {
                    let n = match pipe_out.read(&mut buf) {
                        Ok(0) => break,
                        Ok(n) => n,
                        Err(e) if e.kind() == std::io::ErrorKind::Interrupted => continue,
                        Err(_) => break,
                    };
                    let _ = file.write_all(&buf[..n]);
                    partial.extend_from_slice(&buf[..n]);
                    while let Some(i) = partial.iter().position(|b| *b == b'\n') {
                        let rest = partial.split_off(i + 1);
                        let text = String::from_utf8_lossy(&partial);
                        let text = text.trim_end_matches(['\n', '\r']);
                        on_line(text);
                        push_tail(&mut tail, text);
                        partial = rest;
                    }
                }
                if !partial.is_empty() {
                    let text = String::from_utf8_lossy(&partial).into_owned();
                    on_line(&text);
                    push_tail(&mut tail, &text);
                }
                let _ = file.flush();
                tail.join("\n")
            });
            let waited = wait_group(&handle, pgid, stop_at);
            // The group is gone or killed; its output ends with it.
            let tail = reader.join().unwrap_or_default();
            (tail, waited)
        });
        let duration = start.elapsed();
        match waited {
            Ended::Exited(code) => {
                self.log(&line, &status_word(code), duration);
                Ok(Output { code, stderr: tail, duration, ..Output::default() })
            }
            Ended::Interrupted => {
                self.log(&line, "interrupted", duration);
                Err(Interrupted.into())
            }
            Ended::Deadline => {
                self.log(&line, "timeout", duration);
                let d = deadline.context("internal: a deadline passed that was not set")?;
                Err(self.deadline_error(&d, &format!("waiting for `{line}` (it was stopped)")))
            }
        }
    }
}

fn push_tail(tail: &mut Vec<String>, line: &str) {
    tail.push(line.to_owned());
    if tail.len() > TAIL_LINES {
        tail.remove(0);
    }
}

enum Ended {
    /// Its exit code (`None`: killed by a signal).
    Exited(Option<i32>),
    Interrupted,
    Deadline,
}

/// Wait for the child; on Ctrl-C or at `stop_at`, SIGINT its group, then SIGKILL it after
/// [`GRACE`].
fn wait_group(handle: &duct::Handle, pgid: i32, stop_at: Option<Instant>) -> Ended {
    let mut stopping: Option<(Instant, Ended)> = None;
    loop {
        match handle.wait_timeout(Duration::from_millis(20)) {
            Ok(Some(o)) => {
                if let Some((_, why)) = stopping {
                    // Make sure nothing of the group outlives it.
                    signal(-pgid, libc::SIGKILL);
                    return why;
                }
                return Ended::Exited(o.status.code());
            }
            Ok(None) => {}
            Err(_) => {
                let _ = handle.kill();
                return stopping.map(|(_, why)| why).unwrap_or(Ended::Exited(None));
            }
        }
        match &stopping {
            None => {
                let why = if interrupted() {
                    Some(Ended::Interrupted)
                } else if stop_at.is_some_and(|t| Instant::now() >= t) {
                    Some(Ended::Deadline)
                } else {
                    None
                };
                if let Some(why) = why {
                    signal(-pgid, libc::SIGINT);
                    stopping = Some((Instant::now() + GRACE, why));
                }
            }
            Some((until, _)) if Instant::now() >= *until => {
                signal(-pgid, libc::SIGKILL);
                let _ = handle.kill();
            }
            Some(_) => {}
        }
    }
}
