//! The byte-preserving writer: lines and line breaks (`\n`, `\r\n` or a lone `\r`), the
//! file's conventions (its line break, indentation step and list indentation), and the
//! splices every edit is made of — new bytes at the exact spans of the parsed nodes, every
//! other byte kept.

use super::refusal::{Edit, Refusal};
use crate::config::span::{Kind, Node, Tree};

pub(super) fn split_bom(text: &str) -> (&'static str, &str) {
    match text.strip_prefix('\u{feff}') {
        Some(body) => ("\u{feff}", body),
        None => ("", text),
    }
}

pub(super) fn is_break(c: char) -> bool {
    c == '\n' || c == '\r'
}

/// Start of the line holding byte `at` (`\n`, `\r\n` and a lone `\r` end lines, as in YAML).
pub(super) fn line_start(text: &str, at: usize) -> usize {
    text[..at].rfind(is_break).map_or(0, |i| i + 1)
}

/// End of the content of the line holding byte `at` (before its line break).
pub(super) fn line_end(text: &str, at: usize) -> usize {
    text[at..].find(is_break).map_or(text.len(), |i| at + i)
}

/// Start of the next line (after the line break), or the end of the text.
pub(super) fn next_line(text: &str, at: usize) -> usize {
    let end = line_end(text, at);
    match &text[end..] {
        rest if rest.starts_with("\r\n") => end + 2,
        "" => end,
        _ => end + 1,
    }
}

/// `at` (a line start) moved back over the line break before it.
pub(super) fn before_break(text: &str, at: usize) -> usize {
    let head = &text[..at];
    head.strip_suffix("\r\n").or_else(|| head.strip_suffix(is_break)).unwrap_or(head).len()
}

/// The body of the file (no BOM) and the layout conventions read off it.
pub(super) struct Src<'a> {
    pub(super) text: &'a str,
    /// The line break new lines get: the file's first one (`\n` if it has none).
    pub(super) eol: &'static str,
}

impl<'a> Src<'a> {
    pub(super) fn new(text: &'a str) -> Self {
        let eol = match text.find(is_break).map(|i| &text[i..]) {
            Some(rest) if rest.starts_with("\r\n") => "\r\n",
            Some(rest) if rest.starts_with('\r') => "\r",
            _ => "\n",
        };
        Src { text, eol }
    }

    /// Byte offset of the `-` that starts a block list item.
    pub(super) fn dash_of(&self, item: &Node) -> Edit<usize> {
        let head = self.text[..item.start].trim_end_matches([' ', '\t', '\r', '\n']);
        head.strip_suffix('-')
            .map(str::len)
            .ok_or_else(|| Refusal::new(format!("line {}: no `-` before the item", item.pos.line)))
    }

    /// The spaces before `at`, which must be all there is before it on its line.
    pub(super) fn indent_of(&self, at: usize, what: &str) -> Edit<&'a str> {
        let indent = &self.text[line_start(self.text, at)..at];
        if indent.bytes().all(|b| b == b' ') {
            Ok(indent)
        } else {
            Err(Refusal::new(format!("`{what}` does not start its line")))
        }
    }

    /// Byte offset of the `:` after a key.
    pub(super) fn colon_after(&self, key: &Node) -> Edit<usize> {
        let rest = &self.text[key.end..];
        let gap = rest.len() - rest.trim_start_matches([' ', '\t']).len();
        if rest[gap..].starts_with(':') {
            Ok(key.end + gap)
        } else {
            Err(Refusal::new(format!("no `:` right after the key `{}`", key.key_repr())))
        }
    }

    /// Whether only blanks and a comment follow `at` on its line.
    pub(super) fn rest_is_trivia(&self, at: usize) -> bool {
        let rest = self.text[at..line_end(self.text, at)].trim_start();
        rest.is_empty() || rest.starts_with('#')
    }

    /// `start..end` widened to whole lines: from the start of `start`'s line to past the line
    /// break of `end`'s line (`end` already at a line start stays). A range that runs to the
    /// end of a text without a final line break takes the line break before it instead, so
    /// that the text still ends without one.
    pub(super) fn whole_lines(&self, start: usize, end: usize) -> Edit<(usize, usize)> {
        let at_line_start = self.text[..end].ends_with(is_break);
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
    pub(super) fn replace_token(&self, start: usize, end: usize, new: &str) -> String {
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
    pub(super) fn append(&self, tree: &Tree, lines: &[String]) -> String {
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
    pub(super) fn insert_before_last_key(
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
    pub(super) fn null_to_block(
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

pub(super) fn splice(text: &str, start: usize, end: usize, new: &str) -> String {
    format!("{}{new}{}", &text[..start], &text[end..])
}

/// The span of each child of a collection: a sequence item, or a mapping entry from its key
/// to the end of its value.
pub(super) fn child_spans(node: &Node) -> Vec<(usize, usize)> {
    match &node.kind {
        Kind::Seq { items, .. } => items.iter().map(|i| (i.start, i.end)).collect(),
        Kind::Map { entries, .. } => {
            entries.iter().map(|(k, v)| (k.start, k.end.max(v.end))).collect()
        }
        _ => Vec::new(),
    }
}

/// The byte range to cut to remove child `index` of a flow collection with its comma.
pub(super) fn flow_removal(src: &Src<'_>, node: &Node, index: usize) -> Edit<(usize, usize)> {
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
pub(super) fn flow_tail(src: &Src<'_>, node: &Node) -> (usize, bool) {
    match child_spans(node).last() {
        Some(&(_, end)) => (end, false),
        None => (node.start + src.text[node.start..].find(['{', '[']).map_or(0, |i| i + 1), true),
    }
}

/// The file's indentation step for nested block mappings: the first block mapping nested
/// under a key decides; 2 if there is none.
pub(super) fn indent_unit(tree: &Tree) -> usize {
    pub(super) fn walk(node: &Node) -> Option<usize> {
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
/// decides (0 is common); `unit` if there is none. The top level is a mapping (the schema
/// refuses anything else), and the `-` is what counts: an anchor or a tag may stand on the
/// key's line.
pub(super) fn list_indent(src: &Src<'_>, tree: &Tree, unit: usize) -> usize {
    fn walk(src: &Src<'_>, node: &Node) -> Option<usize> {
        let Kind::Map { entries, flow: false } = &node.kind else { return None };
        let column = |at: usize| at - line_start(src.text, at);
        entries.iter().find_map(|(key, value)| match &value.kind {
            Kind::Seq { items, flow: false } => {
                // A block list starts on a line after its key's (`key: - a` is no list).
                let dash = items.first().and_then(|first| src.dash_of(first).ok())?;
                column(dash).checked_sub(column(key.start))
            }
            _ => walk(src, value),
        })
    }
    tree.root.as_ref().and_then(|root| walk(src, root)).unwrap_or(unit)
}
