//! The undo of [`set_stopped`](super::set_stopped): the one replacement it made, recorded so
//! that [`clear_stopped`](super::clear_stopped) can swap the original bytes back.

use serde::{Deserialize, Serialize};

use super::writer::{line_end, line_start};

/// The text with `cluster.stopped: true`, and how to take exactly that back.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Edited {
    pub text: String,
    pub undo: Undo,
}

/// What [`set_stopped`](super::set_stopped) replaced: at byte `offset` of the edited text, `new` stands where
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
    pub(super) fn between(old_text: &str, new_text: &str) -> Undo {
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
    pub(super) fn apply(&self, text: &str) -> Option<String> {
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
