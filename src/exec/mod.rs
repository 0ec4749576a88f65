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
mod pipe;
mod poll;
mod process;
mod spawn;
mod stream;

use std::fs::OpenOptions;
use std::io::Write;
use std::sync::Mutex;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use anyhow::Result;
use camino::{Utf8Path, Utf8PathBuf};

pub use crate::interrupt::{check_interrupt, install_signal_handlers, interrupted, sleep};
pub use cmd::{Cmd, Effect, Output, Redirect, Stdin, quote, tail, tail_lines};
pub use effects::{Content, StagedWrite, Stopped};
pub use pipe::Chunk;
pub use poll::{Poll, PollEnd};
pub use process::{
    Proc, START_TIME_OF_LAST_JOB, cmdline, descendant_groups, group_alive, leads_group,
    marked_groups, members, pid_alive, same_process, signal, start_time, table,
};
pub use spawn::{ChildState, Detached, Spawned};

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

/// How a run goes on after [`Runner::prepare`].
enum Begin {
    /// Not run: a dry run printed it, or Record mode answered it.
    Answered(Output),
    /// Not run: the program is not installed (a dry run noted it in the script).
    NotInstalled(Output),
    /// Run it: the expression to start, the deadline in force, and when it started.
    Run { expr: duct::Expression, deadline: Option<Deadline>, start: Instant },
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
            not_run: out.not_run.clone(),
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

    /// The start every run variant shares, in this order: a dry run prints a change (and Record
    /// mode answers) instead of running it; Ctrl-C stops here; a passed deadline fails (exit 5)
    /// when `bounded`; a program that is not installed (dry run only) is noted in the script;
    /// the line is echoed by verbosity.
    fn prepare(&self, cmd: &Cmd, line: &str, bounded: bool) -> Result<Begin> {
        if let Some(out) = self.intercept(cmd, line)? {
            return Ok(Begin::Answered(out));
        }
        check_interrupt()?;
        let deadline = self.current_deadline();
        if bounded
            && let Some(d) = &deadline
            && Instant::now() >= d.at
        {
            return Err(self.deadline_error(d, &format!("about to {}", cmd.summary())));
        }
        let Some(expr) = cmd.expression() else {
            return Ok(Begin::NotInstalled(self.not_installed(cmd, line)));
        };
        self.echo(cmd.effect(), line);
        Ok(Begin::Run { expr, deadline, start: Instant::now() })
    }

    /// The end every captured run shares once the command exited: the transcript entry
    /// (`exit=N`), what it printed shown by verbosity, and its output.
    fn finish(&self, cmd: &Cmd, line: &str, out: Output) -> Output {
        self.log(line, &status_word(out.code), out.duration);
        self.ui.child_output(cmd.effect() == Effect::Mutate, &out.stdout, &out.stderr);
        out
    }

    /// Spawn with stderr captured and stdout as `stdout` decides, wait (interruptibly, up to
    /// the limit and the deadline).
    fn run_captured(
        &self,
        cmd: &Cmd,
        opts: RunOpts<'_>,
        stdout: impl FnOnce(duct::Expression) -> duct::Expression,
    ) -> Result<Output> {
        let line = cmd.render_with(opts.redirect);
        let (expr, deadline, start) = match self.prepare(cmd, &line, true)? {
            Begin::Answered(out) | Begin::NotInstalled(out) => return Ok(out),
            Begin::Run { expr, deadline, start } => (expr, deadline, start),
        };
        let handle = stdout(expr)
            .stderr_capture()
            .start()
            .map_err(|e| CouldNotExecute { line: line.clone(), source: e })?;
        let stop_at = [opts.limit, deadline.as_ref().map(|d| d.at)].into_iter().flatten().min();
        let waited = wait_until(&handle, &line, stop_at);
        let duration = start.elapsed();
        match waited {
            Ok(Waited::Exited(o)) => Ok(self.finish(cmd, &line, Output::of(&o, duration))),
            Ok(Waited::Killed(o)) => {
                self.log(&line, "timeout", duration);
                let hit_deadline = deadline.as_ref().is_some_and(|d| Instant::now() >= d.at)
                    && opts.limit.is_none_or(|l| deadline.as_ref().is_some_and(|d| d.at <= l));
                if hit_deadline && let Some(d) = &deadline {
                    return Err(
                        self.deadline_error(d, &format!("waiting for `{line}` (it was killed)"))
                    );
                }
                Ok(Output { code: None, timed_out: true, ..Output::of(&o, duration) })
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
            // The script's last word on it: its own write or removal, the removal of a
            // directory that holds it (`rm -rf` takes what is inside), or a write inside it
            // (a directory that holds a file the script writes is there: its `rm -rf` must be
            // printed).
            let last = planned.iter().rev().find(|(p, present)| {
                p == path || (!*present && path.starts_with(p)) || (*present && p.starts_with(path))
            });
            if let Some((_, present)) = last {
                return *present;
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

fn status_word(code: Option<i32>) -> String {
    match code {
        Some(c) => format!("exit={c}"),
        None => "killed".to_owned(),
    }
}

#[cfg(test)]
mod tests;
