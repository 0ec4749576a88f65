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
    Begin, Cmd, CouldNotExecute, Interrupted, Mode, Output, Redirect, RunOpts, Runner, interrupted,
    quote, signal, status_word,
};

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
        let (expr, deadline, start) = match self.prepare(cmd, &line, true)? {
            Begin::Answered(out) => {
                self.plan_file(log, true);
                return Ok(out);
            }
            Begin::NotInstalled(out) => return Ok(out),
            Begin::Run { expr, deadline, start } => (expr, deadline, start),
        };
        let mut file = OpenOptions::new()
            .create(true)
            .append(true)
            .open(log)
            .with_context(|| format!("could not open {log}"))?;
        let (mut pipe_out, pipe_in) = std::io::pipe().context("could not create a pipe")?;
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

        // One loop reads the output as it comes and watches the child: the pipe does not block,
        // so a grandchild that keeps it open after the child exited cannot hang kilter.
        set_nonblocking(&pipe_out);
        let mut lines = Lines { file: &mut file, partial: Vec::new(), tail: Vec::new(), on_line };
        let mut groups = Vec::new();
        let waited = watch(&handle, pgid, stop_at, &mut pipe_out, &mut lines, &mut groups);
        let tail = lines.finish();
        let duration = start.elapsed();
        // What it started in groups of their own and did not stop (Tilt gives up after ~2 s).
        self.end_leftover_groups(groups, GRACE)?;
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

enum Ended {
    /// Its exit code (`None`: killed by a signal).
    Exited(Option<i32>),
    Interrupted,
    Deadline,
}

/// How often the descendants' process groups are looked for.
pub(super) const SCAN: Duration = Duration::from_millis(250);

/// Add the process groups `pgid`'s descendants run in now to `groups`.
pub(super) fn track_groups(pgid: i32, groups: &mut Vec<i32>) {
    for g in super::process::descendant_groups(&super::process::table(), pgid) {
        if !groups.contains(&g) {
            groups.push(g);
        }
    }
}

/// How long the output may go on after the child exited (a grandchild holding the pipe).
const DRAIN: Duration = Duration::from_secs(2);

/// The output of a streamed command, split into lines as it comes: every byte appended to the
/// log, each line handed on and the last ones kept.
struct Lines<'a> {
    file: &'a mut File,
    partial: Vec<u8>,
    tail: Vec<String>,
    on_line: &'a (dyn Fn(&str) + Sync),
}

impl Lines<'_> {
    fn feed(&mut self, bytes: &[u8]) {
        let _ = self.file.write_all(bytes);
        self.partial.extend_from_slice(bytes);
        while let Some(i) = self.partial.iter().position(|b| *b == b'\n') {
            let rest = self.partial.split_off(i + 1);
            let text = String::from_utf8_lossy(&self.partial).into_owned();
            self.line(text.trim_end_matches(['\n', '\r']));
            self.partial = rest;
        }
    }

    fn line(&mut self, text: &str) {
        (self.on_line)(text);
        self.tail.push(text.to_owned());
        if self.tail.len() > TAIL_LINES {
            self.tail.remove(0);
        }
    }

    /// The unterminated last line, then the tail.
    fn finish(mut self) -> String {
        if !self.partial.is_empty() {
            let text = String::from_utf8_lossy(&std::mem::take(&mut self.partial)).into_owned();
            self.line(&text);
        }
        let _ = self.file.flush();
        self.tail.join("\n")
    }
}

fn set_nonblocking(pipe: &std::io::PipeReader) {
    use std::os::fd::AsRawFd;
    let fd = pipe.as_raw_fd();
    // SAFETY: fcntl on a file descriptor this process owns; no memory is involved.
    unsafe {
        let flags = libc::fcntl(fd, libc::F_GETFL);
        if flags >= 0 {
            libc::fcntl(fd, libc::F_SETFL, flags | libc::O_NONBLOCK);
        }
    }
}

/// Read what the pipe has now. `true` at end of file.
fn drain(pipe: &mut std::io::PipeReader, lines: &mut Lines<'_>) -> (bool, bool) {
    let mut buf = [0u8; 64 * 1024];
    let mut got = false;
    loop {
        match pipe.read(&mut buf) {
            Ok(0) => return (true, got),
            Ok(n) => {
                lines.feed(&buf[..n]);
                got = true;
            }
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => continue,
            Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => return (false, got),
            Err(_) => return (true, got),
        }
    }
}

/// Read the output and wait for the child; on Ctrl-C or at `stop_at`, SIGINT its group, then
/// SIGKILL it after [`GRACE`]. Once the child has exited the output is read to its end, for at
/// most [`DRAIN`].
fn watch(
    handle: &duct::Handle,
    pgid: i32,
    stop_at: Option<Instant>,
    pipe: &mut std::io::PipeReader,
    lines: &mut Lines<'_>,
    groups: &mut Vec<i32>,
) -> Ended {
    let mut stopping: Option<(Instant, Ended)> = None;
    let mut ended: Option<(Instant, Ended)> = None;
    let mut scanned: Option<Instant> = None;
    loop {
        // The process groups the child's descendants run in, looked for while it runs: once it
        // is gone, their parent links no longer lead to it.
        if ended.is_none() && scanned.is_none_or(|t| t.elapsed() >= SCAN) {
            scanned = Some(Instant::now());
            track_groups(pgid, groups);
        }
        let (eof, got) = drain(pipe, lines);
        if let Some((at, _)) = &ended
            && (eof || at.elapsed() >= DRAIN)
        {
            return ended.map(|(_, why)| why).unwrap_or(Ended::Exited(None));
        }
        if ended.is_none() {
            match handle.try_wait() {
                Ok(Some(o)) => {
                    let why = match stopping.take() {
                        Some((_, why)) => {
                            // Make sure nothing of the group outlives it.
                            signal(-pgid, libc::SIGKILL);
                            why
                        }
                        None => Ended::Exited(o.status.code()),
                    };
                    ended = Some((Instant::now(), why));
                    continue;
                }
                Ok(None) => {}
                Err(_) => {
                    let _ = handle.kill();
                    let why = stopping.take().map(|(_, why)| why).unwrap_or(Ended::Exited(None));
                    ended = Some((Instant::now(), why));
                    continue;
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
                        track_groups(pgid, groups);
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
        if !got {
            std::thread::sleep(Duration::from_millis(20));
        }
    }
}
