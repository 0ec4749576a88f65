//! A network namespace of its own for each test environment, so that the ports a test's kilter and
//! fakes bind and probe on 127.0.0.1 (the fake Tilt listens on its `--port` for real, as Tilt
//! does) are the test's alone: two tests, two suites, or a real Tilt on the same machine cannot
//! hold each other's ports.
//!
//! A holder process (`/bin/sleep`) is started in a new namespace with its loopback up. The test's
//! own thread joins it when the Env is made (libtest runs each test on a thread of its own, and a
//! thread's namespace is what the processes and threads it starts inherit), so everything the test
//! starts or binds — kilter, the fakes, a dry-run script run by `sh`, a listener that holds a port
//! — is in it; the Env's own commands also join it explicitly (`setns` before exec), which keeps
//! them there in a test with several Envs. Creating a namespace needs
//! CAP_SYS_ADMIN (root, as in CI); elsewhere [`NetNs::new`] gives `None` and the Env uses the
//! host's network, with a note on stderr.
#![allow(clippy::disallowed_methods)]

use std::fs::File;
use std::os::fd::AsRawFd as _;
use std::os::unix::process::CommandExt as _;
use std::process::{Child, Command, Stdio};

pub struct NetNs {
    holder: Child,
    ns: File,
}

/// `struct ifreq` with the flags member (Linux): 16 bytes of name, then the union.
#[repr(C)]
struct IfReqFlags {
    name: [u8; 16],
    flags: libc::c_short,
    _pad: [u8; 22],
}

/// `ip link set lo up` in the calling process's namespace.
fn loopback_up() -> std::io::Result<()> {
    const SIOCGIFFLAGS: libc::c_ulong = 0x8913;
    const SIOCSIFFLAGS: libc::c_ulong = 0x8914;
    // SAFETY: plain socket/ioctl/close calls on a zeroed, correctly sized ifreq.
    unsafe {
        let s = libc::socket(libc::AF_INET, libc::SOCK_DGRAM | libc::SOCK_CLOEXEC, 0);
        if s < 0 {
            return Err(std::io::Error::last_os_error());
        }
        let mut req: IfReqFlags = std::mem::zeroed();
        req.name[..2].copy_from_slice(b"lo");
        let ok = libc::ioctl(s, SIOCGIFFLAGS as _, &mut req) == 0 && {
            req.flags |= libc::IFF_UP as libc::c_short;
            libc::ioctl(s, SIOCSIFFLAGS as _, &req) == 0
        };
        let err = std::io::Error::last_os_error();
        libc::close(s);
        if ok { Ok(()) } else { Err(err) }
    }
}

impl NetNs {
    /// A new namespace, or `None` where this process may not create one.
    pub fn new() -> Option<NetNs> {
        let mut cmd = Command::new("/bin/sleep");
        cmd.arg("86400").stdin(Stdio::null()).stdout(Stdio::null()).stderr(Stdio::null());
        // SAFETY: unshare(2) and the ioctls of `loopback_up` are async-signal-safe and touch
        // nothing of the parent.
        unsafe {
            cmd.pre_exec(|| {
                if libc::unshare(libc::CLONE_NEWNET) != 0 {
                    return Err(std::io::Error::last_os_error());
                }
                loopback_up()
            });
        }
        let mut holder = cmd.spawn().ok()?;
        match File::open(format!("/proc/{}/ns/net", holder.id())) {
            Ok(ns) => Some(NetNs { holder, ns }),
            Err(_) => {
                let _ = holder.kill();
                let _ = holder.wait();
                None
            }
        }
    }

    /// Make `cmd` run in this namespace.
    pub fn enter(&self, cmd: &mut Command) {
        let fd = self.ns.as_raw_fd();
        // SAFETY: setns(2) on an fd this process holds open; async-signal-safe.
        unsafe {
            cmd.pre_exec(move || {
                if libc::setns(fd, libc::CLONE_NEWNET) != 0 {
                    return Err(std::io::Error::last_os_error());
                }
                Ok(())
            });
        }
    }

    /// Move the calling thread (and what it starts from now on) into this namespace.
    pub fn enter_this_thread(&self) {
        // SAFETY: setns(2) on an fd this process holds open; it moves only the calling thread.
        let rc = unsafe { libc::setns(self.ns.as_raw_fd(), libc::CLONE_NEWNET) };
        assert_eq!(rc, 0, "setns: {}", std::io::Error::last_os_error());
    }

    /// Run `f` on a thread inside this namespace (e.g. to bind a port there).
    pub fn run<R: Send>(&self, f: impl FnOnce() -> R + Send) -> R {
        let fd = self.ns.as_raw_fd();
        std::thread::scope(|s| {
            s.spawn(|| {
                // SAFETY: setns(2) moves only this thread, which ends after `f`.
                let rc = unsafe { libc::setns(fd, libc::CLONE_NEWNET) };
                assert_eq!(rc, 0, "setns: {}", std::io::Error::last_os_error());
                f()
            })
            .join()
            .expect("the closure in the namespace panicked")
        })
    }
}

impl Drop for NetNs {
    fn drop(&mut self) {
        let _ = self.holder.kill();
        let _ = self.holder.wait();
    }
}

/// Move the calling thread back into the network namespace the test process started in (for an
/// Env that uses the host's network after another Env moved this thread).
pub fn enter_host() {
    static HOST: std::sync::OnceLock<Option<File>> = std::sync::OnceLock::new();
    // The main thread never moves (libtest runs tests on threads of their own, and a
    // single-threaded run keeps its main thread in whatever namespace it is given, which this
    // records before any Env moved it: the first Env of the run calls this first).
    if let Some(ns) = HOST.get_or_init(|| File::open("/proc/self/ns/net").ok()) {
        // SAFETY: setns(2) on an fd this process holds open; it moves only the calling thread.
        unsafe { libc::setns(ns.as_raw_fd(), libc::CLONE_NEWNET) };
    }
}
