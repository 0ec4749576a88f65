//! kilter's developer tasks, run as `cargo xtask <task>` (the alias is in .cargo/config.toml).
//!
//! - `cargo xtask test [STAGE...]`: the test command (README "Development", docs/testing.md): every
//!   stage in order with its gating, a skip log and a closing summary. See [`test`].

mod test;

use std::process::ExitCode;

const USAGE: &str = "\
usage: cargo xtask <task>

tasks:
  test [STAGE...]   the test command: every stage in order (or only the named ones and what they need),
                    then a summary; `cargo xtask test --help` lists the stages and the environment
  help              this text
";

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    match args.first().map(String::as_str) {
        Some("test") => test::main(&args[1..]),
        Some("help" | "-h" | "--help") => {
            print!("{USAGE}");
            ExitCode::SUCCESS
        }
        Some(other) => {
            eprintln!("xtask: unknown task '{other}'\n\n{USAGE}");
            ExitCode::from(2)
        }
        None => {
            eprint!("{USAGE}");
            ExitCode::from(2)
        }
    }
}
