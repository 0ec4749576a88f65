//! What `docker exec NODE cat F1 F2 …` read.

use crate::exec::Output;

/// What `docker exec NODE cat F1 F2 …` read.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CatOutput<'a> {
    /// cat (and so `docker exec`) exited 0: every file was read.
    pub complete: bool,
    /// The indices of the files cat reported as missing (`cat: F: No such file or directory`).
    pub missing: Vec<usize>,
    /// What it printed: the files it could read, in order.
    pub text: &'a str,
}

/// Read the answer of `docker exec NODE cat PATHS…`.
pub fn parse_cat<'a>(out: &'a Output, paths: &[String]) -> CatOutput<'a> {
    let missing = if out.success() {
        Vec::new()
    } else {
        (0..paths.len())
            .filter(|&i| {
                out.stderr.lines().any(|l| l.contains(&paths[i]) && l.contains("No such file"))
            })
            .collect()
    };
    CatOutput { complete: out.success(), missing, text: &out.stdout }
}
