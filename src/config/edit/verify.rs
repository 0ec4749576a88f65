//! The check after every edit: the result is parsed again and its YAML tree must equal the
//! old one apart from what the edit is for; otherwise the edit is refused and nothing is
//! written.

use camino::Utf8Path;

use crate::config::span::{Kind, Node, Tree};
use crate::config::{Parsed, parse_full};
use crate::error::{Exit, invalid};

/// The first candidate (a body; the BOM goes back in front) that `verify` accepts; the
/// first one's error otherwise.
pub(super) fn first_verified(
    candidates: Vec<String>,
    bom: &str,
    verify: impl Fn(&str) -> Result<(), Exit>,
) -> Result<String, Exit> {
    let mut first_error = None;
    for candidate in candidates {
        let text = format!("{bom}{candidate}");
        match verify(&text) {
            Ok(()) => return Ok(text),
            Err(err) => {
                first_error.get_or_insert(err);
            }
        }
    }
    Err(first_error.unwrap_or_else(|| invalid("no edit to verify")))
}

pub(super) fn refused(path: &Utf8Path, what: &str) -> Exit {
    invalid(format!("refusing to edit {path}: the edit would change other settings"))
        .hint(format!("edit `{what}` by hand (and please report this kilter bug)"))
}

/// The new text has the flag as asked and the same tree otherwise.
pub(super) fn verify_flag(
    path: &Utf8Path,
    old: &Parsed,
    new_text: &str,
    stopped: bool,
) -> Result<(), Exit> {
    let new = parse_full(path, new_text).map_err(|_err| refused(path, "cluster.stopped"))?;
    let same = match (without_flag(&old.tree), without_flag(&new.tree)) {
        (None, None) => true,
        (Some(a), Some(b)) => a.same(&b),
        _ => false,
    };
    if new.config.cluster.stopped != stopped || !same {
        return Err(refused(path, "cluster.stopped"));
    }
    Ok(())
}

/// The root without `cluster.stopped`, without a `cluster` left empty or null, and `None`
/// for an empty document or a mapping left empty.
pub(super) fn without_flag(tree: &Tree) -> Option<Node> {
    let mut root = tree.root.clone().filter(|r| !r.is_null())?;
    if let Kind::Map { entries, .. } = &mut root.kind {
        entries.retain_mut(|(key, value)| {
            if !key.is_key("cluster") {
                return true;
            }
            if let Kind::Map { entries: inner, .. } = &mut value.kind {
                inner.retain(|(k, _)| !k.is_key("stopped"));
                return !inner.is_empty();
            }
            !value.is_null()
        });
        if entries.is_empty() {
            return None;
        }
    }
    Some(root)
}

/// The items of `services:` (aliases resolved).
pub(super) fn service_items(tree: &Tree) -> Vec<&Node> {
    let Some(root) = &tree.root else { return Vec::new() };
    let Some((_, value)) = root.get("services") else { return Vec::new() };
    tree.deref(value)
        .items()
        .map(|items| items.iter().map(|i| tree.deref(i)).collect())
        .unwrap_or_default()
}

/// The new text lists `kept` (unchanged) then `added` (bare names), and has the same tree
/// apart from `services:`.
pub(super) fn verify_services(
    path: &Utf8Path,
    old: &Parsed,
    new_text: &str,
    kept: &[&Node],
    added: &[String],
) -> Result<(), Exit> {
    let new = parse_full(path, new_text).map_err(|_err| refused(path, "services"))?;
    let items = service_items(&new.tree);
    let listed = items.len() == kept.len() + added.len()
        && kept.iter().zip(&items).all(|(a, b)| a.same(b))
        && added.iter().zip(&items[kept.len()..]).all(|(name, b)| b.text() == Some(name));
    let others = |tree: &Tree| -> Option<Node> {
        let mut root = tree.root.clone().filter(|r| !r.is_null())?;
        if let Kind::Map { entries, .. } = &mut root.kind {
            entries.retain(|(k, _)| !k.is_key("services"));
        }
        Some(root).filter(|r| r.entries().is_none_or(|e| !e.is_empty()))
    };
    let same = match (others(&old.tree), others(&new.tree)) {
        (None, None) => true,
        (Some(a), Some(b)) => a.same(&b),
        _ => false,
    };
    if !listed || !same {
        return Err(refused(path, "services"));
    }
    Ok(())
}
