//! Why an edit cannot be made: a [`Refusal`] with its reason and what to write instead, and
//! the one refusal every edit shares — a node written as an alias, or one an alias uses.

use camino::Utf8Path;

use super::writer::{Src, line_end};
use crate::config::span::{Kind, Node, Tree};
use crate::error::{Exit, invalid};

/// Why an edit cannot be made, and what to write instead (else the editor's default hint).
pub(super) struct Refusal {
    pub(super) reason: String,
    pub(super) hint: Option<String>,
}

impl Refusal {
    pub(super) fn new(reason: impl Into<String>) -> Self {
        Refusal { reason: reason.into(), hint: None }
    }

    pub(super) fn exit(self, path: &Utf8Path, what: &str, default_hint: &str) -> Exit {
        invalid(format!("cannot edit `{what}` in {path}: {}", self.reason))
            .hint(self.hint.unwrap_or_else(|| default_hint.to_owned()))
    }
}

pub(super) type Edit<T> = Result<T, Refusal>;

/// Refuse to edit a node written as an alias, or one whose anchor an alias uses: the edit
/// would reach (or miss) the other place.
pub(super) fn check_alias(src: &Src<'_>, tree: &Tree, what: &str, value: &Node) -> Edit<()> {
    if let Kind::Alias(_) = value.kind {
        let alias = &src.text[value.start..value.end];
        return Err(Refusal {
            reason: format!(
                "`{what}` is an alias (`{alias}`) of a node written elsewhere, which kilter will not change"
            ),
            hint: Some(format!("write `{what}` out in full instead of `{alias}`")),
        });
    }
    if value.anchor != 0
        && let Some((_, pos)) = tree.aliases.iter().find(|(id, _)| *id == value.anchor)
    {
        let line = &src.text[value.start..line_end(src.text, value.start)];
        let anchor = line.split_whitespace().find(|t| t.starts_with('&')).unwrap_or("&…");
        return Err(Refusal {
            reason: format!(
                "`{what}` carries the anchor `{anchor}`, which line {} uses: changing `{what}` would change that line too",
                pos.line
            ),
            hint: Some(format!(
                "give line {} its own copy instead of the alias, then run kilter again",
                pos.line
            )),
        });
    }
    Ok(())
}
