//! Test-only fake `docker`, `kind`, `kubectl` and `tilt` for kilter's integration tests.
//!
//! One binary that dispatches on the basename of `argv[0]`; the tests symlink it under the four
//! tool names into a temporary `bin/` that is the only entry on PATH. As `fake-tilt-child` it is
//! the child a fake `tilt up` starts; under any other name it is the control CLI
//! (`fake-tool ctl …`). All fakes share one state directory
//! (`$KILTER_FAKE_STATE`); see `README.md` next to this file for the layout, the knobs and every
//! supported call. The behaviour mirrors the real tools (docker 28.2.2, kind v0.32.0,
//! kubectl v1.32.2, tilt v0.37.6).
#![allow(clippy::unwrap_used)]
#![allow(unreachable_pub)]
// Cargo also auto-discovers this file as an (empty) integration test target named `fake`; in that
// build `main` is replaced by the test harness and everything looks unused.
#![cfg_attr(test, allow(dead_code, unused_macros, unused_imports))]

/// `print!` that ignores a closed stdout instead of panicking.
macro_rules! out {
    ($($t:tt)*) => {{
        use std::io::Write as _;
        let _ = write!(std::io::stdout(), $($t)*);
    }};
}
/// `println!` that ignores a closed stdout.
macro_rules! outln {
    ($($t:tt)*) => {{
        use std::io::Write as _;
        let _ = writeln!(std::io::stdout(), $($t)*);
    }};
}
/// `eprintln!` that ignores a closed stderr.
macro_rules! errln {
    ($($t:tt)*) => {{
        use std::io::Write as _;
        let _ = writeln!(std::io::stderr(), $($t)*);
    }};
}

mod apply;
mod args;
mod backend;
mod common;
mod ctl;
mod describe;
mod docker;
mod engine;
mod kind;
mod kubeconfig;
mod kubectl;
mod logs;
mod proxy;
mod state;
mod tilt;
mod timefmt;
mod workloads;

use std::io::Write as _;
use std::process::ExitCode;

fn main() -> ExitCode {
    let mut argv = std::env::args_os().map(|a| a.to_string_lossy().into_owned());
    let argv0 = argv.next().unwrap_or_default();
    let args: Vec<String> = argv.collect();
    let name = std::path::Path::new(&argv0)
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    let code = match name.as_str() {
        "docker" | "kind" | "kubectl" | "tilt" => common::run_tool(&name, args),
        tilt::CHILD_NAME => tilt::child_main(),
        _ => ctl::main(&args),
    };
    let _ = std::io::stdout().flush();
    ExitCode::from(u8::try_from(code).unwrap_or(1))
}
