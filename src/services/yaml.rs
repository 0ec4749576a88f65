//! A small YAML emitter for the manifests kilter renders (block style, keys in the order of the
//! JSON map, which is sorted). Strings are written plain only when no YAML reader can take
//! them for anything else — kubectl's YAML 1.1 reader included, where `on`, `yes` and `y` are
//! booleans — and double-quoted (with JSON's escapes, which YAML shares) otherwise.

use serde_json::Value;

/// One YAML document (no `---`), ending with a newline.
pub(crate) fn to_yaml(v: &Value) -> String {
    let mut out = String::new();
    match v {
        Value::Object(m) if !m.is_empty() => mapping(&mut out, m, 0),
        Value::Array(a) if !a.is_empty() => sequence(&mut out, a, 0),
        other => {
            out.push_str(&scalar(other));
            out.push('\n');
        }
    }
    out
}

fn mapping(out: &mut String, m: &serde_json::Map<String, Value>, indent: usize) {
    let pad = " ".repeat(indent);
    for (k, v) in m {
        out.push_str(&pad);
        out.push_str(&string(k));
        entry_value(out, v, indent);
    }
}

/// What follows `key:` (or `- key:`) at `indent`.
fn entry_value(out: &mut String, v: &Value, indent: usize) {
    match v {
        Value::Object(m) if !m.is_empty() => {
            out.push_str(":\n");
            mapping(out, m, indent + 2);
        }
        Value::Array(a) if !a.is_empty() => {
            out.push_str(":\n");
            sequence(out, a, indent + 2);
        }
        other => {
            out.push_str(": ");
            out.push_str(&scalar(other));
            out.push('\n');
        }
    }
}

fn sequence(out: &mut String, a: &[Value], indent: usize) {
    let pad = " ".repeat(indent);
    for item in a {
        out.push_str(&pad);
        out.push_str("- ");
        match item {
            Value::Object(m) if !m.is_empty() => {
                // The first key shares the `- ` line; the others line up under it.
                let mut first = true;
                for (k, v) in m {
                    if !first {
                        out.push_str(&pad);
                        out.push_str("  ");
                    }
                    first = false;
                    out.push_str(&string(k));
                    entry_value(out, v, indent + 2);
                }
            }
            Value::Array(inner) if !inner.is_empty() => {
                out.push('\n');
                sequence(out, inner, indent + 2);
            }
            other => {
                out.push_str(&scalar(other));
                out.push('\n');
            }
        }
    }
}

fn scalar(v: &Value) -> String {
    match v {
        Value::Null => "null".to_owned(),
        Value::Bool(b) => b.to_string(),
        Value::Number(n) => n.to_string(),
        Value::String(s) => string(s),
        Value::Object(_) => "{}".to_owned(),
        Value::Array(_) => "[]".to_owned(),
    }
}

/// A string as a YAML scalar: plain when that cannot be read as anything but this string.
pub(crate) fn string(s: &str) -> String {
    if plain_ok(s) {
        s.to_owned()
    } else {
        serde_json::to_string(s).unwrap_or_else(|_| "\"\"".to_owned())
    }
}

fn plain_ok(s: &str) -> bool {
    let mut chars = s.chars();
    let Some(first) = chars.next() else { return false };
    if !(first.is_ascii_alphabetic() || first == '/' || first == '_') {
        return false;
    }
    if !s.chars().all(|c| c.is_ascii_alphanumeric() || "_./:=@+-".contains(c)) {
        return false;
    }
    if s.ends_with(':') {
        return false;
    }
    // YAML 1.1 and 1.2 booleans and nulls (any case).
    const WORDS: &[&str] = &["y", "n", "yes", "no", "on", "off", "true", "false", "null"];
    !WORDS.iter().any(|w| w.eq_ignore_ascii_case(s))
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn strings_that_could_be_misread_are_quoted() {
        for (s, want) in [
            ("postgres", "postgres"),
            ("postgres:17.5", "postgres:17.5"),
            ("/var/lib/data", "/var/lib/data"),
            ("app.kubernetes.io/name", "app.kubernetes.io/name"),
            ("on", "\"on\""),
            ("Yes", "\"Yes\""),
            ("y", "\"y\""),
            ("null", "\"null\""),
            ("5432", "\"5432\""),
            ("1Gi", "\"1Gi\""),
            ("", "\"\""),
            ("a b", "\"a b\""),
            ("key:", "\"key:\""),
            ("-x", "\"-x\""),
            ("#x", "\"#x\""),
            ("tab\there", "\"tab\\there\""),
            ("ünï", "\"ünï\""),
        ] {
            assert_eq!(string(s), want, "{s:?}");
        }
    }

    /// Lists at the top and in lists, and empty items, as a YAML reader gets them back.
    #[test]
    fn lists_in_lists_and_empty_items() {
        let v = json!([["a", ["b"]], [], {}, {"k": 1, "l": []}]);
        let text = to_yaml(&v);
        assert_eq!(text, "- \n  - a\n  - \n    - b\n- []\n- {}\n- k: 1\n  l: []\n");
        let back: Value = serde_yaml::from_str(&text).expect("YAML");
        assert_eq!(back, v);
        assert_eq!(to_yaml(&json!([])), "[]\n");
        assert_eq!(to_yaml(&json!({})), "{}\n");
    }

    #[test]
    fn documents_in_block_style() {
        let v = json!({
            "kind": "Service",
            "metadata": {"labels": {"a": "b"}, "name": "x"},
            "spec": {"ports": [{"name": "p", "port": 1}], "empty": {}, "none": [], "args": ["a", "on"]}
        });
        assert_eq!(
            to_yaml(&v),
            "kind: Service\nmetadata:\n  labels:\n    a: b\n  name: x\nspec:\n  args:\n    - a\n    - \"on\"\n  empty: {}\n  none: []\n  ports:\n    - name: p\n      port: 1\n"
        );
    }
}
