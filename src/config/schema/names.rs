//! Project and service names: the DNS-1123 rule, what is wrong with a name, the name to
//! suggest instead, and the checks of names written in kilter.yaml.

use super::walk::Walker;
use crate::config::span::Node;
use crate::error::{Exit, invalid};

/// Longest valid project name: `kilter-<name>-control-plane` must stay a valid hostname (≤ 63).
pub const MAX_NAME_LEN: usize = 42;

pub(crate) const NAME_RULE: &str = "a project name must be a DNS-1123 label: 1 to 42 characters, only lowercase letters (a-z), digits and '-', starting and ending with a letter or digit";

pub(super) const SERVICE_RULE: &str = "a service name must be a DNS-1123 label: 1 to 42 characters, only lowercase letters (a-z), digits and '-', starting and ending with a letter or digit";

/// Check a project name: a DNS-1123 label `^[a-z0-9]([-a-z0-9]*[a-z0-9])?$` of 1 to
/// [`MAX_NAME_LEN`] characters. The error states the rule; its hint suggests
/// [`normalize_name`]`(name)` when that gives a valid name.
pub fn validate_name(name: &str) -> Result<(), Exit> {
    let Some(problem) = name_problem(name) else { return Ok(()) };
    let error = invalid(name_message(name, &problem));
    Err(match suggested_name(name) {
        Some(good) => error.hint(format!("try `{good}`")),
        None => error,
    })
}

/// Check the name of a service given on the command line (`kilter add NAME`).
pub(crate) fn validate_service_name(name: &str) -> Result<(), Exit> {
    let Some(problem) = name_problem(name) else { return Ok(()) };
    let error = invalid(format!("invalid service name {name:?} ({problem}): {SERVICE_RULE}"));
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
pub(super) fn name_problem(name: &str) -> Option<String> {
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

impl Walker<'_> {
    pub(super) fn check_name(&self, at: &Node, name: &str) -> Result<(), Exit> {
        let Some(problem) = name_problem(name) else { return Ok(()) };
        let error = self.error(at, name_message(name, &problem));
        Err(match suggested_name(name) {
            Some(good) => error.hint(format!("use `name: {good}`")),
            None => error,
        })
    }

    pub(super) fn check_service_name(
        &self,
        field: &str,
        at: &Node,
        name: &str,
    ) -> Result<(), Exit> {
        let Some(problem) = name_problem(name) else { return Ok(()) };
        let error = self.error(
            at,
            format_args!("{field}: invalid service name {name:?} ({problem}): {SERVICE_RULE}"),
        );
        Err(match suggested_name(name) {
            Some(good) => error.hint(format!("use `{good}`")),
            None => error,
        })
    }
}
