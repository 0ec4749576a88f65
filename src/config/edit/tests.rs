use std::cell::RefCell;
use std::collections::BTreeSet;

use camino::Utf8PathBuf;

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
/// (`tests/golden/config/set-stopped-append/`)
#[test]
fn round_trip_files_without_cluster() {
    let table = Table::new("set-stopped-append");
    for label in [
        "empty-file",
        "only-a-newline",
        "one-key",
        "no-trailing-newline",
        "comments-only",
        "ends-in-a-comment-no-newline",
        "trailing-blank-lines",
        "documented",
        "spec-example-without-cluster",
        "crlf",
        "crlf-no-trailing-newline",
        "4-space-indent",
        // The only nested mapping is in a list item: it still sets the step.
        "4-space-indent-inside-a-list",
        "document-markers",
        "document-end-then-comment",
        "only-dashes",
        "indented-top-level",
        "block-scalar-last-keep-chomping",
        "flow-value-last-no-newline",
        "block-scalar-last-no-newline",
        "nested-block-scalar-last-no-newline",
        "crlf-block-scalar-last-with-comments-above-no-newline",
        "stripped-block-scalar-last-no-newline",
        "bom",
        "quoted-values-kept",
    ] {
        let before = &table.before(label);
        let after = with(before);
        table.check(label, "set", &after);
        assert_only_flag_changed(before, &after, true);
        assert_eq!(&without(&after), before, "{label}: without(with(x)) == x");
        assert_eq!(with(&without(&after)), after, "{label}: with(without(y)) == y");
        assert_eq!(with(&after), after, "{label}: with() is idempotent");
        assert_eq!(&without(before), before, "{label}: nothing to remove");
    }
    table.done();
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
/// (`tests/golden/config/set-stopped-existing/`: with() in `.set.yaml`, without() of that in
/// `.clear.yaml`)
#[test]
fn edits_of_an_existing_cluster_section() {
    let table = Table::new("set-stopped-existing");
    for label in [
        "block-with-another-key-and-a-comment",
        "stopped-false-with-a-comment",
        "stopped-false-after-another-key",
        "stopped-with-no-value",
        "stopped-null",
        "empty-cluster-followed-by-keys",
        "empty-cluster-with-a-blank-before-its-colon",
        "empty-cluster-with-a-trailing-comment",
        "cluster-tilde",
        "cluster-null-with-comment",
        "cluster-empty-braces",
        "empty-cluster-last-no-newline",
        "4-space-file-empty-cluster",
        "4-space-cluster-block",
        "comments-after-the-cluster-block",
        "crlf-stopped-false",
        "quoted-keys",
        "anchored-block",
        "flow-mapping-without-stopped",
        "flow-mapping-with-stopped-false",
        "flow-mapping-stopped-last",
        "flow-mapping-with-an-apostrophe-inside-a-value",
        "flow-mapping-with-a-quoted-value",
        "flow-mapping-stopped-alone",
        "document-markers-around-a-block",
        "spec-example",
    ] {
        let before = &table.before(label);
        let after = with(before);
        table.check(label, "set", &after);
        assert_only_flag_changed(before, &after, true);
        let removed = without(&after);
        table.check(label, "clear", &removed);
        assert_only_flag_changed(&after, &removed, false);
        assert_eq!(with(&after), after, "{label}: with() is idempotent");
        assert_eq!(without(&removed), removed, "{label}: without() is idempotent");
    }
    table.done();
}

/// (`tests/golden/config/clear-stopped/`)
#[test]
fn without_removes_only_what_with_would_add() {
    let table = Table::new("clear-stopped");
    for label in [
        "flag-first-of-two",
        "flag-with-comment",
        "comment-before-the-flag",
        "indented-comment-after-the-flag",
        "top-level-comment-after-the-block",
        "no-trailing-newline",
        "blank-line-before",
        "only-the-flag",
        "only-the-flag-no-newline",
        "crlf-no-newline",
        "true-spelling",
        "flow-first",
        "flow-spaces",
        "flow-alone",
        "bom",
    ] {
        let before = &table.before(label);
        let after = without(before);
        table.check(label, "clear", &after);
        assert_only_flag_changed(before, &after, false);
    }
    table.done();
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
/// (`tests/golden/config/set-stopped-layouts/`: with() in `.set.yaml`, without() of that in
/// `.clear.yaml`; the last cases are without() alone)
#[test]
fn multi_line_and_flow_layouts_are_edited_exactly() {
    let table = Table::new("set-stopped-layouts");
    for label in [
        "multi-line-flow",
        "flow-top-level",
        "empty-flow-top-level",
        "flow-top-level-over-lines",
        "flow-top-level-with-cluster",
        "flow-top-level-cluster-empty-braces",
        "flow-top-level-cluster-tilde",
        "flow-top-level-cluster-empty",
        "flow-top-level-cluster-space-before-colon",
        "value-on-the-next-line",
        "null-on-the-next-line",
        "tagged-false",
        "bare-cr-line-breaks",
        "a-final-bare-cr",
        "lf-file-with-a-stray-cr-at-the-end",
    ] {
        let before = &table.before(label);
        let after = with(before);
        table.check(label, "set", &after);
        assert_only_flag_changed(before, &after, true);
        let removed = without(&after);
        table.check(label, "clear", &removed);
        assert_only_flag_changed(&after, &removed, false);
    }
    for label in
        ["multi-line-flow-flag-last", "flow-over-lines-flag-first", "flow-top-level-flag-alone"]
    {
        table.check(label, "clear", &without(&table.before(label)));
    }
    table.done();
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

#[test]
fn verification_of_a_services_edit_compares_each_item() {
    let old = parse_full(path(), "name: a\nservices:\n  - redis\n").expect("parses");
    let kept = verify::service_items(&old.tree);
    let added = ["postgres".to_owned()];
    let check = |new: &str| verify::verify_services(path(), &old, new, &kept, &added).is_ok();
    assert!(check("name: a\nservices:\n  - redis\n  - postgres\n"));
    // One item too few or too many: refused.
    assert!(!check("name: a\nservices:\n  - redis\n"));
    assert!(!check("name: a\nservices:\n  - redis\n  - postgres\n  - postgres\n"));
    // As many items, but a kept one changed, or the added one is another: refused.
    assert!(!check("name: a\nservices:\n  - memcached\n  - postgres\n"));
    assert!(!check("name: a\nservices:\n  - redis\n  - mysql\n"));
    // The right items, but another setting changed: refused.
    assert!(!check("name: b\nservices:\n  - redis\n  - postgres\n"));
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

/// (`tests/golden/config/add-services/`)
#[test]
fn add_services_appends_in_the_files_style() {
    let table = Table::new("add-services");
    // (case, names to add)
    let cases: &[(&str, &[&str])] = &[
        ("empty-file", &["postgres"]),
        ("absent", &["postgres", "redis"]),
        ("absent-no-final-newline", &["redis"]),
        ("absent-lists-at-column-0-elsewhere", &["redis"]),
        ("absent-an-anchored-list-elsewhere", &["redis"]),
        ("absent-4-space-file", &["redis"]),
        ("absent-before-a-final-dots", &["redis"]),
        ("absent-block-scalar-last-without-newline", &["redis"]),
        ("empty-key", &["redis"]),
        ("null-with-a-comment", &["redis"]),
        ("block-list", &["redis"]),
        ("block-list-at-column-0", &["redis"]),
        ("mapping-item-last-with-a-comment", &["redis"]),
        ("block-scalar-in-the-last-item", &["redis"]),
        ("no-final-newline", &["redis"]),
        ("crlf", &["redis", "nats"]),
        ("flow-list", &["redis"]),
        ("empty-flow-list", &["redis", "nats"]),
        ("flow-list-over-lines", &["nats"]),
        ("flow-top-level", &["redis"]),
        ("flow-top-level-null", &["redis"]),
        ("names-that-need-quotes", &["123", "null"]),
        ("bom", &["redis"]),
        ("bare-cr", &["redis"]),
    ];
    for (label, names) in cases {
        let before = &table.before(label);
        let after = add(before, names);
        table.check(label, "add", &after);
        let (old, _) = parse_ok(before);
        let mut listed: Vec<&str> = old.services.iter().map(|s| s.name.value.as_str()).collect();
        listed.extend(names.iter());
        assert_only_services_changed(before, &after, &listed);
    }
    table.done();
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

/// (`tests/golden/config/remove-services/`)
#[test]
fn remove_services_takes_out_the_items_lines() {
    let table = Table::new("remove-services");
    // (case, names to remove)
    let cases: &[(&str, &[&str])] = &[
        ("last", &["redis"]),
        ("first-with-its-comment", &["postgres"]),
        ("a-mapping-item-by-name", &["api"]),
        ("the-last-one", &["redis"]),
        ("no-final-newline", &["redis"]),
        ("crlf", &["postgres"]),
        ("two-at-once", &["c", "a"]),
        ("flow-middle", &["redis"]),
        ("flow-first", &["postgres"]),
        ("flow-last", &["redis"]),
        ("flow-all", &["postgres", "redis"]),
        ("flow-mapping-item", &["api"]),
        ("block-scalar-in-the-item", &["api"]),
        // A tag before the `[`: the cut starts after the bracket, not at the node's start.
        ("flow-tagged-the-only-one", &["postgres"]),
        // Quoted items: each ends at its closing quote.
        ("flow-quoted", &["redis"]),
    ];
    for (label, names) in cases {
        let before = &table.before(label);
        let after = remove(before, names);
        table.check(label, "remove", &after);
        let (old, _) = parse_ok(before);
        let left: Vec<&str> = old
            .services
            .iter()
            .map(|s| s.name.value.as_str())
            .filter(|n| !names.contains(n))
            .collect();
        assert_only_services_changed(before, &after, &left);
    }
    table.done();
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

// ---------------------------------------------------------------------------------------
// Golden edit tables
// ---------------------------------------------------------------------------------------

/// A table of edits kept as files in `tests/golden/config/<table>/` (the README there says
/// how): per case the text before the edit, `<case>.before.yaml` (an input, never written),
/// and the text each edit gives, `<case>.<edit>.yaml`, compared byte for byte. `KILTER_BLESS=1`
/// writes the results instead (then review the diff); without it a missing file fails the
/// test. [`Table::done`] fails on any file of the table no case read, so that a case dropped
/// from the code cannot leave its files unchecked.
struct Table {
    dir: Utf8PathBuf,
    read: RefCell<BTreeSet<String>>,
}

impl Table {
    fn new(name: &str) -> Table {
        let dir = crate::golden::dir("config").join(name);
        Table { dir, read: RefCell::default() }
    }

    /// The text of case `case` before the edit.
    #[track_caller]
    fn before(&self, case: &str) -> String {
        let path = self.file(case, "before");
        std::fs::read_to_string(&path)
            .unwrap_or_else(|e| panic!("{path}: {e} (the text case `{case}` starts from)"))
    }

    /// `got` must be the golden file of `edit` on case `case`, byte for byte; with
    /// `KILTER_BLESS=1` it becomes that file.
    #[track_caller]
    fn check(&self, case: &str, edit: &str, got: &str) {
        crate::golden::check(&self.file(case, edit), got);
    }

    fn file(&self, case: &str, what: &str) -> Utf8PathBuf {
        let name = format!("{case}.{what}.yaml");
        assert!(self.read.borrow_mut().insert(name.clone()), "{name} is read twice");
        self.dir.join(name)
    }

    /// Every file of the table belongs to a case the test ran.
    #[track_caller]
    fn done(self) {
        let read = self.read.into_inner();
        let stray: Vec<String> = std::fs::read_dir(&self.dir)
            .unwrap_or_else(|e| panic!("{}: {e}", self.dir))
            .map(|e| e.expect("entry").file_name().to_string_lossy().into_owned())
            .filter(|name| !read.contains(name))
            .collect();
        assert!(!read.is_empty(), "{}: no case ran", self.dir);
        assert!(stray.is_empty(), "{}: files no case reads: {stray:?}", self.dir);
    }
}

#[test]
fn undo_between_cuts_at_character_boundaries() {
    let between = super::undo::Undo::between;
    // The texts share the first byte of `é` and `è` (0xC3): the replacement starts at the
    // character, not inside it.
    assert_eq!(
        between("a: é\n", "a: è\n"),
        Undo {
            offset: 3,
            old: "é".into(),
            new: "è".into(),
            before: "a: ".into(),
            after: String::new(),
        }
    );
    // The texts share the last byte of `é` and `ĩ` (0xA9): it ends after the character.
    assert_eq!(
        between("xé", "xĩ"),
        Undo {
            offset: 1,
            old: "é".into(),
            new: "ĩ".into(),
            before: "x".into(),
            after: String::new(),
        }
    );
    // `after` is the rest of the line after the character.
    let undo = between("k: é1\n", "k: è1\n");
    assert_eq!((undo.old.as_str(), undo.new.as_str(), undo.after.as_str()), ("é", "è", "1"));
}
