//! The real-Tilt tier of the harness: [`Env::real_tilt`] gives an environment whose `tilt` is the
//! real Tilt v0.37.6 (built from its source; `../shared/real-tools`, unpacked by `.ci/run` and
//! `scripts/test.sh` into `target/real-tools/`), while `docker`/`kind`/`kubectl` stay the fakes.
//! Real Tilt runs each Tiltfile command through `sh`, so this Env's PATH also has the system's
//! directories after the fakes.
//!
//! Where the binary comes from: `KILTER_REAL_TILT`, else `target/real-tools/tilt` in the
//! repository. Missing: the test reports itself skipped (`support::skipped`: a failure under
//! `CI=true`, where the tier is required).
//!
//! [`Env::leftovers`] walks the process table for every process started by this Env (its
//! environment carries the Env's own `KILTER_FAKE_STATE`): after every scenario none may be
//! left; dropping the Env kills any that are, also after a panic.

use std::path::PathBuf;

use super::{Env, skipped};

/// The real Tilt binary, or `None` after reporting `what` as skipped.
pub fn real_tilt_or_skip(what: &str) -> Option<PathBuf> {
    let path = std::env::var_os("KILTER_REAL_TILT").map(PathBuf::from).unwrap_or_else(|| {
        PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("target").join("real-tools").join("tilt")
    });
    if path.is_file() {
        Some(path)
    } else {
        skipped(
            what,
            &format!(
                "the real Tilt is not at {} (unpack ../shared/real-tools/tilt-v0.37.6-linux-amd64.zst there: scripts/unpack-real-tools.sh)",
                path.display()
            ),
        );
        None
    }
}

/// One process of the table.
#[derive(Debug, Clone)]
pub struct Leftover {
    pub pid: i32,
    pub pgid: i32,
    pub cmd: String,
}

impl std::fmt::Display for Leftover {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "pid {} (group {}): {}", self.pid, self.pgid, self.cmd)
    }
}

impl Env {
    /// An environment with the real Tilt on PATH, or `None` (reported as skipped) without it.
    pub fn real_tilt() -> Option<Env> {
        let test = std::thread::current().name().unwrap_or("a real-Tilt test").to_owned();
        let bin = real_tilt_or_skip(&test)?;
        let mut env = Env::without(&["tilt"]);
        std::os::unix::fs::symlink(&bin, env.bin().join("tilt")).unwrap();
        env.system_path = true;
        Some(env)
    }

    /// Live processes started by this Env (kilter, the fakes, Tilt and everything Tilt ran).
    pub fn leftovers(&self) -> Vec<Leftover> {
        let needle = format!("KILTER_FAKE_STATE={}", self.state_dir().display()).into_bytes();
        let me = std::process::id() as i32;
        let mut out = Vec::new();
        let Ok(dir) = std::fs::read_dir("/proc") else { return out };
        for e in dir.flatten() {
            let Some(pid) = e.file_name().to_str().and_then(|s| s.parse::<i32>().ok()) else {
                continue;
            };
            if pid == me {
                continue;
            }
            let Ok(stat) = std::fs::read_to_string(format!("/proc/{pid}/stat")) else { continue };
            let Some((_, rest)) = stat.rsplit_once(')') else { continue };
            let f: Vec<&str> = rest.split_whitespace().collect();
            if f.first().is_none_or(|s| *s == "Z" || *s == "X") {
                continue;
            }
            let Ok(environ) = std::fs::read(format!("/proc/{pid}/environ")) else { continue };
            if !environ.split(|b| *b == 0).any(|kv| kv == needle.as_slice()) {
                continue;
            }
            let cmd = std::fs::read(format!("/proc/{pid}/cmdline"))
                .map(|c| {
                    c.split(|b| *b == 0)
                        .filter(|w| !w.is_empty())
                        .map(|w| String::from_utf8_lossy(w).into_owned())
                        .collect::<Vec<_>>()
                        .join(" ")
                })
                .unwrap_or_default();
            out.push(Leftover {
                pid,
                pgid: f.get(2).and_then(|g| g.parse().ok()).unwrap_or(0),
                cmd,
            });
        }
        out
    }

    /// Wait up to `secs` for every process of this Env to be gone; the ones left otherwise.
    pub fn settle_leftovers(&self, secs: u64) -> Vec<Leftover> {
        let end = std::time::Instant::now() + std::time::Duration::from_secs(secs);
        loop {
            let left = self.leftovers();
            if left.is_empty() || std::time::Instant::now() >= end {
                return left;
            }
            std::thread::sleep(std::time::Duration::from_millis(50));
        }
    }

    /// Kill every process of this Env (their groups too), for Drop.
    pub fn kill_leftovers(&self) {
        for p in self.leftovers() {
            // SAFETY: plain kill(2) on processes whose environment names this Env's own state dir.
            unsafe {
                libc::kill(p.pid, libc::SIGKILL);
            }
        }
    }
}
