//! Byte-preserving edits of kilter.yaml: the `cluster.stopped` flag and the `services:` list.
//!
//! Pure functions from text to text; the caller writes the result (atomically). Every edit
//! works on the byte ranges of the parsed nodes (see `span.rs`) and is then verified by
//! parsing its result: the YAML tree must be the same apart from what the edit is for,
//! otherwise the edit is refused and nothing is written. See the module docs of `config`
//! for the table of forms.

use camino::Utf8Path;
use serde::{Deserialize, Serialize};

use super::span::{Kind, Node, Tree, scalar_text};
use super::{Parsed, ProjectFile, parse_full, suggest, validate_service_name};
use crate::error::{Exit, invalid};

const FLAG_HINT: &str =
    "write the `cluster:` section in block style, e.g.\n  cluster:\n    stopped: true";
const SERVICES_HINT: &str =
    "write `services:` as a list in block style, e.g.\n  services:\n    - postgres\n    - redis";

/// The text with `cluster.stopped: true`, and how to take exactly that back.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Edited {
    pub text: String,
    pub undo: Undo,
}

/// What [`set_stopped`] replaced: at byte `offset` of the edited text, `new` stands where
/// `old` stood. `before` and `after` are the rest of the line around `new` (in the edited
/// text), to find `new` again if other edits moved it. Small enough to keep in a runtime
/// file between `kilter stop` and `kilter up`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Undo {
    pub offset: usize,
    pub old: String,
    pub new: String,
    pub before: String,
    pub after: String,
}

impl Undo {
    /// The one contiguous replacement that turns `old_text` into `new_text`.
    fn between(old_text: &str, new_text: &str) -> Undo {
        let (a, b) = (old_text.as_bytes(), new_text.as_bytes());
        let mut prefix = a.iter().zip(b).take_while(|(x, y)| x == y).count();
        while !old_text.is_char_boundary(prefix) || !new_text.is_char_boundary(prefix) {
            prefix -= 1;
        }
        let room = a.len().min(b.len()) - prefix;
        let mut suffix =
            a.iter().rev().zip(b.iter().rev()).take(room).take_while(|(x, y)| x == y).count();
        while !old_text.is_char_boundary(a.len() - suffix)
            || !new_text.is_char_boundary(b.len() - suffix)
        {
            suffix -= 1;
        }
        let new_end = b.len() - suffix;
        Undo {
            offset: prefix,
            old: old_text[prefix..a.len() - suffix].to_owned(),
            new: new_text[prefix..new_end].to_owned(),
            before: new_text[line_start(new_text, prefix)..prefix].to_owned(),
            after: new_text[new_end..line_end(new_text, new_end)].to_owned(),
        }
    }

    /// `text` with `new` swapped back for `old`: where it was put, or else where
    /// `before`+`new`+`after` occurs exactly once. `None` if it is nowhere to be found.
    fn apply(&self, text: &str) -> Option<String> {
        if self.old == self.new {
            return None;
        }
        let fits = |at: usize| {
            text.get(at..).is_some_and(|rest| rest.starts_with(&self.new))
                && text.get(..at).is_some_and(|head| head.ends_with(&self.before))
                && text.get(at + self.new.len()..).is_some_and(|tail| tail.starts_with(&self.after))
        };
        let at = if fits(self.offset) {
            self.offset
        } else {
            let needle = format!("{}{}{}", self.before, self.new, self.after);
            let mut found = text.match_indices(&needle).map(|(i, _)| i + self.before.len());
            match (found.next(), found.next()) {
                (Some(at), None) => at,
                _ => return None,
            }
        };
        Some(format!("{}{}{}", &text[..at], self.old, &text[at + self.new.len()..]))
    }
}

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

// ---------------------------------------------------------------------------------------
// Verification
// ---------------------------------------------------------------------------------------

fn split_bom(text: &str) -> (&'static str, &str) {
    match text.strip_prefix('\u{feff}') {
        Some(body) => ("\u{feff}", body),
        None => ("", text),
    }
}

/// The first candidate (a body; the BOM goes back in front) that `verify` accepts; the
/// first one's error otherwise.
fn first_verified(
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

fn refused(path: &Utf8Path, what: &str) -> Exit {
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
fn service_items(tree: &Tree) -> Vec<&Node> {
    let Some(root) = &tree.root else { return Vec::new() };
    let Some((_, value)) = root.get("services") else { return Vec::new() };
    tree.deref(value)
        .items()
        .map(|items| items.iter().map(|i| tree.deref(i)).collect())
        .unwrap_or_default()
}

/// The new text lists `kept` (unchanged) then `added` (bare names), and has the same tree
/// apart from `services:`.
fn verify_services(
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

// ---------------------------------------------------------------------------------------
// The text around the nodes
// ---------------------------------------------------------------------------------------

/// Why an edit cannot be made, and what to write instead (else the editor's default hint).
struct Refusal {
    reason: String,
    hint: Option<String>,
}

impl Refusal {
    fn new(reason: impl Into<String>) -> Self {
        Refusal { reason: reason.into(), hint: None }
    }

    fn exit(self, path: &Utf8Path, what: &str, default_hint: &str) -> Exit {
        invalid(format!("cannot edit `{what}` in {path}: {}", self.reason))
            .hint(self.hint.unwrap_or_else(|| default_hint.to_owned()))
    }
}

type Edit<T> = Result<T, Refusal>;

fn is_break(c: char) -> bool {
    c == '\n' || c == '\r'
}

/// Start of the line holding byte `at` (`\n`, `\r\n` and a lone `\r` end lines, as in YAML).
fn line_start(text: &str, at: usize) -> usize {
    text[..at].rfind(is_break).map_or(0, |i| i + 1)
}

/// End of the content of the line holding byte `at` (before its line break).
fn line_end(text: &str, at: usize) -> usize {
    text[at..].find(is_break).map_or(text.len(), |i| at + i)
}

/// Start of the next line (after the line break), or the end of the text.
fn next_line(text: &str, at: usize) -> usize {
    let end = line_end(text, at);
    match &text[end..] {
        rest if rest.starts_with("\r\n") => end + 2,
        "" => end,
        _ => end + 1,
    }
}

/// `at` (a line start) moved back over the line break before it.
fn before_break(text: &str, at: usize) -> usize {
    let head = &text[..at];
    head.strip_suffix("\r\n").or_else(|| head.strip_suffix(is_break)).unwrap_or(head).len()
}

/// The body of the file (no BOM) and the layout conventions read off it.
struct Src<'a> {
    text: &'a str,
    /// The line break new lines get: the file's first one (`\n` if it has none).
    eol: &'static str,
}

impl<'a> Src<'a> {
    fn new(text: &'a str) -> Self {
        let eol = match text.find(is_break).map(|i| &text[i..]) {
            Some(rest) if rest.starts_with("\r\n") => "\r\n",
            Some(rest) if rest.starts_with('\r') => "\r",
            _ => "\n",
        };
        Src { text, eol }
    }

    /// The spaces before `at`, which must be all there is before it on its line.
    fn indent_of(&self, at: usize, what: &str) -> Edit<&'a str> {
        let indent = &self.text[line_start(self.text, at)..at];
        if indent.bytes().all(|b| b == b' ') {
            Ok(indent)
        } else {
            Err(Refusal::new(format!("`{what}` does not start its line")))
        }
    }

    /// Byte offset of the `:` after a key.
    fn colon_after(&self, key: &Node) -> Edit<usize> {
        let rest = &self.text[key.end..];
        let gap = rest.len() - rest.trim_start_matches([' ', '\t']).len();
        if rest[gap..].starts_with(':') {
            Ok(key.end + gap)
        } else {
            Err(Refusal::new(format!("no `:` right after the key `{}`", key.key_repr())))
        }
    }

    /// Whether only blanks and a comment follow `at` on its line.
    fn rest_is_trivia(&self, at: usize) -> bool {
        let rest = self.text[at..line_end(self.text, at)].trim_start();
        rest.is_empty() || rest.starts_with('#')
    }

    /// `start..end` widened to whole lines: from the start of `start`'s line to past the line
    /// break of `end`'s line (`end` already at a line start stays). A range that runs to the
    /// end of a text without a final line break takes the line break before it instead, so
    /// that the text still ends without one.
    fn whole_lines(&self, start: usize, end: usize) -> Edit<(usize, usize)> {
        let at_line_start = end > 0 && self.text[..end].ends_with(is_break);
        let end = if at_line_start {
            end
        } else if self.rest_is_trivia(end) {
            next_line(self.text, end)
        } else {
            return Err(Refusal::new("something else follows on the same line"));
        };
        let mut start = line_start(self.text, start);
        if end == self.text.len() && !self.text.ends_with(is_break) {
            start = before_break(self.text, start);
        }
        Ok((start, end))
    }

    /// Replace a value token by `new`, keeping a trailing comment in its column when the
    /// blanks allow it.
    fn replace_token(&self, start: usize, end: usize, new: &str) -> String {
        let rest = &self.text[end..line_end(self.text, end)];
        let blanks = rest.len() - rest.trim_start_matches(' ').len();
        let (end, pad) = if blanks > 0 && rest[blanks..].starts_with('#') {
            let width = blanks + self.text[start..end].chars().count();
            (end + blanks, " ".repeat(width.saturating_sub(new.len()).max(1)))
        } else {
            (end, String::new())
        };
        splice(self.text, start, end, &format!("{new}{pad}"))
    }

    /// `lines` appended as the document's last lines (before a final `...`).
    fn append(&self, tree: &Tree, lines: &[String]) -> String {
        let (text, eol) = (self.text, self.eol);
        let block = lines.join(eol);
        if let Some(end) = tree.doc_end {
            return splice(
                text,
                line_start(text, end),
                line_start(text, end),
                &format!("{block}{eol}"),
            );
        }
        if text.is_empty() || text.ends_with(is_break) {
            format!("{text}{block}{eol}")
        } else {
            format!("{text}{eol}{block}")
        }
    }

    /// `lines` inserted before the last top-level key and the comment lines right above it:
    /// for a file without a final newline that ends in a block scalar, where appending would
    /// change the scalar.
    fn insert_before_last_key(
        &self,
        root: &Node,
        indent: &str,
        lines: &[String],
    ) -> Option<String> {
        let (last, _) = root.entries()?.last()?;
        if self.indent_of(last.start, "").ok()? != indent {
            return None;
        }
        let mut at = line_start(self.text, last.start);
        while at > 0 {
            let end = before_break(self.text, at);
            let above = line_start(self.text, end);
            let content = &self.text[above..end];
            if !(content.starts_with(indent) && content[indent.len()..].starts_with('#')) {
                break;
            }
            at = above;
        }
        Some(splice(self.text, at, at, &format!("{}{}", lines.join(self.eol), self.eol)))
    }

    /// A null or `{}`/`[]` value of a block mapping key becomes the block `children`
    /// (indented by `indent`), right under the key; a comment after the value stays.
    fn null_to_block(
        &self,
        key: &Node,
        value: &Node,
        indent: &str,
        children: &[String],
    ) -> Edit<String> {
        let (text, eol) = (self.text, self.eol);
        let colon = self.colon_after(key)?;
        let block: String = children.iter().map(|c| format!("{eol}{indent}{c}")).collect();
        let end = value.end.max(colon + 1);
        if line_start(text, end) != line_start(text, key.start) {
            // The value sits on a later line (`cluster:\n  ~`): replace it, unless a
            // comment is in the way.
            if text[colon + 1..value.start].contains('#') {
                return Err(Refusal::new(format!(
                    "a comment sits between `{}:` and its value",
                    key.key_repr()
                )));
            }
            if !self.rest_is_trivia(end) {
                return Err(Refusal::new("something else follows the value on its line"));
            }
            return Ok(splice(text, colon + 1, end, &block));
        }
        if !self.rest_is_trivia(end) {
            return Err(Refusal::new(format!(
                "something else follows `{}:` on its line",
                key.key_repr()
            )));
        }
        let eol_at = line_end(text, end);
        Ok(format!("{}{}{block}{}", &text[..=colon], &text[end..eol_at], &text[eol_at..]))
    }
}

fn splice(text: &str, start: usize, end: usize, new: &str) -> String {
    format!("{}{new}{}", &text[..start], &text[end..])
}

/// The span of each child of a collection: a sequence item, or a mapping entry from its key
/// to the end of its value.
fn child_spans(node: &Node) -> Vec<(usize, usize)> {
    match &node.kind {
        Kind::Seq { items, .. } => items.iter().map(|i| (i.start, i.end)).collect(),
        Kind::Map { entries, .. } => {
            entries.iter().map(|(k, v)| (k.start, k.end.max(v.end))).collect()
        }
        _ => Vec::new(),
    }
}

/// The byte range to cut to remove child `index` of a flow collection with its comma.
fn flow_removal(src: &Src<'_>, node: &Node, index: usize) -> Edit<(usize, usize)> {
    let spans = child_spans(node);
    let (start, end) = spans[index];
    let range = if spans.len() == 1 {
        let open = node.start + src.text[node.start..].find(['{', '[']).unwrap_or(0);
        (open + 1, node.end - 1)
    } else if let Some(&(next, _)) = spans.get(index + 1) {
        (start, next)
    } else {
        (spans[index - 1].1, end)
    };
    let around = format!(
        "{}{}",
        &src.text[range.0..start.max(range.0)],
        &src.text[end.min(range.1)..range.1]
    );
    if around.contains('#') {
        return Err(Refusal::new("a comment sits inside the part to remove"));
    }
    Ok(range)
}

/// The position just past the last child of a flow collection (or its `{`/`[` if empty),
/// where `, x` (or `x`) is inserted.
fn flow_tail(src: &Src<'_>, node: &Node) -> (usize, bool) {
    match child_spans(node).last() {
        Some(&(_, end)) => (end, false),
        None => (node.start + src.text[node.start..].find(['{', '[']).map_or(0, |i| i + 1), true),
    }
}

/// Refuse to edit a node written as an alias, or one whose anchor an alias uses: the edit
/// would reach (or miss) the other place.
fn check_alias(src: &Src<'_>, tree: &Tree, what: &str, value: &Node) -> Edit<()> {
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

/// The file's indentation step for nested block mappings: the first block mapping nested
/// under a key decides; 2 if there is none.
fn indent_unit(tree: &Tree) -> usize {
    fn walk(node: &Node) -> Option<usize> {
        match &node.kind {
            Kind::Map { entries, flow: false } => entries.iter().find_map(|(key, value)| {
                let nested = match &value.kind {
                    Kind::Map { entries: inner, flow: false } => inner.first(),
                    _ => None,
                };
                match nested {
                    Some((first, _))
                        if first.pos.line > key.pos.line && first.pos.col > key.pos.col =>
                    {
                        Some(first.pos.col - key.pos.col)
                    }
                    _ => walk(value),
                }
            }),
            Kind::Seq { items, flow: false } => items.iter().find_map(walk),
            _ => None,
        }
    }
    tree.root.as_ref().and_then(walk).unwrap_or(2).clamp(1, 8)
}

/// How far the file indents the `-` of a block list under its key: the first such list
/// decides (0 is common); `unit` if there is none.
fn list_indent(tree: &Tree, unit: usize) -> usize {
    fn walk(node: &Node) -> Option<usize> {
        match &node.kind {
            Kind::Map { entries, flow: false } => {
                entries.iter().find_map(|(key, value)| match &value.kind {
                    Kind::Seq { flow: false, .. } if value.pos.line > key.pos.line => {
                        value.pos.col.checked_sub(key.pos.col)
                    }
                    _ => walk(value),
                })
            }
            Kind::Seq { items, flow: false } => items.iter().find_map(walk),
            _ => None,
        }
    }
    tree.root.as_ref().and_then(walk).unwrap_or(unit)
}

// ---------------------------------------------------------------------------------------
// The flag
// ---------------------------------------------------------------------------------------

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

// ---------------------------------------------------------------------------------------
// Services
// ---------------------------------------------------------------------------------------

/// Candidate bodies with `names` appended to `services:`, best first.
fn add_items(src: &Src<'_>, tree: &Tree, names: &[String]) -> Edit<Vec<String>> {
    let text = src.text;
    let words: Vec<String> = names.iter().map(|n| scalar_text(n)).collect();
    let flow_list = words.join(", ");
    let unit = indent_unit(tree);
    let dash = " ".repeat(list_indent(tree, unit));
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
            let indent = src.indent_of(dash_of(src, first)?, "-")?;
            let last = existing.last().map_or(value.end, |i| i.end);
            if last > 0 && text[..last].ends_with(is_break) {
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

/// Byte offset of the `-` that starts a block list item.
fn dash_of(src: &Src<'_>, item: &Node) -> Edit<usize> {
    let head = src.text[..item.start].trim_end_matches([' ', '\t', '\r', '\n']);
    head.strip_suffix('-')
        .map(str::len)
        .ok_or_else(|| Refusal::new(format!("line {}: no `-` before the item", item.pos.line)))
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
        let dash = dash_of(src, item)?;
        src.indent_of(dash, "-")?;
        src.whole_lines(dash, item.end)?
    };
    Ok(splice(text, start, end, ""))
}
