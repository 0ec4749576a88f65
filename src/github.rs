//! GitHub Actions: workflow commands (`::group::`, `::error …::`) and the Markdown step summary
//! that `kilter ci` appends to `$GITHUB_STEP_SUMMARY`. Pure text builders; the op prints them
//! through the `Ui` and appends through the runner.
//!
//! Escaping follows the Actions toolkit's `command.ts`: in the message (data) `%` → `%25`,
//! `\r` → `%0D`, `\n` → `%0A`; in a property value also `:` → `%3A` and `,` → `%2C`. A `::`
//! inside the message needs nothing: the runner splits the command at the first `::` after
//! the properties, whose own colons are escaped.

use std::time::Duration;

use camino::Utf8PathBuf;

use crate::tools::kubectl::PodRow;
use crate::ui::fmt_duration;

/// Whether kilter runs as a step of a GitHub Actions job, and where its step summary goes.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Actions {
    /// `GITHUB_ACTIONS=true`
    pub enabled: bool,
    /// `GITHUB_STEP_SUMMARY` (only used when `enabled`).
    pub step_summary: Option<Utf8PathBuf>,
}

impl Actions {
    pub fn from_process() -> Actions {
        let enabled = std::env::var("GITHUB_ACTIONS").is_ok_and(|v| v == "true");
        let step_summary = std::env::var("GITHUB_STEP_SUMMARY")
            .ok()
            .filter(|p| enabled && !p.is_empty())
            .map(Utf8PathBuf::from);
        Actions { enabled, step_summary }
    }
}

/// The message part of a workflow command.
pub fn escape_data(s: &str) -> String {
    s.replace('%', "%25").replace('\r', "%0D").replace('\n', "%0A")
}

/// A property value of a workflow command (`title=…`).
pub fn escape_property(s: &str) -> String {
    escape_data(s).replace(':', "%3A").replace(',', "%2C")
}

/// `::group::<title>`: the lines up to [`END_GROUP`] fold under the title in the job log.
pub fn group(title: &str) -> String {
    format!("::group::{}", escape_data(title))
}

pub const END_GROUP: &str = "::endgroup::";

/// `::error title=<title>::<message>`: an annotation on the job page, multi-line message kept.
pub fn error(title: &str, message: &str) -> String {
    format!("::error title={}::{}", escape_property(title), escape_data(message))
}

/// `::stop-commands::<token>`: until `::<token>::`, the runner takes no line for a workflow
/// command. Output kilter passes through from a tool (a build log, a test's output) is not
/// kilter's to command the runner with: a line of it starting with `::` would otherwise be
/// obeyed.
pub fn stop_commands(token: &str) -> String {
    format!("::stop-commands::{token}")
}

/// `::<token>::`: workflow commands count again.
pub fn resume_commands(token: &str) -> String {
    format!("::{token}::")
}

/// A token the passed-through output cannot guess: `kilter-` and 16 random hex digits.
pub fn new_token() -> String {
    use std::hash::{BuildHasher, Hasher};
    let mut h = std::collections::hash_map::RandomState::new().build_hasher();
    h.write_u128(
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.as_nanos())
            .unwrap_or(0),
    );
    h.write_u32(std::process::id());
    format!("kilter-{:016x}", h.finish())
}

/// How one phase of `kilter ci` went.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Status {
    /// Done; an optional detail (e.g. where the artifacts are).
    Ok(Option<String>),
    /// Failed, with a short reason (`exit 1`, `timed out`).
    Failed(String),
    /// Not run, and why.
    Skipped(String),
}

/// One row of the phase table.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Phase {
    pub name: String,
    pub status: Status,
    pub took: Duration,
}

/// Everything the step summary shows.
#[derive(Debug, Clone)]
pub struct Report<'a> {
    pub project: &'a str,
    pub namespace: &'a str,
    pub ok: bool,
    pub phases: &'a [Phase],
    pub total: Duration,
    /// The pods of the namespace just before the cluster was deleted, or why they are unknown.
    pub pods: Result<Vec<PodRow>, String>,
    /// The artifacts directory and the entries written there (none when there was no failure).
    pub artifacts: Option<(Utf8PathBuf, Vec<String>)>,
    /// The failing command and its output tail, or the error.
    pub failure: Option<String>,
}

/// A Markdown table cell: no line breaks, `|` escaped.
fn cell(s: &str) -> String {
    s.replace('\r', "").replace('\n', " ").replace('|', "\\|")
}

/// Inline code that survives backticks inside (CommonMark: a longer fence, padded).
fn code(s: &str) -> String {
    let longest = longest_run(s, '`');
    let fence = "`".repeat(longest + 1);
    if longest > 0 { format!("{fence} {s} {fence}") } else { format!("{fence}{s}{fence}") }
}

fn longest_run(s: &str, c: char) -> usize {
    let (mut best, mut cur) = (0, 0);
    for x in s.chars() {
        cur = if x == c { cur + 1 } else { 0 };
        best = best.max(cur);
    }
    best
}

/// The step summary: a heading with the outcome, the phases with their times, the pods table,
/// the artifacts, and the failure in a folded block.
pub fn summary_markdown(r: &Report<'_>) -> String {
    let mut o = String::new();
    let verdict = if r.ok { "✅ passed" } else { "❌ failed" };
    o.push_str(&format!("### kilter ci: {} — {verdict}\n\n", cell(r.project)));
    o.push_str("| phase | result | time |\n|---|---|---|\n");
    for p in r.phases {
        let result = match &p.status {
            Status::Ok(None) => "✅ ok".to_owned(),
            Status::Ok(Some(d)) => format!("✅ {}", cell(d)),
            Status::Failed(why) => format!("❌ {}", cell(why)),
            Status::Skipped(why) => format!("➖ skipped: {}", cell(why)),
        };
        let took = match p.status {
            Status::Skipped(_) => "–".to_owned(),
            _ => fmt_duration(p.took),
        };
        o.push_str(&format!("| {} | {result} | {took} |\n", cell(&p.name)));
    }
    o.push_str(&format!("| **total** | | **{}** |\n\n", fmt_duration(r.total)));

    o.push_str(&format!("**Pods in {}**\n\n", code(r.namespace)));
    match &r.pods {
        Ok(pods) if pods.is_empty() => o.push_str("No pods.\n\n"),
        Ok(pods) => {
            o.push_str("| pod | ready | status | restarts | age |\n|---|---|---|---|---|\n");
            for p in pods {
                o.push_str(&format!(
                    "| {} | {} | {} | {} | {} |\n",
                    cell(&p.name),
                    cell(&p.ready),
                    cell(&p.status),
                    p.restarts,
                    cell(&p.age)
                ));
            }
            o.push('\n');
        }
        Err(why) => o.push_str(&format!("Unknown: {}\n\n", cell(why))),
    }

    if let Some((dir, entries)) = &r.artifacts {
        let list: Vec<String> = entries.iter().map(|e| code(e)).collect();
        o.push_str(&format!(
            "**Artifacts** in {}: {}\n\n",
            code(dir.as_str()),
            if list.is_empty() { "none could be collected".to_owned() } else { list.join(", ") }
        ));
    }

    if let Some(f) = &r.failure {
        let fence = "`".repeat(longest_run(f, '`').max(2) + 1);
        o.push_str(&format!(
            "<details><summary>What failed</summary>\n\n{fence}text\n{}\n{fence}\n\n</details>\n\n",
            f.replace("\r\n", "\n").replace('\r', "\n").trim_end()
        ));
    }
    o
}

#[cfg(test)]
mod tests;
