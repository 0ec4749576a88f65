//! `docker`: the handle, and the concerns in its submodules (re-exported here): command
//! builders, calls run and read in one step, `inspect`, `ps`, `stats`, `info` and `exec cat`
//! parsers, and what docker's stderr says.

use super::Bin;

mod cat;
mod commands;
mod info;
mod inspect;
mod ps;
mod queries;
mod stats;
mod stderr;

pub use cat::*;
pub use commands::*;
pub use info::DockerInfo;
pub use inspect::*;
pub use ps::*;
pub use stats::*;
pub use stderr::*;

pub const CLUSTER_LABEL: &str = "io.x-k8s.kind.cluster";

pub struct Docker<'a> {
    pub bin: &'a Bin,
}

impl<'a> Docker<'a> {
    pub fn new(bin: &'a Bin) -> Docker<'a> {
        Docker { bin }
    }
}

#[cfg(test)]
mod tests;
