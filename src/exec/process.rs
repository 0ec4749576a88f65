//! Processes kilter did not just spawn: signals, liveness, and the identity
//! of a process (pid + start time) so that a recycled pid is never mistaken for our Tilt.

/// Send `sig` to a process (positive pid) or a process group (negative pid). Returns false if it
/// does not exist. Never to 0 or -1, which kill(2) reads as "kilter's own group" and "every
/// process kilter may signal": a group number that came out as 0 or 1 is refused here, whatever
/// computed it.
pub fn signal(pid: i32, sig: i32) -> bool {
    if pid == 0 || pid == -1 {
        return false;
    }
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

/// Whether the process whose `/proc/<pid>/stat` fields these are has finished: a zombie (an
/// exited process nobody reaped — PID 1 in many containers never reaps orphans) whose last
/// thread has ended. A zombie *leader* with other threads still running (a Go program that was
/// killed and is still exiting, which may hold its sockets for that moment, or a program whose
/// main thread called `pthread_exit`) has not: field 20 counts its threads.
fn finished(f: &[String]) -> bool {
    let zombie = f.first().is_none_or(|state| state == "Z" || state == "X");
    // Field 20 (num_threads) is index 17 after the name.
    zombie && f.get(17).and_then(|n| n.parse::<u32>().ok()).is_none_or(|n| n <= 1)
}

/// Whether a process exists and has not finished (a zombie counts as gone once its last thread
/// has ended).
pub fn pid_alive(pid: i32) -> bool {
    if pid <= 0 || !signal(pid, 0) {
        return false;
    }
    match proc_stat_fields(pid) {
        Some(f) => !finished(&f),
        // No /proc (macOS): `ps` would be a spawn; kill(0) is the best we can tell here.
        None => true,
    }
}

/// Whether any process that has not finished ([`pid_alive`]'s rule) is still in process group
/// `pgid`.
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
        if f.get(2).and_then(|g| g.parse::<i32>().ok()) == Some(pgid) && !finished(&f) {
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

/// One line of the process table.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Proc {
    pub pid: i32,
    pub ppid: i32,
    pub pgid: i32,
    /// The command line (NUL-separated words joined with spaces; the name in brackets for a
    /// process without one).
    pub cmd: String,
}

/// Every process that has not finished ([`pid_alive`]'s rule), read from `/proc` (empty where
/// there is none).
pub fn table() -> Vec<Proc> {
    let Ok(dir) = std::fs::read_dir("/proc") else { return Vec::new() };
    let mut out = Vec::new();
    for e in dir.flatten() {
        let Some(pid) = e.file_name().to_str().and_then(|s| s.parse::<i32>().ok()) else {
            continue;
        };
        let Some(f) = proc_stat_fields(pid) else { continue };
        if finished(&f) {
            continue;
        }
        let num = |i: usize| f.get(i).and_then(|v| v.parse::<i32>().ok()).unwrap_or(0);
        out.push(Proc { pid, ppid: num(1), pgid: num(2), cmd: cmdline(pid) });
    }
    out
}

/// A process's command line, for messages.
pub fn cmdline(pid: i32) -> String {
    let raw = std::fs::read(format!("/proc/{pid}/cmdline")).unwrap_or_default();
    let words: Vec<String> = raw
        .split(|b| *b == 0)
        .filter(|w| !w.is_empty())
        .map(|w| String::from_utf8_lossy(w).into_owned())
        .collect();
    if words.is_empty() {
        let comm = std::fs::read_to_string(format!("/proc/{pid}/comm")).unwrap_or_default();
        return format!("[{}]", comm.trim());
    }
    words.join(" ")
}

/// The process group of a live process (`None` when it is gone).
pub(super) fn pgid_of(pid: i32) -> Option<i32> {
    proc_stat_fields(pid).and_then(|f| f.get(2).and_then(|g| g.parse().ok()))
}

/// Whether `pid` leads its process group (its pgid is its pid).
pub fn leads_group(pid: i32) -> bool {
    pgid_of(pid) == Some(pid)
}

/// The process groups that `root`'s descendants run in, apart from `root`'s own group: the
/// groups a program such as Tilt starts its commands in (each `local_resource` runs in a group,
/// and a session, of its own) and that a signal to `root`'s group does not reach. Found from
/// the parent links of `procs`; kilter's own group and PID 1's are never among them.
pub fn descendant_groups(procs: &[Proc], root: i32) -> Vec<i32> {
    let own = pgid_of(std::process::id() as i32);
    let root_group = procs.iter().find(|p| p.pid == root).map(|p| p.pgid);
    let mut family = vec![root];
    let mut groups: Vec<i32> = Vec::new();
    let mut i = 0;
    while i < family.len() {
        let parent = family[i];
        for p in procs.iter().filter(|p| p.ppid == parent && p.pid != parent) {
            if !family.contains(&p.pid) {
                family.push(p.pid);
                if Some(p.pgid) != root_group
                    && Some(p.pgid) != own
                    && p.pgid > 1
                    && !groups.contains(&p.pgid)
                {
                    groups.push(p.pgid);
                }
            }
        }
        i += 1;
    }
    groups.sort_unstable();
    groups
}

/// The process groups of the processes of `procs` whose environment holds `var=value` (a
/// variable kilter gave a program, which the commands it starts inherit, wherever they have
/// gone since): kilter's own group and PID 1's are never among them. A process whose
/// environment kilter may not read (another user's) is not counted.
pub fn marked_groups(procs: &[Proc], var: &str, value: &str) -> Vec<i32> {
    let own = pgid_of(std::process::id() as i32);
    let mark = format!("{var}={value}");
    let mut groups: Vec<i32> = procs
        .iter()
        .filter(|p| p.pgid > 1 && Some(p.pgid) != own)
        .filter(|p| {
            std::fs::read(format!("/proc/{}/environ", p.pid))
                .is_ok_and(|env| env.split(|b| *b == 0).any(|kv| kv == mark.as_bytes()))
        })
        .map(|p| p.pgid)
        .collect();
    groups.sort_unstable();
    groups.dedup();
    groups
}

/// The live processes of the given groups (what is left after a stop), for messages.
pub fn members(groups: &[i32]) -> Vec<Proc> {
    table().into_iter().filter(|p| groups.contains(&p.pgid)).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn never_signals_its_own_group_or_every_process() {
        // kill(0, 0) and kill(-1, 0) would succeed (there are processes to signal).
        assert!(!signal(0, 0) && !signal(-1, 0));
        assert!(signal(std::process::id() as i32, 0), "a real pid is signalled");
    }

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

    /// `sleep 30` in a process group of its own, with these variables.
    fn sleeper(env: &[(&str, &str)]) -> std::process::Child {
        use std::os::unix::process::CommandExt as _;
        #[allow(clippy::disallowed_methods)]
        let mut cmd = std::process::Command::new("/bin/sleep");
        cmd.arg("30").envs(env.iter().copied()).process_group(0);
        let child = cmd.spawn().expect("sleep");
        // `spawn` returns once the kernel has begun the exec, which is before it has set the
        // new command line: until then /proc/<pid>/cmdline reads empty.
        let cmdline = format!("/proc/{}/cmdline", child.id());
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
        while std::fs::read(&cmdline).is_ok_and(|c| c.is_empty())
            && std::time::Instant::now() < deadline
        {
            std::thread::sleep(std::time::Duration::from_millis(2));
        }
        child
    }

    /// The state letter of `pid` once it is `want`, or what it is after 10 s.
    fn wait_for_state(pid: i32, want: &str) -> String {
        let state = || proc_stat_fields(pid).and_then(|f| f.first().cloned()).unwrap_or_default();
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
        while state() != want && std::time::Instant::now() < deadline {
            std::thread::sleep(std::time::Duration::from_millis(5));
        }
        state()
    }

    fn p(pid: i32, ppid: i32, pgid: i32) -> Proc {
        Proc { pid, ppid, pgid, cmd: format!("p{pid}") }
    }

    #[test]
    fn descendant_groups_follow_parent_links_and_skip_the_roots_own_group() {
        // 100 leads its group; 101 runs in it; 200 and 300 lead groups of their own under it; 201
        // is a grandchild in 200's group; 400 is unrelated; 500 is 300's child in 100's group.
        let procs = [
            p(100, 1, 100),
            p(101, 100, 100),
            p(200, 100, 200),
            p(201, 200, 200),
            p(300, 101, 300),
            p(500, 300, 100),
            p(400, 1, 400),
        ];
        assert_eq!(descendant_groups(&procs, 100), vec![200, 300]);
        assert_eq!(descendant_groups(&procs, 200), Vec::<i32>::new(), "201 is in 200's own group");
        assert_eq!(descendant_groups(&procs, 999), Vec::<i32>::new(), "an unknown root has none");
        // Never PID 1's group, never kilter's own.
        let me = std::process::id() as i32;
        let own = pgid_of(me).expect("own group");
        let procs = [p(100, 1, 100), p(101, 100, 1), p(102, 100, own), p(103, 100, 103)];
        assert_eq!(descendant_groups(&procs, 100), vec![103]);
    }

    #[test]
    fn the_table_shows_a_child_in_a_group_of_its_own_under_its_parent() {
        let mut child = sleeper(&[]);
        let pid = child.id() as i32;
        let me = std::process::id() as i32;
        let procs = table();
        let row = procs.iter().find(|p| p.pid == pid).expect("listed");
        assert_eq!((row.ppid, row.pgid), (me, pid));
        assert!(row.cmd.starts_with("/bin/sleep 30"), "{}", row.cmd);
        assert!(leads_group(pid));
        assert!(descendant_groups(&procs, me).contains(&pid));
        assert_eq!(members(&[pid]).len(), 1);
        signal(pid, libc::SIGKILL);
        let _ = child.wait();
        assert!(members(&[pid]).is_empty());
    }

    /// A child started with a variable is found by it, in its own group; one with the same
    /// variable set to another value, or with a longer name that ends the same, is not; nor is
    /// kilter's own group, whose environment carries it too.
    #[test]
    fn marked_groups_are_found_by_an_exact_variable_in_the_environment() {
        let spawn = |var: &str, value: &str| sleeper(&[(var, value)]);
        let mut marked = spawn("KILTER_TEST_MARK", "/a/tilt.json");
        let mut other = spawn("KILTER_TEST_MARK", "/a/tilt.json2");
        let mut longer = spawn("X_KILTER_TEST_MARK", "/a/tilt.json");
        // The marked environment seen in kilter's own group, and in PID 1's.
        let me = std::process::id() as i32;
        let pid = marked.id() as i32;
        let row = |pgid| Proc { pid, ppid: 1, pgid, cmd: String::new() };
        let mut procs = table();
        procs.extend([row(pgid_of(me).expect("own")), row(1)]);
        let found = marked_groups(&procs, "KILTER_TEST_MARK", "/a/tilt.json");
        assert_eq!(found, vec![marked.id() as i32]);
        for c in [&mut marked, &mut other, &mut longer] {
            signal(c.id() as i32, libc::SIGKILL);
            let _ = c.wait();
        }
        assert!(marked_groups(&table(), "KILTER_TEST_MARK", "/a/tilt.json").is_empty());
    }

    /// A process whose first thread has ended while another runs on (the real Tilt, killed, for a
    /// moment; any program whose main thread calls `pthread_exit`): its leader shows state Z, yet
    /// it runs and may hold its sockets, so it is alive, and its group too. Once its last thread
    /// has ended it is gone, reaped or not.
    #[test]
    fn a_process_whose_leader_thread_ended_is_alive_while_another_thread_runs() {
        extern "C" fn linger(_: *mut libc::c_void) -> *mut libc::c_void {
            // SAFETY: plain syscalls in the child's one remaining thread.
            unsafe {
                libc::usleep(1_500_000);
                libc::syscall(libc::SYS_exit_group, 0);
            }
            std::ptr::null_mut()
        }
        // SAFETY: the child calls only setpgid, pthread_create and raw syscalls, and never
        // returns into the test harness (its leader thread ends with SYS_exit).
        let pid = unsafe { libc::fork() };
        assert!(pid >= 0, "fork");
        if pid == 0 {
            // SAFETY: as above.
            unsafe {
                libc::setpgid(0, 0);
                let mut t: libc::pthread_t = 0;
                if libc::pthread_create(&mut t, std::ptr::null(), linger, std::ptr::null_mut()) != 0
                {
                    libc::syscall(libc::SYS_exit_group, 3);
                }
                libc::syscall(libc::SYS_exit, 0);
            }
            unreachable!("SYS_exit does not return");
        }
        wait_for_state(pid, "Z");
        let threads =
            std::fs::read_dir(format!("/proc/{pid}/task")).map(|d| d.count()).unwrap_or(0);
        let lingering = (pid_alive(pid), group_alive(pid), table().iter().any(|p| p.pid == pid));
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
        while pid_alive(pid) && std::time::Instant::now() < deadline {
            std::thread::sleep(std::time::Duration::from_millis(20));
        }
        let (gone, state_after, group_gone) =
            (!pid_alive(pid), wait_for_state(pid, "Z"), !group_alive(pid));
        let mut status = 0;
        // SAFETY: reaps our own child.
        unsafe { libc::waitpid(pid, &mut status, 0) };
        assert_eq!(threads, 2, "the leader ended and its second thread still runs");
        assert_eq!(lingering, (true, true, true), "alive while its second thread runs");
        assert!(gone && group_gone, "gone once its last thread ended (state {state_after})");
        assert_eq!(state_after, "Z", "not yet reaped when it counted as gone");
        assert!(libc::WIFEXITED(status) && libc::WEXITSTATUS(status) == 0, "{status}");
    }

    /// A group whose only member is a zombie (killed, not reaped: `kill(-pgid, 0)` still
    /// succeeds) is not alive, and the zombie is not in the process table.
    #[test]
    fn a_group_of_one_unreaped_zombie_is_not_alive() {
        let mut child = sleeper(&[]);
        let pid = child.id() as i32;
        assert!(group_alive(pid) && table().iter().any(|p| p.pid == pid));
        signal(pid, libc::SIGKILL);
        let seen = (wait_for_state(pid, "Z"), signal(-pid, 0), group_alive(pid), pid_alive(pid));
        let listed = table().iter().any(|p| p.pid == pid);
        let _ = child.wait();
        assert_eq!(seen, ("Z".to_owned(), true, false, false), "a zombie still answers kill(0)");
        assert!(!listed, "a zombie is not in the table");
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
