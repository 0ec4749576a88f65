//! `kilter.yaml`: finding, parsing and validating the project file (SPEC §1, §2), and
//! editing its `cluster.stopped` flag without disturbing any other byte.
//!
//! # How positions are found
//!
//! `serde_yaml::Value` carries no spans, but `serde_yaml` stamps every error raised while
//! deserializing a node with that node's position. The private `locate` function uses
//! this: it walks the document with a `DeserializeSeed` that fails on purpose at the
//! key or value it is looking for, and reads the position off the error. Positions are
//! therefore exact in every YAML style (block, flow, quoted keys, comments anywhere),
//! not guessed from the text. A duplicate key is found the same way.
//!
//! # How the flag is edited
//!
//! The edits work on lines: positions of `cluster`, `stopped` and their values come from
//! `locate`, the indentation-based block structure comes from a small line scanner. Every
//! edit is checked by parsing the result: it must give the same [`Config`] (and the same
//! YAML tree, ecosystem keys included) with only `cluster.stopped` changed, otherwise the
//! edit is refused and the caller writes nothing.
//!
//! Forms of `cluster:` and what the edits do with them (indentation: the file's own
//! nested-mapping step, 2 if it has none; line breaks: the file's own, CRLF kept):
//!
//! | before | [`with_stopped_flag`] | [`without_stopped_flag`] of that |
//! |---|---|---|
//! | absent | appends `cluster:` + `  stopped: true` (before a final `...`) | removes both lines: the original bytes |
//! | absent, no final newline | same, prefixed by a line break and without a final one | the original bytes |
//! | absent, no final newline, ends in a block scalar | inserted before the last top-level key and its comments (appending would change the scalar) | the original bytes |
//! | `cluster:` (empty) | adds `  stopped: true` below it | removes both lines (the key goes too) |
//! | `cluster:  # note` | adds `  stopped: true` below it | removes the `stopped` line only |
//! | `cluster: ~` / `null` / `{}` | rewritten as `cluster:` + `  stopped: true` (a trailing comment stays) | removes both lines, so `~`/`{}` is not restored (same config) |
//! | block without `stopped` | inserts `stopped: true` as its first child line | removes that line |
//! | block with `stopped: false` / null | rewrites the value in place, trailing comment kept | removes the `stopped` line |
//! | one-line flow `{a: 1}` | `{stopped: true, a: 1}` | `{a: 1}` |
//! | one-line flow `{stopped: false}` | `{stopped: true}` | `{}` |
//! | multi-line flow, alias, flow top level | refused: use block style | refused |
//!
//! A `cluster:` key is removed by [`without_stopped_flag`] only when nothing else is left
//! under it: no other key, no comment line, no comment or anchor on its own line.

use std::cell::RefCell;
use std::collections::{BTreeMap, BTreeSet};
use std::fmt;
use std::io::Write as _;

use camino::{Utf8Path, Utf8PathBuf};
use serde::de::{
    self, DeserializeSeed, Deserializer, EnumAccess, IgnoredAny, MapAccess, SeqAccess,
    VariantAccess, Visitor,
};
use serde_yaml::{Mapping, Value};

#[cfg(test)]
mod tests;

/// The project file's name, looked up by walking up from the current directory.
pub const FILE_NAME: &str = "kilter.yaml";

/// Longest valid project name: `kilter-<name>-control-plane` must stay a valid hostname (≤ 63).
pub const MAX_NAME_LEN: usize = 42;

/// The settings kilter reads from `kilter.yaml`. Every field is optional.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct Config {
    /// `name:` — the project name, already checked with [`validate_name`].
    pub name: Option<String>,
    /// `tiltfile:` — path of the Tiltfile, as written (relative to the kilter.yaml directory).
    pub tiltfile: Option<Utf8PathBuf>,
    /// `kind:` section.
    pub kind: KindSection,
    /// `database:` section; `Some` whenever a `database:` key is present, even if empty.
    pub database: Option<Database>,
    /// `cluster:` section (runtime state written by kilter itself).
    pub cluster: ClusterSection,
}

/// The `kind:` section.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct KindSection {
    /// `kind.image:` — node image pin, passed to `kind create cluster --image`.
    pub image: Option<String>,
}

/// The `database:` section: what `kilter db` snapshots.
#[derive(Debug, Clone, PartialEq)]
pub struct Database {
    /// `database.engine:` — `postgres`, `mysql` or `mariadb`.
    pub engine: String,
    /// `database.service:` — the Deployment or StatefulSet in `<name>-dev`.
    pub service: String,
    /// `database.user:`
    pub user: String,
    /// `database.name:` — `None` means "the project name" (resolved by the caller).
    pub name: Option<String>,
}

impl Default for Database {
    fn default() -> Self {
        Database {
            engine: "postgres".to_owned(),
            service: "postgres".to_owned(),
            user: "postgres".to_owned(),
            name: None,
        }
    }
}

/// The `cluster:` section.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct ClusterSection {
    /// `cluster.stopped:` — written by `kilter stop`, removed by `kilter up`.
    pub stopped: bool,
}

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
}

/// An error the CLI reports with exit code 4 ("invalid input or config").
/// `Display` is the full message; `hint` is an optional `help:` line.
#[derive(Debug)]
pub struct ConfigError {
    /// The full message, e.g. `/p/kilter.yaml:5:10: cluster: expected a mapping …`.
    pub message: String,
    /// A suggestion for fixing it, if there is one.
    pub hint: Option<String>,
}

impl ConfigError {
    fn new(message: impl Into<String>) -> Self {
        ConfigError { message: message.into(), hint: None }
    }

    fn hint(mut self, hint: impl Into<String>) -> Self {
        self.hint = Some(hint.into());
        self
    }

    fn at(path: &Utf8Path, pos: Pos, message: impl fmt::Display) -> Self {
        ConfigError::new(format!("{path}:{}:{}: {message}", pos.line, pos.col))
    }
}

impl fmt::Display for ConfigError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.message)
    }
}

impl std::error::Error for ConfigError {}

// ---------------------------------------------------------------------------------------
// Finding, loading, parsing
// ---------------------------------------------------------------------------------------

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
pub fn load(path: &Utf8Path) -> Result<ProjectFile, ConfigError> {
    let bytes = std::fs::read(path)
        .map_err(|err| ConfigError::new(format!("could not read {path}: {err}")))?;
    let text = match String::from_utf8(bytes) {
        Ok(text) => text,
        Err(err) => {
            let valid = &err.as_bytes()[..err.utf8_error().valid_up_to()];
            let line = valid.iter().filter(|&&b| b == b'\n').count() + 1;
            let line_start = valid.iter().rposition(|&b| b == b'\n').map_or(0, |i| i + 1);
            let col = String::from_utf8_lossy(&valid[line_start..]).chars().count() + 1;
            return Err(ConfigError::at(path, Pos { line, col }, "the file is not valid UTF-8")
                .hint("save kilter.yaml as UTF-8"));
        }
    };
    let (config, warnings) = parse(path, &text)?;
    Ok(ProjectFile { path: path.to_owned(), text, config, warnings })
}

/// Parse the text of a project file. `path` is only used in messages. Returns the
/// settings and the warnings (unknown keys), in document order.
pub fn parse(path: &Utf8Path, text: &str) -> Result<(Config, Vec<String>), ConfigError> {
    let parsed = parse_full(path, text)?;
    Ok((parsed.config, parsed.warnings))
}

/// Keys kilter itself reads.
const KNOWN_KEYS: &[&str] = &["name", "tiltfile", "kind", "database", "cluster"];

/// Keys of the wider kilter ecosystem: accepted silently, preserved, never interpreted.
const ECOSYSTEM_KEYS: &[&str] = &[
    "port",
    "health",
    "image",
    "dev",
    "skills",
    "services",
    "env",
    "public",
    "manifest",
    "description",
    "version",
    "profiles",
    "secrets",
    "volumes",
    "build",
    "deploy",
    "hooks",
    "tilt",
];

const KIND_KEYS: &[&str] = &["image"];
const DATABASE_KEYS: &[&str] = &["engine", "service", "user", "name"];
const CLUSTER_KEYS: &[&str] = &["stopped"];

struct Parsed {
    root: Value,
    config: Config,
    warnings: Vec<String>,
}

fn parse_full(path: &Utf8Path, text: &str) -> Result<Parsed, ConfigError> {
    // libyaml mishandles a byte-order mark (it sees a second document); it is no content.
    let text = text.strip_prefix('\u{feff}').unwrap_or(text);
    let root: Value = serde_yaml::from_str(text).map_err(|err| syntax_error(path, text, &err))?;
    let mut walker = Walker { path, text, warnings: Vec::new() };
    let config = walker.config(&root)?;
    Ok(Parsed { root, config, warnings: walker.warnings })
}

/// Turn a `serde_yaml` parse error into a `file:line:col: message` error.
fn syntax_error(path: &Utf8Path, text: &str, err: &serde_yaml::Error) -> ConfigError {
    let rendered = err.to_string();
    if rendered.contains("duplicate entry")
        && let Some((pos, message)) = find_duplicate(text)
    {
        return ConfigError::at(path, pos, message).hint("remove one of the two entries");
    }
    let Some(location) = err.location() else {
        if rendered.contains("more than one document") {
            let pos = second_document(text).unwrap_or(Pos::START);
            return ConfigError::at(
                path,
                pos,
                "a second YAML document starts here; kilter.yaml must hold exactly one",
            )
            .hint("remove this `---` line and everything after it, or merge the documents");
        }
        return ConfigError::at(path, Pos::START, rendered);
    };
    let pos = Pos { line: location.line(), col: location.column() };
    if let Some(tab) = tab_indentation(text, pos.line) {
        return ConfigError::at(
            path,
            tab,
            "tab character in indentation; YAML indentation must use spaces",
        )
        .hint("replace the tabs at the start of this line with spaces");
    }
    let suffix = format!(" at line {} column {}", pos.line, pos.col);
    let message = rendered.replacen(&suffix, "", 1);
    let error = ConfigError::at(path, pos, format_args!("invalid YAML: {message}"));
    if message.contains("mapping values are not allowed")
        || message.contains("did not find expected key")
        || message.contains("did not find expected '-'")
    {
        error.hint("check the indentation: keys of one mapping must start in the same column, and a value containing `: ` must be quoted")
    } else {
        error
    }
}

/// A tab in the leading whitespace of line `line` or of the closest non-blank line
/// before it: libyaml reports those as "cannot start any token" or as an indentation
/// error, which does not say what is wrong.
fn tab_indentation(text: &str, line: usize) -> Option<Pos> {
    let lines: Vec<&str> = text.lines().collect();
    let candidates = lines.iter().enumerate().take(line.min(lines.len())).rev();
    for (index, content) in candidates.filter(|(_, l)| !l.trim().is_empty()).take(2) {
        let indent: &str = &content[..content.len() - content.trim_start().len()];
        if let Some(offset) = indent.find('\t') {
            return Some(Pos { line: index + 1, col: indent[..offset].chars().count() + 1 });
        }
    }
    None
}

/// The `---` line that starts a second document (serde_yaml reports no position).
fn second_document(text: &str) -> Option<Pos> {
    let mut seen_content = false;
    for (index, line) in text.lines().enumerate() {
        if line == "---" || line.starts_with("--- ") || line.starts_with("---\t") {
            if seen_content {
                return Some(Pos { line: index + 1, col: 1 });
            }
            let rest = line[3..].trim();
            seen_content = !rest.is_empty() && !rest.starts_with('#');
        } else {
            let trimmed = line.trim();
            if !trimmed.is_empty() && !trimmed.starts_with('#') && !trimmed.starts_with('%') {
                seen_content = true;
            }
        }
    }
    None
}

/// Checks the YAML tree against the schema, collecting warnings.
struct Walker<'a> {
    path: &'a Utf8Path,
    text: &'a str,
    warnings: Vec<String>,
}

impl Walker<'_> {
    /// Position of a key or value, falling back to the closest enclosing node.
    fn pos(&self, keys: &[&str], target: Target) -> Pos {
        if let Some(pos) = locate(self.text, keys, target) {
            return pos;
        }
        (0..keys.len())
            .rev()
            .find_map(|n| locate(self.text, &keys[..n], Target::Value))
            .unwrap_or(Pos::START)
    }

    fn error(&self, keys: &[&str], target: Target, message: impl fmt::Display) -> ConfigError {
        ConfigError::at(self.path, self.pos(keys, target), message)
    }

    fn unknown_key(&mut self, section: &[&str], key: &Value, candidates: &[&str]) {
        let repr = key_repr(key);
        let mut keys = section.to_vec();
        keys.push(&repr);
        let line = self.pos(&keys, Target::Key).line;
        let suggestion = suggest(&repr, candidates)
            .map(|c| format!(" (did you mean `{}`?)", dotted(section, c)))
            .unwrap_or_default();
        self.warnings.push(format!(
            "{}:{line}: unknown key `{}`{suggestion}",
            self.path,
            dotted(section, &repr)
        ));
    }

    fn config(&mut self, root: &Value) -> Result<Config, ConfigError> {
        let map = match root {
            Value::Null => return Ok(Config::default()),
            Value::Mapping(map) => map,
            other => {
                return Err(self
                    .error(&[], Target::Value, format_args!(
                        "expected a mapping of settings at the top level (e.g. `name: shop`), found {}",
                        describe(other)
                    ))
                    .hint("see the commented example written by `kilter init`"));
            }
        };
        let mut config = Config::default();
        let top_candidates: Vec<&str> = KNOWN_KEYS.iter().chain(ECOSYSTEM_KEYS).copied().collect();
        for (key, value) in map {
            match key.as_str() {
                Some("name") => {
                    config.name = self.string(&["name"], value)?;
                    if let Some(name) = &config.name {
                        self.check_name(name)?;
                    }
                }
                Some("tiltfile") => {
                    config.tiltfile = self.string(&["tiltfile"], value)?.map(Utf8PathBuf::from);
                }
                Some("kind") => config.kind = self.kind(value)?,
                Some("database") => config.database = Some(self.database(value)?),
                Some("cluster") => config.cluster = self.cluster(value)?,
                Some(k) if ECOSYSTEM_KEYS.contains(&k) => {}
                _ => self.unknown_key(&[], key, &top_candidates),
            }
        }
        Ok(config)
    }

    fn check_name(&self, name: &str) -> Result<(), ConfigError> {
        let Some(problem) = name_problem(name) else { return Ok(()) };
        let error = self.error(&["name"], Target::Value, name_message(name, &problem));
        Err(match suggested_name(name) {
            Some(good) => error.hint(format!("use `name: {good}`")),
            None => error,
        })
    }

    /// A section that must be a mapping (or empty). Unknown keys inside are warned about.
    fn section<'v>(
        &mut self,
        key: &str,
        value: &'v Value,
        expected: &str,
        fields: &[&str],
    ) -> Result<Vec<(&'v str, &'v Value)>, ConfigError> {
        let map: &Mapping = match value {
            Value::Null => return Ok(Vec::new()),
            Value::Mapping(map) => map,
            other => {
                return Err(self.error(
                    &[key],
                    Target::Value,
                    format_args!(
                        "{key}: expected a mapping with {expected}, found {}",
                        describe(other)
                    ),
                ));
            }
        };
        let mut known = Vec::new();
        for (k, v) in map {
            match k.as_str() {
                Some(name) if fields.contains(&name) => known.push((name, v)),
                _ => self.unknown_key(&[key], k, fields),
            }
        }
        Ok(known)
    }

    /// An optional, non-empty string.
    fn string(&self, keys: &[&str], value: &Value) -> Result<Option<String>, ConfigError> {
        let field = keys.join(".");
        match value {
            Value::Null => Ok(None),
            Value::String(s) if s.trim().is_empty() && field != "name" => Err(self
                .error(keys, Target::Value, format_args!("{field}: must not be empty"))
                .hint(format!(
                    "remove the `{}` line to use the default",
                    keys.last().copied().unwrap_or_default()
                ))),
            Value::String(s) => Ok(Some(s.clone())),
            other => {
                let error = self.error(
                    keys,
                    Target::Value,
                    format_args!("{field}: expected a string, found {}", describe(other)),
                );
                Err(match other {
                    Value::Number(_) | Value::Bool(_) => error.hint(format!(
                        "quote the value to make it a string: `{}: \"{}\"`",
                        keys.last().copied().unwrap_or_default(),
                        scalar_text(other)
                    )),
                    _ => error,
                })
            }
        }
    }

    fn kind(&mut self, value: &Value) -> Result<KindSection, ConfigError> {
        let mut kind = KindSection::default();
        for (key, v) in self.section("kind", value, "`image: <node image>`", KIND_KEYS)? {
            if key == "image" {
                kind.image = self.string(&["kind", "image"], v)?;
            }
        }
        Ok(kind)
    }

    fn database(&mut self, value: &Value) -> Result<Database, ConfigError> {
        let mut db = Database::default();
        let (mut service, mut user) = (None, None);
        let expected = "`engine`, `service`, `user` and `name` (all optional)";
        for (key, v) in self.section("database", value, expected, DATABASE_KEYS)? {
            let text = self.string(&["database", key], v)?;
            match key {
                "engine" => {
                    if let Some(engine) = text {
                        if !matches!(engine.as_str(), "postgres" | "mysql" | "mariadb") {
                            return Err(self
                                .error(&["database", "engine"], Target::Value, format_args!(
                                    "database.engine: unsupported engine {engine:?}; kilter supports `postgres`, `mysql` and `mariadb`"
                                ))
                                .hint("use `engine: postgres`, `mysql` or `mariadb`, or remove the `database:` section"));
                        }
                        db.engine = engine;
                    }
                }
                "service" => service = text,
                "user" => user = text,
                _ => db.name = text,
            }
        }
        // MySQL and MariaDB default to a workload named after the engine and the `root` user.
        if db.engine != "postgres" {
            db.service = db.engine.clone();
            db.user = "root".to_owned();
        }
        db.service = service.unwrap_or(db.service);
        db.user = user.unwrap_or(db.user);
        Ok(db)
    }

    fn cluster(&mut self, value: &Value) -> Result<ClusterSection, ConfigError> {
        let mut cluster = ClusterSection::default();
        for (_, v) in self.section("cluster", value, "`stopped: true|false`", CLUSTER_KEYS)? {
            cluster.stopped = match v {
                Value::Null => false,
                Value::Bool(b) => *b,
                other => {
                    return Err(self
                        .error(&["cluster", "stopped"], Target::Value, format_args!(
                            "cluster.stopped: expected true or false, found {}",
                            describe(other)
                        ))
                        .hint("kilter writes this flag itself: `kilter stop` sets it, `kilter up` removes it"));
                }
            };
        }
        Ok(cluster)
    }
}

fn dotted(section: &[&str], key: &str) -> String {
    section.iter().copied().chain([key]).collect::<Vec<_>>().join(".")
}

/// How a YAML value is named in messages.
fn describe(value: &Value) -> String {
    match value {
        Value::Null => "nothing (null)".to_owned(),
        Value::Bool(b) => format!("the boolean `{b}`"),
        Value::Number(n) => format!("the number {n}"),
        Value::String(s) => format!("the string {s:?}"),
        Value::Sequence(_) => "a list".to_owned(),
        Value::Mapping(_) => "a mapping".to_owned(),
        Value::Tagged(tagged) => format!("a value tagged `{}`", tagged.tag),
    }
}

fn scalar_text(value: &Value) -> String {
    match value {
        Value::Bool(b) => b.to_string(),
        Value::Number(n) => n.to_string(),
        Value::String(s) => s.clone(),
        _ => String::new(),
    }
}

/// The text a scalar key is matched by (see `KeyMatch`).
fn key_repr(key: &Value) -> String {
    match key {
        Value::Null => "~".to_owned(),
        Value::Bool(b) => b.to_string(),
        Value::Number(n) => n.to_string(),
        Value::String(s) => s.clone(),
        Value::Sequence(_) | Value::Mapping(_) | Value::Tagged(_) => "<complex key>".to_owned(),
    }
}

/// "Did you mean": a case-insensitive match, else the closest candidate within
/// Levenshtein distance 2 (and closer than the key's own length, so that `db` does not
/// suggest `dev`). Ties go to the earlier candidate (kilter's own keys come first).
fn suggest<'c>(unknown: &str, candidates: &[&'c str]) -> Option<&'c str> {
    if let Some(exact) = candidates.iter().find(|c| c.eq_ignore_ascii_case(unknown)) {
        return Some(exact);
    }
    let lower = unknown.to_lowercase();
    let len = lower.chars().count();
    candidates
        .iter()
        .map(|c| (levenshtein(&lower, c), *c))
        .filter(|&(distance, _)| distance <= 2 && distance < len)
        .min_by_key(|&(distance, _)| distance)
        .map(|(_, c)| c)
}

fn levenshtein(a: &str, b: &str) -> usize {
    let b: Vec<char> = b.chars().collect();
    let mut previous: Vec<usize> = (0..=b.len()).collect();
    for (i, ca) in a.chars().enumerate() {
        let mut current = Vec::with_capacity(b.len() + 1);
        current.push(i + 1);
        for (j, cb) in b.iter().enumerate() {
            let substitution = previous[j] + usize::from(ca != *cb);
            current.push(substitution.min(previous[j + 1] + 1).min(current[j] + 1));
        }
        previous = current;
    }
    previous[b.len()]
}

// ---------------------------------------------------------------------------------------
// Positions: ask serde_yaml where a node is
// ---------------------------------------------------------------------------------------

/// A 1-based line and column (columns count characters).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
struct Pos {
    line: usize,
    col: usize,
}

impl Pos {
    const START: Pos = Pos { line: 1, col: 1 };
}

/// What to find at the end of a key path.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Target {
    /// The key itself.
    Key,
    /// The key's value (for a block mapping: its first key; for a flow one: its `{`).
    Value,
}

/// Marks the deliberate error that carries a position out of the deserializer.
const FOUND: &str = "\u{1}kilter:found\u{1}";

/// Position of the value at `keys` (`[]` = the document's root) or of its last key.
/// `None` if the path does not exist or `text` does not parse.
fn locate(text: &str, keys: &[&str], target: Target) -> Option<Pos> {
    locate_nth(text, keys, target, 0)
}

/// Like `locate`, for the `nth` (0-based) occurrence of the last key.
fn locate_nth(text: &str, keys: &[&str], target: Target, nth: usize) -> Option<Pos> {
    let seed = Nav { keys, target, nth };
    match seed.deserialize(serde_yaml::Deserializer::from_str(text)) {
        Err(err) if err.to_string().contains(FOUND) => {
            err.location().map(|l| Pos { line: l.line(), col: l.column() })
        }
        _ => None,
    }
}

/// Walks down `keys`, then fails at the target node.
struct Nav<'a> {
    keys: &'a [&'a str],
    target: Target,
    nth: usize,
}

impl<'de> DeserializeSeed<'de> for Nav<'_> {
    type Value = ();

    fn deserialize<D: Deserializer<'de>>(self, deserializer: D) -> Result<(), D::Error> {
        if self.keys.is_empty() {
            deserializer.deserialize_any(Found)
        } else {
            deserializer.deserialize_any(self)
        }
    }
}

impl<'de> Visitor<'de> for Nav<'_> {
    type Value = ();

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a mapping")
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<(), A::Error> {
        let Some((&want, rest)) = self.keys.split_first() else {
            return Err(de::Error::custom("empty key path"));
        };
        let last = rest.is_empty();
        let mut seen = 0;
        loop {
            let fail = last && self.target == Target::Key && seen == self.nth;
            let Some(matched) = map.next_key_seed(KeyMatch { want, fail })? else { break };
            let hit = matched && if last { seen == self.nth } else { seen == 0 };
            seen += usize::from(matched);
            match (hit, last) {
                (true, true) => map.next_value_seed(FoundSeed)?,
                (true, false) => {
                    map.next_value_seed(Nav { keys: rest, target: self.target, nth: self.nth })?;
                }
                (false, _) => {
                    map.next_value::<IgnoredAny>()?;
                }
            }
        }
        Err(de::Error::custom("key not found"))
    }
}

/// Deserializes a key; `true` if it is `want` (failing there if `fail`).
struct KeyMatch<'a> {
    want: &'a str,
    fail: bool,
}

impl KeyMatch<'_> {
    fn check<E: de::Error>(&self, key: &str) -> Result<bool, E> {
        match (key == self.want, self.fail) {
            (true, true) => Err(E::custom(FOUND)),
            (matched, _) => Ok(matched),
        }
    }
}

impl<'de> DeserializeSeed<'de> for KeyMatch<'_> {
    type Value = bool;

    fn deserialize<D: Deserializer<'de>>(self, deserializer: D) -> Result<bool, D::Error> {
        deserializer.deserialize_any(self)
    }
}

impl<'de> Visitor<'de> for KeyMatch<'_> {
    type Value = bool;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a key")
    }
    fn visit_str<E: de::Error>(self, v: &str) -> Result<bool, E> {
        self.check(v)
    }
    fn visit_bool<E: de::Error>(self, v: bool) -> Result<bool, E> {
        self.check(&v.to_string())
    }
    fn visit_i64<E: de::Error>(self, v: i64) -> Result<bool, E> {
        self.check(&v.to_string())
    }
    fn visit_u64<E: de::Error>(self, v: u64) -> Result<bool, E> {
        self.check(&v.to_string())
    }
    fn visit_f64<E: de::Error>(self, v: f64) -> Result<bool, E> {
        self.check(&serde_yaml::Number::from(v).to_string())
    }
    fn visit_unit<E: de::Error>(self) -> Result<bool, E> {
        self.check("~")
    }
    fn visit_none<E: de::Error>(self) -> Result<bool, E> {
        self.check("~")
    }
    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<bool, A::Error> {
        while seq.next_element::<IgnoredAny>()?.is_some() {}
        Ok(false)
    }
    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<bool, A::Error> {
        while map.next_entry::<IgnoredAny, IgnoredAny>()?.is_some() {}
        Ok(false)
    }
    fn visit_enum<A: EnumAccess<'de>>(self, data: A) -> Result<bool, A::Error> {
        let (IgnoredAny, variant) = data.variant::<IgnoredAny>()?;
        variant.newtype_variant::<IgnoredAny>()?;
        Ok(false)
    }
}

/// Fails on whatever node it is given; serde_yaml stamps the error with that node's position.
struct FoundSeed;

impl<'de> DeserializeSeed<'de> for FoundSeed {
    type Value = ();

    fn deserialize<D: Deserializer<'de>>(self, deserializer: D) -> Result<(), D::Error> {
        deserializer.deserialize_any(Found)
    }
}

/// Every `visit_*` keeps its default (an "invalid type" error naming `expecting`).
struct Found;

impl Visitor<'_> for Found {
    type Value = ();

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(FOUND)
    }
}

/// The first key (in document order) that repeats a key of the same mapping:
/// its position and a message naming its dotted path.
fn find_duplicate(text: &str) -> Option<(Pos, String)> {
    let found = RefCell::new(None);
    let seed = DupSeed { path: Vec::new(), found: &found };
    let err = seed.deserialize(serde_yaml::Deserializer::from_str(text)).err()?;
    let location = err.location()?;
    let path: Vec<String> = found.into_inner()?;
    let pos = Pos { line: location.line(), col: location.column() };
    let keys: Vec<&str> = path.iter().map(String::as_str).collect();
    let first = locate_nth(text, &keys, Target::Key, 0)
        .filter(|first| *first != pos)
        .map(|first| format!(" (first defined on line {})", first.line))
        .unwrap_or_default();
    Some((pos, format!("duplicate key `{}`{first}", path.join("."))))
}

/// Walks the whole document; fails at the first repeated key, leaving its path in `found`.
struct DupSeed<'a> {
    path: Vec<String>,
    found: &'a RefCell<Option<Vec<String>>>,
}

impl<'de> DeserializeSeed<'de> for DupSeed<'_> {
    type Value = ();

    fn deserialize<D: Deserializer<'de>>(self, deserializer: D) -> Result<(), D::Error> {
        deserializer.deserialize_any(self)
    }
}

impl<'de> Visitor<'de> for DupSeed<'_> {
    type Value = ();

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("any YAML value")
    }
    fn visit_bool<E: de::Error>(self, _: bool) -> Result<(), E> {
        Ok(())
    }
    fn visit_i64<E: de::Error>(self, _: i64) -> Result<(), E> {
        Ok(())
    }
    fn visit_u64<E: de::Error>(self, _: u64) -> Result<(), E> {
        Ok(())
    }
    fn visit_f64<E: de::Error>(self, _: f64) -> Result<(), E> {
        Ok(())
    }
    fn visit_str<E: de::Error>(self, _: &str) -> Result<(), E> {
        Ok(())
    }
    fn visit_unit<E: de::Error>(self) -> Result<(), E> {
        Ok(())
    }
    fn visit_none<E: de::Error>(self) -> Result<(), E> {
        Ok(())
    }
    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<(), A::Error> {
        let mut index = 0;
        loop {
            let mut path = self.path.clone();
            path.push(format!("[{index}]"));
            let seed = DupSeed { path, found: self.found };
            if seq.next_element_seed(seed)?.is_none() {
                return Ok(());
            }
            index += 1;
        }
    }
    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<(), A::Error> {
        let mut seen: Vec<String> = Vec::new();
        while let Some(key) =
            map.next_key_seed(DupKey { seen: &seen, path: &self.path, found: self.found })?
        {
            let mut path = self.path.clone();
            path.push(key.clone().unwrap_or_else(|| "<complex key>".to_owned()));
            map.next_value_seed(DupSeed { path, found: self.found })?;
            seen.extend(key);
        }
        Ok(())
    }
    fn visit_enum<A: EnumAccess<'de>>(self, data: A) -> Result<(), A::Error> {
        let (IgnoredAny, variant) = data.variant::<IgnoredAny>()?;
        variant.newtype_variant::<IgnoredAny>()?;
        Ok(())
    }
}

/// Deserializes a key into its `key_repr`; a key already in `seen` fails right there,
/// so that the error carries the duplicate's own position.
struct DupKey<'a> {
    seen: &'a [String],
    path: &'a [String],
    found: &'a RefCell<Option<Vec<String>>>,
}

impl DupKey<'_> {
    fn check<E: de::Error>(&self, key: String) -> Result<Option<String>, E> {
        if !self.seen.contains(&key) {
            return Ok(Some(key));
        }
        let mut path = self.path.to_vec();
        path.push(key);
        *self.found.borrow_mut() = Some(path);
        Err(E::custom(FOUND))
    }
}

impl<'de> DeserializeSeed<'de> for DupKey<'_> {
    type Value = Option<String>;

    fn deserialize<D: Deserializer<'de>>(self, deserializer: D) -> Result<Self::Value, D::Error> {
        deserializer.deserialize_any(self)
    }
}

impl<'de> Visitor<'de> for DupKey<'_> {
    type Value = Option<String>;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a key")
    }
    fn visit_str<E: de::Error>(self, v: &str) -> Result<Self::Value, E> {
        self.check(v.to_owned())
    }
    fn visit_bool<E: de::Error>(self, v: bool) -> Result<Self::Value, E> {
        self.check(v.to_string())
    }
    fn visit_i64<E: de::Error>(self, v: i64) -> Result<Self::Value, E> {
        self.check(v.to_string())
    }
    fn visit_u64<E: de::Error>(self, v: u64) -> Result<Self::Value, E> {
        self.check(v.to_string())
    }
    fn visit_f64<E: de::Error>(self, v: f64) -> Result<Self::Value, E> {
        self.check(serde_yaml::Number::from(v).to_string())
    }
    fn visit_unit<E: de::Error>(self) -> Result<Self::Value, E> {
        self.check("~".to_owned())
    }
    fn visit_none<E: de::Error>(self) -> Result<Self::Value, E> {
        self.check("~".to_owned())
    }
    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Self::Value, A::Error> {
        while seq.next_element::<IgnoredAny>()?.is_some() {}
        Ok(None)
    }
    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Self::Value, A::Error> {
        while map.next_entry::<IgnoredAny, IgnoredAny>()?.is_some() {}
        Ok(None)
    }
    fn visit_enum<A: EnumAccess<'de>>(self, data: A) -> Result<Self::Value, A::Error> {
        let (IgnoredAny, variant) = data.variant::<IgnoredAny>()?;
        variant.newtype_variant::<IgnoredAny>()?;
        Ok(None)
    }
}

// ---------------------------------------------------------------------------------------
// Names
// ---------------------------------------------------------------------------------------

const NAME_RULE: &str = "a project name must be a DNS-1123 label: 1 to 42 characters, only lowercase letters (a-z), digits and '-', starting and ending with a letter or digit";

/// Check a project name against SPEC §1: a DNS-1123 label `^[a-z0-9]([-a-z0-9]*[a-z0-9])?$`
/// of 1 to [`MAX_NAME_LEN`] characters. The error states the rule; its hint suggests
/// [`normalize_name`]`(name)` when that gives a valid name.
pub fn validate_name(name: &str) -> Result<(), ConfigError> {
    let Some(problem) = name_problem(name) else { return Ok(()) };
    let error = ConfigError::new(name_message(name, &problem));
    Err(match suggested_name(name) {
        Some(good) => error.hint(format!("try `{good}`")),
        None => error,
    })
}

fn name_message(name: &str, problem: &str) -> String {
    format!("invalid project name {name:?} ({problem}): {NAME_RULE}")
}

fn suggested_name(name: &str) -> Option<String> {
    normalize_name(name).filter(|good| good != name && name_problem(good).is_none())
}

/// What is wrong with a name, or `None` if it is valid.
fn name_problem(name: &str) -> Option<String> {
    let length = name.chars().count();
    if name.is_empty() {
        return Some("it is empty".to_owned());
    }
    if length > MAX_NAME_LEN {
        return Some(format!("it is {length} characters long, more than {MAX_NAME_LEN}"));
    }
    if !name.is_ascii() {
        return Some("it contains non-ASCII characters".to_owned());
    }
    if name.bytes().any(|b| b.is_ascii_uppercase()) {
        return Some("it contains uppercase letters".to_owned());
    }
    if let Some(bad) =
        name.chars().find(|&c| !(c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-'))
    {
        return Some(format!("it contains {bad:?}"));
    }
    if name.starts_with('-') {
        return Some("it starts with '-'".to_owned());
    }
    if name.ends_with('-') {
        return Some("it ends with '-'".to_owned());
    }
    None
}

/// Normalise a directory name into a project name: lowercase; `_`, `.` and space become
/// `-`; other characters outside `[a-z0-9-]` (non-ASCII included) are dropped; runs of
/// `-` are collapsed; leading and trailing `-` are trimmed; the result is cut to
/// [`MAX_NAME_LEN`] (and trimmed again). `None` if nothing valid remains.
pub fn normalize_name(raw: &str) -> Option<String> {
    let mut out = String::with_capacity(raw.len());
    for c in raw.chars() {
        let c = match c.to_ascii_lowercase() {
            '_' | '.' | ' ' => '-',
            c @ ('a'..='z' | '0'..='9' | '-') => c,
            _ => continue,
        };
        if !(c == '-' && (out.is_empty() || out.ends_with('-'))) {
            out.push(c);
        }
    }
    out.truncate(MAX_NAME_LEN);
    let trimmed = out.trim_matches('-');
    (!trimmed.is_empty()).then(|| trimmed.to_owned())
}

// ---------------------------------------------------------------------------------------
// Editing the stopped flag
// ---------------------------------------------------------------------------------------

/// Set `cluster.stopped: true`, returning the new full text. Every other byte (comments,
/// blank lines, key order, quoting, line endings, trailing-newline convention) is kept,
/// and the result is verified to parse to the same settings plus the flag. Already set:
/// the text is returned unchanged.
pub fn with_stopped_flag(path: &Utf8Path, text: &str) -> Result<String, ConfigError> {
    edit_flag(path, text, true)
}

/// Remove `cluster.stopped`, returning the new full text; also removes a `cluster:` key
/// left empty (no other children, no comments), so that it undoes [`with_stopped_flag`]
/// byte for byte on a file that had no `cluster:`. Same guarantees as
/// [`with_stopped_flag`]. No flag set (absent, `false` or null): the text is returned
/// unchanged.
pub fn without_stopped_flag(path: &Utf8Path, text: &str) -> Result<String, ConfigError> {
    edit_flag(path, text, false)
}

fn edit_flag(path: &Utf8Path, text: &str, stopped: bool) -> Result<String, ConfigError> {
    let old = parse_full(path, text)?;
    if old.config.cluster.stopped == stopped {
        return Ok(text.to_owned());
    }
    let (bom, body) = match text.strip_prefix('\u{feff}') {
        Some(body) => ("\u{feff}", body),
        None => ("", text),
    };
    let edited = if stopped {
        set_flag(body, &old.root)
    } else {
        clear_flag(body, &old.root).map(|t| vec![t])
    };
    let candidates = edited.map_err(|reason| {
        let hint = if reason.contains("carriage returns") {
            "convert the file's line breaks to \\n (or \\r\\n)"
        } else {
            "write the `cluster:` section in block style, e.g.\n  cluster:\n    stopped: true"
        };
        ConfigError::new(format!("cannot edit `cluster.stopped` in {path}: {reason}")).hint(hint)
    })?;
    // The first candidate that verifies wins; the error of the first one otherwise.
    let mut first_error = None;
    for candidate in candidates {
        let new_text = format!("{bom}{candidate}");
        match verify(path, &old, &new_text, stopped) {
            Ok(()) => return Ok(new_text),
            Err(err) => {
                first_error.get_or_insert(err);
            }
        }
    }
    Err(first_error
        .unwrap_or_else(|| ConfigError::new(format!("cannot edit `cluster.stopped` in {path}"))))
}

/// The result must give the same settings and the same YAML tree, except for the flag.
fn verify(path: &Utf8Path, old: &Parsed, new_text: &str, stopped: bool) -> Result<(), ConfigError> {
    let refuse = || {
        ConfigError::new(format!("refusing to edit {path}: the edit would change other settings"))
            .hint(if stopped {
                "add `stopped: true` under `cluster:` by hand (and please report this kilter bug)"
            } else {
                "remove `stopped: true` under `cluster:` by hand (and please report this kilter bug)"
            })
    };
    let new = parse_full(path, new_text).map_err(|_err| refuse())?;
    let mut expected = old.config.clone();
    expected.cluster.stopped = stopped;
    if new.config != expected || without_flag(&new.root) != without_flag(&old.root) {
        return Err(refuse());
    }
    Ok(())
}

/// The tree with `cluster.stopped` removed and an empty `cluster` dropped.
fn without_flag(root: &Value) -> Value {
    let mut root = root.clone();
    if let Value::Mapping(map) = &mut root {
        let drop_cluster = match map.get_mut("cluster") {
            Some(Value::Mapping(cluster)) => {
                cluster.remove("stopped");
                cluster.is_empty()
            }
            Some(Value::Null) => true,
            _ => false,
        };
        if drop_cluster {
            map.remove("cluster");
        }
        if map.is_empty() {
            return Value::Null;
        }
    }
    root
}

/// One line of the text: `start..end` is its content, `end..next` its line break.
#[derive(Clone, Copy, Debug)]
struct Line {
    start: usize,
    end: usize,
    next: usize,
}

/// The text split into lines, for line-based edits.
struct Doc<'a> {
    text: &'a str,
    lines: Vec<Line>,
    /// The line break new lines get: the file's first one (`\n` if it has none).
    eol: &'static str,
}

impl<'a> Doc<'a> {
    fn new(text: &'a str) -> Result<Self, String> {
        let bytes = text.as_bytes();
        if bytes.iter().enumerate().any(|(i, &b)| b == b'\r' && bytes.get(i + 1) != Some(&b'\n')) {
            return Err("the file uses bare carriage returns (\\r) as line breaks".to_owned());
        }
        let mut lines = Vec::new();
        let mut start = 0;
        while start < text.len() {
            let (end, next) = match text[start..].find('\n') {
                Some(i) if i > 0 && bytes[start + i - 1] == b'\r' => (start + i - 1, start + i + 1),
                Some(i) => (start + i, start + i + 1),
                None => (text.len(), text.len()),
            };
            lines.push(Line { start, end, next });
            start = next;
        }
        let eol = match lines.first() {
            Some(first) if &text[first.end..first.next] == "\r\n" => "\r\n",
            _ => "\n",
        };
        Ok(Doc { text, lines, eol })
    }

    /// Content of 0-based line `i` (no line break).
    fn content(&self, i: usize) -> &'a str {
        self.lines.get(i).map_or("", |l| &self.text[l.start..l.end])
    }

    fn line_break(&self, i: usize) -> &'a str {
        self.lines.get(i).map_or("", |l| &self.text[l.end..l.next])
    }

    /// Line `pos.line` and the byte offset of `pos.col` in it.
    fn at(&self, pos: Pos) -> (usize, usize) {
        let index = pos.line.saturating_sub(1);
        let content = self.content(index);
        let byte =
            content.char_indices().nth(pos.col.saturating_sub(1)).map_or(content.len(), |(b, _)| b);
        (index, byte)
    }

    /// The index of a `...` document-end line, if any.
    fn document_end(&self) -> Option<usize> {
        (0..self.lines.len()).find(|&i| {
            let c = self.content(i);
            c == "..." || c.starts_with("... ") || c.starts_with("...\t")
        })
    }

    /// Indentation step of nested block mappings: the first `key:` line followed by a
    /// more indented `key:` line decides; 2 if none.
    fn indent_unit(&self) -> usize {
        let mut block_scalar: Option<usize> = None;
        let mut pending: Option<usize> = None;
        for i in 0..self.lines.len() {
            let content = self.content(i);
            let trimmed = content.trim_start();
            if trimmed.is_empty() || trimmed.starts_with('#') {
                continue;
            }
            let indent = content.len() - trimmed.len();
            if let Some(parent) = block_scalar {
                if indent > parent {
                    continue;
                }
                block_scalar = None;
            }
            if let Some(parent) = pending.take()
                && indent > parent
                && !trimmed.starts_with('-')
            {
                return (indent - parent).clamp(1, 8);
            }
            let (value, _) = split_comment(trimmed);
            let value = value.trim_end();
            if trimmed.starts_with('-') {
                continue;
            }
            if value.ends_with(':') {
                pending = Some(indent);
            } else if let Some(colon) = value.find(": ") {
                let after = value[colon + 2..].trim_start();
                if after.starts_with('|') || after.starts_with('>') {
                    block_scalar = Some(indent);
                }
            }
        }
        2
    }
}

/// Line-level edits, applied in one pass.
#[derive(Default)]
struct LineEdits {
    replace: BTreeMap<usize, String>,
    insert_after: BTreeMap<usize, String>,
    remove: BTreeSet<usize>,
}

impl LineEdits {
    fn apply(&self, doc: &Doc<'_>) -> String {
        let mut out = String::with_capacity(doc.text.len() + 32);
        for i in 0..doc.lines.len() {
            let line_break = doc.line_break(i);
            if !self.remove.contains(&i) {
                out.push_str(self.replace.get(&i).map_or(doc.content(i), String::as_str));
                out.push_str(line_break);
            }
            if let Some(new) = self.insert_after.get(&i) {
                if line_break.is_empty() {
                    // Last line without a line break: keep the file without a final one.
                    out.push_str(doc.eol);
                    out.push_str(new);
                } else {
                    out.push_str(new);
                    out.push_str(doc.eol);
                }
            }
        }
        let last = doc.lines.len().checked_sub(1);
        if last.is_some_and(|last| self.remove.contains(&last) && doc.line_break(last).is_empty()) {
            // The removed last line had no line break: neither may the new last line
            // (this also drops the `\n` that `with_stopped_flag` put before `cluster:`).
            if let Some(stripped) = out.strip_suffix('\n') {
                out.truncate(stripped.strip_suffix('\r').unwrap_or(stripped).len());
            }
        }
        out
    }
}

/// `(value, comment)`: `comment` starts at the first `#` that begins a comment
/// (preceded by whitespace, outside quotes).
fn split_comment(s: &str) -> (&str, &str) {
    let mut quote: Option<char> = None;
    let mut previous = ' ';
    for (i, c) in s.char_indices() {
        match quote {
            Some(q) if c == q => quote = None,
            Some(_) => {}
            None if c == '#' && previous.is_whitespace() => return (&s[..i], &s[i..]),
            None if (c == '"' || c == '\'')
                && (previous.is_whitespace() || matches!(previous, '{' | '[' | ',' | ':')) =>
            {
                quote = Some(c);
            }
            None => {}
        }
        previous = c;
    }
    (s, "")
}

/// Byte offset of the `:` that ends the key starting at byte `key` of `line`.
fn key_colon(line: &str, key: usize) -> Option<usize> {
    let rest = line.get(key..)?;
    let after_key = match rest.chars().next()? {
        quote @ ('"' | '\'') => {
            let mut escaped = false;
            let close = rest[1..].char_indices().find(|&(_, c)| {
                let close = c == quote && !escaped;
                escaped = quote == '"' && c == '\\' && !escaped;
                close
            })?;
            key + 1 + close.0 + 1
        }
        _ => {
            let bytes = rest.as_bytes();
            let colon = (0..bytes.len()).find(|&i| {
                bytes[i] == b':' && bytes.get(i + 1).is_none_or(|b| *b == b' ' || *b == b'\t')
            })?;
            return Some(key + colon);
        }
    };
    let gap = line[after_key..].len() - line[after_key..].trim_start().len();
    (line[after_key + gap..].starts_with(':')).then_some(after_key + gap)
}

/// The line with its inline value (after the `:` at `colon`) replaced by `new`;
/// whitespace and a trailing comment are kept (the comment in its column if possible). An empty `new` removes the value and the
/// blanks before it.
fn replace_inline_value(line: &str, colon: usize, new: &str) -> String {
    let head = &line[..=colon];
    let (value, comment) = split_comment(&line[colon + 1..]);
    let token = value.trim();
    let lead = value.len() - value.trim_start().len();
    let tail = if token.is_empty() { value } else { &value[lead + token.len()..] };
    match (new.is_empty(), token.is_empty()) {
        (true, _) if comment.is_empty() => head.to_owned(),
        (true, _) => format!("{head}{}{comment}", if tail.is_empty() { " " } else { tail }),
        (false, true) => format!("{head} {new}{value}{comment}"),
        (false, false) => {
            // Keep a trailing comment in its column when the blanks allow it.
            let width = tail.len() + token.chars().count();
            let tail = if !comment.is_empty() && is_all_spaces(tail) && !tail.is_empty() {
                " ".repeat(width.saturating_sub(new.chars().count()).max(1))
            } else {
                tail.to_owned()
            };
            format!("{head}{}{new}{tail}{comment}", &value[..lead])
        }
    }
}

const FALSE_OR_NULL: &[&str] = &["false", "False", "FALSE", "~", "null", "Null", "NULL", ""];
const TRUE: &[&str] = &["true", "True", "TRUE"];

fn is_all_spaces(s: &str) -> bool {
    s.bytes().all(|b| b == b' ')
}

/// Where `cluster:` is: its line index, the byte offset of its key, the `:` after the
/// key, and the inline value token.
struct ClusterKey<'a> {
    line: usize,
    key: usize,
    colon: usize,
    token: &'a str,
    comment: &'a str,
}

fn cluster_key<'a>(doc: &Doc<'a>) -> Result<ClusterKey<'a>, String> {
    let pos =
        locate(doc.text, &["cluster"], Target::Key).ok_or("could not find the `cluster` key")?;
    let (line, key) = doc.at(pos);
    let content = doc.content(line);
    if !is_all_spaces(&content[..key]) {
        return Err(format!("line {}: `cluster:` does not start its line", pos.line));
    }
    let colon = key_colon(content, key)
        .ok_or(format!("line {}: could not find the `:` after `cluster`", pos.line))?;
    let (value, comment) = split_comment(&content[colon + 1..]);
    Ok(ClusterKey { line, key, colon, token: value.trim(), comment })
}

fn is_flow(token: &str) -> bool {
    token.starts_with('{')
}

/// A token that may precede a block mapping on the key's line: an anchor or a tag.
fn is_node_property(token: &str) -> bool {
    (token.starts_with('&') || token.starts_with('!')) && !token.contains(char::is_whitespace)
}

/// Candidate texts with the flag set, best first (see `edit_flag`).
fn set_flag(body: &str, root: &Value) -> Result<Vec<String>, String> {
    let doc = Doc::new(body)?;
    let unit = " ".repeat(doc.indent_unit());
    let map = match root {
        Value::Null => return Ok(vec![append_cluster(&doc, "", &unit)]),
        Value::Mapping(map) => map,
        _ => return Err("the top level is not a mapping".to_owned()),
    };
    let Some(cluster) = map.get("cluster") else {
        let pos = locate(body, &[], Target::Value).ok_or("could not find the top-level mapping")?;
        let (line, byte) = doc.at(pos);
        let content = doc.content(line);
        if content[byte..].starts_with('{') {
            return Err("the top level is written as a flow mapping `{…}`".to_owned());
        }
        if !is_all_spaces(&content[..byte]) {
            return Err(format!("line {}: the first key does not start its line", pos.line));
        }
        let indent = &content[..byte];
        // Appending needs a line break after the last line; if the file has none and ends
        // in a block scalar, that would change the scalar: then go before the last key.
        let mut candidates = vec![append_cluster(&doc, indent, &unit)];
        candidates.extend(insert_before_last_key(&doc, map, indent, &unit));
        return Ok(candidates);
    };
    let key = cluster_key(&doc)?;
    let content = doc.content(key.line);
    let mut edits = LineEdits::default();
    let child_indent = format!("{}{unit}", &content[..key.key]);
    match cluster {
        Value::Null if matches!(key.token, "" | "~" | "null" | "Null" | "NULL") => {}
        Value::Mapping(m) if is_flow(key.token) && !m.is_empty() => {
            return set_in_flow(&doc, &key, m).map(|t| vec![t]);
        }
        Value::Mapping(m)
            if !m.is_empty() && (key.token.is_empty() || is_node_property(key.token)) =>
        {
            return set_in_block(&doc, &key, m).map(|t| vec![t]);
        }
        Value::Mapping(m) if m.is_empty() && is_flow(key.token) => {
            if !(key.token.ends_with('}') && key.token[1..key.token.len() - 1].trim().is_empty()) {
                return Err("`cluster: {}` spans several lines".to_owned());
            }
        }
        _ => return Err(format!("line {}: unexpected value after `cluster:`", key.line + 1)),
    }
    // Empty `cluster:` (possibly `~`, `null` or `{}`): becomes a block holding the flag.
    if !key.token.is_empty() {
        edits.replace.insert(key.line, replace_inline_value(content, key.colon, ""));
    }
    edits.insert_after.insert(key.line, format!("{child_indent}stopped: true"));
    Ok(vec![edits.apply(&doc)])
}

/// `cluster:` / `stopped: true` inserted before the last top-level key (and the comment
/// lines right above it).
fn insert_before_last_key(
    doc: &Doc<'_>,
    map: &Mapping,
    indent: &str,
    unit: &str,
) -> Option<String> {
    let last = key_repr(map.keys().last()?);
    let (mut line, byte) = doc.at(locate(doc.text, &[&last], Target::Key)?);
    if byte != indent.len() {
        return None;
    }
    while line > 0 && {
        let above = doc.content(line - 1);
        above.starts_with(indent) && above[indent.len()..].starts_with('#')
    } {
        line -= 1;
    }
    let at = doc.lines[line].start;
    let eol = doc.eol;
    Some(format!(
        "{}{indent}cluster:{eol}{indent}{unit}stopped: true{eol}{}",
        &doc.text[..at],
        &doc.text[at..]
    ))
}

/// Append `cluster:` / `stopped: true` at the end (before a `...` line if there is one).
fn append_cluster(doc: &Doc<'_>, indent: &str, unit: &str) -> String {
    let eol = doc.eol;
    let block = format!("{indent}cluster:{eol}{indent}{unit}stopped: true");
    let text = doc.text;
    if let Some(end) = doc.document_end() {
        let at = doc.lines[end].start;
        return format!("{}{block}{eol}{}", &text[..at], &text[at..]);
    }
    if text.is_empty() || text.ends_with('\n') {
        format!("{text}{block}{eol}")
    } else {
        format!("{text}{eol}{block}")
    }
}

fn set_in_block(doc: &Doc<'_>, key: &ClusterKey<'_>, cluster: &Mapping) -> Result<String, String> {
    let mut edits = LineEdits::default();
    if cluster.contains_key("stopped") {
        let pos = locate(doc.text, &["cluster", "stopped"], Target::Key)
            .ok_or("could not find `stopped`")?;
        let (line, byte) = doc.at(pos);
        let content = doc.content(line);
        let colon = key_colon(content, byte).ok_or("could not find the `:` after `stopped`")?;
        let (value, _) = split_comment(&content[colon + 1..]);
        let value_line = locate(doc.text, &["cluster", "stopped"], Target::Value).map(|p| p.line);
        let null = cluster.get("stopped").is_some_and(Value::is_null);
        if !FALSE_OR_NULL.contains(&value.trim()) || (!null && value_line != Some(pos.line)) {
            return Err(format!(
                "line {}: `stopped:` must have its value on the same line",
                pos.line
            ));
        }
        edits.replace.insert(line, replace_inline_value(content, colon, "true"));
    } else {
        // The block's first key (the mapping's own position is its anchor or tag, if any).
        let first = cluster.keys().next().map(key_repr).unwrap_or_default();
        let pos = locate(doc.text, &["cluster", &first], Target::Key)
            .ok_or("could not find the `cluster` block")?;
        let (line, byte) = doc.at(pos);
        let indent = &doc.content(line)[..byte];
        if line <= key.line || !is_all_spaces(indent) || indent.len() <= key.key {
            return Err(format!("line {}: unexpected layout of the `cluster:` block", pos.line));
        }
        edits.insert_after.insert(key.line, format!("{indent}stopped: true"));
    }
    Ok(edits.apply(doc))
}

/// The `{ … }` on the `cluster:` line, as a byte range of that line, if it closes there.
fn flow_span(line: &str, open: usize) -> Option<(usize, usize)> {
    let mut depth = 0usize;
    let mut quote: Option<char> = None;
    let mut previous = ' ';
    for (i, c) in line[open..].char_indices() {
        match (quote, c) {
            (Some(q), c) if c == q => quote = None,
            (Some(_), _) => {}
            // A quote opens a quoted scalar only at the start of a token.
            (None, '"' | '\'')
                if previous.is_whitespace() || matches!(previous, '{' | '[' | ',' | ':') =>
            {
                quote = Some(c);
            }
            (None, '{' | '[') => depth += 1,
            (None, '}' | ']') => {
                depth = depth.checked_sub(1)?;
                if depth == 0 {
                    return Some((open, open + i));
                }
            }
            (None, _) => {}
        }
        previous = c;
    }
    None
}

/// The byte range of the flow scalar starting at `pos`, which must be on `line`.
fn flow_scalar(doc: &Doc<'_>, pos: Pos, line: usize) -> Option<(usize, usize)> {
    let (at_line, start) = doc.at(pos);
    if at_line != line {
        return None;
    }
    let content = doc.content(line);
    let len = content[start..].find([',', '}', ' ', '\t', '#']).unwrap_or(content.len() - start);
    Some((start, start + len))
}

fn flow_layout<'a>(
    doc: &Doc<'a>,
    key: &ClusterKey<'_>,
) -> Result<(&'a str, (usize, usize)), String> {
    let content = doc.content(key.line);
    let open =
        content[key.colon..].find('{').map(|i| key.colon + i).ok_or("no `{` after `cluster:`")?;
    let span =
        flow_span(content, open).ok_or("`cluster:` is a flow mapping spanning several lines")?;
    Ok((content, span))
}

fn set_in_flow(doc: &Doc<'_>, key: &ClusterKey<'_>, cluster: &Mapping) -> Result<String, String> {
    let (content, (open, _)) = flow_layout(doc, key)?;
    let new_line = if cluster.contains_key("stopped") {
        let pos = locate(doc.text, &["cluster", "stopped"], Target::Value)
            .ok_or("could not find `stopped`")?;
        let (start, end) =
            flow_scalar(doc, pos, key.line).ok_or("`stopped` is not on the `cluster:` line")?;
        if start == end || !FALSE_OR_NULL.contains(&&content[start..end]) {
            return Err("the value of `stopped` is too complex to edit".to_owned());
        }
        format!("{}true{}", &content[..start], &content[end..])
    } else {
        let gap = content[open + 1..].len() - content[open + 1..].trim_start().len();
        let at = open + 1 + gap;
        format!("{}stopped: true, {}", &content[..at], &content[at..])
    };
    let mut edits = LineEdits::default();
    edits.replace.insert(key.line, new_line);
    Ok(edits.apply(doc))
}

fn clear_flag(body: &str, root: &Value) -> Result<String, String> {
    let doc = Doc::new(body)?;
    let Some(Value::Mapping(cluster)) = root.get("cluster") else {
        return Err("`cluster` is not a mapping".to_owned());
    };
    let key = cluster_key(&doc)?;
    if is_flow(key.token) {
        return clear_in_flow(&doc, &key, cluster);
    }
    let pos =
        locate(body, &["cluster", "stopped"], Target::Key).ok_or("could not find `stopped`")?;
    let (line, byte) = doc.at(pos);
    let content = doc.content(line);
    let colon = key_colon(content, byte).ok_or("could not find the `:` after `stopped`")?;
    let (value, _) = split_comment(&content[colon + 1..]);
    if line <= key.line || !is_all_spaces(&content[..byte]) || !TRUE.contains(&value.trim()) {
        return Err(format!("line {}: unexpected layout of `stopped: true`", pos.line));
    }
    let mut edits = LineEdits::default();
    edits.remove.insert(line);
    let only_child = cluster.len() == 1 && key.token.is_empty() && key.comment.is_empty();
    if only_child && !block_has_more(&doc, key.line, line, key.key) {
        edits.remove.insert(key.line);
    }
    Ok(edits.apply(&doc))
}

/// Whether the block under `cluster:` (line `key_line`, key indented `indent`) holds
/// anything besides the `stopped` line: a comment or content line between the two, or
/// a comment or content line indented under `cluster:` after it. Blank lines don't count.
fn block_has_more(doc: &Doc<'_>, key_line: usize, stopped_line: usize, indent: usize) -> bool {
    for i in key_line + 1..doc.lines.len() {
        let content = doc.content(i);
        let trimmed = content.trim_start();
        if i == stopped_line || trimmed.is_empty() {
            continue;
        }
        if i < stopped_line {
            return true;
        }
        return content.len() - trimmed.len() > indent;
    }
    false
}

fn clear_in_flow(doc: &Doc<'_>, key: &ClusterKey<'_>, cluster: &Mapping) -> Result<String, String> {
    let (content, (open, close)) = flow_layout(doc, key)?;
    let key_pos =
        locate(doc.text, &["cluster", "stopped"], Target::Key).ok_or("could not find `stopped`")?;
    let (key_line, key_start) = doc.at(key_pos);
    let value_pos = locate(doc.text, &["cluster", "stopped"], Target::Value)
        .ok_or("could not find `stopped`")?;
    let (start, end) =
        flow_scalar(doc, value_pos, key.line).ok_or("`stopped` is not on the `cluster:` line")?;
    if key_line != key.line || !TRUE.contains(&&content[start..end]) {
        return Err("the value of `stopped` is too complex to edit".to_owned());
    }
    let after = &content[end..close];
    let before = &content[open + 1..key_start];
    let range = if cluster.len() == 1 {
        open + 1..close
    } else if after.trim_start().starts_with(',') {
        let comma = end + after.find(',').unwrap_or(0);
        let gap = content[comma + 1..].len() - content[comma + 1..].trim_start().len();
        key_start..comma + 1 + gap
    } else if before.trim_end().ends_with(',') {
        let comma = open + before.trim_end().len();
        content[..comma].trim_end().len()..end
    } else {
        return Err("could not find the `,` around `stopped`".to_owned());
    };
    let mut edits = LineEdits::default();
    edits.replace.insert(key.line, format!("{}{}", &content[..range.start], &content[range.end..]));
    Ok(edits.apply(doc))
}

// ---------------------------------------------------------------------------------------
// Writing
// ---------------------------------------------------------------------------------------

/// Atomic write: a temporary file in the same directory, fsynced, then renamed over
/// `path` (and the directory fsynced). Keeps the original file's permission bits if it
/// existed; a symlink at `path` is followed, so the link stays a link.
pub fn write_atomic(path: &Utf8Path, contents: &str) -> std::io::Result<()> {
    let target: std::path::PathBuf = match std::fs::symlink_metadata(path) {
        Ok(meta) if meta.file_type().is_symlink() => std::fs::canonicalize(path)?,
        _ => path.as_std_path().to_owned(),
    };
    let original = std::fs::metadata(&target).ok();
    let dir = match target.parent() {
        Some(dir) if !dir.as_os_str().is_empty() => dir.to_owned(),
        _ => std::path::PathBuf::from("."),
    };
    let file_name =
        target.file_name().map_or_else(|| FILE_NAME.into(), |n| n.to_string_lossy().into_owned());
    let (temp_path, mut file) = create_temp(&dir, &file_name)?;
    let result = (|| {
        if let Some(meta) = &original {
            file.set_permissions(meta.permissions())?;
        }
        file.write_all(contents.as_bytes())?;
        file.sync_all()?;
        drop(file);
        std::fs::rename(&temp_path, &target)
    })();
    if let Err(err) = result {
        let _ = std::fs::remove_file(&temp_path);
        return Err(err);
    }
    // Make the rename durable; some filesystems cannot fsync a directory, which is fine.
    if let Ok(dir) = std::fs::File::open(&dir) {
        let _ = dir.sync_all();
    }
    Ok(())
}

fn create_temp(
    dir: &std::path::Path,
    file_name: &str,
) -> std::io::Result<(std::path::PathBuf, std::fs::File)> {
    let pid = std::process::id();
    for attempt in 0..100u32 {
        let candidate = dir.join(format!(".{file_name}.{pid}.{attempt}.tmp"));
        match std::fs::OpenOptions::new().write(true).create_new(true).open(&candidate) {
            Ok(file) => return Ok((candidate, file)),
            Err(err) if err.kind() == std::io::ErrorKind::AlreadyExists => {}
            Err(err) => return Err(err),
        }
    }
    Err(std::io::Error::new(std::io::ErrorKind::AlreadyExists, "could not create a temporary file"))
}

// ---------------------------------------------------------------------------------------
// Starter file
// ---------------------------------------------------------------------------------------

/// The text of a starter `kilter.yaml` for `kilter init`: `name:` set, every other
/// section shown commented out with its default.
pub fn starter(name: &str) -> String {
    // A name like `123` or `true` must be quoted to stay a string.
    let plain = matches!(serde_yaml::from_str::<Value>(name), Ok(Value::String(s)) if s == name);
    let yaml_name = if plain { name.to_owned() } else { format!("{name:?}") };
    format!(
        "\
# kilter.yaml: one disposable local Kubernetes (KIND + Tilt) dev environment
# for this project. Every field is optional; uncomment what you need.

# Project name: the KIND cluster is `kilter-{name}`, the namespace `{name}-dev`.
# 1-42 characters: lowercase letters, digits and '-'.
name: {yaml_name}

# The Tiltfile driving the inner loop (default: ./Tiltfile next to this file).
# tiltfile: Tiltfile

# Pin the KIND node image (passed to `kind create cluster --image`).
# kind:
#   image: kindest/node:v1.31.0

# What `kilter db snapshot` and `kilter db restore` work on (defaults shown).
# database:
#   engine: postgres      # only postgres in v1
#   service: postgres     # Deployment or StatefulSet in {name}-dev
#   user: postgres
#   name: {name}

# `cluster.stopped` is written by `kilter stop` and removed by `kilter up`;
# there is no need to set it by hand.
"
    )
}
