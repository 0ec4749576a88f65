//! kilter.yaml as a tree of nodes that know where they are.
//!
//! `saphyr_parser` (a YAML 1.2 parser) emits events with spans; [`parse`] folds them into
//! [`Node`]s that keep their exact byte range in the text and their line and column. Error
//! positions and the editor's byte ranges both come from these spans, in every YAML style
//! (block, flow, quoted keys, comments anywhere); nothing is guessed from the text. The same
//! pass finds what the parser itself accepts but kilter does not: a duplicate key, a second
//! document, nesting too deep to be a settings file.

use std::collections::HashMap;
use std::fmt;

use saphyr_parser::{Event, Parser, ScalarStyle, ScanError, Span, Tag};

/// A 1-based line and column (columns count characters).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
pub struct Pos {
    pub line: usize,
    pub col: usize,
}

impl Pos {
    pub const START: Pos = Pos { line: 1, col: 1 };
}

impl fmt::Display for Pos {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}:{}", self.line, self.col)
    }
}

/// One YAML node: where it is and what it holds.
#[derive(Clone, Debug)]
pub(crate) struct Node {
    /// Byte offset of its first character (its anchor or tag, if it has one; for a block
    /// sequence, its first `-`).
    pub(crate) start: usize,
    /// Byte offset just past its last character (for a block collection: past its last
    /// child; for an empty value: right after its key's `:`).
    pub(crate) end: usize,
    pub(crate) pos: Pos,
    /// The parser's anchor id (`&name`), 0 if none.
    pub(crate) anchor: usize,
    pub(crate) tag: Option<String>,
    pub(crate) kind: Kind,
}

#[derive(Clone, Debug)]
pub(crate) enum Kind {
    /// `plain`: written without quotes or block indicator, so subject to type resolution.
    Scalar {
        value: String,
        plain: bool,
    },
    Seq {
        items: Vec<Node>,
        flow: bool,
    },
    Map {
        entries: Vec<(Node, Node)>,
        flow: bool,
    },
    /// `*name`: the anchor id it refers to.
    Alias(usize),
}

/// What a scalar means under the YAML 1.2 core schema.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Scalar<'a> {
    Null,
    Bool(bool),
    /// An integer or a float, as written.
    Number(&'a str),
    Str(&'a str),
    /// A value with an application tag (`!custom x`): the tag.
    Tagged(&'a str),
}

impl Node {
    /// The scalar's meaning, or `None` for collections and aliases.
    pub(crate) fn scalar(&self) -> Option<Scalar<'_>> {
        let Kind::Scalar { value, plain } = &self.kind else { return None };
        Some(match self.tag.as_deref() {
            Some("!!str" | "!") => Scalar::Str(value),
            Some(tag) if !tag.starts_with("!!") => Scalar::Tagged(tag),
            _ if !*plain => Scalar::Str(value),
            _ => resolve_plain(value),
        })
    }

    pub(crate) fn is_null(&self) -> bool {
        self.scalar() == Some(Scalar::Null)
    }

    /// The scalar's text (for a quoted one: its value); `None` for collections and aliases.
    pub(crate) fn text(&self) -> Option<&str> {
        match &self.kind {
            Kind::Scalar { value, .. } => Some(value),
            _ => None,
        }
    }

    pub(crate) fn entries(&self) -> Option<&[(Node, Node)]> {
        match &self.kind {
            Kind::Map { entries, .. } => Some(entries),
            _ => None,
        }
    }

    pub(crate) fn items(&self) -> Option<&[Node]> {
        match &self.kind {
            Kind::Seq { items, .. } => Some(items),
            _ => None,
        }
    }

    /// A flow collection (`{…}` / `[…]`).
    pub(crate) fn is_flow(&self) -> bool {
        matches!(self.kind, Kind::Seq { flow: true, .. } | Kind::Map { flow: true, .. })
    }

    /// Whether this key is the string `name`.
    pub(crate) fn is_key(&self, name: &str) -> bool {
        self.scalar() == Some(Scalar::Str(name))
    }

    /// The entry whose key is the string `key`.
    pub(crate) fn get(&self, key: &str) -> Option<(&Node, &Node)> {
        self.entries()?.iter().find(|(k, _)| k.is_key(key)).map(|(k, v)| (k, v))
    }

    /// How a key is shown in messages.
    pub(crate) fn key_repr(&self) -> String {
        match (self.scalar(), self.text()) {
            (Some(Scalar::Null), _) => "~".to_owned(),
            (Some(_), Some(text)) => text.to_owned(),
            _ => "<complex key>".to_owned(),
        }
    }

    /// Same content, ignoring where it is: the test every edit's result must pass.
    pub(crate) fn same(&self, other: &Node) -> bool {
        if self.anchor != other.anchor || self.tag != other.tag {
            return false;
        }
        match (&self.kind, &other.kind) {
            (Kind::Scalar { value: a, plain: pa }, Kind::Scalar { value: b, plain: pb }) => {
                a == b && pa == pb
            }
            (Kind::Seq { items: a, .. }, Kind::Seq { items: b, .. }) => {
                a.len() == b.len() && a.iter().zip(b).all(|(x, y)| x.same(y))
            }
            (Kind::Map { entries: a, .. }, Kind::Map { entries: b, .. }) => {
                a.len() == b.len()
                    && a.iter().zip(b).all(|((ka, va), (kb, vb))| ka.same(kb) && va.same(vb))
            }
            (Kind::Alias(a), Kind::Alias(b)) => a == b,
            _ => false,
        }
    }
}

/// Core-schema resolution of a plain scalar.
fn resolve_plain(text: &str) -> Scalar<'_> {
    match text {
        "" | "~" | "null" | "Null" | "NULL" => Scalar::Null,
        "true" | "True" | "TRUE" => Scalar::Bool(true),
        "false" | "False" | "FALSE" => Scalar::Bool(false),
        _ if is_number(text) => Scalar::Number(text),
        _ => Scalar::Str(text),
    }
}

/// `text` as a YAML scalar: plain when it reads back as that string, double-quoted otherwise
/// (`123`, `true`, `null` would not).
pub(crate) fn scalar_text(text: &str) -> String {
    let simple = !text.is_empty()
        && !text.starts_with('-')
        && text.chars().all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '.' || c == '_');
    if simple && resolve_plain(text) == Scalar::Str(text) {
        text.to_owned()
    } else {
        format!("{text:?}")
    }
}

/// `[-+]?[0-9]+`, `0o[0-7]+`, `0x[0-9a-fA-F]+`, decimal floats with an optional exponent,
/// `[-+]?.inf` and `.nan` in their three spellings.
fn is_number(text: &str) -> bool {
    let digits = |s: &str, radix: u32| !s.is_empty() && s.chars().all(|c| c.is_digit(radix));
    if let Some(octal) = text.strip_prefix("0o") {
        return digits(octal, 8);
    }
    if let Some(hex) = text.strip_prefix("0x") {
        return digits(hex, 16);
    }
    if matches!(text, ".nan" | ".NaN" | ".NAN") {
        return true;
    }
    let unsigned = text.strip_prefix(['-', '+']).unwrap_or(text);
    if matches!(unsigned, ".inf" | ".Inf" | ".INF") {
        return true;
    }
    let (mantissa, exponent) = match unsigned.find(['e', 'E']) {
        Some(i) => (&unsigned[..i], Some(&unsigned[i + 1..])),
        None => (unsigned, None),
    };
    let (whole, fraction) = match mantissa.split_once('.') {
        Some((whole, fraction)) => (whole, Some(fraction)),
        None => (mantissa, None),
    };
    let mantissa_ok = match fraction {
        None => digits(whole, 10),
        Some(fraction) if whole.is_empty() => digits(fraction, 10),
        Some(fraction) => digits(whole, 10) && (fraction.is_empty() || digits(fraction, 10)),
    };
    mantissa_ok && exponent.is_none_or(|e| digits(e.strip_prefix(['-', '+']).unwrap_or(e), 10))
}

/// A parsed document.
#[derive(Debug)]
pub(crate) struct Tree {
    /// `None` for an empty file (or one of only comments).
    pub(crate) root: Option<Node>,
    /// Every anchored node, by anchor id.
    anchors: HashMap<usize, Node>,
    /// Every alias: the anchor id it uses and where it is.
    pub(crate) aliases: Vec<(usize, Pos)>,
    /// Byte offset of an explicit document end (`...`).
    pub(crate) doc_end: Option<usize>,
}

impl Tree {
    /// The node an alias stands for (any other node: itself).
    pub(crate) fn deref<'t>(&'t self, node: &'t Node) -> &'t Node {
        match node.kind {
            Kind::Alias(id) => self.anchors.get(&id).unwrap_or(node),
            _ => node,
        }
    }
}

/// Why a text is not a YAML document kilter can read.
#[derive(Clone, Debug)]
pub(crate) struct Problem {
    pub(crate) pos: Pos,
    pub(crate) message: String,
    pub(crate) hint: Option<&'static str>,
}

/// Work done by kilter's own code around the parser, in units of characters looked at or keys
/// compared: counted in tests (`cost()`), so that a test can show that it grows linearly with
/// the size of the file. Free in a build that is not a test.
#[inline]
pub(crate) fn charge(units: usize) {
    #[cfg(test)]
    COST.with(|c| c.set(c.get() + units as u64));
    #[cfg(not(test))]
    let _ = units;
}

#[cfg(test)]
thread_local! {
    static COST: std::cell::Cell<u64> = const { std::cell::Cell::new(0) };
}

/// The work [`charge`]d on this thread so far.
#[cfg(test)]
pub(crate) fn cost() -> u64 {
    COST.with(std::cell::Cell::get)
}

#[cfg(test)]
thread_local! {
    /// Every key hashes alike on this thread (a test of the collision path, which a 64-bit
    /// hash with a random key never takes otherwise).
    pub(crate) static COLLIDE: std::cell::Cell<bool> = const { std::cell::Cell::new(false) };
}

/// Deeper than any settings file; stops a hostile `[[[[…` from exhausting the stack.
const MAX_DEPTH: usize = 64;

/// Parse one YAML document (`text` without its byte-order mark).
pub(crate) fn parse(text: &str) -> Result<Tree, Problem> {
    match build(text, text) {
        Err(Failed::TabAfterColon(problem)) => parse_spaced(text, problem),
        Err(Failed::Problem(problem)) => Err(problem),
        Ok(tree) => Ok(tree),
    }
}

/// What saphyr-parser says when a tab (and no space) separates a `:` from a value starting
/// with a letter, digit, `_` or `-`, as in `name:\tshop`: valid YAML (a tab is separation
/// whitespace there) that libyaml and the YAML 1.2 grammar accept.
const TAB_AFTER_COLON: &str = "':' must be followed by a valid YAML whitespace";

enum Failed {
    Problem(Problem),
    /// [`TAB_AFTER_COLON`], at this position.
    TabAfterColon(Problem),
}

impl From<Problem> for Failed {
    fn from(problem: Problem) -> Self {
        Failed::Problem(problem)
    }
}

/// `text` with a tab after a `:`: the parser reads a copy in which the blanks right after each
/// `:` are spaces (the same number of bytes, so every span and position is the same), and the
/// tree is built from the original. Those tabs are separation whitespace, which no node holds;
/// any that turn out to be inside a quoted or block scalar (where a tab is content) are put
/// back and the copy read again. Two linear passes at most.
fn parse_spaced(text: &str, problem: Problem) -> Result<Tree, Problem> {
    let tabs = tabs_after_colons(text);
    let mut spaced = text.as_bytes().to_vec();
    for &t in &tabs {
        spaced[t] = b' ';
    }
    for _ in 0..2 {
        // Only ASCII tabs were swapped for ASCII spaces: still UTF-8.
        let Ok(copy) = String::from_utf8(spaced.clone()) else { return Err(problem) };
        let tree = match build(text, &copy) {
            Ok(tree) => tree,
            Err(Failed::Problem(p) | Failed::TabAfterColon(p)) => return Err(p),
        };
        let spans = tree.scalar_spans();
        let inside = |t: usize| {
            let i = spans.partition_point(|&(start, _)| start <= t);
            i > 0 && t < spans[i - 1].1
        };
        let content: Vec<usize> =
            tabs.iter().copied().filter(|&t| spaced[t] == b' ' && inside(t)).collect();
        if content.is_empty() {
            return Ok(tree);
        }
        for t in content {
            spaced[t] = b'\t';
        }
    }
    Err(problem)
}

/// Byte offsets of the tabs in the blanks right after each `:` (when there is a tab).
fn tabs_after_colons(text: &str) -> Vec<usize> {
    let bytes = text.as_bytes();
    let mut tabs = Vec::new();
    for (i, _) in text.match_indices(':') {
        let blanks = bytes[i + 1..].iter().take_while(|&&b| b == b' ' || b == b'\t').count();
        charge(1 + blanks);
        tabs.extend((i + 1..i + 1 + blanks).filter(|&j| bytes[j] == b'\t'));
    }
    tabs
}

/// Build the tree of `text` from the events of parsing `copy` (the same text, or one with
/// the same length in bytes and characters).
fn build(text: &str, copy: &str) -> Result<Tree, Failed> {
    let mut builder = Builder::new(text);
    let mut parser = Parser::new_from_str(copy);
    let mut documents = 0;
    while let Some(next) = parser.next_event() {
        let (event, span) = next.map_err(|err| {
            let problem = builder.scan_problem(&err);
            if err.info() == TAB_AFTER_COLON {
                Failed::TabAfterColon(problem)
            } else {
                Failed::Problem(problem)
            }
        })?;
        match event {
            Event::StreamEnd => break,
            Event::DocumentStart(_) => {
                documents += 1;
                if documents > 1 {
                    return Err(Failed::Problem(Problem {
                        pos: builder.pos_at(builder.byte(span.start.index())),
                        message:
                            "a second YAML document starts here; kilter.yaml must hold exactly one"
                                .to_owned(),
                        hint: Some(
                            "remove this `---` line and everything after it, or merge the documents",
                        ),
                    }));
                }
            }
            Event::DocumentEnd if !span.is_empty() => {
                builder.tree.doc_end = Some(builder.byte(span.start.index()));
            }
            event => builder.event(event, span)?,
        }
    }
    Ok(builder.tree)
}

impl Tree {
    /// The byte ranges of every scalar (keys and values), in order: what a tab inside is
    /// content of.
    fn scalar_spans(&self) -> Vec<(usize, usize)> {
        fn walk(node: &Node, spans: &mut Vec<(usize, usize)>) {
            match &node.kind {
                Kind::Scalar { .. } => spans.push((node.start, node.end)),
                Kind::Seq { items, .. } => items.iter().for_each(|n| walk(n, spans)),
                Kind::Map { entries, .. } => entries.iter().for_each(|(k, v)| {
                    walk(k, spans);
                    walk(v, spans);
                }),
                Kind::Alias(_) => {}
            }
        }
        let mut spans = Vec::new();
        if let Some(root) = &self.root {
            walk(root, &mut spans);
        }
        spans.sort_unstable();
        spans
    }
}

/// A collection being read.
struct Frame {
    start: usize,
    anchor: usize,
    tag: Option<String>,
    flow: bool,
    map: bool,
    children: Vec<Node>,
    /// The hash of each key so far (as it resolves) and where the first key with that hash
    /// is in `children`: a duplicate is found without comparing each key with every other.
    keys: HashMap<u64, usize>,
}

/// The hash of a key as it resolves, for [`Frame::keys`] (two keys are the same key when
/// their scalars are equal); `None` for collections and aliases, which are never duplicates.
fn key_hash(node: &Node) -> Option<u64> {
    use std::hash::{BuildHasher, Hash, Hasher};
    thread_local! {
        static STATE: std::hash::RandomState = std::hash::RandomState::new();
    }
    let scalar = node.scalar()?;
    #[cfg(test)]
    if COLLIDE.with(std::cell::Cell::get) {
        return Some(0);
    }
    let mut h = STATE.with(|s| s.build_hasher());
    match scalar {
        Scalar::Null => 0u8.hash(&mut h),
        Scalar::Bool(b) => (1u8, b).hash(&mut h),
        Scalar::Number(n) => (2u8, n).hash(&mut h),
        Scalar::Str(s) => (3u8, s).hash(&mut h),
        Scalar::Tagged(t) => (4u8, t).hash(&mut h),
    }
    Some(h.finish())
}

struct Builder<'a> {
    text: &'a str,
    /// Byte offset of each character index (the parser counts characters); empty for an
    /// ASCII text, where both are the same.
    bytes: Vec<usize>,
    /// Byte offset where each line starts (`\n`, `\r\n` and a lone `\r` end a line, as in YAML).
    lines: Vec<usize>,
    stack: Vec<Frame>,
    tree: Tree,
}

impl<'a> Builder<'a> {
    fn new(text: &'a str) -> Self {
        charge(text.len());
        let bytes = if text.is_ascii() {
            Vec::new()
        } else {
            text.char_indices().map(|(i, _)| i).chain([text.len()]).collect()
        };
        let raw = text.as_bytes();
        let mut lines = vec![0];
        for (i, &b) in raw.iter().enumerate() {
            if b == b'\n' || (b == b'\r' && raw.get(i + 1) != Some(&b'\n')) {
                lines.push(i + 1);
            }
        }
        let tree = Tree { root: None, anchors: HashMap::new(), aliases: Vec::new(), doc_end: None };
        Builder { text, bytes, lines, stack: Vec::new(), tree }
    }

    fn byte(&self, char_index: usize) -> usize {
        if self.bytes.is_empty() {
            return char_index.min(self.text.len());
        }
        self.bytes.get(char_index).copied().unwrap_or(self.text.len())
    }

    /// The character index of byte offset `byte` (a character boundary).
    fn char_index(&self, byte: usize) -> usize {
        if self.bytes.is_empty() {
            return byte;
        }
        self.bytes.partition_point(|&b| b < byte)
    }

    /// Line and column of a byte offset, by binary search in the line and character indexes
    /// built once: no lookup rescans the text (a file of one long line stays linear).
    fn pos_at(&self, byte: usize) -> Pos {
        charge(1);
        let line = self.lines.partition_point(|&start| start <= byte);
        let start = self.lines[line - 1];
        let col = self.char_index(byte) - self.char_index(start) + 1;
        Pos { line, col }
    }

    fn scan_problem(&self, err: &ScanError) -> Problem {
        let pos = self.pos_at(self.byte(err.marker().index()));
        // "while parsing a block mapping, did not find expected key": the problem first.
        let info = err.info();
        let message = match info.split_once(", ") {
            Some((context, problem)) if context.starts_with("while ") => {
                format!("{problem}, {context}")
            }
            _ => info.to_owned(),
        };
        if let Some(tab) = tab_indentation(self.text, &self.lines, pos.line) {
            return Problem {
                pos: self.pos_at(tab),
                message: "tab character in indentation; YAML indentation must use spaces"
                    .to_owned(),
                hint: Some("replace the tabs at the start of this line with spaces"),
            };
        }
        let indentation = ["mapping values are not allowed", "did not find expected key"]
            .iter()
            .any(|m| message.contains(m));
        Problem {
            pos,
            message: format!("invalid YAML: {message}"),
            hint: indentation.then_some(
                "check the indentation: keys of one mapping must start in the same column, and a value containing `: ` must be quoted",
            ),
        }
    }

    fn event(&mut self, event: Event<'_>, span: Span) -> Result<(), Problem> {
        charge(1);
        let start = self.byte(span.start.index());
        let end = self.byte(span.end.index());
        let map = matches!(event, Event::MappingStart(..));
        match event {
            Event::Alias(id) => {
                let pos = self.pos_at(start);
                self.tree.aliases.push((id, pos));
                self.finish(Node { start, end, pos, anchor: 0, tag: None, kind: Kind::Alias(id) })
            }
            Event::Scalar(value, style, anchor, tag) => {
                let plain = style == ScalarStyle::Plain;
                let mut value = value.into_owned();
                let end = match style {
                    // The parser's span of a quoted scalar runs on over blanks and a comment.
                    ScalarStyle::SingleQuoted | ScalarStyle::DoubleQuoted => {
                        quoted_end(self.text, start).unwrap_or(end)
                    }
                    // A block scalar ending the input without a line break has no final line
                    // feed (YAML 1.2 `b-chomped-last`, as libyaml reads it); the parser adds one.
                    ScalarStyle::Literal | ScalarStyle::Folded => {
                        if end == self.text.len() && !self.text.ends_with(['\n', '\r']) {
                            value.truncate(value.strip_suffix('\n').unwrap_or(&value).len());
                        }
                        // Its span runs on to the indentation of the next token's line: it
                        // ends at that line's start.
                        let line = self.lines[self.pos_at(end).line - 1];
                        if line > start && self.text[line..end].trim().is_empty() {
                            line
                        } else {
                            end
                        }
                    }
                    ScalarStyle::Plain => end,
                };
                let kind = Kind::Scalar { value, plain };
                let tag = tag.map(|t| tag_name(&t));
                self.finish(Node { start, end, pos: self.pos_at(start), anchor, tag, kind })
            }
            Event::SequenceStart(anchor, tag) | Event::MappingStart(anchor, tag) => {
                if self.stack.len() >= MAX_DEPTH {
                    return Err(Problem {
                        pos: self.pos_at(start),
                        message: format!("nested more than {MAX_DEPTH} levels deep"),
                        hint: None,
                    });
                }
                let flow = self.text[start..end].trim_end().ends_with(['{', '[']);
                let tag = tag.map(|t| tag_name(&t));
                let start = if map || flow || anchor != 0 || tag.is_some() {
                    start
                } else {
                    self.dash_before(start)
                };
                self.stack.push(Frame {
                    start,
                    anchor,
                    tag,
                    flow,
                    map,
                    children: Vec::new(),
                    keys: HashMap::new(),
                });
                Ok(())
            }
            Event::SequenceEnd | Event::MappingEnd => {
                let Some(frame) = self.stack.pop() else { return Ok(()) };
                let end = if frame.flow {
                    start + 1
                } else {
                    frame.children.last().map_or(frame.start, |last| last.end)
                };
                let kind = if frame.map {
                    let mut entries = Vec::with_capacity(frame.children.len() / 2);
                    let mut children = frame.children.into_iter();
                    while let (Some(key), Some(value)) = (children.next(), children.next()) {
                        entries.push((key, value));
                    }
                    Kind::Map { entries, flow: frame.flow }
                } else {
                    Kind::Seq { items: frame.children, flow: frame.flow }
                };
                let node = Node {
                    start: frame.start,
                    end,
                    pos: self.pos_at(frame.start),
                    anchor: frame.anchor,
                    tag: frame.tag,
                    kind,
                };
                self.finish(node)
            }
            _ => Ok(()),
        }
    }

    /// A block sequence's first `-` (the parser points at the first item's content).
    fn dash_before(&self, start: usize) -> usize {
        let before = self.text[..start].trim_end_matches([' ', '\t', '\r', '\n']);
        match before.strip_suffix('-') {
            Some(rest) if !self.text[start..].starts_with('-') => rest.len(),
            _ => start,
        }
    }

    /// A node is complete: it goes into its parent (or becomes the root).
    fn finish(&mut self, mut node: Node) -> Result<(), Problem> {
        if node.anchor != 0 {
            self.tree.anchors.insert(node.anchor, node.clone());
        }
        let Some(parent) = self.stack.last() else {
            self.tree.root = Some(node);
            return Ok(());
        };
        let is_key = parent.map && parent.children.len() % 2 == 0;
        if parent.map && !is_key {
            let key = &parent.children[parent.children.len() - 1];
            if node.is_null() && node.start == node.end && node.text() == Some("") {
                // An empty value sits right after its key's `:`.
                let gap = self.text[key.end..].len() - self.text[key.end..].trim_start().len();
                if self.text[key.end + gap..].starts_with(':') {
                    node.start = key.end + gap + 1;
                    node.end = node.start;
                    node.pos = self.pos_at(node.start);
                }
            }
        } else if is_key {
            self.check_duplicate(&node)?;
        }
        if let Some(parent) = self.stack.last_mut() {
            parent.children.push(node);
        }
        Ok(())
    }

    /// A key of the mapping on top of the stack: an error if the mapping already has it,
    /// otherwise it is remembered (it goes into `children` at index `children.len()`).
    fn check_duplicate(&mut self, key: &Node) -> Result<(), Problem> {
        let Some(parent) = self.stack.last_mut() else { return Ok(()) };
        charge(1);
        let Some(hash) = key_hash(key) else { return Ok(()) };
        let index = parent.children.len();
        let Some(&first) = parent.keys.get(&hash) else {
            parent.keys.insert(hash, index);
            return Ok(());
        };
        let same = |k: &Node| k.scalar() == key.scalar();
        let first = if same(&parent.children[first]) {
            first
        } else {
            // Two different keys with one hash (rare): look for an equal one the slow way.
            // Each key compared is work, charged like any other: a hash that collided for
            // every key would make this quadratic, and the cost test would see it.
            match parent.children.iter().step_by(2).position(|k| {
                charge(1);
                same(k)
            }) {
                Some(i) => 2 * i,
                None => return Ok(()),
            }
        };
        let first_line = parent.children[first].pos.line;
        let mut path: Vec<String> = Vec::new();
        for frame in &self.stack[..self.stack.len() - 1] {
            match (frame.map, frame.children.last()) {
                (true, Some(k)) => path.push(k.key_repr()),
                (false, _) => path.push(format!("[{}]", frame.children.len())),
                (true, None) => {}
            }
        }
        path.push(key.key_repr());
        Err(Problem {
            pos: key.pos,
            message: format!(
                "duplicate key `{}` (first defined on line {})",
                path.join(".").replace(".[", "["),
                first_line
            ),
            hint: Some("remove one of the two entries"),
        })
    }
}

/// Byte offset just past the closing quote of the quoted scalar at `start` (after its
/// anchor or tag, if any).
fn quoted_end(text: &str, start: usize) -> Option<usize> {
    let open = start + text[start..].find(['\'', '"'])?;
    let quote = text[open..].chars().next()?;
    let mut chars = text[open + 1..].char_indices();
    while let Some((i, c)) = chars.next() {
        match c {
            '\\' if quote == '"' => {
                chars.next();
            }
            '\'' if quote == '\'' && text[open + 1 + i + 1..].starts_with('\'') => {
                chars.next();
            }
            c if c == quote => return Some(open + 1 + i + 1),
            _ => {}
        }
    }
    None
}

/// `!custom`, `!!str`, `!<tag:x>` as written (near enough) in the file.
fn tag_name(tag: &Tag) -> String {
    match tag.handle.as_str() {
        "" => tag.suffix.clone(),
        "tag:yaml.org,2002:" => format!("!!{}", tag.suffix),
        "!" | "!!" => format!("{}{}", tag.handle, tag.suffix),
        handle => format!("!<{handle}{}>", tag.suffix),
    }
}

/// A tab in the indentation of the error's line, the next non-blank line or the previous one:
/// YAML forbids tabs there, and the parser's message ("found a tab", "invalid indentation")
/// does not say that. Returns its byte offset.
fn tab_indentation(text: &str, lines: &[usize], line: usize) -> Option<usize> {
    let content = |i: usize| -> Option<(usize, &str)> {
        let start = *lines.get(i)?;
        let end = lines.get(i + 1).copied().unwrap_or(text.len());
        Some((start, text[start..end].trim_end_matches(['\r', '\n'])))
    };
    let index = line.saturating_sub(1);
    let non_blank = |i: &usize| content(*i).is_some_and(|(_, l)| !l.trim().is_empty());
    let next = (index + 1..lines.len()).find(non_blank);
    let previous = (0..index).rev().find(non_blank);
    [Some(index), next, previous].into_iter().flatten().find_map(|i| {
        let (start, line) = content(i)?;
        let indent = &line[..line.len() - line.trim_start().len()];
        indent.find('\t').map(|offset| start + offset)
    })
}

#[cfg(test)]
mod tests;
