//! `kilter.yaml`: finding, parsing and validating the project file, and editing it without
//! disturbing any byte it does not own.
//!
//! - `span.rs` — the YAML tree: every node with its byte range, line and column, built from
//!   the events of `saphyr_parser`; syntax errors, duplicate keys and second documents with
//!   their positions.
//! - `schema/` — the typed [`Config`] and the walk that checks the tree against it (one file
//!   each: the model, the walk, the app's fields, `services:`, `routes:`, names, messages).
//! - `edit/` — byte-preserving edits of `cluster.stopped` and `services:` (one file each: the
//!   flag, its undo, `services:`, the verification, refusals, the byte-preserving writer).
//! - `starter.rs` — the file `kilter init` writes.
//!
//! # How the editor works
//!
//! Every edit replaces or inserts bytes at the exact spans of the parsed nodes, in the
//! file's own conventions (indentation step, `- ` indentation, line breaks: `\n`, `\r\n` or
//! a lone `\r`, which YAML also reads as a line break; a BOM and a missing final newline are
//! kept). The result is parsed again: its YAML tree must equal the old one apart from what
//! the edit is for, otherwise the edit is refused and the caller writes nothing.
//!
//! Forms of `cluster:` and what the edits do with them (indentation: the file's own
//! nested-mapping step, 2 if it has none):
//!
//! | before | [`set_stopped`] | [`clear_stopped`] without undo | with undo |
//! |---|---|---|---|
//! | absent | appends `cluster:` + `  stopped: true` (before a final `...`) | removes both lines | the original bytes |
//! | absent, no final newline | same, after a line break, without a final one | removes both lines and that line break | the original bytes |
//! | absent, no final newline, ends in a block scalar | inserted before the last top-level key and its comments (appending would change the scalar) | removes both lines | the original bytes |
//! | `cluster:` (empty) | adds `  stopped: true` below it | removes both lines (the key goes too) | the original bytes |
//! | `cluster:  # note` | adds `  stopped: true` below it | removes the `stopped` line only | the original bytes |
//! | `cluster: ~` / `null` / `{}` | rewritten as `cluster:` + `  stopped: true` (a trailing comment stays) | removes both lines | the original bytes |
//! | `cluster:` + `  ~` on the next line | the `~` becomes `stopped: true` | removes both lines | the original bytes |
//! | block without `stopped` | inserts `stopped: true` as its first child line | removes that line | the original bytes |
//! | block with `stopped: false` / `~` / empty | rewrites the value in place (a trailing comment keeps its column) | removes the `stopped` line | the original bytes |
//! | flow `{a: 1}` (one line or several) | `{stopped: true, a: 1}` | `{a: 1}` | the original bytes |
//! | flow `{stopped: false}` | `{stopped: true}` | `{}` | the original bytes |
//! | flow top level `{name: x}` | `{name: x, cluster: {stopped: true}}` | `{name: x}` | the original bytes |
//! | `cluster: *alias`, or `cluster: &anchor …` used by an alias | refused: write it out in full | refused | refused |
//!
//! A `cluster:` key is removed without undo only when nothing else is left under it: no
//! other key, no comment line, no comment, anchor or tag on its own line. The undo
//! ([`Undo`]) records the one replacement `set_stopped` made; [`clear_stopped`] swaps it
//! back if it is still there (at its offset, or found once by its surrounding line) and the
//! result verifies, and falls back to the removal above otherwise.
//!
//! [`add_services`] appends bare names to `services:` — as `- name` lines indented like the
//! existing items (or like the file's other lists), or as `, name` in a `[…]` list —
//! creating the key (at the end, like `cluster:`) if it is absent, null or empty.
//! [`remove_services`] removes an item (a bare name, or a mapping by its `name`) with its
//! lines, or with its comma in a `[…]` list.

use std::sync::Arc;

use camino::{Utf8Path, Utf8PathBuf};

use crate::error::{Exit, invalid};

mod edit;
mod schema;
pub(crate) mod span;
mod starter;

#[cfg(test)]
mod tests;

pub use edit::{
    Edited, Undo, add_services, clear_stopped, clear_stopped_in, remove_services, set_stopped,
    set_stopped_in,
};
pub use schema::{
    AppSection, At, ClusterSection, Config, Database, DevCommand, Engine, KindSection,
    MAX_NAME_LEN, RouteEntry, ServiceEntry, Var, Volume, normalize_name, suggest, validate_name,
};
pub use span::Pos;
pub(crate) use span::scalar_text;
pub use starter::starter;

pub(crate) use schema::validate_service_name;

/// The project file's name, looked up by walking up from the current directory.
pub const FILE_NAME: &str = "kilter.yaml";

/// A loaded project file: keeps the exact original text for byte-preserving edits.
#[derive(Debug, Clone)]
pub struct ProjectFile {
    /// Where the file was read from.
    pub path: Utf8PathBuf,
    /// The file's exact contents.
    pub text: String,
    /// The parsed settings.
    pub config: Config,
    /// Non-fatal problems (unknown keys), each a ready-to-print line.
    pub warnings: Vec<String>,
    /// The tree `text` parsed into, so that an edit of the file as loaded (the flag `stop` and
    /// `up` write) does not parse it again.
    pub(crate) parsed: Arc<Parsed>,
}

/// An invalid-config error (exit 4) at `file:line:column`.
pub fn error_at(path: &Utf8Path, pos: Pos, message: impl std::fmt::Display) -> Exit {
    invalid(format!("{path}:{}:{}: {message}", pos.line, pos.col))
}

/// Walk up from `start` (inclusive) looking for `kilter.yaml`; returns its path.
/// A relative `start` is taken relative to the current directory.
pub fn find(start: &Utf8Path) -> Option<Utf8PathBuf> {
    let start = if start.is_relative() {
        let cwd = std::env::current_dir().ok()?;
        Utf8PathBuf::from_path_buf(cwd).ok()?.join(start)
    } else {
        start.to_owned()
    };
    // Resolve `.` and `..` lexically (as a shell's `cd` does) so that `ancestors()`
    // really walks up.
    let mut dir = Utf8PathBuf::new();
    for component in start.components() {
        match component {
            camino::Utf8Component::CurDir => {}
            camino::Utf8Component::ParentDir => {
                dir.pop();
            }
            other => dir.push(other),
        }
    }
    dir.ancestors().map(|dir| dir.join(FILE_NAME)).find(|candidate| candidate.is_file())
}

/// Read and parse a project file. An empty file or a file of only comments gives the
/// default [`Config`].
pub fn load(path: &Utf8Path) -> Result<ProjectFile, Exit> {
    let bytes =
        std::fs::read(path).map_err(|err| invalid(format!("could not read {path}: {err}")))?;
    let text = match String::from_utf8(bytes) {
        Ok(text) => text,
        Err(err) => {
            let valid = &err.as_bytes()[..err.utf8_error().valid_up_to()];
            let line = valid.iter().filter(|&&b| b == b'\n').count() + 1;
            let line_start = valid.iter().rposition(|&b| b == b'\n').map_or(0, |i| i + 1);
            let col = String::from_utf8_lossy(&valid[line_start..]).chars().count() + 1;
            return Err(error_at(path, Pos { line, col }, "the file is not valid UTF-8")
                .hint("save kilter.yaml as UTF-8"));
        }
    };
    let parsed = parse_full(path, &text)?;
    let (config, warnings) = (parsed.config.clone(), parsed.warnings.clone());
    Ok(ProjectFile { path: path.to_owned(), text, config, warnings, parsed: Arc::new(parsed) })
}

/// Parse the text of a project file. `path` is only used in messages. Returns the
/// settings and the warnings (unknown keys), in document order.
pub fn parse(path: &Utf8Path, text: &str) -> Result<(Config, Vec<String>), Exit> {
    let parsed = parse_full(path, text)?;
    Ok((parsed.config, parsed.warnings))
}

/// The tree and what it means.
#[derive(Debug)]
pub(crate) struct Parsed {
    tree: span::Tree,
    config: Config,
    warnings: Vec<String>,
}

fn parse_full(path: &Utf8Path, text: &str) -> Result<Parsed, Exit> {
    // A byte-order mark is no content; positions count from after it.
    let body = text.strip_prefix('\u{feff}').unwrap_or(text);
    let tree = span::parse(body).map_err(|problem| {
        let error = error_at(path, problem.pos, problem.message);
        match problem.hint {
            Some(hint) => error.hint(hint),
            None => error,
        }
    })?;
    let (config, warnings) = schema::config(path, &tree)?;
    Ok(Parsed { tree, config, warnings })
}
