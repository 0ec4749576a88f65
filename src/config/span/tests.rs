use crate::config::tests::{parse_err, parse_ok, path};
use crate::config::*;

// ---------------------------------------------------------------------------------------
// Positions
// ---------------------------------------------------------------------------------------

/// What to find at the end of a key path.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Target {
    Key,
    Value,
}

/// Position of the node at `keys` (`[]`: the root) in the span tree; `None` if the path does
/// not exist or the text does not parse.
fn locate(text: &str, keys: &[&str], target: Target) -> Option<(usize, usize)> {
    let tree = span::parse(text).ok()?;
    let mut node = tree.root.as_ref()?;
    let mut key_pos = node.pos;
    for key in keys {
        let (k, v) = node.get(key)?;
        key_pos = k.pos;
        node = v;
    }
    let pos = if target == Target::Key { key_pos } else { node.pos };
    Some((pos.line, pos.col))
}

#[test]
fn spans_give_keys_and_values_in_every_style() {
    let t = Target::Key;
    let v = Target::Value;
    type Case<'a> = (&'a str, &'a [&'a str], Target, Option<(usize, usize)>);
    let cases: &[Case<'_>] = &[
        ("name: x\ncluster:\n  stopped: true\n", &["cluster"], t, Some((2, 1))),
        ("name: x\ncluster:\n  stopped: true\n", &["cluster"], v, Some((3, 3))),
        ("name: x\ncluster:\n  stopped: true\n", &["cluster", "stopped"], t, Some((3, 3))),
        ("name: x\ncluster:\n  stopped: true\n", &["cluster", "stopped"], v, Some((3, 12))),
        ("# c\n\nname: x\n", &[], v, Some((3, 1))),
        ("---\nname: x\n", &[], v, Some((2, 1))),
        ("  name: x\n  port: 1\n", &["port"], t, Some((2, 3))),
        (
            "cluster:  # c\n\n    # c\n    stopped: false\n",
            &["cluster", "stopped"],
            v,
            Some((4, 14)),
        ),
        ("cluster: {stopped: false, a: 1}\n", &["cluster", "stopped"], v, Some((1, 20))),
        ("cluster: {stopped: false, a: 1}\n", &["cluster", "a"], t, Some((1, 27))),
        ("cluster: {stopped: false, a: 1}\n", &["cluster"], v, Some((1, 10))),
        ("\"cluster\":\n  'stopped': true\n", &["cluster", "stopped"], t, Some((2, 3))),
        ("a: 1\r\nb:\r\n  c: 2\r\n", &["b", "c"], v, Some((3, 6))),
        ("a: 1\rb:\r  c: 2\r", &["b", "c"], v, Some((3, 6))),
        ("ünï: x\nb: 1\n", &["b"], v, Some((2, 4))),
        ("a: &x\n  b: 1\n", &["a"], v, Some((1, 4))),
        ("a: !!map\n  b: 1\n", &["a"], v, Some((1, 4))),
        ("a:\n- 1\n", &["a"], v, Some((2, 1))),
        ("a:\n  -   1\n", &["a"], v, Some((2, 3))),
        ("a:\n  - b: 1\n", &["a"], v, Some((2, 3))),
        ("a: |\n  text\n", &["a"], v, Some((2, 3))),
        ("a:\nb: 1\n", &["a"], v, Some((1, 3))),
        ("name: x\n", &["cluster"], t, None),
        ("name: x\n", &["name", "deeper"], t, None),
        ("bad: [\n", &["bad"], t, None),
    ];
    for (text, keys, target, expected) in cases {
        assert_eq!(locate(text, keys, *target), *expected, "{text:?} {keys:?} {target:?}");
    }
}

/// The text of top-level `key`'s value: its byte span in `text`.
#[track_caller]
fn span_in<'t>(text: &'t str, key: &str) -> &'t str {
    let tree = span::parse(text).expect("parses");
    let (_, value) = tree.root.as_ref().and_then(|r| r.get(key)).expect(key);
    &text[value.start..value.end]
}

#[test]
fn span_tree_knows_styles_anchors_and_aliases() {
    let tree = span::parse("a: &x {b: 1}\nc: *x\nd: [1]\ne:\n  f: 1\n").expect("parses");
    let root = tree.root.as_ref().expect("a root");
    let (_, a) = root.get("a").expect("a");
    let (_, c) = root.get("c").expect("c");
    assert!(a.is_flow() && a.anchor != 0);
    assert!(matches!(c.kind, span::Kind::Alias(id) if id == a.anchor));
    assert!(tree.deref(c).same(a));
    assert_eq!(tree.aliases, vec![(a.anchor, Pos { line: 2, col: 4 })]);
    assert!(root.get("d").is_some_and(|(_, d)| d.is_flow()));
    assert!(root.get("e").is_some_and(|(_, e)| !e.is_flow()));
    // Byte spans: exact for scalars and flow collections, to the last child for blocks.
    let text = "k: 'q'  # c\nm: {x: 1}\nb:\n  y: 2\n  z: 3\ns: 'it''s'  # '\nd: \"a\\\"b\"  # \"\nt: 'ab'  # c\n\n";
    assert_eq!(span_in(text, "k"), "'q'");
    // A doubled quote inside single quotes and an escaped one inside double quotes end nothing.
    assert_eq!(span_in(text, "s"), "'it''s'");
    assert_eq!(span_in(text, "d"), "\"a\\\"b\"");
    // A quote is doubled only by the character right after it.
    assert_eq!(span_in(text, "t"), "'ab'");
    assert_eq!(span_in(text, "m"), "{x: 1}");
    assert_eq!(span_in(text, "b"), "y: 2\n  z: 3");
    // A quoted scalar after a tag or an anchor; a backslash is no escape in single quotes.
    let text = "k: !!str 'q'  # c\nm: &a \"r\"  # d\np: 'dir\\'  # it's\n";
    assert_eq!(span_in(text, "k"), "!!str 'q'");
    assert_eq!(span_in(text, "m"), "&a \"r\"");
    assert_eq!(span_in(text, "p"), "'dir\\'");
    // A block scalar that ends the file without a line break spans its last line, and one
    // followed by more keys keeps its line feed even when the file has no final one.
    let text = "a: |\n  x\nb: 1\nc: |\n  y\n  z";
    assert_eq!(span_in(text, "c"), "y\n  z");
    let tree = span::parse(text).expect("parses");
    let value_of = |key: &str| tree.root.as_ref()?.get(key).and_then(|(_, v)| v.text());
    assert_eq!((value_of("a"), value_of("c")), (Some("x\n"), Some("y\nz")));
    // A second document, nesting too deep.
    let deep = format!("a: {}{}\n", "[".repeat(70), "]".repeat(70));
    let problem = span::parse(&deep).expect_err("too deep");
    assert!(problem.message.contains("nested more than 64 levels"), "{}", problem.message);
}

/// `same` is what every edit's result must pass: same content, wherever it is written.
#[test]
fn same_compares_content_anchors_tags_and_aliases_not_positions() {
    let root = |text: &str| span::parse(text).expect("parses").root.expect("a root");
    let same = |a: &str, b: &str| root(a).same(&root(b));
    assert!(same("x: &r 1\ny: *r\nz: [1, {k: v}]\n", "\nx:   &r 1\ny:  *r\nz:\n  - 1\n  - k: v\n"));
    // An anchor or a tag alone makes a difference.
    assert!(!same("a: &x 1\n", "a: 1\n"));
    assert!(!same("a: !!str 1\n", "a: 1\n"));
    // A mapping or a list with one more entry at the end, or an alias to another anchor.
    assert!(!same("a: 1\n", "a: 1\nb: 2\n"));
    assert!(!same("a: [1]\n", "a: [1, 2]\n"));
    assert!(!same("x: &r 1\nw: &s 1\ny: *r\n", "x: &r 1\nw: &s 1\ny: *s\n"));
}

/// Duplicate keys are found through a hash of each key; keys whose hashes collide are
/// compared one by one. With every hash alike, the same duplicates, first lines and no others.
#[test]
fn duplicate_keys_are_found_when_every_hash_collides() {
    span::COLLIDE.with(|c| c.set(true));
    let first_line = |text: &str| span::parse(text).err().map(|p| p.message);
    let results = [
        first_line("a: 1\nb:\n  x: 1\nc: 3\nb: 4\n"),
        first_line("a:\n  x: 1\na: 2\n"),
        first_line("a: 1\nb: 2\nc: {a: 1, b: 2}\n"),
    ];
    span::COLLIDE.with(|c| c.set(false));
    assert_eq!(
        results,
        [
            Some("duplicate key `b` (first defined on line 2)".to_owned()),
            Some("duplicate key `a` (first defined on line 1)".to_owned()),
            None,
        ]
    );
}

#[test]
fn core_schema_resolution() {
    use span::Scalar;
    let cases: &[(&str, Scalar<'_>)] = &[
        ("a: ~", Scalar::Null),
        ("a: null", Scalar::Null),
        ("a: NULL", Scalar::Null),
        ("a:", Scalar::Null),
        ("a: True", Scalar::Bool(true)),
        ("a: FALSE", Scalar::Bool(false)),
        ("a: yes", Scalar::Str("yes")),
        ("a: 5432", Scalar::Number("5432")),
        ("a: -1.5e3", Scalar::Number("-1.5e3")),
        ("a: 0x1f", Scalar::Number("0x1f")),
        ("a: 0o17", Scalar::Number("0o17")),
        ("a: .inf", Scalar::Number(".inf")),
        ("a: .NaN", Scalar::Number(".NaN")),
        ("a: 1.", Scalar::Number("1.")),
        ("a: .5", Scalar::Number(".5")),
        ("a: -.5e1", Scalar::Number("-.5e1")),
        ("a: 1e", Scalar::Str("1e")),
        ("a: 1.2.3", Scalar::Str("1.2.3")),
        ("a: 0x", Scalar::Str("0x")),
        ("a: '5432'", Scalar::Str("5432")),
        ("a: \"true\"", Scalar::Str("true")),
        ("a: !!str 5432", Scalar::Str("5432")),
        ("a: ! 5432", Scalar::Str("5432")),
        ("a: !!int 5432", Scalar::Number("5432")),
        ("a: !custom x", Scalar::Tagged("!custom")),
    ];
    for (text, expected) in cases {
        let tree = span::parse(text).expect("parses");
        let value = tree.root.as_ref().and_then(|r| r.get("a")).map(|(_, v)| v.scalar());
        assert_eq!(value, Some(Some(*expected)), "{text:?}");
    }
    for (word, written) in [
        ("shop", "shop"),
        ("my_shop.v2-b", "my_shop.v2-b"),
        ("123", "\"123\""),
        ("true", "\"true\""),
        ("null", "\"null\""),
        ("1e3", "\"1e3\""),
        ("-x", "\"-x\""),
        ("a b", "\"a b\""),
    ] {
        assert_eq!(span::scalar_text(word), written, "{word:?}");
    }
}

// ---------------------------------------------------------------------------------------
// Tabs after a colon
// ---------------------------------------------------------------------------------------

/// A file whose first byte is a `:` followed by a tab: the tab is read as a space like any
/// other after a colon, and the file reads as a mapping with a null key, which kilter warns
/// about as an unknown key: no panic at the start of the text.
#[test]
fn a_tab_after_a_colon_at_the_very_start_is_read_not_a_panic() {
    let (config, warnings) = parse_ok(":\tshop\n");
    assert_eq!(config.name, None);
    assert_eq!(warnings, vec!["/p/kilter.yaml:1: unknown key `~`".to_owned()]);
}

/// A tab after a key's `:` is separation whitespace (YAML 1.2 `s-separate-in-line`), as libyaml
/// reads it; the parser kilter uses refuses `name:\tshop`, so kilter reads such a file with
/// those tabs as spaces (the same bytes count, so positions stay right) and keeps the file's
/// own bytes in every edit.
#[test]
fn a_tab_after_a_keys_colon_is_whitespace_and_kept_through_stop_and_up() {
    for (text, name, image) in [
        ("name:\tshop\n", "shop", None),
        ("name:\t\tshop  # c\n", "shop", None),
        ("name: \tshop\n", "shop", None),
        (
            "name:\tshop\nkind:\n  image:\tkindest/node:v1.31.0\n",
            "shop",
            Some("kindest/node:v1.31.0"),
        ),
        ("{name:\tshop, kind: {image:\t-x}}\n", "shop", Some("-x")),
        ("name:\t'shop'\r\n", "shop", None),
        // A comment with a colon and a tab before the first key.
        ("# why:\tthis\nname:\tshop\n", "shop", None),
    ] {
        let (config, _) = parse_ok(text);
        assert_eq!(config.name.as_deref(), Some(name), "{text:?}");
        assert_eq!(config.kind.image.as_deref(), image, "{text:?}");
        let set = set_stopped(path(), text).unwrap_or_else(|e| panic!("{text:?}: {e}"));
        let tabs = |t: &str| t.matches('\t').count();
        assert_eq!(tabs(&set.text), tabs(text), "{text:?} → {:?}", set.text);
        let head = text.split([',', '\n']).next().unwrap_or_default();
        assert!(set.text.starts_with(head), "{text:?} → {:?}", set.text);
        assert!(parse_ok(&set.text).0.cluster.stopped, "{text:?}");
        assert_eq!(clear_stopped(path(), &set.text, Some(&set.undo)).expect("undo"), text);
        assert_eq!(clear_stopped(path(), &set.text, None).expect("clear"), text);
    }
    // Tabs that are content stay content: in quoted and block scalars, after a `:` too.
    let text =
        "name:\tshop\ndescription: \"a:\\tb c:\tdone\"\nnote: |\n  key:\tvalue\ntilt: 'x:\ty'\n";
    let tree = span::parse(text).map_err(|p| p.message).expect("parses");
    let root = tree.root.as_ref().expect("a root");
    let value = |key: &str| root.get(key).map(|(_, v)| v).expect(key);
    assert_eq!(value("description").text(), Some("a:\tb c:\tdone"));
    assert_eq!(value("note").text(), Some("key:\tvalue\n"));
    assert_eq!(value("tilt").text(), Some("x:\ty"));
    assert_eq!(value("name").pos, Pos { line: 1, col: 7 });
    // A real error elsewhere is still reported where it is.
    let err = parse_err("name:\tshop\nkind: [\n");
    assert!(err.to_string().contains("/p/kilter.yaml:"), "{err}");
    assert!(!err.to_string().contains("valid YAML whitespace"), "{err}");
    // Tabs as indentation stay an error.
    let err = parse_err("name: shop\nkind:\n\timage: x\n");
    assert!(err.to_string().contains("tab character in indentation"), "{err}");
    // Also in a file read with its tabs after colons as spaces: only the blanks right after a
    // `:` are separation, not the line break and the indentation that follow it.
    let err = parse_err("name:\tshop\nkind:\n\timage: x\n");
    assert!(err.to_string().contains("tab character in indentation"), "{err}");
}

/// A list that is an item of a list starts at its own `-`, or at its tag: not at the outer
/// item's `-` (the parser points at the first item's content).
#[test]
fn a_list_inside_a_list_starts_at_its_own_dash_or_tag() {
    for (text, start) in [("a:\n  - - x\n", 7), ("a:\n  - !!seq\n    - x\n", 7)] {
        let tree = span::parse(text).expect("parses");
        let root = tree.root.as_ref().expect("a root");
        let (_, list) = root.get("a").expect("a");
        let (outer, inner) = (list.start, list.items().map(|i| i[0].start));
        assert_eq!((outer, inner), (5, Some(start)), "{text:?}");
    }
}
