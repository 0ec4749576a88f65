//! Temporary adapter: `set_stopped`/`clear_stopped` with an undo record, on top of the flag
//! editor in `config`. (Replaced by the editor's own API.)

use camino::Utf8Path;
use serde::{Deserialize, Serialize};

use crate::config::{self, ConfigError};

/// Exactly what an edit replaced, so that it can be swapped back byte for byte.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Undo {
    pub offset: usize,
    pub old: String,
    pub new: String,
}

#[derive(Debug, Clone)]
pub struct Edited {
    pub text: String,
    pub undo: Undo,
}

fn diff(old: &str, new: &str) -> Undo {
    let a = old.as_bytes();
    let b = new.as_bytes();
    let mut pre = a.iter().zip(b).take_while(|(x, y)| x == y).count();
    while !old.is_char_boundary(pre) || !new.is_char_boundary(pre) {
        pre -= 1;
    }
    let max_suf = a.len().min(b.len()) - pre;
    let mut suf =
        a.iter().rev().zip(b.iter().rev()).take(max_suf).take_while(|(x, y)| x == y).count();
    while !old.is_char_boundary(a.len() - suf) || !new.is_char_boundary(b.len() - suf) {
        suf -= 1;
    }
    Undo {
        offset: pre,
        old: old[pre..a.len() - suf].to_owned(),
        new: new[pre..b.len() - suf].to_owned(),
    }
}

pub fn set_stopped(path: &Utf8Path, text: &str) -> Result<Edited, ConfigError> {
    let new = config::with_stopped_flag(path, text)?;
    let undo = diff(text, &new);
    Ok(Edited { text: new, undo })
}

pub fn clear_stopped(
    path: &Utf8Path,
    text: &str,
    undo: Option<&Undo>,
) -> Result<String, ConfigError> {
    if let Some(u) = undo {
        let at = if text.get(u.offset..u.offset + u.new.len()) == Some(u.new.as_str()) {
            Some(u.offset)
        } else if text.matches(u.new.as_str()).count() == 1 {
            text.find(u.new.as_str())
        } else {
            None
        };
        if let Some(at) = at {
            let candidate = format!("{}{}{}", &text[..at], u.old, &text[at + u.new.len()..]);
            let want = config::without_stopped_flag(path, text)?;
            let same = |a: &str, b: &str| match (config::parse(path, a), config::parse(path, b)) {
                (Ok((x, _)), Ok((y, _))) => x == y,
                _ => false,
            };
            if same(&candidate, &want) {
                return Ok(candidate);
            }
        }
    }
    config::without_stopped_flag(path, text)
}
