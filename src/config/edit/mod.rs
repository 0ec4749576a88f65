//! Byte-preserving edits of kilter.yaml: the `cluster.stopped` flag and the `services:` list.
//!
//! Pure functions from text to text; the caller writes the result (atomically). Every edit
//! works on the byte ranges of the parsed nodes (see `span.rs`) and is then verified by
//! parsing its result: the YAML tree must be the same apart from what the edit is for,
//! otherwise the edit is refused and nothing is written. See the module docs of `config`
//! for the table of forms.
//!
//! - `flag.rs` — [`set_stopped`] and [`clear_stopped`]: each form of `cluster:`.
//! - `undo.rs` — [`Undo`]: what `set_stopped` replaced, to swap back exactly.
//! - `services.rs` — [`add_services`] and [`remove_services`].
//! - `verify.rs` — the re-parse after each edit, and what it compares.
//! - `refusal.rs` — why an edit is refused, aliases and anchors first.
//! - `writer.rs` — the byte-preserving writer: lines, the file's conventions, splices.

mod flag;
mod refusal;
mod services;
mod undo;
mod verify;
mod writer;

pub use flag::{clear_stopped, clear_stopped_in, set_stopped, set_stopped_in};
pub use services::{add_services, remove_services};
pub use undo::{Edited, Undo};

#[cfg(test)]
mod tests;
