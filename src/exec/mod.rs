//! The one place that has effects on the world (ARCHITECTURE.md "Invariants"; docs/dry-run.md).
//!
//! [`Cmd`] describes a command (program, argv, env, cwd, stdin, what it is for and whether it
//! mutates anything); its `Display` is one copy-pasteable POSIX shell line. [`Runner`] owns
//! every effect kilter has — running a command, writing, renaming, chmod-ing and removing files,
//! signalling a process group, taking a lock — and either performs it or, in `--dry-run`, prints
//! it as a line of a runnable script on stdout. Each effect is echoed by verbosity and appended
//! to the transcript (`commands.log`) in one place. Ops never ask whether this is a dry run.
//!
//! Every command runs under a deadline when the op set one (`up --timeout`), and probes can be
//! given their own time limit: kilter kills a process that outlives it, because the tools do
//! not bound themselves (kubectl retries for up to a minute against an API port that accepts
//! and resets connections; `--request-timeout` does not bound that). Nothing is ever passed
//! through a shell.
#![allow(clippy::disallowed_methods)]

mod cmd;
mod effects;
mod poll;
mod process;
mod stream;

use std::fs::OpenOptions;
use std::io::{Read, Write};
use std::sync::Mutex;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use anyhow::{Context, Result};
use camino::{Utf8Path, Utf8PathBuf};

pub use crate::interrupt::{check_interrupt, install_signal_handlers, interrupted, sleep};
pub use cmd::{Cmd, Effect, Output, Redirect, Stdin, quote, tail, tail_lines};
pub use effects::{Content, StagedWrite, Stopped};
pub use poll::{Poll, PollEnd};
pub use process::{
    Proc, START_TIME_OF_LAST_JOB, cmdline, descendant_groups, group_alive, leads_group, members,
    pid_alive, same_process, signal, start_time, table,
};

use crate::error::{Code, CommandFailed, CouldNotExecute, Exit, Interrupted};
use crate::ui::{Echo, Ui};

/// How the runner treats effects.
#[derive(Debug)]
pub enum Mode {
    Real,
    /// Queries run; every other effect is printed to stdout as a script.
    DryRun,
    /// Unit tests: canned outputs keyed by argv prefix; records every command and effect.
    Record(Mutex<Recording>),
}

/// Canned answers and the commands seen, for `Mode::Record`.
#[derive(Debug, Default)]
pub struct Recording {
    pub answers: Vec<(Vec<String>, Output)>,
    pub seen: Vec<String>,
}

impl Recording {
    /// Answer commands whose `display + args` start with `prefix` (space separated words).
    pub fn answer(&mut self, prefix: &str, code: i32, stdout: &str, stderr: &str) {
        let words = prefix.split(' ').map(str::to_owned).collect();
        let out = Output {
            code: Some(code),
            stdout: stdout.into(),
            stderr: stderr.into(),
            ..Output::default()
        };
        self.answers.push((words, out));
    }
}

/// A deadline for every command this runner starts (set by `up --timeout`).
#[derive(Debug, Clone)]
struct Deadline {
    at: Instant,
    timeout: Duration,
    what: String,
}

/// Runs commands and performs effects. Shared by reference across threads (probes run
/// concurrently).
pub struct Runner<'u> {
    mode: Mode,
    ui: &'u Ui,
    transcript: Mutex<Option<Utf8PathBuf>>,
    script_started: AtomicBool,
    /// Directories a dry-run script already creates (so it says so once).
    planned_dirs: Mutex<Vec<Utf8PathBuf>>,
    /// Files a dry-run script has written (true) or removed (false) so far: later effects see
    /// the planned state, as the real run would see the performed one.
    planned_files: Mutex<Vec<(Utf8PathBuf, bool)>>,
    /// What a dry-run script writes into a file with literal content (`Runner::planned_text`).
    planned_texts: Mutex<Vec<(Utf8PathBuf, String)>>,
    deadline: Mutex<Option<Deadline>>,
    /// Transcripts of worker threads that act for one project each ([`Runner::each`]).
    thread_transcripts: Mutex<Vec<(std::thread::ThreadId, Utf8PathBuf)>>,
}

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

/// Options of one captured run.
struct RunOpts<'a> {
    redirect: Option<&'a Redirect>,
    /// Kill the command at this instant and return it as timed out (a probe's own limit).
    limit: Option<Instant>,
}

impl<'u> Runner<'u> {
    pub fn new(mode: Mode, ui: &'u Ui) -> Runner<'u> {
        Runner {
            mode,
            ui,
            transcript: Mutex::new(None),
            script_started: AtomicBool::new(false),
            planned_dirs: Mutex::new(Vec::new()),
            planned_files: Mutex::new(Vec::new()),
            planned_texts: Mutex::new(Vec::new()),
            deadline: Mutex::new(None),
            thread_transcripts: Mutex::new(Vec::new()),
        }
    }

    pub fn ui(&self) -> &'u Ui {
        self.ui
    }

    /// Whether effects are printed instead of performed. Only the runner itself and the
    /// wording of progress lines ("would …") look at this; ops never do.
    pub(crate) fn planning(&self) -> bool {
        matches!(self.mode, Mode::DryRun)
    }

    /// Where every effect is appended (`<cache dir>/commands.log`). A dry run changes no file,
    /// so it keeps no transcript.
    pub fn set_transcript(&self, path: Utf8PathBuf) {
        if self.planning() {
            return;
        }
        if let Ok(mut t) = self.transcript.lock() {
            *t = Some(path);
        }
    }

    pub fn transcript_path(&self) -> Option<Utf8PathBuf> {
        let me = std::thread::current().id();
        let own =
            self.thread_transcripts.lock().ok().and_then(|list| {
                list.iter().rev().find(|(id, _)| *id == me).map(|(_, p)| p.clone())
            });
        own.or_else(|| self.transcript.lock().ok().and_then(|t| t.clone()))
    }

    /// Run `f` with this thread's effects appended to `path` (a command that acts for several
    /// projects logs each one's effects in that project's `commands.log`). A dry run keeps no
    /// transcript.
    pub fn with_transcript<R>(&self, path: Utf8PathBuf, f: impl FnOnce() -> R) -> R {
        if self.planning() {
            return f();
        }
        let me = std::thread::current().id();
        if let Ok(mut list) = self.thread_transcripts.lock() {
            list.push((me, path));
        }
        let out = f();
        if let Ok(mut list) = self.thread_transcripts.lock()
            && let Some(i) = list.iter().rposition(|(id, _)| *id == me)
        {
            list.remove(i);
        }
        out
    }

    /// `f` for every item, at most `limit` at a time, results in the items' order. A real run
    /// works on several at once (slow effects such as `docker stop` overlap); a dry run, and
    /// Record mode, take them one after the other, so the printed script reads item by item
    /// and runs the same way. A worker that panics yields an error for its item.
    pub fn each<T: Sync, R: Send>(
        &self,
        items: &[T],
        limit: usize,
        f: impl Fn(&T) -> Result<R> + Sync,
    ) -> Vec<Result<R>> {
        if !matches!(self.mode, Mode::Real) || items.len() <= 1 || limit <= 1 {
            return items.iter().map(&f).collect();
        }
        let next = std::sync::atomic::AtomicUsize::new(0);
        let slots: Vec<Mutex<Option<Result<R>>>> = items.iter().map(|_| Mutex::new(None)).collect();
        std::thread::scope(|s| {
            let workers: Vec<_> = (0..limit.min(items.len()))
                .map(|_| {
                    s.spawn(|| {
                        loop {
                            let i = next.fetch_add(1, Ordering::SeqCst);
                            let (Some(item), Some(slot)) = (items.get(i), slots.get(i)) else {
                                break;
                            };
                            let r = f(item);
                            if let Ok(mut slot) = slot.lock() {
                                *slot = Some(r);
                            }
                        }
                    })
                })
                .collect();
            for w in workers {
                let _ = w.join();
            }
        });
        slots
            .into_iter()
            .map(|m| {
                m.into_inner().ok().flatten().unwrap_or_else(|| {
                    Err(anyhow::anyhow!("internal: the worker thread for this item panicked"))
                })
            })
            .collect()
    }

    /// Kill every command still running `timeout` from now and fail with exit 5 (`what` names
    /// the limit in the message, e.g. "--timeout 2m").
    pub fn set_deadline(&self, timeout: Duration, what: &str) {
        if let Ok(mut d) = self.deadline.lock() {
            *d = Some(Deadline { at: Instant::now() + timeout, timeout, what: what.to_owned() });
        }
    }

    pub fn clear_deadline(&self) {
        if let Ok(mut d) = self.deadline.lock() {
            *d = None;
        }
    }

    fn current_deadline(&self) -> Option<Deadline> {
        self.deadline.lock().ok().and_then(|d| d.clone())
    }

    /// Time left before the deadline (`None`: no deadline).
    pub fn remaining(&self) -> Option<Duration> {
        self.current_deadline().map(|d| d.at.saturating_duration_since(Instant::now()))
    }

    /// The error for a passed deadline.
    fn deadline_error(&self, d: &Deadline, doing: &str) -> anyhow::Error {
        Exit::new(
            Code::Timeout,
            format!(
                "timed out after {} ({}) while {doing}",
                crate::ui::fmt_duration(d.timeout),
                d.what
            ),
        )
        .hint("raise the timeout, or look at the node with `kilter status` and `docker logs`")
        .into()
    }

    /// The commands seen in `Mode::Record`.
    pub fn recorded(&self) -> Vec<String> {
        match &self.mode {
            Mode::Record(r) => r.lock().map(|r| r.seen.clone()).unwrap_or_default(),
            _ => Vec::new(),
        }
    }

    /// Run and require exit code 0.
    pub fn run(&self, cmd: &Cmd) -> Result<Output> {
        let out = self.run_unchecked(cmd)?;
        if out.success() { Ok(out) } else { Err(self.failed(cmd, &out, None).into()) }
    }

    /// Build the error for a failed command (callers may add a hint).
    pub fn failed(&self, cmd: &Cmd, out: &Output, hint: Option<String>) -> CommandFailed {
        let (stderr_tail, cut) = tail_lines(&out.stderr, 20);
        CommandFailed {
            summary: cmd.summary().to_owned(),
            line: cmd.to_string(),
            code: out.code,
            stderr_tail,
            stderr_cut: cut,
            hint,
        }
    }

    /// Run and return the output whatever the exit code. Errors only if the program could not
    /// be started, the run was interrupted, or the deadline passed.
    pub fn run_unchecked(&self, cmd: &Cmd) -> Result<Output> {
        self.run_captured(cmd, RunOpts { redirect: None, limit: None }, |e| e.stdout_capture())
    }

    /// Run `action` unless `check` (a query) succeeds — for a state that is not known in a dry
    /// run (the script then tests it itself: `check >/dev/null 2>&1 || action`). `None`: the
    /// check succeeded and nothing ran.
    pub fn run_unless(&self, check: &Cmd, action: &Cmd) -> Result<Option<Output>> {
        if self.planning() {
            self.script(&format!("{check} >/dev/null 2>&1 || {action}"));
            return Ok(Some(Output::planned()));
        }
        if self.run_unchecked(check)?.success() {
            return Ok(None);
        }
        self.run(action).map(Some)
    }

    /// Like [`Runner::run_unchecked`], but the command is killed after `limit` and returned
    /// with `timed_out` set (a probe that must not block a read-only command).
    pub fn run_for(&self, cmd: &Cmd, limit: Duration) -> Result<Output> {
        let opts = RunOpts { redirect: None, limit: Some(Instant::now() + limit) };
        self.run_captured(cmd, opts, |e| e.stdout_capture())
    }

    /// Echo, spawn with stderr captured and stdout as `stdout` decides, wait (interruptibly,
    /// up to the limit and the deadline), log.
    fn run_captured(
        &self,
        cmd: &Cmd,
        opts: RunOpts<'_>,
        stdout: impl FnOnce(duct::Expression) -> duct::Expression,
    ) -> Result<Output> {
        let line = cmd.render_with(opts.redirect);
        if let Some(out) = self.intercept(cmd, &line)? {
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
        self.echo(cmd.effect(), &line);
        let start = Instant::now();
        let handle = stdout(expr)
            .stderr_capture()
            .start()
            .map_err(|e| CouldNotExecute { line: line.clone(), source: e })?;
        let stop_at = [opts.limit, deadline.as_ref().map(|d| d.at)].into_iter().flatten().min();
        let waited = wait_until(&handle, &line, stop_at);
        let duration = start.elapsed();
        match waited {
            Ok(Waited::Exited(o)) => {
                let out = Output {
                    code: o.status.code(),
                    stdout: String::from_utf8_lossy(&o.stdout).into_owned(),
                    stderr: String::from_utf8_lossy(&o.stderr).into_owned(),
                    duration,
                    ..Output::default()
                };
                self.log(&line, &status_word(out.code), duration);
                self.ui.child_output(cmd.effect() == Effect::Mutate, &out.stdout, &out.stderr);
                Ok(out)
            }
            Ok(Waited::Killed(o)) => {
                self.log(&line, "timeout", duration);
                let hit_deadline = deadline.as_ref().is_some_and(|d| Instant::now() >= d.at)
                    && opts.limit.is_none_or(|l| deadline.as_ref().is_some_and(|d| d.at <= l));
                if hit_deadline && let Some(d) = &deadline {
                    return Err(
                        self.deadline_error(d, &format!("waiting for `{line}` (it was killed)"))
                    );
                }
                Ok(Output {
                    code: None,
                    stdout: String::from_utf8_lossy(&o.stdout).into_owned(),
                    stderr: String::from_utf8_lossy(&o.stderr).into_owned(),
                    duration,
                    timed_out: true,
                    not_run: None,
                })
            }
            Err(e) => {
                self.log(&line, "interrupted", duration);
                Err(e)
            }
        }
    }

    /// A query whose program is not installed (dry run only): noted in the script.
    fn not_installed(&self, cmd: &Cmd, line: &str) -> Output {
        let why = format!("{} is not installed", cmd.display_name());
        self.script(&format!("# not run ({why}): {line}"));
        Output { not_run: Some(why), ..Output::default() }
    }

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
        if let Some(out) = self.intercept(cmd, &line)? {
            if matches!(self.mode, Mode::Record(_)) {
                sink(Chunk::Start)
                    .and_then(|()| sink(Chunk::Data(out.stdout.as_bytes())))
                    .with_context(|| format!("could not {}", cmd.summary()))?;
            }
            return Ok(Output { stdout: String::new(), ..out });
        }
        check_interrupt()?;
        sink(Chunk::Start).with_context(|| format!("could not {}", cmd.summary()))?;
        self.echo(cmd.effect(), &line);
        let start = Instant::now();
        let (mut pipe_out, pipe_in) = std::io::pipe().context("could not create a pipe")?;
        grow_pipe(&pipe_out);
        let handle = {
            let Some(expression) = cmd.expression() else {
                return Ok(self.not_installed(cmd, &line));
            };
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
            // Killed: wait for the child itself, bounded (a grandchild may hold its stderr).
            let deadline = Instant::now() + Duration::from_secs(5);
            Ok(loop {
                match handle.try_wait() {
                    Ok(Some(o)) => break Some((o.status, o.stderr.clone())),
                    Ok(None) if Instant::now() < deadline => {
                        std::thread::sleep(Duration::from_millis(10))
                    }
                    _ => break None,
                }
            })
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
        self.log(&line, &status_word(out.code), duration);
        self.ui.child_output(cmd.effect() == Effect::Mutate, "", &out.stderr);
        Ok(out)
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
        if let Some(out) = self.intercept(cmd, &line)? {
            return Ok(out);
        }
        check_interrupt()?;
        self.echo(cmd.effect(), &line);
        let start = Instant::now();
        let (pipe_out, pipe_in) = std::io::pipe().context("could not create a pipe")?;
        grow_pipe(&pipe_in);
        let handle = {
            // `Stdin::Null` would win over the pipe (duct applies the innermost redirection).
            let Some(expression) = cmd.clone().stdin(Stdin::Inherit).expression() else {
                return Ok(self.not_installed(cmd, &line));
            };
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
        let out = Output {
            code: o.status.code(),
            stdout: String::from_utf8_lossy(&o.stdout).into_owned(),
            stderr: String::from_utf8_lossy(&o.stderr).into_owned(),
            duration,
            ..Output::default()
        };
        self.log(&line, &status_word(out.code), duration);
        self.ui.child_output(cmd.effect() == Effect::Mutate, &out.stdout, &out.stderr);
        Ok(out)
    }

    /// Run in the foreground with the terminal's stdio (Tilt `--attach`, `tilt ci`, `kubectl exec`,
    /// `logs -f`). Returns the exit code (128+signal when killed). On Ctrl-C the child (which got
    /// the same signal from the terminal) is given a grace period, then killed.
    pub fn run_foreground(&self, cmd: &Cmd) -> Result<i32> {
        let line = cmd.to_string();
        if let Some(out) = self.intercept(cmd, &line)? {
            return Ok(out.code.unwrap_or(0));
        }
        check_interrupt()?;
        let Some(expr) = cmd.expression() else {
            return Ok(self.not_installed(cmd, &line).code.unwrap_or(0));
        };
        self.echo(cmd.effect(), &line);
        let start = Instant::now();
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
        if self.intercept(cmd, &line)?.is_some() {
            return Ok(Spawned::Planned);
        }
        check_interrupt()?;
        let Some(expr) = cmd.expression() else {
            self.not_installed(cmd, &line);
            return Ok(Spawned::Planned);
        };
        self.echo(cmd.effect(), &line);
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

    /// In a dry run: whether `dir` exists or the script creates it earlier (and remember that
    /// it will now). In a real run: whether it exists.
    pub(crate) fn dir_planned(&self, dir: &Utf8Path) -> bool {
        if dir.is_dir() {
            return true;
        }
        if !self.planning() {
            return false;
        }
        let Ok(mut planned) = self.planned_dirs.lock() else { return false };
        if planned.iter().any(|d| d == dir || d.starts_with(dir)) {
            return true;
        }
        planned.push(dir.to_owned());
        false
    }

    /// Whether something is at `path` — in a dry run, after the effects planned so far.
    pub(crate) fn exists(&self, path: &Utf8Path) -> bool {
        if self.planning()
            && let Ok(planned) = self.planned_files.lock()
        {
            if let Some((_, present)) = planned.iter().rev().find(|(p, _)| p == path) {
                return *present;
            }
            // A directory that holds a file the script writes (`rm -rf` of it must be printed).
            if planned.iter().any(|(p, present)| *present && p.starts_with(path) && p != path) {
                return true;
            }
        }
        crate::fsutil::exists(path)
    }

    /// Remember a planned write (`true`) or removal (`false`) in a dry run.
    pub(crate) fn plan_file(&self, path: &Utf8Path, present: bool) {
        if self.planning()
            && let Ok(mut planned) = self.planned_files.lock()
        {
            planned.push((path.to_owned(), present));
        }
    }

    /// In a dry run, the text the script has last written into `path` (when it was all literal
    /// and not removed since): a read-modify-write later in the same run builds on it, as the real
    /// run builds on the file it wrote (two writes of `ports.json` in one `up`).
    pub fn planned_text(&self, path: &Utf8Path) -> Option<String> {
        if !self.planning() || !self.exists(path) {
            return None;
        }
        let texts = self.planned_texts.lock().ok()?;
        texts.iter().rev().find(|(p, _)| p == path).map(|(_, t)| t.clone())
    }

    pub(crate) fn plan_text(&self, path: &Utf8Path, text: Option<String>) {
        if self.planning()
            && let Ok(mut texts) = self.planned_texts.lock()
        {
            texts.retain(|(p, _)| p != path);
            if let Some(t) = text {
                texts.push((path.to_owned(), t));
            }
        }
    }

    /// Print a line of the dry-run script (the header first).
    pub(crate) fn script(&self, line: &str) {
        if !self.script_started.swap(true, Ordering::SeqCst) {
            self.ui.stdout(
                "#!/bin/sh\n# kilter --dry-run: what kilter would do, as a script\nset -e\n",
            );
        }
        self.ui.stdout(&format!("{line}\n"));
    }

    /// Dry run and Record mode: answer instead of running. `None`: run it for real.
    fn intercept(&self, cmd: &Cmd, line: &str) -> Result<Option<Output>> {
        match &self.mode {
            Mode::Real => Ok(None),
            Mode::DryRun => {
                if cmd.effect() != Effect::Query {
                    self.script(line);
                    Ok(Some(Output::planned()))
                } else {
                    Ok(None)
                }
            }
            Mode::Record(r) => {
                let mut r = r.lock().map_err(|e| anyhow::anyhow!("recording poisoned: {e}"))?;
                let mut words: Vec<&str> = vec![cmd.display_name()];
                words.extend(cmd.argv());
                r.seen.push(words.join(" "));
                let found = r
                    .answers
                    .iter()
                    .find(|(prefix, _)| {
                        prefix.len() <= words.len()
                            && prefix.iter().zip(&words).all(|(a, b)| a == b)
                    })
                    .map(|(_, o)| o.clone());
                match found {
                    Some(o) => Ok(Some(o)),
                    None if cmd.effect() != Effect::Query => Ok(Some(Output::planned())),
                    None => {
                        anyhow::bail!("Record mode: no canned answer for `{}`", words.join(" "))
                    }
                }
            }
        }
    }

    fn echo(&self, effect: Effect, line: &str) {
        let level = match effect {
            Effect::Mutate => Echo::Change,
            Effect::Query | Effect::Wait => Echo::Probe,
        };
        self.ui.echo(level, line);
    }

    /// Append one entry to the transcript: UTC time, status, duration, the line.
    fn log(&self, line: &str, status: &str, duration: Duration) {
        let Some(path) = self.transcript_path() else { return };
        let entry = format!(
            "{}\t{}\t{:.3}s\t{}\n",
            crate::time::rfc3339_now(),
            status,
            duration.as_secs_f64(),
            line.replace('\n', "\\n")
        );
        if let Some(dir) = path.parent() {
            let _ = crate::fsutil::ensure_private_dir(dir);
        }
        // One write per entry with O_APPEND keeps concurrent entries whole.
        if let Ok(mut f) = OpenOptions::new().create(true).append(true).open(&path) {
            let _ = f.write_all(entry.as_bytes());
        }
    }
}

enum Waited {
    Exited(std::process::Output),
    /// Killed at its time limit; whatever it had printed.
    Killed(std::process::Output),
}

/// Wait for a child, killing it on Ctrl-C (error) or at `stop_at` (returned as killed).
fn wait_until(handle: &duct::Handle, line: &str, stop_at: Option<Instant>) -> Result<Waited> {
    loop {
        match handle.wait_timeout(Duration::from_millis(10)) {
            Ok(Some(o)) => return Ok(Waited::Exited(o.clone())),
            Ok(None) => {}
            Err(e) => return Err(CouldNotExecute { line: line.to_owned(), source: e }.into()),
        }
        if interrupted() {
            let _ = handle.kill();
            return Err(Interrupted.into());
        }
        if stop_at.is_some_and(|t| Instant::now() >= t) {
            let _ = handle.kill();
            // A grandchild holding the pipes open must not block us: give the readers a moment.
            let out = match handle.wait_timeout(Duration::from_secs(2)) {
                Ok(Some(o)) => o.clone(),
                _ => std::process::Output {
                    status: Default::default(),
                    stdout: Vec::new(),
                    stderr: Vec::new(),
                },
            };
            return Ok(Waited::Killed(out));
        }
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
fn copy_out(
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
fn grow_pipe(end: &impl std::os::fd::AsRawFd) {
    #[cfg(target_os = "linux")]
    // SAFETY: fcntl(F_SETPIPE_SZ) on a pipe descriptor we own; no memory is passed.
    unsafe {
        libc::fcntl(end.as_raw_fd(), libc::F_SETPIPE_SZ, 1 << 20);
    }
    #[cfg(not(target_os = "linux"))]
    let _ = end;
}

fn exit_code(status: &std::process::ExitStatus) -> i32 {
    use std::os::unix::process::ExitStatusExt;
    status.code().unwrap_or_else(|| 128 + status.signal().unwrap_or(0))
}

fn status_word(code: Option<i32>) -> String {
    match code {
        Some(c) => format!("exit={c}"),
        None => "killed".to_owned(),
    }
}

#[cfg(test)]
mod tests;
