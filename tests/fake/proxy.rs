//! kubectl against a published port that does not serve yet (knob `api_proxy_ms`).
//!
//! kind publishes the API port through Docker's userland proxy. While nothing listens inside the
//! node (right after `docker start`, or a crash-looping apiserver), the proxy accepts every
//! connection and then closes or resets it, so kubectl sees `EOF` instead of "connection
//! refused", and it retries. The wall times and lines below are the ones measured against the
//! real kubectl 1.32 (see README.md next to this file); `proxy_time_scale` multiplies the times
//! so that most tests can run them fast.
//!
//! The model: a call makes *attempts*; an attempt that finds the API serving succeeds and the
//! call carries on as usual (klog lines already printed stay printed). An attempt that does not
//! fails some seconds later:
//!
//! - one request (`get --raw`, `version`'s GET /version, the POST of `create namespace`): tries at
//!   0, 1, 2, 3, 4 and 5 s, then fails at 5.2 s with `Unable to connect to the server: EOF`
//!   (`--request-timeout` does not shorten it);
//! - API discovery (`get <types>`, `logs`, `exec`, `rollout`) with N klog lines (the same N as the
//!   refused case, [`crate::kubectl::discovery_lines`]): N + 1 attempts 10 s apart, each trying
//!   at its start and every second for 5 s and failing at +5.2 s. The first N failures print a klog
//!   line, the last one the final message (65.2 s for N = 6, 55.2 s for N = 5);
//! - API discovery with `--request-timeout D`: the first attempt as above but failing at 5.1 s,
//!   then N attempts D apart that each try once, at their start (17.1 s for N = 6, D = 2s).

use std::time::{Duration, Instant};

use crate::args;
use crate::common::Ctx;
use crate::kubectl::{Conn, ConnError, connect, klog_discovery_error, report};
use crate::timefmt;

/// Knob `api_proxy_ms`: None = off (a not-ready API refuses), Some(None) = `never` serves while
/// running, Some(Some(ms)) = serves `ms` after the node's last start.
pub fn window(ctx: &Ctx) -> Option<Option<u64>> {
    match ctx.knob("api_proxy_ms").trim() {
        "" => None,
        "never" => Some(None),
        v => v.parse().ok().map(Some),
    }
}

/// What a kubectl call does to reach the API.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub enum Probe {
    /// One HTTP request, no discovery.
    Request,
    /// API discovery first; the number of klog lines it prints when it fails.
    Discovery(usize),
}

/// One attempt: when it starts trying (seconds from the call's start, unscaled), when it tries,
/// and when it fails.
struct Attempt {
    tries: Vec<f64>,
    fails_at: f64,
}

fn attempts(probe: Probe, request_timeout: Option<f64>) -> Vec<Attempt> {
    // the proxy holds each connection ~5 s; requests retry about every second meanwhile
    let held = |start: f64, fails_after: f64| Attempt {
        tries: (0..6).map(|i| start + f64::from(i)).filter(|t| *t < start + fails_after).collect(),
        fails_at: start + fails_after,
    };
    match (probe, request_timeout) {
        (Probe::Request, _) => vec![held(0.0, 5.2)],
        (Probe::Discovery(n), None) => (0..=n).map(|k| held(10.0 * k as f64, 5.2)).collect(),
        (Probe::Discovery(n), Some(d)) => {
            let mut v = vec![held(0.0, 5.1)];
            for k in 1..=n {
                let start = 5.1 + d * (k - 1) as f64;
                v.push(Attempt { tries: vec![start], fails_at: start + d });
            }
            v
        }
    }
}

/// Sleep until `secs` (unscaled) after `t0`, in small slices so that the process stays
/// killable and never holds the state lock meanwhile.
fn sleep_until(t0: Instant, secs: f64, scale: f64) {
    // a scale too large to represent means "never": sleep until killed
    let target = Duration::try_from_secs_f64(secs * scale).ok().and_then(|d| t0.checked_add(d));
    loop {
        let now = Instant::now();
        let left = match target {
            Some(t) if now >= t => return,
            Some(t) => t - now,
            None => Duration::MAX,
        };
        std::thread::sleep(left.min(Duration::from_millis(20)));
    }
}

/// An ephemeral local port for the `read tcp 127.0.0.1:A->…` line.
fn local_port() -> u64 {
    let seed = u64::from(std::process::id()).wrapping_mul(7919) + (timefmt::now_ns() % 1000) as u64;
    32768 + seed % 28000
}

/// Connect like kubectl: at once when the API serves or refuses; behind a not-serving proxy,
/// keep trying as described in the module docs. On failure everything is printed and the exit
/// code returned; `before_error` runs just before the final error message (e.g. `version` prints
/// its client part).
pub fn connect_or_report(
    ctx: &Ctx,
    p: &args::Parsed,
    probe: Probe,
    before_error: impl Fn(&ConnError),
) -> Result<Conn, i32> {
    let discovery = match probe {
        Probe::Request => 0,
        Probe::Discovery(n) => n,
    };
    let t0 = Instant::now();
    let (host, url) = match connect(ctx, p) {
        Ok(c) => return Ok(c),
        Err(ConnError::NotServing { host, url }) => (host, url),
        Err(e) => {
            before_error(&e);
            return Err(report(&e, discovery, p));
        }
    };
    let scale = ctx.knob_f64("proxy_time_scale", 1.0);
    let request_timeout = p
        .get("--request-timeout")
        .and_then(|t| {
            t.parse::<u64>().map(|secs| secs * 1000).ok().or_else(|| timefmt::parse_go_duration(t))
        })
        .filter(|ms| *ms > 0)
        .map(|ms| ms as f64 / 1000.0);
    let url_timeout = p.get("--request-timeout").filter(|t| *t != "0").unwrap_or("32s");
    let reset =
        format!("read tcp 127.0.0.1:{}->{host}: read: connection reset by peer", local_port());
    let plan = attempts(probe, request_timeout);
    let last = plan.len() - 1;
    for (k, attempt) in plan.iter().enumerate() {
        for t in &attempt.tries {
            sleep_until(t0, *t, scale);
            match connect(ctx, p) {
                Ok(c) => return Ok(c),
                Err(ConnError::NotServing { .. }) => {}
                // the node went away (or came back as another cluster) meanwhile
                Err(e) => {
                    before_error(&e);
                    return Err(report(&e, discovery.saturating_sub(k), p));
                }
            }
        }
        sleep_until(t0, attempt.fails_at, scale);
        if k < last {
            if request_timeout.is_some() {
                klog_discovery_error(
                    "client rate limiter Wait returned an error: context deadline exceeded - error from a previous attempt: EOF",
                );
            } else {
                klog_discovery_error(&format!("Get \\\"{url}/api?timeout={url_timeout}\\\": EOF"));
            }
            continue;
        }
        before_error(&ConnError::NotServing { host: host.clone(), url: url.clone() });
        match probe {
            Probe::Request => errln!("Unable to connect to the server: EOF"),
            Probe::Discovery(_) if request_timeout.is_some() => errln!(
                "error: client rate limiter Wait returned an error: context deadline exceeded - error from a previous attempt: {reset}"
            ),
            // Which ending real kubectl shows depends on whether its last two tries saw EOF or
            // a reset; measured: `get pods -n NS` the wrapped one, `get nodes,namespaces` EOF.
            Probe::Discovery(_) if p.get("--namespace").is_some() => errln!(
                "error: Get \"{url}/api?timeout={url_timeout}\": EOF - error from a previous attempt: {reset}"
            ),
            Probe::Discovery(_) => errln!("Unable to connect to the server: EOF"),
        }
    }
    Err(1)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn schedules_match_the_measured_wall_times() {
        let end = |probe, rt| attempts(probe, rt).last().unwrap().fails_at;
        assert_eq!(end(Probe::Request, None), 5.2);
        assert_eq!(end(Probe::Request, Some(2.0)), 5.2);
        assert!((end(Probe::Discovery(6), None) - 65.2).abs() < 1e-9);
        assert!((end(Probe::Discovery(5), None) - 55.2).abs() < 1e-9);
        assert!((end(Probe::Discovery(6), Some(2.0)) - 17.1).abs() < 1e-9);
        assert_eq!(attempts(Probe::Discovery(6), None).len(), 7, "6 klog lines, then the error");
        assert_eq!(attempts(Probe::Request, None)[0].tries, [0.0, 1.0, 2.0, 3.0, 4.0, 5.0]);
    }
}
