//! Commands whose output or input kilter handles itself, byte by byte: stdout delivered into
//! kilter (a dump compressed and hashed on its way to disk) and stdin fed from kilter (a restore
//! decompressed on its way in), with memory flat whatever the size.

use std::io::{Read, Write};
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use anyhow::{Context, Result};

use super::{
    Begin, Cmd, CouldNotExecute, Interrupted, Mode, Output, Runner, Stdin, Waited, interrupted,
    quote, wait_until,
};

impl Runner<'_> {
    /// Run `cmd` with its stdout delivered to `sink` inside kilter, chunk by chunk, so memory stays
    /// flat whatever the size (snapshots compress and hash on the way to disk); stderr is captured.
    /// The sink gets [`Chunk::Start`] just before the command really runs (never in a dry run:
    /// that is where it opens its file), then the data. `rest` is the shell text standing for
    /// what kilter does with the bytes; the line is shown as `<cmd> | <rest>`. A sink error kills
    /// the child and is returned; so is Ctrl-C (the child is killed, `Interrupted`). In
    /// `--dry-run` a `Mutate` command is only printed; in `Record` mode the canned stdout goes to
    /// the sink.
    pub fn run_stdout_into(
        &self,
        cmd: &Cmd,
        rest: &str,
        sink: &mut dyn FnMut(Chunk<'_>) -> std::io::Result<()>,
    ) -> Result<Output> {
        let line = format!("{} | {rest}", cmd.render_with(None));
        let (expression, start) = match self.prepare(cmd, &line, false)? {
            Begin::Answered(out) => {
                if matches!(self.mode, Mode::Record(_)) {
                    sink(Chunk::Start)
                        .and_then(|()| sink(Chunk::Data(out.stdout.as_bytes())))
                        .with_context(|| format!("could not {}", cmd.summary()))?;
                }
                return Ok(Output { stdout: String::new(), ..out });
            }
            Begin::NotInstalled(out) => return Ok(out),
            Begin::Run { expr, start, .. } => (expr, start),
        };
        sink(Chunk::Start).with_context(|| format!("could not {}", cmd.summary()))?;
        let (mut pipe_out, pipe_in) = std::io::pipe().context("could not create a pipe")?;
        grow_pipe(&pipe_out);
        let handle = {
            let expression = expression.stdout_file(pipe_in).stderr_capture();
            expression.start().map_err(|e| CouldNotExecute { line: line.clone(), source: e })?
            // `expression` (and kilter's copy of the write end) is dropped here, so the read
            // ends with EOF once the child has closed its stdout.
        };
        let done = AtomicBool::new(false);
        let (copied, was_interrupted) = std::thread::scope(|s| {
            // Reads block; this watcher kills the child on Ctrl-C, which ends the read with EOF.
            let watcher = s.spawn(|| {
                while !done.load(Ordering::SeqCst) {
                    if interrupted() {
                        let _ = handle.kill();
                        return true;
                    }
                    std::thread::sleep(Duration::from_millis(25));
                }
                false
            });
            let copied = copy_out(&mut pipe_out, sink);
            if copied.is_err() {
                let _ = handle.kill();
            }
            done.store(true, Ordering::SeqCst);
            (copied, watcher.join().unwrap_or(false))
        });
        // A grandchild still writing gets EPIPE from here on.
        drop(pipe_out);
        let status = if copied.is_ok() && !was_interrupted {
            wait_until(&handle, &line, None).map(|w| match w {
                Waited::Exited(o) | Waited::Killed(o) => Some((o.status, o.stderr)),
            })
        } else {
            // Killed: reap the child itself, bounded (a grandchild may hold its stderr). What it
            // said is not used: the failed copy or the interrupt is the error returned below.
            let deadline = Instant::now() + Duration::from_secs(5);
            while matches!(handle.try_wait(), Ok(None)) && Instant::now() < deadline {
                std::thread::sleep(Duration::from_millis(10));
            }
            Ok(None)
        };
        let duration = start.elapsed();
        let status = match status {
            Ok(s) => s,
            Err(e) => {
                let interrupted = e.downcast_ref::<Interrupted>().is_some();
                self.log(&line, if interrupted { "interrupted" } else { "failed" }, duration);
                return Err(e);
            }
        };
        if was_interrupted || interrupted() {
            self.log(&line, "interrupted", duration);
            return Err(Interrupted.into());
        }
        if let Err(e) = copied {
            self.log(&line, "failed", duration);
            return Err(anyhow::Error::new(e).context(format!("could not {}", cmd.summary())));
        }
        let Some((status, stderr)) = status else {
            self.log(&line, "failed", duration);
            anyhow::bail!("could not {}: lost track of the child process", cmd.summary());
        };
        let out = Output {
            code: status.code(),
            stdout: String::new(),
            stderr: String::from_utf8_lossy(&stderr).into_owned(),
            duration,
            ..Output::default()
        };
        Ok(self.finish(cmd, &line, out))
    }

    /// Run `cmd` with its stdin fed by `feed` inside kilter (snapshots decompress on the way into
    /// the restore program); stdout and stderr are captured. `source` is the shell text standing
    /// for what kilter feeds; the line is shown as `<source> | <cmd>`. When `feed` fails (other
    /// than the child closing its stdin), the child is killed before its stdin is closed, so it
    /// never mistakes a short input for the whole, and the error is returned. Ctrl-C kills the
    /// child (`Interrupted`). In `--dry-run` a `Mutate` command is only printed.
    pub fn run_stdin_from(
        &self,
        cmd: &Cmd,
        source: &str,
        feed: &mut (dyn FnMut(&mut dyn Write) -> std::io::Result<()> + Send),
    ) -> Result<Output> {
        let rendered = cmd.render_with(None);
        let line = match cmd.working_dir() {
            Some(cwd) => {
                let cd = format!("cd {} && ", quote(cwd.as_str()));
                let bare = rendered.strip_prefix(&cd).unwrap_or(&rendered);
                format!("{cd}{source} | {bare}")
            }
            None => format!("{source} | {rendered}"),
        };
        // `Stdin::Null` would win over the pipe (duct applies the innermost redirection).
        let fed_cmd = cmd.clone().stdin(Stdin::Inherit);
        let (expression, start) = match self.prepare(&fed_cmd, &line, false)? {
            Begin::Answered(out) | Begin::NotInstalled(out) => return Ok(out),
            Begin::Run { expr, start, .. } => (expr, start),
        };
        let (pipe_out, pipe_in) = std::io::pipe().context("could not create a pipe")?;
        grow_pipe(&pipe_in);
        let handle = {
            let expression = expression.stdin_file(pipe_out).stdout_capture().stderr_capture();
            expression.start().map_err(|e| CouldNotExecute { line: line.clone(), source: e })?
            // `expression` (and with it kilter's copy of the pipe's read end) is dropped here,
            // so a child that stops reading makes the feeder's writes fail instead of blocking.
        };
        let (waited, fed) = std::thread::scope(|s| {
            let handle = &handle;
            let feeder = s.spawn(move || {
                let mut pipe_in = pipe_in;
                let fed = feed(&mut pipe_in).and_then(|()| pipe_in.flush());
                if fed.as_ref().is_err_and(|e| e.kind() != std::io::ErrorKind::BrokenPipe) {
                    let _ = handle.kill();
                }
                drop(pipe_in);
                fed
            });
            let waited = wait_until(handle, &line, None).map(|w| match w {
                Waited::Exited(o) | Waited::Killed(o) => o,
            });
            let fed = feeder.join().unwrap_or_else(|_| {
                Err(std::io::Error::other("the thread feeding the command panicked"))
            });
            (waited, fed)
        });
        let duration = start.elapsed();
        let o = match waited {
            Ok(o) => o,
            Err(e) => {
                self.log(&line, "interrupted", duration);
                return Err(e);
            }
        };
        if let Err(e) = fed
            && e.kind() != std::io::ErrorKind::BrokenPipe
        {
            self.log(&line, "failed", duration);
            return Err(anyhow::Error::new(e).context(format!("could not {}", cmd.summary())));
        }
        Ok(self.finish(cmd, &line, Output::of(&o, duration)))
    }
}

/// What [`Runner::run_stdout_into`] hands its sink.
#[derive(Debug)]
pub enum Chunk<'a> {
    /// The command is about to run for real (never in a dry run).
    Start,
    /// Bytes of its stdout.
    Data(&'a [u8]),
}

/// Copy a child's stdout into `sink` until EOF (for [`Runner::run_stdout_into`]).
pub(super) fn copy_out(
    reader: &mut impl Read,
    sink: &mut dyn FnMut(Chunk<'_>) -> std::io::Result<()>,
) -> std::io::Result<()> {
    let mut buf = vec![0u8; 256 * 1024];
    loop {
        let n = match reader.read(&mut buf) {
            Ok(0) => return Ok(()),
            Ok(n) => n,
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => continue,
            Err(e) => return Err(e),
        };
        sink(Chunk::Data(&buf[..n]))?;
    }
}

/// A 1 MiB pipe instead of Linux's default 64 KiB, so a dump and kilter (or kilter and a
/// restore) stall less on each other when the CPU is busy. Best effort.
pub(super) fn grow_pipe(end: &impl std::os::fd::AsRawFd) {
    #[cfg(target_os = "linux")]
    // SAFETY: fcntl(F_SETPIPE_SZ) on a pipe descriptor we own; no memory is passed.
    unsafe {
        libc::fcntl(end.as_raw_fd(), libc::F_SETPIPE_SZ, 1 << 20);
    }
    #[cfg(not(target_os = "linux"))]
    let _ = end;
}
