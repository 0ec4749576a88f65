//! The one place that spawns processes (STYLE.md 2.2).
//!
//! [`Cmd`] describes a command (program, argv, env, cwd, stdin, redirections, what it is for and
//! whether it mutates anything). Its `Display` is one copy-pasteable POSIX shell line. [`Runner`]
//! echoes it through the [`Ui`], runs it with duct (or prints it, in `--dry-run`), appends it to
//! the transcript with its exit code and duration, and turns failures into errors that show the
//! exact line and the tail of stderr. Nothing is ever passed through a shell.
#![allow(clippy::disallowed_methods)]

use std::fmt;
use std::fs::{File, OpenOptions};
use std::io::{Read, Write};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, OnceLock};
use std::time::{Duration, Instant};

use anyhow::{Context, Result};
use camino::{Utf8Path, Utf8PathBuf};

use crate::error::{CommandFailed, CouldNotExecute, Interrupted};
use crate::ui::Ui;

/// Whether a command only looks (runs even in `--dry-run`) or changes something.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Effect {
    Query,
    Mutate,
}

/// Where a command's stdin comes from. Stdin is always a file or nothing, so the logged line can
/// be re-run as is.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Stdin {
    Null,
    Inherit,
    File(Utf8PathBuf),
}

/// A command to run, with everything needed to render it as a shell line.
#[derive(Debug, Clone)]
pub struct Cmd {
    /// What the user sees and would type (`kind`, or the override path from `KILTER_KIND`).
    pub display: String,
    /// The resolved executable.
    pub path: Utf8PathBuf,
    pub args: Vec<String>,
    pub env: Vec<(String, String)>,
    pub cwd: Option<Utf8PathBuf>,
    pub stdin: Stdin,
    /// Indices into `args` whose values are secrets (rendered as `'***'`).
    pub secret_args: Vec<usize>,
    /// Env names whose values are secrets.
    pub secret_env: Vec<String>,
    pub effect: Effect,
    /// What kilter is doing, e.g. "create kind cluster kilter-shop".
    pub summary: String,
}

impl Cmd {
    pub fn new(display: &str, path: &Utf8Path, summary: impl Into<String>) -> Cmd {
        Cmd {
            display: display.to_owned(),
            path: path.to_owned(),
            args: Vec::new(),
            env: Vec::new(),
            cwd: None,
            stdin: Stdin::Null,
            secret_args: Vec::new(),
            secret_env: Vec::new(),
            effect: Effect::Query,
            summary: summary.into(),
        }
    }
    pub fn arg(mut self, a: impl Into<String>) -> Cmd {
        self.args.push(a.into());
        self
    }
    pub fn args<I, S>(mut self, it: I) -> Cmd
    where
        I: IntoIterator<Item = S>,
        S: Into<String>,
    {
        self.args.extend(it.into_iter().map(Into::into));
        self
    }
    pub fn secret_arg(mut self, a: impl Into<String>) -> Cmd {
        self.secret_args.push(self.args.len());
        self.args.push(a.into());
        self
    }
    pub fn env(mut self, k: impl Into<String>, v: impl Into<String>) -> Cmd {
        self.env.push((k.into(), v.into()));
        self
    }
    pub fn envs(mut self, kv: &[(String, String)]) -> Cmd {
        self.env.extend(kv.iter().cloned());
        self
    }
    pub fn secret_env(mut self, k: impl Into<String>, v: impl Into<String>) -> Cmd {
        let k = k.into();
        self.secret_env.push(k.clone());
        self.env.push((k, v.into()));
        self
    }
    pub fn cwd(mut self, dir: impl Into<Utf8PathBuf>) -> Cmd {
        self.cwd = Some(dir.into());
        self
    }
    pub fn stdin(mut self, stdin: Stdin) -> Cmd {
        self.stdin = stdin;
        self
    }
    pub fn mutate(mut self) -> Cmd {
        self.effect = Effect::Mutate;
        self
    }

    /// The argv as the user would type it after the program name.
    pub fn argv(&self) -> Vec<&str> {
        self.args.iter().map(String::as_str).collect()
    }

    /// Render with an optional redirection of stdout (and stderr) appended.
    pub fn render_with(&self, redirect: Option<&Redirect>) -> String {
        let mut out = String::new();
        if let Some(cwd) = &self.cwd {
            out.push_str("cd ");
            out.push_str(&quote(cwd.as_str()));
            out.push_str(" && ");
        }
        for (k, v) in &self.env {
            out.push_str(k);
            out.push('=');
            if self.secret_env.iter().any(|s| s == k) {
                out.push_str("'***'");
            } else {
                out.push_str(&quote(v));
            }
            out.push(' ');
        }
        out.push_str(&quote(&self.display));
        for (i, a) in self.args.iter().enumerate() {
            out.push(' ');
            if self.secret_args.contains(&i) {
                out.push_str("'***'");
            } else {
                out.push_str(&quote(a));
            }
        }
        if let Stdin::File(p) = &self.stdin {
            out.push_str(" < ");
            out.push_str(&quote(p.as_str()));
        }
        match redirect {
            None => {}
            Some(Redirect::StdoutTo(p)) => {
                out.push_str(" > ");
                out.push_str(&quote(p.as_str()));
            }
            Some(Redirect::AppendBothDetached(p)) => {
                out.push_str(" >> ");
                out.push_str(&quote(p.as_str()));
                out.push_str(" 2>&1 &");
            }
        }
        out
    }

    fn expression(&self) -> duct::Expression {
        let mut e = duct::cmd(self.path.as_std_path(), &self.args).unchecked();
        for (k, v) in &self.env {
            e = e.env(k, v);
        }
        if let Some(cwd) = &self.cwd {
            e = e.dir(cwd.as_std_path());
        }
        match &self.stdin {
            Stdin::Null => e = e.stdin_null(),
            Stdin::Inherit => {}
            Stdin::File(p) => e = e.stdin_path(p.as_std_path()),
        }
        e
    }
}

/// A redirection shown in the rendered line (and applied by the runner).
#[derive(Debug, Clone)]
pub enum Redirect {
    /// `> path`: stdout streamed to a file.
    StdoutTo(Utf8PathBuf),
    /// `>> path 2>&1 &`: a detached background process logging to a file.
    AppendBothDetached(Utf8PathBuf),
}

impl fmt::Display for Cmd {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.render_with(None))
    }
}

/// Quote one word for a POSIX shell (shlex ≥ 1.3). A NUL byte cannot be represented; it is shown
/// as `\0` so the line stays readable (such an argument could not be passed to exec anyway).
pub fn quote(word: &str) -> String {
    match shlex::try_quote(word) {
        Ok(q) => q.into_owned(),
        Err(_) => shlex::try_quote(&word.replace('\0', "\\0"))
            .map(|q| q.into_owned())
            .unwrap_or_else(|_| "''".to_owned()),
    }
}

/// The result of a command.
#[derive(Debug, Clone, Default)]
pub struct Output {
    /// Exit code; `None` when killed by a signal.
    pub code: Option<i32>,
    pub stdout: String,
    pub stderr: String,
    pub duration: Duration,
}

impl Output {
    pub fn success(&self) -> bool {
        self.code == Some(0)
    }
    /// A synthetic successful output (dry-run mutations).
    fn skipped() -> Output {
        Output { code: Some(0), ..Output::default() }
    }
}

// ---------------------------------------------------------------------------------------------
// Interrupts

static FLAG: OnceLock<Arc<AtomicBool>> = OnceLock::new();

fn flag() -> &'static Arc<AtomicBool> {
    FLAG.get_or_init(|| Arc::new(AtomicBool::new(false)))
}

/// Install SIGINT/SIGTERM handlers that only set a flag; every wait loop checks it.
pub fn install_signal_handlers() {
    for sig in [signal_hook::consts::SIGINT, signal_hook::consts::SIGTERM] {
        let _ = signal_hook::flag::register(sig, Arc::clone(flag()));
    }
}

/// True once Ctrl-C (SIGINT) or SIGTERM was received.
pub fn interrupted() -> bool {
    flag().load(Ordering::SeqCst)
}

/// Fail with [`Interrupted`] if a signal arrived.
pub fn check_interrupt() -> Result<()> {
    if interrupted() { Err(Interrupted.into()) } else { Ok(()) }
}

/// Sleep in small slices, returning early (with an error) on interrupt.
pub fn sleep(d: Duration) -> Result<()> {
    let end = Instant::now() + d;
    loop {
        check_interrupt()?;
        let now = Instant::now();
        if now >= end {
            return Ok(());
        }
        std::thread::sleep((end - now).min(Duration::from_millis(20)));
    }
}

// ---------------------------------------------------------------------------------------------
// Runner

/// How the runner treats commands.
#[derive(Debug)]
pub enum Mode {
    Real,
    /// Queries run; mutations are printed to stdout as a script.
    DryRun,
    /// Unit tests: canned outputs keyed by argv prefix; records every command.
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
            duration: Duration::ZERO,
        };
        self.answers.push((words, out));
    }
}

/// Runs commands. Shared by reference across threads (probes run concurrently).
pub struct Runner<'u> {
    pub mode: Mode,
    pub ui: &'u Ui,
    transcript: Mutex<Option<Utf8PathBuf>>,
    script_started: AtomicBool,
}

/// A detached child (Tilt) started by this run.
#[derive(Debug)]
pub struct Detached {
    pub pid: u32,
    /// Kept so that kilter can reap the child while it watches it start (a zombie still answers
    /// `kill(pid, 0)`). Dropping it neither kills nor waits for the child.
    handle: duct::Handle,
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

impl<'u> Runner<'u> {
    pub fn new(mode: Mode, ui: &'u Ui) -> Runner<'u> {
        Runner { mode, ui, transcript: Mutex::new(None), script_started: AtomicBool::new(false) }
    }

    pub fn is_dry_run(&self) -> bool {
        matches!(self.mode, Mode::DryRun)
    }

    /// Where every command is appended (`<cache dir>/commands.log`).
    pub fn set_transcript(&self, path: Utf8PathBuf) {
        if let Ok(mut t) = self.transcript.lock() {
            *t = Some(path);
        }
    }

    pub fn transcript_path(&self) -> Option<Utf8PathBuf> {
        self.transcript.lock().ok().and_then(|t| t.clone())
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
        CommandFailed {
            summary: cmd.summary.clone(),
            line: cmd.to_string(),
            code: out.code,
            stderr_tail: tail(&out.stderr, 20),
            hint,
        }
    }

    /// Run and return the output whatever the exit code. Errors only if the program could not
    /// be started or the run was interrupted.
    pub fn run_unchecked(&self, cmd: &Cmd) -> Result<Output> {
        self.run_captured(cmd, None, |e| e.stdout_capture())
    }

    /// Run with stdout streamed into `out_file` (shown as `> path`), stderr captured. Memory stays
    /// flat whatever the size. Returns the output (stdout empty).
    pub fn run_to_file(&self, cmd: &Cmd, out_path: &Utf8Path, out_file: File) -> Result<Output> {
        let redirect = Redirect::StdoutTo(out_path.to_owned());
        self.run_captured(cmd, Some(&redirect), move |e| e.stdout_file(out_file))
    }

    /// Echo, spawn with stderr captured and stdout as `stdout` decides, wait interruptibly, log.
    fn run_captured(
        &self,
        cmd: &Cmd,
        redirect: Option<&Redirect>,
        stdout: impl FnOnce(duct::Expression) -> duct::Expression,
    ) -> Result<Output> {
        let line = cmd.render_with(redirect);
        if let Some(out) = self.intercept(cmd, &line, redirect)? {
            return Ok(out);
        }
        check_interrupt()?;
        self.ui.echo(cmd.effect, &line);
        let start = Instant::now();
        let handle = stdout(cmd.expression())
            .stderr_capture()
            .start()
            .map_err(|e| CouldNotExecute { line: line.clone(), source: e })?;
        let result = wait_interruptibly(&handle, &line);
        let duration = start.elapsed();
        match result {
            Ok(o) => {
                let out = Output {
                    code: o.status.code(),
                    stdout: String::from_utf8_lossy(&o.stdout).into_owned(),
                    stderr: String::from_utf8_lossy(&o.stderr).into_owned(),
                    duration,
                };
                self.log(&line, &status_word(out.code), duration);
                self.ui.child_output(cmd.effect, &out.stdout, &out.stderr);
                Ok(out)
            }
            Err(e) => {
                self.log(&line, "interrupted", duration);
                Err(e)
            }
        }
    }

    /// Run `cmd` with its stdout delivered to `sink` inside kilter, chunk by chunk, so memory stays
    /// flat whatever the size (snapshots compress and hash on the way to disk); stderr is captured.
    /// `rest` is the shell text standing for what kilter does with the bytes; the line is shown as
    /// `<cmd> | <rest>`. A sink error kills the child and is returned; so is Ctrl-C (the child is
    /// killed, `Interrupted`). In `--dry-run` a `Mutate` command is only printed; in `Record` mode
    /// the canned stdout goes to the sink.
    pub fn run_stdout_into(
        &self,
        cmd: &Cmd,
        rest: &str,
        sink: &mut dyn FnMut(&[u8]) -> std::io::Result<()>,
    ) -> Result<Output> {
        let line = format!("{} | {rest}", cmd.render_with(None));
        if let Some(out) = self.intercept(cmd, &line, None)? {
            if matches!(self.mode, Mode::Record(_)) {
                sink(out.stdout.as_bytes()).context("the snapshot sink failed")?;
            }
            return Ok(Output { stdout: String::new(), ..out });
        }
        check_interrupt()?;
        self.ui.echo(cmd.effect, &line);
        let start = Instant::now();
        let (mut pipe_out, pipe_in) = std::io::pipe().context("could not create a pipe")?;
        grow_pipe(&pipe_out);
        let handle = {
            let expression = cmd.expression().stdout_file(pipe_in).stderr_capture();
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
            wait_interruptibly(&handle, &line).map(|o| Some((o.status, o.stderr)))
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
            return Err(anyhow::Error::new(e).context(format!("could not {}", cmd.summary)));
        }
        let Some((status, stderr)) = status else {
            self.log(&line, "failed", duration);
            anyhow::bail!("could not {}: lost track of the child process", cmd.summary);
        };
        let out = Output {
            code: status.code(),
            stdout: String::new(),
            stderr: String::from_utf8_lossy(&stderr).into_owned(),
            duration,
        };
        self.log(&line, &status_word(out.code), duration);
        self.ui.child_output(cmd.effect, "", &out.stderr);
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
        let line = match &cmd.cwd {
            Some(cwd) => {
                let mut bare = cmd.clone();
                bare.cwd = None;
                format!("cd {} && {source} | {}", quote(cwd.as_str()), bare.render_with(None))
            }
            None => format!("{source} | {}", cmd.render_with(None)),
        };
        if let Some(out) = self.intercept(cmd, &line, None)? {
            return Ok(out);
        }
        check_interrupt()?;
        self.ui.echo(cmd.effect, &line);
        let start = Instant::now();
        let (pipe_out, pipe_in) = std::io::pipe().context("could not create a pipe")?;
        grow_pipe(&pipe_in);
        let handle = {
            // `Stdin::Null` would win over the pipe (duct applies the innermost redirection).
            let mut bare = cmd.clone();
            bare.stdin = Stdin::Inherit;
            let expression =
                bare.expression().stdin_file(pipe_out).stdout_capture().stderr_capture();
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
            let waited = wait_interruptibly(handle, &line);
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
            return Err(anyhow::Error::new(e).context(format!("could not {}", cmd.summary)));
        }
        let out = Output {
            code: o.status.code(),
            stdout: String::from_utf8_lossy(&o.stdout).into_owned(),
            stderr: String::from_utf8_lossy(&o.stderr).into_owned(),
            duration,
        };
        self.log(&line, &status_word(out.code), duration);
        self.ui.child_output(cmd.effect, &out.stdout, &out.stderr);
        Ok(out)
    }

    /// Run in the foreground with the terminal's stdio (Tilt `--attach`, `tilt ci`, `kubectl exec`,
    /// `logs -f`). Returns the exit code (128+signal when killed). On Ctrl-C the child (which got
    /// the same signal from the terminal) is given a grace period, then killed.
    pub fn run_foreground(&self, cmd: &Cmd) -> Result<i32> {
        let line = cmd.to_string();
        if let Some(out) = self.intercept(cmd, &line, None)? {
            return Ok(out.code.unwrap_or(0));
        }
        check_interrupt()?;
        self.ui.echo(cmd.effect, &line);
        let start = Instant::now();
        let handle = cmd
            .expression()
            .start()
            .map_err(|e| CouldNotExecute { line: line.clone(), source: e })?;
        let mut grace_until: Option<Instant> = None;
        let status = loop {
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
        Ok(code)
    }

    /// Start a detached process in its own process group, stdout and stderr appended to `log`.
    /// It outlives kilter. Returns its pid (which is also its process group id).
    pub fn spawn_detached(&self, cmd: &Cmd, log: &Utf8Path) -> Result<Option<Detached>> {
        let redirect = Redirect::AppendBothDetached(log.to_owned());
        let line = cmd.render_with(Some(&redirect));
        if self.intercept(cmd, &line, Some(&redirect))?.is_some() {
            return Ok(None);
        }
        check_interrupt()?;
        self.ui.echo(cmd.effect, &line);
        let file = OpenOptions::new()
            .create(true)
            .append(true)
            .open(log)
            .with_context(|| format!("could not open {log}"))?;
        let handle = cmd
            .expression()
            .stdin_null()
            // duct applies the outermost call first: join stderr into stdout, then send stdout
            // to the log (the other order would leak stderr to kilter's own stderr).
            .stderr_to_stdout()
            .stdout_file(file)
            .before_spawn(|c| {
                use std::os::unix::process::CommandExt;
                c.process_group(0);
                Ok(())
            })
            .unchecked()
            .start()
            .map_err(|e| CouldNotExecute { line: line.clone(), source: e })?;
        let pid = handle.pids().first().copied().unwrap_or(0);
        self.log(&line, &format!("spawned pid={pid}"), Duration::ZERO);
        Ok(Some(Detached { pid, handle }))
    }

    /// Write a file kilter itself owns (e.g. the generated kind config). In `--dry-run` the write
    /// is printed as a heredoc so the script stays runnable.
    pub fn write_file(&self, path: &Utf8Path, contents: &str, mode: u32) -> Result<()> {
        match &self.mode {
            Mode::DryRun => {
                let parent = path.parent().map(|p| p.as_str()).unwrap_or(".");
                self.script(&format!(
                    "mkdir -p {} && cat > {} <<'KILTER_EOF'\n{}{}KILTER_EOF",
                    quote(parent),
                    quote(path.as_str()),
                    contents,
                    if contents.ends_with('\n') { "" } else { "\n" }
                ));
                Ok(())
            }
            Mode::Record(r) => {
                if let Ok(mut r) = r.lock() {
                    r.seen.push(format!("write {path}"));
                }
                Ok(())
            }
            Mode::Real => crate::fsutil::write_private(path, contents.as_bytes(), mode),
        }
    }

    /// Print a line of the dry-run script (a comment for actions kilter does itself).
    pub fn script(&self, line: &str) {
        if !self.script_started.swap(true, Ordering::SeqCst) {
            self.ui
                .stdout("#!/bin/sh\n# kilter --dry-run: the commands kilter would run\nset -e\n");
        }
        self.ui.stdout(&format!("{line}\n"));
    }

    /// A note in the dry-run script about something kilter does itself (no command).
    pub fn script_comment(&self, text: &str) {
        if self.is_dry_run() {
            self.script(&format!("# {text}"));
        }
    }

    fn intercept(&self, cmd: &Cmd, line: &str, _r: Option<&Redirect>) -> Result<Option<Output>> {
        match &self.mode {
            Mode::Real => Ok(None),
            Mode::DryRun => {
                if cmd.effect == Effect::Mutate {
                    self.script(line);
                    self.log(line, "dry-run", Duration::ZERO);
                    Ok(Some(Output::skipped()))
                } else {
                    Ok(None)
                }
            }
            Mode::Record(r) => {
                let mut r = r.lock().map_err(|e| anyhow::anyhow!("recording poisoned: {e}"))?;
                let mut words: Vec<&str> = vec![cmd.display.as_str()];
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
                    None if cmd.effect == Effect::Mutate => Ok(Some(Output::skipped())),
                    None => {
                        anyhow::bail!("Record mode: no canned answer for `{}`", words.join(" "))
                    }
                }
            }
        }
    }

    fn log(&self, line: &str, status: &str, duration: Duration) {
        let Some(path) = self.transcript_path() else { return };
        let entry = format!(
            "{}\t{}\t{:.3}s\t{}\n",
            crate::time::rfc3339_now(),
            status,
            duration.as_secs_f64(),
            line
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

fn wait_interruptibly(handle: &duct::Handle, line: &str) -> Result<std::process::Output> {
    loop {
        match handle.wait_timeout(Duration::from_millis(25)) {
            Ok(Some(o)) => return Ok(o.clone()),
            Ok(None) => {}
            Err(e) => return Err(CouldNotExecute { line: line.to_owned(), source: e }.into()),
        }
        if interrupted() {
            let _ = handle.kill();
            let _ = handle.wait();
            return Err(Interrupted.into());
        }
    }
}

/// Copy a child's stdout into `sink` until EOF (for [`Runner::run_stdout_into`]).
fn copy_out(
    reader: &mut impl Read,
    sink: &mut dyn FnMut(&[u8]) -> std::io::Result<()>,
) -> std::io::Result<()> {
    let mut buf = vec![0u8; 256 * 1024];
    loop {
        let n = match reader.read(&mut buf) {
            Ok(0) => return Ok(()),
            Ok(n) => n,
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => continue,
            Err(e) => return Err(e),
        };
        sink(&buf[..n])?;
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

/// The last `n` non-empty lines of `s`.
pub fn tail(s: &str, n: usize) -> String {
    let lines: Vec<&str> = s.lines().filter(|l| !l.trim().is_empty()).collect();
    let start = lines.len().saturating_sub(n);
    lines[start..].join("\n")
}

/// Send `sig` to a process (positive pid) or a process group (negative pid). Returns false if it
/// does not exist.
pub fn signal(pid: i32, sig: i32) -> bool {
    // SAFETY: kill(2) has no memory-safety preconditions.
    unsafe { libc::kill(pid, sig) == 0 }
}

/// Whether a process exists (and is not a zombie we could still see).
pub fn pid_alive(pid: i32) -> bool {
    if pid <= 0 {
        return false;
    }
    if !signal(pid, 0) {
        return false;
    }
    // A zombie still answers kill(0); on Linux look at /proc to tell.
    match std::fs::read_to_string(format!("/proc/{pid}/stat")) {
        Ok(stat) => {
            !stat.rsplit_once(')').is_some_and(|(_, rest)| rest.trim_start().starts_with('Z'))
        }
        Err(_) => true,
    }
}

/// The command line of a process (Linux), for recognising our own Tilt.
pub fn pid_cmdline(pid: i32) -> Option<Vec<String>> {
    let raw = std::fs::read(format!("/proc/{pid}/cmdline")).ok()?;
    Some(
        raw.split(|b| *b == 0)
            .filter(|s| !s.is_empty())
            .map(|s| String::from_utf8_lossy(s).into_owned())
            .collect(),
    )
}

#[cfg(test)]
mod tests;
