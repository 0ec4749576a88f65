//! [`Cmd`]: a command to run, with everything needed to render it as one copy-pasteable POSIX
//! shell line; [`Output`]: what became of it.

use std::fmt;
use std::time::Duration;

use camino::{Utf8Path, Utf8PathBuf};

/// Whether a command only looks (runs even in `--dry-run`), changes something, or waits for
/// a change (a bounded wait such as `rollout status --timeout`: in a dry run it is printed, as
/// the change it waits for has not happened).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Effect {
    Query,
    Mutate,
    Wait,
}

/// Where a command's stdin comes from. Stdin is always a file or nothing, so the logged line can
/// be re-run as is.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Stdin {
    Null,
    Inherit,
    File(Utf8PathBuf),
}

/// A command to run. Built with the builder methods; read through the accessors.
#[derive(Debug, Clone)]
pub struct Cmd {
    /// What the user sees and would type (`kind`, or the override path from `KILTER_KIND`).
    display: String,
    /// The resolved executable; `None` when the tool is not installed (only in `--dry-run`,
    /// where the command is printed with its plain name and queries are noted, not run).
    path: Option<Utf8PathBuf>,
    args: Vec<String>,
    env: Vec<(String, String)>,
    cwd: Option<Utf8PathBuf>,
    stdin: Stdin,
    /// Indices into `args` whose values are secrets (rendered as `'***'`).
    secret_args: Vec<usize>,
    /// Env names whose values are secrets.
    secret_env: Vec<String>,
    effect: Effect,
    /// What kilter is doing, e.g. "create kind cluster kilter-shop".
    summary: String,
}

impl Cmd {
    pub fn new(display: &str, path: Option<&Utf8Path>, summary: impl Into<String>) -> Cmd {
        Cmd {
            display: display.to_owned(),
            path: path.map(Utf8Path::to_owned),
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
    pub fn wait(mut self) -> Cmd {
        self.effect = Effect::Wait;
        self
    }

    pub fn display_name(&self) -> &str {
        &self.display
    }
    pub fn path(&self) -> Option<&Utf8Path> {
        self.path.as_deref()
    }
    pub fn effect(&self) -> Effect {
        self.effect
    }
    pub fn summary(&self) -> &str {
        &self.summary
    }
    pub fn working_dir(&self) -> Option<&Utf8Path> {
        self.cwd.as_deref()
    }

    /// The argv as the user would type it after the program name.
    pub fn argv(&self) -> Vec<&str> {
        self.args.iter().map(String::as_str).collect()
    }

    /// Render with an optional redirection of stdout (and stderr) appended.
    pub fn render_with(&self, redirect: Option<&Redirect>) -> String {
        let mut out = String::new();
        let detached = matches!(redirect, Some(Redirect::AppendBothDetached(_)));
        if let Some(cwd) = &self.cwd {
            out.push_str("cd ");
            out.push_str(&quote(cwd.as_str()));
            out.push_str(" && ");
        }
        if detached {
            // Only the command goes to the background (`cd D && cmd &` would put the whole list
            // in a subshell, and `$!` would name that subshell instead of the command).
            out.push_str("{ ");
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
        if detached && cfg!(target_os = "linux") {
            // A session, and so a process group, of its own (what kilter does), so that
            // stopping the group later reaches all of it. A background job of a script does not
            // lead a group, so `setsid` does not fork: `$!` is the command's own pid.
            out.push_str("setsid ");
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
                out.push_str(" 2>&1 & }");
            }
        }
        out
    }

    /// The duct expression (unchecked: kilter reads the status itself). `None` when the
    /// program is not installed.
    pub(super) fn expression(&self) -> Option<duct::Expression> {
        let path = self.path.as_ref()?;
        #[allow(clippy::disallowed_methods)]
        let mut e = duct::cmd(path.as_std_path(), &self.args).unchecked();
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
        Some(e)
    }
}

/// A redirection shown in the rendered line (and applied by the runner).
#[derive(Debug, Clone)]
pub enum Redirect {
    /// `> path`: stdout streamed to a file.
    StdoutTo(Utf8PathBuf),
    /// `{ setsid … >> path 2>&1 & }`: a detached background process in a session of its own,
    /// logging to a file.
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
    /// Exit code; `None` when killed by a signal, timed out, or not run.
    pub code: Option<i32>,
    pub stdout: String,
    pub stderr: String,
    pub duration: Duration,
    /// Killed because it outlived the time it was given.
    pub timed_out: bool,
    /// Not run at all (a dry run: the tool is not installed); the reason.
    pub not_run: Option<String>,
}

impl Output {
    /// What a finished process left: its exit code and its captured output (lossy UTF-8).
    pub(super) fn of(o: &std::process::Output, duration: Duration) -> Output {
        Output {
            code: o.status.code(),
            stdout: String::from_utf8_lossy(&o.stdout).into_owned(),
            stderr: String::from_utf8_lossy(&o.stderr).into_owned(),
            duration,
            ..Output::default()
        }
    }
    pub fn success(&self) -> bool {
        self.code == Some(0)
    }
    /// A synthetic successful output (a dry run's mutations).
    pub(super) fn planned() -> Output {
        Output { code: Some(0), ..Output::default() }
    }
    /// The last non-empty line of stderr, or what became of the command when it has none.
    pub fn reason(&self) -> String {
        if let Some(why) = &self.not_run {
            return why.clone();
        }
        if self.timed_out {
            return format!(
                "gave up after {} (killed; it had not answered)",
                crate::ui::fmt_duration(self.duration)
            );
        }
        let last = self.stderr.lines().rev().find(|l| !l.trim().is_empty()).unwrap_or("").trim();
        match (last.is_empty(), self.code) {
            (false, _) => last.to_owned(),
            (true, Some(c)) => format!("exit status {c}, no output on stderr"),
            (true, None) => "killed by a signal".to_owned(),
        }
    }
}

/// The last `n` lines of `s` that matter: leading and trailing blank lines are dropped, blank
/// lines inside are kept (kind separates `Command Output:` with one). Returns the tail and
/// whether anything was cut.
pub fn tail_lines(s: &str, n: usize) -> (String, bool) {
    let lines: Vec<&str> = s.lines().collect();
    let Some(last) = lines.iter().rposition(|l| !l.trim().is_empty()) else {
        return (String::new(), false);
    };
    let first = lines.iter().position(|l| !l.trim().is_empty()).unwrap_or(0);
    let lines = &lines[first..=last];
    let start = lines.len().saturating_sub(n);
    (lines[start..].join("\n"), start > 0)
}

/// The last `n` lines (see [`tail_lines`]).
pub fn tail(s: &str, n: usize) -> String {
    tail_lines(s, n).0
}
