//! Ctrl-C and SIGTERM: a flag that every wait loop checks, so that kilter kills its children,
//! releases its locks and exits 130 instead of dying mid-write. (No dependencies on other
//! modules: the runner and the locks both wait on it.)

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, OnceLock};
use std::time::{Duration, Instant};

use anyhow::Result;

use crate::error::Interrupted;

static FLAG: OnceLock<Arc<AtomicBool>> = OnceLock::new();

fn flag() -> &'static Arc<AtomicBool> {
    FLAG.get_or_init(|| Arc::new(AtomicBool::new(false)))
}

/// Install SIGINT/SIGTERM handlers that only set a flag; every wait loop checks it.
pub fn install_signal_handlers() {
    for sig in [signal_hook::consts::SIGINT, signal_hook::consts::SIGTERM] {
        let _ = signal_hook::flag::register(sig, Arc::clone(flag()));
    }
}

/// True once Ctrl-C (SIGINT) or SIGTERM was received.
pub fn interrupted() -> bool {
    flag().load(Ordering::SeqCst)
}

/// Fail with [`Interrupted`] if a signal arrived.
pub fn check_interrupt() -> Result<()> {
    if interrupted() { Err(Interrupted.into()) } else { Ok(()) }
}

/// Sleep in small slices, returning early (with an error) on interrupt.
pub fn sleep(d: Duration) -> Result<()> {
    let end = Instant::now() + d;
    loop {
        check_interrupt()?;
        let now = Instant::now();
        if now >= end {
            return Ok(());
        }
        std::thread::sleep((end - now).min(Duration::from_millis(20)));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Without a signal, `sleep` waits the whole time (never less: the clock is monotonic).
    #[test]
    fn sleep_waits_at_least_as_long_as_asked() {
        let start = Instant::now();
        sleep(Duration::from_millis(60)).expect("no signal in this test");
        assert!(start.elapsed() >= Duration::from_millis(60), "{:?}", start.elapsed());
    }
}
