use super::verify;
use crate::config::tests::{
    APP, DOCUMENTED, ROUTES, SPEC_EXAMPLE, add, parse_ok, path, remove, with, without,
};
use crate::config::*;
use crate::error::Code;

// ---------------------------------------------------------------------------------------
// Editing the stopped flag
// ---------------------------------------------------------------------------------------

fn stopped(mut config: Config, stopped: bool) -> Config {
    config.cluster.stopped = stopped;
    config
}

/// The config invariant: the edit changes `cluster.stopped` and nothing else.
#[track_caller]
fn assert_only_flag_changed(before: &str, after: &str, flag: bool) {
    let (old, _) = parse_ok(before);
    let (new, _) = parse_ok(after);
    assert_eq!(new, stopped(old, flag), "{before:?} -> {after:?}");
    let tree = |text: &str| parse_full(path(), text).expect("parses").tree;
    let (old_tree, new_tree) = (tree(before), tree(after));
    let same = match (verify::without_flag(&old_tree), verify::without_flag(&new_tree)) {
        (None, None) => true,
        (Some(a), Some(b)) => a.same(&b),
        _ => false,
    };
    assert!(same, "the tree changed beyond the flag: {before:?} -> {after:?}");
}

/// Files without `cluster:`: with() appends, without() restores the exact bytes.
#[test]
fn round_trip_files_without_cluster() {
    let documented_with = format!("{DOCUMENTED}cluster:\n  stopped: true\n");
    let crlf = "name: shop\r\n# port\r\nport: 8080\r\n";
    let spec_without_cluster = &SPEC_EXAMPLE[..SPEC_EXAMPLE.find("cluster:").unwrap_or(0)];
    let spec_with_flag = format!("{spec_without_cluster}cluster:\n  stopped: true\n");
    let cases: &[(&str, &str, &str)] = &[
        ("empty file", "", "cluster:\n  stopped: true\n"),
        ("only a newline", "\n", "\ncluster:\n  stopped: true\n"),
        ("one key", "name: shop\n", "name: shop\ncluster:\n  stopped: true\n"),
        ("no trailing newline", "name: shop", "name: shop\ncluster:\n  stopped: true"),
        ("comments only", "# a comment\n", "# a comment\ncluster:\n  stopped: true\n"),
        (
            "ends in a comment, no newline",
            "name: a\n# end",
            "name: a\n# end\ncluster:\n  stopped: true",
        ),
        ("trailing blank lines", "name: a\n\n\n", "name: a\n\n\ncluster:\n  stopped: true\n"),
        ("documented", DOCUMENTED, &documented_with),
        ("spec example without cluster", spec_without_cluster, &spec_with_flag),
        ("crlf", crlf, "name: shop\r\n# port\r\nport: 8080\r\ncluster:\r\n  stopped: true\r\n"),
        (
            "crlf, no trailing newline",
            "name: shop\r\nport: 1",
            "name: shop\r\nport: 1\r\ncluster:\r\n  stopped: true",
        ),
        (
            "4-space indent",
            "name: shop\nkind:\n    image: kindest/node:v1.31.0\n",
            "name: shop\nkind:\n    image: kindest/node:v1.31.0\ncluster:\n    stopped: true\n",
        ),
        (
            "document markers",
            "---\nname: a\n...\n",
            "---\nname: a\ncluster:\n  stopped: true\n...\n",
        ),
        (
            "document end then comment",
            "--- # start\nname: a\n... # end\n# bye\n",
            "--- # start\nname: a\ncluster:\n  stopped: true\n... # end\n# bye\n",
        ),
        ("only ---", "---\n", "---\ncluster:\n  stopped: true\n"),
        (
            "indented top level",
            "  name: a\n  port: 1\n",
            "  name: a\n  port: 1\n  cluster:\n    stopped: true\n",
        ),
        (
            "block scalar last, keep chomping",
            "name: a\ndescription: |+\n  text\n\n",
            "name: a\ndescription: |+\n  text\n\ncluster:\n  stopped: true\n",
        ),
        (
            "flow value last, no newline",
            "skills: [a, b]",
            "skills: [a, b]\ncluster:\n  stopped: true",
        ),
        // A block scalar last with no final newline: appending would add a line break to
        // the scalar, so the block goes before the last key (and its comments) instead.
        (
            "block scalar last, no newline",
            "name: a\ndescription: |\n  text",
            "name: a\ncluster:\n  stopped: true\ndescription: |\n  text",
        ),
        (
            "nested block scalar last, no newline",
            "name: a\n\n# hooks run by the ecosystem\nhooks:\n  pre-up: >\n    ./seed.sh",
            "name: a\n\ncluster:\n  stopped: true\n# hooks run by the ecosystem\nhooks:\n  pre-up: >\n    ./seed.sh",
        ),
        (
            "crlf, block scalar last with comments above, no newline",
            "name: a\r\n# hooks\r\nhooks:\r\n  pre-up: |\r\n    ./seed.sh",
            "name: a\r\ncluster:\r\n  stopped: true\r\n# hooks\r\nhooks:\r\n  pre-up: |\r\n    ./seed.sh",
        ),
        (
            "stripped block scalar last, no newline",
            "description: |-\n  text",
            "description: |-\n  text\ncluster:\n  stopped: true",
        ),
        ("bom", "\u{feff}name: a\n", "\u{feff}name: a\ncluster:\n  stopped: true\n"),
        (
            "quoted values kept",
            "name: 'shop'\nenv: {A: \"x # y\"}\n",
            "name: 'shop'\nenv: {A: \"x # y\"}\ncluster:\n  stopped: true\n",
        ),
    ];
    for (label, before, expected) in cases {
        let after = with(before);
        assert_eq!(&after, expected, "{label}");
        assert_only_flag_changed(before, &after, true);
        assert_eq!(&without(&after), before, "{label}: without(with(x)) == x");
        assert_eq!(with(&without(&after)), after, "{label}: with(without(y)) == y");
        assert_eq!(with(&after), after, "{label}: with() is idempotent");
        assert_eq!(&without(before), before, "{label}: nothing to remove");
    }
}

/// Every line-boundary prefix of realistic files, with LF, CRLF and no final newline:
/// the append case must round-trip exactly and change nothing but the flag.
#[test]
fn round_trip_holds_for_every_prefix_and_line_ending() {
    let spec_without_cluster = &SPEC_EXAMPLE[..SPEC_EXAMPLE.find("cluster:").unwrap_or(0)];
    let mut checked = 0;
    for base in [DOCUMENTED, spec_without_cluster, &starter("shop")] {
        let ends: Vec<usize> = base.match_indices('\n').map(|(i, _)| i + 1).collect();
        for end in ends {
            let prefix = &base[..end];
            for variant in [
                prefix.to_owned(),
                prefix.replace('\n', "\r\n"),
                prefix.trim_end_matches('\n').to_owned(),
            ] {
                let Ok((config, _)) = parse(path(), &variant) else { continue };
                let after = with(&variant);
                assert_only_flag_changed(&variant, &after, true);
                assert_eq!(without(&after), variant);
                assert_eq!(with(&without(&after)), after);
                assert!(!config.cluster.stopped);
                checked += 1;
            }
        }
    }
    assert!(checked > 150, "only {checked} variants parsed");
}

/// Files that already have `cluster:`: byte-exact results both ways.
#[test]
fn edits_of_an_existing_cluster_section() {
    // (label, before, after with(), after without(with()))
    let cases: &[(&str, &str, &str, &str)] = &[
        (
            "block with another key and a comment",
            "name: a\ncluster:\n  # runtime state\n  zone: eu\nport: 1\n",
            "name: a\ncluster:\n  stopped: true\n  # runtime state\n  zone: eu\nport: 1\n",
            "name: a\ncluster:\n  # runtime state\n  zone: eu\nport: 1\n",
        ),
        (
            "stopped: false with a comment",
            "cluster:\n  stopped: false   # set by kilter\nport: 1\n",
            "cluster:\n  stopped: true    # set by kilter\nport: 1\n",
            "port: 1\n",
        ),
        (
            "stopped: false after another key",
            "cluster:\n  zone: eu\n  stopped: false\n",
            "cluster:\n  zone: eu\n  stopped: true\n",
            "cluster:\n  zone: eu\n",
        ),
        ("stopped with no value", "cluster:\n  stopped:\n", "cluster:\n  stopped: true\n", ""),
        ("stopped: null", "cluster:\n    stopped: null # x\n", "cluster:\n    stopped: true # x\n", ""),
        (
            "empty cluster followed by keys",
            "name: a\ncluster:\nport: 1\n",
            "name: a\ncluster:\n  stopped: true\nport: 1\n",
            "name: a\nport: 1\n",
        ),
        (
            "empty cluster with a trailing comment",
            "name: a\ncluster:  # runtime state\nport: 1\n",
            "name: a\ncluster:  # runtime state\n  stopped: true\nport: 1\n",
            "name: a\ncluster:  # runtime state\nport: 1\n",
        ),
        ("cluster: ~", "cluster: ~\n", "cluster:\n  stopped: true\n", ""),
        ("cluster: null with comment", "cluster: null  # c\n", "cluster:  # c\n  stopped: true\n", "cluster:  # c\n"),
        ("cluster: {}", "name: a\ncluster: {}\nport: 1\n", "name: a\ncluster:\n  stopped: true\nport: 1\n", "name: a\nport: 1\n"),
        ("empty cluster last, no newline", "name: a\ncluster:", "name: a\ncluster:\n  stopped: true", "name: a"),
        (
            "4-space file, empty cluster",
            "kind:\n    image: x\ncluster:\n",
            "kind:\n    image: x\ncluster:\n    stopped: true\n",
            "kind:\n    image: x\n",
        ),
        (
            "4-space cluster block",
            "cluster:\n    zone: eu\nname: a\n",
            "cluster:\n    stopped: true\n    zone: eu\nname: a\n",
            "cluster:\n    zone: eu\nname: a\n",
        ),
        (
            "comments after the cluster block",
            "cluster:\n  zone: eu\n\n# --- ecosystem ---\nport: 1\n",
            "cluster:\n  stopped: true\n  zone: eu\n\n# --- ecosystem ---\nport: 1\n",
            "cluster:\n  zone: eu\n\n# --- ecosystem ---\nport: 1\n",
        ),
        (
            "crlf, stopped: false",
            "name: a\r\ncluster:\r\n  stopped: false\r\nport: 1\r\n",
            "name: a\r\ncluster:\r\n  stopped: true\r\nport: 1\r\n",
            "name: a\r\nport: 1\r\n",
        ),
        (
            "quoted keys",
            "\"cluster\":\n  'stopped': false\n  zone: eu\n",
            "\"cluster\":\n  'stopped': true\n  zone: eu\n",
            "\"cluster\":\n  zone: eu\n",
        ),
        (
            "anchored block",
            "cluster: &state\n  zone: eu\n",
            "cluster: &state\n  stopped: true\n  zone: eu\n",
            "cluster: &state\n  zone: eu\n",
        ),
        (
            "flow mapping without stopped",
            "cluster: {zone: eu}  # c\n",
            "cluster: {stopped: true, zone: eu}  # c\n",
            "cluster: {zone: eu}  # c\n",
        ),
        (
            "flow mapping with stopped: false",
            "cluster: { stopped: false, zone: eu }\n",
            "cluster: { stopped: true, zone: eu }\n",
            "cluster: { zone: eu }\n",
        ),
        (
            "flow mapping, stopped last",
            "cluster: {zone: eu, stopped: false}\n",
            "cluster: {zone: eu, stopped: true}\n",
            "cluster: {zone: eu}\n",
        ),
        (
            "flow mapping with an apostrophe inside a value",
            "cluster: {note: it's fine}\n",
            "cluster: {stopped: true, note: it's fine}\n",
            "cluster: {note: it's fine}\n",
        ),
        (
            "flow mapping with a quoted value",
            "cluster: {note: \"a, b}\"}\n",
            "cluster: {stopped: true, note: \"a, b}\"}\n",
            "cluster: {note: \"a, b}\"}\n",
        ),
        ("flow mapping, stopped alone", "cluster: {stopped: false}\n", "cluster: {stopped: true}\n", "cluster: {}\n"),
        (
            "document markers around a block",
            "---\ncluster:\n  zone: eu\n...\n",
            "---\ncluster:\n  stopped: true\n  zone: eu\n...\n",
            "---\ncluster:\n  zone: eu\n...\n",
        ),
        (
            "spec example",
            &SPEC_EXAMPLE.replace("stopped: true ", "stopped: false"),
            SPEC_EXAMPLE,
            &SPEC_EXAMPLE.replace(
                "cluster:\n  stopped: true            # written by `kilter stop`, removed by `kilter up`\n",
                "",
            ),
        ),
    ];
    for (label, before, expected_with, expected_without) in cases {
        let after = with(before);
        assert_eq!(&after, expected_with, "{label}: with()");
        assert_only_flag_changed(before, &after, true);
        let removed = without(&after);
        assert_eq!(&removed, expected_without, "{label}: without()");
        assert_only_flag_changed(&after, &removed, false);
        assert_eq!(with(&after), after, "{label}: with() is idempotent");
        assert_eq!(without(&removed), removed, "{label}: without() is idempotent");
    }
}

#[test]
fn without_removes_only_what_with_would_add() {
    let cases: &[(&str, &str, &str)] = &[
        ("flag first of two", "cluster:\n  stopped: true\n  zone: eu\n", "cluster:\n  zone: eu\n"),
        (
            "flag with comment",
            "cluster:\n  zone: eu\n  stopped: true  # why\n",
            "cluster:\n  zone: eu\n",
        ),
        (
            "comment before the flag",
            "cluster:\n  # keep me\n  stopped: true\n",
            "cluster:\n  # keep me\n",
        ),
        (
            "indented comment after the flag",
            "cluster:\n  stopped: true\n  # note\nport: 1\n",
            "cluster:\n  # note\nport: 1\n",
        ),
        (
            "top-level comment after the block",
            "cluster:\n  stopped: true\n# top\nport: 1\n",
            "# top\nport: 1\n",
        ),
        ("no trailing newline", "name: a\ncluster:\n  stopped: true", "name: a"),
        ("blank line before", "name: a\n\ncluster:\n  stopped: true\n", "name: a\n\n"),
        ("only the flag", "cluster:\n  stopped: true\n", ""),
        ("only the flag, no newline", "cluster:\n  stopped: true", ""),
        ("crlf, no newline", "a: 1\r\ncluster:\r\n  stopped: true", "a: 1"),
        ("True spelling", "cluster:\n  stopped: True\n", ""),
        ("flow, first", "cluster: {stopped: true, zone: eu}\n", "cluster: {zone: eu}\n"),
        ("flow, spaces", "cluster: { zone: eu , stopped: true }\n", "cluster: { zone: eu }\n"),
        ("flow, alone", "cluster: { stopped: true }\n", "cluster: {}\n"),
        ("bom", "\u{feff}cluster:\n  stopped: true\n", "\u{feff}"),
    ];
    for (label, before, expected) in cases {
        let after = without(before);
        assert_eq!(&after, expected, "{label}");
        assert_only_flag_changed(before, &after, false);
    }
}

#[test]
fn without_leaves_files_with_no_flag_unchanged() {
    for text in [
        "",
        "name: a",
        DOCUMENTED,
        "cluster:\n",
        "cluster:\n  stopped: false\n",
        "cluster:\n  stopped:\n",
        "cluster: {stopped: false}\n",
        "# cluster:\n#   stopped: true\n",
    ] {
        assert_eq!(without(text), text, "{text:?}");
    }
}

/// Layouts the line-based editor of old refused; the span-based one edits them exactly.
#[test]
fn multi_line_and_flow_layouts_are_edited_exactly() {
    // (label, before, with(), without(with()))
    let cases: &[(&str, &str, &str, &str)] = &[
        (
            "multi-line flow",
            "cluster: {zone: eu,\n  region: x}\n",
            "cluster: {stopped: true, zone: eu,\n  region: x}\n",
            "cluster: {zone: eu,\n  region: x}\n",
        ),
        (
            "flow top level",
            "{name: a, port: 1}\n",
            "{name: a, port: 1, cluster: {stopped: true}}\n",
            "{name: a, port: 1}\n",
        ),
        ("empty flow top level", "{}\n", "{cluster: {stopped: true}}\n", "{}\n"),
        (
            "flow top level over lines",
            "{\n  name: a,\n  port: 1\n}\n",
            "{\n  name: a,\n  port: 1, cluster: {stopped: true}\n}\n",
            "{\n  name: a,\n  port: 1\n}\n",
        ),
        (
            "flow top level with cluster",
            "{name: a, cluster: {zone: eu}}",
            "{name: a, cluster: {stopped: true, zone: eu}}",
            "{name: a, cluster: {zone: eu}}",
        ),
        (
            "flow top level, cluster: {}",
            "{name: a, cluster: {}}",
            "{name: a, cluster: {stopped: true}}",
            "{name: a}",
        ),
        (
            "flow top level, cluster: ~",
            "{cluster: ~, name: a}",
            "{cluster: {stopped: true}, name: a}",
            "{name: a}",
        ),
        (
            "value on the next line",
            "cluster:\n  stopped:\n    false\n",
            "cluster:\n  stopped:\n    true\n",
            "",
        ),
        (
            "null on the next line",
            "cluster:\n  ~\nport: 1\n",
            "cluster:\n  stopped: true\nport: 1\n",
            "port: 1\n",
        ),
        ("tagged false", "cluster:\n  stopped: !!bool false\n", "cluster:\n  stopped: true\n", ""),
        ("bare CR line breaks", "a: 1\rcluster:\r", "a: 1\rcluster:\r  stopped: true\r", "a: 1\r"),
        ("a final bare CR", "name: a\r", "name: a\rcluster:\r  stopped: true\r", "name: a\r"),
        (
            "LF file with a stray CR at the end",
            "name: a\nport: 1\r",
            "name: a\nport: 1\rcluster:\n  stopped: true\n",
            "name: a\nport: 1\r",
        ),
    ];
    for (label, before, expected_with, expected_without) in cases {
        let after = with(before);
        assert_eq!(&after, expected_with, "{label}: with()");
        assert_only_flag_changed(before, &after, true);
        let removed = without(&after);
        assert_eq!(&removed, expected_without, "{label}: without()");
        assert_only_flag_changed(&after, &removed, false);
    }
    let clear_cases: &[(&str, &str)] = &[
        ("cluster: {zone: eu,\n  stopped: true}\n", "cluster: {zone: eu}\n"),
        ("cluster: {\n  stopped: true,\n  zone: eu\n}\n", "cluster: {\n  zone: eu\n}\n"),
        ("{cluster: {stopped: true}}", "{}"),
    ];
    for (before, expected) in clear_cases {
        assert_eq!(&without(before), expected, "{before:?}");
    }
}

#[test]
fn edits_that_cannot_be_done_safely_are_refused() {
    // (text, set?, reason, hint)
    let cases: &[(&str, bool, &str, &str)] = &[
        (
            "base: &b {zone: eu}\ncluster: *b\n",
            true,
            "`cluster` is an alias (`*b`) of a node written elsewhere",
            "write `cluster` out in full instead of `*b`",
        ),
        (
            "base: &b {stopped: true}\ncluster: *b\n",
            false,
            "`cluster` is an alias (`*b`)",
            "write `cluster` out in full",
        ),
        (
            "cluster: &c\n  zone: eu\nother: *c\n",
            true,
            "`cluster` carries the anchor `&c`, which line 3 uses",
            "give line 3 its own copy",
        ),
        (
            "off: &f false\ncluster:\n  stopped: *f\n",
            true,
            "`cluster.stopped` is an alias (`*f`)",
            "write `cluster.stopped` out in full",
        ),
        (
            "cluster:\n  stopped: &t true\non: *t\n",
            false,
            "`cluster.stopped` carries the anchor `&t`, which line 3 uses",
            "give line 3",
        ),
        (
            "cluster: {zone: eu, # why\n  stopped: true}\n",
            false,
            "a comment sits inside the part to remove",
            "block style",
        ),
    ];
    for (text, set, reason, hint) in cases {
        let result = if *set {
            set_stopped(path(), text).map(|e| e.text)
        } else {
            clear_stopped(path(), text, None)
        };
        let Err(err) = result else { panic!("{text:?} should be refused") };
        assert_eq!(err.code, Code::Invalid);
        assert!(
            err.message.starts_with("cannot edit `cluster.stopped` in /p/kilter.yaml: "),
            "{}",
            err.message
        );
        assert!(err.message.contains(reason), "{text:?}: {}", err.message);
        assert!(err.hint.as_deref().is_some_and(|h| h.contains(hint)), "{text:?}: {:?}", err.hint);
    }
    // An anchor nobody uses is no reason to refuse.
    assert_eq!(with("cluster: &c\n  zone: eu\n"), "cluster: &c\n  stopped: true\n  zone: eu\n");
}

#[test]
fn an_edit_that_would_change_the_file_meaning_is_refused() {
    // A document that is a bare null: appending a mapping after it is no YAML any more,
    // and the verification catches that.
    let err = set_stopped(path(), "~\n").expect_err("must be refused");
    assert_eq!(
        err.message,
        "refusing to edit /p/kilter.yaml: the edit would change other settings"
    );
    assert_eq!(err.code, Code::Invalid);
    // Invalid files are reported as parse errors, not edited.
    let err = set_stopped(path(), "cluster: stopped\n").expect_err("invalid");
    assert!(err.message.starts_with("/p/kilter.yaml:1:10: "), "{}", err.message);
    let err = clear_stopped(path(), "name: [\n", None).expect_err("invalid");
    assert!(err.message.starts_with("/p/kilter.yaml:2:1: invalid YAML"), "{}", err.message);
}

#[test]
fn verification_compares_the_whole_tree() {
    let verify = verify::verify_flag;
    let old = parse_full(path(), "name: a\nport: 1\n").expect("parses");
    assert!(verify(path(), &old, "name: a\nport: 1\ncluster:\n  stopped: true\n", true).is_ok());
    // Same Config, but an ecosystem value changed: refused.
    assert!(verify(path(), &old, "name: a\nport: 2\ncluster:\n  stopped: true\n", true).is_err());
    // Same value, other quoting or style: refused too (the editor never touches them).
    assert!(verify(path(), &old, "name: 'a'\nport: 1\ncluster:\n  stopped: true\n", true).is_err());
    // Flag not set: refused.
    assert!(verify(path(), &old, "name: a\nport: 1\n", true).is_err());
    // Does not parse: refused.
    assert!(verify(path(), &old, "name: a\nport: [\n", true).is_err());
}

// ---------------------------------------------------------------------------------------
// Undo
// ---------------------------------------------------------------------------------------

#[track_caller]
fn set(text: &str) -> Edited {
    set_stopped(path(), text).unwrap_or_else(|err| panic!("set_stopped({text:?}): {err}"))
}

#[track_caller]
fn undo(text: &str, undo: &Undo) -> String {
    clear_stopped(path(), text, Some(undo))
        .unwrap_or_else(|err| panic!("clear_stopped({text:?}, undo): {err}"))
}

/// Every form comes back byte for byte after set then clear with the undo.
#[test]
fn set_then_clear_with_undo_restores_the_exact_bytes() {
    let block_scalar_last = "name: a\ndescription: |\n  text\n  more\n";
    let cases: &[&str] = &[
        "cluster:\n  stopped: false  # explicit\n",
        "cluster:\n  stopped: false\n",
        "cluster: {}\n",
        "cluster: {}  # state\nport: 1\n",
        "cluster: null\n",
        "cluster: ~\n",
        "cluster: ~",
        "cluster:\n  stopped: ~\n",
        "cluster:\n  stopped:\n",
        "cluster:\n  ~\n",
        "cluster: {stopped: false}\n",
        "cluster: { zone: eu }\n",
        "cluster:\n  # runtime state\n  zone: eu\n",
        "",
        "\n",
        "name: shop\n",
        "name: shop",
        "name: shop\r\nport: 1\r\n",
        "name: shop\r\ncluster:\r\n  stopped: false # c\r\n",
        "name: shop\r\nport: 1",
        "\u{feff}name: shop\n",
        "\u{feff}cluster: ~\n",
        "---\nname: a\n...\n",
        "--- # start\nname: a\n... # end\n# bye\n",
        block_scalar_last,
        "name: a\ndescription: |\n  text",
        "name: a\ndescription: >-\n  folded\n  text\n",
        "name: a\ndescription: |+\n  text\n\n",
        "# top\nname: a  # the name\n\n# cluster state below\ncluster:  # set by kilter\n  # nothing yet\n  zone: eu  # where\n# end\n",
        "{name: x}\n",
        "{name: x, cluster: {}}",
        "{}",
        "name: a\r",
        "a: 1\rcluster:\r",
        DOCUMENTED,
    ];
    let spec = SPEC_EXAMPLE.replace("stopped: true ", "stopped: false");
    for before in cases.iter().copied().chain([spec.as_str()]) {
        let edited = set(before);
        assert_only_flag_changed(before, &edited.text, true);
        assert_eq!(&undo(&edited.text, &edited.undo), before, "undo of {before:?}");
        // The undo survives a trip through its runtime file.
        let json = serde_json::to_string(&edited.undo).expect("serialises");
        let back: Undo = serde_json::from_str(&json).expect("deserialises");
        assert_eq!(back, edited.undo);
    }
}

#[test]
fn undo_records_only_the_replaced_bytes() {
    let edited = set("name: a\ncluster:\n  stopped: false  # explicit\n");
    assert_eq!(edited.text, "name: a\ncluster:\n  stopped: true   # explicit\n");
    assert_eq!(
        edited.undo,
        Undo {
            offset: 28,
            old: "false".into(),
            new: "true ".into(),
            before: "  stopped: ".into(),
            after: "  # explicit".into(),
        }
    );
    let edited = set("cluster: {}\n");
    assert_eq!(edited.text, "cluster:\n  stopped: true\n");
    assert_eq!((edited.undo.old.as_str(), edited.undo.new.as_str()), (" {}", "\n  stopped: true"));
    // Already set: nothing to undo, and clearing with it falls back to removing the line.
    let edited = set("cluster:\n  stopped: true\n");
    assert_eq!(edited.undo.old, edited.undo.new);
    assert_eq!(undo(&edited.text, &edited.undo), "");
}

#[test]
fn undo_still_applies_after_edits_elsewhere() {
    let before = "name: a\ncluster: {}  # state\nport: 1\n";
    let edited = set(before);
    // Someone adds lines above and below between `kilter stop` and `kilter up`.
    let moved = format!("# added\n{}extra: 2\n", edited.text);
    assert_eq!(undo(&moved, &edited.undo), format!("# added\n{before}extra: 2\n"));
}

#[test]
fn a_stale_undo_falls_back_to_removing_the_flag() {
    let before = "cluster: ~\nport: 1\n";
    let edited = set(before);
    // The flag was rewritten by hand: the recorded bytes are gone.
    let rewritten = "cluster:\n  stopped: TRUE\nport: 1\n";
    assert_eq!(undo(rewritten, &edited.undo), "port: 1\n");
    // Still at its offset: used, even if the same bytes occur again further down.
    let again = format!("{}subcluster:\n  stopped: true\n", edited.text);
    assert_eq!(undo(&again, &edited.undo), format!("{before}subcluster:\n  stopped: true\n"));
    // Moved, and found twice: ambiguous, so not used.
    let twice = format!("# moved\n{again}");
    assert_eq!(undo(&twice, &edited.undo), "# moved\nport: 1\nsubcluster:\n  stopped: true\n");
    // Edits elsewhere on the same block do not matter: the swap still verifies.
    let edited = set("cluster:\n  stopped: false\n  zone: eu\n");
    let changed = edited.text.replace("zone: eu", "zone: us");
    assert_eq!(undo(&changed, &edited.undo), "cluster:\n  stopped: false\n  zone: us\n");
    // Swapping back would change more than the flag (here: add a key): not used.
    let adds_a_key = Undo {
        offset: 0,
        old: "x: 1\n".into(),
        new: String::new(),
        before: String::new(),
        after: String::new(),
    };
    assert_eq!(undo("cluster:\n  stopped: true\nport: 1\n", &adds_a_key), "port: 1\n");
    // An undo from another file entirely.
    let foreign = Undo {
        offset: 3,
        old: "x".into(),
        new: "y".into(),
        before: String::new(),
        after: String::new(),
    };
    assert_eq!(undo("cluster:\n  stopped: true\n", &foreign), "");
    // No flag set: unchanged whatever the undo says.
    assert_eq!(undo("name: a\n", &foreign), "name: a\n");
}

/// The comment after a rewritten value keeps its column when the blanks allow it.
#[test]
fn rewritten_values_keep_the_comment_column() {
    for (line, expected) in [
        ("  stopped: false", "  stopped: true"),
        ("  stopped: false  # set by kilter", "  stopped: true   # set by kilter"),
        ("  stopped: ~ # c", "  stopped: true # c"),
        ("  stopped: null        # c", "  stopped: true        # c"),
        ("  stopped: false\t# c", "  stopped: true\t# c"),
        ("  stopped: false  ", "  stopped: true  "),
        ("  stopped:", "  stopped: true"),
        ("  stopped:   # c", "  stopped: true   # c"),
        ("  \"stopped\" : 'false'", "  \"stopped\" : 'false'"),
    ] {
        let text = format!("cluster:\n{line}\n");
        if line.contains("'false'") {
            // A quoted 'false' is a string: an invalid flag, not edited.
            assert!(set_stopped(path(), &text).is_err());
            continue;
        }
        assert_eq!(with(&text), format!("cluster:\n{expected}\n"), "{line:?}");
    }
}

/// New `cluster:` blocks use the file's own indentation step.
#[test]
fn new_blocks_use_the_files_indentation() {
    for (text, unit) in [
        ("", 2),
        ("name: a\n", 2),
        ("kind:\n    image: x\n", 4),
        ("kind:\n  image: x\n", 2),
        ("# kind:\n#     image: x\nname: a\nenv:\n   A: 1\n", 3),
        ("services:\n- name: a\n  port: 1\nenv:\n    A: b\n", 4),
        ("description: |\n    text:\n        more\nkind:\n  image: x\n", 2),
        ("a:\n  b:\n    c: 1\n", 2),
        ("a: {b: {c: 1}}\nd:\n     e: 1\n", 5),
    ] {
        let expected = format!("cluster:\n{}stopped: true\n", " ".repeat(unit));
        assert!(with(text).ends_with(&expected), "{text:?}: {:?}", with(text));
    }
}

// ---------------------------------------------------------------------------------------
// Editing services
// ---------------------------------------------------------------------------------------

/// Everything but `services:` parses the same.
#[track_caller]
fn assert_only_services_changed(before: &str, after: &str, names: &[&str]) {
    let (mut old, _) = parse_ok(before);
    let (mut new, _) = parse_ok(after);
    let listed: Vec<&str> = new.services.iter().map(|s| s.name.value.as_str()).collect();
    assert_eq!(listed, names, "{before:?} -> {after:?}");
    old.services.clear();
    new.services.clear();
    assert_eq!(old, new, "{before:?} -> {after:?}");
}

#[test]
fn add_services_appends_in_the_files_style() {
    // (label, before, names, after)
    let cases: &[(&str, &str, &[&str], &str)] = &[
        ("empty file", "", &["postgres"], "services:\n  - postgres\n"),
        (
            "absent",
            "name: a\n",
            &["postgres", "redis"],
            "name: a\nservices:\n  - postgres\n  - redis\n",
        ),
        ("absent, no final newline", "name: a", &["redis"], "name: a\nservices:\n  - redis"),
        (
            "absent, lists at column 0 elsewhere",
            "skills:\n- rust\n",
            &["redis"],
            "skills:\n- rust\nservices:\n- redis\n",
        ),
        (
            "absent, 4-space file",
            "kind:\n    image: x\n",
            &["redis"],
            "kind:\n    image: x\nservices:\n    - redis\n",
        ),
        (
            "absent, before a final ...",
            "---\nname: a\n...\n",
            &["redis"],
            "---\nname: a\nservices:\n  - redis\n...\n",
        ),
        (
            "absent, block scalar last without newline",
            "name: a\ndescription: |\n  text",
            &["redis"],
            "name: a\nservices:\n  - redis\ndescription: |\n  text",
        ),
        ("empty key", "services:\nport: 1\n", &["redis"], "services:\n  - redis\nport: 1\n"),
        (
            "null with a comment",
            "services: ~  # none yet\n",
            &["redis"],
            "services:  # none yet\n  - redis\n",
        ),
        (
            "block list",
            "services:\n  - postgres\n  # - mailpit\nport: 1\n",
            &["redis"],
            "services:\n  - postgres\n  - redis\n  # - mailpit\nport: 1\n",
        ),
        (
            "block list at column 0",
            "services:\n- postgres\n",
            &["redis"],
            "services:\n- postgres\n- redis\n",
        ),
        (
            "mapping item last, with a comment",
            "services:\n  - name: api\n    image: x  # mine\nport: 1\n",
            &["redis"],
            "services:\n  - name: api\n    image: x  # mine\n  - redis\nport: 1\n",
        ),
        (
            "block scalar in the last item",
            "services:\n  - name: api\n    env:\n      SCRIPT: |\n        run\nport: 1\n",
            &["redis"],
            "services:\n  - name: api\n    env:\n      SCRIPT: |\n        run\n  - redis\nport: 1\n",
        ),
        (
            "no final newline",
            "services:\n  - postgres",
            &["redis"],
            "services:\n  - postgres\n  - redis",
        ),
        (
            "crlf",
            "services:\r\n  - postgres\r\n",
            &["redis", "nats"],
            "services:\r\n  - postgres\r\n  - redis\r\n  - nats\r\n",
        ),
        (
            "flow list",
            "services: [postgres]  # c\n",
            &["redis"],
            "services: [postgres, redis]  # c\n",
        ),
        ("empty flow list", "services: []\n", &["redis", "nats"], "services: [redis, nats]\n"),
        (
            "flow list over lines",
            "services: [\n  postgres,\n  redis\n]\n",
            &["nats"],
            "services: [\n  postgres,\n  redis, nats\n]\n",
        ),
        ("flow top level", "{name: a}", &["redis"], "{name: a, services: [redis]}"),
        (
            "flow top level, null",
            "{services: , name: a}",
            &["redis"],
            "{services: [redis] , name: a}",
        ),
        (
            "names that need quotes",
            "name: a\n",
            &["123", "null"],
            "name: a\nservices:\n  - \"123\"\n  - \"null\"\n",
        ),
        ("bom", "\u{feff}name: a\n", &["redis"], "\u{feff}name: a\nservices:\n  - redis\n"),
        ("bare CR", "name: a\r", &["redis"], "name: a\rservices:\r  - redis\r"),
    ];
    for (label, before, names, expected) in cases {
        let after = add(before, names);
        assert_eq!(&after, expected, "{label}");
        let (old, _) = parse_ok(before);
        let mut listed: Vec<&str> = old.services.iter().map(|s| s.name.value.as_str()).collect();
        listed.extend(names.iter());
        assert_only_services_changed(before, &after, &listed);
    }
}

#[test]
fn add_services_skips_what_is_listed() {
    let text = "services:\n  - postgres\n  - name: redis\n    port: 6380\n";
    assert_eq!(add(text, &["postgres", "redis"]), text);
    assert_eq!(add(text, &["redis", "nats", "nats"]), format!("{text}  - nats\n"));
    let err = add_services(path(), text, &["Nats"]).expect_err("invalid name");
    assert_eq!(err.code, Code::Invalid);
    assert!(
        err.message.starts_with("invalid service name \"Nats\" (it contains uppercase letters)"),
        "{}",
        err.message
    );
    assert_eq!(err.hint.as_deref(), Some("try `nats`"));
    // Invalid files are not edited.
    let err = add_services(path(), "services: {}\n", &["redis"]).expect_err("invalid");
    assert!(err.message.starts_with("/p/kilter.yaml:1:11: services:"), "{}", err.message);
    // An alias is not followed.
    let err =
        add_services(path(), "x: &s [postgres]\nservices: *s\n", &["redis"]).expect_err("alias");
    assert!(
        err.message.starts_with("cannot edit `services` in /p/kilter.yaml: `services` is an alias"),
        "{}",
        err.message
    );
}

#[test]
fn remove_services_takes_out_the_items_lines() {
    // (label, before, names, after)
    let cases: &[(&str, &str, &[&str], &str)] = &[
        (
            "last",
            "services:\n  - postgres\n  - redis\nport: 1\n",
            &["redis"],
            "services:\n  - postgres\nport: 1\n",
        ),
        (
            "first, with its comment",
            "services:\n  - postgres  # main db\n  - redis\n",
            &["postgres"],
            "services:\n  - redis\n",
        ),
        (
            "a mapping item, by name",
            "services:\n  - name: api\n    image: x\n    env:\n      A: 1\n  - redis\n",
            &["api"],
            "services:\n  - redis\n",
        ),
        (
            "the last one",
            "name: a\nservices:\n  - redis\nport: 1\n",
            &["redis"],
            "name: a\nservices:\nport: 1\n",
        ),
        (
            "no final newline",
            "services:\n  - postgres\n  - redis",
            &["redis"],
            "services:\n  - postgres",
        ),
        (
            "crlf",
            "services:\r\n  - postgres\r\n  - redis\r\n",
            &["postgres"],
            "services:\r\n  - redis\r\n",
        ),
        ("two at once", "services:\n- a\n- b\n- c\n", &["c", "a"], "services:\n- b\n"),
        (
            "flow, middle",
            "services: [postgres, redis, nats]\n",
            &["redis"],
            "services: [postgres, nats]\n",
        ),
        ("flow, first", "services: [postgres, redis]\n", &["postgres"], "services: [redis]\n"),
        ("flow, last", "services: [ postgres , redis ]\n", &["redis"], "services: [ postgres ]\n"),
        ("flow, all", "services: [postgres, redis]\n", &["postgres", "redis"], "services: []\n"),
        (
            "flow mapping item",
            "services: [{name: api, port: 80}, redis]\n",
            &["api"],
            "services: [redis]\n",
        ),
        (
            "block scalar in the item",
            "services:\n  - name: api\n    env:\n      S: |\n        run\n  - redis\n",
            &["api"],
            "services:\n  - redis\n",
        ),
    ];
    for (label, before, names, expected) in cases {
        let after = remove(before, names);
        assert_eq!(&after, expected, "{label}");
        let (old, _) = parse_ok(before);
        let left: Vec<&str> = old
            .services
            .iter()
            .map(|s| s.name.value.as_str())
            .filter(|n| !names.contains(n))
            .collect();
        assert_only_services_changed(before, &after, &left);
    }
}

#[test]
fn add_then_remove_gives_the_file_back() {
    for before in [
        "services:\n  - postgres\n",
        "services:\n  - postgres  # db\n# the end\n",
        "services: [postgres]\n",
        "services:\r\n- postgres\r\nport: 1",
        "name: a\nservices:\n  - name: api\n    image: x\n",
    ] {
        let added = add(before, &["redis", "nats"]);
        assert_eq!(remove(&added, &["nats", "redis"]), before, "{before:?}");
    }
}

#[test]
fn removing_what_is_not_listed_names_what_is() {
    let err =
        remove_services(path(), "services: [postgres, redis]\n", &["nats"]).expect_err("absent");
    assert_eq!(err.code, Code::Invalid);
    assert_eq!(
        err.message,
        "cannot remove `nats`: it is not under `services:` in /p/kilter.yaml (it lists `postgres`, `redis`)"
    );
    assert_eq!(err.hint, None);
    let err =
        remove_services(path(), "services: [postgres, redis]\n", &["redsi"]).expect_err("typo");
    assert_eq!(err.hint.as_deref(), Some("did you mean `redis`?"));
    let err = remove_services(path(), "name: a\n", &["nats"]).expect_err("absent");
    assert_eq!(
        err.message,
        "cannot remove `nats`: it is not under `services:` in /p/kilter.yaml (it lists no services)"
    );
    // Nothing is removed when one of the names is missing.
    assert!(remove_services(path(), "services: [redis]\n", &["redis", "nats"]).is_err());
    let err = remove_services(path(), "x: &r {name: redis}\nservices: [*r]\n", &["redis"])
        .expect_err("alias");
    assert!(err.message.contains("the service is an alias"), "{}", err.message);
}

// ---------------------------------------------------------------------------------------
// Every edit keeps what it is not for
// ---------------------------------------------------------------------------------------

/// Every edit kilter makes keeps the app's fields byte for byte, in every style.
#[test]
fn edits_keep_the_app_fields_byte_for_byte() {
    let flow = "{name: shop, port: 3000, env: {A: \"1\"}, sync: [src], dev: [node, server.js]}\n";
    let commented = "\
# the app
image: python:3.12-slim      # base
dev: >-
  uvicorn main:app
  --reload --host 0.0.0.0
port: 8000 # uvicorn
health: \"/health?full=1\"
env:
  # quoted, numbers, booleans
  A: 'x y'
  B: 0x10
  C: yes
sync:
- app
- pyproject.toml
";
    for text in [APP, flow, commented, &APP.replace('\n', "\r\n")] {
        let before = parse_ok(text).0.app;
        let set = set_stopped(path(), text).expect("set").text;
        assert!(set.contains(text.trim_end_matches(['\n', '\r', '}'])), "{text:?} → {set:?}");
        assert_eq!(parse_ok(&set).0.app, before, "{set:?}");
        assert_eq!(without(&set), text);
        let added = add(text, &["redis"]);
        assert_eq!(parse_ok(&added).0.app, before, "{added:?}");
        assert_eq!(parse_ok(&remove(&added, &["redis"])).0.app, before);
        // The bytes of each app field survive the edit unchanged.
        for key in ["image:", "dev:", "port:", "health:", "env:", "sync:"] {
            if let Some(at) = text.find(key) {
                let line = &text[at..text[at..].find([',', '\n']).map_or(text.len(), |e| at + e)];
                assert!(added.contains(line), "{key} of {text:?} changed: {added:?}");
            }
        }
    }
}

/// Every edit kilter makes keeps `routes:` byte for byte.
#[test]
fn edits_keep_routes_byte_for_byte() {
    let block = "routes:\n  web: {service: web, port: 80}   # the user's own Service\n  api-v2:\n    service: api\n    port: 8080\n";
    for text in [ROUTES.to_owned(), ROUTES.replace('\n', "\r\n")] {
        let before = parse_ok(&text).0.routes;
        let set = set_stopped(path(), &text).expect("set").text;
        assert_eq!(without(&set), text);
        let added = add(&text, &["mailpit"]);
        let removed = remove(&added, &["redis"]);
        for edited in [&set, &added, &removed] {
            let crlf = edited.contains("\r\n");
            let want = if crlf { block.replace('\n', "\r\n") } else { block.to_owned() };
            assert!(edited.contains(&want), "routes changed: {edited:?}");
            let after = parse_ok(edited).0.routes;
            let names: Vec<_> =
                after.iter().map(|r| (&r.name.value, &r.service.value, r.port.value)).collect();
            let was: Vec<_> =
                before.iter().map(|r| (&r.name.value, &r.service.value, r.port.value)).collect();
            assert_eq!(names, was);
        }
    }
    // `kilter add` of a route's name would make a clash: refused, nothing written.
    let err = add_services(path(), ROUTES, &["web"]).expect_err("a clash");
    assert_eq!(err.code, Code::Invalid);
}
