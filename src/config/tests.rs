use super::*;

const PATH: &str = "/p/kilter.yaml";

fn path() -> &'static Utf8Path {
    Utf8Path::new(PATH)
}

#[track_caller]
fn parse_ok(text: &str) -> (Config, Vec<String>) {
    match parse(path(), text) {
        Ok(parsed) => parsed,
        Err(err) => panic!("{text:?} should parse, got: {err}"),
    }
}

#[track_caller]
fn parse_err(text: &str) -> ConfigError {
    match parse(path(), text) {
        Ok(parsed) => panic!("{text:?} should not parse, got: {parsed:?}"),
        Err(err) => err,
    }
}

fn stopped(mut config: Config, stopped: bool) -> Config {
    config.cluster.stopped = stopped;
    config
}

// ---------------------------------------------------------------------------------------
// Parsing
// ---------------------------------------------------------------------------------------

#[test]
fn empty_and_comment_only_files_give_the_default_config() {
    for text in [
        "",
        "\n",
        "\n\n   \n",
        "# only a comment\n",
        "# no trailing newline",
        "# one\n\n# two\n",
        "---\n",
        "---\n# c\n...\n",
        "\r\n# crlf\r\n",
        "~\n",
    ] {
        let (config, warnings) = parse_ok(text);
        assert_eq!(config, Config::default(), "{text:?}");
        assert!(warnings.is_empty(), "{text:?}: {warnings:?}");
    }
}

const SPEC_EXAMPLE: &str = "\
name: shop                 # project name (§1)
tiltfile: Tiltfile         # default ./Tiltfile next to kilter.yaml
kind:
  image: kindest/node:v1.31.0   # optional node image pin, passed to kind --image
database:                  # what `kilter db` snapshots; defaults shown
  engine: postgres         # only postgres in v1
  service: postgres        # Deployment or StatefulSet in <name>-dev
  user: postgres
  name: shop               # default: the project name
cluster:
  stopped: true            # written by `kilter stop`, removed by `kilter up`
";

#[test]
fn the_spec_example_parses() {
    let (config, warnings) = parse_ok(SPEC_EXAMPLE);
    assert!(warnings.is_empty(), "{warnings:?}");
    assert_eq!(
        config,
        Config {
            name: Some("shop".into()),
            tiltfile: Some("Tiltfile".into()),
            kind: KindSection { image: Some("kindest/node:v1.31.0".into()) },
            database: Some(Database {
                engine: "postgres".into(),
                service: "postgres".into(),
                user: "postgres".into(),
                name: Some("shop".into()),
            }),
            cluster: ClusterSection { stopped: true },
        }
    );
}

/// A realistic, heavily documented kilter.yaml using the wider ecosystem's fields.
const DOCUMENTED: &str = r#"# kilter.yaml for the shop service
#
# Fields beyond `name`, `tiltfile`, `kind`, `database` and `cluster` belong to
# other tools of the kilter ecosystem; kilter keeps them as they are.

name: shop
description: |
  The shop backend: catalogue, cart and checkout.

  Owned by the storefront team.
version: 3
port: 8080                  # HTTP port inside the pod
health:
  path: /healthz
  interval: 5s
image: ghcr.io/acme/shop:dev
dev:
  command: ["cargo", "watch", "-x", "run"]
  sync:
    - src: ./src
      dest: /app/src
skills: [rust, postgres]
services:
  - name: postgres
    image: postgres:16
    env:
      POSTGRES_PASSWORD: "dev only: not secret"
  - name: redis
    image: redis:7
env:
  RUST_LOG: info,shop=debug
  DATABASE_URL: postgres://postgres@postgres/shop
public: false
manifest: k8s/
profiles: {ci: {replicas: 1}, demo: {replicas: 2}}
secrets: []
volumes:
  data: {size: 1Gi}
build:
  context: .
  dockerfile: Dockerfile
deploy: {strategy: rolling}
hooks:
  pre-up: ./scripts/seed.sh
tilt:
  args: ["--stream"]

# The database kilter snapshots with `kilter db`.
database:
  service: postgres   # StatefulSet in shop-dev
"#;

#[test]
fn ecosystem_keys_are_accepted_silently_and_not_interpreted() {
    let (config, warnings) = parse_ok(DOCUMENTED);
    assert!(warnings.is_empty(), "{warnings:?}");
    assert_eq!(
        config,
        Config {
            name: Some("shop".into()),
            database: Some(Database::default()),
            ..Config::default()
        }
    );
    // Every ecosystem key, with values of every shape kilter would reject in its own fields.
    for key in ECOSYSTEM_KEYS {
        for value in ["1", "[a, b]", "{a: 1}", "\n  nested: true", " ~", " \"text\""] {
            let text = format!(
                "name: ok\n{key}:{}{value}\n",
                if value.starts_with(['\n', ' ']) { "" } else { " " }
            );
            let (config, warnings) = parse_ok(&text);
            assert_eq!(config.name.as_deref(), Some("ok"), "{text:?}");
            assert!(warnings.is_empty(), "{text:?}: {warnings:?}");
        }
    }
}

#[test]
fn unknown_keys_are_warnings_with_did_you_mean_when_close() {
    let cases: &[(&str, &[&str])] = &[
        (
            "tiltflie: Tiltfile\n",
            &["/p/kilter.yaml:1: unknown key `tiltflie` (did you mean `tiltfile`?)"],
        ),
        ("name: a\nNAME: b\n", &["/p/kilter.yaml:2: unknown key `NAME` (did you mean `name`?)"]),
        (
            "name: a\n\n# c\nservces: []\n",
            &["/p/kilter.yaml:4: unknown key `servces` (did you mean `services`?)"],
        ),
        ("Port: 80\n", &["/p/kilter.yaml:1: unknown key `Port` (did you mean `port`?)"]),
        (
            "databse:\n  user: x\n",
            &["/p/kilter.yaml:1: unknown key `databse` (did you mean `database`?)"],
        ),
        ("colour: red\n", &["/p/kilter.yaml:1: unknown key `colour`"]),
        // Too short to be "close" to `dev`.
        ("db: x\n", &["/p/kilter.yaml:1: unknown key `db`"]),
        ("123: x\n", &["/p/kilter.yaml:1: unknown key `123`"]),
        (
            "{name: a, clustr: {}}\n",
            &["/p/kilter.yaml:1: unknown key `clustr` (did you mean `cluster`?)"],
        ),
        (
            "name: a\r\nfoo: 1\r\nbar: 2\r\n",
            &["/p/kilter.yaml:2: unknown key `foo`", "/p/kilter.yaml:3: unknown key `bar`"],
        ),
        // Nested, inside kilter's own sections.
        (
            "name: a\ncluster:\n  stoped: true\n",
            &["/p/kilter.yaml:3: unknown key `cluster.stoped` (did you mean `cluster.stopped`?)"],
        ),
        (
            "kind:\n  img: x\n",
            &["/p/kilter.yaml:2: unknown key `kind.img` (did you mean `kind.image`?)"],
        ),
        (
            "database:\n  user: u\n  host: localhost\n  Name: x\n",
            &[
                "/p/kilter.yaml:3: unknown key `database.host`",
                "/p/kilter.yaml:4: unknown key `database.Name` (did you mean `database.name`?)",
            ],
        ),
        (
            "cluster: {stopped: false, zone: eu}\n",
            &["/p/kilter.yaml:1: unknown key `cluster.zone`"],
        ),
    ];
    for (text, expected) in cases {
        let (_, warnings) = parse_ok(text);
        assert_eq!(&warnings, expected, "{text:?}");
    }
}

#[test]
fn database_defaults() {
    let cases: &[(&str, Option<Database>)] = &[
        ("name: a\n", None),
        ("database:\n", Some(Database::default())),
        ("database: ~\n", Some(Database::default())),
        ("database: {}\n", Some(Database::default())),
        ("database:\n  # all defaults\n", Some(Database::default())),
        (
            "database:\n  service: pg\n",
            Some(Database { service: "pg".into(), ..Database::default() }),
        ),
        (
            "database:\n  engine: postgres\n  user: app\n  name: orders\n",
            Some(Database {
                user: "app".into(),
                name: Some("orders".into()),
                ..Database::default()
            }),
        ),
        ("database:\n  service:\n", Some(Database::default())),
        (
            "database:\n  engine: mariadb\n",
            Some(Database {
                engine: "mariadb".into(),
                service: "mariadb".into(),
                user: "root".into(),
                name: None,
            }),
        ),
        (
            "database:\n  user: app\n  engine: mysql\n  service: db\n",
            Some(Database {
                engine: "mysql".into(),
                service: "db".into(),
                user: "app".into(),
                name: None,
            }),
        ),
    ];
    for (text, expected) in cases {
        assert_eq!(&parse_ok(text).0.database, expected, "{text:?}");
    }
    assert_eq!(
        Database::default(),
        Database {
            engine: "postgres".into(),
            service: "postgres".into(),
            user: "postgres".into(),
            name: None
        }
    );
}

#[test]
fn other_fields_parse() {
    let (config, _) =
        parse_ok("tiltfile: deploy/Tiltfile.dev\nkind:\n  image: kindest/node:v1.30.0\n");
    assert_eq!(config.tiltfile, Some(Utf8PathBuf::from("deploy/Tiltfile.dev")));
    assert_eq!(config.kind.image.as_deref(), Some("kindest/node:v1.30.0"));
    for (text, expected) in [
        ("cluster:\n  stopped: true\n", true),
        ("cluster:\n  stopped: false\n", false),
        ("cluster:\n  stopped: True\n", true),
        ("cluster:\n  stopped:\n", false),
        ("cluster: {stopped: true}\n", true),
        ("cluster:\n", false),
        ("cluster: {}\n", false),
    ] {
        assert_eq!(parse_ok(text).0.cluster.stopped, expected, "{text:?}");
    }
}

/// Each malformed file: the exact `file:line:col: message` start, and the hint if any.
#[test]
fn malformed_files_are_errors_naming_file_line_and_column() {
    let cases: &[(&str, &str, Option<&str>)] = &[
        (
            "name: shop\n# comment\nport: 80\n\ncluster: stopped\n",
            "/p/kilter.yaml:5:10: cluster: expected a mapping with `stopped: true|false`, found the string \"stopped\"",
            None,
        ),
        (
            "cluster:\n  stopped: yes\n",
            "/p/kilter.yaml:2:12: cluster.stopped: expected true or false, found the string \"yes\"",
            Some("kilter writes this flag itself: `kilter stop` sets it, `kilter up` removes it"),
        ),
        (
            "name: shop\nkind:\n  - image: kindest/node:v1.31.0\n",
            "/p/kilter.yaml:3:3: kind: expected a mapping with `image: <node image>`, found a list",
            None,
        ),
        ("database:\n- postgres\n", "/p/kilter.yaml:2:1: database: expected a mapping with", None),
        ("cluster: [stopped]\n", "/p/kilter.yaml:1:10: cluster: expected a mapping", None),
        (
            "name: 123\n",
            "/p/kilter.yaml:1:7: name: expected a string, found the number 123",
            Some("quote the value to make it a string: `name: \"123\"`"),
        ),
        (
            "name: true\n",
            "/p/kilter.yaml:1:7: name: expected a string, found the boolean `true`",
            None,
        ),
        (
            "port: 80\nname: My_App   # mine\n",
            "/p/kilter.yaml:2:7: invalid project name \"My_App\" (it contains uppercase letters): a project name must be a DNS-1123 label",
            Some("use `name: my-app`"),
        ),
        ("name: \"\"\n", "/p/kilter.yaml:1:7: invalid project name \"\" (it is empty)", None),
        (
            "name: -shop\n",
            "/p/kilter.yaml:1:7: invalid project name \"-shop\" (it starts with '-')",
            Some("use `name: shop`"),
        ),
        ("{name: [a]}\n", "/p/kilter.yaml:1:8: name: expected a string, found a list", None),
        (
            "name: !custom shop\n",
            "/p/kilter.yaml:1:7: name: expected a string, found a value tagged `!custom`",
            None,
        ),
        ("tiltfile: \"\"\n", "/p/kilter.yaml:1:11: tiltfile: must not be empty", None),
        (
            "tiltfile:\n  path: x\n",
            "/p/kilter.yaml:2:3: tiltfile: expected a string, found a mapping",
            None,
        ),
        (
            "kind:\n  image: 1.31\n",
            "/p/kilter.yaml:2:10: kind.image: expected a string, found the number 1.31",
            None,
        ),
        (
            "name: a\ndatabase:\n  engine: oracle   # nope\n",
            "/p/kilter.yaml:3:11: database.engine: unsupported engine \"oracle\"; kilter supports `postgres`, `mysql` and `mariadb`",
            Some("use `engine: postgres`, `mysql` or `mariadb`, or remove the `database:` section"),
        ),
        (
            "database:\n  user: [a]\n",
            "/p/kilter.yaml:2:9: database.user: expected a string, found a list",
            None,
        ),
        (
            "- name: shop\n",
            "/p/kilter.yaml:1:1: expected a mapping of settings at the top level (e.g. `name: shop`), found a list",
            None,
        ),
        (
            "# hello\njust some text\n",
            "/p/kilter.yaml:2:1: expected a mapping of settings at the top level",
            None,
        ),
        // Syntax errors come from libyaml, with its position.
        (
            "name: shop\nkind:\n  image: a\n   extra: b\n",
            "/p/kilter.yaml:4:9: invalid YAML: mapping values are not allowed in this context",
            Some(
                "check the indentation: keys of one mapping must start in the same column, and a value containing `: ` must be quoted",
            ),
        ),
        (
            "name: shop\ncluster:\n    stopped: true\n  other: 1\n",
            "/p/kilter.yaml:4:3: invalid YAML: did not find expected key",
            None,
        ),
        (
            "name: shop\nport: [80, 81\n",
            "/p/kilter.yaml:3:1: invalid YAML: did not find expected ',' or ']'",
            None,
        ),
        (
            "name: \"shop\n",
            "/p/kilter.yaml:2:1: invalid YAML: found unexpected end of stream",
            None,
        ),
        (
            "image: a: b\n",
            "/p/kilter.yaml:1:9: invalid YAML: mapping values are not allowed in this context",
            None,
        ),
        (
            "kind:\n\timage: x\n",
            "/p/kilter.yaml:2:1: tab character in indentation; YAML indentation must use spaces",
            Some("replace the tabs at the start of this line with spaces"),
        ),
        (
            "kind:\n  image: x\n \tfoo: y\n",
            "/p/kilter.yaml:3:2: tab character in indentation",
            None,
        ),
        (
            "name: a\nport: 1\nname: b\n",
            "/p/kilter.yaml:3:1: duplicate key `name` (first defined on line 1)",
            Some("remove one of the two entries"),
        ),
        (
            "cluster:\n  stopped: true\n  # again\n  stopped: false\n",
            "/p/kilter.yaml:4:3: duplicate key `cluster.stopped` (first defined on line 2)",
            None,
        ),
        ("name: a\n---\nname: b\n", "/p/kilter.yaml:2:1: a second YAML document starts here", None),
        (
            "---\nname: a\n---\nname: b\n",
            "/p/kilter.yaml:3:1: a second YAML document starts here",
            None,
        ),
        ("name: a\r\ncluster: x\r\n", "/p/kilter.yaml:2:10: cluster: expected a mapping", None),
        ("ünïcode: 1\nname: 5\n", "/p/kilter.yaml:2:7: name: expected a string", None),
    ];
    for (text, prefix, hint) in cases {
        let err = parse_err(text);
        assert!(
            err.message.starts_with(prefix),
            "{text:?}:\n  got  {}\n  want {prefix}…",
            err.message
        );
        assert_eq!(err.to_string(), err.message);
        if let Some(hint) = hint {
            assert_eq!(err.hint.as_deref(), Some(*hint), "{text:?}");
        }
    }
}

#[test]
fn an_invalid_name_error_states_the_rule() {
    let err = parse_err("name: My_App\n");
    assert_eq!(
        err.message,
        "/p/kilter.yaml:1:7: invalid project name \"My_App\" (it contains uppercase letters): a project name must \
         be a DNS-1123 label: 1 to 42 characters, only lowercase letters (a-z), digits and '-', starting and \
         ending with a letter or digit"
    );
    assert_eq!(err.hint.as_deref(), Some("use `name: my-app`"));
}

// ---------------------------------------------------------------------------------------
// Names
// ---------------------------------------------------------------------------------------

#[test]
fn normalize_name_table() {
    let sixty = "a".repeat(60);
    let forty_one_then_dash = format!("{}_b", "a".repeat(41));
    let cases: &[(&str, Option<&str>)] = &[
        ("shop", Some("shop")),
        ("My_App", Some("my-app")),
        ("foo.bar baz", Some("foo-bar-baz")),
        ("--x--", Some("x")),
        ("ünï", Some("n")),
        (&sixty, Some(&sixty[..42])),
        // Cut at 42 lands right after a '-': trimmed again.
        (&forty_one_then_dash, Some(&forty_one_then_dash[..41])),
        ("___", None),
        ("", None),
        ("ü", None),
        ("a__b..c  d", Some("a-b-c-d")),
        ("Hello, World!", Some("hello-world")),
        ("v1.2.3", Some("v1-2-3")),
        ("UPPER", Some("upper")),
        ("tab\there", Some("tabhere")),
        ("-a-", Some("a")),
        ("日本-app", Some("app")),
    ];
    for (raw, expected) in cases {
        let got = normalize_name(raw);
        assert_eq!(got.as_deref(), *expected, "{raw:?}");
        if let Some(name) = &got {
            assert!(validate_name(name).is_ok(), "normalised {name:?} must be valid");
        }
    }
}

#[test]
fn validate_name_table() {
    let max = "a".repeat(42);
    let too_long = "a".repeat(43);
    for ok in ["a", "shop", "my-app", "a1", "1a", "123", "a-b-c", "x--y", max.as_str()] {
        assert!(validate_name(ok).is_ok(), "{ok:?} should be valid");
    }
    let cases: &[(&str, &str, Option<&str>)] = &[
        (
            &too_long,
            "it is 43 characters long, more than 42",
            Some("try `aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa`"),
        ),
        ("-shop", "it starts with '-'", Some("try `shop`")),
        ("shop-", "it ends with '-'", Some("try `shop`")),
        ("Shop", "it contains uppercase letters", Some("try `shop`")),
        ("shöp", "it contains non-ASCII characters", Some("try `shp`")),
        ("", "it is empty", None),
        ("my_app", "it contains '_'", Some("try `my-app`")),
        ("a.b", "it contains '.'", Some("try `a-b`")),
        ("-", "it starts with '-'", None),
        ("___", "it contains '_'", None),
    ];
    for (name, problem, hint) in cases {
        let Err(err) = validate_name(name) else { panic!("{name:?} should be invalid") };
        assert_eq!(err.message, format!("invalid project name {name:?} ({problem}): {NAME_RULE}"));
        assert!(err.message.contains("DNS-1123") && err.message.contains("42"), "states the rule");
        assert_eq!(err.hint.as_deref(), *hint, "{name:?}");
    }
}

// ---------------------------------------------------------------------------------------
// Positions
// ---------------------------------------------------------------------------------------

#[test]
fn locate_finds_keys_and_values_in_every_style() {
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
        ("\"cluster\":\n  'stopped': true\n", &["cluster", "stopped"], t, Some((2, 3))),
        ("a: 1\r\nb:\r\n  c: 2\r\n", &["b", "c"], v, Some((3, 6))),
        ("ünï: x\nb: 1\n", &["b"], v, Some((2, 4))),
        ("x: 1\nx: 2\n", &["x"], t, Some((1, 1))),
        ("name: x\n", &["cluster"], t, None),
        ("name: x\n", &["name", "deeper"], t, None),
        ("bad: [\n", &["bad"], t, Some((1, 1))),
        ("bad: [\nkey: 1\n", &["key"], t, None),
    ];
    for (text, keys, target, expected) in cases {
        let got = locate(text, keys, *target).map(|p| (p.line, p.col));
        assert_eq!(got, *expected, "{text:?} {keys:?} {target:?}");
    }
    assert_eq!(
        locate_nth("x: 1\n# c\nx: 2\n", &["x"], Target::Key, 1),
        Some(Pos { line: 3, col: 1 })
    );
    assert_eq!(locate_nth("x: 1\nx: 2\n", &["x"], Target::Value, 1), Some(Pos { line: 2, col: 4 }));
}

#[test]
fn line_scanner_helpers() {
    for (s, value, comment) in [
        ("  true  # why", "  true  ", "# why"),
        (" x#not-a-comment", " x#not-a-comment", ""),
        (" \"a # b\" # c", " \"a # b\" ", "# c"),
        (" 'it''s' # c", " 'it''s' ", "# c"),
        (" it's # c", " it's ", "# c"),
        ("# c", "", "# c"),
        ("", "", ""),
    ] {
        assert_eq!(split_comment(s), (value, comment), "{s:?}");
    }
    for (line, key, colon) in [
        ("cluster:", 0, Some(7)),
        ("  stopped: true", 2, Some(9)),
        ("\"cluster\" : x", 0, Some(10)),
        ("'a:b': x", 0, Some(5)),
        ("\"a\\\"b\": x", 0, Some(6)),
        ("url: http://x", 0, Some(3)),
        ("novalue", 0, None),
    ] {
        assert_eq!(key_colon(line, key), colon, "{line:?}");
    }
    for (line, new, expected) in [
        ("  stopped: false", "true", "  stopped: true"),
        ("  stopped: false  # set by kilter", "true", "  stopped: true   # set by kilter"),
        ("  stopped: ~ # c", "true", "  stopped: true # c"),
        ("  stopped: false\t# c", "true", "  stopped: true\t# c"),
        ("  stopped: false  ", "true", "  stopped: true  "),
        ("  stopped:", "true", "  stopped: true"),
        ("  stopped:   # c", "true", "  stopped: true   # c"),
        ("cluster: ~", "", "cluster:"),
        ("cluster: {}  # state", "", "cluster:  # state"),
        ("cluster: null # state", "", "cluster: # state"),
    ] {
        let colon = line.find(':').expect("a colon");
        assert_eq!(replace_inline_value(line, colon, new), expected, "{line:?}");
    }
    for (text, unit) in [
        ("", 2),
        ("name: a\n", 2),
        ("kind:\n    image: x\n", 4),
        ("kind:\n  image: x\n", 2),
        ("# kind:\n#     image: x\nname: a\nenv:\n   A: 1\n", 3),
        ("services:\n- name: a\n  port: 1\nenv:\n    A: b\n", 4),
        ("description: |\n    text:\n        more\nkind:\n  image: x\n", 2),
        ("a:\n  b:\n    c: 1\n", 2),
    ] {
        let doc = Doc::new(text).expect("a doc");
        assert_eq!(doc.indent_unit(), unit, "{text:?}");
    }
    assert!(Doc::new("a: 1\rb: 2\r").is_err());
    let doc = Doc::new("a\r\nb\nc").expect("a doc");
    assert_eq!((doc.content(0), doc.line_break(0)), ("a", "\r\n"));
    assert_eq!((doc.content(1), doc.line_break(1)), ("b", "\n"));
    assert_eq!((doc.content(2), doc.line_break(2)), ("c", ""));
    assert_eq!(doc.eol, "\r\n");
    assert_eq!(Doc::new("a\nb\r\n").expect("a doc").eol, "\n");
    assert_eq!(Doc::new("a").expect("a doc").eol, "\n");
}

// ---------------------------------------------------------------------------------------
// Editing the stopped flag
// ---------------------------------------------------------------------------------------

#[track_caller]
fn with(text: &str) -> String {
    with_stopped_flag(path(), text)
        .unwrap_or_else(|err| panic!("with_stopped_flag({text:?}): {err}"))
}

#[track_caller]
fn without(text: &str) -> String {
    without_stopped_flag(path(), text)
        .unwrap_or_else(|err| panic!("without_stopped_flag({text:?}): {err}"))
}

/// The config invariant: the edit changes `cluster.stopped` and nothing else.
#[track_caller]
fn assert_only_flag_changed(before: &str, after: &str, flag: bool) {
    let (old, _) = parse_ok(before);
    let (new, _) = parse_ok(after);
    assert_eq!(new, stopped(old, flag), "{before:?} -> {after:?}");
    let tree = |text: &str| -> Value {
        serde_yaml::from_str(text.trim_start_matches('\u{feff}')).expect("yaml")
    };
    let (old_tree, new_tree) = (tree(before), tree(after));
    assert_eq!(without_flag(&new_tree), without_flag(&old_tree), "{before:?} -> {after:?}");
}

/// Files without `cluster:`: with() appends, without() restores the exact bytes.
#[test]
fn round_trip_files_without_cluster() {
    let documented_with = format!("{DOCUMENTED}cluster:\n  stopped: true\n");
    let crlf = "name: shop\r\n# port\r\nport: 8080\r\n";
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
        (
            "spec example without cluster",
            &SPEC_EXAMPLE[..SPEC_EXAMPLE.find("cluster:").unwrap_or(0)],
            "",
        ),
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
        if !expected.is_empty() {
            assert_eq!(&after, expected, "{label}");
        }
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

#[test]
fn edits_that_cannot_be_done_safely_are_refused() {
    let cases: &[(&str, bool, &str)] = &[
        ("cluster: {zone: eu,\n  region: x}\n", true, "flow mapping spanning several lines"),
        ("cluster: {zone: eu,\n  stopped: true}\n", false, "flow mapping spanning several lines"),
        ("{name: a, port: 1}\n", true, "the top level is written as a flow mapping"),
        ("base: &b {zone: eu}\ncluster: *b\n", true, "unexpected value after `cluster:`"),
        ("cluster:\n  stopped:\n    false\n", true, "must have its value on the same line"),
    ];
    for (text, set, reason) in cases {
        let result =
            if *set { with_stopped_flag(path(), text) } else { without_stopped_flag(path(), text) };
        let Err(err) = result else { panic!("{text:?} should be refused") };
        assert!(
            err.message.starts_with("cannot edit `cluster.stopped` in /p/kilter.yaml: "),
            "{}",
            err.message
        );
        assert!(err.message.contains(reason), "{text:?}: {}", err.message);
        assert!(err.hint.as_deref().is_some_and(|h| h.contains("block style")));
    }
    let err = with_stopped_flag(path(), "a: 1\rcluster:\r").expect_err("bare CR");
    assert!(
        err.message.ends_with("the file uses bare carriage returns (\\r) as line breaks"),
        "{}",
        err.message
    );
    assert_eq!(err.hint.as_deref(), Some("convert the file's line breaks to \\n (or \\r\\n)"));
}

#[test]
fn an_edit_that_would_change_the_file_meaning_is_refused() {
    // `cluster:` whose null value sits on the next line: the line-based insert would
    // break it, and the verification catches that.
    let err = with_stopped_flag(path(), "cluster:\n  ~\n").expect_err("must be refused");
    assert_eq!(
        err.message,
        "refusing to edit /p/kilter.yaml: the edit would change other settings"
    );
    // Invalid files are reported as parse errors, not edited.
    let err = with_stopped_flag(path(), "cluster: stopped\n").expect_err("invalid");
    assert!(err.message.starts_with("/p/kilter.yaml:1:10: "), "{}", err.message);
    let err = without_stopped_flag(path(), "name: [\n").expect_err("invalid");
    assert!(err.message.starts_with("/p/kilter.yaml:2:1: invalid YAML"), "{}", err.message);
}

#[test]
fn verification_compares_the_whole_tree() {
    let old = parse_full(path(), "name: a\nport: 1\n").expect("parses");
    assert!(verify(path(), &old, "name: a\nport: 1\ncluster:\n  stopped: true\n", true).is_ok());
    // Same Config, but an ecosystem value changed: refused.
    assert!(verify(path(), &old, "name: a\nport: 2\ncluster:\n  stopped: true\n", true).is_err());
    // Flag not set: refused.
    assert!(verify(path(), &old, "name: a\nport: 1\n", true).is_err());
    // Does not parse: refused.
    assert!(verify(path(), &old, "name: a\nport: [\n", true).is_err());
}

// ---------------------------------------------------------------------------------------
// Files
// ---------------------------------------------------------------------------------------

fn temp_dir() -> (tempfile::TempDir, Utf8PathBuf) {
    let dir = tempfile::tempdir().expect("tempdir");
    let path = Utf8PathBuf::from_path_buf(dir.path().to_owned()).expect("utf-8 temp dir");
    (dir, path)
}

fn entries(dir: &Utf8Path) -> Vec<String> {
    let mut names: Vec<String> = std::fs::read_dir(dir)
        .expect("read_dir")
        .map(|e| e.expect("entry").file_name().to_string_lossy().into_owned())
        .collect();
    names.sort();
    names
}

#[test]
fn find_walks_up_from_the_start_directory() {
    let (_guard, root) = temp_dir();
    let deep = root.join("a/b/c");
    std::fs::create_dir_all(&deep).expect("mkdir");
    std::fs::create_dir_all(root.join("a/b/kilter.yaml")).expect("a directory named kilter.yaml");
    std::fs::write(root.join("a/kilter.yaml"), "name: a\n").expect("write");
    assert_eq!(find(&deep), Some(root.join("a/kilter.yaml")));
    assert_eq!(find(&root.join("a")), Some(root.join("a/kilter.yaml")));
    assert_eq!(find(&root.join("a/b/./c")), Some(root.join("a/kilter.yaml")));
    assert_eq!(find(&root.join("a/b/../b/c")), Some(root.join("a/kilter.yaml")));
    std::fs::create_dir_all(root.join("x")).expect("mkdir");
    // `..` is resolved lexically: this is `<root>/x`, which must not find `<root>/a/kilter.yaml`.
    assert_eq!(find(&root.join("a/b/c/../../../x")), find(&root));
    assert_ne!(find(&root.join("a/b/c/../../../x")), Some(root.join("a/kilter.yaml")));
    std::fs::write(deep.join(FILE_NAME), "").expect("write");
    assert_eq!(find(&deep), Some(deep.join(FILE_NAME)));
}

#[test]
fn load_reads_parses_and_keeps_the_text() {
    let (_guard, dir) = temp_dir();
    let file = dir.join(FILE_NAME);
    std::fs::write(&file, "name: shop\ncolour: red\n").expect("write");
    let loaded = load(&file).expect("loads");
    assert_eq!(loaded.path, file);
    assert_eq!(loaded.text, "name: shop\ncolour: red\n");
    assert_eq!(loaded.config.name.as_deref(), Some("shop"));
    assert_eq!(loaded.warnings, vec![format!("{file}:2: unknown key `colour`")]);

    std::fs::write(&file, b"name: shop\nport: \xff\n").expect("write");
    let err = load(&file).expect_err("not utf-8");
    assert_eq!(err.message, format!("{file}:2:7: the file is not valid UTF-8"));

    std::fs::write(&file, "cluster: stopped\n").expect("write");
    assert!(
        load(&file).expect_err("invalid").message.starts_with(&format!("{file}:1:10: cluster:"))
    );

    let err = load(&dir.join("missing.yaml")).expect_err("missing");
    assert!(err.message.starts_with("could not read "), "{}", err.message);
}

#[test]
fn write_atomic_replaces_contents_and_leaves_no_temp_file() {
    let (_guard, dir) = temp_dir();
    let file = dir.join(FILE_NAME);
    write_atomic(&file, "name: a\n").expect("create");
    assert_eq!(std::fs::read_to_string(&file).expect("read"), "name: a\n");
    write_atomic(&file, "name: b\ncluster:\n  stopped: true\n").expect("replace");
    assert_eq!(
        std::fs::read_to_string(&file).expect("read"),
        "name: b\ncluster:\n  stopped: true\n"
    );
    assert_eq!(entries(&dir), vec![FILE_NAME.to_owned()]);
    // A failed write (directory missing) leaves nothing behind either.
    assert!(write_atomic(&dir.join("nope/kilter.yaml"), "x").is_err());
    assert_eq!(entries(&dir), vec![FILE_NAME.to_owned()]);
}

#[cfg(unix)]
#[test]
fn write_atomic_keeps_permissions_and_symlinks() {
    use std::os::unix::fs::PermissionsExt as _;

    let (_guard, dir) = temp_dir();
    let file = dir.join(FILE_NAME);
    std::fs::write(&file, "name: a\n").expect("write");
    std::fs::set_permissions(&file, std::fs::Permissions::from_mode(0o640)).expect("chmod");
    write_atomic(&file, "name: b\n").expect("write");
    let mode = std::fs::metadata(&file).expect("stat").permissions().mode() & 0o7777;
    assert_eq!(mode, 0o640);
    assert_eq!(std::fs::read_to_string(&file).expect("read"), "name: b\n");

    let link_dir = dir.join("project");
    std::fs::create_dir(&link_dir).expect("mkdir");
    let link = link_dir.join(FILE_NAME);
    std::os::unix::fs::symlink(&file, &link).expect("symlink");
    write_atomic(&link, "name: c\n").expect("write through link");
    assert!(std::fs::symlink_metadata(&link).expect("lstat").file_type().is_symlink());
    assert_eq!(std::fs::read_to_string(&file).expect("read"), "name: c\n");
    assert_eq!(entries(&dir), vec![FILE_NAME.to_owned(), "project".to_owned()]);
    assert_eq!(entries(&link_dir), vec![FILE_NAME.to_owned()]);
}

// ---------------------------------------------------------------------------------------
// Starter file
// ---------------------------------------------------------------------------------------

#[test]
fn starter_parses_to_just_the_name_and_documents_every_section() {
    for name in ["shop", "my-app", "123", "true", "null", "1e3", "0x1f"] {
        let text = starter(name);
        let (config, warnings) = parse_ok(&text);
        assert_eq!(config, Config { name: Some(name.to_owned()), ..Config::default() }, "{text}");
        assert!(warnings.is_empty(), "{warnings:?}");
        for section in [
            "# tiltfile:",
            "# kind:",
            "#   image:",
            "# database:",
            "#   engine: postgres",
            "cluster.stopped",
        ] {
            assert!(text.contains(section), "missing {section:?}");
        }
        let stopped_text = with(&text);
        assert_eq!(stopped_text, format!("{text}cluster:\n  stopped: true\n"));
        assert_eq!(without(&stopped_text), text);
    }
    assert!(starter("shop").contains("\nname: shop\n"));
    assert!(starter("123").contains("\nname: \"123\"\n"));
}
