//! Exit codes and the errors that choose them. Everything else is `anyhow` with context.
//!
//! Rendering is cargo-style: `error: <top>`, the cause chain, the failed command with its stderr
//! tail, then an optional `help:` line.

use std::fmt;

/// kilter's exit codes (docs/exit-codes.md).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Code {
    Ok = 0,
    Failed = 1,
    Usage = 2,
    Environment = 3,
    Invalid = 4,
    Timeout = 5,
    Interrupted = 130,
}

impl Code {
    /// The code a kilter process exited with (`None`: killed by a signal, which is a failure);
    /// an exit status that is none of kilter's codes is a failure too.
    pub fn of_exit(status: Option<i32>) -> Code {
        match status {
            Some(0) => Code::Ok,
            Some(2) => Code::Usage,
            Some(3) => Code::Environment,
            Some(4) => Code::Invalid,
            Some(5) => Code::Timeout,
            Some(130) => Code::Interrupted,
            _ => Code::Failed,
        }
    }
}

/// An error that decides the exit code itself, with an optional hint.
#[derive(Debug)]
pub struct Exit {
    pub code: Code,
    pub message: String,
    pub hint: Option<String>,
}

impl Exit {
    pub fn new(code: Code, message: impl Into<String>) -> Exit {
        Exit { code, message: message.into(), hint: None }
    }
    pub fn hint(mut self, hint: impl Into<String>) -> Exit {
        self.hint = Some(hint.into());
        self
    }
}

impl fmt::Display for Exit {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.message)
    }
}
impl std::error::Error for Exit {}

/// Shorthand: invalid input or config (exit 4).
pub fn invalid(message: impl Into<String>) -> Exit {
    Exit::new(Code::Invalid, message)
}

/// Shorthand: environment not ready (exit 3).
pub fn environment(message: impl Into<String>) -> Exit {
    Exit::new(Code::Environment, message)
}

/// A command ran and failed.
#[derive(Debug)]
pub struct CommandFailed {
    pub summary: String,
    pub line: String,
    pub code: Option<i32>,
    pub stderr_tail: String,
    /// Whether `stderr_tail` is only the end of a longer stderr.
    pub stderr_cut: bool,
    pub hint: Option<String>,
    /// Not run at all (a dry run's query whose tool is not installed): why.
    pub not_run: Option<String>,
}

impl fmt::Display for CommandFailed {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match (&self.not_run, self.code) {
            (Some(why), _) => write!(f, "failed to {} (not run: {why})", self.summary),
            (None, Some(c)) => write!(f, "failed to {} (exit status {c})", self.summary),
            (None, None) => write!(f, "failed to {} (killed by a signal)", self.summary),
        }
    }
}
impl std::error::Error for CommandFailed {}

/// A program could not be started at all; the message holds the system's reason.
#[derive(Debug)]
pub struct CouldNotExecute {
    pub line: String,
    pub source: std::io::Error,
}

impl fmt::Display for CouldNotExecute {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "could not run `{}`: {}", self.line, self.source)
    }
}
/// The reason is in the message, so it is not also the `source` (it would print twice, once more
/// under "Caused by:").
impl std::error::Error for CouldNotExecute {}

/// Ctrl-C or SIGTERM.
#[derive(Debug)]
pub struct Interrupted;

impl fmt::Display for Interrupted {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("interrupted")
    }
}
impl std::error::Error for Interrupted {}

/// A program that could not be started, or (in a dry run) was not run because it is not
/// installed: the environment is not ready.
fn a_tool_could_not_run(e: &(dyn std::error::Error + 'static)) -> bool {
    e.downcast_ref::<CouldNotExecute>().is_some()
        || e.downcast_ref::<CommandFailed>().is_some_and(|c| c.not_run.is_some())
}

/// The exit code for an error: the first typed error in the chain decides.
pub fn code_of(err: &anyhow::Error) -> Code {
    // An `Exit` attached with `.context(…)` is only seen through anyhow's own downcast.
    if let Some(e) = err.downcast_ref::<Exit>() {
        return e.code;
    }
    for cause in err.chain() {
        if let Some(e) = cause.downcast_ref::<Exit>() {
            return e.code;
        }
        if cause.downcast_ref::<Interrupted>().is_some() {
            return Code::Interrupted;
        }
        if a_tool_could_not_run(cause) {
            return Code::Environment;
        }
    }
    Code::Failed
}

/// An error on one line (`{e:#}`) followed by the stderr of the command that failed in it, each
/// line after `indent`: for a list of failures (`gc`, `stop --all`) in which each one's cause
/// must show, as it does for a single error.
pub fn with_stderr(err: &anyhow::Error, indent: &str) -> String {
    let mut text = format!("{err:#}");
    if let Some(cf) = err.chain().find_map(|c| c.downcast_ref::<CommandFailed>()) {
        for line in cf.stderr_tail.lines() {
            text.push('\n');
            text.push_str(indent);
            text.push_str(line);
        }
    }
    text
}

/// Render an error for stderr (without colour codes; the Ui adds them).
pub fn render(err: &anyhow::Error) -> Vec<(Part, String)> {
    let mut out = Vec::new();
    let mut chain = err.chain();
    if let Some(top) = chain.next() {
        out.push((Part::Error, top.to_string()));
    }
    let mut hints: Vec<String> = Vec::new();
    let mut collect = |e: &(dyn std::error::Error + 'static)| {
        if let Some(x) = e.downcast_ref::<Exit>() {
            hints.extend(x.hint.clone());
        }
        if let Some(x) = e.downcast_ref::<CommandFailed>() {
            hints.extend(x.hint.clone());
        }
        if a_tool_could_not_run(e) {
            hints.push("run `kilter doctor` to check the tools kilter needs".into());
        }
    };
    for cause in err.chain() {
        collect(cause);
    }
    let rest: Vec<&(dyn std::error::Error + 'static)> = chain.collect();
    if !rest.is_empty() {
        out.push((Part::Plain, "Caused by:".into()));
        for cause in rest {
            out.push((Part::Plain, format!("  {cause}")));
        }
    }
    for cause in err.chain() {
        if let Some(cf) = cause.downcast_ref::<CommandFailed>() {
            out.push((Part::Command, format!("  $ {}", cf.line)));
            if cf.not_run.is_some() {
                continue;
            }
            if cf.stderr_tail.is_empty() {
                out.push((Part::Plain, "  (no output on stderr)".into()));
            } else {
                out.push((
                    Part::Plain,
                    if cf.stderr_cut { "  stderr (last lines):" } else { "  stderr:" }.into(),
                ));
                for l in cf.stderr_tail.lines() {
                    out.push((Part::Plain, format!("    {l}")));
                }
            }
        }
    }
    for h in hints {
        out.push((Part::Help, h));
    }
    out
}

/// The kind of a rendered error line (for colouring).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Part {
    Error,
    Plain,
    Command,
    Help,
}

#[cfg(test)]
mod code_tests {
    use super::Code;

    #[test]
    fn a_child_kilters_exit_status_is_its_code() {
        for c in [
            Code::Ok,
            Code::Failed,
            Code::Usage,
            Code::Environment,
            Code::Invalid,
            Code::Timeout,
            Code::Interrupted,
        ] {
            assert_eq!(Code::of_exit(Some(c as i32)), c);
        }
        assert_eq!(Code::of_exit(Some(137)), Code::Failed);
        assert_eq!(Code::of_exit(None), Code::Failed, "killed by a signal");
    }
}
