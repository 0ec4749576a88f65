//! The `cluster.stopped` flag: [`set_stopped`] (`kilter stop`) and [`clear_stopped`]
//! (`kilter up`), and the candidate texts each form of `cluster:` gives (the table in the
//! module docs of `config`).

use camino::Utf8Path;

use super::refusal::{Edit, Refusal, check_alias};
use super::undo::{Edited, Undo};
use super::verify::{first_verified, verify_flag};
use super::writer::{
    Src, flow_removal, flow_tail, indent_unit, is_break, line_end, line_start, next_line, splice,
    split_bom,
};
use crate::config::span::{Kind, Node, Tree};
use crate::config::{Parsed, ProjectFile, parse_full};
use crate::error::Exit;

const FLAG_HINT: &str =
    "write the `cluster:` section in block style, e.g.\n  cluster:\n    stopped: true";

/// Set `cluster.stopped: true`. Every other byte (comments, blank lines, key order, quoting,
/// line breaks, a missing final newline) is kept, and the result is verified to parse to the
/// same YAML tree plus the flag. Already set: the text comes back unchanged (with an undo
/// that changes nothing).
pub fn set_stopped(path: &Utf8Path, text: &str) -> Result<Edited, Exit> {
    set_stopped_on(path, text, &parse_full(path, text)?)
}

/// [`set_stopped`] on the file as it was loaded (its tree already parsed).
pub fn set_stopped_in(file: &ProjectFile) -> Result<Edited, Exit> {
    set_stopped_on(&file.path, &file.text, &file.parsed)
}

fn set_stopped_on(path: &Utf8Path, text: &str, old: &Parsed) -> Result<Edited, Exit> {
    if old.config.cluster.stopped {
        return Ok(Edited { text: text.to_owned(), undo: Undo::between(text, text) });
    }
    let (bom, body) = split_bom(text);
    let candidates = set_flag(&Src::new(body), &old.tree)
        .map_err(|r| r.exit(path, "cluster.stopped", FLAG_HINT))?;
    let new_text = first_verified(candidates, bom, |new| verify_flag(path, old, new, true))?;
    Ok(Edited { undo: Undo::between(text, &new_text), text: new_text })
}

/// Remove `cluster.stopped`. With the [`Undo`] of the [`set_stopped`] that wrote it, and if
/// its bytes are still there and swapping them back parses to the same tree minus the flag,
/// the result is byte for byte the file before `set_stopped`. Otherwise the flag's line goes
/// (and a `cluster:` key left with nothing under it: no other key, comment, anchor or tag).
/// No flag set (absent, `false` or null): the text comes back unchanged.
pub fn clear_stopped(path: &Utf8Path, text: &str, undo: Option<&Undo>) -> Result<String, Exit> {
    clear_stopped_on(path, text, &parse_full(path, text)?, undo)
}

/// [`clear_stopped`] on the file as it was loaded (its tree already parsed).
pub fn clear_stopped_in(file: &ProjectFile, undo: Option<&Undo>) -> Result<String, Exit> {
    clear_stopped_on(&file.path, &file.text, &file.parsed, undo)
}

fn clear_stopped_on(
    path: &Utf8Path,
    text: &str,
    current: &Parsed,
    undo: Option<&Undo>,
) -> Result<String, Exit> {
    if !current.config.cluster.stopped {
        return Ok(text.to_owned());
    }
    if let Some(restored) = undo.and_then(|u| u.apply(text))
        && verify_flag(path, current, &restored, false).is_ok()
    {
        return Ok(restored);
    }
    let (bom, body) = split_bom(text);
    let candidate = clear_flag(&Src::new(body), &current.tree)
        .map_err(|r| r.exit(path, "cluster.stopped", FLAG_HINT))?;
    first_verified(vec![candidate], bom, |new| verify_flag(path, current, new, false))
}

/// Candidate bodies with the flag set, best first.
fn set_flag(src: &Src<'_>, tree: &Tree) -> Edit<Vec<String>> {
    let unit = " ".repeat(indent_unit(tree));
    let Some(root) = tree.root.as_ref().filter(|r| !r.is_null()) else {
        let lines = ["cluster:".to_owned(), format!("{unit}stopped: true")];
        return Ok(vec![src.append(tree, &lines)]);
    };
    let Some((key, value)) = root.get("cluster") else {
        if root.is_flow() {
            let (at, empty) = flow_tail(src, root);
            let new = if empty { "cluster: {stopped: true}" } else { ", cluster: {stopped: true}" };
            return Ok(vec![splice(src.text, at, at, new)]);
        }
        let (first, _) = root
            .entries()
            .and_then(<[_]>::first)
            .ok_or_else(|| Refusal::new("the top level is no mapping"))?;
        let indent = src.indent_of(first.start, &first.key_repr())?;
        let lines = [format!("{indent}cluster:"), format!("{indent}{unit}stopped: true")];
        let mut candidates = vec![src.append(tree, &lines)];
        candidates.extend(src.insert_before_last_key(root, indent, &lines));
        return Ok(candidates);
    };
    check_alias(src, tree, "cluster", value)?;
    let text = src.text;
    let set = match &value.kind {
        _ if root.is_flow() => return set_in_flow_parent(src, tree, key, value).map(|t| vec![t]),
        Kind::Scalar { .. } if value.is_null() => {
            let indent = format!("{}{unit}", src.indent_of(key.start, "cluster")?);
            src.null_to_block(key, value, &indent, &["stopped: true".to_owned()])?
        }
        Kind::Map { entries, flow: true } if entries.is_empty() => {
            let indent = format!("{}{unit}", src.indent_of(key.start, "cluster")?);
            src.null_to_block(key, value, &indent, &["stopped: true".to_owned()])?
        }
        Kind::Map { flow: true, .. } => set_in_flow(src, tree, value)?,
        Kind::Map { entries, flow: false } => match (value.get("stopped"), entries.first()) {
            (Some((_, stopped)), _) => set_value(src, tree, stopped)?,
            (None, None) => return Err(Refusal::new("`cluster:` is an empty block")),
            (None, Some((first, _))) => {
                let indent = src.indent_of(first.start, &first.key_repr())?;
                let key_indent = src.indent_of(key.start, "cluster")?;
                if first.pos.line <= key.pos.line || indent.len() <= key_indent.len() {
                    return Err(Refusal::new(format!(
                        "line {}: unexpected layout of the `cluster:` block",
                        first.pos.line
                    )));
                }
                let at = next_line(text, key.end);
                splice(text, at, at, &format!("{indent}stopped: true{}", src.eol))
            }
        },
        _ => {
            return Err(Refusal::new(format!(
                "line {}: unexpected value after `cluster:`",
                value.pos.line
            )));
        }
    };
    Ok(vec![set])
}

/// `stopped:` (null or false) becomes `stopped: true`.
fn set_value(src: &Src<'_>, tree: &Tree, stopped: &Node) -> Edit<String> {
    check_alias(src, tree, "cluster.stopped", stopped)?;
    if stopped.start == stopped.end {
        return Ok(splice(src.text, stopped.start, stopped.start, " true"));
    }
    Ok(src.replace_token(stopped.start, stopped.end, "true"))
}

/// A flow `cluster: {…}`: `stopped: true` goes first, or replaces `stopped`'s value.
fn set_in_flow(src: &Src<'_>, tree: &Tree, cluster: &Node) -> Edit<String> {
    if let Some((_, stopped)) = cluster.get("stopped") {
        return set_value(src, tree, stopped);
    }
    Ok(match cluster.entries().and_then(<[_]>::first) {
        Some((first, _)) => splice(src.text, first.start, first.start, "stopped: true, "),
        None => {
            let (at, _) = flow_tail(src, cluster);
            splice(src.text, at, at, "stopped: true")
        }
    })
}

/// `cluster:` inside a flow top level (`{name: x, cluster: …}`): stays in flow style.
fn set_in_flow_parent(src: &Src<'_>, tree: &Tree, key: &Node, value: &Node) -> Edit<String> {
    match &value.kind {
        Kind::Scalar { .. } if value.is_null() && value.start == value.end => {
            let at = src.colon_after(key)? + 1;
            Ok(splice(src.text, at, at, " {stopped: true}"))
        }
        Kind::Scalar { .. } if value.is_null() => {
            Ok(splice(src.text, value.start, value.end, "{stopped: true}"))
        }
        Kind::Map { flow: true, .. } => set_in_flow(src, tree, value),
        _ => Err(Refusal::new("unexpected value after `cluster:`")),
    }
}

/// The body without `stopped: true` (and without a `cluster:` left with nothing under it).
fn clear_flag(src: &Src<'_>, tree: &Tree) -> Edit<String> {
    let text = src.text;
    let root = tree.root.as_ref().ok_or_else(|| Refusal::new("the file is empty"))?;
    let (key, cluster) = root.get("cluster").ok_or_else(|| Refusal::new("no `cluster:` key"))?;
    check_alias(src, tree, "cluster", cluster)?;
    let entries = cluster.entries().ok_or_else(|| Refusal::new("`cluster` is not a mapping"))?;
    let index = entries
        .iter()
        .position(|(k, _)| k.is_key("stopped"))
        .ok_or_else(|| Refusal::new("no `stopped` key"))?;
    let (stopped_key, stopped) = &entries[index];
    check_alias(src, tree, "cluster.stopped", stopped)?;
    if root.is_flow() {
        let (start, end) = if entries.len() == 1 {
            let at = root
                .entries()
                .and_then(|e| e.iter().position(|(k, _)| k.is_key("cluster")))
                .unwrap_or(0);
            flow_removal(src, root, at)?
        } else {
            flow_removal(src, cluster, index)?
        };
        return Ok(splice(text, start, end, ""));
    }
    if cluster.is_flow() {
        let (start, end) = flow_removal(src, cluster, index)?;
        return Ok(splice(text, start, end, ""));
    }
    let indent = src.indent_of(stopped_key.start, "stopped")?;
    let (mut start, end) = src.whole_lines(stopped_key.start, stopped_key.end.max(stopped.end))?;
    let key_indent = src.indent_of(key.start, "cluster")?;
    let colon = src.colon_after(key)?;
    let bare_key = text[colon + 1..line_end(text, colon)].trim().is_empty();
    if entries.len() == 1 && bare_key && indent.len() > key_indent.len() {
        let between = &text[next_line(text, colon)..line_start(text, stopped_key.start)];
        let after = text[end..].split(is_break).find(|l| !l.trim().is_empty());
        let deeper = after.is_some_and(|l| l.len() - l.trim_start().len() > key_indent.len());
        if between.trim().is_empty() && !deeper {
            start = src.whole_lines(key.start, stopped_key.end.max(stopped.end))?.0;
        }
    }
    Ok(splice(text, start, end, ""))
}
