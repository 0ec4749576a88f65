//! All terminal output goes through [`Ui`]: verbosity, colour, progress policy, `$ line` echoes,
//! steps with a spinner (or plain lines), warnings and errors on stderr; requested output on
//! stdout. Ops never print directly.

use std::io::{IsTerminal, Write};
use std::sync::Mutex;
use std::time::{Duration, Instant};

use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};

use crate::error::Part;

/// `--color`
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum ColorChoice {
    Auto,
    Always,
    Never,
}

/// `-q`, default, `-v`, `-vv`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Verbosity {
    Quiet,
    Normal,
    Verbose,
    Debug,
}

impl Verbosity {
    pub fn from_flags(quiet: bool, verbose: u8) -> Verbosity {
        match (quiet, verbose) {
            (true, _) => Verbosity::Quiet,
            (false, 0) => Verbosity::Normal,
            (false, 1) => Verbosity::Verbose,
            (false, _) => Verbosity::Debug,
        }
    }
}

/// What kind of effect a `$ line` echo is for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Echo {
    /// A command that changes something: shown by default.
    Change,
    /// A read-only probe: shown with `-v`.
    Probe,
    /// kilter's own file bookkeeping (writes, renames, removals): shown with `-v`.
    Internal,
}

/// Output policy, built once from flags and environment.
#[derive(Debug)]
pub struct Ui {
    pub verbosity: Verbosity,
    /// A dry run: progress lines say what would happen.
    planning: bool,
    color: bool,
    progress: bool,
    spinner: Mutex<Option<ProgressBar>>,
    stdout_broken: Mutex<bool>,
}

/// Inputs to the policy (so tests can construct it without touching the real environment).
#[derive(Debug, Clone)]
pub struct UiEnv {
    pub stderr_tty: bool,
    pub no_color: bool,
    pub term_dumb: bool,
    pub ci: bool,
    /// `KILTER_PROGRESS=always|never`
    pub progress_override: Option<bool>,
}

impl UiEnv {
    pub fn from_process() -> UiEnv {
        let var = |k: &str| std::env::var_os(k).filter(|v| !v.is_empty());
        UiEnv {
            stderr_tty: std::io::stderr().is_terminal(),
            no_color: var("NO_COLOR").is_some(),
            term_dumb: std::env::var("TERM").is_ok_and(|t| t == "dumb"),
            ci: var("CI").is_some_and(|v| v != "false" && v != "0"),
            progress_override: match std::env::var("KILTER_PROGRESS").as_deref() {
                Ok("always") => Some(true),
                Ok("never") => Some(false),
                _ => None,
            },
        }
    }
}

impl Ui {
    pub fn new(verbosity: Verbosity, color: ColorChoice, env: &UiEnv) -> Ui {
        let color = match color {
            ColorChoice::Always => true,
            ColorChoice::Never => false,
            ColorChoice::Auto => env.stderr_tty && !env.no_color && !env.term_dumb,
        };
        let progress = env.progress_override.unwrap_or(
            env.stderr_tty && !env.ci && !env.term_dumb && verbosity == Verbosity::Normal,
        ) && verbosity > Verbosity::Quiet;
        Ui {
            verbosity,
            planning: false,
            color,
            progress,
            spinner: Mutex::new(None),
            stdout_broken: Mutex::new(false),
        }
    }

    #[cfg(test)]
    pub fn for_tests() -> Ui {
        Ui::silent()
    }

    /// A Ui that prints nothing but requested output (e.g. to resolve other projects' files
    /// without their notes and warnings).
    pub fn silent() -> Ui {
        let env = UiEnv {
            stderr_tty: false,
            no_color: true,
            term_dumb: false,
            ci: true,
            progress_override: None,
        };
        Ui::new(Verbosity::Quiet, ColorChoice::Never, &env)
    }

    /// Word progress lines for a dry run ("would …").
    pub fn planning(mut self, planning: bool) -> Ui {
        self.planning = planning;
        self
    }

    fn shows(&self, at_least: Verbosity) -> bool {
        self.verbosity >= at_least
    }

    pub fn progress_enabled(&self) -> bool {
        self.progress
    }

    fn paint(&self, code: &str, text: &str) -> String {
        if self.color { format!("\x1b[{code}m{text}\x1b[0m") } else { text.to_owned() }
    }

    /// Print a line to stderr without tearing an active spinner.
    fn eprint(&self, line: &str) {
        let guard = self.spinner.lock().ok();
        match guard.as_ref().and_then(|g| g.as_ref()) {
            Some(pb) => pb.suspend(|| eprintln!("{line}")),
            None => eprintln!("{line}"),
        }
    }

    /// Echo an effect about to happen: changes by default, probes and bookkeeping with `-v`.
    pub fn echo(&self, level: Echo, line: &str) {
        let show = match level {
            Echo::Change => self.shows(Verbosity::Normal),
            Echo::Probe | Echo::Internal => self.shows(Verbosity::Verbose),
        };
        if show {
            let first = line.lines().next().unwrap_or("");
            let more = if line.contains('\n') { " …" } else { "" };
            self.eprint(&self.paint("2", &format!("$ {first}{more}")));
        }
    }

    /// With `-v`, a changing command's captured output is shown after it ran (`-vv`: every
    /// command's).
    pub fn child_output(&self, mutated: bool, stdout: &str, stderr: &str) {
        let show = self.shows(Verbosity::Debug) || (self.shows(Verbosity::Verbose) && mutated);
        if !show {
            return;
        }
        for l in stdout.lines().chain(stderr.lines()).take(200) {
            self.eprint(&self.paint("2", &format!("  │ {l}")));
        }
    }

    /// A line of a child's output passed through as it comes (`tilt ci` under `kilter ci`).
    pub fn passthrough(&self, line: &str) {
        if self.shows(Verbosity::Normal) {
            self.eprint(line);
        }
    }

    /// A GitHub Actions workflow command (`::group::…`, `::error …`), unpainted on stderr (the
    /// runner reads both streams). `essential` ones (errors) are shown even with `-q`.
    pub fn workflow_command(&self, line: &str, essential: bool) {
        if essential || self.shows(Verbosity::Normal) {
            self.eprint(line);
        }
    }

    /// A normal progress/status message.
    pub fn info(&self, msg: &str) {
        if self.shows(Verbosity::Normal) {
            self.eprint(msg);
        }
    }

    /// A plain progress line about something done (`Stopped Tilt (pid 42)`); a dry run says
    /// `would: <would>` instead.
    pub fn did(&self, msg: &str, would: &str) {
        if self.planning {
            self.success(msg, would);
        } else {
            self.info(msg);
        }
    }

    /// Extra detail for `-v`.
    pub fn detail(&self, msg: &str) {
        if self.shows(Verbosity::Verbose) {
            self.eprint(&self.paint("2", msg));
        }
    }

    pub fn note(&self, msg: &str) {
        if self.shows(Verbosity::Normal) {
            self.eprint(&format!("{} {msg}", self.paint("36", "note:")));
        }
    }

    pub fn warn(&self, msg: &str) {
        if self.shows(Verbosity::Normal) {
            self.eprint(&format!("{} {msg}", self.paint("33;1", "warning:")));
        }
    }

    /// A finished outcome, `✓ msg`; a dry run says `would: <would>` instead.
    pub fn success(&self, msg: &str, would: &str) {
        if self.shows(Verbosity::Normal) {
            if self.planning {
                self.eprint(&format!("{} {would}", self.paint("36", "would:")));
            } else {
                self.eprint(&format!("{} {msg}", self.paint("32", "✓")));
            }
        }
    }

    /// Render a final error (always shown, even with `-q`).
    pub fn error(&self, err: &anyhow::Error) {
        self.finish_spinner();
        for (part, text) in crate::error::render(err) {
            let line = match part {
                Part::Error => format!("{} {text}", self.paint("31;1", "error:")),
                Part::Plain => text,
                Part::Command => self.paint("1", &text),
                Part::Help => format!("{} {text}", self.paint("36;1", "help:")),
            };
            eprintln!("{line}");
        }
    }

    /// Ask a question on stderr and read one line from stdin (callers check it is a terminal).
    pub fn prompt(&self, question: &str) -> std::io::Result<String> {
        self.finish_spinner();
        let mut err = std::io::stderr().lock();
        write!(err, "{question}")?;
        err.flush()?;
        let mut line = String::new();
        std::io::stdin().read_line(&mut line)?;
        Ok(line.trim().to_owned())
    }

    /// Requested output on stdout. A closed pipe (e.g. `| head`) is not an error.
    pub fn stdout(&self, text: &str) {
        let mut broken = self.stdout_broken.lock().unwrap_or_else(|e| e.into_inner());
        if *broken {
            return;
        }
        let mut out = std::io::stdout().lock();
        if out.write_all(text.as_bytes()).and_then(|()| out.flush()).is_err() {
            *broken = true;
        }
    }

    /// Requested output of a verb that also has effects (`kilter render` prints the files it
    /// writes): on stdout, and in a dry run as comment lines of the script, which stays runnable.
    pub fn report(&self, text: &str) {
        if self.planning {
            let commented: String = text
                .lines()
                .map(|l| if l.is_empty() { "#\n".to_owned() } else { format!("# {l}\n") })
                .collect();
            self.stdout(&commented);
        } else {
            self.stdout(text);
        }
    }

    /// Start a step: a spinner with elapsed time on a terminal, a plain `==> msg` line otherwise.
    /// A dry run prints `would: <would>` once and nothing when it ends.
    pub fn step(&self, msg: &str, would: &str) -> Step<'_> {
        if self.planning {
            if self.shows(Verbosity::Normal) {
                self.eprint(&format!("{} {would}", self.paint("36", "would:")));
            }
            return Step { ui: self, msg: msg.to_owned(), start: Instant::now(), done: true };
        }
        if self.progress {
            let pb = ProgressBar::with_draw_target(None, ProgressDrawTarget::stderr());
            pb.set_style(
                ProgressStyle::with_template("{spinner} {msg} ({elapsed})")
                    .unwrap_or_else(|_| ProgressStyle::default_spinner()),
            );
            pb.set_message(msg.to_owned());
            pb.enable_steady_tick(Duration::from_millis(100));
            if let Ok(mut s) = self.spinner.lock() {
                *s = Some(pb);
            }
        } else if self.shows(Verbosity::Normal) {
            self.eprint(&format!("==> {msg}"));
        }
        Step { ui: self, msg: msg.to_owned(), start: Instant::now(), done: false }
    }

    /// Update the current step's message (spinner) — plain mode prints nothing.
    pub fn progress(&self, msg: &str) {
        if let Ok(s) = self.spinner.lock()
            && let Some(pb) = s.as_ref()
        {
            pb.set_message(msg.to_owned());
        }
    }

    fn finish_spinner(&self) {
        if let Ok(mut s) = self.spinner.lock()
            && let Some(pb) = s.take()
        {
            pb.finish_and_clear();
        }
    }
}

/// A running step; prints `✓ msg (1.2s)` on `done`, `✗ msg` if dropped unfinished.
pub struct Step<'u> {
    ui: &'u Ui,
    msg: String,
    start: Instant,
    done: bool,
}

impl Step<'_> {
    pub fn done(mut self) -> Duration {
        let took = self.start.elapsed();
        if self.done {
            // A dry run's step: already said what it would do.
            return took;
        }
        self.done = true;
        self.ui.finish_spinner();
        if self.ui.shows(Verbosity::Normal) {
            self.ui.eprint(&format!(
                "{} {} ({})",
                self.ui.paint("32", "✓"),
                self.msg,
                fmt_duration(took)
            ));
        }
        took
    }
}

impl Drop for Step<'_> {
    fn drop(&mut self) {
        if !self.done {
            self.ui.finish_spinner();
            if self.ui.shows(Verbosity::Normal) {
                self.ui.eprint(&format!("{} {}", self.ui.paint("31", "✗"), self.msg));
            }
        }
    }
}

/// `850ms`, `4.2s`, `1m05s`
pub fn fmt_duration(d: Duration) -> String {
    let ms = d.as_millis();
    if ms < 1000 {
        format!("{ms}ms")
    } else if ms < 60_000 {
        format!("{:.1}s", d.as_secs_f64())
    } else {
        format!("{}m{:02}s", ms / 60_000, (ms / 1000) % 60)
    }
}

/// `0 B`, `512 B`, `3.4 KiB`, `650.0 MiB`, `1.2 GiB` (binary units, as docker prints memory).
pub fn fmt_bytes(n: u64) -> String {
    const UNITS: [&str; 5] = ["KiB", "MiB", "GiB", "TiB", "PiB"];
    if n < 1024 {
        return format!("{n} B");
    }
    let mut v = n as f64 / 1024.0;
    let mut unit = UNITS[0];
    for u in &UNITS[1..] {
        if v < 1024.0 {
            break;
        }
        v /= 1024.0;
        unit = u;
    }
    format!("{v:.1} {unit}")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn env(tty: bool, ci: bool) -> UiEnv {
        UiEnv { stderr_tty: tty, no_color: false, term_dumb: false, ci, progress_override: None }
    }

    #[test]
    fn progress_only_on_an_attended_terminal() {
        assert!(
            Ui::new(Verbosity::Normal, ColorChoice::Auto, &env(true, false)).progress_enabled()
        );
        assert!(
            !Ui::new(Verbosity::Normal, ColorChoice::Auto, &env(true, true)).progress_enabled(),
            "CI"
        );
        assert!(
            !Ui::new(Verbosity::Normal, ColorChoice::Auto, &env(false, false)).progress_enabled(),
            "pipe"
        );
        assert!(
            !Ui::new(Verbosity::Verbose, ColorChoice::Auto, &env(true, false)).progress_enabled(),
            "-v"
        );
        assert!(
            !Ui::new(Verbosity::Quiet, ColorChoice::Auto, &env(true, false)).progress_enabled(),
            "-q"
        );
        let mut dumb = env(true, false);
        dumb.term_dumb = true;
        assert!(
            !Ui::new(Verbosity::Normal, ColorChoice::Auto, &dumb).progress_enabled(),
            "TERM=dumb"
        );
        let mut forced = env(false, true);
        forced.progress_override = Some(true);
        assert!(
            Ui::new(Verbosity::Normal, ColorChoice::Auto, &forced).progress_enabled(),
            "KILTER_PROGRESS=always"
        );
        let mut never = env(true, false);
        never.progress_override = Some(false);
        assert!(
            !Ui::new(Verbosity::Normal, ColorChoice::Auto, &never).progress_enabled(),
            "KILTER_PROGRESS=never"
        );
    }

    /// A step's spinner goes when the step ends: done, dropped unfinished, or before an error or
    /// a question; no spinner is left ticking with a finished step's message.
    #[test]
    fn a_step_leaves_no_spinner_behind() {
        let ui = Ui::new(Verbosity::Normal, ColorChoice::Never, &env(true, false));
        let spinning = |ui: &Ui| ui.spinner.lock().expect("lock").is_some();
        let step = ui.step("Building", "build");
        assert!(spinning(&ui), "a terminal gets a spinner");
        step.done();
        assert!(!spinning(&ui), "done");
        drop(ui.step("Pulling", "pull"));
        assert!(!spinning(&ui), "dropped unfinished");
        let _step = ui.step("Waiting", "wait");
        ui.error(&anyhow::anyhow!("boom"));
        assert!(!spinning(&ui), "an error");
    }

    /// `progress` changes what the running step's spinner says.
    #[test]
    fn progress_updates_the_spinners_message() {
        let ui = Ui::new(Verbosity::Normal, ColorChoice::Never, &env(true, false));
        let step = ui.step("Waiting for the API server", "wait");
        ui.progress("Waiting for the API server (3 probes)");
        let message = ui.spinner.lock().expect("lock").as_ref().map(|pb| pb.message());
        assert_eq!(message.as_deref(), Some("Waiting for the API server (3 probes)"));
        step.done();
    }

    #[test]
    fn durations_read_well() {
        assert_eq!(fmt_duration(Duration::from_millis(850)), "850ms");
        assert_eq!(fmt_duration(Duration::from_millis(4200)), "4.2s");
        assert_eq!(fmt_duration(Duration::from_secs(65)), "1m05s");
        // each unit's first value
        assert_eq!(fmt_duration(Duration::from_millis(999)), "999ms");
        assert_eq!(fmt_duration(Duration::from_millis(1000)), "1.0s");
        assert_eq!(fmt_duration(Duration::from_millis(60_000)), "1m00s");
    }

    #[test]
    fn sizes_read_well() {
        assert_eq!(fmt_bytes(0), "0 B");
        assert_eq!(fmt_bytes(1023), "1023 B");
        assert_eq!(fmt_bytes(1024), "1.0 KiB");
        assert_eq!(fmt_bytes(1536), "1.5 KiB");
        assert_eq!(fmt_bytes(1024 * 1024), "1.0 MiB");
        assert_eq!(fmt_bytes(3482), "3.4 KiB");
        assert_eq!(fmt_bytes(650 * 1024 * 1024), "650.0 MiB");
        assert_eq!(fmt_bytes(1288490189), "1.2 GiB");
        assert_eq!(fmt_bytes(u64::MAX), "16384.0 PiB");
    }
}
