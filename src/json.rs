//! Every `--json` document kilter prints (docs/json.md) goes through [`print`]: one
//! [`Envelope`] carrying the document's `schema_version` around its typed payload.
//!
//! A payload is a plain `Serialize` struct of its command (`ops::status::Status`,
//! `ops::doctor::Report`, …) that implements [`Document`]: its `schema_version` and how its
//! keys are ordered are constants of the type, so a command cannot print a document without
//! them, and no command writes JSON text itself (tests/it/structure.rs checks that `src/ops/`
//! has no `json!` and no `serde_json::to_string`).
//!
//! The key order is part of what kilter printed so far and stays as it was: consumers must not
//! rely on it (docs/json.md), but a diff of two outputs should not change for nothing.

use anyhow::Result;
use serde::Serialize;

use crate::ui::Ui;

/// How the keys of a document are ordered.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Keys {
    /// `schema_version` first, then the payload's fields in declaration order (maps inside it
    /// keep their own order: a `BTreeMap` is sorted).
    Declared,
    /// Every object's keys sorted, at every depth, `schema_version` among them: the documents
    /// of `ls`, `env`, `doctor` and `catalog` have always come out that way.
    Sorted,
}

/// A `--json` payload: the fields of one command's document, without `schema_version`.
pub trait Document: Serialize {
    /// The document's `schema_version` (docs/json.md: bumped only when a field is removed,
    /// renamed, retyped or changes meaning).
    const SCHEMA_VERSION: u32;
    /// How its keys are ordered.
    const KEYS: Keys;
}

/// One `--json` document: `schema_version`, then the payload's fields at the same level.
#[derive(Debug, Serialize)]
pub struct Envelope<'a, T> {
    pub schema_version: u32,
    #[serde(flatten)]
    pub payload: &'a T,
}

impl<'a, T: Document> Envelope<'a, T> {
    pub fn new(payload: &'a T) -> Self {
        Envelope { schema_version: T::SCHEMA_VERSION, payload }
    }
}

/// The document as kilter prints it: pretty-printed, with a final newline.
pub fn render<T: Document>(payload: &T) -> Result<String> {
    let envelope = Envelope::new(payload);
    let text = match T::KEYS {
        Keys::Declared => serde_json::to_string_pretty(&envelope)?,
        // Through a `Value`, whose objects are sorted maps.
        Keys::Sorted => serde_json::to_string_pretty(&serde_json::to_value(&envelope)?)?,
    };
    Ok(text + "\n")
}

/// Print the document on stdout, nothing else there.
pub fn print<T: Document>(ui: &Ui, payload: &T) -> Result<()> {
    ui.stdout(&render(payload)?);
    Ok(())
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeMap;

    use super::*;

    #[derive(Serialize)]
    struct Declared {
        zeta: u8,
        alpha: Option<u8>,
        map: BTreeMap<&'static str, u8>,
        inner: Inner,
    }

    #[derive(Serialize)]
    struct Inner {
        b: u8,
        a: u8,
    }

    impl Document for Declared {
        const SCHEMA_VERSION: u32 = 7;
        const KEYS: Keys = Keys::Declared;
    }

    #[derive(Serialize)]
    struct Sorted(Declared);

    impl Document for Sorted {
        const SCHEMA_VERSION: u32 = 1;
        const KEYS: Keys = Keys::Sorted;
    }

    fn sample() -> Declared {
        Declared {
            zeta: 1,
            alpha: None,
            map: BTreeMap::from([("y", 2), ("x", 3)]),
            inner: Inner { b: 4, a: 5 },
        }
    }

    #[test]
    fn declared_puts_the_version_first_and_keeps_the_field_order() {
        let text = render(&sample()).expect("renders");
        assert_eq!(
            text,
            "{\n  \"schema_version\": 7,\n  \"zeta\": 1,\n  \"alpha\": null,\n  \"map\": {\n    \
             \"x\": 3,\n    \"y\": 2\n  },\n  \"inner\": {\n    \"b\": 4,\n    \"a\": 5\n  }\n}\n"
        );
    }

    /// What `json!` with the payload's values printed (serde_json without `preserve_order`).
    #[test]
    fn sorted_is_what_a_json_literal_printed() {
        let s = sample();
        let literal = serde_json::json!({
            "zeta": s.zeta, "schema_version": 1, "alpha": s.alpha, "map": s.map, "inner": s.inner,
        });
        let want = serde_json::to_string_pretty(&literal).expect("prints") + "\n";
        assert_eq!(render(&Sorted(sample())).expect("renders"), want);
        assert!(want.starts_with("{\n  \"alpha\": null,\n  \"inner\": {\n    \"a\": 5,"), "{want}");
    }
}
