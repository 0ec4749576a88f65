//! Waiting for a condition by polling a probe command, with overlapping probes.
//!
//! A probe can block for a long time when the answer is "not yet" (kubectl retries for 5 s on
//! `/readyz` while the API port accepts and resets connections), yet an answer must be seen
//! quickly once it is "yes". So a new probe starts every `every` while older ones still run, at
//! most `max_in_flight` at once; when all slots are busy the oldest probe past `max_age` is
//! killed to make room. The transcript gets the first and the last probe and a count, not one
//! line per poll.

use std::time::{Duration, Instant};

use anyhow::Result;

use super::{Cmd, Mode, Output, Runner, check_interrupt, interrupted};
use crate::error::{CouldNotExecute, Exit, Interrupted};

/// What to poll and how.
#[derive(Debug, Clone)]
pub struct Poll<'a> {
    /// What is waited for, for messages ("the API server to answer /readyz").
    pub what: &'a str,
    pub probe: &'a Cmd,
    /// A new probe starts this often.
    pub every: Duration,
    pub max_in_flight: usize,
    /// A probe this old may be killed to make room for a new one.
    pub max_age: Duration,
    /// Give up after this long (the runner's deadline may end it sooner).
    pub timeout: Duration,
    /// The condition a dry-run script loops on, when "the probe exits 0" is not the same test
    /// as `done` (default: the probe's line).
    pub script_condition: Option<String>,
}

/// How a poll ended.
#[derive(Debug)]
pub enum PollEnd {
    /// The output of the probe that said "done".
    Done(Output),
    /// A dry run printed the wait as a bounded loop.
    Planned,
}

struct Running {
    handle: duct::Handle,
    started: Instant,
}

impl Runner<'_> {
    /// Poll until `done` accepts a probe's output. `seen` gets every other answer (for progress
    /// lines). Past the timeout (or the runner's deadline): exit 5, with the last answer seen.
    pub fn poll(
        &self,
        p: &Poll<'_>,
        done: impl Fn(&Output) -> bool,
        mut seen: impl FnMut(&Output),
    ) -> Result<PollEnd> {
        let line = p.probe.to_string();
        match &self.mode {
            Mode::DryRun => {
                let cond = p.script_condition.clone().unwrap_or(format!("{line} >/dev/null 2>&1"));
                self.plan_wait(p.what, &cond, p.timeout);
                return Ok(PollEnd::Planned);
            }
            Mode::Record(_) => {
                let out = self.run_unchecked(p.probe)?;
                return if done(&out) {
                    Ok(PollEnd::Done(out))
                } else {
                    Err(self.poll_timeout(p, Some(&out), 1, 0))
                };
            }
            Mode::Real => {}
        }
        let Some(expr) = p.probe.expression() else {
            return Err(anyhow::anyhow!("internal: {} is not installed", p.probe.display_name()));
        };
        self.ui.echo(
            crate::ui::Echo::Probe,
            &format!("{line}  (polled every {}ms)", p.every.as_millis()),
        );
        let started = Instant::now();
        let mut end = started + p.timeout;
        let deadline = self.current_deadline();
        if let Some(d) = &deadline {
            end = end.min(d.at);
        }
        let mut running: Vec<Running> = Vec::new();
        let mut next_start = started;
        let mut max_age = p.max_age;
        let (mut count, mut killed, mut killed_in_row) = (0u32, 0u32, 0u32);
        let mut logged_first = false;
        let mut last: Option<Output> = None;
        let kill_all = |running: &mut Vec<Running>| {
            for r in running.drain(..) {
                let _ = r.handle.kill();
            }
        };
        loop {
            if interrupted() {
                kill_all(&mut running);
                return Err(Interrupted.into());
            }
            // Collect finished probes, oldest first.
            let mut i = 0;
            while i < running.len() {
                let finished = running[i]
                    .handle
                    .try_wait()
                    .map_err(|e| CouldNotExecute { line: line.clone(), source: e })?
                    .cloned();
                let Some(o) = finished else {
                    i += 1;
                    continue;
                };
                let r = running.remove(i);
                count += 1;
                killed_in_row = 0;
                let out = Output::of(&o, r.started.elapsed());
                let status = super::status_word(out.code);
                if !logged_first {
                    self.log(&line, &status, out.duration);
                    logged_first = true;
                }
                if done(&out) {
                    kill_all(&mut running);
                    if count == 1 {
                        // One probe was enough: its line is the whole story.
                        return Ok(PollEnd::Done(out));
                    }
                    self.log(
                        &format!("{line}  # probe {count} of {count} (every {}ms, {killed} killed unanswered)", p.every.as_millis()),
                        &status,
                        out.duration,
                    );
                    return Ok(PollEnd::Done(out));
                }
                seen(&out);
                last = Some(out);
            }
            let now = Instant::now();
            if now >= end {
                kill_all(&mut running);
                self.log(
                    &format!(
                        "{line}  # {count} probes answered, {killed} killed unanswered; gave up"
                    ),
                    "timeout",
                    started.elapsed(),
                );
                if let Some(d) = &deadline
                    && now >= d.at
                {
                    let doing = format!(
                        "waiting for {}; last answer: {}",
                        p.what,
                        last_answer(last.as_ref(), max_age)
                    );
                    return Err(self.deadline_error(d, &doing));
                }
                return Err(self.poll_timeout(p, last.as_ref(), count, killed));
            }
            if now >= next_start {
                if running.len() >= p.max_in_flight {
                    let oldest_age = running.first().map(|r| r.started.elapsed());
                    if oldest_age.is_some_and(|a| a >= max_age) {
                        let r = running.remove(0);
                        let _ = r.handle.kill();
                        killed += 1;
                        killed_in_row += 1;
                        // Probes that never finish in time on a slow machine: allow them more.
                        if killed_in_row >= 2 * p.max_in_flight as u32
                            && max_age < Duration::from_secs(8)
                        {
                            max_age *= 2;
                            killed_in_row = 0;
                        }
                    }
                }
                if running.len() < p.max_in_flight {
                    check_interrupt()?;
                    let handle = expr
                        .clone()
                        .stdout_capture()
                        .stderr_capture()
                        .start()
                        .map_err(|e| CouldNotExecute { line: line.clone(), source: e })?;
                    running.push(Running { handle, started: Instant::now() });
                }
                next_start += p.every;
                if next_start < now {
                    next_start = now + p.every;
                }
            }
            std::thread::sleep(Duration::from_millis(5));
        }
    }

    fn poll_timeout(
        &self,
        p: &Poll<'_>,
        last: Option<&Output>,
        count: u32,
        killed: u32,
    ) -> anyhow::Error {
        Exit::new(
            crate::error::Code::Timeout,
            format!(
                "timed out after {} waiting for {}\n  last answer: {}\n  ({count} probes answered, {killed} killed unanswered)",
                crate::ui::fmt_duration(p.timeout),
                p.what,
                last_answer(last, p.max_age)
            ),
        )
        .hint("raise --timeout, or look at the node with `docker logs` and `kilter status`")
        .into()
    }
}

fn last_answer(last: Option<&Output>, max_age: Duration) -> String {
    match last {
        Some(o) if o.success() => o.stdout.trim().to_owned(),
        Some(o) => o.reason(),
        None => format!(
            "none: every probe was still waiting after {} (the port accepts connections but nothing answers)",
            crate::ui::fmt_duration(max_age)
        ),
    }
}
