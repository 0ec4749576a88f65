//! Processes kilter did not just spawn: signals, liveness, and the identity
//! of a process (pid + start time) so that a recycled pid is never mistaken for our Tilt.

/// Send `sig` to a process (positive pid) or a process group (negative pid). Returns false if it
/// does not exist.
pub fn signal(pid: i32, sig: i32) -> bool {
    // SAFETY: kill(2) has no memory-safety preconditions.
    unsafe { libc::kill(pid, sig) == 0 }
}

/// `/proc/<pid>/stat` split after the command name (which may hold spaces and parentheses):
/// index 0 is field 3 (state).
fn proc_stat_fields(pid: i32) -> Option<Vec<String>> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    let (_, rest) = stat.rsplit_once(')')?;
    Some(rest.split_whitespace().map(str::to_owned).collect())
}

/// Whether a process exists and is not a zombie (an exited process nobody reaped — PID 1 in
/// many containers never reaps orphans — counts as gone).
pub fn pid_alive(pid: i32) -> bool {
    if pid <= 0 || !signal(pid, 0) {
        return false;
    }
    match proc_stat_fields(pid) {
        Some(f) => f.first().is_some_and(|state| state != "Z" && state != "X"),
        // No /proc (macOS): `ps` would be a spawn; kill(0) is the best we can tell here.
        None => true,
    }
}

/// Whether any live (non-zombie) process is still in process group `pgid`.
pub fn group_alive(pgid: i32) -> bool {
    if pgid <= 0 || !signal(-pgid, 0) {
        return false;
    }
    let Ok(dir) = std::fs::read_dir("/proc") else { return true };
    let mut any_proc = false;
    for e in dir.flatten() {
        let Some(pid) = e.file_name().to_str().and_then(|s| s.parse::<i32>().ok()) else {
            continue;
        };
        let Some(f) = proc_stat_fields(pid) else { continue };
        any_proc = true;
        // Fields after the name: 0 state, 1 ppid, 2 pgrp.
        if f.get(2).and_then(|g| g.parse::<i32>().ok()) == Some(pgid)
            && f.first().is_some_and(|s| s != "Z" && s != "X")
        {
            return true;
        }
    }
    // /proc exists but showed nothing readable: trust kill(0).
    !any_proc
}

/// When a process started, as the kernel tells it: `/proc/<pid>/stat` field 22 (clock ticks
/// since boot) on Linux. `None` when the process is gone or the platform has no `/proc` (then
/// the caller falls back to liveness alone).
pub fn start_time(pid: i32) -> Option<String> {
    // Field 22 is index 19 after the name (fields 3.. start at index 0).
    proc_stat_fields(pid).and_then(|f| f.get(19).cloned())
}

/// The shell expression that prints [`start_time`] of `$!` in a dry-run script.
pub const START_TIME_OF_LAST_JOB: &str = "$(cut -d ')' -f 2- /proc/$!/stat | cut -d ' ' -f 21)";

/// A process we recorded earlier is still that process: alive and started at the recorded
/// time (a recycled pid has another start time). Without a recorded time, liveness decides.
pub fn same_process(pid: i32, recorded_start: Option<&str>) -> bool {
    if !pid_alive(pid) {
        return false;
    }
    match (recorded_start, start_time(pid)) {
        (Some(rec), Some(now)) => rec == now,
        _ => true,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn own_process_is_alive_with_a_stable_start_time() {
        let me = std::process::id() as i32;
        assert!(pid_alive(me));
        let t = start_time(me).expect("linux /proc");
        assert!(t.parse::<u64>().is_ok(), "{t}");
        assert!(same_process(me, Some(&t)));
        assert!(!same_process(me, Some("1")), "another start time is another process");
        assert!(!pid_alive(0) && !pid_alive(-5));
    }

    #[test]
    fn start_time_shell_expression_agrees_with_proc() {
        // The dry-run script computes the same field with cut; compare on a live child.
        use std::io::BufRead;
        #[allow(clippy::disallowed_methods)]
        let mut child = std::process::Command::new("sh")
            .arg("-c")
            .arg(format!("sleep 3 & echo $! {START_TIME_OF_LAST_JOB}; wait"))
            .stdout(std::process::Stdio::piped())
            .spawn()
            .expect("sh");
        let mut line = String::new();
        let stdout = child.stdout.take().expect("piped");
        std::io::BufReader::new(stdout).read_line(&mut line).expect("line");
        let mut words = line.split_whitespace();
        let pid: i32 = words.next().and_then(|w| w.parse().ok()).expect("pid");
        let ticks = words.next().expect("ticks").to_owned();
        assert_eq!(start_time(pid).as_deref(), Some(ticks.as_str()), "{line}");
        signal(pid, libc::SIGKILL);
        let _ = child.wait();
    }
}
