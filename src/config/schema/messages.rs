//! How the walk reports a problem: an error at a node's `file:line:column`, a warning for an
//! unknown key with "did you mean", a type error naming what was found (with a hint to quote a
//! number or boolean), and the words for YAML values in these messages.

use std::fmt;

use super::walk::Walker;
use crate::config::error_at;
use crate::config::span::{Node, Scalar};
use crate::error::Exit;

impl Walker<'_> {
    pub(super) fn error(&self, at: &Node, message: impl fmt::Display) -> Exit {
        error_at(self.path, at.pos, message)
    }

    pub(super) fn unknown_key(&mut self, section: &[&str], key: &Node, candidates: &[&str]) {
        let repr = key.key_repr();
        let suggestion = suggest(&repr, candidates)
            .map(|c| format!(" (did you mean `{}`?)", dotted(section, c)))
            .unwrap_or_default();
        self.warnings.push(format!(
            "{}:{}: unknown key `{}`{suggestion}",
            self.path,
            key.pos.line,
            dotted(section, &repr)
        ));
    }

    pub(super) fn unknown_item_key(&self, field: &str, key: &Node, candidates: &[&str]) -> Exit {
        let repr = key.key_repr();
        let suggestion = suggest(&repr, candidates)
            .map(|c| format!(" (did you mean `{c}`?)"))
            .unwrap_or_default();
        let list: Vec<String> = candidates.iter().map(|c| format!("`{c}`")).collect();
        self.error(key, format_args!("{field}: unknown key `{repr}`{suggestion}"))
            .hint(format!("the keys here are {}", list.join(", ")))
    }

    /// "`field`: expected …, found …", with a hint to quote a number or boolean.
    pub(super) fn type_error(&self, field: &str, value: &Node, expected: &str) -> Exit {
        let node = self.tree.deref(value);
        let error = self
            .error(value, format_args!("{field}: expected {expected}, found {}", describe(node)));
        let last = field.rsplit(['.', ']']).next().unwrap_or(field);
        match (node.scalar(), node.text()) {
            (Some(Scalar::Number(_) | Scalar::Bool(_)), Some(text)) if expected == "a string" => {
                error.hint(format!("quote the value to make it a string: `{last}: \"{text}\"`"))
            }
            _ => error,
        }
    }
}

fn dotted(section: &[&str], key: &str) -> String {
    section.iter().copied().chain([key]).collect::<Vec<_>>().join(".")
}

/// How a YAML value is named in messages.
pub(crate) fn describe(node: &Node) -> String {
    match node.scalar() {
        Some(Scalar::Null) => "nothing (null)".to_owned(),
        Some(Scalar::Bool(b)) => format!("the boolean `{b}`"),
        Some(Scalar::Number(n)) => format!("the number {n}"),
        Some(Scalar::Str(s)) => format!("the string {s:?}"),
        Some(Scalar::Tagged(tag)) => format!("a value tagged `{tag}`"),
        None if node.items().is_some() => "a list".to_owned(),
        None if node.entries().is_some() => "a mapping".to_owned(),
        None => "an alias".to_owned(),
    }
}

/// "Did you mean": a case-insensitive match, else the closest candidate within
/// Levenshtein distance 2 (and closer than the word's own length, so that `db` does not
/// suggest `dev`). Ties go to the earlier candidate (kilter's own keys come first).
pub fn suggest<'c>(unknown: &str, candidates: &[&'c str]) -> Option<&'c str> {
    if let Some(exact) = candidates.iter().find(|c| c.eq_ignore_ascii_case(unknown)) {
        return Some(exact);
    }
    let lower = unknown.to_lowercase();
    let len = lower.chars().count();
    candidates
        .iter()
        .map(|c| (strsim::levenshtein(&lower, c), *c))
        .filter(|&(distance, _)| distance <= 2 && distance < len)
        .min_by_key(|&(distance, _)| distance)
        .map(|(_, c)| c)
}
