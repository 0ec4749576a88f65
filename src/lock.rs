//! Advisory file locks (flock via `std::fs::File::lock`): one per project, one for the port
//! registry. The holder writes its pid and command into the lock file so a waiter can say who
//! it is waiting for. Locks are released when the process exits, however it exits.

use std::fs::{File, OpenOptions, TryLockError};
use std::io::{Read, Seek, Write};
use std::time::{Duration, Instant};

use anyhow::{Context, Result};
use camino::{Utf8Path, Utf8PathBuf};

use crate::error::{Code, Exit};
use crate::ui::Ui;

/// A held lock; released on drop.
#[derive(Debug)]
#[must_use = "the lock is released when dropped"]
pub struct Lock {
    _file: File,
    pub path: Utf8PathBuf,
}

/// How long to wait for a busy lock: `KILTER_LOCK_TIMEOUT` seconds (a whole or decimal number
/// ≥ 0), default 300. Anything else (`-1`, `inf`, `NaN`, `5m`) is invalid input (exit 4).
pub fn default_timeout() -> Result<Duration> {
    timeout_from(std::env::var("KILTER_LOCK_TIMEOUT").ok())
}

/// [`default_timeout`] from the variable's value (unset and blank mean the default).
fn timeout_from(value: Option<String>) -> Result<Duration> {
    match value {
        Some(v) if !v.trim().is_empty() => parse_seconds(v.trim()).ok_or_else(|| {
            crate::error::invalid(format!("KILTER_LOCK_TIMEOUT={v} is not a number of seconds"))
                .hint(
                    "use a number of seconds such as 30 or 2.5, or unset it for the default (300)",
                )
                .into()
        }),
        _ => Ok(Duration::from_secs(300)),
    }
}

/// A finite, non-negative number of seconds that fits a `Duration` (at most a year).
fn parse_seconds(s: &str) -> Option<Duration> {
    let secs: f64 = s.parse().ok()?;
    (secs.is_finite() && (0.0..=31_536_000.0).contains(&secs))
        .then(|| Duration::from_secs_f64(secs))
}

/// Take the lock at `path`, waiting up to `timeout` and saying who holds it. `alive` tells
/// whether the pid a lock file records still runs (the runner's liveness check: a zombie is
/// gone once its last thread has ended).
pub fn acquire(
    path: &Utf8Path,
    what: &str,
    command: &str,
    ui: &Ui,
    timeout: Duration,
    alive: fn(i32) -> bool,
) -> Result<Lock> {
    if let Some(dir) = path.parent() {
        crate::fsutil::ensure_private_dir(dir)?;
    }
    let mut file = OpenOptions::new()
        .read(true)
        .write(true)
        .create(true)
        .truncate(false)
        .open(path)
        .with_context(|| format!("could not open lock file {path}"))?;
    let start = Instant::now();
    let mut announced = false;
    loop {
        match file.try_lock() {
            Ok(()) => break,
            Err(TryLockError::WouldBlock) => {
                let holder = holder(&mut file, alive);
                if !announced {
                    ui.info(&format!("waiting for {holder} to finish with {what} …"));
                    announced = true;
                }
                if start.elapsed() >= timeout {
                    return Err(Exit::new(
                        Code::Failed,
                        format!(
                            "gave up after {} waiting for {holder}, which holds the lock on {what}",
                            crate::ui::fmt_duration(timeout)
                        ),
                    )
                    .hint(format!("if that process is stuck, stop it; the lock file is {path}"))
                    .into());
                }
                crate::interrupt::sleep(Duration::from_millis(50))?;
            }
            Err(TryLockError::Error(e)) => {
                return Err(e).with_context(|| format!("could not lock {path}"));
            }
        }
    }
    let info = format!("pid={} command={}\n", std::process::id(), command);
    let _ = file.set_len(0);
    let _ = file.rewind();
    let _ = file.write_all(info.as_bytes());
    let _ = file.flush();
    Ok(Lock { _file: file, path: path.to_owned() })
}

/// "kilter up (pid 1234)" from the holder's record.
fn holder(file: &mut File, alive: fn(i32) -> bool) -> String {
    let mut text = String::new();
    let _ = file.rewind();
    let _ = file.read_to_string(&mut text);
    let mut pid = None;
    let mut command = None;
    for part in text.trim().split(' ') {
        if let Some(p) = part.strip_prefix("pid=") {
            pid = Some(p.to_owned());
        }
    }
    if let Some(idx) = text.find("command=") {
        command = Some(text[idx + 8..].trim().to_owned());
    }
    // The record is the last kilter's that took the lock: it holds it only while that pid runs.
    // Otherwise a process it left behind (one that inherited the lock) or another program holds
    // it, and the record must not be taken for the holder.
    let alive = pid.as_deref().and_then(|p| p.parse::<i32>().ok()).is_some_and(alive);
    match (command, pid) {
        (Some(c), Some(p)) if alive => format!("`{c}` (pid {p})"),
        (None, Some(p)) if alive => format!("another kilter (pid {p})"),
        (Some(c), Some(p)) => format!(
            "another process (the lock file's record, `{c}` pid {p}, is stale: that pid has exited)"
        ),
        (None, Some(p)) => format!(
            "another process (the lock file's record, pid {p}, is stale: that pid has exited)"
        ),
        _ => "another kilter command".to_owned(),
    }
}

#[cfg(test)]
mod tests {
    use super::{holder, parse_seconds, timeout_from};
    use std::io::Write;
    use std::time::Duration;

    #[test]
    fn unset_or_blank_lock_timeout_is_the_default_and_garbage_is_refused() {
        assert_eq!(timeout_from(None).expect("default"), Duration::from_secs(300));
        assert_eq!(timeout_from(Some("  ".into())).expect("blank"), Duration::from_secs(300));
        assert_eq!(timeout_from(Some(" 7 ".into())).expect("7"), Duration::from_secs(7));
        let err = timeout_from(Some("5m".into())).expect_err("5m");
        assert_eq!(crate::error::code_of(&err), crate::error::Code::Invalid, "{err:#}");
    }

    #[test]
    fn the_holder_is_named_from_what_its_record_holds() {
        let name = |record: &str| {
            let mut f = tempfile::tempfile().expect("temp file");
            f.write_all(record.as_bytes()).expect("write");
            // The kernel answers for pids: this test's own runs, one above any pid_max does not.
            holder(&mut f, |pid| pid == std::process::id() as i32)
        };
        let me = std::process::id();
        assert_eq!(
            name(&format!("pid={me} command=kilter up --no-tilt\n")),
            format!("`kilter up --no-tilt` (pid {me})")
        );
        assert_eq!(name(&format!("pid={me}\n")), format!("another kilter (pid {me})"));
        assert_eq!(name(""), "another kilter command");
        // A pid above any pid_max (2^22 on Linux) never runs: the record is stale.
        let dead = 2_147_483_000;
        assert_eq!(
            name(&format!("pid={dead} command=kilter up\n")),
            format!(
                "another process (the lock file's record, `kilter up` pid {dead}, is stale: that pid has exited)"
            )
        );
        assert_eq!(
            name(&format!("pid={dead}\n")),
            format!(
                "another process (the lock file's record, pid {dead}, is stale: that pid has exited)"
            )
        );
    }

    #[test]
    fn lock_timeouts_parse_or_are_refused() {
        assert_eq!(parse_seconds("30"), Some(Duration::from_secs(30)));
        assert_eq!(parse_seconds("2.5"), Some(Duration::from_millis(2500)));
        assert_eq!(parse_seconds("0"), Some(Duration::ZERO));
        for bad in ["-1", "inf", "NaN", "-inf", "5m", "", "1e300"] {
            assert_eq!(parse_seconds(bad), None, "{bad}");
        }
    }
}
