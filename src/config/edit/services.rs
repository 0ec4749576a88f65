//! `services:`: [`add_services`] (`kilter add`) and [`remove_services`] (`kilter remove`),
//! in the file's own style (block items indented like the others, or a `[…]` list).

use camino::Utf8Path;

use super::refusal::{Edit, Refusal, check_alias};
use super::verify::{first_verified, service_items, verify_services};
use super::writer::{
    Src, flow_removal, flow_tail, indent_unit, is_break, line_end, list_indent, splice, split_bom,
};
use crate::config::span::{Kind, Node, Tree, scalar_text};
use crate::config::{parse_full, suggest, validate_service_name};
use crate::error::{Exit, invalid};

const SERVICES_HINT: &str =
    "write `services:` as a list in block style, e.g.\n  services:\n    - postgres\n    - redis";

/// Append `names` to `services:` (creating the key if it is absent, null or empty), each as a
/// bare catalog name, in the file's own style: block items indented like the existing ones,
/// or flow items for a `[…]` list. Names already listed are skipped; nothing new: the text
/// comes back unchanged.
pub fn add_services<S: AsRef<str>>(
    path: &Utf8Path,
    text: &str,
    names: &[S],
) -> Result<String, Exit> {
    let old = parse_full(path, text)?;
    let mut added: Vec<String> = Vec::new();
    for name in names.iter().map(AsRef::as_ref) {
        validate_service_name(name)?;
        if !old.config.services.iter().any(|s| s.name.value == name)
            && !added.iter().any(|a| a == name)
        {
            added.push(name.to_owned());
        }
    }
    if added.is_empty() {
        return Ok(text.to_owned());
    }
    let (bom, body) = split_bom(text);
    let candidates = add_items(&Src::new(body), &old.tree, &added)
        .map_err(|r| r.exit(path, "services", SERVICES_HINT))?;
    let kept: Vec<&Node> = service_items(&old.tree);
    first_verified(candidates, bom, |new| verify_services(path, &old, new, &kept, &added))
}

/// Remove the items of `services:` named `names` (a bare name or a mapping's `name`), with
/// their lines; everything else stays. A name that is not listed is an error naming those
/// that are.
pub fn remove_services<S: AsRef<str>>(
    path: &Utf8Path,
    text: &str,
    names: &[S],
) -> Result<String, Exit> {
    let old = parse_full(path, text)?;
    let listed: Vec<&str> = old.config.services.iter().map(|s| s.name.value.as_str()).collect();
    for name in names.iter().map(AsRef::as_ref) {
        if !listed.contains(&name) {
            let what = if listed.is_empty() {
                "it lists no services".to_owned()
            } else {
                format!(
                    "it lists {}",
                    listed.iter().map(|n| format!("`{n}`")).collect::<Vec<_>>().join(", ")
                )
            };
            let error = invalid(format!(
                "cannot remove `{name}`: it is not under `services:` in {path} ({what})"
            ));
            return Err(match suggest(name, &listed) {
                Some(close) => error.hint(format!("did you mean `{close}`?")),
                None => error,
            });
        }
    }
    let removed: Vec<&str> = names.iter().map(AsRef::as_ref).collect();
    let mut current = text.to_owned();
    for name in &removed {
        let parsed = parse_full(path, &current)?;
        let (bom, body) = split_bom(&current);
        let Some(index) = parsed.config.services.iter().position(|s| s.name.value == *name) else {
            continue;
        };
        let edited = remove_item(&Src::new(body), &parsed.tree, index)
            .map_err(|r| r.exit(path, "services", SERVICES_HINT))?;
        current = format!("{bom}{edited}");
    }
    let kept: Vec<&Node> = service_items(&old.tree)
        .into_iter()
        .zip(&old.config.services)
        .filter(|(_, s)| !removed.contains(&s.name.value.as_str()))
        .map(|(node, _)| node)
        .collect();
    first_verified(vec![current], "", |new| verify_services(path, &old, new, &kept, &[]))
}

/// Candidate bodies with `names` appended to `services:`, best first.
fn add_items(src: &Src<'_>, tree: &Tree, names: &[String]) -> Edit<Vec<String>> {
    let text = src.text;
    let words: Vec<String> = names.iter().map(|n| scalar_text(n)).collect();
    let flow_list = words.join(", ");
    let unit = indent_unit(tree);
    let dash = " ".repeat(list_indent(src, tree, unit));
    let items: Vec<String> = words.iter().map(|w| format!("- {w}")).collect();
    let Some(root) = tree.root.as_ref().filter(|r| !r.is_null()) else {
        let lines: Vec<String> = ["services:".to_owned()]
            .into_iter()
            .chain(items.iter().map(|i| format!("{dash}{i}")))
            .collect();
        return Ok(vec![src.append(tree, &lines)]);
    };
    let Some((key, value)) = root.get("services") else {
        if root.is_flow() {
            let (at, empty) = flow_tail(src, root);
            let comma = if empty { "" } else { ", " };
            return Ok(vec![splice(text, at, at, &format!("{comma}services: [{flow_list}]"))]);
        }
        let (first, _) = root
            .entries()
            .and_then(<[_]>::first)
            .ok_or_else(|| Refusal::new("the top level is no mapping"))?;
        let indent = src.indent_of(first.start, &first.key_repr())?;
        let lines: Vec<String> = [format!("{indent}services:")]
            .into_iter()
            .chain(items.iter().map(|i| format!("{indent}{dash}{i}")))
            .collect();
        let mut candidates = vec![src.append(tree, &lines)];
        candidates.extend(src.insert_before_last_key(root, indent, &lines));
        return Ok(candidates);
    };
    check_alias(src, tree, "services", value)?;
    let new = match &value.kind {
        Kind::Scalar { .. } if value.is_null() && root.is_flow() => {
            if value.start == value.end {
                let at = src.colon_after(key)? + 1;
                splice(text, at, at, &format!(" [{flow_list}]"))
            } else {
                splice(text, value.start, value.end, &format!("[{flow_list}]"))
            }
        }
        Kind::Scalar { .. } if value.is_null() => {
            let indent = format!("{}{dash}", src.indent_of(key.start, "services")?);
            src.null_to_block(key, value, &indent, &items)?
        }
        Kind::Seq { flow: true, .. } => {
            let (at, empty) = flow_tail(src, value);
            splice(text, at, at, &format!("{}{flow_list}", if empty { "" } else { ", " }))
        }
        Kind::Seq { items: existing, flow: false } => {
            let first = existing.first().ok_or_else(|| Refusal::new("`services` is empty"))?;
            let indent = src.indent_of(src.dash_of(first)?, "-")?;
            let last = existing.last().map_or(value.end, |i| i.end);
            if text[..last].ends_with(is_break) {
                let block: String =
                    items.iter().map(|i| format!("{indent}{i}{}", src.eol)).collect();
                splice(text, last, last, &block)
            } else if src.rest_is_trivia(last) {
                let at = line_end(text, last);
                let block: String =
                    items.iter().map(|i| format!("{}{indent}{i}", src.eol)).collect();
                splice(text, at, at, &block)
            } else {
                return Err(Refusal::new("something else follows the last service on its line"));
            }
        }
        _ => {
            return Err(Refusal::new(format!(
                "line {}: unexpected value after `services:`",
                value.pos.line
            )));
        }
    };
    Ok(vec![new])
}

/// The body without item `index` of `services:`.
fn remove_item(src: &Src<'_>, tree: &Tree, index: usize) -> Edit<String> {
    let text = src.text;
    let root = tree.root.as_ref().ok_or_else(|| Refusal::new("the file is empty"))?;
    let (_, value) = root.get("services").ok_or_else(|| Refusal::new("no `services:` key"))?;
    check_alias(src, tree, "services", value)?;
    let items = value.items().ok_or_else(|| Refusal::new("`services` is not a list"))?;
    let item = &items[index];
    if let Kind::Alias(_) = item.kind {
        return Err(Refusal::new(format!("line {}: the service is an alias", item.pos.line)));
    }
    let (start, end) = if value.is_flow() {
        flow_removal(src, value, index)?
    } else {
        let dash = src.dash_of(item)?;
        src.indent_of(dash, "-")?;
        src.whole_lines(dash, item.end)?
    };
    Ok(splice(text, start, end, ""))
}
